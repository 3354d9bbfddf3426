/*  cmd_status.c - `seinpost status`: queues per subscriber, from the
    daemon's admin socket.                                               */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd_text.h"
#include "config.h"

/*  last_error may quote what a partner sent (a NACK's code): every
    string is escaped before it reaches the terminal (cmd_text.h).     */
static void s_print_table(json_t *raw)
{
    size_t i;
    json_t *row, *status = cmd_text_json_shown(raw);
    if (!status)
        return;
    const char *role = json_string_value(json_object_get(status, "role"));
    const char *trouble = json_string_value(json_object_get(status, "database_error"));
    if (role && strcmp(role, "standby") == 0 && trouble) {
        printf("standby: the database does not answer: %s (this node tries again)\n", trouble);
        json_decref(status);
        return;
    }
    if (role && strcmp(role, "standby") == 0) {
        printf("standby: %s is active (this node takes over when its lease runs out)\n",
               json_string_value(json_object_get(status, "active")));
        json_decref(status);
        return;
    }
    printf("%-20s %9s %9s %11s %9s %9s  %s\n", "SUBSCRIBER", "PENDING", "IN-FLIGHT",
           "OLDEST(s)", "DELIVERED", "DEAD", "LAST ERROR");
    json_array_foreach(json_object_get(status, "subscribers"), i, row) {
        printf("%-20s %9lld %9lld %11lld %9lld %9lld  %s\n",
               json_string_value(json_object_get(row, "subscriber")),
               json_integer_value(json_object_get(row, "pending")),
               json_integer_value(json_object_get(row, "in_flight")),
               json_integer_value(json_object_get(row, "oldest_pending_age_ms")) / 1000,
               json_integer_value(json_object_get(row, "delivered")),
               json_integer_value(json_object_get(row, "dead_lettered")),
               json_string_value(json_object_get(row, "last_error")));
    }
    printf("total: %lld received, %lld accepted, %lld rejected, %lld delivered, "
           "%lld dead-lettered\n",
           json_integer_value(json_object_get(status, "received")),
           json_integer_value(json_object_get(status, "accepted")),
           json_integer_value(json_object_get(status, "rejected")),
           json_integer_value(json_object_get(status, "delivered")),
           json_integer_value(json_object_get(status, "dead_lettered")));
    json_decref(status);
}

/*  Loads the daemon's configuration for its admin endpoint.              */
static config_t *s_config(const char *path, const char *command)
{
    char err[4096] = "";
    config_t *config = config_load(path, err, sizeof err);
    if (!config || !config->admin_endpoint) {
        fprintf(stderr, "seinpost %s: %s\n", command,
                err[0] ? err : "no admin endpoint configured");
        config_destroy(&config);
    }
    return config;
}

static json_t *s_ask(const char *conf_path, const char *name, const char *command)
{
    char err[512] = "";
    bool refused = false;
    config_t *config = s_config(conf_path, name);
    if (!config)
        return NULL;
    json_t *answer = cmd_admin(config->admin_endpoint, command, NULL, &refused,
                               err, sizeof err);
    config_destroy(&config);
    if (!answer)
        fprintf(stderr, "seinpost %s: %s\n", name, err);
    return answer;
}

static int s_options(int argc, char **argv, const char *usage, const char **conf_path,
                     int *json)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 } };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (opt == 'c')
            *conf_path = optarg;
        else if (opt == 'j' && json)
            *json = 1;
        else
            return -1;
    }
    if (*conf_path)
        return 0;
    fprintf(stderr, "usage: %s\n", usage);
    return -1;
}

int cmd_status(int argc, char **argv)
{
    const char *conf_path = NULL;
    int json = 0;
    if (s_options(argc, argv, "seinpost status -c SEINPOST.YAML [--json]",
                  &conf_path, &json) != 0)
        return CMD_USAGE;
    json_t *status = s_ask(conf_path, "status", "STATUS");
    if (!status)
        return CMD_FAILED;
    if (json) {
        char *text = json_dumps(status, JSON_COMPACT);
        puts(text);
        free(text);
    } else
        s_print_table(status);
    json_decref(status);
    return CMD_OK;
}

/*  `seinpost metrics`: the OpenMetrics exposition, as the HTTP endpoint
    serves it.                                                          */
int cmd_metrics(int argc, char **argv)
{
    const char *conf_path = NULL;
    if (s_options(argc, argv, "seinpost metrics -c SEINPOST.YAML", &conf_path, NULL) != 0)
        return CMD_USAGE;
    json_t *text = s_ask(conf_path, "metrics", "METRICS");
    if (!json_is_string(text)) {
        json_decref(text);
        return CMD_FAILED;
    }
    fputs(json_string_value(text), stdout);
    json_decref(text);
    return CMD_OK;
}
