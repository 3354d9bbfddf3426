/*  sp_yaml.c - YAML configuration documents over libyaml, see sp_yaml.h.   */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_util.h"
#include "sp_yaml.h"

/*  Configuration files are small; the cap keeps a wrong path (a disk
    image, /dev/zero) from eating memory.                                  */
#define SP_YAML_MAX_BYTES (4u * 1024 * 1024)

struct sp_yaml {
    char *path;
    char *dir;
    yaml_document_t doc;
    bool loaded;
};

int sp_yaml_error(const sp_yaml_t *self, const sp_yaml_node_t *node,
                  char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int used = node ? snprintf(err, errlen, "%s:%d: ", self->path,
                               sp_yaml_line(node))
                    : snprintf(err, errlen, "%s: ", self->path);
    if (used >= 0 && (size_t) used < errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err + used, errlen - (size_t) used, fmt, args);
        va_end(args);
    }
    return -1;
}

/*  Reader errors carry a byte offset, not a line: count the newlines.     */
static int s_line_of_offset(const char *buf, size_t len, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < len; i++)
        if (buf[i] == '\n')
            line++;
    return line;
}

static void s_parser_error(const sp_yaml_t *self, const yaml_parser_t *parser,
                           const char *buf, size_t len, char *err, size_t errlen)
{
    const char *problem = parser->problem ? parser->problem : "unknown error";
    int line = (int) parser->problem_mark.line + 1;

    if (parser->error == YAML_MEMORY_ERROR) {
        snprintf(err, errlen, "%s: out of memory", self->path);
        return;
    }
    if (parser->error == YAML_READER_ERROR) {
        line = s_line_of_offset(buf, len, parser->problem_offset);
        snprintf(err, errlen, "%s:%d: YAML syntax error: %s", self->path,
                 line, problem);
        return;
    }
    if (parser->context)
        snprintf(err, errlen, "%s:%d: YAML syntax error: %s (%s at line %d)",
                 self->path, line, problem, parser->context,
                 (int) parser->context_mark.line + 1);
    else
        snprintf(err, errlen, "%s:%d: YAML syntax error: %s", self->path,
                 line, problem);
}

static int s_check_mapping(sp_yaml_t *self, const sp_yaml_node_t *map,
                           char *err, size_t errlen)
{
    size_t count = sp_yaml_size(map);
    for (size_t i = 0; i < count; i++) {
        const sp_yaml_node_t *key = sp_yaml_pair_key(self, map, i);
        if (!sp_yaml_is_scalar(key))
            return sp_yaml_error(self, key, err, errlen,
                                 "mapping keys must be plain strings");
        for (size_t j = 0; j < i; j++) {
            const char *earlier = sp_yaml_scalar(sp_yaml_pair_key(self, map, j));
            if (strcmp(earlier, sp_yaml_scalar(key)) == 0)
                return sp_yaml_error(self, key, err, errlen,
                                     "duplicate key '%s' (first at line %d)",
                                     sp_yaml_scalar(key),
                                     sp_yaml_line(sp_yaml_pair_key(self, map, j)));
        }
    }
    return 0;
}

/*  libyaml accepts duplicate keys (the last silently wins) and NUL bytes
    in quoted scalars (C strings would cut them short). Walking the node
    table rather than the tree also copes with aliases that form cycles.   */
static int s_check_nodes(sp_yaml_t *self, char *err, size_t errlen)
{
    for (yaml_node_t *node = self->doc.nodes.start;
         node < self->doc.nodes.top; node++) {
        if (node->type == YAML_SCALAR_NODE
            && strlen((const char *) node->data.scalar.value)
               != node->data.scalar.length)
            return sp_yaml_error(self, node, err, errlen,
                                 "NUL character inside a value");
        if (node->type == YAML_MAPPING_NODE
            && s_check_mapping(self, node, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int s_set_dir(sp_yaml_t *self, char *err, size_t errlen)
{
    char *copy = strdup(self->path);
    if (!copy)
        return sp_yaml_error(self, NULL, err, errlen, "out of memory");
    self->dir = realpath(dirname(copy), NULL);
    free(copy);
    if (!self->dir)
        return sp_yaml_error(self, NULL, err, errlen,
                             "cannot resolve directory: %s", strerror(errno));
    return 0;
}

/*  A second document in the stream would be ignored silently otherwise.   */
static int s_expect_end(sp_yaml_t *self, yaml_parser_t *parser,
                        const char *buf, size_t len, char *err, size_t errlen)
{
    yaml_document_t extra;
    if (!yaml_parser_load(parser, &extra)) {
        s_parser_error(self, parser, buf, len, err, errlen);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&extra);
    if (root)
        rc = sp_yaml_error(self, root, err, errlen,
                           "more than one YAML document in the file");
    yaml_document_delete(&extra);
    return rc;
}

static int s_parse(sp_yaml_t *self, const char *buf, size_t len,
                   char *err, size_t errlen)
{
    yaml_parser_t parser;
    int rc = -1;
    if (!yaml_parser_initialize(&parser))
        return sp_yaml_error(self, NULL, err, errlen, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *) buf, len);
    if (!yaml_parser_load(&parser, &self->doc)) {
        s_parser_error(self, &parser, buf, len, err, errlen);
        goto cleanup;
    }
    self->loaded = true;
    if (!yaml_document_get_root_node(&self->doc)) {
        snprintf(err, errlen, "%s:1: empty document", self->path);
        goto cleanup;
    }
    if (s_expect_end(self, &parser, buf, len, err, errlen) != 0)
        goto cleanup;
    rc = s_check_nodes(self, err, errlen);
cleanup:
    yaml_parser_delete(&parser);
    return rc;
}

sp_yaml_t *sp_yaml_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *buf = NULL;
    sp_yaml_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    buf = sp_file_read(path, SP_YAML_MAX_BYTES, &len);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read: %s", path,
                 errno == EFBIG ? "file too large" : strerror(errno));
        goto fail;
    }
    if (s_set_dir(self, err, errlen) != 0
        || s_parse(self, buf, len, err, errlen) != 0)
        goto fail;
    free(buf);
    return self;
fail:
    free(buf);
    sp_yaml_destroy(&self);
    return NULL;
}

void sp_yaml_destroy(sp_yaml_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_yaml_t *self = *self_p;
    if (self->loaded)
        yaml_document_delete(&self->doc);
    free(self->path);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

const char *sp_yaml_path(const sp_yaml_t *self) { return self->path; }
const char *sp_yaml_dir(const sp_yaml_t *self) { return self->dir; }

sp_yaml_node_t *sp_yaml_root(sp_yaml_t *self)
{
    return yaml_document_get_root_node(&self->doc);
}

int sp_yaml_line(const sp_yaml_node_t *node)
{
    return node ? (int) node->start_mark.line + 1 : 0;
}

bool sp_yaml_is_scalar(const sp_yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE;
}

bool sp_yaml_is_map(const sp_yaml_node_t *node)
{
    return node && node->type == YAML_MAPPING_NODE;
}

bool sp_yaml_is_seq(const sp_yaml_node_t *node)
{
    return node && node->type == YAML_SEQUENCE_NODE;
}

bool sp_yaml_is_null(const sp_yaml_node_t *node)
{
    if (!sp_yaml_is_scalar(node)
        || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *text = sp_yaml_scalar(node);
    return !*text || strcmp(text, "~") == 0 || strcmp(text, "null") == 0
        || strcmp(text, "Null") == 0 || strcmp(text, "NULL") == 0;
}

const char *sp_yaml_kind(const sp_yaml_node_t *node)
{
    if (sp_yaml_is_map(node))
        return "a mapping";
    if (sp_yaml_is_seq(node))
        return "a sequence";
    if (sp_yaml_is_null(node))
        return "nothing";
    return "a string";
}

const char *sp_yaml_scalar(const sp_yaml_node_t *node)
{
    return sp_yaml_is_scalar(node) ? (const char *) node->data.scalar.value
                                   : NULL;
}

size_t sp_yaml_size(const sp_yaml_node_t *node)
{
    if (sp_yaml_is_seq(node))
        return (size_t) (node->data.sequence.items.top
                         - node->data.sequence.items.start);
    if (sp_yaml_is_map(node))
        return (size_t) (node->data.mapping.pairs.top
                         - node->data.mapping.pairs.start);
    return 0;
}

sp_yaml_node_t *sp_yaml_item(sp_yaml_t *self, const sp_yaml_node_t *seq,
                             size_t index)
{
    if (!sp_yaml_is_seq(seq) || index >= sp_yaml_size(seq))
        return NULL;
    return yaml_document_get_node(&self->doc,
                                  seq->data.sequence.items.start[index]);
}

sp_yaml_node_t *sp_yaml_pair_key(sp_yaml_t *self, const sp_yaml_node_t *map,
                                 size_t index)
{
    if (!sp_yaml_is_map(map) || index >= sp_yaml_size(map))
        return NULL;
    return yaml_document_get_node(&self->doc,
                                  map->data.mapping.pairs.start[index].key);
}

sp_yaml_node_t *sp_yaml_pair_value(sp_yaml_t *self, const sp_yaml_node_t *map,
                                   size_t index)
{
    if (!sp_yaml_is_map(map) || index >= sp_yaml_size(map))
        return NULL;
    return yaml_document_get_node(&self->doc,
                                  map->data.mapping.pairs.start[index].value);
}

sp_yaml_node_t *sp_yaml_get(sp_yaml_t *self, const sp_yaml_node_t *map,
                            const char *key)
{
    size_t count = sp_yaml_size(map);
    for (size_t i = 0; i < count; i++) {
        const char *name = sp_yaml_scalar(sp_yaml_pair_key(self, map, i));
        if (name && strcmp(name, key) == 0)
            return sp_yaml_pair_value(self, map, i);
    }
    return NULL;
}

int sp_yaml_int(const sp_yaml_node_t *node, long long min, long long max,
                long long *value)
{
    const char *text = sp_yaml_scalar(node);
    if (!text || !(*text == '-' || *text == '+' || (*text >= '0' && *text <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

int sp_yaml_double(const sp_yaml_node_t *node, double *value)
{
    const char *text = sp_yaml_scalar(node);
    if (!text || !*text || strspn(text, "0123456789+-.eE") != strlen(text))
        return -1;
    char *end = NULL;
    errno = 0;
    double parsed = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(parsed))
        return -1;
    *value = parsed;
    return 0;
}

int sp_yaml_bool(const sp_yaml_node_t *node, bool *value)
{
    const char *text = sp_yaml_scalar(node);
    if (!text)
        return -1;
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0
        || strcmp(text, "TRUE") == 0)
        *value = true;
    else if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0
             || strcmp(text, "FALSE") == 0)
        *value = false;
    else
        return -1;
    return 0;
}

static bool s_listed(const char *word, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(word, *allowed) == 0)
            return true;
    return false;
}

sp_yaml_node_t *sp_yaml_next_unknown(sp_yaml_t *self, const sp_yaml_node_t *map,
                                     const char *const *allowed, size_t *index)
{
    size_t count = sp_yaml_size(map);
    while (*index < count) {
        sp_yaml_node_t *key = sp_yaml_pair_key(self, map, (*index)++);
        const char *name = sp_yaml_scalar(key);
        if (!name || !s_listed(name, allowed))
            return key;
    }
    return NULL;
}

/*  Levenshtein distance, for "did you mean" hints on short key names.     */
static size_t s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *sp_yaml_closest(const char *word, const char *const *allowed)
{
    size_t limit = strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 2)
        limit = 2;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (; *allowed; allowed++) {
        size_t d = s_distance(word, *allowed);
        if (d < best_distance) {
            best = *allowed;
            best_distance = d;
        }
    }
    return best;
}

char *sp_yaml_resolve(const sp_yaml_t *self, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    size_t len = strlen(self->dir) + 1 + strlen(path) + 1;
    char *joined = malloc(len);
    if (joined)
        snprintf(joined, len, "%s/%s", self->dir, path);
    return joined;
}
