/*  db_sqlite.c - the SQLite driver of db.h: a thin skin over sqlite3_*. */
#include <stdlib.h>
#include <stdio.h>
#include <sqlite3.h>

#include "db_driver.h"

typedef struct {
    db_t base;
    sqlite3 *db;
    int last_rc;                /* the primary code of the last call */
} s_db_t;

typedef struct {
    db_stmt_t base;
    sqlite3_stmt *stmt;
} s_stmt_t;

static const db_driver_t s_driver;

#define S_DB(self) ((s_db_t *) (self))
#define S_CDB(self) ((const s_db_t *) (self))
#define S_STMT(stmt) (((s_stmt_t *) (stmt))->stmt)

/*  rc, kept for db_error().                                             */
static int s_rc(db_t *self, int rc)
{
    S_DB(self)->last_rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    return rc;
}

db_t *db_sqlite_open(const char *path, bool readonly, char *err, size_t errlen)
{
    s_db_t *self = calloc(1, sizeof *self);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->base.driver = &s_driver;
    if (sqlite3_open_v2(path, &self->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg(self->db) : "cannot open");
        sqlite3_close(self->db);
        free(self);
        return NULL;
    }
    /* the operator's tool reads while the daemon writes: wait for a lock */
    sqlite3_busy_timeout(self->db, 5000);
    return &self->base;
}

db_t *db_sqlite_wrap(struct sqlite3 *handle)
{
    s_db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base.driver = &s_driver;
    self->db = handle;
    return &self->base;
}

struct sqlite3 *db_sqlite_handle(db_t *self)
{
    return self->driver == &s_driver ? S_DB(self)->db : NULL;
}

static void s_destroy(db_t *self)
{
    sqlite3_close(S_DB(self)->db);
    free(self);
}

static const char *s_errmsg(const db_t *self) { return sqlite3_errmsg(S_CDB(self)->db); }

static db_error_t s_error(const db_t *self)
{
    switch (S_CDB(self)->last_rc & 0xff) {
    case SQLITE_OK: return DB_ERR_NONE;
    case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_CANTOPEN: case SQLITE_READONLY:
    case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_NOMEM:
        return DB_ERR_STORAGE;
    case SQLITE_BUSY: case SQLITE_LOCKED: return DB_ERR_BUSY;
    case SQLITE_CONSTRAINT: return DB_ERR_CONSTRAINT;
    default: return DB_ERR_OTHER;
    }
}

static int s_exec(db_t *self, const char *sql)
{
    return s_rc(self, sqlite3_exec(S_DB(self)->db, sql, NULL, NULL, NULL)) == SQLITE_OK ? 0 : -1;
}

static int s_begin(db_t *self) { return s_exec(self, "BEGIN IMMEDIATE"); }
static int s_commit(db_t *self) { return s_exec(self, "COMMIT"); }
static int s_rollback(db_t *self) { return s_exec(self, "ROLLBACK"); }
static bool s_in_transaction(db_t *self) { return !sqlite3_get_autocommit(S_DB(self)->db); }
static int64_t s_last_insert_id(db_t *self) { return sqlite3_last_insert_rowid(S_DB(self)->db); }
static int64_t s_changes(const db_t *self) { return sqlite3_changes64(S_CDB(self)->db); }

static db_stmt_t *s_prepare(db_t *self, const char *sql, bool persistent)
{
    s_stmt_t *stmt = calloc(1, sizeof *stmt);
    if (!stmt)
        return NULL;
    stmt->base.db = self;
    if (s_rc(self, sqlite3_prepare_v3(S_DB(self)->db, sql, -1,
                                      persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                                      &stmt->stmt, NULL)) != SQLITE_OK || !stmt->stmt) {
        sqlite3_finalize(stmt->stmt);
        free(stmt);
        return NULL;
    }
    return &stmt->base;
}

static void s_finalize(db_stmt_t *stmt)
{
    sqlite3_finalize(S_STMT(stmt));
    free(stmt);
}

static int s_bind_rc(db_stmt_t *stmt, int rc) { return s_rc(stmt->db, rc) == SQLITE_OK ? 0 : -1; }

static int s_bind_int64(db_stmt_t *stmt, int index, int64_t value)
{
    return s_bind_rc(stmt, sqlite3_bind_int64(S_STMT(stmt), index, value));
}

static int s_bind_text(db_stmt_t *stmt, int index, const char *text, int len, bool copy)
{
    return s_bind_rc(stmt, sqlite3_bind_text(S_STMT(stmt), index, text, len,
                                             copy ? SQLITE_TRANSIENT : SQLITE_STATIC));
}

static int s_bind_blob(db_stmt_t *stmt, int index, const void *blob, size_t len, bool copy)
{
    return s_bind_rc(stmt, sqlite3_bind_blob64(S_STMT(stmt), index, blob, len,
                                               copy ? SQLITE_TRANSIENT : SQLITE_STATIC));
}

static int s_bind_null(db_stmt_t *stmt, int index)
{
    return s_bind_rc(stmt, sqlite3_bind_null(S_STMT(stmt), index));
}

static db_step_t s_step(db_stmt_t *stmt)
{
    int rc = s_rc(stmt->db, sqlite3_step(S_STMT(stmt)));
    return rc == SQLITE_ROW ? DB_ROW : rc == SQLITE_DONE ? DB_DONE : DB_ERROR;
}

static void s_reset(db_stmt_t *stmt) { sqlite3_reset(S_STMT(stmt)); }
static void s_clear_bindings(db_stmt_t *stmt) { sqlite3_clear_bindings(S_STMT(stmt)); }
static int s_column_count(db_stmt_t *stmt) { return sqlite3_column_count(S_STMT(stmt)); }

static bool s_column_is_null(db_stmt_t *stmt, int column)
{
    return sqlite3_column_type(S_STMT(stmt), column) == SQLITE_NULL;
}

static int64_t s_column_int64(db_stmt_t *stmt, int column)
{
    return sqlite3_column_int64(S_STMT(stmt), column);
}

static const char *s_column_text(db_stmt_t *stmt, int column)
{
    return (const char *) sqlite3_column_text(S_STMT(stmt), column);
}

static const void *s_column_blob(db_stmt_t *stmt, int column)
{
    return sqlite3_column_blob(S_STMT(stmt), column);
}

static size_t s_column_bytes(db_stmt_t *stmt, int column)
{
    return (size_t) sqlite3_column_bytes(S_STMT(stmt), column);
}

static const db_driver_t s_driver = {
    .engine = DB_SQLITE, .destroy = s_destroy, .errmsg = s_errmsg, .error = s_error,
    .exec = s_exec, .begin = s_begin, .commit = s_commit, .rollback = s_rollback,
    .in_transaction = s_in_transaction, .changes = s_changes,
    .last_insert_id = s_last_insert_id,
    .prepare = s_prepare, .finalize = s_finalize,
    .bind_int64 = s_bind_int64, .bind_text = s_bind_text, .bind_blob = s_bind_blob,
    .bind_null = s_bind_null, .step = s_step, .reset = s_reset,
    .clear_bindings = s_clear_bindings, .column_count = s_column_count,
    .column_is_null = s_column_is_null, .column_int64 = s_column_int64,
    .column_text = s_column_text, .column_blob = s_column_blob,
    .column_bytes = s_column_bytes,
};
