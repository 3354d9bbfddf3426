/*  sp_http_sink.h - hands signals on to an HTTP sink as NL GOV CloudEvents
    webhooks (docs/protocol.md 15.1): POST of the exact event bytes with
    Content-Type application/cloudevents+json, an optional Bearer token,
    and Standard Webhooks signature headers (webhook-id, webhook-timestamp,
    webhook-signature "v1a,<base64 Ed25519>"). One libcurl easy handle,
    reused, so the connection stays open between signals. Internal to
    libseinpost.

    Only 200, 201, 202 and 204 count as handed on. 410 Gone stops the sink
    for good (every later post fails at once); 429 makes it send nothing
    before the Retry-After the sink named.                              */
#ifndef SP_HTTP_SINK_H_INCLUDED
#define SP_HTTP_SINK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sp_http_sink sp_http_sink_t;

typedef struct {
    const char *url;                /* https://…; http:// only to loopback */
    const char *bearer_token_file;  /* mode 0600; NULL: no Authorization */
    const char *signing_key;        /* Ed25519 PEM, mode 0600; NULL: no
                                       webhook-signature header */
    const char *origin;             /* WebHook-Request-Origin; required */
    int64_t timeout_ms;             /* per request; 0: 10 s */
    bool insecure_http;             /* allow http:// to any host */
} sp_http_sink_conf_t;

typedef enum {
    SP_HTTP_SINK_OK,        /* the sink answered 200, 201, 202 or 204 */
    SP_HTTP_SINK_FAILED,    /* not handed on; try again later */
    SP_HTTP_SINK_GONE       /* 410 Gone, now or before: stop */
} sp_http_sink_result_t;

/*  Checks the URL, reads the token and the key (refusing files group or
    others may access). NULL with a reason in err (never the token).     */
sp_http_sink_t *sp_http_sink_new(const sp_http_sink_conf_t *conf, char *err, size_t errlen);
void sp_http_sink_destroy(sp_http_sink_t **self_p);

/*  The abuse-protection handshake: OPTIONS with WebHook-Request-Origin;
    0 when the sink answered 200 or 204 with a WebHook-Allowed-Origin of
    our origin or "*", else -1 with the reason in err.                  */
int sp_http_sink_handshake(sp_http_sink_t *self, char *err, size_t errlen);

/*  POSTs body (the event bytes, unchanged) under webhook-id id. On
    anything but SP_HTTP_SINK_OK, sp_http_sink_error() says why.        */
sp_http_sink_result_t sp_http_sink_post(sp_http_sink_t *self, const char *id,
                                        const void *body, size_t len);
const char *sp_http_sink_error(const sp_http_sink_t *self);

/*  The Standard Webhooks public key the receiver verifies with:
    "whpk_<base64 of the 32-byte Ed25519 public key>"; -1 without a
    signing key or when buf is too small (it needs 50 bytes).          */
int sp_http_sink_public_text(const sp_http_sink_t *self, char *buf, size_t len);

#endif
