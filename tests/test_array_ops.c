/* tests/test_array_ops.c - the array op family (ops/array_ops.c, ops/concat_slice_ops.c): every
 * kernel against hand-computed values or NumPy, static shapes, TF's node names, error paths at
 * build and run time, and each gradient builder against central differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grad_check.h"
#include "graph/graph_internal.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"
#include "testutil.h"

/* The gradient case table is compiled into this suite too, so the gradient builders are checked
 * here directly (tests/test_gradients.c checks them again through deft_gradients). */
#include "grad_cases_array.c"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define F64(...) ((const double[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define B(...) ((const bool[]){__VA_ARGS__})

/* ---- helpers ---- */

static deft_tensor *tensor(deft_dtype dt, const int64_t *dims, int rank, const void *data) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  if (data && deft_tensor_nbytes(t)) memcpy(deft_tensor_data(t), data, deft_tensor_nbytes(t));
  return t;
}

static deft_output cnst(deft_graph *g, deft_dtype dt, const int64_t *dims, int rank,
                        const void *data, const char *name) {
  deft_tensor *t = tensor(dt, dims, rank, data);
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

static deft_output vec_i32(deft_graph *g, const int32_t *v, int n, const char *name) {
  return deft_const_int32_vector(g, v, n, name);
}

static void assert_graph_ok(deft_graph *g) {
  ck_assert_msg(deft_graph_ok(g), "graph error: %s", deft_status_message(deft_graph_status(g)));
}

/* Runs g with feeds and returns the nfetch fetched tensors in out (asserts success). */
static void run_n(deft_graph *g, const deft_output *feeds, deft_tensor *const *vals, int nfeeds,
                  const deft_output *fetches, deft_tensor **out, int nfetch) {
  assert_graph_ok(g);
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  ck_assert_ptr_nonnull(sess);
  bool ok = deft_session_run(sess, feeds, tu_feeds(vals), nfeeds, fetches, out, nfetch, NULL, 0, s);
  ck_assert_msg(ok, "run failed: %s", deft_status_message(s));
  deft_session_free(sess);
  deft_status_free(s);
}

static deft_tensor *run1(deft_graph *g, deft_output fetch) {
  deft_tensor *t = NULL;
  run_n(g, NULL, NULL, 0, &fetch, &t, 1);
  return t;
}

static deft_tensor *run_fed(deft_graph *g, deft_output fetch, const deft_output *feeds,
                            deft_tensor *const *vals, int n) {
  deft_tensor *t = NULL;
  run_n(g, feeds, vals, n, &fetch, &t, 1);
  return t;
}

/* Runs g expecting failure; returns the status (caller frees). */
static deft_status *run_fail(deft_graph *g, deft_output fetch, const deft_output *feeds,
                             deft_tensor *const *vals, int n) {
  assert_graph_ok(g);
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  ck_assert_ptr_nonnull(sess);
  deft_tensor *t = NULL;
  ck_assert(!deft_session_run(sess, feeds, tu_feeds(vals), n, &fetch, &t, 1, NULL, 0, s));
  ck_assert_ptr_null(t);
  deft_session_free(sess);
  return s;
}

static void expect_shape(const deft_tensor *t, const int64_t *dims, int rank) {
  char a[128], b[128];
  deft_shape want = deft_shape_make(rank, dims);
  ck_assert_msg(t->rank == rank && (rank == 0 || !memcmp(t->dims, dims, sizeof(int64_t) * rank)),
                "shape %s, want %s", deft_shape_format(deft_tensor_shape(t), a, sizeof a),
                deft_shape_format(want, b, sizeof b));
}

static void expect_static(deft_output o, const int64_t *dims, int rank) {
  char a[128], b[128];
  deft_shape s = deft_output_shape(o), want = deft_shape_make(rank, dims);
  bool same = s.rank == rank;
  for (int i = 0; same && i < rank; i++) same = s.dims[i] == dims[i];
  ck_assert_msg(same, "static shape %s, want %s", deft_shape_format(s, a, sizeof a),
                deft_shape_format(want, b, sizeof b));
}

/* Checks dtype, shape and every element (exact), then frees t. */
static void expect(deft_tensor *t, deft_dtype dt, const int64_t *dims, int rank,
                   const void *values) {
  ck_assert_ptr_nonnull(t);
  ck_assert_msg(t->dtype == dt, "dtype %s, want %s", deft_dtype_name(t->dtype),
                deft_dtype_name(dt));
  expect_shape(t, dims, rank);
  for (int64_t i = 0; i < t->n; i++) {
    double got = deft_tensor_get_double(t, i), want = 0;
    switch (dt) {
      case DEFT_FLOAT: want = ((const float *)values)[i]; break;
      case DEFT_DOUBLE: want = ((const double *)values)[i]; break;
      case DEFT_INT32: want = ((const int32_t *)values)[i]; break;
      case DEFT_INT64: want = (double)((const int64_t *)values)[i]; break;
      case DEFT_BOOL: want = ((const bool *)values)[i]; break;
      default: ck_abort_msg("unexpected dtype");
    }
    ck_assert_msg(got == want, "element %lld = %g, want %g", (long long)i, got, want);
  }
  deft_tensor_free(t);
}

static void expect_graph_error(deft_graph *g, const char *const *keywords) {
  tu_assert_status(deft_graph_status(g), DEFT_INVALID_ARGUMENT, keywords, __FILE__, __LINE__);
}
#define EXPECT_BUILD_ERROR(g, ...) \
  expect_graph_error((g), (const char *const[]){__VA_ARGS__, NULL})

/* ---- NumPy cross-checks ---- */

static void write_npy(const char *path, const deft_tensor *t) {
  const char *descr = t->dtype == DEFT_FLOAT    ? "<f4"
                      : t->dtype == DEFT_DOUBLE ? "<f8"
                      : t->dtype == DEFT_INT32  ? "<i4"
                      : t->dtype == DEFT_INT64  ? "<i8"
                                                : "|b1";
  char shape[256];
  size_t pos = (size_t)snprintf(shape, sizeof shape, "(");
  for (int i = 0; i < t->rank; i++)
    pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "%lld,", (long long)t->dims[i]);
  snprintf(shape + pos, sizeof shape - pos, ")");
  char header[512];
  int len = snprintf(header, sizeof header,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  uint16_t hl = (uint16_t)(len + pad + 1);
  fwrite(&hl, 2, 1, f);
  fwrite(header, 1, (size_t)len, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  if (deft_tensor_nbytes(t)) fwrite(deft_tensor_data(t), 1, deft_tensor_nbytes(t), f);
  fclose(f);
}

/* Saves ts[0..n) as a[0..n) and checks with NumPy that `expr` (over a) equals a[n-1] (deft's
 * result): same shape, dtype and values. */
static void numpy_check(const char *expr, deft_tensor *const *ts, int n) {
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  char paths[8][512];
  const char *args[9];
  for (int i = 0; i < n; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/np-%d-%d.npy", tu_tmpdir(), (int)getpid(), i);
    write_npy(paths[i], ts[i]);
    args[i] = paths[i];
  }
  args[n] = NULL;
  char script[2048];
  snprintf(script, sizeof script,
           "import sys\nimport numpy as np\n"
           "a = [np.load(p) for p in sys.argv[1:]]\n"
           "got = a[-1]\n"
           "want = np.asarray(%s)\n"
           "ok = got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, "
           "want)\n"
           "if not ok:\n"
           "    print('deft:', got.dtype, got.shape, got, '\\nnumpy:', want.dtype, want.shape, "
           "want, file=sys.stderr)\n"
           "sys.exit(0 if ok else 1)\n",
           expr);
  ck_assert_msg(tu_python(script, args) == 0, "NumPy disagrees with deft on %s", expr);
  for (int i = 0; i < n; i++) remove(paths[i]);
}

/* A float32 tensor 0, 1, 2, ... of the given shape, plus `offset`. */
static deft_tensor *iota_f32(const int64_t *dims, int rank, float offset) {
  deft_tensor *t = tensor(DEFT_FLOAT, dims, rank, NULL);
  for (int64_t i = 0; i < t->n; i++) deft_tensor_f32(t)[i] = (float)i + offset;
  return t;
}

/* ---- Shape, Size, Rank ---- */

START_TEST(shape_size_rank) {
  deft_graph *g = deft_graph_new();
  deft_output z = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2, 0, 3), 0, "z");
  deft_output s = deft_shape_of(g, z, NULL), n = deft_size(g, z, NULL), r = deft_rank(g, z, NULL);
  ck_assert_str_eq(deft_op_name(s.op), "Shape");
  expect_static(s, D(3), 1);
  expect_static(n, NULL, 0);
  expect(run1(g, s), DEFT_INT32, D(3), 1, I32(2, 0, 3));
  expect(run1(g, n), DEFT_INT32, NULL, 0, I32(0));
  expect(run1(g, r), DEFT_INT32, NULL, 0, I32(3));
  /* rank 0 */
  deft_output c = deft_const_double(g, 2.5, "c");
  expect(run1(g, deft_shape_of(g, c, NULL)), DEFT_INT32, D(0), 1, NULL);
  expect(run1(g, deft_size(g, c, NULL)), DEFT_INT32, NULL, 0, I32(1));
  expect(run1(g, deft_rank(g, c, NULL)), DEFT_INT32, NULL, 0, I32(0));
  /* out_type int64 */
  deft_op_builder *b = deft_op_builder_new(g, "Shape", "s64");
  deft_op_builder_add_input(b, z);
  deft_op_builder_set_attr_type(b, "out_type", DEFT_INT64);
  deft_output s64 = deft_op_output(deft_op_builder_finish(b), 0);
  expect(run1(g, s64), DEFT_INT64, D(3), 1, I64(2, 0, 3));
  b = deft_op_builder_new(g, "Size", "n64");
  deft_op_builder_add_input(b, z);
  deft_op_builder_set_attr_type(b, "out_type", DEFT_INT64);
  expect(run1(g, deft_op_output(deft_op_builder_finish(b), 0)), DEFT_INT64, NULL, 0, I64(0));
  /* partial input shape: Shape's length is known from the rank */
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 4), "p");
  deft_output ps = deft_shape_of(g, p, NULL);
  expect_static(ps, D(2), 1);
  deft_tensor *pv = iota_f32(D(3, 4), 2, 0);
  expect(run_fed(g, ps, &p, &pv, 1), DEFT_INT32, D(2), 1, I32(3, 4));
  deft_tensor_free(pv);
  deft_graph_free(g);
}
END_TEST

/* ---- Reshape ---- */

START_TEST(reshape_values_names_and_no_copy) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(2, 3), 2, 0);
  deft_output x = deft_const(g, xv, "x");
  deft_output r = deft_reshape_to(g, x, D(3, 2), 2, NULL);
  ck_assert_str_eq(deft_op_name(r.op), "Reshape");
  ck_assert_str_eq(deft_op_name(deft_op_input(r.op, 1).op), "Reshape/shape");
  expect_static(r, D(3, 2), 2);
  /* The kernel forwards the buffer: fetched together, both share the data. */
  deft_output both[2] = {x, r};
  deft_tensor *out[2];
  run_n(g, NULL, NULL, 0, both, out, 2);
  ck_assert_ptr_eq(deft_tensor_data(out[0]), deft_tensor_data(out[1]));
  expect(out[0], DEFT_FLOAT, D(2, 3), 2, F32(0, 1, 2, 3, 4, 5));
  expect(out[1], DEFT_FLOAT, D(3, 2), 2, F32(0, 1, 2, 3, 4, 5));
  /* a second default-named reshape gets its own scope */
  deft_output r1 = deft_reshape_to(g, x, D(-1, 2), 2, NULL);
  ck_assert_str_eq(deft_op_name(r1.op), "Reshape_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(r1.op, 1).op), "Reshape_1/shape");
  expect_static(r1, D(3, 2), 2); /* -1 inferred at build time */
  expect(run1(g, r1), DEFT_FLOAT, D(3, 2), 2, F32(0, 1, 2, 3, 4, 5));
  deft_output rn = deft_reshape_to(g, x, D(6), 1, "flat");
  ck_assert_str_eq(deft_op_name(rn.op), "flat");
  ck_assert_str_eq(deft_op_name(deft_op_input(rn.op, 1).op), "flat/shape");
  /* int64 shape tensor */
  deft_output s64 = cnst(g, DEFT_INT64, D(2), 1, I64(6, 1), "s64");
  deft_output r64 = deft_reshape(g, x, s64, NULL);
  ck_assert_int_eq(deft_output_dtype(deft_op_input(r64.op, 1)), DEFT_INT64);
  expect(run1(g, r64), DEFT_FLOAT, D(6, 1), 2, F32(0, 1, 2, 3, 4, 5));
  /* rank 0 <-> [1,1,1] and zero-sized */
  deft_output sc = deft_const_float(g, 7, "sc");
  deft_output r3 = deft_reshape_to(g, sc, D(1, 1, 1), 3, NULL);
  expect(run1(g, r3), DEFT_FLOAT, D(1, 1, 1), 3, F32(7));
  expect(run1(g, deft_reshape_to(g, r3, NULL, 0, NULL)), DEFT_FLOAT, NULL, 0, F32(7));
  deft_output z = deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 3), 0, "z");
  expect(run1(g, deft_reshape_to(g, z, D(3, 0), 2, NULL)), DEFT_DOUBLE, D(3, 0), 2, NULL);
  deft_output zi = deft_reshape_to(g, z, D(-1, 3), 2, NULL);
  expect(run1(g, zi), DEFT_DOUBLE, D(0, 3), 2, NULL);
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

START_TEST(reshape_partial_shapes) {
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 4), "p");
  deft_output r = deft_reshape_to(g, p, D(-1, 2), 2, NULL);
  expect_static(r, D(-1, 2), 2);
  deft_output q = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 8), "q");
  deft_output rq = deft_reshape(g, p, deft_shape_of(g, q, NULL), NULL); /* shape via Shape op */
  expect_static(rq, D(-1, 8), 2);
  deft_output unk = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(3), "unk");
  expect_static(deft_reshape(g, p, unk, NULL), D(-1, -1, -1), 3);
  deft_tensor *pv = iota_f32(D(3, 4), 2, 1);
  expect(run_fed(g, r, &p, &pv, 1), DEFT_FLOAT, D(6, 2), 2,
         F32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
  deft_tensor_free(pv);
  deft_graph_free(g);
}
END_TEST

START_TEST(reshape_errors) {
  /* build time: element count mismatch names both shapes */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), 1, "x");
  ck_assert(!deft_reshape_to(g, x, D(4, 2), 2, "r").op);
  EXPECT_BUILD_ERROR(g, "Reshape 'r'", "[2,3]", "6 elements", "[4,2]", "8 elements");
  deft_graph_clear_error(g);
  ck_assert(!deft_reshape_to(g, x, D(4, -1), 2, "r2").op);
  EXPECT_BUILD_ERROR(g, "Reshape 'r2'", "[2,3]", "[4,-1]", "not a multiple");
  deft_graph_clear_error(g);
  ck_assert(!deft_reshape_to(g, x, D(-1, -1), 2, "r3").op);
  EXPECT_BUILD_ERROR(g, "[-1,-1]", "more than one -1");
  deft_graph_clear_error(g);
  ck_assert(!deft_reshape(g, x, deft_const_int32(g, 6, "scalar_shape"), "r4").op);
  EXPECT_BUILD_ERROR(g, "Reshape 'r4'", "must be a vector");
  deft_graph_free(g);

  /* run time: the message names the fed shape and the requested one */
  g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "p");
  deft_output r = deft_reshape_to(g, p, D(4, 2), 2, "r");
  deft_tensor *pv = iota_f32(D(2, 3), 2, 0);
  deft_status *s = run_fail(g, r, &p, &pv, 1);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "Reshape 'r'", "[2,3]", "6 elements", "[4,2]",
                   "8 elements");
  deft_status_free(s);
  deft_output sh = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2), "sh");
  deft_output r2 = deft_reshape(g, p, sh, "r2");
  deft_tensor *shv = tensor(DEFT_INT32, D(2), 1, I32(-1, -1));
  deft_output feeds[2] = {p, sh};
  deft_tensor *vals[2] = {pv, shv};
  s = run_fail(g, r2, feeds, vals, 2);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "Reshape 'r2'", "[-1,-1]", "only one dimension");
  deft_status_free(s);
  deft_tensor_free(shv);
  shv = tensor(DEFT_INT32, D(2), 1, I32(4, -1));
  vals[1] = shv;
  s = run_fail(g, r2, feeds, vals, 2);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "[2,3]", "[4,-1]", "cannot be inferred");
  deft_status_free(s);
  deft_tensor_free(shv);
  deft_tensor_free(pv);
  deft_graph_free(g);
}
END_TEST

/* ---- Fill, ZerosLike, OnesLike ---- */

START_TEST(fill_values) {
  deft_graph *g = deft_graph_new();
  deft_output f = deft_fill(g, vec_i32(g, I32(2, 3), 2, "dims"), deft_const_float(g, 1.5f, "v"),
                            NULL);
  ck_assert_str_eq(deft_op_name(f.op), "Fill");
  expect_static(f, D(2, 3), 2);
  expect(run1(g, f), DEFT_FLOAT, D(2, 3), 2, F32(1.5, 1.5, 1.5, 1.5, 1.5, 1.5));
  /* index_type int64, int64 values */
  deft_output f64 = deft_fill(g, cnst(g, DEFT_INT64, D(2), 1, I64(2, 1), "d64"),
                              deft_const_int64(g, -7, "v64"), NULL);
  deft_dtype it;
  ck_assert(deft_op_attr_type(f64.op, "index_type", &it));
  ck_assert_int_eq(it, DEFT_INT64);
  expect(run1(g, f64), DEFT_INT64, D(2, 1), 2, I64(-7, -7));
  /* rank 0 and zero-sized */
  expect(run1(g, deft_fill(g, vec_i32(g, NULL, 0, "d0"), deft_const_double(g, 3, "v3"), NULL)),
         DEFT_DOUBLE, NULL, 0, F64(3));
  expect(run1(g, deft_fill(g, vec_i32(g, I32(0, 4), 2, "dz"), deft_const_bool(g, true, "vb"),
                           NULL)),
         DEFT_BOOL, D(0, 4), 2, NULL);
  /* strings are copied */
  deft_tensor *st = run1(g, deft_fill(g, vec_i32(g, I32(3), 1, "ds"),
                                      deft_const_string(g, "ab", "vs"), NULL));
  expect_shape(st, D(3), 1);
  for (int i = 0; i < 3; i++) ck_assert_str_eq(deft_tensor_string(st, i, NULL), "ab");
  deft_tensor_free(st);
  /* dims from a Shape op */
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 2), "p");
  expect_static(deft_fill(g, deft_shape_of(g, p, NULL), deft_const_float(g, 0, "v0"), NULL),
                D(-1, 2), 2);
  deft_graph_free(g);
}
END_TEST

START_TEST(fill_errors) {
  deft_graph *g = deft_graph_new();
  ck_assert(!deft_fill(g, vec_i32(g, I32(2, -3), 2, "dims"), deft_const_float(g, 1, "v"), "f")
                 .op);
  EXPECT_BUILD_ERROR(g, "Fill 'f'", "negative", "-3");
  deft_graph_clear_error(g);
  ck_assert(!deft_fill(g, vec_i32(g, I32(2), 1, "d2"), vec_i32(g, I32(1, 2), 2, "v2"), "f2").op);
  EXPECT_BUILD_ERROR(g, "Fill 'f2'", "value", "must be a scalar", "[2]");
  deft_graph_clear_error(g);
  deft_output d = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "d");
  deft_output f = deft_fill(g, d, deft_const_float(g, 1, "one"), "f3");
  deft_tensor *dv = tensor(DEFT_INT32, D(2), 1, I32(3, -1));
  deft_status *s = run_fail(g, f, &d, &dv, 1);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "Fill 'f3'", "[3,-1]", "negative");
  deft_status_free(s);
  deft_tensor_free(dv);
  deft_graph_free(g);
}
END_TEST

START_TEST(zeros_and_ones_like) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(2, 2), 2, 3);
  deft_output x = deft_const(g, xv, "x");
  deft_output z = deft_zeros_like(g, x, NULL), o = deft_ones_like(g, x, NULL);
  ck_assert_str_eq(deft_op_name(z.op), "zeros_like");
  ck_assert_str_eq(deft_op_type(z.op), "ZerosLike");
  ck_assert_str_eq(deft_op_name(o.op), "ones_like");
  expect(run1(g, z), DEFT_FLOAT, D(2, 2), 2, F32(0, 0, 0, 0));
  expect(run1(g, o), DEFT_FLOAT, D(2, 2), 2, F32(1, 1, 1, 1));
  deft_output i = cnst(g, DEFT_INT64, D(3), 1, I64(5, -5, 9), "i");
  expect(run1(g, deft_zeros_like(g, i, NULL)), DEFT_INT64, D(3), 1, I64(0, 0, 0));
  expect(run1(g, deft_ones_like(g, i, NULL)), DEFT_INT64, D(3), 1, I64(1, 1, 1));
  deft_output b = cnst(g, DEFT_BOOL, D(2), 1, B(true, false), "b");
  expect(run1(g, deft_zeros_like(g, b, NULL)), DEFT_BOOL, D(2), 1, B(false, false));
  expect(run1(g, deft_ones_like(g, b, NULL)), DEFT_BOOL, D(2), 1, B(true, true));
  deft_output e = deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 2), 4, "e");
  expect(run1(g, deft_ones_like(g, e, NULL)), DEFT_DOUBLE, D(0, 2), 2, NULL);
  expect(run1(g, deft_zeros_like(g, deft_const_double(g, 4, "s"), NULL)), DEFT_DOUBLE, NULL, 0,
         F64(0));
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

/* ---- ExpandDims, Squeeze ---- */

START_TEST(expand_dims) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(2, 3), 2, 0);
  deft_output x = deft_const(g, xv, "x");
  const float *v = deft_tensor_f32(xv);
  deft_output e0 = deft_expand_dims(g, x, deft_const_int32(g, 0, "a0"), NULL);
  ck_assert_str_eq(deft_op_name(e0.op), "ExpandDims");
  expect_static(e0, D(1, 2, 3), 3);
  expect(run1(g, e0), DEFT_FLOAT, D(1, 2, 3), 3, v);
  deft_output em1 = deft_expand_dims(g, x, deft_const_int32(g, -1, "am1"), NULL);
  expect_static(em1, D(2, 3, 1), 3);
  expect(run1(g, em1), DEFT_FLOAT, D(2, 3, 1), 3, v);
  deft_output e1 = deft_expand_dims(g, x, deft_const_int64(g, 1, "a1"), NULL);
  expect(run1(g, e1), DEFT_FLOAT, D(2, 1, 3), 3, v);
  deft_output e2 = deft_expand_dims(g, x, deft_const_int32(g, -3, "am3"), NULL);
  expect(run1(g, e2), DEFT_FLOAT, D(1, 2, 3), 3, v);
  deft_output s = deft_const_int32(g, 9, "s");
  expect(run1(g, deft_expand_dims(g, s, deft_const_int32(g, -1, "sa"), NULL)), DEFT_INT32, D(1),
         1, I32(9));
  /* axis from a placeholder: rank known, dims not */
  deft_output ax = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "ax");
  deft_output ep = deft_expand_dims(g, x, ax, NULL);
  expect_static(ep, D(-1, -1, -1), 3);
  deft_tensor *axv = deft_tensor_scalar_int32(2);
  expect(run_fed(g, ep, &ax, &axv, 1), DEFT_FLOAT, D(2, 3, 1), 3, v);
  deft_tensor_free(axv);
  /* errors */
  ck_assert(!deft_expand_dims(g, x, deft_const_int32(g, 3, "bad"), "e").op);
  EXPECT_BUILD_ERROR(g, "ExpandDims 'e'", "dim 3", "[-3, 2]", "[2,3]");
  deft_graph_clear_error(g);
  axv = deft_tensor_scalar_int32(-4);
  deft_status *st = run_fail(g, ep, &ax, &axv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ExpandDims", "dim -4", "out of range");
  deft_status_free(st);
  deft_tensor_free(axv);
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

START_TEST(squeeze) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(1, 2, 1, 3), 4, 0);
  const float *v = deft_tensor_f32(xv);
  deft_output x = deft_const(g, xv, "x");
  deft_output all = deft_squeeze(g, x, NULL, 0, NULL);
  ck_assert_str_eq(deft_op_name(all.op), "Squeeze");
  expect_static(all, D(2, 3), 2);
  expect(run1(g, all), DEFT_FLOAT, D(2, 3), 2, v);
  expect(run1(g, deft_squeeze(g, x, D(0), 1, NULL)), DEFT_FLOAT, D(2, 1, 3), 3, v);
  expect(run1(g, deft_squeeze(g, x, D(-2), 1, NULL)), DEFT_FLOAT, D(1, 2, 3), 3, v);
  expect(run1(g, deft_squeeze(g, x, D(2, 0), 2, NULL)), DEFT_FLOAT, D(2, 3), 2, v);
  deft_output one = deft_const_fill(g, DEFT_INT64, DEFT_SHAPE(1, 1), 5, "one");
  expect(run1(g, deft_squeeze(g, one, NULL, 0, NULL)), DEFT_INT64, NULL, 0, I64(5));
  /* unknown dims and no list: the static shape is unknown */
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 1), "p");
  ck_assert_int_eq(deft_output_shape(deft_squeeze(g, p, NULL, 0, NULL)).rank, -1);
  expect_static(deft_squeeze(g, p, D(1), 1, NULL), D(-1), 1);
  /* errors */
  ck_assert(!deft_squeeze(g, x, D(1), 1, "sq").op);
  EXPECT_BUILD_ERROR(g, "Squeeze 'sq'", "cannot squeeze dimension 1", "[1,2,1,3]",
                     "size is 2");
  deft_graph_clear_error(g);
  ck_assert(!deft_squeeze(g, x, D(4), 1, "sq2").op);
  EXPECT_BUILD_ERROR(g, "Squeeze 'sq2'", "squeeze_dims[0] = 4", "out of range");
  deft_graph_clear_error(g);
  deft_output u = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "u");
  deft_output su = deft_squeeze(g, u, D(0), 1, "sq3");
  deft_tensor *uv = iota_f32(D(2, 2), 2, 0);
  deft_status *st = run_fail(g, su, &u, &uv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Squeeze 'sq3'", "cannot squeeze dimension 0",
                   "[2,2]");
  deft_status_free(st);
  deft_tensor_free(uv);
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

/* ---- Pack, Unpack ---- */

START_TEST(pack) {
  deft_graph *g = deft_graph_new();
  deft_tensor *av = iota_f32(D(2, 3), 2, 0), *bv = iota_f32(D(2, 3), 2, 10);
  deft_output ab[2] = {deft_const(g, av, "a"), deft_const(g, bv, "b")};
  deft_output p0 = deft_pack(g, ab, 2, 0, NULL);
  ck_assert_str_eq(deft_op_name(p0.op), "stack");
  ck_assert_str_eq(deft_op_type(p0.op), "Pack");
  expect_static(p0, D(2, 2, 3), 3);
  expect(run1(g, p0), DEFT_FLOAT, D(2, 2, 3), 3, F32(0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15));
  deft_output p1 = deft_pack(g, ab, 2, 1, NULL);
  expect(run1(g, p1), DEFT_FLOAT, D(2, 2, 3), 3, F32(0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15));
  deft_output pm1 = deft_pack(g, ab, 2, -1, NULL);
  expect_static(pm1, D(2, 3, 2), 3);
  deft_tensor *ts[3] = {av, bv, run1(g, pm1)};
  numpy_check("np.stack([a[0], a[1]], axis=-1)", ts, 3);
  deft_tensor_free(ts[2]);
  ts[2] = run1(g, p1);
  numpy_check("np.stack([a[0], a[1]], axis=1)", ts, 3);
  deft_tensor_free(ts[2]);
  /* scalars, int64, zero-sized */
  deft_output sc[3] = {deft_const_int64(g, 4, "s0"), deft_const_int64(g, 5, "s1"),
                       deft_const_int64(g, 6, "s2")};
  expect(run1(g, deft_pack(g, sc, 3, 0, NULL)), DEFT_INT64, D(3), 1, I64(4, 5, 6));
  deft_output zs[2] = {deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 2), 1, "z0"),
                       deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 2), 1, "z1")};
  expect(run1(g, deft_pack(g, zs, 2, 1, NULL)), DEFT_DOUBLE, D(0, 2, 2), 3, NULL);
  /* errors: mismatched shapes (build and run time), bad axis */
  deft_output bad[2] = {ab[0], deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3, 2), 0, "c")};
  ck_assert(!deft_pack(g, bad, 2, 0, "pk").op);
  EXPECT_BUILD_ERROR(g, "Pack 'pk'", "same shape", "[2,3]", "[3,2]", "input 1");
  deft_graph_clear_error(g);
  ck_assert(!deft_pack(g, ab, 2, 3, "pk2").op);
  EXPECT_BUILD_ERROR(g, "Pack 'pk2'", "axis 3", "[-3, 2]");
  deft_graph_clear_error(g);
  deft_output ph[2] = {deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "p0"),
                       deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "p1")};
  deft_output pp = deft_pack(g, ph, 2, 0, "pk3");
  deft_tensor *cv = iota_f32(D(3), 1, 0);
  deft_tensor *vals[2] = {av, cv};
  deft_status *st = run_fail(g, pp, ph, vals, 2);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Pack 'pk3'", "[2,3]", "input 1 has shape [3]");
  deft_status_free(st);
  deft_tensor_free(cv);
  deft_tensor_free(av);
  deft_tensor_free(bv);
  deft_graph_free(g);
}
END_TEST

START_TEST(unpack) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(2, 3), 2, 0);
  deft_output x = deft_const(g, xv, "x");
  deft_op_builder *b = deft_op_builder_new(g, "Unpack", NULL);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_int(b, "num", 3);
  deft_op_builder_set_attr_int(b, "axis", -1);
  deft_op *u = deft_op_builder_finish(b);
  assert_graph_ok(g);
  ck_assert_int_eq(deft_op_num_outputs(u), 3);
  expect_static(deft_op_output(u, 2), D(2), 1);
  expect(run1(g, deft_op_output(u, 0)), DEFT_FLOAT, D(2), 1, F32(0, 3));
  expect(run1(g, deft_op_output(u, 2)), DEFT_FLOAT, D(2), 1, F32(2, 5));
  b = deft_op_builder_new(g, "Unpack", "bad");
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_int(b, "num", 3);
  ck_assert_ptr_null(deft_op_builder_finish(b));
  EXPECT_BUILD_ERROR(g, "Unpack 'bad'", "num = 3", "[2,3]");
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

/* ---- ConcatV2, ConcatOffset, Slice ---- */

START_TEST(concat) {
  deft_graph *g = deft_graph_new();
  deft_tensor *av = iota_f32(D(2, 3), 2, 0), *bv = iota_f32(D(2, 1), 2, 10),
              *cv = iota_f32(D(1, 3), 2, 20);
  deft_output a = deft_const(g, av, "a"), b = deft_const(g, bv, "b"), c = deft_const(g, cv, "c");
  deft_output ab[2] = {a, b};
  deft_output k1 = deft_concat(g, ab, 2, deft_const_int32(g, 1, "axis"), NULL);
  ck_assert_str_eq(deft_op_name(k1.op), "concat");
  ck_assert_str_eq(deft_op_type(k1.op), "ConcatV2");
  expect_static(k1, D(2, 4), 2);
  expect(run1(g, k1), DEFT_FLOAT, D(2, 4), 2, F32(0, 1, 2, 10, 3, 4, 5, 11));
  deft_output km1 = deft_concat(g, ab, 2, deft_const_int64(g, -1, "axis64"), NULL);
  deft_dtype tidx;
  ck_assert(deft_op_attr_type(km1.op, "Tidx", &tidx));
  ck_assert_int_eq(tidx, DEFT_INT64);
  deft_tensor *ts[4] = {av, bv, run1(g, km1), NULL};
  numpy_check("np.concatenate([a[0], a[1]], axis=-1)", ts, 3);
  deft_tensor_free(ts[2]);
  deft_output aca[3] = {a, c, a};
  deft_output k0 = deft_concat(g, aca, 3, deft_const_int32(g, 0, "axis0"), NULL);
  expect_static(k0, D(5, 3), 2);
  ts[1] = cv;
  ts[2] = av;
  ts[3] = run1(g, k0);
  numpy_check("np.concatenate([a[0], a[1], a[2]], axis=0)", ts, 4);
  deft_tensor_free(ts[3]);
  /* zero-sized input, and a single value (an Identity, as tf.concat) */
  deft_output za[2] = {deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(0, 3), 1, "z"), a};
  expect(run1(g, deft_concat(g, za, 2, deft_const_int32(g, 0, "ax"), NULL)), DEFT_FLOAT,
         D(2, 3), 2, deft_tensor_f32(av));
  deft_output one = deft_concat(g, &a, 1, deft_const_int32(g, 0, "ax1"), NULL);
  ck_assert_str_eq(deft_op_type(one.op), "Identity");
  /* partial shapes */
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "p");
  deft_output pa[2] = {p, a};
  expect_static(deft_concat(g, pa, 2, deft_const_int32(g, 0, "ax2"), NULL), D(-1, 3), 2);
  expect_static(deft_concat(g, pa, 2, deft_const_int32(g, 1, "ax3"), NULL), D(2, 6), 2);
  /* errors */
  ck_assert(!deft_concat(g, ab, 2, deft_const_int32(g, 2, "bad_axis"), "cc").op);
  EXPECT_BUILD_ERROR(g, "ConcatV2 'cc'", "axis 2", "out of range", "[-2, 2)");
  deft_graph_clear_error(g);
  ck_assert(!deft_concat(g, ab, 2, deft_const_int32(g, 0, "axis_0"), "cc2").op);
  EXPECT_BUILD_ERROR(g, "ConcatV2 'cc2'", "every dimension but the axis", "[2,3]", "[2,1]");
  deft_graph_clear_error(g);
  deft_output sc[2] = {deft_const_float(g, 1, "s0"), deft_const_float(g, 2, "s1")};
  ck_assert(!deft_concat(g, sc, 2, deft_const_int32(g, 0, "axis_s"), "cc3").op);
  EXPECT_BUILD_ERROR(g, "ConcatV2 'cc3'", "scalars");
  deft_graph_clear_error(g);
  deft_output ax = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "ax_p");
  deft_output kp = deft_concat(g, ab, 2, ax, "cc4");
  deft_tensor *axv = deft_tensor_scalar_int32(-3);
  deft_status *st = run_fail(g, kp, &ax, &axv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ConcatV2 'cc4'", "axis -3", "out of range");
  deft_status_free(st);
  deft_tensor_free(axv);
  axv = deft_tensor_scalar_int32(0);
  st = run_fail(g, kp, &ax, &axv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ConcatV2 'cc4'", "[2,3]", "[2,1]");
  deft_status_free(st);
  deft_tensor_free(axv);
  deft_tensor_free(av);
  deft_tensor_free(bv);
  deft_tensor_free(cv);
  deft_graph_free(g);
}
END_TEST

START_TEST(concat_offset_and_slice) {
  deft_graph *g = deft_graph_new();
  deft_output shapes[3] = {vec_i32(g, I32(2, 3, 5), 3, "s0"), vec_i32(g, I32(2, 7, 5), 3, "s1"),
                           vec_i32(g, I32(2, 1, 5), 3, "s2")};
  deft_op_builder *b = deft_op_builder_new(g, "ConcatOffset", NULL);
  deft_op_builder_add_input(b, deft_const_int32(g, -2, "dim"));
  deft_op_builder_add_input_list(b, shapes, 3);
  deft_op *off = deft_op_builder_finish(b);
  assert_graph_ok(g);
  expect(run1(g, deft_op_output(off, 0)), DEFT_INT32, D(3), 1, I32(0, 0, 0));
  expect(run1(g, deft_op_output(off, 1)), DEFT_INT32, D(3), 1, I32(0, 3, 0));
  expect(run1(g, deft_op_output(off, 2)), DEFT_INT32, D(3), 1, I32(0, 10, 0));

  deft_tensor *xv = iota_f32(D(3, 4), 2, 0);
  deft_output x = deft_const(g, xv, "x");
  deft_output in[3] = {x, vec_i32(g, I32(1, 1), 2, "begin"), vec_i32(g, I32(2, -1), 2, "size")};
  deft_output sl = deft_build_simple(g, "Slice", NULL, in, 3);
  expect_static(sl, D(2, 3), 2);
  deft_tensor *ts[2] = {xv, run1(g, sl)};
  numpy_check("a[0][1:3, 1:]", ts, 2);
  deft_tensor_free(ts[1]);
  in[1] = cnst(g, DEFT_INT64, D(2), 1, I64(0, 2), "b64");
  in[2] = cnst(g, DEFT_INT64, D(2), 1, I64(0, 2), "s64");
  expect(run1(g, deft_build_simple(g, "Slice", NULL, in, 3)), DEFT_FLOAT, D(0, 2), 2, NULL);
  in[1] = vec_i32(g, I32(2, 3), 2, "b_bad");
  in[2] = vec_i32(g, I32(2, 1), 2, "s_bad");
  ck_assert(!deft_build_simple(g, "Slice", "sl", in, 3).op);
  EXPECT_BUILD_ERROR(g, "Slice 'sl'", "begin 2", "size 2", "size 3");
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

/* ---- Tile ---- */

START_TEST(tile) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xv = iota_f32(D(2, 3), 2, 1);
  deft_output x = deft_const(g, xv, "x");
  static const int32_t mults[4][2] = {{2, 1}, {1, 2}, {2, 3}, {0, 2}};
  static const char *exprs[4] = {"np.tile(a[0], (2, 1))", "np.tile(a[0], (1, 2))",
                                 "np.tile(a[0], (2, 3))", "np.tile(a[0], (0, 2))"};
  for (int i = 0; i < 4; i++) {
    deft_output t = deft_tile(g, x, vec_i32(g, mults[i], 2, "m"), NULL);
    expect_static(t, D(2 * mults[i][0], 3 * mults[i][1]), 2);
    deft_tensor *ts[2] = {xv, run1(g, t)};
    numpy_check(exprs[i], ts, 2);
    deft_tensor_free(ts[1]);
  }
  deft_output t64 = deft_tile(g, x, cnst(g, DEFT_INT64, D(2), 1, I64(1, 2), "m64"), NULL);
  ck_assert_str_eq(deft_op_name(t64.op), "Tile_4");
  expect(run1(g, t64), DEFT_FLOAT, D(2, 6), 2, F32(1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6));
  expect(run1(g, deft_tile(g, deft_const_int32(g, 3, "s"), vec_i32(g, NULL, 0, "m0"), NULL)),
         DEFT_INT32, NULL, 0, I32(3));
  deft_tensor *bv = tensor(DEFT_BOOL, D(1, 2), 2, B(true, false));
  deft_output bo = deft_const(g, bv, "bo");
  deft_tensor *ts[2] = {bv, run1(g, deft_tile(g, bo, vec_i32(g, I32(3, 2), 2, "mb"), NULL))};
  numpy_check("np.tile(a[0], (3, 2))", ts, 2);
  deft_tensor_free(ts[1]);
  deft_tensor_free(bv);
  ck_assert(!deft_tile(g, x, vec_i32(g, I32(2, -1), 2, "mneg"), "tt").op);
  EXPECT_BUILD_ERROR(g, "Tile 'tt'", "multiples[1] = -1", "negative");
  deft_graph_clear_error(g);
  ck_assert(!deft_tile(g, x, vec_i32(g, I32(2), 1, "mshort"), "tt2").op);
  EXPECT_BUILD_ERROR(g, "Tile 'tt2'", "one entry per dimension");
  deft_tensor_free(xv);
  deft_graph_free(g);
}
END_TEST

/* ---- Range ---- */

START_TEST(range) {
  deft_graph *g = deft_graph_new();
  deft_output r = deft_range(g, deft_const_int32(g, 0, "a"), deft_const_int32(g, 10, "b"),
                             deft_const_int32(g, 3, "c"), NULL);
  ck_assert_str_eq(deft_op_name(r.op), "range");
  expect_static(r, D(4), 1);
  expect(run1(g, r), DEFT_INT32, D(4), 1, I32(0, 3, 6, 9));
  expect(run1(g, deft_range(g, deft_const_int32(g, 10, "a"), deft_const_int32(g, 0, "b"),
                            deft_const_int32(g, -3, "c"), NULL)),
         DEFT_INT32, D(4), 1, I32(10, 7, 4, 1));
  expect(run1(g, deft_range(g, deft_const_float(g, 0, "a"), deft_const_float(g, 1, "b"),
                            deft_const_float(g, 0.25f, "c"), NULL)),
         DEFT_FLOAT, D(4), 1, F32(0, 0.25, 0.5, 0.75));
  expect(run1(g, deft_range(g, deft_const_double(g, 1, "a"), deft_const_double(g, -1, "b"),
                            deft_const_double(g, -0.5, "c"), NULL)),
         DEFT_DOUBLE, D(4), 1, F64(1, 0.5, 0, -0.5));
  expect(run1(g, deft_range(g, deft_const_int64(g, 5, "a"), deft_const_int64(g, 5, "b"),
                            deft_const_int64(g, 1, "c"), NULL)),
         DEFT_INT64, D(0), 1, NULL);
  expect(run1(g, deft_range(g, deft_const_int64(g, -3, "a"), deft_const_int64(g, 4, "b"),
                            deft_const_int64(g, 4, "c"), NULL)),
         DEFT_INT64, D(2), 1, I64(-3, 1));
  /* NumPy's arange agrees on a non-trivial float range */
  deft_tensor *ts[1] = {run1(g, deft_range(g, deft_const_double(g, -2, "a"),
                                           deft_const_double(g, 3.1, "b"),
                                           deft_const_double(g, 0.75, "c"), NULL))};
  numpy_check("np.arange(-2.0, 3.1, 0.75)", ts, 1);
  deft_tensor_free(ts[0]);
  /* errors: delta 0 at build time, order at run time */
  ck_assert(!deft_range(g, deft_const_int32(g, 0, "a"), deft_const_int32(g, 4, "b"),
                        deft_const_int32(g, 0, "c"), "rz")
                 .op);
  EXPECT_BUILD_ERROR(g, "Range 'rz'", "delta must not be 0");
  deft_graph_clear_error(g);
  deft_output ph[3] = {deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "s"),
                       deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "l"),
                       deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "d")};
  deft_output rp = deft_range(g, ph[0], ph[1], ph[2], "rp");
  expect_static(rp, D(-1), 1);
  deft_tensor *v[3] = {deft_tensor_scalar_float(0), deft_tensor_scalar_float(5),
                       deft_tensor_scalar_float(0)};
  deft_status *st = run_fail(g, rp, ph, v, 3);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Range 'rp'", "delta must not be 0");
  deft_status_free(st);
  deft_tensor_free(v[2]);
  v[2] = deft_tensor_scalar_float(-1);
  st = run_fail(g, rp, ph, v, 3);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Range 'rp'", "start (0) must be >= limit (5)");
  deft_status_free(st);
  for (int i = 0; i < 3; i++) deft_tensor_free(v[i]);
  deft_graph_free(g);
}
END_TEST

/* ---- DynamicStitch ---- */

START_TEST(dynamic_stitch) {
  /* The example from TF's documentation. */
  deft_graph *g = deft_graph_new();
  deft_output idx[3] = {vec_i32(g, I32(6), 1, "i0"), vec_i32(g, I32(4, 1), 2, "i1"),
                        cnst(g, DEFT_INT32, D(2, 2), 2, I32(5, 2, 0, 3), "i2")};
  deft_output data[3] = {cnst(g, DEFT_FLOAT, D(1, 2), 2, F32(61, 62), "d0"),
                         cnst(g, DEFT_FLOAT, D(2, 2), 2, F32(41, 42, 11, 12), "d1"),
                         cnst(g, DEFT_FLOAT, D(2, 2, 2), 3, F32(51, 52, 21, 22, 1, 2, 31, 32),
                              "d2")};
  deft_output m = deft_dynamic_stitch(g, idx, data, 3, NULL);
  ck_assert_str_eq(deft_op_name(m.op), "DynamicStitch");
  expect_static(m, D(7, 2), 2);
  expect(run1(g, m), DEFT_FLOAT, D(7, 2), 2,
         F32(1, 2, 11, 12, 21, 22, 31, 32, 41, 42, 51, 52, 61, 62));
  /* later indices win; unnamed rows are zero; scalar elements */
  deft_output idx2[2] = {vec_i32(g, I32(0, 3), 2, "j0"), vec_i32(g, I32(3), 1, "j1")};
  deft_output data2[2] = {cnst(g, DEFT_DOUBLE, D(2), 1, F64(1.5, 2.5), "e0"),
                          cnst(g, DEFT_DOUBLE, D(1), 1, F64(9), "e1")};
  expect(run1(g, deft_dynamic_stitch(g, idx2, data2, 2, NULL)), DEFT_DOUBLE, D(4), 1,
         F64(1.5, 0, 0, 9));
  /* errors: a negative index (build and run time), data not matching its indices */
  deft_output neg[1] = {vec_i32(g, I32(1, -2), 2, "neg")};
  deft_output nd[1] = {cnst(g, DEFT_FLOAT, D(2), 1, F32(1, 2), "nd")};
  ck_assert(!deft_dynamic_stitch(g, neg, nd, 1, "ds").op);
  EXPECT_BUILD_ERROR(g, "DynamicStitch 'ds'", "indices[0]", "-2", "out of bounds");
  deft_graph_clear_error(g);
  deft_output pi = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2), "pi");
  deft_output ds = deft_dynamic_stitch(g, &pi, nd, 1, "ds2");
  deft_tensor *piv = tensor(DEFT_INT32, D(2), 1, I32(0, -1));
  deft_status *st = run_fail(g, ds, &pi, &piv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "DynamicStitch 'ds2'", "indices[0][1] = -1",
                   "out of bounds");
  deft_status_free(st);
  deft_tensor_free(piv);
  deft_output bd[1] = {cnst(g, DEFT_FLOAT, D(3), 1, F32(1, 2, 3), "bd")};
  ck_assert(!deft_dynamic_stitch(g, &idx[1], bd, 1, "ds3").op);
  EXPECT_BUILD_ERROR(g, "DynamicStitch 'ds3'", "must start with the shape of indices[0]");
  deft_graph_free(g);
}
END_TEST

/* ---- BroadcastGradientArgs ---- */

static void check_bga(deft_dtype dt, const int64_t *s0, int n0, const int64_t *s1, int n1,
                      const int64_t *r0, int m0, const int64_t *r1, int m1) {
  deft_graph *g = deft_graph_new();
  deft_tensor *ta = tensor(dt, D(n0), 1, NULL), *tb = tensor(dt, D(n1), 1, NULL);
  for (int i = 0; i < n0; i++) {
    if (dt == DEFT_INT32) deft_tensor_i32(ta)[i] = (int32_t)s0[i];
    else deft_tensor_i64(ta)[i] = s0[i];
  }
  for (int i = 0; i < n1; i++) {
    if (dt == DEFT_INT32) deft_tensor_i32(tb)[i] = (int32_t)s1[i];
    else deft_tensor_i64(tb)[i] = s1[i];
  }
  deft_output a = deft_const(g, ta, "a"), b = deft_const(g, tb, "b");
  deft_output r = deft_broadcast_gradient_args(g, a, b, NULL);
  deft_output both[2] = {r, deft_op_output(r.op, 1)};
  deft_tensor *out[2];
  run_n(g, NULL, NULL, 0, both, out, 2);
  int32_t w0[8], w1[8];
  for (int i = 0; i < m0; i++) w0[i] = (int32_t)r0[i];
  for (int i = 0; i < m1; i++) w1[i] = (int32_t)r1[i];
  if (dt == DEFT_INT32) {
    expect(out[0], dt, D(m0), 1, w0);
    expect(out[1], dt, D(m1), 1, w1);
  } else {
    expect(out[0], dt, D(m0), 1, r0);
    expect(out[1], dt, D(m1), 1, r1);
  }
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}

START_TEST(broadcast_gradient_args) {
  /* Values worked out by hand from TF's BCast rule. */
  check_bga(DEFT_INT32, D(2, 3, 5), 3, D(5), 1, NULL, 0, D(0, 1), 2);
  check_bga(DEFT_INT32, D(2, 1, 5), 3, D(3, 1), 2, D(1), 1, D(0, 2), 2);
  check_bga(DEFT_INT64, D(1), 1, D(1), 1, NULL, 0, NULL, 0);   /* identical: nothing */
  check_bga(DEFT_INT64, D(1, 1), 2, D(1), 1, D(0, 1), 2, D(0, 1), 2); /* both 1: both */
  check_bga(DEFT_INT32, D(4, 1), 2, D(1, 1), 2, D(1), 1, D(0, 1), 2);
  check_bga(DEFT_INT64, NULL, 0, D(2, 3), 2, D(0, 1), 2, NULL, 0); /* scalar vs matrix */
  check_bga(DEFT_INT32, D(0, 3), 2, D(1, 3), 2, NULL, 0, D(0), 1);  /* zero-sized batch */

  deft_graph *g = deft_graph_new();
  deft_output r = deft_broadcast_gradient_args(g, vec_i32(g, I32(2, 3), 2, "a"),
                                               vec_i32(g, I32(4), 1, "b"), "bga");
  expect_static(r, D(-1), 1);
  deft_status *st = run_fail(g, r, NULL, NULL, 0);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "BroadcastGradientArgs 'bga'",
                   "incompatible shapes: [2,3] vs. [4]");
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- Select ---- */

START_TEST(select) {
  deft_graph *g = deft_graph_new();
  deft_tensor *tv = iota_f32(D(3, 2), 2, 0), *ev = iota_f32(D(3, 2), 2, 100);
  deft_output t = deft_const(g, tv, "t"), e = deft_const(g, ev, "e");
  deft_tensor *cv = tensor(DEFT_BOOL, D(3, 2), 2, B(true, false, false, true, true, false));
  deft_output c = deft_const(g, cv, "c");
  deft_output s = deft_select(g, c, t, e, NULL);
  ck_assert_str_eq(deft_op_name(s.op), "Select");
  expect_static(s, D(3, 2), 2);
  deft_tensor *ts[4] = {cv, tv, ev, run1(g, s)};
  numpy_check("np.where(a[0], a[1], a[2])", ts, 4);
  deft_tensor_free(ts[3]);
  deft_output rows = deft_select(g, cnst(g, DEFT_BOOL, D(3), 1, B(false, true, false), "cr"), t, e,
                                 NULL);
  expect(run1(g, rows), DEFT_FLOAT, D(3, 2), 2, F32(100, 101, 2, 3, 104, 105));
  deft_output sc = deft_select(g, deft_const_bool(g, false, "cs"), t, e, NULL);
  expect(run1(g, sc), DEFT_FLOAT, D(3, 2), 2, deft_tensor_f32(ev));
  deft_output ints = deft_select(g, cnst(g, DEFT_BOOL, D(2), 1, B(true, false), "ci"),
                                 cnst(g, DEFT_INT64, D(2), 1, I64(1, 2), "ti"),
                                 cnst(g, DEFT_INT64, D(2), 1, I64(-1, -2), "ei"), NULL);
  expect(run1(g, ints), DEFT_INT64, D(2), 1, I64(1, -2));
  deft_output zero = deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 2), 1, "zero");
  expect(run1(g, deft_select(g, cnst(g, DEFT_BOOL, D(0), 1, NULL, "cz"), zero, zero, NULL)),
         DEFT_DOUBLE, D(0, 2), 2, NULL);
  /* errors */
  deft_output e2 = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), 0, "e2");
  ck_assert(!deft_select(g, c, t, e2, "sel").op);
  EXPECT_BUILD_ERROR(g, "Select 'sel'", "incompatible shapes", "[3,2]", "[2,3]");
  deft_graph_clear_error(g);
  ck_assert(!deft_select(g, cnst(g, DEFT_BOOL, D(2), 1, B(true, true), "c2"), t, e, "sel2").op);
  EXPECT_BUILD_ERROR(g, "Select 'sel2'", "condition", "[2]", "[3,2]");
  deft_graph_clear_error(g);
  deft_output pc = deft_placeholder(g, DEFT_BOOL, deft_shape_unknown(), "pc");
  deft_output sp = deft_select(g, pc, t, e, "sel3");
  deft_tensor *pcv = tensor(DEFT_BOOL, D(2, 3), 2, B(true, true, true, true, true, true));
  deft_status *st = run_fail(g, sp, &pc, &pcv, 1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Select 'sel3'", "condition has shape [2,3]",
                   "[3,2]");
  deft_status_free(st);
  deft_tensor_free(pcv);
  deft_tensor_free(tv);
  deft_tensor_free(ev);
  deft_tensor_free(cv);
  deft_graph_free(g);
}
END_TEST

/* ---- string elements are deep-copied by the copying kernels ---- */

static deft_output str_vec(deft_graph *g, const char *const *v, int n, const char *name) {
  int64_t dims[1] = {n};
  deft_tensor *t = deft_tensor_new(DEFT_STRING, dims, 1, NULL);
  for (int i = 0; i < n; i++) ck_assert(deft_tensor_set_string(t, i, v[i], strlen(v[i]), NULL));
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

static void expect_strings(deft_tensor *t, const int64_t *dims, int rank, const char *const *v) {
  expect_shape(t, dims, rank);
  for (int64_t i = 0; i < t->n; i++) ck_assert_str_eq(deft_tensor_string(t, i, NULL), v[i]);
  deft_tensor_free(t);
}

START_TEST(string_elements) {
  deft_graph *g = deft_graph_new();
  deft_output a = str_vec(g, (const char *const[]){"a", "bc"}, 2, "a");
  deft_output b = str_vec(g, (const char *const[]){"", "d"}, 2, "b");
  deft_output ab[2] = {a, b};
  expect_strings(run1(g, deft_concat(g, ab, 2, deft_const_int32(g, 0, "ax"), NULL)), D(4), 1,
                 (const char *const[]){"a", "bc", "", "d"});
  expect_strings(run1(g, deft_pack(g, ab, 2, 1, NULL)), D(2, 2), 2,
                 (const char *const[]){"a", "", "bc", "d"});
  expect_strings(run1(g, deft_tile(g, a, vec_i32(g, I32(2), 1, "m"), NULL)), D(4), 1,
                 (const char *const[]){"a", "bc", "a", "bc"});
  deft_output c = cnst(g, DEFT_BOOL, D(2), 1, B(false, true), "c");
  expect_strings(run1(g, deft_select(g, c, a, b, NULL)), D(2), 1,
                 (const char *const[]){"", "bc"});
  expect_strings(run1(g, deft_zeros_like(g, a, NULL)), D(2), 1, (const char *const[]){"", ""});
  deft_output idx[2] = {vec_i32(g, I32(1, 0), 2, "i0"), vec_i32(g, I32(2), 1, "i1")};
  deft_output data[2] = {a, str_vec(g, (const char *const[]){"z"}, 1, "z")};
  expect_strings(run1(g, deft_dynamic_stitch(g, idx, data, 2, NULL)), D(3), 1,
                 (const char *const[]){"bc", "a", "z"});
  deft_graph_free(g);
}
END_TEST

/* ---- the registry entries ---- */

START_TEST(registry_entries) {
  static const char *types[] = {
      "Shape",  "Size", "Rank",     "Reshape",      "Fill",  "ZerosLike",
      "OnesLike", "ExpandDims", "Squeeze", "Pack", "Unpack", "ConcatV2", "ConcatOffset", "Slice",
      "Tile", "Range", "DynamicStitch", "BroadcastGradientArgs", "Select"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const deft_op_reg *r = deft_registry_lookup(types[i]);
    ck_assert_msg(r != NULL, "%s is not registered", types[i]);
    ck_assert_msg(r->def->kernel != NULL, "%s has no kernel", types[i]);
    bool marked = r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE;
    ck_assert_msg(marked != (r->def->grad != NULL), "%s: gradient xor mark", types[i]);
  }
}
END_TEST

/* ---- gradient builders vs central differences ---- */

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_array_count; i++)
    tu_grad_check(&tu_grad_cases_array[i], TU_GRAD_DIRECT, &rng);
}
END_TEST

START_TEST(gradient_graphs_use_tf_ops) {
  /* Reshape's gradient is Reshape(grad, Shape(input)) under gradients/<op>_grad. */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 6), "x");
  deft_output r = deft_reshape_to(g, x, D(-1, 2, 3), 3, "r");
  deft_output gy = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 2, 3), "gy");
  deft_output dx[2] = {{NULL, 0}, {NULL, 0}};
  deft_graph_push_scope(g, "gradients");
  deft_graph_push_scope(g, "r_grad");
  r.op->reg->def->grad(g, r.op, &gy, dx);
  deft_graph_pop_scope(g);
  deft_graph_pop_scope(g);
  assert_graph_ok(g);
  ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/r_grad/Reshape");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx[0].op, 1).op), "gradients/r_grad/Shape");
  ck_assert_ptr_null(dx[1].op);
  expect_static(dx[0], D(-1, 6), 2);
  /* Select's: zeros_like + two Selects; Pack's: Unpack named unstack */
  deft_output c = deft_placeholder(g, DEFT_BOOL, DEFT_SHAPE(3), "c");
  deft_output s = deft_select(g, c, x, x, "s");
  deft_output ds[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
  deft_output gs = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 6), "gs");
  deft_graph_push_scope(g, "gradients/s_grad/");
  s.op->reg->def->grad(g, s.op, &gs, ds);
  deft_graph_pop_scope(g);
  ck_assert_ptr_null(ds[0].op);
  ck_assert_str_eq(deft_op_name(ds[1].op), "gradients/s_grad/Select");
  ck_assert_str_eq(deft_op_name(ds[2].op), "gradients/s_grad/Select_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(ds[1].op, 2).op), "gradients/s_grad/zeros_like");
  deft_output xs[2] = {x, x};
  deft_output p = deft_pack(g, xs, 2, 0, "p");
  deft_output dp[2] = {{NULL, 0}, {NULL, 0}};
  deft_graph_push_scope(g, "gradients/p_grad/");
  p.op->reg->def->grad(g, p.op, &p, dp);
  deft_graph_pop_scope(g);
  ck_assert_str_eq(deft_op_type(dp[0].op), "Unpack");
  ck_assert_str_eq(deft_op_name(dp[1].op), "gradients/p_grad/unstack");
  ck_assert_int_eq(dp[1].index, 1);
  assert_graph_ok(g);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("array_ops");
  TCase *t = tcase_create("ops");
  tcase_add_test(t, shape_size_rank);
  tcase_add_test(t, reshape_values_names_and_no_copy);
  tcase_add_test(t, reshape_partial_shapes);
  tcase_add_test(t, reshape_errors);
  tcase_add_test(t, fill_values);
  tcase_add_test(t, fill_errors);
  tcase_add_test(t, zeros_and_ones_like);
  tcase_add_test(t, expand_dims);
  tcase_add_test(t, squeeze);
  tcase_add_test(t, pack);
  tcase_add_test(t, unpack);
  tcase_add_test(t, concat);
  tcase_add_test(t, concat_offset_and_slice);
  tcase_add_test(t, tile);
  tcase_add_test(t, range);
  tcase_add_test(t, dynamic_stitch);
  tcase_add_test(t, broadcast_gradient_args);
  tcase_add_test(t, select);
  tcase_add_test(t, string_elements);
  tcase_add_test(t, registry_entries);
  tcase_add_test(t, gradients_match_finite_differences);
  tcase_add_test(t, gradient_graphs_use_tf_ops);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
