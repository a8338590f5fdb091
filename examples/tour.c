/* examples/tour.c - the README's tour, as a program that compiles: build a network in C, train
 * it, save it (checkpoint + meta-graph), import it into a fresh graph by name, restore, evaluate.
 *
 *   tour [DATA_DIR] [WORK_DIR]     (defaults: /usr/share/datasets/fashion-mnist, /tmp)
 *
 * Then inspect what it saved with: deft dump WORK_DIR/tour.ckpt.meta */
#include <stdio.h>

#include "deft/deft.h"

static int fail(const char *what, const deft_status *st) {
  fprintf(stderr, "tour: %s: %s\n", what, deft_status_message(st));
  return 1;
}

int main(int argc, char **argv) {
  const char *data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const char *work = argc > 2 ? argv[2] : "/tmp";
  deft_status *st = deft_status_new();
  deft_tensor *train_x, *train_y, *test_x, *test_y;
  if (!deft_mnist_load(data, true, &train_x, &train_y, &test_x, &test_y, st))
    return fail(data, st);

  /* 1. Build: placeholders, dense layers, loss, optimizer, metrics, a saver. Constructors record
   *    the first error on the graph; one check at the end covers them all. */
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_dense_options relu = {.activation = "relu", .kernel_initializer = deft_init_he_normal(0)};
  deft_graph_push_scope(g, "dnn");
  deft_output hidden = deft_dense(g, X, 100, &relu, "hidden1");
  deft_output logits = deft_dense(g, hidden, 10, NULL, "outputs");
  deft_graph_pop_scope(g);
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, y, "xentropy");
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_optimizer *opt = deft_optimizer_momentum(g, 0.01f, 0.9f, false);
  deft_op *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, "train");
  deft_optimizer_free(opt);
  deft_output correct = deft_in_top_k(g, logits, y, 1, NULL);
  deft_output acc = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                     "accuracy");
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_saver *saver = deft_saver_new(g, NULL, 0, 5, st); /* also reports the graph's error */
  if (!saver) return fail("building", st);

  /* 2. Train one epoch of shuffled mini-batches (uint8 images are scaled per batch). */
  deft_session *s = deft_session_new(g, st);
  if (!s || !deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st))
    return fail("initializing", st);
  deft_batcher *batches = deft_batcher_new(train_x, train_y, 100, 1, st);
  const deft_tensor *xb, *yb;
  deft_batch_result r;
  while ((r = deft_batcher_next(batches, &xb, &yb, st)) == DEFT_BATCH_READY) {
    deft_output feeds[2] = {X, y};
    const deft_tensor *values[2] = {xb, yb};
    if (!deft_session_run(s, feeds, values, 2, NULL, NULL, 0, &train, 1, st))
      return fail("training", st);
  }
  if (r == DEFT_BATCH_ERROR) return fail("batching", st);

  /* 3. Save: TF's V2 checkpoint (tour.ckpt.index + .data-00000-of-00001 + `checkpoint`) and the
   *    meta-graph (tour.ckpt.meta); TensorFlow 1.x reads both. */
  char prefix[4096], meta[4200];
  snprintf(prefix, sizeof prefix, "%s/tour.ckpt", work);
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  if (!deft_saver_save(saver, s, prefix, -1, NULL, st) ||
      !deft_saver_export_meta_graph(saver, meta, st))
    return fail("saving", st);

  /* 4. Import into a fresh graph, find tensors by name, restore, evaluate on the test set. */
  deft_meta_graph_info *info = NULL;
  deft_graph *g2 = deft_import_meta_graph(meta, NULL, &info, st);
  if (!g2) return fail("importing", st);
  deft_session *s2 = deft_session_new(g2, st);
  deft_saver *saver2 = deft_saver_from_names(g2, deft_meta_graph_info_filename_tensor(info),
                                             deft_meta_graph_info_save_tensor(info),
                                             deft_meta_graph_info_restore_op(info), 5, st);
  if (!s2 || !saver2 || !deft_saver_restore(saver2, s2, prefix, st)) return fail("restoring", st);
  deft_output feeds[2] = {deft_graph_tensor_by_name(g2, "X:0", st),
                          deft_graph_tensor_by_name(g2, "y:0", st)};
  deft_output accuracy = deft_graph_tensor_by_name(g2, "accuracy:0", st);
  deft_tensor *test_xf = deft_images_to_float(test_x, st), *result = NULL;
  const deft_tensor *values[2] = {test_xf, test_y};
  if (!deft_session_run(s2, feeds, values, 2, &accuracy, &result, 1, NULL, 0, st))
    return fail("evaluating", st);
  printf("test accuracy after one epoch: %.4f (saved to %s)\n", deft_tensor_get_double(result, 0),
         prefix);

  deft_tensor_free(result);
  deft_tensor_free(test_xf);
  deft_saver_free(saver2);
  deft_session_free(s2);
  deft_meta_graph_info_free(info);
  deft_graph_free(g2);
  deft_batcher_free(batches);
  deft_saver_free(saver);
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(train_x);
  deft_tensor_free(train_y);
  deft_tensor_free(test_x);
  deft_tensor_free(test_y);
  deft_status_free(st);
  (void)acc;
  return 0;
}
