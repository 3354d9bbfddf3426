/*  receipt.c - RECEIPT and NACK from partners.

    A receipt is cumulative per subscription: "through_seq N" covers every
    seq up to N. It is verified against the subscriber's key, refused when
    it acknowledges something never sent, stored with its signature, and
    marks the deliveries done, each with an audit event.                  */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "sp_proto.h"
#include "sp_util.h"

typedef struct {
    server_t *server;
    sub_state_t *sub;
    const char *subscription;
    int64_t receipt_id;
    int count;
} ack_ctx_t;

static void s_refuse(server_t *self, sub_state_t *sub, sp_code_t code, const char *reason)
{
    sp_log(SP_LOG_WARNING, "receipt from %s refused: %s: %s", sub->name,
           sp_code_name(code), reason);
    if (store_begin(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    audit_append(self->audit, AUDIT_RECEIPT_REJECTED, NULL, 0, sub->name,
                 json_pack("{s:s, s:s}", "code", sp_code_name(code), "reason", reason));
}

static int s_audit_ack(int64_t delivery_id, int64_t signal_id, int64_t seq,
                       const char *trace_id, void *arg)
{
    ack_ctx_t *ctx = arg;
    char detail[256];
    ctx->count++;
    /* a configured name (s_apply): nothing to escape */
    snprintf(detail, sizeof detail, "{\"subscription\":\"%s\",\"seq\":%" PRId64
             ",\"receipt_id\":%" PRId64 ",\"delivery_id\":%" PRId64 "}",
             ctx->subscription, seq, ctx->receipt_id, delivery_id);
    return audit_append_text(ctx->server->audit, AUDIT_RECEIPT, trace_id, signal_id,
                             ctx->sub->name, detail);
}

static void s_drop_inflight(server_t *self, sub_state_t *sub, const char *subscription,
                            int64_t through)
{
    int kept = 0;
    int64_t now = sp_time_now_ms();
    for (int i = 0; i < sub->inflight_count; i++) {
        inflight_t *entry = &sub->inflight[i];
        if (strcmp(entry->subscription, subscription) == 0 && entry->seq <= through) {
            histogram_observe(&self->uncommitted.receipt_latency,
                              (double) (now - entry->created_at) / 1000.0);
            continue;
        }
        sub->inflight[kept++] = *entry;
    }
    sub->inflight_count = kept;
}

/*  Checks every ack names a configured subscription and a seq we sent.    */
static int s_check_acks(server_t *self, sub_state_t *sub, json_t *acks, char *why,
                        size_t len)
{
    size_t i;
    json_t *ack;
    if (!json_is_array(acks) || json_array_size(acks) == 0) {
        snprintf(why, len, "receipt has no acks");
        return -1;
    }
    json_array_foreach(acks, i, ack) {
        const char *name = json_string_value(json_object_get(ack, "subscription"));
        json_t *through = json_object_get(ack, "through_seq");
        if (!name || !json_is_integer(through) || json_integer_value(through) < 1) {
            snprintf(why, len, "ack %zu lacks subscription or through_seq", i);
            return -1;
        }
        int64_t want = json_integer_value(through);
        if (want > server_max_sent(self, sub->name, name)) {
            /* sent by an earlier run of this router? attempts are durable
               once fsynced (by the next ACCEPTED, or within 200 ms)     */
            int64_t sent = store_max_attempted_seq(self->store, sub->name, name);
            if (sent > 0)
                server_note_sent(self, sub->name, name, sent);
        }
        if (want > server_max_sent(self, sub->name, name)) {
            snprintf(why, len, "ack %zu covers a seq that was never delivered", i);
            return -1;
        }
    }
    return 0;
}

static int s_apply(server_t *self, sub_state_t *sub, json_t *acks, sp_frames_t *f,
                   int64_t *acked)
{
    size_t i;
    json_t *ack;
    ack_ctx_t ctx = { .server = self, .sub = sub };
    int64_t now = sp_time_now_ms();
    if (store_begin_relaxed(self->store) != 0
        || store_receipt_insert(self->store, sub->name, now,
                                sp_frame_data(f, SP_RECEIPT_BODY),
                                sp_frame_size(f, SP_RECEIPT_BODY),
                                sp_frame_data(f, SP_RECEIPT_SIGNATURE),
                                sp_key_id(sub->conf->key), &ctx.receipt_id) != 0)
        return -1;
    json_array_foreach(acks, i, ack) {
        const subscription_t *known = deliver_subscription(
            sub->conf, json_string_value(json_object_get(ack, "subscription")));
        int64_t through = json_integer_value(json_object_get(ack, "through_seq"));
        /* a subscription removed at a reload: s_check_acks found it was
           sent, and the reload dead-lettered what was pending of it      */
        if (!known)
            continue;
        /* the configured name, not the partner's string: the audit text
           is written without escaping                                   */
        const char *name = known->name;
        ctx.subscription = name;
        if (store_each_pending_upto(self->store, sub->name, name, through,
                                    s_audit_ack, &ctx) != 0
            || store_deliveries_ack(self->store, sub->name, name, through,
                                    ctx.receipt_id, now) < 0)
            return -1;
        s_drop_inflight(self, sub, name, through);
    }
    *acked = ctx.count;
    return 0;
}

static void s_receipt(server_t *self, sub_state_t *sub, sp_frames_t *f)
{
    char why[160];
    json_error_t jerr;
    int64_t acked = 0;
    if (f->count != SP_RECEIPT_FRAMES || f->dropped
        || sp_frame_size(f, SP_RECEIPT_SIGNATURE) != SP_SIGNATURE_SIZE)
        return s_refuse(self, sub, SP_E_FRAMES, "RECEIPT needs 4 frames with a "
                        "64-byte signature");
    if (sp_key_verify(sub->conf->key, SP_DOMAIN_RECEIPT, sp_frame_data(f, SP_RECEIPT_BODY),
                      sp_frame_size(f, SP_RECEIPT_BODY),
                      sp_frame_data(f, SP_RECEIPT_SIGNATURE)) != 0)
        return s_refuse(self, sub, SP_E_RECEIPT_SIGNATURE,
                        "receipt signature does not verify with the subscriber's key");
    json_t *body = json_loadb(sp_frame_data(f, SP_RECEIPT_BODY),
                              sp_frame_size(f, SP_RECEIPT_BODY),
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *name = json_string_value(json_object_get(body, "subscriber"));
    if (!body || !name || strcmp(name, sub->name) != 0)
        s_refuse(self, sub, SP_E_RECEIPT_UNKNOWN, "receipt body is not JSON naming "
                 "this subscriber");
    else if (s_check_acks(self, sub, json_object_get(body, "acks"), why, sizeof why) != 0)
        s_refuse(self, sub, SP_E_RECEIPT_UNKNOWN, why);
    else if (s_apply(self, sub, json_object_get(body, "acks"), f, &acked) != 0)
        self->tx_failed = true;
    else {
        sub->failures = 0;
        sub->next_send_at = 0;
        sub->uncommitted_delivered += acked;
        self->uncommitted.delivered += acked;
        sub->last_success_ms = sp_time_now_ms();
        self->dispatch_wanted = true;
    }
    json_decref(body);
}

static void s_nack(server_t *self, sub_state_t *sub, sp_frames_t *f)
{
    char code[40] = "?", error[120];
    if (sp_frame_string(f, SP_NACK_CODE, code, sizeof code) != 0
        || !sp_text_printable(code))
        snprintf(code, sizeof code, "?");
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
        if (frames.oversize || !sp_frame_is(&frames, 0, SP_PROTOCOL))
            s_refuse(self, sub, SP_E_PROTOCOL, "message from partner is not SEINPOST1");
        else if (sp_frame_is(&frames, 1, SP_CMD_RECEIPT))
            s_receipt(self, sub, &frames);
        else if (sp_frame_is(&frames, 1, SP_CMD_NACK))
            s_nack(self, sub, &frames);
        else
            s_refuse(self, sub, SP_E_COMMAND, "unknown command from partner");
        sp_frames_close(&frames);
    }
}
