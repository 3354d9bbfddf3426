/*  fuzz_receipt.c - libFuzzer harness for both ends of a SEINPOST2
    delivery link: the router's handling of what partners send back
    (daemon/receipt.c: RECEIPT and NACK) and the partner's handling of what
    the router sends (client/sp_partner.c: DELIVER). Real code on both
    sides, over ZeroMQ.

    Router side: LLVMFuzzerInitialize() starts a complete seinpostd
    (world.c) whose two subscribers connect to DEALER sockets the harness
    binds, emits a few valid signals and lets the daemon deliver them, so
    that batches have been sent and receipts can acknowledge something.
    Each input is sent from the harness's DEALER to the daemon's
    subscriber socket, and one loop turn runs (deliver_handle_socket() ->
    sp_frames_recv() with the daemon's limits -> s_receipt/s_nack ->
    timers -> dispatch -> group commit). Every 512 router-side inputs two
    more signals are emitted so that deliveries stay in flight. The
    harness reads every DELIVER the daemon sends and remembers the last
    one per subscriber: a SEINPOST2 receipt names its batch by the SHA-256
    of the header, which no input can guess.

    Partner side: sp_partner_new() binds an ipc:// endpoint; a DEALER in
    the harness plays the router, sends the input, and sp_partner_poll()
    handles it (sp_frames_recv -> router signature over the header's
    SHA-256 -> header JSON -> addressing, freshness -> entry checks ->
    emitter signatures -> prev (gap) -> dedup -> handler -> signed RECEIPT
    and/or NACK back).

    Input: byte 0 is the mode, the rest frames separated by "\n--\n"
    (world.h). Mode bits:
      0x04 clear: router side; frames as a partner sends them
                  (SEINPOST2, RECEIPT|NACK, body or batch, signature...).
                  In frame 2 the first "@BATCH@" becomes the SHA-256 (hex)
                  of the last DELIVER header sent to the subscriber (64
                  zeros before the first), and the first "@HANDLED@" its
                  entries, {"seq":N,"subscription":"S"} joined by commas
                  (write "handled":[@HANDLED@]).
         0x01     sign: frame 3 becomes the subscriber's Ed25519 signature
                  ("seinpost/2 receipt") over frame 2 (the receipt body),
                  so the JSON and batch checks are reached. Without it:
                  frames as given.
         0x08     send as subscriber "belastingdienst" (else "toeslagen").
      0x04 set:   partner side; frames as the router sends them
                  (SEINPOST2, DELIVER, header, signature, events...). In
                  frame 2 the first "@PARTNER_KEY@" becomes the partner's
                  key id and the first "@NOW@" the current time (RFC 3339):
                  a batch must be addressed to the partner and younger
                  than its dedup horizon.
         mode & 3 == 0  frames as given;
                  == 1  frame 3 becomes the router's batch signature over
                        frame 2 ("seinpost/2 batch", SHA-256 of the header);
                  >= 2  if frame 2 is a JSON object with an "entries" array,
                        each entry i gets the real "sha256", "emitter_sig"
                        and "emitter_key" of event frame 4+i, and its
                        "source", "id" and "type" where it has none (signed by
                        emitter A for 2, B for 3), the header is written
                        back compactly and signed: this reaches the handler,
                        dedup, prev bookkeeping and receipt signing.
    Corpus digits: '0' '1' '8' '9' router side, '4' '5' '6' '7' partner side.

    SEINPOST_FUZZ_VERBOSE=1 prints what each input reached.

    Oracles beyond the sanitizers. Router: every DELIVER it sends is
    SEINPOST2, signed over the header's SHA-256, addressed to the partner
    (partner_key, subscriber) with a prev below each seq; it stores a
    receipt only when the harness signed it, and only one that names the
    batch it was sent for and lists nothing that batch did not carry; a
    signed receipt that does name the last batch, lists only its entries
    and this subscriber is stored. Partner: it hands a signal to the
    handler only when the harness made the router signature, and only
    with an emitter signature that verifies and a header whose source, id
    and type are the event's; every reply is SEINPOST2, either a RECEIPT
    signed with the partner's key whose body names this batch and the
    partner and lists exactly the entries the handler took (all of them
    entries of the batch), or a NACK with a known code; each DELIVER gets
    exactly the replies it calls for: a RECEIPT when the handler took a
    signal, then a NACK unless it took them all (a batch without entries
    is refused); and sp_signal_t.emitter_signature holds the 64 bytes
    seinpost.h promises. Found by this harness and fixed (regression seeds
    in the corpus, regress-*): emitter_signature was always NULL; a
    "subscriber" of 128 bytes or more, cut inside a UTF-8 character, left
    a handled batch without RECEIPT or NACK; a NACK code that is not UTF-8
    made audit_append() leak. SEINPOST_FUZZ_TOLERATE (see world.c) can
    silence a named oracle while a new finding is open.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "deliver.h"
#include "sp_event.h"
#include "sp_util.h"
#include "world.h"

#define FZ_RESTART_EVERY 100000
#define FZ_REFILL_EVERY 512

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fz_world_t s_world;
static sp_partner_t *s_partner;
static void *s_router_zmq;          /* context of the fake router */
static void *s_router;              /* DEALER connected to the partner */
static char s_partner_dir[300];
static int s_handled;               /* handler calls in this input */
static int s_succeeded;             /* ... that returned 0 */
static uint8_t s_mode;

/*  The last DELIVER the daemon sent to subscriber i, as the harness read
    it: what "@BATCH@" and "@HANDLED@" stand for.                       */
typedef struct {
    bool known;
    bool answered;              /* a receipt for it was stored */
    uint8_t sha[SP_SHA256_SIZE];
    char hex[2 * SP_SHA256_SIZE + 1];
    int count;
    char subscription[SERVER_BATCH_MAX][128];
    int64_t seq[SERVER_BATCH_MAX];
} fz_batch_t;
static fz_batch_t s_last[2];

/*  Frame 2 with the first occurrence of each token replaced; the input
    is limited to 60000 bytes, the replacements add a few kB at most.   */
typedef struct {
    const char *token;
    const char *value;
} fz_token_t;

static char *s_substitute(const void *data, size_t size, const fz_token_t *tokens,
                          size_t count, size_t *out_size)
{
    size_t extra = 0;
    for (size_t t = 0; t < count; t++)
        extra += strlen(tokens[t].value);
    char *out = malloc(size + extra + 1);
    if (!out)
        fz_die("out of memory");
    memcpy(out, data, size);
    out[size] = '\0';
    for (size_t t = 0; t < count; t++) {
        size_t token_len = strlen(tokens[t].token), value_len = strlen(tokens[t].value);
        char *at = memmem(out, size, tokens[t].token, token_len);
        if (!at)
            continue;
        size_t before = (size_t) (at - out), after = size - before - token_len;
        memmove(at + value_len, at + token_len, after);
        memcpy(at, tokens[t].value, value_len);
        size = before + value_len + after;
        out[size] = '\0';
    }
    *out_size = size;
    return out;
}

/*  --------------------------------------------------------------------
    Router side.                                                          */

static int64_t s_count(const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t value = -1;
    if (sqlite3_prepare_v2(store_db(s_world.server->store), sql, -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (value < 0)
        fz_die("query failed: %s", sql);
    return value;
}

/*  Checks one message the daemon sent to subscriber which and remembers
    it as that subscriber's last batch.                                  */
static void s_note_deliver(int which, sp_frames_t *f)
{
    static const char *const names[2] = { "toeslagen", "belastingdienst" };
    fz_batch_t *last = &s_last[which];
    if (f->count < SP_DELIVER_FIRST_EVENT + 1
        || !sp_frame_is(f, SP_DELIVER_PROTOCOL, SP_PROTOCOL_DELIVERY)
        || !sp_frame_is(f, SP_DELIVER_COMMAND, SP_CMD_DELIVER)
        || sp_frame_size(f, SP_DELIVER_SIGNATURE) != SP_SIGNATURE_SIZE)
        fz_die("the daemon sent %s something else than a SEINPOST2 DELIVER", names[which]);
    if (sp_batch_verify(s_world.node, sp_frame_data(f, SP_DELIVER_HEADER),
                        sp_frame_size(f, SP_DELIVER_HEADER),
                        sp_frame_data(f, SP_DELIVER_SIGNATURE)) != 0)
        fz_die("a DELIVER's signature is not the node key's over SHA-256(header)");
    json_t *header = json_loadb(sp_frame_data(f, SP_DELIVER_HEADER),
                                sp_frame_size(f, SP_DELIVER_HEADER),
                                JSON_REJECT_DUPLICATES, NULL);
    json_t *entries = json_object_get(header, "entries");
    const char *partner_key = json_string_value(json_object_get(header, "partner_key"));
    const char *subscriber = json_string_value(json_object_get(header, "subscriber"));
    if (json_integer_value(json_object_get(header, "v")) != 2 || !json_is_array(entries)
        || json_array_size(entries) != f->count - SP_DELIVER_FIRST_EVENT
        || json_array_size(entries) > SERVER_BATCH_MAX
        || !partner_key || strcmp(partner_key, sp_key_id(s_world.partner[which])) != 0
        || !subscriber || strcmp(subscriber, names[which]) != 0)
        fz_die("a DELIVER header to %s is not a version 2 header addressed to it",
               names[which]);
    last->count = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "subscription"));
        json_t *seq = json_object_get(entry, "seq"), *prev = json_object_get(entry, "prev");
        if (!name || strlen(name) >= sizeof last->subscription[0] || !json_is_integer(seq)
            || json_integer_value(seq) < 1 || !json_is_integer(prev)
            || json_integer_value(prev) < 0
            || json_integer_value(prev) >= json_integer_value(seq))
            fz_die("DELIVER entry %zu to %s lacks a subscription, a seq or a prev below it",
                   i, names[which]);
        snprintf(last->subscription[i], sizeof last->subscription[i], "%s", name);
        last->seq[i] = json_integer_value(seq);
        last->count++;
    }
    json_decref(header);
    sp_sha256(sp_frame_data(f, SP_DELIVER_HEADER), sp_frame_size(f, SP_DELIVER_HEADER),
              last->sha);
    sp_hex(last->sha, sizeof last->sha, last->hex);
    last->known = true;
    last->answered = false;
}

/*  Reads everything the daemon sent to subscriber which; returns the
    number of messages.                                                  */
static int s_collect(int which)
{
    int count = 0;
    sp_frames_t frames;
    while (sp_frames_recv(&frames, s_world.partner_sock[which], SP_MAX_FRAMES, SIZE_MAX,
                          ZMQ_DONTWAIT) == 0) {
        /* the DEALER's probe at connect, and answers to a fuzzed FETCH
           (protocol.md 7.4), are not batches */
        if (!(frames.count == 1 && sp_frame_size(&frames, 0) == 0)
            && !sp_frame_is(&frames, SP_DELIVER_COMMAND, SP_CMD_FETCH_REFUSED)
            && !sp_frame_is(&frames, SP_DELIVER_COMMAND, SP_CMD_FETCHED))
            s_note_deliver(which, &frames);
        sp_frames_close(&frames);
        count++;
    }
    return count;
}

/*  Emits a signal for each subscriber and runs turns so that they are
    delivered. After start-up (must_deliver) it waits until both partner
    sockets saw a DELIVER: the daemon's DEALERs connect asynchronously and
    until then a dispatch fails and backs off by a millisecond or so.
    Later refills only run a few turns: a window that fuzzed receipts never
    acknowledged may be full, and then nothing new goes out, rightly.    */
static void s_refill(bool must_deliver)
{
    bool seen[2] = { false, false };
    fz_emit_valid(&s_world, "nl.gemeente.burgerzaken.geen-dubbele-bewoning", "0796");
    fz_emit_valid(&s_world, "nl.gemeente.burgerzaken.verblijft-niet-op-adres", "0855");
    int64_t deadline = sp_clock_ms() + (must_deliver ? FZ_WAIT_MS : 20);
    while (!(seen[0] && seen[1])) {
        if (sp_clock_ms() > deadline) {
            if (must_deliver)
                fz_die("the daemon delivered nothing to its subscribers");
            break;
        }
        fz_turn(&s_world, true);
        for (int i = 0; i < 2; i++)
            if (fz_wait(s_world.partner_sock[i], 2) && s_collect(i) > 0)
                seen[i] = true;
    }
}

/*  True when entry (name, seq) is one that batch carried.             */
static bool s_carried(const fz_batch_t *batch, const char *name, json_t *seq)
{
    if (!name || !json_is_integer(seq))
        return false;
    for (int k = 0; k < batch->count; k++)
        if (batch->seq[k] == json_integer_value(seq) && strcmp(batch->subscription[k], name) == 0)
            return true;
    return false;
}

/*  0: body does not name batch; 1: names it, lists only entries of it
    (at least one) and this subscriber, "v" 2 - a receipt the router must
    take; -1: names it but is not such a receipt.                      */
static int s_judge_receipt(const void *data, size_t size, const char *subscriber,
                           const fz_batch_t *batch)
{
    uint8_t sha[SP_SHA256_SIZE];
    json_t *body = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
    const char *hex = json_string_value(json_object_get(body, "batch_sha256"));
    int verdict = 0;
    if (batch->known && hex && sp_unhex(hex, sha, sizeof sha) == 0
        && memcmp(sha, batch->sha, sizeof sha) == 0 && batch->answered)
        verdict = -1;       /* one receipt per batch */
    else if (batch->known && hex && sp_unhex(hex, sha, sizeof sha) == 0
        && memcmp(sha, batch->sha, sizeof sha) == 0) {
        const char *name = json_string_value(json_object_get(body, "subscriber"));
        json_t *handled = json_object_get(body, "handled"), *item;
        size_t i;
        verdict = name && strcmp(name, subscriber) == 0
                  && json_integer_value(json_object_get(body, "v")) == 2
                  && json_is_array(handled) && json_array_size(handled) > 0 ? 1 : -1;
        json_array_foreach(handled, i, item)
            if (!s_carried(batch, json_string_value(json_object_get(item, "subscription")),
                           json_object_get(item, "seq"))
                || json_integer_value(json_object_get(item, "seq")) < 1)
                verdict = -1;
    }
    json_decref(body);
    return verdict;
}

static void s_router_side(uint8_t mode, fz_frames_t *frames)
{
    static uint64_t runs;
    uint8_t sig[SP_SIGNATURE_SIZE];
    char *body = NULL, handled[SERVER_BATCH_MAX * 180 + 1] = "";
    int which = (mode & 0x08) ? 1 : 0;
    server_t *server = s_world.server;
    sub_state_t *sub = deliver_sub(server, which ? "belastingdienst" : "toeslagen");
    if (!sub)
        fz_die("subscriber missing");
    /*  What the tokens stand for: the batch as it is now.                */
    fz_batch_t used = s_last[which];
    for (int k = 0; k < used.count; k++) {
        char one[180];
        snprintf(one, sizeof one, "%s{\"seq\":%lld,\"subscription\":\"%s\"}",
                 k ? "," : "", (long long) used.seq[k], used.subscription[k]);
        strcat(handled, one);
    }
    if (frames->count >= 3) {
        fz_token_t tokens[] = {
            { "@BATCH@", used.known ? used.hex : "0000000000000000000000000000000000000000"
                                                 "000000000000000000000000" },
            { "@HANDLED@", handled } };
        body = s_substitute(frames->data[2], frames->size[2], tokens, 2, &frames->size[2]);
        frames->data[2] = body;
    }
    if ((mode & 1) && frames->count >= 3) {
        if (sp_key_sign(s_world.partner[which], SP_DOMAIN_RECEIPT, frames->data[2],
                        frames->size[2], sig) != 0)
            fz_die("sp_key_sign failed");
        frames->data[3] = sig;
        frames->size[3] = sizeof sig;
        if (frames->count == 3)
            frames->count = 4;
    }
    /*  A receipt the router must take, or one it must not.              */
    size_t total = 0;
    for (size_t i = 0; i < frames->count; i++)
        total += frames->size[i];
    bool well_formed = (mode & 1) && frames->count == SP_RECEIPT_FRAMES
        && total <= DELIVER_REPLY_MAX_BYTES
        && frames->size[0] == strlen(SP_PROTOCOL_DELIVERY)
        && memcmp(frames->data[0], SP_PROTOCOL_DELIVERY, frames->size[0]) == 0
        && frames->size[1] == strlen(SP_CMD_RECEIPT)
        && memcmp(frames->data[1], SP_CMD_RECEIPT, frames->size[1]) == 0;
    int verdict = frames->count >= 3 ? s_judge_receipt(frames->data[2], frames->size[2],
                                                       sub->name, &used) : 0;
    int64_t receipts = s_count("SELECT COUNT(*) FROM receipts");
    fz_send(s_world.partner_sock[which], frames);
    if (!fz_wait(sub->socket, FZ_WAIT_MS))
        fz_die("the daemon's subscriber socket never saw the message");
    fz_turn(&s_world, true);
    s_collect(0);
    s_collect(1);
    int64_t stored = s_count("SELECT COUNT(*) FROM receipts") - receipts;
    if (stored != 0 && s_last[which].known && memcmp(s_last[which].sha, used.sha,
                                                     sizeof used.sha) == 0)
        s_last[which].answered = true;
    if (stored != 0 && (!(mode & 1) || frames->count != SP_RECEIPT_FRAMES))
        fz_die("the router stored a receipt the harness did not sign");
    if (stored != 0 && verdict != 1)
        fz_die("the router stored a receipt that %s", verdict == 0
               ? "names no batch it sent to this subscriber"
               : "lists an entry its batch did not carry, or is no version 2 receipt "
                 "for this subscriber");
    if (stored == 0 && well_formed && verdict == 1)
        fz_die("the router refused a valid receipt for the batch it sent last (%s)",
               sub->last_error);
    if (getenv("SEINPOST_FUZZ_VERBOSE"))
        fprintf(stderr, "router: %s receipt stored; %s: last error \"%s\", %lld "
                "delivered\n", stored ? "a" : "no", sub->name, sub->last_error,
                (long long) sub->delivered);
    free(body);
    if (++runs % FZ_RESTART_EVERY == 0) {
        fz_world_restart(&s_world);
        memset(s_last, 0, sizeof s_last);
        s_refill(true);
    } else if (runs % FZ_REFILL_EVERY == 0)
        s_refill(false);
}

/*  --------------------------------------------------------------------
    Partner side.                                                         */

static const sp_key_t *s_emitter_by_id(const char *key_id)
{
    for (int i = 0; i < 2; i++)
        if (key_id && strcmp(sp_key_id(s_world.emitter[i]), key_id) == 0)
            return s_world.emitter[i];
    return NULL;
}

/*  The header's source, id and type are those of the signed event.     */
static void s_check_described(const sp_signal_t *signal)
{
    json_t *event = json_loadb(signal->event, signal->event_len, 0, NULL);
    const char *source = json_string_value(json_object_get(event, "source"));
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    bool same = source && id && type && signal->type && strcmp(source, signal->source) == 0
                && strcmp(id, signal->id) == 0 && strcmp(type, signal->type) == 0;
    json_decref(event);
    if (!same)
        fz_die("partner handed over a signal whose header differs from its event");
}

static int s_handler(const sp_signal_t *signal, void *arg)
{
    (void) arg;
    s_handled++;
    if ((s_mode & 3) == 0)
        fz_die("partner handled a signal from a batch the harness did not sign");
    if (!signal->subscription || !signal->source || !signal->id
        || !signal->emitter_key_id || signal->seq == 0
        || (!signal->event && signal->event_len > 0))
        fz_die("partner handed over an incomplete signal");
    const sp_key_t *key = s_emitter_by_id(signal->emitter_key_id);
    if (!key)
        fz_die("partner handed over a signal of an untrusted emitter key");
    /*  seinpost.h documents emitter_signature as the 64 signature bytes. */
    if (!signal->emitter_signature) {
        if (!fz_tolerate("null-emitter-signature"))
            fz_die("sp_signal_t.emitter_signature is NULL");
    } else if (sp_key_verify(key, SP_DOMAIN_SIGNAL, signal->event, signal->event_len,
                             signal->emitter_signature) != 0)
        fz_die("partner handed over a signal whose emitter signature does not verify");
    s_check_described(signal);
    /*  Lets inputs reach the "handler failed" path.                       */
    if (strncmp(signal->id, "fail", 4) == 0)
        return -1;
    s_succeeded++;
    return 0;
}

/*  An entry without "source", "id" or "type" gets the event's, so that
    the handler stays in reach; one that has them keeps them, so that a
    header describing another signal is explored too.                  */
static void s_describe(json_t *entry, const void *event_bytes, size_t len)
{
    static const char *const names[] = { "source", "id", "type" };
    json_t *event = json_loadb(event_bytes, len, 0, NULL);
    for (size_t i = 0; i < 3; i++) {
        json_t *value = json_object_get(event, names[i]);
        if (!json_object_get(entry, names[i]) && json_is_string(value))
            json_object_set(entry, names[i], value);
    }
    json_decref(event);
}

/*  Mode >= 2: fills in each entry's digest and emitter signature, and the
    description the entry leaves out (s_describe).                      */
static char *s_complete_header(const fz_frames_t *frames, const sp_key_t *emitter)
{
    json_t *header = json_loadb(frames->data[2], frames->size[2], 0, NULL);
    json_t *entries = json_object_get(header, "entries");
    char *text = NULL;
    size_t i;
    json_t *entry;
    if (json_is_array(entries)) {
        json_array_foreach(entries, i, entry) {
            uint8_t digest[SP_SHA256_SIZE], sig[SP_SIGNATURE_SIZE];
            char hex[2 * SP_SIGNATURE_SIZE + 1];
            if (!json_is_object(entry) || 4 + i >= frames->count)
                continue;
            sp_sha256(frames->data[4 + i], frames->size[4 + i], digest);
            sp_hex(digest, sizeof digest, hex);
            json_object_set_new(entry, "sha256", json_string(hex));
            if (sp_key_sign(emitter, SP_DOMAIN_SIGNAL, frames->data[4 + i],
                            frames->size[4 + i], sig) != 0)
                fz_die("sp_key_sign failed");
            sp_hex(sig, sizeof sig, hex);
            json_object_set_new(entry, "emitter_sig", json_string(hex));
            json_object_set_new(entry, "emitter_key", json_string(sp_key_id(emitter)));
            s_describe(entry, frames->data[4 + i], frames->size[4 + i]);
        }
        text = json_dumps(header, JSON_COMPACT);
    }
    json_decref(header);
    return text;
}

/*  A header subscriber of 128 bytes or more: sp_partner.c cuts it to 127,
    possibly inside a UTF-8 sequence, and then cannot build its receipt.  */
static bool s_long_subscriber(const fz_frames_t *f)
{
    if (f->count < 3)
        return false;
    json_t *header = json_loadb(f->data[2], f->size[2], 0, NULL);
    bool is_long = json_string_length(json_object_get(header, "subscriber")) >= 128;
    json_decref(header);
    return is_long;
}

/*  A RECEIPT for the batch whose header is header (the bytes sent) and
    SHA-256 batch_hex: signed by the partner, naming the batch and the
    partner, listing exactly the entries the handler took, each one an
    entry of that batch.                                                */
static void s_check_receipt(sp_frames_t *reply, const void *header, size_t header_len,
                            const char *batch_hex)
{
    if (reply->count != SP_RECEIPT_FRAMES
        || sp_frame_size(reply, SP_RECEIPT_SIGNATURE) != SP_SIGNATURE_SIZE)
        fz_die("partner RECEIPT has %zu frames", reply->count);
    if (sp_key_verify(s_world.partner[0], SP_DOMAIN_RECEIPT,
                      sp_frame_data(reply, SP_RECEIPT_BODY),
                      sp_frame_size(reply, SP_RECEIPT_BODY),
                      sp_frame_data(reply, SP_RECEIPT_SIGNATURE)) != 0)
        fz_die("partner RECEIPT signature does not verify");
    json_t *body = json_loadb(sp_frame_data(reply, SP_RECEIPT_BODY),
                              sp_frame_size(reply, SP_RECEIPT_BODY),
                              JSON_REJECT_DUPLICATES, NULL);
    json_t *handled = json_object_get(body, "handled");
    const char *key = json_string_value(json_object_get(body, "partner_key"));
    const char *hex = json_string_value(json_object_get(body, "batch_sha256"));
    if (json_integer_value(json_object_get(body, "v")) != 2
        || !json_is_string(json_object_get(body, "subscriber")) || !json_is_array(handled)
        || json_array_size(handled) == 0)
        fz_die("partner RECEIPT body is not version 2 or lacks subscriber or handled");
    if (!key || strcmp(key, sp_key_id(s_world.partner[0])) != 0 || !hex
        || strcmp(hex, batch_hex) != 0)
        fz_die("partner RECEIPT names another partner key or batch");
    if (json_array_size(handled) != (size_t) s_succeeded)
        fz_die("partner RECEIPT lists %zu entries, its handler took %d",
               json_array_size(handled), s_succeeded);
    json_t *sent = json_loadb(header, header_len, 0, NULL);
    size_t i, k;
    json_t *item, *entry;
    json_array_foreach(handled, i, item) {
        const char *name = json_string_value(json_object_get(item, "subscription"));
        json_t *seq = json_object_get(item, "seq");
        bool carried = false;
        if (!name || !json_is_integer(seq))
            fz_die("partner RECEIPT handled[%zu] is malformed", i);
        json_array_foreach(json_object_get(sent, "entries"), k, entry)
            carried = carried || (json_equal(json_object_get(entry, "seq"), seq)
                                  && json_equal(json_object_get(entry, "subscription"),
                                                json_object_get(item, "subscription")));
        if (!carried)
            fz_die("partner RECEIPT lists %s/%lld, an entry the batch did not carry",
                   name, (long long) json_integer_value(seq));
    }
    json_decref(sent);
    json_decref(body);
}

static void s_check_nack(sp_frames_t *reply)
{
    char code[64], batch[2 * SP_SHA256_SIZE + 1];
    if (reply->count != SP_NACK_FRAMES)
        fz_die("partner NACK has %zu frames", reply->count);
    if (sp_frame_string(reply, SP_NACK_CODE, code, sizeof code) != 0
        || strcmp(sp_code_name(sp_code_from_name(code)), code) != 0)
        fz_die("partner NACK code is not a wire name");
    if (sp_frame_size(reply, SP_NACK_BATCH) != 0
        && (sp_frame_string(reply, SP_NACK_BATCH, batch, sizeof batch) != 0
            || strlen(batch) != 2 * SP_SHA256_SIZE
            || strspn(batch, "0123456789abcdef") != 2 * SP_SHA256_SIZE))
        fz_die("partner NACK batch is not a SHA-256 in hex");
}

/*  Checks one reply; returns true when it answers the batch sent now.    */
static bool s_check_reply(sp_frames_t *reply, const fz_frames_t *sent, const char *batch_hex,
                          bool *is_nack)
{
    if (!sp_frame_is(reply, 0, SP_PROTOCOL_DELIVERY))
        fz_die("partner reply does not start with %s", SP_PROTOCOL_DELIVERY);
    *is_nack = sp_frame_is(reply, 1, SP_CMD_NACK);
    if (sp_frame_is(reply, 1, SP_CMD_RECEIPT)) {
        json_t *body = json_loadb(sp_frame_data(reply, SP_RECEIPT_BODY),
                                  sp_frame_size(reply, SP_RECEIPT_BODY), 0, NULL);
        const char *hex = json_string_value(json_object_get(body, "batch_sha256"));
        bool ours = hex && strcmp(hex, batch_hex) == 0;
        json_decref(body);
        if (ours)
            s_check_receipt(reply, sent->data[2], sent->size[2], batch_hex);
        return ours;
    }
    if (*is_nack) {
        s_check_nack(reply);
        return sp_frame_size(reply, SP_NACK_BATCH) == strlen(batch_hex)
            && memcmp(sp_frame_data(reply, SP_NACK_BATCH), batch_hex,
                      strlen(batch_hex)) == 0;
    }
    fz_die("partner replied with neither RECEIPT nor NACK");
}

static bool s_frame_eq(const fz_frames_t *frames, size_t i, const char *text)
{
    return i < frames->count && frames->size[i] == strlen(text)
        && memcmp(frames->data[i], text, frames->size[i]) == 0;
}

static void s_partner_side(uint8_t mode, fz_frames_t *frames)
{
    uint8_t sig[SP_SIGNATURE_SIZE], digest[SP_SHA256_SIZE];
    char batch_hex[2 * SP_SHA256_SIZE + 1] = "", now[40];
    char *header = NULL, *given = NULL;
    sp_frames_t reply;
    s_mode = mode;
    s_handled = s_succeeded = 0;
    /*  Every reply to an earlier DELIVER was awaited: anything still
        queued is a reply too many.                                      */
    if (fz_drain(s_router) != 0)
        fz_die("the partner sent more replies than an earlier DELIVER called for");
    if (frames->count >= 3) {
        sp_time_format(sp_time_now_ms(), now, sizeof now);
        fz_token_t tokens[] = { { "@PARTNER_KEY@", sp_key_id(s_world.partner[0]) },
                                { "@NOW@", now } };
        given = s_substitute(frames->data[2], frames->size[2], tokens, 2, &frames->size[2]);
        frames->data[2] = given;
    }
    if ((mode & 3) >= 2 && frames->count >= 3
        && (header = s_complete_header(frames, s_world.emitter[(mode & 3) - 2]))) {
        frames->data[2] = header;
        frames->size[2] = strlen(header);
    }
    if ((mode & 3) >= 1 && frames->count >= 3) {
        if (sp_batch_sign(s_world.node, frames->data[2], frames->size[2], sig) != 0)
            fz_die("sp_batch_sign failed");
        frames->data[3] = sig;
        frames->size[3] = sizeof sig;
        if (frames->count == 3)
            frames->count = 4;
    }
    if (frames->count > 2 && frames->size[2] > 0) {
        sp_sha256(frames->data[2], frames->size[2], digest);
        sp_hex(digest, sizeof digest, batch_hex);
    }
    bool long_subscriber = s_long_subscriber(frames);
    fz_send(s_router, frames);
    /*  A lone empty frame is the router's connection probe, FETCHED and
        FETCH_REFUSED the router's answers to a FETCH (protocol.md 7.4):
        the partner answers none of them.                               */
    if ((frames->count == 1 && frames->size[0] == 0)
        || (s_frame_eq(frames, 0, SP_PROTOCOL_DELIVERY)
            && (s_frame_eq(frames, 1, SP_CMD_FETCHED)
                || s_frame_eq(frames, 1, SP_CMD_FETCH_REFUSED)))) {
        sp_partner_poll(s_partner, s_handler, NULL, 50);
        if (fz_wait(s_router, 0))
            fz_die("the partner answered a probe or a FETCH answer");
        free(header);
        free(given);
        return;
    }
    /*  sp_partner_poll() returns 0 when a signal (libFuzzer's SIGALRM
        timer) interrupts its zmq_poll(): poll again.                    */
    int handled = 0;
    int64_t deadline = sp_clock_ms() + FZ_WAIT_MS;
    while (handled == 0 && sp_clock_ms() < deadline)
        handled = sp_partner_poll(s_partner, s_handler, NULL, FZ_WAIT_MS);
    if (handled != 1)
        fz_die("the partner handled %d DELIVERs instead of 1", handled);
    /*  What sp_partner.c must answer: a RECEIPT when the handler took at
        least one signal, a NACK unless every entry was taken (entries =
        event frames, which the header check enforces once the handler
        ran; a batch without entries is refused).                        */
    bool want_receipt = s_succeeded > 0;
    bool want_nack = s_handled == 0 || (size_t) s_succeeded < frames->count - 4;
    bool receipt_optional = long_subscriber && fz_tolerate("partner-receipt-utf8");
    while (want_nack || (want_receipt && !receipt_optional)) {
        if (!fz_wait(s_router, FZ_WAIT_MS))
            fz_die("the partner did not send its %s (%d signals handled, %d taken; "
                   "last error: %s)", want_receipt ? "RECEIPT" : "NACK", s_handled,
                   s_succeeded, sp_partner_last_error(s_partner));
        if (sp_frames_recv(&reply, s_router, SP_MAX_FRAMES, 1 << 24, ZMQ_DONTWAIT) != 0)
            fz_die("recv: %s", zmq_strerror(zmq_errno()));
        bool is_nack;
        if (!s_check_reply(&reply, frames, batch_hex, &is_nack))
            fz_die("partner reply names another batch");
        if (getenv("SEINPOST_FUZZ_VERBOSE"))
            fprintf(stderr, "partner: %s (%d handled; last error \"%s\")\n",
                    is_nack ? "NACK" : "RECEIPT", s_handled,
                    sp_partner_last_error(s_partner));
        if (is_nack ? !want_nack : !want_receipt)
            fz_die("partner sent an unexpected %s", is_nack ? "NACK" : "RECEIPT");
        if (is_nack && want_receipt && !receipt_optional)
            fz_die("partner sent its NACK before its RECEIPT");
        if (is_nack)
            want_nack = false;
        else
            want_receipt = false;
        sp_frames_close(&reply);
    }
    /*  The tolerated bug may or may not have eaten the RECEIPT.          */
    if (want_receipt && receipt_optional && fz_wait(s_router, 500)) {
        bool is_nack;
        if (sp_frames_recv(&reply, s_router, SP_MAX_FRAMES, 1 << 24, ZMQ_DONTWAIT) != 0
            || !s_check_reply(&reply, frames, batch_hex, &is_nack) || is_nack)
            fz_die("partner sent something else than the RECEIPT it might send");
        sp_frames_close(&reply);
    }
    free(header);
    free(given);
}

/*  --------------------------------------------------------------------   */

static void s_cleanup(void)
{
    sp_partner_destroy(&s_partner);
    if (s_router)
        zmq_close(s_router);
    if (s_router_zmq)
        zmq_ctx_term(s_router_zmq);
    fz_world_stop(&s_world);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512] = "", endpoint[400];
    int zero = 0;
    (void) argc; (void) argv;
    fz_world_start(&s_world, "receipt");
    atexit(s_cleanup);
    s_refill(true);
    /*  The partner trusts the world's router key and both emitters.      */
    static const sp_key_t *emitters[2];
    emitters[0] = s_world.emitter[0];
    emitters[1] = s_world.emitter[1];
    snprintf(s_partner_dir, sizeof s_partner_dir, "%s", s_world.dir);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/partner.sock", s_partner_dir);
    s_partner = sp_partner_new(endpoint, s_world.partner[0], s_world.node, emitters, 2,
                               NULL, err, sizeof err);
    if (!s_partner)
        fz_die("sp_partner_new: %s", err);
    s_router_zmq = zmq_ctx_new();
    s_router = s_router_zmq ? zmq_socket(s_router_zmq, ZMQ_DEALER) : NULL;
    if (!s_router)
        fz_die("zmq_socket failed");
    zmq_setsockopt(s_router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s_router, endpoint) != 0)
        fz_die("connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_frames_t frames;
    if (size < 1 || size > 60000)       /* the router reads at most 64 KiB */
        return 0;
    fz_split(data + 1, size - 1, &frames);
    if (data[0] & 0x04)
        s_partner_side(data[0], &frames);
    else
        s_router_side(data[0], &frames);
    return 0;
}
