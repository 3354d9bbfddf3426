/*  sp_code.c - wire names of reply and rejection codes.

    The names are part of the protocol: partners and emitters match on
    them, so a name never changes once released. The table is a switch
    without a default label so that -Wswitch (in -Wall, and -Werror) fails
    the build when a code is added to sp_code_t without a name. Unique
    names are checked by tests/unit/test_event.c.
*/
#include <string.h>

#include "seinpost.h"

/*  NULL for values outside the enum, so the callers choose the fallback. */
static const char *s_name(sp_code_t code)
{
    switch (code) {
    case SP_OK:                  return "OK";
    case SP_DUPLICATE:           return "DUPLICATE";
    case SP_E_PROTOCOL:          return "PROTOCOL_INVALID";
    case SP_E_FRAMES:            return "FRAMES_INVALID";
    case SP_E_COMMAND:           return "COMMAND_UNKNOWN";
    case SP_E_TOO_LARGE:         return "TOO_LARGE";
    case SP_E_UTF8:              return "UTF8_INVALID";
    case SP_E_JSON:              return "JSON_INVALID";
    case SP_E_JSON_DEPTH:        return "JSON_TOO_DEEP";
    case SP_E_JSON_DUPLICATE_KEY: return "JSON_DUPLICATE_KEY";
    case SP_E_JSON_NUMBER:       return "JSON_NUMBER_OUT_OF_RANGE";
    case SP_E_JSON_LIMIT:        return "JSON_LIMIT_EXCEEDED";
    case SP_E_NOT_OBJECT:        return "NOT_AN_OBJECT";
    case SP_E_ATTR_MISSING:      return "ATTRIBUTE_MISSING";
    case SP_E_ATTR_TYPE:         return "ATTRIBUTE_TYPE_INVALID";
    case SP_E_ATTR_NAME:         return "ATTRIBUTE_NAME_INVALID";
    case SP_E_ATTR_INVALID:      return "ATTRIBUTE_INVALID";
    case SP_E_SPECVERSION:       return "SPECVERSION_UNSUPPORTED";
    case SP_E_SOURCE:            return "SOURCE_INVALID";
    case SP_E_OIN:               return "OIN_INVALID";
    case SP_E_TIME:              return "TIME_INVALID";
    case SP_E_CLOCK_SKEW:        return "CLOCK_SKEW";
    case SP_E_TYPE_UNKNOWN:      return "TYPE_UNKNOWN";
    case SP_E_DATA_MISSING:      return "DATA_FIELD_MISSING";
    case SP_E_DATA_TYPE:         return "DATA_FIELD_TYPE_INVALID";
    case SP_E_KEY_UNKNOWN:       return "KEY_UNKNOWN";
    case SP_E_SIGNATURE_LENGTH:  return "SIGNATURE_LENGTH_INVALID";
    case SP_E_SIGNATURE:         return "SIGNATURE_INVALID";
    case SP_E_NOT_ALLOWED:       return "TYPE_NOT_ALLOWED";
    case SP_E_SOURCE_MISMATCH:   return "SOURCE_MISMATCH";
    case SP_E_CURVE_MISMATCH:    return "CURVE_KEY_MISMATCH";
    case SP_E_REPLAY:            return "REPLAY";
    case SP_E_STORAGE:           return "STORAGE_UNAVAILABLE";
    case SP_E_OVERLOADED:        return "OVERLOADED";
    case SP_E_SHUTTING_DOWN:     return "SHUTTING_DOWN";
    case SP_E_INTERNAL:          return "INTERNAL";
    case SP_E_RECEIPT_UNKNOWN:   return "RECEIPT_UNKNOWN";
    case SP_E_RECEIPT_SIGNATURE: return "RECEIPT_SIGNATURE_INVALID";
    case SP_E_BATCH_SIGNATURE:   return "BATCH_SIGNATURE_INVALID";
    case SP_E_PARTNER_FAILED:    return "PARTNER_FAILED";
    case SP_E_BATCH_MISADDRESSED: return "BATCH_MISADDRESSED";
    case SP_E_BATCH_REPLAYED:    return "BATCH_REPLAYED";
    case SP_E_SEQUENCE_GAP:      return "SEQUENCE_GAP";
    case SP_CODE_COUNT:          return NULL;
    }
    return NULL;
}

const char *sp_code_name(sp_code_t code)
{
    const char *name = s_name(code);
    /*  A name must always be printable: an unknown value is a bug on our
        side, which is what INTERNAL says on the wire.                    */
    return name ? name : "INTERNAL";
}

sp_code_t sp_code_from_name(const char *name)
{
    if (!name)
        return SP_E_INTERNAL;
    for (int i = 0; i < SP_CODE_COUNT; i++) {
        const char *known = s_name((sp_code_t) i);
        if (known && strcmp(known, name) == 0)
            return (sp_code_t) i;
    }
    return SP_E_INTERNAL;
}
