/*  admin.c - the operator socket (ipc://, guarded by file permissions).

    Request:  SEINPOST1 | <command> [| <argument JSON>]
    Reply:    SEINPOST1 | OK | <JSON>   or   SEINPOST1 | ERROR | <reason>
    Commands are a table, as smtpctl's: STATUS and REDELIVER; the
    read-only audit commands of the CLI work on the database directly.  */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redeliver.h"
#include "server.h"
#include "sp_proto.h"
#include "sp_util.h"

/*  Who asked: the name the client gives, and what the kernel says of the
    process at the other end of the ipc socket. libzmq appends
    ":uid:gid:pid" (SO_PEERCRED) to the Peer-Address of a Unix-socket
    peer; the name alone is only a claim.                               */
typedef struct {
    const char *name;
    long uid, pid;              /* -1 when the kernel did not say */
    char user[64];              /* login name of uid, or "" */
    char shown[65];             /* name as logged: control bytes as '?' */
} operator_t;

typedef json_t *(admin_fn)(server_t *self, json_t *arg, operator_t *op, char *err,
                           size_t errlen);

static json_t *s_subscriber_status(server_t *self, sub_state_t *sub)
{
    int64_t pending = 0, oldest = 0;
    store_pending_stats(self->store, sub->name, &pending, &oldest);
    json_t *row = json_pack("{s:s, s:I, s:i, s:I, s:I, s:i}", "subscriber", sub->name,
                            "pending", (json_int_t) pending, "in_flight",
                            sub->inflight_count, "delivered", (json_int_t) sub->delivered,
                            "dead_lettered", (json_int_t) sub->dead,
                            "consecutive_failures", sub->failures);
    json_object_set_new(row, "oldest_pending_age_ms",
                        json_integer(oldest ? sp_time_now_ms() - oldest : 0));
    json_object_set_new(row, "last_success_ms", json_integer(sub->last_success_ms));
    json_object_set_new(row, "last_error", json_string(sub->last_error));
    json_object_set_new(row, "partner_refusals", json_integer(sub->noise.total));
    return row;
}

static json_t *s_metrics(server_t *self, json_t *arg, operator_t *op, char *err,
                        size_t errlen)
{
    (void) arg; (void) op;
    char *text = metrics_render(self);
    json_t *result = text ? json_string(text) : NULL;
    if (!result)
        snprintf(err, errlen, "cannot render metrics");
    free(text);
    return result;
}

static json_t *s_status(server_t *self, json_t *arg, operator_t *op, char *err,
                       size_t errlen)
{
    (void) arg; (void) op; (void) err; (void) errlen;
    json_t *subs = json_array();
    for (size_t i = 0; i < self->sub_count; i++)
        json_array_append_new(subs, s_subscriber_status(self, &self->subs[i]));
    const server_stats_t *st = &self->stats;
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "node", self->config->node_name, "role", "active",
                     "received", (json_int_t) st->received,
                     "accepted", (json_int_t) st->accepted,
                     "duplicates", (json_int_t) st->duplicates,
                     "rejected", (json_int_t) st->rejected,
                     "delivered", (json_int_t) st->delivered,
                     "dead_lettered", (json_int_t) st->dead,
                     "subscribers", subs);
}

/*  REDELIVER {"ids": [delivery ids]} or {"subscriber": S, "dead_lettered":
    bool, "since": Unix ms}, with "operator": who asked. Matching delivered
    or dead-lettered deliveries go back to pending (redeliver.c: at the
    back of their stream, on the legal basis of now), each audited with
    the operator's name and committed before the answer. Explicit ids
    are refused as a whole when one of them is, a subscriber's others
    still go.                                                           */
#define REDELIVER_MAX 10000

static int s_collect_ids(server_t *self, json_t *ids, redeliver_t *r, char *err, size_t errlen)
{
    db_stmt_t *stmt = NULL;
    size_t i;
    json_t *id;
    int rc = -1;
    if (!(stmt = db_prepare(store_conn(self->store), REDELIVER_SELECT " WHERE d.id = ?",
                            false))) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    json_array_foreach(ids, i, id) {
        int found = 0;
        db_bind_int64(stmt, 1, json_integer_value(id));
        if (redeliver_collect(r, stmt, &found) != 0 || found == 0) {
            snprintf(err, errlen, "delivery %lld does not exist",
                     (long long) json_integer_value(id));
            goto cleanup;
        }
    }
    redeliver_sort_unique(r);
    rc = 0;
cleanup:
    db_finalize(&stmt);
    return rc;
}

static int s_collect_subscriber(server_t *self, json_t *arg, redeliver_t *r, char *err,
                                size_t errlen)
{
    const char *name = json_string_value(json_object_get(arg, "subscriber"));
    db_stmt_t *stmt = NULL;
    int found = 0;
    if (!config_subscriber(self->config, name)) {
        snprintf(err, errlen, "subscriber %.128s is not configured: no legal basis to deliver",
                 name);
        return -1;
    }
    if (!(stmt = db_prepare(store_conn(self->store), REDELIVER_SELECT
                            " WHERE d.subscriber = ? AND d.state <> 0 AND (? = 0 OR d.state = 2)"
                            " AND d.created_at >= ? ORDER BY d.id LIMIT ?", false))) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    db_bind_text(stmt, 1, name, -1);
    db_bind_int64(stmt, 2, json_is_true(json_object_get(arg, "dead_lettered")));
    db_bind_int64(stmt, 3, json_integer_value(json_object_get(arg, "since")));
    /* one more than it takes tells that there are more; a server sends
       the whole result at once, so it must not be the whole queue      */
    db_bind_int64(stmt, 4, (int64_t) r->cap + 1);
    int rc = redeliver_collect(r, stmt, &found);
    db_finalize(&stmt);
    if (rc != 0)
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
    return rc;
}

/*  Peer-Address of an ipc peer: "<address>:<uid>:<gid>:<pid>".         */
static void s_operator_peer(sp_frames_t *f, operator_t *op)
{
    long uid, gid, pid;
    op->uid = op->pid = -1;
    op->user[0] = '\0';
    const char *address = NULL;
    /* not always on the routing-id frame the ROUTER makes (seen with
       libzmq 4.3.4), but on every frame the peer sent               */
    for (size_t i = 0; !address && i < f->count; i++)
        address = zmq_msg_gets(&f->part[i], "Peer-Address");
    const char *tail = address ? strrchr(address, ':') : NULL;
    for (int i = 0; tail && tail > address && i < 2; i++)
        do tail--; while (tail > address && *tail != ':');
    if (!tail || sscanf(tail, ":%ld:%ld:%ld", &uid, &gid, &pid) != 3 || uid < 0)
        return;
    op->uid = uid;
    op->pid = pid;
}

/*  The login name of the caller's uid: only for what is audited, since
    the lookup may block (LDAP, sssd) and this is the event loop.       */
static void s_operator_user(operator_t *op)
{
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (op->uid >= 0 && getpwuid_r((uid_t) op->uid, &pw, buf, sizeof buf, &found) == 0
        && found)
        snprintf(op->user, sizeof op->user, "%s", pw.pw_name);
}

/*  "operator" (the claim), and the kernel's word where it gave one.    */
static json_t *s_operator_detail(json_t *detail, const operator_t *op)
{
    json_object_set_new(detail, "operator", json_string(op->name));
    if (op->uid >= 0) {
        json_object_set_new(detail, "operator_uid", json_integer(op->uid));
        json_object_set_new(detail, "operator_pid", json_integer(op->pid));
    }
    if (op->user[0])
        json_object_set_new(detail, "operator_user", json_string(op->user));
    return detail;
}

static bool s_ids_valid(json_t *ids)
{
    size_t i;
    json_t *id;
    if (!json_is_array(ids) || json_array_size(ids) == 0
        || json_array_size(ids) > REDELIVER_MAX)
        return false;
    json_array_foreach(ids, i, id)
        if (!json_is_integer(id) || json_integer_value(id) < 1)
            return false;
    return true;
}

static int s_redeliver_check(json_t *arg, operator_t *op, char *err, size_t errlen)
{
    json_t *ids = json_object_get(arg, "ids");
    op->name = json_string_value(json_object_get(arg, "operator"));
    if (op->name && strlen(op->name) <= 64) {
        /* the name is the client's claim: nothing of it steers the journal */
        size_t n = 0;
        for (const unsigned char *c = (const unsigned char *) op->name; *c; c++)
            op->shown[n++] = *c < 0x20 || *c == 0x7f ? '?' : (char) *c;
        op->shown[n] = '\0';
    }
    if (!op->name || !*op->name || strlen(op->name) > 64)
        snprintf(err, errlen, "REDELIVER needs the operator's name (1..64 bytes)");
    else if (!ids == !json_is_string(json_object_get(arg, "subscriber")))
        snprintf(err, errlen, "REDELIVER needs either ids or a subscriber");
    else if (ids && !s_ids_valid(ids))
        snprintf(err, errlen, "ids must be a list of 1..%d positive delivery ids",
                 REDELIVER_MAX);
    else
        return 0;
    return -1;
}

/*  Screens what was collected and puts back what may go. The refusals'
    audit events are committed with it, or alone when explicit ids are
    refused as a whole.                                                 */
static int s_redeliver_rows(server_t *self, redeliver_t *r, bool by_ids, const operator_t *op,
                            char *err, size_t errlen)
{
    size_t refused = 0;
    if (redeliver_screen(self, r) != 0) {
        self->tx_failed = true;     /* the whole turn rolls back */
        snprintf(err, errlen, "storage failure; nothing changed");
        return -1;
    }
    refused = json_array_size(r->skipped);
    if (by_ids && refused > 0)
        r->count = 0;
    if (redeliver_apply(self, r) != 0 || server_commit(self) != 0) {
        snprintf(err, errlen, "storage failure; nothing changed");
        return -1;
    }
    if (refused > 0)
        sp_log(SP_LOG_NOTICE, "operator %s (uid %ld%s%s): redelivery of %zu deliver%s "
               "refused, the first: %s", op->shown, op->uid, op->user[0] ? " " : "",
               op->user, refused, refused == 1 ? "y" : "ies", r->refusal);
    if (!by_ids || refused == 0)
        return 0;
    if (refused == 1)
        snprintf(err, errlen, "%s", r->refusal);
    else
        snprintf(err, errlen, "%s; %zu more refused", r->refusal, refused - 1);
    return -1;
}

static json_t *s_redeliver(server_t *self, json_t *arg, operator_t *op, char *err,
                          size_t errlen)
{
    redeliver_t r = { .rows = NULL };
    json_t *result = NULL, *ids = json_object_get(arg, "ids"), *who = NULL;
    if (s_redeliver_check(arg, op, err, errlen) != 0)
        return NULL;
    s_operator_user(op);
    /* every audit event of the request names the operator */
    who = s_operator_detail(json_object(), op);
    if (redeliver_open(&r, self, REDELIVER_MAX, who, err, errlen) != 0
        || (ids ? s_collect_ids(self, ids, &r, err, errlen)
                : s_collect_subscriber(self, arg, &r, err, errlen)) != 0
        || s_redeliver_rows(self, &r, ids != NULL, op, err, errlen) != 0)
        goto cleanup;
    sp_log(SP_LOG_NOTICE, "operator %s (uid %ld%s%s) set %lld deliveries back to pending",
           op->shown, op->uid, op->user[0] ? " " : "", op->user, (long long) r.applied);
    result = s_operator_detail(json_pack("{s:I, s:I, s:O, s:O, s:b}", "redelivered",
                                         (json_int_t) r.applied, "already_pending",
                                         (json_int_t) r.already_pending, "deliveries",
                                         r.moved, "skipped", r.skipped, "more", r.more), op);
cleanup:
    redeliver_close(&r);
    json_decref(who);
    return result;
}

static const struct {
    const char *name;
    admin_fn *fn;
} s_commands[] = {
    { "STATUS", s_status },
    { "METRICS", s_metrics },
    { "REDELIVER", s_redeliver },
};

static void s_reply(server_t *self, sp_frames_t *f, const char *status, const char *body)
{
    const void *parts[] = { sp_frame_data(f, 0), SP_PROTOCOL, status, body };
    size_t sizes[] = { sp_frame_size(f, 0), strlen(SP_PROTOCOL), strlen(status),
                       strlen(body) };
    sp_send_parts(self->admin, parts, sizes, 4, ZMQ_DONTWAIT);
}

static void s_dispatch(server_t *self, sp_frames_t *f)
{
    char err[1024] = "unknown command";
    json_t *arg = NULL;
    operator_t op = { .name = NULL };
    s_operator_peer(f, &op);
    if (f->count < 3 || !sp_frame_is(f, 1, SP_PROTOCOL))
        return s_reply(self, f, "ERROR", "expected SEINPOST1 | command");
    if (f->count > 3)
        arg = json_loadb(sp_frame_data(f, 3), sp_frame_size(f, 3), 0, NULL);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (!sp_frame_is(f, 2, s_commands[i].name))
            continue;
        json_t *result = s_commands[i].fn(self, arg, &op, err, sizeof err);
        char *text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        /* after a failed fsync neither answer would be true: none at all */
        if (!self->storage_fatal)
            s_reply(self, f, text ? "OK" : "ERROR", text ? text : err);
        free(text);
        json_decref(result);
        json_decref(arg);
        return;
    }
    json_decref(arg);
    s_reply(self, f, "ERROR", err);
}

void admin_handle(server_t *self)
{
    sp_frames_t frames;
    for (int i = 0; i < 16 && !self->storage_fatal; i++) {
        if (sp_frames_recv(&frames, self->admin, 8, 1 << 20, ZMQ_DONTWAIT) != 0)
            return;
        s_dispatch(self, &frames);
        sp_frames_close(&frames);
    }
}
