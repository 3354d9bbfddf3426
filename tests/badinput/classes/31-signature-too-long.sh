# a 65-byte signature
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --sig-len 65) || die "no reply"
expect_rejected SIGNATURE_LENGTH_INVALID "$out"
