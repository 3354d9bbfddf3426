/*  db.h - one SQL interface over the two engines the queue can live in:
    SQLite (embedded, the default) and PostgreSQL (libpq), after Dovecot's
    lib-sql: a connection, prepared statements with numbered parameters,
    rows stepped through, columns read by index.

    The calls mirror SQLite's, so that code written against sqlite3_*
    moves over one call at a time. SQL is written once where both engines
    speak it; db_engine() picks a variant where they do not (the schema,
    INSERT OR IGNORE against ON CONFLICT DO NOTHING, SQLite's pragmas).

    Parameters are ?1, ?2, ... (or ? in turn); the PostgreSQL driver
    rewrites them to $1, $2, ... outside quotes. Columns read loosely, as
    SQLite's do: db_column_int64() of a text column parses it.

    On PostgreSQL a statement's rows are fetched whole at its first step,
    so that another statement may run while they are read (the queue's
    code nests them, as SQLite allows): a scan that could be large reads
    in pages (LIMIT), as the queue's already do.                         */
#ifndef DB_H_INCLUDED
#define DB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db db_t;
typedef struct db_stmt db_stmt_t;

typedef enum { DB_SQLITE = 1, DB_POSTGRESQL = 2 } db_engine_t;

typedef enum { DB_ROW = 1, DB_DONE = 2, DB_ERROR = -1 } db_step_t;

/*  What a failure means to the caller, whatever the engine said.        */
typedef enum {
    DB_ERR_NONE = 0,
    DB_ERR_STORAGE,     /* disk full, I/O error, connection lost: retry later */
    DB_ERR_CONSTRAINT,  /* a UNIQUE, NOT NULL or other constraint refused it */
    DB_ERR_BUSY,        /* locked, serialisation failure, deadlock: retry */
    DB_ERR_OTHER        /* a bug: bad SQL, a type mismatch, out of memory */
} db_error_t;

/*  target: "postgresql://..." or "postgres://..." (a libpq connection URI)
    opens PostgreSQL; anything else is a SQLite file path (or ":memory:").
    readonly opens SQLite read-only and makes PostgreSQL sessions
    read-only (default_transaction_read_only). NULL with the reason.    */
db_t *db_open(const char *target, bool readonly, char *err, size_t errlen);
/*  Whether db_open() would take target for PostgreSQL.                  */
bool db_target_is_postgresql(const char *target);
/*  target as it may be shown and logged: a PostgreSQL URI without its
    password and options ("postgresql://host:port/dbname"), a path as it is. */
void db_target_display(const char *target, char *out, size_t len);
void db_destroy(db_t **self_p);
db_engine_t db_engine(const db_t *self);
/*  The SQLite connection, for what only SQLite has (its WAL hook and
    checkpoints, the file to fsync); NULL on PostgreSQL.                 */
struct sqlite3 *db_sqlite_handle(db_t *self);
/*  A db_t over a SQLite connection opened elsewhere (read-only, as a
    file nothing writes): it is the db_t's from here on, and
    db_destroy() closes it. NULL when out of memory, the handle still
    the caller's.                                                      */
db_t *db_sqlite_wrap(struct sqlite3 *handle);

/*  The engine's message for the last call that failed, and what the last
    call meant: DB_ERR_NONE when it succeeded.                          */
const char *db_errmsg(const db_t *self);
db_error_t db_error(const db_t *self);

/*  Runs sql, one or more statements without parameters and without rows
    to read. 0, or -1 with db_errmsg().                                  */
int db_exec(db_t *self, const char *sql);

/*  BEGIN for a transaction that will write (SQLite: BEGIN IMMEDIATE, so
    that it fails now rather than at its first write), COMMIT, ROLLBACK. */
int db_begin(db_t *self);
int db_commit(db_t *self);
int db_rollback(db_t *self);

/*  Whether a transaction is open. After some failures (SQLite: FULL,
    IOERR, NOMEM) the engine ends it on its own; PostgreSQL keeps it open
    but refuses every statement until ROLLBACK.                          */
bool db_in_transaction(db_t *self);

/*  The id SQLite gave the row of the last INSERT (its rowid); -1 on
    PostgreSQL, where an INSERT ... RETURNING id says it.               */
int64_t db_last_insert_id(db_t *self);

/*  Rows the last INSERT, UPDATE or DELETE changed.                      */
int64_t db_changes(const db_t *self);

/*  A statement of one SQL command. persistent: it will run many times
    (SQLite: SQLITE_PREPARE_PERSISTENT; PostgreSQL: prepared on the
    server at its first run). NULL with db_errmsg(). An error in the SQL
    is found here by SQLite and at the first db_step() by PostgreSQL.   */
db_stmt_t *db_prepare(db_t *self, const char *sql, bool persistent);
void db_finalize(db_stmt_t **stmt_p);

/*  Parameters count from 1. text and blob are copied (len -1: strlen). */
int db_bind_int64(db_stmt_t *stmt, int index, int64_t value);
int db_bind_text(db_stmt_t *stmt, int index, const char *text, int len);
int db_bind_blob(db_stmt_t *stmt, int index, const void *blob, size_t len);
int db_bind_null(db_stmt_t *stmt, int index);
/*  The same without a copy where the engine allows (SQLite): the bytes
    must stay as they are until db_reset() or db_clear_bindings(). For
    the queue's hot path, where a 1 KiB event would be copied for each
    insert.                                                            */
int db_bind_text_ref(db_stmt_t *stmt, int index, const char *text, int len);
int db_bind_blob_ref(db_stmt_t *stmt, int index, const void *blob, size_t len);

/*  The next row (DB_ROW), the end (DB_DONE), or DB_ERROR with
    db_errmsg() of the statement's connection. After DB_DONE or DB_ERROR
    the statement stays as it is until db_reset().                      */
db_step_t db_step(db_stmt_t *stmt);
/*  Back to before the first step, parameters kept.                      */
void db_reset(db_stmt_t *stmt);
/*  Every parameter back to NULL.                                        */
void db_clear_bindings(db_stmt_t *stmt);

/*  Columns of the current row, counted from 0. A NULL reads as 0, NULL
    text, a NULL blob of 0 bytes. Pointers last until the next step,
    reset or finalize.                                                  */
int db_column_count(db_stmt_t *stmt);
bool db_column_is_null(db_stmt_t *stmt, int column);
int64_t db_column_int64(db_stmt_t *stmt, int column);
const char *db_column_text(db_stmt_t *stmt, int column);
const void *db_column_blob(db_stmt_t *stmt, int column);
size_t db_column_bytes(db_stmt_t *stmt, int column);

#endif
