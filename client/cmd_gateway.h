/*  cmd_gateway.h - `seinpost gateway`: an HTTP ingress for emitters that
    cannot link C (docs/protocol.md 15.2). POST /events with a CloudEvent
    is signed with the emitter's key, sent as EMIT, and answered after the
    router's ACCEPTED or REJECTED: 201/200, or application/problem+json
    carrying the seinpost code.

    cmd_gateway.c       the command: listening socket, signals, start/stop
    cmd_gateway_conf.c  gateway.yaml: the emitter's keys and the gateway block
    cmd_gateway_http.c  the requests (libmicrohttpd): auth, checks, EMIT    */
#ifndef CMD_GATEWAY_H_INCLUDED
#define CMD_GATEWAY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "seinpost.h"

/*  The NL GOV CloudEvents profile: intermediaries forward events up to
    64 KB; the router's default max_message_bytes is the same.           */
#define GATEWAY_MAX_BODY 65536

typedef struct {
    char *path;
    /* the emitter, as in conf/client.yaml */
    char *endpoint;
    sp_key_t *signing_key;
    char *curve_secret_path;
    char *server_curve_public;
    /* the gateway block */
    char *listen;               /* HOST:PORT, or NULL */
    char *unix_path;            /* or a unix socket */
    bool public_ok;             /* listen may be a non-loopback address */
    uid_t *uids;                /* unix: the peers that may post */
    size_t uid_count;
    bool has_token;
    uint8_t token_sha256[SP_SHA256_SIZE];   /* never the token itself */
    int timeout_ms;             /* lock + router's answer, per request */
} gateway_conf_t;

/*  Loads and checks gateway.yaml; NULL with "file:line: why" in err.    */
gateway_conf_t *gateway_conf_load(const char *path, char *err, size_t errlen);
void gateway_conf_destroy(gateway_conf_t **self_p);

typedef struct gateway gateway_t;

/*  Serves HTTP on the listening socket fd (taken over, closed at stop)
    with libmicrohttpd's threads; EMITs go through emitter one at a time.
    conf and emitter are borrowed and must outlive the gateway.          */
gateway_t *gateway_http_start(const gateway_conf_t *conf, sp_emitter_t *emitter,
                              int fd, char *err, size_t errlen);
void gateway_http_stop(gateway_t **self_p);

#endif
