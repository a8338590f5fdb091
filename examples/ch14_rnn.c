/* SPDX-License-Identifier: Apache-2.0 */
/* examples/ch14_rnn.c - the book's recurrent-network chapter (chapter 14), in C.
 *
 *   ch14_rnn --model basic   MNIST rows as sequences: 28 steps of 28 pixels, BasicRNNCell(150),
 *                            dense 10 on the final state, Adam 0.001, batch 150; prints train
 *                            (last batch) and test accuracy per epoch, saves, re-imports the
 *                            meta graph, checks the restored test accuracy and trains on.
 *   ch14_rnn --model lstm3   the same with MultiRNNCell of 3 BasicLSTMCell(150), the top
 *                            layer's h into the dense layer.
 *   ch14_rnn --model series  t*sin(t)/3 + 2*sin(5t): 20 steps, OutputProjectionWrapper(
 *                            BasicRNNCell(100, relu), 1), Adam 0.001, batch 50, MSE every 100
 *                            iterations; then the chapter's prediction on its test instance and
 *                            its creative generation loop.
 *
 * Options: --data DIR (MNIST), --epochs N, --iterations N (series), --seed N, --threads N,
 * --workdir DIR (checkpoints), --limit N (use only the first N training images).
 * As the chapter does, the recurrence is tf.nn.dynamic_rnn (deft_dynamic_rnn): a TF1 while
 * loop over the time steps, with TF's names ("rnn/while/...") and variables
 * ("rnn/basic_rnn_cell/kernel"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapter.h"
#include "deft/deft.h"

typedef struct opts {
  const char *model, *data, *workdir;
  int epochs, iterations, threads;
  int64_t seed, limit;
} opts;

static opts parse(int argc, char **argv) {
  opts o = {"basic", "../shared/data/mnist", ".", -1, 1500, 1, 42, 0};
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v || strncmp(a, "--", 2)) {
      fprintf(stderr, "usage: ch14_rnn [--model basic|lstm3|series] [--data DIR] [--epochs N] "
                      "[--iterations N] [--seed N] [--threads N] [--workdir DIR] [--limit N]\n");
      exit(2);
    }
    if (!strcmp(a, "--model")) o.model = v;
    else if (!strcmp(a, "--data")) o.data = v;
    else if (!strcmp(a, "--workdir")) o.workdir = v;
    else if (!strcmp(a, "--epochs")) o.epochs = atoi(v);
    else if (!strcmp(a, "--iterations")) o.iterations = atoi(v);
    else if (!strcmp(a, "--threads")) o.threads = atoi(v);
    else if (!strcmp(a, "--seed")) o.seed = atoll(v);
    else if (!strcmp(a, "--limit")) o.limit = atoll(v);
    else {
      fprintf(stderr, "ch14_rnn: unknown option '%s'\n", a);
      exit(2);
    }
  }
  return o;
}

static deft_session *new_session(deft_graph *g, int threads) {
  ch_check_graph(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  if (!s) ch_die("creating the session", st);
  deft_session_set_threads(s, threads);
  deft_status_free(st);
  return s;
}

static void run_targets(deft_session *s, deft_op *op, const char *what) {
  deft_status *st = deft_status_new();
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &op, 1, st)) ch_die(what, st);
  deft_status_free(st);
}

/* ---- MNIST rows as sequences ---- */

static double eval_acc(deft_session *s, deft_output X, deft_output y, deft_output acc,
                       const deft_tensor *xv, const deft_tensor *yv) {
  return ch_eval(s, X, y, acc, xv, yv);
}

static void mnist(const opts *o) {
  bool lstm = !strcmp(o->model, "lstm3");
  deft_status *st = deft_status_new();
  deft_tensor *trx, *try_, *tex, *tey;
  if (!deft_mnist_load(o->data, false, &trx, &try_, &tex, &tey, st)) ch_die(o->data, st);
  int64_t ntrain = deft_tensor_dim(trx, 0) - 5000; /* the chapter trains on 55,000 */
  if (o->limit > 0 && o->limit < ntrain) ntrain = o->limit;
  deft_tensor *x55 = deft_tensor_slice_rows(trx, 5000, 5000 + ntrain, st);
  deft_tensor *y55 = deft_tensor_slice_rows(try_, 5000, 5000 + ntrain, st);
  if (!x55 || !y55) ch_die("slicing MNIST", st);

  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, o->seed);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_output X3 = deft_reshape_to(g, X, (const int64_t[]){-1, 28, 28}, 3, "Reshape");
  deft_output outs, fin[6];
  deft_rnn_cell *cell;
  if (lstm) {
    deft_rnn_cell *layers[3];
    for (int i = 0; i < 3; i++) layers[i] = deft_rnn_cell_basic_lstm(g, 150, 1.0f, NULL, NULL);
    cell = deft_rnn_cell_multi(g, layers, 3);
  } else {
    cell = deft_rnn_cell_basic(g, 150, NULL, NULL);
  }
  ch_check_graph(g);
  deft_dynamic_rnn(g, cell, X3, NULL, (deft_output){NULL, 0}, false, NULL, &outs, fin);
  /* BasicRNNCell: the final state; the LSTM stack: the top layer's h (states[-1][1]). */
  deft_output top = fin[deft_rnn_cell_state_count(cell) - 1];
  deft_output logits = deft_dense(g, top, 10, NULL, "dense");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_optimizer *adam = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  deft_op *train = deft_optimizer_minimize(adam, loss, NULL, 0, NULL, "train");
  deft_output correct = deft_in_top_k(g, logits, y, 1, "InTopK");
  deft_output acc = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, "Cast"), NULL, 0, false,
                                     "accuracy");
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_saver *saver = deft_saver_new(g, NULL, 0, 5, st);
  if (!saver) ch_die("the saver", st);
  deft_session *s = new_session(g, o->threads);
  run_targets(s, init, "initializing");

  int epochs = o->epochs >= 0 ? o->epochs : (lstm ? 10 : 3);
  deft_batcher *b = deft_batcher_new(x55, y55, 150, (uint64_t)o->seed, st);
  if (!b) ch_die("batcher", st);
  for (int epoch = 0; epoch < epochs; epoch++) {
    double t0 = ch_now();
    const deft_tensor *xb = NULL, *yb = NULL;
    deft_tensor *lastx = NULL, *lasty = NULL;
    while (deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY) {
      deft_output feeds[2] = {X, y};
      const deft_tensor *vals[2] = {xb, yb};
      if (!deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &train, 1, st))
        ch_die("training step", st);
      deft_tensor_free(lastx);
      deft_tensor_free(lasty);
      lastx = deft_tensor_share(xb);
      lasty = deft_tensor_share(yb);
    }
    if (!deft_status_ok(st)) ch_die("batching", st);
    double secs = ch_now() - t0;
    double tr = lastx ? eval_acc(s, X, y, acc, lastx, lasty) : 0;
    double te = eval_acc(s, X, y, acc, tex, tey);
    printf("%d Train accuracy: %.6f Test accuracy: %.4f  (%.1fs)\n", epoch, tr, te, secs);
    fflush(stdout);
    deft_tensor_free(lastx);
    deft_tensor_free(lasty);
  }
  double test_acc = eval_acc(s, X, y, acc, tex, tey);

  /* Save, re-import the meta graph into a new graph, restore, check, and train on. */
  char prefix[4096], meta[4200];
  snprintf(prefix, sizeof prefix, "%s/ch14_%s", o->workdir, o->model);
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  if (!deft_saver_save(saver, s, prefix, -1, NULL, st)) ch_die("saving", st);
  if (!deft_saver_export_meta_graph(saver, meta, st)) ch_die("exporting the meta graph", st);
  printf("saved %s (+ .meta)\n", prefix);

  deft_meta_graph_info *info = NULL;
  deft_graph *g2 = deft_import_meta_graph(meta, NULL, &info, st);
  if (!g2) ch_die("importing the meta graph", st);
  deft_saver *saver2 = deft_saver_from_names(g2, deft_meta_graph_info_filename_tensor(info),
                                             deft_meta_graph_info_save_tensor(info),
                                             deft_meta_graph_info_restore_op(info), 5, st);
  if (!saver2) ch_die("the imported SaverDef", st);
  deft_session *s2 = new_session(g2, o->threads);
  if (!deft_saver_restore(saver2, s2, prefix, st)) ch_die("restoring", st);
  deft_output X2 = deft_graph_tensor_by_name(g2, "X:0", st);
  deft_output y2 = deft_graph_tensor_by_name(g2, "y:0", st);
  deft_output acc2 = deft_graph_tensor_by_name(g2, "accuracy:0", st);
  deft_op *train2 = deft_graph_op_by_name(g2, "train");
  if (!X2.op || !y2.op || !acc2.op || !train2) ch_die("looking up the imported graph", st);
  double again = eval_acc(s2, X2, y2, acc2, tex, tey);
  printf("re-imported: test accuracy %.4f (%s)\n", again,
         again == test_acc ? "identical" : "DIFFERENT");
  if (again != test_acc) exit(1);
  const deft_tensor *xb, *yb;
  int nsteps = 0;
  double t0 = ch_now();
  while (nsteps < 100 && deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY) {
    deft_output feeds[2] = {X2, y2};
    const deft_tensor *vals[2] = {xb, yb};
    if (!deft_session_run(s2, feeds, vals, 2, NULL, NULL, 0, &train2, 1, st))
      ch_die("continued training", st);
    nsteps++;
  }
  printf("continued training in the re-imported graph: %d steps (%.1fs), test accuracy %.4f\n",
         nsteps, ch_now() - t0, eval_acc(s2, X2, y2, acc2, tex, tey));

  deft_session_free(s2);
  deft_saver_free(saver2);
  deft_meta_graph_info_free(info);
  deft_graph_free(g2);
  deft_batcher_free(b);
  deft_session_free(s);
  deft_saver_free(saver);
  deft_optimizer_free(adam);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
  deft_tensor_free(x55);
  deft_tensor_free(y55);
  deft_tensor_free(trx);
  deft_tensor_free(try_);
  deft_tensor_free(tex);
  deft_tensor_free(tey);
  deft_status_free(st);
}

/* ---- the time series ---- */

enum { N_STEPS = 20 };
static const double T_MIN = 0, T_MAX = 30, RESOLUTION = 0.1;

static double series(double t) { return t * sin(t) / 3 + 2 * sin(t * 5); }

static uint64_t rng = 0x853c49e6748fea9bull;
static double uniform01(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* The chapter's next_batch: batch series of N_STEPS + 1 points from random starts; inputs are
 * the first N_STEPS points, targets the last N_STEPS. */
static void next_batch(deft_tensor *xb, deft_tensor *yb) {
  int64_t n = deft_tensor_dim(xb, 0);
  float *x = deft_tensor_data(xb), *y = deft_tensor_data(yb);
  for (int64_t i = 0; i < n; i++) {
    double t0 = uniform01() * (T_MAX - T_MIN - N_STEPS * RESOLUTION);
    for (int k = 0; k < N_STEPS; k++) {
      x[i * N_STEPS + k] = (float)series(t0 + k * RESOLUTION);
      y[i * N_STEPS + k] = (float)series(t0 + (k + 1) * RESOLUTION);
    }
  }
}

static void time_series(const opts *o) {
  deft_status *st = deft_status_new();
  rng ^= (uint64_t)o->seed * 0x9e3779b97f4a7c15ull;
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, o->seed);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, N_STEPS, 1), "X");
  deft_output y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, N_STEPS, 1), "y");
  deft_output outs;
  deft_rnn_cell *cell =
      deft_rnn_cell_output_projection(g, deft_rnn_cell_basic(g, 100, "relu", NULL), 1, NULL);
  ch_check_graph(g);
  deft_dynamic_rnn(g, cell, X, NULL, (deft_output){NULL, 0}, false, NULL, &outs, NULL);
  deft_output outputs = deft_identity(g, outs, "outputs");
  deft_output loss = deft_reduce_mean(g, deft_square(g, deft_sub(g, outputs, y, "sub"), "Square"),
                                      NULL, 0, false, "loss");
  deft_optimizer *adam = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  deft_op *train = deft_optimizer_minimize(adam, loss, NULL, 0, NULL, "train");
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_session *s = new_session(g, o->threads);
  run_targets(s, init, "initializing");

  deft_tensor *xb = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){50, N_STEPS, 1}, 3, st);
  deft_tensor *yb = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){50, N_STEPS, 1}, 3, st);
  if (!xb || !yb) ch_die("allocating batches", st);
  deft_output feeds[2] = {X, y};
  const deft_tensor *vals[2] = {xb, yb};
  double mse = 0;
  for (int it = 0; it < o->iterations; it++) {
    next_batch(xb, yb);
    if (!deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &train, 1, st))
      ch_die("training step", st);
    if (it % 100 == 0 || it == o->iterations - 1) {
      deft_tensor *l;
      if (!deft_session_run(s, feeds, vals, 2, &loss, &l, 1, NULL, 0, st)) ch_die("loss", st);
      mse = deft_tensor_get_double(l, 0);
      printf("%d \tMSE: %.6f\n", it, mse);
      fflush(stdout);
      deft_tensor_free(l);
    }
  }

  /* The chapter's test instance: 21 points from t = 12.2; predict the last 20 from the first. */
  deft_tensor *inst = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){1, N_STEPS, 1}, 3, st);
  float *ip = deft_tensor_data(inst);
  const deft_tensor *cinst = inst;
  double se = 0;
  for (int k = 0; k < N_STEPS; k++) ip[k] = (float)series(12.2 + k * RESOLUTION);
  deft_tensor *pred;
  if (!deft_session_run(s, &X, &cinst, 1, &outputs, &pred, 1, NULL, 0, st)) ch_die("predict", st);
  const float *pp = deft_tensor_data(pred);
  for (int k = 0; k < N_STEPS; k++) {
    double d = pp[k] - series(12.2 + (k + 1) * RESOLUTION);
    se += d * d;
  }
  printf("prediction on the chapter's instance: MSE %.5f against the true next values\n",
         se / N_STEPS);
  printf("  first predictions: %.4f %.4f %.4f %.4f\n", pp[0], pp[1], pp[2], pp[3]);
  deft_tensor_free(pred);

  /* Creative generation: start from zeros, feed back each prediction, 300 times. */
  float seq[N_STEPS + 300] = {0};
  for (int it = 0; it < 300; it++) {
    memcpy(ip, seq + it, sizeof(float) * N_STEPS);
    if (!deft_session_run(s, &X, &cinst, 1, &outputs, &pred, 1, NULL, 0, st))
      ch_die("generation", st);
    seq[N_STEPS + it] = ((const float *)deft_tensor_data(pred))[N_STEPS - 1];
    deft_tensor_free(pred);
  }
  printf("generated (every 30th of 300):");
  for (int i = N_STEPS; i < N_STEPS + 300; i += 30) printf(" %.3f", seq[i]);
  printf("\n");

  deft_tensor_free(inst);
  deft_tensor_free(xb);
  deft_tensor_free(yb);
  deft_session_free(s);
  deft_optimizer_free(adam);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
  deft_status_free(st);
  if (!(mse < 0.1)) {
    fprintf(stderr, "the MSE did not fall below 0.1\n");
    exit(1);
  }
}

int main(int argc, char **argv) {
  opts o = parse(argc, argv);
  if (!strcmp(o.model, "basic") || !strcmp(o.model, "lstm3")) mnist(&o);
  else if (!strcmp(o.model, "series")) time_series(&o);
  else {
    fprintf(stderr, "ch14_rnn: unknown --model '%s' (basic, lstm3, series)\n", o.model);
    return 2;
  }
  return 0;
}
