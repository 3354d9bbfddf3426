#!/usr/bin/env bash
# A partner the router cannot trust: a frame of 200 MB is dropped unread
# (the router's memory stays small) and the delivery goes out again; a
# receipt that also lists an entry its batch did not carry (here: of a
# subscription removed at a reload) is refused whole, RECEIPT_UNKNOWN
# (SEINPOST2: a receipt acknowledges exactly the listed entries of the
# batch it names), without rolling the turn back, and the delivery goes
# through on the partner's next, honest receipt.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon did not start"
daemon_pid=$(cat "$SP_DIR/daemon.pid")

rawpartner() {
    local name=$1 port=$2
    shift 2
    "$SP_BIN/tools/rawpartner" --endpoint "tcp://127.0.0.1:$port" \
        --curve-secret "$SP_DIR/keys/$name.curve" --key "$SP_DIR/keys/$name.key" \
        --timeout 20000 "$@" >>"$SP_DIR/raw-$name.out" 2>>"$SP_DIR/raw-$name.err" &
    echo $! > "$SP_DIR/raw-$name.pid"
}
delivered() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = '$1' AND state = 1"; }

# 1. a 200 MB frame instead of a receipt: the router drops the connection
#    when the frame's header arrives; the batches it sent meanwhile are
#    answered on that connection behind the frame, so the delivery goes
#    through on the next connection, after a receipt timeout or two
rawpartner toeslagen "$SP_PORT_TOESLAGEN" --huge 200000000 --batches 10
sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653 | grep -q '^ACCEPTED' || fail "signal not accepted"
sp_wait_ge 20 1 delivered toeslagen || fail "delivery not acknowledged after the huge frame"
sp_alive daemon || fail "router died on a huge frame"
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$daemon_pid/status")
[ "$hwm_kb" -lt 100000 ] || fail "router memory peaked at $hwm_kb kB: the frame was read"
assert_ge "$(grep -c '^DELIVER' "$SP_DIR/raw-toeslagen.out")" 2 "batches seen by the partner"

# 2. a receipt that also lists an entry of a removed subscription
sp_start_partner belastingdienst
sp_emit "$VNA_TYPE" '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 \
    | grep -q '^ACCEPTED' || fail "VNA signal not accepted"
sp_wait_ge 10 1 delivered belastingdienst || fail "first delivery to belastingdienst"
sp_stop belastingdienst
sp_conf_cut "$SP_DIR/seinpost.yaml" "      - name: verblijf-tilburg" "      - name: bewoning-prefix"
kill -HUP "$daemon_pid"
sp_wait 10 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "no reload"
refused() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'receipt.rejected'
                    AND json_extract(detail, '\$.code') = 'RECEIPT_UNKNOWN'"; }
refused_before=$(refused)
rawpartner belastingdienst "$SP_PORT_BELASTINGDIENST" --extra-ack verblijf-tilburg:1 --batches 2 --timeout 8000
GDB_0796=${GDB_DATA/0855\"/0796\"}
sp_emit "$GDB_TYPE" "$GDB_0796" 999993653 | grep -q '^ACCEPTED' || fail "second signal"
sp_wait_ge 10 $((refused_before + 1)) refused \
    || fail "receipt listing an entry its batch did not carry not refused"
sp_wait 10 test ! -e "/proc/$(cat "$SP_DIR/raw-belastingdienst.pid")" || fail "rawpartner did not stop"
rm -f "$SP_DIR/raw-belastingdienst.pid"
grep -q '^DELIVER 1 bewoning-prefix:1$' "$SP_DIR/raw-belastingdienst.out" \
    || fail "the batch: $(cat "$SP_DIR/raw-belastingdienst.out")"
assert_eq "$(delivered belastingdienst)" 1 "deliveries marked done by the refused receipt"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM receipts WHERE subscriber = 'belastingdienst'")" 1 \
    "receipts stored for belastingdienst (the refused one is not)"
sp_sql "SELECT json_extract(detail, '\$.reason') FROM audit WHERE kind = 'receipt.rejected'" \
    | grep -q "did not carry" || fail "refusal reason: $(sp_sql "SELECT detail FROM audit WHERE kind = 'receipt.rejected'")"
"$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json 2>/dev/null \
    | jq -e '.subscribers[] | select(.subscriber == "belastingdienst") | .last_error
             | test("RECEIPT_UNKNOWN")' >/dev/null \
    || fail "status does not show the refusal: $("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" 2>&1)"
# the partner's next receipt lists only what the batch carried: taken
sp_start_partner belastingdienst
sp_wait_ge 10 2 delivered belastingdienst || fail "delivery not acknowledged after the refused receipt"
assert_eq "$(grep -c 'transaction failed' "$SP_DIR/daemon.log")" 0 "rolled-back turns"
sp_alive daemon || fail "router died"
echo "hostile partner OK"
