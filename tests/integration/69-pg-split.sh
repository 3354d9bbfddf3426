#!/usr/bin/env bash
# Split brain, refused: the active node is paused (SIGSTOP) past its
# lease, the standby takes over and routes, then the paused node resumes.
# It must write and send nothing: it finds by its own clock that its
# lease ran out, stops before it reads a socket, and exits 75; a signal
# that reached its socket while it slept is answered by nobody but the
# new node, after the emitter's resend. At the partners' handlers every
# signal arrives once, in order. Each node's metrics endpoint says its
# role (seinpost_node_active), the standby's also who is active.
. "$(dirname "$0")/common.sh"
sp_pg_dir PGD || fail "no directory for PostgreSQL"
trap 'rc=$?; kill -CONT "$(cat "$SP_DIR/node-a.daemon.pid" 2>/dev/null)" 2>/dev/null
      sp_stop_all; sp_pg_stop_all; [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT

SP_DATABASE=$(tests/pg/pg-start "$PGD") || fail "PostgreSQL did not start (tests/pg/pg-start)"
SP_LEASE=1s
SP_METRICS=127.0.0.1:$((PORT_BASE + 8))     # node b: PORT_BASE + 9
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_pg_nodes || fail "node b's ingress not set"

# metric NODE NAME{LABELS}: the sample's value on NODE's HTTP endpoint,
# after the reference parser has read the whole exposition
metric() {
    local port=$((PORT_BASE + 8)) file=$SP_DIR/metrics-$1.txt
    [ "$1" = node-b ] && port=$((PORT_BASE + 9))
    curl -sf "http://127.0.0.1:$port/metrics" > "$file" || { echo "no answer"; return; }
    /usr/bin/python3 tests/tools/openmetrics-check.py "$file" > "$file.samples" \
        || { echo "not OpenMetrics"; return; }
    grep -F "$2 " "$file.samples" | awk '{print $NF}' | cut -d. -f1
}

# sp_send ID: one signal, resent until ACCEPTED (OK or DUPLICATE)
sp_send() {
    local event tries
    event=$(printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-12-06T12:00:00Z","datacontenttype":"application/json","data":%s}' \
        "$1" "$GDB_TYPE" "$GDB_DATA")
    for ((tries = 0; tries < 30; tries++)); do
        printf '%s' "$event" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" \
            --data - --timeout 2000 2>>"$SP_DIR/emitter.err" | grep -q '^ACCEPTED' && return 0
    done
    return 1
}

# --migrate names the database without the URI's password
sed "s|^database: \(.*\)\$|database: \1\&password=s3cr3t-pw|" "$SP_DIR/node-a.yaml" \
    > "$SP_DIR/migrate.yaml"
out=$("$SP_BIN/seinpostd" -c "$SP_DIR/migrate.yaml" --migrate 2>&1) || fail "--migrate: $out"
echo "$out" | grep -q "^postgresql:///seinpost?host=.*: created at schema version" \
    || fail "--migrate said: $out"
echo "$out" | grep -q "s3cr3t-pw" && fail "--migrate printed the password: $out"

sp_start_partner toeslagen
"$SP_BIN/seinpostd" -c "$SP_DIR/node-a.yaml" 2>>"$SP_DIR/node-a.log" &
echo $! > "$SP_DIR/node-a.daemon.pid"
sp_wait 20 sp_is_active node-a || fail "node a did not start"
"$SP_BIN/seinpostd" -c "$SP_DIR/node-b.yaml" 2>>"$SP_DIR/node-b.log" &
echo $! > "$SP_DIR/node-b.daemon.pid"
sp_wait 10 grep -q "standby: " "$SP_DIR/node-b.log" || fail "node b is not a standby"
# the standby answers status: its role and who is active
sp_wait 5 "$SP_BIN/seinpost" status -c "$SP_DIR/node-b.yaml" || fail "node b does not answer status"
out=$("$SP_BIN/seinpost" status -c "$SP_DIR/node-b.yaml")
echo "$out" | grep -q "^standby: seinpost-test@.* is active" || fail "node b's status: $out"
out=$("$SP_BIN/seinpost" redeliver -c "$SP_DIR/node-b.yaml" 1 2>&1) \
    && fail "a standby took a redelivery: $out"
echo "$out" | grep -q "standby: .* is active" || fail "node b's refusal: $out"
assert_eq "$(metric node-a 'seinpost_node_active{}')" 1 "node a's metric, active"
assert_eq "$(metric node-b 'seinpost_node_active{}')" 0 "node b's metric, standby"
holder=$(sed -n 's/.*took the lease (token 1) as //p' "$SP_DIR/node-a.log")
[ -n "$holder" ] || fail "node a's lease id not logged"
assert_eq "$(metric node-b "seinpost_standby_active_node_info{node=\"$holder\"}")" 1 \
    "node b's metric naming node a as active"
assert_eq "$(metric node-b 'seinpost_standby_database_up{}')" 1 "node b's database answers"
for i in 1 2 3; do sp_send "split-$i" || fail "signal $i not accepted by node a"; done
sp_wait_ge 10 3 sp_lines "$SP_DIR/toeslagen.out" || fail "node a did not deliver"

kill -STOP "$(cat "$SP_DIR/node-a.daemon.pid")"
# sent while a sleeps: its socket may take it, but only b may answer
( sp_send split-4 && echo ok > "$SP_DIR/split-4" ) &
echo $! > "$SP_DIR/sender.pid"
sp_wait 15 sp_is_active node-b || fail "node b did not take over"
grep -q "took the lease (token 2)" "$SP_DIR/node-b.log" || fail "node b's token is not 2"
# the port the standby served is the active node's now
b_active() { [ "$(metric node-b 'seinpost_node_active{}')" = 1 ]; }
sp_wait 5 b_active || fail "node b's metric after the takeover: $(metric node-b 'seinpost_node_active{}')"
for i in 5 6; do sp_send "split-$i" || fail "signal $i not accepted by node b"; done
sp_wait 20 test -s "$SP_DIR/split-4" || fail "signal 4 was not accepted"
rows=$(sp_sql "SELECT max(seq) FROM audit")

kill -CONT "$(cat "$SP_DIR/node-a.daemon.pid")"
pid=$(cat "$SP_DIR/node-a.daemon.pid")
for ((i = 0; i < 50 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "node a still runs 5 s after it resumed"
wait "$pid"
rc=$?
rm -f "$SP_DIR/node-a.daemon.pid"
assert_eq "$rc" 75 "node a's exit status"
grep -q "deposed: the lease ran out before it could be renewed" "$SP_DIR/node-a.log" \
    || fail "node a gave no reason: $(tail -3 "$SP_DIR/node-a.log")"
# what node a logged after it resumed: the deposition, and nothing it did
after=$(sed -n '/deposed: /,$p' "$SP_DIR/node-a.log" | grep -v "deposed: " || true)
[ -z "$after" ] || fail "node a went on after its deposition: $after"
sp_wait_ge 20 6 sp_lines "$SP_DIR/toeslagen.out" || fail "not every signal was delivered"
sleep 1
assert_eq "$(jq -r '.event.id' "$SP_DIR/toeslagen.out" | sort | uniq -d | wc -l)" 0 \
    "signals handled twice"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "1 2 3 4 5 6 " "seqs in order"
# node b goes on; node a wrote no row (the chain grows only by b's work)
sp_send split-7 || fail "node b stopped accepting"
[ "$(sp_sql "SELECT max(seq) FROM audit")" -gt "$rows" ] || fail "node b wrote nothing more"
sp_stop node-b.daemon
v=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/node-a.yaml" --strict 2>&1) \
    || fail "audit verify: $v"
echo "split refused: node a deposed by its own clock (exit 75), nothing written or sent after it resumed; audit verify OK"
