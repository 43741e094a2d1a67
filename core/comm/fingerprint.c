/* fingerprint.c — exchanging and comparing the fingerprints of a collective: every call in
 * debug mode, and the light check's sampled calls (see fingerprint.h). */
#include "comm/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm_impl.h"
#include "comm/shared.h"

void tide_fp_fill(tide_fp *fp, const char *name, uint64_t seq, const tide_tensor *t, int op,
                  int root, int flags, const char *site)
{
    memset(fp, 0, sizeof *fp);
    snprintf(fp->name, sizeof fp->name, "%s", name);
    fp->seq = seq;
    fp->dtype = t && !(flags & FP_NO_TENSOR) ? (int32_t)t->dtype : -1;
    fp->ndim = t && !(flags & FP_NO_TENSOR) ? t->ndim : 0;
    for (int d = 0; d < fp->ndim; d++)
        fp->shape[d] = t->shape[d];
    fp->op = op;
    fp->root = root;
    fp->flags = flags;
    fp->win = -1;
    snprintf(fp->site, sizeof fp->site, "%s", site ? site : "?");
}

/* Do a and b describe the same call? (the site may differ: ranks may call from different
 * lines of a script) */
static int same_call(const tide_fp *a, const tide_fp *b)
{
    if (strcmp(a->name, b->name) != 0 || a->seq != b->seq || a->dtype != b->dtype ||
        a->ndim != b->ndim || a->op != b->op || a->root != b->root || a->win != b->win)
        return 0;
    int first = (a->flags & FP_ROWS_VARY) ? 1 : 0;
    for (int d = first; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* What the message shows besides dtype and shape: the parts in which some rank differs. */
enum { SHOW_OP = 1, SHOW_ROOT = 2, SHOW_SEQ = 4, SHOW_NAME = 8, SHOW_WIN = 16 };

static int differences(const tide_fp *all, int size)
{
    int show = 0;
    for (int r = 1; r < size; r++) {
        if (all[r].op != all[0].op && all[r].op >= 0 && all[0].op >= 0) show |= SHOW_OP;
        if (all[r].root != all[0].root && all[r].root >= 0 && all[0].root >= 0) show |= SHOW_ROOT;
        if (all[r].seq != all[0].seq) show |= SHOW_SEQ;
        if (strcmp(all[r].name, all[0].name) != 0) show |= SHOW_NAME;
        if (all[r].win != all[0].win) show |= SHOW_WIN;
    }
    return show;
}

/* "f32 [2x3]" (+ " op max", " root 1", " (shared tensor 2)", " as its #4" when some rank
 * differs in those). */
static void describe(char *buf, size_t n, const tide_fp *f, int show)
{
    size_t used = 0;
    buf[0] = '\0';
    if (f->dtype >= 0) {
        used += (size_t)snprintf(buf, n, "%s [", tide_dtype_name((tide_dtype)f->dtype));
        for (int d = 0; d < f->ndim && used < n; d++)
            used += (size_t)snprintf(buf + used, n - used, d ? "x%lld" : "%lld",
                                     (long long)f->shape[d]);
        if (used < n)
            used += (size_t)snprintf(buf + used, n - used, "]");
    }
    if ((show & SHOW_OP) && f->op >= 0 && used < n)
        used += (size_t)snprintf(buf + used, n - used, "%sop %s", used ? " " : "",
                                 tide_op_name((tide_op)f->op));
    if ((show & SHOW_ROOT) && f->root >= 0 && used < n)
        used += (size_t)snprintf(buf + used, n - used, "%sroot %d", used ? " " : "", f->root);
    if ((show & SHOW_WIN) && used < n) {
        if (f->win >= 0)
            used += (size_t)snprintf(buf + used, n - used, " (shared tensor %d)", f->win);
        else
            used += (size_t)snprintf(buf + used, n - used, " (not shared)");
    }
    if ((show & SHOW_SEQ) && used < n)
        snprintf(buf + used, n - used, "%sas its #%llu", used ? " " : "",
                 (unsigned long long)f->seq);
}

/* "rank 1 passed f32 [20] at train.lua:40", or when the collectives differ
 * "rank 1 called allreduce on f32 [20] at train.lua:40". */
static size_t part(char *out, size_t n, const char *ranks, const tide_fp *f, int show)
{
    char desc[160];
    describe(desc, sizeof desc, f, show);
    if ((show & SHOW_NAME) || !desc[0])
        return (size_t)snprintf(out, n, "%s called %s%s%s at %s", ranks, f->name,
                                desc[0] ? " on " : "", desc, f->site);
    return (size_t)snprintf(out, n, "%s passed %s at %s", ranks, desc, f->site);
}

/* The message every rank raises: rank 0's call names the collective, then the ranks that
 * differ from rank 0 (consecutive ranks with the same call and site grouped), then rank 0. */
static tide_status mismatch(const tide_fp *all, int size)
{
    const tide_fp *ref = &all[0];
    int show = differences(all, size);
    char msg[900];
    size_t used = (size_t)snprintf(msg, sizeof msg, "%s #%llu: ", ref->name,
                                   (unsigned long long)ref->seq);
    int listed = 0;
    for (int r = 1; r < size && used < sizeof msg; r++) {
        if (same_call(&all[r], ref))
            continue;
        int last = r;
        while (last + 1 < size && !same_call(&all[last + 1], ref) &&
               same_call(&all[last + 1], &all[r]) && strcmp(all[last + 1].site, all[r].site) == 0)
            last++;
        if (listed == 4) {
            used += (size_t)snprintf(msg + used, sizeof msg - used, "more ranks differ, ");
            break;
        }
        char ranks[48];
        if (last == r)
            snprintf(ranks, sizeof ranks, "rank %d", r);
        else
            snprintf(ranks, sizeof ranks, "ranks %d-%d", r, last);
        used += part(msg + used, sizeof msg - used, ranks, &all[r], show);
        if (used < sizeof msg)
            used += (size_t)snprintf(msg + used, sizeof msg - used, ", ");
        listed++;
        r = last;
    }
    if (used < sizeof msg)
        part(msg + used, sizeof msg - used, "rank 0", ref, show);
    return tide_fail("%s", msg);
}

tide_status tide_fp_check(MPI_Comm comm, int rank, int size, const tide_fp *mine,
                          const tide_wd_op *wd)
{
    (void)rank;
    tide_fp *all = malloc(sizeof *all * (size_t)size);
    if (!all)
        return tide_fail("%s: out of memory for the debug fingerprints", mine->name);
    int rc;
    if (!tide_wd_polled()) {
        rc = TIDE_WD_WATCHED(wd, MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, all,
                                               (int)sizeof *mine, MPI_BYTE, comm));
    } else {
        MPI_Request req;
        rc = MPI_Iallgather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE,
                            comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_wd_wait(&req, MPI_STATUS_IGNORE, wd);
    }
    if (rc != MPI_SUCCESS) {
        free(all);
        return tide_mpi_fail(rc, mine->name);
    }
    tide_status st = TIDE_OK;
    for (int r = 1; r < size; r++)
        if (!same_call(&all[r], &all[0])) {
            st = mismatch(all, size);
            break;
        }
    free(all);
    return st;
}

/* ------------------------------------------------------------------ the light check */

int tide_fp_light = 1;

void tide_fp_set_light(int on) { tide_fp_light = on != 0; }

#define SEEN_SETS 64
#define SEEN_WAYS 4

/* A communicator's memory of signatures: a small set-associative table whose state depends
 * only on the sequence of signatures, so it is the same on every rank of a correct program. */
struct tide_fp_state {
    MPI_Comm shadow;                          /* the checks' own duplicate of c->comm */
    uint64_t key[SEEN_SETS][SEEN_WAYS];       /* 0: empty */
    uint8_t count[SEEN_SETS][SEEN_WAYS];      /* checked calls so far, up to LIGHT_FIRST */
    uint8_t next[SEEN_SETS];                  /* the way to replace next (round robin) */
};

static _Thread_local struct {
    tide_site_fn fn;
    void *ctx;
    int level;
} deferred;

void tide_fp_defer_site(tide_site_fn fn, void *ctx, int level)
{
    deferred.fn = fn;
    deferred.ctx = ctx;
    deferred.level = level;
}

/* Makes tide_comm_site() say where the collective was called from. */
static void resolve_site(void)
{
    if (!deferred.fn)
        return;
    char site[96];
    deferred.fn(deferred.ctx, deferred.level, site, sizeof site);
    tide_comm_set_site(site);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

/* A hash of what same_call compares but the sequence number and the shared tensor. */
static uint64_t signature(const char *name, const tide_tensor *t, int op, int root, int flags)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    int has_t = t && !(flags & FP_NO_TENSOR);
    h = mix(h, has_t ? (uint64_t)t->dtype + 1 : 0);
    if (has_t) {
        h = mix(h, (uint64_t)t->ndim);
        for (int d = (flags & FP_ROWS_VARY) ? 1 : 0; d < t->ndim; d++)
            h = mix(h, (uint64_t)t->shape[d]);
    }
    h = mix(h, ((uint64_t)(uint32_t)(op + 1) << 32) | (uint32_t)(root + 1));
    return h ? h : 1;
}

/* The shared tensor a blocking allreduce of t would run in (the same test as comm.c's), or -1:
 * ranks that disagree about it would run different code, so it is part of the fingerprint. */
static int shared_win(const char *name, const tide_comm *c, const tide_tensor *t, int op)
{
    if (!t || !t->storage || (op != TIDE_OP_SUM && op != TIDE_OP_AVG) ||
        !tide_dtype_is_float(t->dtype) || strcmp(name, "allreduce") != 0)
        return -1;
    return tide_comm_shared_id(c, t);
}

/* Is this call one the light check looks at? Counts it either way. */
static tide_status due(tide_comm *c, uint64_t sig, int *yes)
{
    struct tide_fp_state *s = c->fp;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return tide_fail("mismatch check: out of memory");
        s->shadow = MPI_COMM_NULL;
        c->fp = s;
    }
    int set = (int)((sig >> 20) % SEEN_SETS);
    for (int w = 0; w < SEEN_WAYS; w++)
        if (s->key[set][w] == sig) {
            *yes = s->count[set][w] < LIGHT_FIRST || c->seq % LIGHT_EVERY == 0;
            if (s->count[set][w] < LIGHT_FIRST)
                s->count[set][w]++;
            return TIDE_OK;
        }
    int w = s->next[set];
    s->next[set] = (uint8_t)((w + 1) % SEEN_WAYS);
    s->key[set][w] = sig;
    s->count[set][w] = 1;
    *yes = 1;
    return TIDE_OK;
}

tide_status tide_fp_explain(coll *x, MPI_Comm comm, const tide_tensor *t, int op, int root,
                            int flags, int win)
{
    resolve_site();
    tide_fp fp;
    tide_fp_fill(&fp, x->name, x->c->seq, t, op, root, flags, tide_comm_site());
    fp.win = win;
    TIDE_TRY(tide_fp_check(comm, x->c->rank, x->c->size, &fp, &x->wd));
    /* unreachable unless the hashes disagree with the fingerprints */
    return tide_fail("%s #%llu: the ranks' calls differ", x->name, (unsigned long long)x->c->seq);
}

/* One allreduce of (h, ~h) with MAX: every rank passed the same h exactly when its own h is
 * both the largest and (through ~h) the smallest. */
static tide_status light_exchange(coll *x, uint64_t sig, const tide_tensor *t, int op, int root,
                                  int flags, int win)
{
    struct tide_fp_state *s = x->c->fp;
    if (s->shadow == MPI_COMM_NULL) {
        /* non-blocking, so that a rank that never comes is reported by the watchdog */
        MPI_Request req;
        MPI_TRY(x->name, MPI_Comm_idup(x->c->comm, &s->shadow, &req));
        MPI_TRY(x->name, tide_wd_wait(&req, MPI_STATUS_IGNORE, &x->wd));
        MPI_Comm_set_errhandler(s->shadow, MPI_ERRORS_RETURN);
    }
    uint64_t h = mix(mix(sig, (uint64_t)(uint32_t)(win + 1)), x->c->seq);
    uint64_t mine[2] = {h, ~h}, most[2];
    int rc;
    if (!x->polled) {
        rc = TIDE_WD_WATCHED(&x->wd, MPI_Allreduce(mine, most, 2, MPI_UINT64_T, MPI_MAX,
                                                   s->shadow));
    } else {
        MPI_Request req;
        rc = MPI_Iallreduce(mine, most, 2, MPI_UINT64_T, MPI_MAX, s->shadow, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_wd_wait(&req, MPI_STATUS_IGNORE, &x->wd);
    }
    if (rc != MPI_SUCCESS)
        return tide_mpi_fail(rc, x->name);
    if (most[0] == mine[0] && most[1] == mine[1])
        return TIDE_OK;
    return tide_fp_explain(x, s->shadow, t, op, root, flags, win);
}

tide_status tide_fp_hook(coll *x, const tide_tensor *t, int op, int root, int flags, int debug)
{
    tide_comm *c = x->c;
    int win = shared_win(x->name, c, t, op);
    if (debug) {
        tide_fp fp;
        tide_fp_fill(&fp, x->name, c->seq, t, op, root, flags, tide_comm_site());
        fp.win = win;
        return tide_fp_check(c->comm, c->rank, c->size, &fp, &x->wd);
    }
    if (c->size < 2)
        return TIDE_OK;
    /* The shared tensor is compared but does not make a call new: ranks passing different
     * shared tensors (or one an ordinary tensor) then still agree on whether to check, and
     * the shared path's own exchange catches what the check does not sample. */
    uint64_t sig = signature(x->name, t, op, root, flags);
    int yes = 0;
    TIDE_TRY(due(c, sig, &yes));
    return yes ? light_exchange(x, sig, t, op, root, flags, win) : TIDE_OK;
}

void tide_fp_forget(tide_comm *c)
{
    struct tide_fp_state *s = c->fp;
    if (!s)
        return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (s->shadow != MPI_COMM_NULL && !fin)
        MPI_Comm_free(&s->shadow);
    free(s);
    c->fp = NULL;
}
