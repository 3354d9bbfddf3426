#!/usr/bin/env bash
# Key rotation keeps the audit trail verifiable. After the node, the
# emitter and a partner get new keys: the daemon records node.key_changed
# (and warns while the old node key is not listed); ingress refuses the
# emitter's old key; `seinpost audit verify` reports what the old node key
# signed as broken, and the old emitter and partner signatures as
# unchecked (broken with --strict), until previous_public_keys lists the
# old keys; then it verifies, strict, and counts them. A previous key
# that is the current one, or not a key, is a configuration error. A
# partner may trust a list of router keys while the router's changes.
. "$(dirname "$0")/common.sh"
SP_CHECKPOINT=1s
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
sp_start_daemon || fail "daemon start"
sp_start_partner toeslagen
sp_start_partner belastingdienst
sp_emit $GDB_TYPE "$GDB_DATA" 999993653 | grep -q "^ACCEPTED signal OK" || fail "emit before rotation"
sp_emit $VNA_TYPE '{"gemeentecode":"0855","vastgesteldOp":"2026-11-22"}' 999990019 \
    | grep -q "^ACCEPTED signal OK" || fail "emit 2 before rotation"
sp_wait_ge 10 2 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "2 deliveries done"
sp_stop_all

# new keys for the node, the emitter and toeslagen; the old emitter config kept
rotate() {     # rotate NAME: keys/NAME2.key, old public key in $old_NAME
    "$SP_BIN/seinpost" keygen -o "$SP_DIR/keys/${1}2.key" | sed -n 's/^public_key: //p' \
        > "$SP_DIR/keys/${1}2.pubtext"
    printf -v "old_$1" '%s' "$(sp_pub "$1")"
    printf -v "new_$1" '%s' "$(sp_pub "${1}2")"
}
rotate node; rotate burgerzaken; rotate toeslagen
cp "$SP_DIR/burgerzaken.yaml" "$SP_DIR/burgerzaken-old.yaml"
edit() { local f=$1; shift; sed -i "$@" "$SP_DIR/$f"; }
edit seinpost.yaml -e "s|keys/node.key|keys/node2.key|" -e "s|$old_burgerzaken|$new_burgerzaken|" \
    -e "s|$old_toeslagen|$new_toeslagen|"
edit burgerzaken.yaml -e "s|keys/burgerzaken.key|keys/burgerzaken2.key|"
for p in toeslagen belastingdienst; do
    edit $p.yaml -e "s|$old_node|$new_node|" -e "s|$old_burgerzaken|$new_burgerzaken|"
done
edit toeslagen.yaml -e "s|keys/toeslagen.key|keys/toeslagen2.key|"
# toeslagen trusts both router keys, the old one first (as while the
# switch is under way): the batches signed by the new key still pass
edit toeslagen.yaml -e "s|^router_public_key: .*|router_public_key: [\"$old_node\", \"$new_node\"]|"
old_node_id=$(sp_sql "SELECT key_id FROM checkpoints ORDER BY id DESC LIMIT 1")
[ -n "$old_node_id" ] || fail "a checkpoint by the old node key"

sp_start_daemon || fail "daemon start with the new keys"
sp_start_partner toeslagen
sp_start_partner belastingdienst
grep -q "node signing key changed from $old_node_id to .*; list the old public key in node.previous_public_keys" \
    "$SP_DIR/daemon.log" || fail "warning about the unlisted old node key"
detail=$(sp_sql "SELECT detail FROM audit WHERE kind = 'node.key_changed'")
echo "$detail" | grep -q "\"from\": *\"$old_node_id\"" || fail "node.key_changed from: $detail"
echo "$detail" | grep -q '"from_listed": *false' || fail "node.key_changed from_listed: $detail"
out=$(printf '%s' "$GDB_DATA" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken-old.yaml" \
      --type $GDB_TYPE --subject 999993653 --data - --timeout 10000 2>&1)
echo "$out" | grep -q "^REJECTED signal KEY_UNKNOWN" || fail "the old emitter key is refused: $out"
sp_emit $GDB_TYPE "${GDB_DATA/0855200000123456/0855200000654321}" 999993653 \
    | grep -q "^ACCEPTED signal OK" || fail "emit with the new emitter key"
sp_wait_ge 10 3 sp_sql "SELECT COUNT(*) FROM deliveries WHERE state = 1" || fail "3 deliveries done"
sp_wait_ge 5 1 sp_sql "SELECT COUNT(*) FROM checkpoints WHERE key_id != '$old_node_id'" \
    || fail "a checkpoint by the new node key"
sp_stop_all

verify() { "$SP_BIN/seinpost" audit verify -c "$SP_DIR/seinpost.yaml" "$@"; }
out=$(verify); rc=$?
assert_eq $rc 4 "verify without the old node key: $out"
echo "$out" | grep -q "^BROKEN: checkpoint 1: signed by key $old_node_id, neither this node's key .* nor one of node.previous_public_keys" \
    || fail "old node key named: $out"

edit seinpost.yaml -e "s|^  signing_key: keys/node2.key$|&\n  previous_public_keys: [\"$old_node\"]|"
out=$(verify) || fail "verify with the old node key listed: $out"
echo "$out" | grep -q "^note: [0-9]* signatures not checked, the first: signal 1 (id .*): emitter key .* is not configured (as public_key or one of previous_public_keys)" \
    || fail "old emitter signatures unchecked: $out"
out=$(verify --strict); rc=$?
assert_eq $rc 4 "strict verify without the old emitter key: $out"

edit seinpost.yaml -e "s|^    public_key: $new_burgerzaken$|&\n    previous_public_keys: [\"$old_burgerzaken\"]|" \
    -e "s|^    public_key: $new_toeslagen$|&\n    previous_public_keys:\n      - \"$old_toeslagen\"|"
out=$(verify --strict) || fail "strict verify with every old key listed: $out"
echo "$out" | grep -q "^OK: audit chain of .*, 3 emitter signatures," || fail "3 signals checked: $out"
echo "$out" | grep -q "^note: [0-9]* of these signatures were made with a key listed in previous_public_keys" \
    || fail "signatures by previous keys counted: $out"
echo "$out" | grep -q "not checked" && fail "nothing unchecked: $out"

# a previous key that is the current key, or not a key at all
cp "$SP_DIR/seinpost.yaml" "$SP_DIR/bad.yaml"
sed -i "s|previous_public_keys: \[\"$old_burgerzaken\"\]|previous_public_keys: [\"$new_burgerzaken\"]|" "$SP_DIR/bad.yaml"
out=$("$SP_BIN/seinpostd" -t -c "$SP_DIR/bad.yaml" 2>&1) && fail "current key as previous accepted"
echo "$out" | grep -q "emitters\[0\].previous_public_keys\[0\]: is the current key" || fail "current key: $out"
sed -i "s|previous_public_keys: \[\"$new_burgerzaken\"\]|previous_public_keys: [\"ed25519:AAAA\"]|" "$SP_DIR/bad.yaml"
out=$("$SP_BIN/seinpostd" -t -c "$SP_DIR/bad.yaml" 2>&1) && fail "garbage previous key accepted"
echo "$out" | grep -q "emitters\[0\].previous_public_keys\[0\]: not an Ed25519 public key" || fail "garbage: $out"
# reloads: a change is recorded once, a change back too (each change
# writes a checkpoint by the new key, which the next reload compares with)
sp_start_daemon || fail "daemon start, old key listed"
pid=$(cat "$SP_DIR/daemon.pid")
changes() { sp_sql "SELECT COUNT(*) FROM audit WHERE kind = 'node.key_changed'"; }
reload() {     # reload N: SIGHUP, wait for the Nth "configuration reloaded"
    kill -HUP "$pid"
    sp_wait 5 sh -c "[ \$(grep -c 'configuration reloaded' '$SP_DIR/daemon.log') -ge $1 ]" \
        || fail "reload $1"
}
assert_eq "$(changes)" 1 "no change at a start with the same key"
reload 1
assert_eq "$(changes)" 1 "no change at a reload with the same key"
edit seinpost.yaml -e "s|keys/node2.key|keys/node.key|" -e "s|\[\"$old_node\"\]|[\"$new_node\"]|"
reload 2
reload 3
assert_eq "$(changes)" 2 "back to the old key: one event, not one per reload"
sp_sql "SELECT detail FROM audit WHERE kind = 'node.key_changed' ORDER BY seq DESC LIMIT 1" \
    | grep -q '"from_listed": *true' || fail "the key changed from is listed"
grep -q "node signing key changed from .* to $old_node_id$" "$SP_DIR/daemon.log" || fail "notice of the change back"
sp_emit $GDB_TYPE "${GDB_DATA/0855200000123456/0855200000777777}" 999993653 \
    | grep -q "^ACCEPTED signal OK" || fail "emit under the old key again"
edit seinpost.yaml -e "s|keys/node.key|keys/node2.key|" -e "s|\[\"$new_node\"\]|[\"$old_node\"]|"
reload 4
assert_eq "$(changes)" 3 "and forward again"
sp_stop_all
out=$(verify --strict) || fail "strict verify after the flips: $out"

echo "PASS"
