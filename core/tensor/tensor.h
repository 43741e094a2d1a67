/* tensor.h — the tide_tensor: a typed, strided view of refcounted storage.
 *
 * Conventions every core function follows:
 * - dims and indices are 0-based here; the bindings convert from Lua's 1-based ones.
 * - strides and offset count elements, not bytes.
 * - an "out" argument is either empty (storage == NULL: the function allocates the result) or
 *   an allocated tensor of exactly the result's shape and dtype, which the function writes
 *   into (so `tide_add(a, a, b)` is the in-place form). tide_prepare_out does that check.
 * - views (narrow, select, transpose, permute, view, squeeze, unsqueeze, expand) share
 *   storage with their source; the result holds its own reference.
 * - on failure a function returns TIDE_FAIL with a message naming the operation and the
 *   shapes/dtypes involved, and leaves an empty out empty. */
#ifndef TIDE_TENSOR_H
#define TIDE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/tide_error.h"

#define TIDE_MAX_DIMS 8
#define TIDE_ALIGN 64

typedef struct tide_storage {
    void *data;      /* TIDE_ALIGN-aligned, or borrowed memory when free_data is NULL */
    size_t nbytes;
    long refcount;
    void (*free_data)(void *data, void *ctx);   /* how to release data; NULL: not ours */
    void *free_ctx;
} tide_storage;

typedef struct tide_tensor {
    tide_storage *storage;           /* NULL: an empty tensor slot */
    tide_dtype dtype;
    int ndim;                        /* 0 for a scalar tensor (one element) */
    int64_t shape[TIDE_MAX_DIMS];
    int64_t stride[TIDE_MAX_DIMS];   /* elements */
    int64_t offset;                  /* elements from storage->data */
} tide_tensor;

#define TIDE_TENSOR_EMPTY {0}

/* First element of t (accounts for the offset). */
static inline void *tide_data(const tide_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)tide_dtype_size(t->dtype);
}

int64_t tide_numel(const tide_tensor *t);
int tide_is_contiguous(const tide_tensor *t);
int tide_same_shape(const tide_tensor *a, const tide_tensor *b);

/* Writes "3x4" (or "scalar") into buf and returns buf, for error messages. */
const char *tide_shape_str(const tide_tensor *t, char *buf, size_t size);
const char *tide_shape_str_n(int ndim, const int64_t *shape, char *buf, size_t size);
#define TIDE_SHAPE_BUF 96

/* --- lifetime --- */

/* A new contiguous tensor of the given shape with uninitialised contents. t must be empty. */
tide_status tide_tensor_alloc(tide_tensor *t, tide_dtype dtype, int ndim, const int64_t *shape);
tide_status tide_tensor_zeros(tide_tensor *t, tide_dtype dtype, int ndim, const int64_t *shape);
/* Wraps memory the caller owns (the tensor never frees it); for embedding without copies.
 * free_data, when given, is called with (data, ctx) once the last view is gone. */
tide_status tide_tensor_wrap(tide_tensor *t, void *data, tide_dtype dtype, int ndim,
                             const int64_t *shape, void (*free_data)(void *, void *), void *ctx);
/* Drops t's reference to its storage and makes it empty. Idempotent. */
void tide_tensor_release(tide_tensor *t);
/* dst (empty) becomes another view of src's storage with src's shape. */
void tide_tensor_share(tide_tensor *dst, const tide_tensor *src);
/* Empty out, or check it has this shape and dtype (the message names op). */
tide_status tide_prepare_out(tide_tensor *out, tide_dtype dtype, int ndim, const int64_t *shape,
                             const char *op);
/* Fills stride[] for a contiguous (row-major) layout of shape. */
void tide_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);

/* --- memory accounting: bytes of storage the core allocated and still holds --- */
size_t tide_memory_live(void);
size_t tide_memory_peak(void);
void tide_memory_reset_peak(void);
/* Frees the few big blocks kept for reuse (see tensor.c). */
void tide_memory_release_cache(void);

/* --- views (share storage) --- */
tide_status tide_narrow(tide_tensor *out, const tide_tensor *src, int dim, int64_t start,
                        int64_t length);
tide_status tide_select(tide_tensor *out, const tide_tensor *src, int dim, int64_t index);
tide_status tide_transpose(tide_tensor *out, const tide_tensor *src, int dim1, int dim2);
tide_status tide_permute(tide_tensor *out, const tide_tensor *src, const int *perm);
/* A view with a new shape; fails when the strides do not allow one (use tide_reshape). One
 * entry of shape may be -1 (inferred). */
tide_status tide_view(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape);
/* tide_view when possible, else a contiguous copy with the new shape. */
tide_status tide_reshape(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape);
tide_status tide_unsqueeze(tide_tensor *out, const tide_tensor *src, int dim);
/* dim < 0: remove every size-1 dim. */
tide_status tide_squeeze(tide_tensor *out, const tide_tensor *src, int dim);
/* Broadcast src to shape (size-1 dims get stride 0; new leading dims are added). */
tide_status tide_expand(tide_tensor *out, const tide_tensor *src, int ndim, const int64_t *shape);

/* NumPy broadcasting of two shapes; op names the caller in the error message. */
tide_status tide_broadcast_shapes(int na, const int64_t *sa, int nb, const int64_t *sb,
                                  int *nout, int64_t *sout, const char *op);

/* --- copies --- */
/* dst[...] = src broadcast to dst's shape, cast to dst's dtype. */
tide_status tide_copy(tide_tensor *dst, const tide_tensor *src);
/* A contiguous copy (out may be empty); same dtype. */
tide_status tide_clone(tide_tensor *out, const tide_tensor *src);
/* src itself (shared) when contiguous, else a contiguous copy. out must be empty. */
tide_status tide_contiguous(tide_tensor *out, const tide_tensor *src);
/* A contiguous copy cast to dtype. */
tide_status tide_cast(tide_tensor *out, const tide_tensor *src, tide_dtype dtype);
tide_status tide_fill(tide_tensor *t, double value);

/* --- single elements (idx has t->ndim 0-based entries, already range-checked) --- */
int64_t tide_elem_offset(const tide_tensor *t, const int64_t *idx);  /* elements from data */
double tide_get_f64(const tide_tensor *t, const int64_t *idx);
int64_t tide_get_i64(const tide_tensor *t, const int64_t *idx);
void tide_set_f64(tide_tensor *t, const int64_t *idx, double v);
void tide_set_i64(tide_tensor *t, const int64_t *idx, int64_t v);

/* Do a and b's memory ranges overlap? (conservative: compares spans in storage) */
int tide_overlaps(const tide_tensor *a, const tide_tensor *b);

#endif
