/* ops_sort.c — a stable radix sort on order-preserving keys, and the ops built on it. */
#include "ops/sort.h"

#include "tensor/iter.h"
#include "tensor/size.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- keys
 * Each value maps to an unsigned key whose unsigned order is the order of ops_sort.h: flip
 * the sign bit of integers; for floats flip every bit of negatives and the sign bit of the
 * rest (after mapping -0.0 to 0.0 and every NaN to one positive NaN, above +inf). */

/* The float keys differ by more than the type: each reads its own IEEE-754 layout. */
static inline uint64_t key_f32(float v)
{
    uint32_t u;
    if (v != v)
        u = 0x7fc00000u;
    else if (v == 0)
        u = 0;
    else
        memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? (uint32_t)~u : (u | 0x80000000u);
}

static inline uint64_t key_f64(double v)
{
    uint64_t u;
    if (v != v)
        u = 0x7ff8000000000000ull;
    else if (v == 0)
        u = 0;
    else
        memcpy(&u, &v, sizeof u);
    return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

/* An integer's distance from the bottom of its range (the sign bit flipped, for a signed one). */
#define INT_KEY(E, name, T)                                                           \
    static inline uint64_t key_##name(T v)                                            \
    {                                                                                 \
        return (uint64_t)(int64_t)v - (uint64_t)(int64_t)TIDE_DTYPE_COL(name, lo);    \
    }
TIDE_FOREACH_INT_DTYPE(INT_KEY)
#undef INT_KEY

/* keys[i] = key(p[i * stride]) (stride in bytes), complemented when descending. */
static void load_keys(uint64_t *keys, const char *p, int64_t stride, int64_t n, tide_dtype dt,
                      int descending)
{
    uint64_t flip = descending ? ~0ull : 0;
    switch (dt) {
#define LOAD_CASE(E, name, T)                                          \
    case E:                                                            \
        for (int64_t i = 0; i < n; i++)                                \
            keys[i] = key_##name(*(const T *)(p + i * stride)) ^ flip; \
        break;
        TIDE_FOREACH_DTYPE(LOAD_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef LOAD_CASE
    }
}

/* dst[j * ds] = src[perm[j] * ss] for j < n (strides in bytes): moves bits, so it switches on
 * the element size rather than the dtype. */
static void gather_elems(char *dst, int64_t ds, const char *src, int64_t ss, const int64_t *perm,
                         int64_t n, size_t es)
{
#define GATHER(T)                                                            \
    for (int64_t j = 0; j < n; j++)                                          \
        *(T *)(dst + j * ds) = *(const T *)(src + perm[j] * ss);             \
    break;
    switch (es) {
    case 1: GATHER(uint8_t)
    case 4: GATHER(uint32_t)
    default: GATHER(uint64_t)
    }
#undef GATHER
}

static void store_indices(char *dst, int64_t ds, const int64_t *perm, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        *(int64_t *)(dst + j * ds) = perm[j];
}

/* ---------------------------------------------------------------- the sort */

static void insertion_sort(uint64_t *k, int64_t *p, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        uint64_t key = k[i];
        int64_t idx = p[i], j = i;
        for (; j > 0 && k[j - 1] > key; j--) {
            k[j] = k[j - 1];
            p[j] = p[j - 1];
        }
        k[j] = key;
        p[j] = idx;
    }
}

/* Sorts (k, p) by k, stably, using k2 and p2 (n entries each) as scratch. LSD radix on bytes:
 * one pass builds all eight histograms; a byte every key shares is skipped, so 32-bit keys
 * and small ranges cost fewer passes. */
static void radix_sort(uint64_t *k, int64_t *p, uint64_t *k2, int64_t *p2, int64_t n)
{
    if (n <= 32) {
        insertion_sort(k, p, n);
        return;
    }
    static const int BYTES = 8;
    int64_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = k[i];
        for (int b = 0; b < BYTES; b++)
            hist[b][(key >> (8 * b)) & 255]++;
    }
    uint64_t *ks = k, *kd = k2;
    int64_t *ps = p, *pd = p2;
    for (int b = 0; b < BYTES; b++) {
        int shift = 8 * b;
        if (hist[b][(ks[0] >> shift) & 255] == n)
            continue;
        int64_t off[256], sum = 0;
        for (int d = 0; d < 256; d++) {
            off[d] = sum;
            sum += hist[b][d];
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t at = off[(ks[i] >> shift) & 255]++;
            kd[at] = ks[i];
            pd[at] = ps[i];
        }
        uint64_t *kt = ks; ks = kd; kd = kt;
        int64_t *pt = ps; ps = pd; pd = pt;
    }
    if (ks != k) {
        memcpy(k, ks, (size_t)n * sizeof *k);
        memcpy(p, ps, (size_t)n * sizeof *p);
    }
}

/* Scratch for sorting slices of up to n elements. */
typedef struct {
    uint64_t *k, *k2;
    int64_t *p, *p2;
} sort_buf;

static tide_status buf_alloc(sort_buf *b, int64_t n, const char *op)
{
    void *k = NULL, *k2 = NULL, *p = NULL, *p2 = NULL;
    /* n may be a view's dim (an expanded one is any size): the byte counts are checked */
    tide_status st = tide_alloc_array(&k, n, sizeof *b->k, op);
    if (st == TIDE_OK)
        st = tide_alloc_array(&k2, n, sizeof *b->k2, op);
    if (st == TIDE_OK)
        st = tide_alloc_array(&p, n, sizeof *b->p, op);
    if (st == TIDE_OK)
        st = tide_alloc_array(&p2, n, sizeof *b->p2, op);
    if (st != TIDE_OK) {
        free(k); free(k2); free(p); free(p2);
        return st;
    }
    b->k = k, b->k2 = k2, b->p = p, b->p2 = p2;
    return TIDE_OK;
}

static void buf_free(sort_buf *b)
{
    free(b->k); free(b->k2); free(b->p); free(b->p2);
}

/* Keys of one slice sorted with their positions, into b->k / b->p. */
static void sort_slice(sort_buf *b, const char *src, int64_t stride, int64_t n, tide_dtype dt,
                       int descending)
{
    load_keys(b->k, src, stride, n, dt, descending);
    for (int64_t i = 0; i < n; i++)
        b->p[i] = i;
    radix_sort(b->k, b->p, b->k2, b->p2, n);
}

/* ---------------------------------------------------------------- walking slices along a dim */

/* t without dim: a borrowed view (no reference taken) whose elements are the slice starts. */
static tide_tensor drop_dim(const tide_tensor *t, int dim)
{
    tide_tensor v = *t;
    for (int d = dim; d < t->ndim - 1; d++) {
        v.shape[d] = t->shape[d + 1];
        v.stride[d] = t->stride[d + 1];
    }
    v.ndim--;
    return v;
}

/* Calls fn for each slice along dim of up to three same-shaped-except-dim tensors (NULL
 * entries are skipped and get NULL pointers). */
typedef void (*slice_fn)(void *ctx, const char *src, char *vals, char *idx);

static void for_each_slice(const tide_tensor *t, tide_tensor *vals, tide_tensor *idx, int dim,
                           slice_fn fn, void *ctx)
{
    tide_tensor views[3];
    const tide_tensor *args[3];
    int slot[3] = {-1, -1, -1}, n = 0;
    const tide_tensor *all[3] = {t, vals, idx};
    for (int k = 0; k < 3; k++)
        if (all[k]) {
            views[n] = drop_dim(all[k], dim);
            args[n] = &views[n];
            slot[k] = n++;
        }
    tide_iter it;
    tide_iter_init(&it, n, args);
    while (tide_iter_next(&it))
        for (int64_t i = 0; i < it.inner; i++) {
            char *p[3];
            for (int k = 0; k < 3; k++)
                p[k] = slot[k] < 0 ? NULL : it.ptr[slot[k]] + i * it.inner_stride[slot[k]];
            fn(ctx, p[0], p[1], p[2]);
        }
}

static tide_status check_dim(const tide_tensor *t, int dim, const char *op)
{
    if (dim < 0 || dim >= t->ndim)
        return tide_fail("%s: dim %d out of range for a %d-dim tensor", op, dim + 1, t->ndim);
    return TIDE_OK;
}

/* Prepares values (t's dtype) and indices (i64) of t's shape with size k in dim. */
static tide_status prepare_pair(tide_tensor *values, tide_tensor *indices, const tide_tensor *t,
                                int dim, int64_t k, const char *op, int *made_v, int *made_i)
{
    int64_t shape[TIDE_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = k;
    *made_v = values && !values->storage;
    *made_i = indices && !indices->storage;
    if (values && tide_overlaps(values, t))
        return tide_fail("%s: the values output overlaps the input", op);
    if (indices && tide_overlaps(indices, t))
        return tide_fail("%s: the indices output overlaps the input", op);
    if (values && tide_prepare_out(values, t->dtype, t->ndim, shape, op) != TIDE_OK)
        return TIDE_FAIL;
    if (indices && tide_prepare_out(indices, TIDE_I64, t->ndim, shape, op) != TIDE_OK) {
        if (*made_v)
            tide_tensor_release(values);
        return TIDE_FAIL;
    }
    return TIDE_OK;
}

static void release_made(tide_tensor *values, tide_tensor *indices, int made_v, int made_i)
{
    if (made_v)
        tide_tensor_release(values);
    if (made_i)
        tide_tensor_release(indices);
}

typedef struct {
    sort_buf buf;
    const tide_tensor *t, *vals, *idx;
    int64_t n, k;           /* slice length, how many to write */
    int dim, descending;
} sort_ctx;

static void sort_one(void *vctx, const char *src, char *vals, char *idx)
{
    sort_ctx *c = vctx;
    int64_t es = (int64_t)tide_dtype_size(c->t->dtype);
    int64_t ss = c->t->stride[c->dim] * es;
    sort_slice(&c->buf, src, ss, c->n, c->t->dtype, c->descending);
    if (vals)
        gather_elems(vals, c->vals->stride[c->dim] * es, src, ss, c->buf.p, c->k, (size_t)es);
    if (idx)
        store_indices(idx, c->idx->stride[c->dim] * 8, c->buf.p, c->k);
}

tide_status tide_sort(tide_tensor *values, tide_tensor *indices, const tide_tensor *t, int dim,
                      int descending)
{
    TIDE_TRY(check_dim(t, dim, "sort"));
    int made_v, made_i;
    TIDE_TRY(prepare_pair(values, indices, t, dim, t->shape[dim], "sort", &made_v, &made_i));
    if (tide_numel(t) == 0 || (!values && !indices))
        return TIDE_OK;
    sort_ctx c = {.t = t, .vals = values, .idx = indices, .n = t->shape[dim],
                  .k = t->shape[dim], .dim = dim, .descending = descending};
    if (buf_alloc(&c.buf, c.n, "sort") != TIDE_OK) {
        release_made(values, indices, made_v, made_i);
        return TIDE_FAIL;
    }
    for_each_slice(t, values, indices, dim, sort_one, &c);
    buf_free(&c.buf);
    return TIDE_OK;
}

tide_status tide_argsort(tide_tensor *indices, const tide_tensor *t, int dim, int descending)
{
    return tide_sort(NULL, indices, t, dim, descending);
}

/* ---------------------------------------------------------------- topk */

/* (key, position) pairs in the order of the stable sort. */
static int pair_less(uint64_t ka, int64_t pa, uint64_t kb, int64_t pb)
{
    return ka < kb || (ka == kb && pa < pb);
}

static void sift_down(uint64_t *hk, int64_t *hp, int64_t k, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < k && pair_less(hk[top], hp[top], hk[l], hp[l]))
            top = l;
        if (r < k && pair_less(hk[top], hp[top], hk[r], hp[r]))
            top = r;
        if (top == i)
            return;
        uint64_t tk = hk[i]; hk[i] = hk[top]; hk[top] = tk;
        int64_t tp = hp[i]; hp[i] = hp[top]; hp[top] = tp;
        i = top;
    }
}

/* The k least (key, position) pairs of b->k[0..n) into b->k2/b->p2 [0..k), sorted: a max-heap
 * of the k best so far, O(n log k). The positions are distinct, so the order is total and the
 * result is the head of the stable sort. */
static void heap_select(sort_buf *b, int64_t n, int64_t k)
{
    uint64_t *hk = b->k2;
    int64_t *hp = b->p2;
    for (int64_t i = 0; i < k; i++) {
        hk[i] = b->k[i];
        hp[i] = i;
    }
    for (int64_t i = k / 2 - 1; i >= 0; i--)
        sift_down(hk, hp, k, i);
    for (int64_t i = k; i < n; i++)
        if (pair_less(b->k[i], i, hk[0], hp[0])) {
            hk[0] = b->k[i];
            hp[0] = i;
            sift_down(hk, hp, k, 0);
        }
    /* pop the heap from the back: largest first, so the tail fills in order */
    for (int64_t end = k - 1; end > 0; end--) {
        uint64_t tk = hk[0]; hk[0] = hk[end]; hk[end] = tk;
        int64_t tp = hp[0]; hp[0] = hp[end]; hp[end] = tp;
        sift_down(hk, hp, end, 0);
    }
}

static void topk_one(void *vctx, const char *src, char *vals, char *idx)
{
    sort_ctx *c = vctx;
    int64_t es = (int64_t)tide_dtype_size(c->t->dtype);
    int64_t ss = c->t->stride[c->dim] * es;
    const int64_t *perm;
    if (c->k * 8 <= c->n && c->n > 64) {
        load_keys(c->buf.k, src, ss, c->n, c->t->dtype, c->descending);
        heap_select(&c->buf, c->n, c->k);
        perm = c->buf.p2;
    } else {
        sort_slice(&c->buf, src, ss, c->n, c->t->dtype, c->descending);
        perm = c->buf.p;
    }
    if (vals)
        gather_elems(vals, c->vals->stride[c->dim] * es, src, ss, perm, c->k, (size_t)es);
    if (idx)
        store_indices(idx, c->idx->stride[c->dim] * 8, perm, c->k);
}

tide_status tide_topk(tide_tensor *values, tide_tensor *indices, const tide_tensor *t, int64_t k,
                      int dim, int largest)
{
    TIDE_TRY(check_dim(t, dim, "topk"));
    if (k < 0 || k > t->shape[dim])
        return tide_fail("topk: k %lld out of range for size %lld in dim %d", (long long)k,
                         (long long)t->shape[dim], dim + 1);
    int made_v, made_i;
    TIDE_TRY(prepare_pair(values, indices, t, dim, k, "topk", &made_v, &made_i));
    if (tide_numel(t) == 0 || k == 0 || (!values && !indices))
        return TIDE_OK;
    sort_ctx c = {.t = t, .vals = values, .idx = indices, .n = t->shape[dim], .k = k,
                  .dim = dim, .descending = largest};
    if (buf_alloc(&c.buf, c.n, "topk") != TIDE_OK) {
        release_made(values, indices, made_v, made_i);
        return TIDE_FAIL;
    }
    for_each_slice(t, values, indices, dim, topk_one, &c);
    buf_free(&c.buf);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- unique */

/* The outputs unique fills, of groups distinct values; on failure none is left allocated. */
static tide_status prepare_unique(tide_tensor *values, tide_tensor *inverse, tide_tensor *counts,
                                  const tide_tensor *t, int64_t groups)
{
    int made_v = values && !values->storage, made_c = counts && !counts->storage;
    tide_status st = TIDE_OK;
    if (values)
        st = tide_prepare_out(values, t->dtype, 1, &groups, "unique");
    if (st == TIDE_OK && counts)
        st = tide_prepare_out(counts, TIDE_I64, 1, &groups, "unique");
    if (st == TIDE_OK && inverse)
        st = tide_prepare_out(inverse, TIDE_I64, t->ndim, t->shape, "unique");
    if (st != TIDE_OK)
        release_made(values, counts, made_v, made_c);
    return st;
}

/* Walks the sorted keys of the contiguous c (in b) into the outputs. After the sort, k2 and p2
 * are free: first[g] is the input position of group g's first member (the sort is stable, so
 * the first in sorted order too), inv[i] the group of element i. */
static tide_status emit_unique(sort_buf *b, const tide_tensor *c, int64_t groups,
                               tide_tensor *values, tide_tensor *inverse, tide_tensor *counts)
{
    int64_t n = tide_numel(c), es = (int64_t)tide_dtype_size(c->dtype);
    int64_t *first = (int64_t *)b->k2, *inv = b->p2, g = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || b->k[i] != b->k[i - 1])
            first[++g] = b->p[i];
        inv[b->p[i]] = g;
    }
    if (values)
        gather_elems(tide_data(values), values->stride[0] * es, tide_data(c), es, first, groups,
                     (size_t)es);
    if (counts) {
        int64_t *cnt = (int64_t *)b->k;     /* the keys are no longer needed */
        memset(cnt, 0, (size_t)groups * sizeof *cnt);
        for (int64_t i = 0; i < n; i++)
            cnt[inv[i]]++;
        store_indices(tide_data(counts), counts->stride[0] * 8, cnt, groups);
    }
    tide_status st = TIDE_OK;
    if (inverse) {
        /* inv is in input (contiguous) order; the output may be strided */
        tide_tensor iv = TIDE_TENSOR_EMPTY;
        st = tide_tensor_wrap(&iv, inv, TIDE_I64, c->ndim, c->shape, NULL, NULL);
        if (st == TIDE_OK)
            st = tide_copy(inverse, &iv);
        tide_tensor_release(&iv);
    }
    return st;
}

tide_status tide_unique(tide_tensor *values, tide_tensor *inverse, tide_tensor *counts,
                        const tide_tensor *t)
{
    if ((inverse && tide_overlaps(inverse, t)) || (counts && tide_overlaps(counts, t)) ||
        (values && tide_overlaps(values, t)))
        return tide_fail("unique: an output overlaps the input");
    tide_tensor c = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&c, t));
    int64_t n = tide_numel(&c);
    sort_buf b;
    if (buf_alloc(&b, n, "unique") != TIDE_OK) {
        tide_tensor_release(&c);
        return TIDE_FAIL;
    }
    if (n > 0)
        sort_slice(&b, tide_data(&c), (int64_t)tide_dtype_size(c.dtype), n, c.dtype, 0);
    int64_t groups = n > 0;
    for (int64_t i = 1; i < n; i++)
        groups += b.k[i] != b.k[i - 1];
    tide_status st = prepare_unique(values, inverse, counts, t, groups);
    if (st == TIDE_OK)
        st = emit_unique(&b, &c, groups, values, inverse, counts);
    buf_free(&b);
    tide_tensor_release(&c);
    return st;
}

/* ---------------------------------------------------------------- searchsorted */

tide_status tide_searchsorted(tide_tensor *out, const tide_tensor *sorted,
                              const tide_tensor *values, int right)
{
    char s[TIDE_SHAPE_BUF];
    if (sorted->ndim != 1)
        return tide_fail("searchsorted: expected a 1-D sorted tensor, got %s",
                         tide_shape_str(sorted, s, sizeof s));
    if (sorted->dtype != values->dtype)
        return tide_fail("searchsorted: dtype mismatch, sorted is %s, values are %s",
                         tide_dtype_name(sorted->dtype), tide_dtype_name(values->dtype));
    if (out->storage && (tide_overlaps(out, sorted) || tide_overlaps(out, values)))
        return tide_fail("searchsorted: the output overlaps an input");
    TIDE_TRY(tide_prepare_out(out, TIDE_I64, values->ndim, values->shape, "searchsorted"));
    if (tide_numel(values) == 0)
        return TIDE_OK;
    int64_t n = sorted->shape[0];
    int64_t ss = sorted->stride[0] * (int64_t)tide_dtype_size(sorted->dtype);
    const char *base = tide_data(sorted);
    tide_iter it;
    const tide_tensor *args[2] = {values, out};
    tide_iter_init(&it, 2, args);
    /* binary search for the first p with key(sorted[p]) >= kv (left) or > kv (right) */
    switch (sorted->dtype) {
#define SEARCH_CASE(E, name, T)                                                       \
    case E:                                                                           \
        while (tide_iter_next(&it))                                                   \
            for (int64_t i = 0; i < it.inner; i++) {                                  \
                uint64_t kv = key_##name(*(const T *)(it.ptr[0] + i * it.inner_stride[0])); \
                int64_t lo = 0, hi = n;                                               \
                while (lo < hi) {                                                     \
                    int64_t mid = lo + (hi - lo) / 2;                                 \
                    uint64_t km = key_##name(*(const T *)(base + mid * ss));          \
                    if (km < kv || (right && km == kv))                               \
                        lo = mid + 1;                                                 \
                    else                                                              \
                        hi = mid;                                                     \
                }                                                                     \
                *(int64_t *)(it.ptr[1] + i * it.inner_stride[1]) = lo;                \
            }                                                                         \
        break;
        TIDE_FOREACH_DTYPE(SEARCH_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef SEARCH_CASE
    }
    return TIDE_OK;
}
