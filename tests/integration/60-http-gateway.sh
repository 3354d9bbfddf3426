#!/usr/bin/env bash
# The HTTP ingress gateway (protocol.md 15.2), driven with curl: a valid
# CloudEvent posted with the bearer token is answered 201 after the
# router's ACCEPTED, and the partner's handler receives exactly the bytes
# posted, signed with the emitter's key (the partner verifies it; so does
# openssl here, over the signature the router stored). The same body
# again is 200 with "duplicate": true and is not delivered twice. No
# token or a wrong one is 401 with WWW-Authenticate, another Content-Type
# 415, a body past 64 KiB 413, a body that is not JSON 400 JSON_INVALID
# (the gateway's own check: nothing reaches the router), an unknown type
# 422 problem+json with code TYPE_UNKNOWN (the router's answer). With the
# daemon stopped the answer is 504 GATEWAY_TIMEOUT within the timeout. On
# a unix socket (mode 0660) the peer's uid decides: a listed uid posts,
# another gets 403. A non-loopback listen address, or a token file others
# can read, is refused at start. Neither the token nor the body reaches
# the gateway's log.
. "$(dirname "$0")/common.sh"
sp_setup "$SP_DIR" "$PORT_BASE" >/dev/null
GW_PORT=$((PORT_BASE + 5))
URL=http://127.0.0.1:$GW_PORT/events
sp_start_daemon || fail "daemon start"

# the partner's handler keeps each event's exact bytes in its own file
cat > "$SP_DIR/handler.sh" <<SH
#!/bin/sh
n=\$(ls "$SP_DIR"/got.* 2>/dev/null | wc -l)
cat > "$SP_DIR/got.\$n"
SH
chmod +x "$SP_DIR/handler.sh"
sp_start_partner toeslagen --exec "$SP_DIR/handler.sh"
got() { ls "$SP_DIR"/got.* 2>/dev/null | wc -l; }

head -c 48 /dev/urandom | base64 | tr -d '=+/\n' > "$SP_DIR/token"
chmod 600 "$SP_DIR/token"
TOKEN=$(cat "$SP_DIR/token")
gateway_conf() {   # NAME, then the lines of the gateway block
    local name=$1
    shift
    { cat "$SP_DIR/burgerzaken.yaml"; echo "gateway:"; printf '  %s\n' "$@"; } \
        > "$SP_DIR/$name.yaml"
}
start_gateway() {
    "$SP_BIN/seinpost" gateway -c "$SP_DIR/$1.yaml" 2>>"$SP_DIR/$1.err" &
    echo $! > "$SP_DIR/$1.pid"
}
gateway_conf gw "listen: 127.0.0.1:$GW_PORT" "bearer_token_file: token" "timeout: 2s"
start_gateway gw
sp_wait 10 curl -s -o /dev/null "$URL" || fail "gateway did not come up: $(cat "$SP_DIR/gw.err")"

# post FILE [curl options...]: prints the status; body in $SP_DIR/resp,
# headers in $SP_DIR/hdr
post() {
    local file=$1
    shift
    curl -sS --max-time 15 -o "$SP_DIR/resp" -D "$SP_DIR/hdr" -w '%{http_code}' \
        --data-binary "@$file" "$@"
}
auth=(-H "Authorization: Bearer $TOKEN")
ce=(-H "Content-Type: application/cloudevents+json; charset=utf-8")
event() {   # ID TYPE > file: a pretty-printed CloudEvent, as an application may send it
    cat <<JSON
{
  "specversion": "1.0",
  "id": "$1",
  "source": "urn:nld:oin:00000001001234567000:systeem:burgerzaken",
  "type": "$2",
  "time": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "subject": "999993653",
  "datacontenttype": "application/json",
  "data": $GDB_DATA
}
JSON
}
problem_code() { jq -r '.code' "$SP_DIR/resp"; }
is_problem() {
    grep -qi '^content-type: application/problem+json' "$SP_DIR/hdr" \
        && jq -e --argjson s "$1" '.status == $s and .type and .title and .detail' \
               "$SP_DIR/resp" >/dev/null
}
signals() { sp_sql "SELECT COUNT(*) FROM signals"; }

# 1. a valid event: 201 after ACCEPTED, delivered byte for byte, signed by the emitter
event gw-1 "$GDB_TYPE" > "$SP_DIR/e1.json"
status=$(post "$SP_DIR/e1.json" "${auth[@]}" "${ce[@]}" "$URL")
assert_eq "$status" 201 "valid event: $(cat "$SP_DIR/resp")"
jq -e '.id == "gw-1" and .status == "ACCEPTED" and .duplicate == false' "$SP_DIR/resp" \
    >/dev/null || fail "201 body: $(cat "$SP_DIR/resp")"
sp_wait_ge 10 1 got || fail "the partner's handler got nothing: $(cat "$SP_DIR/toeslagen.err")"
cmp -s "$SP_DIR/e1.json" "$SP_DIR/got.0" || fail "the partner got other bytes than were posted"
key_id=$(python3 - "$(sp_pub burgerzaken)" <<'PY'
import base64, hashlib, sys
print(hashlib.sha256(base64.b64decode(sys.argv[1].split(":", 1)[1])).hexdigest()[:16])
PY
)
assert_eq "$(sp_sql "SELECT key_id FROM signals WHERE ce_id = 'gw-1'")" "$key_id" \
    "the router took it as signed by the emitter's key"
{ printf 'seinpost/1 signal\0'; cat "$SP_DIR/e1.json"; } > "$SP_DIR/signed"
sp_sql "SELECT hex(signature) FROM signals WHERE ce_id = 'gw-1'" \
    | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' \
    > "$SP_DIR/sig"
openssl pkeyutl -verify -pubin -inkey "$SP_DIR/keys/burgerzaken.key.pub" -rawin \
    -in "$SP_DIR/signed" -sigfile "$SP_DIR/sig" >/dev/null \
    || fail "the stored signature does not verify over the posted bytes with the emitter's key"

# 2. the same body again: 200, duplicate, not delivered again
status=$(post "$SP_DIR/e1.json" "${auth[@]}" "${ce[@]}" "$URL")
assert_eq "$status" 200 "duplicate: $(cat "$SP_DIR/resp")"
jq -e '.id == "gw-1" and .duplicate == true' "$SP_DIR/resp" >/dev/null \
    || fail "duplicate body: $(cat "$SP_DIR/resp")"

# 3. authentication, media type, size, JSON: refused before the router
before=$(signals)
status=$(post "$SP_DIR/e1.json" "${ce[@]}" "$URL")
assert_eq "$status" 401 "no token"
is_problem 401 && [ "$(problem_code)" = UNAUTHORIZED ] || fail "no token: $(cat "$SP_DIR/resp")"
grep -qi '^www-authenticate: Bearer' "$SP_DIR/hdr" || fail "401 without WWW-Authenticate"
status=$(post "$SP_DIR/e1.json" -H "Authorization: Bearer ${TOKEN}x" "${ce[@]}" "$URL")
assert_eq "$status" 401 "wrong token"
grep -qi '^www-authenticate: Bearer.*invalid_token' "$SP_DIR/hdr" || fail "wrong token challenge"
status=$(post "$SP_DIR/e1.json" -H "Authorization: Bearer ${TOKEN:0:20}" "${ce[@]}" "$URL")
assert_eq "$status" 401 "a prefix of the token"
status=$(post "$SP_DIR/e1.json" "${auth[@]}" -H "Content-Type: application/json" "$URL")
assert_eq "$status" 415 "wrong content type"
is_problem 415 && [ "$(problem_code)" = MEDIA_TYPE_UNSUPPORTED ] || fail "415: $(cat "$SP_DIR/resp")"
head -c 70000 /dev/zero | tr '\0' ' ' > "$SP_DIR/big.json"
status=$(post "$SP_DIR/big.json" "${auth[@]}" "${ce[@]}" "$URL")
assert_eq "$status" 413 "oversize"
is_problem 413 && [ "$(problem_code)" = TOO_LARGE ] || fail "413: $(cat "$SP_DIR/resp")"
printf '{"specversion": "1.0", ' > "$SP_DIR/broken.json"
status=$(post "$SP_DIR/broken.json" "${auth[@]}" "${ce[@]}" "$URL")
assert_eq "$status" 400 "not JSON"
is_problem 400 && [ "$(problem_code)" = JSON_INVALID ] || fail "400: $(cat "$SP_DIR/resp")"
assert_eq "$(signals)" "$before" "refused requests reached the router"

# 4. an unknown type: the router's TYPE_UNKNOWN as 422 problem+json
event gw-2 nl.gemeente.burgerzaken.onbekend-signaal > "$SP_DIR/e2.json"
status=$(post "$SP_DIR/e2.json" "${auth[@]}" "${ce[@]}" "$URL")
assert_eq "$status" 422 "unknown type: $(cat "$SP_DIR/resp")"
is_problem 422 && [ "$(problem_code)" = TYPE_UNKNOWN ] || fail "422: $(cat "$SP_DIR/resp")"

# 5. a unix socket: mode 0660, the listed uid posts, another uid is refused
gateway_conf gwu "unix: gw.sock" "allowed_uids: [$(id -u)]" "timeout: 2s"
gateway_conf gwx "unix: gwx.sock" "allowed_uids: [$(( $(id -u) + 1 ))]"
start_gateway gwu
start_gateway gwx
sp_wait 10 test -S "$SP_DIR/gw.sock" || fail "unix gateway: $(cat "$SP_DIR/gwu.err")"
sp_wait 10 test -S "$SP_DIR/gwx.sock" || fail "unix gateway: $(cat "$SP_DIR/gwx.err")"
assert_eq "$(stat -c %a "$SP_DIR/gw.sock")" 660 "socket mode"
event gw-3 "$GDB_TYPE" > "$SP_DIR/e3.json"
status=$(post "$SP_DIR/e3.json" --unix-socket "$SP_DIR/gwx.sock" "${ce[@]}" http://localhost/events)
assert_eq "$status" 403 "uid not listed"
is_problem 403 && [ "$(problem_code)" = PEER_NOT_ALLOWED ] || fail "403: $(cat "$SP_DIR/resp")"
status=$(post "$SP_DIR/e3.json" --unix-socket "$SP_DIR/gw.sock" "${ce[@]}" http://localhost/events)
assert_eq "$status" 201 "unix socket: $(cat "$SP_DIR/resp")"
sp_wait_ge 10 2 got || fail "the event posted on the unix socket did not arrive"
cmp -s "$SP_DIR/e3.json" "$SP_DIR/got.1" || fail "the partner got other bytes (unix socket)"
sleep 0.5
assert_eq "$(got)" 2 "events the partner's handler got (the duplicate not again)"
sp_stop gwx

# 6. the daemon stopped: 504 within the timeout (2 s), not a hang
sp_stop daemon
event gw-4 "$GDB_TYPE" > "$SP_DIR/e4.json"
start=$(date +%s%N)
status=$(post "$SP_DIR/e4.json" "${auth[@]}" "${ce[@]}" "$URL")
took=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq "$status" 504 "daemon stopped: $(cat "$SP_DIR/resp")"
is_problem 504 && [ "$(problem_code)" = GATEWAY_TIMEOUT ] || fail "504: $(cat "$SP_DIR/resp")"
grep -qi '^retry-after: ' "$SP_DIR/hdr" || fail "504 without Retry-After"
[ "$took" -ge 1800 ] && [ "$took" -lt 4000 ] || fail "504 after $took ms, timeout 2 s"

# 7. refused at start: a non-loopback address, a token file others can read
# (192.0.2.1, TEST-NET-1, is no address of this host: were the check gone,
# bind would fail too, but with another message, and nothing is opened)
gateway_conf pub "listen: 192.0.2.1:$((GW_PORT + 1))" "bearer_token_file: token"
out=$(timeout 10 "$SP_BIN/seinpost" gateway -c "$SP_DIR/pub.yaml" 2>&1)
assert_eq "$?" 3 "non-loopback listen: exit status"
grep -q "192.0.2.1:$((GW_PORT + 1)) is not a loopback address" <<<"$out" \
    || fail "no reason given: $out"
gateway_conf pub "listen: 0.0.0.0:$((GW_PORT + 1))" "bearer_token_file: token" "public: true"
"$SP_BIN/seinpost" gateway -c "$SP_DIR/pub.yaml" --check >/dev/null \
    || fail "public: true does not allow it"
cp "$SP_DIR/token" "$SP_DIR/token-open"
chmod 644 "$SP_DIR/token-open"
gateway_conf open "listen: 127.0.0.1:$((GW_PORT + 1))" "bearer_token_file: token-open"
out=$("$SP_BIN/seinpost" gateway -c "$SP_DIR/open.yaml" --check 2>&1) \
    && fail "a token file of mode 0644 was accepted"
grep -q "chmod 600" <<<"$out" || fail "token file mode: $out"

# neither the token nor the body (a BSN) in the gateway's log
sp_stop gw
sp_stop gwu
cat "$SP_DIR"/gw*.err > "$SP_DIR/gateway-logs"
grep -q "201 OK id gw-1" "$SP_DIR/gateway-logs" || fail "no log line: $(cat "$SP_DIR/gateway-logs")"
grep -qF "${TOKEN:0:12}" "$SP_DIR/gateway-logs" && fail "the token is in the gateway's log"
grep -q 999993653 "$SP_DIR/gateway-logs" && fail "the body is in the gateway's log"
# under ASan a report goes to the log, not to the exit status sp_stop drops
grep -lE "Sanitizer|runtime error" "$SP_DIR"/*.err && fail "sanitizer report"
echo "http gateway OK"
