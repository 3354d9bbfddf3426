/*  redeliver.h - putting delivered or dead-lettered deliveries back in the
    queue, for whoever asked: an operator (admin.c, REDELIVER) or the
    partner itself (fetch.c, FETCH). Both go the same way, so that what a
    partner can ask for is never more than what an operator could do:

      redeliver_open()     prepared statements and room for cap rows;
      redeliver_collect()  steps a REDELIVER_SELECT query into the rows;
      redeliver_screen()   keeps what the subscription as configured now
                           still covers (its legal basis); every refused
                           delivery is audited (delivery.redeliver_refused);
      redeliver_apply()    each kept one gets the next delivery id and the
                           next seq of its subscription, at the back of the
                           queue, audited (delivery.redelivered);
      redeliver_close().

    Who asked is a JSON object whose members every audit event of the
    request carries ("operator", "operator_uid", ... or "requested_by",
    "request_id"). The caller commits (server_commit) before it answers. */
#ifndef REDELIVER_H_INCLUDED
#define REDELIVER_H_INCLUDED

#include "server.h"

/*  The columns redeliver_collect() reads; callers add WHERE and ORDER.   */
#define REDELIVER_SELECT \
    "SELECT d.id, d.signal_id, d.seq, d.created_at, d.state, s.event IS NULL," \
    " d.subscriber, d.subscription, s.trace_id" \
    " FROM deliveries d JOIN signals s ON s.id = d.signal_id"

typedef struct {
    int64_t id, signal_id, seq, created_at;
    int state;
    bool purged;
    char subscriber[128], subscription[128], trace_id[33];
} redeliver_row_t;

typedef struct {
    redeliver_row_t *rows;
    size_t count;
    size_t cap;                 /* rows it has room for */
    int64_t applied;
    int64_t already_pending;
    int64_t last_id;            /* the highest delivery id given out */
    int64_t first_seq, last_seq;    /* the new seqs given out, or 0 */
    bool more;                  /* the query had more than cap rows */
    json_t *skipped;            /* refused: id, subscription and why */
    json_t *moved;              /* old and new id and seq of each */
    json_t *requester;          /* borrowed: who asked, for the audit */
    db_stmt_t *signal;
    db_stmt_t *routed;
    char refusal[1024];         /* the first refused delivery, and why */
} redeliver_t;

/*  0, or -1 with err (out of memory, the store).                        */
int redeliver_open(redeliver_t *r, server_t *self, size_t cap, json_t *requester,
                   char *err, size_t errlen);
void redeliver_close(redeliver_t *r);
/*  Steps stmt (a REDELIVER_SELECT) into r->rows, counting each row in
    *found; pending ones are counted in already_pending, not kept. 0 or
    -1 (the store). A query with LIMIT r->cap + 1 (so that r->more is
    known without reading the rest) must exclude pending rows, which do
    not take a place in r->rows.                                        */
int redeliver_collect(redeliver_t *r, db_stmt_t *stmt, int *found);
/*  In id order and each once: the new seqs keep the old order.         */
void redeliver_sort_unique(redeliver_t *r);
/*  Keeps in r->rows what may go back to pending; each refused one goes to
    r->skipped, named with why, and is audited. 0, or -1 (the store).   */
int redeliver_screen(server_t *self, redeliver_t *r);
/*  Queues r->rows again and wakes their subscribers. 0, or -1 with the
    turn marked failed (it rolls back whole).                           */
int redeliver_apply(server_t *self, redeliver_t *r);

#endif
