# truncated JSON document, validly signed
printf '{"specversion":"1.0","id":' > "$SP_DIR/broken.json"
out=$(raw --event "$SP_DIR/broken.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_INVALID "$out"
