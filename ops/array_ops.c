/* SPDX-License-Identifier: Apache-2.0 */
/* ops/array_ops.c - constants, placeholders, identity-like ops, shape queries and reshaping
 * (Shape, Size, Rank, Reshape, ExpandDims, Squeeze), Fill/ZerosLike/OnesLike, Select, Range and
 * BroadcastGradientArgs: definition, kernel and gradient side by side, plus the public
 * constructors. Stacking, concatenation, slicing, tiling and stitching live in
 * ops/concat_slice_ops.c. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

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

typedef struct {
  const deft_tensor *value; /* the attr's tensor, owned by the graph */
} const_params;

static void const_prepare(deft_prepare_ctx *p) {
  const deft_attr *a = deft_prepare_find_attr(p, "value");
  if (!a || a->v.kind != DEFT_ATTR_TENSOR || !a->v.u.tensor) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "missing or mistyped attr 'value'");
    return;
  }
  const_params *cp = deft_prepare_params(p, sizeof *cp);
  if (cp) cp->value = a->v.u.tensor;
}

static void const_kernel(deft_kernel_ctx *c) {
  const const_params *cp = deft_kernel_params(c);
  deft_kernel_forward(c, 0, cp->value);
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
                  "gradient explicitly disabled for PreventGradient '%s'%s%s", deft_op_name(op),
                  *msg ? ": " : "", msg);
}


/* ---- helpers shared by the array kernels (the copy helpers are also used by
 * ops/concat_slice_ops.c) ---- */

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

/* Formats a requested shape literally ("[4,-1]"), unlike deft_shape_format's "?". */
static const char *fmt_dims(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t pos = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && pos < size; i++)
    pos += (size_t)snprintf(buf + pos, size - pos, "%s%" PRId64, i ? "," : "", dims[i]);
  if (pos < size) snprintf(buf + pos, size - pos, "]");
  return buf;
}

/* Formats the values of an int32/int64 vector ("[2,3]"), truncated to the buffer. */
static const char *fmt_index_tensor(const deft_tensor *t, char *buf, size_t size) {
  size_t pos = (size_t)snprintf(buf, size, "[");
  for (int64_t i = 0; i < t->n && pos < size; i++)
    pos += (size_t)snprintf(buf + pos, size - pos, "%s%" PRId64, i ? "," : "",
                            deft_tensor_index_at(t, i));
  if (pos < size) snprintf(buf + pos, size - pos, "]");
  return buf;
}

bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n) {
  if (n <= 0) return true;
  if (src->dtype != DEFT_STRING) {
    size_t es = deft_dtype_size(src->dtype);
    memcpy((char *)dst->buf->data + (size_t)doff * es,
           (const char *)src->buf->data + (size_t)soff * es, (size_t)n * es);
    return true;
  }
  deft_bytes *d = deft_tensor_str(dst) + doff;
  const deft_bytes *s = deft_tensor_str(src) + soff;
  for (int64_t i = 0; i < n; i++) {
    char *p = NULL;
    if (s[i].data && !(p = deft_strndup(s[i].data, s[i].len))) return false;
    deft_buffer_string_clear(dst->buf, doff + i);
    d[i].data = p;
    d[i].len = p ? s[i].len : 0;
  }
  return true;
}

bool deft_array_fill_from(deft_tensor *dst, int64_t doff, int64_t n, const deft_tensor *src,
                          int64_t soff) {
  if (src->dtype == DEFT_STRING) {
    for (int64_t i = 0; i < n; i++)
      if (!deft_array_copy_elems(dst, doff + i, src, soff, 1)) return false;
    return true;
  }
  size_t es = deft_dtype_size(src->dtype);
  const char *v = (const char *)src->buf->data + (size_t)soff * es;
  char *d = (char *)dst->buf->data + (size_t)doff * es;
  for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)i * es, v, es);
  return true;
}

void deft_array_zero(deft_tensor *t) {
  if (t->dtype == DEFT_STRING) {
    for (int64_t i = 0; i < t->n; i++)
      deft_buffer_string_clear(t->buf, i);
  } else if (t->n) {
    memset(t->buf->data, 0, (size_t)t->n * deft_dtype_size(t->dtype));
  }
}

/* Records the string-copy OOM on the kernel. */
static void copy_oom(deft_kernel_ctx *c) {
  deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
}

/* Reads a rank-1 int32/int64 tensor (`what` names it in errors) of at most `max` entries. */
static bool read_index_vector(deft_kernel_ctx *c, const deft_tensor *t, const char *what,
                              int64_t *out, int max, int *n) {
  char sh[128];
  if (t->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a vector, got shape %s", what,
                     tshape(t, sh, sizeof sh));
    return false;
  }
  if (t->n > max) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "%s has %" PRId64 " entries; deft supports at most %d dimensions", what,
                     t->n, max);
    return false;
  }
  for (int64_t i = 0; i < t->n; i++) out[i] = deft_tensor_index_at(t, i);
  *n = (int)t->n;
  return true;
}

/* Reads a one-element int32/int64 tensor (an axis). */
static bool read_index_scalar(deft_kernel_ctx *c, const deft_tensor *t, const char *what,
                              int64_t *out) {
  if (t->n != 1) {
    char sh[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must hold a single value, got shape %s",
                     what, tshape(t, sh, sizeof sh));
    return false;
  }
  *out = deft_tensor_index_at(t, 0);
  return true;
}

/* Output 0 shares x's buffer under new dims (Reshape, ExpandDims, Squeeze): no copy. */
static void forward_reshaped(deft_kernel_ctx *c, const deft_tensor *x, const int64_t *dims,
                             int rank) {
  deft_tensor t = *x;
  t.rank = rank;
  for (int i = 0; i < DEFT_MAX_RANK; i++) t.dims[i] = i < rank ? dims[i] : 0;
  deft_kernel_forward(c, 0, &t);
}

/* Fails the shape fn unless input i has rank `rank` (when known); `what` names it. */
static bool want_rank(deft_shape_ctx *c, int i, int rank, const char *what) {
  deft_shape s = deft_shape_ctx_input(c, i);
  if (s.rank < 0 || s.rank == rank) return true;
  char sh[128];
  deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be %s, got shape %s", i, what,
                  rank == 0 ? "a scalar" : "a vector", deft_shape_format(s, sh, sizeof sh));
  return false;
}

/* The (partial) shape held by shape-tensor input i: its value if it is a Const (*is_const set;
 * -1 entries are kept), the input shape of a Shape op, or a shape of known rank and unknown dims
 * when only the tensor's length is known. Fails on a Const that is not a valid shape vector. */
static deft_shape shape_from_tensor(deft_shape_ctx *c, int i, bool *is_const) {
  *is_const = false;
  const deft_tensor *t = deft_shape_ctx_input_const(c, i);
  if (t) {
    char sh[128];
    if (t->rank != 1) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d must be a vector, got shape %s", i,
                      tshape(t, sh, sizeof sh));
      return deft_shape_unknown();
    }
    if (t->n > DEFT_MAX_RANK) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "input %d has %" PRId64 " entries; deft supports at most %d dimensions", i,
                      t->n, DEFT_MAX_RANK);
      return deft_shape_unknown();
    }
    deft_shape s = deft_shape_unknown();
    s.rank = (int)t->n;
    for (int k = 0; k < s.rank; k++) s.dims[k] = deft_tensor_index_at(t, k);
    *is_const = true;
    return s;
  }
  deft_output in = deft_op_input(c->op, i);
  while (!strcmp(deft_op_type(in.op), "Identity") && deft_op_num_inputs(in.op) == 1)
    in = deft_op_input(in.op, 0);
  if (!strcmp(deft_op_type(in.op), "Shape") && deft_op_num_inputs(in.op) == 1) {
    deft_output x = deft_op_input(in.op, 0);
    deft_shape s = deft_output_shape(x);
    if (s.rank >= 0) return s;
  }
  deft_shape v = deft_shape_ctx_input(c, i);
  if (v.rank == 1 && v.dims[0] >= 0 && v.dims[0] <= DEFT_MAX_RANK) {
    deft_shape s = deft_shape_unknown();
    s.rank = (int)v.dims[0];
    for (int k = 0; k < s.rank; k++) s.dims[k] = -1;
    return s;
  }
  return deft_shape_unknown();
}

/* ---- Shape, Size, Rank ---- */

static void shape_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0);
  int64_t d = x.rank < 0 ? -1 : x.rank;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &d));
}

/* Writes v into element i of an int32 or int64 output; fails when v does not fit int32. */
static bool put_index(deft_kernel_ctx *c, deft_tensor *o, int64_t i, int64_t v) {
  if (o->dtype == DEFT_INT64) {
    deft_tensor_i64(o)[i] = v;
    return true;
  }
  if (v > INT32_MAX || v < INT32_MIN) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "value %" PRId64 " does not fit out_type int32; use int64", v);
    return false;
  }
  deft_tensor_i32(o)[i] = (int32_t)v;
  return true;
}

static void shape_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  int64_t d = x->rank;
  deft_tensor *o = deft_kernel_output(c, 0, deft_kernel_output_dtype(c, 0), &d, 1);
  for (int i = 0; o && i < x->rank; i++)
    if (!put_index(c, o, i, x->dims[i])) return;
}

static void scalar_shape(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, DEFT_SCALAR); }

static void size_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  deft_tensor *o = deft_kernel_output(c, 0, deft_kernel_output_dtype(c, 0), NULL, 0);
  if (o) put_index(c, o, 0, x->n);
}

static void rank_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  deft_tensor *o = deft_kernel_output(c, 0, DEFT_INT32, NULL, 0);
  if (o) deft_tensor_i32(o)[0] = x->rank;
}

deft_output deft_shape_of(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Shape", name, &x, 1);
}
deft_output deft_size(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Size", name, &x, 1);
}
deft_output deft_rank(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Rank", name, &x, 1);
}

/* ---- Reshape ---- */

static void reshape_shape(deft_shape_ctx *c) {
  if (!want_rank(c, 1, 1, "shape")) return;
  bool is_const;
  deft_shape t = shape_from_tensor(c, 1, &is_const);
  if (!deft_status_ok(c->status)) return;
  if (t.rank < 0) {
    deft_shape_ctx_set_output(c, 0, t);
    return;
  }
  char a[128], b[128];
  int nunknown = 0, unknown = -1;
  int64_t prod = 1;
  bool overflow = false;
  for (int i = 0; i < t.rank; i++) {
    if (t.dims[i] < 0) {
      if (is_const && t.dims[i] != -1) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                        "requested shape %s has dimension %d = %" PRId64
                        " (only -1 may be negative)", fmt_dims(t.dims, t.rank, a, sizeof a), i,
                        t.dims[i]);
        return;
      }
      nunknown++;
      unknown = i;
    } else if (t.dims[i] && prod > INT64_MAX / t.dims[i]) {
      overflow = true;
    } else {
      prod *= t.dims[i];
    }
  }
  if (is_const && nunknown > 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "requested shape %s has more than one -1 dimension (at most one can be "
                    "inferred)", fmt_dims(t.dims, t.rank, a, sizeof a));
    return;
  }
  deft_shape in = deft_shape_ctx_input(c, 0);
  int64_t n = deft_shape_num_elements(in);
  if (n >= 0 && !overflow) {
    if (nunknown == 0 && prod != n) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "cannot reshape a tensor of shape %s (%" PRId64
                      " elements) into shape %s (%" PRId64 " elements)",
                      deft_shape_format(in, b, sizeof b), n,
                      fmt_dims(t.dims, t.rank, a, sizeof a), prod);
      return;
    }
    if (nunknown == 1 && (prod == 0 ? n != 0 : n % prod != 0)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "cannot reshape a tensor of shape %s (%" PRId64
                      " elements) into shape %s: %" PRId64 " is not a multiple of %" PRId64,
                      deft_shape_format(in, b, sizeof b), n,
                      fmt_dims(t.dims, t.rank, a, sizeof a), n, prod);
      return;
    }
    if (nunknown == 1 && prod != 0) t.dims[unknown] = n / prod;
  }
  deft_shape_ctx_set_output(c, 0, t);
}

static void reshape_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  int64_t dims[DEFT_MAX_RANK];
  int rank;
  if (!read_index_vector(c, deft_kernel_input(c, 1), "the shape input", dims, DEFT_MAX_RANK,
                         &rank))
    return;
  char a[128], b[128];
  int unknown = -1;
  int64_t prod = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] == -1 && unknown < 0) {
      unknown = i;
    } else if (dims[i] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "requested shape %s is invalid: only one dimension may be -1, and no "
                       "other may be negative", fmt_dims(dims, rank, a, sizeof a));
      return;
    } else if (dims[i] && prod > INT64_MAX / dims[i]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "requested shape %s overflows int64",
                       fmt_dims(dims, rank, a, sizeof a));
      return;
    } else {
      prod *= dims[i];
    }
  }
  if (unknown >= 0) {
    if (prod == 0 || x->n % prod != 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "cannot reshape a tensor of shape %s (%" PRId64
                       " elements) into shape %s: the -1 dimension cannot be inferred",
                       tshape(x, b, sizeof b), x->n, fmt_dims(dims, rank, a, sizeof a));
      return;
    }
    dims[unknown] = x->n / prod;
  } else if (prod != x->n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "cannot reshape a tensor of shape %s (%" PRId64
                     " elements) into shape %s (%" PRId64 " elements)",
                     tshape(x, b, sizeof b), x->n, fmt_dims(dims, rank, a, sizeof a), prod);
    return;
  }
  forward_reshaped(c, x, dims, rank);
}

/* Reshape, ExpandDims and Squeeze: Reshape(grad, Shape(input)); the other inputs get none. */
static void reshape_to_input_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                  deft_output *dx) {
  deft_output shape = deft_shape_of(g, deft_op_input(op, 0), NULL);
  dx[0] = deft_reshape(g, grads[0], shape, NULL);
}

deft_output deft_reshape(deft_graph *g, deft_output x, deft_output shape, const char *name) {
  deft_output in[2] = {x, shape};
  return deft_build_simple(g, "Reshape", name, in, 2);
}

deft_output deft_reshape_to(deft_graph *g, deft_output x, const int64_t *dims, int rank,
                            const char *name) {
  deft_output none = {NULL, 0};
  if (!deft_inputs_ok(g, "Reshape", &x, 1)) return none;
  if (rank < 0 || rank > DEFT_MAX_RANK || (rank && !dims)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "Reshape '%s': the requested rank %d is outside [0, %d]",
                    name ? name : "Reshape", rank, DEFT_MAX_RANK);
    return none;
  }
  /* As TF's op wrapper: scope "<name>" (made unique), the Const "<name>/shape" inside it, and
   * the op named exactly like the scope. */
  const char *full = deft_graph_push_scope(g, name ? name : "Reshape");
  if (!full) return none;
  int64_t n = rank;
  deft_status *st = deft_status_new();
  deft_tensor *t = st ? deft_tensor_new(DEFT_INT32, &n, 1, st) : NULL;
  deft_status_free(st);
  bool fits = true;
  for (int i = 0; t && i < rank; i++) {
    fits &= dims[i] >= INT32_MIN && dims[i] <= INT32_MAX;
    deft_tensor_i32(t)[i] = (int32_t)dims[i];
  }
  if (t && !fits) { /* TF makes the shape Const int64 when a dim needs it */
    deft_tensor_free(t);
    t = deft_tensor_from_data(DEFT_INT64, &n, 1, dims, sizeof(int64_t) * (size_t)rank, NULL);
  }
  deft_output shape = const_owned(g, t, "shape");
  deft_graph_pop_scope(g);
  if (!shape.op) return none;
  deft_op_builder *b = deft_op_builder_new(g, "Reshape", NULL);
  deft_op_builder_set_exact_name(b, full);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, shape);
  return out0(deft_op_builder_finish(b));
}

/* ---- Fill, ZerosLike, OnesLike ---- */

static void fill_shape(deft_shape_ctx *c) {
  if (!want_rank(c, 0, 1, "dims") || !want_rank(c, 1, 0, "value")) return;
  bool is_const;
  deft_shape s = shape_from_tensor(c, 0, &is_const);
  if (!deft_status_ok(c->status)) return;
  for (int i = 0; is_const && i < s.rank; i++)
    if (s.dims[i] < 0) {
      char a[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "dims %s has a negative dimension %d = %" PRId64,
                      fmt_dims(s.dims, s.rank, a, sizeof a), i, s.dims[i]);
      return;
    }
  deft_shape_ctx_set_output(c, 0, s);
}

static void fill_kernel(deft_kernel_ctx *c) {
  const deft_tensor *v = deft_kernel_input(c, 1);
  int64_t dims[DEFT_MAX_RANK];
  int rank;
  char a[128];
  if (!read_index_vector(c, deft_kernel_input(c, 0), "dims", dims, DEFT_MAX_RANK, &rank))
    return;
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "dims %s has a negative dimension %d = %" PRId64,
                       fmt_dims(dims, rank, a, sizeof a), i, dims[i]);
      return;
    }
  if (v->rank != 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "value must be a scalar, got shape %s",
                     tshape(v, a, sizeof a));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, v->dtype, dims, rank);
  if (o && !deft_array_fill_from(o, 0, o->n, v, 0)) copy_oom(c);
}

deft_output deft_fill(deft_graph *g, deft_output dims, deft_output value, const char *name) {
  deft_output in[2] = {dims, value};
  return deft_build_simple(g, "Fill", name, in, 2);
}

static void zeros_like_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (o) deft_array_zero(o);
}

static void ones_like_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  switch (x->dtype) {
    case DEFT_FLOAT: case DEFT_DOUBLE: case DEFT_INT32: case DEFT_INT64: case DEFT_UINT8:
    case DEFT_BOOL: break;
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft has no OnesLike kernel for dtype %s",
                       deft_dtype_name(x->dtype));
      return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  for (int64_t i = 0; o && i < o->n; i++) {
    switch (x->dtype) {
      case DEFT_FLOAT: deft_tensor_f32(o)[i] = 1.0f; break;
      case DEFT_DOUBLE: deft_tensor_f64(o)[i] = 1.0; break;
      case DEFT_INT32: deft_tensor_i32(o)[i] = 1; break;
      case DEFT_INT64: deft_tensor_i64(o)[i] = 1; break;
      case DEFT_UINT8: deft_tensor_u8(o)[i] = 1; break;
      default: deft_tensor_b(o)[i] = true; break;
    }
  }
}

deft_output deft_zeros_like(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "ZerosLike", name ? name : "zeros_like", &x, 1);
}
deft_output deft_ones_like(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "OnesLike", name ? name : "ones_like", &x, 1);
}

/* ---- ExpandDims ---- */

static void expand_dims_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0);
  const deft_tensor *d = deft_shape_ctx_input_const(c, 1);
  char sh[128];
  if (d && d->n != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "dim must hold a single value, got shape %s",
                    tshape(d, sh, sizeof sh));
    return;
  }
  if (x.rank < 0) {
    deft_shape_ctx_set_output(c, 0, x);
    return;
  }
  if (x.rank + 1 > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the result would have rank %d; deft supports %d",
                    x.rank + 1, DEFT_MAX_RANK);
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = x.rank + 1;
  for (int i = 0; i < out.rank; i++) out.dims[i] = -1;
  if (d) {
    int64_t a = deft_tensor_index_at(d, 0);
    if (a < -x.rank - 1 || a > x.rank) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "dim %" PRId64 " is out of range [%d, %d] for input of shape %s", a,
                      -x.rank - 1, x.rank, deft_shape_format(x, sh, sizeof sh));
      return;
    }
    if (a < 0) a += x.rank + 1;
    for (int i = 0, k = 0; i < out.rank; i++) out.dims[i] = i == a ? 1 : x.dims[k++];
  }
  deft_shape_ctx_set_output(c, 0, out);
}

static void expand_dims_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  int64_t a;
  char sh[128];
  if (!read_index_scalar(c, deft_kernel_input(c, 1), "dim", &a)) return;
  if (a < -x->rank - 1 || a > x->rank) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "dim %" PRId64 " is out of range [%d, %d] for input of shape %s", a,
                     -x->rank - 1, x->rank, tshape(x, sh, sizeof sh));
    return;
  }
  if (x->rank + 1 > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the result would have rank %d; deft supports %d",
                     x->rank + 1, DEFT_MAX_RANK);
    return;
  }
  if (a < 0) a += x->rank + 1;
  int64_t dims[DEFT_MAX_RANK];
  for (int i = 0, k = 0; i <= x->rank; i++) dims[i] = i == a ? 1 : x->dims[k++];
  forward_reshaped(c, x, dims, x->rank + 1);
}

deft_output deft_expand_dims(deft_graph *g, deft_output x, deft_output axis, const char *name) {
  deft_output in[2] = {x, axis};
  return deft_build_simple(g, "ExpandDims", name, in, 2);
}

/* ---- Squeeze ---- */

/* Where a squeeze error goes: the shape fn's context or the kernel's. */
typedef struct {
  deft_shape_ctx *sc;
  deft_kernel_ctx *kc;
} squeeze_err;

static void squeeze_fail(squeeze_err *e, const char *msg) {
  if (e->sc) deft_shape_fail(e->sc, DEFT_INVALID_ARGUMENT, "%s", msg);
  else deft_kernel_fail(e->kc, DEFT_INVALID_ARGUMENT, "%s", msg);
}

/* Computes the squeezed shape of s (dims may be -1 at build time). Returns false after reporting
 * an error; *unknown is set when the result cannot be known (an unknown dim and no explicit
 * list). */
static bool squeeze_dims(squeeze_err *e, deft_shape s, const int64_t *list, int n,
                         deft_shape *out, bool *unknown) {
  bool drop[DEFT_MAX_RANK] = {false};
  char msg[512], sh[128];
  *unknown = false;
  for (int i = 0; i < n; i++) {
    int64_t d = list[i];
    if (d < -s.rank || d >= s.rank) {
      snprintf(msg, sizeof msg,
               "squeeze_dims[%d] = %" PRId64 " is out of range [%d, %d) for input of shape %s",
               i, d, -s.rank, s.rank, deft_shape_format(s, sh, sizeof sh));
      squeeze_fail(e, msg);
      return false;
    }
    if (d < 0) d += s.rank;
    if (s.dims[d] >= 0 && s.dims[d] != 1) {
      snprintf(msg, sizeof msg,
               "cannot squeeze dimension %" PRId64 " of shape %s: its size is %" PRId64
               ", not 1", d, deft_shape_format(s, sh, sizeof sh), s.dims[d]);
      squeeze_fail(e, msg);
      return false;
    }
    drop[d] = true;
  }
  for (int i = 0; n == 0 && i < s.rank; i++) {
    if (s.dims[i] < 0) *unknown = true;
    drop[i] = s.dims[i] == 1;
  }
  *out = deft_shape_unknown();
  out->rank = 0;
  for (int i = 0; i < s.rank; i++)
    if (!drop[i]) out->dims[out->rank++] = s.dims[i];
  return true;
}

static void squeeze_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0), out;
  const int64_t *list = NULL;
  int n = 0;
  deft_op_attr_int_list(c->op, "squeeze_dims", &list, &n);
  if (x.rank < 0) {
    deft_shape_ctx_set_output(c, 0, x);
    return;
  }
  squeeze_err e = {c, NULL};
  bool unknown;
  if (!squeeze_dims(&e, x, list, n, &out, &unknown)) return;
  deft_shape_ctx_set_output(c, 0, unknown ? deft_shape_unknown() : out);
}

typedef struct {
  const int64_t *dims; /* the attr's list, owned by the graph */
  int n;
} squeeze_params;

static void squeeze_prepare(deft_prepare_ctx *p) {
  squeeze_params *sp = deft_prepare_params(p, sizeof *sp);
  const deft_attr *a = deft_prepare_find_attr(p, "squeeze_dims");
  if (sp && a && a->v.kind == DEFT_ATTR_LIST_INT) {
    sp->dims = a->v.u.list.v.i;
    sp->n = a->v.u.list.n;
  }
}

static void squeeze_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  const squeeze_params *sp = deft_kernel_params(c);
  squeeze_err e = {NULL, c};
  deft_shape out;
  bool unknown;
  if (squeeze_dims(&e, deft_tensor_shape(x), sp->dims, sp->n, &out, &unknown))
    forward_reshaped(c, x, out.dims, out.rank);
}

deft_output deft_squeeze(deft_graph *g, deft_output x, const int64_t *dims, int n,
                         const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Squeeze", name);
  deft_op_builder_add_input(b, x);
  if (n > 0) deft_op_builder_set_attr_int_list(b, "squeeze_dims", dims, n);
  return out0(deft_op_builder_finish(b));
}

/* ---- Select (TF1: condition of t's shape, a vector selecting rows, or a scalar) ---- */

static void select_shape(deft_shape_ctx *c) {
  deft_shape out = deft_shape_merge(c, 1, 2);
  if (!deft_status_ok(c->status)) return;
  deft_shape cond = deft_shape_ctx_input(c, 0);
  if (cond.rank > 0 && out.rank >= 0) {
    bool ok;
    if (cond.rank == out.rank) {
      ok = true;
      for (int i = 0; ok && i < out.rank; i++) {
        ok = cond.dims[i] < 0 || out.dims[i] < 0 || cond.dims[i] == out.dims[i];
        if (out.dims[i] < 0) out.dims[i] = cond.dims[i];
      }
    } else {
      ok = cond.rank == 1 && (cond.dims[0] < 0 || out.dims[0] < 0 || cond.dims[0] == out.dims[0]);
    }
    if (!ok) {
      char a[128], b[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "condition (input 0) has shape %s; with t and e of shape %s it must have "
                      "that shape, be a vector of their first dimension, or be a scalar",
                      deft_shape_format(cond, a, sizeof a), deft_shape_format(out, b, sizeof b));
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, out);
}

static void select_kernel(deft_kernel_ctx *c) {
  const deft_tensor *cond = deft_kernel_input(c, 0), *t = deft_kernel_input(c, 1),
                    *e = deft_kernel_input(c, 2);
  char a[128], b[128];
  bool same = t->rank == e->rank;
  for (int i = 0; same && i < t->rank; i++) same = t->dims[i] == e->dims[i];
  if (!same) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "t has shape %s but e has shape %s (they must match)",
                     tshape(t, a, sizeof a), tshape(e, b, sizeof b));
    return;
  }
  const bool *p = deft_tensor_b(cond);
  if (cond->rank == 0) {
    deft_kernel_forward(c, 0, p[0] ? t : e);
    return;
  }
  bool elementwise = cond->rank == t->rank;
  for (int i = 0; elementwise && i < t->rank; i++) elementwise = cond->dims[i] == t->dims[i];
  bool rows = !elementwise && cond->rank == 1 && t->rank >= 1 && cond->dims[0] == t->dims[0];
  if (!elementwise && !rows) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "condition has shape %s; with t and e of shape %s it must have that shape, "
                     "be a vector of their first dimension, or be a scalar",
                     tshape(cond, a, sizeof a), tshape(t, b, sizeof b));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, t->dtype, t->dims, t->rank);
  if (!o) return;
  int64_t inner = rows ? (cond->n ? t->n / cond->n : 0) : 1;
  for (int64_t i = 0; i < cond->n; i++)
    if (!deft_array_copy_elems(o, i * inner, p[i] ? t : e, i * inner, inner)) {
      copy_oom(c);
      return;
    }
}

static void select_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output c = deft_op_input(op, 0);
  deft_output zeros = deft_zeros_like(g, deft_op_input(op, 1), NULL);
  dx[1] = deft_select(g, c, grads[0], zeros, NULL);
  dx[2] = deft_select(g, c, zeros, grads[0], NULL);
}

deft_output deft_select(deft_graph *g, deft_output cond, deft_output t, deft_output e,
                        const char *name) {
  deft_output in[3] = {cond, t, e};
  return deft_build_simple(g, "Select", name, in, 3);
}

/* ---- Range ---- */

typedef union {
  int64_t i;
  double f;
} range_val;

static bool range_is_int(deft_dtype t) { return t == DEFT_INT32 || t == DEFT_INT64; }

static range_val range_get(const deft_tensor *t) {
  range_val v;
  if (range_is_int(t->dtype)) v.i = deft_tensor_index_at(t, 0);
  else v.f = deft_tensor_get_double(t, 0);
  return v;
}

/* The element count of Range(start, limit, delta); false with msg set when invalid. */
static bool range_size(bool is_int, range_val s, range_val l, range_val d, int64_t *size,
                       char *msg, size_t len) {
  if (is_int) {
    if (d.i == 0) return snprintf(msg, len, "delta must not be 0"), false;
    if ((d.i > 0 && s.i > l.i) || (d.i < 0 && s.i < l.i)) {
      snprintf(msg, len, "start (%" PRId64 ") must be %s limit (%" PRId64 ") when delta is %s",
               s.i, d.i > 0 ? "<=" : ">=", l.i, d.i > 0 ? "positive" : "negative");
      return false;
    }
    uint64_t span = d.i > 0 ? (uint64_t)l.i - (uint64_t)s.i : (uint64_t)s.i - (uint64_t)l.i;
    uint64_t step = d.i > 0 ? (uint64_t)d.i : 0 - (uint64_t)d.i;
    *size = (int64_t)(span / step + (span % step != 0));
    return true;
  }
  if (d.f == 0) return snprintf(msg, len, "delta must not be 0"), false;
  if ((d.f > 0 && s.f > l.f) || (d.f < 0 && s.f < l.f)) {
    snprintf(msg, len, "start (%g) must be %s limit (%g) when delta is %s", s.f,
             d.f > 0 ? "<=" : ">=", l.f, d.f > 0 ? "positive" : "negative");
    return false;
  }
  double n = ceil(fabs((l.f - s.f) / d.f));
  if (!(n <= 9.0e15)) {
    snprintf(msg, len, "range(%g, %g, %g) has too many elements", s.f, l.f, d.f);
    return false;
  }
  *size = (int64_t)n;
  return true;
}

static void range_shape(deft_shape_ctx *c) {
  static const char *names[3] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; i++)
    if (!want_rank(c, i, 0, names[i])) return;
  const deft_tensor *t[3];
  int64_t size = -1;
  for (int i = 0; i < 3; i++) t[i] = deft_shape_ctx_input_const(c, i);
  if (t[0] && t[1] && t[2] && t[0]->n == 1 && t[1]->n == 1 && t[2]->n == 1) {
    char msg[256];
    if (!range_size(range_is_int(t[0]->dtype), range_get(t[0]), range_get(t[1]), range_get(t[2]),
                    &size, msg, sizeof msg)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &size));
}

static void range_kernel(deft_kernel_ctx *c) {
  const deft_tensor *t[3];
  static const char *names[3] = {"start", "limit", "delta"};
  char msg[256];
  for (int i = 0; i < 3; i++) {
    t[i] = deft_kernel_input(c, i);
    if (t[i]->rank != 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a scalar, got shape %s", names[i],
                       tshape(t[i], msg, sizeof msg));
      return;
    }
  }
  deft_dtype dt = t[0]->dtype;
  if (!range_is_int(dt) && dt != DEFT_FLOAT && dt != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft has no Range kernel for dtype %s",
                     deft_dtype_name(dt));
    return;
  }
  range_val s = range_get(t[0]), l = range_get(t[1]), d = range_get(t[2]);
  int64_t n;
  if (!range_size(range_is_int(dt), s, l, d, &n, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, dt, &n, 1);
  if (!o) return;
  /* As TF's kernel: the value is accumulated (v += delta), not computed as start + i*delta. */
  switch (dt) {
    case DEFT_INT32: /* every value lies between start and limit, so it fits */
      for (int64_t i = 0; i < n; i++) deft_tensor_i32(o)[i] = (int32_t)(s.i + i * d.i);
      break;
    case DEFT_INT64: /* i * delta may leave int64 on its own; the sum does not */
      for (int64_t i = 0; i < n; i++)
        deft_tensor_i64(o)[i] = (int64_t)((uint64_t)s.i + (uint64_t)i * (uint64_t)d.i);
      break;
    case DEFT_FLOAT: {
      float v = (float)s.f, fd = (float)d.f;
      for (int64_t i = 0; i < n; i++, v += fd) deft_tensor_f32(o)[i] = v;
      break;
    }
    default: {
      double v = s.f;
      for (int64_t i = 0; i < n; i++, v += d.f) deft_tensor_f64(o)[i] = v;
      break;
    }
  }
}

deft_output deft_range(deft_graph *g, deft_output start, deft_output limit, deft_output delta,
                       const char *name) {
  deft_output in[3] = {start, limit, delta};
  return deft_build_simple(g, "Range", name ? name : "range", in, 3);
}

/* ---- BroadcastGradientArgs ---- */

static void bga_shape(deft_shape_ctx *c) {
  if (!want_rank(c, 0, 1, "s0") || !want_rank(c, 1, 1, "s1")) return;
  int64_t d = -1;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &d));
  deft_shape_ctx_set_output(c, 1, deft_shape_make(1, &d));
}

/* TF's rule (BCast): identical shape vectors reduce nothing; otherwise, aligning from the right
 * and padding with 1s, a dim where x is 1 and y is not is reduced for x (and vice versa), and a
 * dim where both are 1 is reduced for both. Axes are listed in increasing order. */
static void bga_kernel(deft_kernel_ctx *c) {
  const deft_tensor *s[2] = {deft_kernel_input(c, 0), deft_kernel_input(c, 1)};
  char a[128], b[128];
  for (int k = 0; k < 2; k++)
    if (s[k]->rank != 1) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "s%d must be a vector, got shape %s", k,
                       tshape(s[k], a, sizeof a));
      return;
    }
  int64_t n0 = s[0]->n, n1 = s[1]->n, n = n0 > n1 ? n0 : n1;
  bool same = n0 == n1;
  for (int64_t i = 0; same && i < n0; i++)
    same = deft_tensor_index_at(s[0], i) == deft_tensor_index_at(s[1], i);
  /* Shape vectors are short: small ones use the stack, so a steady-state run allocates nothing. */
  enum { SMALL = 32 };
  int64_t small[2][SMALL];
  bool heap = n > SMALL;
  int64_t *r[2] = {small[0], small[1]};
  if (heap) {
    r[0] = deft_malloc(sizeof(int64_t) * (size_t)(n + 1));
    r[1] = deft_malloc(sizeof(int64_t) * (size_t)(n + 1));
  }
  int64_t cnt[2] = {0, 0};
  if (!r[0] || !r[1]) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int64_t i = 0; !same && i < n; i++) {
    int64_t x = i - (n - n0) >= 0 ? deft_tensor_index_at(s[0], i - (n - n0)) : 1;
    int64_t y = i - (n - n1) >= 0 ? deft_tensor_index_at(s[1], i - (n - n1)) : 1;
    if (x != y && x != 1 && y != 1) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "incompatible shapes: %s vs. %s",
                       fmt_index_tensor(s[0], a, sizeof a), fmt_index_tensor(s[1], b, sizeof b));
      goto done;
    }
    if (x == 1) r[0][cnt[0]++] = i;
    if (y == 1) r[1][cnt[1]++] = i;
  }
  for (int k = 0; k < 2; k++) {
    deft_tensor *o = deft_kernel_output(c, k, s[0]->dtype, &cnt[k], 1);
    if (!o) goto done;
    for (int64_t i = 0; i < cnt[k]; i++) put_index(c, o, i, r[k][i]);
  }
done:
  if (heap) {
    deft_free(r[0]);
    deft_free(r[1]);
  }
}

deft_output deft_broadcast_gradient_args(deft_graph *g, deft_output s0, deft_output s1,
                                         const char *name) {
  deft_output in[2] = {s0, s1};
  return deft_build_simple(g, "BroadcastGradientArgs", name, in, 2);
}
static const deft_op_def array_defs[] = {
    {.type = "Const", .outputs = "output: dtype", .attrs = "value: tensor, dtype: type",
     .shape = const_shape, .prepare = const_prepare, .kernel = const_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
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
    {.type = "Shape", .inputs = "input: T", .outputs = "output: out_type",
     .attrs = "T: type, out_type: {int32, int64} = DT_INT32", .shape = shape_shape,
     .kernel = shape_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "Size", .inputs = "input: T", .outputs = "output: out_type",
     .attrs = "T: type, out_type: {int32, int64} = DT_INT32", .shape = scalar_shape,
     .kernel = size_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "Rank", .inputs = "input: T", .outputs = "output: int32", .attrs = "T: type",
     .shape = scalar_shape, .kernel = rank_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "Reshape", .inputs = "tensor: T, shape: Tshape", .outputs = "output: T",
     .attrs = "T: type, Tshape: {int32, int64} = DT_INT32", .shape = reshape_shape,
     .kernel = reshape_kernel, .grad = reshape_to_input_grad},
    /* TF's gradient is (None, Sum(grad)) for the value; it needs the math family's Sum, so Fill
     * is marked not differentiable until that is wired in. */
    {.type = "Fill", .inputs = "dims: index_type, value: T", .outputs = "output: T",
     .attrs = "T: type, index_type: {int32, int64} = DT_INT32", .shape = fill_shape,
     .kernel = fill_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "ZerosLike", .inputs = "x: T", .outputs = "y: T", .attrs = "T: type",
     .shape = deft_shape_unchanged, .kernel = zeros_like_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "OnesLike", .inputs = "x: T", .outputs = "y: T",
     .attrs = "T: {bfloat16, half, float, double, int8, uint8, int16, uint16, int32, int64, "
              "complex64, complex128, bool}",
     .shape = deft_shape_unchanged, .kernel = ones_like_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "ExpandDims", .inputs = "input: T, dim: Tdim", .outputs = "output: T",
     .attrs = "T: type, Tdim: {int32, int64} = DT_INT32", .shape = expand_dims_shape,
     .kernel = expand_dims_kernel, .grad = reshape_to_input_grad},
    {.type = "Squeeze", .inputs = "input: T", .outputs = "output: T",
     .attrs = "T: type, squeeze_dims: list(int) >= 0 = []", .shape = squeeze_shape,
     .prepare = squeeze_prepare, .kernel = squeeze_kernel, .grad = reshape_to_input_grad},
    {.type = "Select", .inputs = "condition: bool, t: T, e: T", .outputs = "output: T",
     .attrs = "T: type", .shape = select_shape, .kernel = select_kernel, .grad = select_grad},
    {.type = "Range", .inputs = "start: Tidx, limit: Tidx, delta: Tidx", .outputs = "output: Tidx",
     .attrs = "Tidx: {bfloat16, float, double, int32, int64} = DT_INT32", .shape = range_shape,
     .kernel = range_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    {.type = "BroadcastGradientArgs", .inputs = "s0: T, s1: T", .outputs = "r0: T, r1: T",
     .attrs = "T: {int32, int64} = DT_INT32", .shape = bga_shape, .kernel = bga_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_array, array_defs);
