/* SPDX-License-Identifier: Apache-2.0 */
/* examples/ch11_batch_norm.c - the chapter's In[65]-[69]: 784-300-100-10 with batch
 * normalization (momentum 0.9) after every dense layer, ELU, tf.variance_scaling_initializer()
 * kernels (scale 1, fan_in, truncated normal: what the chapter calls He init; --init tf110, the
 * default, computes it as the notebook's TF did, tf115 as TF >= 1.11 does), plain gradient
 * descent at 0.01, batch 200; each step runs the training op and UPDATE_OPS with training=true.
 * Chapter's final validation accuracy: 0.976. */
#include "chapter.h"

int main(int argc, char **argv) {
  ch_options o = ch_parse(argc, argv);
  ch_data d = ch_load(&o);
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, o.seed);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_output training = deft_placeholder_with_default(
      g, deft_const_bool(g, false, "training/input"), DEFT_SCALAR, "training");
  deft_dense_options he = {0};
  he.kernel_initializer = ch_variance_scaling(&o);
  deft_batch_norm_options bn = {0};
  bn.momentum = 0.9;
  deft_graph_push_scope(g, "dnn");
  deft_output h1 = deft_dense(g, X, 300, &he, "hidden1");
  deft_output a1 = deft_elu(g, deft_batch_normalization(g, h1, training, &bn, NULL), NULL);
  deft_output h2 = deft_dense(g, a1, 100, &he, "hidden2");
  deft_output a2 = deft_elu(g, deft_batch_normalization(g, h2, training, &bn, NULL), NULL);
  deft_output lb = deft_dense(g, a2, 10, &he, "outputs");
  deft_output logits = deft_batch_normalization(g, lb, training, &bn, NULL);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "loss");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.01f);
  deft_op *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL);
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, logits, y, 1, NULL);
  deft_output acc = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                     "accuracy");
  deft_graph_pop_scope(g);
  deft_op *init = deft_global_variables_initializer(g, "init");
  ch_check_graph(g);
  deft_op *targets[8] = {train};
  deft_output upd[7];
  int nupd = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 7, NULL);
  for (int i = 0; i < nupd; i++) targets[1 + i] = upd[i].op;

  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_session_set_threads(s, o.threads);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st)) ch_die("init", st);
  ch_train(s, &o, X, y, training, targets, 1 + nupd, acc, d.train_x, d.train_y, d.valid_x,
           d.valid_y);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
  ch_free(&d);
  return 0;
}
