/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_common.h - shared helpers of the benchmark programs: clocks, robust statistics,
 * machine-readable result lines, and the chapter's models built through the public API.
 *
 * Result lines (one per measurement, on stdout) read:
 *   RESULT <name> <value> <unit> [key=value ...]
 * bench/run collects them; everything else a program prints is commentary. */
#ifndef DEFT_BENCH_COMMON_H
#define DEFT_BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "deft/deft.h"

/* Monotonic time in seconds. */
double bench_now(void);

/* CPU time of this process (all threads) in seconds. */
double bench_cpu_now(void);

/* Median of v[0..n) (sorts v in place). */
double bench_median(double *v, int n);
/* The q-quantile (0..1) of v[0..n) after bench_median sorted it. */
double bench_quantile_sorted(const double *v, int n, double q);

/* Calls fn(ctx) repeatedly: a warm-up of about warm_s seconds, then nsamples samples of k calls
 * each (k chosen so one sample takes about sample_s seconds). Returns the median seconds per call
 * over the samples and stores the 10th/90th percentiles in p10/p90 (may be NULL). */
typedef void (*bench_fn)(void *ctx);
double bench_time(bench_fn fn, void *ctx, double warm_s, double sample_s, int nsamples,
                  double *p10, double *p90);

/* Prints "RESULT name value unit" plus an optional extra "k=v ..." string. */
void bench_result(const char *name, double value, const char *unit, const char *extra);

/* Peak resident set size of this process in MiB (getrusage ru_maxrss). */
double bench_peak_rss_mib(void);

/* Exits with a message if st is not OK or g has a sticky error (benchmarks have no recovery). */
void bench_check(const deft_status *st, const char *what);
void bench_check_graph(deft_graph *g, const char *what);

/* The MNIST directory: $DEFT_MNIST_DIR, else ../shared/data/mnist relative to the source tree,
 * else /work/shared/data/mnist. */
const char *bench_mnist_dir(void);

/* The chapter's networks (784-300-100-10, ELU, variance-scaling "He" init as the chapter's
 * tf.variance_scaling_initializer(), graph seed 42). */
typedef struct bench_model {
  deft_graph *g;
  deft_output X;        /* float [None, 784] */
  deft_output y;        /* int32 [None] (training graphs) */
  deft_output training; /* bool PlaceholderWithDefault(false) (BN graphs), else invalid */
  deft_output logits;
  deft_output loss;     /* training graphs */
  deft_output accuracy; /* training graphs */
  deft_op *train_op;    /* training graphs */
  deft_op *targets[16]; /* train_op then the UPDATE_OPS' ops */
  int ntargets;
  deft_op *init;
} bench_model;

/* Dense + ELU network (no BN): hidden1, hidden2 with ELU, outputs linear. */
void bench_build_dense(bench_model *m, bool with_training);
/* The chapter's batch-norm network: dense (no activation) -> BN(momentum 0.9) -> ELU, twice, then
 * dense -> BN logits. with_training adds the xentropy loss, SGD(0.01) and accuracy. */
void bench_build_bn(bench_model *m, bool with_training);
void bench_model_free(bench_model *m);

#endif
