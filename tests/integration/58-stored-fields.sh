#!/usr/bin/env bash
# The stored fields that `audit show` and `status` present as evidence are
# held to the chain (or to a signature) by `audit verify`: a delivery's
# receipt_id and batch_id, a batch's sent_at, a receipt's received_at and
# batch_id, a signal's purged_at, and whether its payload is gone. Each
# edit below verified OK before.
. "$(dirname "$0")/common.sh"
SP_RETENTION=1s SP_RECEIPT_TIMEOUT=30s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
data() { printf '%s' "${GDB_DATA/2026-11-20/$1}"; }
for day in 01 02; do
    sp_emit $GDB_TYPE "$(data 2026-11-$day)" 999993653 >/dev/null || fail "emit $day"
done
sp_wait_ge 20 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "delivered"
sp_wait_ge 20 1 sp_sql "SELECT COUNT(*) FROM signals WHERE event IS NULL" || fail "purged"
# a batch in flight that no receipt answers: its row stays pending
kill -STOP "$(cat "$SP_DIR/toeslagen.pid")"
sp_emit $GDB_TYPE "$(data 2026-11-03)" 999993653 >/dev/null || fail "emit 03"
sp_wait_ge 20 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 0 AND batch_id IS NOT NULL" \
    || fail "sent, unanswered"
sp_stop daemon
kill -CONT "$(cat "$SP_DIR/toeslagen.pid")"
sp_stop toeslagen
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "the untouched trail verifies: $out"

# copies to tamper with, as whoever runs the node can (tests/lib.sh)
sp_db_keep || fail "keeping the stopped daemon's database"
q() { sp_db_sql pristine "$1"; }
tamper() {      # tamper SQL EXPECTED-TEXT
    sp_db_copy || fail "a copy to tamper with"
    sp_db_sql copy "$1" >/dev/null || fail "tampering: $1"
    out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/copy.yaml")
    assert_eq $? 4 "exit code for: $1: $out"
    echo "$out" | grep -q "BROKEN: $2" || fail "expected BROKEN: $2, got: $out"
}
done_id=$(q "SELECT MIN(id) FROM deliveries WHERE state = 1")
open_id=$(q "SELECT id FROM deliveries WHERE state = 0 AND batch_id IS NOT NULL LIMIT 1")
purged=$(q "SELECT MIN(id) FROM signals WHERE event IS NULL")
receipt=$(q "SELECT MIN(id) FROM receipts")
tamper "UPDATE deliveries SET receipt_id = receipt_id + 100 WHERE id = $done_id" \
    "delivery $done_id: receipt_id differs from audit event"
tamper "UPDATE deliveries SET batch_id = batch_id + 100 WHERE id = $done_id" \
    "delivery $done_id: batch_id differs from audit event"
tamper "UPDATE deliveries SET batch_id = batch_id + 100 WHERE id = $open_id" \
    "delivery $open_id: batch_id differs from audit event"
tamper "UPDATE batches SET sent_at = sent_at - 1000 WHERE id = 1" \
    "batch 1: sent_at differs from its signed header"
tamper "UPDATE receipts SET received_at = received_at - 1000 WHERE id = $receipt" \
    "receipt $receipt: received_at differs from audit event"
tamper "UPDATE receipts SET batch_id = batch_id + 100 WHERE id = $receipt" \
    "receipt $receipt: answers batch [0-9]*, which is not stored"
tamper "UPDATE signals SET purged_at = purged_at + 1000 WHERE id = $purged" \
    "signal $purged: purged_at differs from audit event"
tamper "UPDATE signals SET event = NULL, purged_at = 1 WHERE event IS NOT NULL" \
    "signal [0-9]*: payload gone, but no signal.purged audit event records it"
echo "stored fields OK"
