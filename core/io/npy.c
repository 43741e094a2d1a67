/* io_npy.c — the .npy format: header text, the temporary-then-rename write, and the reader. */
#define _POSIX_C_SOURCE 200809L
#include "io/npy.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/cursor.h"
#include "io/files.h"
#include "tensor/iter.h"
#include "tensor/size.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io_npy.c writes host-order data as little-endian; port it before using a big-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_HEADER (1u << 20)

/* ---------------------------------------------------------------- writing */

size_t tide_npy_header(const tide_tensor *t, char *buf, size_t cap)
{
    char dict[512];
    size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                tide_dtype_npy(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, d ? ", %lld" : "%lld",
                              (long long)t->shape[d]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", t->ndim == 1 ? "," : "");
    /* as NumPy pads: spaces, then '\n', so that magic + version + length + dict is a multiple
     * of 64; a dict that already ends on the boundary still gets a full 64 of padding */
    size_t prefix = NPY_MAGIC_LEN + 2 + 2;
    size_t pad = NPY_ALIGN - (prefix + n + 1) % NPY_ALIGN;
    size_t hlen = n + pad + 1;
    size_t total = prefix + hlen;
    if (total > cap || hlen > 0xffff)
        return 0;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + prefix, dict, n);
    memset(buf + prefix + n, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

/* Writes t's elements in logical order, gathering strided rows through a buffer. */
static int write_data(FILE *f, const tide_tensor *t)
{
    size_t es = tide_dtype_size(t->dtype);
    int64_t n = tide_numel(t);
    if (n == 0)
        return 1;
    if (tide_is_contiguous(t))
        return fwrite(tide_data(t), es, (size_t)n, f) == (size_t)n;
    char buf[1 << 16];
    size_t used = 0;
    tide_iter it;
    const tide_tensor *args[1] = {t};
    tide_iter_init(&it, 1, args);
    while (tide_iter_next(&it)) {
        for (int64_t i = 0; i < it.inner; i++) {
            if (used + es > sizeof buf) {
                if (fwrite(buf, 1, used, f) != used)
                    return 0;
                used = 0;
            }
            memcpy(buf + used, it.ptr[0] + i * it.inner_stride[0], es);
            used += es;
        }
    }
    return fwrite(buf, 1, used, f) == used;
}

/* Temporaries are named PATH.tmp-HOST-PID-N: the host and process say whose it is, N tells
 * apart the saves of one process. */
static void host_name(char *host, size_t cap)
{
    if (gethostname(host, cap) != 0)
        host[0] = '\0';
    host[cap - 1] = '\0';
    for (char *c = host; *c; c++)   /* a name cannot smuggle a '/' into the file name */
        if (*c == '/')
            *c = '_';
}

/* A save killed midway leaves its temporary behind (as big as the tensor); the next save to
 * the same path removes those of this host whose process is gone. A live process's are kept
 * (it may be saving now), and so are other hosts' on a shared file system: their process ids
 * mean nothing here. */
static void remove_stale_temps(const char *path, const char *host)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096], prefix[512];
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    int plen = snprintf(prefix, sizeof prefix, "%s.tmp-%s-", base, host);
    if (dlen >= sizeof dir || plen < 0 || (size_t)plen >= sizeof prefix)
        return;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    DIR *d = opendir(dlen ? dir : ".");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (errno || pid <= 0 || pid == (long)getpid() || *end != '-' || end[1] < '0' ||
            end[1] > '9')
            continue;
        strtoul(end + 1, &end, 10);
        if (*end != '\0')
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Opens a new file next to path, exclusively, so concurrent savers never share one. */
static FILE *open_temp(const char *path, const char *host, char *tmp, size_t cap)
{
    static atomic_uint serial;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%s-%ld-%u", path, host, (long)getpid(),
                 atomic_fetch_add(&serial, 1));
        FILE *f = fopen(tmp, "wbx");
        if (f || errno != EEXIST)
            return f;
    }
    return NULL;
}

tide_status tide_npy_save(const char *path, const tide_tensor *t)
{
    if (!t->storage)
        return tide_fail("save: cannot save an empty (closed) tensor to '%s'", path);
    if (!*tide_dtype_npy(t->dtype))
        return tide_fail("save: numpy has no %s dtype for '%s': save as .safetensors or convert "
                         "with :to('f32') first", tide_dtype_name(t->dtype), path);
    char header[1024];
    size_t hlen = tide_npy_header(t, header, sizeof header);
    if (hlen == 0)
        return tide_fail("save: header too long for '%s'", path);
    char host[256];
    host_name(host, sizeof host);
    remove_stale_temps(path, host);
    size_t cap = strlen(path) + strlen(host) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return tide_fail("save: out of memory");
    FILE *f = open_temp(path, host, tmp, cap);
    if (!f) {
        tide_status st = tide_fail("save: cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    int err, ok = fwrite(header, 1, hlen, f) == hlen && write_data(f, t);
    if (!tide_commit_temp(f, ok, tmp, path, &err)) {
        free(tmp);
        return tide_fail("save: cannot write '%s': %s", path, strerror(err));
    }
    free(tmp);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- reading the header */

typedef tide_cursor cursor;

typedef struct {
    char descr[32];
    int have_descr, have_order, have_shape;
    int fortran;
    int ndim;
    int64_t shape[TIDE_MAX_DIMS + 1];
} npy_header;

/* A Python string literal in ' or " quotes (no escapes: none occur in .npy headers). */
static int parse_string(cursor *c, char *out, size_t cap)
{
    tide_cursor_skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 < cap)
            out[n++] = *c->p;
        c->p++;
    }
    out[n] = '\0';
    if (c->p >= c->end)
        return 0;
    c->p++;
    return 1;
}

static int parse_word(cursor *c, const char *word)
{
    tide_cursor_skip_ws(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A tuple of non-negative integers: (), (3,), (3, 4) ... ; counts up to TIDE_MAX_DIMS + 1. */
static int parse_shape(cursor *c, npy_header *h)
{
    if (!tide_cursor_eat(c, '('))
        return 0;
    h->ndim = 0;
    for (;;) {
        tide_cursor_skip_ws(c);
        if (tide_cursor_eat(c, ')'))
            return 1;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return 0;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L')   /* Python 2 longs */
            c->p++;
        if (h->ndim <= TIDE_MAX_DIMS)
            h->shape[h->ndim] = v;
        h->ndim++;
        if (h->ndim > TIDE_MAX_DIMS + 1)
            h->ndim = TIDE_MAX_DIMS + 1;
        if (!tide_cursor_eat(c, ','))
            return tide_cursor_eat(c, ')');
    }
}

/* Parses the header dict; on failure writes why into why. */
static int parse_header(const char *text, size_t len, npy_header *h, char *why, size_t cap)
{
    cursor c = {text, text, text + len, NULL};
    memset(h, 0, sizeof *h);
    if (!tide_cursor_eat(&c, '{')) {
        snprintf(why, cap, "expected a dict");
        return 0;
    }
    while (!tide_cursor_eat(&c, '}')) {
        char key[32];
        if (!parse_string(&c, key, sizeof key) || !tide_cursor_eat(&c, ':')) {
            snprintf(why, cap, "expected a quoted key and ':'");
            return 0;
        }
        if (strcmp(key, "descr") == 0) {
            if (!parse_string(&c, h->descr, sizeof h->descr)) {
                snprintf(why, cap, "'descr' is not a string (structured dtypes are not supported)");
                return 0;
            }
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True"))
                h->fortran = 1;
            else if (parse_word(&c, "False"))
                h->fortran = 0;
            else {
                snprintf(why, cap, "'fortran_order' is not True or False");
                return 0;
            }
            h->have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(&c, h)) {
                snprintf(why, cap, "'shape' is not a tuple of sizes");
                return 0;
            }
            h->have_shape = 1;
        } else {
            snprintf(why, cap, "unexpected key '%s'", key);
            return 0;
        }
        if (!tide_cursor_eat(&c, ',')) {
            if (!tide_cursor_eat(&c, '}')) {
                snprintf(why, cap, "expected ',' or '}'");
                return 0;
            }
            break;
        }
    }
    const char *missing = !h->have_descr ? "descr" : !h->have_order ? "fortran_order"
                        : !h->have_shape ? "shape" : NULL;
    if (missing) {
        snprintf(why, cap, "no '%s'", missing);
        return 0;
    }
    return 1;
}

/* '<f4' and friends -> dtype and whether the data needs a byte swap. */
static int dtype_of_descr(const char *descr, tide_dtype *dt, int *swap)
{
    char order = descr[0];
    const char *kind = descr + 1;
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return 0;
    if (strcmp(kind, "b1") == 0)   /* numpy's bool is a byte of 0 or 1: it reads as u8 */
        kind = tide_dtype_npy(TIDE_U8) + 1;
    for (int i = 0; i < TIDE_NDTYPES; i++)
        if (*tide_dtype_npy((tide_dtype)i) && strcmp(kind, tide_dtype_npy((tide_dtype)i) + 1) == 0) {
            *dt = (tide_dtype)i;
            *swap = order == '>' && tide_dtype_size(*dt) > 1;
            return 1;
        }
    return 0;
}

static void byteswap(void *data, size_t es, int64_t n)
{
    unsigned char *p = data;
    for (int64_t i = 0; i < n; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char tmp = p[a];
            p[a] = p[b];
            p[b] = tmp;
        }
}

/* ---------------------------------------------------------------- reading */

/* The rows of dim 1 to read: all of them (count < 0), or count rows from first. */
typedef struct row_range {
    int64_t first, count;
} row_range;

/* A header's shape with sizes that fit (issue 12: a (0, 2^62, 2^62) shape overflowed the
 * strides), as a malformed-header error naming the file. */
static tide_status check_header_shape(const char *path, int ndim, const int64_t *shape,
                                      tide_dtype dt, int64_t *numel)
{
    if (tide_shape_check(ndim, shape, dt, "shape", numel) == TIDE_OK)
        return TIDE_OK;
    char why[256];
    snprintf(why, sizeof why, "%s", tide_error() + strlen("shape: "));
    return tide_fail("load: '%s' has a malformed header: %s", path, why);
}

/* Reads the data of h from f into out (empty); fortran order is read as the reversed shape
 * and then transposed into a C-ordered copy. With a row range, only those rows are read (the
 * file is C-ordered: they lie back to back). */
static tide_status read_data(FILE *f, const char *path, const npy_header *h, tide_dtype dt,
                             int swap, row_range rows, tide_tensor *out)
{
    int64_t shape[TIDE_MAX_DIMS];
    for (int d = 0; d < h->ndim; d++)
        shape[d] = h->fortran ? h->shape[h->ndim - 1 - d] : h->shape[d];
    size_t es = tide_dtype_size(dt);
    /* a header promising more than the file holds fails before any allocation; the shape's
     * check covers its strides too (a zero dim does not make (0, 2^62, 2^62) small) */
    int64_t numel = 1;
    TIDE_TRY(check_header_shape(path, h->ndim, shape, dt, &numel));
    int64_t data_bytes = numel * (int64_t)es;   /* fits: checked above */
    struct stat info;
    long here = ftell(f);
    if (fstat(fileno(f), &info) == 0 && S_ISREG(info.st_mode) && here >= 0 &&
        info.st_size - here < data_bytes)
        return tide_fail("load: '%s' is truncated: expected %lld bytes of data, got %lld", path,
                         (long long)data_bytes, (long long)(info.st_size - here));
    if (rows.count >= 0) {
        if (h->ndim < 1)
            return tide_fail("load: rows of '%s' asked for, but it holds a scalar", path);
        if (h->fortran && h->ndim > 1)
            return tide_fail("load: rows of '%s' asked for, but it is in Fortran order (rows"
                             " are not contiguous); load it whole", path);
        if (!tide_range_ok(rows.first, rows.count, shape[0])) {
            int64_t last;
            char end[48];   /* the 1-based last row, or how it is made when it does not fit */
            if (tide_add_fits(rows.first, rows.count, &last))
                snprintf(end, sizeof end, "%lld", (long long)last);
            else
                snprintf(end, sizeof end, "%lld + %lld", (long long)rows.first,
                         (long long)rows.count);
            return tide_fail("load: rows %lld..%s asked for, but '%s' has %lld rows",
                             (long long)(rows.first < INT64_MAX ? rows.first + 1 : rows.first),
                             end, path, (long long)shape[0]);
        }
        int64_t row_bytes = numel / (shape[0] ? shape[0] : 1) * (int64_t)es;
        if (rows.first > 0 && fseek(f, (long)(rows.first * row_bytes), SEEK_CUR) != 0)
            return tide_fail("load: cannot seek in '%s': %s", path, strerror(errno));
        shape[0] = rows.count;
    }
    tide_tensor raw = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_tensor_alloc(&raw, dt, h->ndim, shape));
    size_t want = (size_t)tide_numel(&raw) * es;
    size_t got = want ? fread(tide_data(&raw), 1, want, f) : 0;
    if (got < want) {
        tide_status st = ferror(f)
            ? tide_fail("load: cannot read '%s': %s", path, strerror(errno))
            : tide_fail("load: '%s' is truncated: expected %zu bytes of data, got %zu", path,
                        want, got);
        tide_tensor_release(&raw);
        return st;
    }
    if (swap)
        byteswap(tide_data(&raw), es, tide_numel(&raw));
    if (!h->fortran || h->ndim < 2) {
        *out = raw;
        return TIDE_OK;
    }
    int perm[TIDE_MAX_DIMS];
    for (int d = 0; d < h->ndim; d++)
        perm[d] = h->ndim - 1 - d;
    tide_tensor rev = TIDE_TENSOR_EMPTY;
    tide_status st = tide_permute(&rev, &raw, perm);
    if (st == TIDE_OK)
        st = tide_clone(out, &rev);
    tide_tensor_release(&rev);
    tide_tensor_release(&raw);
    return st;
}

static uint32_t le16(const unsigned char *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8; }
static uint32_t le32(const unsigned char *b) { return le16(b) | le16(b + 2) << 16; }

/* Reads and parses the header, leaving f at the data. */
static tide_status read_header(FILE *f, const char *path, npy_header *hp, tide_dtype *dtp,
                               int *swapp)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got < 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        if (ferror(f))
            return tide_fail("load: cannot read '%s': %s", path, strerror(errno));
        return tide_fail("load: '%s' is not a .npy file (bad magic)", path);
    }
    int major = pre[6], minor = pre[7];
    size_t lenbytes = major == 1 ? 2 : major == 2 || major == 3 ? 4 : 0;
    if (lenbytes == 0)
        return tide_fail("load: '%s' has unsupported .npy format version %d.%d", path, major,
                         minor);
    got = fread(pre + 8, 1, lenbytes, f);
    if (got < lenbytes)
        return tide_fail("load: '%s' is truncated: expected %zu bytes of header, got %zu", path,
                         8 + lenbytes, 8 + got);
    size_t hlen = lenbytes == 2 ? le16(pre + 8) : le32(pre + 8);
    if (hlen > NPY_MAX_HEADER)
        return tide_fail("load: '%s' has a malformed header: header length %zu too large", path,
                         hlen);
    char *text = malloc(hlen + 1);
    if (!text)
        return tide_fail("load: out of memory");
    got = fread(text, 1, hlen, f);
    if (got < hlen) {
        free(text);
        return tide_fail("load: '%s' is truncated: expected %zu bytes of header, got %zu", path,
                         hlen, got);
    }
    text[hlen] = '\0';
    char why[128];
    int parsed = parse_header(text, hlen, hp, why, sizeof why);
    free(text);
    if (!parsed)
        return tide_fail("load: '%s' has a malformed header: %s", path, why);
    if (!dtype_of_descr(hp->descr, dtp, swapp))
        return tide_fail("load: unsupported dtype '%s' in '%s'", hp->descr, path);
    if (hp->ndim > TIDE_MAX_DIMS)
        return tide_fail("load: '%s' has more than %d dims", path, TIDE_MAX_DIMS);
    return TIDE_OK;
}

/* rows: read them all (count < 0) or a range; out NULL: the header only, into *hp. */
static tide_status load_path(tide_tensor *out, const char *path, row_range rows,
                             npy_header *hp, tide_dtype *dtp)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tide_fail("load: cannot open '%s': %s", path, strerror(errno));
    int swap = 0;
    tide_status st = read_header(f, path, hp, dtp, &swap);
    if (st == TIDE_OK && out)
        st = read_data(f, path, hp, *dtp, swap, rows, out);
    fclose(f);
    return st;
}

tide_status tide_npy_load(tide_tensor *out, const char *path)
{
    row_range all = {0, -1};
    npy_header h;
    tide_dtype dt;
    return load_path(out, path, all, &h, &dt);
}

tide_status tide_npy_load_rows(tide_tensor *out, const char *path, int64_t first, int64_t count)
{
    if (count < 0)
        return tide_fail("load: a negative row count %lld for '%s'", (long long)count, path);
    row_range rows = {first, count};
    npy_header h;
    tide_dtype dt;
    return load_path(out, path, rows, &h, &dt);
}

tide_status tide_npy_shape(const char *path, int *ndim, int64_t *shape, tide_dtype *dtype)
{
    row_range none = {0, -1};
    npy_header h;
    TIDE_TRY(load_path(NULL, path, none, &h, dtype));
    *ndim = h.ndim;
    for (int d = 0; d < h.ndim; d++)
        shape[d] = h.fortran ? h.shape[h.ndim - 1 - d] : h.shape[d];
    return check_header_shape(path, h.ndim, shape, *dtype, NULL);
}
