# signed by a key of no emitter
out=$(raw --event "$(mk good '.')" --sign "$SP_DIR/keys/toeslagen.key") || die "no reply"
expect_rejected KEY_UNKNOWN "$out"
