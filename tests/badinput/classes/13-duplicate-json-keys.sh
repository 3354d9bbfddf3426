# the same member twice
f=$(mk good '.')
sed 's/"specversion":"1.0",/"specversion":"1.0","specversion":"1.0",/' "$f" > "$SP_DIR/dup.json"
out=$(raw --event "$SP_DIR/dup.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_DUPLICATE_KEY "$out"
