/*  sp_emitter.c - EMIT signed signals over a DEALER socket.               */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seinpost.h"
#include "sp_proto.h"

struct sp_emitter {
    void *zmq;
    void *socket;
    const sp_key_t *key;
    uint64_t next_correlation;
};

/*  endpoint may list several, comma-separated: the nodes that take turns
    on one PostgreSQL database, of which only the active one listens.
    With more than one, messages go only to a connection that is up
    (ZMQ_IMMEDIATE), so that none waits in the queue of a node that is
    not listening; the send's timeout bounds the wait for one.         */
static int s_connect_all(void *socket, const char *endpoint, char *err, size_t errlen)
{
    char *list = strdup(endpoint), *save = NULL;
    int rc = 0, one = 1;
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strchr(list, ','))
        zmq_setsockopt(socket, ZMQ_IMMEDIATE, &one, sizeof one);
    for (char *item = strtok_r(list, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        item += strspn(item, " ");
        if (*item && zmq_connect(socket, item) != 0) {
            snprintf(err, errlen, "%s: %s", item, zmq_strerror(zmq_errno()));
            rc = -1;
        }
    }
    free(list);
    return rc;
}

sp_emitter_t *sp_emitter_new(const char *endpoint, const sp_key_t *key,
                             const char *curve_server_key,
                             const char *curve_secret_file,
                             char *err, size_t errlen)
{
    sp_emitter_t *self = calloc(1, sizeof *self);
    int zero = 0;
    if (!self || !key || !sp_key_has_secret(key)) {
        snprintf(err, errlen, "emitter needs a secret signing key");
        free(self);
        return NULL;
    }
    self->key = key;
    self->zmq = zmq_ctx_new();
    self->socket = self->zmq ? zmq_socket(self->zmq, ZMQ_DEALER) : NULL;
    if (!self->socket)
        goto failed;
    zmq_setsockopt(self->socket, ZMQ_LINGER, &zero, sizeof zero);
    if (curve_server_key && curve_secret_file) {
        char pub[41], sec[41];
        if (sp_curve_load(curve_secret_file, pub, sec, err, errlen) != 0)
            goto cleanup;
        int rc = sp_socket_curve_client(self->socket, pub, sec, curve_server_key);
        sodium_memzero(sec, sizeof sec);
        if (rc != 0)
            goto failed;
    }
    if (s_connect_all(self->socket, endpoint, err, errlen) != 0)
        goto cleanup;
    return self;
failed:
    snprintf(err, errlen, "%s: %s", endpoint, zmq_strerror(zmq_errno()));
cleanup:
    sp_emitter_destroy(&self);
    return NULL;
}

void sp_emitter_destroy(sp_emitter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_emitter_t *self = *self_p;
    if (self->socket)
        zmq_close(self->socket);
    if (self->zmq)
        zmq_ctx_term(self->zmq);
    free(self);
    *self_p = NULL;
}

int sp_emitter_send(sp_emitter_t *self, const char *correlation,
                    const void *event, size_t len)
{
    uint8_t sig[SP_SIGNATURE_SIZE];
    if (sp_key_sign(self->key, SP_DOMAIN_SIGNAL, event, len, sig) != 0)
        return -1;
    return sp_emitter_send_signed(self, correlation, event, len, sig);
}

int sp_emitter_send_signed(sp_emitter_t *self, const char *correlation,
                           const void *event, size_t len,
                           const uint8_t sig[SP_SIGNATURE_SIZE])
{
    const char *key_id = sp_key_id(self->key);
    const void *parts[] = { SP_PROTOCOL, SP_CMD_EMIT, correlation, key_id, sig, event };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(SP_CMD_EMIT), strlen(correlation),
                       strlen(key_id), SP_SIGNATURE_SIZE, len };
    return sp_send_parts(self->socket, parts, sizes, SP_EMIT_FRAMES, 0);
}

static void s_frame_text(sp_frames_t *f, size_t i, char *buf, size_t len)
{
    size_t size = sp_frame_size(f, i);
    if (size >= len)
        size = len - 1;
    if (size)
        memcpy(buf, sp_frame_data(f, i), size);
    buf[size] = '\0';
}

int sp_emitter_recv(sp_emitter_t *self, sp_reply_t *reply, int timeout_ms)
{
    zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
    sp_frames_t frames;
    memset(reply, 0, sizeof *reply);
    int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return 1;
    if (sp_frames_recv(&frames, self->socket, SP_REPLY_FRAMES, 1 << 16, 0) != 0)
        return -1;
    if (frames.count != SP_REPLY_FRAMES || !sp_frame_is(&frames, 0, SP_PROTOCOL)) {
        sp_frames_close(&frames);
        errno = EPROTO;
        return -1;
    }
    s_frame_text(&frames, SP_REPLY_CORRELATION, reply->correlation, sizeof reply->correlation);
    s_frame_text(&frames, SP_REPLY_CODE, reply->code_name, sizeof reply->code_name);
    s_frame_text(&frames, SP_REPLY_REASON, reply->reason, sizeof reply->reason);
    reply->code = sp_code_from_name(reply->code_name);
    /* frame 1 decides: REJECTED never reads as success, and an ACCEPTED
       with a code this library does not know is still accepted          */
    bool accepted = sp_frame_is(&frames, SP_REPLY_COMMAND, SP_CMD_ACCEPTED);
    if (!accepted && reply->code <= SP_DUPLICATE)
        reply->code = SP_E_INTERNAL;
    else if (accepted && reply->code > SP_DUPLICATE)
        reply->code = SP_OK;
    sp_frames_close(&frames);
    return 0;
}

int sp_emitter_emit(sp_emitter_t *self, const void *event, size_t len,
                    sp_reply_t *reply, int timeout_ms)
{
    char correlation[32];
    snprintf(correlation, sizeof correlation, "c%llu",
             (unsigned long long) ++self->next_correlation);
    /* a DEALER's send waits for a connected peer: a handshake the router
       refuses (an unknown CURVE key, no CURVE) must end in the timeout
       too, not block for ever                                          */
    int send_timeout = timeout_ms;
    zmq_setsockopt(self->socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout);
    if (sp_emitter_send(self, correlation, event, len) != 0)
        return errno == EAGAIN ? 1 : -1;
    for (;;) {
        int rc = sp_emitter_recv(self, reply, timeout_ms);
        if (rc != 0 || strcmp(reply->correlation, correlation) == 0)
            return rc;
        /* a late answer to an earlier, timed-out request: skip it */
    }
}
