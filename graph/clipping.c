/* SPDX-License-Identifier: Apache-2.0 */
/* graph/clipping.c - clipping (tf.clip_by_value, tf.clip_by_norm, tf.clip_by_global_norm as
 * TF 1.x's clip_ops.py builds them), tf.losses.get_regularization_loss, and the max-norm
 * constraint of the book's max_norm_regularizer (clip_by_norm + Assign, collection "max_norm").
 * All of them are compositions of ordinary ops named as TF names them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "base/alloc.h"

static const deft_output no_output = {NULL, 0};

static bool is_float(deft_dtype t) { return t == DEFT_FLOAT || t == DEFT_DOUBLE; }

/* Builds a one-output op of `type` with the exact full name `full` (TF's op named after the
 * enclosing name scope, e.g. "clip_by_value"). */
static deft_output build_exact(deft_graph *g, const char *type, const char *full,
                               const deft_output *in, int n) {
  if (!deft_inputs_ok(g, type, in, n)) return no_output;
  deft_op_builder *b = deft_op_builder_new(g, type, NULL);
  deft_op_builder_set_exact_name(b, full);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : no_output;
}

static deft_output scalar(deft_graph *g, deft_dtype dt, double v, const char *name) {
  return deft_const_fill(g, dt, DEFT_SCALAR, v, name);
}

static bool check_float_input(deft_graph *g, const char *what, deft_output t) {
  if (!deft_inputs_ok(g, what, &t, 1)) return false;
  if (!is_float(deft_output_dtype(t))) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: input '%s:%d' has dtype %s; expected float or "
                    "double", what, t.op->name, t.index, deft_dtype_name(deft_output_dtype(t)));
    return false;
  }
  return true;
}

static bool check_clip_norm(deft_graph *g, const char *what, float clip_norm) {
  if (isfinite(clip_norm) && clip_norm > 0) return true;
  deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: clip_norm must be finite and > 0, got %g", what,
                  (double)clip_norm);
  return false;
}

deft_output deft_clip_by_value(deft_graph *g, deft_output t, float lo, float hi,
                               const char *name) {
  if (!deft_inputs_ok(g, "clip_by_value", &t, 1)) return no_output;
  deft_dtype dt = deft_output_dtype(t);
  if (dt == DEFT_BOOL || dt == DEFT_STRING) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "clip_by_value: input '%s:%d' has dtype %s; "
                    "expected a numeric type", t.op->name, t.index, deft_dtype_name(dt));
    return no_output;
  }
  if (!(lo <= hi)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "clip_by_value: clip_value_min (%g) must be <= clip_value_max (%g)",
                    (double)lo, (double)hi);
    return no_output;
  }
  const char *scope = deft_graph_push_scope(g, name && *name ? name : "clip_by_value");
  if (!scope) return no_output;
  deft_output hi_c = scalar(g, dt, hi, "Minimum/y");
  deft_output t_min = deft_minimum(g, t, hi_c, "Minimum");
  deft_output lo_c = scalar(g, dt, lo, "y");
  deft_output in[2] = {t_min, lo_c};
  deft_output r = deft_graph_ok(g) ? build_exact(g, "Maximum", scope, in, 2) : no_output;
  deft_graph_pop_scope(g);
  return r;
}

/* Checks literal axes against t's rank (when known). */
static bool check_axes(deft_graph *g, const char *what, deft_output t, const int32_t *axes,
                       int naxes) {
  int rank = deft_output_shape(t).rank;
  if (naxes < 0 || (naxes > 0 && !axes)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: bad axes list (%d axes)", what, naxes);
    return false;
  }
  for (int i = 0; rank >= 0 && i < naxes; i++)
    if (axes[i] < -rank || axes[i] >= rank) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s: axis %d is out of range for '%s:%d' of rank %d", what, (int)axes[i],
                      t.op->name, t.index, rank);
      return false;
    }
  return true;
}

deft_output deft_clip_by_norm(deft_graph *g, deft_output t, float clip_norm, const int32_t *axes,
                              int naxes, const char *name) {
  if (!check_float_input(g, "clip_by_norm", t) || !check_clip_norm(g, "clip_by_norm", clip_norm) ||
      !check_axes(g, "clip_by_norm", t, axes, naxes))
    return no_output;
  deft_dtype dt = deft_output_dtype(t);
  const char *scope = deft_graph_push_scope(g, name && *name ? name : "clip_by_norm");
  if (!scope) return no_output;
  /* l2norm = sqrt(sum(t * t, axes, keepdims)); t * clip_norm / maximum(l2norm, clip_norm) */
  deft_output sq = deft_mul(g, t, t, "mul");
  deft_output l2sum = deft_reduce_sum(g, sq, axes, axes ? naxes : 0, true, "Sum");
  deft_output l2norm = deft_sqrt(g, l2sum, "Sqrt");
  deft_output inter = deft_mul(g, t, scalar(g, dt, clip_norm, "mul_1/y"), "mul_1");
  deft_output denom = deft_maximum(g, l2norm, scalar(g, dt, clip_norm, "Maximum/y"), "Maximum");
  deft_output q = deft_div(g, inter, denom, "truediv");
  deft_output r = deft_graph_ok(g) ? build_exact(g, "Identity", scope, &q, 1) : no_output;
  deft_graph_pop_scope(g);
  return r;
}

bool deft_clip_by_global_norm(deft_graph *g, const deft_output *ts, int n, float clip_norm,
                              deft_output *out, deft_output *global_norm, const char *name) {
  if (global_norm) *global_norm = no_output;
  for (int i = 0; out && i < n; i++) out[i] = no_output;
  if (!deft_graph_ok(g)) return false;
  if (n <= 0 || !ts || !out) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "clip_by_global_norm: needs a non-empty tensor "
                    "list and an output array (n = %d)", n);
    return false;
  }
  if (!check_clip_norm(g, "clip_by_global_norm", clip_norm)) return false;
  deft_dtype dt = DEFT_INVALID_DTYPE;
  int nvalid = 0;
  for (int i = 0; i < n; i++) {
    if (!ts[i].op) continue;
    deft_dtype d = deft_output_dtype(ts[i]);
    if (!is_float(d) || (nvalid > 0 && d != dt)) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "clip_by_global_norm: tensor %d ('%s:%d') has dtype %s; all tensors must "
                      "share one float or double dtype%s%s", i, ts[i].op->name, ts[i].index,
                      deft_dtype_name(d), nvalid ? ", the first has " : "",
                      nvalid ? deft_dtype_name(dt) : "");
      return false;
    }
    dt = d;
    nvalid++;
  }
  if (nvalid == 0) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "clip_by_global_norm: every tensor is invalid");
    return false;
  }
  deft_output *sums = deft_malloc(sizeof *sums * (size_t)nvalid);
  if (!sums) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in clip_by_global_norm");
    return false;
  }
  /* global_norm = sqrt(sum_i sum(t_i^2)) under "global_norm" (TF: L2Loss * 2). */
  deft_output norm = no_output;
  if (deft_graph_push_scope(g, name && *name ? name : "global_norm")) {
    int k = 0;
    for (int i = 0; i < n; i++)
      if (ts[i].op)
        sums[k++] = deft_reduce_sum(g, deft_square(g, ts[i], "Square"), NULL, 0, false, "Sum");
    deft_output stack = deft_pack(g, sums, nvalid, 0, "stack");
    deft_output total = deft_reduce_sum(g, stack, NULL, 0, false, "Sum");
    norm = deft_sqrt(g, total, "global_norm");
    deft_graph_pop_scope(g);
  }
  deft_free(sums);
  /* scale = clip_norm * min(1 / norm, 1 / clip_norm) + (norm - norm) (NaN/inf propagate). */
  const char *scope = deft_graph_ok(g) ? deft_graph_push_scope(
                                             g, name && *name ? name : "clip_by_global_norm")
                                       : NULL;
  if (!scope) return false;
  deft_output inv_norm = deft_div(g, scalar(g, dt, 1.0, "truediv/x"), norm, "truediv");
  deft_output inv_clip =
      deft_div(g, scalar(g, dt, 1.0, "Const"), scalar(g, dt, clip_norm, "truediv_1/y"),
               "truediv_1");
  deft_output finite = deft_mul(g, scalar(g, dt, clip_norm, "mul/x"),
                                deft_minimum(g, inv_norm, inv_clip, "Minimum"), "mul");
  deft_output scale = deft_add(g, finite, deft_sub(g, norm, norm, "sub"), "add");
  for (int i = 0; i < n && deft_graph_ok(g); i++) {
    if (!ts[i].op) continue;
    char id[1100];
    snprintf(id, sizeof id, "%s/_%d", scope, i);
    out[i] = deft_identity(g, deft_mul(g, ts[i], scale, "mul"), id);
  }
  deft_graph_pop_scope(g);
  if (!deft_graph_ok(g)) {
    for (int i = 0; i < n; i++) out[i] = no_output;
    return false;
  }
  if (global_norm) *global_norm = norm;
  return true;
}

deft_output deft_regularization_loss(deft_graph *g, const char *name) {
  if (!g || !deft_graph_ok(g)) return no_output;
  deft_status *st = deft_status_new();
  int n = deft_graph_get_collection(g, DEFT_REGULARIZATION_LOSSES, NULL, NULL, 0, st);
  deft_status_free(st);
  if (n <= 0) return deft_const_float(g, 0.0f, name && *name ? name : "Const");
  deft_output *items = deft_malloc(sizeof *items * (size_t)n);
  if (!items) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in regularization_loss");
    return no_output;
  }
  deft_graph_get_collection(g, DEFT_REGULARIZATION_LOSSES, NULL, items, n, NULL);
  deft_output r = deft_add_n(g, items, n, name && *name ? name : "total_regularization_loss");
  deft_free(items);
  return r;
}

deft_op *deft_max_norm(deft_graph *g, deft_op *var, float threshold, const int32_t *axes,
                       int naxes, const char *name) {
  if (!g || !deft_graph_ok(g)) return NULL;
  if (!deft_op_is_variable(var)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "max_norm: '%s' (op type %s) is not a variable",
                    var ? deft_op_name(var) : "(null)", var ? deft_op_type(var) : "none");
    return NULL;
  }
  deft_output value = deft_variable_value(var);
  if (!value.op) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "max_norm: variable '%s' has no read snapshot",
                    var->name);
    return NULL;
  }
  deft_output clipped = deft_clip_by_norm(g, value, threshold, axes, naxes, NULL);
  deft_output a =
      deft_assign(g, deft_op_output(var, 0), clipped, name && *name ? name : "max_norm");
  if (!a.op) return NULL;
  deft_graph_add_to_collection(g, "max_norm", a);
  return deft_graph_ok(g) ? a.op : NULL;
}
