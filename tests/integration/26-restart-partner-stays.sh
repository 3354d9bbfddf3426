#!/usr/bin/env bash
# The daemon is killed while a partner that stays up is mid-way through a
# backlog with a small window; after the restart the router resends one
# window at a time and the partner's receipts (which must not reach past
# what was resent) let it drain everything, each signal output once.
. "$(dirname "$0")/common.sh"
SP_WINDOW=4 SP_RECEIPT_TIMEOUT=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
for i in $(seq 1 300); do
    printf '{"gemeentecode":"0855","nummeraanduidingIdentificatie":"%016d","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}\n' "$i"
done > "$SP_DIR/lines.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type $GDB_TYPE --stream --window 100 \
    < "$SP_DIR/lines.json" > "$SP_DIR/emit.out" 2>/dev/null || fail "300 accepted"
sp_start_partner toeslagen
sp_wait_ge 20 40 sp_lines "$SP_DIR/toeslagen.out" || fail "delivery under way"
sp_stop daemon KILL
done_before=$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")
[ "$done_before" -lt 300 ] || fail "the kill came too late to test anything"
sp_start_daemon || fail "daemon restart"
sp_wait_ge 60 300 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "backlog drained after restart (stalled at $(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1"))"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'receipt.rejected'")" 0 "no receipt refused"
sp_wait_ge 10 300 sp_lines "$SP_DIR/toeslagen.out" || fail "partner output"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | sort | uniq -d | wc -l)" 0 "no signal output twice"
echo "restart with a live partner OK ($done_before done at the kill)"
