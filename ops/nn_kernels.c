/* SPDX-License-Identifier: Apache-2.0 */
/* ops/nn_kernels.c - the float32 inner loops of the nn family's hot kernels (ops/nn_ops.c calls
 * them): Elu/Selu/Tanh/Sigmoid through a vectorized expm1 or exp, the activation gradients, BiasAdd
 * over rows and BiasAddGrad's column sums. Each loop computes exactly what the generic kernels
 * compute (every element evaluated in double, rounded once to float), written so GCC vectorizes it,
 * with an AVX2 clone picked at load time. */
#include <math.h>
#include <string.h>

#include "ops/math_internal.h"
#include "ops/nn_internal.h"

/* TF's SELU constants (as ops/nn_ops.c). */
#define SELU_SCALE 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717

/* The shared range reduction of expm1_neg and exp_neg, branch free, for x <= 0 (x >= -159 ln2 so
 * the scale stays a normal double): x = k ln2 + r with |r| <= ln2/2; *scale = 2^k and the return
 * value is expm1(r) = r + r^2 (1/2 + r q(r)), q the degree-8 Chebyshev interpolant of
 * (expm1(r) - r - r^2/2) / r^3 on [-ln2/2, ln2/2] (fitted with mpmath at 40 digits; its
 * relative error, 7e-17, is below the steps' rounding). Every step is an explicit fma, so each
 * clone (and the baseline, through libm's exact fma) computes the same bits. The helpers are
 * always inlined and call __builtin_fma, so that even unoptimized (Debug) builds compute them
 * with the clones' FMA instructions: a call to libm's fma per step made the Debug suite's RNN
 * tests take minutes. */
static inline __attribute__((always_inline)) double reduce_neg(double x, double *scale) {
  const double shift = 0x1.8p52;
  double t = __builtin_fma(x, 1.4426950408889634, shift);
  double kd = t - shift;
  double r = __builtin_fma(kd, -1.90821492927058770002e-10,
                           __builtin_fma(kd, -6.93147180369123816490e-01, x));
  double q = 2.5095545981700220561e-8;
  q = __builtin_fma(q, r, 2.761379555451985871e-7);
  q = __builtin_fma(q, r, 2.7557280082684684328e-6);
  q = __builtin_fma(q, r, 2.4801536409064086483e-5);
  q = __builtin_fma(q, r, 1.9841269854330769641e-4);
  q = __builtin_fma(q, r, 1.3888888905871345597e-3);
  q = __builtin_fma(q, r, 8.3333333333321566899e-3);
  q = __builtin_fma(q, r, 4.1666666666651367274e-2);
  q = __builtin_fma(q, r, 1.6666666666666666667e-1);
  double h = __builtin_fma(q, r, 0.5);
  double p = __builtin_fma(h * r, r, r);
  uint64_t tb;
  memcpy(&tb, &t, sizeof tb);
  uint64_t sb = (tb + 1023) << 52; /* the low bits of t hold k; 2^k */
  memcpy(scale, &sb, sizeof *scale);
  return p;
}

/* expm1(x) in double for x in [-40, 0]: 2^k expm1(r) + (2^k - 1). Rounded to float it gives
 * glibc's expm1 rounded to float for every float in (-40, 0) (checked exhaustively, all 1.1e9;
 * tests/test_nn_ops.c checks a stride of them). */
static inline __attribute__((always_inline)) double expm1_neg(double x) {
  double scale, p = reduce_neg(x, &scale);
  return __builtin_fma(scale, p, scale - 1.0);
}

DEFT_SIMD_CLONES void deft_nn_elu_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    double c = v < -40.0f ? -40.0 : (v < 0.0f ? (double)v : 0.0);
    float e = (float)expm1_neg(c);
    y[i] = v < 0.0f ? e : v;
  }
}

DEFT_SIMD_CLONES void deft_nn_selu_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    double c = v < -40.0f ? -40.0 : (v < 0.0f ? (double)v : 0.0);
    float e = (float)(SELU_SCALE * SELU_ALPHA * expm1_neg(c));
    float p = (float)(SELU_SCALE * (double)v);
    y[i] = v < 0.0f ? e : p;
  }
}

/* Tanh: tanh(|v|) = -m / (2 + m) with m = expm1(-2|v|) (no cancellation near 0), |v| clamped
 * to 20 (beyond it the double result is 1), the sign put back; NaN passes through. */
DEFT_SIMD_CLONES void deft_nn_tanh_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float a = fabsf(v);
    double m = expm1_neg(a < 20.0f ? -2.0 * (double)a : -40.0);
    float t = copysignf((float)(-m / (2.0 + m)), v);
    y[i] = v == v ? t : v;
  }
}

/* exp(x) in double for x in [-110, 0]: 2^k (1 + expm1(r)). */
static inline __attribute__((always_inline)) double exp_neg(double x) {
  double scale, p = reduce_neg(x, &scale);
  return __builtin_fma(scale, p, scale);
}

/* Sigmoid: with e = exp(-|v|), 1 / (1 + e) for v >= 0 and e / (1 + e) below, as the generic
 * kernel; -|v| clamped to -110 (below about -104 the float result is 0 either way). */
DEFT_SIMD_CLONES void deft_nn_sigmoid_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float a = fabsf(v);
    double e = exp_neg(a < 110.0f ? -(double)a : -110.0);
    double d = 1.0 + e;
    float s = (float)((v >= 0.0f ? 1.0 : e) / d);
    y[i] = v == v ? s : v;
  }
}

/* SigmoidGrad(y, dy) = dy * y * (1 - y) and TanhGrad(y, dy) = dy * (1 - y * y), in double. */
DEFT_SIMD_CLONES void deft_nn_sigmoid_grad_f32(int64_t n, const float *restrict y,
                                               const float *restrict dy, float *restrict out) {
  for (int64_t i = 0; i < n; i++) {
    double a = y[i];
    out[i] = (float)((double)dy[i] * a * (1.0 - a));
  }
}

DEFT_SIMD_CLONES void deft_nn_tanh_grad_f32(int64_t n, const float *restrict y,
                                            const float *restrict dy, float *restrict out) {
  for (int64_t i = 0; i < n; i++) {
    double a = y[i];
    out[i] = (float)((double)dy[i] * (1.0 - a * a));
  }
}

DEFT_SIMD_CLONES void deft_nn_relu_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

DEFT_SIMD_CLONES void deft_nn_relu6_f32(int64_t n, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = v < 6.0f ? v : 6.0f;
  }
}

/* Relu6Grad(g, f): 0 < f < 6 ? g : 0. */
DEFT_SIMD_CLONES void deft_nn_relu6_grad_f32(int64_t n, const float *restrict g,
                                             const float *restrict f, float *restrict out) {
  for (int64_t i = 0; i < n; i++) out[i] = f[i] > 0.0f && f[i] < 6.0f ? g[i] : 0.0f;
}

/* EluGrad(g, y): y < 0 ? g * (y + 1) : g, the product in double. */
DEFT_SIMD_CLONES void deft_nn_elu_grad_f32(int64_t n, const float *restrict g,
                                           const float *restrict y, float *restrict out) {
  for (int64_t i = 0; i < n; i++) {
    float e = (float)((double)g[i] * ((double)y[i] + 1.0));
    out[i] = y[i] < 0.0f ? e : g[i];
  }
}

/* SeluGrad(g, y): y < 0 ? g * (y + scale*alpha) : g * scale. */
DEFT_SIMD_CLONES void deft_nn_selu_grad_f32(int64_t n, const float *restrict g,
                                            const float *restrict y, float *restrict out) {
  for (int64_t i = 0; i < n; i++) {
    float e = (float)((double)g[i] * ((double)y[i] + SELU_SCALE * SELU_ALPHA));
    float p = (float)((double)g[i] * SELU_SCALE);
    out[i] = y[i] < 0.0f ? e : p;
  }
}

/* ReluGrad(g, f): f > 0 ? g : 0. */
DEFT_SIMD_CLONES void deft_nn_relu_grad_f32(int64_t n, const float *restrict g,
                                            const float *restrict f, float *restrict out) {
  for (int64_t i = 0; i < n; i++) out[i] = f[i] > 0.0f ? g[i] : 0.0f;
}

/* y[r, :] = x[r, :] + b for rows [0, rows), the sum in float (exact as double then rounded). */
DEFT_SIMD_CLONES void deft_nn_bias_add_rows_f32(int64_t rows, int64_t ch, const float *restrict x,
                                                const float *restrict b, float *restrict y) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * ch;
    float *yr = y + r * ch;
    for (int64_t k = 0; k < ch; k++) yr[k] = xr[k] + b[k];
  }
}

/* out[k] = sum over rows r of x[r, k] for k in [0, ch), accumulated in double in row order. */
enum { COLS = 256 };
DEFT_SIMD_CLONES void deft_nn_col_sums_f32(int64_t rows, int64_t ch, const float *restrict x,
                                           float *restrict out) {
  double acc[COLS];
  for (int64_t k0 = 0; k0 < ch; k0 += COLS) {
    int64_t w = ch - k0 < COLS ? ch - k0 : COLS;
    for (int64_t j = 0; j < w; j++) acc[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
      const float *xr = x + r * ch + k0;
      for (int64_t j = 0; j < w; j++) acc[j] += (double)xr[j];
    }
    for (int64_t j = 0; j < w; j++) out[k0 + j] = (float)acc[j];
  }
}

/* ---- softmax rows (Softmax, SparseSoftmaxCrossEntropyWithLogits) ---- */

/* x[i] = exp(x[i]) in place for i < n, each x[i] <= 0 and finite. */
DEFT_SIMD_CLONES static void exp_in_place(int64_t n, double *restrict x) {
  for (int64_t i = 0; i < n; i++) x[i] = exp_neg(x[i] > -110.0 ? x[i] : -110.0);
}

/* *max = the largest of x[0 .. n), n >= 1; false when x holds a NaN or an infinity. */
static bool row_max(int64_t n, const float *x, float *max) {
  float m = x[0];
  bool finite = true;
  for (int64_t j = 0; j < n; j++) {
    float v = x[j];
    finite &= v - v == 0.0f;
    m = v > m ? v : m;
  }
  *max = m;
  return finite;
}

/* e[j] = exp(x[j] - m) for j < n. */
static void exp_shifted(int64_t n, const float *x, double m, double *e) {
  for (int64_t j = 0; j < n; j++) e[j] = (double)x[j] - m;
  exp_in_place(n, e);
}

/* One finite row longer than the block: the exps in blocks, twice (the sum, then the outputs). */
static void long_row(int64_t n, const float *x, double m, const int64_t *label, float *loss,
                     float *out) {
  double e[DEFT_NN_SOFTMAX_BLOCK], s = 0;
  for (int64_t j0 = 0; j0 < n; j0 += DEFT_NN_SOFTMAX_BLOCK) {
    int64_t w = n - j0 < DEFT_NN_SOFTMAX_BLOCK ? n - j0 : DEFT_NN_SOFTMAX_BLOCK;
    exp_shifted(w, x + j0, m, e);
    for (int64_t j = 0; j < w; j++) s += e[j]; /* in order, as the generic loop */
  }
  for (int64_t j0 = 0; j0 < n; j0 += DEFT_NN_SOFTMAX_BLOCK) {
    int64_t w = n - j0 < DEFT_NN_SOFTMAX_BLOCK ? n - j0 : DEFT_NN_SOFTMAX_BLOCK;
    exp_shifted(w, x + j0, m, e);
    for (int64_t j = 0; j < w; j++) out[j0 + j] = (float)(e[j] / s);
    if (label && *label >= j0 && *label < j0 + w)
      out[*label] = (float)(e[*label - j0] / s - 1.0);
  }
  if (label) *loss = (float)(log(s) - ((double)x[*label] - m));
}

bool deft_nn_softmax_block_f32(int64_t rows, int64_t cols, const float *x, const int64_t *labels,
                               float *loss, float *out, bool *bad) {
  if (cols > DEFT_NN_SOFTMAX_BLOCK) { /* rows == 1 */
    float m;
    bad[0] = !row_max(cols, x, &m);
    if (!bad[0]) long_row(cols, x, m, labels, loss, out);
    return bad[0];
  }
  double e[DEFT_NN_SOFTMAX_BLOCK], mx[DEFT_NN_SOFTMAX_BLOCK];
  bool any = false;
  for (int64_t r = 0; r < rows; r++) {
    const float *in = x + r * cols;
    float m;
    bad[r] = !row_max(cols, in, &m);
    any |= bad[r];
    mx[r] = bad[r] ? 0.0 : (double)m;
    for (int64_t j = 0; j < cols; j++) e[r * cols + j] = bad[r] ? 0.0 : (double)in[j] - mx[r];
  }
  exp_in_place(rows * cols, e); /* one vector pass over the block, whatever the row length */
  for (int64_t r = 0; r < rows; r++) {
    if (bad[r]) continue;
    const double *er = e + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += er[j]; /* in order, as the generic loop */
    float *o = out + r * cols;
    for (int64_t j = 0; j < cols; j++) o[j] = (float)(er[j] / s);
    if (labels) {
      int64_t lab = labels[r];
      loss[r] = (float)(log(s) - ((double)x[r * cols + lab] - mx[r]));
      o[lab] = (float)(er[lab] / s - 1.0);
    }
  }
  return any;
}
