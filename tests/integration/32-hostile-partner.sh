#!/usr/bin/env bash
# A partner the router cannot trust: a frame of 200 MB is dropped unread
# (the router's memory stays small) and the delivery goes out again; a
# receipt that also acknowledges a subscription removed at a reload is
# applied for the rest, without rolling the turn back.
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

# 2. a receipt that acknowledges a removed subscription as well
sp_start_partner belastingdienst
sp_emit "$VNA_TYPE" '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 \
    | grep -q '^ACCEPTED' || fail "VNA signal not accepted"
sp_wait_ge 10 1 delivered belastingdienst || fail "first delivery to belastingdienst"
sp_stop belastingdienst
sp_conf_cut "$SP_DIR/seinpost.yaml" "      - name: verblijf-tilburg" "      - name: bewoning-prefix"
kill -HUP "$daemon_pid"
sp_wait 10 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "no reload"
rawpartner belastingdienst "$SP_PORT_BELASTINGDIENST" --extra-ack verblijf-tilburg:1 --batches 10
GDB_0796=${GDB_DATA/0855\"/0796\"}
sp_emit "$GDB_TYPE" "$GDB_0796" 999993653 | grep -q '^ACCEPTED' || fail "second signal"
sp_wait_ge 10 2 delivered belastingdienst || fail "receipt naming a removed subscription not applied"
assert_eq "$(grep -c 'transaction failed' "$SP_DIR/daemon.log")" 0 "rolled-back turns"
sp_alive daemon || fail "router died"
echo "hostile partner OK"
