#!/usr/bin/env bash
# What went wrong with a delivery is visible where an operator looks:
# a refused receipt shows its reason in `seinpost status` (not only "no
# receipt within ...") and as receipt.rejected in `seinpost audit show` of
# each signal its batch carried; a partner that is not connected counts as
# a try of the delivery (protocol.md 2.1), so a dead letter tells how often
# it was tried.
. "$(dirname "$0")/common.sh"
SP_MAX_AGE=8s SP_RETRY_INITIAL=100ms SP_RETRY_MAX=200ms SP_RECEIPT_TIMEOUT=1s
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon start"

# 1. a partner whose every receipt also lists an entry its batch did not carry
"$SP_BIN/tools/rawpartner" --endpoint "tcp://127.0.0.1:$SP_PORT_TOESLAGEN" \
    --curve-secret "$SP_DIR/keys/toeslagen.curve" --key "$SP_DIR/keys/toeslagen.key" \
    --extra-ack huurtoeslag-bewoning:999 --batches 3 --timeout 10000 \
    >"$SP_DIR/raw.out" 2>"$SP_DIR/raw.err" &
echo $! > "$SP_DIR/raw.pid"
reply=$(sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653)
case $reply in ACCEPTED*) ;; *) fail "not accepted: $reply";; esac
ce_id=$(sed -n 's/.*(id \([^)]*\)).*/\1/p' <<<"$reply")
[ -n "$ce_id" ] || fail "emit printed no id: $reply"
refusals() { sp_sql "SELECT COUNT(*) FROM audit a JOIN signals s ON s.id = a.signal_id
                     WHERE a.kind = 'receipt.rejected' AND s.ce_id = '$ce_id'"; }
sp_wait_ge 10 1 refusals || fail "no receipt.rejected in the signal's timeline"
status=$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json)
jq -e '.subscribers[] | select(.subscriber == "toeslagen") | .last_error
       | test("RECEIPT_UNKNOWN")' >/dev/null <<<"$status" \
    || fail "status does not name the refusal: $status"
show=$("$SP_BIN/seinpost" audit show "$ce_id" -c "$SP_DIR/seinpost.yaml")
grep -q "receipt.rejected" <<<"$show" || fail "audit show lacks receipt.rejected: $show"
grep -q "RECEIPT_UNKNOWN" <<<"$show" || fail "audit show lacks the code: $show"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1")" 0 \
    "deliveries marked done by refused receipts"
# after the receipt timeout the retry says why there was no valid receipt
sp_wait 10 sh -c "'$SP_BIN/seinpost' status -c '$SP_DIR/seinpost.yaml' --json \
    | jq -e '.subscribers[] | select(.subscriber == \"toeslagen\") | .last_error
             | test(\"no valid receipt.*RECEIPT_UNKNOWN\")'" \
    || fail "timeout error does not carry the refusal: $("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml")"
sp_stop raw

# 2. nobody listening: each try counts, and the dead letter shows them
tries() { sp_sql "SELECT attempts FROM deliveries d JOIN signals s ON s.id = d.signal_id
                  WHERE d.subscriber = 'toeslagen' AND s.ce_id = '$ce_id'"; }
before=$(tries)
sp_wait_ge 10 $((before + 3)) tries || fail "tries while not connected not counted ($(tries))"
dead() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 2"; }
sp_wait_ge 15 1 dead || fail "not dead-lettered past max_age"
"$SP_BIN/seinpost" deadletters -c "$SP_DIR/seinpost.yaml" --json \
    | jq -e --argjson n $((before + 3)) '[.. | objects | select(has("attempts")) | .attempts]
                                          | max >= $n' >/dev/null \
    || fail "deadletters does not count the tries: $("$SP_BIN/seinpost" deadletters -c "$SP_DIR/seinpost.yaml")"
echo "refusals visible OK"
