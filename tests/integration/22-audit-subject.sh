#!/usr/bin/env bash
# Searching by data subject: `audit list --subject BSN` pseudonymises the
# BSN with the node secret, as the daemon does, and finds the signals that
# carry it as subject or in a subject-id data field; nothing the database
# holds or the audit commands print contains the BSN itself.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
sleep 0.5
conf=$SP_DIR/seinpost.yaml
bsn=999993653 other=999990019
# A: subject and bewonerBsn are the BSN; B: another person; C: subject
# another person, but the BSN in the bewonerBsn data field
sp_emit $GDB_TYPE "$GDB_DATA" $bsn >/dev/null || fail "emit A"
a=$(sp_sql "SELECT ce_id FROM signals ORDER BY id DESC LIMIT 1")
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' $other >/dev/null || fail "emit B"
b=$(sp_sql "SELECT ce_id FROM signals ORDER BY id DESC LIMIT 1")
sp_emit $GDB_TYPE "${GDB_DATA/0855200000123456/0855200000999999}" $other >/dev/null || fail "emit C"
c=$(sp_sql "SELECT ce_id FROM signals ORDER BY id DESC LIMIT 1")
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "delivered"

subject() { "$SP_BIN/seinpost" audit list -c "$conf" --json --subject "$@"; }
subject $bsn > "$SP_DIR/bsn.jsonl" || fail "audit list --subject"
assert_eq "$(jq -c 'select(type == "object")' "$SP_DIR/bsn.jsonl" | wc -l)" "$(wc -l < "$SP_DIR/bsn.jsonl")" "valid JSON lines"
assert_eq "$(jq -r '.signal' "$SP_DIR/bsn.jsonl" | sort -u)" "$(printf '%s\n' "$a" "$c" | sort)" "BSN found as subject and as data field"
assert_eq "$(jq -r 'select(.signal == "'"$a"'") | .kind' "$SP_DIR/bsn.jsonl" | sort -u | tr '\n' ' ')" \
    "delivery.attempt delivery.receipt delivery.routed signal.accepted " "the signal's whole trail"
assert_eq "$(subject $other | jq -r '.signal' | sort -u)" "$(printf '%s\n' "$b" "$c" | sort)" "the other person"
assert_eq "$(subject 123456782 | wc -l)" 0 "a BSN never seen"
# the pseudonym, not the BSN, is what the audit details hold
pseudonym=$(sp_sql "SELECT subject_pseudonym FROM signals WHERE ce_id = '$a'")
[ ${#pseudonym} -eq 64 ] || fail "stored pseudonym"
jq -r 'select(.kind == "signal.received" or .kind == "signal.accepted") | (.detail.data_subjects // [])[].id' \
    "$SP_DIR/bsn.jsonl" | grep -qx "$pseudonym" || fail "the signal's audit events list the pseudonym"
"$SP_BIN/seinpost" audit list -c "$conf" --subject $bsn | grep -q "^[1-9][0-9]* events$" || fail "table"

# nowhere in clear: not in the database, its WAL, nor any audit output
sp_stop daemon
sp_db_dump > "$SP_DIR/dump.sql" || fail "database dump"
grep -q "INSERT INTO .*audit\|COPY .*audit" "$SP_DIR/dump.sql" || fail "the dump holds no audit rows"
grep -q -e $bsn -e $other "$SP_DIR/dump.sql" && fail "a BSN in the database dump"
# SQLite's files, WAL included (PostgreSQL's are the server's: its dump it is)
if [ -z "${SP_DATABASE:-}" ]; then
    grep -a -q -e $bsn -e $other "$SP_DIR"/seinpost.db* && fail "a BSN in the database files"
fi
for cmd in "list" "list --json" "export --format logboek" "show $a" "show $a --json"; do
    # shellcheck disable=SC2086
    "$SP_BIN/seinpost" audit $cmd -c "$conf" > "$SP_DIR/out.txt" || fail "audit $cmd"
    grep -q -e $bsn -e $other "$SP_DIR/out.txt" && fail "a BSN in audit $cmd"
done
"$SP_BIN/seinpost" deadletters -c "$conf" --json | grep -q -e $bsn -e $other && fail "a BSN in deadletters"
echo "audit subject OK"
