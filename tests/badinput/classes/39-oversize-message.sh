# a 100 KB event frame, beyond max_message_bytes
f=$(mk good '.')
jq -c --arg s "$(head -c 100000 /dev/zero | tr '\0' 'x')" '.data.reden = $s' "$f" > "$SP_DIR/big.json"
out=$(raw --event "$SP_DIR/big.json" --sign "$TKEY") || die "no reply"
expect_rejected TOO_LARGE "$out"
