/*  test_lease.c - the lease and the fence (lease.c, store.c) on a real
    PostgreSQL (SEINPOST_TEST_PG); without one there is nothing to test
    and it says so.                                                     */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lease.h"
#include "sp_util.h"
#include "store.h"
#include "test.h"
#include "test_pg.h"

#define TTL_MS 1000

static void s_sleep_ms(int64_t ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

TEST(one_node_holds_the_lease_until_it_runs_out)
{
    const char *uri = test_pg_uri();
    char err[512] = "";
    CHECK(test_pg_empty(uri) == 0);
    lease_t *a = lease_new(uri, "node-a", TTL_MS, err, sizeof err);
    lease_t *b = lease_new(uri, "node-b", TTL_MS, err, sizeof err);
    CHECK(a && b);
    if (!a || !b)
        goto done;
    int64_t now = sp_clock_ms();
    CHECK(lease_acquire(a, now, err, sizeof err) == 1);
    int64_t token = lease_token(a);
    CHECK(lease_valid(a, now));
    CHECK(lease_acquire(b, now, err, sizeof err) == 0);
    CHECK(strstr(lease_holder(b), "node-a@") == lease_holder(b));
    CHECK(!lease_valid(b, now));
    /* renewed before it runs out: still a's, with the same token */
    s_sleep_ms(TTL_MS / 2);
    CHECK(lease_acquire(a, sp_clock_ms(), err, sizeof err) == 1 && lease_token(a) == token);
    s_sleep_ms(TTL_MS / 2);
    CHECK(lease_acquire(b, sp_clock_ms(), err, sizeof err) == 0);
    /* a stops renewing: by its own clock it is no longer active before
       b can take over, and b takes it with a higher token              */
    s_sleep_ms(TTL_MS * 85 / 100);
    CHECK(!lease_valid(a, sp_clock_ms()));
    s_sleep_ms(TTL_MS * 20 / 100);
    CHECK(lease_acquire(b, sp_clock_ms(), err, sizeof err) == 1);
    CHECK(lease_token(b) == token + 1);
    CHECK(lease_acquire(a, sp_clock_ms(), err, sizeof err) == 0);
    /* b stops cleanly: a takes over at once, not a lease later */
    lease_release(b);
    CHECK(lease_acquire(a, sp_clock_ms(), err, sizeof err) == 1);
    CHECK(lease_token(a) == token + 2);
done:
    lease_destroy(&a);
    lease_destroy(&b);
}

/*  Node a holds the lease, its store fenced with it, a delivery written
    in an open transaction; node b waits. 0, or -1 (checked already).   */
typedef struct {
    store_t *store;
    lease_t *a, *b;
} fenced_t;

static int s_fenced(fenced_t *f)
{
    const char *uri = test_pg_uri();
    char err[512] = "";
    int failures = test_failures_current;
    CHECK(test_pg_empty(uri) == 0);
    f->store = store_open(uri, false, err, sizeof err);
    f->a = lease_new(uri, "node-a", TTL_MS, err, sizeof err);
    f->b = lease_new(uri, "node-b", TTL_MS, err, sizeof err);
    CHECK(f->store && f->a && f->b);
    if (!f->store || !f->a || !f->b)
        return -1;
    CHECK(lease_acquire(f->a, sp_clock_ms(), err, sizeof err) == 1);
    CHECK(store_set_fence(f->store, lease_id(f->a), lease_token(f->a), TTL_MS) == 0);
    CHECK(store_begin(f->store) == 0);
    CHECK(store_delivery_insert(f->store, 1, "a", "sub-a", 1, 1) == 0);
    return test_failures_current == failures ? 0 : -1;
}

static void s_fenced_destroy(fenced_t *f)
{
    store_destroy(&f->store);
    lease_destroy(&f->a);
    lease_destroy(&f->b);
}

/*  A node that lost its lease while it was paused writes nothing more:
    its next transaction fails at the fence.                            */
TEST(a_deposed_node_cannot_begin_a_transaction)
{
    fenced_t f = { NULL, NULL, NULL };
    char err[512];
    if (s_fenced(&f) == 0) {
        CHECK(store_commit(f.store) == 0);
        s_sleep_ms(TTL_MS + 100);               /* a is paused */
        CHECK(lease_acquire(f.b, sp_clock_ms(), err, sizeof err) == 1);
        CHECK(store_begin(f.store) == -1);
        CHECK(store_fenced(f.store));
        CHECK(!store_in_transaction(f.store));
    }
    s_fenced_destroy(&f);
}

/*  A node paused inside a transaction holds the fence's lock: the server
    ends its session after the lease's time, the standby takes over, and
    the paused node's transaction is gone when it wakes.               */
TEST(a_node_paused_in_a_transaction_does_not_block_the_takeover)
{
    fenced_t f = { NULL, NULL, NULL };
    char err[512];
    if (s_fenced(&f) == 0) {
        s_sleep_ms(TTL_MS + 100);               /* paused before COMMIT */
        int64_t asked = sp_clock_ms();
        CHECK(lease_acquire(f.b, sp_clock_ms(), err, sizeof err) == 1);
        CHECK(sp_clock_ms() - asked < 3 * TTL_MS);
        CHECK(store_commit(f.store) == -1);     /* the server ended the session */
        store_rollback(f.store);
    }
    s_fenced_destroy(&f);
}

int main(void)
{
    if (!test_pg_uri()) {
        printf("# SEINPOST_TEST_PG is not set: the lease needs PostgreSQL\n");
        return 0;
    }
    printf("# PostgreSQL\n");
    RUN(one_node_holds_the_lease_until_it_runs_out);
    RUN(a_deposed_node_cannot_begin_a_transaction);
    RUN(a_node_paused_in_a_transaction_does_not_block_the_takeover);
    TEST_EXIT();
}
