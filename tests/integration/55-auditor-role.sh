#!/usr/bin/env bash
# The auditor role (seinpost(1), Auditor role): a second Unix user in the
# group seinpost-audit, laid out as documented (configuration and public
# keys group-readable, the database directory setgid, the database 0640,
# the node's secret key and the node secret 0600 to the daemon's user),
# runs `audit verify`, `show` and `list` against a live daemon's database,
# and again once the daemon has stopped. It cannot read the secret key or
# the node secret, and verify says which checks that left out.
# sqlite-only: access by the modes of the SQLite file, -wal and -shm; PostgreSQL grants it to roles
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || fail "must run as root (CI does): it creates a second Unix user"
GROUP=seinpost-audit
AUDITOR=spaudit$$
made_group=0
trap 'rc=$?; sp_stop_all; userdel "$AUDITOR" 2>/dev/null
      [ $made_group = 1 ] && groupdel "$GROUP"
      [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT
if ! getent group "$GROUP" >/dev/null; then
    groupadd --system "$GROUP" || fail "groupadd $GROUP"
    made_group=1
fi
useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin -N -g nogroup \
    -G "$GROUP" "$AUDITOR" || fail "useradd $AUDITOR"
as_auditor() { setpriv --reuid="$AUDITOR" --regid=nogroup --init-groups "$@"; }

sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
conf=$SP_DIR/seinpost.yaml
db=$SP_DIR/db/seinpost.db
sed -i 's|^database: seinpost.db$|database: db/seinpost.db|' "$conf"
# the binary where the auditor may run it, whatever the checkout's modes
mkdir "$SP_DIR/bin" && install -m 0755 "$SP_BIN/seinpost" "$SP_DIR/bin/seinpost"
CLI=$SP_DIR/bin/seinpost
# as documented: /etc/seinpost and its keys, /var/lib/seinpost/db
chgrp -R "$GROUP" "$SP_DIR" && chmod 0750 "$SP_DIR" "$SP_DIR/keys" "$SP_DIR/bin"
chmod 0640 "$conf"
mkdir -m 2750 "$SP_DIR/db" && chgrp "$GROUP" "$SP_DIR/db"
install -m 0640 -g "$GROUP" /dev/null "$db"      # tmpfiles.d's "f" line
sp_start_daemon || fail "daemon start on a 0640 database of group $GROUP"
sp_start_partner toeslagen
out=$(sp_emit "$GDB_TYPE" "$GDB_DATA" 999993653) || fail "emit 1: $out"
id=$(printf '%s' "$out" | sed -n 's/.*(id \(.*\))$/\1/p')
sp_emit "$VNA_TYPE" '{"gemeentecode":"0855","vastgesteldOp":"2026-11-21"}' 999993653 \
    | grep -q '^ACCEPTED' || fail "emit 2"
delivered() { sqlite3 -cmd ".timeout 5000" "$db" "SELECT COUNT(*) FROM deliveries WHERE state = 1"; }
sp_wait_ge 10 1 delivered || fail "signal 1 not delivered"

# SQLite gave the WAL and shared-memory files the database's mode, and
# the setgid directory its group
for f in "$db" "$db-wal" "$db-shm"; do
    assert_eq "$(stat -c '%a %G' "$f")" "640 $GROUP" "mode and group of ${f##*/}"
done
for f in "$SP_DIR/keys/node.key" "$db.secret"; do
    [ -f "$f" ] || fail "${f##*/} missing"
    assert_eq "$(stat -c %a "$f")" 600 "mode of ${f##*/}"
    as_auditor cat "$f" >/dev/null 2>&1 && fail "the auditor could read ${f##*/}"
done
as_auditor cat "$SP_DIR/keys/node.key.pub" >/dev/null || fail "the auditor cannot read node.key.pub"

# live: verify, show, list as the auditor
check_auditor() {   # check_auditor WHEN
    local v rc
    v=$(as_auditor "$CLI" audit verify -c "$conf" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || fail "$1: audit verify as the auditor exited $rc: $v"
    printf '%s\n' "$v" | grep -q '^OK: audit chain of ' || fail "$1: verify: $v"
    printf '%s\n' "$v" | grep -q "^note: no read access to the node secret (.*): 2 stored payloads not opened, so for each neither the payload's match with its stored SHA-256 nor the emitter's signature over it was checked; every other check ran$" \
        || fail "$1: verify does not say what it skipped: $v"
    v=$(as_auditor "$CLI" audit show "$id" -c "$conf" 2>&1) || fail "$1: audit show as the auditor: $v"
    printf '%s\n' "$v" | grep -q "^signal $id " || fail "$1: show: $v"
    printf '%s\n' "$v" | grep -q "delivery.receipt" || fail "$1: show lacks the receipt: $v"
    v=$(as_auditor "$CLI" audit list -c "$conf" --json 2>&1) || fail "$1: audit list as the auditor: $v"
    printf '%s\n' "$v" | jq -e -s 'map(select(.kind == "signal.accepted")) | length == 2' \
        >/dev/null || fail "$1: list: $v"
}
check_auditor "daemon running"
# what needs the node secret says so, and is not done
v=$(as_auditor "$CLI" audit verify -c "$conf" --strict 2>&1)
assert_eq $? 3 "verify --strict without the node secret"
printf '%s\n' "$v" | grep -q "needs the node secret" || fail "--strict: $v"
as_auditor "$CLI" audit list -c "$conf" --subject 999993653 >/dev/null 2>&1
assert_eq $? 3 "list --subject without the node secret"
# the daemon's user checks the payloads as well, with no such note
v=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "verify as the daemon's user: $v"
printf '%s\n' "$v" | grep -q "node secret" && fail "a note for the daemon's user: $v"
printf '%s\n' "$v" | grep -q "^OK: .* 2 emitter signatures," || fail "payloads unchecked: $v"

# stopped: SQLite removed the -wal and -shm, which the auditor could not
# create; the database is read as it is
sp_stop daemon
if [ -e "$db-wal" ] || [ -e "$db-shm" ]; then fail "the daemon left its -wal or -shm behind"; fi
check_auditor "daemon stopped"
[ ! -e "$db-shm" ] || fail "the auditor's run created a -shm"
echo "auditor role OK"
