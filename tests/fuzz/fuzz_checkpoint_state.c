/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_checkpoint_state.c - the `checkpoint` state file (text-format
 * CheckpointState): deft_latest_checkpoint and the full read, then a write of what was read. */
#include "fuzz_util.h"
#include "proto/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_write("checkpoint", data, size);
  deft_status *st = deft_status_new();
  deft_saver_string_free(deft_latest_checkpoint_path(fz_dir(), st));
  char *model = NULL, **all = NULL;
  int n = 0;
  if (deft_checkpoint_state_read(fz_dir(), &model, &all, &n, st)) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/w", fz_dir());
    mkdir(dir, 0755);
    deft_checkpoint_state_write(dir, model, (const char *const *)all, n, st);
    deft_checkpoint_state_free(model, all, n);
  }
  deft_status_free(st);
  return 0;
}
