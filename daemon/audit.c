/*  audit.c - hash-chained audit rows and signed checkpoints.              */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "sp_chain.h"
#include "sp_event.h"
#include "sp_util.h"

struct audit {
    store_t *store;
    const sp_key_t *key;
    db_stmt_t *insert;
    db_stmt_t *checkpoint;
    int64_t last_seq;
    uint8_t last_hash[SP_SHA256_SIZE];
    int64_t checkpointed_seq;
    /* the checkpoint written in the open transaction, logged once it is
       committed: a logged anchor must never name a rolled-back head    */
    bool unlogged;
    int64_t unlogged_seq;
    uint8_t unlogged_hash[SP_SHA256_SIZE];
    /* the head as of the last commit, and as of the last fsync: only a
       head on disk may be handed out as an anchor, since a head lost to
       a crash would be written again with other rows at the same seq   */
    int64_t committed_seq, durable_seq;
    uint8_t committed_hash[SP_SHA256_SIZE], durable_hash[SP_SHA256_SIZE];
};

void audit_row_hash(const uint8_t prev[SP_SHA256_SIZE], int64_t seq, int64_t ts,
                    const char *kind, const char *trace_id, int64_t signal_id,
                    const char *subscriber, const char *detail,
                    uint8_t out[SP_SHA256_SIZE])
{
    sp_chain_row_hash(prev, seq, ts, kind, trace_id, signal_id, subscriber, detail, out);
}

int audit_checkpoint_bytes(int64_t audit_seq, const uint8_t hash[SP_SHA256_SIZE],
                           int64_t ts, char *buf, size_t len)
{
    char hex[2 * SP_SHA256_SIZE + 1];
    sp_hex(hash, SP_SHA256_SIZE, hex);
    int n = snprintf(buf, len, "%" PRId64 "\n%s\n%" PRId64, audit_seq, hex, ts);
    return n > 0 && (size_t) n < len ? n : -1;
}

int audit_resync(audit_t *self)
{
    db_stmt_t *stmt = db_prepare(store_conn(self->store),
                                 "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", false);
    int rc = -1;
    self->last_seq = 0;
    self->unlogged = false;
    memset(self->last_hash, 0, sizeof self->last_hash);
    if (!stmt)
        return -1;
    db_step_t step = db_step(stmt);
    if (step == DB_ROW) {
        self->last_seq = db_column_int64(stmt, 0);
        if (db_column_bytes(stmt, 1) == SP_SHA256_SIZE)
            memcpy(self->last_hash, db_column_blob(stmt, 1), SP_SHA256_SIZE);
        rc = 0;
    } else if (step == DB_DONE)
        rc = 0;
    db_finalize(&stmt);
    return rc;
}

static int s_load_checkpointed(audit_t *self)
{
    db_stmt_t *stmt = db_prepare(store_conn(self->store),
                                 "SELECT COALESCE(MAX(audit_seq), 0) FROM checkpoints", false);
    if (!stmt)
        return -1;
    if (db_step(stmt) == DB_ROW)
        self->checkpointed_seq = db_column_int64(stmt, 0);
    db_finalize(&stmt);
    return 0;
}

audit_t *audit_new(store_t *store, const sp_key_t *key, char *err, size_t errlen)
{
    audit_t *self = calloc(1, sizeof *self);
    db_t *db = store_conn(store);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->store = store;
    self->key = key;
    if (!(self->insert = db_prepare(db,
            "INSERT INTO audit(seq, ts, kind, trace_id, signal_id, subscriber,"
            " detail, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?)", true))
        || !(self->checkpoint = db_prepare(db,
            "INSERT INTO checkpoints(ts, audit_seq, chain_hash, key_id, signature)"
            " VALUES(?,?,?,?,?)", true))
        || audit_resync(self) != 0 || s_load_checkpointed(self) != 0) {
        snprintf(err, errlen, "audit: %s", db_errmsg(db));
        audit_destroy(&self);
        return NULL;
    }
    self->committed_seq = self->durable_seq = self->last_seq;
    memcpy(self->committed_hash, self->last_hash, SP_SHA256_SIZE);
    memcpy(self->durable_hash, self->last_hash, SP_SHA256_SIZE);
    return self;
}

void audit_destroy(audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_finalize(&(*self_p)->insert);
    db_finalize(&(*self_p)->checkpoint);
    free(*self_p);
    *self_p = NULL;
}

int64_t audit_last_seq(const audit_t *self) { return self->last_seq; }
void audit_set_key(audit_t *self, const sp_key_t *key) { self->key = key; }

int audit_key_rotated(audit_t *self, char *from, size_t fromlen)
{
    db_stmt_t *stmt = db_prepare(store_conn(self->store), "SELECT key_id FROM checkpoints"
                                 " ORDER BY id DESC LIMIT 1", false);
    int rc = -1;
    if (!stmt)
        return -1;
    db_step_t step = db_step(stmt);
    if (step == DB_DONE)
        rc = 0;
    else if (step == DB_ROW) {
        const char *last = db_column_text(stmt, 0);
        rc = last && strcmp(last, sp_key_id(self->key)) != 0;
        if (rc == 1)
            snprintf(from, fromlen, "%s", last);
    }
    db_finalize(&stmt);
    return rc;
}

static void s_bind_opt_text(db_stmt_t *stmt, int index, const char *text)
{
    if (text && *text)
        db_bind_text(stmt, index, text, -1);
    else
        db_bind_null(stmt, index);
}

int audit_append(audit_t *self, const char *kind, const char *trace_id,
                 int64_t signal_id, const char *subscriber, json_t *detail)
{
    /* the stored text is what the hash covers, so its key order need not
       be canonical: insertion order saves a sort per event             */
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_ENSURE_ASCII)
                        : strdup("{}");
    json_decref(detail);
    if (!text)
        return -1;
    int rc = audit_append_text(self, kind, trace_id, signal_id, subscriber, text);
    free(text);
    return rc;
}

int audit_append_text(audit_t *self, const char *kind, const char *trace_id,
                      int64_t signal_id, const char *subscriber, const char *detail)
{
    uint8_t hash[SP_SHA256_SIZE];
    int64_t seq = self->last_seq + 1, ts = sp_time_now_ms();
    audit_row_hash(self->last_hash, seq, ts, kind, trace_id, signal_id, subscriber,
                   detail, hash);
    db_stmt_t *stmt = self->insert;
    db_bind_int64(stmt, 1, seq);
    db_bind_int64(stmt, 2, ts);
    db_bind_text(stmt, 3, kind, -1);
    s_bind_opt_text(stmt, 4, trace_id);
    if (signal_id > 0)
        db_bind_int64(stmt, 5, signal_id);
    else
        db_bind_null(stmt, 5);
    s_bind_opt_text(stmt, 6, subscriber);
    db_bind_text(stmt, 7, detail, -1);
    db_bind_blob(stmt, 8, self->last_hash, SP_SHA256_SIZE);
    db_bind_blob(stmt, 9, hash, SP_SHA256_SIZE);
    db_step_t step = db_step(stmt);
    db_reset(stmt);
    db_clear_bindings(stmt);
    if (step != DB_DONE)
        return -1;
    self->last_seq = seq;
    memcpy(self->last_hash, hash, SP_SHA256_SIZE);
    return 0;
}

int audit_checkpoint(audit_t *self)
{
    char bytes[160];
    uint8_t sig[SP_SIGNATURE_SIZE];
    int64_t ts = sp_time_now_ms();
    if (self->last_seq == self->checkpointed_seq)
        return 0;
    int len = audit_checkpoint_bytes(self->last_seq, self->last_hash, ts,
                                     bytes, sizeof bytes);
    if (len < 0 || sp_key_sign(self->key, SP_DOMAIN_CHECKPOINT, bytes,
                               (size_t) len, sig) != 0)
        return -1;
    db_stmt_t *stmt = self->checkpoint;
    db_bind_int64(stmt, 1, ts);
    db_bind_int64(stmt, 2, self->last_seq);
    db_bind_blob(stmt, 3, self->last_hash, SP_SHA256_SIZE);
    db_bind_text(stmt, 4, sp_key_id(self->key), -1);
    db_bind_blob(stmt, 5, sig, SP_SIGNATURE_SIZE);
    db_step_t step = db_step(stmt);
    db_reset(stmt);
    db_clear_bindings(stmt);
    if (step != DB_DONE)
        return -1;
    self->checkpointed_seq = self->last_seq;
    self->unlogged = true;
    self->unlogged_seq = self->last_seq;
    memcpy(self->unlogged_hash, self->last_hash, SP_SHA256_SIZE);
    return 0;
}

void audit_committed(audit_t *self)
{
    char hex[2 * SP_SHA256_SIZE + 1];
    self->committed_seq = self->last_seq;
    memcpy(self->committed_hash, self->last_hash, SP_SHA256_SIZE);
    if (!self->unlogged)
        return;
    self->unlogged = false;
    sp_hex(self->unlogged_hash, SP_SHA256_SIZE, hex);
    sp_log(SP_LOG_NOTICE, "audit checkpoint %" PRId64 ":%s (an anchor for seinpost audit "
           "verify --expect-checkpoint)", self->unlogged_seq, hex);
}

void audit_synced(audit_t *self)
{
    self->durable_seq = self->committed_seq;
    memcpy(self->durable_hash, self->committed_hash, SP_SHA256_SIZE);
}

int64_t audit_anchor(const audit_t *self, uint8_t hash[SP_SHA256_SIZE])
{
    memcpy(hash, self->durable_hash, SP_SHA256_SIZE);
    return self->durable_seq;
}
