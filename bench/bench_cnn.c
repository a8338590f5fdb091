/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_cnn.c - whole-model CNN speed: the chapter-13 CNN's training and MobileNet v1
 * 0.25/128 inference, with ONNX Runtime as an optional in-process peer (bench/cnn_torch.py is
 * the PyTorch peer; bench/run_cnn runs both).
 *
 * (1) Training: the chapter-13 CNN exactly as examples/ch13_cnn builds it (conv 32 3x3 SAME relu,
 *     conv 64 3x3 stride 2 SAME relu, max-pool 2x2, dense 64 relu, dense 10, mean sparse softmax
 *     cross-entropy, Adam 0.001), on MNIST's 55,000 training images through deft_batcher (batch
 *     100, shuffled, uint8 scaled per batch), 1 and 2 threads. STEPS steps are timed (wall and
 *     process CPU time) after 10 warm-up steps, in SAMPLES samples; the median per step times 550
 *     is the epoch. The step's arithmetic (2.38 GFLOP: five convolution products, the dense
 *     layers) against OpenBLAS sgemm's rate at 1024^3 measured in the same run gives the GEMM
 *     floor.
 * (2) Inference: MobileNet v1 0.25/128 frozen by TF-slim (../shared/tf1/ssoniya__tensorflow-for-
 *     poets-2), imported with its `input` placeholder mapped to a [-1,128,128,3] one so any batch
 *     runs; logits (MobilenetV1/Logits/SpatialSqueeze) at batch 1 and 32; and the ch13 CNN's
 *     logits at batch 1 and 200 (the trained-from-init weights; inference time does not depend
 *     on them).
 * (3) With --ort LIB DIR: ONNX Runtime (libonnxruntime.so through its C API, bench/ort_api.h) on
 *     DIR/ch13_cnn.onnx and DIR/mobilenet.onnx (bench/cnn_torch.py --export DIR writes them from
 *     PyTorch models of the same architectures), alternating with deft per setting.
 *
 * Usage: bench_cnn [--samples N] [--steps N] [--ort LIB DIR] */
#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "ort_api.h"

#ifndef DEFT_BENCH_SOURCE_DIR
#define DEFT_BENCH_SOURCE_DIR "."
#endif

typedef struct cnn_model {
  deft_graph *g;
  deft_output X, y, logits;
  deft_op *train, *init;
} cnn_model;

static void build_cnn(cnn_model *m) {
  deft_graph *g = m->g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  deft_graph_push_scope(g, "inputs");
  m->X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output xr = deft_reshape_to(g, m->X, (int64_t[]){-1, 28, 28, 1}, 4, "X_reshaped");
  m->y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_graph_pop_scope(g);
  const int64_t k3[2] = {3, 3};
  deft_conv2d_options c1 = {{1, 1}, "same", {1, 1}, "relu", 0, false, false, {0}, {0}};
  deft_conv2d_options c2 = {{2, 2}, "same", {1, 1}, "relu", 0, false, false, {0}, {0}};
  deft_output conv1 = deft_conv2d(g, xr, 32, k3, &c1, "conv1");
  deft_output conv2 = deft_conv2d(g, conv1, 64, k3, &c2, "conv2");
  deft_graph_push_scope(g, "pool3");
  const int64_t k2[4] = {1, 2, 2, 1};
  deft_output pool3 = deft_max_pool(g, conv2, k2, k2, "VALID", "NHWC", "MaxPool");
  deft_output flat = deft_reshape_to(g, pool3, (int64_t[]){-1, 64 * 7 * 7}, 2, "Reshape");
  deft_graph_pop_scope(g);
  deft_dense_options relu = {0};
  relu.activation = "relu";
  deft_graph_push_scope(g, "fc1");
  deft_output fc1 = deft_dense(g, flat, 64, &relu, "fc1");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "output");
  m->logits = deft_dense(g, fc1, 10, NULL, "output");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, m->logits, m->y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "Mean");
  deft_optimizer *opt = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  m->train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, "Adam");
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  m->init = deft_global_variables_initializer(g, "init");
  bench_check_graph(g, "building the ch13 CNN");
}

/* Multiply-adds x 2 of one training step at batch b: conv1 fwd + backprop filter, conv2 fwd +
 * both backprops, fc1 fwd + both backprops, output fwd + both backprops. */
static double step_flops(double b) {
  double c1 = 2.0 * b * 28 * 28 * 32 * 9, c2 = 2.0 * b * 14 * 14 * 64 * 288;
  double f1 = 2.0 * b * 3136 * 64, f2 = 2.0 * b * 64 * 10;
  return 2 * c1 + 3 * c2 + 3 * f1 + 3 * f2;
}

typedef struct gemm {
  int n;
  float *a, *b, *c;
} gemm;

static void run_gemm(void *p) {
  gemm *g = p;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b,
              g->n, 0.0f, g->c, g->n);
}

static double sgemm_rate(int threads) {
  enum { N = 1024 };
  gemm g = {N, calloc(N * N, 4), calloc(N * N, 4), calloc(N * N, 4)};
  for (int i = 0; i < N * N; i++) g.a[i] = (float)(i % 7) * 0.1f, g.b[i] = (float)(i % 5) * 0.1f;
  openblas_set_num_threads(threads);
  double t = bench_time(run_gemm, &g, 0.1, 0.05, 7, NULL, NULL);
  openblas_set_num_threads(1);
  free(g.a);
  free(g.b);
  free(g.c);
  return 2.0 * N * N * N / t * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* (1) STEPS-step samples of training; prints per-epoch wall and CPU (x 550). */
static void bench_training(const deft_tensor *tx, const deft_tensor *ty, int threads, int steps,
                           int nsamples) {
  cnn_model m;
  build_cnn(&m);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m.g, st);
  bench_check(st, "session");
  deft_session_set_threads(s, threads);
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st);
  bench_check(st, "init");
  deft_batcher *b = deft_batcher_new(tx, ty, 100, 42, st);
  bench_check(st, "batcher");
  double wall[64], cpu[64];
  if (nsamples > 64) nsamples = 64;
  for (int sample = -1; sample < nsamples; sample++) {
    int n = sample < 0 ? 10 : steps;
    double t0 = bench_now(), c0 = bench_cpu_now();
    for (int i = 0; i < n; i++) {
      const deft_tensor *xb, *yb;
      deft_batch_result r = deft_batcher_next(b, &xb, &yb, st);
      if (r != DEFT_BATCH_READY) {
        bench_check(st, "batching");
        r = deft_batcher_next(b, &xb, &yb, st); /* the next epoch */
        bench_check(st, "batching");
      }
      deft_output feeds[2] = {m.X, m.y};
      const deft_tensor *vals[2] = {xb, yb};
      if (!deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &m.train, 1, st))
        bench_check(st, "training step");
    }
    if (sample >= 0) {
      wall[sample] = (bench_now() - t0) / n;
      cpu[sample] = (bench_cpu_now() - c0) / n;
    }
  }
  qsort(wall, (size_t)nsamples, sizeof(double), cmp_double);
  qsort(cpu, (size_t)nsamples, sizeof(double), cmp_double);
  double w = wall[nsamples / 2], c = cpu[nsamples / 2];
  char name[64], extra[256];
  snprintf(name, sizeof name, "deft.cnn.train.t%d.step", threads);
  snprintf(extra, sizeof extra, "min=%.2f max=%.2f steps_per_sample=%d samples=%d gflops=%.2f",
           wall[0] * 1e3, wall[nsamples - 1] * 1e3, steps, nsamples,
           step_flops(100) / w * 1e-9);
  bench_result(name, w * 1e3, "ms", extra);
  snprintf(name, sizeof name, "deft.cnn.train.t%d.step_cpu", threads);
  bench_result(name, c * 1e3, "ms", "(process CPU time, all threads)");
  snprintf(name, sizeof name, "deft.cnn.train.t%d.epoch", threads);
  bench_result(name, w * 550, "s", "(median step x 550)");
  snprintf(name, sizeof name, "deft.cnn.train.t%d.epoch_cpu", threads);
  bench_result(name, c * 550, "s", "(median step CPU x 550)");
  deft_batcher_free(b);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(m.g);
}

/* ---- inference, deft and ONNX Runtime ---- */

static const OrtApi *ort;

static void ort_check(OrtStatus *s, const char *what) {
  if (!s) return;
  fprintf(stderr, "bench_cnn: %s: %s\n", what, ort->GetErrorMessage(s));
  ort->ReleaseStatus(s);
  exit(1);
}

typedef struct deft_ctx {
  deft_session *s;
  deft_output X, logits;
  deft_tensor *x;
  deft_status *st;
} deft_ctx;

static void deft_once(void *p) {
  deft_ctx *c = p;
  deft_tensor *out = NULL;
  if (!deft_session_run(c->s, &c->X, (const deft_tensor *const[]){c->x}, 1, &c->logits, &out, 1,
                        NULL, 0, c->st))
    bench_check(c->st, "inference run");
  deft_tensor_free(out);
}

typedef struct ort_ctx {
  OrtSession *s;
  OrtValue *x;
  const char *in, *out;
} ort_ctx;

static void ort_once(void *p) {
  ort_ctx *c = p;
  OrtValue *out = NULL;
  ort_check(ort->Run(c->s, NULL, &c->in, (const OrtValue *const *)&c->x, 1, &c->out, 1, &out),
            "Run");
  ort->ReleaseValue(out);
}

static OrtSession *ort_session(OrtEnv *env, const char *model, int threads) {
  OrtSessionOptions *o;
  ort_check(ort->CreateSessionOptions(&o), "CreateSessionOptions");
  ort_check(ort->SetIntraOpNumThreads(o, threads), "SetIntraOpNumThreads");
  ort_check(ort->SetInterOpNumThreads(o, 1), "SetInterOpNumThreads");
  ort_check(ort->SetSessionExecutionMode(o, ORT_SEQUENTIAL), "SetSessionExecutionMode");
  ort_check(ort->SetSessionGraphOptimizationLevel(o, ORT_ENABLE_ALL), "SetGraphOptimizationLevel");
  OrtSession *s;
  ort_check(ort->CreateSession(env, model, o, &s), "CreateSession");
  ort->ReleaseSessionOptions(o);
  return s;
}

typedef struct infer_model {
  const char *tag; /* "mobilenet" / "cnn" */
  deft_graph *g;
  deft_output X, logits;
  deft_op *init; /* NULL for frozen graphs */
  int64_t row[3];  /* one input row's dims */
  int nrow;
  const char *onnx; /* file name in the ORT dir */
} infer_model;

static void import_mobilenet(infer_model *m) {
  char path[1024];
  snprintf(path, sizeof path, "%s/../shared/tf1/ssoniya__tensorflow-for-poets-2/tf_files/models/"
           "mobilenet_v1_0.25_128/frozen_graph.pb", DEFT_BENCH_SOURCE_DIR);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output in = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 128, 128, 3), "bench_input");
  deft_import_options *o = deft_import_options_new();
  deft_import_options_map_input(o, "input", 0, in);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench_cnn: cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc((size_t)len);
  if (fread(buf, 1, (size_t)len, f) != (size_t)len) exit(1);
  fclose(f);
  deft_graph_import_graph_def_data(g, buf, (size_t)len, o, st);
  bench_check(st, path);
  free(buf);
  deft_import_options_free(o);
  deft_op *sq = deft_graph_op_by_name(g, "MobilenetV1/Logits/SpatialSqueeze");
  if (!sq) {
    fprintf(stderr, "bench_cnn: no MobilenetV1/Logits/SpatialSqueeze in %s\n", path);
    exit(1);
  }
  *m = (infer_model){"mobilenet", g, in, {sq, 0}, NULL, {128, 128, 3}, 3, "mobilenet.onnx"};
  deft_status_free(st);
}

static void bench_inference(const infer_model *m, const int *batches, int nb, OrtEnv *env,
                            const char *ort_dir, int nsamples) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m->g, st);
  bench_check(st, "session");
  if (m->init) {
    deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m->init, 1, st);
    bench_check(st, "init");
  }
  OrtMemoryInfo *mem = NULL;
  if (env)
    ort_check(ort->CreateCpuMemoryInfo(ORT_ARENA_ALLOCATOR, ORT_MEM_TYPE_DEFAULT, &mem),
              "CreateCpuMemoryInfo");
  char onnx[1024];
  snprintf(onnx, sizeof onnx, "%s/%s", ort_dir ? ort_dir : ".", m->onnx);
  for (int threads = 1; threads <= 2; threads++) {
    deft_session_set_threads(s, threads);
    OrtSession *os = env ? ort_session(env, onnx, threads) : NULL;
    for (int bi = 0; bi < nb; bi++) {
      int64_t dims[4] = {batches[bi], m->row[0], m->row[1], m->row[2]};
      deft_tensor *x = deft_tensor_new(DEFT_FLOAT, dims, m->nrow + 1, st);
      bench_check(st, "input tensor");
      float *xd = deft_tensor_data(x);
      int64_t n = deft_tensor_num_elements(x);
      uint64_t r = 12345;
      for (int64_t i = 0; i < n; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        xd[i] = (float)((r >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
      }
      if (!strcmp(m->tag, "cnn")) /* pixels in [0, 1] */
        for (int64_t i = 0; i < n; i++) xd[i] = xd[i] * 0.5f + 0.5f;
      deft_ctx dc = {s, m->X, m->logits, x, st};
      OrtValue *ox = NULL;
      if (os) {
        /* The ONNX models take deft's layout (NHWC; [b,784] for the CNN) and transpose. */
        ort_check(ort->CreateTensorWithDataAsOrtValue(mem, xd, (size_t)n * sizeof(float), dims,
                                                      m->nrow + 1,
                                                      ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &ox),
                  "CreateTensorWithDataAsOrtValue");
      }
      ort_ctx oc = {os, ox, "x", "logits"};
      double sample_s = batches[bi] == 1 ? 0.02 : 0.1, p10, p90;
      for (int side = 0; side < (os ? 2 : 1); side++) {
        double med = side == 0 ? bench_time(deft_once, &dc, 0.3, sample_s, nsamples, &p10, &p90)
                               : bench_time(ort_once, &oc, 0.3, sample_s, nsamples, &p10, &p90);
        char name[96], extra[128];
        snprintf(name, sizeof name, "%s.%s.infer.b%d.t%d", side == 0 ? "deft" : "ort", m->tag,
                 batches[bi], threads);
        snprintf(extra, sizeof extra, "p10=%.4g p90=%.4g samples=%d", p10 * 1e3, p90 * 1e3,
                 nsamples);
        bench_result(name, med * 1e3, "ms", extra);
      }
      if (ox) ort->ReleaseValue(ox);
      deft_tensor_free(x);
    }
    if (os) ort->ReleaseSession(os);
  }
  if (mem) ort->ReleaseMemoryInfo(mem);
  deft_session_free(s);
  deft_status_free(st);
}

static OrtEnv *ort_open(const char *lib_path) {
  void *lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "bench_cnn: %s\n", dlerror());
    exit(1);
  }
  OrtGetApiBaseFn get_base = (OrtGetApiBaseFn)dlsym(lib, "OrtGetApiBase");
  const OrtApiBase *base = get_base ? get_base() : NULL;
  ort = base ? base->GetApi(1) : NULL;
  if (!ort) {
    fprintf(stderr, "bench_cnn: %s has no usable OrtGetApiBase\n", lib_path);
    exit(1);
  }
  OrtStatus *probe = ort->CreateStatus(2, "layout probe");
  if (!probe || ort->GetErrorCode(probe) != 2 ||
      strcmp(ort->GetErrorMessage(probe), "layout probe")) {
    fprintf(stderr, "bench_cnn: the OrtApi table does not have the documented layout\n");
    exit(1);
  }
  ort->ReleaseStatus(probe);
  printf("INFO ort_version %s\n", base->GetVersionString());
  OrtEnv *env;
  ort_check(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "bench_cnn", &env), "CreateEnv");
  return env;
}

int main(int argc, char **argv) {
  int nsamples = 7, steps = 20;
  const char *ort_lib = NULL, *ort_dir = NULL, *only = "";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--samples") && i + 1 < argc) nsamples = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--ort") && i + 2 < argc) ort_lib = argv[++i], ort_dir = argv[++i];
    else {
      fprintf(stderr, "usage: bench_cnn [--samples N] [--steps N] [--only train|infer] "
                      "[--ort LIB DIR]\n");
      return 2;
    }
  }
  if (nsamples < 3) nsamples = 3;
  if (steps < 1) steps = 1;
  printf("INFO openblas_core %s\n", openblas_get_corename());
  OrtEnv *env = ort_lib ? ort_open(ort_lib) : NULL;
  deft_status *st = deft_status_new();
  if (strcmp(only, "infer")) {
    deft_tensor *x = NULL, *y = NULL;
    deft_mnist_load(bench_mnist_dir(), true, &x, &y, NULL, NULL, st);
    bench_check(st, "loading MNIST");
    deft_tensor *tx = deft_tensor_slice_rows(x, 5000, deft_tensor_dim(x, 0), st);
    deft_tensor *ty = deft_tensor_slice_rows(y, 5000, deft_tensor_dim(y, 0), st);
    bench_check(st, "slicing MNIST");
    for (int threads = 1; threads <= 2; threads++) {
      bench_training(tx, ty, threads, steps, nsamples);
      double rate = sgemm_rate(threads);
      char name[64], extra[160];
      snprintf(name, sizeof name, "sgemm1024.t%d", threads);
      bench_result(name, rate, "GFLOP/s", NULL);
      snprintf(name, sizeof name, "deft.cnn.train.t%d.gemm_floor_step", threads);
      snprintf(extra, sizeof extra, "step_gflop=%.4g (step GFLOP / sgemm 1024^3 rate)",
               step_flops(100) * 1e-9);
      bench_result(name, step_flops(100) * 1e-9 / rate * 1e3, "ms", extra);
    }
    deft_tensor_free(tx);
    deft_tensor_free(ty);
    deft_tensor_free(x);
    deft_tensor_free(y);
  }
  if (strcmp(only, "train")) {
    infer_model mb;
    import_mobilenet(&mb);
    bench_inference(&mb, (const int[]){1, 32}, 2, env, ort_dir, nsamples);
    deft_graph_free(mb.g);
    cnn_model c;
    build_cnn(&c);
    infer_model cm = {"cnn", c.g, c.X, c.logits, c.init, {784, 0, 0}, 1, "ch13_cnn.onnx"};
    bench_inference(&cm, (const int[]){1, 200}, 2, env, ort_dir, nsamples);
    deft_graph_free(c.g);
  }
  if (env) ort->ReleaseEnv(env);
  deft_status_free(st);
  return 0;
}
