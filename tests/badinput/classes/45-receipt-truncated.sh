# a RECEIPT without its signature frame
body='{"acks":[{"subscription":"verblijf-tilburg","through_seq":1}],"subscriber":"belastingdienst","v":1}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 3 || die "the fake partner could not send"
expect_audit receipt.rejected FRAMES_INVALID
