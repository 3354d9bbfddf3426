# shellcheck shell=bash
# tests/pg/pg-common.sh - shared by pg-start and pg-stop (sourced, not run).
#
# A private PostgreSQL cluster for the tests lives entirely in one
# directory DIR: the cluster in DIR/data, its unix socket in DIR (no TCP
# port at all), its log in DIR/pg.log and the postmaster's PID in
# DIR/postgres.pid.

# libpq and the PostgreSQL tools read PGHOST, PGPORT, PGUSER, PGDATABASE,
# PGSERVICE, PGOPTIONS, ... from the environment, and pg_ctl/initdb read
# PGDATA: a developer's settings must not send us to another server.
for pg_var_ in $(compgen -e); do
    case $pg_var_ in PG*) unset "$pg_var_";; esac
done
unset pg_var_

pg_die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# The directory of the PostgreSQL server programs. Not $PATH: Debian keeps
# initdb, pg_ctl and postgres in /usr/lib/postgresql/VERSION/bin, off the
# path. SEINPOST_PG_BINDIR overrides; then pg_config's (libpq-dev's
# version, the one we build against) if that server is installed; then the
# newest installed version.
pg_bindir() {
    local d
    for d in "${SEINPOST_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null)"; do
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        printf '%s\n' "$d"
        return 0
    fi
    return 1
}

# PostgreSQL refuses to run as root. As root the cluster belongs to the
# unprivileged user the Debian package creates; otherwise to the caller.
if [ "$(id -u)" -eq 0 ]; then
    PG_OS_USER=postgres
else
    PG_OS_USER=$(id -un)
fi

# Runs a command as the cluster's owner. runuser keeps the environment
# (cleaned of PG* above) and the working directory, so callers first cd
# somewhere that user may enter.
pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# True when PID is alive.
pg_alive() {
    kill -0 "$1" 2>/dev/null
}

# True when PID is the postmaster of the cluster in DATA (an absolute,
# physical path): the process is "postgres" and, as every postmaster does,
# has changed into its data directory. Guards against a reused PID.
pg_is_postmaster_of() {
    local pid=$1 data=$2 comm cwd
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    [ "$comm" = postgres ] && [ "$cwd" = "$data" ]
}

# Waits up to $2 seconds (in tenths) for PID $1 to be gone.
pg_wait_gone() {
    local pid=$1 i
    for ((i = 0; i < $2 * 10; i++)); do
        pg_alive "$pid" || return 0
        sleep 0.1
    done
    ! pg_alive "$pid"
}
