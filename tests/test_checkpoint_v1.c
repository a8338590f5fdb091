/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_checkpoint_v1.c - TF's V1 checkpoints (TF <= 0.12, the tensor-slice table format)
 * through the checkpoint reader, the RestoreSlice and Restore ops, the saver and `deft run
 * --checkpoint`. No real TF-written V1 file is available (../shared/tf1 has none), so the
 * checkpoint comes from tests/gen_v1_checkpoint.py, which writes the format from its facts
 * (SSTable layout, SavedTensorSlices field numbers, OrderedCode slice keys) with its own encoder,
 * and writes each tensor's expected value with NumPy's np.save. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "deft/deft.h"
#include "testutil.h"

static const char *dir(void) {
  static char d[4096];
  static bool made;
  if (!made) {
    snprintf(d, sizeof d, "%s/v1", tu_tmpdir());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    const char *args[] = {d, "corrupt", NULL};
    int rc = tu_python_file(DEFT_SOURCE_DIR "/tests/gen_v1_checkpoint.py", args);
    ck_assert_msg(rc == 0, "tests/gen_v1_checkpoint.py failed (NumPy at /usr/bin/python3 needed)");
    made = true;
  }
  return d;
}

static const char *path_in(const char *name) {
  static char p[4][4400];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir(), name);
  return p[k];
}

/* Asserts a equals b: dtype, shape and every element (bytes for strings). */
static void assert_same(const deft_tensor *a, const deft_tensor *b, const char *what) {
  ck_assert_msg(deft_tensor_dtype(a) == deft_tensor_dtype(b), "%s: dtype %s vs %s", what,
                deft_dtype_name(deft_tensor_dtype(a)), deft_dtype_name(deft_tensor_dtype(b)));
  ck_assert_int_eq(deft_tensor_rank(a), deft_tensor_rank(b));
  for (int i = 0; i < deft_tensor_rank(a); i++)
    ck_assert_int_eq(deft_tensor_dim(a, i), deft_tensor_dim(b, i));
  if (deft_tensor_dtype(a) == DEFT_STRING) {
    for (int64_t i = 0; i < deft_tensor_num_elements(a); i++) {
      size_t la, lb;
      const char *sa = deft_tensor_string(a, i, &la), *sb = deft_tensor_string(b, i, &lb);
      ck_assert_msg(la == lb && (!la || !memcmp(sa, sb, la)), "%s: string %" PRId64 " differs",
                    what, i);
    }
  } else {
    ck_assert_msg(!memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)),
                  "%s: values differ", what);
  }
}

static deft_tensor *expected(const char *name) {
  char file[256];
  snprintf(file, sizeof file, "%s.npy", name);
  for (char *c = file; *c; c++)
    if (*c == '/') *c = '_';
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path_in(file), st);
  ck_assert_msg(t, "%s", deft_status_message(st));
  deft_status_free(st);
  if (!strcmp(name, "flags")) return t; /* |b1 reads as bool */
  return t;
}

static const char *const names[] = {"counts",         "flags", "global_step", "hidden/biases",
                                    "hidden/weights", "scale", "vocab"};
#define NNAMES 7

START_TEST(reader_reads_every_tensor) {
  deft_status *st = deft_status_new();
  deft_checkpoint_reader *r = deft_checkpoint_reader_open(path_in("model.ckpt"), st);
  ck_assert_msg(r, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_checkpoint_reader_num_tensors(r), NNAMES);
  for (int i = 0; i < NNAMES; i++) {
    ck_assert_str_eq(deft_checkpoint_reader_name(r, i), names[i]);
    deft_dtype dt;
    deft_shape sh;
    ck_assert(deft_checkpoint_reader_lookup(r, names[i], &dt, &sh));
    deft_tensor *want = expected(names[i]);
    ck_assert_int_eq(dt, deft_tensor_dtype(want));
    ck_assert_int_eq(sh.rank, deft_tensor_rank(want));
    deft_tensor *got = deft_checkpoint_reader_read(r, names[i], st);
    ck_assert_msg(got, "%s: %s", names[i], deft_status_message(st));
    assert_same(got, want, names[i]);
    deft_tensor_free(got);
    deft_tensor_free(want);
  }
  ck_assert(!deft_checkpoint_reader_lookup(r, "nope", NULL, NULL));
  ck_assert_ptr_null(deft_checkpoint_reader_read(r, "nope", st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "nope");
  deft_checkpoint_reader_free(r);
  deft_status_free(st);
}
END_TEST

/* A RestoreSlice (or Restore) of tensor `name` with dt, from file. */
static deft_output restore_op(deft_graph *g, const char *type, const char *file, const char *name,
                              const char *slice, deft_dtype dt, const char *opname) {
  deft_op_builder *b = deft_op_builder_new(g, type, opname);
  deft_op_builder_add_input(b, deft_const_string(g, file, NULL));
  deft_op_builder_add_input(b, deft_const_string(g, name, NULL));
  if (slice) deft_op_builder_add_input(b, deft_const_string(g, slice, NULL));
  deft_op_builder_set_attr_type(b, "dt", dt);
  deft_op *op = deft_op_builder_finish(b);
  return deft_op_output(op, 0);
}

static deft_tensor *run1(deft_graph *g, deft_output out, deft_status *st) {
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s, "%s", deft_status_message(st));
  deft_tensor *v = NULL;
  deft_session_run(s, NULL, NULL, 0, &out, &v, 1, NULL, 0, st);
  deft_session_free(s);
  return v;
}

START_TEST(restore_slice_op) {
  deft_status *st = deft_status_new();
  for (int i = 0; i < NNAMES; i++) {
    deft_tensor *want = expected(names[i]);
    for (int k = 0; k < 2; k++) {
      deft_graph *g = deft_graph_new();
      deft_output o = restore_op(g, k ? "Restore" : "RestoreSlice", path_in("model.ckpt"), names[i],
                                 k ? NULL : "", deft_tensor_dtype(want), "save/Restore");
      ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
      deft_tensor *got = run1(g, o, st);
      ck_assert_msg(got, "%s: %s", names[i], deft_status_message(st));
      assert_same(got, want, names[i]);
      deft_tensor_free(got);
      deft_graph_free(g);
    }
    deft_tensor_free(want);
  }
  /* a glob matching the one file works */
  deft_graph *g = deft_graph_new();
  char pattern[4200];
  snprintf(pattern, sizeof pattern, "%s/model.ck?t", dir());
  deft_tensor *got =
      run1(g, restore_op(g, "Restore", pattern, "hidden/biases", NULL, DEFT_FLOAT, "r"), st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  ck_assert_float_eq(((float *)deft_tensor_data(got))[1], -1.25f);
  deft_tensor_free(got);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(restore_slice_errors) {
  deft_status *st = deft_status_new();
  struct {
    const char *file, *name, *slice;
    deft_dtype dt;
    deft_code code;
    const char *kw1, *kw2;
  } cases[] = {
      {"model.ckpt", "hidden/weights", "", DEFT_INT32, DEFT_INVALID_ARGUMENT, "float", "int32"},
      {"model.ckpt", "missing", "", DEFT_FLOAT, DEFT_NOT_FOUND, "missing", "model.ckpt"},
      {"model.ckpt", "hidden/weights", "4 3 0,2:-", DEFT_FLOAT, DEFT_UNIMPLEMENTED, "0,2:-",
       "partitioned"},
      {"no_such.ckpt", "x", "", DEFT_FLOAT, DEFT_NOT_FOUND, "no_such.ckpt", "x"},
      {"bad_crc.ckpt", "hidden/weights", "", DEFT_FLOAT, DEFT_DATA_LOSS, "bad_crc.ckpt", "crc"},
      {"overlap.ckpt", "hidden/weights", "", DEFT_FLOAT, DEFT_DATA_LOSS, "overlap",
       "hidden/weights"},
      {"count.ckpt", "hidden/weights", "", DEFT_FLOAT, DEFT_DATA_LOSS, "holds 5 values", "6"},
      {"gap_meta_ok.ckpt", "hidden/weights", "", DEFT_FLOAT, DEFT_DATA_LOSS, "unsaved",
       "element 6"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    deft_graph *g = deft_graph_new();
    deft_output o = restore_op(g, "RestoreSlice", path_in(cases[i].file), cases[i].name,
                               cases[i].slice, cases[i].dt, "save/RestoreSlice_3");
    deft_tensor *got = run1(g, o, st);
    ck_assert_msg(!got, "case %zu restored", i);
    TU_ASSERT_STATUS(st, cases[i].code, "save/RestoreSlice_3", cases[i].kw1, cases[i].kw2);
    deft_graph_free(g);
  }
  /* the reader refuses the corrupt files too, naming them */
  deft_checkpoint_reader *r = deft_checkpoint_reader_open(path_in("bad_crc.ckpt"), st);
  ck_assert_ptr_null(r);
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "bad_crc.ckpt");
  deft_status_free(st);
}
END_TEST

/* A graph of variables with TF 0.12's names; its saver restores them from the V1 file. */
static deft_graph *model(deft_op **w, deft_op **b) {
  deft_graph *g = deft_graph_new();
  *w = deft_variable_new(g, "hidden/weights",
                         deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4, 3), 0, NULL), true);
  *b = deft_variable_new(g, "hidden/biases", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3), 0, NULL),
                         true);
  return g;
}

START_TEST(saver_restores_v1) {
  deft_status *st = deft_status_new();
  deft_op *w, *b;
  deft_graph *g = model(&w, &b);
  deft_saver *sv = deft_saver_new(g, NULL, 0, 0, st);
  ck_assert_msg(sv, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(deft_saver_restore(sv, s, path_in("model.ckpt"), st), "%s",
                deft_status_message(st));
  const char *vn[2] = {"hidden/weights", "hidden/biases"};
  deft_op *vars[2] = {w, b};
  for (int i = 0; i < 2; i++) {
    deft_tensor *got = deft_session_variable_value(s, vars[i], st);
    ck_assert_msg(got, "%s", deft_status_message(st));
    deft_tensor *want = expected(vn[i]);
    assert_same(got, want, vn[i]);
    deft_tensor_free(got);
    deft_tensor_free(want);
  }
  /* a missing file: NOT_FOUND naming it */
  ck_assert(!deft_saver_restore(sv, s, path_in("absent.ckpt"), st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "absent.ckpt");
  /* deft run --checkpoint on the exported meta graph */
  const char *meta = path_in("model.meta");
  ck_assert_msg(deft_saver_export_meta_graph(sv, meta, st), "%s", deft_status_message(st));
  char cmd[16384];
  const char *out = path_in("run_out");
  snprintf(cmd, sizeof cmd,
           "'%s/deft' run '%s' --checkpoint '%s' --fetch hidden/weights --fetch hidden/biases:0 "
           "--out '%s' > '%s/run.txt' 2>&1 && mkdir -p '%s'",
           DEFT_BINARY_DIR, meta, path_in("model.ckpt"), out, dir(), out);
  char mk[4300];
  snprintf(mk, sizeof mk, "mkdir -p '%s'", out);
  ck_assert_int_eq(system(mk), 0);
  int rc = system(cmd);
  ck_assert_msg(rc == 0, "deft run failed: see %s/run.txt", dir());
  char file[4400];
  snprintf(file, sizeof file, "%s/hidden_weights.npy", out);
  deft_tensor *got = deft_npy_read(file, st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  deft_tensor *want = expected("hidden/weights");
  assert_same(got, want, "deft run hidden/weights");
  deft_tensor_free(got);
  deft_tensor_free(want);
  deft_session_free(s);
  deft_saver_free(sv);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("checkpoint_v1");
  TCase *tc = tcase_create("v1");
  tcase_add_test(tc, reader_reads_every_tensor);
  tcase_add_test(tc, restore_slice_op);
  tcase_add_test(tc, restore_slice_errors);
  tcase_add_test(tc, saver_restores_v1);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
