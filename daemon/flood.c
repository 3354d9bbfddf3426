/*  flood.c - per-interval admission of noisy events (see flood.h).       */
#include <stdio.h>
#include <string.h>

#include "flood.h"

static int64_t s_window(const flood_policy_t *p, int64_t now_ms)
{
    return p->interval_ms > 0 ? now_ms / p->interval_ms : 0;
}

bool flood_owed(const flood_t *f, const flood_policy_t *p, int64_t now_ms)
{
    return f->suppressed > 0 && s_window(p, now_ms) != f->window;
}

void flood_roll(flood_t *f, const flood_policy_t *p, int64_t now_ms)
{
    f->window = s_window(p, now_ms);
    f->admitted = 0;
    f->suppressed = 0;
    f->first_code[0] = '\0';
    f->first_note[0] = '\0';
}

bool flood_admit(flood_t *f, const flood_policy_t *p, int64_t now_ms, const char *code,
                 const char *note)
{
    if (s_window(p, now_ms) != f->window)
        flood_roll(f, p, now_ms);
    f->total++;
    if (f->admitted < p->limit) {
        f->admitted++;
        return true;
    }
    if (f->suppressed++ == 0) {
        snprintf(f->first_code, sizeof f->first_code, "%s", code ? code : "");
        snprintf(f->first_note, sizeof f->first_note, "%s", note ? note : "");
    }
    return false;
}

int64_t flood_wait_ms(const flood_t *f, const flood_policy_t *p, int64_t now_ms)
{
    /* without an interval nothing is ever owed */
    if (f->suppressed == 0 || p->interval_ms <= 0)
        return -1;
    if (flood_owed(f, p, now_ms))
        return 0;
    return (f->window + 1) * p->interval_ms - now_ms;
}
