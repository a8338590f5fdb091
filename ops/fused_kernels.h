/* SPDX-License-Identifier: Apache-2.0 */
/* ops/fused_kernels.h - loops of the planner's fused steps (runtime/plan_fuse.c). Internal. */
#ifndef DEFT_OPS_FUSED_KERNELS_H
#define DEFT_OPS_FUSED_KERNELS_H

#include <stdint.h>

/* The elementwise op a fused column sum applies: Mul's a * b, SquaredDifference's
 * (a - b) * (a - b). */
typedef enum deft_fused_elem { DEFT_FUSED_MUL, DEFT_FUSED_SQDIFF } deft_fused_elem;

/* Rows [begin, end) of y = x * s + t, x and y [rows, cols] row-major, s and t [cols]: Mul's then
 * Add's rounding, as the two kernels give. */
void deft_fused_mul_add_rows_f32(const float *x, const float *s, const float *t, float *y,
                                 int64_t begin, int64_t end, int64_t cols);

/* out[j] = sum over i = 0..rows-1, in increasing i, of f(a[i, j], b[i, j]), where row i of a
 * starts at a + i * a_row (a_row 0: a row vector broadcast over the rows), the same for b; rows
 * >= 1. What the elementwise kernel followed by Sum over axis 0 gives. */
void deft_fused_colsum_f32(deft_fused_elem f, const float *a, int64_t a_row, const float *b,
                           int64_t b_row, float *out, int64_t rows, int64_t cols);

/* out[i] /= (float)count: Mean's division. */
void deft_fused_divide_f32(float *out, int64_t n, int64_t count);

/* ---- convolution / MatMul epilogues ----
 *
 * A chain of per-channel ops applied to a [rows, cols] float output, in order, each rounding as
 * its own kernel rounds (so the result is bit-identical to running the ops one after the other):
 *   ADD   v + a[j]             (BiasAdd, Add / AddV2 of a per-channel vector)
 *   MUL   v * a[j]             (Mul)
 *   SUB   v - a[j]             (Sub, the vector second)
 *   RSUB  a[j] - v             (Sub, the vector first)
 *   BN    (float)((double)v * da[j] + db[j])   (FusedBatchNorm without is_training: its kernel
 *         computes y in double from da = scale / sqrt(var + eps), db = offset - mean * da)
 * then an optional activation (Relu, Relu6, Elu, as ops/nn_kernels.c computes them). */
typedef enum deft_epi_op {
  DEFT_EPI_ADD,
  DEFT_EPI_MUL,
  DEFT_EPI_SUB,
  DEFT_EPI_RSUB,
  DEFT_EPI_BN
} deft_epi_op;
typedef enum deft_epi_act {
  DEFT_EPI_NONE,
  DEFT_EPI_RELU,
  DEFT_EPI_RELU6,
  DEFT_EPI_ELU
} deft_epi_act;
#define DEFT_EPI_MAX_OPS 8
typedef struct deft_epilogue {
  int nops;
  struct {
    deft_epi_op op;
    const float *a;          /* ADD..RSUB: cols floats */
    const double *da, *db;   /* BN: cols doubles each */
  } ops[DEFT_EPI_MAX_OPS];
  deft_epi_act act;
  /* The instruction set of the common loops (a conv_isa value, ops/conv_internal.h: 0 generic,
   * 1 AVX2, 2 AVX-512; the caller's choice, at most what the CPU runs). Results do not depend
   * on it. */
  int isa;
} deft_epilogue;

/* Applies e in place to y [rows, cols] (row stride cols). */
void deft_epilogue_rows_f32(const deft_epilogue *e, float *y, int64_t rows, int64_t cols);

#endif
