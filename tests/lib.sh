# tests/lib.sh - shared by the demo and the integration tests.
#
# sp_setup DIR PORT_BASE     keys and configs for: the daemon, one emitter
#                            (burgerzaken-tilburg), two partners (toeslagen,
#                            belastingdienst), all on 127.0.0.1 with CURVE.
# sp_start_daemon / sp_start_partner NAME / sp_stop NAME / sp_stop_all
# Every process is started in the background with its PID in DIR/NAME.pid
# and stopped by that PID; nothing is killed by name.
#
# Variables (set before sp_setup to change the generated daemon config):
#   SP_RECEIPT_TIMEOUT (2s)  SP_RETRY_INITIAL (200ms)  SP_RETRY_MAX (2s)
#   SP_MAX_AGE (72h)  SP_CHECKPOINT (60s)  SP_ALERT_COMMAND ("")
#   SP_DATABASE (seinpost.db): a PostgreSQL URI runs the daemon on that
#   database (tests/pg/pg-start); the node secret is then keys/node.secret
#   and sp_sql asks the server with psql
#   SP_UWV (""): a third partner, uwv (port PORT_BASE + 3), subscribed to
#   geen-dubbele-bewoning in 0855

: "${BIN:=build}"
SP_BIN=$(cd "$BIN" && pwd)

sp_log() { printf '%s\n' "$*" >&2; }

sp_keys() {
    local dir=$1 name
    mkdir -p "$dir/keys"
    for name in node burgerzaken toeslagen belastingdienst ${SP_UWV:+uwv}; do
        "$SP_BIN/seinpost" keygen -o "$dir/keys/$name.key" | sed -n 's/^public_key: //p' \
            > "$dir/keys/$name.pubtext"
        "$SP_BIN/seinpost" keygen --curve -o "$dir/keys/$name.curve" \
            | sed -n 's/^curve_public_key: //p' > "$dir/keys/$name.curvepub"
    done
}

sp_pub() { cat "$SP_DIR/keys/$1.pubtext"; }
sp_curvepub() { cat "$SP_DIR/keys/$1.curvepub"; }

# sp_subscriber_yaml NAME PORT: a subscriber's entry up to its
# subscriptions, with the retry settings of the variables above
sp_subscriber_yaml() {
    cat <<YAML
  - name: $1
    endpoint: tcp://127.0.0.1:$2
    public_key: $(sp_pub "$1")
    curve_public_key: "$(sp_curvepub "$1")"
    receipt_timeout: ${SP_RECEIPT_TIMEOUT:-2s}
    retry: { initial: ${SP_RETRY_INITIAL:-200ms}, multiplier: 2, max_delay: ${SP_RETRY_MAX:-2s}, max_age: ${SP_MAX_AGE:-72h}, jitter: 0.1 }
YAML
}

sp_write_daemon_config() {
    cat > "$SP_DIR/seinpost.yaml" <<YAML
node:
  name: seinpost-test
  signing_key: keys/node.key
  curve_secret_key: keys/node.curve
${SP_DATABASE:+  pseudonym_key: keys/node.secret}
${SP_LEASE:+  lease: $SP_LEASE}
listen:
  ingress: tcp://127.0.0.1:$SP_PORT_INGRESS
  admin: ipc://admin.sock
${SP_METRICS:+  metrics: $SP_METRICS}
database: ${SP_DATABASE:-seinpost.db}
limits:
  clock_skew: 0s
audit:
  checkpoint_interval: ${SP_CHECKPOINT:-60s}
${SP_ALERT_COMMAND:+  alert_command: $SP_ALERT_COMMAND}
${SP_ALERT_COMMAND:+  alert_interval: 1s}
signal_types:
  - type: nl.gemeente.burgerzaken.geen-dubbele-bewoning
    subject_id_type: BSN
    retention: ${SP_RETENTION:-30d}
    data:
      gemeentecode: string
      nummeraanduidingIdentificatie: string
      bewonerBsn: { type: string, subject_id: true }
      vastgesteldOp: string
  - type: nl.gemeente.burgerzaken.verblijft-niet-op-adres
    subject_id_type: BSN
    data:
      gemeentecode: string
      vastgesteldOp: string
  - type: nl.gemeente.burgerzaken.adresonderzoek-gestart
    data:
      gemeentecode: string
      aanleiding: string
emitters:
  - name: burgerzaken-tilburg
    oin: "00000001001234567000"
    public_key: $(sp_pub burgerzaken)
    curve_public_key: "$(sp_curvepub burgerzaken)"
    types:
      - nl.gemeente.burgerzaken.geen-dubbele-bewoning
      - nl.gemeente.burgerzaken.verblijft-niet-op-adres
subscribers:
  - name: toeslagen
    endpoint: tcp://127.0.0.1:$SP_PORT_TOESLAGEN
    public_key: $(sp_pub toeslagen)
    curve_public_key: "$(sp_curvepub toeslagen)"
    window: ${SP_WINDOW:-64}
    receipt_timeout: ${SP_RECEIPT_TIMEOUT:-2s}
    batch_linger: ${SP_LINGER:-5ms}
    retry: { initial: ${SP_RETRY_INITIAL:-200ms}, multiplier: 2, max_delay: ${SP_RETRY_MAX:-2s}, max_age: ${SP_MAX_AGE:-72h}, jitter: 0.1 }
    subscriptions:
      - name: huurtoeslag-bewoning
        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning
        filter:
          - { field: data.gemeentecode, any_of: ["0855", "0796"] }
        grondslag:
          text: "Awir art. 9 en 10: toetsing huishouden voor huurtoeslag"
          activity: "https://verwerkingsregister.example/toeslagen/huurtoeslag-bewoning"
$(sp_subscriber_yaml belastingdienst "$SP_PORT_BELASTINGDIENST")
    subscriptions:
      - name: verblijf-tilburg
        type: nl.gemeente.burgerzaken.verblijft-niet-op-adres
        filter:
          - { field: data.gemeentecode, exact: "0855" }
        grondslag:
          text: "AWR art. 53: gegevensverstrekking voor de heffing"
          activity: "https://verwerkingsregister.example/belastingdienst/adres"
      - name: bewoning-prefix
        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning
        filter:
          - { field: source, prefix: "urn:nld:oin:00000001001234567000" }
          - { field: data.gemeentecode, exact: "0796" }
        grondslag:
          text: "AWR art. 53: gegevensverstrekking voor de heffing"
          activity: "https://verwerkingsregister.example/belastingdienst/bewoning"
YAML
    [ -n "${SP_UWV:-}" ] && cat >> "$SP_DIR/seinpost.yaml" <<YAML
$(sp_subscriber_yaml uwv "$SP_PORT_UWV")
    subscriptions:
      - name: bewoning-tilburg
        type: nl.gemeente.burgerzaken.geen-dubbele-bewoning
        filter:
          - { field: data.gemeentecode, exact: "0855" }
        grondslag:
          text: "Wet SUWI art. 54: gegevensverstrekking voor uitkeringen"
          activity: "https://verwerkingsregister.example/uwv/bewoning"
YAML
    return 0
}

sp_write_client_configs() {
    cat > "$SP_DIR/burgerzaken.yaml" <<YAML
endpoint: tcp://127.0.0.1:$SP_PORT_INGRESS
signing_key: keys/burgerzaken.key
source: urn:nld:oin:00000001001234567000:systeem:burgerzaken
curve_secret_key: keys/burgerzaken.curve
server_curve_public_key: "$(sp_curvepub node)"
YAML
    local name port
    for name in toeslagen belastingdienst ${SP_UWV:+uwv}; do
        port=$SP_PORT_TOESLAGEN
        [ "$name" = belastingdienst ] && port=$SP_PORT_BELASTINGDIENST
        [ "$name" = uwv ] && port=$SP_PORT_UWV
        cat > "$SP_DIR/$name.yaml" <<YAML
listen: tcp://127.0.0.1:$port
signing_key: keys/$name.key
curve_secret_key: keys/$name.curve
subscriber: $name
router_public_key: $(sp_pub node)
router_curve_public_key: "$(sp_curvepub node)"
emitter_public_keys:
  - $(sp_pub burgerzaken)
YAML
    done
}

sp_setup() {
    SP_DIR=$1
    SP_PORT_INGRESS=$2
    SP_PORT_TOESLAGEN=$(($2 + 1))
    SP_PORT_BELASTINGDIENST=$(($2 + 2))
    SP_PORT_UWV=$(($2 + 3))    # the third partner, with SP_UWV set
    mkdir -p "$SP_DIR"
    sp_keys "$SP_DIR"
    sp_write_daemon_config
    sp_write_client_configs
}

# sp_wait SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds.
sp_wait() {
    local limit=$(( $1 * 10 )) i=0
    shift
    while [ $i -lt $limit ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# sp_wait_ge SECONDS MIN COMMAND...: polls until COMMAND prints a number >= MIN.
sp_wait_ge() {
    local limit=$(( $1 * 10 )) min=$2 i=0 value
    shift 2
    while [ $i -lt $limit ]; do
        value=$("$@" 2>/dev/null)
        [ -n "$value" ] && [ "$value" -ge "$min" ] 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

sp_alive() { [ -f "$SP_DIR/$1.pid" ] && kill -0 "$(cat "$SP_DIR/$1.pid")" 2>/dev/null; }

sp_start_daemon() {
    "$SP_BIN/seinpostd" -c "$SP_DIR/seinpost.yaml" "$@" 2>>"$SP_DIR/daemon.log" &
    echo $! > "$SP_DIR/daemon.pid"
    sp_wait 20 "$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" || {
        sp_log "daemon did not come up:"; tail -5 "$SP_DIR/daemon.log" >&2; return 1; }
}

sp_start_partner() {
    local name=$1
    shift
    "$SP_BIN/seinpost" listen -c "$SP_DIR/$name.yaml" "$@" >>"$SP_DIR/$name.out" \
        2>>"$SP_DIR/$name.err" &
    echo $! > "$SP_DIR/$name.pid"
}

# sp_stop NAME [SIGNAL]: stops one process by its PID and waits for it.
sp_stop() {
    local name=$1 sig=${2:-TERM} pid i=0
    [ -f "$SP_DIR/$name.pid" ] || return 0
    pid=$(cat "$SP_DIR/$name.pid")
    kill -"$sig" "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$SP_DIR/$name.pid"
}

sp_stop_all() {
    local f
    for f in "$SP_DIR"/*.pid; do
        [ -e "$f" ] || continue
        sp_stop "$(basename "$f" .pid)"
    done
}

# sp_emit TYPE DATA_JSON [SUBJECT]: emits one signal, prints the reply line.
sp_emit() {
    local type=$1 data=$2 subject=${3:-}
    printf '%s' "$data" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" \
        --type "$type" ${subject:+--subject "$subject"} --data - --timeout 10000
}

# The tests' own queries see tests/pg/compat.sql's SQLite functions;
# seinpost's sessions do not.
SP_PG_TEST_PATH="-c search_path=public,sqlite_compat"
sp_lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
sp_sql() {
    if [ -n "${SP_DATABASE:-}" ]; then
        PGOPTIONS="$SP_PG_TEST_PATH" psql -X -q -At -v ON_ERROR_STOP=1 "$SP_DATABASE" -c "$*"
    else
        sqlite3 -cmd ".timeout 5000" "$SP_DIR/seinpost.db" "$@"
    fi
}

# sp_conf_cut FILE FROM TO: removes FILE's text from the first FROM up to,
# not including, the first TO (a subscriber or subscription block).
sp_conf_cut() {
    python3 - "$@" <<'PY'
import sys
path, first, last = sys.argv[1:4]
text = open(path).read()
start, end = text.index(first), text.index(last)
open(path, "w").write(text[:start] + text[end:])
PY
}

# sp_events [KIND]: how many events (of KIND) the chain holds, as
# `seinpost audit list` shows them. Since audit rows version 3, a signal's routes
# are entries of its signal.accepted row, a batch's sends of its
# batch.sent row and a receipt's settled deliveries of its batch.receipt
# row (protocol.md 13.1); older rows, one per delivery, count as they are.
sp_events() {
    if [ $# -eq 0 ]; then
        sp_sql "SELECT (SELECT COUNT(*) FROM audit WHERE kind NOT IN ('batch.sent', 'batch.receipt'))
            + (SELECT COUNT(*) FROM audit a, json_each(a.detail, '\$.routes')
               WHERE a.kind = 'signal.accepted')
            + (SELECT COUNT(*) FROM audit a, json_each(a.detail, '\$.entries')
               WHERE a.kind IN ('batch.sent', 'batch.receipt'))"
        return
    fi
    local rows="SELECT COUNT(*) FROM audit WHERE kind = '$1'" row=""
    case $1 in
        delivery.routed) row="signal.accepted"; set -- "$1" routes ;;
        delivery.attempt) row="batch.sent"; set -- "$1" entries ;;
        delivery.receipt) row="batch.receipt"; set -- "$1" entries ;;
    esac
    [ -z "$row" ] && { sp_sql "$rows"; return; }
    sp_sql "SELECT ($rows) + (SELECT COUNT(*) FROM audit a, json_each(a.detail, '\$.$2')
                               WHERE a.kind = '$row')"
}

# sp_blob_text COLUMN: SQL that reads a BLOB (bytea) column of JSON text
# as text, on either engine
sp_blob_text() {
    if [ -n "${SP_DATABASE:-}" ]; then echo "convert_from($1, 'UTF8')"; else echo "CAST($1 AS TEXT)"; fi
}

# sp_pg_dir VAR: a new directory for a PostgreSQL cluster of the test's
# own (tests/pg/pg-start), its path in VAR; sp_pg_stop_all (on exit, by
# tests/integration/common.sh) stops each cluster by its PID and removes
# its directory, the newest first: a replica before its primary.
SP_PG_DIRS=()
sp_pg_dir() {
    local dir
    dir=$(mktemp -d /tmp/seinpost-pg.XXXXXX) || return 1
    SP_PG_DIRS+=("$dir")
    printf -v "$1" '%s' "$dir"
}
sp_pg_stop_all() {
    local i
    for ((i = ${#SP_PG_DIRS[@]} - 1; i >= 0; i--)); do
        tests/pg/pg-stop "${SP_PG_DIRS[i]}" >/dev/null 2>&1
        rm -rf "${SP_PG_DIRS[i]}"
    done
}

# Nodes taking turns on one PostgreSQL database (SP_DATABASE; tests 67,
# 69). sp_pg_nodes, after sp_setup: node-a.yaml as the daemon's
# configuration, node-b.yaml with its own ingress (PORT+5), admin
# socket and metrics port (SP_METRICS's + 1), as on another machine; the
# emitter lists both ingresses.
sp_pg_nodes() {
    local port_b=$((SP_PORT_INGRESS + 5))
    cp "$SP_DIR/seinpost.yaml" "$SP_DIR/node-a.yaml"
    sed -e 's|ipc://admin.sock|ipc://admin-b.sock|' \
        -e "s|tcp://127.0.0.1:$SP_PORT_INGRESS\$|tcp://127.0.0.1:$port_b|" \
        ${SP_METRICS:+-e "s|metrics: $SP_METRICS\$|metrics: ${SP_METRICS%:*}:$((${SP_METRICS##*:} + 1))|"} \
        "$SP_DIR/seinpost.yaml" > "$SP_DIR/node-b.yaml"
    sed -i "s|^endpoint: .*|endpoint: tcp://127.0.0.1:$SP_PORT_INGRESS,tcp://127.0.0.1:$port_b|" \
        "$SP_DIR/burgerzaken.yaml"
    grep -q "ingress: tcp://127.0.0.1:$port_b" "$SP_DIR/node-b.yaml"
}

# sp_node NAME: runs seinpostd with NAME's configuration again whenever it
# exits (after 0.2 s), until DIR/stop exists; the daemon's PID is in
# NAME.daemon.pid, the supervisor's in NAME-sup.pid.
sp_node() {
    local name=$1
    (
        while [ ! -e "$SP_DIR/stop" ]; do
            "$SP_BIN/seinpostd" -c "$SP_DIR/$name.yaml" 2>>"$SP_DIR/$name.log" &
            echo $! > "$SP_DIR/$name.daemon.pid"
            wait $!
            echo "$? $(date +%s.%N)" >> "$SP_DIR/$name.exits"
            sleep 0.2
        done
    ) &
    echo $! > "$SP_DIR/$name-sup.pid"
}

# sp_is_active NAME: the node says it is active (a standby says standby)
sp_is_active() {
    timeout 2 "$SP_BIN/seinpost" status -c "$SP_DIR/$1.yaml" --json 2>/dev/null \
        | jq -e '.role == "active"' >/dev/null
}

# sp_active: the name of the active node
sp_active() {
    local name
    for name in node-a node-b; do
        sp_is_active "$name" && { echo "$name"; return 0; }
    done
    return 1
}

# Copies of the database to tamper with, as whoever runs the node can
# (tests 21, 57), once the daemon is stopped. On SQLite a copy is a file
# (DIR/pristine.db, DIR/copy.db with copy.db.secret); on PostgreSQL a
# database of the same cluster (<test database>_pristine, _copy), made
# with CREATE DATABASE ... TEMPLATE, which wants no session on the one
# it copies: every helper's session ends with its command.
#   sp_db_keep               keeps the database as it is now as the pristine
#                            one; writes DIR/copy.yaml, the daemon's
#                            configuration on the copy
#   sp_db_copy               a fresh copy of the pristine database, with a
#                            node secret of its own (file: sp_db_copy_secret)
#   sp_db_sql [--csv] pristine|copy SQL   runs SQL on either, prints rows
#                            as sp_sql does (or as CSV without a header)
#   sp_by_engine SQLITE PG   prints the one for this engine (SQL that
#                            differs: blob literals and functions)
sp_by_engine() { if [ -n "${SP_DATABASE:-}" ]; then echo "$2"; else echo "$1"; fi; }

# sp_db_name [SUFFIX]: the test database's name (with _SUFFIX);
# sp_db_uri NAME: the URI of database NAME on the test's cluster
sp_db_name() {
    local base=${SP_DATABASE%%\?*}
    echo "${base##*/}${1:+_$1}"
}
sp_db_uri() {
    local base=${SP_DATABASE%%\?*}
    echo "${base%/*}/$1${SP_DATABASE#"$base"}"
}

# sp_db_create NAME TEMPLATE: database NAME, a copy of TEMPLATE; from the
# maintenance database postgres, as no session may be on TEMPLATE
sp_db_create() {
    psql -X -q -v ON_ERROR_STOP=1 "$(sp_db_uri postgres)" -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 TEMPLATE $2" >/dev/null
}

sp_db_copy_secret() { sp_by_engine "$SP_DIR/copy.db.secret" "$SP_DIR/keys/copy.secret"; }

sp_db_keep() {
    if [ -z "${SP_DATABASE:-}" ]; then
        cp "$SP_DIR/seinpost.db" "$SP_DIR/pristine.db" || return 1
        sed "s|^database: .*|database: $SP_DIR/copy.db|" "$SP_DIR/seinpost.yaml" \
            > "$SP_DIR/copy.yaml"
        return
    fi
    sp_db_create "$(sp_db_name pristine)" "$(sp_db_name)" || return 1
    local uri
    uri=$(sp_db_uri "$(sp_db_name copy)")
    sed -e "s|^database: .*|database: ${uri//&/\\&}|" \
        -e "s|^  pseudonym_key: .*|  pseudonym_key: keys/copy.secret|" \
        "$SP_DIR/seinpost.yaml" > "$SP_DIR/copy.yaml"
}

sp_db_copy() {
    if [ -z "${SP_DATABASE:-}" ]; then
        rm -f "$SP_DIR"/copy.db*
        cp "$SP_DIR/pristine.db" "$SP_DIR/copy.db" || return 1
    else
        sp_db_create "$(sp_db_name copy)" "$(sp_db_name pristine)" || return 1
    fi
    cp "$(sp_by_engine "$SP_DIR/seinpost.db.secret" "$SP_DIR/keys/node.secret")" \
        "$(sp_db_copy_secret)"
}

sp_db_sql() {
    local csv=
    [ "$1" = --csv ] && { csv=1; shift; }
    local which=$1
    shift
    if [ -n "${SP_DATABASE:-}" ]; then
        PGOPTIONS="$SP_PG_TEST_PATH" psql -X -q -At ${csv:+--csv} -v ON_ERROR_STOP=1 \
            "$(sp_db_uri "$(sp_db_name "$which")")" \
            -c "$*"
    else
        sqlite3 ${csv:+-csv} "$SP_DIR/$which.db" "$@"
    fi
}

# sp_unhex: the bytes of the hex text on stdin. A blob read as hex()
# (tests/pg/compat.sql defines it on PostgreSQL) comes out the same from
# both engines, where psql shows a bytea as \x... and sqlite3 its bytes.
sp_unhex() { python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read()))'; }

# sp_db_dump: the whole database as SQL text (sqlite3 .dump, pg_dump)
sp_db_dump() {
    if [ -n "${SP_DATABASE:-}" ]; then
        pg_dump --no-owner -d "$SP_DATABASE"
    else
        sqlite3 -cmd ".timeout 5000" "$SP_DIR/seinpost.db" .dump
    fi
}
