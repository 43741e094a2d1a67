/* lua_diag.c — diagnosing a job: the flight recorder and dumps (see core/comm/recorder.h).
 *
 *   tide.dump([dir]) -> path       this rank's ring and Lua tracebacks to DIR/rank-R.json
 *                                  (DIR: TIDE_DUMP_DIR, else "tide-dump"); not collective
 *   tide.set_recorder(n) -> old    the ring's size (0: off; TIDE_RECORDER=N at start)
 *   tide.recorder() -> list        the ring from the oldest: {id, comm, seq, name, dtype,
 *                                  shape, op, root, site, start, finish, state}
 * SIGUSR1 asks every rank it reaches for a dump, taken at the next safe point (a Lua hook on
 * the main thread, or the watchdog's poll loop while the rank waits in a collective). On a
 * watchdog timeout every rank dumps and one runs the doctor (scripts/tide/diag/doctor.lua) on the
 * dumps in a Lua state of its own, printing its summary on stderr.
 *
 * The tracebacks: the main thread's, then each coroutine it is resuming (found at the frames
 * of coroutine.resume and of coroutine.wrap's functions), innermost last. Walking another
 * thread's stack needs no Lua call: lua_getinfo without "f" or "L" pushes nothing. */
#define _POSIX_C_SOURCE 200809L
#include "lua_bindings.h"
#include "tensor/lua_tensor.h"
#include "comm/lua_comm.h"
#include "comm/heartbeat.h"
#include "comm/recorder.h"
#include "comm/runtime.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lua_State *main_L;              /* the state whose tracebacks a dump writes */
static lua_CFunction co_resume;        /* coroutine.resume, to find the running coroutine */
static char *saved_path, *saved_cpath; /* package.path/cpath, for the doctor's own state */

/* ------------------------------------------------------------------ a growing string */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len)
{
    if (!b->p && b->cap == (size_t)-1)
        return;   /* out of memory earlier: the dump goes without tracebacks */
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            free(b->p);
            b->p = NULL;
            b->n = 0;
            b->cap = (size_t)-1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_json(sbuf *b, const char *s)
{
    char small[512];
    size_t need = tide_rec_json_string(small, sizeof small, s ? s : "");
    if (need < sizeof small) {
        sb_add(b, small, need);
        return;
    }
    char *big = malloc(need + 1);
    if (big) {
        tide_rec_json_string(big, need + 1, s);
        sb_add(b, big, need);
        free(big);
    }
}

/* ------------------------------------------------------------------ tracebacks */

/* The coroutine the C function at this frame of th is running, or NULL. Pushes nothing
 * (net): th is suspended in that C function, and everything pushed on it is popped. */
static lua_State *resumed_by(lua_State *th, lua_Debug *ar)
{
    int top = lua_gettop(th);
    lua_State *co = NULL;
    if (!lua_checkstack(th, 3) || !lua_getinfo(th, "f", ar))
        return NULL;
    if (lua_tocfunction(th, -1) == co_resume) {
        if (lua_getlocal(th, ar, 1) && lua_isthread(th, -1))
            co = lua_tothread(th, -1);
    } else if (lua_getupvalue(th, -1, 1) && lua_isthread(th, -1)) {
        co = lua_tothread(th, -1);   /* coroutine.wrap's function keeps its thread there */
    }
    lua_settop(th, top);
    return co != th ? co : NULL;
}

/* {"thread": label, "frames": [...]} for th, innermost frame first; *next: the coroutine
 * th is resuming (NULL when none). */
static void thread_json(sbuf *b, lua_State *th, const char *label, lua_State **next)
{
    lua_Debug ar;
    char tmp[600];
    *next = NULL;
    sb_str(b, "{\"thread\": ");
    sb_json(b, label);
    sb_str(b, ", \"frames\": [");
    for (int level = 0; lua_getstack(th, level, &ar); level++) {
        if (!lua_getinfo(th, "Sln", &ar))
            break;
        if (level)
            sb_str(b, ", ");
        if (ar.currentline > 0)
            snprintf(tmp, sizeof tmp, "%s:%d", ar.short_src, ar.currentline);
        else
            snprintf(tmp, sizeof tmp, "%s", ar.short_src);
        sb_str(b, "{\"site\": ");
        sb_json(b, tmp);
        sb_str(b, ", \"what\": ");
        sb_json(b, ar.what);
        if (ar.name) {
            sb_str(b, ", \"name\": ");
            sb_json(b, ar.name);
        }
        sb_str(b, "}");
        if (!*next && *ar.what == 'C')
            *next = resumed_by(th, &ar);
    }
    sb_str(b, "]}");
}

static void tracebacks_json(sbuf *b)
{
    sb_str(b, "\"traceback\": [");
    lua_State *th = main_L, *next;
    for (int k = 0; th && k < 64; k++, th = next) {
        char label[32];
        snprintf(label, sizeof label, k ? "coroutine %d" : "main", k);
        if (k)
            sb_str(b, ", ");
        thread_json(b, th, label, &next);
    }
    sb_str(b, "]");
}

static tide_status dumper(const char *dir, const char *reason)
{
    sbuf b = {0};
    if (main_L)
        tracebacks_json(&b);
    tide_status st = tide_rec_write(dir, reason, b.p, NULL, 0);
    free(b.p);
    return st;
}

/* ------------------------------------------------------------------ the doctor */

/* Runs require("tide.diag.doctor").report(dir) in a state of its own: the job's state may be in
 * the middle of anything. */
static void reporter(const char *dir)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return;
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    if (saved_path) {
        lua_pushstring(L, saved_path);
        lua_setfield(L, -2, "path");
    }
    if (saved_cpath) {
        lua_pushstring(L, saved_cpath);
        lua_setfield(L, -2, "cpath");
    }
    lua_pop(L, 1);
    const char *code = "local dir = ...; return require('tide.diag.doctor').report(dir, io.stderr)";
    if (luaL_loadstring(L, code) != LUA_OK || (lua_pushstring(L, dir),
                                               lua_pcall(L, 1, 0, 0)) != LUA_OK) {
        fprintf(stderr, "[rank %d] tide doctor: %s\n", tide_runtime_rank(),
                lua_tostring(L, -1));
        fflush(stderr);
    }
    lua_close(L);
}

/* ------------------------------------------------------------------ SIGUSR1 */

static void dump_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    tide_rec_poll();
}

/* Also what the heartbeat thread calls after asking for a dump: lua_sethook only sets a few
 * fields, which is why lua.c may call it from a signal handler. */
static void wake(void)
{
    if (main_L)
        lua_sethook(main_L, dump_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void on_usr1(int sig)
{
    (void)sig;
    tide_rec_request_dump();
    wake();
}

/* ------------------------------------------------------------------ the functions */

static int l_dump(lua_State *L)
{
    const char *dir = luaL_optstring(L, 1, NULL);
    char path[1100];
    sbuf b = {0};
    tracebacks_json(&b);
    tide_status st = tide_rec_write(dir, "tide.dump", b.p, path, sizeof path);
    free(b.p);
    tide_lua_check(L, st);
    lua_pushstring(L, path);
    return 1;
}

static int l_set_recorder(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    int old = n >= 0 && n <= 1 << 20 ? tide_rec_set_size((int)n) : -1;
    if (old < 0)
        return luaL_error(L, "set_recorder: expected a number of collectives from 0 (off) to %d,"
                          " got %I", 1 << 20, n);
    lua_pushinteger(L, old);
    return 1;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static int l_recorder(lua_State *L)
{
    int n = tide_rec_entries(NULL, tide_rec_slots);
    tide_rec_entry *es = lua_newuserdatauv(L, sizeof *es * (size_t)(n ? n : 1), 0);
    n = tide_rec_entries(es, n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const tide_rec_entry *e = &es[i];
        lua_createtable(L, 0, 12);
        set_int(L, "id", (lua_Integer)e->id);
        set_int(L, "comm", e->cid);
        set_int(L, "seq", (lua_Integer)e->seq);
        lua_pushstring(L, e->name);
        lua_setfield(L, -2, "name");
        if (e->dtype >= 0) {
            lua_pushstring(L, tide_dtype_name((tide_dtype)e->dtype));
            lua_setfield(L, -2, "dtype");
            lua_createtable(L, e->ndim, 0);
            for (int d = 0; d < e->ndim; d++) {
                lua_pushinteger(L, e->shape[d]);
                lua_rawseti(L, -2, d + 1);
            }
            lua_setfield(L, -2, "shape");
        }
        if (e->op >= 0) {
            lua_pushstring(L, tide_op_name((tide_op)e->op));
            lua_setfield(L, -2, "op");
        }
        if (e->root >= 0)
            set_int(L, "root", e->root);
        lua_pushstring(L, e->site);
        lua_setfield(L, -2, "site");
        lua_pushnumber(L, e->t_start);
        lua_setfield(L, -2, "start");
        lua_pushnumber(L, e->t_end);
        lua_setfield(L, -2, "finish");
        lua_pushstring(L, tide_rec_state_name(e->state));
        lua_setfield(L, -2, "state");
        if (e->state == TIDE_REC_FAILED) {
            lua_pushstring(L, e->error);
            lua_setfield(L, -2, "error");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ------------------------------------------------------------------ heartbeats */

static int l_health_start(lua_State *L)
{
    tide_lua_check(L, tide_hb_start(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
    return 0;
}

static int l_health_stop(lua_State *L)
{
    (void)L;
    tide_hb_stop();
    return 0;
}

static int l_health_ages(lua_State *L)
{
    int size = tide_runtime_size();
    double *ages = lua_newuserdatauv(L, sizeof(double) * (size_t)size, 0);
    int n = tide_hb_ages(ages, size);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, ages[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* bcast_line(s or nil) -> rank 0's s on every rank: the breakpoint's next line. Waits
 * patiently (for a person: the watchdog never expires it). */
static int l_bcast_line(lua_State *L)
{
    MPI_Comm comm = tide_runtime_comm();
    if (comm == MPI_COMM_NULL)
        return luaL_error(L, "breakpoint: MPI is not initialised");
    size_t len = 0;
    const char *s = luaL_optlstring(L, 1, NULL, &len);
    long long n = tide_runtime_rank() == 0 ? (s ? (long long)len : -1) : 0;
    MPI_Request req;
    int rc = MPI_Ibcast(&n, 1, MPI_LONG_LONG, 0, comm, &req);
    if (rc == MPI_SUCCESS)
        rc = tide_runtime_wait(comm, &req, "breakpoint", 1);
    if (rc != MPI_SUCCESS)
        return luaL_error(L, "breakpoint: the ranks could not exchange the next line");
    if (n < 0) {
        lua_pushnil(L);
        return 1;
    }
    char *buf = lua_newuserdatauv(L, (size_t)n + 1, 0);
    if (tide_runtime_rank() == 0)
        memcpy(buf, s, (size_t)n);
    rc = MPI_Ibcast(buf, (int)n, MPI_CHAR, 0, comm, &req);
    if (rc == MPI_SUCCESS)
        rc = tide_runtime_wait(comm, &req, "breakpoint", 0);
    if (rc != MPI_SUCCESS)
        return luaL_error(L, "breakpoint: the ranks could not exchange the next line");
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static const luaL_Reg internal_funcs[] = {
    {"health_start", l_health_start},
    {"health_stop", l_health_stop},
    {"health_ages", l_health_ages},
    {"bcast_line", l_bcast_line},
    {NULL, NULL},
};

/* The state closes: dumps go on without its tracebacks. */
static int l_forget(lua_State *L)
{
    lua_State *m = NULL;
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD) == LUA_TTHREAD)
        m = lua_tothread(L, -1);
    if (m == main_L)
        main_L = NULL;
    return 0;
}

static char *dup_field(lua_State *L, const char *k)
{
    char *s = NULL;
    int top = lua_gettop(L);
    if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, k) == LUA_TSTRING) {
        s = malloc(lua_rawlen(L, -1) + 1);
        if (s)
            memcpy(s, lua_tostring(L, -1), lua_rawlen(L, -1) + 1);
    }
    lua_settop(L, top);
    return s;
}

static const luaL_Reg diag_funcs[] = {
    {"dump", l_dump},
    {"set_recorder", l_set_recorder},
    {"recorder", l_recorder},
    {NULL, NULL},
};

void tide_open_diag(lua_State *L, int module, int methods, int meta)
{
    (void)methods;
    (void)meta;
    static int configured;
    if (!configured) {
        tide_lua_check(L, tide_rec_configure());
        configured = 1;
        tide_hb_set_waker(wake);
        tide_rec_set_dumper(dumper);
        tide_rec_set_reporter(reporter);
        struct sigaction old;
        if (sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_usr1;
            sigemptyset(&sa.sa_mask);
            sa.sa_flags = SA_RESTART;
            sigaction(SIGUSR1, &sa, NULL);
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main_L = lua_tothread(L, -1);
    lua_pop(L, 1);
    int top = lua_gettop(L);
    if (lua_getglobal(L, "coroutine") == LUA_TTABLE &&
        lua_getfield(L, -1, "resume") == LUA_TFUNCTION)
        co_resume = lua_tocfunction(L, -1);
    lua_settop(L, top);
    free(saved_path);
    free(saved_cpath);
    saved_path = dup_field(L, "path");
    saved_cpath = dup_field(L, "cpath");
    /* a sentinel whose __gc runs when the state closes */
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_forget);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "tide.diag");
    lua_pushvalue(L, module);
    luaL_setfuncs(L, diag_funcs, 0);
    luaL_newlib(L, internal_funcs);
    lua_setfield(L, -2, "_diag");   /* tide._internal.diag: for health.lua and breakpoint.lua */
    lua_pop(L, 1);
    static int heartbeats;
    if (!heartbeats) {
        heartbeats = 1;
        tide_lua_check(L, tide_hb_configure());   /* collective: every rank opens tide.core */
    }
}
