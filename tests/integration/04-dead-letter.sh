#!/usr/bin/env bash
# max_age 1s with the partner down: the delivery is dead-lettered (state 2,
# reason kept, audited, counted in status), the signal itself stays stored,
# and a partner that comes up later never receives it, while a fresh signal
# does reach that partner.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=1s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=200ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
event dead-1 > "$SP_DIR/dead.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/dead.json" \
    | grep -q "^ACCEPTED signal OK: stored; routed to 1 subscription" || fail "emit dead-1"
created=$(sp_sql "SELECT created_at FROM deliveries WHERE subscriber = 'toeslagen'")

# state_of CE_ID: state of the toeslagen delivery of that signal
state_of() {
    sp_sql "SELECT d.state FROM deliveries d JOIN signals s ON s.id = d.signal_id
            WHERE d.subscriber = 'toeslagen' AND s.ce_id = '$1'"
}
state_is() { [ "$(state_of "$1")" = "$2" ]; }
sp_wait 10 state_is dead-1 2 || fail "delivery dead-lettered (state $(state_of dead-1))"
row=$(sp_sql "SELECT d.state, d.last_error, d.done_at - d.created_at, s.ce_id,
                     CASE WHEN s.event IS NOT NULL THEN 1 ELSE 0 END
              FROM deliveries d JOIN signals s ON s.id = d.signal_id")
echo "dead row: $row"
IFS='|' read -r state error age ce_id has_event <<<"$row"
assert_eq "$state" 2 "state dead"
case $error in *"max age"*) ;; *) fail "last_error '$error' does not mention max age";; esac
[ "$age" -ge 1000 ] || fail "dead-lettered after $age ms, before max_age 1 s"
[ "$age" -le 5000 ] || fail "dead-lettered only after $age ms"
assert_eq "$ce_id" dead-1 "signal kept"
assert_eq "$has_event" 1 "payload kept"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 1 "signals row kept"
assert_eq "$(sp_sql "SELECT created_at FROM deliveries")" "$created" "same delivery row"

audit=$(sp_sql "SELECT a.subscriber, json_extract(a.detail, '$.subscription'),
                       json_extract(a.detail, '$.seq'), json_extract(a.detail, '$.reason')
                FROM audit a JOIN signals s ON s.id = a.signal_id
                WHERE a.kind = 'delivery.deadlettered' AND s.ce_id = 'dead-1'")
echo "audit: $audit"
assert_eq "$(printf '%s\n' "$audit" | grep -c .)" 1 "one delivery.deadlettered event"
IFS='|' read -r a_sub a_subscription a_seq a_reason <<<"$audit"
assert_eq "$a_sub|$a_subscription|$a_seq" "toeslagen|huurtoeslag-bewoning|1" "audit names the delivery"
assert_eq "$a_reason" "$error" "audit reason = last_error"

status=$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json) || fail "status"
echo "status: $status"
assert_ge "$(jq '.dead_lettered' <<<"$status")" 1 "status dead_lettered"
assert_eq "$(jq '.subscribers[] | select(.subscriber == "toeslagen") | .dead_lettered' <<<"$status")" 1 \
    "toeslagen dead_lettered"
assert_eq "$(jq '.subscribers[] | select(.subscriber == "toeslagen") | .pending' <<<"$status")" 0 \
    "nothing pending after dead-lettering"

# with nothing left to send the daemon must go idle: CPU time (utime+stime,
# in clock ticks) it uses over 2 s; checked at the end
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$(cat "$SP_DIR/daemon.pid")/stat"; }
hz=$(getconf CLK_TCK)

# the partner comes up: the dead letter is never sent
attempts_before=$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.attempt'")
sp_start_partner toeslagen
t0=$(cpu_ticks)
sleep 2
idle_ticks=$(( $(cpu_ticks) - t0 ))
echo "daemon CPU while idle after dead-lettering: $idle_ticks ticks in 2 s ($hz/s)"
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 0 "partner received nothing"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.attempt'")" "$attempts_before" \
    "no attempt after dead-lettering"
# ... though it is reachable: a fresh signal gets through, with the next seq
event fresh-1 > "$SP_DIR/fresh.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/fresh.json" \
    | grep -q "^ACCEPTED signal OK" || fail "emit fresh-1"
sp_wait_ge 5 1 sp_lines "$SP_DIR/toeslagen.out" || fail "fresh signal delivered"
sp_wait 5 state_is fresh-1 1 || fail "fresh delivery receipted (state $(state_of fresh-1))"
sleep 0.5
assert_eq "$(jq -r '.id + ":" + (.seq|tostring)' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "fresh-1:2 " \
    "only the fresh signal, seq 2"
assert_eq "$(state_of dead-1)" 2 "the dead letter stays dead after a later receipt"
sp_alive daemon || fail "daemon died"
[ "$idle_ticks" -le $((hz * 2 / 5)) ] \
    || fail "daemon busy-loops after dead-lettering: $idle_ticks CPU ticks in 2 s idle (more than 20%)"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml") || fail "the trail verifies: $out"
echo "dead letter OK"
