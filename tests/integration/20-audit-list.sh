#!/usr/bin/env bash
# Every audit event kind a scenario can produce is written and read back
# with `seinpost audit list --json`: daemon start/stop, config loaded, a
# signal received, accepted, routed, attempted and receipted; one rejected;
# a duplicate; retries and a dead letter while a partner is down; and an
# operator's redelivery. The filters select what they name.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=2s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner belastingdienst
sleep 0.5
conf=$SP_DIR/seinpost.yaml
list() { "$SP_BIN/seinpost" audit list -c "$conf" --json "$@"; }

# received, routed, accepted, attempt, receipt: verblijf 0855 goes to belastingdienst
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 \
    | grep -q "routed to 1 subscription" || fail "verblijf accepted"
# rejected: a type this emitter may not emit
sp_emit nl.gemeente.burgerzaken.adresonderzoek-gestart '{"gemeentecode":"0855","aanleiding":"x"}' \
    >/dev/null 2>&1 && fail "not-allowed type accepted"
# duplicate: the same whole event twice
printf '{"specversion":"1.0","id":"dup-1","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","datacontenttype":"application/json","data":{"gemeentecode":"0363","vastgesteldOp":"2026-11-22"}}' \
    $VNA_TYPE > "$SP_DIR/dup.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/dup.json" | grep -q ACCEPTED || fail "dup first"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/dup.json" | grep -q DUPLICATE || fail "dup second"
# retries and a dead letter: toeslagen is down past max_age (2 s)
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q "routed to 1 subscription" || fail "bewoning accepted"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2" || fail "dead-lettered"
# redelivered: toeslagen is back and the operator sends the dead letter again
sp_start_partner toeslagen
sleep 0.5
"$SP_BIN/seinpost" redeliver -c "$conf" --subscriber toeslagen --dead-lettered \
    | grep -q "redelivered 1 delivery" || fail "redeliver"
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "redelivered signal arrived"
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "both delivered"
sp_stop daemon

list > "$SP_DIR/all.jsonl" || fail "audit list --json"
# JSON lines: every line one JSON object
assert_eq "$(jq -c 'select(type == "object")' "$SP_DIR/all.jsonl" | wc -l)" "$(wc -l < "$SP_DIR/all.jsonl")" "valid JSON lines"
# one line per event: the entries of a signal.accepted's routes, a
# batch.sent and a batch.receipt row each one (protocol.md 13.1)
assert_eq "$(wc -l < "$SP_DIR/all.jsonl")" "$(sp_events)" "every event listed"
for kind in daemon.start config.loaded signal.accepted signal.rejected \
            signal.duplicate delivery.routed delivery.attempt delivery.receipt delivery.retry \
            delivery.deadlettered delivery.redelivered daemon.stop; do
    n=$(jq --arg k $kind 'select(.kind == $k) | .seq' "$SP_DIR/all.jsonl" | wc -l)
    [ "$n" -ge 1 ] || fail "no $kind event listed"
    assert_eq "$n" "$(sp_events $kind)" "$kind count"
done
assert_eq "$(jq -r '.seq' "$SP_DIR/all.jsonl" | uniq | tr '\n' ' ')" "$(seq 1 "$(sp_sql "SELECT COUNT(*) FROM audit")" | tr '\n' ' ')" \
    "in seq order, every row of the chain"
assert_eq "$(jq -r '.seq' "$SP_DIR/all.jsonl" | uniq | wc -l)" "$(jq -r '.seq' "$SP_DIR/all.jsonl" | sort -nu | wc -l)" \
    "the events of one row together"
assert_eq "$(jq -r 'select(.kind == "delivery.redelivered") | .detail.operator' "$SP_DIR/all.jsonl")" \
    "$(id -un)" "operator named"
assert_eq "$(jq -r 'select(.kind == "signal.rejected") | .detail.code' "$SP_DIR/all.jsonl")" "TYPE_NOT_ALLOWED" "rejection code"
grep -q 999993653 "$SP_DIR/all.jsonl" && fail "a BSN in the audit list"

# filters
gdb_id=$(sp_sql "SELECT ce_id FROM signals WHERE type = '$GDB_TYPE'")
assert_eq "$(list --signal "$gdb_id" | jq -r '.kind' | sort -u | tr '\n' ' ')" \
    "delivery.attempt delivery.deadlettered delivery.receipt delivery.redelivered delivery.routed signal.accepted " \
    "--signal selects one signal's events"
assert_eq "$(list --status delivery.retry | jq -r '.kind' | sort -u)" "delivery.retry" "--status KIND"
assert_eq "$(list --status delivery.retry | wc -l)" "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'")" "retry count"
assert_eq "$(list --status delivery | jq -r '.kind | split(".")[0]' | sort -u)" "delivery" "--status prefix"
assert_eq "$(list --subscriber toeslagen | jq -r '.subscriber' | sort -u)" "toeslagen" "--subscriber"
assert_eq "$(list --type $VNA_TYPE | jq -r '.type' | sort -u)" "$VNA_TYPE" "--type"
assert_eq "$(list --source urn:nld:oin:00000001001234567000:systeem:burgerzaken | jq -r '.signal_id' | sort -u | wc -l)" 3 "--source"
assert_eq "$(list --status delivered | jq -r '.signal' | sort -u | wc -l)" 2 "--status delivered"
assert_eq "$(list --status dead | wc -l)" 0 "--status dead after the redelivery"
assert_eq "$(list --status pending | wc -l)" 0 "--status pending"
assert_eq "$(list --since 1h | wc -l)" "$(wc -l < "$SP_DIR/all.jsonl")" "--since 1h"
assert_eq "$(list --until 2000-01-01 | wc -l)" 0 "--until a date"
mid=$(jq -r 'select(.kind == "delivery.deadlettered") | .time' "$SP_DIR/all.jsonl")
assert_eq "$(list --since "$mid" | jq -r '.kind' | head -1)" "delivery.deadlettered" "--since RFC 3339"
assert_eq "$(list --since "$mid" --until "$mid" | jq -r '.kind')" "delivery.deadlettered" "--since and --until"
assert_eq "$(list --limit 2 | jq -r '.kind' | tr '\n' ' ')" "delivery.receipt daemon.stop " "--limit keeps the last"
"$SP_BIN/seinpost" audit list -c "$conf" --since yesterdayish >/dev/null 2>&1
assert_eq $? 2 "a bad time is a usage error"
"$SP_BIN/seinpost" audit list -c "$conf" | head -1 | grep -q "^ *SEQ *TIME *KIND" || fail "table header"
"$SP_BIN/seinpost" audit list -c "$conf" | tail -1 | grep -q "^$(wc -l < "$SP_DIR/all.jsonl") events$" || fail "table count"

# A query that fails (a damaged or foreign database) stops the list:
# exit 3, what it was reading and the database's message, and no table
# (PostgreSQL reports the error at the first row, SQLite before it).
sp_db_keep || fail "keeping the stopped daemon's database"
sp_db_copy && sp_db_sql copy "ALTER TABLE signals RENAME COLUMN ce_id TO event_id" >/dev/null \
    || fail "breaking a copy"
for args in "" --json "--limit 2"; do
    out=$("$SP_BIN/seinpost" audit list -c "$SP_DIR/copy.yaml" $args 2>"$SP_DIR/list.err")
    assert_eq $? 3 "audit list $args on a copy it cannot read: $(cat "$SP_DIR/list.err")"
    assert_eq "$out" "" "audit list $args on a copy it cannot read prints nothing"
    grep -q "^seinpost audit list: reading the audit events: .*ce_id" "$SP_DIR/list.err" \
        || fail "audit list $args names what failed: $(cat "$SP_DIR/list.err")"
done
echo "audit list OK"
