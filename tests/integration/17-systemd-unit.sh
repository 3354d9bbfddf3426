#!/usr/bin/env bash
# The installed systemd unit: `systemd-analyze verify` accepts it (directives,
# the ExecStart binary, the man pages named in Documentation=), its sandbox
# allows every system call and socket family seinpostd uses, and
# `systemd-analyze security` rates it in the OK band (score printed).
. "$(dirname "$0")/common.sh"
trap 'sp_stop_all; rm -rf "$SP_DIR"' EXIT

# Highest exposure accepted. systemd's bands: below 1.0 SAFE, 1.0 to 4.9
# OK, 5.0 to 7.4 MEDIUM; a daemon that needs nothing but its state
# directory and its sockets stays in the lower part of OK.
MAX_EXPOSURE=${SP_MAX_EXPOSURE:-3.0}

# systemd-analyze and man(1) (verify looks up Documentation= pages); apt-get
# brings them when missing (.ci/install-deps lists them for CI).
need() {   # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    { $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null; } \
        || fail "$1 is missing and apt-get could not install $2"
}
need systemd-analyze systemd
need man man-db
need python3 python3

# Installed with PREFIX inside the test directory (and no DESTDIR), the
# unit's ExecStart= names a binary that really exists, so verify can check
# it; this also checks the install target's rewriting of the path.
PREFIX=$SP_DIR/prefix
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install PREFIX="$PREFIX" DESTDIR= \
    >"$SP_DIR/make.log" 2>&1 || { tail -20 "$SP_DIR/make.log" >&2; fail "make install PREFIX=$PREFIX"; }
UNIT=$PREFIX/lib/systemd/system/seinpostd.service
[ -f "$UNIT" ] || fail "no unit at $UNIT"
assert_eq "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT")" "$PREFIX/sbin/seinpostd" "ExecStart binary"
assert_eq "$(sed -n 's/^ExecStartPre=\([^ ]*\).*/\1/p' "$UNIT")" "$PREFIX/sbin/seinpostd" "ExecStartPre binary"
[ -x "$PREFIX/sbin/seinpostd" ] || fail "$PREFIX/sbin/seinpostd is not executable"

# verify: MANPATH makes the Documentation= pages resolvable to the installed
# ones. Its output is all warnings, so any line about our unit fails the test.
MANPATH=$PREFIX/share/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$UNIT" \
    >"$SP_DIR/verify.out" 2>&1
verify_rc=$?
if [ $verify_rc -ne 0 ] || grep -q 'seinpost' "$SP_DIR/verify.out"; then
    cat "$SP_DIR/verify.out" >&2
    fail "systemd-analyze verify (exit $verify_rc)"
fi
# and it does notice a missing binary (the check above is not vacuous)
sed "s|^ExecStart=$PREFIX/sbin/seinpostd|ExecStart=$SP_DIR/nonexistent/seinpostd|" "$UNIT" \
    > "$SP_DIR/seinpostd.service"
MANPATH=$PREFIX/share/man systemd-analyze verify "$SP_DIR/seinpostd.service" >/dev/null 2>&1 \
    && fail "verify accepted an ExecStart= binary that does not exist"

# What the daemon's behaviour relies on: it sends READY/WATCHDOG/STOPPING
# itself from the main process, reloads on SIGHUP, needs no privileges.
# shellcheck disable=SC2016
for re in '^Type=notify$' '^NotifyAccess=main$' '^WatchdogSec=[1-9]' \
          '^ExecReload=.*kill -HUP \$MAINPID$' '^User=seinpost$' '^StateDirectory=seinpost$' \
          '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^CapabilityBoundingSet=$'; do
    grep -q -- "$re" "$UNIT" || fail "unit has no line matching '$re'"
done
# sysusers/tmpfiles name the user and directories the unit runs with
grep -q '^u seinpost ' "$PREFIX/lib/sysusers.d/seinpost.conf" || fail "sysusers: no user seinpost"
grep -q '^d /var/lib/seinpost 0711 seinpost seinpost' "$PREFIX/lib/tmpfiles.d/seinpost.conf" \
    || fail "tmpfiles: /var/lib/seinpost"
# and the auditor role (seinpost(1)): its group, the database it reads
grep -q '^g seinpost-audit ' "$PREFIX/lib/sysusers.d/seinpost.conf" || fail "sysusers: no group seinpost-audit"
grep -q '^d /var/lib/seinpost/db 2750 seinpost seinpost-audit' "$PREFIX/lib/tmpfiles.d/seinpost.conf" \
    || fail "tmpfiles: /var/lib/seinpost/db"
grep -q '^StateDirectoryMode=0711$' "$UNIT" || fail "unit: StateDirectoryMode= differs from tmpfiles.d"

# security: --offline needs systemd 252 or later
score=""
version=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
if [ "${version:-0}" -ge 252 ]; then
    SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=true --no-pager "$UNIT" \
        >"$SP_DIR/security.out" 2>&1
    score=$(sed -n 's/.*Overall exposure level for seinpostd\.service: \([0-9.]*\).*/\1/p' \
            "$SP_DIR/security.out")
    [ -n "$score" ] || { cat "$SP_DIR/security.out" >&2; fail "no exposure score"; }
    echo "exposure $score; remaining findings:"
    grep '^✗' "$SP_DIR/security.out" | sed 's/  */ /g; s/^/  /'
else
    echo "systemd $version has no 'security --offline': exposure not rated"
fi

# The sandbox lets the daemon do what it does. Checked against the unit's
# own SystemCallFilter= and RestrictAddressFamilies= (groups expanded by
# systemd-analyze): every system call seinpostd was seen making on Debian 12
# (strace of start, emit, delivery, retry, dead letter, alert, reload,
# redeliver, stop) and the socket families it opens. Two are easy to miss:
# libzmq's I/O threads call pthread_setschedparam() (sched_setscheduler,
# in @resources; a refusal is SIGSYS, or an assertion in libzmq), and
# libzmq resolves bind addresses with getifaddrs(), which needs AF_NETLINK
# (without it: "Address family not supported by protocol
# (src/ip_resolver.cpp:542)" and SIGABRT).
if ! python3 - "$UNIT" >"$SP_DIR/sandbox.out" 2>&1 <<'PY'
import subprocess, sys

NEEDED_SYSCALLS = """accept4 access arch_prctl bind brk clone3 close connect epoll_create1
    epoll_ctl epoll_wait eventfd2 execve exit_group fchmod fcntl fdatasync fsync
    ftruncate futex geteuid getpeername getpid getrandom getsockname getsockopt
    listen lseek madvise mlock mmap mprotect munlock munmap newfstatat openat poll
    prctl pread64 prlimit64 pwrite64 read readlink recvfrom recvmsg rename rseq
    rt_sigaction rt_sigprocmask sched_getaffinity sched_getparam sched_getscheduler
    sched_setscheduler sendto set_robust_list set_tid_address setsockopt socket
    umask unlink wait4 write""".split()
NEEDED_FAMILIES = ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]

cache = {}
def expand(item):
    if not item.startswith("@"):
        return {item}
    if item not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", item],
                             capture_output=True, text=True, check=True).stdout
        names, first = set(), True
        for line in out.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if first and line == item:
                first = False
                continue
            names |= expand(line)
        cache[item] = names
    return cache[item]

def values(key):
    prefix = key + "="
    return [l[len(prefix):].strip() for l in open(sys.argv[1]).read().splitlines()
            if l.startswith(prefix)]

bad = []
allow, deny, mode = set(), set(), None
for value in values("SystemCallFilter"):
    if not value:
        allow, deny, mode = set(), set(), None
        continue
    negate = value.startswith("~")
    items = set().union(*(expand(i) for i in value.lstrip("~").split()))
    if mode is None:
        mode = "deny" if negate else "allow"
    if mode == "allow":
        allow = allow - items if negate else allow | items
    else:
        deny = deny | items if negate else deny - items
for call in NEEDED_SYSCALLS:
    if (mode == "allow" and call not in allow) or (mode == "deny" and call in deny):
        bad.append("SystemCallFilter= refuses %s" % call)

fams, fmode = set(), None
for value in values("RestrictAddressFamilies"):
    if not value or value == "none":
        fams, fmode = set(), (None if not value else "allow")
        continue
    negate = value.startswith("~")
    items = set(value.lstrip("~").split())
    if fmode is None:
        fmode = "deny" if negate else "allow"
    if fmode == "allow":
        fams = fams - items if negate else fams | items
    else:
        fams = fams | items if negate else fams - items
for family in NEEDED_FAMILIES:
    if (fmode == "allow" and family not in fams) or (fmode == "deny" and family in fams):
        bad.append("RestrictAddressFamilies= refuses %s" % family)

print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
then
    cat "$SP_DIR/sandbox.out" >&2
    fail "the unit's sandbox refuses what seinpostd needs"
fi

if [ -n "$score" ]; then
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 < m + 0) }' \
        || fail "exposure $score is not below $MAX_EXPOSURE"
fi
echo "systemd unit OK: verify clean, sandbox fits the daemon${score:+, exposure $score}"
