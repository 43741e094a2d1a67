/* io_idx.c — the IDX reader: header, big-endian data, widening of narrow integer types. */
#include "io/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tensor/size.h"

typedef struct {
    int code;
    size_t file_size;    /* bytes per element in the file */
    tide_dtype dtype;    /* what it becomes */
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, TIDE_U8}, {0x09, 1, TIDE_I32}, {0x0B, 2, TIDE_I32},
    {0x0C, 4, TIDE_I32}, {0x0D, 4, TIDE_F32}, {0x0E, 8, TIDE_F64},
};

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads up to want bytes; returns how many came, or -1 on an error other than a short file
 * (zlib reports a cut-off gzip stream as Z_BUF_ERROR: that is a short file too). */
static int64_t read_fully(gzFile f, void *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        size_t chunk = want - got < (1u << 30) ? want - got : (1u << 30);
        int n = gzread(f, (char *)buf + got, (unsigned)chunk);
        if (n < 0) {
            int code;
            gzerror(f, &code);
            return code == Z_BUF_ERROR ? (int64_t)got : -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (int64_t)got;
}

static tide_status read_error(gzFile f, const char *path)
{
    int code;
    const char *msg = gzerror(f, &code);
    return tide_fail("read_idx: cannot read '%s': %s", path,
                     code == Z_ERRNO ? strerror(errno) : msg);
}

/* File values (big-endian, type ty) at raw -> host values of ty->dtype in out. */
static void convert(const unsigned char *raw, const idx_type *ty, int64_t n, tide_tensor *out)
{
    void *dst = tide_data(out);
    switch (ty->code) {
    case 0x08:
        memcpy(dst, raw, (size_t)n);
        break;
    case 0x09:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)dst)[i] = (int8_t)raw[i];
        break;
    case 0x0B:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)dst)[i] = (int16_t)(uint16_t)(raw[2 * i] << 8 | raw[2 * i + 1]);
        break;
    case 0x0C:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)dst)[i] = (int32_t)be32(raw + 4 * i);
        break;
    case 0x0D:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = be32(raw + 4 * i);
            memcpy((float *)dst + i, &u, 4);
        }
        break;
    case 0x0E:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)be32(raw + 8 * i) << 32 | be32(raw + 8 * i + 4);
            memcpy((double *)dst + i, &u, 8);
        }
        break;
    }
}

/* Everything after gzopen; the caller closes f. */
static tide_status read_from(gzFile f, const char *path, tide_tensor *out)
{
    unsigned char head[4 + 4 * 255];
    int64_t got = read_fully(f, head, 4);
    if (got < 0)
        return read_error(f, path);
    if (got < 4)
        return tide_fail("read_idx: '%s' is truncated: expected 4 bytes of header, got %lld",
                         path, (long long)got);
    if (head[0] != 0 || head[1] != 0)
        return tide_fail("read_idx: '%s' is not an IDX file (bad magic 0x%02x%02x%02x%02x)", path,
                         head[0], head[1], head[2], head[3]);
    const idx_type *ty = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == head[2])
            ty = &idx_types[i];
    if (!ty)
        return tide_fail("read_idx: '%s' has unknown IDX data type 0x%02x", path, head[2]);
    int ndim = head[3];
    if (ndim < 1 || ndim > TIDE_MAX_DIMS)
        return tide_fail("read_idx: '%s' has %d dims, expected 1 to %d", path, ndim,
                         TIDE_MAX_DIMS);
    got = read_fully(f, head + 4, 4 * (size_t)ndim);
    if (got < 0)
        return read_error(f, path);
    if (got < 4 * ndim)
        return tide_fail("read_idx: '%s' is truncated: expected %d bytes of header, got %lld",
                         path, 4 + 4 * ndim, 4 + (long long)got);
    int64_t shape[TIDE_MAX_DIMS];
    for (int d = 0; d < ndim; d++)
        shape[d] = be32(head + 4 + 4 * d);
    /* 8 dims of up to 2^32 each: the element and byte counts can be any size at all */
    int64_t n;
    size_t want;
    if (tide_shape_check(ndim, shape, ty->dtype, "shape", &n) != TIDE_OK ||
        tide_array_bytes(n, ty->file_size, "shape", &want) != TIDE_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", tide_error() + strlen("shape: "));
        return tide_fail("read_idx: '%s' has a malformed header: %s", path, why);
    }
    /* A file promising more than it can hold fails before any allocation (a 20-byte file may
     * claim a terabyte): a plain file holds its size, a gzipped one at most 1032 times it
     * (deflate's largest expansion); past that bound, count what is there for the message. */
    struct stat info;
    int64_t head_bytes = 4 + 4 * (int64_t)ndim;
    if (stat(path, &info) == 0 && S_ISREG(info.st_mode)) {
        int plain = gzdirect(f);
        uint64_t cap = plain ? (uint64_t)(info.st_size > head_bytes ? info.st_size - head_bytes : 0)
                             : (uint64_t)info.st_size * 1032u;
        if ((uint64_t)want > cap) {
            int64_t total = (int64_t)cap, got = 0;
            if (!plain) {
                unsigned char scratch[1 << 14];
                for (total = 0; (got = read_fully(f, scratch, sizeof scratch)) > 0;)
                    total += got;
                if (got < 0)
                    return read_error(f, path);
            }
            return tide_fail("read_idx: '%s' is truncated: expected %zu bytes of data, got %lld",
                             path, want, (long long)total);
        }
    }

    tide_tensor t = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_tensor_alloc(&t, ty->dtype, ndim, shape));
    /* a byte file reads straight into the tensor; wider types go through a staging buffer */
    void *staging = NULL;
    if (ty->code != 0x08 && tide_alloc_array(&staging, (int64_t)want, 1, "read_idx") != TIDE_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", tide_error());
        tide_tensor_release(&t);
        return tide_fail("%s reading '%s'", why, path);
    }
    unsigned char *raw = ty->code == 0x08 ? tide_data(&t) : staging;
    got = read_fully(f, raw, want);
    tide_status st = TIDE_OK;
    if (got < 0)
        st = read_error(f, path);
    else if ((size_t)got < want)
        st = tide_fail("read_idx: '%s' is truncated: expected %zu bytes of data, got %lld", path,
                       want, (long long)got);
    else if (ty->code != 0x08)
        convert(raw, ty, n, &t);
    free(staging);
    if (st != TIDE_OK) {
        tide_tensor_release(&t);
        return st;
    }
    *out = t;
    return TIDE_OK;
}

tide_status tide_idx_read(tide_tensor *out, const char *path)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return tide_fail("read_idx: cannot open '%s': %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 17);
    tide_status st = read_from(f, path, out);
    gzclose(f);
    return st;
}
