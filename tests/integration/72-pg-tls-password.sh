#!/usr/bin/env bash
# The daemon reaches PostgreSQL as seinpost.yaml(5) shows it: over TCP
# with TLS checked against the database's CA (sslmode=verify-full,
# sslrootcert), as a role of its own whose password is in a file
# (passfile), none of it in the configuration. The server takes that
# role only over TLS with its password (SCRAM). The node routes, its
# session is encrypted (pg_stat_ssl), and the password is in no log.
# Refused, each with the server's or libpq's reason: a CA that did not
# sign the server's certificate, no TLS, no password file. As when the
# server is down, the node then waits as a standby and tries again (the
# database may come back), saying why: it routes nothing.
. "$(dirname "$0")/common.sh"
sp_pg_dir PGD || fail "no directory for PostgreSQL"
PORT=$((PORT_BASE + 7))
admin=$(tests/pg/pg-start --tcp "$PORT" "$PGD") || fail "PostgreSQL did not start (tests/pg/pg-start)"
a() { psql -X -q -At -v ON_ERROR_STOP=1 "$admin" -c "$*"; }
PASSWORD=$(openssl rand -hex 16)
mkdir -p "$SP_DIR/tls"

# a CA, the server's certificate for 127.0.0.1, and a CA that signed nothing
t=$SP_DIR/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=test database CA" -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null || fail "CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=another CA" -keyout "$t/other.key" -out "$t/other.crt" 2>/dev/null || fail "other CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null || fail "server key"
printf 'subjectAltName = IP:127.0.0.1\n' > "$t/san.ext"
openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
    -days 2 -extfile "$t/san.ext" -out "$t/server.crt" 2>/dev/null || fail "server certificate"
install -m 0600 "$t/server.key" "$PGD/data/server.key"
install -m 0644 "$t/server.crt" "$PGD/data/server.crt"
owner=$(stat -c %U "$PGD/data")
chown "$owner:" "$PGD/data/server.key" "$PGD/data/server.crt"

# the role, reachable over TLS with its password only
a "CREATE ROLE seinpost_app LOGIN PASSWORD '$PASSWORD'" || fail "create role"
a "ALTER DATABASE seinpost OWNER TO seinpost_app" || fail "database owner"
a "ALTER SYSTEM SET ssl = on" || fail "ssl on"
printf '%s\n' "local all all trust" \
    "hostssl seinpost seinpost_app 127.0.0.1/32 scram-sha-256" \
    "host all all 127.0.0.1/32 reject" > "$PGD/data/pg_hba.conf"
a "SELECT pg_reload_conf()" >/dev/null
sp_wait 10 sh -c "[ \"\$(psql -X -At '$admin' -c 'SHOW ssl')\" = on ]" || fail "ssl did not come on"

printf '127.0.0.1:%s:seinpost:seinpost_app:%s\n' "$PORT" "$PASSWORD" > "$SP_DIR/pgpass"
chmod 0600 "$SP_DIR/pgpass"
uri() {     # uri SSLMODE CA PASSFILE
    echo "postgresql://seinpost_app@127.0.0.1:$PORT/seinpost?sslmode=$1&sslrootcert=$2&passfile=$3&connect_timeout=5"
}
SP_DATABASE=$(uri verify-full "$t/ca.crt" "$SP_DIR/pgpass")
SP_METRICS=127.0.0.1:$((PORT_BASE + 8))
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
grep -q "$PASSWORD" "$SP_DIR/seinpost.yaml" && fail "test setup: the password is in the configuration"

sp_start_partner toeslagen
sp_start_daemon || fail "daemon start over TLS with a password file"
sp_emit "$GDB_TYPE" "$GDB_DATA" | grep -q "^ACCEPTED" || fail "signal not accepted"
sp_wait_ge 10 1 sp_lines "$SP_DIR/toeslagen.out" || fail "signal not handled"
assert_eq "$(a "SELECT COUNT(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                WHERE a.usename = 'seinpost_app' AND NOT s.ssl")" 0 "sessions without TLS"
[ "$(a "SELECT COUNT(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.usename = 'seinpost_app' AND s.ssl")" -ge 1 ] || fail "no TLS session of the node"
sp_stop daemon

# refused, with the reason; never with the password
refused() {     # refused NAME URI REASON-PATTERN
    sed "s|^database: .*|database: ${2//&/\\&}|" "$SP_DIR/seinpost.yaml" > "$SP_DIR/$1.yaml"
    "$SP_BIN/seinpostd" -c "$SP_DIR/$1.yaml" 2>"$SP_DIR/$1.log" &
    echo $! > "$SP_DIR/$1.pid"
    sp_wait 15 grep -q -i -e "$3" "$SP_DIR/$1.log" || fail "$1: no reason: $(cat "$SP_DIR/$1.log")"
    grep -q "standby: .*trying again" "$SP_DIR/$1.log" || fail "$1: $(cat "$SP_DIR/$1.log")"
    out=$("$SP_BIN/seinpost" status -c "$SP_DIR/$1.yaml" --json 2>&1)
    assert_eq "$(jq -r .role <<<"$out")" standby "$1: its role ($out)"
    assert_eq "$(jq -r .active <<<"$out")" "" "$1: no node named active ($out)"
    jq -r .database_error <<<"$out" | grep -q -i -e "$3" || fail "$1: status gives no reason: $out"
    "$SP_BIN/seinpost" status -c "$SP_DIR/$1.yaml" | grep -q "^standby: the database does not answer: " \
        || fail "$1: status says: $("$SP_BIN/seinpost" status -c "$SP_DIR/$1.yaml")"
    # Prometheus hears the role and that the database does not answer;
    # the reason, which names the server, stays in the log and on the
    # admin socket
    curl -sf "http://$SP_METRICS/metrics" > "$SP_DIR/$1.metrics" || fail "$1: no metrics"
    /usr/bin/python3 tests/tools/openmetrics-check.py "$SP_DIR/$1.metrics" > "$SP_DIR/$1.samples" \
        || fail "$1: metrics not OpenMetrics"
    grep -qx 'seinpost_node_active{} 0' "$SP_DIR/$1.samples" || fail "$1: $(cat "$SP_DIR/$1.samples")"
    grep -qx 'seinpost_standby_database_up{} 0' "$SP_DIR/$1.samples" \
        || fail "$1: $(cat "$SP_DIR/$1.samples")"
    grep -q "active_node_info" "$SP_DIR/$1.samples" && fail "$1: an active node named: $(cat "$SP_DIR/$1.samples")"
    sp_stop "$1"
    grep -q "ready: ingress" "$SP_DIR/$1.log" && fail "$1: the node started routing"
}
refused wrong-ca "$(uri verify-full "$t/other.crt" "$SP_DIR/pgpass")" "certificate verify failed"
refused no-tls "$(uri disable "$t/ca.crt" "$SP_DIR/pgpass")" "rejects connection\|no encryption"
refused no-password "$(uri verify-full "$t/ca.crt" "$SP_DIR/no-such-pgpass")" "password"
grep -l "$PASSWORD" "$SP_DIR"/*.log "$SP_DIR"/*.err 2>/dev/null && fail "the password is in a log"
echo "TLS (verify-full) and a password file: routed, every session encrypted; wrong CA, no TLS, no password refused"
