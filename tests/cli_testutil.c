/* SPDX-License-Identifier: Apache-2.0 */
/* tests/cli_testutil.c - see cli_testutil.h. */
#include "cli_testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "testutil.h"

const char *cu_deft_program(void) {
  static char path[1024];
  const char *names[] = {"deft", "deft-cli"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", DEFT_BINARY_DIR, names[i]);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & S_IXUSR)) return path;
  }
  ck_abort_msg("the deft program was not built in %s", DEFT_BINARY_DIR);
  return NULL;
}

char *cu_slurp(const char *path) {
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(path, &data, &len, NULL));
  return (char *)data;
}

cu_result cu_run_program(const char *prog, const char *const *args) {
  char out_path[512], err_path[512];
  snprintf(out_path, sizeof out_path, "%s/run-out.txt", tu_tmpdir());
  snprintf(err_path, sizeof err_path, "%s/run-err.txt", tu_tmpdir());
  const char *argv[32];
  int n = 0;
  argv[n++] = prog;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  cu_result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = cu_slurp(out_path);
  r.err = cu_slurp(err_path);
  return r;
}

void cu_result_free(cu_result *r) {
  deft_free(r->out);
  deft_free(r->err);
}
