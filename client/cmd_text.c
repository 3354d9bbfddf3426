/*  cmd_text.c - escaping of outside strings for the terminal, and JSON
    copies that stay encodable (see cmd_text.h for the rules).           */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_text.h"

/*  Bytes of the UTF-8 sequence at p (n bytes left) with its code point in
    *cp, or 0 when it is not valid UTF-8: a stray continuation byte, a
    sequence cut short, an overlong form, a surrogate, above U+10FFFF.  */
static size_t s_utf8(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0)
        len = 2, min = 0x80, *cp = p[0] & 0x1F;
    else if ((p[0] & 0xF0) == 0xE0)
        len = 3, min = 0x800, *cp = p[0] & 0x0F;
    else if ((p[0] & 0xF8) == 0xF0)
        len = 4, min = 0x10000, *cp = p[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3F);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0;
    return len;
}

/*  Code points a terminal acts on (C1) or that reorder or break the line
    around them, so that text would not read as it is stored.          */
static bool s_hidden(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F
        || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool s_valid(const char *text, size_t len)
{
    uint32_t cp;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = s_utf8((const unsigned char *) text + i, len - i, &cp)) == 0)
            return false;
    return true;
}

/*  Escapes the item at p (a character, or one invalid byte) into o;
    returns the bytes of input it took. o has room for 6 bytes.       */
static size_t s_escape_one(const unsigned char *p, size_t left, char **o)
{
    static const char hex[] = "0123456789abcdef";
    uint32_t cp;
    size_t n = s_utf8(p, left, &cp);
    const char *named = NULL;
    if (n == 1)
        named = cp == '\\' ? "\\\\" : cp == '\n' ? "\\n" : cp == '\r' ? "\\r"
              : cp == '\t' ? "\\t" : NULL;
    if (named) {
        memcpy(*o, named, 2);
        *o += 2;
    } else if (n == 0 || (n == 1 && (cp < 0x20 || cp == 0x7F))) {
        *(*o)++ = '\\';
        *(*o)++ = 'x';
        *(*o)++ = hex[p[0] >> 4];
        *(*o)++ = hex[p[0] & 0xF];
        n = 1;
    } else if (s_hidden(cp)) {
        *o += sprintf(*o, "\\u%04x", (unsigned) cp);
    } else {
        memcpy(*o, p, n);
        *o += n;
    }
    return n;
}

char *cmd_text_escape(const char *text, size_t len)
{
    /* at most 4 bytes out per byte in: \xHH for 1, \uHHHH for 2 or 3 */
    char *out = len < SIZE_MAX / 4 ? malloc(4 * len + 3) : NULL, *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;)
        i += s_escape_one((const unsigned char *) text + i, len - i, &o);
    *o = '\0';
    return out;
}

void cmd_text_fputs(const char *text, FILE *out)
{
    char *shown = cmd_text_escape(text, strlen(text));
    fputs(shown ? shown : "(out of memory)", out);
    free(shown);
}

static json_t *s_copy(json_t *value, bool shown);

static json_t *s_copy_string(json_t *value, bool shown)
{
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (!shown && s_valid(text, len))
        return json_incref(value);
    char *escaped = cmd_text_escape(text, len);
    /* the escaped text is ASCII and whole UTF-8 sequences of the input */
    json_t *copy = escaped ? json_stringn_nocheck(escaped, strlen(escaped)) : NULL;
    free(escaped);
    return copy;
}

static json_t *s_copy_object(json_t *value, bool shown)
{
    json_t *copy = json_object(), *item;
    const char *key;
    json_object_foreach(value, key, item) {
        char *name = shown ? cmd_text_escape(key, strlen(key)) : NULL;
        /* json_object_set_new_nocheck() takes the value even when it fails */
        if ((shown && !name) || !copy
            || json_object_set_new_nocheck(copy, name ? name : key, s_copy(item, shown)) != 0) {
            free(name);
            json_decref(copy);
            return NULL;
        }
        free(name);
    }
    return copy;
}

static json_t *s_copy(json_t *value, bool shown)
{
    size_t i;
    json_t *copy, *item;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return s_copy_string(value, shown);
    case JSON_OBJECT:
        return s_copy_object(value, shown);
    case JSON_ARRAY:
        copy = json_array();
        json_array_foreach(value, i, item) {
            if (!copy || json_array_append_new(copy, s_copy(item, shown)) != 0) {
                json_decref(copy);
                return NULL;
            }
        }
        return copy;
    default:                    /* numbers, true, false, null: no text */
        return json_incref(value);
    }
}

json_t *cmd_text_json_shown(json_t *value)
{
    return value ? s_copy(value, true) : NULL;
}

json_t *cmd_text_json_valid(json_t *value)
{
    return value ? s_copy(value, false) : NULL;
}
