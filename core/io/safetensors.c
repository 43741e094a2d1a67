/* safetensors.c — writing and reading safetensors files (see safetensors.h; the header parser
 * is st_header.c). */
#define _GNU_SOURCE   /* sync_file_range */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/files.h"
#include "io/st_header.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host-order data as little-endian: port it to big-endian hosts"
#endif

/* ---------------------------------------------------------------- the header text */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s2 = realloc(b->s, cap);
        if (!s2) {
            b->oom = 1;
            return;
        }
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped; other bytes as they are
 * (UTF-8 passes through). */
static void put_json_string(buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            put(b, e, 2);
        } else if (*p < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *p);
            puts_(b, e);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

/* ---------------------------------------------------------------- writing */

/* Writes n bytes, updating the running crc. In 16 MiB pieces, each sent on to the disk at once
 * (sync_file_range starts the write-back and does not wait): the disk writes one piece while
 * the crc of the next is computed, and the final fsync has little left to wait for. Written
 * whole and left to the fsync, the crc and the disk would take their times one after the
 * other. */
static int write_all(FILE *f, const void *data, size_t n, uLong *crc)
{
    const size_t piece = (size_t)16 << 20;
    const unsigned char *p = data;
    for (size_t left = n; left > 0;) {
        size_t chunk = left < piece ? left : piece;
        *crc = crc32(*crc, p, (uInt)chunk);
        if (fwrite(p, 1, chunk, f) != chunk)
            return 0;
#ifdef SYNC_FILE_RANGE_WRITE
        if (chunk == piece && fflush(f) == 0)   /* (a hint: a failure shows at the fsync) */
            (void)sync_file_range(fileno(f), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
        p += chunk;
        left -= chunk;
    }
    return 1;
}

/* Opens a new file next to path, exclusively, so concurrent savers never share one. */
static FILE *open_temp(const char *path, char *tmp, size_t cap)
{
    static atomic_uint serial;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&serial, 1));
        FILE *f = fopen(tmp, "wbx");
        if (f || errno != EEXIST)
            return f;
    }
    return NULL;
}

/* The rename is only durable once the directory holding it is on disk too. */
static void sync_parent(const char *path)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir)
        return;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static tide_status check_names(const char *path, int n, const char *const *names)
{
    const char **sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted)
        return tide_fail("save: out of memory");
    tide_status st = TIDE_OK;
    for (int i = 0; i < n && st == TIDE_OK; i++) {
        sorted[i] = names[i];
        if (!*names[i] || strcmp(names[i], "__metadata__") == 0)
            st = tide_fail("save: a tensor for '%s' is named '%s', which safetensors reserves"
                           " or forbids", path, names[i]);
    }
    if (st == TIDE_OK) {
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
        for (int i = 0; i + 1 < n && st == TIDE_OK; i++)
            if (strcmp(sorted[i], sorted[i + 1]) == 0)
                st = tide_fail("save: two tensors for '%s' are named '%s'", path, sorted[i]);
    }
    free(sorted);
    return st;
}

/* The header for the tensors in order (widest dtype first), padded to a multiple of 8. */
static tide_status build_header(buf *b, const char *path, int n, const int *order,
                                const char *const *names, const tide_tensor *const *tensors,
                                int nmeta, const char *const *keys, const char *const *values)
{
    puts_(b, "{");
    if (nmeta > 0) {
        puts_(b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                puts_(b, ",");
            put_json_string(b, keys[i]);
            puts_(b, ":");
            put_json_string(b, values[i]);
        }
        puts_(b, "}");
    }
    uint64_t at = 0;
    for (int k = 0; k < n; k++) {
        const tide_tensor *t = tensors[order[k]];
        char num[64];
        if (k || nmeta > 0)
            puts_(b, ",");
        put_json_string(b, names[order[k]]);
        puts_(b, ":{\"dtype\":\"");
        puts_(b, tide_st_dtype_name(t->dtype));
        puts_(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            puts_(b, num);
        }
        uint64_t bytes = (uint64_t)tide_numel(t) * tide_dtype_size(t->dtype);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                 (unsigned long long)(at + bytes));
        puts_(b, num);
        at += bytes;
    }
    puts_(b, "}");
    while (b->len % 8)
        puts_(b, " ");
    if (b->oom)
        return tide_fail("save: out of memory");
    if (b->len > TIDE_ST_MAX_HEADER)
        return tide_fail("save: the header for '%s' would take %zu bytes, more than readers"
                         " accept", path, b->len);
    return TIDE_OK;
}

static int write_tensor(FILE *f, const tide_tensor *t, uLong *crc)
{
    size_t bytes = (size_t)tide_numel(t) * tide_dtype_size(t->dtype);
    if (bytes == 0)
        return 1;
    if (tide_is_contiguous(t))
        return write_all(f, tide_data(t), bytes, crc);
    tide_tensor c = TIDE_TENSOR_EMPTY;
    if (tide_clone(&c, t) != TIDE_OK)
        return 0;
    int ok = write_all(f, tide_data(&c), bytes, crc);
    tide_tensor_release(&c);
    return ok;
}

/* What every writer does first: checks the names, puts the tensors in data order (widest dtype
 * first: every tensor then starts aligned) and builds the header. On success *order and b->s
 * are the caller's to free. */
static tide_status lay_out(const char *path, int n, const char *const *names,
                           const tide_tensor *const *tensors, int nmeta,
                           const char *const *meta_keys, const char *const *meta_values,
                           int **order_out, buf *b)
{
    if (n < 0 || nmeta < 0)
        return tide_fail("save: negative counts for '%s'", path);
    for (int i = 0; i < n; i++)
        if (!tensors[i]->storage)
            return tide_fail("save: tensor '%s' for '%s' is closed", names[i], path);
    TIDE_TRY(check_names(path, n, names));
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    if (!order)
        return tide_fail("save: out of memory");
    int k = 0;
    for (size_t es = 8; es >= 1; es /= 2)
        for (int i = 0; i < n; i++)
            if (tide_dtype_size(tensors[i]->dtype) == es)
                order[k++] = i;
    tide_status st = build_header(b, path, n, order, names, tensors, nmeta, meta_keys,
                                  meta_values);
    if (st != TIDE_OK) {
        free(order);
        free(b->s);
        return st;
    }
    *order_out = order;
    return TIDE_OK;
}

static void put_length(unsigned char len8[8], size_t len)
{
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)len >> (8 * i));
}

tide_status tide_st_save(const char *path, int n, const char *const *names,
                         const tide_tensor *const *tensors, int nmeta,
                         const char *const *meta_keys, const char *const *meta_values,
                         uint32_t *crc_out, int64_t *size_out)
{
    int *order;
    buf b = {0};
    TIDE_TRY(lay_out(path, n, names, tensors, nmeta, meta_keys, meta_values, &order, &b));
    tide_status st = TIDE_OK;
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    FILE *f = NULL;
    if (!tmp)
        st = tide_fail("save: out of memory");
    if (st == TIDE_OK && !(f = open_temp(path, tmp, cap)))
        st = tide_fail("save: cannot write '%s': %s", path, strerror(errno));
    if (st == TIDE_OK) {
        unsigned char len8[8];
        put_length(len8, b.len);
        uLong crc = crc32(0L, Z_NULL, 0);
        int ok = write_all(f, len8, 8, &crc) && write_all(f, b.s, b.len, &crc);
        for (int i = 0; i < n && ok; i++)
            ok = write_tensor(f, tensors[order[i]], &crc);
        long size = ftell(f);   /* counts what is still buffered */
        int err;
        if (!tide_commit_temp(f, ok, tmp, path, &err)) {
            st = tide_fail("save: cannot write '%s': %s", path, strerror(err));
        } else {
            sync_parent(path);
            if (crc_out)
                *crc_out = (uint32_t)crc;
            if (size_out)
                *size_out = size;
        }
    }
    free(tmp);
    free(b.s);
    free(order);
    return st;
}

tide_status tide_st_encode(tide_tensor *out, const char *what, int n, const char *const *names,
                           const tide_tensor *const *tensors, int nmeta,
                           const char *const *meta_keys, const char *const *meta_values)
{
    int *order;
    buf b = {0};
    TIDE_TRY(lay_out(what, n, names, tensors, nmeta, meta_keys, meta_values, &order, &b));
    int64_t total = 8 + (int64_t)b.len;
    for (int i = 0; i < n; i++)
        total += tide_numel(tensors[i]) * (int64_t)tide_dtype_size(tensors[i]->dtype);
    tide_status st = tide_tensor_alloc(out, TIDE_U8, 1, &total);
    if (st == TIDE_OK) {
        unsigned char *p = tide_data(out);
        put_length(p, b.len);
        memcpy(p + 8, b.s, b.len);
        p += 8 + b.len;
        for (int i = 0; i < n && st == TIDE_OK; i++) {
            const tide_tensor *t = tensors[order[i]];
            tide_tensor dst = TIDE_TENSOR_EMPTY;   /* t's place in the bytes (aligned) */
            int64_t bytes = tide_numel(t) * (int64_t)tide_dtype_size(t->dtype);
            if (bytes > 0)
                st = tide_tensor_wrap(&dst, p, t->dtype, t->ndim, t->shape, NULL, NULL);
            if (st == TIDE_OK && bytes > 0)
                st = tide_copy(&dst, t);
            tide_tensor_release(&dst);
            p += bytes;
        }
        if (st != TIDE_OK)
            tide_tensor_release(out);
    }
    free(b.s);
    free(order);
    return st;
}

/* ---------------------------------------------------------------- reading */

/* One mapping of a file, shared by the tensors that view it; unmapped with the last. */
typedef struct mapping {
    void *addr;
    size_t len;
    atomic_long refs;
} mapping;

static void mapping_drop(void *data, void *ctx)
{
    (void)data;
    mapping *m = ctx;
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        munmap(m->addr, m->len);
        free(m);
    }
}

/* Where the bytes come from: memory (a mapping or a caller's buffer) or a file descriptor. */
typedef struct source {
    const char *what;
    const unsigned char *mem;   /* the whole file, or NULL: read from fd */
    int fd;
    mapping *map;               /* non-NULL: tensors may view mem */
} source;

static tide_status read_at(const source *s, void *dst, size_t n, uint64_t at)
{
    if (s->mem) {
        memcpy(dst, s->mem + at, n);
        return TIDE_OK;
    }
    unsigned char *p = dst;
    while (n > 0) {
        ssize_t got = pread(s->fd, p, n, (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? tide_fail("load: cannot read '%s': %s", s->what, strerror(errno))
                           : tide_fail("load: '%s' is shorter than its header says", s->what);
        p += got;
        at += (uint64_t)got;
        n -= (size_t)got;
    }
    return TIDE_OK;
}

static tide_status make_tensor(const source *s, const tide_st_entry *e, uint64_t base,
                               tide_tensor *t)
{
    size_t bytes = (size_t)(e->end - e->begin), es = tide_dtype_size(e->dtype);
    if (s->map && bytes > 0 && (uintptr_t)(s->mem + base + e->begin) % es == 0) {
        atomic_fetch_add(&s->map->refs, 1);
        tide_status st = tide_tensor_wrap(t, (void *)(s->mem + base + e->begin), e->dtype,
                                          e->ndim, e->shape, mapping_drop, s->map);
        if (st != TIDE_OK)
            atomic_fetch_sub(&s->map->refs, 1);
        return st;
    }
    TIDE_TRY(tide_tensor_alloc(t, e->dtype, e->ndim, e->shape));
    if (bytes > 0 && read_at(s, tide_data(t), bytes, base + e->begin) != TIDE_OK) {
        tide_tensor_release(t);
        return TIDE_FAIL;
    }
    return TIDE_OK;
}

static tide_status parse_source(tide_st_file *out, const source *s, uint64_t size)
{
    memset(out, 0, sizeof *out);
    if (size < 8)
        return tide_fail("load: '%s' is not a safetensors file: %llu bytes, too short for the"
                         " 8-byte header length", s->what, (unsigned long long)size);
    unsigned char len8[8];
    TIDE_TRY(read_at(s, len8, 8, 0));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen > TIDE_ST_MAX_HEADER || hlen > size - 8)
        return tide_fail("load: '%s' is not a safetensors file: its header length %llu exceeds"
                         " %s (%llu bytes)", s->what, (unsigned long long)hlen,
                         hlen > size - 8 ? "the file" : "the limit",
                         (unsigned long long)(hlen > size - 8 ? size - 8 : TIDE_ST_MAX_HEADER));
    char *text = malloc((size_t)hlen + 1);
    if (!text)
        return tide_fail("load: out of memory");
    tide_st_header h;
    tide_status st = read_at(s, text, (size_t)hlen, 8);
    if (st == TIDE_OK)
        st = tide_st_header_parse(&h, s->what, text, (size_t)hlen, size - 8 - hlen);
    free(text);
    TIDE_TRY(st);
    out->names = calloc((size_t)h.n + 1, sizeof *out->names);
    out->tensors = calloc((size_t)h.n + 1, sizeof *out->tensors);
    if (!out->names || !out->tensors)
        st = tide_fail("load: out of memory");
    for (int i = 0; i < h.n && st == TIDE_OK; i++) {
        st = make_tensor(s, &h.entries[i], 8 + hlen, &out->tensors[i]);
        if (st == TIDE_OK) {
            out->names[i] = h.entries[i].name;   /* taken over from h */
            h.entries[i].name = NULL;
            out->ntensors = i + 1;
        }
    }
    if (st == TIDE_OK) {
        out->nmeta = h.nmeta;
        out->meta_keys = h.meta_keys;
        out->meta_values = h.meta_values;
        h.nmeta = 0;
        h.meta_keys = h.meta_values = NULL;
    }
    tide_st_header_free(&h);
    if (st != TIDE_OK)
        tide_st_free(out);
    return st;
}

tide_status tide_st_load(tide_st_file *out, const char *path, int map)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return tide_fail("load: cannot open '%s': %s", path, strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        tide_status st = tide_fail("load: '%s' is not a regular file", path);
        close(fd);
        return st;
    }
    source s = {path, NULL, fd, NULL};
    uint64_t size = (uint64_t)info.st_size;
    if (map && size > 0) {
        mapping *m = malloc(sizeof *m);
        void *addr = m ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
                       : MAP_FAILED;
        if (addr == MAP_FAILED) {
            tide_status st = tide_fail("load: cannot map '%s': %s", path,
                                       m ? strerror(errno) : "out of memory");
            free(m);
            close(fd);
            return st;
        }
        m->addr = addr;
        m->len = (size_t)size;
        atomic_init(&m->refs, 1);   /* ours, dropped below: the tensors hold the rest */
        s.mem = addr;
        s.map = m;
    }
    tide_status st = parse_source(out, &s, size);
    if (s.map)
        mapping_drop(NULL, s.map);
    close(fd);
    return st;
}

tide_status tide_st_parse(tide_st_file *out, const char *what, const void *data, size_t len)
{
    source s = {what, data, -1, NULL};
    if (!data) {
        memset(out, 0, sizeof *out);
        return tide_fail("load: '%s' is not a safetensors file: no bytes", what);
    }
    return parse_source(out, &s, len);
}

void tide_st_free(tide_st_file *f)
{
    for (int i = 0; i < f->ntensors; i++) {
        tide_tensor_release(&f->tensors[i]);
        free(f->names[i]);
    }
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
}
