/*  route.c - store and route one accepted signal.                         */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "filter.h"
#include "route.h"

static void s_trace_id(char out[33])
{
    uint8_t bytes[16];
    randombytes_buf(bytes, sizeof bytes);
    sp_hex(bytes, sizeof bytes, out);
}

/*  Pseudonyms of the data subject ids the signal carries, never the ids. */
static json_t *s_subject_pseudonyms(server_t *self, const signal_type_t *type,
                                    const sp_event_t *event, char *subject_out)
{
    char pseudonym[VAULT_PSEUDONYM_HEX + 1];
    json_t *list = json_array();
    subject_out[0] = '\0';
    if (type->subject_id_type && event->subject) {
        vault_pseudonym(self->vault, type->subject_id_type, event->subject, subject_out);
        json_array_append_new(list, json_pack("{s:s, s:s}", "id", subject_out,
                                              "type", type->subject_id_type));
    }
    for (size_t i = 0; i < type->field_count; i++) {
        const data_field_t *field = &type->fields[i];
        json_t *value = json_object_get(event->data, field->name);
        if (!field->subject_id || !json_is_string(value))
            continue;
        const char *id_type = type->subject_id_type ? type->subject_id_type : "BSN";
        vault_pseudonym(self->vault, id_type, json_string_value(value), pseudonym);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "id", pseudonym,
                                              "type", id_type, "field", field->name));
    }
    return list;
}

static int s_insert_signal(server_t *self, const sp_event_t *event, const emitter_t *emitter,
                           const uint8_t *bytes, size_t len, const uint8_t *sha256,
                           const char *key_id, const uint8_t *signature,
                           const char *trace_id, const char *subject, int64_t *signal_id)
{
    char ad[1100];
    snprintf(ad, sizeof ad, "%s\n%s", event->source, event->id);
    uint8_t *sealed = malloc(len + VAULT_OVERHEAD);
    if (!sealed || vault_seal(self->vault, bytes, len, ad, sealed) != 0) {
        free(sealed);
        return -1;
    }
    store_signal_t row = {
        .source = event->source, .ce_id = event->id, .type = event->type,
        .emitter = emitter->name, .received_at = sp_time_now_ms(),
        .event = sealed, .event_len = len + VAULT_OVERHEAD,
        .event_sha256 = sha256, .key_id = key_id, .signature = signature,
        .trace_id = trace_id, .subject_pseudonym = subject[0] ? subject : NULL,
    };
    int rc = store_signal_insert(self->store, &row, signal_id);
    free(sealed);
    return rc;
}

static int s_route_one(server_t *self, const subscriber_t *subscriber,
                       const subscription_t *sub, int64_t signal_id,
                       const char *trace_id)
{
    int64_t seq = server_next_seq(self, subscriber->name, sub->name);
    if (seq < 0 || store_delivery_insert(self->store, signal_id, subscriber->name,
                                         sub->name, seq, sp_time_now_ms()) != 0)
        return -1;
    self->written_delivery_id = sqlite3_last_insert_rowid(store_db(self->store));
    return audit_append(self->audit, AUDIT_ROUTED, trace_id, signal_id, subscriber->name,
                        json_pack("{s:s, s:I, s:s, s:s}", "subscription", sub->name,
                                  "seq", (json_int_t) seq, "grondslag", sub->grondslag,
                                  "processing_activity_id", sub->activity));
}

static int s_route(server_t *self, const sp_event_t *event, int64_t signal_id,
                   const char *trace_id, int *routed)
{
    const config_t *config = self->config;
    *routed = 0;
    for (size_t i = 0; i < config->subscriber_count; i++) {
        const subscriber_t *subscriber = &config->subscribers[i];
        for (size_t j = 0; j < subscriber->sub_count; j++) {
            const subscription_t *sub = &subscriber->subs[j];
            if (!filter_match(sub, event))
                continue;
            if (s_route_one(self, subscriber, sub, signal_id, trace_id) != 0)
                return -1;
            (*routed)++;
        }
    }
    return 0;
}

sp_code_t route_store(server_t *self, const sp_event_t *event,
                      const emitter_t *emitter, const uint8_t *event_bytes,
                      size_t event_len, const uint8_t sha256[SP_SHA256_SIZE],
                      const char *key_id, const uint8_t *signature,
                      reply_t *reply)
{
    char trace_id[33], subject[VAULT_PSEUDONYM_HEX + 1], sha_hex[65];
    int64_t signal_id = 0;
    int routed = 0;
    const signal_type_t *type = config_signal_type(self->config, event->type);
    s_trace_id(trace_id);
    sp_hex(sha256, SP_SHA256_SIZE, sha_hex);
    json_t *subjects = s_subject_pseudonyms(self, type, event, subject);
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o}",
                               "emitter", emitter->name, "type", event->type,
                               "source", event->source, "id", event->id,
                               "key_id", key_id, "sha256", sha_hex,
                               "bytes", (json_int_t) event_len,
                               "data_subjects", subjects);
    if (s_insert_signal(self, event, emitter, event_bytes, event_len, sha256, key_id,
                        signature, trace_id, subject, &signal_id) != 0
        || audit_append(self->audit, AUDIT_SIGNAL_RECEIVED, trace_id, signal_id, NULL,
                        json_pack("{s:s, s:s, s:s, s:I}", "emitter", emitter->name,
                                  "key_id", key_id, "sha256", sha_hex,
                                  "bytes", (json_int_t) event_len)) != 0
        || s_route(self, event, signal_id, trace_id, &routed) != 0) {
        json_decref(detail);
        snprintf(reply->reason, sizeof reply->reason, "cannot store the signal");
        reply->code = SP_E_STORAGE;
        self->tx_failed = true;
        return SP_E_STORAGE;
    }
    json_object_set_new(detail, "routed", json_integer(routed));
    audit_append(self->audit, AUDIT_SIGNAL_ACCEPTED, trace_id, signal_id, NULL, detail);
    reply->accepted = true;
    reply->code = SP_OK;
    snprintf(reply->reason, sizeof reply->reason, "stored; routed to %d subscription%s",
             routed, routed == 1 ? "" : "s");
    self->stats.accepted++;
    return SP_OK;
}
