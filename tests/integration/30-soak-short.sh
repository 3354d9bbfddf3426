#!/usr/bin/env bash
# The short fault-injection soak (tests/soak/run) inside make check. First
# the checker's self-test: a small real run must check clean, and doctored
# copies of it (a delivered line dropped, a seq duplicated, a phantom id,
# two lines swapped, a receipt removed or its signature cut, an ACCEPTED
# signal deleted from the database, a dead letter, a delivery outside the
# filter, one signal answered OK twice) must each be reported, naming the
# signal. Then the short soak: 5
# kill -9 cycles of seinpostd under load, partner kills, stalls and SIGSTOPs,
# a 6-hour outage compressed to 6 s, the disk filling up (tmpfs when it can
# be mounted, and RLIMIT_FSIZE), emitter faults and a corrupt database; it
# fails on any violation the checker finds (lost, phantom, out of order,
# missing receipts, and the rest: see tests/soak/soak.py).
. "$(dirname "$0")/common.sh"
soak() {
    # in the background, so that a TERM from tests/run's timeout reaches it
    tests/soak/run "$@" &
    soak_pid=$!
    trap 'kill -TERM $soak_pid 2>/dev/null' TERM INT
    wait $soak_pid
    local rc=$?
    [ $rc -gt 128 ] && { wait $soak_pid; rc=$?; }
    trap - TERM INT
    return $rc
}
soak --self-test --dir "$SP_DIR/self-test" --port-base $((PORT_BASE + 5)) \
    || fail "the checker's self-test"
soak --short --dir "$SP_DIR/soak" --port-base $PORT_BASE --max-seconds 240 \
    || fail "short soak: see the violations above (run directory $SP_DIR/soak)"
echo "short soak OK"
