# a valid signature by the emitter's key, over other bytes
a=$(mk good '.')
b=$(mk other '.data.gemeentecode = "0796"')
out=$("$FAKEPARTNER" sigover "$INGRESS" "$SP_DIR/keys/burgerzaken.curve" "$NODE_CURVE" "$TKEY" "$a" "$b") \
    || die "no reply"
expect_rejected SIGNATURE_INVALID "$out"
