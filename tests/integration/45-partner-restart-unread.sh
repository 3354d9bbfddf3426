#!/usr/bin/env bash
# A partner is frozen (SIGSTOP) while seqs 2-4 reach its socket unread,
# then killed (kill -9) and restarted; one more signal follows, at trickle
# rate, before the router's receipt timeout for 2-4 has passed. All five
# must reach the handler, each exactly once and in seq order.
# SEINPOST1 got this wrong: the new partner was handed seq 5 only (2-4 died
# with the old process), acknowledged "through 5", and the router marked
# 2-5 delivered: 2-4 lost without a trace at the partner.
# No handler runs when the partner is killed (it is frozen between
# batches), so nothing may be handed over twice.
. "$(dirname "$0")/common.sh"
. tests/integration/handled-lib.sh
SP_RECEIPT_TIMEOUT=5s
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
hc_handler toeslagen
hc_start toeslagen || fail "partner toeslagen start"
sp_start_daemon || fail "daemon start"
hc_watch_start toeslagen toeslagen
conf=$SP_DIR/burgerzaken.yaml
sent() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND seq BETWEEN 2 AND 4
                 AND state = 0 AND attempts >= 1 AND batch_id IS NOT NULL"; }

hc_event t45-1 | hc_emit "$conf" "$SP_DIR/accepted" || fail "emit 1"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "seq 1 delivered"
hc_wait_handled 5 toeslagen "$SP_DIR/accepted" || fail "seq 1 handled"

kill -STOP "$(cat "$SP_DIR/toeslagen.pid")"
for i in 2 3 4; do
    hc_event "t45-$i" | hc_emit "$conf" "$SP_DIR/accepted" || fail "emit $i"
    sleep 0.05
done
sp_wait_ge 5 3 sent || fail "seqs 2-4 sent to the frozen partner (sent: $(sent))"
assert_eq "$(hc_children_running "$(cat "$SP_DIR/toeslagen.pid")")" 0 "no handler running at the kill"
sp_stop toeslagen KILL 2>/dev/null
hc_start toeslagen || fail "partner toeslagen start"
sleep 0.3
hc_event t45-5 | hc_emit "$conf" "$SP_DIR/accepted" || fail "emit 5"
assert_eq "$(sp_lines "$SP_DIR/accepted")" 5 "accepted"
# seq 5 went out while 2-4 were still in flight (before their receipt
# timeout, no retry in between): the test is about what the new process
# acknowledges for a batch that follows unread ones
first_sent() { sp_sql "SELECT MIN(b.sent_at) FROM batches b, json_each(b.header, '\$.entries') e
                       WHERE CAST(json_extract(e.value, '\$.seq') AS INTEGER) = $1"; }
sp_wait_ge 5 1 first_sent 5 || fail "seq 5 sent"
t2=$(first_sent 2) t5=$(first_sent 5)
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry' AND ts BETWEEN $t2 AND $t5")" 0 \
    "no retry between the first sending of seq 2 and of seq 5 (receipt timeout too short?)"

hc_wait_drained 30 toeslagen || hc_problem "toeslagen not drained in 30 s"
sleep 0.5   # a late second hand-over would show now
hc_check "handler" --expect "$SP_DIR/accepted" --order <(hc_seq_order toeslagen) \
    "$SP_DIR/toeslagen.handled" || hc_problem "not every accepted id handled exactly once, in seq order"
hc_check "delivered at the router" --expect <(hc_ids_in_state toeslagen 1) --only-lost \
    "$SP_DIR/toeslagen.handled" \
    || hc_problem "the router marked signals delivered that the handler never had"
hc_watch_stop toeslagen || hc_problem "a receipt covered signals the handler did not have yet"
assert_eq "$(hc_status_field .delivered)" 5 "status delivered"
sp_alive daemon || fail "daemon died"
hc_finish "partner restart with unread batches OK"
