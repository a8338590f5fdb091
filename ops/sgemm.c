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
 * whatever the caller's split of C's rows and columns.
 *
 * Also vector-matrix products (deft_sgemv, deft_sgemv_rows) and products of a few rows
 * (deft_sgemm_few_rows): accumulators in registers walking down B's rows, no packing. */
#include "ops/sgemm.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#define MR 14
#define NR 32
#define KC 256
#define MC (MR * 12)
#define NC 512

/* Below this many multiply-adds, or with fewer than 8 rows or 8 columns, OpenBLAS's
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

/* ---- GEMV (deft_sgemv) ---- */

/* y[0 .. N) = sum over i < nk of v[i] B[k_i, :], k_i = idx[i] (increasing), or i when idx is
 * NULL; B row-major with row stride ldb. Columns are taken in blocks of up to GV_VECS vectors
 * (16 columns each, the last one masked), whose accumulators stay in registers while the block
 * walks down the selected rows in memory order, one fused multiply-add per row and element; so
 * each y[j] is fma(v[nk-1], B[k_(nk-1), j], ... fma(v[0], B[k_0, j], 0)), whatever N and the
 * columns a call covers. (Accumulating in y instead, a pass per few rows, chains every pass to
 * the last one's stores: the masked edge's stores do not forward to loads, and that chain set
 * the pace.) */
#define GV_VECS 24
#define GV_BLOCK(NV)                                                                             \
  __attribute__((target("avx512f"))) static void gemv_block##NV(                                 \
      int64_t w, int64_t nk, const int32_t *idx, const float *v, const float *B, int64_t ldb,   \
      float *y) {                                                                                \
    __m512 acc[NV];                                                                              \
    __mmask16 m = lane_mask(w - 16 * (NV - 1)); /* the last vector's lanes */                    \
    _Pragma("GCC unroll 24") for (int q = 0; q < NV; q++) acc[q] = _mm512_setzero_ps();          \
    for (int64_t i = 0; i < nk; i++) {                                                           \
      const float *b = B + (idx ? (int64_t)idx[i] : i) * ldb;                                    \
      __m512 xk = _mm512_set1_ps(v[i]);                                                          \
      _Pragma("GCC unroll 24") for (int q = 0; q < NV - 1; q++) acc[q] =                         \
          _mm512_fmadd_ps(xk, _mm512_loadu_ps(b + 16 * q), acc[q]);                              \
      acc[NV - 1] =                                                                              \
          _mm512_fmadd_ps(xk, _mm512_maskz_loadu_ps(m, b + 16 * (NV - 1)), acc[NV - 1]);         \
    }                                                                                            \
    _Pragma("GCC unroll 24") for (int q = 0; q < NV - 1; q++) _mm512_storeu_ps(y + 16 * q,       \
                                                                                acc[q]);         \
    _mm512_mask_storeu_ps(y + 16 * (NV - 1), m, acc[NV - 1]);                                    \
  }
GV_BLOCK(1)
GV_BLOCK(2)
GV_BLOCK(3)
GV_BLOCK(4)
GV_BLOCK(5)
GV_BLOCK(6)
GV_BLOCK(7)
GV_BLOCK(8)
GV_BLOCK(9)
GV_BLOCK(10)
GV_BLOCK(11)
GV_BLOCK(12)
GV_BLOCK(13)
GV_BLOCK(14)
GV_BLOCK(15)
GV_BLOCK(16)
GV_BLOCK(17)
GV_BLOCK(18)
GV_BLOCK(19)
GV_BLOCK(20)
GV_BLOCK(21)
GV_BLOCK(22)
GV_BLOCK(23)
GV_BLOCK(24)
#undef GV_BLOCK

typedef void (*gemv_block_fn)(int64_t w, int64_t nk, const int32_t *idx, const float *v,
                              const float *B, int64_t ldb, float *y);
static const gemv_block_fn gemv_blocks[GV_VECS] = {
    gemv_block1,  gemv_block2,  gemv_block3,  gemv_block4,  gemv_block5,  gemv_block6,
    gemv_block7,  gemv_block8,  gemv_block9,  gemv_block10, gemv_block11, gemv_block12,
    gemv_block13, gemv_block14, gemv_block15, gemv_block16, gemv_block17, gemv_block18,
    gemv_block19, gemv_block20, gemv_block21, gemv_block22, gemv_block23, gemv_block24};

static void gemv_n_own(int64_t N, int64_t nk, const int32_t *idx, const float *v,
                       const float *B, int64_t ldb, float *y) {
  for (int64_t j0 = 0; j0 < N; j0 += 16 * GV_VECS) {
    int64_t w = N - j0 < 16 * GV_VECS ? N - j0 : 16 * GV_VECS;
    gemv_blocks[(w + 15) / 16 - 1](w, nk, idx, v, B + j0, ldb, y + j0);
  }
}

/* A few rows (deft_sgemm_few_rows): R rows of op(A) times NV vectors of B's columns, R x NV
 * accumulators in registers while the block walks down B's rows; element (r, j) is the chain
 * fma(op(A)[r, K-1], B[K-1, j], ... fma(op(A)[r, 0], B[0, j], 0)), the GEMV's. op(A)[r, k] is
 * A[r * ars + k * aks]. */
#define GVM_BLOCK(R, NV)                                                                         \
  __attribute__((target("avx512f"))) static void gemm_few##R##_##NV(                             \
      int64_t w, int64_t K, const float *A, int64_t ars, int64_t aks, const float *B,           \
      int64_t ldb, float *C, int64_t ldc) {                                                      \
    __m512 acc[R][NV];                                                                           \
    __mmask16 m = lane_mask(w - 16 * (NV - 1));                                                  \
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                          \
        _Pragma("GCC unroll 12") for (int q = 0; q < NV; q++) acc[r][q] = _mm512_setzero_ps();   \
    for (int64_t k = 0; k < K; k++) {                                                            \
      const float *b = B + k * ldb;                                                              \
      __m512 x[R];                                                                               \
      _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) x[r] =                                 \
          _mm512_set1_ps(A[r * ars + k * aks]);                                                  \
      _Pragma("GCC unroll 12") for (int q = 0; q < NV; q++) {                                    \
        __m512 bq = q < NV - 1 ? _mm512_loadu_ps(b + 16 * q)                                     \
                               : _mm512_maskz_loadu_ps(m, b + 16 * q);                           \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[r][q] =                          \
            _mm512_fmadd_ps(x[r], bq, acc[r][q]);                                                \
      }                                                                                          \
    }                                                                                            \
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                        \
      _Pragma("GCC unroll 12") for (int q = 0; q < NV - 1; q++)                                  \
          _mm512_storeu_ps(C + r * ldc + 16 * q, acc[r][q]);                                     \
      _mm512_mask_storeu_ps(C + r * ldc + 16 * (NV - 1), m, acc[r][NV - 1]);                    \
    }                                                                                            \
  }
#define GVM_2(NV) GVM_BLOCK(2, NV)
#define GVM_3(NV) GVM_BLOCK(3, NV)
#define GVM_4(NV) GVM_BLOCK(4, NV)
GVM_2(1) GVM_2(2) GVM_2(3) GVM_2(4) GVM_2(5) GVM_2(6) GVM_2(7) GVM_2(8) GVM_2(9) GVM_2(10)
GVM_2(11) GVM_2(12)
GVM_3(1) GVM_3(2) GVM_3(3) GVM_3(4) GVM_3(5) GVM_3(6) GVM_3(7) GVM_3(8)
GVM_4(1) GVM_4(2) GVM_4(3) GVM_4(4) GVM_4(5) GVM_4(6)
#undef GVM_2
#undef GVM_3
#undef GVM_4
#undef GVM_BLOCK

typedef void (*gemm_few_fn)(int64_t w, int64_t K, const float *A, int64_t ars, int64_t aks,
                            const float *B, int64_t ldb, float *C, int64_t ldc);
static const gemm_few_fn gemm_few2[12] = {gemm_few2_1, gemm_few2_2, gemm_few2_3,  gemm_few2_4,
                                          gemm_few2_5, gemm_few2_6, gemm_few2_7,  gemm_few2_8,
                                          gemm_few2_9, gemm_few2_10, gemm_few2_11, gemm_few2_12};
static const gemm_few_fn gemm_few3[8] = {gemm_few3_1, gemm_few3_2, gemm_few3_3, gemm_few3_4,
                                         gemm_few3_5, gemm_few3_6, gemm_few3_7, gemm_few3_8};
static const gemm_few_fn gemm_few4[6] = {gemm_few4_1, gemm_few4_2, gemm_few4_3,
                                         gemm_few4_4, gemm_few4_5, gemm_few4_6};

/* Rows in groups of 2 to 4 (M = 5: 3 + 2, 6: 3 + 3, 7: 4 + 3), each group over the columns in
 * blocks of at most 24 accumulators. */
static void gemm_few_own(bool ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc) {
  int64_t ars = ta ? 1 : lda, aks = ta ? lda : 1;
  for (int64_t r0 = 0; r0 < M;) {
    int64_t left = M - r0, R = left == 5 || left == 6 ? 3 : left > 4 ? 4 : left;
    int nvmax = R == 2 ? 12 : R == 3 ? 8 : 6;
    const gemm_few_fn *fns = R == 2 ? gemm_few2 : R == 3 ? gemm_few3 : gemm_few4;
    for (int64_t j0 = 0; j0 < N; j0 += 16 * nvmax) {
      int64_t w = N - j0 < 16 * nvmax ? N - j0 : 16 * nvmax;
      fns[(w + 15) / 16 - 1](w, K, A + r0 * ars, ars, aks, B + j0, ldb, C + r0 * ldc + j0, ldc);
    }
    r0 += R;
  }
}

/* y[j] = B[j, 0 .. K) . x, B [N, K] row-major: four rows at a time, each a 16-lane
 * accumulator over k (masked at the end of K), then the lanes summed in a fixed order; the
 * same arithmetic for every row, whichever group it falls in. */
__attribute__((target("avx512f"))) static inline float hsum16(__m512 v) {
  __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

__attribute__((target("avx512f"))) static void gemv_t_own(int64_t N, int64_t K, const float *x,
                                                         const float *B, int64_t ldb,
                                                         float *y) {
  int64_t kv = K / 16 * 16;
  __mmask16 mt = lane_mask(K - kv);
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    const float *b0 = B + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < kv; k += 16) {
      __m512 xv = _mm512_loadu_ps(x + k);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(b0 + k), xv, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(b1 + k), xv, a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(b2 + k), xv, a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(b3 + k), xv, a3);
    }
    if (mt) {
      __m512 xv = _mm512_maskz_loadu_ps(mt, x + kv);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, b0 + kv), xv, a0);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, b1 + kv), xv, a1);
      a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, b2 + kv), xv, a2);
      a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, b3 + kv), xv, a3);
    }
    y[j] = hsum16(a0);
    y[j + 1] = hsum16(a1);
    y[j + 2] = hsum16(a2);
    y[j + 3] = hsum16(a3);
  }
  for (; j < N; j++) {
    const float *b0 = B + j * ldb;
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t k = 0; k < kv; k += 16)
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(b0 + k), _mm512_loadu_ps(x + k), a0);
    if (mt)
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, b0 + kv), _mm512_maskz_loadu_ps(mt, x + kv),
                           a0);
    y[j] = hsum16(a0);
  }
}

/* deft_sgemv_compress: 16 elements at a time, their nonzeros left-packed in registers and
 * stored whole (16 lanes may be written past the count; the buffers have room for K + 16). */
__attribute__((target("avx512f"))) static int64_t compress_own(int64_t K, const float *x,
                                                              int32_t *idx, float *val) {
  int64_t n = 0, k = 0;
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; k < K; k += 16) {
    __mmask16 in = lane_mask(K - k);
    __m512 v = _mm512_maskz_loadu_ps(in, x + k);
    __mmask16 nz = _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (!nz)
      continue;
    __m512i kk = _mm512_add_epi32(_mm512_set1_epi32((int)k), lanes);
    _mm512_storeu_si512(idx + n, _mm512_maskz_compress_epi32(nz, kk));
    _mm512_storeu_ps(val + n, _mm512_maskz_compress_ps(nz, v));
    n += __builtin_popcount(nz);
  }
  return n;
}

/* The AVX2 + FMA GEMV (CPUs without AVX-512F, and the forced path): gemv_n_own's blocks with
 * 8-lane vectors, up to GV8_VECS of them in registers. Every element gets the same fused
 * multiply-adds in the same order as there, so the two give the same bits. */
#define GV8_VECS 12
__attribute__((target("avx2,fma"))) static inline __m256i lane_mask8(int64_t n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define GV8_BLOCK(NV)                                                                            \
  __attribute__((target("avx2,fma"))) static void gemv8_block##NV(                               \
      int64_t w, int64_t nk, const int32_t *idx, const float *v, const float *B, int64_t ldb,   \
      float *y) {                                                                                \
    __m256 acc[NV];                                                                              \
    __m256i m = lane_mask8(w - 8 * (NV - 1)); /* the last vector's lanes */                      \
    _Pragma("GCC unroll 12") for (int q = 0; q < NV; q++) acc[q] = _mm256_setzero_ps();          \
    for (int64_t i = 0; i < nk; i++) {                                                           \
      const float *b = B + (idx ? (int64_t)idx[i] : i) * ldb;                                    \
      __m256 xk = _mm256_set1_ps(v[i]);                                                          \
      _Pragma("GCC unroll 12") for (int q = 0; q < NV - 1; q++) acc[q] =                         \
          _mm256_fmadd_ps(xk, _mm256_loadu_ps(b + 8 * q), acc[q]);                               \
      acc[NV - 1] =                                                                              \
          _mm256_fmadd_ps(xk, _mm256_maskload_ps(b + 8 * (NV - 1), m), acc[NV - 1]);             \
    }                                                                                            \
    _Pragma("GCC unroll 12") for (int q = 0; q < NV - 1; q++) _mm256_storeu_ps(y + 8 * q,        \
                                                                                acc[q]);         \
    _mm256_maskstore_ps(y + 8 * (NV - 1), m, acc[NV - 1]);                                       \
  }
GV8_BLOCK(1)
GV8_BLOCK(2)
GV8_BLOCK(3)
GV8_BLOCK(4)
GV8_BLOCK(5)
GV8_BLOCK(6)
GV8_BLOCK(7)
GV8_BLOCK(8)
GV8_BLOCK(9)
GV8_BLOCK(10)
GV8_BLOCK(11)
GV8_BLOCK(12)
#undef GV8_BLOCK
static const gemv_block_fn gemv8_blocks[GV8_VECS] = {
    gemv8_block1, gemv8_block2, gemv8_block3,  gemv8_block4,  gemv8_block5,  gemv8_block6,
    gemv8_block7, gemv8_block8, gemv8_block9, gemv8_block10, gemv8_block11, gemv8_block12};

static void gemv_n_avx2(int64_t N, int64_t nk, const int32_t *idx, const float *v,
                        const float *B, int64_t ldb, float *y) {
  for (int64_t j0 = 0; j0 < N; j0 += 8 * GV8_VECS) {
    int64_t w = N - j0 < 8 * GV8_VECS ? N - j0 : 8 * GV8_VECS;
    gemv8_blocks[(w + 7) / 8 - 1](w, nk, idx, v, B + j0, ldb, y + j0);
  }
}

static bool cpu_has_avx2_fma(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define HAVE_OWN_KERNEL 0
#endif

static _Thread_local bool force_openblas, force_own;

void deft_sgemm_force_openblas(bool on) { force_openblas = on; }

void deft_sgemm_force_own(bool on) { force_own = on; }

bool deft_sgemm_has_own_kernel(void) {
#if HAVE_OWN_KERNEL
  return !force_openblas && cpu_has_avx512f();
#else
  return false;
#endif
}

bool deft_sgemm_openblas_has_avx512(void) {
  /* The kernel families of OpenBLAS's DYNAMIC_ARCH builds that run 512-bit vectors. Any other
   * name (Haswell, Zen, or Prescott, which OpenBLAS 0.3.21 falls back to on CPUs newer than it,
   * Sapphire and Emerald Rapids among them: 21-27 GFLOP/s there against 139 for Cooperlake's)
   * leaves AVX-512 unused. */
  static const char *const wide[] = {"skylakex", "cooperlake", "sapphirerapids"};
  const char *core = openblas_get_corename();
  if (!core)
    return false;
  for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
    if (strncasecmp(core, wide[i], strlen(wide[i])) == 0)
      return true;
  return false;
}

deft_sgemm_dense deft_sgemm_dense_kernel(void) {
  if (deft_sgemm_packs())
    return DEFT_SGEMM_OWN;
#if HAVE_OWN_KERNEL
  if (deft_sgemm_openblas_has_avx512() && !__builtin_cpu_is("amdfam19h"))
    return DEFT_SGEMM_OPENBLAS_FULL;
#endif
  return DEFT_SGEMM_OPENBLAS;
}

bool deft_sgemm_packs(void) {
#if HAVE_OWN_KERNEL
  /* Where OpenBLAS runs its own AVX-512 kernels they are the faster ones: on an Emerald Rapids
   * Xeon, 139 GFLOP/s at the training step's shapes (Cooperlake kernel) against the packed
   * kernel's 100-110 (bench/README.md). On AMD family 19h (Zen 4, which runs each 512-bit FMA
   * as two 256-bit halves) the packed kernel has no more arithmetic per cycle than OpenBLAS's
   * AVX2 kernels either, and measured slower (1024^3 94 GFLOP/s against 100-107; the MNIST
   * epoch 0.46 s with OpenBLAS against 0.49 s). Elsewhere, with OpenBLAS on a kernel without
   * AVX-512 (its Haswell kernel on the Zen 5 host: the packed kernel ran the step's products
   * 1.2-1.9x faster; its Prescott fallback on CPUs it does not know: 4-5x), deft's runs. */
  return deft_sgemm_has_own_kernel() &&
         (force_own || (!__builtin_cpu_is("amdfam19h") && !deft_sgemm_openblas_has_avx512()));
#else
  return false;
#endif
}

bool deft_sgemm_worth_packing(int64_t M, int64_t N, int64_t K) {
  /* Rows short of the tile's height are computed anyway: at M = 2 .. 14 the packed kernel takes
   * the same time (784 x 300 x M: 91 us on one thread, against OpenBLAS's 12 us at M = 2, 18 us
   * at M = 4 and 51 us at M = 6 and 8), so OpenBLAS runs products of fewer than 8 rows. */
  return M >= 8 && N >= 8 && M * N * K >= OWN_MIN_WORK;
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
  if (work && cpu_has_avx512f()) { /* the caller chose the kernel (deft_sgemm_packs) */
    own_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work);
    return;
  }
#else
  (void)work;
#endif
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M,
              (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* Which GEMV kernel runs on the calling thread: 2 AVX-512F, 1 AVX2 + FMA, 0 none (OpenBLAS). */
static int gemv_isa(void) {
#if HAVE_OWN_KERNEL
  return deft_sgemm_has_own_kernel() ? 2 : cpu_has_avx2_fma() ? 1 : 0;
#else
  return 0;
#endif
}

bool deft_sgemv_own(bool tb) {
  int isa = gemv_isa();
  return isa == 2 || (isa == 1 && !tb);
}

void deft_sgemv(bool tb, int64_t N, int64_t K, const float *x, const float *B, int64_t ldb,
                float *y, bool own) {
  if (N <= 0)
    return;
  if (K <= 0) {
    memset(y, 0, sizeof(float) * (size_t)N);
    return;
  }
#if HAVE_OWN_KERNEL
  int isa = own ? gemv_isa() : 0;
  if (isa == 2 && tb) {
    gemv_t_own(N, K, x, B, ldb, y);
    return;
  }
  if (isa > 0 && !tb) {
    (isa == 2 ? gemv_n_own : gemv_n_avx2)(N, K, NULL, x, B, ldb, y);
    return;
  }
#else
  (void)own;
#endif
  if (tb) /* y = B x, B [N, K] */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, B, (int)ldb, x, 1, 0.0f, y, 1);
  else /* y = B^T x, B [K, N] */
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)N, 1.0f, B, (int)ldb, x, 1, 0.0f, y, 1);
}

void deft_sgemv_rows(int64_t N, int64_t nk, const int32_t *idx, const float *v, const float *B,
                     int64_t ldb, float *y) {
  if (N <= 0)
    return;
#if HAVE_OWN_KERNEL
  int isa = gemv_isa();
  if (isa > 0) {
    (isa == 2 ? gemv_n_own : gemv_n_avx2)(N, nk, idx, v, B, ldb, y);
    return;
  }
#endif
  for (int64_t j = 0; j < N; j++) /* the same sums, one element at a time */
    y[j] = 0.0f;
  for (int64_t i = 0; i < nk; i++) {
    const float *b = B + (int64_t)idx[i] * ldb;
    for (int64_t j = 0; j < N; j++)
      y[j] = fmaf(v[i], b[j], y[j]);
  }
}

int64_t deft_sgemv_compress(int64_t K, const float *x, int32_t *idx, float *val) {
#if HAVE_OWN_KERNEL
  if (cpu_has_avx512f())
    return compress_own(K, x, idx, val);
#endif
  int64_t n = 0;
  for (int64_t k = 0; k < K; k++) { /* branch-free: zeros are written, then overwritten */
    idx[n] = (int32_t)k;
    val[n] = x[k];
    n += x[k] != 0.0f;
  }
  return n;
}

void deft_sgemm_few_rows(bool ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc) {
  if (N <= 0)
    return;
  if (M == 1 && !ta) { /* the GEMV (a single row would need a one-row block here) */
    deft_sgemv(false, N, K, A, B, ldb, C, true);
    return;
  }
#if HAVE_OWN_KERNEL
  if (M >= 2 && M <= 7 && deft_sgemm_has_own_kernel()) {
    gemm_few_own(ta, M, N, K, A, lda, B, ldb, C, ldc);
    return;
  }
#endif
  for (int64_t i = 0; i < M; i++) /* the same sums, one element at a time */
    for (int64_t j = 0; j < N; j++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++)
        acc = fmaf(ta ? A[k * lda + i] : A[i * lda + k], B[k * ldb + j], acc);
      C[i * ldc + j] = acc;
    }
}
