#!/usr/bin/env bash
# The short fault-injection soak (tests/soak/run) inside make check, about
# a minute in all. First the checker's self-test: a small real run (stdout
# partners, then --exec handlers with a burst, a handler that fails once
# and a kill -9 while a handler runs) must check clean, and doctored
# copies of it (a handled line dropped, from stdout or from an --exec
# handler's file; a seq duplicated; a phantom id; two lines swapped; a
# signal handled twice with no kill -9, or more often than the kill -9s
# that interrupted it allow; a receipt removed or its signature cut; an
# ACCEPTED signal deleted from the database; a dead letter; a delivery
# outside the filter; one signal answered OK twice) must each be reported,
# naming the signal. Then the short soak: 5 kill -9 cycles of seinpostd
# under load, 3 partner kill/stall/SIGSTOP cycles, 4 partner faults at the
# partners' --exec handlers with the daemon up (kill -9, a handler that
# fails once, SIGSTOP, kill -9 while a handler runs; under bursts of
# 50-200 signals, then a trickle of one every 50-100 ms), a 4-hour outage
# compressed to 4 s, the disk filling up (a tmpfs when it can be mounted,
# else RLIMIT_FSIZE), emitter faults and a corrupt database. The checker
# counts what the partners' handlers got: it fails on any ACCEPTED signal a
# subscribing partner's handler never had (lost), one it had that was not
# ACCEPTED (phantom), one handled twice other than where a kill -9
# interrupted its hand-over, out of order, and on the router-table checks
# (missing receipts and the rest: see tests/soak/soak.py).
# sqlite-only: the soak's checker reads the SQLite file and fills its disk; on PostgreSQL test 67 kills the nodes and stops the server
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
soak --short --dir "$SP_DIR/soak" --port-base $PORT_BASE --max-seconds 180 \
    || fail "short soak: see the violations above (run directory $SP_DIR/soak)"
echo "short soak OK"
