/*  store.c - the queue: prepared statements, transactions, the fsync.   */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "db.h"
#include "lease.h"
#include "schema.h"
#include "store.h"

typedef enum {
    ST_SIGNAL_FIND, ST_SIGNAL_INSERT, ST_DELIVERY_INSERT, ST_MAX_SEQ,
    ST_PENDING_PAGE, ST_PENDING_STATS, ST_BATCH_INSERT, ST_DELIVERY_SENT,
    ST_RECEIPT_INSERT, ST_ACK_FIND, ST_ACK_MARK, ST_DELIVERY_FAIL, ST_DELIVERY_DEAD,
    ST_DELIVERIES_TRIED, ST_PENDING_UPTO,
    ST_COUNT
} store_stmt_t;

static const char *s_sql[ST_COUNT] = {
    [ST_SIGNAL_FIND] = "SELECT id, event_sha256 FROM signals WHERE source = ? AND ce_id = ?",
    [ST_SIGNAL_INSERT] =
        "INSERT INTO signals(source, ce_id, type, emitter, received_at, event,"
        " event_sha256, key_id, signature, trace_id, subject_pseudonym)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [ST_DELIVERY_INSERT] =
        "INSERT INTO deliveries(signal_id, subscriber, subscription, seq, created_at)"
        " VALUES(?,?,?,?,?)",
    [ST_MAX_SEQ] = "SELECT subscriber, subscription, MAX(seq) FROM deliveries"
                   " GROUP BY subscriber, subscription",
    [ST_PENDING_PAGE] =
        "SELECT d.id, d.signal_id, d.subscription, d.seq, d.created_at, d.attempts,"
        " s.source, s.ce_id, s.type, s.key_id, s.signature, s.event_sha256,"
        " s.trace_id, s.event"
        " FROM deliveries d JOIN signals s ON s.id = d.signal_id"
        " WHERE d.subscriber = ? AND d.state = 0 AND d.id > ? AND d.id <= ?"
        " ORDER BY d.id LIMIT ?",
    [ST_PENDING_STATS] = "SELECT COUNT(*), MIN(created_at) FROM deliveries"
                         " WHERE subscriber = ? AND state = 0",
    [ST_BATCH_INSERT] = "INSERT INTO batches(subscriber, sent_at, header, signature, key_id)"
                        " VALUES(?,?,?,?,?)",
    [ST_DELIVERY_SENT] = "UPDATE deliveries SET batch_id = ?, attempts = attempts + 1,"
                         " last_attempt_at = ? WHERE subscriber = ? AND state = 0"
                         " AND id BETWEEN ? AND ?",
    [ST_RECEIPT_INSERT] = "INSERT INTO receipts(subscriber, received_at, body, signature,"
                          " key_id, batch_id) VALUES(?,?,?,?,?,?)",
    /* the state is checked by the caller, not here: with "state = 0" in
       the WHERE, PostgreSQL plans the lookup on the partial index
       deliveries_pending until deliveries is analysed, and reads every
       pending delivery of the subscriber (21 ms at 100 000, not 0.05)  */
    [ST_ACK_FIND] =
        "SELECT d.id, d.signal_id, s.trace_id, d.state FROM deliveries d"
        " JOIN signals s ON s.id = d.signal_id"
        " WHERE d.subscriber = ? AND d.subscription = ? AND d.seq = ?",
    [ST_ACK_MARK] =
        "UPDATE deliveries SET state = 1, receipt_id = ?, batch_id = ?, done_at = ?,"
        " last_error = NULL WHERE id = ? AND state = 0",
    [ST_DELIVERY_FAIL] = "UPDATE deliveries SET last_error = ? WHERE id = ?",
    [ST_DELIVERY_DEAD] = "UPDATE deliveries SET state = 2, done_at = ?, last_error = ?"
                         " WHERE id = ? AND state = 0",
    /* the subscriber's pending rows, not every row the subscription ever
       had: within a subscription id and seq grow together (a redelivery
       takes a new id and the next seq), so id order is seq order       */
    [ST_PENDING_UPTO] =
        "SELECT d.id, d.signal_id, d.seq, s.trace_id"
        " FROM deliveries d INDEXED BY deliveries_pending"
        " JOIN signals s ON s.id = d.signal_id"
        " WHERE d.subscriber = ? AND d.subscription = ? AND d.state = 0 AND d.seq <= ?"
        " ORDER BY d.id",
    [ST_DELIVERIES_TRIED] = "UPDATE deliveries SET attempts = attempts + 1,"
                            " last_attempt_at = ?, last_error = ? WHERE subscriber = ?"
                            " AND state = 0 AND id BETWEEN ? AND ?",
};

/*  Where PostgreSQL needs other words: it plans by its own statistics
    and has no INDEXED BY.                                              */
static const char *s_sql_pg(store_stmt_t which, char *buf, size_t len)
{
    /* SQLite says a new row's id without being asked (its rowid), which
       costs less than RETURNING; PostgreSQL needs to be asked          */
    if (which == ST_SIGNAL_INSERT || which == ST_DELIVERY_INSERT || which == ST_BATCH_INSERT
        || which == ST_RECEIPT_INSERT) {
        snprintf(buf, len, "%s RETURNING id", s_sql[which]);
        return buf;
    }
    if (which == ST_PENDING_UPTO)
        return "SELECT d.id, d.signal_id, d.seq, s.trace_id"
               " FROM deliveries d JOIN signals s ON s.id = d.signal_id"
               " WHERE d.subscriber = ? AND d.subscription = ? AND d.state = 0 AND d.seq <= ?"
               " ORDER BY d.id";
    return s_sql[which];
}

struct store {
    db_t *db;
    db_stmt_t *stmt[ST_COUNT];
    bool in_tx;
    bool tx_durable;            /* the open transaction must be fsynced */
    bool unsynced;              /* a relaxed commit is not yet fsynced */
    db_error_t last_error;      /* what the last call meant */
    bool fsync_failed;          /* the last call was an fsync of the WAL that
                                   failed (SQLite's API would say IOERR only) */
    bool checkpoint_sync_failed;    /* set by s_wal_hook during a COMMIT */
    int schema_found;           /* the schema version found at open, 0: new */
    int64_t delivery_id;        /* of the last store_delivery_insert() */
    db_stmt_t *fence;           /* PostgreSQL with a lease: LEASE_FENCE_SQL */
    bool fenced;                /* the last begin found the lease not ours */
};

db_t *store_conn(store_t *self) { return self->db; }
sqlite3 *store_db(store_t *self) { return db_sqlite_handle(self->db); }
int store_schema_found(const store_t *self) { return self->schema_found; }
int64_t store_last_delivery_id(const store_t *self) { return self->delivery_id; }
const char *store_errmsg(store_t *self)
{
    return self->fsync_failed ? "fsync of the write-ahead log failed" : db_errmsg(self->db);
}
bool store_in_transaction(const store_t *self) { return self->in_tx; }

bool store_failure_is_storage(const store_t *self)
{
    return self->last_error == DB_ERR_STORAGE || self->last_error == DB_ERR_BUSY;
}

/*  ok, with what the last call meant kept for store_failure_is_storage(). */
static bool s_note(store_t *self, bool ok)
{
    self->last_error = ok ? DB_ERR_NONE : db_error(self->db);
    if (!ok && self->last_error == DB_ERR_NONE)
        self->last_error = DB_ERR_OTHER;
    self->fsync_failed = false;
    return ok;
}

static int s_exec(store_t *self, const char *sql, char *err, size_t errlen)
{
    if (s_note(self, db_exec(self->db, sql) == 0))
        return 0;
    snprintf(err, errlen, "%s", db_errmsg(self->db));
    return -1;
}

/*  quick_check reads every page: O(database size) at start, but a corrupt
    queue must be found before we acknowledge anything on top of it.      */
static int s_check_integrity(store_t *self, char *err, size_t errlen)
{
    db_stmt_t *stmt = db_prepare(self->db, "PRAGMA quick_check", false);
    int rc = -1;
    if (!stmt) {
        snprintf(err, errlen, "not a usable SQLite database: %s", db_errmsg(self->db));
        return -1;
    }
    if (db_step(stmt) == DB_ROW) {
        const char *result = db_column_text(stmt, 0);
        if (result && strcmp(result, "ok") == 0)
            rc = 0;
        else
            snprintf(err, errlen, "database is corrupt (quick_check: %.200s)",
                     result ? result : "?");
    } else
        snprintf(err, errlen, "database is corrupt or unreadable: %s", db_errmsg(self->db));
    db_finalize(&stmt);
    return rc;
}

/*  SQLite's automatic checkpoint, with its result kept. At
    synchronous=NORMAL it runs inside COMMIT, before store_commit()'s own
    fsync, and its fsync can be the one that reports a write error of the
    WAL (Linux reports one error once): SQLite's default hook drops the
    result, so store_commit() would then fsync again, succeed, and answer
    for pages the disk never got.                                        */
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    store_t *self = arg;
    if (frames >= STORE_CHECKPOINT_FRAMES
        && sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
               != SQLITE_OK
        && sqlite3_extended_errcode(db) == SQLITE_IOERR_FSYNC)
        self->checkpoint_sync_failed = true;
    return SQLITE_OK;
}

/*  store_commit() fsyncs the WAL itself: a database that stayed in another
    journal mode would get no fsync at all from it.                     */
static int s_check_wal(store_t *self, char *err, size_t errlen)
{
    db_stmt_t *stmt = db_prepare(self->db, "PRAGMA journal_mode", false);
    int rc = -1;
    if (stmt && db_step(stmt) == DB_ROW) {
        const char *mode = db_column_text(stmt, 0);
        if (mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
            rc = 0;
        else
            snprintf(err, errlen, "the database did not switch to WAL (journal_mode %s)",
                     mode ? mode : "unknown");
    } else
        snprintf(err, errlen, "reading journal_mode: %s", db_errmsg(self->db));
    db_finalize(&stmt);
    return rc;
}

/*  NORMAL: SQLite syncs the WAL only at checkpoints (and its header on
    restart); store_commit() syncs it itself after every durable
    transaction, which gives FULL's guarantee where one is owed.        */
static int s_setup_sqlite(store_t *self, char *err, size_t errlen)
{
    return s_exec(self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                        "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-8000;", err, errlen) != 0
        || s_check_wal(self, err, errlen) != 0 ? -1 : 0;
}

/*  A setting of the server's, read with SHOW into value.                */
static int s_pg_setting(store_t *self, const char *name, char *value, size_t len,
                        char *err, size_t errlen)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SHOW %s", name);
    db_stmt_t *stmt = db_prepare(self->db, sql, false);
    int rc = stmt && db_step(stmt) == DB_ROW && db_column_text(stmt, 0) ? 0 : -1;
    if (rc == 0)
        snprintf(value, len, "%s", db_column_text(stmt, 0));
    else
        snprintf(err, errlen, "reading %s: %s", name, db_errmsg(self->db));
    db_finalize(&stmt);
    return rc;
}

/*  On PostgreSQL the commit is the fsync: ACCEPTED follows the COMMIT,
    so a server that acknowledges commits before they are on disk would
    make the answer a lie. on, remote_write, remote_apply and local all
    flush locally first (remote_* also wait for a standby).             */
static int s_setup_pg(store_t *self, char *err, size_t errlen)
{
    char fsync[32], commit[32];
    if (s_pg_setting(self, "fsync", fsync, sizeof fsync, err, errlen) != 0
        || s_pg_setting(self, "synchronous_commit", commit, sizeof commit, err, errlen) != 0)
        return -1;
    if (strcmp(fsync, "on") != 0 || strcmp(commit, "off") == 0) {
        snprintf(err, errlen, "PostgreSQL has fsync %s and synchronous_commit %s: a commit "
                 "could be lost after it returns, and seinpostd answers ACCEPTED after its "
                 "commit; set fsync on and synchronous_commit on (remote_apply on a "
                 "replicated cluster)", fsync, commit);
        return -1;
    }
    return 0;
}

static int s_setup(store_t *self, bool readonly, char *err, size_t errlen)
{
    bool sqlite = db_engine(self->db) == DB_SQLITE;
    if (sqlite && s_check_integrity(self, err, errlen) != 0)
        return -1;
    /* before anything is written, journal mode included: a database of a
       later release or of another program is refused as it was found  */
    if (schema_check(self->db, &self->schema_found, err, errlen) != 0)
        return -1;
    if (readonly)
        return 0;
    if ((sqlite ? s_setup_sqlite(self, err, errlen) : s_setup_pg(self, err, errlen)) != 0
        || schema_apply(self->db, &self->schema_found, err, errlen) != 0)
        return -1;
    if (sqlite)
        sqlite3_wal_hook(db_sqlite_handle(self->db), s_wal_hook, self);
    for (int i = 0; i < ST_COUNT; i++) {
        char buf[1024];
        const char *sql = sqlite ? s_sql[i] : s_sql_pg((store_stmt_t) i, buf, sizeof buf);
        if (!(self->stmt[i] = db_prepare(self->db, sql, true))) {
            snprintf(err, errlen, "preparing statement %d: %s", i, db_errmsg(self->db));
            return -1;
        }
    }
    return 0;
}

/*  The queue holds personal data. A new database is made 0600 (the umask
    around the open; SQLite gives its -wal and -shm the database's mode);
    one that exists must not be open to group or others, as a key file
    must not be: the daemon refuses to start on it rather than go on
    writing personal data into a file others can read. One exception is
    the auditor role (seinpost(1), Auditor role): read, and only read,
    for the group STORE_AUDIT_GROUP.                                    */
#define STORE_AUDIT_GROUP "seinpost-audit"

static bool s_auditor_readable(const struct stat *st)
{
    const struct group *group = getgrnam(STORE_AUDIT_GROUP);
    return group && st->st_gid == group->gr_gid
        && (st->st_mode & (S_IRWXG | S_IRWXO)) == S_IRGRP;
}

static int s_check_private(const char *path, char *err, size_t errlen)
{
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    char name[4096];
    struct stat st;
    if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (snprintf(name, sizeof name, "%s%s", path, suffixes[i]) >= (int) sizeof name) {
            snprintf(err, errlen, "%.1024s: path too long", path);
            return -1;
        }
        if (stat(name, &st) != 0) {
            if (errno == ENOENT)
                continue;
            snprintf(err, errlen, "%.1024s: %s", name, strerror(errno));
            return -1;
        }
        if ((st.st_mode & (S_IRWXG | S_IRWXO)) && !s_auditor_readable(&st)) {
            snprintf(err, errlen, "%.1024s: database is accessible by group or others "
                     "(mode %03o); chmod 600 it", name, (unsigned) (st.st_mode & 0777));
            return -1;
        }
    }
    return 0;
}

store_t *store_open(const char *path, bool readonly, char *err, size_t errlen)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!readonly && !db_target_is_postgresql(path)) {
        if (s_check_private(path, err, errlen) != 0) {
            free(self);
            return NULL;
        }
        mode_t old = umask(077);    /* the queue holds personal data */
        self->db = db_open(path, false, err, errlen);
        umask(old);
    } else
        self->db = db_open(path, readonly, err, errlen);
    if (!self->db) {
        free(self);
        return NULL;
    }
    if (s_setup(self, readonly, err, errlen) != 0) {
        char detail[512], name[256];
        snprintf(detail, sizeof detail, "%s", err);
        db_target_display(path, name, sizeof name);
        snprintf(err, errlen, "%s: %s", name, detail);
        store_destroy(&self);
        return NULL;
    }
    return self;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->in_tx)
        store_rollback(self);
    for (int i = 0; i < ST_COUNT; i++)
        db_finalize(&self->stmt[i]);
    db_finalize(&self->fence);
    db_destroy(&self->db);
    free(self);
    *self_p = NULL;
}

/*  Runs a prepared statement to completion (no rows expected).           */
static int s_step_done(store_t *self, db_stmt_t *stmt)
{
    bool ok = s_note(self, db_step(stmt) == DB_DONE);
    db_reset(stmt);
    db_clear_bindings(stmt);
    return ok ? 0 : -1;
}

/*  One step, with what it meant kept: DB_ROW, DB_DONE or DB_ERROR.     */
static db_step_t s_step(store_t *self, db_stmt_t *stmt)
{
    db_step_t step = db_step(stmt);
    s_note(self, step != DB_ERROR);
    return step;
}

/*  Runs an INSERT: the new row's id in *id (SQLite's rowid, or what the
    PostgreSQL variant's RETURNING id gives).                          */
static int s_step_id(store_t *self, db_stmt_t *stmt, int64_t *id)
{
    bool sqlite = db_engine(self->db) == DB_SQLITE;
    bool ok = s_note(self, db_step(stmt) == (sqlite ? DB_DONE : DB_ROW));
    if (ok)
        *id = sqlite ? db_last_insert_id(self->db) : db_column_int64(stmt, 0);
    db_reset(stmt);
    db_clear_bindings(stmt);
    return ok ? 0 : -1;
}

int store_set_fence(store_t *self, const char *holder, int64_t token, int64_t ttl_ms)
{
    char sql[96];
    /* a node paused inside a transaction holds the fence's lock: the
       server ends its session after the lease's time, so that the
       standby's takeover does not wait for it to wake up             */
    snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %lld",
             (long long) ttl_ms);
    db_finalize(&self->fence);
    if (db_engine(self->db) != DB_POSTGRESQL
        || !s_note(self, db_exec(self->db, sql) == 0)
        || !(self->fence = db_prepare(self->db, LEASE_FENCE_SQL, true))
        || db_bind_text(self->fence, 1, holder, -1) != 0
        || db_bind_int64(self->fence, 2, token) != 0)
        return -1;
    return 0;
}

bool store_fenced(const store_t *self) { return self->fenced; }

/*  In the transaction just begun: is the lease still ours? Its row stays
    locked against a takeover until the transaction ends.               */
static int s_check_fence(store_t *self)
{
    db_step_t step = s_step(self, self->fence);
    db_reset(self->fence);
    if (step == DB_ROW)
        return 0;
    self->fenced = step == DB_DONE;
    if (self->fenced)
        self->last_error = DB_ERR_OTHER;
    db_rollback(self->db);
    return -1;
}

int store_begin_relaxed(store_t *self)
{
    /* SQLite rolls a transaction back by itself after some errors (FULL,
       IOERR, NOMEM); what the turn ran next would commit statement by
       statement. The turn has failed already: nothing more joins it.   */
    if (self->in_tx)
        return db_in_transaction(self->db) ? 0 : -1;
    if (!s_note(self, db_begin(self->db) == 0) || (self->fence && s_check_fence(self) != 0))
        return -1;
    self->in_tx = true;
    self->tx_durable = false;
    return 0;
}

int store_begin(store_t *self)
{
    if (store_begin_relaxed(self) != 0)
        return -1;
    self->tx_durable = true;
    return 0;
}

/*  fdatasync of the WAL, through SQLite's own file object so that its
    VFS (and its directory sync after creating the file) is honoured.   */
static int s_sync_wal(store_t *self)
{
    sqlite3_file *wal = NULL;
    int rc = sqlite3_file_control(db_sqlite_handle(self->db), "main",
                                  SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc == SQLITE_OK && wal && wal->pMethods)
        rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
        self->last_error = DB_ERR_STORAGE;
        self->fsync_failed = true;
        return -1;
    }
    s_note(self, true);
    self->unsynced = false;
    return 0;
}

int store_commit(store_t *self)
{
    if (!self->in_tx)
        return 0;
    self->checkpoint_sync_failed = false;
    if (!s_note(self, db_commit(self->db) == 0))
        return -1;
    self->in_tx = false;
    if (db_engine(self->db) == DB_POSTGRESQL)
        return 0;       /* the server flushed its WAL before COMMIT returned */
    self->unsynced = true;
    if (self->checkpoint_sync_failed) {
        self->last_error = DB_ERR_STORAGE;
        self->fsync_failed = true;
        return -1;
    }
    return self->tx_durable ? s_sync_wal(self) : 0;
}

int store_sync(store_t *self)
{
    return self->unsynced ? s_sync_wal(self) : 0;
}

bool store_unsynced(const store_t *self) { return self->unsynced; }
bool store_sync_failed(const store_t *self) { return self->fsync_failed; }

void store_rollback(store_t *self)
{
    if (!self->in_tx)
        return;
    db_error_t saved = self->last_error;
    bool saved_fsync = self->fsync_failed;
    db_rollback(self->db);
    self->last_error = saved;
    self->fsync_failed = saved_fsync;
    /* SQLite may already have rolled back on its own (e.g. SQLITE_FULL). */
    self->in_tx = db_in_transaction(self->db);
}

/*  Every statement here is reset and its bindings cleared right after
    its step (s_step_done, s_step_id, and the readers): the caller's
    bytes outlive their use, and need no copy.                         */
static void s_bind_text(db_stmt_t *stmt, int index, const char *text)
{
    db_bind_text_ref(stmt, index, text, -1);
}

int store_signal_find(store_t *self, const char *source, const char *ce_id,
                      int64_t *id, uint8_t sha256[SP_SHA256_SIZE])
{
    db_stmt_t *stmt = self->stmt[ST_SIGNAL_FIND];
    int found = -1;
    s_bind_text(stmt, 1, source);
    s_bind_text(stmt, 2, ce_id);
    db_step_t step = s_step(self, stmt);
    if (step == DB_ROW) {
        *id = db_column_int64(stmt, 0);
        if (db_column_bytes(stmt, 1) == SP_SHA256_SIZE)
            memcpy(sha256, db_column_blob(stmt, 1), SP_SHA256_SIZE);
        found = 1;
    } else if (step == DB_DONE)
        found = 0;
    db_reset(stmt);
    db_clear_bindings(stmt);
    return found;
}

int store_signal_insert(store_t *self, const store_signal_t *signal, int64_t *id)
{
    db_stmt_t *stmt = self->stmt[ST_SIGNAL_INSERT];
    s_bind_text(stmt, 1, signal->source);
    s_bind_text(stmt, 2, signal->ce_id);
    s_bind_text(stmt, 3, signal->type);
    s_bind_text(stmt, 4, signal->emitter);
    db_bind_int64(stmt, 5, signal->received_at);
    db_bind_blob_ref(stmt, 6, signal->event, signal->event_len);
    db_bind_blob_ref(stmt, 7, signal->event_sha256, SP_SHA256_SIZE);
    s_bind_text(stmt, 8, signal->key_id);
    db_bind_blob_ref(stmt, 9, signal->signature, SP_SIGNATURE_SIZE);
    s_bind_text(stmt, 10, signal->trace_id);
    s_bind_text(stmt, 11, signal->subject_pseudonym);
    return s_step_id(self, stmt, id);
}

int store_delivery_insert(store_t *self, int64_t signal_id, const char *subscriber,
                          const char *subscription, int64_t seq, int64_t now)
{
    db_stmt_t *stmt = self->stmt[ST_DELIVERY_INSERT];
    db_bind_int64(stmt, 1, signal_id);
    s_bind_text(stmt, 2, subscriber);
    s_bind_text(stmt, 3, subscription);
    db_bind_int64(stmt, 4, seq);
    db_bind_int64(stmt, 5, now);
    return s_step_id(self, stmt, &self->delivery_id);
}

int store_each_max_seq(store_t *self, store_seq_fn *fn, void *arg)
{
    db_stmt_t *stmt = self->stmt[ST_MAX_SEQ];
    db_step_t step;
    while ((step = s_step(self, stmt)) == DB_ROW)
        fn(db_column_text(stmt, 0),
           db_column_text(stmt, 1),
           db_column_int64(stmt, 2), arg);
    db_reset(stmt);
    return step == DB_DONE ? 0 : -1;
}

static void s_copy_text(char *dst, size_t len, db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    snprintf(dst, len, "%s", text ? text : "");
}

/*  A copy of a text column at its full length ("" for NULL), or NULL when
    out of memory.                                                       */
static char *s_dup_text(db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    return strdup(text ? text : "");
}

static void s_copy_blob(void *dst, size_t len, db_stmt_t *stmt, int col)
{
    if (db_column_bytes(stmt, col) == len)
        memcpy(dst, db_column_blob(stmt, col), len);
    else
        memset(dst, 0, len);
}

static int s_read_pending(db_stmt_t *stmt, store_pending_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = db_column_int64(stmt, 0);
    row->signal_id = db_column_int64(stmt, 1);
    s_copy_text(row->subscription, sizeof row->subscription, stmt, 2);
    row->seq = db_column_int64(stmt, 3);
    row->created_at = db_column_int64(stmt, 4);
    row->attempts = (int) db_column_int64(stmt, 5);
    row->source = s_dup_text(stmt, 6);
    row->ce_id = s_dup_text(stmt, 7);
    row->type = s_dup_text(stmt, 8);
    if (!row->source || !row->ce_id || !row->type)
        return -1;
    s_copy_text(row->key_id, sizeof row->key_id, stmt, 9);
    s_copy_blob(row->signature, sizeof row->signature, stmt, 10);
    s_copy_blob(row->event_sha256, sizeof row->event_sha256, stmt, 11);
    s_copy_text(row->trace_id, sizeof row->trace_id, stmt, 12);
    if (db_column_is_null(stmt, 13))
        return 0;
    row->event_len = db_column_bytes(stmt, 13);
    row->event = malloc(row->event_len ? row->event_len : 1);
    if (!row->event)
        return -1;
    memcpy(row->event, db_column_blob(stmt, 13), row->event_len);
    return 0;
}

int store_pending_page(store_t *self, const char *subscriber, int64_t after,
                       int64_t upto, store_pending_t *out, int max)
{
    db_stmt_t *stmt = self->stmt[ST_PENDING_PAGE];
    int count = 0;
    s_bind_text(stmt, 1, subscriber);
    db_bind_int64(stmt, 2, after);
    db_bind_int64(stmt, 3, upto);
    db_bind_int64(stmt, 4, max);
    db_step_t step = DB_DONE;
    while (count < max && (step = s_step(self, stmt)) == DB_ROW) {
        if (s_read_pending(stmt, &out[count++]) != 0) {
            self->last_error = DB_ERR_STORAGE;     /* out of memory: try later */
            step = DB_ERROR;
            break;
        }
    }
    db_reset(stmt);
    db_clear_bindings(stmt);
    if (step == DB_ERROR) {
        store_pending_clear(out, count);
        return -1;
    }
    return count;
}

void store_pending_clear(store_pending_t *rows, int count)
{
    for (int i = 0; i < count; i++) {
        free(rows[i].source);
        free(rows[i].ce_id);
        free(rows[i].type);
        free(rows[i].event);
        rows[i].source = rows[i].ce_id = rows[i].type = NULL;
        rows[i].event = NULL;
    }
}

int store_pending_stats(store_t *self, const char *subscriber, int64_t *count,
                        int64_t *oldest)
{
    db_stmt_t *stmt = self->stmt[ST_PENDING_STATS];
    s_bind_text(stmt, 1, subscriber);
    db_step_t step = s_step(self, stmt);
    if (step == DB_ROW) {
        *count = db_column_int64(stmt, 0);
        *oldest = db_column_int64(stmt, 1);
    }
    db_reset(stmt);
    db_clear_bindings(stmt);
    return step == DB_ROW ? 0 : -1;
}

static int s_insert_signed(store_t *self, store_stmt_t which, const char *subscriber,
                           int64_t now, const void *body, size_t len,
                           const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                           int64_t *id)
{
    db_stmt_t *stmt = self->stmt[which];
    s_bind_text(stmt, 1, subscriber);
    db_bind_int64(stmt, 2, now);
    db_bind_blob_ref(stmt, 3, body, len);
    db_bind_blob_ref(stmt, 4, sig, SP_SIGNATURE_SIZE);
    s_bind_text(stmt, 5, key_id);
    return s_step_id(self, stmt, id);
}

int store_batch_insert(store_t *self, const char *subscriber, int64_t now,
                       const void *header, size_t header_len,
                       const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                       int64_t *batch_id)
{
    return s_insert_signed(self, ST_BATCH_INSERT, subscriber, now, header,
                           header_len, sig, key_id, batch_id);
}

int store_receipt_insert(store_t *self, const char *subscriber, int64_t now,
                         const void *body, size_t body_len,
                         const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                         int64_t batch_id, int64_t *receipt_id)
{
    db_bind_int64(self->stmt[ST_RECEIPT_INSERT], 6, batch_id);
    return s_insert_signed(self, ST_RECEIPT_INSERT, subscriber, now, body,
                           body_len, sig, key_id, receipt_id);
}

int store_deliveries_sent(store_t *self, const char *subscriber, int64_t first_id,
                          int64_t last_id, int expected, int64_t batch_id, int64_t now)
{
    db_stmt_t *stmt = self->stmt[ST_DELIVERY_SENT];
    db_bind_int64(stmt, 1, batch_id);
    db_bind_int64(stmt, 2, now);
    s_bind_text(stmt, 3, subscriber);
    db_bind_int64(stmt, 4, first_id);
    db_bind_int64(stmt, 5, last_id);
    if (s_step_done(self, stmt) != 0)
        return -1;
    return db_changes(self->db) == expected ? 0 : -1;
}

int store_delivery_ack(store_t *self, const char *subscriber, const char *subscription,
                       int64_t seq, int64_t receipt_id, int64_t batch_id, int64_t now,
                       int64_t *delivery_id, int64_t *signal_id, char trace_id[33])
{
    db_stmt_t *find = self->stmt[ST_ACK_FIND], *mark = self->stmt[ST_ACK_MARK];
    s_bind_text(find, 1, subscriber);
    s_bind_text(find, 2, subscription);
    db_bind_int64(find, 3, seq);
    db_step_t step = s_step(self, find);
    bool found = step == DB_ROW && db_column_int64(find, 3) == DELIVERY_PENDING;
    if (found) {
        *delivery_id = db_column_int64(find, 0);
        *signal_id = db_column_int64(find, 1);
        s_copy_text(trace_id, 33, find, 2);
    }
    db_reset(find);
    db_clear_bindings(find);
    if (!found)
        return step == DB_DONE || step == DB_ROW ? 0 : -1;
    db_bind_int64(mark, 1, receipt_id);
    db_bind_int64(mark, 2, batch_id);
    db_bind_int64(mark, 3, now);
    db_bind_int64(mark, 4, *delivery_id);
    return s_step_done(self, mark) == 0 ? 1 : -1;
}

int store_deliveries_tried(store_t *self, const char *subscriber, int64_t first_id,
                           int64_t last_id, const char *error, int64_t now)
{
    db_stmt_t *stmt = self->stmt[ST_DELIVERIES_TRIED];
    db_bind_int64(stmt, 1, now);
    s_bind_text(stmt, 2, error);
    s_bind_text(stmt, 3, subscriber);
    db_bind_int64(stmt, 4, first_id);
    db_bind_int64(stmt, 5, last_id);
    return s_step_done(self, stmt);
}

int store_delivery_fail(store_t *self, int64_t delivery_id, const char *error)
{
    db_stmt_t *stmt = self->stmt[ST_DELIVERY_FAIL];
    s_bind_text(stmt, 1, error);
    db_bind_int64(stmt, 2, delivery_id);
    return s_step_done(self, stmt);
}

int store_delivery_dead(store_t *self, int64_t delivery_id, const char *reason,
                        int64_t now)
{
    db_stmt_t *stmt = self->stmt[ST_DELIVERY_DEAD];
    db_bind_int64(stmt, 1, now);
    s_bind_text(stmt, 2, reason);
    db_bind_int64(stmt, 3, delivery_id);
    return s_step_done(self, stmt);
}

int store_each_pending_upto(store_t *self, const char *subscriber,
                            const char *subscription, int64_t through_seq,
                            store_delivery_fn *fn, void *arg)
{
    db_stmt_t *stmt = self->stmt[ST_PENDING_UPTO];
    int rc = 0;
    s_bind_text(stmt, 1, subscriber);
    s_bind_text(stmt, 2, subscription);
    db_bind_int64(stmt, 3, through_seq);
    db_step_t step = DB_DONE;
    while (rc == 0 && (step = s_step(self, stmt)) == DB_ROW)
        rc = fn(db_column_int64(stmt, 0), db_column_int64(stmt, 1),
                db_column_int64(stmt, 2),
                db_column_text(stmt, 3), arg);
    db_reset(stmt);
    db_clear_bindings(stmt);
    if (rc != 0)
        return -1;
    return step == DB_DONE ? 0 : -1;
}
