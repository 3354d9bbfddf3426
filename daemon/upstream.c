/*  upstream.c - the node link: other seinpostd nodes deliver to this one
    as to a partner (docs/protocol.md 16).

    The link is the reference partner (sp_partner.c) bound on
    upstream.listen, polled from the event loop: it verifies each upstream
    node's batch signature and CURVE key, and each original emitter's
    signature. Each signal is then taken as an EMIT from its emitter would
    be (ingress_relayed: envelope, authorisation, duplicate by source and
    id), but only when the upstream may relay that emitter's signals of
    that type; it is stored and routed to this node's own subscribers
    under their own legal bases, with the upstream's signed batch kept as
    the hop's evidence, and committed (fsynced) before the link signs its
    receipt. The emitter's signed bytes travel unchanged.               */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"
#include "sp_util.h"

/*  Every municipality of the country delivering to one agency node.     */
#define UPSTREAM_MAX 1024

/*  Refused relays written one by one per interval, then counted (7.3). */
static const flood_policy_t s_refusal_policy = { 10000, 10 };

struct upstream_link {
    flood_t refusals;
    sp_partner_t *partner;
    sp_key_t *key;              /* this node's signing key: receipts */
    sp_key_t **routers;         /* the upstreams' keys, in config order */
    sp_key_t **emitters;        /* this node's emitters' keys */
    size_t router_count, emitter_count;
};

static void s_free_keys(sp_key_t **keys, size_t count)
{
    for (size_t i = 0; keys && i < count; i++)
        sp_key_destroy(&keys[i]);
    free(keys);
}

void upstream_close(server_t *self)
{
    upstream_link_t *link = self->upstream;
    if (!link)
        return;
    sp_partner_destroy(&link->partner);
    sp_key_destroy(&link->key);
    s_free_keys(link->routers, link->router_count);
    s_free_keys(link->emitters, link->emitter_count);
    free(link);
    self->upstream = NULL;
}

/*  Copies of the keys: the link outlives a reload's configuration.     */
static int s_copy_keys(upstream_link_t *link, const config_t *config, char *err,
                       size_t errlen)
{
    link->key = sp_key_load(config->signing_key_path, true, err, errlen);
    link->routers = calloc(config->upstream_count + 1, sizeof *link->routers);
    link->emitters = calloc(config->emitter_count + 1, sizeof *link->emitters);
    if (!link->key || !link->routers || !link->emitters)
        return -1;
    for (size_t i = 0; i < config->upstream_count; i++)
        if (!(link->routers[link->router_count++] =
                  sp_key_from_raw_public(sp_key_public(config->upstreams[i].key))))
            return -1;
    for (size_t i = 0; i < config->emitter_count; i++)
        if (!(link->emitters[link->emitter_count++] =
                  sp_key_from_raw_public(sp_key_public(config->emitters[i].key))))
            return -1;
    return 0;
}

static int s_partner_open(upstream_link_t *link, const config_t *config, const char *state,
                          char *err, size_t errlen)
{
    const char *names[UPSTREAM_MAX], *curves[UPSTREAM_MAX];
    if (config->upstream_count > UPSTREAM_MAX) {
        snprintf(err, errlen, "upstream.nodes: at most %d upstream nodes", UPSTREAM_MAX);
        return -1;
    }
    for (size_t i = 0; i < config->upstream_count; i++) {
        names[i] = config->upstreams[i].name;
        curves[i] = config->upstreams[i].curve_public;
    }
    sp_partner_conf_t pc = {
        .endpoint = config->upstream_listen, .key = link->key,
        .router_keys = (const sp_key_t *const *) link->routers,
        .router_key_count = link->router_count,
        .emitter_keys = (const sp_key_t *const *) link->emitters,
        .emitter_key_count = link->emitter_count,
        .curve_secret_file = config->curve_secret_path,
        .router_curve_keys = config->curve_secret_path ? curves : NULL,
        .router_curve_key_count = config->curve_secret_path ? config->upstream_count : 0,
        .subscriber = config->upstream_subscriber, .state_path = state,
        .router_names = names };
    link->partner = sp_partner_new_conf(&pc, err, errlen);
    return link->partner ? 0 : -1;
}

int upstream_open(server_t *self, char *err, size_t errlen)
{
    const config_t *config = self->config;
    char state[4096];
    if (!config->upstream_listen || config->upstream_count == 0)
        return 0;
    upstream_link_t *link = calloc(1, sizeof *link);
    /* the link's dedup state beside the database (protocol.md 6.3) */
    snprintf(state, sizeof state, "%s.upstream.db", config->database);
    if (!link || s_copy_keys(link, config, err, errlen) != 0
        || s_partner_open(link, config, state, err, errlen) != 0) {
        if (link && !err[0])
            snprintf(err, errlen, "out of memory");
        self->upstream = link;
        upstream_close(self);
        return -1;
    }
    self->upstream = link;
    sp_log(SP_LOG_NOTICE, "node link on %s: %zu upstream node%s", config->upstream_listen,
           config->upstream_count, config->upstream_count == 1 ? "" : "s");
    return 0;
}

size_t upstream_sockets(const server_t *self, void *sockets[2])
{
    return self->upstream ? sp_partner_sockets(self->upstream->partner, sockets) : 0;
}

/*  The upstream's signed batch, once per batch; its row id.             */
static int s_keep_batch(server_t *self, const sp_signal_t *signal, int64_t *batch_id)
{
    db_t *db = store_conn(self->store);
    db_stmt_t *stmt = NULL;
    int rc = -1;
    if (!(stmt = db_prepare(db, "INSERT INTO upstream_batches(upstream, sha256, header,"
                            " signature, key_id, received_at) VALUES(?,?,?,?,?,?)"
                            " ON CONFLICT DO NOTHING", false)))
        return -1;
    db_bind_text(stmt, 1, signal->router, -1);
    db_bind_blob(stmt, 2, signal->batch_sha256, SP_SHA256_SIZE);
    db_bind_blob(stmt, 3, signal->batch_header, signal->batch_header_len);
    db_bind_blob(stmt, 4, signal->batch_signature, SP_SIGNATURE_SIZE);
    db_bind_text(stmt, 5, signal->router_key_id, -1);
    db_bind_int64(stmt, 6, sp_time_now_ms());
    if (db_step(stmt) != DB_DONE)
        goto cleanup;
    db_finalize(&stmt);
    /* the row just written or the one an earlier delivery of it wrote */
    if (!(stmt = db_prepare(db, "SELECT id FROM upstream_batches WHERE sha256 = ?", false)))
        goto cleanup;
    db_bind_blob(stmt, 1, signal->batch_sha256, SP_SHA256_SIZE);
    if (db_step(stmt) == DB_ROW) {
        *batch_id = db_column_int64(stmt, 0);
        rc = 0;
    }
cleanup:
    db_finalize(&stmt);
    return rc;
}

/*  The hop: the signal came in the upstream's batch as (subscription,
    seq) there; one row, and one audit event in the signal's timeline.  */
static int s_record_hop(server_t *self, const sp_signal_t *signal, int64_t signal_id,
                        const char *trace_id)
{
    char sha[2 * SP_SHA256_SIZE + 1];
    int64_t batch_id = 0;
    db_stmt_t *stmt = NULL;
    if (s_keep_batch(self, signal, &batch_id) != 0
        || !(stmt = db_prepare(store_conn(self->store), "INSERT INTO relays(signal_id,"
                               " batch_id, subscription, seq) VALUES(?,?,?,?)"
                               " ON CONFLICT DO NOTHING", false)))
        return -1;
    db_bind_int64(stmt, 1, signal_id);
    db_bind_int64(stmt, 2, batch_id);
    db_bind_text(stmt, 3, signal->subscription, -1);
    db_bind_int64(stmt, 4, (int64_t) signal->seq);
    int rc = db_step(stmt) == DB_DONE ? 0 : -1;
    db_finalize(&stmt);
    sp_hex(signal->batch_sha256, SP_SHA256_SIZE, sha);
    return rc != 0 ? -1
        : audit_append(self->audit, AUDIT_RELAYED, trace_id, signal_id, NULL,
                       json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:b}", "upstream",
                                 signal->router, "router_key", signal->router_key_id,
                                 "batch_sha256", sha, "upstream_batch_id",
                                 (json_int_t) batch_id, "subscription", signal->subscription,
                                 "seq", (json_int_t) signal->seq, "upstream_trace_id",
                                 signal->trace_id ? signal->trace_id : "", "duplicate", signal->duplicate));
}

/*  Refused: audited, logged; the link NACKs the batch (PARTNER_FAILED),
    so the upstream retries and in the end dead-letters it, visibly.    */
static int s_refuse(server_t *self, const sp_signal_t *signal, sp_code_t code,
                    const char *reason)
{
    flood_t *f = &self->upstream->refusals;
    int64_t now = sp_clock_ms();
    if (flood_owed(f, &s_refusal_policy, now) && store_begin(self->store) == 0) {
        audit_append(self->audit, AUDIT_PARTNER_REFUSALS, NULL, 0, NULL,
                     json_pack("{s:s, s:I, s:s, s:s, s:i}", "link", "upstream", "count",
                               (json_int_t) f->suppressed, "first_code", f->first_code,
                               "first_reason", f->first_note, "interval_ms",
                               (int) s_refusal_policy.interval_ms));
        flood_roll(f, &s_refusal_policy, now);
    }
    if (!flood_admit(f, &s_refusal_policy, now, sp_code_name(code), reason))
        return -1;
    sp_log(SP_LOG_WARNING, "relay from %s refused: %s: %s", signal->router,
           sp_code_name(code), reason);
    if (store_begin(self->store) == 0) {
        audit_append(self->audit, AUDIT_RELAY_REFUSED, NULL, 0, NULL,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "upstream", signal->router,
                               "code", sp_code_name(code), "reason", reason, "emitter_key",
                               signal->emitter_key_id, "subscription", signal->subscription,
                               "seq", (json_int_t) signal->seq));
        server_commit(self);
    }
    return -1;
}

static int s_relay(const sp_signal_t *signal, void *arg)
{
    server_t *self = arg;
    const config_t *config = self->config;
    reply_t reply;
    int64_t signal_id = 0;
    uint8_t stored[SP_SHA256_SIZE];
    const upstream_t *up = config_upstream(config, signal->router);
    const emitter_t *emitter = config_emitter_by_key_id(config, signal->emitter_key_id);
    if (!up || !emitter || !config_upstream_may_relay(config, up, emitter, signal->type))
        /* no quote of the type: an attribute value */
        return s_refuse(self, signal, SP_E_NOT_ALLOWED, "this upstream may not relay "
                        "signals of this emitter or of this type");
    sp_code_t code = ingress_relayed(self, emitter, signal->emitter_key_id,
                                     (const uint8_t *) signal->event, signal->event_len,
                                     signal->emitter_signature, &reply);
    if (code != SP_OK && code != SP_DUPLICATE) {
        server_commit(self);        /* the rejection's audit event */
        return -1;
    }
    if (store_begin(self->store) != 0
        || store_signal_find(self->store, signal->source, signal->id, &signal_id, stored) != 1
        || s_record_hop(self, signal, signal_id, NULL) != 0) {
        self->tx_failed = true;
        server_commit(self);
        return -1;
    }
    /* durable before the link signs a receipt that says so */
    return server_commit(self) == 0 ? 0 : -1;
}

void upstream_handle(server_t *self)
{
    if (self->upstream && sp_partner_poll(self->upstream->partner, s_relay, self, 0) < 0)
        sp_log(SP_LOG_ERROR, "node link: %s", sp_partner_last_error(self->upstream->partner));
}
