# CloudEvents subject as an object
out=$(raw --event "$(mk objsubject '.subject = {"bsn": "999993653"}')" --sign "$TKEY") || die "no reply"
expect_rejected ATTRIBUTE_TYPE_INVALID "$out"
