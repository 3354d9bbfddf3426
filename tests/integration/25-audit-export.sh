#!/usr/bin/env bash
# `seinpost audit export --format logboek`: one Logboek Dataverwerkingen
# record per processing action (routed, delivered) per subscriber and data
# subject, with the signal's trace id, derived span ids linking delivery
# to routing, the processing activity, the pseudonymised subject and the
# processor. Stable on re-export; never a BSN.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=1s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner belastingdienst
sleep 0.5
conf=$SP_DIR/seinpost.yaml
export_logboek() { "$SP_BIN/seinpost" audit export --format logboek -c "$conf" "$@"; }
# 0796: to toeslagen (down: dead-lettered) and to belastingdienst; subject
# and bewonerBsn are one person, so one record per action
sp_emit $GDB_TYPE "${GDB_DATA/0855/0796}" 999993653 | grep -q "routed to 2" || fail "emit bewoning"
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 | grep -q "routed to 1" || fail "emit verblijf"
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "delivered"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2" || fail "dead-lettered"

export_logboek > "$SP_DIR/logboek.jsonl" || fail "export"
assert_eq "$(jq -c 'select(type == "object")' "$SP_DIR/logboek.jsonl" | wc -l)" 6 "6 JSON lines"
j() { jq -r "$1" "$SP_DIR/logboek.jsonl" | sort | tr '\n' ' '; }
assert_eq "$(j '.name + ":" + .status + ":" + .attributes["dpl.core.foreign_operation.processor"]')" \
    "seinpost.deliver:Error:toeslagen seinpost.deliver:Ok:belastingdienst seinpost.deliver:Ok:belastingdienst seinpost.route:Ok:belastingdienst seinpost.route:Ok:belastingdienst seinpost.route:Ok:toeslagen " \
    "actions per subscriber"
assert_eq "$(jq -r 'select((.trace_id | test("^[0-9a-f]{32}$")) and (.span_id | test("^[0-9a-f]{16}$")) and .start_time <= .end_time and .resource.name == "seinpost-test") | .span_id' "$SP_DIR/logboek.jsonl" | sort -u | wc -l)" \
    6 "ids, times and resource; span ids unique"
assert_eq "$(j '.attributes["dpl.core.data_subject_id_type"]')" "BSN BSN BSN BSN BSN BSN " "subject id type"
assert_eq "$(jq -r '.attributes["dpl.core.processing_activity_id"]' "$SP_DIR/logboek.jsonl" | grep -vc '^https://verwerkingsregister.example/')" \
    0 "processing activity of every action"
# the subject is the stored pseudonym of the signal the trace belongs to
while read -r trace subject; do
    assert_eq "$subject" "$(sp_sql "SELECT subject_pseudonym FROM signals WHERE trace_id = '$trace'")" "pseudonym of $trace"
done < <(jq -r '.trace_id + " " + .attributes["dpl.core.data_subject_id"]' "$SP_DIR/logboek.jsonl")
# every delivery record's parent is the routing record of the same processor
assert_eq "$(jq -s '[.[] | select(.name == "seinpost.route" and (has("parent_span_id") | not))] | length' "$SP_DIR/logboek.jsonl")" \
    3 "routing records have no parent"
assert_eq "$(jq -s '[.[] | select(.name == "seinpost.route")] as $r | [.[] | select(.name == "seinpost.deliver")
                    | . as $d | select(any($r[]; .span_id == $d.parent_span_id and .trace_id == $d.trace_id
                    and .attributes["dpl.core.foreign_operation.processor"] == $d.attributes["dpl.core.foreign_operation.processor"]))] | length' \
                "$SP_DIR/logboek.jsonl")" 3 "parent spans link delivery to routing"
grep -q -e 999993653 -e 999990019 "$SP_DIR/logboek.jsonl" && fail "a BSN in the export"
export_logboek | cmp -s - "$SP_DIR/logboek.jsonl" || fail "re-export differs"
assert_eq "$(export_logboek --subscriber toeslagen | jq -r '.attributes["dpl.core.foreign_operation.processor"]' | sort -u)" \
    toeslagen "--subscriber"
assert_eq "$(export_logboek --type $VNA_TYPE | wc -l)" 2 "--type"
assert_eq "$(export_logboek --since 2000-01-01 --until 2000-01-02 | wc -l)" 0 "--since/--until"
"$SP_BIN/seinpost" audit export --format csv -c "$conf" >/dev/null 2>&1
assert_eq $? 2 "unknown format"
echo "audit export OK"
