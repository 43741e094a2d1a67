/* iter.h — the one strided iterator every elementwise kernel uses.
 *
 * The operands (up to TIDE_ITER_MAX_ARGS, possibly of different dtypes) all have the same
 * shape; broadcast them first with tide_expand (stride 0). The iterator merges dims that are
 * laid out back to back, so a contiguous tensor of any shape is a single row, and hands out
 * one row at a time: `inner` elements starting at ptr[k] with byte stride inner_stride[k].
 * A kernel then runs a plain loop over the row, and a second, vectorisable loop when every
 * inner stride equals the element size. */
#ifndef TIDE_ITER_H
#define TIDE_ITER_H

#include "tensor/tensor.h"

#define TIDE_ITER_MAX_ARGS 4

typedef struct tide_iter {
    int nargs;
    int ndim;                                            /* after merging, >= 1 */
    int64_t shape[TIDE_MAX_DIMS];
    int64_t stride[TIDE_ITER_MAX_ARGS][TIDE_MAX_DIMS];   /* bytes */
    char *base[TIDE_ITER_MAX_ARGS];
    int64_t idx[TIDE_MAX_DIMS];                          /* position of the next row */
    int64_t rows_left;
    /* the current row, valid after tide_iter_next returned 1 */
    char *ptr[TIDE_ITER_MAX_ARGS];
    int64_t inner;
    int64_t inner_stride[TIDE_ITER_MAX_ARGS];
} tide_iter;

void tide_iter_init(tide_iter *it, int nargs, const tide_tensor *const *args);
int tide_iter_next(tide_iter *it);

/* Is every operand's row contiguous (byte stride == its element size)? */
static inline int tide_iter_row_contiguous(const tide_iter *it, const size_t *elem_size)
{
    for (int k = 0; k < it->nargs; k++)
        if (it->inner_stride[k] != (int64_t)elem_size[k])
            return 0;
    return 1;
}

#endif
