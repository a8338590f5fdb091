/* tests/grad_cases_pool.c - finite-difference gradient cases for the pooling family
 * (ops/pool_ops.c) and Relu6 / Relu6Grad (checked by tests/test_gradients.c). Windows and
 * strides differ per axis, padding is SAME (asymmetric) and VALID, layouts NHWC and NCHW. The
 * gradient ops of MaxPool take the pooled output from a MaxPool of the same input, as the
 * gradient graph does. Relu6's cases stay away from its kinks at 0 and 6. */
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(pool);

static const int64_t K22[4] = {1, 2, 2, 1}, S22[4] = {1, 2, 2, 1};
static const int64_t K32[4] = {1, 3, 2, 1}, S21[4] = {1, 2, 1, 1};
static const int64_t K33[4] = {1, 3, 3, 1};
static const int64_t KC32[4] = {1, 1, 3, 2}, SC12[4] = {1, 1, 1, 2};

static deft_output b_max_valid(deft_graph *g, const deft_output *x) {
  return deft_max_pool(g, x[0], K22, S22, "VALID", "NHWC", NULL);
}
static deft_output b_max_same(deft_graph *g, const deft_output *x) {
  return deft_max_pool(g, x[0], K32, S21, "SAME", "NHWC", NULL);
}
static deft_output b_max_nchw(deft_graph *g, const deft_output *x) {
  return deft_max_pool(g, x[0], KC32, SC12, "SAME", "NCHW", NULL);
}
static deft_output b_max_v2(deft_graph *g, const deft_output *x) {
  int32_t k[4] = {1, 3, 2, 1}, s[4] = {1, 2, 2, 1};
  return deft_max_pool_v2(g, x[0], deft_const_int32_vector(g, k, 4, "ksize"),
                          deft_const_int32_vector(g, s, 4, "strides"), "SAME", "NHWC", NULL);
}
static deft_output b_avg_same(deft_graph *g, const deft_output *x) {
  return deft_avg_pool(g, x[0], K33, S22, "SAME", "NHWC", NULL);
}
static deft_output b_avg_valid(deft_graph *g, const deft_output *x) {
  return deft_avg_pool(g, x[0], K32, S21, "VALID", "NHWC", NULL);
}
static deft_output b_avg_nchw(deft_graph *g, const deft_output *x) {
  return deft_avg_pool(g, x[0], KC32, SC12, "SAME", "NCHW", NULL);
}
static deft_output b_max_grad(deft_graph *g, const deft_output *x) {
  deft_output y = deft_max_pool(g, x[0], K32, S21, "SAME", "NHWC", NULL);
  return deft_max_pool_grad(g, x[0], y, x[1], K32, S21, "SAME", "NHWC", NULL);
}
static deft_output b_max_grad_grad(deft_graph *g, const deft_output *x) {
  deft_output y = deft_max_pool(g, x[0], K22, S22, "VALID", "NHWC", NULL);
  return deft_max_pool_grad_grad(g, x[0], y, x[1], K22, S22, "VALID", "NHWC", NULL);
}
/* The V2 gradient ops, from the gradient of a MaxPoolV2 (so built as deft_gradients does). */
static deft_output v2_grad_op(deft_graph *g, const char *type, const deft_output *x) {
  int32_t k[4] = {1, 2, 3, 1}, s[4] = {1, 1, 2, 1};
  deft_output ks = deft_const_int32_vector(g, k, 4, "ksize");
  deft_output ss = deft_const_int32_vector(g, s, 4, "strides");
  deft_output y = deft_max_pool_v2(g, x[0], ks, ss, "SAME", "NHWC", NULL);
  deft_op_builder *b = deft_op_builder_new(g, type, NULL);
  deft_output in[5] = {x[0], y, x[1], ks, ss};
  for (int i = 0; i < 5; i++) deft_op_builder_add_input(b, in[i]);
  deft_op_builder_set_attr_string(b, "padding", "SAME", 4);
  deft_output o = {deft_op_builder_finish(b), 0};
  return o;
}
static deft_output b_max_grad_v2(deft_graph *g, const deft_output *x) {
  return v2_grad_op(g, "MaxPoolGradV2", x);
}
static deft_output b_max_grad_grad_v2(deft_graph *g, const deft_output *x) {
  return v2_grad_op(g, "MaxPoolGradGradV2", x);
}
static deft_output b_avg_grad(deft_graph *g, const deft_output *x) {
  int32_t shape[4] = {2, 5, 4, 3};
  return deft_avg_pool_grad(g, deft_const_int32_vector(g, shape, 4, "shape"), x[0], K32, S21,
                            "SAME", "NHWC", NULL);
}
static deft_output b_relu6(deft_graph *g, const deft_output *x) {
  return deft_relu6(g, x[0], NULL);
}
static deft_output b_relu6_grad(deft_graph *g, const deft_output *x) {
  return deft_relu6_grad(g, x[0], x[1], NULL);
}

#define S TU_SHAPE

const tu_grad_case tu_grad_cases_pool[] = {
    {"MaxPool", "NHWC [2,5,5,3] 2x2 s2 VALID", 1, {S(2, 5, 5, 3)}, b_max_valid, 0, 0},
    {"MaxPool", "NHWC [2,5,4,2] 3x2 s(2,1) SAME", 1, {S(2, 5, 4, 2)}, b_max_same, 0, 0},
    {"MaxPool", "NCHW [1,2,4,5] 3x2 s(1,2) SAME", 1, {S(1, 2, 4, 5)}, b_max_nchw, 0, 0},
    {"MaxPoolV2", "NHWC [1,5,5,2] 3x2 s2 SAME", 1, {S(1, 5, 5, 2)}, b_max_v2, 0, 0},
    {"AvgPool", "NHWC [2,5,5,2] 3x3 s2 SAME", 1, {S(2, 5, 5, 2)}, b_avg_same, 0, 0},
    {"AvgPool", "NHWC [1,5,4,3] 3x2 s(2,1) VALID", 1, {S(1, 5, 4, 3)}, b_avg_valid, 0, 0},
    {"AvgPool", "NCHW [2,3,4,5] 3x2 s(1,2) SAME", 1, {S(2, 3, 4, 5)}, b_avg_nchw, 0, 0},
    {"MaxPoolGrad", "NHWC [2,5,4,2] 3x2 s(2,1) SAME", 2, {S(2, 5, 4, 2), S(2, 3, 4, 2)},
     b_max_grad, 0, 0},
    {"MaxPoolGradGrad", "NHWC [1,4,6,2] 2x2 s2 VALID", 2, {S(1, 4, 6, 2), S(1, 4, 6, 2)},
     b_max_grad_grad, 0, 0},
    {"MaxPoolGradV2", "NHWC [1,4,5,2] 2x3 s(1,2) SAME", 2, {S(1, 4, 5, 2), S(1, 4, 3, 2)},
     b_max_grad_v2, 0, 0},
    {"MaxPoolGradGradV2", "NHWC [1,4,5,2] 2x3 s(1,2) SAME", 2, {S(1, 4, 5, 2), S(1, 4, 5, 2)},
     b_max_grad_grad_v2, 0, 0},
    {"AvgPoolGrad", "NHWC [2,5,4,3] 3x2 s(2,1) SAME", 1, {S(2, 3, 4, 3)}, b_avg_grad, 0, 0},
    {"Relu6", "inside (0, 6)", 1, {S(3, 4)}, b_relu6, 0.1, 5.9},
    {"Relu6", "above 6 (zero gradient)", 1, {S(3, 4)}, b_relu6, 6.1, 9},
    {"Relu6", "below 0 (zero gradient)", 1, {S(3, 4)}, b_relu6, -3, -0.1},
    {"Relu6Grad", "features inside (0, 6)", 2, {S(3, 3), S(3, 3)}, b_relu6_grad, 0.1, 5.9},
};

const int tu_grad_cases_pool_count =
    (int)(sizeof tu_grad_cases_pool / sizeof tu_grad_cases_pool[0]);
