/*  sp_util.c - durable file writes, clocks and logging.                   */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sodium.h>

#include "sp_util.h"

static int s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int sp_fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int sp_file_write_atomic(const char *path, const void *data, size_t len,
                         mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid())
        >= (int) sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) != 0 || s_write_all(fd, data, len) != 0
        || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return sp_fsync_dir_of(path);
}

char *sp_file_read(const char *path, size_t max, size_t *len)
{
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!file)
        return NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t n = fread(buf + used, 1, cap - used, file);
        used += n;
        if (used > max) {
            free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        if (n == 0)
            break;
        if (used == cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (file != stdin)
        fclose(file);
    if (buf) {
        buf[used] = '\0';
        if (len)
            *len = used;
    }
    return buf;
}

int64_t sp_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sp_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *s_log_ident = "seinpost";
static sp_log_level_t s_log_min = SP_LOG_INFO;
static int s_log_json;
static const char *s_level_names[] = { "debug", "info", "notice", "warning", "error" };
/*  sd-daemon(3) prefixes so journald records the level.                   */
static const char *s_level_prefix[] = { "<7>", "<6>", "<5>", "<4>", "<3>" };

void sp_log_setup(const char *ident, sp_log_level_t min_level, int json)
{
    s_log_ident = ident;
    s_log_min = min_level;
    s_log_json = json;
}

int sp_log_level_parse(const char *text, sp_log_level_t *level)
{
    for (int i = 0; i <= SP_LOG_ERROR; i++)
        if (strcmp(text, s_level_names[i]) == 0) {
            *level = (sp_log_level_t) i;
            return 0;
        }
    return -1;
}

void sp_log(sp_log_level_t level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (level < s_log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s_log_json) {
        json_t *line = json_pack("{s:I, s:s, s:s, s:s}",
                                 "ts_ms", (json_int_t) time(NULL) * 1000,
                                 "level", s_level_names[level],
                                 "ident", s_log_ident, "msg", msg);
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (text)
            fprintf(stderr, "%s\n", text);
        free(text);
        json_decref(line);
    } else {
        fprintf(stderr, "%s%s: %s\n", s_level_prefix[level], s_log_ident, msg);
    }
}

void sp_uuid4(char out[37])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
}
