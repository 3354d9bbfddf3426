#!/usr/bin/env bash
# Every rejection with its own code: the emitter sees the code (seinpost
# emit on stderr, or tests/tools/rawemit for frames `seinpost emit` cannot
# produce), a signal.rejected audit event records that same code, nothing
# is stored, and the daemon stays up and keeps accepting good signals.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
RAWEMIT=$SP_BIN/tools/rawemit
[ -x "$RAWEMIT" ] || fail "$RAWEMIT not built"
RAW=("$RAWEMIT" --endpoint "tcp://127.0.0.1:$SP_PORT_INGRESS"
     --curve-secret "$SP_DIR/keys/burgerzaken.curve" --server-key "$(sp_curvepub node)")
KEY=$SP_DIR/keys/burgerzaken.key
BASE=tests/data/events/geen-dubbele-bewoning.json
n=0

n_rejected() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'signal.rejected'"; }
# last_rejected FIELD: a member of the newest signal.rejected event's detail
last_rejected() {
    sp_sql "SELECT json_extract(detail, '$.$1') FROM audit WHERE kind = 'signal.rejected'
            ORDER BY seq DESC LIMIT 1"
}
# mk NAME JQ_FILTER: an event file derived from the good example
mk() { jq -c --arg id "case-$1" ".id = \$id | $2" "$BASE" > "$SP_DIR/$1.json"; }

# check_audit CODE BEFORE: exactly one new signal.rejected event, with CODE
check_audit() {
    n=$((n + 1))
    assert_eq "$(n_rejected)" $(($2 + 1)) "$1: one signal.rejected event"
    assert_eq "$(last_rejected code)" "$1" "$1: code in the audit event"
}

# expect_raw CODE RAWEMIT_OPTIONS...: rawemit prints "REJECTED CODE ..."
expect_raw() {
    local code=$1 before out
    shift
    before=$(n_rejected)
    out=$("${RAW[@]}" "$@") || fail "$code: rawemit got no reply ($*)"
    case $out in "REJECTED $code "*) ;; *) fail "$code: rawemit printed '$out' ($*)";; esac
    check_audit "$code" "$before"
    echo "ok $out"
}

# expect_emit CODE FILE: seinpost emit prints "REJECTED signal CODE: ..." on
# stderr and exits non-zero
expect_emit() {
    local code=$1 before out rc
    before=$(n_rejected)
    out=$("$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --data "$2" 2>&1)
    rc=$?
    [ $rc -ne 0 ] || fail "$code: seinpost emit exited 0 on '$out'"
    case $out in "REJECTED signal $code: "*) ;; *) fail "$code: seinpost emit printed '$out'";; esac
    check_audit "$code" "$before"
    echo "ok $out"
}

# --- signature and key (rawemit) ------------------------------------------
mk good '.'
expect_raw SIGNATURE_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --flip-sig --correlation sig-flip
assert_eq "$(last_rejected correlation)" sig-flip "correlation in the audit event"
assert_eq "$(last_rejected emitter)" burgerzaken-tilburg "emitter in the audit event"
KEY_ID=$(last_rejected key_id)
[ ${#KEY_ID} -eq 16 ] || fail "key id '$KEY_ID' in the audit event"
# a valid signature by another key, claiming the emitter's key id
expect_raw SIGNATURE_INVALID --event "$SP_DIR/good.json" --sign "$SP_DIR/keys/toeslagen.key" \
    --key-id "$KEY_ID"
# signature first: malformed JSON with a bad signature never reaches the parser
printf '{"specversion":"1.0","id":' > "$SP_DIR/broken.json"
expect_raw SIGNATURE_INVALID --event "$SP_DIR/broken.json" --key-id "$KEY_ID"
expect_raw KEY_UNKNOWN --event "$SP_DIR/good.json" --sign "$KEY" --key-id 0123456789abcdef
expect_raw KEY_UNKNOWN --event "$SP_DIR/good.json" --sign "$SP_DIR/keys/toeslagen.key"
expect_raw KEY_UNKNOWN --event "$SP_DIR/good.json" --sign "$KEY" --key-id abc
expect_raw SIGNATURE_LENGTH_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --sig-len 63
expect_raw SIGNATURE_LENGTH_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --sig-len 65

# --- framing (rawemit) -------------------------------------------------------
expect_raw PROTOCOL_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --protocol SEINPOST0
expect_raw COMMAND_UNKNOWN --event "$SP_DIR/good.json" --sign "$KEY" --command PUBLISH
expect_raw FRAMES_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --extra-frame surplus
expect_raw FRAMES_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --drop-frame 5
expect_raw FRAMES_INVALID --event "$SP_DIR/good.json" --sign "$KEY" --correlation ""

# --- JSON (rawemit: seinpost emit would not send these bytes) --------------
expect_raw JSON_INVALID --event "$SP_DIR/broken.json" --sign "$KEY"
printf '{"specversion":"1.0","specversion":"1.0"}' > "$SP_DIR/dupkey.json"
expect_raw JSON_DUPLICATE_KEY --event "$SP_DIR/dupkey.json" --sign "$KEY"
printf '["not", "an", "object"]' > "$SP_DIR/array.json"
expect_raw NOT_AN_OBJECT --event "$SP_DIR/array.json" --sign "$KEY"

# --- envelope, type and data (seinpost emit --data with a whole event) ------
mk notime 'del(.time)'
expect_emit ATTRIBUTE_MISSING "$SP_DIR/notime.json"
mk numid '.id = 42'
expect_emit ATTRIBUTE_TYPE_INVALID "$SP_DIR/numid.json"
mk spec03 '.specversion = "0.3"'
expect_emit SPECVERSION_UNSUPPORTED "$SP_DIR/spec03.json"
mk badsource '.source = "https://burgerzaken.example/tilburg"'
expect_emit SOURCE_INVALID "$SP_DIR/badsource.json"
mk badoin '.source = "urn:nld:oin:12345:systeem:burgerzaken"'
expect_emit OIN_INVALID "$SP_DIR/badoin.json"
mk badtime '.time = "2026-13-45T25:61:00Z"'
expect_emit TIME_INVALID "$SP_DIR/badtime.json"
mk othersource '.source = "urn:nld:oin:00000001009999999000:systeem:burgerzaken"'
expect_emit SOURCE_MISMATCH "$SP_DIR/othersource.json"
mk unknowntype '.type = "nl.gemeente.burgerzaken.niet-geconfigureerd"'
expect_emit TYPE_UNKNOWN "$SP_DIR/unknowntype.json"
mk notallowed '.type = "nl.gemeente.burgerzaken.adresonderzoek-gestart"
               | .data = {"gemeentecode": "0855", "aanleiding": "melding"}'
expect_emit TYPE_NOT_ALLOWED "$SP_DIR/notallowed.json"
mk nobsn 'del(.data.bewonerBsn)'
expect_emit DATA_FIELD_MISSING "$SP_DIR/nobsn.json"
mk nodata 'del(.data)'
expect_emit DATA_FIELD_MISSING "$SP_DIR/nodata.json"
mk numcode '.data.gemeentecode = 855'
expect_emit DATA_FIELD_TYPE_INVALID "$SP_DIR/numcode.json"

# --- CURVE: a key of no emitter does not even get a reply -------------------
refused_before=$(sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'connection.refused'")
out=$("$RAWEMIT" --endpoint "tcp://127.0.0.1:$SP_PORT_INGRESS" --curve-secret "$SP_DIR/keys/toeslagen.curve" \
      --server-key "$(sp_curvepub node)" --event "$SP_DIR/good.json" --sign "$KEY" --timeout 1000 2>/dev/null)
assert_eq "$?:$out" "1:" "unknown CURVE key: no reply"
sp_wait_ge 5 $((refused_before + 1)) sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'connection.refused'" \
    || fail "connection.refused audit event"

# --- nothing was stored; the daemon is alive and still accepts --------------
echo "$n rejections checked"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 0 "no signal stored"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM deliveries")" 0 "no delivery created"
assert_eq "$(jq .rejected <<<"$("$SP_BIN/seinpost" status -c "$SP_DIR/seinpost.yaml" --json)")" $n \
    "status counts every rejection"
sp_alive daemon || fail "daemon died during the rejections"
out=$("${RAW[@]}" --event "$SP_DIR/good.json" --sign "$KEY") || fail "good signal: no reply"
case $out in "ACCEPTED OK stored; routed to 1 subscription") ;; *) fail "good signal via rawemit: '$out'";; esac
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q "^ACCEPTED signal OK" || fail "good signal via seinpost emit"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 2 "good signals stored"
sp_alive daemon || fail "daemon died"
echo "rejections OK"
