/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_tf1_loops.c - TF1 while loops: the frame executor, the loop ops, TensorArrays and
 * stacks.
 *
 * The fixture is ../shared/tf1's chapter-14 time-series RNN (CNN_RNN.md), a TF 1.3 training
 * graph with a dynamic_rnn while loop and its gradient loop: restored and run for predictions
 * (Reshape_1:0 for the test instance and a 50-series batch, Mean:0 = 0.0545913), then 20 steps
 * of its own Adam op against the listed losses, through the library and `deft run`. Small loops
 * written as GraphDef text (counting, nested, a cond inside a loop, a million iterations, stacks,
 * TensorArrays) check the semantics against values computed by hand, and malformed loops check
 * the errors. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deft/io.h"
#include "deft/saver.h"
#include "testutil.h"

#define TS "tf1/rdcwuyy__handson-ml/"
#define TS_META TS "my_time_series_model.meta"
#define TS_CKPT TS "my_time_series_model"

static deft_tensor *npy(const char *path) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t != NULL, "%s: %s", path, deft_status_message(st));
  deft_status_free(st);
  return t;
}

static const char *shared(const char *rel) {
  const char *path = tu_shared_path(rel);
  ck_assert_msg(path != NULL, "%s is missing from ../shared", rel);
  return path;
}

static deft_tensor *shared_npy(const char *rel) { return npy(shared(rel)); }

static void check_close(const deft_tensor *got, const deft_tensor *want, double tol,
                        const char *what) {
  ck_assert_int_eq(deft_tensor_num_elements(got), deft_tensor_num_elements(want));
  for (int64_t i = 0; i < deft_tensor_num_elements(want); i++) {
    double g = deft_tensor_get_double(got, i), w = deft_tensor_get_double(want, i);
    ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)), "%s[%lld] = %.7g, expected %.7g", what,
                  (long long)i, g, w);
  }
}

static deft_output tensor(deft_graph *g, const char *name) {
  deft_status *st = deft_status_new();
  deft_output o = deft_graph_tensor_by_name(g, name, st);
  ck_assert_msg(o.op != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return o;
}

static int count_type(deft_graph *g, const char *type) {
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    n += !strcmp(deft_op_type(deft_graph_op_at(g, i)), type);
  return n;
}

typedef struct {
  deft_graph *g;
  deft_meta_graph_info *info;
  deft_session *s;
  deft_saver *saver;
} model;

static model restore_ts(void) {
  model m;
  deft_status *st = deft_status_new();
  char meta[4096], ckpt[4096];
  snprintf(meta, sizeof meta, "%s", shared(TS_META));
  snprintf(ckpt, sizeof ckpt, "%s", shared(TS_CKPT ".index"));
  ckpt[strlen(ckpt) - strlen(".index")] = 0;
  m.g = deft_import_meta_graph(meta, NULL, &m.info, st);
  ck_assert_msg(m.g != NULL, "%s: %s", meta, deft_status_message(st));
  m.s = deft_session_new(m.g, st);
  ck_assert_ptr_nonnull(m.s);
  m.saver = deft_saver_from_names(m.g, deft_meta_graph_info_filename_tensor(m.info),
                                  deft_meta_graph_info_save_tensor(m.info),
                                  deft_meta_graph_info_restore_op(m.info), 0, st);
  ck_assert_msg(m.saver != NULL, "%s", deft_status_message(st));
  ck_assert_msg(deft_saver_restore(m.saver, m.s, ckpt, st), "%s", deft_status_message(st));
  deft_status_free(st);
  return m;
}

static void model_free(model *m) {
  deft_saver_free(m->saver);
  deft_session_free(m->s);
  deft_meta_graph_info_free(m->info);
  deft_graph_free(m->g);
}

START_TEST(time_series_imports_with_its_loops) {
  TU_REQUIRE_SHARED(meta, TS_META);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_meta_graph(meta, NULL, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_graph_num_ops(g), 416);
  /* the forward loop (3 loop variables) and the gradient loop */
  ck_assert_int_gt(count_type(g, "NextIteration"), 3);
  ck_assert_int_gt(count_type(g, "Enter"), 0);
  ck_assert_int_gt(count_type(g, "RefEnter"), 0);
  ck_assert_int_gt(count_type(g, "StackPush"), 0);
  ck_assert_int_eq(count_type(g, "TensorArrayGradV3") > 0, 1);
  /* the Merge's back edge is connected to its NextIteration */
  deft_op *m = deft_graph_op_by_name(g, "rnn/while/Merge");
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(deft_op_type(deft_op_input(m, 1).op), "NextIteration");
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(time_series_predicts) {
  TU_REQUIRE_SHARED(meta, TS_META);
  (void)meta;
  model m = restore_ts();
  deft_output x = tensor(m.g, "Placeholder:0"), y = tensor(m.g, "Placeholder_1:0");
  deft_output fetch[2] = {tensor(m.g, "Reshape_1:0"), tensor(m.g, "Mean:0")};
  deft_status *st = deft_status_new();
  /* (a) the chapter's test instance */
  deft_tensor *xi = shared_npy(TS "inputs/ch14_time_series_instance/Placeholder_0.npy");
  deft_tensor *out[2] = {NULL, NULL};
  ck_assert_msg(
      deft_session_run(m.s, &x, (const deft_tensor *const *)&xi, 1, fetch, out, 1, NULL, 0, st),
      "%s", deft_status_message(st));
  deft_tensor *want = shared_npy(TS "expected/ch14_time_series_instance/Reshape_1_0.npy");
  check_close(out[0], want, 1e-4, "instance Reshape_1:0");
  deft_tensor_free(out[0]);
  deft_tensor_free(want);
  /* (b) the 50-series batch, with the loss; twice (the plan's second run reuses its buffers) */
  deft_tensor *vals[2] = {shared_npy(TS "inputs/ch14_time_series_batch50/Placeholder_0.npy"),
                          shared_npy(TS "inputs/ch14_time_series_batch50/Placeholder_1_0.npy")};
  deft_output feeds[2] = {x, y};
  want = shared_npy(TS "expected/ch14_time_series_batch50/Reshape_1_0.npy");
  for (int rep = 0; rep < 2; rep++) {
    ck_assert_msg(deft_session_run(m.s, feeds, (const deft_tensor *const *)vals, 2, fetch, out, 2,
                                   NULL, 0, st),
                  "%s", deft_status_message(st));
    check_close(out[0], want, 1e-4, "batch50 Reshape_1:0");
    double mse = deft_tensor_get_double(out[1], 0);
    ck_assert_msg(fabs(mse - 0.0545913) <= 1e-4 * (1 + 0.0545913), "Mean:0 = %.7g", mse);
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
  }
  deft_tensor_free(want);
  deft_tensor_free(vals[0]);
  deft_tensor_free(vals[1]);
  deft_tensor_free(xi);
  deft_status_free(st);
  model_free(&m);
}
END_TEST

START_TEST(time_series_trains_with_its_adam_op) {
  TU_REQUIRE_SHARED(meta, TS_META);
  (void)meta;
  model m = restore_ts();
  deft_output feeds[2] = {tensor(m.g, "Placeholder:0"), tensor(m.g, "Placeholder_1:0")};
  deft_output loss = tensor(m.g, "Mean:0");
  deft_op *adam = deft_graph_op_by_name(m.g, "Adam");
  ck_assert_ptr_nonnull(adam);
  deft_tensor *vals[2] = {shared_npy(TS "inputs/ch14_time_series_train/Placeholder_0.npy"),
                          shared_npy(TS "inputs/ch14_time_series_train/Placeholder_1_0.npy")};
  deft_tensor *losses = shared_npy(TS "expected/ch14_time_series_train/losses.npy");
  ck_assert_int_eq(deft_tensor_num_elements(losses), 21);
  deft_status *st = deft_status_new();
  for (int step = 0; step <= 20; step++) {
    deft_tensor *out = NULL;
    ck_assert_msg(deft_session_run(m.s, feeds, (const deft_tensor *const *)vals, 2, &loss, &out, 1,
                                   step < 20 ? &adam : NULL, step < 20, st),
                  "step %d: %s", step, deft_status_message(st));
    double got = deft_tensor_get_double(out, 0), want = deft_tensor_get_double(losses, step);
    ck_assert_msg(fabs(got - want) <= 1e-3 * fabs(want), "loss %d = %.7g, expected %.7g", step,
                  got, want);
    deft_tensor_free(out);
  }
  deft_output bias = tensor(m.g, "dense/bias:0");
  deft_tensor *b = NULL;
  ck_assert_msg(deft_session_run(m.s, NULL, NULL, 0, &bias, &b, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  deft_tensor *wb = shared_npy(TS "expected/ch14_time_series_train/dense_bias_after_20_steps.npy");
  ck_assert_msg(fabs(deft_tensor_get_double(b, 0) - deft_tensor_get_double(wb, 0)) <= 1e-6,
                "dense/bias = %.9g, expected %.9g", deft_tensor_get_double(b, 0),
                deft_tensor_get_double(wb, 0));
  deft_tensor_free(b);
  deft_tensor_free(wb);
  deft_tensor_free(losses);
  deft_tensor_free(vals[0]);
  deft_tensor_free(vals[1]);
  deft_status_free(st);
  model_free(&m);
}
END_TEST

/* ---- deft run ---- */

static const char *program(void) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/deft", DEFT_BINARY_DIR);
  struct stat sb;
  ck_assert_msg(stat(path, &sb) == 0 && (sb.st_mode & S_IXUSR), "%s was not built", path);
  return path;
}

static int run_cli(const char *const *args, char *err_path, size_t size) {
  const char *prog = program();
  snprintf(err_path, size, "%s/loops-cli-err.txt", tu_tmpdir());
  const char *argv[32];
  int n = 0;
  argv[n++] = prog;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int o = open("/dev/null", O_WRONLY);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(time_series_through_deft_run) {
  TU_REQUIRE_SHARED(meta, TS_META);
  char metap[4096], ckpt[4096], x[4200], y[4200], out[512], err[512], path[700];
  snprintf(metap, sizeof metap, "%s", meta);
  snprintf(ckpt, sizeof ckpt, "%s", shared(TS_CKPT ".index"));
  ckpt[strlen(ckpt) - strlen(".index")] = 0;
  snprintf(x, sizeof x, "Placeholder:0=%s",
           shared(TS "inputs/ch14_time_series_instance/Placeholder_0.npy"));
  snprintf(out, sizeof out, "%s/loops-run", tu_tmpdir());
  int code = run_cli((const char *[]){"run", metap, "--checkpoint", ckpt, "--feed", x, "--fetch",
                                      "Reshape_1:0", "--out", out, NULL}, err, sizeof err);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  snprintf(path, sizeof path, "%s/Reshape_1_0.npy", out);
  deft_tensor *got = npy(path);
  deft_tensor *want = shared_npy(TS "expected/ch14_time_series_instance/Reshape_1_0.npy");
  check_close(got, want, 1e-4, "deft run Reshape_1:0");
  deft_tensor_free(got);
  deft_tensor_free(want);
  /* one training step as a target: the loss fetched with it is the one before the update */
  snprintf(x, sizeof x, "Placeholder:0=%s",
           shared(TS "inputs/ch14_time_series_train/Placeholder_0.npy"));
  snprintf(y, sizeof y, "Placeholder_1:0=%s",
           shared(TS "inputs/ch14_time_series_train/Placeholder_1_0.npy"));
  code = run_cli((const char *[]){"run", metap, "--checkpoint", ckpt, "--feed", x, "--feed", y,
                                  "--fetch", "Mean:0", "--target", "Adam", "--out", out, NULL},
                 err, sizeof err);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  snprintf(path, sizeof path, "%s/Mean_0.npy", out);
  got = npy(path);
  ck_assert_msg(fabs(deft_tensor_get_double(got, 0) - 0.054591) <= 1e-3 * 0.054591, "%g",
                deft_tensor_get_double(got, 0));
  deft_tensor_free(got);
}
END_TEST

/* ---- loops written as GraphDef text ---- */

static deft_graph *import_text(const char *text, deft_status *st) {
  char path[600];
  snprintf(path, sizeof path, "%s/loop.pbtxt", tu_tmpdir());
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return deft_import_graph_def(path, NULL, st);
}

#define NODE(name, op, inputs, attrs) \
  "node { name: '" name "' op: '" op "' " inputs " " attrs " }\n"
#define IN(x) "input: '" x "'"
#define T_INT "attr { key: 'T' value { type: DT_INT32 } }"
#define T_FLOAT "attr { key: 'T' value { type: DT_FLOAT } }"
#define CONST_I(name, v)                                                                         \
  NODE(name, "Const", "", "attr { key: 'dtype' value { type: DT_INT32 } } attr { key: 'value' " \
       "value { tensor { dtype: DT_INT32 tensor_shape {} int_val: " #v " } } }")
#define CONST_F(name, v)                                                                         \
  NODE(name, "Const", "", "attr { key: 'dtype' value { type: DT_FLOAT } } attr { key: 'value' " \
       "value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: " #v " } } }")
#define ENTER(name, in, frame, konst, t)                                                        \
  NODE(name, "Enter", IN(in), t " attr { key: 'frame_name' value { s: '" frame "' } } "        \
       "attr { key: 'is_constant' value { b: " konst " } }")
#define PIVOT_CONST_I(name, pivot, v)                                                            \
  NODE(name, "Const", "input: '^" pivot "'", "attr { key: 'dtype' value { type: DT_INT32 } } " \
       "attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} int_val: " #v     \
       " } } }")

/* while i < n: i += 1; s += x * i  (x a float fed outside; i, s loop variables) */
#define COUNT_LOOP(n)                                                         \
  CONST_I("i0", 0) CONST_F("s0", 0) CONST_I("n", n)                           \
  NODE("x", "Placeholder", "", "attr { key: 'dtype' value { type: DT_FLOAT } }") \
  ENTER("w/Enter", "i0", "w", "false", T_INT)                                 \
  ENTER("w/Enter_1", "s0", "w", "false", T_FLOAT)                             \
  ENTER("w/n", "n", "w", "true", T_INT)                                       \
  ENTER("w/x", "x", "w", "true", T_FLOAT)                                     \
  NODE("w/Merge", "Merge", IN("w/Enter") " " IN("w/NextIteration"),           \
       T_INT " attr { key: 'N' value { i: 2 } }")                             \
  NODE("w/Merge_1", "Merge", IN("w/Enter_1") " " IN("w/NextIteration_1"),     \
       T_FLOAT " attr { key: 'N' value { i: 2 } }")                           \
  NODE("w/Less", "Less", IN("w/Merge") " " IN("w/n"), T_INT)                  \
  NODE("w/LoopCond", "LoopCond", IN("w/Less"), "")                            \
  NODE("w/Switch", "Switch", IN("w/Merge") " " IN("w/LoopCond"), T_INT)       \
  NODE("w/Switch_1", "Switch", IN("w/Merge_1") " " IN("w/LoopCond"), T_FLOAT) \
  NODE("w/Identity", "Identity", IN("w/Switch:1"), T_INT)                     \
  NODE("w/Identity_1", "Identity", IN("w/Switch_1:1"), T_FLOAT)               \
  PIVOT_CONST_I("w/one", "w/Identity", 1)                                     \
  NODE("w/add", "Add", IN("w/Identity") " " IN("w/one"), T_INT)               \
  NODE("w/addf", "Cast", IN("w/add"), "attr { key: 'SrcT' value { type: DT_INT32 } } " \
       "attr { key: 'DstT' value { type: DT_FLOAT } }")                       \
  NODE("w/mul", "Mul", IN("w/x") " " IN("w/addf"), T_FLOAT)                   \
  NODE("w/add_1", "Add", IN("w/Identity_1") " " IN("w/mul"), T_FLOAT)         \
  NODE("w/NextIteration", "NextIteration", IN("w/add"), T_INT)                \
  NODE("w/NextIteration_1", "NextIteration", IN("w/add_1"), T_FLOAT)          \
  NODE("w/Exit", "Exit", IN("w/Switch:0"), T_INT)                             \
  NODE("w/Exit_1", "Exit", IN("w/Switch_1:0"), T_FLOAT)

static deft_tensor *scalar_f(float v) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, NULL, 0, NULL);
  *(float *)deft_tensor_data(t) = v;
  return t;
}

/* Runs fetches (by name) with x fed; returns false with st set on failure. */
static bool run_named(deft_session *s, deft_graph *g, float x, const char *const *names,
                      deft_tensor **out, int n, deft_status *st) {
  deft_output fetch[4];
  for (int i = 0; i < n; i++) fetch[i] = tensor(g, names[i]);
  deft_op *xop = deft_graph_op_by_name(g, "x");
  deft_output feed = {xop, 0};
  deft_tensor *xv = scalar_f(x);
  bool ok = deft_session_run(s, xop ? &feed : NULL, xop ? (const deft_tensor *const *)&xv : NULL,
                             xop ? 1 : 0, fetch, out, n, NULL, 0, st);
  deft_tensor_free(xv);
  return ok;
}

START_TEST(counting_loop) {
  deft_status *st = deft_status_new();
  deft_graph *g = import_text(COUNT_LOOP(5), st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[2] = {"w/Exit:0", "w/Exit_1:0"};
  deft_tensor *out[2];
  for (int rep = 0; rep < 3; rep++) {
    ck_assert_msg(run_named(s, g, 0.5f, names, out, 2, st), "%s", deft_status_message(st));
    ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 5);
    /* 0.5 * (1 + 2 + 3 + 4 + 5) */
    ck_assert_float_eq(*(float *)deft_tensor_data(out[1]), 7.5f);
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
  }
  deft_session_free(s);
  deft_graph_free(g);
  /* zero iterations: the Exits carry the Enters' values */
  g = import_text(COUNT_LOOP(0), st);
  s = deft_session_new(g, st);
  ck_assert_msg(run_named(s, g, 0.5f, names, out, 2, st), "%s", deft_status_message(st));
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 0);
  ck_assert_float_eq(*(float *)deft_tensor_data(out[1]), 0.0f);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

START_TEST(million_iterations_in_bounded_memory) {
  deft_status *st = deft_status_new();
  deft_graph *g = import_text(COUNT_LOOP(1000000), st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[2] = {"w/Exit:0", "w/Exit_1:0"};
  deft_tensor *out[2];
  /* a short run first, so the plan and its buffers exist */
  long before = max_rss_kb();
  ck_assert_msg(run_named(s, g, 0.0f, names, out, 2, st), "%s", deft_status_message(st));
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 1000000);
  ck_assert_float_eq(*(float *)deft_tensor_data(out[1]), 0.0f);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  long after = max_rss_kb();
  /* a million iterations that each kept a 4-byte tensor would hold > 64 MB */
  ck_assert_msg(after - before < 16 * 1024, "peak RSS grew by %ld kB", after - before);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* The outer loop runs j = 0..2; the inner loop counts k from 0 to j + 1 and adds k to s each
 * time. s = sum_j sum_{k=1}^{j+1} k = 1 + 3 + 6 = 10. */
static const char nested_loops[] =
    CONST_I("j0", 0) CONST_I("s0", 0) CONST_I("m", 3)
    ENTER("o/Enter", "j0", "o", "false", T_INT)
    ENTER("o/Enter_1", "s0", "o", "false", T_INT)
    ENTER("o/m", "m", "o", "true", T_INT)
    NODE("o/Merge", "Merge", IN("o/Enter") " " IN("o/NextIteration"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("o/Merge_1", "Merge", IN("o/Enter_1") " " IN("o/NextIteration_1"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("o/Less", "Less", IN("o/Merge") " " IN("o/m"), T_INT)
    NODE("o/LoopCond", "LoopCond", IN("o/Less"), "")
    NODE("o/Switch", "Switch", IN("o/Merge") " " IN("o/LoopCond"), T_INT)
    NODE("o/Switch_1", "Switch", IN("o/Merge_1") " " IN("o/LoopCond"), T_INT)
    NODE("o/j", "Identity", IN("o/Switch:1"), T_INT)
    NODE("o/s", "Identity", IN("o/Switch_1:1"), T_INT)
    PIVOT_CONST_I("o/one", "o/j", 1)
    NODE("o/j1", "Add", IN("o/j") " " IN("o/one"), T_INT)
    PIVOT_CONST_I("o/k0", "o/j", 0)
    /* the inner loop, over k, with s as its second variable and j + 1 its bound */
    ENTER("o/i/Enter", "o/k0", "o/i", "false", T_INT)
    ENTER("o/i/Enter_1", "o/s", "o/i", "false", T_INT)
    ENTER("o/i/bound", "o/j1", "o/i", "true", T_INT)
    NODE("o/i/Merge", "Merge", IN("o/i/Enter") " " IN("o/i/NextIteration"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("o/i/Merge_1", "Merge", IN("o/i/Enter_1") " " IN("o/i/NextIteration_1"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("o/i/Less", "Less", IN("o/i/Merge") " " IN("o/i/bound"), T_INT)
    NODE("o/i/LoopCond", "LoopCond", IN("o/i/Less"), "")
    NODE("o/i/Switch", "Switch", IN("o/i/Merge") " " IN("o/i/LoopCond"), T_INT)
    NODE("o/i/Switch_1", "Switch", IN("o/i/Merge_1") " " IN("o/i/LoopCond"), T_INT)
    NODE("o/i/k", "Identity", IN("o/i/Switch:1"), T_INT)
    NODE("o/i/s", "Identity", IN("o/i/Switch_1:1"), T_INT)
    PIVOT_CONST_I("o/i/one", "o/i/k", 1)
    NODE("o/i/k1", "Add", IN("o/i/k") " " IN("o/i/one"), T_INT)
    NODE("o/i/s1", "Add", IN("o/i/s") " " IN("o/i/k1"), T_INT)
    NODE("o/i/NextIteration", "NextIteration", IN("o/i/k1"), T_INT)
    NODE("o/i/NextIteration_1", "NextIteration", IN("o/i/s1"), T_INT)
    NODE("o/i/Exit", "Exit", IN("o/i/Switch:0"), T_INT)
    NODE("o/i/Exit_1", "Exit", IN("o/i/Switch_1:0"), T_INT)
    NODE("o/NextIteration", "NextIteration", IN("o/j1"), T_INT)
    NODE("o/NextIteration_1", "NextIteration", IN("o/i/Exit_1"), T_INT)
    NODE("o/Exit", "Exit", IN("o/Switch:0"), T_INT)
    NODE("o/Exit_1", "Exit", IN("o/Switch_1:0"), T_INT);

START_TEST(nested_loops_run) {
  deft_status *st = deft_status_new();
  deft_graph *g = import_text(nested_loops, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[2] = {"o/Exit:0", "o/Exit_1:0"};
  deft_tensor *out[2];
  ck_assert_msg(run_named(s, g, 0, names, out, 2, st), "%s", deft_status_message(st));
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 3);
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[1]), 10);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A cond inside a loop: for i in 0..5, s += (i even ? i : -1). 0 - 1 + 2 - 1 + 4 - 1 = 3. */
static const char cond_in_loop[] =
    CONST_I("i0", 0) CONST_I("s0", 0) CONST_I("n", 6) CONST_I("two", 2)
    ENTER("w/Enter", "i0", "w", "false", T_INT)
    ENTER("w/Enter_1", "s0", "w", "false", T_INT)
    ENTER("w/n", "n", "w", "true", T_INT)
    ENTER("w/two", "two", "w", "true", T_INT)
    NODE("w/Merge", "Merge", IN("w/Enter") " " IN("w/NextIteration"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("w/Merge_1", "Merge", IN("w/Enter_1") " " IN("w/NextIteration_1"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("w/Less", "Less", IN("w/Merge") " " IN("w/n"), T_INT)
    NODE("w/LoopCond", "LoopCond", IN("w/Less"), "")
    NODE("w/Switch", "Switch", IN("w/Merge") " " IN("w/LoopCond"), T_INT)
    NODE("w/Switch_1", "Switch", IN("w/Merge_1") " " IN("w/LoopCond"), T_INT)
    NODE("w/i", "Identity", IN("w/Switch:1"), T_INT)
    NODE("w/s", "Identity", IN("w/Switch_1:1"), T_INT)
    NODE("w/mod", "FloorMod", IN("w/i") " " IN("w/two"), T_INT)
    PIVOT_CONST_I("w/zero", "w/i", 0)
    NODE("w/even", "Equal", IN("w/mod") " " IN("w/zero"), T_INT)
    NODE("w/c/Switch", "Switch", IN("w/i") " " IN("w/even"), T_INT)
    NODE("w/c/f", "Identity", IN("w/c/Switch:0"), T_INT)
    PIVOT_CONST_I("w/c/minus", "w/c/f", -1)
    NODE("w/c/Merge", "Merge", IN("w/c/minus") " " IN("w/c/Switch:1"),
         T_INT " attr { key: 'N' value { i: 2 } }")
    NODE("w/s1", "Add", IN("w/s") " " IN("w/c/Merge"), T_INT)
    PIVOT_CONST_I("w/one", "w/i", 1)
    NODE("w/i1", "Add", IN("w/i") " " IN("w/one"), T_INT)
    NODE("w/NextIteration", "NextIteration", IN("w/i1"), T_INT)
    NODE("w/NextIteration_1", "NextIteration", IN("w/s1"), T_INT)
    NODE("w/Exit_1", "Exit", IN("w/Switch_1:0"), T_INT);

START_TEST(cond_inside_a_loop) {
  deft_status *st = deft_status_new();
  deft_graph *g = import_text(cond_in_loop, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[1] = {"w/Exit_1:0"};
  deft_tensor *out[1];
  ck_assert_msg(run_named(s, g, 0, names, out, 1, st), "%s", deft_status_message(st));
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 3);
  deft_tensor_free(out[0]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A loop pushing i * 10 on a stack for i = 0..3, then a second loop popping 4 values (or, with
 * pops = 5, one too many) and summing them with weights 1, 2, 3, 4 in pop order:
 * 30*1 + 20*2 + 10*3 + 0*4 = 100. */
static void stack_graph(char *buf, size_t size, int pops) {
  snprintf(buf, size,
      NODE("st", "Stack", "", "attr { key: 'elem_type' value { type: DT_INT32 } } "
           "attr { key: 'stack_name' value { s: 'acc' } }")
      CONST_I("i0", 0) CONST_I("n", 4) CONST_I("ten", 10)
      ENTER("f/Enter", "i0", "f", "false", T_INT)
      ENTER("f/n", "n", "f", "true", T_INT)
      ENTER("f/ten", "ten", "f", "true", T_INT)
      NODE("f/st", "RefEnter", IN("st"), "attr { key: 'T' value { type: DT_STRING } } "
           "attr { key: 'frame_name' value { s: 'f' } } attr { key: 'is_constant' value { b: true } }")
      NODE("f/Merge", "Merge", IN("f/Enter") " " IN("f/NextIteration"),
           T_INT " attr { key: 'N' value { i: 2 } }")
      NODE("f/Less", "Less", IN("f/Merge") " " IN("f/n"), T_INT)
      NODE("f/LoopCond", "LoopCond", IN("f/Less"), "")
      NODE("f/Switch", "Switch", IN("f/Merge") " " IN("f/LoopCond"), T_INT)
      NODE("f/i", "Identity", IN("f/Switch:1"), T_INT)
      NODE("f/v", "Mul", IN("f/i") " " IN("f/ten"), T_INT)
      NODE("f/push", "StackPush", IN("f/st") " " IN("f/v"), T_INT)
      PIVOT_CONST_I("f/one", "f/push", 1)
      NODE("f/i1", "Add", IN("f/i") " " IN("f/one"), T_INT)
      NODE("f/NextIteration", "NextIteration", IN("f/i1"), T_INT)
      NODE("f/Exit", "Exit", IN("f/Switch:0"), T_INT)
      CONST_I("s0", 0) CONST_I("m", %d)
      NODE("b/k0", "Identity", IN("i0") " input: '^f/Exit'", T_INT)
      ENTER("b/Enter", "b/k0", "b", "false", T_INT)
      ENTER("b/Enter_1", "s0", "b", "false", T_INT)
      ENTER("b/m", "m", "b", "true", T_INT)
      NODE("b/st", "RefEnter", IN("st"), "attr { key: 'T' value { type: DT_STRING } } "
           "attr { key: 'frame_name' value { s: 'b' } } attr { key: 'is_constant' value { b: true } }")
      NODE("b/Merge", "Merge", IN("b/Enter") " " IN("b/NextIteration"),
           T_INT " attr { key: 'N' value { i: 2 } }")
      NODE("b/Merge_1", "Merge", IN("b/Enter_1") " " IN("b/NextIteration_1"),
           T_INT " attr { key: 'N' value { i: 2 } }")
      NODE("b/Less", "Less", IN("b/Merge") " " IN("b/m"), T_INT)
      NODE("b/LoopCond", "LoopCond", IN("b/Less"), "")
      NODE("b/Switch", "Switch", IN("b/Merge") " " IN("b/LoopCond"), T_INT)
      NODE("b/Switch_1", "Switch", IN("b/Merge_1") " " IN("b/LoopCond"), T_INT)
      NODE("b/k", "Identity", IN("b/Switch:1"), T_INT)
      NODE("b/s", "Identity", IN("b/Switch_1:1"), T_INT)
      NODE("b/pop", "StackPop", IN("b/st") " input: '^b/k'",
           "attr { key: 'elem_type' value { type: DT_INT32 } }")
      PIVOT_CONST_I("b/one", "b/k", 1)
      NODE("b/k1", "Add", IN("b/k") " " IN("b/one"), T_INT)
      NODE("b/w", "Mul", IN("b/pop") " " IN("b/k1"), T_INT)
      NODE("b/s1", "Add", IN("b/s") " " IN("b/w"), T_INT)
      NODE("b/NextIteration", "NextIteration", IN("b/k1"), T_INT)
      NODE("b/NextIteration_1", "NextIteration", IN("b/s1"), T_INT)
      NODE("b/Exit_1", "Exit", IN("b/Switch_1:0"), T_INT), pops);
}

START_TEST(stacks_across_loops) {
  static char text[16384];
  deft_status *st = deft_status_new();
  stack_graph(text, sizeof text, 4);
  deft_graph *g = import_text(text, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[1] = {"b/Exit_1:0"};
  deft_tensor *out[1];
  for (int rep = 0; rep < 2; rep++) { /* each run gets its own stack */
    ck_assert_msg(run_named(s, g, 0, names, out, 1, st), "%s", deft_status_message(st));
    ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 100);
    deft_tensor_free(out[0]);
  }
  deft_session_free(s);
  deft_graph_free(g);
  /* popping a fifth value: the error names the pop, the stack and the iteration */
  stack_graph(text, sizeof text, 5);
  g = import_text(text, st);
  s = deft_session_new(g, st);
  ck_assert(!run_named(s, g, 0, names, out, 1, st));
  TU_ASSERT_STATUS(st, DEFT_OUT_OF_RANGE, "b/pop", "stack 'st' is empty", "iteration 4");
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A TensorArray of 3 written in a loop with i * 1.5 and gathered after it; `extra` writes
 * index `widx` once more after the loop and `ridx` is read. */
static void ta_graph(char *buf, size_t size, int n, const char *after) {
  snprintf(buf, size,
      CONST_I("size", 3) CONST_I("i0", 0) CONST_I("n", %d) CONST_F("k", 1.5)
      NODE("ta", "TensorArrayV3", IN("size"), "attr { key: 'dtype' value { type: DT_FLOAT } } "
           "attr { key: 'element_shape' value { shape { unknown_rank: true } } }")
      ENTER("w/Enter", "i0", "w", "false", T_INT)
      NODE("w/Enter_1", "Enter", IN("ta:1"), T_FLOAT " attr { key: 'frame_name' value { s: 'w' } }")
      NODE("w/ta", "Enter", IN("ta"), "attr { key: 'T' value { type: DT_RESOURCE } } "
           "attr { key: 'frame_name' value { s: 'w' } } attr { key: 'is_constant' value { b: true } }")
      ENTER("w/n", "n", "w", "true", T_INT)
      ENTER("w/k", "k", "w", "true", T_FLOAT)
      NODE("w/Merge", "Merge", IN("w/Enter") " " IN("w/NextIteration"),
           T_INT " attr { key: 'N' value { i: 2 } }")
      NODE("w/Merge_1", "Merge", IN("w/Enter_1") " " IN("w/NextIteration_1"),
           T_FLOAT " attr { key: 'N' value { i: 2 } }")
      NODE("w/Less", "Less", IN("w/Merge") " " IN("w/n"), T_INT)
      NODE("w/LoopCond", "LoopCond", IN("w/Less"), "")
      NODE("w/Switch", "Switch", IN("w/Merge") " " IN("w/LoopCond"), T_INT)
      NODE("w/Switch_1", "Switch", IN("w/Merge_1") " " IN("w/LoopCond"), T_FLOAT)
      NODE("w/i", "Identity", IN("w/Switch:1"), T_INT)
      NODE("w/flow", "Identity", IN("w/Switch_1:1"), T_FLOAT)
      NODE("w/if", "Cast", IN("w/i"), "attr { key: 'SrcT' value { type: DT_INT32 } } "
           "attr { key: 'DstT' value { type: DT_FLOAT } }")
      NODE("w/v", "Mul", IN("w/if") " " IN("w/k"), T_FLOAT)
      NODE("w/write", "TensorArrayWriteV3", IN("w/ta") " " IN("w/i") " " IN("w/v") " "
           IN("w/flow"), T_FLOAT)
      PIVOT_CONST_I("w/one", "w/i", 1)
      NODE("w/i1", "Add", IN("w/i") " " IN("w/one"), T_INT)
      NODE("w/NextIteration", "NextIteration", IN("w/i1"), T_INT)
      NODE("w/NextIteration_1", "NextIteration", IN("w/write"), T_FLOAT)
      NODE("w/Exit_1", "Exit", IN("w/Switch_1:0"), T_FLOAT)
      CONST_I("range/start", 0) CONST_I("range/delta", 1)
      NODE("size_out", "TensorArraySizeV3", IN("ta") " " IN("w/Exit_1"), "")
      NODE("range", "Range", IN("range/start") " " IN("size_out") " " IN("range/delta"),
           "attr { key: 'Tidx' value { type: DT_INT32 } }")
      NODE("gather", "TensorArrayGatherV3", IN("ta") " " IN("range") " " IN("w/Exit_1"),
           "attr { key: 'dtype' value { type: DT_FLOAT } }")
      "%s", n, after);
}

START_TEST(tensor_arrays_in_a_loop) {
  static char text[16384];
  deft_status *st = deft_status_new();
  ta_graph(text, sizeof text, 3, "");
  deft_graph *g = import_text(text, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  const char *names[1] = {"gather:0"};
  deft_tensor *out[1];
  ck_assert_msg(run_named(s, g, 0, names, out, 1, st), "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_rank(out[0]), 1);
  ck_assert_int_eq(deft_tensor_dim(out[0], 0), 3);
  const float *v = deft_tensor_data(out[0]);
  ck_assert_float_eq(v[0], 0.0f);
  ck_assert_float_eq(v[1], 1.5f);
  ck_assert_float_eq(v[2], 3.0f);
  deft_tensor_free(out[0]);
  deft_session_free(s);
  deft_graph_free(g);
  /* a write past the end in iteration 3 */
  ta_graph(text, sizeof text, 4, "");
  g = import_text(text, st);
  s = deft_session_new(g, st);
  ck_assert(!run_named(s, g, 0, names, out, 1, st));
  TU_ASSERT_STATUS(st, DEFT_OUT_OF_RANGE, "w/write", "index 3 is out of range", "size 3",
                   "iteration 3");
  deft_session_free(s);
  deft_graph_free(g);
  /* writing an element twice */
  ta_graph(text, sizeof text, 3,
           CONST_I("idx", 1) CONST_F("val", 2)
           NODE("again", "TensorArrayWriteV3", IN("ta") " " IN("idx") " " IN("val") " "
                IN("w/Exit_1"), T_FLOAT));
  g = import_text(text, st);
  s = deft_session_new(g, st);
  const char *again[1] = {"again:0"};
  ck_assert(!run_named(s, g, 0, again, out, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "again", "element 1 has already been written");
  deft_session_free(s);
  deft_graph_free(g);
  /* reading out of range */
  ta_graph(text, sizeof text, 3,
           CONST_I("idx", 7)
           NODE("read", "TensorArrayReadV3", IN("ta") " " IN("idx") " " IN("w/Exit_1"),
                "attr { key: 'dtype' value { type: DT_FLOAT } }"));
  g = import_text(text, st);
  s = deft_session_new(g, st);
  const char *read[1] = {"read:0"};
  ck_assert(!run_named(s, g, 0, read, out, 1, st));
  TU_ASSERT_STATUS(st, DEFT_OUT_OF_RANGE, "read", "index 7 is out of range");
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- malformed loops ---- */

static void expect_plan_error(const char *text, const char *fetch, const char *a, const char *b) {
  deft_status *st = deft_status_new();
  deft_graph *g = import_text(text, st);
  if (!g) {
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, a, b);
    deft_status_free(st);
    return;
  }
  deft_session *s = deft_session_new(g, st);
  deft_output f = tensor(g, fetch);
  deft_tensor *out = NULL;
  ck_assert(!deft_session_run(s, NULL, NULL, 0, &f, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, a, b);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}

START_TEST(malformed_loops_are_refused) {
  /* an Exit without an Enter */
  expect_plan_error(CONST_I("a", 1) NODE("e", "Exit", IN("a"), T_INT), "e:0", "'e'",
                    "an Exit without its Enter");
  /* a NextIteration outside a loop, feeding a Merge */
  expect_plan_error(CONST_I("a", 1)
                    NODE("m", "Merge", IN("a") " " IN("n"), T_INT " attr { key: 'N' value { i: 2 } }")
                    NODE("n", "NextIteration", IN("m"), T_INT),
                    "m:0", "'n'", "NextIteration outside any while loop");
  /* a cycle that is not a loop */
  expect_plan_error(NODE("p", "Identity", IN("q"), T_INT) NODE("q", "Identity", IN("p"), T_INT),
                    "p:0", "cycle", "'p'");
  /* frames that do not nest: an op taking values from two loops' frames */
  expect_plan_error(CONST_I("a", 1)
                    ENTER("x/e", "a", "x", "true", T_INT) ENTER("y/e", "a", "y", "true", T_INT)
                    NODE("bad", "Add", IN("x/e") " " IN("y/e"), T_INT),
                    "bad:0", "'bad'", "different while-loop frames");
  /* a NextIteration no Switch guards: the loop could never end */
  expect_plan_error(CONST_I("a", 1)
                    ENTER("x/e", "a", "x", "false", T_INT)
                    NODE("x/m", "Merge", IN("x/e") " " IN("x/n"),
                         T_INT " attr { key: 'N' value { i: 2 } }")
                    NODE("x/n", "NextIteration", IN("x/m"), T_INT)
                    NODE("x/Exit", "Exit", IN("x/m"), T_INT),
                    "x/Exit:0", "'x/n'", "could never end");
  /* a value used inside a loop without an Enter */
  expect_plan_error(CONST_I("a", 1) CONST_I("b", 2)
                    ENTER("x/e", "a", "x", "true", T_INT)
                    NODE("bad", "Add", IN("x/e") " " IN("b"), T_INT),
                    "bad:0", "'bad'", "different while-loop frames");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tf1_loops");
  TCase *tc = tcase_create("fixture");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, time_series_imports_with_its_loops);
  tcase_add_test(tc, time_series_predicts);
  tcase_add_test(tc, time_series_trains_with_its_adam_op);
  tcase_add_test(tc, time_series_through_deft_run);
  suite_add_tcase(s, tc);
  TCase *lt = tcase_create("loops");
  tcase_set_timeout(lt, 120);
  tcase_add_test(lt, counting_loop);
  tcase_add_test(lt, million_iterations_in_bounded_memory);
  tcase_add_test(lt, nested_loops_run);
  tcase_add_test(lt, cond_inside_a_loop);
  tcase_add_test(lt, stacks_across_loops);
  tcase_add_test(lt, tensor_arrays_in_a_loop);
  tcase_add_test(lt, malformed_loops_are_refused);
  suite_add_tcase(s, lt);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
