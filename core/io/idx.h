/* io_idx.h — reading IDX files (the MNIST / Fashion-MNIST format), gzipped or not.
 *
 * An IDX file is: two zero bytes, a type byte, a dim count byte, one big-endian uint32 per
 * dim, then the data, big-endian, in C order. Types: 0x08 unsigned byte -> u8, 0x09 signed
 * byte, 0x0B int16 and 0x0C int32 -> i32, 0x0D float32 -> f32, 0x0E float64 -> f64.
 * zlib's gzopen reads compressed and plain files alike. Errors name the file and what was
 * wrong (missing, bad magic, unknown type, truncated header or data); on failure out stays
 * empty. */
#ifndef TIDE_IO_IDX_H
#define TIDE_IO_IDX_H

#include "tensor/tensor.h"

/* out must be empty. */
tide_status tide_idx_read(tide_tensor *out, const char *path);

#endif
