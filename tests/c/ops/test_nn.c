/* test_nn.c — the nn and optimizer kernels against their textbook forms computed here in
 * plain loops: softmax and log-softmax, cross-entropy (its gradient also by central finite
 * differences), activation backwards, column sums, row gathers, dropout masks, and SGD and
 * Adam steps as torch.optim documents them; plus their error messages. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "ops/nn.h"
#include "ops/optim.h"
#include "tensors.h"

enum { B = 4, K = 5 };

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

/* Row r of a B x K table as a softmax computed the long way (shifted by the row's max). */
static void naive_softmax(const double *x, double *p)
{
    double m = x[0], s = 0;
    for (int j = 1; j < K; j++)
        m = x[j] > m ? x[j] : m;
    for (int j = 0; j < K; j++)
        s += exp(x[j] - m);
    for (int j = 0; j < K; j++)
        p[j] = exp(x[j] - m) / s;
}

static void test_softmax_family(void)
{
    uint64_t rng = 21;
    double x[B][K], p[B][K];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++)
            x[i][j] = 6 * tt_rand(&rng) - 3;
    x[3][0] = 1000, x[3][1] = 1001;    /* exp would overflow without the shift */
    for (int i = 0; i < B; i++)
        naive_softmax(x[i], p[i]);
    CHECK(close_to(p[3][1], 1 / (1 + exp(-1.0)), 1e-15));   /* the closed form of that row */
    tide_tensor t = tt_mat(TIDE_F64, B, K, &x[0][0]), sm = TIDE_TENSOR_EMPTY, ls = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_softmax(&sm, &t));
    CHECK_OK(tide_log_softmax(&ls, &t));
    int ok = 1;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++) {
            ok &= close_to(tt_at2(&sm, i, j), p[i][j], 1e-13);
            /* log p underflows for row 3's small entries: x - max - log Σ exp(x - max) */
            double lp = p[i][j] > 1e-300 ? log(p[i][j]) : x[i][j] - 1001 - log(1 + exp(-1.0));
            ok &= fabs(tt_at2(&ls, i, j) - lp) < 1e-12;
        }
    CHECK(ok);

    /* backward: g - exp(out) * rowsum(g) */
    double g[B][K];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++)
            g[i][j] = tt_rand(&rng) - 0.5;
    tide_tensor gt = tt_mat(TIDE_F64, B, K, &g[0][0]), gi = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_log_softmax_backward(&gi, &gt, &ls));
    ok = 1;
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int j = 0; j < K; j++)
            s += g[i][j];
        for (int j = 0; j < K; j++)
            ok &= fabs(tt_at2(&gi, i, j) - (g[i][j] - p[i][j] * s)) < 1e-12;
    }
    CHECK(ok);

    tide_tensor it = tt_vec(TIDE_I32, 3, NULL), out = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_softmax(&out, &it), "expected an f32 or f64 tensor, got i32");
    tide_tensor cube = tt_make(TIDE_F64, 3, (int64_t[]){2, 2, 2}, NULL);
    CHECK_FAILS(tide_log_softmax(&out, &cube), "expected a 1-D or 2-D tensor (batch x features), got 2x2x2");
    TT_RELEASE(&cube, &it, &gi, &gt, &ls, &sm, &t);
}

/* Mean cross-entropy of rows under labels (0-based), the long way. */
static double naive_ce(double x[B][K], const int *labels)
{
    double loss = 0, p[K];
    for (int i = 0; i < B; i++) {
        naive_softmax(x[i], p);
        loss -= log(p[labels[i]]);
    }
    return loss / B;
}

static void test_cross_entropy(void)
{
    uint64_t rng = 22;
    double x[B][K];
    const int labels[B] = {0, 4, 2, 2};
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++)
            x[i][j] = 4 * tt_rand(&rng) - 2;
    tide_tensor t = tt_mat(TIDE_F64, B, K, &x[0][0]), grad = TIDE_TENSOR_EMPTY;
    tide_tensor lab1 = tt_vec(TIDE_I64, B, (double[]){1, 5, 3, 3});    /* as Lua passes them */
    tide_tensor lab0 = tt_vec(TIDE_I32, B, (double[]){0, 4, 2, 2});
    double loss = 0, loss0 = 0, sum = 0;
    CHECK_OK(tide_cross_entropy(&loss, &grad, &t, &lab1, 1, 1));
    CHECK_OK(tide_cross_entropy(&loss0, NULL, &t, &lab0, 0, 1));
    CHECK_OK(tide_cross_entropy(&sum, NULL, &t, &lab0, 0, 0));
    double want = naive_ce(x, labels);
    CHECK(close_to(loss, want, 1e-13) && loss0 == loss && close_to(sum, B * want, 1e-13));
    /* the gradient against central differences of the naive loss */
    int ok = 1;
    const double h = 1e-5;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++) {
            double keep = x[i][j];
            x[i][j] = keep + h;
            double up = naive_ce(x, labels);
            x[i][j] = keep - h;
            double down = naive_ce(x, labels);
            x[i][j] = keep;
            ok &= fabs(tt_at2(&grad, i, j) - (up - down) / (2 * h)) < 1e-8;
        }
    CHECK(ok);
    tide_tensor bad = tt_vec(TIDE_I64, B, (double[]){1, 2, 6, 1}), f = tt_vec(TIDE_F32, B, NULL);
    CHECK_FAILS(tide_cross_entropy(&loss, NULL, &t, &bad, 1, 1),
                "cross_entropy: label 6 of row 3 is outside the class range 1..5");
    CHECK_FAILS(tide_cross_entropy(&loss, NULL, &t, &f, 1, 1),
                "cross_entropy: expected i32 or i64 labels, got f32");
    tide_tensor flat = tt_vec(TIDE_F64, K, NULL);
    CHECK_FAILS(tide_cross_entropy(&loss, NULL, &flat, &lab0, 0, 1),
                "cross_entropy: expected 2-D logits (batch x classes), got 1-D");
    TT_RELEASE(&flat, &f, &bad, &lab0, &lab1, &grad, &t);
}

static void test_activation_backwards(void)
{
    const double xs[6] = {-2, -0.5, 0, 0.25, 1, 3}, gs[6] = {1, -2, 3, -4, 5, -6};
    tide_tensor x = tt_vec(TIDE_F64, 6, xs), g = tt_vec(TIDE_F64, 6, gs);
    tide_tensor r = TIDE_TENSOR_EMPTY, th = TIDE_TENSOR_EMPTY, sg = TIDE_TENSOR_EMPTY;
    double ty[6], sy[6];
    for (int i = 0; i < 6; i++)
        ty[i] = tanh(xs[i]), sy[i] = 1 / (1 + exp(-xs[i]));
    tide_tensor y1 = tt_vec(TIDE_F64, 6, ty), y2 = tt_vec(TIDE_F64, 6, sy);
    CHECK_OK(tide_relu_backward(&r, &g, &x));
    CHECK_OK(tide_tanh_backward(&th, &g, &y1));
    CHECK_OK(tide_sigmoid_backward(&sg, &g, &y2));
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        ok &= tt_at(&r, i) == (xs[i] > 0 ? gs[i] : 0);
        ok &= fabs(tt_at(&th, i) - gs[i] / (cosh(xs[i]) * cosh(xs[i]))) < 1e-12;    /* tanh' */
        ok &= fabs(tt_at(&sg, i) - gs[i] * exp(-xs[i]) / pow(1 + exp(-xs[i]), 2)) < 1e-12;
    }
    CHECK(ok);
    tide_tensor short_x = tt_vec(TIDE_F64, 5, NULL), out = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_relu_backward(&out, &g, &short_x),
                "relu_backward: grad_output has shape 6 but input has shape 5");
    TT_RELEASE(&short_x, &y2, &y1, &sg, &th, &r, &g, &x);
}

static void test_colsum_rows_dropout_dist(void)
{
    tide_tensor x = tt_mat(TIDE_F32, 3, 4, NULL);                  /* 0..11 */
    tide_tensor acc = tt_vec(TIDE_F32, 4, (double[]){100, 100, 100, 100});
    CHECK_OK(tide_add_colsum(&acc, &x, 1));
    CHECK(tt_at(&acc, 0) == 100 + 0 + 4 + 8 && tt_at(&acc, 3) == 100 + 3 + 7 + 11);
    CHECK_OK(tide_add_colsum(&acc, &x, 0));
    CHECK(tt_at(&acc, 1) == 1 + 5 + 9);
    tide_tensor acc3 = tt_vec(TIDE_F32, 3, NULL);
    CHECK_FAILS(tide_add_colsum(&acc3, &x, 0),
                "add_colsum_: expected a 2-D input and a 1-D receiver of its width");

    /* take_rows: whole rows by 1-based index, repeats allowed */
    tide_tensor idx = tt_vec(TIDE_I64, 4, (double[]){3, 1, 3, 2}), rows = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_take_rows(&rows, &x, &idx, 1));
    int ok = rows.shape[0] == 4 && rows.shape[1] == 4;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++)
            ok &= tt_at2(&rows, k, j) == tt_at2(&x, (int64_t)tt_iat(&idx, k) - 1, j);
    CHECK(ok);
    tide_tensor bad = tt_vec(TIDE_I32, 2, (double[]){1, 4}), out = TIDE_TENSOR_EMPTY;
    CHECK_FAILS(tide_take_rows(&out, &x, &bad, 1), "take_rows: index 4 (entry 2) out of range 1..3");

    /* dropout mask: u < p -> 0, else 1 / (1 - p) */
    const double us[5] = {0.0, 0.2, 0.29, 0.3, 0.99};
    tide_tensor u = tt_vec(TIDE_F64, 5, us);
    CHECK_OK(tide_dropout_mask(&u, 0.3));
    ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= tt_at(&u, i) == (us[i] < 0.3 ? 0 : 1 / (1 - 0.3));
    CHECK(ok);
    CHECK_FAILS(tide_dropout_mask(&u, 1.5), "dropout_mask_: p must be in [0, 1], got 1.5");

    /* sq_dist and scaled_diff */
    tide_tensor a = tt_vec(TIDE_F64, 3, (double[]){1, 2, 3}), b = tt_vec(TIDE_F64, 3, (double[]){4, 0, 3});
    double d = 0;
    CHECK_OK(tide_sq_dist(&d, &a, &b));
    CHECK(d == 9 + 4 + 0);
    tide_tensor sd = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_scaled_diff(&sd, &a, &b, 0.5));
    CHECK(tt_at(&sd, 0) == -1.5 && tt_at(&sd, 1) == 1 && tt_at(&sd, 2) == 0);
    TT_RELEASE(&sd, &b, &a, &u, &bad, &rows, &idx, &acc3, &acc, &x);
}

/* torch.optim.SGD's documented update, one element at a time. */
static void naive_sgd(double *p, const double *g, double *buf, int n, tide_sgd_config c, int first)
{
    for (int i = 0; i < n; i++) {
        double d = g[i] + c.weight_decay * p[i];
        if (c.momentum != 0) {
            buf[i] = first ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
            d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
        }
        p[i] -= c.lr * d;
    }
}

/* torch.optim.Adam / AdamW's documented update with bias-corrected moments. */
static void naive_adam(double *p, const double *g, double *m, double *v, int n,
                       tide_adam_config c, long t)
{
    for (int i = 0; i < n; i++) {
        double gi = g[i];
        if (c.decoupled)
            p[i] *= 1 - c.lr * c.weight_decay;
        else
            gi += c.weight_decay * p[i];
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
        double mh = m[i] / (1 - pow(c.beta1, (double)t)), vh = v[i] / (1 - pow(c.beta2, (double)t));
        p[i] -= c.lr * mh / (sqrt(vh) + c.eps);
    }
}

static void test_optimizer_steps(void)
{
    enum { N = 7 };
    uint64_t rng = 23;
    const tide_sgd_config sgds[3] = {
        {0.1, 0, 0, 0, 0}, {0.05, 0.9, 0.1, 0.01, 0}, {0.05, 0.9, 0, 0.001, 1}};
    for (int s = 0; s < 3; s++) {
        double p[N], g[N], buf[N] = {0};
        for (int i = 0; i < N; i++)
            p[i] = tt_rand(&rng) - 0.5;
        tide_tensor pt = tt_vec(TIDE_F64, N, p), bt = tt_vec(TIDE_F64, N, buf);
        int ok = 1;
        for (int step = 0; step < 4; step++) {
            for (int i = 0; i < N; i++)
                g[i] = tt_rand(&rng) - 0.5;
            tide_tensor gt = tt_vec(TIDE_F64, N, g);
            CHECK_OK(tide_sgd_step(&pt, &gt, sgds[s].momentum != 0 ? &bt : NULL, &sgds[s], step == 0));
            naive_sgd(p, g, buf, N, sgds[s], step == 0);
            for (int i = 0; i < N; i++)
                ok &= fabs(tt_at(&pt, i) - p[i]) < 1e-14;
            tide_tensor_release(&gt);
        }
        CHECK(ok);
        TT_RELEASE(&bt, &pt);
    }
    const tide_adam_config adams[2] = {{1e-2, 0.9, 0.999, 1e-8, 0.01, 0},
                                       {1e-2, 0.8, 0.99, 1e-6, 0.1, 1}};
    for (int s = 0; s < 2; s++) {
        double p[N], g[N], m[N] = {0}, v[N] = {0};
        for (int i = 0; i < N; i++)
            p[i] = tt_rand(&rng) - 0.5;
        tide_tensor pt = tt_vec(TIDE_F64, N, p), mt = tt_vec(TIDE_F64, N, m), vt = tt_vec(TIDE_F64, N, v);
        int ok = 1;
        for (long step = 1; step <= 5; step++) {
            for (int i = 0; i < N; i++)
                g[i] = tt_rand(&rng) - 0.5;
            tide_tensor gt = tt_vec(TIDE_F64, N, g);
            CHECK_OK(tide_adam_step(&pt, &gt, &mt, &vt, &adams[s], step));
            naive_adam(p, g, m, v, N, adams[s], step);
            for (int i = 0; i < N; i++)
                ok &= fabs(tt_at(&pt, i) - p[i]) < 1e-12 && fabs(tt_at(&vt, i) - v[i]) < 1e-15;
            tide_tensor_release(&gt);
        }
        CHECK(ok);
        tide_tensor ip = tt_vec(TIDE_I32, N, NULL), g8 = tt_vec(TIDE_F64, N + 1, NULL);
        CHECK_FAILS(tide_adam_step(&pt, &pt, &mt, &vt, &adams[s], 0), "adam: step must be at least 1, got 0");
        CHECK_FAILS(tide_adam_step(&ip, &ip, &ip, &ip, &adams[s], 1), "adam: expected f32 or f64 parameters, got i32");
        CHECK_FAILS(tide_sgd_step(&pt, &g8, NULL, &sgds[0], 1),
                    "sgd: parameter has shape 7 but gradient has shape 8");
        TT_RELEASE(&g8, &ip, &vt, &mt, &pt);
    }
}

/* RMSprop and Adagrad in f32 against the rules in double (torch.optim's; the f64 kernels are
 * checked to 1e-12 against the same rules and torch's numbers in tests/lua/optim_spec.lua). */
static void test_rmsprop_adagrad_f32(void)
{
    enum { N = 5 };
    uint64_t rng = 41;
    double p[N], g[N], sq[N] = {0}, ga[N] = {0}, buf[N] = {0}, sum[N];
    for (int i = 0; i < N; i++)
        p[i] = tt_rand(&rng) - 0.5, sum[i] = 0.1;
    const tide_rmsprop_config rc = {.lr = 0.01, .alpha = 0.9, .eps = 1e-6, .momentum = 0.5,
                                    .weight_decay = 0.01, .centered = 1};
    const tide_adagrad_config ac = {.lr = 0.1, .lr_decay = 0.2, .eps = 1e-10, .weight_decay = 0.1};
    tide_tensor pr = tt_vec(TIDE_F32, N, p), pa = tt_vec(TIDE_F32, N, p);
    tide_tensor sqt = tt_vec(TIDE_F32, N, sq), gat = tt_vec(TIDE_F32, N, ga),
                bt = tt_vec(TIDE_F32, N, buf), st = tt_vec(TIDE_F32, N, sum);
    double pa_ref[N];
    for (int i = 0; i < N; i++)
        pa_ref[i] = p[i];
    int ok = 1;
    for (long step = 1; step <= 4; step++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)(tt_rand(&rng) - 0.5);
        tide_tensor gt = tt_vec(TIDE_F32, N, g);
        CHECK_OK(tide_rmsprop_step(&pr, &gt, &sqt, &gat, &bt, &rc));
        CHECK_OK(tide_adagrad_step(&pa, &gt, &st, &ac, step));
        double clr = ac.lr / (1 + (double)(step - 1) * ac.lr_decay);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + rc.weight_decay * p[i];
            sq[i] = rc.alpha * sq[i] + (1 - rc.alpha) * gi * gi;
            ga[i] = rc.alpha * ga[i] + (1 - rc.alpha) * gi;
            buf[i] = rc.momentum * buf[i] + gi / (sqrt(sq[i] - ga[i] * ga[i]) + rc.eps);
            p[i] -= rc.lr * buf[i];
            double ai = g[i] + ac.weight_decay * pa_ref[i];
            sum[i] += ai * ai;
            pa_ref[i] -= clr * ai / (sqrt(sum[i]) + ac.eps);
            ok &= fabs(tt_at(&pr, i) - p[i]) < 1e-5 && fabs(tt_at(&pa, i) - pa_ref[i]) < 1e-5;
        }
        tide_tensor_release(&gt);
    }
    CHECK(ok);
    tide_tensor d = tt_vec(TIDE_F64, N, NULL);
    CHECK_FAILS(tide_rmsprop_step(&pr, &pr, &sqt, NULL, &bt, &rc),
                "rmsprop: centered needs a gradient average buffer");
    CHECK_FAILS(tide_rmsprop_step(&pr, &pr, &d, &gat, &bt, &rc),
                "rmsprop: parameter is f32 but square average is f64");
    CHECK_FAILS(tide_adagrad_step(&pa, &pa, &st, &ac, 0), "adagrad: step must be at least 1, got 0");
    TT_RELEASE(&d, &st, &bt, &gat, &sqt, &pa, &pr);
}

int main(void)
{
    test_softmax_family();
    test_cross_entropy();
    test_activation_backwards();
    test_colsum_rows_dropout_dist();
    test_optimizer_steps();
    test_rmsprop_adagrad_f32();
    return check_report("test_nn");
}
