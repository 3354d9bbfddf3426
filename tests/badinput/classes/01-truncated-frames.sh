# EMIT with its event frame missing: five frames instead of six
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --drop-frame 5) || die "no reply"
expect_rejected FRAMES_INVALID "$out"
