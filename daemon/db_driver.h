/*  db_driver.h - what an engine provides behind db.h. Internal to db*.c.

    A driver's connection and statement structs begin with db_t and
    db_stmt_t, so that db.c reaches the driver through them.            */
#ifndef DB_DRIVER_H_INCLUDED
#define DB_DRIVER_H_INCLUDED

#include "db.h"

typedef struct db_driver db_driver_t;

struct db {
    const db_driver_t *driver;
};

struct db_stmt {
    db_t *db;
};

struct db_driver {
    db_engine_t engine;
    void (*destroy)(db_t *self);
    const char *(*errmsg)(const db_t *self);
    db_error_t (*error)(const db_t *self);
    int (*exec)(db_t *self, const char *sql);
    int (*begin)(db_t *self);
    int (*commit)(db_t *self);
    int (*rollback)(db_t *self);
    bool (*in_transaction)(db_t *self);
    int64_t (*changes)(const db_t *self);
    int64_t (*last_insert_id)(db_t *self);
    db_stmt_t *(*prepare)(db_t *self, const char *sql, bool persistent);
    void (*finalize)(db_stmt_t *stmt);
    int (*bind_int64)(db_stmt_t *stmt, int index, int64_t value);
    int (*bind_text)(db_stmt_t *stmt, int index, const char *text, int len, bool copy);
    int (*bind_blob)(db_stmt_t *stmt, int index, const void *blob, size_t len, bool copy);
    int (*bind_null)(db_stmt_t *stmt, int index);
    db_step_t (*step)(db_stmt_t *stmt);
    void (*reset)(db_stmt_t *stmt);
    void (*clear_bindings)(db_stmt_t *stmt);
    int (*column_count)(db_stmt_t *stmt);
    bool (*column_is_null)(db_stmt_t *stmt, int column);
    int64_t (*column_int64)(db_stmt_t *stmt, int column);
    const char *(*column_text)(db_stmt_t *stmt, int column);
    const void *(*column_blob)(db_stmt_t *stmt, int column);
    size_t (*column_bytes)(db_stmt_t *stmt, int column);
};

db_t *db_sqlite_open(const char *path, bool readonly, char *err, size_t errlen);
db_t *db_pg_open(const char *uri, bool readonly, char *err, size_t errlen);
void db_pg_display(const char *uri, char *out, size_t len);

#endif
