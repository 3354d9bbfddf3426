#!/usr/bin/env bash
# Nothing of a signal crosses tcp:// in clear: a relay records every byte
# between emitter and daemon and between daemon and partner; neither the
# test BSN nor any distinctive field of the event appears.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
relay_in=$((PORT_BASE + 5))
relay_out=$((PORT_BASE + 6))
# the emitter talks to the relay; the daemon delivers through a relay too
sed -i "s|127.0.0.1:$SP_PORT_INGRESS|127.0.0.1:$relay_in|" "$SP_DIR/burgerzaken.yaml"
sed -i "s|endpoint: tcp://127.0.0.1:$SP_PORT_TOESLAGEN|endpoint: tcp://127.0.0.1:$relay_out|" "$SP_DIR/seinpost.yaml"
python3 tests/tools/tcprecord.py $relay_in $SP_PORT_INGRESS "$SP_DIR/wire-in.bin" 30 &
echo $! > "$SP_DIR/relay-in.pid"
python3 tests/tools/tcprecord.py $relay_out $SP_PORT_TOESLAGEN "$SP_DIR/wire-out.bin" 30 &
echo $! > "$SP_DIR/relay-out.pid"
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sleep 0.5
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q ACCEPTED || fail "accepted through the relay"
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "delivered through the relay"
grep -q 999993653 "$SP_DIR/toeslagen.out" || fail "the partner sees the BSN (end to end)"
sp_stop toeslagen; sp_stop daemon
size_in=$(stat -c %s "$SP_DIR/wire-in.bin"); size_out=$(stat -c %s "$SP_DIR/wire-out.bin")
assert_ge "$size_in" 400 "bytes recorded emitter to daemon"
assert_ge "$size_out" 400 "bytes recorded daemon to partner"
for needle in 999993653 0855200000123456 geen-dubbele-bewoning specversion urn:nld:oin; do
    if grep -aq "$needle" "$SP_DIR/wire-in.bin" "$SP_DIR/wire-out.bin"; then
        fail "'$needle' crossed the wire in clear"
    fi
done
echo "wire: $size_in + $size_out bytes recorded, no plaintext of the signal"
