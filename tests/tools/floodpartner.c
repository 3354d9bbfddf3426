/*  floodpartner.c - test tool: a hostile partner that answers the first
    DELIVER with a flood of refusals and refused receipts, as fast as the
    router takes them, so that a test can check what that costs the
    router (audit rows, log lines, database growth).

    floodpartner --endpoint E --curve-secret FILE --key KEYFILE
                 [--nacks N] [--receipts M] [--timeout MS] [--hold MS]

      --nacks N       N NACKs (SEQUENCE_GAP) naming the first batch: the
                      first finds it in flight (a failed attempt), the
                      rest do not (the router goes back on the first)
      --receipts M    M messages the router refuses, in turn: a receipt
                      with a forged signature, one (signed) naming a batch
                      never sent, one (signed) listing an entry the batch
                      did not carry, one without its signature frame, an
                      unknown command, a message that is not SEINPOST2
      --timeout MS    give up when no DELIVER comes within MS (10000)
      --hold MS       afterwards, read (and never answer) DELIVERs for MS
                      (default 0), then exit

    The first NACK goes out first; then the rest, interleaved. Sends wait
    while the router's queue is full (ZMQ_ROUTER_MANDATORY), so every
    message reaches it. Prints "first <batch sha256>", then
    "sent nacks=N receipts=M" when all went out.
    Exit status: 0 when all were sent, 1 on timeout, 2 on usage or setup.
*/
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "seinpost.h"
#include "sp_proto.h"
#include "sp_util.h"

#define FLOOD_SEND_LIMIT_MS 60000   /* the router stopped reading: give up */

typedef struct {
    const char *endpoint, *curve_secret, *key_path;
    int nacks, receipts, timeout_ms, hold_ms;
} options_t;

/*  What the first DELIVER told us, and the receipt bodies made from it. */
typedef struct {
    uint8_t identity[256];
    size_t identity_len;
    char batch_hex[2 * SP_SHA256_SIZE + 1];
    char *unknown_batch, *extra_entry;      /* signed bodies */
    uint8_t unknown_sig[SP_SIGNATURE_SIZE], extra_sig[SP_SIGNATURE_SIZE];
} first_t;

static int s_usage(void)
{
    fprintf(stderr, "usage: floodpartner --endpoint E --curve-secret FILE --key KEYFILE\n"
                    "       [--nacks N] [--receipts M] [--timeout MS] [--hold MS]\n");
    return 2;
}

static int s_options(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "curve-secret", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "nacks", required_argument, NULL, 'n' },
        { "receipts", required_argument, NULL, 'r' },
        { "timeout", required_argument, NULL, 't' },
        { "hold", required_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    int opt;
    *o = (options_t) { .timeout_ms = 10000 };
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (opt) {
        case 'e': o->endpoint = optarg; break;
        case 'c': o->curve_secret = optarg; break;
        case 'k': o->key_path = optarg; break;
        case 'n': o->nacks = atoi(optarg); break;
        case 'r': o->receipts = atoi(optarg); break;
        case 't': o->timeout_ms = atoi(optarg); break;
        case 'h': o->hold_ms = atoi(optarg); break;
        default: return -1;
        }
    }
    return o->endpoint && o->curve_secret && o->key_path ? 0 : -1;
}

static void s_nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/*  Reads whatever the router sent meanwhile (resends), answering none. */
static void s_drain(void *socket)
{
    sp_frames_t frames;
    while (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, 64u << 20, ZMQ_DONTWAIT) == 0)
        sp_frames_close(&frames);
}

/*  Sends one message to the router, waiting while its queue is full.   */
static int s_send(void *socket, const first_t *first, const void *const *parts,
                  const size_t *sizes, size_t count)
{
    const void *all[8] = { first->identity };
    size_t all_sizes[8] = { first->identity_len };
    for (size_t i = 0; i < count && i < 7; i++) {
        all[i + 1] = parts[i];
        all_sizes[i + 1] = sizes[i];
    }
    int64_t give_up = sp_clock_ms() + FLOOD_SEND_LIMIT_MS;
    while (sp_send_parts(socket, all, all_sizes, count + 1, ZMQ_DONTWAIT) != 0) {
        if (zmq_errno() != EAGAIN || sp_clock_ms() > give_up)
            return -1;
        s_drain(socket);
        s_nap_ms(1);
    }
    return 0;
}

static int s_nack(void *socket, const first_t *first)
{
    static const char reason[] = "flood";
    const void *parts[] = { SP_PROTOCOL_DELIVERY, SP_CMD_NACK, first->batch_hex,
                            "SEQUENCE_GAP", reason };
    size_t sizes[] = { strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_NACK),
                       strlen(first->batch_hex), strlen("SEQUENCE_GAP"), strlen(reason) };
    return s_send(socket, first, parts, sizes, 5);
}

/*  Refused message number i, of six kinds in turn.                      */
static int s_refused(void *socket, const first_t *first, int i)
{
    static const uint8_t forged[SP_SIGNATURE_SIZE];
    static const char body[] = "{\"v\":2}";
    const char *proto = SP_PROTOCOL_DELIVERY, *command = SP_CMD_RECEIPT, *text = body;
    const void *sig = forged;
    size_t count = 4;
    switch (i % 6) {
    case 0: break;                                              /* forged signature */
    case 1: text = first->unknown_batch; sig = first->unknown_sig; break;
    case 2: text = first->extra_entry; sig = first->extra_sig; break;
    case 3: count = 3; break;                                   /* no signature */
    case 4: command = "HELLO"; break;
    default: proto = "SEINPOST0"; break;
    }
    const void *parts[] = { proto, command, text, sig };
    size_t sizes[] = { strlen(proto), strlen(command), strlen(text), SP_SIGNATURE_SIZE };
    return s_send(socket, first, parts, sizes, count);
}

/*  A signed receipt body for batch hex with entries plus one extra.     */
static char *s_body(const sp_key_t *key, json_t *header, const char *hex, json_t *extra,
                    uint8_t sig[SP_SIGNATURE_SIZE])
{
    json_t *handled = json_array(), *entry;
    size_t i;
    json_array_foreach(json_object_get(header, "entries"), i, entry)
        json_array_append_new(handled, json_pack("{s:O, s:O}", "subscription",
                                                 json_object_get(entry, "subscription"),
                                                 "seq", json_object_get(entry, "seq")));
    if (extra)
        json_array_append(handled, extra);
    json_t *body = json_pack("{s:i, s:O, s:s, s:s, s:o, s:s}", "v", 2, "subscriber",
                             json_object_get(header, "subscriber"), "partner_key",
                             sp_key_id(key), "batch_sha256", hex, "handled", handled,
                             "received_at", "2026-11-23T00:00:00.000Z");
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (text && sp_key_sign(key, SP_DOMAIN_RECEIPT, text, strlen(text), sig) != 0) {
        free(text);
        text = NULL;
    }
    return text;
}

/*  Fills first from a DELIVER; -1 when it is none.                      */
static int s_first(sp_frames_t *f, const sp_key_t *key, first_t *first)
{
    uint8_t digest[SP_SHA256_SIZE];
    json_error_t jerr;
    if (f->count <= 1 + SP_DELIVER_HEADER || sp_frame_size(f, 0) > sizeof first->identity
        || !sp_frame_is(f, 1 + SP_DELIVER_COMMAND, SP_CMD_DELIVER))
        return -1;
    json_t *header = json_loadb(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                                sp_frame_size(f, 1 + SP_DELIVER_HEADER), 0, &jerr);
    if (!header)
        return -1;
    first->identity_len = sp_frame_size(f, 0);
    memcpy(first->identity, sp_frame_data(f, 0), first->identity_len);
    sp_sha256(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
              sp_frame_size(f, 1 + SP_DELIVER_HEADER), digest);
    sp_hex(digest, sizeof digest, first->batch_hex);
    json_t *extra = json_pack("{s:s, s:i}", "subscription", "not-carried", "seq", 999);
    first->unknown_batch = s_body(key, header, "ff00ff00ff00ff00ff00ff00ff00ff00"
                                  "ff00ff00ff00ff00ff00ff00ff00ff00", NULL, first->unknown_sig);
    first->extra_entry = s_body(key, header, first->batch_hex, extra, first->extra_sig);
    json_decref(extra);
    json_decref(header);
    return first->unknown_batch && first->extra_entry ? 0 : -1;
}

static int s_wait_first(void *socket, const options_t *o, const sp_key_t *key,
                        first_t *first)
{
    int64_t until = sp_clock_ms() + o->timeout_ms;
    while (sp_clock_ms() < until) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        sp_frames_t frames;
        if (zmq_poll(&item, 1, (long) (until - sp_clock_ms())) <= 0)
            continue;
        if (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, 64u << 20, 0) != 0)
            continue;
        int rc = s_first(&frames, key, first);
        sp_frames_close(&frames);
        if (rc == 0)
            return 0;
    }
    return -1;
}

static int s_flood(void *socket, const options_t *o, const first_t *first)
{
    int nacks = 0, refused = 0;
    /* the first NACK alone first: it finds the batch in flight */
    if (o->nacks > 0 && s_nack(socket, first) != 0)
        return -1;
    nacks = o->nacks > 0;
    while (nacks < o->nacks || refused < o->receipts) {
        if (nacks < o->nacks) {
            if (s_nack(socket, first) != 0)
                return -1;
            nacks++;
        }
        if (refused < o->receipts) {
            if (s_refused(socket, first, refused) != 0)
                return -1;
            refused++;
        }
    }
    printf("sent nacks=%d receipts=%d\n", nacks, refused);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    first_t first = { .identity_len = 0 };
    char err[256], pub[41], sec[41];
    if (s_options(argc, argv, &o) != 0)
        return s_usage();
    sp_key_t *key = sp_key_load(o.key_path, false, err, sizeof err);
    void *ctx = zmq_ctx_new();
    void *socket = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int rc = 2, one = 1;
    if (!key || !socket || sp_curve_load(o.curve_secret, pub, sec, err, sizeof err) != 0
        || sp_socket_curve_server(socket, sec) != 0
        || zmq_setsockopt(socket, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0
        || zmq_bind(socket, o.endpoint) != 0) {
        fprintf(stderr, "floodpartner: cannot set up: %s\n", key ? err : "key");
        goto done;
    }
    rc = 1;
    if (s_wait_first(socket, &o, key, &first) != 0)
        goto done;
    printf("first %s\n", first.batch_hex);
    fflush(stdout);
    if (s_flood(socket, &o, &first) != 0) {
        fprintf(stderr, "floodpartner: send: %s\n", zmq_strerror(zmq_errno()));
        goto done;
    }
    for (int64_t until = sp_clock_ms() + o.hold_ms; sp_clock_ms() < until; s_nap_ms(10))
        s_drain(socket);
    rc = 0;
done:
    if (socket) {
        int linger = 2000;      /* what is queued must still go out */
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(socket);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    free(first.unknown_batch);
    free(first.extra_entry);
    sp_key_destroy(&key);
    return rc;
}
