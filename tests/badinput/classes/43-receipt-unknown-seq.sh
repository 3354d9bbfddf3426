# a correctly signed SEINPOST2 RECEIPT acknowledging a seq never delivered,
# for a batch this router never sent to belastingdienst
body='{"batch_sha256":"abababababababababababababababababababababababababababababababab","handled":[{"seq":999,"subscription":"verblijf-tilburg"}],"partner_key":"0123456789abcdef","received_at":"2026-11-23T09:15:01.000Z","subscriber":"belastingdienst","v":2}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 4 || die "the fake partner could not send"
expect_audit receipt.rejected RECEIPT_UNKNOWN
