/* files.c — directories, atomic small files and file CRCs for checkpoints (see files.h). */
#define _XOPEN_SOURCE 700
#include "io/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

tide_status tide_mkdirs(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return tide_fail("mkdirs: out of memory");
    memcpy(p, path, n + 1);
    tide_status st = TIDE_OK;
    /* each prefix ending at a '/', then the whole path */
    for (size_t i = 1; i <= n && st == TIDE_OK; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char keep = p[i];
        p[i] = '\0';
        struct stat info;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            st = tide_fail("mkdirs: cannot make directory '%s': %s", p, strerror(errno));
        else if (stat(p, &info) != 0 || !S_ISDIR(info.st_mode))
            st = tide_fail("mkdirs: '%s' exists and is not a directory", p);
        p[i] = keep;
    }
    free(p);
    return st;
}

static int remove_one(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void)info;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

tide_status tide_remove_tree(const char *path)
{
    struct stat info;
    if (lstat(path, &info) != 0)
        return errno == ENOENT ? TIDE_OK
                               : tide_fail("remove: cannot stat '%s': %s", path, strerror(errno));
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return tide_fail("remove: cannot remove '%s': %s", path, strerror(errno));
    return TIDE_OK;
}

tide_status tide_list_dir(const char *path, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return tide_fail("list: cannot open directory '%s': %s", path, strerror(errno));
    size_t count = 0, chars = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            count++;
            chars += strlen(e->d_name) + 1;
        }
    rewinddir(d);
    /* entries may appear between the passes: keep only as many as were counted */
    char **out = malloc((count + 1) * sizeof *out + chars + 1);
    if (!out) {
        closedir(d);
        return tide_fail("list: out of memory");
    }
    char *text = (char *)(out + count + 1);
    size_t k = 0, used = 0;
    while ((e = readdir(d)) && k < count) {
        size_t len = strlen(e->d_name) + 1;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || used + len > chars)
            continue;
        memcpy(text + used, e->d_name, len);
        out[k++] = text + used;
        used += len;
    }
    out[k] = NULL;
    closedir(d);
    *names = out;
    *n = (int)k;
    return TIDE_OK;
}

tide_status tide_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return tide_fail("sync: cannot open directory '%s': %s", path, strerror(errno));
    int ok = fsync(fd) == 0 || errno == EINVAL;   /* some file systems cannot sync a directory */
    int err = errno;
    close(fd);
    return ok ? TIDE_OK : tide_fail("sync: cannot sync '%s': %s", path, strerror(err));
}

/* The directory part of path ("." when none), in a new string. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(n + 2);
    if (!dir)
        return NULL;
    if (!slash)
        strcpy(dir, ".");
    else if (n == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

tide_status tide_rename_durable(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return tide_fail("rename: cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    char *dir = parent_of(to);
    if (!dir)
        return tide_fail("rename: out of memory");
    tide_status st = tide_sync_dir(dir);
    free(dir);
    return st;
}

tide_status tide_write_atomic(const char *path, const void *data, size_t len)
{
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp)
        return tide_fail("write: out of memory");
    snprintf(tmp, cap, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        tide_status st = tide_fail("write: cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    const char *p = data;
    int ok = 1;
    for (size_t left = len; left > 0 && ok;) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        if (ok) {
            p += w;
            left -= (size_t)w;
        }
    }
    ok = ok && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    tide_status st = ok ? tide_rename_durable(tmp, path)
                        : tide_fail("write: cannot write '%s': %s", path, strerror(err));
    if (st != TIDE_OK)
        remove(tmp);
    free(tmp);
    return st;
}

/* The crc32 of a whole file through a mapping of its pages: no copy into a buffer first (a
 * checkpoint's load is bound by this pass). 0 when the file cannot be mapped. */
static int crc32_mapped(int fd, uLong *c, int64_t *total)
{
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size == 0)
        return 0;
    size_t n = (size_t)info.st_size;
    unsigned char *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return 0;
    (void)posix_madvise(p, n, POSIX_MADV_SEQUENTIAL);
    *c = crc32(0L, Z_NULL, 0);
    for (size_t at = 0; at < n;) {
        size_t piece = n - at < ((size_t)1 << 30) ? n - at : (size_t)1 << 30;
        *c = crc32(*c, p + at, (uInt)piece);
        at += piece;
    }
    munmap(p, n);
    *total = (int64_t)n;
    return 1;
}

tide_status tide_file_crc32(const char *path, uint32_t *crc, int64_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return tide_fail("crc32: cannot open '%s': %s", path, strerror(errno));
    uLong mapped;
    if (crc32_mapped(fd, &mapped, size)) {
        close(fd);
        *crc = (uint32_t)mapped;
        return TIDE_OK;
    }
    enum { CHUNK = 1 << 20 };
    unsigned char *b = malloc(CHUNK);
    if (!b) {
        close(fd);
        return tide_fail("crc32: out of memory");
    }
    uLong c = crc32(0L, Z_NULL, 0);
    int64_t total = 0;
    ssize_t got;
    while ((got = read(fd, b, CHUNK)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        c = crc32(c, b, (uInt)got);
        total += got;
    }
    int err = errno;
    free(b);
    close(fd);
    if (got < 0)
        return tide_fail("crc32: cannot read '%s': %s", path, strerror(err));
    *crc = (uint32_t)c;
    *size = total;
    return TIDE_OK;
}

tide_status tide_read_file(tide_tensor *out, const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0) {
        tide_status st = tide_fail("read: cannot open '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    int64_t n = (int64_t)info.st_size;
    tide_status st = tide_tensor_alloc(out, TIDE_U8, 1, &n);
    unsigned char *p = st == TIDE_OK ? tide_data(out) : NULL;
    for (int64_t at = 0; st == TIDE_OK && at < n;) {
        ssize_t got = pread(fd, p + at, (size_t)(n - at), (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            st = tide_fail("read: cannot read '%s': %s", path,
                           got < 0 ? strerror(errno) : "it shrank while being read");
            tide_tensor_release(out);
        } else {
            at += got;
        }
    }
    close(fd);
    return st;
}

tide_status tide_write_tensor_file(const char *path, const tide_tensor *t)
{
    if (!t->storage || t->dtype != TIDE_U8 || !tide_is_contiguous(t))
        return tide_fail("write: '%s' takes a contiguous u8 tensor", path);
    size_t n = (size_t)tide_numel(t);
    return tide_write_atomic(path, n ? tide_data(t) : "", n);
}

int tide_commit_temp(FILE *f, int ok, const char *tmp, const char *path, int *err)
{
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    *err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        *err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        *err = errno;
    }
    if (!ok)
        remove(tmp);
    return ok;
}
