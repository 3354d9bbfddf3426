#!/usr/bin/env bash
# A trickle of signals is batched: with batch_linger 900ms, five signals
# emitted one after another (each waiting for its ACCEPTED) reach the
# partner in one DELIVER, sent only after the oldest has lingered; after a
# reload to batch_linger 0ms, five more go out in (nearly) one batch each.
. "$(dirname "$0")/common.sh"
SP_LINGER=900ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
# emit_five PREFIX: five signals, each sent after the previous one's ACCEPTED
emit_five() {
    for i in 1 2 3 4 5; do event "$1-$i"; done > "$SP_DIR/$1.jsonl"
    "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window 1 \
        < "$SP_DIR/$1.jsonl" > "$SP_DIR/$1.out" 2> "$SP_DIR/$1.err" \
        || fail "emit: $(tail -3 "$SP_DIR/$1.err")"
    assert_eq "$(grep -c '^ACCEPTED' "$SP_DIR/$1.out")" 5 "five accepted ($1)"
}
# batches_of PREFIX: how many DELIVERs carried that prefix's signals
batches_of() {
    sp_sql "SELECT COUNT(DISTINCT d.batch_id) FROM deliveries d JOIN signals s
            ON s.id = d.signal_id WHERE s.ce_id LIKE '$1-%' AND d.subscriber = 'toeslagen'"
}
delivered_of() {
    sp_sql "SELECT COUNT(*) FROM deliveries d JOIN signals s ON s.id = d.signal_id
            WHERE s.ce_id LIKE '$1-%' AND d.state = 1"
}

emit_five slow
sp_wait_ge 15 5 delivered_of slow || fail "the lingering batch was delivered ($(delivered_of slow) of 5)"
assert_eq "$(batches_of slow)" 1 "five signals of a trickle in one DELIVER"
held=$(sp_sql "SELECT MAX(b.sent_at - d.created_at) FROM deliveries d
               JOIN signals s ON s.id = d.signal_id JOIN batches b ON b.id = d.batch_id
               WHERE s.ce_id LIKE 'slow-%'")
echo "the batch went $held ms after its oldest delivery was stored"
assert_ge "$held" 850 "the partial batch lingered for batch_linger"
[ "$held" -lt 5000 ] || fail "the partial batch waited $held ms, far past batch_linger"

sed -i 's/batch_linger: 900ms/batch_linger: 0ms/' "$SP_DIR/seinpost.yaml"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reload logged"
emit_five quick
sp_wait_ge 15 5 delivered_of quick || fail "delivered without linger ($(delivered_of quick) of 5)"
n=$(batches_of quick)
echo "without linger: $n batches for 5 signals"
assert_ge "$n" 3 "without linger each signal goes (nearly) on its own"
echo "batch linger OK"
