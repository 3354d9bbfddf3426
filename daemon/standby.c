/*  standby.c - waiting for the lease (standby.h).                       */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reload.h"
#include "sp_util.h"
#include "standby.h"

#define STANDBY_STEP_MS 100

/*  Sleeps up to ms, waking early when *stop is set.                     */
static void s_nap(int64_t ms, volatile sig_atomic_t *stop)
{
    for (int64_t slept = 0; slept < ms && !*stop; slept += STANDBY_STEP_MS) {
        struct timespec step = { 0, STANDBY_STEP_MS * 1000000L };
        nanosleep(&step, NULL);
    }
}

/*  Says once per change who holds the lease, or why it cannot be asked. */
static void s_report(lease_t *lease, int rc, const char *why, char *last, size_t lastlen)
{
    char now[300];
    snprintf(now, sizeof now, "%.290s", rc == 0 ? lease_holder(lease) : why);
    /* the time left changes every try; the holder is what the log wants */
    char *paren = rc == 0 ? strstr(now, " (") : NULL;
    size_t same = paren ? (size_t) (paren - now) : strlen(now);
    if (strncmp(now, last, same) == 0 && last[same] == '\0')
        return;
    snprintf(last, lastlen, "%.*s", (int) same, now);
    if (rc == 0)
        sp_log(SP_LOG_NOTICE, "standby: %s holds the lease; taking over when it runs out",
               now);
    else
        sp_log(SP_LOG_WARNING, "standby: %s; trying again", why);
}

int standby_wait(const config_t *config, volatile sig_atomic_t *stop, lease_t **lease_out,
                 char *err, size_t errlen)
{
    lease_t *lease = lease_new(config->database, config->node_name, config->lease_ms,
                               err, errlen);
    char last[300] = "", why[512] = "";
    if (!lease)
        return -1;
    while (!*stop) {
        int64_t started = sp_clock_ms();
        int rc = lease_acquire(lease, started, why, sizeof why);
        if (rc == 1) {
            sp_log(SP_LOG_NOTICE, "took the lease (token %lld) as %s",
                   (long long) lease_token(lease), lease_id(lease));
            *lease_out = lease;
            return 0;
        }
        s_report(lease, rc, why, last, sizeof last);
        if (rc == 0)
            server_notify_standby(last);
        s_nap(lease_ttl(lease) / 3 - (sp_clock_ms() - started), stop);
    }
    lease_destroy(&lease);
    return 1;
}
