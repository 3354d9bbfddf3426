/*  cmd_status.c - `seinpost status`: queues per subscriber, from the
    daemon's admin socket.                                               */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "config.h"
#include "sp_proto.h"

/*  Sends one admin command and returns the JSON reply, or NULL.          */
static json_t *s_admin(const char *endpoint, const char *command, int timeout_ms,
                       char *err, size_t errlen)
{
    void *zmq = zmq_ctx_new(), *sock = zmq_socket(zmq, ZMQ_DEALER);
    int zero = 0;
    json_t *result = NULL;
    sp_frames_t frames;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    const void *parts[] = { SP_PROTOCOL, command };
    size_t sizes[] = { strlen(SP_PROTOCOL), strlen(command) };
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    if (zmq_connect(sock, endpoint) != 0 || sp_send_parts(sock, parts, sizes, 2, 0) != 0
        || zmq_poll(&item, 1, timeout_ms) <= 0) {
        snprintf(err, errlen, "no answer from the daemon at %s", endpoint);
        goto cleanup;
    }
    if (sp_frames_recv(&frames, sock, 4, 16 << 20, 0) == 0) {
        if (frames.count == 3 && sp_frame_is(&frames, 1, "OK"))
            result = json_loadb(sp_frame_data(&frames, 2), sp_frame_size(&frames, 2), 0, NULL);
        else
            snprintf(err, errlen, "daemon refused %s", command);
        sp_frames_close(&frames);
    }
cleanup:
    zmq_close(sock);
    zmq_ctx_term(zmq);
    return result;
}

static void s_print_table(json_t *status)
{
    size_t i;
    json_t *row;
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
}

int cmd_status(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 } };
    const char *conf_path = NULL;
    int json = 0, opt;
    char err[4096] = "";
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (opt == 'c')
            conf_path = optarg;
        else if (opt == 'j')
            json = 1;
        else
            return CMD_USAGE;
    }
    if (!conf_path) {
        fprintf(stderr, "usage: seinpost status -c SEINPOST.YAML [--json]\n");
        return CMD_USAGE;
    }
    config_t *config = config_load(conf_path, err, sizeof err);
    if (!config || !config->admin_endpoint) {
        fprintf(stderr, "seinpost status: %s\n", err[0] ? err : "no admin endpoint configured");
        config_destroy(&config);
        return CMD_FAILED;
    }
    json_t *status = s_admin(config->admin_endpoint, "STATUS", 5000, err, sizeof err);
    config_destroy(&config);
    if (!status) {
        fprintf(stderr, "seinpost status: %s\n", err);
        return CMD_FAILED;
    }
    if (json) {
        char *text = json_dumps(status, JSON_COMPACT);
        puts(text);
        free(text);
    } else
        s_print_table(status);
    json_decref(status);
    return CMD_OK;
}
