# data nested 40 objects deep: parses, but beyond max_json_depth 32
f=$(mk good '.')
inner='"x"'; for i in $(seq 40); do inner="{\"a\":$inner}"; done
jq -c --argjson d "$inner" '.data.extra = $d' "$f" > "$SP_DIR/deep.json"
out=$(raw --event "$SP_DIR/deep.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_TOO_DEEP "$out"
