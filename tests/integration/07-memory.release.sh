#!/usr/bin/env bash
# 100 000 undelivered signals queued for a stopped partner: the backlog
# lives in the database (SQLite, or PostgreSQL with SP_DATABASE), not in
# the daemon's memory. Resident set (VmRSS) and its
# peak (VmHWM) stay under 64 MiB. Runs on the release build (tests/run),
# since ASan's shadow memory would hide what the daemon itself uses.
. "$(dirname "$0")/common.sh"
N=${SP_MEMORY_SIGNALS:-100000}
LIMIT_KB=$((64 * 1024))
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
pid=$(cat "$SP_DIR/daemon.pid")
vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
rss_start=$(vm VmRSS)

# data only: seinpost emit builds each envelope (fresh id, time); 0855 routes
# to toeslagen, which never starts
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
    printf "{\"gemeentecode\":\"0855\",\"nummeraanduidingIdentificatie\":\"0855200000%06d\",\"bewonerBsn\":\"999993653\",\"vastgesteldOp\":\"2026-11-20\"}\n", i }' \
    > "$SP_DIR/data.jsonl"
start=$(date +%s)
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$GDB_TYPE" --stream --window 500 \
    < "$SP_DIR/data.jsonl" > "$SP_DIR/emit.out" 2> "$SP_DIR/emit.err" \
    || fail "emit stream: $(tail -3 "$SP_DIR/emit.err")"
secs=$(( $(date +%s) - start ))
tail -1 "$SP_DIR/emit.err"
assert_eq "$(grep -c '^ACCEPTED line-[0-9]* OK:' "$SP_DIR/emit.out")" "$N" "all accepted"
sp_alive daemon || fail "daemon died under load"

# let the delivery loop run over the backlog a few times
sleep 3
rss=$(vm VmRSS) hwm=$(vm VmHWM)
pending=$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 0")
status=$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json)
if [ -n "${SP_DATABASE:-}" ]; then
    db_kb=$(( $(sp_sql "SELECT pg_database_size(current_database())") / 1024 ))
else
    db_kb=$(( $(stat -c %s "$SP_DIR/seinpost.db") / 1024 ))
fi
echo "signals: $N in ${secs}s ($((N / (secs > 0 ? secs : 1)))/s); database ${db_kb} KiB"
echo "daemon VmRSS: start ${rss_start} KiB, now ${rss} KiB; VmHWM (peak) ${hwm} KiB; limit ${LIMIT_KB} KiB"
echo "pending: $pending"
assert_eq "$pending" "$N" "pending in the database"
assert_eq "$(jq '.subscribers[] | select(.subscriber == "toeslagen") | .pending' <<<"$status")" "$N" \
    "pending in status"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" "$N" "signals stored"
[ "$rss" -lt $LIMIT_KB ] || fail "VmRSS ${rss} KiB >= 64 MiB"
[ "$hwm" -lt $LIMIT_KB ] || fail "VmHWM ${hwm} KiB >= 64 MiB"
echo "memory OK"
