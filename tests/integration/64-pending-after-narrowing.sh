#!/usr/bin/env bash
# Signals waiting for their partner when the subscription changes: a
# reload that narrows the filter (0855 and 0796 -> 0796), or a restart
# with the type's filter narrowed while the daemon was down, must not
# send what the subscription no longer covers under its new legal basis.
# Those pending deliveries are dead-lettered, audited with the reason;
# the covered ones still arrive. Counted at the partner's handler.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" $PORT_BASE >/dev/null
conf=$SP_DIR/seinpost.yaml
sp_start_daemon || fail "daemon start"
emit() {        # emit GEMEENTECODE NUMMERAANDUIDING: the signal's id
    sp_emit $GDB_TYPE "$(sed -e "s/\"0855\"/\"$1\"/" -e "s/0855200000123456/$2/" <<<"$GDB_DATA")" \
        999993653 | sed -n 's/.*(id \([^)]*\)).*/\1/p'
}
dead() { sp_sql "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'toeslagen' AND state = 2"; }

# toeslagen is down: both wait
a=$(emit 0855 0855200000000001)
b=$(emit 0796 0796200000000002)
[ -n "$a" ] && [ -n "$b" ] || fail "emits"
sed -i 's/any_of: \["0855", "0796"\]/any_of: ["0796"]/' "$conf"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
sp_wait 5 grep -q "configuration reloaded" "$SP_DIR/daemon.log" || fail "reloaded"
sp_wait_ge 5 1 dead || fail "the 0855 delivery is dead-lettered at the reload"
sp_sql "SELECT last_error FROM deliveries d JOIN signals s ON s.id = d.signal_id
        WHERE s.ce_id = '$a' AND d.subscriber = 'toeslagen'" \
    | grep -q "no longer matches the signal" || fail "the dead letter says why"
sp_sql "SELECT detail FROM audit WHERE kind = 'delivery.deadlettered'" \
    | grep -q "subscription changed while it waited" || fail "audited with the reason"
# the grondslag text alone changes nothing: no recheck, nothing dead
c=$(emit 0796 0796200000000003)
edit() { python3 -c 'import sys; p, a, b = sys.argv[1:]; s = open(p).read(); assert a in s, a; open(p, "w").write(s.replace(a, b))' "$conf" "$@" || fail "config edit: $1"; }
edit "toetsing huishouden voor huurtoeslag" "toetsing huishouden (gewijzigd)"
kill -HUP "$(cat "$SP_DIR/daemon.pid")"
reloads() { grep -c 'configuration reloaded' "$SP_DIR/daemon.log"; }
sp_wait_ge 10 2 reloads || fail "reloaded twice"
assert_eq "$(dead)" 1 "a changed basis text leaves the covered ones pending"

# narrowed while the daemon was down: checked at the start
sp_stop daemon
sp_start_daemon || fail "start"
d=$(emit 0796 0796200000000004)
sp_stop daemon
edit '- { field: data.gemeentecode, any_of: ["0796"] }' '- { field: data.gemeentecode, any_of: ["0796"] }
          - { field: data.nummeraanduidingIdentificatie, any_of: ["0796200000000002", "0796200000000003"] }'
sp_start_daemon || fail "restart"
sp_wait_ge 5 2 dead || fail "the signal the restart's filter leaves out is dead-lettered"

sp_start_partner toeslagen
sp_wait_ge 15 2 sp_lines "$SP_DIR/toeslagen.out" || fail "the covered ones arrive"
sleep 1
got=$(grep -o "\"id\":\"[^\"]*\"" "$SP_DIR/toeslagen.out" | sort -u | tr '\n' ' ')
for id in "$b" "$c"; do
    grep -q "\"id\":\"$id\"" "$SP_DIR/toeslagen.out" || fail "covered signal $id missing: $got"
done
for id in "$a" "$d"; do
    grep -q "\"id\":\"$id\"" "$SP_DIR/toeslagen.out" && fail "uncovered signal $id was delivered"
done
out=$("$SP_BIN/seinpost" audit verify -c "$conf") || fail "verify: $out"
echo "pending deliveries re-checked OK"
