/* SPDX-License-Identifier: Apache-2.0 */
/* bench/bench_loop.c - the per-iteration overhead of a TF1 while loop in deft's executor: an
 * empty counting loop (`i = 0; while i < n: i += 1`, TF's node structure: Enter, Merge, Less,
 * LoopCond, Switch, Identity, Add, NextIteration, Exit), imported from GraphDef text. Reports
 * (time of a run with n = 100000 - time of a run with n = 0) / n in microseconds per iteration,
 * medians over samples. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_common.h"
#include "deft/io.h"

#define T_INT "attr { key: 'T' value { type: DT_INT32 } }"
static const char *graph_text(int n, char *buf, size_t size) {
  snprintf(buf, size,
           "node { name: 'i0' op: 'Const' attr { key: 'dtype' value { type: DT_INT32 } } "
           "attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }\n"
           "node { name: 'n' op: 'Const' attr { key: 'dtype' value { type: DT_INT32 } } "
           "attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} int_val: %d } } } }\n"
           "node { name: 'w/Enter' op: 'Enter' input: 'i0' " T_INT
           " attr { key: 'frame_name' value { s: 'w' } } }\n"
           "node { name: 'w/n' op: 'Enter' input: 'n' " T_INT
           " attr { key: 'frame_name' value { s: 'w' } } attr { key: 'is_constant' value { b: true } } }\n"
           "node { name: 'w/Merge' op: 'Merge' input: 'w/Enter' input: 'w/NextIteration' " T_INT
           " attr { key: 'N' value { i: 2 } } }\n"
           "node { name: 'w/Less' op: 'Less' input: 'w/Merge' input: 'w/n' " T_INT " }\n"
           "node { name: 'w/LoopCond' op: 'LoopCond' input: 'w/Less' }\n"
           "node { name: 'w/Switch' op: 'Switch' input: 'w/Merge' input: 'w/LoopCond' " T_INT " }\n"
           "node { name: 'w/Identity' op: 'Identity' input: 'w/Switch:1' " T_INT " }\n"
           "node { name: 'w/one' op: 'Const' input: '^w/Identity' attr { key: 'dtype' value { type: "
           "DT_INT32 } } attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} "
           "int_val: 1 } } } }\n"
           "node { name: 'w/add' op: 'Add' input: 'w/Identity' input: 'w/one' " T_INT " }\n"
           "node { name: 'w/NextIteration' op: 'NextIteration' input: 'w/add' " T_INT " }\n"
           "node { name: 'w/Exit' op: 'Exit' input: 'w/Switch:0' " T_INT " }\n", n);
  return buf;
}

typedef struct ctx {
  deft_session *s;
  deft_output fetch;
  deft_status *st;
} ctx;

static void run_once(void *p) {
  ctx *c = p;
  deft_tensor *out = NULL;
  if (!deft_session_run(c->s, NULL, NULL, 0, &c->fetch, &out, 1, NULL, 0, c->st))
    bench_check(c->st, "deft_session_run(loop)");
  deft_tensor_free(out);
}

static double measure(int n, int nsamples) {
  char text[4096], path[256];
  snprintf(path, sizeof path, "/tmp/deft-bench-loop-%d.pbtxt", (int)getpid());
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(graph_text(n, text, sizeof text), f);
  fclose(f);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  remove(path);
  bench_check(st, "importing the loop");
  ctx c = {.st = st};
  c.s = deft_session_new(g, st);
  bench_check(st, "deft_session_new");
  c.fetch = deft_graph_tensor_by_name(g, "w/Exit:0", st);
  bench_check(st, "w/Exit:0");
  deft_tensor *out = NULL;
  deft_session_run(c.s, NULL, NULL, 0, &c.fetch, &out, 1, NULL, 0, st);
  bench_check(st, "deft_session_run(loop)");
  if (*(const int *)deft_tensor_data(out) != n) {
    fprintf(stderr, "bench: the loop counted to %d, expected %d\n",
            *(const int *)deft_tensor_data(out), n);
    exit(1);
  }
  deft_tensor_free(out);
  double p10, p90;
  double med = bench_time(run_once, &c, 0.2, 0.02, nsamples, &p10, &p90);
  deft_session_free(c.s);
  deft_graph_free(g);
  deft_status_free(st);
  return med;
}

int main(int argc, char **argv) {
  int nsamples = argc > 1 ? atoi(argv[1]) : 31;
  if (nsamples < 5) nsamples = 5;
  int n = 100000;
  double t0 = measure(0, nsamples), tn = measure(n, nsamples);
  char extra[160];
  snprintf(extra, sizeof extra, "n=%d run_n0_us=%.4g run_n_us=%.4g samples=%d", n, t0 * 1e6,
           tn * 1e6, nsamples);
  bench_result("deft.loop.iteration", (tn - t0) / n * 1e6, "us", extra);
  return 0;
}
