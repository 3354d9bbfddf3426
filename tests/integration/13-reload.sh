#!/usr/bin/env bash
# SIGHUP: a new subscriber starts receiving; a broken file is refused with
# its line number logged and the old configuration kept; a removed
# subscription gets no further deliveries and its pending ones are
# dead-lettered with a clear reason; every reload is audited.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
full=$SP_DIR/full.yaml
cp "$SP_DIR/seinpost.yaml" "$full"
# start without the belastingdienst subscriber
python3 - "$full" "$SP_DIR/seinpost.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(text[:text.index("  - name: belastingdienst")])
PY
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
pid=$(cat "$SP_DIR/daemon.pid")
vna_0855='{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}'
sp_emit $VNA_TYPE "$vna_0855" | grep -q "routed to 0 subscriptions" || fail "no belastingdienst yet"

# 1. add a subscriber
cp "$full" "$SP_DIR/seinpost.yaml"
kill -HUP "$pid"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reload logged"
sp_emit $VNA_TYPE "$vna_0855" | grep -q "routed to 1 subscription" || fail "routed after reload"
sp_wait_ge 10 1 sp_lines "$SP_DIR/belastingdienst.out" || fail "new subscriber receives"

# 2. a broken file: refused, with file and line, the old configuration kept
cp "$full" "$SP_DIR/broken.yaml"
sed -i 's/^    window: 64$/    window: lots/' "$SP_DIR/broken.yaml"
line=$(grep -n "window: lots" "$SP_DIR/broken.yaml" | cut -d: -f1)
cp "$SP_DIR/broken.yaml" "$SP_DIR/seinpost.yaml"
kill -HUP "$pid"
sp_wait 5 grep -q "reload refused" "$SP_DIR/daemon.log" || fail "refusal logged"
grep "reload refused" "$SP_DIR/daemon.log" | grep -q "seinpost.yaml:$line:" || fail "refusal names line $line"
sp_alive daemon || fail "daemon survived a broken reload"
sp_emit $VNA_TYPE "$vna_0855" | grep -q "routed to 1 subscription" || fail "old configuration kept"
sp_wait_ge 10 2 sp_lines "$SP_DIR/belastingdienst.out" || fail "still delivering"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'config.rejected'")" 1 "refusal audited"

# 3. remove the verblijf subscription while one delivery of it is pending
sp_stop belastingdienst
sp_emit $VNA_TYPE "$vna_0855" | grep -q "routed to 1 subscription" || fail "queued for belastingdienst"
python3 - "$full" "$SP_DIR/seinpost.yaml" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
start = text.index("      - name: verblijf-tilburg")
end = text.index("      - name: bewoning-prefix")
open(sys.argv[2], "w").write(text[:start] + text[end:])
PY
kill -HUP "$pid"
sp_wait_ge 5 2 sh -c "grep -c 'configuration reloaded' '$SP_DIR/daemon.log'" || fail "second reload"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 2 AND last_error LIKE 'subscription removed%'" \
    || fail "pending delivery dead-lettered"
sp_emit $VNA_TYPE "$vna_0855" | grep -q "routed to 0 subscriptions" || fail "no longer routed"
# counted as a dead letter, in the total and for the subscriber that stays
metrics=$("$SP_BIN/seinpost" metrics -c "$SP_DIR/seinpost.yaml") || fail "metrics"
assert_eq "$(sed -n 's/^seinpost_deliveries_total{subscriber="belastingdienst",outcome="dead_lettered"} //p' <<<"$metrics")" \
    1 "the subscriber's dead letters"
assert_eq "$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json | jq .dead_lettered)" 1 "total dead letters"
sp_start_partner belastingdienst
sleep 2
assert_eq "$(sp_lines "$SP_DIR/belastingdienst.out")" 2 "nothing more delivered without a legal basis"
assert_ge "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'config.loaded'")" 3 "reloads audited"
# the reloads left the daemon whole: it still checkpoints and stops cleanly
pid=$(cat "$SP_DIR/daemon.pid")
kill -TERM "$pid"; wait "$pid"; rc=$?
rm -f "$SP_DIR/daemon.pid"
assert_eq "$rc" 0 "exit status after reloads"
grep -q "transaction failed" "$SP_DIR/daemon.log" && fail "a transaction failed after a reload"
assert_eq "$(sp_sql "SELECT MAX(audit_seq) FROM checkpoints")" "$(sp_sql "SELECT MAX(seq) FROM audit")" "final checkpoint after reloads"
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml") || fail "the trail verifies: $out"
echo "reload OK"
