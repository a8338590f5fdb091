/* SPDX-License-Identifier: Apache-2.0 */
/* proto/pb_wire.c - a bounded walk over protobuf wire format before protobuf-c unpacks it
 * (see proto/tensor_proto.h, deft_pb_unpack). protobuf-c's unpacker recurses once per nested
 * message with no limit, and TF's schema has cycles (AttrValue.func -> NameAttrList.attr ->
 * AttrValue; TensorProto.variant_val -> VariantTensorDataProto.tensors -> TensorProto), so a few
 * tens of kilobytes can overflow the stack. The walk knows from protobuf-c's descriptors which
 * fields hold nested messages and refuses nesting deeper than DEFT_PB_MAX_DEPTH. Its own
 * recursion is bounded by that limit. */
#include <inttypes.h>
#include <string.h>

#include "proto/tensor_proto.h"

typedef struct wire_walk {
  const uint8_t *base; /* start of the whole buffer, for offsets in messages */
  size_t bad_at;       /* offset of the problem */
  int deepest;
  bool malformed;
} wire_walk;

/* Reads a varint at *p (< end); returns false when truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  uint32_t number) {
  /* Fields are sorted by number in protobuf-c's generated descriptors. */
  unsigned lo = 0, hi = d->n_fields;
  while (lo < hi) {
    unsigned mid = lo + (hi - lo) / 2;
    if (d->fields[mid].id == number) return &d->fields[mid];
    if (d->fields[mid].id < number) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* Walks one message of type d in [p, end) at nesting depth `depth`. Returns false when the
 * bytes are malformed or nest too deep (w says which and where). */
static bool walk(wire_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
                 const uint8_t *end, int depth) {
  if (depth > w->deepest) w->deepest = depth;
  if (depth > DEFT_PB_MAX_DEPTH) {
    w->bad_at = (size_t)(p - w->base);
    return false;
  }
  while (p < end) {
    const uint8_t *at = p;
    uint64_t key, v;
    if (!read_varint(&p, end, &key)) goto bad;
    uint32_t number = (uint32_t)(key >> 3);
    switch (key & 7) {
      case 0:
        if (!read_varint(&p, end, &v)) goto bad;
        break;
      case 1:
        if (end - p < 8) goto bad;
        p += 8;
        break;
      case 5:
        if (end - p < 4) goto bad;
        p += 4;
        break;
      case 2: {
        if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) goto bad;
        const ProtobufCFieldDescriptor *f = d ? find_field(d, number) : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
            !walk(w, f->descriptor, p, p + v, depth + 1))
          return false;
        p += v;
        break;
      }
      default: /* groups (3, 4) and the unused wire types: protobuf-c does not take them */
        goto bad;
    }
    (void)at;
    continue;
  bad:
    w->malformed = true;
    w->bad_at = (size_t)(at - w->base);
    return false;
  }
  return true;
}

bool deft_pb_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                         deft_status *st) {
  wire_walk w = {data, 0, 0, false};
  if (walk(&w, desc, data, data + len, 1)) return true;
  if (w.malformed)
    deft_status_set(st, DEFT_DATA_LOSS, "malformed %s: bad field at byte offset %zu", desc->name,
                    w.bad_at);
  else
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "%s nests messages more than %d deep (at byte offset %zu)", desc->name,
                    DEFT_PB_MAX_DEPTH, w.bad_at);
  return false;
}

ProtobufCMessage *deft_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                 size_t len, deft_status *st) {
  if (!deft_pb_check_depth(desc, data, len, st)) return NULL;
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, deft_protobuf_allocator(), len, data);
  if (!m)
    deft_status_set(st, DEFT_DATA_LOSS, "cannot parse %zu bytes as a %s", len, desc->name);
  return m;
}
