#!/usr/bin/env bash
# FETCH (protocol.md 7.4): a partner that lost what its handler wrote asks
# the router for its deliveries again. Six signals reach the toeslagen
# partner's handler (its stdout); the test throws that output away and
# restarts the partner with `listen --fetch-since 3`: the handler gets
# exactly seqs 4-6 again, although the partner's dedup state knows them,
# and the trail shows three delivery.redelivered with "requested_by":
# "partner". A FETCH signed with another partner's key is refused and
# audited; a flood of 100 FETCHes queues nothing and costs a bounded
# number of audit rows. After a reload narrows the subscription's filter,
# `--fetch-since 0` brings back only what it still covers, the rest
# refused and audited. A FETCH over purged payloads reports them.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
FETCHPARTNER=$SP_BIN/tools/fetchpartner
[ -x "$FETCHPARTNER" ] || fail "test setup: $FETCHPARTNER not built"
# verblijft-niet-op-adres payloads are purged 2 s after they came
python3 - "$conf" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = "- type: nl.gemeente.burgerzaken.verblijft-niet-op-adres\n    subject_id_type: BSN\n"
assert old in text
open(path, "w").write(text.replace(old, old + "    retention: 2s\n"))
PY
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst

emit_gdb() {    # emit_gdb GEMEENTECODE: prints the CloudEvent id
    local reply
    reply=$(sp_emit $GDB_TYPE "${GDB_DATA/\"0855\"/\"$1\"}" 999993653)
    case $reply in *"routed to"*) ;; *) fail "emit $1: $reply";; esac
    sed -n 's/.*(id \([^)]*\)).*/\1/p' <<<"$reply"
}
delivered() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = '$1' AND state = 1"; }
pending() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = '$1' AND state = 0"; }
# sp_wait runs its command again each time: the count is read each time too
pending_none() { [ "$(pending "$1")" = 0 ]; }
ids_of() { jq -r '.id' "$1" | tr '\n' ' '; }
kind_count() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = '$1' $2"; }
by_partner() { kind_count "$1" "AND json_extract(detail, '$.requested_by') = 'partner'"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

ids=()
for code in 0855 0796 0855 0796 0855 0796; do ids+=("$(emit_gdb $code)"); done
for i in 1 2; do
    sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-20"}' 999993653 \
        | grep -q "routed to 1 subscription" || fail "emit VNA $i"
done
sp_wait_ge 10 6 sp_lines "$SP_DIR/toeslagen.out" || fail "the six signals reach the handler"
sp_wait_ge 10 6 delivered toeslagen || fail "the six signals acknowledged"
sp_wait_ge 10 5 delivered belastingdienst || fail "belastingdienst's acknowledged"

# 1. the partner lost its handler's output; it asks for everything after seq 3
sp_stop toeslagen
: > "$SP_DIR/toeslagen.out"
sp_start_partner toeslagen --fetch-since 3
sp_wait_ge 10 3 sp_lines "$SP_DIR/toeslagen.out" || fail "refetched signals reach the handler: $(cat "$SP_DIR/toeslagen.err")"
sp_wait 10 pending_none toeslagen || fail "refetched signals acknowledged"
sleep 0.5
assert_eq "$(ids_of "$SP_DIR/toeslagen.out")" "${ids[3]} ${ids[4]} ${ids[5]} " \
    "the handler got exactly seqs 4-6, in order"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "7 8 9 " "under new seqs"
grep -q "FETCH [0-9a-f-]* answered by seinpost-test: 3 queued again (huurtoeslag-bewoning seq 7..9), 0 refused (legal basis), 0 purged" \
    "$SP_DIR/toeslagen.err" || fail "the partner logs the answer: $(cat "$SP_DIR/toeslagen.err")"
assert_eq "$(by_partner delivery.redelivered)" 3 "three partner-asked redeliveries audited"
request=$(sp_sql "SELECT json_extract(detail, '$.request_id') FROM audit WHERE kind = 'partner.fetch'")
assert_eq "$(kind_count delivery.redelivered "AND json_extract(detail, '$.request_id') = '$request'
            AND CAST(json_extract(detail, '$.previous_seq') AS INTEGER) IN (4, 5, 6)")" 3 \
    "each names the request and the seq it moved from"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.queued') || ' ' || json_extract(detail, '$.since_seq')
                     FROM audit WHERE kind = 'partner.fetch'")" "3 3" "the request is audited"
sp_stop toeslagen

# 2. a FETCH signed with another key: refused, audited, nothing queued
fetch_partner() {
    "$FETCHPARTNER" --endpoint "tcp://127.0.0.1:$SP_PORT_TOESLAGEN" \
        --curve-secret "$SP_DIR/keys/toeslagen.curve" --subscriber toeslagen "$@"
}
out=$(fetch_partner --key "$SP_DIR/keys/belastingdienst.key") || fail "no answer to a forged FETCH: $out"
# (its body is not read: the refusal names no request)
assert_eq "$out" "FETCH_REFUSED - FETCH_SIGNATURE_INVALID" "a FETCH under a wrong key is refused"
assert_eq "$(kind_count fetch.refused "AND subscriber = 'toeslagen'
            AND json_extract(detail, '$.code') = 'FETCH_SIGNATURE_INVALID'")" 1 "and audited"
assert_eq "$(by_partner delivery.redelivered)" 3 "nothing queued for it"

# 3. a flood: every FETCH answered, none queues anything, a bounded trail
fetch_partner --key "$SP_DIR/keys/toeslagen.key" --count 100 --since-seq 1000 \
    >"$SP_DIR/flood.out" || fail "flood answered: $(tail -3 "$SP_DIR/flood.out")"
flood_end=$(now_ms)
assert_eq "$(wc -l < "$SP_DIR/flood.out")" 100 "each FETCH of the flood answered"
limited=$(grep -c "^FETCH_REFUSED fetch-[0-9]* FETCH_RATE_LIMITED$" "$SP_DIR/flood.out")
assert_ge "$limited" 99 "rate-limited FETCHes"
assert_eq "$(by_partner delivery.redelivered)" 3 "the flood queued nothing"
rows=$(kind_count fetch.refused "AND subscriber = 'toeslagen'")
[ "$rows" -le 20 ] || fail "the flood wrote $rows fetch.refused rows: not bounded"
assert_ge "$rows" 2 "refusals audited one by one up to the limit"
lines=$(grep -c "FETCH from toeslagen refused" "$SP_DIR/daemon.log")
[ "$lines" -le 20 ] || fail "the flood wrote $lines log lines: not bounded"
refusals=$("$SP_BIN/seinpost" status -c "$conf" --json \
    | jq '.subscribers[] | select(.subscriber == "toeslagen") | .partner_refusals')
assert_ge "$refusals" 100 "every refused FETCH counted in status"

# 4. the filter narrows to 0796: only what it still covers comes back
sed -i 's/any_of: \["0855", "0796"\]/any_of: ["0796"]/' "$conf"
grep -q 'any_of: \["0796"\]' "$conf" || fail "test setup: config edit"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reloaded"
# one FETCH per 5 s: the last served one may be one of the flood
wait_ms=$(( flood_end + 5200 - $(now_ms) ))
[ $wait_ms -gt 0 ] && sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
: > "$SP_DIR/toeslagen.out"
before_refused=$(by_partner delivery.redeliver_refused)
sp_start_partner toeslagen --fetch-since 0
sp_wait_ge 10 3 sp_lines "$SP_DIR/toeslagen.out" || fail "covered signals refetched: $(tail -3 "$SP_DIR/toeslagen.err")"
sp_wait 10 pending_none toeslagen || fail "covered signals acknowledged"
sleep 0.5
assert_eq "$(ids_of "$SP_DIR/toeslagen.out")" "${ids[1]} ${ids[3]} ${ids[5]} " \
    "the handler got only the 0796 signals"
grep -q "answered by seinpost-test: 3 queued again (huurtoeslag-bewoning seq 10..12), 3 refused (legal basis), 0 purged" \
    "$SP_DIR/toeslagen.err" || fail "the partner is told of the refusals: $(cat "$SP_DIR/toeslagen.err")"
assert_eq "$(( $(by_partner delivery.redeliver_refused) - before_refused ))" 3 \
    "each refused one audited as asked by the partner"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.redeliver_refused'
                     AND json_extract(detail, '$.reason') LIKE '%filter%no longer matches%'")" 3 \
    "refused for the filter of now"
sp_stop toeslagen

# 5. purged payloads: nothing to send, the partner is told how many
sp_stop belastingdienst
vna_purged() { sp_sql "SELECT COUNT(*) FROM signals WHERE type = '$VNA_TYPE' AND event IS NULL"; }
sp_wait_ge 10 2 vna_purged || fail "VNA payloads purged"
before=$(sp_lines "$SP_DIR/belastingdienst.out")
sp_start_partner belastingdienst --fetch-since 0 --fetch-subscription verblijf-tilburg
sp_wait 10 grep -q "answered by" "$SP_DIR/belastingdienst.err" \
    || fail "no answer: $(cat "$SP_DIR/belastingdienst.err")"
grep -q "0 queued again (verblijf-tilburg), 0 refused (legal basis), 2 purged" \
    "$SP_DIR/belastingdienst.err" || fail "purged reported: $(cat "$SP_DIR/belastingdienst.err")"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.purged') FROM audit WHERE kind = 'partner.fetch'
                     AND subscriber = 'belastingdienst'")" 2 "the purged ones audited"
sleep 0.5
assert_eq "$(sp_lines "$SP_DIR/belastingdienst.out")" "$before" "the handler got nothing"
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "the trail verifies: $out"
echo "fetch missed OK"
