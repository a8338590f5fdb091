/* SPDX-License-Identifier: Apache-2.0 */
/* tests/testutil.c - helpers shared by the Check suites. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_shared_dir(void) {
  static char path[4096];
  const char *env = getenv("DEFT_SHARED_DIR");
  if (env && *env) snprintf(path, sizeof path, "%s", env);
  else snprintf(path, sizeof path, "%s/../shared", DEFT_SOURCE_DIR);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
  return path;
}

const char *tu_shared_path(const char *rel) {
  static char path[4096];
  const char *dir = tu_shared_dir();
  if (!dir) {
    const char *ci = getenv("CI");
    ck_assert_msg(!(ci && strcmp(ci, "true") == 0),
                  "../shared is required when CI=true, but it was not found");
    return NULL;
  }
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  return path;
}

const char *tu_tmpdir(void) {
  static char dir[256];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/deft-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
  }
  return dir;
}

int tu_python_file(const char *path, const char *const *args) {
  char cmd[8192];
  size_t pos = (size_t)snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s'", path);
  for (int i = 0; args && args[i] && pos < sizeof cmd; i++)
    pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos, " '%s'", args[i]);
  ck_assert_msg(pos < sizeof cmd, "python command line too long");
  int rc = system(cmd);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int tu_python(const char *script, const char *const *args) {
  static int counter;
  char path[512];
  snprintf(path, sizeof path, "%s/py-%d-%d.py", tu_tmpdir(), (int)getpid(), counter++);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(script, f);
  fclose(f);
  int rc = tu_python_file(path, args);
  unlink(path);
  return rc;
}

bool tu_have_numpy(void) {
  return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

void tu_assert_status(const deft_status *s, deft_code code, const char *const *keywords,
                      const char *file, int line) {
  ck_assert_msg(deft_status_code(s) == code, "%s:%d: expected code %s, got %s: %s", file, line,
                deft_code_name(code), deft_code_name(deft_status_code(s)),
                deft_status_message(s));
  for (int i = 0; keywords[i]; i++)
    ck_assert_msg(strstr(deft_status_message(s), keywords[i]) != NULL,
                  "%s:%d: message lacks \"%s\": %s", file, line, keywords[i],
                  deft_status_message(s));
}

int tu_run_suite(Suite *suite) {
  SRunner *sr = srunner_create(suite);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
