/*  cmd_listen.c - `seinpost listen`: the reference partner endpoint. Each
    new verified signal becomes one JSON line on stdout (flushed) or the
    stdin of --exec CMD; it is recorded in the partner's state file, and
    the receipt covers it only after both succeeded and the record is on
    disk. A signal handled before (by seq, or by source and id) is not
    handed on again, also after a restart. With http_sink in the
    configuration each one is POSTed to that sink instead (sp_http_sink,
    protocol.md 15.1) and counts as handled only on a 2xx it accepts.  */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "sp_http_sink.h"
#include "sp_util.h"

typedef struct {
    const char *exec;
    long count;                 /* stop after this many new signals; 0 = never */
    long handled;
    sp_http_sink_t *sink;       /* http_sink, or NULL */
    bool sink_gone;             /* it answered 410: hand nothing on, exit 5 */
} listen_ctx_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static int s_write_line(const sp_signal_t *signal)
{
    json_error_t jerr;
    json_t *event = json_loadb(signal->event, signal->event_len, 0, &jerr);
    json_t *line = json_pack("{s:s, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:o}",
                             "subscription", signal->subscription,
                             "seq", (json_int_t) signal->seq, "source", signal->source,
                             "id", signal->id, "type", signal->type,
                             "grondslag", signal->grondslag, "activity", signal->activity,
                             "event", event ? event : json_null());
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return -1;
    int rc = (puts(text) < 0 || fflush(stdout) != 0) ? -1 : 0;
    free(text);
    return rc;
}

static int s_run_exec(const char *command, const sp_signal_t *signal)
{
    FILE *pipe = popen(command, "w");
    if (!pipe)
        return -1;
    size_t written = fwrite(signal->event, 1, signal->event_len, pipe);
    int status = pclose(pipe);
    if (written != signal->event_len || status == -1)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*  The exact event bytes the emitter signed, under its CloudEvents id.
    A 410 is said once, as an alert: an operator must act (the sink's
    owner ended the subscription, or the URL is wrong).                */
static int s_post_sink(listen_ctx_t *ctx, const sp_signal_t *signal)
{
    sp_http_sink_result_t result = sp_http_sink_post(ctx->sink, signal->id,
                                                     signal->event, signal->event_len);
    if (result == SP_HTTP_SINK_OK)
        return 0;
    if (result == SP_HTTP_SINK_GONE && !ctx->sink_gone)
        fprintf(stderr, "seinpost listen: ALERT: %s: handing nothing on any more; "
                "stopping with exit status 5\n", sp_http_sink_error(ctx->sink));
    else if (result != SP_HTTP_SINK_GONE)
        fprintf(stderr, "seinpost listen: http sink: %s\n", sp_http_sink_error(ctx->sink));
    ctx->sink_gone = ctx->sink_gone || result == SP_HTTP_SINK_GONE;
    return -1;
}

static int s_handle(const sp_signal_t *signal, void *arg)
{
    listen_ctx_t *ctx = arg;
    if (signal->duplicate)
        return 0;               /* already written once: acknowledge again */
    int rc = ctx->sink ? s_post_sink(ctx, signal)
           : ctx->exec ? s_run_exec(ctx->exec, signal) : s_write_line(signal);
    if (rc == 0)
        ctx->handled++;
    return rc;
}

static int s_loop(sp_partner_t *partner, listen_ctx_t *ctx)
{
    while (!s_stop && !ctx->sink_gone && (ctx->count == 0 || ctx->handled < ctx->count)) {
        if (sp_partner_poll(partner, s_handle, ctx, 200) < 0)
            return CMD_FAILED;
        if (sp_partner_last_error(partner)[0]) {
            fprintf(stderr, "seinpost listen: refused a batch: %s\n",
                    sp_partner_last_error(partner));
            ((char *) sp_partner_last_error(partner))[0] = '\0';
        }
    }
    /* let the last receipt leave before the socket closes (after a 410,
       what still comes is refused: the sink takes nothing any more) */
    sp_partner_poll(partner, s_handle, ctx, 100);
    return ctx->sink_gone ? CMD_SINK_GONE : CMD_OK;
}

/*  http_sink: set up, and the OPTIONS handshake, before anything is
    accepted; a sink that does not allow us is a reason not to start.  */
static int s_sink_open(const cli_conf_t *conf, listen_ctx_t *ctx, char *err, size_t errlen)
{
    char whpk[64];
    sp_http_sink_conf_t sc = {
        .url = conf->sink_url, .bearer_token_file = conf->sink_token_file,
        .signing_key = conf->sink_key_path, .origin = conf->sink_origin,
        .timeout_ms = conf->sink_timeout_ms, .insecure_http = conf->sink_insecure_http };
    if (!conf->sink_url)
        return 0;
    if (ctx->exec) {
        snprintf(err, errlen, "--exec and http_sink exclude each other");
        return -1;
    }
    ctx->sink = sp_http_sink_new(&sc, err, errlen);
    if (!ctx->sink || sp_http_sink_handshake(ctx->sink, err, errlen) != 0)
        return -1;
    if (sp_http_sink_public_text(ctx->sink, whpk, sizeof whpk) == 0)
        fprintf(stderr, "seinpost listen: http sink: handshake done; the sink verifies "
                "webhook-signature with %s\n", whpk);
    else
        fprintf(stderr, "seinpost listen: http sink: handshake done (no signing_key: "
                "no webhook-signature)\n");
    return 0;
}

static sp_partner_t *s_partner_open(const cli_conf_t *conf, char *err, size_t errlen)
{
    const sp_key_t *routers[4] = { conf->router_key };
    size_t count = 1;
    for (size_t i = 0; i < conf->router_other_count && count < 4; i++)
        routers[count++] = conf->router_other_keys[i];
    char *state = cli_conf_state_path(conf);
    sp_partner_conf_t pc = {
        .endpoint = conf->listen, .key = conf->signing_key, .router_keys = routers,
        .router_key_count = count,
        .emitter_keys = (const sp_key_t *const *) conf->emitter_keys,
        .emitter_key_count = conf->emitter_key_count,
        .curve_secret_file = conf->curve_secret_path,
        .router_curve_keys = (const char *const *) conf->router_curve,
        .router_curve_key_count = conf->router_curve_count,
        .subscriber = conf->subscriber,
        .subscriptions = (const char *const *) conf->subscriptions,
        .subscription_count = conf->subscription_count,
        .state_path = state, .dedup_max_age_ms = conf->dedup_max_age_ms };
    sp_partner_t *partner = state ? sp_partner_new_conf(&pc, err, errlen) : NULL;
    if (!state)
        snprintf(err, errlen, "out of memory");
    free(state);
    return partner;
}

/*  --fetch-since: a seq (digits only) or a time (RFC 3339, a date or a
    duration before now, as audit --since); the FETCH goes out once the
    router has connected (sp_partner_fetch).                            */
static int s_fetch(sp_partner_t *partner, const char *since, const char *subscription)
{
    bool seq = since[0] && strspn(since, "0123456789") == strlen(since);
    int64_t since_ms = seq ? 0 : cmd_time_arg(since);
    if (since_ms < 0 || (seq && strlen(since) > 18)) {
        fprintf(stderr, "seinpost listen: --fetch-since takes a seq or a time, not '%s'\n",
                since);
        return -1;
    }
    if (sp_partner_fetch(partner, subscription, seq ? atoll(since) : 0, since_ms, 0) != 0) {
        fprintf(stderr, "seinpost listen: %s\n", sp_partner_last_error(partner));
        return -1;
    }
    return 0;
}

int cmd_listen(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "exec", required_argument, NULL, 'e' },
        { "count", required_argument, NULL, 'n' },
        { "fetch-since", required_argument, NULL, 'F' },
        { "fetch-subscription", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 } };
    const char *fetch_since = NULL, *fetch_subscription = NULL;
    listen_ctx_t ctx = { 0 };
    const char *conf_path = NULL;
    char err[1024] = "";
    int opt, rc = CMD_FAILED;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:e:n:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 'e': ctx.exec = optarg; break;
        case 'n': ctx.count = atol(optarg); break;
        case 'F': fetch_since = optarg; break;
        case 'S': fetch_subscription = optarg; break;
        default: return CMD_USAGE;
        }
    }
    if (!conf_path) {
        fprintf(stderr, "usage: seinpost listen -c CONF [--exec CMD] [--count N]\n"
                        "       [--fetch-since SEQ|TIME [--fetch-subscription S]]\n");
        return CMD_USAGE;
    }
    cli_conf_t *conf = cli_conf_load(conf_path, err, sizeof err);
    sp_partner_t *partner = NULL;
    if (!conf || !conf->listen || !conf->signing_key || !conf->router_key) {
        fprintf(stderr, "seinpost listen: %s\n",
                err[0] ? err : "config needs listen, signing_key and router_public_key");
        goto cleanup;
    }
    if (s_sink_open(conf, &ctx, err, sizeof err) != 0) {
        fprintf(stderr, "seinpost listen: %s\n", err);
        goto cleanup;
    }
    partner = s_partner_open(conf, err, sizeof err);
    if (!partner) {
        fprintf(stderr, "seinpost listen: %s\n", err);
        goto cleanup;
    }
    if (fetch_since && s_fetch(partner, fetch_since, fetch_subscription) != 0) {
        rc = CMD_USAGE;
        goto cleanup;
    }
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    rc = s_loop(partner, &ctx);
cleanup:
    sp_partner_destroy(&partner);
    sp_http_sink_destroy(&ctx.sink);
    cli_conf_destroy(&conf);
    return rc;
}
