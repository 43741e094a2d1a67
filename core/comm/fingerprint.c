/* fingerprint.c — exchanging and comparing the debug-mode fingerprints of a collective. */
#include "comm/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm_impl.h"

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
    snprintf(fp->site, sizeof fp->site, "%s", site ? site : "?");
}

/* Do a and b describe the same call? (the site may differ: ranks may call from different
 * lines of a script) */
static int same_call(const tide_fp *a, const tide_fp *b)
{
    if (strcmp(a->name, b->name) != 0 || a->seq != b->seq || a->dtype != b->dtype ||
        a->ndim != b->ndim || a->op != b->op || a->root != b->root)
        return 0;
    int first = (a->flags & FP_ROWS_VARY) ? 1 : 0;
    for (int d = first; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* What the message shows besides dtype and shape: the parts in which some rank differs. */
enum { SHOW_OP = 1, SHOW_ROOT = 2, SHOW_SEQ = 4, SHOW_NAME = 8 };

static int differences(const tide_fp *all, int size)
{
    int show = 0;
    for (int r = 1; r < size; r++) {
        if (all[r].op != all[0].op && all[r].op >= 0 && all[0].op >= 0) show |= SHOW_OP;
        if (all[r].root != all[0].root && all[r].root >= 0 && all[0].root >= 0) show |= SHOW_ROOT;
        if (all[r].seq != all[0].seq) show |= SHOW_SEQ;
        if (strcmp(all[r].name, all[0].name) != 0) show |= SHOW_NAME;
    }
    return show;
}

/* "f32 [2x3]" (+ " op max", " root 1", " as its #4" when some rank differs in those). */
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
    if (!tide_wd_active()) {
        rc = MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE,
                           comm);
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
