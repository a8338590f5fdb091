/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_common.c - see bench_common.h. */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
  if (n <= 0) return 0.0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_quantile_sorted(const double *v, int n, double q) {
  if (n <= 0) return 0.0;
  int i = (int)(q * (n - 1) + 0.5);
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return v[i];
}

double bench_time(bench_fn fn, void *ctx, double warm_s, double sample_s, int nsamples,
                  double *p10, double *p90) {
  /* Warm up (plan compilation, buffer allocation, caches) and calibrate k. */
  long calls = 0;
  double t0 = bench_now(), t;
  do {
    fn(ctx);
    calls++;
    t = bench_now();
  } while (t - t0 < warm_s || calls < 3);
  double per = (t - t0) / (double)calls;
  long k = per > 0 ? (long)(sample_s / per) : 1;
  if (k < 1) k = 1;
  double *v = malloc((size_t)nsamples * sizeof *v);
  if (!v) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  for (int s = 0; s < nsamples; s++) {
    double a = bench_now();
    for (long i = 0; i < k; i++) fn(ctx);
    v[s] = (bench_now() - a) / (double)k;
  }
  double med = bench_median(v, nsamples);
  if (p10) *p10 = bench_quantile_sorted(v, nsamples, 0.10);
  if (p90) *p90 = bench_quantile_sorted(v, nsamples, 0.90);
  free(v);
  return med;
}

void bench_result(const char *name, double value, const char *unit, const char *extra) {
  printf("RESULT %s %.6g %s%s%s\n", name, value, unit, extra && *extra ? " " : "",
         extra ? extra : "");
  fflush(stdout);
}

double bench_peak_rss_mib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
  return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

void bench_check(const deft_status *st, const char *what) {
  if (deft_status_ok(st)) return;
  fprintf(stderr, "bench: %s failed: %s: %s\n", what, deft_code_name(deft_status_code(st)),
          deft_status_message(st));
  exit(1);
}

void bench_check_graph(deft_graph *g, const char *what) { bench_check(deft_graph_status(g), what); }

const char *bench_mnist_dir(void) {
  const char *env = getenv("DEFT_MNIST_DIR");
  if (env && *env) return env;
  static const char *const candidates[] = {
#ifdef DEFT_BENCH_SOURCE_DIR
      DEFT_BENCH_SOURCE_DIR "/../shared/data/mnist",
#endif
      "../shared/data/mnist", "/work/shared/data/mnist"};
  struct stat sb;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (stat(candidates[i], &sb) == 0 && S_ISDIR(sb.st_mode)) return candidates[i];
  return "../shared/data/mnist";
}
