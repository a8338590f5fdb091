/* SPDX-License-Identifier: Apache-2.0 */
/* ops/gemm_small.c - float32 C = op(A) op(B) for the small products of recurrent cells and
 * small dense layers (at most 2^26 multiply-adds, op(A) at most 1 MB) with AVX-512 register
 * tiles, used instead of sgemm on machines with AVX-512F.
 *
 * Why: the system's OpenBLAS (0.3.21) runs its Haswell (AVX2) kernels on CPUs it does not know
 * (AMD Zen 4/5), about half of what 512-bit tiles reach there; for these sizes its packing and
 * per-call setup also weigh. B is packed one panel of 32 columns and up to 256 rows of K at a
 * time ([256][32] on the stack, zero-padded past N); each 6-row block of op(A) then runs a 6x32
 * tile of 12 zmm accumulators over that K block, broadcasting op(A)'s elements straight from
 * A, and stores it into C, from where the next K block's tile starts.
 *
 * Results: every element of C is the sum over k = 0..K-1, in increasing k, of fused
 * multiply-adds into one float accumulator that starts at 0 (stored and reloaded exactly
 * between K blocks), whatever its position in a tile, so
 * they do not depend on how the product is split over threads (rows or columns) and are
 * deterministic; they differ from sgemm's (another summation order) in the last bits. */
#include <stdbool.h>
#include <stdint.h>

#include "ops/math_internal.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#include <immintrin.h>

#define AVX512_FN __attribute__((target("avx512f")))
#define MR 6
#define NR 32
#define KC 256

/* An MR_x32 tile: rows [0, MR_) of op(A) from a (element (r, k) at a[r * ars + k * aks]) times
 * the packed panel bp [K][32], into c (row stride ldc), columns masked by m0, m1; the sums
 * start from c's values when acc_c (a later K block), else from 0. */
#define TILE_FN(MR_)                                                                       \
  AVX512_FN static void tile_##MR_(int64_t K, const float *a, int64_t ars, int64_t aks,    \
                                   const float *bp, float *c, int64_t ldc, __mmask16 m0,   \
                                   __mmask16 m1, bool acc_c) {                             \
    __m512 acc0[MR_], acc1[MR_];                                                           \
    _Pragma("GCC unroll 6") for (int r = 0; r < MR_; r++) {                                \
      acc0[r] = acc_c ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps();      \
      acc1[r] = acc_c ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16) : _mm512_setzero_ps(); \
    }                                                                                      \
    for (int64_t k = 0; k < K; k++) {                                                      \
      __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_load_ps(bp + k * NR + 16);      \
      const float *ak = a + k * aks;                                                       \
      _Pragma("GCC unroll 6") for (int r = 0; r < MR_; r++) {                              \
        __m512 av = _mm512_set1_ps(ak[r * ars]);                                           \
        acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);                                        \
        acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);                                        \
      }                                                                                    \
    }                                                                                      \
    _Pragma("GCC unroll 6") for (int r = 0; r < MR_; r++) {                                \
      _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);                                     \
      _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);                                \
    }                                                                                      \
  }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
TILE_FN(5)
TILE_FN(6)

/* bp[k][j] = op(B)[k, n0 + j] for j < nc, 0 past it. */
AVX512_FN static void pack_panel(bool tb, int64_t K, const float *B, int64_t ldb, int64_t n0,
                                 int64_t nc, float *bp) {
  if (!tb) {
    __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
    __mmask16 m1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);
    for (int64_t k = 0; k < K; k++) {
      const float *src = B + k * ldb + n0;
      _mm512_store_ps(bp + k * NR, _mm512_maskz_loadu_ps(m0, src));
      _mm512_store_ps(bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
    return;
  }
  /* op(B)[k, n] = B[n * ldb + k]: each stored row of B is read along k */
  if (nc < NR)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = nc; j < NR; j++) bp[k * NR + j] = 0.0f;
  for (int64_t j = 0; j < nc; j++) {
    const float *src = B + (n0 + j) * ldb;
    for (int64_t k = 0; k < K; k++) bp[k * NR + j] = src[k];
  }
}

AVX512_FN static void run_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                                int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc) {
  _Alignas(64) float bp[KC * NR];
  /* op(A)[i, k]: A[i * lda + k], or A[k * lda + i] when transposed */
  int64_t ars = ta ? 1 : lda, aks = ta ? lda : 1;
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    int64_t nc = N - n0 < NR ? N - n0 : NR;
    __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
    __mmask16 m1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      int64_t kc = K - k0 < KC ? K - k0 : KC;
      /* op(B) rows [k0, k0 + kc): B + k0 * ldb, or B + k0 when transposed */
      pack_panel(tb, kc, B + (tb ? k0 : k0 * ldb), ldb, n0, nc, bp);
      bool acc_c = k0 > 0;
      for (int64_t i0 = 0; i0 < M; i0 += MR) {
        const float *a = A + i0 * ars + k0 * aks;
        float *c = C + i0 * ldc + n0;
        switch (M - i0 < MR ? M - i0 : MR) {
          case 1:
            tile_1(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
          case 2:
            tile_2(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
          case 3:
            tile_3(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
          case 4:
            tile_4(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
          case 5:
            tile_5(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
          default:
            tile_6(kc, a, ars, aks, bp, c, ldc, m0, m1, acc_c);
            break;
        }
      }
    }
  }
}

bool deft_math_sgemm_small_ok(int64_t M, int64_t N, int64_t K) {
  return __builtin_cpu_supports("avx512f") && K >= 1 && M >= 1 && N >= 16 && M * K <= (1 << 18) &&
         M * N * K <= (1 << 26);
}

void deft_math_sgemm_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc) {
  run_small(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
}

#else

bool deft_math_sgemm_small_ok(int64_t M, int64_t N, int64_t K) {
  (void)M, (void)N, (void)K;
  return false;
}

void deft_math_sgemm_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc) {
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
  (void)C, (void)ldc;
}

#endif
