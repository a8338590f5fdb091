/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_array.c - finite-difference gradient cases for the array ops (ops/array_ops.c
 * and ops/concat_slice_ops.c). Each case builds one op whose inputs are the float64 placeholders
 * and Consts, so the op's own gradient builder is what gets checked. */
#include "grad_check.h"

/* Shapes in the table are written as {rank, {dims}} (static initializers). */

static deft_output reshape_2x3_to_3x2(deft_graph *g, const deft_output *x) {
  const int64_t dims[2] = {3, 2};
  return deft_reshape_to(g, x[0], dims, 2, NULL);
}

static deft_output reshape_infer(deft_graph *g, const deft_output *x) {
  const int64_t dims[3] = {2, -1, 2};
  return deft_reshape_to(g, x[0], dims, 3, NULL);
}

static deft_output expand_dims_1(deft_graph *g, const deft_output *x) {
  return deft_expand_dims(g, x[0], deft_const_int32(g, 1, "axis"), NULL);
}

static deft_output expand_dims_neg(deft_graph *g, const deft_output *x) {
  return deft_expand_dims(g, x[0], deft_const_int64(g, -1, "axis"), NULL);
}

static deft_output squeeze_all(deft_graph *g, const deft_output *x) {
  return deft_squeeze(g, x[0], NULL, 0, NULL);
}

static deft_output squeeze_listed(deft_graph *g, const deft_output *x) {
  const int64_t dims[1] = {-1};
  return deft_squeeze(g, x[0], dims, 1, NULL);
}

static deft_output bool_const(deft_graph *g, const bool *v, const int64_t *dims, int rank) {
  deft_tensor *t = deft_tensor_new(DEFT_BOOL, dims, rank, NULL);
  bool *p = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) p[i] = v[i];
  deft_output o = deft_const(g, t, "cond");
  deft_tensor_free(t);
  return o;
}

static deft_output select_elementwise(deft_graph *g, const deft_output *x) {
  const bool c[6] = {true, false, false, true, true, false};
  const int64_t dims[2] = {2, 3};
  return deft_select(g, bool_const(g, c, dims, 2), x[0], x[1], NULL);
}

static deft_output select_rows(deft_graph *g, const deft_output *x) {
  const bool c[3] = {false, true, false};
  const int64_t dims[1] = {3};
  return deft_select(g, bool_const(g, c, dims, 1), x[0], x[1], NULL);
}

static deft_output pack_axis1(deft_graph *g, const deft_output *x) {
  return deft_pack(g, x, 2, 1, NULL);
}

static deft_output pack_three_neg(deft_graph *g, const deft_output *x) {
  return deft_pack(g, x, 3, -1, NULL);
}

static deft_output unpack_middle(deft_graph *g, const deft_output *x) {
  deft_op_builder *b = deft_op_builder_new(g, "Unpack", NULL);
  deft_op_builder_add_input(b, x[0]);
  deft_op_builder_set_attr_int(b, "num", 3);
  deft_op_builder_set_attr_int(b, "axis", 1);
  deft_op *op = deft_op_builder_finish(b);
  return deft_op_output(op, 1); /* outputs 0 and 2 get no gradient: zeros are stacked in */
}

static deft_output concat_axis1(deft_graph *g, const deft_output *x) {
  return deft_concat(g, x, 2, deft_const_int32(g, 1, "axis"), NULL);
}

static deft_output concat_three_neg_int64(deft_graph *g, const deft_output *x) {
  return deft_concat(g, x, 3, deft_const_int64(g, -2, "axis"), NULL);
}

static deft_output placeholder_with_default(deft_graph *g, const deft_output *x) {
  return deft_placeholder_with_default(g, x[0], DEFT_SHAPE(2, 2), "pwd");
}

static deft_output identity(deft_graph *g, const deft_output *x) {
  return deft_identity(g, x[0], NULL);
}

const tu_grad_case tu_grad_cases_array[] = {
    {"Reshape", "[2,3] -> [3,2]", 1, {{2, {2, 3}}}, reshape_2x3_to_3x2, 0, 0},
    {"Reshape", "[4,3] -> [2,-1,2]", 1, {{2, {4, 3}}}, reshape_infer, 0, 0},
    {"ExpandDims", "[2,3] axis 1", 1, {{2, {2, 3}}}, expand_dims_1, 0, 0},
    {"ExpandDims", "[3] int64 axis -1", 1, {{1, {3}}}, expand_dims_neg, 0, 0},
    {"Squeeze", "[1,3,1] all", 1, {{3, {1, 3, 1}}}, squeeze_all, 0, 0},
    {"Squeeze", "[2,1] dims [-1]", 1, {{2, {2, 1}}}, squeeze_listed, 0, 0},
    {"Select", "elementwise [2,3]", 2, {{2, {2, 3}}, {2, {2, 3}}}, select_elementwise,
     0, 0},
    {"Select", "rows [3] of [3,2]", 2, {{2, {3, 2}}, {2, {3, 2}}}, select_rows, 0, 0},
    {"Pack", "2 x [2,3] axis 1", 2, {{2, {2, 3}}, {2, {2, 3}}}, pack_axis1, 0, 0},
    {"Pack", "3 x [2] axis -1", 3, {{1, {2}}, {1, {2}}, {1, {2}}}, pack_three_neg,
     0, 0},
    {"Unpack", "[2,3,2] axis 1, output 1", 1, {{3, {2, 3, 2}}}, unpack_middle, 0, 0},
    {"ConcatV2", "[2,3] + [2,1] axis 1", 2, {{2, {2, 3}}, {2, {2, 1}}}, concat_axis1, 0,
     0},
    {"ConcatV2", "3 inputs, int64 axis -2", 3,
     {{2, {1, 2}}, {2, {3, 2}}, {2, {2, 2}}}, concat_three_neg_int64, 0, 0},
    {"PlaceholderWithDefault", "[2,2]", 1, {{2, {2, 2}}}, placeholder_with_default, 0, 0},
    {"Identity", "[3]", 1, {{1, {3}}}, identity, 0, 0},
};

const int tu_grad_cases_array_count =
    (int)(sizeof tu_grad_cases_array / sizeof tu_grad_cases_array[0]);
