#!/usr/bin/env bash
# The partner conformance kit against the reference partner: `seinpost
# conformance` plays the router of a SEINPOST2 delivery link (the node's
# keys, no daemon) and every case must pass, including the ones that read
# the handler's output (--handler-log: `seinpost listen` writes one JSON
# line per handled signal).
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
# tests/lib.sh gives the partner its subscriber name and the router's
# CURVE key (only that key may connect)
sp_start_partner toeslagen
sp_wait 5 sp_alive toeslagen || fail "partner did not start"

kit() {
    "$SP_BIN/seinpost" conformance \
        --endpoint "tcp://127.0.0.1:$SP_PORT_TOESLAGEN" \
        --partner-curve "$(sp_curvepub toeslagen)" --curve-key "$SP_DIR/keys/node.curve" \
        --router-key "$SP_DIR/keys/node.key" --partner-key "$(sp_pub toeslagen)" \
        --subscriber toeslagen --subscription huurtoeslag-bewoning \
        --emitter-key "$SP_DIR/keys/burgerzaken.key" \
        --source urn:nld:oin:00000001001234567000:systeem:burgerzaken \
        --handler-log "$SP_DIR/toeslagen.out" "$@"
}

out=$(kit 2>&1)
rc=$?
printf '%s\n' "$out"
grep -q '^FAIL' <<<"$out" && fail "a conformance case failed"
assert_eq "$rc" 0 "exit status"
assert_eq "$(grep -c '^PASS ' <<<"$out")" 10 "cases passed"
grep -q '^10 passed, 0 failed$' <<<"$out" || fail "summary line"

# a second run against the same partner state passes too (fresh ids, seqs)
out=$(kit --case happy --case duplicate --case receipts-within-batch 2>&1) \
    || fail "second run: $out"
assert_eq "$(tail -1 <<<"$out")" "3 passed, 0 failed" "second run"

# a CURVE key the partner does not know gets no connection: exit 3
"$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/stranger.curve" >/dev/null
kit --curve-key "$SP_DIR/keys/stranger.curve" --timeout 1000 >"$SP_DIR/stranger.out" 2>&1
assert_eq "$?" 3 "unknown CURVE key"
grep -q "refused this kit's CURVE key" "$SP_DIR/stranger.out" \
    || fail "refusal reason: $(cat "$SP_DIR/stranger.out")"
sp_alive toeslagen || fail "partner alive"
echo "conformance kit OK"
