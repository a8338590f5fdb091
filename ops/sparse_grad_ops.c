/* SPDX-License-Identifier: Apache-2.0 */
/* ops/sparse_grad_ops.c - the ops that apply sparse gradients (TF's IndexedSlices) to variables:
 * ScatterUpdate, ScatterAdd, ScatterSub (state_ops) and SparseApplyMomentum, SparseApplyAdagrad,
 * SparseApplyRMSProp (training_ops), with their shape functions, prepare steps, kernels and
 * public constructors; and deft_indexed_slices_to_dense, the conversion TF's
 * _IndexedSlicesToTensor builds.
 *
 * Each op updates only the rows of its variable (and slots) that `indices` names: its cost is
 * O(len(indices) * row size), not O(variable). Rows are processed in the order of `indices`, so a
 * repeated index is applied twice (as TF's CPU kernels). Every input, every index included, is
 * validated before anything is written: a failed update changes nothing. Storage shared with a
 * fetched value is copied first (copy-on-write). None is differentiable (TF's state_grad.py). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/training_ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "ops/resource_var.h"
#include "base/tensor_internal.h"

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

/* ---- shared validation ---- */

/* The variables (made unique) and data pointers of a sparse update. */
typedef struct {
  deft_var *vars[3];
  void *w[3];
  const deft_tensor *grad, *indices;
  int64_t nidx, inner, rows;
  deft_dtype dtype;
} sparse_inputs;

/* Checks ref inputs [0, nrefs) (initialized, same dtype and shape, rank >= 1), scalar inputs
 * (every input other than refs, `grad` and `idx`), that grad has shape indices.shape +
 * var.shape[1:] (or is a scalar when allow_scalar), and that every index is in [0, var.dims[0]).
 * Then makes the variables unique. False after recording an error. */
static bool sparse_check(deft_kernel_ctx *c, int nrefs, int grad, int idx, bool allow_scalar,
                         bool numbers_only, sparse_inputs *s) {
  char a[128], b[128], d[128];
  for (int i = 0; i < nrefs; i++) {
    deft_var *v = deft_kernel_var_input(c, i); /* a ref, or a resource variable's handle */
    if (!v) return false;
    if (!v->initialized || !deft_tensor_is_set(&v->value)) {
      deft_kernel_fail(c, DEFT_FAILED_PRECONDITION,
                       "attempting to use uninitialized value %s (input %d, %s)",
                       deft_op_name(v->op), i, deft_kernel_input_name(c, i));
      return false;
    }
    s->vars[i] = v;
  }
  const deft_tensor *var = &s->vars[0]->value;
  s->dtype = var->dtype;
  if (var->rank < 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "var '%s' must be at least 1-D, got shape %s",
                     deft_op_name(s->vars[0]->op), tshape(var, a, sizeof a));
    return false;
  }
  if (numbers_only && s->dtype != DEFT_FLOAT && s->dtype != DEFT_DOUBLE &&
      (nrefs > 1 || (s->dtype != DEFT_INT32 && s->dtype != DEFT_INT64))) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft updates float, double%s variables; '%s' is %s",
                     nrefs > 1 ? "" : ", int32 and int64", deft_op_name(s->vars[0]->op),
                     deft_dtype_name(s->dtype));
    return false;
  }
  if (s->dtype == DEFT_STRING) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft does not scatter into string variables ('%s')",
                     deft_op_name(s->vars[0]->op));
    return false;
  }
  for (int i = 1; i < nrefs; i++) {
    const deft_tensor *t = &s->vars[i]->value;
    bool same = t->dtype == var->dtype && t->rank == var->rank;
    for (int k = 0; same && k < t->rank; k++) same = t->dims[k] == var->dims[k];
    if (!same) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "var '%s' is %s %s, but %s '%s' is %s %s",
                       deft_op_name(s->vars[0]->op), deft_dtype_name(var->dtype),
                       tshape(var, a, sizeof a), deft_kernel_input_name(c, i),
                       deft_op_name(s->vars[i]->op), deft_dtype_name(t->dtype),
                       tshape(t, b, sizeof b));
      return false;
    }
  }
  int n = deft_kernel_num_inputs(c);
  for (int i = nrefs; i < n; i++) {
    if (i == idx) continue;
    const deft_tensor *t = deft_kernel_input(c, i);
    if (t->dtype != var->dtype) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) is %s, but var '%s' is %s", i,
                       deft_kernel_input_name(c, i), deft_dtype_name(t->dtype),
                       deft_op_name(s->vars[0]->op), deft_dtype_name(var->dtype));
      return false;
    }
    if (i != grad && t->rank != 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a scalar, got shape %s",
                       deft_kernel_input_name(c, i), tshape(t, a, sizeof a));
      return false;
    }
  }
  const deft_tensor *ix = deft_kernel_input(c, idx), *g = deft_kernel_input(c, grad);
  s->indices = ix;
  s->grad = g;
  s->nidx = ix->n;
  s->rows = var->dims[0];
  s->inner = 1;
  for (int k = 1; k < var->rank; k++) s->inner *= var->dims[k];
  bool ok = g->rank == ix->rank + var->rank - 1;
  for (int k = 0; ok && k < ix->rank; k++) ok = g->dims[k] == ix->dims[k];
  for (int k = 1; ok && k < var->rank; k++) ok = g->dims[ix->rank + k - 1] == var->dims[k];
  if (!ok && !(allow_scalar && g->rank == 0)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "%s must have shape indices.shape + var.shape[1:]: indices %s, var '%s' %s, "
                     "got %s", deft_kernel_input_name(c, grad), tshape(ix, a, sizeof a),
                     deft_op_name(s->vars[0]->op), tshape(var, b, sizeof b),
                     tshape(g, d, sizeof d));
    return false;
  }
  for (int64_t i = 0; i < s->nidx; i++) {
    int64_t r = deft_tensor_index_at(ix, i);
    if (r < 0 || r >= s->rows) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "indices[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64
                       ") (the rows of '%s')", i, r, s->rows, deft_op_name(s->vars[0]->op));
      return false;
    }
  }
  for (int i = 0; i < nrefs; i++) {
    if (!deft_tensor_make_unique(&s->vars[i]->value, NULL)) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying '%s' for its update",
                       deft_op_name(s->vars[i]->op));
      return false;
    }
    s->w[i] = s->vars[i]->value.buf->data;
  }
  return true;
}

/* The ref forms return a ref to the variable; the ResourceSparseApply* forms have no output. */
static void output_var(deft_kernel_ctx *c, deft_var *v) {
  if (deft_kernel_num_outputs(c) > 0) deft_kernel_output_ref(c, 0, v);
}

/* ---- ScatterUpdate, ScatterAdd, ScatterSub ---- */

typedef enum { SC_UPDATE, SC_ADD, SC_SUB } scatter_kind;

#define SCATTER_LOOP(T, W, OP)                                                          \
  do {                                                                                  \
    T *w_ = (T *)(W);                                                                   \
    const T *u_ = (const T *)s.grad->buf->data;                                        \
    for (int64_t i = 0; i < s.nidx; i++) {                                              \
      T *row = w_ + deft_tensor_index_at(s.indices, i) * s.inner;                       \
      const T *src = scalar ? u_ : u_ + i * s.inner;                                     \
      for (int64_t k = 0; k < s.inner; k++) row[k] OP src[scalar ? 0 : k];              \
    }                                                                                   \
  } while (0)

static void scatter_run(deft_kernel_ctx *c, scatter_kind kind) {
  sparse_inputs s;
  if (!sparse_check(c, 1, 2, 1, true, kind != SC_UPDATE, &s)) return;
  bool scalar = s.grad->rank == 0;
  if (kind == SC_UPDATE) {
    size_t es = deft_dtype_size(s.dtype);
    char *w = s.w[0];
    const char *u = s.grad->buf->data;
    for (int64_t i = 0; i < s.nidx; i++) {
      char *row = w + (size_t)(deft_tensor_index_at(s.indices, i) * s.inner) * es;
      if (scalar)
        for (int64_t k = 0; k < s.inner; k++) memcpy(row + (size_t)k * es, u, es);
      else
        memcpy(row, u + (size_t)(i * s.inner) * es, (size_t)s.inner * es);
    }
  } else if (kind == SC_ADD) {
    switch (s.dtype) {
      case DEFT_FLOAT: SCATTER_LOOP(float, s.w[0], +=); break;
      case DEFT_DOUBLE: SCATTER_LOOP(double, s.w[0], +=); break;
      case DEFT_INT32: SCATTER_LOOP(uint32_t, s.w[0], +=); break; /* wraps, as TF */
      default: SCATTER_LOOP(uint64_t, s.w[0], +=); break;
    }
  } else {
    switch (s.dtype) {
      case DEFT_FLOAT: SCATTER_LOOP(float, s.w[0], -=); break;
      case DEFT_DOUBLE: SCATTER_LOOP(double, s.w[0], -=); break;
      case DEFT_INT32: SCATTER_LOOP(uint32_t, s.w[0], -=); break;
      default: SCATTER_LOOP(uint64_t, s.w[0], -=); break;
    }
  }
  output_var(c, s.vars[0]);
}

static void scatter_update_kernel(deft_kernel_ctx *c) { scatter_run(c, SC_UPDATE); }
static void scatter_add_kernel(deft_kernel_ctx *c) { scatter_run(c, SC_ADD); }
static void scatter_sub_kernel(deft_kernel_ctx *c) { scatter_run(c, SC_SUB); }

/* Output = ref's shape; updates must be indices.shape + ref.shape[1:] (or a scalar). */
static void scatter_shape_check(deft_shape_ctx *c, int ref, int idx, int upd, bool allow_scalar) {
  deft_shape r = deft_shape_ctx_var_shape(c, ref), ix = deft_shape_ctx_input(c, idx);
  deft_shape u = deft_shape_ctx_input(c, upd);
  char a[128], b[128], d[128];
  if (r.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the variable must be at least 1-D, got a scalar");
    return;
  }
  if (r.rank > 0 && ix.rank >= 0 && u.rank >= 0 && !(allow_scalar && u.rank == 0)) {
    bool ok = u.rank == ix.rank + r.rank - 1;
    for (int k = 0; ok && k < ix.rank; k++)
      ok = u.dims[k] < 0 || ix.dims[k] < 0 || u.dims[k] == ix.dims[k];
    for (int k = 1; ok && k < r.rank; k++)
      ok = u.dims[ix.rank + k - 1] < 0 || r.dims[k] < 0 || u.dims[ix.rank + k - 1] == r.dims[k];
    if (!ok) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "input %d must have shape indices.shape + var.shape[1:]: indices %s, var "
                      "%s, got %s", upd, deft_shape_format(ix, a, sizeof a),
                      deft_shape_format(r, b, sizeof b), deft_shape_format(u, d, sizeof d));
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, r);
}

static void scatter_shape(deft_shape_ctx *c) { scatter_shape_check(c, 0, 1, 2, true); }

/* ---- SparseApplyMomentum, SparseApplyAdagrad, SparseApplyRMSProp ---- */

#define DEFINE_SPARSE(T, SUF, SQRT)                                                             \
  static void sp_momentum_##SUF(const sparse_inputs *s, T lr, T momentum, bool nesterov) {     \
    T *var = s->w[0], *accum = s->w[1];                                                         \
    const T *g = (const T *)s->grad->buf->data;                                                 \
    for (int64_t i = 0; i < s->nidx; i++) {                                                     \
      int64_t o = deft_tensor_index_at(s->indices, i) * s->inner;                               \
      const T *gi = g + i * s->inner;                                                           \
      for (int64_t k = 0; k < s->inner; k++) {                                                  \
        accum[o + k] = accum[o + k] * momentum + gi[k];                                         \
        if (nesterov) var[o + k] -= gi[k] * lr + accum[o + k] * momentum * lr;                  \
        else var[o + k] -= accum[o + k] * lr;                                                   \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  static void sp_adagrad_##SUF(const sparse_inputs *s, T lr, bool update_slots) {              \
    T *var = s->w[0], *accum = s->w[1];                                                         \
    const T *g = (const T *)s->grad->buf->data;                                                 \
    for (int64_t i = 0; i < s->nidx; i++) {                                                     \
      int64_t o = deft_tensor_index_at(s->indices, i) * s->inner;                               \
      const T *gi = g + i * s->inner;                                                           \
      for (int64_t k = 0; k < s->inner; k++) {                                                  \
        if (update_slots) accum[o + k] += gi[k] * gi[k];                                        \
        var[o + k] -= lr * gi[k] * ((T)1 / SQRT(accum[o + k]));                                 \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  static void sp_rmsprop_##SUF(const sparse_inputs *s, T lr, T rho, T momentum, T epsilon) {   \
    T *var = s->w[0], *ms = s->w[1], *mom = s->w[2];                                            \
    const T *g = (const T *)s->grad->buf->data;                                                 \
    for (int64_t i = 0; i < s->nidx; i++) {                                                     \
      int64_t o = deft_tensor_index_at(s->indices, i) * s->inner;                               \
      const T *gi = g + i * s->inner;                                                           \
      for (int64_t k = 0; k < s->inner; k++) {                                                  \
        ms[o + k] = ms[o + k] * rho + gi[k] * gi[k] * ((T)1 - rho);                             \
        mom[o + k] = mom[o + k] * momentum + ((T)1 / SQRT(ms[o + k] + epsilon)) * lr * gi[k];   \
        var[o + k] -= mom[o + k];                                                               \
      }                                                                                         \
    }                                                                                           \
  }

DEFINE_SPARSE(float, f32, sqrtf)
DEFINE_SPARSE(double, f64, sqrt)

static double scalar_in(deft_kernel_ctx *c, int i) {
  const deft_tensor *t = deft_kernel_input(c, i);
  return t->dtype == DEFT_DOUBLE ? deft_tensor_f64(t)[0] : (double)deft_tensor_f32(t)[0];
}

typedef struct {
  bool flag; /* use_nesterov (Momentum) or update_slots (Adagrad) */
} sparse_flag_params;

static void flag_prepare(deft_prepare_ctx *p, const char *attr) {
  bool v = deft_prepare_attr_bool(p, attr);
  sparse_flag_params *fp = deft_prepare_params(p, sizeof *fp);
  if (fp) fp->flag = v;
}
static void nesterov_prepare(deft_prepare_ctx *p) { flag_prepare(p, "use_nesterov"); }
static void update_slots_prepare(deft_prepare_ctx *p) { flag_prepare(p, "update_slots"); }

/* var, accum, lr, grad, indices, momentum */
static void sp_momentum_kernel(deft_kernel_ctx *c) {
  bool nesterov = ((const sparse_flag_params *)deft_kernel_params(c))->flag;
  sparse_inputs s;
  if (!sparse_check(c, 2, 3, 4, false, true, &s)) return;
  if (s.dtype == DEFT_FLOAT)
    sp_momentum_f32(&s, (float)scalar_in(c, 2), (float)scalar_in(c, 5), nesterov);
  else
    sp_momentum_f64(&s, scalar_in(c, 2), scalar_in(c, 5), nesterov);
  output_var(c, s.vars[0]);
}

/* var, accum, lr, grad, indices */
static void sp_adagrad_kernel(deft_kernel_ctx *c) {
  bool update_slots = ((const sparse_flag_params *)deft_kernel_params(c))->flag;
  sparse_inputs s;
  if (!sparse_check(c, 2, 3, 4, false, true, &s)) return;
  if (s.dtype == DEFT_FLOAT) sp_adagrad_f32(&s, (float)scalar_in(c, 2), update_slots);
  else sp_adagrad_f64(&s, scalar_in(c, 2), update_slots);
  output_var(c, s.vars[0]);
}

/* var, ms, mom, lr, rho, momentum, epsilon, grad, indices */
static void sp_rmsprop_kernel(deft_kernel_ctx *c) {
  sparse_inputs s;
  if (!sparse_check(c, 3, 7, 8, false, true, &s)) return;
  if (s.dtype == DEFT_FLOAT)
    sp_rmsprop_f32(&s, (float)scalar_in(c, 3), (float)scalar_in(c, 4), (float)scalar_in(c, 5),
                   (float)scalar_in(c, 6));
  else
    sp_rmsprop_f64(&s, scalar_in(c, 3), scalar_in(c, 4), scalar_in(c, 5), scalar_in(c, 6));
  output_var(c, s.vars[0]);
}

/* Output = var's shape merged with the slots'; grad checked against indices and var; the other
 * inputs (but indices) scalars. */
static void sparse_apply_shape(deft_shape_ctx *c, int nrefs, int grad, int idx) {
  deft_shape out = deft_shape_ctx_var_shape(c, 0);
  for (int i = 1; i < nrefs; i++) {
    deft_shape s = deft_shape_ctx_var_shape(c, i);
    if (!deft_shape_merge_into(&out, s)) {
      char a[128], b[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "incompatible shapes: var has shape %s, but input %d has shape %s",
                      deft_shape_format(deft_shape_ctx_var_shape(c, 0), a, sizeof a), i,
                      deft_shape_format(s, b, sizeof b));
      return;
    }
  }
  int n = deft_shape_ctx_num_inputs(c);
  for (int i = nrefs; i < n; i++) {
    if (i == grad || i == idx) continue;
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank > 0) {
      char sh[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d must be a scalar, got shape %s", i,
                      deft_shape_format(s, sh, sizeof sh));
      return;
    }
  }
  deft_shape ix = deft_shape_ctx_input(c, idx);
  if (ix.rank > 1) {
    char sh[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "indices must be a vector, got shape %s",
                    deft_shape_format(ix, sh, sizeof sh));
    return;
  }
  scatter_shape_check(c, 0, idx, grad, false);
  if (deft_status_ok(c->status)) deft_shape_ctx_set_output(c, 0, out);
}

static void sp_momentum_shape(deft_shape_ctx *c) { sparse_apply_shape(c, 2, 3, 4); }
static void sp_rmsprop_shape(deft_shape_ctx *c) { sparse_apply_shape(c, 3, 7, 8); }

enum { NODIFF = DEFT_OP_NOT_DIFFERENTIABLE };

#define SCATTER_ATTRS(T, lock) \
  "T: " T ", Tindices: {int32, int64}, use_locking: bool = " lock

static const deft_op_def sparse_grad_defs[] = {
    {.type = "ScatterUpdate",
     .inputs = "ref: Ref(T), indices: Tindices, updates: T",
     .outputs = "output_ref: Ref(T)",
     .attrs = SCATTER_ATTRS("type", "true"),
     .flags = NODIFF,
     .shape = scatter_shape,
     .kernel = scatter_update_kernel},
    {.type = "ScatterAdd",
     .inputs = "ref: Ref(T), indices: Tindices, updates: T",
     .outputs = "output_ref: Ref(T)",
     .attrs = SCATTER_ATTRS("numbertype", "false"),
     .flags = NODIFF,
     .shape = scatter_shape,
     .kernel = scatter_add_kernel},
    {.type = "ScatterSub",
     .inputs = "ref: Ref(T), indices: Tindices, updates: T",
     .outputs = "output_ref: Ref(T)",
     .attrs = SCATTER_ATTRS("numbertype", "false"),
     .flags = NODIFF,
     .shape = scatter_shape,
     .kernel = scatter_sub_kernel},
    {.type = "SparseApplyMomentum",
     .inputs = "var: Ref(T), accum: Ref(T), lr: T, grad: T, indices: Tindices, momentum: T",
     .outputs = "out: Ref(T)",
     .attrs = SCATTER_ATTRS("numbertype", "false") ", use_nesterov: bool = false",
     .flags = NODIFF,
     .shape = sp_momentum_shape,
     .prepare = nesterov_prepare,
     .kernel = sp_momentum_kernel},
    {.type = "SparseApplyAdagrad",
     .inputs = "var: Ref(T), accum: Ref(T), lr: T, grad: T, indices: Tindices",
     .outputs = "out: Ref(T)",
     .attrs = SCATTER_ATTRS("numbertype", "false") ", update_slots: bool = true",
     .flags = NODIFF,
     .shape = sp_momentum_shape,
     .prepare = update_slots_prepare,
     .kernel = sp_adagrad_kernel},
    {.type = "SparseApplyRMSProp",
     .inputs = "var: Ref(T), ms: Ref(T), mom: Ref(T), lr: T, rho: T, momentum: T, epsilon: T, "
               "grad: T, indices: Tindices",
     .outputs = "out: Ref(T)",
     .attrs = SCATTER_ATTRS("numbertype", "false"),
     .flags = NODIFF,
     .shape = sp_rmsprop_shape,
     .kernel = sp_rmsprop_kernel},
    /* The resource-variable forms: the same kernels, the variables as handles, no output. */
    {.type = "ResourceSparseApplyMomentum",
     .inputs = "var: resource, accum: resource, lr: T, grad: T, indices: Tindices, momentum: T",
     .attrs = SCATTER_ATTRS("numbertype", "false") ", use_nesterov: bool = false",
     .flags = NODIFF | DEFT_OP_STATEFUL,
     .shape = sp_momentum_shape,
     .prepare = nesterov_prepare,
     .kernel = sp_momentum_kernel},
    {.type = "ResourceSparseApplyAdagrad",
     .inputs = "var: resource, accum: resource, lr: T, grad: T, indices: Tindices",
     .attrs = SCATTER_ATTRS("numbertype", "false") ", update_slots: bool = true",
     .flags = NODIFF | DEFT_OP_STATEFUL,
     .shape = sp_momentum_shape,
     .prepare = update_slots_prepare,
     .kernel = sp_adagrad_kernel},
    {.type = "ResourceSparseApplyRMSProp",
     .inputs = "var: resource, ms: resource, mom: resource, lr: T, rho: T, momentum: T, "
               "epsilon: T, grad: T, indices: Tindices",
     .attrs = SCATTER_ATTRS("numbertype", "false"),
     .flags = NODIFF | DEFT_OP_STATEFUL,
     .shape = sp_rmsprop_shape,
     .kernel = sp_rmsprop_kernel},
};

DEFT_FAMILY(deft_ops_sparse_grad, sparse_grad_defs);

/* ---- public constructors ---- */

static deft_output build_n(deft_graph *g, const char *type, const deft_output *in, int n,
                           const char *bool_attr, bool bool_value, const char *name) {
  deft_output none = {NULL, 0};
  if (!deft_inputs_ok(g, type, in, n)) return none;
  if ((int)deft_output_dtype(in[0]) == 20 /* DT_RESOURCE */ && !strncmp(type, "Scatter", 7)) {
    /* TF's resource scatter (state_ops.scatter_* on a ResourceVariable): ResourceScatter*
     * `name`, then the variable's value read under a control dependency on it */
    char rtype[64];
    snprintf(rtype, sizeof rtype, "Resource%s", type);
    deft_op_builder *b = deft_op_builder_new(g, rtype, name);
    for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
    deft_op *op = deft_op_builder_finish(b);
    if (!op) return none;
    deft_graph_push_control_deps(g, &op, 1);
    deft_output r = deft_read_variable_op(g, in[0], "ReadVariableOp");
    deft_graph_pop_control_deps(g);
    return r;
  }
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (bool_attr) deft_op_builder_set_attr_bool(b, bool_attr, bool_value);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : none;
}

deft_output deft_scatter_update(deft_graph *g, deft_output ref, deft_output indices,
                                deft_output updates, const char *name) {
  deft_output in[3] = {ref, indices, updates};
  return build_n(g, "ScatterUpdate", in, 3, NULL, false, name);
}

deft_output deft_scatter_add(deft_graph *g, deft_output ref, deft_output indices,
                             deft_output updates, const char *name) {
  deft_output in[3] = {ref, indices, updates};
  return build_n(g, "ScatterAdd", in, 3, NULL, false, name);
}

deft_output deft_scatter_sub(deft_graph *g, deft_output ref, deft_output indices,
                             deft_output updates, const char *name) {
  deft_output in[3] = {ref, indices, updates};
  return build_n(g, "ScatterSub", in, 3, NULL, false, name);
}

deft_output deft_sparse_apply_momentum(deft_graph *g, deft_output var, deft_output accum,
                                       deft_output lr, deft_output grad, deft_output indices,
                                       deft_output momentum, bool use_nesterov,
                                       const char *name) {
  deft_output in[6] = {var, accum, lr, grad, indices, momentum};
  return build_n(g, "SparseApplyMomentum", in, 6, "use_nesterov", use_nesterov, name);
}

deft_output deft_sparse_apply_adagrad(deft_graph *g, deft_output var, deft_output accum,
                                      deft_output lr, deft_output grad, deft_output indices,
                                      bool update_slots, const char *name) {
  deft_output in[5] = {var, accum, lr, grad, indices};
  return build_n(g, "SparseApplyAdagrad", in, 5, "update_slots", update_slots, name);
}

deft_output deft_sparse_apply_rmsprop(deft_graph *g, deft_output var, deft_output ms,
                                      deft_output mom, deft_output lr, deft_output rho,
                                      deft_output momentum, deft_output epsilon,
                                      deft_output grad, deft_output indices, const char *name) {
  deft_output in[9] = {var, ms, mom, lr, rho, momentum, epsilon, grad, indices};
  return build_n(g, "SparseApplyRMSProp", in, 9, NULL, false, name);
}

/* TF's _IndexedSlicesToTensor: unsorted_segment_sum(values, indices, dense_shape[0]). */
deft_output deft_indexed_slices_to_dense(deft_graph *g, deft_indexed_slices s, const char *name) {
  deft_output none = {NULL, 0};
  deft_output in[3] = {s.values, s.indices, s.dense_shape};
  if (!deft_inputs_ok(g, "indexed_slices_to_dense", in, 3)) return none;
  int32_t zero = 0, one = 1;
  deft_output first = deft_strided_slice(
      g, s.dense_shape, deft_const_int32_vector(g, &zero, 1, "strided_slice/stack"),
      deft_const_int32_vector(g, &one, 1, "strided_slice/stack_1"),
      deft_const_int32_vector(g, &one, 1, "strided_slice/stack_2"), 0, 0, 0, 0, 1,
      "strided_slice");
  return deft_unsorted_segment_sum(g, s.values, s.indices, first, name);
}
