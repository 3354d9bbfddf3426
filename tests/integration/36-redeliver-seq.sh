#!/usr/bin/env bash
# A redelivered delivery is acknowledged only by a receipt that covered it.
# The redelivery goes to the back of its stream: a new seq, the next one,
# and the next place in the queue. Seq 1 is dead-lettered; seq 2 is in
# flight (the partner holds its batch) and seq 3 waits behind it (window
# 1); then seq 1 is redelivered. Under its old seq the receipt for seq 2's
# batch could not tell the two apart (and a SEINPOST1 receipt, cumulative,
# marked it done); under a new seq but its old place in the queue it would
# be sent before seq 3 and a cumulative receipt would mark seq 3 done
# unsent. SEINPOST2 receipts list exactly the entries of the batch they
# name: every delivery marked done is listed in its receipt, and every
# entry a receipt lists is one its batch carried.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=1s SP_WINDOW=1 SP_RECEIPT_TIMEOUT=30s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
conf=$SP_DIR/seinpost.yaml
data() { printf '%s' "${GDB_DATA/2026-11-20/$1}"; }
batches() { sp_sql "SELECT COUNT(*) FROM batches"; }

sp_emit $GDB_TYPE "$(data 2026-11-01)" 999993653 | grep -q "routed to 1 subscription" || fail "emit 1"
sp_wait_ge 10 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2" || fail "seq 1 dead-lettered"
# later signals must not die of age while the partner holds a batch
sed -i 's/max_age: 1s/max_age: 72h/' "$conf"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reloaded"

# the partner writes each event it handles; it holds seq 2 until told
cat > "$SP_DIR/handler.sh" <<SH
#!/bin/sh
event=\$(cat)
case \$event in *2026-11-02*)
    touch "$SP_DIR/busy"
    i=0
    while [ ! -f "$SP_DIR/go" ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i + 1)); done;;
esac
printf '%s\n' "\$event" >> "$SP_DIR/got"
SH
chmod +x "$SP_DIR/handler.sh"
sp_start_partner toeslagen --exec "$SP_DIR/handler.sh"
sp_emit $GDB_TYPE "$(data 2026-11-02)" 999993653 | grep -q "routed to 1 subscription" || fail "emit 2"
sp_wait 10 test -f "$SP_DIR/busy" || fail "seq 2 in flight"
sp_emit $GDB_TYPE "$(data 2026-11-03)" 999993653 | grep -q "routed to 1 subscription" || fail "emit 3"
before=$(batches)
dead_id=$(sp_sql "SELECT id FROM deliveries WHERE state = 2")
"$SP_BIN/seinpost" redeliver -c "$conf" "$dead_id" | grep -q "^redelivered 1 delivery" || fail "redeliver"
# a router that rewinds its window sends at once; give it the chance
sp_wait 2 test "$(batches)" -gt "$before"
touch "$SP_DIR/go"
sp_wait_ge 20 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1"
sp_wait_ge 10 3 sp_lines "$SP_DIR/got"

# every delivery was marked done by a receipt that lists it, answering a
# batch (by its signed batch_sha256) that carried it; no receipt lists
# an entry its batch did not carry (blobs read as hex(), the same from
# either engine)
sp_sql "SELECT hex(header) FROM batches" > "$SP_DIR/batches.hex" || fail "reading batches"
sp_sql "SELECT id, hex(body) FROM receipts" > "$SP_DIR/receipts.hex" || fail "reading receipts"
sp_sql "SELECT d.id, d.subscription, d.seq, hex(r.body) FROM deliveries d
        JOIN receipts r ON r.id = d.receipt_id WHERE d.state = 1" > "$SP_DIR/done.hex" \
    || fail "reading deliveries"
count=$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")
python3 - "$SP_DIR" "$count" <<'PY' || fail "a receipt acknowledged a delivery it did not cover"
import hashlib, json, sys
def rows(name):
    with open(f"{sys.argv[1]}/{name}.hex") as f:
        return [line.rstrip("\n").split("|") for line in f if line.strip()]
listed = {}
for (hexed,) in rows("batches"):
    header = bytes.fromhex(hexed)
    entries = json.loads(header)["entries"]
    listed[hashlib.sha256(header).hexdigest()] = {(e["subscription"], e["seq"]) for e in entries}
bad = 0
for rid, hexed in rows("receipts"):
    receipt = json.loads(bytes.fromhex(hexed))
    handled = {(h["subscription"], h["seq"]) for h in receipt["handled"]}
    carried = listed.get(receipt["batch_sha256"])
    if receipt["v"] != 2 or carried is None or not handled or not handled <= carried:
        print(f"receipt {rid} (v {receipt['v']}) lists {sorted(handled)} for a batch "
              f"carrying {sorted(carried or [])}")
        bad += 1
for did, sub, seq, hexed in rows("done"):
    receipt = json.loads(bytes.fromhex(hexed))
    handled = {(h["subscription"], h["seq"]) for h in receipt["handled"]}
    key = (sub, int(seq))
    if key not in handled or key not in listed.get(receipt["batch_sha256"], set()):
        print(f"delivery {did} ({sub} seq {seq}) marked done by a receipt listing"
              f" {sorted(handled)} for a batch carrying"
              f" {sorted(listed.get(receipt['batch_sha256'], []))}")
        bad += 1
count = int(sys.argv[2])
if count != 3:
    print(f"{count} deliveries delivered, expected 3")
sys.exit(1 if bad or count != 3 else 0)
PY
assert_eq "$(grep -o '2026-11-0[0-9]' "$SP_DIR/got" | tr '\n' ' ')" "2026-11-02 2026-11-03 2026-11-01 " \
    "the partner handled every signal, the redelivered one last"
assert_eq "$(sp_sql "SELECT seq, state FROM deliveries WHERE signal_id = 1")" "4|1" \
    "redelivered as the next seq of its stream, and delivered"
assert_ge "$(sp_sql "SELECT id FROM deliveries WHERE signal_id = 1")" 4 "queued again at the end"
assert_eq "$(sp_sql "SELECT json_extract(detail, '$.previous_seq') || ' ' || json_extract(detail, '$.seq')
                     || ' ' || json_extract(detail, '$.previous_delivery_id') || ' '
                     || CASE WHEN CAST(json_extract(detail, '$.delivery_id') AS BIGINT) > 3
                             THEN 1 ELSE 0 END
                     FROM audit WHERE kind = 'delivery.redelivered'")" "1 4 $dead_id 1" \
    "the audit names the old and the new seq and delivery id"
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "the trail verifies: $out"
echo "redeliver seq OK"
