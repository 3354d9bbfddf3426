/*  jsonw.c - JSON text written member by member.                        */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonw.h"

void jsonw_init(jsonw_t *self, size_t flags)
{
    memset(self, 0, sizeof *self);
    self->flags = flags;
}

static bool s_reserve(jsonw_t *self, size_t more)
{
    if (self->failed)
        return false;
    if (self->len + more + 1 <= self->cap)
        return true;
    size_t cap = self->cap ? self->cap : 1024;
    while (cap < self->len + more + 1)
        cap *= 2;
    char *text = realloc(self->text, cap);
    if (!text) {
        self->failed = true;
        return false;
    }
    self->text = text;
    self->cap = cap;
    return true;
}

void jsonw_raw(jsonw_t *self, const char *text)
{
    size_t n = strlen(text);
    if (!s_reserve(self, n))
        return;
    memcpy(self->text + self->len, text, n);
    self->len += n;
}

/*  Printable ASCII other than '"' and '\\' (and '/', when slashes are
    escaped) is its own JSON text: names, ids, hex digests and URIs, most
    of what is written, are copied as they are. Anything else goes to
    jansson's encoder (a json_t per string cost 4 % of the router's CPU
    at ingress).                                                        */
static size_t s_plain_length(const char *value, size_t flags)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) value; *p; p++, n++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\'
            || (*p == '/' && (flags & JSON_ESCAPE_SLASH)))
            return SIZE_MAX;
    return n;
}

void jsonw_string(jsonw_t *self, const char *value)
{
    size_t plain = value ? s_plain_length(value, self->flags) : SIZE_MAX;
    if (plain != SIZE_MAX) {
        if (s_reserve(self, plain + 2)) {
            self->text[self->len++] = '"';
            memcpy(self->text + self->len, value, plain);
            self->len += plain;
            self->text[self->len++] = '"';
        }
        return;
    }
    json_t *string = value ? json_string(value) : NULL;
    /* escaped, a byte becomes at most six ("\u001f"); two quotes around */
    size_t room = value ? 6 * strlen(value) + 2 : 0;
    if (!string) {
        self->failed = true;
        return;
    }
    if (s_reserve(self, room)) {
        size_t n = json_dumpb(string, self->text + self->len, room,
                              self->flags | JSON_ENCODE_ANY);
        if (n == 0 || n > room)
            self->failed = true;
        else
            self->len += n;
    }
    json_decref(string);
}

void jsonw_int(jsonw_t *self, int64_t value)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRId64, value);
    jsonw_raw(self, digits);
}

void jsonw_member(jsonw_t *self, const char *before, const char *value)
{
    jsonw_raw(self, before);
    jsonw_string(self, value);
}

void jsonw_member_int(jsonw_t *self, const char *before, int64_t value)
{
    jsonw_raw(self, before);
    jsonw_int(self, value);
}

void jsonw_fail(jsonw_t *self)
{
    self->failed = true;
}

char *jsonw_finish(jsonw_t *self)
{
    char *text = NULL;
    if (!self->failed && s_reserve(self, 0)) {
        self->text[self->len] = '\0';
        text = self->text;
    } else
        free(self->text);
    /* finished: whatever is appended later fails instead of writing */
    self->text = NULL;
    self->len = self->cap = 0;
    self->failed = true;
    return text;
}
