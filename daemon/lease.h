/*  lease.h - which of the nodes sharing one PostgreSQL database is active.

    One row, lease, names the holder, a fencing token and when the lease
    runs out, in the server's clock (so that the nodes' clocks need not
    agree). A node takes the lease when it has run out, raising the
    token; it renews it well before then. Every write transaction of the
    active node first checks, in the same transaction, that the lease is
    still its own with its token (store.c, the fence): a node deposed
    while it was paused finds out at its next write and writes nothing.
    Its own monotonic clock tells it sooner, without asking the server,
    that the lease it last renewed has run out: then it sends nothing to
    anyone either.                                                      */
#ifndef LEASE_H_INCLUDED
#define LEASE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lease lease_t;

/*  A lease on the database at target (its own connection), for the node
    named node; ttl_ms is how long a lease lasts unrenewed.             */
lease_t *lease_new(const char *target, const char *node, int64_t ttl_ms,
                   char *err, size_t errlen);
void lease_destroy(lease_t **self_p);

/*  Takes or renews the lease. 1: it is ours (token raised when taken),
    0: another node holds it (lease_holder() names it), -1: the database
    could not be asked (the reason in err). now is sp_clock_ms().       */
int lease_acquire(lease_t *self, int64_t now, char *err, size_t errlen);

/*  Whether the lease is ours by our own clock: renewed less than the
    lease's time ago, minus a margin for the clocks' drift.            */
bool lease_valid(const lease_t *self, int64_t now);
/*  When to renew next: a third of the lease after the last renewal.     */
int64_t lease_renew_at(const lease_t *self);

/*  Ends the lease now, on a clean stop, so that a standby need not wait. */
void lease_release(lease_t *self);

int64_t lease_token(const lease_t *self);
const char *lease_id(const lease_t *self);      /* this node's holder id */
const char *lease_holder(const lease_t *self);  /* the other holder, after 0 */
int64_t lease_ttl(const lease_t *self);

/*  The fence: SQL that returns a row only while (?1 holder, ?2 token)
    holds an unexpired lease, and locks it against a takeover until the
    transaction ends.                                                  */
#define LEASE_FENCE_SQL \
    "SELECT 1 FROM lease WHERE name = 'active' AND holder = ?1 AND token = ?2" \
    " AND expires_at > clock_timestamp() FOR SHARE"

#endif
