/*  server.c - start-up, the event loop and shutdown.

    One turn of the loop: poll; take up to SERVER_INGRESS_BURST signals and
    every receipt that arrived; run timers; dispatch deliveries of signals
    committed in earlier turns; commit once (group commit: one fsync for
    everything the turn wrote); only then send the ACCEPTED/REJECTED replies.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "upstream.h"
#include "server.h"
#include "sp_proto.h"
#include "sp_schema.h"
#include "sp_util.h"
#include "zap.h"

static void s_seq_seen(const char *subscriber, const char *subscription,
                       int64_t max_seq, void *arg);


static seq_counter_t *s_counter(server_t *self, const char *subscriber,
                                const char *subscription)
{
    for (size_t i = 0; i < self->seq_count; i++)
        if (strcmp(self->seqs[i].subscriber, subscriber) == 0
            && strcmp(self->seqs[i].subscription, subscription) == 0)
            return &self->seqs[i];
    return NULL;
}

/*  -1 only when a new counter cannot be allocated.                       */
int64_t server_next_seq(server_t *self, const char *subscriber, const char *subscription)
{
    seq_counter_t *c = s_counter(self, subscriber, subscription);
    if (!c) {
        s_seq_seen(subscriber, subscription, 0, self);
        c = s_counter(self, subscriber, subscription);
    }
    return c ? c->next_seq++ : -1;
}

static void s_seq_seen(const char *subscriber, const char *subscription,
                       int64_t max_seq, void *arg)
{
    server_t *self = arg;
    seq_counter_t *c = s_counter(self, subscriber, subscription);
    if (!c) {
        seq_counter_t *grown = realloc(self->seqs, (self->seq_count + 1) * sizeof *grown);
        if (!grown)
            return;
        self->seqs = grown;
        c = &self->seqs[self->seq_count++];
        c->subscriber = strdup(subscriber);
        c->subscription = strdup(subscription);
    }
    c->next_seq = max_seq + 1;
}

/*  After a rollback the counters may have run ahead of the database.     */
int server_reload_seqs(server_t *self)
{
    for (size_t i = 0; i < self->seq_count; i++)
        self->seqs[i].next_seq = 1;
    return store_each_max_seq(self->store, s_seq_seen, self);
}

int server_size_emitters(server_t *self)
{
    size_t n = self->config->emitter_count ? self->config->emitter_count : 1;
    free(self->emitter_in_flight);
    self->emitter_in_flight = calloc(n, sizeof *self->emitter_in_flight);
    return self->emitter_in_flight ? 0 : -1;
}

static int s_bind(server_t *self, char *err, size_t errlen)
{
    const config_t *config = self->config;
    int zero = 0, one = 1;
    int64_t max_msg = (int64_t) config->limits.max_bytes * 4 + 65536;
    self->ingress = zmq_socket(self->zmq, ZMQ_ROUTER);
    zmq_setsockopt(self->ingress, ZMQ_LINGER, &zero, sizeof zero);
    /* hard cap: well above the limit so an oversize signal gets a clear
       TOO_LARGE; beyond it ZeroMQ drops the connection unread            */
    zmq_setsockopt(self->ingress, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    zmq_setsockopt(self->ingress, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    /* a ROUTER drops what exceeds its send high-water mark without a word:
       an emitter may have max_in_flight signals waiting for answers,
       and each must get its answer                                      */
    int hwm = 200000;
    zmq_setsockopt(self->ingress, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (config->curve_secret_path) {
        char pub[41], sec[41];
        if (sp_curve_load(config->curve_secret_path, pub, sec, err, errlen) != 0
            || zap_setup(self, err, errlen) != 0)
            return -1;
        int rc = sp_socket_curve_server(self->ingress, sec);
        sodium_memzero(sec, sizeof sec);
        if (rc != 0)
            goto failed;
    }
    if (zmq_bind(self->ingress, config->ingress_endpoint) != 0)
        goto failed;
    if (self->zap && zap_monitor_setup(self, err, errlen) != 0)
        return -1;
    if (config->admin_endpoint) {
        self->admin = zmq_socket(self->zmq, ZMQ_ROUTER);
        zmq_setsockopt(self->admin, ZMQ_LINGER, &zero, sizeof zero);
        /* the socket file is the access control (connecting takes write
           permission): never more than owner and group, whatever umask
           we inherited, and less when it says so (systemd's UMask=0077:
           owner only); libzmq creates it within zmq_bind(), here      */
        mode_t umask_before = umask(0);
        umask(umask_before | S_IXUSR | S_IXGRP | S_IRWXO);
        int bound = zmq_bind(self->admin, config->admin_endpoint);
        umask(umask_before);
        if (bound != 0) {
            snprintf(err, errlen, "admin %s: %s", config->admin_endpoint,
                     zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
failed:
    snprintf(err, errlen, "ingress %s: %s", config->ingress_endpoint,
             zmq_strerror(zmq_errno()));
    return -1;
}

static char *s_secret_path(const config_t *config)
{
    char *path = NULL;
    if (config->pseudonym_key_path)
        return strdup(config->pseudonym_key_path);
    if (asprintf(&path, "%s.secret", config->database) < 0)
        return NULL;
    return path;
}

/*  Dispatch reads only deliveries at or below this id: what is committed. */
static int s_load_committed(server_t *self)
{
    db_stmt_t *stmt = db_prepare(store_conn(self->store),
                                 "SELECT COALESCE(MAX(id), 0) FROM deliveries", false);
    if (!stmt)
        return -1;
    if (db_step(stmt) == DB_ROW)
        self->committed_delivery_id = db_column_int64(stmt, 0);
    db_finalize(&stmt);
    self->written_delivery_id = self->committed_delivery_id;
    return 0;
}

static int s_count_signals(server_t *self, int64_t *count)
{
    db_stmt_t *stmt = db_prepare(store_conn(self->store), "SELECT COUNT(*) FROM signals",
                                 false);
    int rc = -1;
    if (stmt && db_step(stmt) == DB_ROW) {
        *count = db_column_int64(stmt, 0);
        rc = 0;
    }
    db_finalize(&stmt);
    return rc;
}

/*  A new node secret only for a queue with nothing sealed in it: with
    signals stored, a missing secret is a lost or misnamed file, and a new
    one would leave every pending payload unreadable (dead letters) and
    change every pseudonym.                                             */
static int s_open_vault(server_t *self, const char *secret, char *err, size_t errlen)
{
    int64_t stored = 0;
    bool exists = access(secret, F_OK) == 0;
    if (!exists && s_count_signals(self, &stored) != 0) {
        snprintf(err, errlen, "counting stored signals: %s", store_errmsg(self->store));
        return -1;
    }
    if (stored > 0) {
        snprintf(err, errlen, "%s: the node secret is missing, but the queue holds %lld "
                 "signals sealed under it; restore the file (a new secret would make "
                 "their payloads unreadable)", secret, (long long) stored);
        return -1;
    }
    self->vault = vault_new(secret, 1, err, errlen);
    if (self->vault && !exists)
        sp_log(SP_LOG_NOTICE, "created a new node secret %s", secret);
    return self->vault ? 0 : -1;
}

static int s_open_state(server_t *self, char *err, size_t errlen)
{
    char *secret = s_secret_path(self->config);
    self->store = store_open(self->config->database, false, err, errlen);
    if (!self->store || !secret) {
        free(secret);
        return -1;
    }
    self->ingress_burst = db_engine(store_conn(self->store)) == DB_POSTGRESQL
        ? SERVER_INGRESS_BURST_PG : SERVER_INGRESS_BURST;
    int found = store_schema_found(self->store);
    if (found > 0 && found < SP_SCHEMA_VERSION) {
        char name[512];
        db_target_display(self->config->database, name, sizeof name);   /* no password */
        sp_log(SP_LOG_NOTICE, "migrated %s from schema version %d to %d", name, found,
               SP_SCHEMA_VERSION);
    }
    int rc = s_open_vault(self, secret, err, errlen);
    free(secret);
    if (rc != 0)
        return -1;
    self->audit = audit_new(self->store, self->config->signing_key, err, errlen);
    if (!self->audit || server_reload_seqs(self) != 0)
        return -1;
    return s_load_committed(self);
}

server_t *server_new(const char *config_path, char *err, size_t errlen)
{
    server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->config = config_load(config_path, err, errlen);
    self->replies = calloc(SERVER_INGRESS_BURST, sizeof *self->replies);
    self->emits = ingress_emits_new(SERVER_INGRESS_BURST);
    self->verify_jobs = calloc(SERVER_INGRESS_BURST, sizeof *self->verify_jobs);
    self->verifier = verifier_new();
    self->zmq = zmq_ctx_new();
    if (!self->config || !self->replies || !self->zmq || !self->emits
        || !self->verify_jobs || !self->verifier
        || server_size_emitters(self) != 0
        || s_open_state(self, err, errlen) != 0 || s_bind(self, err, errlen) != 0
        || deliver_setup(self, err, errlen) != 0
        || upstream_open(self, err, errlen) != 0
        || metrics_http_start(&self->http, self->config->metrics_listen, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "start-up failed");
        server_destroy(&self);
        return NULL;
    }
    if (self->http)
        metrics_http_refresh(self);     /* the endpoint answers from the start */
    return self;
}

void server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *self = *self_p;
    metrics_http_stop(&self->http);
    upstream_close(self);
    deliver_teardown(self);
    if (self->ingress)
        zmq_close(self->ingress);
    if (self->admin)
        zmq_close(self->admin);
    zap_teardown(self);
    if (self->zmq)
        zmq_ctx_term(self->zmq);
    audit_destroy(&self->audit);
    vault_destroy(&self->vault);
    store_destroy(&self->store);
    config_destroy(&self->config);
    for (size_t i = 0; i < self->seq_count; i++) {
        free(self->seqs[i].subscriber);
        free(self->seqs[i].subscription);
    }
    free(self->seqs);
    free(self->replies);
    free(self->emits);
    free(self->verify_jobs);
    verifier_destroy(&self->verifier);
    free(self->emitter_in_flight);
    free(self);
    *self_p = NULL;
}
