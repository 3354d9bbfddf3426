# tests/integration/handled-lib.sh - sourced after common.sh by the tests
# that prove delivery at the partner's handler (44-49), not in the router's
# tables. Every id a handler handled is a line in $SP_DIR/NAME.handled; the
# ids the router ACCEPTED are collected from `seinpost emit --stream`;
# tests/integration/handled-check.py compares the two.
#
# hc_event ID [GEMEENTECODE] [SOURCE]  one whole CloudEvent (a JSON line)
# hc_handler NAME [--fail-once SECS] [--sleep SECS] [--slow GLOB SECS]
#                                     writes NAME's --exec handler
# hc_start NAME                       starts partner NAME with that handler;
#                                     fails when it does not stay up
# hc_emit CONF ACCEPTED_FILE [WINDOW] emits the JSON lines on stdin with
#                                     --stream; appends the accepted ids
# hc_kill NAME                        kill -9 of partner NAME, recording the
#                                     id whose hand-over it may interrupt
# hc_check LABEL ARGS...              handled-check.py, output to stderr
# hc_ids_in_state SUBSCRIBER STATE    ids of the subscriber's deliveries in
#                                     STATE (0 pending, 1 delivered, 2 dead)
# hc_seq_order SUBSCRIBER             ids in (subscription, seq) order
# hc_status_field JQ_FILTER           one value of `seinpost status --json`
# hc_wait_handled SECS NAME IDS_FILE  until NAME's handler had every id
# hc_wait_drained SECS SUBSCRIBER...  until nothing is pending or in flight
# hc_watch_start SUBSCRIBER NAME      in the background: nothing marked
# hc_watch_stop NAME                  delivered before NAME's handler had it
# hc_problem TEXT / hc_finish TEXT    count a problem, go on / fail at the end

HC_CHECK=tests/integration/handled-check.py
HC_SOURCE=urn:nld:oin:00000001001234567000:systeem:burgerzaken

hc_event() {
    local id=$1 code=${2:-0855} source=${3:-$HC_SOURCE}
    printf '{"specversion":"1.0","id":"%s","source":"%s","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":{"gemeentecode":"%s","nummeraanduidingIdentificatie":"%s200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}\n' \
        "$id" "$source" "$GDB_TYPE" "$code" "$code"
}

# The handler appends "PID ID" to NAME.started when it starts and ID to
# NAME.handled when it has handled the event; exit 0 only then.
#   --fail-once SECS  its first call (no NAME.failed-once yet) creates that
#                     marker, waits SECS and fails (exit 1)
#   --sleep SECS      every call takes SECS before it succeeds
#   --slow GLOB SECS  calls for ids matching GLOB take SECS
hc_handler() {
    local name=$1 fail_once="" sleep_all="" slow_glob="" slow_secs=""
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --fail-once) fail_once=$2; shift 2 ;;
        --sleep) sleep_all=$2; shift 2 ;;
        --slow) slow_glob=$2 slow_secs=$3; shift 3 ;;
        *) sp_log "hc_handler: unknown option $1"; return 2 ;;
        esac
    done
    {
        echo '#!/bin/sh'
        echo "dir='$SP_DIR' name='$name'"
        # the id without a jq per call (~30 ms); jq when the text is not
        # the compact form the emitter signed. Nothing (a partner killed
        # before it wrote the event) is no event.
        echo 'event=$(cat) || exit 1'
        echo 'id=${event#*\"id\":\"} id=${id%%\"*}'
        echo 'case $event in *\"id\":\"*) ;; *) id=$(printf %s "$event" | jq -r .id) || exit 1 ;; esac'
        echo '[ -n "$id" ] && [ "$id" != null ] || exit 1'
        echo 'echo "$$ $id" >> "$dir/$name.started"'
        if [ -n "$fail_once" ]; then
            echo 'if [ ! -e "$dir/$name.failed-once" ]; then'
            echo '    echo "$id" > "$dir/$name.failed-once"'
            echo "    sleep $fail_once"
            echo '    exit 1'
            echo 'fi'
        fi
        [ -n "$sleep_all" ] && echo "sleep $sleep_all"
        [ -n "$slow_glob" ] && echo "case \$id in $slow_glob) sleep $slow_secs ;; esac"
        echo 'echo "$id" >> "$dir/$name.handled"'
    } > "$SP_DIR/$name-handler.sh"
    chmod +x "$SP_DIR/$name-handler.sh"
}

# Fails when the partner is gone 0.2 s later (say, it refused its
# configuration), so that a test does not wait for what cannot come.
hc_start() {
    sp_start_partner "$1" --exec "$SP_DIR/$1-handler.sh"
    sleep 0.2
    sp_alive "$1" || { sp_log "partner $1 exited: $(tail -n 2 "$SP_DIR/$1.err")"; return 1; }
}

hc_emit() {
    local conf=$1 out=$2 window=${3:-64} tmp rc
    tmp=$(mktemp "$SP_DIR/emit.XXXXXX")
    # bounded as a whole too (timeout(1) stops it by its PID): --timeout
    # bounds each wait for an answer, not the run
    tee "$tmp.lines" | timeout 120 "$SP_BIN/seinpost" emit -c "$conf" --stream \
        --window "$window" --timeout 20000 > "$tmp.out" 2> "$tmp.err"
    rc=${PIPESTATUS[1]}
    jq -r .id "$tmp.lines" > "$tmp.ids"
    # "ACCEPTED line-N CODE: reason" answers input line N; " (id ID)" at
    # the end, when emit made the id, names it
    awk 'NR == FNR { id[FNR] = $0; next }
         $1 == "ACCEPTED" && $NF ~ /\)$/ && $(NF - 1) == "(id" { print substr($NF, 1, length($NF) - 1); next }
         $1 == "ACCEPTED" && $2 ~ /^line-[0-9]+$/ { n = substr($2, 6); print id[n] }' \
        "$tmp.ids" "$tmp.out" >> "$out"
    return "$rc"
}

# The partner's children (the sh that popen runs the handler with) that
# have not exited yet (Z) or gone.
hc_children_running() {
    ps -o stat= --ppid "$1" 2>/dev/null | grep -vc '^Z'
}

# hc_pid_running PID: alive and not a zombie (an orphan's zombie may wait
# for whoever reaps orphans here).
hc_pid_running() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

# kill -9 of partner NAME, and the handler it was running, if any, left to
# finish, as it would go on as an orphan in production (it reads the whole
# event or, when the partner died before writing it, nothing, and then
# fails). The partner is frozen first (SIGSTOP), so that it forks no
# handler between the look at its children and the kill.
# Why one duplicate may follow: the partner records a handled signal only
# after its handler returned, and starts the next handler only after
# that; so the one signal whose handler started last may have been handled
# but not recorded, and after the restart it is handed over again,
# unavoidably. That id goes to NAME.interrupted (the duplicates allowed).
# No handler is left running: one still running after 15 s is killed.
hc_kill() {
    local name=$1 pid children="" child i=0
    pid=$(cat "$SP_DIR/$name.pid" 2>/dev/null) || return 0
    kill -STOP "$pid" 2>/dev/null
    children=$(ps -o pid= --ppid "$pid" 2>/dev/null)
    sp_stop "$name" KILL 2>/dev/null
    for child in $children; do
        while hc_pid_running "$child" && [ $i -lt 150 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if hc_pid_running "$child"; then
            sp_log "hc_kill: handler $child of $name still running after 15 s: killed"
            kill -KILL "$child" 2>/dev/null
        fi
    done
    [ -s "$SP_DIR/$name.started" ] \
        && tail -n 1 "$SP_DIR/$name.started" | cut -d' ' -f2 >> "$SP_DIR/$name.interrupted"
    touch "$SP_DIR/$name.interrupted"
}

hc_check() {
    local label=$1
    shift
    python3 "$HC_CHECK" --label "$label" "$@" >&2
}

hc_ids_in_state() {
    sp_sql "SELECT s.ce_id FROM deliveries d JOIN signals s ON s.id = d.signal_id
            WHERE d.subscriber = '$1' AND d.state = $2 ORDER BY d.id"
}

hc_seq_order() {
    sp_sql "SELECT s.ce_id FROM deliveries d JOIN signals s ON s.id = d.signal_id
            WHERE d.subscriber = '$1' ORDER BY d.subscription, d.seq"
}

hc_status_field() {
    "$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json | jq -r "$1"
}

# hc_wait_handled SECONDS NAME IDS_FILE: until every id of IDS_FILE is in
# NAME.handled (whatever else is in it).
hc_all_handled() {
    [ -f "$SP_DIR/$1.handled" ] || return 1
    [ "$(sort -u "$SP_DIR/$1.handled" | comm -23 <(sort -u "$2") - | wc -l)" -eq 0 ]
}
hc_wait_handled() {
    sp_wait "$1" hc_all_handled "$2" "$3"
}

# hc_wait_drained SECONDS SUBSCRIBER...: until nothing is pending or in
# flight for them at the router (delivered or dead-lettered).
hc_drained() {
    local s n
    for s in "$@"; do
        n=$(hc_status_field ".subscribers[] | select(.subscriber == \"$s\") | .pending + .in_flight") \
            || return 1
        [ "$n" = 0 ] || return 1
    done
}
hc_wait_drained() {
    local secs=$1
    shift
    sp_wait "$secs" hc_drained "$@"
}

# Problems found are counted, the test goes on (so that one run shows all
# that is wrong) and hc_finish fails it at the end.
HC_PROBLEMS=0
hc_problem() { echo "PROBLEM: $*" >&2; HC_PROBLEMS=$((HC_PROBLEMS + 1)); }
hc_finish() {
    [ "$HC_PROBLEMS" -eq 0 ] || fail "$HC_PROBLEMS problem(s), see above"
    echo "$*"
}

# hc_watch_start SUBSCRIBER NAME: in the background, every 0.2 s (at most
# 90 s), checks that every delivery the router has marked delivered is in
# NAME's handler output already: a receipt may only cover what the
# handler had. The database is read before the output file, and the
# handler writes before it returns, so a correct partner never trips it.
# hc_watch_stop NAME: stops it; fails (prints them) on any violation.
hc_watch_start() {
    local subscriber=$1 name=$2
    : > "$SP_DIR/$name.violations"
    (
        i=0
        while [ $i -lt 450 ]; do
            hc_ids_in_state "$subscriber" 1 2>/dev/null | sort -u > "$SP_DIR/$name.watch-delivered"
            sort -u "$SP_DIR/$name.handled" 2>/dev/null \
                | comm -23 "$SP_DIR/$name.watch-delivered" - > "$SP_DIR/$name.watch-unhandled"
            if [ -s "$SP_DIR/$name.watch-unhandled" ]; then
                printf '%s: %s\n' "$(date +%T.%N | cut -c1-12)" \
                    "$(head -5 "$SP_DIR/$name.watch-unhandled" | tr '\n' ' ')" \
                    >> "$SP_DIR/$name.violations"
            fi
            sleep 0.2
            i=$((i + 1))
        done
    ) &
    echo $! > "$SP_DIR/watch-$name.pid"
}
hc_watch_stop() {
    local name=$1
    sp_stop "watch-$name"
    if [ -s "$SP_DIR/$name.violations" ]; then
        echo "$name: marked delivered before the handler had them ($(wc -l < "$SP_DIR/$name.violations") samples), first:" >&2
        head -3 "$SP_DIR/$name.violations" | sed 's/^/  /' >&2
        return 1
    fi
}
