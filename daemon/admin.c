/*  admin.c - the operator socket (ipc://, guarded by file permissions).

    Request:  SEINPOST1 | <command> [| <argument JSON>]
    Reply:    SEINPOST1 | OK | <JSON>   or   SEINPOST1 | ERROR | <reason>
    Commands are a table, as smtpctl's: STATUS and REDELIVER; the
    read-only audit commands of the CLI work on the database directly.  */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
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
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "node", self->config->node_name,
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
    or dead-lettered deliveries go back to pending, each audited with the
    operator's name and committed before the answer.
    Each goes to the back of its stream, as if routed now: the next
    delivery id and the next seq. Receipts are cumulative per
    subscription, so under its old, lower seq a receipt for any batch
    already in flight would mark it done unsent; and with a new seq but
    its old place in the queue (dispatch reads in id order) it would go
    out before lower seqs of its stream, whose receipt through its seq
    would then mark those done unsent.
    A redelivery stands on the legal basis of the moment, as a new
    routing would: the subscription must still be configured and still
    take the signal (type and filter, route_covers), and the payload must
    not be purged. Explicit ids are then refused as a whole, a
    subscriber's others still go; every refused delivery is audited
    (delivery.redeliver_refused), and every redelivery names the basis it
    was routed under and the one it goes out under now.                 */
#define REDELIVER_MAX 10000
#define REDELIVER_SELECT \
    "SELECT d.id, d.signal_id, d.seq, d.created_at, d.state, s.event IS NULL," \
    " d.subscriber, d.subscription, s.trace_id" \
    " FROM deliveries d JOIN signals s ON s.id = d.signal_id"

typedef struct {
    int64_t id, signal_id, seq, created_at;
    int state;
    bool purged;
    char subscriber[128], subscription[128], trace_id[33];
} redeliver_row_t;

typedef struct {
    redeliver_row_t *rows;
    size_t count;
    int64_t applied;
    int64_t already_pending;
    int64_t last_id;            /* the highest delivery id given out */
    bool more;
    json_t *skipped;            /* refused: id, subscription and why */
    json_t *moved;              /* old and new id and seq of each */
    sqlite3_stmt *signal;       /* REDELIVER_SIGNAL */
    sqlite3_stmt *routed;       /* REDELIVER_ROUTED */
    char refusal[1024];         /* the first refused delivery, and why */
} redeliver_t;

#define REDELIVER_SIGNAL "SELECT type, source, ce_id, event FROM signals WHERE id = ?"
/*  The basis a delivery was first routed under, as its routing recorded. */
#define REDELIVER_ROUTED \
    "SELECT json_extract(detail, '$.grondslag')," \
    " json_extract(detail, '$.processing_activity_id') FROM audit" \
    " WHERE signal_id = ? AND subscriber = ? AND kind = '" AUDIT_ROUTED "'" \
    " AND json_extract(detail, '$.subscription') = ? ORDER BY seq LIMIT 1"

static void s_copy_column(char *dst, size_t len, sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *) sqlite3_column_text(stmt, col);
    snprintf(dst, len, "%s", text ? text : "");
}

static void s_read_row(sqlite3_stmt *stmt, redeliver_row_t *row)
{
    row->id = sqlite3_column_int64(stmt, 0);
    row->signal_id = sqlite3_column_int64(stmt, 1);
    row->seq = sqlite3_column_int64(stmt, 2);
    row->created_at = sqlite3_column_int64(stmt, 3);
    row->state = sqlite3_column_int(stmt, 4);
    row->purged = sqlite3_column_int(stmt, 5) != 0;
    s_copy_column(row->subscriber, sizeof row->subscriber, stmt, 6);
    s_copy_column(row->subscription, sizeof row->subscription, stmt, 7);
    s_copy_column(row->trace_id, sizeof row->trace_id, stmt, 8);
}

static const subscription_t *s_subscription(server_t *self, const redeliver_row_t *row)
{
    const subscriber_t *conf = config_subscriber(self->config, row->subscriber);
    return conf ? deliver_subscription(conf, row->subscription) : NULL;
}

/*  Why a delivery may not go back to pending, in why; 0 when it may, 1
    when it may not, -1 when the store failed.                          */
static int s_redeliver_refusal(server_t *self, redeliver_t *r, const redeliver_row_t *row,
                               char *why, size_t whylen)
{
    const subscription_t *sub = s_subscription(self, row);
    if (!sub) {
        snprintf(why, whylen, "subscription is no longer configured: no legal basis to "
                 "deliver");
        return 1;
    }
    if (row->purged) {
        snprintf(why, whylen, "payload purged after retention: nothing left to deliver");
        return 1;
    }
    sqlite3_bind_int64(r->signal, 1, row->signal_id);
    int rc = -1;
    if (sqlite3_step(r->signal) == SQLITE_ROW) {
        route_signal_t stored = {
            .type = (const char *) sqlite3_column_text(r->signal, 0),
            .source = (const char *) sqlite3_column_text(r->signal, 1),
            .ce_id = (const char *) sqlite3_column_text(r->signal, 2),
            .sealed = sqlite3_column_blob(r->signal, 3),
            .sealed_len = (size_t) sqlite3_column_bytes(r->signal, 3) };
        bool complete = stored.type && stored.source && stored.ce_id;
        if (!complete)
            snprintf(why, whylen, "the stored signal is incomplete");
        rc = complete && route_covers(self, sub, &stored, why, whylen) == 1 ? 0 : 1;
    }
    sqlite3_reset(r->signal);
    return rc;
}

/*  The basis a delivery was routed under and the one it stands on now,
    into detail: null where there is none.                              */
static json_t *s_basis_detail(server_t *self, redeliver_t *r, const redeliver_row_t *row,
                              json_t *detail)
{
    const subscription_t *sub = s_subscription(self, row);
    json_t *text = NULL, *activity = NULL;
    sqlite3_bind_int64(r->routed, 1, row->signal_id);
    sqlite3_bind_text(r->routed, 2, row->subscriber, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->routed, 3, row->subscription, -1, SQLITE_STATIC);
    if (sqlite3_step(r->routed) == SQLITE_ROW) {
        const char *g = (const char *) sqlite3_column_text(r->routed, 0);
        const char *a = (const char *) sqlite3_column_text(r->routed, 1);
        text = g ? json_string(g) : NULL;
        activity = a ? json_string(a) : NULL;
    }
    sqlite3_reset(r->routed);
    json_object_set_new(detail, "routed_grondslag", text ? text : json_null());
    json_object_set_new(detail, "routed_processing_activity_id",
                        activity ? activity : json_null());
    json_object_set_new(detail, "grondslag", sub ? json_string(sub->grondslag) : json_null());
    json_object_set_new(detail, "processing_activity_id",
                        sub ? json_string(sub->activity) : json_null());
    return detail;
}

/*  Steps stmt into r->rows: pending ones are counted, not kept.          */
static int s_collect(sqlite3_stmt *stmt, redeliver_t *r, int *found)
{
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        (*found)++;
        if (sqlite3_column_int(stmt, 4) == DELIVERY_PENDING) {
            r->already_pending++;
            continue;
        }
        if (r->count == REDELIVER_MAX) {
            r->more = true;
            break;
        }
        s_read_row(stmt, &r->rows[r->count++]);
    }
    sqlite3_reset(stmt);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

static int s_by_id(const void *a, const void *b)
{
    int64_t x = ((const redeliver_row_t *) a)->id, y = ((const redeliver_row_t *) b)->id;
    return (x > y) - (x < y);
}

/*  In id order and each once: the new seqs keep the deliveries' old
    order, and an id listed twice is not queued twice.                  */
static void s_sort_unique(redeliver_t *r)
{
    size_t kept = 0;
    qsort(r->rows, r->count, sizeof *r->rows, s_by_id);
    for (size_t i = 0; i < r->count; i++)
        if (kept == 0 || r->rows[kept - 1].id != r->rows[i].id)
            r->rows[kept++] = r->rows[i];
    r->count = kept;
}

static int s_collect_ids(server_t *self, json_t *ids, redeliver_t *r, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    size_t i;
    json_t *id;
    int rc = -1;
    if (sqlite3_prepare_v2(store_db(self->store), REDELIVER_SELECT " WHERE d.id = ?", -1,
                           &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    json_array_foreach(ids, i, id) {
        int found = 0;
        sqlite3_bind_int64(stmt, 1, json_integer_value(id));
        if (s_collect(stmt, r, &found) != 0 || found == 0) {
            snprintf(err, errlen, "delivery %lld does not exist",
                     (long long) json_integer_value(id));
            goto cleanup;
        }
    }
    s_sort_unique(r);
    rc = 0;
cleanup:
    sqlite3_finalize(stmt);
    return rc;
}

static int s_collect_subscriber(server_t *self, json_t *arg, redeliver_t *r, char *err,
                                size_t errlen)
{
    const char *name = json_string_value(json_object_get(arg, "subscriber"));
    sqlite3_stmt *stmt = NULL;
    int found = 0;
    if (!config_subscriber(self->config, name)) {
        snprintf(err, errlen, "subscriber %.128s is not configured: no legal basis to deliver",
                 name);
        return -1;
    }
    if (sqlite3_prepare_v2(store_db(self->store), REDELIVER_SELECT
                           " WHERE d.subscriber = ? AND d.state <> 0 AND (? = 0 OR d.state = 2)"
                           " AND d.created_at >= ? ORDER BY d.id", -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, json_is_true(json_object_get(arg, "dead_lettered")));
    sqlite3_bind_int64(stmt, 3, json_integer_value(json_object_get(arg, "since")));
    int rc = s_collect(stmt, r, &found);
    sqlite3_finalize(stmt);
    if (rc != 0)
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
    return rc;
}

/*  What is redelivered queues behind everything the subscriber was sent,
    so nothing in flight is sent again; only a backoff or a lingering
    batch is cut short, for the operator's request to take effect now.  */
static void s_wake(server_t *self, const char *subscriber)
{
    sub_state_t *sub = deliver_sub(self, subscriber);
    if (!sub)
        return;
    sub->next_send_at = 0;
    sub->hold_until = 0;
    self->dispatch_wanted = true;
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

/*  An operator's attempt to send a signal without the legal basis for it
    is on the record too, with both bases and who asked.                */
static int s_audit_refused(server_t *self, redeliver_t *r, const redeliver_row_t *row,
                           const char *why, const operator_t *op)
{
    json_t *detail = json_pack("{s:s, s:I, s:I, s:s, s:s}", "subscription",
                               row->subscription, "seq", (json_int_t) row->seq,
                               "delivery_id", (json_int_t) row->id, "state",
                               row->state == DELIVERY_DEAD ? "deadlettered" : "delivered",
                               "reason", why);
    if (!detail || store_begin(self->store) != 0) {
        json_decref(detail);
        return -1;
    }
    return audit_append(self->audit, AUDIT_REDELIVER_REFUSED, row->trace_id,
                        row->signal_id, row->subscriber,
                        s_operator_detail(s_basis_detail(self, r, row, detail), op));
}

/*  Keeps in r->rows what may go back to pending; each refused one goes to
    r->skipped, named with why, and is audited.                         */
static int s_screen(server_t *self, redeliver_t *r, const operator_t *op)
{
    char why[512];
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++) {
        const redeliver_row_t *row = &r->rows[i];
        int refused = s_redeliver_refusal(self, r, row, why, sizeof why);
        if (refused < 0)
            return -1;
        if (!refused) {
            r->rows[kept++] = *row;
            continue;
        }
        if (json_array_size(r->skipped) == 0)
            snprintf(r->refusal, sizeof r->refusal, "delivery %lld (%s/%s): %s",
                     (long long) row->id, row->subscriber, row->subscription, why);
        json_array_append_new(r->skipped, json_pack("{s:I, s:s, s:s}", "delivery_id",
                              (json_int_t) row->id, "subscription", row->subscription,
                              "reason", why));
        if (s_audit_refused(self, r, row, why, op) != 0)
            return -1;
    }
    r->count = kept;
    return 0;
}

static int s_redeliver_one(server_t *self, sqlite3_stmt *update, const redeliver_row_t *row,
                           const operator_t *op, int64_t now, redeliver_t *r)
{
    int64_t id = r->last_id + 1;
    int64_t seq = server_next_seq(self, row->subscriber, row->subscription);
    if (seq < 0)
        return -1;
    sqlite3_bind_int64(update, 1, id);
    sqlite3_bind_int64(update, 2, seq);
    sqlite3_bind_int64(update, 3, now);
    sqlite3_bind_int64(update, 4, row->id);
    int step = sqlite3_step(update);
    sqlite3_reset(update);
    /* read in this turn and listed once (s_sort_unique): it is there */
    if (step != SQLITE_DONE || sqlite3_changes(store_db(self->store)) != 1)
        return -1;
    r->last_id = id;
    r->applied++;
    json_array_append_new(r->moved, json_pack("{s:I, s:I, s:s, s:I, s:I}",
                          "delivery_id", (json_int_t) id, "previous_delivery_id",
                          (json_int_t) row->id, "subscription", row->subscription,
                          "seq", (json_int_t) seq, "previous_seq", (json_int_t) row->seq));
    return audit_append(self->audit, AUDIT_REDELIVERED, row->trace_id, row->signal_id,
                        row->subscriber,
                        s_operator_detail(s_basis_detail(self, r, row, json_pack(
                            "{s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "subscription",
                            row->subscription, "seq", (json_int_t) seq, "previous_seq",
                            (json_int_t) row->seq, "delivery_id", (json_int_t) id,
                            "previous_delivery_id", (json_int_t) row->id, "previous_state",
                            row->state == DELIVERY_DEAD ? "deadlettered" : "delivered",
                            "routed_at_ms", (json_int_t) row->created_at)), op));
}

/*  The attempts, batch and receipt of the old seq are not this one's.  */
#define REDELIVER_UPDATE \
    "UPDATE deliveries SET id = ?, seq = ?, state = 0, created_at = ?, attempts = 0," \
    " last_attempt_at = NULL, batch_id = NULL, receipt_id = NULL, done_at = NULL," \
    " last_error = NULL WHERE id = ? AND state <> 0"

static int s_redeliver_apply(server_t *self, redeliver_t *r, const operator_t *op)
{
    sqlite3_stmt *update = NULL;
    int64_t now = sp_time_now_ms();
    int rc = -1;
    if (r->count == 0)
        return 0;
    if (store_begin(self->store) != 0
        || sqlite3_prepare_v2(store_db(self->store), REDELIVER_UPDATE, -1, &update,
                              NULL) != SQLITE_OK)
        goto cleanup;
    /* the newest delivery id of the open transaction, kept by route.c */
    r->last_id = self->written_delivery_id;
    for (size_t i = 0; i < r->count; i++)
        if (s_redeliver_one(self, update, &r->rows[i], op, now, r) != 0)
            goto cleanup;
    /* dispatch reads them once committed, as newly routed ones */
    self->written_delivery_id = r->last_id;
    for (size_t i = 0; i < r->count; i++)
        s_wake(self, r->rows[i].subscriber);
    rc = 0;
cleanup:
    sqlite3_finalize(update);
    if (rc != 0)
        self->tx_failed = true;     /* the whole turn rolls back */
    return rc;
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

static int s_redeliver_prepare(server_t *self, redeliver_t *r, char *err, size_t errlen)
{
    sqlite3 *db = store_db(self->store);
    r->rows = calloc(REDELIVER_MAX, sizeof *r->rows);
    if (!r->rows) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, REDELIVER_SIGNAL, -1, &r->signal, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(db, REDELIVER_ROUTED, -1, &r->routed, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    return 0;
}

/*  Screens what was collected and puts back what may go. The refusals'
    audit events are committed with it, or alone when explicit ids are
    refused as a whole.                                                 */
static int s_redeliver_rows(server_t *self, redeliver_t *r, bool by_ids, const operator_t *op,
                            char *err, size_t errlen)
{
    size_t refused = 0;
    if (s_screen(self, r, op) != 0) {
        self->tx_failed = true;     /* the whole turn rolls back */
        snprintf(err, errlen, "storage failure; nothing changed");
        return -1;
    }
    refused = json_array_size(r->skipped);
    if (by_ids && refused > 0)
        r->count = 0;
    if (s_redeliver_apply(self, r, op) != 0 || server_commit(self) != 0) {
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
    redeliver_t r = { .skipped = json_array(), .moved = json_array() };
    json_t *result = NULL, *ids = json_object_get(arg, "ids");
    if (s_redeliver_check(arg, op, err, errlen) != 0)
        goto cleanup;
    s_operator_user(op);
    if (s_redeliver_prepare(self, &r, err, errlen) != 0
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
    sqlite3_finalize(r.signal);
    sqlite3_finalize(r.routed);
    free(r.rows);
    json_decref(r.skipped);
    json_decref(r.moved);
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
