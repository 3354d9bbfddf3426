/*  reload.c - configuration reload, and the pending deliveries it leaves
    without a legal basis: of a subscription removed, or one whose type or
    filter no longer takes the signal (checked when its definition changed,
    at a reload or a start).                                            */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"
#include "jsonw.h"
#include "reload.h"
#include "route.h"
#include "sp_util.h"

typedef struct {
    server_t *server;
    const char *subscriber;
    const char *subscription;
    int count;
} orphan_ctx_t;

static const subscription_t *s_configured(const config_t *config, const char *subscriber,
                                          const char *subscription)
{
    const subscriber_t *conf = config_subscriber(config, subscriber);
    for (size_t i = 0; conf && i < conf->sub_count; i++)
        if (strcmp(conf->subs[i].name, subscription) == 0)
            return &conf->subs[i];
    return NULL;
}

/*  A pending delivery left without a legal basis: dead, audited.        */
static int s_dead_letter(server_t *self, const char *subscriber, const char *subscription,
                         int64_t delivery_id, int64_t signal_id, int64_t seq,
                         const char *trace_id, const char *reason)
{
    if (store_delivery_dead(self->store, delivery_id, reason, sp_time_now_ms()) != 0)
        return -1;
    /* counted at the commit; per subscriber too while it is configured
       (a subscription removed, the subscriber kept)                     */
    self->uncommitted.dead++;
    sub_state_t *sub = deliver_sub(self, subscriber);
    if (sub)
        sub->uncommitted_dead++;
    return audit_append(self->audit, AUDIT_DEAD, trace_id, signal_id, subscriber,
                        json_pack("{s:s, s:I, s:s}", "subscription", subscription,
                                  "seq", (json_int_t) seq, "reason", reason));
}

static int s_kill_orphan(int64_t delivery_id, int64_t signal_id, int64_t seq,
                         const char *trace_id, void *arg)
{
    orphan_ctx_t *ctx = arg;
    ctx->count++;
    return s_dead_letter(ctx->server, ctx->subscriber, ctx->subscription, delivery_id,
                         signal_id, seq, trace_id, "subscription removed from "
                         "configuration: no legal basis to deliver");
}

/*  ---- pending deliveries a changed subscription no longer covers ----- */

/*  What decides coverage: the type and the filter, in configured order.
    A changed legal-basis text alone changes nothing here.             */
static void s_fingerprint(const subscription_t *sub, char hex[2 * SP_SHA256_SIZE + 1])
{
    uint8_t digest[SP_SHA256_SIZE];
    jsonw_t w;
    jsonw_init(&w, 0);
    jsonw_member(&w, "[", sub->type);
    for (size_t i = 0; i < sub->cond_count; i++) {
        jsonw_member(&w, ",", sub->conds[i].path);
        jsonw_member_int(&w, ",", (int64_t) sub->conds[i].op);
        for (size_t j = 0; j < sub->conds[i].value_count; j++)
            jsonw_member(&w, ",", sub->conds[i].values[j]);
    }
    jsonw_raw(&w, "]");
    char *text = jsonw_finish(&w);
    sp_sha256(text ? text : "", text ? strlen(text) : 0, digest);
    sp_hex(digest, sizeof digest, hex);
    free(text);
}

/*  1 when the definition differs from the one its pending deliveries were
    last checked against (or none was recorded), and records it.       */
static int s_definition_changed(server_t *self, const char *subscriber,
                                const subscription_t *sub)
{
    char key[300], hex[2 * SP_SHA256_SIZE + 1];
    db_t *db = store_conn(self->store);
    db_stmt_t *stmt = NULL;
    int changed = -1;
    s_fingerprint(sub, hex);
    snprintf(key, sizeof key, "coverage:%s/%s", subscriber, sub->name);
    if (!(stmt = db_prepare(db, "SELECT value = ?2 FROM meta WHERE key = ?1", false)))
        return -1;
    db_bind_text(stmt, 1, key, -1);
    db_bind_text(stmt, 2, hex, -1);
    db_step_t step = db_step(stmt);
    if (step == DB_ROW || step == DB_DONE)
        changed = step == DB_DONE || (int) db_column_int64(stmt, 0) == 0;
    db_finalize(&stmt);
    if (changed != 1)
        return changed;
    if (!(stmt = db_prepare(db, "INSERT INTO meta(key, value) VALUES(?, ?)"
                                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            false)))
        return -1;
    db_bind_text(stmt, 1, key, -1);
    db_bind_text(stmt, 2, hex, -1);
    if (db_step(stmt) != DB_DONE)
        changed = -1;
    db_finalize(&stmt);
    return changed;
}

typedef struct {
    server_t *server;
    const char *subscriber;
    const subscription_t *sub;
    db_stmt_t *signal;
    int count;
} recheck_ctx_t;

/*  A pending delivery the subscription as configured now does not take
    is dead-lettered: it was routed under a basis that no longer covers
    it, and the header would name the new one.                         */
static int s_recheck_one(int64_t delivery_id, int64_t signal_id, int64_t seq,
                         const char *trace_id, void *arg)
{
    recheck_ctx_t *ctx = arg;
    char why[300], reason[400];
    int covers = route_covers_stored(ctx->server, ctx->sub, ctx->signal, signal_id, why,
                                     sizeof why);
    if (covers != 0)
        return 0;       /* covered, or unreadable: delivery shows that */
    snprintf(reason, sizeof reason, "%s (the subscription changed while it waited)", why);
    ctx->count++;
    return s_dead_letter(ctx->server, ctx->subscriber, ctx->sub->name, delivery_id, signal_id,
                         seq, trace_id, reason);
}

/*  Records every subscription's definition; marks in changed[] (one per
    subscription, in configuration order) those whose definition is not
    the one recorded. Recorded at every start and reload, so that a
    backlog is checked again only when its subscription did change.    */
static int s_mark_changed(server_t *self, bool *changed)
{
    size_t k = 0;
    for (size_t i = 0; i < self->config->subscriber_count; i++) {
        const subscriber_t *sb = &self->config->subscribers[i];
        for (size_t j = 0; j < sb->sub_count; j++, k++) {
            int rc = s_definition_changed(self, sb->name, &sb->subs[j]);
            if (rc < 0)
                return -1;
            changed[k] = rc == 1;
        }
    }
    return 0;
}

static bool s_was_changed(const config_t *config, const bool *changed,
                          const subscription_t *sub)
{
    size_t k = 0;
    for (size_t i = 0; i < config->subscriber_count; i++)
        for (size_t j = 0; j < config->subscribers[i].sub_count; j++, k++)
            if (&config->subscribers[i].subs[j] == sub)
                return changed[k];
    return false;
}

static int s_recheck(server_t *self, const char *subscriber, const subscription_t *sub)
{
    recheck_ctx_t ctx = { .server = self, .subscriber = subscriber, .sub = sub };
    if (!(ctx.signal = db_prepare(store_conn(self->store), ROUTE_STORED_SIGNAL, false)))
        return -1;
    int rc = store_each_pending_upto(self->store, subscriber, sub->name, INT64_MAX,
                                     s_recheck_one, &ctx);
    db_finalize(&ctx.signal);
    if (rc == 0 && ctx.count > 0)
        sp_log(SP_LOG_WARNING, "dead-lettered %d pending deliveries of %s/%s: the "
               "subscription as changed no longer covers them", ctx.count, subscriber,
               sub->name);
    return rc;
}

int server_dead_letter_orphans(server_t *self)
{
    db_stmt_t *stmt = NULL;
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; i < self->config->subscriber_count; i++)
        total += self->config->subscribers[i].sub_count;
    bool *changed = calloc(total + 1, sizeof *changed);
    if (!changed || store_begin(self->store) != 0 || s_mark_changed(self, changed) != 0) {
        free(changed);
        return -1;
    }
    if (!(stmt = db_prepare(store_conn(self->store),
                            "SELECT DISTINCT subscriber, subscription FROM deliveries"
                            " WHERE state = 0", false))) {
        free(changed);
        return -1;
    }
    while (rc == 0 && db_step(stmt) == DB_ROW) {
        orphan_ctx_t ctx = { .server = self };
        ctx.subscriber = db_column_text(stmt, 0);
        ctx.subscription = db_column_text(stmt, 1);
        const subscription_t *sub = s_configured(self->config, ctx.subscriber,
                                                 ctx.subscription);
        if (sub) {
            if (s_was_changed(self->config, changed, sub))
                rc = s_recheck(self, ctx.subscriber, sub);
            continue;
        }
        rc = store_each_pending_upto(self->store, ctx.subscriber, ctx.subscription,
                                     INT64_MAX, s_kill_orphan, &ctx);
        if (rc == 0 && ctx.count > 0)
            sp_log(SP_LOG_WARNING, "dead-lettered %d pending deliveries of %s/%s: "
                   "no longer configured", ctx.count, ctx.subscriber, ctx.subscription);
    }
    db_finalize(&stmt);
    free(changed);
    return rc;
}

static void s_refused(server_t *self, const char *errors)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", errors);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
        sp_log(SP_LOG_ERROR, "reload refused: %s", line);
    if (store_begin(self->store) == 0)
        audit_append(self->audit, AUDIT_CONFIG_REJECTED, NULL, 0, NULL,
                     json_pack("{s:s, s:s}", "config", self->config->path,
                               "errors", errors));
}

/*  The node link trusts the upstreams' and emitters' keys of the
    configuration it was opened with: opened again with the new one.  */
static void s_reopen_link(server_t *self)
{
    char err[512] = "";
    upstream_close(self);
    if (upstream_open(self, err, sizeof err) != 0)
        sp_log(SP_LOG_ERROR, "node link not reopened after the reload: %s", err);
    self->poll_items_stale = true;
}

/*  Counters survive a reload, so metrics stay monotonic.                 */
static void s_carry_counters(server_t *self, sub_state_t *fresh, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const sub_state_t *old = deliver_sub(self, fresh[i].name);
        if (!old)
            continue;
        fresh[i].delivered = old->delivered;
        fresh[i].dead = old->dead;
        fresh[i].failed_attempts = old->failed_attempts;
        fresh[i].last_success_ms = old->last_success_ms;
        fresh[i].last_alert_ms = old->last_alert_ms;
        memcpy(fresh[i].last_error, old->last_error, sizeof fresh[i].last_error);
    }
}

void server_note_key_change(server_t *self)
{
    char from[SP_KEY_ID_SIZE + 1];
    const char *to = sp_key_id(self->config->signing_key);
    int rotated = audit_key_rotated(self->audit, from, sizeof from);
    if (rotated < 0)
        self->tx_failed = true;
    if (rotated != 1)
        return;
    bool listed = config_key_by_id(NULL, &self->config->previous_keys, from) != NULL;
    /* and a checkpoint by the new key at once: the next comparison (a
       reload within the checkpoint interval, a change back) is against
       the key now in use                                               */
    if (audit_append(self->audit, AUDIT_NODE_KEY_CHANGED, NULL, 0, NULL,
                     json_pack("{s:s, s:s, s:b}", "from", from, "to", to,
                               "from_listed", listed)) != 0
        || audit_checkpoint(self->audit) != 0)
        self->tx_failed = true;
    if (listed)
        sp_log(SP_LOG_NOTICE, "node signing key changed from %s to %s", from, to);
    else
        sp_log(SP_LOG_WARNING, "node signing key changed from %s to %s; list the old "
               "public key in node.previous_public_keys, or seinpost audit verify "
               "reports what it signed as broken", from, to);
}

int server_reload(server_t *self)
{
    char err[4096] = "";
    config_t *fresh = config_load(self->config->path, err, sizeof err);
    if (!fresh) {
        s_refused(self, err);
        return 0;
    }
    /* the partner sockets before anything changes: a socket that cannot be
       opened refuses the whole reload, and every partner keeps its old one */
    sub_state_t *subs = deliver_prepare(self, fresh, err, sizeof err);
    if (!subs) {
        s_refused(self, err);
        config_destroy(&fresh);
        return 0;
    }
    if (server_commit(self) != 0) {
        deliver_discard(subs, fresh->subscriber_count);
        config_destroy(&fresh);
        return 0;
    }
    if (strcmp(fresh->ingress_endpoint, self->config->ingress_endpoint) != 0)
        sp_log(SP_LOG_WARNING, "reload: a new ingress endpoint takes effect at restart");
    s_carry_counters(self, subs, fresh->subscriber_count);
    config_t *old = self->config;
    self->config = fresh;
    /* in-flight windows restart from the database; partners dedup by seq */
    deliver_install(self, subs, fresh->subscriber_count);
    audit_set_key(self->audit, fresh->signing_key);
    server_size_emitters(self);
    /* the reload's own events first, in a transaction of their own: a
       failing orphan pass must not take them down (dispatch dead-letters
       what it leaves, and the next reload or start tries again)      */
    if (store_begin(self->store) != 0)
        self->tx_failed = true;
    server_note_key_change(self);
    audit_append(self->audit, AUDIT_CONFIG_LOADED, NULL, 0, NULL,
                 json_pack("{s:s, s:b, s:i, s:I}", "config", fresh->path, "reload", 1,
                           "subscribers", (int) fresh->subscriber_count,
                           "checkpoint_interval_ms",
                           (json_int_t) fresh->checkpoint_interval_ms));
    server_commit(self);
    if (server_dead_letter_orphans(self) != 0)
        self->tx_failed = true;
    server_commit(self);
    config_destroy(&old);
    s_reopen_link(self);
    sp_log(SP_LOG_NOTICE, "configuration reloaded: %zu subscribers, %zu emitters",
           fresh->subscriber_count, fresh->emitter_count);
    return 1;
}
