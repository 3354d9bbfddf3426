# a key id that is not 16 hex characters
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --key-id 'ABC!') || die "no reply"
expect_rejected KEY_UNKNOWN "$out"
