/*  filter.h - matching events against subscription filters.

    A subscription takes an event when the event's type equals its type
    and every condition holds. A condition reads the value at its path
    (sp_event_lookup) and compares a text form of it with the operands:
    - a JSON string compares as its own text;
    - an integer, true or false as its JSON text ("42", "true");
    - a real as the shortest text that reads back as the same number,
      written as jansson writes reals ("1.5", "2.0", "1e300");
    - an absent field, an object, an array or null never matches.
    EXACT: text equals values[0]. PREFIX: text starts with values[0].
    ANY_OF: text equals one of values[0..value_count-1].
*/
#ifndef FILTER_H_INCLUDED
#define FILTER_H_INCLUDED

#include <stdbool.h>
#include "config.h"
#include "sp_event.h"

bool filter_match(const subscription_t *sub, const sp_event_t *event);

/*  "exact", "prefix" or "any_of"; "unknown" for other values.           */
const char *filter_op_name(filter_op_t op);

#endif
