#!/usr/bin/env bash
# Final failure alerts: when deliveries are dead-lettered the configured
# command runs with subscriber, signal id, type and attempts, at most once
# per subscriber per interval, and never sees personal data.
. "$(dirname "$0")/common.sh"
cat > "$SP_DIR/alert.sh" <<SH
#!/bin/sh
{ echo "ARGS \$*"; env; echo END; } >> "$SP_DIR/alerts.txt"
SH
chmod +x "$SP_DIR/alert.sh"
SP_ALERT_COMMAND=$SP_DIR/alert.sh SP_MAX_AGE=1s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
for i in 1 2 3; do sp_emit $GDB_TYPE "$GDB_DATA" 999993653 >/dev/null || fail "emit $i"; done
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2" || fail "dead-lettered"
sp_wait 5 test -s "$SP_DIR/alerts.txt" || fail "alert ran"
sleep 0.5
assert_eq "$(grep -c '^ARGS' "$SP_DIR/alerts.txt")" 1 "one alert per subscriber per interval"
grep '^ARGS' "$SP_DIR/alerts.txt" | grep -q "^ARGS toeslagen [0-9a-f-]* $GDB_TYPE [0-9]*$" || fail "alert arguments"
grep -q "^SEINPOST_SUBSCRIBER=toeslagen$" "$SP_DIR/alerts.txt" || fail "alert environment"
grep -q 999993653 "$SP_DIR/alerts.txt" && fail "BSN reached the alert command"
grep -q 0855200000123456 "$SP_DIR/alerts.txt" && fail "data reached the alert command"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'alert.run'")" 1 "alert audited"
echo "alert OK"
