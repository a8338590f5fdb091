/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_util.h - shared by the libFuzzer targets: a per-process scratch directory,
 * writing an input to a file there, and running an imported (untrusted) graph's ops with no
 * feeds under the session limits. */
#ifndef DEFT_FUZZ_UTIL_H
#define DEFT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deft/deft.h"

/* A fresh directory for this process (made once). */
static inline const char *fz_dir(void) {
  static char dir[256];
  if (!dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/deft-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) abort();
  }
  return dir;
}

/* Writes data to <fz_dir>/<name> and returns the path (a static buffer). */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t len) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (len && fwrite(data, 1, len, f) != len) abort();
  fclose(f);
  return path;
}

/* Runs every op deft has a kernel for (up to 64) as a target with no feeds, confined to the
 * scratch directory, with a 256 MiB run budget and a 2 s run limit. Errors are expected; only
 * crashes, hangs, leaks and undefined behaviour are findings. */
static inline void fz_run_graph(deft_graph *g) {
  deft_session_options *o = deft_session_options_new();
  deft_status *st = deft_status_new();
  if (!o || !st) abort();
  deft_session_options_set_run_memory_budget(o, (uint64_t)256 << 20);
  deft_session_options_set_max_run_seconds(o, 2.0);
  if (!deft_session_options_allow_dir(o, fz_dir())) abort();
  deft_session *s = deft_session_new_with_options(g, o, st);
  for (int i = 0, ran = 0; s && i < deft_graph_num_ops(g) && ran < 64; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!deft_op_has_kernel(op)) continue;
    ran++;
    deft_output outs[4];
    deft_tensor *vals[4] = {NULL, NULL, NULL, NULL};
    int n = deft_op_num_outputs(op) < 4 ? deft_op_num_outputs(op) : 4;
    for (int k = 0; k < n; k++) outs[k] = deft_op_output(op, k);
    if (n > 0) deft_session_run(s, NULL, NULL, 0, outs, vals, n, NULL, 0, st);
    else deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &op, 1, st);
    for (int k = 0; k < n; k++) deft_tensor_free(vals[k]);
  }
  deft_session_free(s);
  deft_status_free(st);
  deft_session_options_free(o);
}

#endif
