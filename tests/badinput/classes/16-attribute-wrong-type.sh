# CloudEvents id as a number
out=$(raw --event "$(mk numid '.id = 42')" --sign "$TKEY") || die "no reply"
expect_rejected ATTRIBUTE_TYPE_INVALID "$out"
