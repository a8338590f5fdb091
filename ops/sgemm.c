/* SPDX-License-Identifier: Apache-2.0 */
/* ops/sgemm.c - deft_sgemm (ops/sgemm.h): a packed GEMM in the Goto/BLIS arrangement with an
 * AVX-512F register tile, used where the CPU has AVX-512F; OpenBLAS's cblas_sgemm otherwise
 * and for products too small to pay for packing.
 *
 * Blocking: for each NC-column block of op(B) and each KC-deep slice of K, op(B)'s slice is
 * packed into NR-column panels (k-major, NR floats per k); for each MC-row block of op(A) its
 * slice is packed into MR-row panels (k-major, MR floats per k); the register tile then
 * multiplies one A panel by one B panel, MR x NR accumulators held in 28 zmm registers over kc
 * steps of two vector loads and 28 broadcast-FMAs, and adds the tile into C (masked at the
 * edges). A B panel (KC x NR floats, 32 KiB) stays in L1 while the MC/MR A panels of a block
 * (168 KiB) stream from L2. Each element of C is the sum over K in increasing k, KC at a time,
 * whatever the caller's split of C's rows and columns. */
#include "ops/sgemm.h"

#include <cblas.h>
#include <string.h>

#define MR 14
#define NR 32
#define KC 256
#define MC (MR * 12)
#define NC 512

/* Below this many multiply-adds, or with fewer than MR rows or 16 columns, OpenBLAS's
 * small-matrix paths beat packing (deft_sgemm_worth_packing). */
#define OWN_MIN_WORK (1 << 13)

size_t deft_sgemm_workspace_bytes(void) {
  return sizeof(float) * ((size_t)KC * NC + (size_t)MC * KC);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_OWN_KERNEL 1
#include <immintrin.h>

static bool cpu_has_avx512f(void) { return __builtin_cpu_supports("avx512f"); }

/* The mask of the first n of 16 lanes (n may be <= 0 or >= 16). */
static inline __mmask16 lane_mask(int64_t n) {
  return (__mmask16)(n >= 16 ? 0xffff : n > 0 ? (1u << n) - 1 : 0);
}

/* Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into MR-row panels, rows past mc zero. */
static void pack_a(bool ta, const float *A, int64_t lda, int64_t i0, int64_t p0, int64_t mc,
                   int64_t kc, float *restrict dst) {
  for (int64_t ip = 0; ip < mc; ip += MR, dst += MR * kc) {
    int64_t mr = mc - ip < MR ? mc - ip : MR;
    if (ta) { /* op(A) row i, column k = A[k, i]: MR consecutive floats per k */
      const float *src = A + (p0)*lda + i0 + ip;
      for (int64_t k = 0; k < kc; k++, src += lda) {
        float *d = dst + k * MR;
        int64_t i = 0;
        for (; i < mr; i++)
          d[i] = src[i];
        for (; i < MR; i++)
          d[i] = 0;
      }
    } else { /* rows of op(A) contiguous in k: gather MR of them per k */
      const float *rows[MR];
      for (int64_t i = 0; i < MR; i++)
        rows[i] = A + (i0 + ip + (i < mr ? i : 0)) * lda + p0;
      for (int64_t k = 0; k < kc; k++) {
        float *d = dst + k * MR;
        for (int64_t i = 0; i < MR; i++)
          d[i] = i < mr ? rows[i][k] : 0.0f;
      }
    }
  }
}

/* Packs op(B)[p0 .. p0+kc, j0 .. j0+nc) into NR-column panels, columns past nc zero. */
__attribute__((target("avx512f"))) static void pack_b(bool tb, const float *B, int64_t ldb,
                                                      int64_t p0, int64_t j0, int64_t kc,
                                                      int64_t nc, float *restrict dst) {
  for (int64_t jp = 0; jp < nc; jp += NR, dst += NR * kc) {
    int64_t nr = nc - jp < NR ? nc - jp : NR;
    if (!tb) { /* op(B) row k = B row k: contiguous */
      __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
      const float *src = B + p0 * ldb + j0 + jp;
      for (int64_t k = 0; k < kc; k++, src += ldb) {
        _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else { /* op(B)[k, j] = B[j, k]: row j of B is contiguous in k */
      for (int64_t j = 0; j < NR; j++) {
        float *d = dst + j;
        if (j >= nr) {
          for (int64_t k = 0; k < kc; k++)
            d[k * NR] = 0;
          continue;
        }
        const float *src = B + (j0 + jp + j) * ldb + p0;
        for (int64_t k = 0; k < kc; k++)
          d[k * NR] = src[k];
      }
    }
  }
}

/* The register tile: acc = A panel (MR x kc) x B panel (kc x NR); then
 * C[0..mr, 0..nr) = alpha acc + beta C (beta == 0: C is not read). */
__attribute__((target("avx512f"))) static inline void
tile_gen(int64_t kc, const float *restrict a, int64_t ars, int64_t aks, const float *restrict b,
         float *c, int64_t ldc, int mr, int nr, float alpha, float beta) {
#define ACC(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps()
  ACC(0);
  ACC(1);
  ACC(2);
  ACC(3);
  ACC(4);
  ACC(5);
  ACC(6);
  ACC(7);
  ACC(8);
  ACC(9);
  ACC(10);
  ACC(11);
  ACC(12);
  ACC(13);
#undef ACC
  for (int64_t k = 0; k < kc; k++, a += aks, b += NR) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#define STEP(i)                                                                                    \
  do {                                                                                             \
    __m512 ai = _mm512_set1_ps(a[(i)*ars]);                                                        \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                    \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                                    \
  } while (0)
    STEP(0);
    STEP(1);
    STEP(2);
    STEP(3);
    STEP(4);
    STEP(5);
    STEP(6);
    STEP(7);
    STEP(8);
    STEP(9);
    STEP(10);
    STEP(11);
    STEP(12);
    STEP(13);
#undef STEP
  }
  __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define OUT(i)                                                                                     \
  if (i < mr) {                                                                                    \
    float *r = c + (int64_t)(i)*ldc;                                                               \
    __m512 o0 = _mm512_mul_ps(va, c##i##0), o1 = _mm512_mul_ps(va, c##i##1);                       \
    if (beta != 0.0f) {                                                                            \
      o0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, r), o0);                                  \
      o1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, r + 16), o1);                             \
    }                                                                                              \
    _mm512_mask_storeu_ps(r, m0, o0);                                                              \
    _mm512_mask_storeu_ps(r + 16, m1, o1);                                                         \
  }
  OUT(0)
  OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7) OUT(8) OUT(9) OUT(10) OUT(11) OUT(12) OUT(13)
#undef OUT
}

/* The tile on a packed A panel, and on MR rows of a row-major op(A) read in place. */
__attribute__((target("avx512f"))) static void tile(int64_t kc, const float *a, const float *b,
                                                    float *c, int64_t ldc, int mr, int nr,
                                                    float alpha, float beta) {
  tile_gen(kc, a, 1, MR, b, c, ldc, mr, nr, alpha, beta);
}
__attribute__((target("avx512f"))) static void tile_rows(int64_t kc, const float *a, int64_t lda,
                                                         const float *b, float *c, int64_t ldc,
                                                         int nr, float alpha, float beta) {
  tile_gen(kc, a, lda, 1, b, c, ldc, MR, nr, alpha, beta);
}
/* ... and on MR columns of A (op(A) = A^T): MR consecutive floats per k. */
__attribute__((target("avx512f"))) static void tile_cols(int64_t kc, const float *a, int64_t lda,
                                                         const float *b, float *c, int64_t ldc,
                                                         int nr, float alpha, float beta) {
  tile_gen(kc, a, 1, lda, b, c, ldc, MR, nr, alpha, beta);
}

static void own_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc, float *work) {
  if (K == 0) { /* C = beta C, as BLAS (beta 0 writes zeros without reading C) */
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++)
        C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  float *pb = work, *pa = work + (size_t)KC * NC;
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = N - jc < NC ? N - jc : NC;
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = K - pc < KC ? K - pc : KC;
      float bet = pc == 0 ? beta : 1.0f, alp = alpha;
      pack_b(tb, B, ldb, pc, jc, kc, nc, pb);
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = M - ic < MC ? M - ic : MC;
        /* op(A) is read in place when its blocks serve at most two B panels (packing would
         * cost more than it saves); a last partial panel is packed even so */
        bool direct = nc <= 2 * NR;
        if (!direct)
          pack_a(ta, A, lda, ic, pc, mc, kc, pa);
        else if (mc % MR)
          pack_a(ta, A, lda, ic + mc / MR * MR, pc, mc % MR, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int nr = (int)(nc - jr < NR ? nc - jr : NR);
          const float *bp = pb + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int mr = (int)(mc - ir < MR ? mc - ir : MR);
            float *ct = C + (ic + ir) * ldc + jc + jr;
            if (!direct)
              tile(kc, pa + ir * kc, bp, ct, ldc, mr, nr, alp, bet);
            else if (mr < MR)
              tile(kc, pa, bp, ct, ldc, mr, nr, alp, bet);
            else if (ta)
              tile_cols(kc, A + pc * lda + ic + ir, lda, bp, ct, ldc, nr, alp, bet);
            else
              tile_rows(kc, A + (ic + ir) * lda + pc, lda, bp, ct, ldc, nr, alp, bet);
          }
        }
      }
    }
  }
}
#else
#define HAVE_OWN_KERNEL 0
#endif

static _Thread_local bool force_openblas;

void deft_sgemm_force_openblas(bool on) { force_openblas = on; }

bool deft_sgemm_has_own_kernel(void) {
#if HAVE_OWN_KERNEL
  return !force_openblas && cpu_has_avx512f();
#else
  return false;
#endif
}

bool deft_sgemm_worth_packing(int64_t M, int64_t N, int64_t K) {
  return M >= 2 && N >= 8 && M * N * K >= OWN_MIN_WORK;
}

int64_t deft_sgemm_row_multiple(void) {
#if HAVE_OWN_KERNEL
  return cpu_has_avx512f() ? MR : 16; /* the CPU's, whatever the test setting: it sizes buffers */
#else
  return 16;
#endif
}

void deft_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                void *work) {
  if (M == 0 || N == 0)
    return;
#if HAVE_OWN_KERNEL
  if (work && deft_sgemm_has_own_kernel()) {
    own_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work);
    return;
  }
#else
  (void)work;
#endif
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M,
              (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}
