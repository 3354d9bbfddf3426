/*  cmd_anchors.c - `seinpost anchors`: the partner's side of the anchors
    (docs/protocol.md 13.3).

    Every batch header a router signs carries the head of its audit chain
    (seq, hash) as it stood on disk, and the partner's receipt countersigns
    the header. `seinpost listen` keeps the newest anchor of each minute in
    its state database. This command lists them, and with --check reads a
    router's chain export (seinpost audit export --format chain), recomputes
    every row's hash and tells whether the chain still holds each anchor:
    a chain rewritten after the partner saw it cannot, without the hash
    at that seq changing.

    Exit codes: 0 every anchor held is in the export, 4 one is not (or the
    export is not a chain), 2 usage, 3 an error.                         */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cmd.h"
#include "cmd_text.h"
#include "db.h"
#include "sp_chain.h"
#include "sp_event.h"

#define ANCHORS_BROKEN 4

typedef struct {
    int64_t seq, at;
    uint8_t hash[SP_SHA256_SIZE];
    bool found;
} held_t;

typedef struct {
    held_t *rows;
    size_t count;
} held_list_t;

/*  Every anchor held for router; -1 when they cannot all be read (said):
    a check of some of them would pass for a check of all.             */
static int s_load_held(db_t *db, const char *router, held_list_t *held)
{
    static const char what[] = "the anchors held";
    size_t cap = 0;
    db_step_t step;
    db_stmt_t *stmt = db_prepare(db, "SELECT seq, sha256, at FROM anchors WHERE router = ?"
                                 " ORDER BY seq", false);
    if (!stmt) {
        cmd_db_failed(db, "anchors", what);
        return -1;
    }
    db_bind_text(stmt, 1, router, -1);
    while ((step = db_step(stmt)) == DB_ROW) {
        if (db_column_bytes(stmt, 1) != SP_SHA256_SIZE)
            continue;
        if (held->count == cap) {
            cap = cap ? 2 * cap : 64;
            held_t *grown = realloc(held->rows, cap * sizeof *grown);
            if (!grown) {
                fprintf(stderr, "seinpost anchors: out of memory\n");
                db_finalize(&stmt);
                return -1;
            }
            held->rows = grown;
        }
        held_t *row = &held->rows[held->count++];
        row->seq = db_column_int64(stmt, 0);
        row->at = db_column_int64(stmt, 2);
        row->found = false;
        memcpy(row->hash, db_column_blob(stmt, 1), SP_SHA256_SIZE);
    }
    if (step != DB_DONE)
        cmd_db_failed(db, "anchors", what);
    db_finalize(&stmt);
    return step == DB_DONE ? 0 : -1;
}

static int s_list(db_t *db)
{
    db_step_t step;
    db_stmt_t *stmt = db_prepare(db, "SELECT router, seq, sha256, at FROM anchors"
                                 " ORDER BY router, seq", false);
    if (!stmt)
        return cmd_db_failed(db, "anchors", "the anchors held");
    printf("%-24s %-10s %-64s %s\n", "ROUTER", "SEQ", "CHAIN HASH", "RECEIVED");
    while ((step = db_step(stmt)) == DB_ROW) {
        char hex[2 * SP_SHA256_SIZE + 1] = "", when[40];
        if (db_column_bytes(stmt, 2) == SP_SHA256_SIZE)
            sp_hex(db_column_blob(stmt, 2), SP_SHA256_SIZE, hex);
        sp_time_format(db_column_int64(stmt, 3), when, sizeof when);
        /* the router's name came from a header the router signed; still
           printed with control bytes escaped, as anything from outside */
        const char *router = db_column_text(stmt, 0);
        char *shown = cmd_text_escape(router ? router : "", router ? strlen(router) : 0);
        printf("%-24s %-10" PRId64 " %s %s\n", shown ? shown : "?",
               (int64_t) db_column_int64(stmt, 1), hex, when);
        free(shown);
    }
    int rc = step == DB_DONE ? CMD_OK : cmd_db_failed(db, "anchors", "the anchors held");
    db_finalize(&stmt);
    return rc;
}

/*  Reads the export's rows in order, recomputing the chain; marks every
    held anchor whose seq it reaches with the recomputed hash. 0, or -1
    with why (the export is not a whole, consistent chain).            */
static int s_walk(FILE *in, held_list_t *held, int64_t *last, char *why, size_t len)
{
    char *line = NULL;
    size_t cap = 0, next = 0;
    uint8_t prev[SP_SHA256_SIZE] = { 0 }, hash[SP_SHA256_SIZE], stored[SP_SHA256_SIZE];
    int rc = 0;
    *last = 0;
    while (rc == 0 && getline(&line, &cap, in) > 0) {
        json_t *row = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        int64_t seq = json_integer_value(json_object_get(row, "seq"));
        const char *hex = json_string_value(json_object_get(row, "hash"));
        if (!row || seq != *last + 1 || !hex || sp_unhex(hex, stored, sizeof stored) != 0) {
            snprintf(why, len, "export row after seq %" PRId64 " is not the next chain row",
                     *last);
            rc = -1;
        } else {
            sp_chain_row_hash(prev, seq, json_integer_value(json_object_get(row, "ts")),
                              json_string_value(json_object_get(row, "kind")),
                              json_string_value(json_object_get(row, "trace_id")),
                              json_integer_value(json_object_get(row, "signal_id")),
                              json_string_value(json_object_get(row, "subscriber")),
                              json_string_value(json_object_get(row, "detail")), hash);
            if (memcmp(hash, stored, sizeof hash) != 0) {
                snprintf(why, len, "export row %" PRId64 ": its hash does not cover its "
                         "content", seq);
                rc = -1;
            }
            for (; rc == 0 && next < held->count && held->rows[next].seq <= seq; next++)
                held->rows[next].found = held->rows[next].seq == seq
                    && memcmp(held->rows[next].hash, hash, sizeof hash) == 0;
            memcpy(prev, hash, sizeof prev);
            *last = seq;
        }
        json_decref(row);
    }
    free(line);
    return rc;
}

static int s_report(const char *router, const held_list_t *held, int64_t last)
{
    size_t missing = 0;
    for (size_t i = 0; i < held->count; i++) {
        const held_t *row = &held->rows[i];
        char when[40];
        if (row->found)
            continue;
        sp_time_format(row->at, when, sizeof when);
        if (missing++ == 0)
            printf("BROKEN: the anchor received %s (audit event %" PRId64 ") is %s the "
                   "exported chain (rewritten or cut off since)\n", when, row->seq,
                   row->seq > last ? "beyond the end of" : "not in");
    }
    if (missing > 0) {
        printf("%zu of %zu anchors held for router %s are not in its chain\n", missing,
               held->count, router);
        return ANCHORS_BROKEN;
    }
    printf("OK: all %zu anchors held for router %s are in its exported chain (1..%" PRId64
           ")\n", held->count, router, last);
    return CMD_OK;
}

static int s_check(db_t *db, const char *export_path)
{
    char why[256], router[256] = "";
    held_list_t held = { NULL, 0 };
    int64_t last = 0;
    int rc = CMD_FAILED;
    FILE *in = strcmp(export_path, "-") == 0 ? stdin : fopen(export_path, "r");
    char *line = NULL, *shown = NULL;
    size_t cap = 0;
    if (!in) {
        fprintf(stderr, "seinpost anchors: %s: cannot open\n", export_path);
        return CMD_FAILED;
    }
    json_t *head = getline(&line, &cap, in) > 0 ? json_loads(line, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(head, "router"));
    if (json_integer_value(json_object_get(head, "seinpost_chain")) != 1 || !name) {
        printf("BROKEN: %s is not a chain export (seinpost audit export --format chain)\n",
               export_path);
        rc = ANCHORS_BROKEN;
        goto cleanup;
    }
    snprintf(router, sizeof router, "%s", name);
    /* the name comes from the export: printed escaped (cmd_text.h) */
    shown = cmd_text_escape(router, strlen(router));
    if (!shown) {
        fprintf(stderr, "seinpost anchors: out of memory\n");
        goto cleanup;
    }
    if (s_load_held(db, router, &held) != 0)
        goto cleanup;           /* said */
    if (held.count == 0) {
        fprintf(stderr, "seinpost anchors: this partner holds no anchor of router %s\n",
                shown);
        goto cleanup;
    }
    if (s_walk(in, &held, &last, why, sizeof why) != 0) {
        printf("BROKEN: %s\n", why);
        rc = ANCHORS_BROKEN;
    } else
        rc = s_report(shown, &held, last);
cleanup:
    free(shown);
    json_decref(head);
    free(line);
    free(held.rows);
    if (in != stdin)
        fclose(in);
    return rc;
}

static int s_usage(FILE *out, int rc)
{
    fprintf(out, "usage: seinpost anchors -c PARTNER.YAML [--check EXPORT|-]\n"
            "  lists the router chain heads this partner countersigned; with --check,\n"
            "  tells whether a router's chain export still holds every one of them\n");
    return rc;
}

int cmd_anchors(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "check", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    const char *conf_path = NULL, *check = NULL;
    char err[1024];
    int opt, rc = CMD_FAILED;
    sqlite3 *handle = NULL;
    db_t *db = NULL;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (opt == 'h')
            return s_usage(stdout, CMD_OK);
        if (opt == 'c')
            conf_path = optarg;
        else if (opt == 'k')
            check = optarg;
        else
            return s_usage(stderr, CMD_USAGE);
    }
    if (!conf_path || optind != argc)
        return s_usage(stderr, CMD_USAGE);
    cli_conf_t *conf = cli_conf_load(conf_path, err, sizeof err);
    char *state = conf ? cli_conf_state_path(conf) : NULL;
    if (!state) {
        fprintf(stderr, "seinpost anchors: %s\n", conf ? "out of memory" : err);
        goto cleanup;
    }
    /* the state is listen's own SQLite file (sp_seen.c), whatever its
       name: opened as SQLite, never handed to db_open() as a target */
    if (sqlite3_open_v2(state, &handle, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "seinpost anchors: %s: %s\n", state, sqlite3_errmsg(handle));
        goto cleanup;
    }
    sqlite3_busy_timeout(handle, 5000);
    db = db_sqlite_wrap(handle);
    if (!db) {
        fprintf(stderr, "seinpost anchors: out of memory\n");
        goto cleanup;
    }
    handle = NULL;              /* the db_t's now */
    rc = check ? s_check(db, check) : s_list(db);
cleanup:
    db_destroy(&db);
    sqlite3_close(handle);      /* one the db_t did not take */
    free(state);
    cli_conf_destroy(&conf);
    return rc;
}
