# EMIT with an empty correlation frame
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --correlation "") || die "no reply"
expect_rejected FRAMES_INVALID "$out"
