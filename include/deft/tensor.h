/* SPDX-License-Identifier: Apache-2.0 */
/* deft/tensor.h - dense tensors.
 *
 * A deft_tensor is a dtype, a shape and a reference-counted, 64-byte-aligned buffer. Tensors made
 * by deft_tensor_new and friends are owned by the caller, who releases them with deft_tensor_free.
 * Several tensors may share one buffer (deft_tensor_share): the buffer is freed with its last
 * tensor. Element data is row-major, little-endian as the host. String tensors hold an array of
 * byte strings (with explicit lengths; they may contain NUL bytes).
 *
 * Thread safety: reading one tensor from several threads at once is safe; writing it (its data or
 * strings) is not, while anyone else reads it. Tensors that share a buffer may be freed on
 * different threads concurrently (the reference count is atomic): a tensor fetched from a run may
 * be freed on any thread, while the session keeps running.
 */
#ifndef DEFT_TENSOR_H
#define DEFT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "deft/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types. The values equal TensorFlow's DataType enum, so they can be written to and read
 * from TF's protobufs directly. */
typedef enum deft_dtype {
  DEFT_INVALID_DTYPE = 0,
  DEFT_FLOAT = 1,
  DEFT_DOUBLE = 2,
  DEFT_INT32 = 3,
  DEFT_UINT8 = 4,
  DEFT_STRING = 7,
  DEFT_INT64 = 9,
  DEFT_BOOL = 10,
  /* TF's quantized types: 8-bit signed / unsigned and 32-bit signed integers whose real value
   * comes from a (min, max) range carried beside them (ops/quantize_ops.c). Stored, fed, fetched
   * and checkpointed as int8 / uint8 / int32. */
  DEFT_QINT8 = 11,
  DEFT_QUINT8 = 12,
  DEFT_QINT32 = 13
} deft_dtype;

/* The largest rank deft handles. */
#define DEFT_MAX_RANK 8

/* A (possibly partial) shape: rank -1 means unknown rank; a dim of -1 is unknown. A small value
 * type, passed and returned by value. */
typedef struct deft_shape {
  int rank;
  int64_t dims[DEFT_MAX_RANK];
} deft_shape;

/* Returns a shape of the given rank (0..DEFT_MAX_RANK) and dims (-1 for unknown). dims may be NULL
 * when rank is 0. A rank outside that range gives the unknown shape. */
DEFT_API deft_shape deft_shape_make(int rank, const int64_t *dims);

/* Returns the shape of unknown rank. */
DEFT_API deft_shape deft_shape_unknown(void);

/* DEFT_SHAPE(-1, 784) builds a deft_shape of the listed dims (at most 8). DEFT_SCALAR is rank 0. */
#define DEFT_SHAPE_NARGS_(...) DEFT_SHAPE_NARGS2_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define DEFT_SHAPE_NARGS2_(a, b, c, d, e, f, g, h, n, ...) n
#define DEFT_SHAPE(...) \
  deft_shape_make(DEFT_SHAPE_NARGS_(__VA_ARGS__), (const int64_t[]){__VA_ARGS__})
#define DEFT_SCALAR deft_shape_make(0, NULL)

/* Returns true iff every dim of s is known (rank known and no -1). */
DEFT_API bool deft_shape_is_fully_defined(deft_shape s);

/* Returns the number of elements of a fully defined shape, or -1 if it is not fully defined. */
DEFT_API int64_t deft_shape_num_elements(deft_shape s);

/* Writes s as "[2,?,3]" ("<unknown>" for unknown rank) into buf (always NUL-terminated when
 * size > 0). Returns buf. */
DEFT_API char *deft_shape_format(deft_shape s, char *buf, size_t size);

/* Returns the size in bytes of one element of dtype (0 for DEFT_STRING and unknown dtypes). */
DEFT_API size_t deft_dtype_size(deft_dtype dtype);

/* Returns dtype's TF name without the DT_ prefix, lower case ("float", "int64", ...), or
 * "invalid". Never NULL. */
DEFT_API const char *deft_dtype_name(deft_dtype dtype);

/* Returns true iff dtype is one deft stores (the enum above, except DEFT_INVALID_DTYPE). */
DEFT_API bool deft_dtype_is_valid(int dtype);

typedef struct deft_tensor deft_tensor;

/* Returns a new tensor of dtype and the fully defined shape given by dims[0..rank), filled with
 * zeros (empty strings for DEFT_STRING). On failure (bad dtype, negative dim, rank over
 * DEFT_MAX_RANK, overflow, out of memory) returns NULL and sets status. */
DEFT_API deft_tensor *deft_tensor_new(deft_dtype dtype, const int64_t *dims, int rank,
                                      deft_status *status);

/* Like deft_tensor_new, then copies nbytes bytes from data, which must equal the tensor's byte
 * size (INVALID_ARGUMENT otherwise). Not for DEFT_STRING. */
DEFT_API deft_tensor *deft_tensor_from_data(deft_dtype dtype, const int64_t *dims, int rank,
                                            const void *data, size_t nbytes, deft_status *status);

/* Scalar constructors. Return NULL only when memory is exhausted. */
DEFT_API deft_tensor *deft_tensor_scalar_float(float v);
DEFT_API deft_tensor *deft_tensor_scalar_double(double v);
DEFT_API deft_tensor *deft_tensor_scalar_int32(int32_t v);
DEFT_API deft_tensor *deft_tensor_scalar_int64(int64_t v);
DEFT_API deft_tensor *deft_tensor_scalar_bool(bool v);
/* A scalar string tensor holding a copy of the NUL-terminated s. */
DEFT_API deft_tensor *deft_tensor_scalar_string(const char *s);

/* Returns a new tensor that shares t's buffer (no copy). The caller owns the result. Returns NULL
 * only when memory is exhausted. */
DEFT_API deft_tensor *deft_tensor_share(const deft_tensor *t);

/* Returns a deep copy of t, or NULL (status set) on failure. */
DEFT_API deft_tensor *deft_tensor_copy(const deft_tensor *t, deft_status *status);

/* Makes dst hold src's value: src's dtype and shape, sharing src's buffer (no copy). dst's old
 * buffer is released (freed if no other tensor shares it). dst stays the caller's object, so a
 * program that hands out dst's address keeps it valid. dst == src does nothing. */
DEFT_API void deft_tensor_assign(deft_tensor *dst, const deft_tensor *src);

/* Gives t the shape dims[0..rank) in place, keeping its dtype and buffer (tensors sharing the
 * buffer keep their own shapes). Returns false with status set (INVALID_ARGUMENT) and leaves t
 * as it was when the shape is invalid (rank outside [0, DEFT_MAX_RANK], a negative dim) or has
 * another element count. */
DEFT_API bool deft_tensor_reshape(deft_tensor *t, const int64_t *dims, int rank,
                                  deft_status *status);

/* Releases t. The buffer is freed when no other tensor shares it. Accepts NULL. */
DEFT_API void deft_tensor_free(deft_tensor *t);

DEFT_API deft_dtype deft_tensor_dtype(const deft_tensor *t);
DEFT_API int deft_tensor_rank(const deft_tensor *t);
/* Returns dim i (0 <= i < rank). */
DEFT_API int64_t deft_tensor_dim(const deft_tensor *t, int i);
/* Returns t's shape as a deft_shape value. */
DEFT_API deft_shape deft_tensor_shape(const deft_tensor *t);
DEFT_API int64_t deft_tensor_num_elements(const deft_tensor *t);
/* Returns the byte size of the element data (0 for string tensors). */
DEFT_API size_t deft_tensor_nbytes(const deft_tensor *t);

/* Returns the element data: 64-byte aligned, valid while t lives. Writing through it is allowed
 * only while no other tensor shares the buffer (it would change them too). NULL for strings. */
DEFT_API void *deft_tensor_data(const deft_tensor *t);

/* String tensors: returns element i's bytes and stores their length in *len (len may be NULL).
 * The pointer stays valid until the element is replaced or t is freed. NULL if t is not a string
 * tensor or i is out of range. */
DEFT_API const char *deft_tensor_string(const deft_tensor *t, int64_t i, size_t *len);

/* Replaces element i of a string tensor with a copy of bytes[0..len). Returns false (status set)
 * if t is not a string tensor, i is out of range, or memory is exhausted. */
DEFT_API bool deft_tensor_set_string(deft_tensor *t, int64_t i, const char *bytes, size_t len,
                                     deft_status *status);

/* Returns element i converted to double (bool as 0/1). Returns 0 for strings or i out of range.
 * A convenience for tests and tools, not a fast path. */
DEFT_API double deft_tensor_get_double(const deft_tensor *t, int64_t i);

#ifdef __cplusplus
}
#endif
#endif
