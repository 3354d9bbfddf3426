#!/usr/bin/env bash
# A queue on PostgreSQL is backed up as seinpostd(8) says: `seinpost
# backup` refuses and points to pg_dump; pg_dump, taken while the daemon
# accepts and delivers, is one consistent snapshot (every signal with its
# deliveries; `seinpost audit verify --strict` passes on the restored
# copy with the node secret); a daemon started on the restored copy
# delivers what was pending in it, each signal once.
# Without SP_DATABASE it starts a PostgreSQL of its own.
. "$(dirname "$0")/common.sh"
if [ -z "${SP_DATABASE:-}" ]; then
    sp_pg_dir PGD || fail "no directory for PostgreSQL"
    SP_DATABASE=$(tests/pg/pg-start "$PGD") || fail "PostgreSQL did not start (tests/pg/pg-start)"
fi
SP_CHECKPOINT=1s
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
sp_start_partner belastingdienst

out=$("$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/backup.db" 2>&1)
assert_eq "$?" 2 "seinpost backup on PostgreSQL: exit status"
echo "$out" | grep -q "the database is PostgreSQL: back it up with pg_dump" \
    || fail "seinpost backup's refusal: $out"
[ -e "$SP_DIR/backup.db" ] && fail "seinpost backup wrote a file"

for i in $(seq 1 1200); do
    printf '{"gemeentecode":"0796","nummeraanduidingIdentificatie":"%016d","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}\n' "$i"
done > "$SP_DIR/lines.json"
# signals go on arriving while the dump is taken; toeslagen is down, so
# its deliveries stay pending
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$GDB_TYPE" --stream --window 8 \
    < "$SP_DIR/lines.json" > "$SP_DIR/emit.out" 2>&1 &
emitter=$!
echo "$emitter" > "$SP_DIR/emitter.pid"
sp_wait_ge 10 50 sp_sql "SELECT COUNT(*) FROM signals" || fail "signals arriving"
pg_dump -Fc -f "$SP_DIR/backup.dump" "$SP_DATABASE" 2>"$SP_DIR/pg_dump.err" \
    || fail "pg_dump: $(cat "$SP_DIR/pg_dump.err")"
wait $emitter || fail "emitter: $(tail -3 "$SP_DIR/emit.out")"
rm -f "$SP_DIR/emitter.pid"
assert_eq "$(grep -c '^ACCEPTED' "$SP_DIR/emit.out")" 1200 "all 1200 accepted"
sp_stop daemon

# restored into a database of its own, as on a new server
copy=${SP_DATABASE/\/$(sp_sql "SELECT current_database()")\?/\/restored?}
[ "$copy" != "$SP_DATABASE" ] || fail "cannot name the copy's database in $SP_DATABASE"
sp_sql "CREATE DATABASE restored" || fail "create the copy's database"
pg_restore --no-owner -d "$copy" "$SP_DIR/backup.dump" 2>"$SP_DIR/pg_restore.err" \
    || fail "pg_restore: $(cat "$SP_DIR/pg_restore.err")"
c() { psql -X -q -At -v ON_ERROR_STOP=1 "$copy" -c "$*"; }
signals=$(c "SELECT COUNT(*) FROM signals")
[ "$signals" -ge 50 ] && [ "$signals" -lt 1200 ] || fail "a snapshot taken mid-stream: $signals signals"
assert_eq "$(c "SELECT COUNT(*) FROM signals s WHERE NOT EXISTS
                (SELECT 1 FROM deliveries d WHERE d.signal_id = s.id)")" 0 \
    "no signal without its deliveries"
pending=$(c "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 0")
assert_eq "$pending" "$signals" "toeslagen's deliveries pending in the copy"
sed "s|^database: .*|database: ${copy//&/\\&}|" "$conf" > "$SP_DIR/restored.yaml"
v=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/restored.yaml" --strict 2>&1) \
    || fail "verify the copy: $v"
echo "$v" | grep -q "^OK: audit chain of " || fail "verify said: $v"

# the daemon on the copy delivers what was pending in it
cp "$SP_DIR/restored.yaml" "$conf"
sp_start_partner toeslagen
sp_start_daemon || fail "daemon start on the copy"
sp_wait_ge 30 "$signals" sp_lines "$SP_DIR/toeslagen.out" \
    || fail "toeslagen has $(sp_lines "$SP_DIR/toeslagen.out") of $signals"
sleep 1     # a second hand-over would show now
assert_eq "$(jq -r .event.id "$SP_DIR/toeslagen.out" | sort | uniq -d | wc -l)" 0 "handled twice"
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" "$signals" "toeslagen handled what the copy held"
echo "pg_dump backup: $signals of 1200 signals in the snapshot, restored, verified, delivered"
