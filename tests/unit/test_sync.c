/*  test_sync.c - when store.c fsyncs the write-ahead log. A VFS shim in
    front of SQLite's own counts the xSync calls on the WAL file (and can
    make them fail), so each test asserts the fsyncs themselves, not a
    flag: a durable commit is synced before store_commit() returns, a
    relaxed one waits for the next durable commit or store_sync().      */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;         /* SQLite's own file, right after this */
    int is_wal;
} shim_file_t;

static sqlite3_vfs *s_real_vfs;
static sqlite3_vfs s_shim_vfs;
static int s_wal_syncs;
static int s_fail_syncs;        /* every WAL fsync fails */
static int s_fail_next;         /* this many WAL fsyncs fail, then none */

static sqlite3_file *s_real(sqlite3_file *f) { return ((shim_file_t *) f)->real; }

static int s_close(sqlite3_file *f)
{
    int rc = s_real(f)->pMethods->xClose(s_real(f));
    return rc;
}
static int s_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{ return s_real(f)->pMethods->xRead(s_real(f), buf, n, off); }
static int s_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{ return s_real(f)->pMethods->xWrite(s_real(f), buf, n, off); }
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{ return s_real(f)->pMethods->xTruncate(s_real(f), size); }
static int s_sync(sqlite3_file *f, int flags)
{
    if (((shim_file_t *) f)->is_wal) {
        if (s_fail_syncs)
            return SQLITE_IOERR_FSYNC;
        if (s_fail_next > 0) {
            s_fail_next--;
            return SQLITE_IOERR_FSYNC;
        }
        s_wal_syncs++;
    }
    return s_real(f)->pMethods->xSync(s_real(f), flags);
}
static int s_file_size(sqlite3_file *f, sqlite3_int64 *size)
{ return s_real(f)->pMethods->xFileSize(s_real(f), size); }
static int s_lock(sqlite3_file *f, int level)
{ return s_real(f)->pMethods->xLock(s_real(f), level); }
static int s_unlock(sqlite3_file *f, int level)
{ return s_real(f)->pMethods->xUnlock(s_real(f), level); }
static int s_reserved(sqlite3_file *f, int *out)
{ return s_real(f)->pMethods->xCheckReservedLock(s_real(f), out); }
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{ return s_real(f)->pMethods->xFileControl(s_real(f), op, arg); }
static int s_sector(sqlite3_file *f)
{ return s_real(f)->pMethods->xSectorSize(s_real(f)); }
static int s_device(sqlite3_file *f)
{ return s_real(f)->pMethods->xDeviceCharacteristics(s_real(f)); }
static int s_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{ return s_real(f)->pMethods->xShmMap(s_real(f), region, size, extend, p); }
static int s_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{ return s_real(f)->pMethods->xShmLock(s_real(f), offset, n, flags); }
static void s_shm_barrier(sqlite3_file *f)
{ s_real(f)->pMethods->xShmBarrier(s_real(f)); }
static int s_shm_unmap(sqlite3_file *f, int delete_flag)
{ return s_real(f)->pMethods->xShmUnmap(s_real(f), delete_flag); }

static const sqlite3_io_methods s_shim_methods = {
    2, s_close, s_read, s_write, s_truncate, s_sync, s_file_size, s_lock, s_unlock,
    s_reserved, s_fcntl, s_sector, s_device, s_shm_map, s_shm_lock, s_shm_barrier,
    s_shm_unmap, NULL, NULL
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                  int *out_flags)
{
    shim_file_t *shim = (shim_file_t *) f;
    (void) vfs;
    shim->real = (sqlite3_file *) (shim + 1);
    shim->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = s_real_vfs->xOpen(s_real_vfs, name, shim->real, flags, out_flags);
    f->pMethods = rc == SQLITE_OK ? &s_shim_methods : NULL;
    return rc;
}

static int s_delete(sqlite3_vfs *v, const char *n, int d) { (void) v; return s_real_vfs->xDelete(s_real_vfs, n, d); }
static int s_access(sqlite3_vfs *v, const char *n, int f, int *o) { (void) v; return s_real_vfs->xAccess(s_real_vfs, n, f, o); }
static int s_full(sqlite3_vfs *v, const char *n, int l, char *o) { (void) v; return s_real_vfs->xFullPathname(s_real_vfs, n, l, o); }
static int s_random(sqlite3_vfs *v, int n, char *o) { (void) v; return s_real_vfs->xRandomness(s_real_vfs, n, o); }
static int s_sleep(sqlite3_vfs *v, int us) { (void) v; return s_real_vfs->xSleep(s_real_vfs, us); }
static int s_time(sqlite3_vfs *v, double *t) { (void) v; return s_real_vfs->xCurrentTime(s_real_vfs, t); }

static void s_shim_install(void)
{
    s_real_vfs = sqlite3_vfs_find(NULL);
    s_shim_vfs = (sqlite3_vfs) {
        .iVersion = 1, .szOsFile = (int) sizeof(shim_file_t) + s_real_vfs->szOsFile,
        .mxPathname = s_real_vfs->mxPathname, .zName = "seinpost-test-shim",
        .xOpen = s_open, .xDelete = s_delete, .xAccess = s_access,
        .xFullPathname = s_full, .xRandomness = s_random, .xSleep = s_sleep,
        .xCurrentTime = s_time,
    };
    sqlite3_vfs_register(&s_shim_vfs, 1);
}

static const uint8_t s_zero[64];

static uint8_t s_big_event[3000];

/*  One signal row; a big one fills a page of its own.                  */
static int s_insert(store_t *store, const char *id, bool big)
{
    int64_t signal_id = 0;
    store_signal_t row = {
        .source = "urn:nld:oin:00000001001299992000:systeem:bz", .ce_id = id,
        .type = "nl.example.t", .emitter = "e", .received_at = 1,
        .event = big ? s_big_event : (const uint8_t *) "{}",
        .event_len = big ? sizeof s_big_event : 2, .event_sha256 = s_zero,
        .key_id = "0011223344556677", .signature = s_zero, .trace_id = id,
    };
    return store_signal_insert(store, &row, &signal_id);
}

static int s_write_row(store_t *store, const char *id) { return s_insert(store, id, false); }

/*  Frames in a WAL that has only grown since it was created.           */
static long s_wal_frames(const char *db_path)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s-wal", db_path);
    if (stat(path, &st) != 0 || st.st_size <= 32)
        return 0;
    return (long) ((st.st_size - 32) / (4096 + 24));
}

typedef struct {
    char dir[64];
    char path[96];
    store_t *store;
} fixture_t;

static int s_fixture(fixture_t *f)
{
    char err[256];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sp-test-sync.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/q.db", f->dir);
    f->store = store_open(f->path, false, err, sizeof err);
    /* the WAL exists from the first write on: start counting after it */
    if (!f->store || store_begin(f->store) != 0 || s_write_row(f->store, "warm") != 0
        || store_commit(f->store) != 0)
        return -1;
    s_wal_syncs = 0;
    s_fail_syncs = 0;
    s_fail_next = 0;
    return 0;
}

static void s_fixture_end(fixture_t *f)
{
    char cmd[128];
    store_destroy(&f->store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (f->dir[0] && system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", f->dir);
}

TEST(durable_commit_fsyncs_the_wal_before_returning)
{
    fixture_t f;
    CHECK(s_fixture(&f) == 0);
    CHECK(store_begin(f.store) == 0);
    CHECK(s_write_row(f.store, "a") == 0);
    CHECK(s_wal_syncs == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(s_wal_syncs == 1);
    CHECK(!store_unsynced(f.store));
    s_fixture_end(&f);
}

TEST(relaxed_commit_waits_for_store_sync)
{
    fixture_t f;
    CHECK(s_fixture(&f) == 0);
    CHECK(store_begin_relaxed(f.store) == 0);
    CHECK(s_write_row(f.store, "a") == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(s_wal_syncs == 0);
    CHECK(store_unsynced(f.store));
    CHECK(store_sync(f.store) == 0);
    CHECK(s_wal_syncs == 1);
    CHECK(!store_unsynced(f.store));
    CHECK(store_sync(f.store) == 0);        /* nothing left: no second fsync */
    CHECK(s_wal_syncs == 1);
    s_fixture_end(&f);
}

TEST(durable_commit_covers_earlier_relaxed_ones)
{
    fixture_t f;
    CHECK(s_fixture(&f) == 0);
    CHECK(store_begin_relaxed(f.store) == 0 && s_write_row(f.store, "a") == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(store_begin(f.store) == 0 && s_write_row(f.store, "b") == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(s_wal_syncs == 1);
    CHECK(!store_unsynced(f.store));
    s_fixture_end(&f);
}

TEST(durable_writer_joining_a_relaxed_transaction_makes_it_durable)
{
    fixture_t f;
    CHECK(s_fixture(&f) == 0);
    CHECK(store_begin_relaxed(f.store) == 0 && s_write_row(f.store, "a") == 0);
    CHECK(store_begin(f.store) == 0 && s_write_row(f.store, "b") == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(s_wal_syncs == 1);
    /* and the next relaxed one starts relaxed again */
    CHECK(store_begin_relaxed(f.store) == 0 && s_write_row(f.store, "c") == 0);
    CHECK(store_commit(f.store) == 0);
    CHECK(s_wal_syncs == 1);
    s_fixture_end(&f);
}

TEST(failed_fsync_is_a_storage_failure)
{
    fixture_t f;
    CHECK(s_fixture(&f) == 0);
    CHECK(store_begin(f.store) == 0 && s_write_row(f.store, "a") == 0);
    s_fail_syncs = 1;
    CHECK(store_commit(f.store) == -1);
    CHECK(store_failure_is_storage(f.store));
    CHECK(strstr(store_errmsg(f.store), "fsync") != NULL);
    CHECK(store_unsynced(f.store));
    CHECK(store_sync(f.store) == -1);
    s_fail_syncs = 0;
    CHECK(store_sync(f.store) == 0);
    CHECK(!store_unsynced(f.store));
    CHECK(s_wal_syncs == 1);
    s_fixture_end(&f);
}

/*  SQLite's checkpoint inside COMMIT fsyncs the WAL before the store's own
    fsync does. When that first fsync fails (Linux reports a write error
    once) the commit is a storage failure, although the second succeeds. */
TEST(failed_checkpoint_fsync_inside_commit_is_not_lost)
{
    fixture_t f;
    char id[16];
    int n = 0;
    CHECK(s_fixture(&f) == 0);
    while (s_wal_frames(f.path) < STORE_CHECKPOINT_FRAMES - 50 && n < 5000) {
        snprintf(id, sizeof id, "r%d", n++);
        CHECK(store_begin_relaxed(f.store) == 0 && s_insert(f.store, id, true) == 0);
        CHECK(store_commit(f.store) == 0);
    }
    CHECK(s_wal_syncs == 0);                /* no checkpoint yet */
    s_fail_next = 1;
    CHECK(store_begin(f.store) == 0);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "d%d", i);
        CHECK(s_insert(f.store, id, true) == 0);
    }
    CHECK(store_commit(f.store) == -1);
    CHECK(s_fail_next == 0);                /* the checkpoint's fsync failed */
    CHECK(store_sync_failed(f.store));
    CHECK(store_failure_is_storage(f.store));
    s_fixture_end(&f);
}

int main(void)
{
    s_shim_install();
    RUN(durable_commit_fsyncs_the_wal_before_returning);
    RUN(relaxed_commit_waits_for_store_sync);
    RUN(durable_commit_covers_earlier_relaxed_ones);
    RUN(durable_writer_joining_a_relaxed_transaction_makes_it_durable);
    RUN(failed_fsync_is_a_storage_failure);
    RUN(failed_checkpoint_fsync_inside_commit_is_not_lost);
    TEST_EXIT();
}
