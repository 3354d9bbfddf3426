/*  cmd_audit_anchors.c - the router side of the anchors (protocol.md 13.3).

      audit anchors         the chain heads partners countersigned: each
                            receipt, the batch it answers, the anchor that
                            batch's signed header carried, and whether the
                            chain still holds it there
      audit export --format chain
                            the chain as JSON lines, for a partner to check
                            the anchors it holds (seinpost anchors --check)

    Read from the database only; nothing here needs a key.             */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd_text.h"
#include "sp_event.h"
#include "sp_util.h"

#define ANCHORS_EXIT_BROKEN 4
/*  What a failing query was reading.                                   */
#define ANCHORS_RECEIPTS "the receipts and their batches"
#define ANCHORS_CHAIN "the audit chain at an anchor"

static const char *s_text(db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    return text ? text : "";
}

/*  One receipt's anchor: seq, hash (hex) from its batch header, and
    whether the chain has that hash at seq. 1, 0 for no anchor, -1 when
    the chain cannot be read there: that is not an anchor missing.     */
static int s_anchor_of(db_stmt_t *hash_at, const void *header, size_t len, int64_t *seq,
                       char hex[2 * SP_SHA256_SIZE + 1], bool *in_chain)
{
    uint8_t hash[SP_SHA256_SIZE];
    json_t *parsed = json_loadb(header, len, 0, NULL);
    json_t *anchor = json_object_get(parsed, "anchor");
    const char *text = json_string_value(json_object_get(anchor, "sha256"));
    *seq = json_integer_value(json_object_get(anchor, "seq"));
    int rc = *seq > 0 && text && sp_unhex(text, hash, sizeof hash) == 0 ? 1 : 0;
    if (rc == 1) {
        snprintf(hex, 2 * SP_SHA256_SIZE + 1, "%s", text);
        db_reset(hash_at);
        db_bind_int64(hash_at, 1, *seq);
        db_step_t step = db_step(hash_at);
        *in_chain = step == DB_ROW && db_column_bytes(hash_at, 0) == SP_SHA256_SIZE
                    && memcmp(db_column_blob(hash_at, 0), hash, sizeof hash) == 0;
        rc = step == DB_ERROR ? -1 : 1;
    }
    json_decref(parsed);
    return rc;
}

static void s_print_anchor(db_stmt_t *stmt, int64_t seq, const char *hex, bool in_chain,
                           bool json)
{
    char when[40];
    sp_time_format(db_column_int64(stmt, 2), when, sizeof when);
    if (json) {
        json_t *row = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:b}", "receipt_id",
                                (json_int_t) db_column_int64(stmt, 0), "subscriber",
                                s_text(stmt, 1), "received_at", when, "batch_id",
                                (json_int_t) db_column_int64(stmt, 3), "anchor_seq",
                                (json_int_t) seq, "anchor_sha256", hex, "in_chain", in_chain);
        char *line = json_dumps(row, JSON_COMPACT);
        if (line)
            puts(line);
        free(line);
        json_decref(row);
        return;
    }
    /* a stored string, escaped as every audit command prints them */
    char *subscriber = cmd_text_escape(s_text(stmt, 1), strlen(s_text(stmt, 1)));
    printf("%-8" PRId64 " %-16.64s %-24s %-8" PRId64 " %-10" PRId64 " %.16s…  %s\n",
           (int64_t) db_column_int64(stmt, 0), subscriber ? subscriber : "?", when,
           (int64_t) db_column_int64(stmt, 3), seq, hex,
           in_chain ? "in chain" : "NOT IN CHAIN");
    free(subscriber);
}

int cmd_audit_anchors(db_t *db, const char *subscriber, long limit, bool json)
{
    db_stmt_t *hash_at = NULL;
    db_step_t step;
    int rc = CMD_FAILED, missing = 0, anchored = 0;
    db_stmt_t *stmt = db_prepare(db, "SELECT r.id, r.subscriber, r.received_at, r.batch_id,"
                                 " b.header FROM receipts r JOIN batches b ON b.id = r.batch_id"
                                 " WHERE (CAST(?1 AS TEXT) IS NULL OR r.subscriber = ?1)"
                                 " ORDER BY r.id DESC LIMIT ?2", false);
    if (!stmt || !(hash_at = db_prepare(db, "SELECT hash FROM audit WHERE seq = ?", false))) {
        cmd_db_failed(db, "audit anchors", stmt ? ANCHORS_CHAIN : ANCHORS_RECEIPTS);
        goto cleanup;
    }
    if (subscriber)
        db_bind_text(stmt, 1, subscriber, -1);
    db_bind_int64(stmt, 2, limit > 0 ? limit : INT64_MAX);     /* both engines' "all" */
    /* stepped before the head: PostgreSQL finds a query's error there */
    step = db_step(stmt);
    if (step != DB_ERROR && !json)
        printf("%-8s %-16s %-24s %-8s %-10s %-19s %s\n", "RECEIPT", "SUBSCRIBER",
               "RECEIVED", "BATCH", "ANCHOR", "CHAIN HASH", "");
    for (; step == DB_ROW; step = db_step(stmt)) {
        char hex[2 * SP_SHA256_SIZE + 1];
        int64_t seq = 0;
        bool in_chain = false;
        anchored = s_anchor_of(hash_at, db_column_blob(stmt, 4), db_column_bytes(stmt, 4),
                               &seq, hex, &in_chain);
        if (anchored < 0)
            break;
        if (anchored == 0)
            continue;           /* a batch from before anchors */
        missing += !in_chain;
        s_print_anchor(stmt, seq, hex, in_chain, json);
    }
    if (step != DB_DONE) {
        cmd_db_failed(db, "audit anchors", anchored < 0 ? ANCHORS_CHAIN : ANCHORS_RECEIPTS);
        goto cleanup;
    }
    rc = missing ? ANCHORS_EXIT_BROKEN : CMD_OK;
    if (missing)
        fprintf(stderr, "seinpost audit anchors: %d countersigned anchor%s not in the chain "
                "(seinpost audit verify names the first)\n", missing, missing == 1 ? " is" : "s are");
cleanup:
    db_finalize(&stmt);
    db_finalize(&hash_at);
    return rc;
}

/*  Every row exactly as the chain hashes it (13.2), hash in hex; the
    first line names the format and the router.                        */
int cmd_audit_export_chain(db_t *db, const char *router)
{
    db_stmt_t *stmt = NULL;
    json_t *head = json_pack("{s:i, s:s}", "seinpost_chain", 1, "router", router);
    char *line = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    if (!line) {
        fprintf(stderr, "seinpost audit export: out of memory\n");
        return CMD_FAILED;
    }
    if (!(stmt = db_prepare(db, "SELECT seq, ts, kind, trace_id, signal_id, subscriber,"
                            " detail, hash FROM audit ORDER BY seq", false))) {
        free(line);
        return cmd_db_failed(db, "audit export", "the audit chain");
    }
    puts(line);
    free(line);
    db_step_t step;
    while ((step = db_step(stmt)) == DB_ROW) {
        char hex[2 * SP_SHA256_SIZE + 1] = "";
        if (db_column_bytes(stmt, 7) == SP_SHA256_SIZE)
            sp_hex(db_column_blob(stmt, 7), SP_SHA256_SIZE, hex);
        json_t *row = json_pack("{s:I, s:I, s:s, s:s, s:I, s:s, s:s, s:s}",
                                "seq", (json_int_t) db_column_int64(stmt, 0),
                                "ts", (json_int_t) db_column_int64(stmt, 1),
                                "kind", s_text(stmt, 2), "trace_id", s_text(stmt, 3),
                                "signal_id", (json_int_t) db_column_int64(stmt, 4),
                                "subscriber", s_text(stmt, 5), "detail", s_text(stmt, 6),
                                "hash", hex);
        line = row ? json_dumps(row, JSON_COMPACT) : NULL;
        if (line)
            puts(line);
        free(line);
        json_decref(row);
    }
    int rc = step == DB_DONE ? CMD_OK : cmd_db_failed(db, "audit export", "the audit chain");
    db_finalize(&stmt);
    return rc == CMD_OK && fflush(stdout) != 0 ? CMD_FAILED : rc;
}
