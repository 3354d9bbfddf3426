/*  db_pg.c - the PostgreSQL driver of db.h, on libpq.

    Parameters go as text (integers, text) or binary (blobs, bytea) with
    their types named, so that the server need not guess; rows come back
    as text and a bytea column is decoded when it is read as a blob. A
    persistent statement is prepared on the server at its first run, with
    the parameter types of that run; a later run whose types differ, and
    every other statement, goes as one PQexecParams.                     */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "db_driver.h"
#include "sp_util.h"

/*  Type OIDs of pg_type.h, which is a server header.                     */
#define S_BOOLOID  16
#define S_BYTEAOID 17
#define S_INT8OID  20
#define S_TEXTOID  25

typedef struct {
    db_t base;
    PGconn *conn;
    char errmsg[512];
    db_error_t error;
    int64_t changes;
    unsigned names;             /* prepared statements named so far */
} p_db_t;

typedef struct {
    db_stmt_t base;
    char *sql;                  /* with $1, $2, ... */
    int nparams;
    bool persistent;
    char name[24];              /* "" until prepared on the server */
    Oid *prepared_types;
    char **values;
    int *lengths, *formats;
    Oid *types;
    PGresult *result;
    int row;                    /* -1 before the first step */
    bool failed;
    unsigned char **blobs;      /* decoded bytea of the current row */
    size_t *blob_lens;
} p_stmt_t;

static const db_driver_t s_driver;

#define P_DB(self) ((p_db_t *) (self))
#define P_CDB(self) ((const p_db_t *) (self))
#define P_STMT(stmt) ((p_stmt_t *) (stmt))

/*  libpq's messages end with a newline; ours do not.                     */
static void s_set_error(p_db_t *self, db_error_t error, const char *msg)
{
    self->error = error;
    snprintf(self->errmsg, sizeof self->errmsg, "%s", msg && *msg ? msg : "unknown error");
    size_t len = strlen(self->errmsg);
    while (len > 0 && (self->errmsg[len - 1] == '\n' || self->errmsg[len - 1] == ' '))
        self->errmsg[--len] = '\0';
}

/*  What an SQLSTATE means to the caller (PostgreSQL, Appendix A).       */
static db_error_t s_classify(const char *state, bool connection_bad)
{
    if (connection_bad || !state)
        return connection_bad ? DB_ERR_STORAGE : DB_ERR_OTHER;
    if (strncmp(state, "23", 2) == 0)
        return DB_ERR_CONSTRAINT;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0
        || strcmp(state, "55P03") == 0)
        return DB_ERR_BUSY;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0
        || strncmp(state, "58", 2) == 0 || strncmp(state, "57P", 3) == 0
        || strcmp(state, "25006") == 0)    /* read-only: a standby */
        return DB_ERR_STORAGE;
    return DB_ERR_OTHER;
}

/*  0 when res succeeded; otherwise the error kept and -1. res stays.    */
static int s_check(p_db_t *self, const PGresult *res)
{
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        self->error = DB_ERR_NONE;
        return 0;
    }
    bool bad = PQstatus(self->conn) != CONNECTION_OK;
    s_set_error(self, s_classify(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL, bad),
                res ? PQresultErrorMessage(res) : PQerrorMessage(self->conn));
    return -1;
}

static int s_run(p_db_t *self, const char *sql)
{
    PGresult *res = PQexec(self->conn, sql);
    int rc = s_check(self, res);
    PQclear(res);
    return rc;
}

/*  libpq writes the server's notices to stderr; the daemon's log has a
    format of its own. Below WARNING (client_min_messages) none come.   */
static void s_notice(void *arg, const char *message)
{
    (void) arg;
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    sp_log(SP_LOG_WARNING, "PostgreSQL: %.*s", (int) len, message);
}

/*  The parts of a connection string that name the database, never the
    password: host (or socket directory), port and database name.       */
void db_pg_display(const char *uri, char *out, size_t len)
{
    const char *host = "", *port = "", *dbname = "";
    PQconninfoOption *options = PQconninfoParse(uri, NULL);
    for (PQconninfoOption *o = options; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    if (host[0] == '/')         /* a socket directory */
        snprintf(out, len, "postgresql:///%s?host=%s%s%s", dbname, host,
                 *port ? "&port=" : "", port);
    else
        snprintf(out, len, "postgresql://%s%s%s/%s", host, *port ? ":" : "", port, dbname);
    PQconninfoFree(options);
}

db_t *db_pg_open(const char *uri, bool readonly, char *err, size_t errlen)
{
    p_db_t *self = calloc(1, sizeof *self);
    char name[256];
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->base.driver = &s_driver;
    self->conn = PQconnectdb(uri);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK) {
        s_set_error(self, DB_ERR_STORAGE, self->conn ? PQerrorMessage(self->conn) : "out of memory");
        goto failed;
    }
    PQsetNoticeProcessor(self->conn, s_notice, NULL);
    if (PQsetClientEncoding(self->conn, "UTF8") != 0) {
        s_set_error(self, DB_ERR_OTHER, PQerrorMessage(self->conn));
        goto failed;
    }
    if (s_run(self, "SET client_min_messages = warning") != 0
        || (readonly && s_run(self, "SET default_transaction_read_only = on") != 0))
        goto failed;
    return &self->base;
failed:
    /* the URI may hold a password: name the database, never the URI */
    db_pg_display(uri, name, sizeof name);
    snprintf(err, errlen, "%s: %s", name, self->errmsg);
    PQfinish(self->conn);
    free(self);
    return NULL;
}

static void s_destroy(db_t *self)
{
    PQfinish(P_DB(self)->conn);
    free(self);
}

static const char *s_errmsg(const db_t *self) { return P_CDB(self)->errmsg; }
static db_error_t s_error(const db_t *self) { return P_CDB(self)->error; }
static int s_exec(db_t *self, const char *sql) { return s_run(P_DB(self), sql); }
static int s_begin(db_t *self) { return s_run(P_DB(self), "BEGIN"); }
static int s_commit(db_t *self) { return s_run(P_DB(self), "COMMIT"); }
static int s_rollback(db_t *self) { return s_run(P_DB(self), "ROLLBACK"); }
static bool s_in_transaction(db_t *self)
{
    return PQtransactionStatus(P_DB(self)->conn) != PQTRANS_IDLE;
}

static int64_t s_last_insert_id(db_t *self)
{
    (void) self;
    return -1;
}

static int64_t s_changes(const db_t *self) { return P_CDB(self)->changes; }

/*  sql with ?N (or ?, one more than the highest so far) as $N, outside
    quotes and comments; the highest parameter number in *nparams.
    NULL when out of memory.                                            */
static char *s_rewrite(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 6 + 1), *o = out;    /* "?" -> "$32766" fits */
    int max = 0;
    char quote = 0;
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;      /* a doubled quote closes and reopens */
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                *o++ = *p++;
            if (!*p)
                break;
            *o++ = *p;
        } else if (*p == '?') {
            char *end = NULL;
            long n = strtol(p + 1, &end, 10);
            if (end == p + 1 || n <= 0 || n > 32766)
                n = max + 1;    /* as SQLite numbers a bare ? */
            else
                p = end - 1;
            o += sprintf(o, "$%ld", n);
            if (n > max)
                max = (int) n;
        } else
            *o++ = *p;
    }
    *o = '\0';
    *nparams = max;
    return out;
}

static void s_forget_row(p_stmt_t *stmt)
{
    int columns = stmt->result ? PQnfields(stmt->result) : 0;
    for (int i = 0; stmt->blobs && i < columns; i++) {
        PQfreemem(stmt->blobs[i]);
        stmt->blobs[i] = NULL;
    }
}

static void s_forget_result(p_stmt_t *stmt)
{
    s_forget_row(stmt);
    free(stmt->blobs);
    free(stmt->blob_lens);
    stmt->blobs = NULL;
    stmt->blob_lens = NULL;
    PQclear(stmt->result);
    stmt->result = NULL;
    stmt->row = -1;
    stmt->failed = false;
}

static void s_finalize(db_stmt_t *base)
{
    p_stmt_t *stmt = P_STMT(base);
    p_db_t *db = P_DB(base->db);
    s_forget_result(stmt);
    if (stmt->name[0] && PQstatus(db->conn) == CONNECTION_OK) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", stmt->name);
        PQclear(PQexec(db->conn, sql));
    }
    for (int i = 0; i < stmt->nparams; i++)
        free(stmt->values[i]);
    free(stmt->values);
    free(stmt->lengths);
    free(stmt->formats);
    free(stmt->types);
    free(stmt->prepared_types);
    free(stmt->sql);
    free(stmt);
}

static db_stmt_t *s_prepare(db_t *self, const char *sql, bool persistent)
{
    p_stmt_t *stmt = calloc(1, sizeof *stmt);
    if (!stmt || !(stmt->sql = s_rewrite(sql, &stmt->nparams))) {
        free(stmt);
        s_set_error(P_DB(self), DB_ERR_OTHER, "out of memory");
        return NULL;
    }
    stmt->base.db = self;
    stmt->persistent = persistent;
    stmt->row = -1;
    size_t n = stmt->nparams > 0 ? (size_t) stmt->nparams : 1;
    stmt->values = calloc(n, sizeof *stmt->values);
    stmt->lengths = calloc(n, sizeof *stmt->lengths);
    stmt->formats = calloc(n, sizeof *stmt->formats);
    stmt->types = calloc(n, sizeof *stmt->types);
    if (!stmt->values || !stmt->lengths || !stmt->formats || !stmt->types) {
        s_finalize(&stmt->base);
        s_set_error(P_DB(self), DB_ERR_OTHER, "out of memory");
        return NULL;
    }
    return &stmt->base;
}

/*  Sets parameter index (from 1) to a copy of len bytes of value.       */
static int s_bind(db_stmt_t *base, int index, const void *value, size_t len, int format, Oid type)
{
    p_stmt_t *stmt = P_STMT(base);
    if (index < 1 || index > stmt->nparams) {
        s_set_error(P_DB(base->db), DB_ERR_OTHER, "parameter index out of range");
        return -1;
    }
    char *copy = NULL;
    if (value && !(copy = malloc(len + 1))) {
        s_set_error(P_DB(base->db), DB_ERR_OTHER, "out of memory");
        return -1;
    }
    if (copy) {
        memcpy(copy, value, len);
        copy[len] = '\0';
    }
    free(stmt->values[index - 1]);
    stmt->values[index - 1] = copy;
    stmt->lengths[index - 1] = (int) len;
    stmt->formats[index - 1] = format;
    stmt->types[index - 1] = type;
    return 0;
}

static int s_bind_int64(db_stmt_t *stmt, int index, int64_t value)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%" PRId64, value);
    return s_bind(stmt, index, text, (size_t) len, 0, S_INT8OID);
}

static int s_bind_text(db_stmt_t *stmt, int index, const char *text, int len, bool copy)
{
    (void) copy;        /* libpq needs the values at PQexec*: always copied */
    return s_bind(stmt, index, text, (size_t) len, 0, S_TEXTOID);
}

static int s_bind_blob(db_stmt_t *stmt, int index, const void *blob, size_t len, bool copy)
{
    (void) copy;
    if (len > INT32_MAX) {
        s_set_error(P_DB(stmt->db), DB_ERR_OTHER, "blob too large");
        return -1;
    }
    return s_bind(stmt, index, blob ? blob : "", len, 1, S_BYTEAOID);
}

static int s_bind_null(db_stmt_t *stmt, int index)
{
    return s_bind(stmt, index, NULL, 0, 0, 0);
}

/*  Whether the prepared statement's types take this run's parameters.   */
static bool s_types_fit(const p_stmt_t *stmt)
{
    for (int i = 0; i < stmt->nparams; i++)
        if (stmt->types[i] && stmt->prepared_types[i] && stmt->types[i] != stmt->prepared_types[i])
            return false;
    return true;
}

static PGresult *s_prepare_named(p_db_t *db, p_stmt_t *stmt)
{
    size_t n = stmt->nparams > 0 ? (size_t) stmt->nparams : 1;
    stmt->prepared_types = malloc(n * sizeof *stmt->prepared_types);
    if (!stmt->prepared_types)
        return NULL;
    memcpy(stmt->prepared_types, stmt->types, (size_t) stmt->nparams * sizeof *stmt->types);
    snprintf(stmt->name, sizeof stmt->name, "sp_%u", ++db->names);
    PGresult *res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->nparams,
                              stmt->prepared_types);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        stmt->name[0] = '\0';
        free(stmt->prepared_types);
        stmt->prepared_types = NULL;
        return res;
    }
    PQclear(res);
    return NULL;
}

static PGresult *s_execute(p_db_t *db, p_stmt_t *stmt)
{
    const char *const *values = (const char *const *) stmt->values;
    if (stmt->persistent && !stmt->name[0]) {
        PGresult *failed = s_prepare_named(db, stmt);
        if (failed)
            return failed;
    }
    if (stmt->name[0] && s_types_fit(stmt))
        return PQexecPrepared(db->conn, stmt->name, stmt->nparams, values, stmt->lengths,
                              stmt->formats, 0);
    return PQexecParams(db->conn, stmt->sql, stmt->nparams, stmt->types, values, stmt->lengths,
                        stmt->formats, 0);
}

static db_step_t s_step(db_stmt_t *base)
{
    p_stmt_t *stmt = P_STMT(base);
    p_db_t *db = P_DB(base->db);
    if (stmt->failed)
        return DB_ERROR;
    if (!stmt->result) {
        stmt->result = s_execute(db, stmt);
        if (s_check(db, stmt->result) != 0) {
            stmt->failed = true;
            return DB_ERROR;
        }
        if (PQresultStatus(stmt->result) == PGRES_COMMAND_OK) {
            const char *tuples = PQcmdTuples(stmt->result);
            db->changes = tuples && *tuples ? strtoll(tuples, NULL, 10) : 0;
        }
        int columns = PQnfields(stmt->result);
        if (columns > 0) {
            stmt->blobs = calloc((size_t) columns, sizeof *stmt->blobs);
            stmt->blob_lens = calloc((size_t) columns, sizeof *stmt->blob_lens);
            if (!stmt->blobs || !stmt->blob_lens) {
                s_set_error(db, DB_ERR_OTHER, "out of memory");
                stmt->failed = true;
                return DB_ERROR;
            }
        }
    }
    s_forget_row(stmt);
    if (stmt->row + 1 < PQntuples(stmt->result)) {
        stmt->row++;
        return DB_ROW;
    }
    stmt->row = PQntuples(stmt->result);
    return DB_DONE;
}

static void s_reset(db_stmt_t *stmt) { s_forget_result(P_STMT(stmt)); }

static void s_clear_bindings(db_stmt_t *base)
{
    p_stmt_t *stmt = P_STMT(base);
    for (int i = 0; i < stmt->nparams; i++) {
        free(stmt->values[i]);
        stmt->values[i] = NULL;
        stmt->lengths[i] = 0;
        stmt->formats[i] = 0;
        stmt->types[i] = 0;
    }
}

/*  Whether column is one of the current row's.                          */
static bool s_valid(const p_stmt_t *stmt, int column)
{
    return stmt->result && stmt->row >= 0 && stmt->row < PQntuples(stmt->result)
        && column >= 0 && column < PQnfields(stmt->result);
}

static int s_column_count(db_stmt_t *stmt)
{
    return P_STMT(stmt)->result ? PQnfields(P_STMT(stmt)->result) : 0;
}

static bool s_column_is_null(db_stmt_t *base, int column)
{
    p_stmt_t *stmt = P_STMT(base);
    return !s_valid(stmt, column) || PQgetisnull(stmt->result, stmt->row, column);
}

static int64_t s_column_int64(db_stmt_t *base, int column)
{
    p_stmt_t *stmt = P_STMT(base);
    if (s_column_is_null(base, column))
        return 0;
    const char *text = PQgetvalue(stmt->result, stmt->row, column);
    if (PQftype(stmt->result, column) == S_BOOLOID)
        return text[0] == 't';
    return strtoll(text, NULL, 10);
}

static const char *s_column_text(db_stmt_t *base, int column)
{
    p_stmt_t *stmt = P_STMT(base);
    return s_column_is_null(base, column) ? NULL : PQgetvalue(stmt->result, stmt->row, column);
}

/*  A bytea arrives as text ("\x" and hex digits): decoded once per row. */
static const unsigned char *s_blob(p_stmt_t *stmt, int column, size_t *len)
{
    *len = 0;
    if (s_column_is_null(&stmt->base, column))
        return NULL;
    const char *text = PQgetvalue(stmt->result, stmt->row, column);
    if (PQftype(stmt->result, column) != S_BYTEAOID) {
        *len = (size_t) PQgetlength(stmt->result, stmt->row, column);
        return (const unsigned char *) text;
    }
    if (!stmt->blobs[column])
        stmt->blobs[column] = PQunescapeBytea((const unsigned char *) text,
                                              &stmt->blob_lens[column]);
    *len = stmt->blobs[column] ? stmt->blob_lens[column] : 0;
    return stmt->blobs[column];
}

static const void *s_column_blob(db_stmt_t *stmt, int column)
{
    size_t len;
    const unsigned char *blob = s_blob(P_STMT(stmt), column, &len);
    return len > 0 ? blob : NULL;
}

static size_t s_column_bytes(db_stmt_t *stmt, int column)
{
    size_t len;
    s_blob(P_STMT(stmt), column, &len);
    return len;
}

static const db_driver_t s_driver = {
    .engine = DB_POSTGRESQL, .destroy = s_destroy, .errmsg = s_errmsg, .error = s_error,
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
