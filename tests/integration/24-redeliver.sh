#!/usr/bin/env bash
# Dead letters and redelivery: `seinpost deadletters` lists what was given
# up (never a payload); `seinpost redeliver` by id or by subscriber puts it
# back in the queue, at its end (the next delivery id and seq, so that no
# receipt for a batch sent before can cover it), audited with the
# operator's user name and the uid the kernel gives for the admin socket's
# peer (mode 660 at most, whatever the umask), and the partner receives it in order. Without a legal basis any more (subscriber removed
# from the configuration) the daemon refuses, saying why.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=1s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
umask 000       # the daemon sets the admin socket's mode itself
sp_start_daemon || fail "daemon start"
umask 022
assert_eq "$(stat -c %a "$SP_DIR/admin.sock")" 660 "admin socket: owner and group at most, whatever the umask"
conf=$SP_DIR/seinpost.yaml
me=$(id -un)
dead() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2"; }
for i in 1 2 3; do
    sp_emit $GDB_TYPE "${GDB_DATA/0855200000123456/085520000012345$i}" 999993653 \
        | grep -q "routed to 1 subscription" || fail "emit $i"
done
sp_wait_ge 10 3 dead || fail "3 dead letters"

"$SP_BIN/seinpost" deadletters -c "$conf" --json > "$SP_DIR/dead.jsonl" || fail "deadletters --json"
assert_eq "$(jq -c 'select(type == "object")' "$SP_DIR/dead.jsonl" | wc -l)" 3 "3 JSON lines"
assert_eq "$(jq -r '.subscriber + "/" + .subscription' "$SP_DIR/dead.jsonl" | sort -u)" "toeslagen/huurtoeslag-bewoning" "who"
assert_eq "$(jq -r '.reason' "$SP_DIR/dead.jsonl" | sort -u)" "max age passed without a receipt" "why"
assert_eq "$(jq -r '.seq' "$SP_DIR/dead.jsonl" | tr '\n' ' ')" "1 2 3 " "in order"
grep -q -e 999993653 -e 08552000001234 "$SP_DIR/dead.jsonl" && fail "payload in deadletters"
"$SP_BIN/seinpost" deadletters -c "$conf" | tail -1 | grep -q "^3 dead-lettered deliveries$" || fail "table"
assert_eq "$("$SP_BIN/seinpost" deadletters -c "$conf" --subscriber belastingdienst --json | wc -l)" 0 "other subscriber"
first=$(jq -r '.delivery_id' "$SP_DIR/dead.jsonl" | head -1)

# refusals and mistakes
"$SP_BIN/seinpost" redeliver -c "$conf" 999 2>"$SP_DIR/err.txt"
assert_eq $? 1 "unknown delivery refused"
grep -q "delivery 999 does not exist" "$SP_DIR/err.txt" || fail "unknown delivery named"
"$SP_BIN/seinpost" redeliver -c "$conf" abc 2>/dev/null
assert_eq $? 2 "not an id"
"$SP_BIN/seinpost" redeliver -c "$conf" 2>/dev/null
assert_eq $? 2 "nothing to redeliver"
assert_eq "$(dead)" 3 "nothing changed by refusals"

# the partner is back: one by id, then the rest of the subscriber's
sp_start_partner toeslagen
sleep 0.5
answer=$("$SP_BIN/seinpost" redeliver -c "$conf" --json "$first") || fail "redeliver by id"
assert_eq "$(jq -r '"\(.redelivered) \(.operator)"' <<<"$answer")" "1 $me" "redelivered by id"
assert_eq "$(jq -c '.deliveries[] | [.previous_delivery_id, .previous_seq, .delivery_id, .seq]' <<<"$answer")" \
    "[$first,1,4,4]" "queued again as delivery 4, seq 4"
first=$(jq '.deliveries[0].delivery_id' <<<"$answer")
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "first arrives"
"$SP_BIN/seinpost" redeliver -c "$conf" --subscriber toeslagen --dead-lettered --since 1h \
    | grep -q "^redelivered 2 deliveries (operator $me)$" || fail "redeliver by subscriber"
sp_wait_ge 10 3 sp_lines "$SP_DIR/toeslagen.out" || fail "all arrive"
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "3 delivered"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "4 5 6 " "partner got them in order"
assert_eq "$(jq -r '.signal' "$SP_DIR/dead.jsonl" | tr '\n' ' ')" "$(jq -r '.id' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" \
    "the signals in their old order"
assert_eq "$("$SP_BIN/seinpost" redeliver -c "$conf" --json --subscriber toeslagen --dead-lettered | jq .redelivered)" 0 \
    "nothing dead any more"
"$SP_BIN/seinpost" deadletters -c "$conf" | tail -1 | grep -q "^0 dead-lettered deliveries$" || fail "none left"
"$SP_BIN/seinpost" audit list -c "$conf" --json --status delivery.redelivered > "$SP_DIR/redelivered.jsonl"
assert_eq "$(jq -r '"\(.detail.operator) \(.detail.previous_state) \(.subscriber)"' "$SP_DIR/redelivered.jsonl" | sort -u)" \
    "$me deadlettered toeslagen" "3 audited redeliveries"
assert_eq "$(wc -l < "$SP_DIR/redelivered.jsonl")" 3 "one event per delivery"
# besides the name the client claims, what the kernel says of the caller
assert_eq "$(jq -r '"\(.detail.operator_uid) \(.detail.operator_user) \(.detail.operator_pid | type)"' \
    "$SP_DIR/redelivered.jsonl" | sort -u)" "$(id -u) $me number" "the operator's uid from the socket"
grep -q "operator $me (uid $(id -u) $me) set 1 deliveries back to pending" "$SP_DIR/daemon.log" \
    || fail "the log names the uid"
# a delivered one may be sent again too (the partner deduplicates it)
out=$("$SP_BIN/seinpost" redeliver -c "$conf" "$first") || fail "redeliver delivered"
assert_eq "$out" "redelivered 1 delivery (operator $me)
delivery $first is now delivery 7: huurtoeslag-bewoning seq 7 (was seq 4)" "the operator is told the new id"
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "acknowledged again"
assert_eq "$(sp_sql "SELECT seq FROM deliveries WHERE id = (SELECT MAX(id) FROM deliveries)")" 7 \
    "acknowledged under its new seq"
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 3 "the partner knew it by (subscription, source, id)"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.previous_state') FROM audit WHERE kind = 'delivery.redelivered' ORDER BY seq DESC LIMIT 1")" \
    delivered "previous state delivered"

# no legal basis any more: the subscriber leaves the configuration
sp_stop toeslagen
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q "routed to 1 subscription" || fail "emit 4"
sp_wait_ge 10 1 dead || fail "4th dead letter"
fourth=$(sp_sql "SELECT id FROM deliveries WHERE state = 2")
sp_conf_cut "$conf" "  - name: toeslagen" "  - name: belastingdienst"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reloaded"
"$SP_BIN/seinpost" redeliver -c "$conf" "$fourth" 2>"$SP_DIR/err.txt"
assert_eq $? 1 "refused without a legal basis"
grep -q "delivery $fourth (toeslagen/huurtoeslag-bewoning): subscription is no longer configured: no legal basis to deliver" \
    "$SP_DIR/err.txt" || fail "reason given: $(cat "$SP_DIR/err.txt")"
"$SP_BIN/seinpost" redeliver -c "$conf" --subscriber toeslagen 2>"$SP_DIR/err.txt"
assert_eq $? 1 "subscriber refused"
grep -q "subscriber toeslagen is not configured" "$SP_DIR/err.txt" || fail "subscriber reason"
assert_eq "$(sp_sql "SELECT state FROM deliveries WHERE id = $fourth")" 2 "still dead-lettered"
# the trail still verifies; the removed partner's receipts can no longer be
# checked against a configured key, which --strict counts as a failure
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "the trail still verifies: $out"
echo "$out" | grep -q "^note: [0-9]* signatures not checked, the first: receipt [0-9]*: key [0-9a-f]* of subscriber toeslagen is not configured" \
    || fail "unchecked receipts noted: $out"
"$SP_BIN/seinpost" audit verify -c "$conf" --strict | grep -q "^BROKEN: receipt [0-9]*: key" || fail "--strict"
# a stricter umask (systemd's UMask=0077) makes the admin socket stricter
sp_stop_all
umask 077
sp_start_daemon || fail "daemon restart under umask 077"
umask 022
assert_eq "$(stat -c %a "$SP_DIR/admin.sock")" 600 "admin socket under umask 077"
echo "redeliver OK"
