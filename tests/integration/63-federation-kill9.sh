#!/usr/bin/env bash
# The middle node killed with SIGKILL while both municipalities send: the
# agency node takes a relayed signal only after it is stored (fsynced),
# and an upstream resends what it has no receipt for; the agency
# recognises a resent signal by (source, id). Counted at the partners'
# handlers: every signal of both cities arrives, none is lost, none is
# handed on twice.
# sqlite-only: its nodes keep their queues in SQLite files of their own (federation-lib.sh); a node link is refused with a PostgreSQL database
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/federation-lib.sh"
PER_CITY=${FED_SIGNALS:-40}
fed_setup
for node in agency tilburg breda; do fed_start $node || fail "start $node"; done
fed_partner toeslagen
fed_partner uwv

# both cities send in the background, a signal every ~20 ms
for city in tilburg breda; do
    (
        for i in $(seq 1 "$PER_CITY"); do
            until fed_emit $city "$city-$i" | grep -q ACCEPTED; do sleep 0.2; done
            sleep 0.02
        done
        echo done > "$SP_DIR/$city.sent"
    ) > /dev/null 2>&1 &
    echo $! > "$SP_DIR/$city-sender.pid"
done

# kill -9 the agency three times at random moments while they send
for round in 1 2 3; do
    sleep "0.$(( RANDOM % 9 + 3 ))"
    fed_stop agency KILL
    sleep 0.3
    fed_start agency || fail "restart $round"
done
sp_wait 60 test -f "$SP_DIR/tilburg.sent" || fail "tilburg did not finish sending"
sp_wait 60 test -f "$SP_DIR/breda.sent" || fail "breda did not finish sending"
total=$((2 * PER_CITY))
for p in toeslagen uwv; do
    sp_wait_ge 60 "$total" fed_got_count $p \
        || fail "$p got $(fed_got_count $p) of $total after three kills of the middle node"
    assert_eq "$(grep -c . "$SP_DIR/$p.got")" "$total" "each signal handed to $p once"
done
assert_eq "$(fed_sql agency "SELECT COUNT(*) FROM signals")" "$total" "stored once at the agency"
for node in agency tilburg breda; do fed_stop $node; done
out=$("$SP_BIN/seinpost" audit verify -c "$SP_DIR/agency/seinpost.yaml") \
    || fail "audit verify on the agency: $out"
echo "federation kill -9 OK: $total signals, 0 lost, 0 twice"
