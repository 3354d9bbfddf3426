#!/usr/bin/env bash
# A partner whose handler fails NACKs the batch; the router sends it again
# and the handler must get it again. The partner library used to count
# the event as seen before its handler ran, so the resend passed as a
# duplicate: acknowledged, never handled.
. "$(dirname "$0")/common.sh"
SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon did not start"

# fails on its first call, stores the event on later ones
cat > "$SP_DIR/handler.sh" <<SH
#!/bin/sh
event=\$(cat)
if [ ! -f "$SP_DIR/failed-once" ]; then
    touch "$SP_DIR/failed-once"
    exit 1
fi
printf '%s\n' "\$event" >> "$SP_DIR/got"
SH
chmod +x "$SP_DIR/handler.sh"
sp_start_partner toeslagen --exec "$SP_DIR/handler.sh"
sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653 | grep -q '^ACCEPTED' || fail "signal not accepted"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "delivery not acknowledged"
[ -f "$SP_DIR/failed-once" ] || fail "the handler never failed: nothing tested"
sp_wait 5 test -s "$SP_DIR/got" || fail "acknowledged, but the handler never got the event"
assert_eq "$(sp_lines "$SP_DIR/got")" 1 "events handled"
grep -q '"bewonerBsn":"999993653"' "$SP_DIR/got" || fail "handled something else"
assert_ge "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'")" 1 "the NACK was a failed attempt"
echo "partner handler failure OK"
