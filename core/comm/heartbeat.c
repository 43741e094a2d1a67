/* heartbeat.c — the helper thread and its datagrams (see heartbeat.h). */
#define _GNU_SOURCE
#include "comm/heartbeat.h"
#include "comm/recorder.h"
#include "comm/runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC TIDE_HB_MAGIC
#define KIND_BEAT TIDE_HB_BEAT
#define KIND_BYE TIDE_HB_BYE
#define KIND_LOST TIDE_HB_LOST
#define DUMP_GRACE 2.0
/* How long a rank that reported stays alive after its dump: its exit makes mpirun end the
 * job, and the other ranks need a moment to report the same silent rank themselves. */
#define REPORT_LINGER 1.0

#define HOST_LEN TIDE_HB_HOST_LEN
typedef tide_hb_beat beat;

typedef struct peer {
    uint32_t addr;        /* network order */
    uint16_t port;        /* network order */
    uint16_t pad;
    char host[HOST_LEN];  /* its host name, for the report */
} peer;

/* TIDE_HB_SUPERVISOR=port:addr,addr,...: the supervisor of `tide run` (supervise.h) listens
 * there too; it is sent a beat each SUPERVISOR_BEAT seconds, finer than the ranks' interval so
 * that it can tell which ranks fell silent first even when mpirun ends the job within a second,
 * and the goodbye, at each of its addresses (those it cannot be reached at drop the datagram). */
#define SUPERVISOR_BEAT 0.1
#define MAX_SUPERVISOR_ADDRS 16
static struct sockaddr_in supervisor[MAX_SUPERVISOR_ADDRS];
static int n_supervisor;

static int sock = -1;
static pthread_t thread;
static atomic_int running, stop_now;
static int me, size;
static peer *peers;
static double interval_s, timeout_s;
static _Atomic double *heard;   /* last heard, per rank (monotonic seconds); -1: said goodbye */
static void (*waker)(void);
static atomic_int told_lost = -1;  /* a rank another one reported silent, or -1 */
static int at_exit_set;

void tide_hb_set_waker(void (*fn)(void)) { waker = fn; }
int tide_hb_running(void) { return atomic_load(&running); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void send_supervisor(const beat *b)
{
    for (int k = 0; k < n_supervisor; k++)
        sendto(sock, b, sizeof *b, MSG_DONTWAIT, (struct sockaddr *)&supervisor[k],
               sizeof supervisor[k]);
}

/* This rank's datagram of a kind (about: the silent rank, for KIND_LOST; else -1). */
static beat own_beat(int kind, int about)
{
    beat b = {MAGIC, (uint32_t)kind, me, about, {0}};
    memcpy(b.host, peers[me].host, HOST_LEN);
    return b;
}

static void send_all(int kind, int about)
{
    beat b = own_beat(kind, about);
    if (kind != KIND_BEAT)   /* the supervisor hears beats on their own clock (run) */
        send_supervisor(&b);
    for (int r = 0; r < size; r++) {
        if (r == me)
            continue;
        struct sockaddr_in to;
        memset(&to, 0, sizeof to);
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = peers[r].addr;
        to.sin_port = peers[r].port;
        sendto(sock, &b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
    }
}

static void receive(void)
{
    beat b;
    ssize_t n;
    while ((n = recv(sock, &b, sizeof b, MSG_DONTWAIT)) == (ssize_t)sizeof b) {
        if (b.magic != MAGIC || b.rank < 0 || b.rank >= size)
            continue;
        if (b.kind == KIND_LOST) {
            if (b.about >= 0 && b.about < size && b.about != me)
                atomic_store(&told_lost, b.about);
            continue;
        }
        atomic_store(&heard[b.rank], b.kind == KIND_BYE ? -1.0 : now());
    }
}

/* A rank went silent: say so, have this rank's dump taken, end this process. */
static void lost(int r, double silent)
{
    fflush(stdout);
    fprintf(stderr, "tide heartbeat: rank %d: no heartbeat from rank %d for %.1f s (on %s: "
            "stopped, frozen, or its host is down)\n", me, r, silent, peers[r].host);
    fflush(stderr);
    static char why[128];
    snprintf(why, sizeof why, "tide heartbeat: rank %d silent for %.1f s", r, silent);
    tide_rec_dump_why = why;
    tide_rec_request_dump();
    if (waker)
        waker();
    double t0 = now(), dumped = 0;
    for (;;) {
        double t = now();
        if (tide_rec_dump_wanted && t - t0 < DUMP_GRACE)
            dumped = t;   /* still waiting for the dump */
        else if (t - (dumped ? dumped : t0) >= REPORT_LINGER)
            break;
        send_all(KIND_BEAT, -1);   /* this rank is alive while it waits, */
        beat alive = own_beat(KIND_BEAT, -1);
        send_supervisor(&alive);   /* to the supervisor too (it would think this rank lost) */
        send_all(KIND_LOST, r);    /* repeated: a datagram may be lost */
        struct timespec nap = {0, 20000000};
        nanosleep(&nap, NULL);
    }
    fflush(stdout);
    fflush(stderr);
    /* 75 (EX_TEMPFAIL), as any rank lost: mpirun ends the job and passes it on, and
     * `tide run --restarts` relaunches (bindings/host/supervise.h) */
    _exit(75);
}

static void *run(void *arg)
{
    (void)arg;
    double next = 0, next_supervisor = 0;
    beat b = own_beat(KIND_BEAT, -1);
    while (!atomic_load(&stop_now)) {
        double t = now();
        if (t >= next) {
            send_all(KIND_BEAT, -1);
            next = t + interval_s;
        }
        if (n_supervisor > 0 && t >= next_supervisor) {
            send_supervisor(&b);
            next_supervisor = t + SUPERVISOR_BEAT;
        }
        struct pollfd p = {sock, POLLIN, 0};
        double until = n_supervisor > 0 && next_supervisor < next ? next_supervisor : next;
        int wait_ms = (int)((until - t) * 1000);
        poll(&p, 1, wait_ms > 0 ? (wait_ms < 100 ? wait_ms : 100) : 0);
        receive();
        t = now();
        for (int r = 0; r < size; r++) {
            double h = atomic_load(&heard[r]);
            if (r != me && h >= 0 && t - h > timeout_s)
                lost(r, t - h);
        }
        /* another rank reported one: this rank agrees once it too has missed a beat from it
         * (so that every rank names the silent one before the job ends, even when this thread
         * was scheduled late) */
        int s = atomic_exchange(&told_lost, -1);
        if (s >= 0) {
            double h = atomic_load(&heard[s]);
            if (h >= 0 && t - h > interval_s)
                lost(s, t - h);
        }
    }
    return NULL;
}

static int is_loopback(uint32_t addr) { return (ntohl(addr) >> 24) == 127; }

/* The first IPv4 address of an interface that is up and not loopback (0 when none). */
static uint32_t first_interface_addr(void)
{
    struct ifaddrs *list = NULL;
    uint32_t addr = 0;
    if (getifaddrs(&list) != 0)
        return 0;
    for (struct ifaddrs *i = list; i && !addr; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
            !(i->ifa_flags & IFF_LOOPBACK))
            addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
    freeifaddrs(list);
    return addr;
}

/* The address other nodes reach this one at: TIDE_HEARTBEAT_ADDR when set, else the host
 * name's address when it resolves to one that is not loopback (as on a cluster with DNS or
 * /etc/hosts), else the first interface that is up, else loopback (one machine). */
static uint32_t node_addr(void)
{
    const char *given = getenv("TIDE_HEARTBEAT_ADDR");
    struct in_addr parsed;
    if (given && inet_pton(AF_INET, given, &parsed) == 1)
        return parsed.s_addr;
    char host[256];
    uint32_t addr = 0;
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_DGRAM;
        if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
            addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr;
            freeaddrinfo(res);
        }
    }
    if (addr == 0 || is_loopback(addr))
        addr = first_interface_addr();
    return addr ? addr : htonl(INADDR_LOOPBACK);
}

/* Reads TIDE_HB_SUPERVISOR (see above); a value it cannot read leaves no supervisor. */
static void find_supervisor(void)
{
    n_supervisor = 0;
    const char *v = getenv("TIDE_HB_SUPERVISOR");
    char *end;
    long port = v ? strtol(v, &end, 10) : 0;
    if (!v || port <= 0 || port > 65535 || *end != ':')
        return;
    char list[1024];
    snprintf(list, sizeof list, "%s", end + 1);
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a && n_supervisor < MAX_SUPERVISOR_ADDRS;
         a = strtok_r(NULL, ",", &save)) {
        struct sockaddr_in *to = &supervisor[n_supervisor];
        memset(to, 0, sizeof *to);
        to->sin_family = AF_INET;
        to->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, a, &to->sin_addr) == 1)
            n_supervisor++;
    }
}

static void at_exit(void) { tide_hb_stop(); }

tide_status tide_hb_start(double interval, double timeout)
{
    if (atomic_load(&running))
        return tide_fail("health.start: heartbeats are already running (health.stop() first)");
    if (!(interval > 0) || !(timeout >= 2 * interval))
        return tide_fail("health.start: expected interval > 0 and timeout >= 2 * interval, got "
                         "interval %g, timeout %g", interval, timeout);
    MPI_Comm comm = tide_runtime_comm();
    if (comm == MPI_COMM_NULL)
        return tide_fail("health.start: MPI is not initialised");
    me = tide_runtime_rank();
    size = tide_runtime_size();
    /* every rank opens its socket, then all agree that every rank did */
    int ok = 1;
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(sock, (struct sockaddr *)&a, &len) != 0)
        ok = 0;
    int err = errno;
    peer mine = {node_addr(), a.sin_port, 0, {0}};
    if (gethostname(mine.host, sizeof mine.host) != 0)
        snprintf(mine.host, sizeof mine.host, "?");
    mine.host[sizeof mine.host - 1] = '\0';
    find_supervisor();
    free(peers);
    free((void *)heard);
    peers = calloc((size_t)size, sizeof *peers);
    heard = calloc((size_t)size, sizeof *heard);
    if (!peers || !heard)
        ok = 0;
    int all_ok = 0;
    MPI_Request req;
    MPI_Iallreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm, &req);
    tide_runtime_wait(comm, &req, "health.start", 0);
    if (!all_ok) {
        if (sock >= 0)
            close(sock);
        sock = -1;
        return ok ? tide_fail("health.start: another rank could not open its socket")
                  : tide_fail("health.start: cannot open a UDP socket: %s", strerror(err));
    }
    MPI_Iallgather(&mine, (int)sizeof mine, MPI_BYTE, peers, (int)sizeof mine, MPI_BYTE, comm,
                   &req);
    tide_runtime_wait(comm, &req, "health.start", 0);
    /* two ranks on one node that resolve it differently: loopback reaches both */
    for (int r = 0; r < size; r++)
        if (peers[r].addr == mine.addr)
            peers[r].addr = htonl(INADDR_LOOPBACK);
    double t = now();
    for (int r = 0; r < size; r++)
        atomic_store(&heard[r], t);
    interval_s = interval;
    timeout_s = timeout;
    atomic_store(&stop_now, 0);
    if (pthread_create(&thread, NULL, run, NULL) != 0) {
        close(sock);
        sock = -1;
        return tide_fail("health.start: cannot start the heartbeat thread");
    }
    atomic_store(&running, 1);
    if (!at_exit_set) {
        atexit(at_exit);
        at_exit_set = 1;
    }
    return TIDE_OK;
}

void tide_hb_stop(void)
{
    if (!atomic_load(&running))
        return;
    atomic_store(&stop_now, 1);
    pthread_join(thread, NULL);
    send_all(KIND_BYE, -1);
    close(sock);
    sock = -1;
    atomic_store(&running, 0);
}

int tide_hb_ages(double *ages, int n)
{
    if (!atomic_load(&running))
        return 0;
    double t = now();
    int k = 0;
    for (; k < n && k < size; k++) {
        double h = atomic_load(&heard[k]);
        ages[k] = k == me ? 0 : h < 0 ? -1 : t - h;
    }
    return k;
}

int tide_hb_env_timeout(double *timeout)
{
    const char *s = getenv("TIDE_HEARTBEAT");
    *timeout = 0;
    if (!s || !s[0])
        return 1;
    char *end;
    double t = strtod(s, &end);
    if (*end || !(t >= 0))
        return 0;
    *timeout = t;
    return 1;
}

tide_status tide_hb_configure(void)
{
    double t;
    if (!tide_hb_env_timeout(&t))
        return tide_fail("TIDE_HEARTBEAT: expected a timeout in seconds, got '%s'",
                         getenv("TIDE_HEARTBEAT"));
    if (t == 0 || tide_runtime_size() <= 1)
        return TIDE_OK;
    return tide_hb_start(t / 4, t);
}
