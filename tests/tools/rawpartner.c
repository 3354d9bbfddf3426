/*  rawpartner.c - test tool: a partner endpoint that answers each DELIVER
    with what a test asks for, so that the integration tests can check how
    the router treats receipts and messages no honest partner sends.

    rawpartner --endpoint E --curve-secret FILE --key KEYFILE [options]

      --extra-ack NAME:SEQ  list this entry as handled in every receipt
                            (repeatable), on top of every entry the batch
                            carried: a receipt may list only entries of the
                            batch it names, so the router refuses it whole
                            (RECEIPT_UNKNOWN) unless the batch carried it
      --huge BYTES          answer the first DELIVER with one message of BYTES
                            bytes (SEINPOST2 RECEIPT, then filler) instead of
                            a receipt; later batches get normal receipts
      --batches N           stop after N DELIVER messages (default 1)
      --timeout MS          stop after MS without a DELIVER (default 10000)

    Receipts are SEINPOST2 (docs/protocol.md 7): frame 0 "SEINPOST2", body
    {"v":2, subscriber, partner_key, batch_sha256 (the SHA-256 of the
    DELIVER's header frame), handled: [{subscription, seq}...],
    received_at} signed in the "seinpost/2 receipt" domain.
    Prints one line per DELIVER: "DELIVER <entries> <subscription>:<seq> ...".
    The router's signatures are not checked: this is the router's test
    partner, not a partner.
    Exit status: 0 when N batches came, 1 on timeout, 2 on usage or setup error.
*/
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "seinpost.h"
#include "sp_proto.h"
#include "sp_util.h"

#define RAWPARTNER_MAX_EXTRA 8

typedef struct {
    const char *endpoint, *curve_secret, *key_path;
    const char *extra[RAWPARTNER_MAX_EXTRA];
    int extra_count;
    long huge;
    int batches;
    int timeout_ms;
} options_t;

static int s_usage(void)
{
    fprintf(stderr, "usage: rawpartner --endpoint E --curve-secret FILE --key KEYFILE\n"
                    "       [--extra-ack NAME:SEQ]... [--huge BYTES] [--batches N]"
                    " [--timeout MS]\n");
    return 2;
}

static int s_options(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "curve-secret", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "extra-ack", required_argument, NULL, 'a' },
        { "huge", required_argument, NULL, 'H' },
        { "batches", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 } };
    int opt;
    *o = (options_t) { .batches = 1, .timeout_ms = 10000 };
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (opt) {
        case 'e': o->endpoint = optarg; break;
        case 'c': o->curve_secret = optarg; break;
        case 'k': o->key_path = optarg; break;
        case 'a':
            if (o->extra_count == RAWPARTNER_MAX_EXTRA || !strchr(optarg, ':'))
                return -1;
            o->extra[o->extra_count++] = optarg;
            break;
        case 'H': o->huge = atol(optarg); break;
        case 'n': o->batches = atoi(optarg); break;
        case 't': o->timeout_ms = atoi(optarg); break;
        default: return -1;
        }
    }
    return o->endpoint && o->curve_secret && o->key_path ? 0 : -1;
}

/*  Every entry the batch carried, {"subscription", "seq"}, plus the
    extra ones.                                                          */
static json_t *s_handled(const options_t *o, json_t *entries)
{
    json_t *list = json_array(), *entry;
    size_t i;
    json_array_foreach(entries, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "subscription"));
        json_int_t at = json_integer_value(json_object_get(entry, "seq"));
        printf(" %s:%lld", name ? name : "?", (long long) at);
        if (name)
            json_array_append_new(list, json_pack("{s:s, s:I}", "subscription", name,
                                                  "seq", at));
    }
    for (int k = 0; k < o->extra_count; k++) {
        char extra[256];
        snprintf(extra, sizeof extra, "%s", o->extra[k]);
        char *colon = strchr(extra, ':');
        *colon = '\0';
        json_array_append_new(list, json_pack("{s:s, s:I}", "subscription", extra,
                                              "seq", (json_int_t) atoll(colon + 1)));
    }
    return list;
}

static int s_receipt(void *socket, sp_frames_t *f, const sp_key_t *key, json_t *header,
                     json_t *handled)
{
    uint8_t digest[SP_SHA256_SIZE], sig[SP_SIGNATURE_SIZE];
    char batch_hex[2 * SP_SHA256_SIZE + 1];
    sp_sha256(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
              sp_frame_size(f, 1 + SP_DELIVER_HEADER), digest);
    sp_hex(digest, sizeof digest, batch_hex);
    json_t *body = json_pack("{s:i, s:O, s:s, s:s, s:O, s:s}", "v", 2, "subscriber",
                             json_object_get(header, "subscriber"), "partner_key",
                             sp_key_id(key), "batch_sha256", batch_hex, "handled", handled,
                             "received_at", "2026-11-23T00:00:00.000Z");
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    int rc = -1;
    if (text && sp_key_sign(key, SP_DOMAIN_RECEIPT, text, strlen(text), sig) == 0) {
        const void *parts[] = { sp_frame_data(f, 0), SP_PROTOCOL_DELIVERY, SP_CMD_RECEIPT,
                                text, sig };
        size_t sizes[] = { sp_frame_size(f, 0), strlen(SP_PROTOCOL_DELIVERY),
                           strlen(SP_CMD_RECEIPT), strlen(text), sizeof sig };
        rc = sp_send_parts(socket, parts, sizes, 5, 0);
    }
    free(text);
    return rc;
}

/*  One message far above any limit, as a hostile partner would send it. */
static int s_huge(void *socket, sp_frames_t *f, long bytes)
{
    char *filler = calloc(1, (size_t) bytes);
    if (!filler)
        return -1;
    memset(filler, 'x', (size_t) bytes);
    const void *parts[] = { sp_frame_data(f, 0), SP_PROTOCOL_DELIVERY, SP_CMD_RECEIPT,
                            filler };
    size_t sizes[] = { sp_frame_size(f, 0), strlen(SP_PROTOCOL_DELIVERY),
                       strlen(SP_CMD_RECEIPT), (size_t) bytes };
    int rc = sp_send_parts(socket, parts, sizes, 4, 0);
    free(filler);
    return rc;
}

static int s_answer(void *socket, sp_frames_t *f, const sp_key_t *key, const options_t *o,
                    int batch_no)
{
    json_error_t jerr;
    json_t *header = json_loadb(sp_frame_data(f, 1 + SP_DELIVER_HEADER),
                                sp_frame_size(f, 1 + SP_DELIVER_HEADER), 0, &jerr);
    json_t *entries = json_object_get(header, "entries");
    int rc = -1;
    if (json_is_array(entries)) {
        printf("DELIVER %zu", json_array_size(entries));
        json_t *handled = s_handled(o, entries);
        printf("\n");
        fflush(stdout);
        rc = o->huge > 0 && batch_no == 1 ? s_huge(socket, f, o->huge)
                                          : s_receipt(socket, f, key, header, handled);
        json_decref(handled);
    }
    json_decref(header);
    return rc;
}

int main(int argc, char **argv)
{
    options_t o;
    char err[256], pub[41], sec[41];
    if (s_options(argc, argv, &o) != 0)
        return s_usage();
    sp_key_t *key = sp_key_load(o.key_path, false, err, sizeof err);
    void *ctx = zmq_ctx_new();
    void *socket = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int rc = 2, received = 0;
    if (!key || !socket || sp_curve_load(o.curve_secret, pub, sec, err, sizeof err) != 0
        || sp_socket_curve_server(socket, sec) != 0 || zmq_bind(socket, o.endpoint) != 0) {
        fprintf(stderr, "rawpartner: cannot set up: %s\n", key ? err : "key");
        goto done;
    }
    rc = 1;
    while (received < o.batches) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        sp_frames_t frames;
        if (zmq_poll(&item, 1, o.timeout_ms) <= 0)
            goto done;
        if (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, 64u << 20, 0) != 0)
            goto done;
        if (frames.count > 1 + SP_DELIVER_HEADER
            && sp_frame_is(&frames, 1 + SP_DELIVER_COMMAND, SP_CMD_DELIVER))
            s_answer(socket, &frames, key, &o, ++received);
        sp_frames_close(&frames);
    }
    rc = 0;
done:
    if (socket) {
        int linger = 1000;      /* the last receipt must still go out */
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(socket);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    sp_key_destroy(&key);
    return rc;
}
