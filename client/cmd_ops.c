/*  cmd_ops.c - operating on dead letters:
      `seinpost deadletters`  lists dead-lettered deliveries (read-only,
                              from the database; never a payload)
      `seinpost redeliver`    asks the daemon (admin command REDELIVER) to
                              set deliveries back to pending; the daemon
                              audits each with the operator's user name,
                              and refuses (exit 1) what the configured
                              legal basis no longer covers.             */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd_text.h"
#include "config.h"
#include "sp_event.h"
#include "sp_proto.h"


/*  ---- deadletters ------------------------------------------------------ */

static json_t *s_dead_json(db_stmt_t *stmt)
{
    char routed[40], dead[40];
    const char *reason = db_column_text(stmt, 7);
    sp_time_format(db_column_int64(stmt, 5), routed, sizeof routed);
    sp_time_format(db_column_int64(stmt, 6), dead, sizeof dead);
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b}",
                     "delivery_id", (json_int_t) db_column_int64(stmt, 0),
                     "subscriber", db_column_text(stmt, 1),
                     "subscription", db_column_text(stmt, 2),
                     "seq", (json_int_t) db_column_int64(stmt, 3),
                     "signal", db_column_text(stmt, 8),
                     "source", db_column_text(stmt, 10),
                     "type", db_column_text(stmt, 9),
                     "attempts", (int) db_column_int64(stmt, 4), "routed_at", routed,
                     "dead_at", dead, "reason", reason ? reason : "",
                     "payload_purged", (int) db_column_int64(stmt, 11) != 0);
}

static void s_dead_row(json_t *raw)
{
    /* the reason may quote what a partner sent: escaped (cmd_text.h) */
    json_t *row = cmd_text_json_shown(raw);
    if (!row)
        return;
    printf("%8lld  %-16s  %-24s  %5lld  %-36s  %3lld  %-24s  %s\n",
           (long long) json_integer_value(json_object_get(row, "delivery_id")),
           json_string_value(json_object_get(row, "subscriber")),
           json_string_value(json_object_get(row, "subscription")),
           (long long) json_integer_value(json_object_get(row, "seq")),
           json_string_value(json_object_get(row, "signal")),
           (long long) json_integer_value(json_object_get(row, "attempts")),
           json_string_value(json_object_get(row, "dead_at")),
           json_string_value(json_object_get(row, "reason")));
    json_decref(row);
}

static int s_list_dead(db_t *db, const char *subscriber, bool json)
{
    db_step_t step;
    int count = 0;
    db_stmt_t *stmt = db_prepare(db, "SELECT d.id, d.subscriber, d.subscription, d.seq,"
                                 " d.attempts, d.created_at, d.done_at, d.last_error, s.ce_id,"
                                 " s.type, s.source, s.event IS NULL FROM deliveries d"
                                 " JOIN signals s ON s.id = d.signal_id WHERE d.state = 2"
                                 " AND (CAST(?1 AS TEXT) IS NULL OR d.subscriber = ?1)"
                                 " ORDER BY d.id", false);
    if (!stmt)
        return cmd_db_failed(db, "deadletters", "the dead-lettered deliveries");
    db_bind_text(stmt, 1, subscriber, -1);
    /* stepped before the head: PostgreSQL finds a query's error there */
    step = db_step(stmt);
    if (step != DB_ERROR && !json)
        printf("%8s  %-16s  %-24s  %5s  %-36s  %3s  %-24s  %s\n", "DELIVERY", "SUBSCRIBER",
               "SUBSCRIPTION", "SEQ", "SIGNAL", "TRY", "DEAD SINCE", "REASON");
    for (; step == DB_ROW; step = db_step(stmt)) {
        json_t *row = s_dead_json(stmt);
        char *text = json && row ? json_dumps(row, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (text)
            puts(text);
        else if (row && !json)
            s_dead_row(row);
        free(text);
        json_decref(row);
        count++;
    }
    int rc = step == DB_DONE ? CMD_OK
                             : cmd_db_failed(db, "deadletters", "the dead-lettered deliveries");
    db_finalize(&stmt);
    if (rc != CMD_OK)
        return rc;
    if (!json)
        printf("%d dead-lettered deliver%s\n", count, count == 1 ? "y" : "ies");
    return CMD_OK;
}

int cmd_deadletters(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { "subscriber", required_argument, NULL, 'b' }, { NULL, 0, NULL, 0 } };
    const char *conf_path = NULL, *subscriber = NULL;
    char err[4096] = "";
    int opt, json = 0, rc = CMD_FAILED;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 'j': json = 1; break;
        case 'b': subscriber = optarg; break;
        default: return CMD_USAGE;
        }
    }
    if (!conf_path || optind != argc) {
        fprintf(stderr, "usage: seinpost deadletters -c SEINPOST.YAML [--subscriber S] [--json]\n");
        return CMD_USAGE;
    }
    config_t *config = config_load(conf_path, err, sizeof err);
    db_t *db = config ? cmd_db_open(config->database, err, sizeof err) : NULL;
    if (!db)
        fprintf(stderr, "seinpost deadletters: %s\n", err);
    else
        rc = s_list_dead(db, subscriber, json);
    db_destroy(&db);
    config_destroy(&config);
    return rc;
}

/*  ---- redeliver -------------------------------------------------------- */

static const char *s_operator(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name && *pw->pw_name)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %ld", (long) getuid());
    return buf;
}

static long long s_int(json_t *object, const char *name)
{
    return (long long) json_integer_value(json_object_get(object, name));
}

static void s_print_answer(json_t *answer)
{
    size_t i;
    json_t *skip, *moved;
    printf("redelivered %lld deliver%s (operator %s)\n", s_int(answer, "redelivered"),
           s_int(answer, "redelivered") == 1 ? "y" : "ies",
           json_string_value(json_object_get(answer, "operator")));
    /* queued again at the end of its stream: the id an operator knew is gone */
    json_array_foreach(json_object_get(answer, "deliveries"), i, moved)
        printf("delivery %lld is now delivery %lld: %s seq %lld (was seq %lld)\n",
               s_int(moved, "previous_delivery_id"), s_int(moved, "delivery_id"),
               json_string_value(json_object_get(moved, "subscription")),
               s_int(moved, "seq"), s_int(moved, "previous_seq"));
    if (s_int(answer, "already_pending") > 0)
        printf("%lld already pending: left as they are\n", s_int(answer, "already_pending"));
    json_array_foreach(json_object_get(answer, "skipped"), i, skip) {
        json_t *shown = cmd_text_json_shown(skip);
        printf("skipped delivery %lld (%s): %s\n", s_int(skip, "delivery_id"),
               json_string_value(json_object_get(shown, "subscription")),
               json_string_value(json_object_get(shown, "reason")));
        json_decref(shown);
    }
    if (json_is_true(json_object_get(answer, "more")))
        printf("more deliveries match: run the command again for the next ones\n");
}

/*  Delivery ids from the positional arguments into arg's "ids".          */
static int s_ids(json_t *arg, int count, char **values)
{
    json_t *ids = json_array();
    json_object_set_new(arg, "ids", ids);
    for (int i = 0; i < count; i++) {
        char *end = NULL;
        long long id = strtoll(values[i], &end, 10);
        if (*end || id < 1) {
            fprintf(stderr, "seinpost redeliver: '%s' is not a delivery id "
                    "(see seinpost deadletters)\n", values[i]);
            return -1;
        }
        json_array_append_new(ids, json_integer(id));
    }
    return 0;
}

static int s_redeliver(const char *conf_path, json_t *arg, bool json)
{
    char err[4096] = "";
    bool refused = false;
    config_t *config = config_load(conf_path, err, sizeof err);
    if (!config || !config->admin_endpoint) {
        fprintf(stderr, "seinpost redeliver: %s\n", err[0] ? err : "no admin endpoint configured");
        config_destroy(&config);
        return CMD_FAILED;
    }
    json_t *answer = cmd_admin(config->admin_endpoint, "REDELIVER", arg, &refused, err,
                             sizeof err);
    config_destroy(&config);
    if (!answer) {
        fprintf(stderr, "seinpost redeliver: %s%s\n", refused ? "refused: " : "", err);
        return refused ? CMD_REJECTED : CMD_FAILED;
    }
    if (json) {
        char *text = json_dumps(answer, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (text)
            puts(text);
        free(text);
    } else
        s_print_answer(answer);
    /* the others went, but a delivery the daemon refused is a refusal */
    int rc = json_array_size(json_object_get(answer, "skipped")) > 0 ? CMD_REJECTED : CMD_OK;
    json_decref(answer);
    return rc;
}

static int s_redeliver_usage(void)
{
    fprintf(stderr, "usage: seinpost redeliver -c SEINPOST.YAML [--json] DELIVERY_ID...\n"
            "       seinpost redeliver -c SEINPOST.YAML [--json] --subscriber S"
            " [--dead-lettered] [--since T]\n");
    return CMD_USAGE;
}

int cmd_redeliver(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { "subscriber", required_argument, NULL, 'b' },
        { "dead-lettered", no_argument, NULL, 'd' }, { "since", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 } };
    const char *conf_path = NULL, *subscriber = NULL;
    char name[128];
    int opt, json = 0, dead = 0, rc = CMD_USAGE;
    int64_t since = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 'j': json = 1; break;
        case 'b': subscriber = optarg; break;
        case 'd': dead = 1; break;
        case 'S':
            if ((since = cmd_time_arg(optarg)) < 0)
                return s_redeliver_usage();
            break;
        default: return s_redeliver_usage();
        }
    }
    if (!conf_path || !subscriber == (optind == argc) || (!subscriber && (dead || since)))
        return s_redeliver_usage();
    json_t *arg = json_pack("{s:s}", "operator", s_operator(name, sizeof name));
    if (subscriber) {
        json_object_set_new(arg, "subscriber", json_string(subscriber));
        json_object_set_new(arg, "dead_lettered", json_boolean(dead));
        json_object_set_new(arg, "since", json_integer(since));
    }
    if (subscriber || s_ids(arg, argc - optind, argv + optind) == 0)
        rc = s_redeliver(conf_path, arg, json);
    json_decref(arg);
    return rc;
}
