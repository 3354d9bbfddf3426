/*  deliver.h - internals shared by the delivery scheduler (deliver.c),
    batch building (batch.c), receipt handling (receipt.c) and alerts
    (alert.c). The scheduler's entry points are in server.h.             */
#ifndef DELIVER_H_INCLUDED
#define DELIVER_H_INCLUDED

#include "server.h"

/*  A partner's RECEIPT or NACK, all frames together (docs/protocol.md 7). */
#define DELIVER_REPLY_MAX_BYTES 65536
/*  Replies ZeroMQ may hold unread per partner: about one per batch of a
    full window, with room to spare; past it the partner's sends wait.  */
#define DELIVER_REPLY_HWM 256
/*  What a partner sends that is refused or ignored (a refused receipt, a
    NACK for a batch not in flight, a malformed or unknown message) is
    written one by one, log line and audit event, only up to
    DELIVER_NOISE_PER_INTERVAL times per subscriber per
    DELIVER_NOISE_INTERVAL_MS; the rest is counted and audited as one
    partner.refusals event when the interval is over, so a partner
    flooding the router costs a bounded number of rows and lines per
    interval (docs/protocol.md 7.3). 10 leaves room for the bad-input
    catalogue's six refused receipts within one interval.               */
#define DELIVER_NOISE_INTERVAL_MS 10000
#define DELIVER_NOISE_PER_INTERVAL 10
/*  The dead-letter reason of a delivery whose event does not open.      */
#define DELIVER_UNOPENABLE "sealed payload does not open with this node's secret"

/*  Opens the sealed event of row into *plain (malloc'ed, *len bytes).
    0; -1 when it does not open with this node's secret for the row's
    source and id; -2 when out of memory. Failures are logged.           */
int deliver_open_event(server_t *self, const sub_state_t *sub, const store_pending_t *row,
                       void **plain, size_t *len);
/*  Builds, signs and sends one DELIVER of rows with their opened events;
    records the batch and the attempt. On failure nothing was sent, the
    attempt counts as failed with its cause, and it returns -1.          */
int deliver_send_batch(server_t *self, sub_state_t *sub, store_pending_t *rows,
                       void *const *plain, const size_t *plain_len, int count,
                       int64_t now);
/*  What a DELIVER header says besides its entries.                     */
typedef struct {
    const char *router, *router_key, *sent_at;
    int64_t batch_no;
    int64_t anchor_seq;                 /* the audit chain head on disk */
    const uint8_t *anchor_sha256;       /* its hash, SP_SHA256_SIZE bytes */
} deliver_header_t;
/*  The header of a DELIVER (docs/protocol.md 6.2) for rows of one
    subscriber, prev[i] the seq before row i still unacknowledged (or 0),
    or NULL (out of memory, a row whose subscription is gone).           */
char *deliver_batch_header(const deliver_header_t *h, const subscriber_t *conf,
                           const store_pending_t *rows, const int64_t *prev, int count);
/*  The remembered batch whose header has this SHA-256, or NULL.         */
sent_batch_t *deliver_sent_batch(const sub_state_t *sub,
                                 const uint8_t sha256[SP_SHA256_SIZE]);
/*  True while some entry of the batch is in flight.                     */
bool deliver_batch_in_flight(const sub_state_t *sub, const sent_batch_t *batch);
void deliver_attempt_failed(server_t *self, sub_state_t *sub, int64_t now,
                            const char *error);
/*  receipt.c: writes the partner.refusals event (and its log line) that
    sub's noise owes now that its interval is over, or at once with force
    (stopping); then counts afresh.                                     */
void receipt_noise_flush(server_t *self, sub_state_t *sub, int64_t now, bool force);
/*  Milliseconds until receipt_noise_flush has work for sub, or -1.      */
int64_t receipt_noise_wait_ms(const sub_state_t *sub, int64_t now);
/*  Replaces the partner socket. libzmq ends a connection for good after
    a protocol error (a frame over ZMQ_MAXMSGSIZE, say): the socket never
    connects again and every attempt fails as "not connected". A fresh
    socket from the second such failure in a row on recovers from that;
    for a partner that is simply down it costs one socket per backoff.  */
void deliver_socket_reopen(server_t *self, sub_state_t *sub);
/*  Runs the configured alert command for a dead-lettered delivery, at most
    once per subscriber per alert interval. No personal data is passed.  */
void deliver_alert(server_t *self, sub_state_t *sub, const store_pending_t *row,
                   const char *reason);

#endif
