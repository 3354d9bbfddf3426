#!/usr/bin/env bash
# Personal data never reaches the logs or the database in clear: signals
# carrying a test BSN in subject and data, accepted, delivered, retried and
# rejected (the BSN inside bad JSON, a wrong data type, an unknown type),
# with debug logging in both formats; then the daemon's stderr, the
# database, its WAL and the audit output are searched for the BSN.
. "$(dirname "$0")/common.sh"
BSN=999993653
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon --log-level debug --log-format json || fail "daemon start"
sp_emit $GDB_TYPE "$GDB_DATA" $BSN | grep -q ACCEPTED || fail "accepted"            # toeslagen down: retries
sp_emit $GDB_TYPE "${GDB_DATA/\"vastgesteldOp\":\"2026-11-20\"/\"vastgesteldOp\":$BSN}" $BSN \
    2>&1 | grep -q DATA_FIELD_TYPE_INVALID || fail "wrong data type rejected"
sp_emit nl.example.onbekend.type "{\"bsn\":\"$BSN\"}" $BSN 2>&1 | grep -q TYPE_UNKNOWN || fail "unknown type rejected"
printf '{"specversion":"1.0","id":"x","source":"urn:nld:oin:00000001001234567000:systeem:b","type":"%s","time":"2026-11-23T09:15:00Z","subject":"%s","data":{"bewonerBsn":"%s"' \
    $GDB_TYPE $BSN $BSN > "$SP_DIR/broken.json"
"$SP_BIN/tools/rawemit" --endpoint "tcp://127.0.0.1:$SP_PORT_INGRESS" \
    --curve-secret "$SP_DIR/keys/burgerzaken.curve" --server-key "$(sp_curvepub node)" \
    --sign "$SP_DIR/keys/burgerzaken.key" --event "$SP_DIR/broken.json" | grep -q JSON_INVALID \
    || fail "broken JSON rejected"
sleep 1
sp_start_partner toeslagen
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "delivered"
grep -q $BSN "$SP_DIR/toeslagen.out" || fail "the partner, with a legal basis, does get the BSN"
"$SP_BIN/seinpost" audit list -c "$SP_DIR/seinpost.yaml" --json > "$SP_DIR/audit.json" || fail "audit list"
sp_stop toeslagen; sp_stop daemon
assert_ge "$(wc -l < "$SP_DIR/daemon.log")" 5 "debug log written"
for f in "$SP_DIR/daemon.log" "$SP_DIR"/seinpost.db* "$SP_DIR/audit.json"; do
    [ -e "$f" ] || continue
    grep -aq $BSN "$f" && fail "BSN found in $(basename "$f")"
done
sqlite3 "$SP_DIR/seinpost.db" .dump | grep -q $BSN && fail "BSN in the database dump"
echo "no BSN in logs, database or audit output"
