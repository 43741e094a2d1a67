/* dmatrix.c — block-cyclic packing and the SUMMA loop (dmatrix.h). */
#include "dist/dmatrix.h"

#include <stdint.h>
#include <string.h>

#include "linalg/blas.h"

int64_t tide_dmatrix_local_count(int64_t n, int64_t nb, int p, int np)
{
    int64_t nblocks = n / nb, extra = n % nb;
    int64_t count = (nblocks / np) * nb;
    int64_t rest = nblocks % np;
    if (p < rest)
        count += nb;
    else if (p == rest)
        count += extra;   /* the last, partial block lands on the next position in turn */
    return count;
}

/* The global index of local index l on position p of np, blocks of nb. */
static int64_t to_global(int64_t l, int64_t nb, int p, int np)
{
    return ((l / nb) * np + p) * nb + l % nb;
}

tide_status tide_dmatrix_check_layout(const tide_dmatrix_layout *lay, const char *op)
{
    if (lay->m < 0 || lay->n < 0)
        return tide_fail("%s: expected a non-negative shape, got %lldx%lld", op,
                         (long long)lay->m, (long long)lay->n);
    if (lay->mb < 1 || lay->nb < 1)
        return tide_fail("%s: expected positive block sizes, got %lldx%lld", op,
                         (long long)lay->mb, (long long)lay->nb);
    if (lay->pr < 1 || lay->pc < 1)
        return tide_fail("%s: expected a grid of positive sizes, got %dx%d", op, lay->pr, lay->pc);
    return TIDE_OK;
}

static tide_status check_position(const tide_dmatrix_layout *lay, int prow, int pcol,
                                  const char *op)
{
    TIDE_TRY(tide_dmatrix_check_layout(lay, op));
    if (prow < 0 || prow >= lay->pr || pcol < 0 || pcol >= lay->pc)
        return tide_fail("%s: grid position (%d, %d) outside the %dx%d grid", op, prow, pcol,
                         lay->pr, lay->pc);
    return TIDE_OK;
}

static tide_status check_2d(const tide_tensor *t, int64_t rows, int64_t cols, const char *what,
                            const char *op)
{
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return tide_fail("%s: expected %s of shape %lldx%lld, got a %d-D tensor%s%lldx%lld", op,
                         what, (long long)rows, (long long)cols, t->ndim,
                         t->ndim == 2 ? " " : " of first dims ",
                         (long long)(t->ndim > 0 ? t->shape[0] : 1),
                         (long long)(t->ndim > 1 ? t->shape[1] : 1));
    return TIDE_OK;
}

/* Copies between a contiguous global and a contiguous local matrix, one run of a block's
 * columns at a time; to_local says which way. */
static void move_blocks(char *global, char *local, const tide_dmatrix_layout *lay, int prow,
                        int pcol, int64_t lm, int64_t ln, size_t es, int to_local)
{
    for (int64_t li = 0; li < lm; li++) {
        int64_t gi = to_global(li, lay->mb, prow, lay->pr);
        for (int64_t lj = 0; lj < ln; lj += lay->nb) {
            int64_t gj = to_global(lj, lay->nb, pcol, lay->pc);
            int64_t w = ln - lj < lay->nb ? ln - lj : lay->nb;
            char *g = global + (size_t)(gi * lay->n + gj) * es;
            char *l = local + (size_t)(li * ln + lj) * es;
            if (to_local)
                memcpy(l, g, (size_t)w * es);
            else
                memcpy(g, l, (size_t)w * es);
        }
    }
}

tide_status tide_dmatrix_pack(tide_tensor *out, const tide_tensor *global,
                              const tide_dmatrix_layout *lay, int prow, int pcol)
{
    const char *op = "dmatrix.from_global";
    TIDE_TRY(check_position(lay, prow, pcol, op));
    TIDE_TRY(check_2d(global, lay->m, lay->n, "a global matrix", op));
    int64_t shape[2] = {tide_dmatrix_local_count(lay->m, lay->mb, prow, lay->pr),
                        tide_dmatrix_local_count(lay->n, lay->nb, pcol, lay->pc)};
    tide_tensor g = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&g, global));
    if (tide_tensor_alloc(out, global->dtype, 2, shape) != TIDE_OK) {
        tide_tensor_release(&g);
        return TIDE_FAIL;
    }
    if (shape[0] > 0 && shape[1] > 0)
        move_blocks(tide_data(&g), tide_data(out), lay, prow, pcol, shape[0], shape[1],
                    tide_dtype_size(g.dtype), 1);
    tide_tensor_release(&g);
    return TIDE_OK;
}

tide_status tide_dmatrix_unpack(tide_tensor *global, const tide_tensor *local,
                                const tide_dmatrix_layout *lay, int prow, int pcol)
{
    const char *op = "dmatrix.to_global";
    TIDE_TRY(check_position(lay, prow, pcol, op));
    TIDE_TRY(check_2d(global, lay->m, lay->n, "a global matrix", op));
    int64_t lm = tide_dmatrix_local_count(lay->m, lay->mb, prow, lay->pr);
    int64_t ln = tide_dmatrix_local_count(lay->n, lay->nb, pcol, lay->pc);
    TIDE_TRY(check_2d(local, lm, ln, "a local matrix", op));
    if (!tide_is_contiguous(global))
        return tide_fail("%s: expected a contiguous global matrix", op);
    if (global->dtype != local->dtype)
        return tide_fail("%s: dtype mismatch, global %s, local %s", op,
                         tide_dtype_name(global->dtype), tide_dtype_name(local->dtype));
    if (lm == 0 || ln == 0)
        return TIDE_OK;
    tide_tensor l = TIDE_TENSOR_EMPTY;
    TIDE_TRY(tide_contiguous(&l, local));
    move_blocks(tide_data(global), tide_data(&l), lay, prow, pcol, lm, ln,
                tide_dtype_size(l.dtype), 0);
    tide_tensor_release(&l);
    return TIDE_OK;
}

/* ------------------------------------------------------------------ SUMMA */

/* The state of one panel in flight: A's columns broadcast along the grid row, B's rows along
 * the grid column, each into its own buffer (two of each, so the next panel can arrive while
 * the current one is multiplied). */
typedef struct panel {
    tide_tensor a, b;           /* views of the buffers, locm x w and w x locn */
    tide_request ra, rb;
} panel;

static tide_status shaped(tide_tensor *out, const tide_tensor *buf, int64_t r, int64_t c)
{
    tide_tensor flat = TIDE_TENSOR_EMPTY;
    int64_t shape[2] = {r, c};
    TIDE_TRY(tide_narrow(&flat, buf, 0, 0, r * c));
    tide_status st = tide_view(out, &flat, 2, shape);
    tide_tensor_release(&flat);
    return st;
}

/* Copies the w columns (rows when dim == 0) of src from local index at into dst and posts its
 * broadcast from root (on every rank, so the root fills dst first). */
static tide_status post(tide_comm *c, tide_request *r, tide_tensor *dst, const tide_tensor *src,
                        int dim, int64_t at, int64_t w, int root)
{
    if (c->rank == root && tide_numel(dst) > 0) {
        tide_tensor part = TIDE_TENSOR_EMPTY;
        TIDE_TRY(tide_narrow(&part, src, dim, at, w));
        tide_status st = tide_copy(dst, &part);
        tide_tensor_release(&part);
        TIDE_TRY(st);
    }
    memset(r, 0, sizeof *r);
    return tide_comm_ibroadcast(c, r, dst, root);
}

typedef struct summa {
    const tide_tensor *a, *b;
    const tide_dmatrix_layout *la, *lb;
    tide_comm *row, *col;
    int64_t locm, locn, kb;
    tide_tensor abuf[2], bbuf[2];
    panel p[2];
} summa;

static tide_status start_panel(summa *s, int64_t kk, int slot)
{
    int64_t k = s->la->n;
    int64_t w = k - kk * s->kb < s->kb ? k - kk * s->kb : s->kb;
    panel *p = &s->p[slot];
    TIDE_TRY(shaped(&p->a, &s->abuf[slot], s->locm, w));
    TIDE_TRY(shaped(&p->b, &s->bbuf[slot], w, s->locn));
    int acol = (int)(kk % s->la->pc), brow = (int)(kk % s->lb->pr);
    TIDE_TRY(post(s->row, &p->ra, &p->a, s->a, 1, (kk / s->la->pc) * s->kb, w, acol));
    return post(s->col, &p->rb, &p->b, s->b, 0, (kk / s->lb->pr) * s->kb, w, brow);
}

static void release_panel(panel *p)
{
    tide_request_release(&p->ra);
    tide_request_release(&p->rb);
    tide_tensor_release(&p->a);
    tide_tensor_release(&p->b);
}

static tide_status check_summa(const tide_tensor *a, const tide_tensor *b,
                               const tide_dmatrix_layout *la, const tide_dmatrix_layout *lb,
                               tide_comm *row, tide_comm *col)
{
    const char *op = "dmatrix.matmul";
    TIDE_TRY(tide_dmatrix_check_layout(la, op));
    TIDE_TRY(tide_dmatrix_check_layout(lb, op));
    if (la->n != lb->m)
        return tide_fail("%s: size mismatch, %lldx%lld @ %lldx%lld", op, (long long)la->m,
                         (long long)la->n, (long long)lb->m, (long long)lb->n);
    if (la->pr != lb->pr || la->pc != lb->pc)
        return tide_fail("%s: expected operands on one grid, got %dx%d and %dx%d", op, la->pr,
                         la->pc, lb->pr, lb->pc);
    if (la->nb != lb->mb)
        return tide_fail("%s: A's column blocks (%lld) must equal B's row blocks (%lld)", op,
                         (long long)la->nb, (long long)lb->mb);
    if (row->size != la->pc || col->size != la->pr)
        return tide_fail("%s: expected row and column communicators of %d and %d ranks, got "
                         "%d and %d", op, la->pc, la->pr, row->size, col->size);
    if (a->dtype != b->dtype || (a->dtype != TIDE_F32 && a->dtype != TIDE_F64))
        return tide_fail("%s: expected two f32 or two f64 matrices, got %s and %s", op,
                         tide_dtype_name(a->dtype), tide_dtype_name(b->dtype));
    int prow = col->rank, pcol = row->rank;
    TIDE_TRY(check_2d(a, tide_dmatrix_local_count(la->m, la->mb, prow, la->pr),
                      tide_dmatrix_local_count(la->n, la->nb, pcol, la->pc), "A's local block",
                      op));
    return check_2d(b, tide_dmatrix_local_count(lb->m, lb->mb, prow, lb->pr),
                    tide_dmatrix_local_count(lb->n, lb->nb, pcol, lb->pc), "B's local block", op);
}

static tide_status run_summa(summa *s, tide_tensor *c)
{
    int64_t k = s->la->n, npanels = (k + s->kb - 1) / s->kb;
    int64_t abuf = s->locm * s->kb, bbuf = s->kb * s->locn;
    for (int i = 0; i < 2; i++) {
        TIDE_TRY(tide_tensor_alloc(&s->abuf[i], s->a->dtype, 1, &abuf));
        TIDE_TRY(tide_tensor_alloc(&s->bbuf[i], s->a->dtype, 1, &bbuf));
    }
    if (npanels > 0)
        TIDE_TRY(start_panel(s, 0, 0));
    for (int64_t kk = 0; kk < npanels; kk++) {
        int slot = (int)(kk & 1);
        panel *p = &s->p[slot];
        TIDE_TRY(tide_request_wait(&p->ra));
        TIDE_TRY(tide_request_wait(&p->rb));
        /* the next panel travels while this one is multiplied */
        if (kk + 1 < npanels)
            TIDE_TRY(start_panel(s, kk + 1, 1 - slot));
        if (s->locm > 0 && s->locn > 0)
            TIDE_TRY(tide_addmm(c, &p->a, &p->b, 1.0, 1.0));
        release_panel(p);
    }
    return TIDE_OK;
}

tide_status tide_dmatrix_summa(tide_tensor *c, const tide_tensor *a, const tide_tensor *b,
                               const tide_dmatrix_layout *la, const tide_dmatrix_layout *lb,
                               tide_comm *row, tide_comm *col)
{
    TIDE_TRY(check_summa(a, b, la, lb, row, col));
    summa s;
    memset(&s, 0, sizeof s);
    s.a = a, s.b = b, s.la = la, s.lb = lb, s.row = row, s.col = col, s.kb = la->nb;
    s.locm = a->shape[0], s.locn = b->shape[1];
    int64_t shape[2] = {s.locm, s.locn};
    TIDE_TRY(tide_tensor_zeros(c, a->dtype, 2, shape));
    tide_status st = run_summa(&s, c);
    for (int i = 0; i < 2; i++) {
        release_panel(&s.p[i]);
        tide_tensor_release(&s.abuf[i]);
        tide_tensor_release(&s.bbuf[i]);
    }
    if (st != TIDE_OK)
        tide_tensor_release(c);
    return st;
}
