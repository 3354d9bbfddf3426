# event bytes with an invalid UTF-8 sequence (0xff) in a string
f=$(mk good '.')
sed 's/"reden":"/"reden":"\xff\xfe/' "$f" > "$SP_DIR/nonutf8.json"
out=$(raw --event "$SP_DIR/nonutf8.json" --sign "$TKEY") || die "no reply"
expect_rejected UTF8_INVALID "$out"
