#!/usr/bin/env bash
# A partner does not trust one of two emitters (its key is not in
# partner.yaml's emitter_public_keys) and refuses that emitter's signals
# (KEY_UNKNOWN). Signals of both come interleaved. The handler must get
# every signal of the trusted emitter that comes before the first refused
# one, never a signal of the untrusted emitter, and the router must never
# mark delivered what the handler did not get. A refused signal holds up
# the subscription's queue until max_age (3 s here) dead-letters it; then
# the trusted ones behind it are handled: in the end every trusted signal
# is handled exactly once, in seq order, and every refused one is
# dead-lettered.
# SEINPOST1 got this wrong: the partner refused the batch with the
# untrusted signal, then handled the batch in flight behind it and signed
# a cumulative receipt through its highest seq, which marked the refused
# signal delivered (it was never handled, and never dead-lettered).
# Timing: the trusted signals of group A are slow to handle (0.7 s each), so
# that group B is in flight behind the refused r-1 before the partner gets
# to r-1. A row is dead-lettered when the router reads it past its max
# age, and a trusted signal routed in the same turn as the refused one
# ahead of it would expire with it; so each group of trusted signals behind
# a refused one is emitted ~1.5 s after it (max age 3 s, retries <= 0.3 s).
. "$(dirname "$0")/common.sh"
. tests/integration/handled-lib.sh
SP_MAX_AGE=3s SP_RECEIPT_TIMEOUT=5s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=300ms
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null

# a second emitter, Breda, allowed the same types; toeslagen trusts only
# the first (sp_setup's partner.yaml lists burgerzaken's key alone)
breda_oin=00000001009999999000
breda_source=urn:nld:oin:$breda_oin:systeem:burgerzaken
breda_pub=$("$SP_BIN/seinpost" keygen -o "$SP_DIR/keys/breda.key" | sed -n 's/^public_key: //p')
breda_curve=$("$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/breda.curve" \
    | sed -n 's/^curve_public_key: //p')
[ -n "$breda_pub" ] && [ -n "$breda_curve" ] || fail "keys for the second emitter"
python3 - "$SP_DIR/seinpost.yaml" "$breda_oin" "$breda_pub" "$breda_curve" <<'PY' || fail "config"
import sys
path, oin, pub, curve = sys.argv[1:5]
text = open(path).read()
emitter = f"""  - name: burgerzaken-breda
    oin: "{oin}"
    public_key: {pub}
    curve_public_key: "{curve}"
    types:
      - nl.gemeente.burgerzaken.geen-dubbele-bewoning
      - nl.gemeente.burgerzaken.verblijft-niet-op-adres
"""
at = text.index("\nemitters:\n") + len("\nemitters:\n")     # as the first of the list
open(path, "w").write(text[:at] + emitter + text[at:])
PY
cat > "$SP_DIR/breda.yaml" <<YAML
endpoint: tcp://127.0.0.1:$SP_PORT_INGRESS
signing_key: keys/breda.key
source: $breda_source
curve_secret_key: keys/breda.curve
server_curve_public_key: "$(sp_curvepub node)"
YAML
grep -q "$breda_pub" "$SP_DIR/toeslagen.yaml" && fail "toeslagen must not trust breda"
"$SP_BIN/seinpostd" -t -c "$SP_DIR/seinpost.yaml" >/dev/null 2>&1 || fail "config with two emitters"

hc_handler toeslagen --slow 't47-a-*' 0.7
hc_start toeslagen || fail "partner toeslagen start"
sp_start_daemon || fail "daemon start"
hc_watch_start toeslagen toeslagen
sleep 0.5
tilburg() { hc_emit "$SP_DIR/burgerzaken.yaml" "$SP_DIR/trusted.accepted" || fail "emit (tilburg)"; }
breda() { hc_emit "$SP_DIR/breda.yaml" "$SP_DIR/refused.accepted" || fail "emit (breda)"; }

# A: three trusted (slow), then the first refused one
for i in 1 2 3; do hc_event "t47-a-$i"; done | tilburg
hc_event t47-r-1 0855 "$breda_source" | breda
sleep 1.5
# B: behind r-1 (in flight while the partner still handles A), then r-2
for i in 1 2 3; do hc_event "t47-b-$i"; done | tilburg
hc_event t47-r-2 0855 "$breda_source" | breda
sleep 1.5
# C: behind r-2
for i in 1 2 3; do hc_event "t47-c-$i"; done | tilburg
assert_eq "$(sp_lines "$SP_DIR/trusted.accepted")" 9 "trusted accepted"
assert_eq "$(sp_lines "$SP_DIR/refused.accepted")" 2 "refused emitter's accepted by the router"

# what came before the first refused signal is handled, no refused one is
grep '^t47-a-' "$SP_DIR/trusted.accepted" > "$SP_DIR/before-first-refused"
hc_wait_handled 15 toeslagen "$SP_DIR/before-first-refused" \
    || hc_problem "the trusted signals before the first refused one were not all handled"
hc_check "before the first refused" --expect "$SP_DIR/before-first-refused" \
    --never "$SP_DIR/refused.accepted" --only-lost "$SP_DIR/toeslagen.handled" \
    || hc_problem "before the first refused one: lost, or a refused one handled"

# the refused ones are dead-lettered after 3 s, the rest then handled
hc_wait_drained 40 toeslagen || hc_problem "toeslagen not drained in 40 s"
sleep 0.5
hc_check "handler" --expect "$SP_DIR/trusted.accepted" --never "$SP_DIR/refused.accepted" \
    --order <(hc_seq_order toeslagen) "$SP_DIR/toeslagen.handled" \
    || hc_problem "not every trusted id handled exactly once in seq order, or a refused one handled"
hc_check "delivered at the router" --expect <(hc_ids_in_state toeslagen 1) --only-lost \
    "$SP_DIR/toeslagen.handled" \
    || hc_problem "the router marked signals delivered that the handler never had"
hc_watch_stop toeslagen || hc_problem "a receipt covered signals the handler did not have yet"
refused_dead=$(sp_sql "SELECT COUNT(*) FROM deliveries d JOIN signals s ON s.id = d.signal_id
                       WHERE s.ce_id LIKE 't47-r-%' AND d.state = 2")
[ "$refused_dead" = 2 ] || hc_problem "refused signals dead-lettered: $refused_dead of 2" \
    "($(sp_sql "SELECT s.ce_id || ' state ' || d.state FROM deliveries d JOIN signals s
                ON s.id = d.signal_id WHERE s.ce_id LIKE 't47-r-%'" | tr '\n' ' '))"
trusted_dead=$(sp_sql "SELECT COUNT(*) FROM deliveries d JOIN signals s ON s.id = d.signal_id
                       WHERE s.ce_id NOT LIKE 't47-r-%' AND d.state <> 1")
[ "$trusted_dead" = 0 ] || hc_problem "$trusted_dead trusted signal(s) not delivered (dead-lettered)"
grep -q 'KEY_UNKNOWN\|not trusted' "$SP_DIR/toeslagen.err" || hc_problem "the partner never refused a key"
sp_alive daemon || fail "daemon died"
hc_finish "refused emitter key OK"
