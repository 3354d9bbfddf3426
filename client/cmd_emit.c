/*  cmd_emit.c - `seinpost emit`: build a CloudEvent (or take one whole),
    sign it, send it, wait for ACCEPTED/REJECTED. --stream reads JSON lines
    from stdin and keeps up to --window signals in flight.               */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cmd.h"
#include "sp_event.h"
#include "sp_util.h"

#define EMIT_ID_SIZE 37     /* a UUID in text and its NUL */

/*  A --stream signal in flight whose id emit generated: its answer
    names it by correlation only.                                       */
typedef struct {
    char correlation[32];   /* "" for a free slot */
    char id[EMIT_ID_SIZE];
} emit_pending_t;

typedef struct {
    cli_conf_t *conf;
    sp_emitter_t *emitter;
    const char *type;
    const char *subject;
    int timeout_ms;
    int window;
    int rejected;
    int accepted;
    emit_pending_t *pending;    /* --stream: window slots */
} emit_ctx_t;

/*  A whole event when the input has specversion; otherwise the input is
    data and the envelope is built from the options and the config. id
    gets the CloudEvents id generated for the envelope, or "".          */
static char *s_event(emit_ctx_t *ctx, json_t *input, char id[EMIT_ID_SIZE],
                     char *err, size_t errlen)
{
    id[0] = '\0';
    if (json_object_get(input, "specversion"))
        return json_dumps(input, JSON_COMPACT);
    if (!ctx->type || !ctx->conf->source) {
        snprintf(err, errlen, "--type and a 'source' in the client config are needed");
        return NULL;
    }
    char when[40];
    sp_uuid4(id);
    sp_time_format(sp_time_now_ms(), when, sizeof when);
    json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "specversion", "1.0",
                              "id", id, "source", ctx->conf->source, "type", ctx->type,
                              "time", when, "datacontenttype", "application/json",
                              "data", input);
    if (ctx->subject)
        json_object_set_new(event, "subject", json_string(ctx->subject));
    char *text = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    return text;
}

/*  "ACCEPTED|REJECTED WHAT CODE: REASON", and " (id ID)" at the end when
    emit generated the event's id, so that the signal can be found again
    (seinpost audit list --signal, a partner's output).                 */
static void s_report(emit_ctx_t *ctx, const sp_reply_t *reply, const char *what,
                     const char *id)
{
    bool has_id = id && id[0];
    const char *pre = has_id ? " (id " : "", *shown = has_id ? id : "",
               *post = has_id ? ")" : "";
    if (reply->code <= SP_DUPLICATE) {
        ctx->accepted++;
        printf("ACCEPTED %s %s: %s%s%s%s\n", what, reply->code_name, reply->reason,
               pre, shown, post);
    } else {
        ctx->rejected++;
        fprintf(stderr, "REJECTED %s %s: %s%s%s%s\n", what, reply->code_name,
                reply->reason, pre, shown, post);
    }
    fflush(stdout);
}

static int s_one(emit_ctx_t *ctx, const char *data_path)
{
    char err[512] = "";
    json_error_t jerr;
    sp_reply_t reply;
    json_t *input = strcmp(data_path, "-") == 0
                    ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                    : json_load_file(data_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!input) {
        fprintf(stderr, "seinpost emit: %s: not JSON (line %d)\n", data_path, jerr.line);
        return CMD_USAGE;
    }
    char id[EMIT_ID_SIZE];
    char *event = s_event(ctx, input, id, err, sizeof err);
    json_decref(input);
    if (!event) {
        fprintf(stderr, "seinpost emit: %s\n", err);
        return CMD_USAGE;
    }
    int rc = sp_emitter_emit(ctx->emitter, event, strlen(event), &reply, ctx->timeout_ms);
    free(event);
    if (rc != 0) {
        fprintf(stderr, "seinpost emit: no answer from %s within %d ms\n",
                ctx->conf->endpoint, ctx->timeout_ms);
        return CMD_FAILED;
    }
    s_report(ctx, &reply, "signal", id);
    return ctx->rejected ? CMD_REJECTED : CMD_OK;
}

/*  The slot of the signal in flight under correlation, or NULL; with
    correlation "" a free slot (at most window signals are in flight).  */
static emit_pending_t *s_pending(emit_ctx_t *ctx, const char *correlation)
{
    for (int i = 0; i < ctx->window; i++)
        if (strcmp(ctx->pending[i].correlation, correlation) == 0)
            return &ctx->pending[i];
    return NULL;
}

static int s_collect(emit_ctx_t *ctx, int *in_flight)
{
    sp_reply_t reply;
    int rc = sp_emitter_recv(ctx->emitter, &reply, ctx->timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "seinpost emit: no answer within %d ms\n", ctx->timeout_ms);
        return -1;
    }
    (*in_flight)--;
    emit_pending_t *pending = reply.correlation[0] ? s_pending(ctx, reply.correlation) : NULL;
    s_report(ctx, &reply, reply.correlation, pending ? pending->id : NULL);
    if (pending)
        pending->correlation[0] = '\0';
    return 0;
}

static int s_stream(emit_ctx_t *ctx)
{
    char *line = NULL, err[512], correlation[32], id[EMIT_ID_SIZE];
    size_t cap = 0;
    int in_flight = 0, lineno = 0;
    json_error_t jerr;
    ctx->pending = calloc((size_t) ctx->window, sizeof *ctx->pending);
    if (!ctx->pending) {
        fprintf(stderr, "seinpost emit: out of memory\n");
        return CMD_FAILED;
    }
    while (getline(&line, &cap, stdin) > 0) {
        lineno++;
        json_t *input = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        char *event = input ? s_event(ctx, input, id, err, sizeof err) : NULL;
        json_decref(input);
        if (!event) {
            fprintf(stderr, "seinpost emit: line %d: not a JSON object\n", lineno);
            ctx->rejected++;
            continue;
        }
        snprintf(correlation, sizeof correlation, "line-%d", lineno);
        int rc = sp_emitter_send(ctx->emitter, correlation, event, strlen(event));
        free(event);
        if (rc != 0)
            break;
        emit_pending_t *slot = id[0] ? s_pending(ctx, "") : NULL;
        if (slot) {
            snprintf(slot->correlation, sizeof slot->correlation, "%s", correlation);
            snprintf(slot->id, sizeof slot->id, "%s", id);
        }
        if (++in_flight >= ctx->window && s_collect(ctx, &in_flight) != 0)
            break;
    }
    free(line);
    while (in_flight > 0 && s_collect(ctx, &in_flight) == 0)
        ;
    free(ctx->pending);
    ctx->pending = NULL;
    fprintf(stderr, "seinpost emit: %d accepted, %d rejected\n", ctx->accepted, ctx->rejected);
    return in_flight ? CMD_FAILED : ctx->rejected ? CMD_REJECTED : CMD_OK;
}

int cmd_emit(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "type", required_argument, NULL, 't' },
        { "subject", required_argument, NULL, 's' }, { "data", required_argument, NULL, 'd' },
        { "stream", no_argument, NULL, 'S' }, { "timeout", required_argument, NULL, 'T' },
        { "window", required_argument, NULL, 'w' }, { NULL, 0, NULL, 0 } };
    emit_ctx_t ctx = { .timeout_ms = 10000, .window = 64 };
    const char *conf_path = NULL, *data = NULL;
    int stream = 0, opt, rc = CMD_FAILED;
    char err[1024] = "";
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:t:s:d:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 't': ctx.type = optarg; break;
        case 's': ctx.subject = optarg; break;
        case 'd': data = optarg; break;
        case 'S': stream = 1; break;
        case 'T': ctx.timeout_ms = atoi(optarg); break;
        case 'w': ctx.window = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        default: return CMD_USAGE;
        }
    }
    if (!conf_path || (!data && !stream)) {
        fprintf(stderr, "usage: seinpost emit -c CONF [--type T] [--subject S] "
                "--data FILE|- | --stream\n");
        return CMD_USAGE;
    }
    ctx.conf = cli_conf_load(conf_path, err, sizeof err);
    if (!ctx.conf || !ctx.conf->endpoint || !ctx.conf->signing_key) {
        fprintf(stderr, "seinpost emit: %s\n", err[0] ? err : "config needs endpoint and signing_key");
        goto cleanup;
    }
    ctx.emitter = sp_emitter_new(ctx.conf->endpoint, ctx.conf->signing_key,
                                 ctx.conf->server_curve_public, ctx.conf->curve_secret_path,
                                 err, sizeof err);
    if (!ctx.emitter) {
        fprintf(stderr, "seinpost emit: %s\n", err);
        goto cleanup;
    }
    rc = stream ? s_stream(&ctx) : s_one(&ctx, data);
cleanup:
    sp_emitter_destroy(&ctx.emitter);
    cli_conf_destroy(&ctx.conf);
    return rc;
}
