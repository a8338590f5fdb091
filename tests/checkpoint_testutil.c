/* SPDX-License-Identifier: Apache-2.0 */
/* tests/checkpoint_testutil.c - helpers shared by the checkpoint suites. */
#include "checkpoint_testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

unsigned char *cku_read_bytes(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

void cku_write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* A fresh directory under the test's temporary directory. */
const char *cku_fresh_dir(const char *name) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  return path;
}

/* Counts directory entries whose name contains "tempstate" or ".tmp". */
int cku_count_temp_files(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strstr(de->d_name, "tempstate") || strstr(de->d_name, ".tmp")) n++;
  closedir(d);
  return n;
}

deft_tensor *cku_float_tensor(const int64_t *dims, int rank, const float *v) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  memcpy(deft_tensor_data(t), v, deft_tensor_nbytes(t));
  return t;
}

/* Writes one tensor key -> t at prefix. */
void cku_save_one(const char *prefix, const char *key, const deft_tensor *t) {
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert_ptr_nonnull(w);
  ck_assert_msg(deft_bundle_writer_add(w, key, t, s), "%s", deft_status_message(s));
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
  deft_status_free(s);
}

/* The worked example of TF_FORMATS 4.5: tensor "v", float [2] = {1, 2}. */
void cku_save_example(const char *prefix) {
  int64_t dims[1] = {2};
  deft_tensor *t = cku_float_tensor(dims, 1, (const float[]){1.0f, 2.0f});
  cku_save_one(prefix, "v", t);
  deft_tensor_free(t);
}

deft_bundle_reader *cku_open_ok(const char *prefix) {
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  ck_assert_msg(r != NULL, "%s: %s", prefix, deft_status_message(s));
  deft_status_free(s);
  return r;
}

double cku_read_scalar(deft_bundle_reader *r, const char *key) {
  deft_status *s = deft_status_new();
  deft_tensor *t = deft_bundle_reader_read(r, key, s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_tensor_num_elements(t), 1);
  double v = deft_tensor_get_double(t, 0);
  deft_tensor_free(t);
  deft_status_free(s);
  return v;
}

/* Reads every tensor (which verifies every CRC) and returns how many there were. */
int cku_read_all(deft_bundle_reader *r) {
  deft_status *s = deft_status_new();
  for (int i = 0; i < deft_bundle_reader_num_entries(r); i++) {
    deft_tensor *t = deft_bundle_reader_read(r, deft_bundle_reader_key(r, i), s);
    ck_assert_msg(t != NULL, "%s", deft_status_message(s));
    deft_tensor_free(t);
  }
  deft_status_free(s);
  return deft_bundle_reader_num_entries(r);
}

int cku_fault(void *ctx, deft_io_call call, const char *path) {
  (void)path;
  cku_fault_plan *f = ctx;
  if (f->calls++ != f->fail_at) return 0;
  f->fired = true;
  f->failed_call = call;
  return call == DEFT_IO_WRITE ? ENOSPC : EIO;
}
