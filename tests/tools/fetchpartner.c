/*  fetchpartner.c - test tool: a partner endpoint that only sends FETCH
    requests (docs/protocol.md 7.4) and prints the router's answers, so
    that the integration tests can send what the reference partner never
    sends: many requests at once, or one signed with another key.

    fetchpartner --endpoint E --curve-secret FILE --key KEYFILE
                 --subscriber NAME [--since-seq N] [--count N] [--timeout MS]

    Waits for the router's connection (its empty probe message, or any
    message), then sends --count FETCH messages (default 1) for
    since_seq N (default 0), request ids "fetch-1", "fetch-2", ..., each
    signed with KEYFILE in the "seinpost/2 fetch" domain. Prints one line
    per answer: "FETCHED <request_id> <queued> <refused> <purged>" (the
    router's signature is not checked: this is the router's test partner)
    or "FETCH_REFUSED <request_id> <code>" ("-" when the refusal names no
    request: the router reads no body whose signature failed). DELIVERs
    are ignored.
    Exit status: 0 when every FETCH was answered, 1 on timeout, 2 on
    usage or setup error.
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

typedef struct {
    const char *endpoint, *curve_secret, *key_path, *subscriber;
    long since_seq;
    int count;
    int timeout_ms;
} options_t;

static int s_usage(void)
{
    fprintf(stderr, "usage: fetchpartner --endpoint E --curve-secret FILE --key KEYFILE\n"
                    "       --subscriber NAME [--since-seq N] [--count N] [--timeout MS]\n");
    return 2;
}

static int s_options(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "curve-secret", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "subscriber", required_argument, NULL, 's' },
        { "since-seq", required_argument, NULL, 'q' },
        { "count", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 } };
    int opt;
    memset(o, 0, sizeof *o);
    o->count = 1;
    o->timeout_ms = 10000;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (opt) {
        case 'e': o->endpoint = optarg; break;
        case 'c': o->curve_secret = optarg; break;
        case 'k': o->key_path = optarg; break;
        case 's': o->subscriber = optarg; break;
        case 'q': o->since_seq = atol(optarg); break;
        case 'n': o->count = atoi(optarg); break;
        case 't': o->timeout_ms = atoi(optarg); break;
        default: return -1;
        }
    }
    return o->endpoint && o->curve_secret && o->key_path && o->subscriber && o->count > 0
        ? 0 : -1;
}

/*  The router's routing id: from its probe, or from whatever it sends. */
static int s_wait_router(void *socket, int timeout_ms, uint8_t *peer, size_t *peer_len)
{
    int64_t until = sp_clock_ms() + timeout_ms;
    while (sp_clock_ms() < until) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        sp_frames_t frames;
        if (zmq_poll(&item, 1, (long) (until - sp_clock_ms())) <= 0)
            continue;
        if (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, 64u << 20, 0) != 0)
            continue;
        *peer_len = sp_frame_size(&frames, 0);
        if (*peer_len > 0 && *peer_len <= 256)
            memcpy(peer, sp_frame_data(&frames, 0), *peer_len);
        sp_frames_close(&frames);
        if (*peer_len > 0 && *peer_len <= 256)
            return 0;
    }
    return -1;
}

static int s_send_fetch(void *socket, const uint8_t *peer, size_t peer_len,
                        const sp_key_t *key, const options_t *o, int n)
{
    char id[32];
    uint8_t sig[SP_SIGNATURE_SIZE];
    snprintf(id, sizeof id, "fetch-%d", n);
    json_t *body = json_pack("{s:i, s:s, s:s, s:I}", "v", 2, "subscriber", o->subscriber,
                             "request_id", id, "since_seq", (json_int_t) o->since_seq);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    int rc = -1;
    if (text && sp_key_sign(key, SP_DOMAIN_FETCH, text, strlen(text), sig) == 0) {
        const void *parts[] = { peer, SP_PROTOCOL_DELIVERY, SP_CMD_FETCH, text, sig };
        size_t sizes[] = { peer_len, strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_FETCH),
                           strlen(text), sizeof sig };
        rc = sp_send_parts(socket, parts, sizes, 5, 0);
    }
    free(text);
    return rc;
}

/*  One answer printed; 1 when it was one, 0 when something else came. */
static int s_print_answer(sp_frames_t *f)
{
    char id[80] = "?", code[64] = "?";
    if (f->count == 1 + SP_FETCH_FRAMES && sp_frame_is(f, 2, SP_CMD_FETCHED)) {
        json_t *body = json_loadb(sp_frame_data(f, 3), sp_frame_size(f, 3), 0, NULL);
        const char *request = json_string_value(json_object_get(body, "request_id"));
        printf("FETCHED %s %lld %lld %lld\n", request ? request : "?",
               (long long) json_integer_value(json_object_get(body, "queued")),
               (long long) json_integer_value(json_object_get(body, "refused")),
               (long long) json_integer_value(json_object_get(body, "purged")));
        json_decref(body);
        return 1;
    }
    if (f->count == 1 + SP_REFUSED_FRAMES && sp_frame_is(f, 2, SP_CMD_FETCH_REFUSED)) {
        /* "-": none, as for a FETCH whose signature did not verify */
        if (sp_frame_string(f, 1 + SP_REFUSED_REQUEST, id, sizeof id) != 0 || !id[0])
            snprintf(id, sizeof id, "-");
        sp_frame_string(f, 1 + SP_REFUSED_CODE, code, sizeof code);
        printf("FETCH_REFUSED %s %s\n", id, code);
        return 1;
    }
    return 0;
}

static int s_collect(void *socket, int want, int timeout_ms)
{
    int64_t until = sp_clock_ms() + timeout_ms;
    int got = 0;
    while (got < want && sp_clock_ms() < until) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        sp_frames_t frames;
        if (zmq_poll(&item, 1, (long) (until - sp_clock_ms())) <= 0)
            continue;
        if (sp_frames_recv(&frames, socket, SP_MAX_FRAMES, 64u << 20, 0) != 0)
            continue;
        got += s_print_answer(&frames);
        sp_frames_close(&frames);
    }
    fflush(stdout);
    return got == want ? 0 : 1;
}

int main(int argc, char **argv)
{
    options_t o;
    char err[256], pub[41], sec[41];
    uint8_t peer[256];
    size_t peer_len = 0;
    if (s_options(argc, argv, &o) != 0)
        return s_usage();
    sp_key_t *key = sp_key_load(o.key_path, false, err, sizeof err);
    void *ctx = zmq_ctx_new();
    void *socket = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int rc = 2;
    if (!key || !socket || sp_curve_load(o.curve_secret, pub, sec, err, sizeof err) != 0
        || sp_socket_curve_server(socket, sec) != 0 || zmq_bind(socket, o.endpoint) != 0) {
        fprintf(stderr, "fetchpartner: cannot set up: %s\n", key ? err : "key");
        goto done;
    }
    rc = 1;
    if (s_wait_router(socket, o.timeout_ms, peer, &peer_len) != 0) {
        fprintf(stderr, "fetchpartner: the router did not connect\n");
        goto done;
    }
    for (int i = 1; i <= o.count; i++)
        if (s_send_fetch(socket, peer, peer_len, key, &o, i) != 0) {
            fprintf(stderr, "fetchpartner: send: %s\n", zmq_strerror(zmq_errno()));
            goto done;
        }
    rc = s_collect(socket, o.count, o.timeout_ms);
done:
    if (socket)
        zmq_close(socket);
    if (ctx)
        zmq_ctx_term(ctx);
    sp_key_destroy(&key);
    return rc;
}
