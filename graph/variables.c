/* SPDX-License-Identifier: Apache-2.0 */
/* graph/variables.c - building variables (tf.Variable's graph: VariableV2 "<name>", its
 * "<name>/Assign" initializer and "<name>/read" snapshot, and the GLOBAL_VARIABLES and
 * TRAINABLE_VARIABLES collections), the variable accessors of deft/ops.h, and
 * tf.global_variables_initializer. With deft_graph_set_resource_variables, variables are TF's
 * ResourceVariable instead: VarHandleOp "<name>", "<name>/IsInitialized/VarIsInitializedOp",
 * "<name>/Assign" (AssignVariableOp) and "<name>/Read/ReadVariableOp". The ops themselves are in
 * ops/state_ops.c and ops/resource_var_ops.c. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/ops.h"
#include "graph/graph_internal.h"

static deft_op *variable_build(deft_graph *g, const char *name, bool exact,
                               deft_output initial_value, bool trainable) {
  if (!deft_inputs_ok(g, "VariableV2", &initial_value, 1)) return NULL;
  deft_shape shape = deft_output_shape(initial_value);
  if (!deft_shape_is_fully_defined(shape)) {
    char s[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "VariableV2 '%s': the initial value '%s:%d' has shape %s, which is not fully "
                    "defined", name ? name : "Variable", deft_op_name(initial_value.op),
                    initial_value.index, deft_shape_format(shape, s, sizeof s));
    return NULL;
  }
  bool resource = g->resource_variables;
  deft_op_builder *b =
      deft_op_builder_new(g, resource ? "VarHandleOp" : "VariableV2", name ? name : "Variable");
  if (exact) deft_op_builder_set_exact_name(b, name);
  deft_op_builder_set_attr_shape(b, "shape", shape);
  deft_op_builder_set_attr_type(b, "dtype", deft_output_dtype(initial_value));
  deft_op *var = deft_op_builder_finish(b);
  if (!var) return NULL;
  if (resource) { /* TF's shared_name is the variable's (unique) name */
    deft_attr *sn = (deft_attr *)deft_op_find_attr(var, "shared_name");
    char *copy = deft_arena_strdup(&g->arena, var->name);
    if (!sn || !copy) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating variable '%s'",
                      var->name);
      return NULL;
    }
    sn->v.u.s.p = copy;
    sn->v.u.s.len = strlen(copy);
  }
  char scope[1024];
  snprintf(scope, sizeof scope, "%s/", deft_op_name(var));
  if (!deft_graph_push_scope(g, scope)) return NULL;
  deft_output ref = {var, 0};
  deft_output assign = {NULL, 0}, read = {NULL, 0};
  if (resource) {
    /* TF's ResourceVariable._init_from_args, in its order */
    if (deft_graph_push_scope(g, "IsInitialized")) {
      deft_var_is_initialized_op(g, ref, "VarIsInitializedOp");
      deft_graph_pop_scope(g);
    }
    assign.op = deft_assign_variable_op(g, ref, initial_value, "Assign");
    if (deft_graph_push_scope(g, "Read")) {
      read = deft_read_variable_op(g, ref, "ReadVariableOp");
      deft_graph_pop_scope(g);
    }
  } else {
    assign = deft_assign(g, ref, initial_value, "Assign");
    read = deft_identity(g, ref, "read");
  }
  deft_graph_pop_scope(g);
  deft_var_info *info = deft_arena_alloc(&g->arena, sizeof *info);
  if (!info) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating variable '%s'",
                    deft_op_name(var));
    return NULL;
  }
  if (!assign.op || !read.op) return NULL;
  info->assign = assign.op;
  info->read = read.op;
  info->initial_value = initial_value;
  info->trainable = trainable;
  var->var = info;
  deft_graph_add_to_collection(g, DEFT_GLOBAL_VARIABLES, ref);
  if (trainable) deft_graph_add_to_collection(g, DEFT_TRAINABLE_VARIABLES, ref);
  return deft_graph_ok(g) ? var : NULL;
}

deft_op *deft_variable_new(deft_graph *g, const char *name, deft_output initial_value,
                           bool trainable) {
  return variable_build(g, name, false, initial_value, trainable);
}

deft_op *deft_variable_new_exact(deft_graph *g, const char *full, deft_output initial_value,
                                 bool trainable) {
  return variable_build(g, full, true, initial_value, trainable);
}

deft_output deft_variable_value(const deft_op *var) {
  deft_output o = {NULL, 0};
  if (var && var->var) o.op = var->var->read;
  return o;
}

deft_op *deft_variable_initializer(const deft_op *var) {
  return (var && var->var) ? var->var->assign : NULL;
}

deft_output deft_variable_initial_value(const deft_op *var) {
  deft_output o = {NULL, 0};
  if (var && var->var) o = var->var->initial_value;
  return o;
}

bool deft_variable_trainable(const deft_op *var) { return var && var->var && var->var->trainable; }

bool deft_variable_is_resource(const deft_op *var) {
  return var && !strcmp(var->type, "VarHandleOp");
}

void deft_graph_set_resource_variables(deft_graph *g, bool on) {
  if (g) g->resource_variables = on;
}

bool deft_graph_resource_variables(const deft_graph *g) { return g && g->resource_variables; }

deft_op *deft_global_variables_initializer(deft_graph *g, const char *name) {
  int n = deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, NULL, 0, NULL);
  deft_output *vars = deft_malloc(sizeof *vars * (size_t)(n + 1));
  if (!vars) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building the initializer");
    return NULL;
  }
  deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, vars, n, NULL);
  deft_op_builder *b = deft_op_builder_new(g, "NoOp", name ? name : "init");
  for (int i = 0; i < n; i++) {
    deft_op *init = deft_variable_initializer(vars[i].op);
    if (!init) {
      deft_graph_fail(g, DEFT_FAILED_PRECONDITION,
                      "variable '%s' has no initializer op", deft_op_name(vars[i].op));
      deft_free(vars);
      return NULL;
    }
    deft_op_builder_add_control_input(b, init);
  }
  deft_free(vars);
  return deft_op_builder_finish(b);
}
