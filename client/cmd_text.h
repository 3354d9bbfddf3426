/*  cmd_text.h - strings that came from outside (the database, the admin
    socket, emitters' events, the configuration) made safe to print.

    On a terminal a stored string is data, never a command: a newline must
    not forge an output line and an escape sequence must not reach the
    terminal. cmd_text_escape() writes, for the human output:
      \\  \n  \r  \t          backslash and the usual controls
      \xHH                    any other byte below 0x20, 0x7f, and every
                              byte that is not part of valid UTF-8
      \uHHHH                  C1 controls (U+0080..U+009F), bidirectional
                              and line-separator marks (U+061C, U+200E,
                              U+200F, U+2028..U+202E, U+2066..U+2069)
    Everything else, printable non-ASCII included, is copied as it is.
    The JSON outputs keep every string exactly; only one that is not
    valid UTF-8 (which JSON cannot carry) is written escaped as above.  */
#ifndef CMD_TEXT_H_INCLUDED
#define CMD_TEXT_H_INCLUDED

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

/*  len bytes of text, escaped; NUL-terminated, freed by the caller; NULL
    when out of memory.                                                 */
char *cmd_text_escape(const char *text, size_t len);
/*  Writes text (NUL-terminated) escaped to out.                         */
void cmd_text_fputs(const char *text, FILE *out);
/*  A copy of value with every string and object key escaped, for the
    human output; NULL when out of memory. value may be NULL.          */
json_t *cmd_text_json_shown(json_t *value);
/*  A copy of value that json_dumps() can encode: strings that are not
    valid UTF-8 escaped, the others byte for byte. NULL when out of
    memory. value may be NULL.                                         */
json_t *cmd_text_json_valid(json_t *value);

#endif
