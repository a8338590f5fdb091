/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_rnn.c - recurrent-network training speed: the chapter-14 models, built through
 * include/deft/rnn.h, each twice: unrolled by static_rnn, and as examples/ch14_rnn.c builds them
 * now, by dynamic_rnn's while loop (rows "<model>_dyn"):
 *
 *   lstm3   MNIST rows as 28 steps of 28 inputs, MultiRNNCell of 3 BasicLSTMCell(150), dense 10
 *           on the top layer's h, sparse softmax cross-entropy, Adam 0.001, batch 150;
 *   basic   the same with one BasicRNNCell(150) (tanh);
 *   series  20 steps of 1 input, OutputProjectionWrapper(BasicRNNCell(100, relu), 1), MSE,
 *           Adam 0.001, batch 50.
 *
 * One training step is one session run of the train op with the batch fed. The batch is fixed
 * synthetic data of the real shapes (uniform [0,1) pixels and random labels for MNIST, the
 * chapter's t*sin(t)/3 + 2*sin(5t) windows for the series): the step's cost does not depend on
 * the values. Each step is timed alone after a warm-up; the median (and p10/p90) is reported,
 * and for MNIST extrapolated to an epoch of 55,000/150 = 367 steps. bench/rnn_torch.py times the
 * same models in PyTorch.
 *
 * Usage: bench_rnn [steps [warmup [model [threads]]]]  (defaults 40 and 5, every model, on 1 and
 * 2 threads; model: lstm3, basic, series or their "_dyn" rows, to time one of them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

enum { MNIST_BATCH = 150, SERIES_BATCH = 50, SERIES_STEPS = 20 };
static const double EPOCH_STEPS = 55000.0 / MNIST_BATCH;

static uint64_t rng = 0x853c49e6748fea9bull;
static double uniform01(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* x[:, t, :] for every t, as examples/ch14_rnn.c splits the time axis. */
static void unstack_time(deft_graph *g, deft_output x, int steps, deft_output *out) {
  for (int t = 0; t < steps; t++) {
    int32_t b[3] = {0, t, 0}, e[3] = {0, t + 1, 0}, one[3] = {1, 1, 1};
    out[t] = deft_strided_slice(g, x, deft_const_int32_vector(g, b, 3, "stack"),
                                deft_const_int32_vector(g, e, 3, "stack_1"),
                                deft_const_int32_vector(g, one, 3, "stack_2"), 5, 5, 0, 0, 2,
                                "strided_slice");
  }
}

typedef struct rnn_model {
  deft_graph *g;
  deft_output X, y;
  deft_op *train, *init;
  deft_rnn_cell *cell;
  deft_optimizer *adam;
  deft_tensor *xb, *yb;
} rnn_model;

static void build_mnist(rnn_model *m, bool lstm, bool dynamic) {
  deft_status *st = deft_status_new();
  deft_graph *g = m->g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  m->X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  m->y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_output X3 = deft_reshape_to(g, m->X, (const int64_t[]){-1, 28, 28}, 3, "Reshape");
  deft_output steps[28], outs[28], fin[6], douts;
  if (!dynamic) unstack_time(g, X3, 28, steps);
  if (lstm) {
    deft_rnn_cell *layers[3];
    for (int i = 0; i < 3; i++) layers[i] = deft_rnn_cell_basic_lstm(g, 150, 1.0f, NULL, NULL);
    m->cell = deft_rnn_cell_multi(g, layers, 3);
  } else {
    m->cell = deft_rnn_cell_basic(g, 150, NULL, NULL);
  }
  bench_check_graph(g, "building the cell");
  if (dynamic)
    deft_dynamic_rnn(g, m->cell, X3, NULL, (deft_output){NULL, 0}, false, NULL, &douts, fin);
  else
    deft_static_rnn(g, m->cell, steps, 28, NULL, (deft_output){NULL, 0}, NULL, outs, fin);
  deft_output top = fin[deft_rnn_cell_state_count(m->cell) - 1];
  deft_output logits = deft_dense(g, top, 10, NULL, "dense");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, m->y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  m->adam = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  m->train = deft_optimizer_minimize(m->adam, loss, NULL, 0, NULL, "train");
  m->init = deft_global_variables_initializer(g, "init");
  bench_check_graph(g, "building the MNIST RNN");
  m->xb = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){MNIST_BATCH, 784}, 2, st);
  m->yb = deft_tensor_new(DEFT_INT32, (const int64_t[]){MNIST_BATCH}, 1, st);
  bench_check(st, "allocating the batch");
  float *x = deft_tensor_data(m->xb);
  int32_t *y = deft_tensor_data(m->yb);
  for (int i = 0; i < MNIST_BATCH * 784; i++) x[i] = (float)uniform01();
  for (int i = 0; i < MNIST_BATCH; i++) y[i] = (int32_t)(uniform01() * 10) % 10;
  deft_status_free(st);
}

static double series(double t) { return t * sin(t) / 3 + 2 * sin(t * 5); }

static void build_series(rnn_model *m, bool dynamic) {
  deft_status *st = deft_status_new();
  deft_graph *g = m->g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  m->X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, SERIES_STEPS, 1), "X");
  m->y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, SERIES_STEPS, 1), "y");
  deft_output steps[SERIES_STEPS], outs[SERIES_STEPS], outputs;
  if (!dynamic) unstack_time(g, m->X, SERIES_STEPS, steps);
  m->cell = deft_rnn_cell_output_projection(g, deft_rnn_cell_basic(g, 100, "relu", NULL), 1, NULL);
  bench_check_graph(g, "building the cell");
  if (dynamic) {
    deft_dynamic_rnn(g, m->cell, m->X, NULL, (deft_output){NULL, 0}, false, NULL, &outputs, NULL);
  } else {
    deft_static_rnn(g, m->cell, steps, SERIES_STEPS, NULL, (deft_output){NULL, 0}, NULL, outs,
                    NULL);
    outputs = deft_pack(g, outs, SERIES_STEPS, 1, "outputs");
  }
  deft_output loss = deft_reduce_mean(
      g, deft_square(g, deft_sub(g, outputs, m->y, "sub"), "Square"), NULL, 0, false, "loss");
  m->adam = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  m->train = deft_optimizer_minimize(m->adam, loss, NULL, 0, NULL, "train");
  m->init = deft_global_variables_initializer(g, "init");
  bench_check_graph(g, "building the series RNN");
  const int64_t shape[3] = {SERIES_BATCH, SERIES_STEPS, 1};
  m->xb = deft_tensor_new(DEFT_FLOAT, shape, 3, st);
  m->yb = deft_tensor_new(DEFT_FLOAT, shape, 3, st);
  bench_check(st, "allocating the batch");
  float *x = deft_tensor_data(m->xb), *y = deft_tensor_data(m->yb);
  for (int i = 0; i < SERIES_BATCH; i++) {
    double t0 = uniform01() * (30.0 - SERIES_STEPS * 0.1);
    for (int k = 0; k < SERIES_STEPS; k++) {
      x[i * SERIES_STEPS + k] = (float)series(t0 + k * 0.1);
      y[i * SERIES_STEPS + k] = (float)series(t0 + (k + 1) * 0.1);
    }
  }
  deft_status_free(st);
}

static void model_free(rnn_model *m) {
  deft_tensor_free(m->xb);
  deft_tensor_free(m->yb);
  deft_optimizer_free(m->adam);
  deft_rnn_cell_free(m->cell);
  deft_graph_free(m->g);
}

/* Runs warmup + n training steps on `threads` threads, timing each of the last n alone. */
static void time_model(const char *name, rnn_model *m, int threads, int n, int warmup,
                        bool epoch) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m->g, st);
  bench_check(st, "deft_session_new");
  deft_session_set_threads(s, threads);
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m->init, 1, st);
  bench_check(st, "running init");
  deft_output feeds[2] = {m->X, m->y};
  const deft_tensor *vals[2] = {m->xb, m->yb};
  double *t = malloc((size_t)n * sizeof *t);
  if (!t) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  double c0 = 0;
  for (int i = -warmup; i < n; i++) {
    if (i == 0) c0 = bench_cpu_now();
    double t0 = bench_now();
    if (!deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &m->train, 1, st))
      bench_check(st, "training step");
    if (i >= 0) t[i] = bench_now() - t0;
  }
  double cpu = (bench_cpu_now() - c0) / n;
  double med = bench_median(t, n);
  char rname[96], extra[200];
  snprintf(rname, sizeof rname, "deft.t%d.%s.step", threads, name);
  snprintf(extra, sizeof extra, "ms_p10=%.3f ms_p90=%.3f cpu_ms=%.3f steps=%d",
           bench_quantile_sorted(t, n, 0.1) * 1e3, bench_quantile_sorted(t, n, 0.9) * 1e3,
           cpu * 1e3, n);
  bench_result(rname, med * 1e3, "ms", extra);
  if (epoch) {
    snprintf(rname, sizeof rname, "deft.t%d.%s.epoch", threads, name);
    bench_result(rname, med * EPOCH_STEPS, "s", "(median step x 55000/150)");
  }
  fflush(stdout);
  free(t);
  deft_session_free(s);
  deft_status_free(st);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 40;
  int warmup = argc > 2 ? atoi(argv[2]) : 5;
  if (n < 3) n = 3;
  if (warmup < 1) warmup = 1;
  const char *only = argc > 3 ? argv[3] : NULL;
  int t_lo = argc > 4 ? atoi(argv[4]) : 1, t_hi = argc > 4 ? t_lo : 2;
  for (int threads = t_lo; threads <= t_hi; threads++)
    for (int dyn = 0; dyn < 2; dyn++) {
      rnn_model m;
      const char *names[3][2] = {
          {"lstm3", "lstm3_dyn"}, {"basic", "basic_dyn"}, {"series", "series_dyn"}};
      for (int k = 0; k < 3; k++) {
        if (only && strcmp(only, names[k][dyn]) != 0) continue;
        if (k == 2)
          build_series(&m, dyn);
        else
          build_mnist(&m, k == 0, dyn);
        time_model(names[k][dyn], &m, threads, k == 2 ? n * 5 : n, k == 2 ? warmup * 5 : warmup,
                   k != 2);
        model_free(&m);
      }
    }
  return 0;
}
