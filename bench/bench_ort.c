/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_ort.c - batch-norm model inference in deft against ONNX Runtime, side by side in
 * one process: the chapter's 784-300-100-10 BN network in inference mode (moving statistics),
 * deft's built by bench_build_bn, ONNX Runtime's exported from PyTorch (bench/export_onnx.py),
 * on the same MNIST test rows. Batch 1 and 200, 1 and 2 threads; for each setting deft and
 * ONNX Runtime are timed alternately, each a median of per-run sample means (bench_time).
 *
 * ONNX Runtime is called through its C API (bench/ort_api.h), loaded with dlopen from the
 * libonnxruntime.so that the npm package onnxruntime-node ships: no binding sits in between, so
 * nothing is subtracted. Its session: intra-op threads = the thread count, inter-op 1,
 * sequential execution, all graph optimizations (its defaults otherwise, including spinning
 * intra-op threads); each run passes a tensor wrapping the input rows and lets ONNX Runtime
 * allocate the output, which is released after the run (deft's fetched tensor is freed the same
 * way).
 *
 * Usage: bench_ort LIBONNXRUNTIME MODEL.onnx [samples] */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "ort_api.h"

static const OrtApi *ort;

static void ort_check(OrtStatus *s, const char *what) {
  if (!s) return;
  fprintf(stderr, "bench_ort: %s: %s\n", what, ort->GetErrorMessage(s));
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
    bench_check(c->st, "forward run");
  deft_tensor_free(out);
}

typedef struct ort_ctx {
  OrtSession *s;
  OrtValue *x;
} ort_ctx;

static void ort_once(void *p) {
  ort_ctx *c = p;
  const char *in_names[1] = {"X"}, *out_names[1] = {"logits"};
  OrtValue *out = NULL;
  ort_check(ort->Run(c->s, NULL, in_names, (const OrtValue *const *)&c->x, 1, out_names, 1, &out),
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

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_ort LIBONNXRUNTIME MODEL.onnx [samples]\n");
    return 2;
  }
  int nsamples = argc > 3 ? atoi(argv[3]) : 31;
  if (nsamples < 3) nsamples = 3;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "bench_ort: %s\n", dlerror());
    return 1;
  }
  OrtGetApiBaseFn get_base = (OrtGetApiBaseFn)dlsym(lib, "OrtGetApiBase");
  const OrtApiBase *base = get_base ? get_base() : NULL;
  ort = base ? base->GetApi(1) : NULL;
  if (!ort) {
    fprintf(stderr, "bench_ort: %s has no usable OrtGetApiBase\n", argv[1]);
    return 1;
  }
  /* The table's layout, checked where it cannot crash: a status made by entry 0 reads back
   * through entries 1 and 2. */
  OrtStatus *probe = ort->CreateStatus(2, "layout probe");
  if (!probe || ort->GetErrorCode(probe) != 2 || strcmp(ort->GetErrorMessage(probe), "layout probe")) {
    fprintf(stderr, "bench_ort: the OrtApi table does not have the documented layout\n");
    return 1;
  }
  ort->ReleaseStatus(probe);
  printf("INFO ort_version %s\n", base->GetVersionString());
  OrtEnv *env;
  ort_check(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "bench_ort", &env), "CreateEnv");
  OrtMemoryInfo *mem;
  ort_check(ort->CreateCpuMemoryInfo(ORT_ARENA_ALLOCATOR, ORT_MEM_TYPE_DEFAULT, &mem),
            "CreateCpuMemoryInfo");

  deft_status *st = deft_status_new();
  deft_tensor *images = NULL;
  deft_mnist_load(bench_mnist_dir(), false, NULL, NULL, &images, NULL, st);
  bench_check(st, "loading MNIST test images");
  bench_model m;
  bench_build_bn(&m, false);
  deft_session *s = deft_session_new(m.g, st);
  bench_check(st, "deft_session_new");
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st);
  bench_check(st, "running init");

  static const int batches[] = {1, 200}, threads[] = {1, 2};
  for (int ti = 0; ti < 2; ti++) {
    OrtSession *os = ort_session(env, argv[2], threads[ti]);
    deft_session_set_threads(s, threads[ti]);
    for (int bi = 0; bi < 2; bi++) {
      int64_t b = batches[bi];
      deft_tensor *x = deft_tensor_slice_rows(images, 0, b, st);
      bench_check(st, "slicing test images");
      int64_t shape[2] = {b, 784};
      OrtValue *ox;
      ort_check(ort->CreateTensorWithDataAsOrtValue(mem, deft_tensor_data(x),
                                                    (size_t)(b * 784) * sizeof(float), shape, 2,
                                                    ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &ox),
                "CreateTensorWithDataAsOrtValue");
      deft_ctx dc = {s, m.X, m.logits, x, st};
      ort_ctx oc = {os, ox};
      double sample_s = b == 1 ? 0.01 : 0.05, p10, p90;
      char name[96], extra[128];
      for (int side = 0; side < 2; side++) {
        double med = side == 0 ? bench_time(deft_once, &dc, 0.3, sample_s, nsamples, &p10, &p90)
                               : bench_time(ort_once, &oc, 0.3, sample_s, nsamples, &p10, &p90);
        snprintf(name, sizeof name, "%s.infer.bn.b%d.t%d", side == 0 ? "deft.ortpeer" : "ort",
                 (int)b, threads[ti]);
        snprintf(extra, sizeof extra, "p10=%.4g p90=%.4g samples=%d", p10 * 1e6, p90 * 1e6,
                 nsamples);
        bench_result(name, med * 1e6, "us", extra);
      }
      ort->ReleaseValue(ox);
      deft_tensor_free(x);
    }
    ort->ReleaseSession(os);
  }
  deft_session_free(s);
  bench_model_free(&m);
  deft_tensor_free(images);
  deft_status_free(st);
  ort->ReleaseMemoryInfo(mem);
  ort->ReleaseEnv(env);
  return 0;
}
