/*  flood.h - counting noise per interval: the first few events of an
    interval are written one by one (log line, audit row), the rest only
    counted, and when the interval is over its owner writes one aggregate
    for them with the count and the first one's note. A peer that sends
    refused input as fast as it can then costs a bounded number of lines
    and rows per interval, and nothing it sent goes uncounted.

    Intervals are aligned on the monotonic clock (ms / interval_ms), so a
    flood that lasts d ms touches at most d / interval_ms + 2 of them.

    Usage, per event:
        if (flood_owed(f, p, now)) { write the aggregate; flood_roll(f, p, now); }
        if (flood_admit(f, p, now, code, note)) write this event one by one;
    and the first line alone from a timer (flood_wait_ms says when), so
    that a flood that stopped gets its aggregate without a further event. */
#ifndef FLOOD_H_INCLUDED
#define FLOOD_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define FLOOD_CODE_MAX 48
#define FLOOD_NOTE_MAX 200

typedef struct {
    int64_t interval_ms;
    int limit;                  /* events written one by one per interval */
} flood_policy_t;

/*  All zero is a valid start (calloc'ed owners).                         */
typedef struct {
    int64_t window;             /* the interval: monotonic ms / interval_ms */
    int admitted;               /* written one by one in it */
    int64_t suppressed;         /* only counted in it */
    int64_t total;              /* every event since start, both kinds */
    char first_code[FLOOD_CODE_MAX];    /* of the interval's first */
    char first_note[FLOOD_NOTE_MAX];    /* suppressed event */
} flood_t;

/*  True when the interval of f is over and suppressed events in it: the
    owner writes their aggregate (f->suppressed, f->first_code and
    f->first_note), then rolls.                                         */
bool flood_owed(const flood_t *f, const flood_policy_t *p, int64_t now_ms);
/*  Starts the interval now_ms falls in, counting nothing in it yet.    */
void flood_roll(flood_t *f, const flood_policy_t *p, int64_t now_ms);
/*  Counts one event; true when it may be written one by one. Rolls to a
    new interval first (dropping an aggregate still owed: check
    flood_owed before). code and note (either may be NULL) are kept when
    the event is the interval's first suppressed one.                   */
bool flood_admit(flood_t *f, const flood_policy_t *p, int64_t now_ms, const char *code,
                 const char *note);
/*  Milliseconds until an aggregate is owed, 0 when it is, -1 when none
    will be (nothing suppressed).                                       */
int64_t flood_wait_ms(const flood_t *f, const flood_policy_t *p, int64_t now_ms);

#endif
