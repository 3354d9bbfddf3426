# Sourced by every integration test: a fresh directory and ports per test,
# everything it started stopped by PID on exit, and small assertions.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
TEST_NAME=$(basename "$0" .sh)
TEST_NAME=${TEST_NAME%.release}
TEST_NUM=$((10#${TEST_NAME%%-*}))
SP_DIR=$(mktemp -d "/tmp/seinpost-$TEST_NAME.XXXXXX")
# SP_PORT_OFFSET (0): moves every port, so that two runs can share a machine
PORT_BASE=$((21000 + TEST_NUM * 10 + ${SP_PORT_OFFSET:-0}))
trap 'rc=$?; sp_stop_all; sp_pg_stop_all; [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$SP_DIR/daemon.log" ] && tail -20 "$SP_DIR/daemon.log" >&2; exit 1; }
assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
assert_ge() { [ "$1" -ge "$2" ] || fail "$3: expected >= $2, got $1"; }

GDB_DATA='{"gemeentecode":"0855","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}'
GDB_TYPE=nl.gemeente.burgerzaken.geen-dubbele-bewoning
VNA_TYPE=nl.gemeente.burgerzaken.verblijft-niet-op-adres
