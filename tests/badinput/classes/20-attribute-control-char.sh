# a control character in the subject
out=$(raw --event "$(mk ctrl '.subject = "9999\u000193653"')" --sign "$TKEY") || die "no reply"
expect_rejected ATTRIBUTE_INVALID "$out"
