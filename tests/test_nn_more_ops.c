/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_nn_more_ops.c - LogSoftmax and SoftmaxCrossEntropyWithLogits (ops/nn_more_ops.c)
 * and BatchMatMul / BatchMatMulV2 (ops/batch_matmul_ops.c): kernels against NumPy, static shapes,
 * errors naming the node, and the gradient builders against central differences. */
#include <math.h>
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"

#include "grad_cases_nn_more.c"

START_TEST(log_softmax_and_xent_vs_numpy) {
  deft_tensor *x = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(6, 10), -30, 30, false, false);
  deft_tensor *xd = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(2, 3, 7), -5, 5, false, false);
  deft_tensor *l = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(6, 10), 0, 1, false, false);
  enum { N = 4 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "a");
  deft_output ad = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3, 7), "ad");
  deft_output lb = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(6, 10), "l");
  deft_op *xe = deft_softmax_cross_entropy_with_logits_op(g, a, lb, NULL);
  deft_output ys[N] = {deft_log_softmax(g, a, NULL), deft_log_softmax(g, ad, NULL),
                       deft_op_output(xe, 0), deft_op_output(xe, 1)};
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(xe), "SoftmaxCrossEntropyWithLogits");
  ck_assert_int_eq(deft_output_shape(ys[2]).rank, 1);
  ck_assert_int_eq(deft_output_shape(ys[2]).dims[0], 6); /* from the labels */
  const char *ls = "(a - a.max(-1, keepdims=True) - np.log(np.exp(a - a.max(-1, "
                   "keepdims=True)).sum(-1, keepdims=True)))";
  char e[4][256];
  snprintf(e[0], 256, "%s", ls);
  snprintf(e[1], 256, "%s", ls);
  snprintf(e[2], 256, "-(b * %s).sum(-1)", ls);
  snprintf(e[3], 256, "np.exp(%s) - b", ls);
  deft_output feeds[3] = {a, ad, lb};
  deft_tensor *vals[3] = {x, xd, l};
  for (int k = 0; k < N; k++) {
    got[k] = mtu_run_ok(g, ys[k], feeds, vals, 3);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", e[k]);
    cases[k].nin = 2;
    cases[k].in[0] = k == 1 ? xd : x;
    cases[k].in[1] = l;
    cases[k].f64 = k != 1;
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < N; k++) {
    mtu_check_close(got[k], cases[k].want, k == 1 ? 1e-12 : 2e-6, k == 1 ? 1e-12 : 1e-5,
                    cases[k].expr);
    deft_tensor_free(got[k]);
  }
  mtu_np_free(cases, N);
  /* mismatched shapes, named */
  deft_output wrong = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(6, 9), "wrong");
  ck_assert_ptr_null(deft_softmax_cross_entropy_with_logits_op(g, a, wrong, "xe2"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT,
                   "SoftmaxCrossEntropyWithLogits 'xe2'", "[6,9]");
  deft_tensor_free(x);
  deft_tensor_free(xd);
  deft_tensor_free(l);
  deft_graph_free(g);
}
END_TEST

START_TEST(batch_matmul_vs_numpy) {
  static const struct {
    int ra, rb;
    int64_t a[4], b[4];
    bool ax, ay, v2;
    deft_dtype dt;
  } tc[] = {
      {3, 3, {2, 3, 4}, {2, 4, 5}, false, false, false, DEFT_FLOAT},
      {3, 3, {2, 4, 3}, {2, 5, 4}, true, true, false, DEFT_DOUBLE},
      {4, 4, {2, 2, 3, 4}, {2, 2, 5, 4}, false, true, false, DEFT_FLOAT},
      {4, 3, {2, 1, 3, 4}, {3, 4, 2}, false, false, true, DEFT_FLOAT},
      {2, 3, {3, 4}, {5, 4, 2}, false, false, true, DEFT_DOUBLE},
      {3, 2, {6, 40, 30}, {30, 50}, false, false, true, DEFT_FLOAT},
      {3, 3, {1, 4, 3}, {7, 4, 2}, true, false, true, DEFT_FLOAT},
      {3, 3, {2, 0, 3}, {2, 3, 2}, false, false, false, DEFT_FLOAT},
      {3, 3, {2, 3, 0}, {2, 0, 2}, false, false, true, DEFT_FLOAT},
  };
  enum { N = sizeof tc / sizeof tc[0] };
  np_case cases[N];
  deft_tensor *got[N], *as[N], *bs[N];
  memset(cases, 0, sizeof cases);
  for (int k = 0; k < (int)N; k++) {
    deft_shape sa = deft_shape_make(tc[k].ra, tc[k].a), sb = deft_shape_make(tc[k].rb, tc[k].b);
    as[k] = mtu_rand_tensor(tc[k].dt, sa, -1, 1, false, false);
    bs[k] = mtu_rand_tensor(tc[k].dt, sb, -1, 1, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, tc[k].dt, sa, "x");
    deft_output y = deft_placeholder(g, tc[k].dt, sb, "y");
    deft_output z = deft_batch_matmul(g, x, y, tc[k].ax, tc[k].ay, tc[k].v2, NULL);
    ck_assert_msg(deft_graph_ok(g), "case %d: %s", k, deft_status_message(deft_graph_status(g)));
    ck_assert_str_eq(deft_op_type(z.op), tc[k].v2 ? "BatchMatMulV2" : "BatchMatMul");
    deft_output feeds[2] = {x, y};
    deft_tensor *vals[2] = {as[k], bs[k]};
    got[k] = mtu_run_ok(g, z, feeds, vals, 2);
    deft_shape st = deft_output_shape(z), rt = deft_tensor_shape(got[k]);
    ck_assert_int_eq(st.rank, rt.rank);
    for (int d = 0; d < st.rank; d++) ck_assert_int_eq(st.dims[d], rt.dims[d]);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "np.matmul(%s, %s)",
             tc[k].ax ? "np.swapaxes(a, -1, -2)" : "a", tc[k].ay ? "np.swapaxes(b, -1, -2)" : "b");
    cases[k].nin = 2;
    cases[k].in[0] = as[k];
    cases[k].in[1] = bs[k];
    cases[k].f64 = tc[k].dt == DEFT_FLOAT;
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < (int)N; k++) {
    mtu_check_close(got[k], cases[k].want, 1e-5, 1e-5, cases[k].expr);
    deft_tensor_free(got[k]);
    deft_tensor_free(as[k]);
    deft_tensor_free(bs[k]);
  }
  mtu_np_free(cases, N);
  /* errors, named */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 4), "x");
  deft_output y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), "y");
  ck_assert_ptr_null(deft_batch_matmul(g, x, y, false, false, false, "bm").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BatchMatMul 'bm'", "match");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_batch_matmul(g, x, y, false, false, true, "bm2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BatchMatMulV2 'bm2'",
                   "broadcast");
  deft_graph_clear_error(g);
  deft_output y2 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 5), "y2");
  ck_assert_ptr_null(deft_batch_matmul(g, x, y2, false, false, false, "bm3").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BatchMatMul 'bm3'", "inner");
  deft_graph_free(g);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_nn_more_count; i++)
    tu_grad_check(&tu_grad_cases_nn_more[i],
                  tu_grad_cases_nn_more[i].build == xent_loss ? TU_GRAD_VIA_GRADIENTS
                                                              : TU_GRAD_DIRECT,
                  &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("nn_more_ops");
  TCase *t = tcase_create("nn_more_ops");
  tcase_add_test(t, log_softmax_and_xent_vs_numpy);
  tcase_add_test(t, batch_matmul_vs_numpy);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
