/* supervise.c — relaunching a job that lost a rank (see supervise.h). */
#define _POSIX_C_SOURCE 200809L
#include "supervise.h"
#include "launch_hosts.h"
#include "comm/heartbeat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EX_LOST 75   /* EX_TEMPFAIL: a rank says it was lost */
/* Ranks beat to the supervisor 10 times a second: one not heard for SILENT_GAP seconds has
 * missed several beats (fell silent), one heard within it is alive. */
#define SILENT_GAP 0.5
/* Once a rank is known lost, mpirun has END_GRACE seconds to end the job itself (the ranks
 * that report a loss take up to 3 s to dump and exit) before it is sent SIGTERM, and KILL_GRACE
 * more before SIGKILL: it waits ~2 minutes for a host it cannot reach. */
#define END_GRACE 5.0
#define KILL_GRACE 2.0
#define MAX_RANKS 4096

static volatile sig_atomic_t child_pid, stopping;

/* Ctrl-C or a kill of the supervisor: pass it on and relaunch no more. */
static void on_signal(int sig)
{
    stopping = 1;
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_count(const char *opt, const char *s, long min, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < min || v > 1000000) {
        fprintf(stderr, "tide: run: %s expects an integer >= %ld, got '%s'\n", opt, min,
                s ? s : "nothing");
        return 0;
    }
    *out = v;
    return 1;
}

/* A set of ranks (up to 64 remembered). */
typedef struct {
    int ranks[64], n;
} rank_set;

static void note_rank(rank_set *s, int r)
{
    for (int i = 0; i < s->n; i++)
        if (s->ranks[i] == r)
            return;
    if (s->n < 64)
        s->ranks[s->n++] = r;
}

static int by_value(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int has_rank(const rank_set *s, int r)
{
    for (int i = 0; i < s->n; i++)
        if (s->ranks[i] == r)
            return 1;
    return 0;
}

/* What one attempt's stderr and heartbeats said. mpirun names the ranks whose processes ended
 * ("process rank R ... exited on signal", "Process name: [[job,1],R]"): with heartbeats that is
 * the rank that reported a loss, so a rank's "no heartbeat from rank S" names the lost one;
 * mpirun names a lost daemon's host ("Remote daemon: [[job,0],2] on node h2"). */
typedef struct {
    rank_set ended, silent;
    char node[64];        /* a host mpirun lost contact with, or "" */
    double alarm;         /* when a loss was first known (0: not yet) */
    char line[1024];
    size_t len;
} deaths;

static void scan_line(deaths *d, const char *line)
{
    const char *p;
    int r;
    if ((p = strstr(line, "no heartbeat from rank ")) &&
        sscanf(p, "no heartbeat from rank %d", &r) == 1) {
        note_rank(&d->silent, r);
        if (d->alarm == 0)
            d->alarm = now();
    } else if ((p = strstr(line, "process rank ")) && sscanf(p, "process rank %d", &r) == 1) {
        note_rank(&d->ended, r);
    } else if ((p = strstr(line, "Process name: [[")) && (p = strstr(p, "],")) &&
               sscanf(p, "],%d]", &r) == 1) {
        note_rank(&d->ended, r);
    } else if (strstr(line, "Remote daemon:") && (p = strstr(line, " on node ")) &&
               sscanf(p, " on node %63[^ \t\n:,]", d->node) == 1) {
        if (d->alarm == 0)
            d->alarm = now();
    }
}

/* ------------------------------------------------------------------ the job's heartbeats */

/* With TIDE_HEARTBEAT set the supervisor listens to the ranks' beats (heartbeat.h): it learns
 * each rank's host, sees a rank fall silent even when no other rank lives long enough to say
 * so (mpirun may end the job within a second of losing a host's daemon), and can end a job
 * whose mpirun waits for a host it cannot reach. */
typedef struct {
    int sock;
    double timeout;                        /* TIDE_HEARTBEAT, 0: not listening */
    int size;                              /* ranks of this attempt */
    double heard[MAX_RANKS];               /* last beat (0: never, -1: said goodbye) */
    char reported[MAX_RANKS];              /* it reported a lost rank, and exits on purpose */
    char host[MAX_RANKS][TIDE_HB_HOST_LEN];
} listener;

/* TIDE_HB_SUPERVISOR=port:addr,addr...: every IPv4 address of this machine, since it cannot
 * know which one the hosts of the job reach it at (those they cannot reach drop the beat). */
static void listen_beats(listener *l)
{
    double t;
    l->sock = -1;
    if (!tide_hb_env_timeout(&t) || t <= 0)
        return;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    struct ifaddrs *list = NULL;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0 || getifaddrs(&list) != 0) {
        fprintf(stderr, "tide: run: cannot listen to the heartbeats (%s): lost ranks are named"
                " by mpirun alone\n", strerror(errno));
        if (s >= 0)
            close(s);
        return;
    }
    char value[1024];
    int n = snprintf(value, sizeof value, "%d:", ntohs(a.sin_port)), count = 0;
    for (struct ifaddrs *i = list; i && count < 16; i = i->ifa_next) {
        char text[INET_ADDRSTRLEN];
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
            !inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, text, sizeof text) ||
            n + strlen(text) + 2 >= sizeof value)
            continue;
        n += snprintf(value + n, sizeof value - (size_t)n, "%s%s", count++ ? "," : "", text);
    }
    freeifaddrs(list);
    setenv("TIDE_HB_SUPERVISOR", value, 1);
    l->sock = s;
    l->timeout = t;
}

static void read_beats(listener *l, deaths *d)
{
    tide_hb_beat b;
    while (recv(l->sock, &b, sizeof b, MSG_DONTWAIT) == (ssize_t)sizeof b) {
        if (b.magic != TIDE_HB_MAGIC || b.rank < 0 || b.rank >= l->size || b.rank >= MAX_RANKS)
            continue;
        b.host[TIDE_HB_HOST_LEN - 1] = '\0';
        memcpy(l->host[b.rank], b.host, TIDE_HB_HOST_LEN);
        if (b.kind == TIDE_HB_LOST && b.about >= 0 && b.about < l->size) {
            l->reported[b.rank] = 1;
            /* its own beats from that rank, 10 a second, outweigh a rank's report: a rank
             * whose heartbeat thread ran late under load may report a live one */
            int fresh = b.about < MAX_RANKS && l->heard[b.about] > 0 &&
                        now() - l->heard[b.about] < SILENT_GAP;
            if (!fresh)
                note_rank(&d->silent, b.about);
            if (d->alarm == 0)
                d->alarm = now();
        }
        if (l->heard[b.rank] >= 0)
            l->heard[b.rank] = b.kind == TIDE_HB_BYE ? -1 : now();
    }
}

/* Ranks silent for the heartbeat timeout while the job runs are lost. */
static void watch_beats(listener *l, deaths *d)
{
    double t = now();
    for (int r = 0; r < l->size && r < MAX_RANKS; r++)
        if (l->heard[r] > 0 && !l->reported[r] && t - l->heard[r] > l->timeout &&
            !has_rank(&d->silent, r)) {
            note_rank(&d->silent, r);
            if (d->alarm == 0)
                d->alarm = t;
        }
}

/* After the job ended: the ranks that fell silent well before the others did were lost first
 * (the others were then ended by mpirun). The ranks beat every 0.1 s to the supervisor. */
static void last_beats(const listener *l, deaths *d)
{
    double newest = 0;
    for (int r = 0; r < l->size && r < MAX_RANKS; r++)
        if (l->heard[r] > newest)
            newest = l->heard[r];
    for (int r = 0; r < l->size && r < MAX_RANKS; r++)
        if (l->heard[r] > 0 && !l->reported[r] && newest - l->heard[r] > SILENT_GAP)
            note_rank(&d->silent, r);
}

/* Relays what the child's stderr has (fd does not block) to ours, noting deaths. Returns 0
 * at the end of the pipe, else 1. */
static int relay(int fd, deaths *d)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0)
        return 0;
    if (n < 0)
        return 1;   /* nothing yet (EAGAIN), or a signal */
    fwrite(buf, 1, (size_t)n, stderr);
    fflush(stderr);
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || d->len + 1 == sizeof d->line) {
            d->line[d->len] = '\0';
            scan_line(d, d->line);
            d->len = 0;
        } else {
            d->line[d->len++] = buf[i];
        }
    }
    return 1;
}

/* Follows the child until it has ended: its stderr, the beats, and the end of a job mpirun
 * does not end itself. Processes mpirun left on a lost host may hold the pipe open, so the
 * child's exit, not the pipe's end, ends the watch. Returns the child's wait status. */
static int watch(pid_t pid, int fd, listener *l, deaths *d)
{
    int status = 0, open_pipe = 1, signals = 0;
    for (;;) {
        struct pollfd p[2] = {{open_pipe ? fd : -1, POLLIN, 0}, {l->sock, POLLIN, 0}};
        int ready = poll(p, 2, 100);
        if (ready > 0 && (p[0].revents & (POLLIN | POLLHUP)))
            open_pipe = relay(fd, d);
        if (l->sock >= 0) {
            read_beats(l, d);
            watch_beats(l, d);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        /* a lost rank is known, and mpirun has not ended the job in END_GRACE: end it */
        double late = d->alarm > 0 ? now() - d->alarm : 0;
        if (signals < 2 && late > END_GRACE + signals * KILL_GRACE) {
            fprintf(stderr, "tide: run: a rank was lost %.1f s ago and mpirun has not ended the "
                    "job: %s\n", late, signals ? "SIGKILL" : "SIGTERM");
            kill(pid, signals ? SIGKILL : SIGTERM);
            signals++;
        }
    }
    /* what is left in the pipe, without waiting for processes a lost host still holds */
    for (double t0 = now(); open_pipe && now() - t0 < 0.5;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0)
            open_pipe = relay(fd, d);
    }
    if (l->sock >= 0)
        read_beats(l, d);
    return status;
}

/* Runs argv once with TIDE_RESTART=attempt; returns mpirun's status as a shell reports it. */
static int launch(char **argv, int attempt, listener *l, deaths *d)
{
    char num[32];
    snprintf(num, sizeof num, "%d", attempt);
    setenv("TIDE_RESTART", num, 1);
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "tide: run: cannot make a pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tide: run: cannot fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        fprintf(stderr, "tide: run: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    memset(d, 0, sizeof *d);
    memset(l->heard, 0, sizeof l->heard);
    memset(l->host, 0, sizeof l->host);
    memset(l->reported, 0, sizeof l->reported);
    int status = watch(pid, fds[0], l, d);
    close(fds[0]);
    child_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Appends ", " (after the first) and text to out (cap bytes). */
static void append(char *out, size_t cap, const char *text)
{
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "%s%s", n ? ", " : "", text);
}

/* "ranks 2, 3" (or "rank 2") of the silent ranks on host (NULL: all of them). */
static void rank_list(const listener *l, const rank_set *s, const char *host, char *out,
                      size_t cap)
{
    char nums[512] = "";
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        int r = s->ranks[i];
        if (host && (r >= MAX_RANKS || strcmp(l->host[r], host) != 0))
            continue;
        char num[16];
        snprintf(num, sizeof num, "%d", r);
        append(nums, sizeof nums, num);
        n++;
    }
    snprintf(out, cap, "%s %s", n == 1 ? "rank" : "ranks", nums);
}

/* The hosts all of whose ranks were lost, into lost (names in l->host, or mpirun's node when
 * the ranks' hosts are unknown); returns how many. */
static int lost_hosts(const listener *l, const deaths *d, const char **lost, int cap)
{
    int n = 0;
    for (int i = 0; i < d->silent.n && n < cap; i++) {
        int r = d->silent.ranks[i];
        const char *h = r < MAX_RANKS ? l->host[r] : "";
        int whole = h[0] != '\0', seen = 0;
        for (int k = 0; k < n; k++)
            seen |= strcmp(lost[k], h) == 0;
        for (int q = 0; whole && q < l->size && q < MAX_RANKS; q++)
            if (strcmp(l->host[q], h) == 0 && !has_rank(&d->silent, q))
                whole = 0;
        if (whole && !seen)
            lost[n++] = h;
    }
    if (n == 0 && d->silent.n == 0 && d->node[0])
        lost[n++] = d->node;
    return n;
}

/* What died, for the report: "host h2 (ranks 2, 3)", "rank 1", "ranks 1, 3" or "a rank". */
static void describe(const listener *l, const deaths *d, const char **hosts, int nhosts,
                     char *who, size_t cap)
{
    who[0] = '\0';
    char part[600];
    for (int k = 0; k < nhosts; k++) {
        char ranks[520];
        rank_list(l, &d->silent, hosts[k], ranks, sizeof ranks);
        snprintf(part, sizeof part, d->silent.n ? "host %s (%s)" : "host %s", hosts[k], ranks);
        append(who, cap, part);
    }
    for (int i = 0; i < d->silent.n; i++) {   /* lost ranks whose host lives on */
        int r = d->silent.ranks[i], on_lost = 0;
        for (int k = 0; k < nhosts; k++)
            on_lost |= r < MAX_RANKS && strcmp(l->host[r], hosts[k]) == 0;
        if (!on_lost) {
            snprintf(part, sizeof part, "rank %d", r);
            append(who, cap, part);
        }
    }
    if (!who[0] && d->ended.n > 0)
        snprintf(who, cap, "rank %d%s", d->ended.ranks[0], d->ended.n > 1 ? " and others" : "");
    if (!who[0])
        snprintf(who, cap, "a rank");
}

/* Frees a rewritten host option's value, removing it first when it is a temporary hostfile. */
static void forget(char *value, int is_file)
{
    if (value && is_file)
        unlink(value);
    free(value);
}

int tide_self_path(char *self, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", self, cap - 1);
    if (n <= 0) {
        fprintf(stderr, "tide: run: cannot find this executable's path: %s\n", strerror(errno));
        return 0;
    }
    self[n] = '\0';
    return 1;
}

int tide_supervise(int argc, char **argv, int *status)
{
    long restarts = -1, elastic = 0, np = 0;
    int np_at = -1, i;
    for (i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--restarts") == 0 || strcmp(argv[i], "--elastic") == 0) {
            int is_restarts = argv[i][2] == 'r';
            if (!parse_count(argv[i], argv[i + 1], is_restarts ? 0 : 1,
                             is_restarts ? &restarts : &elastic)) {
                *status = 2;
                return 1;
            }
            i++;
        } else if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "-np") == 0) {
            np_at = i + 1;
            if (i + 1 < argc)
                np = strtol(argv[i + 1], NULL, 10);
            i++;
        } else if (strcmp(argv[i], "--hostfile") == 0 || strcmp(argv[i], "--host") == 0 ||
                   strcmp(argv[i], "--launcher") == 0) {
            i++;   /* its value (launch_hosts.h), which need not start with '-' */
        }
    }
    if (restarts < 0 && elastic == 0)
        return 0;
    int repl = i >= argc;   /* no script: the launcher's REPL, as -i */
    for (int k = 1; k < i; k++)
        repl |= strcmp(argv[k], "-i") == 0;
    if (repl) {
        /* a person's session is not relaunched: it would lose its state anyway */
        fprintf(stderr, "tide: run: --restarts and --elastic relaunch a script, not the REPL "
                "(drop -i, or give a script)\n");
        *status = 2;
        return 1;
    }
    if (elastic > 0 && np_at < 0) {
        fprintf(stderr, "tide: run: --elastic needs -n N (the ranks to start with)\n");
        *status = 2;
        return 1;
    }
    if (elastic > 0 && np > 0 && elastic > np) {
        fprintf(stderr, "tide: run: --elastic %ld asks for more ranks than -n %ld\n", elastic, np);
        *status = 2;
        return 1;
    }
    if (restarts < 0)   /* --elastic alone: one relaunch per slot that may be lost */
        restarts = np > elastic ? np - elastic : 0;
    char self[4096];
    if (!tide_self_path(self, sizeof self)) {
        *status = 1;
        return 1;
    }
    /* the same command without --restarts/--elastic: self run [options] script args */
    char **cmd = calloc((size_t)argc + 2, sizeof *cmd);
    char npbuf[32];
    if (!cmd) {
        *status = 1;
        return 1;
    }
    int c = 0;
    cmd[c++] = self;
    for (int k = 0; k < argc; k++) {
        if (k < i && (strcmp(argv[k], "--restarts") == 0 || strcmp(argv[k], "--elastic") == 0)) {
            k++;
            continue;
        }
        cmd[c++] = k == np_at ? npbuf : argv[k];
    }
    snprintf(npbuf, sizeof npbuf, "%ld", np);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    static listener l;   /* large: not on the stack */
    l.size = np > MAX_RANKS ? MAX_RANKS : (int)np;
    listen_beats(&l);
    /* the host option's value without the lost hosts (malloc'd; a temporary hostfile's path
     * when is_file) */
    char *dropped = NULL;
    int is_file = 0;
    deaths d;
    for (int attempt = 0;; attempt++) {
        double start = now();
        int st = launch(cmd, attempt, &l, &d);
        double took = now() - start;
        if (l.sock >= 0 && st != 0 && st != 1)   /* 1: a script error, which ends every rank */
            last_beats(&l, &d);
        qsort(d.silent.ranks, (size_t)d.silent.n, sizeof d.silent.ranks[0], by_value);
        const char *hosts[16];
        int nhosts = lost_hosts(&l, &d, hosts, 16);
        int lost = st == EX_LOST || st >= 128 || d.silent.n > 0 || nhosts > 0;
        if (st == 0 || !lost || stopping) {
            if (st != 0 && !stopping)
                fprintf(stderr, "tide: run: the job failed with status %d after %.1f s (a script"
                        " error or its own exit: not relaunched)\n", st, took);
            *status = st;
            break;
        }
        char what[96];
        if (st >= 128)
            snprintf(what, sizeof what, "signal %d (%s)", st - 128, strsignal(st - 128));
        else if (st == EX_LOST)
            snprintf(what, sizeof what, "status %d (a rank was lost)", st);
        else
            snprintf(what, sizeof what, "status %d", st);
        char who[1024];
        describe(&l, &d, hosts, nhosts, who, sizeof who);
        if (nhosts > 0)
            fprintf(stderr, "tide: run: lost %s\n", who);
        if (attempt >= restarts) {
            fprintf(stderr, "tide: run: %s died (%s) after %.1f s; no restarts left (--restarts"
                    " %ld)\n", who, what, took, restarts);
            *status = st;
            break;
        }
        if (elastic > 0) {
            /* a lost host is not tried again: the relaunch would wait for it */
            char *without = NULL;
            int at = -1;
            long slots = 0;
            for (int k = 2; k + 1 < c - (argc - i) && nhosts > 0 && at < 0; k++) {
                if (!tide_hosts_without(cmd[k], cmd[k + 1], hosts, nhosts, &without, &slots))
                    continue;
                if (!without) {   /* said why */
                    *status = st;
                    goto done;
                }
                at = k;
            }
            int new_file = at >= 0 && strcmp(cmd[at], "--hostfile") == 0;
            /* the ranks the beats saw lost, else the lost hosts' slots, else what mpirun named */
            long gone = d.silent.n > 0 ? d.silent.n : slots > 0 ? slots
                        : d.ended.n > 0 ? d.ended.n : 1;
            long left = np - gone;
            if (left < elastic) {
                forget(without, new_file);
                fprintf(stderr, "tide: run: %s died (%s) after %.1f s; %ld ranks left, fewer"
                        " than --elastic %ld\n", who, what, took, left, elastic);
                *status = st;
                break;
            }
            if (at >= 0) {
                forget(dropped, is_file);
                is_file = new_file;
                cmd[at + 1] = dropped = without;
            }
            np = left;
            l.size = np > MAX_RANKS ? MAX_RANKS : (int)np;
            snprintf(npbuf, sizeof npbuf, "%ld", np);
        }
        fprintf(stderr, "tide: run: %s died (%s) after %.1f s; restart %d of %ld with %ld ranks"
                " (TIDE_RESTART=%d)\n", who, what, took, attempt + 1, restarts, np, attempt + 1);
    }
done:
    if (l.sock >= 0)
        close(l.sock);
    forget(dropped, is_file);
    free(cmd);
    return 1;
}
