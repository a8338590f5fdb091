/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_session_limits.c - the session options for untrusted graphs and servers (issue
 * 11): the run memory budget (RESOURCE_EXHAUSTED naming the op), cancellation from another
 * thread (CANCELLED), the run time limit (DEADLINE_EXCEEDED), and the file-op confinement: a
 * hostile imported graph's SaveV2 / RestoreV2 / MergeV2Checkpoints cannot read or write outside
 * the allowed directories (direct paths, "..", symlinks), and work inside them. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static deft_tensor *vec(float x, int64_t n) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, &n, 1, NULL);
  float *d = deft_tensor_data(t);
  for (int64_t i = 0; i < n; i++) d[i] = x + (float)i;
  return t;
}

START_TEST(run_memory_budget) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1000), "x");
  deft_output y = deft_square(g, x, "y");
  deft_output z = deft_square(g, y, "z");
  deft_tensor *xv = vec(0.5f, 1000);
  /* y and z need 4000 bytes each (y is still live when z is computed) */
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_run_memory_budget(o, 7999);
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_tensor *out = NULL;
  ck_assert(
      !deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &z, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "Square 'z'", "4000 bytes", "7999 bytes",
                   "4000 already");
  ck_assert_ptr_null(out);
  deft_session_free(s);
  deft_session_options_set_run_memory_budget(o, 8000);
  s = deft_session_new_with_options(g, o, st);
  for (int run = 0; run < 3; run++) { /* later runs reuse the pooled buffers */
    ck_assert_msg(
        deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &z, &out, 1, NULL, 0, st),
        "%s", deft_status_message(st));
    const float *d = deft_tensor_data(out);
    for (int i = 0; i < 1000; i++) {
      float v = 0.5f + (float)i;
      ck_assert_float_eq(d[i], (v * v) * (v * v));
    }
    deft_tensor_free(out);
    out = NULL;
  }
  deft_session_free(s);
  deft_session_options_free(o);
  deft_tensor_free(xv);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* Kernels' scratch memory counts too: Unique of 1000 distinct floats takes a hash table of
 * 8 * (2048 + 1000) = 24384 bytes of scratch, before its outputs (4000 + 4000 bytes). */
START_TEST(run_memory_budget_counts_scratch) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1000), "x");
  deft_op *u = deft_unique(g, x, DEFT_INT32, "u");
  deft_output fetch[2] = {deft_op_output(u, 0), deft_op_output(u, 1)};
  deft_tensor *xv = vec(0.5f, 1000);
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_run_memory_budget(o, 24383);
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_tensor *out[2] = {NULL, NULL};
  ck_assert(
      !deft_session_run(s, &x, (const deft_tensor *const *)&xv, 1, fetch, out, 2, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "Unique 'u'", "scratch memory", "24384 bytes",
                   "24383 bytes");
  deft_session_free(s);
  deft_session_options_set_run_memory_budget(o, 24384 + 8000);
  s = deft_session_new_with_options(g, o, st);
  for (int run = 0; run < 3; run++) { /* the scratch is kept: later runs do not count it */
    ck_assert_msg(
        deft_session_run(s, &x, (const deft_tensor *const *)&xv, 1, fetch, out, 2, NULL, 0, st),
        "%s", deft_status_message(st));
    const float *y = deft_tensor_data(out[0]);
    const int32_t *idx = deft_tensor_data(out[1]);
    ck_assert_int_eq(deft_tensor_num_elements(out[0]), 1000);
    for (int i = 0; i < 1000; i++) {
      ck_assert_float_eq(y[i], 0.5f + (float)i);
      ck_assert_int_eq(idx[i], i);
    }
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
  }
  deft_session_free(s);
  deft_session_options_free(o);
  deft_tensor_free(xv);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A chain of n Squares of a [256] placeholder. */
static deft_graph *chain(int n, deft_output *x, deft_output *y) {
  deft_graph *g = deft_graph_new();
  *x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(256), "x");
  *y = *x;
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "s%d", i);
    *y = deft_sqrt(g, deft_square(g, *y, name), NULL);
  }
  return g;
}

typedef struct canceller {
  deft_session *s;
  atomic_bool started;
} canceller;

static void *cancel_thread(void *arg) {
  canceller *c = arg;
  while (!atomic_load(&c->started)) sched_yield();
  deft_session_cancel(c->s);
  return NULL;
}

START_TEST(cancel_from_another_thread) {
  deft_status *st = deft_status_new();
  deft_output x, y;
  deft_graph *g = chain(200, &x, &y);
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = vec(1.0f, 256), *out = NULL;
  /* cancelled before it starts: the next run stops at its first op; the one after runs */
  deft_session_cancel(s);
  ck_assert(
      !deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_CANCELLED, "cancelled");
  ck_assert_ptr_null(out);
  ck_assert(deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st));
  ck_assert_float_eq(((const float *)deft_tensor_data(out))[3], 4.0f);
  deft_tensor_free(out);
  /* from another thread while runs go on: one of them returns CANCELLED */
  canceller c = {s, false};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, cancel_thread, &c), 0);
  bool cancelled = false;
  for (int i = 0; i < 100000 && !cancelled; i++) {
    out = NULL;
    bool ok =
        deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st);
    atomic_store(&c.started, true);
    if (!ok) {
      TU_ASSERT_STATUS(st, DEFT_CANCELLED, "cancelled");
      cancelled = true;
    }
    deft_tensor_free(out);
  }
  pthread_join(th, NULL);
  ck_assert(cancelled);
  deft_tensor_free(xv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(run_time_limit) {
  deft_status *st = deft_status_new();
  deft_output x, y;
  deft_graph *g = chain(2000, &x, &y);
  deft_tensor *xv = vec(1.0f, 256), *out = NULL;
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_max_run_seconds(o, 1e-6); /* 4000 ops take far longer than 1 us */
  deft_session *s = deft_session_new_with_options(g, o, st);
  ck_assert(
      !deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_DEADLINE_EXCEEDED, "time limit");
  deft_session_free(s);
  deft_session_options_set_max_run_seconds(o, 3600);
  s = deft_session_new_with_options(g, o, st);
  ck_assert_msg(
      deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st), "%s",
      deft_status_message(st));
  deft_tensor_free(out);
  deft_session_free(s);
  deft_session_options_free(o);
  deft_tensor_free(xv);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- confinement ---- */

/* A hostile graph: the prefixes come from (fed) Consts. */
static const char hostile_graph[] =
    "node { name: 'p' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { }\n"
    "    string_val: 'x' } } } }\n"
    "node { name: 'names' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 } }\n"
    "    string_val: 'v' } } } }\n"
    "node { name: 'slices' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 } }\n"
    "    string_val: '' } } } }\n"
    "node { name: 'v' op: 'Const' attr { key: 'dtype' value { type: DT_FLOAT } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_FLOAT tensor_shape { }\n"
    "    float_val: 4.5 } } } }\n"
    "node { name: 'save' op: 'SaveV2' input: 'p' input: 'names' input: 'slices' input: 'v'\n"
    "  attr { key: 'dtypes' value { list { type: DT_FLOAT } } } }\n"
    "node { name: 'restore' op: 'RestoreV2' input: 'p' input: 'names' input: 'slices'\n"
    "  attr { key: 'dtypes' value { list { type: DT_FLOAT } } } }\n"
    "node { name: 'srcs' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 } }\n"
    "    string_val: 'x' } } } }\n"
    "node { name: 'merge' op: 'MergeV2Checkpoints' input: 'srcs' input: 'p'\n"
    "  attr { key: 'delete_old_dirs' value { b: false } } }\n"
    "versions { producer: 26 }\n";

static bool exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

/* Runs op `name` of g in s with p fed `prefix` (and srcs fed `src` when not NULL); fetches
 * restore's output when name is "restore". */
static bool run_with(deft_session *s, deft_graph *g, const char *name, const char *prefix,
                     const char *src, float *restored, deft_status *st) {
  deft_output feeds[2] = {deft_graph_tensor_by_name(g, "p:0", st),
                          deft_graph_tensor_by_name(g, "srcs:0", st)};
  deft_tensor *fv[2] = {deft_tensor_scalar_string(prefix), NULL};
  int nf = 1;
  if (src) {
    int64_t one = 1;
    fv[1] = deft_tensor_new(DEFT_STRING, &one, 1, st);
    ck_assert(deft_tensor_set_string(fv[1], 0, src, strlen(src), st));
    nf = 2;
  }
  deft_op *op = deft_graph_op_by_name(g, name);
  bool ok;
  if (!strcmp(name, "restore")) {
    deft_output r = deft_op_output(op, 0);
    deft_tensor *out = NULL;
    ok = deft_session_run(s, feeds, tu_feeds(fv), nf, &r, &out, 1, NULL, 0, st);
    if (ok) *restored = *(const float *)deft_tensor_data(out);
    deft_tensor_free(out);
  } else {
    ok = deft_session_run(s, feeds, tu_feeds(fv), nf, NULL, NULL, 0, &op, 1, st);
  }
  deft_tensor_free(fv[0]);
  deft_tensor_free(fv[1]);
  return ok;
}

START_TEST(hostile_graph_confined) {
  deft_status *st = deft_status_new();
  char base[512], allowed[600], outside[600], path[1024], path2[1024];
  snprintf(base, sizeof base, "%s/confine", tu_tmpdir());
  snprintf(allowed, sizeof allowed, "%s/allowed", base);
  snprintf(outside, sizeof outside, "%s/outside", base);
  ck_assert_int_eq(mkdir(base, 0755), 0);
  ck_assert_int_eq(mkdir(allowed, 0755), 0);
  ck_assert_int_eq(mkdir(outside, 0755), 0);
  snprintf(path, sizeof path, "%s/graph.pbtxt", allowed);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(hostile_graph, f);
  fclose(f);
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  /* an unconfined session (the default) writes a checkpoint outside, for the restores below */
  deft_session *free_s = deft_session_new(g, st);
  snprintf(path, sizeof path, "%s/theirs", outside);
  ck_assert_msg(run_with(free_s, g, "save", path, NULL, NULL, st), "%s", deft_status_message(st));
  deft_session_free(free_s);
  deft_session_options *o = deft_session_options_new();
  ck_assert(!deft_session_options_allow_dir(o, "/no/such/dir"));
  ck_assert(deft_session_options_allow_dir(o, allowed));
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  float got = 0;
  /* inside: save, restore and merge work */
  snprintf(path, sizeof path, "%s/mine", allowed);
  ck_assert_msg(run_with(s, g, "save", path, NULL, NULL, st), "%s", deft_status_message(st));
  ck_assert(run_with(s, g, "restore", path, NULL, &got, st));
  ck_assert_float_eq(got, 4.5f);
  snprintf(path2, sizeof path2, "%s/merged", allowed);
  ck_assert_msg(run_with(s, g, "merge", path2, path, NULL, st), "%s", deft_status_message(st));
  snprintf(path2, sizeof path2, "%s/merged.index", allowed);
  ck_assert(exists(path2));
  /* outside: writes, reads and moves are refused, and nothing appears outside */
  snprintf(path, sizeof path, "%s/x", outside);
  ck_assert(!run_with(s, g, "save", path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside", path);
  snprintf(path, sizeof path, "%s/../outside/y", allowed);
  ck_assert(!run_with(s, g, "save", path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside");
  snprintf(path, sizeof path, "%s/link", allowed);
  ck_assert_int_eq(symlink(outside, path), 0);
  snprintf(path, sizeof path, "%s/link/z", allowed);
  ck_assert(!run_with(s, g, "save", path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside");
  snprintf(path, sizeof path, "%s/theirs", outside);
  ck_assert(!run_with(s, g, "restore", path, NULL, &got, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside", path);
  snprintf(path, sizeof path, "%s/link/theirs", allowed);
  ck_assert(!run_with(s, g, "restore", path, NULL, &got, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside");
  /* merge: a source outside (moved in) and a destination outside (moved out) */
  snprintf(path, sizeof path, "%s/stolen", allowed);
  snprintf(path2, sizeof path2, "%s/theirs", outside);
  ck_assert(!run_with(s, g, "merge", path, path2, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside");
  snprintf(path, sizeof path, "%s/exfil", outside);
  snprintf(path2, sizeof path2, "%s/merged", allowed);
  ck_assert(!run_with(s, g, "merge", path, path2, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_PERMISSION_DENIED, "outside");
  snprintf(path2, sizeof path2, "%s/merged.index", allowed);
  ck_assert(exists(path2));
  /* the outside directory holds only the unconfined session's checkpoint */
  snprintf(path, sizeof path, "%s/theirs.index", outside);
  ck_assert(exists(path));
  snprintf(path, sizeof path, "ls %s | wc -l | grep -qx 2", outside);
  ck_assert_msg(system(path) == 0, "files appeared in %s", outside);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *make(void) {
  Suite *s = suite_create("session_limits");
  TCase *c = tcase_create("core");
  tcase_add_test(c, run_memory_budget);
  tcase_add_test(c, run_memory_budget_counts_scratch);
  tcase_add_test(c, cancel_from_another_thread);
  tcase_add_test(c, run_time_limit);
  tcase_add_test(c, hostile_graph_confined);
  suite_add_tcase(s, c);
  return s;
}

int main(void) { return tu_run_suite(make()); }
