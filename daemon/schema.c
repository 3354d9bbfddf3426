/*  schema.c - the queue's tables and the migrations between versions.   */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define S_TEXT_(x) #x
#define S_TEXT(x) S_TEXT_(x)

/*  The tables as this release creates them. Every table and index is
    IF NOT EXISTS: on an older database this also creates what was added
    since, inside the migration's transaction.                         */
static const char *s_tables =
    "CREATE TABLE IF NOT EXISTS meta("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS signals("
    "  id INTEGER PRIMARY KEY, source TEXT NOT NULL, ce_id TEXT NOT NULL,"
    "  type TEXT NOT NULL, emitter TEXT NOT NULL, received_at INTEGER NOT NULL,"
    "  event BLOB, event_sha256 BLOB NOT NULL, key_id TEXT NOT NULL,"
    "  signature BLOB NOT NULL, trace_id TEXT NOT NULL,"
    "  subject_pseudonym TEXT, purged_at INTEGER,"
    "  UNIQUE(source, ce_id));"
    "CREATE TABLE IF NOT EXISTS deliveries("
    "  id INTEGER PRIMARY KEY, signal_id INTEGER NOT NULL,"
    "  subscriber TEXT NOT NULL, subscription TEXT NOT NULL,"
    "  seq INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt_at INTEGER, batch_id INTEGER, receipt_id INTEGER,"
    "  done_at INTEGER, last_error TEXT,"
    "  UNIQUE(subscriber, subscription, seq));"
    "CREATE INDEX IF NOT EXISTS deliveries_pending"
    "  ON deliveries(subscriber, id) WHERE state = 0;"
    "CREATE INDEX IF NOT EXISTS signals_unpurged"
    "  ON signals(type, received_at) WHERE event IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS deliveries_signal ON deliveries(signal_id);"
    "CREATE TABLE IF NOT EXISTS batches("
    "  id INTEGER PRIMARY KEY, subscriber TEXT NOT NULL, sent_at INTEGER NOT NULL,"
    "  header BLOB NOT NULL, signature BLOB NOT NULL, key_id TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS receipts("
    "  id INTEGER PRIMARY KEY, subscriber TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL, body BLOB NOT NULL,"
    "  signature BLOB NOT NULL, key_id TEXT NOT NULL, batch_id INTEGER);"
    "CREATE TABLE IF NOT EXISTS audit("
    "  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  trace_id TEXT, signal_id INTEGER, subscriber TEXT, detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_signal ON audit(signal_id);"
    /* the node link (upstream.c): an upstream's signed batch, once, and
       which relayed signal came in which batch as which entry          */
    "CREATE TABLE IF NOT EXISTS upstream_batches("
    "  id INTEGER PRIMARY KEY, upstream TEXT NOT NULL, sha256 BLOB NOT NULL UNIQUE,"
    "  header BLOB NOT NULL, signature BLOB NOT NULL, key_id TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS relays("
    "  signal_id INTEGER NOT NULL, batch_id INTEGER NOT NULL, subscription TEXT NOT NULL,"
    "  seq INTEGER NOT NULL, PRIMARY KEY(signal_id, batch_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    "  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, audit_seq INTEGER NOT NULL,"
    "  chain_hash BLOB NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL);";

static int s_exec(db_t *db, const char *sql, const char *doing, char *err, size_t errlen)
{
    if (db_exec(db, sql) == 0)
        return 0;
    snprintf(err, errlen, "%s: %s", doing, db_errmsg(db));
    return -1;
}

/*  2: a receipt names the batch it acknowledges. A database of the first
    release may have the column already (releases before numbered
    migrations added it at every start), hence the look first.         */
static int s_to_2(db_t *db, char *err, size_t errlen)
{
    db_stmt_t *stmt = db_prepare(db, "SELECT 1 FROM pragma_table_info('receipts')"
                                     " WHERE name = 'batch_id'", false);
    db_step_t step = stmt ? db_step(stmt) : DB_ERROR;
    db_finalize(&stmt);
    if (step == DB_ERROR) {
        snprintf(err, errlen, "reading the schema: %s", db_errmsg(db));
        return -1;
    }
    bool has = step == DB_ROW;
    return has ? 0 : s_exec(db, "ALTER TABLE receipts ADD COLUMN batch_id INTEGER",
                            "adding receipts.batch_id", err, errlen);
}

/*  3: an index of pending rows by seq cost every delivery an insert and
    a delete for a lookup only a reload makes (issue 19). Audit rows of
    version 3 follow from here on: a verifier older than them would call
    the trail broken (protocol.md 13.2), hence the mark.               */
static int s_to_3(db_t *db, char *err, size_t errlen)
{
    return s_exec(db, "DROP INDEX IF EXISTS deliveries_pending_seq;"
                      "INSERT INTO meta(key, value) VALUES ('audit_rows', '3')"
                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  "dropping deliveries_pending_seq", err, errlen);
}

static const struct {
    int version;
    int (*step)(db_t *db, char *err, size_t errlen);
} s_migrations[] = {
    { 2, s_to_2 },
    { 3, s_to_3 },
};

/*  *found: the version in meta, 0 when the database has no table at all. */
static int s_read_version(db_t *db, int *found, char *err, size_t errlen)
{
    db_stmt_t *stmt = db_prepare(db, "SELECT count(*), coalesce(sum(name = 'meta'), 0)"
                                     " FROM sqlite_master WHERE type = 'table'", false);
    int64_t tables = 0, has_meta = 0;
    int rc = -1;
    *found = 0;
    if (!stmt || db_step(stmt) != DB_ROW) {
        snprintf(err, errlen, "reading the schema: %s", db_errmsg(db));
        db_finalize(&stmt);
        return -1;
    }
    tables = db_column_int64(stmt, 0);
    has_meta = db_column_int64(stmt, 1);
    db_finalize(&stmt);
    if (tables == 0)
        return 0;
    if (!has_meta
        || !(stmt = db_prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", false))
        || db_step(stmt) != DB_ROW) {
        snprintf(err, errlen, "not a seinpost database: it has tables but no schema_version");
        db_finalize(&stmt);
        return -1;
    }
    const char *text = db_column_text(stmt, 0);
    char *end = NULL;
    errno = 0;
    long version = text ? strtol(text, &end, 10) : 0;
    if (text && end != text && *end == '\0' && errno == 0 && version >= 1 && version <= INT_MAX) {
        *found = (int) version;
        rc = 0;
    } else
        snprintf(err, errlen, "not a seinpost database: schema_version '%.40s' is not a version",
                 text ? text : "");
    db_finalize(&stmt);
    return rc;
}

static int s_refuse_newer(int found, char *err, size_t errlen)
{
    snprintf(err, errlen, "the database is at schema version %d, newer than this release "
             "knows (%d): a later release wrote it; run that release or a newer one "
             "(going back a version is not supported)", found, SP_SCHEMA_VERSION);
    return -1;
}

int schema_check(db_t *db, int *found, char *err, size_t errlen)
{
    if (s_read_version(db, found, err, errlen) != 0)
        return -1;
    return *found > SP_SCHEMA_VERSION ? s_refuse_newer(*found, err, errlen) : 0;
}

/*  In one transaction: the tables, then each step past the version found
    (none for a new database, whose tables are current), then the version. */
static int s_migrate(db_t *db, int found, char *err, size_t errlen)
{
    char doing[64];
    if (s_exec(db, s_tables, "creating the tables", err, errlen) != 0)
        return -1;
    for (size_t i = 0; found > 0 && i < sizeof s_migrations / sizeof s_migrations[0]; i++) {
        if (s_migrations[i].version <= found)
            continue;
        char step_err[512] = "";
        if (s_migrations[i].step(db, step_err, sizeof step_err) != 0) {
            snprintf(err, errlen, "migrating to schema version %d: %s",
                     s_migrations[i].version, step_err);
            return -1;
        }
    }
    snprintf(doing, sizeof doing, "setting schema version %d", SP_SCHEMA_VERSION);
    return s_exec(db, "INSERT INTO meta(key, value) VALUES"
                      " ('schema_version', '" S_TEXT(SP_SCHEMA_VERSION) "'), ('audit_rows', '3')"
                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  doing, err, errlen);
}

int schema_apply(db_t *db, int *found, char *err, size_t errlen)
{
    if (schema_check(db, found, err, errlen) != 0)
        return -1;
    if (*found == SP_SCHEMA_VERSION)
        return 0;
    if (db_begin(db) != 0) {
        snprintf(err, errlen, "starting the migration: %s", db_errmsg(db));
        return -1;
    }
    if (s_migrate(db, *found, err, errlen) != 0
        || s_exec(db, "COMMIT", "committing the migration", err, errlen) != 0) {
        db_rollback(db);
        return -1;
    }
    return 0;
}
