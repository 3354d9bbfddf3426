#!/usr/bin/env bash
# An emitter's endpoint may list several ingresses (the nodes that take
# turns on one PostgreSQL database): each signal goes to the one that
# listens, none waits in the queue of one that does not, and when the
# listening node changes the same configuration keeps working.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
other=$((PORT_BASE + 7))
sed -i "s|^endpoint: .*|endpoint: tcp://127.0.0.1:$other, tcp://127.0.0.1:$PORT_BASE|" \
    "$SP_DIR/burgerzaken.yaml"
# emit_four FIRST WHICH: four signals, each answered within 3 s
emit_four() {
    local i out
    for ((i = $1; i < $1 + 4; i++)); do
        out=$(printf '%s' "$GDB_DATA" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" \
              --type "$GDB_TYPE" --data - --timeout 3000 2>&1)
        echo "$out" | grep -q '^ACCEPTED' || fail "emit $i (the $2 endpoint listens not): $out"
    done
}
sp_start_daemon || fail "daemon did not start"
emit_four 1 first
# the node now listens at the first endpoint of the list
sp_stop daemon
sed -i "s|ingress: tcp://127.0.0.1:$PORT_BASE\$|ingress: tcp://127.0.0.1:$other|" "$SP_DIR/seinpost.yaml"
sp_start_daemon || fail "daemon did not start on the other endpoint"
emit_four 5 second
assert_eq "$(sp_sql 'SELECT COUNT(*) FROM signals')" 8 "signals stored"
echo "emit to several endpoints OK"
