/*  admin.c - the operator socket (ipc://, guarded by file permissions).

    Request:  SEINPOST1 | <command> [| <argument JSON>]
    Reply:    SEINPOST1 | OK | <JSON>   or   SEINPOST1 | ERROR | <reason>
    Commands are a table, as smtpctl's: STATUS for now; the read-only
    audit commands of the CLI work on the database directly.            */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "sp_proto.h"
#include "sp_util.h"

typedef json_t *(admin_fn)(server_t *self, json_t *arg, char *err, size_t errlen);

static json_t *s_subscriber_status(server_t *self, sub_state_t *sub)
{
    int64_t pending = 0, oldest = 0;
    store_pending_stats(self->store, sub->name, &pending, &oldest);
    json_t *row = json_pack("{s:s, s:I, s:i, s:I, s:I, s:i}", "subscriber", sub->name,
                            "pending", (json_int_t) pending, "in_flight",
                            sub->inflight_count, "delivered", (json_int_t) sub->delivered,
                            "dead_lettered", (json_int_t) sub->dead,
                            "consecutive_failures", sub->failures);
    json_object_set_new(row, "oldest_pending_age_ms",
                        json_integer(oldest ? sp_time_now_ms() - oldest : 0));
    json_object_set_new(row, "last_success_ms", json_integer(sub->last_success_ms));
    json_object_set_new(row, "last_error", json_string(sub->last_error));
    return row;
}

static json_t *s_status(server_t *self, json_t *arg, char *err, size_t errlen)
{
    (void) arg; (void) err; (void) errlen;
    json_t *subs = json_array();
    for (size_t i = 0; i < self->sub_count; i++)
        json_array_append_new(subs, s_subscriber_status(self, &self->subs[i]));
    const server_stats_t *st = &self->stats;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "node", self->config->node_name,
                     "received", (json_int_t) st->received,
                     "accepted", (json_int_t) st->accepted,
                     "duplicates", (json_int_t) st->duplicates,
                     "rejected", (json_int_t) st->rejected,
                     "delivered", (json_int_t) st->delivered,
                     "dead_lettered", (json_int_t) st->dead,
                     "subscribers", subs);
}

static const struct {
    const char *name;
    admin_fn *fn;
} s_commands[] = {
    { "STATUS", s_status },
};

static void s_reply(server_t *self, sp_frames_t *f, const char *status, const char *body)
{
    const void *parts[] = { sp_frame_data(f, 0), SP_PROTOCOL, status, body };
    size_t sizes[] = { sp_frame_size(f, 0), strlen(SP_PROTOCOL), strlen(status),
                       strlen(body) };
    sp_send_parts(self->admin, parts, sizes, 4, ZMQ_DONTWAIT);
}

static void s_dispatch(server_t *self, sp_frames_t *f)
{
    char err[256] = "unknown command";
    json_t *arg = NULL;
    if (f->count < 3 || !sp_frame_is(f, 1, SP_PROTOCOL))
        return s_reply(self, f, "ERROR", "expected SEINPOST1 | command");
    if (f->count > 3)
        arg = json_loadb(sp_frame_data(f, 3), sp_frame_size(f, 3), 0, NULL);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (!sp_frame_is(f, 2, s_commands[i].name))
            continue;
        json_t *result = s_commands[i].fn(self, arg, err, sizeof err);
        char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
        s_reply(self, f, text ? "OK" : "ERROR", text ? text : err);
        free(text);
        json_decref(result);
        json_decref(arg);
        return;
    }
    json_decref(arg);
    s_reply(self, f, "ERROR", err);
}

void admin_handle(server_t *self)
{
    sp_frames_t frames;
    for (int i = 0; i < 16; i++) {
        if (sp_frames_recv(&frames, self->admin, 8, 1 << 20, ZMQ_DONTWAIT) != 0)
            return;
        s_dispatch(self, &frames);
        sp_frames_close(&frames);
    }
}
