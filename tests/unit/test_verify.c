/*  test_verify.c - offline verification: the audit chain and checkpoints
    against edits, deletions, swaps, renumbering and truncation, stored
    signals against edited or purged payloads, the rows the chain names
    against deletion and edits, and expected checkpoints (anchors). Each test builds a fresh
    in-memory database with the daemon's own store and audit code.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "sp_event.h"
#include "test.h"
#include "vault.h"
#include "verify.h"

#define EVENTS 20
#define CHECKPOINT_EVERY 5

typedef struct {
    store_t *store;
    audit_t *audit;
    sp_key_t *key;
    verify_input_t in;
    verify_counts_t counts;
    char why[512];
} fixture_t;

/*  EVENTS audit rows, a checkpoint after every CHECKPOINT_EVERY.        */
static int s_setup(fixture_t *f)
{
    char err[256];
    memset(f, 0, sizeof *f);
    f->key = sp_key_generate();
    f->store = f->key ? store_open(":memory:", false, err, sizeof err) : NULL;
    f->audit = f->store ? audit_new(f->store, f->key, err, sizeof err) : NULL;
    if (!f->audit || store_begin(f->store) != 0)
        return -1;
    for (int i = 1; i <= EVENTS; i++) {
        if (audit_append(f->audit, AUDIT_ROUTED, "0123456789abcdef0123456789abcdef", 0,
                         "toeslagen", json_pack("{s:i, s:s}", "n", i, "pad", "xxxx")) != 0)
            return -1;
        if (i % CHECKPOINT_EVERY == 0 && audit_checkpoint(f->audit) != 0)
            return -1;
    }
    f->in.db = store_conn(f->store);
    f->in.node_key = f->key;
    return store_commit(f->store);
}

static void s_teardown(fixture_t *f)
{
    audit_destroy(&f->audit);
    store_destroy(&f->store);
    sp_key_destroy(&f->key);
}

static int s_sql(fixture_t *f, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(store_db(f->store), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  sql: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : -1;
}

/*  Chain then checkpoints, as verify_all() runs them.                   */
static int s_verify(fixture_t *f)
{
    f->why[0] = '\0';
    int rc = verify_chain(&f->in, &f->counts, f->why, sizeof f->why);
    if (rc == VERIFY_OK)
        rc = verify_checkpoints(&f->in, &f->counts, f->why, sizeof f->why);
    return rc;
}

/*  Sets up, applies sql, verifies, and expects a failure naming want.    */
static void s_expect_broken(const char *sql, const char *want)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(s_sql(&f, sql) == 0);
    CHECK(s_verify(&f) == VERIFY_BROKEN);
    if (!strstr(f.why, want)) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", f.why, want);
        CHECK(strstr(f.why, want) != NULL);
    }
    s_teardown(&f);
}

/*  Coverage (verify_cover.c) over the fixture's times, edited directly:
    it reads only seq, ts and kind. No configuration: a 60 s interval,
    so a checkpoint is due 190 s after the first row it must cover.     */
static int s_coverage(fixture_t *f, const char *sql)
{
    f->why[0] = '\0';
    if (sql && s_sql(f, sql) != 0)
        return -2;
    return verify_coverage(&f->in, &f->counts, f->why, sizeof f->why);
}

TEST(coverage)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(s_coverage(&f, NULL) == VERIFY_OK);
    /* the rows after the last checkpoint are young: not yet due */
    CHECK(s_coverage(&f, "DELETE FROM checkpoints WHERE audit_seq = 20") == VERIFY_OK);
    /* the daemon wrote a row 200 s later and never checkpointed 16.. */
    CHECK(s_coverage(&f, "UPDATE audit SET ts = ts + 200000 WHERE seq = 20") == VERIFY_BROKEN);
    CHECK(strstr(f.why, "audit events from 16 on are covered by no checkpoint") != NULL);
    f.in.lenient = true;
    CHECK(s_coverage(&f, NULL) == VERIFY_OK);
    CHECK(f.counts.uncovered == 1);
    CHECK(strstr(f.counts.first_uncovered, "from 16 on") != NULL);
    s_teardown(&f);
}

TEST(coverage_late_checkpoint_and_restart)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(s_coverage(&f, "UPDATE checkpoints SET ts = ts + 200000 WHERE audit_seq >= 10")
          == VERIFY_BROKEN);
    CHECK(strstr(f.why, "audit events from 6 on: the checkpoint covering them came") != NULL);
    /* a restart in between: the new run checkpoints at once, and that is
       when it was due (the old run may have died before its interval) */
    CHECK(s_coverage(&f, "UPDATE audit SET ts = ts + 200000, kind = 'daemon.start'"
                         " WHERE seq = 8; UPDATE audit SET ts = ts + 200000 WHERE seq > 8")
          == VERIFY_OK);
    s_teardown(&f);
}

TEST(untouched_verifies)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(s_verify(&f) == VERIFY_OK);
    CHECK(f.counts.events == EVENTS);
    CHECK(f.counts.last_seq == EVENTS);
    CHECK(f.counts.checkpoints == EVENTS / CHECKPOINT_EVERY);
    CHECK(f.counts.checkpointed_seq == EVENTS);
    s_teardown(&f);
}

TEST(empty_verifies)
{
    fixture_t f;
    char err[256];
    memset(&f, 0, sizeof f);
    f.key = sp_key_generate();
    f.store = store_open(":memory:", false, err, sizeof err);
    f.in.db = store_conn(f.store);
    f.in.node_key = f.key;
    CHECK(s_verify(&f) == VERIFY_OK);
    CHECK(f.counts.events == 0);
    s_teardown(&f);
}

TEST(edited_detail)
{
    s_expect_broken("UPDATE audit SET detail = replace(detail, 'xxxx', 'xxxy') WHERE seq = 7",
                    "audit event 7: hash mismatch (row edited?)");
    s_expect_broken("UPDATE audit SET ts = ts + 1 WHERE seq = 1",
                    "audit event 1: hash mismatch");
    s_expect_broken("UPDATE audit SET subscriber = 'belastingdienst' WHERE seq = 20",
                    "audit event 20: hash mismatch");
}

TEST(deleted_event)
{
    s_expect_broken("DELETE FROM audit WHERE seq = 12",
                    "audit event 12 missing: seq jumps 11 → 13");
    s_expect_broken("DELETE FROM audit WHERE seq BETWEEN 12 AND 14",
                    "audit events 12..14 missing: seq jumps 11 → 15");
    s_expect_broken("DELETE FROM audit WHERE seq = 1", "audit event 1 missing");
}

TEST(swapped_events)
{
    s_expect_broken("UPDATE audit SET seq = -1 WHERE seq = 8;"
                    "UPDATE audit SET seq = 8 WHERE seq = 9;"
                    "UPDATE audit SET seq = 9 WHERE seq = -1",
                    "audit events 8 and 9 swapped");
    s_expect_broken("UPDATE audit SET seq = -1 WHERE seq = 3;"
                    "UPDATE audit SET seq = 3 WHERE seq = 15;"
                    "UPDATE audit SET seq = 15 WHERE seq = -1",
                    "audit events 3 and 15 swapped");
}

TEST(renumbered_after_delete)
{
    s_expect_broken("DELETE FROM audit WHERE seq = 12;"
                    "UPDATE audit SET seq = seq - 1 WHERE seq > 12",
                    "audit event 12: holds the event written as 13");
}

/*  Row 7 edited and its hash recomputed: row 8 no longer links to it.    */
TEST(rewritten_with_hash)
{
    fixture_t f;
    uint8_t prev[SP_SHA256_SIZE], hash[SP_SHA256_SIZE];
    sqlite3_stmt *stmt = NULL;
    CHECK(s_setup(&f) == 0);
    CHECK(s_sql(&f, "UPDATE audit SET detail = '{\"n\":7,\"pad\":\"yyyy\"}' WHERE seq = 7") == 0);
    CHECK(sqlite3_prepare_v2(store_db(f.store), "SELECT prev_hash, ts, kind, trace_id,"
                             " signal_id, subscriber, detail FROM audit WHERE seq = 7", -1,
                             &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW);
    memcpy(prev, sqlite3_column_blob(stmt, 0), sizeof prev);
    audit_row_hash(prev, 7, sqlite3_column_int64(stmt, 1),
                   (const char *) sqlite3_column_text(stmt, 2),
                   (const char *) sqlite3_column_text(stmt, 3), sqlite3_column_int64(stmt, 4),
                   (const char *) sqlite3_column_text(stmt, 5),
                   (const char *) sqlite3_column_text(stmt, 6), hash);
    sqlite3_finalize(stmt);
    CHECK(sqlite3_prepare_v2(store_db(f.store), "UPDATE audit SET hash = ? WHERE seq = 7", -1,
                             &stmt, NULL) == SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, hash, sizeof hash, SQLITE_STATIC);
    CHECK(sqlite3_step(stmt) == SQLITE_DONE);
    sqlite3_finalize(stmt);
    CHECK(s_verify(&f) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "audit event 8: does not link to event 7") != NULL);
    s_teardown(&f);
}

/*  Recomputes the hashes of rows from..EVENTS, as someone without the
    node key would after editing row from.                            */
static void s_rechain(fixture_t *f, int64_t from)
{
    uint8_t prev[SP_SHA256_SIZE], hash[SP_SHA256_SIZE];
    sqlite3_stmt *read = NULL, *write = NULL;
    CHECK(sqlite3_prepare_v2(store_db(f->store), "SELECT prev_hash, ts, kind, trace_id,"
                             " signal_id, subscriber, detail FROM audit WHERE seq = ?", -1,
                             &read, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(store_db(f->store), "UPDATE audit SET prev_hash = ?, hash = ?"
                             " WHERE seq = ?", -1, &write, NULL) == SQLITE_OK);
    for (int64_t seq = from; seq <= EVENTS; seq++) {
        sqlite3_bind_int64(read, 1, seq);
        CHECK(sqlite3_step(read) == SQLITE_ROW);
        if (seq == from)
            memcpy(prev, sqlite3_column_blob(read, 0), sizeof prev);
        audit_row_hash(prev, seq, sqlite3_column_int64(read, 1),
                       (const char *) sqlite3_column_text(read, 2),
                       (const char *) sqlite3_column_text(read, 3),
                       sqlite3_column_int64(read, 4),
                       (const char *) sqlite3_column_text(read, 5),
                       (const char *) sqlite3_column_text(read, 6), hash);
        sqlite3_reset(read);
        sqlite3_bind_blob(write, 1, prev, sizeof prev, SQLITE_TRANSIENT);
        sqlite3_bind_blob(write, 2, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_int64(write, 3, seq);
        CHECK(sqlite3_step(write) == SQLITE_DONE);
        sqlite3_reset(write);
        memcpy(prev, hash, sizeof prev);
    }
    sqlite3_finalize(read);
    sqlite3_finalize(write);
}

TEST(rewritten_tail)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    CHECK(s_sql(&f, "UPDATE audit SET detail = '{\"n\":7,\"pad\":\"yyyy\"}' WHERE seq = 7") == 0);
    s_rechain(&f, 7);
    CHECK(verify_chain(&f.in, &f.counts, f.why, sizeof f.why) == VERIFY_OK);
    CHECK(s_verify(&f) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "checkpoint 2: chain hash differs from audit event 10") != NULL);
    s_teardown(&f);
}

TEST(truncated_tail)
{
    s_expect_broken("DELETE FROM audit WHERE seq > 17",
                    "chain ends at 17 but checkpoint 4 covers 20 (truncated)");
}

TEST(forged_checkpoint)
{
    s_expect_broken("UPDATE checkpoints SET audit_seq = 19 WHERE id = 4",
                    "checkpoint 4: signature does not verify");
    s_expect_broken("UPDATE checkpoints SET signature = zeroblob(64) WHERE id = 2",
                    "checkpoint 2: signature does not verify");
}

TEST(other_node_key)
{
    fixture_t f;
    CHECK(s_setup(&f) == 0);
    sp_key_t *other = sp_key_generate();
    f.in.node_key = other;
    CHECK(s_verify(&f) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "checkpoint 1: signed by key") != NULL);
    sp_key_destroy(&other);
    s_teardown(&f);
}

/*  After a rotation the old node key, listed in previous_public_keys,
    still verifies what it signed; a key that is not the old one does not. */
TEST(rotated_node_key)
{
    fixture_t f;
    config_t config = { 0 };
    CHECK(s_setup(&f) == 0);
    sp_key_t *fresh = sp_key_generate(), *stranger = sp_key_generate();
    sp_key_t *previous[] = { stranger, f.key };
    config.previous_keys = (key_list_t) { previous, 1 };
    f.in.node_key = fresh;
    f.in.config = &config;
    CHECK(s_verify(&f) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "nor one of node.previous_public_keys") != NULL);
    config.previous_keys.count = 2;
    CHECK(s_verify(&f) == VERIFY_OK);
    CHECK(f.counts.checkpoints == EVENTS / CHECKPOINT_EVERY);
    CHECK(f.counts.by_previous_key == f.counts.checkpoints);
    sp_key_destroy(&fresh);
    sp_key_destroy(&stranger);
    s_teardown(&f);
}

/*  ---- signals ----------------------------------------------------------- */

#define SOURCE "urn:nld:oin:00000001001234567000:systeem:burgerzaken"
static const char s_event[] = "{\"specversion\":\"1.0\",\"id\":\"e1\"}";

typedef struct {
    fixture_t f;
    sp_key_t *emitter_key;
    emitter_t emitter;
    config_t config;
    vault_t *vault;
    char secret[64];
} signal_fixture_t;

static int s_insert_signal(signal_fixture_t *s)
{
    uint8_t sha[SP_SHA256_SIZE], sig[SP_SIGNATURE_SIZE], sealed[sizeof s_event + VAULT_OVERHEAD];
    char hex[2 * SP_SHA256_SIZE + 1];
    int64_t id = 0;
    size_t len = sizeof s_event - 1;
    sp_sha256(s_event, len, sha);
    sp_hex(sha, sizeof sha, hex);
    if (sp_key_sign(s->emitter_key, SP_DOMAIN_SIGNAL, s_event, len, sig) != 0
        || vault_seal(s->vault, s_event, len, SOURCE, "e1", sealed) != 0)
        return -1;
    store_signal_t row = { .source = SOURCE, .ce_id = "e1", .type = "t.x", .emitter = "em",
                           .received_at = sp_time_now_ms(), .event = sealed,
                           .event_len = len + VAULT_OVERHEAD, .event_sha256 = sha,
                           .key_id = sp_key_id(s->emitter_key), .signature = sig,
                           .trace_id = "0123456789abcdef0123456789abcdef" };
    if (store_begin(s->f.store) != 0 || store_signal_insert(s->f.store, &row, &id) != 0
        || audit_append(s->f.audit, AUDIT_SIGNAL_RECEIVED, row.trace_id, id, NULL,
                        json_pack("{s:s, s:s, s:s, s:I}", "emitter", "em", "key_id",
                                  row.key_id, "sha256", hex, "received_at",
                                  (json_int_t) row.received_at)) != 0
        || audit_append(s->f.audit, AUDIT_SIGNAL_ACCEPTED, row.trace_id, id, NULL,
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "emitter", "em", "type",
                                  "t.x", "source", SOURCE, "id", "e1", "key_id", row.key_id,
                                  "sha256", hex)) != 0)
        return -1;
    return store_commit(s->f.store);
}

static int s_signal_setup(signal_fixture_t *s)
{
    char err[256];
    memset(s, 0, sizeof *s);
    if (s_setup(&s->f) != 0)
        return -1;
    snprintf(s->secret, sizeof s->secret, "/tmp/test_verify.%ld.secret", (long) getpid());
    unlink(s->secret);
    s->vault = vault_new(s->secret, 1, err, sizeof err);
    s->emitter_key = sp_key_generate();
    s->emitter = (emitter_t) { .name = (char *) "em", .key = s->emitter_key };
    s->config = (config_t) { .emitters = &s->emitter, .emitter_count = 1 };
    s->f.in.config = &s->config;
    s->f.in.vault = s->vault;
    return s->vault && s->emitter_key ? s_insert_signal(s) : -1;
}

static void s_signal_teardown(signal_fixture_t *s)
{
    vault_destroy(&s->vault);
    unlink(s->secret);
    sp_key_destroy(&s->emitter_key);
    s_teardown(&s->f);
}

static int s_verify_signals(signal_fixture_t *s)
{
    s->f.why[0] = '\0';
    return verify_signals(&s->f.in, &s->f.counts, s->f.why, sizeof s->f.why);
}

TEST(signal_verifies)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(s_verify_signals(&s) == VERIFY_OK);
    CHECK(s.f.counts.signals == 1);
    CHECK(s.f.counts.purged == 0);
    s_signal_teardown(&s);
}

TEST(signal_sealed_payload_edited)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    /* byte 31 (ciphertext, after the 24-byte nonce) always changes: set
       to 00, or to 01 when it already is 00 (1 run in 256)            */
    CHECK(s_sql(&s.f, "UPDATE signals SET event = substr(event, 1, 30)"
                      " || CASE WHEN substr(event, 31, 1) = x'00' THEN x'01' ELSE x'00' END"
                      " || substr(event, 32)") == 0);
    CHECK(s_verify_signals(&s) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "signal 1 (id e1): sealed payload does not open") != NULL);
    s_signal_teardown(&s);
}

/*  A removed emitter's signature cannot be checked: noted, or broken
    in strict mode; the payload's hash is still checked.               */
TEST(signal_unknown_emitter_key)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    s.config.emitter_count = 0;
    CHECK(s_verify_signals(&s) == VERIFY_OK);
    CHECK(s.f.counts.unchecked == 1);
    CHECK(s.f.counts.signals == 0);
    CHECK(strstr(s.f.counts.first_unchecked, "signal 1 (id e1): emitter key") != NULL);
    s.f.in.strict = true;
    CHECK(s_verify_signals(&s) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "is not configured") != NULL);
    s.f.in.strict = false;
    CHECK(s_sql(&s.f, "UPDATE signals SET event_sha256 = zeroblob(32)") == 0);
    CHECK(s_verify_signals(&s) == VERIFY_BROKEN);
    s_signal_teardown(&s);
}

TEST(signal_purged)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(s_sql(&s.f, "UPDATE signals SET event = NULL") == 0);
    CHECK(s_verify_signals(&s) == VERIFY_OK);
    CHECK(s.f.counts.purged == 1);
    CHECK(s_sql(&s.f, "UPDATE signals SET event_sha256 = zeroblob(32)") == 0);
    CHECK(s_verify_signals(&s) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "stored SHA-256 differs from the one audit event") != NULL);
    s_signal_teardown(&s);
}

/*  ---- rows the chain names --------------------------------------------- */

/*  Signal fixture, sql applied, verify_named() expected to name want.   */
static void s_expect_named(const char *sql, const char *want)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(s_sql(&s.f, sql) == 0);
    s.f.why[0] = '\0';
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_BROKEN);
    if (!strstr(s.f.why, want)) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", s.f.why, want);
        CHECK(strstr(s.f.why, want) != NULL);
    }
    s_signal_teardown(&s);
}

TEST(named_signal_verifies)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_OK);
    /* a payload gone without a signal.purged event is an edit */
    CHECK(s_sql(&s.f, "UPDATE signals SET event = NULL, purged_at = 1") == 0);
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "signal 1: payload gone, but no signal.purged audit event "
                 "records it") != NULL);
    s_signal_teardown(&s);
}

/*  Events 21 (received) and 22 (accepted) name signal 1.                */
TEST(named_signal_deleted_or_edited)
{
    s_expect_named("DELETE FROM signals", "signal 1: deleted, but audit event 21 records it");
    s_expect_named("UPDATE signals SET type = 't.y'", "signal 1: type differs from audit "
                   "event 22");
    s_expect_named("UPDATE signals SET emitter = 'other'", "signal 1: emitter differs from "
                   "audit event 21");
    s_expect_named("UPDATE signals SET received_at = received_at + 1",
                   "signal 1: received_at differs from audit event 21");
    s_expect_named("UPDATE signals SET event = NULL, source = 'urn:other'",
                   "signal 1: source differs from audit event 22");
    s_expect_named("UPDATE signals SET event = NULL, ce_id = 'e2'",
                   "signal 1: id differs from audit event 22");
    s_expect_named("UPDATE signals SET trace_id = 'ffffffffffffffffffffffffffffffff'",
                   "signal 1: trace_id differs from audit event 21");
}

/*  A delivery routed at seq 1 and redelivered as seq 2 (id 1 -> 2): the
    row is found under its new key, the old key is not required.       */
static int s_redelivered(signal_fixture_t *s)
{
    if (store_begin(s->f.store) != 0
        || store_delivery_insert(s->f.store, 1, "toeslagen", "huur", 1, 1) != 0
        || audit_append_text(s->f.audit, AUDIT_ROUTED, NULL, 1, "toeslagen",
                             "{\"subscription\":\"huur\",\"seq\":1}") != 0
        || audit_append_text(s->f.audit, AUDIT_ATTEMPT, NULL, 1, "toeslagen",
                             "{\"subscription\":\"huur\",\"seq\":1}") != 0
        || sqlite3_exec(store_db(s->f.store), "UPDATE deliveries SET id = 2, seq = 2", NULL,
                        NULL, NULL) != SQLITE_OK
        || audit_append_text(s->f.audit, AUDIT_REDELIVERED, NULL, 1, "toeslagen",
                             "{\"subscription\":\"huur\",\"seq\":2,\"previous_seq\":1,"
                             "\"delivery_id\":2,\"previous_delivery_id\":1}") != 0)
        return -1;
    return store_commit(s->f.store);
}

TEST(named_delivery_redelivered)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(s_redelivered(&s) == 0);
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_OK);
    CHECK(s_sql(&s.f, "UPDATE deliveries SET id = 3") == 0);
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "delivery toeslagen/huur seq 2: id differs from audit event 25")
          != NULL);
    CHECK(s_sql(&s.f, "DELETE FROM deliveries") == 0);
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_BROKEN);
    CHECK(strstr(s.f.why, "delivery toeslagen/huur seq 2: deleted, but audit event 25 "
                 "records it") != NULL);
    s_signal_teardown(&s);
}

/*  A delivery.redelivered event without a subscriber or subscription
    names no key that moved: it is passed over, not a database error.  */
TEST(named_redelivered_without_key)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(s_redelivered(&s) == 0);
    CHECK(store_begin(s.f.store) == 0);
    CHECK(audit_append_text(s.f.audit, AUDIT_REDELIVERED, NULL, 0, "toeslagen",
                            "{\"seq\":3,\"previous_seq\":2}") == 0);
    CHECK(audit_append_text(s.f.audit, AUDIT_REDELIVERED, NULL, 0, NULL,
                            "{\"subscription\":\"huur\",\"seq\":3,\"previous_seq\":2}") == 0);
    CHECK(store_commit(s.f.store) == 0);
    s.f.why[0] = '\0';
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_OK);
    s_signal_teardown(&s);
}

/*  Signal 1 routed to toeslagen/huur as seq 1 (delivery 1, pending),
    then an event of extra_kind naming it and sql applied; want NULL:
    the result still verifies.                                          */
static void s_expect_unaccounted(const char *extra_kind, const char *sql, const char *want)
{
    signal_fixture_t s;
    const char *key = "{\"subscription\":\"huur\",\"seq\":1}";
    CHECK(s_signal_setup(&s) == 0);
    CHECK(store_begin(s.f.store) == 0);
    CHECK(store_delivery_insert(s.f.store, 1, "toeslagen", "huur", 1, 1) == 0);
    CHECK(audit_append_text(s.f.audit, AUDIT_ROUTED, NULL, 1, "toeslagen", key) == 0);
    if (extra_kind)
        CHECK(audit_append_text(s.f.audit, extra_kind, NULL, 1, "toeslagen", key) == 0);
    CHECK(store_commit(s.f.store) == 0);
    s.f.why[0] = '\0';
    CHECK(!sql || s_sql(&s.f, sql) == 0);
    if (!want) {
        CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_OK);
        s_signal_teardown(&s);
        return;
    }
    CHECK(verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why) == VERIFY_BROKEN);
    if (!strstr(s.f.why, want)) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", s.f.why, want);
        CHECK(strstr(s.f.why, want) != NULL);
    }
    s_signal_teardown(&s);
}

/*  Rows no event accounts for: added, or in a state the chain never
    reached. Events 21 and 22 name the signal, 23 routes it.           */
TEST(unaccounted_deliveries)
{
    s_expect_unaccounted(NULL, NULL, NULL);
    s_expect_unaccounted(AUDIT_RECEIPT, "UPDATE deliveries SET state = 1", NULL);
    s_expect_unaccounted(NULL, "INSERT INTO deliveries(signal_id, subscriber, subscription,"
                         " seq, created_at) VALUES(1, 'belastingdienst', 'adres', 7, 1)",
                         "delivery 2 (belastingdienst/adres seq 7): no delivery.routed or "
                         "delivery.redelivered audit event put it there (row added?)");
    s_expect_unaccounted(NULL, "UPDATE deliveries SET state = 1",
                         "delivery 1 (toeslagen/huur seq 1): marked delivered, but no "
                         "delivery.receipt audit event records it");
    s_expect_unaccounted(AUDIT_RECEIPT, "UPDATE deliveries SET state = 2",
                         "delivery 1 (toeslagen/huur seq 1): marked dead-lettered, but no "
                         "delivery.deadlettered audit event records it");
    s_expect_unaccounted(AUDIT_DEAD, "UPDATE deliveries SET state = 2 WHERE 0",
                         "delivery 1 (toeslagen/huur seq 1): pending, but audit event 24 "
                         "records it delivered or dead-lettered");
    s_expect_unaccounted(NULL, "UPDATE deliveries SET state = 9",
                         "delivery 1 (toeslagen/huur seq 1): state is none of");
}

/*  The same with audit rows version 3 (protocol.md 13.1): the routing is
    a route of a signal.accepted row (event 23), a receipt or a dead
    letter an entry of a batch.receipt row or its own event (24). With
    legacy set, a second delivery (seq 2) is routed the old way, one row
    per delivery, and acknowledged the new way: a database the daemon
    went on writing after an upgrade.                                   */
static void s_expect_unaccounted_v3(const char *extra_kind, bool legacy, const char *sql,
                                    const char *want)
{
    signal_fixture_t s;
    CHECK(s_signal_setup(&s) == 0);
    CHECK(store_begin(s.f.store) == 0);
    CHECK(store_delivery_insert(s.f.store, 1, "toeslagen", "huur", 1, 1) == 0);
    CHECK(audit_append_text(s.f.audit, AUDIT_SIGNAL_ACCEPTED,
                            "0123456789abcdef0123456789abcdef", 1, NULL,
                            "{\"routes\":[{\"subscriber\":\"toeslagen\",\"subscription\":"
                            "\"huur\",\"seq\":1,\"grondslag\":\"g\"}],\"routed\":1}") == 0);
    if (extra_kind && strcmp(extra_kind, AUDIT_BATCH_RECEIPT) == 0)
        CHECK(audit_append_text(s.f.audit, extra_kind, NULL, 0, "toeslagen",
                                "{\"entries\":[[1,1,\"huur\",1]]}") == 0);
    else if (extra_kind)
        CHECK(audit_append_text(s.f.audit, extra_kind, NULL, 1, "toeslagen",
                                "{\"subscription\":\"huur\",\"seq\":1}") == 0);
    if (legacy) {
        CHECK(store_delivery_insert(s.f.store, 1, "toeslagen", "huur", 2, 1) == 0);
        CHECK(audit_append_text(s.f.audit, AUDIT_ROUTED, NULL, 1, "toeslagen",
                                "{\"subscription\":\"huur\",\"seq\":2}") == 0);
        CHECK(audit_append_text(s.f.audit, AUDIT_BATCH_RECEIPT, NULL, 0, "toeslagen",
                                "{\"entries\":[[2,1,\"huur\",2]]}") == 0);
        CHECK(sqlite3_exec(store_db(s.f.store), "UPDATE deliveries SET state = 1"
                           " WHERE seq = 2", NULL, NULL, NULL) == SQLITE_OK);
    }
    CHECK(store_commit(s.f.store) == 0);
    CHECK(!sql || s_sql(&s.f, sql) == 0);
    s.f.why[0] = '\0';
    int rc = verify_named(&s.f.in, &s.f.counts, s.f.why, sizeof s.f.why);
    CHECK(rc == (want ? VERIFY_BROKEN : VERIFY_OK));
    if (want && !strstr(s.f.why, want)) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", s.f.why, want);
        CHECK(strstr(s.f.why, want) != NULL);
    }
    if (!want && rc != VERIFY_OK)
        fprintf(stderr, "  got \"%s\"\n", s.f.why);
    s_signal_teardown(&s);
}

TEST(unaccounted_deliveries_v3)
{
    s_expect_unaccounted_v3(NULL, false, NULL, NULL);
    s_expect_unaccounted_v3(AUDIT_BATCH_RECEIPT, false, "UPDATE deliveries SET state = 1",
                            NULL);
    s_expect_unaccounted_v3(NULL, false, "INSERT INTO deliveries(signal_id, subscriber,"
                            " subscription, seq, created_at) VALUES(1, 'toeslagen', 'huur',"
                            " 7, 1)", "delivery 2 (toeslagen/huur seq 7): no delivery.routed or "
                            "delivery.redelivered audit event put it there (row added?)");
    s_expect_unaccounted_v3(NULL, false, "UPDATE deliveries SET state = 1",
                            "delivery 1 (toeslagen/huur seq 1): marked delivered, but no "
                            "delivery.receipt audit event records it");
    s_expect_unaccounted_v3(AUDIT_BATCH_RECEIPT, false, "UPDATE deliveries SET state = 0",
                            "delivery 1 (toeslagen/huur seq 1): pending, but audit event 24 "
                            "records it delivered or dead-lettered");
    s_expect_unaccounted_v3(AUDIT_BATCH_RECEIPT, false, "UPDATE deliveries SET state = 2",
                            "delivery 1 (toeslagen/huur seq 1): marked dead-lettered, but no "
                            "delivery.deadlettered audit event records it");
    /* the route names the delivery's key: moved to another seq, it is
       a row no routing put there, and the route's key a deleted row  */
    s_expect_unaccounted_v3(NULL, false, "UPDATE deliveries SET seq = 5",
                            "delivery toeslagen/huur seq 1: deleted, but audit event 23 "
                            "records it");
    /* a database written by both versions */
    s_expect_unaccounted_v3(AUDIT_BATCH_RECEIPT, true, "UPDATE deliveries SET state = 1"
                            " WHERE seq = 1", NULL);
    s_expect_unaccounted_v3(NULL, true, NULL, NULL);
    s_expect_unaccounted_v3(NULL, true, "UPDATE deliveries SET state = 1",
                            "delivery 1 (toeslagen/huur seq 1): marked delivered, but no "
                            "delivery.receipt audit event records it");
    s_expect_unaccounted_v3(NULL, true, "DELETE FROM deliveries WHERE seq = 2",
                            "delivery toeslagen/huur seq 2: deleted, but audit event 24 "
                            "records it");
}

/*  ---- anchors ------------------------------------------------------------ */

/*  The tail and the checkpoints covering it cut off: the database alone
    verifies, the checkpoint kept outside it does not.                 */
TEST(anchor_catches_cut_tail)
{
    fixture_t f;
    verify_anchor_t anchor = { .seq = EVENTS };
    sqlite3_stmt *stmt = NULL;
    CHECK(s_setup(&f) == 0);
    CHECK(sqlite3_prepare_v2(store_db(f.store), "SELECT hash FROM audit WHERE seq = 20", -1,
                             &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW);
    memcpy(anchor.hash, sqlite3_column_blob(stmt, 0), sizeof anchor.hash);
    sqlite3_finalize(stmt);
    f.in.anchors = &anchor;
    f.in.anchor_count = 1;
    CHECK(s_verify(&f) == VERIFY_OK);
    CHECK(verify_anchors(&f.in, &f.counts, f.why, sizeof f.why) == VERIFY_OK);
    CHECK(f.counts.anchors == 1);
    CHECK(s_sql(&f, "DELETE FROM audit WHERE seq > 12; DELETE FROM checkpoints"
                    " WHERE audit_seq > 12") == 0);
    CHECK(s_verify(&f) == VERIFY_OK);
    CHECK(verify_anchors(&f.in, &f.counts, f.why, sizeof f.why) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "chain ends at 12 but the expected checkpoint covers 20") != NULL);
    anchor.seq = 10;
    CHECK(verify_anchors(&f.in, &f.counts, f.why, sizeof f.why) == VERIFY_BROKEN);
    CHECK(strstr(f.why, "audit event 10: chain hash differs from the expected checkpoint")
          != NULL);
    s_teardown(&f);
}

int main(void)
{
    RUN(untouched_verifies);
    RUN(empty_verifies);
    RUN(edited_detail);
    RUN(deleted_event);
    RUN(swapped_events);
    RUN(renumbered_after_delete);
    RUN(rewritten_with_hash);
    RUN(rewritten_tail);
    RUN(truncated_tail);
    RUN(forged_checkpoint);
    RUN(other_node_key);
    RUN(rotated_node_key);
    RUN(signal_verifies);
    RUN(signal_sealed_payload_edited);
    RUN(signal_unknown_emitter_key);
    RUN(signal_purged);
    RUN(coverage);
    RUN(coverage_late_checkpoint_and_restart);
    RUN(named_signal_verifies);
    RUN(named_signal_deleted_or_edited);
    RUN(named_delivery_redelivered);
    RUN(named_redelivered_without_key);
    RUN(unaccounted_deliveries);
    RUN(unaccounted_deliveries_v3);
    RUN(anchor_catches_cut_tail);
    TEST_EXIT();
}
