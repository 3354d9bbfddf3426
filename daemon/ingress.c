/*  ingress.c - EMIT: frame checks, signature, envelope, authorisation,
    dedup, then the signal and one delivery per matching subscription are
    written into the turn's transaction. The reply waits for the commit.

    Order of checks: cheap framing first, then the signature before any
    parsing, so that nothing unauthenticated reaches the JSON parser.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "filter.h"
#include "route.h"
#include "server.h"
#include "sp_proto.h"
#include "sp_util.h"

/*  What one EMIT carried, borrowed from its frames.                      */
struct emit {
    sp_frames_t frames;
    sp_code_t code;             /* after framing and key checks */
    reply_t *reply;
    const emitter_t *emitter;
    const uint8_t *signature;
    const uint8_t *event_bytes;
    size_t event_len;
    sp_event_t *event;
    uint8_t sha256[SP_SHA256_SIZE];
    char key_id[SP_KEY_ID_SIZE + 1];
    char trace_id[33];
    bool relayed;               /* from an upstream node (upstream.c) */
};

static reply_t *s_reply_new(server_t *self)
{
    if (self->reply_count == SERVER_INGRESS_BURST)
        return NULL;
    reply_t *reply = &self->replies[self->reply_count++];
    memset(reply, 0, sizeof *reply);
    return reply;
}

static sp_code_t s_reject(emit_t *emit, sp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sp_code_t s_reject(emit_t *emit, sp_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(emit->reply->reason, sizeof emit->reply->reason, fmt, ap);
    va_end(ap);
    emit->reply->code = code;
    emit->reply->accepted = false;
    return code;
}

static sp_code_t s_check_frames(emit_t *emit, size_t max_bytes)
{
    sp_frames_t *f = &emit->frames;
    /* frame 0 is the ROUTER identity; protocol frames follow it */
    size_t n = f->count + f->dropped;
    /* the correlation first, so that even early refusals reach the emitter */
    size_t corr = sp_frame_size(f, 1 + SP_EMIT_CORRELATION);
    if (f->count > 1 + SP_EMIT_CORRELATION && corr > 0 && corr <= SP_CORRELATION_MAX)
        sp_frame_string(f, 1 + SP_EMIT_CORRELATION, emit->reply->correlation,
                        sizeof emit->reply->correlation);
    if (!sp_text_printable(emit->reply->correlation))
        emit->reply->correlation[0] = '\0';    /* never echo control bytes */
    if (f->oversize)
        return s_reject(emit, SP_E_TOO_LARGE, "message of %zu bytes exceeds the "
                        "limit of %zu", f->total, max_bytes);
    if (n < 2 || !sp_frame_is(f, 1 + SP_EMIT_PROTOCOL, SP_PROTOCOL))
        return s_reject(emit, SP_E_PROTOCOL, "first frame must be \"%s\"", SP_PROTOCOL);
    if (n < 3 || !sp_frame_is(f, 1 + SP_EMIT_COMMAND, SP_CMD_EMIT))
        return s_reject(emit, SP_E_COMMAND, "unknown command; expected \"%s\"",
                        SP_CMD_EMIT);
    if (n != 1 + SP_EMIT_FRAMES)
        return s_reject(emit, SP_E_FRAMES, "EMIT has %zu frames, expected %d",
                        n - 1, SP_EMIT_FRAMES);
    for (size_t i = 1; i < f->count; i++)
        if (sp_frame_size(f, i) == 0)
            return s_reject(emit, SP_E_FRAMES, "frame %zu is empty", i - 1);
    if (corr > SP_CORRELATION_MAX || emit->reply->correlation[0] == '\0')
        return s_reject(emit, SP_E_FRAMES, "correlation must be 1..%d printable "
                        "ASCII characters", SP_CORRELATION_MAX);
    return SP_OK;
}

/*  ZAP gave the CURVE key that opened this connection as its User-Id; it
    must be the signing emitter's key in the configuration of the moment. */
static sp_code_t s_check_curve(server_t *self, emit_t *emit)
{
    const char *user = zmq_msg_gets(&emit->frames.part[1], "User-Id");
    if (user && emit->emitter->curve_public && strcmp(user, emit->emitter->curve_public) == 0)
        return SP_OK;
    const emitter_t *owner = user ? config_emitter_by_curve(self->config, user) : NULL;
    return s_reject(emit, SP_E_CURVE_MISMATCH, "connection authenticated as %s, but "
                    "signed with the key of %s",
                    owner ? owner->name : "no configured emitter", emit->emitter->name);
}

/*  Everything about the key and the frames short of the signature itself,
    which the verifier checks for the whole turn at once.                */
static sp_code_t s_check_key(server_t *self, emit_t *emit)
{
    sp_frames_t *f = &emit->frames;
    if (sp_frame_string(f, 1 + SP_EMIT_KEY_ID, emit->key_id, sizeof emit->key_id) != 0
        || !sp_text_hex(emit->key_id, SP_KEY_ID_SIZE)) {
        emit->key_id[0] = '\0';                /* never quoted or logged */
        return s_reject(emit, SP_E_KEY_UNKNOWN, "key id must be %d lower-case hex "
                        "characters", SP_KEY_ID_SIZE);
    }
    emit->emitter = config_emitter_by_key_id(self->config, emit->key_id);
    if (!emit->emitter)
        return s_reject(emit, SP_E_KEY_UNKNOWN, "key %s belongs to no configured emitter",
                        emit->key_id);
    sp_code_t code = self->zap ? s_check_curve(self, emit) : SP_OK;
    if (code != SP_OK)
        return code;
    /* counted once the connection is the emitter's own: another one cannot
       use up its quota by sending EMITs under its key id               */
    size_t index = (size_t) (emit->emitter - self->config->emitters);
    if (++self->emitter_in_flight[index] > emit->emitter->max_in_flight)
        return s_reject(emit, SP_E_OVERLOADED, "more than %d signals of emitter %s in "
                        "flight; wait for answers before sending more",
                        emit->emitter->max_in_flight, emit->emitter->name);
    if (sp_frame_size(f, 1 + SP_EMIT_SIGNATURE) != SP_SIGNATURE_SIZE)
        return s_reject(emit, SP_E_SIGNATURE_LENGTH, "signature is %zu bytes, "
                        "Ed25519 signatures are %d", sp_frame_size(f, 1 + SP_EMIT_SIGNATURE),
                        SP_SIGNATURE_SIZE);
    emit->signature = sp_frame_data(f, 1 + SP_EMIT_SIGNATURE);
    emit->event_bytes = sp_frame_data(f, 1 + SP_EMIT_EVENT);
    emit->event_len = sp_frame_size(f, 1 + SP_EMIT_EVENT);
    return SP_OK;
}

static bool s_field_type_ok(field_type_t type, const cJSON *value)
{
    switch (type) {
    case FIELD_STRING:  return cJSON_IsString(value);
    case FIELD_NUMBER:  return cJSON_IsNumber(value);
    case FIELD_INTEGER: return sp_json_is_integer(value);
    case FIELD_BOOLEAN: return cJSON_IsBool(value);
    case FIELD_OBJECT:  return cJSON_IsObject(value);
    case FIELD_ARRAY:   return cJSON_IsArray(value);
    case FIELD_ANY:     return true;
    }
    return false;
}

static const char *s_field_type_name(field_type_t type)
{
    static const char *names[] = { "a string", "a number", "an integer",
                                   "a boolean", "an object", "an array", "any value" };
    return names[type];
}

static sp_code_t s_check_data(const signal_type_t *type, emit_t *emit)
{
    const cJSON *data = emit->event->data;
    if (type->field_count > 0 && !cJSON_IsObject(data))
        return s_reject(emit, SP_E_DATA_MISSING, "this type requires a data object");
    for (size_t i = 0; i < type->field_count; i++) {
        const data_field_t *field = &type->fields[i];
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(data, field->name);
        if (!value)
            return s_reject(emit, SP_E_DATA_MISSING, "data field '%s' is required "
                            "for this type", field->name);
        if (!s_field_type_ok(field->type, value))
            return s_reject(emit, SP_E_DATA_TYPE, "data field '%s' must be %s",
                            field->name, s_field_type_name(field->type));
    }
    return SP_OK;
}

static sp_code_t s_parse_event(server_t *self, emit_t *emit)
{
    sp_code_t code = SP_OK;
    char reason[200];
    emit->event = sp_event_parse(emit->event_bytes, emit->event_len,
                                 &self->config->limits, &code, reason, sizeof reason);
    if (!emit->event)
        return s_reject(emit, code, "%s", reason);
    if (strcmp(emit->event->oin, emit->emitter->oin) != 0)
        return s_reject(emit, SP_E_SOURCE_MISMATCH, "source OIN is not the OIN of "
                        "emitter %s", emit->emitter->name);
    return SP_OK;
}

/*  Checks that hold for a new signal only: a resend of one accepted
    earlier is answered DUPLICATE even when, say, its time has since left
    the skew window. No reason quotes the type: it is an attribute value,
    and one that was never configured may hold anything, a BSN even; the
    reason goes to the emitter, the log and the audit trail alike.       */
static sp_code_t s_check_authorised(server_t *self, emit_t *emit)
{
    const config_t *config = self->config;
    const signal_type_t *type = config_signal_type(config, emit->event->type);
    if (!type)
        return s_reject(emit, SP_E_TYPE_UNKNOWN, "the type is not configured");
    if (!config_emitter_may_emit(emit->emitter, type->type))
        return s_reject(emit, SP_E_NOT_ALLOWED, "emitter %s may not emit this type",
                        emit->emitter->name);
    /* a relayed signal's time was checked by the node that took it from
       its emitter; it may arrive days later, after an outage           */
    if (config->clock_skew_ms > 0 && !emit->relayed
        && llabs(emit->event->time_ms - sp_time_now_ms()) > config->clock_skew_ms)
        return s_reject(emit, SP_E_CLOCK_SKEW, "time is more than %lld s from the "
                        "router's clock", (long long) (config->clock_skew_ms / 1000));
    return s_check_data(type, emit);
}

/*  Returns SP_OK for a new signal, SP_DUPLICATE, or a rejection.          */
static sp_code_t s_check_duplicate(server_t *self, emit_t *emit)
{
    int64_t id = 0;
    uint8_t stored[SP_SHA256_SIZE] = {0};
    sp_sha256(emit->event_bytes, emit->event_len, emit->sha256);
    int found = store_signal_find(self->store, emit->event->source, emit->event->id,
                                  &id, stored);
    if (found < 0)
        return s_reject(emit, SP_E_STORAGE, "cannot read the store");
    if (found == 0)
        return SP_OK;
    if (memcmp(stored, emit->sha256, SP_SHA256_SIZE) != 0)
        return s_reject(emit, SP_E_REPLAY, "source and id were accepted before with "
                        "other content");
    emit->reply->accepted = true;
    emit->reply->code = SP_DUPLICATE;
    snprintf(emit->reply->reason, sizeof emit->reply->reason,
             "accepted before; stored once");
    return SP_DUPLICATE;
}

static void s_audit_rejected(server_t *self, emit_t *emit)
{
    json_t *detail = json_pack("{s:s, s:s}", "code", sp_code_name(emit->reply->code),
                               "reason", emit->reply->reason);
    if (emit->emitter)
        json_object_set_new(detail, "emitter", json_string(emit->emitter->name));
    if (emit->key_id[0])
        json_object_set_new(detail, "key_id", json_string(emit->key_id));
    if (emit->reply->correlation[0])
        json_object_set_new(detail, "correlation", json_string(emit->reply->correlation));
    /* while the disk fails the refusal is logged, not audited: writing it
       would fail the turn again                                         */
    if (!self->storage_paused && store_begin(self->store) == 0)
        audit_append(self->audit, AUDIT_SIGNAL_REJECTED, NULL, 0, NULL, detail);
    else
        json_decref(detail);
}

/*  One line per rejection, at most INGRESS_LOG_PER_SECOND a second: a
    flood of bad input must not flood the journal (the audit trail and the
    metrics still count every one). While the disk fails, the backoff
    warning stands for all STORAGE_UNAVAILABLE refusals.                 */
#define INGRESS_LOG_PER_SECOND 20

static const flood_policy_t s_log_policy = { 1000, INGRESS_LOG_PER_SECOND };

static void s_log_rejected(server_t *self, emit_t *emit, sp_code_t code)
{
    int64_t now = sp_clock_ms();
    if (code == SP_E_STORAGE && self->storage_paused)
        return;
    if (flood_owed(&self->ingress_log, &s_log_policy, now)) {
        sp_log(SP_LOG_INFO, "%lld more rejections not logged (rate limit)",
               (long long) self->ingress_log.suppressed);
        flood_roll(&self->ingress_log, &s_log_policy, now);
    }
    if (!flood_admit(&self->ingress_log, &s_log_policy, now, NULL, NULL))
        return;
    sp_log(SP_LOG_INFO, "rejected %s from %s: %s", sp_code_name(code),
           emit->emitter ? emit->emitter->name : "unknown emitter", emit->reply->reason);
}

static void s_handle(server_t *self, emit_t *emit)
{
    sp_code_t code = emit->code;
    if (code == SP_OK && self->storage_paused)
        code = s_reject(emit, SP_E_STORAGE, "storage unavailable (disk full or failing); "
                        "nothing stored, send again later");
    if (code == SP_OK)
        code = s_parse_event(self, emit);
    if (code == SP_OK && store_begin(self->store) != 0)
        code = s_reject(emit, SP_E_STORAGE, "cannot start a transaction");
    if (code == SP_OK)
        code = s_check_duplicate(self, emit);
    if (code == SP_OK)
        code = s_check_authorised(self, emit);
    if (code == SP_OK)
        code = route_store(self, emit->event, emit->emitter, emit->event_bytes,
                             emit->event_len, emit->sha256, emit->key_id,
                             emit->signature, emit->reply);
    if (code == SP_DUPLICATE) {
        self->uncommitted.duplicates++;
        audit_append(self->audit, AUDIT_SIGNAL_DUPLICATE, NULL, 0, NULL,
                     json_pack("{s:s, s:s}", "emitter", emit->emitter->name,
                               "correlation", emit->reply->correlation));
    } else if (code != SP_OK) {
        self->stats.rejected++;
        self->stats.rejected_by_code[code]++;
        s_audit_rejected(self, emit);
        s_log_rejected(self, emit, code);
    }
}

sp_code_t ingress_relayed(server_t *self, const emitter_t *emitter, const char *key_id,
                          const uint8_t *event, size_t len, const uint8_t *signature,
                          reply_t *reply)
{
    emit_t emit = { .code = SP_OK, .reply = reply, .emitter = emitter,
                    .signature = signature, .event_bytes = event, .event_len = len,
                    .relayed = true };
    snprintf(emit.key_id, sizeof emit.key_id, "%s", key_id);
    memset(reply, 0, sizeof *reply);
    snprintf(reply->correlation, sizeof reply->correlation, "relayed");
    s_handle(self, &emit);
    sp_event_destroy(&emit.event);
    return reply->code;
}

/*  Receives one EMIT and runs the checks before the signature. Returns
    false when nothing was there.                                        */
static bool s_receive(server_t *self, emit_t *emit)
{
    size_t max_bytes = self->config->limits.max_bytes + 4096;
    /* frames are filled by sp_frames_recv; the rest starts empty */
    memset((char *) emit + sizeof emit->frames, 0, sizeof *emit - sizeof emit->frames);
    if (sp_frames_recv(&emit->frames, self->ingress, SP_EMIT_FRAMES + 1, max_bytes,
                       ZMQ_DONTWAIT) != 0)
        return false;
    self->stats.received++;
    emit->reply = s_reply_new(self);
    if (!emit->reply || emit->frames.count == 0) {
        sp_frames_close(&emit->frames);
        emit->reply = NULL;
        return true;
    }
    emit->reply->arrived_us = sp_clock_us();
    size_t id_len = sp_frame_size(&emit->frames, 0);
    if (id_len <= sizeof emit->reply->identity) {
        memcpy(emit->reply->identity, sp_frame_data(&emit->frames, 0), id_len);
        emit->reply->identity_len = id_len;
    }
    emit->code = s_check_frames(emit, max_bytes);
    if (emit->code == SP_OK)
        emit->code = s_check_key(self, emit);
    return true;
}

/*  Verifies the signatures of emits[0..count) on two threads.            */
static void s_verify_all(server_t *self, emit_t *emits, size_t count)
{
    size_t jobs = 0;
    for (size_t i = 0; i < count; i++) {
        emit_t *emit = &emits[i];
        if (!emit->reply || emit->code != SP_OK)
            continue;
        self->verify_jobs[jobs++] = (verify_job_t) {
            emit->emitter->key, SP_DOMAIN_SIGNAL, emit->event_bytes,
            emit->event_len, emit->signature, 0 };
    }
    verifier_run(self->verifier, self->verify_jobs, jobs);
    jobs = 0;
    for (size_t i = 0; i < count; i++) {
        emit_t *emit = &emits[i];
        if (!emit->reply || emit->code != SP_OK)
            continue;
        if (self->verify_jobs[jobs++].result != 0)
            emit->code = s_reject(emit, SP_E_SIGNATURE, "signature by key %s does not "
                                  "verify over the event bytes", emit->key_id);
    }
}

void ingress_drain(server_t *self)
{
    emit_t *emits = self->emits;
    size_t count = 0;
    while (count < self->ingress_burst && self->reply_count < SERVER_INGRESS_BURST
           && s_receive(self, &emits[count]))
        count++;
    s_verify_all(self, emits, count);
    for (size_t i = 0; i < count; i++) {
        if (emits[i].reply)
            s_handle(self, &emits[i]);
        sp_event_destroy(&emits[i].event);
        sp_frames_close(&emits[i].frames);
    }
}

void ingress_fail_replies(server_t *self, const char *reason)
{
    for (size_t i = 0; i < self->reply_count; i++) {
        reply_t *reply = &self->replies[i];
        if (!reply->accepted)
            continue;
        reply->accepted = false;
        reply->code = SP_E_STORAGE;
        snprintf(reply->reason, sizeof reply->reason, "%s", reason);
        self->stats.rejected++;
        self->stats.rejected_by_code[SP_E_STORAGE]++;
    }
}

void ingress_send_replies(server_t *self)
{
    for (size_t i = 0; i < self->reply_count; i++) {
        reply_t *reply = &self->replies[i];
        const char *command = reply->accepted ? SP_CMD_ACCEPTED : SP_CMD_REJECTED;
        const char *code = sp_code_name(reply->code);
        const void *parts[] = { reply->identity, SP_PROTOCOL, command,
                                reply->correlation, code, reply->reason };
        size_t sizes[] = { reply->identity_len, strlen(SP_PROTOCOL), strlen(command),
                           strlen(reply->correlation), strlen(code),
                           strlen(reply->reason) };
        /* An emitter that went away just misses its reply: it resends and
           the duplicate is answered like the first time.                 */
        if (sp_send_parts(self->ingress, parts, sizes, 6, ZMQ_DONTWAIT) != 0)
            self->stats.replies_dropped++;
        histogram_observe(&self->stats.ack_latency,
                          (double) (sp_clock_us() - reply->arrived_us) / 1e6);
    }
    self->reply_count = 0;
    memset(self->emitter_in_flight, 0,
           (self->config->emitter_count ? self->config->emitter_count : 1)
           * sizeof *self->emitter_in_flight);
}

emit_t *ingress_emits_new(size_t count)
{
    return calloc(count, sizeof(emit_t));
}
