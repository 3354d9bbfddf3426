#!/usr/bin/env bash
# A small window (4) and 200 signals streamed with the partner up: all are
# delivered once, in contiguous seq order 1..200 and in emit order, and no
# batch ever carried more than the window.
. "$(dirname "$0")/common.sh"
N=200
SP_WINDOW=4
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst

event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
for i in $(seq 1 $N); do event "w-$i"; done > "$SP_DIR/events.jsonl"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window 32 \
    < "$SP_DIR/events.jsonl" > "$SP_DIR/emit.out" 2> "$SP_DIR/emit.err" || fail "emit: $(tail -3 "$SP_DIR/emit.err")"
assert_eq "$(grep -c '^ACCEPTED line-[0-9]* OK:' "$SP_DIR/emit.out")" $N "all accepted"

sp_wait_ge 30 $N sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "all delivered ($(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1") of $N)"
sp_wait_ge 5 $N sp_lines "$SP_DIR/toeslagen.out" || fail "$N lines at the partner"
sleep 0.5
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" $N "exactly $N lines"
assert_eq "$(jq -r .seq "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$(seq -s ' ' 1 $N) " "seq 1..$N in order"
assert_eq "$(jq -r .id "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$(seq 1 $N | sed 's/^/w-/' | tr '\n' ' ')" \
    "ids in emit order"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries d JOIN signals s ON s.id = d.signal_id
                     WHERE s.ce_id <> 'w-' || d.seq")" 0 "seq i carries the i-th signal"
assert_eq "$(sp_lines "$SP_DIR/belastingdienst.out")" 0 "0855 bewoning is not for belastingdienst"
# the window bounds what is in flight, so every batch holds at most 4
batches=$(sp_sql "SELECT COUNT(*), MAX(json_array_length($(sp_blob_text header), '$.entries')),
                         SUM(json_array_length($(sp_blob_text header), '$.entries'))
                  FROM batches WHERE subscriber = 'toeslagen'")
echo "batches: count|largest|entries = $batches"
IFS='|' read -r n_batches largest entries <<<"$batches"
[ "$largest" -le $SP_WINDOW ] || fail "a batch of $largest entries with window $SP_WINDOW"
[ "$n_batches" -ge $((N / SP_WINDOW)) ] || fail "$n_batches batches for $N signals with window $SP_WINDOW"
# each sent once: one entry of a batch.sent event per delivery; a try that found
# the partner not yet connected (each audited as a delivery.retry) counts
# in attempts too (protocol.md 8.4) but sent nothing
assert_eq "$(sp_sql "SELECT COUNT(*), SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) FROM (SELECT COUNT(*) AS n
                     FROM audit a, json_each(a.detail, '\$.entries') e
                     WHERE a.kind = 'batch.sent' AND a.subscriber = 'toeslagen'
                     GROUP BY json_extract(e.value, '\$[2]')) AS per_delivery")" "$N|$N" "each sent once"
not_connected=$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'
                        AND subscriber = 'toeslagen'
                        AND json_extract(detail, '\$.error') = 'partner not connected'")
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen'
                     AND (attempts < 1 OR attempts > 1 + $not_connected)")" 0 \
    "each delivered in one attempt (after at most $not_connected tries without a partner)"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry'
                     AND json_extract(detail, '\$.error') <> 'partner not connected'")" 0 \
    "no other failed attempt"
assert_eq "$entries" $N "no entry sent twice"
echo "order under window OK"
