/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_pad.c - finite-difference gradient cases for ops/pad_ops.c (checked by
 * tests/test_gradients.c): Pad, PadV2, MirrorPad (REFLECT, SYMMETRIC), MirrorPadGrad, L2Loss. */
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(pad);

static deft_output paddings(deft_graph *g, const int32_t *p, int rank) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, (int64_t[]){rank, 2}, 2, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_output none = {NULL, 0};
    return none;
  }
  for (int i = 0; i < 2 * rank; i++) ((int32_t *)deft_tensor_data(t))[i] = p[i];
  deft_output c = deft_const(g, t, "paddings");
  deft_tensor_free(t);
  return c;
}

static const int32_t P3[6] = {1, 0, 2, 1, 0, 2};
static deft_output b_pad(deft_graph *g, const deft_output *x) {
  return deft_pad(g, x[0], paddings(g, P3, 3), NULL);
}
static deft_output b_pad_v2(deft_graph *g, const deft_output *x) {
  return deft_pad_v2(g, x[0], paddings(g, P3, 3), deft_const_double(g, 0.5, "c"), NULL);
}
static deft_output b_reflect(deft_graph *g, const deft_output *x) {
  return deft_mirror_pad(g, x[0], paddings(g, P3, 3), "REFLECT", NULL);
}
static deft_output b_symmetric(deft_graph *g, const deft_output *x) {
  static const int32_t p[6] = {2, 1, 0, 3, 1, 1};
  return deft_mirror_pad(g, x[0], paddings(g, p, 3), "SYMMETRIC", NULL);
}
static deft_output b_mirror_grad(deft_graph *g, const deft_output *x) {
  static const int32_t p[4] = {1, 2, 2, 1};
  return deft_mirror_pad_grad(g, x[0], paddings(g, p, 2), "SYMMETRIC", NULL);
}
static deft_output b_l2(deft_graph *g, const deft_output *x) { return deft_l2_loss(g, x[0], NULL); }

#define S TU_SHAPE

const tu_grad_case tu_grad_cases_pad[] = {
    {"Pad", "[2,3,3] (1,0),(2,1),(0,2)", 1, {S(2, 3, 3)}, b_pad, 0, 0},
    {"PadV2", "[2,3,3] constant 0.5", 1, {S(2, 3, 3)}, b_pad_v2, 0, 0},
    {"MirrorPad", "REFLECT [2,3,3]", 1, {S(2, 3, 3)}, b_reflect, 0, 0},
    {"MirrorPad", "SYMMETRIC [2,3,3]", 1, {S(2, 3, 3)}, b_symmetric, 0, 0},
    {"MirrorPadGrad", "SYMMETRIC [6,6] -> [3,3]", 1, {S(6, 6)}, b_mirror_grad, 0, 0},
    {"L2Loss", "[3,4]", 1, {S(3, 4)}, b_l2, 0, 0},
};

const int tu_grad_cases_pad_count = (int)(sizeof tu_grad_cases_pad / sizeof tu_grad_cases_pad[0]);
