#!/usr/bin/env bash
# Retention: past the type's retention, a delivered signal's payload is
# purged (and audited), while its hash and signature stay; a signal whose
# delivery is still pending keeps its payload until it is delivered.
. "$(dirname "$0")/common.sh"
SP_RETENTION=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sleep 0.3
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q ACCEPTED || fail "first accepted"
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "first delivered"
sp_stop toeslagen
sp_emit $GDB_TYPE "${GDB_DATA/0855200000123456/0855200000999999}" | grep -q ACCEPTED || fail "second accepted"

sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'signal.purged'" || fail "purge audited"
sleep 1.5
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals WHERE event IS NULL AND purged_at IS NOT NULL")" 1 "one payload purged"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals WHERE event IS NULL AND (length(event_sha256) != 32 OR length(signature) != 64)")" 0 "hash and signature kept"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals s JOIN deliveries d ON d.signal_id = s.id WHERE d.state = 0 AND s.event IS NOT NULL")" 1 "pending signal keeps its payload"
sp_sql "SELECT detail FROM audit WHERE kind = 'signal.purged'" | grep -q '"sha256":"[0-9a-f]\{64\}"' || fail "purge event names the hash"

# the pending one is delivered when its partner returns, then purged too
sp_start_partner toeslagen
sp_wait_ge 10 2 sp_lines "$SP_DIR/toeslagen.out" || fail "second delivered"
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM signals WHERE event IS NULL" || fail "second purged after delivery"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml") || fail "the trail verifies: $out"
echo "retention OK"
