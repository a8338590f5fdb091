/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_tensor_array.c - finite-difference gradient cases for ops/tensor_array_ops.c:
 * each case writes its input into a TensorArray and reads it back another way, so the pair's
 * gradients (Write <-> Read, Scatter <-> Gather, Split <-> Concat) are checked together (the
 * writes' own output is the float32 flow: tests/test_gradients.c exempts them). */
#include "grad_check.h"

static deft_tensor_array make_ta(deft_graph *g, int size, deft_shape elem) {
  return deft_tensor_array_new(g, DEFT_DOUBLE, deft_const_int32(g, size, "size"), elem, false, true,
                               true, "ta");
}

static deft_output write_read(deft_graph *g, const deft_output *x) {
  deft_tensor_array ta = make_ta(g, 3, DEFT_SHAPE(2, 3));
  ta.flow = deft_tensor_array_write(g, ta, deft_const_int32(g, 1, "i"), x[0], "write");
  return deft_tensor_array_read(g, ta, deft_const_int32(g, 1, "j"), "read");
}

static deft_output scatter_gather(deft_graph *g, const deft_output *x) {
  deft_tensor_array ta = make_ta(g, 4, DEFT_SHAPE(2));
  const int32_t idx[3] = {3, 0, 1}, back[3] = {0, 1, 3};
  ta.flow =
      deft_tensor_array_scatter(g, ta, deft_const_int32_vector(g, idx, 3, "idx"), x[0], "scatter");
  return deft_tensor_array_gather(g, ta, deft_const_int32_vector(g, back, 3, "back"), "gather");
}

static deft_output split_op(deft_graph *g, deft_tensor_array ta, deft_output x) {
  deft_tensor *lt = deft_tensor_new(DEFT_INT64, (const int64_t[]){2}, 1, NULL);
  ((int64_t *)deft_tensor_data(lt))[0] = 1;
  ((int64_t *)deft_tensor_data(lt))[1] = 3;
  deft_output lens = deft_const(g, lt, "lengths");
  deft_tensor_free(lt);
  deft_op_builder *b = deft_op_builder_new(g, "TensorArraySplitV3", "split");
  deft_op_builder_add_input(b, ta.handle);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, lens);
  deft_op_builder_add_input(b, ta.flow);
  deft_op *op = deft_op_builder_finish(b);
  return op ? deft_op_output(op, 0) : (deft_output){NULL, 0};
}

static deft_output split_concat(deft_graph *g, const deft_output *x) {
  deft_tensor_array ta = deft_tensor_array_new(g, DEFT_DOUBLE, deft_const_int32(g, 2, "size"),
                                               deft_shape_unknown(), false, true, false, "ta");
  ta.flow = split_op(g, ta, x[0]);
  deft_op_builder *b = deft_op_builder_new(g, "TensorArrayConcatV3", "concat");
  deft_op_builder_add_input(b, ta.handle);
  deft_op_builder_add_input(b, ta.flow);
  deft_op_builder_set_attr_type(b, "dtype", DEFT_DOUBLE);
  deft_op *op = deft_op_builder_finish(b);
  return op ? deft_op_output(op, 0) : (deft_output){NULL, 0};
}

const tu_grad_case tu_grad_cases_tensor_array[] = {
    {"TensorArrayReadV3", "write [2,3] then read", 1, {TU_SHAPE(2, 3)}, write_read, 0, 0},
    {"TensorArrayGatherV3", "scatter [3,2] then gather", 1, {TU_SHAPE(3, 2)}, scatter_gather, 0, 0},
    {"TensorArrayConcatV3",
     "split [4,2] as 1+3 then concat",
     1,
     {TU_SHAPE(4, 2)},
     split_concat,
     0,
     0},
};

const int tu_grad_cases_tensor_array_count =
    (int)(sizeof tu_grad_cases_tensor_array / sizeof tu_grad_cases_tensor_array[0]);
