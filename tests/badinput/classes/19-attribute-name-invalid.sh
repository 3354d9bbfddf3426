# an extension attribute name outside a-z0-9
out=$(raw --event "$(mk badname '.["Bad-Name"] = "x"')" --sign "$TKEY") || die "no reply"
expect_rejected ATTRIBUTE_NAME_INVALID "$out"
