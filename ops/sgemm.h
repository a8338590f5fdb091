/* SPDX-License-Identifier: Apache-2.0 */
/* ops/sgemm.h - single-precision matrix products for the kernels: deft's own packed AVX-512
 * GEMM where the CPU runs AVX-512F at full width (chosen at run time), OpenBLAS's sgemm
 * elsewhere. Internal to
 * the library.
 *
 * Row-major C[M, N] = alpha * op(A)[M, K] op(B)[K, N] + beta * C, op(X) = X or X^T, as
 * cblas_sgemm(CblasRowMajor, ...). One call runs on the calling thread; callers split products
 * over their threads themselves (each part with its own workspace). Results do not depend on
 * how a caller splits C's rows or columns: each element is a sum over K in the same order.
 *
 * Thread-safety: reentrant; concurrent calls need distinct workspaces and distinct C. */
#ifndef DEFT_OPS_SGEMM_H
#define DEFT_OPS_SGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of workspace one deft_sgemm call needs, whatever the shape (a constant, under 1 MiB). */
size_t deft_sgemm_workspace_bytes(void);

/* True iff this CPU runs deft's own kernel (AVX-512F), and deft_sgemm_force_openblas is not set
 * on the calling thread: deft_sgemm with a workspace then uses it. Kernels ask once, on the
 * thread running the kernel, and pass work = NULL to their parts otherwise. */
bool deft_sgemm_has_own_kernel(void);

/* Tests: on the calling thread, deft_sgemm_has_own_kernel answers false, so the kernels run there
 * take the OpenBLAS path (the path of CPUs without AVX-512F). */
void deft_sgemm_force_openblas(bool on);

/* True iff the OpenBLAS loaded runs 512-bit kernels (openblas_get_corename names SkylakeX,
 * Cooperlake or SapphireRapids: what it detected, or what OPENBLAS_CORETYPE chose). */
bool deft_sgemm_openblas_has_avx512(void);

/* True iff, on the calling thread, the products deft_sgemm_worth_packing accepts run deft's
 * packed kernel: deft_sgemm_has_own_kernel(), and OpenBLAS's kernels are not the faster ones,
 * which they are when they use AVX-512 themselves (deft_sgemm_openblas_has_avx512) and on AMD's
 * Zen 4 (family 19h, which splits 512-bit FMAs into 256-bit halves). There OpenBLAS runs those
 * products (GEMV and few-row products keep deft's kernels). Kernels ask once, on the thread
 * running the kernel, and pass a workspace to their parts only then. Any thread. */
bool deft_sgemm_packs(void);

/* Which dense kernel runs the large products on the calling thread (what a cheaper path, such
 * as the sparse products of ops/matmul_sparse.c, must beat): deft's packed kernel
 * (deft_sgemm_packs), OpenBLAS's AVX-512 kernels on a core that runs 512-bit FMAs at full width,
 * or OpenBLAS's other kernels (or its AVX-512 ones on Zen 4). Any thread. */
typedef enum deft_sgemm_dense {
  DEFT_SGEMM_OWN,
  DEFT_SGEMM_OPENBLAS_FULL,
  DEFT_SGEMM_OPENBLAS
} deft_sgemm_dense;
deft_sgemm_dense deft_sgemm_dense_kernel(void);

/* Tests: on the calling thread, deft_sgemm_packs answers as deft_sgemm_has_own_kernel (the
 * packed kernel runs wherever the CPU has AVX-512F, whatever OpenBLAS's kernel, Zen 4 included). */
void deft_sgemm_force_own(bool on);

/* True iff a whole product of this shape is large enough for the packed kernel to beat
 * OpenBLAS's small-matrix paths. Callers decide once per product (not per part), so that how a
 * product is split over threads never changes which kernel computes an element. */
bool deft_sgemm_worth_packing(int64_t M, int64_t N, int64_t K);

/* The row count that C's row blocks should be multiples of (the register tile's height on this
 * CPU; not affected by deft_sgemm_force_openblas, since it sizes buffers on several threads). */
int64_t deft_sgemm_row_multiple(void);

/* C = alpha op(A) op(B) + beta C (beta 0: C is only written, never read, so it may hold NaNs).
 * lda/ldb/ldc are row strides in elements. `work` is deft_sgemm_workspace_bytes() bytes, 64-byte
 * aligned: deft's kernel runs when the CPU has AVX-512F (callers pass one where deft_sgemm_packs);
 * with work NULL, OpenBLAS runs. Any shape (dimensions >= 0 that fit an int). */
void deft_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                void *work);

/* A vector times a matrix: y[j] = sum over k of x[k] op(B)[k, j] for j in [0, N), op(B) = B
 * ([K, N], row stride ldb) or, when tb, B^T (B [N, K], row stride ldb). y is only written; K may
 * be 0 (y = 0). With own set to deft_sgemv_own(tb) (the caller asks once per product, on the
 * thread running the kernel, and passes the answer to every part), deft's kernel runs where
 * that answer is true: each y[j] is then computed the same way whatever N and whichever columns
 * a call covers, so callers may split the columns over their threads (by offsetting B and y)
 * without changing a bit. Otherwise (own false) OpenBLAS's sgemv runs, whose results do depend
 * on such a split. */
void deft_sgemv(bool tb, int64_t N, int64_t K, const float *x, const float *B, int64_t ldb,
                float *y, bool own);

/* True iff deft_sgemv(tb, ..., own = true) runs deft's own kernel on the calling thread: the
 * AVX-512F kernels where deft_sgemm_has_own_kernel() (x B: each y[j] the fused multiply-add
 * chain fma(x[K-1], B[K-1, j], ... fma(x[0], B[0, j], 0)); x B^T: 16-lane partial dot products
 * summed in a fixed order), else, for x B only, the AVX2 + FMA kernel (the same chain, so the
 * same bits as the AVX-512 one) on CPUs with AVX2 and FMA. */
bool deft_sgemv_own(bool tb);

/* The rows of B that a sparse x selects: y[j] = sum over i < nk of v[i] B[idx[i], j] for j in
 * [0, N), B [K, N] row-major (row stride ldb), idx increasing. Each y[j] is the chain of fused
 * multiply-adds deft_sgemv's own kernel computes with x's zero terms left out, so where B is
 * all finite the result is deft_sgemv's (own) for the x with v at idx and zeros elsewhere, bit
 * for bit, and the sparse MatMul's (ops/matmul_sparse.c) as well. Call where
 * deft_sgemv_own(false) (without AVX2, a slow portable loop computes the same sums). y is only
 * written; nk may be 0 (y = 0). */
void deft_sgemv_rows(int64_t N, int64_t nk, const int32_t *idx, const float *v, const float *B,
                     int64_t ldb, float *y);

/* C[M, N] = op(A) B (B not transposed; C only written) for products of a few rows, 1 <= M <= 7,
 * where deft_sgemm_has_own_kernel(): each element is the fused multiply-add chain over k in
 * increasing order that deft_sgemv computes for one row, so it does not depend on M, on N, or on
 * which columns a call covers (callers split the columns over threads by offsetting B and C).
 * Elsewhere a slow portable loop computes the same sums. K may be 0 (C = 0). */
void deft_sgemm_few_rows(bool ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc);

/* The nonzeros of x[0 .. K) (NaNs count as nonzero), for deft_sgemv_rows: writes their
 * positions (increasing) to idx and their values to val and returns their count. idx and val
 * need room for K + 16 elements (the kernel stores whole vectors). */
int64_t deft_sgemv_compress(int64_t K, const float *x, int32_t *idx, float *val);

#endif
