# a correctly signed RECEIPT whose body is not JSON
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" '{"handled":[' 4 || die "the fake partner could not send"
expect_audit receipt.rejected RECEIPT_UNKNOWN
