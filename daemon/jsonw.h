/*  jsonw.h - JSON text written member by member, for the hot path.

    Building a jansson object only to serialise it at once (a hash table,
    a copy of every key and value, a sort) costs more than the DELIVER
    header or the audit detail it describes. Here the caller writes the
    members in the order json_dumps would; a string of printable ASCII
    without '"' or '\\' is copied between quotes, any other is escaped by
    jansson (json_dumpb of a json_string): the text is the same bytes.
    A failure (out of memory, a string that is not UTF-8) is sticky and
    makes jsonw_finish return NULL.                                       */
#ifndef JSONW_H_INCLUDED
#define JSONW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;
    size_t len;
    size_t cap;
    size_t flags;               /* jansson flags for strings, e.g. JSON_ENSURE_ASCII */
    bool failed;
} jsonw_t;

void jsonw_init(jsonw_t *self, size_t flags);
/*  Appends text as it is: punctuation and member names.                  */
void jsonw_raw(jsonw_t *self, const char *text);
/*  Appends a JSON string: "...", as jansson would write it.              */
void jsonw_string(jsonw_t *self, const char *value);
void jsonw_int(jsonw_t *self, int64_t value);
/*  A member: the raw text before the value (e.g. ",\"seq\":"), then the
    value as a JSON string or integer.                                 */
void jsonw_member(jsonw_t *self, const char *before, const char *value);
void jsonw_member_int(jsonw_t *self, const char *before, int64_t value);
/*  Marks the text failed: jsonw_finish will return NULL.                */
void jsonw_fail(jsonw_t *self);
/*  The NUL-terminated text, the caller's to free; NULL after a failure.
    Once finished, the writer takes nothing more.                        */
char *jsonw_finish(jsonw_t *self);

#endif
