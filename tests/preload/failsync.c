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

static int s_failing(void)
{
    const char *path = getenv("SP_FAILSYNC_FILE");
    return path && access(path, F_OK) == 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (s_failing()) {
        errno = EIO;
        return -1;
    }
    if (!real)
        *(void **) &real = dlsym(RTLD_NEXT, "fsync");
    return real ? real(fd) : -1;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (s_failing()) {
        errno = EIO;
        return -1;
    }
    if (!real)
        *(void **) &real = dlsym(RTLD_NEXT, "fdatasync");
    return real ? real(fd) : -1;
}
