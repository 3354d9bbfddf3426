/*  cmd_backup.c - `seinpost backup`: a consistent copy of the daemon's
    database, taken while it runs.

    Copying the file with cp while the daemon writes its WAL can give a
    torn or stale copy. VACUUM INTO reads one snapshot (a read transaction:
    the daemon goes on writing meanwhile) and writes a compact file that
    needs no WAL. It is written as FILE.tmp, fsynced, renamed to FILE and
    the directory fsynced, as OpenSMTPD's queue does: a crash leaves the
    old FILE or the new one, never half of one. FILE may replace an
    earlier backup, nothing else: not the daemon's own files, not a key
    or the configuration, not a directory.

    SQLite only: a database on PostgreSQL is refused (exit 2), since
    pg_dump is what copies it consistently.

    The copy holds sealed payloads and pseudonyms: it is created 0600. It
    opens only with the node secret (node.pseudonym_key, or
    <database>.secret) and verifies only with the keys; those do not change
    and are backed up once, apart from it.                               */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cmd.h"
#include "config.h"
#include "sp_util.h"

static int s_fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/*  VACUUM INTO tmp. The file is made here first, empty, 0600, and only
    by us (O_EXCL, no symlink followed): SQLite writes into an existing
    empty file and keeps its owner and mode, so a file someone else put
    there in between would receive the copy. VACUUM INTO is SQLite's
    alone: it runs on the connection under the db_t (db_sqlite_handle). */
static int s_vacuum_into(sqlite3 *db, const char *tmp, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    if (unlink(tmp) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "%.1024s: %s", tmp, strerror(errno));
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%.1024s: %s", tmp, strerror(errno));
        return -1;
    }
    close(fd);
    int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, tmp, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "copying the database to %.1024s: %s", tmp,
                 sqlite3_errmsg(db));
        unlink(tmp);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/*  dir/base of path with the directory resolved (it must exist), so that
    two spellings of one name compare equal even before the file exists. */
static bool s_resolved_name(const char *path, char *out, size_t outlen)
{
    char *copy_dir = strdup(path), *copy_base = strdup(path);
    char *dir = copy_dir ? realpath(dirname(copy_dir), NULL) : NULL;
    bool ok = dir && copy_base
              && snprintf(out, outlen, "%s/%s", dir, basename(copy_base)) < (int) outlen;
    free(dir);
    free(copy_dir);
    free(copy_base);
    return ok;
}

/*  True when path names one of the files the daemon lives on (the
    database, its WAL and shared memory, the node secret), whether they
    exist now or not, or is one of them under another name (a link).    */
static bool s_is_live_file(const config_t *config, const char *path)
{
    static const char *const suffixes[] = { "-wal", "-shm", ".secret", "" };
    char live[5][4096], name[4096], live_name[4096];
    size_t count = 0;
    struct stat at_path, at_live;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        snprintf(live[count++], sizeof live[0], "%s%s", config->database, suffixes[i]);
    if (config->pseudonym_key_path)
        snprintf(live[count++], sizeof live[0], "%s", config->pseudonym_key_path);
    bool exists = stat(path, &at_path) == 0, named = s_resolved_name(path, name, sizeof name);
    for (size_t i = 0; i < count; i++) {
        if (exists && stat(live[i], &at_live) == 0 && at_live.st_dev == at_path.st_dev
            && at_live.st_ino == at_path.st_ino)
            return true;
        if (named && s_resolved_name(live[i], live_name, sizeof live_name)
            && strcmp(name, live_name) == 0)
            return true;
    }
    return false;
}

/*  FILE may replace an earlier backup, never anything else: a key, the
    configuration, a directory. CMD_OK, CMD_REJECTED for a target it
    refuses, CMD_FAILED when it cannot tell (I/O).                      */
static int s_check_target(const config_t *config, const char *out, const char *tmp,
                          char *err, size_t errlen)
{
    char head[16] = "";
    struct stat st;
    size_t len = strlen(out);
    if (len == 0 || out[len - 1] == '/') {
        snprintf(err, errlen, "%.1024s: a file name is needed, not a directory", out);
        return CMD_REJECTED;
    }
    if (s_is_live_file(config, out) || s_is_live_file(config, tmp)) {
        snprintf(err, errlen, "%.1024s is one of the daemon's own files (its database, "
                 "WAL or node secret)", out);
        return CMD_REJECTED;
    }
    if (stat(out, &st) != 0) {
        if (errno == ENOENT)
            return CMD_OK;
        snprintf(err, errlen, "%.1024s: %s", out, strerror(errno));
        return CMD_FAILED;
    }
    int fd = S_ISREG(st.st_mode) ? open(out, O_RDONLY | O_CLOEXEC) : -1;
    bool sqlite = fd >= 0 && read(fd, head, sizeof head) == (ssize_t) sizeof head
                  && memcmp(head, "SQLite format 3", sizeof head) == 0;
    if (fd >= 0)
        close(fd);
    if (!sqlite) {
        snprintf(err, errlen, "%.1024s exists and is not an SQLite database (an earlier "
                 "backup): not overwritten", out);
        return CMD_REJECTED;
    }
    return CMD_OK;
}

static int s_install(const char *tmp, const char *out, char *err, size_t errlen)
{
    if (s_fsync_file(tmp) != 0 || rename(tmp, out) != 0 || sp_fsync_dir_of(out) != 0) {
        snprintf(err, errlen, "%.1024s: %s", out, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/*  What the copy holds, read back from it: the chain head is an anchor
    for `seinpost audit verify --expect-checkpoint` once a checkpoint
    covers it.                                                           */
static int s_report(const char *out, char *err, size_t errlen)
{
    db_t *db = cmd_db_open(out, err, errlen);
    if (!db)
        return -1;
    db_stmt_t *stmt = db_prepare(db,
        "SELECT (SELECT COUNT(*) FROM signals), (SELECT COUNT(*) FROM deliveries WHERE"
        " state = 0), (SELECT COALESCE(MAX(seq), 0) FROM audit), (SELECT COUNT(*) FROM"
        " checkpoints), (SELECT COALESCE(MAX(audit_seq), 0) FROM checkpoints)", false);
    bool read = stmt && db_step(stmt) == DB_ROW;
    if (read)
        printf("backup %s: %lld signals, %lld deliveries pending, audit events 1..%lld, "
               "%lld checkpoints (the last covers event %lld)\n", out,
               (long long) db_column_int64(stmt, 0),
               (long long) db_column_int64(stmt, 1),
               (long long) db_column_int64(stmt, 2),
               (long long) db_column_int64(stmt, 3),
               (long long) db_column_int64(stmt, 4));
    else
        snprintf(err, errlen, "%.1024s: reading the copy: %s", out, db_errmsg(db));
    db_finalize(&stmt);
    db_destroy(&db);
    return read ? 0 : -1;
}

static int s_backup(const char *conf_path, const char *given)
{
    char err[4096] = "", out[4096], tmp[4096];
    db_t *db = NULL;
    int rc = CMD_FAILED;
    config_t *config = config_load(conf_path, err, sizeof err);
    if (!config)
        goto cleanup;
    /* VACUUM INTO is SQLite's: a server's database is copied by its own tool */
    if (db_target_is_postgresql(config->database)) {
        snprintf(err, sizeof err, "the database is PostgreSQL: back it up with pg_dump "
                 "(see seinpostd(8))");
        rc = CMD_USAGE;
        goto cleanup;
    }
    /* a relative name is made "./name": SQLite (built with URI names)
       would read "file:..." as a URI, not as a file name              */
    if (snprintf(out, sizeof out, "%s%s", given[0] == '/' ? "" : "./", given)
            >= (int) sizeof out
        || snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int) sizeof tmp) {
        snprintf(err, sizeof err, "%.1024s: path too long", given);
        rc = CMD_REJECTED;
        goto cleanup;
    }
    rc = s_check_target(config, out, tmp, err, sizeof err);
    if (rc != CMD_OK)
        goto cleanup;
    rc = CMD_FAILED;
    db = cmd_db_open(config->database, err, sizeof err);
    if (db && s_vacuum_into(db_sqlite_handle(db), tmp, err, sizeof err) == 0
        && s_install(tmp, out, err, sizeof err) == 0 && s_report(out, err, sizeof err) == 0)
        rc = CMD_OK;
cleanup:
    if (rc != CMD_OK)
        fprintf(stderr, "seinpost backup: %s\n", err);
    db_destroy(&db);
    config_destroy(&config);
    return rc;
}

int cmd_backup(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 } };
    const char *conf_path = NULL, *out = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:o:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 'o': out = optarg; break;
        default: return CMD_USAGE;
        }
    }
    if (!conf_path || !out || !*out || optind != argc) {
        fprintf(stderr, "usage: seinpost backup -c SEINPOST.YAML -o FILE\n");
        return CMD_USAGE;
    }
    return s_backup(conf_path, out);
}
