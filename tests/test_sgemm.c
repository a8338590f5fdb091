/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_sgemm.c - deft_sgemm (ops/sgemm.h), deft's packed AVX-512 GEMM and its OpenBLAS
 * fallback: every transpose combination, shapes on and around the register tile (14 x 32) and
 * the cache blocks (KC 256, MC 168, NC 512), row strides wider than the matrices, alpha and
 * beta (beta 0 never reading C, which holds NaNs), K = 0; each element checked against a
 * float64 triple loop within float32 rounding of sum |a||b|. Also: a product split into row or
 * column parts gives the same bits as the whole, so a session's thread count never changes a
 * result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    deft_tensor_free(at);
    deft_tensor_free(bt);
    deft_graph_free(g);
    release(&m);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sgemm");
  TCase *tc = tcase_create("sgemm");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, products_match_float64);
  tcase_add_test(tc, splits_give_the_same_bits);
  tcase_add_test(tc, matmul_op_on_both_paths);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
