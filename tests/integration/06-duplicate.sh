#!/usr/bin/env bash
# The same event bytes sent twice are both ACCEPTED (the second with code
# DUPLICATE) but stored, routed and delivered once; even after delivery a
# resend is DUPLICATE and not delivered again. The same (source, id) with
# other content is REJECTED REPLAY and changes nothing.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
RAW=("$SP_BIN/tools/rawemit" --endpoint "tcp://127.0.0.1:$SP_PORT_INGRESS"
     --curve-secret "$SP_DIR/keys/burgerzaken.curve" --server-key "$(sp_curvepub node)"
     --sign "$SP_DIR/keys/burgerzaken.key")
EVENT=$SP_DIR/event.json
# compact and without a final newline: the bytes `seinpost emit --data` sends
printf '%s' "$(jq -c '.id = "dup-0001" | .data.gemeentecode = "0855"' \
    tests/data/events/geen-dubbele-bewoning.json)" > "$EVENT"

emit_file() { "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$1" 2>&1; }
count() { sp_sql "SELECT COUNT(*) FROM $1"; }
audit_count() { sp_events "$1"; }

out=$(emit_file "$EVENT")
assert_eq "$out" "ACCEPTED signal OK: stored; routed to 1 subscription" "first send"
out=$(emit_file "$EVENT")
assert_eq "$out" "ACCEPTED signal DUPLICATE: accepted before; stored once" "second send"
# the exact same bytes again, from another connection and tool
out=$("${RAW[@]}" --event "$EVENT" --correlation third) || fail "rawemit: no reply"
assert_eq "$out" "ACCEPTED DUPLICATE accepted before; stored once" "third send (rawemit)"
assert_eq "$(count signals)" 1 "stored once"
assert_eq "$(count deliveries)" 1 "routed once"
assert_eq "$(audit_count signal.accepted)" 1 "one signal.accepted event"
assert_eq "$(audit_count delivery.routed)" 1 "one delivery.routed event"
assert_eq "$(audit_count signal.duplicate)" 2 "two signal.duplicate events"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.correlation') FROM audit
                     WHERE kind = 'signal.duplicate' ORDER BY seq DESC LIMIT 1")" third \
    "duplicate audit names the correlation"

sp_start_partner toeslagen
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "delivered"
# sent again after delivery: still DUPLICATE, not delivered a second time
out=$(emit_file "$EVENT")
assert_eq "$out" "ACCEPTED signal DUPLICATE: accepted before; stored once" "send after delivery"
sleep 1
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 1 "partner got one line"
assert_eq "$(jq -r '.id + " " + (.seq|tostring)' "$SP_DIR/toeslagen.out")" "dup-0001 1" "partner line"
assert_eq "$(count deliveries)" 1 "still one delivery"
# sent once: the tries that found the partner not yet connected count in
# attempts too (protocol.md 8.4), each audited as a delivery.retry
not_connected=$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'
                        AND json_extract(detail, '\$.error') = 'partner not connected'")
assert_eq "$(sp_sql "SELECT attempts FROM deliveries")" $((1 + not_connected)) \
    "delivered in one attempt (after $not_connected tries without a partner)"
assert_eq "$(audit_count delivery.attempt)" 1 "one delivery.attempt event (sent once)"
assert_eq "$(count batches)" 1 "one batch sent"

# same source and id, other content
jq -c '.data.vastgesteldOp = "2026-11-21"' "$EVENT" > "$SP_DIR/changed.json"
out=$(emit_file "$SP_DIR/changed.json")
case $out in "REJECTED signal REPLAY: "*) ;; *) fail "other content, same id: '$out'";; esac
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.code') FROM audit WHERE kind = 'signal.rejected'")" REPLAY \
    "REPLAY audited"
# whitespace alone is other content too: the signature covers exact bytes
jq . "$EVENT" > "$SP_DIR/pretty.json"
out=$("${RAW[@]}" --event "$SP_DIR/pretty.json") || fail "rawemit: no reply"
case $out in "REJECTED REPLAY "*) ;; *) fail "same event, other bytes: '$out'";; esac
assert_eq "$(count signals)" 1 "REPLAY stores nothing"
assert_eq "$(count deliveries)" 1 "REPLAY routes nothing"
assert_eq "$(sp_sql "SELECT hex(event_sha256) FROM signals")" \
    "$(sha256sum "$EVENT" | cut -c1-64 | tr a-f A-F)" "the stored hash is that of the first bytes"
status=$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json)
assert_eq "$(jq -c '[.accepted, .duplicates, .rejected]' <<<"$status")" "[1,3,2]" "status counters"
sleep 0.5
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 1 "partner still has one line"
echo "duplicate OK"
