/*  powerloss: an LD_PRELOAD shim that models a power loss for the store
 *  tests (tests/unit/test_powerloss.c).
 *
 *  The model: what survives a power loss is, for each file, what it held
 *  at its last successful fsync or fdatasync, or after its last write
 *  through a descriptor opened O_DSYNC (LMDB's meta page). Whenever that
 *  happens to a file under $POWERLOSS_WATCH, the shim copies the file to
 *  $POWERLOSS_SHADOW; after the process ends, that folder is the disk as
 *  the power loss left it. kill -9 keeps the page cache and cannot show
 *  what this shows: a write that was never synced.
 *
 *  And one fault on demand: with POWERLOSS_MAP_FULL_AT=N, the Nth call to
 *  mdb_put answers MDB_MAP_FULL (once), to reach the store's paths for a
 *  map that cannot take a transaction.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

//  The durable copy of the file behind fd, if it is watched
static void
s_keep (int fd)
{
    const char *shadow = getenv ("POWERLOSS_SHADOW"), *watch = getenv ("POWERLOSS_WATCH");
    char link [64], path [4096], copy [4200];
    struct stat st;
    if (!shadow || !watch || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
        return;                 //  a folder's sync keeps names, not contents
    snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink (link, path, sizeof path - 1);
    if (len <= 0)
        return;
    path [len] = 0;
    const char *name = strrchr (path, '/');
    if (strncmp (path, watch, strlen (watch)) != 0 || !name || strcmp (name, "/lock.mdb") == 0)
        return;
    snprintf (copy, sizeof copy, "%s%s", shadow, name);
    int in = open (path, O_RDONLY), out = open (copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buffer [65536];
    ssize_t got;
    while (in >= 0 && out >= 0 && (got = read (in, buffer, sizeof buffer)) > 0)
        if (write (out, buffer, (size_t) got) != got)
            break;
    if (in >= 0)
        close (in);
    if (out >= 0)
        close (out);
}

static void
s_keep_if_dsync (int fd)
{
    int flags = fcntl (fd, F_GETFL);
    if (flags >= 0 && (flags & O_DSYNC) == O_DSYNC)
        s_keep (fd);
}

typedef int (sync_fn) (int);
typedef int (put_fn) (void *, unsigned, void *, void *, unsigned);
typedef ssize_t (pwrite_fn) (int, const void *, size_t, off_t);
typedef ssize_t (pwritev_fn) (int, const struct iovec *, int, off_t);
typedef ssize_t (writev_fn) (int, const struct iovec *, int);

//  The libc function this one stands in front of
#define NEXT(name, type) \
    static type *real; \
    if (!real) \
        real = (type *) dlsym (RTLD_NEXT, name)

#define MAP_FULL_CODE (-30792)     //  MDB_MAP_FULL (lmdb.h)

int
mdb_put (void *txn, unsigned dbi, void *key, void *value, unsigned flags)
{
    NEXT ("mdb_put", put_fn);
    static long calls;
    const char *at = getenv ("POWERLOSS_MAP_FULL_AT");
    if (at && ++calls == atol (at))
        return MAP_FULL_CODE;
    return real (txn, dbi, key, value, flags);
}

int
fdatasync (int fd)
{
    NEXT ("fdatasync", sync_fn);
    int rc = real (fd);
    if (rc == 0)
        s_keep (fd);
    return rc;
}

int
fsync (int fd)
{
    NEXT ("fsync", sync_fn);
    int rc = real (fd);
    if (rc == 0)
        s_keep (fd);
    return rc;
}

ssize_t
pwrite (int fd, const void *data, size_t size, off_t offset)
{
    NEXT ("pwrite", pwrite_fn);
    ssize_t rc = real (fd, data, size, offset);
    s_keep_if_dsync (fd);
    return rc;
}

ssize_t
pwrite64 (int fd, const void *data, size_t size, off_t offset)
{
    NEXT ("pwrite64", pwrite_fn);
    ssize_t rc = real (fd, data, size, offset);
    s_keep_if_dsync (fd);
    return rc;
}

ssize_t
pwritev (int fd, const struct iovec *iov, int count, off_t offset)
{
    NEXT ("pwritev", pwritev_fn);
    ssize_t rc = real (fd, iov, count, offset);
    s_keep_if_dsync (fd);
    return rc;
}

ssize_t
writev (int fd, const struct iovec *iov, int count)
{
    NEXT ("writev", writev_fn);
    ssize_t rc = real (fd, iov, count);
    s_keep_if_dsync (fd);
    return rc;
}
