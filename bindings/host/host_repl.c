/* host_repl.c — the REPL every rank takes part in (tide_host_repl, see tide_host.h): rank 0
 * reads a chunk as lua.c does, every rank runs it, rank 0 prints the results and every failing
 * rank's error. */
#define _GNU_SOURCE
#include "host_impl.h"
#include "comm/runtime.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lua.c's way to stop a runaway chunk: on SIGINT, a hook raises at the next instruction. */
static lua_State *volatile interrupted_state;

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void laction(int sig)
{
    signal(sig, SIG_DFL);   /* a second Ctrl-C kills */
    lua_sethook(interrupted_state, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static int docall_interruptible(lua_State *L, int nargs, int nresults)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = laction;
    sigemptyset(&sa.sa_mask);
    interrupted_state = L;
    sigaction(SIGINT, &sa, &old);
    int status = tide_host_docall(L, nargs, nresults);
    sigaction(SIGINT, &old, NULL);
    lua_sethook(L, NULL, 0, 0);
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

/* Rank 0: reads lines until they make a chunk that compiles, as lua.c does (`return <line>`
 * first, then more lines while the error ends at <eof>); syntax errors are shown here and
 * reading goes on. Returns the chunk (malloc'd) or NULL at end of input. */
static char *read_chunk(lua_State *L, tide_host_reader read, tide_host_saver save, void *ctx)
{
    for (;;) {
        char *line = read(ctx, "> ");
        if (!line)
            return NULL;
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (line[0] == ':') {   /* a command (`:on 1 x`): scripts/tide/diag/repl.lua */
            char *cmd = repl_command(L, line);
            if (cmd && save)
                save(ctx, line);
            free(line);
            return cmd;
        }
        const char *text = line[0] == '=' ? line + 1 : line;   /* lua 5.2's "=expr" */
        char *ret = concat("return ", text, ";");
        if (!ret) {
            free(line);
            return NULL;
        }
        if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
            lua_pop(L, 1);
            if (save)
                save(ctx, line);
            free(line);
            return ret;
        }
        lua_pop(L, 1);
        free(ret);
        char *buf = line[0] == '=' ? concat("return ", text, "") : strdup(line);
        free(line);
        for (;;) {
            if (!buf)
                return NULL;
            int status = luaL_loadbuffer(L, buf, strlen(buf), "=stdin");
            if (status == LUA_OK) {
                lua_pop(L, 1);
                if (save)
                    save(ctx, buf);
                return buf;
            }
            if (!incomplete(L, status)) {
                fprintf(stderr, "%s\n", lua_tostring(L, -1));
                fflush(stderr);
                lua_pop(L, 1);
                if (save)
                    save(ctx, buf);
                free(buf);
                break;
            }
            char *more = read(ctx, ">> ");
            if (!more) {   /* input ended inside a statement: say so, then end */
                fprintf(stderr, "%s\n", lua_tostring(L, -1));
                fflush(stderr);
                lua_pop(L, 1);
                free(buf);
                return NULL;
            }
            lua_pop(L, 1);
            n = strlen(more);
            if (n > 0 && more[n - 1] == '\n')
                more[n - 1] = '\0';
            char *joined = concat(buf, "\n", more);
            free(buf);
            free(more);
            buf = joined;
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

tide_status tide_host_repl(tide_host *h, tide_host_reader read, tide_host_saver save, void *ctx)
{
    lua_State *L = h->L;
    for (;;) {
        char *chunk = NULL;
        long long len = -1;
        if (h->rank == 0) {
            chunk = read_chunk(L, read, save, ctx);
            len = chunk ? (long long)strlen(chunk) : -1;
        }
        MPI_Request req;
        if (watched(h, MPI_Ibcast(&len, 1, MPI_LONG_LONG, 0, h->ctl, &req), &req, 1) !=
            MPI_SUCCESS) {
            free(chunk);
            return tide_host_fail(h, "repl: broadcasting a chunk failed");
        }
        if (len < 0)
            return TIDE_OK;
        if (h->rank != 0)
            chunk = malloc((size_t)len + 1);
        if (!chunk)
            return tide_host_fail(h, "repl: out of memory");
        if (watched(h, MPI_Ibcast(chunk, (int)len, MPI_CHAR, 0, h->ctl, &req), &req, 0) !=
            MPI_SUCCESS) {
            free(chunk);
            return tide_host_fail(h, "repl: broadcasting a chunk failed");
        }
        chunk[len] = '\0';

        int base = lua_gettop(L);
        int status = luaL_loadbuffer(L, chunk, (size_t)len, "=stdin");
        free(chunk);
        if (status == LUA_OK)
            status = docall_interruptible(L, 0, LUA_MULTRET);
        fflush(stdout);
        if (status == LUA_OK && h->rank == 0)
            print_results(L, base);
        fflush(stdout);
        const char *msg = status == LUA_OK ? NULL : lua_tostring(L, -1);
        if (status != LUA_OK && (!msg || !*msg))
            msg = "(error with no message)";
        tide_status st = report_errors(h, msg);
        lua_settop(L, base);
        if (st != TIDE_OK)
            return st;
    }
}
