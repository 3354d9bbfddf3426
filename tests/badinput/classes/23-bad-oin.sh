# an OIN of 5 digits
out=$(raw --event "$(mk badoin '.source = "urn:nld:oin:12345:systeem:burgerzaken"')" --sign "$TKEY") || die "no reply"
expect_rejected OIN_INVALID "$out"
