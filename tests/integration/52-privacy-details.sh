#!/usr/bin/env bash
# Privacy details (protocol.md 5.2, seinpostd(8)): a TYPE_UNKNOWN or
# TYPE_NOT_ALLOWED reason never quotes the type, so a BSN put in `type`
# reaches neither the reply nor the log nor the audit trail (nor any byte
# of the database); the daemon cannot dump core (RLIMIT_CORE 0, and not
# dumpable: the kernel then gives its /proc files to root, which shows
# once it runs as another user); its database is created 0600 whatever
# the umask, with its -wal and -shm, and a database or WAL that group or
# others may read is refused at start with a clear error and exit 1.
# On PostgreSQL (SP_DATABASE) the server keeps the files: what is checked
# of them is that no byte of a pg_dump of the database holds the BSN.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
BSN=999993653
umask 000
sp_start_daemon || fail "daemon start"
umask 022
for f in ${SP_DATABASE:-seinpost.db seinpost.db-wal seinpost.db-shm}; do
    [ -n "${SP_DATABASE:-}" ] && break
    assert_eq "$(stat -c %a "$SP_DIR/$f")" 600 "$f created 0600 under umask 000"
done

# 1. an unknown type holding a BSN, a type this emitter may not emit, and
#    a missing data field of a configured type: no reason names the type
reply=$(sp_emit "nl.bsn-$BSN.signaal" '{"gemeentecode":"0855"}' 2>&1)
case $reply in *TYPE_UNKNOWN*) ;; *) fail "unknown type: $reply";; esac
case $reply in *$BSN*) fail "the reply quotes the type: $reply";; esac
reply=$(sp_emit nl.gemeente.burgerzaken.adresonderzoek-gestart '{"gemeentecode":"0855","aanleiding":"x"}' 2>&1)
case $reply in *TYPE_NOT_ALLOWED*) ;; *) fail "type not allowed: $reply";; esac
case $reply in *adresonderzoek*) fail "the reply quotes the type: $reply";; esac
reply=$(sp_emit $VNA_TYPE '{"gemeentecode":"0855"}' 2>&1)
case $reply in *DATA_FIELD_MISSING*) ;; *) fail "data field missing: $reply";; esac
case $reply in *verblijft*) fail "the reply quotes the type: $reply";; esac
sp_wait_ge 5 3 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'signal.rejected'" || fail "3 rejections audited"
assert_eq "$(sp_sql "SELECT GROUP_CONCAT(code, ' ') FROM (SELECT json_extract(detail, '$.code') AS code
                     FROM audit WHERE kind = 'signal.rejected' ORDER BY seq) AS r")" \
    "TYPE_UNKNOWN TYPE_NOT_ALLOWED DATA_FIELD_MISSING" "the rejections audited"
sp_wait 5 grep -q "rejected DATA_FIELD_MISSING" "$SP_DIR/daemon.log" || fail "rejections logged"
grep -q -e "$BSN" -e adresonderzoek -e "verblijft-niet" "$SP_DIR/daemon.log" \
    && fail "the log quotes a type: $(grep -e "$BSN" -e adresonderzoek -e verblijft-niet "$SP_DIR/daemon.log")"
sp_sql "SELECT detail FROM audit WHERE kind = 'signal.rejected'" | grep -q -e "$BSN" -e adresonderzoek -e "verblijft-niet" \
    && fail "the audit trail quotes a type"
if [ -n "${SP_DATABASE:-}" ]; then
    pg_dump -f "$SP_DIR/dump.sql" "$SP_DATABASE" || fail "pg_dump"
    grep -a -q "$BSN" "$SP_DIR/dump.sql" && fail "the BSN is in the database"
else
    grep -a -q "$BSN" "$SP_DIR"/seinpost.db* && fail "the BSN is in a database file"
fi

# 2. no core dumps: RLIMIT_CORE 0 (seen as root too)
pid=$(cat "$SP_DIR/daemon.pid")
assert_eq "$(awk '/^Max core file size/ { print $5 " " $6 }' "/proc/$pid/limits")" "0 0" "core size limit"
sp_stop daemon
if [ -n "${SP_DATABASE:-}" ]; then
    echo "privacy details OK (PostgreSQL: the file modes are the server's)"
    exit 0
fi

# 3. a database group or others may read is refused, so is its WAL
chmod 644 "$SP_DIR/seinpost.db"
timeout 20 "$SP_BIN/seinpostd" -c "$conf" 2>"$SP_DIR/refused.log"
assert_eq $? 1 "started on a 0644 database"
grep -q "seinpost.db: database is accessible by group or others (mode 644); chmod 600 it" "$SP_DIR/refused.log" \
    || fail "no clear error: $(cat "$SP_DIR/refused.log")"
assert_eq "$(stat -c %a "$SP_DIR/seinpost.db")" 644 "the refused file is left as it is"
chmod 600 "$SP_DIR/seinpost.db"
touch "$SP_DIR/seinpost.db-wal" && chmod 640 "$SP_DIR/seinpost.db-wal"
timeout 20 "$SP_BIN/seinpostd" -c "$conf" 2>"$SP_DIR/refused.log"
assert_eq $? 1 "started on a 0640 WAL"
grep -q "seinpost.db-wal: database is accessible by group or others (mode 640)" "$SP_DIR/refused.log" \
    || fail "no clear error for the WAL: $(cat "$SP_DIR/refused.log")"
rm -f "$SP_DIR/seinpost.db-wal"

# 4. not dumpable: run as another user, the kernel gives its /proc files
#    to root; the daemon works as that user all the same
chown -R 65534:65534 "$SP_DIR"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$SP_BIN/seinpostd" -c "$conf" 2>>"$SP_DIR/daemon.log" &
echo $! > "$SP_DIR/daemon.pid"
sp_wait 20 "$SP_BIN/seinpost" status -c "$conf" || fail "daemon as uid 65534"
pid=$(cat "$SP_DIR/daemon.pid")
assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" 65534 "test setup: runs as uid 65534"
assert_eq "$(stat -c %u "/proc/$pid/status")" 0 "/proc/PID owned by root: the daemon is not dumpable"
sp_emit $GDB_TYPE "$GDB_DATA" $BSN | grep -q "^ACCEPTED" || fail "accepts as uid 65534"
echo "privacy details OK"
