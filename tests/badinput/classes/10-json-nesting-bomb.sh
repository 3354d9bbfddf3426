# data nested 5000 arrays deep
{ printf '{"specversion":"1.0","id":"bomb","data":'; printf '[%.0s' $(seq 5000); printf ']%.0s' $(seq 5000); printf '}'; } > "$SP_DIR/bomb.json"
out=$(raw --event "$SP_DIR/bomb.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_TOO_DEEP "$out"
