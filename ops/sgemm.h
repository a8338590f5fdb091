/* SPDX-License-Identifier: Apache-2.0 */
/* ops/sgemm.h - single-precision matrix products for the kernels: deft's own packed AVX-512
 * GEMM where the CPU has AVX-512F (chosen at run time), OpenBLAS's sgemm elsewhere. Internal to
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

/* True iff a whole product of this shape is large enough for the packed kernel to beat
 * OpenBLAS's small-matrix paths. Callers decide once per product (not per part), so that how a
 * product is split over threads never changes which kernel computes an element. */
bool deft_sgemm_worth_packing(int64_t M, int64_t N, int64_t K);

/* The row count that C's row blocks should be multiples of (the register tile's height on this
 * CPU; not affected by deft_sgemm_force_openblas, since it sizes buffers on several threads). */
int64_t deft_sgemm_row_multiple(void);

/* C = alpha op(A) op(B) + beta C (beta 0: C is only written, never read, so it may hold NaNs).
 * lda/ldb/ldc are row strides in elements. `work` is deft_sgemm_workspace_bytes() bytes, 64-byte
 * aligned: deft's kernel runs when the CPU has it; with work NULL, OpenBLAS runs. Any shape
 * (dimensions >= 0 that fit an int). */
void deft_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                void *work);

#endif
