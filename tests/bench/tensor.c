/* tensor.c — the C twin of tests/bench/tensor.lua: the same work written directly against
 * OpenBLAS and as plain loops, built with tide's flags (-O3 -march=native).
 *
 * Built two ways (tests/tests.cmake):
 *   - a program, build/bench/tensor, printing "name value unit" lines on its own;
 *   - with -DTWIN_MODULE, the Lua module tensor_twin that tensor.lua loads into its own
 *     process, so that C and tide calls alternate on the same (shared, noisy) machine:
 *       twin.gemm(n, is_f64) -> seconds of one C = A·B call on the twin's own matrices
 *       twin.add() / twin.relu() -> seconds of one pass over 16M f32
 *   gemm: square row-major; add: c[i] = a[i] + b[i]; relu: r[i] = a[i] > 0 ? a[i] : 0. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_ELEM (16u * 1024u * 1024u)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

__attribute__((noipa)) static void add_loop(float *restrict c, const float *restrict a,
                                            const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = a[i] + b[i];
}

__attribute__((noipa)) static void relu_loop(float *restrict r, const float *restrict a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

static void fill(void *p, size_t n, int dbl)
{
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        double v = ((int)(s >> 8) - (1 << 23)) / (double)(1 << 23);
        if (dbl) ((double *)p)[i] = v; else ((float *)p)[i] = (float)v;
    }
}

/* The operands of the last gemm size asked for, kept between calls. */
static struct { int n, dbl; void *a, *b, *c; } mats;

static int ensure_mats(int n, int dbl)
{
    if (mats.a && mats.n == n && mats.dbl == dbl)
        return 1;
    free(mats.a); free(mats.b); free(mats.c);
    size_t bytes = ((size_t)n * n * (dbl ? 8 : 4) + 63) / 64 * 64;
    mats.a = aligned_alloc(64, bytes);
    mats.b = aligned_alloc(64, bytes);
    mats.c = aligned_alloc(64, bytes);
    mats.n = n;
    mats.dbl = dbl;
    if (!mats.a || !mats.b || !mats.c)
        return 0;
    fill(mats.a, (size_t)n * n, dbl);
    fill(mats.b, (size_t)n * n, dbl);
    return 1;
}

static double gemm_once(int n, int dbl)
{
    double t0 = now();
    if (dbl)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, mats.a, n, mats.b, n,
                    0.0, mats.c, n);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, mats.a, n, mats.b,
                    n, 0.0f, mats.c, n);
    return now() - t0;
}

static float *va, *vb, *vc;

static int ensure_vectors(void)
{
    if (va)
        return 1;
    va = aligned_alloc(64, N_ELEM * 4);
    vb = aligned_alloc(64, N_ELEM * 4);
    vc = aligned_alloc(64, N_ELEM * 4);
    if (!va || !vb || !vc)
        return 0;
    fill(va, N_ELEM, 0);
    fill(vb, N_ELEM, 0);
    add_loop(vc, va, vb, N_ELEM);       /* fault the output's pages in once */
    return 1;
}

static double add_once(void)
{
    double t0 = now();
    add_loop(vc, va, vb, N_ELEM);
    return now() - t0;
}

static double relu_once(void)
{
    double t0 = now();
    relu_loop(vc, va, N_ELEM);
    return now() - t0;
}

#ifdef TWIN_MODULE
#include <lauxlib.h>
#include <lua.h>

static int l_gemm(lua_State *L)
{
    int n = (int)luaL_checkinteger(L, 1);
    int dbl = lua_toboolean(L, 2);
    if (!ensure_mats(n, dbl))
        return luaL_error(L, "tensor twin: out of memory for %dx%d matrices", n, n);
    lua_pushnumber(L, gemm_once(n, dbl));
    return 1;
}

static int l_add(lua_State *L)
{
    if (!ensure_vectors())
        return luaL_error(L, "tensor twin: out of memory");
    lua_pushnumber(L, add_once());
    return 1;
}

static int l_relu(lua_State *L)
{
    if (!ensure_vectors())
        return luaL_error(L, "tensor twin: out of memory");
    lua_pushnumber(L, relu_once());
    return 1;
}

int luaopen_tensor_twin(lua_State *L)
{
    static const luaL_Reg fns[] = {{"gemm", l_gemm}, {"add", l_add}, {"relu", l_relu},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_pushinteger(L, N_ELEM);
    lua_setfield(L, -2, "n_elem");
    return 1;
}

#else

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(void)
{
    static const int sizes[] = {256, 1024, 2048};
    for (int dbl = 0; dbl <= 1; dbl++)
        for (int i = 0; i < 3; i++) {
            int n = sizes[i];
            if (!ensure_mats(n, dbl))
                return 1;
            double best = 1e30, t_begin = now();
            while (now() - t_begin < 0.2)           /* warm-up: OpenBLAS threads ramp up */
                gemm_once(n, dbl);
            t_begin = now();
            for (int calls = 0; calls < 3 || now() - t_begin < 0.3; calls++) {
                double t = gemm_once(n, dbl);
                best = t < best ? t : best;
            }
            printf("%s_%d %.2f GFLOP/s\n", dbl ? "dgemm" : "sgemm", n, 2.0 * n * n * n / best / 1e9);
        }
    if (!ensure_vectors())
        return 1;
    enum { REPS = 30 };
    double t[REPS];
    for (int r = 0; r < REPS; r++)
        t[r] = add_once();
    qsort(t, REPS, sizeof *t, cmp_double);
    printf("add_16M %.2f GB/s\n", 3.0 * N_ELEM * 4 / t[REPS / 2] / 1e9);
    for (int r = 0; r < REPS; r++)
        t[r] = relu_once();
    qsort(t, REPS, sizeof *t, cmp_double);
    printf("relu_16M %.2f GB/s\n", 2.0 * N_ELEM * 4 / t[REPS / 2] / 1e9);
    return 0;
}

#endif
