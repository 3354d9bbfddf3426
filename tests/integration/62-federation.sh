#!/usr/bin/env bash
# Federation: two municipality nodes deliver to the agency node as to a
# partner (subscriber kind node); the agency node takes each signal as
# its emitter's own (the emitter's signed bytes unchanged), stores it
# before it signs its receipt, and routes it on to its two partners under
# its own legal bases. Counted at the partners' handlers. A signal an
# upstream may not relay (another emitter's) is refused and audited, and
# reaches no partner. `audit show` on the agency names the hop, and one
# signal's whole path (emitter -> tilburg -> agency -> partner) verifies
# offline from the three parties' records.
# sqlite-only: its nodes keep their queues in SQLite files of their own (federation-lib.sh); a node link is refused with a PostgreSQL database
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/federation-lib.sh"
python3 -c "import cryptography" 2>/dev/null || fail "python3-cryptography is needed"
FED_BREDA_EXTRA=tilburg FED_BREDA_EXTRA_OIN=00000001001234567000
fed_setup
# an emitter config that sends Tilburg-signed signals through breda
cat > "$SP_DIR/em-tilburg-via-breda.yaml" <<YAML
endpoint: tcp://127.0.0.1:$(fed_port breda)
signing_key: keys/em-tilburg.key
source: urn:nld:oin:00000001001234567000:systeem:burgerzaken
curve_secret_key: keys/em-tilburg.curve
server_curve_public_key: "$(sp_curvepub breda)"
YAML
for node in agency tilburg breda; do fed_start $node || fail "start $node"; done
fed_partner toeslagen
fed_partner uwv

for i in 1 2 3 4 5; do
    fed_emit tilburg "tilburg-$i" | grep -q ACCEPTED || fail "emit tilburg-$i"
    fed_emit breda "breda-$i" 0758 | grep -q ACCEPTED || fail "emit breda-$i"
done
for p in toeslagen uwv; do
    sp_wait_ge 20 10 fed_got_count $p || fail "$p got $(fed_got_count $p) of 10"
done
assert_eq "$(fed_got toeslagen | tr '\n' ' ')" \
    "breda-1 breda-2 breda-3 breda-4 breda-5 tilburg-1 tilburg-2 tilburg-3 tilburg-4 tilburg-5 " \
    "exactly the ten signals at toeslagen"
assert_eq "$(grep -c . "$SP_DIR/uwv.got")" 10 "each once at uwv"

# the agency stored each signal once, with the emitter's signature, and
# the hop: the upstream's signed batch
assert_eq "$(fed_sql agency "SELECT COUNT(*) FROM signals")" 10 "signals at the agency"
assert_eq "$(fed_sql agency "SELECT COUNT(DISTINCT signal_id) FROM relays")" 10 "hops recorded"
show=$("$SP_BIN/seinpost" audit show tilburg-3 -c "$SP_DIR/agency/seinpost.yaml") \
    || fail "audit show on the agency"
echo "$show" | grep -q "^  via       tilburg (router key $(fed_sql tilburg "SELECT DISTINCT key_id FROM batches LIMIT 1")" \
    || fail "audit show names the upstream hop: $show"
echo "$show" | grep -q "signal.relayed" || fail "the relay is in the timeline: $show"
# the hop names the upstream's trace id, so processing logs join across nodes
upstream_trace=$(fed_sql tilburg "SELECT json_extract(e.value, '$.trace_id') FROM batches,
    json_each(header, '$.entries') e WHERE json_extract(e.value, '$.id') = 'tilburg-3' LIMIT 1")
[ ${#upstream_trace} -eq 32 ] || fail "tilburg's batch names a trace id: '$upstream_trace'"
assert_eq "$(fed_sql agency "SELECT json_extract(a.detail, '$.upstream_trace_id') FROM audit a
    JOIN signals s ON s.id = a.signal_id WHERE a.kind = 'signal.relayed' AND s.ce_id = 'tilburg-3'")" \
    "$upstream_trace" "the relay records tilburg's trace id"

# a signal breda may not relay: refused at the agency, audited, nowhere
fed_emit tilburg "smuggled-1" 0855 em-tilburg-via-breda | grep -q ACCEPTED \
    || fail "breda itself takes the Tilburg-signed signal"
sp_wait_ge 10 1 fed_sql agency "SELECT COUNT(*) FROM audit WHERE kind = 'signal.relay_refused'" \
    || fail "the agency audits the refused relay"
fed_sql agency "SELECT detail FROM audit WHERE kind = 'signal.relay_refused' LIMIT 1" \
    | grep -q '"upstream":"breda","code":"TYPE_NOT_ALLOWED"' || fail "refusal names breda and the code"
sleep 1
fed_got toeslagen | grep -q smuggled && fail "a refused relay reached a partner"
assert_eq "$(fed_sql agency "SELECT COUNT(*) FROM signals WHERE ce_id = 'smuggled-1'")" 0 \
    "the refused relay is not stored"

for node in agency tilburg breda; do fed_stop $node; done
sp_stop toeslagen
sp_stop uwv
for node in agency tilburg breda; do
    out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/$node/seinpost.yaml") \
        || fail "audit verify on $node: $out"
done
echo "$out" | grep -q "^relays: " && fail "breda relays nothing, yet: $out"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/agency/seinpost.yaml")
echo "$out" | grep -q "^relays: 10 hops from upstream nodes verified" \
    || fail "verify checks the ten hops at the agency: $out"
# a hop deleted at the agency: the chain still records it
cp "$SP_DIR/agency/seinpost.db" "$SP_DIR/agency/copy.db"
cp "$SP_DIR/agency/seinpost.db.secret" "$SP_DIR/agency/copy.db.secret"
sed 's|^database: .*|database: copy.db|' "$SP_DIR/agency/seinpost.yaml" > "$SP_DIR/agency/copy.yaml"
sqlite3 "$SP_DIR/agency/copy.db" "DELETE FROM relays WHERE signal_id = 3"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/agency/copy.yaml")
assert_eq $? 4 "verify of a deleted hop: $out"
echo "$out" | grep -q "BROKEN: signal 3: the hop audit event [0-9]* records is not stored" \
    || fail "the deleted hop is named: $out"

# the whole path of tilburg-3, offline: emitter, tilburg, agency, toeslagen
python3 - "$SP_DIR" tilburg-3 <<'PY' || fail "offline path verification"
import base64, hashlib, json, sqlite3, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
d, ce_id = sys.argv[1], sys.argv[2]
def pub(name):
    text = open(f"{d}/keys/{name}.pubtext").read().strip()
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.split(":", 1)[1]))
def entry_in(header, cid):
    return next(e for e in json.loads(header)["entries"] if e["id"] == cid)
event = next(l.strip().encode() for l in open(f"{d}/toeslagen.got") if f'"id":"{ce_id}"' in l)
sha = hashlib.sha256(event).hexdigest()
# hop 1: tilburg signed a batch carrying the event; the agency countersigned it
t = sqlite3.connect(f"{d}/tilburg/seinpost.db")
hdr1, sig1 = next((h, s) for h, s in t.execute("SELECT header, signature FROM batches")
                  if f'"id":"{ce_id}"'.encode() in h)
e1 = entry_in(hdr1, ce_id)
assert e1["sha256"] == sha, "tilburg's batch names another event"
pub("em-tilburg").verify(bytes.fromhex(e1["emitter_sig"]), b"seinpost/1 signal\0" + event)
pub("tilburg").verify(sig1, b"seinpost/2 batch\0" + hashlib.sha256(hdr1).digest())
rc1 = [(b, s) for b, s in t.execute("SELECT body, signature FROM receipts")
       if json.loads(b)["batch_sha256"] == hashlib.sha256(hdr1).hexdigest()]
assert rc1, "no agency receipt for tilburg's batch"
pub("agency").verify(rc1[0][1], b"seinpost/2 receipt\0" + rc1[0][0])
# the agency kept tilburg's batch as the hop's evidence
a = sqlite3.connect(f"{d}/agency/seinpost.db")
kept = [h for (h,) in a.execute("SELECT header FROM upstream_batches") if h == hdr1]
assert kept, "the agency did not keep tilburg's signed batch"
# hop 2: the agency signed a batch to toeslagen carrying the same bytes
hdr2, sig2 = next((h, s) for h, s, n in a.execute(
    "SELECT header, signature, subscriber FROM batches") if n == "toeslagen"
    and f'"id":"{ce_id}"'.encode() in h)
e2 = entry_in(hdr2, ce_id)
assert e2["sha256"] == sha and e2["emitter_sig"] == e1["emitter_sig"], "bytes changed"
pub("agency").verify(sig2, b"seinpost/2 batch\0" + hashlib.sha256(hdr2).digest())
rc2 = [(b, s) for b, s, n in a.execute("SELECT body, signature, subscriber FROM receipts")
       if n == "toeslagen" and json.loads(b)["batch_sha256"] == hashlib.sha256(hdr2).hexdigest()]
assert rc2, "no toeslagen receipt for the agency's batch"
pub("toeslagen").verify(rc2[0][1], b"seinpost/2 receipt\0" + rc2[0][0])
print("path of", ce_id, "verifies: emitter -> tilburg -> agency -> toeslagen")
PY
echo "federation OK"
