/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_array_more.c - finite-difference gradient cases for ops/array_more_ops.c
 * (Cumsum, ClipByValue, IdentityN) and ReverseV2 (ops/slice_ops.c). */
#include "grad_check.h"

static deft_output cumsum_plain(deft_graph *g, const deft_output *x) {
  return deft_cumsum(g, x[0], deft_const_int32(g, 1, "axis"), false, false, NULL);
}
static deft_output cumsum_excl_rev(deft_graph *g, const deft_output *x) {
  return deft_cumsum(g, x[0], deft_const_int32(g, -2, "axis"), true, true, NULL);
}
/* bounds kept apart: min in [-2.2, -0.2], max in [0.2, 2.2], t in [-1, 1] */
static deft_output clip_tensors(deft_graph *g, const deft_output *x) {
  deft_output lo = deft_sub(g, x[1], deft_const_double(g, 1.2, "d"), NULL);
  deft_output hi = deft_add(g, x[2], deft_const_double(g, 1.2, "u"), NULL);
  return deft_clip_by_value_op(g, x[0], lo, hi, NULL);
}
static deft_output clip_scalars(deft_graph *g, const deft_output *x) {
  return deft_clip_by_value_op(g, x[0], deft_const_double(g, -0.5, "lo"),
                               deft_const_double(g, 0.45, "hi"), NULL);
}
static deft_output identity_n_second(deft_graph *g, const deft_output *x) {
  deft_op *op = deft_identity_n(g, x, 2, NULL);
  return deft_op_output(op, 1); /* x0 gets no gradient */
}
static deft_output reverse_two(deft_graph *g, const deft_output *x) {
  const int32_t ax[2] = {0, -1};
  return deft_reverse_v2(g, x[0], deft_const_int32_vector(g, ax, 2, "axis"), NULL);
}

const tu_grad_case tu_grad_cases_array_more[] = {
    {"Cumsum", "[2,4] axis 1", 1, {{2, {2, 4}}}, cumsum_plain, 0, 0},
    {"Cumsum", "[3,2] axis -2 exclusive reverse", 1, {{2, {3, 2}}}, cumsum_excl_rev, 0, 0},
    {"ClipByValue", "[2,3] tensor bounds", 3, {{2, {2, 3}}, {2, {2, 3}}, {2, {2, 3}}},
     clip_tensors, 0, 0},
    {"ClipByValue", "[8] scalar bounds", 1, {{1, {8}}}, clip_scalars, 0, 0},
    {"IdentityN", "2 x [2,3], output 1", 2, {{2, {2, 3}}, {2, {2, 3}}}, identity_n_second, 0, 0},
    {"ReverseV2", "[2,3,2] axes 0,-1", 1, {{3, {2, 3, 2}}}, reverse_two, 0, 0},
};

const int tu_grad_cases_array_more_count =
    (int)(sizeof tu_grad_cases_array_more / sizeof tu_grad_cases_array_more[0]);
