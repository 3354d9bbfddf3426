#!/usr/bin/env bash
# The database's schema is versioned (meta schema_version). `seinpostd
# --migrate` brings an older database to this release's schema and says
# what it did; a pending signal survives the migration and is delivered;
# a database a later release wrote is refused by the daemon, by
# --migrate and by the operator's tool, in the same words, and is left
# as it was.
# sqlite-only: its fixtures are SQLite files of earlier releases; on PostgreSQL the schema's migration is unit-tested (test_schema) and test 69 runs --migrate
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
conf="$SP_DIR/seinpost.yaml"
db="$SP_DIR/seinpost.db"
version=$(sed -n 's/^#define SP_SCHEMA_VERSION \([0-9]*\).*/\1/p' client/sp_schema.h)
[ -n "$version" ] || fail "no SP_SCHEMA_VERSION in client/sp_schema.h"

"$SP_BIN/seinpostd" --help | grep -q -- "--migrate" || fail "--help does not name --migrate"
out=$("$SP_BIN/seinpostd" -c "$conf" --migrate) || fail "--migrate on a new database: $out"
assert_eq "$out" "$db: created at schema version $version" "--migrate on a new database"
out=$("$SP_BIN/seinpostd" -c "$conf" --migrate) || fail "--migrate again: $out"
assert_eq "$out" "$db: at schema version $version, nothing to migrate" "--migrate again"

# a signal waits in the queue of a database set back to the first version
sp_start_daemon || fail "daemon did not start"
sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653 | grep -q '^ACCEPTED' || fail "signal not accepted"
sp_stop daemon
sp_sql "UPDATE meta SET value = '1' WHERE key = 'schema_version';
        CREATE INDEX deliveries_pending_seq ON deliveries(subscriber, subscription, seq)
            WHERE state = 0;" || fail "could not set the fixture back to version 1"
out=$("$SP_BIN/seinpostd" -c "$conf" --migrate) || fail "--migrate from 1: $out"
assert_eq "$out" "$db: migrated from schema version 1 to $version" "--migrate from 1"
assert_eq "$(sp_sql "SELECT value FROM meta WHERE key = 'schema_version'")" "$version" \
    "schema_version after the migration"
assert_eq "$(sp_sql "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_pending_seq'")" \
    0 "the index version 3 drops"
sp_start_daemon || fail "daemon did not start on the migrated database"
sp_start_partner toeslagen
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "the waiting signal was not delivered"
sp_stop toeslagen
sp_stop daemon
v=$("$SP_BIN/seinpost" audit verify -c "$conf" --strict) || fail "audit verify: $v"

# a later release's database: refused, with the reason, and untouched
newer=$((version + 1))
sp_sql "UPDATE meta SET value = '$newer' WHERE key = 'schema_version'"
cp "$db" "$SP_DIR/newer.copy"
timeout 20 "$SP_BIN/seinpostd" -c "$conf" 2>"$SP_DIR/refused.log"
assert_eq $? 1 "seinpostd on a newer schema"
grep -q "schema version $newer, newer than this release knows ($version)" "$SP_DIR/refused.log" \
    || fail "no clear reason from the daemon: $(cat "$SP_DIR/refused.log")"
out=$("$SP_BIN/seinpostd" -c "$conf" --migrate 2>&1) && fail "--migrate took a newer schema: $out"
echo "$out" | grep -q "schema version $newer, newer" || fail "--migrate gave no reason: $out"
out=$("$SP_BIN/seinpost" audit verify -c "$conf" 2>&1) && fail "audit verify read a newer schema"
echo "$out" | grep -q "schema version $newer, newer than this release knows ($version)" \
    || fail "audit verify gave no reason: $out"
cmp -s "$db" "$SP_DIR/newer.copy" || fail "the refused database was changed"

# another program's database: refused by both in the same words; one
# without any table, which the daemon would make its own, is nothing
# the operator's tool can read
other="$SP_DIR/other.db"
sed "s|^database: .*|database: $other|" "$conf" > "$SP_DIR/other.yaml"
sqlite3 "$other" "CREATE TABLE accounts(id INTEGER PRIMARY KEY)" && chmod 600 "$other" \
    || fail "another program's database"
out=$("$SP_BIN/seinpostd" -c "$SP_DIR/other.yaml" --migrate 2>&1) && fail "--migrate took it: $out"
echo "$out" | grep -q "$other: not a seinpost database: it has tables but no schema_version" \
    || fail "--migrate on another program's database: $out"
out=$("$SP_BIN/seinpost" audit list -c "$SP_DIR/other.yaml" 2>&1)
assert_eq $? 3 "audit list on another program's database: $out"
echo "$out" | grep -q "$other: not a seinpost database: it has tables but no schema_version" \
    || fail "audit list on another program's database: $out"
sqlite3 "$other" "DROP TABLE accounts" || fail "an empty database"
out=$("$SP_BIN/seinpost" audit list -c "$SP_DIR/other.yaml" 2>&1)
assert_eq $? 3 "audit list on a database without tables: $out"
echo "$out" | grep -q "$other: not a seinpost database: it has no tables" \
    || fail "audit list on a database without tables: $out"
echo "schema migrate OK"
