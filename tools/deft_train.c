/* tools/deft_train.c - `deft-train`: trains the chapter's batch-normalization network on an
 * MNIST-layout dataset (default: Debian's Fashion-MNIST) and reports per-epoch validation
 * accuracy.
 *
 * Model (the chapter's In[65]-[69]): 784-300-100-10 dense layers with
 * variance_scaling_initializer() kernels (the chapter's "He init"), batch normalization (momentum 0.9) on each, ELU after
 * the hidden ones; mean sparse softmax cross-entropy; plain gradient descent. Each step runs the
 * training op and the UPDATE_OPS with training=true. The first 5,000 training images are the
 * validation set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deft/deft.h"

typedef struct {
  const char *data;
  int epochs;
  int64_t batch;
  float lr;
  int threads;
  int64_t seed;
  const char *csv;
  const char *out;
  const char *init;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: deft-train [--data DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]\n"
          "                  [--seed N] [--init tf110|tf115|he] [--csv FILE] [--out PREFIX]\n"
          "Trains the chapter's batch-norm network (784-300-100-10, ELU, SGD) on an MNIST-layout\n"
          "directory of IDX files (default /usr/share/datasets/fashion-mnist).\n");
}

static bool parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static int parse_args(int argc, char **argv, options *o) {
  o->data = "/usr/share/datasets/fashion-mnist";
  o->epochs = 20;
  o->batch = 200;
  o->lr = 0.01f;
  o->threads = 1;
  o->seed = 42;
  o->csv = NULL;
  o->out = NULL;
  o->init = "tf110";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "deft-train: %s needs a value (or is unknown)\n", a);
      return 2;
    }
    const char *v = argv[++i];
    long long n;
    if (!strcmp(a, "--data")) o->data = v;
    else if (!strcmp(a, "--csv")) o->csv = v;
    else if (!strcmp(a, "--out")) o->out = v;
    else if (!strcmp(a, "--init")) o->init = v;
    else if (!strcmp(a, "--epochs") && parse_int(v, 1, 100000, &n)) o->epochs = (int)n;
    else if (!strcmp(a, "--batch-size") && parse_int(v, 1, 1 << 24, &n)) o->batch = n;
    else if (!strcmp(a, "--threads") && parse_int(v, 1, 256, &n)) o->threads = (int)n;
    else if (!strcmp(a, "--seed") && parse_int(v, 0, (1LL << 62), &n)) o->seed = n;
    else if (!strcmp(a, "--lr")) {
      char *end;
      o->lr = strtof(v, &end);
      if (*end || !(o->lr > 0)) {
        fprintf(stderr, "deft-train: --lr must be a positive number, got '%s'\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "deft-train: bad option or value: %s %s\n", a, v);
      usage(stderr);
      return 2;
    }
  }
  if (strcmp(o->init, "tf110") && strcmp(o->init, "tf115") && strcmp(o->init, "he")) {
    fprintf(stderr, "deft-train: --init must be tf110, tf115 or he, got '%s'\n", o->init);
    return 2;
  }
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  deft_output X, y, training, loss, accuracy;
  deft_op *train_op;
  deft_op *init;
  deft_saver *saver; /* with --out */
  deft_op *targets[8];
  int ntargets;
} model;

/* The chapter's batch-norm network, with TF's node names. */
static bool build(deft_graph *g, const options *o, model *m) {
  deft_graph_set_seed(g, o->seed);
  m->X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  m->y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  m->training = deft_placeholder_with_default(g, deft_const_bool(g, false, "training/input"),
                                              DEFT_SCALAR, "training");
  deft_dense_options dense = {0};
  /* tf.variance_scaling_initializer() as the chapter's TF computed it (tf110: truncated normal
   * with stddev sqrt(1/fan_in), no 0.88 correction), as TF >= 1.11 does (tf115), or He normal. */
  if (!strcmp(o->init, "he")) dense.kernel_initializer = deft_init_he_normal(0);
  else
    dense.kernel_initializer = deft_init_variance_scaling(
        1.0, DEFT_FAN_IN,
        strcmp(o->init, "tf115") ? DEFT_DIST_TRUNCATED_NORMAL_TF110 : DEFT_DIST_TRUNCATED_NORMAL, 0);
  deft_batch_norm_options bn = {0};
  bn.momentum = 0.9;
  deft_graph_push_scope(g, "dnn");
  deft_output h1 = deft_dense(g, m->X, 300, &dense, "hidden1");
  deft_output bn1 = deft_elu(g, deft_batch_normalization(g, h1, m->training, &bn, NULL), NULL);
  deft_output h2 = deft_dense(g, bn1, 100, &dense, "hidden2");
  deft_output bn2 = deft_elu(g, deft_batch_normalization(g, h2, m->training, &bn, NULL), NULL);
  deft_output out = deft_dense(g, bn2, 10, &dense, "outputs");
  deft_output logits = deft_batch_normalization(g, out, m->training, &bn, NULL);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "loss");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, m->y, NULL);
  m->loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "train");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, o->lr);
  m->train_op = opt ? deft_optimizer_minimize(opt, m->loss, NULL, 0, NULL, NULL) : NULL;
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, logits, m->y, 1, NULL);
  m->accuracy = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                 "accuracy");
  deft_graph_pop_scope(g);
  m->init = deft_global_variables_initializer(g, "init");
  m->saver = o->out ? deft_saver_new(g, NULL, 0, 5) : NULL;
  /* The step runs the training op and the moving-average updates. */
  deft_output upd[8];
  int nupd = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 8, NULL);
  m->ntargets = 0;
  m->targets[m->ntargets++] = m->train_op;
  for (int i = 0; i < nupd && m->ntargets < 8; i++) m->targets[m->ntargets++] = upd[i].op;
  if (!deft_graph_ok(g)) {
    fprintf(stderr, "deft-train: building the model failed: %s\n",
            deft_status_message(deft_graph_status(g)));
    return false;
  }
  return true;
}

static double evaluate(deft_session *s, const model *m, const deft_tensor *x,
                       const deft_tensor *y, deft_status *st) {
  deft_output feeds[2] = {m->X, m->y};
  deft_tensor *vals[2] = {(deft_tensor *)x, (deft_tensor *)y};
  deft_tensor *acc = NULL;
  if (!deft_session_run(s, feeds, vals, 2, &m->accuracy, &acc, 1, NULL, 0, st)) return -1;
  double a = deft_tensor_get_double(acc, 0);
  deft_tensor_free(acc);
  return a;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  deft_status *st = deft_status_new();
  deft_tensor *train_x = NULL, *train_y = NULL, *test_x = NULL, *test_y = NULL;
  deft_tensor *val_x8 = NULL, *val_x = NULL, *val_y = NULL, *tr_x = NULL, *tr_y = NULL;
  deft_graph *g = NULL;
  deft_session *s = NULL;
  deft_batcher *b = NULL;
  FILE *csv = NULL;
  model m;
  memset(&m, 0, sizeof m);
  rc = 1;
  if (!deft_mnist_load(o.data, true, &train_x, &train_y, &test_x, &test_y, st)) {
    fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
    fprintf(stderr, "deft-train: install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
                    "or pass --data DIR\n");
    goto done;
  }
  int64_t n = deft_tensor_dim(train_x, 0), nval = 5000;
  if (n <= nval) {
    fprintf(stderr, "deft-train: %s has only %lld training images (need more than %lld)\n",
            o.data, (long long)n, (long long)nval);
    goto done;
  }
  val_x8 = deft_tensor_slice_rows(train_x, 0, nval, st);
  val_x = val_x8 ? deft_images_to_float(val_x8, st) : NULL;
  val_y = deft_tensor_slice_rows(train_y, 0, nval, st);
  tr_x = deft_tensor_slice_rows(train_x, nval, n, st);
  tr_y = deft_tensor_slice_rows(train_y, nval, n, st);
  if (!val_x || !val_y || !tr_x || !tr_y) {
    fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
    goto done;
  }
  g = deft_graph_new();
  if (!g || !build(g, &o, &m)) goto done;
  s = deft_session_new(g, st);
  if (!s) goto fail;
  deft_session_set_threads(s, o.threads);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st)) goto fail;
  b = deft_batcher_new(tr_x, tr_y, o.batch, (uint64_t)o.seed, st);
  if (!b) goto fail;
  if (o.csv) {
    csv = fopen(o.csv, "w");
    if (!csv) {
      fprintf(stderr, "deft-train: cannot write %s: %s\n", o.csv, strerror(errno));
      goto done;
    }
    fprintf(csv, "epoch,val_acc,seconds\n");
  }
  printf("deft-train: %s, %lld training / %lld validation images, %d epochs, batch %lld, lr %g, "
         "%d thread%s\n", o.data, (long long)(n - nval), (long long)nval, o.epochs,
         (long long)o.batch, o.lr, o.threads, o.threads == 1 ? "" : "s");
  fflush(stdout);
  bool tty = isatty(STDERR_FILENO);
  int64_t nb = deft_batcher_num_batches(b);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  for (int epoch = 0; epoch < o.epochs; epoch++) {
    double t0 = now();
    const deft_tensor *xb, *yb;
    int64_t k = 0;
    while (deft_batcher_next(b, &xb, &yb, st)) {
      deft_output feeds[3] = {m.X, m.y, m.training};
      deft_tensor *vals[3] = {(deft_tensor *)xb, (deft_tensor *)yb, yes};
      if (!deft_session_run(s, feeds, vals, 3, NULL, NULL, 0, m.targets, m.ntargets, st)) {
        deft_tensor_free(yes);
        goto fail;
      }
      if (tty && (++k % 5 == 0 || k == nb)) {
        int w = (int)(30 * k / nb);
        fprintf(stderr, "\repoch %d [%.*s%*s] %lld/%lld", epoch, w,
                "##############################", 30 - w, "", (long long)k, (long long)nb);
      }
    }
    if (!deft_status_ok(st)) {
      deft_tensor_free(yes);
      goto fail;
    }
    double secs = now() - t0;
    double acc = evaluate(s, &m, val_x, val_y, st);
    if (acc < 0) {
      deft_tensor_free(yes);
      goto fail;
    }
    if (tty) fprintf(stderr, "\r%60s\r", "");
    printf("epoch %d  val_acc %.4f  time %.2fs\n", epoch, acc, secs);
    fflush(stdout);
    if (csv) fprintf(csv, "%d,%.4f,%.3f\n", epoch, acc, secs);
  }
  deft_tensor_free(yes);
  deft_tensor *tx = deft_images_to_float(test_x, st);
  if (!tx) goto fail;
  double test_acc = evaluate(s, &m, tx, test_y, st);
  deft_tensor_free(tx);
  if (test_acc < 0) goto fail;
  printf("test_acc %.4f\n", test_acc);
  if (o.out) {
    char meta[4200];
    snprintf(meta, sizeof meta, "%s.meta", o.out);
    if (!deft_saver_save(m.saver, s, o.out, -1, NULL, st) ||
        !deft_saver_export_meta_graph(m.saver, meta, st))
      goto fail;
    printf("saved %s (checkpoint) and %s\n", o.out, meta);
  }
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
done:
  if (csv) fclose(csv);
  if (g) deft_saver_free(m.saver);
  deft_batcher_free(b);
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(train_x);
  deft_tensor_free(train_y);
  deft_tensor_free(test_x);
  deft_tensor_free(test_y);
  deft_tensor_free(val_x8);
  deft_tensor_free(val_x);
  deft_tensor_free(val_y);
  deft_tensor_free(tr_x);
  deft_tensor_free(tr_y);
  deft_status_free(st);
  return rc;
}
