/* bench/bench_scale.c - how graph-building and first-run costs grow with depth.
 *
 * For MLPs of 10, 100 and 1,000 hidden layers (784 inputs, hidden layers of 100 units with ELU
 * and variance-scaling init, 10 outputs, sparse softmax cross-entropy, SGD 0.01), times:
 *   build     the forward graph and the loss;
 *   gradients deft_optimizer_compute_gradients (deft_gradients over all trainable variables);
 *   apply     deft_optimizer_apply_gradients (the update ops);
 *   export    deft_export_meta_graph to a temporary ".meta" file;
 *   import    deft_import_meta_graph of that file into a new graph;
 *   session   deft_session_new on the imported graph and its "init" run;
 *   first     the imported graph's first training step at batch 200 (plan compilation, buffer
 *             allocation);
 *   step      a steady-state training step (median of 5), for reference.
 * Each depth is measured REPS times, each time in a fresh process, the repetitions going round
 * the depths (the machine is shared: a change in its load hits every depth alike); every phase
 * and the total are reported as medians over the repetitions.
 * The imported graph is the one that runs, so the pipeline is the one a user of saved graphs
 * follows: build, differentiate, export, import, run.
 *
 * Usage: bench_scale [depth ...]  (default 10 100 1000) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "deft/io.h"

#define REPS 5

enum { BUILD, GRAD, APPLY, EXPORT, IMPORT, SESSION, FIRST, TOTAL, STEP, NPHASES };
static const char *const phase_names[NPHASES] = {"build",   "gradients", "apply",
                                                 "export",  "import",    "session",
                                                 "first",   "total",     "step"};

/* One measurement of one depth. */
typedef struct {
  double t[NPHASES]; /* seconds */
  int ops, variables;
  double meta_mib;
} scale_run;

static void measure(int depth, scale_run *out) {
  deft_status *st = deft_status_new();
  double t0 = bench_now();
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  int64_t xd[2] = {-1, 784}, yd[1] = {-1};
  deft_output X = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, deft_shape_make(1, yd), "y");
  deft_dense_options elu = {
      .activation = "elu",
      .kernel_initializer =
          deft_init_variance_scaling(1.0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0)};
  deft_dense_options lin = {.kernel_initializer = elu.kernel_initializer};
  deft_graph_push_scope(g, "dnn");
  deft_output h = X;
  for (int i = 0; i < depth; i++) {
    char name[32];
    snprintf(name, sizeof name, "hidden%d", i + 1);
    h = deft_dense(g, h, 100, &elu, name);
  }
  deft_output logits = deft_dense(g, h, 10, &lin, "outputs");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "loss");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_graph_pop_scope(g);
  bench_check_graph(g, "building the MLP");
  double t_build = bench_now() - t0;

  deft_graph_push_scope(g, "train");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.01f);
  int nv = 2 * (depth + 1);
  deft_grad_and_var *gv = calloc((size_t)nv, sizeof *gv);
  if (!opt || !gv) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  double t1 = bench_now();
  int n = deft_optimizer_compute_gradients(opt, loss, NULL, 0, gv, nv);
  bench_check_graph(g, "computing gradients");
  double t_grad = bench_now() - t1;
  if (n != nv) {
    fprintf(stderr, "bench: %d variables, expected %d\n", n, nv);
    exit(1);
  }
  t1 = bench_now();
  deft_op *train_op = deft_optimizer_apply_gradients(opt, gv, n, NULL, NULL);
  deft_graph_pop_scope(g);
  deft_op *init = deft_global_variables_initializer(g, "init");
  bench_check_graph(g, "applying gradients");
  double t_apply = bench_now() - t1;

  char dir[] = "/tmp/deft_bench_scale_XXXXXX", path[64];
  if (!mkdtemp(dir)) {
    perror("bench: mkdtemp");
    exit(1);
  }
  snprintf(path, sizeof path, "%s/mlp.meta", dir);
  t1 = bench_now();
  deft_export_meta_graph(g, path, NULL, st);
  bench_check(st, "deft_export_meta_graph");
  double t_export = bench_now() - t1;
  struct stat sb;
  double file_mib = stat(path, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : -1.0;

  t1 = bench_now();
  deft_graph *ig = deft_import_meta_graph(path, NULL, NULL, st);
  bench_check(st, "deft_import_meta_graph");
  double t_import = bench_now() - t1;
  unlink(path);
  rmdir(dir);
  deft_op *itrain = deft_graph_op_by_name(ig, deft_op_name(train_op));
  deft_op *iinit = deft_graph_op_by_name(ig, deft_op_name(init));
  deft_output iX = deft_graph_tensor_by_name(ig, "X:0", st);
  deft_output iy = iX.op ? deft_graph_tensor_by_name(ig, "y:0", st) : iX;
  bench_check(st, "finding the imported graph's tensors");
  if (!itrain || !iinit) {
    fprintf(stderr, "bench: the imported graph lacks '%s' or '%s'\n", deft_op_name(train_op),
            deft_op_name(init));
    exit(1);
  }

  t1 = bench_now();
  deft_session *s = deft_session_new(ig, st);
  bench_check(st, "deft_session_new");
  deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &iinit, 1, st);
  bench_check(st, "running init");
  double t_session = bench_now() - t1;

  int64_t bx[2] = {200, 784}, by[1] = {200};
  deft_tensor *xb = deft_tensor_new(DEFT_FLOAT, bx, 2, st);
  deft_tensor *ybt = xb ? deft_tensor_new(DEFT_INT32, by, 1, st) : NULL;
  bench_check(st, "making a batch");
  float *xp = deft_tensor_data(xb);
  int32_t *yp = deft_tensor_data(ybt);
  for (int64_t i = 0; i < 200 * 784; i++) xp[i] = (float)((i * 37) % 256) / 255.0f;
  for (int i = 0; i < 200; i++) yp[i] = i % 10;
  deft_output feeds[2] = {iX, iy};
  const deft_tensor *vals[2] = {xb, ybt};
  t1 = bench_now();
  deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &itrain, 1, st);
  bench_check(st, "first training step");
  double t_first = bench_now() - t1;
  double steps[5];
  for (int i = 0; i < 5; i++) {
    double a = bench_now();
    deft_session_run(s, feeds, vals, 2, NULL, NULL, 0, &itrain, 1, st);
    bench_check(st, "training step");
    steps[i] = bench_now() - a;
  }
  double t_step = bench_median(steps, 5);

  *out = (scale_run){.t = {t_build, t_grad, t_apply, t_export, t_import, t_session, t_first,
                            t_build + t_grad + t_apply + t_export + t_import + t_session + t_first,
                            t_step},
                      .ops = deft_graph_num_ops(g),
                      .variables = nv,
                      .meta_mib = file_mib};

  deft_tensor_free(xb);
  deft_tensor_free(ybt);
  deft_session_free(s);
  free(gv);
  deft_optimizer_free(opt);
  deft_graph_free(ig);
  deft_graph_free(g);
  deft_status_free(st);
}

/* Runs measure(depth) in a child process and returns its result: every measurement starts from a
 * fresh process, as a user's program does, so no depth profits from memory that the allocator
 * kept from an earlier, larger or smaller, measurement (first-touch page faults are a large part
 * of building and first-running a big graph on this VM). */
static void measure_fresh(int depth, scale_run *out) {
  int fd[2];
  if (pipe(fd) != 0) {
    perror("bench: pipe");
    exit(1);
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("bench: fork");
    exit(1);
  }
  if (pid == 0) {
    close(fd[0]);
    scale_run r;
    measure(depth, &r);
    _exit(write(fd[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = read(fd[0], out, sizeof *out);
  close(fd[0]);
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      got != (ssize_t)sizeof *out) {
    fprintf(stderr, "bench: the measurement of depth %d failed\n", depth);
    exit(1);
  }
}

/* Prints the medians (and the range) of REPS runs of one depth. */
static void report_depth(int depth, const scale_run *runs) {
  for (int ph = 0; ph < NPHASES; ph++) {
    double v[REPS], lo = 1e30, hi = 0;
    for (int r = 0; r < REPS; r++) {
      v[r] = runs[r].t[ph] * 1e3;
      lo = v[r] < lo ? v[r] : lo;
      hi = v[r] > hi ? v[r] : hi;
    }
    char name[64], extra[64];
    snprintf(name, sizeof name, "deft.scale.d%d.%s", depth, phase_names[ph]);
    snprintf(extra, sizeof extra, "min=%.4g max=%.4g reps=%d", lo, hi, REPS);
    bench_result(name, bench_median(v, REPS), "ms", extra);
  }
  char name[64], extra[64];
  snprintf(name, sizeof name, "deft.scale.d%d.ops", depth);
  snprintf(extra, sizeof extra, "variables=%d", runs[0].variables);
  bench_result(name, runs[0].ops, "ops", extra);
  snprintf(name, sizeof name, "deft.scale.d%d.meta_size", depth);
  bench_result(name, runs[0].meta_mib, "MiB", NULL);
}

int main(int argc, char **argv) {
  int defaults[3] = {10, 100, 1000}, ndepths = argc > 1 ? argc - 1 : 3;
  int *depths = malloc(sizeof *depths * (size_t)ndepths);
  scale_run *runs = malloc(sizeof *runs * (size_t)ndepths * REPS);
  if (!depths || !runs) {
    fprintf(stderr, "bench: out of memory\n");
    return 1;
  }
  for (int i = 0; i < ndepths; i++) depths[i] = argc > 1 ? atoi(argv[i + 1]) : defaults[i];
  /* Repetitions go round the depths, so a change in the shared machine's load hits every depth
   * alike. */
  for (int r = 0; r < REPS; r++)
    for (int i = 0; i < ndepths; i++) measure_fresh(depths[i], &runs[i * REPS + r]);
  for (int i = 0; i < ndepths; i++) report_depth(depths[i], runs + i * REPS);
  free(runs);
  free(depths);
  return 0;
}
