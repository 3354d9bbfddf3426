# a data field of the wrong JSON type
out=$(raw --event "$(mk numcode '.data.gemeentecode = 855')" --sign "$TKEY") || die "no reply"
expect_rejected DATA_FIELD_TYPE_INVALID "$out"
