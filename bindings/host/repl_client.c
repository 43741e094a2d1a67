/* repl_client.c — a rank's side of the REPL of `tide run` (see repl_client.h). */
#define _GNU_SOURCE
#include "repl_client.h"
#include "host_impl.h"
#include "repl_proto.h"
#include "comm/watchdog.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int ctl_fd = -1;   /* rank 0: chunks and completions */
static char mark[TIDE_REPL_NONCE_MAX + 3];

int tide_repl_launched(void)
{
    const char *path = getenv(TIDE_REPL_ENV);
    return path && *path;
}

static int dial(const char *path, const char *hello)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        tide_repl_write_all(fd, hello, strlen(hello)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* tide._internal.launcher_read(prompt): rank 0's next line from the launcher while a chunk
 * runs (tide.breakpoint), nil at the end of input. */
static int l_launcher_read(lua_State *L)
{
    size_t n;
    const char *prompt = luaL_checklstring(L, 1, &n);
    fflush(stdout);
    fflush(stderr);
    char type = 0;
    size_t len = 0;
    char *line = tide_repl_send(ctl_fd, 'P', prompt, n) == 0 ? tide_repl_recv(ctl_fd, &type, &len)
                                                           : NULL;
    if (!line)
        return luaL_error(L, "breakpoint: the launcher of tide run is gone");
    if (type == 'L')
        lua_pushlstring(L, line, len);
    else
        lua_pushnil(L);
    free(line);
    return 1;
}

int tide_repl_connect(tide_host *h)
{
    int rank = tide_host_rank(h);
    const char *path = getenv(TIDE_REPL_ENV);
    const char *nonce = getenv(TIDE_REPL_NONCE_ENV);
    if (!nonce || strlen(nonce) > TIDE_REPL_NONCE_MAX) {
        fprintf(stderr, "[rank %d] tide: %s names no launcher's key\n", rank, TIDE_REPL_NONCE_ENV);
        return -1;
    }
    snprintf(mark, sizeof mark, "%c%s%c", TIDE_REPL_RS, nonce, TIDE_REPL_RS);
    char hello[32];
    snprintf(hello, sizeof hello, "out %d\n", rank);
    int out = dial(path, hello);
    if (out < 0 || (rank == 0 && (ctl_fd = dial(path, "ctl\n")) < 0)) {
        fprintf(stderr, "[rank %d] tide: cannot reach the launcher's REPL at %s\n", rank, path);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(out);
    setvbuf(stdout, NULL, _IOLBF, 0);   /* a socket is not a terminal: show lines as they come */
    if (rank == 0) {
        lua_State *L = tide_host_lua(h);
        int top = lua_gettop(L);
        if (lua_getglobal(L, "tide") == LUA_TTABLE &&
            lua_getfield(L, -1, "_internal") == LUA_TTABLE) {
            lua_pushcfunction(L, l_launcher_read);
            lua_setfield(L, -2, "launcher_read");
        }
        lua_settop(L, top);
    }
    return 0;
}

/* Rank 0's reader: the next chunk from the launcher, answering completion requests meanwhile. */
static char *next_chunk(void *ctx, const char *prompt)
{
    lua_State *L = ctx;
    (void)prompt;   /* the launcher prompts */
    for (;;) {
        char type;
        size_t len;
        char *data = tide_repl_recv(ctl_fd, &type, &len);
        if (!data || type == 'E') {
            free(data);
            return NULL;
        }
        if (type == 'C')
            return data;
        /* 'T': tide.diag.repl's complete(text), one candidate a line */
        int top = lua_gettop(L);
        const char *reply = "";
        size_t rlen = 0;
        lua_getglobal(L, "require");
        lua_pushliteral(L, "tide.diag.repl");
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
            lua_getfield(L, -1, "complete");
            lua_pushlstring(L, data, len);
            if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1))
                reply = lua_tolstring(L, -1, &rlen);
        }
        free(data);
        int sent = tide_repl_send(ctl_fd, 'T', reply, rlen);
        lua_settop(L, top);
        if (sent != 0)
            return NULL;
    }
}

/* Every rank: the previous chunk's output is complete. */
static void end_output(void *ctx)
{
    (void)ctx;
    fflush(stdout);
    fflush(stderr);
    tide_repl_write_all(STDOUT_FILENO, mark, strlen(mark));
}

tide_status tide_repl_run(tide_host *h)
{
    /* the launcher's Ctrl-C must also release a rank blocked in a collective: every wait polls */
    tide_wd_set_interruptible(1);
    tide_repl_session s = {next_chunk, NULL, end_output, tide_host_lua(h), SIGUSR2};
    tide_status st = tide_host_repl_session(h, &s);
    tide_wd_set_interruptible(0);
    return st;
}
