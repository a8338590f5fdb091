/* SPDX-License-Identifier: Apache-2.0 */
/* tests/checkpoint_testutil.h - helpers shared by the checkpoint suites (test_checkpoint_format.c,
 * test_checkpoint_errors.c, test_checkpoint_state.c): whole files, fresh directories, leftover
 * temporary files, and small bundle writes and reads. Defined in tests/checkpoint_testutil.c;
 * the functions carry the prefix cku_, since they are linked into every test executable. */
#ifndef DEFT_TESTS_CHECKPOINT_TESTUTIL_H
#define DEFT_TESTS_CHECKPOINT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/bundle.h"
#include "testutil.h"

/* The whole file at path (malloc'ed, one spare byte at the end), or NULL if it cannot be opened. */
unsigned char *cku_read_bytes(const char *path, size_t *len);

/* Replaces the file at path with len bytes of data. */
void cku_write_bytes(const char *path, const void *data, size_t len);

/* A fresh directory under the test's temporary directory (static buffer). */
const char *cku_fresh_dir(const char *name);

/* Counts directory entries whose name contains "tempstate" or ".tmp". */
int cku_count_temp_files(const char *dir);

/* A float tensor of the given shape holding v. */
deft_tensor *cku_float_tensor(const int64_t *dims, int rank, const float *v);

/* Writes one tensor key -> t at prefix. */
void cku_save_one(const char *prefix, const char *key, const deft_tensor *t);

/* Saves the worked example of TF_FORMATS 4.5 at prefix: tensor "v", float [2] = {1, 2}. */
void cku_save_example(const char *prefix);

/* Opens the bundle at prefix; the test fails if it cannot. */
deft_bundle_reader *cku_open_ok(const char *prefix);

/* The value of the one-element tensor key, as a double. */
double cku_read_scalar(deft_bundle_reader *r, const char *key);

/* Reads every tensor (which verifies every CRC) and returns how many there were. */
int cku_read_all(deft_bundle_reader *r);

/* I/O fault injection through a deft_io_hooks object (base/file_io.h): the call numbered
 * fail_at (0-based, counting every create, write, fsync, rename and unlink made through the
 * hooks) fails, a write with ENOSPC and any other call with EIO; fail_at < 0 fails nothing. */
typedef struct cku_fault_plan {
  int fail_at, calls;
  bool fired;
  deft_io_call failed_call;
} cku_fault_plan;
int cku_fault(void *ctx, deft_io_call call, const char *path);

#endif
