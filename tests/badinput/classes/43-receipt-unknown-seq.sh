# a correctly signed RECEIPT acking a seq never delivered
body='{"acks":[{"subscription":"verblijf-tilburg","through_seq":999}],"subscriber":"belastingdienst","v":1}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 4 || die "the fake partner could not send"
expect_audit receipt.rejected RECEIPT_UNKNOWN
