/*  route.c - store and route one accepted signal.                         */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "filter.h"
#include "jsonw.h"
#include "route.h"

static void s_trace_id(char out[33])
{
    uint8_t bytes[16];
    randombytes_buf(bytes, sizeof bytes);
    sp_hex(bytes, sizeof bytes, out);
}

/*  Pseudonyms of the data subject ids the signal carries, never the ids:
    a JSON array for the signal.accepted detail; subject_out gets the
    pseudonym of the CloudEvents subject (or "").                       */
static void s_subject_pseudonyms(server_t *self, const signal_type_t *type,
                                 const sp_event_t *event, char *subject_out, jsonw_t *w)
{
    char pseudonym[VAULT_PSEUDONYM_HEX + 1];
    bool first = true;
    subject_out[0] = '\0';
    jsonw_raw(w, "[");
    if (type->subject_id_type && event->subject) {
        if (vault_pseudonym(self->vault, type->subject_id_type, event->subject,
                            subject_out) != 0)
            jsonw_fail(w);  /* the turn fails: no signal without its pseudonym */
        jsonw_member(w, "{\"id\":", subject_out);
        jsonw_member(w, ",\"type\":", type->subject_id_type);
        jsonw_raw(w, "}");
        first = false;
    }
    for (size_t i = 0; i < type->field_count; i++) {
        const data_field_t *field = &type->fields[i];
        const cJSON *value = cJSON_IsObject(event->data)
            ? cJSON_GetObjectItemCaseSensitive(event->data, field->name) : NULL;
        if (!field->subject_id || !cJSON_IsString(value))
            continue;
        const char *id_type = type->subject_id_type ? type->subject_id_type : "BSN";
        if (vault_pseudonym(self->vault, id_type, value->valuestring, pseudonym) != 0)
            jsonw_fail(w);
        jsonw_raw(w, first ? "{\"id\":" : ",{\"id\":");
        jsonw_string(w, pseudonym);
        jsonw_member(w, ",\"type\":", id_type);
        jsonw_member(w, ",\"field\":", field->name);
        jsonw_raw(w, "}");
        first = false;
    }
    jsonw_raw(w, "]");
}

static int s_insert_signal(server_t *self, const sp_event_t *event, const emitter_t *emitter,
                           const uint8_t *bytes, size_t len, const uint8_t *sha256,
                           const char *key_id, const uint8_t *signature,
                           const char *trace_id, const char *subject, int64_t received_at,
                           int64_t *signal_id)
{
    uint8_t *sealed = malloc(len + VAULT_OVERHEAD);
    if (!sealed || vault_seal(self->vault, bytes, len, event->source, event->id,
                              sealed) != 0) {
        free(sealed);
        return -1;
    }
    store_signal_t row = {
        .source = event->source, .ce_id = event->id, .type = event->type,
        .emitter = emitter->name, .received_at = received_at,
        .event = sealed, .event_len = len + VAULT_OVERHEAD,
        .event_sha256 = sha256, .key_id = key_id, .signature = signature,
        .trace_id = trace_id, .subject_pseudonym = subject[0] ? subject : NULL,
    };
    int rc = store_signal_insert(self->store, &row, signal_id);
    free(sealed);
    return rc;
}

/*  Appends an audit record whose detail w holds; frees it.               */
static int s_audit(server_t *self, const char *kind, const char *trace_id,
                   int64_t signal_id, const char *subscriber, jsonw_t *w)
{
    char *detail = jsonw_finish(w);
    int rc = detail ? audit_append_text(self->audit, kind, trace_id, signal_id,
                                        subscriber, detail) : -1;
    free(detail);
    return rc;
}

/*  One delivery: its row, and its entry in the signal.accepted detail's
    "routes" (the legal basis it goes under), which w holds open.        */
static int s_route_one(server_t *self, const subscriber_t *subscriber,
                       const subscription_t *sub, int64_t signal_id, jsonw_t *w,
                       bool first)
{
    int64_t seq = server_next_seq(self, subscriber->name, sub->name);
    if (seq < 0 || store_delivery_insert(self->store, signal_id, subscriber->name,
                                         sub->name, seq, sp_time_now_ms()) != 0)
        return -1;
    self->written_delivery_id = store_last_delivery_id(self->store);
    jsonw_member(w, first ? "{\"subscriber\":" : ",{\"subscriber\":", subscriber->name);
    jsonw_member(w, ",\"subscription\":", sub->name);
    jsonw_member_int(w, ",\"seq\":", seq);
    jsonw_member(w, ",\"grondslag\":", sub->grondslag);
    jsonw_member(w, ",\"processing_activity_id\":", sub->activity);
    jsonw_raw(w, "}");
    return 0;
}

/*  Routes the signal and closes the accepted detail w with its "routes"
    and "routed" count: one audit row per signal, however many partners
    it goes to (docs/protocol.md 13.1).                                 */
static int s_route(server_t *self, const sp_event_t *event, int64_t signal_id,
                   jsonw_t *w, int *routed)
{
    const config_t *config = self->config;
    *routed = 0;
    jsonw_raw(w, ",\"routes\":[");
    for (size_t i = 0; i < config->subscriber_count; i++) {
        const subscriber_t *subscriber = &config->subscribers[i];
        for (size_t j = 0; j < subscriber->sub_count; j++) {
            const subscription_t *sub = &subscriber->subs[j];
            if (!filter_match(sub, event))
                continue;
            if (s_route_one(self, subscriber, sub, signal_id, w, *routed == 0) != 0)
                return -1;
            if (i < self->sub_count)        /* subs[i] is subscribers[i] */
                self->subs[i].stored++;
            (*routed)++;
        }
    }
    jsonw_member_int(w, "],\"routed\":", *routed);
    jsonw_raw(w, "}");
    return 0;
}

/*  The event of a stored signal, opened and parsed again, under limits
    no lower than any it passed when it came in: a reload that lowered
    the configured ones since must not make an accepted signal unreadable. */
static sp_event_t *s_stored_event(server_t *self, const route_signal_t *signal,
                                  char *why, size_t whylen)
{
    sp_event_limits_t limits = { .max_bytes = signal->sealed_len, .max_depth = 1000,
                                 .max_string = signal->sealed_len,
                                 .max_attr_string = signal->sealed_len };
    sp_code_t code = SP_OK;
    sp_event_t *event = NULL;
    uint8_t *plain = malloc(signal->sealed_len ? signal->sealed_len : 1);
    long n = plain ? vault_open(self->vault, signal->sealed, signal->sealed_len,
                                signal->source, signal->ce_id, plain) : VAULT_NOMEM;
    if (n >= 0)
        event = sp_event_parse(plain, (size_t) n, &limits, &code, NULL, 0);
    if (!event)
        snprintf(why, whylen, "%s", n == VAULT_NOMEM ? "out of memory reading the signal"
                 : n < 0 ? "the stored signal does not open with this node's secret"
                 : "the stored signal no longer parses");
    if (plain)
        sodium_memzero(plain, signal->sealed_len ? signal->sealed_len : 1);
    free(plain);
    return event;
}

int route_covers(server_t *self, const subscription_t *sub, const route_signal_t *signal,
                 char *why, size_t whylen)
{
    /* the configured names only: the type is no attribute value here */
    if (strcmp(sub->type, signal->type) != 0) {
        snprintf(why, whylen, "subscription %s now takes type %s, not this signal's: "
                 "its legal basis no longer covers the signal", sub->name, sub->type);
        return 0;
    }
    if (sub->cond_count == 0)
        return 1;
    if (!signal->sealed) {
        snprintf(why, whylen, "payload purged: the filter cannot be applied");
        return -1;
    }
    sp_event_t *event = s_stored_event(self, signal, why, whylen);
    if (!event)
        return -1;
    int covers = filter_match(sub, event);
    if (!covers)
        snprintf(why, whylen, "the filter of subscription %s no longer matches the "
                 "signal: its legal basis no longer covers it", sub->name);
    sp_event_destroy(&event);
    return covers;
}

int route_covers_stored(server_t *self, const subscription_t *sub, db_stmt_t *stmt,
                        int64_t signal_id, char *why, size_t whylen)
{
    int rc = -2;
    snprintf(why, whylen, "the stored signal is incomplete");
    db_bind_int64(stmt, 1, signal_id);
    if (db_step(stmt) == DB_ROW) {
        rc = -1;
        route_signal_t stored = {
            .type = db_column_text(stmt, 0),
            .source = db_column_text(stmt, 1),
            .ce_id = db_column_text(stmt, 2),
            .sealed = db_column_blob(stmt, 3),
            .sealed_len = db_column_bytes(stmt, 3) };
        if (stored.type && stored.source && stored.ce_id)
            rc = route_covers(self, sub, &stored, why, whylen);
    }
    db_reset(stmt);
    return rc;
}

/*  The signal.accepted detail up to its routes, which follow once
    routing is done. Nothing in it comes from the event's data but the
    subjects' pseudonyms; received_at lets the verifier tell the stored
    time edited.                                                        */
static void s_accepted_detail(server_t *self, jsonw_t *w, const signal_type_t *type,
                              const sp_event_t *event, const emitter_t *emitter,
                              const char *key_id, const char *sha_hex, size_t event_len,
                              int64_t received_at, char *subject_out)
{
    jsonw_init(w, JSON_ENSURE_ASCII);
    jsonw_member(w, "{\"emitter\":", emitter->name);
    jsonw_member(w, ",\"type\":", event->type);
    jsonw_member(w, ",\"source\":", event->source);
    jsonw_member(w, ",\"id\":", event->id);
    jsonw_member(w, ",\"key_id\":", key_id);
    jsonw_member(w, ",\"sha256\":", sha_hex);
    jsonw_member_int(w, ",\"bytes\":", (int64_t) event_len);
    jsonw_member_int(w, ",\"received_at\":", received_at);
    jsonw_raw(w, ",\"data_subjects\":");
    s_subject_pseudonyms(self, type, event, subject_out, w);
}

sp_code_t route_store(server_t *self, const sp_event_t *event,
                      const emitter_t *emitter, const uint8_t *event_bytes,
                      size_t event_len, const uint8_t sha256[SP_SHA256_SIZE],
                      const char *key_id, const uint8_t *signature,
                      reply_t *reply)
{
    char trace_id[33], subject[VAULT_PSEUDONYM_HEX + 1], sha_hex[65];
    int64_t signal_id = 0, received_at = sp_time_now_ms();
    int routed = 0;
    jsonw_t accepted;
    const signal_type_t *type = config_signal_type(self->config, event->type);
    s_trace_id(trace_id);
    sp_hex(sha256, SP_SHA256_SIZE, sha_hex);
    /* built first: it yields the subject's pseudonym the signal row keeps */
    s_accepted_detail(self, &accepted, type, event, emitter, key_id, sha_hex, event_len,
                      received_at, subject);
    int rc = s_insert_signal(self, event, emitter, event_bytes, event_len, sha256, key_id,
                             signature, trace_id, subject, received_at, &signal_id);
    if (rc == 0)
        rc = s_route(self, event, signal_id, &accepted, &routed);
    if (rc == 0)
        rc = s_audit(self, AUDIT_SIGNAL_ACCEPTED, trace_id, signal_id, NULL, &accepted);
    else
        free(jsonw_finish(&accepted));
    if (rc != 0) {
        /* nothing of the turn stands: it is rolled back and refused */
        snprintf(reply->reason, sizeof reply->reason, "cannot store the signal");
        reply->code = SP_E_STORAGE;
        self->tx_failed = true;
        return SP_E_STORAGE;
    }
    reply->accepted = true;
    reply->code = SP_OK;
    snprintf(reply->reason, sizeof reply->reason, "stored; routed to %d subscription%s",
             routed, routed == 1 ? "" : "s");
    self->uncommitted.accepted++;
    return SP_OK;
}
