/* SPDX-License-Identifier: Apache-2.0 */
/* ops/fused_kernels.c - the loops of the steps the planner fuses (runtime/plan_fuse.c).
 *
 * Each computes what two of deft's own kernels compute one after the other, in one pass and with
 * the same roundings in the same order: every product, difference and sum is rounded to float
 * exactly where the unfused kernels round it (the library is built as ISO C11, so the compiler
 * contracts nothing into fused multiply-adds), and column sums add rows in increasing order, as
 * the reduction kernel's [R, B] pass does. So the results are bit-identical to the unfused ones.
 * The epilogues (deft_epilogue_rows_f32) apply each per-channel op as its own kernel rounds it
 * (the batch norm in double, as ops/fused_bn_ops.c; Elu through ops/nn_kernels.c's loop), in
 * the chain's order. */
#include "ops/fused_kernels.h"

#include <stdbool.h>
#include <string.h>

#include "base/simd.h"
#include "ops/nn_internal.h"

DEFT_SIMD_CLONES void deft_fused_mul_add_rows_f32(const float *x, const float *s, const float *t,
                                                  float *y, int64_t begin, int64_t end,
                                                  int64_t cols) {
  for (int64_t i = begin; i < end; i++) {
    const float *restrict xr = x + i * cols;
    float *restrict yr = y + i * cols;
    for (int64_t j = 0; j < cols; j++) {
      float m = xr[j] * s[j];
      yr[j] = m + t[j];
    }
  }
}

/* d[j] (+)= f(a[j], b[j]) over one row. */
#define ROW_LOOP(FIRST, EXPR)          \
  for (int64_t j = 0; j < cols; j++) { \
    float av = ar[j], bv = br[j];      \
    float v = EXPR;                    \
    if (FIRST)                         \
      d[j] = v;                        \
    else                               \
      d[j] = d[j] + v;                 \
  }

DEFT_SIMD_CLONES void deft_fused_colsum_f32(deft_fused_elem f, const float *a, int64_t a_row,
                                            const float *b, int64_t b_row, float *out, int64_t rows,
                                            int64_t cols) {
  float *restrict d = out;
  for (int64_t i = 0; i < rows; i++) {
    const float *restrict ar = a + i * a_row;
    const float *restrict br = b + i * b_row;
    if (f == DEFT_FUSED_MUL) {
      if (i == 0)
        ROW_LOOP(1, av * bv)
      else
        ROW_LOOP(0, av * bv)
    } else {
      if (i == 0)
        ROW_LOOP(1, (av - bv) * (av - bv))
      else
        ROW_LOOP(0, (av - bv) * (av - bv))
    }
  }
}

void deft_fused_divide_f32(float *out, int64_t n, int64_t count) {
  float k = (float)count;
  for (int64_t i = 0; i < n; i++) out[i] /= k;
}

/* ---- epilogues ---- */

/* One op over one row. */
DEFT_SIMD_CLONES static void epi_row(deft_epi_op op, const float *restrict a,
                                     const double *restrict da, const double *restrict db,
                                     float *restrict y, int64_t cols) {
  switch (op) {
    case DEFT_EPI_ADD:
      for (int64_t j = 0; j < cols; j++) y[j] = y[j] + a[j];
      break;
    case DEFT_EPI_MUL:
      for (int64_t j = 0; j < cols; j++) y[j] = y[j] * a[j];
      break;
    case DEFT_EPI_SUB:
      for (int64_t j = 0; j < cols; j++) y[j] = y[j] - a[j];
      break;
    case DEFT_EPI_RSUB:
      for (int64_t j = 0; j < cols; j++) y[j] = a[j] - y[j];
      break;
    case DEFT_EPI_BN:
      for (int64_t j = 0; j < cols; j++) y[j] = (float)((double)y[j] * da[j] + db[j]);
      break;
  }
}

/* The common epilogues, one loop over the block with the activation fixed: BiasAdd (+ Relu /
 * Relu6) and a frozen batch norm's Mul + Add (+ Relu / Relu6). */
#define RELU_F(v) ((v) > 0.0f ? (v) : 0.0f)
#define RELU6_F(v) (RELU_F(v) < 6.0f ? RELU_F(v) : 6.0f)
#define NONE_F(v) (v)
#define EPI_LOOPS(ACT)                                                                           \
  DEFT_SIMD_CLONES static void epi_add_##ACT(const float *restrict a, float *restrict y,         \
                                             int64_t rows, int64_t cols) {                       \
    for (int64_t i = 0; i < rows; i++, y += cols)                                                \
      for (int64_t j = 0; j < cols; j++) {                                                       \
        float v = y[j] + a[j];                                                                   \
        y[j] = ACT##_F(v);                                                                       \
      }                                                                                          \
  }                                                                                              \
  DEFT_SIMD_CLONES static void epi_mul_add_##ACT(const float *restrict s,                        \
                                                 const float *restrict t, float *restrict y,     \
                                                 int64_t rows, int64_t cols) {                   \
    for (int64_t i = 0; i < rows; i++, y += cols)                                                \
      for (int64_t j = 0; j < cols; j++) {                                                       \
        float m = y[j] * s[j];                                                                   \
        float v = m + t[j];                                                                      \
        y[j] = ACT##_F(v);                                                                       \
      }                                                                                          \
  }
EPI_LOOPS(NONE)
EPI_LOOPS(RELU)
EPI_LOOPS(RELU6)

DEFT_SIMD_CLONES static void epi_act(deft_epi_act act, float *restrict y, int64_t n) {
  if (act == DEFT_EPI_RELU) {
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
  } else if (act == DEFT_EPI_RELU6) {
    for (int64_t i = 0; i < n; i++) {
      float v = y[i] > 0.0f ? y[i] : 0.0f;
      y[i] = v < 6.0f ? v : 6.0f;
    }
  } else if (act == DEFT_EPI_ELU) {
    float tmp[256];
    for (int64_t i = 0; i < n; i += 256) {
      int64_t k = n - i < 256 ? n - i : 256;
      memcpy(tmp, y + i, sizeof(float) * (size_t)k);
      deft_nn_elu_f32(k, tmp, y + i);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define EPI_X86 1

/* The common loops with explicit vectors: y = act(y * s + t) (s NULL: y + t), act 0 none,
 * 1 Relu, 2 Relu6. max(v, 0) and min(v, 6) are the instructions' (second operand on NaN or
 * equal), i.e. exactly `v > 0 ? v : 0` and `v < 6 ? v : 6`; the multiply and add round
 * separately (no FMA). */
__attribute__((target("avx512f"))) static void epi_fast_512(const float *s, const float *t,
                                                            float *y, int64_t rows, int64_t cols,
                                                            int act) {
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
  for (int64_t i = 0; i < rows; i++, y += cols)
    for (int64_t j = 0; j < cols; j += 16) {
      __mmask16 m = (__mmask16)(cols - j >= 16 ? 0xffff : (1u << (cols - j)) - 1);
      __m512 v = _mm512_maskz_loadu_ps(m, y + j);
      if (s) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, s + j));
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, t + j));
      if (act) v = _mm512_max_ps(v, zero);
      if (act == 2) v = _mm512_min_ps(v, six);
      _mm512_mask_storeu_ps(y + j, m, v);
    }
}

__attribute__((target("avx2"))) static void epi_fast_256(const float *s, const float *t,
                                                         float *y, int64_t rows, int64_t cols,
                                                         int act) {
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  for (int64_t i = 0; i < rows; i++, y += cols) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      __m256 v = _mm256_loadu_ps(y + j);
      if (s) v = _mm256_mul_ps(v, _mm256_loadu_ps(s + j));
      v = _mm256_add_ps(v, _mm256_loadu_ps(t + j));
      if (act) v = _mm256_max_ps(v, zero);
      if (act == 2) v = _mm256_min_ps(v, six);
      _mm256_storeu_ps(y + j, v);
    }
    for (; j < cols; j++) {
      float v = y[j];
      if (s) {
        float m = v * s[j];
        v = m;
      }
      v = v + t[j];
      if (act) v = v > 0.0f ? v : 0.0f;
      if (act == 2) v = v < 6.0f ? v : 6.0f;
      y[j] = v;
    }
  }
}
#endif

/* Applies e to rows of `cols`. */
static void epilogue_apply(const deft_epilogue *e, float *y, int64_t rows, int64_t cols) {
  deft_epi_act act = e->act;
#ifdef EPI_X86
  bool add1 = e->nops == 1 && e->ops[0].op == DEFT_EPI_ADD;
  bool muladd = e->nops == 2 && e->ops[0].op == DEFT_EPI_MUL && e->ops[1].op == DEFT_EPI_ADD;
  if (e->isa >= 1 && (add1 || muladd) && act != DEFT_EPI_ELU) {
    const float *s = muladd ? e->ops[0].a : NULL, *t = e->ops[muladd ? 1 : 0].a;
    int a = act == DEFT_EPI_NONE ? 0 : act == DEFT_EPI_RELU ? 1 : 2;
    if (e->isa >= 2)
      epi_fast_512(s, t, y, rows, cols, a);
    else
      epi_fast_256(s, t, y, rows, cols, a);
    return;
  }
#endif
  if (e->nops == 1 && e->ops[0].op == DEFT_EPI_ADD && act != DEFT_EPI_ELU) {
    (act == DEFT_EPI_NONE   ? epi_add_NONE
     : act == DEFT_EPI_RELU ? epi_add_RELU
                            : epi_add_RELU6)(e->ops[0].a, y, rows, cols);
    return;
  }
  if (e->nops == 2 && e->ops[0].op == DEFT_EPI_MUL && e->ops[1].op == DEFT_EPI_ADD &&
      act != DEFT_EPI_ELU) {
    (act == DEFT_EPI_NONE   ? epi_mul_add_NONE
     : act == DEFT_EPI_RELU ? epi_mul_add_RELU
                            : epi_mul_add_RELU6)(e->ops[0].a, e->ops[1].a, y, rows, cols);
    return;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int k = 0; k < e->nops; k++)
      epi_row(e->ops[k].op, e->ops[k].a, e->ops[k].da, e->ops[k].db, y + i * cols, cols);
  epi_act(act, y, rows * cols);
}

/* Rows narrower than this that divide it are handled EPI_W floats at a time, the vectors
 * repeated to that width (a few full vector registers a row instead of one part-filled one). */
#define EPI_W 64

void deft_epilogue_rows_f32(const deft_epilogue *e, float *y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  int64_t n = rows * cols;
  if (cols >= EPI_W || EPI_W % cols != 0 || n < EPI_W) {
    epilogue_apply(e, y, rows, cols);
    return;
  }
  deft_epilogue w = *e;
  float fa[DEFT_EPI_MAX_OPS][EPI_W];
  double da[DEFT_EPI_MAX_OPS][EPI_W], db[DEFT_EPI_MAX_OPS][EPI_W];
  for (int k = 0; k < e->nops; k++) {
    for (int64_t j = 0; j < EPI_W; j += cols) {
      if (e->ops[k].op == DEFT_EPI_BN) {
        memcpy(da[k] + j, e->ops[k].da, sizeof(double) * (size_t)cols);
        memcpy(db[k] + j, e->ops[k].db, sizeof(double) * (size_t)cols);
      } else {
        memcpy(fa[k] + j, e->ops[k].a, sizeof(float) * (size_t)cols);
      }
    }
    w.ops[k].a = fa[k];
    w.ops[k].da = da[k];
    w.ops[k].db = db[k];
  }
  int64_t wide = n / EPI_W;
  epilogue_apply(&w, y, wide, EPI_W);
  epilogue_apply(e, y + wide * EPI_W, (n - wide * EPI_W) / cols, cols);
}
