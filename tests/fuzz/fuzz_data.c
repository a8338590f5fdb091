/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_data.c - the dataset readers: the first byte picks IDX (then
 * deft_images_to_float on what it read) or .npy (then a write and a re-read). */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  bool idx = data[0] & 1;
  data++, size--;
  deft_status *st = deft_status_new();
  if (idx) {
    deft_tensor *t = deft_idx_read(fz_write("d.idx", data, size), st);
    if (t && deft_tensor_dtype(t) == DEFT_UINT8 && deft_tensor_rank(t) >= 1) {
      deft_tensor *f = deft_images_to_float(t, st);
      deft_tensor_free(f);
    }
    deft_tensor_free(t);
  } else {
    deft_tensor *t = deft_npy_read(fz_write("d.npy", data, size), st);
    if (t) {
      char path[512];
      snprintf(path, sizeof path, "%s/out.npy", fz_dir());
      if (deft_npy_write(path, t, st)) deft_tensor_free(deft_npy_read(path, st));
    }
    deft_tensor_free(t);
  }
  deft_status_free(st);
  return 0;
}
