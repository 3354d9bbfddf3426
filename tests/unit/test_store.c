/*  test_store.c - the batch bookkeeping of store.c on an in-memory queue. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static const uint8_t s_zero[64];

/*  Signals 1..6, each queued for subscribers a and b in turn, so that the
    deliveries of a have ids 1, 3, 5, ... and those of b 2, 4, 6, ...     */
static store_t *s_queue(void)
{
    char err[256], id[16];
    store_t *store = store_open(":memory:", false, err, sizeof err);
    if (!store || store_begin(store) != 0)
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
    sqlite3_stmt *stmt = NULL;
    int64_t value = -1;
    if (sqlite3_prepare_v2(store_db(store), sql, -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
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

int main(void)
{
    RUN(batch_marks_only_its_subscribers_run);
    RUN(batch_skips_rows_no_longer_pending);
    RUN(batch_count_mismatch_is_an_error);
    RUN(no_statement_runs_outside_a_transaction_sqlite_rolled_back);
    RUN(reopening_a_set_up_database_writes_no_row);
    TEST_EXIT();
}
