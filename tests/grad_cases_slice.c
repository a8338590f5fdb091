/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_slice.c - finite-difference gradient cases for the slicing, transpose and
 * gather ops (ops/slice_ops.c, ops/transpose_ops.c, ops/gather_ops.c). Each case builds one op
 * whose differentiable inputs are the float64 placeholders; specs, axes and indices are Consts. */
#include "grad_check.h"

static deft_output i32v(deft_graph *g, const int32_t *v, int n, const char *name) {
  return deft_const_int32_vector(g, v, n, name);
}

/* An int32 Const of the given shape. */
static deft_output i32c(deft_graph *g, const int32_t *v, const int64_t *dims, int rank,
                        const char *name) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, dims, rank, NULL);
  int32_t *p = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) p[i] = v[i];
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

/* x[1:4:2, ::-1] of [4,5] */
static deft_output ss_step_reverse(deft_graph *g, const deft_output *x) {
  const int32_t b[2] = {1, 0}, e[2] = {4, 0}, s[2] = {2, -1};
  return deft_strided_slice(g, x[0], i32v(g, b, 2, "b"), i32v(g, e, 2, "e"), i32v(g, s, 2, "s"),
                            2, 2, 0, 0, 0, NULL);
}

/* x[None, 1:, ..., 0] of [3,4,2] */
static deft_output ss_masks(deft_graph *g, const deft_output *x) {
  const int32_t b[4] = {0, 1, 0, 0}, e[4] = {0, 0, 0, 1}, s[4] = {1, 1, 1, 1};
  return deft_strided_slice(g, x[0], i32v(g, b, 4, "b"), i32v(g, e, 4, "e"), i32v(g, s, 4, "s"),
                            0, 2, 4, 1, 8, NULL);
}

/* StridedSliceGrad into [4,5] of dy [2,5] (the slice x[1:4:2, ::-1]) */
static deft_output ss_grad(deft_graph *g, const deft_output *x) {
  const int32_t sh[2] = {4, 5}, b[2] = {1, 0}, e[2] = {4, 0}, s[2] = {2, -1};
  return deft_strided_slice_grad(g, i32v(g, sh, 2, "shape"), i32v(g, b, 2, "b"),
                                 i32v(g, e, 2, "e"), i32v(g, s, 2, "s"), x[0], 2, 2, 0, 0, 0,
                                 NULL);
}

static deft_output split_middle(deft_graph *g, const deft_output *x) {
  deft_op *op = deft_split(g, deft_const_int32(g, 1, "axis"), x[0], 3, NULL);
  return deft_op_output(op, 1); /* outputs 0 and 2 get zeros */
}

static deft_output split_v_rest(deft_graph *g, const deft_output *x) {
  const int32_t sizes[2] = {2, -1};
  deft_op *op = deft_split_v(g, x[0], i32v(g, sizes, 2, "sizes"),
                             deft_const_int32(g, -2, "axis"), 2, NULL);
  return deft_op_output(op, 1);
}

static deft_output transpose_3d(deft_graph *g, const deft_output *x) {
  const int32_t perm[3] = {2, 0, 1};
  return deft_transpose(g, x[0], i32v(g, perm, 3, "perm"), NULL);
}

static deft_output gather_dup(deft_graph *g, const deft_output *x) {
  const int32_t ix[4] = {0, 3, 3, 1};
  return deft_gather(g, x[0], i32c(g, ix, (const int64_t[]){2, 2}, 2, "indices"), NULL);
}

static deft_output gather_v2_axis1(deft_graph *g, const deft_output *x) {
  const int32_t ix[3] = {2, 0, 2};
  return deft_gather_v2(g, x[0], i32v(g, ix, 3, "indices"), deft_const_int32(g, 1, "axis"), 0,
                        NULL);
}

static deft_output gather_v2_axis0(deft_graph *g, const deft_output *x) {
  const int32_t ix[3] = {1, 1, 0};
  return deft_gather_v2(g, x[0], i32v(g, ix, 3, "indices"), deft_const_int64(g, 0, "axis"), 0,
                        NULL);
}

static deft_output gather_nd_pairs(deft_graph *g, const deft_output *x) {
  const int32_t ix[6] = {0, 1, 2, 3, 0, 1};
  return deft_gather_nd(g, x[0], i32c(g, ix, (const int64_t[]){3, 2}, 2, "indices"), NULL);
}

static deft_output scatter_nd_rows(deft_graph *g, const deft_output *x) {
  const int32_t ix[3] = {1, 3, 1}, sh[2] = {4, 2};
  return deft_scatter_nd(g, i32c(g, ix, (const int64_t[]){3, 1}, 2, "indices"), x[0],
                         i32v(g, sh, 2, "shape"), NULL);
}

static deft_output segment_sum(deft_graph *g, const deft_output *x) {
  const int32_t ids[4] = {0, 2, 0, 1};
  return deft_unsorted_segment_sum(g, x[0], i32v(g, ids, 4, "ids"),
                                   deft_const_int32(g, 3, "num"), NULL);
}

const tu_grad_case tu_grad_cases_slice[] = {
    {"StridedSlice", "[4,5] [1:4:2, ::-1]", 1, {{2, {4, 5}}}, ss_step_reverse, 0, 0},
    {"StridedSlice", "[3,4,2] [None, 1:, ..., 0]", 1, {{3, {3, 4, 2}}}, ss_masks, 0, 0},
    {"StridedSliceGrad", "dy [2,5] into [4,5]", 1, {{2, {2, 5}}}, ss_grad, 0, 0},
    {"Split", "[2,6] axis 1 in 3, output 1", 1, {{2, {2, 6}}}, split_middle, 0, 0},
    {"SplitV", "[5,3] sizes [2,-1] axis -2, output 1", 1, {{2, {5, 3}}}, split_v_rest, 0, 0},
    {"Transpose", "[2,3,4] perm [2,0,1]", 1, {{3, {2, 3, 4}}}, transpose_3d, 0, 0},
    {"Gather", "[5,3] indices [[0,3],[3,1]]", 1, {{2, {5, 3}}}, gather_dup, 0, 0},
    {"GatherV2", "[3,4,2] axis 1", 1, {{3, {3, 4, 2}}}, gather_v2_axis1, 0, 0},
    {"GatherV2", "[2,3] int64 axis 0", 1, {{2, {2, 3}}}, gather_v2_axis0, 0, 0},
    {"GatherNd", "[3,4] pairs", 1, {{2, {3, 4}}}, gather_nd_pairs, 0, 0},
    {"ScatterNd", "rows of [4,2], a duplicate", 1, {{2, {3, 2}}}, scatter_nd_rows, 0, 0},
    {"UnsortedSegmentSum", "[4,3] into 3", 1, {{2, {4, 3}}}, segment_sum, 0, 0},
};

const int tu_grad_cases_slice_count =
    (int)(sizeof tu_grad_cases_slice / sizeof tu_grad_cases_slice[0]);
