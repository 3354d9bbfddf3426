# first frame SEINPOST0 instead of SEINPOST1
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --protocol SEINPOST0) || die "no reply"
expect_rejected PROTOCOL_INVALID "$out"
