/* lua_files.c — tide.io's file-system steps for checkpoints (io/files.h), a sleep for polling,
 * and the failures TIDE_FAULT injects (a rank killed, hung or gone). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "io/files.h"
#include "lua_io.h"
#include "tensor/lua_tensor.h"

static int l_mkdirs(lua_State *L)
{
    tide_lua_check(L, tide_mkdirs(luaL_checkstring(L, 1)));
    return 0;
}

static int l_remove_tree(lua_State *L)
{
    tide_lua_check(L, tide_remove_tree(luaL_checkstring(L, 1)));
    return 0;
}

/* tide.io.list_dir(path) -> sorted array of names; nil, message when it cannot be read */
static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_createtable(L, 0, 0);   /* before the list, so that raising never leaks it */
    char **names;
    int n;
    if (tide_list_dir(path, &names, &n) != TIDE_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, tide_error());
        return 2;
    }
    qsort(names, (size_t)n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);   /* may raise out of memory: names leaks then, rarely */
        lua_rawseti(L, -2, i + 1);
    }
    free(names);
    return 1;
}

static int l_sync_dir(lua_State *L)
{
    tide_lua_check(L, tide_sync_dir(luaL_checkstring(L, 1)));
    return 0;
}

static int l_write_atomic(lua_State *L)
{
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *data = luaL_checklstring(L, 2, &len);
    tide_lua_check(L, tide_write_atomic(path, data, len));
    return 0;
}

static int l_rename_durable(lua_State *L)
{
    tide_lua_check(L, tide_rename_durable(luaL_checkstring(L, 1), luaL_checkstring(L, 2)));
    return 0;
}

/* tide.io.read_file(path) -> the file's bytes as a u8 tensor */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tide_tensor *t = tide_lua_newtensor(L);
    tide_lua_check(L, tide_read_file(t, path));
    tide_lua_gc_pressure(L);
    return 1;
}

/* tide.io.write_file(path, u8 tensor): written atomically */
static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tide_lua_check(L, tide_write_tensor_file(path, tide_lua_checktensor(L, 2)));
    return 0;
}

/* tide.io.crc32_file(path) -> crc32, bytes */
static int l_crc32_file(lua_State *L)
{
    uint32_t crc;
    int64_t size;
    tide_lua_check(L, tide_file_crc32(luaL_checkstring(L, 1), &crc, &size));
    lua_pushinteger(L, crc);
    lua_pushinteger(L, size);
    return 2;
}

/* tide.io.crc32(string or tensor [, crc]) -> zlib's crc32 of the bytes (a tensor's elements in
 * logical order), continuing from crc */
static int l_crc32(lua_State *L)
{
    uLong crc = (uLong)luaL_optinteger(L, 2, 0);
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, 1, &len);
        for (size_t at = 0; at < len; at += 1u << 30)
            crc = crc32(crc, (const Bytef *)s + at,
                        (uInt)(len - at < 1u << 30 ? len - at : 1u << 30));
        lua_pushinteger(L, (lua_Integer)crc);
        return 1;
    }
    tide_tensor *t = tide_lua_checktensor(L, 1);
    tide_tensor *c = tide_lua_newtensor(L);   /* a contiguous copy when needed, GC-owned */
    tide_lua_check(L, tide_contiguous(c, t));
    size_t len = (size_t)tide_numel(c) * tide_dtype_size(c->dtype);
    const Bytef *p = len ? tide_data(c) : NULL;
    for (size_t at = 0; at < len; at += 1u << 30)
        crc = crc32(crc, p + at, (uInt)(len - at < 1u << 30 ? len - at : 1u << 30));
    lua_pushinteger(L, (lua_Integer)crc);
    return 1;
}

/* tide.io.sleep(seconds) */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return 0;
}

/* tide.io.fault(kind): "kill" (SIGKILL to this process), "hang" (sleep forever), "exit"
 * (leave at once with status 75, EX_TEMPFAIL, skipping MPI_Finalize: a lost rank). */
static int l_fault(lua_State *L)
{
    static const char *const kinds[] = {"kill", "hang", "exit", NULL};
    int kind = luaL_checkoption(L, 1, NULL, kinds);
    fflush(NULL);
    if (kind == 0)
        kill(getpid(), SIGKILL);
    if (kind == 1)
        for (;;)
            pause();
    _exit(75);
}

static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static const luaL_Reg file_funcs[] = {
    {"mkdirs", l_mkdirs}, {"remove_tree", l_remove_tree}, {"list_dir", l_list_dir},
    {"sync_dir", l_sync_dir}, {"write_atomic", l_write_atomic},
    {"rename_durable", l_rename_durable}, {"crc32_file", l_crc32_file}, {"sleep", l_sleep},
    {"crc32", l_crc32}, {"fault", l_fault}, {"read_file", l_read_file},
    {"write_file", l_write_file}, {"getpid", l_getpid}, {NULL, NULL}};

void tide_open_files(lua_State *L, int io)
{
    lua_pushvalue(L, io);
    luaL_setfuncs(L, file_funcs, 0);
    lua_pop(L, 1);
}
