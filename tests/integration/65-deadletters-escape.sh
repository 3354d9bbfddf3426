#!/usr/bin/env bash
# `seinpost deadletters` prints stored strings with every control byte
# escaped, as the audit commands do (cmd_text.h): a reason in the database
# (the router's own, or one put there by whoever could write the file)
# cannot forge an output line or send a terminal escape sequence; --json
# keeps the exact string.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q ACCEPTED || fail "emit"
sp_wait_ge 15 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2" || fail "dead-lettered"
sp_stop daemon
chr=char     # a character by its code: SQLite's char(), PostgreSQL's chr()
[ -n "${SP_DATABASE:-}" ] && chr=chr
sp_sql "UPDATE deliveries SET last_error = 'X' || $chr(27) || '[2J' || $chr(10) || 'FORGED LINE'
        WHERE state = 2"
out=$("$SP_BIN/seinpost" deadletters -c "$conf") || fail "deadletters: $out"
if printf '%s' "$out" | grep -q "$(printf '\033')"; then fail "a raw ESC reached the terminal"; fi
printf '%s\n' "$out" | grep -q '^FORGED LINE' && fail "a forged output line"
printf '%s' "$out" | grep -qF 'X\x1b[2J\nFORGED LINE' || fail "shown escaped: $out"
"$SP_BIN/seinpost" deadletters -c "$conf" --json | jq -e 'select(.reason | contains("\nFORGED"))' \
    >/dev/null || fail "--json keeps the exact string"
# a database it cannot read (damaged, foreign): exit 3, what it was
# reading and the database's message, and no table
sp_db_keep && sp_db_copy || fail "a copy"
sp_db_sql copy "ALTER TABLE deliveries RENAME COLUMN last_error TO error" >/dev/null \
    || fail "breaking the copy"
out=$("$SP_BIN/seinpost" deadletters -c "$SP_DIR/copy.yaml" 2>"$SP_DIR/dead.err")
assert_eq $? 3 "deadletters on a copy it cannot read: $(cat "$SP_DIR/dead.err")"
assert_eq "$out" "" "deadletters on a copy it cannot read prints nothing"
grep -q "^seinpost deadletters: reading the dead-lettered deliveries: .*last_error" \
    "$SP_DIR/dead.err" || fail "deadletters names what failed: $(cat "$SP_DIR/dead.err")"
echo "deadletters escape OK"
