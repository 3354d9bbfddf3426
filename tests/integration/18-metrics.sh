#!/usr/bin/env bash
# Metrics: `seinpost metrics` and the HTTP endpoint serve text that the
# reference OpenMetrics parser accepts, and the counters, gauges and
# histograms move as signals are accepted, rejected and delivered.
. "$(dirname "$0")/common.sh"
SP_METRICS=127.0.0.1:$((PORT_BASE + 7))
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
value() { grep -F "$1 " "$2" | head -1 | awk '{print $NF}' | cut -d. -f1; }
"$SP_BIN/seinpost" metrics -c "$SP_DIR/seinpost.yaml" > "$SP_DIR/m0.txt" || fail "metrics command"
/usr/bin/python3 tests/tools/openmetrics-check.py "$SP_DIR/m0.txt" > "$SP_DIR/m0.samples" || fail "format before"
assert_eq "$(value 'seinpost_signals_accepted_total{}' "$SP_DIR/m0.samples")" 0 "accepted at start"

sp_start_partner toeslagen
for i in 1 2 3; do sp_emit $GDB_TYPE "$GDB_DATA" >/dev/null || fail "emit $i"; done
sp_emit nl.example.unknown.type "$GDB_DATA" >/dev/null 2>&1
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "delivered"
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' >/dev/null   # queued: belastingdienst is down
"$SP_BIN/seinpost" metrics -c "$SP_DIR/seinpost.yaml" > "$SP_DIR/m1.txt" || fail "metrics command"
/usr/bin/python3 tests/tools/openmetrics-check.py "$SP_DIR/m1.txt" > "$SP_DIR/m1.samples" || fail "format after"
tail -1 "$SP_DIR/m1.txt" | grep -qx '# EOF' || fail "ends with # EOF"
assert_eq "$(value 'seinpost_node_active{}' "$SP_DIR/m1.samples")" 1 "the node routes"
assert_eq "$(value 'seinpost_signals_accepted_total{}' "$SP_DIR/m1.samples")" 4 "accepted counter"
assert_eq "$(value 'seinpost_signals_rejected_total{code="TYPE_UNKNOWN"}' "$SP_DIR/m1.samples")" 1 "rejected by code"
assert_eq "$(value 'seinpost_deliveries_total{outcome="delivered",subscriber="toeslagen"}' "$SP_DIR/m1.samples")" 3 "deliveries"
assert_eq "$(value 'seinpost_queue_depth{subscriber="belastingdienst"}' "$SP_DIR/m1.samples")" 1 "queue depth gauge"
assert_eq "$(value 'seinpost_ingress_ack_latency_seconds_count{}' "$SP_DIR/m1.samples")" 5 "ack latency histogram"
assert_eq "$(value 'seinpost_ingress_receipt_latency_seconds_count{}' "$SP_DIR/m1.samples")" 3 "receipt latency histogram"

# the same over HTTP, for Prometheus
sleep 1.2
/usr/bin/python3 - "$SP_METRICS" "$SP_DIR/http.txt" <<'PY' || fail "HTTP endpoint"
import sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5) as r:
    assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers["Content-Type"]
    open(sys.argv[2], "wb").write(r.read())
PY
/usr/bin/python3 tests/tools/openmetrics-check.py "$SP_DIR/http.txt" > "$SP_DIR/http.samples" || fail "HTTP format"
assert_eq "$(value 'seinpost_signals_accepted_total{}' "$SP_DIR/http.samples")" 4 "HTTP accepted counter"
echo "metrics OK"
