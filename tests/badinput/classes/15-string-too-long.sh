# a data string longer than max_string_bytes
f=$(mk good '.')
jq -c --arg s "$(head -c 20000 /dev/zero | tr '\0' 'x')" '.data.reden = $s' "$f" > "$SP_DIR/long.json"
out=$(raw --event "$SP_DIR/long.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_LIMIT_EXCEEDED "$out"
