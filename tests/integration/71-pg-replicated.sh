#!/usr/bin/env bash
# A replicated PostgreSQL, as seinpostd(8) advises: a streaming replica
# named in synchronous_standby_names, synchronous_commit = remote_apply
# on the primary. Every signal is on the replica, and readable there, by
# the time its emitter hears ACCEPTED; while the replica's replay is
# paused, no ACCEPTED comes at all. Then the primary's machine is lost
# (its postmaster and the node killed with SIGKILL while signals arrive),
# the replica is promoted, and a node started on it has every signal that
# was ACCEPTED, delivers each to the partner's handler exactly once, and
# `seinpost audit verify --strict` passes on the promoted copy.
. "$(dirname "$0")/common.sh"
sp_pg_dir PGP && sp_pg_dir PGR || fail "no directories for PostgreSQL"

SP_DATABASE=$(tests/pg/pg-start "$PGP") || fail "the primary did not start (tests/pg/pg-start)"
replica=$(tests/pg/pg-start --replica-of "$PGP" "$PGR") || fail "the replica did not start"
sp_sql "ALTER SYSTEM SET synchronous_standby_names = 'replica'" || fail "synchronous_standby_names"
sp_sql "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" || fail "synchronous_commit"
sp_sql "SELECT pg_reload_conf()" >/dev/null
sp_wait 20 sh -c "[ \"\$(psql -X -At '$SP_DATABASE' -c \"SELECT sync_state FROM pg_stat_replication\")\" = sync ]" \
    || fail "the replica is not synchronous: $(sp_sql "SELECT application_name, sync_state FROM pg_stat_replication")"
r() { psql -X -q -At -v ON_ERROR_STOP=1 "$replica" -c "$*"; }
# the id seinpost emit generated, from an ACCEPTED line (seinpost(1))
ACCEPTED_ID='s/^ACCEPTED .* OK: .* (id \([^)]*\))$/\1/p' 

SP_LEASE=10s    # the paused replay holds the lease's renewal too
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_partner toeslagen
sp_start_daemon || fail "daemon start on the primary"

# the replica applies nothing: the node's commit, and so its ACCEPTED, waits
r "SELECT pg_wal_replay_pause()" >/dev/null || fail "pause the replica's replay"
sp_emit "$GDB_TYPE" "$GDB_DATA" > "$SP_DIR/paused.out" 2>&1 &
echo $! > "$SP_DIR/paused-emit.pid"
sleep 2
grep -q '^ACCEPTED' "$SP_DIR/paused.out" && fail "ACCEPTED while the replica could not apply it"
r "SELECT pg_wal_replay_resume()" >/dev/null || fail "resume the replica's replay"
sp_wait 8 grep -q '^ACCEPTED' "$SP_DIR/paused.out" \
    || fail "not ACCEPTED once the replica applied it: $(cat "$SP_DIR/paused.out")"
rm -f "$SP_DIR/paused-emit.pid"
id=$(sed -n "$ACCEPTED_ID" "$SP_DIR/paused.out")
echo "$id" >> "$SP_DIR/accepted"
assert_eq "$(r "SELECT COUNT(*) FROM signals WHERE ce_id = '$id'")" 1 "the waiting signal on the replica"

# one at a time: ACCEPTED, then at once the replica answers for it
for i in $(seq 1 20); do
    id=$(sp_emit "$GDB_TYPE" "$GDB_DATA" | sed -n "$ACCEPTED_ID")
    [ -n "$id" ] || fail "signal $i not accepted"
    echo "$id" >> "$SP_DIR/accepted"
    assert_eq "$(r "SELECT COUNT(*) FROM signals WHERE ce_id = '$id'")" 1 \
        "signal $i on the replica when ACCEPTED came"
done

# the primary's machine is lost while a stream of signals arrives
for i in $(seq 1 400); do
    printf '{"gemeentecode":"0855","nummeraanduidingIdentificatie":"%016d","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}\n' "$i"
done > "$SP_DIR/lines.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$GDB_TYPE" --stream --window 8 \
    --timeout 3000 < "$SP_DIR/lines.json" > "$SP_DIR/emit.out" 2>&1 &
echo $! > "$SP_DIR/emitter.pid"
sp_wait_ge 20 100 sp_sql "SELECT COUNT(*) FROM signals" || fail "the stream did not start"
sp_alive emitter || fail "the stream ended before the primary was lost"
kill -KILL "$(cat "$PGP/postgres.pid")" "$(cat "$SP_DIR/daemon.pid")"
rm -f "$SP_DIR/daemon.pid"
sleep 4     # the emitter gives up on what went unanswered
sp_stop emitter
sed -n "$ACCEPTED_ID" "$SP_DIR/emit.out" >> "$SP_DIR/accepted"
accepted=$(sort -u "$SP_DIR/accepted" | wc -l)
[ "$accepted" -gt 100 ] || fail "only $accepted signals accepted before the loss"
[ "$accepted" -lt 421 ] || fail "all $accepted signals accepted: the loss came after the stream"

# the replica is promoted, and the node starts on it
out=$(tests/pg/pg-promote "$PGR" 2>&1) || fail "promote: $out"
sed -i "s|^database: .*|database: ${replica//&/\\&}|" "$SP_DIR/seinpost.yaml"
SP_DATABASE=$replica
sort -u "$SP_DIR/accepted" > "$SP_DIR/accepted.ids"
r "SELECT ce_id FROM signals" | sort > "$SP_DIR/stored.ids"
lost=$(comm -23 "$SP_DIR/accepted.ids" "$SP_DIR/stored.ids" | wc -l)
assert_eq "$lost" 0 "ACCEPTED signals missing on the promoted replica"
sp_start_daemon || fail "daemon start on the promoted replica"
stored=$(wc -l < "$SP_DIR/stored.ids")
sp_wait_ge 60 "$stored" sp_lines "$SP_DIR/toeslagen.out" \
    || fail "toeslagen has $(sp_lines "$SP_DIR/toeslagen.out") of $stored"
sleep 1     # a second hand-over would show now
jq -r '.event.id' "$SP_DIR/toeslagen.out" | sort > "$SP_DIR/handled.ids"
assert_eq "$(uniq -d "$SP_DIR/handled.ids" | wc -l)" 0 "signals handled twice"
assert_eq "$(comm -23 "$SP_DIR/accepted.ids" "$SP_DIR/handled.ids" | wc -l)" 0 "accepted, never handled"
assert_eq "$(comm -13 "$SP_DIR/stored.ids" "$SP_DIR/handled.ids" | wc -l)" 0 "handled, never stored"
sp_stop daemon
v=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml" --strict 2>&1) \
    || fail "audit verify on the promoted replica: $v"
echo "replicated: 20 of 20 on the replica at ACCEPTED, none ACCEPTED while its replay paused; primary lost with $accepted accepted," \
     "all on the promoted replica ($stored stored), each handled once; audit verify OK"
