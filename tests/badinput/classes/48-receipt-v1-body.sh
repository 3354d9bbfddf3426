# a SEINPOST2 RECEIPT, correctly signed, whose body is SEINPOST1's: "v" 1
# and a cumulative "acks" list instead of the "handled" entries
body='{"acks":[{"subscription":"verblijf-tilburg","through_seq":1}],"batch_sha256":"abababababababababababababababababababababababababababababababab","partner_key":"0123456789abcdef","received_at":"2026-11-23T09:15:01.000Z","subscriber":"belastingdienst","v":1}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 4 || die "the fake partner could not send"
expect_audit receipt.rejected RECEIPT_UNKNOWN
