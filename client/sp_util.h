/*  sp_util.h - small helpers shared by libseinpost, the CLI and the daemon.
    Internal (not installed).                                              */
#ifndef SP_UTIL_H_INCLUDED
#define SP_UTIL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*  Writes data to path durably: temp file, fsync, rename, fsync of the
    directory, as OpenSMTPD's queue does.                                 */
int sp_file_write_atomic(const char *path, const void *data, size_t len,
                         mode_t mode);
/*  fsync of the directory holding path: makes a rename in it durable.   */
int sp_fsync_dir_of(const char *path);
/*  Reads a whole file (at most max bytes); caller frees. NUL-terminated.  */
char *sp_file_read(const char *path, size_t max, size_t *len);

/*  SHA-256 as an OpenSSL algorithm fetched once (sp_key.c), for digests
    built in pieces: EVP_sha256() makes EVP_DigestInit fetch it anew.    */
typedef struct evp_md_st EVP_MD;
const EVP_MD *sp_sha256_md(void);

/*  A random (version 4) UUID, lower-case, for CloudEvents ids.         */
void sp_uuid4(char out[37]);

/*  Monotonic milliseconds, for timers.                                    */
int64_t sp_clock_ms(void);
int64_t sp_clock_us(void);

/*  Logging to stderr, one line per event. Messages must never carry
    personal data: callers log ids, codes and counts, not payloads.       */
typedef enum { SP_LOG_DEBUG, SP_LOG_INFO, SP_LOG_NOTICE, SP_LOG_WARNING,
               SP_LOG_ERROR } sp_log_level_t;
void sp_log_setup(const char *ident, sp_log_level_t min_level, int json);
void sp_log(sp_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sp_log_level_parse(const char *text, sp_log_level_t *level);

#endif
