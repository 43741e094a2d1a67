/* recorder.c — the ring of recent collectives and its JSON dump (see recorder.h). */
#define _POSIX_C_SOURCE 200809L
#include "comm/recorder.h"
#include "comm/comm.h"
#include "comm/runtime.h"
#include "comm/watchdog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS (1 << 20)

int tide_rec_slots;
volatile sig_atomic_t tide_rec_dump_wanted;
const char *volatile tide_rec_dump_why;
static tide_rec_entry *ring;
static uint64_t mask;            /* the ring holds a power of two >= tide_rec_slots entries */
static uint64_t next_id = 1;
static tide_rec_dumper dumper;
static tide_rec_reporter reporter;

/* The coarse clock (a few ms of resolution, Linux's jiffy) costs ~10 ns where the precise one
 * costs 25-70 ns on the machines measured: two precise reads would spend the recorder's whole
 * budget (0.05 us per call). Hangs are measured in seconds; the timeline (trace.h) has the
 * precise times. */
#ifdef CLOCK_MONOTONIC_COARSE
#define REC_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define REC_CLOCK CLOCK_MONOTONIC
#endif

static double mono(void)
{
    struct timespec ts;
    clock_gettime(REC_CLOCK, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tide_rec_set_size(int n)
{
    if (n < 0 || n > MAX_SLOTS)
        return -1;
    int old = tide_rec_slots;
    size_t cap = 1;
    while (cap < (size_t)n)
        cap *= 2;   /* a mask instead of a division on every call */
    tide_rec_entry *r = n ? calloc(cap, sizeof *r) : NULL;
    if (n && !r)
        return -1;
    tide_rec_slots = 0;   /* a collective in flight finds its slot gone: tide_rec_end checks */
    free(ring);
    ring = r;
    mask = cap - 1;
    next_id = 1;
    tide_rec_slots = n;
    return old;
}

tide_status tide_rec_configure(void)
{
    const char *s = getenv("TIDE_RECORDER");
    long n = TIDE_RECORDER_DEFAULT;
    if (s && s[0]) {
        char *end;
        errno = 0;
        n = strtol(s, &end, 10);
        if (*end || errno || n < 0 || n > MAX_SLOTS)
            return tide_fail("TIDE_RECORDER: expected a number of collectives from 0 (off) to %d,"
                             " got '%s'", MAX_SLOTS, s);
    }
    if (tide_rec_set_size((int)n) < 0)
        return tide_fail("TIDE_RECORDER: out of memory for %ld entries", n);
    return TIDE_OK;
}

/* The hot path: a handful of stores and one clock read. */
uint64_t tide_rec_begin(const char *name, int cid, uint64_t seq, const tide_tensor *t, int op,
                        int root, const char *site)
{
    uint64_t id = next_id++;
    tide_rec_entry *e = &ring[id & mask];
    e->id = id;
    e->seq = seq;
    e->name = name;
    e->cid = cid;
    e->op = op;
    e->root = root;
    e->state = TIDE_REC_STARTED;
    if (t && t->ndim >= 0 && t->ndim <= TIDE_MAX_DIMS) {
        e->dtype = (int32_t)t->dtype;
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof e->shape);
    } else {
        e->dtype = -1;
        e->ndim = 0;
    }
    /* the site buffer is at least as long as ours: copy whole, terminate */
    memcpy(e->site, site, sizeof e->site - 1);
    e->site[sizeof e->site - 1] = '\0';
    e->t_start = mono();
    e->t_end = 0;
    return id;
}

static tide_rec_entry *slot_of(uint64_t id)
{
    if (!tide_rec_slots || !id)
        return NULL;
    tide_rec_entry *e = &ring[id & mask];
    return e->id == id ? e : NULL;
}

void tide_rec_queued(uint64_t id)
{
    tide_rec_entry *e = slot_of(id);
    if (e)
        e->state = TIDE_REC_QUEUED;
}

void tide_rec_end(uint64_t id)
{
    tide_rec_entry *e = slot_of(id);
    if (e) {
        e->t_end = mono();
        e->state = TIDE_REC_DONE;
    }
}

void tide_rec_fail(uint64_t id, const char *msg)
{
    tide_rec_entry *e = slot_of(id);
    if (e) {
        e->t_end = mono();
        e->state = TIDE_REC_FAILED;
        snprintf(e->error, sizeof e->error, "%s", msg ? msg : "");
    }
}

void tide_rec_end_seq(int cid, uint64_t seq)
{
    for (int k = 1; k <= tide_rec_slots && next_id > (uint64_t)k; k++) {
        tide_rec_entry *e = slot_of(next_id - (uint64_t)k);
        if (e && e->cid == cid && e->seq == seq) {
            if (e->state != TIDE_REC_DONE)
                tide_rec_end(e->id);
            return;
        }
    }
}

int tide_rec_entries(tide_rec_entry *out, int max)
{
    int n = 0;
    if (!tide_rec_slots)
        return 0;
    uint64_t first = next_id > (uint64_t)tide_rec_slots ? next_id - (uint64_t)tide_rec_slots : 1;
    for (uint64_t id = first; id < next_id && n < max; id++) {
        tide_rec_entry *e = slot_of(id);
        if (!e)
            continue;
        if (out)
            out[n] = *e;
        n++;
    }
    return n;
}

const char *tide_rec_state_name(int state)
{
    switch (state) {
    case TIDE_REC_QUEUED: return "queued";
    case TIDE_REC_STARTED: return "started";
    case TIDE_REC_DONE: return "done";
    case TIDE_REC_FAILED: return "failed";
    }
    return "?";
}

/* ------------------------------------------------------------------ dumps */

const char *tide_rec_dir(const char *dir)
{
    if (dir && dir[0])
        return dir;
    const char *env = getenv("TIDE_DUMP_DIR");
    return env && env[0] ? env : "tide-dump";
}

size_t tide_rec_json_string(char *buf, size_t n, const char *s)
{
    size_t k = 0;
#define PUT(c) do { if (k + 1 < n) buf[k] = (c); k++; } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p < 0x20) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\u%04x", *p);
            for (char *h = hex; *h; h++)
                PUT(*h);
        } else {
            PUT((char)*p);
        }
    }
    PUT('"');
#undef PUT
    if (n)
        buf[k < n ? k : n - 1] = '\0';
    return k;
}

static void put_string(FILE *f, const char *s)
{
    char small[256];
    size_t need = tide_rec_json_string(small, sizeof small, s ? s : "");
    if (need < sizeof small) {
        fputs(small, f);
        return;
    }
    char *big = malloc(need + 1);
    if (!big)
        return;
    tide_rec_json_string(big, need + 1, s);
    fputs(big, f);
    free(big);
}

static void put_entry(FILE *f, const tide_rec_entry *e)
{
    fprintf(f, "    {\"id\": %llu, \"comm\": %d, \"seq\": %llu, \"name\": ",
            (unsigned long long)e->id, e->cid, (unsigned long long)e->seq);
    put_string(f, e->name);
    if (e->dtype >= 0) {
        fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", tide_dtype_name((tide_dtype)e->dtype));
        for (int d = 0; d < e->ndim; d++)
            fprintf(f, "%s%lld", d ? ", " : "", (long long)e->shape[d]);
        fputc(']', f);
    }
    if (e->op >= 0)
        fprintf(f, ", \"op\": \"%s\"", tide_op_name((tide_op)e->op));
    if (e->root >= 0)
        fprintf(f, ", \"root\": %d", e->root);
    fputs(", \"site\": ", f);
    put_string(f, e->site);
    fprintf(f, ", \"start\": %.6f, \"end\": %.6f, \"state\": \"%s\"", e->t_start, e->t_end,
            tide_rec_state_name(e->state));
    if (e->state == TIDE_REC_FAILED) {
        fputs(", \"error\": ", f);
        put_string(f, e->error);
    }
    fputc('}', f);
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

tide_status tide_rec_write(const char *dir, const char *reason, const char *extra,
                           char *path_out, size_t n)
{
    dir = tide_rec_dir(dir);
    int rank = tide_runtime_rank(), size = tide_runtime_size();
    char path[1100], tmp[1200];
    snprintf(path, sizeof path, "%s/rank-%d.json", dir, rank);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (make_dirs(dir) != 0)
        return tide_fail("tide.dump: cannot create the directory '%s': %s", dir, strerror(errno));
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tide_fail("tide.dump: cannot write '%s': %s", tmp, strerror(errno));
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    fprintf(f, "{\n  \"rank\": %d, \"size\": %d, \"pid\": %ld, \"reason\": ", rank, size,
            (long)getpid());
    put_string(f, reason ? reason : "tide.dump");
    fprintf(f, ",\n  \"monotonic\": %.6f, \"wall\": %.6f,\n  \"recorder\": {\"slots\": %d, "
            "\"count\": %llu},\n  \"collectives\": [\n", mono(),
            (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9, tide_rec_slots,
            (unsigned long long)(next_id - 1));
    int total = tide_rec_entries(NULL, tide_rec_slots);
    tide_rec_entry *es = total ? malloc(sizeof *es * (size_t)total) : NULL;
    if (es) {
        total = tide_rec_entries(es, total);
        for (int i = 0; i < total; i++) {
            put_entry(f, &es[i]);
            fputs(i + 1 < total ? ",\n" : "\n", f);
        }
        free(es);
    }
    fputs("  ]", f);
    if (extra && extra[0])
        fprintf(f, ",\n  %s", extra);
    fputs("\n}\n", f);
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return tide_fail("tide.dump: cannot write '%s': %s", path, strerror(e));
    }
    if (path_out && n)
        snprintf(path_out, n, "%s", path);
    return TIDE_OK;
}

void tide_rec_set_dumper(tide_rec_dumper fn) { dumper = fn; }
void tide_rec_set_reporter(tide_rec_reporter fn) { reporter = fn; }

tide_status tide_rec_dump(const char *dir, const char *reason)
{
    tide_status st = dumper ? dumper(dir, reason) : tide_rec_write(dir, reason, NULL, NULL, 0);
    tide_rec_dump_wanted = 0;   /* only now: the heartbeat thread waits for the file */
    return st;
}

void tide_rec_report(const char *dir)
{
    if (reporter)
        reporter(tide_rec_dir(dir));
}

void tide_rec_poll(void)
{
    const char *why = tide_rec_dump_why;
    if (tide_rec_dump_wanted && tide_rec_dump(NULL, why ? why : "signal") != TIDE_OK) {
        fprintf(stderr, "[rank %d] %s\n", tide_runtime_rank(), tide_error());
        fflush(stderr);
    }
}

/* ------------------------------------------------------------------ dumps on every rank */

#define TAG_DUMP 7303
#define TAG_DUMPED 7304
#define ACK_SECONDS 2.0      /* how long a rank waits for the others' dumps */
#define DEFER_SECONDS 2.0    /* how long a rank > 0 waits for a lower rank to take the report */
#define ABORT_SECONDS 5.0    /* how long it then leaves that rank to end the job */

typedef struct dump_msg {
    int32_t from;
    char dir[512];
    char reason[256];
} dump_msg;

static int asked_by = -1;    /* the lowest rank that asked this one for a dump */

static void report_failure(void)
{
    fprintf(stderr, "[rank %d] %s\n", tide_runtime_rank(), tide_error());
    fflush(stderr);
}

void tide_rec_serve(void)
{
    MPI_Comm comm = tide_runtime_comm();
    tide_rec_poll();
    if (comm == MPI_COMM_NULL)
        return;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_DUMP, comm, &flag, &st) != MPI_SUCCESS || !flag)
            return;
        dump_msg m;
        MPI_Recv(&m, (int)sizeof m, MPI_BYTE, st.MPI_SOURCE, TAG_DUMP, comm, MPI_STATUS_IGNORE);
        m.dir[sizeof m.dir - 1] = m.reason[sizeof m.reason - 1] = '\0';
        if (asked_by < 0 || st.MPI_SOURCE < asked_by)
            asked_by = st.MPI_SOURCE;
        int32_t ok = tide_rec_dump(m.dir, m.reason) == TIDE_OK;
        if (!ok)
            report_failure();
        MPI_Send(&ok, 1, MPI_INT32_T, st.MPI_SOURCE, TAG_DUMPED, comm);
    }
}

/* Serves the others' requests for about `seconds`, or until stop(arg) says so. */
static void serve_for(double seconds, int (*stop)(void *), void *arg)
{
    double t0 = mono();
    while (mono() - t0 < seconds && !(stop && stop(arg))) {
        tide_wd_serve();   /* where this rank is, for a peer's census; and dumps asked for */
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
}

static int lower_asked(void *arg)
{
    (void)arg;
    return asked_by >= 0 && asked_by < tide_runtime_rank();
}

typedef struct acks {
    MPI_Request *reqs;
    int n;
} acks;

static int all_acked(void *arg)
{
    acks *a = arg;
    int done = 0;
    MPI_Testall(a->n, a->reqs, &done, MPI_STATUSES_IGNORE);
    return done;
}

void tide_rec_dump_all(const char *reason)
{
    MPI_Comm comm = tide_runtime_comm();
    const char *dir = tide_rec_dir(NULL);
    if (tide_rec_dump(dir, reason) != TIDE_OK)
        report_failure();
    int me = tide_runtime_rank(), size = tide_runtime_size();
    if (comm == MPI_COMM_NULL || size <= 1)
        return;
    dump_msg m;
    memset(&m, 0, sizeof m);
    m.from = me;
    snprintf(m.dir, sizeof m.dir, "%s", dir);
    snprintf(m.reason, sizeof m.reason, "%s", reason);
    MPI_Request *reqs = malloc(sizeof *reqs * 2 * (size_t)size);
    int32_t *oks = calloc((size_t)size, sizeof *oks);
    if (!reqs || !oks) {
        free(reqs);
        free(oks);
        return;
    }
    int n = 0;
    for (int r = 0; r < size; r++) {
        if (r == me)
            continue;
        MPI_Isend(&m, (int)sizeof m, MPI_BYTE, r, TAG_DUMP, comm, &reqs[n++]);
        MPI_Irecv(&oks[r], 1, MPI_INT32_T, r, TAG_DUMPED, comm, &reqs[n++]);
    }
    acks a = {reqs, n};
    serve_for(ACK_SECONDS, all_acked, &a);
    /* ranks that never answered keep their requests: cancelling the receives is enough, and
     * the job is ending */
    for (int i = 0; i < n; i++)
        if (reqs[i] != MPI_REQUEST_NULL && i % 2 == 1) {
            MPI_Cancel(&reqs[i]);
            MPI_Request_free(&reqs[i]);
        }
    free(reqs);
    free(oks);
}

int tide_rec_expired(const char *reason)
{
    tide_rec_dump_all(reason);
    if (tide_runtime_rank() != 0)
        serve_for(DEFER_SECONDS, lower_asked, NULL);
    if (lower_asked(NULL)) {
        serve_for(ABORT_SECONDS, NULL, NULL);   /* that rank reports and ends the job */
        return 0;
    }
    tide_rec_report(NULL);
    return 1;
}
