#!/usr/bin/env bash
# Long ids: a signal whose `id` (and one whose `source` too) is as long as
# ingress accepts (max_attribute_bytes, 1024 by default) reaches the partner
# with that exact id and source, and the signals behind it follow (they were
# once cut to 511 bytes when read back, the sealed payload then failed to
# open and the whole queue of the subscriber waited until max age).
# Then a pending row whose stored payload no longer opens is dead-lettered
# on its own, with its reason, and the next row is still delivered.
. "$(dirname "$0")/common.sh"
SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
conf=$SP_DIR/seinpost.yaml
base_source=urn:nld:oin:00000001001234567000:systeem:burgerzaken

# event ID [SOURCE]: one whole CloudEvent for toeslagen
event() {
    jq -nc --arg id "$1" --arg source "${2:-$base_source}" --arg type "$GDB_TYPE" \
        --argjson data "$GDB_DATA" '{specversion: "1.0", id: $id, source: $source,
        type: $type, time: "2026-11-23T09:15:00Z", subject: "999993653",
        datacontenttype: "application/json", data: $data}'
}
emit() {
    event "$@" > "$SP_DIR/event.json"
    "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/event.json" \
        --timeout 10000
}
pad() { printf '%s' "$1"; head -c $(( $2 - ${#1} )) /dev/zero | tr '\0' "$3"; }
# state_of ID: state of the toeslagen delivery of the signal with that id
state_of() {
    sp_sql "SELECT d.state FROM deliveries d JOIN signals s ON s.id = d.signal_id
            WHERE d.subscriber = 'toeslagen' AND s.ce_id = '$1'"
}
state_is() { [ "$(state_of "$1")" = "$2" ]; }

long_id=$(pad long-id- 1000 a)
max_id=$(pad max-id- 1024 b)                    # exactly the limit
long_source=$(pad "$base_source:" 1024 s)
assert_eq "${#long_id} ${#max_id} ${#long_source}" "1000 1024 1024" "lengths"
emit "$long_id" | grep -q "^ACCEPTED signal OK" || fail "long id accepted"
emit "$max_id" "$long_source" | grep -q "^ACCEPTED signal OK" || fail "long source accepted"
emit short-1 | grep -q "^ACCEPTED signal OK" || fail "short accepted"
# one byte over the limit is refused at the door, saying why
emit "$(pad over- 1025 c)" 2>&1 | grep -q "^REJECTED signal ATTRIBUTE_INVALID: attribute 'id' is longer than 1024 bytes" \
    || fail "over the limit refused"

sp_wait_ge 15 3 sp_lines "$SP_DIR/toeslagen.out" \
    || fail "3 signals delivered, got $(sp_lines "$SP_DIR/toeslagen.out"); $(sp_sql "SELECT state, attempts, last_error FROM deliveries")"
sp_wait 10 state_is short-1 1 || fail "short-1 receipted (state $(state_of short-1))"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")" 3 "all three receipted"
assert_eq "$(jq -r '.id' "$SP_DIR/toeslagen.out" | head -1)" "$long_id" "long id delivered whole (header)"
assert_eq "$(jq -r '.event.id' "$SP_DIR/toeslagen.out" | head -1)" "$long_id" "long id in the event"
assert_eq "$(jq -r '.id' "$SP_DIR/toeslagen.out" | sed -n 2p)" "$max_id" "max id delivered whole"
assert_eq "$(jq -r '.source' "$SP_DIR/toeslagen.out" | sed -n 2p)" "$long_source" "long source delivered whole"
assert_eq "$(jq -r '.id' "$SP_DIR/toeslagen.out" | sed -n 3p)" short-1 "short one after them"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "1 2 3 " "in order"
# the header the router signed and stored names them whole too
assert_eq "$(sp_sql "SELECT COUNT(*) FROM batches b, json_each(b.header, '$.entries') e
                     WHERE json_extract(e.value, '$.id') IN ('$long_id', '$max_id')")" 2 \
    "stored batch headers carry the whole ids"
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "audit verify: $out"

# a stored payload that no longer opens (edited here) is dead-lettered on
# its own, with its reason; the signal behind it still goes
sp_stop toeslagen
emit bad-1 | grep -q "^ACCEPTED signal OK" || fail "bad-1 accepted"
emit good-1 | grep -q "^ACCEPTED signal OK" || fail "good-1 accepted"
assert_eq "$(state_of bad-1)$(state_of good-1)" 00 "both pending while the partner is down"
# (bad-1 may be dead-lettered from the next try on, partner or not)
zero="X'00'"
[ -n "${SP_DATABASE:-}" ] && zero="'\\x00'::bytea"
sp_sql "UPDATE signals SET event = $zero || substr(event, 2) WHERE ce_id = 'bad-1'"
assert_eq "$(state_of good-1)" 0 "good-1 pending while the partner is down"
sp_start_partner toeslagen
sp_wait 15 state_is good-1 1 || fail "good-1 delivered (state $(state_of good-1)); bad-1 state $(state_of bad-1)"
assert_eq "$(state_of bad-1)" 2 "bad-1 dead-lettered"
reason="sealed payload does not open with this node's secret"
assert_eq "$(sp_sql "SELECT d.last_error FROM deliveries d JOIN signals s ON s.id = d.signal_id
                     WHERE s.ce_id = 'bad-1'")" "$reason" "dead-letter reason"
assert_eq "$(sp_sql "SELECT json_extract(a.detail, '$.reason') FROM audit a JOIN signals s
                     ON s.id = a.signal_id WHERE a.kind = 'delivery.deadlettered' AND s.ce_id = 'bad-1'")" \
    "$reason" "dead letter audited with its reason"
"$SP_BIN/seinpost" deadletters -c "$conf" --json | jq -r '.reason' | grep -qx "$reason" \
    || fail "deadletters lists the reason"
bad_signal=$(sp_sql "SELECT id FROM signals WHERE ce_id = 'bad-1'")
grep -q "signal $bad_signal (delivery [0-9]* to toeslagen) does not open with this node's secret" \
    "$SP_DIR/daemon.log" || fail "the real cause is logged"
assert_eq "$(jq -r '.id' "$SP_DIR/toeslagen.out" | tail -1)" good-1 "partner got good-1 last"
grep -q '"id":"bad-1"' "$SP_DIR/toeslagen.out" && fail "bad-1 reached the partner"
sp_alive daemon || fail "daemon died"
echo "long ids OK"
