/* test_io.c — .npy bytes and round trips, IDX (plain, gzipped, real Fashion-MNIST), every
 * file error, and the text format of a few tensors. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "tensor/format.h"
#include "io/idx.h"
#include "io/npy.h"
#include "tensor/tensor.h"

#define FASHION "/usr/share/datasets/fashion-mnist/"

static char dir[64];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    size_t n = strlen(dir);
    memcpy(p, dir, n);
    p[n] = '/';
    strncpy(p + n + 1, name, sizeof buf[0] - n - 2);
    p[sizeof buf[0] - 1] = '\0';
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static tide_tensor from_values(tide_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&t, dt, ndim, shape));
    int64_t n = tide_numel(&t);
    for (int64_t i = 0; i < n; i++) {
        tide_tensor flat = TIDE_TENSOR_EMPTY;
        int64_t len = n;
        tide_view(&flat, &t, 1, &len);
        tide_set_f64(&flat, &i, v[i]);
        tide_tensor_release(&flat);
    }
    return t;
}

static int equal_tensors(const tide_tensor *a, const tide_tensor *b)
{
    if (!tide_same_shape(a, b) || a->dtype != b->dtype)
        return 0;
    tide_tensor ca = TIDE_TENSOR_EMPTY, cb = TIDE_TENSOR_EMPTY;
    tide_clone(&ca, a);
    tide_clone(&cb, b);
    int same = memcmp(tide_data(&ca), tide_data(&cb),
                      (size_t)tide_numel(a) * tide_dtype_size(a->dtype)) == 0;
    tide_tensor_release(&ca);
    tide_tensor_release(&cb);
    return same;
}

/* ---------------------------------------------------------------- .npy */

static void test_npy_header_bytes(void)
{
    /* written by hand: magic, version 1.0, header length 118 (little-endian), the dict, 58
     * spaces and a newline: 128 bytes, so the data is 64-byte aligned */
    char want[128];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(want + 10, dict, 59);
    memset(want + 69, ' ', 58);
    want[127] = '\n';
    tide_tensor t = TIDE_TENSOR_EMPTY;
    int64_t shape[2] = {3, 4};
    CHECK_OK(tide_tensor_zeros(&t, TIDE_F32, 2, shape));
    char got[256];
    CHECK(tide_npy_header(&t, got, sizeof got) == 128);
    CHECK(memcmp(got, want, 128) == 0);
    CHECK(tide_npy_header(&t, got, 100) == 0);              /* too small a buffer */

    /* the file is that header then the data */
    float *d = tide_data(&t);
    for (int i = 0; i < 12; i++)
        d[i] = (float)i / 4;
    CHECK_OK(tide_npy_save(at("hdr.npy"), &t));
    unsigned char file[256];
    CHECK(read_file(at("hdr.npy"), file, sizeof file) == 128 + 48);
    CHECK(memcmp(file, want, 128) == 0);
    CHECK(memcmp(file + 128, d, 48) == 0);
    tide_tensor_release(&t);

    /* 1-D shapes have a trailing comma, scalars an empty tuple */
    int64_t five = 5;
    CHECK_OK(tide_tensor_zeros(&t, TIDE_U8, 1, &five));
    size_t n = tide_npy_header(&t, got, sizeof got);
    CHECK(n == 128 && got[8] == 118 && memcmp(got + 10,
          "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", 57) == 0 &&
          got[67] == ' ' && got[126] == ' ' && got[127] == '\n');
    tide_tensor_release(&t);
    CHECK_OK(tide_tensor_zeros(&t, TIDE_I64, 0, NULL));
    n = tide_npy_header(&t, got, sizeof got);
    CHECK(n == 128 && memcmp(got + 10,
          "{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 55) == 0);
    tide_tensor_release(&t);
}

static void test_npy_round_trips(void)
{
    static const double v[6] = {1, -2, 3, 100, 0, 7};
    static const tide_dtype dts[5] = {TIDE_F32, TIDE_F64, TIDE_I32, TIDE_I64, TIDE_U8};
    int64_t shape[3] = {2, 3, 1};
    for (int k = 0; k < 5; k++) {
        double vals[6];
        for (int i = 0; i < 6; i++)
            vals[i] = dts[k] == TIDE_U8 ? (double)(i * 40) : v[i] + (k < 2 ? 0.25 : 0);
        for (int ndim = 0; ndim <= 3; ndim++) {
            tide_tensor t = from_values(dts[k], ndim, shape, vals), back = TIDE_TENSOR_EMPTY;
            CHECK_OK(tide_npy_save(at("rt.npy"), &t));
            CHECK_OK(tide_npy_load(&back, at("rt.npy")));
            CHECK(equal_tensors(&t, &back));
            tide_tensor_release(&back);
            tide_tensor_release(&t);
        }
    }
    /* a transposed view writes its logical values */
    int64_t s2[2] = {3, 4};
    double w[12];
    for (int i = 0; i < 12; i++)
        w[i] = i * 1.5;
    tide_tensor t = from_values(TIDE_F64, 2, s2, w), tr = TIDE_TENSOR_EMPTY,
                back = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_transpose(&tr, &t, 0, 1));
    CHECK_OK(tide_npy_save(at("tr.npy"), &tr));
    CHECK_OK(tide_npy_load(&back, at("tr.npy")));
    CHECK(back.shape[0] == 4 && back.shape[1] == 3 && tide_is_contiguous(&back));
    CHECK(equal_tensors(&tr, &back));
    int64_t idx[2] = {3, 1};
    CHECK(tide_get_f64(&back, idx) == 7 * 1.5);              /* t[1][3] */
    tide_tensor_release(&back);
    tide_tensor_release(&tr);
    tide_tensor_release(&t);
    /* no elements */
    int64_t s0[2] = {0, 3};
    CHECK_OK(tide_tensor_alloc(&t, TIDE_F32, 2, s0));
    CHECK_OK(tide_npy_save(at("empty.npy"), &t));
    CHECK_OK(tide_npy_load(&back, at("empty.npy")));
    CHECK(back.ndim == 2 && back.shape[0] == 0 && back.shape[1] == 3);
    tide_tensor_release(&back);
    tide_tensor_release(&t);
}

/* A .npy file from parts: version, dict text, data. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t n)
{
    unsigned char buf[512];
    size_t len = strlen(dict), pre = major == 1 ? 10 : 12;
    size_t hlen = len + 1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, len);
    buf[pre + len] = '\n';
    memcpy(buf + pre + hlen, data, n);
    write_file(path, buf, pre + hlen + n);
}

static void test_npy_other_writers(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    /* version 2.0, a 4-byte header length, double quotes and no trailing comma */
    int32_t ints[3] = {7, -8, 9};
    write_npy(at("v2.npy"), 2, "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (3,)}",
              ints, sizeof ints);
    CHECK_OK(tide_npy_load(&t, at("v2.npy")));
    int64_t i1 = 1;
    CHECK(t.dtype == TIDE_I32 && t.ndim == 1 && t.shape[0] == 3 && tide_get_i64(&t, &i1) == -8);
    tide_tensor_release(&t);

    /* Fortran order: [[1, 2, 3], [4, 5, 6]] stored column by column */
    double cols[6] = {1, 4, 2, 5, 3, 6};
    write_npy(at("fortran.npy"), 1,
              "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", cols, sizeof cols);
    CHECK_OK(tide_npy_load(&t, at("fortran.npy")));
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 && tide_is_contiguous(&t));
    const double *d = tide_data(&t);
    for (int i = 0; i < 6; i++)
        CHECK(d[i] == i + 1);
    tide_tensor_release(&t);

    /* big-endian data is swapped; bool reads as u8 */
    unsigned char be[8] = {0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe};
    write_npy(at("be.npy"), 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", be, 8);
    CHECK_OK(tide_npy_load(&t, at("be.npy")));
    int64_t i0 = 0;
    CHECK(tide_get_i64(&t, &i0) == 258 && tide_get_i64(&t, &i1) == -2);
    tide_tensor_release(&t);
    unsigned char flags[2] = {1, 0};
    write_npy(at("bool.npy"), 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
              flags, 2);
    CHECK_OK(tide_npy_load(&t, at("bool.npy")));
    CHECK(t.dtype == TIDE_U8 && tide_get_i64(&t, &i0) == 1);
    tide_tensor_release(&t);
}

static void test_npy_errors(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    char want[512];
    snprintf(want, sizeof want, "load: cannot open '%s': No such file or directory", at("none.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("none.npy")), want);

    write_file(at("magic.npy"), "PK\x03\x04 not numpy at all", 22);
    snprintf(want, sizeof want, "load: '%s' is not a .npy file (bad magic)", at("magic.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("magic.npy")), want);

    write_npy(at("c8.npy"), 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
              "12345678", 8);
    snprintf(want, sizeof want, "load: unsupported dtype '<c8' in '%s'", at("c8.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("c8.npy")), want);

    write_npy(at("short.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
              "01234567890123456789", 20);
    snprintf(want, sizeof want, "load: '%s' is truncated: expected 48 bytes of data, got 20",
             at("short.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("short.npy")), want);

    /* a header promising far more than the file holds fails before allocating anything */
    write_npy(at("huge.npy"), 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", "", 0);
    snprintf(want, sizeof want,
             "load: '%s' is truncated: expected 4000000000000 bytes of data, got 0", at("huge.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("huge.npy")), want);
    write_npy(at("over.npy"), 1,
              "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "", 0);
    snprintf(want, sizeof want, "load: '%s' has a malformed header: shape 4611686018427387904x4 of"
             " f64 is too large", at("over.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("over.npy")), want);

    write_npy(at("noshape.npy"), 1, "{'descr': '<f4', 'fortran_order': False}", "", 0);
    snprintf(want, sizeof want, "load: '%s' has a malformed header: no 'shape'", at("noshape.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("noshape.npy")), want);

    write_npy(at("v4.npy"), 4, "{}", "", 0);
    snprintf(want, sizeof want, "load: '%s' has unsupported .npy format version 4.0", at("v4.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("v4.npy")), want);

    write_npy(at("dims.npy"), 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "", 0);
    snprintf(want, sizeof want, "load: '%s' has more than 8 dims", at("dims.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("dims.npy")), want);
    CHECK(t.storage == NULL);

    /* saving: into a missing directory, and onto a directory (the rename fails): either way
     * nothing is left behind */
    int64_t two = 2;
    CHECK_OK(tide_tensor_zeros(&t, TIDE_F32, 1, &two));
    snprintf(want, sizeof want, "save: cannot write '%s': No such file or directory",
             at("missing/x.npy"));
    CHECK_FAILS(tide_npy_save(at("missing/x.npy"), &t), want);
    CHECK(mkdir(at("isdir.npy"), 0700) == 0);
    snprintf(want, sizeof want, "save: cannot write '%s': Is a directory", at("isdir.npy"));
    CHECK_FAILS(tide_npy_save(at("isdir.npy"), &t), want);
    rmdir(at("isdir.npy"));
    tide_tensor_release(&t);
    CHECK_FAILS(tide_npy_save(at("closed.npy"), &t), "save: cannot save an empty (closed) tensor");
}

/* ---------------------------------------------------------------- IDX */

static size_t idx_header(unsigned char *buf, int type, int ndim, const uint32_t *dims)
{
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++)
        for (int b = 0; b < 4; b++)
            buf[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
    return 4 + 4 * (size_t)ndim;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    CHECK(f != NULL);
    CHECK(gzwrite(f, data, (unsigned)n) == (int)n);
    gzclose(f);
}

static void test_idx_synthetic(void)
{
    unsigned char buf[256];
    tide_tensor t = TIDE_TENSOR_EMPTY;
    uint32_t dims[2] = {2, 3};
    /* u8, plain and gzipped */
    size_t h = idx_header(buf, 0x08, 2, dims);
    for (int i = 0; i < 6; i++)
        buf[h + i] = (unsigned char)(250 + i);
    write_file(at("u8.idx"), buf, h + 6);
    write_gz(at("u8.idx.gz"), buf, h + 6);
    for (int gz = 0; gz < 2; gz++) {
        CHECK_OK(tide_idx_read(&t, at(gz ? "u8.idx.gz" : "u8.idx")));
        int64_t idx[2] = {1, 2};
        CHECK(t.dtype == TIDE_U8 && t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 &&
              tide_get_i64(&t, idx) == 255);
        tide_tensor_release(&t);
    }
    /* signed bytes and shorts widen to i32, floats and doubles keep their width */
    uint32_t three = 3;
    h = idx_header(buf, 0x09, 1, &three);
    memcpy(buf + h, "\xff\x80\x7f", 3);
    write_file(at("i8.idx"), buf, h + 3);
    CHECK_OK(tide_idx_read(&t, at("i8.idx")));
    int64_t i0 = 0, i1 = 1, i2 = 2;
    CHECK(t.dtype == TIDE_I32 && tide_get_i64(&t, &i0) == -1 && tide_get_i64(&t, &i1) == -128 &&
          tide_get_i64(&t, &i2) == 127);
    tide_tensor_release(&t);
    h = idx_header(buf, 0x0B, 1, &three);
    memcpy(buf + h, "\xff\xfe\x01\x00\x80\x00", 6);
    write_gz(at("i16.idx.gz"), buf, h + 6);
    CHECK_OK(tide_idx_read(&t, at("i16.idx.gz")));
    CHECK(tide_get_i64(&t, &i0) == -2 && tide_get_i64(&t, &i1) == 256 &&
          tide_get_i64(&t, &i2) == -32768);
    tide_tensor_release(&t);
    uint32_t one = 1;
    h = idx_header(buf, 0x0C, 1, &one);
    memcpy(buf + h, "\xff\xff\xff\xfd", 4);
    write_file(at("i32.idx"), buf, h + 4);
    CHECK_OK(tide_idx_read(&t, at("i32.idx")));
    CHECK(t.dtype == TIDE_I32 && tide_get_i64(&t, &i0) == -3);
    tide_tensor_release(&t);
    h = idx_header(buf, 0x0D, 1, &one);
    memcpy(buf + h, "\x3f\xc0\x00\x00", 4);                 /* 1.5f */
    write_file(at("f32.idx"), buf, h + 4);
    CHECK_OK(tide_idx_read(&t, at("f32.idx")));
    CHECK(t.dtype == TIDE_F32 && tide_get_f64(&t, &i0) == 1.5);
    tide_tensor_release(&t);
    h = idx_header(buf, 0x0E, 1, &one);
    memcpy(buf + h, "\xc0\x04\x00\x00\x00\x00\x00\x00", 8); /* -2.5 */
    write_file(at("f64.idx"), buf, h + 8);
    CHECK_OK(tide_idx_read(&t, at("f64.idx")));
    CHECK(t.dtype == TIDE_F64 && tide_get_f64(&t, &i0) == -2.5);
    tide_tensor_release(&t);
}

static void test_idx_errors(void)
{
    unsigned char buf[2048];
    char want[512];
    tide_tensor t = TIDE_TENSOR_EMPTY;
    snprintf(want, sizeof want, "read_idx: cannot open '%s': No such file or directory",
             at("none.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("none.idx")), want);

    write_file(at("magic.idx"), "\x01\x02\x03\x04\x05", 5);
    snprintf(want, sizeof want, "read_idx: '%s' is not an IDX file (bad magic 0x01020304)",
             at("magic.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("magic.idx")), want);

    write_file(at("type.idx"), "\x00\x00\x0a\x01\x00\x00\x00\x01\x00", 9);
    snprintf(want, sizeof want, "read_idx: '%s' has unknown IDX data type 0x0a", at("type.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("type.idx")), want);

    write_file(at("dims.idx"), "\x00\x00\x08\x00", 4);
    snprintf(want, sizeof want, "read_idx: '%s' has 0 dims, expected 1 to 8", at("dims.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("dims.idx")), want);

    write_file(at("head.idx"), "\x00\x00\x08\x03\x00\x00\x00\x01\x00", 9);
    snprintf(want, sizeof want, "read_idx: '%s' is truncated: expected 16 bytes of header, got 9",
             at("head.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("head.idx")), want);

    write_file(at("tiny"), "\x00\x00", 2);
    snprintf(want, sizeof want, "read_idx: '%s' is truncated: expected 4 bytes of header, got 2",
             at("tiny"));
    CHECK_FAILS(tide_idx_read(&t, at("tiny")), want);

    /* the header of Fashion-MNIST's training images, then only 1000 bytes of pixels */
    uint32_t dims[3] = {60000, 28, 28};
    size_t h = idx_header(buf, 0x08, 3, dims);
    memset(buf + h, 7, 1000);
    write_file(at("f"), buf, h + 1000);
    snprintf(want, sizeof want,
             "read_idx: '%s' is truncated: expected 47040000 bytes of data, got 1000", at("f"));
    CHECK_FAILS(tide_idx_read(&t, at("f")), want);
    write_gz(at("f.gz"), buf, h + 1000);
    snprintf(want, sizeof want,
             "read_idx: '%s' is truncated: expected 47040000 bytes of data, got 1000", at("f.gz"));
    CHECK_FAILS(tide_idx_read(&t, at("f.gz")), want);

    /* a gzip stream cut short is a truncated file too */
    uint32_t n = 1500;
    h = idx_header(buf, 0x08, 1, &n);
    for (size_t i = 0; i < n; i++)
        buf[h + i] = (unsigned char)(i * 7919 % 251);
    write_gz(at("cut.gz"), buf, h + n);
    unsigned char gz[4096];
    size_t len = read_file(at("cut.gz"), gz, sizeof gz);
    CHECK(len > 100);
    write_file(at("cut.gz"), gz, len / 2);
    snprintf(want, sizeof want, "read_idx: '%s' is truncated: expected 1500 bytes of data, got",
             at("cut.gz"));
    CHECK_FAILS(tide_idx_read(&t, at("cut.gz")), want);
    CHECK(t.storage == NULL);
}

static void test_fashion_mnist(void)
{
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_idx_read(&t, FASHION "t10k-labels-idx1-ubyte.gz"));
    CHECK(t.dtype == TIDE_U8 && t.ndim == 1 && t.shape[0] == 10000);
    if (t.storage && t.ndim == 1 && t.shape[0] == 10000) {
        const uint8_t *l = tide_data(&t);
        int counts[10] = {0}, in_range = 1;
        for (int i = 0; i < 10000; i++) {
            in_range = in_range && l[i] <= 9;
            if (l[i] <= 9)
                counts[l[i]]++;
        }
        CHECK(in_range && l[0] == 9);
        for (int c = 0; c < 10; c++)                        /* the test set is balanced */
            CHECK(counts[c] == 1000);
    }
    tide_tensor_release(&t);
    CHECK_OK(tide_idx_read(&t, FASHION "t10k-images-idx3-ubyte.gz"));
    CHECK(t.dtype == TIDE_U8 && t.ndim == 3 && t.shape[0] == 10000 && t.shape[1] == 28 &&
          t.shape[2] == 28);
    tide_tensor_release(&t);
}

/* ---------------------------------------------------------------- sizes (issue 12) */

/* Shapes and row ranges whose sizes do not fit in 64 bits are errors naming them. */
static void test_npy_sizes(void)
{
    char want[600];
    tide_tensor t = TIDE_TENSOR_EMPTY;
    /* (0, 2^62, 2^62) has no elements, but its first stride would be 2^124 (UBSan saw the
     * overflow in the strides) */
    write_npy(at("zero.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
              "(0, 4611686018427387904, 4611686018427387904), }", "", 0);
    snprintf(want, sizeof want, "load: '%s' has a malformed header: shape "
             "0x4611686018427387904x4611686018427387904 of f32 is too large", at("zero.npy"));
    CHECK_FAILS(tide_npy_load(&t, at("zero.npy")), want);
    CHECK(t.storage == NULL);
    /* a zero dim with representable strides still loads, as an empty tensor */
    write_npy(at("zero2.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
              "(0, 1048576, 1048576), }", "", 0);
    CHECK_OK(tide_npy_load(&t, at("zero2.npy")));
    CHECK(t.ndim == 3 && t.shape[0] == 0 && t.shape[2] == 1048576 && t.stride[0] == (int64_t)1 << 40);
    tide_tensor_release(&t);

    /* rows of a 1000-row file: first + count overflowed and passed the range check */
    int64_t rows = 1000;
    tide_tensor src = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_alloc(&src, TIDE_F32, 1, &rows));
    for (int64_t i = 0; i < rows; i++)
        ((float *)tide_data(&src))[i] = (float)i;
    CHECK_OK(tide_npy_save(at("rows.npy"), &src));
    tide_tensor_release(&src);
    int64_t big = (int64_t)1 << 62;
    snprintf(want, sizeof want, "load: rows 4611686018427387905..4611686018427387904 + "
             "4611686018427387904 asked for, but '%s' has 1000 rows", at("rows.npy"));
    CHECK_FAILS(tide_npy_load_rows(&t, at("rows.npy"), big, big), want);
    snprintf(want, sizeof want, "load: rows 2..9223372036854775807 asked for, but '%s' has 1000"
             " rows", at("rows.npy"));
    CHECK_FAILS(tide_npy_load_rows(&t, at("rows.npy"), 1, INT64_MAX - 1), want);
    CHECK(t.storage == NULL);
    /* the last rows exactly still come (values are their row numbers) */
    CHECK_OK(tide_npy_load_rows(&t, at("rows.npy"), 990, 10));
    CHECK(t.ndim == 1 && t.shape[0] == 10 && ((float *)tide_data(&t))[9] == 999.0f);
    tide_tensor_release(&t);
}

static void test_idx_sizes(void)
{
    char want[600];
    unsigned char buf[64];
    tide_tensor t = TIDE_TENSOR_EMPTY;
    /* 24 bytes: f32, 2^31 x 2^31 (2^64 bytes wrapped to a 64-byte block, then read past it) */
    uint32_t dims[2] = {0x80000000u, 0x80000000u};
    size_t h = idx_header(buf, 0x0D, 2, dims);
    memset(buf + h, 0x3f, 24 - h);
    write_file(at("wrap.idx"), buf, 24);
    snprintf(want, sizeof want, "read_idx: '%s' has a malformed header: shape "
             "2147483648x2147483648 of f32 is too large", at("wrap.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("wrap.idx")), want);
    write_gz(at("wrap.idx.gz"), buf, 24);
    snprintf(want, sizeof want, "read_idx: '%s' has a malformed header: shape "
             "2147483648x2147483648 of f32 is too large", at("wrap.idx.gz"));
    CHECK_FAILS(tide_idx_read(&t, at("wrap.idx.gz")), want);
    /* representable but far beyond what a gzipped file can inflate to (2^32 x 2^24 bytes is
     * 64 PiB; deflate expands at most 1032-fold): truncated, before any allocation */
    uint32_t huge[2] = {0xffffffffu, 1u << 24};
    h = idx_header(buf, 0x08, 2, huge);
    write_gz(at("huge.idx.gz"), buf, h);
    snprintf(want, sizeof want, "read_idx: '%s' is truncated: expected 72057594021150720 bytes"
             " of data, got 0", at("huge.idx.gz"));
    CHECK_FAILS(tide_idx_read(&t, at("huge.idx.gz")), want);
    /* a plain file that promises more than it holds fails before allocating */
    write_file(at("huge.idx"), buf, h);
    snprintf(want, sizeof want, "read_idx: '%s' is truncated: expected 72057594021150720 bytes"
             " of data, got 0", at("huge.idx"));
    CHECK_FAILS(tide_idx_read(&t, at("huge.idx")), want);
    CHECK(t.storage == NULL);
}

/* ---------------------------------------------------------------- stale temporaries */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A save killed midway left NAME.tmp-HOST-PID-N forever (issue 12, 15): the next save to the
 * same path removes those whose process is gone, and keeps a live process's and another
 * host's. */
static void test_stale_temps(void)
{
    char host[256], name[3][600];
    CHECK(gethostname(host, sizeof host) == 0);
    host[sizeof host - 1] = '\0';
    pid_t dead = fork();                       /* a process id that surely is gone */
    if (dead == 0)
        _exit(0);
    CHECK(dead > 0 && waitpid(dead, NULL, 0) == dead);
    snprintf(name[0], sizeof name[0], "%s.tmp-%s-%ld-7", at("stale.npy"), host, (long)dead);
    snprintf(name[1], sizeof name[1], "%s.tmp-%s-%ld-0", at("stale.npy"), host, (long)getppid());
    snprintf(name[2], sizeof name[2], "%s.tmp-elsewhere-%s-%ld-0", at("stale.npy"), host,
             (long)dead);
    for (int i = 0; i < 3; i++)
        write_file(name[i], "half a tensor", 13);
    /* another file's temporary is not this save's business */
    char other[600];
    snprintf(other, sizeof other, "%s.tmp-%s-%ld-7", at("other.npy"), host, (long)dead);
    write_file(other, "x", 1);
    int64_t two = 2;
    tide_tensor t = TIDE_TENSOR_EMPTY;
    CHECK_OK(tide_tensor_zeros(&t, TIDE_F32, 1, &two));
    CHECK_OK(tide_npy_save(at("stale.npy"), &t));
    tide_tensor_release(&t);
    CHECK(!exists(name[0]));
    CHECK(exists(name[1]) && exists(name[2]) && exists(other));
    CHECK(exists(at("stale.npy")));
    for (int i = 1; i < 3; i++)
        unlink(name[i]);
    unlink(other);
}

/* ---------------------------------------------------------------- text */

static void test_format(void)
{
    int64_t shape[2] = {2, 2};
    double v[4] = {1, -20, 3, 4};
    tide_tensor t = from_values(TIDE_I32, 2, shape, v);
    char *s = tide_format_string(&t);
    CHECK(s && strcmp(s, "   1  -20\n   3    4\n[i32 tensor of size 2x2]") == 0);
    free(s);
    tide_tensor_release(&t);
    double w[4] = {0.5, 0.25, -1.125, 2};
    t = from_values(TIDE_F64, 2, shape, w);
    s = tide_format_string(&t);
    CHECK(s && strcmp(s, " 0.5000  0.2500\n-1.1250  2.0000\n[f64 tensor of size 2x2]") == 0);
    free(s);
    tide_tensor_release(&t);
    CHECK_OK(tide_tensor_zeros(&t, TIDE_U8, 0, NULL));
    s = tide_format_string(&t);
    CHECK(s && strcmp(s, " 0\n[u8 scalar tensor]") == 0);
    free(s);
    tide_tensor_release(&t);
}

/* ---------------------------------------------------------------- setup */

static int leftovers(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(at(e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tide-test-io-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_npy_header_bytes();
    test_npy_round_trips();
    test_npy_other_writers();
    test_npy_errors();
    test_idx_synthetic();
    test_idx_errors();
    test_fashion_mnist();
    test_npy_sizes();
    test_idx_sizes();
    test_stale_temps();
    test_format();
    CHECK(leftovers() == 0);
    remove_dir();
    return check_report("test_io");
}
