/* examples/chapter.h - what every chapter example shares: the MNIST split the chapter uses (the
 * first 5,000 training images validate, the other 55,000 train), command-line options, and the
 * epoch loop that prints validation accuracy. Header-only so each example stays one program. */
#ifndef DEFT_EXAMPLES_CHAPTER_H
#define DEFT_EXAMPLES_CHAPTER_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deft/deft.h"

typedef struct ch_data {
  deft_tensor *train_x, *train_y; /* uint8 [55000,784], int32 [55000] */
  deft_tensor *valid_x, *valid_y; /* float [5000,784], int32 [5000] */
} ch_data;

typedef struct ch_options {
  const char *data;
  const char *workdir; /* where checkpoints go */
  int epochs;
  int64_t batch;
  int64_t seed;
  int threads;
  const char *csv;
  const char *init; /* "tf110" (the notebook's TF), "tf115" (TF >= 1.11's corrected), "he" */
} ch_options;

static inline void ch_die(const char *what, const deft_status *st) {
  fprintf(stderr, "error: %s: %s\n", what, st ? deft_status_message(st) : "");
  exit(1);
}

static inline void ch_check_graph(deft_graph *g) {
  if (!deft_graph_ok(g)) ch_die("building the graph", deft_graph_status(g));
}

/* A saver over vars[0..n) (NULL = all global variables) keeping 5 checkpoints, or exit(1). */
static inline deft_saver *ch_saver_new(deft_graph *g, const deft_output *vars, int n) {
  deft_status *st = deft_status_new();
  deft_saver *sv = deft_saver_new(g, vars, n, 5, st);
  if (!sv) ch_die("building the saver", st);
  deft_status_free(st);
  return sv;
}

/* An option an example adds to the shared ones: --name VALUE stores VALUE in *value. */
typedef struct ch_extra_option {
  const char *name;
  const char **value;
} ch_extra_option;

static inline void ch_usage(FILE *f, const char *prog, const ch_extra_option *extra, int nextra) {
  fprintf(f, "usage: %s [--data DIR] [--workdir DIR] [--epochs N] [--batch-size N] [--seed N]\n"
             "       [--threads N] [--csv FILE] [--init tf110|tf115|he]", prog);
  for (int i = 0; i < nextra; i++) fprintf(f, " [--%s VALUE]", extra[i].name);
  fprintf(f, "\n");
}

/* A whole decimal number in [lo, hi], or exit(2) naming the option. */
static inline long long ch_number(const char *opt, const char *v, long long lo, long long hi) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (!*v || *end || n < lo || n > hi) {
    fprintf(stderr, "error: --%s needs a whole number from %lld to %lld, not \"%s\"\n", opt, lo,
            hi, v);
    exit(2);
  }
  return n;
}

/* Parses the shared options (GNU style: "--epochs 5" or "--epochs=5", "--" ends options) and
 * extra[0..nextra); an unknown option, a missing value or a stray argument is an error (exit 2),
 * --help prints the usage (exit 0). */
static inline ch_options ch_parse_with(int argc, char **argv, const ch_extra_option *extra,
                                       int nextra) {
  ch_options o = {"../shared/data/mnist", ".", 20, 200, 42, 1, NULL, "tf110"};
  enum { NSHARED = 9, MAXOPTS = 24 };
  struct option opts[MAXOPTS + 1] = {
      {"data", required_argument, NULL, 0},       {"workdir", required_argument, NULL, 0},
      {"epochs", required_argument, NULL, 0},     {"batch-size", required_argument, NULL, 0},
      {"seed", required_argument, NULL, 0},       {"threads", required_argument, NULL, 0},
      {"csv", required_argument, NULL, 0},        {"init", required_argument, NULL, 0},
      {"help", no_argument, NULL, 0}};
  int n = NSHARED;
  for (int i = 0; i < nextra && n < MAXOPTS; i++)
    opts[n++] = (struct option){extra[i].name, required_argument, NULL, 0};
  opts[n] = (struct option){NULL, 0, NULL, 0};
  optind = 1;
  opterr = 1;
  int c, idx;
  while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
    if (c != 0) {
      ch_usage(stderr, argv[0], extra, nextra);
      exit(2);
    }
    const char *v = optarg;
    switch (idx) {
      case 0: o.data = v; break;
      case 1: o.workdir = v; break;
      case 2: o.epochs = (int)ch_number("epochs", v, 1, 1000000); break;
      case 3: o.batch = ch_number("batch-size", v, 1, INT64_MAX); break;
      case 4: o.seed = ch_number("seed", v, INT64_MIN, INT64_MAX); break;
      case 5: o.threads = (int)ch_number("threads", v, 1, 1024); break;
      case 6: o.csv = v; break;
      case 7:
        if (strcmp(v, "tf110") && strcmp(v, "tf115") && strcmp(v, "he")) {
          fprintf(stderr, "error: --init is tf110, tf115 or he, not \"%s\"\n", v);
          exit(2);
        }
        o.init = v;
        break;
      case 8: ch_usage(stdout, argv[0], extra, nextra); exit(0);
      default: *extra[idx - NSHARED].value = v; break;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "error: unexpected argument \"%s\"\n", argv[optind]);
    ch_usage(stderr, argv[0], extra, nextra);
    exit(2);
  }
  return o;
}

static inline ch_options ch_parse(int argc, char **argv) {
  return ch_parse_with(argc, argv, NULL, 0);
}

/* tf.variance_scaling_initializer() as the chosen TF version computed it, or He normal. */
static inline deft_initializer ch_variance_scaling(const ch_options *o) {
  if (!strcmp(o->init, "he")) return deft_init_he_normal(0);
  return deft_init_variance_scaling(1.0, DEFT_FAN_IN,
                                    strcmp(o->init, "tf115") ? DEFT_DIST_TRUNCATED_NORMAL_TF110
                                                             : DEFT_DIST_TRUNCATED_NORMAL, 0);
}

static inline ch_data ch_load(const ch_options *o) {
  ch_data d;
  deft_status *st = deft_status_new();
  deft_tensor *x, *y;
  if (!deft_mnist_load(o->data, true, &x, &y, NULL, NULL, st)) ch_die(o->data, st);
  int64_t n = deft_tensor_dim(x, 0);
  deft_tensor *v8 = deft_tensor_slice_rows(x, 0, 5000, st);
  d.valid_x = v8 ? deft_images_to_float(v8, st) : NULL;
  d.valid_y = deft_tensor_slice_rows(y, 0, 5000, st);
  d.train_x = deft_tensor_slice_rows(x, 5000, n, st);
  d.train_y = deft_tensor_slice_rows(y, 5000, n, st);
  if (!d.valid_x || !d.valid_y || !d.train_x || !d.train_y) ch_die("splitting MNIST", st);
  deft_tensor_free(v8);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_status_free(st);
  return d;
}

static inline void ch_free(ch_data *d) {
  deft_tensor_free(d->train_x);
  deft_tensor_free(d->train_y);
  deft_tensor_free(d->valid_x);
  deft_tensor_free(d->valid_y);
}

static inline double ch_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs fetch `accuracy` with X, y fed (plus one extra feed, if extra.op). */
static inline double ch_eval(deft_session *s, deft_output X, deft_output y, deft_output acc,
                             const deft_tensor *xv, const deft_tensor *yv) {
  deft_status *st = deft_status_new();
  deft_output feeds[2] = {X, y};
  const deft_tensor *vals[2] = {xv, yv};
  deft_tensor *out = NULL;
  if (!deft_session_run(s, feeds, vals, 2, &acc, &out, 1, NULL, 0, st)) ch_die("evaluating", st);
  double a = deft_tensor_get_double(out, 0);
  deft_tensor_free(out);
  deft_status_free(st);
  return a;
}

/* One training run: each epoch shuffles (seeded), runs the targets on every batch (feeding X, y
 * and, if training.op, training=true), then prints "epoch N  val_acc A  time T". x/y may be the
 * uint8 images (scaled per batch) or any cached float tensor fed to X. Returns the last
 * validation accuracy. */
static inline double ch_train(deft_session *s, const ch_options *o, deft_output X, deft_output y,
                              deft_output training, deft_op *const *targets, int ntargets,
                              deft_output acc, const deft_tensor *train_x,
                              const deft_tensor *train_y, const deft_tensor *valid_x,
                              const deft_tensor *valid_y) {
  deft_status *st = deft_status_new();
  deft_batcher *b = deft_batcher_new(train_x, train_y, o->batch, (uint64_t)o->seed, st);
  if (!b) ch_die("batcher", st);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  FILE *csv = o->csv ? fopen(o->csv, "w") : NULL;
  if (csv) fprintf(csv, "epoch,val_acc,seconds\n");
  double a = 0;
  for (int epoch = 0; epoch < o->epochs; epoch++) {
    double t0 = ch_now();
    const deft_tensor *xb, *yb;
    while (deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY) {
      deft_output feeds[3] = {X, y, training};
      const deft_tensor *vals[3] = {xb, yb, yes};
      if (!deft_session_run(s, feeds, vals, training.op ? 3 : 2, NULL, NULL, 0, targets,
                            ntargets, st))
        ch_die("training step", st);
    }
    if (!deft_status_ok(st)) ch_die("batching", st);
    double secs = ch_now() - t0;
    a = ch_eval(s, X, y, acc, valid_x, valid_y);
    printf("epoch %d  val_acc %.4f  time %.2fs\n", epoch, a, secs);
    fflush(stdout);
    if (csv) fprintf(csv, "%d,%.4f,%.3f\n", epoch, a, secs);
  }
  if (csv) fclose(csv);
  deft_tensor_free(yes);
  deft_batcher_free(b);
  deft_status_free(st);
  return a;
}

#endif
