/*  seinpost.c - the command-line tool: a table of commands.               */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
    bool own_help;              /* prints a fuller --help itself */
} s_commands[] = {
    { "keygen", cmd_keygen, "keygen [--curve] -o FILE     write a key pair", false },
    { "emit",   cmd_emit,   "emit -c CONF --type T [--subject S] --data FILE|-  [--stream]", false },
    { "listen", cmd_listen, "listen -c CONF [--exec CMD] [--count N]  reference partner", false },
    { "status", cmd_status, "status -c SEINPOST.YAML [--json]  queues per subscriber", false },
    { "metrics", cmd_metrics, "metrics -c SEINPOST.YAML           OpenMetrics text", false },
    { "audit",  cmd_audit,  "audit list|show ID|verify|export|anchors -c SEINPOST.YAML  audit trail", false },
    { "deadletters", cmd_deadletters,
      "deadletters -c SEINPOST.YAML [--subscriber S] [--json]  dead-lettered deliveries", false },
    { "redeliver", cmd_redeliver,
      "redeliver -c SEINPOST.YAML ID... | --subscriber S [--dead-lettered] [--since T]", false },
    { "backup", cmd_backup, "backup -c SEINPOST.YAML -o FILE   consistent copy of the database", false },
    { "anchors", cmd_anchors, "anchors -c PARTNER.YAML [--check EXPORT]  router chain heads this partner holds", false },
    { "gateway", cmd_gateway, "gateway -c GATEWAY.YAML [--check]  HTTP ingress: POST /events", false },
    { "conformance", cmd_conformance,
      "conformance --endpoint E --partner-key K ...  test a partner endpoint (SEINPOST2)",
      true },
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: seinpost COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %s\n", s_commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_USAGE : CMD_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("seinpost %s\n", SP_VERSION_STRING);
        return CMD_OK;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (strcmp(argv[1], s_commands[i].name) != 0)
            continue;
        /* GNU habit: COMMAND --help prints its usage to stdout, exit 0 */
        if (argc == 3 && strcmp(argv[2], "--help") == 0 && !s_commands[i].own_help) {
            printf("usage: seinpost %s\n(see seinpost(1))\n", s_commands[i].help);
            return CMD_OK;
        }
        return s_commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "seinpost: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return CMD_USAGE;
}
