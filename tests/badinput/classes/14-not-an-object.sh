# a JSON array instead of an event object
printf '["not","an","object"]' > "$SP_DIR/array.json"
out=$(raw --event "$SP_DIR/array.json" --sign "$TKEY") || die "no reply"
expect_rejected NOT_AN_OBJECT "$out"
