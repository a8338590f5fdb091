/* SPDX-License-Identifier: Apache-2.0 */
/* base/tensor_internal.h - the tensor and buffer structs, and the operations the runtime uses
 * on tensors embedded in its own structures (executor slots, variables) without heap-allocating a
 * deft_tensor per value. Internal to the library. */
#ifndef DEFT_BASE_TENSOR_INTERNAL_H
#define DEFT_BASE_TENSOR_INTERNAL_H

#include <stdatomic.h>

#include "deft/tensor.h"

/* One element of a string tensor. */
typedef struct deft_bytes {
  char *data; /* NUL-terminated copy, or NULL for "" */
  size_t len;
} deft_bytes;

/* Where a buffer's bytes live (ggml-backend's buffer interface, reduced to what deft needs):
 * code that is not the memory's own device reaches the bytes only through copy_to_host /
 * copy_from_host. Host memory (deft_host_memory) is the one implementation now; a device with
 * its own memory supplies another table. Tables are immutable. */
typedef struct deft_memory {
  const char *name;                   /* "host" */
  void *(*alloc)(size_t nbytes);      /* 64-byte aligned; NULL on out of memory */
  void *(*alloc_zeroed)(size_t nbytes); /* the same, all bytes zero */
  void (*free)(void *data);
  void (*copy_to_host)(void *dst, const void *src, size_t nbytes);
  void (*copy_from_host)(void *dst, const void *src, size_t nbytes);
} deft_memory;

/* The process's ordinary memory, through the allocation hook (base/alloc.h). */
extern const deft_memory deft_host_memory;

/* A reference-counted, 64-byte-aligned block. For string tensors the block holds deft_bytes[]
 * and `nstrings` elements, freed with the block. Several elements may point at one copy,
 * `shared_str` (the repeated tail of a decoded TensorProto: one allocation, not one per
 * element); it is freed once, with the block. An element is replaced, never written through,
 * so writing one element never changes another: code that frees an element's data goes
 * through deft_buffer_string_clear. A view (base != NULL) owns no storage: data
 * points inside base's block, which the view keeps referenced; a view is never written in place
 * (see deft_buffer_exclusive). The count and the generation are atomic: tensors sharing a buffer
 * may be freed on different threads (fetched values), and concurrent runs touch and compare
 * variables' generations. */
typedef struct deft_buffer {
  atomic_int refcount;
  size_t capacity; /* bytes usable at data */
  void *data;
  int64_t nstrings;
  char *shared_str;     /* strings: the copy elements may share (NULL: none); see above */
  _Atomic uint64_t gen; /* content generation: new whenever someone may write (deft_buffer_touch) */
  struct deft_buffer *base; /* the block a view points into; NULL for an owning buffer */
  const deft_memory *memory; /* where data lives (a view: its base's memory) */
} deft_buffer;

struct deft_tensor {
  deft_dtype dtype;
  int rank;
  int64_t dims[DEFT_MAX_RANK];
  int64_t n;       /* number of elements */
  deft_buffer *buf; /* NULL for an empty (unset) tensor value */
};

/* Buffers. */
deft_buffer *deft_buffer_new(size_t nbytes); /* host memory, uninitialized data; NULL on OOM */
/* A buffer of nbytes in `memory`, uninitialized (_new_in) or all zero bytes (_new_zeroed_in);
 * NULL on OOM. */
deft_buffer *deft_buffer_new_in(const deft_memory *memory, size_t nbytes);
deft_buffer *deft_buffer_new_zeroed_in(const deft_memory *memory, size_t nbytes);
/* True iff b's bytes are host memory (kernels of the CPU device may read data directly). */
static inline bool deft_buffer_on_host(const deft_buffer *b) {
  return b->memory == &deft_host_memory;
}
void deft_buffer_ref(deft_buffer *b);
/* A view of `nbytes` bytes at byte `offset` of base's data (base gains a reference); NULL on
 * OOM. offset must keep data 64-byte aligned. */
deft_buffer *deft_buffer_view(deft_buffer *base, size_t offset, size_t nbytes);
/* True when b may be written in place: nobody else holds it and it is not a view into storage
 * that others may read. */
static inline bool deft_buffer_exclusive(const deft_buffer *b) {
  return atomic_load_explicit(&b->refcount, memory_order_acquire) == 1 && !b->base;
}
void deft_buffer_unref(deft_buffer *b);
/* Frees element i of string buffer b unless it is b's shared copy; the element becomes "". */
void deft_buffer_string_clear(deft_buffer *b, int64_t i);
/* Sets elements [begin, end) of string tensor t (whose buffer is t's alone and has no shared
 * copy yet) to one shared copy of len bytes (len > 0). Returns false with RESOURCE_EXHAUSTED on
 * out of memory, t unchanged. */
bool deft_tensor_fill_string_shared(deft_tensor *t, int64_t begin, int64_t end, const char *bytes,
                                    size_t len, deft_status *status);
/* Gives b a fresh generation (process-wide unique): call before writing into a buffer that may
 * have been read. New buffers, deft_tensor_ensure and deft_tensor_make_unique do it, and so does
 * code that makes a buffer from outside (a fed tensor) a variable's storage (Assign), so
 * (buffer, gen) identifies a variable's contents and a kernel may cache facts about a value it
 * saw (ops/matmul_sparse.c caches "all finite"). The public deft_tensor_data does not write:
 * a program may write only into a buffer no other tensor shares, so not into a variable's. */
void deft_buffer_touch(deft_buffer *b);

/* Checks dtype/rank/dims and computes the element count and byte size. Returns false with status
 * set (INVALID_ARGUMENT) when they are invalid or overflow. */
bool deft_tensor_check_shape(deft_dtype dtype, const int64_t *dims, int rank, int64_t *n,
                             size_t *nbytes, deft_status *status);

/* Sets t's dtype, dims and element count n (which the caller has checked with
 * deft_tensor_check_shape) without touching its buffer: for a caller that has already made sure
 * the buffer is t's alone and large enough. */
void deft_tensor_set_layout(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                            int64_t n);

/* Embedded tensor values (struct deft_tensor not on the heap; zero-initialized = empty). */
/* Makes t a tensor of dtype/shape with a buffer it owns alone. Reuses t's current buffer when t
 * holds the only reference and it is large enough; otherwise allocates. Contents are
 * unspecified (zeroed only for strings). Returns false with status set on failure. */
bool deft_tensor_ensure(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                        deft_status *status);
/* As deft_tensor_ensure, with every byte zero (0, 0.0, false, ""): a new buffer comes zeroed
 * from the memory (large ones cost nothing until written), a reused one is cleared. */
bool deft_tensor_ensure_zeroed(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                               deft_status *status);
/* Releases t's buffer; t becomes empty. */
void deft_tensor_reset(deft_tensor *t);
/* Makes dst share src's buffer (dst's old buffer is released). */
void deft_tensor_set_shared(deft_tensor *dst, const deft_tensor *src);
/* Makes sure t's buffer is not shared with any other tensor, copying it if it is (copy-on-write
 * before an in-place update). Returns false with status set on OOM. */
bool deft_tensor_make_unique(deft_tensor *t, deft_status *status);
/* Gives t a new shape with the same element count, keeping the buffer. */
void deft_tensor_reshape_inplace(deft_tensor *t, const int64_t *dims, int rank);
/* True iff t holds a buffer. */
static inline bool deft_tensor_is_set(const deft_tensor *t) { return t && t->buf != NULL; }
/* Typed views. */
static inline float *deft_tensor_f32(const deft_tensor *t) { return (float *)t->buf->data; }
static inline double *deft_tensor_f64(const deft_tensor *t) { return (double *)t->buf->data; }
static inline int32_t *deft_tensor_i32(const deft_tensor *t) { return (int32_t *)t->buf->data; }
static inline int64_t *deft_tensor_i64(const deft_tensor *t) { return (int64_t *)t->buf->data; }
static inline uint8_t *deft_tensor_u8(const deft_tensor *t) { return (uint8_t *)t->buf->data; }
static inline bool *deft_tensor_b(const deft_tensor *t) { return (bool *)t->buf->data; }
static inline deft_bytes *deft_tensor_str(const deft_tensor *t) {
  return (deft_bytes *)t->buf->data;
}

/* Reads element i of an int32 or int64 tensor as int64 (index tensors: shapes, axes). */
int64_t deft_tensor_index_at(const deft_tensor *t, int64_t i);

#endif
