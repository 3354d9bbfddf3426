# EMIT with an empty signature frame
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --sig-len 0) || die "no reply"
expect_rejected FRAMES_INVALID "$out"
