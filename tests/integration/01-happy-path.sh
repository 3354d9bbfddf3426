#!/usr/bin/env bash
# Two partners with different filters: each gets exactly its matches, in
# sequence order, and every delivery ends with a stored signed receipt.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst

data() { printf '{"gemeentecode":"%s","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}' "$1"; }
sp_emit $GDB_TYPE "$(data 0855)" 999993653 | grep -q "routed to 1 subscription" || fail "0855 bewoning routed to 1"
sp_emit $GDB_TYPE "$(data 0796)" 999993653 | grep -q "routed to 2 subscriptions" || fail "0796 bewoning routed to 2"
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 | grep -q "routed to 1 subscription" || fail "verblijf 0855"
sp_emit $VNA_TYPE '{"gemeentecode":"0363","vastgesteldOp":"2026-11-22"}' 999990019 | grep -q "routed to 0 subscriptions" || fail "verblijf 0363 matches nobody"

sp_wait_ge 10 4 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "4 deliveries done"
sp_wait_ge 5 2 sp_lines "$SP_DIR/toeslagen.out" || fail "toeslagen lines"
sp_wait_ge 5 2 sp_lines "$SP_DIR/belastingdienst.out" || fail "belastingdienst lines"

# toeslagen: only geen-dubbele-bewoning, seq 1 and 2 of its subscription
assert_eq "$(jq -r '.type' "$SP_DIR/toeslagen.out" | sort -u)" "$GDB_TYPE" "toeslagen types"
assert_eq "$(jq -r '.seq' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "1 2 " "toeslagen seqs"
assert_eq "$(jq -r '.event.data.gemeentecode' "$SP_DIR/toeslagen.out" | tr '\n' ' ')" "0855 0796 " "toeslagen order"
# belastingdienst: one of each of its subscriptions
assert_eq "$(jq -r '.subscription + ":" + (.seq|tostring)' "$SP_DIR/belastingdienst.out" | sort | tr '\n' ' ')" \
    "bewoning-prefix:1 verblijf-tilburg:1 " "belastingdienst subscriptions"
assert_eq "$(jq -r '.grondslag' "$SP_DIR/belastingdienst.out" | sort -u)" \
    "AWR art. 53: gegevensverstrekking voor de heffing" "legal basis delivered"
# every delivery has a stored receipt with a 64-byte signature
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries d JOIN receipts r ON r.id = d.receipt_id WHERE length(r.signature) = 64")" 4 "receipts"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 4 "signals stored"
echo "happy path OK"
