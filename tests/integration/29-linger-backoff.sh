#!/usr/bin/env bash
# A held batch and a backoff together do not spin the loop: a partner that
# stops answering (SIGSTOP) lets a batch time out while a second signal's
# batch lingers; during the backoff that follows, the daemon stays idle,
# and once the partner is back both signals are delivered.
. "$(dirname "$0")/common.sh"
SP_LINGER=1000ms SP_RECEIPT_TIMEOUT=600ms SP_RETRY_INITIAL=4s SP_RETRY_MAX=4s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
pid=$(cat "$SP_DIR/daemon.pid")
partner=$(cat "$SP_DIR/toeslagen.pid")
trap 'rc=$?; kill -CONT "$partner" 2>/dev/null; sp_stop_all
      [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT
sleep 0.5                               # the partner has connected
kill -STOP "$partner"

sp_emit $GDB_TYPE "$GDB_DATA" >/dev/null || fail "first emit"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM batches" \
    || fail "the first batch was sent (after its linger)"
sp_emit $GDB_TYPE "$(printf '%s' "$GDB_DATA" | sed 's/0855200000123456/0855200000654321/')" \
    >/dev/null || fail "second emit"
# the first batch's receipt times out 0.6 s after it was sent, while the
# second lingers (1 s); the backoff (4 s) then gates both
sp_wait 5 grep -q "no receipt within" "$SP_DIR/daemon.log" || fail "receipt timeout"
lead=$(sp_sql "SELECT (SELECT created_at FROM deliveries WHERE id = 2)
                      - (SELECT sent_at FROM batches WHERE id = 1)")
echo "the second signal was stored $lead ms after the first batch went out"
[ "$lead" -lt 600 ] || fail "too slow to set the scene: the second signal came after the timeout"
sleep 1.1                               # past the end of the second one's linger
t0=$(awk '{print $14 + $15}' /proc/$pid/stat); sleep 2; t1=$(awk '{print $14 + $15}' /proc/$pid/stat)
echo "daemon CPU during the backoff: $((t1 - t0)) ticks in 2 s"
[ $((t1 - t0)) -lt 40 ] || fail "the loop spins while a held batch waits out a backoff: $((t1 - t0)) ticks in 2 s"

kill -CONT "$partner"
sp_wait_ge 20 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1 AND subscriber = 'toeslagen'" \
    || fail "both delivered once the partner answers ($(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1"))"
echo "linger and backoff OK"
