/*  verify_cover.c - every stretch of the audit chain was pinned by a
    signed checkpoint by the time the daemon had to write one.

    The daemon checkpoints the chain head checkpoint_interval after rows
    were added, at once after a start (which pins what a crashed run
    left), and when it stops (docs/protocol.md 13.3). So for the first
    row n0 after a checkpoint, the next checkpoint is due by

        deadline = max(ts(n0), ts(last daemon.start after n0)) + slack

    with slack = 3 x the interval in force + 10 s, room for a slow turn.
    Broken: that checkpoint came later, or there is none and the daemon
    wrote a row after the deadline. Deleting checkpoints, or a chain
    re-hashed without them, no longer verifies as "not yet covered".
    Rows of the last few seconds stay unpinned, as they rightly are.   */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "verify.h"

#define COVER_GRACE_MS 10000
#define COVER_INTERVALS 3
#define COVER_DEFAULT_INTERVAL_MS 60000

typedef struct {
    int64_t seq, ts;
} cover_point_t;

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    cover_point_t *points;      /* checkpoints by audit_seq */
    size_t count, next;         /* next: the first covering seq >= n0 */
    int64_t interval;           /* in force at the current row */
    int64_t n0, t0, restart, span;  /* the open stretch; 0: none */
} cover_t;

static int s_load(cover_t *c)
{
    db_stmt_t *stmt = db_prepare(c->in->db, "SELECT audit_seq, ts FROM checkpoints"
                                 " ORDER BY audit_seq", false);
    size_t cap = 0;
    if (!stmt)
        return -1;
    while (db_step(stmt) == DB_ROW) {
        if (c->count == cap) {
            cap = cap ? 2 * cap : 256;
            cover_point_t *grown = realloc(c->points, cap * sizeof *grown);
            if (!grown) {
                db_finalize(&stmt);
                return -1;
            }
            c->points = grown;
        }
        c->points[c->count++] = (cover_point_t) { db_column_int64(stmt, 0),
                                                  db_column_int64(stmt, 1) };
    }
    db_finalize(&stmt);
    return 0;
}

static int64_t s_deadline(const cover_t *c)
{
    int64_t from = c->restart > c->t0 ? c->restart : c->t0;
    return from + COVER_INTERVALS * c->span + COVER_GRACE_MS;
}

/*  Broken, or with --lenient counted and the first one described.       */
static int s_missing(cover_t *c, int64_t late_ts, bool none, char *why, size_t whylen)
{
    char text[sizeof c->counts->first_uncovered];
    int64_t deadline = s_deadline(c);
    if (none)
        snprintf(text, sizeof text, "audit events from %" PRId64 " on are covered by no "
                 "checkpoint, although the daemon wrote events %" PRId64 " s after one was due "
                 "(checkpoints deleted, or the chain re-hashed?)", c->n0,
                 (late_ts - deadline) / 1000 + 1);
    else
        snprintf(text, sizeof text, "audit events from %" PRId64 " on: the checkpoint covering "
                 "them came %" PRId64 " s after one was due (checkpoints deleted, or the "
                 "chain re-hashed?)", c->n0, (late_ts - deadline) / 1000 + 1);
    if (!c->in->lenient)
        return verify_broken(why, whylen, "%s", text);
    if (c->counts->uncovered++ == 0)
        snprintf(c->counts->first_uncovered, sizeof c->counts->first_uncovered, "%s", text);
    return VERIFY_OK;
}

static int s_row(cover_t *c, int64_t seq, int64_t ts, bool start, int64_t interval,
                 char *why, size_t whylen)
{
    int rc = VERIFY_OK;
    if (interval > 0)
        c->interval = interval;
    if (c->n0 == 0) {
        c->n0 = seq;
        c->t0 = ts;
        c->restart = 0;
        c->span = c->interval;
    }
    if (start && seq > c->n0)
        c->restart = ts;
    if (c->interval > c->span)
        c->span = c->interval;
    while (c->next < c->count && c->points[c->next].seq < c->n0)
        c->next++;
    bool covered = c->next < c->count;
    if (!covered && ts > s_deadline(c))
        rc = s_missing(c, ts, true, why, whylen);
    else if (covered && c->points[c->next].seq == seq) {
        if (c->points[c->next].ts > s_deadline(c))
            rc = s_missing(c, c->points[c->next].ts, false, why, whylen);
        c->n0 = 0;
    }
    if (!covered && rc == VERIFY_OK && c->in->lenient && ts > s_deadline(c))
        c->n0 = 0;          /* counted once per stretch */
    return rc;
}

/*  Every row: seq, ts, whether it is a start, and the interval a start
    or a loaded configuration put in force. On PostgreSQL a number that
    is not an integer is read as SQLite reads it, truncated, not cast
    to an error.                                                       */
static const char *const s_rows_sql[] = {
    [DB_SQLITE] = "SELECT seq, ts, kind = '" AUDIT_DAEMON_START "',"
                  " CASE WHEN kind IN ('" AUDIT_DAEMON_START "', '"
                  AUDIT_CONFIG_LOADED "') THEN json_extract(detail,"
                  " '$.checkpoint_interval_ms') END FROM audit ORDER BY seq",
    [DB_POSTGRESQL] = "SELECT seq, ts, kind = '" AUDIT_DAEMON_START "',"
                      " CASE WHEN kind IN ('" AUDIT_DAEMON_START "', '"
                      AUDIT_CONFIG_LOADED "') AND jsonb_typeof(detail::jsonb"
                      " -> 'checkpoint_interval_ms') = 'number' THEN trunc((detail::jsonb"
                      " ->> 'checkpoint_interval_ms')::numeric)::bigint END"
                      " FROM audit ORDER BY seq",
};

int verify_coverage(const verify_input_t *in, verify_counts_t *counts, char *why,
                    size_t whylen)
{
    db_stmt_t *stmt = NULL;
    cover_t c = { .in = in, .counts = counts,
                  .interval = in->config && in->config->checkpoint_interval_ms > 0
                              ? in->config->checkpoint_interval_ms
                              : COVER_DEFAULT_INTERVAL_MS };
    int rc = VERIFY_OK;
    db_step_t step = DB_DONE;
    counts->uncovered = 0;
    if (s_load(&c) != 0
        || !(stmt = db_prepare(in->db, s_rows_sql[db_engine(in->db)], false))) {
        free(c.points);
        return verify_sql_error(in, why, whylen);
    }
    while (rc == VERIFY_OK && (step = db_step(stmt)) == DB_ROW)
        rc = s_row(&c, db_column_int64(stmt, 0), db_column_int64(stmt, 1),
                   (int) db_column_int64(stmt, 2) != 0, db_column_int64(stmt, 3),
                   why, whylen);
    if (rc == VERIFY_OK && step != DB_DONE)
        rc = verify_sql_error(in, why, whylen);
    db_finalize(&stmt);
    free(c.points);
    return rc;
}
