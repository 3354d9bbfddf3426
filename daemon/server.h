/*  server.h - the daemon's state, shared by its subsystems.

    One thread runs one event loop (server.c), as in Redis: poll, handle
    what arrived, commit once (group commit), then reply and dispatch.
*/
#ifndef SERVER_H_INCLUDED
#define SERVER_H_INCLUDED

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "flood.h"
#include "metrics.h"
#include "store.h"
#include "vault.h"
#include "verifier.h"

#define SERVER_INGRESS_BURST 1024   /* messages handled per loop turn */
/*  On PostgreSQL each statement is a round trip: 1 024 EMITs took 1-2 s
    on a loaded machine, one transaction holding the lease row past the
    time to renew it. 128 keep a transaction near a tenth of a second.  */
#define SERVER_INGRESS_BURST_PG 128
#define SERVER_BATCH_MAX 32         /* signals per DELIVER message */

/*  A reply waiting for the commit that makes its signal durable.         */
typedef struct emit emit_t;   /* one EMIT being handled (ingress.c) */
typedef struct upstream_link upstream_link_t;   /* the node link (upstream.c) */

typedef struct {
    uint8_t identity[256];
    size_t identity_len;
    char correlation[65];
    sp_code_t code;
    char reason[200];
    bool accepted;
    int64_t arrived_us;         /* monotonic, for the latency histogram */
} reply_t;

/*  One in-flight delivery. */
typedef struct {
    int64_t delivery_id;
    int64_t signal_id;
    int64_t seq;
    int64_t batch_id;
    int64_t sent_at;            /* monotonic ms */
    int64_t created_at;         /* wall ms the delivery was stored */
    char subscription[128];
    char trace_id[33];
} inflight_t;

/*  One batch sent to a subscriber, remembered by the SHA-256 of its
    header, which is how a RECEIPT or NACK names it: a receipt may
    acknowledge only entries this batch carried (docs/protocol.md 7.1). */
typedef struct {
    uint8_t sha256[SP_SHA256_SIZE];
    int64_t batch_id;           /* batches.id */
    int count;
    int16_t subscription[SERVER_BATCH_MAX];     /* index into conf->subs */
    int64_t seq[SERVER_BATCH_MAX];
    int64_t signal_id[SERVER_BATCH_MAX];
    bool refusal_audited;       /* a refused receipt for it is in each
                                   signal's timeline once, not per copy */
    bool answered;              /* a receipt for it was accepted: one is
                                   stored per batch, a repeat refused */
} sent_batch_t;

/*  Batches remembered beyond those a full window can hold in flight, so
    that a receipt arriving after the router went back is still taken.  */
#define SERVER_SENT_EXTRA 192

/*  Per subscriber delivery state; the backlog itself stays on disk.      */
typedef struct {
    char *name;
    const subscriber_t *conf;   /* into the current config */
    void *socket;               /* DEALER, connects to the partner */
    inflight_t *inflight;       /* window entries, oldest first */
    int inflight_count;
    sent_batch_t *sent;         /* ring of the last sent_size batches */
    int sent_size;
    int sent_next;              /* slot the next batch takes */
    int64_t cursor;             /* highest delivery id sent */
    int64_t next_send_at;       /* monotonic ms; backoff gate */
    int64_t stored;             /* deliveries routed to it since start-up */
    int64_t hold_until;         /* monotonic ms; a partial batch lingers */
    int64_t hold_mark;          /* stored when it began */
    int hold_count;             /* deliveries the held batch had */
    int failures;               /* consecutive failed attempts */
    bool more_pending;          /* last page was full: look again soon */
    int64_t delivered;
    int64_t dead;
    int64_t uncommitted_delivered;  /* of the open transaction (see below) */
    int64_t uncommitted_dead;
    int64_t failed_attempts;
    int64_t last_success_ms;    /* wall clock */
    char last_error[160];
    char last_refusal[160];     /* why the last receipt was refused, until
                                   one is accepted */
    int64_t last_alert_ms;      /* monotonic */
    flood_t noise;              /* refused or ignored partner messages,
                                   per interval (receipt.c) */
    /* fetch.c: the last FETCH served, for the partner's rate limit */
    int64_t fetch_at;           /* monotonic ms; 0: none since start */
    const char *fetch_subscription;     /* into conf */
    int64_t fetch_first_seq, fetch_last_seq;    /* what it queued */
} sub_state_t;

/*  Next sequence number per (subscriber, subscription).                  */
typedef struct {
    char *subscriber;
    char *subscription;
    int64_t next_seq;
} seq_counter_t;

typedef struct {
    int64_t received, accepted, duplicates, rejected, delivered, dead;
    int64_t connections_refused;
    int64_t replies_dropped;        /* emitter gone or not reading */
    int64_t rejected_by_code[SP_CODE_COUNT];
    histogram_t ack_latency;
    histogram_t receipt_latency;
} server_stats_t;

/*  What the open transaction did, added to the counters once it commits:
    after a rolled-back turn the metrics do not count work that is gone.  */
typedef struct {
    int64_t accepted, duplicates, delivered, dead;
    histogram_t receipt_latency;
} uncommitted_t;

typedef struct server {
    config_t *config;
    store_t *store;
    audit_t *audit;
    vault_t *vault;
    void *zmq;
    void *ingress;              /* ROUTER, emitters connect */
    void *admin;                /* ROUTER on ipc://, operators */
    void *zap;                  /* REP on inproc: CURVE handshakes */
    void *zap_monitor;          /* PAIR: failed ingress handshakes */
    void *http;                 /* metrics endpoint (libmicrohttpd) */
    struct upstream_link *upstream;     /* the node link, or NULL (upstream.c) */
    int64_t zap_minute;         /* rate limit of refusal audits */
    int zap_audited;
    reply_t *replies;
    emit_t *emits;              /* this turn's EMITs */
    verify_job_t *verify_jobs;
    verifier_t *verifier;
    size_t reply_count;
    size_t ingress_burst;           /* EMITs taken per transaction */
    int *emitter_in_flight;     /* unanswered EMITs per emitter this turn */
    sub_state_t *subs;
    size_t sub_count;
    seq_counter_t *seqs;
    size_t seq_count;
    int64_t committed_delivery_id;  /* dispatch reads nothing newer */
    int64_t written_delivery_id;    /* newest in the open transaction */
    bool dispatch_wanted;
    bool poll_items_stale;      /* a partner socket was replaced */
    bool tx_failed;                 /* roll the turn back, reject it */
    bool storage_paused;            /* disk failing: no writes this turn */
    bool storage_fatal;             /* a WAL fsync failed: stop, answer nothing */
    struct lease *lease;            /* PostgreSQL: this node's turn (lease.h), or NULL */
    bool deposed;                   /* the lease is gone: stop, write and send nothing */
    int storage_failures;           /* consecutive failed transactions */
    int64_t storage_retry_at;       /* monotonic ms of the next probe */
    int64_t ingress_served_us;      /* monotonic µs of the last drain */
    int64_t unsynced_since;         /* monotonic ms of the oldest relaxed
                                       commit not yet fsynced, or 0 */
    flood_t ingress_log;            /* rate limit of rejection log lines */
    int64_t next_checkpoint_at;
    int64_t next_purge_at;
    server_stats_t stats;
    uncommitted_t uncommitted;
    volatile sig_atomic_t stop;
    volatile sig_atomic_t reload;
} server_t;

/*  server.c */
server_t *server_new(const char *config_path, char *err, size_t errlen);
void server_destroy(server_t **self_p);
int server_run(server_t *self);
/*  One turn without waiting, every socket read as if ready: for the fuzz
    harnesses. Returns -1 when the turn's transaction failed.           */
int server_turn_now(server_t *self, bool dispatch);
/*  Commits the turn's transaction now (persist before reply); on failure
    rolls back and turns queued ACCEPTED replies into STORAGE refusals;
    when the fsync after the commit failed, drops every queued reply and
    stops the router (nothing can be rolled back then). Returns -1 then. */
int server_commit(server_t *self);
/*  Between pieces of delivery work: serves the EMITs waiting on the
    ingress socket (stored, committed, answered) unless they were served
    less than LOOP_INGRESS_GAP_US ago.                                  */
void server_ingress_first(server_t *self);
int64_t server_next_seq(server_t *self, const char *subscriber,
                        const char *subscription);
int server_reload_seqs(server_t *self);
/*  reload.c: when the node key differs from the one that signed the last
    checkpoint, a node.key_changed audit event and a checkpoint by the new
    key (inside the open transaction), and a log line, a warning when
    verify would not know the old key (not in node.previous_public_keys).
    Run at every reload and before every checkpoint of the loop (the
    first comes at once at start), so that a change whose event was
    rolled back is recorded later.                                     */
void server_note_key_change(server_t *self);
/*  (Re)sizes per-emitter state for the current configuration.          */
int server_size_emitters(server_t *self);

/*  ingress.c: every EMIT waiting (up to a burst); queues their replies.  */
void ingress_drain(server_t *self);
/*  A signal an upstream node delivered (upstream.c), whose emitter
    signature the node link verified: the checks of an EMIT after the
    signature (envelope, authorisation, duplicate; not the clock), then
    stored and routed into the open transaction. Returns the code and
    fills reply as for an EMIT; a refusal is audited as one.           */
sp_code_t ingress_relayed(server_t *self, const emitter_t *emitter, const char *key_id,
                          const uint8_t *event, size_t len, const uint8_t *signature,
                          reply_t *reply);
emit_t *ingress_emits_new(size_t count);
/*  After a failed commit: every queued ACCEPTED becomes REJECTED STORAGE.  */
void ingress_fail_replies(server_t *self, const char *reason);
void ingress_send_replies(server_t *self);

/*  deliver.c */
/*  The delivery state for every subscriber of config, each socket open
    (not yet installed), or NULL with err naming the subscriber and the
    reason and nothing left open: all partners or none, so a reload that
    cannot open one keeps every partner on its old socket.             */
sub_state_t *deliver_prepare(server_t *self, const config_t *config,
                             char *err, size_t errlen);
/*  Closes and frees what deliver_prepare returned (count entries).     */
void deliver_discard(sub_state_t *subs, size_t count);
/*  Tears down the current delivery state and installs subs in its place;
    self->config must already be the configuration they were prepared for. */
void deliver_install(server_t *self, sub_state_t *subs, size_t count);
/*  At start-up: prepare and install; -1 with err set.                  */
int deliver_setup(server_t *self, char *err, size_t errlen);
void deliver_teardown(server_t *self);
void deliver_handle_socket(server_t *self, sub_state_t *sub);
void deliver_timers(server_t *self, int64_t now);
void deliver_dispatch(server_t *self, int64_t now);
void deliver_reset_all(server_t *self);
/*  Milliseconds until the next delivery timer, or -1 when none.         */
int64_t deliver_next_timer(server_t *self, int64_t now);
sub_state_t *deliver_sub(server_t *self, const char *name);
/*  The configured subscription of that name, or NULL.                  */
const subscription_t *deliver_subscription(const subscriber_t *conf, const char *name);

/*  admin.c */
void admin_handle(server_t *self);

#endif
