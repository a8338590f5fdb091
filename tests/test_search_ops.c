/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_search_ops.c - ops/search_ops.c: Where, TopKV2, Unique and ListDiff against NumPy
 * (np.argwhere, a stable argsort, np.unique, order-preserving set difference), Assert's failure
 * message naming the node with its data, Print's forwarding and gradient, and errors. */
#include <math.h>
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"

#include "grad_cases_search.c"

#define I32(...) ((const int32_t[]){__VA_ARGS__})

START_TEST(where_top_k_unique_list_diff_vs_numpy) {
  deft_tensor *v = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), -3, 3, true, false);
  deft_tensor *vi = mtu_rand_tensor(DEFT_INT64, DEFT_SHAPE(40), 0, 9, false, false);
  deft_tensor *wi = mtu_rand_tensor(DEFT_INT64, DEFT_SHAPE(6), 0, 9, false, false);
  enum { N = 7 };
  np_case cases[N];
  deft_tensor *got[N];
  memset(cases, 0, sizeof cases);
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 4, 5), "x");
  deft_output xi = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "xi");
  deft_output yi = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "yi");
  deft_output w = deft_where(g, deft_greater(g, x, deft_const_float(g, 0.5f, "half"), NULL), NULL);
  deft_op *tk = deft_top_k(g, x, deft_const_int32(g, 3, "k"), true, NULL);
  deft_op *un = deft_unique(g, xi, DEFT_INT64, NULL);
  deft_op *ld = deft_list_diff(g, xi, yi, DEFT_INT32, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_int_eq(deft_output_shape(w).dims[1], 3);
  ck_assert_int_eq(deft_output_shape(deft_op_output(tk, 0)).dims[2], 3);
  deft_output ys[N] = {w, deft_op_output(tk, 0), deft_op_output(tk, 1), deft_op_output(un, 0),
                       deft_op_output(un, 1), deft_op_output(ld, 0), deft_op_output(ld, 1)};
  const char *np[N] = {
      "np.argwhere(a > 0.5)",
      "np.take_along_axis(a, np.argsort(-a, axis=-1, kind='stable')[..., :3], -1)",
      "np.argsort(-a, axis=-1, kind='stable')[..., :3]",
      "b[np.sort(np.unique(b, return_index=True)[1])]",
      "(lambda u: np.array([u.index(e) for e in b]))("
      "list(b[np.sort(np.unique(b, return_index=True)[1])]))",
      "b[~np.isin(b, c)]",
      "np.nonzero(~np.isin(b, c))[0]",
  };
  deft_output feeds[3] = {x, xi, yi};
  deft_tensor *vals[3] = {v, vi, wi};
  for (int k = 0; k < N; k++) {
    got[k] = mtu_run_ok(g, ys[k], feeds, vals, 3);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", np[k]);
    cases[k].nin = 3;
    cases[k].in[0] = v;
    cases[k].in[1] = vi;
    cases[k].in[2] = wi;
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < N; k++) {
    mtu_check_close(got[k], cases[k].want, 0, 0, np[k]);
    deft_tensor_free(got[k]);
  }
  mtu_np_free(cases, N);
  /* k too large, named */
  deft_op *bad = deft_top_k(g, x, deft_const_int32(g, 6, "k6"), true, "tk");
  ck_assert_ptr_null(bad);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "TopKV2 'tk'", "k = 6");
  deft_tensor_free(v);
  deft_tensor_free(vi);
  deft_tensor_free(wi);
  deft_graph_free(g);
}
END_TEST

START_TEST(assert_and_print) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "x");
  deft_output ok = deft_all(g, deft_less(g, x, deft_const_float(g, 10.0f, "ten"), NULL),
                            deft_const_int32_vector(g, I32(0), 1, "ax"), false, NULL);
  deft_output data[2] = {deft_const_string(g, "x must be below 10, got", "msg"), x};
  deft_op *as = deft_assert(g, ok, data, 2, 3, "check");
  deft_output y = deft_print(g, x, &x, 1, "x = ", -1, 2, "pr");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_graph_push_control_deps(g, &as, 1);
  deft_output z = deft_identity(g, y, "z");
  deft_graph_pop_control_deps(g);
  deft_tensor *good = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4), 0, 5, false, false);
  deft_tensor *r = mtu_run_ok(g, z, &x, &good, 1);
  ck_assert(!memcmp(deft_tensor_data(r), deft_tensor_data(good), 4 * sizeof(float)));
  deft_tensor_free(r);
  const double bv[5] = {1, 2, 30, 4, 5};
  deft_tensor *badv = mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(5), bv);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, z, &x, &badv, 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Assert 'check'", "assertion failed",
                   "x must be below 10, got", "[1 2 30...]");
  /* Print's gradient passes to its input */
  deft_output dx;
  ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &dx));
  ck_assert_ptr_nonnull(dx.op);
  deft_tensor_free(good);
  deft_tensor_free(badv);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_search_count; i++)
    tu_grad_check(&tu_grad_cases_search[i], TU_GRAD_DIRECT, &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("search_ops");
  TCase *t = tcase_create("search_ops");
  tcase_add_test(t, where_top_k_unique_list_diff_vs_numpy);
  tcase_add_test(t, assert_and_print);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
