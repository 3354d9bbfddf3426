/*  standby.c - waiting for the lease (standby.h).                       */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zmq.h>

#include "metrics.h"
#include "reload.h"
#include "sp_proto.h"
#include "sp_util.h"
#include "standby.h"

#define STANDBY_STEP_MS 100

/*  The admin socket while the node waits: `seinpost status` hears that it
    is a standby and who is active; every other command is refused, since
    only the active node may act on the queue. The metrics endpoint says
    the same to Prometheus.                                            */
typedef struct {
    void *zmq, *admin;
    void *http;                 /* metrics endpoint (metrics.h), or NULL */
    const char *node;
    const char *holder;         /* the last one seen holding the lease, or "" */
    const char *trouble;        /* why the database cannot be asked, or "" */
} s_admin_t;

static void s_admin_open(s_admin_t *a, const config_t *config)
{
    int zero = 0;
    char err[300];
    if (!a->http && metrics_http_start(&a->http, config->metrics_listen, err, sizeof err) != 0)
        sp_log(SP_LOG_WARNING, "standby: %s", err);
    if (!config->admin_endpoint || !(a->zmq = zmq_ctx_new())
        || !(a->admin = zmq_socket(a->zmq, ZMQ_ROUTER)))
        return;
    zmq_setsockopt(a->admin, ZMQ_LINGER, &zero, sizeof zero);
    /* as the active node's (server.c): owner and group at most */
    mode_t umask_before = umask(0);
    umask(umask_before | S_IXUSR | S_IXGRP | S_IRWXO);
    int bound = zmq_bind(a->admin, config->admin_endpoint);
    umask(umask_before);
    if (bound != 0) {
        sp_log(SP_LOG_WARNING, "standby: admin %s: %s", config->admin_endpoint,
               zmq_strerror(zmq_errno()));
        zmq_close(a->admin);
        a->admin = NULL;
    }
}

static void s_admin_close(s_admin_t *a)
{
    metrics_http_stop(&a->http);
    if (a->admin)
        zmq_close(a->admin);
    if (a->zmq)
        zmq_ctx_term(a->zmq);
    a->admin = a->zmq = NULL;
}

static void s_admin_answer(s_admin_t *a, sp_frames_t *f)
{
    char refusal[300];
    char *text = NULL;
    bool status = f->count >= 3 && sp_frame_is(f, 1, SP_PROTOCOL) && sp_frame_is(f, 2, "STATUS");
    if (status) {
        json_t *body = json_pack("{s:s, s:s, s:s}", "node", a->node, "role", "standby",
                                 "active", a->holder);
        if (body && a->trouble[0])
            json_object_set_new(body, "database_error", json_string(a->trouble));
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
    }
    snprintf(refusal, sizeof refusal, "standby: %.200s is active; ask that node",
             a->holder[0] ? a->holder : "another node");
    const char *answer = text ? text : refusal;
    const void *parts[] = { sp_frame_data(f, 0), SP_PROTOCOL, text ? "OK" : "ERROR", answer };
    size_t sizes[] = { sp_frame_size(f, 0), strlen(SP_PROTOCOL), strlen(text ? "OK" : "ERROR"),
                       strlen(answer) };
    sp_send_parts(a->admin, parts, sizes, 4, ZMQ_DONTWAIT);
    free(text);
}

/*  Waits up to ms, answering the admin socket, waking early when *stop
    is set.                                                            */
static void s_nap(s_admin_t *a, int64_t ms, volatile sig_atomic_t *stop)
{
    sp_frames_t frames;
    for (int64_t slept = 0; slept < ms && !*stop; slept += STANDBY_STEP_MS) {
        zmq_pollitem_t item = { a->admin, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&item, a->admin ? 1 : 0, STANDBY_STEP_MS) > 0
            && sp_frames_recv(&frames, a->admin, 8, 1 << 16, ZMQ_DONTWAIT) == 0) {
            s_admin_answer(a, &frames);
            sp_frames_close(&frames);
        }
    }
}

/*  Says once per change who holds the lease, or why it cannot be asked. */
static void s_report(lease_t *lease, int rc, const char *why, char *last, size_t lastlen)
{
    char now[300];
    snprintf(now, sizeof now, "%.290s", rc == 0 ? lease_holder(lease) : why);
    /* the time left changes every try; the holder is what the log wants */
    char *paren = rc == 0 ? strstr(now, " (") : NULL;
    size_t same = paren ? (size_t) (paren - now) : strlen(now);
    if (strncmp(now, last, same) == 0 && last[same] == '\0')
        return;
    snprintf(last, lastlen, "%.*s", (int) same, now);
    if (rc == 0)
        sp_log(SP_LOG_NOTICE, "standby: %s holds the lease; taking over when it runs out",
               now);
    else
        sp_log(SP_LOG_WARNING, "standby: %s; trying again", why);
}

int standby_wait(const config_t *config, volatile sig_atomic_t *stop, lease_t **lease_out,
                 char *err, size_t errlen)
{
    lease_t *lease = lease_new(config->database, config->node_name, config->lease_ms,
                               err, errlen);
    char last[300] = "", why[512] = "", holder[300] = "", trouble[512] = "";
    s_admin_t admin = { .node = config->node_name, .holder = holder, .trouble = trouble };
    if (!lease)
        return -1;
    while (!*stop) {
        int64_t started = sp_clock_ms();
        int rc = lease_acquire(lease, started, why, sizeof why);
        if (rc == 1) {
            sp_log(SP_LOG_NOTICE, "took the lease (token %lld) as %s",
                   (long long) lease_token(lease), lease_id(lease));
            s_admin_close(&admin);      /* the active node binds it anew */
            *lease_out = lease;
            return 0;
        }
        s_report(lease, rc, why, last, sizeof last);
        /* last is what the log said: the holder, or why nobody could be
           asked; status and metrics keep the two apart                 */
        snprintf(holder, sizeof holder, "%s", rc == 0 ? last : "");
        snprintf(trouble, sizeof trouble, "%s", rc == 0 ? "" : why);
        if (rc == 0)
            server_notify_standby(last);
        if (!admin.zmq)
            s_admin_open(&admin, config);
        if (admin.http)
            metrics_http_publish(metrics_render_standby(holder, rc == 0));
        s_nap(&admin, lease_ttl(lease) / 3 - (sp_clock_ms() - started), stop);
    }
    s_admin_close(&admin);
    lease_destroy(&lease);
    return 1;
}
