#!/usr/bin/env bash
# A hostile partner cannot flood the audit trail, the log or the database
# (issue 16, item 3). Partner toeslagen answers its first batch with 3000
# NACKs and 3000 messages the router refuses (forged signature, a batch
# never sent, an entry the batch did not carry, no signature frame, an
# unknown command, not SEINPOST2), as fast as the router reads them.
# Per subscriber the router writes one by one at most PER_INTERVAL of
# these per interval of INTERVAL_S seconds (daemon/deliver.h), and one
# partner.refusals event with the count of the rest when the interval is
# over; intervals are aligned, so a flood of D seconds touches at most
# D / INTERVAL_S + 2 of them. Hence the bounds below:
#   audit rows (receipt.rejected + partner.refusals):  windows * (PER_INTERVAL + 1)
#   log lines:  the same, plus the delivery retries to toeslagen (one per
#               failed attempt, which the backoff bounds) and 5 for the
#               router's own notices (checkpoints)
#   database:   under 256 KiB, the good partner's signals included (the old
#               router audited every refused receipt: +0.7 MB here, 8 MB
#               for 20 000)
# Nothing is hidden: the partner.refusals counts plus what was written one
# by one add up to every message sent, and `seinpost status` counts them.
# The NACK for the batch in flight still is a failed attempt (a retry), and
# the well-behaved partner belastingdienst gets all its signals meanwhile.
. "$(dirname "$0")/common.sh"
NACKS=3000 REFUSED=3000
INTERVAL_S=10 PER_INTERVAL=10           # DELIVER_NOISE_INTERVAL_MS / _PER_INTERVAL
NOISE=$((NACKS - 1 + REFUSED))          # the first NACK finds its batch in flight
GOOD=20
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner belastingdienst

# the tool, built here when the build under test predates it
FLOOD=$SP_BIN/tools/floodpartner
if [ ! -x "$FLOOD" ]; then
    FLOOD=$SP_DIR/floodpartner
    # shellcheck disable=SC2046
    cc -std=c11 -D_GNU_SOURCE -Iinclude -Iclient tests/tools/floodpartner.c "$SP_BIN/libseinpost.a" \
        $(pkg-config --cflags --libs libzmq libsodium jansson libcjson libcrypto) -lm -o "$FLOOD" \
        || fail "cannot build floodpartner"
fi

db_bytes() { sp_sql "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"; }
toeslagen_rows() { sp_sql "SELECT COUNT(*) FROM audit WHERE subscriber = 'toeslagen'
                           AND kind IN ('receipt.rejected', 'partner.refusals')"; }
log_lines() { wc -l < "$SP_DIR/daemon.log"; }
sleep 0.5
rows0=$(toeslagen_rows) lines0=$(log_lines) bytes0=$(db_bytes)
start=$(date +%s%N)

"$FLOOD" --endpoint "tcp://127.0.0.1:$SP_PORT_TOESLAGEN" --curve-secret "$SP_DIR/keys/toeslagen.curve" \
    --key "$SP_DIR/keys/toeslagen.key" --nacks $NACKS --receipts $REFUSED --hold 60000 \
    >"$SP_DIR/flood.out" 2>"$SP_DIR/flood.err" &
echo $! > "$SP_DIR/flood.pid"
sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653 | grep -q '^ACCEPTED' || fail "signal for toeslagen"
sp_wait 10 grep -q '^first ' "$SP_DIR/flood.out" || fail "no DELIVER reached the flooding partner"

# meanwhile, signals for the well-behaved partner
for i in $(seq 1 $GOOD); do
    printf '{"gemeentecode":"0855","vastgesteldOp":"2026-11-%02d"}\n' $((i % 28 + 1))
done | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$VNA_TYPE" --stream \
    --window 4 > "$SP_DIR/good.out" 2>&1 || fail "good signals: $(tail -3 "$SP_DIR/good.out")"
assert_eq "$(grep -c '^ACCEPTED' "$SP_DIR/good.out")" $GOOD "good signals accepted"
handled() { sp_lines "$SP_DIR/belastingdienst.out"; }
sp_wait_ge 15 $GOOD handled || fail "belastingdienst handled $(handled) of $GOOD during the flood"

sp_wait 30 grep -q '^sent ' "$SP_DIR/flood.out" || fail "flood not sent: $(cat "$SP_DIR/flood.err")"
sp_alive daemon || fail "daemon died"
# every refused message is accounted for once its interval is over: in a
# partner.refusals event's count, or written one by one
last_total() { sp_sql "SELECT COALESCE(MAX(CAST(json_extract(detail, '\$.total') AS INTEGER)), 0) FROM audit
                       WHERE kind = 'partner.refusals' AND subscriber = 'toeslagen'"; }
written() {   # what was written one by one: refusals audited, NACKs logged
    echo $(( $(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'receipt.rejected'
                       AND subscriber = 'toeslagen'")
             + $(grep -c 'NACK SEQUENCE_GAP from toeslagen for a batch not in flight' "$SP_DIR/daemon.log") ))
}
counted() { sp_sql "SELECT COALESCE(SUM(CAST(json_extract(detail, '\$.count') AS INTEGER)), 0) FROM audit
                    WHERE kind = 'partner.refusals' AND subscriber = 'toeslagen'"; }
accounted() { echo $(( $(counted) + $(written) )); }
sp_wait_ge $((INTERVAL_S + 5)) $NOISE accounted \
    || fail "refusals accounted for: $(counted) counted + $(written) written, expected $NOISE"
assert_eq "$(accounted)" $NOISE "refusals counted + written one by one"
assert_ge $NOISE "$(last_total)" "partner.refusals total"
elapsed_s=$(( ($(date +%s%N) - start) / 1000000000 + 1 ))
windows=$(( elapsed_s / INTERVAL_S + 2 ))

rows=$(( $(toeslagen_rows) - rows0 ))
bound=$(( windows * (PER_INTERVAL + 1) ))
[ "$rows" -le "$bound" ] || fail "$rows audit rows for $NOISE refusals in ${elapsed_s}s, bound $bound"
retries=$(grep -c 'delivery to toeslagen failed' "$SP_DIR/daemon.log")
lines=$(( $(log_lines) - lines0 ))
[ "$lines" -le $((bound + retries + 5)) ] \
    || fail "$lines log lines for $NOISE refusals in ${elapsed_s}s, bound $((bound + retries + 5))"
growth=$(( $(db_bytes) - bytes0 ))
[ "$growth" -le 262144 ] || fail "database grew by $growth bytes"

# each aggregate names its first refusal; the in-flight NACK was an attempt
sp_sql "SELECT json_extract(detail, '\$.first_code') || ': ' || json_extract(detail, '\$.first_reason')
        FROM audit WHERE kind = 'partner.refusals'" > "$SP_DIR/firsts"
[ -s "$SP_DIR/firsts" ] || fail "no partner.refusals event"
grep -qv '^[A-Z_]\+: .' "$SP_DIR/firsts" && fail "aggregate without its first refusal: $(cat "$SP_DIR/firsts")"
assert_ge "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry' AND subscriber = 'toeslagen'
                     AND json_extract(detail, '\$.error') LIKE '%refused the batch: SEQUENCE_GAP%'")" 1 \
    "the NACK for the batch in flight counted as a failed attempt"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM receipts WHERE subscriber = 'toeslagen'")" 0 \
    "refused receipts stored"
refusals() { "$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json \
             | jq '.subscribers[] | select(.subscriber == "toeslagen") | .partner_refusals'; }
assert_eq "$(refusals)" $NOISE "partner refusals in seinpost status"
sp_stop flood
"$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml" >/dev/null || fail "audit verify"
sp_alive daemon || fail "daemon died"
echo "partner flood OK: $NOISE refusals, $rows audit rows, $lines log lines, +$growth bytes in ${elapsed_s}s"
