/*  seinpost.h - public API of libseinpost.

    libseinpost lets emitters (e.g. a Burgerzaken system) and partners (e.g. a
    benefits agency) speak the seinpost protocol described in docs/protocol.md:
    Ed25519 keys in PEM files, signing and verifying, CloudEvents (NL GOV
    profile) validation, emitting a signal and listening for deliveries.

    Naming follows CLASS: sp_<class>_<verb>(), _new() returns NULL on failure,
    _destroy(T **self_p) frees and nulls the pointer.
*/
#ifndef SEINPOST_H_INCLUDED
#define SEINPOST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_VERSION_STRING "0.1.0"

/*  Protocol identity: the first frame of every message. The ingress and
    the admin socket speak SEINPOST1; the delivery link (DELIVER, RECEIPT,
    NACK) speaks SEINPOST2, whose receipts name exactly the entries of one
    batch that the partner handled (docs/protocol.md 7).                  */
#define SP_PROTOCOL "SEINPOST1"
#define SP_PROTOCOL_DELIVERY "SEINPOST2"

/*  Signature domains: signed bytes are the domain, one NUL byte, then the
    message bytes. Separate domains stop a signature made for one purpose
    being replayed as another.                                              */
#define SP_DOMAIN_SIGNAL  "seinpost/1 signal"
/*  SEINPOST2: the batch signature covers the 32-byte SHA-256 of the
    header, the receipt signature the body.                               */
#define SP_DOMAIN_BATCH   "seinpost/2 batch"
#define SP_DOMAIN_RECEIPT "seinpost/2 receipt"
/*  FETCH (a partner asks for its deliveries again): the partner signs
    the request body, the router its FETCHED answer (protocol.md 7.4).  */
#define SP_DOMAIN_FETCH   "seinpost/2 fetch"
#define SP_DOMAIN_FETCHED "seinpost/2 fetched"
/*  SEINPOST1's, for verifying batches and receipts stored before it.     */
#define SP_DOMAIN_BATCH_V1   "seinpost/1 batch"
#define SP_DOMAIN_RECEIPT_V1 "seinpost/1 receipt"
#define SP_DOMAIN_CHECKPOINT "seinpost/1 checkpoint"

#define SP_SIGNATURE_SIZE 64
#define SP_PUBLIC_KEY_SIZE 32
#define SP_KEY_ID_SIZE 16           /* hex characters, without NUL */
#define SP_SHA256_SIZE 32

/*  Reply and rejection codes. The wire carries the name (sp_code_name()).   */
typedef enum {
    SP_OK = 0,
    SP_DUPLICATE,               /* accepted earlier; answered as the first time */
    /* framing */
    SP_E_PROTOCOL,              /* first frame is not SEINPOST1 */
    SP_E_FRAMES,                /* wrong number of frames or an empty frame */
    SP_E_COMMAND,               /* unknown command */
    SP_E_TOO_LARGE,             /* message or frame above the size limit */
    /* JSON */
    SP_E_UTF8,                  /* event bytes are not valid UTF-8 */
    SP_E_JSON,                  /* not a JSON document */
    SP_E_JSON_DEPTH,            /* nesting deeper than the limit */
    SP_E_JSON_DUPLICATE_KEY,    /* an object repeats a member name */
    SP_E_JSON_NUMBER,           /* number out of range */
    SP_E_JSON_LIMIT,            /* a string or member count above the limit */
    /* CloudEvents envelope */
    SP_E_NOT_OBJECT,            /* event is not a JSON object */
    SP_E_ATTR_MISSING,          /* required attribute absent */
    SP_E_ATTR_TYPE,             /* attribute of the wrong JSON type */
    SP_E_ATTR_NAME,             /* attribute name breaks the profile's rules */
    SP_E_ATTR_INVALID,          /* attribute value breaks the profile */
    SP_E_SPECVERSION,           /* specversion is not "1.0" */
    SP_E_SOURCE,                /* source is not a urn:nld:oin: URN */
    SP_E_OIN,                   /* OIN in source is not 20 digits */
    SP_E_TIME,                  /* time is not RFC 3339 */
    SP_E_CLOCK_SKEW,            /* time too far from the router's clock */
    /* type and data */
    SP_E_TYPE_UNKNOWN,          /* type not configured */
    SP_E_DATA_MISSING,          /* required data field absent */
    SP_E_DATA_TYPE,             /* data field of the wrong JSON type */
    /* signature and authorisation */
    SP_E_KEY_UNKNOWN,           /* key id names no configured emitter */
    SP_E_SIGNATURE_LENGTH,      /* signature frame is not 64 bytes */
    SP_E_SIGNATURE,             /* signature does not verify */
    SP_E_NOT_ALLOWED,           /* emitter may not emit this type */
    SP_E_SOURCE_MISMATCH,       /* source OIN is not the signing emitter's */
    SP_E_CURVE_MISMATCH,        /* CURVE key belongs to another emitter */
    SP_E_REPLAY,                /* same source and id, other content */
    /* router state */
    SP_E_STORAGE,               /* cannot store durably now (disk full...) */
    SP_E_OVERLOADED,            /* in-flight limit for this emitter reached */
    SP_E_SHUTTING_DOWN,         /* daemon is stopping */
    SP_E_INTERNAL,
    /* receipts (sent back by partners or logged by the router) */
    SP_E_RECEIPT_UNKNOWN,       /* receipt for nothing in flight */
    SP_E_RECEIPT_SIGNATURE,     /* receipt signature does not verify */
    SP_E_BATCH_SIGNATURE,       /* partner: router signature does not verify */
    SP_E_PARTNER_FAILED,        /* partner could not process the batch */
    SP_E_BATCH_MISADDRESSED,    /* partner: batch names another partner */
    SP_E_BATCH_REPLAYED,        /* partner: batch handled before, or too old */
    SP_E_SEQUENCE_GAP,          /* partner: an entry's prev was not handled */
    SP_CODE_COUNT
} sp_code_t;

/*  Name of a code as it travels on the wire, e.g. "SIGNATURE_INVALID".    */
const char *sp_code_name(sp_code_t code);
/*  Code for a wire name, SP_E_INTERNAL if unknown.                         */
sp_code_t sp_code_from_name(const char *name);

/*  --------------------------------------------------------------------
    sp_key: an Ed25519 key pair (or only its public half).
    Secret keys are PKCS#8 PEM files that `openssl pkey` reads; public keys
    travel in configuration as "ed25519:<base64 of 32 bytes>".            */
typedef struct sp_key sp_key_t;

sp_key_t *sp_key_generate(void);
/*  Loads a secret key from PEM. Refuses files readable by group or others
    when refuse_open_mode is true. On failure writes a reason to err.      */
sp_key_t *sp_key_load(const char *path, bool refuse_open_mode,
                      char *err, size_t errlen);
/*  Parses "ed25519:<base64>" (public only).                              */
sp_key_t *sp_key_from_text(const char *text);
sp_key_t *sp_key_from_raw_public(const uint8_t pub[SP_PUBLIC_KEY_SIZE]);
void sp_key_destroy(sp_key_t **self_p);

/*  Writes the secret key as PEM (mode 0600, fsync then rename) and, when
    pub_path is not NULL, the public key as PEM.                            */
int sp_key_save(const sp_key_t *self, const char *path, const char *pub_path);
/*  "ed25519:<base64>", NUL-terminated; buf needs at least 60 bytes.       */
int sp_key_public_text(const sp_key_t *self, char *buf, size_t len);
const uint8_t *sp_key_public(const sp_key_t *self);
/*  Key id: first 8 bytes of SHA-256(public key), lower-case hex.          */
const char *sp_key_id(const sp_key_t *self);
bool sp_key_has_secret(const sp_key_t *self);

int sp_key_sign(const sp_key_t *self, const char *domain,
                const void *msg, size_t len, uint8_t sig[SP_SIGNATURE_SIZE]);
/*  Returns 0 when the signature is valid.                                  */
int sp_key_verify(const sp_key_t *self, const char *domain,
                  const void *msg, size_t len,
                  const uint8_t sig[SP_SIGNATURE_SIZE]);

/*  The batch signature of SEINPOST2: Ed25519 over SP_DOMAIN_BATCH, 0x00
    and the 32-byte SHA-256 of the header frame. 0 when it signed or
    verifies.                                                              */
int sp_batch_sign(const sp_key_t *key, const void *header, size_t len,
                  uint8_t sig[SP_SIGNATURE_SIZE]);
int sp_batch_verify(const sp_key_t *key, const void *header, size_t len,
                    const uint8_t sig[SP_SIGNATURE_SIZE]);
/*  The same from the header's SHA-256, for callers that need the digest
    anyway (it names the batch in RECEIPT and NACK): hashed once.       */
int sp_batch_sign_digest(const sp_key_t *key, const uint8_t digest[SP_SHA256_SIZE],
                         uint8_t sig[SP_SIGNATURE_SIZE]);
int sp_batch_verify_digest(const sp_key_t *key, const uint8_t digest[SP_SHA256_SIZE],
                           const uint8_t sig[SP_SIGNATURE_SIZE]);

/*  SHA-256 helper and hex encoding.                                        */
void sp_sha256(const void *data, size_t len, uint8_t out[SP_SHA256_SIZE]);
void sp_hex(const uint8_t *bytes, size_t len, char *out /* 2*len+1 */);
int sp_unhex(const char *hex, uint8_t *out, size_t outlen);

/*  --------------------------------------------------------------------
    sp_emitter: sends signed signals to seinpostd and waits for the answer.  */
typedef struct sp_emitter sp_emitter_t;

typedef struct {
    sp_code_t code;
    char code_name[40];
    char reason[256];
    char correlation[65];
} sp_reply_t;

/*  endpoint: e.g. "tcp://127.0.0.1:7400", or several separated by commas
    (the nodes that take turns on one PostgreSQL database: each message
    goes to the one that listens). key: the emitter's signing key,
    borrowed and kept alive by the caller. curve_server_key: Z85 CURVE public
    key of the daemon, NULL for ipc:// without CURVE. curve_secret_file:
    the emitter's CURVE secret key file, NULL without CURVE.               */
sp_emitter_t *sp_emitter_new(const char *endpoint, const sp_key_t *key,
                             const char *curve_server_key,
                             const char *curve_secret_file,
                             char *err, size_t errlen);
void sp_emitter_destroy(sp_emitter_t **self_p);
/*  Signs event (exact JSON bytes) and queues it; correlation names it in
    the reply. Does not wait.                                              */
int sp_emitter_send(sp_emitter_t *self, const char *correlation,
                    const void *event, size_t len);
/*  Queues event with a signature made before, e.g. by
    sp_key_sign(key, SP_DOMAIN_SIGNAL, event, len, sig) with this emitter's
    key, so that signing can happen apart from sending (a benchmark signs
    ahead of its timed run). The daemon checks the signature as for
    sp_emitter_send. Does not wait.                                        */
int sp_emitter_send_signed(sp_emitter_t *self, const char *correlation,
                           const void *event, size_t len,
                           const uint8_t sig[SP_SIGNATURE_SIZE]);
/*  Waits up to timeout_ms for one reply. Returns 0 and fills reply, 1 on
    timeout, -1 on error.                                                  */
int sp_emitter_recv(sp_emitter_t *self, sp_reply_t *reply, int timeout_ms);
/*  send + recv of one signal.                                             */
int sp_emitter_emit(sp_emitter_t *self, const void *event, size_t len,
                    sp_reply_t *reply, int timeout_ms);

/*  --------------------------------------------------------------------
    sp_partner: a partner endpoint that receives deliveries, verifies the
    router's batch signature and every emitter signature, and answers with
    signed receipts.                                                        */
typedef struct sp_partner sp_partner_t;

typedef struct {
    const char *subscription;   /* subscription name */
    uint64_t seq;               /* per-subscription sequence number */
    const char *source;         /* CloudEvents source */
    const char *id;             /* CloudEvents id */
    const char *type;
    const char *grondslag;      /* legal basis text */
    const char *activity;       /* processing-activity id */
    const char *emitter_key_id;
    const uint8_t *emitter_signature;  /* 64 bytes */
    const char *event;          /* exact event JSON bytes */
    size_t event_len;
    bool duplicate;             /* handled before by this partner */
    /*  The batch it came in, as the router signed it: what a node that
        relays the signal keeps as the hop's evidence (protocol.md 16). */
    const char *router;         /* the header's router name */
    const char *batch_header;   /* exact header bytes */
    size_t batch_header_len;
    const uint8_t *batch_sha256;        /* 32 bytes */
    const uint8_t *batch_signature;     /* 64 bytes */
    const char *router_key_id;  /* the router key that verified it */
    const char *trace_id;       /* the router's trace id for it, or NULL */
} sp_signal_t;

/*  Called per verified signal in order, duplicates included (flagged).
    Return 0 when it was handled durably: only then is it recorded as
    handled and covered by a receipt.                                    */
typedef int (sp_partner_handler_fn)(const sp_signal_t *signal, void *arg);

/*  Everything a partner endpoint needs. Keys are borrowed (kept alive by
    the caller); strings are copied.                                      */
typedef struct {
    const char *endpoint;               /* where to bind */
    const sp_key_t *key;                /* the partner's signing key */
    const sp_key_t *const *router_keys; /* 1 to 4: batches signed by any */
    size_t router_key_count;
    const sp_key_t *const *emitter_keys;    /* emitters it trusts */
    size_t emitter_key_count;
    const char *curve_secret_file;      /* CURVE server key pair; NULL: none */
    /*  Z85 CURVE public keys of the routers that may connect (ZAP); none:
        any client that completes the CURVE handshake.                    */
    const char *const *router_curve_keys;
    size_t router_curve_key_count;
    /*  The router's name for this partner: a batch naming another is
        refused (BATCH_MISADDRESSED). NULL: only partner_key is checked.  */
    const char *subscriber;
    const char *const *subscriptions;   /* allowed; none: any */
    size_t subscription_count;
    /*  SQLite file of what was handled (protocol.md 8.4), NULL: in
        memory, lost with the process. dedup_max_age_ms 0: 8 days.       */
    const char *state_path;
    int64_t dedup_max_age_ms;
    /*  Several routers on one endpoint (a node receiving from upstream
        nodes, protocol.md 16): router_names[i] names the router whose key
        is router_keys[i] and, when CURVE keys are given, whose CURVE key is
        router_curve_keys[i] (the same count). A batch must then name as
        its router the name of the key that verified it, and come on a
        connection made with that router's CURVE key. NULL: one router.  */
    const char *const *router_names;
} sp_partner_conf_t;

sp_partner_t *sp_partner_new_conf(const sp_partner_conf_t *conf, char *err, size_t errlen);

/*  endpoint: where to bind, e.g. "tcp://127.0.0.1:7501". key: the
    partner's signing key. router_key: the router's public key. Its dedup
    state is in memory: sp_partner_new_conf() for one on disk.           */
sp_partner_t *sp_partner_new(const char *endpoint, const sp_key_t *key,
                             const sp_key_t *router_key,
                             const sp_key_t *const *emitter_keys,
                             size_t emitter_key_count,
                             const char *curve_secret_file,
                             char *err, size_t errlen);
void sp_partner_destroy(sp_partner_t **self_p);
/*  Trusts another router key for batches (borrowed, like router_key): for
    a key rotation, the router's next key before it switches, or its
    previous one while batches signed by it may still come. Up to three
    besides router_key; returns -1 beyond.                              */
int sp_partner_trust_router_key(sp_partner_t *self, const sp_key_t *key);
/*  Handles deliveries for up to timeout_ms (-1: one delivery, blocking).
    Returns number of batches handled, -1 on error.                       */
int sp_partner_poll(sp_partner_t *self, sp_partner_handler_fn *handler,
                    void *arg, int timeout_ms);
/*  The endpoint's sockets, for a caller's own zmq_poll(): the ROUTER
    socket and, with CURVE keys configured, the ZAP socket. Ready on
    either: sp_partner_poll(self, handler, arg, 0). Returns the count.  */
size_t sp_partner_sockets(const sp_partner_t *self, void *sockets[2]);
/*  Asks the router again for this partner's delivered or dead-lettered
    deliveries of subscription (NULL: the partner's only configured one,
    or the router's choice when the subscriber has one): those with seq >
    since_seq, or, when since_ms > 0, stored at or after since_ms (Unix
    ms); at most limit (0: the router's cap, 1000). Needs the subscriber
    name in the configuration. The FETCH is signed and sent once the
    router's connection is known (at once, or when it connects); the
    answer is logged (sp_log). What the router queues again comes as new
    seqs in normal batches, and is handed to the handler even when this
    partner handled the signal before: it asked for it (protocol.md 7.4).
    Returns 0, or -1 with sp_partner_last_error() saying why.           */
int sp_partner_fetch(sp_partner_t *self, const char *subscription, int64_t since_seq,
                     int64_t since_ms, int limit);
/*  Last error from verification, for logs (never carries personal data). */
const char *sp_partner_last_error(const sp_partner_t *self);

#ifdef __cplusplus
}
#endif
#endif
