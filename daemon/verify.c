/*  verify.c - offline verification of the audit chain, its checkpoints
    and anchors, and every stored signature (see verify.h); the rows the
    chain names are checked in verify_named.c.                           */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "verify.h"

#define VERIFY_PROGRESS_EVERY 4096
/*  How far from its place a moved audit row is looked for.              */
#define VERIFY_SEARCH 16384
#define AUDIT_COLUMNS "seq, ts, kind, trace_id, signal_id, subscriber, detail, prev_hash, hash"
enum { A_SEQ, A_TS, A_KIND, A_TRACE, A_SIGNAL, A_SUBSCRIBER, A_DETAIL, A_PREV, A_HASH };

typedef int (verify_row_fn)(void *ctx, db_stmt_t *stmt, char *why, size_t whylen);

int verify_broken(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return VERIFY_BROKEN;
}

/*  A signature whose key is not configured: broken when strict, else
    counted, the first one described.                                    */
static int s_unchecked(const verify_input_t *in, verify_counts_t *counts, char *why,
                       size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int s_unchecked(const verify_input_t *in, verify_counts_t *counts, char *why,
                       size_t whylen, const char *fmt, ...)
{
    char text[sizeof counts->first_unchecked];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (in->strict)
        return verify_broken(why, whylen, "%s", text);
    if (counts->unchecked++ == 0)
        snprintf(counts->first_unchecked, sizeof counts->first_unchecked, "%s", text);
    return VERIFY_OK;
}

int verify_sql_error(const verify_input_t *in, char *why, size_t whylen)
{
    snprintf(why, whylen, "reading the database: %s", db_errmsg(in->db));
    return VERIFY_ERROR;
}

static int s_prepare(const verify_input_t *in, const char *sql, db_stmt_t **stmt)
{
    *stmt = db_prepare(in->db, sql, false);
    return *stmt ? 0 : -1;
}

static int64_t s_count(const verify_input_t *in, const char *table)
{
    char sql[128];
    db_stmt_t *stmt = NULL;
    int64_t total = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    if (s_prepare(in, sql, &stmt) == 0 && db_step(stmt) == DB_ROW)
        total = db_column_int64(stmt, 0);
    db_finalize(&stmt);
    return total;
}

static bool s_blob_is(db_stmt_t *stmt, int col, const uint8_t *bytes, size_t len)
{
    return db_column_bytes(stmt, col) == len
        && memcmp(db_column_blob(stmt, col), bytes, len) == 0;
}

static const char *s_text(db_stmt_t *stmt, int col)
{
    const char *text = db_column_text(stmt, col);
    return text ? text : "";
}

/*  The node key that signed a checkpoint or batch: the current one or,
    after a rotation, one of node.previous_public_keys.                  */
static const sp_key_t *s_node_key(const verify_input_t *in, const char *key_id,
                                  verify_counts_t *counts)
{
    const sp_key_t *key = config_key_by_id(in->node_key,
                                           in->config ? &in->config->previous_keys : NULL,
                                           key_id);
    if (key && key != in->node_key)
        counts->by_previous_key++;
    return key;
}

/*  Runs fn on every row of sql, reporting progress of phase over table.  */
static int s_each(const verify_input_t *in, const char *phase, const char *table,
                  const char *sql, verify_row_fn *fn, void *ctx, char *why, size_t whylen)
{
    db_stmt_t *stmt = NULL;
    int64_t total = in->progress ? s_count(in, table) : 0, done = 0;
    int rc = VERIFY_OK;
    db_step_t step = DB_DONE;
    if (s_prepare(in, sql, &stmt) != 0)
        return verify_sql_error(in, why, whylen);
    while (rc == VERIFY_OK && (step = db_step(stmt)) == DB_ROW) {
        rc = fn(ctx, stmt, why, whylen);
        if (in->progress && ++done % VERIFY_PROGRESS_EVERY == 0)
            in->progress(phase, done, total, in->progress_arg);
    }
    if (rc == VERIFY_OK && step != DB_DONE)
        rc = verify_sql_error(in, why, whylen);
    if (in->progress)
        in->progress(phase, done, total, in->progress_arg);
    db_finalize(&stmt);
    return rc;
}

/*  ---- 1. the audit chain ------------------------------------------------ */

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    db_stmt_t *at;              /* one row by seq */
    int64_t expected;
    uint8_t prev[SP_SHA256_SIZE];
} chain_t;

/*  The hash the row under stmt has when it is event seq after prev.     */
static void s_row_hash(db_stmt_t *stmt, const uint8_t *prev, int64_t seq,
                       uint8_t out[SP_SHA256_SIZE])
{
    audit_row_hash(prev, seq, db_column_int64(stmt, A_TS),
                   db_column_text(stmt, A_KIND),
                   db_column_text(stmt, A_TRACE),
                   db_column_int64(stmt, A_SIGNAL),
                   db_column_text(stmt, A_SUBSCRIBER),
                   db_column_text(stmt, A_DETAIL), out);
}

/*  True when the row under stmt was written as event seq: its stored hash
    covers its own content at seq after its own stored prev_hash.        */
static bool s_row_is(db_stmt_t *stmt, int64_t seq)
{
    uint8_t hash[SP_SHA256_SIZE];
    if (db_column_bytes(stmt, A_PREV) != SP_SHA256_SIZE)
        return false;
    s_row_hash(stmt, db_column_blob(stmt, A_PREV), seq, hash);
    return s_blob_is(stmt, A_HASH, hash, sizeof hash);
}

/*  Which event the row under stmt was written as, 0 if none nearby: rows
    carry their original seq only inside their hash.                     */
static int64_t s_origin(db_stmt_t *stmt, int64_t n)
{
    if (s_row_is(stmt, n))
        return n;
    for (int64_t d = 1; d <= VERIFY_SEARCH; d++) {
        if (s_row_is(stmt, n + d))
            return n + d;
        if (n - d >= 1 && s_row_is(stmt, n - d))
            return n - d;
    }
    return 0;
}

static bool s_load_at(chain_t *c, int64_t seq)
{
    db_reset(c->at);
    db_bind_int64(c->at, 1, seq);
    return db_step(c->at) == DB_ROW;
}

static int s_diagnose(chain_t *c, db_stmt_t *stmt, int64_t n, char *why, size_t whylen)
{
    int64_t m = s_origin(stmt, n);
    if (m == n && n == 1)
        return verify_broken(why, whylen, "audit event 1: does not start from the zero hash "
                        "(events before it removed?)");
    if (m == n)
        return verify_broken(why, whylen, "audit event %" PRId64 ": does not link to event %"
                        PRId64 " (event %" PRId64 " rewritten with a recomputed hash?)",
                        n, n - 1, n - 1);
    if (m > 0 && s_load_at(c, m) && s_row_is(c->at, n))
        return verify_broken(why, whylen, "audit events %" PRId64 " and %" PRId64 " swapped",
                        n < m ? n : m, n < m ? m : n);
    if (m > 0)
        return verify_broken(why, whylen, "audit event %" PRId64 ": holds the event written as %"
                        PRId64 " (rows moved, or events deleted and the rest renumbered)",
                        n, m);
    return verify_broken(why, whylen, "audit event %" PRId64 ": hash mismatch (row edited?)", n);
}

static int s_gap(int64_t expected, int64_t seq, char *why, size_t whylen)
{
    if (seq < expected)
        return verify_broken(why, whylen, "audit event %" PRId64 ": seq below 1 (row inserted?)",
                        seq);
    if (expected == 1 && seq == 2)
        return verify_broken(why, whylen, "audit event 1 missing: the chain starts at 2");
    if (expected == 1)
        return verify_broken(why, whylen, "audit events 1..%" PRId64 " missing: the chain starts "
                        "at %" PRId64, seq - 1, seq);
    if (seq == expected + 1)
        return verify_broken(why, whylen, "audit event %" PRId64 " missing: seq jumps %" PRId64
                        " → %" PRId64, expected, expected - 1, seq);
    return verify_broken(why, whylen, "audit events %" PRId64 "..%" PRId64 " missing: seq jumps %"
                    PRId64 " → %" PRId64, expected, seq - 1, expected - 1, seq);
}

static int s_chain_row(void *ctx, db_stmt_t *stmt, char *why, size_t whylen)
{
    chain_t *c = ctx;
    uint8_t hash[SP_SHA256_SIZE];
    int64_t seq = db_column_int64(stmt, A_SEQ);
    if (seq != c->expected)
        return s_gap(c->expected, seq, why, whylen);
    if (db_column_bytes(stmt, A_PREV) != SP_SHA256_SIZE
        || db_column_bytes(stmt, A_HASH) != SP_SHA256_SIZE)
        return verify_broken(why, whylen, "audit event %" PRId64 ": hash columns are not %d "
                        "bytes (row edited?)", seq, SP_SHA256_SIZE);
    s_row_hash(stmt, c->prev, seq, hash);
    if (!s_blob_is(stmt, A_PREV, c->prev, SP_SHA256_SIZE)
        || !s_blob_is(stmt, A_HASH, hash, SP_SHA256_SIZE))
        return s_diagnose(c, stmt, seq, why, whylen);
    memcpy(c->prev, hash, sizeof hash);
    c->expected++;
    c->counts->events++;
    c->counts->last_seq = seq;
    return VERIFY_OK;
}

int verify_chain(const verify_input_t *in, verify_counts_t *counts, char *why, size_t whylen)
{
    chain_t c = { .in = in, .counts = counts, .expected = 1 };
    counts->events = counts->last_seq = 0;
    if (s_prepare(in, "SELECT " AUDIT_COLUMNS " FROM audit WHERE seq = ?", &c.at) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = s_each(in, "audit chain", "audit", "SELECT " AUDIT_COLUMNS
                    " FROM audit ORDER BY seq", s_chain_row, &c, why, whylen);
    db_finalize(&c.at);
    return rc;
}

/*  ---- 2. checkpoints ---------------------------------------------------- */

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    db_stmt_t *hash_at;
    int64_t prev_seq;
} checkpoints_t;

static bool s_chain_hash_is(checkpoints_t *c, int64_t seq, const uint8_t *hash)
{
    db_reset(c->hash_at);
    db_bind_int64(c->hash_at, 1, seq);
    return db_step(c->hash_at) == DB_ROW
        && s_blob_is(c->hash_at, 0, hash, SP_SHA256_SIZE);
}

static int s_checkpoint_row(void *ctx, db_stmt_t *stmt, char *why, size_t whylen)
{
    checkpoints_t *c = ctx;
    char bytes[160];
    int64_t id = db_column_int64(stmt, 0), ts = db_column_int64(stmt, 1);
    int64_t seq = db_column_int64(stmt, 2);
    const char *key_id = s_text(stmt, 4);
    if (db_column_bytes(stmt, 3) != SP_SHA256_SIZE
        || db_column_bytes(stmt, 5) != SP_SIGNATURE_SIZE)
        return verify_broken(why, whylen, "checkpoint %" PRId64 ": hash or signature of the "
                        "wrong size (row edited?)", id);
    const uint8_t *hash = db_column_blob(stmt, 3);
    const sp_key_t *key = s_node_key(c->in, key_id, c->counts);
    if (!key)
        return verify_broken(why, whylen, "checkpoint %" PRId64 ": signed by key %.32s, neither "
                        "this node's key %s nor one of node.previous_public_keys", id, key_id,
                        sp_key_id(c->in->node_key));
    int len = audit_checkpoint_bytes(seq, hash, ts, bytes, sizeof bytes);
    if (len < 0 || sp_key_verify(key, SP_DOMAIN_CHECKPOINT, bytes, (size_t) len,
                                 db_column_blob(stmt, 5)) != 0)
        return verify_broken(why, whylen, "checkpoint %" PRId64 ": signature does not verify "
                        "(checkpoint edited?)", id);
    if (seq <= c->prev_seq)
        return verify_broken(why, whylen, "checkpoint %" PRId64 ": covers %" PRId64 ", not beyond "
                        "the previous checkpoint's %" PRId64 " (checkpoints reordered?)",
                        id, seq, c->prev_seq);
    if (seq > c->counts->last_seq)
        return verify_broken(why, whylen, "chain ends at %" PRId64 " but checkpoint %" PRId64
                        " covers %" PRId64 " (truncated)", c->counts->last_seq, id, seq);
    if (!s_chain_hash_is(c, seq, hash))
        return verify_broken(why, whylen, "checkpoint %" PRId64 ": chain hash differs from audit "
                        "event %" PRId64 " (events up to %" PRId64 " rewritten?)", id, seq, seq);
    c->prev_seq = seq;
    c->counts->checkpoints++;
    c->counts->checkpointed_seq = seq;
    return VERIFY_OK;
}

int verify_checkpoints(const verify_input_t *in, verify_counts_t *counts, char *why,
                       size_t whylen)
{
    checkpoints_t c = { .in = in, .counts = counts };
    counts->checkpoints = counts->checkpointed_seq = 0;
    if (s_prepare(in, "SELECT hash FROM audit WHERE seq = ?", &c.hash_at) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = s_each(in, "checkpoints", "checkpoints",
                    "SELECT id, ts, audit_seq, chain_hash, key_id, signature"
                    " FROM checkpoints ORDER BY id", s_checkpoint_row, &c, why, whylen);
    db_finalize(&c.hash_at);
    return rc;
}

/*  ---- 3. signals --------------------------------------------------------- */

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    db_stmt_t *received;        /* first audit event recording a signal's hash */
} signals_t;

enum { S_ID, S_SOURCE, S_CE_ID, S_EVENT, S_SHA, S_KEY_ID, S_SIG };

/*  The stored hash must be the one audited when the signal came in.     */
static int s_check_audited(signals_t *c, db_stmt_t *stmt, char *why, size_t whylen)
{
    char hex[2 * SP_SHA256_SIZE + 1];
    int64_t id = db_column_int64(stmt, S_ID);
    sp_hex(db_column_blob(stmt, S_SHA), SP_SHA256_SIZE, hex);
    db_reset(c->received);
    db_bind_int64(c->received, 1, id);
    if (db_step(c->received) != DB_ROW)
        return verify_broken(why, whylen, "signal %" PRId64 " (id %.100s): no signal.received "
                        "audit event records its hash (row inserted?)", id,
                        s_text(stmt, S_CE_ID));
    json_t *detail = json_loads(s_text(c->received, 1), 0, NULL);
    const char *audited = json_string_value(json_object_get(detail, "sha256"));
    bool same = audited && strcmp(audited, hex) == 0;
    json_decref(detail);
    if (!same)
        return verify_broken(why, whylen, "signal %" PRId64 " (id %.100s): stored SHA-256 differs "
                        "from the one audit event %" PRId64 " recorded (row edited?)", id,
                        s_text(stmt, S_CE_ID), db_column_int64(c->received, 0));
    return VERIFY_OK;
}

/*  Opens the sealed payload and checks its hash and, with a key, the
    emitter's signature.                                                 */
static int s_check_payload(signals_t *c, db_stmt_t *stmt, const sp_key_t *key,
                           char *why, size_t whylen)
{
    uint8_t digest[SP_SHA256_SIZE];
    int64_t id = db_column_int64(stmt, S_ID);
    const char *ce_id = s_text(stmt, S_CE_ID);
    size_t len = db_column_bytes(stmt, S_EVENT);
    uint8_t *plain = malloc(len ? len : 1);
    if (!plain)
        return verify_broken(why, whylen, "out of memory");
    long n = vault_open(c->in->vault, db_column_blob(stmt, S_EVENT), len,
                        s_text(stmt, S_SOURCE), ce_id, plain);
    int rc = VERIFY_OK;
    if (n >= 0)
        sp_sha256(plain, (size_t) n, digest);
    if (n == VAULT_NOMEM)
        rc = verify_broken(why, whylen, "out of memory");
    else if (n < 0)
        rc = verify_broken(why, whylen, "signal %" PRId64 " (id %.100s): sealed payload does not "
                      "open with this node's secret (edited?)", id, ce_id);
    else if (!s_blob_is(stmt, S_SHA, digest, sizeof digest))
        rc = verify_broken(why, whylen, "signal %" PRId64 " (id %.100s): payload does not match "
                      "its stored SHA-256", id, ce_id);
    else if (key && sp_key_verify(key, SP_DOMAIN_SIGNAL, plain, (size_t) n,
                                  db_column_blob(stmt, S_SIG)) != 0)
        rc = verify_broken(why, whylen, "signal %" PRId64 " (id %.100s): emitter signature by key "
                      "%s does not verify", id, ce_id, sp_key_id(key));
    sodium_memzero(plain, len);
    free(plain);
    return rc;
}

static int s_signal_row(void *ctx, db_stmt_t *stmt, char *why, size_t whylen)
{
    signals_t *c = ctx;
    int64_t id = db_column_int64(stmt, S_ID);
    const char *key_id = s_text(stmt, S_KEY_ID);
    if (db_column_bytes(stmt, S_SHA) != SP_SHA256_SIZE
        || db_column_bytes(stmt, S_SIG) != SP_SIGNATURE_SIZE)
        return verify_broken(why, whylen, "signal %" PRId64 ": hash or signature of the wrong "
                        "size (row edited?)", id);
    int rc = s_check_audited(c, stmt, why, whylen);
    if (rc != VERIFY_OK)
        return rc;
    if (db_column_is_null(stmt, S_EVENT)) {
        c->counts->purged++;
        return VERIFY_OK;
    }
    const sp_key_t *key = NULL;
    const emitter_t *emitter = config_emitter_by_any_key(c->in->config, key_id, &key);
    if (!emitter)
        rc = s_unchecked(c->in, c->counts, why, whylen, "signal %" PRId64 " (id %.100s): "
                         "emitter key %.32s is not configured (as public_key or one of "
                         "previous_public_keys)", id, s_text(stmt, S_CE_ID), key_id);
    if (rc == VERIFY_OK && !c->in->vault) {
        c->counts->sealed_skipped++;    /* no node secret: an auditor's run */
        return VERIFY_OK;
    }
    if (rc == VERIFY_OK)
        rc = s_check_payload(c, stmt, key, why, whylen);
    if (rc == VERIFY_OK && emitter) {
        c->counts->signals++;
        c->counts->by_previous_key += key != emitter->key;
    }
    return rc;
}

/*  The first event recording a signal's hash as a string (jsonb names
    that type 'string' where SQLite's json_type says 'text').           */
static const char *const s_received_sql[] = {
    [DB_SQLITE] = "SELECT seq, detail FROM audit WHERE signal_id = ? AND kind IN ('"
                  AUDIT_SIGNAL_RECEIVED "', '" AUDIT_SIGNAL_ACCEPTED "') AND"
                  " json_type(detail, '$.sha256') = 'text' ORDER BY seq LIMIT 1",
    [DB_POSTGRESQL] = "SELECT seq, detail FROM audit WHERE signal_id = ? AND kind IN ('"
                      AUDIT_SIGNAL_RECEIVED "', '" AUDIT_SIGNAL_ACCEPTED "') AND"
                      " jsonb_typeof(detail::jsonb -> 'sha256') = 'string'"
                      " ORDER BY seq LIMIT 1",
};

int verify_signals(const verify_input_t *in, verify_counts_t *counts, char *why,
                   size_t whylen)
{
    signals_t c = { .in = in, .counts = counts };
    counts->signals = counts->purged = counts->sealed_skipped = 0;
    if (!in->config) {
        snprintf(why, whylen, "signals need the configuration");
        return VERIFY_ERROR;
    }
    if (s_prepare(in, s_received_sql[db_engine(in->db)], &c.received) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = s_each(in, "signals", "signals",
                    "SELECT id, source, ce_id, event, event_sha256, key_id, signature"
                    " FROM signals ORDER BY id", s_signal_row, &c, why, whylen);
    db_finalize(&c.received);
    return rc;
}

/*  ---- 4. batches --------------------------------------------------------- */

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    db_stmt_t *signal;          /* by (source, ce_id) */
    db_stmt_t *hash_at;         /* audit hash by seq */
} batches_t;

/*  Each entry must carry the hash and signature of the stored signal.   */
static int s_check_entry(batches_t *c, int64_t batch, size_t i, json_t *entry,
                         char *why, size_t whylen)
{
    char sha[2 * SP_SHA256_SIZE + 1], sig[2 * SP_SIGNATURE_SIZE + 1];
    const char *source = json_string_value(json_object_get(entry, "source"));
    const char *ce_id = json_string_value(json_object_get(entry, "id"));
    const char *want_sha = json_string_value(json_object_get(entry, "sha256"));
    const char *want_sig = json_string_value(json_object_get(entry, "emitter_sig"));
    db_reset(c->signal);
    db_bind_text(c->signal, 1, source ? source : "", -1);
    db_bind_text(c->signal, 2, ce_id ? ce_id : "", -1);
    if (db_step(c->signal) != DB_ROW)
        return verify_broken(why, whylen, "batch %" PRId64 " entry %zu: signal (id %.100s) is "
                        "not in the store (signal row deleted?)", batch, i, ce_id ? ce_id : "?");
    int64_t signal_id = db_column_int64(c->signal, 0);
    if (db_column_bytes(c->signal, 1) == SP_SHA256_SIZE
        && db_column_bytes(c->signal, 2) == SP_SIGNATURE_SIZE) {
        sp_hex(db_column_blob(c->signal, 1), SP_SHA256_SIZE, sha);
        sp_hex(db_column_blob(c->signal, 2), SP_SIGNATURE_SIZE, sig);
        if (want_sha && want_sig && strcmp(sha, want_sha) == 0 && strcmp(sig, want_sig) == 0)
            return VERIFY_OK;
    }
    return verify_broken(why, whylen, "batch %" PRId64 " entry %zu: hash or emitter signature "
                    "differs from stored signal %" PRId64 " (signal row edited?)",
                    batch, i, signal_id);
}

static int s_check_header(batches_t *c, int64_t id, const char *subscriber,
                          json_t *header, char *why, size_t whylen)
{
    size_t i;
    json_t *entry;
    const char *named = json_string_value(json_object_get(header, "subscriber"));
    json_t *entries = json_object_get(header, "entries");
    if (!named || strcmp(named, subscriber) != 0 || !json_is_array(entries))
        return verify_broken(why, whylen, "batch %" PRId64 ": header does not name subscriber "
                        "%.128s or lists no entries (row edited?)", id, subscriber);
    json_array_foreach(entries, i, entry) {
        int rc = s_check_entry(c, id, i, entry, why, whylen);
        if (rc != VERIFY_OK)
            return rc;
    }
    return VERIFY_OK;
}

/*  The chain head the header carries (protocol.md 13.3) must be in the
    chain; headers from before anchors carry none. The header's sent_at is
    the stored one: both are written from one clock reading since then.  */
static int s_check_anchor(batches_t *c, int64_t id, int64_t sent_at, json_t *header,
                          char *why, size_t whylen)
{
    char stored[40];
    uint8_t hash[SP_SHA256_SIZE];
    json_t *anchor = json_object_get(header, "anchor");
    if (!anchor)
        return VERIFY_OK;
    json_int_t seq = json_integer_value(json_object_get(anchor, "seq"));
    const char *hex = json_string_value(json_object_get(anchor, "sha256"));
    if (seq < 1 || !hex || sp_unhex(hex, hash, sizeof hash) != 0)
        return verify_broken(why, whylen, "batch %" PRId64 ": its signed header carries no "
                        "valid anchor", id);
    if (seq > c->counts->last_seq)
        return verify_broken(why, whylen, "batch %" PRId64 ": its signed header anchors audit "
                        "event %" PRId64 ", but the chain ends at %" PRId64 " (tail cut off?)",
                        id, (int64_t) seq, c->counts->last_seq);
    db_reset(c->hash_at);
    db_bind_int64(c->hash_at, 1, seq);
    if (db_step(c->hash_at) != DB_ROW
        || !s_blob_is(c->hash_at, 0, hash, sizeof hash))
        return verify_broken(why, whylen, "batch %" PRId64 ": its signed header anchors audit "
                        "event %" PRId64 " with a hash the chain does not have there (chain "
                        "rewritten?)", id, (int64_t) seq);
    sp_time_format(sent_at, stored, sizeof stored);
    const char *signed_at = json_string_value(json_object_get(header, "sent_at"));
    if (!signed_at || strcmp(signed_at, stored) != 0)
        return verify_broken(why, whylen, "batch %" PRId64 ": sent_at differs from its signed "
                        "header (row edited?)", id);
    c->counts->anchored++;
    return VERIFY_OK;
}

static int s_batch_row(void *ctx, db_stmt_t *stmt, char *why, size_t whylen)
{
    batches_t *c = ctx;
    int64_t id = db_column_int64(stmt, 0);
    const char *key_id = s_text(stmt, 4);
    size_t len = db_column_bytes(stmt, 2);
    const void *header = db_column_blob(stmt, 2);
    if (db_column_bytes(stmt, 3) != SP_SIGNATURE_SIZE)
        return verify_broken(why, whylen, "batch %" PRId64 ": signature is not %d bytes",
                        id, SP_SIGNATURE_SIZE);
    const sp_key_t *key = s_node_key(c->in, key_id, c->counts);
    if (!key)
        return verify_broken(why, whylen, "batch %" PRId64 ": signed by key %.32s, neither this "
                        "node's key %s nor one of node.previous_public_keys", id, key_id,
                        sp_key_id(c->in->node_key));
    json_t *parsed = json_loadb(header, len, 0, NULL);
    /* SEINPOST2 signs the header's SHA-256, SEINPOST1 (v 1) the header */
    bool v1 = json_integer_value(json_object_get(parsed, "v")) == 1;
    const uint8_t *sig = db_column_blob(stmt, 3);
    if (v1 ? sp_key_verify(key, SP_DOMAIN_BATCH_V1, header, len, sig) != 0
           : sp_batch_verify(key, header, len, sig) != 0) {
        json_decref(parsed);
        return verify_broken(why, whylen, "batch %" PRId64 ": router signature does not verify "
                        "(header edited?)", id);
    }
    int rc = s_check_header(c, id, s_text(stmt, 1), parsed, why, whylen);
    if (rc == VERIFY_OK)
        rc = s_check_anchor(c, id, db_column_int64(stmt, 5), parsed, why, whylen);
    json_decref(parsed);
    if (rc == VERIFY_OK)
        c->counts->batches++;
    return rc;
}

int verify_batches(const verify_input_t *in, verify_counts_t *counts, char *why,
                   size_t whylen)
{
    batches_t c = { .in = in, .counts = counts };
    counts->batches = 0;
    if (s_prepare(in, "SELECT id, event_sha256, signature FROM signals"
                      " WHERE source = ? AND ce_id = ?", &c.signal) != 0
        || s_prepare(in, "SELECT hash FROM audit WHERE seq = ?", &c.hash_at) != 0) {
        db_finalize(&c.signal);
        return verify_sql_error(in, why, whylen);
    }
    int rc = s_each(in, "batches", "batches",
                    "SELECT id, subscriber, header, signature, key_id, sent_at"
                    " FROM batches ORDER BY id", s_batch_row, &c, why, whylen);
    db_finalize(&c.signal);
    db_finalize(&c.hash_at);
    return rc;
}

/*  ---- 5. receipts -------------------------------------------------------- */

typedef struct {
    const verify_input_t *in;
    verify_counts_t *counts;
    db_stmt_t *batch;           /* header by id */
} receipts_t;

/*  A SEINPOST2 receipt countersigns its batch's header by SHA-256, and
    with it the chain head the header anchors (13.3): the stored batch it
    answers must still hash to what the partner signed. Rewriting the
    chain then needs either the partner's key or every header and
    receipt gone.                                                        */
static int s_check_countersigned(receipts_t *c, db_stmt_t *stmt, json_t *body,
                                 char *why, size_t whylen)
{
    uint8_t signed_sha[SP_SHA256_SIZE], stored_sha[SP_SHA256_SIZE];
    int64_t id = db_column_int64(stmt, 0), batch = db_column_int64(stmt, 5);
    const char *hex = json_string_value(json_object_get(body, "batch_sha256"));
    if (db_column_is_null(stmt, 5) || !hex)
        return VERIFY_OK;           /* stored before receipts named their batch */
    if (sp_unhex(hex, signed_sha, sizeof signed_sha) != 0)
        return verify_broken(why, whylen, "receipt %" PRId64 ": batch_sha256 is not 64 hex "
                        "digits", id);
    db_reset(c->batch);
    db_bind_int64(c->batch, 1, batch);
    if (db_step(c->batch) != DB_ROW)
        return verify_broken(why, whylen, "receipt %" PRId64 ": answers batch %" PRId64 ", which "
                        "is not stored (deleted?)", id, batch);
    if (strcmp(s_text(c->batch, 1), s_text(stmt, 1)) != 0)
        return verify_broken(why, whylen, "receipt %" PRId64 ": answers batch %" PRId64 " of "
                        "another subscriber (row edited?)", id, batch);
    sp_sha256(db_column_blob(c->batch, 0), db_column_bytes(c->batch, 0), stored_sha);
    if (memcmp(signed_sha, stored_sha, sizeof stored_sha) != 0)
        return verify_broken(why, whylen, "receipt %" PRId64 ": the partner countersigned a "
                        "header of batch %" PRId64 " that differs from the stored one (batch "
                        "header and chain rewritten?)", id, batch);
    json_t *header = json_loadb(db_column_blob(c->batch, 0),
                                db_column_bytes(c->batch, 0), 0, NULL);
    json_int_t seq = json_integer_value(json_object_get(json_object_get(header, "anchor"),
                                                        "seq"));
    json_decref(header);
    if (seq > 0) {
        c->counts->countersigned++;
        if (seq > c->counts->countersigned_seq)
            c->counts->countersigned_seq = seq;
    }
    return VERIFY_OK;
}

static int s_receipt_row(void *ctx, db_stmt_t *stmt, char *why, size_t whylen)
{
    receipts_t *c = ctx;
    int64_t id = db_column_int64(stmt, 0);
    const char *name = s_text(stmt, 1), *key_id = s_text(stmt, 4);
    size_t len = db_column_bytes(stmt, 2);
    const subscriber_t *sub = config_subscriber(c->in->config, name);
    const sp_key_t *key = sub ? config_key_by_id(sub->key, &sub->previous_keys, key_id) : NULL;
    if (!key)
        return s_unchecked(c->in, c->counts, why, whylen, "receipt %" PRId64 ": key %.32s of "
                           "subscriber %.64s is not configured (as public_key or one of "
                           "previous_public_keys)", id, key_id, name);
    json_t *body = json_loadb(db_column_blob(stmt, 2), len, 0, NULL);
    const char *domain = json_integer_value(json_object_get(body, "v")) == 1
                         ? SP_DOMAIN_RECEIPT_V1 : SP_DOMAIN_RECEIPT;
    if (db_column_bytes(stmt, 3) != SP_SIGNATURE_SIZE
        || sp_key_verify(key, domain, db_column_blob(stmt, 2), len,
                         db_column_blob(stmt, 3)) != 0) {
        json_decref(body);
        return verify_broken(why, whylen, "receipt %" PRId64 ": signature by %s's key %s does not "
                        "verify (receipt edited?)", id, name, key_id);
    }
    const char *named = json_string_value(json_object_get(body, "subscriber"));
    bool same = named && strcmp(named, name) == 0;
    int rc = same ? s_check_countersigned(c, stmt, body, why, whylen) : VERIFY_OK;
    json_decref(body);
    if (!same)
        return verify_broken(why, whylen, "receipt %" PRId64 ": signed body does not name "
                        "subscriber %s (row edited?)", id, name);
    if (rc != VERIFY_OK)
        return rc;
    c->counts->receipts++;
    c->counts->by_previous_key += key != sub->key;
    return VERIFY_OK;
}

int verify_receipts(const verify_input_t *in, verify_counts_t *counts, char *why,
                    size_t whylen)
{
    receipts_t c = { .in = in, .counts = counts };
    counts->receipts = 0;
    if (!in->config) {
        snprintf(why, whylen, "receipts need the configuration");
        return VERIFY_ERROR;
    }
    if (s_prepare(in, "SELECT header, subscriber FROM batches WHERE id = ?", &c.batch) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = s_each(in, "receipts", "receipts",
                    "SELECT id, subscriber, body, signature, key_id, batch_id"
                    " FROM receipts ORDER BY id", s_receipt_row, &c, why, whylen);
    db_finalize(&c.batch);
    return rc;
}

/*  ---- 7. anchors -------------------------------------------------------- */

int verify_anchors(const verify_input_t *in, verify_counts_t *counts, char *why,
                   size_t whylen)
{
    db_stmt_t *stmt = NULL;
    int rc = VERIFY_OK;
    counts->anchors = 0;
    if (s_prepare(in, "SELECT hash FROM audit WHERE seq = ?", &stmt) != 0)
        return verify_sql_error(in, why, whylen);
    for (size_t i = 0; rc == VERIFY_OK && i < in->anchor_count; i++) {
        const verify_anchor_t *anchor = &in->anchors[i];
        db_reset(stmt);
        db_bind_int64(stmt, 1, anchor->seq);
        db_step_t step = db_step(stmt);
        if (anchor->seq > counts->last_seq || step == DB_DONE)
            rc = verify_broken(why, whylen, "chain ends at %" PRId64 " but the expected "
                          "checkpoint covers %" PRId64 " (truncated, with the checkpoints "
                          "that covered the tail?)", counts->last_seq, anchor->seq);
        else if (step != DB_ROW)
            rc = verify_sql_error(in, why, whylen);
        else if (!s_blob_is(stmt, 0, anchor->hash, SP_SHA256_SIZE))
            rc = verify_broken(why, whylen, "audit event %" PRId64 ": chain hash differs from "
                          "the expected checkpoint (chain rewritten, or another node's "
                          "database?)", anchor->seq);
        else
            counts->anchors++;
    }
    db_finalize(&stmt);
    return rc;
}

/*  ---- all ---------------------------------------------------------------- */

int verify_all(const verify_input_t *in, verify_counts_t *counts, char *why, size_t whylen)
{
    /* SQLite: a plain (deferred) BEGIN, not db_begin(): a read
       transaction, which a read-only connection may open and which takes
       no write lock from the running daemon. PostgreSQL: its default READ
       COMMITTED takes a new snapshot per statement; REPEATABLE READ keeps
       the first one for the whole run.                                 */
    static const char *const begin[] = {
        [DB_SQLITE] = "BEGIN",
        [DB_POSTGRESQL] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    memset(counts, 0, sizeof *counts);
    if (db_exec(in->db, begin[db_engine(in->db)]) != 0)
        return verify_sql_error(in, why, whylen);
    int rc = verify_chain(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_checkpoints(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_coverage(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_signals(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_batches(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_receipts(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_named(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_relays(in, counts, why, whylen);
    if (rc == VERIFY_OK)
        rc = verify_anchors(in, counts, why, whylen);
    db_commit(in->db);
    return rc;
}
