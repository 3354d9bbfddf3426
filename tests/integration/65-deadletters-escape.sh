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
echo "deadletters escape OK"
