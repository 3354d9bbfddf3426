# one bit of a valid signature flipped
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --flip-sig) || die "no reply"
expect_rejected SIGNATURE_INVALID "$out"
