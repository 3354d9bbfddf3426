/*  sp_seen.h - a partner's durable record of what it handled
    (docs/protocol.md 8.4): the deliveries it handed on, by (router,
    subscription, seq) and by (router, subscription, source, id), and the
    batches it processed, by the SHA-256 of their header. Internal to
    libseinpost.

    SQLite in WAL mode. Each handled delivery is committed at once, without
    an fsync of its own: it survives the partner process being killed (the
    WAL is in the page cache), so a handler is never given a signal twice
    for that. sp_seen_batch_done() commits with an fsync, which makes every
    earlier commit durable too: the partner signs its receipt only after
    it returned 0, so a receipt never vouches for what a power cut could
    take back. Rows older than max_age are removed as time goes on.     */
#ifndef SP_SEEN_H_INCLUDED
#define SP_SEEN_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "seinpost.h"

typedef struct sp_seen sp_seen_t;

/*  Opens or creates path (mode 0600; a file that group or others may
    read is refused). path NULL: in memory, for tests and embedders that
    deduplicate themselves. NULL with err on failure.                   */
sp_seen_t *sp_seen_new(const char *path, int64_t max_age_ms, char *err, size_t errlen);
void sp_seen_destroy(sp_seen_t **self_p);
int64_t sp_seen_max_age(const sp_seen_t *self);

/*  1 when (router, subscription, seq) was handled, 0 when not, -1 error. */
int sp_seen_has_seq(sp_seen_t *self, const char *router, const char *subscription,
                    int64_t seq);
/*  1 when that seq, or (source, id) under that subscription, was handled. */
int sp_seen_has_delivery(sp_seen_t *self, const char *router, const char *subscription,
                         int64_t seq, const char *source, const char *id);
/*  Records one handled delivery (committed, not fsynced). 0 or -1.      */
int sp_seen_add(sp_seen_t *self, const char *router, const char *subscription,
                int64_t seq, const char *source, const char *id);
/*  1 when a batch with this header SHA-256 was processed before.        */
int sp_seen_has_batch(sp_seen_t *self, const uint8_t sha256[SP_SHA256_SIZE]);
/*  Records the batch as processed and fsyncs: from here on everything
    recorded is on disk. 0 or -1.                                        */
int sp_seen_batch_done(sp_seen_t *self, const uint8_t sha256[SP_SHA256_SIZE]);
/*  Keeps the router's chain head (seq, hash) that a batch's signed
    header carried, in the batch's commit: the newest per minute and
    router, never pruned (protocol.md 13.3; seinpost anchors). 0 or -1. */
int sp_seen_keep_anchor(sp_seen_t *self, const char *router, int64_t seq,
                        const uint8_t sha256[SP_SHA256_SIZE],
                        const uint8_t batch_sha256[SP_SHA256_SIZE]);
const char *sp_seen_errmsg(sp_seen_t *self);

#endif
