#!/usr/bin/env bash
# Disk full: the database lives on a small tmpfs. When it fills, signals are
# REJECTED STORAGE_UNAVAILABLE (never ACCEPTED and lost), the daemon backs
# off instead of spinning, and when space returns it recovers by itself;
# every signal it ACCEPTED is delivered, and counted once in the metrics.
# sqlite-only: the database file is put on a small tmpfs; on PostgreSQL the disk is the server's
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
mkdir -p "$SP_DIR/db"
mount -t tmpfs -o size=1m tmpfs "$SP_DIR/db" || fail "cannot mount a tmpfs (root needed)"
trap 'rc=$?; sp_stop_all; umount "$SP_DIR/db" 2>/dev/null; [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT
sed -i 's|^database: seinpost.db$|database: db/seinpost.db|' "$SP_DIR/seinpost.yaml"
sp_sql() { sqlite3 -cmd ".timeout 5000" "$SP_DIR/db/seinpost.db" "$@"; }
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
pad=$(head -c 900 /dev/zero | tr '\0' x)
for i in $(seq 1 3000); do
    printf '{"gemeentecode":"0855","nummeraanduidingIdentificatie":"%016d","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20","pad":"%s"}\n' "$i" "$pad"
done > "$SP_DIR/lines.json"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type $GDB_TYPE --stream --window 20 \
    < "$SP_DIR/lines.json" > "$SP_DIR/emit1.out" 2> "$SP_DIR/emit1.err"
accepted1=$(grep -c '^ACCEPTED' "$SP_DIR/emit1.out")
full=$(grep -c 'STORAGE_UNAVAILABLE' "$SP_DIR/emit1.err")
assert_ge "$full" 1 "the disk filled: STORAGE_UNAVAILABLE"
assert_ge "$accepted1" 1 "some accepted before it filled"
grep -v -e STORAGE_UNAVAILABLE -e '^seinpost emit:' "$SP_DIR/emit1.err" | grep -q . && fail "other errors: $(head -3 "$SP_DIR/emit1.err")"
sp_alive daemon || fail "daemon alive on a full disk"

# no busy loop while the disk stays full
pid=$(cat "$SP_DIR/daemon.pid")
t0=$(awk '{print $14 + $15}' /proc/$pid/stat); sleep 2; t1=$(awk '{print $14 + $15}' /proc/$pid/stat)
[ $((t1 - t0)) -lt 60 ] || fail "daemon spins on a full disk: $((t1 - t0)) ticks in 2 s"

# space returns: the daemon recovers by itself
mount -o remount,size=64m "$SP_DIR/db" || fail "remount"
sp_wait 15 sh -c "printf '%s' '$GDB_DATA' | '$SP_BIN/seinpost' emit -c '$SP_DIR/burgerzaken.yaml' --type $GDB_TYPE --data - | grep -q ACCEPTED" \
    || fail "accepting again after space returned"
sp_wait 5 grep -q "storage recovered" "$SP_DIR/daemon.log" || fail "recovery logged"
total=$((accepted1 + 1))
sp_wait_ge 60 $total sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "every accepted signal delivered ($(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1") of $total)"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" "$total" "stored exactly what was accepted"
# the counters count committed work only, not turns that were rolled back
metrics=$("$SP_BIN/seinpost" metrics -c "$SP_DIR/seinpost.yaml") || fail "metrics"
assert_eq "$(sed -n 's/^seinpost_signals_accepted_total //p' <<<"$metrics")" "$total" "accepted counter"
assert_eq "$(sed -n 's/^seinpost_deliveries_total{subscriber="toeslagen",outcome="delivered"} //p' <<<"$metrics")" \
    "$total" "delivered counter"
echo "disk full: $accepted1 accepted, $full refused STORAGE_UNAVAILABLE, recovered, all delivered"
