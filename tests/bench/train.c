/* train.c — the C twin of examples/train_mnist.lua for tests/bench/train.lua: the same MLP
 * (784-256-128-10, ReLU), cross-entropy, SGD lr 0.1 momentum 0.9, global batch 128 split
 * evenly over the ranks, written by hand against OpenBLAS and MPI: one flat gradient buffer,
 * one MPI_Allreduce per step. It is what tide's training loop should cost.
 *
 *   mpirun -np 2 build/bench/train train_x.npy train_y.npy test_x.npy test_y.npy [epochs]
 *
 * Inputs are .npy files (f32 images scaled to [0,1], i64 labels 1..10) that the Lua benchmark
 * writes with tide.save. Prints one JSON line (rank 0): seconds of every epoch and the final
 * test accuracy. Weights are drawn U(-1/sqrt(in), 1/sqrt(in)) from a small xorshift generator,
 * so the numbers match tide's statistically, not bit for bit. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 784
#define H1 256
#define H2 128
#define OUT 10
#define BATCH 128

static void die(const char *msg, const char *what)
{
    fprintf(stderr, "train twin: %s %s\n", msg, what ? what : "");
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Reads a C-order .npy file of the expected element size; returns the data, *rows = dim 0. */
static void *read_npy(const char *path, size_t elem, int64_t *rows, int64_t *cols)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", path);
    unsigned char head[12];
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0)
        die("not a .npy file:", path);
    size_t hlen = head[8] | (size_t)head[9] << 8;
    if (head[6] >= 2) {
        if (fread(head + 10, 1, 2, f) != 2)
            die("truncated header:", path);
        hlen = head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 | (size_t)head[11] << 24;
    }
    char *h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, f) != hlen)
        die("truncated header:", path);
    h[hlen] = 0;
    char *s = strstr(h, "'shape': (");
    long long r = 0, c = 1;
    if (!s || sscanf(s + 10, "%lld, %lld", &r, &c) < 1)
        die("no shape in", path);
    free(h);
    size_t n = (size_t)r * (size_t)c;
    void *data = malloc(n * elem);
    if (!data || fread(data, elem, n, f) != n)
        die("truncated data:", path);
    fclose(f);
    *rows = r;
    *cols = c;
    return data;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef struct {
    float *w, *b, *gw, *gb, *vw, *vb;   /* weight out x in, bias, their grads and momenta */
    int in, out;
} layer;

static void forward(const layer *l, const float *x, float *y, int n, int relu)
{
    for (int r = 0; r < n; r++)
        memcpy(y + (size_t)r * l->out, l->b, sizeof(float) * (size_t)l->out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, l->in, l->w,
                l->in, 1.0f, y, l->out);
    if (relu)
        for (size_t i = 0; i < (size_t)n * l->out; i++)
            y[i] = y[i] > 0 ? y[i] : 0;
}

/* go: n x out; x: n x in; gx (may be NULL): n x in. Overwrites the layer's gradients. */
static void backward(const layer *l, const float *x, const float *go, float *gx, int n)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n, 1.0f, go, l->out, x,
                l->in, 0.0f, l->gw, l->in);
    for (int j = 0; j < l->out; j++)
        l->gb[j] = 0;
    for (int r = 0; r < n; r++)
        for (int j = 0; j < l->out; j++)
            l->gb[j] += go[(size_t)r * l->out + j];
    if (gx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->in, l->out, 1.0f, go, l->out,
                    l->w, l->in, 0.0f, gx, l->in);
}

static void relu_backward(float *g, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = y[i] > 0 ? g[i] : 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 5)
        die("usage: train train_x.npy train_y.npy test_x.npy test_y.npy [epochs]", NULL);
    int epochs = argc > 5 ? atoi(argv[5]) : 5;
    int64_t n, d, nt, dt, c1;
    float *X = read_npy(argv[1], 4, &n, &d);
    int64_t *Y = read_npy(argv[2], 8, &n, &c1);
    float *Xt = read_npy(argv[3], 4, &nt, &dt);
    int64_t *Yt = read_npy(argv[4], 8, &nt, &c1);
    if (d != IN || dt != IN || BATCH % size != 0)
        die("unexpected shapes or rank count", NULL);

    /* parameters, gradients (one flat buffer for the allreduce) and momenta */
    int dims[4] = {IN, H1, H2, OUT};
    size_t total = 0;
    for (int k = 0; k < 3; k++)
        total += (size_t)dims[k + 1] * dims[k] + dims[k + 1];
    float *params = malloc(total * sizeof(float)), *grads = malloc(total * sizeof(float));
    float *mom = calloc(total, sizeof(float));
    layer L[3];
    size_t off = 0;
    for (int k = 0; k < 3; k++) {
        layer *l = &L[k];
        l->in = dims[k];
        l->out = dims[k + 1];
        size_t nw = (size_t)l->in * l->out;
        l->w = params + off, l->gw = grads + off, l->vw = mom + off;
        off += nw;
        l->b = params + off, l->gb = grads + off, l->vb = mom + off;
        off += (size_t)l->out;
        float bound = 1.0f / sqrtf((float)l->in);
        for (size_t i = 0; i < nw; i++)
            l->w[i] = (float)((2 * uniform01() - 1) * bound);
        for (int i = 0; i < l->out; i++)
            l->b[i] = (float)((2 * uniform01() - 1) * bound);
    }
    MPI_Bcast(params, (int)total, MPI_FLOAT, 0, MPI_COMM_WORLD);

    int b = BATCH / size;
    int cap = (int)(nt > b ? nt : b);
    float *xb = malloc(sizeof(float) * (size_t)b * IN);
    int64_t *yb = malloc(sizeof(int64_t) * (size_t)b);
    float *a1 = malloc(sizeof(float) * (size_t)cap * H1), *a2 = malloc(sizeof(float) * (size_t)cap * H2);
    float *a3 = malloc(sizeof(float) * (size_t)cap * OUT);
    float *g3 = malloc(sizeof(float) * (size_t)b * OUT), *g2 = malloc(sizeof(float) * (size_t)b * H2);
    float *g1 = malloc(sizeof(float) * (size_t)b * H1);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
    double *secs = calloc((size_t)epochs, sizeof(double));
    int steps_first = 1;

    for (int e = 0; e < epochs; e++) {
        rng_state = 0xD1B54A32D192ED03ull * (uint64_t)(e + 1);   /* the same on every rank */
        for (int64_t i = 0; i < n; i++)
            perm[i] = i;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(uniform01() * (double)(i + 1));
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int64_t start = 0; start < n; start += BATCH) {
            int64_t gl = n - start < BATCH ? n - start : BATCH;
            int m = (int)(gl / size);                     /* this rank's rows of the batch */
            const int64_t *idx = perm + start + (int64_t)rank * m;
            for (int r = 0; r < m; r++) {
                memcpy(xb + (size_t)r * IN, X + (size_t)idx[r] * IN, sizeof(float) * IN);
                yb[r] = Y[idx[r]];
            }
            forward(&L[0], xb, a1, m, 1);
            forward(&L[1], a1, a2, m, 1);
            forward(&L[2], a2, a3, m, 0);
            for (int r = 0; r < m; r++) {                  /* softmax cross-entropy gradient */
                float *z = a3 + (size_t)r * OUT, *g = g3 + (size_t)r * OUT;
                float mx = z[0];
                for (int j = 1; j < OUT; j++)
                    mx = z[j] > mx ? z[j] : mx;
                double s = 0;
                for (int j = 0; j < OUT; j++)
                    s += exp((double)(z[j] - mx));
                for (int j = 0; j < OUT; j++)
                    g[j] = (float)(exp((double)(z[j] - mx)) / s / m);
                g[yb[r] - 1] -= 1.0f / (float)m;
            }
            backward(&L[2], a2, g3, g2, m);
            relu_backward(g2, a2, (size_t)m * H2);
            backward(&L[1], a1, g2, g1, m);
            relu_backward(g1, a1, (size_t)m * H1);
            backward(&L[0], xb, g1, NULL, m);
            if (size > 1) {
                MPI_Allreduce(MPI_IN_PLACE, grads, (int)total, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                float inv = 1.0f / (float)size;
                for (size_t i = 0; i < total; i++)
                    grads[i] *= inv;
            }
            for (size_t i = 0; i < total; i++) {           /* SGD, momentum 0.9, lr 0.1 */
                mom[i] = steps_first ? grads[i] : 0.9f * mom[i] + grads[i];
                params[i] -= 0.1f * mom[i];
            }
            steps_first = 0;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        secs[e] = MPI_Wtime() - t0;
    }

    /* test accuracy, on every rank's share of the test set */
    int64_t lo = nt * rank / size, hi = nt * (rank + 1) / size, correct = 0;
    forward(&L[0], Xt + lo * IN, a1, (int)(hi - lo), 1);
    forward(&L[1], a1, a2, (int)(hi - lo), 1);
    forward(&L[2], a2, a3, (int)(hi - lo), 0);
    for (int64_t r = 0; r < hi - lo; r++) {
        int best = 0;
        for (int j = 1; j < OUT; j++)
            if (a3[r * OUT + j] > a3[r * OUT + best])
                best = j;
        correct += best + 1 == Yt[lo + r];
    }
    MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("{\"bench\": \"train_c\", \"ranks\": %d, \"epoch_s\": [", size);
        for (int e = 0; e < epochs; e++)
            printf("%s%.4f", e ? ", " : "", secs[e]);
        printf("], \"accuracy\": %.4f}\n", (double)correct / (double)nt);
    }
    MPI_Finalize();
    return 0;
}
