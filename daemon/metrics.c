/*  metrics.c - OpenMetrics exposition and the optional HTTP endpoint.      */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "metrics.h"
#include "server.h"
#include "sp_util.h"

static const double s_bounds[METRICS_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 300, 3600 };

void histogram_observe(histogram_t *self, double seconds)
{
    int i = 0;
    while (i < METRICS_BUCKETS && seconds > s_bounds[i])
        i++;
    self->counts[i]++;
    self->count++;
    self->sum += seconds;
}

void histogram_merge(histogram_t *self, const histogram_t *other)
{
    for (int i = 0; i <= METRICS_BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->count += other->count;
    self->sum += other->sum;
}

typedef struct {
    char *text;
    size_t len, cap;
} buf_t;

static void s_put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_put(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = b->text ? vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t) n < b->cap - b->len) {
            b->len += (size_t) n;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 8192;
        char *grown = realloc(b->text, cap);
        if (!grown)
            return;
        b->text = grown;
        b->cap = cap;
    }
}

static void s_family(buf_t *b, const char *name, const char *type, const char *help)
{
    s_put(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

static void s_histogram(buf_t *b, const char *name, const char *help, const histogram_t *h)
{
    uint64_t cumulative = 0;
    s_family(b, name, "histogram", help);
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cumulative += h->counts[i];
        s_put(b, "%s_bucket{le=\"%g\"} %llu\n", name, s_bounds[i],
              (unsigned long long) cumulative);
    }
    s_put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long) h->count);
    s_put(b, "%s_count %llu\n%s_sum %.6f\n", name, (unsigned long long) h->count,
          name, h->sum);
}

static void s_signals(buf_t *b, const server_stats_t *st)
{
    s_family(b, "seinpost_signals_received", "counter", "EMIT messages received.");
    s_put(b, "seinpost_signals_received_total %lld\n", (long long) st->received);
    s_family(b, "seinpost_signals_accepted", "counter", "Signals stored and acknowledged.");
    s_put(b, "seinpost_signals_accepted_total %lld\n", (long long) st->accepted);
    s_family(b, "seinpost_signals_duplicate", "counter",
             "Duplicates of accepted signals, answered like the first time.");
    s_put(b, "seinpost_signals_duplicate_total %lld\n", (long long) st->duplicates);
    s_family(b, "seinpost_signals_rejected", "counter", "Signals rejected, by code.");
    for (int code = SP_E_PROTOCOL; code < SP_CODE_COUNT; code++)
        if (st->rejected_by_code[code])
            s_put(b, "seinpost_signals_rejected_total{code=\"%s\"} %lld\n",
                  sp_code_name((sp_code_t) code), (long long) st->rejected_by_code[code]);
    s_family(b, "seinpost_connections_refused", "counter",
             "CURVE handshakes refused by ZAP.");
    s_put(b, "seinpost_connections_refused_total %lld\n", (long long) st->connections_refused);
    s_family(b, "seinpost_replies_dropped", "counter",
             "Replies that could not be sent (emitter gone); it resends and gets DUPLICATE.");
    s_put(b, "seinpost_replies_dropped_total %lld\n", (long long) st->replies_dropped);
}

static void s_subscribers(buf_t *b, server_t *self)
{
    int64_t now = sp_time_now_ms();
    s_family(b, "seinpost_deliveries", "counter", "Deliveries by subscriber and outcome.");
    for (size_t i = 0; i < self->sub_count; i++) {
        const sub_state_t *sub = &self->subs[i];
        s_put(b, "seinpost_deliveries_total{subscriber=\"%s\",outcome=\"delivered\"} %lld\n"
                 "seinpost_deliveries_total{subscriber=\"%s\",outcome=\"dead_lettered\"} %lld\n"
                 "seinpost_deliveries_total{subscriber=\"%s\",outcome=\"failed_attempt\"} %lld\n",
              sub->name, (long long) sub->delivered, sub->name, (long long) sub->dead,
              sub->name, (long long) sub->failed_attempts);
    }
    s_family(b, "seinpost_partner_refusals", "counter",
             "Messages from the partner refused or ignored (receipt.c).");
    for (size_t i = 0; i < self->sub_count; i++)
        s_put(b, "seinpost_partner_refusals_total{subscriber=\"%s\"} %lld\n",
              self->subs[i].name, (long long) self->subs[i].noise.total);
    s_family(b, "seinpost_queue_depth", "gauge", "Pending deliveries per subscriber.");
    buf_t ages = { 0 };
    s_family(&ages, "seinpost_oldest_pending_age_seconds", "gauge",
             "Age of the oldest pending delivery per subscriber.");
    for (size_t i = 0; i < self->sub_count; i++) {
        int64_t pending = 0, oldest = 0;
        store_pending_stats(self->store, self->subs[i].name, &pending, &oldest);
        s_put(b, "seinpost_queue_depth{subscriber=\"%s\"} %lld\n", self->subs[i].name,
              (long long) pending);
        s_put(&ages, "seinpost_oldest_pending_age_seconds{subscriber=\"%s\"} %.3f\n",
              self->subs[i].name, oldest ? (double) (now - oldest) / 1000.0 : 0.0);
    }
    if (ages.text)
        s_put(b, "%s", ages.text);
    free(ages.text);
}

/*  1 on the node that routes, 0 on a standby: over the nodes of one
    PostgreSQL database the sum is 1, or the service is down.           */
static void s_role(buf_t *b, bool active)
{
    s_family(b, "seinpost_node_active", "gauge",
             "1: this node routes; 0: a standby waiting for the lease.");
    s_put(b, "seinpost_node_active %d\n", active ? 1 : 0);
}

char *metrics_render(server_t *self)
{
    buf_t b = { 0 };
    s_role(&b, true);
    s_signals(&b, &self->stats);
    s_subscribers(&b, self);
    s_histogram(&b, "seinpost_ingress_ack_latency_seconds",
                "From an EMIT's arrival to its ACCEPTED/REJECTED reply.",
                &self->stats.ack_latency);
    s_histogram(&b, "seinpost_ingress_receipt_latency_seconds",
                "From a signal's acceptance to the partner's receipt.",
                &self->stats.receipt_latency);
    s_put(&b, "# EOF\n");
    return b.text;
}

/*  "name{label="value"} 1", the value escaped as OpenMetrics wants: it
    is another node's name, read from the database.                   */
static void s_label_sample(buf_t *b, const char *name, const char *label, const char *value)
{
    s_put(b, "%s{%s=\"", name, label);
    for (const char *c = value; *c; c++) {
        if (*c == '"' || *c == '\\')
            s_put(b, "\\%c", *c);
        else if (*c == '\n')
            s_put(b, "\\n");
        else
            s_put(b, "%c", *c);
    }
    s_put(b, "\"} 1\n");
}

char *metrics_render_standby(const char *holder, bool database_up)
{
    buf_t b = { 0 };
    s_role(&b, false);
    s_family(&b, "seinpost_standby_database_up", "gauge",
             "1: this standby's last question to the database was answered.");
    s_put(&b, "seinpost_standby_database_up %d\n", database_up ? 1 : 0);
    s_family(&b, "seinpost_standby_active_node", "info",
             "The node holding the lease, as this standby last saw it.");
    if (holder[0])
        s_label_sample(&b, "seinpost_standby_active_node_info", "node", holder);
    s_put(&b, "# EOF\n");
    return b.text;
}

/*  The HTTP thread only ever reads the snapshot, under the lock.        */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char *s_snapshot;
static int64_t s_next_refresh;

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload, size_t *upload_len, void **state)
{
    (void) cls; (void) version; (void) upload; (void) upload_len; (void) state;
    pthread_mutex_lock(&s_lock);
    bool found = strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0 && s_snapshot;
    const char *body = found ? s_snapshot : "not found\n";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&s_lock);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", found
        ? "application/openmetrics-text; version=1.0.0; charset=utf-8" : "text/plain");
    enum MHD_Result rc = MHD_queue_response(conn, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND,
                                            response);
    MHD_destroy_response(response);
    return rc;
}

static int s_parse_address(const char *text, struct sockaddr_in *addr)
{
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(text, ':');
    if (!colon || colon - text >= (long) sizeof host)
        return -1;
    if (colon > text) {
        memcpy(host, text, (size_t) (colon - text));
        host[colon - text] = '\0';
    }
    int port = atoi(colon + 1);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t) port);
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

int metrics_http_start(void **http_p, const char *address, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    *http_p = NULL;
    if (!address)
        return 0;
    if (s_parse_address(address, &addr) != 0) {
        snprintf(err, errlen, "metrics: '%s' is not HOST:PORT", address);
        return -1;
    }
    /* A standby hands the port to the active node it becomes, which binds
       it at once: libmicrohttpd sets SO_REUSEADDR itself, so connections
       left in TIME_WAIT do not hold it. Not MHD_OPTION_LISTENING_ADDRESS_
       REUSE: that is SO_REUSEPORT, which would let two nodes on one host
       share the port without a word.                                   */
    *http_p = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                               ntohs(addr.sin_port), NULL, NULL, s_answer, NULL,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                               MHD_OPTION_CONNECTION_LIMIT, 16u,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!*http_p) {
        snprintf(err, errlen, "metrics: cannot listen on %s", address);
        return -1;
    }
    return 0;
}

void metrics_http_publish(char *text)
{
    pthread_mutex_lock(&s_lock);
    free(s_snapshot);
    s_snapshot = text;
    pthread_mutex_unlock(&s_lock);
}

void metrics_http_refresh(server_t *self)
{
    int64_t now = sp_clock_ms();
    if (now < s_next_refresh)
        return;
    s_next_refresh = now + 1000;
    metrics_http_publish(metrics_render(self));
}

int64_t metrics_http_wait_ms(const server_t *self, int64_t now)
{
    if (!self->http)
        return -1;
    return s_next_refresh > now ? s_next_refresh - now : 0;
}

void metrics_http_stop(void **http_p)
{
    if (*http_p)
        MHD_stop_daemon(*http_p);
    *http_p = NULL;
    s_next_refresh = 0;
    metrics_http_publish(NULL);
}
