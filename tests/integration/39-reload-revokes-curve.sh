#!/usr/bin/env bash
# A reload that changes an emitter's CURVE key takes effect on the
# connections already open too: ZAP gives the connection's CURVE key as
# its User-Id and ingress compares it with the configuration of the
# moment (it used to compare the emitter's name, fixed at the handshake).
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_start_daemon || fail "daemon did not start"
event() {
    printf '{"specversion":"1.0","id":"revoke-%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-11-23T09:15:00Z","subject":"999993653","datacontenttype":"application/json","data":%s}\n' \
        "$1" "$GDB_TYPE" "$GDB_DATA"
}
mkfifo "$SP_DIR/lines"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window 1 --timeout 5000 \
    < "$SP_DIR/lines" > "$SP_DIR/emit.out" 2> "$SP_DIR/emit.err" &
echo $! > "$SP_DIR/emitter.pid"
exec 3> "$SP_DIR/lines"         # one connection for the whole test
event 1 >&3
sp_wait 10 grep -q '^ACCEPTED line-1 ' "$SP_DIR/emit.out" || fail "first signal: $(cat "$SP_DIR/emit.err")"

# the emitter's CURVE key is replaced (say, after a leak); the connection stays open
python3 - "$SP_DIR/seinpost.yaml" "$(sp_curvepub burgerzaken)" "$(sp_curvepub toeslagen)" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
open(path, "w").write(text.replace(old, new, 1))
PY
assert_eq "$(grep -cF -e "$(sp_curvepub burgerzaken)" "$SP_DIR/seinpost.yaml")" 0 "old key gone from the config"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 10 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "no reload"
event 2 >&3
sp_wait 10 grep -q '^REJECTED line-2 CURVE_KEY_MISMATCH' "$SP_DIR/emit.err" \
    || fail "the old CURVE key still works on an open connection: $(cat "$SP_DIR/emit.out")"
exec 3>&-
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 1 "signals stored"
echo "reload revokes a CURVE key OK"
