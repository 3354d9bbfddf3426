#!/usr/bin/env bash
# The disk refuses to fsync (EIO, injected with an LD_PRELOAD shim while a
# flag file exists): the router stops without answering the signal whose
# fsync failed, instead of answering for what may not be on the disk. After
# a restart the emitter's resend is answered, every signal that got ACCEPTED
# is there and delivered, and the audit chain verifies.
# sqlite-only: the fsync that fails is the daemon's own on SQLite; on PostgreSQL the server syncs (test 67 stops the server)
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
SHIM=$(cd "$SP_BIN" && pwd)/tools/failsync.so
[ -f "$SHIM" ] || fail "no $SHIM (make binaries builds it)"

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":%s}\n' "$1" "$GDB_TYPE" "$GDB_DATA"
}
emit_one() {
    event "$1" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data - --timeout "${2:-5000}" 2>&1
}

# the shim is a plain library: ASan must not insist on coming first
ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
    LD_PRELOAD="$SHIM" SP_FAILSYNC_FILE="$SP_DIR/failsync" sp_start_daemon \
    || fail "daemon start with the shim"
sp_start_partner toeslagen
for i in 1 2 3 4 5; do
    emit_one "fs-$i" | grep -q '^ACCEPTED' || fail "fs-$i accepted while the disk syncs"
done

# the deliveries' bookkeeping is fsynced 200 ms after it: let that pass,
# so that the fsync that fails is the one of fs-6
sp_wait_ge 20 5 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "fs-1..5 delivered before the disk fails"
sleep 0.5
touch "$SP_DIR/failsync"
out=$(emit_one fs-6 3000)
echo "$out" | grep -q '^ACCEPTED' && fail "ACCEPTED although its fsync failed: $out"
echo "$out" | grep -q 'STORAGE_UNAVAILABLE' && fail "answered 'nothing stored' for a committed signal: $out"
pid=$(cat "$SP_DIR/daemon.pid")
sp_wait 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "the router still runs after a failed fsync"
wait "$pid"
status=$?
rm -f "$SP_DIR/daemon.pid"
[ "$status" -ne 0 ] || fail "the router stopped with status 0 after a failed fsync"
grep -q 'fsync of the write-ahead log failed' "$SP_DIR/daemon.log" || fail "the failed fsync is not logged"
grep -q 'stopping without answering 1 signal' "$SP_DIR/daemon.log" || fail "the unanswered signal is not logged"

rm -f "$SP_DIR/failsync"
sp_start_daemon || fail "restart after the failed fsync"
out=$(emit_one fs-6)
echo "$out" | grep -q '^ACCEPTED' || fail "the resend of fs-6 after the restart: $out"
for i in 1 2 3 4 5 6; do
    assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals WHERE ce_id = 'fs-$i'")" 1 "fs-$i stored once"
done
sp_wait_ge 20 6 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "all six delivered ($(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1"))"
"$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml" > "$SP_DIR/verify.out" 2>&1 \
    || fail "audit verify: $(tail -3 "$SP_DIR/verify.out")"
echo "fsync failure: router stopped (status $status) without answering; resend accepted after restart; 6/6 stored and delivered; audit verifies"
