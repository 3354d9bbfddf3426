#!/usr/bin/env bash
# A reload takes every partner socket or none: when one cannot be opened
# (a garbage node CURVE secret key, a subscriber endpoint ZeroMQ refuses)
# the reload is refused, logged naming the subscriber and audited, and the
# daemon keeps delivering to every partner on the old configuration. At
# start-up the same failure stops the daemon with that message, and
# seinpostd -t reports a garbage or mismatched CURVE key file.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
good=$SP_DIR/good.yaml
cp "$conf" "$good"
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
pid=$(cat "$SP_DIR/daemon.pid")
n=0
# gemeentecode 0796 is routed to both partners
emit_both() {
    n=$((n + 1))
    sp_emit $GDB_TYPE "{\"gemeentecode\":\"0796\",\"nummeraanduidingIdentificatie\":\"079620000012345$n\",\"bewonerBsn\":\"999993653\",\"vastgesteldOp\":\"2026-11-20\"}" 999993653 \
        | grep -q "routed to 2 subscriptions" || fail "emit $n routed to both"
    sp_wait_ge 10 $n sp_lines "$SP_DIR/toeslagen.out" || fail "toeslagen receives signal $n"
    sp_wait_ge 10 $n sp_lines "$SP_DIR/belastingdienst.out" || fail "belastingdienst receives signal $n"
}
refusals() { grep -c "reload refused" "$SP_DIR/daemon.log"; }
both_listed() {
    local out
    out=$("$SP_BIN/seinpost" status -c "$conf") || fail "status"
    grep -q "^toeslagen " <<<"$out" || fail "toeslagen missing from status after $1"
    grep -q "^belastingdienst " <<<"$out" || fail "belastingdienst missing from status after $1"
}
emit_both

# 1. the node's CURVE secret key, used by every partner socket, is garbage
echo garbage > "$SP_DIR/keys/node2.curve"
chmod 600 "$SP_DIR/keys/node2.curve"
sed -i 's|curve_secret_key: keys/node.curve|curve_secret_key: keys/node2.curve|' "$conf"
kill -HUP "$pid"
sp_wait_ge 5 1 refusals || fail "bad key: refusal logged"
grep "reload refused" "$SP_DIR/daemon.log" | grep -q "subscriber toeslagen: .*node2.curve: not a seinpost CURVE key file" \
    || fail "bad key: refusal names subscriber and reason"
grep -q "configuration reloaded" "$SP_DIR/daemon.log" && fail "bad key: reported as reloaded"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'config.rejected' AND detail LIKE '%node2.curve%'" \
    || fail "bad key: refusal audited"
both_listed "bad key"
# seinpostd -t reads the key too; so does it when the halves do not match
out=$("$SP_BIN/seinpostd" -t -c "$conf" 2>&1) && fail "seinpostd -t passed a garbage CURVE key"
grep -q "seinpost.yaml: node.curve_secret_key: .*node2.curve: not a seinpost CURVE key file" <<<"$out" \
    || fail "seinpostd -t: $out"
"$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/other.curve" >/dev/null
{ grep '^public:' "$SP_DIR/keys/other.curve"; grep '^secret:' "$SP_DIR/keys/node.curve"; } > "$SP_DIR/keys/node2.curve"
out=$("$SP_BIN/seinpostd" -t -c "$conf" 2>&1) && fail "seinpostd -t passed mismatched CURVE halves"
grep -q "node2.curve: the public key is not the one of the secret key" <<<"$out" || fail "mismatch: $out"
emit_both

# 2. one subscriber's endpoint passes the loader but not zmq_connect: the
#    reload is refused as a whole, the other subscriber is not touched
cp "$good" "$conf"
sed -i "s|endpoint: tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST|endpoint: tcp://bad!host:$SP_PORT_BELASTINGDIENST|" "$conf"
grep -q 'bad!host' "$conf" || fail "test setup: endpoint not replaced"
kill -HUP "$pid"
sp_wait_ge 5 2 refusals || fail "bad endpoint: refusal logged"
grep "reload refused" "$SP_DIR/daemon.log" | grep -q "subscriber belastingdienst: tcp://bad!host:$SP_PORT_BELASTINGDIENST: " \
    || fail "bad endpoint: refusal names subscriber and reason"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'config.rejected' AND detail LIKE '%subscriber belastingdienst: tcp://bad!host%'" \
    || fail "bad endpoint: refusal audited"
both_listed "bad endpoint"
emit_both
sp_alive daemon || fail "daemon survived the refused reloads"

# 3. a good file reloads as before and delivery goes on on the new sockets
cp "$good" "$conf"
kill -HUP "$pid"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "good reload"
emit_both
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries WHERE state <> 1")" 0 "every delivery acknowledged"

# under ASan a leak of the refused reloads would show in the exit status
kill -TERM "$pid"; wait "$pid"; rc=$?
rm -f "$SP_DIR/daemon.pid"
assert_eq "$rc" 0 "exit status after refused reloads"
grep -q "Sanitizer" "$SP_DIR/daemon.log" && fail "sanitizer report after refused reloads"

# 4. start-up with a socket that cannot be opened: a clear error, exit 1,
#    nothing half-initialised left behind (ASan)
sed -i "s|endpoint: tcp://127.0.0.1:$SP_PORT_BELASTINGDIENST|endpoint: tcp://bad!host:$SP_PORT_BELASTINGDIENST|" "$conf"
: > "$SP_DIR/start.log"
timeout 20 "$SP_BIN/seinpostd" -c "$conf" 2>"$SP_DIR/start.log"
assert_eq "$?" 1 "start-up with a bad partner socket exits 1"
grep -q "subscriber belastingdienst: tcp://bad!host:$SP_PORT_BELASTINGDIENST: " "$SP_DIR/start.log" \
    || { cat "$SP_DIR/start.log" >&2; fail "start-up names subscriber and reason"; }
grep -q "Sanitizer" "$SP_DIR/start.log" && { cat "$SP_DIR/start.log" >&2; fail "sanitizer report at failed start-up"; }
echo "reload bad socket OK"
