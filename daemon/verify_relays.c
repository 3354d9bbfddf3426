/*  verify_relays.c - the hops before this node (protocol.md 16.3): every
    upstream batch kept is signed by that upstream's configured node key,
    and every relayed signal is in the batch it came in, with the hash
    and emitter signature stored for it here.                            */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "verify.h"

static int s_batch_signed(const verify_input_t *in, db_stmt_t *stmt,
                          verify_counts_t *counts, char *why, size_t whylen)
{
    int64_t id = db_column_int64(stmt, 0);
    const char *name = db_column_text(stmt, 1);
    const upstream_t *up = in->config ? config_upstream(in->config, name) : NULL;
    if (!up) {
        counts->relays_unchecked++;
        return VERIFY_OK;       /* an upstream no longer configured */
    }
    if (db_column_bytes(stmt, 3) != SP_SIGNATURE_SIZE
        || sp_batch_verify(up->key, db_column_blob(stmt, 2), db_column_bytes(stmt, 2),
                           db_column_blob(stmt, 3)) != 0)
        return verify_broken(why, whylen, "upstream batch %" PRId64 ": not signed by the "
                             "node key of upstream %.64s (row edited?)", id, name ? name : "?");
    return VERIFY_OK;
}

/*  The relayed signal is the entry (subscription, seq) of its batch.    */
static int s_hop(db_stmt_t *stmt, char *why, size_t whylen)
{
    char sha[2 * SP_SHA256_SIZE + 1] = "", sig[2 * SP_SIGNATURE_SIZE + 1] = "";
    int64_t signal = db_column_int64(stmt, 0);
    if (db_column_is_null(stmt, 3))
        return verify_broken(why, whylen, "signal %" PRId64 ": its relay names an upstream "
                             "batch that is not stored (deleted?)", signal);
    const char *subscription = db_column_text(stmt, 1);
    json_int_t seq = db_column_int64(stmt, 2);
    if (db_column_bytes(stmt, 4) == SP_SHA256_SIZE)
        sp_hex(db_column_blob(stmt, 4), SP_SHA256_SIZE, sha);
    if (db_column_bytes(stmt, 5) == SP_SIGNATURE_SIZE)
        sp_hex(db_column_blob(stmt, 5), SP_SIGNATURE_SIZE, sig);
    json_t *header = json_loadb(db_column_blob(stmt, 3),
                                db_column_bytes(stmt, 3), 0, NULL), *entry;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(header, "entries"), i, entry) {
        const char *name = json_string_value(json_object_get(entry, "subscription"));
        const char *s = json_string_value(json_object_get(entry, "sha256"));
        const char *e = json_string_value(json_object_get(entry, "emitter_sig"));
        found = found || (name && subscription && strcmp(name, subscription) == 0
                          && json_integer_value(json_object_get(entry, "seq")) == seq
                          && s && strcmp(s, sha) == 0 && e && strcmp(e, sig) == 0);
    }
    json_decref(header);
    if (!found)
        return verify_broken(why, whylen, "signal %" PRId64 ": not the entry its relay names "
                             "in the upstream batch it came in (row edited?)", signal);
    return VERIFY_OK;
}

/*  The chain is the index: every hop a signal.relayed event records is
    still stored, from that upstream. PostgreSQL compares the recorded
    batch id as text, so that a member that is no integer does not match
    (as in SQLite) instead of failing the cast.                         */
static const char *const s_named_hops_sql[] = {
    [DB_SQLITE] = "SELECT a.seq, a.signal_id FROM audit a"
                  " LEFT JOIN upstream_batches b"
                  "  ON b.id = json_extract(a.detail, '$.upstream_batch_id')"
                  " WHERE a.kind = '" AUDIT_RELAYED "' AND (b.id IS NULL"
                  "  OR b.upstream IS NOT json_extract(a.detail, '$.upstream')"
                  "  OR NOT EXISTS (SELECT 1 FROM relays r WHERE r.signal_id ="
                  "   a.signal_id AND r.batch_id = b.id))"
                  " ORDER BY a.seq LIMIT 1",
    [DB_POSTGRESQL] = "SELECT a.seq, a.signal_id FROM audit a"
                      " LEFT JOIN upstream_batches b"
                      "  ON b.id::text = a.detail::jsonb ->> 'upstream_batch_id'"
                      " WHERE a.kind = '" AUDIT_RELAYED "' AND (b.id IS NULL"
                      "  OR b.upstream IS DISTINCT FROM a.detail::jsonb ->> 'upstream'"
                      "  OR NOT EXISTS (SELECT 1 FROM relays r WHERE r.signal_id ="
                      "   a.signal_id AND r.batch_id = b.id))"
                      " ORDER BY a.seq LIMIT 1",
};

static int s_named_hops(const verify_input_t *in, char *why, size_t whylen)
{
    db_stmt_t *stmt = db_prepare(in->db, s_named_hops_sql[db_engine(in->db)], false);
    if (!stmt)
        return verify_sql_error(in, why, whylen);
    int rc = VERIFY_OK;
    if (db_step(stmt) == DB_ROW)
        rc = verify_broken(why, whylen, "signal %" PRId64 ": the hop audit event %" PRId64
                           " records is not stored as recorded (relay or upstream batch "
                           "deleted or edited?)", db_column_int64(stmt, 1),
                           db_column_int64(stmt, 0));
    db_finalize(&stmt);
    return rc;
}

int verify_relays(const verify_input_t *in, verify_counts_t *counts, char *why,
                  size_t whylen)
{
    int rc = VERIFY_OK;
    counts->relays = counts->relays_unchecked = 0;
    /* a database from before the node link has neither table */
    db_stmt_t *stmt = db_prepare(in->db, "SELECT id, upstream, header, signature"
                                 " FROM upstream_batches ORDER BY id", false);
    if (!stmt)
        return VERIFY_OK;
    while (rc == VERIFY_OK && db_step(stmt) == DB_ROW)
        rc = s_batch_signed(in, stmt, counts, why, whylen);
    db_finalize(&stmt);
    if (rc != VERIFY_OK || !(stmt = db_prepare(in->db, "SELECT r.signal_id, r.subscription,"
                             " r.seq, b.header, s.event_sha256, s.signature FROM relays r"
                             " LEFT JOIN upstream_batches b ON b.id = r.batch_id"
                             " LEFT JOIN signals s ON s.id = r.signal_id ORDER BY r.signal_id",
                             false)))
        return rc != VERIFY_OK ? rc : verify_sql_error(in, why, whylen);
    while (rc == VERIFY_OK && db_step(stmt) == DB_ROW) {
        rc = s_hop(stmt, why, whylen);
        counts->relays += rc == VERIFY_OK;
    }
    db_finalize(&stmt);
    return rc == VERIFY_OK ? s_named_hops(in, why, whylen) : rc;
}
