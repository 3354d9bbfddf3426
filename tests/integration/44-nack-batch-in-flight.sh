#!/usr/bin/env bash
# A partner's handler fails once, on the first signal of a burst, while the
# next batch is already in flight behind the refused one. Every accepted
# signal must reach the handler exactly once, in seq order; the router
# counts each delivered once, nothing pending.
# SEINPOST1 got this wrong: the partner NACKed batch 1 (seqs 1-32), then
# handled batch 2 (33-64) and signed a cumulative receipt "through 64",
# which marked 1-32 delivered though the handler never had them: lost
# (the handler ran 68 times for 100 signals) or, when the resend of 1-32
# was already queued at the partner, handled after 33-64, out of order;
# a background watch (hc_watch_start) sees them marked delivered before
# the handler had them either way. The trickle variant: signals ~50 ms
# apart, each its own batch; the failing call takes 0.3 s, so the next
# few batches are in flight behind it, and a receipt for one of them used
# to cover it (lost).
. "$(dirname "$0")/common.sh"
. tests/integration/handled-lib.sh
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
hc_handler toeslagen --fail-once 0
# the partner first, so that the router is connected when the burst comes
# and sends two full batches (window 64, 32 a batch) at once
hc_start toeslagen || fail "partner toeslagen start"
sp_start_daemon || fail "daemon start"
hc_watch_start toeslagen toeslagen
sleep 0.5

# -- burst: 100 signals, window 100 ---------------------------------------
for i in $(seq -w 1 100); do hc_event "t44-burst-$i"; done \
    | hc_emit "$SP_DIR/burgerzaken.yaml" "$SP_DIR/burst.accepted" 100 \
    || fail "emit of the burst"
assert_eq "$(sp_lines "$SP_DIR/burst.accepted")" 100 "burst accepted"
hc_wait_drained 40 toeslagen || hc_problem "burst: toeslagen not drained in 40 s"
sleep 0.5   # a late or second hand-over would show now
[ -f "$SP_DIR/toeslagen.failed-once" ] || fail "the handler never failed: nothing tested"
hc_check "burst (handler)" --expect "$SP_DIR/burst.accepted" \
    --order <(hc_seq_order toeslagen) "$SP_DIR/toeslagen.handled" \
    || hc_problem "burst: not every accepted id handled exactly once, in seq order"
# the router's view, second: nothing marked delivered that was not handled
hc_check "burst (delivered at the router)" --expect <(hc_ids_in_state toeslagen 1) --only-lost \
    "$SP_DIR/toeslagen.handled" \
    || hc_problem "burst: the router marked signals delivered that the handler never had"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")" 100 "burst: deliveries done"
assert_eq "$(hc_status_field .delivered)" 100 "burst: status delivered"
assert_eq "$(hc_status_field '.subscribers[] | select(.subscriber == "toeslagen") | .pending')" 0 \
    "burst: status pending"

# -- trickle: 30 signals ~50 ms apart, the first one's handler fails -------
rm -f "$SP_DIR/toeslagen.failed-once"
hc_handler toeslagen --fail-once 0.3
for i in $(seq -w 1 30); do hc_event "t44-trickle-$i"; sleep 0.05; done \
    | hc_emit "$SP_DIR/burgerzaken.yaml" "$SP_DIR/trickle.accepted" 30 \
    || fail "emit of the trickle"
assert_eq "$(sp_lines "$SP_DIR/trickle.accepted")" 30 "trickle accepted"
hc_wait_drained 40 toeslagen || hc_problem "trickle: toeslagen not drained in 40 s"
sleep 0.5
[ -f "$SP_DIR/toeslagen.failed-once" ] || fail "the handler never failed in the trickle"
assert_eq "$(cat "$SP_DIR/toeslagen.failed-once")" "t44-trickle-01" "the trickle's failed call"
cat "$SP_DIR/burst.accepted" "$SP_DIR/trickle.accepted" > "$SP_DIR/all.accepted"
hc_check "burst + trickle (handler)" --expect "$SP_DIR/all.accepted" \
    --order <(hc_seq_order toeslagen) "$SP_DIR/toeslagen.handled" \
    || hc_problem "trickle: not every accepted id handled exactly once, in seq order"
hc_check "burst + trickle (delivered at the router)" --expect <(hc_ids_in_state toeslagen 1) --only-lost \
    "$SP_DIR/toeslagen.handled" \
    || hc_problem "trickle: the router marked signals delivered that the handler never had"
assert_eq "$(hc_status_field .delivered)" 130 "status delivered"
assert_eq "$(hc_status_field '.subscribers[] | select(.subscriber == "toeslagen") | .pending')" 0 \
    "status pending"
assert_ge "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'")" 2 \
    "each failure was a failed attempt"
hc_watch_stop toeslagen || hc_problem "a receipt covered signals the handler did not have yet"
sp_alive daemon || fail "daemon died"
hc_finish "NACK with a batch in flight OK"
