/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_infer.c - forward (inference) latency of the chapter's 784-300-100-10 networks on
 * MNIST test images: the dense + ELU network, and the batch-norm network in inference mode
 * (training left at its default false: moving statistics). Batch 1 and batch 200, 1 and 2
 * threads; median microseconds per deft_session_run (feeding X, fetching the logits).
 *
 * Usage: bench_infer [samples [dense|bn [batch [threads]]]]: the optional arguments after the
 * sample count measure one model, one batch size (any, 1 to 10000) and thread count only (for
 * A/B runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

typedef struct ctx {
  deft_session *s;
  deft_output X, logits;
  deft_tensor *x;
  deft_status *st;
} ctx;

static void run_once(void *p) {
  ctx *c = p;
  deft_tensor *out = NULL;
  if (!deft_session_run(c->s, &c->X, (const deft_tensor *const[]){c->x}, 1, &c->logits, &out, 1,
                        NULL, 0, c->st))
    bench_check(c->st, "forward run");
  deft_tensor_free(out);
}

static void measure(const char *model, bool bn, const deft_tensor *images, int nsamples,
                    int only_batch, int only_threads) {
  bench_model m;
  if (bn)
    bench_build_bn(&m, false);
  else
    bench_build_dense(&m, false);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m.g, st);
  bench_check(st, "deft_session_new");
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st);
  bench_check(st, "running init");
  int batches[] = {1, 200};
  static const int threads[] = {1, 2};
  if (only_batch) batches[0] = batches[1] = only_batch; /* any batch size */
  for (int bi = 0; bi < (only_batch ? 1 : 2); bi++) {
    deft_tensor *x = deft_tensor_slice_rows(images, 0, batches[bi], st);
    bench_check(st, "slicing test images");
    for (int ti = 0; ti < 2; ti++) {
      if (only_threads && threads[ti] != only_threads) continue;
      deft_session_set_threads(s, threads[ti]);
      ctx c = {s, m.X, m.logits, x, st};
      double p10, p90;
      double sample_s = batches[bi] == 1 ? 0.01 : 0.05;
      double med = bench_time(run_once, &c, 0.3, sample_s, nsamples, &p10, &p90);
      char name[96], extra[160];
      snprintf(name, sizeof name, "deft.infer.%s.b%d.t%d", model, batches[bi], threads[ti]);
      snprintf(extra, sizeof extra, "p10=%.4g p90=%.4g samples=%d", p10 * 1e6, p90 * 1e6,
               nsamples);
      bench_result(name, med * 1e6, "us", extra);
    }
    deft_tensor_free(x);
  }
  deft_session_free(s);
  deft_status_free(st);
  bench_model_free(&m);
}

int main(int argc, char **argv) {
  int nsamples = argc > 1 ? atoi(argv[1]) : 31;
  if (nsamples < 3) nsamples = 3;
  deft_status *st = deft_status_new();
  deft_tensor *test_images = NULL;
  deft_mnist_load(bench_mnist_dir(), false, NULL, NULL, &test_images, NULL, st);
  bench_check(st, "loading MNIST test images");
  const char *only = argc > 2 ? argv[2] : NULL;
  int only_batch = argc > 3 ? atoi(argv[3]) : 0, only_threads = argc > 4 ? atoi(argv[4]) : 0;
  if ((only && strcmp(only, "dense") && strcmp(only, "bn")) || only_batch < 0 ||
      only_batch > 10000 || (only_threads != 0 && only_threads != 1 && only_threads != 2)) {
    fprintf(stderr, "usage: bench_infer [samples [dense|bn [batch [threads]]]]\n");
    return 2;
  }
  if (!only || !strcmp(only, "dense"))
    measure("dense", false, test_images, nsamples, only_batch, only_threads);
  if (!only || !strcmp(only, "bn"))
    measure("bn", true, test_images, nsamples, only_batch, only_threads);
  deft_tensor_free(test_images);
  deft_status_free(st);
  return 0;
}
