/*  verify_named.c - the rows the audit chain names are still there and
    still hold what the chain recorded (see verify.h).

    The other checks walk the rows that exist; a deleted row leaves
    nothing for them to find. Here the chain is the index: every signal,
    batch, receipt and delivery an audit event names must be in its table.
    Each check is one statement that scans the events once and looks
    the named row up by its key, returning only the first event whose row
    is missing or differs, so the work stays proportional to the rows.
    The events are the chain's rows with the per-batch and per-receipt
    rows expanded into one event per delivery (AUDIT_EVENTS_SQL), in a
    temporary table: eid orders them as the chain does, seq names the
    chain row an event is part of.                                     */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "verify.h"

static const char *s_text(db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    return text ? text : "";
}

/*  Prepares sql and steps once: 1 with the first offending row under
    *stmt, 0 when there is none, -1 on an error (with *stmt finalized).  */
static int s_first(const verify_input_t *in, const char *sql, db_stmt_t **stmt)
{
    if (!(*stmt = db_prepare(in->db, sql, false)))
        return -1;
    db_step_t step = db_step(*stmt);
    if (step == DB_ROW)
        return 1;
    db_finalize(stmt);
    return step == DB_DONE ? 0 : -1;
}

/*  ---- the events ------------------------------------------------------------ */

#define EVENTS_WHERE "a.signal_id IS NOT NULL OR a.kind IN ('" \
    AUDIT_BATCH_SENT "', '" AUDIT_BATCH_RECEIPT "')"

static const char *s_events_sql =
    "CREATE TEMP TABLE IF NOT EXISTS verify_events(eid INTEGER PRIMARY KEY, seq INTEGER,"
    " part INTEGER, ts INTEGER, kind TEXT, trace_id TEXT, signal_id INTEGER,"
    " subscriber TEXT, detail TEXT);"
    "DELETE FROM temp.verify_events;"
    "INSERT INTO temp.verify_events(seq, part, ts, kind, trace_id, signal_id, subscriber,"
    " detail) SELECT * FROM (" AUDIT_EVENTS_SQL(EVENTS_WHERE) ") ORDER BY seq, part;"
    "CREATE INDEX IF NOT EXISTS temp.verify_events_signal ON verify_events(signal_id);"
    "CREATE INDEX IF NOT EXISTS temp.verify_events_kind ON verify_events(kind);";

/*  PostgreSQL creates no table in a read-only transaction, temporary or
    not (and a standby none at all), so there each statement starts with
    the events as a CTE; detail is jsonb, eid numbers them as the chain
    orders them.                                                       */
#define EVENTS_PG \
    "WITH verify_events AS MATERIALIZED (SELECT row_number() OVER (ORDER BY seq, part)" \
    " AS eid, seq, part, ts, kind, trace_id, signal_id, subscriber, detail::jsonb AS detail" \
    " FROM (" AUDIT_EVENTS_SQL_PG(EVENTS_WHERE) ") ev)"

/*  And the delivery keys the events name, (signal, subscriber,
    subscription, seq as text), each with its first routed or
    redelivered, receipt and dead-letter event and its last attempt:
    what DELIVERY_EVENT looks up through the signal_id index in SQLite.
    Compared as text, a member that is no integer matches no row, as in
    SQLite, instead of failing a cast.                                 */
#define KEYED_PG \
    EVENTS_PG ", verify_keyed AS (SELECT signal_id, subscriber," \
    " detail ->> 'subscription' AS subscription, detail ->> 'seq' AS dseq," \
    " MIN(eid) FILTER (WHERE kind IN ('" AUDIT_ROUTED "', '" AUDIT_REDELIVERED "'))" \
    " AS routed, MIN(eid) FILTER (WHERE kind = '" AUDIT_RECEIPT "') AS receipt," \
    " MIN(eid) FILTER (WHERE kind = '" AUDIT_DEAD "') AS dead," \
    " MAX(eid) FILTER (WHERE kind = '" AUDIT_ATTEMPT "') AS attempt" \
    " FROM verify_events WHERE signal_id IS NOT NULL AND subscriber IS NOT NULL" \
    " AND detail ->> 'subscription' IS NOT NULL AND detail ->> 'seq' IS NOT NULL" \
    " GROUP BY 1, 2, 3, 4)"
#define KEYED_JOIN_PG(d) \
    " verify_keyed k ON k.signal_id = " d ".signal_id AND k.subscriber = " d ".subscriber" \
    " AND k.subscription = " d ".subscription AND k.dseq = " d ".seq::text"

/*  ---- signals ------------------------------------------------------------ */

/*  A detail member, compared only where the daemon recorded it: the chain
    is verified by now, so a member's absence is the daemon's own doing
    (older versions recorded fewer).                                     */
#define RECORDED(member, column) \
    "WHEN json_type(a.detail, '$." member "') IS NOT NULL" \
    " AND json_extract(a.detail, '$." member "') IS NOT " column " THEN '" member "' "

#define SIGNAL_KINDS "('" AUDIT_SIGNAL_RECEIVED "', '" AUDIT_SIGNAL_ACCEPTED "', '" \
    AUDIT_PURGED "')"

/*  Every event with a signal_id needs the row; the events that describe
    the signal need it unchanged. differs is '' for a missing row, the
    first differing field's name, or NULL when all is well.            */
static const char *s_signals_sql =
    "SELECT seq, signal_id, differs FROM ("
    " SELECT a.eid, a.seq, a.signal_id, CASE"
    "  WHEN s.id IS NULL THEN ''"
    "  WHEN a.kind NOT IN " SIGNAL_KINDS " THEN NULL"
    "  WHEN a.trace_id IS NOT s.trace_id THEN 'trace_id'"
    "  WHEN json_type(a.detail, '$.sha256') IS NOT NULL"
    "   AND json_extract(a.detail, '$.sha256') IS NOT lower(hex(s.event_sha256))"
    "   THEN 'SHA-256' "
    RECORDED("source", "s.source")
    RECORDED("id", "s.ce_id")
    RECORDED("type", "s.type")
    RECORDED("emitter", "s.emitter")
    RECORDED("key_id", "s.key_id")
    RECORDED("received_at", "s.received_at")
    RECORDED("purged_at", "s.purged_at")
    /* the subject's pseudonym is the data_subjects entry without a field */
    "  WHEN a.kind = '" AUDIT_SIGNAL_ACCEPTED "'"
    "   AND json_type(a.detail, '$.data_subjects') = 'array'"
    "   AND (SELECT json_extract(j.value, '$.id') FROM json_each(a.detail, '$.data_subjects') j"
    "    WHERE json_type(j.value, '$.field') IS NULL LIMIT 1) IS NOT s.subject_pseudonym"
    "   THEN 'subject_pseudonym' "
    "  END AS differs"
    " FROM temp.verify_events a LEFT JOIN signals s ON s.id = a.signal_id"
    " WHERE a.signal_id IS NOT NULL)"
    " WHERE differs IS NOT NULL ORDER BY eid LIMIT 1";

/*  The same on PostgreSQL. -> is NULL where the member is absent, as
    json_type is; values are compared as text (->> and the column cast),
    as SQLite converts a JSON string to the integer column's type.      */
#define RECORDED_PG(member, column) \
    "WHEN a.detail -> '" member "' IS NOT NULL" \
    " AND a.detail ->> '" member "' IS DISTINCT FROM " column "::text THEN '" member "' "

static const char *s_signals_sql_pg =
    EVENTS_PG " SELECT seq, signal_id, differs FROM ("
    " SELECT a.eid, a.seq, a.signal_id, CASE"
    "  WHEN s.id IS NULL THEN ''"
    "  WHEN a.kind NOT IN " SIGNAL_KINDS " THEN NULL"
    "  WHEN a.trace_id IS DISTINCT FROM s.trace_id THEN 'trace_id'"
    "  WHEN a.detail -> 'sha256' IS NOT NULL"
    "   AND a.detail ->> 'sha256' IS DISTINCT FROM encode(s.event_sha256, 'hex')"
    "   THEN 'SHA-256' "
    RECORDED_PG("source", "s.source")
    RECORDED_PG("id", "s.ce_id")
    RECORDED_PG("type", "s.type")
    RECORDED_PG("emitter", "s.emitter")
    RECORDED_PG("key_id", "s.key_id")
    RECORDED_PG("received_at", "s.received_at")
    RECORDED_PG("purged_at", "s.purged_at")
    /* jsonb_array_elements fails on a non-array, and AND may be
       evaluated in any order: a non-array is read as [] */
    "  WHEN a.kind = '" AUDIT_SIGNAL_ACCEPTED "'"
    "   AND jsonb_typeof(a.detail -> 'data_subjects') = 'array'"
    "   AND (SELECT j.v ->> 'id' FROM jsonb_array_elements(CASE WHEN"
    "    jsonb_typeof(a.detail -> 'data_subjects') = 'array' THEN a.detail -> 'data_subjects'"
    "    ELSE '[]' END) WITH ORDINALITY j(v, n)"
    "    WHERE j.v -> 'field' IS NULL ORDER BY j.n LIMIT 1) IS DISTINCT FROM s.subject_pseudonym"
    "   THEN 'subject_pseudonym' "
    "  END AS differs"
    " FROM verify_events a LEFT JOIN signals s ON s.id = a.signal_id"
    " WHERE a.signal_id IS NOT NULL) x"
    " WHERE differs IS NOT NULL ORDER BY eid LIMIT 1";

static int s_named_signals(const verify_input_t *in, char *why, size_t whylen)
{
    db_stmt_t *stmt;
    int found = s_first(in, db_engine(in->db) == DB_POSTGRESQL ? s_signals_sql_pg
                                                                : s_signals_sql, &stmt);
    if (found <= 0)
        return found == 0 ? VERIFY_OK : verify_sql_error(in, why, whylen);
    int64_t seq = db_column_int64(stmt, 0), id = db_column_int64(stmt, 1);
    const char *field = s_text(stmt, 2);
    int rc = *field
        ? verify_broken(why, whylen, "signal %" PRId64 ": %s differs from audit event %" PRId64
                   " (signal row edited?)", id, field, seq)
        : verify_broken(why, whylen, "signal %" PRId64 ": deleted, but audit event %" PRId64
                   " records it", id, seq);
    db_finalize(&stmt);
    return rc;
}

/*  ---- batches and receipts ----------------------------------------------- */

/*  The row of table whose id the event kind records in member must be
    there, for the subscriber the event names.                          */
static int s_named_rows(const verify_input_t *in, const char *kind, const char *member,
                        const char *table, const char *noun, char *why, size_t whylen)
{
    char sql[4096];
    db_stmt_t *stmt;
    if (db_engine(in->db) == DB_POSTGRESQL)
        /* 'integer' is a number of digits only: as text it matches t.id */
        snprintf(sql, sizeof sql, EVENTS_PG
                 " SELECT a.seq, a.detail ->> '%s', t.id IS NULL"
                 " FROM verify_events a LEFT JOIN %s t ON t.id::text = a.detail ->> '%s'"
                 " WHERE a.kind = '%s' AND jsonb_typeof(a.detail -> '%s') = 'number'"
                 " AND a.detail ->> '%s' ~ '^-?[0-9]+$'"
                 " AND (t.id IS NULL OR t.subscriber IS DISTINCT FROM a.subscriber)"
                 " ORDER BY a.seq LIMIT 1", member, table, member, kind, member, member);
    else
        snprintf(sql, sizeof sql,
                 "SELECT a.seq, json_extract(a.detail, '$.%s'), t.id IS NULL"
                 " FROM temp.verify_events a LEFT JOIN %s t"
                 " ON t.id = json_extract(a.detail, '$.%s')"
                 " WHERE a.kind = '%s' AND json_type(a.detail, '$.%s') = 'integer'"
                 " AND (t.id IS NULL OR t.subscriber IS NOT a.subscriber)"
                 " ORDER BY a.seq LIMIT 1", member, table, member, kind, member);
    int found = strlen(sql) + 1 < sizeof sql ? s_first(in, sql, &stmt) : -1;
    if (found <= 0)
        return found == 0 ? VERIFY_OK : verify_sql_error(in, why, whylen);
    int64_t seq = db_column_int64(stmt, 0), id = db_column_int64(stmt, 1);
    int rc = (int) db_column_int64(stmt, 2)
        ? verify_broken(why, whylen, "%s %" PRId64 ": deleted, but audit event %" PRId64
                   " records it", noun, id, seq)
        : verify_broken(why, whylen, "%s %" PRId64 ": subscriber differs from audit event %"
                   PRId64 " (row edited?)", noun, id, seq);
    db_finalize(&stmt);
    return rc;
}

/*  ---- deliveries ---------------------------------------------------------- */

/*  A redelivery moves a delivery to a new id and seq; the keys it left
    are no longer in the table, and events naming them are not flagged.
    ON CONFLICT DO NOTHING skips only duplicate keys, where INSERT OR
    IGNORE also skipped a key with a NULL (a WITHOUT ROWID key is NOT
    NULL): those are left out by the WHERE instead, as they were.      */
static const char *s_moved_sql =
    "CREATE TEMP TABLE IF NOT EXISTS verify_moved(subscriber TEXT, subscription TEXT,"
    " seq INTEGER, PRIMARY KEY(subscriber, subscription, seq)) WITHOUT ROWID;"
    "DELETE FROM temp.verify_moved;"
    "INSERT INTO temp.verify_moved"
    " SELECT subscriber, json_extract(detail, '$.subscription'),"
    " json_extract(detail, '$.previous_seq') FROM audit"
    " WHERE kind = '" AUDIT_REDELIVERED "'"
    " AND json_type(detail, '$.previous_seq') = 'integer'"
    " AND subscriber IS NOT NULL AND json_extract(detail, '$.subscription') IS NOT NULL"
    " ON CONFLICT DO NOTHING";

/*  Deliveries are keyed by (subscriber, subscription, seq), which every
    per-delivery event records; receipts and redeliveries add the id.   */
static const char *s_deliveries_sql =
    "SELECT n.seq, n.subscriber, n.subscription, n.dseq, d.id IS NULL,"
    " d.signal_id IS NOT n.signal_id FROM ("
    " SELECT eid, seq, signal_id, subscriber, json_extract(detail, '$.subscription')"
    "  AS subscription, json_extract(detail, '$.seq') AS dseq,"
    "  json_extract(detail, '$.delivery_id') AS did FROM temp.verify_events"
    " WHERE kind IN ('" AUDIT_ROUTED "', '" AUDIT_ATTEMPT "', '" AUDIT_RECEIPT "', '"
    AUDIT_DEAD "', '" AUDIT_REDELIVERED "')) n"
    " LEFT JOIN deliveries d ON d.subscriber = n.subscriber"
    "  AND d.subscription = n.subscription AND d.seq = n.dseq"
    " WHERE n.dseq IS NOT NULL AND n.subscription IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM temp.verify_moved m WHERE m.subscriber = n.subscriber"
    "  AND m.subscription = n.subscription AND m.seq = n.dseq)"
    " AND (d.id IS NULL OR d.signal_id IS NOT n.signal_id"
    "  OR (n.did IS NOT NULL AND d.id IS NOT n.did))"
    " ORDER BY n.eid LIMIT 1";

/*  The same on PostgreSQL, the moved keys a CTE (see EVENTS_PG) and a
    delivery's seq compared as text (see KEYED_PG).                     */
static const char *s_deliveries_sql_pg =
    EVENTS_PG ", verify_moved AS (SELECT subscriber,"
    " detail::jsonb ->> 'subscription' AS subscription,"
    " detail::jsonb ->> 'previous_seq' AS seq FROM audit"
    " WHERE kind = '" AUDIT_REDELIVERED "'"
    " AND jsonb_typeof(detail::jsonb -> 'previous_seq') = 'number'"
    " AND subscriber IS NOT NULL AND detail::jsonb ->> 'subscription' IS NOT NULL)"
    " SELECT n.seq, n.subscriber, n.subscription, n.dseq, d.id IS NULL,"
    " d.signal_id IS DISTINCT FROM n.signal_id FROM ("
    " SELECT eid, seq, signal_id, subscriber, detail ->> 'subscription' AS subscription,"
    "  detail ->> 'seq' AS dseq, detail ->> 'delivery_id' AS did FROM verify_events"
    " WHERE kind IN ('" AUDIT_ROUTED "', '" AUDIT_ATTEMPT "', '" AUDIT_RECEIPT "', '"
    AUDIT_DEAD "', '" AUDIT_REDELIVERED "')) n"
    " LEFT JOIN deliveries d ON d.subscriber = n.subscriber"
    "  AND d.subscription = n.subscription AND d.seq::text = n.dseq"
    " WHERE n.dseq IS NOT NULL AND n.subscription IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM verify_moved m WHERE m.subscriber = n.subscriber"
    "  AND m.subscription = n.subscription AND m.seq = n.dseq)"
    " AND (d.id IS NULL OR d.signal_id IS DISTINCT FROM n.signal_id"
    "  OR (n.did IS NOT NULL AND d.id::text IS DISTINCT FROM n.did))"
    " ORDER BY n.eid LIMIT 1";

static int s_named_deliveries(const verify_input_t *in, char *why, size_t whylen)
{
    db_stmt_t *stmt = NULL;
    bool pg = db_engine(in->db) == DB_POSTGRESQL;
    if (!pg && db_exec(in->db, s_moved_sql) != 0)
        return verify_sql_error(in, why, whylen);
    int found = s_first(in, pg ? s_deliveries_sql_pg : s_deliveries_sql, &stmt);
    int rc = found == 0 ? VERIFY_OK : verify_sql_error(in, why, whylen);
    if (found == 1) {
        int64_t seq = db_column_int64(stmt, 0), dseq = db_column_int64(stmt, 3);
        const char *what = (int) db_column_int64(stmt, 4) ? "deleted, but"
                         : (int) db_column_int64(stmt, 5) ? "signal differs from"
                         : "id differs from";
        rc = verify_broken(why, whylen, "delivery %.64s/%.64s seq %" PRId64 ": %s audit event %"
                      PRId64 "%s", s_text(stmt, 1), s_text(stmt, 2), dseq, what, seq,
                      (int) db_column_int64(stmt, 4) ? " records it" : " (row edited?)");
    }
    db_finalize(&stmt);
    if (!pg)
        db_exec(in->db, "DROP TABLE IF EXISTS temp.verify_moved");
    return rc;
}

/*  ---- deliveries the chain does not account for ---------------------------- */

/*  The first event about one delivery key: the signal's events (the
    signal_id index) for that subscriber, subscription and seq; its eid. */
#define DELIVERY_EVENT(kinds) \
    "(SELECT MIN(a.eid) FROM temp.verify_events a WHERE a.signal_id = d.signal_id" \
    " AND a.subscriber = d.subscriber AND a.kind IN " kinds \
    " AND json_extract(a.detail, '$.subscription') = d.subscription" \
    " AND json_extract(a.detail, '$.seq') = d.seq)"

/*  The reverse of s_deliveries_sql: every row was put where it is by a
    routed or redelivered event, and its state is the one the chain
    reached. A row added (a delivery to a partner with no legal basis in
    the chain) or a state edited (a delivery marked done that never was,
    or made pending again to be sent twice) has no event to stand on.
    problem: 1 no routing event, 2 delivered without a receipt event,
    3 dead-lettered without its event, 4 pending after either, 5 unknown. */
#define S_PROBLEM_CASE \
    " SELECT *, CASE" \
    "  WHEN routed IS NULL THEN 1" \
    "  WHEN state = 1 AND receipt IS NULL THEN 2" \
    "  WHEN state = 2 AND dead IS NULL THEN 3" \
    "  WHEN state = 0 AND COALESCE(receipt, dead) IS NOT NULL THEN 4" \
    "  WHEN state NOT IN (0, 1, 2) THEN 5 END AS problem FROM ("

static const char *s_unaccounted_sql =
    "SELECT id, subscriber, subscription, seq, problem,"
    " (SELECT e.seq FROM temp.verify_events e WHERE e.eid = COALESCE(receipt, dead)) FROM ("
    S_PROBLEM_CASE
    "  SELECT d.id, d.subscriber, d.subscription, d.seq, d.state,"
    "   " DELIVERY_EVENT("('" AUDIT_ROUTED "', '" AUDIT_REDELIVERED "')") " AS routed,"
    "   " DELIVERY_EVENT("('" AUDIT_RECEIPT "')") " AS receipt,"
    "   " DELIVERY_EVENT("('" AUDIT_DEAD "')") " AS dead"
    "  FROM deliveries d))"
    " WHERE problem IS NOT NULL ORDER BY id LIMIT 1";

static const char *s_unaccounted_sql_pg =
    KEYED_PG " SELECT id, subscriber, subscription, seq, problem,"
    " (SELECT e.seq FROM verify_events e WHERE e.eid = COALESCE(receipt, dead)) FROM ("
    S_PROBLEM_CASE
    "  SELECT d.id, d.subscriber, d.subscription, d.seq, d.state, k.routed, k.receipt, k.dead"
    "  FROM deliveries d LEFT JOIN" KEYED_JOIN_PG("d") ") x) y"
    " WHERE problem IS NOT NULL ORDER BY id LIMIT 1";

static int s_unaccounted_deliveries(const verify_input_t *in, char *why, size_t whylen)
{
    static const char *const problems[] = {
        [1] = "no delivery.routed or delivery.redelivered audit event put it there "
              "(row added?)",
        [2] = "marked delivered, but no delivery.receipt audit event records it (row edited?)",
        [3] = "marked dead-lettered, but no delivery.deadlettered audit event records it "
              "(row edited?)",
        [4] = "pending, but audit event %" PRId64 " records it delivered or dead-lettered "
              "(row edited?)",
        [5] = "state is none of pending, delivered, dead-lettered (row edited?)",
    };
    char text[160];
    db_stmt_t *stmt;
    int found = s_first(in, db_engine(in->db) == DB_POSTGRESQL ? s_unaccounted_sql_pg
                                                                : s_unaccounted_sql, &stmt);
    if (found <= 0)
        return found == 0 ? VERIFY_OK : verify_sql_error(in, why, whylen);
    int problem = (int) db_column_int64(stmt, 4);
    if (problem < 1 || problem > 5)
        problem = 5;
    snprintf(text, sizeof text, problems[problem], db_column_int64(stmt, 5));
    int rc = verify_broken(why, whylen, "delivery %" PRId64 " (%.64s/%.64s seq %" PRId64 "): %s",
                           db_column_int64(stmt, 0), s_text(stmt, 1),
                           s_text(stmt, 2), db_column_int64(stmt, 3), text);
    db_finalize(&stmt);
    return rc;
}

/*  ---- stored fields the chain records ----------------------------------------- */

/*  A purged payload has its event, and only a purged one: a payload
    removed without one, or put back after it, is an edit.             */
static const char *s_purged_sql =
    "SELECT id, gone FROM (SELECT s.id, s.event IS NULL AS gone,"
    "  s.event IS NULL OR s.purged_at IS NOT NULL AS marked,"
    "  EXISTS (SELECT 1 FROM audit a WHERE a.signal_id = s.id"
    "          AND a.kind = '" AUDIT_PURGED "') AS audited FROM signals s) x"
    " WHERE marked <> audited ORDER BY id LIMIT 1";

/*  The receipt and batch a delivered row names are the ones its
    delivery.receipt event recorded; the batch a row not delivered names
    is the one its last delivery.attempt event recorded. A receipt's
    arrival time and batch are the ones its events recorded. Members are
    compared where recorded (older versions recorded fewer).            */
static const char *s_fields_sql =
    "SELECT what, id, field, (SELECT e.seq FROM temp.verify_events e WHERE e.eid = ev) FROM ("
    " SELECT 'delivery' AS what, d.id, CASE"
    "  WHEN json_extract(a.detail, '$.receipt_id') IS NOT d.receipt_id THEN 'receipt_id'"
    "  WHEN json_type(a.detail, '$.batch_id') IS NOT NULL"
    "   AND json_extract(a.detail, '$.batch_id') IS NOT d.batch_id THEN 'batch_id'"
    "  END AS field, a.eid AS ev"
    " FROM deliveries d JOIN temp.verify_events a ON a.eid = " DELIVERY_EVENT("('" AUDIT_RECEIPT "')")
    " WHERE d.state = 1"
    " UNION ALL SELECT 'delivery', id, 'batch_id', ev FROM ("
    "  SELECT d.id, d.batch_id, (SELECT a.eid FROM temp.verify_events a"
    "   WHERE a.signal_id = d.signal_id"
    "   AND a.subscriber = d.subscriber AND a.kind = '" AUDIT_ATTEMPT "'"
    "   AND json_extract(a.detail, '$.subscription') = d.subscription"
    "   AND json_extract(a.detail, '$.seq') = d.seq ORDER BY a.eid DESC LIMIT 1) AS ev"
    "  FROM deliveries d WHERE d.state <> 1 AND d.batch_id IS NOT NULL) x"
    "  WHERE ev IS NULL OR (SELECT json_extract(detail, '$.batch_id')"
    "   FROM temp.verify_events WHERE eid = ev) IS NOT x.batch_id"
    " UNION ALL SELECT 'receipt', r.id, CASE"
    "  WHEN json_type(a.detail, '$.received_at') IS NOT NULL"
    "   AND json_extract(a.detail, '$.received_at') IS NOT r.received_at THEN 'received_at'"
    "  WHEN json_type(a.detail, '$.batch_id') IS NOT NULL"
    "   AND json_extract(a.detail, '$.batch_id') IS NOT r.batch_id THEN 'batch_id'"
    "  END, a.eid"
    " FROM temp.verify_events a JOIN receipts r"
    " ON r.id = json_extract(a.detail, '$.receipt_id')"
    " WHERE a.kind = '" AUDIT_RECEIPT "')"
    " WHERE field IS NOT NULL ORDER BY ev LIMIT 1";

/*  The same on PostgreSQL; SQLite orders a missing event (NULL) first. */
static const char *s_fields_sql_pg =
    KEYED_PG " SELECT what, id, field, (SELECT e.seq FROM verify_events e WHERE e.eid = ev)"
    " FROM ("
    " SELECT 'delivery' AS what, d.id, CASE"
    "  WHEN a.detail ->> 'receipt_id' IS DISTINCT FROM d.receipt_id::text THEN 'receipt_id'"
    "  WHEN a.detail -> 'batch_id' IS NOT NULL"
    "   AND a.detail ->> 'batch_id' IS DISTINCT FROM d.batch_id::text THEN 'batch_id'"
    "  END AS field, a.eid AS ev"
    " FROM deliveries d JOIN" KEYED_JOIN_PG("d")
    " JOIN verify_events a ON a.eid = k.receipt WHERE d.state = 1"
    " UNION ALL SELECT 'delivery', d.id, 'batch_id', k.attempt"
    "  FROM deliveries d LEFT JOIN" KEYED_JOIN_PG("d")
    "  LEFT JOIN verify_events a ON a.eid = k.attempt"
    "  WHERE d.state <> 1 AND d.batch_id IS NOT NULL"
    "  AND (k.attempt IS NULL OR a.detail ->> 'batch_id' IS DISTINCT FROM d.batch_id::text)"
    " UNION ALL SELECT 'receipt', r.id, CASE"
    "  WHEN a.detail -> 'received_at' IS NOT NULL"
    "   AND a.detail ->> 'received_at' IS DISTINCT FROM r.received_at::text THEN 'received_at'"
    "  WHEN a.detail -> 'batch_id' IS NOT NULL"
    "   AND a.detail ->> 'batch_id' IS DISTINCT FROM r.batch_id::text THEN 'batch_id'"
    "  END, a.eid"
    " FROM verify_events a JOIN receipts r ON r.id::text = a.detail ->> 'receipt_id'"
    " WHERE a.kind = '" AUDIT_RECEIPT "') x"
    " WHERE field IS NOT NULL ORDER BY ev NULLS FIRST LIMIT 1";

static int s_stored_fields(const verify_input_t *in, char *why, size_t whylen)
{
    db_stmt_t *stmt;
    int found = s_first(in, s_purged_sql, &stmt);
    if (found < 0)
        return verify_sql_error(in, why, whylen);
    if (found == 1) {
        int rc = verify_broken(why, whylen, "signal %" PRId64 ": %s (row edited?)",
                               db_column_int64(stmt, 0),
                               (int) db_column_int64(stmt, 1)
                               ? "payload gone, but no signal.purged audit event records it"
                               : "purged_at set or payload present, against what the "
                                 "signal.purged audit events record");
        db_finalize(&stmt);
        return rc;
    }
    found = s_first(in, db_engine(in->db) == DB_POSTGRESQL ? s_fields_sql_pg : s_fields_sql,
                    &stmt);
    if (found <= 0)
        return found == 0 ? VERIFY_OK : verify_sql_error(in, why, whylen);
    int rc = db_column_is_null(stmt, 3)
        ? verify_broken(why, whylen, "%s %" PRId64 ": %s names a batch, but no delivery.attempt "
                        "audit event sent it (row edited?)", s_text(stmt, 0),
                        db_column_int64(stmt, 1), s_text(stmt, 2))
        : verify_broken(why, whylen, "%s %" PRId64 ": %s differs from audit event %" PRId64
                        " (row edited?)", s_text(stmt, 0),
                        db_column_int64(stmt, 1), s_text(stmt, 2),
                        db_column_int64(stmt, 3));
    db_finalize(&stmt);
    return rc;
}

int verify_named(const verify_input_t *in, verify_counts_t *counts, char *why,
                 size_t whylen)
{
    bool pg = db_engine(in->db) == DB_POSTGRESQL;
    (void) counts;
    if (!pg && db_exec(in->db, s_events_sql) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = s_named_signals(in, why, whylen);
    if (rc == VERIFY_OK)
        rc = s_named_rows(in, AUDIT_ATTEMPT, "batch_id", "batches", "batch", why, whylen);
    if (rc == VERIFY_OK)
        rc = s_named_rows(in, AUDIT_RECEIPT, "receipt_id", "receipts", "receipt", why,
                          whylen);
    if (rc == VERIFY_OK)
        rc = s_named_deliveries(in, why, whylen);
    if (rc == VERIFY_OK)
        rc = s_unaccounted_deliveries(in, why, whylen);
    if (rc == VERIFY_OK)
        rc = s_stored_fields(in, why, whylen);
    if (!pg)
        db_exec(in->db, "DROP TABLE IF EXISTS temp.verify_events");
    return rc;
}
