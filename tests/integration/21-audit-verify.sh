#!/usr/bin/env bash
# `seinpost audit verify` checks the hash chain, the signed checkpoints
# and every stored signature. An untouched database verifies (also while
# the daemon runs); on copies, each kind of tampering makes it exit 4 and
# name the first broken item: an edited byte, a deleted event, a tail
# truncated after a checkpoint, two swapped events, a forged checkpoint,
# receipt, batch or sealed payload; a row the chain names deleted or
# edited (a signal never batched, a purged signal, a batch, a receipt,
# the deliveries); a delivery row no audit event accounts for (added, or
# made pending again); a tail cut off with its checkpoints, against a
# checkpoint the daemon logged (--expect-checkpoint).
# On PostgreSQL (SP_DATABASE) a copy is a database made from the stopped
# daemon's, tampered with by SQL as the cluster's superuser, as the one who
# runs the node can (tests/lib.sh sp_db_copy); every case asserts the same.
. "$(dirname "$0")/common.sh"
SP_CHECKPOINT=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
sleep 0.5
data() { printf '{"gemeentecode":"%s","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}' "$1"; }
sp_emit $GDB_TYPE "$(data 0855)" 999993653 >/dev/null || fail "emit 1"
sp_emit $GDB_TYPE "$(data 0796)" 999993653 >/dev/null || fail "emit 2"
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 >/dev/null || fail "emit 3"
sp_wait_ge 10 4 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "4 deliveries done"
# no subscription takes 0363: signal 4 is never put in a batch. Sent once
# the others are receipted, its event is the chain's last but the stop's
# (the tail cut below must hold no receipt a row still names)
sp_emit $GDB_TYPE "$(data 0363)" 999993653 | grep -q "routed to 0 subscriptions" || fail "emit 4"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM checkpoints" || fail "a checkpoint"

verify() { "$SP_BIN/seinpost" audit verify -c "$@"; }
out=$(verify "$SP_DIR/seinpost.yaml") || fail "verify while running: $out"
echo "$out" | grep -q "^OK: audit chain of [0-9]* events" || fail "OK line: $out"
sp_stop daemon
out=$(verify "$SP_DIR/seinpost.yaml") || fail "verify after stop: $out"
events=$(sp_sql "SELECT COUNT(*) FROM audit")
echo "$out" | grep -q "^OK: audit chain of $events events (seq 1..$events), [0-9]* checkpoints, 4 emitter signatures, 0 purged payloads checked by hash, [1-9][0-9]* batch signatures, [1-9][0-9]* receipt signatures$" \
    || fail "OK counts: $out"

# tampering, each on a fresh copy of the stopped daemon's database
sp_db_keep || fail "keeping the stopped daemon's database"
tamper() {     # tamper SQL EXPECTED-TEXT [VERIFY-OPTION...]
    sp_db_copy || fail "a copy to tamper with"
    sp_db_sql copy "$1" >/dev/null || fail "tampering: $1"
    out=$(verify "$SP_DIR/copy.yaml" "${@:3}")
    rc=$?
    echo "$out"
    assert_eq $rc 4 "exit code for: $2"
    echo "$out" | grep -qF "BROKEN: $2" || fail "expected 'BROKEN: $2', got: $out"
}
copy() { sp_db_sql pristine "$@"; }
# what SQLite and PostgreSQL spell differently: N zero bytes, one byte of
# a blob edited (0 made 1, any other 0: always a change), and finding or
# replacing text in a blob (PostgreSQL's instr is strpos, its replace()
# takes text, not bytea)
zeroblob() { sp_by_engine "zeroblob($1)" "decode(repeat('00', $1), 'hex')"; }
byte_edited() {     # byte_edited COLUMN N: COLUMN with its byte N (from 1) changed
    sp_by_engine "substr($1, 1, $(($2 - 1))) || CASE substr($1, $2, 1) WHEN x'00' THEN x'01' ELSE x'00' END || substr($1, $(($2 + 1)))" \
        "set_byte($1, $(($2 - 1)), CASE get_byte($1, $(($2 - 1))) WHEN 0 THEN 1 ELSE 0 END)"
}
blob_has() { sp_by_engine "instr($1, '$2') > 0" "strpos(convert_from($1, 'UTF8'), '$2') > 0"; }
blob_replace() {    # blob_replace COLUMN FROM TO
    sp_by_engine "replace($1, '$2', '$3')" \
        "convert_to(replace(convert_from($1, 'UTF8'), '$2', '$3'), 'UTF8')"
}
sp_db_copy || fail "a copy"
verify "$SP_DIR/copy.yaml" >/dev/null || fail "an untouched copy verifies"

n=$(copy "SELECT MIN(seq) FROM audit WHERE kind = 'batch.sent'")
tamper "UPDATE audit SET detail = substr(detail, 1, 20) || (CASE substr(detail, 21, 1) WHEN 'a' THEN 'b' ELSE 'a' END) || substr(detail, 22) WHERE seq = $n" \
    "audit event $n: hash mismatch (row edited?)"
tamper "DELETE FROM audit WHERE seq = $n" "audit event $n missing: seq jumps $((n - 1)) → $((n + 1))"
tamper "UPDATE audit SET seq = -1 WHERE seq = $n; UPDATE audit SET seq = $n WHERE seq = $((n + 1)); UPDATE audit SET seq = $((n + 1)) WHERE seq = -1" \
    "audit events $n and $((n + 1)) swapped"
last_cp=$(copy "SELECT id FROM checkpoints ORDER BY id DESC LIMIT 1")
covered=$(copy "SELECT audit_seq FROM checkpoints WHERE id = $last_cp")
first_cp=$(copy "SELECT id FROM checkpoints WHERE audit_seq > $((covered - 2)) ORDER BY id LIMIT 1")
tamper "DELETE FROM audit WHERE seq > $((covered - 2))" \
    "chain ends at $((covered - 2)) but checkpoint $first_cp covers $(copy "SELECT audit_seq FROM checkpoints WHERE id = $first_cp") (truncated)"
tamper "UPDATE checkpoints SET signature = $(zeroblob 64) WHERE id = $last_cp" \
    "checkpoint $last_cp: signature does not verify"
tamper "UPDATE checkpoints SET ts = ts + 1 WHERE id = 1" "checkpoint 1: signature does not verify"
# a receipt's body edited (here: a SEINPOST2 receipt passed off as a
# SEINPOST1 one, "v" 2 -> 1, so checked in the other domain), and one
# acknowledging another seq than the partner signed
tamper "UPDATE receipts SET body = $(blob_replace body '"v":2' '"v":1') WHERE id = 2" \
    "receipt 2: signature by"
rid=$(copy "SELECT MIN(id) FROM receipts WHERE $(blob_has body '"seq":1,')")
tamper "UPDATE receipts SET body = $(blob_replace body '"seq":1,' '"seq":2,') WHERE id = $rid" \
    "receipt $rid: signature by"
tamper "UPDATE batches SET header = $(blob_replace header seinpost-test seinpost-evil) WHERE id = 1" \
    "batch 1: router signature does not verify"
tamper "UPDATE signals SET event = $(byte_edited event 41) WHERE id = 2" \
    "signal 2 (id $(copy "SELECT ce_id FROM signals WHERE id = 2")): sealed payload does not open"
tamper "UPDATE signals SET event = NULL, event_sha256 = $(zeroblob 32) WHERE id = 3" \
    "signal 3 (id $(copy "SELECT ce_id FROM signals WHERE id = 3")): stored SHA-256 differs from the one audit event"
# rows the chain names: deleted, or edited where no signature covers them
first() { copy "SELECT MIN(seq) FROM audit WHERE $1"; }
tamper "DELETE FROM signals WHERE id = 4" \
    "signal 4: deleted, but audit event $(first "signal_id = 4") records it"
tamper "DELETE FROM batches WHERE id = 1" \
    "receipt $(copy "SELECT MIN(id) FROM receipts WHERE batch_id = 1"): answers batch 1, which is not stored (deleted?)"
tamper "DELETE FROM receipts WHERE batch_id = 1; DELETE FROM batches WHERE id = 1" \
    "batch 1: deleted, but audit event $(first "kind = 'batch.sent' AND CAST(json_extract(detail, '\$.batch_id') AS INTEGER) = 1") records it"
tamper "DELETE FROM receipts WHERE id = 1" \
    "receipt 1: deleted, but audit event $(first "kind = 'batch.receipt' AND CAST(json_extract(detail, '\$.receipt_id') AS INTEGER) = 1") records it"
# the first delivery the chain routed: the first route of a signal.accepted
n=$(first "kind = 'signal.accepted' AND json_extract(detail, '\$.routes[0]') IS NOT NULL")
tamper "DELETE FROM deliveries" \
    "delivery $(copy "SELECT json_extract(detail, '\$.routes[0].subscriber') || '/' || json_extract(detail, '\$.routes[0].subscription') || ' seq ' || json_extract(detail, '\$.routes[0].seq') FROM audit WHERE seq = $n"): deleted, but audit event $n records it"
# rows no event accounts for: a delivery added (to a partner the chain never
# routed it to), a delivered one made pending again (to be sent twice)
did=$(copy "SELECT MAX(id) + 1 FROM deliveries")
tamper "INSERT INTO deliveries(signal_id, subscriber, subscription, seq, created_at) VALUES(3, 'toeslagen', 'huurtoeslag-bewoning', 99, 0)" \
    "delivery $did (toeslagen/huurtoeslag-bewoning seq 99): no delivery.routed or delivery.redelivered audit event put it there (row added?)"
d1=$(copy "SELECT subscriber || '/' || subscription || ' seq ' || seq FROM deliveries WHERE id = 1")
tamper "UPDATE deliveries SET state = 0 WHERE id = 1" "delivery 1 ($d1): pending, but audit event"
# one event records the signal as received and accepted, and its routes
accepted=$(first "signal_id = 1 AND kind = 'signal.accepted'")
received=$accepted
tamper "UPDATE signals SET type = 'nl.gemeente.burgerzaken.adresonderzoek-gestart' WHERE id = 1" \
    "signal 1: type differs from audit event $accepted"
tamper "UPDATE signals SET emitter = 'burgerzaken-breda' WHERE id = 1" \
    "signal 1: emitter differs from audit event $received"
tamper "UPDATE signals SET received_at = received_at - 86400000 WHERE id = 1" \
    "signal 1: received_at differs from audit event $received"
tamper "UPDATE signals SET subject_pseudonym = NULL WHERE id = 1" \
    "signal 1: subject_pseudonym differs from audit event $accepted"
# a purged signal: no payload left to open, the chain still knows it
accepted=$(first "signal_id = 4 AND kind = 'signal.accepted'")
tamper "UPDATE signals SET event = NULL, source = source || ':evil' WHERE id = 4" \
    "signal 4: source differs from audit event $accepted"
tamper "UPDATE signals SET event = NULL, ce_id = 'another-id' WHERE id = 4" \
    "signal 4: id differs from audit event $accepted"
tamper "UPDATE signals SET event = NULL, type = 'nl.gemeente.burgerzaken.adresonderzoek-gestart' WHERE id = 4" \
    "signal 4: type differs from audit event $accepted"

# the daemon logs every checkpoint after its commit; the last is the stop's
grep -o 'audit checkpoint [0-9]*:[0-9a-f]\{64\}' "$SP_DIR/daemon.log" | cut -d' ' -f3 > "$SP_DIR/anchors"
anchor=$(tail -1 "$SP_DIR/anchors")
assert_eq "${anchor%%:*}" "$(copy "SELECT MAX(audit_seq) FROM checkpoints")" "last logged checkpoint"
assert_eq "${anchor#*:}" "$(copy "SELECT lower(hex(chain_hash)) FROM checkpoints ORDER BY id DESC LIMIT 1")" "its hash"
args=()
while read -r a; do args+=(--expect-checkpoint "$a"); done < "$SP_DIR/anchors"
sp_db_copy || fail "a copy"
out=$(verify "$SP_DIR/copy.yaml" "${args[@]}") || fail "every logged checkpoint is in the chain: $out"
echo "$out" | grep -q "^anchors: $(wc -l < "$SP_DIR/anchors") expected checkpoints in the chain$" || fail "anchors line: $out"
# the tail after the last signal, cut off with the checkpoints covering it:
# the database alone still verifies; the logged checkpoint does not
cut=$(copy "SELECT MAX(seq) FROM audit WHERE kind = 'signal.accepted'")
truncate="DELETE FROM audit WHERE seq > $cut; DELETE FROM checkpoints WHERE audit_seq > $cut"
sp_db_copy && sp_db_sql copy "$truncate" || fail "truncating a copy"
out=$(verify "$SP_DIR/copy.yaml")
echo "$out" | grep -q "^note: no --expect-checkpoint given" || fail "no anchor: not detected, and said so: $out"
tamper "$truncate" "chain ends at $cut but the expected checkpoint covers ${anchor%%:*} (truncated" \
    --expect-checkpoint "$anchor"
tamper "SELECT 1 WHERE 1 = 0" "audit event ${anchor%%:*}: chain hash differs from the expected checkpoint" \
    --expect-checkpoint "${anchor%%:*}:$(printf '%064d' 0)"

# a payload removed without its signal.purged event, or put back after
# one, is an edit (a purge by the daemon verifies: 12-retention)
tamper "UPDATE signals SET event = NULL WHERE id = 1" \
    "signal 1: payload gone, but no signal.purged audit event records it"
tamper "UPDATE signals SET purged_at = 1 WHERE id = 1" \
    "signal 1: purged_at set or payload present, against what the signal.purged audit events record"
sp_db_copy || fail "a copy"
# another node's secret: the sealed payloads do not open
head -c 32 /dev/urandom > "$(sp_db_copy_secret)"
verify "$SP_DIR/copy.yaml" | grep -q "BROKEN: signal [0-9]* (id .*): sealed payload does not open" || fail "other secret"
rm -f "$(sp_db_copy_secret)"
verify "$SP_DIR/copy.yaml" >/dev/null 2>&1
assert_eq $? 3 "no node secret is an error, not a verdict"
echo "audit verify OK"
