# EMIT with a seventh frame
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --extra-frame surplus) || die "no reply"
expect_rejected FRAMES_INVALID "$out"
