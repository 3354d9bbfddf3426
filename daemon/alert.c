/*  alert.c - runs the operator's alert command when a delivery is
    dead-lettered, rate-limited per subscriber. The command gets only the
    subscriber, signal id, type and attempt count (as arguments and in
    SEINPOST_* variables): never the payload, subject or data.          */
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
    char attempts[24], e_sub[256], e_id[600], e_type[300], e_att[48];
    snprintf(attempts, sizeof attempts, "%d", row->attempts);
    snprintf(e_sub, sizeof e_sub, "SEINPOST_SUBSCRIBER=%s", sub->name);
    snprintf(e_id, sizeof e_id, "SEINPOST_SIGNAL_ID=%s", row->ce_id);
    snprintf(e_type, sizeof e_type, "SEINPOST_TYPE=%s", row->type);
    snprintf(e_att, sizeof e_att, "SEINPOST_ATTEMPTS=%s", attempts);
    char *argv[] = { config->alert_command, sub->name, (char *) row->ce_id,
                     (char *) row->type, attempts, NULL };
    /* a minimal environment: nothing of the daemon's own leaks through */
    char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", e_sub, e_id, e_type, e_att, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, config->alert_command, NULL, NULL, argv, envp);
    if (store_begin(self->store) == 0)
        audit_append(self->audit, AUDIT_ALERT, row->trace_id, row->signal_id, sub->name,
                     json_pack("{s:s, s:s, s:i}", "reason", reason, "outcome",
                               rc == 0 ? "started" : "failed", "attempts", row->attempts));
    if (rc != 0)
        sp_log(SP_LOG_ERROR, "alert command for %s could not start: %s", sub->name,
               strerror(rc));
}
