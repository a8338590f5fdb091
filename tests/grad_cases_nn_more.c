/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_nn_more.c - finite-difference gradient cases for LogSoftmax,
 * SoftmaxCrossEntropyWithLogits (ops/nn_more_ops.c) and the batch matmuls
 * (ops/batch_matmul_ops.c). */
#include "grad_check.h"

static deft_output log_softmax(deft_graph *g, const deft_output *x) {
  return deft_log_softmax(g, x[0], NULL);
}
/* labels made a distribution (rows summing to 1), as the op's backprop assumes */
static deft_output xent_loss(deft_graph *g, const deft_output *x) {
  deft_output labels = deft_softmax(g, x[1], NULL);
  return deft_op_output(deft_softmax_cross_entropy_with_logits_op(g, x[0], labels, NULL), 0);
}
static deft_output bmm(deft_graph *g, const deft_output *x) {
  return deft_batch_matmul(g, x[0], x[1], false, false, false, NULL);
}
static deft_output bmm_adj(deft_graph *g, const deft_output *x) {
  return deft_batch_matmul(g, x[0], x[1], true, true, false, NULL);
}
static deft_output bmm_v2_bcast(deft_graph *g, const deft_output *x) {
  return deft_batch_matmul(g, x[0], x[1], false, true, true, NULL);
}
static deft_output bmm_v2_same(deft_graph *g, const deft_output *x) {
  return deft_batch_matmul(g, x[0], x[1], true, false, true, NULL);
}

const tu_grad_case tu_grad_cases_nn_more[] = {
    {"LogSoftmax", "[3,4]", 1, {{2, {3, 4}}}, log_softmax, -2, 2},
    {"SoftmaxCrossEntropyWithLogits", "[3,4] logits, softmax labels", 2,
     {{2, {3, 4}}, {2, {3, 4}}}, xent_loss, -2, 2},
    {"BatchMatMul", "[2,3,4] x [2,4,2]", 2, {{3, {2, 3, 4}}, {3, {2, 4, 2}}}, bmm, 0, 0},
    {"BatchMatMul", "adjoints [2,4,3] x [2,2,4]", 2, {{3, {2, 4, 3}}, {3, {2, 2, 4}}}, bmm_adj, 0,
     0},
    {"BatchMatMulV2", "[2,1,3,4] x [3,2,4]^T", 2, {{4, {2, 1, 3, 4}}, {3, {3, 2, 4}}},
     bmm_v2_bcast, 0, 0},
    {"BatchMatMulV2", "[2,4,3]^T x [2,4,2]", 2, {{3, {2, 4, 3}}, {3, {2, 4, 2}}}, bmm_v2_same, 0,
     0},
};

const int tu_grad_cases_nn_more_count =
    (int)(sizeof tu_grad_cases_nn_more / sizeof tu_grad_cases_nn_more[0]);
