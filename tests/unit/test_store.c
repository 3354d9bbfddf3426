/*  test_store.c - the batch bookkeeping of store.c on an in-memory queue. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "test.h"
#include "test_pg.h"

static const char *s_target = ":memory:";

static const uint8_t s_zero[64];

/*  Signals 1..6, each queued for subscribers a and b in turn, so that the
    deliveries of a have ids 1, 3, 5, ... and those of b 2, 4, 6, ...     */
static store_t *s_queue(void)
{
    char err[256], id[16];
    if (strcmp(s_target, ":memory:") != 0 && test_pg_empty(s_target) != 0)
        return NULL;
    store_t *store = store_open(s_target, false, err, sizeof err);
    if (!store) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    if (store_begin(store) != 0)
        return store;
    for (int i = 1; i <= 6; i++) {
        int64_t signal_id = 0;
        snprintf(id, sizeof id, "s%d", i);
        store_signal_t row = {
            .source = "urn:nld:oin:00000001001299992000:systeem:bz", .ce_id = id,
            .type = "nl.example.t", .emitter = "e", .received_at = i,
            .event = (const uint8_t *) "{}", .event_len = 2, .event_sha256 = s_zero,
            .key_id = "0011223344556677", .signature = s_zero, .trace_id = id,
        };
        store_signal_insert(store, &row, &signal_id);
        store_delivery_insert(store, signal_id, "a", "sub-a", i, i);
        store_delivery_insert(store, signal_id, "b", "sub-b", i, i);
    }
    return store;
}

static int64_t s_int(store_t *store, const char *sql)
{
    db_stmt_t *stmt = db_prepare(store_conn(store), sql, false);
    int64_t value = stmt && db_step(stmt) == DB_ROW ? db_column_int64(stmt, 0) : -1;
    db_finalize(&stmt);
    return value;
}

TEST(batch_marks_only_its_subscribers_run)
{
    store_t *store = s_queue();
    CHECK(store != NULL);
    if (!store)
        return;
    /* a's deliveries 3, 5, 7 form one batch; b's 4 and 6 lie between */
    CHECK(store_deliveries_sent(store, "a", 3, 7, 3, 42, 1000) == 0);
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE batch_id = 42") == 3);
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'a'"
                       " AND attempts = 1 AND last_attempt_at = 1000 AND id IN (3, 5, 7)") == 3);
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'b'"
                       " AND attempts > 0") == 0);
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE subscriber = 'a'"
                       " AND attempts > 0") == 3);
    store_destroy(&store);
}

TEST(batch_skips_rows_no_longer_pending)
{
    store_t *store = s_queue();
    CHECK(store != NULL);
    if (!store)
        return;
    /* 5 was dead-lettered: the batch of 3 and 7 is two rows */
    CHECK(store_delivery_dead(store, 5, "max age", 500) == 0);
    CHECK(store_deliveries_sent(store, "a", 3, 7, 2, 43, 1000) == 0);
    CHECK(s_int(store, "SELECT attempts FROM deliveries WHERE id = 5") == 0);
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE batch_id = 43") == 2);
    store_destroy(&store);
}

TEST(batch_count_mismatch_is_an_error)
{
    store_t *store = s_queue();
    CHECK(store != NULL);
    if (!store)
        return;
    /* the range holds 3 pending rows of a: a caller expecting 2 has a
       wrong idea of the queue, and the turn must roll back             */
    CHECK(store_deliveries_sent(store, "a", 3, 7, 2, 44, 1000) == -1);
    store_destroy(&store);
}

/*  After SQLITE_FULL, IOERR or NOMEM SQLite may roll the transaction back
    by itself. The statements a turn runs after that must not commit one
    by one in autocommit mode (half a turn, an audit chain linking to rows
    that were rolled back): joining the transaction fails instead.     */
TEST(no_statement_runs_outside_a_transaction_sqlite_rolled_back)
{
    store_t *store = s_queue();
    CHECK(store != NULL);
    if (!store)
        return;
    CHECK(store_in_transaction(store));
    /* what SQLite does on its own after such an error */
    CHECK(sqlite3_exec(store_db(store), "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(store_begin(store) == -1);
    CHECK(store_begin_relaxed(store) == -1);
    store_rollback(store);
    CHECK(!store_in_transaction(store));
    CHECK(store_begin(store) == 0);         /* the next turn starts afresh */
    CHECK(store_commit(store) == 0);
    store_destroy(&store);
}

/*  A restart on a full disk must come up (and refuse EMITs with
    STORAGE_UNAVAILABLE) rather than exit: opening a database that is
    already set up changes no row, so there is nothing to write.       */
TEST(reopening_a_set_up_database_writes_no_row)
{
    char dir[] = "/tmp/seinpost-test-store.XXXXXX", path[64], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/q.db", dir);
    store_t *store = store_open(path, false, err, sizeof err);
    CHECK(store != NULL);
    store_destroy(&store);
    store = store_open(path, false, err, sizeof err);
    CHECK(store != NULL);
    if (store) {
        CHECK(sqlite3_total_changes(store_db(store)) == 0);
        CHECK(s_int(store, "SELECT value FROM meta WHERE key = 'audit_rows'") == 3);
        store_destroy(&store);
    }
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < 3; i++) {
        char name[80];
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
    CHECK(rmdir(dir) == 0);
}

/*  One signal through the queue as the loop drives it: stored with its
    deliveries in one commit, read back byte for byte, sent in a batch,
    acknowledged by a receipt; a turn rolled back leaves nothing.       */
TEST(a_signal_goes_through_the_queue)
{
    store_t *store = s_queue();     /* six signals, twelve deliveries */
    CHECK(store != NULL);
    if (!store)
        return;
    CHECK(store_commit(store) == 0);
    static const uint8_t event[] = "{\"id\":\"x\",\"data\":\"\\u0000\"}\0\xff";
    uint8_t sha[SP_SHA256_SIZE], sig[SP_SIGNATURE_SIZE], found_sha[SP_SHA256_SIZE];
    memset(sha, 0xab, sizeof sha);
    memset(sig, 0x5c, sizeof sig);
    store_signal_t row = {
        .source = "urn:nld:oin:00000001001299992000:systeem:bz", .ce_id = "s7",
        .type = "nl.example.t", .emitter = "e", .received_at = 7,
        .event = event, .event_len = sizeof event, .event_sha256 = sha,
        .key_id = "0011223344556677", .signature = sig, .trace_id = "t7",
        .subject_pseudonym = "p7",
    };
    int64_t signal_id = 0, found_id = 0, batch_id = 0, receipt_id = 0;
    CHECK(store_begin(store) == 0);
    CHECK(store_signal_insert(store, &row, &signal_id) == 0 && signal_id == 7);
    CHECK(store_delivery_insert(store, signal_id, "a", "sub-a", 7, 7) == 0);
    CHECK(store_commit(store) == 0);
    CHECK(store_signal_find(store, row.source, "s7", &found_id, found_sha) == 1);
    CHECK(found_id == 7 && memcmp(found_sha, sha, sizeof sha) == 0);
    CHECK(store_signal_find(store, row.source, "nope", &found_id, found_sha) == 0);

    store_pending_t page[8];
    int n = store_pending_page(store, "a", 12, INT64_MAX, page, 8);
    CHECK(n == 1);
    if (n == 1) {
        CHECK(page[0].signal_id == 7 && page[0].seq == 7);
        CHECK_STR(page[0].subscription, "sub-a");
        CHECK_STR(page[0].ce_id, "s7");
        CHECK(page[0].event_len == sizeof event
              && memcmp(page[0].event, event, sizeof event) == 0);
        CHECK(memcmp(page[0].signature, sig, sizeof sig) == 0);
        CHECK_STR(page[0].trace_id, "t7");
    }
    int64_t delivery_id = n == 1 ? page[0].id : 0;
    store_pending_clear(page, n > 0 ? n : 0);

    CHECK(store_begin(store) == 0);
    CHECK(store_batch_insert(store, "a", 8, "header", 6, sig, "k", &batch_id) == 0);
    CHECK(batch_id > 0);
    CHECK(store_deliveries_sent(store, "a", delivery_id, delivery_id, 1, batch_id, 8) == 0);
    CHECK(store_receipt_insert(store, "a", 9, "body", 4, sig, "k", batch_id, &receipt_id) == 0);
    int64_t acked_delivery = 0, acked_signal = 0;
    char trace[33] = "";
    CHECK(store_delivery_ack(store, "a", "sub-a", 7, receipt_id, batch_id, 9,
                             &acked_delivery, &acked_signal, trace) == 1);
    CHECK(acked_delivery == delivery_id && acked_signal == 7);
    CHECK_STR(trace, "t7");
    CHECK(store_delivery_ack(store, "a", "sub-a", 7, receipt_id, batch_id, 9,
                             &acked_delivery, &acked_signal, trace) == 0);    /* once */
    CHECK(store_commit(store) == 0);

    int64_t pending = -1, oldest = -1;
    CHECK(store_pending_stats(store, "b", &pending, &oldest) == 0);
    CHECK(pending == 6 && oldest == 1);
    /* a turn that fails keeps nothing */
    CHECK(store_begin(store) == 0);
    CHECK(store_delivery_insert(store, signal_id, "b", "sub-b", 7, 10) == 0);
    store_rollback(store);
    CHECK(!store_in_transaction(store));
    CHECK(s_int(store, "SELECT COUNT(*) FROM deliveries WHERE signal_id = 7") == 1);
    /* a duplicate (subscriber, subscription, seq) is refused, not stored */
    CHECK(store_begin(store) == 0);
    CHECK(store_delivery_insert(store, 1, "a", "sub-a", 1, 10) == -1);
    CHECK(!store_failure_is_storage(store));
    store_rollback(store);
    store_destroy(&store);
}

int main(void)
{
    RUN(batch_marks_only_its_subscribers_run);
    RUN(batch_skips_rows_no_longer_pending);
    RUN(batch_count_mismatch_is_an_error);
    RUN(no_statement_runs_outside_a_transaction_sqlite_rolled_back);
    RUN(reopening_a_set_up_database_writes_no_row);
    RUN(a_signal_goes_through_the_queue);
    if (test_pg_uri()) {
        s_target = test_pg_uri();
        printf("# PostgreSQL\n");
        RUN(batch_marks_only_its_subscribers_run);
        RUN(batch_skips_rows_no_longer_pending);
        RUN(batch_count_mismatch_is_an_error);
        RUN(a_signal_goes_through_the_queue);
    }
    TEST_EXIT();
}
