# a CURVE key of no emitter: no reply, connection.refused
out=$("$RAWEMIT" --endpoint "$INGRESS" --curve-secret "$SP_DIR/keys/stranger.curve" --server-key "$NODE_CURVE" \
      --event "$(mk good '.')" --sign "$TKEY" --timeout 1000 2>/dev/null)
expect_no_reply $? "$out"
expect_audit connection.refused - 1 20
sp_sql "SELECT detail FROM audit WHERE kind = 'connection.refused' ORDER BY seq DESC LIMIT 1" \
    | grep -q "no configured emitter" || die "refusal reason"
