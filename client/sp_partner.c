/*  sp_partner.c - the partner side of SEINPOST2: verify a DELIVER (router
    signature over the header's SHA-256, the partner it is addressed to,
    that it was not processed before, each event's SHA-256 and emitter
    signature), hand new signals to the caller in order, never past a gap
    (an entry whose prev was not handled), record each durably, and answer
    with a signed RECEIPT that lists exactly the entries of this batch it
    handled, or a NACK.                                                   */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seinpost.h"
#include "sp_event.h"
#include "sp_proto.h"
#include "sp_seen.h"
#include "sp_util.h"

#define PARTNER_ROUTER_KEYS 1024        /* routers' keys (and rotated ones) trusted */
#define PARTNER_DEDUP_DEFAULT_MS (8LL * 24 * 3600 * 1000)
#define PARTNER_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define PARTNER_ASKED 16                /* answered FETCHes whose seqs it remembers */

/*  A FETCH asked for (protocol.md 7.4), until the router answers it.   */
typedef struct {
    bool pending;
    bool sent;                  /* on the router connection known now */
    char request_id[37];
    char *body;                 /* the signed request JSON */
    uint8_t sig[SP_SIGNATURE_SIZE];
} partner_fetch_t;

/*  The new seqs a FETCHED named: entries under them were asked for, and
    are handed on even when their (source, id) was handled before.      */
typedef struct {
    char *router, *subscription;
    int64_t first, last;
} partner_asked_t;

struct sp_partner {
    void *zmq;
    void *socket;
    void *zap;                  /* REP: which routers may connect; or NULL */
    const sp_key_t *key;
    const sp_key_t *router_keys[PARTNER_ROUTER_KEYS];
    size_t router_key_count;
    size_t router_key_last;     /* the one that verified the last batch */
    const sp_key_t *const *emitter_keys;
    size_t emitter_key_count;
    char router_curve[PARTNER_ROUTER_KEYS][41];
    size_t router_curve_count;
    char *router_names[PARTNER_ROUTER_KEYS];    /* several routers, or NULL */
    char *subscriber;           /* expected, or NULL */
    char **subscriptions;
    size_t subscription_count;
    sp_seen_t *seen;
    char last_error[256];
    uint8_t peer[256];          /* routing id of the router's connection */
    size_t peer_len;            /* 0: not known yet */
    partner_fetch_t fetch;
    partner_asked_t asked[PARTNER_ASKED];
    size_t asked_next;
};

static int s_copy_names(sp_partner_t *self, const sp_partner_conf_t *conf)
{
    if (conf->subscriber && !(self->subscriber = strdup(conf->subscriber)))
        return -1;
    for (size_t i = 0; conf->router_names && i < conf->router_key_count; i++)
        if (!conf->router_names[i] || !(self->router_names[i] = strdup(conf->router_names[i])))
            return -1;
    self->subscriptions = calloc(conf->subscription_count + 1, sizeof *self->subscriptions);
    if (!self->subscriptions)
        return -1;
    for (size_t i = 0; i < conf->subscription_count; i++)
        if (!(self->subscriptions[self->subscription_count++] = strdup(conf->subscriptions[i])))
            return -1;
    return 0;
}

/*  Bound before the ROUTER socket, so that no router connects unchecked. */
static int s_zap_open(sp_partner_t *self, const sp_partner_conf_t *conf, char *err,
                      size_t errlen)
{
    int zero = 0;
    if (conf->router_curve_key_count == 0)
        return 0;
    if (conf->router_curve_key_count > PARTNER_ROUTER_KEYS) {
        snprintf(err, errlen, "at most %d router CURVE keys", PARTNER_ROUTER_KEYS);
        return -1;
    }
    for (size_t i = 0; i < conf->router_curve_key_count; i++) {
        if (!conf->router_curve_keys[i] || strlen(conf->router_curve_keys[i]) != 40) {
            snprintf(err, errlen, "router CURVE key %zu is not 40 Z85 characters", i + 1);
            return -1;
        }
        memcpy(self->router_curve[self->router_curve_count++], conf->router_curve_keys[i], 41);
    }
    self->zap = zmq_socket(self->zmq, ZMQ_REP);
    if (!self->zap || zmq_setsockopt(self->zap, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_bind(self->zap, PARTNER_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int s_socket_open(sp_partner_t *self, const sp_partner_conf_t *conf, char *err,
                         size_t errlen)
{
    int zero = 0;
    self->socket = zmq_socket(self->zmq, ZMQ_ROUTER);
    if (!self->socket)
        goto failed;
    zmq_setsockopt(self->socket, ZMQ_LINGER, &zero, sizeof zero);
    if (conf->curve_secret_file) {
        char pub[41], sec[41];
        if (sp_curve_load(conf->curve_secret_file, pub, sec, err, errlen) != 0)
            return -1;
        int rc = sp_socket_curve_server(self->socket, sec);
        sodium_memzero(sec, sizeof sec);
        if (rc != 0)
            goto failed;
    }
    if (zmq_bind(self->socket, conf->endpoint) != 0)
        goto failed;
    return 0;
failed:
    snprintf(err, errlen, "%s: %s", conf->endpoint, zmq_strerror(zmq_errno()));
    return -1;
}

sp_partner_t *sp_partner_new_conf(const sp_partner_conf_t *conf, char *err, size_t errlen)
{
    sp_partner_t *self = calloc(1, sizeof *self);
    if (!self || !conf->endpoint || !sp_key_has_secret(conf->key)
        || conf->router_key_count < 1 || conf->router_key_count > PARTNER_ROUTER_KEYS) {
        snprintf(err, errlen, "partner needs an endpoint, a secret key and 1 to %d router "
                 "keys", PARTNER_ROUTER_KEYS);
        free(self);
        return NULL;
    }
    self->key = conf->key;
    for (size_t i = 0; i < conf->router_key_count; i++)
        self->router_keys[self->router_key_count++] = conf->router_keys[i];
    self->emitter_keys = conf->emitter_keys;
    self->emitter_key_count = conf->emitter_key_count;
    if (s_copy_names(self, conf) != 0) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    self->seen = sp_seen_new(conf->state_path, conf->dedup_max_age_ms > 0
                             ? conf->dedup_max_age_ms : PARTNER_DEDUP_DEFAULT_MS,
                             err, errlen);
    if (!self->seen)
        goto failed;
    self->zmq = zmq_ctx_new();
    if (!self->zmq) {
        snprintf(err, errlen, "zmq: %s", zmq_strerror(zmq_errno()));
        goto failed;
    }
    if (s_zap_open(self, conf, err, errlen) != 0 || s_socket_open(self, conf, err, errlen) != 0)
        goto failed;
    return self;
failed:
    sp_partner_destroy(&self);
    return NULL;
}

sp_partner_t *sp_partner_new(const char *endpoint, const sp_key_t *key,
                             const sp_key_t *router_key,
                             const sp_key_t *const *emitter_keys,
                             size_t emitter_key_count,
                             const char *curve_secret_file,
                             char *err, size_t errlen)
{
    const sp_key_t *routers[] = { router_key };
    sp_partner_conf_t conf = {
        .endpoint = endpoint, .key = key, .router_keys = routers,
        .router_key_count = router_key ? 1 : 0, .emitter_keys = emitter_keys,
        .emitter_key_count = emitter_key_count, .curve_secret_file = curve_secret_file };
    return sp_partner_new_conf(&conf, err, errlen);
}

void sp_partner_destroy(sp_partner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_partner_t *self = *self_p;
    if (self->socket)
        zmq_close(self->socket);
    if (self->zap)
        zmq_close(self->zap);
    if (self->zmq)
        zmq_ctx_term(self->zmq);
    sp_seen_destroy(&self->seen);
    free(self->subscriber);
    for (size_t i = 0; i < self->subscription_count; i++)
        free(self->subscriptions[i]);
    for (size_t i = 0; i < PARTNER_ROUTER_KEYS; i++)
        free(self->router_names[i]);
    free(self->subscriptions);
    free(self->fetch.body);
    for (size_t i = 0; i < PARTNER_ASKED; i++) {
        free(self->asked[i].router);
        free(self->asked[i].subscription);
    }
    free(self);
    *self_p = NULL;
}

const char *sp_partner_last_error(const sp_partner_t *self) { return self->last_error; }

static const sp_key_t *s_emitter_key(sp_partner_t *self, const char *key_id)
{
    for (size_t i = 0; i < self->emitter_key_count; i++)
        if (strcmp(sp_key_id(self->emitter_keys[i]), key_id) == 0)
            return self->emitter_keys[i];
    return NULL;
}

static int s_fail(sp_partner_t *self, sp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(sp_partner_t *self, sp_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->last_error, sizeof self->last_error, fmt, ap);
    va_end(ap);
    return (int) code;
}

/*  The signed header (~680 bytes an entry) is read with cJSON through
    sp_json_parse, about a third of the instructions jansson took on it;
    these read it as jansson's getters did: NULL or 0 for a member that
    is missing or of another type, or in a value that is no object.    */
static cJSON *s_member(const cJSON *object, const char *name)
{
    return cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, name) : NULL;
}

static const char *s_string(const cJSON *object, const char *name)
{
    return cJSON_GetStringValue(s_member(object, name));
}

/*  An integer member exactly (a real such as 2.0 is 0, as with jansson). */
static int64_t s_integer(const cJSON *object, const char *name)
{
    return sp_json_integer(s_member(object, name));
}

/*  The header's source, id and type are the router's word, the event's
    the emitter's signed one. Applications act on the first and the
    partner deduplicates by it: a header that describes another signal
    than the one it carries is refused like a wrong SHA-256. The event is
    read as strict JSON (no repeated names, no NUL in a string), not
    against the profile of 4.2: a profile rule of a later version must not
    make a partner refuse a backlog an older router accepted.          */
static int s_check_described(sp_partner_t *self, const sp_signal_t *signal)
{
    sp_code_t code = SP_OK;
    cJSON *event = sp_json_parse(signal->event, signal->event_len, CJSON_NESTING_LIMIT,
                                 signal->event_len, &code, NULL, 0);
    const char *header[] = { signal->source, signal->id, signal->type };
    static const char *const names[] = { "source", "id", "type" };
    const char *differs = cJSON_IsObject(event) ? NULL : "the whole event";
    for (size_t i = 0; !differs && i < sizeof names / sizeof names[0]; i++) {
        const char *value = s_string(event, names[i]);
        if (!value || !header[i] || strcmp(value, header[i]) != 0)
            differs = names[i];
    }
    cJSON_Delete(event);
    if (differs)
        return s_fail(self, SP_E_BATCH_SIGNATURE, "entry %s/%llu: %s in the signed header "
                      "differs from the emitter's signed event", signal->subscription,
                      (unsigned long long) signal->seq, differs);
    return SP_OK;
}

/*  Checks one entry against its event frame; fills signal, whose
    emitter_signature points into sig.                                    */
static int s_verify_entry(sp_partner_t *self, const cJSON *entry, sp_frames_t *f, size_t frame,
                          sp_signal_t *signal, uint8_t sig[SP_SIGNATURE_SIZE])
{
    uint8_t digest[SP_SHA256_SIZE], want[SP_SHA256_SIZE];
    const char *sha = s_string(entry, "sha256");
    const char *esig = s_string(entry, "emitter_sig");
    memset(signal, 0, sizeof *signal);
    signal->subscription = s_string(entry, "subscription");
    signal->seq = (uint64_t) s_integer(entry, "seq");
    signal->source = s_string(entry, "source");
    signal->id = s_string(entry, "id");
    signal->type = s_string(entry, "type");
    signal->grondslag = s_string(entry, "grondslag");
    signal->activity = s_string(entry, "activity");
    signal->emitter_key_id = s_string(entry, "emitter_key");
    signal->trace_id = s_string(entry, "trace_id");
    signal->event = sp_frame_data(f, frame);
    signal->event_len = sp_frame_size(f, frame);
    int64_t seq = s_integer(entry, "seq");
    if (!signal->subscription || seq < 1 || !signal->source || !signal->id
        || !signal->emitter_key_id || !sha || !esig || sp_unhex(sha, want, sizeof want) != 0
        || sp_unhex(esig, sig, SP_SIGNATURE_SIZE) != 0)
        return s_fail(self, SP_E_FRAMES, "batch entry lacks required members");
    signal->emitter_signature = sig;
    sp_sha256(signal->event, signal->event_len, digest);
    if (memcmp(digest, want, sizeof digest) != 0)
        return s_fail(self, SP_E_BATCH_SIGNATURE, "event %s/%llu does not match its "
                      "SHA-256 in the signed header", signal->subscription,
                      (unsigned long long) signal->seq);
    const sp_key_t *ekey = s_emitter_key(self, signal->emitter_key_id);
    if (!ekey)
        return s_fail(self, SP_E_KEY_UNKNOWN, "emitter key %s is not trusted",
                      signal->emitter_key_id);
    if (sp_key_verify(ekey, SP_DOMAIN_SIGNAL, signal->event, signal->event_len, sig) != 0)
        return s_fail(self, SP_E_SIGNATURE, "emitter signature on %s/%llu does not verify",
                      signal->subscription, (unsigned long long) signal->seq);
    return s_check_described(self, signal);
}

static void s_send(sp_partner_t *self, sp_frames_t *f, const void *const *parts,
                   const size_t *sizes, size_t count)
{
    const void *all[6] = { sp_frame_data(f, 0) };
    size_t all_sizes[6] = { sp_frame_size(f, 0) };
    for (size_t i = 0; i < count && i < 5; i++) {
        all[1 + i] = parts[i];
        all_sizes[1 + i] = sizes[i];
    }
    sp_send_parts(self->socket, all, all_sizes, count + 1, 0);
}

static void s_nack(sp_partner_t *self, sp_frames_t *f, const char *batch_hex, int code)
{
    const char *name = sp_code_name((sp_code_t) code);
    const void *parts[] = { SP_PROTOCOL_DELIVERY, SP_CMD_NACK, batch_hex, name,
                            self->last_error };
    size_t sizes[] = { strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_NACK), strlen(batch_hex),
                       strlen(name), strlen(self->last_error) };
    s_send(self, f, parts, sizes, 5);
}

/*  subscriber: the header's, which s_check_address found to be ours.    */
static int s_receipt(sp_partner_t *self, sp_frames_t *f, const char *subscriber,
                     const char *batch_hex, json_t *handled)
{
    char when[40];
    uint8_t sig[SP_SIGNATURE_SIZE];
    sp_time_format(sp_time_now_ms(), when, sizeof when);
    json_t *body = json_pack("{s:i, s:s, s:s, s:s, s:O, s:s}", "v", 2,
                             "subscriber", subscriber, "partner_key", sp_key_id(self->key),
                             "batch_sha256", batch_hex, "handled", handled,
                             "received_at", when);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (!text || sp_key_sign(self->key, SP_DOMAIN_RECEIPT, text, strlen(text), sig) != 0) {
        free(text);
        return -1;
    }
    const void *parts[] = { SP_PROTOCOL_DELIVERY, SP_CMD_RECEIPT, text, sig };
    size_t sizes[] = { strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_RECEIPT), strlen(text),
                       sizeof sig };
    s_send(self, f, parts, sizes, 4);
    free(text);
    return 0;
}

/*  An entry may be handed on only when the delivery before it in its
    subscription (prev, named by the router) was handled here: otherwise
    something in between was lost on the way, or refused, and handling
    this one would put it before that one.                              */
static int s_check_prev(sp_partner_t *self, const char *router, const cJSON *entry,
                        const sp_signal_t *signal)
{
    const cJSON *member = s_member(entry, "prev");
    int64_t prev = sp_json_integer(member);
    if (!sp_json_is_integer(member) || prev < 0 || prev >= (int64_t) signal->seq)
        return s_fail(self, SP_E_FRAMES, "entry %s/%llu: prev missing or not below seq",
                      signal->subscription, (unsigned long long) signal->seq);
    if (prev == 0)
        return SP_OK;
    int rc = sp_seen_has_seq(self->seen, router, signal->subscription, prev);
    if (rc < 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "state: %s", sp_seen_errmsg(self->seen));
    if (rc == 0)
        return s_fail(self, SP_E_SEQUENCE_GAP, "entry %s/%llu follows %lld, which this "
                      "partner has not handled", signal->subscription,
                      (unsigned long long) signal->seq, (long long) prev);
    return SP_OK;
}

/*  True when a FETCHED of this partner named (router, subscription, seq). */
static bool s_asked(const sp_partner_t *self, const char *router, const char *subscription,
                    int64_t seq)
{
    for (size_t i = 0; i < PARTNER_ASKED; i++) {
        const partner_asked_t *a = &self->asked[i];
        if (a->router && router && seq >= a->first && seq <= a->last
            && strcmp(a->router, router) == 0 && strcmp(a->subscription, subscription) == 0)
            return true;
    }
    return false;
}

/*  One verified entry: handed on (a duplicate flagged as such), then
    recorded, so that neither a resend nor a redelivery under a new seq
    reaches the application twice. One this partner asked for again
    (FETCH) is no duplicate by its (source, id): only a resend of its
    seq is.                                                             */
static int s_handle_one(sp_partner_t *self, const char *router, sp_signal_t *signal,
                        sp_partner_handler_fn *handler, void *arg)
{
    int dup = sp_seen_has_delivery(self->seen, router, signal->subscription,
                                   (int64_t) signal->seq, signal->source, signal->id);
    if (dup == 1 && s_asked(self, router, signal->subscription, (int64_t) signal->seq))
        dup = sp_seen_has_seq(self->seen, router, signal->subscription,
                              (int64_t) signal->seq);
    if (dup < 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "state: %s", sp_seen_errmsg(self->seen));
    signal->duplicate = dup == 1;
    if (handler(signal, arg) != 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "handler failed on %s/%llu",
                      signal->subscription, (unsigned long long) signal->seq);
    if (sp_seen_add(self->seen, router, signal->subscription, (int64_t) signal->seq,
                    signal->source, signal->id) != 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "cannot record %s/%llu as handled: %s",
                      signal->subscription, (unsigned long long) signal->seq,
                      sp_seen_errmsg(self->seen));
    return SP_OK;
}

/*  Handles the entries in order until one fails; returns the list of
    those handled, for the receipt.                                      */
/*  The batch an entry came in, for a handler that keeps it (a relay). */
static void s_batch_of(const sp_partner_t *self, sp_frames_t *f, const char *router,
                       const uint8_t *sha, sp_signal_t *signal)
{
    signal->router = router;
    signal->batch_header = sp_frame_data(f, 1 + SP_DELIVER_HEADER);
    signal->batch_header_len = sp_frame_size(f, 1 + SP_DELIVER_HEADER);
    signal->batch_sha256 = sha;
    signal->batch_signature = sp_frame_data(f, 1 + SP_DELIVER_SIGNATURE);
    signal->router_key_id = sp_key_id(self->router_keys[self->router_key_last]);
}

static json_t *s_handle_entries(sp_partner_t *self, const cJSON *header, sp_frames_t *f,
                                const uint8_t *sha, sp_partner_handler_fn *handler,
                                void *arg, int *code)
{
    const char *router = s_string(header, "router");
    json_t *handled = json_array();
    size_t i = 0;
    const cJSON *entry;
    *code = handled ? SP_OK : s_fail(self, SP_E_PARTNER_FAILED, "out of memory");
    cJSON_ArrayForEach(entry, s_member(header, "entries")) {
        sp_signal_t signal;
        uint8_t sig[SP_SIGNATURE_SIZE];
        if (*code != SP_OK)
            break;
        *code = s_verify_entry(self, entry, f, 1 + SP_DELIVER_FIRST_EVENT + i++, &signal, sig);
        s_batch_of(self, f, router, sha, &signal);
        if (*code == SP_OK)
            *code = s_check_prev(self, router, entry, &signal);
        if (*code == SP_OK)
            *code = s_handle_one(self, router, &signal, handler, arg);
        if (*code == SP_OK
            && json_array_append_new(handled, json_pack("{s:s, s:I}", "subscription",
                                     signal.subscription, "seq",
                                     (json_int_t) signal.seq)) != 0)
            *code = s_fail(self, SP_E_PARTNER_FAILED, "out of memory");
    }
    return handled;
}

/*  The key that verified the last batch first, then the others: after
    the router switched keys one failed verification, not one a batch. */
static bool s_router_signed(sp_partner_t *self, sp_frames_t *f, const uint8_t *sha)
{
    /* several routers, each known by its CURVE key at the handshake: only
       the key of the router that connected is tried, not every one     */
    const char *user = self->router_names[0] && self->zap
                       ? zmq_msg_gets(&f->part[1], "User-Id") : NULL;
    for (size_t k = 0; user && k < self->router_key_count; k++)
        if (self->router_names[k] && strcmp(self->router_names[k], user) == 0) {
            self->router_key_last = k;
            return sp_batch_verify_digest(self->router_keys[k], sha,
                                          sp_frame_data(f, 1 + SP_DELIVER_SIGNATURE)) == 0;
        }
    if (user)
        return false;
    for (size_t i = 0; i < self->router_key_count; i++) {
        size_t k = (self->router_key_last + i) % self->router_key_count;
        if (sp_batch_verify_digest(self->router_keys[k], sha,
                                   sp_frame_data(f, 1 + SP_DELIVER_SIGNATURE)) == 0) {
            self->router_key_last = k;
            return true;
        }
    }
    return false;
}

/*  With several routers on the endpoint, each has its own sequence space
    under its name: a batch must name the router whose key signed it, on
    that router's own connection, or one router could write into another's. */
static int s_check_router_name(sp_partner_t *self, sp_frames_t *f, const char *router)
{
    const char *name = self->router_names[self->router_key_last];
    if (!name)
        return SP_OK;
    const char *user = self->zap ? zmq_msg_gets(&f->part[1], "User-Id") : name;
    if (strcmp(router, name) != 0 || !user || strcmp(user, name) != 0)
        return s_fail(self, SP_E_BATCH_MISADDRESSED, "batch signed by router %s names "
                      "another router, or came on another router's connection", name);
    return SP_OK;
}

size_t sp_partner_sockets(const sp_partner_t *self, void *sockets[2])
{
    sockets[0] = self->socket;
    sockets[1] = self->zap;
    return self->zap ? 2 : 1;
}

int sp_partner_trust_router_key(sp_partner_t *self, const sp_key_t *key)
{
    if (!self || !key || self->router_key_count == PARTNER_ROUTER_KEYS)
        return -1;
    self->router_keys[self->router_key_count++] = key;
    return 0;
}

/*  sha: the SHA-256 of the header frame, which the signature covers.   */
static int s_check_header(sp_partner_t *self, sp_frames_t *f, const uint8_t *sha,
                          cJSON **header)
{
    *header = NULL;
    if (f->count < 1 + SP_DELIVER_FIRST_EVENT + 1 || f->dropped || f->oversize
        || !sp_frame_is(f, 1 + SP_DELIVER_PROTOCOL, SP_PROTOCOL_DELIVERY)
        || !sp_frame_is(f, 1 + SP_DELIVER_COMMAND, SP_CMD_DELIVER))
        return s_fail(self, sp_frame_is(f, 1 + SP_DELIVER_PROTOCOL, SP_PROTOCOL_DELIVERY)
                      ? SP_E_FRAMES : SP_E_PROTOCOL, "not a SEINPOST2 DELIVER message "
                      "with at least one event");
    if (sp_frame_size(f, 1 + SP_DELIVER_SIGNATURE) != SP_SIGNATURE_SIZE
        || !s_router_signed(self, f, sha))
        return s_fail(self, SP_E_BATCH_SIGNATURE, "router signature does not verify");
    /*  No limit of its own on strings; nesting up to cJSON's 1000.  */
    size_t len = sp_frame_size(f, 1 + SP_DELIVER_HEADER);
    *header = sp_json_parse(sp_frame_data(f, 1 + SP_DELIVER_HEADER), len,
                            CJSON_NESTING_LIMIT, len, NULL, NULL, 0);
    const cJSON *entries = s_member(*header, "entries");
    if (s_integer(*header, "v") != 2 || !cJSON_IsArray(entries)
        || !s_string(*header, "subscriber") || !s_string(*header, "router")
        || (size_t) cJSON_GetArraySize(entries) != f->count - 1 - SP_DELIVER_FIRST_EVENT)
        return s_fail(self, SP_E_FRAMES, "header is not version 2, or its entries do not "
                      "match the event frames");
    return s_check_router_name(self, f, s_string(*header, "router"));
}

static bool s_subscription_allowed(const sp_partner_t *self, const char *name)
{
    if (self->subscription_count == 0)
        return true;
    for (size_t i = 0; i < self->subscription_count; i++)
        if (name && strcmp(self->subscriptions[i], name) == 0)
            return true;
    return false;
}

/*  A batch signed by the router but for another partner (captured, or
    sent to the wrong endpoint) is refused whole: its entries carry
    another subscriber's legal basis.                                   */
static int s_check_address(sp_partner_t *self, const cJSON *header)
{
    const char *key = s_string(header, "partner_key");
    const char *subscriber = s_string(header, "subscriber");
    size_t i = 0;
    const cJSON *entry;
    if (!key || strcmp(key, sp_key_id(self->key)) != 0)
        return s_fail(self, SP_E_BATCH_MISADDRESSED, "batch is for partner key %.16s, "
                      "not this partner's %s", key ? key : "(none)", sp_key_id(self->key));
    if (self->subscriber && strcmp(subscriber, self->subscriber) != 0)
        return s_fail(self, SP_E_BATCH_MISADDRESSED, "batch is for another subscriber "
                      "than %s", self->subscriber);
    cJSON_ArrayForEach(entry, s_member(header, "entries")) {
        if (!s_subscription_allowed(self, s_string(entry, "subscription")))
            return s_fail(self, SP_E_BATCH_MISADDRESSED, "entry %zu names a subscription "
                          "this partner does not hold", i);
        i++;
    }
    return SP_OK;
}

/*  The router never sends the same header twice (a resend is a new
    batch), so one seen before is a replay. One older than the dedup
    horizon could be a replay this partner no longer remembers.         */
static int s_check_fresh(sp_partner_t *self, const cJSON *header, const uint8_t *sha)
{
    int64_t sent = sp_time_parse_rfc3339(s_string(header, "sent_at"));
    int rc = sp_seen_has_batch(self->seen, sha);
    if (rc < 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "state: %s", sp_seen_errmsg(self->seen));
    if (rc == 1)
        return s_fail(self, SP_E_BATCH_REPLAYED, "batch processed before (replayed)");
    if (sent < 0 || sp_time_now_ms() - sent > sp_seen_max_age(self->seen))
        return s_fail(self, SP_E_BATCH_REPLAYED, "batch sent_at missing or older than "
                      "this partner's dedup horizon");
    return SP_OK;
}

/*  The router's chain head the signed header carries, kept: evidence
    outside the router of what its audit trail held (protocol.md 13.3).
    A header without one (an older router) keeps nothing.              */
static int s_keep_anchor(sp_partner_t *self, const cJSON *header, const uint8_t *sha)
{
    uint8_t hash[SP_SHA256_SIZE];
    const cJSON *anchor = s_member(header, "anchor");
    const char *hex = s_string(anchor, "sha256");
    int64_t seq = s_integer(anchor, "seq");
    if (!anchor)
        return SP_OK;
    if (seq < 1 || !hex || sp_unhex(hex, hash, sizeof hash) != 0)
        return s_fail(self, SP_E_FRAMES, "header anchor is not {seq, sha256}");
    const char *router = s_string(header, "router");
    if (sp_seen_keep_anchor(self->seen, router ? router : "", seq, hash, sha) != 0)
        return s_fail(self, SP_E_PARTNER_FAILED, "state: %s", sp_seen_errmsg(self->seen));
    return SP_OK;
}

/*  Handles the entries, then makes the record durable, then signs: a
    receipt never vouches for what is not on disk.                      */
static int s_process(sp_partner_t *self, sp_frames_t *f, const cJSON *header,
                     const uint8_t *sha, const char *batch_hex,
                     sp_partner_handler_fn *handler, void *arg)
{
    int code = s_keep_anchor(self, header, sha);
    if (code != SP_OK)
        return code;
    json_t *handled = s_handle_entries(self, header, f, sha, handler, arg, &code);
    if (sp_seen_batch_done(self->seen, sha) != 0)
        code = s_fail(self, SP_E_PARTNER_FAILED, "cannot make the record of handled "
                      "signals durable: %s", sp_seen_errmsg(self->seen));
    else if (json_array_size(handled) > 0
             && s_receipt(self, f, s_string(header, "subscriber"),
                          batch_hex, handled) != 0 && code == SP_OK)
        code = s_fail(self, SP_E_PARTNER_FAILED, "cannot sign a receipt");
    json_decref(handled);
    return code;
}

/*  One DELIVER. The frames carry the ROUTER identity first, so every
    protocol index is shifted by one.                                    */
static int s_batch(sp_partner_t *self, sp_frames_t *f, sp_partner_handler_fn *handler,
                   void *arg)
{
    uint8_t sha[SP_SHA256_SIZE] = { 0 };     /* an empty header: verifies nothing */
    char batch_hex[2 * SP_SHA256_SIZE + 1] = "";
    cJSON *header = NULL;
    if (sp_frame_size(f, 1 + SP_DELIVER_HEADER) > 0) {
        sp_sha256(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                  sp_frame_size(f, 1 + SP_DELIVER_HEADER), sha);
        sp_hex(sha, sizeof sha, batch_hex);
    }
    int code = s_check_header(self, f, sha, &header);
    if (code == SP_OK)
        code = s_check_address(self, header);
    if (code == SP_OK)
        code = s_check_fresh(self, header, sha);
    if (code == SP_OK)
        code = s_process(self, f, header, sha, batch_hex, handler, arg);
    if (code != SP_OK)
        s_nack(self, f, batch_hex, code);
    cJSON_Delete(header);
    return code == SP_OK ? 0 : -1;
}

/*  ZAP (RFC 27): only the configured routers' CURVE keys get in.       */
static void s_zap_serve(sp_partner_t *self)
{
    sp_frames_t f;
    enum { ZAP_VERSION, ZAP_ID, ZAP_DOMAIN, ZAP_ADDRESS, ZAP_IDENTITY, ZAP_MECHANISM,
           ZAP_CREDENTIALS, ZAP_FRAMES };
    while (sp_frames_recv(&f, self->zap, ZAP_FRAMES + 1, 4096, ZMQ_DONTWAIT) == 0) {
        char z85[41] = "";
        bool known = false;
        const char *user = "";      /* with several routers: which one */
        if (f.count == ZAP_FRAMES && sp_frame_is(&f, ZAP_MECHANISM, "CURVE")
            && sp_frame_size(&f, ZAP_CREDENTIALS) == 32) {
            zmq_z85_encode(z85, sp_frame_data(&f, ZAP_CREDENTIALS), 32);
            for (size_t i = 0; !known && i < self->router_curve_count; i++)
                if (strcmp(z85, self->router_curve[i]) == 0) {
                    known = true;
                    user = self->router_names[i] ? self->router_names[i] : "";
                }
        }
        const char *status = known ? "200" : "400";
        const char *text = known ? "OK" : "not a configured router key";
        const void *parts[] = { "1.0", f.count > ZAP_ID ? sp_frame_data(&f, ZAP_ID) : "",
                                status, text, user, "" };
        size_t sizes[] = { 3, f.count > ZAP_ID ? sp_frame_size(&f, ZAP_ID) : 0, 3,
                           strlen(text), strlen(user), 0 };
        sp_send_parts(self->zap, parts, sizes, 6, 0);
        if (!known)
            snprintf(self->last_error, sizeof self->last_error, "refused a connection "
                     "whose CURVE key is not a configured router's");
        sp_frames_close(&f);
    }
}

/*  ---- FETCH: asking the router again (protocol.md 7.4) ----------------- */

/*  The router's DEALER sends one empty message on each new connection
    (ZMQ_PROBE_ROUTER): how this ROUTER learns the router's routing id
    before the router sends anything else, for a FETCH with nothing
    being delivered.                                                    */
static bool s_is_probe(sp_frames_t *f)
{
    return f->count == 2 && sp_frame_size(f, 1) == 0;
}

static void s_fetch_send(sp_partner_t *self)
{
    partner_fetch_t *q = &self->fetch;
    if (!q->pending || q->sent || self->peer_len == 0)
        return;
    const void *parts[] = { self->peer, SP_PROTOCOL_DELIVERY, SP_CMD_FETCH, q->body, q->sig };
    size_t sizes[] = { self->peer_len, strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_FETCH),
                       strlen(q->body), SP_SIGNATURE_SIZE };
    /* not sent (no room): the next connection of the router gets it */
    if (sp_send_parts(self->socket, parts, sizes, 5, ZMQ_DONTWAIT) != 0)
        return;
    q->sent = true;
    sp_log(SP_LOG_INFO, "FETCH %s sent", q->request_id);
}

/*  A connection the router announced (a probe): the router's from now
    on, and an unanswered FETCH goes on it, since one sent on an earlier
    connection may have been lost with it. A batch names the router's
    connection only while none was announced (a router that sends no
    probe).                                                             */
static void s_note_peer(sp_partner_t *self, sp_frames_t *f, bool announced)
{
    size_t len = sp_frame_size(f, 0);
    if (len == 0 || len > sizeof self->peer || (!announced && self->peer_len > 0))
        return;
    if (len != self->peer_len || memcmp(self->peer, sp_frame_data(f, 0), len) != 0) {
        memcpy(self->peer, sp_frame_data(f, 0), len);
        self->peer_len = len;
        self->fetch.sent = false;
    }
    s_fetch_send(self);
}

static void s_asked_add(sp_partner_t *self, const char *router, const char *subscription,
                        int64_t first, int64_t last)
{
    partner_asked_t *a = &self->asked[self->asked_next++ % PARTNER_ASKED];
    free(a->router);
    free(a->subscription);
    a->router = strdup(router);
    a->subscription = strdup(subscription);
    a->first = first;
    a->last = last;
    if (!a->router || !a->subscription) {
        free(a->router);
        free(a->subscription);
        a->router = a->subscription = NULL;
        sp_log(SP_LOG_ERROR, "out of memory: what FETCH asked for is handled as duplicates");
    }
}

static const char *s_shown(const char *text)
{
    return text && sp_text_printable(text) ? text : "?";
}

/*  The router's answer: its signature by a router key this partner
    trusts, for the FETCH waiting. The seqs it names are then handed on
    as asked for.                                                       */
static void s_fetched(sp_partner_t *self, sp_frames_t *f)
{
    json_t *body = NULL;
    bool ok = f->count == 1 + SP_FETCH_FRAMES
              && sp_frame_size(f, 1 + SP_FETCH_SIGNATURE) == SP_SIGNATURE_SIZE;
    for (size_t i = 0; ok && i < self->router_key_count; i++)
        if (sp_key_verify(self->router_keys[i], SP_DOMAIN_FETCHED,
                          sp_frame_data(f, 1 + SP_FETCH_BODY), sp_frame_size(f, 1 + SP_FETCH_BODY),
                          sp_frame_data(f, 1 + SP_FETCH_SIGNATURE)) == 0) {
            body = json_loadb(sp_frame_data(f, 1 + SP_FETCH_BODY),
                              sp_frame_size(f, 1 + SP_FETCH_BODY), JSON_REJECT_DUPLICATES, NULL);
            break;
        }
    const char *id = json_string_value(json_object_get(body, "request_id"));
    const char *router = json_string_value(json_object_get(body, "router"));
    const char *subscription = json_string_value(json_object_get(body, "subscription"));
    json_int_t queued = json_integer_value(json_object_get(body, "queued"));
    json_int_t first = json_integer_value(json_object_get(body, "first_seq"));
    json_int_t last = json_integer_value(json_object_get(body, "last_seq"));
    if (!self->fetch.pending || !id || strcmp(id, self->fetch.request_id) != 0 || !router
        || !subscription) {
        sp_log(SP_LOG_WARNING, "a FETCHED not signed by a trusted router key, or not for "
               "the FETCH waiting: ignored");
        json_decref(body);
        return;
    }
    self->fetch.pending = false;
    if (queued > 0 && first >= 1 && last >= first)
        s_asked_add(self, router, subscription, first, last);
    char seqs[64] = "";
    if (queued > 0)
        snprintf(seqs, sizeof seqs, " seq %lld..%lld", (long long) first, (long long) last);
    sp_log(SP_LOG_NOTICE, "FETCH %s answered by %s: %lld queued again (%s%s), %lld refused "
           "(legal basis), %lld purged%s", self->fetch.request_id, s_shown(router),
           (long long) queued, s_shown(subscription), seqs,
           (long long) json_integer_value(json_object_get(body, "refused")),
           (long long) json_integer_value(json_object_get(body, "purged")),
           json_is_true(json_object_get(body, "more")) ? "; more in range: ask again" : "");
    json_decref(body);
}

static void s_fetch_refused(sp_partner_t *self, sp_frames_t *f)
{
    char id[SP_FETCH_REQUEST_ID_MAX + 1] = "", code[48] = "?", reason[256] = "?";
    if (f->count == 1 + SP_REFUSED_FRAMES) {
        sp_frame_string(f, 1 + SP_REFUSED_REQUEST, id, sizeof id);
        sp_frame_string(f, 1 + SP_REFUSED_CODE, code, sizeof code);
        sp_frame_string(f, 1 + SP_REFUSED_REASON, reason, sizeof reason);
    }
    if (!self->fetch.pending || (id[0] && strcmp(id, self->fetch.request_id) != 0)) {
        sp_log(SP_LOG_INFO, "a FETCH_REFUSED for no FETCH waiting: ignored");
        return;
    }
    self->fetch.pending = false;
    sp_log(SP_LOG_WARNING, "FETCH %s refused: %s: %s", self->fetch.request_id, s_shown(code),
           s_shown(reason));
}

/*  One message from a router; true when it was a DELIVER (or anything
    else, which s_batch refuses).                                      */
static bool s_message(sp_partner_t *self, sp_frames_t *f, sp_partner_handler_fn *handler,
                      void *arg)
{
    bool delivery = f->count > 2 && sp_frame_is(f, 1, SP_PROTOCOL_DELIVERY);
    if (s_is_probe(f))
        s_note_peer(self, f, true);
    else if (delivery && sp_frame_is(f, 2, SP_CMD_FETCHED))
        s_fetched(self, f);
    else if (delivery && sp_frame_is(f, 2, SP_CMD_FETCH_REFUSED))
        s_fetch_refused(self, f);
    else {
        if (s_batch(self, f, handler, arg) == 0)
            s_note_peer(self, f, false);
        return true;
    }
    return false;
}

int sp_partner_fetch(sp_partner_t *self, const char *subscription, int64_t since_seq,
                     int64_t since_ms, int limit)
{
    char when[40];
    partner_fetch_t *q = &self->fetch;
    if (!self->subscriber || since_seq < 0 || since_ms < 0 || limit < 0) {
        s_fail(self, SP_E_FRAMES, "FETCH needs the subscriber name in the partner's "
               "configuration, and a since_seq, since_ms and limit >= 0");
        return -1;
    }
    if (!subscription && self->subscription_count == 1)
        subscription = self->subscriptions[0];
    sp_uuid4(q->request_id);
    json_t *body = json_pack("{s:i, s:s, s:s}", "v", 2, "subscriber", self->subscriber,
                             "request_id", q->request_id);
    if (subscription)
        json_object_set_new(body, "subscription", json_string(subscription));
    if (since_ms > 0) {
        sp_time_format(since_ms, when, sizeof when);
        json_object_set_new(body, "since", json_string(when));
    } else
        json_object_set_new(body, "since_seq", json_integer(since_seq));
    if (limit > 0)
        json_object_set_new(body, "limit", json_integer(limit));
    free(q->body);
    q->body = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    q->pending = q->sent = false;
    if (!q->body || sp_key_sign(self->key, SP_DOMAIN_FETCH, q->body, strlen(q->body),
                                q->sig) != 0) {
        s_fail(self, SP_E_PARTNER_FAILED, "cannot sign a FETCH");
        return -1;
    }
    q->pending = true;
    s_fetch_send(self);
    return 0;
}

int sp_partner_poll(sp_partner_t *self, sp_partner_handler_fn *handler, void *arg,
                    int timeout_ms)
{
    zmq_pollitem_t items[2] = { { self->socket, 0, ZMQ_POLLIN, 0 },
                                { self->zap, 0, ZMQ_POLLIN, 0 } };
    sp_frames_t frames;
    int handled = 0;
    int rc = zmq_poll(items, self->zap ? 2 : 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    if (self->zap && (items[1].revents & ZMQ_POLLIN))
        s_zap_serve(self);
    while (items[0].revents & ZMQ_POLLIN) {
        if (sp_frames_recv(&frames, self->socket, SP_MAX_FRAMES, 64u << 20,
                           ZMQ_DONTWAIT) != 0)
            break;
        if (s_message(self, &frames, handler, arg))
            handled++;
        sp_frames_close(&frames);
        /* a handshake waiting on ZAP must not wait for a whole backlog */
        if (self->zap)
            s_zap_serve(self);
    }
    return handled;
}
