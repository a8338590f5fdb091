/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_gemm.c - the GEMM-bound floor of a training epoch.
 *
 * Measures OpenBLAS's sgemm (row-major, as deft stores tensors) at the exact shapes of the
 * training step of the chapter's 784-300-100-10 network at batch 200, with 1 and 2 threads:
 *   forward   Y[B,out]  = X[B,in] @ W[in,out]         (NoTrans, NoTrans)
 *   backward  dW[in,out] = X^T @ dY                   (Trans,   NoTrans)
 *             dX[B,in]  = dY[B,out] @ W^T             (NoTrans, Trans)
 * The input layer's dX is not needed to train (nobody consumes it), so the floor counts the
 * other 8 products; the floor with all 9 is printed too. floor = sum over the products of their
 * FLOPs / their measured rate (= the sum of their measured times), times 275 steps per epoch.
 * A 1024^3 product gives the machine's large-GEMM rate for reference.
 * Then the same products as deft's MatMul op runs them, 1 thread ("own.*": deft_sgemm,
 * ops/sgemm.h, deft's AVX-512 kernel where the CPU has one, OpenBLAS otherwise; one session
 * run per product, so a run's ~1 us overhead is included).
 *
 * Usage: bench_gemm [samples]  (default 21) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "deft/deft.h"

enum { BATCH = 200, STEPS = 275, NLAYERS = 3 };
static const int layer_in[NLAYERS] = {784, 300, 100};
static const int layer_out[NLAYERS] = {300, 100, 10};

typedef struct gemm {
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k, lda, ldb, ldc;
  const float *a, *b;
  float *c;
} gemm;

static void run_gemm(void *p) {
  gemm *g = p;
  cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b, g->ldb,
              0.0f, g->c, g->ldc);
}

/* One product as deft's MatMul: Consts a and b, fetched from a 1-thread session. */
typedef struct own_product {
  deft_graph *g;
  deft_session *s;
  deft_output y;
  deft_status *st;
} own_product;

static deft_output const_matrix(deft_graph *g, const float *v, int rows, int cols,
                                const char *name) {
  int64_t d[2] = {rows, cols};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, d, 2, NULL);
  if (!t) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  memcpy(deft_tensor_data(t), v, sizeof(float) * (size_t)rows * (size_t)cols);
  deft_output c = deft_const(g, t, name);
  deft_tensor_free(t);
  return c;
}

static void run_own(void *p) {
  own_product *o = p;
  deft_tensor *out = NULL;
  deft_session_run(o->s, NULL, NULL, 0, &o->y, &out, 1, NULL, 0, o->st);
  bench_check(o->st, "MatMul");
  deft_tensor_free(out);
}

/* Times g's product as deft's MatMul (1 thread); returns seconds per run. */
static double time_own(const char *name, const gemm *g, int nsamples) {
  bool ta = g->ta == CblasTrans, tb = g->tb == CblasTrans;
  own_product o = {deft_graph_new(), NULL, {NULL, 0}, deft_status_new()};
  deft_output a = const_matrix(o.g, g->a, ta ? g->k : g->m, ta ? g->m : g->k, "a");
  deft_output b = const_matrix(o.g, g->b, tb ? g->n : g->k, tb ? g->k : g->n, "b");
  o.y = deft_matmul(o.g, a, b, ta, tb, "y");
  bench_check_graph(o.g, "MatMul graph");
  o.s = deft_session_new(o.g, o.st);
  bench_check(o.st, "session");
  deft_session_set_threads(o.s, 1);
  double p10, p90;
  double t = bench_time(run_own, &o, 0.05, 0.02, nsamples, &p10, &p90);
  char rname[96], extra[192];
  snprintf(rname, sizeof rname, "own.gemm.t1.%s", name);
  snprintf(extra, sizeof extra, "m=%d n=%d k=%d ta=%d tb=%d us=%.4g", g->m, g->n, g->k, ta, tb,
           t * 1e6);
  bench_result(rname, 2.0 * g->m * g->n * g->k / t * 1e-9, "GFLOP/s", extra);
  deft_session_free(o.s);
  deft_graph_free(o.g);
  deft_status_free(o.st);
  return t;
}

static float *filled(size_t n, unsigned seed) {
  float *v = aligned_alloc(64, ((n * sizeof(float)) + 63) / 64 * 64);
  if (!v) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    v[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  return v;
}

/* Times one product; returns seconds per call and prints its rate. */
static double time_gemm(const char *name, int threads, gemm *g, int nsamples) {
  double p10, p90;
  double t = bench_time(run_gemm, g, 0.05, 0.02, nsamples, &p10, &p90);
  double flops = 2.0 * g->m * g->n * g->k;
  char rname[96], extra[192];
  snprintf(rname, sizeof rname, "gemm.t%d.%s", threads, name);
  snprintf(extra, sizeof extra, "m=%d n=%d k=%d ta=%d tb=%d us=%.4g", g->m, g->n, g->k,
           g->ta == CblasTrans, g->tb == CblasTrans, t * 1e6);
  bench_result(rname, flops / t * 1e-9, "GFLOP/s", extra);
  return t;
}

int main(int argc, char **argv) {
  int nsamples = argc > 1 ? atoi(argv[1]) : 21;
  if (nsamples < 3) nsamples = 3;
  printf("INFO openblas_core %s\n", openblas_get_corename());
  printf("INFO openblas_config %s\n", openblas_get_config());

  float *x[NLAYERS], *w[NLAYERS], *y[NLAYERS], *dy[NLAYERS], *dw[NLAYERS], *dx[NLAYERS];
  for (int l = 0; l < NLAYERS; l++) {
    int in = layer_in[l], out = layer_out[l];
    x[l] = filled((size_t)BATCH * in, 1u + l);
    w[l] = filled((size_t)in * out, 11u + l);
    y[l] = filled((size_t)BATCH * out, 21u + l);
    dy[l] = filled((size_t)BATCH * out, 31u + l);
    dw[l] = filled((size_t)in * out, 41u + l);
    dx[l] = filled((size_t)BATCH * in, 51u + l);
  }
  enum { BIG = 1024 };
  float *ba = filled((size_t)BIG * BIG, 7), *bb = filled((size_t)BIG * BIG, 8),
        *bc = filled((size_t)BIG * BIG, 9);

  static const int threads[] = {1, 2};
  for (int ti = 0; ti < 2; ti++) {
    int t = threads[ti];
    openblas_set_num_threads(t);
    double step_needed = 0, step_all = 0, flops_needed = 0, flops_all = 0;
    for (int l = 0; l < NLAYERS; l++) {
      int in = layer_in[l], out = layer_out[l];
      double f = 2.0 * BATCH * in * out;
      char name[32];
      gemm fwd = {CblasNoTrans, CblasNoTrans, BATCH, out, in, in, out, out, x[l], w[l], y[l]};
      snprintf(name, sizeof name, "L%d.fwd", l + 1);
      double tf = time_gemm(name, t, &fwd, nsamples);
      gemm gw = {CblasTrans, CblasNoTrans, in, out, BATCH, in, out, out, x[l], dy[l], dw[l]};
      snprintf(name, sizeof name, "L%d.dW", l + 1);
      double tw = time_gemm(name, t, &gw, nsamples);
      gemm gx = {CblasNoTrans, CblasTrans, BATCH, in, out, out, out, in, dy[l], w[l], dx[l]};
      snprintf(name, sizeof name, "L%d.dX", l + 1);
      double tx = time_gemm(name, t, &gx, nsamples);
      step_all += tf + tw + tx;
      flops_all += 3 * f;
      step_needed += tf + tw + (l > 0 ? tx : 0);
      flops_needed += (l > 0 ? 3 : 2) * f;
    }
    char rname[64], extra[160];
    snprintf(rname, sizeof rname, "gemm.t%d.rate", t);
    snprintf(extra, sizeof extra, "flops_per_step=%.6g step_us=%.4g", flops_needed,
             step_needed * 1e6);
    bench_result(rname, flops_needed / step_needed * 1e-9, "GFLOP/s", extra);
    snprintf(rname, sizeof rname, "gemm.t%d.floor", t);
    snprintf(extra, sizeof extra, "steps=%d flops_per_epoch=%.6g", STEPS, flops_needed * STEPS);
    bench_result(rname, step_needed * STEPS, "s", extra);
    snprintf(rname, sizeof rname, "gemm.t%d.floor_all", t);
    snprintf(extra, sizeof extra, "steps=%d flops_per_epoch=%.6g (input-layer dX included)",
             STEPS, flops_all * STEPS);
    bench_result(rname, step_all * STEPS, "s", extra);
    if (t == 1) {
      /* The same 8 products timed in process CPU time (the fastest of 7 repetitions of 20
       * steps): on a shared machine, where other processes take the core part of the time, it
       * is the floor to hold a training epoch's CPU time against. */
      gemm steps[3 * NLAYERS];
      int np = 0;
      for (int l = 0; l < NLAYERS; l++) {
        int in = layer_in[l], out = layer_out[l];
        steps[np++] = (gemm){CblasNoTrans, CblasNoTrans, BATCH, out, in, in, out, out, x[l], w[l], y[l]};
        steps[np++] = (gemm){CblasTrans, CblasNoTrans, in, out, BATCH, in, out, out, x[l], dy[l], dw[l]};
        if (l > 0)
          steps[np++] = (gemm){CblasNoTrans, CblasTrans, BATCH, in, out, out, out, in, dy[l], w[l], dx[l]};
      }
      double best = 1e30;
      for (int r = 0; r < 7; r++) {
        double c0 = bench_cpu_now();
        for (int k = 0; k < 20; k++)
          for (int i = 0; i < np; i++) run_gemm(&steps[i]);
        double c = (bench_cpu_now() - c0) / 20;
        if (c < best) best = c;
      }
      snprintf(rname, sizeof rname, "gemm.t1.floor_cpu");
      snprintf(extra, sizeof extra, "steps=%d products=%d (process CPU time)", STEPS, np);
      bench_result(rname, best * STEPS, "s", extra);
    }
    gemm big = {CblasNoTrans, CblasNoTrans, BIG, BIG, BIG, BIG, BIG, BIG, ba, bb, bc};
    time_gemm("peak1024", t, &big, 5);
  }
  /* deft's MatMul at the same shapes, 1 thread: the floor deft's own products set */
  double own_step = 0, own_flops = 0;
  for (int l = 0; l < NLAYERS; l++) {
    int in = layer_in[l], out = layer_out[l];
    char name[32];
    gemm fwd = {CblasNoTrans, CblasNoTrans, BATCH, out, in, in, out, out, x[l], w[l], y[l]};
    gemm gw = {CblasTrans, CblasNoTrans, in, out, BATCH, in, out, out, x[l], dy[l], dw[l]};
    gemm gx = {CblasNoTrans, CblasTrans, BATCH, in, out, out, out, in, dy[l], w[l], dx[l]};
    snprintf(name, sizeof name, "L%d.fwd", l + 1);
    own_step += time_own(name, &fwd, nsamples);
    snprintf(name, sizeof name, "L%d.dW", l + 1);
    own_step += time_own(name, &gw, nsamples);
    if (l > 0) {
      snprintf(name, sizeof name, "L%d.dX", l + 1);
      own_step += time_own(name, &gx, nsamples);
    }
    own_flops += (l > 0 ? 3 : 2) * 2.0 * BATCH * in * out;
  }
  {
    char extra[160];
    snprintf(extra, sizeof extra, "steps=%d flops_per_epoch=%.6g (deft's MatMul, 1 thread)",
             STEPS, own_flops * STEPS);
    bench_result("own.gemm.t1.floor", own_step * STEPS, "s", extra);
    gemm big = {CblasNoTrans, CblasNoTrans, BIG, BIG, BIG, BIG, BIG, BIG, ba, bb, bc};
    time_own("peak1024", &big, 5);
  }
  for (int l = 0; l < NLAYERS; l++) {
    free(x[l]);
    free(w[l]);
    free(y[l]);
    free(dy[l]);
    free(dw[l]);
    free(dx[l]);
  }
  free(ba);
  free(bb);
  free(bc);
  return 0;
}
