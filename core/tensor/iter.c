/* iter.c — merging dims and stepping rows for tide_iter. */
#include "tensor/iter.h"

void tide_iter_init(tide_iter *it, int nargs, const tide_tensor *const *args)
{
    const tide_tensor *first = args[0];
    it->nargs = nargs;
    it->ndim = 0;
    int64_t total = 1;
    for (int d = 0; d < first->ndim; d++)
        total *= first->shape[d];

    /* Keep the dims of size > 1, merging each into the previous kept one when every operand
     * lays the two out back to back. */
    for (int d = 0; d < first->ndim; d++) {
        if (first->shape[d] == 1)
            continue;
        int n = it->ndim;
        int merge = n > 0;
        for (int k = 0; k < nargs && merge; k++) {
            int64_t es = (int64_t)tide_dtype_size(args[k]->dtype);
            merge = it->stride[k][n - 1] == args[k]->stride[d] * es * first->shape[d];
        }
        if (merge) {
            it->shape[n - 1] *= first->shape[d];
            for (int k = 0; k < nargs; k++)
                it->stride[k][n - 1] = args[k]->stride[d] * (int64_t)tide_dtype_size(args[k]->dtype);
        } else {
            it->shape[n] = first->shape[d];
            for (int k = 0; k < nargs; k++)
                it->stride[k][n] = args[k]->stride[d] * (int64_t)tide_dtype_size(args[k]->dtype);
            it->ndim++;
        }
    }
    if (it->ndim == 0) {            /* a scalar, or every dim of size 1 */
        it->ndim = 1;
        it->shape[0] = 1;
        for (int k = 0; k < nargs; k++)
            it->stride[k][0] = (int64_t)tide_dtype_size(args[k]->dtype);
    }
    for (int k = 0; k < nargs; k++)
        it->base[k] = args[k]->storage ? tide_data(args[k]) : 0;
    for (int d = 0; d < it->ndim; d++)
        it->idx[d] = 0;
    it->inner = it->shape[it->ndim - 1];
    for (int k = 0; k < nargs; k++)
        it->inner_stride[k] = it->stride[k][it->ndim - 1];
    it->rows_left = total == 0 ? 0 : total / it->inner;
}

int tide_iter_next(tide_iter *it)
{
    if (it->rows_left == 0)
        return 0;
    for (int k = 0; k < it->nargs; k++) {
        char *p = it->base[k];
        for (int d = 0; d < it->ndim - 1; d++)
            p += it->idx[d] * it->stride[k][d];
        it->ptr[k] = p;
    }
    /* advance the outer index like an odometer */
    for (int d = it->ndim - 2; d >= 0; d--) {
        if (++it->idx[d] < it->shape[d])
            break;
        it->idx[d] = 0;
    }
    it->rows_left--;
    return 1;
}
