# a SEINPOST1 partner's RECEIPT (frame 0 SEINPOST1, a cumulative "acks"
# body, signed in the "seinpost/1 receipt" domain): the delivery link
# speaks SEINPOST2, so it is refused before its signature is looked at
body='{"acks":[{"subscription":"verblijf-tilburg","through_seq":1}],"batch_sha256":"abababababababababababababababababababababababababababababababab","partner_key":"0123456789abcdef","received_at":"2026-11-23T09:15:01.000Z","subscriber":"belastingdienst","v":1}'
"$FAKEPARTNER" receipt "tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST" "$SP_DIR/keys/belastingdienst.curve" \
    "$SP_DIR/keys/belastingdienst.key" "$body" 4 SEINPOST1 || die "the fake partner could not send"
expect_audit receipt.rejected PROTOCOL_INVALID
