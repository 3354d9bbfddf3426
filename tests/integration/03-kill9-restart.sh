#!/usr/bin/env bash
# kill -9 of the daemon while an emitter streams signals (partner down):
# after a restart every signal that was ACCEPTED is delivered, nothing that
# was never sent appears, at most the unanswered window was stored without
# an answer, and an emitter that resends what got no answer ends with every
# signal delivered exactly once, in contiguous seq order.
. "$(dirname "$0")/common.sh"
N=50
WINDOW=4
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
for i in $(seq 1 $N); do event "k9-$i"; done > "$SP_DIR/events.jsonl"

# ids of the lines an emit output reports ACCEPTED (line-N -> k9-N)
accepted_ids() { sed -n 's/^ACCEPTED line-\([0-9]*\) .*/k9-\1/p' "$1" | sort; }
accepted_count() { grep -c '^ACCEPTED line-' "$SP_DIR/emit1.out"; }

# a slow feeder, so that the kill lands in the middle of the stream
while IFS= read -r line; do printf '%s\n' "$line"; sleep 0.02; done \
    < "$SP_DIR/events.jsonl" 2>/dev/null \
    | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window $WINDOW \
        --timeout 1500 > "$SP_DIR/emit1.out" 2> "$SP_DIR/emit1.err" &
emit_pid=$!
sp_wait_ge 20 $((N / 2)) accepted_count || fail "half of the stream accepted"
sp_stop daemon KILL
wait $emit_pid      # gives up on the unanswered ones after its timeout
accepted_ids "$SP_DIR/emit1.out" > "$SP_DIR/accepted1.txt"
n_accepted=$(wc -l < "$SP_DIR/accepted1.txt")
echo "accepted before kill -9: $n_accepted of $N"
[ "$n_accepted" -lt $N ] || fail "the kill came after the whole stream: nothing tested"
grep -q '^REJECTED' "$SP_DIR/emit1.err" && fail "rejections: $(grep '^REJECTED' "$SP_DIR/emit1.err" | head -3)"

sp_start_daemon || fail "daemon restart after kill -9"
sp_sql "SELECT ce_id FROM signals" | sort > "$SP_DIR/stored.txt"
n_stored=$(wc -l < "$SP_DIR/stored.txt")
comm -23 "$SP_DIR/accepted1.txt" "$SP_DIR/stored.txt" > "$SP_DIR/lost.txt"
[ -s "$SP_DIR/lost.txt" ] && fail "accepted but lost by kill -9: $(tr '\n' ' ' < "$SP_DIR/lost.txt")"
comm -23 "$SP_DIR/stored.txt" <(sort "$SP_DIR/accepted1.txt") > "$SP_DIR/unanswered.txt"
n_unanswered=$(wc -l < "$SP_DIR/unanswered.txt")
echo "stored: $n_stored; stored without an answer: $n_unanswered"
[ "$n_unanswered" -le $WINDOW ] || fail "$n_unanswered stored signals never answered (window $WINDOW)"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries")" "$n_stored" "one delivery per stored signal"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit a JOIN audit b ON b.seq = a.seq - 1 WHERE a.prev_hash <> b.hash")" 0 \
    "audit chain intact after kill -9"

# phase 1: the partner gets exactly what was stored
sp_start_partner toeslagen
sp_wait_ge 10 "$n_stored" sp_lines "$SP_DIR/toeslagen.out" || fail "$n_stored delivered"
sp_wait_ge 5 "$n_stored" sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "receipts for phase 1"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | sort)" "$(cat "$SP_DIR/stored.txt")" "delivered = stored"
assert_eq "$(jq -r .seq "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$(seq -s ' ' 1 "$n_stored") " "seq order phase 1"

# phase 2: the emitter resends whatever got no ACCEPTED
: > "$SP_DIR/resend.jsonl"
for i in $(seq 1 $N); do
    grep -q -x "k9-$i" "$SP_DIR/accepted1.txt" || sed -n "${i}p" "$SP_DIR/events.jsonl" >> "$SP_DIR/resend.jsonl"
done
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window $WINDOW \
    < "$SP_DIR/resend.jsonl" > "$SP_DIR/emit2.out" 2> "$SP_DIR/emit2.err" || fail "resend: $(cat "$SP_DIR/emit2.err")"
assert_eq "$(grep -c '^ACCEPTED .* DUPLICATE:' "$SP_DIR/emit2.out")" "$n_unanswered" \
    "resent signals that were stored are answered DUPLICATE"
assert_eq "$(grep -c '^ACCEPTED .* OK:' "$SP_DIR/emit2.out")" $((N - n_stored)) "the rest is new"

sp_wait_ge 10 $N sp_lines "$SP_DIR/toeslagen.out" || fail "all $N delivered"
sp_wait_ge 5 $N sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "all $N receipted"
sleep 0.5
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" $N "exactly $N lines"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | sort | uniq -d)" "" "no duplicate ids"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | sort)" "$(seq 1 $N | sed 's/^/k9-/' | sort)" "every signal delivered"
assert_eq "$(jq -r .seq "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$(seq -s ' ' 1 $N) " "contiguous seqs"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" $N "stored once each"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml") || fail "the trail verifies: $out"
echo "kill -9 restart OK"
