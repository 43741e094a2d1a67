/* trace.c — recording events and writing the Chrome trace-event file. */
#define _POSIX_C_SOURCE 200809L
#include "comm/trace.h"
#include "comm/runtime.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_BYTES 48
#define MAX_EVENTS (1u << 20)   /* per rank; ~80 MB of events at most */

typedef struct event {
    char name[NAME_MAX_BYTES];
    int cat;
    double t0, t1;
    int64_t bytes;
} event;

static int on;
static char out_path[1024];
static event *events;
static size_t nevents, capacity, dropped;
static double start_time, comm_seconds;

int tide_trace_on(void) { return on; }

double tide_trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

tide_status tide_trace_start(const char *path)
{
    if (on)
        return tide_fail("trace.start: already tracing (to %s); call trace.stop() first", out_path);
    if (!path || !path[0])
        return tide_fail("trace.start: expected a file name");
    if (strlen(path) >= sizeof out_path)
        return tide_fail("trace.start: file name longer than %zu bytes", sizeof out_path - 1);
    snprintf(out_path, sizeof out_path, "%s", path);
    nevents = 0;
    dropped = 0;
    comm_seconds = 0;
    start_time = tide_trace_now();
    on = 1;
    return TIDE_OK;
}

/* Copies name, cut at a UTF-8 character boundary so the JSON stays valid. */
static void copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= NAME_MAX_BYTES) {
        n = NAME_MAX_BYTES - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void tide_trace_event(const char *name, tide_trace_cat cat, double t0, double t1, int64_t bytes)
{
    if (!on)
        return;
    if (cat == TIDE_TRACE_COMM)
        comm_seconds += t1 - t0;
    if (nevents == capacity) {
        size_t cap = capacity ? capacity * 2 : 1024;
        event *grown = cap <= MAX_EVENTS ? realloc(events, cap * sizeof *events) : NULL;
        if (!grown) {
            dropped++;
            return;
        }
        events = grown;
        capacity = cap;
    }
    event *e = &events[nevents++];
    copy_name(e->name, name);
    e->cat = cat;
    e->t0 = t0;
    e->t1 = t1;
    e->bytes = bytes;
}

/* ------------------------------------------------------------------ JSON */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) {
            b->failed = 1;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
}

static void sb_json_string(sbuf *b, const char *s)
{
    sb_add(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sb_add(b, "\\%c", ch);
        else if (ch < 0x20)
            sb_add(b, "\\u%04x", ch);
        else
            sb_add(b, "%c", ch);
    }
    sb_add(b, "\"");
}

/* This rank's events as comma-separated JSON objects (no brackets). */
static void serialise(sbuf *b, int rank, double origin)
{
    sb_add(b, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
              "\"args\":{\"name\":\"rank %d\",\"dropped_events\":%zu}},\n", rank, rank, dropped);
    sb_add(b, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
              "\"args\":{\"sort_index\":%d}}", rank, rank);
    for (size_t i = 0; i < nevents; i++) {
        const event *e = &events[i];
        sb_add(b, ",\n{\"name\":");
        sb_json_string(b, e->name);
        sb_add(b, ",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":0",
               e->cat == TIDE_TRACE_COMM ? "comm" : "user", (e->t0 - origin) * 1e6,
               (e->t1 - e->t0) * 1e6, rank);
        if (e->cat == TIDE_TRACE_COMM)
            sb_add(b, ",\"args\":{\"bytes\":%lld}", (long long)e->bytes);
        sb_add(b, "}");
    }
}

static tide_status write_file(const char *path, const char *body, size_t len, int ranks)
{
    if (!body)
        return tide_fail("trace.stop: out of memory gathering the events");
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return tide_fail("trace.stop: cannot write %s", tmp);
    int ok = fprintf(f, "{\"traceEvents\":[\n") > 0 && fwrite(body, 1, len, f) == len &&
             fprintf(f, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"tool\":\"tide\","
                        "\"ranks\":%d}}\n", ranks) > 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return tide_fail("trace.stop: writing %s failed", path);
    }
    return TIDE_OK;
}

/* The blocking collectives below, through the watchdog: a rank that never stops tracing (or
 * that started when the others did not) is reported instead of hanging the job. */
static int watched(int rc, MPI_Comm comm, MPI_Request *req)
{
    return rc == MPI_SUCCESS ? tide_runtime_wait(comm, req, "trace.stop", 0) : rc;
}

/* Rank 0 collects every rank's part and writes the file; returns (on rank 0) a status. */
static tide_status gather_and_write(MPI_Comm comm, int rank, int size, const sbuf *mine)
{
    if (mine->len > INT_MAX)
        return tide_fail("trace.stop: rank %d recorded more than 2 GB of events", rank);
    int len = (int)mine->len;
    int *lens = NULL, *displs = NULL;
    char *all = NULL;
    tide_status st = TIDE_OK;
    if (rank == 0) {
        lens = malloc(sizeof(int) * (size_t)size);
        displs = malloc(sizeof(int) * (size_t)size);
    }
    MPI_Request req;
    watched(MPI_Igather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, comm, &req), comm, &req);
    int64_t total = 0;
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            displs[r] = (int)(total < INT_MAX ? total : 0);
            total += lens[r] + 2;   /* room for ",\n" between parts */
        }
        if (total > INT_MAX) {
            st = tide_fail("trace.stop: the events of all ranks exceed 2 GB");
            for (int r = 0; r < size; r++)
                lens[r] = displs[r] = 0;
        }
        all = malloc((size_t)(total > INT_MAX ? 1 : total) + 1);
    }
    watched(MPI_Igatherv(mine->p, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, comm, &req),
            comm, &req);
    if (rank == 0 && st == TIDE_OK) {
        /* the parts sit at displs[r], each followed by 2 spare bytes: join them in place */
        size_t at = 0;
        for (int r = 0; r < size; r++) {
            if (!lens[r])
                continue;   /* a rank that could not serialise its events */
            if (at) {
                memmove(all + at + 2, all + displs[r], (size_t)lens[r]);
                memcpy(all + at, ",\n", 2);
                at += 2;
            } else {
                memmove(all, all + displs[r], (size_t)lens[r]);
            }
            at += (size_t)lens[r];
        }
        st = write_file(out_path, all, at, size);
    }
    free(lens);
    free(displs);
    free(all);
    return st;
}

tide_status tide_trace_stop(MPI_Comm comm, char *path_out, size_t n)
{
    if (!on)
        return tide_fail("trace.stop: not tracing (start with tide.trace.start(file) or "
                         "TIDE_TRACE=file)");
    on = 0;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    double origin = start_time;
    MPI_Request req;
    watched(MPI_Iallreduce(&start_time, &origin, 1, MPI_DOUBLE, MPI_MIN, comm, &req), comm, &req);
    sbuf b = {0};
    serialise(&b, rank, origin);
    if (b.failed)
        b.len = 0;
    tide_status st = gather_and_write(comm, rank, size, &b);
    size_t recorded = nevents;
    free(b.p);
    free(events);
    events = NULL;
    nevents = capacity = 0;
    /* every rank reports rank 0's outcome */
    char msg[512] = "";
    if (rank == 0 && st != TIDE_OK)
        snprintf(msg, sizeof msg, "%s", tide_error());
    watched(MPI_Ibcast(msg, (int)sizeof msg, MPI_CHAR, 0, comm, &req), comm, &req);
    if (path_out)
        snprintf(path_out, n, "%s", out_path);
    if (msg[0])
        return tide_fail("%s", msg);
    if (b.failed)
        return tide_fail("trace.stop: out of memory serialising %zu events", recorded);
    return TIDE_OK;
}

tide_status tide_trace_summary(MPI_Comm comm, double *compute, double *comm_s)
{
    if (!on)
        return tide_fail("trace.summary: tracing is off (start it with tide.trace.start(file) "
                         "or TIDE_TRACE=file)");
    int size = 1;
    MPI_Comm_size(comm, &size);
    double mine[2] = {tide_trace_now() - start_time - comm_seconds, comm_seconds};
    double *all = malloc(sizeof(double) * 2 * (size_t)size);
    if (!all)
        return tide_fail("trace.summary: out of memory");
    MPI_Request req;
    int rc = watched(MPI_Iallgather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, comm, &req), comm,
                     &req);
    if (rc == MPI_SUCCESS)
        for (int r = 0; r < size; r++) {
            compute[r] = all[2 * r];
            comm_s[r] = all[2 * r + 1];
        }
    free(all);
    if (rc != MPI_SUCCESS)
        return tide_fail("trace.summary: MPI error %d", rc);
    return TIDE_OK;
}

/* "run.json" -> "run.rank1.json"; "run" -> "run.rank1" */
static void rank_path(char *buf, size_t n, int rank)
{
    size_t len = strlen(out_path);
    const char *ext = len >= 5 && strcmp(out_path + len - 5, ".json") == 0 ? ".json" : "";
    size_t stem = len - strlen(ext);
    snprintf(buf, n, "%.*s.rank%d%s", (int)stem, out_path, rank, ext);
}

tide_status tide_trace_write_rank(int rank)
{
    if (!on)
        return TIDE_OK;
    on = 0;
    char path[1100];
    rank_path(path, sizeof path, rank);
    sbuf b = {0};
    serialise(&b, rank, start_time);
    tide_status st = b.failed ? tide_fail("trace: out of memory serialising %zu events", nevents)
                              : write_file(path, b.p, b.len, 1);
    if (st == TIDE_OK) {
        fprintf(stderr, "[rank %d] tide: the timeline this rank recorded (%zu events) is in %s\n",
                rank, nevents, path);
    }
    free(b.p);
    free(events);
    events = NULL;
    nevents = capacity = 0;
    return st;
}
