/*  sp_event.h - CloudEvents 1.0 structured-mode JSON, NL GOV profile.

    Internal to libseinpost and seinpostd (not installed). Parses the exact
    bytes an emitter signed and checks them against the profile:
    - specversion "1.0"; id, source, type non-empty strings; time RFC 3339
      (required by seinpost); optional subject, datacontenttype, dataschema,
      dataref, sequence, sequencetype (strings), data (any JSON value).
    - attribute names: only a-z and 0-9, 1..20 characters; unknown names that
      follow these rules are kept as extensions (string, number or boolean
      values only); names that break them are rejected (SP_E_ATTR_NAME).
    - source: "urn:nld:oin:<20 digits>[:...]"; the OIN is extracted.
    - type: reverse-DNS, at least two dot-separated labels of [a-z0-9-],
      optionally a final ".vN" label.
*/
#ifndef SP_EVENT_H_INCLUDED
#define SP_EVENT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
/*  Not used here any more: modules that include this header took jansson
    through it, and still do.                                            */
#include <jansson.h>
#include "seinpost.h"

typedef struct {
    size_t max_bytes;           /* whole event; default 65536 */
    int max_depth;              /* JSON nesting; default 32 */
    size_t max_string;          /* any JSON string; default 16384 */
    size_t max_attr_string;     /* any context attribute; default 1024 */
} sp_event_limits_t;

void sp_event_limits_default(sp_event_limits_t *limits);

typedef struct {
    cJSON *root;                /* owned */
    const char *specversion;    /* all pointers borrow from root */
    const char *id;
    const char *source;
    const char *type;
    const char *time;
    const char *subject;        /* NULL when absent */
    const char *datacontenttype;
    const char *dataref;
    cJSON *data;                /* NULL when absent */
    char oin[21];               /* from source */
    int64_t time_ms;            /* time as Unix milliseconds */
} sp_event_t;

/*  Any JSON document, strictly (the first gates of sp_event_parse, which
    uses it): valid UTF-8 with no NUL byte and no escaped NUL, numbers as
    the JSON grammar has them and within range, no member name twice in
    any object at any depth, nothing after the value but white space, no
    nesting deeper than max_depth (the root container is level 1; cJSON
    nests no deeper than CJSON_NESTING_LIMIT, 1000) and no string or
    member name longer than max_string bytes. Integers are marked as
    sp_json_is_integer() reads them. The root may be any JSON value: the
    caller checks its type. Returns the tree (cJSON_Delete it), or NULL
    with code and a reason that quotes no values (reason may be NULL).  */
cJSON *sp_json_parse(const void *bytes, size_t len, int max_depth,
                     size_t max_string, sp_code_t *code, char *reason,
                     size_t reason_len);

/*  Parses and validates. On failure returns NULL and fills code and a
    reason (which never quotes attribute or data values: they may carry
    personal data). reason may be NULL.                                   */
sp_event_t *sp_event_parse(const void *bytes, size_t len,
                           const sp_event_limits_t *limits,
                           sp_code_t *code, char *reason, size_t reason_len);
void sp_event_destroy(sp_event_t **self_p);

/*  Looks up a value by path: "source", "subject", "type", "id" or
    "data.<field>[.<field>...]". Returns a borrowed cJSON or NULL.        */
cJSON *sp_event_lookup(const sp_event_t *self, const char *path);

/*  cJSON keeps every number as a double; jansson, which seinpost used
    before, told integers (no fraction, no exponent in the JSON text) from
    reals and kept integers exact to 64 bits, and filters and data field
    types still do. sp_event_parse() marks the integers of the event's tree
    with this bit in cJSON's type (cJSON reads only its low 8 bits for the
    type) and keeps the exact value of those beyond 2^53, which a double
    cannot hold; so does sp_json_parse().                                 */
#define SP_JSON_INTEGER (1 << 12)
bool sp_json_is_integer(const cJSON *value);
/*  The value of an integer sp_json_is_integer() accepts; 0 otherwise.    */
int64_t sp_json_integer(const cJSON *value);

/*  RFC 3339 timestamp to Unix milliseconds; -1 if invalid.               */
int64_t sp_time_parse_rfc3339(const char *text);
/*  Unix milliseconds to "2026-11-23T09:15:00.123Z".                      */
void sp_time_format(int64_t ms, char *buf, size_t len);
int64_t sp_time_now_ms(void);

#endif
