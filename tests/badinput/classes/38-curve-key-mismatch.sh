# Breda's CURVE connection, Tilburg's signing key
out=$(raw_breda --event "$(mk good '.')" --sign "$TKEY") || die "no reply"
expect_rejected CURVE_KEY_MISMATCH "$out"
