/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_checkpoint_state.c - the `checkpoint` state file: TF's exact bytes, escapes and
 * the text-format variants TF accepts, corrupt files reported with byte offsets, and
 * deft_latest_checkpoint, also on a real TF checkpoint directory in ../shared/tf1. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint_testutil.h"
#include "base/alloc.h"
#include "proto/bundle.h"
#include "testutil.h"

/* ---- the `checkpoint` state file ---- */

START_TEST(state_write_exact_and_read_back) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("state"));
  deft_status *s = deft_status_new();
  const char *all[] = {"model.ckpt"};
  ck_assert(deft_checkpoint_state_write(dir, "model.ckpt", all, 1, s));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  size_t len;
  unsigned char *b = cku_read_bytes(path, &len);
  static const char tf110[] = "model_checkpoint_path: \"model.ckpt\"\n"
                              "all_model_checkpoint_paths: \"model.ckpt\"\n";
  ck_assert_int_eq(len, 77); /* TF_FORMATS 4.7 */
  ck_assert_mem_eq(b, tf110, 77);
  free(b);
  char *model, **paths;
  int n;
  ck_assert(deft_checkpoint_state_read(dir, &model, &paths, &n, s));
  char want[1200];
  snprintf(want, sizeof want, "%s/model.ckpt", dir); /* relative: joined onto dir */
  ck_assert_str_eq(model, want);
  ck_assert_int_eq(n, 1);
  ck_assert_str_eq(paths[0], want);
  deft_checkpoint_state_free(model, paths, n);

  /* escapes, absolute paths, several entries */
  const char *odd[] = {"/abs/a\"b", "rel\\x", "new\nline", "caf\xc3\xa9\t'q'"};
  ck_assert(deft_checkpoint_state_write(dir, odd[3], odd, 4, s));
  b = cku_read_bytes(path, &len);
  b = realloc(b, len + 1);
  b[len] = 0;
  ck_assert_ptr_nonnull(strstr((char *)b, "\"/abs/a\\\"b\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"rel\\\\x\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"new\\nline\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"caf\\303\\251\\t\\'q\\'\""));
  free(b);
  ck_assert(deft_checkpoint_state_read(dir, &model, &paths, &n, s));
  ck_assert_int_eq(n, 4);
  ck_assert_str_eq(paths[0], odd[0]);
  for (int i = 1; i < 4; i++) {
    snprintf(want, sizeof want, "%s/%s", dir, odd[i]);
    ck_assert_str_eq(paths[i], want);
  }
  ck_assert_str_eq(model, paths[3]);
  deft_checkpoint_state_free(model, paths, n);
  ck_assert_int_eq(cku_count_temp_files(dir), 0);

  /* an injected write failure leaves the previous state file alone */
  for (int k = 0; k < 3; k++) { /* the create, the write, the fsync */
    cku_fault_plan f = {k, 0, false, DEFT_IO_CREATE};
    deft_io_hooks io = {cku_fault, &f};
    ck_assert(!deft_checkpoint_state_write_io(dir, "other", NULL, 0, &io, s));
    ck_assert(f.fired);
    ck_assert_int_eq(f.failed_call, k == 0   ? DEFT_IO_CREATE
                                    : k == 1 ? DEFT_IO_WRITE
                                             : DEFT_IO_FSYNC);
    /* ENOSPC is RESOURCE_EXHAUSTED, EIO DATA_LOSS (deft_code_from_errno) */
    TU_ASSERT_STATUS(s, k == 1 ? DEFT_RESOURCE_EXHAUSTED : DEFT_DATA_LOSS, "checkpoint");
  }
  ck_assert_int_eq(cku_count_temp_files(dir), 0);
  ck_assert(deft_checkpoint_state_read(dir, &model, NULL, NULL, s));
  ck_assert_str_eq(model, want);
  deft_free(model);
  ck_assert(!deft_checkpoint_state_write(dir, NULL, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "missing");
  deft_status_free(s);
}
END_TEST

START_TEST(state_read_variants) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("statevar"));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  static const char text[] =
      "# a comment\n"
      "model_checkpoint_path: '/m/ckpt-2'\n"
      "all_model_checkpoint_paths: \"/m/ck\" \"pt-1\"\n"  /* adjacent strings concatenate */
      "all_model_checkpoint_paths: \"/m/\\x41\\102\\?\"\n"
      "all_model_checkpoint_timestamps: 1571234567.123\n"
      "all_model_checkpoint_timestamps: [1571234568, 1e9]\n"
      "last_preserved_timestamp: 1571234500.5\n"
      "all_model_checkpoint_paths: [ \"/l1\", '/l2' ]\n";
  cku_write_bytes(path, text, sizeof text - 1);
  deft_status *s = deft_status_new();
  char *model, **paths;
  int n;
  ck_assert_msg(deft_checkpoint_state_read(dir, &model, &paths, &n, s), "%s",
                deft_status_message(s));
  ck_assert_str_eq(model, "/m/ckpt-2");
  ck_assert_int_eq(n, 4);
  ck_assert_str_eq(paths[0], "/m/ckpt-1");
  ck_assert_str_eq(paths[1], "/m/AB?");
  ck_assert_str_eq(paths[2], "/l1");
  ck_assert_str_eq(paths[3], "/l2");
  deft_checkpoint_state_free(model, paths, n);
  deft_checkpoint_state_free(NULL, NULL, 0);
  deft_status_free(s);
}
END_TEST

START_TEST(state_corrupt_files) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("statebad"));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  static const struct {
    const char *text, *kw1, *kw2;
  } cases[] = {
      {"model_checkpoint_path \"x\"\n", "byte offset 22", "':'"},
      {"model_checkpoint_path: \"x\n\"\n", "byte offset 25", "newline"},
      {"model_checkpoint_path: \"unterminated", "byte offset", "unterminated"},
      {"bogus_field: \"x\"\n", "byte offset 13", "unknown field 'bogus_field'"},
      {"all_model_checkpoint_paths: \"a\"\n", "no model_checkpoint_path", ""},
      {"model_checkpoint_path: \"a\\q\"", "byte offset", "escape"},
      {"model_checkpoint_path: \"a\"\nmodel_checkpoint_path: \"b\"", "byte offset", "twice"},
      {"model_checkpoint_path: x", "byte offset 23", "quoted string"},
      {"model_checkpoint_path: \"a\\0b\"", "byte offset", "NUL"},
      {"\x01\x02garbage", "byte offset 0", "field name"},
      {"", "no model_checkpoint_path", ""},
  };
  deft_status *s = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cku_write_bytes(path, cases[i].text, strlen(cases[i].text));
    char *model = (char *)"untouched";
    ck_assert_msg(!deft_checkpoint_state_read(dir, &model, NULL, NULL, s), "case %zu", i);
    TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, path, cases[i].kw1, cases[i].kw2);
    ck_assert_str_eq(model, "untouched");
    ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
    ck_assert_int_eq(deft_status_code(s), DEFT_DATA_LOSS);
  }
  unlink(path);
  char *model;
  ck_assert(!deft_checkpoint_state_read(dir, &model, NULL, NULL, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, path);
  ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, path);
  deft_status_free(s);
}
END_TEST

START_TEST(state_real_and_latest) {
  TU_REQUIRE_SHARED(kdir, "tf1/KKeishiro__hands-on-machine-learning/186368e3");
  char dir[1024], want[1100];
  snprintf(dir, sizeof dir, "%s", kdir);
  deft_status *s = deft_status_new();
  char *model, **paths;
  int n;
  ck_assert_msg(deft_checkpoint_state_read(dir, &model, &paths, &n, s), "%s",
                deft_status_message(s));
  snprintf(want, sizeof want, "%s/my_new_model_final.ckpt", dir);
  ck_assert_str_eq(model, want);
  ck_assert_int_eq(n, 1);
  ck_assert_str_eq(paths[0], want);
  deft_checkpoint_state_free(model, paths, n);
  char *latest = deft_latest_checkpoint(dir, s);
  ck_assert_msg(latest != NULL, "%s", deft_status_message(s));
  ck_assert_str_eq(latest, want);
  deft_bundle_reader *r = cku_open_ok(latest); /* and it is a readable checkpoint */
  ck_assert_int_eq(cku_read_all(r), 12);
  deft_bundle_reader_free(r);
  deft_free(latest);

  /* a state file naming a checkpoint whose .index is gone */
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("latest"));
  const char *all[] = {"gone.ckpt"};
  ck_assert(deft_checkpoint_state_write(dir, "gone.ckpt", all, 1, s));
  ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "gone.ckpt.index");
  char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s/gone.ckpt", dir);
  cku_save_example(prefix);
  latest = deft_latest_checkpoint(dir, s);
  ck_assert_ptr_nonnull(latest);
  ck_assert_str_eq(latest, prefix);
  deft_free(latest);
  deft_status_free(s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("checkpoint_state");
  TCase *tc = tcase_create("state");
  tcase_add_test(tc, state_write_exact_and_read_back);
  tcase_add_test(tc, state_read_variants);
  tcase_add_test(tc, state_corrupt_files);
  tcase_add_test(tc, state_real_and_latest);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
