/* SPDX-License-Identifier: Apache-2.0 */
/* examples/ch13_cnn.c - Hands-on ML chapter 13's MNIST CNN in C, as the book builds it in TF 1.x:
 * X [None, 784] reshaped to [-1, 28, 28, 1]; conv1 = conv2d(32 filters, 3x3, stride 1, SAME,
 * relu); conv2 = conv2d(64, 3x3, stride 2, SAME, relu); pool3 = max_pool 2x2 stride 2 VALID,
 * flattened to [-1, 64*7*7]; fc1 = dense 64 relu; logits = dense 10; mean sparse softmax
 * cross-entropy; AdamOptimizer() (lr 0.001); batch 100 over the 55,000 training images. Each
 * epoch prints the last batch's train accuracy and the test accuracy (t10k, evaluated in batches
 * of 1000). Then it saves (checkpoint + .meta), re-imports the meta graph into a new graph,
 * restores, checks the test accuracy is the same, and trains one more epoch on the imported
 * graph's own train op. The book printed test accuracy 0.9759 after epoch 0 and 0.9885 after
 * epoch 9.
 *
 *   ch13_cnn [--data DIR] [--workdir DIR] [--epochs 10] [--batch-size 100] [--threads 1]
 *            [--train-count 55000] [--test-count 10000] [--seed 42] */
#include "chapter.h"

typedef struct cnn_model {
  deft_output X, y, acc;
  deft_op *train;
} cnn_model;

static cnn_model build(deft_graph *g) {
  cnn_model m;
  deft_graph_push_scope(g, "inputs");
  m.X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output xr = deft_reshape_to(g, m.X, (int64_t[]){-1, 28, 28, 1}, 4, "X_reshaped");
  m.y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
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
  deft_output logits = deft_dense(g, fc1, 10, NULL, "output");
  deft_softmax(g, logits, "Y_proba");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, m.y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "Mean");
  deft_optimizer *opt = deft_optimizer_adam(g, 0.001f, 0.9f, 0.999f, 1e-8f);
  m.train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, "Adam");
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, logits, m.y, 1, NULL);
  m.acc = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false, "Mean");
  deft_graph_pop_scope(g);
  return m;
}

/* Accuracy over images [0, n) of x/y, in batches of 1000 (conv1's activations for the whole
 * test set would take 1 GB). */
static double test_accuracy(deft_session *s, const cnn_model *m, const deft_tensor *x,
                            const deft_tensor *y, int64_t n) {
  deft_status *st = deft_status_new();
  double right = 0;
  for (int64_t b = 0; b < n; b += 1000) {
    int64_t e = b + 1000 < n ? b + 1000 : n;
    deft_tensor *xb = deft_tensor_slice_rows(x, b, e, st);
    deft_tensor *yb = xb ? deft_tensor_slice_rows(y, b, e, st) : NULL;
    if (!yb) ch_die("slicing the test set", st);
    right += ch_eval(s, m->X, m->y, m->acc, xb, yb) * (double)(e - b);
    deft_tensor_free(xb);
    deft_tensor_free(yb);
  }
  deft_status_free(st);
  return right / (double)n;
}

/* One epoch of batches over x/y (uint8 images, scaled by the batcher); returns the last batch's
 * accuracy. */
static double train_epoch(deft_session *s, const cnn_model *m, deft_batcher *b) {
  deft_status *st = deft_status_new();
  const deft_tensor *xb, *yb;
  deft_tensor *last_x = NULL, *last_y = NULL;
  while (deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY) {
    deft_output feeds[2] = {m->X, m->y};
    const deft_tensor *vals[2] = {xb, yb};
    if (!deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &m->train, 1, st))
      ch_die("training step", st);
    deft_tensor_free(last_x);
    deft_tensor_free(last_y);
    last_x = deft_tensor_share(xb);
    last_y = deft_tensor_share(yb);
  }
  if (!deft_status_ok(st)) ch_die("batching", st);
  double a = last_x ? ch_eval(s, m->X, m->y, m->acc, last_x, last_y) : 0;
  deft_tensor_free(last_x);
  deft_tensor_free(last_y);
  deft_status_free(st);
  return a;
}

int main(int argc, char **argv) {
  const char *train_s = NULL, *test_s = NULL;
  ch_extra_option extra[2] = {{"train-count", &train_s}, {"test-count", &test_s}};
  ch_options o = ch_parse_with(argc, argv, extra, 2);
  /* The chapter's CNN trains 10 epochs of batch 100 unless the command line says otherwise. */
  bool has_epochs = false, has_batch = false;
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    has_epochs |= !strncmp(argv[i], "--epochs", 8);
    has_batch |= !strncmp(argv[i], "--batch-size", 12);
  }
  if (!has_epochs) o.epochs = 10;
  if (!has_batch) o.batch = 100;
  int64_t train_count = train_s ? ch_number("train-count", train_s, 1, 55000) : 55000;
  int64_t test_count = test_s ? ch_number("test-count", test_s, 1, 10000) : 10000;
  deft_status *st = deft_status_new();
  ch_data d = ch_load(&o);
  deft_tensor *test_x = NULL, *test_y = NULL;
  if (!deft_mnist_load(o.data, false, NULL, NULL, &test_x, &test_y, st)) ch_die(o.data, st);
  if (train_count < 1 || train_count > deft_tensor_dim(d.train_x, 0)) train_count = 55000;
  if (test_count < 1 || test_count > 10000) test_count = 10000;
  deft_tensor *tx = deft_tensor_slice_rows(d.train_x, 0, train_count, st);
  deft_tensor *ty = tx ? deft_tensor_slice_rows(d.train_y, 0, train_count, st) : NULL;
  if (!ty) ch_die("slicing the training set", st);

  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, o.seed);
  cnn_model m = build(g);
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_saver *saver = deft_saver_new(g, NULL, 0, 0, st);
  if (!saver) ch_die("the saver", st);
  ch_check_graph(g);
  deft_session *s = deft_session_new(g, st);
  if (!s) ch_die("session", st);
  deft_session_set_threads(s, o.threads);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st)) ch_die("init", st);
  deft_batcher *b = deft_batcher_new(tx, ty, o.batch, (uint64_t)o.seed, st);
  if (!b) ch_die("batcher", st);
  double acc = 0;
  for (int epoch = 0; epoch < o.epochs; epoch++) {
    double t0 = ch_now();
    double train_acc = train_epoch(s, &m, b);
    double secs = ch_now() - t0;
    acc = test_accuracy(s, &m, test_x, test_y, test_count);
    printf("epoch %d  train_acc %.4f  test_acc %.4f  time %.1fs\n", epoch, train_acc, acc, secs);
    fflush(stdout);
  }

  /* save, re-import the meta graph, restore, and continue training there */
  char prefix[4096], meta[4200];
  snprintf(prefix, sizeof prefix, "%s/my_mnist_model", o.workdir);
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  if (!deft_saver_save(saver, s, prefix, -1, NULL, st)) ch_die("saving", st);
  if (!deft_saver_export_meta_graph(saver, meta, st)) ch_die("exporting the meta graph", st);
  deft_meta_graph_info *info = NULL;
  deft_graph *g2 = deft_import_meta_graph(meta, NULL, &info, st);
  if (!g2) ch_die(meta, st);
  deft_session *s2 = deft_session_new(g2, st);
  deft_saver *saver2 = s2 ? deft_saver_from_names(g2, deft_meta_graph_info_filename_tensor(info),
                                                  deft_meta_graph_info_save_tensor(info),
                                                  deft_meta_graph_info_restore_op(info), 0, st)
                          : NULL;
  if (!saver2 || !deft_saver_restore(saver2, s2, prefix, st)) ch_die("restoring", st);
  deft_session_set_threads(s2, o.threads);
  cnn_model m2;
  m2.X = deft_graph_tensor_by_name(g2, "inputs/X:0", st);
  m2.y = deft_graph_tensor_by_name(g2, "inputs/y:0", st);
  m2.acc = deft_graph_tensor_by_name(g2, "eval/Mean:0", st);
  m2.train = deft_graph_op_by_name(g2, "train/Adam");
  if (!m2.X.op || !m2.y.op || !m2.acc.op || !m2.train) ch_die("finding the imported nodes", st);
  double acc2 = test_accuracy(s2, &m2, test_x, test_y, test_count);
  printf("restored  test_acc %.4f (%s)\n", acc2, acc2 == acc ? "same" : "DIFFERENT");
  double t0 = ch_now();
  double train_acc = train_epoch(s2, &m2, b);
  double secs = ch_now() - t0;
  acc2 = test_accuracy(s2, &m2, test_x, test_y, test_count);
  printf("continued  train_acc %.4f  test_acc %.4f  time %.1fs\n", train_acc, acc2, secs);

  deft_saver_free(saver2);
  deft_session_free(s2);
  deft_meta_graph_info_free(info);
  deft_graph_free(g2);
  deft_batcher_free(b);
  deft_saver_free(saver);
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_tensor_free(test_x);
  deft_tensor_free(test_y);
  ch_free(&d);
  deft_status_free(st);
  return acc2 == acc2 ? 0 : 1;
}
