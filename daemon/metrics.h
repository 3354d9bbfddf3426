/*  metrics.h - OpenMetrics text: counters (signals by outcome and code,
    deliveries by subscriber and outcome), gauges (queue depth, oldest
    pending age), histograms (ingress-to-ACK and ingress-to-receipt
    latency). Served on the admin socket (`seinpost metrics`) and, when
    configured, over HTTP for Prometheus (libmicrohttpd, its own thread
    serving the snapshot the event loop renders once a second).          */
#ifndef METRICS_H_INCLUDED
#define METRICS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define METRICS_BUCKETS 18

typedef struct {
    uint64_t counts[METRICS_BUCKETS + 1];   /* last one: +Inf */
    uint64_t count;
    double sum;                             /* seconds */
} histogram_t;

void histogram_observe(histogram_t *self, double seconds);
/*  Adds what other observed to self.                                    */
void histogram_merge(histogram_t *self, const histogram_t *other);

struct server;
/*  Renders the whole exposition; caller frees. Ends with "# EOF".       */
char *metrics_render(struct server *self);

/*  The exposition of a standby (standby.c): seinpost_node_active 0,
    whether the database answered, and the node it saw holding the lease
    (holder: "" when unknown: no sample then).                          */
char *metrics_render_standby(const char *holder, bool database_up);

/*  HTTP endpoint ("127.0.0.1:9464" or ":9464") in *http_p, serving what
    was last published; a NULL address: none, and 0.                    */
int metrics_http_start(void **http_p, const char *address, char *err, size_t errlen);
/*  The endpoint's next answer; takes text (NULL: 404 until the next).   */
void metrics_http_publish(char *text);
/*  Renders and publishes self's exposition, at most once a second.      */
void metrics_http_refresh(struct server *self);
/*  Milliseconds until the snapshot is due again (the loop wakes for it, so
    that what Prometheus reads is never much more than a second old), or
    -1 without an HTTP endpoint.                                          */
int64_t metrics_http_wait_ms(const struct server *self, int64_t now);
void metrics_http_stop(void **http_p);

#endif
