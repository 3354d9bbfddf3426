/*  verify.h - offline verification of a seinpost database.

    Checks, in this order, and stops at the first broken item:
    1. the audit chain: seq contiguous from 1, every row's hash recomputed
       with audit_row_hash() over the previous row's hash;
    2. the checkpoints: node key id and signature over
       audit_checkpoint_bytes() (domain SP_DOMAIN_CHECKPOINT), chain_hash
       equal to the hash of the row at audit_seq, seqs increasing, and the
       chain not ending below any checkpoint (truncation);
    2a. the coverage (verify_cover.c): every stretch of the chain was
       pinned by a checkpoint by the time the daemon had to write one;
    3. the signals: the stored SHA-256 is the one the signal's received
       (or accepted) audit event recorded; unless purged, the sealed payload opens with
       the node secret, hashes to it, and the emitter's signature verifies
       (without a vault, counted in sealed_skipped instead);
    4. the batches: router signature (SP_DOMAIN_BATCH) by the node key,
       every entry's hash and emitter signature equal to the stored signal's,
       and the anchor the header carries (seq, chain hash) in the chain;
    5. the receipts: signature (SP_DOMAIN_RECEIPT) by the subscriber's
       configured key, the body names that subscriber, and the stored
       batch it answers still hashes to the batch_sha256 it countersigned;
    6. the rows the chain names (verify_named.c): every signal an event
       names is stored, and where the event recorded its source, id,
       type, emitter, key_id, SHA-256, received_at, trace_id or subject
       pseudonym, the row
       still holds it; every batch a delivery.attempt and every receipt
       a delivery.receipt names is stored for that subscriber; every
       delivery a routed, attempt, receipt, dead-letter or redelivered
       event names by (subscriber, subscription, seq) is stored with that
       signal (and id, where recorded), unless a later redelivery moved it;
       and the reverse: every delivery row was put at its key by a routed
       or redelivered event, is delivered only with a receipt event,
       dead-lettered only with its event, and not pending after either;
    7. the anchors, when given: checkpoints (seq, chain hash) kept outside
       the database, e.g. from the daemon's log, must be in the chain. This
       is the only check that catches a tail cut off together with the
       checkpoints that covered it.
    After a key rotation, signatures by a party's earlier key verify when
    the configuration lists that key in its previous_public_keys (node,
    emitter or subscriber); they are counted in by_previous_key. A node
    key that is in neither place is broken; an emitter's or subscriber's
    signature whose key is not configured (the party removed, or its old
    key not listed) cannot be checked: it is counted as unchecked, with
    the first one named, and counts as broken only in strict mode.

    Everything is read inside one read transaction, so a running daemon
    does not change the snapshot. Messages name rows by number and never
    quote payloads.
*/
#ifndef VERIFY_H_INCLUDED
#define VERIFY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "vault.h"

enum { VERIFY_OK = 0, VERIFY_BROKEN = 1, VERIFY_ERROR = -1 };

typedef struct {
    int64_t events;             /* audit rows checked */
    int64_t last_seq;           /* chain end */
    int64_t checkpoints;
    int64_t checkpointed_seq;   /* highest seq a checkpoint covers */
    int64_t signals;            /* emitter signatures verified */
    int64_t purged;             /* purged payloads checked by hash only */
    int64_t batches;
    int64_t receipts;
    int64_t anchors;            /* expected checkpoints found in the chain */
    int64_t anchored;           /* batch headers whose anchor is in the chain */
    int64_t countersigned;      /* receipts countersigning such a header */
    int64_t countersigned_seq;  /* the newest head a partner countersigned */
    int64_t uncovered;          /* --lenient: stretches without a checkpoint */
    int64_t relays;             /* hops from upstream nodes verified */
    int64_t relays_unchecked;   /* upstream batches of an upstream not configured */
    char first_uncovered[256];
    int64_t by_previous_key;    /* of those, made with a rotated-out key */
    int64_t unchecked;          /* signatures whose key is not configured */
    char first_unchecked[256];  /* which, and why */
    int64_t sealed_skipped;     /* stored payloads not opened: no vault */
} verify_counts_t;

/*  Progress of a phase ("audit chain", "signals"...); done of total rows. */
typedef void (verify_progress_fn)(const char *phase, int64_t done, int64_t total,
                                  void *arg);

/*  A checkpoint kept outside the database: the chain must hold it.      */
typedef struct {
    int64_t seq;
    uint8_t hash[SP_SHA256_SIZE];
} verify_anchor_t;

typedef struct {
    db_t *db;
    const sp_key_t *node_key;   /* checkpoints and batches */
    const config_t *config;     /* emitter and subscriber keys; may be NULL
                                   when only chain and checkpoints run */
    const vault_t *vault;       /* opens sealed payloads; NULL (no access to
                                   the node secret): they are counted in
                                   sealed_skipped, not checked */
    bool strict;                /* an unchecked signature is broken */
    bool lenient;               /* a missing checkpoint is counted, not broken */
    const verify_anchor_t *anchors; /* or NULL */
    size_t anchor_count;
    verify_progress_fn *progress;   /* or NULL */
    void *progress_arg;
} verify_input_t;

/*  Shared by verify.c and verify_named.c: VERIFY_BROKEN with the reason
    written to why, and VERIFY_ERROR for a database that cannot be read. */
int verify_broken(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int verify_sql_error(const verify_input_t *in, char *why, size_t whylen);

/*  Each returns VERIFY_OK, VERIFY_BROKEN with the first broken item in
    why, or VERIFY_ERROR with the reason in why.                          */
int verify_chain(const verify_input_t *in, verify_counts_t *counts,
                 char *why, size_t whylen);
int verify_checkpoints(const verify_input_t *in, verify_counts_t *counts,
                       char *why, size_t whylen);
/*  verify_cover.c: no stretch of the chain went without a checkpoint
    past the time one was due (counted instead with in->lenient).       */
int verify_coverage(const verify_input_t *in, verify_counts_t *counts,
                    char *why, size_t whylen);
int verify_signals(const verify_input_t *in, verify_counts_t *counts,
                   char *why, size_t whylen);
int verify_batches(const verify_input_t *in, verify_counts_t *counts,
                   char *why, size_t whylen);
int verify_receipts(const verify_input_t *in, verify_counts_t *counts,
                    char *why, size_t whylen);
/*  Reads the tables it checks once each, through their keys; uses a
    TEMP table, so the connection may be read-only.                     */
int verify_named(const verify_input_t *in, verify_counts_t *counts,
                 char *why, size_t whylen);
/*  verify_relays.c: the hops from upstream nodes (protocol.md 16.3).    */
int verify_relays(const verify_input_t *in, verify_counts_t *counts,
                  char *why, size_t whylen);
/*  Needs verify_chain() to have run (counts->last_seq).                 */
int verify_anchors(const verify_input_t *in, verify_counts_t *counts,
                   char *why, size_t whylen);
/*  All seven in order, in one read transaction.                          */
int verify_all(const verify_input_t *in, verify_counts_t *counts,
               char *why, size_t whylen);

#endif
