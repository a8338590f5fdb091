/* SPDX-License-Identifier: Apache-2.0 */
/* graph/optimizers.c - tf.train optimizers as graph building (training/optimizer.py and its
 * subclasses): compute_gradients over deft_gradients, slot variables, one Apply* op per variable
 * under "<Name>/update_<var>/", and the final op TF adds to TRAIN_OP.
 *
 * What apply_gradients builds, in TF's order:
 *   1. slots, outside any control-dependency scope (TF's init_scope): "<var>/<Name>" [+ "_1"],
 *      plus Adam's "beta1_power" / "beta2_power" (current name scope, created first);
 *   2. name scope <Name> (made unique): the hyperparameter Consts "<Name>/learning_rate",
 *      "<Name>/momentum", "<Name>/beta1", ... (TF's _prepare);
 *   3. per variable with a gradient, "<Name>/update_<var>/Apply*" on the VariableV2 ref, with
 *      Casts of the hyperparameters when the variable is not float32 (TF's math_ops.cast); a
 *      sparse gradient (IndexedSlices) gets TF's _apply_sparse instead: GradientDescent
 *      ScatterSub(var, indices, values * lr); the others first sum duplicate indices (Unique +
 *      UnsortedSegmentSum, TF's _deduplicate_indexed_slices), then SparseApplyMomentum /
 *      SparseApplyAdagrad / SparseApplyRMSProp, or Adam's Assign + ScatterAdd on its slots and
 *      AssignSub on the variable;
 *   Resource variables (deft_graph_set_resource_variables) get the ResourceApply* /
 *   ResourceSparseApply* forms, and the Assign / Scatter ops' resource forms (AssignVariableOp,
 *   ResourceScatterAdd/Sub, ... each followed by a ReadVariableOp, as TF's ResourceVariable);
 *   4. the final op: a NoOp named <Name> (Adam first assigns beta powers * betas under control
 *      dependencies on the updates); with a global step the NoOp is "<Name>/update" and <Name> is
 *      AssignAdd(global_step, "<Name>/value") built under a control dependency on it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/dist.h"
#include "deft/ops.h"
#include "deft/train.h"
#include "deft/training_ops.h"
#include "graph/graph_internal.h"
#include "base/alloc.h"

typedef enum opt_kind { OPT_GD = 0, OPT_MOMENTUM, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM } opt_kind;

typedef struct slot_entry {
  deft_op *var;
  deft_op *slot[2];
} slot_entry;

struct deft_optimizer {
  deft_graph *g;
  opt_kind kind;
  float lr;
  /* Momentum: momentum | Adagrad: initial_accumulator_value | RMSProp: decay, momentum, epsilon
   * | Adam: beta1, beta2, epsilon */
  float h[3];
  bool nesterov;
  deft_output lr_tensor; /* replaces the learning_rate Const when set */
  slot_entry *slots;
  int nslots, slots_cap;
  deft_op *beta1_power, *beta2_power;
  bool distributed;     /* deft_optimizer_set_distributed */
  int64_t fusion_bytes;
};

typedef struct kind_info {
  const char *name;  /* optimizer (scope and slot) name */
  const char *apply; /* Apply* op type */
  int nslots;
  const char *hyper[3]; /* Const names after learning_rate, TF's _prepare order */
} kind_info;

static const kind_info kinds[] = {
    [OPT_GD] = {"GradientDescent", "ApplyGradientDescent", 0, {NULL}},
    [OPT_MOMENTUM] = {"Momentum", "ApplyMomentum", 1, {"momentum"}},
    [OPT_ADAGRAD] = {"Adagrad", "ApplyAdagrad", 1, {NULL}},
    [OPT_RMSPROP] = {"RMSProp", "ApplyRMSProp", 2, {"decay", "momentum", "epsilon"}},
    [OPT_ADAM] = {"Adam", "ApplyAdam", 2, {"beta1", "beta2", "epsilon"}},
};

static bool is_float(deft_dtype t) { return t == DEFT_FLOAT || t == DEFT_DOUBLE; }

/* A variable's value dtype and shape: its ref output's, or a resource variable's declared
 * attrs (its output is the handle). */
static deft_dtype var_dtype(deft_op *v) {
  deft_dtype t = deft_output_dtype(deft_op_output(v, 0));
  if (deft_variable_is_resource(v)) deft_op_attr_type(v, "dtype", &t);
  return t;
}

static deft_shape var_shape(deft_op *v) {
  deft_shape s = deft_output_shape(deft_op_output(v, 0));
  if (deft_variable_is_resource(v) && !deft_op_attr_shape(v, "shape", &s)) s = deft_shape_unknown();
  return s;
}

/* The op type updating var: `type`, or "Resource<type>" for a resource variable (buf holds it). */
static const char *update_type(deft_op *var, const char *type, char *buf, size_t size) {
  if (!deft_variable_is_resource(var)) return type;
  snprintf(buf, size, "Resource%s", type);
  return buf;
}

/* Builds `type` from in[0..n) with an optional bool attr; returns the op (NULL: sticky error). */
static deft_op *build_typed(deft_graph *g, const char *type, const deft_output *in, int n,
                            const char *bool_attr, bool bool_value, const char *name) {
  if (!deft_inputs_ok(g, type, in, n)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (bool_attr) deft_op_builder_set_attr_bool(b, bool_attr, bool_value);
  return deft_op_builder_finish(b);
}

/* ---- constructors ---- */

/* Checks that v is finite and within [lo, hi] (hi_open: [lo, hi)); records the error. */
static bool check_range(deft_graph *g, const char *opt, const char *what, float v, double lo,
                        double hi, bool lo_open, bool hi_open) {
  bool ok = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    char range[96];
    if (isinf(hi))
      snprintf(range, sizeof range, "%s %g", lo_open ? ">" : ">=", lo);
    else
      snprintf(range, sizeof range, "in %c%g, %g%c", lo_open ? '(' : '[', lo, hi,
               hi_open ? ')' : ']');
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s optimizer: %s must be %s, got %g", opt, what,
                    range, (double)v);
  }
  return ok;
}

static deft_optimizer *opt_new(deft_graph *g, opt_kind kind, float lr, float h0, float h1,
                               float h2) {
  if (!g || !deft_graph_ok(g)) return NULL;
  if (!check_range(g, kinds[kind].name, "learning_rate", lr, 0, INFINITY, false, false))
    return NULL;
  deft_optimizer *o = deft_calloc(1, sizeof *o);
  if (!o) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating the %s optimizer",
                    kinds[kind].name);
    return NULL;
  }
  o->g = g;
  o->kind = kind;
  o->lr = lr;
  o->h[0] = h0;
  o->h[1] = h1;
  o->h[2] = h2;
  return o;
}

deft_optimizer *deft_optimizer_gradient_descent(deft_graph *g, float learning_rate) {
  return opt_new(g, OPT_GD, learning_rate, 0, 0, 0);
}

deft_optimizer *deft_optimizer_momentum(deft_graph *g, float learning_rate, float momentum,
                                        bool use_nesterov) {
  if (g && deft_graph_ok(g) &&
      !check_range(g, "Momentum", "momentum", momentum, 0, INFINITY, false, false))
    return NULL;
  deft_optimizer *o = opt_new(g, OPT_MOMENTUM, learning_rate, momentum, 0, 0);
  if (o) o->nesterov = use_nesterov;
  return o;
}

deft_optimizer *deft_optimizer_adagrad(deft_graph *g, float learning_rate,
                                       float initial_accumulator_value) {
  if (g && deft_graph_ok(g) &&
      !check_range(g, "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0,
                   INFINITY, true, false))
    return NULL;
  return opt_new(g, OPT_ADAGRAD, learning_rate, initial_accumulator_value, 0, 0);
}

deft_optimizer *deft_optimizer_rmsprop(deft_graph *g, float learning_rate, float decay,
                                       float momentum, float epsilon) {
  if (g && deft_graph_ok(g) &&
      (!check_range(g, "RMSProp", "decay", decay, 0, 1, false, false) ||
       !check_range(g, "RMSProp", "momentum", momentum, 0, INFINITY, false, false) ||
       !check_range(g, "RMSProp", "epsilon", epsilon, 0, INFINITY, false, false)))
    return NULL;
  return opt_new(g, OPT_RMSPROP, learning_rate, decay, momentum, epsilon);
}

deft_optimizer *deft_optimizer_adam(deft_graph *g, float learning_rate, float beta1, float beta2,
                                    float epsilon) {
  if (g && deft_graph_ok(g) &&
      (!check_range(g, "Adam", "beta1", beta1, 0, 1, false, true) ||
       !check_range(g, "Adam", "beta2", beta2, 0, 1, false, true) ||
       !check_range(g, "Adam", "epsilon", epsilon, 0, INFINITY, false, false)))
    return NULL;
  return opt_new(g, OPT_ADAM, learning_rate, beta1, beta2, epsilon);
}

void deft_optimizer_set_learning_rate_tensor(deft_optimizer *opt, deft_output lr) {
  if (!opt || !deft_inputs_ok(opt->g, "set_learning_rate_tensor", &lr, 1)) return;
  if (!is_float(deft_output_dtype(lr)) || deft_output_shape(lr).rank > 0) {
    char s[64];
    deft_graph_fail(opt->g, DEFT_INVALID_ARGUMENT,
                    "%s optimizer: the learning-rate tensor '%s:%d' must be a float or double "
                    "scalar, got %s %s", kinds[opt->kind].name, lr.op->name, lr.index,
                    deft_dtype_name(deft_output_dtype(lr)),
                    deft_shape_format(deft_output_shape(lr), s, sizeof s));
    return;
  }
  opt->lr_tensor = lr;
}

void deft_optimizer_set_distributed(deft_optimizer *opt, int64_t fusion_bytes) {
  if (!opt) return;
  opt->distributed = true;
  opt->fusion_bytes = fusion_bytes;
}

void deft_optimizer_free(deft_optimizer *opt) {
  if (!opt) return;
  deft_free(opt->slots);
  deft_free(opt);
}

/* ---- variables created by optimizers (slots, beta powers, the global step) ---- */

/* Creates the variable with the exact full name `full`, non-trainable, whose initial value is
 * init's ops under "<full>/Initializer/" (TF's get_variable, for slots) or, when init is NULL, a
 * Const `value` named "<full>/initial_value" (TF's tf.Variable, for Adam's beta powers).
 * Control-dependency scopes are suspended meanwhile, as TF's init_scope does, so initializers
 * never wait for training-time ops. */
static deft_op *new_var_exact(deft_graph *g, const char *full, deft_dtype dtype, deft_shape shape,
                              const deft_initializer *init, double value) {
  if (!deft_graph_ok(g)) return NULL;
  if (!deft_shape_is_fully_defined(shape)) {
    char s[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "cannot create variable '%s': its shape %s is not fully defined", full,
                    deft_shape_format(shape, s, sizeof s));
    return NULL;
  }
  char scope[1100];
  if ((size_t)snprintf(scope, sizeof scope, init ? "%s/Initializer/" : "%s/", full) >=
      sizeof scope) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "variable name '%s' is too long", full);
    return NULL;
  }
  int saved_ctrl = g->nctrl_scopes;
  g->nctrl_scopes = 0; /* nothing below pushes a control scope */
  deft_op *var = NULL;
  if (deft_graph_push_scope(g, scope)) {
    deft_output iv = init ? deft_initializer_build(g, *init, dtype, shape)
                          : deft_const_fill(g, dtype, shape, value, "initial_value");
    deft_graph_pop_scope(g);
    if (iv.op) var = deft_variable_new_exact(g, full, iv, false);
  }
  g->nctrl_scopes = saved_ctrl;
  return var;
}

/* `base` joined to `prefix` (a scope, may be "") and made unique among op names; NULL after
 * recording an error. */
static const char *unique_in(deft_graph *g, const char *prefix, const char *base) {
  char joined[1100];
  if ((size_t)snprintf(joined, sizeof joined, "%s%s%s", prefix, *prefix ? "/" : "", base) >=
      sizeof joined) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "variable name '%s' is too long", base);
    return NULL;
  }
  const char *full = deft_graph_uniquify(g, joined, false);
  if (!full) deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory naming '%s'", base);
  return full;
}

/* Adam's beta1_power / beta2_power: float32 scalars named in the current name scope. */
static deft_op *new_beta_power(deft_graph *g, const char *base, float value) {
  const char *full = unique_in(g, deft_graph_scope(g), base);
  return full ? new_var_exact(g, full, DEFT_FLOAT, DEFT_SCALAR, NULL, value) : NULL;
}

/* A slot "<variable scope>/<var>/<Name>" (made unique: "_1", ...), as slot_creator names it. */
static deft_op *new_slot(deft_graph *g, deft_op *var, const char *opt_name,
                         deft_initializer init) {
  char base[1100];
  snprintf(base, sizeof base, "%s/%s", var->name, opt_name);
  const char *full = unique_in(g, deft_graph_variable_scope(g), base);
  return full ? new_var_exact(g, full, var_dtype(var), var_shape(var), &init, 0) : NULL;
}

static slot_entry *find_slots(deft_optimizer *o, const deft_op *var) {
  for (int i = 0; i < o->nslots; i++)
    if (o->slots[i].var == var) return &o->slots[i];
  return NULL;
}

/* TF's _create_slots for the variables that have gradients, in var_list order. */
static bool create_slots(deft_optimizer *o, const deft_grad_and_var *gv, int n) {
  deft_graph *g = o->g;
  const kind_info *k = &kinds[o->kind];
  if (o->kind == OPT_ADAM && !o->beta1_power) {
    o->beta1_power = new_beta_power(g, "beta1_power", o->h[0]);
    o->beta2_power = new_beta_power(g, "beta2_power", o->h[1]);
    if (!o->beta1_power || !o->beta2_power) return false;
  }
  if (k->nslots == 0) return true;
  for (int i = 0; i < n; i++) {
    if (!gv[i].grad.op || find_slots(o, gv[i].var)) continue;
    if (o->nslots == o->slots_cap) {
      int ncap = o->slots_cap ? o->slots_cap * 2 : 8;
      slot_entry *ns = deft_realloc(o->slots, sizeof *ns * (size_t)ncap);
      if (!ns) {
        deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating slots");
        return false;
      }
      o->slots = ns;
      o->slots_cap = ncap;
    }
    /* Momentum: zeros; Adagrad: initial_accumulator_value; RMSProp: ones (rms), zeros
     * (momentum); Adam: zeros (m), zeros (v). */
    deft_initializer first = deft_init_zeros();
    if (o->kind == OPT_ADAGRAD) first = deft_init_constant(o->h[0]);
    if (o->kind == OPT_RMSPROP) first = deft_init_ones();
    slot_entry e = {gv[i].var, {NULL, NULL}};
    e.slot[0] = new_slot(g, gv[i].var, k->name, first);
    if (e.slot[0] && k->nslots > 1) e.slot[1] = new_slot(g, gv[i].var, k->name, deft_init_zeros());
    if (!e.slot[0] || (k->nslots > 1 && !e.slot[1])) return false;
    o->slots[o->nslots++] = e;
  }
  return true;
}

/* ---- compute_gradients ---- */

/* Fills vars (allocated, caller frees) from var_list or TRAINABLE_VARIABLES; returns the count or
 * -1 after recording an error. */
static int gather_vars(deft_optimizer *o, deft_op *const *var_list, int nvars, deft_op ***out) {
  deft_graph *g = o->g;
  const char *name = kinds[o->kind].name;
  *out = NULL;
  int n = nvars;
  deft_output *items = NULL;
  if (!var_list) {
    n = deft_graph_get_collection(g, DEFT_TRAINABLE_VARIABLES, NULL, NULL, 0, NULL);
    if (n > 0) {
      items = deft_malloc(sizeof *items * (size_t)n);
      if (!items) goto oom;
      deft_graph_get_collection(g, DEFT_TRAINABLE_VARIABLES, NULL, items, n, NULL);
    }
  }
  if (n <= 0) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s compute_gradients: no variables to optimize%s",
                    name, var_list ? " (var_list is empty)" : " (TRAINABLE_VARIABLES is empty)");
    deft_free(items);
    return -1;
  }
  deft_op **vars = deft_malloc(sizeof *vars * (size_t)n);
  if (!vars) goto oom;
  for (int i = 0; i < n; i++) {
    deft_op *v = var_list ? var_list[i] : items[i].op;
    if (!deft_op_is_variable(v)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s compute_gradients: var_list[%d] ('%s', op type %s) is not a variable",
                      name, i, v ? deft_op_name(v) : "(null)", v ? deft_op_type(v) : "none");
      deft_free(vars);
      deft_free(items);
      return -1;
    }
    vars[i] = v;
  }
  deft_free(items);
  *out = vars;
  return n;
oom:
  deft_free(items);
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in compute_gradients");
  return -1;
}

int deft_optimizer_compute_gradients(deft_optimizer *opt, deft_output loss,
                                     deft_op *const *var_list, int nvars,
                                     deft_grad_and_var *out, int max) {
  if (!opt) return -1;
  deft_graph *g = opt->g;
  const char *name = kinds[opt->kind].name;
  if (!deft_inputs_ok(g, "compute_gradients (loss)", &loss, 1)) return -1;
  if (!is_float(deft_output_dtype(loss))) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s compute_gradients: the loss '%s:%d' has dtype %s; expected float or "
                    "double", name, loss.op->name, loss.index,
                    deft_dtype_name(deft_output_dtype(loss)));
    return -1;
  }
  if (nvars < 0 || max < 0 || (max > 0 && !out)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s compute_gradients: bad arguments (nvars %d, max %d, out %s)", name, nvars,
                    max, out ? "set" : "NULL");
    return -1;
  }
  deft_op **vars = NULL;
  int n = gather_vars(opt, var_list, nvars, &vars);
  if (n < 0) return -1;
  deft_output *xs = deft_malloc(sizeof *xs * (size_t)n);
  deft_indexed_slices *dx = deft_malloc(sizeof *dx * (size_t)n);
  int *slot = deft_malloc(sizeof *slot * (size_t)n);
  int result = -1;
  if (!xs || !dx || !slot) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in compute_gradients");
    goto done;
  }
  /* Non-float variables (an int counter in var_list) get no gradient, as in TF. */
  int nx = 0;
  for (int i = 0; i < n; i++) {
    deft_output ref = {vars[i], 0};
    slot[i] = -1;
    if (is_float(var_dtype(vars[i]))) {
      slot[i] = nx;
      xs[nx++] = ref;
    }
  }
  if (nx > 0 && !deft_gradients_sparse(g, &loss, 1, xs, nx, NULL, dx)) goto done;
  for (int i = 0; i < n && i < max; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].var = vars[i];
    if (slot[i] < 0) continue;
    out[i].grad = dx[slot[i]].values;
    out[i].indices = dx[slot[i]].indices;
    out[i].dense_shape = dx[slot[i]].dense_shape;
  }
  result = n;
  if (opt->distributed &&
      !deft_allreduce_gradients(g, out, n < max ? n : max, opt->fusion_bytes, name))
    result = -1;
done:
  deft_free(xs);
  deft_free(dx);
  deft_free(slot);
  deft_free(vars);
  return result;
}

/* ---- apply_gradients ---- */

static bool shapes_compatible(deft_shape a, deft_shape b) {
  if (a.rank < 0 || b.rank < 0) return true;
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; i++)
    if (a.dims[i] >= 0 && b.dims[i] >= 0 && a.dims[i] != b.dims[i]) return false;
  return true;
}

/* Validates the pairs and the global step; returns the number of pairs with a gradient, or -1. */
static int check_pairs(deft_optimizer *o, const deft_grad_and_var *gv, int n,
                       deft_op *global_step) {
  deft_graph *g = o->g;
  const char *name = kinds[o->kind].name;
  if (n < 0 || (n > 0 && !gv)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s apply_gradients: bad pair list (n = %d)",
                    name, n);
    return -1;
  }
  int valid = 0;
  for (int i = 0; i < n; i++) {
    deft_op *v = gv[i].var;
    if (!deft_op_is_variable(v)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s apply_gradients: pair %d: '%s' (op type %s) is not a variable", name,
                      i, v ? deft_op_name(v) : "(null)", v ? deft_op_type(v) : "none");
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (gv[j].var == v) {
        deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                        "%s apply_gradients: variable '%s' appears twice (pairs %d and %d)",
                        name, v->name, j, i);
        return -1;
      }
    deft_output grad = gv[i].grad;
    if (!grad.op) continue;
    char a[128], b[128];
    if (deft_output_dtype(grad) != var_dtype(v)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s apply_gradients: gradient '%s:%d' has dtype %s but variable '%s' has "
                      "dtype %s",
                      name, grad.op->name, grad.index, deft_dtype_name(deft_output_dtype(grad)),
                      v->name, deft_dtype_name(var_dtype(v)));
      return -1;
    }
    deft_shape gs = deft_output_shape(grad), vs = var_shape(v);
    if (gv[i].indices.op && gs.rank >= 1 && vs.rank >= 1) gs.dims[0] = vs.dims[0]; /* rows */
    if (gv[i].indices.op && (deft_output_shape(gv[i].indices).rank > 1 || vs.rank == 0)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s apply_gradients: the sparse gradient of '%s' needs a variable of rank "
                      ">= 1 and a vector of indices", name, v->name);
      return -1;
    }
    if (!shapes_compatible(gs, vs)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s apply_gradients: gradient '%s:%d' has shape %s, incompatible with "
                      "variable '%s' of shape %s",
                      name, grad.op->name, grad.index,
                      deft_shape_format(deft_output_shape(grad), a, sizeof a), v->name,
                      deft_shape_format(vs, b, sizeof b));
      return -1;
    }
    valid++;
  }
  if (valid == 0) {
    char list[512] = "";
    size_t pos = 0;
    for (int i = 0; i < n && pos < sizeof list - 1; i++)
      pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s'%s'", i ? ", " : "",
                              gv[i].var->name);
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s apply_gradients: no gradients provided for any variable [%s]; check "
                    "that the loss depends on them through differentiable ops", name, list);
    return -1;
  }
  if (global_step) {
    deft_dtype t = deft_op_is_variable(global_step) ? var_dtype(global_step) : DEFT_INVALID_DTYPE;
    if (t != DEFT_INT32 && t != DEFT_INT64) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s apply_gradients: global_step '%s' (op type %s) must be an int32 or "
                      "int64 variable", name, global_step->name, global_step->type);
      return -1;
    }
  }
  return valid;
}

/* A hyperparameter as the variable's dtype: the tensor itself, or TF's Cast ("Cast", "Cast_1",
 * ... in the update scope). */
static deft_output as_dtype(deft_graph *g, deft_output x, deft_dtype dt) {
  if (!x.op || deft_output_dtype(x) == dt) return x;
  return deft_cast(g, x, dt, "Cast");
}

static deft_op *build_sparse_update(deft_optimizer *o, deft_op *var, const deft_grad_and_var *gv,
                                    const deft_output *hyper);

/* var's slots; NULL (with an internal error when the kind has slots) if none were created. */
static slot_entry *slots_of(deft_optimizer *o, deft_op *var) {
  slot_entry *s = find_slots(o, var);
  if (kinds[o->kind].nslots > 0 && !s)
    deft_graph_fail(o->g, DEFT_INTERNAL, "no slots for variable '%s'", var->name);
  return s;
}

static deft_op *build_update(deft_optimizer *o, deft_op *var, deft_output grad,
                             const deft_output *hyper) {
  deft_graph *g = o->g;
  deft_output ref = {var, 0};
  deft_dtype dt = var_dtype(var);
  slot_entry *s = slots_of(o, var);
  if (kinds[o->kind].nslots > 0 && !s) return NULL;
  deft_output in[10];
  int n = 0;
  in[n++] = ref;
  switch (o->kind) {
    case OPT_GD:
      in[n++] = as_dtype(g, hyper[0], dt);
      in[n++] = grad;
      break;
    case OPT_MOMENTUM:
      in[n++] = deft_op_output(s->slot[0], 0);
      in[n++] = as_dtype(g, hyper[0], dt);
      in[n++] = grad;
      in[n++] = as_dtype(g, hyper[1], dt);
      break;
    case OPT_ADAGRAD:
      in[n++] = deft_op_output(s->slot[0], 0);
      in[n++] = as_dtype(g, hyper[0], dt);
      in[n++] = grad;
      break;
    case OPT_RMSPROP:
      in[n++] = deft_op_output(s->slot[0], 0);
      in[n++] = deft_op_output(s->slot[1], 0);
      for (int i = 0; i < 4; i++) in[n++] = as_dtype(g, hyper[i], dt);
      in[n++] = grad;
      break;
    case OPT_ADAM:
      in[n++] = deft_op_output(s->slot[0], 0);
      in[n++] = deft_op_output(s->slot[1], 0);
      in[n++] = as_dtype(g, deft_variable_value(o->beta1_power), dt);
      in[n++] = as_dtype(g, deft_variable_value(o->beta2_power), dt);
      for (int i = 0; i < 4; i++) in[n++] = as_dtype(g, hyper[i], dt);
      in[n++] = grad;
      break;
  }
  char type[64];
  return build_typed(g, update_type(var, kinds[o->kind].apply, type, sizeof type), in, n,
                     o->kind == OPT_MOMENTUM ? "use_nesterov" : NULL, o->nesterov, NULL);
}

/* shape(x)[0] (TF's array_ops.shape(x)[0]). */
static deft_output first_dim(deft_graph *g, deft_output x) {
  int32_t zero = 0, one = 1;
  return deft_strided_slice(g, deft_shape_of(g, x, NULL),
                            deft_const_int32_vector(g, &zero, 1, "strided_slice/stack"),
                            deft_const_int32_vector(g, &one, 1, "strided_slice/stack_1"),
                            deft_const_int32_vector(g, &one, 1, "strided_slice/stack_2"), 0, 0,
                            0, 0, 1, "strided_slice");
}

/* TF's Adam _apply_sparse_shared: m = m * beta1 then ScatterAdd of values * (1 - beta1), v
 * likewise with values^2 and beta2, then var -= lr_t * m / (sqrt(v) + epsilon) with
 * lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power); grouped. */
static deft_op *adam_sparse(deft_optimizer *o, deft_op *var, deft_output values,
                            deft_output indices, const deft_output *hyper, slot_entry *s) {
  deft_graph *g = o->g;
  deft_output ref = {var, 0};
  deft_dtype dt = var_dtype(var);
  deft_output b1p = as_dtype(g, deft_variable_value(o->beta1_power), dt);
  deft_output b2p = as_dtype(g, deft_variable_value(o->beta2_power), dt);
  deft_output lr_t = as_dtype(g, hyper[0], dt), beta1 = as_dtype(g, hyper[1], dt);
  deft_output beta2 = as_dtype(g, hyper[2], dt), eps = as_dtype(g, hyper[3], dt);
  deft_output lr = deft_div(
      g, deft_mul(g, lr_t, deft_sqrt(g, deft_sub(g, deft_const_fill(g, dt, DEFT_SCALAR, 1, "sub/x"),
                                                 b2p, "sub"), "Sqrt"), "mul"),
      deft_sub(g, deft_const_fill(g, dt, DEFT_SCALAR, 1, "sub_1/x"), b1p, "sub_1"), "truediv");
  deft_output m = deft_op_output(s->slot[0], 0), v = deft_op_output(s->slot[1], 0);
  deft_output m_scaled = deft_mul(
      g, values, deft_sub(g, deft_const_fill(g, dt, DEFT_SCALAR, 1, "sub_2/x"), beta1, "sub_2"),
      "mul_1");
  deft_output m_t = deft_assign(g, m, deft_mul(g, deft_variable_value(s->slot[0]), beta1, "mul_2"),
                                "Assign");
  if (!m_t.op) return NULL;
  deft_graph_push_control_deps(g, &m_t.op, 1);
  m_t = deft_scatter_add(g, m, indices, m_scaled, "ScatterAdd");
  deft_graph_pop_control_deps(g);
  deft_output v_scaled = deft_mul(
      g, deft_mul(g, values, values, "mul_3"),
      deft_sub(g, deft_const_fill(g, dt, DEFT_SCALAR, 1, "sub_3/x"), beta2, "sub_3"), "mul_4");
  deft_output v_t = deft_assign(g, v, deft_mul(g, deft_variable_value(s->slot[1]), beta2, "mul_5"),
                                "Assign_1");
  if (!v_t.op) return NULL;
  deft_graph_push_control_deps(g, &v_t.op, 1);
  v_t = deft_scatter_add(g, v, indices, v_scaled, "ScatterAdd_1");
  deft_graph_pop_control_deps(g);
  deft_output v_sqrt = deft_sqrt(g, v_t, "Sqrt_1");
  deft_output step = deft_div(g, deft_mul(g, lr, m_t, "mul_6"), deft_add(g, v_sqrt, eps, "add"),
                              "truediv_1");
  deft_output upd = deft_assign_sub(g, ref, step, "AssignSub");
  if (!upd.op || !m_t.op || !v_t.op) return NULL;
  deft_op *all[3] = {upd.op, m_t.op, v_t.op};
  return deft_group(g, all, 3, "group_deps");
}

/* TF's _apply_sparse_duplicate_indices for a variable with an IndexedSlices gradient. */
static deft_op *build_sparse_update(deft_optimizer *o, deft_op *var, const deft_grad_and_var *gv,
                                    const deft_output *hyper) {
  deft_graph *g = o->g;
  deft_output ref = {var, 0};
  deft_dtype dt = var_dtype(var);
  slot_entry *s = slots_of(o, var);
  if (kinds[o->kind].nslots > 0 && !s) return NULL;
  if (o->kind == OPT_GD) {
    deft_output delta = deft_mul(g, gv->grad, as_dtype(g, hyper[0], dt), "mul");
    return deft_scatter_sub(g, ref, gv->indices, delta, "ScatterSub").op;
  }
  /* _deduplicate_indexed_slices: Unique, then UnsortedSegmentSum of the values */
  deft_op *u = deft_unique(g, gv->indices, DEFT_INT32, "Unique");
  if (!u) return NULL;
  deft_output uniq = deft_op_output(u, 0);
  deft_output summed = deft_unsorted_segment_sum(g, gv->grad, deft_op_output(u, 1),
                                                 first_dim(g, uniq), "UnsortedSegmentSum");
  deft_output r = {NULL, 0};
  if (deft_variable_is_resource(var) && o->kind != OPT_ADAM) {
    /* TF's _resource_apply_sparse: the ResourceSparseApply* op itself is the update */
    deft_output lr = as_dtype(g, hyper[0], dt);
    deft_output in[9];
    int n = 0;
    const char *type = NULL, *flag = NULL;
    bool fv = false;
    in[n++] = ref;
    in[n++] = deft_op_output(s->slot[0], 0);
    if (o->kind == OPT_RMSPROP) in[n++] = deft_op_output(s->slot[1], 0);
    in[n++] = lr;
    if (o->kind == OPT_RMSPROP)
      for (int i = 1; i < 4; i++) in[n++] = as_dtype(g, hyper[i], dt);
    in[n++] = summed;
    in[n++] = uniq;
    if (o->kind == OPT_MOMENTUM) {
      in[n++] = as_dtype(g, hyper[1], dt);
      type = "ResourceSparseApplyMomentum", flag = "use_nesterov", fv = o->nesterov;
    } else if (o->kind == OPT_ADAGRAD) {
      type = "ResourceSparseApplyAdagrad", flag = "update_slots", fv = true;
    } else {
      type = "ResourceSparseApplyRMSProp";
    }
    return build_typed(g, type, in, n, flag, fv, type);
  }
  switch (o->kind) {
    case OPT_MOMENTUM:
      r = deft_sparse_apply_momentum(g, ref, deft_op_output(s->slot[0], 0),
                                     as_dtype(g, hyper[0], dt), summed, uniq,
                                     as_dtype(g, hyper[1], dt), o->nesterov,
                                     "SparseApplyMomentum");
      break;
    case OPT_ADAGRAD:
      r = deft_sparse_apply_adagrad(g, ref, deft_op_output(s->slot[0], 0),
                                    as_dtype(g, hyper[0], dt), summed, uniq, true,
                                    "SparseApplyAdagrad");
      break;
    case OPT_RMSPROP:
      r = deft_sparse_apply_rmsprop(g, ref, deft_op_output(s->slot[0], 0),
                                    deft_op_output(s->slot[1], 0), as_dtype(g, hyper[0], dt),
                                    as_dtype(g, hyper[1], dt), as_dtype(g, hyper[2], dt),
                                    as_dtype(g, hyper[3], dt), summed, uniq,
                                    "SparseApplyRMSProp");
      break;
    case OPT_ADAM:
      return adam_sparse(o, var, summed, uniq, hyper, s);
    case OPT_GD:
      break;
  }
  return r.op;
}

/* A NoOp with an exact full name and control inputs on ops[0..n) (TF's group(name=scope)). */
static deft_op *group_exact(deft_graph *g, deft_op *const *ops, int n, const char *full) {
  deft_op_builder *b = deft_op_builder_new(g, "NoOp", NULL);
  deft_op_builder_set_exact_name(b, full);
  for (int i = 0; i < n; i++) deft_op_builder_add_control_input(b, ops[i]);
  return deft_op_builder_finish(b);
}

/* TF's _finish: group the updates (Adam first multiplies its beta powers). `full` is the exact
 * name, or NULL for "update" in the current scope. ops has room for n + 2 entries. */
static deft_op *finish(deft_optimizer *o, deft_op **ops, int n, const deft_output *hyper,
                       const char *full) {
  deft_graph *g = o->g;
  if (o->kind == OPT_ADAM) {
    deft_graph_push_control_deps(g, ops, n);
    deft_output p1 = deft_mul(g, deft_variable_value(o->beta1_power), hyper[1], "mul");
    deft_output a1 = deft_assign(g, deft_op_output(o->beta1_power, 0), p1, "Assign");
    deft_output p2 = deft_mul(g, deft_variable_value(o->beta2_power), hyper[2], "mul");
    deft_output a2 = deft_assign(g, deft_op_output(o->beta2_power, 0), p2, "Assign");
    deft_graph_pop_control_deps(g);
    if (!a1.op || !a2.op) return NULL;
    ops[n++] = a1.op;
    ops[n++] = a2.op;
  }
  if (full) return group_exact(g, ops, n, full);
  return deft_group(g, ops, n, "update");
}

deft_op *deft_optimizer_apply_gradients(deft_optimizer *opt, const deft_grad_and_var *gv, int n,
                                        deft_op *global_step, const char *name) {
  if (!opt || !deft_graph_ok(opt->g)) return NULL;
  deft_graph *g = opt->g;
  const kind_info *k = &kinds[opt->kind];
  if (check_pairs(opt, gv, n, global_step) < 0) return NULL;
  if (!create_slots(opt, gv, n)) return NULL;

  deft_op **updates = deft_malloc(sizeof *updates * (size_t)(n + 2));
  if (!updates) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in apply_gradients");
    return NULL;
  }
  deft_op *result = NULL;
  const char *scope = deft_graph_push_scope(g, name && *name ? name : k->name);
  if (!scope) goto out;
  /* _prepare: learning_rate, then the kind's other hyperparameters. */
  deft_output hyper[4];
  hyper[0] = opt->lr_tensor.op ? opt->lr_tensor : deft_const_float(g, opt->lr, "learning_rate");
  for (int i = 0; i < 3; i++) {
    deft_output none = {NULL, 0};
    hyper[i + 1] = k->hyper[i] ? deft_const_float(g, opt->h[i], k->hyper[i]) : none;
  }
  int nu = 0;
  for (int i = 0; i < n && deft_graph_ok(g); i++) {
    if (!gv[i].grad.op) continue;
    char sub[1024];
    snprintf(sub, sizeof sub, "update_%s", gv[i].var->name);
    if (!deft_graph_push_scope(g, sub)) break;
    deft_op *u = gv[i].indices.op ? build_sparse_update(opt, gv[i].var, &gv[i], hyper)
                                  : build_update(opt, gv[i].var, gv[i].grad, hyper);
    deft_graph_pop_scope(g);
    if (u) updates[nu++] = u;
  }
  if (deft_graph_ok(g)) {
    if (!global_step) {
      result = finish(opt, updates, nu, hyper, scope);
    } else {
      deft_op *upd = finish(opt, updates, nu, hyper, NULL);
      if (upd) {
        deft_graph_push_control_deps(g, &upd, 1);
        deft_output gs = {global_step, 0};
        deft_output one = deft_const_fill(g, var_dtype(global_step), DEFT_SCALAR, 1.0, "value");
        if (one.op) {
          deft_op_builder *b = deft_op_builder_new(
              g, deft_variable_is_resource(global_step) ? "AssignAddVariableOp" : "AssignAdd",
              NULL);
          deft_op_builder_set_exact_name(b, scope);
          deft_op_builder_add_input(b, gs);
          deft_op_builder_add_input(b, one);
          result = deft_op_builder_finish(b);
        }
        deft_graph_pop_control_deps(g);
      }
    }
  }
  deft_graph_pop_scope(g);
  if (result) {
    deft_output item = {result, -1};
    deft_graph_add_to_collection(g, DEFT_TRAIN_OP, item);
    if (!deft_graph_ok(g)) result = NULL;
  }
out:
  deft_free(updates);
  return result;
}

deft_op *deft_optimizer_minimize(deft_optimizer *opt, deft_output loss, deft_op *const *var_list,
                                 int nvars, deft_op *global_step, const char *name) {
  if (!opt) return NULL;
  deft_graph *g = opt->g;
  int n = var_list ? nvars
                   : deft_graph_get_collection(g, DEFT_TRAINABLE_VARIABLES, NULL, NULL, 0, NULL);
  if (n < 0) n = 0;
  deft_grad_and_var *gv = deft_calloc((size_t)n + 1, sizeof *gv);
  if (!gv) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in minimize");
    return NULL;
  }
  deft_op *result = NULL;
  int got = deft_optimizer_compute_gradients(opt, loss, var_list, nvars, gv, n);
  if (got >= 0) result = deft_optimizer_apply_gradients(opt, gv, got < n ? got : n, global_step,
                                                        name);
  deft_free(gv);
  return result;
}
