/* ops/state_ops.c - variables and assignment: VariableV2 (and the legacy Variable), Assign,
 * AssignAdd, AssignSub; the public variable helpers. A variable's value lives in the session
 * (deft_var); VariableV2's output is a reference to it. In-place updates copy first when the
 * buffer is shared (a fetched value or a live snapshot), so nobody sees a value change under
 * them. */
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "graph/graph_internal.h"
#include "ops/op_def.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

/* ---- VariableV2 / Variable ---- */

static void variable_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_unknown();
  deft_op_attr_shape(c->op, "shape", &s);
  deft_shape_ctx_set_output(c, 0, s);
}

static void variable_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_variable(c);
  if (v) deft_kernel_output_ref(c, 0, v);
}

bool deft_op_is_variable(const deft_op *op) {
  return op && op->reg && (op->reg->def->flags & DEFT_OP_SOURCE_VARIABLE);
}

/* ---- Assign ---- */

static void assign_shape(deft_shape_ctx *c) {
  bool validate = true;
  deft_op_attr_bool(c->op, "validate_shape", &validate);
  deft_shape s = validate ? deft_shape_merge(c, 0, 1) : deft_shape_ctx_input(c, 1);
  deft_shape_ctx_set_output(c, 0, s);
}

/* Checks value against the variable's declared shape (validate_shape). */
static bool check_declared(deft_kernel_ctx *c, deft_var *v, const deft_tensor *value) {
  deft_shape want;
  if (!deft_op_attr_shape(v->op, "shape", &want) || want.rank < 0) return true;
  bool ok = want.rank == value->rank;
  for (int i = 0; ok && i < want.rank; i++) ok = want.dims[i] < 0 || want.dims[i] == value->dims[i];
  if (!ok) {
    char a[128], b[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "cannot assign a value of shape %s to variable '%s' of shape %s",
                     deft_shape_format(deft_tensor_shape(value), a, sizeof a), v->op->name,
                     deft_shape_format(want, b, sizeof b));
  }
  return ok;
}

static void assign_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_ref_input(c, 0);
  const deft_tensor *value = deft_kernel_input(c, 1);
  if (!v) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input 0 is not a variable reference");
    return;
  }
  if (deft_kernel_attr_bool(c, "validate_shape") && !check_declared(c, v, value)) return;
  deft_tensor *dst = &v->value;
  size_t bytes = deft_tensor_nbytes(value);
  if (v->initialized && dst->buf && deft_buffer_exclusive(dst->buf) && dst->dtype == value->dtype &&
      dst->dtype != DEFT_STRING && deft_tensor_nbytes(dst) == bytes) {
    deft_buffer_touch(dst->buf);
    memcpy(dst->buf->data, value->buf->data, bytes); /* keep the variable's own buffer */
    deft_tensor_reshape_inplace(dst, value->dims, value->rank);
  } else {
    deft_tensor_set_shared(dst, value); /* copied on the first in-place update */
    deft_buffer_touch(dst->buf);        /* a buffer from outside: see deft_buffer_touch */
  }
  v->initialized = true;
  deft_kernel_output_ref(c, 0, v);
}

/* ---- AssignAdd / AssignSub ---- */

static void update_kernel(deft_kernel_ctx *c, int sign) {
  deft_var *v = deft_kernel_ref_input(c, 0);
  const deft_tensor *d = deft_kernel_input(c, 1);
  if (!v) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input 0 is not a variable reference");
    return;
  }
  deft_tensor *x = &v->value;
  bool same = x->rank == d->rank && x->dtype == d->dtype;
  for (int i = 0; same && i < x->rank; i++) same = x->dims[i] == d->dims[i];
  if (!same) {
    char a[128], b[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "variable '%s' has shape %s, the update has shape %s (they must match)",
                     v->op->name, deft_shape_format(deft_tensor_shape(x), a, sizeof a),
                     deft_shape_format(deft_tensor_shape(d), b, sizeof b));
    return;
  }
  if (!deft_tensor_make_unique(x, NULL)) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory updating '%s'", v->op->name);
    return;
  }
  int64_t n = x->n;
  switch (x->dtype) {
    case DEFT_FLOAT: {
      float *a = deft_tensor_f32(x);
      const float *b = deft_tensor_f32(d);
      for (int64_t i = 0; i < n; i++) a[i] += sign * b[i];
      break;
    }
    case DEFT_DOUBLE: {
      double *a = deft_tensor_f64(x);
      const double *b = deft_tensor_f64(d);
      for (int64_t i = 0; i < n; i++) a[i] += sign * b[i];
      break;
    }
    case DEFT_INT32: {
      int32_t *a = deft_tensor_i32(x);
      const int32_t *b = deft_tensor_i32(d);
      for (int64_t i = 0; i < n; i++) a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)(sign * b[i]));
      break;
    }
    case DEFT_INT64: {
      int64_t *a = deft_tensor_i64(x);
      const int64_t *b = deft_tensor_i64(d);
      for (int64_t i = 0; i < n; i++) a[i] = (int64_t)((uint64_t)a[i] + (uint64_t)(sign * b[i]));
      break;
    }
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "dtype %s", deft_dtype_name(x->dtype));
      return;
  }
  deft_kernel_output_ref(c, 0, v);
}

static void assign_add_kernel(deft_kernel_ctx *c) { update_kernel(c, 1); }
static void assign_sub_kernel(deft_kernel_ctx *c) { update_kernel(c, -1); }

static void ref_shape(deft_shape_ctx *c) { deft_shape_unchanged(c); }

static const deft_op_def state_defs[] = {
    {.type = "VariableV2", .outputs = "ref: Ref(dtype)",
     .attrs = "shape: shape, dtype: type, container: string = \"\", shared_name: string = \"\"",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_SOURCE_VARIABLE | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = variable_shape, .kernel = variable_kernel},
    {.type = "Variable", .outputs = "ref: Ref(dtype)",
     .attrs = "shape: shape, dtype: type, container: string = \"\", shared_name: string = \"\"",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_SOURCE_VARIABLE | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = variable_shape, .kernel = variable_kernel},
    {.type = "Assign", .inputs = "ref: Ref(T), value: T", .outputs = "output_ref: Ref(T)",
     .attrs = "T: type, validate_shape: bool = true, use_locking: bool = true",
     .flags = DEFT_OP_ALLOWS_UNINIT | DEFT_OP_NOT_DIFFERENTIABLE, .shape = assign_shape,
     .kernel = assign_kernel},
    {.type = "AssignAdd", .inputs = "ref: Ref(T), value: T", .outputs = "output_ref: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = ref_shape, .kernel = assign_add_kernel},
    {.type = "AssignSub", .inputs = "ref: Ref(T), value: T", .outputs = "output_ref: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = ref_shape, .kernel = assign_sub_kernel},
};

DEFT_FAMILY(deft_ops_state, state_defs);

/* ---- public helpers ---- */

static deft_output build_assign(deft_graph *g, const char *type, deft_output ref,
                                deft_output value, const char *name) {
  deft_output o = {NULL, 0};
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, ref);
  deft_op_builder_add_input(b, value);
  deft_op *op = deft_op_builder_finish(b);
  if (op) o.op = op;
  return o;
}

deft_output deft_assign(deft_graph *g, deft_output ref, deft_output value, const char *name) {
  return build_assign(g, "Assign", ref, value, name);
}
deft_output deft_assign_add(deft_graph *g, deft_output ref, deft_output value, const char *name) {
  return build_assign(g, "AssignAdd", ref, value, name);
}
deft_output deft_assign_sub(deft_graph *g, deft_output ref, deft_output value, const char *name) {
  return build_assign(g, "AssignSub", ref, value, name);
}

static deft_op *variable_build(deft_graph *g, const char *name, bool exact,
                               deft_output initial_value, bool trainable) {
  if (!deft_inputs_ok(g, "VariableV2", &initial_value, 1)) return NULL;
  deft_shape shape = deft_output_shape(initial_value);
  if (!deft_shape_is_fully_defined(shape)) {
    char s[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "VariableV2 '%s': the initial value '%s:%d' has shape %s, which is not fully "
                    "defined", name ? name : "Variable", initial_value.op->name,
                    initial_value.index, deft_shape_format(shape, s, sizeof s));
    return NULL;
  }
  deft_op_builder *b = deft_op_builder_new(g, "VariableV2", name ? name : "Variable");
  if (exact) deft_op_builder_set_exact_name(b, name);
  deft_op_builder_set_attr_shape(b, "shape", shape);
  deft_op_builder_set_attr_type(b, "dtype", deft_output_dtype(initial_value));
  deft_op *var = deft_op_builder_finish(b);
  if (!var) return NULL;
  char scope[1024];
  snprintf(scope, sizeof scope, "%s/", var->name);
  if (!deft_graph_push_scope(g, scope)) return NULL;
  deft_output ref = {var, 0};
  deft_output assign = deft_assign(g, ref, initial_value, "Assign");
  deft_output read = deft_identity(g, ref, "read");
  deft_graph_pop_scope(g);
  deft_var_info *info = deft_arena_alloc(&g->arena, sizeof *info);
  if (!info) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating variable '%s'", var->name);
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
                      "variable '%s' has no initializer op", vars[i].op->name);
      deft_free(vars);
      return NULL;
    }
    deft_op_builder_add_control_input(b, init);
  }
  deft_free(vars);
  return deft_op_builder_finish(b);
}
