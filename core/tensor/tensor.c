/* tensor.c — storage lifetime, memory accounting, shapes and the tensor's views. */
#include "tensor/tensor.h"
#include "tensor/half.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/size.h"

static atomic_size_t live_bytes;
static atomic_size_t peak_bytes;

size_t tide_memory_live(void) { return atomic_load(&live_bytes); }
size_t tide_memory_peak(void) { return atomic_load(&peak_bytes); }
void tide_memory_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&live_bytes)); }

static void count_alloc(size_t n)
{
    size_t now = atomic_fetch_add(&live_bytes, n) + n;
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
        ;
}

int64_t tide_numel(const tide_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

void tide_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d] > 1 ? shape[d] : 1;
    }
}

int tide_is_contiguous(const tide_tensor *t)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s)
            return 0;
        s *= t->shape[d];
    }
    return 1;
}

int tide_same_shape(const tide_tensor *a, const tide_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

const char *tide_shape_str_n(int ndim, const int64_t *shape, char *buf, size_t size)
{
    if (ndim == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? "x%lld" : "%lld",
                                 (long long)shape[d]);
    return buf;
}

const char *tide_shape_str(const tide_tensor *t, char *buf, size_t size)
{
    return tide_shape_str_n(t->ndim, t->shape, buf, size);
}

static tide_storage *storage_new(void *data, size_t nbytes, void (*free_data)(void *, void *),
                                 void *ctx)
{
    tide_storage *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->data = data;
    s->nbytes = nbytes;
    s->refcount = 1;
    s->free_data = free_data;
    s->free_ctx = ctx;
    return s;
}

static void set_contiguous_shape(tide_tensor *t, tide_dtype dtype, int ndim, const int64_t *shape)
{
    t->dtype = dtype;
    t->ndim = ndim;
    t->offset = 0;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    tide_contiguous_strides(ndim, shape, t->stride);
}

/* Storage and its data in one aligned block (the header padded to TIDE_ALIGN), so a small
 * tensor costs one malloc: the per-call cost of `a + b` on tiny tensors depends on it. */
#define HEADER_BYTES ((sizeof(tide_storage) + TIDE_ALIGN - 1) / TIDE_ALIGN * TIDE_ALIGN)

/* Blocks of CACHE_MIN bytes and more come from mmap in glibc, so every `c = a + b` on a big
 * tensor would fault in fresh pages (half the time of the add itself at 64 MiB). A few freed
 * big blocks are kept for reuse instead, as PyTorch's caching allocators do; the cache is
 * bounded (CACHE_SLOTS blocks, CACHE_MAX_BYTES in all), so a loop of allocations still runs in
 * bounded memory. Cached bytes do not count as live. */
#define CACHE_MIN ((size_t)8 << 20)
#define CACHE_SLOTS 4
#define CACHE_MAX_BYTES ((size_t)512 << 20)

static struct {
    pthread_mutex_t lock;
    tide_storage *block[CACHE_SLOTS];
    size_t bytes;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static tide_storage *cache_take(size_t rounded)
{
    tide_storage *s = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS && !s; i++)
        if (cache.block[i] && cache.block[i]->nbytes == rounded) {
            s = cache.block[i];
            cache.block[i] = NULL;
            cache.bytes -= rounded;
        }
    pthread_mutex_unlock(&cache.lock);
    return s;
}

/* Keeps s for reuse, evicting the oldest entry when full; frees what does not fit. */
static void cache_put(tide_storage *s)
{
    tide_storage *evicted = s;
    pthread_mutex_lock(&cache.lock);
    if (s->nbytes <= CACHE_MAX_BYTES) {
        evicted = cache.block[0];
        for (int i = 0; i < CACHE_SLOTS - 1; i++)
            cache.block[i] = cache.block[i + 1];
        cache.block[CACHE_SLOTS - 1] = s;
        cache.bytes += s->nbytes - (evicted ? evicted->nbytes : 0);
        for (int i = 0; i < CACHE_SLOTS - 1 && cache.bytes > CACHE_MAX_BYTES; i++)
            if (cache.block[i]) {
                cache.bytes -= cache.block[i]->nbytes;
                free(cache.block[i]);
                cache.block[i] = NULL;
            }
    }
    pthread_mutex_unlock(&cache.lock);
    free(evicted);
}

void tide_memory_release_cache(void)
{
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(cache.block[i]);
        cache.block[i] = NULL;
    }
    cache.bytes = 0;
    pthread_mutex_unlock(&cache.lock);
}

static void free_inline(void *data, void *ctx)
{
    (void)data;
    tide_storage *s = ctx;
    atomic_fetch_sub(&live_bytes, s->nbytes);
    if (s->nbytes >= CACHE_MIN)
        cache_put(s);
    else
        free(s);
}

/* The byte count of a contiguous tensor of dtype and shape, checked (tide_shape_check). */
static tide_status shape_bytes(tide_dtype dtype, int ndim, const int64_t *shape, size_t *bytes)
{
    int64_t n = 0;
    if (!tide_dtype_valid((int)dtype))
        return tide_fail("tensor: invalid dtype %d", (int)dtype);
    TIDE_TRY(tide_shape_check(ndim, shape, dtype, "tensor", &n));
    return tide_array_bytes(n, tide_dtype_size(dtype), "tensor", bytes);
}

tide_status tide_tensor_alloc(tide_tensor *t, tide_dtype dtype, int ndim, const int64_t *shape)
{
    size_t bytes = 0;
    TIDE_TRY(shape_bytes(dtype, ndim, shape, &bytes));
    /* bytes < 2^63 (tide_shape_check), so neither the rounding nor the header can wrap */
    size_t rounded = (bytes + TIDE_ALIGN - 1) / TIDE_ALIGN * TIDE_ALIGN;
    if (rounded == 0)
        rounded = TIDE_ALIGN;
    tide_storage *s = rounded >= CACHE_MIN ? cache_take(rounded) : NULL;
    if (!s && tide_bytes_possible(HEADER_BYTES + rounded))
        s = aligned_alloc(TIDE_ALIGN, HEADER_BYTES + rounded);
    if (!s) {
        char str[TIDE_SHAPE_BUF];
        return tide_fail("tensor: out of memory allocating %zu bytes for a %s %s tensor", bytes,
                         tide_shape_str_n(ndim, shape, str, sizeof str), tide_dtype_name(dtype));
    }
    s->data = (char *)s + HEADER_BYTES;
    s->nbytes = rounded;
    s->refcount = 1;
    s->free_data = free_inline;
    s->free_ctx = s;
    count_alloc(rounded);
    t->storage = s;
    set_contiguous_shape(t, dtype, ndim, shape);
    return TIDE_OK;
}

tide_status tide_tensor_zeros(tide_tensor *t, tide_dtype dtype, int ndim, const int64_t *shape)
{
    TIDE_TRY(tide_tensor_alloc(t, dtype, ndim, shape));
    memset(t->storage->data, 0, t->storage->nbytes);
    return TIDE_OK;
}

tide_status tide_tensor_wrap(tide_tensor *t, void *data, tide_dtype dtype, int ndim,
                             const int64_t *shape, void (*free_data)(void *, void *), void *ctx)
{
    size_t bytes = 0;
    TIDE_TRY(shape_bytes(dtype, ndim, shape, &bytes));
    tide_storage *s = storage_new(data, bytes, free_data, ctx);
    if (!s)
        return tide_fail("tensor: out of memory");
    t->storage = s;
    set_contiguous_shape(t, dtype, ndim, shape);
    return TIDE_OK;
}

void tide_tensor_release(tide_tensor *t)
{
    tide_storage *s = t->storage;
    if (!s)
        return;
    t->storage = NULL;
    if (--s->refcount > 0)
        return;
    if (s->free_data == free_inline) {
        free_inline(s->data, s);
        return;
    }
    if (s->free_data)
        s->free_data(s->data, s->free_ctx);
    free(s);
}

void tide_tensor_share(tide_tensor *dst, const tide_tensor *src)
{
    *dst = *src;
    dst->storage->refcount++;
}

tide_status tide_prepare_out(tide_tensor *out, tide_dtype dtype, int ndim, const int64_t *shape,
                             const char *op)
{
    if (!out->storage)
        return tide_tensor_alloc(out, dtype, ndim, shape);
    char want[TIDE_SHAPE_BUF], got[TIDE_SHAPE_BUF];
    int same = out->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = out->shape[d] == shape[d];
    if (!same)
        return tide_fail("%s: output has shape %s, expected %s", op,
                         tide_shape_str(out, got, sizeof got),
                         tide_shape_str_n(ndim, shape, want, sizeof want));
    if (out->dtype != dtype)
        return tide_fail("%s: output has dtype %s, expected %s", op, tide_dtype_name(out->dtype),
                         tide_dtype_name(dtype));
    return TIDE_OK;
}

/* ---------------------------------------------------------------- views */

static tide_status check_dim(const tide_tensor *t, int dim, const char *op)
{
    if (dim < 0 || dim >= t->ndim)
        return tide_fail("%s: dim %d out of range for a %d-dim tensor", op, dim + 1, t->ndim);
    return TIDE_OK;
}

tide_status tide_narrow(tide_tensor *out, const tide_tensor *src, int dim, int64_t start,
                        int64_t length)
{
    TIDE_TRY(check_dim(src, dim, "narrow"));
    if (!tide_range_ok(start, length, src->shape[dim])) {
        int64_t end;
        char last[48];   /* the range's end, or how it is made when it does not fit */
        if (tide_add_fits(start, length, &end))
            snprintf(last, sizeof last, "%lld", (long long)end);
        else
            snprintf(last, sizeof last, "%lld + %lld", (long long)start, (long long)length);
        return tide_fail("narrow: range [%lld, %s] out of bounds for size %lld in dim %d",
                         (long long)(start < INT64_MAX ? start + 1 : start), last,
                         (long long)src->shape[dim], dim + 1);
    }
    tide_tensor_share(out, src);
    out->offset += start * src->stride[dim];
    out->shape[dim] = length;
    return TIDE_OK;
}

tide_status tide_select(tide_tensor *out, const tide_tensor *src, int dim, int64_t index)
{
    TIDE_TRY(check_dim(src, dim, "select"));
    if (index < 0 || index >= src->shape[dim])
        return tide_fail("select: index %lld out of range for size %lld in dim %d",
                         (long long)index + 1, (long long)src->shape[dim], dim + 1);
    tide_tensor_share(out, src);
    out->offset += index * src->stride[dim];
    for (int d = dim; d < src->ndim - 1; d++) {
        out->shape[d] = src->shape[d + 1];
        out->stride[d] = src->stride[d + 1];
    }
    out->ndim--;
    return TIDE_OK;
}

tide_status tide_transpose(tide_tensor *out, const tide_tensor *src, int dim1, int dim2)
{
    TIDE_TRY(check_dim(src, dim1, "transpose"));
    TIDE_TRY(check_dim(src, dim2, "transpose"));
    tide_tensor_share(out, src);
    out->shape[dim1] = src->shape[dim2];
    out->stride[dim1] = src->stride[dim2];
    out->shape[dim2] = src->shape[dim1];
    out->stride[dim2] = src->stride[dim1];
    return TIDE_OK;
}

tide_status tide_permute(tide_tensor *out, const tide_tensor *src, const int *perm)
{
    int seen[TIDE_MAX_DIMS] = {0};
    for (int d = 0; d < src->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= src->ndim || seen[perm[d]])
            return tide_fail("permute: expected a permutation of 1..%d, got dim %d at position %d",
                             src->ndim, perm[d] + 1, d + 1);
        seen[perm[d]] = 1;
    }
    tide_tensor_share(out, src);
    for (int d = 0; d < src->ndim; d++) {
        out->shape[d] = src->shape[perm[d]];
        out->stride[d] = src->stride[perm[d]];
    }
    return TIDE_OK;
}

/* Resolves a -1 entry and checks the element count; fills shape_out. */
static tide_status infer_shape(const tide_tensor *src, int ndim, const int64_t *shape,
                               int64_t *shape_out, const char *op)
{
    if (ndim < 0 || ndim > TIDE_MAX_DIMS)
        return tide_fail("%s: %d dims requested, at most %d supported", op, ndim, TIDE_MAX_DIMS);
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        shape_out[d] = shape[d];
        if (shape[d] == -1) {
            if (infer >= 0)
                return tide_fail("%s: only one dim may be -1", op);
            infer = d;
            shape_out[d] = 1;
        }
    }
    /* the known dims must make a shape whose strides fit before they are multiplied */
    int64_t known = 1;
    TIDE_TRY(tide_shape_check(ndim, shape_out, src->dtype, op, &known));
    int64_t n = tide_numel(src);
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            return tide_fail("%s: cannot reshape %s (%lld elements) into %s", op,
                             tide_shape_str(src, a, sizeof a), (long long)n,
                             tide_shape_str_n(ndim, shape, b, sizeof b));
        shape_out[infer] = n / known;
        TIDE_TRY(tide_shape_check(ndim, shape_out, src->dtype, op, NULL));
    } else if (known != n) {
        return tide_fail("%s: cannot reshape %s (%lld elements) into %s (%lld elements)", op,
                         tide_shape_str(src, a, sizeof a), (long long)n,
                         tide_shape_str_n(ndim, shape, b, sizeof b), (long long)known);
    }
    return TIDE_OK;
}

/* Strides for viewing src as shape without copying, if src's layout allows it: walking the old
 * dims from the innermost, each run of dims that is contiguous within itself (a "chunk") must
 * be covered exactly by a run of new dims, which then step through it with the chunk's base
 * stride. This is the rule numpy and torch apply. */
static int view_strides(const tide_tensor *src, int ndim, const int64_t *shape, int64_t *stride)
{
    if (tide_numel(src) == 0 || tide_is_contiguous(src)) {
        tide_contiguous_strides(ndim, shape, stride);
        return 1;
    }
    int nd = ndim - 1;
    int64_t base = src->stride[src->ndim - 1];
    int64_t old_n = 1, new_n = 1;
    for (int od = src->ndim - 1; od >= 0; od--) {
        old_n *= src->shape[od];
        int chunk_ends = od == 0 ||
            (src->shape[od - 1] != 1 && src->stride[od - 1] != old_n * base);
        if (!chunk_ends)
            continue;
        while (nd >= 0 && (new_n < old_n || shape[nd] == 1)) {
            stride[nd] = new_n * base;
            new_n *= shape[nd];
            nd--;
        }
        if (new_n != old_n)
            return 0;
        if (od > 0) {
            base = src->stride[od - 1];
            old_n = new_n = 1;
        }
    }
    return nd == -1;
}

/* out = a view of src's storage with the given shape and strides (checked by the caller). */
static tide_status share_as(tide_tensor *out, const tide_tensor *src, int ndim,
                            const int64_t *shape, const int64_t *stride)
{
    tide_tensor_share(out, src);
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        out->shape[d] = shape[d];
        out->stride[d] = stride[d];
    }
    return TIDE_OK;
}

tide_status tide_view(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape)
{
    int64_t new_shape[TIDE_MAX_DIMS], stride[TIDE_MAX_DIMS];
    TIDE_TRY(infer_shape(src, ndim, shape, new_shape, "view"));
    if (!view_strides(src, ndim, new_shape, stride)) {
        char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
        return tide_fail("view: a non-contiguous %s tensor cannot be viewed as %s without a copy"
                         " (use reshape or contiguous)", tide_shape_str(src, a, sizeof a),
                         tide_shape_str_n(ndim, new_shape, b, sizeof b));
    }
    return share_as(out, src, ndim, new_shape, stride);
}

tide_status tide_reshape(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape)
{
    int64_t new_shape[TIDE_MAX_DIMS], stride[TIDE_MAX_DIMS];
    TIDE_TRY(infer_shape(src, ndim, shape, new_shape, "reshape"));
    if (view_strides(src, ndim, new_shape, stride))
        return tide_view(out, src, ndim, new_shape);
    tide_tensor tmp = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_clone(&tmp, src));
    tide_status st = tide_view(out, &tmp, ndim, new_shape);
    tide_tensor_release(&tmp);
    return st;
}

tide_status tide_unsqueeze(tide_tensor *out, const tide_tensor *src, int dim)
{
    if (dim < 0 || dim > src->ndim)
        return tide_fail("unsqueeze: dim %d out of range for a %d-dim tensor (expected 1..%d)",
                         dim + 1, src->ndim, src->ndim + 1);
    if (src->ndim >= TIDE_MAX_DIMS)
        return tide_fail("unsqueeze: a tensor has at most %d dims", TIDE_MAX_DIMS);
    tide_tensor_share(out, src);
    for (int d = src->ndim; d > dim; d--) {
        out->shape[d] = src->shape[d - 1];
        out->stride[d] = src->stride[d - 1];
    }
    out->shape[dim] = 1;
    out->stride[dim] = dim < src->ndim ? src->stride[dim] * src->shape[dim] : 1;
    out->ndim = src->ndim + 1;
    return TIDE_OK;
}

tide_status tide_squeeze(tide_tensor *out, const tide_tensor *src, int dim)
{
    if (dim >= 0) {
        TIDE_TRY(check_dim(src, dim, "squeeze"));
        if (src->shape[dim] != 1) {
            tide_tensor_share(out, src);
            return TIDE_OK;
        }
    }
    tide_tensor_share(out, src);
    int n = 0;
    for (int d = 0; d < src->ndim; d++) {
        if (src->shape[d] == 1 && (dim < 0 || d == dim))
            continue;
        out->shape[n] = src->shape[d];
        out->stride[n] = src->stride[d];
        n++;
    }
    out->ndim = n;
    return TIDE_OK;
}

tide_status tide_broadcast_shapes(int na, const int64_t *sa, int nb, const int64_t *sb,
                                  int *nout, int64_t *sout, const char *op)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a != b && a != 1 && b != 1) {
            char x[TIDE_SHAPE_BUF], y[TIDE_SHAPE_BUF];
            return tide_fail("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op,
                             tide_shape_str_n(na, sa, x, sizeof x),
                             tide_shape_str_n(nb, sb, y, sizeof y), i + 1, (long long)a,
                             (long long)b);
        }
        sout[i] = a == 1 ? b : a;
    }
    *nout = n;
    return TIDE_OK;
}

tide_status tide_expand(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape)
{
    char a[TIDE_SHAPE_BUF], b[TIDE_SHAPE_BUF];
    if (ndim < src->ndim || ndim > TIDE_MAX_DIMS)
        return tide_fail("expand: cannot expand %s to %s", tide_shape_str(src, a, sizeof a),
                         tide_shape_str_n(ndim, shape, b, sizeof b));
    int64_t stride[TIDE_MAX_DIMS], new_shape[TIDE_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        int sd = d - (ndim - src->ndim);
        int64_t want = shape[d] == -1 && sd >= 0 ? src->shape[sd] : shape[d];
        if (sd < 0) {
            stride[d] = 0;
        } else if (src->shape[sd] == want) {
            stride[d] = src->stride[sd];
        } else if (src->shape[sd] == 1) {
            stride[d] = 0;
        } else {
            return tide_fail("expand: cannot expand %s to %s (dim %d: %lld vs %lld)",
                             tide_shape_str(src, a, sizeof a),
                             tide_shape_str_n(ndim, shape, b, sizeof b), d + 1,
                             (long long)src->shape[sd], (long long)want);
        }
        if (want < 0)
            return tide_fail("expand: negative size %lld in dim %d", (long long)want, d + 1);
        new_shape[d] = want;
    }
    /* a view may repeat elements (stride 0) but its element count must still be a number */
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (!tide_mul_fits(n, new_shape[d] > 1 ? new_shape[d] : 1, &n))
            return tide_fail("expand: cannot expand %s to %s: more than 2^63-1 elements",
                             tide_shape_str(src, a, sizeof a),
                             tide_shape_str_n(ndim, shape, b, sizeof b));
    return share_as(out, src, ndim, new_shape, stride);
}

/* ---------------------------------------------------------------- elements */

int64_t tide_elem_offset(const tide_tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++)
        off += idx[d] * t->stride[d];
    return off;
}

double tide_get_f64(const tide_tensor *t, const int64_t *idx)
{
    int64_t off = tide_elem_offset(t, idx);
    switch (t->dtype) {
#define GET_CASE(E, n, T) case E: return (double)((const T *)tide_data(t))[off];
        TIDE_FOREACH_DTYPE(GET_CASE)
#undef GET_CASE
    case TIDE_F16: case TIDE_BF16:
        return tide_half_to_f64(t->dtype, ((const uint16_t *)tide_data(t))[off]);
    }
    return 0;
}

int64_t tide_get_i64(const tide_tensor *t, const int64_t *idx)
{
    int64_t off = tide_elem_offset(t, idx);
    switch (t->dtype) {
#define GET_CASE(E, n, T) case E: return (int64_t)((const T *)tide_data(t))[off];
        TIDE_FOREACH_DTYPE(GET_CASE)
#undef GET_CASE
    case TIDE_F16: case TIDE_BF16:
        return (int64_t)tide_half_to_f64(t->dtype, ((const uint16_t *)tide_data(t))[off]);
    }
    return 0;
}

void tide_set_f64(tide_tensor *t, const int64_t *idx, double v)
{
    int64_t off = tide_elem_offset(t, idx);
    switch (t->dtype) {
#define SET_CASE(E, n, T) case E: ((T *)tide_data(t))[off] = (T)v; break;
        TIDE_FOREACH_DTYPE(SET_CASE)
#undef SET_CASE
    case TIDE_F16: case TIDE_BF16:
        ((uint16_t *)tide_data(t))[off] = tide_half_from_f64(t->dtype, v);
        break;
    }
}

void tide_set_i64(tide_tensor *t, const int64_t *idx, int64_t v)
{
    int64_t off = tide_elem_offset(t, idx);
    switch (t->dtype) {
#define SET_CASE(E, n, T) case E: ((T *)tide_data(t))[off] = (T)v; break;
        TIDE_FOREACH_DTYPE(SET_CASE)
#undef SET_CASE
    case TIDE_F16: case TIDE_BF16:
        ((uint16_t *)tide_data(t))[off] = tide_half_from_f64(t->dtype, (double)v);
        break;
    }
}

/* Byte range [lo, hi) that t can touch in its storage. */
static void span(const tide_tensor *t, intptr_t *lo, intptr_t *hi)
{
    int64_t es = (int64_t)tide_dtype_size(t->dtype);
    int64_t first = t->offset, last = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) {
            *lo = *hi = 0;
            return;
        }
        int64_t ext = (t->shape[d] - 1) * t->stride[d];
        if (ext < 0) first += ext; else last += ext;
    }
    *lo = (intptr_t)t->storage->data + (intptr_t)(first * es);
    *hi = (intptr_t)t->storage->data + (intptr_t)((last + 1) * es);
}

int tide_overlaps(const tide_tensor *a, const tide_tensor *b)
{
    if (!a->storage || !b->storage || a->storage->data != b->storage->data)
        return 0;
    intptr_t alo, ahi, blo, bhi;
    span(a, &alo, &ahi);
    span(b, &blo, &bhi);
    return alo < bhi && blo < ahi;
}
