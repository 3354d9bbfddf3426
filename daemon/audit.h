/*  audit.h - append-only audit trail with a SHA-256 hash chain.

    Every step of a signal's life is one row in table audit, written in the
    same transaction as the state change it records. Row n's hash covers
    row n-1's hash and row n's canonical bytes (docs/protocol.md, offline verification); signed
    checkpoints pin (seq, hash) with the node's Ed25519 key, so deleting or
    editing rows, or truncating the tail, is detectable offline.
*/
#ifndef AUDIT_H_INCLUDED
#define AUDIT_H_INCLUDED

#include <jansson.h>
#include "seinpost.h"
#include "store.h"

typedef struct audit audit_t;

/*  Event kinds. */
#define AUDIT_DAEMON_START      "daemon.start"
#define AUDIT_DAEMON_STOP       "daemon.stop"
#define AUDIT_CONFIG_LOADED     "config.loaded"
#define AUDIT_CONFIG_REJECTED   "config.rejected"
#define AUDIT_SIGNAL_RECEIVED   "signal.received"   /* before audit rows version 3 */
#define AUDIT_SIGNAL_REJECTED   "signal.rejected"
#define AUDIT_SIGNAL_ACCEPTED   "signal.accepted"
#define AUDIT_SIGNAL_DUPLICATE  "signal.duplicate"
/*  Per-delivery events: rows before audit rows version 3, since then
    entries of signal.accepted, batch.sent and batch.receipt rows that
    readers expand (AUDIT_EVENTS_SQL).                                 */
#define AUDIT_ROUTED            "delivery.routed"
#define AUDIT_ATTEMPT           "delivery.attempt"
#define AUDIT_RECEIPT           "delivery.receipt"
#define AUDIT_RECEIPT_REJECTED  "receipt.rejected"
#define AUDIT_PARTNER_REFUSALS  "partner.refusals"  /* per interval, those not one by one */
#define AUDIT_RETRY             "delivery.retry"
#define AUDIT_DEAD              "delivery.deadlettered"
#define AUDIT_REDELIVERED       "delivery.redelivered"
#define AUDIT_REDELIVER_REFUSED "delivery.redeliver_refused"
#define AUDIT_PURGED            "signal.purged"
#define AUDIT_CONNECTION_REFUSED "connection.refused"
#define AUDIT_ALERT             "alert.run"
#define AUDIT_NODE_KEY_CHANGED  "node.key_changed"
#define AUDIT_RELAYED           "signal.relayed"
#define AUDIT_RELAY_REFUSED     "signal.relay_refused"
#define AUDIT_BATCH_SENT        "batch.sent"      /* one per batch: its deliveries */
#define AUDIT_BATCH_RECEIPT     "batch.receipt"   /* one per receipt: those it settled */

/*  The chain's events, one row per delivery event: what readers (verify,
    audit show/list, redeliver) ask about. Since audit rows version 3 a
    signal's routes live in its signal.accepted row, and a batch's sends
    and a receipt's acknowledgements in one batch.sent and one
    batch.receipt row (docs/protocol.md 13.1); this expands them into
    delivery.routed, delivery.attempt and delivery.receipt rows with the
    members those rows had before, so that databases of either version
    read the same. Columns: seq, part (0 for a stored row, 1.. for the
    entries of one), ts, kind, trace_id, signal_id, subscriber, detail.
    where is a condition on the stored row "a" (e.g. "a.seq >= ?1"),
    applied in each arm; a numbered parameter binds in all of them.     */
#define AUDIT_EVENTS_SQL(where) \
    "SELECT a.seq, 0 AS part, a.ts, a.kind, a.trace_id, a.signal_id, a.subscriber," \
    " a.detail FROM audit a WHERE a.kind NOT IN ('" AUDIT_BATCH_SENT "', '" \
    AUDIT_BATCH_RECEIPT "') AND (" where ")" \
    " UNION ALL SELECT a.seq, 1 + r.key, a.ts, '" AUDIT_ROUTED "', a.trace_id," \
    " a.signal_id, json_extract(r.value, '$.subscriber'), json_remove(r.value, '$.subscriber')" \
    " FROM audit a, json_each(a.detail, '$.routes') r" \
    " WHERE a.kind = '" AUDIT_SIGNAL_ACCEPTED "' AND (" where ")" \
    " UNION ALL SELECT a.seq, 1 + e.key, a.ts, '" AUDIT_ATTEMPT "', s.trace_id," \
    " e.value ->> 0, a.subscriber, json_object('subscription', e.value ->> 1," \
    " 'seq', e.value ->> 2, 'attempt', e.value ->> 3, 'batch_id', a.detail ->> 'batch_id'," \
    " 'outcome', a.detail ->> 'outcome')" \
    " FROM audit a, json_each(a.detail, '$.entries') e LEFT JOIN signals s" \
    " ON s.id = e.value ->> 0 WHERE a.kind = '" AUDIT_BATCH_SENT "' AND (" where ")" \
    " UNION ALL SELECT a.seq, 1 + e.key, a.ts, '" AUDIT_RECEIPT "', s.trace_id," \
    " e.value ->> 1, a.subscriber, json_object('subscription', e.value ->> 2," \
    " 'seq', e.value ->> 3, 'receipt_id', a.detail ->> 'receipt_id', 'delivery_id'," \
    " e.value ->> 0, 'batch_id', a.detail ->> 'batch_id', 'received_at'," \
    " a.detail ->> 'received_at')" \
    " FROM audit a, json_each(a.detail, '$.entries') e LEFT JOIN signals s" \
    " ON s.id = e.value ->> 1 WHERE a.kind = '" AUDIT_BATCH_RECEIPT "' AND (" where ")"

/*  The same on PostgreSQL. Its entries are read as json, not jsonb,
    which keeps members in the order they were written: an expanded
    event's detail has its members in SQLite's order (audit list prints
    them in that order), with members keeping their JSON types and
    PostgreSQL's spacing (json_build_object, json_object_agg).        */
#define AUDIT_EVENTS_SQL_PG(where) \
    "SELECT a.seq, 0 AS part, a.ts, a.kind, a.trace_id, a.signal_id, a.subscriber," \
    " a.detail FROM audit a WHERE a.kind NOT IN ('" AUDIT_BATCH_SENT "', '" \
    AUDIT_BATCH_RECEIPT "') AND (" where ")" \
    " UNION ALL SELECT a.seq, r.n, a.ts, '" AUDIT_ROUTED "', a.trace_id, a.signal_id," \
    " r.v ->> 'subscriber', COALESCE((SELECT json_object_agg(m.k, m.v ORDER BY m.i)" \
    " FROM json_each(r.v) WITH ORDINALITY m(k, v, i) WHERE m.k <> 'subscriber')," \
    " '{}')::text FROM audit a CROSS JOIN LATERAL" \
    " json_array_elements(a.detail::json -> 'routes') WITH ORDINALITY r(v, n)" \
    " WHERE a.kind = '" AUDIT_SIGNAL_ACCEPTED "' AND (" where ")" \
    " UNION ALL SELECT a.seq, e.n, a.ts, '" AUDIT_ATTEMPT "', s.trace_id," \
    " (e.v ->> 0)::bigint, a.subscriber, json_build_object('subscription', e.v -> 1," \
    " 'seq', e.v -> 2, 'attempt', e.v -> 3, 'batch_id', a.detail::json -> 'batch_id'," \
    " 'outcome', a.detail::json -> 'outcome')::text FROM audit a CROSS JOIN LATERAL" \
    " json_array_elements(a.detail::json -> 'entries') WITH ORDINALITY e(v, n)" \
    " LEFT JOIN signals s ON s.id = (e.v ->> 0)::bigint" \
    " WHERE a.kind = '" AUDIT_BATCH_SENT "' AND (" where ")" \
    " UNION ALL SELECT a.seq, e.n, a.ts, '" AUDIT_RECEIPT "', s.trace_id," \
    " (e.v ->> 1)::bigint, a.subscriber, json_build_object('subscription', e.v -> 2," \
    " 'seq', e.v -> 3, 'receipt_id', a.detail::json -> 'receipt_id', 'delivery_id'," \
    " e.v -> 0, 'batch_id', a.detail::json -> 'batch_id', 'received_at'," \
    " a.detail::json -> 'received_at')::text FROM audit a CROSS JOIN LATERAL" \
    " json_array_elements(a.detail::json -> 'entries') WITH ORDINALITY e(v, n)" \
    " LEFT JOIN signals s ON s.id = (e.v ->> 1)::bigint" \
    " WHERE a.kind = '" AUDIT_BATCH_RECEIPT "' AND (" where ")"

/*  The routing of one delivery, as the chain recorded it: seq, ts, detail
    and part of the first delivery.routed event of ?1 signal, ?2
    subscriber, ?3 subscription (redelivery and the Logboek export).   */
#define AUDIT_FIRST_ROUTED_SQL \
    "SELECT seq, ts, detail, part FROM (" AUDIT_EVENTS_SQL("a.signal_id = ?1") ") ev" \
    " WHERE kind = '" AUDIT_ROUTED "' AND subscriber = ?2" \
    " AND json_extract(detail, '$.subscription') = ?3 ORDER BY seq, part LIMIT 1"
#define AUDIT_FIRST_ROUTED_SQL_PG \
    "SELECT seq, ts, detail, part FROM (" AUDIT_EVENTS_SQL_PG("a.signal_id = ?1") ") ev" \
    " WHERE kind = '" AUDIT_ROUTED "' AND subscriber = ?2" \
    " AND detail::jsonb ->> 'subscription' = ?3 ORDER BY seq, part LIMIT 1"

/*  Canonical bytes of a row, exactly what the chain hash covers:
    prev_hash (32 bytes) || "<seq>\n<ts>\n<kind>\n<trace_id>\n<signal_id>\n
    <subscriber>\n<detail>" with empty strings for NULL and decimal numbers. */
void audit_row_hash(const uint8_t prev[SP_SHA256_SIZE], int64_t seq, int64_t ts,
                    const char *kind, const char *trace_id, int64_t signal_id,
                    const char *subscriber, const char *detail,
                    uint8_t out[SP_SHA256_SIZE]);
/*  Checkpoint signed bytes: "<audit_seq>\n<hex chain hash>\n<ts>".        */
int audit_checkpoint_bytes(int64_t audit_seq, const uint8_t hash[SP_SHA256_SIZE],
                           int64_t ts, char *buf, size_t len);

audit_t *audit_new(store_t *store, const sp_key_t *key, char *err, size_t errlen);
void audit_destroy(audit_t **self_p);
/*  Appends an event; takes ownership of detail (may be NULL). Must run
    inside a store transaction.                                           */
int audit_append(audit_t *self, const char *kind, const char *trace_id,
                 int64_t signal_id, const char *subscriber, json_t *detail);
/*  The same with the detail already JSON text (compact, ASCII): for the
    per-delivery events, whose fields are numbers and configured names.  */
int audit_append_text(audit_t *self, const char *kind, const char *trace_id,
                      int64_t signal_id, const char *subscriber, const char *detail);
/*  Re-reads the chain head after a rollback.                             */
int audit_resync(audit_t *self);
/*  Writes a signed checkpoint if events were added since the last one.   */
int audit_checkpoint(audit_t *self);
/*  After the transaction commits: logs the checkpoint it wrote, if any,
    as "audit checkpoint SEQ:HEXHASH" at NOTICE. The checkpoints table is
    not chained, so cutting the tail together with the checkpoints that
    covered it leaves a database that verifies; the journal keeps these
    lines outside it, for verify --expect-checkpoint.                  */
void audit_committed(audit_t *self);
int64_t audit_last_seq(const audit_t *self);
/*  After the commits so far are fsynced: their head becomes the anchor.  */
void audit_synced(audit_t *self);
/*  The newest chain head on disk, (seq, hash(seq)): what a batch header
    carries for the partner to countersign (docs/protocol.md 13.3).    */
int64_t audit_anchor(const audit_t *self, uint8_t hash[SP_SHA256_SIZE]);
/*  The key checkpoints are signed with; borrowed: a reload that replaces
    the configuration must hand over the new one before freeing the old. */
void audit_set_key(audit_t *self, const sp_key_t *key);
/*  1 when the newest checkpoint was signed by another key than the one
    set (the node key was rotated since), its key id copied to from; 0
    when not (or no checkpoint yet); -1 on a database error.           */
int audit_key_rotated(audit_t *self, char *from, size_t fromlen);

#endif
