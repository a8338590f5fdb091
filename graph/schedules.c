/* SPDX-License-Identifier: Apache-2.0 */
/* graph/schedules.c - the global step (tf.train.create_global_step) and learning-rate schedules
 * (tf.train.exponential_decay as TF 1.x's learning_rate_decay.py builds it). */
#include <math.h>
#include <stdio.h>

#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "base/alloc.h"

static const deft_output no_output = {NULL, 0};

deft_op *deft_global_step_new(deft_graph *g) {
  if (!g || !deft_graph_ok(g)) return NULL;
  deft_output existing;
  if (deft_graph_get_collection(g, "global_step", NULL, &existing, 1, NULL) > 0) {
    deft_graph_fail(g, DEFT_ALREADY_EXISTS, "global_step: '%s' already exists in collection "
                    "\"global_step\"", existing.op->name);
    return NULL;
  }
  /* get_variable("global_step", [], int64, zeros, trainable=False), as create_global_step. */
  deft_op *var = deft_get_variable(g, "global_step", DEFT_INT64, DEFT_SCALAR, deft_init_zeros(),
                                   false);
  if (!var) return NULL;
  deft_graph_add_to_collection(g, "global_step", deft_op_output(var, 0));
  return deft_graph_ok(g) ? var : NULL;
}

/* A one-output op of `type` (when deft's registry knows it) named `name` in the current scope,
 * or with the exact full name `full`. */
static deft_output build(deft_graph *g, const char *type, const char *name, const char *full,
                         const deft_output *in, int n) {
  if (!deft_inputs_ok(g, type, in, n)) return no_output;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  if (full) deft_op_builder_set_exact_name(b, full);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : no_output;
}

deft_output deft_exponential_decay(deft_graph *g, float learning_rate, deft_output global_step,
                                   int64_t decay_steps, float decay_rate, bool staircase,
                                   const char *name) {
  if (!deft_inputs_ok(g, "ExponentialDecay", &global_step, 1)) return no_output;
  deft_dtype st = deft_output_dtype(global_step);
  if (st != DEFT_INT32 && st != DEFT_INT64 && st != DEFT_FLOAT && st != DEFT_DOUBLE) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "exponential_decay: global_step '%s:%d' has dtype "
                    "%s; expected an integer or float scalar", global_step.op->name,
                    global_step.index, deft_dtype_name(st));
    return no_output;
  }
  if (decay_steps <= 0 || !isfinite(learning_rate) || !isfinite(decay_rate) ||
      !(decay_rate > 0)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "exponential_decay: needs decay_steps > 0 and a finite learning_rate and "
                    "decay_rate > 0 (got decay_steps %lld, learning_rate %g, decay_rate %g)",
                    (long long)decay_steps, (double)learning_rate, (double)decay_rate);
    return no_output;
  }
  /* A variable is read through its snapshot, as TF's variable-to-tensor conversion does. */
  deft_output step = global_step;
  if (deft_op_is_variable(step.op) && step.index == 0 && deft_variable_value(step.op).op)
    step = deft_variable_value(step.op);
  const char *scope = deft_graph_push_scope(g, name && *name ? name : "ExponentialDecay");
  if (!scope) return no_output;
  bool int_step = st == DEFT_INT32 || st == DEFT_INT64;
  /* Without a Floor kernel, staircase on an integer step is an exact integer floor division
   * before the float conversion. */
  bool int_floor = staircase && int_step && !deft_registry_lookup("Floor");
  deft_output lr = deft_const_float(g, learning_rate, "learning_rate");
  deft_output step_f =
      st == DEFT_FLOAT || int_floor ? step : deft_cast(g, step, DEFT_FLOAT, "Cast");
  deft_output ds_f = no_output;
  if (!int_floor) {
    deft_output ds = decay_steps <= INT32_MAX
                         ? deft_const_int32(g, (int32_t)decay_steps, "Cast_1/x")
                         : deft_const_int64(g, decay_steps, "Cast_1/x");
    ds_f = deft_cast(g, ds, DEFT_FLOAT, "Cast_1");
  }
  deft_output rate = deft_const_float(g, decay_rate, "Cast_2/x");
  deft_output p;
  if (!staircase) {
    p = deft_div(g, step_f, ds_f, "truediv");
  } else if (int_floor) {
    deft_output ds_i = deft_const_fill(g, st, DEFT_SCALAR, (double)decay_steps, "FloorDiv/y");
    p = deft_cast(g, deft_floor_div(g, step, ds_i, "FloorDiv"), DEFT_FLOAT, "Cast");
  } else if (deft_registry_lookup("Floor")) {
    deft_output q = deft_div(g, step_f, ds_f, "truediv");
    p = build(g, "Floor", "Floor", NULL, &q, 1); /* TF: floor(step / decay_steps) */
  } else {
    p = deft_floor_div(g, step_f, ds_f, "FloorDiv"); /* a float step: floor(x / y) */
  }
  deft_output factor;
  if (deft_registry_lookup("Pow")) {
    deft_output in[2] = {rate, p};
    factor = build(g, "Pow", "Pow", NULL, in, 2);
  } else {
    /* Without a Pow kernel: rate^p = exp(p * log(rate)). */
    factor = deft_exp(g, deft_mul(g, p, deft_log(g, rate, "Log"), "mul"), "Pow");
  }
  deft_output in[2] = {lr, factor};
  deft_output r = deft_graph_ok(g) ? build(g, "Mul", NULL, scope, in, 2) : no_output;
  deft_graph_pop_scope(g);
  return r;
}
