/* size.c — the checked size helpers of size.h and the machine's memory limit. */
#include "tensor/size.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/sysinfo.h>

#include "tensor/tensor.h"

tide_status tide_shape_check(int ndim, const int64_t *shape, tide_dtype dtype, const char *op,
                             int64_t *numel)
{
    if (ndim < 0 || ndim > TIDE_MAX_DIMS)
        return tide_fail("%s: %d dims requested, at most %d supported", op, ndim, TIDE_MAX_DIMS);
    int64_t n = 1, span = (int64_t)tide_dtype_size(dtype);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return tide_fail("%s: negative size %lld in dim %d", op, (long long)shape[d], d + 1);
    for (int d = 0; d < ndim; d++) {
        /* a zero dim makes numel 0 but leaves the strides of the dims before it as large as
         * the product of the others, so the span is checked with every dim counted as >= 1 */
        if (!tide_mul_fits(span, shape[d] > 1 ? shape[d] : 1, &span)) {
            char s[TIDE_SHAPE_BUF];
            return tide_fail("%s: shape %s of %s is too large (its size in bytes does not fit in"
                             " 64 bits)", op, tide_shape_str_n(ndim, shape, s, sizeof s),
                             tide_dtype_name(dtype));
        }
        n *= shape[d];   /* cannot overflow: |n| <= span */
    }
    if (numel)
        *numel = n;
    return TIDE_OK;
}

tide_status tide_array_bytes(int64_t n, size_t elem, const char *op, size_t *bytes)
{
    int64_t b;
    if (n < 0)
        return tide_fail("%s: negative element count %lld", op, (long long)n);
    if (elem > INT64_MAX || !tide_mul_fits(n, (int64_t)elem, &b))
        return tide_fail("%s: %lld elements of %zu bytes do not fit in 64 bits", op,
                         (long long)n, elem);
    *bytes = (size_t)b;
    return TIDE_OK;
}

/* RAM plus swap, read once (0 when sysinfo fails: then nothing is refused here). */
static size_t memory_total(void)
{
    static atomic_size_t total;
    size_t t = atomic_load(&total);
    if (t == 0) {
        struct sysinfo si;
        if (sysinfo(&si) != 0)
            return 0;
        unsigned long long units = (unsigned long long)si.totalram + si.totalswap;
        unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
        t = units > SIZE_MAX / unit ? SIZE_MAX : (size_t)(units * unit);
        atomic_store(&total, t);
    }
    return t;
}

int tide_bytes_possible(size_t bytes)
{
    /* small blocks never need the system call */
    if (bytes < ((size_t)1 << 30))
        return 1;
    size_t total = memory_total();
    return total == 0 || bytes <= total;
}

tide_status tide_alloc_array(void **p, int64_t n, size_t elem, const char *op)
{
    size_t bytes;
    *p = NULL;
    TIDE_TRY(tide_array_bytes(n, elem, op, &bytes));
    if (tide_bytes_possible(bytes))
        *p = malloc(bytes ? bytes : 1);
    if (!*p)
        return tide_fail("%s: out of memory allocating %zu bytes (%lld elements of %zu bytes)",
                         op, bytes, (long long)n, elem);
    return TIDE_OK;
}
