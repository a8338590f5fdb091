/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_cli_confine.c - `deft run` confines a graph's file ops by default: a hostile graph
 * (text GraphDefs written here) whose SaveV2, RestoreV2 and MergeV2Checkpoints name paths outside
 * the model's and the checkpoint's directories gets PERMISSION_DENIED naming the path, and
 * nothing appears outside; --allow-dir widens the confinement; the checkpoint's directory is
 * allowed; a file-reading op deft does not have (ReadFile) is refused before anything runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "cli_testutil.h"
#include "testutil.h"

typedef cu_result result;

/* Runs the deft program with args. */
static result run(const char *const *args) { return cu_run_program(cu_deft_program(), args); }

#define ASSERT_HAS(text, needle) \
  ck_assert_msg(strstr((text), (needle)) != NULL, "output lacks \"%s\":\n%.2000s", (needle), (text))

static bool exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

static int count_files(const char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  int n = -1;
  ck_assert_int_eq(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

/* A text GraphDef at path: SaveV2 'save' and RestoreV2 'restore' on prefix `prefix`,
 * MergeV2Checkpoints 'merge' of `merge_src` into `prefix`, and TF's default saver names
 * (save/Const, save/control_dependency, save/restore_all: a NoOp) so that --checkpoint can
 * restore through them. */
static void write_graph(const char *path, const char *prefix, const char *merge_src) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "node { name: 'p' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { }\n"
          "    string_val: '%s' } } } }\n"
          "node { name: 'srcs' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 }"
          " }\n    string_val: '%s' } } } }\n"
          "node { name: 'names' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 }"
          " }\n    string_val: 'v' } } } }\n"
          "node { name: 'slices' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { dim { size: 1 }"
          " }\n    string_val: '' } } } }\n"
          "node { name: 'v' op: 'Const' attr { key: 'dtype' value { type: DT_FLOAT } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_FLOAT tensor_shape { }\n"
          "    float_val: 4.5 } } } }\n"
          "node { name: 'save' op: 'SaveV2' input: 'p' input: 'names' input: 'slices' input: 'v'\n"
          "  attr { key: 'dtypes' value { list { type: DT_FLOAT } } } }\n"
          "node { name: 'restore' op: 'RestoreV2' input: 'p' input: 'names' input: 'slices'\n"
          "  attr { key: 'dtypes' value { list { type: DT_FLOAT } } } }\n"
          "node { name: 'merge' op: 'MergeV2Checkpoints' input: 'srcs' input: 'p'\n"
          "  attr { key: 'delete_old_dirs' value { b: false } } }\n"
          "node { name: 'save/Const' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { }\n"
          "    string_val: 'model' } } } }\n"
          "node { name: 'save/control_dependency' op: 'Identity' input: 'save/Const'\n"
          "  attr { key: 'T' value { type: DT_STRING } } }\n"
          "node { name: 'save/restore_all' op: 'NoOp' }\n"
          "versions { producer: 26 }\n",
          prefix, merge_src);
  fclose(f);
}

START_TEST(run_confines_file_ops) {
  char base[512], model[600], outside[600], ck[600], g[700], p[800], p2[800];
  snprintf(base, sizeof base, "%s/cliconf", tu_tmpdir());
  snprintf(model, sizeof model, "%s/model", base);
  snprintf(outside, sizeof outside, "%s/outside", base);
  snprintf(ck, sizeof ck, "%s/ck", base);
  ck_assert_int_eq(mkdir(base, 0755), 0);
  ck_assert_int_eq(mkdir(model, 0755), 0);
  ck_assert_int_eq(mkdir(outside, 0755), 0);
  ck_assert_int_eq(mkdir(ck, 0755), 0);

  /* SaveV2 outside: refused by default, naming the path; nothing written outside */
  snprintf(p, sizeof p, "%s/x", outside);
  snprintf(g, sizeof g, "%s/save_out.pbtxt", model);
  write_graph(g, p, "unused");
  result r = run((const char *[]){"run", g, "--target", "save", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  ASSERT_HAS(r.err, p);
  ck_assert_int_eq(count_files(outside), 0);
  cu_result_free(&r);
  /* a path that climbs out of the model's directory, and a symlink out of it */
  snprintf(p, sizeof p, "%s/../outside/y", model);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--target", "save", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  cu_result_free(&r);
  snprintf(p, sizeof p, "%s/link", model);
  ck_assert_int_eq(symlink(outside, p), 0);
  snprintf(p, sizeof p, "%s/link/z", model);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--target", "save", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  ck_assert_int_eq(count_files(outside), 0);
  cu_result_free(&r);

  /* --allow-dir widens it: the same save now writes outside */
  snprintf(p, sizeof p, "%s/x", outside);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--target", "save", "--allow-dir", outside, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  cu_result_free(&r);
  snprintf(p2, sizeof p2, "%s/x.index", outside);
  ck_assert(exists(p2));
  int n_outside = count_files(outside);

  /* RestoreV2 of that checkpoint: refused by default, read with --allow-dir */
  snprintf(g, sizeof g, "%s/restore_out.pbtxt", model);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--fetch", "restore:0", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  ASSERT_HAS(r.err, p);
  ck_assert(strstr(r.out, "4.5") == NULL);
  cu_result_free(&r);
  r = run((const char *[]){"run", g, "--fetch", "restore:0", "--allow-dir", outside, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "4.5");
  cu_result_free(&r);

  /* MergeV2Checkpoints: moving a checkpoint inside to a prefix outside is refused */
  snprintf(p2, sizeof p2, "%s/mine", model);
  snprintf(g, sizeof g, "%s/save_in.pbtxt", model);
  write_graph(g, p2, "unused");
  r = run((const char *[]){"run", g, "--target", "save", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err); /* inside the model's directory */
  cu_result_free(&r);
  snprintf(p, sizeof p, "%s/exfil", outside);
  snprintf(g, sizeof g, "%s/merge_out.pbtxt", model);
  write_graph(g, p, p2);
  r = run((const char *[]){"run", g, "--target", "merge", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  cu_result_free(&r);
  snprintf(p, sizeof p, "%s/mine.index", model);
  ck_assert(exists(p));
  ck_assert_int_eq(count_files(outside), n_outside);

  /* the checkpoint's directory is allowed: with --checkpoint ck/model, a save into ck works;
   * without it, the same graph is refused */
  snprintf(p, sizeof p, "%s/model", ck);
  snprintf(g, sizeof g, "%s/save_ck.pbtxt", model);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--target", "save", "--allow-dir", ck, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err); /* a checkpoint to restore from */
  cu_result_free(&r);
  snprintf(p, sizeof p, "%s/evil", ck);
  write_graph(g, p, "unused");
  r = run((const char *[]){"run", g, "--target", "save", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "PERMISSION_DENIED");
  cu_result_free(&r);
  snprintf(p2, sizeof p2, "%s/evil.index", ck);
  ck_assert(!exists(p2));
  snprintf(p2, sizeof p2, "%s/model", ck);
  r = run((const char *[]){"run", g, "--checkpoint", p2, "--target", "save", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  cu_result_free(&r);
  snprintf(p2, sizeof p2, "%s/evil.index", ck);
  ck_assert(exists(p2));

  /* ReadFile (TF's file-reading op) is not one deft runs: refused before anything runs */
  snprintf(g, sizeof g, "%s/read.pbtxt", model);
  FILE *f = fopen(g, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "node { name: 'fn' op: 'Const' attr { key: 'dtype' value { type: DT_STRING } }\n"
          "  attr { key: 'value' value { tensor { dtype: DT_STRING tensor_shape { }\n"
          "    string_val: '/etc/passwd' } } } }\n"
          "node { name: 'read' op: 'ReadFile' input: 'fn' }\n"
          "versions { producer: 26 }\n");
  fclose(f);
  r = run((const char *[]){"run", g, "--fetch", "read:0", NULL});
  ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.err, "ReadFile");
  ck_assert(strstr(r.out, "root") == NULL);
  cu_result_free(&r);
}
END_TEST

static Suite *make(void) {
  Suite *s = suite_create("cli_confine");
  TCase *c = tcase_create("core");
  tcase_add_test(c, run_confines_file_ops);
  suite_add_tcase(s, c);
  return s;
}

int main(void) { return tu_run_suite(make()); }
