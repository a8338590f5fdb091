/* SPDX-License-Identifier: Apache-2.0 */
/* ops/fused_kernels.c - the loops of the steps the planner fuses (runtime/plan_fuse.c).
 *
 * Each computes what two of deft's own kernels compute one after the other, in one pass and with
 * the same roundings in the same order: every product, difference and sum is rounded to float
 * exactly where the unfused kernels round it (the library is built as ISO C11, so the compiler
 * contracts nothing into fused multiply-adds), and column sums add rows in increasing order, as
 * the reduction kernel's [R, B] pass does. So the results are bit-identical to the unfused ones. */
#include "ops/fused_kernels.h"

#include "base/simd.h"

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
