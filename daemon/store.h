/*  store.h - the durable queue in SQLite (WAL, fsynced by store_commit).

    Signals, one delivery row per matching subscription, the batches the
    router signed, the partners' receipts and the audit chain live in one
    database, so that one transaction makes a signal and all its deliveries
    durable at once. The event loop opens a transaction lazily and commits
    it once per turn (group commit); nothing is acknowledged before that.
*/
#ifndef STORE_H_INCLUDED
#define STORE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>
#include "db.h"
#include "seinpost.h"

typedef struct store store_t;

typedef enum { DELIVERY_PENDING = 0, DELIVERY_DONE = 1, DELIVERY_DEAD = 2 } delivery_state_t;

typedef struct {
    const char *source;
    const char *ce_id;
    const char *type;
    const char *emitter;
    int64_t received_at;        /* Unix ms */
    const void *event;
    size_t event_len;
    const uint8_t *event_sha256;
    const char *key_id;
    const uint8_t *signature;   /* 64 bytes */
    const char *trace_id;       /* 32 hex */
    const char *subject_pseudonym;  /* or NULL */
} store_signal_t;

/*  One pending delivery with what a batch needs, read from disk in pages.
    source, id and type are as long as ingress accepted them (the limits
    are configurable): they are allocated, never cut, because the sealed
    event is bound to source and id and the partner must get them exact. */
typedef struct {
    int64_t id;
    int64_t signal_id;
    char subscription[128];     /* a configured name: at most 64 bytes */
    int64_t seq;
    int64_t created_at;
    int attempts;
    char *source;               /* malloc'ed */
    char *ce_id;                /* malloc'ed */
    char *type;                 /* malloc'ed */
    char key_id[SP_KEY_ID_SIZE + 1];
    uint8_t signature[SP_SIGNATURE_SIZE];
    uint8_t event_sha256[SP_SHA256_SIZE];
    char trace_id[33];
    void *event;                /* malloc'ed, NULL once purged */
    size_t event_len;
} store_pending_t;

/*  Opens (creating if needed) and checks the database. A file that is not
    a seinpost database, fails SQLite's quick_check or was written by a
    later release (a newer schema) is refused with a reason: the daemon
    must not run on a store it cannot trust. An older schema is migrated
    (schema.h); read-only, it is read as it is.                           */
store_t *store_open(const char *path, bool readonly, char *err, size_t errlen);
/*  The schema version the database was at when opened (0: it was new);
    store_open() brought it to SP_SCHEMA_VERSION (schema.h).             */
int store_schema_found(const store_t *self);
void store_destroy(store_t **self_p);
/*  The connection, for the queries of other subsystems (db.h).          */
db_t *store_conn(store_t *self);
/*  The SQLite connection, for code not yet on db.h; NULL on PostgreSQL. */
sqlite3 *store_db(store_t *self);
const char *store_errmsg(store_t *self);

/*  A transaction whose commit is fsynced before store_commit() returns:
    anything answered or acknowledged to someone. Joining an open relaxed
    transaction makes it durable.                                        */
int store_begin(store_t *self);         /* no-op when already open */
/*  PostgreSQL, nodes taking turns (lease.h): every transaction from now
    on begins by checking that holder still holds the lease with token;
    when it does not, the begin fails and store_fenced() is true.      */
int store_set_fence(store_t *self, const char *holder, int64_t token, int64_t ttl_ms);
bool store_fenced(const store_t *self);
/*  WAL frames after which a commit checkpoints (SQLite's own default).  */
#define STORE_CHECKPOINT_FRAMES 1000
/*  A transaction for bookkeeping that a power cut may take back without
    breaking a promise, because it is redone: delivery attempts and
    receipts (partners deduplicate by seq, protocol section 8). Its commit
    is not fsynced on its own; the next durable commit or store_sync()
    makes it durable.                                                    */
int store_begin_relaxed(store_t *self);
/*  Commits; fsyncs the WAL when the transaction was durable. -1 with the
    failure in store_errmsg() (a failed fsync is a storage failure).     */
int store_commit(store_t *self);        /* no-op when none open */
int store_sync(store_t *self);          /* fsyncs relaxed commits, if any */
bool store_unsynced(const store_t *self);
/*  True when the last failure was an fsync of the WAL: what was committed
    stays visible, but may be gone from the disk.                        */
bool store_sync_failed(const store_t *self);
void store_rollback(store_t *self);
bool store_in_transaction(const store_t *self);
/*  True when the last failure was the disk or the file, not the input.   */
bool store_failure_is_storage(const store_t *self);

/*  1 found (fills id and sha256), 0 not found, -1 error.                  */
int store_signal_find(store_t *self, const char *source, const char *ce_id,
                      int64_t *id, uint8_t sha256[SP_SHA256_SIZE]);
int store_signal_insert(store_t *self, const store_signal_t *signal, int64_t *id);
int store_delivery_insert(store_t *self, int64_t signal_id, const char *subscriber,
                          const char *subscription, int64_t seq, int64_t now);
/*  The id of the delivery the last store_delivery_insert() stored.      */
int64_t store_last_delivery_id(const store_t *self);

/*  Highest seq per (subscriber, subscription), for restarting counters.  */
typedef void (store_seq_fn)(const char *subscriber, const char *subscription,
                            int64_t max_seq, void *arg);
int store_each_max_seq(store_t *self, store_seq_fn *fn, void *arg);

/*  Up to max pending deliveries of subscriber with id > after, in id order.
    Returns the number read, -1 on error (out of memory: SQLITE_NOMEM).
    Free with store_pending_clear().                                      */
int store_pending_page(store_t *self, const char *subscriber, int64_t after,
                       int64_t upto, store_pending_t *out, int max);
void store_pending_clear(store_pending_t *rows, int count);
/*  Counts of pending deliveries and the oldest created_at (0 if none).   */
int store_pending_stats(store_t *self, const char *subscriber, int64_t *count,
                        int64_t *oldest);

int store_batch_insert(store_t *self, const char *subscriber, int64_t now,
                       const void *header, size_t header_len,
                       const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                       int64_t *batch_id);
/*  Marks one batch sent: the subscriber's pending rows with ids from
    first_id to last_id, which must be exactly the expected count (a
    batch is a run of consecutive pending rows; -1 otherwise).          */
int store_deliveries_sent(store_t *self, const char *subscriber, int64_t first_id,
                          int64_t last_id, int expected, int64_t batch_id, int64_t now);
int store_receipt_insert(store_t *self, const char *subscriber, int64_t now,
                         const void *body, size_t body_len,
                         const uint8_t sig[SP_SIGNATURE_SIZE], const char *key_id,
                         int64_t batch_id, int64_t *receipt_id);
/*  Marks the pending delivery (subscriber, subscription, seq) done under
    receipt_id and fills its ids and trace id. 1 when it was pending, 0
    when it is not (delivered already, dead-lettered, unknown), -1 on
    error.                                                               */
int store_delivery_ack(store_t *self, const char *subscriber, const char *subscription,
                       int64_t seq, int64_t receipt_id, int64_t batch_id, int64_t now,
                       int64_t *delivery_id, int64_t *signal_id, char trace_id[33]);
/*  A batch that could not be sent (the partner is not connected) is a try
    too: its rows' attempts go up and carry the error (2.1).            */
int store_deliveries_tried(store_t *self, const char *subscriber, int64_t first_id,
                           int64_t last_id, const char *error, int64_t now);
/*  Calls fn for each pending delivery of (subscriber, subscription) with
    seq <= through_seq, in seq order (a reload dead-letters them).       */
typedef int (store_delivery_fn)(int64_t delivery_id, int64_t signal_id,
                                int64_t seq, const char *trace_id, void *arg);
int store_each_pending_upto(store_t *self, const char *subscriber,
                            const char *subscription, int64_t through_seq,
                            store_delivery_fn *fn, void *arg);
int store_delivery_fail(store_t *self, int64_t delivery_id, const char *error);
int store_delivery_dead(store_t *self, int64_t delivery_id, const char *reason,
                        int64_t now);

#endif
