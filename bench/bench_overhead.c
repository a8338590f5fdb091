/* bench/bench_overhead.c - the run overhead of deft_session_run on the chapter's `a + b` graph:
 * (1) a and b float scalar Consts, fetching a + b; (2) a and b float scalar Placeholders, fed
 * on every run. Each result is the median over samples of many runs, in microseconds per run.
 * A run includes what a user pays: the call, the plan lookup, the kernels and the fetched tensor
 * (returned to the caller and freed). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

typedef struct ctx {
  deft_session *s;
  deft_output feeds[2];
  deft_tensor *feed_values[2];
  int nfeeds;
  deft_output fetch;
  deft_status *st;
} ctx;

static void run_once(void *p) {
  ctx *c = p;
  deft_tensor *out = NULL;
  if (!deft_session_run(c->s, c->feeds, (const deft_tensor *const *)c->feed_values, c->nfeeds,
                        &c->fetch, &out, 1, NULL, 0, c->st))
    bench_check(c->st, "deft_session_run(a + b)");
  deft_tensor_free(out);
}

static void measure(const char *name, bool fed, int threads, double sample_s, int nsamples) {
  deft_graph *g = deft_graph_new();
  deft_status *st = deft_status_new();
  ctx c = {.st = st};
  deft_output a, b;
  if (fed) {
    a = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "a");
    b = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "b");
    c.feeds[0] = a;
    c.feeds[1] = b;
    c.feed_values[0] = deft_tensor_scalar_float(3.0f);
    c.feed_values[1] = deft_tensor_scalar_float(4.0f);
    c.nfeeds = 2;
  } else {
    a = deft_const_float(g, 3.0f, "a");
    b = deft_const_float(g, 4.0f, "b");
  }
  c.fetch = deft_add(g, a, b, "add");
  bench_check_graph(g, "building a + b");
  c.s = deft_session_new(g, st);
  bench_check(st, "deft_session_new");
  deft_session_set_threads(c.s, threads);

  /* Check the answer once. */
  deft_tensor *out = NULL;
  deft_session_run(c.s, c.feeds, (const deft_tensor *const *)c.feed_values, c.nfeeds, &c.fetch,
                   &out, 1, NULL, 0, st);
  bench_check(st, "deft_session_run(a + b)");
  float v = *(const float *)deft_tensor_data(out);
  deft_tensor_free(out);
  if (v != 7.0f) {
    fprintf(stderr, "bench: a + b = %g, expected 7\n", v);
    exit(1);
  }

  double p10, p90;
  double med = bench_time(run_once, &c, 0.2, sample_s, nsamples, &p10, &p90);
  char extra[160];
  snprintf(extra, sizeof extra, "threads=%d p10=%.4g p90=%.4g samples=%d", threads, p10 * 1e6,
           p90 * 1e6, nsamples);
  bench_result(name, med * 1e6, "us", extra);

  deft_session_free(c.s);
  for (int i = 0; i < c.nfeeds; i++) deft_tensor_free(c.feed_values[i]);
  deft_graph_free(g);
  deft_status_free(st);
}

int main(int argc, char **argv) {
  int nsamples = argc > 1 ? atoi(argv[1]) : 101;
  if (nsamples < 5) nsamples = 5;
  measure("deft.overhead.const", false, 1, 0.01, nsamples);
  measure("deft.overhead.fed", true, 1, 0.01, nsamples);
  return 0;
}
