#!/usr/bin/env bash
# SIGTERM while signals stream in: the daemon exits 0 within 10 s, the audit
# trail ends with daemon.stop pinned by a signed checkpoint of its last seq,
# every stored signal was answered ACCEPTED, and after a restart with the
# partner up every ACCEPTED signal is delivered exactly once, in order.
. "$(dirname "$0")/common.sh"
N=200
WINDOW=8
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
for i in $(seq 1 $N); do event "term-$i"; done > "$SP_DIR/events.jsonl"
accepted_count() { grep -c '^ACCEPTED line-' "$SP_DIR/emit.out"; }

while IFS= read -r line; do printf '%s\n' "$line"; sleep 0.01; done \
    < "$SP_DIR/events.jsonl" 2>/dev/null \
    | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window $WINDOW \
        --timeout 1500 > "$SP_DIR/emit.out" 2> "$SP_DIR/emit.err" &
emit_pid=$!
sp_wait_ge 20 40 accepted_count || fail "40 accepted before the SIGTERM"

# SIGTERM by PID; the daemon is this shell's child, so wait gives its status
pid=$(cat "$SP_DIR/daemon.pid")
t0=$(date +%s%N)
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "daemon still running 10 s after SIGTERM"
fi
wait "$pid"
rc=$?
rm -f "$SP_DIR/daemon.pid"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "daemon exited with status $rc, $ms ms after SIGTERM"
assert_eq "$rc" 0 "exit status after SIGTERM"
wait $emit_pid
n_accepted=$(accepted_count)
echo "accepted before the stop: $n_accepted of $N"
[ "$n_accepted" -lt $N ] || fail "the stop came after the whole stream: nothing tested"
rejected=$(grep '^REJECTED' "$SP_DIR/emit.err" | grep -v ' SHUTTING_DOWN: ')
[ -z "$rejected" ] || fail "rejected during the stop: $(head -3 <<<"$rejected")"

# the audit trail: ends with daemon.stop, pinned by a checkpoint, chain intact
last=$(sp_sql "SELECT seq, kind, hex(hash) FROM audit ORDER BY seq DESC LIMIT 1")
IFS='|' read -r last_seq last_kind last_hash <<<"$last"
assert_eq "$last_kind" daemon.stop "last audit event"
cp=$(sp_sql "SELECT audit_seq, hex(chain_hash), length(signature) FROM checkpoints ORDER BY id DESC LIMIT 1")
echo "last audit seq $last_seq; last checkpoint $cp"
assert_eq "$cp" "$last_seq|$last_hash|64" "checkpoint pins the last audit seq and hash"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit")" "$last_seq" "audit seqs without gaps"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit a JOIN audit b ON b.seq = a.seq - 1 WHERE a.prev_hash <> b.hash")" 0 \
    "audit chain intact"

# a clean stop answers what it stored
sed -n 's/^ACCEPTED line-\([0-9]*\) .*/term-\1/p' "$SP_DIR/emit.out" | sort > "$SP_DIR/accepted.txt"
sp_sql "SELECT ce_id FROM signals" | sort > "$SP_DIR/stored.txt"
assert_eq "$(comm -23 "$SP_DIR/accepted.txt" "$SP_DIR/stored.txt" | tr '\n' ' ')" "" "accepted but not stored"
assert_eq "$(comm -13 "$SP_DIR/accepted.txt" "$SP_DIR/stored.txt" | tr '\n' ' ')" "" \
    "stored but never answered ACCEPTED by a clean stop"
n_stored=$(wc -l < "$SP_DIR/stored.txt")

# restart with the partner up: every accepted signal arrives once, in order
sp_start_partner toeslagen
sp_start_daemon || fail "daemon restart"
sp_wait_ge 15 "$n_stored" sp_lines "$SP_DIR/toeslagen.out" || fail "$n_stored delivered after restart"
sp_wait_ge 5 "$n_stored" sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "all receipted"
sleep 0.5
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" "$n_stored" "exactly the stored signals"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | sort | uniq -d)" "" "no duplicate ids"
assert_eq "$(comm -23 "$SP_DIR/accepted.txt" <(jq -r .id "$SP_DIR/toeslagen.out" | sort) | tr '\n' ' ')" "" \
    "accepted but not delivered"
assert_eq "$(jq -r .seq "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$(seq -s ' ' 1 "$n_stored") " "seq order"
assert_eq "$(sp_sql "SELECT kind FROM audit WHERE seq = $((last_seq + 1))")" daemon.start "restart continues the trail"
echo "SIGTERM clean OK"
