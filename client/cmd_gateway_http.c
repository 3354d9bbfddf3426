/*  cmd_gateway_http.c - the gateway's requests (docs/protocol.md 15.2).

    libmicrohttpd runs a thread per connection (at most GATEWAY_CONNECTIONS),
    so that a refusal (401, 415, ...) never waits behind an EMIT; the EMITs
    themselves go one at a time over the one DEALER socket, which is not
    thread-safe. Each request waits at most the configured timeout in all,
    for its turn and the router's answer.

    Checks before the body is read: peer uid (unix socket), bearer token,
    path, method, Content-Type, Content-Length. Then the body is checked
    against the profile with the router's own parser (sp_event.c) before
    it is signed, so that the emitter's key signs only CloudEvents and a
    client learns of a bad one without a round trip; the exact bytes
    posted are signed and sent, so that a resend of the same body is
    answered DUPLICATE.

    Neither the body nor the token is ever logged: a log line carries the
    status, the seinpost code and the event's id.                       */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "cmd_gateway.h"
#include "sp_event.h"
#include "sp_util.h"

#define GATEWAY_CONNECTIONS 16u
#define GATEWAY_IDLE_S 30u
#define MEDIA_TYPE "application/cloudevents+json"
/*  A chunked body past the limit is read and dropped to answer 413; far
    past it, the connection is closed instead.                          */
#define DROP_MAX (16 * GATEWAY_MAX_BODY)

struct gateway {
    const gateway_conf_t *conf;
    sp_emitter_t *emitter;
    pthread_mutex_t lock;       /* held for one EMIT and its answer */
    struct MHD_Daemon *http;
};

typedef struct {
    char *body;                 /* GATEWAY_MAX_BODY + 1 bytes */
    size_t len;
    size_t dropped;             /* bytes past the limit, not kept */
} request_t;

/*  HTTP status for a seinpost code (the table in protocol.md 15.2);
    *retry_after: seconds for Retry-After, 0 for none.                  */
static unsigned s_status(sp_code_t code, unsigned *retry_after)
{
    *retry_after = 0;
    switch (code) {
    case SP_OK: return MHD_HTTP_CREATED;
    case SP_DUPLICATE: return MHD_HTTP_OK;
    case SP_E_UTF8: case SP_E_JSON: case SP_E_JSON_DEPTH: case SP_E_JSON_DUPLICATE_KEY:
    case SP_E_JSON_NUMBER: case SP_E_JSON_LIMIT: case SP_E_NOT_OBJECT:
        return MHD_HTTP_BAD_REQUEST;
    case SP_E_ATTR_MISSING: case SP_E_ATTR_TYPE: case SP_E_ATTR_NAME: case SP_E_ATTR_INVALID:
    case SP_E_SPECVERSION: case SP_E_SOURCE: case SP_E_OIN: case SP_E_TIME:
    case SP_E_CLOCK_SKEW: case SP_E_TYPE_UNKNOWN: case SP_E_DATA_MISSING: case SP_E_DATA_TYPE:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case SP_E_NOT_ALLOWED: case SP_E_SOURCE_MISMATCH: return MHD_HTTP_FORBIDDEN;
    case SP_E_REPLAY: return MHD_HTTP_CONFLICT;
    case SP_E_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
    case SP_E_STORAGE: case SP_E_SHUTTING_DOWN: *retry_after = 5; return MHD_HTTP_SERVICE_UNAVAILABLE;
    case SP_E_OVERLOADED: *retry_after = 1; return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        /* the gateway's key, CURVE key or framing refused, or a fault in
           the router: nothing the client can change in the event       */
        return MHD_HTTP_BAD_GATEWAY;
    }
}

/*  Queues body (a JSON object, taken) as the answer; headers: pairs of
    name and value, NULL-ended.                                          */
static enum MHD_Result s_send(struct MHD_Connection *conn, unsigned status,
                              const char *content_type, json_t *body,
                              const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    text[len] = '\n';   /* json_dumps's NUL: a final newline, for curl users */
    struct MHD_Response *response = MHD_create_response_from_buffer(len + 1, text,
                                                                    MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(response, headers[i], headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return rc;
}

/*  RFC 9457 problem details, with the seinpost code as "code". detail is
    a reason of the router's or of sp_event.c: never a value of the
    event; bytes outside printable ASCII become '?' all the same.       */
static enum MHD_Result s_problem(struct MHD_Connection *conn, unsigned status,
                                 const char *code, const char *detail, unsigned retry_after,
                                 const char *const *headers, const char *id)
{
    char clean[256], seconds[16];
    size_t i = 0;
    for (; detail && detail[i] && i < sizeof clean - 1; i++)
        clean[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
    clean[i] = '\0';
    const char *title = MHD_get_reason_phrase_for(status);
    json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "about:blank",
                             "title", title ? title : "", "status", (int) status,
                             "detail", clean, "code", code);
    const char *with_retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, seconds, NULL };
    snprintf(seconds, sizeof seconds, "%u", retry_after);
    sp_log(status >= 500 ? SP_LOG_WARNING : SP_LOG_INFO, "%u %s%s%.64s", status, code,
           id ? " id " : "", id ? id : "");
    return s_send(conn, status, "application/problem+json", body,
                  retry_after ? with_retry : headers);
}

/*  id: the event's, once it passed the profile (for the log).         */
static enum MHD_Result s_code_problem(struct MHD_Connection *conn, sp_code_t code,
                                      const char *detail, const char *id)
{
    unsigned retry_after;
    unsigned status = s_status(code, &retry_after);
    return s_problem(conn, status, sp_code_name(code), detail, retry_after, NULL, id);
}

/*  unix socket: the kernel's word for who connected.                   */
static bool s_peer_allowed(const gateway_t *self, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (!info || getsockopt(info->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    for (size_t i = 0; i < self->conf->uid_count; i++)
        if (self->conf->uids[i] == cred.uid)
            return true;
    sp_log(SP_LOG_NOTICE, "refused peer uid %lu on the unix socket", (unsigned long) cred.uid);
    return false;
}

/*  Compared by SHA-256 with sodium_memcmp: constant time whatever was
    sent, and the length of the real token does not show.               */
static bool s_token_ok(const gateway_t *self, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
        len--;
    uint8_t digest[SP_SHA256_SIZE];
    sp_sha256(token, len, digest);
    return sodium_memcmp(digest, self->conf->token_sha256, sizeof digest) == 0;
}

/*  application/cloudevents+json, parameters allowed; a charset other
    than UTF-8 is not (the profile's JSON is UTF-8).                    */
static bool s_media_type_ok(const char *value)
{
    size_t n = strlen(MEDIA_TYPE);
    if (!value || strncasecmp(value, MEDIA_TYPE, n) != 0)
        return false;
    for (const char *p = value + n; *p; ) {
        p += strspn(p, " \t");
        if (*p != ';' && *p)
            return false;
        p += *p == ';';
        p += strspn(p, " \t");
        size_t len = strcspn(p, ";");
        if (strncasecmp(p, "charset=", 8) == 0) {
            const char *cs = p + 8 + (p[8] == '"');
            if (strncasecmp(cs, "utf-8", 5) != 0 || !strchr("\"; \t", cs[5]))
                return false;
        }
        p += len;
    }
    return true;
}

/*  What can be answered from the headers alone; MHD_YES with nothing
    queued when the request may go on to its body.                      */
static enum MHD_Result s_headers(gateway_t *self, struct MHD_Connection *conn,
                                 const char *url, const char *method, bool *answered)
{
    static const char *const allow[] = { MHD_HTTP_HEADER_ALLOW, "POST", NULL };
    *answered = true;
    if (self->conf->uid_count && !s_peer_allowed(self, conn))
        return s_problem(conn, MHD_HTTP_FORBIDDEN, "PEER_NOT_ALLOWED",
                         "this user may not post to the gateway", 0, NULL, NULL);
    if (self->conf->has_token) {
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        const char *challenge[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE, auth
            ? "Bearer realm=\"seinpost\", error=\"invalid_token\"" : "Bearer realm=\"seinpost\"",
            NULL };
        if (!s_token_ok(self, auth))
            return s_problem(conn, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED", auth
                             ? "the bearer token is not this gateway's"
                             : "a bearer token is needed", 0, challenge, NULL);
    }
    if (strcmp(url, "/events") != 0)
        return s_problem(conn, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "events go to /events", 0,
                         NULL, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return s_problem(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                         "POST a CloudEvent", 0, allow, NULL);
    if (!s_media_type_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE)))
        return s_problem(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "MEDIA_TYPE_UNSUPPORTED",
                         "send one CloudEvent as " MEDIA_TYPE "; charset=utf-8", 0, NULL, NULL);
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > GATEWAY_MAX_BODY)
        return s_code_problem(conn, SP_E_TOO_LARGE, "the event is larger than 65536 bytes",
                              NULL);
    *answered = false;
    return MHD_YES;
}

/*  Waits for the socket until deadline (monotonic ms): false when the
    requests before this one took the time.                             */
static bool s_lock(gateway_t *self, int64_t deadline)
{
    struct timespec until = { .tv_sec = deadline / 1000,
                              .tv_nsec = (long) (deadline % 1000) * 1000000L };
    return pthread_mutex_clocklock(&self->lock, CLOCK_MONOTONIC, &until) == 0;
}

static enum MHD_Result s_accepted(struct MHD_Connection *conn, const sp_reply_t *reply,
                                  const char *id)
{
    bool duplicate = reply->code == SP_DUPLICATE;
    sp_log(SP_LOG_INFO, "%u %s id %.64s", duplicate ? MHD_HTTP_OK : MHD_HTTP_CREATED,
           reply->code_name, id);
    return s_send(conn, duplicate ? MHD_HTTP_OK : MHD_HTTP_CREATED, "application/json",
                  json_pack("{s:s, s:s, s:b}", "id", id, "status", "ACCEPTED",
                            "duplicate", duplicate), NULL);
}

/*  The body is complete: check it, sign it, send it, answer.           */
static enum MHD_Result s_emit(gateway_t *self, struct MHD_Connection *conn, request_t *req)
{
    sp_event_limits_t limits;
    sp_code_t code;
    char reason[200] = "", id[1025];
    sp_reply_t reply;
    sp_event_limits_default(&limits);
    sp_event_t *event = sp_event_parse(req->body, req->len, &limits, &code, reason,
                                       sizeof reason);
    if (!event)
        return s_code_problem(conn, code, reason, NULL);
    snprintf(id, sizeof id, "%s", event->id);
    sp_event_destroy(&event);
    int64_t deadline = sp_clock_ms() + self->conf->timeout_ms, wait = 0;
    if (s_lock(self, deadline) && (wait = deadline - sp_clock_ms()) <= 0)
        pthread_mutex_unlock(&self->lock);
    if (wait <= 0)
        return s_problem(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "GATEWAY_BUSY", "earlier "
                         "requests held the router link for the whole timeout; not sent", 1,
                         NULL, id);
    int rc = sp_emitter_emit(self->emitter, req->body, req->len, &reply, (int) wait);
    pthread_mutex_unlock(&self->lock);
    if (rc != 0)
        return s_problem(conn, MHD_HTTP_GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT", "no answer "
                         "from the router in time: the outcome is unknown; send the same "
                         "body again (a stored one is answered as a duplicate)", 1, NULL, id);
    if (reply.code <= SP_DUPLICATE)
        return s_accepted(conn, &reply, id);
    return s_code_problem(conn, reply.code, reply.reason, id);
}

/*  Keeps at most GATEWAY_MAX_BODY bytes; counts the rest.              */
static enum MHD_Result s_body(request_t *req, const char *data, size_t *len)
{
    if (!req->dropped && req->len + *len <= GATEWAY_MAX_BODY) {
        memcpy(req->body + req->len, data, *len);
        req->len += *len;
    } else {
        req->dropped += *len;
    }
    *len = 0;
    return req->dropped > DROP_MAX ? MHD_NO : MHD_YES;
}

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload, size_t *upload_len, void **state)
{
    gateway_t *self = cls;
    request_t *req = *state;
    (void) version;
    if (!req) {
        bool answered;
        enum MHD_Result rc = s_headers(self, conn, url, method, &answered);
        if (answered)
            return rc;
        req = calloc(1, sizeof *req);
        if (!req || !(req->body = malloc(GATEWAY_MAX_BODY + 1))) {
            free(req);
            return MHD_NO;
        }
        *state = req;
        return MHD_YES;
    }
    if (*upload_len)
        return s_body(req, upload, upload_len);
    if (req->dropped)
        return s_code_problem(conn, SP_E_TOO_LARGE, "the event is larger than 65536 bytes",
                              NULL);
    return s_emit(self, conn, req);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **state,
                        enum MHD_RequestTerminationCode why)
{
    (void) cls; (void) conn; (void) why;
    request_t *req = *state;
    if (!req)
        return;
    /* it may hold personal data (a BSN): not left in freed memory      */
    sodium_memzero(req->body, GATEWAY_MAX_BODY + 1);
    free(req->body);
    free(req);
    *state = NULL;
}

gateway_t *gateway_http_start(const gateway_conf_t *conf, sp_emitter_t *emitter,
                              int fd, char *err, size_t errlen)
{
    gateway_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->conf = conf;
    self->emitter = emitter;
    pthread_mutex_init(&self->lock, NULL);
    self->http = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL
        | MHD_USE_ERROR_LOG, 0, NULL, NULL, s_answer, self,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, GATEWAY_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, GATEWAY_IDLE_S, MHD_OPTION_END);
    if (!self->http) {
        snprintf(err, errlen, "cannot start the HTTP server");
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    return self;
}

void gateway_http_stop(gateway_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gateway_t *self = *self_p;
    MHD_stop_daemon(self->http);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
