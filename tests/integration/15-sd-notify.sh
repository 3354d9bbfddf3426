#!/usr/bin/env bash
# systemd notification: READY=1 only once the sockets answer, WATCHDOG=1 at
# half the configured interval, STOPPING=1 on SIGTERM, then exit 0.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
python3 tests/tools/notifyd.py "$SP_DIR/notify.sock" "$SP_DIR/notify.txt" 30 &
echo $! > "$SP_DIR/notifyd.pid"
sp_wait 5 test -S "$SP_DIR/notify.sock" || fail "notify socket"
NOTIFY_SOCKET=$SP_DIR/notify.sock WATCHDOG_USEC=400000 \
    "$SP_BIN/seinpostd" -c "$SP_DIR/seinpost.yaml" 2>>"$SP_DIR/daemon.log" &
echo $! > "$SP_DIR/daemon.pid"
sp_wait 20 grep -q READY=1 "$SP_DIR/notify.txt" || fail "READY=1"
# the moment READY=1 is read, the admin and ingress sockets must answer
"$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" >/dev/null || fail "admin answers at READY"
sp_emit $GDB_TYPE "$GDB_DATA" | grep -q ACCEPTED || fail "ingress answers at READY"
sleep 1.5
pings=$(grep -c 'WATCHDOG=1' "$SP_DIR/notify.txt")
assert_ge "$pings" 4 "watchdog pings in 1.5 s at a 0.4 s watchdog"
# intervals between pings: at most the watchdog interval (400 ms)
gaps=$(grep 'WATCHDOG=1' "$SP_DIR/notify.txt" | awk 'NR > 1 { print $1 - prev } { prev = $1 }' | sort -n | tail -1)
[ "$gaps" -le 400 ] || fail "largest gap between pings ${gaps} ms"
grep 'WATCHDOG=1' "$SP_DIR/notify.txt" | head -1 | grep -q 'STATUS=accepted' || fail "STATUS with figures"
kill -TERM "$(cat "$SP_DIR/daemon.pid")"
wait "$(cat "$SP_DIR/daemon.pid")"; rc=$?
rm -f "$SP_DIR/daemon.pid"
assert_eq "$rc" 0 "exit status after SIGTERM"
sp_wait 3 grep -q STOPPING=1 "$SP_DIR/notify.txt" || fail "STOPPING=1"
ready_line=$(grep -n READY=1 "$SP_DIR/notify.txt" | cut -d: -f1)
stop_line=$(grep -n STOPPING=1 "$SP_DIR/notify.txt" | cut -d: -f1)
[ "$ready_line" -lt "$stop_line" ] || fail "READY before STOPPING"
echo "sd_notify OK ($pings pings, largest gap $gaps ms)"
