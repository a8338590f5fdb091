/* SPDX-License-Identifier: Apache-2.0 */
/* proto/tensor_proto.c - TensorProto <-> deft_tensor, TensorShapeProto <-> deft_shape, and the
 * shared protobuf-c helpers (see proto/tensor_proto.h). */
#include "proto/tensor_proto.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"

/* ---- allocator ---- */

static void *pb_alloc(void *data, size_t size) {
  (void)data;
  return deft_malloc(size ? size : 1);
}

static void pb_free(void *data, void *p) {
  (void)data;
  deft_free(p);
}

ProtobufCAllocator *deft_protobuf_allocator(void) {
  static ProtobufCAllocator a = {pb_alloc, pb_free, NULL};
  return &a;
}

/* ---- shapes ---- */

bool deft_shape_from_proto(const Tensorflow__TensorShapeProto *p, deft_shape *out,
                           deft_status *st) {
  *out = deft_shape_make(0, NULL);
  if (!p) return true;
  if (p->unknown_rank) {
    if (p->n_dim) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "shape has unknown_rank set and also %zu dims", p->n_dim);
      return false;
    }
    *out = deft_shape_unknown();
    return true;
  }
  if (p->n_dim > DEFT_MAX_RANK) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "shape has rank %zu; deft supports at most %d",
                    p->n_dim, DEFT_MAX_RANK);
    return false;
  }
  out->rank = (int)p->n_dim;
  for (size_t i = 0; i < p->n_dim; i++) {
    int64_t d = p->dim[i]->size;
    if (d < -1) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "shape dimension %zu is %" PRId64 " (must be -1 or non-negative)", i, d);
      return false;
    }
    out->dims[i] = d;
  }
  return true;
}

/* ---- decoding ---- */

static const char *tf_type_text(int t) {
  static const char *names[] = {"DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8",
                                "DT_INT16", "DT_INT8", "DT_STRING", "DT_COMPLEX64", "DT_INT64",
                                "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32", "DT_BFLOAT16",
                                "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128",
                                "DT_HALF", "DT_RESOURCE", "DT_VARIANT", "DT_UINT32",
                                "DT_UINT64"};
  if (t >= 0 && t < (int)(sizeof names / sizeof names[0])) return names[t];
  return "an unknown DataType";
}

/* Fills n elements of esize bytes at dst from `have` values at src: the TF repeat-last rule. The
 * repeated tail is filled by doubling copies (a few memcpy calls, not one per element); when
 * `zeroed`, dst is already zero and the tail repeats a zero value, so it is left alone (the
 * pages of a large zeroed buffer stay uncommitted). */
static void fill_repeat(void *dst, const void *src, size_t have, int64_t n, size_t esize,
                        bool zeroed) {
  if (n <= 0) return;
  if (have == 0) {
    if (!zeroed) memset(dst, 0, (size_t)n * esize);
    return;
  }
  size_t copy = (int64_t)have >= n ? (size_t)n : have;
  memcpy(dst, src, copy * esize);
  if (copy == (size_t)n || zeroed) return;
  char *d = (char *)dst + copy * esize;
  size_t left = ((size_t)n - copy) * esize, done = esize;
  memcpy(d, (const char *)src + (copy - 1) * esize, esize);
  while (done < left) {
    size_t c = done < left - done ? done : left - done;
    memcpy(d + done, d, c);
    done += c;
  }
}

_Static_assert(sizeof(bool) == 1, "bool tensors are one byte per element");

/* Copies `have` int32 values converted to uint8 / bool, then repeats the last (memset). */
static void fill_small(uint8_t *d, const int32_t *iv, const protobuf_c_boolean *bv, size_t have,
                       int64_t n, bool zeroed) {
  size_t copy = (int64_t)have >= n ? (size_t)n : have;
  for (size_t i = 0; i < copy; i++) d[i] = iv ? (uint8_t)iv[i] : (uint8_t)(bv[i] != 0);
  if ((int64_t)copy < n && !zeroed) memset(d + copy, copy ? d[copy - 1] : 0, (size_t)n - copy);
}

/* True when the typed field of dtype leaves a repeated tail (fewer values than n elements)
 * whose value is all zero bytes (no values, or a last value of 0 / +0.0 / false): the tensor
 * is then allocated zeroed and only the given values are written. */
static bool zero_tail(const Tensorflow__TensorProto *p, deft_dtype dtype, int64_t n) {
  size_t have;
  bool z;
  switch (dtype) {
    case DEFT_FLOAT: {
      have = p->n_float_val;
      uint32_t w = 0;
      if (have) memcpy(&w, &p->float_val[have - 1], 4);
      z = w == 0;
      break;
    }
    case DEFT_DOUBLE: {
      have = p->n_double_val;
      uint64_t w = 0;
      if (have) memcpy(&w, &p->double_val[have - 1], 8);
      z = w == 0;
      break;
    }
    case DEFT_INT32:
    case DEFT_UINT8:
      have = p->n_int_val;
      z = !have || (dtype == DEFT_UINT8 ? (int32_t)(uint8_t)p->int_val[have - 1]
                                        : p->int_val[have - 1]) == 0;
      break;
    case DEFT_INT64:
      have = p->n_int64_val;
      z = !have || p->int64_val[have - 1] == 0;
      break;
    case DEFT_BOOL:
      have = p->n_bool_val;
      z = !have || !p->bool_val[have - 1];
      break;
    default: return false;
  }
  return z && (int64_t)have < n;
}

static bool decode_strings(deft_tensor *t, const Tensorflow__TensorProto *p, deft_status *st) {
  if (p->n_string_val == 0) return true; /* all empty */
  /* The elements start empty: a repeated empty tail (TF's repeat-the-last-value rule) needs no
   * work, so 18 bytes claiming millions of empty strings cost no per-element pass. */
  const ProtobufCBinaryData *last = &p->string_val[p->n_string_val - 1];
  int64_t n = last->data && last->len           ? t->n
              : (int64_t)p->n_string_val < t->n ? (int64_t)p->n_string_val
                                                : t->n;
  for (int64_t i = 0; i < n && i < (int64_t)p->n_string_val; i++) {
    const ProtobufCBinaryData *b = &p->string_val[i];
    const char *bytes = b->data ? (const char *)b->data : "";
    if (!deft_tensor_set_string(t, i, bytes, b->data ? b->len : 0, st)) return false;
  }
  /* A non-empty repeated tail shares one copy (one allocation, not one per element). */
  if (n > (int64_t)p->n_string_val &&
      !deft_tensor_fill_string_shared(t, (int64_t)p->n_string_val, n, (const char *)last->data,
                                      last->len, st))
    return false;
  return true;
}

/* The number of values in the typed field that belongs to dtype, and a pointer to them (after
 * conversion for the fields whose element type differs from deft's). */
static bool decode_typed(deft_tensor *t, const Tensorflow__TensorProto *p, bool z,
                         deft_status *st) {
  void *dst = t->n ? t->buf->data : NULL;
  int64_t n = t->n;
  switch (t->dtype) {
    case DEFT_FLOAT: fill_repeat(dst, p->float_val, p->n_float_val, n, 4, z); return true;
    case DEFT_DOUBLE: fill_repeat(dst, p->double_val, p->n_double_val, n, 8, z); return true;
    case DEFT_INT32:
    case DEFT_QINT32: fill_repeat(dst, p->int_val, p->n_int_val, n, 4, z); return true;
    case DEFT_INT64: fill_repeat(dst, p->int64_val, p->n_int64_val, n, 8, z); return true;
    case DEFT_UINT8:
    case DEFT_QUINT8:
    case DEFT_QINT8: /* int_val, truncated to the low byte (two's complement for qint8) */
      fill_small(dst, p->int_val, NULL, p->n_int_val, n, z);
      return true;
    case DEFT_BOOL: fill_small(dst, NULL, p->bool_val, p->n_bool_val, n, z); return true;
    case DEFT_STRING: return decode_strings(t, p, st);
    default: return true;
  }
}

/* Bytes the string values of a string tensor of n elements take once decoded (the TF
 * repeat-last rule copies the last value into every remaining element). Saturates. */
static uint64_t string_bytes(const Tensorflow__TensorProto *p, uint64_t n) {
  uint64_t sum = 0, have = p->n_string_val;
  for (uint64_t i = 0; i < have && i < n; i++) sum += p->string_val[i].len;
  if (have && have < n) {
    uint64_t last = p->string_val[have - 1].len;
    if (last && n - have > (UINT64_MAX - sum) / last) return UINT64_MAX;
    sum += (n - have) * last;
  }
  return sum;
}

deft_tensor *deft_tensor_from_proto_limited(const Tensorflow__TensorProto *p, uint64_t *budget,
                                            deft_status *st) {
  int dtype = (int)p->dtype;
  if (!deft_dtype_is_valid(dtype)) {
    deft_status_set(st, DEFT_UNIMPLEMENTED, "tensor of dtype %s (%d) is not supported by deft",
                    tf_type_text(dtype), dtype);
    return NULL;
  }
  deft_shape shape;
  if (!deft_shape_from_proto(p->tensor_shape, &shape, st)) return NULL;
  if (!deft_shape_is_fully_defined(shape)) {
    char buf[128];
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "tensor shape %s is not fully defined",
                    deft_shape_format(shape, buf, sizeof buf));
    return NULL;
  }
  /* Bound the size before allocating. Overflow-safe: the product of the non-zero dims is
   * checked (a zero dim must not hide an overflow of the others). */
  uint64_t esize = dtype == DEFT_STRING ? sizeof(deft_bytes) : deft_dtype_size((deft_dtype)dtype);
  uint64_t limit = DEFT_TENSOR_PROTO_MAX_BYTES, count = 1;
  if (*budget < limit) limit = *budget;
  bool zero = false, over = false;
  for (int i = 0; i < shape.rank; i++) {
    uint64_t d = (uint64_t)shape.dims[i];
    if (d == 0) {
      zero = true;
      continue;
    }
    if (count > DEFT_TENSOR_PROTO_MAX_BYTES / esize / d) over = true;
    else count *= d;
  }
  uint64_t bytes = 0;
  if (!over && !zero) {
    bytes = count * esize;
    if (dtype == DEFT_STRING) {
      uint64_t sb = string_bytes(p, count);
      bytes = sb > UINT64_MAX - bytes ? UINT64_MAX : bytes + sb;
    }
  }
  if (over || bytes > limit) {
    char buf[256];
    deft_shape_format(shape, buf, sizeof buf);
    if (over || bytes > DEFT_TENSOR_PROTO_MAX_BYTES)
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED,
                      "tensor of shape %s and dtype %s exceeds deft's limit of %zu bytes", buf,
                      tf_type_text(dtype), DEFT_TENSOR_PROTO_MAX_BYTES);
    else
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED,
                      "tensor of shape %s and dtype %s needs %" PRIu64 " bytes, more than the "
                      "%" PRIu64 " bytes left of the budget for decoded constants", buf,
                      tf_type_text(dtype), bytes, *budget);
    return NULL;
  }
  int64_t n = zero ? 0 : (int64_t)count;
  size_t content = p->tensor_content.len;
  if (content && dtype == DEFT_STRING) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "string tensor uses tensor_content (%zu bytes); strings must use string_val",
                    content);
    return NULL;
  }
  if (content && content != (size_t)n * (size_t)esize) {
    char buf[256];
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "tensor_content has %zu bytes, but a %s tensor of shape %s needs %" PRId64,
                    content, tf_type_text(dtype), deft_shape_format(shape, buf, sizeof buf),
                    n * (int64_t)esize);
    return NULL;
  }
  /* Not zeroed first unless the repeated tail is zero: the content or the fill below writes
   * every element (strings start empty). */
  deft_tensor *t = deft_calloc(1, sizeof *t);
  if (!t) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory decoding a tensor");
    return NULL;
  }
  bool z = !content && zero_tail(p, (deft_dtype)dtype, n);
  if (!(z ? deft_tensor_ensure_zeroed : deft_tensor_ensure)(t, (deft_dtype)dtype, shape.dims,
                                                           shape.rank, st)) {
    deft_free(t);
    return NULL;
  }
  if (content) {
    memcpy(t->buf->data, p->tensor_content.data, content);
    if (dtype == DEFT_BOOL) {
      bool *b = deft_tensor_b(t);
      for (int64_t i = 0; i < n; i++) b[i] = p->tensor_content.data[i] != 0;
    }
  } else if (!decode_typed(t, p, z, st)) {
    deft_tensor_free(t);
    return NULL;
  }
  *budget -= bytes;
  return t;
}

deft_tensor *deft_tensor_from_proto(const Tensorflow__TensorProto *p, deft_status *st) {
  uint64_t budget = DEFT_TENSOR_PROTO_DEFAULT_BUDGET;
  return deft_tensor_from_proto_limited(p, &budget, st);
}

deft_tensor *deft_tensor_parse_proto(const uint8_t *data, size_t len, deft_status *st) {
  Tensorflow__TensorProto *p = (Tensorflow__TensorProto *)deft_pb_unpack(
      &tensorflow__tensor_proto__descriptor, data, len, st);
  if (!p) return NULL;
  deft_tensor *t = deft_tensor_from_proto(p, st);
  tensorflow__tensor_proto__free_unpacked(p, deft_protobuf_allocator());
  return t;
}

/* ---- the pool ---- */

static void *pool_chunk(deft_pb_pool *pool, size_t size) {
  if (pool->n == pool->cap) {
    size_t ncap = pool->cap ? pool->cap * 2 : 16;
    void **n = deft_realloc(pool->ptrs, ncap * sizeof *n);
    if (!n) return NULL;
    pool->ptrs = n;
    pool->cap = ncap;
  }
  void *p = deft_calloc(1, size);
  if (p) pool->ptrs[pool->n++] = p;
  return p;
}

void *deft_pb_pool_alloc(deft_pb_pool *pool, size_t size) {
  if (pool->failed) return NULL;
  size = size ? (size + 15) & ~(size_t)15 : 16;
  if (size < 16) { /* overflowed */
    pool->failed = true;
    return NULL;
  }
  void *p;
  if (size > 4096) { /* its own chunk */
    p = pool_chunk(pool, size);
  } else {
    if (size > pool->left) {
      /* small first (many pools hold a few allocations: one per decoded attr), doubling */
      pool->chunk = pool->chunk ? pool->chunk * 2 : 512;
      while (pool->chunk < size) pool->chunk *= 2;
      if (pool->chunk > ((size_t)1 << 20)) pool->chunk = (size_t)1 << 20;
      pool->cur = pool_chunk(pool, pool->chunk);
      pool->left = pool->cur ? pool->chunk : 0;
    }
    p = pool->cur;
    if (p) {
      pool->cur += size;
      pool->left -= size;
    }
  }
  if (!p) pool->failed = true;
  return p;
}

char *deft_pb_pool_strndup(deft_pb_pool *pool, const char *bytes, size_t len) {
  char *s = deft_pb_pool_alloc(pool, len + 1);
  if (s && len) memcpy(s, bytes, len);
  return s;
}

char *deft_pb_pool_strdup(deft_pb_pool *pool, const char *s) {
  return deft_pb_pool_strndup(pool, s, strlen(s));
}

char *deft_pb_pool_printf(deft_pb_pool *pool, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return NULL;
  char *s = deft_pb_pool_alloc(pool, (size_t)n + 1);
  if (!s) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void deft_pb_pool_free(deft_pb_pool *pool) {
  for (size_t i = 0; i < pool->n; i++) deft_free(pool->ptrs[i]);
  deft_free(pool->ptrs);
  memset(pool, 0, sizeof *pool);
}

/* ---- encoding ---- */

Tensorflow__TensorShapeProto *deft_shape_to_proto(deft_pb_pool *pool, deft_shape s) {
  Tensorflow__TensorShapeProto *p = deft_pb_pool_alloc(pool, sizeof *p);
  if (!p) return NULL;
  tensorflow__tensor_shape_proto__init(p);
  if (s.rank < 0) {
    p->unknown_rank = true;
    return p;
  }
  if (s.rank == 0) return p;
  p->dim = deft_pb_pool_alloc(pool, sizeof *p->dim * (size_t)s.rank);
  if (!p->dim) return NULL;
  for (int i = 0; i < s.rank; i++) {
    Tensorflow__TensorShapeProto__Dim *d = deft_pb_pool_alloc(pool, sizeof *d);
    if (!d) return NULL;
    tensorflow__tensor_shape_proto__dim__init(d);
    d->size = s.dims[i] < 0 ? -1 : s.dims[i];
    p->dim[i] = d;
  }
  p->n_dim = (size_t)s.rank;
  return p;
}

static bool all_equal(const deft_tensor *t) {
  size_t es = deft_dtype_size(t->dtype);
  const char *d = t->buf->data;
  for (int64_t i = 1; i < t->n; i++)
    if (memcmp(d, d + (size_t)i * es, es) != 0) return false;
  return true;
}

/* Sets the typed field of p's dtype to `count` values taken from t. */
static bool encode_typed(deft_pb_pool *pool, Tensorflow__TensorProto *p, const deft_tensor *t,
                         size_t count) {
  const void *src = t->buf->data;
  switch (t->dtype) {
    case DEFT_FLOAT:
      p->float_val = deft_pb_pool_alloc(pool, 4 * count);
      if (!p->float_val) return false;
      memcpy(p->float_val, src, 4 * count);
      p->n_float_val = count;
      return true;
    case DEFT_DOUBLE:
      p->double_val = deft_pb_pool_alloc(pool, 8 * count);
      if (!p->double_val) return false;
      memcpy(p->double_val, src, 8 * count);
      p->n_double_val = count;
      return true;
    case DEFT_INT32:
    case DEFT_QINT32:
      p->int_val = deft_pb_pool_alloc(pool, 4 * count);
      if (!p->int_val) return false;
      memcpy(p->int_val, src, 4 * count);
      p->n_int_val = count;
      return true;
    case DEFT_UINT8:
    case DEFT_QUINT8:
    case DEFT_QINT8:
      p->int_val = deft_pb_pool_alloc(pool, 4 * count);
      if (!p->int_val) return false;
      for (size_t i = 0; i < count; i++)
        p->int_val[i] = t->dtype == DEFT_QINT8 ? ((const int8_t *)src)[i]
                                               : ((const uint8_t *)src)[i];
      p->n_int_val = count;
      return true;
    case DEFT_INT64:
      p->int64_val = deft_pb_pool_alloc(pool, 8 * count);
      if (!p->int64_val) return false;
      memcpy(p->int64_val, src, 8 * count);
      p->n_int64_val = count;
      return true;
    case DEFT_BOOL:
      p->bool_val = deft_pb_pool_alloc(pool, sizeof *p->bool_val * count);
      if (!p->bool_val) return false;
      for (size_t i = 0; i < count; i++) p->bool_val[i] = ((const bool *)src)[i];
      p->n_bool_val = count;
      return true;
    default: return false;
  }
}

Tensorflow__TensorProto *deft_tensor_to_proto(deft_pb_pool *pool, const deft_tensor *t,
                                              deft_status *st) {
  Tensorflow__TensorProto *p = deft_pb_pool_alloc(pool, sizeof *p);
  if (!p) goto oom;
  tensorflow__tensor_proto__init(p);
  p->dtype = (Tensorflow__DataType)t->dtype;
  p->tensor_shape = deft_shape_to_proto(pool, deft_tensor_shape(t));
  if (!p->tensor_shape) goto oom;
  if (t->n == 0 || !t->buf) return p;
  if (t->dtype == DEFT_STRING) {
    /* A repeated tail is written once: readers (TF's and deft's) repeat the last string_val
     * into the remaining elements. Without this, a tiny proto that decodes to millions of empty
     * strings would re-encode to millions of entries. */
    size_t lastlen;
    const char *last = deft_tensor_string(t, t->n - 1, &lastlen);
    int64_t m = t->n; /* elements written: up to and including the first of the tail */
    while (m > 1) {
      size_t len;
      const char *s = deft_tensor_string(t, m - 2, &len);
      if (len != lastlen || (len && s != last && memcmp(s, last, len) != 0))
        break;
      m--;
    }
    p->string_val = deft_pb_pool_alloc(pool, sizeof *p->string_val * (size_t)m);
    if (!p->string_val) goto oom;
    for (int64_t i = 0; i < m; i++) {
      size_t len;
      const char *s = deft_tensor_string(t, i, &len);
      p->string_val[i].data = (uint8_t *)deft_pb_pool_strndup(pool, s ? s : "", s ? len : 0);
      if (!p->string_val[i].data) goto oom;
      p->string_val[i].len = s ? len : 0;
    }
    p->n_string_val = (size_t)m;
    return p;
  }
  if (t->n == 1 || all_equal(t)) {
    if (!encode_typed(pool, p, t, 1)) goto oom;
    return p;
  }
  size_t bytes = deft_tensor_nbytes(t);
  p->tensor_content.data = deft_pb_pool_alloc(pool, bytes);
  if (!p->tensor_content.data) goto oom;
  memcpy(p->tensor_content.data, t->buf->data, bytes);
  p->tensor_content.len = bytes;
  return p;
oom:
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory encoding a TensorProto");
  return NULL;
}

bool deft_pb_pack(const ProtobufCMessage *msg, const char *what, uint8_t **data, size_t *len,
                  deft_status *st) {
  *data = NULL;
  *len = 0;
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > (size_t)INT32_MAX) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED,
                    "%s would be %zu bytes, more than a protobuf message may hold (2 GiB)", what,
                    n);
    return false;
  }
  uint8_t *buf = deft_malloc(n ? n : 1);
  if (!buf) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory serializing %s (%zu bytes)",
                    what, n);
    return false;
  }
  size_t w = protobuf_c_message_pack(msg, buf);
  if (w != n) {
    deft_free(buf);
    deft_status_set(st, DEFT_INTERNAL, "serializing %s wrote %zu bytes, expected %zu", what, w,
                    n);
    return false;
  }
  *data = buf;
  *len = n;
  return true;
}

bool deft_tensor_serialize_proto(const deft_tensor *t, uint8_t **data, size_t *len,
                                 deft_status *st) {
  deft_pb_pool pool = {0};
  Tensorflow__TensorProto *p = deft_tensor_to_proto(&pool, t, st);
  bool ok = p && deft_pb_pack(&p->base, "TensorProto", data, len, st);
  deft_pb_pool_free(&pool);
  return ok;
}
