#!/usr/bin/env bash
# Partner toeslagen is down while 5 signals come in: the daemon retries with
# growing delays (exponential, capped, the gap between attempts honoured),
# then the partner starts and gets every signal exactly once, in seq order,
# each covered by a stored signed receipt.
. "$(dirname "$0")/common.sh"
SP_RETRY_INITIAL=100ms SP_RETRY_MAX=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"

# whole events with known ids; 0855 routes to toeslagen only
event() {
    printf '{"specversion":"1.0","id":"%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' "$1" "$GDB_TYPE"
}
ids=""
for i in 1 2 3 4 5; do
    id="retry-$i"
    ids="$ids$id "
    event "$id" > "$SP_DIR/e$i.json"
    "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$SP_DIR/e$i.json" \
        | grep -q "^ACCEPTED signal OK: stored; routed to 1 subscription" || fail "emit $id"
done

retries() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry' AND subscriber = 'toeslagen'"; }
# 100+200+400+800+1000 ms (+-10%) of backoff: 7 retries take about 4.5 s
sp_wait_ge 15 7 retries || fail "7 retries of toeslagen (got $(retries))"
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 0 "nothing delivered while down"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 0")" 5 "5 pending"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'delivery.retry' AND subscriber <> 'toeslagen'")" 0 \
    "no retries for a subscriber with nothing queued"

# seq|ts|consecutive_failures|delay_ms of the first 7 retries
sp_sql "SELECT seq, ts, json_extract(detail, '$.consecutive_failures'),
               json_extract(detail, '$.delay_ms'), json_extract(detail, '$.error')
        FROM audit WHERE kind = 'delivery.retry' AND subscriber = 'toeslagen'
        ORDER BY seq LIMIT 7" > "$SP_DIR/retries.txt"
cat "$SP_DIR/retries.txt"
n=0 prev_delay=0 prev_ts=0
while IFS='|' read -r seq ts failures delay error; do
    n=$((n + 1))
    assert_eq "$failures" "$n" "consecutive_failures of retry $n"
    [ -n "$error" ] || fail "retry $n has no error"
    # initial 100 ms, multiplier 2, max 1 s, jitter 10%
    expect=$((100 * (1 << (n - 1))))
    [ $expect -gt 1000 ] && expect=1000
    [ "$delay" -ge $((expect * 9 / 10)) ] && [ "$delay" -le $((expect * 11 / 10)) ] \
        || fail "retry $n: delay_ms $delay not within 10% of $expect"
    if [ $n -le 5 ]; then
        [ "$delay" -gt "$prev_delay" ] || fail "retry $n: delay $delay did not grow from $prev_delay"
    fi
    # the daemon really waited: the next attempt fails no earlier than the delay
    if [ $n -gt 1 ]; then
        [ $((ts - prev_ts)) -ge $((prev_delay - 15)) ] \
            || fail "retry $n came $((ts - prev_ts)) ms after the previous, delay was $prev_delay"
    fi
    prev_delay=$delay prev_ts=$ts
done < "$SP_DIR/retries.txt"
assert_eq "$n" 7 "retry rows read"

# the partner comes up: everything arrives once, in order
sp_start_partner toeslagen
sp_wait_ge 10 5 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "5 deliveries done"
sp_wait_ge 5 5 sp_lines "$SP_DIR/toeslagen.out" || fail "5 lines at the partner"
sleep 1     # a late duplicate would show up now
assert_eq "$(sp_lines "$SP_DIR/toeslagen.out")" 5 "exactly 5 lines"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "1 2 3 4 5 " "seq order"
assert_eq "$(jq -r '.id' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "$ids" "ids in emit order"
assert_eq "$(jq -r '.subscription' "$SP_DIR/toeslagen.out" | sort -u)" "huurtoeslag-bewoning" "subscription"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries d JOIN receipts r ON r.id = d.receipt_id
                     WHERE d.state = 1 AND r.subscriber = 'toeslagen' AND length(r.signature) = 64")" 5 \
    "receipts stored"
# each receipt's audit row lists the deliveries it settled
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit a, json_each(a.detail, '$.entries')
                     WHERE a.kind = 'batch.receipt'")" 5 "deliveries settled by audited receipts"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE attempts < 1 OR last_error IS NOT NULL")" 0 \
    "attempts counted, errors cleared"
status=$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json)
assert_eq "$(jq '.subscribers[] | select(.subscriber == "toeslagen") | .consecutive_failures' <<<"$status")" 0 \
    "failures reset after the receipt"
assert_eq "$(jq '.delivered' <<<"$status")" 5 "status delivered"
sp_alive daemon || fail "daemon died"
echo "retry/backoff OK"
