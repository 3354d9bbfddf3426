# a RECEIPT without its signature frame
body='{"batch_sha256":"abababababababababababababababababababababababababababababababab","handled":[{"seq":1,"subscription":"verblijf-tilburg"}],"partner_key":"0123456789abcdef","received_at":"2026-11-23T09:15:01.000Z","subscriber":"belastingdienst","v":2}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 3 || die "the fake partner could not send"
expect_audit receipt.rejected FRAMES_INVALID
