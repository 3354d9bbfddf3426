/*  filter.c - matching events against subscription filters.             */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

/*  Room for any integer, "true"/"false" and a %.17g real.              */
#define S_TEXT_MAX 48

/*  "1e+07" -> "1e7", "1e-07" -> "1e-7", as jansson writes exponents.  */
static void s_trim_exponent(char *buf)
{
    char *e = strchr(buf, 'e');
    if (!e)
        return;
    char *digits = e + 1;
    if (*digits == '-')
        digits++;
    char *from = digits;
    while (*from == '+' || *from == '0')
        from++;
    if (*from == '\0')
        from--;                 /* keep one digit of a zero exponent */
    memmove(digits, from, strlen(from) + 1);
}

/*  The fewest significant digits that read back as the same double, laid
    out as jansson lays out "%.17g" (fixed notation for exponents -4..16,
    ".0" on integral values). An operand is then what an emitter's JSON
    library most likely wrote, e.g. 0.1 rather than 0.10000000000000001. */
static void s_real_text(double value, char *buf, size_t len)
{
    char sci[S_TEXT_MAX];
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, value);
        if (strtod(sci, NULL) == value)
            break;
    }
    snprintf(sci, sizeof sci, "%.*e", digits - 1, value);
    int exponent = atoi(strchr(sci, 'e') + 1);
    if (exponent < -4 || exponent >= 17) {
        snprintf(buf, len, "%s", sci);
        s_trim_exponent(buf);
        return;
    }
    int decimals = digits - 1 - exponent;
    snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 0, value);
    size_t n = strlen(buf);
    if (!strchr(buf, '.') && n + 2 < len)
        memcpy(buf + n, ".0", 3);
}

/*  Text form of a scalar, or NULL when the value never matches. For
    strings it points into the value; otherwise into buf.               */
static const char *s_value_text(const cJSON *value, char *buf, size_t len,
                                size_t *text_len)
{
    const char *text = buf;
    if (cJSON_IsString(value)) {
        *text_len = strlen(value->valuestring);
        return value->valuestring;
    }
    if (sp_json_is_integer(value))
        snprintf(buf, len, "%" PRId64, sp_json_integer(value));
    else if (cJSON_IsNumber(value)) {
        if (!isfinite(value->valuedouble))
            return NULL;
        s_real_text(value->valuedouble, buf, len);
    }
    else if (cJSON_IsTrue(value))
        text = "true";
    else if (cJSON_IsFalse(value))
        text = "false";
    else
        return NULL;
    *text_len = strlen(text);
    return text;
}

static bool s_equals(const char *text, size_t text_len, const char *operand)
{
    return operand && strlen(operand) == text_len
        && memcmp(text, operand, text_len) == 0;
}

static bool s_cond_holds(const filter_cond_t *cond, const sp_event_t *event)
{
    char buf[S_TEXT_MAX];
    size_t text_len = 0;
    const cJSON *value = cond->path ? sp_event_lookup(event, cond->path) : NULL;
    const char *text = value ? s_value_text(value, buf, sizeof buf, &text_len)
                             : NULL;
    if (!text || !cond->values || cond->value_count == 0)
        return false;
    switch (cond->op) {
    case FILTER_EXACT:
        return s_equals(text, text_len, cond->values[0]);
    case FILTER_PREFIX: {
        const char *prefix = cond->values[0];
        size_t n = prefix ? strlen(prefix) : 0;
        return prefix && n <= text_len && memcmp(text, prefix, n) == 0;
    }
    case FILTER_ANY_OF:
        for (size_t i = 0; i < cond->value_count; i++)
            if (s_equals(text, text_len, cond->values[i]))
                return true;
        return false;
    }
    return false;
}

bool filter_match(const subscription_t *sub, const sp_event_t *event)
{
    if (!sub || !event || !sub->type || !event->type
    ||  strcmp(sub->type, event->type) != 0)
        return false;
    if (sub->cond_count > 0 && !sub->conds)
        return false;
    for (size_t i = 0; i < sub->cond_count; i++)
        if (!s_cond_holds(&sub->conds[i], event))
            return false;
    return true;
}

const char *filter_op_name(filter_op_t op)
{
    switch (op) {
    case FILTER_EXACT:  return "exact";
    case FILTER_PREFIX: return "prefix";
    case FILTER_ANY_OF: return "any_of";
    }
    return "unknown";
}
