/* sparse.c — CSR matrices: building from triplets, layout changes, products (sparse.h).
 *
 * Building and transposing are counting sorts (O(nnz + rows + cols), no comparison sort):
 * triplets are bucketed by column, then stably by row, so each row comes out with its
 * columns ascending and duplicates side by side, ready to be summed. */
#include "linalg/sparse.h"

#include "tensor/size.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define I64(t) ((int64_t *)tide_data(t))

void tide_csr_release(tide_csr *s)
{
    tide_tensor_release(&s->rowptr);
    tide_tensor_release(&s->col);
    tide_tensor_release(&s->val);
}

static int is_vector(const tide_tensor *t, tide_dtype dt, int64_t n)
{
    return t->storage && t->dtype == dt && t->ndim == 1 && t->shape[0] == n &&
           tide_is_contiguous(t);
}

tide_status tide_csr_check(const tide_csr *s, int deep, const char *op)
{
    if (s->nrows < 0 || s->ncols < 0)
        return tide_fail("%s: a sparse matrix of negative size %lldx%lld", op,
                         (long long)s->nrows, (long long)s->ncols);
    if (!is_vector(&s->rowptr, TIDE_I64, s->nrows + 1))
        return tide_fail("%s: rowptr must be a contiguous 1-D i64 tensor of %lld entries", op,
                         (long long)s->nrows + 1);
    int64_t nnz = s->col.storage && s->col.ndim == 1 ? s->col.shape[0] : -1;
    if (nnz < 0 || !is_vector(&s->col, TIDE_I64, nnz))
        return tide_fail("%s: col must be a contiguous 1-D i64 tensor", op);
    if (!(is_vector(&s->val, TIDE_F32, nnz) || is_vector(&s->val, TIDE_F64, nnz)))
        return tide_fail("%s: val must be a contiguous 1-D f32 or f64 tensor of %lld entries",
                         op, (long long)nnz);
    const int64_t *rp = I64(&s->rowptr), *col = I64(&s->col);
    if (rp[0] != 0 || rp[s->nrows] != nnz)
        return tide_fail("%s: rowptr must run from 0 to %lld, got %lld to %lld", op,
                         (long long)nnz, (long long)rp[0], (long long)rp[s->nrows]);
    if (!deep)
        return TIDE_OK;
    for (int64_t i = 0; i < s->nrows; i++) {
        if (rp[i + 1] < rp[i])
            return tide_fail("%s: rowptr decreases at row %lld", op, (long long)i + 1);
        for (int64_t k = rp[i]; k < rp[i + 1]; k++) {
            if (col[k] < 0 || col[k] >= s->ncols)
                return tide_fail("%s: row %lld has column %lld, out of range 1..%lld", op,
                                 (long long)i + 1, (long long)col[k] + 1, (long long)s->ncols);
            if (k > rp[i] && col[k] <= col[k - 1])
                return tide_fail("%s: row %lld's columns are not sorted and unique", op,
                                 (long long)i + 1);
        }
    }
    return TIDE_OK;
}

static tide_status alloc_csr(tide_csr *out, int64_t nrows, int64_t ncols, int64_t nnz,
                             tide_dtype dt)
{
    out->nrows = nrows;
    out->ncols = ncols;
    int64_t nr = nrows + 1;
    if (tide_tensor_zeros(&out->rowptr, TIDE_I64, 1, &nr) != TIDE_OK ||
        tide_tensor_alloc(&out->col, TIDE_I64, 1, &nnz) != TIDE_OK ||
        tide_tensor_alloc(&out->val, dt, 1, &nnz) != TIDE_OK) {
        tide_csr_release(out);
        return TIDE_FAIL;
    }
    return TIDE_OK;
}

static tide_status check_out_empty(const tide_csr *out, const char *op)
{
    if (out->rowptr.storage || out->col.storage || out->val.storage)
        return tide_fail("%s: the result must be an empty sparse matrix", op);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- from triplets */

/* The triplets as contiguous i64 rows and cols and f64 values, range-checked. */
typedef struct {
    tide_tensor r, c, v;
} triplets;

static void triplets_release(triplets *t)
{
    tide_tensor_release(&t->r);
    tide_tensor_release(&t->c);
    tide_tensor_release(&t->v);
}

static tide_status check_triplets(const tide_tensor *rows, const tide_tensor *cols,
                                  const tide_tensor *vals, int64_t nrows, int64_t ncols)
{
    const char *op = "sparse.coo";
    if (nrows < 0 || ncols < 0)
        return tide_fail("%s: size must be non-negative, got %lldx%lld", op, (long long)nrows,
                         (long long)ncols);
    if (rows->ndim != 1 || cols->ndim != 1 || vals->ndim != 1)
        return tide_fail("%s: expected 1-D rows, cols and values, got %d-D, %d-D and %d-D", op,
                         rows->ndim, cols->ndim, vals->ndim);
    if (!tide_dtype_is_index(rows->dtype) || !tide_dtype_is_index(cols->dtype))
        return tide_fail("%s: rows and cols must be i32 or i64 tensors, got %s and %s", op,
                         tide_dtype_name(rows->dtype), tide_dtype_name(cols->dtype));
    if (!tide_dtype_is_float(vals->dtype))
        return tide_fail("%s: values must be an f32 or f64 tensor, got %s", op,
                         tide_dtype_name(vals->dtype));
    if (rows->shape[0] != vals->shape[0] || cols->shape[0] != vals->shape[0])
        return tide_fail("%s: rows, cols and values must have one length, got %lld, %lld and "
                         "%lld", op, (long long)rows->shape[0], (long long)cols->shape[0],
                         (long long)vals->shape[0]);
    return TIDE_OK;
}

static tide_status load_triplets(triplets *t, const tide_tensor *rows, const tide_tensor *cols,
                                 const tide_tensor *vals, int64_t nrows, int64_t ncols,
                                 int64_t base)
{
    if (tide_cast(&t->r, rows, TIDE_I64) != TIDE_OK || tide_cast(&t->c, cols, TIDE_I64) != TIDE_OK ||
        tide_cast(&t->v, vals, TIDE_F64) != TIDE_OK)
        return TIDE_FAIL;
    int64_t *r = I64(&t->r), *c = I64(&t->c);
    for (int64_t e = 0; e < t->r.shape[0]; e++) {
        int64_t ri = r[e], ci = c[e];   /* compared before subtracting: no overflow */
        if (ri < base || ri - base >= nrows || ci < base || ci - base >= ncols)
            return tide_fail("sparse.coo: entry %lld is (%lld, %lld), outside the %lldx%lld "
                             "matrix (indices %lld..%lld, %lld..%lld)", (long long)e + 1,
                             (long long)ri, (long long)ci, (long long)nrows, (long long)ncols,
                             (long long)base, (long long)(nrows - 1 + base), (long long)base,
                             (long long)(ncols - 1 + base));
        r[e] = ri - base;
        c[e] = ci - base;
    }
    return TIDE_OK;
}

/* order[] = the entries by (row, col), stably; start[] (nrows + 1) = where each row begins. */
static void sort_by_row_col(const int64_t *r, const int64_t *c, int64_t nnz, int64_t nrows,
                            int64_t ncols, int64_t *order, int64_t *by_col, int64_t *start,
                            int64_t *cstart)
{
    memset(cstart, 0, (size_t)(ncols + 1) * sizeof *cstart);
    for (int64_t e = 0; e < nnz; e++)
        cstart[c[e] + 1]++;
    for (int64_t j = 0; j < ncols; j++)
        cstart[j + 1] += cstart[j];
    for (int64_t e = 0; e < nnz; e++)
        by_col[cstart[c[e]]++] = e;
    memset(start, 0, (size_t)(nrows + 1) * sizeof *start);
    for (int64_t e = 0; e < nnz; e++)
        start[r[e] + 1]++;
    for (int64_t i = 0; i < nrows; i++)
        start[i + 1] += start[i];
    for (int64_t k = 0; k < nnz; k++) {   /* stable: columns stay ascending within a row */
        int64_t e = by_col[k];
        order[start[r[e]]++] = e;
    }
    memmove(start + 1, start, (size_t)nrows * sizeof *start);
    start[0] = 0;
}

/* Sums runs of one (row, col) in sorted order into out. */
#define FILL_CSR(E, name, T)                                                                   \
    case E: {                                                                                  \
        T *val = (T *)tide_data(&out->val);                                                    \
        int64_t k = 0;                                                                         \
        for (int64_t i = 0; i < nrows; i++) {                                                  \
            for (int64_t p = start[i]; p < start[i + 1];) {                                    \
                int64_t j = c[order[p]];                                                       \
                double sum = 0;                                                                \
                for (; p < start[i + 1] && c[order[p]] == j; p++)                              \
                    sum += v[order[p]];                                                        \
                col[k] = j;                                                                    \
                val[k++] = (T)sum;                                                             \
            }                                                                                  \
            rowptr[i + 1] = k;                                                                 \
        }                                                                                      \
        break;                                                                                 \
    }

static tide_status assemble(tide_csr *out, const triplets *t, int64_t nrows, int64_t ncols,
                            tide_dtype dt, int64_t *scratch)
{
    int64_t nnz = t->r.shape[0];
    const int64_t *r = I64(&t->r), *c = I64(&t->c);
    const double *v = tide_data(&t->v);
    int64_t *order = scratch, *by_col = order + nnz, *start = by_col + nnz;
    sort_by_row_col(r, c, nnz, nrows, ncols, order, by_col, start, start + nrows + 1);
    int64_t unique = 0;   /* entries after duplicates are summed */
    for (int64_t i = 0; i < nrows; i++)
        for (int64_t p = start[i]; p < start[i + 1]; p++)
            unique += p == start[i] || c[order[p]] != c[order[p - 1]];
    TIDE_TRY(alloc_csr(out, nrows, ncols, unique, dt));
    int64_t *rowptr = I64(&out->rowptr), *col = I64(&out->col);
    switch (dt) {
        TIDE_FOREACH_FLOAT_DTYPE(FILL_CSR)
    default: break;
    }
    return TIDE_OK;
}

tide_status tide_csr_from_coo(tide_csr *out, const tide_tensor *rows, const tide_tensor *cols,
                              const tide_tensor *vals, int64_t nrows, int64_t ncols,
                              int64_t base)
{
    TIDE_TRY(check_out_empty(out, "sparse.coo"));
    TIDE_TRY(check_triplets(rows, cols, vals, nrows, ncols));
    triplets t = {{0}, {0}, {0}};
    int64_t *scratch = NULL;
    int64_t nnz = vals->shape[0];
    tide_status st = load_triplets(&t, rows, cols, vals, nrows, ncols, base);
    if (st == TIDE_OK)
        st = tide_alloc_array((void **)&scratch, 2 * nnz + nrows + ncols + 2, sizeof(int64_t),
                              "sparse.coo");
    if (st == TIDE_OK)
        st = assemble(out, &t, nrows, ncols, vals->dtype, scratch);
    free(scratch);
    triplets_release(&t);
    return st;
}

/* ---------------------------------------------------------------- layout */

tide_status tide_csr_row_indices(tide_tensor *out, const tide_csr *s, int64_t base)
{
    TIDE_TRY(tide_csr_check(s, 0, "sparse.row_indices"));
    int64_t nnz = s->col.shape[0];
    TIDE_TRY(tide_prepare_out(out, TIDE_I64, 1, &nnz, "sparse.row_indices"));
    const int64_t *rp = I64(&s->rowptr);
    int64_t *r = I64(out);
    for (int64_t i = 0; i < s->nrows; i++)
        for (int64_t k = rp[i]; k < rp[i + 1]; k++)
            r[k] = i + base;
    return TIDE_OK;
}

#define TO_DENSE(E, name, T)                                                                   \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val);                                                     \
        T *d = tide_data(out);                                                                 \
        for (int64_t i = 0; i < s->nrows; i++)                                                 \
            for (int64_t k = rp[i]; k < rp[i + 1]; k++)                                        \
                d[i * s->ncols + col[k]] = val[k];                                             \
        break;                                                                                 \
    }

tide_status tide_csr_to_dense(tide_tensor *out, const tide_csr *s)
{
    TIDE_TRY(tide_csr_check(s, 0, "sparse.to_dense"));
    int64_t shape[2] = {s->nrows, s->ncols};
    int fresh = out->storage == NULL;
    TIDE_TRY(tide_prepare_out(out, s->val.dtype, 2, shape, "sparse.to_dense"));
    if (!fresh && !tide_is_contiguous(out))
        return tide_fail("sparse.to_dense: out must be contiguous");
    TIDE_TRY(tide_fill(out, 0));
    const int64_t *rp = I64(&s->rowptr), *col = I64(&s->col);
    switch (s->val.dtype) {
        TIDE_FOREACH_FLOAT_DTYPE(TO_DENSE)
    default: break;
    }
    return TIDE_OK;
}

#define TRANSPOSE(E, name, T)                                                                  \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val);                                                     \
        T *tval = tide_data(&out->val);                                                        \
        for (int64_t i = 0; i < s->nrows; i++)                                                 \
            for (int64_t k = rp[i]; k < rp[i + 1]; k++) {                                      \
                int64_t dst = next[col[k]]++;                                                  \
                tcol[dst] = i;                                                                 \
                tval[dst] = val[k];                                                            \
            }                                                                                  \
        break;                                                                                 \
    }

tide_status tide_csr_transpose(tide_csr *out, const tide_csr *s)
{
    TIDE_TRY(check_out_empty(out, "sparse.t"));
    TIDE_TRY(tide_csr_check(s, 0, "sparse.t"));
    int64_t nnz = s->col.shape[0];
    TIDE_TRY(alloc_csr(out, s->ncols, s->nrows, nnz, s->val.dtype));
    int64_t *next = NULL;
    if (tide_alloc_array((void **)&next, s->ncols + 1, sizeof *next, "sparse.t") != TIDE_OK) {
        tide_csr_release(out);
        return TIDE_FAIL;
    }
    const int64_t *rp = I64(&s->rowptr), *col = I64(&s->col);
    int64_t *trp = I64(&out->rowptr), *tcol = I64(&out->col);
    for (int64_t k = 0; k < nnz; k++)
        trp[col[k] + 1]++;
    for (int64_t j = 0; j < s->ncols; j++)
        trp[j + 1] += trp[j];
    memcpy(next, trp, (size_t)(s->ncols + 1) * sizeof *next);
    switch (s->val.dtype) {   /* rows in order: each column's entries come out sorted */
        TIDE_FOREACH_FLOAT_DTYPE(TRANSPOSE)
    default: break;
    }
    free(next);
    return TIDE_OK;
}

tide_status tide_csr_rows(tide_csr *out, const tide_csr *s, int64_t first, int64_t count)
{
    TIDE_TRY(check_out_empty(out, "sparse.rows"));
    TIDE_TRY(tide_csr_check(s, 0, "sparse.rows"));
    if (first < 0 || count < 0 || first + count > s->nrows)
        return tide_fail("sparse.rows: rows %lld..%lld outside 1..%lld", (long long)first + 1,
                         (long long)(first + count), (long long)s->nrows);
    const int64_t *rp = I64(&s->rowptr);
    int64_t lo = rp[first], nnz = rp[first + count] - lo;
    TIDE_TRY(alloc_csr(out, count, s->ncols, nnz, s->val.dtype));
    int64_t *orp = I64(&out->rowptr);
    for (int64_t i = 0; i <= count; i++)
        orp[i] = rp[first + i] - lo;
    size_t vsize = tide_dtype_size(s->val.dtype);
    memcpy(tide_data(&out->col), I64(&s->col) + lo, (size_t)nnz * sizeof(int64_t));
    memcpy(tide_data(&out->val), (char *)tide_data(&s->val) + (size_t)lo * vsize,
           (size_t)nnz * vsize);
    return TIDE_OK;
}

/* ---------------------------------------------------------------- products */

/* The dense operand as a contiguous 2-D tensor of the values' dtype with `rows` rows: dense
 * itself when it already is one (*copy stays empty), else a contiguous copy in *copy. */
static tide_status dense_operand(const tide_tensor **d, tide_tensor *copy, const tide_csr *s,
                                 const tide_tensor *dense, int64_t rows, const char *op)
{
    char bs[TIDE_SHAPE_BUF];
    if (dense->ndim != 2 || dense->shape[0] != rows)
        return tide_fail("%s: size mismatch, %lldx%lld sparse %s %s dense (expected %lld rows)",
                         op, (long long)s->nrows, (long long)s->ncols,
                         rows == s->ncols ? "@" : "^T @",
                         tide_shape_str(dense, bs, sizeof bs), (long long)rows);
    if (dense->dtype != s->val.dtype)
        return tide_fail("%s: dtype mismatch, %s sparse @ %s dense", op,
                         tide_dtype_name(s->val.dtype), tide_dtype_name(dense->dtype));
    *d = dense;
    if (!tide_is_contiguous(dense)) {
        TIDE_TRY(tide_contiguous(copy, dense));
        *d = copy;
    }
    return TIDE_OK;
}

/* Row i of the result is the sum over row i's entries of val * (a row of dense): it reads
 * only row i's entries and writes only row i, so ranges of rows are independent. The sum
 * builds up in the result's own row (in the values' dtype, as gemm does), which the compiler
 * vectorises over k. */
#define SPMM_ROWS(E, name, T)                                                                  \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val), *x = tide_data(d);                                  \
        T *y = tide_data(out);                                                                 \
        for (int64_t i = 0; i < s->nrows; i++) {                                               \
            T *yi = y + i * k;                                                                 \
            for (int64_t c = 0; c < k; c++)                                                    \
                yi[c] = 0;                                                                     \
            for (int64_t p = rp[i]; p < rp[i + 1]; p++) {                                      \
                const T a = val[p], *xj = x + col[p] * k;                                      \
                for (int64_t c = 0; c < k; c++)                                                \
                    yi[c] += a * xj[c];                                                        \
            }                                                                                  \
        }                                                                                      \
        break;                                                                                 \
    }

/* The transposed product scatters row i of dense into the rows its entries' columns name. */
#define SPMM_T_ROWS(E, name, T)                                                                \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val), *x = tide_data(d);                                  \
        T *y = tide_data(out);                                                                 \
        for (int64_t i = 0; i < s->nrows; i++) {                                               \
            const T *xi = x + i * k;                                                           \
            for (int64_t p = rp[i]; p < rp[i + 1]; p++) {                                      \
                T a = val[p], *yj = y + col[p] * k;                                            \
                for (int64_t c = 0; c < k; c++)                                                \
                    yj[c] += a * xi[c];                                                        \
            }                                                                                  \
        }                                                                                      \
        break;                                                                                 \
    }

static tide_status product(tide_tensor *out, const tide_csr *s, const tide_tensor *dense,
                           int transposed, const char *op)
{
    TIDE_TRY(tide_csr_check(s, 0, op));
    const tide_tensor *d = NULL;
    tide_tensor copy = TIDE_TENSOR_EMPTY;
    TIDE_TRY(dense_operand(&d, &copy, s, dense, transposed ? s->nrows : s->ncols, op));
    int64_t k = d->shape[1];
    int64_t shape[2] = {transposed ? s->ncols : s->nrows, k};
    int fresh = out->storage == NULL;
    tide_status st = tide_prepare_out(out, s->val.dtype, 2, shape, op);
    if (st == TIDE_OK && !fresh && (!tide_is_contiguous(out) || tide_overlaps(out, d)))
        st = tide_fail("%s: out must be contiguous and apart from the dense operand", op);
    if (st == TIDE_OK && transposed)
        st = tide_fill(out, 0);
    if (st != TIDE_OK) {
        if (fresh)
            tide_tensor_release(out);
        tide_tensor_release(&copy);
        return TIDE_FAIL;
    }
    const int64_t *rp = I64(&s->rowptr), *col = I64(&s->col);
    if (transposed) {
        switch (s->val.dtype) {
            TIDE_FOREACH_FLOAT_DTYPE(SPMM_T_ROWS)
        default: break;
        }
    } else {
        switch (s->val.dtype) {
            TIDE_FOREACH_FLOAT_DTYPE(SPMM_ROWS)
        default: break;
        }
    }
    tide_tensor_release(&copy);
    return TIDE_OK;
}

tide_status tide_spmm(tide_tensor *out, const tide_csr *s, const tide_tensor *dense)
{
    return product(out, s, dense, 0, "sparse.matmul");
}

tide_status tide_spmm_t(tide_tensor *out, const tide_csr *s, const tide_tensor *dense)
{
    return product(out, s, dense, 1, "sparse.matmul_t");
}

tide_status tide_spmv(tide_tensor *out, const tide_csr *s, const tide_tensor *x)
{
    char xs[TIDE_SHAPE_BUF];
    if (x->ndim != 1)
        return tide_fail("sparse.spmv: expected a 1-D vector, got %s",
                         tide_shape_str(x, xs, sizeof xs));
    TIDE_TRY(tide_csr_check(s, 0, "sparse.spmv"));
    int64_t n = s->nrows;
    int fresh = out->storage == NULL;
    TIDE_TRY(tide_prepare_out(out, s->val.dtype, 1, &n, "sparse.spmv"));
    /* the product of s with x as a one-column matrix, written into out as one */
    tide_tensor xcol = TIDE_TENSOR_EMPTY, ycol = TIDE_TENSOR_EMPTY;
    tide_status st = tide_unsqueeze(&xcol, x, 1);
    if (st == TIDE_OK)
        st = tide_unsqueeze(&ycol, out, 1);
    if (st == TIDE_OK)
        st = product(&ycol, s, &xcol, 0, "sparse.spmv");
    tide_tensor_release(&xcol);
    tide_tensor_release(&ycol);
    if (st != TIDE_OK && fresh)
        tide_tensor_release(out);
    return st;
}

/* ---------------------------------------------------------------- degree, normalisation */

#define ROW_SUMS(E, name, T)                                                                   \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val);                                                     \
        T *deg = tide_data(out);                                                               \
        for (int64_t i = 0; i < s->nrows; i++) {                                               \
            double sum = 0;                                                                    \
            for (int64_t p = rp[i]; p < rp[i + 1]; p++)                                        \
                sum += val[p];                                                                 \
            deg[i] = (T)sum;                                                                   \
        }                                                                                      \
        break;                                                                                 \
    }

tide_status tide_csr_degree(tide_tensor *out, const tide_csr *s)
{
    TIDE_TRY(tide_csr_check(s, 0, "sparse.degree"));
    int64_t n = s->nrows;
    TIDE_TRY(tide_prepare_out(out, s->val.dtype, 1, &n, "sparse.degree"));
    if (!tide_is_contiguous(out))
        return tide_fail("sparse.degree: out must be contiguous");
    const int64_t *rp = I64(&s->rowptr);
    switch (s->val.dtype) {
        TIDE_FOREACH_FLOAT_DTYPE(ROW_SUMS)
    default: break;
    }
    return TIDE_OK;
}

/* A + I: each row's entries with 1 added on the diagonal, or the diagonal entry inserted at
 * its sorted place; the row sums (in double) go to dinv, which then becomes d^-1/2. Finally
 * every entry (i, j) is scaled by dinv[i] * dinv[j]. */
#define NORMALIZE(E, name, T)                                                                  \
    case E: {                                                                                  \
        const T *val = tide_data(&s->val);                                                     \
        T *oval = tide_data(&out->val);                                                        \
        int64_t k = 0;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                      \
            int placed = 0;                                                                    \
            double sum = 0;                                                                    \
            for (int64_t p = rp[i]; p <= rp[i + 1]; p++) {                                     \
                int at_end = p == rp[i + 1];                                                   \
                if (!placed && (at_end || col[p] >= i)) {                                      \
                    int hit = !at_end && col[p] == i;                                          \
                    ocol[k] = i;                                                               \
                    oval[k] = (T)(1 + (hit ? (double)val[p] : 0));                             \
                    sum += (double)oval[k++];                                                  \
                    placed = 1;                                                                \
                    if (hit)                                                                   \
                        continue;                                                              \
                }                                                                              \
                if (at_end)                                                                    \
                    break;                                                                     \
                ocol[k] = col[p];                                                              \
                oval[k] = val[p];                                                              \
                sum += (double)val[p];                                                         \
                k++;                                                                           \
            }                                                                                  \
            orp[i + 1] = k;                                                                    \
            dinv[i] = sum > 0 ? 1 / sqrt(sum) : 0;                                             \
        }                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int64_t p = orp[i]; p < orp[i + 1]; p++)                                      \
                oval[p] = (T)(dinv[i] * (double)oval[p] * dinv[ocol[p]]);                      \
        break;                                                                                 \
    }

tide_status tide_csr_normalize_gcn(tide_csr *out, const tide_csr *s)
{
    const char *op = "sparse.normalize_gcn";
    TIDE_TRY(check_out_empty(out, op));
    TIDE_TRY(tide_csr_check(s, 0, op));
    if (s->nrows != s->ncols)
        return tide_fail("%s: expected a square matrix, got %lldx%lld", op,
                         (long long)s->nrows, (long long)s->ncols);
    int64_t n = s->nrows;
    const int64_t *rp = I64(&s->rowptr), *col = I64(&s->col);
    int64_t diag = 0;   /* rows that already hold a diagonal entry */
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = rp[i]; p < rp[i + 1]; p++)
            diag += col[p] == i;
    double *dinv = NULL;
    TIDE_TRY(tide_alloc_array((void **)&dinv, n, sizeof *dinv, op));
    if (alloc_csr(out, n, n, s->col.shape[0] + n - diag, s->val.dtype) != TIDE_OK) {
        free(dinv);
        return TIDE_FAIL;
    }
    int64_t *orp = I64(&out->rowptr), *ocol = I64(&out->col);
    switch (s->val.dtype) {
        TIDE_FOREACH_FLOAT_DTYPE(NORMALIZE)
    default: break;
    }
    free(dinv);
    return TIDE_OK;
}
