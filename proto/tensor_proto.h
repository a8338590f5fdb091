/* SPDX-License-Identifier: Apache-2.0 */
/* proto/tensor_proto.h - TensorProto / TensorShapeProto <-> deft_tensor / deft_shape, and the
 * small helpers every protobuf-c user in deft shares (an allocator routed through
 * base/alloc.h, and a pool for building messages to pack). Internal to the library: only the
 * import/export and checkpoint code include protobuf-c types.
 *
 * Decoding follows TF's rules (TF_FORMATS.md 1.6):
 *   - a non-empty tensor_content holds all the data (raw little-endian, row-major; bool = 1 byte);
 *   - otherwise the typed field of the dtype (float_val, double_val, int_val for int32/uint8,
 *     int64_val, bool_val, string_val): 0 values = all zero/empty, n >= N values = the first N,
 *     0 < n < N = the n values, then the last one repeated. Fields of other dtypes are ignored.
 * Encoding follows TF's Python writer: strings use string_val (one entry per element); a tensor
 * of one element, or whose elements are all equal, uses the typed field with one value; any other
 * numeric tensor uses tensor_content. The host is assumed little-endian, as TF's files are.
 */
#ifndef DEFT_RUNTIME_TENSOR_PROTO_H
#define DEFT_RUNTIME_TENSOR_PROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deft/tensor.h"
#include "tensor.pb-c.h"
#include "tensor_shape.pb-c.h"

/* Largest tensor (in bytes of element data) a TensorProto may decode to. A typed field with one
 * value can describe a huge tensor in a few bytes; this bounds what a file can make deft
 * allocate. */
#define DEFT_TENSOR_PROTO_MAX_BYTES ((size_t)INT32_MAX)

/* A protobuf-c allocator that allocates with deft_malloc/deft_free (so allocation-failure tests
 * cover protobuf parsing too). Pass it to protobuf_c_message_unpack and _free_unpacked. */
ProtobufCAllocator *deft_protobuf_allocator(void);

/* Deepest nesting of messages deft unpacks (TF's text parser and deft's stop at 100 too). */
#define DEFT_PB_MAX_DEPTH 100

/* Walks the wire format of a serialized message of type desc without allocating, following its
 * nested-message fields by the descriptors. Returns true when it is well formed as far as the
 * walk looks and nests at most DEFT_PB_MAX_DEPTH messages deep; otherwise false with st set:
 * INVALID_ARGUMENT (too deep, naming the byte offset) or DATA_LOSS (a truncated field, a bad
 * wire type, with its byte offset). Bounded stack use; reentrant. */
bool deft_pb_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                         deft_status *st);

/* deft_pb_check_depth, then protobuf_c_message_unpack with deft_protobuf_allocator(). Every
 * binary message deft reads goes through this: protobuf-c's unpacker recurses without limit.
 * Returns the message (free with protobuf_c_message_free_unpacked and deft_protobuf_allocator())
 * or NULL with st set (DATA_LOSS when protobuf-c refuses the bytes, or on OOM). */
ProtobufCMessage *deft_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                 size_t len, deft_status *st);

/* ---- decoding ---- */

/* Converts a TensorShapeProto to a deft_shape: unknown_rank -> rank -1, size -1 -> unknown dim.
 * p == NULL means a scalar (an absent shape field). Returns false with INVALID_ARGUMENT (rank
 * above DEFT_MAX_RANK, a size below -1, unknown_rank with dims) otherwise. */
bool deft_shape_from_proto(const Tensorflow__TensorShapeProto *p, deft_shape *out,
                           deft_status *st);

/* The decoded bytes one deft_tensor_from_proto may produce, and the default of the per-import
 * constant budget (deft_import_options_set_max_constant_bytes): 1 GiB. */
#define DEFT_TENSOR_PROTO_DEFAULT_BUDGET ((uint64_t)1 << 30)

/* Decodes p into a new tensor owned by the caller. Errors (NULL returned, st set):
 * UNIMPLEMENTED for a dtype deft does not store (the message names it), INVALID_ARGUMENT for a
 * shape that is not fully defined, a tensor_content of the wrong length, tensor_content on a
 * string tensor; RESOURCE_EXHAUSTED for a tensor over DEFT_TENSOR_PROTO_MAX_BYTES or
 * DEFT_TENSOR_PROTO_DEFAULT_BUDGET, or out of memory. Messages do not name the caller's
 * context: prefix them (deft_status_prefix). */
deft_tensor *deft_tensor_from_proto(const Tensorflow__TensorProto *p, deft_status *st);

/* deft_tensor_from_proto within a budget shared by several decodes: the tensor's decoded size
 * (element bytes; for strings 16 bytes per element plus the bytes of every element's value,
 * the repeated tail included) is checked against *budget before anything is allocated, and
 * subtracted from it on success. Over budget: NULL with RESOURCE_EXHAUSTED saying the size and
 * what is left. deft_tensor_from_proto uses a budget of DEFT_TENSOR_PROTO_DEFAULT_BUDGET. */
deft_tensor *deft_tensor_from_proto_limited(const Tensorflow__TensorProto *p, uint64_t *budget,
                                            deft_status *st);

/* Parses serialized TensorProto bytes and decodes them (DATA_LOSS if the bytes do not parse). */
deft_tensor *deft_tensor_parse_proto(const uint8_t *data, size_t len, deft_status *st);

/* ---- encoding ---- */

/* A pool that owns every allocation of a message tree built for packing (or an importer's
 * temporaries); freed at once. Small allocations are carved from chunks (an import makes
 * several per node), large ones get their own. Zero-initialize it. */
typedef struct deft_pb_pool {
  void **ptrs; /* the chunks */
  size_t n, cap;
  unsigned char *cur; /* free space of the current chunk */
  size_t left, chunk; /* its size; the next chunk's size */
  bool failed;        /* an allocation failed: the tree is incomplete */
} deft_pb_pool;

/* Zeroed memory owned by the pool, or NULL (pool->failed set) when memory is exhausted. */
void *deft_pb_pool_alloc(deft_pb_pool *pool, size_t size);
/* A NUL-terminated copy of bytes[0..len) owned by the pool, or NULL on OOM. */
char *deft_pb_pool_strndup(deft_pb_pool *pool, const char *bytes, size_t len);
char *deft_pb_pool_strdup(deft_pb_pool *pool, const char *s);
/* A printf-formatted string owned by the pool, or NULL on OOM. */
char *deft_pb_pool_printf(deft_pb_pool *pool, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Frees everything the pool owns; the pool can be reused afterwards. */
void deft_pb_pool_free(deft_pb_pool *pool);

/* Returns a TensorShapeProto for s (rank -1 -> unknown_rank), allocated in pool; NULL on OOM. */
Tensorflow__TensorShapeProto *deft_shape_to_proto(deft_pb_pool *pool, deft_shape s);

/* Returns a TensorProto for t (see the encoding rules above), allocated in pool; the element
 * data is copied. NULL with st set (RESOURCE_EXHAUSTED) on OOM. */
Tensorflow__TensorProto *deft_tensor_to_proto(deft_pb_pool *pool, const deft_tensor *t,
                                              deft_status *st);

/* Serializes t as TensorProto bytes into a buffer the caller frees with deft_free. Returns false
 * with st set on OOM. */
bool deft_tensor_serialize_proto(const deft_tensor *t, uint8_t **data, size_t *len,
                                 deft_status *st);

/* Packs any message into a new deft_malloc'd buffer (*len bytes). Returns false with
 * RESOURCE_EXHAUSTED (naming `what`) on OOM or when the message exceeds 2 GiB. */
bool deft_pb_pack(const ProtobufCMessage *msg, const char *what, uint8_t **data, size_t *len,
                  deft_status *st);

#endif
