/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_models.c - the chapter's networks, built through the public API (see
 * bench_common.h). Kept apart from the timing helpers so that programs which build no model
 * (bench_gemm) do not link the op constructors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static deft_initializer he_init(void) {
  /* tf.variance_scaling_initializer() with its defaults, as the chapter's he_init cell. */
  return deft_init_variance_scaling(1.0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0);
}

static void add_inputs(bench_model *m, bool with_training, bool bn) {
  deft_graph *g = m->g;
  int64_t xd[2] = {-1, 784}, yd[1] = {-1};
  m->X = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "X");
  if (with_training) m->y = deft_placeholder(g, DEFT_INT32, deft_shape_make(1, yd), "y");
  if (bn)
    m->training = deft_placeholder_with_default(g, deft_const_bool(g, false, "training/input"),
                                                deft_shape_make(0, NULL), "training");
}

static void add_training(bench_model *m) {
  deft_graph *g = m->g;
  deft_graph_push_scope(g, "loss");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, m->logits, m->y, NULL);
  m->loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.01f);
  m->train_op = opt ? deft_optimizer_minimize(opt, m->loss, NULL, 0, NULL, NULL) : NULL;
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, m->logits, m->y, 1, NULL);
  m->accuracy = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                 "accuracy");
  deft_graph_pop_scope(g);
  bench_check_graph(g, "building the training ops");
  m->ntargets = 0;
  m->targets[m->ntargets++] = m->train_op;
  deft_output upd[15];
  deft_status *st = deft_status_new();
  int n = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 15, st);
  bench_check(st, "reading UPDATE_OPS");
  deft_status_free(st);
  if (n > 15) n = 15;
  for (int i = 0; i < n; i++) m->targets[m->ntargets++] = upd[i].op;
}

static void finish(bench_model *m, bool with_training) {
  if (with_training) add_training(m);
  m->init = deft_global_variables_initializer(m->g, "init");
  bench_check_graph(m->g, "building the model");
}

void bench_build_dense(bench_model *m, bool with_training) {
  memset(m, 0, sizeof *m);
  m->g = deft_graph_new();
  if (!m->g) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  deft_graph_set_seed(m->g, 42);
  add_inputs(m, with_training, false);
  deft_graph *g = m->g;
  deft_dense_options elu = {.activation = "elu", .kernel_initializer = he_init()};
  deft_dense_options lin = {.kernel_initializer = he_init()};
  deft_graph_push_scope(g, "dnn");
  deft_output h1 = deft_dense(g, m->X, 300, &elu, "hidden1");
  deft_output h2 = deft_dense(g, h1, 100, &elu, "hidden2");
  m->logits = deft_dense(g, h2, 10, &lin, "outputs");
  deft_graph_pop_scope(g);
  bench_check_graph(g, "building the dense network");
  finish(m, with_training);
}

void bench_build_bn(bench_model *m, bool with_training) {
  memset(m, 0, sizeof *m);
  m->g = deft_graph_new();
  if (!m->g) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  deft_graph_set_seed(m->g, 42);
  add_inputs(m, with_training, true);
  deft_graph *g = m->g;
  deft_dense_options lin = {.kernel_initializer = he_init()};
  deft_batch_norm_options bn = {.momentum = 0.9};
  deft_graph_push_scope(g, "dnn");
  deft_output h1 = deft_dense(g, m->X, 300, &lin, "hidden1");
  deft_output b1 = deft_elu(g, deft_batch_normalization(g, h1, m->training, &bn, NULL), NULL);
  deft_output h2 = deft_dense(g, b1, 100, &lin, "hidden2");
  deft_output b2 = deft_elu(g, deft_batch_normalization(g, h2, m->training, &bn, NULL), NULL);
  deft_output lo = deft_dense(g, b2, 10, &lin, "outputs");
  m->logits = deft_batch_normalization(g, lo, m->training, &bn, NULL);
  deft_graph_pop_scope(g);
  bench_check_graph(g, "building the batch-norm network");
  finish(m, with_training);
}

void bench_model_free(bench_model *m) {
  deft_graph_free(m->g);
  memset(m, 0, sizeof *m);
}
