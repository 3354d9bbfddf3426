/*  receipt.c - RECEIPT and NACK from partners (SEINPOST2).

    A receipt names the batch it answers by the SHA-256 of its header and
    lists the entries of that batch the partner handled. It is verified
    against the subscriber's key and refused whole when it names a batch
    this router did not send to that subscriber, or an entry that batch
    did not carry; otherwise it is stored with its signature and marks
    exactly those deliveries done, each with an audit event. Nothing is
    acknowledged by implication: a seq the partner was not sent, or
    refused, cannot become delivered by a receipt for another batch.
    A NACK is a failed attempt only for a batch still in flight.
    Whatever a partner sends that is refused or ignored is written one by
    one only up to a limit per interval, then counted (deliver.h).       */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "fetch.h"
#include "jsonw.h"
#include "sp_proto.h"
#include "sp_util.h"

static const flood_policy_t s_noise_policy = { DELIVER_NOISE_INTERVAL_MS,
                                               DELIVER_NOISE_PER_INTERVAL };

void receipt_noise_flush(server_t *self, sub_state_t *sub, int64_t now, bool force)
{
    flood_t *f = &sub->noise;
    if (f->suppressed == 0 || (!force && !flood_owed(f, &s_noise_policy, now)))
        return;
    /* kept when there is no transaction: the next turn tries again */
    if (store_begin(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    audit_append(self->audit, AUDIT_PARTNER_REFUSALS, NULL, 0, sub->name,
                 json_pack("{s:I, s:s, s:s, s:i, s:i, s:I}",
                           "count", (json_int_t) f->suppressed, "first_code", f->first_code,
                           "first_reason", f->first_note,
                           "interval_ms", DELIVER_NOISE_INTERVAL_MS,
                           "one_by_one", f->admitted, "total", (json_int_t) f->total));
    sp_log(SP_LOG_WARNING, "%lld more messages from %s refused or ignored within %d s, "
           "not logged one by one (the first: %s: %s); %lld since start",
           (long long) f->suppressed, sub->name, DELIVER_NOISE_INTERVAL_MS / 1000,
           f->first_code, f->first_note, (long long) f->total);
    flood_roll(f, &s_noise_policy, now);
}

int64_t receipt_noise_wait_ms(const sub_state_t *sub, int64_t now)
{
    return flood_wait_ms(&sub->noise, &s_noise_policy, now);
}

/*  Counts one refused or ignored message of the partner; true when it is
    to be logged (and audited) one by one, false when only counted.     */
static bool s_noise(server_t *self, sub_state_t *sub, const char *code, const char *why)
{
    int64_t now = sp_clock_ms();
    receipt_noise_flush(self, sub, now, false);
    return flood_admit(&sub->noise, &s_noise_policy, now, code, why);
}

/*  Logged, shown by status, audited. A signed receipt refused for a batch
    the router knows goes into the timeline of each signal it carried
    (audit show), once per batch; any other refusal is one event. Past
    the partner's limit of the interval it is only counted (s_noise).  */
static void s_refuse(server_t *self, sub_state_t *sub, sent_batch_t *batch, sp_code_t code,
                     const char *reason)
{
    snprintf(sub->last_refusal, sizeof sub->last_refusal, "receipt refused: %s: %s",
             sp_code_name(code), reason);
    snprintf(sub->last_error, sizeof sub->last_error, "%s", sub->last_refusal);
    if (!s_noise(self, sub, sp_code_name(code), reason))
        return;
    sp_log(SP_LOG_WARNING, "receipt from %s refused: %s: %s", sub->name,
           sp_code_name(code), reason);
    if (store_begin(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    if (!batch || batch->refusal_audited) {
        audit_append(self->audit, AUDIT_RECEIPT_REJECTED, NULL, 0, sub->name,
                     json_pack("{s:s, s:s}", "code", sp_code_name(code), "reason", reason));
        return;
    }
    batch->refusal_audited = true;
    for (int k = 0; k < batch->count; k++)
        audit_append(self->audit, AUDIT_RECEIPT_REJECTED, NULL, batch->signal_id[k],
                     sub->name, json_pack("{s:s, s:s, s:s, s:I}", "code",
                                          sp_code_name(code), "reason", reason,
                                          "subscription",
                                          sub->conf->subs[batch->subscription[k]].name,
                                          "seq", (json_int_t) batch->seq[k]));
}

/*  The batch the receipt names, or NULL with why.                        */
static sent_batch_t *s_batch_named(const sub_state_t *sub, json_t *body, char *why,
                                   size_t len)
{
    uint8_t sha[SP_SHA256_SIZE];
    const char *hex = json_string_value(json_object_get(body, "batch_sha256"));
    if (!hex || sp_unhex(hex, sha, sizeof sha) != 0) {
        snprintf(why, len, "batch_sha256 is not 64 hex digits");
        return NULL;
    }
    sent_batch_t *batch = deliver_sent_batch(sub, sha);
    if (!batch)
        snprintf(why, len, "names a batch this router did not send to %s "
                 "(or sent before its last restart, reload or rollback)", sub->name);
    return batch;
}

/*  The index in batch of the entry (subscription, seq) that handled[i]
    names, or -1 with why.                                                */
static int s_entry_of(const sub_state_t *sub, const sent_batch_t *batch, json_t *item,
                      size_t i, char *why, size_t len)
{
    const char *name = json_string_value(json_object_get(item, "subscription"));
    json_t *seq = json_object_get(item, "seq");
    if (!name || !json_is_integer(seq) || json_integer_value(seq) < 1) {
        snprintf(why, len, "handled[%zu] lacks subscription or seq", i);
        return -1;
    }
    for (int k = 0; k < batch->count; k++)
        if (batch->seq[k] == json_integer_value(seq)
            && strcmp(sub->conf->subs[batch->subscription[k]].name, name) == 0)
            return k;
    /* no partner string in the reason: it reaches the log and the trail */
    snprintf(why, len, "handled[%zu] acknowledges an entry the named batch did not carry", i);
    return -1;
}

/*  Every element of handled names an entry of batch; -1 with why.        */
static int s_check_handled(const sub_state_t *sub, const sent_batch_t *batch,
                           json_t *handled, char *why, size_t len)
{
    size_t i;
    json_t *item;
    if (!json_is_array(handled) || json_array_size(handled) == 0) {
        snprintf(why, len, "receipt lists nothing handled");
        return -1;
    }
    json_array_foreach(handled, i, item)
        if (s_entry_of(sub, batch, item, i, why, len) < 0)
            return -1;
    return 0;
}

static void s_drop_inflight(server_t *self, sub_state_t *sub, const char *subscription,
                            int64_t seq)
{
    int kept = 0;
    int64_t now = sp_time_now_ms();
    for (int i = 0; i < sub->inflight_count; i++) {
        inflight_t *entry = &sub->inflight[i];
        if (entry->seq == seq && strcmp(entry->subscription, subscription) == 0) {
            histogram_observe(&self->uncommitted.receipt_latency,
                              (double) (now - entry->created_at) / 1000.0);
            continue;
        }
        sub->inflight[kept++] = *entry;
    }
    sub->inflight_count = kept;
}

/*  One handled entry: the delivery marked done if it is still pending
    (a late or repeated receipt finds it done already, or dead-lettered),
    and its entry [delivery_id, signal_id, subscription, seq] added to the
    receipt's audit row w.                                             */
static int s_ack_one(server_t *self, sub_state_t *sub, const sent_batch_t *batch,
                     const char *name, int64_t seq, int64_t receipt_id, int64_t now,
                     jsonw_t *w, int64_t *acked)
{
    int64_t delivery_id = 0, signal_id = 0;
    char trace_id[33] = "";
    int rc = store_delivery_ack(self->store, sub->name, name, seq, receipt_id,
                                batch->batch_id, now, &delivery_id, &signal_id, trace_id);
    if (rc < 0)
        return -1;
    s_drop_inflight(self, sub, name, seq);
    if (rc == 0)
        return 0;
    jsonw_member_int(w, (*acked)++ ? ",[" : "[", delivery_id);
    jsonw_member_int(w, ",", signal_id);
    jsonw_member(w, ",", name);
    jsonw_member_int(w, ",", seq);
    jsonw_raw(w, "]");
    return 0;
}

/*  One batch.receipt audit row per receipt that marked anything done.
    The batch and the receipt's arrival are chained in it, so that
    verify can hold the rows to them (docs/protocol.md 13.1).          */
static int s_apply(server_t *self, sub_state_t *sub, const sent_batch_t *batch,
                   json_t *handled, sp_frames_t *f, int64_t *acked)
{
    size_t i;
    json_t *item;
    int64_t receipt_id = 0, now = sp_time_now_ms();
    char why[160];
    jsonw_t w;
    if (store_begin_relaxed(self->store) != 0
        || store_receipt_insert(self->store, sub->name, now,
                                sp_frame_data(f, SP_RECEIPT_BODY),
                                sp_frame_size(f, SP_RECEIPT_BODY),
                                sp_frame_data(f, SP_RECEIPT_SIGNATURE),
                                sp_key_id(sub->conf->key), batch->batch_id,
                                &receipt_id) != 0)
        return -1;
    jsonw_init(&w, JSON_ENSURE_ASCII);
    jsonw_member_int(&w, "{\"receipt_id\":", receipt_id);
    jsonw_member_int(&w, ",\"batch_id\":", batch->batch_id);
    jsonw_member_int(&w, ",\"received_at\":", now);
    jsonw_raw(&w, ",\"entries\":[");
    json_array_foreach(handled, i, item) {
        int k = s_entry_of(sub, batch, item, i, why, sizeof why);
        /* the configured name, not the partner's string */
        const char *name = sub->conf->subs[batch->subscription[k]].name;
        if (s_ack_one(self, sub, batch, name, batch->seq[k], receipt_id, now, &w,
                      acked) != 0) {
            free(jsonw_finish(&w));
            return -1;
        }
    }
    jsonw_raw(&w, "]}");
    char *detail = jsonw_finish(&w);
    int rc = !detail ? -1 : *acked == 0 ? 0
        : audit_append_text(self->audit, AUDIT_BATCH_RECEIPT, NULL, 0, sub->name, detail);
    free(detail);
    return rc;
}

static void s_receipt(server_t *self, sub_state_t *sub, sp_frames_t *f)
{
    char why[200];
    json_error_t jerr;
    int64_t acked = 0;
    sent_batch_t *batch = NULL;
    if (f->count != SP_RECEIPT_FRAMES || f->dropped
        || sp_frame_size(f, SP_RECEIPT_SIGNATURE) != SP_SIGNATURE_SIZE)
        return s_refuse(self, sub, NULL, SP_E_FRAMES, "RECEIPT needs 4 frames with a "
                        "64-byte signature");
    if (sp_key_verify(sub->conf->key, SP_DOMAIN_RECEIPT, sp_frame_data(f, SP_RECEIPT_BODY),
                      sp_frame_size(f, SP_RECEIPT_BODY),
                      sp_frame_data(f, SP_RECEIPT_SIGNATURE)) != 0)
        return s_refuse(self, sub, NULL, SP_E_RECEIPT_SIGNATURE,
                        "receipt signature does not verify with the subscriber's key");
    json_t *body = json_loadb(sp_frame_data(f, SP_RECEIPT_BODY),
                              sp_frame_size(f, SP_RECEIPT_BODY),
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *name = json_string_value(json_object_get(body, "subscriber"));
    json_t *handled = json_object_get(body, "handled");
    if (!body || !name || strcmp(name, sub->name) != 0
        || json_integer_value(json_object_get(body, "v")) != 2)
        s_refuse(self, sub, NULL, SP_E_RECEIPT_UNKNOWN, "receipt body is not a version 2 "
                 "JSON receipt naming this subscriber");
    else if ((batch = s_batch_named(sub, body, why, sizeof why)) == NULL)
        s_refuse(self, sub, NULL, SP_E_RECEIPT_UNKNOWN, why);
    else if (s_check_handled(sub, batch, handled, why, sizeof why) != 0)
        s_refuse(self, sub, batch, SP_E_RECEIPT_UNKNOWN, why);
    else if (batch->answered)
        /* a replayed receipt would add a row each time, and reset the
           backoff: one receipt per batch (protocol.md 7.1, 7)          */
        s_refuse(self, sub, NULL, SP_E_RECEIPT_UNKNOWN, "the named batch was answered by "
                 "an earlier receipt");
    else if (s_apply(self, sub, batch, handled, f, &acked) != 0)
        self->tx_failed = true;
    else {
        batch->answered = true;
        sub->failures = 0;
        sub->next_send_at = 0;
        sub->last_refusal[0] = '\0';
        sub->uncommitted_delivered += acked;
        self->uncommitted.delivered += acked;
        sub->last_success_ms = sp_time_now_ms();
        self->dispatch_wanted = true;
    }
    json_decref(body);
}

/*  A NACK for a batch in flight is a failed attempt: go back, back off.
    One for a batch the router already went back on (a second batch in
    flight behind a refused one, refused for its gap) changes nothing:
    counting it would double the backoff for one failure.               */
static void s_nack(server_t *self, sub_state_t *sub, sp_frames_t *f)
{
    char code[40] = "?", hex[2 * SP_SHA256_SIZE + 1] = "", error[120];
    uint8_t sha[SP_SHA256_SIZE];
    if (sp_frame_string(f, SP_NACK_CODE, code, sizeof code) != 0
        || !sp_text_printable(code))
        snprintf(code, sizeof code, "?");
    const sent_batch_t *batch = NULL;
    if (f->count == SP_NACK_FRAMES && sp_frame_string(f, SP_NACK_BATCH, hex, sizeof hex) == 0
        && sp_unhex(hex, sha, sizeof sha) == 0)
        batch = deliver_sent_batch(sub, sha);
    if (!batch || !deliver_batch_in_flight(sub, batch)) {
        snprintf(error, sizeof error, "%s for a batch not in flight; ignored", code);
        if (s_noise(self, sub, "NACK", error))
            sp_log(SP_LOG_INFO, "NACK %s from %s for a batch not in flight: ignored",
                   code, sub->name);
        return;
    }
    snprintf(error, sizeof error, "partner refused the batch: %s", code);
    deliver_attempt_failed(self, sub, sp_clock_ms(), error);
}

void deliver_handle_socket(server_t *self, sub_state_t *sub)
{
    sp_frames_t frames;
    for (int i = 0; i < 256; i++) {
        if (sp_frames_recv(&frames, sub->socket, SP_RECEIPT_FRAMES + 1,
                           DELIVER_REPLY_MAX_BYTES, ZMQ_DONTWAIT) != 0)
            return;
        if (frames.oversize || !sp_frame_is(&frames, 0, SP_PROTOCOL_DELIVERY))
            s_refuse(self, sub, NULL, SP_E_PROTOCOL, "message from partner is not SEINPOST2 "
                     "or above 65536 bytes");
        else if (sp_frame_is(&frames, 1, SP_CMD_RECEIPT))
            s_receipt(self, sub, &frames);
        else if (sp_frame_is(&frames, 1, SP_CMD_NACK))
            s_nack(self, sub, &frames);
        else if (sp_frame_is(&frames, 1, SP_CMD_FETCH))
            fetch_handle(self, sub, &frames);     /* fetch.c */
        else
            s_refuse(self, sub, NULL, SP_E_COMMAND, "unknown command from partner");
        sp_frames_close(&frames);
    }
}
