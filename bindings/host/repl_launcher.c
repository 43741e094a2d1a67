/* repl_launcher.c — the launcher's side of the REPL of `tide run` (see repl_launcher.h; what it
 * says to the ranks is in repl_proto.h). */
#define _GNU_SOURCE
#include "repl_launcher.h"
#include "host_impl.h"
#include "repl_input.h"
#include "repl_proto.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* One rank's output: what came and is not shown yet. */
typedef struct stream {
    int fd;        /* -1 until the rank connects */
    int closed;    /* the rank is gone */
    int ended;     /* its end-of-chunk mark came this round */
    int midline;   /* the last byte shown was not a newline */
    char *buf;
    size_t len, cap;
} stream;

static struct {
    int np, listen_fd, ctl, show_all;
    int mpirun_err;          /* mpirun's stderr, -1 once it closed */
    char err_line[1024];
    size_t err_len;
    stream *out;
    pid_t mpirun;
    int status;              /* mpirun's, once it ended; -1 while it runs */
    int sig[2];              /* the self-pipe signal handlers write to */
    char mark[TIDE_REPL_NONCE_MAX + 3];
    size_t mark_len;
    char dir[256], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int interactive;         /* a person types (stdin is a terminal) */
    int at_breakpoint;       /* rank 0 waits for a line in tide.breakpoint: no completion */
    lua_State *L;            /* compiles what is typed, to know when a chunk is complete */
} R;

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (write(R.sig[1], &c, 1) < 0) {
        /* the pipe is full: signals enough are pending */
    }
    errno = saved;
}

/* mpirun ended? Sets R.status. */
static int job_ended(void)
{
    int st;
    if (R.status < 0 && waitpid(R.mpirun, &st, WNOHANG) == R.mpirun)
        R.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return R.status >= 0;
}

/* ------------------------------------------------------------------ the ranks' connections */

static void accept_one(void)
{
    int fd = accept4(R.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char hello[32];
    size_t n = 0;
    while (n + 1 < sizeof hello && read(fd, hello + n, 1) == 1 && hello[n] != '\n')
        n++;
    hello[n] = '\0';
    int r;
    if (strcmp(hello, "ctl") == 0 && R.ctl < 0) {
        R.ctl = fd;
    } else if (sscanf(hello, "out %d", &r) == 1 && r >= 0 && r < R.np && R.out[r].fd < 0) {
        R.out[r].fd = fd;
    } else {
        close(fd);
    }
}

/* Shows n bytes of rank r's output: `[r] ` before each of its lines when r > 0. */
static void show(int r, const char *p, size_t n)
{
    stream *s = &R.out[r];
    if (r > 0 && !R.show_all)
        return;
    for (size_t i = 0; i < n; i++) {
        if (r > 0 && !s->midline)
            printf("[%d] ", r);
        putchar(p[i]);
        s->midline = p[i] != '\n';
    }
}

/* Shows what rank r sent up to its end-of-chunk mark (then ended is set), or all but a tail
 * that may be the start of the mark. */
static void pump(int r)
{
    stream *s = &R.out[r];
    if (s->len == 0)
        return;
    char *at = memmem(s->buf, s->len, R.mark, R.mark_len);
    size_t upto;
    if (at) {
        upto = (size_t)(at - s->buf);
        s->ended = 1;
    } else {
        upto = s->closed ? s->len : s->len > R.mark_len ? s->len - (R.mark_len - 1) : 0;
    }
    show(r, s->buf, upto);
    size_t used = at ? upto + R.mark_len : upto;
    memmove(s->buf, s->buf + used, s->len - used);
    s->len -= used;
}

static void take(int r)
{
    stream *s = &R.out[r];
    if (s->cap - s->len < 4096) {
        size_t cap = s->cap ? 2 * s->cap : 16384;
        char *grown = realloc(s->buf, cap);
        if (!grown)
            return;   /* leave it in the socket: read later */
        s->buf = grown;
        s->cap = cap;
    }
    ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        s->closed = 1;
        return;
    }
    s->len += (size_t)n;
}

/* mpirun's own messages, but not the "Forwarding signal 12 to job" every Ctrl-C makes it say. */
static void relay_mpirun(void)
{
    char buf[4096];
    ssize_t n = read(R.mpirun_err, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return;
    for (ssize_t i = 0; i < n; i++) {
        R.err_line[R.err_len++] = buf[i];
        if (buf[i] != '\n' && R.err_len < sizeof R.err_line)
            continue;
        if (!memmem(R.err_line, R.err_len, "Forwarding signal", 17))
            fwrite(R.err_line, 1, R.err_len, stderr);
        R.err_len = 0;
    }
    if (n <= 0) {
        fwrite(R.err_line, 1, R.err_len, stderr);
        close(R.mpirun_err);
        R.mpirun_err = -1;
    }
    fflush(stderr);
}

/* Ctrl-C while the ranks run: the first two ask mpirun to forward SIGUSR2 (every busy rank
 * stops its statement); a third ends the job. */
static void interrupt_ranks(int presses)
{
    if (presses == 1 && R.interactive) {
        putchar('\n');   /* after the terminal's ^C */
        fflush(stdout);
    }
    if (presses < 3) {
        kill(R.mpirun, SIGUSR2);
        if (presses == 2) {
            fprintf(stderr, "\ntide: the ranks have not stopped yet (in C code?); Ctrl-C once "
                    "more ends the job\n");
            fflush(stderr);
        }
    } else {
        kill(R.mpirun, SIGTERM);
    }
}


/* Rank 0 stopped in tide.breakpoint and asks for a line ('P' frame): what it wrote before the
 * request (in its socket already: it flushed, then asked) is shown first, then the prompt. */
static void breakpoint_line(const char *prompt)
{
    stream *s = &R.out[0];
    struct pollfd p = {s->fd, POLLIN, 0};
    while (s->fd >= 0 && poll(&p, 1, 0) > 0)
        take(0);
    show(0, s->buf, s->len);   /* no end mark can be there: rank 0's chunk is still running */
    s->len = 0;
    fflush(stdout);
    char *line = NULL;
    int got;
    R.at_breakpoint = 1;
    while ((got = tide_repl_read_line(prompt, &line)) == TIDE_GOT_CANCEL) {
    }
    R.at_breakpoint = 0;
    s->midline = 0;   /* the person's Enter ended the prompt's line */
    if (got == TIDE_GOT_LINE)
        tide_repl_send(R.ctl, 'L', line, strlen(line));
    else
        tide_repl_send(R.ctl, 'Z', "", 0);
    free(line);
}

static void serve_ctl(void)
{
    char type;
    size_t len;
    char *data = tide_repl_recv(R.ctl, &type, &len);
    if (!data) {   /* rank 0 is gone */
        close(R.ctl);
        R.ctl = -1;
        return;
    }
    if (type == 'P')
        breakpoint_line(data);
    free(data);
}

/* Waits until every rank ended its output of the chunk (0) or the job ended (-1), showing the
 * output in rank order as it can: the lowest rank still running shows live, the others once
 * the ranks before them ended. */
static int wait_round(void)
{
    int cursor = 0, presses = 0;
    for (int r = 0; r < R.np; r++)
        R.out[r].ended = 0;
    for (;;) {
        int ended = job_ended();
        if (ended) {   /* what is left in the sockets, then nothing more will come */
            int fl = fcntl(R.listen_fd, F_GETFL);
            fcntl(R.listen_fd, F_SETFL, fl | O_NONBLOCK);
            accept_one();
            fcntl(R.listen_fd, F_SETFL, fl);
        }
        while (cursor < R.np) {
            stream *s = &R.out[cursor];
            if (ended && s->fd < 0)
                s->closed = 1;
            pump(cursor);
            if (!s->ended && !s->closed)
                break;
            if (s->midline)
                show(cursor, "\n", 1);
            cursor++;
        }
        fflush(stdout);
        int lost = 0;   /* a rank gone without ending its output: the job is ending */
        for (int r = 0; r < R.np; r++)
            lost |= R.out[r].closed;
        if (cursor == R.np && !ended && !lost)
            return 0;
        if (cursor == R.np && ended && R.mpirun_err < 0)
            return -1;
        struct pollfd fds[R.np + 4];
        int n = 0;
        fds[n++] = (struct pollfd){R.sig[0], POLLIN, 0};
        fds[n++] = (struct pollfd){R.listen_fd, POLLIN, 0};
        fds[n++] = (struct pollfd){R.mpirun_err, POLLIN, 0};   /* -1 is skipped */
        fds[n++] = (struct pollfd){R.ctl, POLLIN, 0};
        for (int r = 0; r < R.np; r++)
            if (R.out[r].fd >= 0)
                fds[n++] = (struct pollfd){R.out[r].fd, POLLIN, 0};
        if (poll(fds, (nfds_t)n, 200) <= 0)
            continue;
        if (fds[0].revents) {
            char c;
            if (read(R.sig[0], &c, 1) == 1 && c == SIGINT)
                interrupt_ranks(++presses);
        }
        if (fds[1].revents)
            accept_one();
        if (fds[2].revents)
            relay_mpirun();
        if (fds[3].revents)
            serve_ctl();
        for (int r = 0; r < R.np; r++)
            if (R.out[r].fd >= 0) {
                struct pollfd p = {R.out[r].fd, POLLIN, 0};
                if (poll(&p, 1, 0) > 0)
                    take(r);
            }
    }
}

/* Rank 0's control connection, waited for when it is not there yet. */
static int need_ctl(void)
{
    while (R.ctl < 0 && !job_ended()) {
        struct pollfd p = {R.listen_fd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0)
            accept_one();
    }
    return R.ctl >= 0 ? 0 : -1;
}

/* Completion for the person typing: rank 0's candidates (tide.diag.repl's complete) for text,
 * one a line; none while rank 0 waits for a breakpoint's line. */
static char *ask_rank0(const char *text)
{
    char type;
    size_t len;
    if (R.at_breakpoint || need_ctl() != 0 || tide_repl_send(R.ctl, 'T', text, strlen(text)) != 0)
        return NULL;
    return tide_repl_recv(R.ctl, &type, &len);
}

/* `:ranks all|0`: whose output shows. Returns 1 when line was that command. */
static int ranks_command(const char *line)
{
    if (strncmp(line, ":ranks", 6) != 0 || (line[6] && !isspace((unsigned char)line[6])))
        return 0;
    char arg[64] = "";
    sscanf(line + 6, " %63s", arg);
    if (strcmp(arg, "all") == 0)
        R.show_all = 1;
    else if (strcmp(arg, "0") == 0)
        R.show_all = 0;
    else if (arg[0])
        fprintf(stderr, "repl: :ranks expects all or 0, got '%s'\n", arg);
    else
        printf("showing the output of %s\n", R.show_all ? "every rank" : "rank 0 only");
    fflush(stdout);
    fflush(stderr);
    return 1;
}

static char *join(char *a, const char *b)
{
    char *s = NULL;
    if (asprintf(&s, "%s\n%s", a, b) < 0)
        s = NULL;
    free(a);
    return s;
}

/* The next chunk as typed (rank 0 compiles it the same way), or NULL at the end. */
static char *read_chunk(void)
{
    char *buf = NULL;
    for (;;) {
        char *line = NULL;
        int got = tide_repl_read_line(buf ? ">> " : "> ", &line);
        if (got == TIDE_GOT_CANCEL) {   /* drops the statement being typed */
            free(buf);
            buf = NULL;
            continue;
        }
        if (got == TIDE_GOT_EOF) {
            free(buf);
            return NULL;
        }
        if (!buf) {
            if (line[strspn(line, " \t\r")] == '\0' || ranks_command(line)) {
                free(line);
                continue;
            }
            if (line[0] == ':')   /* tide.diag.repl's commands run on the ranks */
                return line;
        }
        buf = buf ? join(buf, line) : line;
        if (buf != line)
            free(line);
        if (!buf)
            return NULL;
        int more;
        char *chunk = tide_repl_compile(R.L, buf, &more);
        if (chunk) {
            free(chunk);
            return buf;
        }
        if (!more) {
            fprintf(stderr, "%s\n", lua_tostring(R.L, -1));
            fflush(stderr);
            free(buf);
            buf = NULL;
        }
        lua_pop(R.L, 1);
    }
}

/* ------------------------------------------------------------------ the session */

static int listen_here(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(R.dir, sizeof R.dir, "%s/tide-repl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(R.dir)) {
        fprintf(stderr, "tide: run: cannot make a directory for the REPL's socket: %s\n",
                strerror(errno));
        return -1;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (snprintf(R.path, sizeof R.path, "%s/s", R.dir) >= (int)sizeof R.path) {
        fprintf(stderr, "tide: run: the socket's path %s/s is too long (set TMPDIR)\n", R.dir);
        return -1;
    }
    strcpy(addr.sun_path, R.path);
    R.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (R.listen_fd < 0 || bind(R.listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(R.listen_fd, R.np + 1) != 0) {
        fprintf(stderr, "tide: run: cannot listen on %s: %s\n", R.path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The key that ends a chunk's output: random, so no output of a script can contain it. */
static void make_mark(void)
{
    unsigned char raw[12] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        unsigned long v = (unsigned long)getpid() ^ (unsigned long)time(NULL);
        memcpy(raw, &v, sizeof v < sizeof raw ? sizeof v : sizeof raw);
    }
    if (fd >= 0)
        close(fd);
    char nonce[2 * sizeof raw + 1];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
    setenv(TIDE_REPL_NONCE_ENV, nonce, 1);
    R.mark_len = (size_t)snprintf(R.mark, sizeof R.mark, "%c%s%c", TIDE_REPL_RS, nonce,
                                  TIDE_REPL_RS);
}

static pid_t start_job(char *const *cmd)
{
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) {
        fprintf(stderr, "tide: run: cannot make a pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], STDERR_FILENO);
        /* its own process group: the terminal's Ctrl-C is ours to turn into SIGUSR2 */
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        execvp(cmd[0], cmd);
        fprintf(stderr, "tide: run: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    close(err[1]);
    R.mpirun_err = err[0];
    if (pid > 0)
        setpgid(pid, pid);
    else
        fprintf(stderr, "tide: run: cannot fork: %s\n", strerror(errno));
    return pid;
}

int tide_repl_launch(char *const *cmd, int np)
{
    memset(&R, 0, sizeof R);
    R.np = np;
    R.ctl = -1;
    R.mpirun_err = -1;
    R.status = -1;
    R.show_all = 1;
    R.out = calloc((size_t)np, sizeof *R.out);
    R.L = luaL_newstate();
    if (!R.out || !R.L || pipe2(R.sig, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "tide: run: out of memory\n");
        return 1;
    }
    for (int r = 0; r < np; r++)
        R.out[r].fd = -1;
    if (listen_here() != 0)
        return 1;
    make_mark();
    R.interactive = isatty(STDIN_FILENO);
    tide_repl_input in = {R.interactive, R.sig[0], job_ended, ask_rank0};
    tide_repl_input_start(&in);
    setenv(TIDE_REPL_ENV, R.path, 1);
    setenv("TIDE_INTERACTIVE", R.interactive ? "1" : "0", 1);
    tide_host_catch(SIGINT, on_signal, NULL);
    tide_host_catch(SIGCHLD, on_signal, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a rank that died mid-session fails a send, not us */
    R.mpirun = start_job(cmd);
    if (R.mpirun > 0) {
        while (wait_round() == 0) {
            char *chunk = read_chunk();
            if (need_ctl() != 0)
                break;
            int sent = chunk ? tide_repl_send(R.ctl, 'C', chunk, strlen(chunk))
                             : tide_repl_send(R.ctl, 'E', "", 0);
            free(chunk);
            if (!chunk || sent != 0)
                break;
        }
        while (wait_round() == 0) {   /* the end: what the ranks still say as they exit */
        }
    }
    tide_repl_input_stop();
    unlink(R.path);
    rmdir(R.dir);
    lua_close(R.L);
    return R.mpirun > 0 ? R.status : 127;
}
