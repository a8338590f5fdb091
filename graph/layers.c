/* SPDX-License-Identifier: Apache-2.0 */
/* graph/layers.c - tf.layers in C: dense, batch normalization (non-fused, with tf.cond on a
 * `training` tensor and moving-average updates in UPDATE_OPS, TF_FORMATS.md 6.2; fused for 4-D
 * inputs), dropout (tf.layers' and TF1 tf.nn's), max/average pooling and flatten, plus named
 * activations. Node and variable names are TF's. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>

#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"

static const deft_output NONE = {NULL, 0};

deft_output deft_activation(deft_graph *g, deft_output x, const char *act, float alpha,
                            const char *name) {
  if (!deft_inputs_ok(g, "activation", &x, 1)) return NONE;
  if (!act || !*act || !strcmp(act, "linear") || !strcmp(act, "none")) return x;
  if (!strcmp(act, "relu")) return deft_relu(g, x, name ? name : "Relu");
  if (!strcmp(act, "elu")) return deft_elu(g, x, name ? name : "Elu");
  if (!strcmp(act, "selu")) return deft_selu(g, x, name ? name : "Selu");
  if (!strcmp(act, "tanh")) return deft_tanh(g, x, name ? name : "Tanh");
  if (!strcmp(act, "sigmoid")) return deft_sigmoid(g, x, name ? name : "Sigmoid");
  if (!strcmp(act, "leaky_relu"))
    return deft_leaky_relu(g, x, alpha > 0 ? alpha : 0.2f, name ? name : "LeakyRelu");
  deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                  "unknown activation '%s' (known: relu, elu, selu, leaky_relu, tanh, sigmoid, "
                  "linear)", act);
  return NONE;
}

/* l1/l2 kernel regularizers: "<kernel>/Regularizer/l2_regularizer" = scale * sum(w^2) / 2 (TF's
 * l2_loss), l1 = scale * sum(|w|); added to REGULARIZATION_LOSSES. */
static void regularize(deft_graph *g, deft_op *kernel, float l1, float l2) {
  if (l1 <= 0 && l2 <= 0) return;
  char scope[1024];
  snprintf(scope, sizeof scope, "%s/Regularizer/", kernel->name);
  if (!deft_graph_push_scope(g, scope)) return;
  deft_output w = deft_variable_value(kernel), loss = NONE;
  deft_dtype dt = deft_output_dtype(w);
  if (l2 > 0) {
    deft_output sq = deft_reduce_sum(g, deft_square(g, w, "Square"), NULL, 0, false, "Sum");
    deft_output half = dt == DEFT_DOUBLE ? deft_const_double(g, 0.5 * l2, "scale")
                                         : deft_const_float(g, 0.5f * l2, "scale");
    loss = deft_mul(g, half, sq, "l2_regularizer");
  }
  if (l1 > 0) {
    deft_output ab = deft_reduce_sum(g, deft_abs(g, w, "Abs"), NULL, 0, false, "Sum_1");
    deft_output sc = dt == DEFT_DOUBLE ? deft_const_double(g, l1, "l1_scale")
                                       : deft_const_float(g, l1, "l1_scale");
    deft_output l1loss = deft_mul(g, sc, ab, "l1_regularizer");
    loss = loss.op ? deft_add(g, loss, l1loss, "l1_l2_regularizer") : l1loss;
  }
  deft_graph_pop_scope(g);
  if (loss.op) deft_graph_add_to_collection(g, DEFT_REGULARIZATION_LOSSES, loss);
}

deft_output deft_dense(deft_graph *g, deft_output x, int64_t units, const deft_dense_options *o,
                       const char *name) {
  deft_dense_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!o) o = &defaults;
  if (!deft_inputs_ok(g, "dense", &x, 1)) return NONE;
  deft_shape s = deft_output_shape(x);
  const char *lname = name ? name : "dense";
  if (s.rank != 2 || s.dims[1] < 0) {
    char sh[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "dense '%s': the input '%s:%d' has shape %s; it must be rank 2 with a known "
                    "last dimension",
                    lname, x.op->name, x.index, deft_shape_format(s, sh, sizeof sh));
    return NONE;
  }
  if (units < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "dense '%s': units must be >= 1, got %lld", lname,
                    (long long)units);
    return NONE;
  }
  if (!deft_graph_push_variable_scope(g, name, "dense")) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  deft_op *kernel = deft_get_variable(g, "kernel", dt, DEFT_SHAPE(s.dims[1], units),
                                      o->kernel_initializer, !o->not_trainable);
  deft_op *bias = NULL;
  if (!o->no_bias) {
    deft_initializer bi = o->bias_initializer;
    if (bi.kind == DEFT_INIT_DEFAULT) bi = deft_init_zeros();
    bias = deft_get_variable(g, "bias", dt, DEFT_SHAPE(units), bi, !o->not_trainable);
  }
  deft_output y = NONE;
  if (kernel && (bias || o->no_bias)) {
    y = deft_matmul(g, x, deft_variable_value(kernel), false, false, "MatMul");
    if (bias) y = deft_bias_add(g, y, deft_variable_value(bias), "BiasAdd");
    y = deft_activation(g, y, o->activation, o->leaky_alpha, NULL);
    if (kernel) regularize(g, kernel, o->kernel_l1, o->kernel_l2);
  }
  deft_graph_pop_variable_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}

/* ---- tf.cond pieces, named as TF names them ---- */

typedef struct cond {
  deft_output pred_id;
  deft_output switch_t, switch_f;
} cond;

/* "<scope>/Switch" (pred, pred), switch_t, switch_f, pred_id. Call inside the cond's scope. */
static cond cond_begin(deft_graph *g, deft_output pred) {
  cond c;
  deft_output sw = deft_switch(g, pred, pred, "Switch");
  c.switch_t = deft_identity(g, deft_op_output(sw.op, 1), "switch_t");
  c.switch_f = deft_identity(g, deft_op_output(sw.op, 0), "switch_f");
  c.pred_id = deft_identity(g, pred, "pred_id");
  return c;
}

/* A value entering a branch: Switch(value, pred_id), output 1 (true) or 0 (false). */
static deft_output cond_input(deft_graph *g, cond *c, deft_output v, bool branch,
                              const char *name) {
  deft_output sw = deft_switch(g, v, c->pred_id, name);
  return sw.op ? deft_op_output(sw.op, branch ? 1 : 0) : NONE;
}

/* Merge([false value, true value]). */
static deft_output cond_merge(deft_graph *g, deft_output f, deft_output t) {
  deft_output in[2] = {f, t};
  return deft_merge(g, in, 2, "Merge");
}

/* select(training, batch_value, moving_value) as "<cond>/Merge". */
static deft_output cond_select(deft_graph *g, deft_output training, deft_output batch,
                               deft_output moving, const char *cond_name) {
  if (!deft_graph_push_scope(g, cond_name)) return NONE;
  cond c = cond_begin(g, training);
  deft_output t = cond_input(g, &c, batch, true, "Switch_1");
  deft_output f = cond_input(g, &c, moving, false, "Switch_2");
  deft_output m = cond_merge(g, f, t);
  deft_graph_pop_scope(g);
  return m;
}

/* "<cond>": training ? AssignSub(moving, (moving - stat) * decay) : moving; the Merge goes into
 * UPDATE_OPS. */
static void moving_update(deft_graph *g, deft_output training, deft_op *moving, deft_output stat,
                          double momentum, const char *cond_name) {
  if (!deft_graph_push_scope(g, cond_name)) return;
  cond c = cond_begin(g, training);
  deft_output read = deft_variable_value(moving);
  if (deft_graph_push_scope(g, "AssignMovingAvg")) {
    deft_op *ctrl = c.switch_t.op;
    deft_graph_push_control_deps(g, &ctrl, 1);
    deft_dtype dt = deft_output_dtype(read);
    deft_output decay = dt == DEFT_DOUBLE ? deft_const_double(g, 1.0 - momentum, "decay")
                                          : deft_const_float(g, (float)(1.0 - momentum), "decay");
    deft_graph_pop_control_deps(g);
    deft_output mv = cond_input(g, &c, read, true, "sub/Switch");
    deft_output st = cond_input(g, &c, stat, true, "sub/Switch_1");
    deft_output sub = deft_sub(g, mv, st, "sub");
    deft_output mul = deft_mul(g, sub, decay, "mul");
    deft_output ref_in[2] = {deft_op_output(moving, 0), c.pred_id};
    bool resource = deft_variable_is_resource(moving);
    deft_output rs = deft_build_simple(g, resource ? "Switch" : "RefSwitch", "Switch", ref_in, 2);
    deft_graph_pop_scope(g);
    deft_output upd = NONE;
    if (rs.op && resource) { /* TF's ResourceVariable.assign_sub: AssignSubVariableOp + read */
      upd = deft_assign_sub(g, deft_op_output(rs.op, 1), mul, "AssignMovingAvg");
    } else if (rs.op) {
      deft_op_builder *b = deft_op_builder_new(g, "AssignSub", NULL);
      char full[1024];
      snprintf(full, sizeof full, "%s/AssignMovingAvg", deft_graph_scope(g));
      deft_op_builder_set_exact_name(b, full);
      deft_op_builder_add_input(b, deft_op_output(rs.op, 1));
      deft_op_builder_add_input(b, mul);
      deft_op *a = deft_op_builder_finish(b);
      if (a) upd = deft_op_output(a, 0);
    }
    deft_output keep = cond_input(g, &c, read, false, "Switch_1");
    deft_output m = cond_merge(g, keep, upd);
    if (m.op) deft_graph_add_to_collection(g, DEFT_UPDATE_OPS, m);
  }
  deft_graph_pop_scope(g);
}

/* A float Const of dtype (float or double) named `name`. */
static deft_output typed_const(deft_graph *g, deft_dtype dt, double v, const char *name) {
  return dt == DEFT_DOUBLE ? deft_const_double(g, v, name) : deft_const_float(g, (float)v, name);
}

/* "<scope>/AssignMovingAvg[_1]": AssignSub(moving, (moving - value) * (1 - momentum)), into
 * UPDATE_OPS (TF 1.x BatchNormalization._assign_moving_average). */
static void assign_moving_average(deft_graph *g, deft_op *moving, deft_output value,
                                  deft_output momentum, const char *scope_name) {
  const char *scope = deft_graph_push_scope(g, scope_name);
  if (!scope) return;
  deft_dtype dt = deft_output_dtype(value);
  deft_output decay = deft_sub(g, typed_const(g, dt, 1.0, "decay/x"), momentum, "decay");
  deft_output delta = deft_mul(g, deft_sub(g, deft_variable_value(moving), value, "sub"), decay,
                               "mul");
  char full[1024];
  snprintf(full, sizeof full, "%s", deft_graph_scope(g));
  deft_graph_pop_scope(g);
  if (!deft_graph_ok(g)) return;
  bool resource = deft_variable_is_resource(moving); /* AssignSubVariableOp: no output */
  deft_op_builder *b = deft_op_builder_new(g, resource ? "AssignSubVariableOp" : "AssignSub", NULL);
  deft_op_builder_set_exact_name(b, full);
  deft_op_builder_add_input(b, deft_op_output(moving, 0));
  deft_op_builder_add_input(b, delta);
  deft_op *a = deft_op_builder_finish(b);
  deft_output item = {a, resource ? -1 : 0};
  if (a) deft_graph_add_to_collection(g, DEFT_UPDATE_OPS, item);
}

/* tf.layers.batch_normalization(fused=True) on a 4-D NHWC input, as TF 1.x builds it: with a
 * `training` tensor, cond/FusedBatchNormV3 (is_training, empty mean/variance Consts) and
 * cond/FusedBatchNormV3_1 (moving statistics) merged; the momentum selected by cond_1
 * (momentum or 1.0); AssignMovingAvg(_1) updates with the unbiased batch variance. */
static deft_output fused_batch_norm_layer(deft_graph *g, deft_output x, deft_output training,
                                          deft_op *gamma, deft_op *beta, deft_op *mm,
                                          deft_op *mv, double momentum, double epsilon) {
  deft_dtype dt = deft_output_dtype(x);
  int64_t ch = deft_output_shape(x).dims[3];
  deft_output gv = gamma ? deft_variable_value(gamma) : NONE;
  deft_output bv = beta ? deft_variable_value(beta) : NONE;
  if (!gamma || !beta) { /* scale/center off: TF feeds constant ones/zeros */
    deft_tensor *t = deft_tensor_new(dt, &ch, 1, NULL);
    if (!t) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return NONE;
    }
    for (int k = 0; k < 2; k++) {
      for (int64_t i = 0; i < ch; i++) {
        if (dt == DEFT_DOUBLE) ((double *)deft_tensor_data(t))[i] = k == 0 ? 1.0 : 0.0;
        else ((float *)deft_tensor_data(t))[i] = k == 0 ? 1.0f : 0.0f;
      }
      if (k == 0 && !gamma) gv = deft_const(g, t, "Const");
      if (k == 1 && !beta) bv = deft_const(g, t, "Const_1");
    }
    deft_tensor_free(t);
  }
  deft_fused_batch_norm_options fo = {3, (float)epsilon, 0, "NHWC", false};
  if (!training.op) {
    fo.inference = true;
    deft_op *op = deft_fused_batch_norm(g, x, gv, bv, deft_variable_value(mm),
                                        deft_variable_value(mv), &fo, "FusedBatchNormV3");
    return op ? deft_op_output(op, 0) : NONE;
  }
  deft_output y = NONE, mean = NONE, var = NONE;
  if (deft_graph_push_scope(g, "cond")) {
    cond c = cond_begin(g, training);
    deft_output xt = cond_input(g, &c, x, true, "FusedBatchNormV3/Switch");
    deft_output gt = cond_input(g, &c, gv, true, "FusedBatchNormV3/Switch_1");
    deft_output bt = cond_input(g, &c, bv, true, "FusedBatchNormV3/Switch_2");
    deft_op *ctrl = c.switch_t.op;
    deft_graph_push_control_deps(g, &ctrl, 1);
    deft_tensor *empty = deft_tensor_new(dt, (int64_t[]){0}, 1, NULL);
    deft_output e0 = empty ? deft_const(g, empty, "Const") : NONE;
    deft_output e1 = empty ? deft_const(g, empty, "Const_1") : NONE;
    deft_tensor_free(empty);
    deft_graph_pop_control_deps(g);
    deft_op *bt_op = deft_fused_batch_norm(g, xt, gt, bt, e0, e1, &fo, "FusedBatchNormV3");
    deft_output xf = cond_input(g, &c, x, false, "FusedBatchNormV3_1/Switch");
    deft_output gf = cond_input(g, &c, gv, false, "FusedBatchNormV3_1/Switch_1");
    deft_output bf = cond_input(g, &c, bv, false, "FusedBatchNormV3_1/Switch_2");
    deft_output mf = cond_input(g, &c, deft_variable_value(mm), false,
                                "FusedBatchNormV3_1/Switch_3");
    deft_output vf = cond_input(g, &c, deft_variable_value(mv), false,
                                "FusedBatchNormV3_1/Switch_4");
    fo.inference = true;
    deft_op *bf_op = deft_fused_batch_norm(g, xf, gf, bf, mf, vf, &fo, "FusedBatchNormV3_1");
    if (bt_op && bf_op) {
      deft_output in[2];
      const char *names[3] = {"Merge", "Merge_1", "Merge_2"};
      deft_output *outs[3] = {&y, &mean, &var};
      for (int i = 0; i < 3; i++) {
        in[0] = deft_op_output(bf_op, i);
        in[1] = deft_op_output(bt_op, i);
        *outs[i] = deft_merge(g, in, 2, names[i]);
      }
    }
    deft_graph_pop_scope(g);
  }
  deft_output mom = NONE;
  if (deft_graph_ok(g) && deft_graph_push_scope(g, "cond_1")) {
    cond c = cond_begin(g, training);
    deft_op *ctrl = c.switch_t.op;
    deft_graph_push_control_deps(g, &ctrl, 1);
    deft_output mt = typed_const(g, dt, momentum, "Const");
    deft_graph_pop_control_deps(g);
    ctrl = c.switch_f.op;
    deft_graph_push_control_deps(g, &ctrl, 1);
    deft_output mf = typed_const(g, dt, 1.0, "Const_1");
    deft_graph_pop_control_deps(g);
    mom = cond_merge(g, mf, mt);
    deft_graph_pop_scope(g);
  }
  if (deft_graph_ok(g)) {
    assign_moving_average(g, mm, mean, mom, "AssignMovingAvg");
    assign_moving_average(g, mv, var, mom, "AssignMovingAvg_1");
  }
  return deft_graph_ok(g) ? y : NONE;
}

deft_output deft_batch_normalization(deft_graph *g, deft_output x, deft_output training,
                                     const deft_batch_norm_options *o, const char *name) {
  deft_batch_norm_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!o) o = &defaults;
  double momentum = o->momentum > 0 ? o->momentum : 0.99;
  double epsilon = o->epsilon > 0 ? o->epsilon : 1e-3;
  const char *lname = name ? name : "batch_normalization";
  if (!deft_inputs_ok(g, "batch_normalization", &x, 1)) return NONE;
  deft_shape s = deft_output_shape(x);
  if (s.rank < 2 || s.dims[s.rank - 1] < 0) {
    char sh[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "batch_normalization '%s': the input '%s:%d' has shape %s; it needs rank >= 2 "
                    "and a known last (channel) dimension", lname, x.op->name, x.index,
                    deft_shape_format(s, sh, sizeof sh));
    return NONE;
  }
  if (training.op && deft_output_dtype(training) != DEFT_BOOL) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "batch_normalization '%s': `training` ('%s') must be a bool tensor", lname,
                    training.op->name);
    return NONE;
  }
  if (!deft_graph_push_variable_scope(g, name, "batch_normalization")) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  int64_t ch = s.dims[s.rank - 1];
  deft_shape cs = DEFT_SHAPE(ch);
  deft_op *gamma =
      o->no_scale ? NULL : deft_get_variable(g, "gamma", dt, cs, deft_init_ones(), true);
  deft_op *beta =
      o->no_center ? NULL : deft_get_variable(g, "beta", dt, cs, deft_init_zeros(), true);
  deft_op *mm = deft_get_variable(g, "moving_mean", dt, cs, deft_init_zeros(), false);
  deft_op *mv = deft_get_variable(g, "moving_variance", dt, cs, deft_init_ones(), false);
  if (s.rank == 4 && !o->not_fused) {
    deft_output y = mm && mv ? fused_batch_norm_layer(g, x, training, gamma, beta, mm, mv,
                                                     momentum, epsilon)
                             : NONE;
    deft_graph_pop_variable_scope(g);
    return deft_graph_ok(g) ? y : NONE;
  }
  deft_output mean = deft_variable_value(mm), var = deft_variable_value(mv);
  if (training.op && mm && mv) {
    int32_t axes[DEFT_MAX_RANK];
    for (int i = 0; i < s.rank - 1; i++) axes[i] = i;
    deft_output bmean = NONE, bvar = NONE;
    if (deft_graph_push_scope(g, "moments")) {
      deft_output ax = deft_const_int32_vector(g, axes, s.rank - 1, "mean/reduction_indices");
      deft_output m = deft_mean(g, x, ax, true, "mean");
      deft_output sg = deft_stop_gradient(g, m, "StopGradient");
      deft_output sq = deft_squared_difference(g, x, sg, "SquaredDifference");
      deft_output ax2 = deft_const_int32_vector(g, axes, s.rank - 1, "variance/reduction_indices");
      deft_output v = deft_mean(g, sq, ax2, true, "variance");
      int64_t sq_axes[DEFT_MAX_RANK];
      for (int i = 0; i < s.rank - 1; i++) sq_axes[i] = i;
      bmean = deft_squeeze(g, m, sq_axes, s.rank - 1, "Squeeze");
      bvar = deft_squeeze(g, v, sq_axes, s.rank - 1, "Squeeze_1");
      deft_graph_pop_scope(g);
    }
    mean = cond_select(g, training, bmean, mean, "cond");
    var = cond_select(g, training, bvar, var, "cond_1");
    moving_update(g, training, mm, mean, momentum, "cond_2");
    moving_update(g, training, mv, var, momentum, "cond_3");
  }
  deft_output y = NONE;
  if (deft_graph_ok(g) && deft_graph_push_scope(g, "batchnorm")) {
    deft_output eps = dt == DEFT_DOUBLE ? deft_const_double(g, epsilon, "add/y")
                                        : deft_const_float(g, (float)epsilon, "add/y");
    deft_output inv = deft_rsqrt(g, deft_add(g, var, eps, "add"), "Rsqrt");
    if (gamma) inv = deft_mul(g, inv, deft_variable_value(gamma), "mul");
    deft_output x_scaled = deft_mul(g, x, inv, "mul_1");
    deft_output mean_scaled = deft_mul(g, mean, inv, "mul_2");
    deft_output shift = beta ? deft_sub(g, deft_variable_value(beta), mean_scaled, "sub")
                             : deft_neg(g, mean_scaled, "sub");
    y = deft_add(g, x_scaled, shift, "add_1");
    deft_graph_pop_scope(g);
  }
  deft_graph_pop_variable_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}

deft_output deft_dropout(deft_graph *g, deft_output x, float rate, deft_output training,
                         int64_t seed, const char *name) {
  if (!deft_inputs_ok(g, "dropout", &x, 1)) return NONE;
  if (!(rate >= 0 && rate < 1)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "dropout '%s': rate must be in [0, 1), got %g",
                    name ? name : "dropout", rate);
    return NONE;
  }
  if (!training.op) return x;
  if (!deft_graph_push_scope(g, name ? name : "dropout")) return NONE;
  deft_output out = NONE;
  if (deft_graph_push_scope(g, "cond")) {
    cond c = cond_begin(g, training);
    deft_output xt = cond_input(g, &c, x, true, "Switch_1");
    deft_output xf = cond_input(g, &c, x, false, "Switch_2");
    deft_dtype dt = deft_output_dtype(x);
    deft_output shp = deft_shape_of(g, xt, "dropout/Shape");
    deft_output u = deft_random_uniform(g, shp, dt, seed, "dropout/random_uniform");
    deft_output r = dt == DEFT_DOUBLE ? deft_const_double(g, rate, "dropout/rate")
                                      : deft_const_float(g, rate, "dropout/rate");
    deft_output keep = deft_cast(g, deft_greater_equal(g, u, r, "dropout/GreaterEqual"), dt,
                                 "dropout/Cast");
    deft_output scale = dt == DEFT_DOUBLE
                            ? deft_const_double(g, 1.0 / (1.0 - rate), "dropout/scale")
                            : deft_const_float(g, 1.0f / (1.0f - rate), "dropout/scale");
    deft_output kept = deft_mul(g, deft_mul(g, xt, scale, "dropout/div"), keep, "dropout/mul");
    deft_output id = deft_identity(g, xf, "Identity");
    out = cond_merge(g, id, kept);
    deft_graph_pop_scope(g);
  }
  deft_graph_pop_scope(g);
  return out;
}

deft_output deft_nn_dropout(deft_graph *g, deft_output x, deft_output keep_prob, int64_t seed,
                            const char *name) {
  deft_output in[2] = {x, keep_prob};
  if (!deft_inputs_ok(g, "dropout", in, 2)) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  if (deft_output_dtype(keep_prob) != dt || (dt != DEFT_FLOAT && dt != DEFT_DOUBLE)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "dropout '%s': x ('%s') and keep_prob ('%s') must both be float or both "
                    "double", name ? name : "dropout", x.op->name, keep_prob.op->name);
    return NONE;
  }
  deft_shape ks = deft_output_shape(keep_prob);
  if (ks.rank > 0) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "dropout '%s': keep_prob ('%s') must be a scalar",
                    name ? name : "dropout", keep_prob.op->name);
    return NONE;
  }
  if (!deft_graph_push_scope(g, name ? name : "dropout")) return NONE;
  deft_output shp = deft_shape_of(g, x, "Shape");
  deft_output u = deft_random_uniform(g, shp, dt, seed, "random_uniform");
  deft_output bin = deft_floor(g, deft_add(g, keep_prob, u, "add"), "Floor");
  deft_output out = deft_mul(g, deft_div(g, x, keep_prob, "div"), bin, "mul");
  deft_graph_pop_scope(g);
  return deft_graph_ok(g) ? out : NONE;
}

/* tf.layers.max_pooling2d / average_pooling2d: "<name>/MaxPool" or "<name>/AvgPool". */
static deft_output pooling2d(deft_graph *g, bool max, deft_output x, const int64_t pool_size[2],
                             const int64_t strides[2], const char *padding, const char *name) {
  const char *kind = max ? "max_pooling2d" : "average_pooling2d";
  if (!deft_inputs_ok(g, kind, &x, 1)) return NONE;
  const char *lname = name ? name : kind;
  deft_shape s = deft_output_shape(x);
  char sh[128];
  if (s.rank != 4) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s '%s': the input '%s:%d' has shape %s; it must "
                    "be 4-D (NHWC)", kind, lname, x.op->name, x.index,
                    deft_shape_format(s, sh, sizeof sh));
    return NONE;
  }
  const char *pad = padding ? padding : "valid";
  const char *tfpad = !strcasecmp(pad, "same") ? "SAME" : !strcasecmp(pad, "valid") ? "VALID"
                                                                                    : NULL;
  if (!tfpad || pool_size[0] < 1 || pool_size[1] < 1 || strides[0] < 1 || strides[1] < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s '%s': pool_size and strides must be >= 1 and "
                    "padding 'valid' or 'same', got pool_size [%lld, %lld], strides [%lld, "
                    "%lld], padding '%s'", kind, lname, (long long)pool_size[0],
                    (long long)pool_size[1], (long long)strides[0], (long long)strides[1], pad);
    return NONE;
  }
  if (!deft_graph_push_scope(g, lname)) return NONE;
  const int64_t k[4] = {1, pool_size[0], pool_size[1], 1}, st[4] = {1, strides[0], strides[1], 1};
  deft_output y = max ? deft_max_pool(g, x, k, st, tfpad, "NHWC", "MaxPool")
                      : deft_avg_pool(g, x, k, st, tfpad, "NHWC", "AvgPool");
  deft_graph_pop_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}

deft_output deft_max_pooling2d(deft_graph *g, deft_output x, const int64_t pool_size[2],
                               const int64_t strides[2], const char *padding, const char *name) {
  return pooling2d(g, true, x, pool_size, strides, padding, name);
}

deft_output deft_average_pooling2d(deft_graph *g, deft_output x, const int64_t pool_size[2],
                                   const int64_t strides[2], const char *padding,
                                   const char *name) {
  return pooling2d(g, false, x, pool_size, strides, padding, name);
}

deft_output deft_flatten(deft_graph *g, deft_output x, const char *name) {
  if (!deft_inputs_ok(g, "flatten", &x, 1)) return NONE;
  const char *lname = name ? name : "flatten";
  deft_shape s = deft_output_shape(x);
  int64_t n = 1;
  bool ok = s.rank >= 1;
  for (int i = 1; ok && i < s.rank; i++)
    ok = s.dims[i] >= 0 && !__builtin_mul_overflow(n, s.dims[i], &n) && n <= INT32_MAX;
  if (!ok) {
    char sh[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "flatten '%s': the input '%s:%d' has shape %s; it "
                    "needs rank >= 1 and known dimensions after the first (product < 2^31)",
                    lname, x.op->name, x.index, deft_shape_format(s, sh, sizeof sh));
    return NONE;
  }
  if (!deft_graph_push_scope(g, lname)) return NONE;
  int32_t dims[2] = {-1, (int32_t)n};
  deft_output y = deft_reshape(g, x, deft_const_int32_vector(g, dims, 2, "Reshape/shape"),
                               "Reshape");
  deft_graph_pop_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}
