/*  sp_yaml.h - a thin layer over libyaml's document API for configuration
    files (seinpostd's and the client tools').

    Internal (not installed). sp_yaml_load() reads one YAML document and
    rejects what libyaml lets through but a configuration must not hold:
    several documents, duplicate mapping keys, NUL bytes inside scalars.
    Nodes are libyaml's own; they live as long as the sp_yaml_t.
    Every error is "file:line: message", lines counted from 1.
*/
#ifndef SP_YAML_H_INCLUDED
#define SP_YAML_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

typedef struct sp_yaml sp_yaml_t;
typedef yaml_node_t sp_yaml_node_t;

/*  Returns NULL on failure and writes "file:line: message" into err.      */
sp_yaml_t *sp_yaml_load(const char *path, char *err, size_t errlen);
void sp_yaml_destroy(sp_yaml_t **self_p);

/*  The path as passed to sp_yaml_load(), for messages.                     */
const char *sp_yaml_path(const sp_yaml_t *self);
/*  Absolute directory of the file; relative paths inside it resolve here. */
const char *sp_yaml_dir(const sp_yaml_t *self);
sp_yaml_node_t *sp_yaml_root(sp_yaml_t *self);

/*  1-based line where node starts.                                        */
int sp_yaml_line(const sp_yaml_node_t *node);
bool sp_yaml_is_scalar(const sp_yaml_node_t *node);
bool sp_yaml_is_map(const sp_yaml_node_t *node);
bool sp_yaml_is_seq(const sp_yaml_node_t *node);
/*  Plain (unquoted) empty, "~" or "null" scalar.                           */
bool sp_yaml_is_null(const sp_yaml_node_t *node);
/*  "a string", "a mapping" or "a sequence", for messages.                 */
const char *sp_yaml_kind(const sp_yaml_node_t *node);

/*  A scalar's text, NUL-terminated; NULL when node is not a scalar.       */
const char *sp_yaml_scalar(const sp_yaml_node_t *node);
/*  Value of key in a mapping; NULL if absent or map is not a mapping.     */
sp_yaml_node_t *sp_yaml_get(sp_yaml_t *self, const sp_yaml_node_t *map,
                            const char *key);
/*  Number of items of a sequence or pairs of a mapping; 0 otherwise.      */
size_t sp_yaml_size(const sp_yaml_node_t *node);
sp_yaml_node_t *sp_yaml_item(sp_yaml_t *self, const sp_yaml_node_t *seq,
                             size_t index);
sp_yaml_node_t *sp_yaml_pair_key(sp_yaml_t *self, const sp_yaml_node_t *map,
                                 size_t index);
sp_yaml_node_t *sp_yaml_pair_value(sp_yaml_t *self, const sp_yaml_node_t *map,
                                   size_t index);

/*  Scalar conversions; return 0, or -1 when the text is not one, or out
    of [min, max]. Booleans are true/false only: yes/no/on/off are errors
    because YAML 1.1 and 1.2 disagree on them.                             */
int sp_yaml_int(const sp_yaml_node_t *node, long long min, long long max,
                long long *value);
int sp_yaml_double(const sp_yaml_node_t *node, double *value);
int sp_yaml_bool(const sp_yaml_node_t *node, bool *value);

/*  The key of map at or after *index that is not in allowed (NULL-
    terminated), advancing *index past it; NULL when there is none left.   */
sp_yaml_node_t *sp_yaml_next_unknown(sp_yaml_t *self, const sp_yaml_node_t *map,
                                     const char *const *allowed, size_t *index);
/*  The allowed word nearest to word (at most two edits), or NULL.          */
const char *sp_yaml_closest(const char *word, const char *const *allowed);

/*  path resolved against sp_yaml_dir() unless absolute; caller frees.      */
char *sp_yaml_resolve(const sp_yaml_t *self, const char *path);

/*  Writes "file:line: message" for node into err and returns -1.           */
int sp_yaml_error(const sp_yaml_t *self, const sp_yaml_node_t *node,
                  char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
