/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_nn.c - finite-difference gradient cases for the nn family (checked by
 * tests/test_gradients.c). Ops with kinks (Relu, LeakyRelu, Selu and the gradient kernels that
 * switch on the sign of an input) get one case per side of the kink, with input ranges that stay
 * away from 0, since a central difference across the kink is meaningless. Where the plain sum of
 * an op's output has a trivial gradient (Softmax rows sum to 1, BiasAddGrad is a sum), the output
 * is weighted by a constant first. */
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(nn);

/* A float64 Const of `shape` filled with distinct weights 0.3, 0.7, 1.1, ... */
static deft_output weights(deft_graph *g, deft_shape shape) {
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, shape.dims, shape.rank, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_output none = {NULL, 0};
    return none;
  }
  double *d = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) d[i] = 0.3 + 0.4 * (double)(i % 7);
  deft_output c = deft_const(g, t, "weights");
  deft_tensor_free(t);
  return c;
}

static deft_output weighted(deft_graph *g, deft_output y) {
  return deft_mul(g, y, weights(g, deft_output_shape(y)), NULL);
}

static deft_output b_relu(deft_graph *g, const deft_output *x) { return deft_relu(g, x[0], NULL); }
static deft_output b_elu(deft_graph *g, const deft_output *x) { return deft_elu(g, x[0], NULL); }
static deft_output b_selu(deft_graph *g, const deft_output *x) { return deft_selu(g, x[0], NULL); }
static deft_output b_leaky(deft_graph *g, const deft_output *x) {
  return deft_leaky_relu(g, x[0], 0.2f, NULL);
}
static deft_output b_sigmoid(deft_graph *g, const deft_output *x) {
  return deft_sigmoid(g, x[0], NULL);
}
static deft_output b_tanh(deft_graph *g, const deft_output *x) { return deft_tanh(g, x[0], NULL); }
static deft_output b_softmax(deft_graph *g, const deft_output *x) {
  return weighted(g, deft_softmax(g, x[0], NULL));
}
static deft_output b_bias_add(deft_graph *g, const deft_output *x) {
  return weighted(g, deft_bias_add(g, x[0], x[1], NULL));
}
static deft_output b_bias_add_nchw(deft_graph *g, const deft_output *x) {
  deft_op_builder *b = deft_op_builder_new(g, "BiasAdd", NULL);
  deft_op_builder_add_input(b, x[0]);
  deft_op_builder_add_input(b, x[1]);
  deft_op_builder_set_attr_string(b, "data_format", "NCHW", 4);
  deft_output y = {deft_op_builder_finish(b), 0};
  return weighted(g, y);
}
static deft_output b_bias_add_grad(deft_graph *g, const deft_output *x) {
  return weighted(g, deft_bias_add_grad(g, x[0], NULL));
}
static deft_output b_xent(deft_graph *g, const deft_output *x) {
  int64_t three = 3;
  deft_tensor *t = deft_tensor_new(DEFT_INT64, &three, 1, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_output none = {NULL, 0};
    return none;
  }
  int64_t *l = deft_tensor_data(t);
  l[0] = 2;
  l[1] = 0;
  l[2] = 3;
  deft_output labels = deft_const(g, t, "labels");
  deft_tensor_free(t);
  return deft_sparse_softmax_cross_entropy_with_logits(g, x[0], labels, NULL);
}
/* Gradient kernels as ops of their own (second-order derivatives). */
static deft_output b_relu_grad(deft_graph *g, const deft_output *x) {
  return deft_relu_grad(g, x[0], x[1], NULL);
}
static deft_output b_elu_grad(deft_graph *g, const deft_output *x) {
  return deft_elu_grad(g, x[0], x[1], NULL);
}
static deft_output b_selu_grad(deft_graph *g, const deft_output *x) {
  return deft_selu_grad(g, x[0], x[1], NULL);
}
static deft_output b_leaky_grad(deft_graph *g, const deft_output *x) {
  return deft_leaky_relu_grad(g, x[0], x[1], 0.3f, NULL);
}
static deft_output b_sigmoid_grad(deft_graph *g, const deft_output *x) {
  return deft_sigmoid_grad(g, x[0], x[1], NULL);
}
static deft_output b_tanh_grad(deft_graph *g, const deft_output *x) {
  return deft_tanh_grad(g, x[0], x[1], NULL);
}

/* A constant deft_shape initializer. */
#define S(...) \
  { DEFT_SHAPE_NARGS_(__VA_ARGS__), { __VA_ARGS__ } }

const tu_grad_case tu_grad_cases_nn[] = {
    {"Relu", "positive side [3,4]", 1, {S(3, 4)}, b_relu, 0.1, 2},
    {"Relu", "negative side [3,4] (zero gradient)", 1, {S(3, 4)}, b_relu, -2, -0.1},
    {"Elu", "[3,4] across 0 (C1 at 0)", 1, {S(3, 4)}, b_elu, -2, 2},
    {"Selu", "positive side [2,5]", 1, {S(2, 5)}, b_selu, 0.1, 2},
    {"Selu", "negative side [2,5]", 1, {S(2, 5)}, b_selu, -3, -0.1},
    {"LeakyRelu", "positive side [4,3]", 1, {S(4, 3)}, b_leaky, 0.1, 2},
    {"LeakyRelu", "negative side [4,3]", 1, {S(4, 3)}, b_leaky, -2, -0.1},
    {"Sigmoid", "[3,4]", 1, {S(3, 4)}, b_sigmoid, -4, 4},
    {"Tanh", "[3,4]", 1, {S(3, 4)}, b_tanh, -2, 2},
    {"Softmax", "[3,5] weighted", 1, {S(3, 5)}, b_softmax, -3, 3},
    {"Softmax", "[1,1]", 1, {S(1, 1)}, b_softmax, 0, 0},
    {"Softmax", "rank 3 [2,2,3] weighted", 1, {S(2, 2, 3)}, b_softmax, -2, 2},
    {"BiasAdd", "NHWC [4,3] + [3], both inputs", 2, {S(4, 3), S(3)}, b_bias_add, 0, 0},
    {"BiasAdd", "NHWC [2,2,2,3] + [3]", 2, {S(2, 2, 2, 3), S(3)}, b_bias_add, 0, 0},
    {"BiasAdd", "NCHW [2,3,2,2] + [3]", 2, {S(2, 3, 2, 2), S(3)}, b_bias_add_nchw, 0, 0},
    {"BiasAddGrad", "NHWC [4,3] weighted", 1, {S(4, 3)}, b_bias_add_grad, 0, 0},
    {"SparseSoftmaxCrossEntropyWithLogits", "logits [3,4], labels Const [2,0,3]", 1, {S(3, 4)},
     b_xent, -3, 3},
    {"ReluGrad", "features > 0", 2, {S(3, 3), S(3, 3)}, b_relu_grad, 0.1, 2},
    {"EluGrad", "outputs < 0", 2, {S(3, 3), S(3, 3)}, b_elu_grad, -0.9, -0.1},
    {"EluGrad", "outputs > 0", 2, {S(3, 3), S(3, 3)}, b_elu_grad, 0.1, 2},
    {"SeluGrad", "outputs < 0", 2, {S(3, 3), S(3, 3)}, b_selu_grad, -1.5, -0.1},
    {"SeluGrad", "outputs > 0", 2, {S(3, 3), S(3, 3)}, b_selu_grad, 0.1, 2},
    {"LeakyReluGrad", "features > 0", 2, {S(3, 3), S(3, 3)}, b_leaky_grad, 0.1, 2},
    {"LeakyReluGrad", "features < 0", 2, {S(3, 3), S(3, 3)}, b_leaky_grad, -2, -0.1},
    {"SigmoidGrad", "[3,3]", 2, {S(3, 3), S(3, 3)}, b_sigmoid_grad, 0, 0},
    {"TanhGrad", "[3,3]", 2, {S(3, 3), S(3, 3)}, b_tanh_grad, 0, 0},
};

const int tu_grad_cases_nn_count = (int)(sizeof tu_grad_cases_nn / sizeof tu_grad_cases_nn[0]);
