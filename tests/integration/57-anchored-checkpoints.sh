#!/usr/bin/env bash
# The audit trail holds against whoever runs the node. Every batch header
# carries the chain head on disk (anchor) and the partner's receipt
# countersigns the header, so evidence of the chain lives outside the
# node: in the partner's receipts stored at the router, and in the
# anchors the partner keeps. A full rewrite (checkpoints deleted, a past
# legal basis changed, the chain re-hashed, even the batch headers
# re-signed with the node's own key) is caught by `audit verify` and by
# the partner's `seinpost anchors --check`. A stretch of the chain left
# without a checkpoint when one was due is a failure unless --lenient.
. "$(dirname "$0")/common.sh"
python3 -c "import cryptography" 2>/dev/null || fail "python3-cryptography is needed"
SP_CHECKPOINT=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
seinpost() { "$SP_BIN/seinpost" "$@"; }
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen --exec "cat >> $SP_DIR/got"
data() { printf '%s' "${GDB_DATA/2026-11-20/$1}"; }
for day in 01 02 03; do
    sp_emit $GDB_TYPE "$(data 2026-11-$day)" 999993653 >/dev/null || fail "emit $day"
done
sp_wait_ge 20 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "first three"
sleep 1.5       # a checkpoint, then later batches anchor a later head
for day in 04 05 06; do
    sp_emit $GDB_TYPE "$(data 2026-11-$day)" 999993653 >/dev/null || fail "emit $day"
done
sp_wait_ge 20 6 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "all six"
sp_stop daemon
sp_stop toeslagen

# ---- the untouched database: every countersigned head is in the chain
out=$(seinpost audit verify -c "$conf") || fail "verify: $out"
echo "$out" | grep -q "^anchors: [1-9][0-9]* receipts countersign a chain head the chain holds" \
    || fail "verify names the countersigned anchors: $out"
anchors=$(seinpost audit anchors -c "$conf") || fail "audit anchors: $anchors"
echo "$anchors" | grep -q "in chain" || fail "audit anchors lists them: $anchors"
echo "$anchors" | grep -q "NOT IN CHAIN" && fail "audit anchors: $anchors"
held=$(seinpost anchors -c "$SP_DIR/toeslagen.yaml") || fail "partner anchors: $held"
echo "$held" | grep -q "^seinpost-test *[0-9]" || fail "the partner holds an anchor: $held"
seinpost audit export --format chain -c "$conf" > "$SP_DIR/chain.jsonl" || fail "export chain"
seinpost anchors -c "$SP_DIR/toeslagen.yaml" --check "$SP_DIR/chain.jsonl" | grep -q "^OK: all" \
    || fail "the partner finds its anchors in the exported chain"

# ---- the insider's rewrite, on a copy (on PostgreSQL: a database made
# from the stopped daemon's, rewritten by SQL as the cluster's superuser)
sp_db_keep || fail "keeping the stopped daemon's database"
# rewrite.py ENGINE MODE KEYFILE AUDIT.csv BATCHES.csv prints the SQL that
# rewrites the copy whose audit rows and batch headers the CSV files hold.
# MODE chain (delete checkpoints, change the first routing's legal basis,
# re-hash), headers (also re-anchor and re-sign every batch header with
# the node key), late (no checkpoints, the last rows written 5 minutes
# later: a checkpoint was due and none came)
cat > "$SP_DIR/rewrite.py" <<'PY'
import csv, hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
engine, mode, keyfile, audit_csv, batches_csv = sys.argv[1:6]
def blob(b):    # SQLite and PostgreSQL write a blob literal differently
    return ("X'%s'" if engine == "sqlite" else "'\\x%s'::bytea") % b.hex()
def text(s):
    return "'" + s.replace("'", "''") + "'"
sql = ["BEGIN;", "DELETE FROM checkpoints;"]
with open(audit_csv, encoding="utf-8", newline="") as f:
    rows = [(int(r[0]), int(r[1])) + tuple(r[2:]) for r in csv.reader(f)]
# the first routing: the first route of a signal.accepted (protocol.md 13.1)
first_routed = next(r[0] for r in rows
                    if r[2] == "signal.accepted" and json.loads(r[6]).get("routes"))
last = rows[-1][0]
prev, heads = b"\0" * 32, {}
for seq, ts, kind, trace, signal, sub, detail in rows:
    if mode != "late" and seq == first_routed:
        d = json.loads(detail)
        d["routes"][0]["grondslag"] = "Wet die het ontvangen van deze gegevens niet toestaat"
        detail = json.dumps(d, separators=(",", ":"), ensure_ascii=True)
    if mode == "late" and seq > last - 2:
        ts += 300000
    # a NULL reads from CSV as "", as the chain hashes it
    h = hashlib.sha256(prev + "\n".join([str(seq), str(ts), kind, trace, signal, sub,
                                         detail]).encode()).digest()
    sql.append("UPDATE audit SET ts = %d, detail = %s, prev_hash = %s, hash = %s WHERE seq = %d;"
               % (ts, text(detail), blob(prev), blob(h), seq))
    heads[seq], prev = h, h
if mode == "headers":
    key = load_pem_private_key(open(keyfile, "rb").read(), None)
    with open(batches_csv, newline="") as f:
        for bid, header in csv.reader(f):
            h = json.loads(bytes.fromhex(header))
            h["anchor"]["sha256"] = heads[h["anchor"]["seq"]].hex()
            new = json.dumps(h, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
            sig = key.sign(b"seinpost/2 batch\0" + hashlib.sha256(new).digest())
            sql.append("UPDATE batches SET header = %s, signature = %s WHERE id = %s;"
                       % (blob(new), blob(sig), bid))
print("\n".join(sql + ["COMMIT;"]))
PY
rewrite() {
    local sql
    sp_db_copy || fail "a copy to rewrite ($1)"
    sp_db_sql --csv copy "SELECT seq, ts, kind, trace_id, signal_id, subscriber, detail
                          FROM audit ORDER BY seq" > "$SP_DIR/audit.csv" \
        && sp_db_sql --csv copy "SELECT id, hex(header) FROM batches" > "$SP_DIR/batches.csv" \
        || fail "reading the copy ($1)"
    sql=$(python3 "$SP_DIR/rewrite.py" "$(sp_by_engine sqlite postgresql)" "$1" \
              "$SP_DIR/keys/node.key" "$SP_DIR/audit.csv" "$SP_DIR/batches.csv") \
        && sp_db_sql copy "$sql" >/dev/null || fail "rewriting ($1)"
}
broken() {      # broken EXPECTED-TEXT [VERIFY-OPTION...]
    out=$(seinpost audit verify -c "$SP_DIR/copy.yaml" "${@:2}")
    rc=$?
    assert_eq $rc 4 "verify exit code, expecting $1: $out"
    echo "$out" | grep -q "BROKEN: $1" || fail "expected BROKEN: $1, got: $out"
}

# the chain re-hashed: the node-signed headers anchor the old heads
rewrite chain
broken "batch [0-9]*: its signed header anchors audit event [0-9]* with a hash the chain does not have there"
# headers re-signed with the node's own key: only the partner's receipts hold
rewrite headers
broken "receipt [0-9]*: the partner countersigned a header of batch [0-9]* that differs from the stored one"
seinpost audit anchors -c "$SP_DIR/copy.yaml" >/dev/null 2>&1
# its anchors all match the rewritten chain now; only the receipts do not
assert_eq $? 0 "audit anchors reads the re-anchored headers"
# and the partner, holding its own anchors, finds the rewrite in an export
seinpost audit export --format chain -c "$SP_DIR/copy.yaml" > "$SP_DIR/copy.jsonl"
out=$(seinpost anchors -c "$SP_DIR/toeslagen.yaml" --check "$SP_DIR/copy.jsonl")
assert_eq $? 4 "the partner's check of the rewritten chain: $out"
echo "$out" | grep -q "^BROKEN: the anchor received .* is not in the exported chain" \
    || fail "the partner names the anchor: $out"
# an export whose hashes do not cover its rows is refused as such
sed -i '3s/"kind":"[a-z.]*"/"kind":"daemon.start"/' "$SP_DIR/chain.jsonl"
out=$(seinpost anchors -c "$SP_DIR/toeslagen.yaml" --check "$SP_DIR/chain.jsonl")
assert_eq $? 4 "an inconsistent export"
echo "$out" | grep -q "^BROKEN: export row 2: its hash does not cover its content" \
    || fail "inconsistent export named: $out"

# checkpoints deleted from a chain the daemon went on writing: broken,
# and with --lenient a note
rewrite late
broken "audit events from [0-9]* on are covered by no checkpoint"
out=$(seinpost audit verify -c "$SP_DIR/copy.yaml" --lenient) || fail "lenient: $out"
echo "$out" | grep -q "^note: --lenient: 1 stretch of the chain went without a checkpoint" \
    || fail "lenient names the stretch: $out"
# a chain that cannot be read at an anchor is a failure (3) that names
# what it was reading, not an anchor missing from it (4, NOT IN CHAIN)
sp_db_copy && sp_db_sql copy "ALTER TABLE audit RENAME COLUMN hash TO row_hash" >/dev/null \
    || fail "breaking a copy"
out=$(seinpost audit anchors -c "$SP_DIR/copy.yaml" 2>&1)
assert_eq $? 3 "audit anchors on a chain it cannot read: $out"
echo "$out" | grep -q "NOT IN CHAIN" && fail "an unreadable chain shown as rewritten: $out"
echo "$out" | grep -q "^seinpost audit anchors: reading the audit chain at an anchor: .*hash" \
    || fail "audit anchors names what failed: $out"
echo "$held"; echo "$anchors" | head -3; echo "anchored checkpoints OK"
