# federation-lib.sh - three nodes on 127.0.0.1 with CURVE, sourced by the
# federation tests: two municipality nodes (tilburg, breda), each taking
# signals from its own Burgerzaken emitter and delivering them to the
# agency node as a subscriber of kind node; the agency node relays them
# on to its two internal partners (toeslagen, uwv). Each node has its own
# directory under $SP_DIR (NODE/seinpost.yaml, NODE/seinpost.db); the
# keys are shared in $SP_DIR/keys. Ports: $PORT_BASE + 0..9.
#
#   fed_setup                   keys and configs
#   fed_start NODE / fed_stop NODE [SIGNAL]   one daemon, by its PID
#   fed_partner NAME            a partner of the agency (seinpost listen,
#                               its handler appends each event to NAME.got)
#   fed_emit CITY ID [GEMEENTECODE]           one signal from CITY's emitter

FED_TYPE=nl.gemeente.burgerzaken.geen-dubbele-bewoning

fed_keys() {
    local name
    mkdir -p "$SP_DIR/keys"
    for name in tilburg breda agency em-tilburg em-breda toeslagen uwv; do
        "$SP_BIN/seinpost" keygen -o "$SP_DIR/keys/$name.key" \
            | sed -n 's/^public_key: //p' > "$SP_DIR/keys/$name.pubtext"
        "$SP_BIN/seinpost" keygen --curve -o "$SP_DIR/keys/$name.curve" \
            | sed -n 's/^curve_public_key: //p' > "$SP_DIR/keys/$name.curvepub"
    done
}

fed_port() {
    case $1 in
        tilburg) echo $((PORT_BASE + 0));; breda) echo $((PORT_BASE + 1));;
        agency) echo $((PORT_BASE + 2));; agency-link) echo $((PORT_BASE + 3));;
        tilburg-admin) echo $((PORT_BASE + 4));; toeslagen) echo $((PORT_BASE + 5));;
        uwv) echo $((PORT_BASE + 6));;
    esac
}

fed_types() {
    cat <<YAML
signal_types:
  - type: $FED_TYPE
    subject_id_type: BSN
    data:
      gemeentecode: string
      nummeraanduidingIdentificatie: string
      bewonerBsn: { type: string, subject_id: true }
      vastgesteldOp: string
YAML
}

fed_emitter() {    # fed_emitter CITY OIN
    cat <<YAML
  - name: burgerzaken-$1
    oin: "$2"
    public_key: $(sp_pub em-$1)
    curve_public_key: "$(sp_curvepub em-$1)"
    types: [$FED_TYPE]
YAML
}

fed_common() {     # fed_common NODE
    cat <<YAML
node:
  name: $1
  signing_key: ../keys/$1.key
  curve_secret_key: ../keys/$1.curve
listen:
  ingress: tcp://127.0.0.1:$(fed_port "$1")
  admin: ipc://admin.sock
database: seinpost.db
limits:
  clock_skew: 0s
audit:
  checkpoint_interval: 1s
YAML
    fed_types
}

# A municipality: its own emitter; the agency node as a subscriber of kind
# node (it is a partner on the wire: its node key signs the receipts).
fed_city() {       # fed_city CITY OIN [EXTRA-EMITTER-CITY EXTRA-OIN]
    mkdir -p "$SP_DIR/$1"
    {
        fed_common "$1"
        echo "emitters:"
        fed_emitter "$1" "$2"
        [ -n "${3:-}" ] && fed_emitter "$3" "$4"
        cat <<YAML
subscribers:
  - name: agency
    kind: node
    endpoint: tcp://127.0.0.1:$(fed_port agency-link)
    public_key: $(sp_pub agency)
    curve_public_key: "$(sp_curvepub agency)"
    receipt_timeout: 2s
    retry: { initial: 100ms, multiplier: 2, max_delay: 500ms, max_age: ${FED_MAX_AGE:-72h}, jitter: 0.1 }
    subscriptions:
      - name: bewoning
        type: $FED_TYPE
        grondslag:
          text: "Awir art. 9 en 10: toetsing huishouden (doorgifte aan de toeslagenknoop)"
          activity: "https://verwerkingsregister.example/$1/bewoning-naar-toeslagen"
YAML
    } > "$SP_DIR/$1/seinpost.yaml"
}

fed_agency_subscriber() {   # fed_agency_subscriber NAME
    cat <<YAML
  - name: $1
    endpoint: tcp://127.0.0.1:$(fed_port "$1")
    public_key: $(sp_pub "$1")
    curve_public_key: "$(sp_curvepub "$1")"
    receipt_timeout: 2s
    retry: { initial: 100ms, multiplier: 2, max_delay: 500ms, max_age: 72h, jitter: 0.1 }
    subscriptions:
      - name: bewoning
        type: $FED_TYPE
        grondslag:
          text: "Awir art. 9 en 10 ($1)"
          activity: "https://verwerkingsregister.example/agency/$1"
YAML
}

fed_agency() {
    mkdir -p "$SP_DIR/agency"
    {
        fed_common agency
        echo "emitters:"
        fed_emitter tilburg "00000001001234567000"
        fed_emitter breda "00000001009876543000"
        cat <<YAML
upstream:
  listen: tcp://127.0.0.1:$(fed_port agency-link)
  subscriber: agency
  nodes:
    - name: tilburg
      public_key: $(sp_pub tilburg)
      curve_public_key: "$(sp_curvepub tilburg)"
      relay:
        - emitter: burgerzaken-tilburg
    - name: breda
      public_key: $(sp_pub breda)
      curve_public_key: "$(sp_curvepub breda)"
      relay:
        - emitter: burgerzaken-breda
          types: [$FED_TYPE]
subscribers:
YAML
        fed_agency_subscriber toeslagen
        fed_agency_subscriber uwv
    } > "$SP_DIR/agency/seinpost.yaml"
}

fed_clients() {
    local city name
    for city in tilburg breda; do
        cat > "$SP_DIR/em-$city.yaml" <<YAML
endpoint: tcp://127.0.0.1:$(fed_port "$city")
signing_key: keys/em-$city.key
source: urn:nld:oin:$( [ "$city" = tilburg ] && echo 00000001001234567000 || echo 00000001009876543000 ):systeem:burgerzaken
curve_secret_key: keys/em-$city.curve
server_curve_public_key: "$(sp_curvepub "$city")"
YAML
    done
    for name in toeslagen uwv; do
        cat > "$SP_DIR/$name.yaml" <<YAML
listen: tcp://127.0.0.1:$(fed_port "$name")
signing_key: keys/$name.key
curve_secret_key: keys/$name.curve
subscriber: $name
router_public_key: $(sp_pub agency)
router_curve_public_key: "$(sp_curvepub agency)"
emitter_public_keys:
  - $(sp_pub em-tilburg)
  - $(sp_pub em-breda)
YAML
    done
}

fed_setup() {
    fed_keys
    fed_city tilburg "00000001001234567000"
    fed_city breda "00000001009876543000" "${FED_BREDA_EXTRA:-}" "${FED_BREDA_EXTRA_OIN:-}"
    fed_agency
    fed_clients
}

fed_start() {
    (cd "$SP_DIR/$1" && exec "$SP_BIN/seinpostd" -c seinpost.yaml 2>>daemon.log) &
    echo $! > "$SP_DIR/$1.pid"
    sp_wait 20 "$SP_BIN/seinpost" status -c "$SP_DIR/$1/seinpost.yaml" \
        || { sp_log "node $1 did not come up:"; tail -5 "$SP_DIR/$1/daemon.log" >&2; return 1; }
}

fed_stop() { sp_stop "$1" "${2:-TERM}"; }

fed_partner() {
    sp_start_partner "$1" --exec "cat >> $SP_DIR/$1.got; echo >> $SP_DIR/$1.got"
}

fed_emit() {       # fed_emit CITY ID [GEMEENTECODE] [EMITTER-CONFIG]
    local code=${3:-0855} conf=${4:-em-$1} source
    source=$(sed -n 's/^source: //p' "$SP_DIR/$conf.yaml")
    printf '{"specversion":"1.0","id":"%s","source":"%s","type":"%s","time":"%s","datacontenttype":"application/json","subject":"999993653","data":{"gemeentecode":"%s","nummeraanduidingIdentificatie":"0855200000123456","bewonerBsn":"999993653","vastgesteldOp":"2026-11-20"}}' \
        "$2" "$source" $FED_TYPE "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$code" \
        | "$SP_BIN/seinpost" emit -c "$SP_DIR/$conf.yaml" --data - --timeout 10000
}

# ids handed to a partner's handler, one per line (sorted, unique)
fed_got() { grep -o '"id":"[^"]*"' "$SP_DIR/$1.got" 2>/dev/null | sed 's/"id":"//; s/"$//' | sort -u; }
fed_got_count() { fed_got "$1" | wc -l; }
fed_sql() { sqlite3 -cmd ".timeout 5000" "$SP_DIR/$1/seinpost.db" "$2"; }
