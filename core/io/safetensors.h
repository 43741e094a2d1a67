/* safetensors.h — named tensors and a string map in one file, in the safetensors format.
 *
 * The format (what Hugging Face's safetensors and tide write and read): an 8-byte little-endian
 * header length N, N bytes of JSON, then the raw little-endian data of every tensor back to
 * back. The JSON is one object: per tensor `"name": {"dtype": "F32", "shape": [2, 3],
 * "data_offsets": [begin, end]}` (offsets into the data, end exclusive), and optionally
 * `"__metadata__": {"key": "value", ...}` (strings only). dtypes: F32, F64, I32, I64, U8.
 *
 * Writing: tensors are laid out widest dtype first, so every tensor starts at a multiple of its
 * element size; the header is padded with spaces to a multiple of 8 bytes. The file is written
 * under a temporary name beside path, fsynced, then renamed into place: path holds the old file
 * or the whole new one, never a half-written one.
 *
 * Reading validates everything before touching the data: the length, the JSON (strict: no
 * unknown keys, no duplicates, integers only where sizes go), each dtype and shape, offsets
 * whose span matches the shape (checked arithmetic), and offsets that cover the data exactly,
 * without gaps or overlaps (as the reference implementation demands). Every error names the
 * file and what was wrong. With map, tensors are views of the file's pages (copy-on-write, so
 * writing to them never reaches the file); the mapping lives until the last such tensor is
 * released. A tensor misaligned for its dtype (possible in foreign files) is copied instead. */
#ifndef TIDE_IO_SAFETENSORS_H
#define TIDE_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

/* What a file holds: tensors in data order, and the metadata in header order. */
typedef struct tide_st_file {
    int ntensors;
    char **names;
    tide_tensor *tensors;
    int nmeta;
    char **meta_keys, **meta_values;
} tide_st_file;

/* Writes n tensors (any layout; views are written in logical order) and nmeta metadata
 * strings. Names must be unique, non-empty and not "__metadata__". When crc or size is not
 * NULL it receives zlib's crc32 of the whole file, or its length in bytes. */
tide_status tide_st_save(const char *path, int n, const char *const *names,
                         const tide_tensor *const *tensors, int nmeta,
                         const char *const *meta_keys, const char *const *meta_values,
                         uint32_t *crc, int64_t *size);

/* The bytes tide_st_save would write, as a new 1-d u8 tensor in out (empty); what names the
 * destination in messages. For a file that is sent before it is written (partner copies). */
tide_status tide_st_encode(tide_tensor *out, const char *what, int n, const char *const *names,
                           const tide_tensor *const *tensors, int nmeta,
                           const char *const *meta_keys, const char *const *meta_values);

/* Reads the file at path into out (zeroed first); map: tensors share the file's pages. On
 * failure out is left empty. */
tide_status tide_st_load(tide_st_file *out, const char *path, int map);

/* The same from bytes in memory (copied); what names the source in messages. For fuzzing. */
tide_status tide_st_parse(tide_st_file *out, const char *what, const void *data, size_t len);

/* Releases what a load gave (the tensors' references, names, metadata). Idempotent. */
void tide_st_free(tide_st_file *f);

/* The largest header tide reads (a guard against a length field that asks for gigabytes). */
#define TIDE_ST_MAX_HEADER ((uint64_t)100 << 20)

#endif
