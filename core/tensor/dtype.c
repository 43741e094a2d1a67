/* dtype.c — names, sizes, ranges and promotion of the element types, all read from the table
 * in dtype.h. */
#include "tensor/dtype.h"

#include <stdio.h>
#include <string.h>

static const struct dtype_info {
    const char *name, *npy, *alias1, *alias2;
    size_t size;
    int is_float, rank, digits;
    int64_t lo, hi;
} info[TIDE_NDTYPES] = {
#define INFO(E, n, T, is_float, rank, digits, tmin, lo, hi, npy, mpi, a1, a2) \
    [E] = {#n, npy, a1, a2, sizeof(T), is_float, rank, digits, lo, hi},
    TIDE_DTYPE_TABLE(INFO)
#undef INFO
};

int tide_dtype_valid(int dt)
{
    return dt >= 0 && dt < TIDE_NDTYPES;
}

size_t tide_dtype_size(tide_dtype dt)
{
    return tide_dtype_valid((int)dt) ? info[dt].size : 0;
}

const char *tide_dtype_name(tide_dtype dt)
{
    return tide_dtype_valid((int)dt) ? info[dt].name : "?";
}

int tide_dtype_is_float(tide_dtype dt)
{
    return tide_dtype_valid((int)dt) && info[dt].is_float;
}

int tide_dtype_is_index(tide_dtype dt)
{
    switch (dt) {
#define INDEX_CASE(E, n, T) case E: return 1;
        TIDE_FOREACH_INDEX_DTYPE(INDEX_CASE)
#undef INDEX_CASE
    default: return 0;
    }
}

int tide_dtype_digits(tide_dtype dt)
{
    return tide_dtype_valid((int)dt) ? info[dt].digits : 0;
}

void tide_dtype_exact_range(tide_dtype dt, int64_t *lo, int64_t *hi)
{
    *lo = tide_dtype_valid((int)dt) ? info[dt].lo : 0;
    *hi = tide_dtype_valid((int)dt) ? info[dt].hi : -1;
}

const char *tide_dtype_npy(tide_dtype dt)
{
    return tide_dtype_valid((int)dt) ? info[dt].npy : "?";
}

tide_status tide_dtype_parse(const char *name, tide_dtype *out)
{
    for (int i = 0; i < TIDE_NDTYPES; i++)
        if (strcmp(name, info[i].name) == 0 || strcmp(name, info[i].alias1) == 0 ||
            strcmp(name, info[i].alias2) == 0) {
            *out = (tide_dtype)i;
            return TIDE_OK;
        }
    /* "f32, f64, i32, i64 or u8" */
    char list[128];
    size_t len = 0;
    for (int i = 0; i < TIDE_NDTYPES && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i == 0 ? "" : i == TIDE_NDTYPES - 1 ? " or " : ", ", info[i].name);
    return tide_fail("unknown dtype '%s' (expected %s)", name, list);
}

tide_dtype tide_dtype_promote(tide_dtype a, tide_dtype b)
{
    return info[a].rank >= info[b].rank ? a : b;
}
