/*  deliver.c - the scheduler: per subscriber a bounded window of in-flight
    deliveries in id order (so each subscription's seq order holds), sent in
    router-signed batches; signed receipts mark done exactly the entries
    of the batch they name that the partner handled; no
    receipt in time, a NACK or no connection is a failed attempt, retried
    with exponential backoff and jitter (go-back-N from the oldest unacked).
    Past the subscriber's max age a delivery is dead-lettered: kept, marked,
    audited. The backlog stays in SQLite; memory holds only the window.
*/
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "deliver.h"
#include "server.h"
#include "sp_proto.h"
#include "sp_util.h"

sub_state_t *deliver_sub(server_t *self, const char *name)
{
    for (size_t i = 0; i < self->sub_count; i++)
        if (strcmp(self->subs[i].name, name) == 0)
            return &self->subs[i];
    return NULL;
}

static int64_t s_backoff_ms(const retry_policy_t *retry, int failures)
{
    double delay = (double) retry->initial_ms * pow(retry->multiplier, failures - 1);
    if (delay > (double) retry->max_delay_ms)
        delay = (double) retry->max_delay_ms;
    /* jitter spreads retries of many routers hitting one partner */
    double spread = delay * retry->jitter;
    double offset = spread * ((double) randombytes_uniform(2001) / 1000.0 - 1.0);
    delay += offset;
    return delay < 1 ? 1 : (int64_t) delay;
}

/*  A failed attempt: back off, and resend from the oldest unacknowledged. */
void deliver_attempt_failed(server_t *self, sub_state_t *sub, int64_t now,
                             const char *error)
{
    const subscriber_t *conf = sub->conf;
    sub->failures++;
    sub->failed_attempts++;
    int64_t delay = s_backoff_ms(&conf->retry, sub->failures);
    sub->next_send_at = now + delay;
    sub->hold_until = 0;        /* the backoff is the only timer now */
    snprintf(sub->last_error, sizeof sub->last_error, "%s", error);
    if (store_begin_relaxed(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    int64_t head_id = 0, head_signal = 0;
    const char *trace = NULL;
    if (sub->inflight_count > 0) {
        head_id = sub->inflight[0].delivery_id;
        head_signal = sub->inflight[0].signal_id;
        trace = sub->inflight[0].trace_id;
        sub->cursor = head_id - 1;
        sub->inflight_count = 0;
    }
    if (head_id > 0)
        store_delivery_fail(self->store, head_id, error);
    char when[40];
    sp_time_format(sp_time_now_ms() + delay, when, sizeof when);
    audit_append(self->audit, AUDIT_RETRY, trace, head_signal, sub->name,
                 json_pack("{s:s, s:i, s:s, s:I}", "error", error,
                           "consecutive_failures", sub->failures,
                           "next_attempt_at", when, "delay_ms", (json_int_t) delay));
    sp_log(SP_LOG_WARNING, "delivery to %s failed (%s); retry %d in %" PRId64 " ms",
           sub->name, error, sub->failures, delay);
}

/*  One DEALER towards the partner, or -1 with err naming the subscriber
    and the reason, and nothing left open.                                */
static int s_socket_open(server_t *self, const config_t *config, sub_state_t *sub,
                         char *err, size_t errlen)
{
    const subscriber_t *conf = sub->conf;
    int one = 1, zero = 0;
    char reason[400] = "";
    sub->socket = zmq_socket(self->zmq, ZMQ_DEALER);
    if (!sub->socket)
        goto failed;
    /* IMMEDIATE: no queueing towards a partner that is not connected, so a
       down partner shows up as a failed send, not a silent backlog in RAM */
    zmq_setsockopt(sub->socket, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(sub->socket, ZMQ_LINGER, &zero, sizeof zero);
    /* an empty message at each connection: the partner's ROUTER learns
       the router's routing id before any batch, so that it can send a
       FETCH with nothing to deliver (protocol.md 7.4)                  */
    zmq_setsockopt(sub->socket, ZMQ_PROBE_ROUTER, &one, sizeof one);
    /* a partner's answers are small (receipts <= DELIVER_REPLY_MAX_BYTES);
       without a cap ZeroMQ would take any frame a partner sends into
       memory before we could refuse it. Above the cap it drops the
       connection unread; the delivery is then retried as for a timeout. */
    int64_t max_frame = DELIVER_REPLY_MAX_BYTES * 4;
    int hwm = DELIVER_REPLY_HWM;
    zmq_setsockopt(sub->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame);
    zmq_setsockopt(sub->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (conf->curve_public && config->curve_secret_path) {
        char pub[41], sec[41];
        if (sp_curve_load(config->curve_secret_path, pub, sec, reason, sizeof reason) != 0)
            goto failed;
        int rc = sp_socket_curve_client(sub->socket, pub, sec, conf->curve_public);
        sodium_memzero(sec, sizeof sec);
        if (rc != 0)
            goto failed;
    }
    if (zmq_connect(sub->socket, conf->endpoint) != 0)
        goto failed;
    return 0;
failed:
    if (!reason[0])
        snprintf(reason, sizeof reason, "%s: %s", conf->endpoint,
                 zmq_strerror(zmq_errno()));
    snprintf(err, errlen, "subscriber %s: %s", conf->name, reason);
    if (sub->socket)
        zmq_close(sub->socket);
    sub->socket = NULL;
    return -1;
}

void deliver_socket_reopen(server_t *self, sub_state_t *sub)
{
    char err[512];
    if (sub->socket)
        zmq_close(sub->socket);
    sub->socket = NULL;
    /* on failure nothing is left open: the next attempt tries again */
    if (s_socket_open(self, self->config, sub, err, sizeof err) != 0)
        sp_log(SP_LOG_ERROR, "%s", err);
    self->poll_items_stale = true;
}

void deliver_discard(sub_state_t *subs, size_t count)
{
    for (size_t i = 0; subs && i < count; i++) {
        if (subs[i].socket)
            zmq_close(subs[i].socket);
        free(subs[i].name);
        free(subs[i].inflight);
        free(subs[i].sent);
    }
    free(subs);
}

sub_state_t *deliver_prepare(server_t *self, const config_t *config,
                             char *err, size_t errlen)
{
    size_t count = config->subscriber_count;
    sub_state_t *subs = calloc(count ? count : 1, sizeof *subs);
    if (!subs) {
        snprintf(err, errlen, "subscribers: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        sub_state_t *sub = &subs[i];
        sub->conf = &config->subscribers[i];
        sub->name = strdup(sub->conf->name);
        sub->inflight = calloc((size_t) sub->conf->window, sizeof *sub->inflight);
        /* a full window may be in flight one entry a batch; beyond that a
           late receipt is still recognised for SERVER_SENT_EXTRA batches */
        sub->sent_size = sub->conf->window + SERVER_SENT_EXTRA;
        sub->sent = calloc((size_t) sub->sent_size, sizeof *sub->sent);
        if (!sub->name || !sub->inflight || !sub->sent) {
            snprintf(err, errlen, "subscriber %s: out of memory", sub->conf->name);
            goto failed;
        }
        if (s_socket_open(self, config, sub, err, errlen) != 0)
            goto failed;
    }
    return subs;
failed:
    deliver_discard(subs, count);       /* entries not reached are zeroed */
    return NULL;
}

/*  A reload keeps what each partner's noise counted so far: the interval
    goes on, and the aggregate it owes is written once, by the new state. */
static void s_carry_noise(server_t *self, sub_state_t *subs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        sub_state_t *old = deliver_sub(self, subs[i].name);
        if (!old)
            continue;
        subs[i].noise = old->noise;
        old->noise.suppressed = 0;
    }
}

void deliver_install(server_t *self, sub_state_t *subs, size_t count)
{
    s_carry_noise(self, subs, count);
    deliver_teardown(self);
    self->subs = subs;
    self->sub_count = count;
    self->dispatch_wanted = true;
}

int deliver_setup(server_t *self, char *err, size_t errlen)
{
    sub_state_t *subs = deliver_prepare(self, self->config, err, errlen);
    if (!subs)
        return -1;
    deliver_install(self, subs, self->config->subscriber_count);
    return 0;
}

void deliver_teardown(server_t *self)
{
    /* a stop that came between two turns left no turn to audit these in:
       the journal has them at least                                     */
    for (size_t i = 0; i < self->sub_count; i++)
        if (self->subs[i].noise.suppressed > 0)
            sp_log(SP_LOG_WARNING, "%lld more messages from %s refused or ignored, not "
                   "logged one by one nor audited (stopping; the first: %s: %s)",
                   (long long) self->subs[i].noise.suppressed, self->subs[i].name,
                   self->subs[i].noise.first_code, self->subs[i].noise.first_note);
    deliver_discard(self->subs, self->sub_count);
    self->subs = NULL;
    self->sub_count = 0;
}

void deliver_reset_all(server_t *self)
{
    /* after a rollback, memory may have dropped entries whose receipt was
       never stored: rescan every queue from its start (the partial index
       makes that a walk over pending rows only)                         */
    for (size_t i = 0; i < self->sub_count; i++) {
        sub_state_t *sub = &self->subs[i];
        sub->cursor = 0;
        sub->inflight_count = 0;
        sub->hold_until = 0;
        /* the batches' rows may be rolled back: their receipts cannot be
           tied to a stored batch, and what they carried is resent      */
        memset(sub->sent, 0, (size_t) sub->sent_size * sizeof *sub->sent);
    }
    self->dispatch_wanted = true;
}

sent_batch_t *deliver_sent_batch(const sub_state_t *sub,
                                 const uint8_t sha256[SP_SHA256_SIZE])
{
    for (int i = 0; i < sub->sent_size; i++)
        if (sub->sent[i].count > 0
            && memcmp(sub->sent[i].sha256, sha256, SP_SHA256_SIZE) == 0)
            return &sub->sent[i];
    return NULL;
}

bool deliver_batch_in_flight(const sub_state_t *sub, const sent_batch_t *batch)
{
    for (int i = 0; i < sub->inflight_count; i++)
        if (sub->inflight[i].batch_id == batch->batch_id)
            return true;
    return false;
}

const subscription_t *deliver_subscription(const subscriber_t *conf, const char *name)
{
    for (size_t i = 0; i < conf->sub_count; i++)
        if (strcmp(conf->subs[i].name, name) == 0)
            return &conf->subs[i];
    return NULL;
}

static void s_dead_letter(server_t *self, sub_state_t *sub, const store_pending_t *row,
                          const char *reason)
{
    if (store_begin(self->store) != 0
        || store_delivery_dead(self->store, row->id, reason, sp_time_now_ms()) != 0) {
        self->tx_failed = true;
        return;
    }
    sub->uncommitted_dead++;
    self->uncommitted.dead++;
    audit_append(self->audit, AUDIT_DEAD, row->trace_id, row->signal_id, sub->name,
                 json_pack("{s:s, s:I, s:i, s:s}", "subscription", row->subscription,
                           "seq", (json_int_t) row->seq, "attempts", row->attempts,
                           "reason", reason));
    sp_log(SP_LOG_WARNING, "dead-lettered delivery %" PRId64 " to %s: %s",
           row->id, sub->name, reason);
    deliver_alert(self, sub, row, reason);
}

/*  Why a pending row may no longer be sent, or NULL when it may.          */
static const char *s_undeliverable(const sub_state_t *sub, const store_pending_t *row,
                                   int64_t wall_now)
{
    if (!deliver_subscription(sub->conf, row->subscription))
        return "subscription removed from configuration: no legal basis to deliver";
    if (wall_now - row->created_at > sub->conf->retry.max_age_ms)
        return "max age passed without a receipt";
    if (!row->event)
        return "payload purged before delivery";
    return NULL;
}

/*  Dead-letters the rows that may no longer go, or whose sealed event
    does not open, so that one bad row cannot hold up the queue behind
    it; compacts the rest in place, with their opened events in plain.
    Returns how many are left, or -1 when out of memory (all freed).    */
static int s_sift(server_t *self, sub_state_t *sub, store_pending_t *rows, int count,
                  int64_t wall_now, void **plain, size_t *plain_len)
{
    int live = 0;
    for (int i = 0; i < count; i++) {
        const char *why = s_undeliverable(sub, &rows[i], wall_now);
        int rc = why ? -1 : deliver_open_event(self, sub, &rows[i], &plain[live],
                                                &plain_len[live]);
        if (rc == -2) {
            for (int j = 0; j < live; j++)
                free(plain[j]);
            store_pending_clear(rows, live);
            store_pending_clear(rows + i, count - i);
            return -1;
        }
        if (rc != 0) {
            s_dead_letter(self, sub, &rows[i], why ? why : DELIVER_UNOPENABLE);
            store_pending_clear(&rows[i], 1);
        } else
            rows[live++] = rows[i];
    }
    return live;
}

/*  True when a partial batch should wait for more deliveries: its oldest
    entry has waited less than the subscriber's batch_linger. Sets the
    timer that sends it when the linger is over.                          */
static bool s_linger(sub_state_t *sub, const store_pending_t *rows, int count, int max,
                     int64_t now, int64_t wall_now)
{
    int64_t linger = sub->conf->batch_linger_ms;
    if (linger <= 0 || count == 0 || count >= max)
        return false;
    int64_t age = wall_now - rows[0].created_at;
    if (age >= linger || age < 0)
        return false;
    sub->hold_until = now + (linger - age);
    sub->hold_mark = sub->stored;
    sub->hold_count = count;
    return true;
}

/*  While a batch lingers its queue is not read again, unless enough has
    been routed to this subscriber since to fill it.                    */
static bool s_holding(const sub_state_t *sub, int max, int64_t now)
{
    return now < sub->hold_until && sub->stored - sub->hold_mark < max - sub->hold_count;
}

/*  When a lingering batch may go: not before the backoff that gates it. */
static int64_t s_hold_end(const sub_state_t *sub)
{
    return sub->hold_until > sub->next_send_at ? sub->hold_until : sub->next_send_at;
}

static void s_dispatch_one(server_t *self, sub_state_t *sub, int64_t now)
{
    store_pending_t rows[SERVER_BATCH_MAX];
    void *plain[SERVER_BATCH_MAX];
    size_t plain_len[SERVER_BATCH_MAX];
    int space = sub->conf->window - sub->inflight_count;
    int max = space < SERVER_BATCH_MAX ? space : SERVER_BATCH_MAX;
    if (max <= 0 || now < sub->next_send_at || s_holding(sub, max, now))
        return;
    sub->hold_until = 0;
    int count = store_pending_page(self->store, sub->name, sub->cursor,
                                   self->committed_delivery_id, rows, max);
    if (count < 0) {
        sp_log(SP_LOG_ERROR, "reading the queue of %s: %s", sub->name,
               store_errmsg(self->store));
        return;
    }
    sub->more_pending = count == max;
    if (count == 0 && sub->inflight_count == 0) {
        /* nothing left to deliver (all done or dead-lettered): no backoff
           to keep, and no timer that would wake the loop for nothing     */
        sub->failures = 0;
        sub->next_send_at = 0;
        return;
    }
    int64_t wall_now = sp_time_now_ms();
    if (s_linger(sub, rows, count, max, now, wall_now)) {
        store_pending_clear(rows, count);
        return;
    }
    int live_count = s_sift(self, sub, rows, count, wall_now, plain, plain_len);
    if (live_count < 0) {
        deliver_attempt_failed(self, sub, now, "out of memory");
        return;
    }
    if (live_count > 0)
        deliver_send_batch(self, sub, rows, plain, plain_len, live_count, now);
    else if (count > 0)
        sub->more_pending = true;       /* everything was dead: look further */
    for (int i = 0; i < live_count; i++)
        free(plain[i]);
    store_pending_clear(rows, live_count);
}

void deliver_dispatch(server_t *self, int64_t now)
{
    bool more = false;
    /* cleared first: EMITs served in between may set it again */
    self->dispatch_wanted = false;
    for (size_t i = 0; i < self->sub_count; i++) {
        sub_state_t *sub = &self->subs[i];
        server_ingress_first(self);
        if (self->storage_paused || self->storage_fatal)
            break;
        s_dispatch_one(self, sub, now);
        more = more || (sub->more_pending && now >= sub->next_send_at
                        && sub->inflight_count < sub->conf->window);
    }
    self->dispatch_wanted = self->dispatch_wanted || more;
}

void deliver_timers(server_t *self, int64_t now)
{
    for (size_t i = 0; i < self->sub_count; i++) {
        sub_state_t *sub = &self->subs[i];
        /* at a stop at once: the turn that sees it is the last to commit */
        receipt_noise_flush(self, sub, now, self->stop != 0);
        if (sub->inflight_count > 0
            && now - sub->inflight[0].sent_at >= sub->conf->receipt_timeout_ms) {
            char error[sizeof sub->last_error];
            /* a refused receipt is why, more often than a silent partner */
            if (sub->last_refusal[0])
                snprintf(error, sizeof error, "no valid receipt within %" PRId64 " ms; "
                         "%.100s", sub->conf->receipt_timeout_ms, sub->last_refusal);
            else
                snprintf(error, sizeof error, "no receipt within %" PRId64 " ms",
                         sub->conf->receipt_timeout_ms);
            deliver_attempt_failed(self, sub, now, error);
        }
        if (sub->inflight_count == 0 && now >= sub->next_send_at && sub->failures > 0)
            self->dispatch_wanted = true;
        if (sub->hold_until > 0 && now >= s_hold_end(sub))
            self->dispatch_wanted = true;
    }
}

int64_t deliver_next_timer(server_t *self, int64_t now)
{
    int64_t next = -1;
    for (size_t i = 0; i < self->sub_count; i++) {
        sub_state_t *sub = &self->subs[i];
        int64_t at = -1;
        if (sub->inflight_count > 0)
            at = sub->inflight[0].sent_at + sub->conf->receipt_timeout_ms;
        else if (sub->failures > 0 || sub->more_pending)
            at = sub->next_send_at;
        if (sub->hold_until > 0 && (at < 0 || s_hold_end(sub) < at))
            at = s_hold_end(sub);
        int64_t noise = receipt_noise_wait_ms(sub, now);
        if (noise >= 0 && (next < 0 || noise < next))
            next = noise;
        if (at < 0)
            continue;
        int64_t wait = at > now ? at - now : 0;
        if (next < 0 || wait < next)
            next = wait;
    }
    return next;
}
