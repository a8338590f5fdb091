/* SPDX-License-Identifier: Apache-2.0 */
/* tests/testutil.h - helpers shared by the Check suites. */
#ifndef DEFT_TESTUTIL_H
#define DEFT_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>

#include "deft/deft.h"

/* Path of ../shared (relative to the source tree), or NULL when it is absent. */
const char *tu_shared_dir(void);

/* Returns the full path of `rel` under ../shared, or NULL when ../shared is absent. When absent and
 * CI=true the calling test fails; otherwise the caller should return early (a skip). The string is
 * a static buffer, valid until the next call. */
const char *tu_shared_path(const char *rel);

/* Expands to an early return (skip) when ../shared is missing outside CI; fails in CI. */
#define TU_REQUIRE_SHARED(var, rel)                                      \
  const char *var = tu_shared_path(rel);                                \
  if (!var) {                                                           \
    fprintf(stderr, "skipping %s: ../shared not found\n", __func__);    \
    return;                                                             \
  }

/* A fresh temporary directory for this process (created once). */
const char *tu_tmpdir(void);

/* Runs /usr/bin/python3 with the script text on stdin and the given argv (NULL-terminated list of
 * extra arguments). Returns the exit status (0 = success). Output goes to the test's stderr. */
int tu_python(const char *script, const char *const *args);
/* As tu_python, for a script file (e.g. DEFT_SOURCE_DIR "/tests/gen_*.py"). */
int tu_python_file(const char *path, const char *const *args);

/* True iff /usr/bin/python3 can import numpy. */
bool tu_have_numpy(void);

/* Asserts that status has `code` and that its message contains every NULL-terminated keyword. */
void tu_assert_status(const deft_status *s, deft_code code, const char *const *keywords,
                      const char *file, int line);
#define TU_ASSERT_STATUS(s, code, ...) \
  tu_assert_status((s), (code), (const char *const[]){__VA_ARGS__, NULL}, __FILE__, __LINE__)

/* deft_session_run's feed values (const) from an array of tensors the test owns. */
static inline const deft_tensor *const *tu_feeds(deft_tensor *const *v) {
  return (const deft_tensor *const *)v;
}

/* Runs a suite made by `make` and returns the number of failures (for main()). */
int tu_run_suite(Suite *suite);

#endif
