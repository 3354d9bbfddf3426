#!/usr/bin/env bash
# CURVE authentication: an unconfigured CURVE key cannot deliver anything
# and is audited; a plain-text client gets nowhere; a configured CURVE key
# signing with another emitter's key is rejected CURVE_KEY_MISMATCH.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
# a second emitter, Breda, with its own Ed25519 and CURVE keys
"$SP_BIN/seinpost" keygen -o "$SP_DIR/keys/breda.key" | sed -n 's/^public_key: //p' > "$SP_DIR/keys/breda.pubtext"
"$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/breda.curve" | sed -n 's/^curve_public_key: //p' > "$SP_DIR/keys/breda.curvepub"
python3 - "$SP_DIR/seinpost.yaml" "$(sp_pub breda)" "$(sp_curvepub breda)" <<'PY'
import sys
path, pub, curve = sys.argv[1:]
text = open(path).read().replace("subscribers:\n", f"""  - name: burgerzaken-breda
    oin: "00000001002222222000"
    public_key: {pub}
    curve_public_key: "{curve}"
    types: [nl.gemeente.burgerzaken.geen-dubbele-bewoning]
subscribers:
""", 1)
open(path, "w").write(text)
PY
sp_start_daemon || fail "daemon start"

# 1. an unknown CURVE key: the handshake is refused, nothing is answered
"$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/stranger.curve" >/dev/null
sed "s|keys/burgerzaken.curve|keys/stranger.curve|" "$SP_DIR/burgerzaken.yaml" > "$SP_DIR/stranger.yaml"
printf '%s' "$GDB_DATA" | "$SP_BIN/seinpost" emit -c "$SP_DIR/stranger.yaml" --type $GDB_TYPE \
    --data - --timeout 1500 && fail "an unknown CURVE key got an answer"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 0 "nothing stored from the stranger"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'connection.refused'" \
    || fail "refused handshake audited"
sp_sql "SELECT detail FROM audit WHERE kind = 'connection.refused' LIMIT 1" | grep -q "no configured emitter" \
    || fail "refusal reason"

# 2. a plain-text client on the CURVE port
grep -v -e curve_secret_key -e server_curve_public_key "$SP_DIR/burgerzaken.yaml" > "$SP_DIR/plain.yaml"
printf '%s' "$GDB_DATA" | "$SP_BIN/seinpost" emit -c "$SP_DIR/plain.yaml" --type $GDB_TYPE \
    --data - --timeout 1500 && fail "a plain-text client got an answer"
assert_eq "$(sp_sql "SELECT COUNT(*) FROM signals")" 0 "nothing stored from plain text"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'connection.refused' AND detail LIKE '%handshake failed%'" \
    || fail "plain-text handshake audited"

# 3. Breda's CURVE key, but Tilburg's signing key: authenticated, then refused
sed "s|keys/burgerzaken.curve|keys/breda.curve|" "$SP_DIR/burgerzaken.yaml" > "$SP_DIR/mixed.yaml"
out=$(printf '%s' "$GDB_DATA" | "$SP_BIN/seinpost" emit -c "$SP_DIR/mixed.yaml" --type $GDB_TYPE --data - 2>&1)
[ $? -eq 1 ] || fail "mixed keys must be rejected: $out"
grep -q "CURVE_KEY_MISMATCH" <<<"$out" || fail "code CURVE_KEY_MISMATCH: $out"
sp_sql "SELECT detail FROM audit WHERE kind = 'signal.rejected'" | grep -q CURVE_KEY_MISMATCH \
    || fail "mismatch audited"

# 4. the right pair still works, and the daemon survived all of it
sp_emit $GDB_TYPE "$GDB_DATA" | grep -q ACCEPTED || fail "configured emitter accepted"
sp_alive daemon || fail "daemon alive"
echo "CURVE authentication OK"
