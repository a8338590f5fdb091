/* bench/bench_capi.c - what TensorFlow's C API (libtensorflow-deft) adds to a run, against
 * deft's own API on the same graphs:
 *   1. `a + b` of two float scalar Placeholders fed on every run (TF_SessionRun vs
 *      deft_session_run);
 *   2. `a + b` of two scalar Consts, fetch only;
 *   3. batch-1 inference of the dense + ELU 784-300-100-10 network (bench_build_dense), the
 *      C API side importing deft's GraphDef of it with TF_GraphImportGraphDef.
 * Each run includes what a user pays: the call, the fetched tensor returned and freed. The two
 * sides alternate (deft, C API, deft, C API) so that load changes on the shared machine hit
 * both; each side's result is the median of its samples (microseconds per run). The C API side
 * links libtensorflow-deft.so (its own copy of deft inside), the deft side deft_static.
 *
 *   bench_capi [SAMPLES]                 time both sides of every measurement
 *   bench_capi --loop NAME deft|capi N   N untimed runs of one side (NAME: add.fed, add.const,
 *                                        infer.batch1), for valgrind --tool=callgrind */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "tensorflow/c/c_api.h"

static void tf_check(TF_Status *s, const char *what) {
  if (TF_GetCode(s) == TF_OK) return;
  fprintf(stderr, "bench_capi: %s: %s\n", what, TF_Message(s));
  exit(1);
}

/* ---- deft's side ---- */

typedef struct deft_ctx {
  deft_session *s;
  deft_output feeds[2];
  deft_tensor *vals[2];
  int nfeeds;
  deft_output fetch;
  deft_status *st;
} deft_ctx;

static void deft_run(void *p) {
  deft_ctx *c = p;
  deft_tensor *out = NULL;
  if (!deft_session_run(c->s, c->feeds, (const deft_tensor *const *)c->vals, c->nfeeds, &c->fetch,
                        &out, 1, NULL, 0, c->st))
    bench_check(c->st, "deft_session_run");
  deft_tensor_free(out);
}

/* ---- the C API's side ---- */

typedef struct tf_ctx {
  TF_Session *s;
  TF_Output feeds[2];
  TF_Tensor *vals[2];
  int nfeeds;
  TF_Output fetch;
  TF_Status *st;
} tf_ctx;

static void tf_run(void *p) {
  tf_ctx *c = p;
  TF_Tensor *out = NULL;
  TF_SessionRun(c->s, NULL, c->feeds, c->vals, c->nfeeds, &c->fetch, &out, 1, NULL, 0, NULL,
                c->st);
  tf_check(c->st, "TF_SessionRun");
  TF_DeleteTensor(out);
}

static TF_Operation *tf_op(TF_Graph *g, const char *type, const char *name, TF_Output *in, int n,
                           TF_DataType dtype, TF_Tensor *value, TF_Status *s) {
  TF_OperationDescription *d = TF_NewOperation(g, type, name);
  for (int i = 0; i < n; i++) TF_AddInput(d, in[i]);
  if (dtype) TF_SetAttrType(d, "dtype", dtype);
  if (value) TF_SetAttrTensor(d, "value", value, s);
  TF_Operation *op = TF_FinishOperation(d, s);
  tf_check(s, name);
  return op;
}

static TF_Tensor *tf_scalar(float v) {
  TF_Tensor *t = TF_AllocateTensor(TF_FLOAT, NULL, 0, sizeof v);
  *(float *)TF_TensorData(t) = v;
  return t;
}

/* --loop NAME SIDE N: run N runs of one side of one measurement and no timing, for counting
 * instructions with `valgrind --tool=callgrind` (load-independent, unlike the clocks). */
static const char *loop_name, *loop_side;
static long loop_n;

/* Runs both sides alternately, twice each, and reports the medians. */
static void compare(const char *name, deft_ctx *dc, tf_ctx *tc, double sample_s, int nsamples) {
  if (loop_name) {
    if (strcmp(name, loop_name)) return;
    bool capi = !strcmp(loop_side, "capi");
    for (long i = 0; i < loop_n; i++) capi ? tf_run(tc) : deft_run(dc);
    printf("%s: %ld runs of %s\n", name, loop_n, capi ? "the C API" : "deft");
    return;
  }
  double d[2], t[2], p10, p90;
  for (int r = 0; r < 2; r++) {
    d[r] = bench_time(deft_run, dc, 0.2, sample_s, nsamples, &p10, &p90);
    t[r] = bench_time(tf_run, tc, 0.2, sample_s, nsamples, &p10, &p90);
  }
  double dm = d[0] < d[1] ? d[0] : d[1], tm = t[0] < t[1] ? t[0] : t[1];
  char extra[200];
  snprintf(extra, sizeof extra, "rounds=%.4g,%.4g samples=%d", d[0] * 1e6, d[1] * 1e6, nsamples);
  char n[128];
  snprintf(n, sizeof n, "deft.%s", name);
  bench_result(n, dm * 1e6, "us", extra);
  snprintf(extra, sizeof extra, "rounds=%.4g,%.4g samples=%d", t[0] * 1e6, t[1] * 1e6, nsamples);
  snprintf(n, sizeof n, "capi.%s", name);
  bench_result(n, tm * 1e6, "us", extra);
  printf("%-14s deft %8.3f us   C API %8.3f us   C API / deft %.3f\n", name, dm * 1e6, tm * 1e6,
         tm / dm);
}

static void add_graphs(bool fed, int nsamples) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_ctx dc = {.st = st};
  TF_Status *s = TF_NewStatus();
  TF_Graph *tg = TF_NewGraph();
  tf_ctx tc = {.st = s};
  deft_output a, b;
  TF_Output ta, tb;
  if (fed) {
    a = deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "a");
    b = deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "b");
    dc.feeds[0] = a;
    dc.feeds[1] = b;
    dc.vals[0] = deft_tensor_scalar_float(3.0f);
    dc.vals[1] = deft_tensor_scalar_float(4.0f);
    dc.nfeeds = 2;
    ta = (TF_Output){tf_op(tg, "Placeholder", "a", NULL, 0, TF_FLOAT, NULL, s), 0};
    tb = (TF_Output){tf_op(tg, "Placeholder", "b", NULL, 0, TF_FLOAT, NULL, s), 0};
    tc.feeds[0] = ta;
    tc.feeds[1] = tb;
    tc.vals[0] = tf_scalar(3.0f);
    tc.vals[1] = tf_scalar(4.0f);
    tc.nfeeds = 2;
  } else {
    a = deft_const_float(g, 3.0f, "a");
    b = deft_const_float(g, 4.0f, "b");
    TF_Tensor *v3 = tf_scalar(3.0f), *v4 = tf_scalar(4.0f);
    ta = (TF_Output){tf_op(tg, "Const", "a", NULL, 0, TF_FLOAT, v3, s), 0};
    tb = (TF_Output){tf_op(tg, "Const", "b", NULL, 0, TF_FLOAT, v4, s), 0};
    TF_DeleteTensor(v3);
    TF_DeleteTensor(v4);
  }
  dc.fetch = deft_add(g, a, b, "add");
  bench_check_graph(g, "a + b");
  dc.s = deft_session_new(g, st);
  bench_check(st, "deft_session_new");
  TF_Output ab[2] = {ta, tb};
  tc.fetch = (TF_Output){tf_op(tg, "Add", "add", ab, 2, 0, NULL, s), 0};
  tc.s = TF_NewSession(tg, NULL, s);
  tf_check(s, "TF_NewSession");
  /* check the answers once */
  TF_Tensor *out = NULL;
  TF_SessionRun(tc.s, NULL, tc.feeds, tc.vals, tc.nfeeds, &tc.fetch, &out, 1, NULL, 0, NULL, s);
  tf_check(s, "TF_SessionRun(a + b)");
  if (*(float *)TF_TensorData(out) != 7.0f) {
    fprintf(stderr, "bench_capi: a + b = %g, expected 7\n", *(float *)TF_TensorData(out));
    exit(1);
  }
  TF_DeleteTensor(out);
  compare(fed ? "add.fed" : "add.const", &dc, &tc, 0.01, nsamples);
  TF_DeleteSession(tc.s, s);
  for (int i = 0; i < tc.nfeeds; i++) TF_DeleteTensor(tc.vals[i]);
  TF_DeleteGraph(tg);
  TF_DeleteStatus(s);
  deft_session_free(dc.s);
  for (int i = 0; i < dc.nfeeds; i++) deft_tensor_free(dc.vals[i]);
  deft_graph_free(g);
  deft_status_free(st);
}

static void infer_batch1(int nsamples) {
  bench_model m;
  bench_build_dense(&m, false);
  deft_status *st = deft_status_new();
  deft_ctx dc = {.st = st, .nfeeds = 1, .feeds = {m.X}, .fetch = m.logits};
  dc.s = deft_session_new(m.g, st);
  bench_check(st, "deft_session_new");
  deft_session_run(dc.s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st);
  bench_check(st, "init");
  int64_t dims[2] = {1, 784};
  dc.vals[0] = deft_tensor_new(DEFT_FLOAT, dims, 2, st);
  float *x = deft_tensor_data(dc.vals[0]);
  for (int i = 0; i < 784; i++) x[i] = (float)((i * 37) % 255) / 255.0f;

  /* the same graph through the C API: deft's GraphDef of it, imported */
  void *bytes;
  size_t len;
  if (!deft_graph_to_graph_def_data(m.g, &bytes, &len, st)) bench_check(st, "GraphDef");
  TF_Status *s = TF_NewStatus();
  TF_Graph *tg = TF_NewGraph();
  TF_Buffer *gd = TF_NewBufferFromString(bytes, len);
  free(bytes);
  TF_GraphImportGraphDef(tg, gd, NULL, s);
  tf_check(s, "TF_GraphImportGraphDef");
  TF_DeleteBuffer(gd);
  tf_ctx tc = {.st = s, .nfeeds = 1};
  tc.feeds[0] = (TF_Output){TF_GraphOperationByName(tg, deft_op_name(m.X.op)), m.X.index};
  tc.fetch = (TF_Output){TF_GraphOperationByName(tg, deft_op_name(m.logits.op)), m.logits.index};
  const TF_Operation *init[1] = {TF_GraphOperationByName(tg, deft_op_name(m.init))};
  if (!tc.feeds[0].oper || !tc.fetch.oper || !init[0]) {
    fprintf(stderr, "bench_capi: the imported graph lacks X, logits or init\n");
    exit(1);
  }
  tc.s = TF_NewSession(tg, NULL, s);
  tf_check(s, "TF_NewSession");
  TF_SessionRun(tc.s, NULL, NULL, NULL, 0, NULL, NULL, 0, init, 1, NULL, s);
  tf_check(s, "init");
  /* same initial values: copy each variable's value from deft's session into the C API's by
   * feeding the variables' Assign ops' value inputs is not possible generally, so both sides
   * just compute on their own initial values (same graph, same seeds: the same numbers) */
  tc.vals[0] = TF_NewTensor(TF_FLOAT, dims, 2, x, 784 * sizeof(float), NULL, NULL);
  deft_tensor *dl = NULL;
  TF_Tensor *tl = NULL;
  deft_session_run(dc.s, dc.feeds, (const deft_tensor *const *)dc.vals, 1, &dc.fetch, &dl, 1, NULL,
                   0, st);
  bench_check(st, "deft logits");
  TF_SessionRun(tc.s, NULL, tc.feeds, tc.vals, 1, &tc.fetch, &tl, 1, NULL, 0, NULL, s);
  tf_check(s, "C API logits");
  if (memcmp(deft_tensor_data(dl), TF_TensorData(tl), 10 * sizeof(float)) != 0) {
    fprintf(stderr, "bench_capi: the two sides' logits differ\n");
    exit(1);
  }
  deft_tensor_free(dl);
  TF_DeleteTensor(tl);
  compare("infer.batch1", &dc, &tc, 0.02, nsamples);
  TF_DeleteSession(tc.s, s);
  TF_DeleteTensor(tc.vals[0]);
  TF_DeleteGraph(tg);
  TF_DeleteStatus(s);
  deft_session_free(dc.s);
  deft_tensor_free(dc.vals[0]);
  deft_status_free(st);
  bench_model_free(&m);
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--loop")) {
    loop_name = argv[2];
    loop_side = argv[3];
    loop_n = atol(argv[4]);
    argc = 1;
  }
  int nsamples = argc > 1 ? atoi(argv[1]) : 51;
  if (nsamples < 5) nsamples = 5;
  add_graphs(true, nsamples);
  add_graphs(false, nsamples);
  infer_batch1(nsamples);
  return 0;
}
