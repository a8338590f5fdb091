/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_space.c - finite-difference gradient cases for ops/space_ops.c (checked by
 * tests/test_gradients.c): SpaceToBatchND, BatchToSpaceND (with paddings and crops),
 * SpaceToBatch, BatchToSpace, SpaceToDepth, DepthToSpace. */
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(space);

static deft_output ints(deft_graph *g, const int32_t *v, int rows, int cols, const char *name) {
  int64_t dims[2] = {rows, cols};
  deft_tensor *t = deft_tensor_new(DEFT_INT32, dims, cols ? 2 : 1, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_output none = {NULL, 0};
    return none;
  }
  for (int i = 0; i < rows * (cols ? cols : 1); i++)
    ((int32_t *)deft_tensor_data(t))[i] = v[i];
  deft_output c = deft_const(g, t, name);
  deft_tensor_free(t);
  return c;
}

static const int32_t B23[2] = {2, 3}, P[4] = {1, 0, 0, 2}, C[4] = {1, 0, 2, 1},
                     P1[4] = {1, 0, 0, 1};
static deft_output b_s2b_nd(deft_graph *g, const deft_output *x) {
  return deft_space_to_batch_nd(g, x[0], ints(g, B23, 2, 0, "block_shape"),
                                ints(g, P, 2, 2, "paddings"), NULL);
}
static deft_output b_b2s_nd(deft_graph *g, const deft_output *x) {
  return deft_batch_to_space_nd(g, x[0], ints(g, B23, 2, 0, "block_shape"),
                                ints(g, C, 2, 2, "crops"), NULL);
}
static deft_output b_s2b(deft_graph *g, const deft_output *x) {
  return deft_space_to_batch(g, x[0], ints(g, P1, 2, 2, "paddings"), 2, NULL);
}
static deft_output b_b2s(deft_graph *g, const deft_output *x) {
  return deft_batch_to_space(g, x[0], ints(g, P1, 2, 2, "crops"), 2, NULL);
}
static deft_output b_s2d(deft_graph *g, const deft_output *x) {
  return deft_space_to_depth(g, x[0], 2, NULL, NULL);
}
static deft_output b_d2s(deft_graph *g, const deft_output *x) {
  return deft_depth_to_space(g, x[0], 2, NULL, NULL);
}

#define S TU_SHAPE

const tu_grad_case tu_grad_cases_space[] = {
    {"SpaceToBatchND",
     "[2,3,4,2] block [2,3] paddings (1,0),(0,2)",
     1,
     {S(2, 3, 4, 2)},
     b_s2b_nd,
     0,
     0},
    {"BatchToSpaceND",
     "[12,2,2,1] block [2,3] crops (1,0),(2,1)",
     1,
     {S(12, 2, 2, 1)},
     b_b2s_nd,
     0,
     0},
    {"SpaceToBatch", "[1,3,3,2] block 2 paddings (1,0),(0,1)", 1, {S(1, 3, 3, 2)}, b_s2b, 0, 0},
    {"BatchToSpace", "[4,2,2,1] block 2 crops (1,0),(0,1)", 1, {S(4, 2, 2, 1)}, b_b2s, 0, 0},
    {"SpaceToDepth", "[1,4,2,3] block 2", 1, {S(1, 4, 2, 3)}, b_s2d, 0, 0},
    {"DepthToSpace", "[1,2,1,8] block 2", 1, {S(1, 2, 1, 8)}, b_d2s, 0, 0},
};

const int tu_grad_cases_space_count =
    (int)(sizeof tu_grad_cases_space / sizeof tu_grad_cases_space[0]);
