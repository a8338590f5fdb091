/* SPDX-License-Identifier: Apache-2.0 */
/* ops/quantize_ops.c - TF's quantization ops on the quantized types qint8, quint8 and qint32:
 * QuantizeV2 (float -> quantized, with the range it used) and Dequantize (quantized + range ->
 * float), in the three modes TF 1.x documents. Definition, shape function, prepare (mode, round
 * mode and type read once), kernel and public constructors side by side. Neither op is
 * differentiable (TF 1.x registers no gradient for them).
 *
 * With lo, hi the type's limits (qint8 [-128, 127], quint8 [0, 255], qint32 [-2^31, 2^31 - 1])
 * and range = hi - lo:
 *   QuantizeV2 first widens the range as TF's kernel: min = min(0, min_range),
 *   max = max(max_range, min + max(1, |min_range|, |max_range|) / 100); outputs 1 and 2 are
 *   (min, max). Then per element x:
 *   - MIN_COMBINED: q = round((clamp(x, min, max) - min) * range / (max - min)
 *                             - (signed ? (range + 1) / 2 : 0))
 *   - MIN_FIRST:    steps = 2^bits, scale = steps / ((max - min) * steps / (steps - 1)),
 *                   q = round(x * scale) - round(min * scale) + lo, clamped to [lo, hi]
 *   - SCALED:       m = max(|min|, |max|), s = (signed ? 2^(bits-1) - 1 : 2^bits - 1) / m,
 *                   q = round(clamp(x, signed ? -m : 0, m) * s)
 *   round_mode HALF_AWAY_FROM_ZERO (C's round) or HALF_TO_EVEN (rint).
 *   Dequantize inverts each: MIN_COMBINED min + (q + (signed ? (range + 1) / 2 : 0)) *
 *   (max - min) / range; MIN_FIRST min + (q - lo) * (max - min) * steps / (steps - 1) / steps;
 *   SCALED q * m / (signed ? 2^(bits-1) - 1 : 2^bits - 1). Arithmetic in double. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

typedef enum { Q_MIN_COMBINED, Q_MIN_FIRST, Q_SCALED } qmode;

typedef struct {
  qmode mode;
  bool half_to_even;
  deft_dtype t;
  double lo, hi;
  int bits;
  bool is_signed;
} quant_params;

static bool read_string_attr(deft_prepare_ctx *p, const char *name, const char *const *choices,
                             int n, int *out) {
  const struct deft_attr *a = deft_prepare_find_attr(p, name);
  if (!a || a->v.kind != DEFT_ATTR_STRING) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr '%s' is missing or not a string", name);
    return false;
  }
  for (int i = 0; i < n; i++)
    if (!strcmp(a->v.u.s.p, choices[i])) {
      *out = i;
      return true;
    }
  deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr '%s' is '%s', not one deft knows", name,
                    a->v.u.s.p);
  return false;
}

/* Mode, round mode (QuantizeV2) and the quantized type's facts. */
static void quant_prepare_common(deft_prepare_ctx *p, bool quantize) {
  static const char *const modes[] = {"MIN_COMBINED", "MIN_FIRST", "SCALED"};
  static const char *const rounds[] = {"HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN"};
  int mode = 0, round = 0;
  deft_dtype t = deft_prepare_attr_type(p, "T");
  if (deft_prepare_failed(p) || !read_string_attr(p, "mode", modes, 3, &mode)) return;
  if (quantize && !read_string_attr(p, "round_mode", rounds, 2, &round)) return;
  quant_params *qp = deft_prepare_params(p, sizeof *qp);
  if (!qp) return;
  qp->mode = (qmode)mode;
  qp->half_to_even = round == 1;
  qp->t = t;
  switch (t) {
    case DEFT_QINT8: qp->lo = -128, qp->hi = 127, qp->bits = 8, qp->is_signed = true; break;
    case DEFT_QUINT8: qp->lo = 0, qp->hi = 255, qp->bits = 8, qp->is_signed = false; break;
    case DEFT_QINT32:
      qp->lo = -2147483648.0, qp->hi = 2147483647.0, qp->bits = 32, qp->is_signed = true;
      break;
    default:
      deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "deft quantizes to qint8, quint8 and qint32, not "
                        "%s", deft_tf_type_name((int)t) ? deft_tf_type_name((int)t) : "?");
      return;
  }
}

static void quantize_prepare(deft_prepare_ctx *p) { quant_prepare_common(p, true); }
static void dequantize_prepare(deft_prepare_ctx *p) { quant_prepare_common(p, false); }

/* The scalar float input i, or false after failing. */
static bool scalar_float(deft_kernel_ctx *c, int i, float *v) {
  const deft_tensor *t = deft_kernel_input(c, i);
  if (t->n != 1 || t->rank > 1) {
    char sh[64];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a scalar, got shape %s",
                     deft_kernel_input_name(c, i),
                     deft_shape_format(deft_tensor_shape(t), sh, sizeof sh));
    return false;
  }
  *v = deft_tensor_f32(t)[0];
  if (!isfinite(*v)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be finite, got %g",
                     deft_kernel_input_name(c, i), (double)*v);
    return false;
  }
  return true;
}

static bool read_range(deft_kernel_ctx *c, float *lo, float *hi) {
  if (!scalar_float(c, 1, lo) || !scalar_float(c, 2, hi)) return false;
  if (*lo > *hi) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "min_range (%g) must not exceed max_range (%g)",
                     (double)*lo, (double)*hi);
    return false;
  }
  return true;
}

static void store_q(deft_tensor *o, int64_t i, double q) {
  switch (o->dtype) {
    case DEFT_QINT8: ((int8_t *)o->buf->data)[i] = (int8_t)q; break;
    case DEFT_QUINT8: ((uint8_t *)o->buf->data)[i] = (uint8_t)q; break;
    default: ((int32_t *)o->buf->data)[i] = (int32_t)q; break;
  }
}

static double load_q(const deft_tensor *t, int64_t i) {
  switch (t->dtype) {
    case DEFT_QINT8: return ((const int8_t *)t->buf->data)[i];
    case DEFT_QUINT8: return ((const uint8_t *)t->buf->data)[i];
    default: return ((const int32_t *)t->buf->data)[i];
  }
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static void quantize_kernel(deft_kernel_ctx *c) {
  const quant_params *qp = deft_kernel_params(c);
  const deft_tensor *x = deft_kernel_input(c, 0);
  float in_lo, in_hi;
  if (!read_range(c, &in_lo, &in_hi)) return;
  float mn = fminf(0.0f, in_lo);
  float eps = fmaxf(1.0f, fmaxf(fabsf(in_lo), fabsf(in_hi))) / 100.0f;
  float mx = fmaxf(in_hi, mn + eps);
  deft_tensor *o = deft_kernel_output(c, 0, qp->t, x->dims, x->rank);
  deft_tensor *omin = o ? deft_kernel_output(c, 1, DEFT_FLOAT, NULL, 0) : NULL;
  deft_tensor *omax = omin ? deft_kernel_output(c, 2, DEFT_FLOAT, NULL, 0) : NULL;
  if (!omax) return;
  deft_tensor_f32(omin)[0] = mn;
  deft_tensor_f32(omax)[0] = mx;
  const float *xv = deft_tensor_f32(x);
  double range = qp->hi - qp->lo, dmn = mn, dmx = mx;
  double (*rnd)(double) = qp->half_to_even ? rint : round;
  if (qp->mode == Q_MIN_COMBINED) {
    double scale = range / (dmx - dmn), half = qp->is_signed ? (range + 1) / 2 : 0;
    for (int64_t i = 0; i < x->n; i++)
      store_q(o, i, clampd(rnd((clampd(xv[i], dmn, dmx) - dmn) * scale - half), qp->lo, qp->hi));
  } else if (qp->mode == Q_MIN_FIRST) {
    double steps = ldexp(1.0, qp->bits);
    double scale = steps / ((dmx - dmn) * (steps / (steps - 1.0)));
    double base = round(dmn * scale);
    for (int64_t i = 0; i < x->n; i++)
      store_q(o, i, clampd(round((double)xv[i] * scale) - base + qp->lo, qp->lo,
                           qp->hi));
  } else {
    double m = fmax(fabs(dmn), fabs(dmx));
    double target = qp->is_signed ? ldexp(1.0, qp->bits - 1) - 1 : ldexp(1.0, qp->bits) - 1;
    double s = target / m, low = qp->is_signed ? -m : 0;
    for (int64_t i = 0; i < x->n; i++)
      store_q(o, i, clampd(rnd(clampd(xv[i], low, m) * s), -target, target));
  }
}

static void dequantize_kernel(deft_kernel_ctx *c) {
  const quant_params *qp = deft_kernel_params(c);
  const deft_tensor *x = deft_kernel_input(c, 0);
  float lo, hi;
  if (!read_range(c, &lo, &hi)) return;
  if (x->dtype != qp->t) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input is %s, but T is %s",
                     deft_dtype_name(x->dtype), deft_dtype_name(qp->t));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, DEFT_FLOAT, x->dims, x->rank);
  if (!o) return;
  float *ov = deft_tensor_f32(o);
  double range = qp->hi - qp->lo, dlo = lo, dhi = hi;
  if (qp->mode == Q_MIN_COMBINED) {
    double scale = (dhi - dlo) / range, half = qp->is_signed ? (range + 1) / 2 : 0;
    for (int64_t i = 0; i < x->n; i++) ov[i] = (float)(dlo + (load_q(x, i) + half) * scale);
  } else if (qp->mode == Q_MIN_FIRST) {
    double steps = ldexp(1.0, qp->bits);
    double scale = (dhi - dlo) * (steps / (steps - 1.0)) / steps;
    for (int64_t i = 0; i < x->n; i++)
      ov[i] = dlo == dhi ? lo : (float)(dlo + (load_q(x, i) - qp->lo) * scale);
  } else {
    double m = fmax(fabs(dlo), fabs(dhi));
    double target = qp->is_signed ? ldexp(1.0, qp->bits - 1) - 1 : ldexp(1.0, qp->bits) - 1;
    for (int64_t i = 0; i < x->n; i++) ov[i] = (float)(load_q(x, i) * (m / target));
  }
}

/* Output 0 = input 0's shape; the range inputs must be scalars. */
static void quant_shape(deft_shape_ctx *c) {
  for (int i = 1; i <= 2; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank > 0 && !(s.rank == 1 && s.dims[0] == 1)) {
      char sh[64];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be a scalar, got shape %s",
                      i, i == 1 ? "min_range" : "max_range", deft_shape_format(s, sh, sizeof sh));
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 0));
  for (int i = 1; i < deft_shape_ctx_num_outputs(c); i++)
    deft_shape_ctx_set_output(c, i, deft_shape_make(0, NULL));
}

#define QTYPES "{qint8, quint8, qint32, qint16, quint16}"
#define QMODES "mode: {'MIN_COMBINED', 'MIN_FIRST', 'SCALED'} = 'MIN_COMBINED'"

static const deft_op_def quantize_defs[] = {
    {.type = "QuantizeV2", .inputs = "input: float, min_range: float, max_range: float",
     .outputs = "output: T, output_min: float, output_max: float",
     .attrs = "T: " QTYPES ", " QMODES ", "
              "round_mode: {'HALF_AWAY_FROM_ZERO', 'HALF_TO_EVEN'} = 'HALF_AWAY_FROM_ZERO'",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = quant_shape, .prepare = quantize_prepare,
     .kernel = quantize_kernel},
    {.type = "Dequantize", .inputs = "input: T, min_range: float, max_range: float",
     .outputs = "output: float", .attrs = "T: " QTYPES ", " QMODES,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = quant_shape, .prepare = dequantize_prepare,
     .kernel = dequantize_kernel},
};

DEFT_FAMILY(deft_ops_quantize, quantize_defs);

static void set_string(deft_op_builder *b, const char *attr, const char *v, const char *dflt) {
  if (!v) v = dflt;
  deft_op_builder_set_attr_string(b, attr, v, strlen(v));
}

deft_op *deft_quantize_v2(deft_graph *g, deft_output input, deft_output min_range,
                          deft_output max_range, deft_dtype t, const char *mode,
                          const char *round_mode, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "QuantizeV2", name);
  deft_op_builder_add_input(b, input);
  deft_op_builder_add_input(b, min_range);
  deft_op_builder_add_input(b, max_range);
  deft_op_builder_set_attr_type(b, "T", t);
  set_string(b, "mode", mode, "MIN_COMBINED");
  set_string(b, "round_mode", round_mode, "HALF_AWAY_FROM_ZERO");
  return deft_op_builder_finish(b);
}

deft_output deft_dequantize(deft_graph *g, deft_output input, deft_output min_range,
                            deft_output max_range, const char *mode, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Dequantize", name);
  deft_op_builder_add_input(b, input);
  deft_op_builder_add_input(b, min_range);
  deft_op_builder_add_input(b, max_range);
  set_string(b, "mode", mode, "MIN_COMBINED");
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return o;
}
