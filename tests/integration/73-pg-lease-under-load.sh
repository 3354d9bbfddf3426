#!/usr/bin/env bash
# The active node keeps its lease under a flood on a slow database: two
# emitters with 500 signals in flight each and two partners, on
# PostgreSQL with the default 3 s lease, every stored signal made 2 ms
# slower (a trigger, as a loaded server would be), for 15 s. The node
# must stay active (no "deposed", no exit) and go on accepting. Before,
# a turn took up to 1 024 EMITs into one transaction (2 s here, 1-2 s on
# a loaded machine without the trigger) and renewed the lease only
# between turns with no transaction open: the node deposed itself within
# seconds.
. "$(dirname "$0")/common.sh"
sp_pg_dir PGD || fail "no directory for PostgreSQL"
SP_DATABASE=$(tests/pg/pg-start "$PGD") || fail "PostgreSQL did not start (tests/pg/pg-start)"
SP_LEASE=3s
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_partner toeslagen
sp_start_partner belastingdienst
sp_start_daemon || fail "daemon start"
sp_sql "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS
        \$\$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END \$\$;
        CREATE TRIGGER slow_insert BEFORE INSERT ON signals
        FOR EACH ROW EXECUTE FUNCTION slow_insert()" || fail "the slowing trigger"
awk 'BEGIN { for (i = 1; i <= 200000; i++)
    printf "{\"gemeentecode\":\"%s\",\"nummeraanduidingIdentificatie\":\"0855200000%06d\",\"bewonerBsn\":\"999993653\",\"vastgesteldOp\":\"2026-11-20\"}\n", (i % 2 ? "0855" : "0796"), i }' \
    > "$SP_DIR/data.jsonl"
for k in 1 2; do
    "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$GDB_TYPE" --stream --window 500 \
        < "$SP_DIR/data.jsonl" > "$SP_DIR/emit$k.out" 2> "$SP_DIR/emit$k.err" &
    echo $! > "$SP_DIR/emit$k.pid"
done
for ((i = 0; i < 150; i++)); do
    sleep 0.1
    grep -q "deposed: " "$SP_DIR/daemon.log" \
        && fail "the node deposed itself under load: $(grep "deposed: " "$SP_DIR/daemon.log")"
    sp_alive daemon || fail "the node exited under load: $(grep -v '^<[67]>' "$SP_DIR/daemon.log" | tail -3)"
done
accepted=$(cat "$SP_DIR/emit1.out" "$SP_DIR/emit2.out" | grep -c '^ACCEPTED')
sp_stop emit1
sp_stop emit2
[ "$accepted" -ge 500 ] || fail "only $accepted signals accepted in 15 s"
sp_is_active_here() { "$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json | jq -e '.role != "standby"'; }
sp_is_active_here >/dev/null || fail "the node is not active after the flood"
echo "lease kept under a flood: $accepted signals accepted in 15 s, no deposition"
