/* host_repl.c — the REPL every rank takes part in (tide_host_repl, see tide_host.h): rank 0
 * reads a chunk as lua.c does, every rank runs it, rank 0 prints the results and every failing
 * rank's error. */
#define _GNU_SOURCE
#include "host_impl.h"
#include "comm/comm.h"
#include "comm/runtime.h"
#include "comm/watchdog.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stopping a running chunk, as lua.c does: on the signal a hook raises at the next
 * instruction; a rank waiting in a collective is released by the watchdog's interrupt flag
 * (watchdog.h). The signal is SIGINT alone (lua.c), or SIGUSR2 under `tide run`, whose launcher
 * turns a Ctrl-C into SIGUSR2 for mpirun to forward to every rank. */
static lua_State *volatile running;   /* the state of the chunk that runs now, or NULL */
static volatile sig_atomic_t interrupted;
static int stop_signal;                 /* 0 until a session sets it */

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_stop_signal(int sig)
{
    lua_State *L = running;
    if (!L)
        return;   /* between chunks: nothing to stop */
    if (sig == SIGINT)
        signal(sig, SIG_DFL);   /* lua.c: a second Ctrl-C kills */
    interrupted = 1;
    tide_wd_interrupt();
    lua_sethook(L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

void tide_host_catch(int sig, void (*handler)(int), struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, old);
}

/* Runs the chunk; returns lua_pcall's status, and sets *stopped when the signal stopped it. */
static int docall_interruptible(lua_State *L, int nargs, int nresults, int *stopped)
{
    struct sigaction old;
    if (stop_signal == SIGINT)   /* SIGINT is the terminal's between chunks */
        tide_host_catch(SIGINT, on_stop_signal, &old);
    interrupted = 0;
    tide_wd_clear_interrupt();
    running = L;
    int status = tide_host_docall(L, nargs, nresults);
    running = NULL;
    if (stop_signal == SIGINT)
        sigaction(SIGINT, &old, NULL);
    lua_sethook(L, NULL, 0, 0);
    *stopped = interrupted && status != LUA_OK;
    interrupted = 0;
    tide_wd_clear_interrupt();
    return status;
}

/* A syntax error that ends at <eof> means "read another line". */
static int incomplete(lua_State *L, int status)
{
    static const char mark[] = "<eof>";
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (status == LUA_ERRSYNTAX && len >= sizeof mark - 1 &&
        strcmp(msg + len - (sizeof mark - 1), mark) == 0)
        return 1;
    return 0;
}

static char *concat(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, sep, ls);
        memcpy(s + la + ls, b, lb + 1);
    }
    return s;
}

char *tide_repl_compile(lua_State *L, const char *text, int *more)
{
    *more = 0;
    const char *code = text[0] == '=' ? text + 1 : text;   /* lua 5.2's "=expr" */
    char *ret = concat("return ", code, ";");
    if (!ret) {
        lua_pushliteral(L, "out of memory");
        return NULL;
    }
    if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
        lua_pop(L, 1);
        return ret;
    }
    lua_pop(L, 1);
    free(ret);
    char *chunk = text[0] == '=' ? concat("return ", code, "") : strdup(text);
    if (!chunk) {
        lua_pushliteral(L, "out of memory");
        return NULL;
    }
    int status = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
    if (status == LUA_OK) {
        lua_pop(L, 1);
        return chunk;
    }
    free(chunk);
    *more = incomplete(L, status);
    return NULL;   /* the message is on the stack */
}

/* The chunk that runs a REPL command on every rank: a call of tide.diag.repl's command. */
static char *repl_command(lua_State *L, const char *line)
{
    char *chunk = NULL;
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_pushliteral(L, "return require('tide.diag.repl').command(%q)");
    lua_pushstring(L, line);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK)
        chunk = strdup(lua_tostring(L, -1));
    lua_pop(L, 2);
    return chunk;
}

static void strip_newline(char *line)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
}

/* Rank 0: reads lines until they make a chunk that compiles (tide_repl_compile); syntax errors
 * are shown here and reading goes on. Returns the chunk (malloc'd) or NULL at end of input. */
static char *read_chunk(lua_State *L, tide_host_reader read, tide_host_saver save, void *ctx)
{
    for (;;) {
        char *buf = read(ctx, "> ");
        if (!buf)
            return NULL;
        strip_newline(buf);
        if (buf[0] == ':') {   /* a command (`:on 1 x`): scripts/tide/diag/repl.lua */
            char *cmd = repl_command(L, buf);
            if (cmd && save)
                save(ctx, buf);
            free(buf);
            return cmd;
        }
        for (;;) {
            int more;
            char *chunk = tide_repl_compile(L, buf, &more);
            if (chunk || !more) {
                if (!chunk) {
                    fprintf(stderr, "%s\n", lua_tostring(L, -1));
                    fflush(stderr);
                    lua_pop(L, 1);
                }
                if (save)
                    save(ctx, buf);
                free(buf);
                if (chunk)
                    return chunk;
                break;
            }
            char *next = read(ctx, ">> ");
            if (!next) {   /* input ended inside a statement: say so, then end */
                fprintf(stderr, "%s\n", lua_tostring(L, -1));
                fflush(stderr);
                lua_pop(L, 1);
                free(buf);
                return NULL;
            }
            lua_pop(L, 1);
            strip_newline(next);
            char *joined = concat(buf, "\n", next);
            free(buf);
            free(next);
            buf = joined;
            if (!buf)
                return NULL;
        }
    }
}

/* lua.c's l_print: calls the global print with the values above base. */
static void print_results(lua_State *L, int base)
{
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, base + 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        fprintf(stderr, "error calling 'print' (%s)\n", lua_tostring(L, -1));
}

/* Completes a started MPI call through the watchdog (patient: waiting for the user's next line,
 * which may take any time); rc is the start's code. */
static int watched(tide_host *h, int rc, MPI_Request *req, int patient)
{
    return rc == MPI_SUCCESS ? tide_runtime_wait(h->ctl, req, "repl", patient) : rc;
}

/* Every rank's error text goes to rank 0 (an empty one means success); rank 0 prints each. */
static tide_status report_errors(tide_host *h, const char *msg)
{
    int len = msg ? (int)strlen(msg) : 0;
    int *lens = NULL, *displs = NULL;
    char *all = NULL;
    tide_status st = TIDE_OK;
    if (h->rank == 0) {
        lens = calloc((size_t)h->size, sizeof *lens);
        displs = calloc((size_t)h->size, sizeof *displs);
        if (!lens || !displs)
            st = TIDE_FAIL;
    }
    MPI_Request req;
    if (watched(h, MPI_Igather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, h->ctl, &req), &req, 0) !=
        MPI_SUCCESS)
        st = TIDE_FAIL;
    size_t total = 0;
    if (h->rank == 0 && st == TIDE_OK) {
        for (int r = 0; r < h->size; r++) {
            displs[r] = (int)total;
            total += (size_t)lens[r];
        }
        all = malloc(total + 1);
    }
    if (watched(h, MPI_Igatherv(msg ? msg : "", len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0,
                                h->ctl, &req), &req, 0) != MPI_SUCCESS)
        st = TIDE_FAIL;
    if (h->rank == 0 && all && st == TIDE_OK) {
        for (int r = 0; r < h->size; r++)
            if (lens[r] > 0)
                fprintf(stderr, "[rank %d] %.*s\n", r, lens[r], all + displs[r]);
        fflush(stderr);
    }
    free(lens);
    free(displs);
    free(all);
    return st == TIDE_OK ? TIDE_OK : tide_host_fail(h, "repl: gathering the ranks' errors failed");
}

/* After an interrupt released some rank from a collective that is still pending (watchdog.h),
 * every rank replaces its communicators together, so the next statement's collectives match
 * each other and not the abandoned one. The ranks agree over ctl, which the chunk never used. */
static tide_status renew_if_stranded(tide_host *h)
{
    int mine = tide_wd_stranded() > 0, any = 0;
    MPI_Request req;
    if (watched(h, MPI_Iallreduce(&mine, &any, 1, MPI_INT, MPI_MAX, h->ctl, &req), &req, 0) !=
        MPI_SUCCESS)
        return tide_host_fail(h, "repl: agreeing on an interrupt failed");
    if (any && tide_comm_renew_all(h->ctl) != TIDE_OK)
        return tide_host_fail(h, tide_error());
    return TIDE_OK;
}

tide_status tide_host_repl(tide_host *h, tide_host_reader read, tide_host_saver save, void *ctx)
{
    tide_repl_session s = {read, save, NULL, ctx, SIGINT};
    return tide_host_repl_session(h, &s);
}

tide_status tide_host_repl_session(tide_host *h, const tide_repl_session *s)
{
    lua_State *L = h->L;
    struct sigaction old;
    stop_signal = s->stop_signal;
    if (stop_signal != SIGINT)   /* the launcher's: caught for the whole session */
        tide_host_catch(stop_signal, on_stop_signal, &old);
    tide_status st = TIDE_OK;
    for (;;) {
        if (s->ready)
            s->ready(s->ctx);
        char *chunk = NULL;
        long long len = -1;
        if (h->rank == 0) {
            chunk = read_chunk(L, s->read, s->save, s->ctx);
            len = chunk ? (long long)strlen(chunk) : -1;
        }
        MPI_Request req;
        if (watched(h, MPI_Ibcast(&len, 1, MPI_LONG_LONG, 0, h->ctl, &req), &req, 1) !=
            MPI_SUCCESS) {
            free(chunk);
            st = tide_host_fail(h, "repl: broadcasting a chunk failed");
            break;
        }
        if (len < 0)
            break;
        if (h->rank != 0)
            chunk = malloc((size_t)len + 1);
        if (!chunk) {
            st = tide_host_fail(h, "repl: out of memory");
            break;
        }
        if (watched(h, MPI_Ibcast(chunk, (int)len, MPI_CHAR, 0, h->ctl, &req), &req, 0) !=
            MPI_SUCCESS) {
            free(chunk);
            st = tide_host_fail(h, "repl: broadcasting a chunk failed");
            break;
        }
        chunk[len] = '\0';

        int base = lua_gettop(L), stopped = 0;
        int status = luaL_loadbuffer(L, chunk, (size_t)len, "=stdin");
        free(chunk);
        if (status == LUA_OK)
            status = docall_interruptible(L, 0, LUA_MULTRET, &stopped);
        fflush(stdout);
        if (status == LUA_OK && h->rank == 0)
            print_results(L, base);
        fflush(stdout);
        const char *msg = status == LUA_OK ? NULL : lua_tostring(L, -1);
        if (stopped)
            msg = "interrupted";   /* once per busy rank, without the traceback of where */
        else if (status != LUA_OK && (!msg || !*msg))
            msg = "(error with no message)";
        st = report_errors(h, msg);
        lua_settop(L, base);
        if (st == TIDE_OK)
            st = renew_if_stranded(h);
        if (st != TIDE_OK)
            break;
    }
    if (stop_signal != SIGINT)
        sigaction(stop_signal, &old, NULL);
    return st;
}
