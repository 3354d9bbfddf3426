# event bytes with a raw NUL byte
f=$(mk good '.')
{ head -c 20 "$f"; printf '\0'; tail -c +21 "$f"; } > "$SP_DIR/nul.json"
out=$(raw --event "$SP_DIR/nul.json" --sign "$TKEY") || die "no reply"
expect_rejected UTF8_INVALID "$out"
