#!/usr/bin/env bash
# Strings from outside reach the terminal as text, never as control bytes:
# an operator name sent over the admin socket, a legal-basis text from the
# configuration (both with a newline and an ESC sequence) and a stored
# source that is not UTF-8 (on PostgreSQL, which refuses to store one, a
# source with control bytes) are printed escaped by `audit show` and
# `audit list` (\n, \x1b, \xff), one output line per event; the --json
# outputs stay valid JSON and keep the operator name exactly. (The table
# of audit list cuts a long detail short: the name is checked in show.)
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
conf=$SP_DIR/seinpost.yaml
ESC=$'\x1b'
OPERATOR=$'mallory\n\x1b[2J\x1b]0;owned\x07'
OPERATOR_SHOWN='mallory\n\x1b[2J\x1b]0;owned\x07'
# YAML's double-quoted "\n" and "\e" are a newline and an ESC
sed -i 's|text: "Awir art. 9 en 10: toetsing huishouden voor huurtoeslag"|text: "Awir\\n\\e[31mred"|' "$conf"
grep -q 'text: "Awir\\n\\e\[31mred"' "$conf" || fail "the legal basis was not replaced"
BASIS_SHOWN='Awir\n\x1b[31mred'
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
out=$(sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653) || fail "emit: $out"
id=$(printf '%s' "$out" | sed -n 's/.*(id \(.*\))$/\1/p')
[ -n "$id" ] || fail "no id in: $out"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "not delivered"

# REDELIVER straight to the admin socket, with a name no login has
printf '{}' > "$SP_DIR/unused.json"
arg=$(jq -nc --arg op "$OPERATOR" '{operator: $op, ids: [1]}')
"$SP_BIN/tools/rawemit" --endpoint "ipc://$SP_DIR/admin.sock" --event "$SP_DIR/unused.json" \
    --command REDELIVER --drop-frame 2 --drop-frame 3 --drop-frame 4 --drop-frame 5 \
    --extra-frame "$arg" > "$SP_DIR/redeliver.out" || fail "no answer to REDELIVER"
grep -q '"redelivered":1' "$SP_DIR/redeliver.out" || fail "not redelivered: $(cat "$SP_DIR/redeliver.out")"
sp_wait_ge 10 2 sp_events delivery.receipt \
    || fail "the redelivery was not acknowledged"
[ "$(sp_sql "SELECT json_extract(detail, '$.operator') FROM audit WHERE kind = 'delivery.redelivered'")" \
  = "$OPERATOR" ] || fail "the operator name was not stored as sent"

# no_raw FILE WHAT: no ESC, BEL or CR byte anywhere in FILE
no_raw() {
    if grep -q -e "$ESC" -e $'\a' -e $'\r' "$1"; then
        cat -v "$1" >&2
        fail "$2 printed a raw control byte"
    fi
}
# has_line FILE WHAT PATTERN: one line holds PATTERN (fixed text) whole
has_line() { grep -q -F -e "$3" "$1" || { cat -v "$1" >&2; fail "$2 lacks: $3"; }; }

"$SP_BIN/seinpost" audit show "$id" -c "$conf" > "$SP_DIR/show.txt" || fail "audit show"
no_raw "$SP_DIR/show.txt" "audit show"
has_line "$SP_DIR/show.txt" "audit show" "delivery.redelivered"
has_line "$SP_DIR/show.txt" "audit show" "operator=$OPERATOR_SHOWN operator_uid="
has_line "$SP_DIR/show.txt" "audit show" "grondslag=$BASIS_SHOWN processing_activity_id="
grep -q '^owned' "$SP_DIR/show.txt" && fail "audit show: the name's newline started a line"

"$SP_BIN/seinpost" audit list -c "$conf" > "$SP_DIR/list.txt" || fail "audit list"
no_raw "$SP_DIR/list.txt" "audit list"
has_line "$SP_DIR/list.txt" "audit list" "grondslag=$BASIS_SHOWN processing_activity_id="
# a header, one line per event, a count: no line was forged
events=$(sp_events)
assert_eq "$(wc -l < "$SP_DIR/list.txt")" $((events + 2)) "lines of audit list"
assert_eq "$(sed '1d;$d' "$SP_DIR/list.txt" | grep -c -v '^ *[0-9][0-9]*  ')" 0 \
    "lines of audit list that are not an event"

# JSON: valid, and the name exactly as stored
"$SP_BIN/seinpost" audit list -c "$conf" --json > "$SP_DIR/list.json" || fail "audit list --json"
assert_eq "$(jq -r 'select(.kind == "delivery.redelivered") | .detail.operator' "$SP_DIR/list.json")" \
    "$OPERATOR" "operator in audit list --json"
"$SP_BIN/seinpost" audit show "$id" -c "$conf" --json > "$SP_DIR/show.json" || fail "show --json"
assert_eq "$(jq -r '.events[] | select(.kind == "delivery.redelivered") | .detail.operator' \
    "$SP_DIR/show.json")" "$OPERATOR" "operator in audit show --json"

# a stored string that is not UTF-8 (a row edited by hand): escaped in
# the table, and in JSON, which cannot carry it raw, escaped the same way.
# PostgreSQL (a UTF8 database) refuses such a string: there the edit must
# fail, and the source without its \xff is checked: its control bytes
# escaped in the table, and in JSON as JSON escapes, read back exactly.
sp_stop daemon
if [ -n "${SP_DATABASE:-}" ]; then
    sp_sql "UPDATE signals SET source = convert_from('\x6576696cff0a1b5b306d', 'UTF8')
            WHERE ce_id = '$id'" 2>/dev/null && fail "PostgreSQL stored a source that is not UTF-8"
    sp_sql "UPDATE signals SET source = convert_from('\x6576696c0a1b5b306d', 'UTF8')
            WHERE ce_id = '$id'" || fail "test setup: source with control bytes"
    shown='evil\n\x1b[0m' raw=$'evil\n\x1b[0m'
else
    sp_sql "UPDATE signals SET source = CAST(X'6576696cff0a1b5b306d' AS TEXT) WHERE ce_id = '$id'"
    shown='evil\xff\n\x1b[0m' raw=$shown
fi
"$SP_BIN/seinpost" audit show "$id" -c "$conf" > "$SP_DIR/show8.txt" || fail "show, not UTF-8"
no_raw "$SP_DIR/show8.txt" "audit show of a source that is not UTF-8"
has_line "$SP_DIR/show8.txt" "audit show" "  source    $shown"
"$SP_BIN/seinpost" audit show "$id" -c "$conf" --json > "$SP_DIR/show8.json" || fail "show --json, not UTF-8"
assert_eq "$(jq -r '.signal.source' "$SP_DIR/show8.json")" "$raw" \
    "a source that is not UTF-8 in audit show --json"
"$SP_BIN/seinpost" audit list -c "$conf" --json --signal "$id" > "$SP_DIR/list8.json" \
    || fail "list --json, not UTF-8"
assert_eq "$(jq -s --arg source "$raw" 'map(select(.source == $source)) | length > 0' \
    "$SP_DIR/list8.json")" true "a source that is not UTF-8 in audit list --json"
echo "audit show escape OK"
