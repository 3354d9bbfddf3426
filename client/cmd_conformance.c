/*  cmd_conformance.c - `seinpost conformance`: the partner conformance
    kit. It connects to a partner endpoint as the router of a SEINPOST2
    delivery link (a DEALER; a CURVE client when given the partner's CURVE
    key), sends batches built and signed as the router builds them, some
    correct and some faulty (cmd_conformance_cases.c), and checks every
    RECEIPT and NACK that comes back: the partner's signature, the body,
    and that a receipt lists only entries of the batch it names.

    Ids and seqs are fresh per run (a random UUID per event, seqs from
    Unix milliseconds times 1000), so the partner's durable state of
    earlier runs never makes a case pass or fail.                        */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cmd.h"
#include "cmd_conformance.h"
#include "sp_event.h"
#include "sp_proto.h"
#include "sp_util.h"

#define KIT_GRACE_MS 150        /* after a batch settled: anything more? */
#define KIT_REPLY_MAX 65536     /* the router's limit on RECEIPT and NACK */
#define KIT_MONITOR "inproc://seinpost-conformance-monitor"
#define KIT_GRONDSLAG "Conformance test of the delivery link: no legal basis, test data only"
#define KIT_ACTIVITY "urn:seinpost:conformance"
#define KIT_TYPE "nl.gemeente.burgerzaken.geen-dubbele-bewoning"
#define KIT_BSN "999990019"     /* a test BSN */

void kit_fail(kit_t *kit, const char *fmt, ...)
{
    va_list ap;
    if (kit->why[0])
        return;
    va_start(ap, fmt);
    vsnprintf(kit->why, sizeof kit->why, fmt, ap);
    va_end(ap);
}

int64_t kit_seqs(kit_t *kit, int n)
{
    int64_t first = kit->next_seq;
    kit->next_seq += n;
    return first;
}

/*  ---------------------------------------------------------------------
    Events and batches                                                  */

static char *s_event_text(kit_t *kit, const char *id)
{
    char when[40], day[11];
    sp_time_format(sp_time_now_ms(), when, sizeof when);
    snprintf(day, sizeof day, "%.10s", when);
    json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}",
                              "specversion", "1.0", "id", id, "source", kit->source,
                              "type", kit->type, "time", when,
                              "datacontenttype", "application/json", "data",
                              "gemeentecode", "0855",
                              "nummeraanduidingIdentificatie", "0855200000123456",
                              "bewonerBsn", KIT_BSN, "vastgesteldOp", day);
    char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    return text;
}

const kit_signal_t *kit_signal(kit_t *kit, const sp_key_t *key, bool bad_sig)
{
    uint8_t trace[16];
    if (kit->signal_count == KIT_MAX_SIGNALS) {
        kit_fail(kit, "kit: more than %d events in one run", KIT_MAX_SIGNALS);
        return NULL;
    }
    kit_signal_t *signal = &kit->signals[kit->signal_count];
    signal->key = key ? key : kit->emitter_key;
    sp_uuid4(signal->id);
    randombytes_buf(trace, sizeof trace);
    sp_hex(trace, sizeof trace, signal->trace_id);
    signal->bytes = s_event_text(kit, signal->id);
    if (!signal->bytes) {
        kit_fail(kit, "kit: out of memory");
        return NULL;
    }
    signal->len = strlen(signal->bytes);
    kit->signal_count++;
    if (sp_key_sign(signal->key, SP_DOMAIN_SIGNAL, signal->bytes, signal->len,
                    signal->sig) != 0) {
        kit_fail(kit, "kit: cannot sign an event");
        return NULL;
    }
    if (bad_sig)
        signal->sig[7] ^= 0x20;
    return signal;
}

/*  One header entry, members as the router writes them (protocol.md
    6.2, v2spec): prev only in version 2.                               */
static json_t *s_entry_json(kit_t *kit, const kit_entry_t *entry, int version)
{
    uint8_t digest[SP_SHA256_SIZE];
    char sha[2 * SP_SHA256_SIZE + 1], sig[2 * SP_SIGNATURE_SIZE + 1];
    const kit_signal_t *signal = entry->signal;
    sp_sha256(signal->bytes, signal->len, digest);
    sp_hex(digest, sizeof digest, sha);
    sp_hex(signal->sig, sizeof signal->sig, sig);
    json_t *json = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}",
                             "activity", KIT_ACTIVITY, "emitter_key", sp_key_id(signal->key),
                             "emitter_sig", sig, "grondslag", KIT_GRONDSLAG,
                             "id", signal->id, "seq", (json_int_t) entry->seq,
                             "sha256", sha, "source", kit->source,
                             "subscription", kit->subscription,
                             "trace_id", signal->trace_id, "type", kit->type);
    if (json && version == 2
        && json_object_set_new(json, "prev", json_integer((json_int_t) entry->prev)) != 0) {
        json_decref(json);
        return NULL;
    }
    return json;
}

static char *s_header_text(kit_t *kit, const kit_batch_t *batch)
{
    int version = batch->fault == KIT_SEINPOST1 ? 1 : 2;
    char when[40];
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < batch->count; i++) {
        if (json_array_append_new(entries, s_entry_json(kit, &batch->entries[i], version)) != 0) {
            json_decref(entries);
            return NULL;
        }
    }
    if (!entries)
        return NULL;
    sp_time_format(sp_time_now_ms(), when, sizeof when);
    json_t *header = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:o}", "v", version,
                               "router", kit->router_name,
                               "router_key", sp_key_id(kit->router_key),
                               "subscriber", batch->subscriber,
                               "batch", (json_int_t) kit->next_batch++, "sent_at", when,
                               "entries", entries);
    const sp_key_t *to = batch->fault == KIT_OTHER_PARTNER ? kit->stranger_key
                                                           : kit->partner_key;
    if (header && version == 2)
        json_object_set_new(header, "partner_key", json_string(sp_key_id(to)));
    char *text = header ? json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(header);
    return text;
}

/*  SEINPOST2 signs "seinpost/2 batch" 0x00 SHA-256(header); SEINPOST1
    signed "seinpost/1 batch" 0x00 header.                              */
static int s_batch_sign(kit_t *kit, kit_batch_t *batch)
{
    uint8_t digest[SP_SHA256_SIZE];
    sp_sha256(batch->header, batch->header_len, digest);
    sp_hex(digest, sizeof digest, batch->sha);
    int rc = batch->fault == KIT_SEINPOST1
             ? sp_key_sign(kit->router_key, SP_DOMAIN_BATCH_V1, batch->header,
                           batch->header_len, batch->sig)
             : sp_key_sign(kit->router_key, SP_DOMAIN_BATCH, digest, sizeof digest,
                           batch->sig);
    if (batch->fault == KIT_BAD_ROUTER_SIG)
        batch->sig[11] ^= 0x01;
    return rc;
}

kit_batch_t *kit_batch(kit_t *kit, const kit_entry_t *entries, size_t n, kit_fault_t fault)
{
    for (size_t i = 0; i < n; i++)
        if (!entries[i].signal)
            return NULL;        /* kit_signal said why */
    if (kit->batch_count == KIT_MAX_BATCHES || n < 1 || n > KIT_MAX_ENTRIES) {
        kit_fail(kit, "kit: batch table full or batch of %zu entries", n);
        return NULL;
    }
    kit_batch_t *batch = &kit->batches[kit->batch_count];
    memset(batch, 0, sizeof *batch);
    batch->case_name = kit->case_name;
    batch->fault = fault;
    batch->count = n;
    memcpy(batch->entries, entries, n * sizeof *entries);
    snprintf(batch->subscriber, sizeof batch->subscriber, "%.100s%s", kit->subscriber,
             fault == KIT_OTHER_SUBSCRIBER ? "-not-this-partner" : "");
    batch->header = s_header_text(kit, batch);
    if (!batch->header) {
        kit_fail(kit, "kit: out of memory");
        return NULL;
    }
    batch->header_len = strlen(batch->header);
    kit->batch_count++;
    if (s_batch_sign(kit, batch) != 0) {
        kit_fail(kit, "kit: cannot sign with the router key");
        return NULL;
    }
    return batch;
}

/*  [protocol][DELIVER][header][signature][event...]                     */
void kit_send(kit_t *kit, kit_batch_t *batch)
{
    char *spoilt = NULL;
    if (!batch)
        return;
    const char *protocol = batch->fault == KIT_SEINPOST1 ? SP_PROTOCOL : SP_PROTOCOL_DELIVERY;
    const void *parts[4 + KIT_MAX_ENTRIES] = { protocol, SP_CMD_DELIVER, batch->header,
                                               batch->sig };
    size_t sizes[4 + KIT_MAX_ENTRIES] = { strlen(protocol), strlen(SP_CMD_DELIVER),
                                          batch->header_len, sizeof batch->sig };
    for (size_t i = 0; i < batch->count; i++) {
        parts[4 + i] = batch->entries[i].signal->bytes;
        sizes[4 + i] = batch->entries[i].signal->len;
    }
    if (batch->fault == KIT_BAD_EVENT) {
        /* the same JSON, one space more: only the bytes differ */
        spoilt = malloc(sizes[4] + 2);
        if (!spoilt) {
            kit_fail(kit, "kit: out of memory");
            return;
        }
        snprintf(spoilt, sizes[4] + 2, "%s ", batch->entries[0].signal->bytes);
        parts[4] = spoilt;
        sizes[4]++;
    }
    if (sp_send_parts(kit->socket, parts, sizes, 4 + batch->count, 0) != 0)
        kit_fail(kit, "cannot send a DELIVER: %s", zmq_strerror(errno));
    free(spoilt);
}

/*  ---------------------------------------------------------------------
    Replies                                                             */

static kit_batch_t *s_find(kit_t *kit, const char *sha)
{
    for (size_t i = 0; sha && i < kit->batch_count; i++)
        if (strcmp(kit->batches[i].sha, sha) == 0)
            return &kit->batches[i];
    return NULL;
}

static bool s_carried(const kit_t *kit, const kit_batch_t *batch, const char *subscription,
                      json_int_t seq)
{
    if (strcmp(subscription, kit->subscription) != 0)
        return false;
    for (size_t i = 0; i < batch->count; i++)
        if (batch->entries[i].seq == seq)
            return true;
    return false;
}

/*  "handled": each element an entry of the batch the receipt names
    (case 10); the first receipt's seqs are kept for the case's check. */
static void s_handled(kit_t *kit, kit_batch_t *batch, json_t *handled)
{
    size_t i;
    json_t *item;
    if (!json_is_array(handled) || json_array_size(handled) == 0) {
        kit_fail(kit, "RECEIPT: 'handled' is not a non-empty array");
        return;
    }
    kit->receipts_checked++;
    json_array_foreach(handled, i, item) {
        const char *subscription = json_string_value(json_object_get(item, "subscription"));
        json_t *seq = json_object_get(item, "seq");
        if (!subscription || !json_is_integer(seq)) {
            kit_fail(kit, "RECEIPT: handled[%zu] lacks a string subscription or an "
                     "integer seq", i);
            continue;
        }
        if (!s_carried(kit, batch, subscription, json_integer_value(seq))) {
            if (!kit->outside[0])
                snprintf(kit->outside, sizeof kit->outside, "a RECEIPT in case %s lists "
                         "%.64s/%lld, which the batch it names did not carry", kit->case_name,
                         subscription, (long long) json_integer_value(seq));
            kit_fail(kit, "RECEIPT lists %.64s/%lld, which that batch did not carry",
                     subscription, (long long) json_integer_value(seq));
        }
        if (batch->receipts == 1 && batch->handled_count < KIT_MAX_ENTRIES)
            batch->handled[batch->handled_count] = json_integer_value(seq);
        if (batch->receipts == 1)
            batch->handled_count++;
    }
}

/*  The batch a receipt names, counted; NULL (and why) when it names none. */
static kit_batch_t *s_receipt_batch(kit_t *kit, json_t *body)
{
    const char *sha = json_string_value(json_object_get(body, "batch_sha256"));
    kit_batch_t *batch = s_find(kit, sha);
    if (!batch) {
        if (!kit->outside[0])
            snprintf(kit->outside, sizeof kit->outside, "a RECEIPT in case %s names no "
                     "batch this kit sent", kit->case_name);
        if (!body)
            kit_fail(kit, "a RECEIPT whose body is not JSON (or repeats a member name)");
        else
            kit_fail(kit, "a RECEIPT whose batch_sha256 %.64s names no batch this kit sent",
                     sha ? sha : "(missing)");
        return NULL;
    }
    batch->receipts++;
    batch->receipt_after_nack = batch->receipt_after_nack || batch->nacks > 0;
    if (batch->fault == KIT_SEINPOST1)
        kit_fail(kit, "a RECEIPT for a SEINPOST1 DELIVER");
    if (batch->case_name != kit->case_name)
        kit_fail(kit, "a late RECEIPT for a batch of case %s", batch->case_name);
    return batch;
}

/*  What the router checks before it accepts a receipt (v2spec,
    "Router acceptance of a RECEIPT"), in its order.                     */
static void s_on_receipt(kit_t *kit, sp_frames_t *f)
{
    json_t *body = f->count >= 3 ? json_loadb(sp_frame_data(f, SP_RECEIPT_BODY),
                                              sp_frame_size(f, SP_RECEIPT_BODY),
                                              JSON_REJECT_DUPLICATES, NULL) : NULL;
    kit_batch_t *batch = s_receipt_batch(kit, body);
    if (!batch)
        goto cleanup;
    if (sp_frame_is(f, SP_RECEIPT_PROTOCOL, SP_PROTOCOL))
        kit_fail(kit, "a %s RECEIPT: the partner speaks the old protocol", SP_PROTOCOL);
    else if (!sp_frame_is(f, SP_RECEIPT_PROTOCOL, SP_PROTOCOL_DELIVERY))
        kit_fail(kit, "RECEIPT: frame 0 is not %s", SP_PROTOCOL_DELIVERY);
    else if (f->count != SP_RECEIPT_FRAMES
             || sp_frame_size(f, SP_RECEIPT_SIGNATURE) != SP_SIGNATURE_SIZE)
        kit_fail(kit, "RECEIPT: not 4 frames with a 64-byte signature");
    else if (sp_key_verify(kit->partner_key, SP_DOMAIN_RECEIPT,
                           sp_frame_data(f, SP_RECEIPT_BODY), sp_frame_size(f, SP_RECEIPT_BODY),
                           sp_frame_data(f, SP_RECEIPT_SIGNATURE)) != 0)
        kit_fail(kit, "RECEIPT: signature does not verify with --partner-key over "
                 "\"%s\" 0x00 body", SP_DOMAIN_RECEIPT);
    json_t *v = json_object_get(body, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        kit_fail(kit, "RECEIPT: \"v\" is not 2");
    const char *subscriber = json_string_value(json_object_get(body, "subscriber"));
    if (!subscriber || strcmp(subscriber, batch->subscriber) != 0)
        kit_fail(kit, "RECEIPT: \"subscriber\" is not the batch's, %s", batch->subscriber);
    s_handled(kit, batch, json_object_get(body, "handled"));
cleanup:
    json_decref(body);
}

/*  The partner's text, cut to fit and safe to print.                   */
static void s_frame_text(sp_frames_t *f, size_t index, char *buf, size_t len)
{
    size_t size = sp_frame_size(f, index);
    const char *data = sp_frame_data(f, index);
    if (size >= len)
        size = len - 1;
    for (size_t i = 0; i < size; i++)
        buf[i] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?';
    buf[size] = '\0';
}

static void s_on_nack(kit_t *kit, sp_frames_t *f)
{
    char sha[2 * SP_SHA256_SIZE + 1], code[48], reason[128];
    s_frame_text(f, SP_NACK_BATCH, sha, sizeof sha);
    s_frame_text(f, SP_NACK_CODE, code, sizeof code);
    s_frame_text(f, SP_NACK_REASON, reason, sizeof reason);
    kit_batch_t *batch = s_find(kit, sha);
    if (!batch)
        batch = kit->lenient;
    if (!batch) {
        kit_fail(kit, "a NACK %.40s whose frame 2 names no batch this kit sent", code);
        return;
    }
    if (batch->nacks++ == 0) {
        snprintf(batch->nack_code, sizeof batch->nack_code, "%s", code);
        snprintf(batch->nack_reason, sizeof batch->nack_reason, "%s", reason);
    }
    if (batch->case_name != kit->case_name)
        kit_fail(kit, "a late NACK %s for a batch of case %s", code, batch->case_name);
    if (batch->fault == KIT_SEINPOST1)
        return;                 /* any refusal of an old DELIVER will do */
    if (sp_frame_is(f, SP_NACK_PROTOCOL, SP_PROTOCOL))
        kit_fail(kit, "a %s NACK %s (\"%s\"): the partner speaks the old protocol",
                 SP_PROTOCOL, code, reason);
    else if (!sp_frame_is(f, SP_NACK_PROTOCOL, SP_PROTOCOL_DELIVERY))
        kit_fail(kit, "NACK: frame 0 is not %s", SP_PROTOCOL_DELIVERY);
    else if (f->count != SP_NACK_FRAMES)
        kit_fail(kit, "NACK of %zu frames, not 5", f->count);
}

/*  One message within timeout_ms: 1, 0 when none came, -1 on error.   */
static int s_recv(kit_t *kit, int64_t timeout_ms)
{
    zmq_pollitem_t item = { kit->socket, 0, ZMQ_POLLIN, 0 };
    sp_frames_t f;
    int rc = zmq_poll(&item, 1, (long) timeout_ms);
    if (rc <= 0)
        return rc < 0 && errno != EINTR ? -1 : 0;
    if (sp_frames_recv(&f, kit->socket, 8, KIT_REPLY_MAX, ZMQ_DONTWAIT) != 0)
        return 0;
    if (f.oversize || f.dropped)
        kit_fail(kit, "a reply of more than %d bytes or 8 frames", KIT_REPLY_MAX);
    else if (sp_frame_is(&f, 1, SP_CMD_RECEIPT))
        s_on_receipt(kit, &f);
    else if (sp_frame_is(&f, 1, SP_CMD_NACK))
        s_on_nack(kit, &f);
    else
        kit_fail(kit, "a reply that is neither RECEIPT nor NACK");
    sp_frames_close(&f);
    return 1;
}

static bool s_settled(const kit_batch_t *batch, bool nack)
{
    return batch->nacks > 0 || (!nack && batch->receipts > 0);
}

void kit_await(kit_t *kit, kit_batch_t *batch, bool nack)
{
    int64_t deadline = sp_clock_ms() + kit->timeout_ms;
    while (batch && !s_settled(batch, nack) && sp_clock_ms() < deadline) {
        int rc = s_recv(kit, deadline - sp_clock_ms());
        if (rc < 0) {
            kit_fail(kit, "receiving: %s", zmq_strerror(errno));
            return;
        }
        if (rc > 0)
            deadline = sp_clock_ms() + kit->timeout_ms;
    }
    deadline = sp_clock_ms() + KIT_GRACE_MS;
    while (sp_clock_ms() < deadline && s_recv(kit, deadline - sp_clock_ms()) > 0)
        ;
}

kit_batch_t *kit_deliver(kit_t *kit, const kit_entry_t *entries, size_t n,
                         kit_fault_t fault, bool nack)
{
    kit_batch_t *batch = kit_batch(kit, entries, n, fault);
    kit_send(kit, batch);
    kit_await(kit, batch, nack);
    return batch;
}

/*  ---------------------------------------------------------------------
    Checks                                                              */

static void s_seqs_text(const int64_t *seqs, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++)
        at += (size_t) snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long) seqs[i]);
}

void kit_want_receipt(kit_t *kit, const kit_batch_t *batch, const int64_t *seqs, size_t n)
{
    char got[200], want[200];
    if (!batch)
        return;
    if (batch->receipts == 0 && batch->nacks > 0)
        kit_fail(kit, "NACK %s (\"%s\") instead of a RECEIPT", batch->nack_code,
                 batch->nack_reason);
    else if (batch->receipts == 0)
        kit_fail(kit, "no RECEIPT within %d ms", kit->timeout_ms);
    else if (batch->receipts > 1)
        kit_fail(kit, "%d RECEIPTs for one batch", batch->receipts);
    else if (batch->receipt_after_nack)
        kit_fail(kit, "the RECEIPT came after the NACK");
    if (!batch->receipts)
        return;
    bool same = batch->handled_count == n;
    for (size_t i = 0; same && i < n; i++)
        same = batch->handled[i] == seqs[i];
    s_seqs_text(batch->handled, batch->handled_count < KIT_MAX_ENTRIES
                ? batch->handled_count : KIT_MAX_ENTRIES, got, sizeof got);
    s_seqs_text(seqs, n, want, sizeof want);
    if (!same)
        kit_fail(kit, "RECEIPT handled seqs [%s], expected [%s] in this order", got, want);
}

void kit_want_no_receipt(kit_t *kit, const kit_batch_t *batch)
{
    if (batch && batch->receipts > 0)
        kit_fail(kit, "a RECEIPT (listing %zu entries) for a batch that must be refused",
                 batch->handled_count);
}

void kit_want_nack(kit_t *kit, const kit_batch_t *batch, const char *code)
{
    if (!batch)
        return;
    if (!code && batch->nacks > 0)
        kit_fail(kit, "unexpected NACK %s (\"%s\")", batch->nack_code, batch->nack_reason);
    else if (code && batch->nacks == 0)
        kit_fail(kit, "no NACK %s within %d ms%s", code, kit->timeout_ms,
                 batch->receipts ? " (a RECEIPT came)" : "");
    else if (code && strcmp(batch->nack_code, code) != 0)
        kit_fail(kit, "NACK %s (\"%s\"), expected %s", batch->nack_code,
                 batch->nack_reason, code);
}

static int s_log_count(const char *path, const char *id)
{
    FILE *file = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int count = 0;
    if (!file)
        return -1;
    while (getline(&line, &cap, file) > 0)
        if (strstr(line, id))
            count++;
    free(line);
    fclose(file);
    return count;
}

void kit_want_seen(kit_t *kit, const kit_signal_t *signal, int times)
{
    if (!kit->handler_log || !signal)
        return;
    int count = s_log_count(kit->handler_log, signal->id);
    if (count < 0)
        kit_fail(kit, "cannot read --handler-log %s: %s", kit->handler_log, strerror(errno));
    else if (count != times)
        kit_fail(kit, "the handler saw event %s %d time(s), expected %d", signal->id,
                 count, times);
}

/*  ---------------------------------------------------------------------
    Setting up                                                          */

static int s_load_keys(kit_t *kit, char *err, size_t errlen)
{
    char why[512] = "";
    kit->router_key = sp_key_load(kit->router_key_path, true, why, sizeof why);
    if (kit->router_key)
        kit->emitter_key = sp_key_load(kit->emitter_key_path, true, why, sizeof why);
    if (!kit->router_key || !kit->emitter_key) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    kit->partner_key = sp_key_from_text(kit->partner_key_text);
    if (!kit->partner_key) {
        snprintf(err, errlen, "--partner-key: not ed25519:<base64 of 32 bytes>");
        return -1;
    }
    kit->stranger_key = sp_key_generate();
    return kit->stranger_key ? 0 : -1;
}

/*  Waits for the ZMTP (and CURVE) handshake, so that an unreachable
    partner, or one that refuses this kit's CURVE key, is one clear error
    instead of ten cases without an answer. A refused handshake ends the
    wait at once; an endpoint nobody listens on gets the whole wait.    */
static int s_handshake(kit_t *kit, void *monitor, char *err, size_t errlen)
{
    int wait_ms = kit->timeout_ms > 5000 ? kit->timeout_ms : 5000;
    int64_t deadline = sp_clock_ms() + wait_ms;
    const char *why = NULL;
    while (sp_clock_ms() < deadline) {
        zmq_pollitem_t item = { monitor, 0, ZMQ_POLLIN, 0 };
        sp_frames_t f;
        uint16_t event = 0;
        if (zmq_poll(&item, 1, (long) (deadline - sp_clock_ms())) <= 0
            || sp_frames_recv(&f, monitor, 2, 4096, ZMQ_DONTWAIT) != 0)
            continue;
        if (sp_frame_size(&f, 0) >= sizeof event)
            memcpy(&event, sp_frame_data(&f, 0), sizeof event);
        sp_frames_close(&f);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return 0;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            why = "the partner refused this kit's CURVE key (is its public half the "
                  "partner's router_curve_public_key?)";
            break;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
            || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            why = "the handshake failed (CURVE on one side only, or a wrong --partner-curve?)";
            break;
        }
    }
    if (why)
        snprintf(err, errlen, "%s: no connection: %s", kit->endpoint, why);
    else
        snprintf(err, errlen, "%s: no connection within %d ms (is the partner listening "
                 "there?)", kit->endpoint, wait_ms);
    return -1;
}

static int s_connect(kit_t *kit, char *err, size_t errlen)
{
    int zero = 0, timeout = kit->timeout_ms, rc = -1;
    int64_t max = 4 * KIT_REPLY_MAX;
    char pub[41], sec[41];
    void *monitor = NULL;
    kit->zmq = zmq_ctx_new();
    kit->socket = kit->zmq ? zmq_socket(kit->zmq, ZMQ_DEALER) : NULL;
    if (!kit->socket)
        goto failed;
    zmq_setsockopt(kit->socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(kit->socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(kit->socket, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (kit->partner_curve) {
        if (sp_curve_load(kit->curve_key_path, pub, sec, err, errlen) != 0)
            goto cleanup;
        int set = sp_socket_curve_client(kit->socket, pub, sec, kit->partner_curve);
        sodium_memzero(sec, sizeof sec);
        if (set != 0)
            goto failed;
    }
    if (zmq_socket_monitor(kit->socket, KIT_MONITOR, ZMQ_EVENT_ALL) != 0
        || !(monitor = zmq_socket(kit->zmq, ZMQ_PAIR))
        || zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_connect(monitor, KIT_MONITOR) != 0 || zmq_connect(kit->socket, kit->endpoint) != 0)
        goto failed;
    rc = s_handshake(kit, monitor, err, errlen);
    goto cleanup;
failed:
    snprintf(err, errlen, "%s: %s", kit->endpoint, zmq_strerror(zmq_errno()));
cleanup:
    if (monitor) {
        zmq_socket_monitor(kit->socket, NULL, 0);
        zmq_close(monitor);
    }
    return rc;
}

static void s_destroy(kit_t *kit)
{
    if (kit->socket)
        zmq_close(kit->socket);
    if (kit->zmq)
        zmq_ctx_term(kit->zmq);
    for (size_t i = 0; i < kit->signal_count; i++)
        free(kit->signals[i].bytes);
    for (size_t i = 0; i < kit->batch_count; i++)
        free(kit->batches[i].header);
    sp_key_destroy(&kit->router_key);
    sp_key_destroy(&kit->partner_key);
    sp_key_destroy(&kit->emitter_key);
    sp_key_destroy(&kit->stranger_key);
    free(kit);
}

/*  ---------------------------------------------------------------------
    The command                                                         */

#define KIT_USAGE \
    "usage: seinpost conformance --endpoint E --router-key FILE --partner-key KEY\n" \
    "           --subscriber NAME --subscription NAME --emitter-key FILE --source URN\n" \
    "           [--partner-curve Z85 --curve-key FILE] [--handler-log FILE]\n" \
    "           [--timeout MS] [--router NAME] [--type TYPE] [--case NAME]...\n"

static void s_usage(FILE *out)
{
    fprintf(out, KIT_USAGE "\n"
        "Plays the router of a SEINPOST2 delivery link against a partner endpoint\n"
        "and prints PASS or FAIL per case, then \"N passed, N failed\"; exit 0 only\n"
        "when every case passed (1: a case failed, 2: usage, 3: no connection,\n"
        "keys that cannot be loaded).\n\n"
        "  --endpoint E          the partner's listen endpoint (tcp:// or ipc://)\n"
        "  --partner-curve Z85   the partner's CURVE public key (omit: no CURVE)\n"
        "  --curve-key FILE      this kit's CURVE key pair (seinpost keygen --curve),\n"
        "                        i.e. the router's; needed with --partner-curve\n"
        "  --router-key FILE     the router's Ed25519 secret key the partner trusts\n"
        "  --partner-key KEY     the partner's public key, ed25519:BASE64\n"
        "  --subscriber NAME     the router's name for the partner\n"
        "  --subscription NAME   a subscription the partner accepts\n"
        "  --emitter-key FILE    an emitter's Ed25519 secret key the partner trusts\n"
        "  --source URN          the CloudEvents source matching that emitter\n"
        "  --handler-log FILE    where the partner's handler appends a line with the\n"
        "                        event id per signal; checks it saw each once\n"
        "  --timeout MS          wait for each reply (default 3000)\n"
        "  --router NAME         the header's router name (default seinpost-conformance)\n"
        "  --type TYPE           the events' type (default %s)\n"
        "  --case NAME           run only this case (repeatable)\n\ncases:\n", KIT_TYPE);
    kit_list_cases(out);
}

static int s_option(kit_t *kit, int opt, const char *arg)
{
    switch (opt) {
    case 'e': kit->endpoint = arg; return 0;
    case 'Z': kit->partner_curve = arg; return 0;
    case 'C': kit->curve_key_path = arg; return 0;
    case 'r': kit->router_key_path = arg; return 0;
    case 'p': kit->partner_key_text = arg; return 0;
    case 's': kit->subscriber = arg; return 0;
    case 'S': kit->subscription = arg; return 0;
    case 'E': kit->emitter_key_path = arg; return 0;
    case 'u': kit->source = arg; return 0;
    case 'L': kit->handler_log = arg; return 0;
    case 'R': kit->router_name = arg; return 0;
    case 'y': kit->type = arg; return 0;
    case 'T':
        kit->timeout_ms = atoi(arg);
        if (kit->timeout_ms > 0)
            return 0;
        fprintf(stderr, "seinpost conformance: --timeout: milliseconds above 0\n");
        return -1;
    case 'c':
        if (kit->only_count < sizeof kit->only / sizeof kit->only[0] && kit_case_known(arg)) {
            kit->only[kit->only_count++] = arg;
            return 0;
        }
        fprintf(stderr, "seinpost conformance: --case %s: no such case (see --help), "
                "or too many\n", arg);
        return -1;
    default: return -1;         /* getopt said why */
    }
}

static int s_check_options(const kit_t *kit)
{
    const char *missing = !kit->endpoint ? "--endpoint" : !kit->router_key_path
        ? "--router-key" : !kit->partner_key_text ? "--partner-key" : !kit->subscriber
        ? "--subscriber" : !kit->subscription ? "--subscription" : !kit->emitter_key_path
        ? "--emitter-key" : !kit->source ? "--source" : NULL;
    if (missing) {
        fprintf(stderr, "seinpost conformance: %s is required\n", missing);
        return -1;
    }
    if (!kit->partner_curve != !kit->curve_key_path) {
        fprintf(stderr, "seinpost conformance: --partner-curve and --curve-key go together\n");
        return -1;
    }
    return 0;
}

/*  0, 1 for --help, -1 for a usage error.                              */
static int s_parse(kit_t *kit, int argc, char **argv)
{
    static const struct option options[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "partner-curve", required_argument, NULL, 'Z' },
        { "curve-key", required_argument, NULL, 'C' },
        { "router-key", required_argument, NULL, 'r' },
        { "partner-key", required_argument, NULL, 'p' },
        { "subscriber", required_argument, NULL, 's' },
        { "subscription", required_argument, NULL, 'S' },
        { "emitter-key", required_argument, NULL, 'E' },
        { "source", required_argument, NULL, 'u' },
        { "handler-log", required_argument, NULL, 'L' },
        { "router", required_argument, NULL, 'R' },
        { "type", required_argument, NULL, 'y' },
        { "timeout", required_argument, NULL, 'T' },
        { "case", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h')
            return 1;
        if (s_option(kit, opt, optarg) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "seinpost conformance: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return s_check_options(kit);
}

static int s_run(kit_t *kit)
{
    char err[1024] = "";
    int passed = 0, failed = 0;
    if (s_load_keys(kit, err, sizeof err) != 0 || s_connect(kit, err, sizeof err) != 0) {
        fprintf(stderr, "seinpost conformance: %s\n", err[0] ? err : "out of memory");
        return CMD_FAILED;
    }
    /* fresh per run: below 2^53, and 1000 seqs a millisecond apart */
    kit->next_seq = sp_time_now_ms() * 1000 + 1;
    kit->next_batch = sp_time_now_ms();
    kit_run_cases(kit, &passed, &failed);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? CMD_REJECTED : CMD_OK;
}

int cmd_conformance(int argc, char **argv)
{
    kit_t *kit = calloc(1, sizeof *kit);
    int rc = CMD_FAILED;
    if (!kit) {
        perror("seinpost conformance");
        return CMD_FAILED;
    }
    kit->timeout_ms = 3000;
    kit->router_name = "seinpost-conformance";
    kit->type = KIT_TYPE;
    int parsed = s_parse(kit, argc, argv);
    if (parsed != 0) {
        if (parsed > 0)
            s_usage(stdout);
        else
            fprintf(stderr, KIT_USAGE "(seinpost conformance --help: every option and case)\n");
        rc = parsed > 0 ? CMD_OK : CMD_USAGE;
        goto cleanup;
    }
    rc = s_run(kit);
cleanup:
    s_destroy(kit);
    return rc;
}
