/*  rawemit.c - test tool: sends one hand-made EMIT message to seinpostd and
    prints the reply as one line "COMMAND CODE REASON".

    Unlike `seinpost emit`, every frame can be wrong on purpose, so that the
    integration tests can check each rejection code of the ingress.

    rawemit --endpoint E [--curve-secret FILE --server-key Z85]
            --event FILE [--sign KEYFILE] [options]

      --event FILE       exact event bytes (sent as they are, not re-encoded)
      --sign KEYFILE     sign the event bytes with this Ed25519 key; without
                         it the signature is 64 zero bytes
      --flip-sig         flip one bit of the signature
      --sig-len N        signature frame of N bytes (cut, or padded with 0)
      --key-id TEXT      key id frame (default: the signing key's id)
      --protocol TEXT    first frame (default SEINPOST1)
      --command TEXT     second frame (default EMIT)
      --correlation TEXT third frame (default "raw-1"; may be empty)
      --extra-frame TEXT append a frame (repeatable)
      --drop-frame N     leave out frame N, counted from 0 (repeatable)
      --timeout MS       how long to wait for the reply (default 5000)

    Exit status: 0 a reply came, 1 no reply in time, 2 usage or setup error.
*/
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seinpost.h"
#include "sp_proto.h"
#include "sp_util.h"

#define RAW_MAX_FRAMES 16
#define RAW_MAX_LIST 8
#define RAW_MAX_EVENT (1u << 20)

typedef struct {
    const char *endpoint, *curve_secret, *server_key;
    const char *event_path, *sign_path;
    const char *key_id, *protocol, *command, *correlation;
    const char *extra[RAW_MAX_LIST];
    int extra_count;
    int drop[RAW_MAX_LIST];
    int drop_count;
    int sig_len;
    bool flip_sig;
    int timeout_ms;
} raw_opts_t;

/*  The message to send: pointers into the options, the event and sig.   */
typedef struct {
    const void *data[RAW_MAX_FRAMES];
    size_t size[RAW_MAX_FRAMES];
    size_t count;
} raw_msg_t;

static void s_usage(void)
{
    fprintf(stderr, "usage: rawemit --endpoint E [--curve-secret FILE --server-key Z85]\n"
            "               --event FILE [--sign KEYFILE] [--flip-sig] [--sig-len N]\n"
            "               [--key-id HEX] [--protocol T] [--command T] [--correlation T]\n"
            "               [--extra-frame T]... [--drop-frame N]... [--timeout MS]\n");
}

static int s_add(const char **list, int *count, const char *value)
{
    if (*count == RAW_MAX_LIST)
        return -1;
    list[(*count)++] = value;
    return 0;
}

static int s_add_drop(raw_opts_t *opts, const char *value)
{
    if (opts->drop_count == RAW_MAX_LIST)
        return -1;
    opts->drop[opts->drop_count++] = atoi(value);
    return 0;
}

static int s_parse_args(raw_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "curve-secret", required_argument, NULL, 'c' },
        { "server-key", required_argument, NULL, 'k' },
        { "event", required_argument, NULL, 'f' }, { "sign", required_argument, NULL, 's' },
        { "flip-sig", no_argument, NULL, 'F' }, { "sig-len", required_argument, NULL, 'L' },
        { "key-id", required_argument, NULL, 'i' },
        { "protocol", required_argument, NULL, 'p' },
        { "command", required_argument, NULL, 'm' },
        { "correlation", required_argument, NULL, 'r' },
        { "extra-frame", required_argument, NULL, 'x' },
        { "drop-frame", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
    int opt, rc = 0;
    *opts = (raw_opts_t) { .protocol = SP_PROTOCOL, .command = SP_CMD_EMIT,
                           .correlation = "raw-1", .sig_len = SP_SIGNATURE_SIZE,
                           .timeout_ms = 5000 };
    while (rc == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'e': opts->endpoint = optarg; break;
        case 'c': opts->curve_secret = optarg; break;
        case 'k': opts->server_key = optarg; break;
        case 'f': opts->event_path = optarg; break;
        case 's': opts->sign_path = optarg; break;
        case 'F': opts->flip_sig = true; break;
        case 'L': opts->sig_len = atoi(optarg); break;
        case 'i': opts->key_id = optarg; break;
        case 'p': opts->protocol = optarg; break;
        case 'm': opts->command = optarg; break;
        case 'r': opts->correlation = optarg; break;
        case 'x': rc = s_add(opts->extra, &opts->extra_count, optarg); break;
        case 'd': rc = s_add_drop(opts, optarg); break;
        case 't': opts->timeout_ms = atoi(optarg); break;
        default: rc = -1;
        }
    }
    if (rc != 0 || !opts->endpoint || !opts->event_path || opts->sig_len < 0
        || opts->sig_len > 2 * SP_SIGNATURE_SIZE
        || (opts->curve_secret != NULL) != (opts->server_key != NULL)) {
        s_usage();
        return -1;
    }
    return 0;
}

/*  Fills sig (2 * SP_SIGNATURE_SIZE bytes, zeroed) and the key id.      */
static int s_sign(const raw_opts_t *opts, const char *event, size_t len,
                  uint8_t *sig, char key_id[SP_KEY_ID_SIZE + 1])
{
    char err[256] = "";
    memset(sig, 0, 2 * SP_SIGNATURE_SIZE);
    snprintf(key_id, SP_KEY_ID_SIZE + 1, "%s", "0000000000000000");
    if (!opts->sign_path)
        return 0;
    sp_key_t *key = sp_key_load(opts->sign_path, false, err, sizeof err);
    if (!key || sp_key_sign(key, SP_DOMAIN_SIGNAL, event, len, sig) != 0) {
        fprintf(stderr, "rawemit: %s: %s\n", opts->sign_path, err[0] ? err : "cannot sign");
        sp_key_destroy(&key);
        return -1;
    }
    snprintf(key_id, SP_KEY_ID_SIZE + 1, "%s", sp_key_id(key));
    sp_key_destroy(&key);
    return 0;
}

static void s_push(raw_msg_t *msg, const void *data, size_t size)
{
    if (msg->count == RAW_MAX_FRAMES)
        return;
    msg->data[msg->count] = data;
    msg->size[msg->count++] = size;
}

static void s_drop(raw_msg_t *msg, int index)
{
    if (index < 0 || (size_t) index >= msg->count)
        return;
    for (size_t i = (size_t) index; i + 1 < msg->count; i++) {
        msg->data[i] = msg->data[i + 1];
        msg->size[i] = msg->size[i + 1];
    }
    msg->count--;
}

static int s_cmp_desc(const void *a, const void *b)
{
    return *(const int *) b - *(const int *) a;
}

/*  The six EMIT frames, then extras; drops apply to that list, highest
    index first so that the numbers keep their meaning.                */
static void s_build(raw_opts_t *opts, raw_msg_t *msg, const char *key_id,
                    const uint8_t *sig, const char *event, size_t event_len)
{
    memset(msg, 0, sizeof *msg);
    s_push(msg, opts->protocol, strlen(opts->protocol));
    s_push(msg, opts->command, strlen(opts->command));
    s_push(msg, opts->correlation, strlen(opts->correlation));
    s_push(msg, key_id, strlen(key_id));
    s_push(msg, sig, (size_t) opts->sig_len);
    s_push(msg, event, event_len);
    for (int i = 0; i < opts->extra_count; i++)
        s_push(msg, opts->extra[i], strlen(opts->extra[i]));
    qsort(opts->drop, (size_t) opts->drop_count, sizeof opts->drop[0], s_cmp_desc);
    for (int i = 0; i < opts->drop_count; i++)
        s_drop(msg, opts->drop[i]);
}

static void *s_connect(void *zmq, const raw_opts_t *opts)
{
    char pub[41], sec[41], err[256] = "";
    int zero = 0;
    void *sock = zmq_socket(zmq, ZMQ_DEALER);
    if (!sock)
        return NULL;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (opts->curve_secret) {
        if (sp_curve_load(opts->curve_secret, pub, sec, err, sizeof err) != 0
            || sp_socket_curve_client(sock, pub, sec, opts->server_key) != 0) {
            fprintf(stderr, "rawemit: CURVE: %s\n", err[0] ? err : zmq_strerror(zmq_errno()));
            zmq_close(sock);
            return NULL;
        }
    }
    if (zmq_connect(sock, opts->endpoint) != 0) {
        fprintf(stderr, "rawemit: %s: %s\n", opts->endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/*  Prints frames 1.. of the reply: "COMMAND CODE REASON" for a normal
    reply (the correlation frame is left out), all frames otherwise.    */
static void s_print_reply(sp_frames_t *f)
{
    char text[1024];
    if (f->count == SP_REPLY_FRAMES) {
        const size_t shown[] = { SP_REPLY_COMMAND, SP_REPLY_CODE, SP_REPLY_REASON };
        for (size_t i = 0; i < 3; i++) {
            if (sp_frame_string(f, shown[i], text, sizeof text) != 0)
                snprintf(text, sizeof text, "?");
            printf(i < 2 ? "%s " : "%s\n", text);
        }
        return;
    }
    printf("UNEXPECTED");
    for (size_t i = 0; i < f->count; i++)
        printf(" %s", sp_frame_string(f, i, text, sizeof text) == 0 ? text : "?");
    printf("\n");
}

static int s_exchange(void *sock, const raw_msg_t *msg, int timeout_ms)
{
    sp_frames_t reply;
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    if (sp_send_parts(sock, msg->data, msg->size, msg->count, 0) != 0) {
        fprintf(stderr, "rawemit: send: %s\n", zmq_strerror(zmq_errno()));
        return 2;
    }
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        fprintf(stderr, "rawemit: no reply within %d ms\n", timeout_ms);
        return 1;
    }
    if (sp_frames_recv(&reply, sock, SP_MAX_FRAMES, 1 << 16, 0) != 0)
        return 1;
    s_print_reply(&reply);
    sp_frames_close(&reply);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    raw_opts_t opts;
    raw_msg_t msg;
    uint8_t sig[2 * SP_SIGNATURE_SIZE];
    char key_id[SP_KEY_ID_SIZE + 1];
    size_t event_len = 0;
    int rc = 2;
    if (s_parse_args(&opts, argc, argv) != 0)
        return 2;
    char *event = sp_file_read(opts.event_path, RAW_MAX_EVENT, &event_len);
    if (!event) {
        fprintf(stderr, "rawemit: cannot read %s\n", opts.event_path);
        return 2;
    }
    if (s_sign(&opts, event, event_len, sig, key_id) != 0)
        goto cleanup;
    if (opts.flip_sig)
        sig[0] ^= 0x01;
    s_build(&opts, &msg, opts.key_id ? opts.key_id : key_id, sig, event, event_len);
    void *zmq = zmq_ctx_new();
    void *sock = zmq ? s_connect(zmq, &opts) : NULL;
    if (sock) {
        rc = s_exchange(sock, &msg, opts.timeout_ms);
        zmq_close(sock);
    }
    if (zmq)
        zmq_ctx_term(zmq);
cleanup:
    free(event);
    return rc;
}
