/*  failsync.c - LD_PRELOAD for tests: fsync() and fdatasync() fail with
    EIO while the file named by SP_FAILSYNC_FILE exists, so a test can
    make the disk refuse to sync at the moment it chooses.              */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

typedef int (sync_fn_t)(int);

/*  The real function named, unless the flag file says to fail.         */
static int s_sync(const char *name, sync_fn_t **real, int fd)
{
    const char *flag = getenv("SP_FAILSYNC_FILE");
    if (flag && access(flag, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    if (!*real)
        *(void **) real = dlsym(RTLD_NEXT, name);
    if (!*real) {
        errno = ENOSYS;
        return -1;
    }
    return (*real)(fd);
}

int fsync(int fd)
{
    static sync_fn_t *real;
    return s_sync("fsync", &real, fd);
}

int fdatasync(int fd)
{
    static sync_fn_t *real;
    return s_sync("fdatasync", &real, fd);
}
