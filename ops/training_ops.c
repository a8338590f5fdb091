/* SPDX-License-Identifier: Apache-2.0 */
/* ops/training_ops.c - the optimizer update ops (TF's training_ops): ApplyGradientDescent,
 * ApplyMomentum, ApplyAdagrad, ApplyRMSProp and ApplyAdam, with their public constructors
 * (declared in deft/training_ops.h).
 *
 * Each op takes the variable and its slot variables as references (inputs [0, nrefs)), scalar
 * hyperparameters and the gradient; it updates the references' storage in place and returns a
 * reference to the variable. Every input is validated before anything is written, so a failed
 * update changes nothing; storage shared with a fetched value or a live snapshot is copied first
 * (copy-on-write). The arithmetic is done in T, in the order TF's kernels use. */
#include <math.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/training_ops.h"
#include "ops/op_build.h"
#include "ops/math_internal.h"
#include "ops/op_def.h"
#include "ops/resource_var.h"
#include "base/tensor_internal.h"
#include "base/thread_pool.h"

/* ---- the update loops, for T = float and T = double ---- */

/* GD and Momentum (the ones that run every step) get SIMD clones; the storage they update is
 * never the gradient's (make_unique copied it if it was shared), hence restrict. */
#define DEFINE_UPDATES(T, SUF, SQRT)                                                            \
  DEFT_SIMD_CLONES static void gd_##SUF(int64_t n, T *restrict var, T alpha,                    \
                                        const T *restrict delta) {                              \
    for (int64_t i = 0; i < n; i++) var[i] -= delta[i] * alpha;                                 \
  }                                                                                             \
  DEFT_SIMD_CLONES static void momentum_##SUF(int64_t n, T *restrict var, T *restrict accum,    \
                                              T lr, const T *restrict grad, T momentum,         \
                                              bool nesterov) {                                  \
    for (int64_t i = 0; i < n; i++) {                                                           \
      accum[i] = accum[i] * momentum + grad[i];                                                 \
      if (nesterov) var[i] -= grad[i] * lr + accum[i] * momentum * lr;                          \
      else var[i] -= accum[i] * lr;                                                             \
    }                                                                                           \
  }                                                                                             \
  static void adagrad_##SUF(int64_t n, T *var, T *accum, T lr, const T *grad,                   \
                            bool update_slots) {                                                \
    for (int64_t i = 0; i < n; i++) {                                                           \
      if (update_slots) accum[i] += grad[i] * grad[i];                                          \
      var[i] -= grad[i] * lr * ((T)1 / SQRT(accum[i]));                                         \
    }                                                                                           \
  }                                                                                             \
  static void rmsprop_##SUF(int64_t n, T *var, T *ms, T *mom, T lr, T rho, T momentum,          \
                            T epsilon, const T *grad) {                                         \
    for (int64_t i = 0; i < n; i++) {                                                           \
      ms[i] += (grad[i] * grad[i] - ms[i]) * ((T)1 - rho);                                      \
      mom[i] = mom[i] * momentum + (grad[i] * lr) / SQRT(ms[i] + epsilon);                      \
      var[i] -= mom[i];                                                                         \
    }                                                                                           \
  }                                                                                             \
  static void adam_##SUF(int64_t n, T *var, T *m, T *v, T beta1_power, T beta2_power, T lr,     \
                         T beta1, T beta2, T epsilon, const T *grad, bool nesterov) {           \
    T alpha = lr * SQRT((T)1 - beta2_power) / ((T)1 - beta1_power);                             \
    for (int64_t i = 0; i < n; i++) {                                                           \
      T g = grad[i];                                                                            \
      m[i] += (g - m[i]) * ((T)1 - beta1);                                                      \
      v[i] += (g * g - v[i]) * ((T)1 - beta2);                                                  \
      if (nesterov) var[i] -= ((g * ((T)1 - beta1) + m[i] * beta1) * alpha) /                   \
                              (SQRT(v[i]) + epsilon);                                           \
      else var[i] -= (m[i] * alpha) / (SQRT(v[i]) + epsilon);                                   \
    }                                                                                           \
  }

DEFINE_UPDATES(float, f32, sqrtf)
DEFINE_UPDATES(double, f64, sqrt)

/* ---- validation shared by the kernels ---- */

#define MAX_APPLY_INPUTS 10

/* The checked inputs of an Apply op: the variables (made unique, ready to write) and every
 * input's data. */
typedef struct {
  deft_var *vars[3];
  void *w[3]; /* the variables' data */
  const void *in[MAX_APPLY_INPUTS];
  int64_t n;
  deft_dtype dtype;
} apply_inputs;

static const char *arg_name(deft_kernel_ctx *c, int i) { return deft_kernel_input_name(c, i); }

/* Checks the inputs of an Apply op whose inputs [0, nrefs) are variable references and whose
 * input `grad` is the gradient (the others are scalars), then makes the variables' storage
 * unique. Returns false after recording an error. */
static bool apply_check_inputs(deft_kernel_ctx *c, int nrefs, int grad, apply_inputs *a) {
  int n = deft_kernel_num_inputs(c);
  char s1[128], s2[128];
  for (int i = 0; i < nrefs; i++) {
    deft_var *v = deft_kernel_var_input(c, i); /* a ref, or a resource variable's handle */
    if (!v) return false;
    if (!v->initialized || !deft_tensor_is_set(&v->value)) {
      deft_kernel_fail(c, DEFT_FAILED_PRECONDITION,
                       "attempting to use uninitialized value %s (input %d, %s)",
                       deft_op_name(v->op), i, arg_name(c, i));
      return false;
    }
    a->vars[i] = v;
  }
  const deft_tensor *var = &a->vars[0]->value;
  a->dtype = var->dtype;
  a->n = var->n;
  if (a->dtype != DEFT_FLOAT && a->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED,
                     "deft updates only float and double variables; '%s' is %s",
                     deft_op_name(a->vars[0]->op), deft_dtype_name(a->dtype));
    return false;
  }
  for (int i = 0; i < n; i++) {
    const deft_tensor *t = i < nrefs ? &a->vars[i]->value : deft_kernel_input(c, i);
    if (t->dtype != a->dtype) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) is %s, but var '%s' is %s", i,
                       arg_name(c, i), deft_dtype_name(t->dtype), deft_op_name(a->vars[0]->op),
                       deft_dtype_name(a->dtype));
      return false;
    }
    bool full = i < nrefs || i == grad;
    bool ok;
    if (full) {
      ok = t->rank == var->rank;
      for (int k = 0; ok && k < t->rank; k++) ok = t->dims[k] == var->dims[k];
    } else {
      ok = t->rank == 0;
    }
    if (!ok && full) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "var '%s' has shape %s, but %s%s%s has shape %s (they must match)",
                       deft_op_name(a->vars[0]->op),
                       deft_shape_format(deft_tensor_shape(var), s1, sizeof s1), arg_name(c, i),
                       i < nrefs ? " " : "", i < nrefs ? deft_op_name(a->vars[i]->op) : "",
                       deft_shape_format(deft_tensor_shape(t), s2, sizeof s2));
      return false;
    }
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a scalar, got shape %s",
                       arg_name(c, i), deft_shape_format(deft_tensor_shape(t), s1, sizeof s1));
      return false;
    }
  }
  /* Everything is valid: now take the variables' storage for writing. */
  for (int i = 0; i < nrefs; i++) {
    if (!deft_tensor_make_unique(&a->vars[i]->value, NULL)) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying '%s' for its update",
                       deft_op_name(a->vars[i]->op));
      return false;
    }
    a->w[i] = a->vars[i]->value.buf->data;
  }
  for (int i = 0; i < n && i < MAX_APPLY_INPUTS; i++)
    a->in[i] = i < nrefs ? a->w[i] : deft_kernel_input(c, i)->buf->data;
  return true;
}

/* The Apply* forms return a ref to the variable; the ResourceApply* forms have no output. */
static void output_var(deft_kernel_ctx *c, deft_var *v) {
  if (deft_kernel_num_outputs(c) > 0) deft_kernel_output_ref(c, 0, v);
}

/* Scalar input i as T. */
#define SCALAR_F32(a, i) (((const float *)(a).in[i])[0])
#define SCALAR_F64(a, i) (((const double *)(a).in[i])[0])

/* ---- kernels ---- */

/* Elements per range below which splitting an update does not pay. The update is memory bound;
 * what a split buys is mostly locality: split in the same contiguous ranges as the MatMul that
 * computed the gradient (ops/math_kernels.c, ops/matmul_sparse.c; the pool gives the first
 * ranges to the calling thread, base/thread_pool.c), a [K, N] weight's rows are updated on the
 * core whose cache holds their gradient, instead of one core pulling the other's half of it. */
#define GD_GRAIN 16384

typedef struct gd_job {
  const apply_inputs *a;
} gd_job;

static void gd_range(void *arg, int64_t b, int64_t e) {
  const apply_inputs *a = ((const gd_job *)arg)->a;
  if (a->dtype == DEFT_FLOAT)
    gd_f32(e - b, (float *)a->w[0] + b, SCALAR_F32(*a, 1), (const float *)a->in[2] + b);
  else gd_f64(e - b, (double *)a->w[0] + b, SCALAR_F64(*a, 1), (const double *)a->in[2] + b);
}

static void gd_kernel(deft_kernel_ctx *c) {
  apply_inputs a;
  if (!apply_check_inputs(c, 1, 2, &a)) return;
  gd_job j = {&a};
  deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), a.n, GD_GRAIN, gd_range,
                    &j);
  output_var(c, a.vars[0]);
}

/* The parameter block of ApplyMomentum and ApplyAdam (use_nesterov) and ApplyAdagrad
 * (update_slots): the one bool attr each compute step reads. */
typedef struct {
  bool flag;
} flag_params;

static void flag_prepare(deft_prepare_ctx *p, const char *attr) {
  bool v = deft_prepare_attr_bool(p, attr);
  flag_params *fp = deft_prepare_params(p, sizeof *fp);
  if (fp) fp->flag = v;
}
static void nesterov_prepare(deft_prepare_ctx *p) { flag_prepare(p, "use_nesterov"); }
static void update_slots_prepare(deft_prepare_ctx *p) { flag_prepare(p, "update_slots"); }
static bool kernel_flag(deft_kernel_ctx *c) {
  return ((const flag_params *)deft_kernel_params(c))->flag;
}

static void momentum_kernel(deft_kernel_ctx *c) {
  apply_inputs a;
  bool nesterov = kernel_flag(c);
  if (!apply_check_inputs(c, 2, 3, &a)) return;
  if (a.dtype == DEFT_FLOAT)
    momentum_f32(a.n, a.w[0], a.w[1], SCALAR_F32(a, 2), a.in[3], SCALAR_F32(a, 4), nesterov);
  else
    momentum_f64(a.n, a.w[0], a.w[1], SCALAR_F64(a, 2), a.in[3], SCALAR_F64(a, 4), nesterov);
  output_var(c, a.vars[0]);
}

static void adagrad_kernel(deft_kernel_ctx *c) {
  apply_inputs a;
  bool update_slots = kernel_flag(c);
  if (!apply_check_inputs(c, 2, 3, &a)) return;
  if (a.dtype == DEFT_FLOAT)
    adagrad_f32(a.n, a.w[0], a.w[1], SCALAR_F32(a, 2), a.in[3], update_slots);
  else
    adagrad_f64(a.n, a.w[0], a.w[1], SCALAR_F64(a, 2), a.in[3], update_slots);
  output_var(c, a.vars[0]);
}

static void rmsprop_kernel(deft_kernel_ctx *c) {
  apply_inputs a;
  if (!apply_check_inputs(c, 3, 7, &a)) return;
  if (a.dtype == DEFT_FLOAT)
    rmsprop_f32(a.n, a.w[0], a.w[1], a.w[2], SCALAR_F32(a, 3), SCALAR_F32(a, 4),
                SCALAR_F32(a, 5), SCALAR_F32(a, 6), a.in[7]);
  else
    rmsprop_f64(a.n, a.w[0], a.w[1], a.w[2], SCALAR_F64(a, 3), SCALAR_F64(a, 4),
                SCALAR_F64(a, 5), SCALAR_F64(a, 6), a.in[7]);
  output_var(c, a.vars[0]);
}

static void adam_kernel(deft_kernel_ctx *c) {
  apply_inputs a;
  bool nesterov = kernel_flag(c);
  if (!apply_check_inputs(c, 3, 9, &a)) return;
  if (a.dtype == DEFT_FLOAT)
    adam_f32(a.n, a.w[0], a.w[1], a.w[2], SCALAR_F32(a, 3), SCALAR_F32(a, 4), SCALAR_F32(a, 5),
             SCALAR_F32(a, 6), SCALAR_F32(a, 7), SCALAR_F32(a, 8), a.in[9], nesterov);
  else
    adam_f64(a.n, a.w[0], a.w[1], a.w[2], SCALAR_F64(a, 3), SCALAR_F64(a, 4), SCALAR_F64(a, 5),
             SCALAR_F64(a, 6), SCALAR_F64(a, 7), SCALAR_F64(a, 8), a.in[9], nesterov);
  output_var(c, a.vars[0]);
}

/* ---- shape functions ---- */

/* Output = var's shape, merged with the slots' and grad's (all must be compatible); every other
 * input must be a scalar. For the ResourceApply* forms the variables' shapes are the handles'
 * declared shapes (deft_shape_ctx_var_shape), and there is no output. */
static void apply_shape(deft_shape_ctx *c, int nrefs, int grad) {
  int n = deft_shape_ctx_num_inputs(c);
  deft_shape out = deft_shape_ctx_var_shape(c, 0);
  for (int i = 1; i < n; i++) {
    if ((i < nrefs || i == grad) && !deft_shape_ctx_input_is_resource(c, 0)) {
      deft_shape m = deft_shape_merge(c, 0, i); /* names both producers */
      if (!deft_status_ok(c->status)) return;
      if (out.rank < 0) out = m;
      for (int k = 0; m.rank >= 0 && k < out.rank; k++)
        if (out.dims[k] < 0) out.dims[k] = m.dims[k];
      continue;
    }
    if (i < nrefs || i == grad) {
      deft_shape s = deft_shape_ctx_var_shape(c, i);
      if (!deft_shape_merge_into(&out, s)) {
        char a[128], b[128];
        const deft_op_reg *reg = deft_registry_lookup(deft_op_type(c->op));
        const char *name = reg && i < reg->ninputs ? reg->inputs[i].name : "?";
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                        "incompatible shapes: var has shape %s, but input %d (%s) has shape %s",
                        deft_shape_format(deft_shape_ctx_var_shape(c, 0), a, sizeof a), i, name,
                        deft_shape_format(s, b, sizeof b));
        return;
      }
      continue;
    }
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank > 0) {
      char sh[128];
      const deft_op_reg *reg = deft_registry_lookup(deft_op_type(c->op));
      const char *name = reg && i < reg->ninputs ? reg->inputs[i].name : "?";
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be a scalar, got shape %s", i,
                      name, deft_shape_format(s, sh, sizeof sh));
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, out);
}

static void gd_shape(deft_shape_ctx *c) { apply_shape(c, 1, 2); }
static void momentum_shape(deft_shape_ctx *c) { apply_shape(c, 2, 3); }
static void rmsprop_shape(deft_shape_ctx *c) { apply_shape(c, 3, 7); }
static void adam_shape(deft_shape_ctx *c) { apply_shape(c, 3, 9); }

/* ---- the table ---- */

static const deft_op_def training_defs[] = {
    {.type = "ApplyGradientDescent",
     .inputs = "var: Ref(T), alpha: T, delta: T",
     .outputs = "out: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = gd_shape,
     .kernel = gd_kernel},
    {.type = "ApplyMomentum",
     .inputs = "var: Ref(T), accum: Ref(T), lr: T, grad: T, momentum: T",
     .outputs = "out: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false, use_nesterov: bool = false",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = momentum_shape,
     .prepare = nesterov_prepare,
     .kernel = momentum_kernel},
    {.type = "ApplyAdagrad",
     .inputs = "var: Ref(T), accum: Ref(T), lr: T, grad: T",
     .outputs = "out: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false, update_slots: bool = true",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = momentum_shape,
     .prepare = update_slots_prepare,
     .kernel = adagrad_kernel},
    {.type = "ApplyRMSProp",
     .inputs = "var: Ref(T), ms: Ref(T), mom: Ref(T), lr: T, rho: T, momentum: T, epsilon: T, "
               "grad: T",
     .outputs = "out: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = rmsprop_shape,
     .kernel = rmsprop_kernel},
    {.type = "ApplyAdam",
     .inputs = "var: Ref(T), m: Ref(T), v: Ref(T), beta1_power: T, beta2_power: T, lr: T, "
               "beta1: T, beta2: T, epsilon: T, grad: T",
     .outputs = "out: Ref(T)",
     .attrs = "T: numbertype, use_locking: bool = false, use_nesterov: bool = false",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = adam_shape,
     .prepare = nesterov_prepare,
     .kernel = adam_kernel},
    /* The resource-variable forms: the same kernels, the variables as handles, no output. */
    {.type = "ResourceApplyGradientDescent",
     .inputs = "var: resource, alpha: T, delta: T",
     .attrs = "T: numbertype, use_locking: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = gd_shape,
     .kernel = gd_kernel},
    {.type = "ResourceApplyMomentum",
     .inputs = "var: resource, accum: resource, lr: T, grad: T, momentum: T",
     .attrs = "T: numbertype, use_locking: bool = false, use_nesterov: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = momentum_shape,
     .prepare = nesterov_prepare,
     .kernel = momentum_kernel},
    {.type = "ResourceApplyAdagrad",
     .inputs = "var: resource, accum: resource, lr: T, grad: T",
     .attrs = "T: numbertype, use_locking: bool = false, update_slots: bool = true",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = momentum_shape,
     .prepare = update_slots_prepare,
     .kernel = adagrad_kernel},
    {.type = "ResourceApplyRMSProp",
     .inputs = "var: resource, ms: resource, mom: resource, lr: T, rho: T, momentum: T, "
               "epsilon: T, grad: T",
     .attrs = "T: numbertype, use_locking: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = rmsprop_shape,
     .kernel = rmsprop_kernel},
    {.type = "ResourceApplyAdam",
     .inputs = "var: resource, m: resource, v: resource, beta1_power: T, beta2_power: T, lr: T, "
               "beta1: T, beta2: T, epsilon: T, grad: T",
     .attrs = "T: numbertype, use_locking: bool = false, use_nesterov: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = adam_shape,
     .prepare = nesterov_prepare,
     .kernel = adam_kernel},
};

DEFT_FAMILY(deft_ops_training, training_defs);

/* ---- public constructors ---- */

/* Builds `type` from inputs in[0..n) with an optional bool attr. The signature accepts TF's
 * numbertype (so imported graphs load), but deft builds and runs float and double only. */
static deft_output build_apply(deft_graph *g, const char *type, const deft_output *in, int n,
                               const char *bool_attr, bool bool_value, const char *name) {
  deft_output none = {NULL, 0};
  if (!deft_inputs_ok(g, type, in, n)) return none;
  deft_dtype t = deft_output_dtype(in[0]);
  if (t != DEFT_FLOAT && t != DEFT_DOUBLE) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s '%s': deft updates only float and double variables; '%s' is %s", type,
                    name ? name : type, deft_op_name(in[0].op), deft_dtype_name(t));
    return none;
  }
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (bool_attr) deft_op_builder_set_attr_bool(b, bool_attr, bool_value);
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none;
  deft_output o = {op, 0};
  return o;
}

deft_output deft_apply_gradient_descent(deft_graph *g, deft_output var, deft_output alpha,
                                        deft_output delta, const char *name) {
  deft_output in[3] = {var, alpha, delta};
  return build_apply(g, "ApplyGradientDescent", in, 3, NULL, false, name);
}

deft_output deft_apply_momentum(deft_graph *g, deft_output var, deft_output accum,
                                deft_output lr, deft_output grad, deft_output momentum,
                                bool use_nesterov, const char *name) {
  deft_output in[5] = {var, accum, lr, grad, momentum};
  return build_apply(g, "ApplyMomentum", in, 5, "use_nesterov", use_nesterov, name);
}

deft_output deft_apply_adagrad(deft_graph *g, deft_output var, deft_output accum, deft_output lr,
                               deft_output grad, bool update_slots, const char *name) {
  deft_output in[4] = {var, accum, lr, grad};
  return build_apply(g, "ApplyAdagrad", in, 4, "update_slots", update_slots, name);
}

deft_output deft_apply_rmsprop(deft_graph *g, deft_output var, deft_output ms, deft_output mom,
                               deft_output lr, deft_output rho, deft_output momentum,
                               deft_output epsilon, deft_output grad, const char *name) {
  deft_output in[8] = {var, ms, mom, lr, rho, momentum, epsilon, grad};
  return build_apply(g, "ApplyRMSProp", in, 8, NULL, false, name);
}

deft_output deft_apply_adam(deft_graph *g, deft_output var, deft_output m, deft_output v,
                            deft_output beta1_power, deft_output beta2_power, deft_output lr,
                            deft_output beta1, deft_output beta2, deft_output epsilon,
                            deft_output grad, bool use_nesterov, const char *name) {
  deft_output in[10] = {var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad};
  return build_apply(g, "ApplyAdam", in, 10, "use_nesterov", use_nesterov, name);
}
