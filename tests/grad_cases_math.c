/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_math.c - finite-difference gradient cases for the math family: every
 * differentiable op, broadcasting variants of the binary ops, all MatMul transposes, and
 * reductions with partial axes, keep_dims and shapes unknown at build time (hidden behind a
 * PlaceholderWithDefault of unknown shape, which forces the dynamic gradient graphs). */
#include "grad_check.h"

static deft_output dyn(deft_graph *g, deft_output x) {
  return deft_placeholder_with_default(g, x, deft_shape_unknown(), NULL);
}

static deft_output axes(deft_graph *g, const int32_t *v, int n) {
  return deft_const_int32_vector(g, v, n, "axes");
}

/* ---- binary ---- */

#define BINARY(name, fn)                                          \
  static deft_output name(deft_graph *g, const deft_output *in) { \
    return fn(g, in[0], in[1], NULL);                             \
  }
/* x's shape unknown at build time */
#define BINARY_DYN(name, fn)                                      \
  BINARY(name, fn)                                                \
  static deft_output name##_dyn(deft_graph *g, const deft_output *in) { \
    return fn(g, dyn(g, in[0]), in[1], NULL);                     \
  }
BINARY_DYN(b_add, deft_add)
BINARY(b_add_v2, deft_add_v2)
BINARY_DYN(b_sub, deft_sub)
BINARY_DYN(b_mul, deft_mul)
BINARY_DYN(b_div, deft_div)
BINARY_DYN(b_max, deft_maximum)
BINARY(b_min, deft_minimum)
BINARY_DYN(b_sqd, deft_squared_difference)
BINARY(b_rsqrt_grad, deft_rsqrt_grad)
BINARY(b_sqrt_grad, deft_sqrt_grad)

/* ReciprocalGrad (the gradient kernel of Reciprocal) has no public constructor. */
static deft_output b_recip_grad(deft_graph *g, const deft_output *in) {
  deft_op_builder *b = deft_op_builder_new(g, "ReciprocalGrad", NULL);
  deft_op_builder_add_input(b, in[0]);
  deft_op_builder_add_input(b, in[1]);
  deft_output o = {deft_op_builder_finish(b), 0};
  return o;
}

/* ---- unary ---- */

#define UNARY(name, fn) \
  static deft_output name(deft_graph *g, const deft_output *in) { return fn(g, in[0], NULL); }
UNARY(u_neg, deft_neg)
UNARY(u_square, deft_square)
UNARY(u_sqrt, deft_sqrt)
UNARY(u_rsqrt, deft_rsqrt)
UNARY(u_exp, deft_exp)
UNARY(u_log, deft_log)
UNARY(u_reciprocal, deft_reciprocal)
UNARY(u_abs, deft_abs)

static deft_output u_cast(deft_graph *g, const deft_output *in) {
  return deft_cast(g, in[0], DEFT_DOUBLE, NULL);
}

static deft_output add_n3(deft_graph *g, const deft_output *in) {
  deft_output m = deft_mul(g, in[0], in[1], NULL); /* makes the three gradients differ */
  deft_output xs[3] = {m, in[1], in[2]};
  return deft_add_n(g, xs, 3, NULL);
}

/* ---- MatMul ---- */

#define MATMUL(name, ta, tb)                                         \
  static deft_output name(deft_graph *g, const deft_output *in) {    \
    return deft_matmul(g, in[0], in[1], ta, tb, NULL);               \
  }
MATMUL(mm_nn, false, false)
MATMUL(mm_nt, false, true)
MATMUL(mm_tn, true, false)
MATMUL(mm_tt, true, true)

/* ---- reductions ---- */

static const int32_t AX0[] = {0}, AX1[] = {1}, AXM1[] = {-1}, AX02[] = {0, 2}, AX01[] = {0, 1},
                     AX012[] = {0, 1, 2};

#define REDUCE(name, fn, ax, n, keep, dynamic)                              \
  static deft_output name(deft_graph *g, const deft_output *in) {           \
    deft_output x = dynamic ? dyn(g, in[0]) : in[0];                        \
    return fn(g, x, axes(g, ax, n), keep, NULL);                            \
  }
REDUCE(sum_all, deft_sum, AX01, 2, false, false)
REDUCE(sum_ax1_keep, deft_sum, AX1, 1, true, false)
REDUCE(sum_ax0, deft_sum, AX0, 1, false, false)
REDUCE(sum_neg, deft_sum, AXM1, 1, false, false)
REDUCE(sum_02, deft_sum, AX02, 2, false, false)
REDUCE(sum_02_keep_dyn, deft_sum, AX02, 2, true, true)
REDUCE(sum_all_dyn, deft_sum, AX01, 2, false, true)
REDUCE(mean_all, deft_mean, AX01, 2, false, false)
REDUCE(mean_ax1_keep, deft_mean, AX1, 1, true, false)
REDUCE(mean_ax0, deft_mean, AX0, 1, false, false)
REDUCE(mean_02, deft_mean, AX02, 2, false, false)
REDUCE(mean_neg_dyn, deft_mean, AXM1, 1, false, true)
REDUCE(mean_012_keep_dyn, deft_mean, AX012, 3, true, true)
REDUCE(prod_ax1, deft_prod, AX1, 1, false, false)
REDUCE(prod_all_keep, deft_prod, AX01, 2, true, false)
REDUCE(max_ax1, deft_max, AX1, 1, false, false)
REDUCE(max_all, deft_max, AX01, 2, false, false)
REDUCE(max_02_keep, deft_max, AX02, 2, true, false)
REDUCE(max_neg_dyn, deft_max, AXM1, 1, false, true)

static deft_output reduce_mean_loss(deft_graph *g, const deft_output *in) {
  /* tf.reduce_mean(x) of a batch of unknown size, as a loss */
  return deft_reduce_mean(g, dyn(g, in[0]), NULL, 0, false, "loss");
}

#define S3(a, b, c) TU_SHAPE(a, b, c)
#define S2(a, b) TU_SHAPE(a, b)
#define S1(a) TU_SHAPE(a)
#define S0 TU_SCALAR

const tu_grad_case tu_grad_cases_math[] = {
    {"Add", "same shape [2,3]", 2, {S2(2, 3), S2(2, 3)}, b_add, 0, 0},
    {"Add", "broadcast [2,3]+[3]", 2, {S2(2, 3), S1(3)}, b_add, 0, 0},
    {"Add", "broadcast [2,1]+[1,3]", 2, {S2(2, 1), S2(1, 3)}, b_add, 0, 0},
    {"Add", "scalar+[2,3]", 2, {S0, S2(2, 3)}, b_add, 0, 0},
    {"Add", "dynamic [?,3]+[3]", 2, {S2(4, 3), S1(3)}, b_add_dyn, 0, 0},
    {"AddV2", "broadcast [2,3]+[3]", 2, {S2(2, 3), S1(3)}, b_add_v2, 0, 0},
    {"Sub", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_sub, 0, 0},
    {"Sub", "broadcast [2,3]-[3]", 2, {S2(2, 3), S1(3)}, b_sub, 0, 0},
    {"Sub", "broadcast [3]-[2,3]", 2, {S1(3), S2(2, 3)}, b_sub, 0, 0},
    {"Sub", "dynamic", 2, {S2(2, 3), S2(2, 1)}, b_sub_dyn, 0, 0},
    {"Mul", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_mul, 0, 0},
    {"Mul", "broadcast [2,3]*[3]", 2, {S2(2, 3), S1(3)}, b_mul, 0, 0},
    {"Mul", "broadcast [2,1]*[1,3]", 2, {S2(2, 1), S2(1, 3)}, b_mul, 0, 0},
    {"Mul", "[4,3]*scalar", 2, {S2(4, 3), S0}, b_mul, 0, 0},
    {"Mul", "dynamic [?,3]*[3]", 2, {S2(4, 3), S1(3)}, b_mul_dyn, 0, 0},
    {"RealDiv", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_div, 0.5, 2},
    {"RealDiv", "broadcast [2,3]/[3]", 2, {S2(2, 3), S1(3)}, b_div, 0.5, 2},
    {"RealDiv", "broadcast [2,1]/[1,3]", 2, {S2(2, 1), S2(1, 3)}, b_div, 0.5, 2},
    {"RealDiv", "dynamic", 2, {S2(2, 3), S0}, b_div_dyn, 0.5, 2},
    {"Maximum", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_max, 0, 0},
    {"Maximum", "broadcast [2,3] vs [3]", 2, {S2(2, 3), S1(3)}, b_max, 0, 0},
    {"Maximum", "broadcast [2,1] vs [1,3]", 2, {S2(2, 1), S2(1, 3)}, b_max, 0, 0},
    {"Maximum", "dynamic", 2, {S2(2, 3), S1(3)}, b_max_dyn, 0, 0},
    {"Minimum", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_min, 0, 0},
    {"Minimum", "broadcast [2,3] vs [3]", 2, {S2(2, 3), S1(3)}, b_min, 0, 0},
    {"SquaredDifference", "same shape", 2, {S2(2, 3), S2(2, 3)}, b_sqd, 0, 0},
    {"SquaredDifference", "broadcast [2,3] vs [3]", 2, {S2(2, 3), S1(3)}, b_sqd, 0, 0},
    {"SquaredDifference", "dynamic", 2, {S2(2, 3), S2(1, 3)}, b_sqd_dyn, 0, 0},
    {"Neg", "[2,3]", 1, {S2(2, 3)}, u_neg, 0, 0},
    {"Square", "[2,3]", 1, {S2(2, 3)}, u_square, 0, 0},
    {"Sqrt", "[2,3]", 1, {S2(2, 3)}, u_sqrt, 0.5, 2},
    {"Rsqrt", "[2,3]", 1, {S2(2, 3)}, u_rsqrt, 0.5, 2},
    {"Exp", "[2,3]", 1, {S2(2, 3)}, u_exp, 0, 0},
    {"Log", "[2,3]", 1, {S2(2, 3)}, u_log, 0.5, 2},
    {"Reciprocal", "[2,3]", 1, {S2(2, 3)}, u_reciprocal, 0.5, 2},
    {"Abs", "[2,3]", 1, {S2(2, 3)}, u_abs, 0, 0},
    {"RsqrtGrad", "(y, dy) [2,3]", 2, {S2(2, 3), S2(2, 3)}, b_rsqrt_grad, 0.5, 2},
    {"SqrtGrad", "(y, dy) [2,3]", 2, {S2(2, 3), S2(2, 3)}, b_sqrt_grad, 0.5, 2},
    {"ReciprocalGrad", "(y, dy) [2,3]", 2, {S2(2, 3), S2(2, 3)}, b_recip_grad, 0.5, 2},
    {"Cast", "double to double", 1, {S2(2, 3)}, u_cast, 0, 0},
    {"AddN", "three inputs", 3, {S2(2, 3), S2(2, 3), S2(2, 3)}, add_n3, 0, 0},
    {"MatMul", "[3,4] x [4,2]", 2, {S2(3, 4), S2(4, 2)}, mm_nn, 0, 0},
    {"MatMul", "transpose_b", 2, {S2(3, 4), S2(2, 4)}, mm_nt, 0, 0},
    {"MatMul", "transpose_a", 2, {S2(4, 3), S2(4, 2)}, mm_tn, 0, 0},
    {"MatMul", "both transposed", 2, {S2(4, 3), S2(2, 4)}, mm_tt, 0, 0},
    {"MatMul", "1x1", 2, {S2(1, 1), S2(1, 1)}, mm_nn, 0, 0},
    {"Sum", "all axes", 1, {S2(2, 3)}, sum_all, 0, 0},
    {"Sum", "axis 1 keep_dims", 1, {S2(2, 3)}, sum_ax1_keep, 0, 0},
    {"Sum", "axis 0", 1, {S2(2, 3)}, sum_ax0, 0, 0},
    {"Sum", "axis -1", 1, {S2(2, 3)}, sum_neg, 0, 0},
    {"Sum", "axes {0,2} of [2,3,4]", 1, {S3(2, 3, 4)}, sum_02, 0, 0},
    {"Sum", "axes {0,2} keep_dims, dynamic", 1, {S3(2, 3, 4)}, sum_02_keep_dyn, 0, 0},
    {"Sum", "all axes, dynamic", 1, {S2(2, 3)}, sum_all_dyn, 0, 0},
    {"Mean", "all axes", 1, {S2(2, 3)}, mean_all, 0, 0},
    {"Mean", "axis 1 keep_dims", 1, {S2(2, 3)}, mean_ax1_keep, 0, 0},
    {"Mean", "axis 0", 1, {S2(2, 3)}, mean_ax0, 0, 0},
    {"Mean", "axes {0,2} of [2,3,4]", 1, {S3(2, 3, 4)}, mean_02, 0, 0},
    {"Mean", "axis -1, dynamic", 1, {S2(2, 3)}, mean_neg_dyn, 0, 0},
    {"Mean", "all axes keep_dims, dynamic", 1, {S3(2, 3, 2)}, mean_012_keep_dyn, 0, 0},
    {"Mean", "reduce_mean loss, dynamic", 1, {S1(5)}, reduce_mean_loss, 0, 0},
    {"Prod", "axis 1 (no zeros)", 1, {S2(2, 3)}, prod_ax1, 0.5, 2},
    {"Prod", "all axes keep_dims (no zeros)", 1, {S2(2, 3)}, prod_all_keep, 0.5, 2},
    {"Max", "axis 1", 1, {S2(2, 3)}, max_ax1, 0, 0},
    {"Max", "all axes", 1, {S2(2, 3)}, max_all, 0, 0},
    {"Max", "axes {0,2} keep_dims", 1, {S3(2, 3, 4)}, max_02_keep, 0, 0},
    {"Max", "axis -1, dynamic", 1, {S2(2, 3)}, max_neg_dyn, 0, 0},
};

const int tu_grad_cases_math_count = sizeof tu_grad_cases_math / sizeof tu_grad_cases_math[0];
