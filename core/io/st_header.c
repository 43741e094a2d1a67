/* st_header.c — a strict parser for the safetensors header (see st_header.h). */
#include "io/st_header.h"
#include "io/cursor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tide_cursor cursor;

static const struct { const char *name; tide_dtype dt; } dtypes[] = {
    {"F32", TIDE_F32}, {"F64", TIDE_F64}, {"I32", TIDE_I32}, {"I64", TIDE_I64}, {"U8", TIDE_U8},
    {"F16", TIDE_F16}, {"BF16", TIDE_BF16},
};

const char *tide_st_dtype_name(tide_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt)
            return dtypes[i].name;
    return "?";
}

static tide_status bad(const cursor *c, const char *why)
{
    return tide_fail("load: '%s' has a malformed header: %s at byte %lld of the header", c->what,
                     why, (long long)(c->p - c->start));
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                   : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                   : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16u;
        if (d == 16)
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string, unescaped into a new NUL-terminated buffer (*out; the caller frees it). An
 * embedded NUL (\u0000) is refused: names and metadata are C strings here. */
static tide_status parse_string(cursor *c, char **out)
{
    tide_cursor_skip_ws(c);
    if (c->p >= c->end || *c->p != '"')
        return bad(c, "expected a string");
    c->p++;
    const char *q = c->p;
    while (q < c->end && *q != '"')
        q += *q == '\\' && q + 1 < c->end ? 2 : 1;
    if (q >= c->end)
        return bad(c, "unterminated string");
    /* an escape never grows: \uXXXX (6 bytes) gives at most 3, a pair (12) at most 4 */
    char *s = malloc((size_t)(q - c->p) + 1), *o = s;
    if (!s)
        return tide_fail("load: out of memory");
    while (c->p < q) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20) {
            free(s);
            return bad(c, "a control character in a string");
        }
        if (ch != '\\') {
            *o++ = (char)ch;
            c->p++;
            continue;
        }
        char e = c->p[1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            c->p += 2;
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || q - c->p < 6 || !hex4(c->p + 2, &cp) || cp == 0) {
            free(s);
            return bad(c, "a bad escape in a string");
        }
        c->p += 6;
        if (cp >= 0xdc00 && cp < 0xe000) {
            free(s);
            return bad(c, "a lone low surrogate in a string");
        }
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (q - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || !hex4(c->p + 2, &lo) ||
                lo < 0xdc00 || lo >= 0xe000) {
                free(s);
                return bad(c, "a high surrogate without its low half in a string");
            }
            c->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        o += put_utf8(o, cp);
    }
    *o = '\0';
    c->p = q + 1;
    *out = s;
    return TIDE_OK;
}

/* A non-negative integer: digits only, no leading zero, at most INT64_MAX. */
static tide_status parse_size(cursor *c, int64_t *out)
{
    tide_cursor_skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return bad(c, "expected a non-negative integer");
    if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return bad(c, "an integer with a leading zero");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return bad(c, "an integer too large");
        v = v * 10 + d;
        c->p++;
    }
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return bad(c, "expected an integer, got a fraction or exponent");
    *out = v;
    return TIDE_OK;
}

/* [a, b, ...] of sizes, at most max of them; *n receives the count. */
static tide_status parse_sizes(cursor *c, int64_t *v, int max, int *n, const char *what)
{
    char why[64];
    if (!tide_cursor_eat(c, '[')) {
        snprintf(why, sizeof why, "expected an array for %s", what);
        return bad(c, why);
    }
    *n = 0;
    if (tide_cursor_eat(c, ']'))
        return TIDE_OK;
    do {
        if (*n == max) {
            snprintf(why, sizeof why, "more than %d entries in %s", max, what);
            return bad(c, why);
        }
        TIDE_TRY(parse_size(c, &v[(*n)++]));
    } while (tide_cursor_eat(c, ','));
    if (!tide_cursor_eat(c, ']')) {
        snprintf(why, sizeof why, "expected ',' or ']' in %s", what);
        return bad(c, why);
    }
    return TIDE_OK;
}

/* A member's key and the ':' after it; *key is the caller's to free. */
static tide_status parse_key(cursor *c, char **key)
{
    TIDE_TRY(parse_string(c, key));
    if (!tide_cursor_eat(c, ':')) {
        free(*key);
        return bad(c, "expected ':'");
    }
    return TIDE_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} into e (name already set). */
static tide_status parse_entry(cursor *c, tide_st_entry *e)
{
    if (!tide_cursor_eat(c, '{'))
        return bad(c, "expected an object for a tensor");
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (tide_cursor_eat(c, '}'))
        return bad(c, "a tensor without dtype, shape and data_offsets");
    do {
        char *key;
        TIDE_TRY(parse_key(c, &key));
        int *seen = strcmp(key, "dtype") == 0 ? &have_dtype
                  : strcmp(key, "shape") == 0 ? &have_shape
                  : strcmp(key, "data_offsets") == 0 ? &have_offsets : NULL;
        if (!seen || *seen) {
            char why[96];
            snprintf(why, sizeof why, "%s key '%.40s' in tensor '%.20s'",
                     seen ? "a duplicate" : "an unexpected", key, e->name);
            free(key);
            return bad(c, why);
        }
        *seen = 1;
        if (seen == &have_dtype) {
            free(key);
            char *name;
            TIDE_TRY(parse_string(c, &name));
            size_t i = 0, nd = sizeof dtypes / sizeof dtypes[0];
            while (i < nd && strcmp(name, dtypes[i].name) != 0)
                i++;
            if (i == nd) {
                tide_status st = tide_fail("load: '%s' holds tensor '%s' of unsupported dtype"
                                           " '%.20s' (tide reads F32, F64, I32, I64, U8, F16, BF16)",
                                           c->what, e->name, name);
                free(name);
                return st;
            }
            free(name);
            e->dtype = dtypes[i].dt;
        } else if (seen == &have_shape) {
            free(key);
            TIDE_TRY(parse_sizes(c, e->shape, TIDE_MAX_DIMS, &e->ndim, "shape"));
        } else {
            free(key);
            int64_t off[2];
            int n;
            TIDE_TRY(parse_sizes(c, off, 2, &n, "data_offsets"));
            if (n != 2)
                return bad(c, "data_offsets needs two entries");
            e->begin = (uint64_t)off[0];
            e->end = (uint64_t)off[1];
        }
    } while (tide_cursor_eat(c, ','));
    if (!tide_cursor_eat(c, '}'))
        return bad(c, "expected ',' or '}' in a tensor");
    if (!have_dtype || !have_shape || !have_offsets)
        return tide_fail("load: '%s' has a malformed header: tensor '%s' has no %s", c->what,
                         e->name, !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return TIDE_OK;
}

static tide_status parse_metadata(cursor *c, tide_st_header *h)
{
    if (!tide_cursor_eat(c, '{'))
        return bad(c, "expected an object for __metadata__");
    if (tide_cursor_eat(c, '}'))
        return TIDE_OK;
    do {
        char **k = realloc(h->meta_keys, (size_t)(h->nmeta + 1) * sizeof *k);
        if (k)
            h->meta_keys = k;
        char **v = realloc(h->meta_values, (size_t)(h->nmeta + 1) * sizeof *v);
        if (v)
            h->meta_values = v;
        if (!k || !v)
            return tide_fail("load: out of memory");
        h->meta_keys[h->nmeta] = h->meta_values[h->nmeta] = NULL;
        h->nmeta++;
        TIDE_TRY(parse_string(c, &h->meta_keys[h->nmeta - 1]));
        for (int i = 0; i + 1 < h->nmeta; i++)   /* headers are small: quadratic is fine */
            if (strcmp(h->meta_keys[i], h->meta_keys[h->nmeta - 1]) == 0)
                return tide_fail("load: '%s' has a malformed header: a duplicate __metadata__"
                                 " key '%s'", c->what, h->meta_keys[i]);
        if (!tide_cursor_eat(c, ':'))
            return bad(c, "expected ':'");
        tide_cursor_skip_ws(c);
        if (c->p < c->end && *c->p != '"')
            return bad(c, "a __metadata__ value that is not a string");
        TIDE_TRY(parse_string(c, &h->meta_values[h->nmeta - 1]));
    } while (tide_cursor_eat(c, ','));
    if (!tide_cursor_eat(c, '}'))
        return bad(c, "expected ',' or '}' in __metadata__");
    return TIDE_OK;
}

static tide_status parse_object(cursor *c, tide_st_header *h)
{
    if (!tide_cursor_eat(c, '{'))
        return bad(c, "expected '{'");
    if (tide_cursor_eat(c, '}'))
        return TIDE_OK;
    int have_meta = 0;
    do {
        char *key;
        TIDE_TRY(parse_key(c, &key));
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (have_meta++)
                return bad(c, "a second __metadata__");
            TIDE_TRY(parse_metadata(c, h));
            continue;
        }
        if (*key == '\0') {
            free(key);
            return bad(c, "a tensor with an empty name");
        }
        tide_st_entry *e = realloc(h->entries, (size_t)(h->n + 1) * sizeof *e);
        if (!e) {
            free(key);
            return tide_fail("load: out of memory");
        }
        h->entries = e;
        e = &h->entries[h->n++];
        memset(e, 0, sizeof *e);
        e->name = key;
        TIDE_TRY(parse_entry(c, e));
    } while (tide_cursor_eat(c, ','));
    if (!tide_cursor_eat(c, '}'))
        return bad(c, "expected ',' or '}'");
    tide_cursor_skip_ws(c);
    if (c->p != c->end)
        return bad(c, "text after the header's object");
    return TIDE_OK;
}

static int by_begin(const void *a, const void *b)
{
    const tide_st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sizes against data: each span matches its shape, the spans tile the data, names unique. */
static tide_status check_entries(tide_st_header *h, const char *what, uint64_t data_size)
{
    for (int i = 0; i < h->n; i++) {
        tide_st_entry *e = &h->entries[i];
        uint64_t bytes = tide_dtype_size(e->dtype), span = bytes;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t extent = e->shape[d] > 1 ? (uint64_t)e->shape[d] : 1;
            /* span: the strides must fit too, whatever a zero-sized dim makes of the bytes */
            if (__builtin_mul_overflow(bytes, (uint64_t)e->shape[d], &bytes) ||
                __builtin_mul_overflow(span, extent, &span) || span > INT64_MAX)
                return tide_fail("load: '%s': tensor '%s' has a shape too large", what, e->name);
        }
        if (e->end < e->begin)
            return tide_fail("load: '%s': tensor '%s' has data_offsets [%llu, %llu] that end"
                             " before they begin", what, e->name, (unsigned long long)e->begin,
                             (unsigned long long)e->end);
        if (e->end - e->begin != bytes)
            return tide_fail("load: '%s': tensor '%s' of shape %s and dtype %s needs %llu"
                             " bytes, but its data_offsets [%llu, %llu] span %llu", what, e->name,
                             tide_shape_str_n(e->ndim, e->shape, (char[TIDE_SHAPE_BUF]){0},
                                              TIDE_SHAPE_BUF),
                             tide_st_dtype_name(e->dtype), (unsigned long long)bytes,
                             (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)(e->end - e->begin));
    }
    if (h->n > 0)   /* (entries is NULL when there are none) */
        qsort(h->entries, (size_t)h->n, sizeof *h->entries, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < h->n; i++) {
        tide_st_entry *e = &h->entries[i];
        if (e->begin != at)
            return tide_fail("load: '%s': tensor '%s' begins at byte %llu of the data, expected"
                             " %llu (the tensors must cover the data without %s)", what, e->name,
                             (unsigned long long)e->begin, (unsigned long long)at,
                             e->begin > at ? "gaps" : "overlaps");
        at = e->end;
    }
    if (at != data_size)
        return tide_fail("load: '%s': the tensors cover %llu bytes of data, but the file holds"
                         " %llu after the header%s", what, (unsigned long long)at,
                         (unsigned long long)data_size, at > data_size ? " (truncated?)" : "");
    char **names = malloc((size_t)h->n * sizeof *names + 1);
    if (!names)
        return tide_fail("load: out of memory");
    for (int i = 0; i < h->n; i++)
        names[i] = h->entries[i].name;
    if (h->n > 0)
        qsort(names, (size_t)h->n, sizeof *names, by_name);
    tide_status st = TIDE_OK;
    for (int i = 0; i + 1 < h->n && st == TIDE_OK; i++)
        if (strcmp(names[i], names[i + 1]) == 0)
            st = tide_fail("load: '%s' has a malformed header: a duplicate tensor name '%s'",
                           what, names[i]);
    free(names);
    return st;
}

tide_status tide_st_header_parse(tide_st_header *h, const char *what, const char *text,
                                 size_t len, uint64_t data_size)
{
    memset(h, 0, sizeof *h);
    cursor c = {text, text, text + len, what};
    tide_status st = parse_object(&c, h);
    if (st == TIDE_OK)
        st = check_entries(h, what, data_size);
    if (st != TIDE_OK)
        tide_st_header_free(h);
    return st;
}

void tide_st_header_free(tide_st_header *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->entries[i].name);
    for (int i = 0; i < h->nmeta; i++) {
        free(h->meta_keys[i]);
        free(h->meta_values[i]);
    }
    free(h->entries);
    free(h->meta_keys);
    free(h->meta_values);
    memset(h, 0, sizeof *h);
}
