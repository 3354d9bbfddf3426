/*  sp_seen.c - the partner's durable dedup state (see sp_seen.h).        */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sp_event.h"
#include "sp_seen.h"

/*  Old rows go at most this often: a DELETE per batch would cost more
    than the batch.                                                      */
#define SEEN_PRUNE_EVERY_MS 60000

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS handled("
    "  router TEXT NOT NULL, subscription TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  source TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,"
    "  PRIMARY KEY(router, subscription, seq));"
    "CREATE INDEX IF NOT EXISTS handled_event ON handled(router, subscription, source, id);"
    "CREATE INDEX IF NOT EXISTS handled_at ON handled(at);"
    "CREATE TABLE IF NOT EXISTS batches(sha256 BLOB PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batches_at ON batches(at);"
    /* the router's chain heads this partner countersigned: the newest of
       each minute, kept beyond the dedup horizon (protocol.md 13.3)    */
    "CREATE TABLE IF NOT EXISTS anchors("
    "  router TEXT NOT NULL, minute INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  sha256 BLOB NOT NULL, at INTEGER NOT NULL, batch_sha256 BLOB NOT NULL,"
    "  PRIMARY KEY(router, minute));";

typedef enum { SQ_HAS_SEQ, SQ_HAS_EVENT, SQ_ADD, SQ_HAS_BATCH, SQ_ADD_BATCH,
               SQ_PRUNE_HANDLED, SQ_PRUNE_BATCHES, SQ_ADD_ANCHOR, SQ_COUNT } seen_stmt_t;

static const char *s_sql[SQ_COUNT] = {
    [SQ_HAS_SEQ] = "SELECT 1 FROM handled WHERE router = ? AND subscription = ? AND seq = ?",
    [SQ_HAS_EVENT] = "SELECT 1 FROM handled WHERE router = ? AND subscription = ?"
                     " AND source = ? AND id = ?",
    /* a redelivery comes under a new seq: recorded under it too, so that
       the entry after it (whose prev it is) finds it                    */
    [SQ_ADD] = "INSERT OR REPLACE INTO handled(router, subscription, seq, source, id, at)"
               " VALUES(?,?,?,?,?,?)",
    [SQ_HAS_BATCH] = "SELECT 1 FROM batches WHERE sha256 = ?",
    [SQ_ADD_BATCH] = "INSERT OR IGNORE INTO batches(sha256, at) VALUES(?,?)",
    [SQ_PRUNE_HANDLED] = "DELETE FROM handled WHERE at < ?",
    [SQ_PRUNE_BATCHES] = "DELETE FROM batches WHERE at < ?",
    [SQ_ADD_ANCHOR] = "INSERT OR REPLACE INTO anchors(router, minute, seq, sha256, at,"
                      " batch_sha256) VALUES(?,?,?,?,?,?)",
};

struct sp_seen {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_COUNT];
    int64_t max_age_ms;
    int64_t pruned_at;
};

/*  Created 0600 before SQLite opens it (its -wal and -shm files take the
    same mode); an existing file others may read is refused, as keys are. */
static int s_check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: mode %03o lets others read what this partner "
                 "handled; chmod 600 it", path, (unsigned) (st.st_mode & 0777));
        return -1;
    }
    return 0;
}

sp_seen_t *sp_seen_new(const char *path, int64_t max_age_ms, char *err, size_t errlen)
{
    sp_seen_t *self = calloc(1, sizeof *self);
    if (!self || (path && s_check_file(path, err, errlen) != 0))
        goto failed;
    self->max_age_ms = max_age_ms;
    if (sqlite3_open_v2(path ? path : ":memory:", &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK
        || sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK
        || sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(self->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        goto sql_failed;
    for (int i = 0; i < SQ_COUNT; i++)
        if (sqlite3_prepare_v2(self->db, s_sql[i], -1, &self->stmt[i], NULL) != SQLITE_OK)
            goto sql_failed;
    return self;
sql_failed:
    snprintf(err, errlen, "%s: %s", path ? path : "state", self->db
             ? sqlite3_errmsg(self->db) : "out of memory");
failed:
    sp_seen_destroy(&self);
    return NULL;
}

void sp_seen_destroy(sp_seen_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_seen_t *self = *self_p;
    for (int i = 0; i < SQ_COUNT; i++)
        sqlite3_finalize(self->stmt[i]);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

int64_t sp_seen_max_age(const sp_seen_t *self) { return self->max_age_ms; }
const char *sp_seen_errmsg(sp_seen_t *self) { return sqlite3_errmsg(self->db); }

/*  Steps stmt once: 1 a row, 0 none, -1 error; resets it.               */
static int s_step(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void s_bind_key(sqlite3_stmt *stmt, const char *router, const char *subscription)
{
    sqlite3_bind_text(stmt, 1, router, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, subscription, -1, SQLITE_STATIC);
}

int sp_seen_has_seq(sp_seen_t *self, const char *router, const char *subscription,
                    int64_t seq)
{
    sqlite3_stmt *stmt = self->stmt[SQ_HAS_SEQ];
    s_bind_key(stmt, router, subscription);
    sqlite3_bind_int64(stmt, 3, seq);
    return s_step(stmt);
}

int sp_seen_has_delivery(sp_seen_t *self, const char *router, const char *subscription,
                         int64_t seq, const char *source, const char *id)
{
    int rc = sp_seen_has_seq(self, router, subscription, seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *stmt = self->stmt[SQ_HAS_EVENT];
    s_bind_key(stmt, router, subscription);
    sqlite3_bind_text(stmt, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, id, -1, SQLITE_STATIC);
    return s_step(stmt);
}

int sp_seen_add(sp_seen_t *self, const char *router, const char *subscription,
                int64_t seq, const char *source, const char *id)
{
    sqlite3_stmt *stmt = self->stmt[SQ_ADD];
    s_bind_key(stmt, router, subscription);
    sqlite3_bind_int64(stmt, 3, seq);
    sqlite3_bind_text(stmt, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, sp_time_now_ms());
    return s_step(stmt) == 0 ? 0 : -1;
}

int sp_seen_has_batch(sp_seen_t *self, const uint8_t sha256[SP_SHA256_SIZE])
{
    sqlite3_stmt *stmt = self->stmt[SQ_HAS_BATCH];
    sqlite3_bind_blob(stmt, 1, sha256, SP_SHA256_SIZE, SQLITE_STATIC);
    return s_step(stmt);
}

static int s_prune(sp_seen_t *self, int64_t now)
{
    if (now - self->pruned_at < SEEN_PRUNE_EVERY_MS)
        return 0;
    self->pruned_at = now;
    for (int i = SQ_PRUNE_HANDLED; i <= SQ_PRUNE_BATCHES; i++) {
        sqlite3_bind_int64(self->stmt[i], 1, now - self->max_age_ms);
        if (s_step(self->stmt[i]) < 0)
            return -1;
    }
    return 0;
}

/*  The only commit with synchronous=FULL: SQLite fsyncs the WAL, and with
    it every frame that earlier, unsynced commits appended before.      */
int sp_seen_batch_done(sp_seen_t *self, const uint8_t sha256[SP_SHA256_SIZE])
{
    int64_t now = sp_time_now_ms();
    sqlite3_stmt *stmt = self->stmt[SQ_ADD_BATCH];
    if (s_prune(self, now) != 0
        || sqlite3_exec(self->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(stmt, 1, sha256, SP_SHA256_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now);
    int rc = s_step(stmt) == 0 ? 0 : -1;
    if (sqlite3_exec(self->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    return rc;
}

int sp_seen_keep_anchor(sp_seen_t *self, const char *router, int64_t seq,
                        const uint8_t sha256[SP_SHA256_SIZE],
                        const uint8_t batch_sha256[SP_SHA256_SIZE])
{
    int64_t now = sp_time_now_ms();
    sqlite3_stmt *stmt = self->stmt[SQ_ADD_ANCHOR];
    sqlite3_bind_text(stmt, 1, router, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now / 60000);
    sqlite3_bind_int64(stmt, 3, seq);
    sqlite3_bind_blob(stmt, 4, sha256, SP_SHA256_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now);
    sqlite3_bind_blob(stmt, 6, batch_sha256, SP_SHA256_SIZE, SQLITE_STATIC);
    return s_step(stmt) == 0 ? 0 : -1;
}
