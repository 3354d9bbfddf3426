/*  redeliver.c - deliveries back to the queue, for an operator or the
    partner (see redeliver.h).

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
    not be purged. Every refused delivery is audited
    (delivery.redeliver_refused), and every redelivery names the basis it
    was routed under and the one it goes out under now.                 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redeliver.h"
#include "route.h"
#include "sp_util.h"

/*  The basis a delivery was first routed under, as its routing recorded:
    ?1 signal, ?2 subscriber, ?3 subscription.                          */
static const char *const s_routed_sql[] = {
    [DB_SQLITE] = "SELECT json_extract(detail, '$.grondslag'),"
                  " json_extract(detail, '$.processing_activity_id')"
                  " FROM (" AUDIT_FIRST_ROUTED_SQL ") r",
    [DB_POSTGRESQL] = "SELECT detail::jsonb ->> 'grondslag',"
                      " detail::jsonb ->> 'processing_activity_id'"
                      " FROM (" AUDIT_FIRST_ROUTED_SQL_PG ") r",
};
/*  The attempts, batch and receipt of the old seq are not this one's.  */
#define REDELIVER_UPDATE \
    "UPDATE deliveries SET id = ?, seq = ?, state = 0, created_at = ?, attempts = 0," \
    " last_attempt_at = NULL, batch_id = NULL, receipt_id = NULL, done_at = NULL," \
    " last_error = NULL WHERE id = ? AND state <> 0"

int redeliver_open(redeliver_t *r, server_t *self, size_t cap, json_t *requester,
                   char *err, size_t errlen)
{
    db_t *db = store_conn(self->store);
    memset(r, 0, sizeof *r);
    r->requester = requester;
    r->cap = cap;
    r->rows = calloc(cap ? cap : 1, sizeof *r->rows);
    r->skipped = json_array();
    r->moved = json_array();
    if (!r->rows || !r->skipped || !r->moved) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!(r->signal = db_prepare(db, ROUTE_STORED_SIGNAL, false))
        || !(r->routed = db_prepare(db, s_routed_sql[db_engine(db)], false))) {
        snprintf(err, errlen, "reading the queue: %s", store_errmsg(self->store));
        return -1;
    }
    return 0;
}

void redeliver_close(redeliver_t *r)
{
    db_finalize(&r->signal);
    db_finalize(&r->routed);
    free(r->rows);
    json_decref(r->skipped);
    json_decref(r->moved);
    memset(r, 0, sizeof *r);
}

static void s_copy_column(char *dst, size_t len, db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    snprintf(dst, len, "%s", text ? text : "");
}

static void s_read_row(db_stmt_t *stmt, redeliver_row_t *row)
{
    row->id = db_column_int64(stmt, 0);
    row->signal_id = db_column_int64(stmt, 1);
    row->seq = db_column_int64(stmt, 2);
    row->created_at = db_column_int64(stmt, 3);
    row->state = (int) db_column_int64(stmt, 4);
    row->purged = (int) db_column_int64(stmt, 5) != 0;
    s_copy_column(row->subscriber, sizeof row->subscriber, stmt, 6);
    s_copy_column(row->subscription, sizeof row->subscription, stmt, 7);
    s_copy_column(row->trace_id, sizeof row->trace_id, stmt, 8);
}

int redeliver_collect(redeliver_t *r, db_stmt_t *stmt, int *found)
{
    db_step_t step;
    while ((step = db_step(stmt)) == DB_ROW) {
        (*found)++;
        if ((int) db_column_int64(stmt, 4) == DELIVERY_PENDING) {
            r->already_pending++;
            continue;
        }
        if (r->count == r->cap) {
            r->more = true;
            break;
        }
        s_read_row(stmt, &r->rows[r->count++]);
    }
    db_reset(stmt);
    return step == DB_ROW || step == DB_DONE ? 0 : -1;
}

static int s_by_id(const void *a, const void *b)
{
    int64_t x = ((const redeliver_row_t *) a)->id, y = ((const redeliver_row_t *) b)->id;
    return (x > y) - (x < y);
}

void redeliver_sort_unique(redeliver_t *r)
{
    size_t kept = 0;
    qsort(r->rows, r->count, sizeof *r->rows, s_by_id);
    for (size_t i = 0; i < r->count; i++)
        if (kept == 0 || r->rows[kept - 1].id != r->rows[i].id)
            r->rows[kept++] = r->rows[i];
    r->count = kept;
}

static const subscription_t *s_subscription(server_t *self, const redeliver_row_t *row)
{
    const subscriber_t *conf = config_subscriber(self->config, row->subscriber);
    return conf ? deliver_subscription(conf, row->subscription) : NULL;
}

/*  Why a delivery may not go back to pending, in why; 0 when it may, 1
    when it may not, -1 when the store failed.                          */
static int s_refusal(server_t *self, redeliver_t *r, const redeliver_row_t *row, char *why,
                     size_t whylen)
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
    int covers = route_covers_stored(self, sub, r->signal, row->signal_id, why, whylen);
    return covers == -2 ? -1 : covers == 1 ? 0 : 1;
}

/*  The basis a delivery was routed under and the one it stands on now,
    into detail: null where there is none; then who asked.              */
static json_t *s_detail(server_t *self, redeliver_t *r, const redeliver_row_t *row,
                        json_t *detail)
{
    const subscription_t *sub = s_subscription(self, row);
    json_t *text = NULL, *activity = NULL;
    if (!detail)
        return NULL;
    db_bind_int64(r->routed, 1, row->signal_id);
    db_bind_text(r->routed, 2, row->subscriber, -1);
    db_bind_text(r->routed, 3, row->subscription, -1);
    if (db_step(r->routed) == DB_ROW) {
        const char *g = db_column_text(r->routed, 0);
        const char *a = db_column_text(r->routed, 1);
        text = g ? json_string(g) : NULL;
        activity = a ? json_string(a) : NULL;
    }
    db_reset(r->routed);
    json_object_set_new(detail, "routed_grondslag", text ? text : json_null());
    json_object_set_new(detail, "routed_processing_activity_id",
                        activity ? activity : json_null());
    json_object_set_new(detail, "grondslag", sub ? json_string(sub->grondslag) : json_null());
    json_object_set_new(detail, "processing_activity_id",
                        sub ? json_string(sub->activity) : json_null());
    if (r->requester)
        json_object_update(detail, r->requester);
    return detail;
}

/*  An attempt to send a signal without the legal basis for it is on the
    record too, with both bases and who asked.                          */
static int s_audit_refused(server_t *self, redeliver_t *r, const redeliver_row_t *row,
                           const char *why)
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
                        row->signal_id, row->subscriber, s_detail(self, r, row, detail));
}

int redeliver_screen(server_t *self, redeliver_t *r)
{
    char why[512];
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++) {
        const redeliver_row_t *row = &r->rows[i];
        int refused = s_refusal(self, r, row, why, sizeof why);
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
        if (s_audit_refused(self, r, row, why) != 0)
            return -1;
    }
    r->count = kept;
    return 0;
}

static int s_one(server_t *self, db_stmt_t *update, const redeliver_row_t *row,
                 int64_t now, redeliver_t *r)
{
    int64_t id = r->last_id + 1;
    int64_t seq = server_next_seq(self, row->subscriber, row->subscription);
    if (seq < 0)
        return -1;
    db_bind_int64(update, 1, id);
    db_bind_int64(update, 2, seq);
    db_bind_int64(update, 3, now);
    db_bind_int64(update, 4, row->id);
    db_step_t step = db_step(update);
    db_reset(update);
    /* read in this turn and listed once (redeliver_sort_unique): it is there */
    if (step != DB_DONE || db_changes(store_conn(self->store)) != 1)
        return -1;
    r->last_id = id;
    r->applied++;
    if (r->first_seq == 0)
        r->first_seq = seq;
    r->last_seq = seq;
    json_array_append_new(r->moved, json_pack("{s:I, s:I, s:s, s:I, s:I}",
                          "delivery_id", (json_int_t) id, "previous_delivery_id",
                          (json_int_t) row->id, "subscription", row->subscription,
                          "seq", (json_int_t) seq, "previous_seq", (json_int_t) row->seq));
    return audit_append(self->audit, AUDIT_REDELIVERED, row->trace_id, row->signal_id,
                        row->subscriber, s_detail(self, r, row, json_pack(
                            "{s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "subscription",
                            row->subscription, "seq", (json_int_t) seq, "previous_seq",
                            (json_int_t) row->seq, "delivery_id", (json_int_t) id,
                            "previous_delivery_id", (json_int_t) row->id, "previous_state",
                            row->state == DELIVERY_DEAD ? "deadlettered" : "delivered",
                            "routed_at_ms", (json_int_t) row->created_at)));
}

/*  What is redelivered queues behind everything the subscriber was sent,
    so nothing in flight is sent again; only a backoff or a lingering
    batch is cut short, for the request to take effect now.            */
static void s_wake(server_t *self, const char *subscriber)
{
    sub_state_t *sub = deliver_sub(self, subscriber);
    if (!sub)
        return;
    sub->next_send_at = 0;
    sub->hold_until = 0;
    self->dispatch_wanted = true;
}

/*  A redelivered row takes the next id itself (SQLite's rowid follows by
    its own); PostgreSQL's identity sequence must be told, or the next
    routed delivery would be given the same id.                         */
static int s_sync_sequence(server_t *self, int64_t last_id)
{
    db_t *db = store_conn(self->store);
    if (db_engine(db) != DB_POSTGRESQL)
        return 0;
    db_stmt_t *stmt = db_prepare(db, "SELECT setval(pg_get_serial_sequence('deliveries', 'id'),"
                                     " ?1)", false);
    int rc = stmt && db_bind_int64(stmt, 1, last_id) == 0 && db_step(stmt) == DB_ROW ? 0 : -1;
    db_finalize(&stmt);
    return rc;
}

int redeliver_apply(server_t *self, redeliver_t *r)
{
    db_stmt_t *update = NULL;
    int64_t now = sp_time_now_ms();
    int rc = -1;
    if (r->count == 0)
        return 0;
    if (store_begin(self->store) != 0
        || !(update = db_prepare(store_conn(self->store), REDELIVER_UPDATE, false)))
        goto cleanup;
    /* the newest delivery id of the open transaction, kept by route.c */
    r->last_id = self->written_delivery_id;
    for (size_t i = 0; i < r->count; i++)
        if (s_one(self, update, &r->rows[i], now, r) != 0)
            goto cleanup;
    if (s_sync_sequence(self, r->last_id) != 0)
        goto cleanup;
    /* dispatch reads them once committed, as newly routed ones */
    self->written_delivery_id = r->last_id;
    for (size_t i = 0; i < r->count; i++)
        s_wake(self, r->rows[i].subscriber);
    rc = 0;
cleanup:
    db_finalize(&update);
    if (rc != 0)
        self->tx_failed = true;     /* the whole turn rolls back */
    return rc;
}
