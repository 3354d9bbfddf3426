# first frame SEINPOST0 instead of SEINPOST1; then SEINPOST2, the delivery
# link's tag: the ingress keeps speaking SEINPOST1
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --protocol SEINPOST0) || die "no reply"
expect_rejected PROTOCOL_INVALID "$out"
SNAP=$(snapshot)
out=$(raw --event "$(mk good '.')" --sign "$TKEY" --protocol SEINPOST2) || die "no reply to SEINPOST2"
expect_rejected PROTOCOL_INVALID "$out"
