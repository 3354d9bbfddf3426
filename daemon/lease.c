/*  lease.c - the active node's lease in PostgreSQL (lease.h).           */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "db.h"
#include "lease.h"

/*  Our clock may run a little faster or slower than the server's: the
    lease counts as ours only this long less than it lasts.             */
#define LEASE_MARGIN_PCT 20

struct lease {
    char *target;
    db_t *db;                   /* NULL after the connection was lost */
    db_stmt_t *take;
    char id[160];               /* node name, host, pid, random */
    char holder[160];           /* who else holds it, after lease_acquire() == 0 */
    int64_t ttl_ms;
    int64_t token;
    int64_t renewed_at;         /* sp_clock_ms() before the renewal was asked */
    int64_t retry_at;           /* after a failed try: not before then */
    bool held;
};

/*  Takes the lease when it has run out or is ours already; the token
    rises only when it changes hands, so that a fence of the previous
    holder fails from then on.                                          */
static const char *s_take_sql =
    "INSERT INTO lease AS l(name, holder, token, expires_at)"
    " VALUES ('active', ?1, 1, clock_timestamp() + ?2 * interval '1 millisecond')"
    " ON CONFLICT (name) DO UPDATE SET"
    "  token = CASE WHEN l.holder = excluded.holder THEN l.token ELSE l.token + 1 END,"
    "  holder = excluded.holder, expires_at = excluded.expires_at"
    " WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()"
    " RETURNING token";

static const char *s_holder_sql =
    "SELECT holder, greatest(0, (extract(epoch FROM expires_at - clock_timestamp())"
    " * 1000)::bigint) FROM lease WHERE name = 'active'";

/*  (Re)connects: the server may have restarted since the last try.     */
static int s_connect(lease_t *self, char *err, size_t errlen)
{
    if (self->db)
        return 0;
    self->db = db_open(self->target, false, err, errlen);
    if (!self->db)
        return -1;
    if (db_exec(self->db, "CREATE TABLE IF NOT EXISTS lease(name TEXT PRIMARY KEY,"
                          " holder TEXT NOT NULL, token BIGINT NOT NULL,"
                          " expires_at TIMESTAMPTZ NOT NULL)") != 0
        || !(self->take = db_prepare(self->db, s_take_sql, true))) {
        snprintf(err, errlen, "the lease table: %s", db_errmsg(self->db));
        db_destroy(&self->db);
        return -1;
    }
    return 0;
}

static void s_disconnect(lease_t *self)
{
    db_finalize(&self->take);
    db_destroy(&self->db);
}

lease_t *lease_new(const char *target, const char *node, int64_t ttl_ms,
                   char *err, size_t errlen)
{
    lease_t *self = calloc(1, sizeof *self);
    char host[64] = "";
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    gethostname(host, sizeof host - 1);
    snprintf(self->id, sizeof self->id, "%.64s@%.40s:%ld:%08" PRIx32, node, host,
             (long) getpid(), randombytes_random());
    self->ttl_ms = ttl_ms;
    if (!(self->target = strdup(target))) {
        snprintf(err, errlen, "out of memory");
        lease_destroy(&self);
    }
    return self;
}

void lease_destroy(lease_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lease_t *self = *self_p;
    s_disconnect(self);
    free(self->target);
    free(self);
    *self_p = NULL;
}

/*  Names the other holder and how long its lease has left, for the log. */
static void s_read_holder(lease_t *self)
{
    db_stmt_t *stmt = db_prepare(self->db, s_holder_sql, false);
    if (stmt && db_step(stmt) == DB_ROW && db_column_text(stmt, 0))
        snprintf(self->holder, sizeof self->holder, "%s (%" PRId64 " ms left)",
                 db_column_text(stmt, 0), db_column_int64(stmt, 1));
    else
        snprintf(self->holder, sizeof self->holder, "another node");
    db_finalize(&stmt);
}

int lease_acquire(lease_t *self, int64_t now, char *err, size_t errlen)
{
    /* a database that does not answer is asked again in a tenth of the
       lease, not at every turn of the loop                            */
    self->retry_at = now + self->ttl_ms / 10;
    if (s_connect(self, err, errlen) != 0)
        return -1;
    db_bind_text(self->take, 1, self->id, -1);
    db_bind_int64(self->take, 2, self->ttl_ms);
    db_step_t step = db_step(self->take);
    if (step == DB_ROW) {
        int64_t token = db_column_int64(self->take, 0);
        self->held = self->held && token == self->token;
        if (!self->held)
            self->token = token;
        self->held = true;
        self->renewed_at = now;
    }
    db_reset(self->take);
    if (step == DB_ERROR) {
        snprintf(err, errlen, "the lease: %s", db_errmsg(self->db));
        if (db_error(self->db) == DB_ERR_STORAGE)
            s_disconnect(self);
        return -1;
    }
    if (step == DB_DONE) {
        self->held = false;
        s_read_holder(self);
    }
    return self->held ? 1 : 0;
}

bool lease_valid(const lease_t *self, int64_t now)
{
    return self->held
        && now - self->renewed_at < self->ttl_ms * (100 - LEASE_MARGIN_PCT) / 100;
}

int64_t lease_renew_at(const lease_t *self)
{
    int64_t due = self->renewed_at + self->ttl_ms / 3;
    return due > self->retry_at ? due : self->retry_at;
}
int64_t lease_token(const lease_t *self) { return self->token; }
const char *lease_id(const lease_t *self) { return self->id; }
const char *lease_holder(const lease_t *self) { return self->holder; }
int64_t lease_ttl(const lease_t *self) { return self->ttl_ms; }

/*  A node that stops cleanly ends its lease at once: the standby takes
    over at its next try instead of waiting for the lease to run out.
    Only while the lease is still ours: a deposed node touches nothing. */
void lease_release(lease_t *self)
{
    char err[256];
    if (!self->held || s_connect(self, err, sizeof err) != 0)
        return;
    db_stmt_t *stmt = db_prepare(self->db, "UPDATE lease SET expires_at = clock_timestamp()"
                                           " WHERE name = 'active' AND holder = ?1"
                                           " AND token = ?2", false);
    if (stmt && db_bind_text(stmt, 1, self->id, -1) == 0
        && db_bind_int64(stmt, 2, self->token) == 0)
        db_step(stmt);
    db_finalize(&stmt);
    self->held = false;
}
