/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_tensor_proto.c - TensorProto decoding: the depth walk, protobuf-c, the size
 * budget, the repeat-last fill, then encoding what was decoded. The budget is 64 MiB (not the
 * 1 GiB default) so that every input stays fast under ASan; the code paths are the same. */
#include "fuzz_util.h"
#include "base/alloc.h"
#include "proto/tensor_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  deft_status *st = deft_status_new();
  Tensorflow__TensorProto *p = (Tensorflow__TensorProto *)deft_pb_unpack(
      &tensorflow__tensor_proto__descriptor, data, size, st);
  uint64_t budget = (uint64_t)64 << 20;
  deft_tensor *t = p ? deft_tensor_from_proto_limited(p, &budget, st) : NULL;
  if (p) tensorflow__tensor_proto__free_unpacked(p, deft_protobuf_allocator());
  if (t) {
    uint8_t *out = NULL;
    size_t len = 0;
    if (deft_tensor_serialize_proto(t, &out, &len, st)) {
      deft_tensor *back = deft_tensor_parse_proto(out, len, st);
      if (!back) abort(); /* what deft writes it must read */
      deft_tensor_free(back);
      deft_free(out);
    }
  }
  deft_tensor_free(t);
  deft_status_free(st);
  return 0;
}
