/*  store.c - SQLite queue: schema, prepared statements, transactions.     */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schema.h"
#include "store.h"

typedef enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_SIGNAL_FIND, ST_SIGNAL_INSERT, ST_DELIVERY_INSERT, ST_MAX_SEQ,
    ST_PENDING_PAGE, ST_PENDING_STATS, ST_BATCH_INSERT, ST_DELIVERY_SENT,
    ST_RECEIPT_INSERT, ST_ACK_FIND, ST_ACK_MARK, ST_DELIVERY_FAIL, ST_DELIVERY_DEAD,
    ST_DELIVERIES_TRIED, ST_PENDING_UPTO,
    ST_COUNT
} store_stmt_t;

static const char *s_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
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
    [ST_ACK_FIND] =
        "SELECT d.id, d.signal_id, s.trace_id FROM deliveries d"
        " JOIN signals s ON s.id = d.signal_id"
        " WHERE d.subscriber = ? AND d.subscription = ? AND d.seq = ? AND d.state = 0",
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

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    bool in_tx;
    bool tx_durable;            /* the open transaction must be fsynced */
    bool unsynced;              /* a relaxed commit is not yet fsynced */
    int last_rc;                /* SQLITE_IOERR_FSYNC: an fsync of the WAL
                                   (the API gives primary codes only) */
    bool checkpoint_sync_failed;    /* set by s_wal_hook during a COMMIT */
    int schema_found;           /* the schema version found at open, 0: new */
};

sqlite3 *store_db(store_t *self) { return self->db; }
int store_schema_found(const store_t *self) { return self->schema_found; }
const char *store_errmsg(store_t *self)
{
    return self->last_rc == SQLITE_IOERR_FSYNC ? "fsync of the write-ahead log failed"
                                               : sqlite3_errmsg(self->db);
}
bool store_in_transaction(const store_t *self) { return self->in_tx; }

bool store_failure_is_storage(const store_t *self)
{
    int rc = self->last_rc & 0xff;
    return rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN
        || rc == SQLITE_READONLY || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        || rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_NOMEM;
}

static int s_exec(store_t *self, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    self->last_rc = sqlite3_exec(self->db, sql, NULL, NULL, &msg);
    if (self->last_rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(self->last_rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/*  quick_check reads every page: O(database size) at start, but a corrupt
    queue must be found before we acknowledge anything on top of it.      */
static int s_check_integrity(store_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db, "PRAGMA quick_check", -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "not a usable SQLite database: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *result = (const char *) sqlite3_column_text(stmt, 0);
        if (result && strcmp(result, "ok") == 0)
            rc = 0;
        else
            snprintf(err, errlen, "database is corrupt (quick_check: %.200s)",
                     result ? result : "?");
    } else
        snprintf(err, errlen, "database is corrupt or unreadable: %s",
                 sqlite3_errmsg(self->db));
    sqlite3_finalize(stmt);
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
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db, "PRAGMA journal_mode", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step(stmt) == SQLITE_ROW) {
        const char *mode = (const char *) sqlite3_column_text(stmt, 0);
        if (mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
            rc = 0;
        else
            snprintf(err, errlen, "the database did not switch to WAL (journal_mode %s)",
                     mode ? mode : "unknown");
    } else
        snprintf(err, errlen, "reading journal_mode: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(stmt);
    return rc;
}

static int s_setup(store_t *self, bool readonly, char *err, size_t errlen)
{
    sqlite3_busy_timeout(self->db, 5000);
    if (s_check_integrity(self, err, errlen) != 0)
        return -1;
    /* before anything is written, journal mode included: a database of a
       later release or of another program is refused as it was found  */
    if (schema_check(self->db, &self->schema_found, err, errlen) != 0)
        return -1;
    if (readonly)
        return 0;
    /* NORMAL: SQLite syncs the WAL only at checkpoints (and its header
       on restart); store_commit() syncs it itself after every durable
       transaction, which gives FULL's guarantee where one is owed.     */
    if (s_exec(self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-8000;", err, errlen) != 0
        || s_check_wal(self, err, errlen) != 0
        || schema_apply(self->db, &self->schema_found, err, errlen) != 0)
        return -1;
    sqlite3_wal_hook(self->db, s_wal_hook, self);
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &self->stmt[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(self->db));
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
    int flags = readonly ? SQLITE_OPEN_READONLY
                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!readonly) {
        if (s_check_private(path, err, errlen) != 0) {
            free(self);
            return NULL;
        }
        mode_t old = umask(077);    /* the queue holds personal data */
        int rc = sqlite3_open_v2(path, &self->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
        umask(old);
        if (rc != SQLITE_OK)
            goto failed;
    } else if (sqlite3_open_v2(path, &self->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        goto failed;
    if (s_setup(self, readonly, err, errlen) != 0) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", err);
        snprintf(err, errlen, "%s: %s", path, detail);
        store_destroy(&self);
        return NULL;
    }
    return self;
failed:
    snprintf(err, errlen, "%s: %s", path,
             self->db ? sqlite3_errmsg(self->db) : "cannot open");
    store_destroy(&self);
    return NULL;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->in_tx)
        store_rollback(self);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(self->stmt[i]);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

/*  Runs a prepared statement to completion (no rows expected).           */
static int s_step_done(store_t *self, sqlite3_stmt *stmt)
{
    self->last_rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return self->last_rc == SQLITE_DONE ? 0 : -1;
}

int store_begin_relaxed(store_t *self)
{
    /* SQLite rolls a transaction back by itself after some errors (FULL,
       IOERR, NOMEM); what the turn ran next would commit statement by
       statement. The turn has failed already: nothing more joins it.   */
    if (self->in_tx)
        return sqlite3_get_autocommit(self->db) ? -1 : 0;
    if (s_step_done(self, self->stmt[ST_BEGIN]) != 0)
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
    int rc = sqlite3_file_control(self->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc == SQLITE_OK && wal && wal->pMethods)
        rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
        self->last_rc = SQLITE_IOERR_FSYNC;
        return -1;
    }
    self->last_rc = SQLITE_OK;
    self->unsynced = false;
    return 0;
}

int store_commit(store_t *self)
{
    if (!self->in_tx)
        return 0;
    self->checkpoint_sync_failed = false;
    if (s_step_done(self, self->stmt[ST_COMMIT]) != 0)
        return -1;
    self->in_tx = false;
    self->unsynced = true;
    if (self->checkpoint_sync_failed) {
        self->last_rc = SQLITE_IOERR_FSYNC;
        return -1;
    }
    return self->tx_durable ? s_sync_wal(self) : 0;
}

int store_sync(store_t *self)
{
    return self->unsynced ? s_sync_wal(self) : 0;
}

bool store_unsynced(const store_t *self) { return self->unsynced; }
bool store_sync_failed(const store_t *self) { return self->last_rc == SQLITE_IOERR_FSYNC; }

void store_rollback(store_t *self)
{
    if (!self->in_tx)
        return;
    int saved = self->last_rc;
    s_step_done(self, self->stmt[ST_ROLLBACK]);
    self->last_rc = saved;
    /* SQLite may already have rolled back on its own (e.g. SQLITE_FULL). */
    self->in_tx = !sqlite3_get_autocommit(self->db);
}

static void s_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

int store_signal_find(store_t *self, const char *source, const char *ce_id,
                      int64_t *id, uint8_t sha256[SP_SHA256_SIZE])
{
    sqlite3_stmt *stmt = self->stmt[ST_SIGNAL_FIND];
    int found = -1;
    s_bind_text(stmt, 1, source);
    s_bind_text(stmt, 2, ce_id);
    self->last_rc = sqlite3_step(stmt);
    if (self->last_rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        if (sqlite3_column_bytes(stmt, 1) == SP_SHA256_SIZE)
            memcpy(sha256, sqlite3_column_blob(stmt, 1), SP_SHA256_SIZE);
        found = 1;
    } else if (self->last_rc == SQLITE_DONE)
        found = 0;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return found;
}

int store_signal_insert(store_t *self, const store_signal_t *signal, int64_t *id)
{
    sqlite3_stmt *stmt = self->stmt[ST_SIGNAL_INSERT];
    s_bind_text(stmt, 1, signal->source);
    s_bind_text(stmt, 2, signal->ce_id);
    s_bind_text(stmt, 3, signal->type);
    s_bind_text(stmt, 4, signal->emitter);
    sqlite3_bind_int64(stmt, 5, signal->received_at);
    sqlite3_bind_blob(stmt, 6, signal->event, (int) signal->event_len, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 7, signal->event_sha256, SP_SHA256_SIZE, SQLITE_STATIC);
    s_bind_text(stmt, 8, signal->key_id);
    sqlite3_bind_blob(stmt, 9, signal->signature, SP_SIGNATURE_SIZE, SQLITE_STATIC);
    s_bind_text(stmt, 10, signal->trace_id);
    s_bind_text(stmt, 11, signal->subject_pseudonym);
    if (s_step_done(self, stmt) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(self->db);
    return 0;
}

int store_delivery_insert(store_t *self, int64_t signal_id, const char *subscriber,
                          const char *subscription, int64_t seq, int64_t now)
{
    sqlite3_stmt *stmt = self->stmt[ST_DELIVERY_INSERT];
    sqlite3_bind_int64(stmt, 1, signal_id);
    s_bind_text(stmt, 2, subscriber);
    s_bind_text(stmt, 3, subscription);
    sqlite3_bind_int64(stmt, 4, seq);
    sqlite3_bind_int64(stmt, 5, now);
    return s_step_done(self, stmt);
}

int store_each_max_seq(store_t *self, store_seq_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = self->stmt[ST_MAX_SEQ];
    while ((self->last_rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn((const char *) sqlite3_column_text(stmt, 0),
           (const char *) sqlite3_column_text(stmt, 1),
           sqlite3_column_int64(stmt, 2), arg);
    sqlite3_reset(stmt);
    return self->last_rc == SQLITE_DONE ? 0 : -1;
}

static void s_copy_text(char *dst, size_t len, sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *) sqlite3_column_text(stmt, col);
    snprintf(dst, len, "%s", text ? text : "");
}

/*  A copy of a text column at its full length ("" for NULL), or NULL when
    out of memory.                                                       */
static char *s_dup_text(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *) sqlite3_column_text(stmt, col);
    return strdup(text ? text : "");
}

static void s_copy_blob(void *dst, size_t len, sqlite3_stmt *stmt, int col)
{
    if ((size_t) sqlite3_column_bytes(stmt, col) == len)
        memcpy(dst, sqlite3_column_blob(stmt, col), len);
    else
        memset(dst, 0, len);
}

static int s_read_pending(sqlite3_stmt *stmt, store_pending_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = sqlite3_column_int64(stmt, 0);
    row->signal_id = sqlite3_column_int64(stmt, 1);
    s_copy_text(row->subscription, sizeof row->subscription, stmt, 2);
    row->seq = sqlite3_column_int64(stmt, 3);
    row->created_at = sqlite3_column_int64(stmt, 4);
    row->attempts = sqlite3_column_int(stmt, 5);
    row->source = s_dup_text(stmt, 6);
    row->ce_id = s_dup_text(stmt, 7);
    row->type = s_dup_text(stmt, 8);
    if (!row->source || !row->ce_id || !row->type)
        return -1;
    s_copy_text(row->key_id, sizeof row->key_id, stmt, 9);
    s_copy_blob(row->signature, sizeof row->signature, stmt, 10);
    s_copy_blob(row->event_sha256, sizeof row->event_sha256, stmt, 11);
    s_copy_text(row->trace_id, sizeof row->trace_id, stmt, 12);
    if (sqlite3_column_type(stmt, 13) == SQLITE_NULL)
        return 0;
    row->event_len = (size_t) sqlite3_column_bytes(stmt, 13);
    row->event = malloc(row->event_len ? row->event_len : 1);
    if (!row->event)
        return -1;
    memcpy(row->event, sqlite3_column_blob(stmt, 13), row->event_len);
    return 0;
}

int store_pending_page(store_t *self, const char *subscriber, int64_t after,
                       int64_t upto, store_pending_t *out, int max)
{
    sqlite3_stmt *stmt = self->stmt[ST_PENDING_PAGE];
    int count = 0;
    s_bind_text(stmt, 1, subscriber);
    sqlite3_bind_int64(stmt, 2, after);
    sqlite3_bind_int64(stmt, 3, upto);
    sqlite3_bind_int(stmt, 4, max);
    while (count < max && (self->last_rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (s_read_pending(stmt, &out[count++]) != 0) {
            self->last_rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (self->last_rc != SQLITE_DONE && self->last_rc != SQLITE_ROW) {
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
    sqlite3_stmt *stmt = self->stmt[ST_PENDING_STATS];
    s_bind_text(stmt, 1, subscriber);
    self->last_rc = sqlite3_step(stmt);
    if (self->last_rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(stmt, 0);
        *oldest = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return self->last_rc == SQLITE_ROW ? 0 : -1;
}

static int s_insert_signed(store_t *self, store_stmt_t which, const char *subscriber,
                           int64_t now, const void *body, size_t len,
                           const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                           int64_t *id)
{
    sqlite3_stmt *stmt = self->stmt[which];
    s_bind_text(stmt, 1, subscriber);
    sqlite3_bind_int64(stmt, 2, now);
    sqlite3_bind_blob(stmt, 3, body, (int) len, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 4, sig, SP_SIGNATURE_SIZE, SQLITE_STATIC);
    s_bind_text(stmt, 5, key_id);
    if (s_step_done(self, stmt) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(self->db);
    return 0;
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
    sqlite3_bind_int64(self->stmt[ST_RECEIPT_INSERT], 6, batch_id);
    return s_insert_signed(self, ST_RECEIPT_INSERT, subscriber, now, body,
                           body_len, sig, key_id, receipt_id);
}

int store_deliveries_sent(store_t *self, const char *subscriber, int64_t first_id,
                          int64_t last_id, int expected, int64_t batch_id, int64_t now)
{
    sqlite3_stmt *stmt = self->stmt[ST_DELIVERY_SENT];
    sqlite3_bind_int64(stmt, 1, batch_id);
    sqlite3_bind_int64(stmt, 2, now);
    s_bind_text(stmt, 3, subscriber);
    sqlite3_bind_int64(stmt, 4, first_id);
    sqlite3_bind_int64(stmt, 5, last_id);
    if (s_step_done(self, stmt) != 0)
        return -1;
    return sqlite3_changes(self->db) == expected ? 0 : -1;
}

int store_delivery_ack(store_t *self, const char *subscriber, const char *subscription,
                       int64_t seq, int64_t receipt_id, int64_t batch_id, int64_t now,
                       int64_t *delivery_id, int64_t *signal_id, char trace_id[33])
{
    sqlite3_stmt *find = self->stmt[ST_ACK_FIND], *mark = self->stmt[ST_ACK_MARK];
    s_bind_text(find, 1, subscriber);
    s_bind_text(find, 2, subscription);
    sqlite3_bind_int64(find, 3, seq);
    self->last_rc = sqlite3_step(find);
    bool found = self->last_rc == SQLITE_ROW;
    if (found) {
        *delivery_id = sqlite3_column_int64(find, 0);
        *signal_id = sqlite3_column_int64(find, 1);
        s_copy_text(trace_id, 33, find, 2);
    }
    sqlite3_reset(find);
    sqlite3_clear_bindings(find);
    if (!found)
        return self->last_rc == SQLITE_DONE ? 0 : -1;
    sqlite3_bind_int64(mark, 1, receipt_id);
    sqlite3_bind_int64(mark, 2, batch_id);
    sqlite3_bind_int64(mark, 3, now);
    sqlite3_bind_int64(mark, 4, *delivery_id);
    return s_step_done(self, mark) == 0 ? 1 : -1;
}

int store_deliveries_tried(store_t *self, const char *subscriber, int64_t first_id,
                           int64_t last_id, const char *error, int64_t now)
{
    sqlite3_stmt *stmt = self->stmt[ST_DELIVERIES_TRIED];
    sqlite3_bind_int64(stmt, 1, now);
    s_bind_text(stmt, 2, error);
    s_bind_text(stmt, 3, subscriber);
    sqlite3_bind_int64(stmt, 4, first_id);
    sqlite3_bind_int64(stmt, 5, last_id);
    return s_step_done(self, stmt);
}

int store_delivery_fail(store_t *self, int64_t delivery_id, const char *error)
{
    sqlite3_stmt *stmt = self->stmt[ST_DELIVERY_FAIL];
    s_bind_text(stmt, 1, error);
    sqlite3_bind_int64(stmt, 2, delivery_id);
    return s_step_done(self, stmt);
}

int store_delivery_dead(store_t *self, int64_t delivery_id, const char *reason,
                        int64_t now)
{
    sqlite3_stmt *stmt = self->stmt[ST_DELIVERY_DEAD];
    sqlite3_bind_int64(stmt, 1, now);
    s_bind_text(stmt, 2, reason);
    sqlite3_bind_int64(stmt, 3, delivery_id);
    return s_step_done(self, stmt);
}

int store_each_pending_upto(store_t *self, const char *subscriber,
                            const char *subscription, int64_t through_seq,
                            store_delivery_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = self->stmt[ST_PENDING_UPTO];
    int rc = 0;
    s_bind_text(stmt, 1, subscriber);
    s_bind_text(stmt, 2, subscription);
    sqlite3_bind_int64(stmt, 3, through_seq);
    while (rc == 0 && (self->last_rc = sqlite3_step(stmt)) == SQLITE_ROW)
        rc = fn(sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                sqlite3_column_int64(stmt, 2),
                (const char *) sqlite3_column_text(stmt, 3), arg);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != 0)
        return -1;
    return self->last_rc == SQLITE_DONE ? 0 : -1;
}
