/*  loop.c - the event loop: persist before reply, as Redis's beforeSleep. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"
#include "lease.h"
#include "purge.h"
#include "reload.h"
#include "server.h"
#include "sp_proto.h"
#include "sp_util.h"
#include "zap.h"

#define LOOP_MAX_WAIT_MS 1000
#define LOOP_STORAGE_BACKOFF_MAX_MS 5000
#define LOOP_FIXED_ITEMS 4          /* ingress, admin, ZAP, monitor; then subscribers */
/*  Relaxed commits (delivery bookkeeping) ride on the next durable
    commit's fsync; when none comes they are fsynced this long after the
    first of them, which bounds what a power cut can take back.         */
#define LOOP_RELAXED_SYNC_MS 200
/*  Between one partner's delivery work and the next, waiting EMITs are
    served when they were last served this long ago. Serving them at every
    step would split the group commit under full load (measured: end to
    end -10 %); this bounds how long an EMIT waits behind delivery work. */
#define LOOP_INGRESS_GAP_US 500

/*  Counts what the transaction did (committed) or drops it (rolled back). */
static void s_settle_counts(server_t *self, bool committed)
{
    if (committed) {
        self->stats.accepted += self->uncommitted.accepted;
        self->stats.duplicates += self->uncommitted.duplicates;
        self->stats.delivered += self->uncommitted.delivered;
        self->stats.dead += self->uncommitted.dead;
        histogram_merge(&self->stats.receipt_latency, &self->uncommitted.receipt_latency);
    }
    memset(&self->uncommitted, 0, sizeof self->uncommitted);
    for (size_t i = 0; i < self->sub_count; i++) {
        sub_state_t *sub = &self->subs[i];
        if (committed) {
            sub->delivered += sub->uncommitted_delivered;
            sub->dead += sub->uncommitted_dead;
        }
        sub->uncommitted_delivered = sub->uncommitted_dead = 0;
    }
}

/*  The lease is another node's, or may be: from here on this node writes
    nothing, sends nothing to a partner and stops (main() exits with
    EX_TEMPFAIL, for the service manager to start it again as a standby).
    The emitters of this turn hear STORAGE_UNAVAILABLE and send again, to
    the node that now holds the lease.                                 */
static void s_depose(server_t *self, const char *why)
{
    if (self->deposed)
        return;
    sp_log(SP_LOG_ERROR, "deposed: %s; stopping without writing or sending anything more", why);
    self->deposed = true;
    self->stop = 1;
}

/*  Renews the lease once a third of its time has passed since the last
    renewal. Never while our own transaction is open: it holds the lease
    row (the fence), and the renewal on the lease's connection would wait
    for it until the server ended our session. False when another node
    holds the lease.                                                    */
static bool s_renew_lease(server_t *self, int64_t now)
{
    if (!self->lease || self->deposed || now < lease_renew_at(self->lease)
        || store_in_transaction(self->store))
        return !self->deposed;
    char why[512];
    int64_t token = lease_token(self->lease);
    int rc = lease_acquire(self->lease, now, why, sizeof why);
    if (rc == 0 || (rc == 1 && lease_token(self->lease) != token)) {
        s_depose(self, "another node holds the lease");
        return false;
    }
    if (rc < 0)
        sp_log(SP_LOG_WARNING, "renewing the lease: %s", why);
    return true;
}

/*  Stops the node the moment its own clock says the lease may have run
    out (after a pause, say): before it reads a socket or sends a batch,
    and after every commit; renews it when due. After every commit too,
    as a busy turn may hold a transaction open at each of its other
    points. The clock comes first: a node resumed after a pause knows
    without asking that its lease is gone.                              */
static bool s_keep_lease(server_t *self, int64_t now)
{
    if (!self->lease || self->deposed)
        return !self->deposed;
    /* the clock first: after a pause the lease is known lost without
       asking, and a node that cannot reach the database stops on time */
    if (!lease_valid(self->lease, now)) {
        s_depose(self, "the lease ran out before it could be renewed");
        return false;
    }
    return s_renew_lease(self, now);
}

/*  After a failed transaction nothing of the turn happened: replies turn
    into REJECTED STORAGE, counters and the audit head are re-read, and
    every in-flight window restarts from the database.                   */
static void s_turn_failed(server_t *self)
{
    char reason[200];
    snprintf(reason, sizeof reason, "storage failure; nothing stored (%s)",
             store_errmsg(self->store));
    bool storage = store_failure_is_storage(self->store);
    if (store_fenced(self->store))
        s_depose(self, "the lease in the database is another node's (fenced)");
    sp_log(SP_LOG_ERROR, "transaction failed, rolled back: %s", store_errmsg(self->store));
    store_rollback(self->store);
    s_settle_counts(self, false);
    if (storage) {
        /* leave the disk alone for a while instead of failing every turn;
           meanwhile new signals are refused without touching it, and the
           rest of this turn writes nothing either                       */
        int shift = self->storage_failures < 6 ? self->storage_failures : 6;
        int64_t delay = 100LL << shift;
        if (delay > LOOP_STORAGE_BACKOFF_MAX_MS)
            delay = LOOP_STORAGE_BACKOFF_MAX_MS;
        self->storage_failures++;
        self->storage_retry_at = sp_clock_ms() + delay;
        self->storage_paused = true;
        sp_log(SP_LOG_WARNING, "storage failing (%d in a row); next write attempt "
               "in %lld ms", self->storage_failures, (long long) delay);
    }
    ingress_fail_replies(self, reason);
    audit_resync(self->audit);
    server_reload_seqs(self);
    deliver_reset_all(self);
    self->written_delivery_id = self->committed_delivery_id;
    self->tx_failed = false;
}

/*  A failed fsync of the WAL cannot be rolled back: the commit before it
    stands in SQLite's view, while the kernel may have dropped the pages
    it could not write (and a later fsync would then report success over
    the hole). Answering on would vouch for what may not be on the disk,
    so the router stops without answering anyone (exit status 1, for the
    service manager and the operator to see); the emitters resend.      */
static void s_storage_fatal(server_t *self)
{
    sp_log(SP_LOG_ERROR, "%s: stopping without answering %zu signal(s) of this turn; "
           "their emitters send them again after the restart",
           store_errmsg(self->store), self->reply_count);
    self->reply_count = 0;
    self->storage_fatal = true;
    self->stop = 1;
}

/*  Returns -1 when the turn's transaction failed and was rolled back, or
    its fsync failed and the router is stopping.                        */
int server_commit(server_t *self)
{
    if (self->storage_fatal)
        return -1;
    if (self->deposed) {
        /* what the turn wrote is not stored: nobody hears ACCEPTED for it */
        store_rollback(self->store);
        s_settle_counts(self, false);
        ingress_fail_replies(self, "this node lost its lease; nothing stored");
        return -1;
    }
    if (self->tx_failed) {
        s_turn_failed(self);
        return -1;
    }
    if (!store_in_transaction(self->store))
        return 0;
    if (store_commit(self->store) != 0) {
        if (store_sync_failed(self->store))
            s_storage_fatal(self);
        else
            s_turn_failed(self);
        return -1;
    }
    audit_committed(self->audit);
    s_settle_counts(self, true);
    if (self->storage_failures > 0) {
        sp_log(SP_LOG_NOTICE, "storage recovered after %d failed transactions",
               self->storage_failures);
        self->storage_failures = 0;
    }
    if (self->written_delivery_id > self->committed_delivery_id) {
        self->committed_delivery_id = self->written_delivery_id;
        self->dispatch_wanted = true;
    }
    if (!store_unsynced(self->store)) {
        self->unsynced_since = 0;
        audit_synced(self->audit);
    } else if (self->unsynced_since == 0)
        self->unsynced_since = sp_clock_ms();
    if (self->lease)
        s_keep_lease(self, sp_clock_ms());
    return 0;
}

static void s_sync_relaxed(server_t *self, int64_t now)
{
    if (self->unsynced_since == 0 || now - self->unsynced_since < LOOP_RELAXED_SYNC_MS)
        return;
    self->unsynced_since = 0;
    if (!self->storage_fatal && store_sync(self->store) != 0)
        s_storage_fatal(self);
    else if (!self->storage_fatal)
        audit_synced(self->audit);
}

static void s_checkpoint(server_t *self, int64_t now)
{
    if (now < self->next_checkpoint_at)
        return;
    self->next_checkpoint_at = now + self->config->checkpoint_interval_ms;
    if (store_begin(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    /* a key change whose event was rolled back (a failed reload turn) is
       recorded before the new key signs its first periodic checkpoint */
    server_note_key_change(self);
    if (audit_checkpoint(self->audit) != 0)
        self->tx_failed = true;
}

/*  One batch per turn keeps turns short; a full batch leaves more that
    is due, so the next turn goes on at once: the purge keeps pace with
    any intake instead of PURGE_BATCH per interval.                     */
static void s_purge(server_t *self, int64_t now)
{
    int64_t interval = purge_interval_ms(self->config);
    if (interval == 0 || now < self->next_purge_at)
        return;
    int purged = purge_run(self);
    if (purged < 0)
        self->tx_failed = true;
    self->next_purge_at = purged == PURGE_BATCH ? now : now + interval;
}

/*  wait, cut short when the relaxed commits fall due for their fsync.   */
static int64_t s_until_relaxed_sync(const server_t *self, int64_t now, int64_t wait)
{
    if (self->unsynced_since == 0)
        return wait;
    int64_t until_sync = self->unsynced_since + LOOP_RELAXED_SYNC_MS - now;
    if (until_sync < wait)
        wait = until_sync < 0 ? 0 : until_sync;
    return wait;
}

static long s_poll_timeout(server_t *self, int64_t now)
{
    if (self->storage_paused) {
        int64_t wait = self->storage_retry_at > now ? self->storage_retry_at - now : 0;
        return (long) s_until_relaxed_sync(self, now, wait);
    }
    if (self->dispatch_wanted || self->stop || self->reload)
        return 0;
    int64_t wait = deliver_next_timer(self, now);
    int64_t until_checkpoint = self->next_checkpoint_at - now;
    int64_t until_purge = self->next_purge_at - now;
    if (wait < 0 || wait > LOOP_MAX_WAIT_MS)
        wait = LOOP_MAX_WAIT_MS;
    if (until_checkpoint < wait)
        wait = until_checkpoint < 0 ? 0 : until_checkpoint;
    if (purge_interval_ms(self->config) > 0 && until_purge < wait)
        wait = until_purge < 0 ? 0 : until_purge;
    int64_t until_ping = server_notify_wait_ms(now);
    if (until_ping >= 0 && until_ping < wait)
        wait = until_ping;
    int64_t until_snapshot = metrics_http_wait_ms(self, now);
    if (until_snapshot >= 0 && until_snapshot < wait)
        wait = until_snapshot;
    if (self->lease && lease_renew_at(self->lease) - now < wait)
        wait = lease_renew_at(self->lease) > now ? lease_renew_at(self->lease) - now : 0;
    return (long) s_until_relaxed_sync(self, now, wait);
}

/*  Emitters wait on ACCEPTED, partners wait on nothing of ours: the EMITs
    waiting are stored, committed and answered before delivery work, and
    again between one partner's work and the next.                       */
static void s_serve_ingress(server_t *self)
{
    self->ingress_served_us = sp_clock_us();
    ingress_drain(self);
    server_commit(self);
    ingress_send_replies(self);
}

void server_ingress_first(server_t *self)
{
    int events = 0;
    size_t len = sizeof events;
    if (self->storage_failures > 0 || self->tx_failed || self->storage_fatal
        || sp_clock_us() - self->ingress_served_us < LOOP_INGRESS_GAP_US)
        return;
    if (zmq_getsockopt(self->ingress, ZMQ_EVENTS, &events, &len) == 0
        && (events & ZMQ_POLLIN))
        s_serve_ingress(self);
}

static void s_handle_ready(server_t *self, zmq_pollitem_t *items, size_t count)
{
    /* handshakes first: a connecting emitter waits on the ZAP reply */
    if (self->zap && (items[2].revents & ZMQ_POLLIN))
        zap_handle(self);
    if (items[0].revents & ZMQ_POLLIN)
        s_serve_ingress(self);
    for (size_t i = 0; i < self->sub_count && LOOP_FIXED_ITEMS + i < count; i++)
        if (items[LOOP_FIXED_ITEMS + i].revents & ZMQ_POLLIN) {
            server_ingress_first(self);
            if (self->storage_paused || self->storage_fatal)
                break;
            deliver_handle_socket(self, &self->subs[i]);
        }
    if (self->admin && (items[1].revents & ZMQ_POLLIN) && !self->storage_fatal)
        admin_handle(self);
    for (size_t i = LOOP_FIXED_ITEMS + self->sub_count; i < count; i++)
        if ((items[i].revents & ZMQ_POLLIN) && !self->storage_paused && !self->storage_fatal) {
            upstream_handle(self);
            break;
        }
    if (self->zap_monitor && (items[3].revents & ZMQ_POLLIN))
        zap_monitor_handle(self);
}

/*  While the disk fails, partner sockets are not polled (their receipts
    wait in the socket) so that an unread receipt cannot spin the loop.  */
static void s_storage_gate(server_t *self, zmq_pollitem_t *items, size_t count,
                           int64_t now)
{
    self->storage_paused = self->storage_failures > 0 && now < self->storage_retry_at;
    for (size_t i = LOOP_FIXED_ITEMS; i < count; i++)
        items[i].events = items[i].socket && !self->storage_paused ? ZMQ_POLLIN : 0;
}

static int s_turn(server_t *self, zmq_pollitem_t *items, size_t count)
{
    int64_t now = sp_clock_ms();
    if (!s_keep_lease(self, now))
        return 0;
    s_storage_gate(self, items, count, now);
    int rc = zmq_poll(items, (int) count, s_poll_timeout(self, now));
    if (rc < 0 && zmq_errno() != EINTR) {
        sp_log(SP_LOG_ERROR, "poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (!s_keep_lease(self, sp_clock_ms()))
        return 0;
    if (rc > 0)
        s_handle_ready(self, items, count);
    now = sp_clock_ms();
    if (!self->storage_paused && !self->storage_fatal && s_keep_lease(self, now)) {
        deliver_timers(self, now);
        if (self->dispatch_wanted && !self->tx_failed)
            deliver_dispatch(self, now);
        s_checkpoint(self, now);
        s_purge(self, now);
    }
    server_commit(self);
    ingress_send_replies(self);
    s_sync_relaxed(self, now);
    return 0;
}

int server_turn_now(server_t *self, bool dispatch)
{
    ingress_drain(self);
    for (size_t i = 0; i < self->sub_count; i++)
        if (self->subs[i].socket)
            deliver_handle_socket(self, &self->subs[i]);
    if (dispatch) {
        int64_t now = sp_clock_ms();
        deliver_timers(self, now);
        if (self->dispatch_wanted && !self->tx_failed)
            deliver_dispatch(self, now);
    }
    int rc = server_commit(self);
    ingress_send_replies(self);
    return rc;
}

static size_t s_poll_items(server_t *self, zmq_pollitem_t **items_p)
{
    void *link[2] = { NULL, NULL };
    size_t links = upstream_sockets(self, link);
    size_t count = LOOP_FIXED_ITEMS + self->sub_count + links;
    zmq_pollitem_t *items = calloc(count, sizeof *items);
    if (!items)
        return 0;
    /* the node link last: s_storage_gate holds it with the partners'  */
    for (size_t i = 0; i < links; i++)
        items[LOOP_FIXED_ITEMS + self->sub_count + i] =
            (zmq_pollitem_t) { link[i], -1, ZMQ_POLLIN, 0 };
    items[0] = (zmq_pollitem_t) { self->ingress, 0, ZMQ_POLLIN, 0 };
    items[1] = (zmq_pollitem_t) { self->admin, -1, self->admin ? ZMQ_POLLIN : 0, 0 };
    items[2] = (zmq_pollitem_t) { self->zap, -1, self->zap ? ZMQ_POLLIN : 0, 0 };
    items[3] = (zmq_pollitem_t) { self->zap_monitor, -1,
                                  self->zap_monitor ? ZMQ_POLLIN : 0, 0 };
    for (size_t i = 0; i < self->sub_count; i++)
        items[LOOP_FIXED_ITEMS + i] = (zmq_pollitem_t) {
            self->subs[i].socket, -1, self->subs[i].socket ? ZMQ_POLLIN : 0, 0 };
    *items_p = items;
    self->poll_items_stale = false;
    return count;
}

static void s_lifecycle_event(server_t *self, const char *kind)
{
    if (store_begin(self->store) != 0)
        return;
    /* the interval is recorded: verify holds each stretch of the chain to
       the interval that was in force (docs/protocol.md 13.3)         */
    audit_append(self->audit, kind, NULL, 0, NULL,
                 json_pack("{s:s, s:s, s:s, s:I}", "node", self->config->node_name,
                           "config", self->config->path, "version", SP_VERSION_STRING,
                           "checkpoint_interval_ms",
                           (json_int_t) self->config->checkpoint_interval_ms));
    if (strcmp(kind, AUDIT_DAEMON_STOP) == 0)
        audit_checkpoint(self->audit);
    server_commit(self);
}

int server_run(server_t *self)
{
    zmq_pollitem_t *items = NULL;
    int rc = 0;
    s_lifecycle_event(self, AUDIT_DAEMON_START);
    s_lifecycle_event(self, AUDIT_CONFIG_LOADED);
    /* a checkpoint at once: it pins what an earlier run wrote before a crash */
    self->next_checkpoint_at = sp_clock_ms();
    size_t count = s_poll_items(self, &items);
    sp_log(SP_LOG_NOTICE, "%s ready: ingress %s, %zu subscribers",
           self->config->node_name, self->config->ingress_endpoint, self->sub_count);
    server_notify_ready(self);
    while (!self->stop && count > 0) {
        if (s_turn(self, items, count) != 0) {
            rc = -1;
            break;
        }
        if (self->reload && !self->storage_fatal) {
            self->reload = 0;
            if (server_reload(self) == 1)
                self->poll_items_stale = true;
        }
        if (self->poll_items_stale) {
            free(items);
            count = s_poll_items(self, &items);
        }
        server_notify_tick(self);
        if (self->http)
            metrics_http_refresh(self);
    }
    server_notify_stopping(self);
    if (self->storage_fatal || self->deposed) {
        free(items);
        return -1;
    }
    server_commit(self);
    ingress_send_replies(self);
    s_lifecycle_event(self, AUDIT_DAEMON_STOP);
    sp_log(SP_LOG_NOTICE, "stopped: %" PRId64 " accepted, %" PRId64 " rejected, %"
           PRId64 " delivered", self->stats.accepted, self->stats.rejected,
           self->stats.delivered);
    free(items);
    return rc;
}
