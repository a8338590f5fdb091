/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_checkpoint.c - the V2 checkpoint reader. Input: one mode byte (bit 0: accept
 * mismatching CRCs, so that mutations reach the decoders behind the checksums; see
 * deft_fuzz_skip_crc), a little-endian uint32 index length, the .index bytes, then the
 * .data-00000-of-00001 bytes. Every tensor the index lists is read. */
#include "fuzz_util.h"
#include "base/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  deft_fuzz_skip_crc = data[0] & 1;
  size_t ilen = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16 |
                (size_t)data[4] << 24;
  data += 5, size -= 5;
  if (ilen > size) ilen = size;
  fz_write("c.index", data, ilen);
  fz_write("c.data-00000-of-00001", data + ilen, size - ilen);
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/c", fz_dir());
  deft_status *st = deft_status_new();
  deft_checkpoint_reader *r = deft_checkpoint_reader_open(prefix, st);
  for (int i = 0; r && i < deft_checkpoint_reader_num_tensors(r) && i < 256; i++) {
    deft_tensor *t = deft_checkpoint_reader_read(r, deft_checkpoint_reader_name(r, i), st);
    deft_tensor_free(t);
  }
  deft_checkpoint_reader_free(r);
  deft_status_free(st);
  deft_fuzz_skip_crc = false;
  return 0;
}
