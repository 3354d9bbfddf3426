#!/usr/bin/env bash
# The node secret seals every stored payload. When its file is gone while
# the queue holds signals (a restore without it, a typo in
# node.pseudonym_key), the router refuses to start instead of creating a
# new one, which would leave every pending payload unreadable.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
secret=$SP_DIR/seinpost.db.secret           # beside a SQLite database
[ -n "${SP_DATABASE:-}" ] && secret=$SP_DIR/keys/node.secret    # node.pseudonym_key
sp_start_daemon || fail "daemon did not start"
grep -q "created a new node secret" "$SP_DIR/daemon.log" || fail "creation of the first secret not logged"
sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653 | grep -q '^ACCEPTED' || fail "signal not accepted"
sp_stop daemon
mv "$secret" "$SP_DIR/secret.saved"

timeout 20 "$SP_BIN/seinpostd" -c "$SP_DIR/seinpost.yaml" 2>"$SP_DIR/refused.log" &
echo $! > "$SP_DIR/daemon.pid"
wait "$(cat "$SP_DIR/daemon.pid")"
rc=$?
rm -f "$SP_DIR/daemon.pid"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "the router started without its node secret (rc $rc)"
grep -q "node secret is missing, but the queue holds 1 signals" "$SP_DIR/refused.log" \
    || fail "no clear reason: $(cat "$SP_DIR/refused.log")"
[ ! -e "$secret" ] || fail "a new secret was written"

# with the file back, the pending signal goes out as it was sealed
mv "$SP_DIR/secret.saved" "$secret"
sp_start_daemon || fail "daemon did not restart with its secret"
sp_start_partner toeslagen
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "pending signal not delivered"
echo "node secret missing OK"
