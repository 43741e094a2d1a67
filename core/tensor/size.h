/* size.h — checked arithmetic for every element count, byte count, stride and range.
 *
 * Sizes come from scripts and files, so any product or sum of them can exceed int64_t (and
 * a byte count wrapped to a small number hands out a block far smaller than the tensor).
 * Every size the core computes goes through these: an overflow is an error naming the
 * operation and the shape, never a wrapped value. */
#ifndef TIDE_SIZE_H
#define TIDE_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/tide_error.h"

/* *out = a * b (a + b); 0 when the exact result does not fit in int64_t. */
static inline int tide_mul_fits(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline int tide_add_fits(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Is [start, start + length) inside [0, size)? start, length >= 0 and no overflow. */
static inline int tide_range_ok(int64_t start, int64_t length, int64_t size)
{
    return start >= 0 && length >= 0 && start <= size && length <= size - start;
}

/* Checks a shape for a tensor of dtype: 0..TIDE_MAX_DIMS dims, none negative, and every
 * contiguous stride in bytes representable (the product of the dims, each counted as at least
 * 1 so that a zero dim does not hide the others, times the element size, fits in int64_t).
 * numel (may be NULL) gets the element count. op names the caller in the message. */
tide_status tide_shape_check(int ndim, const int64_t *shape, tide_dtype dtype, const char *op,
                             int64_t *numel);

/* *bytes = n * elem, failing (naming op and n) when n < 0 or the product does not fit. */
tide_status tide_array_bytes(int64_t n, size_t elem, const char *op, size_t *bytes);

/* malloc of n elements of elem bytes each (at least one byte, so n == 0 still gives a block
 * to free); fails with "op: out of memory ..." naming the byte count, or with the overflow
 * error of tide_array_bytes. *p is NULL on failure. */
tide_status tide_alloc_array(void **p, int64_t n, size_t elem, const char *op);

/* Whether a block of bytes can exist here: more than the machine's memory and swap together
 * cannot, and is refused before malloc sees it (under overcommit malloc would say yes and the
 * first touch would kill the process; AddressSanitizer aborts on such sizes). */
int tide_bytes_possible(size_t bytes);

#endif
