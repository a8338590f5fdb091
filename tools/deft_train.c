/* SPDX-License-Identifier: Apache-2.0 */
/* tools/deft_train.c - `deft-train`: trains the chapter's batch-normalization network on an
 * MNIST-layout dataset (default: Debian's Fashion-MNIST) and reports per-epoch validation
 * accuracy.
 *
 * Model (the chapter's In[65]-[69]): 784-300-100-10 dense layers with
 * variance_scaling_initializer() kernels (the chapter's "He init"), batch normalization (momentum
 * 0.9) on each, ELU after the hidden ones; mean sparse softmax cross-entropy; plain gradient
 * descent. Each step runs the training op and the UPDATE_OPS with training=true. The first 5,000
 * training images are the validation set.
 *
 * Under `mpirun -np N` (deft/dist.h, when deft has MPI) the same command trains data-parallel:
 * --batch-size is the global batch, each rank takes its 1/N of every batch (the batcher's
 * shard of one shared permutation), the gradients are averaged across ranks (the distributed
 * optimizer), rank 0's initial variables are broadcast, and only rank 0 prints, evaluates and
 * writes files (CSV, events, checkpoint, meta graph, plot). Batch normalization computes its
 * batch statistics per rank, as Horovod without sync-BN does. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deft/deft.h"
#include "deft/dist.h"
#include "tools/plot/train_plot.h"

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
  const char *logdir;
  const char *plot;
  const char *plot_with[16];
  int nplot_with;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: deft-train [--data DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]\n"
          "                  [--seed N] [--init tf110|tf115|he] [--csv FILE] [--out PREFIX]\n"
          "                  [--logdir DIR] [--plot FILE.svg [--plot-with RUN.csv]...]\n"
          "Trains the chapter's batch-norm network (784-300-100-10, ELU, SGD) on an MNIST-layout\n"
          "directory of IDX files (default /usr/share/datasets/fashion-mnist).\n"
          "--logdir writes TensorBoard event files (graph, loss, accuracy, weight histograms);\n"
          "--plot draws loss and accuracy per epoch as SVG, with earlier --csv runs overlaid.\n");
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
  o->logdir = NULL;
  o->plot = NULL;
  o->nplot_with = 0;
  enum {
    O_DATA = 256,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_THREADS,
    O_SEED,
    O_INIT,
    O_CSV,
    O_OUT,
    O_LOGDIR,
    O_PLOT,
    O_PLOT_WITH
  };
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                           {"data", required_argument, NULL, O_DATA},
                                           {"epochs", required_argument, NULL, O_EPOCHS},
                                           {"batch-size", required_argument, NULL, O_BATCH},
                                           {"lr", required_argument, NULL, O_LR},
                                           {"threads", required_argument, NULL, O_THREADS},
                                           {"seed", required_argument, NULL, O_SEED},
                                           {"init", required_argument, NULL, O_INIT},
                                           {"csv", required_argument, NULL, O_CSV},
                                           {"out", required_argument, NULL, O_OUT},
                                           {"logdir", required_argument, NULL, O_LOGDIR},
                                           {"plot", required_argument, NULL, O_PLOT},
                                           {"plot-with", required_argument, NULL, O_PLOT_WITH},
                                           {NULL, 0, NULL, 0}};
  opterr = 0; /* the messages below name the option */
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    const char *v = optarg;
    long long n;
    bool bad = false;
    switch (c) {
      case 'h':
        usage(stdout);
        exit(0);
      case O_DATA:
        o->data = v;
        break;
      case O_CSV:
        o->csv = v;
        break;
      case O_OUT:
        o->out = v;
        break;
      case O_INIT:
        o->init = v;
        break;
      case O_LOGDIR:
        o->logdir = v;
        break;
      case O_PLOT:
        o->plot = v;
        break;
      case O_PLOT_WITH:
        if (o->nplot_with == (int)(sizeof o->plot_with / sizeof o->plot_with[0])) {
          fprintf(stderr, "deft-train: at most 16 --plot-with files\n");
          return 2;
        }
        o->plot_with[o->nplot_with++] = v;
        break;
      case O_EPOCHS:
        bad = !parse_int(v, 1, 100000, &n);
        if (!bad) o->epochs = (int)n;
        break;
      case O_BATCH:
        bad = !parse_int(v, 1, 1 << 24, &n);
        if (!bad) o->batch = n;
        break;
      case O_THREADS:
        bad = !parse_int(v, 1, 256, &n);
        if (!bad) o->threads = (int)n;
        break;
      case O_SEED:
        bad = !parse_int(v, 0, (1LL << 62), &n);
        if (!bad) o->seed = n;
        break;
      case O_LR: {
        char *end;
        o->lr = strtof(v, &end);
        if (*end || !(o->lr > 0)) {
          fprintf(stderr, "deft-train: --lr must be a positive number, got '%s'\n", v);
          return 2;
        }
        break;
      }
      case ':':
        fprintf(stderr, "deft-train: %s needs a value\n", argv[optind - 1]);
        return 2;
      default:
        fprintf(stderr, "deft-train: unknown option %s\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
    if (bad) {
      fprintf(stderr, "deft-train: bad value for --%s: '%s'\n", longopts[c - O_DATA + 1].name, v);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "deft-train: unexpected argument '%s' (every option is --name VALUE)\n",
            argv[optind]);
    usage(stderr);
    return 2;
  }
  if (strcmp(o->init, "tf110") && strcmp(o->init, "tf115") && strcmp(o->init, "he")) {
    fprintf(stderr, "deft-train: --init must be tf110, tf115 or he, got '%s'\n", o->init);
    return 2;
  }
  if (o->nplot_with && !o->plot) {
    fprintf(stderr, "deft-train: --plot-with goes with --plot\n");
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
  deft_output loss_summary;  /* with --logdir: tf.summary.scalar('log_loss', loss) */
  deft_output epoch_summary; /* with --logdir: accuracy and the weight histograms, merged */
} model;

/* The chapter's batch-norm network, with TF's node names. */
static bool build(deft_graph *g, const options *o, bool distributed, model *m) {
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
        strcmp(o->init, "tf115") ? DEFT_DIST_TRUNCATED_NORMAL_TF110 : DEFT_DIST_TRUNCATED_NORMAL,
        0);
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
  if (distributed) deft_optimizer_set_distributed(opt, DEFT_FUSION_DEFAULT_BYTES);
  m->train_op = opt ? deft_optimizer_minimize(opt, m->loss, NULL, 0, NULL, NULL) : NULL;
  deft_optimizer_free(opt);
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "eval");
  deft_output correct = deft_in_top_k(g, logits, m->y, 1, NULL);
  m->accuracy = deft_reduce_mean(g, deft_cast(g, correct, DEFT_FLOAT, NULL), NULL, 0, false,
                                 "accuracy");
  deft_graph_pop_scope(g);
  m->init = deft_global_variables_initializer(g, "init");
  if (o->logdir) {
    /* As the chapter does: the loss per step; per epoch the validation accuracy and, as
     * tf.summary.histogram(var.op.name, var), every trainable variable. */
    m->loss_summary = deft_summary_scalar(g, "log_loss", m->loss);
    deft_output parts[16];
    int np = 0;
    parts[np++] = deft_summary_scalar(g, "accuracy", m->accuracy);
    deft_output vars[15];
    int nv = deft_graph_get_collection(g, DEFT_TRAINABLE_VARIABLES, NULL, vars, 15, NULL);
    for (int i = 0; i < nv && i < 15; i++)
      parts[np++] = deft_summary_histogram(g, deft_op_name(vars[i].op), vars[i]);
    m->epoch_summary = deft_summary_merge(g, parts, np, "epoch_summaries");
  }
  deft_status *sst = deft_status_new();
  m->saver = o->out ? deft_saver_new(g, NULL, 0, 5, sst) : NULL;
  if (o->out && !m->saver) {
    fprintf(stderr, "deft-train: building the saver failed: %s\n", deft_status_message(sst));
    deft_status_free(sst);
    return false;
  }
  deft_status_free(sst);
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

/* The accuracy on (x, y); with `summary` valid, also runs it and stores it in *summary_out. */
static double evaluate(deft_session *s, const model *m, const deft_tensor *x,
                       const deft_tensor *y, deft_output summary, deft_tensor **summary_out,
                       deft_status *st) {
  deft_output feeds[2] = {m->X, m->y};
  const deft_tensor *vals[2] = {x, y};
  deft_output fetches[2] = {m->accuracy, summary};
  deft_tensor *outs[2] = {NULL, NULL};
  int nf = deft_output_ok(summary) ? 2 : 1;
  if (!deft_session_run(s, feeds, vals, 2, fetches, outs, nf, NULL, 0, st)) return -1;
  double a = deft_tensor_get_double(outs[0], 0);
  deft_tensor_free(outs[0]);
  if (summary_out) *summary_out = outs[1];
  else deft_tensor_free(outs[1]);
  return a;
}

/* True iff a checkpoint can be written at prefix: its directory exists and is writable (checked
 * before training, so a typo does not cost a whole run). Prints why not. */
static bool out_writable(const char *prefix) {
  char dir[4096];
  const char *slash = strrchr(prefix, '/');
  if (!*prefix || (slash && !slash[1])) {
    fprintf(stderr, "deft-train: --out '%s' must be a file prefix (e.g. DIR/model)\n", prefix);
    return false;
  }
  if (!slash) snprintf(dir, sizeof dir, ".");
  else snprintf(dir, sizeof dir, "%.*s", slash == prefix ? 1 : (int)(slash - prefix), prefix);
  if (access(dir, W_OK | X_OK) != 0) {
    fprintf(stderr, "deft-train: cannot write the checkpoint '%s': directory '%s': %s\n", prefix,
            dir, strerror(errno));
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  if (o.out && !out_writable(o.out)) return 1;
  deft_status *st = deft_status_new();
  /* Under an MPI launcher: one rank of a data-parallel job (rank 0 prints and writes). */
  deft_comm *comm = NULL;
  if (deft_mpi_launched() && deft_mpi_available()) {
    if (!deft_mpi_init(&argc, &argv, st) || !(comm = deft_comm_world(st))) {
      fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
      deft_status_free(st);
      return 1;
    }
  }
  int rank = comm ? deft_comm_rank(comm) : 0, nranks = comm ? deft_comm_size(comm) : 1;
  bool lead = rank == 0;
  if (o.batch % nranks) {
    if (lead)
      fprintf(stderr, "deft-train: --batch-size %lld (the global batch) must be divisible by "
                      "the %d ranks\n", (long long)o.batch, nranks);
    deft_comm_free(comm);
    deft_mpi_finalize();
    deft_status_free(st);
    return 2;
  }
  if (!lead) { /* only rank 0 writes files */
    o.csv = o.out = o.logdir = o.plot = NULL;
  }
  deft_tensor *train_x = NULL, *train_y = NULL, *test_x = NULL, *test_y = NULL;
  deft_tensor *val_x8 = NULL, *val_x = NULL, *val_y = NULL, *tr_x = NULL, *tr_y = NULL;
  deft_graph *g = NULL;
  deft_session *s = NULL;
  deft_batcher *b = NULL;
  FILE *csv = NULL;
  deft_summary_writer *sw = NULL;
  double *curve_loss = NULL, *curve_acc = NULL;
  model m;
  memset(&m, 0, sizeof m);
  rc = 1;
  if (!deft_mnist_load(o.data, true, &train_x, &train_y, &test_x, &test_y, st)) {
    fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
    fprintf(stderr,
            "deft-train: install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
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
  if (!g || !build(g, &o, comm != NULL, &m)) goto done;
  deft_session_options *so = deft_session_options_new();
  if (so && comm) deft_session_options_set_comm(so, comm);
  s = so ? deft_session_new_with_options(g, so, st) : NULL;
  deft_session_options_free(so);
  if (!s) goto fail;
  deft_session_set_threads(s, o.threads);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st)) goto fail;
  if (comm && !deft_comm_broadcast_variables(comm, s, 0, st)) goto fail;
  b = deft_batcher_new(tr_x, tr_y, o.batch / nranks, (uint64_t)o.seed, st);
  if (!b || (comm && !deft_batcher_set_shard(b, rank, nranks, st))) goto fail;
  if (o.csv) {
    csv = fopen(o.csv, "w");
    if (!csv) {
      fprintf(stderr, "deft-train: cannot write %s: %s\n", o.csv, strerror(errno));
      goto done;
    }
    fprintf(csv, "epoch,val_acc,seconds,train_loss,learning_rate\n");
  }
  curve_loss = calloc((size_t)o.epochs, sizeof *curve_loss);
  curve_acc = calloc((size_t)o.epochs, sizeof *curve_acc);
  if (!curve_loss || !curve_acc) {
    fprintf(stderr, "deft-train: out of memory\n");
    goto done;
  }
  if (o.logdir) {
    sw = deft_summary_writer_new(o.logdir, st);
    if (!sw || !deft_summary_writer_add_graph(sw, g, 0, st)) goto fail;
    printf("deft-train: writing events to %s\n", deft_summary_writer_path(sw));
  }
  if (lead)
    printf("deft-train: %s, %lld training / %lld validation images, %d epochs, batch %lld, lr %g, "
           "%d thread%s\n", o.data, (long long)(n - nval), (long long)nval, o.epochs,
           (long long)o.batch, o.lr, o.threads, o.threads == 1 ? "" : "s");
  if (comm && lead)
    printf("deft-train: %d ranks (MPI), %lld rows per rank and step\n", nranks,
           (long long)(o.batch / nranks));
  fflush(stdout);
  bool tty = lead && isatty(STDERR_FILENO);
  int64_t nb = deft_batcher_num_batches(b);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  for (int epoch = 0; epoch < o.epochs; epoch++) {
    double t0 = now(), loss_sum = 0;
    const deft_tensor *xb, *yb;
    int64_t k = 0;
    deft_batch_result br;
    while ((br = deft_batcher_next(b, &xb, &yb, st)) == DEFT_BATCH_READY) {
      deft_output feeds[3] = {m.X, m.y, m.training};
      const deft_tensor *vals[3] = {xb, yb, yes};
      /* The loss of every step (its epoch mean goes to the CSV and the plot); with --logdir the
       * log_loss summary of every 50th step and of the epoch's last. */
      deft_output fetches[2] = {m.loss, m.loss_summary};
      deft_tensor *outs[2] = {NULL, NULL};
      bool log_step = sw && (k % 50 == 0 || k + 1 == nb); /* k steps done */
      if (!deft_session_run(s, feeds, vals, 3, fetches, outs, log_step ? 2 : 1, m.targets,
                            m.ntargets, st)) {
        deft_tensor_free(yes);
        goto fail;
      }
      loss_sum += deft_tensor_get_double(outs[0], 0);
      bool ok = !log_step || deft_summary_writer_add_summary(sw, outs[1], epoch * nb + k + 1, st);
      deft_tensor_free(outs[0]);
      deft_tensor_free(outs[1]);
      if (!ok) {
        deft_tensor_free(yes);
        goto fail;
      }
      k++;
      if (tty && (k % 5 == 0 || k == nb)) {
        int w = (int)(30 * k / nb);
        fprintf(stderr, "\repoch %d [%.*s%*s] %lld/%lld", epoch, w,
                "##############################", 30 - w, "", (long long)k, (long long)nb);
      }
    }
    if (br == DEFT_BATCH_ERROR) {
      deft_tensor_free(yes);
      goto fail;
    }
    double secs = now() - t0;
    deft_tensor *summary = NULL;
    deft_output none = {NULL, 0};
    if (!lead) continue; /* rank 0 evaluates (its own BN moving statistics) and reports */
    double acc = evaluate(s, &m, val_x, val_y, sw ? m.epoch_summary : none, &summary, st);
    bool ok = acc >= 0 && (!sw || (deft_summary_writer_add_summary(sw, summary, (epoch + 1) * nb,
                                                                    st) &&
                                   deft_summary_writer_flush(sw, st)));
    deft_tensor_free(summary);
    if (!ok) {
      deft_tensor_free(yes);
      goto fail;
    }
    double train_loss = k ? loss_sum / (double)k : 0;
    curve_loss[epoch] = train_loss;
    curve_acc[epoch] = acc;
    if (tty) fprintf(stderr, "\r%60s\r", "");
    printf("epoch %d  val_acc %.4f  loss %.4f  time %.2fs\n", epoch, acc, train_loss, secs);
    fflush(stdout);
    if (csv)
      fprintf(csv, "%d,%.4f,%.3f,%.6f,%g\n", epoch, acc, secs, train_loss, (double)o.lr);
  }
  deft_tensor_free(yes);
  if (comm && lead)
    printf(
        "deft-train: rank 0 spent %.2fs in %lld collectives (gradient allreduces and the "
        "broadcast), %.2fs of it waiting (%.0f%% overlapped with computation)\n",
        deft_comm_seconds(comm), (long long)deft_comm_calls(comm), deft_comm_wait_seconds(comm),
        deft_comm_seconds(comm) > 0
            ? 100 * (1 - deft_comm_wait_seconds(comm) / deft_comm_seconds(comm))
            : 0.0);
  if (!lead) {
    rc = 0;
    goto done;
  }
  deft_tensor *tx = deft_images_to_float(test_x, st);
  if (!tx) goto fail;
  deft_output no_summary = {NULL, 0};
  double test_acc = evaluate(s, &m, tx, test_y, no_summary, NULL, st);
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
  if (sw && !deft_summary_writer_close(sw, st)) goto fail;
  if (o.plot) {
    char label[128], err[512];
    snprintf(label, sizeof label, "this run (lr %g, batch %lld, seed %lld)", o.lr,
             (long long)o.batch, (long long)o.seed);
    if (!train_plot_write(o.plot, label, curve_loss, curve_acc, o.epochs, o.plot_with,
                          o.nplot_with, err, sizeof err)) {
      fprintf(stderr, "deft-train: --plot: %s\n", err);
      goto done;
    }
    printf("plotted %s\n", o.plot);
  }
  rc = 0;
  goto done;
fail:
  if (comm) fprintf(stderr, "deft-train: rank %d: %s\n", rank, deft_status_message(st));
  else fprintf(stderr, "deft-train: %s\n", deft_status_message(st));
  if (comm) deft_mpi_abort(1); /* the other ranks would wait for this one */
done:
  if (csv) fclose(csv);
  deft_summary_writer_free(sw);
  free(curve_loss);
  free(curve_acc);
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
  deft_comm_free(comm);
  deft_mpi_finalize();
  return rc;
}
