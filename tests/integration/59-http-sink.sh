#!/usr/bin/env bash
# `seinpost listen` with http_sink hands each signal on to an HTTP sink as
# an NL GOV CloudEvents webhook (protocol.md 15.1), and the receipt covers
# a signal only once the sink answered 200/201/202/204. Against a real
# HTTP server (tests/tools/webhook-sink.py), counting what it received:
# - start-up refusals: a token file others may read, a sink whose
#   WebHook-Allowed-Origin is not ours, http:// to a host that is not
#   this one;
# - every signal reaches the sink byte for byte as the emitter signed it
#   (SHA-256 and the emitter's signature as the router stored them), with
#   Content-Type, Authorization: Bearer and Standard Webhooks headers whose
#   v1a signature verifies (python3-cryptography) with the whpk_ key;
# - 429 with Retry-After (seconds, and an HTTP date): no POST before then,
#   while the router's retries (every 100 to 500 ms) are refused;
# - a sink that is down, then back: nothing lost, each id accepted once;
# - a sink slower than the timeout: not counted, sent again;
# - 410 Gone: an alert, nothing more POSTed, listen exits 5;
# - the router marks delivered exactly the signals the sink accepted, and
#   the token appears in no log.
. "$(dirname "$0")/common.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
SP_RETRY_INITIAL=100ms SP_RETRY_MAX=500ms
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
SINK_PORT=$((PORT_BASE + 5))
ORIGIN=toeslagen.example.nl
conf=$SP_DIR/toeslagen.yaml
"$SP_BIN/seinpost" keygen -o "$SP_DIR/keys/webhook.key" \
    | sed -n 's/^public_key: ed25519:/whpk_/p' > "$SP_DIR/keys/webhook.whpk"
TOKEN=tok-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOKEN" > "$SP_DIR/token"
chmod 600 "$SP_DIR/token"
cat >> "$conf" <<YAML
http_sink:
  url: http://127.0.0.1:$SINK_PORT/events
  bearer_token_file: token
  signing_key: keys/webhook.key
  origin: $ORIGIN
  timeout: 1s
YAML

start_sink() {
    rm -f "$SP_DIR/sink.ready"
    python3 tests/tools/webhook-sink.py --port "$SINK_PORT" --log "$SP_DIR/sink.log" \
        --answers "$SP_DIR/answers" --allow "$SP_DIR/allow" --ready "$SP_DIR/sink.ready" \
        2>>"$SP_DIR/sink.err" &
    echo $! > "$SP_DIR/sink.pid"
    sp_wait 10 test -f "$SP_DIR/sink.ready" || fail "the sink did not start"
}
answers() { printf '%s\n' "$@" > "$SP_DIR/answers"; }
listen_once() {     # CONF: a listen that must refuse to start; prints stderr
    timeout 10 "$SP_BIN/seinpost" listen -c "$1" 2>&1 >/dev/null
    echo "exit $?"
}
emit() {            # DATE...: one signal per date, prints their CloudEvents ids
    local d
    for d in "$@"; do printf '%s\n' "${GDB_DATA/2026-11-20/$d}"; done \
        | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --type "$GDB_TYPE" \
              --subject 999993653 --stream --window 8 --timeout 10000 2>/dev/null \
        | sed -n 's/^ACCEPTED.*(id \([^)]*\)).*/\1/p' | paste -sd ' '
}
delivered() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 1"; }
posts() { cat "$SP_DIR/sink.log" 2>/dev/null | grep -c '"method": "POST"'; }

# --- refusals at start-up -------------------------------------------------
chmod 644 "$SP_DIR/token"
out=$(listen_once "$conf")
case $out in *"accessible by group or others"*"exit 3") ;; *) fail "token mode 0644 not refused: $out";; esac
chmod 600 "$SP_DIR/token"
sed "s|http://127.0.0.1:$SINK_PORT|http://192.0.2.1:$SINK_PORT|" "$conf" > "$SP_DIR/remote.yaml"
out=$(listen_once "$SP_DIR/remote.yaml")
case $out in *"http:// only to 127.0.0.1"*"exit 3") ;; *) fail "plain http to another host not refused: $out";; esac
answers 200
echo other.example.nl > "$SP_DIR/allow"
start_sink
out=$(listen_once "$conf")
case $out in *'allows origin "other.example.nl"'*"exit 3") ;; *) fail "foreign allowed origin not refused: $out";; esac
assert_eq "$(posts)" 0 "nothing POSTed to a sink that did not allow us"

# --- accepted: 202, 204, 200 ------------------------------------------------
echo "$ORIGIN" > "$SP_DIR/allow"
sp_start_daemon || fail "daemon start"
answers 202 204 200
sp_start_partner toeslagen
sp_wait 10 grep -q "handshake done" "$SP_DIR/toeslagen.err" || fail "no handshake: $(cat "$SP_DIR/toeslagen.err")"
grep -q "webhook-signature with $(cat "$SP_DIR/keys/webhook.whpk")\$" "$SP_DIR/toeslagen.err" \
    || fail "listen does not print the whpk_ key: $(cat "$SP_DIR/toeslagen.err")"
ids=$(emit 2026-11-01 2026-11-02 2026-11-03)
assert_eq "$(wc -w <<<"$ids")" 3 "signals accepted"
sp_wait_ge 10 3 delivered || fail "signals not delivered"

# --- 429: Retry-After in seconds, then as an HTTP date ----------------------
answers "429 1" 200
id429=$(emit 2026-11-04)
sp_wait_ge 15 4 delivered || fail "the signal after 429 was not delivered"
answers "429-date 2" 200
id429d=$(emit 2026-11-05)
sp_wait_ge 15 5 delivered || fail "the signal after a 429 with a date was not delivered"
assert_ge "$(sp_sql "SELECT d.attempts FROM deliveries d JOIN signals s ON s.id = d.signal_id
                     WHERE s.ce_id = '$id429'")" 2 "the router retried while the sink said wait"

# --- the sink down for a while ----------------------------------------------
sp_stop sink
before=$(posts)
down_ids=$(emit 2026-11-06 2026-11-07 2026-11-08 2026-11-09)
sleep 1
assert_eq "$(delivered)" 5 "nothing is delivered while the sink is down"
grep -qi "connect" "$SP_DIR/toeslagen.err" || fail "no connection failure reported"
answers 200
start_sink
sp_wait_ge 15 9 delivered || fail "not everything delivered after the sink came back"

# --- slower than the timeout --------------------------------------------------
answers "slow 3" 200
idslow=$(emit 2026-11-10)
sp_wait_ge 15 10 delivered || fail "the signal after a timeout was not delivered"
grep -q "timed out" "$SP_DIR/toeslagen.err" || fail "no timeout reported"

# --- 410 Gone -----------------------------------------------------------------
answers 410
gone_ids=$(emit 2026-11-11 2026-11-12)
pid=$(cat "$SP_DIR/toeslagen.pid")
sp_wait 10 sh -c "! kill -0 $pid" || fail "listen did not stop after 410"
wait "$pid"
assert_eq "$?" 5 "exit status of listen after 410"
rm -f "$SP_DIR/toeslagen.pid"
grep -q "ALERT: signal .*410 Gone" "$SP_DIR/toeslagen.err" || fail "no alert for 410"
assert_eq "$(grep -c '"answer": "410"' "$SP_DIR/sink.log")" 1 "POSTs after the sink said 410"
assert_eq "$(delivered)" 10 "what the sink refused with 410 is not delivered"

# --- what the sink received, against what the router holds ----------------------
grep -q -- "$TOKEN" "$SP_DIR"/toeslagen.err "$SP_DIR"/toeslagen.out "$SP_DIR"/daemon.log \
    && fail "the bearer token appears in a log"
sp_sql "SELECT s.ce_id, hex(s.event_sha256), hex(s.signature), d.state FROM signals s
        JOIN deliveries d ON d.signal_id = s.id WHERE d.subscriber = 'toeslagen'" \
    > "$SP_DIR/routed.txt" || fail "read what the router holds"
python3 - "$SP_DIR" "$TOKEN" "$ORIGIN" "$(sp_pub burgerzaken)" "$id429" "$id429d" \
    "$idslow" "$down_ids" "$gone_ids" <<'PY' || fail "what the sink got does not match"
import base64, collections, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
d, token, origin, emitter, id429, id429d, idslow, down, gone = (a.strip() for a in sys.argv[1:10])
reqs = [json.loads(line) for line in open(f"{d}/sink.log")]
whpk = Ed25519PublicKey.from_public_bytes(
    base64.b64decode(open(f"{d}/keys/webhook.whpk").read().strip()[5:]))
emitter_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(emitter.split(":")[1]))
bad = []
def check(ok, what):
    if not ok:
        bad.append(what)
opts = [r for r in reqs if r["method"] == "OPTIONS"]
posts = [r for r in reqs if r["method"] == "POST"]
check(opts and reqs.index(opts[0]) == 0, "the handshake comes before any POST")
for r in opts:
    check(r["headers"].get("webhook-request-origin") == origin, "WebHook-Request-Origin")
accepted = collections.Counter()
for r in posts:
    h, body = r["headers"], base64.b64decode(r["body"])
    event = json.loads(body)
    check(h.get("content-type") == "application/cloudevents+json; charset=utf-8", "content-type")
    check(h.get("authorization") == "Bearer " + token, "authorization")
    check(h.get("webhook-id") == event["id"], "webhook-id is the CloudEvents id")
    check(abs(int(h["webhook-timestamp"]) - r["t"]) < 60, "webhook-timestamp is now")
    scheme, _, sig = h.get("webhook-signature", "").partition(",")
    check(scheme == "v1a", "webhook-signature is v1a")
    try:
        whpk.verify(base64.b64decode(sig, validate=True),
                    f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body)
    except Exception:
        bad.append(f"webhook-signature does not verify for {event['id']}")
    if r["answer"] in ("200", "201", "202", "204"):
        accepted[event["id"]] += 1
check({"202", "204", "200"} <= {r["answer"] for r in posts}, "202, 204 and 200 answered")
dup = [i for i, n in accepted.items() if n != 1]
check(not dup, f"ids accepted more than once: {dup}")
# ce_id|hex(sha256)|hex(signature)|state, as sp_sql printed them
rows = [(ce, bytes.fromhex(sha), bytes.fromhex(sig), int(state))
        for ce, sha, sig, state in (l.split("|") for l in open(f"{d}/routed.txt").read().split())]
check(len(rows) == 12, f"12 signals emitted, {len(rows)} routed")
delivered = {ce for ce, _, _, state in rows if state == 1}
check(delivered == set(accepted), f"delivered {sorted(delivered)} but the sink accepted "
      f"{sorted(accepted)}")
check(set(down.split()) <= delivered and idslow in delivered, "down and slow ones delivered")
check(not (set(gone.split()) & delivered), "nothing the sink refused is delivered")
for ce, sha, signature, _ in rows:
    bodies = [base64.b64decode(r["body"]) for r in posts
              if json.loads(base64.b64decode(r["body"]))["id"] == ce]
    check(bool(bodies) or ce in gone.split(), f"{ce}: never reached the sink")
    check(all(hashlib.sha256(b).digest() == sha for b in bodies),
          f"{ce}: not the bytes the router stored")
    for b in bodies[:1]:
        try:
            emitter_key.verify(signature, b"seinpost/1 signal\0" + b)
        except Exception:
            bad.append(f"{ce}: the emitter's signature does not cover what the sink got")
def gap(ce, at_least):
    times = [r["t"] for r in posts if json.loads(base64.b64decode(r["body"]))["id"] == ce]
    check(len(times) >= 2 and times[1] - times[0] >= at_least,
          f"{ce}: POSTs at {times}: not {at_least} s apart after 429")
gap(id429, 0.9)
gap(id429d, 0.9)      # an HTTP date has whole seconds: 2 s ahead is 1 to 2 s
slow = [r["answer"] for r in posts if json.loads(base64.b64decode(r["body"]))["id"] == idslow]
check(slow[:1] == ["slow"] and "200" in slow, f"slow one: {slow}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
echo "http sink OK"
