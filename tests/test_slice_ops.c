/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_slice_ops.c - the slicing, transpose and gather ops (ops/slice_ops.c,
 * ops/transpose_ops.c, ops/gather_ops.c): every kernel against NumPy (Python slicing, np.split,
 * np.transpose, np.take, fancy indexing, np.add.at), static shapes, TF's node names in the
 * gradient graphs, error paths at build and run time naming the node, and each gradient builder
 * against central differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"

#include "grad_cases_slice.c"

#define I32(...) ((const int32_t[]){__VA_ARGS__})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static void assert_graph_ok(deft_graph *g) {
  ck_assert_msg(deft_graph_ok(g), "graph error: %s", deft_status_message(deft_graph_status(g)));
}

/* An int32 or int64 vector Const (or, with `fed`, a placeholder whose value is stored in *val). */
static deft_output index_vec(deft_graph *g, deft_dtype dt, const int32_t *v, int n,
                             const char *name, bool fed, deft_tensor **val) {
  int64_t dims[1] = {n};
  deft_tensor *t = deft_tensor_new(dt, dims, 1, NULL);
  for (int i = 0; i < n; i++) {
    if (dt == DEFT_INT64) deft_tensor_i64(t)[i] = v[i];
    else deft_tensor_i32(t)[i] = v[i];
  }
  if (fed) {
    *val = t;
    return deft_placeholder(g, dt, DEFT_SHAPE(-1), name);
  }
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

/* An int32 tensor of the given shape. */
static deft_tensor *i32_tensor(const int32_t *v, const int64_t *dims, int rank) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < t->n; i++) deft_tensor_i32(t)[i] = v[i];
  return t;
}

static void expect_shape(deft_output o, const int64_t *dims, int rank) {
  deft_shape s = deft_output_shape(o);
  char a[128];
  ck_assert_msg(s.rank == rank, "%s: static rank %d, want %d", deft_op_name(o.op), s.rank, rank);
  for (int k = 0; k < rank; k++)
    ck_assert_msg(s.dims[k] == dims[k], "%s: static shape %s", deft_op_name(o.op),
                  deft_shape_format(s, a, sizeof a));
}

/* ---- StridedSlice ---- */

typedef struct ss_case {
  const char *index; /* Python's index expression */
  int big;           /* 0: a is [5,6]; 1: a is [4,5,6] */
  int n;
  int32_t b[6], e[6], s[6];
  int bm, em, ellm, nam, sam;
} ss_case;

static const ss_case ss_cases[] = {
    {"1:3, ::-1", 0, 2, {1, 0}, {3, 0}, {1, -1}, 2, 2, 0, 0, 0},
    {"-1", 0, 1, {-1}, {0}, {1}, 0, 0, 0, 0, 1},
    {"4:0:-2, 1:100", 0, 2, {4, 1}, {0, 100}, {-2, 1}, 0, 0, 0, 0, 0},
    {"3:1", 0, 1, {3}, {1}, {1}, 0, 0, 0, 0, 0},
    {"None, :, 2", 0, 3, {0, 0, 2}, {0, 0, 3}, {1, 1, 1}, 2, 2, 0, 1, 4},
    {"-100:-2, ::3", 0, 2, {-100, 0}, {-2, 0}, {1, 3}, 2, 2, 0, 0, 0},
    {"::-1, ::-1", 0, 2, {0, 0}, {0, 0}, {-1, -1}, 3, 3, 0, 0, 0},
    {"1:-1:-1", 0, 1, {1}, {-1}, {-1}, 0, 0, 0, 0, 0},
    {"-2:, -1:-7:-1", 0, 2, {-2, -1}, {0, -7}, {1, -1}, 0, 1, 0, 0, 0},
    {"100:, -3", 0, 2, {100, -3}, {0, -2}, {1, 1}, 0, 1, 0, 0, 2},
    {"1, ..., ::-2", 1, 3, {1, 0, 0}, {2, 0, 0}, {1, 1, -2}, 4, 4, 2, 0, 1},
    {"..., None, 1:3", 1, 3, {0, 0, 1}, {0, 0, 3}, {1, 1, 1}, 0, 0, 1, 2, 0},
    {":, None, ..., None", 1, 4, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1}, 1, 1, 4, 10, 0},
    {"2", 1, 1, {2}, {3}, {1}, 0, 0, 0, 0, 1},
    {"..., 3", 1, 2, {0, 3}, {0, 4}, {1, 1}, 0, 0, 1, 0, 2},
    {"1:3, -1, 4:0:-1", 1, 3, {1, -1, 4}, {3, 0, 0}, {1, 1, -1}, 0, 0, 0, 0, 2},
    {"...", 1, 1, {0}, {0}, {1}, 0, 0, 1, 0, 0},
    {"None", 1, 1, {0}, {0}, {1}, 0, 0, 0, 1, 0},
    {"::2, 1::2, 5:0:-3", 1, 3, {0, 1, 5}, {0, 0, 0}, {2, 2, -3}, 1, 3, 0, 0, 0},
};
#define NSS ((int)(sizeof ss_cases / sizeof ss_cases[0]))

/* Builds the case on x with spec Consts (or placeholders, fed from vals[0..2]). */
static deft_output build_ss_case(deft_graph *g, deft_output x, const ss_case *c, deft_dtype it,
                                 bool fed, deft_tensor **vals, deft_output *ph) {
  deft_output b = index_vec(g, it, c->b, c->n, "begin", fed, &vals[0]);
  deft_output e = index_vec(g, it, c->e, c->n, "end", fed, &vals[1]);
  deft_output s = index_vec(g, it, c->s, c->n, "strides", fed, &vals[2]);
  if (fed) ph[0] = b, ph[1] = e, ph[2] = s;
  return deft_strided_slice(g, x, b, e, s, c->bm, c->em, c->ellm, c->nam, c->sam, "ss");
}

START_TEST(strided_slice_vs_numpy) {
  deft_tensor *a2 = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 6), -3, 3, false, false);
  deft_tensor *a3 = mtu_rand_tensor(DEFT_INT64, DEFT_SHAPE(4, 5, 6), -100, 100, false, false);
  np_case cases[NSS];
  deft_tensor *got[NSS][3];
  memset(cases, 0, sizeof cases);
  for (int i = 0; i < NSS; i++) {
    const ss_case *c = &ss_cases[i];
    deft_tensor *a = c->big ? a3 : a2;
    snprintf(cases[i].expr, sizeof cases[i].expr, "a[%s]", c->index);
    cases[i].nin = 1;
    cases[i].in[0] = a;
    /* static spec (int32, then int64), then the spec fed at run time */
    for (int v = 0; v < 3; v++) {
      deft_graph *g = deft_graph_new();
      deft_output x = deft_placeholder(g, a->dtype, deft_tensor_shape(a), "x");
      deft_tensor *vals[4] = {NULL, NULL, NULL, a};
      deft_output ph[4];
      deft_output y = build_ss_case(g, x, c, v == 1 ? DEFT_INT64 : DEFT_INT32, v == 2, vals, ph);
      assert_graph_ok(g);
      ph[3] = x;
      got[i][v] = v == 2 ? mtu_run_ok(g, y, ph, vals, 4) : mtu_run_ok(g, y, &x, &a, 1);
      if (v < 2) { /* the shape function knows the whole shape */
        deft_shape gs = deft_tensor_shape(got[i][v]);
        expect_shape(y, gs.dims, gs.rank);
      } else {
        for (int k = 0; k < 3; k++) deft_tensor_free(vals[k]);
      }
      deft_graph_free(g);
    }
  }
  mtu_np_run(cases, NSS);
  for (int i = 0; i < NSS; i++) {
    char label[96];
    for (int v = 0; v < 3; v++) {
      snprintf(label, sizeof label, "a[%s] (%s)", ss_cases[i].index,
               v == 0 ? "int32 Consts" : v == 1 ? "int64 Consts" : "fed");
      mtu_check_close(got[i][v], cases[i].want, 0, 0, label);
      deft_tensor_free(got[i][v]);
    }
  }
  mtu_np_free(cases, NSS);
  deft_tensor_free(a2);
  deft_tensor_free(a3);
}
END_TEST

START_TEST(strided_slice_grad_vs_numpy) {
  np_case cases[NSS];
  deft_tensor *got[NSS], *zeros[NSS], *dys[NSS];
  memset(cases, 0, sizeof cases);
  for (int i = 0; i < NSS; i++) {
    const ss_case *c = &ss_cases[i];
    deft_shape xs = c->big ? DEFT_SHAPE(4, 5, 6) : DEFT_SHAPE(5, 6);
    /* the slice's shape, from StridedSlice's own shape function */
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, DEFT_DOUBLE, xs, "x");
    deft_output y = build_ss_case(g, x, c, DEFT_INT32, false, NULL, NULL);
    deft_shape ys = deft_output_shape(y);
    ck_assert(deft_shape_is_fully_defined(ys));
    dys[i] = mtu_rand_tensor(DEFT_DOUBLE, ys, -1, 1, false, false);
    zeros[i] = mtu_rand_tensor(DEFT_DOUBLE, xs, 0, 0, false, false);
    int32_t sh[3] = {(int32_t)xs.dims[0], (int32_t)xs.dims[1], (int32_t)xs.dims[2]};
    deft_output dy = deft_placeholder(g, DEFT_DOUBLE, ys, "dy");
    deft_output gr = deft_strided_slice_grad(
        g, deft_const_int32_vector(g, sh, xs.rank, "shape"), deft_op_input(y.op, 1),
        deft_op_input(y.op, 2), deft_op_input(y.op, 3), dy, c->bm, c->em, c->ellm, c->nam, c->sam,
        "ssg");
    expect_shape(gr, xs.dims, xs.rank);
    got[i] = mtu_run_ok(g, gr, &dy, &dys[i], 1);
    deft_graph_free(g);
    snprintf(cases[i].expr, sizeof cases[i].expr,
             "(lambda z: (z.__setitem__(np.s_[%s], b), z)[1])(np.zeros(a.shape))", c->index);
    cases[i].nin = 2;
    cases[i].in[0] = zeros[i];
    cases[i].in[1] = dys[i];
  }
  mtu_np_run(cases, NSS);
  for (int i = 0; i < NSS; i++) {
    char label[96];
    snprintf(label, sizeof label, "StridedSliceGrad for [%s]", ss_cases[i].index);
    mtu_check_close(got[i], cases[i].want, 0, 0, label);
    deft_tensor_free(got[i]);
    deft_tensor_free(zeros[i]);
    deft_tensor_free(dys[i]);
  }
  mtu_np_free(cases, NSS);
}
END_TEST

START_TEST(strided_slice_partial_shapes_and_strings) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 5), "x");
  /* x[:, 1:3] -> [-1, 2]; x[0] -> [5]; x[..., None] -> [-1, 5, 1] */
  deft_output a = deft_strided_slice(g, x, deft_const_int32_vector(g, I32(0, 1), 2, "b"),
                                     deft_const_int32_vector(g, I32(0, 3), 2, "e"),
                                     deft_const_int32_vector(g, I32(1, 1), 2, "s"), 1, 1, 0, 0, 0,
                                     NULL);
  expect_shape(a, D(-1, 2), 2);
  ck_assert_str_eq(deft_op_name(a.op), "StridedSlice");
  deft_output b = deft_strided_slice(g, x, deft_const_int32_vector(g, I32(0), 1, "b"),
                                     deft_const_int32_vector(g, I32(1), 1, "e"),
                                     deft_const_int32_vector(g, I32(1), 1, "s"), 0, 0, 0, 0, 1,
                                     NULL);
  expect_shape(b, D(5), 1);
  /* a fed spec of known length: rank known, dims not */
  deft_output fb = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2), "fb");
  deft_output c = deft_strided_slice(g, x, fb, fb, deft_const_int32_vector(g, I32(1, 1), 2, "s"),
                                     0, 0, 0, 2, 0, NULL);
  expect_shape(c, D(-1, 1, -1), 3);
  assert_graph_ok(g);
  deft_graph_free(g);
  /* strings are deep copied: a[::-2] of ["a","bb","ccc","dddd","eeeee"] */
  g = deft_graph_new();
  int64_t n = 5;
  deft_tensor *t = deft_tensor_new(DEFT_STRING, &n, 1, NULL);
  const char *words[5] = {"a", "bb", "ccc", "dddd", "eeeee"};
  for (int i = 0; i < 5; i++)
    ck_assert(deft_tensor_set_string(t, i, words[i], strlen(words[i]), NULL));
  deft_output s = deft_strided_slice(g, deft_const(g, t, "words"),
                                     deft_const_int32_vector(g, I32(0), 1, "b"),
                                     deft_const_int32_vector(g, I32(0), 1, "e"),
                                     deft_const_int32_vector(g, I32(-2), 1, "s"), 1, 1, 0, 0, 0,
                                     NULL);
  deft_tensor *r = mtu_run_ok(g, s, NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_num_elements(r), 3);
  const char *want[3] = {"eeeee", "ccc", "a"};
  for (int i = 0; i < 3; i++) {
    size_t len;
    const char *p = deft_tensor_string(r, i, &len);
    ck_assert_uint_eq(len, strlen(want[i]));
    ck_assert(!memcmp(p, want[i], len));
  }
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

/* Builds x[spec] with the given masks on a [5,6] float input and expects a build error. */
static void expect_ss_build_error(const int32_t *b, const int32_t *e, const int32_t *s, int n,
                                  int bm, int em, int ellm, int nam, int sam, const char *what) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(5, 6), "x");
  deft_output y = deft_strided_slice(g, x, deft_const_int32_vector(g, b, n, "b"),
                                     deft_const_int32_vector(g, e, n, "e"),
                                     deft_const_int32_vector(g, s, n, "s"), bm, em, ellm, nam,
                                     sam, "ss");
  ck_assert_ptr_null(y.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "StridedSlice 'ss'", what);
  deft_graph_free(g);
}

START_TEST(strided_slice_errors) {
  expect_ss_build_error(I32(0, 0), I32(2, 2), I32(1, 0), 2, 0, 0, 0, 0, 0,
                        "strides[1] must be non-zero");
  expect_ss_build_error(I32(7), I32(8), I32(1), 1, 0, 0, 0, 0, 1,
                        "slice index 7 of dimension 0 is out of bounds");
  expect_ss_build_error(I32(-6), I32(0), I32(1), 1, 0, 0, 0, 0, 1, "out of bounds");
  expect_ss_build_error(I32(0, 0), I32(0, 0), I32(1, 1), 2, 0, 0, 3, 0, 0, "multiple ellipses");
  expect_ss_build_error(I32(0, 0, 0), I32(1, 1, 1), I32(1, 1, 1), 3, 0, 0, 0, 0, 0,
                        "more dimensions");
  /* mismatched spec lengths at build time */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(5, 6), "x");
  deft_output y = deft_strided_slice(g, x, deft_const_int32_vector(g, I32(0, 0), 2, "b"),
                                     deft_const_int32_vector(g, I32(1), 1, "e"),
                                     deft_const_int32_vector(g, I32(1, 1), 2, "s"), 0, 0, 0, 0, 0,
                                     "ss");
  ck_assert_ptr_null(y.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "StridedSlice 'ss'", "one length");
  deft_graph_free(g);
  /* at run time: the input's shape is unknown until fed */
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "x");
  y = deft_strided_slice(g, x, deft_const_int32_vector(g, I32(7), 1, "b"),
                         deft_const_int32_vector(g, I32(8), 1, "e"),
                         deft_const_int32_vector(g, I32(1), 1, "s"), 0, 0, 0, 0, 1, "late");
  assert_graph_ok(g);
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 6), 0, 1, false, false);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, y, &x, &xv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "StridedSlice 'late'", "slice index 7", "[5,6]");
  /* fed spec vectors of different lengths */
  deft_output fb = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "fb");
  deft_output z = deft_strided_slice(g, x, fb, deft_const_int32_vector(g, I32(1), 1, "e2"),
                                     deft_const_int32_vector(g, I32(1), 1, "s2"), 0, 0, 0, 0, 0,
                                     "fedspec");
  deft_tensor *bv = i32_tensor(I32(0, 0), D(2), 1);
  deft_output feeds[2] = {x, fb};
  deft_tensor *vals[2] = {xv, bv};
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, z, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "StridedSlice 'fedspec'", "one length");
  /* StridedSliceGrad with a dy of the wrong shape */
  deft_output dy = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "dy");
  deft_output gr = deft_strided_slice_grad(g, deft_const_int32_vector(g, I32(5, 6), 2, "shape"),
                                           deft_const_int32_vector(g, I32(1), 1, "b3"),
                                           deft_const_int32_vector(g, I32(3), 1, "e3"),
                                           deft_const_int32_vector(g, I32(1), 1, "s3"), dy, 0, 0,
                                           0, 0, 0, "ssg");
  assert_graph_ok(g);
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, gr, &dy, &xv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "StridedSliceGrad 'ssg'", "dy has shape [5,6]",
                   "[2,6]");
  deft_tensor_free(bv);
  deft_tensor_free(xv);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- Split, SplitV ---- */

START_TEST(split_vs_numpy) {
  deft_tensor *a = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 6, 3), -1, 1, false, false);
  enum { N = 10 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  int n = 0;
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 6, 3), "x");
  deft_op *s1 = deft_split(g, deft_const_int32(g, 1, "axis"), x, 3, NULL);
  deft_op *s2 = deft_split(g, deft_const_int32(g, -1, "axis2"), x, 3, NULL);
  deft_op *s3 = deft_split_v(g, x, deft_const_int32_vector(g, I32(1, -1, 2), 3, "sizes"),
                             deft_const_int32(g, 1, "axis3"), 3, NULL);
  deft_op *s4 = deft_split_v(g, x, deft_const_int32_vector(g, I32(0, 4), 2, "sizes4"),
                             deft_const_int32(g, 0, "axis4"), 2, NULL);
  assert_graph_ok(g);
  ck_assert_str_eq(deft_op_name(s1), "split");
  ck_assert_str_eq(deft_op_type(s3), "SplitV");
  expect_shape(deft_op_output(s1, 2), D(4, 2, 3), 3);
  expect_shape(deft_op_output(s3, 1), D(4, 3, 3), 3);
  expect_shape(deft_op_output(s4, 0), D(0, 6, 3), 3);
  struct {
    deft_op *op;
    int i;
    const char *np;
  } outs[N] = {{s1, 0, "np.split(a, 3, axis=1)[0]"},  {s1, 2, "np.split(a, 3, axis=1)[2]"},
               {s2, 1, "np.split(a, 3, axis=-1)[1]"}, {s3, 0, "np.split(a, [1, 4], axis=1)[0]"},
               {s3, 1, "np.split(a, [1, 4], axis=1)[1]"}, {s3, 2, "np.split(a, [1, 4], axis=1)[2]"},
               {s4, 0, "a[:0]"}, {s4, 1, "a"}, {s2, 0, "a[..., :1]"}, {s2, 2, "a[..., 2:]"}};
  for (n = 0; n < N; n++) {
    got[n] = mtu_run_ok(g, deft_op_output(outs[n].op, outs[n].i), &x, &a, 1);
    snprintf(cases[n].expr, sizeof cases[n].expr, "%s", outs[n].np);
    cases[n].nin = 1;
    cases[n].in[0] = a;
  }
  mtu_np_run(cases, N);
  for (int i = 0; i < N; i++) {
    mtu_check_close(got[i], cases[i].want, 0, 0, outs[i].np);
    deft_tensor_free(got[i]);
  }
  mtu_np_free(cases, N);
  deft_tensor_free(a);
  deft_graph_free(g);
}
END_TEST

START_TEST(split_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 6), "x");
  ck_assert_ptr_null(deft_split(g, deft_const_int32(g, 1, "axis"), x, 4, "s"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Split 's'", "num_split = 4",
                   "does not divide");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_split(g, deft_const_int32(g, 2, "axis2"), x, 2, "s2"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Split 's2'", "split_dim 2",
                   "out of range");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_split_v(g, x, deft_const_int32_vector(g, I32(-1, -1), 2, "sz"),
                                  deft_const_int32(g, 0, "axis3"), 2, "sv"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SplitV 'sv'", "at most one -1");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_split_v(g, x, deft_const_int32_vector(g, I32(2, 3), 2, "sz2"),
                                  deft_const_int32(g, 1, "axis4"), 2, "sv2"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SplitV 'sv2'", "sum to 5",
                   "size 6");
  deft_graph_clear_error(g);
  /* at run time */
  deft_output u = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "u");
  deft_op *s = deft_split(g, deft_const_int32(g, 0, "axis5"), u, 3, "late");
  assert_graph_ok(g);
  deft_tensor *uv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 6), 0, 1, false, false);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, deft_op_output(s, 0), &u, &uv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Split 'late'", "num_split = 3", "[4,6]");
  deft_op *sv = deft_split_v(g, u, deft_const_int32_vector(g, I32(3, -1), 2, "sz6"),
                             deft_const_int32(g, 0, "axis6"), 2, "latev");
  deft_status_set(st, DEFT_OK, "%s", "");
  deft_tensor *ok = mtu_run(g, deft_op_output(sv, 1), &u, &uv, 1, 1, st); /* 3 + 1 = 4 */
  ck_assert_msg(ok != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_dim(ok, 0), 1);
  deft_tensor_free(ok);
  deft_op *sv2 = deft_split_v(g, u, deft_const_int32_vector(g, I32(5, -1), 2, "sz7"),
                              deft_const_int32(g, 0, "axis7"), 2, "latev2");
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, deft_op_output(sv2, 1), &u, &uv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SplitV 'latev2'", "size 4");
  deft_tensor_free(uv);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- Transpose, InvertPermutation ---- */

START_TEST(transpose_vs_numpy) {
  static const struct {
    int rank;
    int64_t dims[5];
    int32_t perm[5];
    deft_dtype dt;
  } tc[] = {
      {2, {67, 45}, {1, 0}, DEFT_FLOAT},         {2, {3, 70}, {1, 0}, DEFT_DOUBLE},
      {3, {3, 20, 33}, {0, 2, 1}, DEFT_FLOAT},   {3, {2, 3, 4}, {2, 0, 1}, DEFT_INT32},
      {3, {2, 3, 4}, {1, 2, 0}, DEFT_UINT8},     {3, {2, 3, 4}, {0, 1, 2}, DEFT_INT64},
      {4, {2, 1, 3, 5}, {3, 1, 0, 2}, DEFT_FLOAT},
      {5, {2, 3, 2, 2, 3}, {4, 2, 0, 3, 1}, DEFT_FLOAT},
      {4, {2, 3, 4, 5}, {0, 1, 3, 2}, DEFT_DOUBLE}, {4, {2, 3, 4, 5}, {2, 3, 0, 1}, DEFT_FLOAT},
      {1, {7}, {0}, DEFT_FLOAT},                 {0, {0}, {0}, DEFT_FLOAT},
      {3, {0, 3, 2}, {2, 1, 0}, DEFT_FLOAT},
  };
  enum { N = sizeof tc / sizeof tc[0] };
  np_case cases[N];
  deft_tensor *got[N], *ins[N];
  memset(cases, 0, sizeof cases);
  for (int i = 0; i < (int)N; i++) {
    deft_shape s = deft_shape_make(tc[i].rank, tc[i].dims);
    ins[i] = mtu_rand_tensor(tc[i].dt, s, 0, 200, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, tc[i].dt, s, "x");
    deft_output y = deft_transpose(g, x, deft_const_int32_vector(g, tc[i].perm, tc[i].rank,
                                                                 "perm"), NULL);
    ck_assert_str_eq(deft_op_name(y.op), "transpose");
    int64_t od[5];
    for (int k = 0; k < tc[i].rank; k++) od[k] = tc[i].dims[tc[i].perm[k]];
    expect_shape(y, od, tc[i].rank);
    got[i] = mtu_run_ok(g, y, &x, &ins[i], 1);
    deft_graph_free(g);
    char perm[64] = "";
    for (int k = 0; k < tc[i].rank; k++)
      snprintf(perm + strlen(perm), sizeof perm - strlen(perm), "%d,", tc[i].perm[k]);
    snprintf(cases[i].expr, sizeof cases[i].expr, "np.transpose(a, (%s))", perm);
    cases[i].nin = 1;
    cases[i].in[0] = ins[i];
  }
  mtu_np_run(cases, N);
  for (int i = 0; i < (int)N; i++) {
    mtu_check_close(got[i], cases[i].want, 0, 0, cases[i].expr);
    deft_tensor_free(got[i]);
    deft_tensor_free(ins[i]);
  }
  mtu_np_free(cases, N);
}
END_TEST

START_TEST(transpose_and_invert_permutation_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  ck_assert_ptr_null(
      deft_transpose(g, x, deft_const_int32_vector(g, I32(1, 1), 2, "p"), "t").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Transpose 't'", "twice");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(
      deft_transpose(g, x, deft_const_int32_vector(g, I32(0, 1, 2), 3, "p2"), "t2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Transpose 't2'",
                   "one entry per dimension");
  deft_graph_clear_error(g);
  /* a fed perm */
  deft_output p = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2), "pf");
  deft_output t = deft_transpose(g, x, p, "t3");
  expect_shape(t, D(-1, -1), 2);
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), 0, 1, false, false);
  deft_tensor *pv = i32_tensor(I32(0, 2), D(2), 1);
  deft_output feeds[2] = {x, p};
  deft_tensor *vals[2] = {xv, pv};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, t, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Transpose 't3'", "perm[1] = 2");
  /* InvertPermutation */
  deft_output ip = deft_invert_permutation(g, p, "inv");
  deft_tensor *good = i32_tensor(I32(1, 0), D(2), 1);
  vals[1] = good;
  deft_tensor *r = mtu_run(g, ip, &p, &good, 1, 1, st);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(deft_tensor_i32(r)[0], 1);
  deft_tensor_free(r);
  deft_output q = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "q");
  deft_output iq = deft_invert_permutation(g, q, "inv64");
  int64_t n5 = 5;
  deft_tensor *qv = deft_tensor_new(DEFT_INT64, &n5, 1, NULL);
  const int64_t perm5[5] = {3, 0, 4, 1, 2};
  memcpy(deft_tensor_data(qv), perm5, sizeof perm5);
  r = mtu_run(g, iq, &q, &qv, 1, 1, st);
  ck_assert_ptr_nonnull(r);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(deft_tensor_i64(r)[perm5[i]], i);
  deft_tensor_free(r);
  deft_tensor_i64(qv)[2] = 3;
  ck_assert_ptr_null(mtu_run(g, iq, &q, &qv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "InvertPermutation 'inv64'", "not a permutation");
  deft_tensor_i64(qv)[2] = -1;
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, iq, &q, &qv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "InvertPermutation 'inv64'", "x[2] = -1");
  deft_tensor_free(qv);
  deft_tensor_free(good);
  deft_tensor_free(pv);
  deft_tensor_free(xv);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- gathers and scatters ---- */

START_TEST(gathers_vs_numpy) {
  deft_tensor *p2 = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(6, 4), -1, 1, false, false);
  deft_tensor *p4 = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(2, 3, 5, 4), -1, 1, false, false);
  deft_tensor *i1 = i32_tensor(I32(5, 0, 3, 3, 1, 2), D(2, 3), 2);
  deft_tensor *ib = i32_tensor(I32(4, 0, 1, 2, 2, 3), D(2, 3), 2); /* batch 2, values < 5 */
  deft_tensor *ind = i32_tensor(I32(1, 2, 0, 1, 1, 4, 0, 0, 2), D(3, 3), 2);
  deft_tensor *ind1 = i32_tensor(I32(1, 0, 1), D(3, 1), 2);
  deft_tensor *ib3 = i32_tensor(I32(2, 0, 1, 1), D(2, 2), 2); /* batch 2, values < 3 */
  enum { N = 8 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(6, 4), "a");
  deft_output b = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3, 5, 4), "b");
  deft_output ci = deft_const(g, i1, "i1"), cb = deft_const(g, ib, "ib");
  deft_output ys[N] = {
      deft_gather(g, a, ci, NULL),
      deft_gather_v2(g, a, ci, deft_const_int32(g, 0, "ax0"), 0, NULL),
      deft_gather_v2(g, b, cb, deft_const_int32(g, 2, "ax2"), 0, NULL),
      deft_gather_v2(g, b, cb, deft_const_int64(g, -2, "axm2"), 1, NULL),
      deft_gather_v2(g, b, deft_const(g, ib3, "ib3"), deft_const_int32(g, 1, "ax1"), 1, NULL),
      deft_gather_nd(g, b, deft_const(g, ind, "ind"), NULL),
      deft_gather_nd(g, a, deft_const(g, ind1, "ind1b"), NULL),
      deft_gather_v2(g, b, deft_const(g, ib3, "ib3b"), deft_const_int32(g, 3, "ax3"), -1, NULL),
  };
  assert_graph_ok(g);
  ck_assert_str_eq(deft_op_name(ys[0].op), "Gather");
  ck_assert_str_eq(deft_op_name(ys[1].op), "GatherV2");
  expect_shape(ys[0], D(2, 3, 4), 3);
  expect_shape(ys[2], D(2, 3, 2, 3, 4), 5);
  expect_shape(ys[3], D(2, 3, 3, 4), 4);
  expect_shape(ys[5], D(3, 4), 2);
  const char *np[N] = {
      "np.take(a, b.astype(int), axis=0)",
      "np.take(a, b.astype(int), axis=0)",
      "np.take(a, b.astype(int), axis=2)",
      "np.stack([np.take(a[i], b[i].astype(int), axis=1) for i in range(2)])",
      "np.stack([np.take(a[i], b[i].astype(int), axis=0) for i in range(2)])",
      "a[tuple(np.moveaxis(b.astype(int), -1, 0))]",
      "a[tuple(np.moveaxis(b.astype(int), -1, 0))]",
      "np.stack([np.take(a[i], b[i].astype(int), axis=2) for i in range(2)])",
  };
  const deft_tensor *pin[N] = {p2, p2, p4, p4, p4, p4, p2, p4};
  const deft_tensor *iin[N] = {i1, i1, ib, ib, ib3, ind, ind1, ib3};
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {p2, p4};
  for (int i = 0; i < N; i++) {
    got[i] = mtu_run_ok(g, ys[i], feeds, vals, 2);
    snprintf(cases[i].expr, sizeof cases[i].expr, "%s", np[i]);
    cases[i].nin = 2;
    cases[i].in[0] = pin[i];
    cases[i].in[1] = iin[i];
  }
  mtu_np_run(cases, N);
  for (int i = 0; i < N; i++) {
    mtu_check_close(got[i], cases[i].want, 0, 0, np[i]);
    deft_tensor_free(got[i]);
  }
  mtu_np_free(cases, N);
  deft_graph_free(g);
  deft_tensor_free(p2);
  deft_tensor_free(p4);
  deft_tensor_free(i1);
  deft_tensor_free(ib);
  deft_tensor_free(ind);
  deft_tensor_free(ind1);
  deft_tensor_free(ib3);
}
END_TEST

START_TEST(scatters_vs_numpy) {
  deft_tensor *u = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 3), -1, 1, false, false);
  deft_tensor *ui = mtu_rand_tensor(DEFT_INT64, DEFT_SHAPE(4, 3), -50, 50, false, false);
  deft_tensor *ix = i32_tensor(I32(2, 0, 2, 4), D(4, 1), 2);
  deft_tensor *ix2 = i32_tensor(I32(0, 1, 2, 1, 0, 1, 1, 0), D(4, 2), 2);
  deft_tensor *seg = i32_tensor(I32(1, -1, 1, 0), D(4), 1);
  enum { N = 4 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 3), "u");
  deft_output ai = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(4, 3), "ui");
  deft_output flat = deft_reshape_to(g, a, D(4, 3), 2, NULL);
  deft_output ys[N] = {
      deft_scatter_nd(g, deft_const(g, ix, "ix"), a,
                      deft_const_int32_vector(g, I32(5, 3), 2, "shape"), NULL),
      deft_scatter_nd(g, deft_const(g, ix2, "ix2"),
                      deft_strided_slice(g, flat, deft_const_int32_vector(g, I32(0, 0), 2, "b"),
                                         deft_const_int32_vector(g, I32(0, 1), 2, "e"),
                                         deft_const_int32_vector(g, I32(1, 1), 2, "s"), 3, 1, 0,
                                         0, 2, NULL),
                      deft_const_int32_vector(g, I32(3, 2), 2, "shape2"), NULL),
      deft_unsorted_segment_sum(g, a, deft_const(g, seg, "seg"), deft_const_int32(g, 3, "n"),
                                NULL),
      deft_unsorted_segment_sum(g, ai, deft_const(g, seg, "seg2"),
                                deft_const_int64(g, 2, "n2"), NULL),
  };
  assert_graph_ok(g);
  expect_shape(ys[0], D(5, 3), 2);
  expect_shape(ys[2], D(3, 3), 2);
  const char *np[N] = {
      "(lambda z: (np.add.at(z, b.astype(int)[:, 0], a), z)[1])(np.zeros((5, 3)))",
      "(lambda z: (np.add.at(z, tuple(b.astype(int).T), a[:, 0]), z)[1])(np.zeros((3, 2)))",
      "(lambda z: (np.add.at(z, b[b >= 0].astype(int), a[b >= 0]), z)[1])(np.zeros((3, 3)))",
      "(lambda z: (np.add.at(z, b[b >= 0].astype(int), a[b >= 0]), z)[1])(np.zeros((2, 3)))",
  };
  const deft_tensor *uin[N] = {u, u, u, ui}, *iin[N] = {ix, ix2, seg, seg};
  deft_output feeds[2] = {a, ai};
  deft_tensor *vals[2] = {u, ui};
  for (int i = 0; i < N; i++) {
    got[i] = mtu_run_ok(g, ys[i], feeds, vals, 2);
    snprintf(cases[i].expr, sizeof cases[i].expr, "%s", np[i]);
    cases[i].nin = 2;
    cases[i].in[0] = uin[i];
    cases[i].in[1] = iin[i];
  }
  mtu_np_run(cases, N);
  for (int i = 0; i < N; i++) {
    mtu_check_close(got[i], cases[i].want, 1e-6, 1e-6, np[i]);
    deft_tensor_free(got[i]);
  }
  mtu_np_free(cases, N);
  deft_graph_free(g);
  deft_tensor_free(u);
  deft_tensor_free(ui);
  deft_tensor_free(ix);
  deft_tensor_free(ix2);
  deft_tensor_free(seg);
}
END_TEST

START_TEST(gather_errors) {
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(5, 2), "p");
  deft_output ix = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "ix");
  deft_output ga = deft_gather(g, p, ix, "emb");
  deft_output gv = deft_gather_v2(g, p, ix, deft_const_int32(g, 1, "axis"), 0, "g1");
  deft_output gn = deft_gather_nd(g, p, deft_reshape_to(g, ix, D(-1, 2), 2, NULL), "gnd");
  assert_graph_ok(g);
  deft_tensor *pv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 2), 0, 1, false, false);
  deft_tensor *bad = i32_tensor(I32(1, 7), D(2), 1), *neg = i32_tensor(I32(-1, 0), D(2), 1);
  deft_output feeds[2] = {p, ix};
  deft_tensor *vals[2] = {pv, bad};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, ga, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Gather 'emb'", "indices[1] = 7", "[0, 5)");
  vals[1] = neg;
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, gv, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "GatherV2 'g1'", "indices[0] = -1", "[0, 2)");
  vals[1] = bad;
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, gn, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "GatherNd 'gnd'", "entry 1 is 7", "[0, 2)");
  /* build-time shape errors */
  ck_assert_ptr_null(deft_gather_v2(g, p, ix, deft_const_int32(g, 2, "axis2"), 0, "g2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "GatherV2 'g2'", "axis 2",
                   "out of range");
  deft_graph_clear_error(g);
  deft_output ib = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(4, 2), "ib");
  ck_assert_ptr_null(deft_gather_v2(g, p, ib, deft_const_int32(g, 1, "axis3"), 1, "g3").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "GatherV2 'g3'",
                   "batch dimensions", "5 and 4");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_gather_nd(g, p, deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2, 3), "i3"),
                                    "gnd2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "GatherNd 'gnd2'",
                   "index depth", "rank 2");
  deft_graph_clear_error(g);
  /* scatters */
  deft_output u = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 2), "u");
  deft_output sn = deft_scatter_nd(g, deft_reshape_to(g, ix, D(2, 1), 2, NULL), u,
                                   deft_const_int32_vector(g, I32(3, 2), 2, "shape"), "sc");
  deft_output us = deft_unsorted_segment_sum(g, u, ix, deft_const_int32(g, 2, "nseg"), "uss");
  assert_graph_ok(g);
  deft_output f3[3] = {p, ix, u};
  deft_tensor *v3[3] = {pv, bad, pv};
  deft_tensor *uv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 2), 0, 1, false, false);
  v3[2] = uv;
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, sn, f3, v3, 3, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ScatterNd 'sc'", "entry 0 is 7", "[0, 3)");
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, us, f3, v3, 3, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "UnsortedSegmentSum 'uss'",
                   "segment_ids[1] = 7", "[0, 2)");
  deft_tensor_free(uv);
  deft_tensor_free(pv);
  deft_tensor_free(bad);
  deft_tensor_free(neg);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- gradient graphs ---- */

/* Differentiates y with respect to x (float32) and returns dx. */
static deft_output grad_of(deft_graph *g, deft_output y, deft_output x) {
  deft_output dx;
  ck_assert_msg(deft_gradients(g, &y, 1, &x, 1, NULL, &dx), "%s",
                deft_status_message(deft_graph_status(g)));
  return dx;
}

START_TEST(gradient_graphs_use_tf_ops) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 6), "x");
  deft_output y = deft_strided_slice(g, x, deft_const_int32_vector(g, I32(1), 1, "b"),
                                     deft_const_int32_vector(g, I32(3), 1, "e"),
                                     deft_const_int32_vector(g, I32(1), 1, "s"), 0, 0, 0, 0, 0,
                                     "ss");
  deft_output dx = grad_of(g, y, x);
  ck_assert_str_eq(deft_op_name(dx.op), "gradients/ss_grad/StridedSliceGrad");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx.op, 0).op), "gradients/ss_grad/Shape");
  expect_shape(dx, D(-1, 6), 2);
  /* Transpose: InvertPermutation + transpose */
  deft_output t = deft_transpose(g, x, deft_const_int32_vector(g, I32(1, 0), 2, "perm"), NULL);
  dx = grad_of(g, t, x);
  ck_assert_str_eq(deft_op_type(dx.op), "Transpose");
  ck_assert_str_eq(deft_op_name(dx.op), "gradients_1/transpose_grad/transpose");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx.op, 1).op),
                   "gradients_1/transpose_grad/InvertPermutation");
  /* Split: concat of the output gradients (zeros where none) along split_dim */
  deft_op *sp = deft_split(g, deft_const_int32(g, 1, "axis"), x, 2, NULL);
  dx = grad_of(g, deft_op_output(sp, 0), x);
  ck_assert_str_eq(deft_op_name(dx.op), "gradients_2/split_grad/concat");
  ck_assert_str_eq(deft_op_type(dx.op), "ConcatV2");
  /* Gather: reshaped values summed into the rows (TF's IndexedSlices made dense) */
  deft_output ix = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "ix");
  deft_output ga = deft_gather(g, x, ix, NULL);
  dx = grad_of(g, ga, x);
  ck_assert_str_eq(deft_op_type(dx.op), "UnsortedSegmentSum");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx.op, 0).op), "gradients_3/Gather_grad/Reshape");
  assert_graph_ok(g);
  /* run it: rows 2 and 0 picked, row 2 twice */
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 6), 0, 1, false, false);
  deft_tensor *iv = i32_tensor(I32(2, 0, 2), D(3), 1);
  deft_output feeds[2] = {x, ix};
  deft_tensor *vals[2] = {xv, iv};
  deft_tensor *r = mtu_run_ok(g, dx, feeds, vals, 2);
  ck_assert_int_eq(deft_tensor_dim(r, 0), 3);
  for (int k = 0; k < 6; k++) {
    ck_assert(deft_tensor_f32(r)[k] == 1.0f);
    ck_assert(deft_tensor_f32(r)[6 + k] == 0.0f);
    ck_assert(deft_tensor_f32(r)[12 + k] == 2.0f);
  }
  deft_tensor_free(r);
  deft_tensor_free(xv);
  deft_tensor_free(iv);
  /* GatherV2 with batch_dims: not differentiable yet, said plainly */
  deft_output gb = deft_gather_v2(g, x, deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1, 2), "ib"),
                                  deft_const_int32(g, 1, "ax"), 1, "gb");
  assert_graph_ok(g);
  deft_output dd;
  ck_assert(!deft_gradients(g, &gb, 1, &x, 1, NULL, &dd));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_UNIMPLEMENTED, "GatherV2 'gb'", "batch_dims 0");
  deft_graph_free(g);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_slice_count; i++)
    tu_grad_check(&tu_grad_cases_slice[i], TU_GRAD_DIRECT, &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("slice_ops");
  TCase *t = tcase_create("slice_ops");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, strided_slice_vs_numpy);
  tcase_add_test(t, strided_slice_grad_vs_numpy);
  tcase_add_test(t, strided_slice_partial_shapes_and_strings);
  tcase_add_test(t, strided_slice_errors);
  tcase_add_test(t, split_vs_numpy);
  tcase_add_test(t, split_errors);
  tcase_add_test(t, transpose_vs_numpy);
  tcase_add_test(t, transpose_and_invert_permutation_errors);
  tcase_add_test(t, gathers_vs_numpy);
  tcase_add_test(t, scatters_vs_numpy);
  tcase_add_test(t, gather_errors);
  tcase_add_test(t, gradient_graphs_use_tf_ops);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
