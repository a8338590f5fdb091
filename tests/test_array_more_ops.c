/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_array_more_ops.c - ops/array_more_ops.c (ShapeN, IdentityN, OneHot, Cumsum,
 * ClipByValue) and ReverseV2: kernels against NumPy, static shapes, errors naming the node, and
 * the gradient builders against central differences. */
#include <math.h>
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"

#include "grad_cases_array_more.c"

#define I32(...) ((const int32_t[]){__VA_ARGS__})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static deft_tensor *i32_tensor(const int32_t *v, const int64_t *dims, int rank) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, dims, rank, NULL);
  for (int64_t i = 0; i < t->n; i++) deft_tensor_i32(t)[i] = v[i];
  return t;
}

START_TEST(shape_n_and_identity_n) {
  deft_graph *g = deft_graph_new();
  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "a");
  deft_output b = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4), 2.5, "b");
  deft_output ins[2] = {a, b};
  deft_op *sn = deft_shape_n(g, ins, 2, DEFT_INT64, NULL);
  deft_op *idn = deft_identity_n(g, ins, 2, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_int_eq(deft_output_dtype(deft_op_output(sn, 1)), DEFT_INT64);
  ck_assert_int_eq(deft_output_shape(deft_op_output(sn, 0)).dims[0], 2);
  deft_output c = deft_const_int32_vector(g, I32(1, 2, 3, 4), 4, "c");
  deft_output ins2[2] = {a, c};
  deft_op *idn2 = deft_identity_n(g, ins2, 2, NULL); /* dtypes may differ */
  ck_assert_int_eq(deft_output_dtype(deft_op_output(idn2, 1)), DEFT_INT32);
  deft_tensor *av = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), 0, 1, false, false);
  deft_tensor *r = mtu_run_ok(g, deft_op_output(sn, 0), &a, &av, 1);
  ck_assert_int_eq(deft_tensor_i64(r)[0], 5);
  ck_assert_int_eq(deft_tensor_i64(r)[1], 3);
  deft_tensor_free(r);
  r = mtu_run_ok(g, deft_op_output(sn, 1), &a, &av, 1);
  ck_assert_int_eq(deft_tensor_i64(r)[0], 4);
  deft_tensor_free(r);
  r = mtu_run_ok(g, deft_op_output(idn, 0), &a, &av, 1);
  ck_assert(!memcmp(deft_tensor_data(r), deft_tensor_data(av), 15 * sizeof(float)));
  deft_tensor_free(r);
  r = mtu_run_ok(g, deft_op_output(idn2, 1), &a, &av, 1);
  ck_assert_int_eq(deft_tensor_i32(r)[3], 4);
  deft_tensor_free(r);
  deft_tensor_free(av);
  deft_graph_free(g);
}
END_TEST

START_TEST(one_hot_vs_numpy) {
  deft_tensor *ix = i32_tensor(I32(0, 3, -1, 2, 4, 1), D(2, 3), 2);
  enum { N = 3 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output i = deft_const(g, ix, "ix");
  deft_output depth = deft_const_int32(g, 4, "depth");
  deft_output on = deft_const_float(g, 5.0f, "on"), off = deft_const_float(g, -1.0f, "off");
  deft_output ys[N] = {deft_one_hot(g, i, depth, on, off, -1, NULL),
                       deft_one_hot(g, i, depth, on, off, 0, NULL),
                       deft_one_hot(g, i, depth, on, off, 1, NULL)};
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_type(ys[0].op), "OneHot");
  deft_shape s1 = deft_output_shape(ys[1]);
  ck_assert(s1.rank == 3 && s1.dims[0] == 4 && s1.dims[1] == 2 && s1.dims[2] == 3);
  const char *base = "np.where(np.arange(4) == b.astype(int)[..., None], 5.0, -1.0)";
  const char *np[N] = {"%s", "np.moveaxis(%s, -1, 0)", "np.moveaxis(%s, -1, 1)"};
  for (int k = 0; k < N; k++) {
    got[k] = mtu_run_ok(g, ys[k], NULL, NULL, 0);
    char e[200];
    snprintf(e, sizeof e, np[k], base);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s + 0 * a", e);
    cases[k].nin = 2;
    cases[k].in[0] = got[k];
    cases[k].in[1] = ix;
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < N; k++) {
    mtu_check_close(got[k], cases[k].want, 0, 0, cases[k].expr);
    deft_tensor_free(got[k]);
  }
  mtu_np_free(cases, N);
  /* a bad axis, named */
  ck_assert_ptr_null(deft_one_hot(g, i, depth, on, off, 3, "oh").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "OneHot 'oh'", "axis 3");
  deft_tensor_free(ix);
  deft_graph_free(g);
}
END_TEST

START_TEST(cumsum_clip_reverse_vs_numpy) {
  deft_tensor *a = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), -2, 2, false, false);
  deft_tensor *ai = mtu_rand_tensor(DEFT_INT64, DEFT_SHAPE(3, 4, 5), -50, 50, false, false);
  deft_tensor *lo = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), -1.5, -0.2, false, false);
  enum { N = 11 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), "x");
  deft_output xi = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(3, 4, 5), "xi");
  deft_output l = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), "l");
  deft_output ax1 = deft_const_int32(g, 1, "ax1"), axm1 = deft_const_int64(g, -1, "axm1");
  deft_output ys[N] = {
      deft_cumsum(g, x, ax1, false, false, NULL),
      deft_cumsum(g, x, ax1, true, false, NULL),
      deft_cumsum(g, x, axm1, false, true, NULL),
      deft_cumsum(g, x, deft_const_int32(g, 0, "ax0"), true, true, NULL),
      deft_cumsum(g, xi, ax1, false, false, NULL),
      deft_clip_by_value_op(g, x, deft_const_float(g, -0.5f, "lo"),
                            deft_const_float(g, 1.0f, "hi"), NULL),
      deft_clip_by_value_op(g, x, l, deft_const_float(g, 0.7f, "hi2"), NULL),
      deft_reverse_v2(g, x, deft_const_int32_vector(g, I32(1), 1, "r1"), NULL),
      deft_reverse_v2(g, x, deft_const_int32_vector(g, I32(0, -1), 2, "r2"), NULL),
      deft_reverse_v2(g, xi, deft_const_int32_vector(g, NULL, 0, "r3"), NULL),
      deft_reverse_v2(g, x, deft_const_int32_vector(g, I32(2, 1, 0), 3, "r4"), NULL),
  };
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  const char *np[N] = {
      "np.cumsum(a, axis=1)",
      "np.cumsum(a, axis=1) - a",
      "np.flip(np.cumsum(np.flip(a, -1), axis=-1), -1)",
      "np.flip(np.cumsum(np.flip(a, 0), axis=0), 0) - a",
      "np.cumsum(b, axis=1)",
      "np.clip(a, -0.5, 1.0)",
      "np.minimum(np.maximum(a, c), 0.7)",
      "np.flip(a, 1)",
      "np.flip(np.flip(a, 0), -1)",
      "b",
      "a[::-1, ::-1, ::-1]",
  };
  deft_output feeds[3] = {x, xi, l};
  deft_tensor *vals[3] = {a, ai, lo};
  for (int k = 0; k < N; k++) {
    got[k] = mtu_run_ok(g, ys[k], feeds, vals, 3);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", np[k]);
    cases[k].nin = 3;
    cases[k].in[0] = a;
    cases[k].in[1] = ai;
    cases[k].in[2] = lo;
    cases[k].f64 = k < 4; /* sums: computed in float64, compared with float32 tolerance */
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < N; k++) {
    mtu_check_close(got[k], cases[k].want, k < 4 ? 1e-5 : 0, k < 4 ? 1e-5 : 0, np[k]);
    deft_tensor_free(got[k]);
  }
  mtu_np_free(cases, N);
  /* errors, named */
  deft_status *st = deft_status_new();
  deft_output bad = deft_reverse_v2(g, x, deft_const_int32_vector(g, I32(1, -2), 2, "r5"), "rv");
  ck_assert_ptr_null(mtu_run(g, bad, feeds, vals, 3, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ReverseV2 'rv'", "twice");
  deft_output cb = deft_cumsum(g, x, deft_const_int32(g, 3, "ax3"), false, false, "cs");
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, cb, feeds, vals, 3, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Cumsum 'cs'", "axis 3", "[3,4,5]");
  deft_output wrong = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4), "wrong");
  ck_assert_ptr_null(deft_clip_by_value_op(g, x, wrong, x, "clip").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ClipByValue 'clip'",
                   "clip_value_min", "[4]");
  deft_status_free(st);
  deft_tensor_free(a);
  deft_tensor_free(ai);
  deft_tensor_free(lo);
  deft_graph_free(g);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_array_more_count; i++)
    tu_grad_check(&tu_grad_cases_array_more[i],
                  tu_grad_cases_array_more[i].build == clip_tensors ||
                          tu_grad_cases_array_more[i].build == identity_n_second
                      ? TU_GRAD_VIA_GRADIENTS /* case graphs around the op; zeros for output 0 */
                      : TU_GRAD_DIRECT,
                  &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("array_more_ops");
  TCase *t = tcase_create("array_more_ops");
  tcase_add_test(t, shape_n_and_identity_n);
  tcase_add_test(t, one_hot_vs_numpy);
  tcase_add_test(t, cumsum_clip_reverse_vs_numpy);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
