/* SPDX-License-Identifier: Apache-2.0 */
/* ops/state_ops.c - variables and assignment: VariableV2 (and the legacy Variable), Assign,
 * AssignAdd, AssignSub, and their constructors (variables themselves are built by
 * graph/variables.c). A variable's value lives in the session
 * (deft_var); VariableV2's output is a reference to it. In-place updates copy first when the
 * buffer is shared (a fetched value or a live snapshot), so nobody sees a value change under
 * them. */
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
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
  const deft_op_reg *reg = op ? deft_registry_lookup(deft_op_type(op)) : NULL;
  return reg && (reg->def->flags & DEFT_OP_SOURCE_VARIABLE);
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
  deft_shape want = v->shape;
  if (want.rank < 0) return true;
  bool ok = want.rank == value->rank;
  for (int i = 0; ok && i < want.rank; i++) ok = want.dims[i] < 0 || want.dims[i] == value->dims[i];
  if (!ok) {
    char a[128], b[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "cannot assign a value of shape %s to variable '%s' of shape %s",
                     deft_shape_format(deft_tensor_shape(value), a, sizeof a), deft_op_name(v->op),
                     deft_shape_format(want, b, sizeof b));
  }
  return ok;
}

typedef struct {
  bool validate_shape;
} assign_params;

static void assign_prepare(deft_prepare_ctx *p) {
  bool v = deft_prepare_attr_bool(p, "validate_shape");
  assign_params *ap = deft_prepare_params(p, sizeof *ap);
  if (ap) ap->validate_shape = v;
}

static void assign_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_ref_input(c, 0);
  const deft_tensor *value = deft_kernel_input(c, 1);
  if (!v) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input 0 is not a variable reference");
    return;
  }
  if (((const assign_params *)deft_kernel_params(c))->validate_shape &&
      !check_declared(c, v, value))
    return;
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
                     deft_op_name(v->op), deft_shape_format(deft_tensor_shape(x), a, sizeof a),
                     deft_shape_format(deft_tensor_shape(d), b, sizeof b));
    return;
  }
  if (!deft_tensor_make_unique(x, NULL)) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory updating '%s'",
                     deft_op_name(v->op));
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
     .prepare = assign_prepare, .kernel = assign_kernel},
    {.type = "AssignAdd", .inputs = "ref: Ref(T), value: T", .outputs = "output_ref: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = ref_shape, .kernel = assign_add_kernel},
    {.type = "AssignSub", .inputs = "ref: Ref(T), value: T", .outputs = "output_ref: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = ref_shape, .kernel = assign_sub_kernel},
};

DEFT_FAMILY(deft_ops_state, state_defs);

/* ---- public helpers ---- */

/* On a resource variable's handle: TF's ResourceVariable.assign* (read_value=True), the
 * AssignVariableOp-family op `name`, then a ReadVariableOp under a control dependency on it. */
static deft_output build_resource_assign(deft_graph *g, const char *type, deft_output ref,
                                         deft_output value, const char *name) {
  deft_output o = {NULL, 0};
  deft_op *a = !strcmp(type, "Assign")      ? deft_assign_variable_op(g, ref, value, name)
               : !strcmp(type, "AssignAdd") ? deft_assign_add_variable_op(g, ref, value, name)
                                            : deft_assign_sub_variable_op(g, ref, value, name);
  if (!a) return o;
  deft_graph_push_control_deps(g, &a, 1);
  o = deft_read_variable_op(g, ref, "ReadVariableOp");
  deft_graph_pop_control_deps(g);
  return o;
}

static deft_output build_assign(deft_graph *g, const char *type, deft_output ref,
                                deft_output value, const char *name) {
  deft_output o = {NULL, 0};
  if (ref.op && (int)deft_output_dtype(ref) == 20 /* DT_RESOURCE */)
    return build_resource_assign(g, type, ref, value, name);
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
