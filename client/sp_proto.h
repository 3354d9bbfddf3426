/*  sp_proto.h - ZeroMQ multipart framing for the seinpost protocol
    (docs/protocol.md). Internal to libseinpost and seinpostd.

    Frame 0 of every message is "SEINPOST1", frame 1 the command. A message
    is received whole into sp_frames_t, with limits on frame count and total
    size checked while receiving, so a hostile peer cannot make us hold more
    than max_bytes.
*/
#ifndef SP_PROTO_H_INCLUDED
#define SP_PROTO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>
#include "seinpost.h"

#define SP_MAX_FRAMES 80        /* hard cap: a full batch + header frames */

/*  Commands. */
#define SP_CMD_EMIT     "EMIT"
#define SP_CMD_ACCEPTED "ACCEPTED"
#define SP_CMD_REJECTED "REJECTED"
#define SP_CMD_DELIVER  "DELIVER"
#define SP_CMD_RECEIPT  "RECEIPT"
#define SP_CMD_NACK     "NACK"
#define SP_CMD_FETCH    "FETCH"           /* partner -> router (7.4) */
#define SP_CMD_FETCHED  "FETCHED"         /* router -> partner */
#define SP_CMD_FETCH_REFUSED "FETCH_REFUSED"

/*  EMIT frame layout (after ROUTER's identity frame on the daemon side). */
enum { SP_EMIT_PROTOCOL, SP_EMIT_COMMAND, SP_EMIT_CORRELATION, SP_EMIT_KEY_ID,
       SP_EMIT_SIGNATURE, SP_EMIT_EVENT, SP_EMIT_FRAMES };
/*  ACCEPTED / REJECTED reply layout. */
enum { SP_REPLY_PROTOCOL, SP_REPLY_COMMAND, SP_REPLY_CORRELATION,
       SP_REPLY_CODE, SP_REPLY_REASON, SP_REPLY_FRAMES };
/*  DELIVER: protocol, command, header JSON, router signature, events...   */
enum { SP_DELIVER_PROTOCOL, SP_DELIVER_COMMAND, SP_DELIVER_HEADER,
       SP_DELIVER_SIGNATURE, SP_DELIVER_FIRST_EVENT };
/*  RECEIPT: protocol, command, receipt JSON, partner signature.           */
enum { SP_RECEIPT_PROTOCOL, SP_RECEIPT_COMMAND, SP_RECEIPT_BODY,
       SP_RECEIPT_SIGNATURE, SP_RECEIPT_FRAMES };
/*  NACK: protocol, command, batch sha256 (hex), code, reason.             */
enum { SP_NACK_PROTOCOL, SP_NACK_COMMAND, SP_NACK_BATCH, SP_NACK_CODE,
       SP_NACK_REASON, SP_NACK_FRAMES };
/*  FETCH: protocol, command, request JSON, partner signature; FETCHED the
    same with the router's answer and signature.                         */
enum { SP_FETCH_PROTOCOL, SP_FETCH_COMMAND, SP_FETCH_BODY, SP_FETCH_SIGNATURE,
       SP_FETCH_FRAMES };
/*  FETCH_REFUSED: protocol, command, request id (may be empty), code,
    reason. Not signed: it can only make the partner ask again.          */
enum { SP_REFUSED_PROTOCOL, SP_REFUSED_COMMAND, SP_REFUSED_REQUEST, SP_REFUSED_CODE,
       SP_REFUSED_REASON, SP_REFUSED_FRAMES };
/*  FETCH_REFUSED codes besides FRAMES_INVALID and STORAGE_UNAVAILABLE.  */
#define SP_FETCH_E_SIGNATURE "FETCH_SIGNATURE_INVALID"
#define SP_FETCH_E_INVALID   "FETCH_INVALID"
#define SP_FETCH_E_RATE      "FETCH_RATE_LIMITED"
/*  Deliveries one FETCH queues at most; a request_id's length.          */
#define SP_FETCH_LIMIT_MAX 1000
#define SP_FETCH_REQUEST_ID_MAX 64

#define SP_CORRELATION_MAX 64

typedef struct {
    zmq_msg_t part[SP_MAX_FRAMES];
    size_t count;               /* frames kept */
    size_t dropped;             /* frames beyond max_frames, discarded */
    size_t total;               /* bytes of all frames, kept or not */
    bool oversize;              /* total exceeded max_bytes: bodies dropped */
} sp_frames_t;

/*  Receives one whole multipart message. Frames past max_frames, and every
    frame once max_bytes is exceeded, are read and discarded but counted.
    Returns 0, or -1 with errno (EAGAIN with ZMQ_DONTWAIT and nothing there). */
int sp_frames_recv(sp_frames_t *self, void *socket, size_t max_frames,
                   size_t max_bytes, int flags);
void sp_frames_close(sp_frames_t *self);
const void *sp_frame_data(sp_frames_t *self, size_t index);
size_t sp_frame_size(sp_frames_t *self, size_t index);
bool sp_frame_is(sp_frames_t *self, size_t index, const char *text);
/*  Copies frame index as a NUL-terminated string into buf; -1 if it does not
    fit or contains a NUL byte.                                            */
int sp_frame_string(sp_frames_t *self, size_t index, char *buf, size_t len);

/*  True when text is only printable ASCII (0x20..0x7e): safe to echo,
    log and put into JSON.                                              */
bool sp_text_printable(const char *text);
/*  True when text is exactly len lower-case hex digits.                */
bool sp_text_hex(const char *text, size_t len);

/*  Sends count frames. Returns 0 or -1 (errno from zmq_send).             */
int sp_send_parts(void *socket, const void *const *data, const size_t *size,
                  size_t count, int flags);

/*  Applies CURVE server or client options, linger 0 and a receive size cap.
    server_secret_z85: the node's secret key when acting as server (NULL
    otherwise). For a client: client public+secret and server public.    */
int sp_socket_curve_server(void *socket, const char *secret_z85);
int sp_socket_curve_client(void *socket, const char *public_z85,
                           const char *secret_z85, const char *server_z85);

/*  Reads a CURVE key file written by `seinpost keygen --curve`: lines
    "public: <z85>" and "secret: <z85>". secret may be NULL.               */
int sp_curve_load(const char *path, char public_z85[41], char secret_z85[41],
                  char *err, size_t errlen);
int sp_curve_generate(const char *path, char public_z85[41]);

#endif
