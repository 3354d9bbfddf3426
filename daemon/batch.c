/*  batch.c - one DELIVER message: a header listing each entry (seq, the
    seq before it still unacknowledged, ids, SHA-256 of the event, the
    emitter's signature, the legal basis) and the partner it is for,
    signed by the router, followed by the exact event bytes the emitter
    signed. Each batch is remembered by the SHA-256 of its header, which
    is how the partner's RECEIPT or NACK names it.                       */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "jsonw.h"
#include "sp_proto.h"
#include "sp_util.h"

/*  One entry of the header, members in name order (docs/protocol.md 6.2). */
static int s_entry(jsonw_t *w, const subscriber_t *conf, const store_pending_t *row,
                   int64_t prev)
{
    char sha[2 * SP_SHA256_SIZE + 1], sig[2 * SP_SIGNATURE_SIZE + 1];
    const subscription_t *subscription = deliver_subscription(conf, row->subscription);
    if (!subscription)
        return -1;
    sp_hex(row->event_sha256, SP_SHA256_SIZE, sha);
    sp_hex(row->signature, SP_SIGNATURE_SIZE, sig);
    jsonw_member(w, "{\"activity\":", subscription->activity);
    jsonw_member(w, ",\"emitter_key\":", row->key_id);
    jsonw_member(w, ",\"emitter_sig\":", sig);
    jsonw_member(w, ",\"grondslag\":", subscription->grondslag);
    jsonw_member(w, ",\"id\":", row->ce_id);
    jsonw_member_int(w, ",\"prev\":", prev);
    jsonw_member_int(w, ",\"seq\":", row->seq);
    jsonw_member(w, ",\"sha256\":", sha);
    jsonw_member(w, ",\"source\":", row->source);
    jsonw_member(w, ",\"subscription\":", row->subscription);
    jsonw_member(w, ",\"trace_id\":", row->trace_id);
    jsonw_member(w, ",\"type\":", row->type);
    jsonw_raw(w, "}");
    return 0;
}

/*  The same bytes as json_dumps(JSON_COMPACT | JSON_SORT_KEYS) of the
    header object, without building it (tests/unit/test_batch.c checks). */
char *deliver_batch_header(const deliver_header_t *h, const subscriber_t *conf,
                           const store_pending_t *rows, const int64_t *prev, int count)
{
    char anchor[2 * SP_SHA256_SIZE + 1];
    jsonw_t w;
    jsonw_init(&w, 0);
    sp_hex(h->anchor_sha256, SP_SHA256_SIZE, anchor);
    jsonw_member_int(&w, "{\"anchor\":{\"seq\":", h->anchor_seq);
    jsonw_member(&w, ",\"sha256\":", anchor);
    jsonw_member_int(&w, "},\"batch\":", h->batch_no);
    jsonw_raw(&w, ",\"entries\":[");
    for (int i = 0; i < count; i++) {
        if (i > 0)
            jsonw_raw(&w, ",");
        if (s_entry(&w, conf, &rows[i], prev[i]) != 0)
            jsonw_fail(&w);
    }
    jsonw_member(&w, "],\"partner_key\":", sp_key_id(conf->key));
    jsonw_member(&w, ",\"router\":", h->router);
    jsonw_member(&w, ",\"router_key\":", h->router_key);
    jsonw_member(&w, ",\"sent_at\":", h->sent_at);
    jsonw_member(&w, ",\"subscriber\":", conf->name);
    jsonw_raw(&w, ",\"v\":2}");
    return jsonw_finish(&w);
}

/*  The seq of the previous delivery of row i's subscription that is still
    unacknowledged: an earlier entry of this batch, or the last one in
    flight (every pending delivery below the cursor is in flight, so
    nothing older can be), else 0. With it the partner sees a gap.      */
static int64_t s_prev(const sub_state_t *sub, const store_pending_t *rows, int i)
{
    for (int j = i - 1; j >= 0; j--)
        if (strcmp(rows[j].subscription, rows[i].subscription) == 0)
            return rows[j].seq;
    for (int j = sub->inflight_count - 1; j >= 0; j--)
        if (strcmp(sub->inflight[j].subscription, rows[i].subscription) == 0)
            return sub->inflight[j].seq;
    return 0;
}

/*  The header, stamped at sent_ms: the batch row stores the same time. */
static char *s_header(server_t *self, const sub_state_t *sub, store_pending_t *rows,
                      int count, int64_t batch_no, int64_t sent_ms)
{
    char sent_at[40];
    uint8_t anchor[SP_SHA256_SIZE];
    int64_t prev[SERVER_BATCH_MAX];
    for (int i = 0; i < count; i++)
        prev[i] = s_prev(sub, rows, i);
    sp_time_format(sent_ms, sent_at, sizeof sent_at);
    deliver_header_t h = { .router = self->config->node_name,
                           .router_key = sp_key_id(self->config->signing_key),
                           .sent_at = sent_at, .batch_no = batch_no,
                           .anchor_seq = audit_anchor(self->audit, anchor),
                           .anchor_sha256 = anchor };
    return deliver_batch_header(&h, sub->conf, rows, prev, count);
}

/*  Remembers what the batch carried, for the receipt that names it.     */
static void s_remember(sub_state_t *sub, const store_pending_t *rows, int count,
                       const uint8_t digest[SP_SHA256_SIZE], int64_t batch_id)
{
    sent_batch_t *slot = &sub->sent[sub->sent_next];
    sub->sent_next = (sub->sent_next + 1) % sub->sent_size;
    memcpy(slot->sha256, digest, SP_SHA256_SIZE);
    slot->batch_id = batch_id;
    slot->count = count;
    slot->refusal_audited = false;
    slot->answered = false;
    for (int i = 0; i < count; i++) {
        const subscription_t *known = deliver_subscription(sub->conf, rows[i].subscription);
        slot->subscription[i] = (int16_t) (known - sub->conf->subs);
        slot->seq[i] = rows[i].seq;
        slot->signal_id[i] = rows[i].signal_id;
    }
}

int deliver_open_event(server_t *self, const sub_state_t *sub, const store_pending_t *row,
                       void **plain, size_t *len)
{
    *plain = malloc(row->event_len ? row->event_len : 1);
    long n = *plain ? vault_open(self->vault, row->event, row->event_len, row->source,
                                 row->ce_id, *plain) : VAULT_NOMEM;
    if (n >= 0) {
        *len = (size_t) n;
        return 0;
    }
    free(*plain);
    *plain = NULL;
    if (n == VAULT_NOMEM) {
        sp_log(SP_LOG_ERROR, "out of memory opening signal %lld for %s",
               (long long) row->signal_id, sub->name);
        return -2;
    }
    /* the AEAD binds the payload to its row's source and id: the row was
       altered, or the node secret is not the one that sealed it          */
    sp_log(SP_LOG_ERROR, "signal %lld (delivery %lld to %s) does not open with this "
           "node's secret: its stored payload, source or id was altered, or the node "
           "secret changed", (long long) row->signal_id, (long long) row->id, sub->name);
    return -1;
}

/*  One batch.sent audit row for the whole batch: its entries are
    [signal_id, subscription, seq, attempt] (docs/protocol.md 13.1).   */
static int s_audit_sent(server_t *self, sub_state_t *sub, const store_pending_t *rows,
                        int count, int64_t batch_id)
{
    jsonw_t w;
    jsonw_init(&w, JSON_ENSURE_ASCII);
    jsonw_member_int(&w, "{\"batch_id\":", batch_id);
    jsonw_raw(&w, ",\"outcome\":\"sent\",\"entries\":[");
    for (int i = 0; i < count; i++) {
        jsonw_member_int(&w, i ? ",[" : "[", rows[i].signal_id);
        jsonw_member(&w, ",", rows[i].subscription);
        jsonw_member_int(&w, ",", rows[i].seq);
        jsonw_member_int(&w, ",", rows[i].attempts + 1);
        jsonw_raw(&w, "]");
    }
    jsonw_raw(&w, "]}");
    char *detail = jsonw_finish(&w);
    int rc = detail ? audit_append_text(self->audit, AUDIT_BATCH_SENT, NULL, 0, sub->name,
                                        detail) : -1;
    free(detail);
    return rc;
}

static int s_record(server_t *self, sub_state_t *sub, store_pending_t *rows, int count,
                    const char *header, const uint8_t *digest, const uint8_t *sig,
                    int64_t sent_ms, int64_t now)
{
    int64_t batch_id = 0;
    const char *key_id = sp_key_id(self->config->signing_key);
    if (store_begin_relaxed(self->store) != 0
        || store_batch_insert(self->store, sub->name, sent_ms, header,
                              strlen(header), sig, key_id, &batch_id) != 0)
        return -1;
    if (store_deliveries_sent(self->store, sub->name, rows[0].id, rows[count - 1].id,
                              count, batch_id, sp_time_now_ms()) != 0)
        return -1;
    if (s_audit_sent(self, sub, rows, count, batch_id) != 0)
        return -1;
    for (int i = 0; i < count; i++) {
        store_pending_t *row = &rows[i];
        inflight_t *slot = &sub->inflight[sub->inflight_count++];
        slot->delivery_id = row->id;
        slot->signal_id = row->signal_id;
        slot->seq = row->seq;
        slot->batch_id = batch_id;
        slot->sent_at = now;
        slot->created_at = row->created_at;
        snprintf(slot->subscription, sizeof slot->subscription, "%s", row->subscription);
        snprintf(slot->trace_id, sizeof slot->trace_id, "%s", row->trace_id);
        sub->cursor = row->id;
    }
    s_remember(sub, rows, count, digest, batch_id);
    return 0;
}

int deliver_send_batch(server_t *self, sub_state_t *sub, store_pending_t *rows,
                       void *const *plain, const size_t *plain_len, int count,
                       int64_t now)
{
    static int64_t batch_no;
    const void *parts[4 + SERVER_BATCH_MAX];
    size_t sizes[4 + SERVER_BATCH_MAX];
    uint8_t sig[SP_SIGNATURE_SIZE], digest[SP_SHA256_SIZE];
    if (batch_no == 0)
        batch_no = sp_time_now_ms();
    int64_t sent_ms = sp_time_now_ms();
    char *header = s_header(self, sub, rows, count, ++batch_no, sent_ms);
    if (header)
        sp_sha256(header, strlen(header), digest);
    if (!header || sp_batch_sign_digest(self->config->signing_key, digest, sig) != 0) {
        deliver_attempt_failed(self, sub, now, "cannot build or sign the batch");
        free(header);
        return -1;
    }
    parts[0] = SP_PROTOCOL_DELIVERY;  sizes[0] = strlen(SP_PROTOCOL_DELIVERY);
    parts[1] = SP_CMD_DELIVER;  sizes[1] = strlen(SP_CMD_DELIVER);
    parts[2] = header;  sizes[2] = strlen(header);
    parts[3] = sig;  sizes[3] = sizeof sig;
    for (int i = 0; i < count; i++) {
        parts[4 + i] = plain[i];
        sizes[4 + i] = plain_len[i];
    }
    int rc = sp_send_parts(sub->socket, parts, sizes, 4 + (size_t) count, ZMQ_DONTWAIT);
    if (rc != 0) {
        /* a try all the same (protocol.md 2.1): counted on the rows, so
           that a dead letter shows how often it was tried              */
        if (store_begin_relaxed(self->store) != 0
            || store_deliveries_tried(self->store, sub->name, rows[0].id,
                                      rows[count - 1].id, "partner not connected",
                                      sp_time_now_ms()) != 0)
            self->tx_failed = true;
        deliver_attempt_failed(self, sub, now, "partner not connected");
        if (sub->failures >= 2)
            deliver_socket_reopen(self, sub);
    } else if (s_record(self, sub, rows, count, header, digest, sig, sent_ms, now) != 0)
        self->tx_failed = true;
    free(header);
    return rc;
}
