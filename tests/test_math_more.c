/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_math_more.c - the second math table (ops/math_more_ops.c): what the NumPy tables of
 * tests/test_math_elementwise.c do not reach (logical ops with broadcasting, Round's ties to
 * even, Softplus's thresholds, integer division by zero naming the node), TF's node names in the
 * gradient graphs, and each gradient builder against central differences. */
#include <math.h>
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

#include "grad_cases_math_more.c"

static deft_output bools(deft_graph *g, const bool *v, const int64_t *dims, int rank,
                         const char *name) {
  deft_tensor *t = deft_tensor_new(DEFT_BOOL, dims, rank, NULL);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) deft_tensor_b(t)[i] = v[i];
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

START_TEST(logical_ops) {
  deft_graph *g = deft_graph_new();
  const bool a[4] = {false, false, true, true}, b[2] = {false, true};
  /* a [4,1] against b [2]: the truth tables as [4,2] */
  deft_output x = bools(g, a, (const int64_t[]){4, 1}, 2, "a");
  deft_output y = bools(g, b, (const int64_t[]){2}, 1, "b");
  deft_output and_ = deft_logical_and(g, x, y, NULL), or_ = deft_logical_or(g, x, y, NULL);
  deft_output not_ = deft_logical_not(g, x, NULL);
  ck_assert_str_eq(deft_op_name(and_.op), "LogicalAnd");
  ck_assert_int_eq(deft_output_shape(and_).rank, 2);
  ck_assert_int_eq(deft_output_shape(and_).dims[1], 2);
  deft_tensor *ra = mtu_run_ok(g, and_, NULL, NULL, 0), *ro = mtu_run_ok(g, or_, NULL, NULL, 0),
              *rn = mtu_run_ok(g, not_, NULL, NULL, 0);
  for (int i = 0; i < 4; i++) {
    ck_assert(deft_tensor_b(rn)[i] == !a[i]);
    for (int j = 0; j < 2; j++) {
      ck_assert(deft_tensor_b(ra)[i * 2 + j] == (a[i] && b[j]));
      ck_assert(deft_tensor_b(ro)[i * 2 + j] == (a[i] || b[j]));
    }
  }
  deft_tensor_free(ra);
  deft_tensor_free(ro);
  deft_tensor_free(rn);
  /* only bools */
  deft_output f = deft_const_float(g, 1.0f, "f");
  ck_assert_ptr_null(deft_logical_not(g, f, "bad").op);
  ck_assert(!deft_graph_ok(g));
  deft_graph_free(g);
}
END_TEST

START_TEST(all_and_any) {
  deft_graph *g = deft_graph_new();
  /* [2,3]: rows {T,T,T} and {T,F,F} */
  const bool v[6] = {true, true, true, true, false, false};
  deft_output x = bools(g, v, (const int64_t[]){2, 3}, 2, "x");
  deft_output a1 = deft_all(g, x, deft_const_int32_vector(g, (const int32_t[]){1}, 1, "ax1"),
                            false, NULL);
  deft_output y0 = deft_any(g, x, deft_const_int32_vector(g, (const int32_t[]){0}, 1, "ax0"),
                            true, NULL);
  deft_output aa = deft_all(g, x, deft_const_int32_vector(g, (const int32_t[]){0, -1}, 2, "axs"),
                            false, NULL);
  deft_output none = deft_any(g, bools(g, v, (const int64_t[]){0, 3}, 2, "empty"),
                              deft_const_int32_vector(g, (const int32_t[]){0}, 1, "ax2"), false,
                              NULL);
  deft_output none_all = deft_all(g, bools(g, v, (const int64_t[]){0, 3}, 2, "empty2"),
                                  deft_const_int32_vector(g, (const int32_t[]){0}, 1, "ax3"),
                                  false, NULL);
  ck_assert_str_eq(deft_op_type(a1.op), "All");
  ck_assert_int_eq(deft_output_dtype(y0), DEFT_BOOL);
  deft_tensor *r = mtu_run_ok(g, a1, NULL, NULL, 0);
  ck_assert(deft_tensor_b(r)[0] && !deft_tensor_b(r)[1]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, y0, NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_rank(r), 2);
  ck_assert(deft_tensor_b(r)[0] && deft_tensor_b(r)[1] && deft_tensor_b(r)[2]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, aa, NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_rank(r), 0);
  ck_assert(!deft_tensor_b(r)[0]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, none, NULL, NULL, 0);
  for (int i = 0; i < 3; i++) ck_assert(!deft_tensor_b(r)[i]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, none_all, NULL, NULL, 0);
  for (int i = 0; i < 3; i++) ck_assert(deft_tensor_b(r)[i]);
  deft_tensor_free(r);
  /* numbers are not bools */
  ck_assert_ptr_null(deft_all(g, deft_const_float(g, 1.0f, "f"),
                              deft_const_int32_vector(g, NULL, 0, "ax4"), false, "bad").op);
  ck_assert(!deft_graph_ok(g));
  deft_graph_free(g);
}
END_TEST

START_TEST(round_ties_and_softplus_thresholds) {
  deft_graph *g = deft_graph_new();
  const float v[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999998f, -0.49999997f};
  const float want[8] = {0, 2, 2, -0.0f, -2, -2, 2, -0.0f};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){8}, 1, NULL);
  memcpy(deft_tensor_data(t), v, sizeof v);
  deft_output r = deft_round(g, deft_const(g, t, "v"), NULL);
  deft_tensor *out = mtu_run_ok(g, r, NULL, NULL, 0);
  for (int i = 0; i < 8; i++) ck_assert_float_eq(deft_tensor_f32(out)[i], want[i]);
  deft_tensor_free(out);
  /* Softplus: x itself far right, exp(x) far left, never inf or 0 where TF gives neither */
  const float s[6] = {100.0f, 20.0f, 13.0f, -13.0f, -20.0f, -100.0f};
  memcpy(deft_tensor_data(t), s, sizeof s);
  deft_tensor_f32(t)[6] = 0.0f;
  deft_tensor_f32(t)[7] = 88.0f;
  deft_output sp = deft_softplus(g, deft_const(g, t, "s"), NULL);
  out = mtu_run_ok(g, sp, NULL, NULL, 0);
  const float *o = deft_tensor_f32(out);
  ck_assert_float_eq(o[0], 100.0f);
  ck_assert_float_eq(o[1], 20.0f);
  ck_assert(fabs(o[2] - log1p(exp(13.0))) < 1e-5);
  ck_assert(fabs(o[3] - log1p(exp(-13.0))) < 1e-11);
  ck_assert(fabs(o[4] / exp(-20.0) - 1) < 1e-6);
  ck_assert(o[5] > 0 && fabs(o[5] - exp(-100.0)) < 3e-45); /* a subnormal float32 */
  ck_assert(fabs(o[6] - log(2.0)) < 1e-7);
  ck_assert_float_eq(o[7], 88.0f);
  deft_tensor_free(out);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

START_TEST(integer_division_by_zero_names_the_node) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_const_int32_vector(g, (const int32_t[]){7, -7, 9}, 3, "x");
  deft_output y = deft_const_int32_vector(g, (const int32_t[]){2, 2, 0}, 3, "y");
  deft_output y2 = deft_const_int32_vector(g, (const int32_t[]){2, 2, -4}, 3, "y2");
  deft_output d = deft_div_v1(g, x, y, "d"), m = deft_mod(g, x, y, "m");
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, d, NULL, NULL, 0, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Div 'd'", "division by zero");
  deft_status_set(st, DEFT_OK, "%s", "");
  ck_assert_ptr_null(mtu_run(g, m, NULL, NULL, 0, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Mod 'm'", "division by zero");
  /* truncation toward zero, remainder with the sign of x */
  deft_tensor *q = mtu_run_ok(g, deft_div_v1(g, x, y2, NULL), NULL, NULL, 0);
  deft_tensor *r = mtu_run_ok(g, deft_mod(g, x, y2, NULL), NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_i32(q)[1], -3);
  ck_assert_int_eq(deft_tensor_i32(q)[2], -2);
  ck_assert_int_eq(deft_tensor_i32(r)[1], -1);
  ck_assert_int_eq(deft_tensor_i32(r)[2], 1);
  deft_tensor_free(q);
  deft_tensor_free(r);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static deft_op *find_type(deft_graph *g, const char *prefix, const char *type) {
  for (int i = 0; i < deft_graph_num_ops(g); i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!strncmp(deft_op_name(op), prefix, strlen(prefix)) && !strcmp(deft_op_type(op), type))
      return op;
  }
  return NULL;
}

START_TEST(gradient_graphs_use_tf_ops) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x");
  deft_output y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "y");
  deft_output z = deft_pow(g, x, y, NULL);
  deft_output xs[2] = {x, y}, dx[2];
  ck_assert(deft_gradients(g, &z, 1, xs, 2, NULL, dx));
  ck_assert_ptr_nonnull(find_type(g, "gradients/Pow_grad/", "BroadcastGradientArgs"));
  ck_assert_ptr_nonnull(find_type(g, "gradients/Pow_grad/", "Greater"));
  ck_assert_ptr_nonnull(find_type(g, "gradients/Pow_grad/", "Select"));
  ck_assert_ptr_nonnull(find_type(g, "gradients/Pow_grad/", "Log"));
  deft_output d0 = dx[0];
  while (!strcmp(deft_op_type(d0.op), "Identity")) d0 = deft_op_input(d0.op, 0); /* gating */
  ck_assert_str_eq(deft_op_type(d0.op), "Reshape");
  deft_output sp = deft_softplus(g, x, NULL);
  ck_assert(deft_gradients(g, &sp, 1, &x, 1, NULL, dx));
  ck_assert_str_eq(deft_op_name(dx[0].op), "gradients_1/Softplus_grad/SoftplusGrad");
  deft_output l = deft_log1p(g, x, NULL);
  ck_assert(deft_gradients(g, &l, 1, &x, 1, NULL, dx));
  ck_assert_ptr_nonnull(find_type(g, "gradients_2/Log1p_grad/", "Reciprocal"));
  /* Mod and Ceil stop gradients: nothing flows to x */
  deft_output m = deft_add(g, deft_ceil(g, x, NULL), deft_mod(g, x, y, NULL), NULL);
  ck_assert(deft_gradients(g, &m, 1, &x, 1, NULL, dx));
  ck_assert_ptr_null(dx[0].op);
  ck_assert(deft_graph_ok(g));
  deft_graph_free(g);
}
END_TEST

START_TEST(registry_entries) {
  static const char *types[] = {"Div",  "Mod",   "Pow",   "LogicalAnd", "LogicalOr",
                                "LogicalNot", "Ceil", "Round", "Log1p", "Expm1",
                                "Erf", "Softplus", "Softsign", "SoftplusGrad", "SoftsignGrad",
                                "Min", "All", "Any"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const deft_op_reg *r = deft_registry_lookup(types[i]);
    ck_assert_msg(r != NULL, "%s is not registered", types[i]);
    ck_assert_msg(r->def->kernel != NULL, "%s has no kernel", types[i]);
  }
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_math_more_count; i++)
    tu_grad_check(&tu_grad_cases_math_more[i], TU_GRAD_DIRECT, &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("math_more");
  TCase *t = tcase_create("math_more");
  tcase_add_test(t, logical_ops);
  tcase_add_test(t, all_and_any);
  tcase_add_test(t, round_ties_and_softplus_thresholds);
  tcase_add_test(t, integer_division_by_zero_names_the_node);
  tcase_add_test(t, gradient_graphs_use_tf_ops);
  tcase_add_test(t, registry_entries);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
