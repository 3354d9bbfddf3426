/*  fuzz_event.c - libFuzzer harness for event parsing and filtering.

    Feeds arbitrary bytes to sp_event_parse() with the daemon's default
    limits; whatever parses is run through filter_match() and the lookup
    and time helpers the router uses on accepted events. The bytes are
    also tried as a timestamp, which reaches the RFC 3339 parser with
    inputs the JSON gate would never let through.

    clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
        -Iinclude -Iclient -Idaemon tests/fuzz/fuzz_event.c client/sp_event.c \
        client/sp_code.c daemon/filter.c \
        $(pkg-config --cflags --libs jansson libcjson)
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "sp_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_match_fixed(const sp_event_t *event)
{
    static char *gemeente[] = { "0855", "0363" };
    static char *source[] = { "urn:nld:oin:00000001001234567000" };
    static char *flags[] = { "true", "42", "1.5" };
    static filter_cond_t conds[] = {
        { .path = "data.gemeentecode", .op = FILTER_ANY_OF,
          .values = gemeente, .value_count = 2 },
        { .path = "source", .op = FILTER_PREFIX,
          .values = source, .value_count = 1 },
        { .path = "data.a.b", .op = FILTER_EXACT,
          .values = flags, .value_count = 1 },
        { .path = "data.n", .op = FILTER_ANY_OF,
          .values = flags, .value_count = 3 },
    };
    subscription_t subs[] = {
        { .name = "all", .type = (char *) event->type },
        { .name = "gemeente", .type = (char *) event->type,
          .conds = conds, .cond_count = 2 },
        { .name = "nested", .type = (char *) event->type,
          .conds = conds + 2, .cond_count = 2 },
        { .name = "other", .type = "nl.gemeente.burgerzaken.adresonderzoek-gestart",
          .conds = conds, .cond_count = 1 },
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        (void) filter_match(&subs[i], event);
    (void) sp_event_lookup(event, "subject");
    (void) sp_event_lookup(event, "data.nummeraanduidingIdentificatie");
}

static void s_try_time(const uint8_t *data, size_t size)
{
    char text[64];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    int64_t ms = sp_time_parse_rfc3339(text);
    char buf[40];
    sp_time_format(ms, buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_event_limits_t limits;
    sp_event_limits_default(&limits);
    sp_code_t code;
    char reason[256];
    sp_event_t *event = sp_event_parse(data, size, &limits, &code,
                                       reason, sizeof reason);
    if (event) {
        if (code != SP_OK)
            abort();
        s_match_fixed(event);
        /*  Formatting then parsing must give the same instant back for
            every time that formats with a four-digit year.            */
        char buf[40];
        sp_time_format(event->time_ms, buf, sizeof buf);
        if (event->time_ms >= 0 && event->time_ms <= 253402300799999
        &&  sp_time_parse_rfc3339(buf) != event->time_ms)
            abort();
        sp_event_destroy(&event);
    }
    else if (code == SP_OK || !memchr(reason, '\0', sizeof reason)
             || reason[0] == '\0')
        abort();
    s_try_time(data, size);
    return 0;
}
