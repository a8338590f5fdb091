/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_train.c - training epochs of the chapter's batch-norm model (784-300-100-10, BN
 * momentum 0.9, ELU, SGD 0.01, batch 200) on MNIST's 55,000 training images (rows 5,000..59,999
 * of the training file; the first 5,000 are the validation set): 275 steps per epoch, each
 * running the training op and the UPDATE_OPS with training=true, as the chapter does.
 *
 * Usage: bench_train [threads [epochs [dataset [nofuse]]]]  (defaults 1, 4, mnist)
 * nofuse: plan-time fusion off (deft_session_options_set_plan_fusion), for bench/run's A/B.
 * dataset: mnist; fashion (Fashion-MNIST, /usr/share/datasets/fashion-mnist from Debian's
 * dataset-fashion-mnist, or $DEFT_FASHION_DIR; about half its pixels are non-zero); random
 * (MNIST's labels with every pixel replaced by a uniform random value in 1..255: dense input,
 * where skipping zeros cannot help). Results are named deft.train.tN.* for mnist and
 * deft.train.DATASET.tN.* otherwise.
 * Prints the time of every epoch (and the wall time per step spent in deft_batcher_next), their
 * median, the validation and test accuracy at the end (a
 * check that the run trained), and the process's peak RSS after training. Timing covers the
 * whole epoch loop: the shuffled batcher (uint8 images scaled per batch, gathered over the
 * session's threads) and the session runs. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* Accuracy of the model (moving statistics) on uint8 images x and labels y, in batches of 1,000
 * rows taken in order by a batcher, whose buffers are reused, so that evaluation does not raise
 * the process's peak memory. */
static double evaluate(deft_session *s, const bench_model *m, const deft_tensor *x8,
                       const deft_tensor *y, deft_status *st) {
  int64_t n = deft_tensor_dim(x8, 0);
  deft_batcher *b = deft_batcher_new(x8, y, n < 1000 ? n : 1000, 0, st);
  bench_check(st, "making the evaluation batcher");
  deft_batcher_set_shuffle(b, false);
  double correct = 0;
  const deft_tensor *cx, *cy;
  while (deft_batcher_next(b, &cx, &cy, st) == DEFT_BATCH_READY) {
    deft_output feeds[2] = {m->X, m->y};
    const deft_tensor *vals[2] = {cx, cy};
    deft_tensor *acc = NULL;
    deft_session_run(s, feeds, vals, 2, &m->accuracy, &acc, 1, NULL, 0, st);
    bench_check(st, "evaluating accuracy");
    correct += *(const float *)deft_tensor_data(acc) * (double)deft_tensor_dim(cx, 0);
    deft_tensor_free(acc);
  }
  bench_check(st, "evaluating accuracy");
  deft_batcher_free(b);
  return n ? correct / (double)n : 0.0;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  int epochs = argc > 2 ? atoi(argv[2]) : 4;
  const char *dataset = argc > 3 ? argv[3] : "mnist";
  if (threads < 1) threads = 1;
  if (epochs < 1) epochs = 1;
  bool fashion = strcmp(dataset, "fashion") == 0, random_px = strcmp(dataset, "random") == 0;
  if (!fashion && !random_px && strcmp(dataset, "mnist") != 0) {
    fprintf(stderr, "bench_train: dataset must be mnist, fashion or random, not %s\n", dataset);
    return 2;
  }
  char tag[48];
  if (fashion || random_px) snprintf(tag, sizeof tag, "%s.t%d", dataset, threads);
  else snprintf(tag, sizeof tag, "t%d", threads);
  deft_status *st = deft_status_new();

  double t_load = bench_now();
  deft_tensor *train_x = NULL, *train_y = NULL, *test_x8 = NULL, *test_y = NULL;
  const char *dir = bench_mnist_dir();
  if (fashion) dir = getenv("DEFT_FASHION_DIR") ? getenv("DEFT_FASHION_DIR")
                                                : "/usr/share/datasets/fashion-mnist";
  deft_mnist_load(dir, true, &train_x, &train_y, &test_x8, &test_y, st);
  bench_check(st, "loading the data set");
  if (random_px) {
    uint8_t *px = deft_tensor_data(train_x);
    uint32_t seed = 12345u;
    for (int64_t i = 0; i < deft_tensor_num_elements(train_x); i++) {
      seed = seed * 1664525u + 1013904223u;
      px[i] = (uint8_t)(1 + (seed >> 24) % 255);
    }
  }
  {
    const uint8_t *px = deft_tensor_data(train_x);
    int64_t n = deft_tensor_num_elements(train_x), nz = 0;
    for (int64_t i = 0; i < n; i++) nz += px[i] != 0;
    printf("INFO deft.train.%s.density %.4f\n", tag, (double)nz / (double)n);
  }
  printf("INFO deft.train.%s.rss_after_load %.1f MiB\n", tag, bench_peak_rss_mib());
  deft_tensor *x_train = deft_tensor_slice_rows(train_x, 5000, 60000, st);
  deft_tensor *y_train = x_train ? deft_tensor_slice_rows(train_y, 5000, 60000, st) : NULL;
  deft_tensor *x_valid8 = y_train ? deft_tensor_slice_rows(train_x, 0, 5000, st) : NULL;
  deft_tensor *y_valid = x_valid8 ? deft_tensor_slice_rows(train_y, 0, 5000, st) : NULL;
  bench_check(st, "splitting MNIST");
  deft_tensor_free(train_x);
  deft_tensor_free(train_y);
  t_load = bench_now() - t_load;
  printf("INFO deft.train.%s.rss_after_split %.1f MiB\n", tag, bench_peak_rss_mib());

  bench_model m;
  bench_build_bn(&m, true);
  deft_session_options *so = deft_session_options_new();
  if (!so) {
    fprintf(stderr, "bench_train: out of memory\n");
    return 1;
  }
  deft_session_options_set_plan_fusion(so, !(argc > 4 && !strcmp(argv[4], "nofuse")));
  deft_session *s = deft_session_new_with_options(m.g, so, st);
  deft_session_options_free(so);
  bench_check(st, "deft_session_new");
  deft_session_set_threads(s, threads);
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st);
  bench_check(st, "running init");

  deft_batcher *b = deft_batcher_new(x_train, y_train, 200, 42, st);
  bench_check(st, "deft_batcher_new");
  /* the batches' gather (uint8 rows to float) over the session's threads; NULL with 1 */
  deft_batcher_set_threadpool(b, deft_session_threadpool(s));
  long steps_per_epoch = (long)deft_batcher_num_batches(b);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[3] = {m.X, m.y, m.training};
  double *times = calloc((size_t)epochs, sizeof *times);
  double *cpu = calloc((size_t)epochs, sizeof *cpu);
  double *batch_s = calloc((size_t)epochs, sizeof *batch_s); /* wall time in the batcher */
  if (!yes || !times || !cpu || !batch_s) {
    fprintf(stderr, "bench: out of memory\n");
    return 1;
  }
  char name[96], extra[160];
  for (int e = 0; e < epochs; e++) {
    double t0 = bench_now(), c0 = bench_cpu_now();
    long steps = 0;
    const deft_tensor *xb, *yb;
    double tb = bench_now(); /* the start of the current deft_batcher_next call */
    while (deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY) {
      batch_s[e] += bench_now() - tb;
      const deft_tensor *vals[3] = {xb, yb, yes};
      if (!deft_session_run(s, feeds, vals, 3, NULL, NULL, 0, m.targets, m.ntargets, st))
        bench_check(st, "training step");
      steps++;
      tb = bench_now();
    }
    bench_check(st, "batcher");
    times[e] = bench_now() - t0;
    cpu[e] = bench_cpu_now() - c0;
    printf("epoch %d: %ld steps, %.4f s (cpu %.4f s, batcher %.1f us/step)\n", e, steps,
           times[e], cpu[e], 1e6 * batch_s[e] / (double)steps);
    if (steps != steps_per_epoch) {
      fprintf(stderr, "bench: epoch had %ld steps, expected %ld\n", steps, steps_per_epoch);
      return 1;
    }
  }
  double first = times[0];
  double med = bench_median(times, epochs);
  snprintf(name, sizeof name, "deft.train.%s.epoch", tag);
  snprintf(extra, sizeof extra, "epochs=%d first=%.4g min=%.4g max=%.4g steps=%ld", epochs, first,
           times[0], times[epochs - 1], steps_per_epoch);
  bench_result(name, med, "s", extra);
  snprintf(name, sizeof name, "deft.train.%s.epoch_cpu", tag);
  bench_result(name, bench_median(cpu, epochs), "s", "(process CPU time, all threads)");

  double rss = bench_peak_rss_mib();
  double va = evaluate(s, &m, x_valid8, y_valid, st);
  double ta = evaluate(s, &m, test_x8, test_y, st);
  snprintf(name, sizeof name, "deft.train.%s.valid_acc", tag);
  bench_result(name, va, "frac", NULL);
  snprintf(name, sizeof name, "deft.train.%s.test_acc", tag);
  bench_result(name, ta, "frac", NULL);
  snprintf(name, sizeof name, "deft.train.%s.rss", tag);
  snprintf(extra, sizeof extra, "source=getrusage load_s=%.3g", t_load);
  bench_result(name, rss, "MiB", extra);

  free(times);
  free(cpu);
  free(batch_s);
  deft_tensor_free(yes);
  deft_batcher_free(b);
  deft_session_free(s);
  bench_model_free(&m);
  deft_tensor_free(x_train);
  deft_tensor_free(y_train);
  deft_tensor_free(x_valid8);
  deft_tensor_free(y_valid);
  deft_tensor_free(test_x8);
  deft_tensor_free(test_y);
  deft_status_free(st);
  return 0;
}
