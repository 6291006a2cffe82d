/* failfsync: an LD_PRELOAD shim for the jepsen disk nemesis. While the file
 * named by $RZ_JEPSEN_FAIL_FSYNC_FILE exists, fsync, fdatasync, syncfs and
 * msync fail with EIO without syncing, as a dying disk would answer; when
 * the file is gone they call the real functions again. The check is one
 * access() per call, so the nemesis switches it on and off at run time
 * without restarting the node. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*fd_fn)(int);
typedef int (*msync_fn)(void *, size_t, int);

int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);
int msync(void *addr, size_t length, int flags);

/* True while the nemesis wants sync calls to fail. */
static int failing(void)
{
    const char *path = getenv("RZ_JEPSEN_FAIL_FSYNC_FILE");
    return path != NULL && path[0] != '\0' && access(path, F_OK) == 0;
}

/* dlsym returns an object pointer; copying its bytes into a function
 * pointer is the portable way around ISO C's ban on the cast. */
static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    if (sym == NULL) {
        abort(); /* no libc below us: nothing sensible to do */
    }
    return sym;
}

static int call_fd(const char *name, int fd)
{
    fd_fn fn;
    void *sym = next_symbol(name);
    memcpy(&fn, &sym, sizeof(fn));
    return fn(fd);
}

int fsync(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    return call_fd("fsync", fd);
}

int fdatasync(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    return call_fd("fdatasync", fd);
}

int syncfs(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    return call_fd("syncfs", fd);
}

int msync(void *addr, size_t length, int flags)
{
    msync_fn fn;
    void *sym;
    if ((flags & MS_SYNC) != 0 && failing()) {
        errno = EIO;
        return -1;
    }
    sym = next_symbol("msync");
    memcpy(&fn, &sym, sizeof(fn));
    return fn(addr, length, flags);
}
