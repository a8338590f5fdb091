/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_io_ops.c - the saver's helper kernels run as graph ops: MergeV2Checkpoints (one
 * source renamed into place; several sources merged into one checkpoint; the errors),
 * ShardedFilename and StringJoin. Checkpoints are written and read back with proto/bundle.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/bundle.h"
#include "base/tensor_internal.h"
#include "testutil.h"

static deft_status *s;

static void setup(void) { s = deft_status_new(); }
static void teardown(void) { deft_status_free(s); }

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* A fresh directory under the test's temporary directory. */
static const char *fresh(const char *name) {
  static char dirs[8][512];
  static int next;
  char *d = dirs[next++ % 8];
  snprintf(d, 512, "%s/%s", tu_tmpdir(), name);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(mkdir(d, 0700), 0);
  return d;
}

/* Writes a checkpoint at prefix holding float vectors: key i = {base + i, base + i + 0.5}. */
static void write_ckpt(const char *prefix, const char *const *keys, int n, float base) {
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert_ptr_nonnull(w);
  for (int i = 0; i < n; i++) {
    float v[2] = {base + (float)i, base + (float)i + 0.5f};
    deft_tensor *t = deft_tensor_from_data(DEFT_FLOAT, (const int64_t[]){2}, 1, v, sizeof v, s);
    ck_assert(deft_bundle_writer_add(w, keys[i], t, s));
    deft_tensor_free(t);
  }
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
}

/* Reads key from the checkpoint at prefix and checks it is {want, want + 0.5}. */
static void expect_value(deft_bundle_reader *r, const char *key, float want) {
  deft_tensor *t = deft_bundle_reader_read(r, key, s);
  ck_assert_msg(t != NULL, "%s: %s", key, deft_status_message(s));
  ck_assert_int_eq(t->n, 2);
  ck_assert(deft_tensor_f32(t)[0] == want && deft_tensor_f32(t)[1] == want + 0.5f);
  deft_tensor_free(t);
}

/* Runs MergeV2Checkpoints(srcs, dest) with delete_old_dirs = del; returns whether it succeeded
 * (status in s). */
static bool merge(const char *const *srcs, int n, const char *dest, bool del) {
  deft_graph *g = deft_graph_new();
  deft_tensor *v = deft_tensor_new(DEFT_STRING, (const int64_t[]){n}, 1, s);
  for (int i = 0; i < n; i++) ck_assert(deft_tensor_set_string(v, i, srcs[i], strlen(srcs[i]), s));
  deft_tensor *d = deft_tensor_scalar_string(dest);
  deft_op_builder *b = deft_op_builder_new(g, "MergeV2Checkpoints", "merge");
  deft_op_builder_add_input(b, deft_const(g, v, "prefixes"));
  deft_op_builder_add_input(b, deft_const(g, d, "dest"));
  deft_op_builder_set_attr_bool(b, "delete_old_dirs", del);
  deft_op *op = deft_op_builder_finish(b);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *sess = deft_session_new(g, s);
  bool ok = deft_session_run(sess, NULL, NULL, 0, NULL, NULL, 0, &op, 1, s);
  deft_session_free(sess);
  deft_tensor_free(v), deft_tensor_free(d);
  deft_graph_free(g);
  return ok;
}

START_TEST(merge_one_source_renames) {
  const char *src_dir = fresh("one_src"), *dst_dir = fresh("one_dst");
  char src[600], dest[600], path[700];
  snprintf(src, sizeof src, "%s/part-00000", src_dir);
  snprintf(dest, sizeof dest, "%s/model.ckpt", dst_dir);
  const char *keys[2] = {"dense/bias", "dense/kernel"};
  write_ckpt(src, keys, 2, 1.0f);
  ck_assert_msg(merge((const char *[]){src}, 1, dest, true), "%s", deft_status_message(s));
  deft_bundle_reader *r = deft_bundle_reader_open(dest, s);
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 2);
  expect_value(r, "dense/bias", 1.0f);
  expect_value(r, "dense/kernel", 2.0f);
  deft_bundle_reader_free(r);
  snprintf(path, sizeof path, "%s.index", src);
  ck_assert(!exists(path));
  ck_assert(!exists(src_dir)); /* delete_old_dirs: the emptied directory is gone */
  /* delete_old_dirs = false keeps the (empty) source directory. */
  src_dir = fresh("one_src_keep");
  snprintf(src, sizeof src, "%s/part-00000", src_dir);
  write_ckpt(src, keys, 2, 5.0f);
  ck_assert(merge((const char *[]){src}, 1, dest, false));
  ck_assert(exists(src_dir));
  r = deft_bundle_reader_open(dest, s);
  expect_value(r, "dense/kernel", 6.0f);
  deft_bundle_reader_free(r);
}
END_TEST

START_TEST(merge_several_sources) {
  const char *a_dir = fresh("many_a"), *b_dir = fresh("many_b"), *c_dir = fresh("many_c");
  const char *dst_dir = fresh("many_dst");
  char a[600], b[600], c[600], dest[600], path[700];
  snprintf(a, sizeof a, "%s/part-00000", a_dir);
  snprintf(b, sizeof b, "%s/part-00001", b_dir);
  snprintf(c, sizeof c, "%s/part-00002", c_dir);
  snprintf(dest, sizeof dest, "%s/model.ckpt-7", dst_dir);
  write_ckpt(a, (const char *[]){"w1", "zz"}, 2, 10.0f);
  write_ckpt(b, (const char *[]){"b1"}, 1, 20.0f);
  write_ckpt(c, (const char *[]){"global_step", "a/b"}, 2, 30.0f);
  ck_assert_msg(merge((const char *[]){a, b, c}, 3, dest, true), "%s", deft_status_message(s));
  deft_bundle_reader *r = deft_bundle_reader_open(dest, s);
  ck_assert_msg(r != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 5);
  const char *order[5] = {"a/b", "b1", "global_step", "w1", "zz"}; /* bytewise key order */
  for (int i = 0; i < 5; i++) ck_assert_str_eq(deft_bundle_reader_key(r, i), order[i]);
  expect_value(r, "w1", 10.0f);
  expect_value(r, "zz", 11.0f);
  expect_value(r, "b1", 20.0f);
  expect_value(r, "global_step", 30.0f);
  expect_value(r, "a/b", 31.0f);
  deft_bundle_reader_free(r);
  const char *srcs[3] = {a, b, c}, *dirs[3] = {a_dir, b_dir, c_dir};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s.index", srcs[i]);
    ck_assert_msg(!exists(path), "%s was left behind", path);
    snprintf(path, sizeof path, "%s.data-00000-of-00001", srcs[i]);
    ck_assert_msg(!exists(path), "%s was left behind", path);
    ck_assert(!exists(dirs[i]));
  }
}
END_TEST

START_TEST(merge_errors) {
  const char *a_dir = fresh("err_a"), *b_dir = fresh("err_b"), *dst_dir = fresh("err_dst");
  char a[600], b[600], dest[600], missing[600], path[700];
  snprintf(a, sizeof a, "%s/part-00000", a_dir);
  snprintf(b, sizeof b, "%s/part-00001", b_dir);
  snprintf(dest, sizeof dest, "%s/model.ckpt", dst_dir);
  snprintf(missing, sizeof missing, "%s/nothing-here", b_dir);
  write_ckpt(a, (const char *[]){"x", "shared"}, 2, 1.0f);
  write_ckpt(b, (const char *[]){"shared"}, 1, 2.0f);
  /* A key in two sources: nothing is written, nothing removed. */
  ck_assert(!merge((const char *[]){a, b}, 2, dest, true));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "MergeV2Checkpoints 'merge'", "'shared'",
                   "two of the checkpoints", a, b);
  snprintf(path, sizeof path, "%s.index", dest);
  ck_assert(!exists(path));
  snprintf(path, sizeof path, "%s.index", a);
  ck_assert(exists(path));
  snprintf(path, sizeof path, "%s.index", b);
  ck_assert(exists(path));
  /* A missing source, among several and alone. */
  ck_assert(!merge((const char *[]){a, missing}, 2, dest, true));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "source 1", "nothing-here");
  ck_assert(!merge((const char *[]){missing}, 1, dest, true));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "nothing-here", "cannot move");
  snprintf(path, sizeof path, "%s.index", dest);
  ck_assert(!exists(path));
  /* The destination among the sources would delete what was just written. */
  ck_assert(!merge((const char *[]){b, a}, 2, a, true));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "source 1", "destination prefix");
  /* No sources at all. */
  ck_assert(!merge(NULL, 0, dest, true));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "checkpoint_prefixes", "0 elements");
  /* A damaged source: its error names the file, and nothing is written. */
  snprintf(path, sizeof path, "%s.index", a);
  FILE *f = fopen(path, "r+b");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 3, SEEK_SET), 0);
  ck_assert_int_eq(fputc(0xff, f) != EOF, 1);
  fclose(f);
  ck_assert(!merge((const char *[]){b, a}, 2, dest, true));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "source 1", "part-00000.index");
  snprintf(path, sizeof path, "%s.index", dest);
  ck_assert(!exists(path));
}
END_TEST

/* Runs op (built by the caller) and returns its string output. */
static deft_tensor *run_string(deft_graph *g, deft_output out) {
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *sess = deft_session_new(g, s);
  deft_tensor *v = NULL;
  ck_assert_msg(deft_session_run(sess, NULL, NULL, 0, &out, &v, 1, NULL, 0, s), "%s",
                deft_status_message(s));
  deft_session_free(sess);
  return v;
}

START_TEST(sharded_filename_and_string_join) {
  deft_graph *g = deft_graph_new();
  deft_tensor *base = deft_tensor_scalar_string("/tmp/x/model.ckpt_temp/part");
  deft_tensor *shard = deft_tensor_scalar_int32(2), *num = deft_tensor_scalar_int32(15);
  deft_op_builder *b = deft_op_builder_new(g, "ShardedFilename", "sf");
  deft_op_builder_add_input(b, deft_const(g, base, "base"));
  deft_op_builder_add_input(b, deft_const(g, shard, "shard"));
  deft_op_builder_add_input(b, deft_const(g, num, "num"));
  deft_op *sf = deft_op_builder_finish(b);
  deft_tensor *v = run_string(g, deft_op_output(sf, 0));
  ck_assert_str_eq(deft_tensor_string(v, 0, NULL), "/tmp/x/model.ckpt_temp/part-00002-of-00015");
  deft_tensor_free(v);
  /* StringJoin: a scalar broadcast against a vector, with a separator. */
  deft_tensor *pre = deft_tensor_scalar_string("ckpt");
  deft_tensor *vec = deft_tensor_new(DEFT_STRING, (const int64_t[]){2}, 1, s);
  deft_tensor_set_string(vec, 0, "a", 1, s);
  deft_tensor_set_string(vec, 1, "bc", 2, s);
  deft_output ins[2] = {deft_const(g, pre, "pre"), deft_const(g, vec, "vec")};
  b = deft_op_builder_new(g, "StringJoin", "join");
  deft_op_builder_add_input_list(b, ins, 2);
  deft_op_builder_set_attr_string(b, "separator", "_", 1);
  deft_op *join = deft_op_builder_finish(b);
  v = run_string(g, deft_op_output(join, 0));
  ck_assert_int_eq(v->n, 2);
  ck_assert_str_eq(deft_tensor_string(v, 0, NULL), "ckpt_a");
  ck_assert_str_eq(deft_tensor_string(v, 1, NULL), "ckpt_bc");
  deft_tensor_free(v);
  deft_tensor_free(base), deft_tensor_free(shard), deft_tensor_free(num);
  deft_tensor_free(pre), deft_tensor_free(vec);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *su = suite_create("io_ops");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, merge_one_source_renames);
  tcase_add_test(tc, merge_several_sources);
  tcase_add_test(tc, merge_errors);
  tcase_add_test(tc, sharded_filename_and_string_join);
  suite_add_tcase(su, tc);
  return su;
}

int main(void) { return tu_run_suite(suite()); }
