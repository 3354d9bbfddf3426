/*  cmd_audit.c - `seinpost audit`: the audit trail, read from the daemon's
    database read-only (a running daemon is not disturbed).

      list    audit events, filtered; a table, or JSON lines with --json
      show    one signal's whole timeline per subscriber, with receipts
      verify  hash chain, checkpoints and every stored signature
      export  Logboek Dataverwerkingen records as JSON lines

    A data subject id given with --subject is pseudonymised with the node
    secret exactly as the daemon does, and only the pseudonym is looked
    up: in signals.subject_pseudonym and in the data_subjects list of the
    signal's received or accepted audit event. Nothing printed carries a
    payload or a subject id in clear, and every stored string is printed
    escaped (cmd_text.h).

    They need the public keys only (config_load_public()) and, but for
    --subject and the sealed payloads verify opens, not the node secret:
    an auditor runs them (seinpost(1), Auditor role).                    */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "audit.h"
#include "cmd.h"
#include "cmd_text.h"
#include "config.h"
#include "schema.h"
#include "sp_event.h"
#include "store.h"
#include "vault.h"
#include "verify.h"

#define AUDIT_BROKEN 4              /* exit code of verify: something broken */
#define AUDIT_MAX_ANCHORS 64        /* verify --expect-checkpoint */
#define AUDIT_MAX_BINDS 48
#define AUDIT_MAX_ID_TYPES 16
#define AUDIT_PROGRESS_MIN 10000    /* rows before verify shows progress */
#define AUDIT_SIG_PREFIX 8          /* signature bytes shown */

typedef struct {
    const char *conf_path;
    config_t *config;
    db_t *db;
    bool json;
    bool strict;                    /* verify: unchecked signatures fail */
    bool lenient;                   /* verify: a missing checkpoint is a note */
    verify_anchor_t anchors[AUDIT_MAX_ANCHORS];     /* verify --expect-checkpoint */
    size_t anchor_count;
    bool has_since, has_until;
    int64_t since, until;
    const char *type, *source, *subscriber, *status, *signal, *subject, *format;
    long limit;
    const char *id;                 /* show: CloudEvents id */
    char command[16];               /* "audit show": for messages */
} audit_opts_t;

/*  SQL text with its arguments, built from fixed fragments only.        */
typedef struct {
    char sql[8192];
    size_t len;
    bool overflow;
    int count;
    bool is_text[AUDIT_MAX_BINDS];
    const char *text[AUDIT_MAX_BINDS];
    int64_t num[AUDIT_MAX_BINDS];
} query_t;

typedef struct {
    char id[AUDIT_MAX_ID_TYPES][VAULT_PSEUDONYM_HEX + 1];
    int count;
} pseudonyms_t;

/*  ---- shared helpers ---------------------------------------------------- */

/*  "file:" URI of path with immutable=1: '%', '?' and '#' encoded.      */
static char *s_immutable_uri(const char *path)
{
    static const char tail[] = "?immutable=1";
    char *uri = malloc(3 * strlen(path) + sizeof tail + 8), *o = uri;
    if (!uri)
        return NULL;
    o += sprintf(o, "file:%s", path[0] == '/' ? "//" : "");
    for (const char *p = path; *p; p++) {
        if (strchr("%?#", *p))
            o += sprintf(o, "%%%02X", (unsigned char) *p);
        else
            *o++ = *p;
    }
    memcpy(o, tail, sizeof tail);
    return uri;
}

/*  Opens path read-only, or as a file nothing writes (immutable).      */
static sqlite3 *s_sqlite_open(const char *path, bool immutable, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char *uri = immutable ? s_immutable_uri(path) : NULL;
    int flags = SQLITE_OPEN_READONLY | (immutable ? SQLITE_OPEN_URI : 0);
    if ((immutable && !uri) || sqlite3_open_v2(uri ? uri : path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        free(uri);
        return NULL;
    }
    free(uri);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/*  Whether db, shown as name, is a seinpost database this tool can read:
    0, or -1 with why. The daemon's check, which only reads (schema.h):
    a later release's tables may mean what this tool would misread. A
    database without a table, where the daemon would create them, holds
    nothing to read.                                                   */
static int s_check_schema(db_t *db, const char *name, char *err, size_t errlen)
{
    char why[512];
    int found = 0;
    int rc = schema_check(db, &found, why, sizeof why);
    if (rc == 0 && found > 0)
        return 0;
    snprintf(err, errlen, "%s: %s", name,
             rc == 0 ? "not a seinpost database: it has no tables" : why);
    return -1;
}

/*  A SQLite file opened here, as db.h cannot (immutable), and wrapped.  */
static db_t *s_sqlite_db(const char *path, bool immutable, char *err, size_t errlen)
{
    sqlite3 *handle = s_sqlite_open(path, immutable, err, errlen);
    if (!handle)
        return NULL;
    db_t *db = db_sqlite_wrap(handle);
    if (!db) {
        snprintf(err, errlen, "%s: out of memory", path);
        sqlite3_close(handle);
    } else if (s_check_schema(db, path, err, errlen) != 0)
        db_destroy(&db);
    return db;
}

/*  A read-only session: the URI may hold a password, so every message
    names the database as db_target_display() shows it.                */
static db_t *s_pg_db(const char *target, char *err, size_t errlen)
{
    char name[512];
    db_t *db = db_open(target, true, err, errlen);
    if (!db)
        return NULL;
    db_target_display(target, name, sizeof name);
    if (s_check_schema(db, name, err, errlen) == 0)
        return db;
    db_destroy(&db);
    return NULL;
}

/*  Whether path with suffix exists (or cannot be looked at); with
    unreadable, whether it exists and this user may not read it.       */
static bool s_db_file(const char *path, const char *suffix, bool unreadable)
{
    char name[4096];
    struct stat st;
    snprintf(name, sizeof name, "%s%s", path, suffix);
    if (unreadable)
        return access(name, R_OK) != 0 && errno == EACCES;
    return stat(name, &st) == 0 || errno != ENOENT;
}

/*  While the daemon runs, SQLite reads its -wal and -shm even when this
    user may not write them (the auditor role, seinpost(1)). Once it has
    stopped neither is left, and SQLite would have to create the -shm,
    which a reader who may not write the directory cannot: the database
    is then opened immutable, which holds while nothing writes it (a
    daemon starting during the read is not noticed). None of this
    applies to PostgreSQL, where the server grants access.             */
db_t *cmd_db_open(const char *target, char *err, size_t errlen)
{
    const char *path = target;
    if (db_target_is_postgresql(target))
        return s_pg_db(target, err, errlen);
    db_t *db = s_sqlite_db(path, false, err, errlen);
    if (!db && !s_db_file(path, "-wal", false) && !s_db_file(path, "-shm", false)
        && access(path, R_OK) == 0)
        db = s_sqlite_db(path, true, err, errlen);
    if (!db && (s_db_file(path, "", true) || s_db_file(path, "-wal", true)
                || s_db_file(path, "-shm", true))) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (no read access: an auditor needs it to the "
                 "database, its -wal and its -shm, see Auditor role in seinpost(1))");
    }
    return db;
}

int cmd_db_failed(const db_t *db, const char *command, const char *what)
{
    fprintf(stderr, "seinpost %s: reading %s: ", command, what);
    cmd_text_fputs(db_errmsg(db), stderr);
    fputc('\n', stderr);
    return CMD_FAILED;
}

int64_t cmd_time_arg(const char *text)
{
    char buf[40];
    int64_t ms = sp_time_parse_rfc3339(text);
    if (ms >= 0)
        return ms;
    if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
        snprintf(buf, sizeof buf, "%sT00:00:00Z", text);
        return sp_time_parse_rfc3339(buf);
    }
    if (config_parse_duration(text, &ms) != 0 || ms < 0)
        return -1;
    return sp_time_now_ms() - ms;
}

static void s_sql(query_t *q, const char *text)
{
    size_t n = strlen(text);
    if (q->len + n >= sizeof q->sql) {
        q->overflow = true;
        return;
    }
    memcpy(q->sql + q->len, text, n + 1);
    q->len += n;
}

static void s_text_arg(query_t *q, const char *text)
{
    if (q->count == AUDIT_MAX_BINDS) {
        q->overflow = true;
        return;
    }
    q->is_text[q->count] = true;
    q->text[q->count++] = text;
}

static void s_num_arg(query_t *q, int64_t num)
{
    if (q->count == AUDIT_MAX_BINDS) {
        q->overflow = true;
        return;
    }
    q->is_text[q->count] = false;
    q->num[q->count++] = num;
}

/*  q prepared with its arguments bound; NULL when it cannot be (said,
    naming what it was to read).                                       */
static db_stmt_t *s_prepare(const audit_opts_t *o, const query_t *q, const char *what)
{
    db_stmt_t *stmt = q->overflow ? NULL : db_prepare(o->db, q->sql, false);
    if (!stmt) {
        if (q->overflow)
            fprintf(stderr, "seinpost %s: too many filters\n", o->command);
        else
            cmd_db_failed(o->db, o->command, what);
        return NULL;
    }
    for (int i = 0; i < q->count; i++) {
        if (q->is_text[i])
            db_bind_text(stmt, i + 1, q->text[i], -1);
        else
            db_bind_int64(stmt, i + 1, q->num[i]);
    }
    return stmt;
}

static db_stmt_t *s_prepare_sql(const audit_opts_t *o, const char *sql, const char *what)
{
    query_t q = { .len = 0 };
    s_sql(&q, sql);
    return s_prepare(o, &q, what);
}

static const char *s_col(db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    return text ? text : "";
}

/*  Stored text as a JSON string byte for byte, even when it is not UTF-8
    (a row edited by hand): it is escaped where it is printed (cmd_text.h),
    not dropped here, which json_string() would do.                     */
static json_t *s_raw(const char *text)
{
    return json_stringn_nocheck(text, strlen(text));
}

static json_t *s_str(db_stmt_t *stmt, int col)
{
    const char *text = s_col(stmt, col);
    return json_stringn_nocheck(text, db_column_bytes(stmt, col));
}

static void s_set_text(json_t *obj, const char *key, db_stmt_t *stmt, int col)
{
    if (!db_column_is_null(stmt, col))
        json_object_set_new(obj, key, s_str(stmt, col));
}

static void s_set_time(json_t *obj, const char *key, int64_t ms)
{
    char when[40];
    sp_time_format(ms, when, sizeof when);
    json_object_set_new(obj, key, json_string(when));
}

/*  Hex of the first bytes of a signature column, "" when too short.      */
static void s_sig_prefix(db_stmt_t *stmt, int col, char out[2 * AUDIT_SIG_PREFIX + 1])
{
    out[0] = '\0';
    if (db_column_bytes(stmt, col) >= AUDIT_SIG_PREFIX)
        sp_hex(db_column_blob(stmt, col), AUDIT_SIG_PREFIX, out);
}

static json_t *s_detail(db_stmt_t *stmt, int col)
{
    json_t *detail = json_loads(s_col(stmt, col), 0, NULL);
    return detail ? detail : s_str(stmt, col);
}

/*  One line of JSON; a string that is not UTF-8 goes out escaped, since
    JSON cannot carry it.                                               */
static void s_print_json(json_t *value)
{
    json_t *valid = cmd_text_json_valid(value);
    char *text = valid ? json_dumps(valid, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text)
        puts(text);
    else
        fprintf(stderr, "seinpost audit: a record could not be encoded (out of memory)\n");
    free(text);
    json_decref(valid);
}

/*  "key=value ..." of a detail's scalar members, arrays as their size.   */
static void s_summary(json_t *detail, char *buf, size_t len)
{
    static const char *const skip[] = { "source", "id", "type", "sha256", NULL };
    const char *key;
    json_t *value;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach(detail, key, value) {
        char item[256];
        bool skipped = false;
        for (int i = 0; skip[i]; i++)
            skipped = skipped || strcmp(key, skip[i]) == 0;
        if (skipped)
            continue;
        if (json_is_string(value))
            snprintf(item, sizeof item, "%s=%s", key, json_string_value(value));
        else if (json_is_integer(value))
            snprintf(item, sizeof item, "%s=%lld", key, (long long) json_integer_value(value));
        else if (json_is_boolean(value))
            snprintf(item, sizeof item, "%s=%s", key, json_is_true(value) ? "true" : "false");
        else if (json_is_array(value))
            snprintf(item, sizeof item, "%s=[%zu]", key, json_array_size(value));
        else
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", item);
        if (n < 0 || (size_t) n >= len - used)
            break;
        used += (size_t) n;
    }
}

static void s_secret_path(const config_t *config, char path[4096])
{
    if (config->pseudonym_key_path)
        snprintf(path, 4096, "%s", config->pseudonym_key_path);
    else
        snprintf(path, 4096, "%s.secret", config->database);
}

/*  The node secret is there but this user may not read it: the auditor
    role (seinpost(1)). verify then checks everything that does not need
    it; a secret that is missing is still an error.                    */
static bool s_secret_withheld(const config_t *config)
{
    char path[4096];
    s_secret_path(config, path);
    return access(path, F_OK) == 0 && access(path, R_OK) != 0 && errno == EACCES;
}

static vault_t *s_vault(const config_t *config, char *err, size_t errlen)
{
    char path[4096];
    s_secret_path(config, path);
    err[0] = '\0';
    vault_t *vault = vault_new(path, 0, err, errlen);
    if (!vault && !err[0] && errlen > 0) {
        /* the path first, cut to fit: the reason always shows */
        static const char tail[] = ": cannot read the node secret";
        int room = (int) errlen - (int) sizeof tail;
        snprintf(err, errlen, "%.*s%s", room > 0 ? room : 0, path, tail);
    }
    return vault;
}

/*  The subject's pseudonym under "BSN" and every configured id type.     */
static int s_pseudonyms(const audit_opts_t *o, pseudonyms_t *p)
{
    const char *types[AUDIT_MAX_ID_TYPES] = { "BSN" };
    char err[512];
    int n = 1;
    for (size_t i = 0; i < o->config->type_count && n < AUDIT_MAX_ID_TYPES; i++) {
        const char *t = o->config->types[i].subject_id_type;
        bool known = !t;
        for (int j = 0; !known && j < n; j++)
            known = strcmp(types[j], t) == 0;
        if (!known)
            types[n++] = t;
    }
    vault_t *vault = s_vault(o->config, err, sizeof err);
    if (!vault) {
        fprintf(stderr, "seinpost audit: %s\n", err);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = vault_pseudonym(vault, types[i], o->subject, p->id[i]);
    if (rc != 0)
        fprintf(stderr, "seinpost audit: cannot compute the subject's pseudonym\n");
    p->count = n;
    vault_destroy(&vault);
    return rc;
}

/*  ---- filters ----------------------------------------------------------- */

static void s_in_list(query_t *q, const pseudonyms_t *p)
{
    s_sql(q, "(");
    for (int i = 0; i < p->count; i++) {
        s_sql(q, i ? ",?" : "?");
        s_text_arg(q, p->id[i]);
    }
    s_sql(q, ")");
}

/*  pending|delivered|dead: events of deliveries in that state; anything
    else is an event kind or its prefix ("delivery" = "delivery.*").    */
static void s_status_filter(query_t *q, const char *status)
{
    static const char *const states[] = { "pending", "delivered", "dead" };
    for (int i = 0; i < 3; i++) {
        if (strcmp(status, states[i]) != 0)
            continue;
        s_sql(q, " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.signal_id = a.signal_id"
                 " AND d.state = ? AND (a.subscriber IS NULL OR d.subscriber = a.subscriber))");
        s_num_arg(q, i);
        return;
    }
    s_sql(q, " AND (a.kind = ? OR substr(a.kind, 1, length(?) + 1) = ? || '.')");
    s_text_arg(q, status);
    s_text_arg(q, status);
    s_text_arg(q, status);
}

/*  The signals whose data_subjects list holds an id: on PostgreSQL only
    from a list that is an array, as jsonb_array_elements takes nothing
    else (SQLite's json_each reads no row for a missing member).       */
static const char *const s_subject_sql[] = {
    [DB_SQLITE] = " UNION SELECT r.signal_id FROM audit r,"
                  " json_each(r.detail, '$.data_subjects') j"
                  " WHERE r.kind IN ('" AUDIT_SIGNAL_RECEIVED "', '" AUDIT_SIGNAL_ACCEPTED "')"
                  " AND json_extract(j.value, '$.id') IN ",
    [DB_POSTGRESQL] = " UNION SELECT r.signal_id FROM audit r CROSS JOIN LATERAL"
                      " jsonb_array_elements(CASE WHEN jsonb_typeof(r.detail::jsonb"
                      " -> 'data_subjects') = 'array' THEN r.detail::jsonb -> 'data_subjects'"
                      " ELSE '[]' END) j(v)"
                      " WHERE r.kind IN ('" AUDIT_SIGNAL_RECEIVED "', '" AUDIT_SIGNAL_ACCEPTED "')"
                      " AND j.v ->> 'id' IN ",
};

static void s_subject_filter(query_t *q, db_engine_t engine, const pseudonyms_t *p)
{
    s_sql(q, " AND a.signal_id IN (SELECT id FROM signals WHERE subject_pseudonym IN ");
    s_in_list(q, p);
    s_sql(q, s_subject_sql[engine]);
    s_in_list(q, p);
    s_sql(q, ")");
}

static void s_filters(query_t *q, const audit_opts_t *o, const pseudonyms_t *p)
{
    if (o->has_since) {
        s_sql(q, " AND a.ts >= ?");
        s_num_arg(q, o->since);
    }
    if (o->has_until) {
        s_sql(q, " AND a.ts <= ?");
        s_num_arg(q, o->until);
    }
    const struct { const char *value, *sql; } eq[] = {
        { o->type, " AND s.type = ?" }, { o->source, " AND s.source = ?" },
        { o->subscriber, " AND a.subscriber = ?" }, { o->signal, " AND s.ce_id = ?" } };
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++) {
        if (!eq[i].value)
            continue;
        s_sql(q, eq[i].sql);
        s_text_arg(q, eq[i].value);
    }
    if (o->status)
        s_status_filter(q, o->status);
    if (p && p->count > 0)
        s_subject_filter(q, db_engine(o->db), p);
}

/*  ---- list ------------------------------------------------------------- */

enum { L_SEQ, L_TS, L_KIND, L_TRACE, L_SIGNAL_ID, L_SUBSCRIBER, L_DETAIL, L_CE_ID,
       L_SOURCE, L_TYPE };

static json_t *s_event_json(db_stmt_t *stmt)
{
    int64_t ts = db_column_int64(stmt, L_TS);
    json_t *row = json_pack("{s:I, s:I, s:o}", "seq",
                            (json_int_t) db_column_int64(stmt, L_SEQ), "ts",
                            (json_int_t) ts, "kind", s_str(stmt, L_KIND));
    s_set_time(row, "time", ts);
    s_set_text(row, "trace_id", stmt, L_TRACE);
    if (!db_column_is_null(stmt, L_SIGNAL_ID))
        json_object_set_new(row, "signal_id",
                            json_integer(db_column_int64(stmt, L_SIGNAL_ID)));
    s_set_text(row, "signal", stmt, L_CE_ID);
    s_set_text(row, "source", stmt, L_SOURCE);
    s_set_text(row, "type", stmt, L_TYPE);
    s_set_text(row, "subscriber", stmt, L_SUBSCRIBER);
    json_object_set_new(row, "detail", s_detail(stmt, L_DETAIL));
    return row;
}

static const char *s_or_dash(json_t *obj, const char *key)
{
    const char *text = json_string_value(json_object_get(obj, key));
    return text ? text : "-";
}

/*  Every string of the row came from outside (an emitter, a partner, the
    admin socket, the configuration): printed escaped (cmd_text.h).   */
static void s_print_event_row(json_t *raw)
{
    char summary[240];
    json_t *row = cmd_text_json_shown(raw);
    s_summary(json_object_get(row, "detail"), summary, sizeof summary);
    printf("%6lld  %-24s  %-22s  %-36s  %-16s  %s\n",
           (long long) json_integer_value(json_object_get(row, "seq")),
           s_or_dash(row, "time"), s_or_dash(row, "kind"), s_or_dash(row, "signal"),
           s_or_dash(row, "subscriber"), summary);
    json_decref(row);
}

/*  The first chain row --limit needs to read: every row shows as one
    event or more, so without filters the last N events are among the
    last N rows. 0 (all rows) with filters, or no limit; -1 when it
    cannot be read (said).                                             */
static int64_t s_list_from(const audit_opts_t *o)
{
    static const char what[] = "the chain's last rows (--limit)";
    if (o->limit <= 0 || o->has_since || o->has_until || o->type || o->source
        || o->subscriber || o->status || o->signal || o->subject)
        return 0;
    db_stmt_t *stmt = s_prepare_sql(o, "SELECT MIN(seq) FROM (SELECT seq FROM audit"
                                       " ORDER BY seq DESC LIMIT ?) l", what);
    if (!stmt)
        return -1;
    db_bind_int64(stmt, 1, o->limit);
    int64_t from = -1;
    if (db_step(stmt) == DB_ROW)
        from = db_column_int64(stmt, 0);    /* an empty chain: NULL, read as 0 */
    else
        cmd_db_failed(o->db, o->command, what);
    db_finalize(&stmt);
    return from;
}

/*  The query of audit list, reading the chain from row from on.       */
static void s_list_query(query_t *q, const audit_opts_t *o, const pseudonyms_t *p, int64_t from)
{
    if (o->limit > 0)
        s_sql(q, "SELECT * FROM (");
    s_sql(q, "SELECT a.seq, a.ts, a.kind, a.trace_id, a.signal_id, a.subscriber, a.detail,"
             " s.ce_id, s.source, s.type, a.part FROM (");
    s_sql(q, db_engine(o->db) == DB_POSTGRESQL ? AUDIT_EVENTS_SQL_PG("a.seq >= ?1")
                                                : AUDIT_EVENTS_SQL("a.seq >= ?1"));
    s_sql(q, ") a LEFT JOIN signals s ON s.id = a.signal_id WHERE 1 = 1");
    s_num_arg(q, from);
    s_filters(q, o, p);
    s_sql(q, o->limit > 0 ? " ORDER BY a.seq DESC, a.part DESC LIMIT ?) l ORDER BY 1, 11"
                          : " ORDER BY a.seq, a.part");
    if (o->limit > 0)
        s_num_arg(q, o->limit);
}

static int s_list(audit_opts_t *o)
{
    query_t q = { .len = 0 };
    pseudonyms_t p = { .count = 0 };
    int64_t rows = 0, from = 0;
    if ((o->subject && s_pseudonyms(o, &p) != 0) || (from = s_list_from(o)) < 0)
        return CMD_FAILED;
    s_list_query(&q, o, &p, from);
    db_stmt_t *stmt = s_prepare(o, &q, "the audit events");
    if (!stmt)
        return CMD_FAILED;
    /* PostgreSQL finds a query's error at its first step: stepped before
       the table's head, so that a failure prints none, as on SQLite   */
    db_step_t step = db_step(stmt);
    if (step != DB_ERROR && !o->json)
        printf("%6s  %-24s  %-22s  %-36s  %-16s  %s\n", "SEQ", "TIME", "KIND", "SIGNAL",
               "SUBSCRIBER", "DETAIL");
    for (; step == DB_ROW; step = db_step(stmt)) {
        json_t *row = s_event_json(stmt);
        if (o->json)
            s_print_json(row);
        else
            s_print_event_row(row);
        json_decref(row);
        rows++;
    }
    int rc = step == DB_DONE ? CMD_OK : cmd_db_failed(o->db, o->command, "the audit events");
    db_finalize(&stmt);
    if (rc == CMD_OK && !o->json)
        printf("%lld event%s\n", (long long) rows, rows == 1 ? "" : "s");
    return rc;
}

/*  ---- show ------------------------------------------------------------- */

enum { G_ID, G_SOURCE, G_CE_ID, G_TYPE, G_EMITTER, G_RECEIVED, G_KEY_ID, G_SIG, G_SHA,
       G_TRACE, G_PURGED, G_PURGED_AT };

static json_t *s_signal_json(db_stmt_t *stmt)
{
    char sig[2 * AUDIT_SIG_PREFIX + 1], sha[2 * SP_SHA256_SIZE + 1] = "";
    s_sig_prefix(stmt, G_SIG, sig);
    if (db_column_bytes(stmt, G_SHA) == SP_SHA256_SIZE)
        sp_hex(db_column_blob(stmt, G_SHA), SP_SHA256_SIZE, sha);
    json_t *signal = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:s}",
                               "store_id", (json_int_t) db_column_int64(stmt, G_ID),
                               "id", s_str(stmt, G_CE_ID), "source", s_str(stmt, G_SOURCE),
                               "type", s_str(stmt, G_TYPE), "emitter", s_str(stmt, G_EMITTER),
                               "emitter_key_id", s_str(stmt, G_KEY_ID),
                               "emitter_signature_prefix", sig, "sha256", sha,
                               "trace_id", s_str(stmt, G_TRACE), "payload",
                               (int) db_column_int64(stmt, G_PURGED) ? "purged" : "stored");
    s_set_time(signal, "received_at", db_column_int64(stmt, G_RECEIVED));
    if (!db_column_is_null(stmt, G_PURGED_AT))
        s_set_time(signal, "purged_at", db_column_int64(stmt, G_PURGED_AT));
    return signal;
}

/*  "the PART of the signal with store id ID", for a message.           */
static const char *s_of_signal(char *buf, size_t len, const char *part, int64_t id)
{
    snprintf(buf, len, "the %s of the signal with store id %lld", part, (long long) id);
    return buf;
}

/*  list once its query has stepped to its end, or NULL when it stopped
    on an error (said): a section is never shown cut short as if whole. */
static json_t *s_done(const audit_opts_t *o, db_stmt_t **stmt_p, db_step_t step, json_t *list,
                      const char *what)
{
    if (step != DB_DONE) {
        cmd_db_failed(o->db, o->command, what);
        json_decref(list);
        list = NULL;
    }
    db_finalize(stmt_p);
    return list;
}

/*  The hops before this node: each upstream node's signed batch that
    carried the signal here (protocol.md 16). None for a signal taken
    from its emitter. NULL when they cannot be read (said).            */
static json_t *s_hops_json(const audit_opts_t *o, int64_t signal_id)
{
    char sig[2 * AUDIT_SIG_PREFIX + 1], sha[2 * SP_SHA256_SIZE + 1], what[128];
    db_step_t step;
    s_of_signal(what, sizeof what, "upstream hops", signal_id);
    /* the hash as bytes, made hex here: PostgreSQL has no hex() */
    db_stmt_t *stmt = s_prepare_sql(o, "SELECT b.upstream, b.key_id, b.sha256,"
                                    " b.signature, b.received_at, r.subscription, r.seq, b.id"
                                    " FROM relays r JOIN upstream_batches b ON b.id = r.batch_id"
                                    " WHERE r.signal_id = ? ORDER BY b.received_at", what);
    if (!stmt)
        return NULL;
    json_t *list = json_array();
    db_bind_int64(stmt, 1, signal_id);
    while ((step = db_step(stmt)) == DB_ROW) {
        s_sig_prefix(stmt, 3, sig);
        sha[0] = '\0';
        if (db_column_bytes(stmt, 2) == SP_SHA256_SIZE)
            sp_hex(db_column_blob(stmt, 2), SP_SHA256_SIZE, sha);
        json_t *hop = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "upstream",
                                s_col(stmt, 0), "router_key_id", s_col(stmt, 1),
                                "batch_sha256", sha, "router_signature_prefix",
                                sig, "subscription", s_col(stmt, 5), "seq",
                                (json_int_t) db_column_int64(stmt, 6),
                                "upstream_batch_id", (json_int_t) db_column_int64(stmt, 7));
        s_set_time(hop, "received_at", db_column_int64(stmt, 4));
        json_array_append_new(list, hop);
    }
    return s_done(o, &stmt, step, list, what);
}

static json_t *s_deliveries_json(const audit_opts_t *o, int64_t signal_id)
{
    static const char *const states[] = { "pending", "delivered", "dead" };
    char what[128];
    db_step_t step;
    s_of_signal(what, sizeof what, "deliveries", signal_id);
    db_stmt_t *stmt = s_prepare_sql(o, "SELECT id, subscriber, subscription, seq, state,"
                                    " attempts, receipt_id, last_error FROM deliveries"
                                    " WHERE signal_id = ? ORDER BY id", what);
    if (!stmt)
        return NULL;
    json_t *list = json_array();
    db_bind_int64(stmt, 1, signal_id);
    while ((step = db_step(stmt)) == DB_ROW) {
        int state = (int) db_column_int64(stmt, 4);
        json_t *row = json_pack("{s:I, s:o, s:o, s:I, s:s, s:i}", "delivery_id",
                                (json_int_t) db_column_int64(stmt, 0),
                                "subscriber", s_str(stmt, 1), "subscription", s_str(stmt, 2),
                                "seq", (json_int_t) db_column_int64(stmt, 3), "state",
                                state >= 0 && state <= 2 ? states[state] : "unknown",
                                "attempts", (int) db_column_int64(stmt, 5));
        if (!db_column_is_null(stmt, 6))
            json_object_set_new(row, "receipt_id", json_integer(db_column_int64(stmt, 6)));
        s_set_text(row, "last_error", stmt, 7);
        json_array_append_new(list, row);
    }
    return s_done(o, &stmt, step, list, what);
}

/*  In *ref {id, key_id, signature_prefix} of the stored batch or
    receipt (name) with that id, NULL when there is none (no id, no such
    row); -1 when it cannot be read (said).                            */
static int s_signed_ref(const audit_opts_t *o, const char *sql, const char *name, json_t *id,
                        json_t **ref)
{
    char sig[2 * AUDIT_SIG_PREFIX + 1], what[64];
    *ref = NULL;
    if (!json_is_integer(id))
        return 0;
    snprintf(what, sizeof what, "%s %lld", name, (long long) json_integer_value(id));
    db_stmt_t *stmt = s_prepare_sql(o, sql, what);
    if (!stmt)
        return -1;
    db_bind_int64(stmt, 1, json_integer_value(id));
    db_step_t step = db_step(stmt);
    if (step == DB_ROW) {
        s_sig_prefix(stmt, 1, sig);
        *ref = json_pack("{s:I, s:o, s:s}", "id", (json_int_t) json_integer_value(id),
                         "key_id", s_str(stmt, 0), "signature_prefix", sig);
    } else if (step == DB_ERROR)
        cmd_db_failed(o->db, o->command, what);
    db_finalize(&stmt);
    return step == DB_ERROR ? -1 : 0;
}

/*  A receipt event gets its signed receipt, an attempt its signed batch;
    -1 when one cannot be read (said).                                 */
static int s_enrich(const audit_opts_t *o, json_t *event)
{
    static const struct {
        const char *kind, *id, *name, *sql;
    } refs[] = {
        { AUDIT_RECEIPT, "receipt_id", "receipt",
          "SELECT key_id, signature FROM receipts WHERE id = ?" },
        { AUDIT_ATTEMPT, "batch_id", "batch",
          "SELECT key_id, signature FROM batches WHERE id = ?" },
    };
    const char *kind = json_string_value(json_object_get(event, "kind"));
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        json_t *ref = NULL;
        if (strcmp(kind, refs[i].kind) != 0)
            continue;
        if (s_signed_ref(o, refs[i].sql, refs[i].name,
                         json_object_get(json_object_get(event, "detail"), refs[i].id),
                         &ref) != 0)
            return -1;
        if (ref)
            json_object_set_new(event, refs[i].name, ref);
    }
    return 0;
}

/*  The signal's own events, and the retries of each subscriber's queue
    (not tied to one signal) while this signal waited in it. Its sends
    and receipts are entries of batch rows after its first event: those
    are read from there on (AUDIT_EVENTS_SQL).                          */
#define S_TIMELINE_SQL(events) \
    "SELECT a.seq, a.ts, a.kind, a.subscriber, a.detail, 0, a.part FROM (" \
    events("a.signal_id = ?1 OR (a.signal_id IS NULL AND a.kind IN ('" \
           AUDIT_BATCH_SENT "', '" AUDIT_BATCH_RECEIPT "') AND a.seq >=" \
           " (SELECT MIN(f.seq) FROM audit f WHERE f.signal_id = ?1))") ") a" \
    " WHERE a.signal_id = ?1" \
    " UNION SELECT a.seq, a.ts, a.kind, a.subscriber, a.detail, 1, 0 FROM audit a" \
    " WHERE a.signal_id IS NULL AND a.kind = '" AUDIT_RETRY "' AND EXISTS (" \
    "  SELECT 1 FROM deliveries d WHERE d.signal_id = ?1 AND d.subscriber = a.subscriber" \
    "  AND a.ts >= (SELECT MIN(r.ts) FROM audit r WHERE r.signal_id = ?1)" \
    "  AND a.ts <= COALESCE(d.done_at, 9223372036854775807))" \
    " ORDER BY 1, 7"

static const char *const s_timeline_sql[] = {
    [DB_SQLITE] = S_TIMELINE_SQL(AUDIT_EVENTS_SQL),
    [DB_POSTGRESQL] = S_TIMELINE_SQL(AUDIT_EVENTS_SQL_PG),
};

static json_t *s_events_json(const audit_opts_t *o, int64_t signal_id)
{
    char what[128];
    db_step_t step = DB_ERROR;
    bool enriched = true;
    s_of_signal(what, sizeof what, "events", signal_id);
    db_stmt_t *stmt = s_prepare_sql(o, s_timeline_sql[db_engine(o->db)], what);
    if (!stmt)
        return NULL;
    json_t *list = json_array();
    db_bind_int64(stmt, 1, signal_id);
    while (enriched && (step = db_step(stmt)) == DB_ROW) {
        int64_t ts = db_column_int64(stmt, 1);
        json_t *event = json_pack("{s:I, s:I, s:o}", "seq",
                                  (json_int_t) db_column_int64(stmt, 0), "ts",
                                  (json_int_t) ts, "kind", s_str(stmt, 2));
        s_set_time(event, "time", ts);
        s_set_text(event, "subscriber", stmt, 3);
        json_object_set_new(event, "detail", s_detail(stmt, 4));
        if ((int) db_column_int64(stmt, 5))
            json_object_set_new(event, "queue_wide", json_true());
        enriched = s_enrich(o, event) == 0;
        json_array_append_new(list, event);
    }
    if (enriched)
        return s_done(o, &stmt, step, list, what);
    db_finalize(&stmt);
    json_decref(list);
    return NULL;
}

static void s_event_text(json_t *event, char *buf, size_t len)
{
    json_t *receipt = json_object_get(event, "receipt"), *batch = json_object_get(event, "batch");
    json_t *detail = json_object_get(event, "detail");
    if (receipt)
        snprintf(buf, len, "seq %lld, receipt %lld signed by partner key %s, signature %s...",
                 (long long) json_integer_value(json_object_get(detail, "seq")),
                 (long long) json_integer_value(json_object_get(receipt, "id")),
                 s_or_dash(receipt, "key_id"), s_or_dash(receipt, "signature_prefix"));
    else if (batch)
        snprintf(buf, len, "attempt %lld, batch %lld signed by router key %s, signature %s...",
                 (long long) json_integer_value(json_object_get(detail, "attempt")),
                 (long long) json_integer_value(json_object_get(batch, "id")),
                 s_or_dash(batch, "key_id"), s_or_dash(batch, "signature_prefix"));
    else
        s_summary(detail, buf, len);
}

/*  Events of one subscriber (NULL: the signal's own) in order.           */
static void s_print_group(json_t *events, const char *subscriber)
{
    size_t i;
    json_t *event;
    char text[512];
    json_array_foreach(events, i, event) {
        const char *name = json_string_value(json_object_get(event, "subscriber"));
        if (subscriber ? !name || strcmp(name, subscriber) != 0 : name != NULL)
            continue;
        s_event_text(event, text, sizeof text);
        printf("    #%-6lld %s  %-22s %s%s\n",
               (long long) json_integer_value(json_object_get(event, "seq")),
               s_or_dash(event, "time"), s_or_dash(event, "kind"),
               json_is_true(json_object_get(event, "queue_wide")) ? "(queue) " : "", text);
    }
}

static void s_print_signal_head(json_t *signal)
{
    printf("signal %s (store id %lld)\n", s_or_dash(signal, "id"),
           (long long) json_integer_value(json_object_get(signal, "store_id")));
    printf("  source    %s\n  type      %s\n", s_or_dash(signal, "source"),
           s_or_dash(signal, "type"));
    printf("  emitter   %s, key %s, signature %s...\n", s_or_dash(signal, "emitter"),
           s_or_dash(signal, "emitter_key_id"), s_or_dash(signal, "emitter_signature_prefix"));
    printf("  sha256    %s\n  trace     %s\n", s_or_dash(signal, "sha256"),
           s_or_dash(signal, "trace_id"));
    printf("  received  %s, payload %s%s%s\n", s_or_dash(signal, "received_at"),
           s_or_dash(signal, "payload"), json_object_get(signal, "purged_at") ? " " : "",
           json_object_get(signal, "purged_at") ? s_or_dash(signal, "purged_at") : "");
}

static void s_print_delivery_head(json_t *delivery)
{
    long long attempts = json_integer_value(json_object_get(delivery, "attempts"));
    printf("  %s / %s seq %lld: %s after %lld attempt%s%s%s\n",
           s_or_dash(delivery, "subscriber"), s_or_dash(delivery, "subscription"),
           (long long) json_integer_value(json_object_get(delivery, "seq")),
           s_or_dash(delivery, "state"), attempts, attempts == 1 ? "" : "s",
           json_object_get(delivery, "last_error") ? "; last error: " : "",
           json_object_get(delivery, "last_error") ? s_or_dash(delivery, "last_error") : "");
}

static void s_print_timeline(json_t *timeline)
{
    json_t *deliveries = json_object_get(timeline, "deliveries");
    json_t *events = json_object_get(timeline, "events"), *d;
    size_t i;
    s_print_signal_head(json_object_get(timeline, "signal"));
    json_array_foreach(json_object_get(timeline, "hops"), i, d)
        printf("  via       %s (router key %s, signature %s...): batch %s, its %s seq "
               "%lld, received %s\n", s_or_dash(d, "upstream"), s_or_dash(d, "router_key_id"),
               s_or_dash(d, "router_signature_prefix"), s_or_dash(d, "batch_sha256"),
               s_or_dash(d, "subscription"), (long long) json_integer_value(json_object_get(d,
               "seq")), s_or_dash(d, "received_at"));
    printf("  router\n");
    s_print_group(events, NULL);
    json_array_foreach(deliveries, i, d) {
        const char *name = s_or_dash(d, "subscriber");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(s_or_dash(json_array_get(deliveries, j), "subscriber"), name) == 0;
        if (seen)
            continue;
        for (size_t j = i; j < json_array_size(deliveries); j++)
            if (strcmp(s_or_dash(json_array_get(deliveries, j), "subscriber"), name) == 0)
                s_print_delivery_head(json_array_get(deliveries, j));
        s_print_group(events, name);
    }
    printf("\n");
}

/*  The whole timeline of the signal stmt is at in *timeline (NULL when
    out of memory); -1 when a part of it cannot be read (said).        */
static int s_timeline(const audit_opts_t *o, db_stmt_t *stmt, json_t **timeline)
{
    int64_t id = db_column_int64(stmt, G_ID);
    json_t *hops = s_hops_json(o, id);
    json_t *deliveries = hops ? s_deliveries_json(o, id) : NULL;
    json_t *events = deliveries ? s_events_json(o, id) : NULL;
    *timeline = NULL;
    if (!events) {
        json_decref(hops);
        json_decref(deliveries);
        return -1;
    }
    *timeline = json_pack("{s:o, s:o, s:o, s:o}", "signal", s_signal_json(stmt), "hops", hops,
                          "deliveries", deliveries, "events", events);
    return 0;
}

static int s_show(audit_opts_t *o)
{
    static const char what[] = "the signals with that id";
    int found = 0, rc = CMD_OK;
    db_step_t step;
    json_t *timeline;
    db_stmt_t *stmt = s_prepare_sql(o, "SELECT id, source, ce_id, type, emitter,"
                                    " received_at, key_id, signature, event_sha256,"
                                    " trace_id, event IS NULL, purged_at FROM signals"
                                    " WHERE ce_id = ? ORDER BY id", what);
    if (!stmt)
        return CMD_FAILED;
    db_bind_text(stmt, 1, o->id, -1);
    while ((step = db_step(stmt)) == DB_ROW) {
        if (s_timeline(o, stmt, &timeline) != 0) {
            rc = CMD_FAILED;
            break;
        }
        json_t *shown = o->json ? NULL : cmd_text_json_shown(timeline);
        if (o->json)
            s_print_json(timeline);
        else
            s_print_timeline(shown);    /* every string escaped (cmd_text.h) */
        json_decref(shown);
        json_decref(timeline);
        found++;
    }
    if (rc == CMD_OK && step != DB_DONE)
        rc = cmd_db_failed(o->db, o->command, what);
    db_finalize(&stmt);
    if (rc == CMD_OK && found == 0) {
        fprintf(stderr, "seinpost audit show: no signal with id ");
        cmd_text_fputs(o->id, stderr);
        fputc('\n', stderr);
        rc = CMD_REJECTED;
    }
    return rc;
}

/*  ---- verify ----------------------------------------------------------- */

typedef struct {
    bool shown;                 /* a progress line is on the terminal */
} progress_t;

static void s_progress(const char *phase, int64_t done, int64_t total, void *arg)
{
    progress_t *progress = arg;
    if (total < AUDIT_PROGRESS_MIN)
        return;
    fprintf(stderr, "\rverifying %s: %lld/%lld ", phase, (long long) done, (long long) total);
    progress->shown = done < total;
    if (done >= total)
        fputc('\n', stderr);
}

static void s_print_ok(const verify_counts_t *c)
{
    printf("OK: audit chain of %lld events (seq 1..%lld), %lld checkpoints, %lld emitter "
           "signatures, %lld purged payloads checked by hash, %lld batch signatures, "
           "%lld receipt signatures\n", (long long) c->events, (long long) c->last_seq,
           (long long) c->checkpoints, (long long) c->signals, (long long) c->purged,
           (long long) c->batches, (long long) c->receipts);
    if (c->by_previous_key > 0)
        printf("note: %lld of these signature%s made with a key listed in "
               "previous_public_keys (before a key rotation)\n", (long long) c->by_previous_key,
               c->by_previous_key == 1 ? " was" : "s were");
    if (c->unchecked > 0) {
        printf("note: %lld signature%s not checked, the first: ", (long long) c->unchecked,
               c->unchecked == 1 ? "" : "s");
        cmd_text_fputs(c->first_unchecked, stdout);     /* may quote a stored id */
        printf(" (--strict fails on this)\n");
    }
    if (c->checkpointed_seq < c->last_seq)
        printf("note: events %lld..%lld are chained but not yet covered by a signed "
               "checkpoint\n", (long long) c->checkpointed_seq + 1, (long long) c->last_seq);
    if (c->uncovered > 0)
        printf("note: --lenient: %lld stretch%s of the chain went without a checkpoint when "
               "one was due, the first: %s\n", (long long) c->uncovered,
               c->uncovered == 1 ? "" : "es", c->first_uncovered);
    if (c->relays > 0 || c->relays_unchecked > 0)
        printf("relays: %lld hops from upstream nodes verified (their signed batches carry "
               "each signal as stored)%s\n", (long long) c->relays,
               c->relays_unchecked ? "; some upstream batches are of an upstream no longer "
                                     "configured, not checked" : "");
    if (c->countersigned > 0)
        printf("anchors: %lld receipts countersign a chain head the chain holds (%lld batch "
               "headers anchored), the newest at event %lld\n", (long long) c->countersigned,
               (long long) c->anchored, (long long) c->countersigned_seq);
    else
        printf("note: no receipt countersigns a chain head yet: the chain is pinned by "
               "this node's own signatures only\n");
    if (c->anchors > 0)
        printf("anchors: %lld expected checkpoint%s in the chain\n", (long long) c->anchors,
               c->anchors == 1 ? "" : "s");
    else
        printf("note: no --expect-checkpoint given: a tail cut off together with the "
               "checkpoints that covered it is not detected\n");
}

/*  As the daemon checks the database it opens (store.c). PostgreSQL
    checks its pages itself (data checksums, its WAL), and has no such
    statement: the chain is what verify proves there.                  */
static int s_quick_check(db_t *db, char *err, size_t errlen)
{
    if (db_engine(db) == DB_POSTGRESQL)
        return 0;
    db_stmt_t *stmt = db_prepare(db, "PRAGMA quick_check", false);
    int rc = -1;
    if (stmt && db_step(stmt) == DB_ROW) {
        const char *result = db_column_text(stmt, 0);
        rc = result && strcmp(result, "ok") == 0 ? 0 : -1;
        if (rc != 0)
            snprintf(err, errlen, "database is corrupt (quick_check: %.200s)",
                     result ? result : "?");
    } else
        snprintf(err, errlen, "database is corrupt or unreadable: %s", db_errmsg(db));
    db_finalize(&stmt);
    return rc;
}

/*  Says what an auditor's run without the node secret left out.        */
static void s_print_withheld(const verify_counts_t *c, const config_t *config)
{
    char path[4096];
    s_secret_path(config, path);
    printf("note: no read access to the node secret (");
    cmd_text_fputs(path, stdout);
    printf("): %lld stored payload%s not opened, so for %s neither the payload's match with "
           "its stored SHA-256 nor the emitter's signature over it was checked; every other "
           "check ran\n", (long long) c->sealed_skipped, c->sealed_skipped == 1 ? "" : "s",
           c->sealed_skipped == 1 ? "it" : "each");
}

static int s_verify(audit_opts_t *o)
{
    char err[1024], why[1024];
    progress_t progress = { .shown = false };
    verify_counts_t counts;
    int rc = CMD_FAILED;
    /* an auditor may not read the node secret: all else is checked */
    bool withheld = s_secret_withheld(o->config);
    vault_t *vault = withheld ? NULL : s_vault(o->config, err, sizeof err);
    if (withheld && o->strict) {
        fprintf(stderr, "seinpost audit verify: --strict checks every emitter signature, "
                "which needs the node secret, and this user may not read it\n");
        return CMD_FAILED;
    }
    if ((!vault && !withheld) || s_quick_check(o->db, err, sizeof err) != 0) {
        fprintf(stderr, "seinpost audit verify: ");
        cmd_text_fputs(err, stderr);
        fputc('\n', stderr);
        goto cleanup;
    }
    verify_input_t in = { .db = o->db, .node_key = o->config->signing_key,
                          .config = o->config, .vault = vault, .strict = o->strict,
                          .lenient = o->lenient,
                          .anchors = o->anchors, .anchor_count = o->anchor_count,
                          .progress = isatty(STDERR_FILENO) ? s_progress : NULL,
                          .progress_arg = &progress };
    int result = verify_all(&in, &counts, why, sizeof why);
    if (progress.shown)
        fputc('\n', stderr);
    if (result == VERIFY_OK) {
        s_print_ok(&counts);
        if (withheld)
            s_print_withheld(&counts, o->config);
        rc = CMD_OK;
    } else if (result == VERIFY_BROKEN) {
        /* the reason may quote a stored id */
        printf("BROKEN: ");
        cmd_text_fputs(why, stdout);
        putchar('\n');
        rc = AUDIT_BROKEN;
    } else {
        fprintf(stderr, "seinpost audit verify: ");
        cmd_text_fputs(why, stderr);
        fputc('\n', stderr);
    }
cleanup:
    vault_destroy(&vault);
    return rc;
}

static int s_anchors(audit_opts_t *o)
{
    return cmd_audit_anchors(o->db, o->subscriber, o->limit, o->json);
}

/*  ---- export: Logboek Dataverwerkingen ------------------------------------ */

typedef struct {
    db_stmt_t *routed;          /* the routed event of a delivery */
    db_stmt_t *received;        /* the event listing a signal's data subjects */
} export_aux_t;

/*  One processing action (routed, delivered or dead-lettered).           */
typedef struct {
    int64_t seq, part, ts, signal_id, received_at, routed_seq, routed_part, routed_ts;
    const char *kind, *subscriber, *trace_id, *subscription, *activity;
} action_t;

/*  8 bytes derived from trace, audit seq, the entry within that row (a
    routing or receipt among those one row holds, protocol.md 13.2) and
    subject: stable on re-export.                                        */
static void s_span_id(const char *trace_id, int64_t seq, int64_t part, const char *subject,
                      char out[17])
{
    char text[256];
    uint8_t digest[SP_SHA256_SIZE];
    if (part > 0)
        snprintf(text, sizeof text, "%s:%lld.%lld:%s", trace_id, (long long) seq,
                 (long long) part, subject ? subject : "");
    else
        snprintf(text, sizeof text, "%s:%lld:%s", trace_id, (long long) seq,
                 subject ? subject : "");
    sp_sha256(text, strlen(text), digest);
    sp_hex(digest, 8, out);
}

static json_t *s_record(const audit_opts_t *o, const action_t *a, json_t *subject)
{
    char span[17], parent[17];
    bool routed = strcmp(a->kind, AUDIT_ROUTED) == 0, dead = strcmp(a->kind, AUDIT_DEAD) == 0;
    const char *subject_id = json_string_value(json_object_get(subject, "id"));
    json_t *attrs = json_pack("{s:o, s:s, s:I}", "dpl.core.foreign_operation.processor",
                              s_raw(a->subscriber), "seinpost.subscription", a->subscription,
                              "seinpost.audit_seq", (json_int_t) a->seq);
    if (a->activity)
        json_object_set_new(attrs, "dpl.core.processing_activity_id", json_string(a->activity));
    if (subject_id) {
        json_object_set_new(attrs, "dpl.core.data_subject_id", json_string(subject_id));
        json_object_set(attrs, "dpl.core.data_subject_id_type", json_object_get(subject, "type"));
    }
    s_span_id(a->trace_id, a->seq, a->part, subject_id, span);
    json_t *record = json_pack("{s:o, s:s, s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:o}",
                               "trace_id", s_raw(a->trace_id), "span_id", span, "name",
                               routed ? "seinpost.route" : "seinpost.deliver",
                               "status", dead ? "Error" : "Ok", "start_time",
                               (json_int_t) (routed ? a->received_at : a->routed_ts),
                               "end_time", (json_int_t) a->ts, "resource", "name",
                               o->config->node_name, "version", SP_VERSION_STRING,
                               "attributes", attrs);
    if (record && !routed && a->routed_seq > 0) {
        s_span_id(a->trace_id, a->routed_seq, a->routed_part, subject_id, parent);
        json_object_set_new(record, "parent_span_id", json_string(parent));
    }
    return record;
}

/*  Distinct data subjects ({id, type}) the signal's received or accepted
    audit event lists; NULL when it cannot be read.                      */
static json_t *s_subjects(export_aux_t *aux, int64_t signal_id)
{
    json_t *list = json_array(), *subject;
    size_t i;
    db_reset(aux->received);
    db_bind_int64(aux->received, 1, signal_id);
    db_step_t step = db_step(aux->received);
    if (step == DB_ERROR) {
        json_decref(list);
        return NULL;
    }
    if (step != DB_ROW)
        return list;
    json_t *detail = json_loads(s_col(aux->received, 0), 0, NULL);
    json_array_foreach(json_object_get(detail, "data_subjects"), i, subject) {
        const char *id = json_string_value(json_object_get(subject, "id"));
        bool seen = !id || !json_is_string(json_object_get(subject, "type"));
        for (size_t j = 0; !seen && j < json_array_size(list); j++)
            seen = strcmp(json_string_value(json_object_get(json_array_get(list, j), "id")),
                          id) == 0;
        if (!seen)
            json_array_append(list, subject);
    }
    json_decref(detail);
    return list;
}

/*  Fills the routed part of a: from the row itself or its routed event,
    its detail in *routed (NULL when there is none). -1 when it cannot be
    read: PostgreSQL reports a query's errors at its first step.        */
static int s_routed(export_aux_t *aux, action_t *a, json_t *detail, json_t **routed)
{
    *routed = NULL;
    if (strcmp(a->kind, AUDIT_ROUTED) == 0) {
        a->routed_seq = a->seq;
        a->routed_part = a->part;
        a->routed_ts = a->ts;
        *routed = json_incref(detail);
        return 0;
    }
    db_reset(aux->routed);
    db_bind_int64(aux->routed, 1, a->signal_id);
    db_bind_text(aux->routed, 2, a->subscriber, -1);
    db_bind_text(aux->routed, 3, a->subscription, -1);
    a->routed_ts = a->received_at;
    db_step_t step = db_step(aux->routed);
    if (step != DB_ROW)
        return step == DB_ERROR ? -1 : 0;
    a->routed_seq = db_column_int64(aux->routed, 0);
    a->routed_ts = db_column_int64(aux->routed, 1);
    a->routed_part = db_column_int64(aux->routed, 3);
    *routed = json_loads(s_col(aux->routed, 2), 0, NULL);
    return 0;
}

/*  The records of one action; -1 when what it refers to cannot be read
    (said).                                                            */
static int s_export_action(const audit_opts_t *o, export_aux_t *aux, db_stmt_t *stmt)
{
    json_t *detail = json_loads(s_col(stmt, 4), 0, NULL), *subject, *routed, *subjects = NULL;
    size_t i;
    int rc = -1;
    action_t a = { .seq = db_column_int64(stmt, 0), .ts = db_column_int64(stmt, 1),
                   .kind = s_col(stmt, 2), .subscriber = s_col(stmt, 3),
                   .trace_id = s_col(stmt, 5), .signal_id = db_column_int64(stmt, 6),
                   .received_at = db_column_int64(stmt, 7),
                   .part = db_column_int64(stmt, 8) };
    a.subscription = json_string_value(json_object_get(detail, "subscription"));
    if (!a.subscription)
        a.subscription = "";
    if (s_routed(aux, &a, detail, &routed) != 0) {
        cmd_db_failed(o->db, o->command, "the routing of a delivery");
        goto cleanup;
    }
    a.activity = json_string_value(json_object_get(routed, "processing_activity_id"));
    if (!(subjects = s_subjects(aux, a.signal_id))) {
        cmd_db_failed(o->db, o->command, "the data subjects of a signal");
        goto cleanup;
    }
    if (json_array_size(subjects) == 0)
        json_array_append_new(subjects, json_object());
    json_array_foreach(subjects, i, subject) {
        json_t *record = s_record(o, &a, subject);
        if (record)
            s_print_json(record);
        json_decref(record);
    }
    rc = 0;
cleanup:
    json_decref(subjects);
    json_decref(routed);
    json_decref(detail);
    return rc;
}

/*  The routed events, receipts and dead letters, and the statements
    export_aux_t reads beside them, in each engine's SQL.               */
static const struct {
    const char *actions, *routed, *received;
} s_export_sql[] = {
    [DB_SQLITE] = {
        "SELECT a.seq, a.ts, a.kind, a.subscriber, a.detail, a.trace_id, a.signal_id,"
        " s.received_at, a.part FROM (" AUDIT_EVENTS_SQL("1 = 1") ") a JOIN signals s"
        " ON s.id = a.signal_id WHERE a.kind"
        " IN ('" AUDIT_ROUTED "', '" AUDIT_RECEIPT "', '" AUDIT_DEAD "')",
        AUDIT_FIRST_ROUTED_SQL,
        "SELECT detail FROM audit WHERE signal_id = ? AND kind IN ('" AUDIT_SIGNAL_RECEIVED
        "', '" AUDIT_SIGNAL_ACCEPTED "') AND json_type(detail, '$.data_subjects') = 'array'"
        " ORDER BY seq LIMIT 1" },
    [DB_POSTGRESQL] = {
        "SELECT a.seq, a.ts, a.kind, a.subscriber, a.detail, a.trace_id, a.signal_id,"
        " s.received_at, a.part FROM (" AUDIT_EVENTS_SQL_PG("1 = 1") ") a JOIN signals s"
        " ON s.id = a.signal_id WHERE a.kind"
        " IN ('" AUDIT_ROUTED "', '" AUDIT_RECEIPT "', '" AUDIT_DEAD "')",
        AUDIT_FIRST_ROUTED_SQL_PG,
        "SELECT detail FROM audit WHERE signal_id = ? AND kind IN ('" AUDIT_SIGNAL_RECEIVED
        "', '" AUDIT_SIGNAL_ACCEPTED "') AND jsonb_typeof(detail::jsonb -> 'data_subjects')"
        " = 'array' ORDER BY seq LIMIT 1" },
};

static int s_export(audit_opts_t *o)
{
    query_t q = { .len = 0 };
    export_aux_t aux = { NULL, NULL };
    db_step_t step = DB_ERROR;
    db_engine_t engine = db_engine(o->db);
    if (o->format && strcmp(o->format, "chain") == 0)
        return cmd_audit_export_chain(o->db, o->config->node_name);
    if (!o->format || strcmp(o->format, "logboek") != 0) {
        fprintf(stderr, "seinpost audit export: --format is logboek or chain\n");
        return CMD_USAGE;
    }
    s_sql(&q, s_export_sql[engine].actions);
    s_filters(&q, o, NULL);
    s_sql(&q, " ORDER BY a.seq, a.part");
    db_stmt_t *stmt = s_prepare(o, &q, "the processing actions");
    if (stmt && (aux.routed = s_prepare_sql(o, s_export_sql[engine].routed,
                                            "the routing of a delivery"))
        && (aux.received = s_prepare_sql(o, s_export_sql[engine].received,
                                         "the data subjects of a signal"))) {
        while ((step = db_step(stmt)) == DB_ROW)
            if (s_export_action(o, &aux, stmt) != 0)
                break;          /* said */
        if (step == DB_ERROR)
            cmd_db_failed(o->db, o->command, "the processing actions");
    }
    db_finalize(&stmt);
    db_finalize(&aux.routed);
    db_finalize(&aux.received);
    return step == DB_DONE ? CMD_OK : CMD_FAILED;
}

/*  ---- options and dispatch --------------------------------------------- */

static const struct option s_options[] = {
    { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
    { "since", required_argument, NULL, 'S' }, { "until", required_argument, NULL, 'U' },
    { "type", required_argument, NULL, 't' }, { "source", required_argument, NULL, 's' },
    { "subscriber", required_argument, NULL, 'b' }, { "status", required_argument, NULL, 'x' },
    { "signal", required_argument, NULL, 'i' }, { "subject", required_argument, NULL, 'u' },
    { "limit", required_argument, NULL, 'n' }, { "format", required_argument, NULL, 'f' },
    { "strict", no_argument, NULL, 'z' }, { "lenient", no_argument, NULL, 'L' },
    { "expect-checkpoint", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 } };

static const struct {
    const char *name;
    const char *options;        /* option codes it takes */
    int positional;             /* arguments besides options */
    int (*fn)(audit_opts_t *o);
    const char *usage;
} s_subcommands[] = {
    { "list", "cjSUtsbxiun", 0, s_list,
      "audit list -c CONF [--since T] [--until T] [--type TYPE] [--source SRC]\n"
      "       [--subscriber S] [--status pending|delivered|dead|KIND] [--signal ID]\n"
      "       [--subject VALUE] [--limit N] [--json]" },
    { "show", "cj", 1, s_show, "audit show ID -c CONF [--json]" },
    { "verify", "czeL", 0, s_verify,
      "audit verify -c CONF [--strict] [--lenient] [--expect-checkpoint SEQ:HEXHASH]..." },
    { "export", "cfSUbt", 0, s_export,
      "audit export --format logboek|chain -c CONF [--since T] [--until T] [--subscriber S]"
      " [--type TYPE]" },
    { "anchors", "cbnj", 0, s_anchors,
      "audit anchors -c CONF [--subscriber S] [--limit N] [--json]" },
};

static int s_time_option(const char *name, const char *text, bool *has, int64_t *ms)
{
    *has = true;
    *ms = cmd_time_arg(text);
    if (*ms >= 0)
        return 0;
    fprintf(stderr, "seinpost audit: --%s: '%s' is neither RFC 3339 nor a duration like 2h\n",
            name, text);
    return -1;
}

/*  SEQ:HEXHASH, as the daemon logs each checkpoint it writes.          */
static int s_anchor_option(audit_opts_t *o, const char *arg)
{
    char *end = NULL;
    if (o->anchor_count == AUDIT_MAX_ANCHORS) {
        fprintf(stderr, "seinpost audit: at most %d --expect-checkpoint\n", AUDIT_MAX_ANCHORS);
        return -1;
    }
    verify_anchor_t *anchor = &o->anchors[o->anchor_count];
    long long seq = strtoll(arg, &end, 10);
    bool ok = end != arg && *end == ':' && seq >= 1 && strlen(end + 1) == 2 * SP_SHA256_SIZE;
    for (size_t i = 0; ok && i < SP_SHA256_SIZE; i++) {
        unsigned byte = 0;
        ok = isxdigit((unsigned char) end[1 + 2 * i])
            && isxdigit((unsigned char) end[2 + 2 * i])
            && sscanf(end + 1 + 2 * i, "%2x", &byte) == 1;
        anchor->hash[i] = (uint8_t) byte;
    }
    if (!ok) {
        fprintf(stderr, "seinpost audit: --expect-checkpoint: '%s' is not SEQ:HEXHASH "
                "(the daemon logs 'audit checkpoint SEQ:HEXHASH')\n", arg);
        return -1;
    }
    anchor->seq = seq;
    o->anchor_count++;
    return 0;
}

static int s_option(audit_opts_t *o, int opt, const char *arg)
{
    char *end = NULL;
    switch (opt) {
    case 'c': o->conf_path = arg; break;
    case 'j': o->json = true; break;
    case 'z': o->strict = true; break;
    case 'L': o->lenient = true; break;
    case 'e': return s_anchor_option(o, arg);
    case 'S': return s_time_option("since", arg, &o->has_since, &o->since);
    case 'U': return s_time_option("until", arg, &o->has_until, &o->until);
    case 't': o->type = arg; break;
    case 's': o->source = arg; break;
    case 'b': o->subscriber = arg; break;
    case 'x': o->status = arg; break;
    case 'i': o->signal = arg; break;
    case 'u': o->subject = arg; break;
    case 'f': o->format = arg; break;
    case 'n':
        o->limit = strtol(arg, &end, 10);
        if (*end || o->limit <= 0) {
            fprintf(stderr, "seinpost audit: --limit needs a positive number\n");
            return -1;
        }
        break;
    default: return -1;
    }
    return 0;
}

static int s_parse(int argc, char **argv, const char *allowed, audit_opts_t *o)
{
    int opt, index = -1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", s_options, &index)) != -1) {
        if (opt != '?' && !strchr(allowed, opt)) {
            fprintf(stderr, "seinpost audit %s: --%s does not apply here\n", argv[0],
                    index >= 0 ? s_options[index].name : "?");
            return -1;
        }
        if (opt == '?' || s_option(o, opt, optarg) != 0)
            return -1;
        index = -1;
    }
    return 0;
}

static int s_usage(void)
{
    fprintf(stderr, "usage:\n");
    for (size_t i = 0; i < sizeof s_subcommands / sizeof s_subcommands[0]; i++)
        fprintf(stderr, "  seinpost %s\n", s_subcommands[i].usage);
    return CMD_USAGE;
}

static int s_run(int sub, audit_opts_t *o)
{
    char err[4096] = "";
    int rc = CMD_FAILED;
    /* the public keys only: an auditor may not read the node's secret key */
    o->config = config_load_public(o->conf_path, err, sizeof err);
    if (!o->config) {
        fprintf(stderr, "seinpost audit: %s\n", err);
        return CMD_FAILED;
    }
    o->db = cmd_db_open(o->config->database, err, sizeof err);
    if (!o->db) {
        fprintf(stderr, "seinpost audit: %s\n", err);
        goto cleanup;
    }
    rc = s_subcommands[sub].fn(o);
cleanup:
    db_destroy(&o->db);
    config_destroy(&o->config);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    audit_opts_t o = { .conf_path = NULL };
    int sub = -1;
    for (size_t i = 0; argc > 1 && i < sizeof s_subcommands / sizeof s_subcommands[0]; i++)
        if (strcmp(argv[1], s_subcommands[i].name) == 0)
            sub = (int) i;
    if (sub < 0)
        return s_usage();
    if (s_parse(argc - 1, argv + 1, s_subcommands[sub].options, &o) != 0
        || !o.conf_path || argc - 1 - optind != s_subcommands[sub].positional) {
        fprintf(stderr, "usage: seinpost %s\n", s_subcommands[sub].usage);
        return CMD_USAGE;
    }
    if (s_subcommands[sub].positional)
        o.id = argv[1 + optind];
    snprintf(o.command, sizeof o.command, "audit %s", s_subcommands[sub].name);
    return s_run(sub, &o);
}
