/* supervise.c — relaunching a job that lost a rank (see supervise.h). */
#define _POSIX_C_SOURCE 200809L
#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EX_LOST 75   /* EX_TEMPFAIL: a rank says it was lost */

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

/* What mpirun's stderr says died: "process rank R ... exited on signal" or "Process name:
 * [[job,1],R]". Counts distinct ranks (up to 64 remembered). */
typedef struct {
    int ranks[64], n;
    char line[1024];
    size_t len;
} deaths;

static void note_rank(deaths *d, int r)
{
    for (int i = 0; i < d->n; i++)
        if (d->ranks[i] == r)
            return;
    if (d->n < 64)
        d->ranks[d->n++] = r;
}

static void scan_line(deaths *d, const char *line)
{
    const char *p;
    int r;
    if ((p = strstr(line, "process rank ")) && sscanf(p, "process rank %d", &r) == 1)
        note_rank(d, r);
    else if ((p = strstr(line, "Process name: [[")) && (p = strstr(p, "],")) &&
             sscanf(p, "],%d]", &r) == 1)
        note_rank(d, r);
}

/* Relays the child's stderr to ours, noting deaths; returns at end of file. */
static void relay(int fd, deaths *d)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
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
    }
}

/* Runs argv once with TIDE_RESTART=attempt; returns mpirun's status as a shell reports it. */
static int launch(char **argv, int attempt, deaths *d)
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
    memset(d, 0, sizeof *d);
    relay(fds[0], d);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    child_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

    deaths d;
    for (int attempt = 0;; attempt++) {
        double start = now();
        int st = launch(cmd, attempt, &d);
        double took = now() - start;
        int lost = st == EX_LOST || st >= 128;
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
        else
            snprintf(what, sizeof what, "status %d (a rank was lost)", st);
        char who[64] = "a rank";
        if (d.n > 0)
            snprintf(who, sizeof who, "rank %d%s", d.ranks[0], d.n > 1 ? " and others" : "");
        if (attempt >= restarts) {
            fprintf(stderr, "tide: run: %s died (%s) after %.1f s; no restarts left (--restarts"
                    " %ld)\n", who, what, took, restarts);
            *status = st;
            break;
        }
        if (elastic > 0) {
            long left = np - (d.n > 0 ? d.n : 1);
            if (left < elastic) {
                fprintf(stderr, "tide: run: %s died (%s) after %.1f s; %ld ranks left, fewer"
                        " than --elastic %ld\n", who, what, took, left, elastic);
                *status = st;
                break;
            }
            np = left;
            snprintf(npbuf, sizeof npbuf, "%ld", np);
        }
        fprintf(stderr, "tide: run: %s died (%s) after %.1f s; restart %d of %ld with %ld ranks"
                " (TIDE_RESTART=%d)\n", who, what, took, attempt + 1, restarts, np, attempt + 1);
    }
    free(cmd);
    return 1;
}
