/*  cmd_admin.c - one request on the daemon's admin socket (ipc://).       */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "sp_proto.h"

#define CMD_ADMIN_TIMEOUT_MS 10000

/*  Sends command with its JSON argument; returns the OK answer, or NULL
    with the daemon's refusal (*refused) or why there was no answer.      */
json_t *cmd_admin(const char *endpoint, const char *command, json_t *arg,
                  bool *refused, char *err, size_t errlen)
{
    void *zmq = zmq_ctx_new(), *sock = zmq ? zmq_socket(zmq, ZMQ_DEALER) : NULL;
    int zero = 0;
    json_t *result = NULL;
    sp_frames_t frames;
    char *body = arg ? json_dumps(arg, JSON_COMPACT) : NULL;
    const void *parts[] = { SP_PROTOCOL, command, body };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(command), body ? strlen(body) : 0 };
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    *refused = false;
    snprintf(err, errlen, "no answer from the daemon at %s", endpoint);
    if (!sock || (arg && !body))
        goto cleanup;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(sock, endpoint) != 0 || sp_send_parts(sock, parts, sizes, body ? 3 : 2, 0) != 0
        || zmq_poll(&item, 1, CMD_ADMIN_TIMEOUT_MS) <= 0
        || sp_frames_recv(&frames, sock, 4, 16 << 20, 0) != 0)
        goto cleanup;
    if (frames.count == 3 && sp_frame_is(&frames, 1, "OK"))
        result = json_loadb(sp_frame_data(&frames, 2), sp_frame_size(&frames, 2),
                            JSON_DECODE_ANY, NULL);
    else if (frames.count == 3) {
        *refused = true;
        sp_frame_string(&frames, 2, err, errlen);
    }
    sp_frames_close(&frames);
cleanup:
    free(body);
    if (sock)
        zmq_close(sock);
    if (zmq)
        zmq_ctx_term(zmq);
    return result;
}
