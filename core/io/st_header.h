/* st_header.h — the safetensors JSON header, parsed strictly and checked against the data size
 * (io/safetensors.c's reader; kept apart so the parser reads in one sitting).
 *
 * The parser knows exactly the header's schema and nothing more of JSON: an object of tensor
 * entries and one "__metadata__" object of strings. Strings take every JSON escape (\uXXXX
 * with surrogate pairs becomes UTF-8); sizes are non-negative integers without sign, fraction
 * or exponent, checked against overflow. */
#ifndef TIDE_IO_ST_HEADER_H
#define TIDE_IO_ST_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef struct tide_st_entry {
    char *name;
    tide_dtype dtype;
    int ndim;
    int64_t shape[TIDE_MAX_DIMS];
    uint64_t begin, end;   /* into the data, which starts after the header */
} tide_st_entry;

typedef struct tide_st_header {
    int n, nmeta;
    tide_st_entry *entries;   /* sorted by begin */
    char **meta_keys, **meta_values;
} tide_st_header;

/* Parses text (len bytes) into h (zeroed first) and checks every entry against data_size: the
 * shape's bytes equal end - begin, and the entries tile [0, data_size) exactly. what names the
 * file in messages. On failure h is left empty. */
tide_status tide_st_header_parse(tide_st_header *h, const char *what, const char *text,
                                 size_t len, uint64_t data_size);
void tide_st_header_free(tide_st_header *h);

/* The safetensors name of a dtype ("F32" ...). */
const char *tide_st_dtype_name(tide_dtype dt);

#endif
