/* examples/ch11_gradient_clipping.c - the chapter's In[72]-[78]: a 784-300-50-50-50-50-10 ReLU
 * network (tf.layers.dense, Glorot uniform kernels), gradients clipped to [-1, 1] between
 * compute_gradients and apply_gradients, learning rate 0.01; saves my_model_final.ckpt (and its
 * .meta) in --workdir. Like the chapter's graph it keeps X, y, eval/accuracy and the training op
 * by name, so the reuse examples can import it. Chapter's final validation accuracy: 0.9612. */
#include "chapter.h"

int main(int argc, char **argv) {
  ch_options o = ch_parse(argc, argv);
  ch_data d = ch_load(&o);
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, o.seed);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_dense_options relu = {0};
  relu.activation = "relu";
  deft_graph_push_scope(g, "dnn");
  deft_output h = deft_dense(g, X, 300, &relu, "hidden1");
  h = deft_dense(g, h, 50, &relu, "hidden2");
  h = deft_dense(g, h, 50, &relu, "hidden3");
  h = deft_dense(g, h, 50, &relu, "hidden4");
  h = deft_dense(g, h, 50, &relu, "hidden5");
  deft_output logits = deft_dense(g, h, 10, NULL, "outputs");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "loss");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.01f);
  deft_grad_and_var gv[16];
  int n = deft_optimizer_compute_gradients(opt, loss, NULL, 0, gv, 16);
  for (int i = 0; i < n; i++) gv[i].grad = deft_clip_by_value(g, gv[i].grad, -1.0f, 1.0f, NULL);
  deft_op *train = deft_optimizer_apply_gradients(opt, gv, n, NULL, NULL);
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, logits, y, 1, NULL);
  deft_output acc = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                     "accuracy");
  deft_graph_pop_scope(g);
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_saver *saver = ch_saver_new(g, NULL, 0);
  ch_check_graph(g);

  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_session_set_threads(s, o.threads);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st)) ch_die("init", st);
  deft_output none = {NULL, 0};
  ch_train(s, &o, X, y, none, &train, 1, acc, d.train_x, d.train_y, d.valid_x, d.valid_y);
  char prefix[4096];
  snprintf(prefix, sizeof prefix, "%s/my_model_final.ckpt", o.workdir);
  if (!deft_saver_save(saver, s, prefix, -1, NULL, st)) ch_die("saving", st);
  char meta[4200];
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  if (!deft_saver_export_meta_graph(saver, meta, st)) ch_die("exporting the meta graph", st);
  deft_saver_free(saver);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
  ch_free(&d);
  return 0;
}
