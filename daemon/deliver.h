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
/*  The header of a DELIVER (docs/protocol.md 6.2) for rows of one
    subscriber, prev[i] the seq before row i still unacknowledged (or 0),
    or NULL (out of memory, a row whose subscription is gone).           */
char *deliver_batch_header(const char *router, const char *router_key,
                           const subscriber_t *conf, const store_pending_t *rows,
                           const int64_t *prev, int count, int64_t batch_no,
                           const char *sent_at);
/*  The remembered batch whose header has this SHA-256, or NULL.         */
sent_batch_t *deliver_sent_batch(const sub_state_t *sub,
                                 const uint8_t sha256[SP_SHA256_SIZE]);
/*  True while some entry of the batch is in flight.                     */
bool deliver_batch_in_flight(const sub_state_t *sub, const sent_batch_t *batch);
void deliver_attempt_failed(server_t *self, sub_state_t *sub, int64_t now,
                            const char *error);
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
