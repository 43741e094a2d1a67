/* random.c — Philox4x32-10 streams, the fills that draw from them, and ranges. */
#include "ops/random.h"

#include <math.h>
#include <stdlib.h>

#include "tensor/iter.h"
#include "tensor/size.h"

#define TWO_PI 6.283185307179586476925286766559

/* ---------------------------------------------------------------- Philox4x32-10 */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u   /* key bumps: the golden ratio and sqrt(3) - 1 */
#define PHILOX_W1 0xBB67AE85u

void tide_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint64_t tide_random_key(uint64_t seed, uint64_t stream)
{
    /* A fixed key ("tide", "keys") turns (seed, stream) into a key; Philox is a bijection of
     * the counter for a fixed key, so distinct pairs give distinct 128-bit blocks. */
    static const uint32_t derive[2] = {0x74696465u, 0x6b657973u};
    uint32_t ctr[4] = {(uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t out[4];
    tide_philox4x32(ctr, derive, out);
    return (uint64_t)out[0] | (uint64_t)out[1] << 32;
}

static inline void bits_at(uint64_t key, uint64_t counter, uint64_t *w0, uint64_t *w1)
{
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint32_t out[4];
    tide_philox4x32(ctr, k, out);
    *w0 = (uint64_t)out[0] | (uint64_t)out[1] << 32;
    *w1 = (uint64_t)out[2] | (uint64_t)out[3] << 32;
}

void tide_random_bits(uint64_t key, uint64_t counter, uint64_t out[2])
{
    bits_at(key, counter, &out[0], &out[1]);
}

void tide_rng_seed(tide_rng *g, uint64_t seed, uint64_t stream)
{
    g->key = tide_random_key(seed, stream);
    g->counter = 0;
}

/* ---------------------------------------------------------------- values of one counter */

/* top `bits` bits of the first word as a fraction in [0, 1) */
static inline double uniform_at(uint64_t key, uint64_t c, int bits)
{
    uint64_t w0, w1;
    bits_at(key, c, &w0, &w1);
    return (double)(w0 >> (64 - bits)) * ldexp(1.0, -bits);
}

static inline double normal_at(uint64_t key, uint64_t c)
{
    uint64_t w0, w1;
    bits_at(key, c, &w0, &w1);
    double u1 = (double)((w0 >> 11) + 1) * 0x1p-53;   /* (0, 1]: log never sees 0 */
    double u2 = (double)(w1 >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

/* uniform in [0, range) by multiply-shift: no loop, so one counter per value always */
static inline uint64_t below_at(uint64_t key, uint64_t c, uint64_t range)
{
    uint64_t w0, w1;
    bits_at(key, c, &w0, &w1);
    return (uint64_t)(((unsigned __int128)w0 * range) >> 64);
}

/* Element i of tensor TT (row-major order, any strides) = (T)(EXPR), where EXPR reads the
 * counter c = FIRST + i. */
#define FILL_BY_COUNTER(T, TT, FIRST, EXPR)                                             \
    do {                                                                                \
        tide_iter it;                                                                   \
        const tide_tensor *args[1] = {TT};                                              \
        tide_iter_init(&it, 1, args);                                                   \
        uint64_t c = FIRST;                                                             \
        while (tide_iter_next(&it))                                                     \
            for (int64_t i = 0; i < it.inner; i++, c++)                                 \
                *(T *)(it.ptr[0] + i * it.inner_stride[0]) = (T)(EXPR);                 \
    } while (0)

static tide_status need_storage(const tide_tensor *t, const char *op)
{
    if (!t->storage)
        return tide_fail("%s: expected an allocated tensor, got an empty one", op);
    return TIDE_OK;
}

static tide_status need_float(const tide_tensor *t, const char *op)
{
    TIDE_TRY(need_storage(t, op));
    if (!tide_dtype_is_float(t->dtype))
        return tide_fail("%s: expected a float tensor (f32 or f64), got %s", op,
                         tide_dtype_name(t->dtype));
    return TIDE_OK;
}

static tide_status check_holds(tide_dtype dt, int64_t lo, int64_t hi, const char *op)
{
    int64_t dlo, dhi;
    tide_dtype_exact_range(dt, &dlo, &dhi);
    if (lo < dlo || hi > dhi)
        return tide_fail("%s: values %lld..%lld do not fit in %s", op, (long long)lo,
                         (long long)hi, tide_dtype_name(dt));
    return TIDE_OK;
}

tide_status tide_random_uniform(tide_tensor *t, uint64_t key, uint64_t first, double a, double b)
{
    TIDE_TRY(need_float(t, "uniform"));
    if (!(a <= b) || !isfinite(a) || !isfinite(b))
        return tide_fail("uniform: expected finite a <= b, got a = %g, b = %g", a, b);
    double width = b - a;
    /* as many random bits as the dtype's mantissa holds */
    switch (t->dtype) {
#define UNIFORM_CASE(E, n, T)                                                                   \
    case E:                                                                                     \
        FILL_BY_COUNTER(T, t, first, a + width * uniform_at(key, c, TIDE_DTYPE_COL(n, digits))); \
        break;
        TIDE_FOREACH_FLOAT_DTYPE(UNIFORM_CASE)
#undef UNIFORM_CASE
    default: break;   /* need_float refused the rest */
    }
    return TIDE_OK;
}

tide_status tide_random_normal(tide_tensor *t, uint64_t key, uint64_t first, double mean,
                               double std)
{
    TIDE_TRY(need_float(t, "normal"));
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return tide_fail("normal: expected a finite mean and std >= 0, got mean = %g, std = %g",
                         mean, std);
    switch (t->dtype) {
#define NORMAL_CASE(E, n, T) \
    case E: FILL_BY_COUNTER(T, t, first, mean + std * normal_at(key, c)); break;
        TIDE_FOREACH_FLOAT_DTYPE(NORMAL_CASE)
#undef NORMAL_CASE
    default: break;   /* need_float refused the rest */
    }
    return TIDE_OK;
}

tide_status tide_random_int(tide_tensor *t, uint64_t key, uint64_t first, int64_t low,
                            int64_t high)
{
    TIDE_TRY(need_storage(t, "randint"));
    if (low >= high)
        return tide_fail("randint: expected low < high, got low = %lld, high = %lld",
                         (long long)low, (long long)high);
    TIDE_TRY(check_holds(t->dtype, low, high - 1, "randint"));
    uint64_t range = (uint64_t)high - (uint64_t)low;
    switch (t->dtype) {
#define INT_CASE(E, n, T)                                                               \
    case E: FILL_BY_COUNTER(T, t, first, (int64_t)((uint64_t)low + below_at(key, c, range))); break;
        TIDE_FOREACH_DTYPE(INT_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef INT_CASE
    }
    return TIDE_OK;
}

tide_status tide_random_perm(tide_tensor *t, uint64_t key, uint64_t first, int64_t base)
{
    TIDE_TRY(need_storage(t, "randperm"));
    if (t->ndim != 1) {
        char s[TIDE_SHAPE_BUF];
        return tide_fail("randperm: expected a 1-D tensor, got %s", tide_shape_str(t, s, sizeof s));
    }
    int64_t n = t->shape[0];
    if (n == 0)
        return TIDE_OK;
    int64_t last;
    if (!tide_add_fits(base, n - 1, &last))
        return tide_fail("randperm: %lld values from %lld go past 2^63-1", (long long)n,
                         (long long)base);
    TIDE_TRY(check_holds(t->dtype, base, last, "randperm"));
    void *buf;   /* t may be a view of any size (an expanded one): the bytes are checked */
    TIDE_TRY(tide_alloc_array(&buf, n, sizeof(int64_t), "randperm"));
    int64_t *p = buf;
    for (int64_t i = 0; i < n; i++)
        p[i] = base + i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below_at(key, first + (uint64_t)i, (uint64_t)i + 1);
        int64_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    tide_tensor src = TIDE_TENSOR_EMPTY;
    tide_status st = tide_tensor_wrap(&src, p, TIDE_I64, 1, &n, NULL, NULL);
    if (st == TIDE_OK)
        st = tide_copy(t, &src);
    tide_tensor_release(&src);
    free(p);
    return st;
}

tide_status tide_rng_uniform(tide_rng *g, tide_tensor *t, double a, double b)
{
    TIDE_TRY(tide_random_uniform(t, g->key, g->counter, a, b));
    tide_rng_advance(g, (uint64_t)tide_numel(t));
    return TIDE_OK;
}

tide_status tide_rng_normal(tide_rng *g, tide_tensor *t, double mean, double std)
{
    TIDE_TRY(tide_random_normal(t, g->key, g->counter, mean, std));
    tide_rng_advance(g, (uint64_t)tide_numel(t));
    return TIDE_OK;
}

tide_status tide_rng_int(tide_rng *g, tide_tensor *t, int64_t low, int64_t high)
{
    TIDE_TRY(tide_random_int(t, g->key, g->counter, low, high));
    tide_rng_advance(g, (uint64_t)tide_numel(t));
    return TIDE_OK;
}

tide_status tide_rng_perm(tide_rng *g, tide_tensor *t, int64_t base)
{
    TIDE_TRY(tide_random_perm(t, g->key, g->counter, base));
    tide_rng_advance(g, (uint64_t)tide_numel(t));
    return TIDE_OK;
}

/* ---------------------------------------------------------------- ranges */

/* The integers dtype's values may take without wrapping, as doubles. */
static tide_status check_fits(tide_dtype dt, double lo, double hi, const char *op)
{
    if (tide_dtype_is_float(dt))
        return TIDE_OK;
    int64_t dlo, dhi;
    tide_dtype_exact_range(dt, &dlo, &dhi);
    /* (double)INT64_MAX rounds up to 2^63, which i64 cannot hold: hi must also stay below
     * dhi + 1 (2^63 again, as a double) */
    if (lo < (double)dlo || hi > (double)dhi || hi >= (double)dhi + 1.0)
        return tide_fail("%s: values %g..%g do not fit in %s", op, lo, hi, tide_dtype_name(dt));
    return TIDE_OK;
}

static tide_status prepare_1d(tide_tensor *out, tide_dtype dtype, int64_t n, const char *op)
{
    return tide_prepare_out(out, dtype, 1, &n, op);
}

tide_status tide_arange(tide_tensor *out, tide_dtype dtype, double start, double stop,
                        double step)
{
    if (!isfinite(start) || !isfinite(stop) || !isfinite(step))
        return tide_fail("arange: start, stop and step must be finite, got %g, %g, %g", start,
                         stop, step);
    if (step == 0)
        return tide_fail("arange: step must be nonzero");
    double count = ceil((stop - start) / step);
    if (count < 0)
        return tide_fail("arange: step %g goes away from stop (start %g, stop %g)", step, start,
                         stop);
    if (count > 0x1p53)
        return tide_fail("arange: too many elements (%g)", count);
    int64_t n = (int64_t)count;
    if (n > 0) {
        double last = start + (double)(n - 1) * step;
        TIDE_TRY(check_fits(dtype, fmin(start, last), fmax(start, last), "arange"));
    }
    TIDE_TRY(prepare_1d(out, dtype, n, "arange"));
    switch (dtype) {
#define ARANGE_CASE(E, nm, T) case E: FILL_BY_COUNTER(T, out, 0, start + (double)c * step); break;
        TIDE_FOREACH_DTYPE(ARANGE_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef ARANGE_CASE
    }
    return TIDE_OK;
}

tide_status tide_arange_int(tide_tensor *out, tide_dtype dtype, int64_t start, int64_t stop,
                            int64_t step)
{
    if (step == 0)
        return tide_fail("arange: step must be nonzero");
    if ((step > 0 && stop < start) || (step < 0 && stop > start))
        return tide_fail("arange: step %lld goes away from stop (start %lld, stop %lld)",
                         (long long)step, (long long)start, (long long)stop);
    /* distance and step as unsigned magnitudes: exact even across the whole int64 range */
    uint64_t dist = step > 0 ? (uint64_t)stop - (uint64_t)start : (uint64_t)start - (uint64_t)stop;
    uint64_t mag = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
    uint64_t count = dist / mag + (dist % mag != 0);
    if (count > (uint64_t)INT64_MAX)
        return tide_fail("arange: too many elements");
    int64_t n = (int64_t)count;
    if (n > 0) {
        int64_t last = (int64_t)((uint64_t)start + (uint64_t)(n - 1) * (uint64_t)step);
        TIDE_TRY(check_holds(dtype, start < last ? start : last, start < last ? last : start,
                             "arange"));
    }
    TIDE_TRY(prepare_1d(out, dtype, n, "arange"));
    switch (dtype) {
#define ARANGE_CASE(E, nm, T)                                                           \
    case E: FILL_BY_COUNTER(T, out, 0, (int64_t)((uint64_t)start + c * (uint64_t)step)); break;
        TIDE_FOREACH_DTYPE(ARANGE_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef ARANGE_CASE
    }
    return TIDE_OK;
}

tide_status tide_linspace(tide_tensor *out, tide_dtype dtype, double a, double b, int64_t n)
{
    if (n < 0)
        return tide_fail("linspace: expected n >= 0 points, got %lld", (long long)n);
    if (n > 0)
        TIDE_TRY(check_fits(dtype, fmin(a, b), fmax(a, b), "linspace"));
    TIDE_TRY(prepare_1d(out, dtype, n, "linspace"));
    double step = n > 1 ? (b - a) / (double)(n - 1) : 0;
    uint64_t half = ((uint64_t)n + 1) / 2;
    /* from a for the first half and back from b for the second, so both ends are exact */
    switch (dtype) {
#define LINSPACE_CASE(E, nm, T)                                                         \
    case E:                                                                             \
        FILL_BY_COUNTER(T, out, 0, c < half ? a + (double)c * step                              \
                                    : b - (double)((uint64_t)n - 1 - c) * step);        \
        break;
        TIDE_FOREACH_DTYPE(LINSPACE_CASE)
        TIDE_STORAGE_DTYPE_CASES break;
#undef LINSPACE_CASE
    }
    return TIDE_OK;
}

tide_status tide_eye(tide_tensor *out, tide_dtype dtype, int64_t n, int64_t m)
{
    if (n < 0 || m < 0)
        return tide_fail("eye: expected sizes >= 0, got %lldx%lld", (long long)n, (long long)m);
    int64_t shape[2] = {n, m};
    TIDE_TRY(tide_prepare_out(out, dtype, 2, shape, "eye"));
    TIDE_TRY(tide_fill(out, 0));
    for (int64_t i = 0; i < n && i < m; i++) {
        int64_t idx[2] = {i, i};
        tide_set_i64(out, idx, 1);
    }
    return TIDE_OK;
}

/* ---------------------------------------------------------------- bernoulli, multinomial */

tide_status tide_rng_bernoulli(tide_rng *g, tide_tensor *out, const tide_tensor *p)
{
    TIDE_TRY(need_float(p, "bernoulli"));
    tide_tensor f = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&f, p, TIDE_F64));
    const double *pr = tide_data(&f);
    int64_t n = tide_numel(&f);
    for (int64_t i = 0; i < n; i++)
        if (!(pr[i] >= 0 && pr[i] <= 1)) {
            double bad = pr[i];
            tide_tensor_release(&f);
            return tide_fail("bernoulli: probability %g at element %lld is not in [0, 1]", bad,
                             (long long)i + 1);
        }
    tide_status st = tide_tensor_alloc(out, p->dtype, p->ndim, p->shape);
    if (st == TIDE_OK) {
        tide_tensor flat = TIDE_TENSOR_EMPTY;
        uint64_t key = g->key, first = g->counter;
        st = tide_tensor_alloc(&flat, TIDE_F64, p->ndim, p->shape);
        if (st == TIDE_OK) {
            double *o = tide_data(&flat);
            for (int64_t i = 0; i < n; i++)
                o[i] = uniform_at(key, first + (uint64_t)i, 53) < pr[i];
            st = tide_copy(out, &flat);
        }
        tide_tensor_release(&flat);
        if (st == TIDE_OK)
            tide_rng_advance(g, (uint64_t)n);
        else
            tide_tensor_release(out);
    }
    tide_tensor_release(&f);
    return st;
}

/* The index of the category whose cumulative weight interval holds u (cum ascending, total =
 * cum[k-1] > 0); categories of weight 0 are never picked. */
static int64_t pick_category(const double *cum, int64_t k, double u)
{
    int64_t lo = 0, hi = k - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* n draws from one row of k weights w (scratch cum of k) into o, counters from c. */
static void draw_row(double *w, double *cum, int64_t k, int64_t n, int replacement,
                     uint64_t key, uint64_t c, int64_t *o)
{
    for (int64_t j = 0; j < n; j++) {
        if (j == 0 || !replacement) {
            double s = 0;
            for (int64_t i = 0; i < k; i++)
                cum[i] = s += w[i];
        }
        double u = uniform_at(key, c + (uint64_t)j, 53) * cum[k - 1];
        /* the first category with cum > u >= its predecessor's cum has weight > 0 */
        int64_t pick = pick_category(cum, k, u);
        o[j] = pick;
        if (!replacement)
            w[pick] = 0;
    }
}

tide_status tide_rng_multinomial(tide_rng *g, tide_tensor *out, const tide_tensor *w, int64_t n,
                                 int replacement)
{
    char s[TIDE_SHAPE_BUF];
    TIDE_TRY(need_storage(w, "multinomial"));
    if (w->ndim < 1 || w->ndim > 2 || w->shape[w->ndim - 1] == 0)
        return tide_fail("multinomial: expected a 1-D or 2-D tensor of weights with at least one "
                         "category, got %s", tide_shape_str(w, s, sizeof s));
    if (n < 0)
        return tide_fail("multinomial: number of samples %lld is negative", (long long)n);
    int64_t rows = w->ndim == 2 ? w->shape[0] : 1, k = w->shape[w->ndim - 1];
    tide_tensor f = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_cast(&f, w, TIDE_F64));
    double *wt = tide_data(&f);
    tide_status st = TIDE_OK;
    for (int64_t r = 0; r < rows && st == TIDE_OK; r++) {
        int64_t positive = 0;
        for (int64_t i = 0; i < k && st == TIDE_OK; i++) {
            double v = wt[r * k + i];
            if (!(v >= 0) || isinf(v))
                st = tide_fail("multinomial: weight %g (row %lld, category %lld) is not a "
                               "finite number >= 0", v, (long long)r + 1, (long long)i + 1);
            positive += v > 0;
        }
        if (st == TIDE_OK && positive == 0)
            st = tide_fail("multinomial: row %lld has no category of positive weight",
                           (long long)r + 1);
        if (st == TIDE_OK && !replacement && n > positive)
            st = tide_fail("multinomial: cannot draw %lld without replacement from row %lld, "
                           "which has %lld categories of positive weight", (long long)n,
                           (long long)r + 1, (long long)positive);
    }
    double *cum = st == TIDE_OK ? malloc((size_t)k * sizeof *cum) : NULL;
    if (st == TIDE_OK && !cum)
        st = tide_fail("multinomial: out of memory");
    int64_t shape[2] = {rows, n};
    if (st == TIDE_OK)
        st = w->ndim == 2 ? tide_tensor_alloc(out, TIDE_I64, 2, shape)
                          : tide_tensor_alloc(out, TIDE_I64, 1, &n);
    if (st == TIDE_OK) {
        int64_t *o = tide_data(out);
        for (int64_t r = 0; r < rows; r++)
            draw_row(wt + r * k, cum, k, n, replacement, g->key,
                     g->counter + (uint64_t)(r * n), o + r * n);
        tide_rng_advance(g, (uint64_t)(rows * n));
    }
    free(cum);
    tide_tensor_release(&f);
    return st;
}
