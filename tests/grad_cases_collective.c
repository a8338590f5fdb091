/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_collective.c - finite-difference gradient cases for ops/collective_ops.c
 * (DeftAllreduce, which is the identity in one process: its gradient, the allreduce of the
 * incoming gradients, is too). */
#include "deft/dist.h"
#include "grad_check.h"

static deft_output allreduce_second(deft_graph *g, const deft_output *x) {
  deft_op *op = deft_allreduce(g, x, 2, false, NULL);
  return deft_op_output(op, 1); /* x0 gets no gradient */
}
static deft_output allreduce_average(deft_graph *g, const deft_output *x) {
  return deft_op_output(deft_allreduce(g, x, 1, true, NULL), 0);
}

const tu_grad_case tu_grad_cases_collective[] = {
    {"DeftAllreduce", "2 x [2,3] fused, output 1", 2, {{2, {2, 3}}, {2, {2, 3}}},
     allreduce_second, 0, 0},
    {"DeftAllreduce", "[4] average", 1, {{1, {4}}}, allreduce_average, 0, 0},
};

const int tu_grad_cases_collective_count =
    (int)(sizeof tu_grad_cases_collective / sizeof tu_grad_cases_collective[0]);
