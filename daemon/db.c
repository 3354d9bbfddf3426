/*  db.c - the engine-neutral calls of db.h, handed to the driver.       */
#include <stdio.h>
#include <string.h>

#include "db_driver.h"

bool db_target_is_postgresql(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

db_t *db_open(const char *target, bool readonly, char *err, size_t errlen)
{
    return db_target_is_postgresql(target) ? db_pg_open(target, readonly, err, errlen)
                                   : db_sqlite_open(target, readonly, err, errlen);
}

void db_target_display(const char *target, char *out, size_t len)
{
    if (db_target_is_postgresql(target))
        db_pg_display(target, out, len);
    else
        snprintf(out, len, "%s", target);
}

void db_destroy(db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    (*self_p)->driver->destroy(*self_p);
    *self_p = NULL;
}

db_engine_t db_engine(const db_t *self) { return self->driver->engine; }
const char *db_errmsg(const db_t *self) { return self->driver->errmsg(self); }
db_error_t db_error(const db_t *self) { return self->driver->error(self); }
int db_exec(db_t *self, const char *sql) { return self->driver->exec(self, sql); }
int db_begin(db_t *self) { return self->driver->begin(self); }
int db_commit(db_t *self) { return self->driver->commit(self); }
int db_rollback(db_t *self) { return self->driver->rollback(self); }
bool db_in_transaction(db_t *self) { return self->driver->in_transaction(self); }
int64_t db_changes(const db_t *self) { return self->driver->changes(self); }
int64_t db_last_insert_id(db_t *self) { return self->driver->last_insert_id(self); }

db_stmt_t *db_prepare(db_t *self, const char *sql, bool persistent)
{
    return self->driver->prepare(self, sql, persistent);
}

void db_finalize(db_stmt_t **stmt_p)
{
    if (!stmt_p || !*stmt_p)
        return;
    (*stmt_p)->db->driver->finalize(*stmt_p);
    *stmt_p = NULL;
}

#define S_DRIVER(stmt) ((stmt)->db->driver)

int db_bind_int64(db_stmt_t *stmt, int index, int64_t value)
{
    return S_DRIVER(stmt)->bind_int64(stmt, index, value);
}

static int s_bind_text(db_stmt_t *stmt, int index, const char *text, int len, bool copy)
{
    return text ? S_DRIVER(stmt)->bind_text(stmt, index, text,
                                            len < 0 ? (int) strlen(text) : len, copy)
                : S_DRIVER(stmt)->bind_null(stmt, index);
}

static int s_bind_blob(db_stmt_t *stmt, int index, const void *blob, size_t len, bool copy)
{
    return blob ? S_DRIVER(stmt)->bind_blob(stmt, index, blob, len, copy)
                : S_DRIVER(stmt)->bind_null(stmt, index);
}

int db_bind_text(db_stmt_t *stmt, int index, const char *text, int len)
{
    return s_bind_text(stmt, index, text, len, true);
}

int db_bind_blob(db_stmt_t *stmt, int index, const void *blob, size_t len)
{
    return s_bind_blob(stmt, index, blob, len, true);
}

int db_bind_text_ref(db_stmt_t *stmt, int index, const char *text, int len)
{
    return s_bind_text(stmt, index, text, len, false);
}

int db_bind_blob_ref(db_stmt_t *stmt, int index, const void *blob, size_t len)
{
    return s_bind_blob(stmt, index, blob, len, false);
}

int db_bind_null(db_stmt_t *stmt, int index) { return S_DRIVER(stmt)->bind_null(stmt, index); }
db_step_t db_step(db_stmt_t *stmt) { return S_DRIVER(stmt)->step(stmt); }
void db_reset(db_stmt_t *stmt) { S_DRIVER(stmt)->reset(stmt); }
void db_clear_bindings(db_stmt_t *stmt) { S_DRIVER(stmt)->clear_bindings(stmt); }
int db_column_count(db_stmt_t *stmt) { return S_DRIVER(stmt)->column_count(stmt); }

bool db_column_is_null(db_stmt_t *stmt, int column)
{
    return S_DRIVER(stmt)->column_is_null(stmt, column);
}

int64_t db_column_int64(db_stmt_t *stmt, int column)
{
    return S_DRIVER(stmt)->column_int64(stmt, column);
}

const char *db_column_text(db_stmt_t *stmt, int column)
{
    return S_DRIVER(stmt)->column_text(stmt, column);
}

const void *db_column_blob(db_stmt_t *stmt, int column)
{
    return S_DRIVER(stmt)->column_blob(stmt, column);
}

size_t db_column_bytes(db_stmt_t *stmt, int column)
{
    return S_DRIVER(stmt)->column_bytes(stmt, column);
}
