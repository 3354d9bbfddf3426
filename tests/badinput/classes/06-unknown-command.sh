# command PUBLISH instead of EMIT
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --command PUBLISH) || die "no reply"
expect_rejected COMMAND_UNKNOWN "$out"
