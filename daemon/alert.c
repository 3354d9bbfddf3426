/*  alert.c - runs the operator's alert command when a delivery is
    dead-lettered, rate-limited per subscriber. The command gets only the
    subscriber, signal id, type and attempt count (as arguments and in
    SEINPOST_* variables): never the payload, subject or data.          */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "deliver.h"
#include "sp_util.h"

extern char **environ;

static void s_reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/*  "NAME=value", malloc'ed: the signal id and type may be as long as
    ingress accepted them, and the command must get them whole.        */
static char *s_env(const char *name, const char *value)
{
    size_t len = strlen(name) + 1 + strlen(value) + 1;
    char *text = malloc(len);
    if (text)
        snprintf(text, len, "%s=%s", name, value);
    return text;
}

static int s_spawn(const config_t *config, sub_state_t *sub, const store_pending_t *row)
{
    char attempts[24];
    snprintf(attempts, sizeof attempts, "%d", row->attempts);
    char *argv[] = { config->alert_command, sub->name, row->ce_id, row->type, attempts,
                     NULL };
    /* a minimal environment: nothing of the daemon's own leaks through */
    char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin",
                     s_env("SEINPOST_SUBSCRIBER", sub->name),
                     s_env("SEINPOST_SIGNAL_ID", row->ce_id),
                     s_env("SEINPOST_TYPE", row->type),
                     s_env("SEINPOST_ATTEMPTS", attempts), NULL };
    pid_t pid;
    int rc = ENOMEM;
    if (envp[1] && envp[2] && envp[3] && envp[4])
        rc = posix_spawn(&pid, config->alert_command, NULL, NULL, argv, envp);
    for (size_t i = 1; i < 5; i++)
        free(envp[i]);
    return rc;
}

void deliver_alert(server_t *self, sub_state_t *sub, const store_pending_t *row,
                   const char *reason)
{
    const config_t *config = self->config;
    int64_t now = sp_clock_ms();
    s_reap_children();
    if (!config->alert_command)
        return;
    if (sub->last_alert_ms && now - sub->last_alert_ms < config->alert_interval_ms)
        return;
    sub->last_alert_ms = now;
    int rc = s_spawn(config, sub, row);
    if (store_begin(self->store) == 0)
        audit_append(self->audit, AUDIT_ALERT, row->trace_id, row->signal_id, sub->name,
                     json_pack("{s:s, s:s, s:i}", "reason", reason, "outcome",
                               rc == 0 ? "started" : "failed", "attempts", row->attempts));
    if (rc != 0)
        sp_log(SP_LOG_ERROR, "alert command for %s could not start: %s", sub->name,
               strerror(rc));
}
