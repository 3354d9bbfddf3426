#!/usr/bin/env bash
# Retention keeps pace with the intake: the purge takes PURGE_BATCH (500)
# payloads per turn, and a full batch makes the next turn go on instead
# of waiting for the purge interval (60 s for a retention of 5 minutes).
# It used to purge 500 per interval: 8 a second, far below any real rate.
. "$(dirname "$0")/common.sh"
N=1100
SP_RETENTION=5m
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon did not start"
sp_start_partner toeslagen

for i in $(seq 1 $N); do
    printf '{"specversion":"1.0","id":"purge-%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":%s}\n' \
        "$i" "$GDB_TYPE" "$GDB_DATA"
done | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window 64 \
    > "$SP_DIR/emit.out" 2> "$SP_DIR/emit.err"
assert_eq "$(grep -c '^ACCEPTED' "$SP_DIR/emit.out")" $N "signals accepted"
sp_wait_ge 60 $N sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" \
    || fail "not all delivered"
sp_stop daemon
# as if they had arrived ten minutes ago: all past retention at once
# (an edit that audit verify reports; this test does not verify)
sp_sql "UPDATE signals SET received_at = received_at - 600000"
sp_start_daemon || fail "daemon did not restart"
purged() { sp_sql "SELECT COUNT(*) FROM signals WHERE event IS NULL"; }
sp_wait_ge 10 $N purged || fail "only $(purged) of $N purged: the purge waited for its interval"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'signal.purged'")" $N "purges audited"
echo "purge keeps pace OK"
