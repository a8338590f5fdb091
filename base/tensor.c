/* SPDX-License-Identifier: Apache-2.0 */
/* base/tensor.c - tensors, shapes and refcounted buffers (see include/deft/tensor.h). */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"

/* ---- shapes and dtypes ---- */

deft_shape deft_shape_make(int rank, const int64_t *dims) {
  deft_shape s;
  memset(&s, 0, sizeof s);
  if (rank < 0 || rank > DEFT_MAX_RANK) {
    s.rank = -1;
    return s;
  }
  s.rank = rank;
  for (int i = 0; i < rank; i++) s.dims[i] = dims[i] < 0 ? -1 : dims[i];
  return s;
}

deft_shape deft_shape_unknown(void) { return deft_shape_make(-1, NULL); }

bool deft_shape_is_fully_defined(deft_shape s) {
  if (s.rank < 0) return false;
  for (int i = 0; i < s.rank; i++)
    if (s.dims[i] < 0) return false;
  return true;
}

int64_t deft_shape_num_elements(deft_shape s) {
  if (!deft_shape_is_fully_defined(s)) return -1;
  int64_t n = 1;
  for (int i = 0; i < s.rank; i++) n *= s.dims[i];
  return n;
}

char *deft_shape_format(deft_shape s, char *buf, size_t size) {
  if (!size) return buf;
  if (s.rank < 0) {
    snprintf(buf, size, "<unknown>");
    return buf;
  }
  size_t pos = 0;
  buf[0] = 0;
  pos += (size_t)snprintf(buf + pos, size - pos, "[");
  for (int i = 0; i < s.rank && pos < size; i++) {
    if (s.dims[i] < 0)
      pos += (size_t)snprintf(buf + pos, size - pos, "%s?", i ? "," : "");
    else
      pos += (size_t)snprintf(buf + pos, size - pos, "%s%" PRId64, i ? "," : "", s.dims[i]);
  }
  if (pos < size) snprintf(buf + pos, size - pos, "]");
  return buf;
}

/* deft_dtype_size, deft_dtype_name and deft_dtype_is_valid are in base/dtypes.c. */

/* ---- buffers ---- */

/* Generations are unique in the process: each thread takes blocks of GEN_BLOCK numbers from
 * next_gen and hands them out without atomics or shared cache lines. */
#define GEN_BLOCK ((uint64_t)1 << 16)
#define DEFT_TLS_IE __attribute__((tls_model("initial-exec")))
static _Atomic uint64_t next_gen = 1;
static _Thread_local uint64_t gen_next DEFT_TLS_IE, gen_end DEFT_TLS_IE;

static uint64_t new_gen(void) {
  if (gen_next == gen_end) {
    gen_next = atomic_fetch_add_explicit(&next_gen, GEN_BLOCK, memory_order_relaxed);
    gen_end = gen_next + GEN_BLOCK;
  }
  return gen_next++;
}

void deft_buffer_touch(deft_buffer *b) {
  if (b) atomic_store_explicit(&b->gen, new_gen(), memory_order_relaxed);
}

static void host_copy(void *dst, const void *src, size_t nbytes) {
  if (nbytes) memcpy(dst, src, nbytes);
}

const deft_memory deft_host_memory = {"host", deft_aligned_alloc, deft_aligned_calloc,
                                      deft_aligned_free, host_copy, host_copy};

deft_buffer *deft_buffer_new(size_t nbytes) {
  return deft_buffer_new_in(&deft_host_memory, nbytes);
}

static deft_buffer *buffer_new(const deft_memory *memory, size_t nbytes, bool zeroed) {
  deft_buffer *b = deft_malloc(sizeof *b);
  if (!b) return NULL;
  b->memory = memory;
  b->data = zeroed ? memory->alloc_zeroed(nbytes) : memory->alloc(nbytes);
  if (!b->data) {
    deft_free(b);
    return NULL;
  }
  atomic_init(&b->refcount, 1);
  atomic_init(&b->gen, new_gen()); /* a new buffer is new contents */
  b->capacity = nbytes;
  b->nstrings = 0;
  b->shared_str = NULL;
  b->base = NULL;
  deft_buffer_touch(b);
  return b;
}

deft_buffer *deft_buffer_new_in(const deft_memory *memory, size_t nbytes) {
  return buffer_new(memory, nbytes, false);
}

deft_buffer *deft_buffer_new_zeroed_in(const deft_memory *memory, size_t nbytes) {
  return buffer_new(memory, nbytes, true);
}

deft_buffer *deft_buffer_view(deft_buffer *base, size_t offset, size_t nbytes) {
  assert(!base->nstrings && offset + nbytes <= base->capacity && offset % 64 == 0);
  deft_buffer *b = deft_malloc(sizeof *b);
  if (!b) return NULL;
  while (base->base) { /* a view of a view points into the owning block */
    offset += (size_t)((char *)base->data - (char *)base->base->data);
    base = base->base;
  }
  deft_buffer_ref(base);
  b->base = base;
  atomic_init(&b->refcount, 1);
  atomic_init(&b->gen, new_gen()); /* its own generation: a view is not its base */
  b->capacity = nbytes;
  b->data = (char *)base->data + offset;
  b->memory = base->memory;
  b->nstrings = 0;
  b->shared_str = NULL;
  return b;
}

void deft_buffer_ref(deft_buffer *b) {
  if (b) atomic_fetch_add_explicit(&b->refcount, 1, memory_order_relaxed);
}

void deft_buffer_unref(deft_buffer *b) {
  if (!b) return;
  int was = atomic_fetch_sub_explicit(&b->refcount, 1, memory_order_acq_rel);
  assert(was > 0);
  if (was > 1) return;
  if (b->base) {
    deft_buffer_unref(b->base);
    deft_free(b);
    return;
  }
  if (b->nstrings) {
    deft_bytes *s = b->data;
    for (int64_t i = 0; i < b->nstrings; i++)
      if (s[i].data != b->shared_str)
        deft_free(s[i].data);
    deft_free(b->shared_str);
  }
  b->memory->free(b->data);
  deft_free(b);
}

/* ---- embedded tensor values ---- */

bool deft_tensor_check_shape(deft_dtype dtype, const int64_t *dims, int rank, int64_t *n,
                             size_t *nbytes, deft_status *status) {
  if (!deft_dtype_is_valid(dtype)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "invalid dtype %d", (int)dtype);
    return false;
  }
  if (rank < 0 || rank > DEFT_MAX_RANK) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "rank %d is outside [0, %d]", rank,
                    DEFT_MAX_RANK);
    return false;
  }
  /* The product of the non-zero dims must fit even when a zero dim makes the count 0: code
   * that multiplies a subset of the dims (rows, slices) relies on it. */
  int64_t count = 1;
  bool zero = false;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "dimension %d is %" PRId64
                      ": a tensor's dims must be known and non-negative", i, dims[i]);
      return false;
    }
    if (dims[i] == 0) {
      zero = true;
      continue;
    }
    if (__builtin_mul_overflow(count, dims[i], &count)) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "tensor shape overflows int64");
      return false;
    }
  }
  if (zero) count = 0;
  size_t esize = dtype == DEFT_STRING ? sizeof(deft_bytes) : deft_dtype_size(dtype);
  size_t bytes;
  if (__builtin_mul_overflow((size_t)count, esize, &bytes) || bytes > SIZE_MAX / 2) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "tensor of %" PRId64 " elements is too large",
                    count);
    return false;
  }
  *n = count;
  *nbytes = bytes;
  return true;
}

static void set_dims(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank, int64_t n) {
  t->dtype = dtype;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  for (int i = rank; i < DEFT_MAX_RANK; i++) t->dims[i] = 0;
  t->n = n;
}

void deft_tensor_set_layout(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                            int64_t n) {
  set_dims(t, dtype, dims, rank, n);
}

static bool tensor_ensure(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                          bool zeroed, deft_status *status) {
  int64_t n;
  size_t nbytes;
  if (!deft_tensor_check_shape(dtype, dims, rank, &n, &nbytes, status)) return false;
  deft_buffer *b = t->buf;
  if (b && deft_buffer_exclusive(b) && b->capacity >= nbytes && dtype != DEFT_STRING &&
      !b->nstrings) {
    set_dims(t, dtype, dims, rank, n);
    deft_buffer_touch(b);
    if (zeroed && nbytes) memset(b->data, 0, nbytes);
    return true;
  }
  /* strings start empty: their elements are zeroed too */
  deft_buffer *nb = zeroed || dtype == DEFT_STRING
                        ? deft_buffer_new_zeroed_in(&deft_host_memory, nbytes)
                        : deft_buffer_new(nbytes);
  if (!nb) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating %zu bytes", nbytes);
    return false;
  }
  if (dtype == DEFT_STRING) nb->nstrings = n;
  deft_buffer_unref(t->buf);
  t->buf = nb;
  set_dims(t, dtype, dims, rank, n);
  return true;
}

bool deft_tensor_ensure(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                        deft_status *status) {
  return tensor_ensure(t, dtype, dims, rank, false, status);
}

bool deft_tensor_ensure_zeroed(deft_tensor *t, deft_dtype dtype, const int64_t *dims, int rank,
                               deft_status *status) {
  return tensor_ensure(t, dtype, dims, rank, true, status);
}

void deft_tensor_reset(deft_tensor *t) {
  deft_buffer_unref(t->buf);
  t->buf = NULL;
}

void deft_tensor_set_shared(deft_tensor *dst, const deft_tensor *src) {
  if (dst == src) return;
  deft_buffer_ref(src->buf);
  deft_buffer_unref(dst->buf);
  *dst = *src;
}

bool deft_tensor_make_unique(deft_tensor *t, deft_status *status) {
  if (!t->buf || deft_buffer_exclusive(t->buf)) {
    deft_buffer_touch(t->buf);
    return true;
  }
  deft_tensor copy = {0};
  if (!deft_tensor_ensure(&copy, t->dtype, t->dims, t->rank, status)) return false;
  if (t->dtype == DEFT_STRING) {
    deft_bytes *src = deft_tensor_str(t), *dst = deft_tensor_str(&copy);
    const char *shared = t->buf->shared_str;
    if (shared) { /* the copy shares its own copy where the original shares */
      size_t len = 0;
      for (int64_t i = 0; i < t->n && !len; i++)
        if (src[i].data == shared)
          len = src[i].len;
      copy.buf->shared_str = len ? deft_strndup(shared, len) : NULL;
      if (len && !copy.buf->shared_str) {
        deft_tensor_reset(&copy);
        deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
        return false;
      }
    }
    for (int64_t i = 0; i < t->n; i++) {
      if (src[i].data && src[i].data == shared) {
        dst[i] = (deft_bytes){copy.buf->shared_str, src[i].len};
      } else if (src[i].data) {
        dst[i].data = deft_strndup(src[i].data, src[i].len);
        if (!dst[i].data) {
          deft_tensor_reset(&copy);
          deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
          return false;
        }
        dst[i].len = src[i].len;
      }
    }
  } else {
    memcpy(copy.buf->data, t->buf->data, (size_t)t->n * deft_dtype_size(t->dtype));
  }
  deft_tensor_reset(t);
  *t = copy;
  return true;
}

void deft_tensor_reshape_inplace(deft_tensor *t, const int64_t *dims, int rank) {
  set_dims(t, t->dtype, dims, rank, t->n);
}

int64_t deft_tensor_index_at(const deft_tensor *t, int64_t i) {
  if (t->dtype == DEFT_INT64) return deft_tensor_i64(t)[i];
  return deft_tensor_i32(t)[i];
}

/* ---- public heap tensors ---- */

deft_tensor *deft_tensor_new(deft_dtype dtype, const int64_t *dims, int rank,
                             deft_status *status) {
  deft_tensor *t = deft_calloc(1, sizeof *t);
  if (!t) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating a tensor");
    return NULL;
  }
  if (!deft_tensor_ensure_zeroed(t, dtype, dims, rank, status)) {
    deft_free(t);
    return NULL;
  }
  return t;
}

deft_tensor *deft_tensor_from_data(deft_dtype dtype, const int64_t *dims, int rank,
                                   const void *data, size_t nbytes, deft_status *status) {
  if (dtype == DEFT_STRING) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_tensor_from_data does not take string tensors; use "
                    "deft_tensor_set_string");
    return NULL;
  }
  deft_tensor *t = deft_tensor_new(dtype, dims, rank, status);
  if (!t) return NULL;
  size_t want = deft_tensor_nbytes(t);
  if (nbytes != want) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "data has %zu bytes, but a %s tensor of %" PRId64 " elements needs %zu",
                    nbytes, deft_dtype_name(dtype), t->n, want);
    deft_tensor_free(t);
    return NULL;
  }
  if (want) memcpy(t->buf->data, data, want);
  return t;
}

static deft_tensor *scalar(deft_dtype dtype, const void *v) {
  deft_tensor *t = deft_tensor_new(dtype, NULL, 0, NULL);
  if (t) memcpy(t->buf->data, v, deft_dtype_size(dtype));
  return t;
}

deft_tensor *deft_tensor_scalar_float(float v) { return scalar(DEFT_FLOAT, &v); }
deft_tensor *deft_tensor_scalar_double(double v) { return scalar(DEFT_DOUBLE, &v); }
deft_tensor *deft_tensor_scalar_int32(int32_t v) { return scalar(DEFT_INT32, &v); }
deft_tensor *deft_tensor_scalar_int64(int64_t v) { return scalar(DEFT_INT64, &v); }
deft_tensor *deft_tensor_scalar_bool(bool v) { return scalar(DEFT_BOOL, &v); }

deft_tensor *deft_tensor_scalar_string(const char *s) {
  deft_tensor *t = deft_tensor_new(DEFT_STRING, NULL, 0, NULL);
  if (t && !deft_tensor_set_string(t, 0, s, strlen(s), NULL)) {
    deft_tensor_free(t);
    return NULL;
  }
  return t;
}

deft_tensor *deft_tensor_share(const deft_tensor *t) {
  deft_tensor *r = deft_malloc(sizeof *r);
  if (!r) return NULL;
  deft_buffer_ref(t->buf);
  *r = *t;
  return r;
}

deft_tensor *deft_tensor_copy(const deft_tensor *t, deft_status *status) {
  deft_tensor *r = deft_tensor_share(t);
  if (!r) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory copying a tensor");
    return NULL;
  }
  if (!deft_tensor_make_unique(r, status)) {
    deft_tensor_free(r);
    return NULL;
  }
  return r;
}

void deft_tensor_free(deft_tensor *t) {
  if (!t) return;
  deft_buffer_unref(t->buf);
  deft_free(t);
}

deft_dtype deft_tensor_dtype(const deft_tensor *t) { return t->dtype; }
int deft_tensor_rank(const deft_tensor *t) { return t->rank; }
int64_t deft_tensor_dim(const deft_tensor *t, int i) {
  assert(i >= 0 && i < t->rank);
  return t->dims[i];
}
deft_shape deft_tensor_shape(const deft_tensor *t) { return deft_shape_make(t->rank, t->dims); }
int64_t deft_tensor_num_elements(const deft_tensor *t) { return t->n; }
size_t deft_tensor_nbytes(const deft_tensor *t) {
  return t->dtype == DEFT_STRING ? 0 : (size_t)t->n * deft_dtype_size(t->dtype);
}
void *deft_tensor_data(const deft_tensor *t) {
  if (t->dtype == DEFT_STRING || !t->buf) return NULL;
  return t->buf->data; /* no touch: see deft_buffer_touch */
}

const char *deft_tensor_string(const deft_tensor *t, int64_t i, size_t *len) {
  if (t->dtype != DEFT_STRING || i < 0 || i >= t->n) return NULL;
  deft_bytes *b = &deft_tensor_str(t)[i];
  if (len) *len = b->len;
  return b->data ? b->data : "";
}

bool deft_tensor_set_string(deft_tensor *t, int64_t i, const char *bytes, size_t len,
                            deft_status *status) {
  if (t->dtype != DEFT_STRING || i < 0 || i >= t->n) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_tensor_set_string: not a string tensor, or index %" PRId64
                    " out of range", i);
    return false;
  }
  char *copy = len ? deft_strndup(bytes, len) : NULL; /* "" is stored as NULL */
  if (len && !copy) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory copying a string");
    return false;
  }
  deft_buffer_string_clear(t->buf, i);
  deft_bytes *b = &deft_tensor_str(t)[i];
  b->data = copy;
  b->len = len;
  return true;
}

void deft_buffer_string_clear(deft_buffer *b, int64_t i) {
  deft_bytes *e = &((deft_bytes *)b->data)[i];
  if (e->data != b->shared_str)
    deft_free(e->data);
  e->data = NULL;
  e->len = 0;
}

bool deft_tensor_fill_string_shared(deft_tensor *t, int64_t begin, int64_t end, const char *bytes,
                                    size_t len, deft_status *status) {
  assert(t->dtype == DEFT_STRING && deft_buffer_exclusive(t->buf) && !t->buf->shared_str &&
         len > 0 && 0 <= begin && begin <= end && end <= t->n);
  char *copy = deft_strndup(bytes, len);
  if (!copy) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory copying a string");
    return false;
  }
  deft_bytes *s = deft_tensor_str(t);
  for (int64_t i = begin; i < end; i++) {
    deft_buffer_string_clear(t->buf, i);
    s[i] = (deft_bytes){copy, len};
  }
  t->buf->shared_str = copy;
  return true;
}

double deft_tensor_get_double(const deft_tensor *t, int64_t i) {
  if (i < 0 || i >= t->n || !t->buf) return 0;
  switch (t->dtype) {
    case DEFT_FLOAT: return deft_tensor_f32(t)[i];
    case DEFT_DOUBLE: return deft_tensor_f64(t)[i];
    case DEFT_INT32: return deft_tensor_i32(t)[i];
    case DEFT_INT64: return (double)deft_tensor_i64(t)[i];
    case DEFT_UINT8: case DEFT_QUINT8: return deft_tensor_u8(t)[i];
    case DEFT_QINT8: return ((const int8_t *)t->buf->data)[i];
    case DEFT_QINT32: return ((const int32_t *)t->buf->data)[i];
    case DEFT_BOOL: return deft_tensor_b(t)[i];
    default: return 0;
  }
}
