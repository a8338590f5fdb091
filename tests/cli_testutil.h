/* SPDX-License-Identifier: Apache-2.0 */
/* tests/cli_testutil.h - helpers for the suites that run deft's programs (test_cli,
 * test_cli_confine): find the built `deft`, run a program with arguments and capture its exit
 * code, stdout and stderr. */
#ifndef DEFT_TESTS_CLI_TESTUTIL_H
#define DEFT_TESTS_CLI_TESTUTIL_H

typedef struct cu_result {
  int code;        /* exit code, or 128 + signal */
  char *out, *err; /* everything the program wrote (deft_malloc'd, NUL-terminated) */
} cu_result;

/* The path of the built deft program ("deft", or "deft-cli" where CMake names it so); fails
 * the test when neither was built. The string is static. */
const char *cu_deft_program(void);
/* Reads the whole file at path (the test fails when it cannot); deft_free it. */
char *cu_slurp(const char *path);
/* Runs program prog with args (NULL-terminated, at most 30), capturing stdout and stderr. */
cu_result cu_run_program(const char *prog, const char *const *args);
void cu_result_free(cu_result *r);

#endif
