/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_sgemm.c - deft_sgemm (ops/sgemm.h), deft's packed AVX-512 GEMM and its OpenBLAS
 * fallback: every transpose combination, shapes on and around the register tile (14 x 32) and
 * the cache blocks (KC 256, MC 168, NC 512), row strides wider than the matrices, alpha and
 * beta (beta 0 never reading C, which holds NaNs), K = 0; each element checked against a
 * float64 triple loop within float32 rounding of sum |a||b|. Also: a product split into row or
 * column parts gives the same bits as the whole, so a session's thread count never changes a
 * result. And the vector-matrix products (deft_sgemv, deft_sgemv_rows; MatMul with one row or
 * one column, split over the columns at 2 threads): against NumPy, and 1 against 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#include "deft/deft.h"
#include "ops/sgemm.h"
#include "testutil.h"

static float frand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) % 20001) / 10000.0f - 1.0f;
}

typedef struct mats {
  int64_t M, N, K, lda, ldb, ldc;
  bool ta, tb;
  float *A, *B, *C, *C0;
} mats;

static mats make(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t pad, uint32_t seed) {
  mats m = {M, N, K, 0, 0, 0, ta, tb, NULL, NULL, NULL, NULL};
  int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  m.lda = ac + pad;
  m.ldb = bc + pad;
  m.ldc = N + pad;
  m.A = malloc(sizeof(float) * (size_t)(ar * m.lda + 1));
  m.B = malloc(sizeof(float) * (size_t)(br * m.ldb + 1));
  m.C = malloc(sizeof(float) * (size_t)(M * m.ldc + 1));
  m.C0 = malloc(sizeof(float) * (size_t)(M * m.ldc + 1));
  ck_assert(m.A && m.B && m.C && m.C0);
  for (int64_t i = 0; i < ar * m.lda; i++)
    m.A[i] = frand(&seed);
  for (int64_t i = 0; i < br * m.ldb; i++)
    m.B[i] = frand(&seed);
  for (int64_t i = 0; i < M * m.ldc; i++)
    m.C0[i] = frand(&seed);
  return m;
}

static void release(mats *m) {
  free(m->A);
  free(m->B);
  free(m->C);
  free(m->C0);
}

static double a_at(const mats *m, int64_t i, int64_t k) {
  return m->ta ? m->A[k * m->lda + i] : m->A[i * m->lda + k];
}
static double b_at(const mats *m, int64_t k, int64_t j) {
  return m->tb ? m->B[j * m->ldb + k] : m->B[k * m->ldb + j];
}

/* Runs deft_sgemm on m (C starts as C0, or all NaN when beta is 0) and checks every element
 * and that the padding columns of C are untouched. */
static void check(mats *m, float alpha, float beta, void *work, const char *what) {
  for (int64_t i = 0; i < m->M * m->ldc; i++)
    m->C[i] = beta == 0.0f ? NAN : m->C0[i];
  deft_sgemm(m->ta, m->tb, m->M, m->N, m->K, alpha, m->A, m->lda, m->B, m->ldb, beta, m->C, m->ldc,
             work);
  for (int64_t i = 0; i < m->M; i++) {
    for (int64_t j = 0; j < m->ldc; j++) {
      float got = m->C[i * m->ldc + j];
      if (j >= m->N) {
        ck_assert_msg(beta == 0.0f ? isnan(got) : got == m->C0[i * m->ldc + j],
                      "%s: padding C[%lld,%lld] was written", what, (long long)i, (long long)j);
        continue;
      }
      double want = 0, scale = 0;
      for (int64_t k = 0; k < m->K; k++) {
        want += a_at(m, i, k) * b_at(m, k, j);
        scale += fabs(a_at(m, i, k) * b_at(m, k, j));
      }
      want *= alpha;
      scale *= fabs(alpha);
      if (beta != 0.0f) {
        want += (double)beta * m->C0[i * m->ldc + j];
        scale += fabs((double)beta * m->C0[i * m->ldc + j]);
      }
      ck_assert_msg(fabs(got - want) <= 4e-7 * (double)(m->K + 2) * scale + 1e-30,
                    "%s %c%c M=%lld N=%lld K=%lld: C[%lld,%lld] = %.9g, want %.9g", what,
                    m->ta ? 'T' : 'N', m->tb ? 'T' : 'N', (long long)m->M, (long long)m->N,
                    (long long)m->K, (long long)i, (long long)j, got, want);
    }
  }
}

START_TEST(products_match_float64) {
  void *work = aligned_alloc(64, deft_sgemm_workspace_bytes());
  ck_assert_ptr_nonnull(work);
  if (!deft_sgemm_has_own_kernel())
    fprintf(stderr, "test_sgemm: this CPU has no AVX-512F; only the OpenBLAS path runs\n");
  static const int64_t shapes[][3] = {{1, 1, 1},      {2, 9, 3},      {13, 31, 7},   {14, 32, 8},
                                      {15, 33, 9},    {28, 64, 255},  {29, 65, 257}, {168, 16, 20},
                                      {169, 47, 300}, {40, 513, 30},  {50, 600, 70}, {300, 64, 9},
                                      {7, 100, 600},  {200, 100, 30}, {170, 64, 288}};
  uint32_t seed = 1;
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    for (int t = 0; t < 4; t++) {
      bool ta = t & 1, tb = t & 2;
      mats m = make(ta, tb, shapes[si][0], shapes[si][1], shapes[si][2], si % 3 ? 3 : 0, seed++);
      check(&m, 1.0f, 0.0f, work, "own");
      check(&m, 0.75f, 1.0f, work, "own beta 1");
      check(&m, -1.5f, 0.5f, work, "own beta 0.5");
      check(&m, 1.0f, 0.0f, NULL, "openblas");
      release(&m);
    }
  }
  /* K = 0: C = beta C */
  mats m = make(false, false, 20, 40, 0, 1, 99);
  check(&m, 1.0f, 0.0f, work, "K=0");
  check(&m, 1.0f, 0.5f, work, "K=0 beta");
  release(&m);
  free(work);
}
END_TEST

START_TEST(splits_give_the_same_bits) {
  void *work = aligned_alloc(64, deft_sgemm_workspace_bytes());
  ck_assert_ptr_nonnull(work);
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    mats m = make(ta, tb, 333, 700, 300, 0, 7u + (uint32_t)t);
    deft_sgemm(ta, tb, m.M, m.N, m.K, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, m.C0, m.ldc, work);
    /* rows [0, 98) and [98, M) (98 = 7 register tiles), then columns [0, 352) and [352, N) */
    deft_sgemm(ta, tb, 98, m.N, m.K, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, m.C, m.ldc, work);
    deft_sgemm(ta, tb, m.M - 98, m.N, m.K, 1.0f, m.A + (ta ? 98 : 98 * m.lda), m.lda, m.B, m.ldb,
               0.0f, m.C + 98 * m.ldc, m.ldc, work);
    ck_assert(memcmp(m.C, m.C0, sizeof(float) * (size_t)(m.M * m.ldc)) == 0);
    memset(m.C, 0, sizeof(float) * (size_t)(m.M * m.ldc));
    deft_sgemm(ta, tb, m.M, 352, m.K, 1.0f, m.A, m.lda, m.B, m.ldb, 0.0f, m.C, m.ldc, work);
    deft_sgemm(ta, tb, m.M, m.N - 352, m.K, 1.0f, m.A, m.lda, m.B + (tb ? 352 * m.ldb : 352), m.ldb,
               0.0f, m.C + 352, m.ldc, work);
    ck_assert(memcmp(m.C, m.C0, sizeof(float) * (size_t)(m.M * m.ldc)) == 0);
    release(&m);
  }
  free(work);
}
END_TEST

/* MatMul through a session, 1 and 2 threads, with deft's kernel and with the OpenBLAS path
 * forced (what CPUs without AVX-512F run), against the float64 loop: the kernel's split and
 * workspace plumbing on both paths. */
START_TEST(matmul_op_on_both_paths) {
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    mats m = make(ta, tb, 203, 301, 157, 0, 40u + (uint32_t)t);
    deft_graph *g = deft_graph_new();
    int64_t ad[2] = {ta ? m.K : m.M, ta ? m.M : m.K}, bd[2] = {tb ? m.N : m.K, tb ? m.K : m.N};
    deft_tensor *at = deft_tensor_new(DEFT_FLOAT, ad, 2, NULL);
    deft_tensor *bt = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
    memcpy(deft_tensor_data(at), m.A, sizeof(float) * (size_t)(ad[0] * ad[1]));
    memcpy(deft_tensor_data(bt), m.B, sizeof(float) * (size_t)(bd[0] * bd[1]));
    deft_output y = deft_matmul(g, deft_const(g, at, "a"), deft_const(g, bt, "b"), ta, tb, "y");
    ck_assert(deft_graph_ok(g));
    for (int force = 0; force < 2; force++) {
      deft_sgemm_force_openblas(force);
      deft_sgemm_force_own(!force); /* the packed kernel wherever there is AVX-512F */
      for (int threads = 1; threads <= 2; threads++) {
        deft_status *st = deft_status_new();
        deft_session *s = deft_session_new(g, st);
        deft_session_set_threads(s, threads);
        deft_tensor *out = NULL;
        ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &y, &out, 1, NULL, 0, st), "%s",
                      deft_status_message(st));
        const float *o = deft_tensor_data(out);
        for (int64_t i = 0; i < m.M; i++)
          for (int64_t j = 0; j < m.N; j++) {
            double want = 0, scale = 0;
            for (int64_t k = 0; k < m.K; k++) {
              want += a_at(&m, i, k) * b_at(&m, k, j);
              scale += fabs(a_at(&m, i, k) * b_at(&m, k, j));
            }
            ck_assert_msg(fabs(o[i * m.N + j] - want) <= 4e-7 * (double)(m.K + 2) * scale,
                          "MatMul %s %d threads C[%lld,%lld]", force ? "openblas" : "own", threads,
                          (long long)i, (long long)j);
          }
        deft_tensor_free(out);
        deft_session_free(s);
        deft_status_free(st);
      }
    }
    deft_sgemm_force_openblas(false);
    deft_sgemm_force_own(false);
    deft_tensor_free(at);
    deft_tensor_free(bt);
    deft_graph_free(g);
    release(&m);
  }
}
END_TEST


/* deft_sgemv and deft_sgemv_rows directly, on the AVX-512 and the AVX2 path
 * (deft_sgemm_force_openblas) and OpenBLAS's: every shape's result against float64; with deft's
 * kernel, a split of the columns at a multiple of 16 gives the bits of the whole, the rows of a
 * sparse x give the bits of the dense kernel (B finite), and the AVX2 kernel gives the AVX-512
 * one's bits. */
START_TEST(gemv_kernels) {
  static const int64_t shapes[][2] = {{1, 1},   {1, 300}, {7, 5},    {300, 100}, {784, 300},
                                      {33, 17}, {64, 64}, {129, 65}, {5, 400},   {300, 1000}};
  uint32_t seed = 5;
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    int64_t K = shapes[si][0], N = shapes[si][1];
    for (int tb = 0; tb < 2; tb++) {
      float *first = NULL; /* the AVX-512 kernel's result, for the AVX2 one */
      for (int path = 0; path < 3; path++) { /* OpenBLAS, deft's kernel, deft's forced-AVX2 */
        bool own = path > 0;
        deft_sgemm_force_openblas(path == 2);
        mats m = make(false, tb, 1, N, K, si % 2 ? 5 : 0, seed);
        const float *x = m.A;
        for (int64_t i = 0; i < m.ldc; i++)
          m.C[i] = NAN;
        deft_sgemv(tb, N, K, x, m.B, m.ldb, m.C, own);
        for (int64_t j = 0; j < N; j++) {
          double want = 0, scale = 0;
          for (int64_t k = 0; k < K; k++) {
            want += x[k] * b_at(&m, k, j);
            scale += fabs(x[k] * b_at(&m, k, j));
          }
          ck_assert_msg(fabs(m.C[j] - want) <= 4e-7 * (double)(K + 2) * scale + 1e-30,
                        "sgemv %s tb=%d K=%lld N=%lld: y[%lld] = %.9g, want %.9g",
                        own ? "own" : "openblas", tb, (long long)K, (long long)N, (long long)j,
                        m.C[j], want);
        }
        for (int64_t j = N; j < m.ldc; j++)
          ck_assert_msg(isnan(m.C[j]), "sgemv wrote past N");
        if (path == 1 && !tb && deft_sgemv_own(false)) {
          first = malloc(sizeof(float) * (size_t)N);
          ck_assert_ptr_nonnull(first);
          memcpy(first, m.C, sizeof(float) * (size_t)N);
        }
        if (path == 2 && first && deft_sgemv_own(false))
          ck_assert_msg(memcmp(first, m.C, sizeof(float) * (size_t)N) == 0,
                        "sgemv K=%lld N=%lld: the AVX2 kernel differs from the AVX-512 one",
                        (long long)K, (long long)N);
        for (int64_t cut = 16; own && deft_sgemv_own(tb) && cut < N; cut += 48) { /* two parts */
          for (int64_t i = 0; i < N; i++)
            m.C0[i] = NAN;
          deft_sgemv(tb, cut, K, x, m.B, m.ldb, m.C0, own);
          deft_sgemv(tb, N - cut, K, x, m.B + (tb ? cut * m.ldb : cut), m.ldb, m.C0 + cut, own);
          ck_assert_msg(memcmp(m.C, m.C0, sizeof(float) * (size_t)N) == 0,
                        "sgemv %s tb=%d K=%lld N=%lld: split at %lld changed bits",
                        own ? "own" : "openblas", tb, (long long)K, (long long)N, (long long)cut);
        }
        if (!tb && own && deft_sgemv_own(false)) { /* the rows of a sparse x */
          float *xs = malloc(sizeof(float) * (size_t)K);
          float *val = malloc(sizeof(float) * (size_t)(K + 16));
          int32_t *idx = malloc(sizeof(int32_t) * (size_t)(K + 16));
          ck_assert(xs && val && idx);
          for (int64_t k = 0; k < K; k++)
            xs[k] = k % 3 == 1 ? x[k] : 0.0f;
          int64_t nk = deft_sgemv_compress(K, xs, idx, val);
          ck_assert_int_eq(nk, K / 3 + (K % 3 == 2));
          for (int64_t i = 0; i < nk; i++) {
            ck_assert_int_eq(idx[i], 3 * i + 1);
            ck_assert(val[i] == x[3 * i + 1]);
          }
          deft_sgemv(false, N, K, xs, m.B, m.ldb, m.C, true);
          deft_sgemv_rows(N, nk, idx, val, m.B, m.ldb, m.C0);
          ck_assert_msg(memcmp(m.C, m.C0, sizeof(float) * (size_t)N) == 0,
                        "sgemv_rows K=%lld N=%lld differs from the dense kernel", (long long)K,
                        (long long)N);
          deft_sgemv_rows(N, 0, idx, val, m.B, m.ldb, m.C0); /* no rows: zeros */
          for (int64_t j = 0; j < N; j++)
            ck_assert(m.C0[j] == 0.0f);
          free(xs);
          free(val);
          free(idx);
        }
        release(&m);
      }
      deft_sgemm_force_openblas(false);
      free(first);
    }
    seed++;
  }
}
END_TEST

/* Which kernel runs the large products: deft's packed kernel where the CPU has AVX-512F at full
 * width (not AMD family 19h, Zen 4) and OpenBLAS's kernels do not use AVX-512 (their name, as
 * openblas_get_corename reports it); OpenBLAS elsewhere. The test settings override both ways,
 * on the calling thread only. CTest also runs this suite with OPENBLAS_CORETYPE pinned to
 * Haswell and to SkylakeX (test_sgemm_core_*), so both answers are checked on one machine. */
START_TEST(packed_kernel_choice) {
  bool avx512 = __builtin_cpu_supports("avx512f");
  bool zen4 = __builtin_cpu_is("amdfam19h");
  const char *core = openblas_get_corename();
  bool wide = core && (!strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
                       !strcasecmp(core, "SapphireRapids"));
  fprintf(stderr, "test_sgemm: AVX-512F %d, AMD family 19h %d, OpenBLAS core %s: packed kernel %s\n",
          avx512, zen4, core ? core : "?", deft_sgemm_packs() ? "on" : "off (OpenBLAS)");
  const char *pinned = getenv("OPENBLAS_CORETYPE");
  if (pinned && *pinned && avx512) /* OpenBLAS honours a pin the CPU can run */
    ck_assert_msg(core && !strcasecmp(core, pinned), "OPENBLAS_CORETYPE=%s, OpenBLAS runs %s",
                  pinned, core ? core : "?");
  ck_assert_int_eq(deft_sgemm_openblas_has_avx512(), wide);
  ck_assert_int_eq(deft_sgemm_has_own_kernel(), avx512);
  ck_assert_int_eq(deft_sgemm_packs(), avx512 && !zen4 && !wide);
  deft_sgemm_force_own(true);
  ck_assert_int_eq(deft_sgemm_packs(), avx512);
  deft_sgemm_force_openblas(true); /* OpenBLAS wins over the packed kernel's setting */
  ck_assert(!deft_sgemm_packs() && !deft_sgemm_has_own_kernel());
  deft_sgemm_force_openblas(false);
  deft_sgemm_force_own(false);
  ck_assert_int_eq(deft_sgemm_packs(), avx512 && !zen4 && !wide);
}
END_TEST

/* deft_sgemm_few_rows (2 to 7 rows, A transposed or not): against float64; each row the bits of
 * deft_sgemv of that row; a split of the columns at a multiple of 16 the bits of the whole. */
START_TEST(few_rows_kernel) {
  static const int64_t nk[][2] = {{1, 1}, {5, 7}, {16, 300}, {17, 33}, {100, 300}, {193, 64},
                                  {300, 784}, {400, 2}};
  uint32_t seed = 91;
  for (int64_t M = 2; M <= 7; M++)
    for (size_t si = 0; si < sizeof nk / sizeof nk[0]; si++)
      for (int ta = 0; ta < 2; ta++) {
        int64_t N = nk[si][0], K = nk[si][1];
        mats m = make(ta, false, M, N, K, si % 2 ? 3 : 0, seed++);
        for (int64_t i = 0; i < M * m.ldc; i++)
          m.C[i] = m.C0[i] = NAN;
        deft_sgemm_few_rows(ta, M, N, K, m.A, m.lda, m.B, m.ldb, m.C, m.ldc);
        float *x = malloc(sizeof(float) * (size_t)K), *y = malloc(sizeof(float) * (size_t)N);
        ck_assert(x && y);
        for (int64_t i = 0; i < M; i++) {
          for (int64_t j = 0; j < m.ldc; j++) {
            float got = m.C[i * m.ldc + j];
            if (j >= N) {
              ck_assert_msg(isnan(got), "few_rows wrote C[%lld,%lld] past N", (long long)i,
                            (long long)j);
              continue;
            }
            double want = 0, scale = 0;
            for (int64_t k = 0; k < K; k++) {
              want += a_at(&m, i, k) * b_at(&m, k, j);
              scale += fabs(a_at(&m, i, k) * b_at(&m, k, j));
            }
            ck_assert_msg(fabs(got - want) <= 4e-7 * (double)(K + 2) * scale + 1e-30,
                          "few_rows %c M=%lld N=%lld K=%lld: C[%lld,%lld] = %.9g, want %.9g",
                          ta ? 'T' : 'N', (long long)M, (long long)N, (long long)K, (long long)i,
                          (long long)j, got, want);
          }
          if (deft_sgemv_own(false)) { /* row i: the GEMV's bits */
            for (int64_t k = 0; k < K; k++)
              x[k] = (float)a_at(&m, i, k);
            deft_sgemv(false, N, K, x, m.B, m.ldb, y, true);
            ck_assert_msg(memcmp(y, m.C + i * m.ldc, sizeof(float) * (size_t)N) == 0,
                          "few_rows %c M=%lld N=%lld K=%lld: row %lld differs from the GEMV",
                          ta ? 'T' : 'N', (long long)M, (long long)N, (long long)K, (long long)i);
          }
        }
        for (int64_t cut = 16; cut < N; cut += 48) { /* two parts */
          deft_sgemm_few_rows(ta, M, cut, K, m.A, m.lda, m.B, m.ldb, m.C0, m.ldc);
          deft_sgemm_few_rows(ta, M, N - cut, K, m.A, m.lda, m.B + cut, m.ldb, m.C0 + cut, m.ldc);
          for (int64_t i = 0; i < M; i++)
            ck_assert_msg(memcmp(m.C + i * m.ldc, m.C0 + i * m.ldc, sizeof(float) * (size_t)N) == 0,
                          "few_rows M=%lld N=%lld K=%lld: split at %lld changed bits",
                          (long long)M, (long long)N, (long long)K, (long long)cut);
        }
        free(x);
        free(y);
        release(&m);
      }
}
END_TEST

/* Writes n floats to a file under the test's temporary directory; returns its path in buf. */
static const char *write_floats(char *buf, size_t size, const char *tag, const float *v,
                                int64_t n) {
  snprintf(buf, size, "%s/gemv-%d-%s.bin", tu_tmpdir(), (int)getpid(), tag);
  FILE *f = fopen(buf, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert(fwrite(v, sizeof(float), (size_t)n, f) == (size_t)n);
  fclose(f);
  return buf;
}

/* One MatMul with a single row (M = 1) or a single column (N = 1) through a session: input 0 a
 * Const, input 1 a variable (so the sparse-x path may run from the second run on, once B is
 * known finite). 1 and 2 threads, three runs each, deft's kernel and the OpenBLAS path: every
 * result within float32 rounding of NumPy's float64 product (NaN where NumPy has NaN), and the
 * 2-thread result bit for bit the 1-thread one; with deft's kernel all six runs are the same bits
 * (the dense kernel of the first run, the sparse rows of the later ones). density: the fraction
 * of the vector's elements that are not zero; inf_row: B gets an infinity in a row that the
 * vector's zero selects (the product must be NaN there, not skipped). */
static void matmul_vec_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double density,
                            bool inf_row, uint32_t seed) {
  mats m = make(ta, tb, M, N, K, 0, seed);
  int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
  float *vec = M == 1 || N != 1 ? m.A : m.B; /* the vector operand (or A, for M > 1) */
  int64_t vn = M == 1 || N == 1 ? K : M * K;
  for (int64_t k = 0; k < vn; k++)
    if ((double)((uint32_t)(k * 2654435761u) % 1000) >= 1000.0 * density) vec[k] = 0.0f;
  if (inf_row) { /* x[k0] is 0: B's row k0 holds an infinity */
    ck_assert(M == 1 && !tb);
    int64_t k0 = 0;
    while (k0 < K && m.A[k0] != 0.0f) k0++;
    ck_assert(k0 < K);
    m.B[k0 * m.ldb + N / 2] = INFINITY;
  }
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  char pa[512], pb[512], pc[512];
  write_floats(pa, sizeof pa, "a", m.A, ad[0] * ad[1]);
  write_floats(pb, sizeof pb, "b", m.B, bd[0] * bd[1]);
  snprintf(pc, sizeof pc, "%s/gemv-%d-c.bin", tu_tmpdir(), (int)getpid());
  char dims[8][24];
  const char *args[12] = {pa, pb, pc, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], NULL};
  snprintf(dims[0], 24, "%lld", (long long)ad[0]);
  snprintf(dims[1], 24, "%lld", (long long)ad[1]);
  snprintf(dims[2], 24, "%lld", (long long)bd[0]);
  snprintf(dims[3], 24, "%lld", (long long)bd[1]);
  snprintf(dims[4], 24, "%d", ta);
  snprintf(dims[5], 24, "%d", tb);
  ck_assert_int_eq(tu_python("import sys\nimport numpy as np\n"
                             "pa, pb, pc = sys.argv[1:4]\n"
                             "ar, ac, br, bc, ta, tb = map(int, sys.argv[4:10])\n"
                             "a = np.fromfile(pa, np.float32).reshape(ar, ac).astype(np.float64)\n"
                             "b = np.fromfile(pb, np.float32).reshape(br, bc).astype(np.float64)\n"
                             "a = a.T if ta else a\n"
                             "b = b.T if tb else b\n"
                             "with np.errstate(invalid='ignore'):\n"
                             "    c = a @ b\n"
                             "s = np.abs(a) @ np.abs(b)\n"
                             "np.concatenate([c.ravel(), s.ravel()]).tofile(pc)\n",
                             args),
                   0);
  double *ref = malloc(sizeof(double) * (size_t)(2 * M * N));
  ck_assert_ptr_nonnull(ref);
  FILE *f = fopen(pc, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert(fread(ref, sizeof(double), (size_t)(2 * M * N), f) == (size_t)(2 * M * N));
  fclose(f);
  remove(pa);
  remove(pb);
  remove(pc);

  deft_graph *g = deft_graph_new();
  deft_tensor *at = deft_tensor_new(DEFT_FLOAT, ad, 2, NULL);
  deft_tensor *bt = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
  memcpy(deft_tensor_data(at), m.A, sizeof(float) * (size_t)(ad[0] * ad[1]));
  memcpy(deft_tensor_data(bt), m.B, sizeof(float) * (size_t)(bd[0] * bd[1]));
  deft_op *var = deft_variable_new(g, "b", deft_const(g, bt, "b0"), false);
  deft_output y = deft_matmul(g, deft_const(g, at, "a"), deft_variable_value(var), ta, tb, "y");
  deft_op *init = deft_global_variables_initializer(g, "init");
  ck_assert(deft_graph_ok(g));
  size_t bytes = sizeof(float) * (size_t)(M * N);
  float *res = malloc(bytes * 6);
  ck_assert_ptr_nonnull(res);
  for (int force = 0; force < 2; force++) {
    deft_sgemm_force_openblas(force);
    deft_sgemm_force_own(!force); /* the packed kernel wherever there is AVX-512F */
    for (int threads = 1; threads <= 2; threads++) {
      deft_status *st = deft_status_new();
      deft_session *s = deft_session_new(g, st);
      deft_session_set_threads(s, threads);
      ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), "%s",
                    deft_status_message(st));
      for (int run = 0; run < 3; run++) {
        deft_tensor *out = NULL;
        ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &y, &out, 1, NULL, 0, st), "%s",
                      deft_status_message(st));
        const float *o = deft_tensor_data(out);
        for (int64_t i = 0; i < M * N; i++) {
          if (isnan(ref[i])) {
            ck_assert_msg(isnan(o[i]), "MatMul %c%c [%lld,%lld]x[%lld,%lld] %s %d threads run %d: "
                          "element %lld is %g, NumPy's NaN", ta ? 'T' : 'N', tb ? 'T' : 'N',
                          (long long)ad[0], (long long)ad[1], (long long)bd[0], (long long)bd[1],
                          force ? "openblas" : "own", threads, run, (long long)i, o[i]);
            continue;
          }
          ck_assert_msg(fabs(o[i] - ref[i]) <= 4e-7 * (double)(K + 2) * ref[M * N + i] + 1e-30,
                        "MatMul %c%c [%lld,%lld]x[%lld,%lld] %s %d threads run %d: element %lld "
                        "is %.9g, NumPy %.9g", ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)ad[0],
                        (long long)ad[1], (long long)bd[0], (long long)bd[1],
                        force ? "openblas" : "own", threads, run, (long long)i, o[i], ref[i]);
        }
        memcpy((char *)res + bytes * (size_t)((threads - 1) * 3 + run), o, bytes);
        deft_tensor_free(out);
      }
      deft_session_free(s);
      deft_status_free(st);
    }
    bool own = deft_sgemv_own(tb) && (M == 1 || N == 1); /* with force: the AVX2 kernel */
    /* Products of a few rows run OpenBLAS, on one thread where deft's kernel is the CPU's, but
     * split (as on CPUs without AVX-512F) on the forced path, whose results then differ. */
    bool same = M == 1 || N == 1 || deft_sgemm_has_own_kernel();
    for (int r = 0; r < 3; r++) { /* 2 threads against 1, run by run */
      ck_assert_msg(!same || memcmp((char *)res + bytes * (size_t)r,
                                    (char *)res + bytes * (size_t)(3 + r), bytes) == 0,
                    "MatMul [%lld,%lld]x[%lld,%lld] %s run %d: 2 threads changed bits",
                    (long long)ad[0], (long long)ad[1], (long long)bd[0], (long long)bd[1],
                    force ? "openblas" : "own", r);
      if (own)
        ck_assert_msg(memcmp(res, (char *)res + bytes * (size_t)r, bytes) == 0,
                      "MatMul [%lld,%lld]x[%lld,%lld] %s: run %d differs from run 0",
                      (long long)ad[0], (long long)ad[1], (long long)bd[0], (long long)bd[1],
                      force ? "avx2" : "own", r);
    }
  }
  deft_sgemm_force_openblas(false);
  deft_sgemm_force_own(false);
  free(res);
  free(ref);
  deft_tensor_free(at);
  deft_tensor_free(bt);
  deft_graph_free(g);
  release(&m);
}

/* Shapes: split ones (K x N >= 2^17 multiply-adds) with N a multiple of 16 or not, N smaller
 * than two vectors, K = 1, N = 1 (a matrix times a column, both layouts), B transposed; sparse
 * and dense vectors; an infinity that a zero selects; and products of 2 to 13 rows. */
START_TEST(matmul_vector_products) {
  matmul_vec_case(false, false, 1, 300, 784, 0.2, false, 61);  /* an MNIST-like row */
  matmul_vec_case(false, false, 1, 304, 2000, 0.3, false, 62); /* sparse, split */
  matmul_vec_case(false, false, 1, 300, 784, 1.0, false, 63);  /* dense, split */
  matmul_vec_case(false, false, 1, 37, 4000, 1.0, false, 64);  /* 16 + 21 columns */
  matmul_vec_case(false, false, 1, 5, 3000, 0.5, false, 65);   /* fewer columns than a vector */
  matmul_vec_case(false, false, 1, 140000, 1, 1.0, false, 66); /* K = 1 */
  matmul_vec_case(false, false, 1, 333, 1500, 0.1, true, 67);  /* 0 * inf */
  matmul_vec_case(false, true, 1, 301, 900, 1.0, false, 68);   /* x B^T */
  matmul_vec_case(false, false, 1, 1, 700, 1.0, false, 69);    /* M = N = 1 */
  matmul_vec_case(false, false, 1000, 1, 300, 1.0, false, 70); /* A b */
  matmul_vec_case(true, false, 1000, 1, 300, 1.0, false, 71);  /* A^T b */
  /* 2 .. 7 rows: deft_sgemm_few_rows (B transposed: OpenBLAS, on one thread); 8 .. 13: the
   * packed kernel */
  matmul_vec_case(false, false, 4, 300, 784, 0.2, false, 72);
  matmul_vec_case(false, false, 2, 1001, 300, 1.0, false, 73);
  matmul_vec_case(true, false, 7, 333, 500, 1.0, false, 74);
  matmul_vec_case(false, true, 13, 250, 400, 1.0, false, 75);
  matmul_vec_case(true, true, 3, 517, 400, 1.0, false, 76);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sgemm");
  TCase *tc = tcase_create("sgemm");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, products_match_float64);
  tcase_add_test(tc, splits_give_the_same_bits);
  tcase_add_test(tc, matmul_op_on_both_paths);
  tcase_add_test(tc, gemv_kernels);
  tcase_add_test(tc, few_rows_kernel);
  tcase_add_test(tc, matmul_vector_products);
  tcase_add_test(tc, packed_kernel_choice);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
