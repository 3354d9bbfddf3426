#!/usr/bin/env bash
# `seinpost backup` copies the database while the daemon accepts and
# delivers: the copy is one consistent snapshot (integrity_check ok, no
# WAL needed, `seinpost audit verify` passes on it with the node secret),
# mode 0600 whatever the umask, and what it reports is what it holds.
# Restored in place of the database, the daemon starts on it and delivers
# what was pending in it. Refusals: no -o, the daemon's own files (also
# when they do not exist yet), anything that is not an earlier backup (a
# key, the configuration, a directory), a directory that does not exist;
# a stale FILE.tmp is replaced, not written through; "file:x" is a file.
# sqlite-only: VACUUM INTO copies a SQLite file; test 70 backs PostgreSQL up with pg_dump
. "$(dirname "$0")/common.sh"
SP_CHECKPOINT=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
sp_start_partner belastingdienst
for i in $(seq 1 400); do
    printf '{"gemeentecode":"0796","nummeraanduidingIdentificatie":"%016d","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}\n' "$i"
done > "$SP_DIR/lines.json"
# signals go on arriving while the copy is taken; toeslagen is down, so
# its deliveries stay pending
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type $GDB_TYPE --stream --window 8 \
    < "$SP_DIR/lines.json" > "$SP_DIR/emit.out" 2>&1 &
emitter=$!
sp_wait_ge 10 50 sp_sql "SELECT COUNT(*) FROM signals" || fail "signals arriving"
umask 000
out=$("$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/backup.db") || fail "backup while running: $out"
umask 022
wait $emitter || fail "emitter: $(tail -3 "$SP_DIR/emit.out")"
assert_eq "$(grep -c '^ACCEPTED' "$SP_DIR/emit.out")" 400 "all 400 accepted"

assert_eq "$(stat -c %a "$SP_DIR/backup.db")" 600 "backup mode"
[ -e "$SP_DIR/backup.db-wal" ] && fail "the backup left a WAL beside it"
[ -e "$SP_DIR/backup.db.tmp" ] && fail "the temporary file is left"
b() { sqlite3 "$SP_DIR/backup.db" "$@"; }
assert_eq "$(b "PRAGMA integrity_check")" ok "integrity of the copy"
signals=$(b "SELECT COUNT(*) FROM signals")
[ "$signals" -ge 50 ] && [ "$signals" -le 400 ] || fail "a snapshot taken mid-stream: $signals signals"
pending=$(b "SELECT COUNT(*) FROM deliveries WHERE state = 0")
events=$(b "SELECT MAX(seq) FROM audit")
echo "$out" | grep -q "^backup $SP_DIR/backup.db: $signals signals, $pending deliveries pending, audit events 1..$events, " \
    || fail "report: $out"
# one snapshot: every signal has its deliveries and its audit events
assert_eq "$(b "SELECT COUNT(*) FROM signals s WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.signal_id = s.id)")" 0 \
    "no signal without its deliveries"
sed "s|^database: seinpost.db$|database: backup.db|" "$conf" > "$SP_DIR/backup.yaml"
cp "$SP_DIR/seinpost.db.secret" "$SP_DIR/backup.db.secret"
v=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/backup.yaml" --strict) || fail "verify the copy: $v"
echo "$v" | grep -q "^OK: audit chain of $events events" || fail "verify counts: $v"

# refusals
"$SP_BIN/seinpost" backup -c "$conf" 2>/dev/null
assert_eq $? 2 "no -o"
err=$("$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/seinpost.db" 2>&1)
assert_eq $? 1 "onto the database"
echo "$err" | grep -q "is one of the daemon's own files" || fail "onto the database: $err"
for f in seinpost.db-wal seinpost.db.secret keys/../seinpost.db-shm; do
    "$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/$f" >/dev/null 2>&1
    assert_eq $? 1 "onto $f"
done
# nothing but an earlier backup is replaced: not a key, not the
# configuration, not a directory
for f in keys/node.key seinpost.yaml keys keys/; do
    before=$(md5sum "$SP_DIR/$f" 2>/dev/null)
    err=$("$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/$f" 2>&1)
    assert_eq $? 1 "onto $f"
    assert_eq "$(md5sum "$SP_DIR/$f" 2>/dev/null)" "$before" "$f untouched"
done
echo "$err" | grep -q "a file name is needed, not a directory" || fail "keys/: $err"
# a relative name starting with "file:" is a file, not an SQLite URI
(cd "$SP_DIR" && "$SP_BIN/seinpost" backup -c "$conf" -o file:b.db >/dev/null) || fail "backup to file:b.db"
assert_eq "$(stat -c %a "$SP_DIR/file:b.db")" 600 "file:b.db is the backup, 0600"
[ -e "$SP_DIR/b.db.tmp" ] || [ -e "$SP_DIR/b.db" ] && fail "file: read as a URI"
# a temporary file someone else put there is not written into
ln -s "$SP_DIR/elsewhere.db" "$SP_DIR/link.db.tmp"
"$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/link.db" >/dev/null || fail "backup over a stale .tmp link"
[ -e "$SP_DIR/elsewhere.db" ] && fail "the copy followed a symlink"
assert_eq "$(stat -c %a "$SP_DIR/link.db")" 600 "mode of that backup"
err=$("$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/no/such/dir/b.db" 2>&1)
assert_eq $? 3 "into a missing directory"
echo "$err" | grep -q "no/such/dir/b.db.tmp" || fail "missing directory named: $err"

# restore: the daemon starts on the copy and delivers what was pending in it
sp_stop_all
# stopped, the daemon's WAL is gone; its name is still refused
[ -e "$SP_DIR/seinpost.db-wal" ] && fail "test setup: the WAL outlived the daemon"
"$SP_BIN/seinpost" backup -c "$conf" -o "$SP_DIR/seinpost.db-wal" >/dev/null 2>&1
assert_eq $? 1 "onto the WAL's name while it does not exist"
rm -f "$SP_DIR"/seinpost.db "$SP_DIR"/seinpost.db-wal "$SP_DIR"/seinpost.db-shm
cp "$SP_DIR/backup.db" "$SP_DIR/seinpost.db"
sp_start_daemon || fail "daemon start on the restored copy"
sp_start_partner toeslagen
sp_start_partner belastingdienst
sp_wait_ge 20 "$(b "SELECT COUNT(*) FROM deliveries")" sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "the restored backlog delivered"
sp_stop daemon
v=$("$SP_BIN/seinpost" audit verify -c "$conf" --strict) || fail "verify after restore: $v"
echo "backup OK: $signals signals, $pending pending in the copy"
