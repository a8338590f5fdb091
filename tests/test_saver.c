/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_saver.c - tf.train.Saver in C: save/restore round trips, subsets by regex,
 * max_to_keep and the checkpoint file, atomic saves, the error paths, and restoring a real
 * TF-written checkpoint into a graph rebuilt in code (evaluated on MNIST against the value the
 * fixtures' README computed independently). */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_testutil.h"
#include "proto/bundle.h"
#include "runtime/session_internal.h"
#include "testutil.h"

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

typedef struct {
  deft_graph *g;
  deft_op *a, *b, *init;
  deft_session *s;
} small;

static small small_model(const char *seed_name, float fill) {
  small m;
  m.g = deft_graph_new();
  deft_graph_push_variable_scope(m.g, "hidden1", NULL);
  m.a = deft_get_variable(m.g, "kernel", DEFT_FLOAT, DEFT_SHAPE(2, 3), deft_init_constant(fill),
                          true);
  deft_graph_pop_variable_scope(m.g);
  deft_graph_push_variable_scope(m.g, "hidden2", NULL);
  m.b =
      deft_get_variable(m.g, "kernel", DEFT_FLOAT, DEFT_SHAPE(4), deft_init_constant(-fill), true);
  deft_graph_pop_variable_scope(m.g);
  m.init = deft_global_variables_initializer(m.g, NULL);
  ck_assert_msg(deft_graph_ok(m.g), "%s %s", seed_name,
                deft_status_message(deft_graph_status(m.g)));
  deft_status *st = deft_status_new();
  m.s = deft_session_new(m.g, st);
  deft_status_free(st);
  return m;
}

static void init(small *m) {
  deft_status *st = deft_status_new();
  ck_assert(deft_session_run(m->s, NULL, NULL, 0, NULL, NULL, 0, &m->init, 1, st));
  deft_status_free(st);
}

static double value(small *m, deft_op *v, int i) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_session_variable_value(m->s, v, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  double r = deft_tensor_get_double(t, i);
  deft_tensor_free(t);
  deft_status_free(st);
  return r;
}

static void small_free(small *m) {
  deft_session_free(m->s);
  deft_graph_free(m->g);
}

START_TEST(round_trip_and_names) {
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/rt/model.ckpt", tu_tmpdir());
  char dir[512];
  snprintf(dir, sizeof dir, "%s/rt", tu_tmpdir());
  mkdir(dir, 0755);
  small m = small_model("a", 1.5f);
  deft_saver *sv = deft_saver_new(m.g, NULL, 0, 0, NULL);
  ck_assert_ptr_nonnull(sv);
  ck_assert_str_eq(deft_saver_filename_tensor(sv), "save/Const:0");
  ck_assert_str_eq(deft_saver_save_tensor(sv), "save/control_dependency:0");
  ck_assert_str_eq(deft_saver_restore_op(sv), "save/restore_all");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(m.g, "save/RestoreV2"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(m.g, "save/Assign_1"));
  init(&m);
  deft_status *st = deft_status_new();
  char *path = NULL;
  ck_assert_msg(deft_saver_save(sv, m.s, prefix, 100, &path, st), "%s", deft_status_message(st));
  ck_assert(strstr(path, "model.ckpt-100") != NULL);
  deft_saver_string_free(path);
  /* The files TF writes; keys are the variables' op names. */
  char buf[600];
  snprintf(buf, sizeof buf, "%s-100", prefix);
  deft_bundle_reader *r = deft_bundle_reader_open(buf, st);
  ck_assert_msg(r != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 2);
  ck_assert_str_eq(deft_bundle_reader_key(r, 0), "hidden1/kernel");
  deft_bundle_reader_free(r);
  char *latest = deft_latest_checkpoint_path(dir, st);
  ck_assert_ptr_nonnull(latest);
  ck_assert(strstr(latest, "model.ckpt-100") != NULL);
  deft_saver_string_free(latest);
  /* Restore into a fresh session of a graph built with other initial values. */
  small m2 = small_model("b", 7.0f);
  deft_saver *sv2 = deft_saver_new(m2.g, NULL, 0, 0, NULL);
  ck_assert_msg(deft_saver_restore(sv2, m2.s, buf, st), "%s", deft_status_message(st));
  ck_assert(value(&m2, m2.a, 5) == 1.5);
  ck_assert(value(&m2, m2.b, 3) == -1.5);
  deft_saver_free(sv);
  deft_saver_free(sv2);
  small_free(&m);
  small_free(&m2);
  deft_status_free(st);
}
END_TEST

START_TEST(subset_by_regex_and_max_to_keep) {
  char dir[512], prefix[600];
  snprintf(dir, sizeof dir, "%s/keep", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(prefix, sizeof prefix, "%s/m", dir);
  small m = small_model("a", 2.0f);
  deft_saver *sv = deft_saver_new(m.g, NULL, 0, 2, NULL);
  init(&m);
  deft_status *st = deft_status_new();
  for (int step = 1; step <= 3; step++) ck_assert(deft_saver_save(sv, m.s, prefix, step, NULL, st));
  char f[700];
  snprintf(f, sizeof f, "%s-1.index", prefix);
  ck_assert(!exists(f)); /* beyond max_to_keep: deleted */
  snprintf(f, sizeof f, "%s-2.index", prefix);
  ck_assert(exists(f));
  /* Restore only hidden1 (the chapter's Saver(get_collection(..., scope="hidden[1]"))). */
  small m2 = small_model("b", 9.0f);
  init(&m2);
  deft_output vars[4];
  int n = deft_graph_get_collection(m2.g, DEFT_GLOBAL_VARIABLES, "hidden[1]", vars, 4, st);
  ck_assert_int_eq(n, 1);
  deft_saver *part = deft_saver_new(m2.g, vars, n, 0, NULL);
  snprintf(f, sizeof f, "%s-3", prefix);
  ck_assert_msg(deft_saver_restore(part, m2.s, f, st), "%s", deft_status_message(st));
  ck_assert(value(&m2, m2.a, 0) == 2.0);  /* restored */
  ck_assert(value(&m2, m2.b, 0) == -9.0); /* untouched */
  deft_saver_free(sv);
  deft_saver_free(part);
  small_free(&m);
  small_free(&m2);
  deft_status_free(st);
}
END_TEST

START_TEST(atomic_save) {
  char dir[512], prefix[600];
  snprintf(dir, sizeof dir, "%s/atomic", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(prefix, sizeof prefix, "%s/m", dir);
  small m = small_model("a", 3.0f);
  deft_saver *sv = deft_saver_new(m.g, NULL, 0, 0, NULL);
  init(&m);
  deft_status *st = deft_status_new();
  ck_assert(deft_saver_save(sv, m.s, prefix, -1, NULL, st));
  /* change the values, then fail the next save part-way */
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, (int64_t[]){2, 3}, 2, st);
  ck_assert(deft_session_set_variable(m.s, m.a, t, st));
  deft_tensor_free(t);
  cku_fault_plan f = {2, 0, false, DEFT_IO_CREATE}; /* the third call: the data file's write */
  deft_io_hooks io = {cku_fault, &f};
  deft_session_set_io_hooks(m.s, &io);
  ck_assert(!deft_saver_save(sv, m.s, prefix, -1, NULL, st));
  deft_session_set_io_hooks(m.s, NULL);
  ck_assert(f.fired);
  ck_assert_int_eq(f.failed_call, DEFT_IO_WRITE);
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "m.data-00000-of-00001");
  /* the previous checkpoint is intact */
  small m2 = small_model("b", 0.5f);
  deft_saver *sv2 = deft_saver_new(m2.g, NULL, 0, 0, NULL);
  ck_assert_msg(deft_saver_restore(sv2, m2.s, prefix, st), "%s", deft_status_message(st));
  ck_assert(value(&m2, m2.a, 2) == 3.0);
  deft_saver_free(sv);
  deft_saver_free(sv2);
  small_free(&m);
  small_free(&m2);
  deft_status_free(st);
}
END_TEST

START_TEST(restore_errors) {
  char dir[512], prefix[600];
  snprintf(dir, sizeof dir, "%s/errs", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(prefix, sizeof prefix, "%s/m", dir);
  deft_status *st = deft_status_new();
  small m = small_model("a", 1.0f);
  deft_saver *sv = deft_saver_new(m.g, NULL, 0, 0, NULL);
  /* uninitialized variables cannot be saved */
  ck_assert(!deft_saver_save(sv, m.s, prefix, -1, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "uninitialized", "hidden");
  init(&m);
  ck_assert(deft_saver_save(sv, m.s, prefix, -1, NULL, st));
  /* missing prefix */
  ck_assert(!deft_saver_restore(sv, m.s, "/nonexistent/dir/model", st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent/dir/model");
  /* a checkpoint that lacks a variable */
  deft_graph *g = deft_graph_new();
  deft_op *extra =
      deft_get_variable(g, "other", DEFT_FLOAT, DEFT_SHAPE(2), deft_init_zeros(), true);
  deft_output ev = deft_op_output(extra, 0);
  deft_saver *s2 = deft_saver_new(g, &ev, 1, 0, NULL);
  deft_session *sess = deft_session_new(g, st);
  ck_assert(!deft_saver_restore(s2, sess, prefix, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "other");
  deft_saver_free(s2);
  deft_session_free(sess);
  deft_graph_free(g);
  /* shape mismatch */
  g = deft_graph_new();
  deft_graph_push_variable_scope(g, "hidden1", NULL);
  deft_op *wrong =
      deft_get_variable(g, "kernel", DEFT_FLOAT, DEFT_SHAPE(3, 2), deft_init_zeros(), true);
  deft_graph_pop_variable_scope(g);
  deft_output wv = deft_op_output(wrong, 0);
  s2 = deft_saver_new(g, &wv, 1, 0, NULL);
  sess = deft_session_new(g, st);
  ck_assert(!deft_saver_restore(s2, sess, prefix, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "hidden1/kernel", "[2,3]", "[3,2]");
  deft_saver_free(s2);
  deft_session_free(sess);
  deft_graph_free(g);
  /* dtype mismatch */
  g = deft_graph_new();
  deft_graph_push_variable_scope(g, "hidden2", NULL);
  deft_op *dbl =
      deft_get_variable(g, "kernel", DEFT_DOUBLE, DEFT_SHAPE(4), deft_init_zeros(), true);
  deft_graph_pop_variable_scope(g);
  deft_output dv = deft_op_output(dbl, 0);
  s2 = deft_saver_new(g, &dv, 1, 0, NULL);
  sess = deft_session_new(g, st);
  ck_assert(!deft_saver_restore(s2, sess, prefix, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "hidden2/kernel", "float", "double");
  deft_saver_free(s2);
  deft_session_free(sess);
  deft_graph_free(g);
  /* a corrupted tensor names it */
  char data[700];
  snprintf(data, sizeof data, "%s.data-00000-of-00001", prefix);
  FILE *f = fopen(data, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 2, SEEK_SET);
  fputc(0x55, f);
  fclose(f);
  ck_assert(!deft_saver_restore(sv, m.s, prefix, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "hidden1/kernel");
  /* a non-variable in the var list */
  deft_output c = deft_const_float(m.g, 1.0f, "c");
  ck_assert_ptr_null(deft_saver_new(m.g, &c, 1, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'c:0'", "not a variable");
  ck_assert(deft_graph_ok(m.g)); /* a failed convenience call leaves the graph usable */
  deft_output twice[2] = {deft_op_output(m.a, 0), deft_op_output(m.a, 0)};
  ck_assert_ptr_null(deft_saver_new(m.g, twice, 2, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "listed twice");
  ck_assert(deft_graph_ok(m.g));
  /* an empty selection fails through the status; the graph stays usable */
  deft_graph *empty = deft_graph_new();
  deft_output one = deft_const_float(empty, 1.0f, "one");
  ck_assert_ptr_null(deft_saver_new(empty, NULL, 0, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "no variables");
  ck_assert(deft_graph_ok(empty) && deft_output_ok(one));
  deft_op *w = deft_get_variable(empty, "w", DEFT_FLOAT, DEFT_SHAPE(1), deft_init_zeros(), true);
  deft_saver *ok = deft_saver_new(empty, NULL, 0, 0, st);
  ck_assert_msg(ok && w, "%s", deft_status_message(st));
  deft_saver_free(ok);
  /* a graph that already failed is reported, not built on */
  deft_graph_pop_scope(empty);
  ck_assert(!deft_graph_ok(empty));
  ck_assert_ptr_null(deft_saver_new(empty, NULL, 0, 0, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "unbalanced");
  deft_graph_free(empty);
  deft_saver_free(sv);
  small_free(&m);
  deft_status_free(st);
}
END_TEST

/* The chapter's In[88]: rebuild the gradient-clipping network in code and restore TF's own
 * checkpoint into it; the MNIST test accuracy must match the fixtures' README (0.9608). */
START_TEST(restore_tf_checkpoint_into_code_built_graph) {
  TU_REQUIRE_SHARED(prefix,
                    "tf1/KKeishiro__hands-on-machine-learning/186368e3/my_model_final.ckpt");
  char mnist[4096];
  snprintf(mnist, sizeof mnist, "%s/data/mnist", tu_shared_dir());
  deft_graph *g = deft_graph_new();
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_output y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_dense_options relu = {0};
  relu.activation = "relu";
  deft_graph_push_scope(g, "dnn");
  deft_output h = X;
  const int units[5] = {300, 50, 50, 50, 50};
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof name, "hidden%d", i + 1);
    h = deft_dense(g, h, units[i], &relu, name);
  }
  deft_output logits = deft_dense(g, h, 10, NULL, "outputs");
  deft_graph_pop_scope(g);
  deft_output acc = deft_reduce_mean(
      g, deft_cast(g, deft_in_top_k(g, logits, y, 1, NULL), DEFT_FLOAT, NULL), NULL, 0, false,
      "accuracy");
  deft_saver *sv = deft_saver_new(g, NULL, 0, 0, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(deft_saver_restore(sv, s, prefix, st), "%s", deft_status_message(st));
  deft_tensor *tx = NULL, *ty = NULL;
  ck_assert_msg(deft_mnist_load(mnist, false, NULL, NULL, &tx, &ty, st), "%s",
                deft_status_message(st));
  deft_output feeds[2] = {X, y};
  deft_tensor *vals[2] = {tx, ty}, *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 2, &acc, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert_msg(fabs(deft_tensor_get_double(out, 0) - 0.9608) <= 0.0005, "accuracy %.4f",
                deft_tensor_get_double(out, 0));
  deft_tensor_free(out);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_saver_free(sv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("saver");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, round_trip_and_names);
  tcase_add_test(tc, subset_by_regex_and_max_to_keep);
  tcase_add_test(tc, atomic_save);
  tcase_add_test(tc, restore_errors);
  tcase_add_test(tc, restore_tf_checkpoint_into_code_built_graph);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
