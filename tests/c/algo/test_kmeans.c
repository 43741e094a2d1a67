/* test_kmeans.c — the k-means kernels against direct loops: the assignment pass (nearest
 * centre by Σ(x − c)² rather than the GEMM expansion, weighted sums, counts, inertia,
 * label changes, running minimum distances), distances, the Lloyd and mini-batch updates,
 * the farthest rows, the k-means|| sampling, pick and potential, the trial potentials and
 * k-means++ on well-separated points; and the error messages. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "algo/kmeans.h"
#include "check.h"
#include "tensors.h"

enum { N = 700, D = 5, KC = 6 };   /* N crosses the pass's row chunks */

static double X[N][D], CEN[KC][D], W[N];

static double sqd(const double *a, const double *b)
{
    double s = 0;
    for (int j = 0; j < D; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

/* The nearest centre of row i, lower index on ties, and its squared distance. */
static int nearest(int i, double *best)
{
    int l = 0;
    *best = sqd(X[i], CEN[0]);
    for (int c = 1; c < KC; c++) {
        double e = sqd(X[i], CEN[c]);
        if (e < *best)
            *best = e, l = c;
    }
    return l;
}

static void make_data(void)
{
    uint64_t rng = 31;
    for (int c = 0; c < KC; c++)
        for (int j = 0; j < D; j++)
            CEN[c][j] = 10 * tt_rand(&rng);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i][j] = CEN[i % KC][j] + 4 * tt_rand(&rng) - 2;   /* overlapping blobs */
        W[i] = 0.5 + tt_rand(&rng);
    }
}

static void test_assign(tide_dtype dt)
{
    tide_tensor x = tt_mat(dt, N, D, &X[0][0]), c = tt_mat(dt, KC, D, &CEN[0][0]);
    tide_tensor w = tt_vec(TIDE_F64, N, W), labels = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_zeros(&labels, TIDE_I32, 1, (int64_t[]){N}));
    tide_tensor sums = TIDE_TENSOR_EMPTY, counts = TIDE_TENSOR_EMPTY, mind = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_zeros(&sums, TIDE_F64, 2, (int64_t[]){KC, D}));
    CHECK_OK(tide_tensor_zeros(&counts, TIDE_F64, 1, (int64_t[]){KC}));
    CHECK_OK(tide_tensor_zeros(&mind, TIDE_F64, 1, (int64_t[]){N}));
    tide_kmeans_io io = {.weight = &w, .labels = &labels, .label_base = 1, .count_changes = 1,
                         .sums = &sums, .counts = &counts, .mind = &mind};
    tide_kmeans_stats st;
    CHECK_OK(tide_kmeans_assign(&x, &c, &io, &st));

    /* f32 inputs are rounded; the reference uses the same rounded values */
    tide_tensor xr = TIDE_TENSOR_EMPTY, cr = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_cast(&xr, &x, TIDE_F64));
    CHECK_OK(tide_cast(&cr, &c, TIDE_F64));
    double keep_x[N][D], keep_c[KC][D];
    for (int i = 0; i < N * D; i++)
        keep_x[i / D][i % D] = X[i / D][i % D], X[i / D][i % D] = tt_at(&xr, i);
    for (int i = 0; i < KC * D; i++)
        keep_c[i / D][i % D] = CEN[i / D][i % D], CEN[i / D][i % D] = tt_at(&cr, i);

    double tol = dt == TIDE_F32 ? 1e-5 : 1e-12, inertia = 0, s[KC][D] = {{0}}, n[KC] = {0};
    int labels_ok = 1, mind_ok = 1;
    for (int i = 0; i < N; i++) {
        double best;
        int l = nearest(i, &best);
        int got = (int)tt_iat(&labels, i) - 1;
        /* the GEMM expansion may break a near-tie the other way in f32: the label it gives
         * must then be as near as the nearest */
        labels_ok &= got == l || (dt == TIDE_F32 && got >= 0 && got < KC &&
                                  sqd(X[i], CEN[got]) <= best * (1 + tol) + tol);
        l = got;
        double e = sqd(X[i], CEN[l]);
        mind_ok &= fabs(tt_at(&mind, i) - e) <= tol * (1 + e);
        inertia += W[i] * e;
        n[l] += W[i];
        for (int j = 0; j < D; j++)
            s[l][j] += W[i] * X[i][j];
    }
    CHECK(labels_ok && mind_ok);
    CHECK(fabs(st.inertia - inertia) <= tol * inertia);
    CHECK(st.first_bad == -1);
    CHECK(st.changed == N);         /* labels started at 0: below base 1, so every row changed */
    int sums_ok = 1;
    for (int c2 = 0; c2 < KC; c2++) {
        sums_ok &= fabs(tt_at(&counts, c2) - n[c2]) < 1e-9;
        for (int j = 0; j < D; j++)
            sums_ok &= fabs(tt_at2(&sums, c2, j) - s[c2][j]) < 1e-9 * (1 + fabs(s[c2][j]));
    }
    CHECK(sums_ok);

    /* again: no label changes; 7 labels moved by hand change back */
    CHECK_OK(tide_kmeans_assign(&x, &c, &io, &st));
    CHECK(st.changed == 0);
    int32_t *lab = tide_data(&labels);
    for (int i = 0; i < 7; i++)
        lab[i * 50] = lab[i * 50] % KC + 1;
    /* mind_update keeps the smaller of the old value and the new distance */
    double *md = tide_data(&mind);
    md[3] = 1e-3;
    md[4] = 1e9;
    double d4 = sqd(X[4], CEN[lab[4] - 1]);
    tide_kmeans_io io2 = {.labels = &labels, .label_base = 1, .count_changes = 1, .mind = &mind,
                          .mind_update = 1};
    CHECK_OK(tide_kmeans_assign(&x, &c, &io2, &st));
    CHECK(st.changed == 7);
    CHECK(md[3] == 1e-3 && fabs(md[4] - d4) <= tol * (1 + d4));

    /* distances: the square roots of the direct squared distances */
    tide_tensor dist = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_kmeans_distances(&dist, &x, &c));
    int dist_ok = dist.shape[0] == N && dist.shape[1] == KC;
    for (int i = 0; i < N; i += 7)
        for (int c2 = 0; c2 < KC; c2++)
            dist_ok &= fabs(tt_at2(&dist, i, c2) - sqrt(sqd(X[i], CEN[c2]))) < (dt == TIDE_F32 ? 1e-3 : 1e-9);
    CHECK(dist_ok);

    for (int i = 0; i < N * D; i++)
        X[i / D][i % D] = keep_x[i / D][i % D];
    for (int i = 0; i < KC * D; i++)
        CEN[i / D][i % D] = keep_c[i / D][i % D];
    TT_RELEASE(&dist, &cr, &xr, &mind, &counts, &sums, &labels, &w);
    TT_RELEASE(&c, &x);
}

static void test_assign_errors(void)
{
    tide_tensor x = tt_mat(TIDE_F64, 4, 3, NULL), c4 = tt_mat(TIDE_F64, 2, 4, NULL);
    tide_tensor c32 = tt_mat(TIDE_F32, 2, 3, NULL), xi = tt_mat(TIDE_I32, 4, 3, NULL);
    tide_tensor c = tt_mat(TIDE_F64, 2, 3, NULL), bad_labels = tt_vec(TIDE_I64, 4, NULL);
    tide_kmeans_io none = {0}, io = {.labels = &bad_labels};
    tide_kmeans_stats st;
    CHECK_FAILS(tide_kmeans_assign(&x, &c4, &none, &st),
                "kmeans_assign: the data has 3 features but the centres have 4 (centres 2x4)");
    CHECK_FAILS(tide_kmeans_assign(&x, &c32, &none, &st),
                "kmeans_assign: the data is f64 but the centres are f32");
    CHECK_FAILS(tide_kmeans_assign(&xi, &c, &none, &st),
                "kmeans_assign: expected a 2-D f32 or f64 data tensor (rows x features), got i32 4x3");
    CHECK_FAILS(tide_kmeans_assign(&x, &c, &io, &st),
                "kmeans_assign: labels must be a contiguous i32 tensor of 4 elements, got i64 4");
    /* a NaN row is reported, not silently assigned */
    tide_set_f64(&x, (int64_t[]){2, 1}, NAN);
    int64_t row = 0;
    int is_nan = 0;
    CHECK_OK(tide_kmeans_assign(&x, &c, &none, &st));
    CHECK(st.first_bad == 2);
    CHECK_OK(tide_kmeans_nonfinite(&x, &row, &is_nan));
    CHECK(row == 2 && is_nan);
    tide_set_f64(&x, (int64_t[]){1, 0}, INFINITY);
    CHECK_OK(tide_kmeans_nonfinite(&x, &row, &is_nan));
    CHECK(row == 1 && !is_nan);
    TT_RELEASE(&bad_labels, &c, &xi, &c32, &c4, &x);
}

static void test_update(void)
{
    /* 3 centres in 2-D; centre 2 got no weight and keeps its place */
    tide_tensor old = tt_mat(TIDE_F64, 3, 2, (double[]){0, 0, 5, 5, 1, -1});
    tide_tensor sums = tt_mat(TIDE_F64, 3, 2, (double[]){4, 8, 0, 0, 9, 3});
    tide_tensor counts = tt_vec(TIDE_F64, 3, (double[]){2, 0, 3});
    tide_tensor c = TIDE_TENSOR_EMPTY;
    double shift2, norm2;
    int64_t empty;
    CHECK_OK(tide_kmeans_update(&c, &sums, &counts, NULL, &old, &shift2, &norm2, &empty));
    const double want[6] = {2, 4, 5, 5, 3, 1};
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= tt_at(&c, i) == want[i];
    CHECK(ok && empty == 1);
    CHECK(shift2 == (4 + 16) + 0 + (4 + 4));           /* Σ‖new − old‖² */
    CHECK(norm2 == 0 + 50 + 2);                        /* Σ‖old‖² */
    tide_tensor_release(&c);

    /* mini-batch: (prior·old + sums) / (prior + counts); prior grows by counts */
    tide_tensor prior = tt_vec(TIDE_F64, 3, (double[]){2, 1, 0});
    CHECK_OK(tide_kmeans_update(&old, &sums, &counts, &prior, &old, &shift2, &norm2, &empty));
    const double mb[6] = {(0 + 4) / 4.0, (0 + 8) / 4.0, 5, 5, 3, 1};
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= fabs(tt_at(&old, i) - mb[i]) < 1e-15;
    CHECK(ok);
    CHECK(tt_at(&prior, 0) == 4 && tt_at(&prior, 1) == 1 && tt_at(&prior, 2) == 3);
    tide_tensor short_counts = tt_vec(TIDE_F64, 2, NULL);
    CHECK_FAILS(tide_kmeans_update(&c, &sums, &short_counts, NULL, &old, &shift2, &norm2, &empty),
                "kmeans_update: counts must be a contiguous f64 tensor of 3 elements, got f64 2");
    CHECK(c.storage == NULL);
    TT_RELEASE(&short_counts, &prior, &counts, &sums, &old);
}

static void test_farthest(void)
{
    tide_tensor x = tt_mat(TIDE_F64, N, D, &X[0][0]), c = tt_mat(TIDE_F64, KC, D, &CEN[0][0]);
    double lv[N], d2[N];
    for (int i = 0; i < N; i++) {
        double best;
        lv[i] = nearest(i, &best);
        d2[i] = best;
    }
    lv[10] = 0;                                   /* the distance is to the row's own label */
    d2[10] = sqd(X[10], CEN[0]);
    tide_tensor labels = tt_vec(TIDE_I32, N, lv);
    int64_t rows[5], found = 0;
    double got[5];
    CHECK_OK(tide_kmeans_farthest(&x, &c, &labels, 0, 5, rows, got, &found));
    CHECK(found == 5);
    /* the naive way: pick the maximum 5 times, lower row on ties */
    int ok = 1;
    for (int k = 0; k < 5; k++) {
        int arg = 0;
        for (int i = 1; i < N; i++)
            if (d2[i] > d2[arg])
                arg = i;
        ok &= rows[k] == arg && fabs(got[k] - d2[arg]) < 1e-12;
        d2[arg] = -1;
    }
    CHECK(ok);
    for (int i = 0; i < N; i++)
        lv[i] += 1;                               /* as Lua passes them */
    tide_tensor labels1 = tt_vec(TIDE_I32, N, lv);
    int64_t rows1[5];
    CHECK_OK(tide_kmeans_farthest(&x, &c, &labels1, 1, 5, rows1, got, &found));
    CHECK(rows1[0] == rows[0] && rows1[4] == rows[4]);
    tide_set_i64(&labels1, (int64_t[]){9}, 7);
    CHECK_FAILS(tide_kmeans_farthest(&x, &c, &labels1, 1, 5, rows, got, &found),
                "kmeans_farthest: label 7 of row 10 is outside 1..6");
    TT_RELEASE(&labels1, &labels, &c, &x);
}

static void test_sampling(void)
{
    /* uniform: deterministic, in [0, 1), mean 1/2 within 5 standard deviations */
    double mean = 0;
    int in_range = 1;
    for (uint64_t i = 0; i < 100000; i++) {
        double u = tide_kmeans_uniform(7, 3, i);
        in_range &= u >= 0 && u < 1;
        mean += u / 100000;
    }
    CHECK(in_range && fabs(mean - 0.5) < 5 * sqrt(1 / 12.0 / 100000));
    CHECK(tide_kmeans_uniform(7, 3, 99) == tide_kmeans_uniform(7, 3, 99));
    CHECK(tide_kmeans_uniform(7, 3, 99) != tide_kmeans_uniform(7, 4, 99));

    /* sample: row i is chosen exactly when its draw falls under scale·w·mind */
    enum { M = 400 };
    double mind[M], w[M];
    uint64_t rng = 33;
    for (int i = 0; i < M; i++)
        mind[i] = tt_rand(&rng), w[i] = i % 10 == 0 ? 0 : tt_rand(&rng);
    tide_tensor mt = tt_vec(TIDE_F64, M, mind), wt = tt_vec(TIDE_F64, M, w);
    int64_t rows[M], count = 0, k = 0;
    CHECK_OK(tide_kmeans_sample(&mt, &wt, 1.5, 5, 2, 1000, rows, &count));
    int ok = 1;
    for (int i = 0; i < M; i++)
        if (tide_kmeans_uniform(5, 2, 1000 + (uint64_t)i) < 1.5 * w[i] * mind[i])
            ok &= k < count && rows[k++] == i;
    CHECK(ok && k == count && count > 0);
    /* the offset is the global row: rank 1's rows 0.. are rank 0's rows 1000.. */
    int64_t again = 0;
    CHECK_OK(tide_kmeans_sample(&mt, &wt, 1.5, 5, 2, 1000, NULL, &again));
    CHECK(again == count);

    /* pick: where the running sum of w·v first exceeds the target */
    double total = 0, run = 0;
    CHECK_OK(tide_kmeans_potential(&mt, &wt, &total));
    double naive_total = 0;
    for (int i = 0; i < M; i++)
        naive_total += w[i] * mind[i];
    CHECK(fabs(total - naive_total) < 1e-12 * naive_total);
    int64_t row = -2, want = -1;
    for (int i = 0; i < M && want < 0; i++)
        if ((run += w[i] * mind[i]) > 0.6 * naive_total)
            want = i;
    CHECK_OK(tide_kmeans_pick(&mt, &wt, 0.6 * naive_total, &row));
    CHECK(row == want);
    CHECK_OK(tide_kmeans_pick(&mt, &wt, 2 * naive_total, &row));   /* past the end: last positive */
    CHECK(row == M - 1);
    CHECK_OK(tide_kmeans_pick(NULL, &wt, 2.5, &row));               /* weights alone: w0 = 0 */
    run = 0, want = -1;
    for (int i = 0; i < M && want < 0; i++)
        if ((run += w[i]) > 2.5)
            want = i;
    CHECK(row == want);

    /* random rows: in range, and counter first + i gives draw i whatever first is */
    tide_tensor r0 = TIDE_TENSOR_EMPTY, r5 = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_kmeans_random_rows(&r0, 37, 50, 9, 1, 0));
    CHECK_OK(tide_kmeans_random_rows(&r5, 37, 45, 9, 1, 5));
    ok = 1;
    for (int i = 0; i < 50; i++)
        ok &= tt_iat(&r0, i) >= 0 && tt_iat(&r0, i) < 37 &&
              tt_iat(&r0, i) == (int64_t)(tide_kmeans_uniform(9, 1, (uint64_t)i) * 37) &&
              (i < 5 || tt_iat(&r5, i - 5) == tt_iat(&r0, i));
    CHECK(ok);
    tide_tensor_release(&r0);
    CHECK_FAILS(tide_kmeans_random_rows(&r0, 0, 3, 9, 1, 0),
                "kmeans_random_rows: cannot draw 3 rows from 0");

    /* bad weights */
    tide_tensor bw = tt_vec(TIDE_F64, 4, (double[]){1, 0, -0.5, NAN});
    CHECK_OK(tide_kmeans_bad_weight(&bw, &row));
    CHECK(row == 2);
    tide_set_f64(&bw, (int64_t[]){2}, 1);
    CHECK_OK(tide_kmeans_bad_weight(&bw, &row));
    CHECK(row == 3);
    TT_RELEASE(&bw, &r5, &wt, &mt);
}

static void test_trials_and_plusplus(void)
{
    tide_tensor x = tt_mat(TIDE_F64, N, D, &X[0][0]), w = tt_vec(TIDE_F64, N, W);
    double mind[N], sums[3];
    for (int i = 0; i < N; i++)
        mind[i] = sqd(X[i], CEN[0]);
    tide_tensor mt = tt_vec(TIDE_F64, N, mind), cands = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_narrow(&cands, &x, 0, 100, 3));         /* rows 100..102 as candidates */
    CHECK_OK(tide_kmeans_trials(&x, &cands, &mt, &w, sums));
    int ok = 1;
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int i = 0; i < N; i++) {
            double e = sqd(X[i], X[100 + c]);
            s += W[i] * (e < mind[i] ? e : mind[i]);
        }
        ok &= fabs(sums[c] - s) < 1e-10 * s;
    }
    CHECK(ok);

    /* k-means++ on 5 tight blobs far apart: one centre in each blob; weight 0 never chosen */
    enum { P = 50, KB = 5 };
    double pts[P][2], pw[P];
    uint64_t rng = 34;
    for (int i = 0; i < P; i++) {
        pts[i][0] = 100.0 * (i % KB) + 1e-3 * tt_rand(&rng);
        pts[i][1] = -50.0 * (i % KB) + 1e-3 * tt_rand(&rng);
        pw[i] = i < KB ? 0 : 1;                           /* the first row of each blob weighs 0 */
    }
    tide_tensor pt = tt_mat(TIDE_F64, P, 2, &pts[0][0]), pwt = tt_vec(TIDE_F64, P, pw);
    int64_t rows[KB];
    CHECK_OK(tide_kmeans_plusplus(&pt, &pwt, KB, 0, 3, rows));
    int blobs = 0;
    ok = 1;
    for (int k = 0; k < KB; k++) {
        ok &= rows[k] >= KB && rows[k] < P;
        blobs |= 1 << (rows[k] % KB);
    }
    CHECK(ok && blobs == (1 << KB) - 1);
    CHECK_FAILS(tide_kmeans_plusplus(&pt, NULL, P + 1, 0, 3, rows),
                "kmeans_plusplus: cannot choose 51 centres from 50 points");
    TT_RELEASE(&pwt, &pt, &cands, &mt, &w, &x);
}

/* Both nearest-centre kernels of f32 (GEMM + argmin, and the fused AVX-512 one where the CPU
 * has it) against the exact nearest centre in double, on shapes the fused kernel cuts into
 * blocks with remainders: rows not a multiple of its 6, k past one block of 64 centres and
 * not a multiple of 16, k below 16. A label may differ from the exact one only on a near-tie
 * that f32 cannot tell apart; the two kernels' inertias agree to f32 rounding. */
static void test_kernels_agree(void)
{
    const int64_t shapes[][3] = {{1001, 19, 70}, {37, 3, 5}, {500, 32, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][0], d = shapes[s][1], k = shapes[s][2];
        uint64_t rng = 7 + s;
        double *xv = malloc(sizeof(double) * (size_t)(n * d));
        double *cv = malloc(sizeof(double) * (size_t)(k * d));
        for (int64_t i = 0; i < k * d; i++) cv[i] = 8 * tt_rand(&rng);
        for (int64_t i = 0; i < n * d; i++)
            xv[i] = cv[(i / d) % k * d + i % d] + 6 * tt_rand(&rng) - 3;
        tide_tensor x = tt_mat(TIDE_F32, n, d, xv), c = tt_mat(TIDE_F32, k, d, cv);
        double inertia[2] = {0, 0};
        for (int kernel = 0; kernel < 2; kernel++) {
            setenv("TIDE_KMEANS_KERNEL", kernel ? "fused" : "gemm", 1);
            tide_tensor labels = TIDE_TENSOR_EMPTY;
            CHECK_OK(tide_tensor_zeros(&labels, TIDE_I32, 1, (int64_t[]){n}));
            tide_kmeans_io io = {.labels = &labels};
            tide_kmeans_stats st;
            CHECK_OK(tide_kmeans_assign(&x, &c, &io, &st));
            inertia[kernel] = st.inertia;
            int ok = 1;
            for (int64_t i = 0; i < n; i++) {
                double best = INFINITY, e[128];
                for (int64_t j = 0; j < k; j++) {   /* in double, from the f32 values */
                    e[j] = 0;
                    for (int64_t t = 0; t < d; t++) {
                        double v = tt_at(&x, i * d + t) - tt_at(&c, j * d + t);
                        e[j] += v * v;
                    }
                    best = e[j] < best ? e[j] : best;
                }
                int64_t got = tt_iat(&labels, i);
                ok &= got >= 0 && got < k && e[got] <= best * (1 + 1e-5) + 1e-5;
            }
            CHECK(ok);
            tide_tensor_release(&labels);
        }
        CHECK(fabs(inertia[0] - inertia[1]) <= 1e-5 * inertia[0]);
        unsetenv("TIDE_KMEANS_KERNEL");
        TT_RELEASE(&c, &x);
        free(xv), free(cv);
    }
}

int main(void)
{
    make_data();
    test_assign(TIDE_F64);
    test_assign(TIDE_F32);
    setenv("TIDE_KMEANS_KERNEL", "gemm", 1);     /* the other kernel than auto's on AVX-512 */
    test_assign(TIDE_F32);
    unsetenv("TIDE_KMEANS_KERNEL");
    test_kernels_agree();
    test_assign_errors();
    test_update();
    test_farthest();
    test_sampling();
    test_trials_and_plusplus();
    return check_report("test_kmeans");
}
