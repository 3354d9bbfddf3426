/*  sp_event.c - CloudEvents 1.0 structured-mode JSON, NL GOV profile.

    Untrusted bytes pass four gates in order: size, one pass over the
    bytes (UTF-8, and what cJSON would let through that JSON does not),
    JSON (cJSON), then a walk of the tree for duplicate member names,
    numbers, depth and string limits, and only then the profile's
    attribute rules. cJSON parses a 1 KiB event in about a fifth of the
    instructions jansson took; the gates around it keep what jansson
    refused refused, with the same codes.

    Rejection reasons end up in logs and in replies to emitters. Attribute
    and data values may hold a BSN, so reasons name attributes and
    positions, never values. Names are quoted only once they passed the
    name rules (or are fixed strings of ours).
*/
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
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
#define SP_CJSON_NUMBER_MAX 63          /* cJSON reads no more of a number */
#define SP_JANSSON_NESTING_LIMIT 2048   /* JSON_PARSER_MAX_DEPTH */
#define SP_NAMES_PAIRWISE 16            /* objects up to this: pairwise */
#define SP_EXACT_DOUBLE (INT64_C(1) << 53)  /* integers a double holds */

/*  A number token of the JSON text, in document order: cJSON keeps only
    a double, so what jansson kept besides is noted here.                */
typedef struct {
    bool integer;               /* no fraction, no exponent */
    int64_t value;              /* of an integer */
} number_t;

typedef struct {
    const sp_event_limits_t *limits;    /* the profile's; NULL in sp_json_parse */
    int max_depth;
    size_t max_string;
    sp_code_t code;
    char *reason;
    size_t reason_len;
    const unsigned char *bytes;
    size_t len;
    size_t scan_at;             /* first JSON-level finding of the scan */
    sp_code_t scan_code;        /* SP_OK while there is none */
    const char *scan_what;
    size_t deep_at;             /* first bracket beyond cJSON's nesting */
    size_t deeper_at;           /* first one beyond jansson's (2048) */
    number_t *numbers;
    size_t number_count, number_cap, number_next;
    const char **names;         /* scratch for the duplicate check */
    size_t names_cap;
    bool limit_failed;
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
    Gate 2: one pass over the bytes. UTF-8 (RFC 3629) is checked here
    rather than left to the JSON parser so that the rules are ours and
    visible: no overlong forms, no surrogates, nothing above U+10FFFF, no
    NUL (which C strings downstream would cut). The same pass follows
    strings and escapes for what cJSON lets through and jansson, which
    seinpost used before, refused: \u0000 (cJSON cuts the string there),
    \u escapes without four hex digits (cJSON reads them as NUL), raw
    control characters, a byte order mark, numbers outside the JSON
    grammar ("01", "1.", "-.5") and numbers longer than cJSON reads. It
    only lexes; cJSON parses.                                            */

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

/*  Line and column of a byte, counted as jansson counted them for its
    error positions: from 1, columns in characters.                      */
static void s_position(const parse_ctx_t *ctx, size_t at, int *line,
                       int *column)
{
    *line = 1;
    *column = 0;
    for (size_t i = 0; i <= at && i < ctx->len; i++) {
        if (ctx->bytes[i] == '\n') {
            (*line)++;
            *column = 0;
        }
        else if ((ctx->bytes[i] & 0xC0) != 0x80)
            (*column)++;
    }
}

static int s_fail_at(parse_ctx_t *ctx, sp_code_t code, const char *what,
                     size_t at)
{
    int line, column;
    s_position(ctx, at, &line, &column);
    return s_fail(ctx, code, "%s (line %d, column %d)", what, line, column);
}

/*  Notes the first JSON-level finding; the pass goes on for UTF-8, which
    was its own gate before the JSON parse and still comes first.        */
static void s_scan_finding(parse_ctx_t *ctx, sp_code_t code, const char *what,
                           size_t at)
{
    if (ctx->scan_code != SP_OK)
        return;
    ctx->scan_code = code;
    ctx->scan_what = what;
    ctx->scan_at = at;
}

static bool s_is_hex4(const unsigned char *p, size_t avail)
{
    if (avail < 4)
        return false;
    for (size_t i = 0; i < 4; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')
              || (p[i] >= 'A' && p[i] <= 'F')))
            return false;
    return true;
}

/*  A string's escape at at; returns the bytes it takes. An escaped NUL is
    refused once the string ends, as jansson did: in a member name as a
    syntax error, in a value as a NUL of its own.                        */
static size_t s_scan_escape(parse_ctx_t *ctx, size_t at, size_t *nul_at)
{
    const unsigned char *p = ctx->bytes + at;
    size_t avail = ctx->len - at;
    if (avail < 2 || p[1] == 0 || p[1] >= 0x80) {
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", at);
        return 1;               /* the next byte still gets its UTF-8 check */
    }
    if (p[1] != 'u')
        return 2;               /* cJSON refuses the letters JSON does not know */
    if (!s_is_hex4(p + 2, avail - 2)) {
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", at);
        return 2;
    }
    if (memcmp(p + 2, "0000", 4) == 0 && *nul_at == SIZE_MAX)
        *nul_at = at;
    return 6;
}

/*  The closing quote of a string at at, which held an escaped NUL.      */
static void s_scan_nul(parse_ctx_t *ctx, size_t at, size_t nul_at)
{
    size_t i = at + 1;
    while (i < ctx->len && strchr(" \t\n\r", ctx->bytes[i]) && ctx->bytes[i])
        i++;
    if (i < ctx->len && ctx->bytes[i] == ':')
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", nul_at);
    else
        s_scan_finding(ctx, SP_E_JSON,
                       "a string contains an escaped NUL character", nul_at);
}

static bool s_is_number_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.'
        || c == 'e' || c == 'E';
}

/*  Skips digits from *i; false when there is none.                      */
static bool s_skip_digits(const unsigned char *p, size_t n, size_t *i)
{
    size_t from = *i;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9')
        (*i)++;
    return *i > from;
}

/*  The length of the number -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    at the start of p[0..n), read as jansson's lexer read it: as far as
    it goes (what follows is the next token), 0 when it breaks off ("01",
    "1.", "1e", "-"). cJSON hands anything made of number characters to
    strtod, which takes more.                                            */
static size_t s_number_length(const unsigned char *p, size_t n, bool *integer)
{
    size_t i = p[0] == '-';
    *integer = true;
    if (i < n && p[i] == '0') {
        if (++i < n && p[i] >= '0' && p[i] <= '9')
            return 0;
    }
    else if (!s_skip_digits(p, n, &i))
        return 0;
    if (i < n && p[i] == '.') {
        *integer = false;
        i++;
        if (!s_skip_digits(p, n, &i))
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        *integer = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (!s_skip_digits(p, n, &i))
            return 0;
    }
    return i;
}

/*  An integer token, as jansson read it (strtoll); false on overflow.   */
static bool s_integer_value(const unsigned char *p, size_t n, int64_t *out)
{
    bool negative = p[0] == '-';
    uint64_t limit = (uint64_t) INT64_MAX + (negative ? 1 : 0);
    uint64_t value = 0;
    for (size_t i = negative ? 1 : 0; i < n; i++) {
        unsigned digit = (unsigned) (p[i] - '0');
        if (value > (limit - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = negative ? -(int64_t) (value - 1) - 1 : (int64_t) value;
    return true;
}

static int s_push_number(parse_ctx_t *ctx, const number_t *number)
{
    if (ctx->number_count == ctx->number_cap) {
        size_t cap = ctx->number_cap ? ctx->number_cap * 2 : 16;
        number_t *grown = realloc(ctx->numbers, cap * sizeof *grown);
        if (!grown)
            return s_fail(ctx, SP_E_INTERNAL, "out of memory while parsing");
        ctx->numbers = grown;
        ctx->number_cap = cap;
    }
    ctx->numbers[ctx->number_count++] = *number;
    return 0;
}

/*  A real token overflows a double, as jansson's strtod check had it.   */
static bool s_real_overflows(const unsigned char *p, size_t n)
{
    char text[SP_CJSON_NUMBER_MAX + 1];
    memcpy(text, p, n);
    text[n] = '\0';
    errno = 0;
    double value = strtod(text, NULL);
    return (value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE;
}

/*  The number token at at; *taken gets its length. Overflow is the
    lexer's finding, as it was jansson's: it comes before a syntax error
    at the same token.                                                   */
static int s_scan_number(parse_ctx_t *ctx, size_t at, size_t *taken)
{
    const unsigned char *p = ctx->bytes + at;
    size_t n = 0, avail = ctx->len - at;
    number_t number = { false, 0 };
    while (n < avail && s_is_number_char(p[n]))
        n++;
    *taken = n;
    if ((n = s_number_length(p, n, &number.integer)) == 0) {
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", at);
        return 0;
    }
    *taken = n;     /* any more number characters: the next token */
    if (number.integer && !s_integer_value(p, n, &number.value))
        s_scan_finding(ctx, SP_E_JSON_NUMBER, "number out of range", at);
    /*  cJSON reads 63 characters of a number and then fails on the rest. */
    else if (n > SP_CJSON_NUMBER_MAX)
        s_scan_finding(ctx, SP_E_JSON_NUMBER,
                       "a number is longer than 63 characters", at);
    else if (!number.integer && s_real_overflows(p, n))
        s_scan_finding(ctx, SP_E_JSON_NUMBER, "number out of range", at);
    else
        return s_push_number(ctx, &number);
    return 0;
}

static int s_scan_outside(parse_ctx_t *ctx, size_t at, bool *in_string,
                          int *depth, size_t *taken)
{
    unsigned char c = ctx->bytes[at];
    *taken = 1;
    if (c == '"')
        *in_string = true;
    else if (c == '[' || c == '{') {
        if (++*depth > CJSON_NESTING_LIMIT && ctx->deep_at == SIZE_MAX)
            ctx->deep_at = at;
        if (*depth > SP_JANSSON_NESTING_LIMIT && ctx->deeper_at == SIZE_MAX)
            ctx->deeper_at = at;
    }
    else if (c == ']' || c == '}')
        (*depth)--;
    else if (c == '-' || (c >= '0' && c <= '9'))
        return s_scan_number(ctx, at, taken);
    else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        /*  cJSON takes every byte up to 0x20 for white space.          */
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", at);
    return 0;
}

static size_t s_scan_in_string(parse_ctx_t *ctx, size_t at, bool *in_string,
                               size_t *nul_at)
{
    unsigned char c = ctx->bytes[at];
    if (c == '"') {
        *in_string = false;
        if (*nul_at != SIZE_MAX)
            s_scan_nul(ctx, at, *nul_at);
        *nul_at = SIZE_MAX;
        return 1;
    }
    if (c == '\\')
        return s_scan_escape(ctx, at, nul_at);
    if (c < 0x20)
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", at);
    return 1;
}

#define S_ONES UINT64_C(0x0101010101010101)
#define S_HIGHS UINT64_C(0x8080808080808080)

/*  Skips string bytes that need no look (ASCII, not a control character,
    '"' or '\\'), eight at a time: most of an event is such bytes, and a
    byte at a time this pass cost about as much as cJSON's whole parse.
    The tests are the bit tricks for "has a byte below n" and "has a zero
    byte"; each may flag a word needlessly, never miss one.              */
static size_t s_skip_plain(const unsigned char *p, size_t i, size_t len)
{
    for (; i + 8 <= len; i += 8) {
        uint64_t w, quote, slash;
        memcpy(&w, p + i, 8);
        quote = w ^ (S_ONES * '"');
        slash = w ^ (S_ONES * '\\');
        if (((w - S_ONES * 0x20) & ~w & S_HIGHS)
        |   ((quote - S_ONES) & ~quote & S_HIGHS)
        |   ((slash - S_ONES) & ~slash & S_HIGHS) | (w & S_HIGHS))
            break;
    }
    for (; i < len; i++)
        if (p[i] < 0x20 || p[i] >= 0x80 || p[i] == '"' || p[i] == '\\')
            break;
    return i;
}

static int s_scan(parse_ctx_t *ctx)
{
    const unsigned char *p = ctx->bytes;
    size_t len = ctx->len, i = 0, nul_at = SIZE_MAX, n;
    bool in_string = false;
    int depth = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        s_scan_finding(ctx, SP_E_JSON, "not a JSON document", 0);
    while (i < len) {
        if (in_string && (i = s_skip_plain(p, i, len)) == len)
            break;
        if (p[i] == 0)
            return s_fail(ctx, SP_E_UTF8, "NUL byte at offset %zu", i);
        if (p[i] >= 0x80) {
            if ((n = s_utf8_seq(p + i, len - i)) == 0)
                return s_fail(ctx, SP_E_UTF8,
                              "invalid UTF-8 sequence at offset %zu", i);
            i += n;
        }
        else if (ctx->scan_code != SP_OK)
            i++;
        else if (in_string)
            i += s_scan_in_string(ctx, i, &in_string, &nul_at);
        else if (s_scan_outside(ctx, i, &in_string, &depth, &n))
            return -1;
        else
            i += n;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Gate 3: JSON, by cJSON. It tells where it stopped, not why.          */

static bool s_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*  Whether the last byte before at that is not white space is c.      */
static bool s_follows(const parse_ctx_t *ctx, size_t at, unsigned char c)
{
    while (at > 0 && s_is_space(ctx->bytes[at - 1]))
        at--;
    return at > 0 && ctx->bytes[at - 1] == c;
}

/*  Whether the byte at pos stands in an object rather than an array,
    found by going over the bytes before it again (failures only).      */
static bool s_in_object(const parse_ctx_t *ctx, size_t pos)
{
    bool object[CJSON_NESTING_LIMIT + 1], in_string = false;
    int depth = 0;
    for (size_t i = 0; i < pos; i++) {
        unsigned char c = ctx->bytes[i];
        if (in_string)
            i += c == '\\', in_string = c != '"';
        else if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[') {
            if (depth <= CJSON_NESTING_LIMIT)
                object[depth] = c == '{';
            depth++;
        }
        else if ((c == '}' || c == ']') && depth > 0)
            depth--;
    }
    return depth > 0 && depth <= CJSON_NESTING_LIMIT + 1 && object[depth - 1];
}

/*  Where cJSON stopped, or SIZE_MAX when it parsed all of the input.
    A member name that does not start with '"' it reports one byte on.  */
static size_t s_stop(const parse_ctx_t *ctx, const cJSON *root,
                     const char *end)
{
    size_t at = end ? (size_t) ((const unsigned char *) end - ctx->bytes) : 0;
    unsigned char c = at > 0 && at <= ctx->len ? ctx->bytes[at - 1] : '"';
    if (!root && c != '"' && !s_is_space(c)
    &&  (s_follows(ctx, at - 1, ',')
         || (c != '}' && s_follows(ctx, at - 1, '{')))     /* not "{}" */
    &&  s_in_object(ctx, at - 1))
        at--;
    if (!root)
        return at;
    /*  jansson took white space after the value, and nothing else.     */
    while (at < ctx->len && s_is_space(ctx->bytes[at]))
        at++;
    return at < ctx->len ? at : SIZE_MAX;
}

/*  jansson met errors in the order of the text, a token's own (the
    scan's findings) before the parser's about where the token stands;
    so the scan's first finding wins unless cJSON stopped before it. Past
    cJSON's nesting limit jansson went on, up to its own. Two of jansson's
    orders are not kept, both between two defects of one document: a name
    repeated before a syntax error is JSON_INVALID now (cJSON leaves no
    tree to look in), and a syntax error past cJSON's nesting limit is
    JSON_TOO_DEEP.                                                       */
static cJSON *s_parse_json(parse_ctx_t *ctx)
{
    /*  cJSON writes its error position to a global of its own on every
        parse, and the HTTP gateway parses on a thread per connection.  */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    const char *end = NULL;
    /* cJSON before 1.7.17 can read one byte past a document cut short
       (DaveGamble/cJSON#800): it parses a copy that ends in a NUL      */
    char *copy = malloc(ctx->len + 1);
    if (!copy) {
        s_fail(ctx, SP_E_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(copy, ctx->bytes, ctx->len);
    copy[ctx->len] = '\0';
    pthread_mutex_lock(&lock);
    cJSON *root = cJSON_ParseWithLengthOpts(copy, ctx->len, &end, false);
    pthread_mutex_unlock(&lock);
    end = end ? (const char *) ctx->bytes + (end - copy) : NULL;
    free(copy);
    size_t stop = s_stop(ctx, root, end);
    if (stop == SIZE_MAX && ctx->scan_code == SP_OK)
        return root;
    cJSON_Delete(root);
    if (ctx->scan_code != SP_OK && (ctx->scan_at <= stop
        || (stop == ctx->deep_at && ctx->scan_at < ctx->deeper_at)))
        s_fail_at(ctx, ctx->scan_code, ctx->scan_what, ctx->scan_at);
    else if (stop == ctx->deep_at
             && ctx->max_depth <= CJSON_NESTING_LIMIT)
        s_fail(ctx, SP_E_JSON_DEPTH, "JSON nesting deeper than %d levels",
               ctx->max_depth);
    else if (stop == ctx->deep_at)
        s_fail(ctx, SP_E_JSON_DEPTH, "JSON nesting deeper than the parser "
               "allows (%d levels)", CJSON_NESTING_LIMIT);
    else
        s_fail_at(ctx, SP_E_JSON, "not a JSON document", stop);
    return NULL;
}

/*  ---------------------------------------------------------------------
    Gate 4: the tree. What jansson refused while parsing (duplicate
    names) fails at once; a limit (depth, string lengths) only notes the
    first one it meets and the walk goes on, so that the former still
    win as they did. Recursion is bounded: cJSON
    builds no tree deeper than CJSON_NESTING_LIMIT. The root container
    has depth 1.                                                         */

static void s_limit(parse_ctx_t *ctx, sp_code_t code, const char *what,
                    long long value)
{
    if (ctx->limit_failed)
        return;
    ctx->limit_failed = true;
    s_fail(ctx, code, "%s %lld %s", what, value,
           code == SP_E_JSON_DEPTH ? "levels" : "bytes");
}

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*  Pairwise for the few names of most objects; sorted for many, so that
    an object of tens of thousands of names costs n log n, not n².       */
static int s_check_names(parse_ctx_t *ctx, const cJSON *object)
{
    size_t n = 0;
    for (const cJSON *c = object->child; c; c = c->next)
        n++;
    if (n <= SP_NAMES_PAIRWISE) {
        for (const cJSON *a = object->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    goto duplicate;
        return 0;
    }
    if (n > ctx->names_cap) {
        const char **grown = realloc(ctx->names, n * sizeof *grown);
        if (!grown)
            return s_fail(ctx, SP_E_INTERNAL, "out of memory while parsing");
        ctx->names = grown;
        ctx->names_cap = n;
    }
    n = 0;
    for (const cJSON *c = object->child; c; c = c->next)
        ctx->names[n++] = c->string;
    qsort(ctx->names, n, sizeof *ctx->names, s_compare_names);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ctx->names[i - 1], ctx->names[i]) == 0)
            goto duplicate;
    return 0;
duplicate:
    return s_fail(ctx, SP_E_JSON_DUPLICATE_KEY,
                  "an object repeats a member name");
}

/*  Numbers come in document order, as the scan met them.               */
static int s_check_number(parse_ctx_t *ctx, cJSON *value)
{
    const number_t *number = ctx->number_next < ctx->number_count
                           ? &ctx->numbers[ctx->number_next++] : NULL;
    if (!isfinite(value->valuedouble))      /* the scan refused these */
        return s_fail(ctx, SP_E_JSON_NUMBER, "number out of range");
    if (!number || !number->integer)
        return 0;
    value->type |= SP_JSON_INTEGER;
    if (number->value >= -SP_EXACT_DOUBLE && number->value <= SP_EXACT_DOUBLE)
        return 0;
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRId64, number->value);
    /*  cJSON_Delete() frees valuestring, whatever the type.            */
    value->valuestring = cJSON_malloc((size_t) n + 1);
    if (!value->valuestring)
        return s_fail(ctx, SP_E_INTERNAL, "out of memory while parsing");
    memcpy(value->valuestring, text, (size_t) n + 1);
    return 0;
}

static int s_walk(parse_ctx_t *ctx, cJSON *value, int depth)
{
    if (cJSON_IsObject(value) || cJSON_IsArray(value)) {
        if (depth > ctx->max_depth)
            s_limit(ctx, SP_E_JSON_DEPTH, "JSON nesting deeper than",
                    ctx->max_depth);
        if (cJSON_IsObject(value) && s_check_names(ctx, value))
            return -1;
        for (cJSON *child = value->child; child; child = child->next) {
            if (child->string && strlen(child->string) > ctx->max_string)
                s_limit(ctx, SP_E_JSON_LIMIT,
                        "a member name is longer than",
                        (long long) ctx->max_string);
            if (s_walk(ctx, child, depth + 1))
                return -1;
        }
    }
    else if (cJSON_IsString(value)) {
        if (strlen(value->valuestring) > ctx->max_string)
            s_limit(ctx, SP_E_JSON_LIMIT, "a string is longer than",
                    (long long) ctx->max_string);
    }
    else if (cJSON_IsNumber(value))
        return s_check_number(ctx, value);
    return 0;
}

/*  Gates 2 to 4 over ctx->bytes; the tree, or NULL with ctx's code.   */
static cJSON *s_json(parse_ctx_t *ctx)
{
    cJSON *root = NULL;
    if (s_scan(ctx) == 0)
        root = s_parse_json(ctx);
    if (root && (s_walk(ctx, root, 1) != 0 || ctx->limit_failed)) {
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

cJSON *sp_json_parse(const void *bytes, size_t len, int max_depth,
                     size_t max_string, sp_code_t *code, char *reason,
                     size_t reason_len)
{
    parse_ctx_t ctx = { .max_depth = max_depth, .max_string = max_string,
                        .code = SP_OK, .reason = reason,
                        .reason_len = reason_len, .scan_code = SP_OK,
                        .deep_at = SIZE_MAX, .deeper_at = SIZE_MAX,
                        .bytes = bytes, .len = len };
    cJSON *root = NULL;
    if (reason && reason_len > 0)
        reason[0] = '\0';
    if (len == 0 || !bytes)
        s_fail(&ctx, SP_E_JSON, "JSON document is empty");
    else
        root = s_json(&ctx);
    free(ctx.numbers);
    free(ctx.names);
    if (code)
        *code = ctx.code;
    return root;
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
                                const cJSON *value, bool allow_empty)
{
    size_t len = strlen(value->valuestring);
    if (len == 0 && !allow_empty)
        return s_fail(ctx, SP_E_ATTR_INVALID, "attribute '%s' is empty", name);
    if (len > ctx->limits->max_attr_string)
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute '%s' is longer than %zu bytes",
                      name, ctx->limits->max_attr_string);
    if (s_has_control(value->valuestring, len))
        return s_fail(ctx, SP_E_ATTR_INVALID,
                      "attribute '%s' contains a control character", name);
    return 0;
}

/*  index is the member's position in the object, counted from 1: it lets
    an emitter find a bad name without the reason quoting it.            */
static int s_check_member(parse_ctx_t *ctx, const char *name,
                          const cJSON *value, size_t index)
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
        if (!cJSON_IsString(value))
            return s_fail(ctx, SP_E_ATTR_TYPE,
                          "attribute '%s' is not a string", name);
        return s_check_string_value(ctx, name, value, false);
    }
    if (cJSON_IsString(value))
        return s_check_string_value(ctx, name, value, true);
    if (!cJSON_IsNumber(value) && !cJSON_IsBool(value))
        return s_fail(ctx, SP_E_ATTR_TYPE,
                      "extension attribute '%s' is not a string, number "
                      "or boolean", name);
    return 0;
}

static int s_check_members(parse_ctx_t *ctx, const cJSON *root)
{
    size_t index = 0;
    for (const cJSON *member = root->child; member; member = member->next) {
        index++;
        if (s_check_member(ctx, member->string, member, index))
            return -1;
    }
    for (size_t i = 0;
         i < sizeof s_required_attrs / sizeof s_required_attrs[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(root, s_required_attrs[i]))
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

/*  The value of a string member, or NULL.                              */
static const char *s_string(const cJSON *object, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, name));
}

static int s_check_sequence(parse_ctx_t *ctx, const cJSON *root)
{
    const char *seq = s_string(root, "sequence");
    const char *seqtype = s_string(root, "sequencetype");
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
    const cJSON *root = self->root;
    self->specversion = s_string(root, "specversion");
    self->id = s_string(root, "id");
    self->source = s_string(root, "source");
    self->type = s_string(root, "type");
    self->time = s_string(root, "time");
    self->subject = s_string(root, "subject");
    self->datacontenttype = s_string(root, "datacontenttype");
    self->dataref = s_string(root, "dataref");
    self->data = cJSON_GetObjectItemCaseSensitive(root, "data");

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

/*  Gate 1, then the JSON gates, which sp_json_parse shares.            */
static cJSON *s_event_json(parse_ctx_t *ctx, const void *bytes, size_t len)
{
    const sp_event_limits_t *limits = ctx->limits;
    if (len > limits->max_bytes) {
        s_fail(ctx, SP_E_TOO_LARGE, "event is %zu bytes, the limit is %zu",
               len, limits->max_bytes);
        return NULL;
    }
    if (len == 0 || !bytes) {
        s_fail(ctx, SP_E_JSON, "event is empty");
        return NULL;
    }
    return sp_json_parse(bytes, len, limits->max_depth, limits->max_string,
                         &ctx->code, ctx->reason, ctx->reason_len);
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
    parse_ctx_t ctx = { .limits = limits, .code = SP_OK, .reason = reason,
                        .reason_len = reason_len };
    if (reason && reason_len > 0)
        reason[0] = '\0';
    sp_event_t *self = NULL;
    cJSON *root = s_event_json(&ctx, bytes, len);

    if (!root)
        goto cleanup;
    if (!cJSON_IsObject(root)) {
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
    cJSON_Delete(root);
    if (code)
        *code = ctx.code;
    return self;
}

void sp_event_destroy(sp_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cJSON_Delete((*self_p)->root);
    free(*self_p);
    *self_p = NULL;
}

/*  The member of object named by name[0..n), or NULL.                  */
static cJSON *s_member_n(const cJSON *object, const char *name, size_t n)
{
    for (cJSON *member = object->child; member; member = member->next)
        if (strncmp(member->string, name, n) == 0 && member->string[n] == '\0')
            return member;
    return NULL;
}

cJSON *sp_event_lookup(const sp_event_t *self, const char *path)
{
    if (!self || !self->root || !path)
        return NULL;
    if (strncmp(path, "data.", 5) != 0)
        return cJSON_GetObjectItemCaseSensitive(self->root, path);
    const cJSON *node = self->data;
    const char *p = path + 5;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (!cJSON_IsObject(node) || n == 0)
            return NULL;
        cJSON *member = s_member_n(node, p, n);
        if (!member || p[n] == '\0')
            return member;
        node = member;
        p += n + 1;
    }
}

bool sp_json_is_integer(const cJSON *value)
{
    return cJSON_IsNumber(value) && (value->type & SP_JSON_INTEGER);
}

int64_t sp_json_integer(const cJSON *value)
{
    if (!sp_json_is_integer(value))
        return 0;
    if (value->valuestring)
        return strtoll(value->valuestring, NULL, 10);
    return (int64_t) value->valuedouble;
}
