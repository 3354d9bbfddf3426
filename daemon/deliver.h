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

/*  Builds, signs and sends one DELIVER of rows; records the batch and the
    attempt. Returns -1 when the partner is not connected (nothing sent). */
int deliver_send_batch(server_t *self, sub_state_t *sub, store_pending_t *rows,
                       int count, int64_t now);
/*  The header of a DELIVER (docs/protocol.md 6.2) for rows of one
    subscriber, or NULL (out of memory, a row whose subscription is gone). */
char *deliver_batch_header(const char *router, const char *router_key,
                           const subscriber_t *conf, const store_pending_t *rows,
                           int count, int64_t batch_no, const char *sent_at);
void deliver_attempt_failed(server_t *self, sub_state_t *sub, int64_t now,
                            const char *error);
/*  Runs the configured alert command for a dead-lettered delivery, at most
    once per subscriber per alert interval. No personal data is passed.  */
void deliver_alert(server_t *self, sub_state_t *sub, const store_pending_t *row,
                   const char *reason);

#endif
