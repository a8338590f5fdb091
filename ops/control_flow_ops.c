/* SPDX-License-Identifier: Apache-2.0 */
/* ops/control_flow_ops.c - NoOp and TF1 control flow: Switch, RefSwitch and Merge (tf.cond),
 * and the while-loop frame ops Enter, RefEnter, Exit, RefExit, NextIteration, RefNextIteration,
 * LoopCond and ControlTrigger. The executor propagates deadness: an untaken Switch output is
 * dead, ops fed by a dead tensor do not run, and a Merge forwards its first live input. The frame
 * ops' kernels only forward their input: what makes them frame ops (an Enter's value entering
 * iteration 0 of its frame, or every iteration when is_constant; a NextIteration's value
 * reaching the next iteration's Merge; an Exit's leaving the frame; a ControlTrigger never being
 * dead) is the executor's (runtime/EXECUTOR.md). The frame ops carry the not-differentiable mark
 * because deft_gradients differentiates a while loop as a whole (graph/while_grad.c: TF 1.x's
 * stacks and gradient loop), not op by op. */
#include <inttypes.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

static void noop_kernel(deft_kernel_ctx *c) { (void)c; }

deft_op *deft_group(deft_graph *g, deft_op *const *ops, int n, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "NoOp", name ? name : "NoOp");
  for (int i = 0; i < n; i++) deft_op_builder_add_control_input(b, ops[i]);
  return deft_op_builder_finish(b);
}

/* ---- Switch / RefSwitch ---- */

static void switch_shape(deft_shape_ctx *c) {
  deft_shape p = deft_shape_ctx_input(c, 1);
  if (p.rank > 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the predicate must be a scalar");
    return;
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 0));
  deft_shape_ctx_set_output(c, 1, deft_shape_ctx_input(c, 0));
}

static bool predicate(deft_kernel_ctx *c, bool *out) {
  const deft_tensor *p = deft_kernel_input(c, 1);
  if (p->dtype != DEFT_BOOL || p->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the predicate must be a bool scalar");
    return false;
  }
  *out = deft_tensor_b(p)[0];
  return true;
}

static void switch_kernel(deft_kernel_ctx *c) {
  bool pred;
  if (!predicate(c, &pred)) return;
  deft_kernel_forward(c, pred ? 1 : 0, deft_kernel_input(c, 0));
  deft_kernel_output_dead(c, pred ? 0 : 1);
}

static void ref_switch_kernel(deft_kernel_ctx *c) {
  bool pred;
  if (!predicate(c, &pred)) return;
  deft_var *v = deft_kernel_ref_input(c, 0);
  if (v) deft_kernel_output_ref(c, pred ? 1 : 0, v);
  else deft_kernel_forward(c, pred ? 1 : 0, deft_kernel_input(c, 0));
  deft_kernel_output_dead(c, pred ? 0 : 1);
}

deft_output deft_switch(deft_graph *g, deft_output data, deft_output pred, const char *name) {
  deft_output in[2] = {data, pred};
  return deft_build_simple(g, "Switch", name, in, 2);
}

/* ---- Merge ---- */

static void merge_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  for (int i = 1; i < deft_shape_ctx_num_inputs(c); i++) {
    deft_shape t = deft_shape_ctx_input(c, i);
    if (s.rank != t.rank) {
      s = deft_shape_unknown();
      break;
    }
    for (int k = 0; k < s.rank; k++)
      if (s.dims[k] != t.dims[k]) s.dims[k] = -1;
  }
  deft_shape_ctx_set_output(c, 0, s);
  deft_shape_ctx_set_output(c, 1, DEFT_SCALAR);
}

static void merge_kernel(deft_kernel_ctx *c) {
  for (int i = 0; i < deft_kernel_num_inputs(c); i++) {
    if (deft_kernel_input_dead(c, i)) continue;
    deft_kernel_forward(c, 0, deft_kernel_input(c, i));
    deft_tensor *idx = deft_kernel_output(c, 1, DEFT_INT32, NULL, 0);
    if (idx) deft_tensor_i32(idx)[0] = i;
    return;
  }
  deft_kernel_fail(c, DEFT_INTERNAL, "no live input");
}

static void ref_merge_kernel(deft_kernel_ctx *c) {
  for (int i = 0; i < deft_kernel_num_inputs(c); i++) {
    if (deft_kernel_input_dead(c, i)) continue;
    deft_var *v = deft_kernel_ref_input(c, i);
    if (v) deft_kernel_output_ref(c, 0, v);
    else deft_kernel_forward(c, 0, deft_kernel_input(c, i));
    deft_tensor *idx = deft_kernel_output(c, 1, DEFT_INT32, NULL, 0);
    if (idx) deft_tensor_i32(idx)[0] = i;
    return;
  }
  deft_kernel_fail(c, DEFT_INTERNAL, "no live input");
}

deft_output deft_merge(deft_graph *g, const deft_output *inputs, int n, const char *name) {
  deft_output none = {NULL, 0};
  if (!deft_inputs_ok(g, "Merge", inputs, n)) return none;
  deft_op_builder *b = deft_op_builder_new(g, "Merge", name);
  deft_op_builder_add_input_list(b, inputs, n);
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none;
  deft_output o = {op, 0};
  return o;
}

/* ---- gradients (tf.cond) ----
 * Switch: the branch gradients meet again in a Merge ("cond_grad"); the untaken branch's gradient
 * is the zeros the gradient walk creates from that branch's (live) Switch output, so exactly one
 * Merge input is alive at run time. Merge: the gradient is switched on the cond's predicate, found
 * by walking back from the Merge to the Switch that guards its branches. */

static void switch_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output in[2] = {grads[0], grads[1]};
  int n = 0;
  deft_output live[2];
  for (int i = 0; i < 2; i++)
    if (in[i].op) live[n++] = in[i];
  if (n) dx[0] = deft_merge(g, live, n, "cond_grad");
}

static deft_output find_pred(deft_op *op, int depth) {
  deft_output none = {NULL, 0};
  if (depth > 64) return none;
  if (!strcmp(deft_op_type(op), "Switch") || !strcmp(deft_op_type(op), "RefSwitch"))
    return deft_op_input(op, 1);
  for (int i = 0; i < deft_op_num_inputs(op); i++) {
    deft_output p = find_pred(deft_op_input(op, i).op, depth + 1);
    if (p.op) return p;
  }
  return none;
}

static void merge_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output pred = {NULL, 0};
  for (int i = 0; i < deft_op_num_inputs(op) && !pred.op; i++)
    pred = find_pred(deft_op_input(op, i).op, 0);
  if (!pred.op) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED,
                    "gradient of Merge '%s': no Switch guards its inputs (only tf.cond-style "
                    "Merges are differentiable)", deft_op_name(op));
    return;
  }
  if (deft_op_num_inputs(op) != 2) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED, "gradient of Merge '%s' with %d inputs",
                    deft_op_name(op), deft_op_num_inputs(op));
    return;
  }
  deft_output sw = deft_switch(g, grads[0], pred, "cond_grad");
  if (!sw.op) return;
  dx[0] = deft_op_output(sw.op, 0);
  dx[1] = deft_op_output(sw.op, 1);
}

/* ---- the while-loop frame ops ---- */

static void frame_forward_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_ref_input(c, 0);
  if (v) deft_kernel_output_ref(c, 0, v);
  else deft_kernel_forward(c, 0, deft_kernel_input(c, 0));
}

static void loop_cond_shape(deft_shape_ctx *c) {
  deft_shape p = deft_shape_ctx_input(c, 0);
  if (p.rank > 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the loop condition must be a scalar");
    return;
  }
  deft_shape_ctx_set_output(c, 0, DEFT_SCALAR);
}

static void loop_cond_kernel(deft_kernel_ctx *c) {
  const deft_tensor *p = deft_kernel_input(c, 0);
  if (p->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the loop condition must be a bool scalar, got "
                     "%" PRId64 " elements", p->n);
    return;
  }
  deft_kernel_forward(c, 0, p);
}

#define ENTER_ATTRS \
  "T: type, frame_name: string, is_constant: bool = false, parallel_iterations: int = 10"

static const deft_op_def control_flow_defs[] = {
    {.type = "Enter", .inputs = "data: T", .outputs = "output: T", .attrs = ENTER_ATTRS,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = deft_shape_unchanged,
     .kernel = frame_forward_kernel},
    {.type = "RefEnter", .inputs = "data: Ref(T)", .outputs = "output: Ref(T)",
     .attrs = ENTER_ATTRS, .flags = DEFT_OP_NOT_DIFFERENTIABLE | DEFT_OP_ALLOWS_UNINIT,
     .shape = deft_shape_unchanged, .kernel = frame_forward_kernel},
    {.type = "Exit", .inputs = "data: T", .outputs = "output: T", .attrs = "T: type",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = deft_shape_unchanged,
     .kernel = frame_forward_kernel},
    {.type = "RefExit", .inputs = "data: Ref(T)", .outputs = "output: Ref(T)", .attrs = "T: type",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE | DEFT_OP_ALLOWS_UNINIT, .shape = deft_shape_unchanged,
     .kernel = frame_forward_kernel},
    {.type = "NextIteration", .inputs = "data: T", .outputs = "output: T", .attrs = "T: type",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = deft_shape_unchanged,
     .kernel = frame_forward_kernel},
    {.type = "RefNextIteration", .inputs = "data: Ref(T)", .outputs = "output: Ref(T)",
     .attrs = "T: type", .flags = DEFT_OP_NOT_DIFFERENTIABLE | DEFT_OP_ALLOWS_UNINIT,
     .shape = deft_shape_unchanged, .kernel = frame_forward_kernel},
    {.type = "LoopCond", .inputs = "input: bool", .outputs = "output: bool",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = loop_cond_shape, .kernel = loop_cond_kernel},
    {.type = "ControlTrigger", .kernel = noop_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "RefMerge", .inputs = "inputs: Ref(N * T)", .outputs = "output: Ref(T), "
     "value_index: int32", .attrs = "T: type, N: int >= 1",
     .flags = DEFT_OP_IS_MERGE | DEFT_OP_ALLOWS_UNINIT | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = merge_shape, .kernel = ref_merge_kernel},
    {.type = "NoOp", .kernel = noop_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "Switch", .inputs = "data: T, pred: bool",
     .outputs = "output_false: T, output_true: T", .attrs = "T: type", .shape = switch_shape,
     .kernel = switch_kernel, .grad = switch_grad},
    {.type = "RefSwitch", .inputs = "data: Ref(T), pred: bool",
     .outputs = "output_false: Ref(T), output_true: Ref(T)", .attrs = "T: type",
     .flags = DEFT_OP_ALLOWS_UNINIT, .shape = switch_shape, .kernel = ref_switch_kernel,
     .grad = switch_grad},
    {.type = "Merge", .inputs = "inputs: N * T", .outputs = "output: T, value_index: int32",
     .attrs = "T: type, N: int >= 1", .flags = DEFT_OP_IS_MERGE, .shape = merge_shape,
     .kernel = merge_kernel, .grad = merge_grad},
};

DEFT_FAMILY(deft_ops_control_flow, control_flow_defs);
