/* SPDX-License-Identifier: Apache-2.0 */
/* ops/nn_loss_ops.c - the nn family's classification ops: Softmax,
 * SparseSoftmaxCrossEntropyWithLogits and InTopK / InTopKV2 (shape functions, kernels, gradients
 * and public constructors). Their table entries are in ops/nn_ops.c, which owns the family table.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/nn_internal.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"


static const char xent_no_second_derivative[] =
    "Currently there is no way to take the second derivative of "
    "sparse_softmax_cross_entropy_with_logits due to the fused implementation's interaction with "
    "tf.gradients()";

static deft_output none_output(void) {
  deft_output o = {NULL, 0};
  return o;
}

/* Describes tensor `o` ("'x:0', Placeholder, shape [2,3]"). */
static void describe_output(deft_output o, char *buf, size_t size) {
  char sh[128];
  snprintf(buf, size, "'%s:%d' (%s) has shape %s", deft_op_name(o.op), o.index, deft_op_type(o.op),
           deft_shape_format(deft_output_shape(o), sh, sizeof sh));
}

/* Checks a [B,C] matrix input and a [B] vector input at build time (shared by the shape
 * functions and the constructors, which check before adding anything to the graph). Writes a
 * message and returns false on a mismatch. what0/what1 name the inputs ("logits", "labels"). */
static bool check_matrix_vector(deft_output m, deft_output v, const char *what0,
                                const char *what1, char *msg, size_t size) {
  deft_shape a = deft_output_shape(m), b = deft_output_shape(v);
  char d[256];
  if (a.rank >= 0 && a.rank != 2) {
    describe_output(m, d, sizeof d);
    snprintf(msg, size, "%s (input 0) must be 2-D [batch, classes], but %s", what0, d);
    return false;
  }
  if (b.rank >= 0 && b.rank != 1) {
    describe_output(v, d, sizeof d);
    snprintf(msg, size, "%s (input 1) must be 1-D [batch], but %s", what1, d);
    return false;
  }
  if (a.rank == 2 && b.rank == 1 && a.dims[0] >= 0 && b.dims[0] >= 0 && a.dims[0] != b.dims[0]) {
    char d1[256];
    describe_output(m, d, sizeof d);
    describe_output(v, d1, sizeof d1);
    snprintf(msg, size, "%s and %s must have the same batch size: %s (input 0), but %s (input 1)",
             what0, what1, d, d1);
    return false;
  }
  return true;
}

/* ---- Softmax (last axis) ---- */

void deft_nn_softmax_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  if (s.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "logits must have at least 1 dimension, but "
                    "input 0 ('%s:%d') is a scalar", deft_op_name(deft_op_input(c->op, 0).op),
                    deft_op_input(c->op, 0).index);
    return;
  }
  deft_shape_ctx_set_output(c, 0, s);
}

/* Softmax of one row in[0..cols) into out, computed in double around the row's max with libm's
 * exp (the float kernel's path for rows holding a NaN or an infinity, and the double kernel). */
#define SOFTMAX_ROW(in, out)                                              \
  do {                                                                    \
    double m = -INFINITY;                                                 \
    for (int64_t j = 0; j < cols; j++)                                    \
      if ((in)[j] > m) m = (in)[j];                                       \
    double s = 0;                                                         \
    for (int64_t j = 0; j < cols; j++) s += exp((double)(in)[j] - m);     \
    for (int64_t j = 0; j < cols; j++)                                    \
      (out)[j] = exp((double)(in)[j] - m) / s;                            \
  } while (0)

#define SOFTMAX_ROWS(T, view)                                             \
  do {                                                                    \
    const T *xp = view(x);                                                \
    T *yp = view(y);                                                      \
    for (int64_t r = 0; r < rows; r++) {                                  \
      const T *in = xp + r * cols;                                        \
      T *out = yp + r * cols;                                             \
      SOFTMAX_ROW(in, out);                                               \
    }                                                                     \
  } while (0)

void deft_nn_softmax_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  if (x->rank < 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "logits must have at least 1 dimension, got a "
                     "scalar");
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!y) return;
  int64_t cols = x->dims[x->rank - 1];
  int64_t rows = cols ? x->n / cols : 0;
  if (x->dtype == DEFT_FLOAT) {
    const float *xp = deft_tensor_f32(x);
    float *yp = deft_tensor_f32(y);
    int64_t block = cols <= DEFT_NN_SOFTMAX_BLOCK ? DEFT_NN_SOFTMAX_BLOCK / cols : 1;
    bool bad[DEFT_NN_SOFTMAX_BLOCK];
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
      int64_t nr = rows - r0 < block ? rows - r0 : block;
      if (!deft_nn_softmax_block_f32(nr, cols, xp + r0 * cols, NULL, NULL, yp + r0 * cols, bad))
        continue;
      for (int64_t r = r0; r < r0 + nr; r++) {
        if (!bad[r - r0]) continue;
        const float *in = xp + r * cols; /* NaN or infinity in the row: libm propagates them */
        float *out = yp + r * cols;
        SOFTMAX_ROW(in, out);
      }
    }
  } else if (x->dtype == DEFT_DOUBLE) SOFTMAX_ROWS(double, deft_tensor_f64);
  else deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s", deft_dtype_name(x->dtype));
}

/* TF: (grad - reduce_sum(grad * softmax, -1, keepdims=True)) * softmax. */
void deft_nn_softmax_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                          deft_output *dx) {
  deft_output y = deft_op_output(op, 0);
  deft_output prod = deft_mul(g, grads[0], y, "mul");
  deft_output axis = deft_const_int32(g, -1, "Sum/reduction_indices");
  deft_output sum = deft_sum(g, prod, axis, true, "Sum");
  deft_output diff = deft_sub(g, grads[0], sum, "sub");
  dx[0] = deft_mul(g, diff, y, "mul");
}

deft_output deft_softmax(deft_graph *g, deft_output logits, const char *name) {
  return deft_build_simple(g, "Softmax", name, &logits, 1);
}

/* ---- SparseSoftmaxCrossEntropyWithLogits ---- */

void deft_nn_xent_shape(deft_shape_ctx *c) {
  char msg[768];
  if (!check_matrix_vector(deft_op_input(c->op, 0), deft_op_input(c->op, 1), "logits", "labels",
                           msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  deft_shape f = deft_shape_ctx_input(c, 0), l = deft_shape_ctx_input(c, 1);
  int64_t dims[2] = {-1, -1};
  if (f.rank == 2) dims[0] = f.dims[0], dims[1] = f.dims[1];
  if (dims[0] < 0 && l.rank == 1) dims[0] = l.dims[0];
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, dims));
  deft_shape_ctx_set_output(c, 1, deft_shape_make(2, dims));
}

/* One row (in, out, lab, lp[r]): loss and backprop (softmax - onehot) with a stable log-sum-exp
 * in double through libm (the float kernel's path for rows holding a NaN or an infinity, and the
 * double kernel). */
#define XENT_ROW(T)                                                               \
  do {                                                                            \
    double m = -INFINITY;                                                         \
    for (int64_t j = 0; j < cols; j++)                                            \
      if (in[j] > m) m = in[j];                                                   \
    double s = 0;                                                                 \
    for (int64_t j = 0; j < cols; j++) s += exp((double)in[j] - m);               \
    double lse = log(s);                                                          \
    lp[r] = (T)(lse - ((double)in[lab] - m));                                     \
    for (int64_t j = 0; j < cols; j++)                                            \
      out[j] = (T)(exp((double)in[j] - m) / s - (j == lab ? 1.0 : 0.0));          \
  } while (0)

#define XENT_ROWS(T, view)                                                        \
  do {                                                                            \
    const T *xp = view(f);                                                        \
    T *lp = view(loss), *bp = view(back);                                         \
    for (int64_t r = 0; r < rows; r++) {                                          \
      const T *in = xp + r * cols;                                                \
      T *out = bp + r * cols;                                                     \
      int64_t lab = deft_tensor_index_at(labels, r);                              \
      XENT_ROW(T);                                                                \
    }                                                                             \
  } while (0)

void deft_nn_xent_kernel(deft_kernel_ctx *c) {
  const deft_tensor *f = deft_kernel_input(c, 0), *labels = deft_kernel_input(c, 1);
  char sf[128], sl[128];
  if (f->rank != 2 || labels->rank != 1 || labels->dims[0] != f->dims[0]) {
    deft_shape_format(deft_tensor_shape(f), sf, sizeof sf);
    deft_shape_format(deft_tensor_shape(labels), sl, sizeof sl);
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "logits must be 2-D [batch, classes] and labels 1-D [batch] with the same "
                     "batch size, got logits %s and labels %s", sf, sl);
    return;
  }
  int64_t rows = f->dims[0], cols = f->dims[1];
  if (rows > 0 && cols == 0) {
    deft_shape_format(deft_tensor_shape(f), sf, sizeof sf);
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "must have at least one class, but logits have shape %s", sf);
    return;
  }
  for (int64_t r = 0; r < rows; r++) {
    int64_t lab = deft_tensor_index_at(labels, r);
    if (lab < 0 || lab >= cols) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "row %" PRId64 " has label value %" PRId64
                       ", which is outside the valid range of [0, %" PRId64 ")",
                       r, lab, cols);
      return;
    }
  }
  deft_tensor *loss = deft_kernel_output(c, 0, f->dtype, f->dims, 1);
  if (!loss) return;
  deft_tensor *back = deft_kernel_output(c, 1, f->dtype, f->dims, 2);
  if (!back) return;
  if (f->dtype == DEFT_FLOAT) {
    const float *xp = deft_tensor_f32(f);
    float *lp = deft_tensor_f32(loss), *bp = deft_tensor_f32(back);
    int64_t block = cols <= DEFT_NN_SOFTMAX_BLOCK ? DEFT_NN_SOFTMAX_BLOCK / cols : 1;
    bool bad[DEFT_NN_SOFTMAX_BLOCK];
    int64_t labs[DEFT_NN_SOFTMAX_BLOCK];
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
      int64_t nr = rows - r0 < block ? rows - r0 : block;
      for (int64_t r = 0; r < nr; r++) labs[r] = deft_tensor_index_at(labels, r0 + r);
      if (!deft_nn_softmax_block_f32(nr, cols, xp + r0 * cols, labs, lp + r0, bp + r0 * cols, bad))
        continue;
      for (int64_t r = r0; r < r0 + nr; r++) {
        if (!bad[r - r0]) continue;
        const float *in = xp + r * cols; /* NaN or infinity in the row: libm propagates them */
        float *out = bp + r * cols;
        int64_t lab = labs[r - r0];
        XENT_ROW(float);
      }
    }
  } else if (f->dtype == DEFT_DOUBLE) XENT_ROWS(double, deft_tensor_f64);
  else deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s", deft_dtype_name(f->dtype));
}

/* TF 1.x: the backprop output, behind PreventGradient (no second derivative), scaled row-wise by
 * the incoming loss gradient: ExpandDims(grad_loss, -1) * PreventGradient(backprop). Labels get
 * no gradient; a gradient arriving at the backprop output is ignored, as in TF. */
void deft_nn_xent_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  if (!grads[0].op) return;
  deft_output back = deft_prevent_gradient(g, deft_op_output(op, 1), xent_no_second_derivative,
                                           "PreventGradient");
  deft_output dim = deft_const_int32(g, -1, "ExpandDims/dim");
  deft_output col = deft_expand_dims(g, grads[0], dim, "ExpandDims");
  dx[0] = deft_mul(g, col, back, "mul");
}

/* TF's tf.nn.sparse_softmax_cross_entropy_with_logits for rank-2 logits: name scope
 * `name` (default "SparseSoftmaxCrossEntropyWithLogits") holding "Shape" (of the labels, unused)
 * and the op, named `name` again inside the scope. */
deft_output deft_sparse_softmax_cross_entropy_with_logits(deft_graph *g, deft_output logits,
                                                          deft_output labels,
                                                          const char *name) {
  const char *type = "SparseSoftmaxCrossEntropyWithLogits";
  deft_output in[2] = {logits, labels};
  if (!deft_inputs_ok(g, type, in, 2)) return none_output();
  char msg[768];
  bool ok = check_matrix_vector(logits, labels, "logits", "labels", msg, sizeof msg);
  deft_dtype lt = deft_output_dtype(logits), bt = deft_output_dtype(labels);
  if (ok && lt != DEFT_FLOAT && lt != DEFT_DOUBLE) {
    snprintf(msg, sizeof msg, "logits (input 0, '%s:%d') must be float or double (attr T), got "
             "%s", deft_op_name(logits.op), logits.index, deft_dtype_name(lt));
    ok = false;
  }
  if (ok && bt != DEFT_INT32 && bt != DEFT_INT64) {
    snprintf(msg, sizeof msg, "labels (input 1, '%s:%d') must be int32 or int64 (attr Tlabels), "
             "got %s", deft_op_name(labels.op), labels.index, deft_dtype_name(bt));
    ok = false;
  }
  if (!ok) {
    const char *scope = deft_graph_scope(g);
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s '%s%s%s': %s", type, scope, *scope ? "/" : "",
                    name ? name : type, msg);
    return none_output();
  }
  if (!deft_graph_push_scope(g, name ? name : type)) return none_output();
  deft_output shape = deft_shape_of(g, labels, "Shape");
  deft_output loss = none_output();
  if (shape.op) loss = deft_build_simple(g, type, name, in, 2);
  deft_graph_pop_scope(g);
  return loss;
}

/* ---- InTopK / InTopKV2 ---- */

static void in_top_k_common_shape(deft_shape_ctx *c) {
  char msg[768];
  if (!check_matrix_vector(deft_op_input(c->op, 0), deft_op_input(c->op, 1), "predictions",
                           "targets", msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  deft_shape p = deft_shape_ctx_input(c, 0), t = deft_shape_ctx_input(c, 1);
  int64_t b = p.rank == 2 ? p.dims[0] : -1;
  if (b < 0 && t.rank == 1) b = t.dims[0];
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &b));
}

void deft_nn_in_top_k_shape(deft_shape_ctx *c) { in_top_k_common_shape(c); }

void deft_nn_in_top_k_v2_shape(deft_shape_ctx *c) {
  deft_shape k = deft_shape_ctx_input(c, 2);
  if (k.rank > 0) {
    char sh[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "k (input 2, '%s:%d') must be a scalar, but has "
                    "shape %s",
                    deft_op_name(deft_op_input(c->op, 2).op), deft_op_input(c->op, 2).index,
                    deft_shape_format(k, sh, sizeof sh));
    return;
  }
  in_top_k_common_shape(c);
}

/* TF's rule: the target is in the top k iff fewer than k classes have a strictly larger
 * prediction. A non-finite prediction anywhere in the row, or an out-of-range target, gives
 * false. */
static void in_top_k_run(deft_kernel_ctx *c, int64_t k) {
  const deft_tensor *p = deft_kernel_input(c, 0), *t = deft_kernel_input(c, 1);
  char sp[128], st[128];
  deft_shape_format(deft_tensor_shape(p), sp, sizeof sp);
  deft_shape_format(deft_tensor_shape(t), st, sizeof st);
  if (p->rank != 2 || t->rank != 1 || t->dims[0] != p->dims[0]) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "predictions must be 2-D [batch, classes] and targets 1-D [batch] with the "
                     "same batch size, got predictions %s and targets %s", sp, st);
    return;
  }
  if (k < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "k must be non-negative, got %" PRId64, k);
    return;
  }
  int64_t rows = p->dims[0], cols = p->dims[1];
  deft_tensor *out = deft_kernel_output(c, 0, DEFT_BOOL, &rows, 1);
  if (!out) return;
  const float *pred = deft_tensor_f32(p);
  bool *res = deft_tensor_b(out);
  for (int64_t r = 0; r < rows; r++) {
    const float *row = pred + r * cols;
    int64_t target = deft_tensor_index_at(t, r);
    bool ok = target >= 0 && target < cols && isfinite(row[target]);
    int64_t larger = 0;
    for (int64_t j = 0; ok && j < cols; j++) {
      if (!isfinite(row[j])) ok = false;
      else if (row[j] > row[target]) larger++;
    }
    res[r] = ok && larger < k;
  }
}

/* InTopK's parameter block: its k attr (InTopKV2 takes k as an input). */
typedef struct {
  int64_t k;
} in_top_k_params;

void deft_nn_in_top_k_prepare(deft_prepare_ctx *p) {
  int64_t k = deft_prepare_attr_int(p, "k");
  in_top_k_params *ip = deft_prepare_params(p, sizeof *ip);
  if (ip) ip->k = k;
}

void deft_nn_in_top_k_kernel(deft_kernel_ctx *c) {
  in_top_k_run(c, ((const in_top_k_params *)deft_kernel_params(c))->k);
}

void deft_nn_in_top_k_v2_kernel(deft_kernel_ctx *c) {
  const deft_tensor *k = deft_kernel_input(c, 2);
  if (k->rank != 0) {
    char sk[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "k must be a scalar, got shape %s",
                     deft_shape_format(deft_tensor_shape(k), sk, sizeof sk));
    return;
  }
  in_top_k_run(c, deft_tensor_index_at(k, 0));
}

/* TF's tf.nn.in_top_k: name scope `name` (default "in_top_k") holding the Const
 * "<op>/k" (targets' dtype) and InTopKV2 named `name` (default "InTopKV2"). */
deft_output deft_in_top_k(deft_graph *g, deft_output predictions, deft_output targets, int64_t k,
                          const char *name) {
  const char *type = "InTopKV2";
  deft_output in[2] = {predictions, targets};
  if (!deft_inputs_ok(g, type, in, 2)) return none_output();
  deft_dtype tt = deft_output_dtype(targets);
  char msg[768];
  bool ok = check_matrix_vector(predictions, targets, "predictions", "targets", msg, sizeof msg);
  if (ok && deft_output_dtype(predictions) != DEFT_FLOAT) {
    snprintf(msg, sizeof msg, "predictions (input 0, '%s:%d') must be float, got %s",
             deft_op_name(predictions.op), predictions.index,
             deft_dtype_name(deft_output_dtype(predictions)));
    ok = false;
  }
  if (ok && tt != DEFT_INT32 && tt != DEFT_INT64) {
    snprintf(msg, sizeof msg, "targets (input 1, '%s:%d') must be int32 or int64, got %s",
             deft_op_name(targets.op), targets.index, deft_dtype_name(tt));
    ok = false;
  }
  if (ok && (tt == DEFT_INT32 && (k > INT32_MAX || k < INT32_MIN))) {
    snprintf(msg, sizeof msg, "k = %" PRId64 " does not fit the targets' dtype int32", k);
    ok = false;
  }
  const char *scope = deft_graph_scope(g);
  if (!ok) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s '%s%s%s': %s", type, scope, *scope ? "/" : "",
                    name ? name : "in_top_k", msg);
    return none_output();
  }
  if (!deft_graph_push_scope(g, name ? name : "in_top_k")) return none_output();
  const char *opname = name ? name : type;
  char kname[1024];
  snprintf(kname, sizeof kname, "%s/k", opname);
  deft_output kc = tt == DEFT_INT32 ? deft_const_int32(g, (int32_t)k, kname)
                                    : deft_const_int64(g, k, kname);
  deft_output r = none_output();
  if (kc.op) {
    deft_output args[3] = {predictions, targets, kc};
    r = deft_build_simple(g, type, opname, args, 3);
  }
  deft_graph_pop_scope(g);
  return r;
}
