#!/usr/bin/env bash
# Two seinpostd on one PostgreSQL take turns (seinpostd(8), ACTIVE AND
# STANDBY), each under a supervisor that starts it again when it exits,
# as a service manager would. Two emitter processes send signals, each
# until it is answered ACCEPTED (resending the same event, so that a
# resend is a DUPLICATE); the active node is killed with SIGKILL at
# random moments, and PostgreSQL itself is stopped for 10 s once. The
# checker reads what the three partners' handlers received: every accepted
# signal exactly once where it is routed, none that was not accepted,
# every subscription's seqs in order without gaps; and `seinpost audit
# verify --strict` finds the one chain the nodes wrote in turn intact. It
# reports the time
# from each kill to the next node's first ACCEPTED.
#   KILLS (default 20)  SIGNALS: at least this many per emitter (default 40);
#   the emitters go on until the kills are done
. "$(dirname "$0")/common.sh"
KILLS=${KILLS:-20}
SIGNALS=${SIGNALS:-40}
sp_pg_dir PGD || fail "no directory for PostgreSQL"
# the supervisors first, or they start the nodes again
trap 'rc=$?; touch "$SP_DIR/stop"; sp_stop_all; sp_pg_stop_all
      [ $rc -eq 0 ] && rm -rf "$SP_DIR" || echo "kept $SP_DIR"' EXIT

SP_DATABASE=$(tests/pg/pg-start "$PGD") || fail "PostgreSQL did not start (tests/pg/pg-start)"
SP_LEASE=${SP_LEASE:-1s}
SP_UWV=1
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
sp_pg_nodes || fail "node b's ingress not set"

# sp_emitter N: sends events with ids eN-1.., each until ACCEPTED (OK or
# DUPLICATE), recording "id gemeentecode accepted-at sent-at" (epoch
# seconds, the attempt that was answered) per acceptance;
# at least SIGNALS of them, and on until DIR/kills.done exists.
sp_emitter() {
    local n=$1 i tries code event sent
    for ((i = 1; ; i++)); do
        [ "$i" -gt "$SIGNALS" ] && [ -e "$SP_DIR/kills.done" ] && break
        code=0855
        [ $((i % 2)) -eq 0 ] && code=0796
        event=$(printf '{"specversion":"1.0","id":"e%s-%s","source":"urn:nld:oin:00000001001234567000:systeem:burgerzaken","type":"%s","time":"2026-12-06T12:00:00Z","datacontenttype":"application/json","data":{"gemeentecode":"%s","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}' \
            "$n" "$i" "$GDB_TYPE" "$code")
        for ((tries = 0; tries < 200; tries++)); do
            sent=$(date +%s.%N)
            if printf '%s' "$event" | "$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" \
                    --data - --timeout 2000 2>>"$SP_DIR/emitter$n.err" | grep -q '^ACCEPTED'; then
                echo "e$n-$i $code $(date +%s.%N) $sent" >> "$SP_DIR/accepted$n"
                break
            fi
            sleep 0.1
        done
    done
    echo "$((i - 1))" >> "$SP_DIR/emitter$n.done"
}

sp_start_partner toeslagen
sp_start_partner belastingdienst
sp_start_partner uwv
sp_node node-a
sp_wait 20 sp_active || fail "no node became active"
first=$(sp_active)
sp_node node-b
sp_wait 10 grep -q "standby: .* holds the lease" "$SP_DIR/node-b.log" \
    || fail "the second node did not report standby: $(tail -3 "$SP_DIR/node-b.log")"

( sp_emitter 1 ) & echo $! > "$SP_DIR/emitter1.pid"
( sp_emitter 2 ) & echo $! > "$SP_DIR/emitter2.pid"

# kills at random moments while the emitters run; once, PostgreSQL stops
takeovers=""
for ((k = 1; k <= KILLS; k++)); do
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + r / 32767 * 1.5 }')"
    active=$(sp_active) || { sp_wait 20 sp_active || fail "no active node before kill $k"; active=$(sp_active); }
    killed_at=$(date +%s.%N)
    kill -KILL "$(cat "$SP_DIR/$active.daemon.pid")"
    sp_wait 30 sp_active || fail "no node took over after kill $k of $active"
    # the time to the first ACCEPTED of a signal sent after the kill
    sp_wait 30 awk -v t="$killed_at" '$4 > t { found = 1 } END { exit !found }' \
        "$SP_DIR/accepted1" "$SP_DIR/accepted2" || fail "no ACCEPTED after kill $k"
    took=$(awk -v t="$killed_at" '$4 > t && (m == "" || $3 < m) { m = $3 } END { printf "%.2f", m - t }' \
        "$SP_DIR/accepted1" "$SP_DIR/accepted2")
    takeovers="$takeovers $took"
    if [ "$k" -eq $(( (KILLS + 1) / 2 )) ]; then
        tests/pg/pg-stop "$PGD" >/dev/null 2>&1 || fail "cannot stop PostgreSQL"
        sleep 10
        tests/pg/pg-start --again "$PGD" >/dev/null || fail "PostgreSQL did not start again"
    fi
done

touch "$SP_DIR/kills.done"
sp_wait 240 test -s "$SP_DIR/emitter1.done" || fail "emitter 1 did not finish"
sp_wait 240 test -s "$SP_DIR/emitter2.done" || fail "emitter 2 did not finish"
cat "$SP_DIR/accepted1" "$SP_DIR/accepted2" > "$SP_DIR/accepted"
accepted=$(sort -u -k1,1 "$SP_DIR/accepted" | wc -l)
assert_eq "$accepted" $(( $(cat "$SP_DIR/emitter1.done") + $(cat "$SP_DIR/emitter2.done") )) \
    "signals accepted"
# 0855: toeslagen and uwv; 0796: toeslagen and belastingdienst (the routing of tests/lib.sh)
want_t=$accepted
want_b=$(awk '$2 == "0796"' "$SP_DIR/accepted" | sort -u -k1,1 | wc -l)
want_u=$(awk '$2 == "0855"' "$SP_DIR/accepted" | sort -u -k1,1 | wc -l)
sp_wait_ge 120 "$want_t" sp_lines "$SP_DIR/toeslagen.out" \
    || fail "toeslagen has $(sp_lines "$SP_DIR/toeslagen.out") of $want_t"
sp_wait_ge 60 "$want_b" sp_lines "$SP_DIR/belastingdienst.out" \
    || fail "belastingdienst has $(sp_lines "$SP_DIR/belastingdienst.out") of $want_b"
sp_wait_ge 60 "$want_u" sp_lines "$SP_DIR/uwv.out" \
    || fail "uwv has $(sp_lines "$SP_DIR/uwv.out") of $want_u"
sleep 2     # anything more that arrives would be a duplicate

# the checker, at the handlers
for p in toeslagen belastingdienst uwv; do
    jq -r '.event.id' "$SP_DIR/$p.out" | sort > "$SP_DIR/$p.ids"
    dup=$(uniq -d "$SP_DIR/$p.ids" | wc -l)
    assert_eq "$dup" 0 "$p: signals handled twice"
    jq -r '"\(.subscription) \(.seq)"' "$SP_DIR/$p.out" | awk '
        { if ($1 in last && $2 != last[$1] + 1) bad++; last[$1] = $2 }
        END { exit bad > 0 }' || fail "$p: seqs out of order or with gaps"
done
awk '{ print $1 }' "$SP_DIR/accepted" | sort -u > "$SP_DIR/accepted.ids"
awk '$2 == "0796" { print $1 }' "$SP_DIR/accepted" | sort -u > "$SP_DIR/accepted-b.ids"
awk '$2 == "0855" { print $1 }' "$SP_DIR/accepted" | sort -u > "$SP_DIR/accepted-u.ids"
lost_t=$(comm -23 "$SP_DIR/accepted.ids" "$SP_DIR/toeslagen.ids" | wc -l)
lost_b=$(comm -23 "$SP_DIR/accepted-b.ids" "$SP_DIR/belastingdienst.ids" | wc -l)
lost_u=$(comm -23 "$SP_DIR/accepted-u.ids" "$SP_DIR/uwv.ids" | wc -l)
assert_eq "$lost_t $lost_b $lost_u" "0 0 0" "lost (toeslagen, belastingdienst, uwv)"
# phantom: handled but never accepted, or handled where it is not routed
phantom=$(cat "$SP_DIR/toeslagen.ids" "$SP_DIR/belastingdienst.ids" "$SP_DIR/uwv.ids" \
          | sort -u | comm -13 "$SP_DIR/accepted.ids" - | wc -l)
misrouted=$(( $(comm -13 "$SP_DIR/accepted-b.ids" "$SP_DIR/belastingdienst.ids" | wc -l)
            + $(comm -13 "$SP_DIR/accepted-u.ids" "$SP_DIR/uwv.ids" | wc -l) ))
assert_eq "$phantom $misrouted" "0 0" "phantom signals, signals where they are not routed"
# one chain, whoever wrote it: stop the nodes, then verify it
touch "$SP_DIR/stop"
for name in node-a node-b; do sp_stop "$name-sup"; sp_stop "$name.daemon"; done
v=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/node-a.yaml" --strict 2>&1) \
    || fail "audit verify: $v"
deposed=$(cat "$SP_DIR"/node-*.log | grep -c "deposed: " || true)
grep -h "deposed: " "$SP_DIR"/node-*.log | sed 's/.*deposed: //; s/;.*//' | sort | uniq -c
echo "failover: $KILLS kills and PostgreSQL stopped 10 s; $accepted signals accepted;" \
     "lost 0, phantom 0, duplicates 0, order kept, audit verify OK;" \
     "kill -> next ACCEPTED (s):$takeovers;" \
     "deposed $deposed times; first active $first"
