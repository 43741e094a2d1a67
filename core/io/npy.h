/* io_npy.h — tensors to and from NumPy .npy files.
 *
 * Writing: format version 1.0, little-endian, C order ('fortran_order': False), descr '<f4',
 * '<f8', '<i4', '<i8' or '|u1'; the header is NumPy's dict, padded with spaces and a final
 * newline so the data starts at a multiple of 64 bytes. Any layout is written (a view is
 * written in its logical order). The file is written under a temporary name in the same
 * directory (PATH.tmp-HOST-PID-N), flushed to disk, then renamed into place: a failed save
 * leaves no file behind and never a half-written one under the final name. A killed save
 * cannot clean up, so each save first removes the temporaries of its path that this host's
 * dead processes left.
 *
 * Reading: versions 1.0, 2.0 and 3.0; little- or big-endian ('<', '>', '|', '=') f4, f8, i4, i8,
 * u1 and b1 (bool, read as u8); fortran_order True (the result is C-ordered, values in their
 * logical places). Errors name the file: missing file, bad magic, malformed header,
 * unsupported dtype, truncated data. On failure out stays empty. */
#ifndef TIDE_IO_NPY_H
#define TIDE_IO_NPY_H

#include "tensor/tensor.h"

tide_status tide_npy_save(const char *path, const tide_tensor *t);
/* out must be empty. */
tide_status tide_npy_load(tide_tensor *out, const char *path);
/* Rows first .. first + count - 1 (0-based) of dim 1 only, read straight from their place in
 * the file, so that each rank of a job can load just its own rows. C-ordered files only. */
tide_status tide_npy_load_rows(tide_tensor *out, const char *path, int64_t first, int64_t count);
/* The shape and dtype a .npy file holds, from its header alone. */
tide_status tide_npy_shape(const char *path, int *ndim, int64_t *shape, tide_dtype *dtype);

/* The header (magic through the newline) tide_npy_save writes for t; returns its length, or
 * 0 when buf (of size cap) is too small. For tests and for writers that stream the data. */
size_t tide_npy_header(const tide_tensor *t, char *buf, size_t cap);

#endif
