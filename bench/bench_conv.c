/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_conv.c - convolution speed.
 *
 * (1) The chapter-13 CNN's convolution layers, forward and backward, as one session run at
 *     batch 100: conv1 = Conv2D(x [100,28,28,1], 3x3x1x32, SAME), conv2 = Conv2D(conv1,
 *     3x3x32x64, stride 2, SAME); the gradients of sum(gy * conv2) for both filters, i.e.
 *     conv1 forward, conv2 forward, conv2 backprop input, both backprop filters (conv1's
 *     backprop input is not needed, as in training). Everything lives in variables, so the run
 *     feeds nothing. bench/conv_torch.py times the same computation in PyTorch.
 * (2) Each of those five ops alone (GFLOP/s), next to OpenBLAS's sgemm at the GEMM shape the op
 *     lowers to and at 1024^3: the convolution's rate as a fraction of sgemm's.
 * (3) A MobileNet-style depthwise 3x3 layer ([32,32,32,64], SAME) forward.
 *
 * Usage: bench_conv [samples]  (default 15) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static deft_op *var(deft_graph *g, const char *name, deft_shape s, uint64_t seed) {
  deft_initializer init = deft_init_random_uniform(-1, 1, (int64_t)seed);
  return deft_get_variable(g, name, DEFT_FLOAT, s, init, true);
}

typedef struct run_ctx {
  deft_session *s;
  deft_output fetch[8];
  int nfetch;
  deft_status *st;
} run_ctx;

static void run_once(void *p) {
  run_ctx *r = p;
  deft_tensor *out[8] = {NULL};
  if (!deft_session_run(r->s, NULL, NULL, 0, r->fetch, out, r->nfetch, NULL, 0, r->st))
    bench_check(r->st, "run");
  for (int i = 0; i < r->nfetch; i++) deft_tensor_free(out[i]);
}

typedef struct gemm {
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k;
  float *a, *b, *c;
} gemm;

static void run_gemm(void *p) {
  gemm *g = p;
  int lda = g->ta == CblasTrans ? g->m : g->k, ldb = g->tb == CblasTrans ? g->k : g->n;
  cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, lda, g->b, ldb, 0.0f,
              g->c, g->n);
}

static double time_sgemm(int threads, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                         int nsamples) {
  size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
  gemm g = {ta, tb, m, n, k, calloc(na, 4), calloc(nb, 4), calloc(nc, 4)};
  for (size_t i = 0; i < na; i++) g.a[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < nb; i++) g.b[i] = (float)(i % 5) * 0.1f;
  openblas_set_num_threads(threads);
  double t = bench_time(run_gemm, &g, 0.05, 0.02, nsamples, NULL, NULL);
  openblas_set_num_threads(1);
  free(g.a);
  free(g.b);
  free(g.c);
  return t;
}

typedef struct layer_op {
  const char *name;
  double flops;
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k; /* the GEMM it lowers to */
} layer_op;

int main(int argc, char **argv) {
  int nsamples = argc > 1 ? atoi(argv[1]) : 15;
  if (nsamples < 3) nsamples = 3;
  enum { B = 100 };
  deft_graph *g = deft_graph_new();
  deft_op *xv = var(g, "x", DEFT_SHAPE(B, 28, 28, 1), 1);
  deft_op *w1 = var(g, "w1", DEFT_SHAPE(3, 3, 1, 32), 2);
  deft_op *w2 = var(g, "w2", DEFT_SHAPE(3, 3, 32, 64), 3);
  deft_op *gyv = var(g, "gy", DEFT_SHAPE(B, 14, 14, 64), 4);
  deft_op *dxv = var(g, "dwx", DEFT_SHAPE(32, 32, 32, 64), 5);
  deft_op *dwf = var(g, "dwf", DEFT_SHAPE(3, 3, 64, 1), 6);
  deft_output x = deft_variable_value(xv), k1 = deft_variable_value(w1);
  deft_output k2 = deft_variable_value(w2), gy = deft_variable_value(gyv);
  deft_conv_options s1 = {.padding = "SAME"}, s2 = {.padding = "SAME", .strides = {2, 2}};
  deft_output c1 = deft_conv2d_op(g, x, k1, &s1, "conv1");
  deft_output c2 = deft_conv2d_op(g, c1, k2, &s2, "conv2");
  deft_output dw[2];
  deft_gradients(g, &c2, 1, (deft_output[]){k1, k2}, 2, &gy, dw);
  /* The five ops alone, on variables. */
  deft_op *c1v = var(g, "c1v", DEFT_SHAPE(B, 28, 28, 32), 7);
  deft_output c1val = deft_variable_value(c1v);
  const int32_t xs[4] = {B, 28, 28, 1}, f1s[4] = {3, 3, 1, 32}, c1s[4] = {B, 28, 28, 32},
                f2s[4] = {3, 3, 32, 64};
  deft_output gy1 = deft_variable_value(var(g, "gy1", DEFT_SHAPE(B, 28, 28, 32), 8));
  deft_output alone[5] = {
      deft_conv2d_op(g, x, k1, &s1, "a_conv1"),
      deft_conv2d_op(g, c1val, k2, &s2, "a_conv2"),
      deft_conv2d_backprop_input(g, deft_const_int32_vector(g, c1s, 4, "c1s"), k2, gy, &s2,
                                 "a_conv2_bi"),
      deft_conv2d_backprop_filter(g, c1val, deft_const_int32_vector(g, f2s, 4, "f2s"), gy, &s2,
                                  "a_conv2_bf"),
      deft_conv2d_backprop_filter(g, x, deft_const_int32_vector(g, f1s, 4, "f1s"), gy1, &s1,
                                  "a_conv1_bf"),
  };
  (void)xs;
  deft_output dwc = deft_depthwise_conv2d_native(g, deft_variable_value(dxv),
                                                 deft_variable_value(dwf), &s1, "dw");
  deft_op *init = deft_global_variables_initializer(g, "init");
  bench_check_graph(g, "build");
  double r1 = 2.0 * B * 28 * 28 * 32 * 9, r2 = 2.0 * B * 14 * 14 * 64 * 288;
  const layer_op ops[5] = {
      {"conv1.fwd", r1, CblasNoTrans, CblasNoTrans, B * 28 * 28, 32, 9},
      {"conv2.fwd", r2, CblasNoTrans, CblasNoTrans, B * 14 * 14, 64, 288},
      {"conv2.bwd_input", r2, CblasNoTrans, CblasTrans, B * 14 * 14, 288, 64},
      {"conv2.bwd_filter", r2, CblasTrans, CblasNoTrans, 288, 64, B * 14 * 14},
      {"conv1.bwd_filter", r1, CblasTrans, CblasNoTrans, 9, 32, B * 28 * 28},
  };
  double step_flops = 2 * r1 + 3 * r2;
  printf("INFO openblas_core %s\n", openblas_get_corename());
  for (int threads = 1; threads <= 2; threads++) {
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(g, st);
    bench_check(st, "session");
    deft_session_set_threads(s, threads);
    if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st)) bench_check(st, "init");
    run_ctx r = {s, {dw[0], dw[1]}, 2, st};
    double p10, p90;
    double t = bench_time(run_once, &r, 0.3, 0.2, nsamples, &p10, &p90);
    char name[96], extra[256];
    snprintf(name, sizeof name, "conv.t%d.ch13_fwd_bwd", threads);
    snprintf(extra, sizeof extra, "ms_p10=%.3f ms_p90=%.3f gflop=%.4g gflops=%.2f", p10 * 1e3,
             p90 * 1e3, step_flops * 1e-9, step_flops / t * 1e-9);
    bench_result(name, t * 1e3, "ms", extra);
    double floor = 0;
    for (int i = 0; i < 5; i++) {
      run_ctx ri = {s, {alone[i]}, 1, st};
      double ti = bench_time(run_once, &ri, 0.1, 0.1, nsamples, NULL, NULL);
      double tg = time_sgemm(threads, ops[i].ta, ops[i].tb, ops[i].m, ops[i].n, ops[i].k,
                             nsamples);
      floor += tg;
      snprintf(name, sizeof name, "conv.t%d.%s", threads, ops[i].name);
      snprintf(extra, sizeof extra,
               "us=%.1f sgemm_same_shape_gflops=%.2f (m=%d n=%d k=%d) fraction=%.2f",
               ti * 1e6, ops[i].flops / tg * 1e-9, ops[i].m, ops[i].n, ops[i].k, tg / ti);
      bench_result(name, ops[i].flops / ti * 1e-9, "GFLOP/s", extra);
    }
    snprintf(name, sizeof name, "conv.t%d.ch13_gemm_floor", threads);
    bench_result(name, floor * 1e3, "ms", "sum of the five sgemm times at the same shapes");
    double tb = time_sgemm(threads, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 5);
    snprintf(name, sizeof name, "conv.t%d.sgemm1024", threads);
    bench_result(name, 2.0 * 1024 * 1024 * 1024 / tb * 1e-9, "GFLOP/s", NULL);
    run_ctx rd = {s, {dwc}, 1, st};
    double td = bench_time(run_once, &rd, 0.1, 0.1, nsamples, NULL, NULL);
    double fd = 2.0 * 32 * 32 * 32 * 64 * 9;
    snprintf(name, sizeof name, "conv.t%d.depthwise_fwd", threads);
    snprintf(extra, sizeof extra, "ms=%.3f shape=[32,32,32,64]x[3,3,64,1]", td * 1e3);
    bench_result(name, fd / td * 1e-9, "GFLOP/s", extra);
    deft_session_free(s);
    deft_status_free(st);
  }
  deft_graph_free(g);
  return 0;
}
