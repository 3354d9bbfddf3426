#!/usr/bin/env bash
# A redelivery stands on the legal basis of the moment. After a reload
# narrows a subscription's filter (0855 and 0796 -> 0796 only) and changes
# its grondslag, `seinpost redeliver` of an old 0855 signal is refused
# (exit 1, the reason named, a delivery.redeliver_refused audit event with
# both bases) and the partner's handler gets nothing; a 0796 signal still
# goes, its batch header carries the grondslag of now, and its
# delivery.redelivered event names the basis it was routed under and the
# one it goes out under. `--subscriber` redelivers what is covered and
# refuses the rest (exit 1). A type change refuses too, ids as a whole.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
OLD_BASIS="Awir art. 9 en 10: toetsing huishouden voor huurtoeslag"
NEW_BASIS="Awir art. 9 lid 2: herbeoordeling huishouden"
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen

emit_id() {     # emit_id GEMEENTECODE NUMMER: emits, prints the CloudEvent id
    local reply
    reply=$(sp_emit $GDB_TYPE "$(sed -e "s/\"0855\"/\"$1\"/" -e "s/0855200000123456/$2/" <<<"$GDB_DATA")" 999993653)
    case $reply in *"routed to"*) ;; *) fail "emit $1: $reply";; esac
    sed -n 's/.*(id \([^)]*\)).*/\1/p' <<<"$reply"
}
delivery_of() { sp_sql "SELECT d.id FROM deliveries d JOIN signals s ON s.id = d.signal_id
                        WHERE d.subscriber = 'toeslagen' AND s.ce_id = '$1'"; }
reloads() { grep -c "configuration reloaded" "$SP_DIR/daemon.log"; }
reload() {
    local n
    n=$(reloads)
    kill -HUP "$(cat "$SP_DIR/daemon.pid")"
    sp_wait_ge 5 $((n + 1)) reloads || fail "reload: $1"
}
refused_events() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.redeliver_refused'
                           AND CAST(json_extract(detail, '$.delivery_id') AS BIGINT) = $1"; }
batches() { sp_sql "SELECT COUNT(*) FROM batches WHERE subscriber = 'toeslagen'"; }

a=$(emit_id 0855 0855200000000001)
b=$(emit_id 0796 0796200000000002)
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 1" \
    || fail "both delivered under the old configuration"
a_id=$(delivery_of "$a") b_id=$(delivery_of "$b")
sp_stop toeslagen

# the subscription narrows to 0796 and gets another grondslag
sed -i -e 's/any_of: \["0855", "0796"\]/any_of: ["0796"]/' -e "s/$OLD_BASIS/$NEW_BASIS/" "$conf"
grep -q "$NEW_BASIS" "$conf" && grep -q 'any_of: \["0796"\]' "$conf" || fail "test setup: config edit"
reload "narrowed"
# a partner that has not seen the signals: it hands on whatever it is sent
cp "$SP_DIR/toeslagen.yaml" "$SP_DIR/fresh.yaml"
echo "state_db: $SP_DIR/fresh.state" >> "$SP_DIR/fresh.yaml"
sp_start_partner fresh

# 1. 0855 is no longer covered: refused, audited, nothing sent
before=$(batches)
"$SP_BIN/seinpost" redeliver -c "$conf" "$a_id" >"$SP_DIR/out.txt" 2>"$SP_DIR/err.txt"
assert_eq $? 1 "redelivery outside the filter refused"
grep -q "delivery $a_id (toeslagen/huurtoeslag-bewoning): the filter of subscription huurtoeslag-bewoning no longer matches" \
    "$SP_DIR/err.txt" || fail "reason: $(cat "$SP_DIR/err.txt")"
assert_eq "$(sp_sql "SELECT state || ' ' || seq FROM deliveries WHERE id = $a_id")" "1 1" "refused delivery unchanged"
assert_eq "$(refused_events "$a_id")" 1 "the refusal is audited"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.routed_grondslag') || '|' || json_extract(detail, '$.grondslag')
                     || '|' || json_extract(detail, '$.operator') FROM audit
                     WHERE kind = 'delivery.redeliver_refused'")" "$OLD_BASIS|$NEW_BASIS|$(id -un)" \
    "the refusal names both bases and the operator"
grep -q "redelivery of 1 delivery refused" "$SP_DIR/daemon.log" || fail "refusal not logged"

# 2. 0796 still is: it goes, under the basis of now
answer=$("$SP_BIN/seinpost" redeliver -c "$conf" --json "$b_id") || fail "redelivery inside the filter"
b_new=$(jq '.deliveries[0].delivery_id' <<<"$answer")
sp_wait_ge 10 1 sp_lines "$SP_DIR/fresh.out" || fail "the covered signal arrives"
sleep 0.5
assert_eq "$(jq -r '.id' "$SP_DIR/fresh.out")" "$b" "the handler got the covered signal and nothing else"
assert_eq "$(jq -r '.grondslag' "$SP_DIR/fresh.out")" "$NEW_BASIS" "the partner is told the basis of now"
assert_eq "$(sp_sql "SELECT hex(header) FROM batches ORDER BY id DESC LIMIT 1" | sp_unhex \
            | jq -r '.entries[0].grondslag')" \
    "$NEW_BASIS" "the router-signed header carries the grondslag of now"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.routed_grondslag') || '|' || json_extract(detail, '$.grondslag')
                     || '|' || json_extract(detail, '$.routed_processing_activity_id') FROM audit
                     WHERE kind = 'delivery.redelivered'
                     AND CAST(json_extract(detail, '$.delivery_id') AS BIGINT) = $b_new")" \
    "$OLD_BASIS|$NEW_BASIS|https://verwerkingsregister.example/toeslagen/huurtoeslag-bewoning" \
    "the redelivery names the basis it was routed under and the one of now"
[ "$(batches)" -gt "$before" ] || fail "test setup: nothing sent at all"
sp_wait_ge 10 1 sp_sql "SELECT state FROM deliveries WHERE id = $b_new" || fail "acknowledged"

# 3. by subscriber: the covered one goes, the other is refused by name
"$SP_BIN/seinpost" redeliver -c "$conf" --subscriber toeslagen >"$SP_DIR/out.txt" 2>"$SP_DIR/err.txt"
assert_eq $? 1 "a refusal among the subscriber's deliveries"
grep -q "^redelivered 1 delivery" "$SP_DIR/out.txt" || fail "the covered one: $(cat "$SP_DIR/out.txt")"
grep -q "^skipped delivery $a_id (huurtoeslag-bewoning): the filter" "$SP_DIR/out.txt" \
    || fail "the refused one named: $(cat "$SP_DIR/out.txt")"
assert_eq "$(refused_events "$a_id")" 2 "audited again"
b_new=$(sp_sql "SELECT MAX(id) FROM deliveries WHERE subscriber = 'toeslagen'")
sp_wait_ge 10 1 sp_sql "SELECT state FROM deliveries WHERE id = $b_new" || fail "acknowledged again"
assert_eq "$(sp_sql "SELECT state FROM deliveries WHERE id = $a_id")" 1 "still not redelivered"

# 4. the subscription now takes another type: no id goes, each is audited
python3 - "$conf" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = "- name: huurtoeslag-bewoning\n        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning"
assert old in text
open(path, "w").write(text.replace(old, "- name: huurtoeslag-bewoning\n        type: nl.gemeente.burgerzaken.verblijft-niet-op-adres"))
PY
reload "type changed"
before=$(batches)
"$SP_BIN/seinpost" redeliver -c "$conf" "$b_new" "$a_id" 2>"$SP_DIR/err.txt"
assert_eq $? 1 "redelivery of another type refused"
grep -q "delivery $a_id (toeslagen/huurtoeslag-bewoning): subscription huurtoeslag-bewoning now takes type nl.gemeente.burgerzaken.verblijft-niet-op-adres.*; 1 more refused" \
    "$SP_DIR/err.txt" || fail "type reason: $(cat "$SP_DIR/err.txt")"
assert_eq "$(refused_events "$b_new")" 1 "the type refusal is audited"
assert_eq "$(refused_events "$a_id")" 3 "both of the refused request"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 0")" 0 \
    "nothing pending"
sleep 0.5
assert_eq "$(batches)" "$before" "nothing sent"
assert_eq "$(sp_lines "$SP_DIR/fresh.out")" 1 "the handler got nothing new"
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "the trail verifies: $out"
echo "redeliver legal basis OK"
