/*  fakepartner.c - bad-input catalogue helper (compiled by tests/badinput/run).

    fakepartner receipt ENDPOINT CURVE_SECRET SIGNKEY BODY NFRAMES [PROTOCOL]
        Binds ENDPOINT as a partner would (CURVE server with the partner's
        secret), waits up to 5 s for the daemon to connect, and sends it one
        crafted RECEIPT: frame 0 PROTOCOL (default "SEINPOST2", the delivery
        link's), BODY signed with SIGNKEY (domain "seinpost/2 receipt"; with
        PROTOCOL "SEINPOST1", SEINPOST1's "seinpost/1 receipt", as an old
        partner signs), NFRAMES frames (4 is well formed; fewer drops the
        signature). Exit 0 when sent, 1 when the daemon never connected.

    fakepartner sigover ENDPOINT CURVE_SECRET SERVER_KEY SIGNKEY SIGNFILE SENDFILE
        An EMIT whose signature (by SIGNKEY, with its key id) is over the
        bytes of SIGNFILE while the event frame carries SENDFILE. Prints the
        reply as "COMMAND CODE REASON"; exit 1 when no reply in 5 s.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seinpost.h"
#include "sp_proto.h"
#include "sp_util.h"

static sp_key_t *s_key(const char *path)
{
    char err[256] = "";
    sp_key_t *key = sp_key_load(path, false, err, sizeof err);
    if (!key)
        fprintf(stderr, "fakepartner: %s: %s\n", path, err);
    return key;
}

static void s_nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int s_receipt(char **argv)
{
    const char *endpoint = argv[0], *curve = argv[1], *keyfile = argv[2], *body = argv[3];
    const char *protocol = argv[5] ? argv[5] : SP_PROTOCOL_DELIVERY;
    const char *domain = strcmp(protocol, SP_PROTOCOL) == 0 ? SP_DOMAIN_RECEIPT_V1
                                                            : SP_DOMAIN_RECEIPT;
    int nframes = atoi(argv[4]), rc = 1, zero = 0;
    char pub[41], sec[41], err[256] = "";
    uint8_t sig[SP_SIGNATURE_SIZE];
    sp_key_t *key = s_key(keyfile);
    if (!key || sp_key_sign(key, domain, body, strlen(body), sig) != 0)
        return 2;
    sp_key_destroy(&key);
    if (sp_curve_load(curve, pub, sec, err, sizeof err) != 0) {
        fprintf(stderr, "fakepartner: %s: %s\n", curve, err);
        return 2;
    }
    void *zmq = zmq_ctx_new();
    void *sock = zmq_socket(zmq, ZMQ_DEALER);
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (sp_socket_curve_server(sock, sec) != 0 || zmq_bind(sock, endpoint) != 0) {
        fprintf(stderr, "fakepartner: bind %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        zmq_ctx_term(zmq);
        return 2;
    }
    const void *parts[] = { protocol, SP_CMD_RECEIPT, body, sig };
    size_t sizes[] = { strlen(protocol), strlen(SP_CMD_RECEIPT), strlen(body), sizeof sig };
    if (nframes < 1 || nframes > 4)
        nframes = 4;
    /* a bound DEALER refuses to send (EAGAIN) until the daemon's DEALER
       has completed its CURVE handshake                                 */
    for (int i = 0; i < 100; i++) {
        if (sp_send_parts(sock, parts, sizes, (size_t) nframes, ZMQ_DONTWAIT) == 0) {
            rc = 0;
            break;
        }
        s_nap_ms(50);
    }
    if (rc == 0)
        s_nap_ms(300);          /* let it leave before the socket closes */
    else
        fprintf(stderr, "fakepartner: the daemon did not connect within 5 s\n");
    zmq_close(sock);
    zmq_ctx_term(zmq);
    return rc;
}

static int s_sigover(char **argv)
{
    const char *endpoint = argv[0], *curve = argv[1], *server_key = argv[2];
    size_t sign_len = 0, send_len = 0;
    char pub[41], sec[41], err[256] = "", text[1024];
    uint8_t sig[SP_SIGNATURE_SIZE];
    int zero = 0, rc = 1;
    sp_key_t *key = s_key(argv[3]);
    char *signed_bytes = sp_file_read(argv[4], 1u << 20, &sign_len);
    char *sent_bytes = sp_file_read(argv[5], 1u << 20, &send_len);
    if (!key || !signed_bytes || !sent_bytes
        || sp_key_sign(key, SP_DOMAIN_SIGNAL, signed_bytes, sign_len, sig) != 0
        || sp_curve_load(curve, pub, sec, err, sizeof err) != 0) {
        fprintf(stderr, "fakepartner: setup failed %s\n", err);
        return 2;
    }
    char key_id[SP_KEY_ID_SIZE + 1];
    snprintf(key_id, sizeof key_id, "%s", sp_key_id(key));
    sp_key_destroy(&key);
    void *zmq = zmq_ctx_new();
    void *sock = zmq_socket(zmq, ZMQ_DEALER);
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (sp_socket_curve_client(sock, pub, sec, server_key) != 0
        || zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "fakepartner: connect: %s\n", zmq_strerror(zmq_errno()));
        rc = 2;
        goto done;
    }
    const void *parts[] = { SP_PROTOCOL, SP_CMD_EMIT, "sigover-1", key_id, sig, sent_bytes };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(SP_CMD_EMIT), 9, strlen(key_id),
                       sizeof sig, send_len };
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    sp_frames_t reply;
    if (sp_send_parts(sock, parts, sizes, 6, 0) != 0 || zmq_poll(&item, 1, 5000) <= 0
        || sp_frames_recv(&reply, sock, SP_MAX_FRAMES, 1 << 16, 0) != 0) {
        fprintf(stderr, "fakepartner: no reply\n");
        goto done;
    }
    for (size_t i = 1; i < reply.count && i < SP_REPLY_FRAMES; i++) {
        if (i == SP_REPLY_CORRELATION)
            continue;
        if (sp_frame_string(&reply, i, text, sizeof text) != 0)
            snprintf(text, sizeof text, "?");
        printf(i + 1 < SP_REPLY_FRAMES ? "%s " : "%s\n", text);
    }
    sp_frames_close(&reply);
    rc = 0;
done:
    zmq_close(sock);
    zmq_ctx_term(zmq);
    free(signed_bytes);
    free(sent_bytes);
    return rc;
}

int main(int argc, char **argv)
{
    if ((argc == 7 || argc == 8) && strcmp(argv[1], "receipt") == 0)
        return s_receipt(argv + 2);     /* argv[argc] is NULL: no PROTOCOL */
    if (argc == 8 && strcmp(argv[1], "sigover") == 0)
        return s_sigover(argv + 2);
    fprintf(stderr, "usage: fakepartner receipt ENDPOINT CURVE_SECRET SIGNKEY BODY NFRAMES "
            "[PROTOCOL]\n"
            "       fakepartner sigover ENDPOINT CURVE_SECRET SERVER_KEY SIGNKEY "
            "SIGNFILE SENDFILE\n");
    return 2;
}
