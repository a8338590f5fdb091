/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_data.c - IDX and .npy files, MNIST loading, row slices, images to float, the batcher.
 * Expected values come from NumPy (via /usr/bin/python3), from files built by hand here, or from
 * formulas computed independently of the implementation. */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"
#include "testutil.h"

#define BIG (1 << 16)
#define KW(...) ((const char *const[]){__VA_ARGS__, NULL})
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define LOSS DEFT_DATA_LOSS
#define INVAL DEFT_INVALID_ARGUMENT

static deft_status *s; /* one per test (checked fixture) */
static void setup(void) { s = deft_status_new(); }
static void teardown(void) { deft_status_free(s); }

/* e must succeed; on failure the status message is shown. */
#define OK(e) ck_assert_msg((e), "line %d: %s", __LINE__, deft_status_message(s))
/* e must fail (false or NULL) with code and a message holding every keyword. */
#define FAILS(e, code, ...)                            \
  do {                                                 \
    ck_assert_msg(!(e), "line %d: " #e " succeeded", __LINE__); \
    TU_ASSERT_STATUS(s, code, __VA_ARGS__);            \
  } while (0)

static bool in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

/* Skips (returns) when NumPy is missing outside CI; fails in CI. */
#define REQUIRE_NUMPY()                                                    \
  if (!tu_have_numpy()) {                                                 \
    ck_assert_msg(!in_ci(), "NumPy (/usr/bin/python3) is required in CI"); \
    fprintf(stderr, "skipping %s: no NumPy\n", __func__);                 \
    return;                                                               \
  }

static void tpath(char out[512], const char *name) {
  snprintf(out, 512, "%s/%s", tu_tmpdir(), name);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* gzip-compresses n bytes into out; returns the compressed length. */
static size_t gzip_mem(const void *in, size_t n, unsigned char *out, size_t cap) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)in, zs.avail_in = (uInt)n;
  zs.next_out = out, zs.avail_out = (uInt)cap;
  ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t r = zs.total_out;
  deflateEnd(&zs);
  return r;
}

static void write_file(const char *path, const void *data, size_t n, bool gz) {
  unsigned char *z = NULL;
  if (gz) {
    z = malloc(n + 1024);
    n = gzip_mem(data, n, z, n + 1024);
    data = z;
  }
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(data, 1, n, f), n);
  fclose(f);
  free(z);
}

/* Builds an IDX image by hand: magic, big-endian dims, then the given bytes. */
static size_t idx_bytes(unsigned char *out, int type, int rank, const uint32_t *dims,
                        const void *data, size_t nbytes) {
  out[0] = out[1] = 0;
  out[2] = (unsigned char)type, out[3] = (unsigned char)rank;
  for (int i = 0; i < rank; i++)
    for (int b = 0; b < 4; b++) out[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
  if (nbytes) memcpy(out + 4 + 4 * rank, data, nbytes);
  return 4 + 4 * (size_t)rank + nbytes;
}

/* Builds a .npy image: magic, version major.0, the dict padded like NumPy's writer (to a multiple
 * of 64 with spaces and '\n'), then data. *data_at (if not NULL) gets the data's offset. */
static size_t npy_bytes(unsigned char *out, int major, const char *dict, const void *data,
                        size_t n, size_t *data_at) {
  size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
  size_t total = (pre + len + 1 + 63) / 64 * 64, hlen = total - pre;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (unsigned char)major, out[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) out[8 + i] = (unsigned char)(hlen >> (8 * i));
  memcpy(out + pre, dict, len);
  memset(out + pre + len, ' ', hlen - len - 1);
  out[total - 1] = '\n';
  if (n) memcpy(out + total, data, n);
  if (data_at) *data_at = total;
  return total + n;
}

/* Fills t with a per-dtype formula that the Python scripts below repeat. */
static void fill(deft_tensor *t) {
  void *d = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    switch (deft_tensor_dtype(t)) {
      case DEFT_FLOAT: ((float *)d)[i] = (float)i * 0.5f - 3.0f; break;
      case DEFT_DOUBLE: ((double *)d)[i] = (double)i / 3.0 - 1.0; break;
      case DEFT_INT32: ((int32_t *)d)[i] = (int32_t)(i * -1000 + 7); break;
      case DEFT_INT64: ((int64_t *)d)[i] = i * ((int64_t)1 << 40) - 5; break;
      case DEFT_UINT8: ((uint8_t *)d)[i] = (uint8_t)(i * 37 % 256); break;
      case DEFT_BOOL: ((bool *)d)[i] = i % 3 == 0; break;
      default: ck_abort_msg("unexpected dtype");
    }
  }
}

/* Asserts t's dtype and dims: ASSERT_SHAPE(t, DEFT_FLOAT, 2, 3) for float [2, 3]. */
static void assert_shape(const deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                         int line) {
  char got[96], want[96];
  ck_assert_msg(t != NULL, "line %d: no tensor", line);
  deft_shape_format(deft_tensor_shape(t), got, sizeof got);
  deft_shape_format(deft_shape_make(rank, dims), want, sizeof want);
  ck_assert_msg(deft_tensor_dtype(t) == dtype && strcmp(got, want) == 0,
                "line %d: got %s %s, want %s %s", line, deft_dtype_name(deft_tensor_dtype(t)), got,
                deft_dtype_name(dtype), want);
}
#define ASSERT_SHAPE(t, dtype, ...) \
  assert_shape((t), (dtype), DIMS(__VA_ARGS__), (int)(sizeof DIMS(__VA_ARGS__) / 8), __LINE__)

static void assert_same(const deft_tensor *a, const deft_tensor *b, const char *what) {
  deft_shape sb = deft_tensor_shape(b);
  assert_shape(a, deft_tensor_dtype(b), sb.dims, sb.rank, __LINE__);
  ck_assert_msg(memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)) == 0,
                "%s: data differs", what);
}

/* Reads the temp file named by fmt (one %s, for arg) with deft_npy_read, which must succeed. */
static deft_tensor *npy_tmp(const char *fmt, const char *arg) {
  char name[128], path[512];
  snprintf(name, sizeof name, fmt, arg);
  tpath(path, name);
  deft_tensor *t = deft_npy_read(path, s);
  OK(t);
  return t;
}

/* Asserts that rows [begin, end) of t equal, byte for byte, the temp .npy file fmt/arg. */
static void rows_match_npy(const deft_tensor *t, int64_t begin, int64_t end, const char *fmt,
                           const char *arg) {
  deft_tensor *ref = npy_tmp(fmt, arg), *part = deft_tensor_slice_rows(t, begin, end, s);
  assert_same(part, ref, fmt);
  deft_tensor_free(ref), deft_tensor_free(part);
}

/* Writes bytes to a temp file, reads it with `reader`, and expects failure with `code` and a
 * message naming the path plus every keyword. */
static void expect_error(deft_tensor *(*reader)(const char *, deft_status *), const char *name,
                         const void *bytes, size_t n, bool gz, deft_code code,
                         const char *const *kws, int line) {
  char path[512];
  tpath(path, name);
  write_file(path, bytes, n, gz);
  deft_tensor *t = reader(path, s);
  ck_assert_msg(t == NULL, "line %d: %s read without error", line, name);
  tu_assert_status(s, code, kws, __FILE__, line);
  ck_assert_msg(strstr(deft_status_message(s), path), "line %d: message lacks the path: %s", line,
                deft_status_message(s));
}
#define IDX_ERROR(name, bytes, n, gz, code, ...) \
  expect_error(deft_idx_read, name, bytes, n, gz, code, KW(__VA_ARGS__), __LINE__)
#define NPY_ERROR(name, bytes, n, code, ...) \
  expect_error(deft_npy_read, name, bytes, n, false, code, KW(__VA_ARGS__), __LINE__)

/* ---- MNIST ---- */

static const char *mnist_py =
    "import sys, gzip, numpy as np\n"
    "d, out = sys.argv[1], sys.argv[2]\n"
    "w = np.arange(784, dtype=np.int64).reshape(28, 28)\n"
    "for split in ('train', 't10k'):\n"
    "    raw = gzip.open(f'{d}/{split}-images-idx3-ubyte.gz').read()\n"
    "    assert int.from_bytes(raw[:4], 'big') == 0x803\n"
    "    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(3)]\n"
    "    img = np.frombuffer(raw, np.uint8, offset=16).reshape(dims)\n"
    "    lab = np.frombuffer(gzip.open(f'{d}/{split}-labels-idx1-ubyte.gz').read(), np.uint8,\n"
    "                        offset=8)\n"
    "    np.save(f'{out}/{split}_img100.npy', img[:100])\n"
    "    np.save(f'{out}/{split}_imglast.npy', img[-3:])\n"
    "    np.save(f'{out}/{split}_lab100.npy', lab[:100])\n"
    "    f = img[:100].astype(np.float32).reshape(-1, 784) / 255.0\n"
    "    assert f.dtype == np.float32\n"
    "    np.save(f'{out}/{split}_f100.npy', f)\n"
    "    sums = [img.sum(dtype=np.int64), (img * w).sum(dtype=np.int64), lab.sum(dtype=np.int64)]\n"
    "    np.save(f'{out}/{split}_sums.npy', np.array(sums, dtype=np.int64))\n"
    "    np.save(f'{out}/{split}_hist.npy', np.bincount(lab, minlength=10).astype(np.int64))\n";

START_TEST(mnist_matches_numpy) {
  TU_REQUIRE_SHARED(shared, "data/mnist");
  REQUIRE_NUMPY();
  char dir[512];
  snprintf(dir, sizeof dir, "%s", shared);
  ck_assert_int_eq(tu_python(mnist_py, KW(dir, tu_tmpdir())), 0);
  const char *splits[2] = {"train", "t10k"};
  const int64_t counts[2] = {60000, 10000};
  deft_tensor *f[4], *u8 = NULL;
  OK(deft_mnist_load(dir, false, &f[0], &f[1], &f[2], &f[3], s));
  for (int k = 0; k < 2; k++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, splits[k]);
    deft_tensor *img = deft_idx_read(path, s);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, splits[k]);
    deft_tensor *lab = deft_idx_read(path, s);
    ASSERT_SHAPE(img, DEFT_UINT8, counts[k], 28, 28);
    ASSERT_SHAPE(lab, DEFT_UINT8, counts[k]);
    /* First 100 and last 3 images, first 100 labels: byte for byte against NumPy. */
    rows_match_npy(img, 0, 100, "%s_img100.npy", splits[k]);
    rows_match_npy(img, counts[k] - 3, counts[k], "%s_imglast.npy", splits[k]);
    rows_match_npy(lab, 0, 100, "%s_lab100.npy", splits[k]);
    /* Sums (plain and position-weighted) and the label histogram. */
    deft_tensor *sums = npy_tmp("%s_sums.npy", splits[k]);
    deft_tensor *hist = npy_tmp("%s_hist.npy", splits[k]);
    const int64_t *want = deft_tensor_data(sums), *want_h = deft_tensor_data(hist);
    const uint8_t *px = deft_tensor_data(img), *lb = deft_tensor_data(lab);
    int64_t sum = 0, wsum = 0, lsum = 0, h[256] = {0}, n = 0;
    for (int64_t i = 0; i < counts[k] * 784; i++) sum += px[i], wsum += px[i] * (i % 784);
    for (int64_t i = 0; i < counts[k]; i++) lsum += lb[i], h[lb[i]]++;
    ck_assert(sum == want[0] && wsum == want[1] && lsum == want[2]);
    for (int c = 0; c < 10; c++) n += h[c], ck_assert(h[c] == want_h[c]);
    ck_assert_int_eq(n, counts[k]); /* every label in 0..9 */
    /* deft_mnist_load: float [N, 784] = float32(byte) / 255 (NumPy's first 100 rows bitwise);
     * labels int32 equal to the bytes. */
    ASSERT_SHAPE(f[2 * k], DEFT_FLOAT, counts[k], 784);
    ASSERT_SHAPE(f[2 * k + 1], DEFT_INT32, counts[k]);
    rows_match_npy(f[2 * k], 0, 100, "%s_f100.npy", splits[k]);
    const float *fp = deft_tensor_data(f[2 * k]);
    const int32_t *fl = deft_tensor_data(f[2 * k + 1]);
    int64_t bad = 0;
    for (int64_t i = 0; i < counts[k] * 784; i++) bad += fp[i] != (float)(px[i] / 255.0);
    for (int64_t i = 0; i < counts[k]; i++) bad += fl[i] != lb[i];
    ck_assert_int_eq(bad, 0);
    deft_tensor_free(img), deft_tensor_free(lab), deft_tensor_free(sums), deft_tensor_free(hist);
  }
  for (int i = 0; i < 4; i++) deft_tensor_free(f[i]);
  OK(deft_mnist_load(dir, true, NULL, NULL, &u8, NULL, s)); /* keep_uint8, test split only */
  ASSERT_SHAPE(u8, DEFT_UINT8, 10000, 784);
  deft_tensor *ref = npy_tmp("%s_img100.npy", "t10k");
  ck_assert(memcmp(deft_tensor_data(u8), deft_tensor_data(ref), 100 * 784) == 0);
  deft_tensor_free(ref), deft_tensor_free(u8);
}
END_TEST

START_TEST(fashion_mnist_loads) {
  const char *dir = "/usr/share/datasets/fashion-mnist";
  if (!exists(dir)) {
    ck_assert_msg(!in_ci(), "%s is required in CI (Debian package dataset-fashion-mnist)", dir);
    fprintf(stderr, "skipping %s: %s not installed\n", __func__, dir);
    return;
  }
  deft_tensor *t[4];
  OK(deft_mnist_load(dir, false, &t[0], &t[1], &t[2], &t[3], s));
  for (int k = 0; k < 2; k++) {
    int64_t n = k ? 10000 : 60000, h[10] = {0};
    ASSERT_SHAPE(t[2 * k], DEFT_FLOAT, n, 784);
    ASSERT_SHAPE(t[2 * k + 1], DEFT_INT32, n);
    const int32_t *lab = deft_tensor_data(t[2 * k + 1]);
    for (int64_t i = 0; i < n; i++)
      if (lab[i] >= 0 && lab[i] < 10) h[lab[i]]++;
    for (int c = 0; c < 10; c++) ck_assert_int_eq(h[c], n / 10); /* balanced: n / 10 a class */
  }
  for (int i = 0; i < 4; i++) deft_tensor_free(t[i]);
}
END_TEST

/* An MNIST-layout directory made by hand: a raw (uncompressed) image file, a gzip label file. */
START_TEST(mnist_dir_raw_gz_and_errors) {
  static unsigned char buf[BIG], pix[5 * 784];
  static int sentinel;
  char dir[512], path[600];
  tpath(dir, "mnist_small");
  mkdir(dir, 0755);
  for (int i = 0; i < 5 * 784; i++) pix[i] = (unsigned char)(i * 7 % 256);
  uint32_t idims[3] = {5, 28, 28}, ldims[1] = {5};
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
  write_file(path, buf, idx_bytes(buf, 0x08, 3, idims, pix, sizeof pix), false);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
  write_file(path, buf, idx_bytes(buf, 0x08, 1, ldims, "\x03\x01\x04\x01\x05", 5), true);
  deft_tensor *img = NULL, *lab = NULL, *tr = (deft_tensor *)&sentinel; /* must become NULL */
  OK(deft_mnist_load(dir, false, NULL, NULL, &img, &lab, s));
  ASSERT_SHAPE(img, DEFT_FLOAT, 5, 784);
  for (int i = 0; i < 5 * 784; i++)
    ck_assert(((float *)deft_tensor_data(img))[i] == (float)((i * 7 % 256) / 255.0));
  ck_assert(memcmp(deft_tensor_data(lab), (const int32_t[]){3, 1, 4, 1, 5}, 20) == 0);
  deft_tensor_free(img), deft_tensor_free(lab);
  /* Train files missing: NOT_FOUND naming both spellings; all outputs left NULL. */
  img = lab = tr;
  FAILS(deft_mnist_load(dir, false, &tr, NULL, &img, &lab, s), DEFT_NOT_FOUND,
        "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz");
  ck_assert(tr == NULL && img == NULL && lab == NULL);
  /* 4 labels for 5 images. */
  ldims[0] = 4;
  write_file(path, buf, idx_bytes(buf, 0x08, 1, ldims, "\x03\x01\x04\x01", 4), true);
  FAILS(deft_mnist_load(dir, false, NULL, NULL, &img, &lab, s), DEFT_DATA_LOSS,
        "t10k-images-idx3-ubyte", "5 images", "t10k-labels-idx1-ubyte.gz", "4 labels");
  ck_assert(img == NULL && lab == NULL);
}
END_TEST

/* ---- IDX ---- */

START_TEST(idx_types_raw_and_gzip) {
  static unsigned char buf[BIG];
  /* Three elements each, big-endian, written out by hand. */
  struct { int type; const char *bytes; size_t n; deft_dtype dtype; double want[3]; } cases[] = {
      {0x08, "\x00\x7f\xff", 3, DEFT_UINT8, {0, 127, 255}},
      {0x09, "\xf9\x7f\x80", 3, DEFT_INT32, {-7, 127, -128}},
      {0x0b, "\xff\xfd\x01\x00\x80\x00", 6, DEFT_INT32, {-3, 256, -32768}},
      {0x0c, "\xff\xff\xff\xfb\x00\x01\x11\x70\x7f\xff\xff\xff", 12, DEFT_INT32,
       {-5, 70000, 2147483647}},
      {0x0d, "\x3f\xc0\x00\x00\xc0\x20\x00\x00\x00\x00\x00\x00", 12, DEFT_FLOAT, {1.5, -2.5, 0}},
      {0x0e, "\xc0\x02\x00\x00\x00\x00\x00\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
             "\x40\x59\x00\x00\x00\x00\x00\x00", 24, DEFT_DOUBLE, {-2.25, 1, 100}},
  };
  char path[512];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int gz = 0; gz < 2; gz++) {
      tpath(path, gz ? "types.idx.gz" : "types.idx");
      uint32_t dims[2] = {1, 3};
      write_file(path, buf, idx_bytes(buf, cases[c].type, 2, dims, cases[c].bytes, cases[c].n),
                 gz);
      deft_tensor *t = deft_idx_read(path, s);
      ASSERT_SHAPE(t, cases[c].dtype, 1, 3);
      for (int i = 0; i < 3; i++)
        ck_assert_msg(deft_tensor_get_double(t, i) == cases[c].want[i], "type 0x%02x [%d]: %g",
                      cases[c].type, i, deft_tensor_get_double(t, i));
      deft_tensor_free(t);
    }
  }
  /* A pipe has no size to check up front: the bytes go through a growing buffer instead of
   * straight into the tensor, with the same results. */
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    tpath(path, "types.fifo");
    unlink(path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    uint32_t dims[2] = {3, 1};
    size_t len = idx_bytes(buf, cases[c].type, 2, dims, cases[c].bytes, cases[c].n);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* the writer */
      FILE *f = fopen(path, "wb");
      _exit(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0 ? 0 : 1);
    }
    deft_tensor *t = deft_idx_read(path, s);
    int wst;
    ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
    ck_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    ASSERT_SHAPE(t, cases[c].dtype, 3, 1);
    for (int i = 0; i < 3; i++)
      ck_assert_msg(deft_tensor_get_double(t, i) == cases[c].want[i], "fifo type 0x%02x [%d]",
                    cases[c].type, i);
    deft_tensor_free(t);
    unlink(path);
  }
  /* Two concatenated gzip members are one stream (as gzip -d reads them). */
  unsigned char z[512];
  uint32_t d1[1] = {4};
  size_t n = idx_bytes(buf, 0x08, 1, d1, "\x01\x02\x03\x04", 4);
  size_t a = gzip_mem(buf, 6, z, sizeof z), b = gzip_mem(buf + 6, n - 6, z + a, sizeof z - a);
  tpath(path, "two_members.gz");
  write_file(path, z, a + b, false);
  deft_tensor *t = deft_idx_read(path, s);
  ASSERT_SHAPE(t, DEFT_UINT8, 4);
  ck_assert(memcmp(deft_tensor_data(t), "\x01\x02\x03\x04", 4) == 0);
  deft_tensor_free(t);
}
END_TEST

START_TEST(idx_errors) {
  static unsigned char buf[BIG], data[64];
  uint32_t dims[3] = {10, 2, 2};
  const char *bad = "\x01\x02\x08\x01\x00\x00\x00\x00";
  IDX_ERROR("badmagic.idx", bad, 8, false, LOSS, "bad IDX magic 0x01020801", "byte 0");
  IDX_ERROR("badmagic.idx.gz", bad, 8, true, LOSS, "bad IDX magic 0x01020801", "byte 0");
  IDX_ERROR("badtype.idx", "\x00\x00\x0a\x03", 4, false, LOSS, "0x00000a03", "type code 0x0a",
            "byte 2");
  IDX_ERROR("empty.idx", "", 0, false, LOSS, "truncated IDX header at byte 0");
  IDX_ERROR("shorthdr.idx", "\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00", 10, false, LOSS,
            "truncated IDX header at byte 10", "16");
  IDX_ERROR("rank9.idx", "\x00\x00\x08\x09", 4, false, INVAL, "rank 9", "byte 3");
  size_t n = idx_bytes(buf, 0x08, 3, dims, data, 30);
  for (int gz = 0; gz < 2; gz++)
    IDX_ERROR(gz ? "short.idx.gz" : "short.idx", buf, n, gz, LOSS, "truncated data at byte 16",
              "expected 40 bytes, got 30");
  n = idx_bytes(buf, 0x0c, 3, dims, data, 64); /* int: 160 bytes needed */
  IDX_ERROR("shortint.idx", buf, n, false, LOSS, "expected 160 bytes, got 64");
  n = idx_bytes(buf, 0x08, 3, dims, data, 43);
  IDX_ERROR("trailing.idx", buf, n, false, LOSS, "trailing", "byte 56");
  IDX_ERROR("trailing.idx.gz", buf, n, true, LOSS, "trailing", "byte 56");
  uint32_t huge[8] = {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u};
  n = idx_bytes(buf, 0x08, 8, huge, data, 8);
  IDX_ERROR("huge.idx", buf, n, false, LOSS, "more data");
  uint32_t big[2] = {60000, 60000}; /* 3.6 GB claimed by a tiny gzip file: no huge allocation */
  n = idx_bytes(buf, 0x08, 2, big, data, 8);
  IDX_ERROR("claims.idx.gz", buf, n, true, LOSS, "expected 3600000000 bytes, got 8");
  /* gzip damage: bad CRC, cut-off stream, garbage after the stream. */
  unsigned char z[512];
  size_t zn = gzip_mem(buf, idx_bytes(buf, 0x08, 3, dims, data, 40), z, sizeof z);
  z[zn - 6] ^= 0x55; /* inside the CRC-32 of the trailer */
  IDX_ERROR("crc.idx.gz", z, zn, false, LOSS, "corrupt gzip");
  z[zn - 6] ^= 0x55;
  IDX_ERROR("cut.idx.gz", z, zn - 5, false, LOSS, "truncated gzip");
  memcpy(z + zn, "junk", 4);
  IDX_ERROR("junk.idx.gz", z, zn + 4, false, LOSS, "trailing garbage after the gzip data");
  char path[512];
  tpath(path, "no/such/file.idx");
  FAILS(deft_idx_read(path, s), DEFT_NOT_FOUND, path);
}
END_TEST

/* Every truncation and many bit flips of valid files: errors, never crashes or leaks. */
START_TEST(truncations_and_flips) {
  static unsigned char buf[BIG], raw[BIG];
  unsigned char data[24];
  for (int i = 0; i < 24; i++) data[i] = (unsigned char)(i * 11);
  uint32_t dims[2] = {2, 3};
  char path[512];
  tpath(path, "fuzz.bin");
  for (int kind = 0; kind < 3; kind++) { /* raw IDX, gzip IDX, .npy */
    size_t n = idx_bytes(buf, 0x0d, 2, dims, data, 24);
    if (kind == 0) memcpy(raw, buf, n);
    if (kind == 1) n = gzip_mem(buf, n, raw, sizeof raw);
    if (kind == 2)
      n = npy_bytes(raw, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data,
                    24, NULL);
    deft_tensor *(*reader)(const char *, deft_status *) = kind == 2 ? deft_npy_read : deft_idx_read;
    for (size_t cut = 0; cut < n; cut++) {
      write_file(path, raw, cut, false);
      ck_assert_msg(reader(path, s) == NULL, "kind %d: %zu of %zu bytes read", kind, cut, n);
      ck_assert_int_eq(deft_status_code(s), DEFT_DATA_LOSS);
      ck_assert_ptr_nonnull(strstr(deft_status_message(s), path));
    }
    for (size_t pos = 0; pos < n; pos++) {
      for (int bit = 0; bit < 8; bit += 3) {
        raw[pos] ^= (unsigned char)(1 << bit);
        write_file(path, raw, n, false);
        deft_tensor *t = reader(path, s);
        if (!t) ck_assert_ptr_nonnull(strstr(deft_status_message(s), path));
        deft_tensor_free(t);
        raw[pos] ^= (unsigned char)(1 << bit);
      }
    }
  }
}
END_TEST

/* ---- .npy ---- */

static const deft_dtype all_dtypes[6] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32,
                                         DEFT_INT64, DEFT_UINT8,  DEFT_BOOL};
static const char *const dt_tags[6] = {"f4", "f8", "i4", "i8", "u1", "b1"};
static const struct { const char *tag; int rank; int64_t dims[3]; } shapes[4] = {
    {"s", 0, {0}}, {"e", 3, {3, 0, 2}}, {"m", 3, {2, 3, 4}}, {"v", 1, {7}}};

static const char *numpy_reads_py =
    "import sys, numpy as np\n"
    "out = sys.argv[1]\n"
    "def expect(dt, shape):\n"
    "    i = np.arange(int(np.prod(shape)))\n"
    "    v = {'f4': i.astype(np.float32) * np.float32(0.5) - np.float32(3), 'f8': i / 3.0 - 1.0,\n"
    "         'i4': (i * -1000 + 7).astype(np.int32), 'i8': (i.astype(np.int64) << 40) - 5,\n"
    "         'u1': ((i * 37) % 256).astype(np.uint8), 'b1': i % 3 == 0}[dt]\n"
    "    return v.reshape(shape)\n"
    "for dt in ['f4', 'f8', 'i4', 'i8', 'u1', 'b1']:\n"
    "    for tag, shape in [('s', ()), ('e', (3, 0, 2)), ('m', (2, 3, 4)), ('v', (7,))]:\n"
    "        p = f'{out}/dt_{dt}_{tag}.npy'\n"
    "        a, e = np.load(p, allow_pickle=False), expect(dt, shape)\n"
    "        assert a.dtype == e.dtype and a.shape == e.shape, (p, a.dtype, a.shape)\n"
    "        assert np.array_equal(a, e), (p, a, e)\n"
    "        with open(p, 'rb') as f:\n"
    "            np.lib.format.read_magic(f)\n"
    "            np.lib.format.read_array_header_1_0(f)\n"
    "            assert f.tell() % 64 == 0, (p, f.tell())\n";

START_TEST(npy_round_trips_and_numpy_reads) {
  char name[64], path[512];
  for (int d = 0; d < 6; d++) {
    for (int k = 0; k < 4; k++) {
      snprintf(name, sizeof name, "dt_%s_%s.npy", dt_tags[d], shapes[k].tag);
      tpath(path, name);
      deft_tensor *t = deft_tensor_new(all_dtypes[d], shapes[k].dims, shapes[k].rank, s);
      fill(t);
      OK(deft_npy_write(path, t, s));
      deft_tensor *r = deft_npy_read(path, s);
      OK(r);
      assert_same(r, t, name);
      deft_tensor_free(r), deft_tensor_free(t);
    }
  }
  /* Overwriting an existing file replaces it. */
  tpath(path, "dt_f4_s.npy");
  deft_tensor *sc = deft_tensor_scalar_float(42.5f), *r;
  OK(deft_npy_write(path, sc, s));
  OK(r = deft_npy_read(path, s));
  ck_assert(deft_tensor_get_double(r, 0) == 42.5);
  deft_tensor_free(r);
  fill(sc);
  OK(deft_npy_write(path, sc, s));
  deft_tensor_free(sc);
  REQUIRE_NUMPY();
  ck_assert_int_eq(tu_python(numpy_reads_py, KW(tu_tmpdir())), 0);
}
END_TEST

static const char *numpy_writes_py =
    "import sys, numpy as np\n"
    "out = sys.argv[1]\n"
    "def save(name, a, version=None):\n"
    "    with open(f'{out}/{name}.npy', 'wb') as f:\n"
    "        np.lib.format.write_array(f, a, version=version, allow_pickle=False)\n"
    "i = np.arange(24)\n"
    "save('np_f4', (i.astype(np.float32) * np.float32(0.5) - np.float32(3)).reshape(2, 3, 4))\n"
    "save('np_f8', (i / 3.0 - 1.0).reshape(4, 6))\n"
    "save('np_i4', (i * -1000 + 7).astype(np.int32))\n"
    "save('np_i8', ((i.astype(np.int64) << 40) - 5).reshape(2, 12))\n"
    "save('np_u1', ((i * 37) % 256).astype(np.uint8).reshape(1, 2, 3, 4))\n"
    "save('np_b1', (i % 3 == 0).reshape(3, 8))\n"
    "save('np_empty', np.zeros((0, 5), np.float32))\n"
    "save('np_v2', (i / 3.0 - 1.0).reshape(4, 6), (2, 0))\n"
    "save('np_v3', (i / 3.0 - 1.0).reshape(4, 6), (3, 0))\n"
    "save('np_scalar', np.array(3.25))\n"
    "save('np_fortran2', np.asfortranarray((i / 3.0 - 1.0).reshape(4, 6)))\n"
    "save('np_c8', np.zeros(3, np.complex64))\n"
    "save('np_bigendian', np.zeros(3, '>f4'))\n";

START_TEST(npy_reads_numpy_files) {
  REQUIRE_NUMPY();
  ck_assert_int_eq(tu_python(numpy_writes_py, KW(tu_tmpdir())), 0);
  struct { const char *name; deft_dtype dtype; int rank; int64_t dims[4]; } cases[] = {
      {"np_f4", DEFT_FLOAT, 3, {2, 3, 4}},    {"np_f8", DEFT_DOUBLE, 2, {4, 6}},
      {"np_i4", DEFT_INT32, 1, {24}},         {"np_i8", DEFT_INT64, 2, {2, 12}},
      {"np_u1", DEFT_UINT8, 4, {1, 2, 3, 4}}, {"np_b1", DEFT_BOOL, 2, {3, 8}},
      {"np_empty", DEFT_FLOAT, 2, {0, 5}},    {"np_v2", DEFT_DOUBLE, 2, {4, 6}},
      {"np_v3", DEFT_DOUBLE, 2, {4, 6}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    deft_tensor *got = npy_tmp("%s.npy", cases[c].name);
    deft_tensor *want = deft_tensor_new(cases[c].dtype, cases[c].dims, cases[c].rank, s);
    fill(want);
    assert_same(got, want, cases[c].name);
    deft_tensor_free(got), deft_tensor_free(want);
  }
  deft_tensor *sc = npy_tmp("%s.npy", "np_scalar");
  ck_assert(deft_tensor_rank(sc) == 0 && deft_tensor_get_double(sc, 0) == 3.25);
  deft_tensor_free(sc);
  char path[512];
  tpath(path, "np_fortran2.npy");
  FAILS(deft_npy_read(path, s), DEFT_INVALID_ARGUMENT, path, "Fortran", "rank 2");
  tpath(path, "np_c8.npy");
  FAILS(deft_npy_read(path, s), DEFT_INVALID_ARGUMENT, path, "'<c8'", "byte");
  tpath(path, "np_bigendian.npy");
  FAILS(deft_npy_read(path, s), DEFT_INVALID_ARGUMENT, path, "'>f4'", "big-endian");
}
END_TEST

/* Headers NumPy would accept but writes differently: key order, quotes, spacing, commas. */
START_TEST(npy_header_variants) {
  static unsigned char buf[BIG];
  const int32_t v[6] = {1, -2, 3, -4, 5, -6};
  const char *dicts[] = {
      "{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<i4\"}",
      "{ 'descr' : '<i4' , 'shape' : ( 2 , 3 , ) , 'fortran_order' : False , }\n",
      "{'descr':'<i4','fortran_order':False,'shape':(2L,3L)}",
      "{'descr': '<i4', 'fortran_order': True, 'shape': (1, 6), }", /* same layout either way */
      "{'descr': '<i4', 'fortran_order': True, 'shape': (6,), }",
  };
  char path[512];
  tpath(path, "variant.npy");
  for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
    for (int major = 1; major <= 3; major++) {
      write_file(path, buf, npy_bytes(buf, major, dicts[i], v, sizeof v, NULL), false);
      deft_tensor *t = deft_npy_read(path, s);
      ck_assert_msg(t != NULL, "%s: %s", dicts[i], deft_status_message(s));
      ck_assert_int_eq(deft_tensor_num_elements(t), 6);
      ck_assert(memcmp(deft_tensor_data(t), v, sizeof v) == 0);
      deft_tensor_free(t);
    }
  }
}
END_TEST

START_TEST(npy_errors) {
  static unsigned char buf[BIG], zeros[4096];
  size_t at, n;
#define HDR(descr, shape) "{'descr': '" descr "', 'fortran_order': False, 'shape': " shape ", }"
  NPY_ERROR("magic.npy", "\x93NUMPX\x01\x00\x10\x00", 10, LOSS, "bad .npy magic", "byte 0");
  NPY_ERROR("tiny.npy", "\x93NUM", 4, LOSS, "truncated .npy header at byte 4");
  NPY_ERROR("version.npy", "\x93NUMPY\x04\x00\x10\x00", 10, INVAL, "version 4.0", "byte 6");
  npy_bytes(buf, 1, HDR("<f4", "(3,)"), NULL, 0, NULL);
  NPY_ERROR("cuthdr.npy", buf, 40, LOSS, "truncated .npy header at byte 40",
            "expected 118 header bytes");
  NPY_ERROR("huge_hdr.npy", "\x93NUMPY\x02\x00\x00\x00\x20\x00{", 13, LOSS,
            "header length 2097152", "byte 8", "1 MiB");
  struct { const char *name, *dict; deft_code code; const char *kw1, *kw2; } bad[] = {
      {"noshape.npy", "{'descr': '<f4', 'fortran_order': False}", LOSS, "lacks 'shape'", "byte"},
      {"descr5.npy", "{'descr': 5, 'fortran_order': False, 'shape': (3,)}", LOSS, "'descr'",
       "byte 20"},
      {"c8.npy", HDR("<c8", "(3,)"), INVAL, "'<c8'", "byte 20"},
      {"be.npy", HDR(">f4", "(3,)"), INVAL, "'>f4'", "big-endian"},
      {"u1lt.npy", HDR("<u1", "(3,)"), INVAL, "'<u1'", "supported"},
      {"struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}", INVAL,
       "structured", "byte 20"},
      {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", INVAL,
       "Fortran", "rank 2"},
      {"key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", LOSS,
       "unexpected key 'x'", "byte 66"}, /* 10-byte prefix + 56 */
      {"dup.npy", "{'descr': '<f4', 'descr': '<f4', 'shape': (3,)}", LOSS,
       "duplicate key 'descr'", "byte"},
      {"after.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x", LOSS,
       "after the dict", "byte"},
      {"shape.npy", HDR("<f4", "3"), LOSS, "tuple", "byte"},
      {"negdim.npy", HDR("<f4", "(-3,)"), LOSS, "non-negative", "byte"},
      {"ovf.npy", HDR("<f4", "(99999999999, 99999999999)"), LOSS, "overflows", "byte"},
      {"rank9.npy", HDR("<f4", "(1,1,1,1,1,1,1,1,1)"), INVAL, "more than 8", "byte"},
      {"bool.npy", "{'descr': '|b1', 'fortran_order': 'no', 'shape': (3,)}", LOSS,
       "True or False", "byte"},
      {"quote.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}", LOSS, "malformed",
       "byte"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = npy_bytes(buf, 1, bad[i].dict, zeros, 12, NULL);
    expect_error(deft_npy_read, bad[i].name, buf, n, false, bad[i].code,
                 KW(bad[i].kw1, bad[i].kw2), __LINE__);
  }
  /* Data: truncated, trailing, invalid bool. Offsets computed from the header built here. */
  char kw[64];
  n = npy_bytes(buf, 1, HDR("<f4", "(28, 28)"), zeros, 100, &at);
  snprintf(kw, sizeof kw, "truncated data at byte %zu", at);
  NPY_ERROR("cutdata.npy", buf, n, LOSS, kw, "expected 3136 bytes, got 100");
  n = npy_bytes(buf, 1, HDR("<i8", "(2,)"), zeros, 20, &at);
  snprintf(kw, sizeof kw, "4 trailing bytes after the data at byte %zu", at + 16);
  NPY_ERROR("trail.npy", buf, n, LOSS, kw);
  n = npy_bytes(buf, 1, HDR("|b1", "(3,)"), "\x01\x00\x02", 3, &at);
  snprintf(kw, sizeof kw, "invalid bool value 2 at byte %zu", at + 2);
  NPY_ERROR("badbool.npy", buf, n, LOSS, kw);
#undef HDR
  char path[512];
  tpath(path, "missing.npy");
  FAILS(deft_npy_read(path, s), DEFT_NOT_FOUND, path);
}
END_TEST

START_TEST(npy_write_errors) {
  deft_tensor *t = deft_tensor_scalar_float(1.0f), *str = deft_tensor_scalar_string("hi");
  char path[512], tmp[600];
  tpath(path, "no_such_dir/x.npy");
  FAILS(deft_npy_write(path, t, s), DEFT_NOT_FOUND, path);
  tpath(path, "plainfile"); /* a directory component that is a regular file */
  write_file(path, "x", 1, false);
  tpath(path, "plainfile/x.npy");
  FAILS(deft_npy_write(path, t, s), DEFT_NOT_FOUND, path);
  /* The rename fails (the target is a non-empty directory): the temporary file is removed. */
  tpath(path, "a_dir");
  mkdir(path, 0755);
  tpath(tmp, "a_dir/inside");
  write_file(tmp, "x", 1, false);
  FAILS(deft_npy_write(path, t, s), DEFT_FAILED_PRECONDITION, path, "rename");
  DIR *dir = opendir(tu_tmpdir());
  ck_assert_ptr_nonnull(dir);
  for (struct dirent *de; (de = readdir(dir));)
    ck_assert_msg(!strstr(de->d_name, "a_dir.tmp"), "%s was left behind", de->d_name);
  closedir(dir);
  if (geteuid() != 0) { /* an unwritable directory (root ignores permissions) */
    tpath(path, "ro_dir");
    mkdir(path, 0555);
    tpath(path, "ro_dir/x.npy");
    FAILS(deft_npy_write(path, t, s), DEFT_FAILED_PRECONDITION, path);
    ck_assert(!exists(path));
  }
  tpath(path, "str.npy");
  ck_assert(deft_tensor_set_string(str, 0, "hi\0", 3, s)); /* |S cannot end in NUL */
  FAILS(deft_npy_write(path, str, s), DEFT_INVALID_ARGUMENT, path, "NUL");
  ck_assert(!exists(path));
  deft_tensor_free(str), deft_tensor_free(t);
}
END_TEST

/* Fails the n-th allocation for n = 0, 1, ... until each call succeeds: every failure must be an
 * error status (never a crash), and the sanitizer build checks that nothing leaks. */
START_TEST(out_of_memory_paths) {
  static unsigned char buf[BIG], px[2 * 784];
  char dir[512], path[600], npy[512];
  tpath(dir, "mnist_oom");
  mkdir(dir, 0755);
  uint32_t idims[3] = {2, 28, 28}, ldims[1] = {2};
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  write_file(path, buf, idx_bytes(buf, 0x08, 3, idims, px, sizeof px), true);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
  write_file(path, buf, idx_bytes(buf, 0x08, 1, ldims, "\x01\x02", 2), false);
  tpath(npy, "oom.npy");
  for (int which = 0; which < 4; which++) {
    bool done = false;
    for (long n = 0; !done && n < 1000; n++) {
      deft_alloc_fail_after(n);
      deft_tensor *a = NULL, *b = NULL;
      const deft_tensor *xb, *yb;
      if (which == 0) {
        done = deft_mnist_load(dir, false, NULL, NULL, &a, &b, s);
      } else if (which == 1) {
        a = deft_tensor_new(DEFT_DOUBLE, DIMS(3, 4), 2, s);
        done = a && deft_npy_write(npy, a, s);
      } else if (which == 2) {
        done = (a = deft_npy_read(npy, s)) != NULL;
      } else {
        a = deft_tensor_new(DEFT_UINT8, DIMS(5, 3), 2, s);
        b = a ? deft_tensor_new(DEFT_INT32, DIMS(5), 1, s) : NULL;
        deft_batcher *bt = b ? deft_batcher_new(a, b, 2, 1, s) : NULL;
        deft_batch_result r1 = bt ? deft_batcher_next(bt, &xb, &yb, s) : DEFT_BATCH_ERROR;
        deft_batch_result r2 =
            r1 == DEFT_BATCH_READY ? deft_batcher_next(bt, &xb, &yb, s) : DEFT_BATCH_ERROR;
        done = r2 == DEFT_BATCH_READY;
        /* an allocation failure is an error, never the end of the epoch */
        ck_assert(r1 != DEFT_BATCH_END && r2 != DEFT_BATCH_END);
        deft_batcher_free(bt);
      }
      deft_alloc_fail_after(-1);
      if (!done) TU_ASSERT_STATUS(s, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      deft_tensor_free(a), deft_tensor_free(b);
    }
    ck_assert_msg(done, "case %d never succeeded", which);
  }
}
END_TEST

/* ---- slices and images ---- */

START_TEST(slice_rows) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, DIMS(5, 2, 3), 3, s);
  fill(t); /* element i = i * 0.5 - 3 */
  deft_tensor *r = deft_tensor_slice_rows(t, 1, 4, s);
  ASSERT_SHAPE(r, DEFT_FLOAT, 3, 2, 3);
  for (int i = 0; i < 18; i++) ck_assert(deft_tensor_get_double(r, i) == (6 + i) * 0.5 - 3);
  deft_tensor_free(r);
  r = deft_tensor_slice_rows(t, 5, 5, s);
  ASSERT_SHAPE(r, DEFT_FLOAT, 0, 2, 3);
  deft_tensor_free(r);
  const int64_t bad[3][2] = {{-1, 2}, {2, 6}, {3, 2}};
  for (int i = 0; i < 3; i++)
    FAILS(deft_tensor_slice_rows(t, bad[i][0], bad[i][1], s), DEFT_INVALID_ARGUMENT,
          "out of bounds", "size 5");
  deft_tensor *sc = deft_tensor_scalar_int32(3);
  FAILS(deft_tensor_slice_rows(sc, 0, 1, s), DEFT_INVALID_ARGUMENT, "scalar");
  deft_tensor *str = deft_tensor_new(DEFT_STRING, DIMS(3), 1, s);
  deft_tensor_set_string(str, 2, "two", 3, s);
  r = deft_tensor_slice_rows(str, 1, 3, s);
  ck_assert_str_eq(deft_tensor_string(r, 0, NULL), "");
  ck_assert_str_eq(deft_tensor_string(r, 1, NULL), "two");
  deft_tensor_free(r), deft_tensor_free(str), deft_tensor_free(sc), deft_tensor_free(t);
}
END_TEST

/* Rows that start on a 64-byte boundary are shared, not copied; others are copied. A shared
 * slice outlives its source, slices of slices point into the owning block, and a shared slice is
 * never written in place even when nothing else holds it (an overlapping slice would change). */
START_TEST(slice_rows_shares_aligned_rows) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, DIMS(64, 4), 2, s); /* 16-byte rows */
  float *td = deft_tensor_data(t);
  for (int i = 0; i < 256; i++) td[i] = (float)i;
  deft_tensor *a = deft_tensor_slice_rows(t, 8, 40, s); /* byte 128: shared */
  deft_tensor *b = deft_tensor_slice_rows(t, 1, 3, s);  /* byte 16: copied */
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_eq(a->buf->data, td + 32);
  ck_assert_ptr_ne(b->buf->data, td + 4);
  ck_assert_uint_eq((uintptr_t)b->buf->data % 64, 0);
  for (int i = 0; i < 8; i++) ck_assert(deft_tensor_get_double(b, i) == 4 + i);
  deft_tensor *c = deft_tensor_slice_rows(a, 4, 12, s); /* byte 64 of a = byte 192 of t */
  deft_tensor *d = deft_tensor_slice_rows(t, 12, 20, s); /* overlaps c exactly */
  ck_assert_ptr_eq(c->buf->data, td + 48);
  ck_assert_ptr_eq(c->buf->base, t->buf);
  deft_tensor_free(t), deft_tensor_free(a), deft_tensor_free(b);
  ASSERT_SHAPE(c, DEFT_FLOAT, 8, 4);
  for (int i = 0; i < 32; i++) ck_assert(deft_tensor_get_double(c, i) == 48 + i);
  ck_assert_int_eq(c->buf->refcount, 1);
  ck_assert(deft_tensor_make_unique(c, s)); /* must copy: d reads the same bytes */
  ck_assert_ptr_ne(c->buf->data, d->buf->data);
  ((float *)deft_tensor_data(c))[0] = -1.0f;
  ck_assert(deft_tensor_get_double(d, 0) == 48.0);
  deft_tensor_free(c), deft_tensor_free(d);
  /* out of memory at either allocation of a shared slice: a clean error, nothing leaked */
  deft_tensor *u = deft_tensor_new(DEFT_UINT8, DIMS(4, 64), 2, s);
  for (long k = 0;; k++) {
    deft_alloc_fail_after(k);
    deft_tensor *r = deft_tensor_slice_rows(u, 1, 4, s);
    deft_alloc_fail_after(-1);
    if (r) {
      ck_assert_ptr_eq(r->buf->data, (uint8_t *)u->buf->data + 64);
      deft_tensor_free(r);
      ck_assert_int_ge(k, 2);
      break;
    }
    TU_ASSERT_STATUS(s, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_status_clear(s);
  }
  deft_tensor_free(u);
}
END_TEST

/* A shared slice fed to a session: the run reads it like any tensor and leaves the storage it
 * shares with its source alone, run after run (the executor's buffer reuse never takes it). */
START_TEST(shared_slice_feeds_a_session) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, DIMS(16, 16), 2, s); /* 64-byte rows */
  float *td = deft_tensor_data(t);
  for (int i = 0; i < 256; i++) td[i] = (float)i;
  deft_tensor *v = deft_tensor_slice_rows(t, 4, 8, s);
  ck_assert_ptr_eq(v->buf->data, td + 64); /* shared, not copied */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, DIMS(-1, 16)), "x");
  deft_output y = deft_neg(g, deft_relu(g, x, NULL), NULL); /* unary ops may run in place */
  ck_assert(deft_graph_ok(g));
  deft_session *sess = deft_session_new(g, s);
  for (int run = 0; run < 3; run++) {
    deft_tensor *out = NULL;
    ck_assert_msg(
        deft_session_run(sess, &x, (const deft_tensor *const[]){v}, 1, &y, &out, 1, NULL, 0, s),
        "%s", deft_status_message(s));
    ck_assert_int_eq(out->n, 64);
    for (int i = 0; i < 64; i++) ck_assert(deft_tensor_f32(out)[i] == -(float)(64 + i));
    deft_tensor_free(out);
  }
  for (int i = 0; i < 256; i++) ck_assert(td[i] == (float)i);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_tensor_free(t); /* the slice outlives its source */
  ck_assert(deft_tensor_get_double(v, 63) == 127.0);
  deft_tensor_free(v);
}
END_TEST

START_TEST(images_to_float) {
  deft_tensor *u = deft_tensor_new(DEFT_UINT8, DIMS(4, 8, 8), 3, s);
  for (int i = 0; i < 256; i++) ((uint8_t *)deft_tensor_data(u))[i] = (uint8_t)i;
  deft_tensor *f = deft_images_to_float(u, s);
  ASSERT_SHAPE(f, DEFT_FLOAT, 4, 64);
  const float *p = deft_tensor_data(f);
  /* float(v / 255.0) in double is the correctly rounded float32 quotient. */
  for (int i = 0; i < 256; i++) ck_assert(p[i] == (float)(i / 255.0));
  ck_assert(p[0] == 0.0f && p[255] == 1.0f && p[51] == 0.2f);
  deft_tensor_free(f);
  deft_tensor *fl = deft_tensor_new(DEFT_FLOAT, DIMS(2, 2), 2, s);
  FAILS(deft_images_to_float(fl, s), DEFT_INVALID_ARGUMENT, "uint8", "float");
  deft_tensor *v = deft_tensor_new(DEFT_UINT8, DIMS(4), 1, s);
  FAILS(deft_images_to_float(v, s), DEFT_INVALID_ARGUMENT, "[4]");
  deft_tensor_free(v), deft_tensor_free(fl), deft_tensor_free(u);
}
END_TEST

/* ---- the batcher ---- */

/* Runs one epoch of a batcher over x = row index (int32, [rows, 1]) and y = 2 * row index,
 * checking batch sizes against `sizes` and that every row appears exactly once; the visiting
 * order goes to `order` (rows entries). */
static void run_epoch(deft_batcher *b, int64_t rows, const int64_t *sizes, int64_t *order) {
  int64_t pos = 0, k = 0;
  char *seen = calloc((size_t)rows, 1);
  const deft_tensor *xb, *yb;
  deft_batch_result r;
  while ((r = deft_batcher_next(b, &xb, &yb, s)) == DEFT_BATCH_READY) {
    ASSERT_SHAPE(xb, DEFT_INT32, sizes[k], 1);
    ASSERT_SHAPE(yb, DEFT_INT32, sizes[k]);
    const int32_t *x = deft_tensor_data(xb), *y = deft_tensor_data(yb);
    int64_t bad = 0;
    for (int64_t i = 0; i < sizes[k]; i++) {
      bool fine = x[i] >= 0 && x[i] < rows && !seen[x[i]] && y[i] == 2 * x[i];
      if (fine) seen[x[i]] = 1, order[pos++] = x[i];
      bad += !fine;
    }
    ck_assert_msg(bad == 0, "batch %" PRId64 ": %" PRId64 " bad rows", k, bad);
    k++;
  }
  ck_assert(deft_status_ok(s) && r == DEFT_BATCH_END);
  ck_assert_int_eq(k, deft_batcher_num_batches(b));
  ck_assert_int_eq(pos, rows);
  free(seen);
}

static void index_tensors(int64_t rows, deft_tensor **x, deft_tensor **y) {
  *x = deft_tensor_new(DEFT_INT32, DIMS(rows, 1), 2, NULL);
  *y = deft_tensor_new(DEFT_INT32, DIMS(rows), 1, NULL);
  for (int64_t i = 0; i < rows; i++) {
    ((int32_t *)deft_tensor_data(*x))[i] = (int32_t)i;
    ((int32_t *)deft_tensor_data(*y))[i] = (int32_t)(2 * i);
  }
}

START_TEST(batcher_epochs) {
  deft_tensor *x, *y;
  index_tensors(55000, &x, &y); /* 55000 rows, batch 200: 275 batches of 200 */
  int64_t sizes[275], *o1 = malloc(55000 * 8), *o2 = malloc(55000 * 8), *o3 = malloc(55000 * 8);
  for (int i = 0; i < 275; i++) sizes[i] = 200;
  deft_batcher *b = deft_batcher_new(x, y, 200, 42, s), *same = deft_batcher_new(x, y, 200, 42, s);
  deft_batcher *other = deft_batcher_new(x, y, 200, 43, s);
  ck_assert_int_eq(deft_batcher_num_batches(b), 275);
  run_epoch(b, 55000, sizes, o1);
  run_epoch(b, 55000, sizes, o2); /* the next epoch is reshuffled */
  ck_assert(memcmp(o1, o2, 55000 * 8) != 0);
  run_epoch(same, 55000, sizes, o3); /* same seed: same sequence */
  ck_assert(memcmp(o1, o3, 55000 * 8) == 0);
  run_epoch(same, 55000, sizes, o3);
  ck_assert(memcmp(o2, o3, 55000 * 8) == 0);
  run_epoch(other, 55000, sizes, o3);
  ck_assert(memcmp(o1, o3, 55000 * 8) != 0);
  int64_t fixed = 0;
  for (int i = 0; i < 55000; i++) fixed += o1[i] == i;
  ck_assert_int_lt(fixed, 20); /* a shuffle, not the identity */
  /* In order: every epoch is the identity, and the random sequence is not advanced meanwhile. */
  deft_batcher *ord = deft_batcher_new(x, y, 200, 42, s);
  deft_batcher_set_shuffle(ord, false);
  for (int e = 0; e < 2; e++) {
    run_epoch(ord, 55000, sizes, o3);
    for (int i = 0; i < 55000; i++) ck_assert_int_eq(o3[i], i);
  }
  deft_batcher_set_shuffle(ord, true);
  run_epoch(ord, 55000, sizes, o3);
  ck_assert(memcmp(o1, o3, 55000 * 8) == 0);
  deft_batcher_free(ord);
  deft_batcher_free(b), deft_batcher_free(same), deft_batcher_free(other);
  deft_tensor_free(x), deft_tensor_free(y);
  /* array_split, worked by hand: n = rows / batch batches, the first rows % n one row larger. */
  struct { int64_t rows, batch, n, sizes[7]; } splits[] = {
      {10, 3, 3, {4, 3, 3}}, {7, 7, 1, {7}}, {7, 1, 7, {1, 1, 1, 1, 1, 1, 1}}, {11, 4, 2, {6, 5}},
      {11, 3, 3, {4, 4, 3}}};
  for (int c = 0; c < 5; c++) {
    index_tensors(splits[c].rows, &x, &y);
    b = deft_batcher_new(x, y, splits[c].batch, 7, s);
    ck_assert_int_eq(deft_batcher_num_batches(b), splits[c].n);
    for (int e = 0; e < 3; e++) run_epoch(b, splits[c].rows, splits[c].sizes, o1);
    deft_batcher_free(b), deft_tensor_free(x), deft_tensor_free(y);
  }
  free(o1), free(o2), free(o3);
}
END_TEST

/* deft_batcher_set_threadpool: the gather split over a pool's threads (2, and 1) gives every
 * batch the bytes one thread gives, each row pixel / 255 of the row its label names. */
START_TEST(batcher_gathers_over_threadpool) {
  enum { ROWS = 1000, PX = 784 };
  deft_tensor *x = deft_tensor_new(DEFT_UINT8, DIMS(ROWS, PX), 2, s);
  deft_tensor *y = deft_tensor_new(DEFT_INT32, DIMS(ROWS), 1, s);
  uint8_t *xp = deft_tensor_data(x);
  for (int r = 0; r < ROWS; r++) {
    ((int32_t *)deft_tensor_data(y))[r] = r;
    for (int c = 0; c < PX; c++) xp[r * PX + c] = (uint8_t)((r * 31 + c * 7) % 256);
  }
  deft_threadpool *pools[2] = {deft_threadpool_new(2, s), deft_threadpool_new(1, s)};
  ck_assert(pools[0] && pools[1]);
  for (int p = 0; p < 2; p++) {
    deft_batcher *one = deft_batcher_new(x, y, 200, 3, s);
    deft_batcher *split = deft_batcher_new(x, y, 200, 3, s);
    deft_batcher_set_threadpool(split, pools[p]);
    int batches = 0;
    for (int call = 0; call < 12; call++) { /* two epochs of 5 batches and their ends */
      const deft_tensor *x1, *y1, *x2, *y2;
      deft_batch_result r1 = deft_batcher_next(one, &x1, &y1, s);
      deft_batch_result r2 = deft_batcher_next(split, &x2, &y2, s);
      ck_assert(r1 == r2 && r1 != DEFT_BATCH_ERROR);
      if (r1 != DEFT_BATCH_READY) continue;
      batches++;
      ck_assert(memcmp(deft_tensor_data(x1), deft_tensor_data(x2), deft_tensor_nbytes(x1)) == 0);
      ck_assert(memcmp(deft_tensor_data(y1), deft_tensor_data(y2), deft_tensor_nbytes(y1)) == 0);
      const float *f = deft_tensor_data(x2);
      for (int r = 0; r < 200; r++) {
        int row = ((const int32_t *)deft_tensor_data(y2))[r];
        for (int c = 0; c < PX; c++)
          ck_assert(f[r * PX + c] == (float)((row * 31 + c * 7) % 256) / 255.0f);
      }
    }
    ck_assert_int_eq(batches, 10);
    deft_batcher_free(one);
    deft_batcher_free(split);
  }
  deft_threadpool_free(pools[0]);
  deft_threadpool_free(pools[1]);
  deft_tensor_free(x);
  deft_tensor_free(y);
}
END_TEST

START_TEST(batcher_uint8_reuse_and_uniformity) {
  deft_tensor *x = deft_tensor_new(DEFT_UINT8, DIMS(6, 2), 2, s), *y, *x6, *x3, *y3;
  index_tensors(6, &x6, &y);
  index_tensors(3, &x3, &y3);
  for (int i = 0; i < 12; i++) ((uint8_t *)deft_tensor_data(x))[i] = (uint8_t)(i / 2 * 40 + i % 2);
  deft_batcher *b = deft_batcher_new(x, y, 2, 5, s);
  const deft_tensor *xb, *yb;
  void *first = NULL;
  for (int call = 0; call < 8; call++) { /* 3 batches, end of epoch, 3 batches, end */
    deft_batch_result r = deft_batcher_next(b, &xb, &yb, s);
    bool got = r == DEFT_BATCH_READY;
    ck_assert(deft_status_ok(s) && r == (call % 4 != 3 ? DEFT_BATCH_READY : DEFT_BATCH_END));
    if (!got) continue;
    ASSERT_SHAPE(xb, DEFT_FLOAT, 2, 2);
    if (!first) first = deft_tensor_data(xb);
    ck_assert_ptr_eq(deft_tensor_data(xb), first); /* buffers reused */
    for (int r = 0; r < 2; r++) {
      int row = ((const int32_t *)deft_tensor_data(yb))[r] / 2;
      for (int c = 0; c < 2; c++)
        ck_assert(((const float *)deft_tensor_data(xb))[2 * r + c] ==
                  (float)((row * 40 + c) / 255.0));
    }
  }
  deft_batcher_free(b);
  /* y may be NULL; 3 rows in one batch: all 6 orders about equally often over 6000 epochs. */
  b = deft_batcher_new(x3, NULL, 3, 9, s);
  int counts[9] = {0}, orders = 0;
  for (int e = 0; e < 6000; e++) {
    ck_assert(deft_batcher_next(b, &xb, &yb, s) == DEFT_BATCH_READY && yb == NULL);
    const int32_t *v = deft_tensor_data(xb);
    counts[v[0] * 3 + v[1]]++;
    ck_assert(deft_batcher_next(b, &xb, NULL, s) == DEFT_BATCH_END);
  }
  deft_batcher_free(b);
  for (int i = 0; i < 9; i++) {
    if (!counts[i]) continue;
    orders++;
    ck_assert_msg(counts[i] > 850 && counts[i] < 1150, "order %d seen %d times", i, counts[i]);
  }
  ck_assert_int_eq(orders, 6);
  deft_tensor *y5 = deft_tensor_new(DEFT_INT32, DIMS(5), 1, s), *sc = deft_tensor_scalar_float(1);
  FAILS(deft_batcher_new(x, y5, 2, 1, s), DEFT_INVALID_ARGUMENT, "6 rows", "5");
  FAILS(deft_batcher_new(x, y, 0, 1, s), DEFT_INVALID_ARGUMENT, "batch_size 0");
  FAILS(deft_batcher_new(x, y, 7, 1, s), DEFT_INVALID_ARGUMENT, "batch_size 7", "6");
  FAILS(deft_batcher_new(sc, NULL, 1, 1, s), DEFT_INVALID_ARGUMENT, "rank >= 1");
  deft_tensor_free(sc), deft_tensor_free(y5), deft_tensor_free(x6), deft_tensor_free(x3);
  deft_tensor_free(y3), deft_tensor_free(x), deft_tensor_free(y);
}
END_TEST

static Suite *suite(void) {
  const TTest *tests[] = {mnist_matches_numpy, fashion_mnist_loads, mnist_dir_raw_gz_and_errors,
                          idx_types_raw_and_gzip, idx_errors, truncations_and_flips,
                          npy_round_trips_and_numpy_reads, npy_reads_numpy_files,
                          npy_header_variants, npy_errors, npy_write_errors, out_of_memory_paths,
                          slice_rows, slice_rows_shares_aligned_rows, shared_slice_feeds_a_session,
                          images_to_float, batcher_epochs,
                          batcher_uint8_reuse_and_uniformity, batcher_gathers_over_threadpool};
  Suite *su = suite_create("data");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) tcase_add_test(tc, tests[i]);
  suite_add_tcase(su, tc);
  return su;
}

int main(void) { return tu_run_suite(suite()); }
