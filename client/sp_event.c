/*  sp_event.c - CloudEvents 1.0 structured-mode JSON, NL GOV profile.

    Untrusted bytes pass four gates in order: size, UTF-8, JSON (jansson,
    duplicate keys refused), then a walk of the tree for depth, string and
    number limits, and only then the profile's attribute rules.

    Rejection reasons end up in logs and in replies to emitters. Attribute
    and data values may hold a BSN, so reasons name attributes and
    positions, never values. Names are quoted only once they passed the
    name rules (or are fixed strings of ours).
*/
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp_event.h"

#define SP_ATTR_NAME_MAX 20
#define SP_OIN_DIGITS 20
#define SP_DNS_LABEL_MAX 63
#define SP_SEQUENCE_MAX 2147483647L     /* CloudEvents Integer: int32 */
#define SP_OIN_PREFIX "urn:nld:oin:"

typedef struct {
    const sp_event_limits_t *limits;
    sp_code_t code;
    char *reason;
    size_t reason_len;
} parse_ctx_t;

/*  Context attributes the profile types as String. Anything else but
    "data" is an extension.                                               */
static const char *const s_string_attrs[] = {
    "specversion", "id", "source", "type", "time", "subject",
    "datacontenttype", "dataschema", "dataref", "sequence", "sequencetype"
};
static const char *const s_required_attrs[] = {
    "specversion", "id", "source", "type", "time"
};

void sp_event_limits_default(sp_event_limits_t *limits)
{
    if (!limits)
        return;
    /*  64 KB is what the NL GOV profile says intermediaries must carry. */
    limits->max_bytes = 65536;
    limits->max_depth = 32;
    limits->max_string = 16384;
    limits->max_attr_string = 1024;
}

static int s_fail(parse_ctx_t *ctx, sp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(parse_ctx_t *ctx, sp_code_t code, const char *fmt, ...)
{
    ctx->code = code;
    if (ctx->reason && ctx->reason_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->reason, ctx->reason_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*  ---------------------------------------------------------------------
    Gate 2: UTF-8 (RFC 3629). Checked here rather than left to jansson so
    that the rules are ours and visible: no overlong forms, no surrogates,
    nothing above U+10FFFF, no NUL (which C strings downstream would cut). */

/*  Length of the sequence at p (1..4), or 0 when it is not valid UTF-8. */
static size_t s_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F;          /* above encodes surrogates */
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;          /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F;          /* above is beyond U+10FFFF */
    }
    else
        return 0;               /* continuation byte, C0, C1 or F5..FF */
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static int s_check_utf8(parse_ctx_t *ctx, const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p[i] == 0)
            return s_fail(ctx, SP_E_UTF8, "NUL byte at offset %zu", i);
        size_t n = s_utf8_seq(p + i, len - i);
        if (n == 0)
            return s_fail(ctx, SP_E_UTF8,
                          "invalid UTF-8 sequence at offset %zu", i);
        i += n;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Gate 3: JSON. jansson's error text quotes the offending input, which
    may be personal data, so only its code and position are used.       */

static int s_fail_json(parse_ctx_t *ctx, const json_error_t *err)
{
    switch (json_error_code(err)) {
    case json_error_duplicate_key:
        return s_fail(ctx, SP_E_JSON_DUPLICATE_KEY,
                      "an object repeats a member name (line %d, column %d)",
                      err->line, err->column);
    case json_error_numeric_overflow:
        return s_fail(ctx, SP_E_JSON_NUMBER,
                      "number out of range (line %d, column %d)",
                      err->line, err->column);
    case json_error_stack_overflow:
        return s_fail(ctx, SP_E_JSON_DEPTH,
                      "JSON nesting deeper than the parser allows "
                      "(line %d, column %d)", err->line, err->column);
    case json_error_invalid_utf8:
        return s_fail(ctx, SP_E_UTF8, "invalid UTF-8 (line %d, column %d)",
                      err->line, err->column);
    case json_error_out_of_memory:
        return s_fail(ctx, SP_E_INTERNAL, "out of memory while parsing");
    case json_error_null_character:
        return s_fail(ctx, SP_E_JSON,
                      "a string contains an escaped NUL character "
                      "(line %d, column %d)", err->line, err->column);
    default:
        return s_fail(ctx, SP_E_JSON,
                      "not a JSON document (line %d, column %d)",
                      err->line, err->column);
    }
}

/*  Gate 4: limits over the whole tree. Recursion is bounded: it stops at
    max_depth, and jansson never builds trees deeper than
    JSON_PARSER_MAX_DEPTH anyway. The root container has depth 1.        */
static int s_walk(parse_ctx_t *ctx, json_t *value, int depth)
{
    const sp_event_limits_t *limits = ctx->limits;
    if ((json_is_object(value) || json_is_array(value))
    &&  depth > limits->max_depth)
        return s_fail(ctx, SP_E_JSON_DEPTH,
                      "JSON nesting deeper than %d levels", limits->max_depth);
    if (json_is_object(value)) {
        const char *key;
        json_t *member;
        json_object_foreach(value, key, member) {
            if (strlen(key) > limits->max_string)
                return s_fail(ctx, SP_E_JSON_LIMIT,
                              "a member name is longer than %zu bytes",
                              limits->max_string);
            if (s_walk(ctx, member, depth + 1))
                return -1;
        }
    }
    else if (json_is_array(value)) {
        size_t index;
        json_t *element;
        json_array_foreach(value, index, element)
            if (s_walk(ctx, element, depth + 1))
                return -1;
    }
    else if (json_is_string(value)) {
        if (json_string_length(value) > limits->max_string)
            return s_fail(ctx, SP_E_JSON_LIMIT,
                          "a string is longer than %zu bytes",
                          limits->max_string);
    }
    else if (json_is_real(value) && !isfinite(json_real_value(value)))
        return s_fail(ctx, SP_E_JSON_NUMBER, "a number is not finite");
    return 0;
}

/*  ---------------------------------------------------------------------
    Attribute names and generic attribute values.                        */

static bool s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool s_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || s_is_digit(c);
}

static bool s_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > SP_ATTR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_is_lower_alnum(name[i]))
            return false;
    return true;
}

static bool s_in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/*  CloudEvents' String type excludes control characters (U+0000..U+001F,
    U+007F..U+009F); refusing them also keeps attributes safe to log.    */
static bool s_has_control(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return true;
        if (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return true;
    }
    return false;
}

static int s_check_string_value(parse_ctx_t *ctx, const char *name,
                                json_t *value, bool allow_empty)
{
    size_t len = json_string_length(value);
    if (len == 0 && !allow_empty)
        return s_fail(ctx, SP_E_ATTR_INVALID, "attribute '%s' is empty", name);
    if (len > ctx->limits->max_attr_string)
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute '%s' is longer than %zu bytes",
                      name, ctx->limits->max_attr_string);
    if (s_has_control(json_string_value(value), len))
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute '%s' contains a control character", name);
    return 0;
}

/*  index is the member's position in the object, counted from 1: it lets
    an emitter find a bad name without the reason quoting it.            */
static int s_check_member(parse_ctx_t *ctx, const char *name, json_t *value,
                          size_t index)
{
    if (strcmp(name, "data") == 0)
        return 0;
    if (strcmp(name, "data_base64") == 0)
        return s_fail(ctx, SP_E_ATTR_NAME,
                      "member 'data_base64' is not supported: "
                      "seinpost carries JSON data only");
    if (!s_name_ok(name))
        return s_fail(ctx, SP_E_ATTR_NAME,
                      "name of member %zu (%zu bytes) breaks the profile: "
                      "only a-z and 0-9, 1 to %d characters",
                      index, strlen(name), SP_ATTR_NAME_MAX);
    if (s_in_list(name, s_string_attrs,
                  sizeof s_string_attrs / sizeof s_string_attrs[0])) {
        if (!json_is_string(value))
            return s_fail(ctx, SP_E_ATTR_TYPE,
                          "attribute '%s' is not a string", name);
        return s_check_string_value(ctx, name, value, false);
    }
    if (json_is_string(value))
        return s_check_string_value(ctx, name, value, true);
    if (!json_is_number(value) && !json_is_boolean(value))
        return s_fail(ctx, SP_E_ATTR_TYPE,
                      "extension attribute '%s' is not a string, number "
                      "or boolean", name);
    return 0;
}

static int s_check_members(parse_ctx_t *ctx, json_t *root)
{
    const char *key;
    json_t *value;
    size_t index = 0;
    json_object_foreach(root, key, value) {
        index++;
        if (s_check_member(ctx, key, value, index))
            return -1;
    }
    for (size_t i = 0;
         i < sizeof s_required_attrs / sizeof s_required_attrs[0]; i++)
        if (!json_object_get(root, s_required_attrs[i]))
            return s_fail(ctx, SP_E_ATTR_MISSING,
                          "required attribute '%s' is missing",
                          s_required_attrs[i]);
    return 0;
}

/*  ---------------------------------------------------------------------
    source: urn:nld:oin:<OIN>[:<more>]                                   */

/*  RFC 8141 NSS characters, less '?' and '#' which start other parts. */
static bool s_is_nss_char(char c)
{
    return s_is_lower_alnum(c) || (c >= 'A' && c <= 'Z')
        || (c != '\0' && strchr("-._~!$&'()*+,;=:@/%", c) != NULL);
}

static bool s_is_hex(char c)
{
    return s_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool s_nss_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (!s_is_nss_char(*s))
            return false;
        if (*s == '%') {
            if (!s_is_hex(s[1]) || !s_is_hex(s[2]))
                return false;
            s += 2;
        }
    }
    return true;
}

static int s_check_source(parse_ctx_t *ctx, const char *source,
                          char oin[SP_OIN_DIGITS + 1])
{
    size_t plen = strlen(SP_OIN_PREFIX);
    if (strncmp(source, SP_OIN_PREFIX, plen) != 0)
        return s_fail(ctx, SP_E_SOURCE,
                      "attribute 'source' is not a urn:nld:oin: URN");
    const char *p = source + plen;
    size_t n = strcspn(p, ":");
    bool digits = n == SP_OIN_DIGITS;
    for (size_t i = 0; digits && i < n; i++)
        digits = s_is_digit(p[i]);
    if (!digits)
        return s_fail(ctx, SP_E_OIN,
                      "the OIN in attribute 'source' is not %d digits",
                      SP_OIN_DIGITS);
    if (p[n] == ':' && !s_nss_ok(p + n + 1))
        return s_fail(ctx, SP_E_SOURCE,
                      "attribute 'source' has an empty or malformed part "
                      "after the OIN");
    memcpy(oin, p, SP_OIN_DIGITS);
    oin[SP_OIN_DIGITS] = '\0';
    return 0;
}

/*  ---------------------------------------------------------------------
    type: reverse-DNS labels, optionally one final "vN" label.           */

static bool s_is_version_label(const char *p, size_t n)
{
    if (n < 2 || p[0] != 'v')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!s_is_digit(p[i]))
            return false;
    return true;
}

static bool s_dns_label_ok(const char *p, size_t n)
{
    if (n == 0 || n > SP_DNS_LABEL_MAX || p[0] == '-' || p[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_is_lower_alnum(p[i]) && p[i] != '-')
            return false;
    return true;
}

static bool s_type_ok(const char *type)
{
    size_t labels = 0;
    const char *p = type;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (!s_dns_label_ok(p, n))
            return false;
        bool last = p[n] == '\0';
        if (s_is_version_label(p, n)) {
            if (!last)
                return false;   /* a version label only at the end */
        }
        else
            labels++;
        if (last)
            break;
        p += n + 1;
    }
    return labels >= 2;
}

/*  ---------------------------------------------------------------------
    time: RFC 3339 section 5.6.                                          */

static int s_digits(const char *p, int count, int *out)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (!s_is_digit(p[i]))
            return -1;
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return 0;
}

static int s_days_in_month(int year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/*  Parses "[.frac]" at *pp into milliseconds; extra digits truncate.    */
static int s_parse_fraction(const char **pp, int *ms)
{
    const char *p = *pp;
    int value = 0, used = 0;
    *ms = 0;
    if (*p != '.')
        return 0;
    p++;
    if (!s_is_digit(*p))
        return -1;
    for (; s_is_digit(*p); p++)
        if (used < 3) {
            value = value * 10 + (*p - '0');
            used++;
        }
    for (; used < 3; used++)
        value *= 10;
    *ms = value;
    *pp = p;
    return 0;
}

/*  Parses "Z" or "±HH:MM" at p, which must then end; minutes east.      */
static int s_parse_offset(const char *p, int *minutes)
{
    int hours, mins;
    *minutes = 0;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0')
        return 0;
    if (p[0] != '+' && p[0] != '-')
        return -1;
    if (s_digits(p + 1, 2, &hours) || p[3] != ':'
    ||  s_digits(p + 4, 2, &mins) || p[6] != '\0'
    ||  hours > 23 || mins > 59)
        return -1;
    *minutes = (hours * 60 + mins) * (p[0] == '-' ? -1 : 1);
    return 0;
}

/*  The && chains read at most one byte past each field, which is at
    worst the terminating NUL, so short input never reads out of bounds. */
static int s_parse_time(const char *t, int64_t *ms_out)
{
    int year, mon, day, hour, min, sec, ms, offset;
    if (s_digits(t, 4, &year) || t[4] != '-' || s_digits(t + 5, 2, &mon)
    ||  t[7] != '-' || s_digits(t + 8, 2, &day)
    ||  (t[10] != 'T' && t[10] != 't')      /* RFC 3339 allows lower case */
    ||  s_digits(t + 11, 2, &hour) || t[13] != ':'
    ||  s_digits(t + 14, 2, &min) || t[16] != ':'
    ||  s_digits(t + 17, 2, &sec))
        return -1;
    const char *p = t + 19;
    if (s_parse_fraction(&p, &ms) || s_parse_offset(p, &offset))
        return -1;
    /*  Second 60 is a leap second; timegm() folds it into the next
        minute, as POSIX time does.                                     */
    if (mon < 1 || mon > 12 || day < 1 || day > s_days_in_month(year, mon)
    ||  hour > 23 || min > 59 || sec > 60)
        return -1;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1,
                     .tm_mday = day, .tm_hour = hour, .tm_min = min,
                     .tm_sec = sec };
    errno = 0;
    time_t secs = timegm(&tm);
    if (secs == (time_t) -1 && errno != 0)
        return -1;
    *ms_out = ((int64_t) secs - (int64_t) offset * 60) * 1000 + ms;
    return 0;
}

int64_t sp_time_parse_rfc3339(const char *text)
{
    int64_t ms;
    if (!text || s_parse_time(text, &ms))
        return -1;
    return ms;
}

void sp_time_format(int64_t ms, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    int64_t secs = ms / 1000;
    int frac = (int) (ms % 1000);
    if (frac < 0) {             /* floor, so times before 1970 print right */
        frac += 1000;
        secs--;
    }
    time_t t = (time_t) secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int64_t sp_time_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts))
        return -1;
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  ---------------------------------------------------------------------
    Optional attributes with rules of their own.                         */

static bool s_ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char) (x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char) (y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/*  RFC 6838 restricted-name characters.                                 */
static bool s_is_token(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s_is_lower_alnum(p[i]) && !(p[i] >= 'A' && p[i] <= 'Z')
        &&  (p[i] == '\0' || !strchr("!#$&-^_.+", p[i])))
            return false;
    return true;
}

/*  application/json or any type/subtype+json, parameters allowed.      */
static bool s_content_type_ok(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    const char *slash = memchr(ct, '/', n);
    if (!slash)
        return false;
    size_t type_len = (size_t) (slash - ct);
    const char *sub = slash + 1;
    size_t sub_len = n - type_len - 1;
    if (!s_is_token(ct, type_len) || !s_is_token(sub, sub_len))
        return false;
    if (type_len == 11 && sub_len == 4 && s_ascii_ieq(ct, "application", 11)
    &&  s_ascii_ieq(sub, "json", 4))
        return true;
    return sub_len > 5 && s_ascii_ieq(sub + sub_len - 5, "+json", 5);
}

/*  A CloudEvents Integer sequence: 1 .. 2^31-1, no sign, no leading 0. */
static bool s_sequence_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10 || s[0] == '0')
        return false;
    long value = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s_is_digit(s[i]))
            return false;
        value = value * 10 + (s[i] - '0');
    }
    return value <= SP_SEQUENCE_MAX;
}

static int s_check_sequence(parse_ctx_t *ctx, json_t *root)
{
    const char *seq = json_string_value(json_object_get(root, "sequence"));
    const char *seqtype =
        json_string_value(json_object_get(root, "sequencetype"));
    if (seqtype && strcmp(seqtype, "Integer") != 0)
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute 'sequencetype' is not \"Integer\"");
    if (seqtype && !seq)
        return s_fail(ctx, SP_E_ATTR_MISSING,
                      "attribute 'sequencetype' is present but "
                      "'sequence' is missing");
    if (seq && !s_sequence_ok(seq))
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute 'sequence' is not an integer from 1 to %ld",
                      SP_SEQUENCE_MAX);
    return 0;
}

/*  ---------------------------------------------------------------------
    The profile, after the generic member checks.                        */

static int s_check_values(parse_ctx_t *ctx, sp_event_t *self)
{
    json_t *root = self->root;
    self->specversion = json_string_value(json_object_get(root, "specversion"));
    self->id = json_string_value(json_object_get(root, "id"));
    self->source = json_string_value(json_object_get(root, "source"));
    self->type = json_string_value(json_object_get(root, "type"));
    self->time = json_string_value(json_object_get(root, "time"));
    self->subject = json_string_value(json_object_get(root, "subject"));
    self->datacontenttype =
        json_string_value(json_object_get(root, "datacontenttype"));
    self->dataref = json_string_value(json_object_get(root, "dataref"));
    self->data = json_object_get(root, "data");

    if (strcmp(self->specversion, "1.0") != 0)
        return s_fail(ctx, SP_E_SPECVERSION,
                      "attribute 'specversion' is not \"1.0\"");
    if (s_check_source(ctx, self->source, self->oin))
        return -1;
    if (!s_type_ok(self->type))
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute 'type' is not reverse-DNS: at least two "
                      "labels of a-z, 0-9 and '-', optionally a final "
                      "version label vN");
    if (s_parse_time(self->time, &self->time_ms))
        return s_fail(ctx, SP_E_TIME,
                      "attribute 'time' is not an RFC 3339 timestamp");
    if (self->datacontenttype && !s_content_type_ok(self->datacontenttype))
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute 'datacontenttype' is not application/json "
                      "or a +json type: seinpost carries JSON data only");
    return s_check_sequence(ctx, root);
}

static int s_check_input(parse_ctx_t *ctx, const void *bytes, size_t len)
{
    if (len > ctx->limits->max_bytes)
        return s_fail(ctx, SP_E_TOO_LARGE,
                      "event is %zu bytes, the limit is %zu",
                      len, ctx->limits->max_bytes);
    if (len == 0 || !bytes)
        return s_fail(ctx, SP_E_JSON, "event is empty");
    return s_check_utf8(ctx, bytes, len);
}

sp_event_t *sp_event_parse(const void *bytes, size_t len,
                           const sp_event_limits_t *limits,
                           sp_code_t *code, char *reason, size_t reason_len)
{
    sp_event_limits_t defaults;
    if (!limits) {
        sp_event_limits_default(&defaults);
        limits = &defaults;
    }
    parse_ctx_t ctx = { limits, SP_OK, reason, reason_len };
    if (reason && reason_len > 0)
        reason[0] = '\0';
    sp_event_t *self = NULL;
    json_t *root = NULL;
    json_error_t err;

    if (s_check_input(&ctx, bytes, len))
        goto cleanup;
    root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &err);
    if (!root) {
        s_fail_json(&ctx, &err);
        goto cleanup;
    }
    if (s_walk(&ctx, root, 1))
        goto cleanup;
    if (!json_is_object(root)) {
        s_fail(&ctx, SP_E_NOT_OBJECT, "event is not a JSON object");
        goto cleanup;
    }
    if (s_check_members(&ctx, root))
        goto cleanup;
    self = calloc(1, sizeof *self);
    if (!self) {
        s_fail(&ctx, SP_E_INTERNAL, "out of memory");
        goto cleanup;
    }
    self->root = root;
    root = NULL;
    if (s_check_values(&ctx, self))
        sp_event_destroy(&self);

cleanup:
    json_decref(root);
    if (code)
        *code = ctx.code;
    return self;
}

void sp_event_destroy(sp_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    json_decref((*self_p)->root);
    free(*self_p);
    *self_p = NULL;
}

json_t *sp_event_lookup(const sp_event_t *self, const char *path)
{
    if (!self || !self->root || !path)
        return NULL;
    if (strncmp(path, "data.", 5) != 0)
        return json_object_get(self->root, path);
    json_t *node = self->data;
    const char *p = path + 5;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (!json_is_object(node) || n == 0)
            return NULL;
        node = json_object_getn(node, p, n);
        if (!node || p[n] == '\0')
            return node;
        p += n + 1;
    }
}
