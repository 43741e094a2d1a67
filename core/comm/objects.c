/* objects.c — the collectives on byte strings that tide/comm.lua builds the object collectives
 * on (bcast_obj, allgather_obj, gather_obj, tide.on): each rank's string and whether its value
 * could be serialised travel together, so a rank that could not serialise makes every rank
 * fail with its message instead of leaving them waiting (see objects.h). */
#include "comm/objects.h"
#include "comm/comm_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_bcast(coll *x, void *buf, int count, int root)
{
    if (!x->polled)
        return TIDE_WD_WATCHED(&x->wd, MPI_Bcast(buf, count, MPI_BYTE, root, x->c->comm));
    MPI_Request req;
    int rc = MPI_Ibcast(buf, count, MPI_BYTE, root, x->c->comm, &req);
    return rc == MPI_SUCCESS ? tide_coll_wait(x, &req, NULL) : rc;
}

tide_status tide_comm_bcast_bytes(tide_comm *c, const char *name, const char *buf, int64_t len,
                                  int ok, int root, tide_bytes *out)
{
    TIDE_TRY(tide_check_rank(c, root, name, "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, NULL, -1, root, 0));
    char toolong[160];
    int64_t hdr[2] = {len, ok};
    if (c->rank == root && len > INT_MAX) {
        snprintf(toolong, sizeof toolong, "it serialises to %lld bytes, more than one MPI message"
                 " carries", (long long)len);
        buf = toolong;
        hdr[0] = (int64_t)strlen(toolong);
        hdr[1] = 0;
    }
    int rc = run_bcast(&x, hdr, (int)sizeof hdr, root);
    if (rc != MPI_SUCCESS)
        return tide_coll_close(&x, 0, tide_mpi_fail(rc, name));
    out->len = hdr[0];
    out->data = malloc((size_t)hdr[0] + 1);
    if (!out->data)
        return tide_coll_close(&x, 0, tide_fail("%s: out of memory for %lld bytes", name,
                                                (long long)hdr[0]));
    if (c->rank == root && hdr[0])
        memcpy(out->data, buf, (size_t)hdr[0]);
    rc = run_bcast(&x, out->data, (int)hdr[0], root);
    if (rc == MPI_SUCCESS && !hdr[1]) {
        out->data[hdr[0]] = '\0';
        tide_fail("%s: rank %d could not serialise its value: %s", name, root, out->data);
        rc = -1;
    }
    if (rc != MPI_SUCCESS) {
        tide_status st = rc == -1 ? TIDE_FAIL : tide_mpi_fail(rc, name);
        free(out->data);
        out->data = NULL;
        return tide_coll_close(&x, hdr[0], st);
    }
    tide_coll_end(&x, hdr[0]);
    return TIDE_OK;
}

/* allgather (root < 0) or gather of byte strings; a rank that could not serialise makes
 * everyone fail with its message (the strings then go to every rank). */
static tide_status gather_bytes(tide_comm *c, const char *name, const char *buf, int64_t len,
                                int ok, int root, tide_bytes *out)
{
    if (root >= 0)
        TIDE_TRY(tide_check_rank(c, root, name, "root", 0));
    coll x;
    TIDE_TRY(tide_coll_begin(&x, c, name, NULL, -1, root, 0));
    int size = c->size;
    char toolong[160];
    if (len > INT_MAX) {
        snprintf(toolong, sizeof toolong, "it serialises to %lld bytes, more than one MPI message"
                 " carries", (long long)len);
        buf = toolong;
        len = (int64_t)strlen(toolong);
        ok = 0;
    }
    int64_t mine[2] = {len, ok};
    int64_t *hdr = malloc(sizeof(int64_t) * 2 * (size_t)size);
    int *counts = malloc(sizeof(int) * 2 * (size_t)size);
    char *all = NULL;
    tide_status st = TIDE_OK;
    int rc = MPI_SUCCESS;
    if (!hdr || !counts) {
        st = tide_fail("%s: out of memory", name);
        goto out;
    }
    if (!x.polled) {
        rc = TIDE_WD_WATCHED(&x.wd, MPI_Allgather(mine, 2, MPI_INT64_T, hdr, 2, MPI_INT64_T,
                                                  c->comm));
    } else {
        MPI_Request req;
        rc = MPI_Iallgather(mine, 2, MPI_INT64_T, hdr, 2, MPI_INT64_T, c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS)
        goto out;
    int64_t total = 0;
    int failed = -1;
    for (int r = 0; r < size; r++) {
        counts[r] = (int)hdr[2 * r];
        counts[size + r] = (int)total;
        total += hdr[2 * r];
        if (!hdr[2 * r + 1] && failed < 0)
            failed = r;
    }
    if (total > INT_MAX) {
        st = tide_fail("%s: the values of all ranks serialise to %lld bytes, more than one MPI "
                       "message carries", name, (long long)total);
        goto out;
    }
    int everyone = root < 0 || failed >= 0;
    if (everyone || c->rank == root) {
        all = malloc((size_t)total + 1);
        if (!all) {
            st = tide_fail("%s: out of memory for %lld bytes", name, (long long)total);
            goto out;
        }
    }
    int n = (int)len;
    if (!x.polled) {
        tide_wd_enter(&x.wd);
        rc = everyone ? MPI_Allgatherv(buf, n, MPI_BYTE, all, counts, counts + size, MPI_BYTE, c->comm)
                      : MPI_Gatherv(buf, n, MPI_BYTE, all, counts, counts + size, MPI_BYTE, root,
                                    c->comm);
        tide_wd_leave(rc);
    } else {
        MPI_Request req;
        rc = everyone ? MPI_Iallgatherv(buf, n, MPI_BYTE, all, counts, counts + size, MPI_BYTE,
                                        c->comm, &req)
                      : MPI_Igatherv(buf, n, MPI_BYTE, all, counts, counts + size, MPI_BYTE, root,
                                     c->comm, &req);
        if (rc == MPI_SUCCESS)
            rc = tide_coll_wait(&x, &req, NULL);
    }
    if (rc != MPI_SUCCESS)
        goto out;
    if (failed >= 0) {
        all[counts[size + failed] + counts[failed]] = '\0';
        st = tide_fail("%s: rank %d could not serialise its value: %s", name, failed,
                       all + counts[size + failed]);
        goto out;
    }
    for (int r = 0; r < size; r++) {
        out[r].data = all ? all + counts[size + r] : NULL;
        out[r].len = hdr[2 * r];
    }
    if (all)
        out[0].data = all;   /* displacement 0: the block to free */
    all = NULL;
out:
    if (rc != MPI_SUCCESS && st == TIDE_OK)
        st = tide_mpi_fail(rc, name);
    tide_coll_close(&x, len, st);
    free(hdr);
    free(counts);
    free(all);
    return st;
}

tide_status tide_comm_allgather_bytes(tide_comm *c, const char *name, const char *buf,
                                      int64_t len, int ok, tide_bytes *out)
{
    return gather_bytes(c, name, buf, len, ok, -1, out);
}

tide_status tide_comm_gather_bytes(tide_comm *c, const char *name, const char *buf, int64_t len,
                                   int ok, int root, tide_bytes *out)
{
    if (root < 0)
        return tide_check_rank(c, root, name, "root", 0);
    return gather_bytes(c, name, buf, len, ok, root, out);
}
