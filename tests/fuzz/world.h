/*  world.h - shared by the libFuzzer harnesses that drive the real daemon
    (fuzz_frames.c, fuzz_receipt.c): a throw-away seinpostd instance built
    from a generated configuration, plus the harness's own sockets.

    The world lives in a temporary directory (under /dev/shm when it is
    writable, so the SQLite store costs no disk I/O), holds freshly
    generated Ed25519 keys and a seinpost.yaml with ipc:// endpoints only,
    and runs a server_t made by server_new() - the daemon's own start-up
    path (config_load, store_open, vault, audit, bind, deliver_setup).

    Input encoding shared by the harnesses: byte 0 is a mode byte (its
    meaning is per harness; the corpora use ASCII digits), the rest is a
    list of ZeroMQ frames separated by FZ_SEPARATOR ("\n--\n"). Two
    separators in a row make an empty frame; a frame cannot contain the
    separator itself. At most FZ_MAX_FRAMES frames are sent (the rest of
    the input becomes part of the last frame).
*/
#ifndef FUZZ_WORLD_H_INCLUDED
#define FUZZ_WORLD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "sp_proto.h"

#define FZ_SEPARATOR "\n--\n"
#define FZ_SEPARATOR_LEN 4
#define FZ_MAX_FRAMES 100
#define FZ_WAIT_MS 5000         /* ipc is asynchronous; this is a hang guard */

/*  Typical first event time of the generated signals. clock_skew is off
    in the generated config, so any valid RFC 3339 time is accepted.     */
#define FZ_OIN_A "00000001001234567000"
#define FZ_OIN_B "00000001009876543000"

typedef struct {
    const void *data[FZ_MAX_FRAMES];
    size_t size[FZ_MAX_FRAMES];
    size_t count;
} fz_frames_t;

/*  Splits data into frames on FZ_SEPARATOR; always yields >= 1 frame.    */
void fz_split(const uint8_t *data, size_t size, fz_frames_t *out);

typedef struct {
    char dir[256];              /* realpath of the temp directory */
    char config[320];
    sp_key_t *node;             /* router signing key */
    sp_key_t *emitter[2];       /* burgerzaken-tilburg, burgerzaken-breda */
    sp_key_t *partner[2];       /* toeslagen, belastingdienst */
    server_t *server;
    void *zmq;                  /* the harness's own context */
    void *emitter_sock;         /* DEALER, connected to the ingress */
    void *partner_sock[2];      /* DEALER bound where subscriber i connects */
    uint64_t serial;            /* makes generated event ids unique */
} fz_world_t;

/*  Prints the message and aborts: libFuzzer records the input as a crash. */
void fz_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*  True when SEINPOST_FUZZ_TOLERATE (a comma-separated list) names a known
    bug whose oracle should stay quiet until it is fixed.                 */
bool fz_tolerate(const char *bug);

/*  Writes keys and config into a new temp directory named after the
    harness, starts the server and connects the harness sockets. Dies on
    failure (a harness that cannot set up must not report "no findings"). */
void fz_world_start(fz_world_t *self, const char *name);
/*  Throws the server and its database away and starts a fresh one with the
    same keys and configuration (keeps the store small on long runs).    */
void fz_world_restart(fz_world_t *self);
/*  Stops everything and removes the temp directory.                      */
void fz_world_stop(fz_world_t *self);

/*  One turn of the daemon's event loop as server.c/loop.c run it, minus
    the blocking poll: every queued EMIT, every partner message, then (when
    dispatch is true) timers and dispatch, then the group commit, then the
    replies. A failed transaction is a finding: nothing the harnesses send
    should make SQLite fail on a tmpfs.                                  */
void fz_turn(fz_world_t *self, bool dispatch);

/*  1 when socket has input within timeout_ms, 0 otherwise.               */
int fz_wait(void *socket, int timeout_ms);
/*  Reads and discards everything queued on socket; returns messages read. */
int fz_drain(void *socket);

/*  Sends frames on socket (blocking). Dies when ZeroMQ refuses.          */
void fz_send(void *socket, const fz_frames_t *frames);

/*  Emits one valid, signed signal of type with the given gemeentecode as
    emitter 0 and runs turns until its reply; dies unless ACCEPTED.      */
void fz_emit_valid(fz_world_t *self, const char *type, const char *gemeente);

#endif
