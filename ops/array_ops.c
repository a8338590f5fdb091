/* ops/array_ops.c - constants, placeholders, identity-like ops and shape manipulation:
 * definition, kernel and gradient side by side, plus the public constructors. */
#include <string.h>

#include "deft/ops.h"
#include "graph/graph_internal.h"
#include "ops/op_def.h"
#include "runtime/tensor_internal.h"

static deft_output out0(deft_op *op) {
  deft_output o = {op, 0};
  if (!op) o.op = NULL;
  return o;
}

/* ---- Const ---- */

static void const_shape(deft_shape_ctx *c) {
  const deft_tensor *t = NULL;
  deft_op_attr_tensor(c->op, "value", &t);
  deft_dtype dtype = DEFT_INVALID_DTYPE;
  deft_op_attr_type(c->op, "dtype", &dtype);
  if (!t) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "attr 'value' is missing");
    return;
  }
  if (t->dtype != dtype) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "attr 'value' holds %s, but attr 'dtype' is %s",
                    deft_dtype_name(t->dtype), deft_dtype_name(dtype));
    return;
  }
  deft_shape_ctx_set_output(c, 0, deft_tensor_shape(t));
}

static void const_kernel(deft_kernel_ctx *c) {
  const deft_tensor *t = NULL;
  deft_op_attr_tensor(deft_kernel_op(c), "value", &t);
  deft_kernel_forward(c, 0, t);
}

deft_output deft_const(deft_graph *g, const deft_tensor *value, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Const", name ? name : "Const");
  if (value) deft_op_builder_set_attr_type(b, "dtype", value->dtype);
  deft_op_builder_set_attr_tensor(b, "value", value);
  return out0(deft_op_builder_finish(b));
}

static deft_output const_owned(deft_graph *g, deft_tensor *t, const char *name) {
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building Const");
    deft_output none = {NULL, 0};
    return none;
  }
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

deft_output deft_const_float(deft_graph *g, float v, const char *name) {
  return const_owned(g, deft_tensor_scalar_float(v), name);
}
deft_output deft_const_double(deft_graph *g, double v, const char *name) {
  return const_owned(g, deft_tensor_scalar_double(v), name);
}
deft_output deft_const_int32(deft_graph *g, int32_t v, const char *name) {
  return const_owned(g, deft_tensor_scalar_int32(v), name);
}
deft_output deft_const_int64(deft_graph *g, int64_t v, const char *name) {
  return const_owned(g, deft_tensor_scalar_int64(v), name);
}
deft_output deft_const_bool(deft_graph *g, bool v, const char *name) {
  return const_owned(g, deft_tensor_scalar_bool(v), name);
}
deft_output deft_const_string(deft_graph *g, const char *v, const char *name) {
  return const_owned(g, deft_tensor_scalar_string(v), name);
}

deft_output deft_const_int32_vector(deft_graph *g, const int32_t *v, int n, const char *name) {
  int64_t dims[1] = {n};
  deft_tensor *t = deft_tensor_new(DEFT_INT32, dims, 1, NULL);
  if (t && n) memcpy(deft_tensor_data(t), v, sizeof(int32_t) * (size_t)n);
  return const_owned(g, t, name);
}

deft_output deft_const_fill(deft_graph *g, deft_dtype dtype, deft_shape shape, double v,
                            const char *name) {
  deft_output none = {NULL, 0};
  if (!deft_graph_ok(g)) return none;
  if (!deft_shape_is_fully_defined(shape) || dtype == DEFT_STRING) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "Const '%s': a filled constant needs a fully defined shape and a numeric "
                    "dtype", name ? name : "Const");
    return none;
  }
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_tensor_new(dtype, shape.dims, shape.rank, st);
  if (!t) {
    deft_graph_fail(g, deft_status_code(st), "Const '%s': %s", name ? name : "Const",
                    deft_status_message(st));
    deft_status_free(st);
    return none;
  }
  deft_status_free(st);
  for (int64_t i = 0; i < t->n; i++) {
    switch (dtype) {
      case DEFT_FLOAT: deft_tensor_f32(t)[i] = (float)v; break;
      case DEFT_DOUBLE: deft_tensor_f64(t)[i] = v; break;
      case DEFT_INT32: deft_tensor_i32(t)[i] = (int32_t)v; break;
      case DEFT_INT64: deft_tensor_i64(t)[i] = (int64_t)v; break;
      case DEFT_UINT8: deft_tensor_u8(t)[i] = (uint8_t)v; break;
      case DEFT_BOOL: deft_tensor_b(t)[i] = v != 0; break;
      default: break;
    }
  }
  return const_owned(g, t, name);
}

/* ---- Placeholder, PlaceholderWithDefault ---- */

static void placeholder_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_unknown();
  deft_op_attr_shape(c->op, "shape", &s);
  deft_shape_ctx_set_output(c, 0, s);
}

static void placeholder_kernel(deft_kernel_ctx *c) {
  deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "you must feed a value for this placeholder");
}

deft_output deft_placeholder(deft_graph *g, deft_dtype dtype, deft_shape shape,
                             const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Placeholder", name);
  deft_op_builder_set_attr_type(b, "dtype", dtype);
  deft_op_builder_set_attr_shape(b, "shape", shape);
  return out0(deft_op_builder_finish(b));
}

static void pwd_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_unknown(), in = deft_shape_ctx_input(c, 0);
  deft_op_attr_shape(c->op, "shape", &s);
  bool ok = s.rank < 0 || in.rank < 0 || s.rank == in.rank;
  for (int i = 0; ok && s.rank >= 0 && in.rank >= 0 && i < s.rank; i++)
    ok = s.dims[i] < 0 || in.dims[i] < 0 || s.dims[i] == in.dims[i];
  if (!ok) {
    char a[128], b[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the default value has shape %s, attr shape is %s",
                    deft_shape_format(in, a, sizeof a), deft_shape_format(s, b, sizeof b));
    return;
  }
  deft_shape_ctx_set_output(c, 0, s);
}

static void forward_kernel(deft_kernel_ctx *c) {
  deft_kernel_forward(c, 0, deft_kernel_input(c, 0));
}

deft_output deft_placeholder_with_default(deft_graph *g, deft_output input, deft_shape shape,
                                          const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "PlaceholderWithDefault", name);
  deft_op_builder_add_input(b, input);
  deft_op_builder_set_attr_shape(b, "shape", shape);
  return out0(deft_op_builder_finish(b));
}

/* ---- Identity, StopGradient, PreventGradient ---- */

static void identity_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                          deft_output *dx) {
  dx[0] = grads[0];
}

deft_output deft_identity(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Identity", name, &x, 1);
}

deft_output deft_stop_gradient(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "StopGradient", name, &x, 1);
}

deft_output deft_prevent_gradient(deft_graph *g, deft_output x, const char *message,
                                  const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "PreventGradient", name);
  deft_op_builder_add_input(b, x);
  if (message) deft_op_builder_set_attr_string(b, "message", message, strlen(message));
  return out0(deft_op_builder_finish(b));
}

static void prevent_gradient_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                  deft_output *dx) {
  const char *msg = "";
  deft_op_attr_string(op, "message", &msg, NULL);
  deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                  "gradient explicitly disabled for PreventGradient '%s'%s%s", op->name,
                  *msg ? ": " : "", msg);
}

static const deft_op_def array_defs[] = {
    {.type = "Const", .outputs = "output: dtype", .attrs = "value: tensor, dtype: type",
     .shape = const_shape, .kernel = const_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "Placeholder", .outputs = "output: dtype",
     .attrs = "dtype: type, shape: shape = unknown", .shape = placeholder_shape,
     .kernel = placeholder_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "PlaceholderWithDefault", .inputs = "input: dtype", .outputs = "output: dtype",
     .attrs = "dtype: type, shape: shape", .shape = pwd_shape, .kernel = forward_kernel,
     .grad = identity_grad},
    {.type = "Identity", .inputs = "input: T", .outputs = "output: T", .attrs = "T: type",
     .shape = deft_shape_unchanged, .kernel = forward_kernel, .grad = identity_grad},
    {.type = "StopGradient", .inputs = "input: T", .outputs = "output: T", .attrs = "T: type",
     .shape = deft_shape_unchanged, .kernel = forward_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "PreventGradient", .inputs = "input: T", .outputs = "output: T",
     .attrs = "T: type, message: string = \"\"", .shape = deft_shape_unchanged,
     .kernel = forward_kernel, .grad = prevent_gradient_grad},
};

DEFT_FAMILY(deft_ops_array, array_defs);
