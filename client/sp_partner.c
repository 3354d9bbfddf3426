/*  sp_partner.c - the partner side: verify a DELIVER (router signature,
    each event's SHA-256 and emitter signature), hand new signals to the
    caller in order, deduplicate, and answer with a signed cumulative
    RECEIPT covering only what the caller handled, or a NACK.            */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seinpost.h"
#include "sp_event.h"
#include "sp_proto.h"

#define PARTNER_SEEN_SLOTS (1u << 17)   /* (source, id) fingerprints kept */
#define PARTNER_ROUTER_KEYS 4           /* the router's key and others trusted */

struct sp_partner {
    void *zmq;
    void *socket;
    const sp_key_t *key;
    const sp_key_t *router_keys[PARTNER_ROUTER_KEYS];   /* [0] from _new() */
    size_t router_key_count;
    size_t router_key_last;     /* the one that verified the last batch */
    const sp_key_t *const *emitter_keys;
    size_t emitter_key_count;
    uint64_t *seen;             /* open addressing; 0 = empty */
    size_t seen_count;
    char subscriber[128];
    char last_error[256];
};

sp_partner_t *sp_partner_new(const char *endpoint, const sp_key_t *key,
                             const sp_key_t *router_key,
                             const sp_key_t *const *emitter_keys,
                             size_t emitter_key_count,
                             const char *curve_secret_file,
                             char *err, size_t errlen)
{
    sp_partner_t *self = calloc(1, sizeof *self);
    int zero = 0;
    if (!self || !sp_key_has_secret(key) || !router_key) {
        snprintf(err, errlen, "partner needs a secret key and the router's key");
        free(self);
        return NULL;
    }
    self->key = key;
    self->router_keys[self->router_key_count++] = router_key;
    self->emitter_keys = emitter_keys;
    self->emitter_key_count = emitter_key_count;
    self->seen = calloc(PARTNER_SEEN_SLOTS, sizeof *self->seen);
    self->zmq = zmq_ctx_new();
    self->socket = self->zmq ? zmq_socket(self->zmq, ZMQ_ROUTER) : NULL;
    if (!self->seen || !self->socket)
        goto failed;
    zmq_setsockopt(self->socket, ZMQ_LINGER, &zero, sizeof zero);
    if (curve_secret_file) {
        char pub[41], sec[41];
        if (sp_curve_load(curve_secret_file, pub, sec, err, errlen) != 0) {
            sp_partner_destroy(&self);
            return NULL;
        }
        int rc = sp_socket_curve_server(self->socket, sec);
        sodium_memzero(sec, sizeof sec);
        if (rc != 0)
            goto failed;
    }
    if (zmq_bind(self->socket, endpoint) != 0)
        goto failed;
    return self;
failed:
    snprintf(err, errlen, "%s: %s", endpoint, zmq_strerror(zmq_errno()));
    sp_partner_destroy(&self);
    return NULL;
}

void sp_partner_destroy(sp_partner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_partner_t *self = *self_p;
    if (self->socket)
        zmq_close(self->socket);
    if (self->zmq)
        zmq_ctx_term(self->zmq);
    free(self->seen);
    free(self);
    *self_p = NULL;
}

const char *sp_partner_last_error(const sp_partner_t *self) { return self->last_error; }

/*  The key of the seen table: (subscription, source, id). The
    subscription is part of it: one event routed under two subscriptions
    is two deliveries, each under its own legal basis. 0: out of memory. */
static uint64_t s_fingerprint(const char *subscription, const char *source, const char *id)
{
    uint8_t digest[SP_SHA256_SIZE];
    uint64_t fp;
    size_t a = strlen(subscription) + 1, b = strlen(source) + 1, c = strlen(id);
    char *key = malloc(a + b + c + 1);
    if (!key)
        return 0;
    memcpy(key, subscription, a);
    memcpy(key + a, source, b);
    memcpy(key + a + b, id, c + 1);
    sp_sha256(key, a + b + c, digest);
    free(key);
    memcpy(&fp, digest, sizeof fp);
    return fp | 1;
}

/*  Finds fp, or the empty slot where it belongs.                       */
static uint64_t *s_slot(sp_partner_t *self, uint64_t fp)
{
    for (size_t i = fp & (PARTNER_SEEN_SLOTS - 1);; i = (i + 1) & (PARTNER_SEEN_SLOTS - 1))
        if (self->seen[i] == fp || self->seen[i] == 0)
            return &self->seen[i];
}

static bool s_seen(sp_partner_t *self, uint64_t fp)
{
    return fp != 0 && *s_slot(self, fp) == fp;
}

/*  Only once the handler took it: a signal the handler failed on is
    NACKed, and its resend must reach the handler again, not pass as a
    duplicate. The table is cleared when half full, so an old signal
    redelivered after 65 536 others in one process lifetime would be
    handled again.                                                      */
static void s_remember(sp_partner_t *self, uint64_t fp)
{
    if (fp == 0)
        return;
    if (self->seen_count >= PARTNER_SEEN_SLOTS / 2) {
        memset(self->seen, 0, PARTNER_SEEN_SLOTS * sizeof *self->seen);
        self->seen_count = 0;
    }
    uint64_t *slot = s_slot(self, fp);
    if (*slot == 0) {
        *slot = fp;
        self->seen_count++;
    }
}

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

/*  The header's source, id and type are the router's word, the event's
    the emitter's signed one. Applications act on the first and the
    partner deduplicates by it: a header that describes another signal
    than the one it carries is refused like a wrong SHA-256.            */
static int s_check_described(sp_partner_t *self, const sp_signal_t *signal)
{
    static const char *const names[] = { "source", "id", "type" };
    const char *header[] = { signal->source, signal->id, signal->type };
    json_t *event = json_loadb(signal->event, signal->event_len, JSON_REJECT_DUPLICATES, NULL);
    const char *differs = json_is_object(event) ? NULL : "the whole event";
    for (size_t i = 0; !differs && i < sizeof names / sizeof names[0]; i++) {
        const char *value = json_string_value(json_object_get(event, names[i]));
        if (!value || !header[i] || strcmp(value, header[i]) != 0)
            differs = names[i];
    }
    json_decref(event);
    if (differs)
        return s_fail(self, SP_E_BATCH_SIGNATURE, "entry %s/%llu: %s in the signed header "
                      "differs from the emitter's signed event", signal->subscription,
                      (unsigned long long) signal->seq, differs);
    return SP_OK;
}

/*  Checks one entry against its event frame; fills signal, whose
    emitter_signature points into sig.                                    */
static int s_verify_entry(sp_partner_t *self, json_t *entry, sp_frames_t *f, size_t frame,
                          sp_signal_t *signal, uint8_t sig[SP_SIGNATURE_SIZE])
{
    uint8_t digest[SP_SHA256_SIZE], want[SP_SHA256_SIZE];
    const char *sha = json_string_value(json_object_get(entry, "sha256"));
    const char *esig = json_string_value(json_object_get(entry, "emitter_sig"));
    memset(signal, 0, sizeof *signal);
    signal->subscription = json_string_value(json_object_get(entry, "subscription"));
    signal->seq = (uint64_t) json_integer_value(json_object_get(entry, "seq"));
    signal->source = json_string_value(json_object_get(entry, "source"));
    signal->id = json_string_value(json_object_get(entry, "id"));
    signal->type = json_string_value(json_object_get(entry, "type"));
    signal->grondslag = json_string_value(json_object_get(entry, "grondslag"));
    signal->activity = json_string_value(json_object_get(entry, "activity"));
    signal->emitter_key_id = json_string_value(json_object_get(entry, "emitter_key"));
    signal->event = sp_frame_data(f, frame);
    signal->event_len = sp_frame_size(f, frame);
    json_int_t seq = json_integer_value(json_object_get(entry, "seq"));
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
    const void *parts[] = { SP_PROTOCOL, SP_CMD_NACK, batch_hex, name, self->last_error };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(SP_CMD_NACK), strlen(batch_hex),
                       strlen(name), strlen(self->last_error) };
    s_send(self, f, parts, sizes, 5);
}

static int s_receipt(sp_partner_t *self, sp_frames_t *f, const char *batch_hex, json_t *acks)
{
    char when[40];
    uint8_t sig[SP_SIGNATURE_SIZE];
    sp_time_format(sp_time_now_ms(), when, sizeof when);
    json_t *body = json_pack("{s:i, s:s, s:s, s:s, s:O, s:s}", "v", 1,
                             "subscriber", self->subscriber, "partner_key",
                             sp_key_id(self->key), "batch_sha256", batch_hex,
                             "acks", acks, "received_at", when);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (!text || sp_key_sign(self->key, SP_DOMAIN_RECEIPT, text, strlen(text), sig) != 0) {
        free(text);
        return -1;
    }
    const void *parts[] = { SP_PROTOCOL, SP_CMD_RECEIPT, text, sig };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(SP_CMD_RECEIPT), strlen(text), sizeof sig };
    s_send(self, f, parts, sizes, 4);
    free(text);
    return 0;
}


/*  Handles the verified entries in order; returns the acks to sign, or
    NULL when nothing new could be acknowledged.                         */
static json_t *s_handle_entries(sp_partner_t *self, json_t *entries, sp_frames_t *f,
                                sp_partner_handler_fn *handler, void *arg, int *code)
{
    json_t *acks = json_object();
    size_t i;
    json_t *entry;
    *code = SP_OK;
    json_array_foreach(entries, i, entry) {
        sp_signal_t signal;
        uint8_t sig[SP_SIGNATURE_SIZE];
        *code = s_verify_entry(self, entry, f, 1 + SP_DELIVER_FIRST_EVENT + i, &signal, sig);
        if (*code != SP_OK)
            break;
        /* by (subscription, source, id), not by seq: an operator's
           redelivery comes under a new seq, and one handled before
           need not be handled twice                                   */
        uint64_t fp = s_fingerprint(signal.subscription, signal.source, signal.id);
        signal.duplicate = s_seen(self, fp);
        if (handler(&signal, arg) != 0) {
            *code = s_fail(self, SP_E_PARTNER_FAILED, "handler failed on %s/%llu",
                           signal.subscription, (unsigned long long) signal.seq);
            break;
        }
        s_remember(self, fp);
        json_t *prev = json_object_get(acks, signal.subscription);
        if (!prev || json_integer_value(prev) < (json_int_t) signal.seq)
            json_object_set_new(acks, signal.subscription,
                                json_integer((json_int_t) signal.seq));
    }
    return acks;
}

/*  Acknowledges through the highest seq of this batch, never beyond: after
    a router restart the router resends a window at a time, and refuses a
    receipt for a seq it has not (re)sent yet.                          */
static json_t *s_ack_list(json_t *acks)
{
    json_t *list = json_array();
    const char *name;
    json_t *seq;
    json_object_foreach(acks, name, seq)
        json_array_append_new(list, json_pack("{s:s, s:I}", "subscription", name,
                                              "through_seq", json_integer_value(seq)));
    return list;
}

/*  The key that verified the last batch first, then the others: after
    the router switched keys one failed verification, not one a batch. */
static bool s_router_signed(sp_partner_t *self, sp_frames_t *f)
{
    for (size_t i = 0; i < self->router_key_count; i++) {
        size_t k = (self->router_key_last + i) % self->router_key_count;
        if (sp_key_verify(self->router_keys[k], SP_DOMAIN_BATCH,
                          sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                          sp_frame_size(f, 1 + SP_DELIVER_HEADER),
                          sp_frame_data(f, 1 + SP_DELIVER_SIGNATURE)) == 0) {
            self->router_key_last = k;
            return true;
        }
    }
    return false;
}

int sp_partner_trust_router_key(sp_partner_t *self, const sp_key_t *key)
{
    if (!self || !key || self->router_key_count == PARTNER_ROUTER_KEYS)
        return -1;
    self->router_keys[self->router_key_count++] = key;
    return 0;
}

static int s_check_header(sp_partner_t *self, sp_frames_t *f, json_t **header)
{
    json_error_t jerr;
    *header = NULL;
    if (f->count < 1 + SP_DELIVER_FIRST_EVENT || f->dropped || f->oversize
        || !sp_frame_is(f, 1 + SP_DELIVER_PROTOCOL, SP_PROTOCOL)
        || !sp_frame_is(f, 1 + SP_DELIVER_COMMAND, SP_CMD_DELIVER))
        return s_fail(self, sp_frame_is(f, 1 + SP_DELIVER_PROTOCOL, SP_PROTOCOL)
                      ? SP_E_FRAMES : SP_E_PROTOCOL, "not a SEINPOST1 DELIVER message");
    if (sp_frame_size(f, 1 + SP_DELIVER_SIGNATURE) != SP_SIGNATURE_SIZE
        || !s_router_signed(self, f))
        return s_fail(self, SP_E_BATCH_SIGNATURE, "router signature does not verify");
    *header = json_loadb(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                         sp_frame_size(f, 1 + SP_DELIVER_HEADER), JSON_REJECT_DUPLICATES, &jerr);
    json_t *entries = json_object_get(*header, "entries");
    const char *subscriber = json_string_value(json_object_get(*header, "subscriber"));
    if (!json_is_array(entries) || !subscriber
        || json_array_size(entries) != f->count - 1 - SP_DELIVER_FIRST_EVENT)
        return s_fail(self, SP_E_FRAMES, "header entries do not match the event frames");
    /* never cut a name: a cut UTF-8 sequence could not be signed back */
    if (strlen(subscriber) >= sizeof self->subscriber)
        return s_fail(self, SP_E_FRAMES, "subscriber name longer than %zu bytes",
                      sizeof self->subscriber - 1);
    memcpy(self->subscriber, subscriber, strlen(subscriber) + 1);
    return SP_OK;
}

/*  One DELIVER. The frames carry the ROUTER identity first, so every
    protocol index is shifted by one.                                    */
static int s_batch(sp_partner_t *self, sp_frames_t *f, sp_partner_handler_fn *handler,
                   void *arg)
{
    uint8_t digest[SP_SHA256_SIZE];
    char batch_hex[2 * SP_SHA256_SIZE + 1] = "";
    json_t *header = NULL;
    int code = s_check_header(self, f, &header);
    if (sp_frame_size(f, 1 + SP_DELIVER_HEADER) > 0) {
        sp_sha256(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                  sp_frame_size(f, 1 + SP_DELIVER_HEADER), digest);
        sp_hex(digest, sizeof digest, batch_hex);
    }
    if (code == SP_OK) {
        json_t *acks = s_handle_entries(self, json_object_get(header, "entries"), f,
                                        handler, arg, &code);
        if (json_object_size(acks) > 0) {
            json_t *list = s_ack_list(acks);
            if (s_receipt(self, f, batch_hex, list) != 0 && code == SP_OK)
                code = s_fail(self, SP_E_PARTNER_FAILED, "cannot sign a receipt");
            json_decref(list);
        }
        json_decref(acks);
    }
    if (code != SP_OK)
        s_nack(self, f, batch_hex, code);
    json_decref(header);
    return code == SP_OK ? 0 : -1;
}

int sp_partner_poll(sp_partner_t *self, sp_partner_handler_fn *handler, void *arg,
                    int timeout_ms)
{
    zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
    sp_frames_t frames;
    int handled = 0;
    int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    while (rc > 0) {
        if (sp_frames_recv(&frames, self->socket, SP_MAX_FRAMES, 64u << 20,
                           ZMQ_DONTWAIT) != 0)
            break;
        s_batch(self, &frames, handler, arg);
        sp_frames_close(&frames);
        handled++;
    }
    return handled;
}
