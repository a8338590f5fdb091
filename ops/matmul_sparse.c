/* SPDX-License-Identifier: Apache-2.0 */
/* ops/matmul_sparse.c - float32 MatMul when the left operand is mostly exact zeros (images,
 * one-hot rows, ReLU outputs).
 *
 * op(A) is compressed row by row into (column, value) lists; output row i is then the sum of
 * the rows of B that row i's nonzeros select, scaled by them, accumulated in registers in
 * increasing column order with fused multiply-adds (AVX2+FMA, chosen at run time). Dropping a
 * zero term changes nothing unless B holds an infinity or a NaN (0 * inf is NaN), so B is
 * checked first and the dense path taken if it does. A strided probe measures the density of
 * A and declines operands denser than the measured break-even density of the loops that would
 * run (max_density), and the compression gives up as soon as A turns out denser than 1.2 times
 * it: then the caller runs sgemm. Results are deterministic (each output
 * element is summed by one thread in a fixed order) but, like any reordering of a float sum,
 * not bit-identical to sgemm's.
 *
 * The stored A's rows are compressed once per value and run: the compression goes into a memo
 * of the run (deft_kernel_memo_new, keyed by A's buffer and generation), where the input
 * layer's gradient X^T dY finds the rows the forward product X W compressed, and only
 * transposes them. Compression and transposition run on the calling thread: split over two
 * threads (two passes, counts then writes) they were no faster in per-op profiles of the bench's
 * training step (the second pass reads what the other core wrote). The products split into
 * parts of equal nonzeros (balance_rows). */
#include <stdint.h>
#include <string.h>

#include "ops/op_build.h"
#include "ops/math_internal.h"
#include "ops/sgemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define SPARSE_X86 1
#define AVX2_FN __attribute__((target("avx2,fma")))
#else
#define SPARSE_X86 0
#endif

/* The densities (nonzeros / elements of A) below which the sparse product beats sgemm, per
 * loop and layout. Measured on an AMD EPYC (Zen 5) at the input layer's shapes, A of uniformly
 * random density, single-thread CPU time against OpenBLAS 0.3.21's sgemm (Haswell kernels):
 * - X @ W, [200,784] x [784,300]: AVX-512 loops 0.93x sgemm at 0.5, 1.07x at 0.6; AVX2 loops
 *   0.95x at 0.3, 1.06x at 0.4.
 * - X^T @ dY, [784,200] x [200,300] (transposed A, compressed then transposed): AVX2 loops
 *   0.81x at 0.4, 1.04x at 0.5; AVX-512 loops 0.90x at 0.4, 1.15x at 0.5, slower than the AVX2
 *   ones at every density (the 784 short rows pay the 16-lane loops' longer column tail), so
 *   the transposed product runs the AVX2 loops on every machine.
 * Where deft_sgemm runs deft's own AVX-512 kernel (ops/sgemm.h; about 1.6x OpenBLAS's rate at
 * these shapes), the break-evens move down (same machine and method, thread CPU time, against
 * deft's MatMul at density 1): X @ W 0.35 (0.94x) / 0.40 (1.04-1.2x), X^T @ dY 0.20
 * (0.84-0.9x) / 0.25 (1.03x).
 * Real images (zeros in runs) compress cheaper than uniform noise, so these err towards sgemm.
 * The transposed product now finds X already compressed by the forward product (the run's memo,
 * below), so it pays only the transposition: DENSITY_TRANSPOSED_OWN is 0.25, where the
 * measurement above, compression included, found 1.03x. It was 0.20, and MNIST batches (0.19
 * dense) then took sgemm in 22% of the steps: the probe's 1,024 samples read a batch's density
 * within about +-0.012. With the bench's MNIST training at 1 thread, a profile build's dW1 took
 * 550-560 us per step with every step sparse against 614-651 us with 22% of them dense (three
 * paired runs, 2026-12-02).
 * On an AMD EPYC Zen 4 (512-bit FMAs in two halves) against OpenBLAS's Cooperlake kernels the
 * AVX-512 loops' X @ W break-even is lower, about 0.45 (2026-12-03, same shapes and method:
 * 0.40 -> 0.80-0.87x sgemm, 0.45 0.96-1.13x, 0.49 1.00-1.07x), and inside the training step
 * Fashion-MNIST's batches (density 0.498) took 1,101 us sparse against 995 us for dense
 * input. DENSITY_WIDE is 0.42, under both machines' break-evens.
 * On an Intel Xeon (Emerald Rapids, full-width 512-bit FMAs) against OpenBLAS's Cooperlake
 * kernels (139 GFLOP/s at these shapes, 1.4x their Zen 4 rate) the break-evens are lower again
 * (2026-12-03, same shapes and method, alternating in one process): X @ W 0.74x sgemm's time
 * at 0.19, 0.90x at 0.25, 1.0x at 0.30, 1.17x at 0.35; X^T @ dY (X compressed by the forward
 * product) with the AVX2 loops 0.86x at 0.15, 0.92x at 0.19, 1.15x at 0.25, and with the AVX-512
 * loops 0.80x at 0.19, 0.92x at 0.25 (1.02x at 0.30, compression included): there, where a ymm
 * FMA has half a zmm FMA's throughput, the transposed product runs the AVX-512 loops (the
 * bench's MNIST epoch 4-13% faster in three paired runs). DENSITY_*_FULL apply wherever OpenBLAS
 * runs AVX-512 kernels on a core other than Zen 4's.
 * The probe wants at most the density; the compression gives up at 1.2 times it. */
#define DENSITY_WIDE 0.42
#define DENSITY_AVX2 0.28
#define DENSITY_TRANSPOSED 0.45
#define DENSITY_WIDE_OWN 0.35
#define DENSITY_TRANSPOSED_OWN 0.25
#define DENSITY_WIDE_FULL 0.28
#define DENSITY_TRANSPOSED_FULL 0.26
/* Elements of A the probe samples. */
#define PROBE 1024

#if SPARSE_X86

typedef struct sp_job {
  const int32_t *ptr, *idx;
  const float *val, *B;
  float *C;
  int64_t N, K;
  bool wide; /* the AVX-512 loops */
  const int64_t *bounds; /* the parts' first rows (sp_parts) */
} sp_job;

/* K is taken in blocks of KBLOCK rows of B, so that the B rows a pass touches stay in cache;
 * between blocks the partial sums wait in C, and each element is still summed in increasing
 * k, so the blocking does not change results (nor does the vector width: every element gets
 * the same fused multiply-adds in the same order). */
#define KBLOCK 96

/* Columns [n0, n0 + LANES*V) of rows [begin, end): V accumulators of type VT per row. */
#define SP_PASS(VT, LANES, V, ZERO, LOAD, STORE, SET1, FMA)                                  \
  do {                                                                                      \
    for (int64_t i = begin; i < end; i++) cur[i - begin] = ptr[i];                          \
    for (int64_t k0 = 0; k0 < K; k0 += KBLOCK) {                                            \
      int64_t k1 = k0 + KBLOCK;                                                             \
      for (int64_t i = begin; i < end; i++) {                                               \
        int32_t p = cur[i - begin], pe = ptr[i + 1];                                        \
        float *c = C + i * N + n0;                                                          \
        VT acc[V];                                                                          \
        if (p == pe || idx[p] >= k1) { /* nothing in this block */                          \
          if (k0 == 0) _Pragma("GCC unroll 8") for (int v = 0; v < V; v++)                  \
              STORE(c + LANES * v, ZERO());                                                 \
          continue;                                                                         \
        }                                                                                   \
        if (k0 == 0) {                                                                      \
          _Pragma("GCC unroll 8") for (int v = 0; v < V; v++) acc[v] = ZERO();              \
        } else {                                                                            \
          _Pragma("GCC unroll 8") for (int v = 0; v < V; v++) acc[v] = LOAD(c + LANES * v); \
        }                                                                                   \
        for (; p < pe && idx[p] < k1; p++) {                                                \
          VT a = SET1(val[p]);                                                              \
          const float *b = B + (int64_t)idx[p] * N + n0;                                    \
          _Pragma("GCC unroll 8") for (int v = 0; v < V; v++)                               \
              acc[v] = FMA(a, LOAD(b + LANES * v), acc[v]);                                 \
        }                                                                                   \
        cur[i - begin] = p;                                                                 \
        _Pragma("GCC unroll 8") for (int v = 0; v < V; v++) STORE(c + LANES * v, acc[v]);   \
      }                                                                                     \
    }                                                                                       \
    n0 += LANES * V;                                                                        \
  } while (0)

/* Expands the ops list before SP_PASS counts its arguments. */
#define SP_PASS_(...) SP_PASS(__VA_ARGS__)

#define SP_JOB_LOCALS                                                      \
  const int32_t *ptr = j->ptr, *idx = j->idx;                              \
  const float *val = j->val, *B = j->B;                                    \
  float *C = j->C;                                                         \
  int64_t N = j->N, K = j->K, n0 = 0

#define OPS256 _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, \
               _mm256_fmadd_ps

/* Rows [begin, end) of C; cur[i - begin]: row i's next nonzero (K-blocked passes). */
AVX2_FN static void sp_block(const sp_job *j, int64_t begin, int64_t end, int32_t *cur) {
  SP_JOB_LOCALS;
  while (N - n0 >= 64) SP_PASS_(__m256, 8, 8, OPS256);
  if (N - n0 >= 32) SP_PASS_(__m256, 8, 4, OPS256);
  if (N - n0 >= 16) SP_PASS_(__m256, 8, 2, OPS256);
  if (N - n0 >= 8) SP_PASS_(__m256, 8, 1, OPS256);
  if (N - n0 > 0) { /* the last 1..7 columns, masked */
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(N - n0)),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t i = begin; i < end; i++) {
      __m256 acc = _mm256_setzero_ps();
      for (int32_t p = ptr[i]; p < ptr[i + 1]; p++)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(val[p]),
                              _mm256_maskload_ps(B + (int64_t)idx[p] * N + n0, mask), acc);
      _mm256_maskstore_ps(C + i * N + n0, mask, acc);
    }
  }
}

/* Test hook, per thread (the kernel picks its loop on the thread that runs the session): run the
 * AVX2 loops on an AVX-512 machine. */
static _Thread_local bool force_avx2;
void deft_math_sparse_force_avx2(bool on) { force_avx2 = on; }

#define AVX512_FN __attribute__((target("avx512f,fma")))
#define OPS512 _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, \
               _mm512_fmadd_ps

AVX512_FN static void sp_block512(const sp_job *j, int64_t begin, int64_t end, int32_t *cur) {
  SP_JOB_LOCALS;
  while (N - n0 >= 128) SP_PASS_(__m512, 16, 8, OPS512);
  if (N - n0 >= 64) SP_PASS_(__m512, 16, 4, OPS512);
  if (N - n0 >= 32) SP_PASS_(__m512, 16, 2, OPS512);
  if (N - n0 >= 16) SP_PASS_(__m512, 16, 1, OPS512);
  if (N - n0 > 0) { /* the last 1..15 columns, masked */
    __mmask16 mask = (__mmask16)((1u << (N - n0)) - 1);
    for (int64_t i = begin; i < end; i++) {
      __m512 acc = _mm512_setzero_ps();
      for (int32_t p = ptr[i]; p < ptr[i + 1]; p++)
        acc = _mm512_fmadd_ps(_mm512_set1_ps(val[p]),
                              _mm512_maskz_loadu_ps(mask, B + (int64_t)idx[p] * N + n0), acc);
      _mm512_mask_storeu_ps(C + i * N + n0, mask, acc);
    }
  }
}

/* The range function: rows [begin, end) of C, CUR_ROWS at a time. The rows' next-nonzero
 * positions live on this thread's stack: in a shared array the cache line holding the last rows
 * of one thread's range and the first of the next thread's would be written by both threads in
 * every K block, and bounce between the cores (that alone made the split forward product of the
 * input layer no faster than one thread). Blocking rows does not change any element's
 * arithmetic (see KBLOCK). */
#define CUR_ROWS 256

static void sp_rows(const sp_job *j, int64_t begin, int64_t end) {
  int32_t cur[CUR_ROWS];
  for (int64_t b = begin; b < end; b += CUR_ROWS) {
    int64_t e = end - b > CUR_ROWS ? b + CUR_ROWS : end;
    if (j->wide) sp_block512(j, b, e, cur);
    else sp_block(j, b, e, cur);
  }
}

/* Split products run over PARTS_PER_THREAD parts per thread of about equal work (nonzeros plus
 * a per-row cost), not of equal rows: the gradient X^T dY's rows are image pixels, and the border's
 * are all zeros, so equal row ranges give very unequal parts (for MNIST batches of 200, 8 parts
 * handed out from both ends, the busier thread of dW1 does 4.8% more than half the work with
 * equal rows, 0.4% with equal nonzeros; the forward product 1.5% against 0.6%). The pool still
 * hands the parts out dynamically (a slower thread takes fewer). bounds[p] is part p's first
 * row. Two range functions, so that the pool's adaptation (per range function and length)
 * judges the forward and the transposed products apart. */
#define PARTS_PER_THREAD 4
#define MAX_PARTS 64

static void sp_parts(void *arg, int64_t begin, int64_t end) {
  const sp_job *j = arg;
  sp_rows(j, j->bounds[begin], j->bounds[end]);
}
static void sp_parts_t(void *arg, int64_t begin, int64_t end) { sp_parts(arg, begin, end); }

/* Cuts rows [0, M) of ptr into at most `parts` ranges of about equal nonzeros + row_cost per
 * row: bounds[0..*nparts], bounds[0] = 0, bounds[*nparts] = M, every range non-empty. */
static void balance_rows(const int32_t *ptr, int64_t M, int64_t row_cost, int parts,
                         int64_t *bounds, int *nparts) {
  if (parts > M) parts = (int)M;
  double total = (double)ptr[M] + (double)(row_cost * M);
  int np = 0;
  bounds[0] = 0;
  for (int64_t i = 0; i < M && np < parts - 1; i++) {
    double upto = (double)ptr[i + 1] + (double)(row_cost * (i + 1));
    if (upto >= total * (double)(np + 1) / (double)parts) bounds[++np] = i + 1;
  }
  if (bounds[np] < M) bounds[++np] = M;
  *nparts = np;
}

/* True iff every element of x[0..n) is finite. */
AVX2_FN static bool all_finite(const float *x, int64_t n) {
  __m256 z = _mm256_setzero_ps(), a0 = z, a1 = z;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) { /* x * 0 is 0 for finite x, NaN for inf and NaN */
    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(x + i), z));
    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), z));
  }
  float s[8];
  _mm256_storeu_ps(s, _mm256_add_ps(a0, a1));
  float t = 0;
  for (int k = 0; k < 8; k++) t += s[k];
  for (; i < n; i++) t += x[i] * 0.0f;
  return t == 0.0f;
}

/* Compresses rows of A [M, K] (row stride lda) into ptr[M + 1], idx/val (column order within a
 * row). Each group of 8 elements is left-packed with one permute (its lane order computed with
 * BMI2's pext), so the cost follows the groups, not the nonzeros. Returns false when A holds
 * more than cap - 8 nonzeros. */
__attribute__((target("avx2,fma,bmi2"))) static bool compress_rows(const float *A,
                                                                     int64_t M, int64_t K,
                                                                     int64_t lda, int64_t cap,
                                                                     int32_t *ptr,
                                                                     int32_t *idx, float *val) {
  int64_t nnz = 0;
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t i = 0; i < M; i++) {
    ptr[i] = (int32_t)nnz;
    const float *a = A + i * lda;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 v = _mm256_loadu_ps(a + k);
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ));
      if (!m) continue;
      if (nnz + 8 > cap) return false;
      uint64_t bytes = _pdep_u64(m, 0x0101010101010101ULL) * 0xFF;
      uint64_t order = _pext_u64(0x0706050403020100ULL, bytes);
      __m256i perm = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)order));
      __m256i kk = _mm256_add_epi32(_mm256_set1_epi32((int)k), lanes);
      _mm256_storeu_si256((__m256i *)(idx + nnz), _mm256_permutevar8x32_epi32(kk, perm));
      _mm256_storeu_ps(val + nnz, _mm256_permutevar8x32_ps(v, perm));
      nnz += __builtin_popcount(m);
    }
    for (; k < K; k++)
      if (a[k] != 0.0f) {
        if (nnz + 8 > cap) return false;
        idx[nnz] = (int32_t)k;
        val[nnz++] = a[k];
      }
  }
  ptr[M] = (int32_t)nnz;
  return true;
}

/* Transposes the compressed rows of a [K, M] matrix (kptr/kidx/kval) into compressed rows of
 * its [M, K] transpose (ptr/idx/val, increasing k within a row). cnt: M ints. */
static void transpose_compressed(int64_t K, int64_t M, const int32_t *kptr, const int32_t *kidx,
                                 const float *kval, int32_t *ptr, int32_t *idx, float *val,
                                 int32_t *cnt) {
  memset(cnt, 0, sizeof(int32_t) * (size_t)M);
  int32_t nnz = kptr[K];
  for (int32_t q = 0; q < nnz; q++) cnt[kidx[q]]++;
  int32_t run = 0;
  for (int64_t m = 0; m < M; m++) {
    ptr[m] = run;
    run += cnt[m];
    cnt[m] = ptr[m]; /* next free position of row m */
  }
  ptr[M] = run;
  for (int64_t k = 0; k < K; k++)
    for (int32_t q = kptr[k]; q < kptr[k + 1]; q++) {
      int32_t d = cnt[kidx[q]]++;
      idx[d] = (int32_t)k;
      val[d] = kval[q];
    }
}

/* A strided sample of the stored A: false when it is denser than max_density. */
static bool probe_sparse(const float *A, int64_t n, double max_density) {
  int64_t step = n / PROBE > 1 ? n / PROBE : 1, seen = (n + step - 1) / step, nz = 0;
  /* stops as soon as the count is past the density (a dense A: after max_density of it) */
  int64_t most = (int64_t)(max_density * (double)seen);
  for (int64_t i = 0; i < n; i += step)
    if ((nz += A[i] != 0.0f) > most) return false;
  return true;
}

/* True iff B [K, N] is all finite. For a variable's value the answer is remembered per (buffer,
 * generation) in the op's plan state, so weights that did not change since the last run (as in
 * inference) are not read again. */
static bool b_finite(deft_kernel_ctx *c, bool cache, const deft_buffer *bbuf, const float *B,
                     int64_t n) {
  uint64_t *st = deft_kernel_state(c);
  if (cache && st[0] == (uint64_t)(uintptr_t)bbuf && st[1] == bbuf->gen) return st[2] != 0;
  bool ok = all_finite(B, n);
  if (cache) {
    st[0] = (uint64_t)(uintptr_t)bbuf;
    st[1] = bbuf->gen;
    st[2] = ok;
  }
  return ok;
}

/* The compressed rows of a stored A [R, C] (row stride C). A MatMul keeps them in a memo of the
 * run (ops/kernel.h) keyed by A's buffer and generation: the input layer's forward product X W
 * and its gradient X^T dY both compress the same X, which is done once a step that way. state
 * SP_DENSE: A held more than cap - 8 nonzeros (the compression gave up). ptr/idx/val follow the
 * header. */
enum { SP_OK = 1, SP_DENSE = 2 };
typedef struct sp_rows_memo {
  int64_t state, R, C, cap;
} sp_rows_memo;
#define SP_HEADER 64 /* bytes before ptr, keeping it aligned */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static size_t memo_bytes(int64_t R, int64_t cap) {
  return SP_HEADER + align64(sizeof(int32_t) * (size_t)(R + 1)) +
         align64(sizeof(int32_t) * (size_t)cap) + sizeof(float) * (size_t)cap;
}

static void memo_arrays(sp_rows_memo *h, int32_t **ptr, int32_t **idx, float **val) {
  char *m = (char *)h + SP_HEADER;
  *ptr = (int32_t *)m;
  *idx = (int32_t *)(m + align64(sizeof(int32_t) * (size_t)(h->R + 1)));
  *val = (float *)((char *)*idx + align64(sizeof(int32_t) * (size_t)h->cap));
}

bool deft_math_sgemm_sparse_a(deft_kernel_ctx *c, bool ta, int64_t M, int64_t N, int64_t K,
                              const float *A, const deft_buffer *bbuf, float *C, bool *failed) {
  *failed = false;
  const float *B = bbuf->data;
  bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("bmi2");
  if (!have || N < 8 || K < 16 || M * K > INT32_MAX / 2) return false;
  /* The loops to run, and the density up to which they beat sgemm (see DENSITY_WIDE). */
  /* The transposed product takes the AVX-512 loops only on Intel's cores (see DENSITY_WIDE) */
  bool wide = (!ta || __builtin_cpu_is("intel")) && !force_avx2 &&
              __builtin_cpu_supports("avx512f");
  deft_sgemm_dense dense = deft_sgemm_dense_kernel(); /* what the sparse loops must beat */
  bool own = dense == DEFT_SGEMM_OWN, full = dense == DEFT_SGEMM_OPENBLAS_FULL;
  double max_density = ta ? (own ? DENSITY_TRANSPOSED_OWN
                             : full ? DENSITY_TRANSPOSED_FULL : DENSITY_TRANSPOSED)
                       : wide ? (own ? DENSITY_WIDE_OWN : full ? DENSITY_WIDE_FULL : DENSITY_WIDE)
                              : DENSITY_AVX2;
  if (!probe_sparse(A, M * K, max_density)) return false;
  /* A few rows do not pay for reading all of B just to check it (sgemv reads it once anyway),
   * unless the check is remembered from an earlier run. */
  uint64_t *st = deft_kernel_state(c);
  bool cache = deft_kernel_input_is_variable(c, 1);
  bool known = cache && st[0] == (uint64_t)(uintptr_t)bbuf && st[1] == bbuf->gen;
  if (M < 8 && !known) {
    if (cache) b_finite(c, cache, bbuf, B, K * N); /* remember for the next run */
    return false;
  }
  if (!b_finite(c, cache, bbuf, B, K * N)) return false;
  deft_threadpool *pool = deft_kernel_threadpool(c);
  int threads = deft_kernel_threads(c);
  bool split = pool && threads > 1;
  int64_t cap = (int64_t)(1.2 * max_density * (double)(M * K)) + 8;
  int64_t R = ta ? K : M, RC = ta ? M : K; /* the stored A's rows and columns */

  /* The compressed stored rows: found in the run's memo, or made (into a memo when A is the
   * kernel's input 0, as for MatMul, else into scratch). */
  const deft_tensor *a0 = deft_kernel_num_inputs(c) > 0 ? deft_kernel_input(c, 0) : NULL;
  const deft_buffer *abuf = a0 && a0->buf && a0->buf->data == (const void *)A ? a0->buf : NULL;
  uint64_t k0 = (uint64_t)(uintptr_t)abuf, k1 = abuf ? abuf->gen : 0;
  sp_rows_memo *h = abuf ? deft_kernel_memo_find(c, k0, k1) : NULL;
  if (h && (h->R != R || h->C != RC)) h = NULL;
  /* The compression gave up at a capacity at least this product's: A is too dense for it too.
   * (At a smaller one it may fit this product's: compressed again below.) */
  if (h && h->state == SP_DENSE && h->cap >= cap) return false;
  if (h && h->state != SP_OK) h = NULL;
  if (h && (int64_t)((const int32_t *)((const char *)h + SP_HEADER))[R] + 8 > cap) return false;
  /* Scratch: the parts' bounds, the transpose's arrays, and the compression when no memo. */
  size_t b_bounds = align64(sizeof(int64_t) * (MAX_PARTS + 1));
  size_t b_t = ta ? align64(sizeof(int32_t) * (size_t)(2 * (M + 1))) +
                        align64(sizeof(int32_t) * (size_t)cap) + sizeof(float) * (size_t)cap
                  : 0;
  size_t b_own = !h && !abuf ? align64(memo_bytes(R, cap)) : 0;
  char *mem = deft_kernel_scratch(c, b_bounds + align64(b_t) + b_own);
  if (!mem) {
    *failed = true;
    return false;
  }
  if (!h) {
    h = b_own ? (sp_rows_memo *)(mem + b_bounds + align64(b_t))
              : deft_kernel_memo_new(c, k0, k1, memo_bytes(R, cap));
    if (!h) {
      *failed = true;
      return false;
    }
    *h = (sp_rows_memo){SP_DENSE, R, RC, cap};
    int32_t *rp, *ri;
    float *rv;
    memo_arrays(h, &rp, &ri, &rv);
    if (!compress_rows(A, R, RC, RC, cap, rp, ri, rv)) return false; /* the memo: SP_DENSE */
    h->state = SP_OK;
  }
  int32_t *ptr, *idx;
  float *val;
  memo_arrays(h, &ptr, &idx, &val);
  int64_t *bounds = (int64_t *)mem;
  if (ta) { /* the transpose of the stored rows */
    int32_t *kptr = ptr, *kidx = idx;
    float *kval = val;
    ptr = (int32_t *)(mem + b_bounds);
    int32_t *cnt = ptr + (M + 1);
    idx = (int32_t *)(mem + b_bounds + align64(sizeof(int32_t) * (size_t)(2 * (M + 1))));
    val = (float *)((char *)idx + align64(sizeof(int32_t) * (size_t)cap));
    transpose_compressed(K, M, kptr, kidx, kval, ptr, idx, val, cnt);
  }
  sp_job j = {ptr, idx, val, B, C, N, K, wide, bounds};
  if (!split) {
    sp_rows(&j, 0, M);
    return true;
  }
  /* Parts of about equal work, each at least about 64K multiply-adds. */
  int64_t row_cost = (K + KBLOCK - 1) / KBLOCK;
  int64_t work = N * ((int64_t)ptr[M] + row_cost * M);
  int64_t parts = work / 65536;
  if (parts > PARTS_PER_THREAD * threads) parts = PARTS_PER_THREAD * threads;
  if (parts > MAX_PARTS) parts = MAX_PARTS;
  if (parts < 2) {
    sp_rows(&j, 0, M);
    return true;
  }
  int np;
  balance_rows(ptr, M, row_cost, (int)parts, bounds, &np);
  deft_parallel_for(pool, threads, np, 1, ta ? sp_parts_t : sp_parts, &j);
  return true;
}

#else

void deft_math_sparse_force_avx2(bool on) { (void)on; }

bool deft_math_sgemm_sparse_a(deft_kernel_ctx *c, bool ta, int64_t M, int64_t N, int64_t K,
                              const float *A, const deft_buffer *bbuf, float *C, bool *failed) {
  *failed = false;
  return false;
}

#endif
