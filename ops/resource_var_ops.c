/* SPDX-License-Identifier: Apache-2.0 */
/* ops/resource_var_ops.c - resource variables (TF's resource_variable_ops): VarHandleOp,
 * ReadVariableOp, AssignVariableOp, AssignAddVariableOp, AssignSubVariableOp,
 * VarIsInitializedOp, VariableShape, DestroyResourceOp, ResourceGather and ResourceScatterAdd /
 * Sub / Update, with their shape functions, kernels, gradients and public constructors. (The
 * ResourceApply* and ResourceSparseApply* optimizer updates share the kernels of their ref forms
 * in ops/training_ops.c and ops/sparse_grad_ops.c.)
 *
 * The storage is the session's deft_var of the VarHandleOp, the same storage a VariableV2 has,
 * so savers, restores and deft_session_variable_value see both kinds alike. A VarHandleOp's
 * output is a handle: the number of a per-run resource (deft_kernel_resource_add) whose object
 * is that storage, so a handle is valid only in the run that made it and can never be taken for
 * a TensorArray's or another kind's. ReadVariableOp forwards the storage's buffer (no copy); as
 * for ref variables, an update of storage that a live read or a fetched value shares copies it
 * first, so a read is a snapshot.
 *
 * Sharing by shared_name: every VarHandleOp node has storage of its own (TF1 graphs have one
 * VarHandleOp per variable); two nodes naming the same shared_name do not share it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/tensor_internal.h"
#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "ops/resource_var.h"

enum { DT_RESOURCE_NUM = 20 };

/* The per-run resource kind of a variable handle: the object is session storage, which the run
 * does not own, so there is nothing to destroy. The function's address tells the kind. */
static void var_handle_release(void *obj) { (void)obj; }

deft_var *deft_kernel_var_input(deft_kernel_ctx *c, int i) {
  deft_var *v = deft_kernel_ref_input(c, i);
  if (v) return v;
  return deft_kernel_resource_get(c, i, var_handle_release);
}

/* ---- build-time facts about a handle (TF's handle shape data) ---- */

/* The VarHandleOp a resource tensor comes from (through Identity, Enter and Switch), or NULL
 * (e.g. behind a Merge, which may join different handles). */
static const deft_op *handle_source(deft_output h) {
  for (int depth = 0; h.op && depth < 64; depth++) {
    const char *t = deft_op_type(h.op);
    if (!strcmp(t, "VarHandleOp")) return h.op;
    if (strcmp(t, "Identity") && strcmp(t, "Enter") && strcmp(t, "Switch")) return NULL;
    h = deft_op_input(h.op, 0);
  }
  return NULL;
}

static deft_shape handle_shape(deft_output h) {
  deft_shape s = deft_shape_unknown();
  const deft_op *v = handle_source(h);
  if (v && !deft_op_attr_shape(v, "shape", &s)) s = deft_shape_unknown();
  return s;
}

static deft_dtype handle_dtype(deft_output h) {
  deft_dtype t = DEFT_INVALID_DTYPE;
  const deft_op *v = handle_source(h);
  if (v && !deft_op_attr_type(v, "dtype", &t)) t = DEFT_INVALID_DTYPE;
  return t;
}

bool deft_shape_ctx_input_is_resource(const deft_shape_ctx *c, int i) {
  return (int)deft_shape_ctx_input_dtype(c, i) == DT_RESOURCE_NUM;
}

deft_shape deft_shape_ctx_var_shape(const deft_shape_ctx *c, int i) {
  if (!deft_shape_ctx_input_is_resource(c, i)) return deft_shape_ctx_input(c, i);
  return handle_shape(deft_op_input(c->op, i));
}

bool deft_shape_merge_into(deft_shape *a, deft_shape b) {
  if (b.rank < 0) return true;
  if (a->rank < 0) {
    *a = b;
    return true;
  }
  if (a->rank != b.rank) return false;
  for (int k = 0; k < a->rank; k++) {
    if (a->dims[k] < 0)
      a->dims[k] = b.dims[k];
    else if (b.dims[k] >= 0 && b.dims[k] != a->dims[k])
      return false;
  }
  return true;
}

/* Fails c unless input `value`'s shape is compatible with the variable's declared shape. */
static void check_value_shape(deft_shape_ctx *c, int value) {
  deft_shape want = deft_shape_ctx_var_shape(c, 0), got = deft_shape_ctx_input(c, value);
  deft_shape m = want;
  if (!deft_shape_merge_into(&m, got)) {
    char a[128], b[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "the variable has shape %s, but the value has shape %s",
                    deft_shape_format(want, a, sizeof a), deft_shape_format(got, b, sizeof b));
  }
}

/* ---- VarHandleOp ---- */

static void var_handle_shape(deft_shape_ctx *c) {
  deft_dtype t = DEFT_INVALID_DTYPE;
  deft_op_attr_type(c->op, "dtype", &t);
  if (deft_dtype_size(t) == 0 && t != DEFT_STRING) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "attr dtype (%d) is not a dtype a variable can hold",
                    (int)t);
    return;
  }
  deft_shape s = deft_shape_unknown();
  deft_op_attr_shape(c->op, "shape", &s);
  for (int k = 0; k < s.rank; k++)
    if (s.dims[k] < -1) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "attr shape has dimension %d = %" PRId64, k,
                      s.dims[k]);
      return;
    }
  deft_shape_ctx_set_output(c, 0, deft_shape_make(0, NULL));
}

static void var_handle_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_variable(c);
  if (!v) return;
  int64_t h = deft_kernel_resource_add(c, v, var_handle_release);
  if (!h) return;
  deft_tensor *t = deft_kernel_output(c, 0, DEFT_INT64, NULL, 0);
  if (t) deft_tensor_i64(t)[0] = h;
}

/* ---- ReadVariableOp ---- */

static void read_shape(deft_shape_ctx *c) {
  deft_dtype want = DEFT_INVALID_DTYPE, have = handle_dtype(deft_op_input(c->op, 0));
  deft_op_attr_type(c->op, "dtype", &want);
  if (have != DEFT_INVALID_DTYPE && have != want) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "reads a %s value from variable '%s', which holds %s",
                    deft_dtype_name(want), deft_op_name(handle_source(deft_op_input(c->op, 0))),
                    deft_dtype_name(have));
    return;
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_var_shape(c, 0));
}

/* The storage of handle input 0, initialized and holding `want` (INVALID_DTYPE: any). */
static deft_var *initialized_var(deft_kernel_ctx *c, deft_dtype want) {
  deft_var *v = deft_kernel_var_input(c, 0);
  if (!v) return NULL;
  if (!v->initialized || !deft_tensor_is_set(&v->value)) {
    deft_kernel_fail(c, DEFT_FAILED_PRECONDITION,
                     "Error while reading resource variable '%s': it is uninitialized (run its "
                     "initializer, or restore it, first)",
                     deft_op_name(v->op));
    return NULL;
  }
  if (want != DEFT_INVALID_DTYPE && v->value.dtype != want) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "trying to read variable '%s' with the wrong dtype: expected %s, got %s",
                     deft_op_name(v->op), deft_dtype_name(want), deft_dtype_name(v->value.dtype));
    return NULL;
  }
  return v;
}

static void read_kernel(deft_kernel_ctx *c) {
  deft_var *v = initialized_var(c, deft_kernel_output_dtype(c, 0));
  if (v) deft_kernel_forward(c, 0, &v->value);
}

/* ReadVariableOp's gradient flows to the handle: the variable (TF's _ReadGrad). */
static void read_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  (void)g;
  (void)op;
  dx[0] = grads[0];
}

/* ---- AssignVariableOp, AssignAddVariableOp, AssignSubVariableOp ---- */

static void assign_var_shape(deft_shape_ctx *c) {
  deft_dtype have = handle_dtype(deft_op_input(c->op, 0));
  deft_dtype got = deft_shape_ctx_input_dtype(c, 1);
  if (have != DEFT_INVALID_DTYPE && have != got) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "variable '%s' holds %s, but the value is %s",
                    deft_op_name(handle_source(deft_op_input(c->op, 0))), deft_dtype_name(have),
                    deft_dtype_name(got));
    return;
  }
  check_value_shape(c, 1);
}

/* Checks value against v's dtype and declared shape (and, when `same_shape`, its current
 * shape). False after recording an error. */
static bool check_assign_value(deft_kernel_ctx *c, deft_var *v, const deft_tensor *value,
                               bool same_shape) {
  char a[128], b[128];
  if (value->dtype != v->dtype) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "trying to assign a %s value to variable '%s', which holds %s",
                     deft_dtype_name(value->dtype), deft_op_name(v->op), deft_dtype_name(v->dtype));
    return false;
  }
  deft_shape want = same_shape ? deft_tensor_shape(&v->value) : v->shape;
  bool ok = want.rank < 0 || want.rank == value->rank;
  for (int i = 0; ok && want.rank >= 0 && i < want.rank; i++)
    ok = want.dims[i] < 0 || want.dims[i] == value->dims[i];
  if (!ok)
    deft_kernel_fail(
        c, DEFT_INVALID_ARGUMENT, "cannot %s a value of shape %s to variable '%s' of shape %s",
        same_shape ? "add" : "assign", deft_shape_format(deft_tensor_shape(value), a, sizeof a),
        deft_op_name(v->op), deft_shape_format(want, b, sizeof b));
  return ok;
}

static void assign_var_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_var_input(c, 0);
  const deft_tensor *value = deft_kernel_input(c, 1);
  if (!v || !check_assign_value(c, v, value, false)) return;
  deft_tensor *dst = &v->value;
  size_t bytes = deft_tensor_nbytes(value);
  if (v->initialized && dst->buf && deft_buffer_exclusive(dst->buf) && dst->dtype == value->dtype &&
      dst->dtype != DEFT_STRING && deft_tensor_nbytes(dst) == bytes) {
    deft_buffer_touch(dst->buf);
    memcpy(dst->buf->data, value->buf->data, bytes); /* keep the variable's own buffer */
    deft_tensor_reshape_inplace(dst, value->dims, value->rank);
  } else {
    deft_tensor_set_shared(dst, value); /* copied on the first in-place update */
    deft_buffer_touch(dst->buf);
  }
  v->initialized = true;
}

static void update_var_kernel(deft_kernel_ctx *c, int sign) {
  deft_var *v = initialized_var(c, DEFT_INVALID_DTYPE);
  if (!v) return;
  const deft_tensor *d = deft_kernel_input(c, 1);
  if (!check_assign_value(c, v, d, true)) return;
  deft_tensor *x = &v->value;
  if (x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE && x->dtype != DEFT_INT32 &&
      x->dtype != DEFT_INT64) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED,
                     "deft adds to float, double, int32 and int64 "
                     "variables; '%s' is %s",
                     deft_op_name(v->op), deft_dtype_name(x->dtype));
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
      if (sign > 0)
        for (int64_t i = 0; i < n; i++) a[i] += b[i];
      else
        for (int64_t i = 0; i < n; i++) a[i] -= b[i];
      break;
    }
    case DEFT_DOUBLE: {
      double *a = deft_tensor_f64(x);
      const double *b = deft_tensor_f64(d);
      if (sign > 0)
        for (int64_t i = 0; i < n; i++) a[i] += b[i];
      else
        for (int64_t i = 0; i < n; i++) a[i] -= b[i];
      break;
    }
    case DEFT_INT32: {
      uint32_t *a = (uint32_t *)deft_tensor_i32(x);
      const uint32_t *b = (const uint32_t *)deft_tensor_i32(d);
      if (sign > 0)
        for (int64_t i = 0; i < n; i++) a[i] += b[i]; /* wraps, as TF */
      else
        for (int64_t i = 0; i < n; i++) a[i] -= b[i];
      break;
    }
    default: {
      uint64_t *a = (uint64_t *)deft_tensor_i64(x);
      const uint64_t *b = (const uint64_t *)deft_tensor_i64(d);
      if (sign > 0)
        for (int64_t i = 0; i < n; i++) a[i] += b[i];
      else
        for (int64_t i = 0; i < n; i++) a[i] -= b[i];
      break;
    }
  }
}

static void assign_add_var_kernel(deft_kernel_ctx *c) { update_var_kernel(c, 1); }
static void assign_sub_var_kernel(deft_kernel_ctx *c) { update_var_kernel(c, -1); }

/* ---- VarIsInitializedOp, VariableShape, DestroyResourceOp ---- */

static void scalar_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_make(0, NULL));
}

static void is_initialized_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_var_input(c, 0);
  if (!v) return;
  deft_tensor *t = deft_kernel_output(c, 0, DEFT_BOOL, NULL, 0);
  if (t) *(bool *)t->buf->data = v->initialized && deft_tensor_is_set(&v->value);
}

static void variable_shape_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_var_shape(c, 0);
  int64_t n = s.rank;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &n));
}

static void variable_shape_kernel(deft_kernel_ctx *c) {
  deft_var *v = initialized_var(c, DEFT_INVALID_DTYPE);
  if (!v) return;
  int64_t r = v->value.rank;
  deft_dtype t = deft_kernel_output_dtype(c, 0);
  deft_tensor *o = deft_kernel_output(c, 0, t, &r, 1);
  if (!o) return;
  for (int k = 0; k < r; k++) {
    int64_t d = v->value.dims[k];
    if (t == DEFT_INT32 && d > INT32_MAX) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "dimension %d of '%s' (%" PRId64
                       ") does not "
                       "fit in int32",
                       k, deft_op_name(v->op), d);
      return;
    }
    if (t == DEFT_INT32)
      deft_tensor_i32(o)[k] = (int32_t)d;
    else
      deft_tensor_i64(o)[k] = d;
  }
}

static void destroy_kernel(deft_kernel_ctx *c) {
  deft_var *v = deft_kernel_var_input(c, 0);
  if (!v) return;
  deft_tensor_reset(&v->value);
  v->initialized = false;
}

/* ---- ResourceGather ---- */

static void resource_gather_shape(deft_shape_ctx *c) {
  int64_t bd = 0;
  deft_op_attr_int(c->op, "batch_dims", &bd);
  if (bd != 0) {
    deft_shape_fail(c, DEFT_UNIMPLEMENTED, "deft gathers with batch_dims 0 only, got %" PRId64, bd);
    return;
  }
  deft_shape p = deft_shape_ctx_var_shape(c, 0), ix = deft_shape_ctx_input(c, 1);
  if (p.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the variable must be at least 1-D, got a scalar");
    return;
  }
  if (p.rank < 0 || ix.rank < 0) return;
  if (ix.rank + p.rank - 1 > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the result would have more than %d dimensions",
                    DEFT_MAX_RANK);
    return;
  }
  deft_shape out = ix;
  for (int k = 1; k < p.rank; k++) out.dims[out.rank++] = p.dims[k];
  deft_shape_ctx_set_output(c, 0, out);
}

static void resource_gather_kernel(deft_kernel_ctx *c) {
  deft_var *v = initialized_var(c, deft_kernel_output_dtype(c, 0));
  if (!v) return;
  const deft_tensor *p = &v->value, *ix = deft_kernel_input(c, 1);
  if (p->rank < 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "variable '%s' must be at least 1-D, got a "
                     "scalar",
                     deft_op_name(v->op));
    return;
  }
  if (ix->rank + p->rank - 1 > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the result would have more than %d dimensions",
                     DEFT_MAX_RANK);
    return;
  }
  if (p->dtype == DEFT_STRING) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft does not gather from string variables ('%s')",
                     deft_op_name(v->op));
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  int r = 0;
  for (int k = 0; k < ix->rank; k++) dims[r++] = ix->dims[k];
  for (int k = 1; k < p->rank; k++) dims[r++] = p->dims[k];
  int64_t rows = p->dims[0], inner = 1;
  for (int k = 1; k < p->rank; k++) inner *= p->dims[k];
  for (int64_t i = 0; i < ix->n; i++) {
    int64_t at = deft_tensor_index_at(ix, i);
    if (at < 0 || at >= rows) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "indices[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64
                       ") (the rows of '%s')",
                       i, at, rows, deft_op_name(v->op));
      return;
    }
  }
  deft_tensor *o = deft_kernel_output(c, 0, p->dtype, dims, r);
  if (!o || o->n == 0) return;
  size_t row = (size_t)inner * deft_dtype_size(p->dtype);
  const char *src = p->buf->data;
  char *dst = o->buf->data;
  for (int64_t i = 0; i < ix->n; i++)
    memcpy(dst + (size_t)i * row, src + (size_t)deft_tensor_index_at(ix, i) * row, row);
}

/* TF's ResourceGather gradient: IndexedSlices(values = reshape(grad, [size(indices)] +
 * shape[1:]), indices = reshape(indices, [size(indices)]), dense_shape = VariableShape). */
static deft_indexed_slices resource_gather_slices(deft_graph *g, deft_op *op, deft_output grad) {
  deft_indexed_slices r;
  deft_output handle = deft_op_input(op, 0), indices = deft_op_input(op, 1);
  deft_output pshape = deft_variable_shape_op(g, handle, DEFT_INT32, "VariableShape");
  deft_output size = deft_expand_dims(g, deft_size(g, indices, NULL),
                                      deft_const_int32(g, 0, "ExpandDims/dim"), NULL);
  int32_t one = 1, zero = 0;
  deft_output tail = deft_strided_slice(
      g, pshape, deft_const_int32_vector(g, &one, 1, "strided_slice/stack"),
      deft_const_int32_vector(g, &zero, 1, "strided_slice/stack_1"),
      deft_const_int32_vector(g, &one, 1, "strided_slice/stack_2"), 0, 1, 0, 0, 0, "strided_slice");
  deft_output parts[2] = {size, tail};
  deft_output vshape = deft_concat(g, parts, 2, deft_const_int32(g, 0, "concat/axis"), NULL);
  r.values = deft_reshape(g, grad, vshape, NULL);
  r.indices = deft_reshape(g, indices, size, NULL);
  r.dense_shape = pshape;
  return r;
}

static bool resource_gather_sparse_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                        deft_indexed_slices *dx0) {
  *dx0 = resource_gather_slices(g, op, grads[0]);
  return true;
}

static void resource_gather_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                 deft_output *dx) {
  dx[0] = deft_indexed_slices_to_dense(g, resource_gather_slices(g, op, grads[0]), NULL);
}

/* ---- ResourceScatterAdd / Sub / Update ---- */

typedef enum { RS_UPDATE, RS_ADD, RS_SUB } rs_kind;

static void resource_scatter_shape(deft_shape_ctx *c) {
  deft_shape r = deft_shape_ctx_var_shape(c, 0), ix = deft_shape_ctx_input(c, 1);
  deft_shape u = deft_shape_ctx_input(c, 2);
  char a[128], b[128], d[128];
  if (r.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the variable must be at least 1-D, got a scalar");
    return;
  }
  if (r.rank > 0 && ix.rank >= 0 && u.rank > 0) {
    bool ok = u.rank == ix.rank + r.rank - 1;
    for (int k = 0; ok && k < ix.rank; k++)
      ok = u.dims[k] < 0 || ix.dims[k] < 0 || u.dims[k] == ix.dims[k];
    for (int k = 1; ok && k < r.rank; k++)
      ok = u.dims[ix.rank + k - 1] < 0 || r.dims[k] < 0 || u.dims[ix.rank + k - 1] == r.dims[k];
    if (!ok)
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "updates must have shape indices.shape + var.shape[1:]: indices %s, var "
                      "%s, got %s",
                      deft_shape_format(ix, a, sizeof a), deft_shape_format(r, b, sizeof b),
                      deft_shape_format(u, d, sizeof d));
  }
}

#define RS_LOOP(T, OP)                                                               \
  do {                                                                               \
    T *w_ = (T *)v->value.buf->data;                                                 \
    const T *u_ = (const T *)u->buf->data;                                           \
    for (int64_t i = 0; i < ix->n; i++) {                                            \
      T *row_ = w_ + deft_tensor_index_at(ix, i) * inner;                            \
      for (int64_t k = 0; k < inner; k++) row_[k] OP u_[scalar ? 0 : i * inner + k]; \
    }                                                                                \
  } while (0)

static void resource_scatter_run(deft_kernel_ctx *c, rs_kind kind) {
  deft_var *v = initialized_var(c, DEFT_INVALID_DTYPE);
  if (!v) return;
  const deft_tensor *x = &v->value, *ix = deft_kernel_input(c, 1), *u = deft_kernel_input(c, 2);
  char a[128], b[128], d[128];
  if (u->dtype != x->dtype) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "updates are %s, but variable '%s' holds %s",
                     deft_dtype_name(u->dtype), deft_op_name(v->op), deft_dtype_name(x->dtype));
    return;
  }
  if (x->rank < 1 || x->dtype == DEFT_STRING ||
      (kind != RS_UPDATE && x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE &&
       x->dtype != DEFT_INT32 && x->dtype != DEFT_INT64)) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED,
                     "deft scatters into numeric variables of rank >= 1; "
                     "'%s' is %s %s",
                     deft_op_name(v->op), deft_dtype_name(x->dtype),
                     deft_shape_format(deft_tensor_shape(x), a, sizeof a));
    return;
  }
  bool scalar = u->rank == 0;
  bool ok = scalar || u->rank == ix->rank + x->rank - 1;
  for (int k = 0; ok && !scalar && k < ix->rank; k++) ok = u->dims[k] == ix->dims[k];
  for (int k = 1; ok && !scalar && k < x->rank; k++) ok = u->dims[ix->rank + k - 1] == x->dims[k];
  if (!ok) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "updates must have shape indices.shape + var.shape[1:]: indices %s, var "
                     "'%s' %s, got %s",
                     deft_shape_format(deft_tensor_shape(ix), a, sizeof a), deft_op_name(v->op),
                     deft_shape_format(deft_tensor_shape(x), b, sizeof b),
                     deft_shape_format(deft_tensor_shape(u), d, sizeof d));
    return;
  }
  int64_t rows = x->dims[0], inner = 1;
  for (int k = 1; k < x->rank; k++) inner *= x->dims[k];
  for (int64_t i = 0; i < ix->n; i++) {
    int64_t r = deft_tensor_index_at(ix, i);
    if (r < 0 || r >= rows) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "indices[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64
                       ") (the rows of '%s')",
                       i, r, rows, deft_op_name(v->op));
      return;
    }
  }
  if (!deft_tensor_make_unique(&v->value, NULL)) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying '%s' for its update",
                     deft_op_name(v->op));
    return;
  }
  if (kind == RS_UPDATE) {
    size_t es = deft_dtype_size(x->dtype);
    char *w = v->value.buf->data;
    const char *src = u->buf->data;
    for (int64_t i = 0; i < ix->n; i++) {
      char *row = w + (size_t)(deft_tensor_index_at(ix, i) * inner) * es;
      if (scalar)
        for (int64_t k = 0; k < inner; k++) memcpy(row + (size_t)k * es, src, es);
      else
        memcpy(row, src + (size_t)(i * inner) * es, (size_t)inner * es);
    }
    return;
  }
  bool add = kind == RS_ADD;
  switch (x->dtype) {
    case DEFT_FLOAT:
      if (add)
        RS_LOOP(float, +=);
      else
        RS_LOOP(float, -=);
      break;
    case DEFT_DOUBLE:
      if (add)
        RS_LOOP(double, +=);
      else
        RS_LOOP(double, -=);
      break;
    case DEFT_INT32:
      if (add)
        RS_LOOP(uint32_t, +=);
      else
        RS_LOOP(uint32_t, -=);
      break;
    default:
      if (add)
        RS_LOOP(uint64_t, +=);
      else
        RS_LOOP(uint64_t, -=);
      break;
  }
}

static void resource_scatter_update_kernel(deft_kernel_ctx *c) {
  resource_scatter_run(c, RS_UPDATE);
}
static void resource_scatter_add_kernel(deft_kernel_ctx *c) { resource_scatter_run(c, RS_ADD); }
static void resource_scatter_sub_kernel(deft_kernel_ctx *c) { resource_scatter_run(c, RS_SUB); }

/* ---- the table ---- */

enum { NODIFF = DEFT_OP_NOT_DIFFERENTIABLE, STATEFUL = DEFT_OP_STATEFUL };

static const deft_op_def resource_var_defs[] = {
    {.type = "VarHandleOp",
     .outputs = "resource: resource",
     .attrs = "container: string = \"\", shared_name: string = \"\", dtype: type, shape: shape, "
              "allowed_devices: list(string) = []",
     .flags = STATEFUL | DEFT_OP_SOURCE_VARIABLE | NODIFF,
     .shape = var_handle_shape,
     .kernel = var_handle_kernel},
    {.type = "ReadVariableOp",
     .inputs = "resource: resource",
     .outputs = "value: dtype",
     .attrs = "dtype: type",
     .flags = STATEFUL,
     .shape = read_shape,
     .kernel = read_kernel,
     .grad = read_grad},
    {.type = "AssignVariableOp",
     .inputs = "resource: resource, value: dtype",
     .attrs = "dtype: type, validate_shape: bool = false",
     .flags = STATEFUL | NODIFF,
     .shape = assign_var_shape,
     .kernel = assign_var_kernel},
    {.type = "AssignAddVariableOp",
     .inputs = "resource: resource, value: dtype",
     .attrs = "dtype: type",
     .flags = STATEFUL | NODIFF,
     .shape = assign_var_shape,
     .kernel = assign_add_var_kernel},
    {.type = "AssignSubVariableOp",
     .inputs = "resource: resource, value: dtype",
     .attrs = "dtype: type",
     .flags = STATEFUL | NODIFF,
     .shape = assign_var_shape,
     .kernel = assign_sub_var_kernel},
    {.type = "VarIsInitializedOp",
     .inputs = "resource: resource",
     .outputs = "is_initialized: bool",
     .flags = STATEFUL | NODIFF,
     .shape = scalar_shape,
     .kernel = is_initialized_kernel},
    {.type = "VariableShape",
     .inputs = "input: resource",
     .outputs = "output: out_type",
     .attrs = "out_type: {int32, int64} = DT_INT32",
     .flags = STATEFUL | NODIFF,
     .shape = variable_shape_shape,
     .kernel = variable_shape_kernel},
    {.type = "DestroyResourceOp",
     .inputs = "resource: resource",
     .attrs = "ignore_lookup_error: bool = true",
     .flags = STATEFUL | NODIFF,
     .kernel = destroy_kernel},
    {.type = "ResourceGather",
     .inputs = "resource: resource, indices: Tindices",
     .outputs = "output: dtype",
     .attrs = "batch_dims: int = 0, validate_indices: bool = true, dtype: type, "
              "Tindices: {int32, int64}",
     .flags = STATEFUL,
     .shape = resource_gather_shape,
     .kernel = resource_gather_kernel,
     .grad = resource_gather_grad,
     .sparse_grad = resource_gather_sparse_grad},
    {.type = "ResourceScatterUpdate",
     .inputs = "resource: resource, indices: Tindices, updates: dtype",
     .attrs = "dtype: type, Tindices: {int32, int64}",
     .flags = STATEFUL | NODIFF,
     .shape = resource_scatter_shape,
     .kernel = resource_scatter_update_kernel},
    {.type = "ResourceScatterAdd",
     .inputs = "resource: resource, indices: Tindices, updates: dtype",
     .attrs = "dtype: numbertype, Tindices: {int32, int64}",
     .flags = STATEFUL | NODIFF,
     .shape = resource_scatter_shape,
     .kernel = resource_scatter_add_kernel},
    {.type = "ResourceScatterSub",
     .inputs = "resource: resource, indices: Tindices, updates: dtype",
     .attrs = "dtype: numbertype, Tindices: {int32, int64}",
     .flags = STATEFUL | NODIFF,
     .shape = resource_scatter_shape,
     .kernel = resource_scatter_sub_kernel},
};

DEFT_FAMILY(deft_ops_resource_var, resource_var_defs);

/* ---- public constructors ---- */

static deft_output out0(deft_op *op) {
  deft_output o = {op, 0};
  return o;
}

/* The dtype of the variable behind handle h, or INVALID_DTYPE after recording an error. */
static deft_dtype need_handle_dtype(deft_graph *g, const char *type, deft_output h) {
  if (!deft_inputs_ok(g, type, &h, 1)) return DEFT_INVALID_DTYPE;
  deft_dtype t = handle_dtype(h);
  if (t == DEFT_INVALID_DTYPE)
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s: input '%s' (op type %s) is not a resource variable's handle", type,
                    deft_op_name(h.op), deft_op_type(h.op));
  return t;
}

deft_op *deft_var_handle_op(deft_graph *g, deft_dtype dtype, deft_shape shape,
                            const char *shared_name, const char *name) {
  if (!g || !deft_graph_ok(g)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, "VarHandleOp", name ? name : "Variable");
  deft_op_builder_set_attr_type(b, "dtype", dtype);
  deft_op_builder_set_attr_shape(b, "shape", shape);
  deft_op_builder_set_attr_string(b, "shared_name", shared_name ? shared_name : "",
                                  shared_name ? strlen(shared_name) : 0);
  return deft_op_builder_finish(b);
}

deft_output deft_read_variable_op(deft_graph *g, deft_output handle, const char *name) {
  deft_dtype t = need_handle_dtype(g, "ReadVariableOp", handle);
  if (t == DEFT_INVALID_DTYPE) return out0(NULL);
  deft_op_builder *b = deft_op_builder_new(g, "ReadVariableOp", name);
  deft_op_builder_add_input(b, handle);
  deft_op_builder_set_attr_type(b, "dtype", t);
  return out0(deft_op_builder_finish(b));
}

static deft_op *build_handle_value(deft_graph *g, const char *type, deft_output handle,
                                   deft_output value, const char *name) {
  deft_output in[2] = {handle, value};
  if (!deft_inputs_ok(g, type, in, 2)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, handle);
  deft_op_builder_add_input(b, value);
  return deft_op_builder_finish(b);
}

deft_op *deft_assign_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                 const char *name) {
  return build_handle_value(g, "AssignVariableOp", handle, value, name);
}

deft_op *deft_assign_add_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                     const char *name) {
  return build_handle_value(g, "AssignAddVariableOp", handle, value, name);
}

deft_op *deft_assign_sub_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                     const char *name) {
  return build_handle_value(g, "AssignSubVariableOp", handle, value, name);
}

static deft_op *build_handle_only(deft_graph *g, const char *type, deft_output handle,
                                  const char *name) {
  if (!deft_inputs_ok(g, type, &handle, 1)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, handle);
  return deft_op_builder_finish(b);
}

deft_output deft_var_is_initialized_op(deft_graph *g, deft_output handle, const char *name) {
  return out0(build_handle_only(g, "VarIsInitializedOp", handle, name));
}

deft_op *deft_destroy_resource_op(deft_graph *g, deft_output handle, const char *name) {
  return build_handle_only(g, "DestroyResourceOp", handle, name);
}

deft_output deft_variable_shape_op(deft_graph *g, deft_output handle, deft_dtype out_type,
                                   const char *name) {
  if (!deft_inputs_ok(g, "VariableShape", &handle, 1)) return out0(NULL);
  deft_op_builder *b = deft_op_builder_new(g, "VariableShape", name);
  deft_op_builder_add_input(b, handle);
  deft_op_builder_set_attr_type(b, "out_type", out_type);
  return out0(deft_op_builder_finish(b));
}

deft_output deft_resource_gather(deft_graph *g, deft_output handle, deft_output indices,
                                 const char *name) {
  deft_dtype t = need_handle_dtype(g, "ResourceGather", handle);
  if (t == DEFT_INVALID_DTYPE || !deft_inputs_ok(g, "ResourceGather", &indices, 1))
    return out0(NULL);
  deft_op_builder *b = deft_op_builder_new(g, "ResourceGather", name);
  deft_op_builder_add_input(b, handle);
  deft_op_builder_add_input(b, indices);
  deft_op_builder_set_attr_type(b, "dtype", t);
  return out0(deft_op_builder_finish(b));
}

static deft_op *build_scatter(deft_graph *g, const char *type, deft_output handle,
                              deft_output indices, deft_output updates, const char *name) {
  deft_output in[3] = {handle, indices, updates};
  if (!deft_inputs_ok(g, type, in, 3)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < 3; i++) deft_op_builder_add_input(b, in[i]);
  return deft_op_builder_finish(b);
}

deft_op *deft_resource_scatter_add(deft_graph *g, deft_output handle, deft_output indices,
                                   deft_output updates, const char *name) {
  return build_scatter(g, "ResourceScatterAdd", handle, indices, updates, name);
}

deft_op *deft_resource_scatter_sub(deft_graph *g, deft_output handle, deft_output indices,
                                   deft_output updates, const char *name) {
  return build_scatter(g, "ResourceScatterSub", handle, indices, updates, name);
}

deft_op *deft_resource_scatter_update(deft_graph *g, deft_output handle, deft_output indices,
                                      deft_output updates, const char *name) {
  return build_scatter(g, "ResourceScatterUpdate", handle, indices, updates, name);
}
