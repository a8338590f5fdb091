/* SPDX-License-Identifier: Apache-2.0 */
/* ops/nn_more_ops.c - more of the nn family: LogSoftmax and SoftmaxCrossEntropyWithLogits (dense
 * labels): definition, shape function, kernel and gradient side by side, plus the public
 * constructors. Rows are reduced around their max in the input's precision for float64 and with
 * a float64 sum of float32 exponentials (one pass of expf per element). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

/* ---- LogSoftmax ---- */

static void log_softmax_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  if (s.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "logits must have at least 1 dimension, got a "
                    "scalar");
    return;
  }
  deft_shape_ctx_set_output(c, 0, s);
}

/* y = x - max - log(sum(exp(x - max))) per row of `cols`. */
#define LOG_SOFTMAX_ROWS(T, EXP, LOG)                                  \
  do {                                                                 \
    const T *xp = (const T *)x->buf->data;                             \
    T *yp = (T *)y->buf->data;                                         \
    for (int64_t r = 0; r < rows; r++) {                               \
      const T *in = xp + r * cols;                                     \
      T *out = yp + r * cols;                                          \
      T m = in[0];                                                     \
      for (int64_t j = 1; j < cols; j++) m = in[j] > m ? in[j] : m;    \
      double s = 0;                                                    \
      for (int64_t j = 0; j < cols; j++) {                             \
        out[j] = in[j] - m;                                            \
        s += EXP(out[j]);                                              \
      }                                                                \
      T lse = (T)LOG(s);                                               \
      for (int64_t j = 0; j < cols; j++) out[j] -= lse;                \
    }                                                                  \
  } while (0)

static void log_softmax_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  if (x->rank < 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "logits must have at least 1 dimension, got a "
                     "scalar");
    return;
  }
  if (x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s", deft_dtype_name(x->dtype));
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!y || y->n == 0) return;
  int64_t cols = x->dims[x->rank - 1], rows = x->n / cols;
  if (x->dtype == DEFT_FLOAT) LOG_SOFTMAX_ROWS(float, expf, log);
  else LOG_SOFTMAX_ROWS(double, exp, log);
}

/* TF: grad - reduce_sum(grad, -1, keepdims=True) * exp(logsoftmax). */
static void log_softmax_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  deft_output sm = deft_exp(g, deft_op_output(op, 0), NULL);
  deft_output sum = deft_sum(g, grads[0], deft_const_int32(g, -1, "Sum/reduction_indices"), true,
                             "Sum");
  dx[0] = deft_sub(g, grads[0], deft_mul(g, sum, sm, "mul"), "sub");
}

deft_output deft_log_softmax(deft_graph *g, deft_output logits, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "LogSoftmax", name);
  deft_op_builder_add_input(b, logits);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- SoftmaxCrossEntropyWithLogits ---- */

static void xent_shape(deft_shape_ctx *c) {
  deft_shape f = deft_shape_ctx_input(c, 0), l = deft_shape_ctx_input(c, 1);
  char a[128], b[128];
  bool ok = (f.rank < 0 || f.rank == 2) && (l.rank < 0 || l.rank == 2);
  for (int k = 0; ok && f.rank == 2 && l.rank == 2 && k < 2; k++)
    ok = f.dims[k] < 0 || l.dims[k] < 0 || f.dims[k] == l.dims[k];
  if (!ok) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "features and labels must be matrices of one shape [batch, classes], got %s "
                    "and %s", deft_shape_format(f, a, sizeof a), deft_shape_format(l, b, sizeof b));
    return;
  }
  int64_t dims[2] = {-1, -1};
  for (int k = 0; k < 2; k++) {
    if (f.rank == 2 && f.dims[k] >= 0) dims[k] = f.dims[k];
    else if (l.rank == 2) dims[k] = l.dims[k];
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, dims));
  deft_shape_ctx_set_output(c, 1, deft_shape_make(2, dims));
}

/* loss = sum(labels * (lse - (x - max))), backprop = softmax - labels, per row. */
#define XENT_ROWS(T, EXP)                                                       \
  do {                                                                          \
    const T *xp = (const T *)f->buf->data, *lp = (const T *)lab->buf->data;     \
    T *op_ = (T *)loss->buf->data, *bp = (T *)back->buf->data;                  \
    for (int64_t r = 0; r < rows; r++) {                                        \
      const T *in = xp + r * cols, *li = lp + r * cols;                         \
      T *out = bp + r * cols;                                                   \
      T m = in[0];                                                              \
      for (int64_t j = 1; j < cols; j++) m = in[j] > m ? in[j] : m;             \
      double s = 0;                                                             \
      for (int64_t j = 0; j < cols; j++) {                                      \
        out[j] = (T)EXP(in[j] - m);                                             \
        s += out[j];                                                            \
      }                                                                         \
      double lse = log(s), total = 0;                                           \
      T inv = (T)(1.0 / s);                                                     \
      for (int64_t j = 0; j < cols; j++) {                                      \
        total += (double)li[j] * (lse - (double)(in[j] - m));                   \
        out[j] = out[j] * inv - li[j];                                          \
      }                                                                         \
      op_[r] = (T)total;                                                        \
    }                                                                           \
  } while (0)

static void xent_kernel(deft_kernel_ctx *c) {
  const deft_tensor *f = deft_kernel_input(c, 0), *lab = deft_kernel_input(c, 1);
  char a[128], b[128];
  if (f->rank != 2 || lab->rank != 2 || f->dims[0] != lab->dims[0] ||
      f->dims[1] != lab->dims[1]) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "logits and labels must be matrices of one shape [batch, classes], got "
                     "logits %s and labels %s", tshape(f, a, sizeof a), tshape(lab, b, sizeof b));
    return;
  }
  if (f->dtype != DEFT_FLOAT && f->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s", deft_dtype_name(f->dtype));
    return;
  }
  int64_t rows = f->dims[0], cols = f->dims[1];
  if (rows > 0 && cols == 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "must have at least one class, but logits have "
                     "shape %s", tshape(f, a, sizeof a));
    return;
  }
  deft_tensor *loss = deft_kernel_output(c, 0, f->dtype, f->dims, 1);
  if (!loss) return;
  deft_tensor *back = deft_kernel_output(c, 1, f->dtype, f->dims, 2);
  if (!back || rows == 0) return;
  if (f->dtype == DEFT_FLOAT) XENT_ROWS(float, expf);
  else XENT_ROWS(double, exp);
}

/* TF 1.x's _SoftmaxCrossEntropyWithLogitsGrad: logits get ExpandDims(grad_loss, -1) * backprop,
 * labels ExpandDims(grad_loss, -1) * -LogSoftmax(logits). A gradient arriving at the backprop
 * output is not propagated (deft has no second-order path for it yet). */
static void xent_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  if (!grads[0].op) return;
  deft_output col = deft_expand_dims(g, grads[0], deft_const_int32(g, -1, "ExpandDims/dim"),
                                     "ExpandDims");
  dx[0] = deft_mul(g, col, deft_op_output(op, 1), "mul");
  deft_output ls = deft_log_softmax(g, deft_op_input(op, 0), NULL);
  deft_output col2 = deft_expand_dims(g, grads[0],
                                      deft_const_int32(g, -1, "ExpandDims_1/dim"), "ExpandDims_1");
  dx[1] = deft_mul(g, col2, deft_neg(g, ls, NULL), "mul_1");
}

deft_op *deft_softmax_cross_entropy_with_logits_op(deft_graph *g, deft_output features,
                                                   deft_output labels, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "SoftmaxCrossEntropyWithLogits", name);
  deft_op_builder_add_input(b, features);
  deft_op_builder_add_input(b, labels);
  return deft_op_builder_finish(b);
}

#define FLOATS "{half, bfloat16, float, double}"

static const deft_op_def nn_more_defs[] = {
    {.type = "LogSoftmax", .inputs = "logits: T", .outputs = "logsoftmax: T",
     .attrs = "T: " FLOATS, .shape = log_softmax_shape, .kernel = log_softmax_kernel,
     .grad = log_softmax_grad},
    {.type = "SoftmaxCrossEntropyWithLogits", .inputs = "features: T, labels: T",
     .outputs = "loss: T, backprop: T", .attrs = "T: " FLOATS, .shape = xent_shape,
     .kernel = xent_kernel, .grad = xent_grad},
};

DEFT_FAMILY(deft_ops_nn_more, nn_more_defs);
