/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_math_errors.c - build- and run-time errors of the math family: broadcasting,
 * MatMul inner dimensions and rank, bad reduction axes, dtype mixes, integer division by zero
 * and invalid Cast types, each with the op's TF name and the offending inputs and shapes. */
#include <stdio.h>

#include "deft/ops.h"
#include "math_testutil.h"
#include "testutil.h"

/* ---- errors ---- */

START_TEST(error_broadcast_at_build_time) {
  deft_graph *g = deft_graph_new();
  deft_output a = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "a");
  deft_output b = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(4), "b");
  deft_graph_push_scope(g, "layer");
  deft_output z = deft_add(g, a, b, NULL);
  deft_graph_pop_scope(g);
  ck_assert(!deft_output_ok(z));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'layer/Add'", "'a:0'",
                   "'b:0'", "[2,3]", "[4]");
  ck_assert_ptr_null(deft_graph_op_by_name(g, "layer/Add")); /* the graph is unchanged */
  deft_graph_free(g);
}
END_TEST

START_TEST(error_matmul_inner_dims) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 50), "x");
  deft_output w = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(300, 100), "w");
  deft_graph_push_scope(g, "dnn");
  deft_graph_push_scope(g, "hidden2");
  deft_output z = deft_matmul(g, x, w, false, false, NULL);
  ck_assert(!deft_output_ok(z));
  ck_assert_str_eq(deft_status_message(deft_graph_status(g)),
                   "MatMul 'dnn/hidden2/MatMul': input 1 ('w:0') has shape [300,100], but "
                   "input 0 ('x:0') has 50 columns");
  deft_graph_free(g);
  /* rank */
  g = deft_graph_new();
  deft_output t3 = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 4), "t3");
  deft_matmul(g, t3, t3, false, false, "mm");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "MatMul 'mm'", "input 0",
                   "'t3:0'", "[2,3,4]", "rank 2");
  deft_graph_free(g);
  /* at run time, when shapes are unknown at build time */
  g = deft_graph_new();
  deft_output a = mtu_ph(g, DEFT_FLOAT, deft_shape_unknown(), "a");
  deft_output b = mtu_ph(g, DEFT_FLOAT, deft_shape_unknown(), "b");
  deft_output c = deft_matmul(g, a, b, false, false, NULL);
  deft_tensor *ta = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  deft_tensor *tb = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 5), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, c, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MatMul 'MatMul'", "[2,3]", "[4,5]");
  deft_status_free(st);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_bad_axes) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  int32_t bad = 2;
  deft_reduce_sum(g, x, &bad, 1, false, "total");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Sum 'total'",
                   "total/reduction_indices", "axis 2", "out of range", "[2,3]");
  deft_graph_clear_error(g);
  int32_t dup[2] = {0, -2};
  deft_reduce_mean(g, x, dup, 2, false, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Mean", "axis -2",
                   "listed twice");
  deft_graph_clear_error(g);
  deft_argmax(g, x, 5, "am");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ArgMax 'am'", "dimension 5",
                   "out of range");
  deft_graph_clear_error(g);
  /* at run time, with fed axes */
  deft_output axes = mtu_ph(g, DEFT_INT32, DEFT_SHAPE(-1), "axes");
  deft_output s = deft_sum(g, x, axes, false, "s");
  ck_assert(deft_graph_ok(g));
  deft_tensor *tx = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  int32_t five = -5;
  deft_tensor *ta = deft_tensor_from_data(DEFT_INT32, (int64_t[]){1}, 1, &five, 4, NULL);
  deft_output feeds[2] = {x, axes};
  deft_tensor *vals[2] = {tx, ta};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, s, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Sum 's'", "axis -5", "out of range");
  deft_status_free(st);
  deft_tensor_free(tx);
  deft_tensor_free(ta);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_dtype_mix) {
  deft_graph *g = deft_graph_new();
  deft_output a = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2), "a");
  deft_output i = mtu_ph(g, DEFT_INT32, DEFT_SHAPE(2), "i");
  deft_mul(g, a, i, "m");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Mul 'm'", "input 1",
                   "DT_INT32", "DT_FLOAT");
  deft_graph_clear_error(g);
  /* a dtype the op does not take */
  deft_sqrt(g, i, "r");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Sqrt 'r'", "DT_INT32");
  deft_graph_clear_error(g);
  deft_output b = mtu_ph(g, DEFT_BOOL, DEFT_SHAPE(2), "b");
  deft_add(g, b, b, "bad_add");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'bad_add'", "DT_BOOL");
  deft_graph_clear_error(g);
  deft_output xs[2] = {a, mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "c")};
  deft_add_n(g, xs, 2, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "AddN 'AddN'", "input 1",
                   "'c:0'", "[3]", "[2]");
  deft_graph_clear_error(g);
  deft_add_n(g, xs, 0, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "AddN", "at least one");
  deft_graph_free(g);
}
END_TEST

START_TEST(error_integer_division_by_zero) {
  static const char *types[] = {"FloorDiv", "FloorMod", "RealDiv"};
  binary_fn fns[] = {deft_floor_div, deft_floor_mod, deft_div};
  for (int k = 0; k < 3; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, DEFT_INT64, DEFT_SHAPE(3), "x"),
                y = mtu_ph(g, DEFT_INT64, DEFT_SHAPE(3), "y");
    deft_output z = fns[k](g, x, y, "q");
    static const double xv[] = {1, 2, 3}, yv[] = {1, 0, 2};
    deft_tensor *tx = mtu_from_values(DEFT_INT64, DEFT_SHAPE(3), xv);
    deft_tensor *ty = mtu_from_values(DEFT_INT64, DEFT_SHAPE(3), yv);
    deft_output feeds[2] = {x, y};
    deft_tensor *vals[2] = {tx, ty};
    deft_status *st = deft_status_new();
    ck_assert_ptr_null(mtu_run(g, z, feeds, vals, 2, 1, st));
    char want[64];
    snprintf(want, sizeof want, "%s 'q'", types[k]);
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, want, "division by zero");
    deft_status_free(st);
    deft_tensor_free(tx);
    deft_tensor_free(ty);
    deft_graph_free(g);
  }
  /* Reciprocal of an integer zero */
  deft_graph *g = deft_graph_new();
  deft_tensor *t = deft_tensor_scalar_int32(0);
  deft_output r = deft_reciprocal(g, deft_const(g, t, "zero"), NULL);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, r, NULL, NULL, 0, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Reciprocal", "division by zero");
  deft_status_free(st);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_cast_invalid_type) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2), "x");
  ck_assert(!deft_output_ok(deft_cast(g, x, (deft_dtype)99, "c")));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Cast 'c'", "'x:0'",
                   "invalid dtype");
  deft_graph_clear_error(g);
  deft_cast(g, x, DEFT_STRING, "s");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Cast 's'", "DT_FLOAT",
                   "DT_STRING");
  ck_assert_int_eq(deft_graph_num_ops(g), 1);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_broadcast_at_run_time) {
  deft_graph *g = deft_graph_new();
  deft_output a = mtu_ph(g, DEFT_DOUBLE, deft_shape_unknown(), "a");
  deft_output b = mtu_ph(g, DEFT_DOUBLE, DEFT_SHAPE(-1), "b");
  deft_output z = deft_squared_difference(g, a, b, "sd");
  ck_assert(deft_graph_ok(g));
  deft_tensor *ta = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(2, 3), -1, 1, false, false);
  deft_tensor *tb = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(4), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, z, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SquaredDifference 'sd'", "Incompatible shapes",
                   "[2,3]", "[4]");
  deft_status_free(st);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("math_errors");
  TCase *te = tcase_create("errors");
  tcase_add_test(te, error_broadcast_at_build_time);
  tcase_add_test(te, error_matmul_inner_dims);
  tcase_add_test(te, error_bad_axes);
  tcase_add_test(te, error_dtype_mix);
  tcase_add_test(te, error_integer_division_by_zero);
  tcase_add_test(te, error_cast_invalid_type);
  tcase_add_test(te, error_broadcast_at_run_time);
  suite_add_tcase(s, te);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
