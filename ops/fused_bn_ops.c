/* ops/fused_bn_ops.c - TF's fused batch normalization: FusedBatchNorm, FusedBatchNormV2,
 * FusedBatchNormV3 and their gradient ops FusedBatchNormGrad(V2, V3): definitions, shape
 * functions, prepare steps, kernels and gradients side by side, plus the public constructor.
 *
 * As TF's CPU kernels: with is_training the statistics are the batch's (mean and biased variance
 * over N, H, W normalize x; batch_variance is the unbiased one, blended with the input's
 * statistics by exponential_avg_factor when it is not 1); reserve_space_1/2 hold the batch mean
 * and biased variance for the gradient; V3's reserve_space_3 is empty. Without is_training, x is
 * normalized by the given mean and variance, which are passed through. NHWC and NCHW both run.
 * Sums accumulate in double. T and U may also be double (beyond TF's float; the V2/V3 gradients'
 * scale is U where TF has float, the same when U is float) so the finite-difference checks run
 * in float64; half and bfloat16 fail planning (UNIMPLEMENTED).
 *
 * The gradient ops are marked not differentiable: TF 1.x differentiates FusedBatchNormGrad by
 * rebuilding it from elementary ops under a gradient tape, which deft does not do; a second
 * derivative through a fused batch norm fails naming the op instead. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

typedef struct bn_params {
  float epsilon, factor;
  bool nchw, training, grad, v3;
} bn_params;

static void bn_prepare(deft_prepare_ctx *p) {
  const deft_op *op = deft_prepare_op(p);
  const char *type = deft_op_type(op);
  bn_params bp;
  memset(&bp, 0, sizeof bp);
  bp.grad = strstr(type, "Grad") != NULL;
  bp.v3 = strstr(type, "V3") != NULL;
  bp.epsilon = deft_prepare_attr_float(p, "epsilon");
  bp.training = deft_prepare_attr_bool(p, "is_training");
  bp.factor = 1.0f;
  if (!bp.grad && deft_prepare_find_attr(p, "exponential_avg_factor"))
    bp.factor = deft_prepare_attr_float(p, "exponential_avg_factor");
  const char *fmt = "NHWC";
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  if (deft_prepare_failed(p)) return;
  if (strcmp(fmt, "NHWC") && strcmp(fmt, "NCHW")) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "data_format '%s' is not supported (NHWC or "
                      "NCHW)", fmt);
    return;
  }
  bp.nchw = !strcmp(fmt, "NCHW");
  if (!(bp.epsilon >= 0) || !isfinite(bp.epsilon)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "epsilon must be finite and >= 0, got %g",
                      bp.epsilon);
    return;
  }
  if (!(bp.factor >= 0 && bp.factor <= 1)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "exponential_avg_factor must be in [0, 1], got "
                      "%g", bp.factor);
    return;
  }
  for (int i = 0; i < deft_prepare_num_inputs(p); i++) {
    deft_dtype dt = deft_prepare_input_dtype(p, i);
    if (dt != DEFT_FLOAT && dt != DEFT_DOUBLE) {
      deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "no CPU kernel for dtype %s (input %d '%s'; "
                        "float and double only)", deft_dtype_name(dt), i,
                        deft_prepare_input_name(p, i));
      return;
    }
  }
  bn_params *out = deft_prepare_params(p, sizeof *out);
  if (out) *out = bp;
}

/* ---- shape functions ---- */

/* The channel count from x (rank 4) or the per-channel inputs [first, last]; fails on a
 * mismatch. Returns -1 when unknown, -2 after failing. */
static int64_t channels(deft_shape_ctx *c, int xi, int first, int last) {
  deft_shape x = deft_shape_ctx_input(c, xi);
  char sh[128];
  if (x.rank >= 0 && x.rank != 4) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "x must be 4-D, got shape %s",
                    deft_shape_format(x, sh, sizeof sh));
    return -2;
  }
  const char *fmt = "NHWC";
  deft_op_attr_string(c->op, "data_format", &fmt, NULL);
  if (strcmp(fmt, "NHWC") && strcmp(fmt, "NCHW")) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "data_format '%s' is not supported (NHWC or NCHW)",
                    fmt);
    return -2;
  }
  int64_t ch = x.rank == 4 ? x.dims[strcmp(fmt, "NCHW") ? 3 : 1] : -1;
  bool training = true;
  deft_op_attr_bool(c->op, "is_training", &training);
  for (int i = first; i <= last; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank < 0) continue;
    /* training's mean and variance inputs may be empty (tf.nn.fused_batch_norm passes []) */
    bool may_be_empty = !strstr(deft_op_type(c->op), "Grad") && training && i >= 3;
    if (s.rank != 1 || (s.dims[0] >= 0 && ch >= 0 && s.dims[0] != ch &&
                        !(may_be_empty && s.dims[0] == 0))) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be a vector of the %lld "
                      "channels, got shape %s", i, deft_op_input(c->op, i).op
                          ? deft_op_name(deft_op_input(c->op, i).op) : "?",
                      (long long)ch, deft_shape_format(s, sh, sizeof sh));
      return -2;
    }
    if (ch < 0 && s.dims[0] >= 0 && !(may_be_empty && s.dims[0] == 0)) ch = s.dims[0];
  }
  return ch;
}

static void bn_shape(deft_shape_ctx *c) {
  int64_t ch = channels(c, 0, 1, 4);
  if (ch == -2) return;
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 0));
  for (int i = 1; i < 5; i++) deft_shape_ctx_set_output(c, i, deft_shape_make(1, &ch));
  if (deft_shape_ctx_num_outputs(c) > 5) deft_shape_ctx_set_output(c, 5, deft_shape_make(-1, NULL));
}

static void bn_grad_shape(deft_shape_ctx *c) {
  int64_t ch = channels(c, 1, 2, 4);
  if (ch == -2) return;
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 1));
  int64_t zero = 0;
  for (int i = 1; i < 3; i++) deft_shape_ctx_set_output(c, i, deft_shape_make(1, &ch));
  for (int i = 3; i < 5; i++) deft_shape_ctx_set_output(c, i, deft_shape_make(1, &zero));
}

/* ---- kernels ---- */

/* x's layout as [outer, C, inner]: NHWC is [N*H*W, C, 1], NCHW [N, C, H*W]. */
typedef struct bn_layout {
  int64_t outer, ch, inner;
} bn_layout;

static double get(const deft_tensor *t, int64_t i) {
  return t->dtype == DEFT_FLOAT ? (double)deft_tensor_f32(t)[i] : deft_tensor_f64(t)[i];
}

static void set(deft_tensor *t, int64_t i, double v) {
  if (t->dtype == DEFT_FLOAT) deft_tensor_f32(t)[i] = (float)v;
  else deft_tensor_f64(t)[i] = v;
}

/* Checks x (rank 4) and the per-channel inputs [first, last] (length C, or 0 where allowed). */
static bool check_inputs(deft_kernel_ctx *c, const bn_params *bp, int xi, int first, int last,
                         int empty_from, bn_layout *l) {
  const deft_tensor *x = deft_kernel_input(c, xi);
  char sh[128];
  if (x->rank != 4) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "x must be 4-D, got shape %s",
                     deft_shape_format(deft_tensor_shape(x), sh, sizeof sh));
    return false;
  }
  l->ch = x->dims[bp->nchw ? 1 : 3];
  l->outer = bp->nchw ? x->dims[0] : x->dims[0] * x->dims[1] * x->dims[2];
  l->inner = bp->nchw ? x->dims[2] * x->dims[3] : 1;
  for (int i = first; i <= last; i++) {
    const deft_tensor *t = deft_kernel_input(c, i);
    bool ok = t->rank == 1 && (t->dims[0] == l->ch || (i >= empty_from && t->dims[0] == 0));
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be a vector of x's %lld "
                       "channels, got shape %s", i, deft_kernel_input_name(c, i),
                       (long long)l->ch,
                       deft_shape_format(deft_tensor_shape(t), sh, sizeof sh));
      return false;
    }
  }
  return true;
}

static deft_tensor *vector_out(deft_kernel_ctx *c, int i, int64_t n) {
  return deft_kernel_output(c, i, deft_kernel_output_dtype(c, i), &n, 1);
}

static void bn_kernel(deft_kernel_ctx *c) {
  const bn_params *bp = deft_kernel_params(c);
  bn_layout l;
  bool blend = bp->training && bp->factor != 1.0f;
  /* training with factor 1 ignores mean/variance, which may then be empty */
  if (!check_inputs(c, bp, 0, 1, 4, bp->training && !blend ? 3 : 5, &l)) return;
  const deft_tensor *x = deft_kernel_input(c, 0), *scale = deft_kernel_input(c, 1),
                    *offset = deft_kernel_input(c, 2), *mean_in = deft_kernel_input(c, 3),
                    *var_in = deft_kernel_input(c, 4);
  deft_tensor *y = deft_kernel_output(c, 0, deft_kernel_output_dtype(c, 0), x->dims, 4);
  deft_tensor *outs[4];
  for (int i = 0; i < 4; i++)
    if (!y || !(outs[i] = vector_out(c, i + 1, l.ch))) return;
  if (bp->v3 && !vector_out(c, 5, 0)) return;
  double *buf = deft_kernel_scratch(c, sizeof(double) * (size_t)(3 * l.ch + 1));
  if (!buf) return;
  double *mean = buf, *var = buf + l.ch, *inv = buf + 2 * l.ch;
  int64_t m = l.outer * l.inner;
  for (int64_t k = 0; k < l.ch; k++) mean[k] = var[k] = 0;
  if (bp->training) {
    for (int64_t o = 0; o < l.outer; o++)
      for (int64_t k = 0; k < l.ch; k++)
        for (int64_t i = 0; i < l.inner; i++) mean[k] += get(x, (o * l.ch + k) * l.inner + i);
    for (int64_t k = 0; k < l.ch; k++) mean[k] = m ? mean[k] / (double)m : 0;
    for (int64_t o = 0; o < l.outer; o++)
      for (int64_t k = 0; k < l.ch; k++)
        for (int64_t i = 0; i < l.inner; i++) {
          double d = get(x, (o * l.ch + k) * l.inner + i) - mean[k];
          var[k] += d * d;
        }
    for (int64_t k = 0; k < l.ch; k++) var[k] = m ? var[k] / (double)m : 0;
  } else {
    for (int64_t k = 0; k < l.ch; k++) mean[k] = get(mean_in, k), var[k] = get(var_in, k);
  }
  for (int64_t k = 0; k < l.ch; k++) inv[k] = 1.0 / sqrt(var[k] + (double)bp->epsilon);
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t k = 0; k < l.ch; k++) {
      double a = inv[k] * get(scale, k), b = get(offset, k) - mean[k] * a;
      for (int64_t i = 0; i < l.inner; i++) {
        int64_t e = (o * l.ch + k) * l.inner + i;
        set(y, e, get(x, e) * a + b);
      }
    }
  double f = bp->factor, adjust = m > 1 ? (double)m / (double)(m - 1) : 1.0;
  for (int64_t k = 0; k < l.ch; k++) {
    double bm = mean[k], bv = var[k];
    if (bp->training) {
      bv *= adjust;
      if (blend) {
        bm = (1 - f) * get(mean_in, k) + f * bm;
        bv = (1 - f) * get(var_in, k) + f * bv;
      }
    }
    set(outs[0], k, bm);
    set(outs[1], k, bv);
    set(outs[2], k, mean[k]);
    set(outs[3], k, var[k]);
  }
}

/* (y_backprop, x, scale, reserve_space_1 = mean, reserve_space_2 = variance[, rs3]) ->
 * (x_backprop, scale_backprop, offset_backprop, [0], [0]). */
static void bn_grad_kernel(deft_kernel_ctx *c) {
  const bn_params *bp = deft_kernel_params(c);
  bn_layout l;
  if (!check_inputs(c, bp, 1, 2, 4, 5, &l)) return;
  const deft_tensor *dy = deft_kernel_input(c, 0), *x = deft_kernel_input(c, 1),
                    *scale = deft_kernel_input(c, 2), *mean = deft_kernel_input(c, 3),
                    *var = deft_kernel_input(c, 4);
  char a[128], b[128];
  if (dy->rank != 4 || memcmp(dy->dims, x->dims, sizeof(int64_t) * 4)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "y_backprop has shape %s, x has %s",
                     deft_shape_format(deft_tensor_shape(dy), a, sizeof a),
                     deft_shape_format(deft_tensor_shape(x), b, sizeof b));
    return;
  }
  deft_tensor *dx = deft_kernel_output(c, 0, deft_kernel_output_dtype(c, 0), x->dims, 4);
  deft_tensor *ds = dx ? vector_out(c, 1, l.ch) : NULL;
  deft_tensor *dof = ds ? vector_out(c, 2, l.ch) : NULL;
  if (!dof || !vector_out(c, 3, 0) || !vector_out(c, 4, 0)) return;
  double *buf = deft_kernel_scratch(c, sizeof(double) * (size_t)(3 * l.ch + 1));
  if (!buf) return;
  double *sdy = buf, *sdyx = buf + l.ch, *inv = buf + 2 * l.ch;
  int64_t m = l.outer * l.inner;
  for (int64_t k = 0; k < l.ch; k++) {
    sdy[k] = sdyx[k] = 0;
    inv[k] = 1.0 / sqrt(get(var, k) + (double)bp->epsilon);
  }
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t k = 0; k < l.ch; k++)
      for (int64_t i = 0; i < l.inner; i++) {
        int64_t e = (o * l.ch + k) * l.inner + i;
        double g = get(dy, e);
        sdy[k] += g;
        sdyx[k] += g * (get(x, e) - get(mean, k)) * inv[k];
      }
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t k = 0; k < l.ch; k++) {
      double s = get(scale, k) * inv[k], mk = get(mean, k);
      double mdy = m ? sdy[k] / (double)m : 0, mdyx = m ? sdyx[k] / (double)m : 0;
      for (int64_t i = 0; i < l.inner; i++) {
        int64_t e = (o * l.ch + k) * l.inner + i;
        double g = get(dy, e);
        if (bp->training) {
          double xh = (get(x, e) - mk) * inv[k];
          set(dx, e, s * (g - mdy - xh * mdyx));
        } else {
          set(dx, e, s * g);
        }
      }
    }
  for (int64_t k = 0; k < l.ch; k++) {
    set(ds, k, sdyx[k]);
    set(dof, k, sdy[k]);
  }
}

/* ---- constructors ---- */

static const char *bn_type(int version, bool grad) {
  static const char *const types[2][3] = {
      {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"},
      {"FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3"}};
  return types[grad][version < 1 || version > 3 ? 2 : version - 1];
}

static deft_op *build_bn(deft_graph *g, const char *type, const deft_output *in, int n,
                         float epsilon, const float *factor, const char *data_format,
                         bool is_training, const char *name) {
  if (!deft_inputs_ok(g, type, in, n)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  deft_op_builder_set_attr_float(b, "epsilon", epsilon);
  if (factor) deft_op_builder_set_attr_float(b, "exponential_avg_factor", *factor);
  const char *fmt = data_format ? data_format : "NHWC";
  deft_op_builder_set_attr_string(b, "data_format", fmt, strlen(fmt));
  deft_op_builder_set_attr_bool(b, "is_training", is_training);
  return deft_op_builder_finish(b);
}

deft_op *deft_fused_batch_norm(deft_graph *g, deft_output x, deft_output scale,
                               deft_output offset, deft_output mean, deft_output variance,
                               const deft_fused_batch_norm_options *o, const char *name) {
  deft_fused_batch_norm_options d;
  memset(&d, 0, sizeof d);
  if (!o) o = &d;
  float eps = o->epsilon > 0 ? o->epsilon : 1e-4f;
  float factor = o->exponential_avg_factor > 0 ? o->exponential_avg_factor : 1.0f;
  deft_output in[5] = {x, scale, offset, mean, variance};
  return build_bn(g, bn_type(o->version, false), in, 5, eps,
                  factor != 1.0f ? &factor : NULL, o->data_format, !o->inference, name);
}

/* ---- gradients (TF 1.x nn_grad.py's _BaseFusedBatchNormGrad) ---- */

/* Training: FusedBatchNormGrad(grad_y, x, scale, reserve_space_1, reserve_space_2[, rs3]);
 * inference: the same op with the population mean and variance and is_training false. The mean
 * and variance inputs get no gradient. (TF transposes NCHW inputs to NHWC for the inference
 * case; deft's kernel runs NCHW directly.) */
static void bn_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  if (!grads[0].op) return;
  float eps = 1e-4f;
  bool training = true;
  const char *fmt = "NHWC";
  deft_op_attr_float(op, "epsilon", &eps);
  deft_op_attr_bool(op, "is_training", &training);
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  const char *type = deft_op_type(op);
  int version = strstr(type, "V3") ? 3 : strstr(type, "V2") ? 2 : 1;
  deft_output in[6] = {grads[0], deft_op_input(op, 0), deft_op_input(op, 1),
                       training ? deft_op_output(op, 3) : deft_op_input(op, 3),
                       training ? deft_op_output(op, 4) : deft_op_input(op, 4),
                       version == 3 ? deft_op_output(op, 5) : grads[0]};
  deft_op *gop = build_bn(g, bn_type(version, true), in, version == 3 ? 6 : 5, eps, NULL, fmt,
                          training, NULL);
  if (!gop) return;
  for (int i = 0; i < 3; i++) dx[i] = deft_op_output(gop, i);
}

#define BN_ATTRS \
  "epsilon: float = 0.0001, exponential_avg_factor: float = 1, " \
  "data_format: {'NHWC', 'NCHW'} = 'NHWC', is_training: bool = true"
#define BN_GRAD_ATTRS \
  "epsilon: float = 0.0001, data_format: {'NHWC', 'NCHW'} = 'NHWC', is_training: bool = true"
#define BN_T "T: {half, bfloat16, float, double}"
#define BN_U "U: {float, double}"

static const deft_op_def fused_bn_defs[] = {
    {.type = "FusedBatchNorm", .inputs = "x: T, scale: T, offset: T, mean: T, variance: T",
     .outputs = "y: T, batch_mean: T, batch_variance: T, reserve_space_1: T, reserve_space_2: T",
     .attrs = "T: {float, double}, " BN_ATTRS, .shape = bn_shape, .prepare = bn_prepare,
     .kernel = bn_kernel, .grad = bn_grad_fn},
    {.type = "FusedBatchNormV2", .inputs = "x: T, scale: U, offset: U, mean: U, variance: U",
     .outputs = "y: T, batch_mean: U, batch_variance: U, reserve_space_1: U, reserve_space_2: U",
     .attrs = BN_T ", " BN_U ", " BN_ATTRS, .shape = bn_shape, .prepare = bn_prepare,
     .kernel = bn_kernel, .grad = bn_grad_fn},
    {.type = "FusedBatchNormV3", .inputs = "x: T, scale: U, offset: U, mean: U, variance: U",
     .outputs = "y: T, batch_mean: U, batch_variance: U, reserve_space_1: U, "
                "reserve_space_2: U, reserve_space_3: U",
     .attrs = BN_T ", " BN_U ", " BN_ATTRS, .shape = bn_shape, .prepare = bn_prepare,
     .kernel = bn_kernel, .grad = bn_grad_fn},
    {.type = "FusedBatchNormGrad",
     .inputs = "y_backprop: T, x: T, scale: T, reserve_space_1: T, reserve_space_2: T",
     .outputs = "x_backprop: T, scale_backprop: T, offset_backprop: T, reserve_space_3: T, "
                "reserve_space_4: T",
     .attrs = "T: {float, double}, " BN_GRAD_ATTRS, .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = bn_grad_shape, .prepare = bn_prepare, .kernel = bn_grad_kernel},
    {.type = "FusedBatchNormGradV2",
     .inputs = "y_backprop: T, x: T, scale: U, reserve_space_1: U, reserve_space_2: U",
     .outputs = "x_backprop: T, scale_backprop: U, offset_backprop: U, reserve_space_3: U, "
                "reserve_space_4: U",
     .attrs = BN_T ", " BN_U ", " BN_GRAD_ATTRS, .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = bn_grad_shape, .prepare = bn_prepare, .kernel = bn_grad_kernel},
    {.type = "FusedBatchNormGradV3",
     .inputs = "y_backprop: T, x: T, scale: U, reserve_space_1: U, reserve_space_2: U, "
               "reserve_space_3: U",
     .outputs = "x_backprop: T, scale_backprop: U, offset_backprop: U, reserve_space_4: U, "
                "reserve_space_5: U",
     .attrs = BN_T ", " BN_U ", " BN_GRAD_ATTRS, .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = bn_grad_shape, .prepare = bn_prepare, .kernel = bn_grad_kernel},
};

DEFT_FAMILY(deft_ops_fused_bn, fused_bn_defs);
