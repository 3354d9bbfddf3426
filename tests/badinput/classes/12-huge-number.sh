# an integer beyond 64 bits in data
f=$(mk good '.')
sed 's/"data":{/"data":{"teller":123456789012345678901234567890,/' "$f" > "$SP_DIR/huge.json"
grep -q 1234567890123456789012 "$SP_DIR/huge.json" || die "test setup: number not inserted"
out=$(raw --event "$SP_DIR/huge.json" --sign "$TKEY") || die "no reply"
expect_rejected JSON_NUMBER_OUT_OF_RANGE "$out"
