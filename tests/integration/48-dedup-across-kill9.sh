#!/usr/bin/env bash
# A partner handles 20 signals, is killed (kill -9) and restarted; an
# operator then redelivers every delivered delivery of toeslagen (new
# delivery ids and seqs). The partner's durable dedup state, which
# survives the kill, must recognise each as handled before: the handler
# output still has each id exactly once, and the redeliveries are
# acknowledged (marked delivered again) without reaching the handler.
# SEINPOST1 got this wrong: the partner remembered what it had handled in
# memory only, so after the kill every redelivered signal was handled a
# second time.
. "$(dirname "$0")/common.sh"
. tests/integration/handled-lib.sh
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
hc_handler toeslagen
hc_start toeslagen || fail "partner toeslagen start"
sp_start_daemon || fail "daemon start"
hc_watch_start toeslagen toeslagen
for i in $(seq -w 1 20); do hc_event "t48-$i"; done \
    | hc_emit "$SP_DIR/burgerzaken.yaml" "$SP_DIR/accepted" || fail "emit"
assert_eq "$(sp_lines "$SP_DIR/accepted")" 20 "accepted"
hc_wait_drained 30 toeslagen || fail "first delivery: not drained in 30 s"
hc_check "first delivery" --expect "$SP_DIR/accepted" "$SP_DIR/toeslagen.handled" \
    || fail "first delivery: not every id handled exactly once"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")" 20 "delivered"

# the partner is idle: no handler runs, every signal was handled and
# acknowledged; kill -9 leaves it no chance to write anything more
assert_eq "$(hc_children_running "$(cat "$SP_DIR/toeslagen.pid")")" 0 "no handler running at the kill"
sp_stop toeslagen KILL 2>/dev/null
hc_start toeslagen || fail "partner toeslagen start"
sleep 0.3
"$SP_BIN/seinpost" redeliver -c "$SP_DIR/seinpost.yaml" --subscriber toeslagen --json \
    > "$SP_DIR/redeliver.json" || fail "redeliver"
assert_eq "$(jq .redelivered "$SP_DIR/redeliver.json")" 20 "redelivered"
assert_eq "$(jq '[.deliveries[] | select(.seq > 20)] | length' "$SP_DIR/redeliver.json")" 20 \
    "redelivered under new seqs"

hc_wait_drained 30 toeslagen || hc_problem "redelivery: not drained in 30 s"
sleep 1     # a late hand-over would show now
hc_check "handler, after kill -9 and redelivery" --expect "$SP_DIR/accepted" \
    "$SP_DIR/toeslagen.handled" \
    || hc_problem "the restarted partner handed redelivered signals to the handler again"
hc_watch_stop toeslagen || hc_problem "a receipt covered signals the handler did not have"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1 AND seq > 20 AND receipt_id IS NOT NULL")" \
    20 "redeliveries marked delivered again, each by a receipt"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.redelivered'")" 20 \
    "redeliveries audited"
assert_eq "$(sp_events delivery.receipt)" 40 \
    "receipt audit events: 20 first, 20 redelivered"
assert_eq "$(hc_status_field '.subscribers[] | select(.subscriber == "toeslagen") | .dead_lettered')" 0 \
    "nothing dead-lettered"
sp_alive daemon || fail "daemon died"
hc_finish "dedup across a partner kill -9 OK"
