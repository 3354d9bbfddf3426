#!/usr/bin/env bash
# The operator commands exit as the README's table says: 1 for a refusal
# (the daemon refuses a redelivery; `seinpost backup` refuses a target
# that is not an earlier backup), 2 for a usage error, 3 only for a
# failure (no answer from the daemon, I/O). Before, the backup refusals
# exited 3.
# sqlite-only: most cases are refusals of seinpost backup, a SQLite copy; its PostgreSQL refusal is checked here without a server, and test 70 backs PostgreSQL up
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q "routed to 1 subscription" || fail "emit"

# exit_is CODE WHAT COMMAND...: runs a seinpost command, checks its status
exit_is() {
    local want=$1 what=$2
    shift 2
    "$SP_BIN/seinpost" "$@" >"$SP_DIR/out.txt" 2>"$SP_DIR/err.txt"
    assert_eq $? "$want" "$what ($(head -c 300 "$SP_DIR/err.txt"))"
}

# redeliver: the daemon's refusals
exit_is 1 "redeliver to a subscriber that is not configured" redeliver -c "$conf" --subscriber nosuch
grep -q "subscriber nosuch is not configured" "$SP_DIR/err.txt" || fail "reason: $(cat "$SP_DIR/err.txt")"
exit_is 1 "redeliver a delivery that does not exist" redeliver -c "$conf" 999
exit_is 2 "redeliver without ids" redeliver -c "$conf"

# backup: every target it will not write is a refusal
before=$(md5sum < "$SP_DIR/keys/node.key")
exit_is 1 "backup onto a key" backup -c "$conf" -o "$SP_DIR/keys/node.key"
grep -q "is not an SQLite database (an earlier backup): not overwritten" "$SP_DIR/err.txt" \
    || fail "reason: $(cat "$SP_DIR/err.txt")"
assert_eq "$(md5sum < "$SP_DIR/keys/node.key")" "$before" "the key is untouched"
exit_is 1 "backup onto the configuration" backup -c "$conf" -o "$conf"
exit_is 1 "backup onto the database" backup -c "$conf" -o "$SP_DIR/seinpost.db"
exit_is 1 "backup onto the WAL" backup -c "$conf" -o "$SP_DIR/seinpost.db-wal"
exit_is 1 "backup onto the node secret" backup -c "$conf" -o "$SP_DIR/seinpost.db.secret"
exit_is 1 "backup onto a directory" backup -c "$conf" -o "$SP_DIR/keys/"
exit_is 2 "backup without -o" backup -c "$conf"
# failures stay failures: I/O, and no daemon to answer
exit_is 3 "backup into a missing directory" backup -c "$conf" -o "$SP_DIR/no/such/b.db"
exit_is 0 "backup" backup -c "$conf" -o "$SP_DIR/b.db"
exit_is 0 "backup over an earlier backup" backup -c "$conf" -o "$SP_DIR/b.db"
# a database on PostgreSQL is pg_dump's to copy: refused before any
# connection (the URI names no server), its password never shown
sed -e 's|^database: .*|database: "postgresql://op:hunter2@/seinpost?host=/nonexistent"|' \
    -e 's|^  curve_secret_key: .*|&\n  pseudonym_key: seinpost.db.secret|' "$conf" > "$SP_DIR/pg.yaml"
exit_is 2 "backup of a PostgreSQL database" backup -c "$SP_DIR/pg.yaml" -o "$SP_DIR/pg.db"
grep -q "the database is PostgreSQL: back it up with pg_dump" "$SP_DIR/err.txt" \
    || fail "reason: $(cat "$SP_DIR/err.txt")"
! grep -q hunter2 "$SP_DIR/err.txt" || fail "the password is shown: $(cat "$SP_DIR/err.txt")"
[ ! -e "$SP_DIR/pg.db" ] || fail "a PostgreSQL backup wrote $SP_DIR/pg.db"
sp_stop daemon
exit_is 3 "redeliver with no daemon to answer" redeliver -c "$conf" 1
echo "operator exit codes OK"
