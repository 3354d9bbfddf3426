/*  fetch.c - FETCH: a partner asks for the deliveries it missed.

    A partner that lost what it handed on (its downstream store was
    restored from an old backup, say) asks on its delivery connection for
    its deliveries again, since a seq or a time. The request is signed
    with the partner's key and names its subscriber and one subscription;
    the router verifies it as it verifies a receipt, then does what an
    operator's REDELIVER does (redeliver.c) for that subscription's
    delivered and dead-lettered deliveries in range whose payload is not
    purged: each is checked against the subscription as configured now
    (its legal basis) and queued again under a new seq, audited as asked
    by the partner. It answers with a router-signed FETCHED that names
    the new seqs, so that the partner hands them on although it handled
    the signals before (docs/protocol.md 7.4).
    A partner can ask once per FETCH_INTERVAL_MS and not while the last
    request is still being delivered, at most SP_FETCH_LIMIT_MAX each
    time: asking cannot grow the queue faster than the partner takes it.
    Refusals count as the partner's noise (flood.h), like a refused
    receipt, so a flood of FETCHes costs a bounded number of log lines
    and audit rows.                                                     */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "redeliver.h"
#include "sp_event.h"
#include "sp_util.h"

static const flood_policy_t s_noise_policy = { DELIVER_NOISE_INTERVAL_MS,
                                               DELIVER_NOISE_PER_INTERVAL };

typedef struct {
    char request_id[SP_FETCH_REQUEST_ID_MAX + 1];
    const subscription_t *subscription;
    int64_t since_seq;          /* 0 when by time */
    int64_t since_ms;           /* 0 when by seq */
    int limit;
} fetch_req_t;

static void s_send_refused(sub_state_t *sub, const char *request_id, const char *code,
                           const char *why)
{
    const void *parts[] = { SP_PROTOCOL_DELIVERY, SP_CMD_FETCH_REFUSED, request_id, code,
                            why };
    size_t sizes[] = { strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_FETCH_REFUSED),
                       strlen(request_id), strlen(code), strlen(why) };
    /* not waiting on a partner that does not read: it may ask again */
    sp_send_parts(sub->socket, parts, sizes, SP_REFUSED_FRAMES, ZMQ_DONTWAIT);
}

/*  Answered always; logged and audited one by one only within the
    partner's noise limit, as a refused receipt (receipt.c).            */
static void s_refuse(server_t *self, sub_state_t *sub, const char *request_id,
                     const char *code, const char *why)
{
    int64_t now = sp_clock_ms();
    s_send_refused(sub, request_id, code, why);
    receipt_noise_flush(self, sub, now, false);
    if (!flood_admit(&sub->noise, &s_noise_policy, now, code, why))
        return;
    sp_log(SP_LOG_WARNING, "FETCH from %s refused: %s: %s", sub->name, code, why);
    if (store_begin(self->store) != 0) {
        self->tx_failed = true;
        return;
    }
    json_t *detail = json_pack("{s:s, s:s}", "code", code, "reason", why);
    if (request_id[0])
        json_object_set_new(detail, "request_id", json_string(request_id));
    audit_append(self->audit, FETCH_AUDIT_REFUSED, NULL, 0, sub->name, detail);
}

/*  The subscription the body names, or the subscriber's only one.      */
static const subscription_t *s_subscription(const sub_state_t *sub, json_t *body)
{
    json_t *name = json_object_get(body, "subscription");
    if (!name)
        return sub->conf->sub_count == 1 ? &sub->conf->subs[0] : NULL;
    return json_is_string(name) ? deliver_subscription(sub->conf, json_string_value(name))
                                : NULL;
}

/*  since_seq or since (not both), and limit; NULL or what is wrong.    */
static const char *s_range(json_t *body, fetch_req_t *req)
{
    json_t *seq = json_object_get(body, "since_seq"), *since = json_object_get(body, "since");
    json_t *limit = json_object_get(body, "limit");
    if (!seq == !since)
        return "FETCH needs either since_seq or since";
    if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0))
        return "since_seq is not an integer >= 0";
    req->since_seq = seq ? json_integer_value(seq) : 0;
    if (since && (req->since_ms = sp_time_parse_rfc3339(json_string_value(since))) < 0)
        return "since is not an RFC 3339 time";
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1))
        return "limit is not an integer >= 1";
    /* a larger limit is not an error: the partner asks again for more */
    req->limit = !limit || json_integer_value(limit) > SP_FETCH_LIMIT_MAX
        ? SP_FETCH_LIMIT_MAX : (int) json_integer_value(limit);
    return NULL;
}

/*  The body, once its signature verified; NULL or what is wrong.       */
static const char *s_parse(const sub_state_t *sub, json_t *body, fetch_req_t *req)
{
    const char *id = json_string_value(json_object_get(body, "request_id"));
    const char *name = json_string_value(json_object_get(body, "subscriber"));
    if (id && *id && strlen(id) <= SP_FETCH_REQUEST_ID_MAX && sp_text_printable(id))
        snprintf(req->request_id, sizeof req->request_id, "%s", id);
    if (!json_is_object(body) || json_integer_value(json_object_get(body, "v")) != 2)
        return "FETCH body is not a version 2 JSON object";
    if (!req->request_id[0])
        return "request_id is not 1..64 printable ASCII characters";
    if (!name || strcmp(name, sub->name) != 0)
        return "FETCH does not name this subscriber";
    if (!(req->subscription = s_subscription(sub, body)))
        return "FETCH names no subscription of this subscriber (with several, it must "
               "name one)";
    return s_range(body, req);
}

/*  NULL when the FETCH may be served now, or why not (in why).          */
static const char *s_check(sub_state_t *sub, sp_frames_t *f, fetch_req_t *req, char *why,
                           size_t whylen)
{
    const char *wrong;
    if (f->count != SP_FETCH_FRAMES || f->dropped
        || sp_frame_size(f, SP_FETCH_SIGNATURE) != SP_SIGNATURE_SIZE) {
        snprintf(why, whylen, "FETCH needs 4 frames with a 64-byte signature");
        return sp_code_name(SP_E_FRAMES);
    }
    if (sp_key_verify(sub->conf->key, SP_DOMAIN_FETCH, sp_frame_data(f, SP_FETCH_BODY),
                      sp_frame_size(f, SP_FETCH_BODY),
                      sp_frame_data(f, SP_FETCH_SIGNATURE)) != 0) {
        snprintf(why, whylen, "FETCH signature does not verify with the subscriber's key");
        return SP_FETCH_E_SIGNATURE;
    }
    json_t *body = json_loadb(sp_frame_data(f, SP_FETCH_BODY), sp_frame_size(f, SP_FETCH_BODY),
                              JSON_REJECT_DUPLICATES, NULL);
    wrong = s_parse(sub, body, req);
    json_decref(body);
    if (wrong) {
        snprintf(why, whylen, "%s", wrong);
        return SP_FETCH_E_INVALID;
    }
    return NULL;
}

/*  Deliveries the last FETCH queued that are still pending; -1 on error. */
static int64_t s_still_pending(server_t *self, const sub_state_t *sub)
{
    db_stmt_t *stmt = NULL;
    int64_t count = -1;
    if (sub->fetch_last_seq == 0)
        return 0;
    if (!(stmt = db_prepare(store_conn(self->store), "SELECT COUNT(*) FROM deliveries"
                            " WHERE subscriber = ? AND subscription = ? AND state = 0"
                            " AND seq BETWEEN ? AND ?", false)))
        return -1;
    db_bind_text(stmt, 1, sub->name, -1);
    db_bind_text(stmt, 2, sub->fetch_subscription, -1);
    db_bind_int64(stmt, 3, sub->fetch_first_seq);
    db_bind_int64(stmt, 4, sub->fetch_last_seq);
    if (db_step(stmt) == DB_ROW)
        count = db_column_int64(stmt, 0);
    db_finalize(&stmt);
    return count;
}

/*  NULL when this partner may be served now, or why not.               */
static const char *s_rate(server_t *self, const sub_state_t *sub, int64_t now, char *why,
                          size_t whylen)
{
    if (sub->fetch_at != 0 && now - sub->fetch_at < FETCH_INTERVAL_MS) {
        snprintf(why, whylen, "one FETCH per %d s per subscriber; the last was served "
                 "%" PRId64 " ms ago", FETCH_INTERVAL_MS / 1000, now - sub->fetch_at);
        return SP_FETCH_E_RATE;
    }
    int64_t pending = s_still_pending(self, sub);
    if (pending < 0) {
        snprintf(why, whylen, "cannot read the queue: %s", store_errmsg(self->store));
        return sp_code_name(SP_E_STORAGE);
    }
    if (pending > 0) {
        snprintf(why, whylen, "%" PRId64 " deliveries the last FETCH queued are still on "
                 "their way", pending);
        return SP_FETCH_E_RATE;
    }
    return NULL;
}

#define FETCH_WHERE \
    " WHERE d.subscriber = ? AND d.subscription = ? AND d.state <> 0" \
    " AND d.seq > ? AND d.created_at >= ?"

/*  The deliveries in range whose payload is kept into r; those whose
    payload was purged only counted: there is nothing left to send.    */
static int s_collect(server_t *self, const sub_state_t *sub, const fetch_req_t *req,
                     redeliver_t *r, int64_t *purged)
{
    static const char *const sql[2] = {
        REDELIVER_SELECT FETCH_WHERE " AND s.event IS NOT NULL ORDER BY d.id LIMIT ?",
        "SELECT COUNT(*) FROM deliveries d JOIN signals s ON s.id = d.signal_id"
        FETCH_WHERE " AND s.event IS NULL" };
    int rc = 0, found = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        db_stmt_t *stmt = db_prepare(store_conn(self->store), sql[i], false);
        if (!stmt) {
            rc = -1;
            break;
        }
        db_bind_text(stmt, 1, sub->name, -1);
        db_bind_text(stmt, 2, req->subscription->name, -1);
        db_bind_int64(stmt, 3, req->since_seq);
        db_bind_int64(stmt, 4, req->since_ms);
        if (i == 0) {
            /* one more than r takes says "more"; PostgreSQL sends the
               whole result at once, so it is bounded here              */
            db_bind_int64(stmt, 5, (int64_t) r->cap + 1);
            rc = redeliver_collect(r, stmt, &found);
        }
        else
            *purged = db_step(stmt) == DB_ROW ? db_column_int64(stmt, 0) : 0;
        db_finalize(&stmt);
    }
    return rc;
}

/*  What the FETCHED answer and the partner.fetch event say.            */
static json_t *s_outcome(server_t *self, const sub_state_t *sub, const fetch_req_t *req,
                         const redeliver_t *r, int64_t purged)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:I}", "v", 2,
                     "router", self->config->node_name, "subscriber", sub->name,
                     "subscription", req->subscription->name, "request_id", req->request_id,
                     "queued", (json_int_t) r->applied,
                     "refused", (json_int_t) json_array_size(r->skipped),
                     "purged", (json_int_t) purged, "more", r->more,
                     "first_seq", (json_int_t) r->first_seq,
                     "last_seq", (json_int_t) r->last_seq);
}

/*  The request as the partner put it, with what came of it.           */
static int s_audit_served(server_t *self, const sub_state_t *sub, const fetch_req_t *req,
                          json_t *outcome)
{
    json_t *detail = json_deep_copy(outcome);
    char since[40];
    if (!detail || store_begin(self->store) != 0) {
        json_decref(detail);
        return -1;
    }
    json_object_del(detail, "v");
    json_object_set_new(detail, "limit", json_integer(req->limit));
    if (req->since_ms > 0) {
        sp_time_format(req->since_ms, since, sizeof since);
        json_object_set_new(detail, "since", json_string(since));
    } else
        json_object_set_new(detail, "since_seq", json_integer(req->since_seq));
    return audit_append(self->audit, FETCH_AUDIT_SERVED, NULL, 0, sub->name, detail);
}

/*  Signed by the node key, like a batch: a forged FETCHED could make the
    partner hand on again what it did not ask for.                      */
static int s_send_fetched(server_t *self, sub_state_t *sub, json_t *outcome)
{
    uint8_t sig[SP_SIGNATURE_SIZE];
    char *text = json_dumps(outcome, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = -1;
    if (text && sp_key_sign(self->config->signing_key, SP_DOMAIN_FETCHED, text, strlen(text),
                            sig) == 0) {
        const void *parts[] = { SP_PROTOCOL_DELIVERY, SP_CMD_FETCHED, text, sig };
        size_t sizes[] = { strlen(SP_PROTOCOL_DELIVERY), strlen(SP_CMD_FETCHED),
                           strlen(text), sizeof sig };
        rc = sp_send_parts(sub->socket, parts, sizes, SP_FETCH_FRAMES, ZMQ_DONTWAIT);
    }
    free(text);
    return rc;
}

/*  Queues, audits and commits, then answers: the FETCHED leaves before
    the batches that carry what it names (dispatch runs after this), so
    the partner knows them as asked for when they come.                */
static void s_serve(server_t *self, sub_state_t *sub, const fetch_req_t *req, int64_t now)
{
    redeliver_t r;
    int64_t purged = 0;
    char err[300];
    json_t *outcome = NULL, *who = json_pack("{s:s, s:s}", "requested_by", "partner",
                                             "request_id", req->request_id);
    if (redeliver_open(&r, self, (size_t) req->limit, who, err, sizeof err) != 0
        || s_collect(self, sub, req, &r, &purged) != 0 || redeliver_screen(self, &r) != 0
        || redeliver_apply(self, &r) != 0 || !(outcome = s_outcome(self, sub, req, &r, purged))
        || s_audit_served(self, sub, req, outcome) != 0)
        self->tx_failed = true;     /* the whole turn rolls back */
    if (server_commit(self) != 0) {
        /* after a failed fsync no answer would be true: none at all */
        if (!self->storage_fatal)
            s_refuse(self, sub, req->request_id, sp_code_name(SP_E_STORAGE),
                     "storage failure; nothing queued");
        goto cleanup;
    }
    sub->fetch_at = now;
    sub->fetch_subscription = req->subscription->name;
    sub->fetch_first_seq = r.first_seq;
    sub->fetch_last_seq = r.last_seq;
    if (s_send_fetched(self, sub, outcome) != 0)
        sp_log(SP_LOG_WARNING, "FETCHED to %s not sent: %s", sub->name,
               zmq_strerror(zmq_errno()));
    sp_log(SP_LOG_NOTICE, "FETCH %s from %s (%s): %lld queued again, %zu refused (legal "
           "basis), %lld purged%s", req->request_id, sub->name, req->subscription->name,
           (long long) r.applied, json_array_size(r.skipped), (long long) purged,
           r.more ? "; more in range" : "");
cleanup:
    json_decref(outcome);
    json_decref(who);
    redeliver_close(&r);
}

void fetch_handle(server_t *self, sub_state_t *sub, sp_frames_t *f)
{
    fetch_req_t req = { .request_id = "" };
    char why[200];
    int64_t now = sp_clock_ms();
    const char *code = s_check(sub, f, &req, why, sizeof why);
    if (!code)
        code = s_rate(self, sub, now, why, sizeof why);
    if (code)
        s_refuse(self, sub, req.request_id, code, why);
    else
        s_serve(self, sub, &req, now);
}
