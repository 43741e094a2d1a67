/* format.c — choosing one number format for a tensor, and laying out its values. */
#include "tensor/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CELL_INT, CELL_WHOLE, CELL_EXP, CELL_FIXED } cell_kind;

typedef struct {
    const tide_tensor *t;
    tide_write_fn write;
    void *ctx;
    int summarize;
    cell_kind kind;
    int width;        /* every cell is at least this wide */
    double scale;     /* values print divided by it; 1 when there is no scale line */
} printer;

static void put(printer *p, const char *s) { p->write(p->ctx, s, strlen(s)); }

/* ---------------------------------------------------------------- which entries print */

static int64_t shown_count(const printer *p, int d)
{
    int64_t n = p->t->shape[d];
    return p->summarize && n > 2 * TIDE_FORMAT_EDGE ? 2 * TIDE_FORMAT_EDGE : n;
}

/* The k-th printed index of dim d. */
static int64_t shown_index(const printer *p, int d, int64_t k)
{
    int64_t n = p->t->shape[d];
    if (shown_count(p, d) == n || k < TIDE_FORMAT_EDGE)
        return k;
    return n - 2 * TIDE_FORMAT_EDGE + k;
}

/* Is there an elided run right after the k-th printed index of dim d? */
static int gap_after(const printer *p, int d, int64_t k)
{
    return shown_count(p, d) != p->t->shape[d] && k == TIDE_FORMAT_EDGE - 1;
}

/* Steps pos (printed positions of dims [0, nd)) like an odometer; 0 when done. */
static int next_pos(const printer *p, int64_t *pos, int nd)
{
    for (int d = nd - 1; d >= 0; d--) {
        if (++pos[d] < shown_count(p, d))
            return 1;
        pos[d] = 0;
    }
    return 0;
}

static void to_index(const printer *p, const int64_t *pos, int64_t *idx)
{
    for (int d = 0; d < p->t->ndim; d++)
        idx[d] = shown_index(p, d, pos[d]);
}

/* ---------------------------------------------------------------- choosing the format */

static int decimal_exponent(double x) { return x == 0 ? 1 : (int)floor(log10(x)) + 1; }

static void choose_format(printer *p)
{
    const tide_tensor *t = p->t;
    int64_t pos[TIDE_MAX_DIMS] = {0}, idx[TIDE_MAX_DIMS];
    int is_int = !tide_dtype_is_float(t->dtype);
    int width = 0, nonfinite = 0, whole = 1, any = 0;
    double lo = 0, hi = 0;
    do {
        to_index(p, pos, idx);
        if (is_int) {
            char buf[32];
            int w = snprintf(buf, sizeof buf, "%lld", (long long)tide_get_i64(t, idx));
            width = w > width ? w : width;
            continue;
        }
        double v = tide_get_f64(t, idx);
        if (!isfinite(v)) {
            int w = isnan(v) ? 3 : v > 0 ? 3 : 4;
            nonfinite = w > nonfinite ? w : nonfinite;
            continue;
        }
        double a = fabs(v);
        if (!any || a < lo) lo = a;
        if (!any || a > hi) hi = a;
        any = 1;
        whole = whole && v == ceil(v);
    } while (next_pos(p, pos, t->ndim));

    p->scale = 1;
    if (is_int) {
        p->kind = CELL_INT;
        p->width = width + 1;
        return;
    }
    int exp_min = decimal_exponent(lo), exp_max = decimal_exponent(hi);
    if (whole) {
        p->kind = exp_max > 9 ? CELL_EXP : CELL_WHOLE;
        p->width = exp_max > 9 ? 11 : exp_max + 1;
    } else if (exp_max - exp_min > 4) {
        p->kind = CELL_EXP;
        p->width = abs(exp_max) > 99 || abs(exp_min) > 99 ? 12 : 11;
    } else if (exp_max > 5 || exp_max < 0) {
        p->kind = CELL_FIXED;
        p->width = 7;
        p->scale = pow(10, exp_max - 1);
    } else {
        p->kind = CELL_FIXED;
        p->width = exp_max == 0 ? 7 : exp_max + 6;
    }
    if (nonfinite + 1 > p->width)
        p->width = nonfinite + 1;
}

/* ---------------------------------------------------------------- cells and lines */

static void put_cell(printer *p, const int64_t *idx)
{
    char buf[64];
    const tide_tensor *t = p->t;
    int w = p->width;
    if (p->kind == CELL_INT) {
        snprintf(buf, sizeof buf, "%*lld", w, (long long)tide_get_i64(t, idx));
    } else {
        double v = tide_get_f64(t, idx);
        if (isnan(v))
            snprintf(buf, sizeof buf, "%*s", w, "nan");
        else if (isinf(v))
            snprintf(buf, sizeof buf, "%*s", w, v > 0 ? "inf" : "-inf");
        else if (p->kind == CELL_WHOLE)
            snprintf(buf, sizeof buf, "%*.0f", w, v);
        else if (p->kind == CELL_EXP)
            snprintf(buf, sizeof buf, "%*.4e", w, v);
        else
            snprintf(buf, sizeof buf, "%*.4f", w, v / p->scale);
    }
    put(p, buf);
}

static void put_ellipsis(printer *p)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%*s", p->width, "...");
    put(p, buf);
}

static void put_scale(printer *p, const char *indent)
{
    if (p->scale == 1)
        return;
    char buf[64];
    snprintf(buf, sizeof buf, "%s%g *\n", indent, p->scale);
    put(p, buf);
}

static void put_footer(printer *p)
{
    char shape[TIDE_SHAPE_BUF], buf[TIDE_SHAPE_BUF + 64];
    if (p->t->ndim == 0)
        snprintf(buf, sizeof buf, "[%s scalar tensor]", tide_dtype_name(p->t->dtype));
    else
        snprintf(buf, sizeof buf, "[%s tensor of size %s]", tide_dtype_name(p->t->dtype),
                 tide_shape_str(p->t, shape, sizeof shape));
    put(p, buf);
}

static void put_vector(printer *p)
{
    int64_t pos[TIDE_MAX_DIMS] = {0}, idx[TIDE_MAX_DIMS];
    put_scale(p, "");
    for (int64_t k = 0; k < shown_count(p, 0); k++) {
        pos[0] = k;
        to_index(p, pos, idx);
        put_cell(p, idx);
        put(p, "\n");
        if (gap_after(p, 0, k)) {
            put_ellipsis(p);
            put(p, "\n");
        }
    }
}

/* Rows [.., r, c] of the matrix whose leading printed positions are in pos[0..ndim-3]; the
 * columns printed are positions [c0, c1). */
static void put_rows(printer *p, int64_t *pos, const char *indent, int64_t c0, int64_t c1)
{
    int rd = p->t->ndim - 2, cd = p->t->ndim - 1;
    const char *lead = p->scale == 1 ? "" : " ";
    int64_t idx[TIDE_MAX_DIMS];
    for (int64_t r = 0; r < shown_count(p, rd); r++) {
        pos[rd] = r;
        put(p, indent);
        put(p, lead);
        for (int64_t c = c0; c < c1; c++) {
            pos[cd] = c;
            to_index(p, pos, idx);
            if (c > c0)
                put(p, " ");
            put_cell(p, idx);
            if (gap_after(p, cd, c)) {
                put(p, " ");
                put_ellipsis(p);
            }
        }
        put(p, "\n");
        if (gap_after(p, rd, r)) {
            put(p, indent);
            put(p, lead);
            put_ellipsis(p);
            put(p, "\n");
        }
    }
}

static void put_matrix(printer *p, int64_t *pos, const char *indent)
{
    int cd = p->t->ndim - 1;
    int64_t ncols = shown_count(p, cd);
    int64_t per_line = (TIDE_FORMAT_WIDTH - (int64_t)strlen(indent)) / (p->width + 1);
    if (per_line < 1)
        per_line = 1;
    /* an elided matrix is narrow already: it prints in one block */
    if (ncols != p->t->shape[cd] || ncols <= per_line) {
        put_scale(p, indent);
        put_rows(p, pos, indent, 0, ncols);
        return;
    }
    for (int64_t c0 = 0; c0 < ncols; c0 += per_line) {
        int64_t c1 = c0 + per_line < ncols ? c0 + per_line : ncols;
        char buf[96];
        snprintf(buf, sizeof buf, "%s%sColumns %lld to %lld\n", c0 ? "\n" : "", indent,
                 (long long)c0 + 1, (long long)c1);
        put(p, buf);
        put_scale(p, indent);
        put_rows(p, pos, indent, c0, c1);
    }
}

/* Every trailing matrix of a tensor of more than 2 dims, under its "(i,j,.,.) = " line. */
static void put_slices(printer *p)
{
    int lead = p->t->ndim - 2;
    int64_t pos[TIDE_MAX_DIMS] = {0};
    int first = 1;
    do {
        if (!first)
            put(p, "\n");
        first = 0;
        put(p, "(");
        for (int d = 0; d < lead; d++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld,", (long long)shown_index(p, d, pos[d]) + 1);
            put(p, buf);
        }
        put(p, ".,.) = \n");
        put_matrix(p, pos, " ");
        /* the leading position about to roll over past an elided run marks the gap */
        int gap = 0;
        for (int d = lead - 1; d >= 0; d--) {
            if (pos[d] + 1 < shown_count(p, d)) {
                gap = gap_after(p, d, pos[d]);
                break;
            }
        }
        if (gap)
            put(p, "\n...\n");
    } while (next_pos(p, pos, lead));
}

void tide_format(const tide_tensor *t, tide_write_fn write, void *ctx)
{
    printer p = {t, write, ctx, tide_numel(t) > TIDE_FORMAT_THRESHOLD, CELL_INT, 1, 1};
    if (tide_numel(t) > 0) {
        choose_format(&p);
        if (t->ndim == 0) {
            int64_t idx[TIDE_MAX_DIMS] = {0};
            put_cell(&p, idx);
            put(&p, "\n");
        } else if (t->ndim == 1) {
            put_vector(&p);
        } else if (t->ndim == 2) {
            int64_t pos[TIDE_MAX_DIMS] = {0};
            put_matrix(&p, pos, "");
        } else {
            put_slices(&p);
        }
    }
    put_footer(&p);
}

/* ---------------------------------------------------------------- into a string */

typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} growbuf;

static void grow_write(void *ctx, const char *s, size_t n)
{
    growbuf *b = ctx;
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

char *tide_format_string(const tide_tensor *t)
{
    growbuf b = {NULL, 0, 0, 0};
    tide_format(t, grow_write, &b);
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
