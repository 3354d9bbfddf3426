/*  config.h - seinpostd configuration (YAML), see conf/seinpost.yaml.

    config_load() reads the whole file into an immutable config_t; a reload
    builds a new one and swaps it in only when it loaded without error.
    Every error names file, line and what is wrong.
*/
#ifndef CONFIG_H_INCLUDED
#define CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "seinpost.h"
#include "sp_event.h"

/*  A partial batch (the queue holds fewer than a full DELIVER) waits this
    long for company before it goes: at a trickle of signals one batch
    signature and one receipt then serve several deliveries.            */
#define CONFIG_BATCH_LINGER_DEFAULT_MS 5
#define CONFIG_BATCH_LINGER_MAX_MS 1000

typedef enum { FILTER_EXACT, FILTER_PREFIX, FILTER_ANY_OF } filter_op_t;

/*  Public keys a party signed with before its key was rotated. They are
    never used for new traffic: only `seinpost audit verify` checks what
    they signed (checkpoints, batches, signals, receipts).              */
typedef struct {
    sp_key_t **keys;
    size_t count;
} key_list_t;

/*  One condition of a subscription filter; all conditions must hold.
    path: "source", "subject", "type" or "data.<field>[.<field>]".
    For EXACT and PREFIX, values[0] is the operand; ANY_OF has value_count
    alternatives. A JSON number or boolean field matches when its JSON text
    equals the operand (e.g. 42, true).                                  */
typedef struct {
    char *path;
    filter_op_t op;
    char **values;
    size_t value_count;
    int line;
} filter_cond_t;

typedef struct {
    char *name;                 /* unique within its subscriber */
    char *type;                 /* signal type it takes */
    filter_cond_t *conds;
    size_t cond_count;
    char *grondslag;            /* legal basis, free text; mandatory */
    char *activity;             /* processing-activity id (URI); mandatory */
    int line;
} subscription_t;

typedef struct {
    int64_t initial_ms;         /* first retry delay; default 1 s */
    double multiplier;          /* default 2.0 */
    int64_t max_delay_ms;       /* default 1 h */
    int64_t max_age_ms;         /* dead-letter after; default 72 h */
    double jitter;              /* 0..1, fraction of the delay; default 0.2 */
} retry_policy_t;

typedef struct {
    char *name;                 /* unique */
    char *endpoint;             /* partner binds, router connects */
    bool is_node;               /* kind node: another seinpostd (protocol.md 16) */
    sp_key_t *key;              /* partner's Ed25519 public key (receipts) */
    key_list_t previous_keys;   /* its keys before a rotation: verify only */
    char *curve_public;         /* partner's CURVE public key (Z85), or NULL */
    int window;                 /* max deliveries in flight; default 64 */
    int64_t receipt_timeout_ms; /* default 10 s */
    int64_t batch_linger_ms;    /* hold a partial batch this long; default 5 ms */
    retry_policy_t retry;
    subscription_t *subs;
    size_t sub_count;
    int line;
} subscriber_t;

typedef enum {
    FIELD_STRING, FIELD_NUMBER, FIELD_INTEGER, FIELD_BOOLEAN,
    FIELD_OBJECT, FIELD_ARRAY, FIELD_ANY
} field_type_t;

typedef struct {
    char *name;                 /* member of data */
    field_type_t type;
    bool subject_id;            /* holds a data-subject id (pseudonymise) */
} data_field_t;

typedef struct {
    char *type;                 /* CloudEvents type */
    data_field_t *fields;       /* required members of data */
    size_t field_count;
    char *subject_id_type;      /* e.g. "BSN": what subject holds; or NULL */
    int64_t retention_ms;       /* payload purge after; 0 = keep */
    int line;
} signal_type_t;

typedef struct {
    char *name;                 /* unique */
    char oin[21];               /* 20 digits */
    sp_key_t *key;              /* Ed25519 public key */
    key_list_t previous_keys;   /* its keys before a rotation: verify only */
    char *curve_public;         /* CURVE public key (Z85), or NULL */
    char **types;               /* types it may emit */
    size_t type_count;
    int max_in_flight;          /* default 1000 */
    int line;
} emitter_t;

/*  What an upstream node may relay to this one: signals of one of this
    node's emitters, of the types listed (none: every type the emitter
    may emit here). protocol.md 16.                                    */
typedef struct {
    size_t emitter;             /* index into config_t.emitters */
    char **types;
    size_t type_count;
} relay_rule_t;

/*  A node that delivers to this one as its partner (subscriber kind node
    at that node).                                                     */
typedef struct {
    char *name;                 /* its node name: the router of its batches */
    sp_key_t *key;              /* its node key, which signs its batches */
    char *curve_public;         /* its CURVE key (Z85): the connection's */
    relay_rule_t *relay;
    size_t relay_count;
    int line;
} upstream_t;

typedef struct {
    char *path;                 /* file it came from */
    char *node_name;
    char *signing_key_path;
    sp_key_t *signing_key;      /* loaded, with secret (config_load_public:
                                   maybe public only) */
    key_list_t previous_keys;   /* node keys before a rotation: verify only */
    char *curve_secret_path;    /* node's CURVE secret key file, or NULL */
    char *ingress_endpoint;     /* emitters connect here */
    char *admin_endpoint;       /* operator socket, ipc:// */
    char *metrics_listen;       /* HTTP "host:port" for Prometheus, or NULL */
    char *database;             /* a SQLite file, or a PostgreSQL URI */
    char *pseudonym_key_path;   /* node secret for pseudonyms; optional on
                                   SQLite, required on PostgreSQL */
    int64_t lease_ms;           /* PostgreSQL: how long the active node's
                                   lease lasts unrenewed; default 3 s */
    bool allow_plaintext_tcp;   /* test only: "insecure_plaintext_tcp_for_tests" */
    sp_event_limits_t limits;
    int64_t clock_skew_ms;      /* max |time - now|; default 24 h; 0 = off */
    int64_t checkpoint_interval_ms;  /* audit checkpoints; default 60 s */
    char *alert_command;        /* run on dead-letter; or NULL */
    int64_t alert_interval_ms;  /* per subscriber; default 1 h */
    signal_type_t *types;
    size_t type_count;
    emitter_t *emitters;
    size_t emitter_count;
    subscriber_t *subscribers;
    size_t subscriber_count;
    char *upstream_listen;      /* the node link: upstream nodes connect; or NULL */
    char *upstream_subscriber;  /* this node's subscriber name at them */
    upstream_t *upstreams;
    size_t upstream_count;
} config_t;

/*  Loads and validates path. On error returns NULL and writes one or more
    "file:line: message" lines (newline-separated) into err.             */
config_t *config_load(const char *path, char *err, size_t errlen);
/*  As config_load(), for the audit commands, which an auditor who may
    not read the node's secret key runs (seinpost(1), Auditor role):
    signing_key holds only the public key, read from the PEM file
    "<node.signing_key>.pub" that `seinpost keygen` writes beside it.
    Without that file it falls back to the secret key, as before.      */
config_t *config_load_public(const char *path, char *err, size_t errlen);
void config_destroy(config_t **self_p);

const signal_type_t *config_signal_type(const config_t *self, const char *type);
const emitter_t *config_emitter_by_key_id(const config_t *self, const char *key_id);
/*  The key with this id: current, else one of previous; or NULL.        */
const sp_key_t *config_key_by_id(const sp_key_t *current, const key_list_t *previous,
                                 const char *key_id);
/*  For verification: the emitter whose current or previous key has this
    id, and that key in *key. Ingress uses config_emitter_by_key_id().   */
const emitter_t *config_emitter_by_any_key(const config_t *self, const char *key_id,
                                           const sp_key_t **key);
const emitter_t *config_emitter_by_name(const config_t *self, const char *name);
/*  The emitter whose curve_public_key is z85 (40 characters), or NULL.  */
const emitter_t *config_emitter_by_curve(const config_t *self, const char *z85);
const subscriber_t *config_subscriber(const config_t *self, const char *name);
bool config_emitter_may_emit(const emitter_t *emitter, const char *type);
const upstream_t *config_upstream(const config_t *self, const char *name);
/*  True when upstream may relay signals of emitter of this type.        */
bool config_upstream_may_relay(const config_t *self, const upstream_t *upstream,
                               const emitter_t *emitter, const char *type);

/*  Durations: "250ms", "10s", "5m", "2h", "3d" or a bare number of seconds. */
int config_parse_duration(const char *text, int64_t *ms);

#endif
