#!/usr/bin/env bash
# `seinpost audit show ID`: one signal's whole timeline. The signal goes to
# two partners; toeslagen hangs (stopped, connection open) so its delivery
# times out and is retried before it arrives. Both timelines are shown,
# each with its attempts and its receipt (id, partner key, signature).
. "$(dirname "$0")/common.sh"
SP_RECEIPT_TIMEOUT=400ms SP_RETRY_INITIAL=200ms SP_RETRY_MAX=400ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
conf=$SP_DIR/seinpost.yaml
# both partners connected before toeslagen hangs
sp_emit $GDB_TYPE "${GDB_DATA/0855/0796}" 999993653 | grep -q "routed to 2 subscriptions" || fail "warm-up"
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "warm-up delivered"
toeslagen=$(cat "$SP_DIR/toeslagen.pid")
kill -STOP "$toeslagen"
# as common.sh's, but first wake toeslagen so that it can be stopped cleanly
trap 'rc=$?; kill -CONT "$toeslagen" 2>/dev/null; sp_stop_all; [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT
sp_emit $GDB_TYPE "${GDB_DATA/0855/0796}" 999993653 | grep -q "routed to 2 subscriptions" || fail "emit"
id=$(sp_sql "SELECT ce_id FROM signals ORDER BY id DESC LIMIT 1")
signal=$(sp_sql "SELECT id FROM signals WHERE ce_id = '$id'")
retries() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry' AND signal_id = $signal AND subscriber = 'toeslagen'"; }
sp_wait_ge 10 2 retries || fail "toeslagen retried"
kill -CONT "$toeslagen"
sp_wait_ge 10 4 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "both delivered"

"$SP_BIN/seinpost" audit show "$id" -c "$conf" --json > "$SP_DIR/show.json" || fail "audit show --json"
assert_eq "$(wc -l < "$SP_DIR/show.json")" 1 "one JSON line per signal"
jq -e . "$SP_DIR/show.json" >/dev/null || fail "valid JSON"
q() { jq -r "$1" "$SP_DIR/show.json"; }
assert_eq "$(q .signal.id)" "$id" "signal id"
assert_eq "$(q '.deliveries | map(.subscriber + ":" + .state) | sort | join(" ")')" \
    "belastingdienst:delivered toeslagen:delivered" "both deliveries"
assert_ge "$(q '.deliveries[] | select(.subscriber == "toeslagen") | .attempts')" 2 "toeslagen attempts"
assert_eq "$(q '.deliveries[] | select(.subscriber == "belastingdienst") | .attempts')" 1 "belastingdienst attempts"
assert_ge "$(q '[.events[] | select(.subscriber == "toeslagen" and .kind == "delivery.retry")] | length')" 2 "retries shown"
assert_ge "$(q '[.events[] | select(.subscriber == "toeslagen" and .kind == "delivery.attempt")] | length')" 2 "attempts shown"
assert_eq "$(q '[.events[].seq] | . == sort')" true "events in order"
assert_eq "$(q '[.events[] | select(.kind == "signal.received" or .kind == "signal.accepted")] | length')" 1 \
    "one router event: received, accepted and routed"
for sub in toeslagen belastingdienst; do
    receipt=$(sp_sql "SELECT r.id FROM deliveries d JOIN receipts r ON r.id = d.receipt_id WHERE d.signal_id = $signal AND d.subscriber = '$sub'")
    key=$(sp_sql "SELECT key_id FROM receipts WHERE id = $receipt")
    sig=$(sp_sql "SELECT lower(substr(hex(signature), 1, 16)) FROM receipts WHERE id = $receipt")
    assert_eq "$(q ".events[] | select(.subscriber == \"$sub\" and .kind == \"delivery.receipt\") | \"\(.receipt.id) \(.receipt.key_id) \(.receipt.signature_prefix)\"")" \
        "$receipt $key $sig" "$sub receipt id, key and signature"
    assert_eq "$key" "$(sp_sql "SELECT key_id FROM receipts WHERE subscriber = '$sub' LIMIT 1")" "$sub key"
    assert_eq "$(q ".events[] | select(.subscriber == \"$sub\" and .kind == \"delivery.routed\") | .detail.subscription")" \
        "$(sp_sql "SELECT subscription FROM deliveries WHERE signal_id = $signal AND subscriber = '$sub'")" "$sub routed"
done

# the table: one block per subscriber, each with its own attempts and receipt
"$SP_BIN/seinpost" audit show "$id" -c "$conf" > "$SP_DIR/show.txt" || fail "audit show"
cat "$SP_DIR/show.txt"
block() { awk -v h="  $1 / " 'index($0, h) == 1 {on = 1; next} /^  [a-z]+ \/ / {on = 0} on' "$SP_DIR/show.txt"; }
grep -q "^signal $id (store id $signal)$" "$SP_DIR/show.txt" || fail "heading"
grep -q "^  toeslagen / huurtoeslag-bewoning seq 2: delivered after [2-9] attempts$" "$SP_DIR/show.txt" || fail "toeslagen heading"
grep -q "^  belastingdienst / bewoning-prefix seq 2: delivered after 1 attempt$" "$SP_DIR/show.txt" || fail "belastingdienst heading"
assert_ge "$(block toeslagen | grep -c 'delivery.retry ')" 2 "retries in the toeslagen block"
block toeslagen | grep -q "delivery.receipt .*receipt [0-9]* signed by partner key $(sp_sql "SELECT key_id FROM receipts WHERE subscriber = 'toeslagen' LIMIT 1"), signature [0-9a-f]\{16\}" \
    || fail "toeslagen receipt line"
block belastingdienst | grep -q "delivery.receipt .*signed by partner key $(sp_sql "SELECT key_id FROM receipts WHERE subscriber = 'belastingdienst' LIMIT 1")" \
    || fail "belastingdienst receipt line"
assert_eq "$(block belastingdienst | grep -c 'delivery.retry')" 0 "no retries for belastingdienst"
"$SP_BIN/seinpost" audit show no-such-signal -c "$conf" >/dev/null 2>&1
assert_eq $? 1 "unknown id"

# A part of the timeline that cannot be read (a damaged or foreign
# database, SQL a release gets wrong on one engine) stops show: exit 3,
# what it was reading and the database's message, and nothing printed
# as if the signal had no hops, deliveries or receipts.
sp_stop daemon
sp_db_keep || fail "keeping the stopped daemon's database"
broken() {      # broken SQL READING MESSAGE: show on a copy SQL broke
    local json out
    sp_db_copy && sp_db_sql copy "$1" >/dev/null || fail "breaking a copy: $1"
    for json in "" --json; do
        out=$("$SP_BIN/seinpost" audit show "$id" -c "$SP_DIR/copy.yaml" $json \
                  2>"$SP_DIR/show.err")
        assert_eq $? 3 "audit show $json after $1: $(cat "$SP_DIR/show.err")"
        assert_eq "$out" "" "audit show $json after $1 prints nothing"
        grep -q "^seinpost audit show: reading $2: .*$3" "$SP_DIR/show.err" \
            || fail "audit show $json after $1 names what failed: $(cat "$SP_DIR/show.err")"
    done
}
broken "DROP TABLE relays" "the upstream hops of the signal with store id $signal" relays
broken "ALTER TABLE deliveries RENAME COLUMN last_error TO error" \
    "the deliveries of the signal with store id $signal" last_error
broken "DROP TABLE batches" "batch [0-9]*" batches
broken "DROP TABLE receipts" "receipt [0-9]*" receipts
broken "ALTER TABLE signals RENAME COLUMN purged_at TO purged" "the signals with that id" purged_at
echo "audit show OK"
