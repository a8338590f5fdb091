/* SPDX-License-Identifier: Apache-2.0 */
/* capi/tensor.c - TensorFlow's C API: TF_Status, TF_Buffer, TF_TString, the older
 * TF_StringEncode family, TF_DataTypeSize, TF_Version and TF_Tensor.
 *
 * DESIGN. A layer above deft's public API (include/deft/ headers only; see capi/capi_internal.h).
 * TF_Status is a deft_status. A TF_Tensor of one of deft's numeric dtypes is a deft_tensor (the
 * handle is the deft tensor: capi/capi_internal.h), so feeding it to a session costs no copy
 * and a fetched tensor no wrapper; TF_NewTensor copies the caller's bytes into it and calls the
 * deallocator at once, as TensorFlow does for buffers it cannot adopt. TF_STRING tensors are
 * boxes of TF_TString elements (TensorFlow 2's layout), converted to deft's string tensors when
 * fed; other dtypes are boxes of the caller's bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capi/capi_internal.h"

/* ---- status ---- */

TF_Status *TF_NewStatus(void) { return (TF_Status *)deft_status_new(); }
void TF_DeleteStatus(TF_Status *s) { deft_status_free(st_of(s)); }
void TF_SetStatus(TF_Status *s, TF_Code code, const char *msg) {
  if (code == TF_OK) deft_status_clear(st_of(s));
  else deft_status_set(st_of(s), (deft_code)code, "%s", msg ? msg : "");
}
void TF_SetPayload(TF_Status *s, const char *key, const char *value) {}
void TF_SetStatusFromIOError(TF_Status *s, int error_code, const char *context) {
  TF_Code c = TF_UNKNOWN;
  switch (error_code) {
    case 0: TF_SetStatus(s, TF_OK, ""); return;
    case ENOENT: case ENODEV: case ENXIO: case ESRCH: c = TF_NOT_FOUND; break;
    case EACCES: case EPERM: case EROFS: c = TF_PERMISSION_DENIED; break;
    case EEXIST: c = TF_ALREADY_EXISTS; break;
    case EINVAL: case ENAMETOOLONG: case EISDIR: case ENOTDIR: case E2BIG: case EDOM:
    case EFAULT: case EILSEQ: case ENOPROTOOPT: case ENOSTR: case ENOTSOCK: case ENOTTY:
    case EPROTOTYPE: case ESPIPE: c = TF_INVALID_ARGUMENT; break;
    case ENOSPC: case EMFILE: case ENFILE: case ENOMEM: case EFBIG: case EMLINK: case ENOBUFS:
    case ENOLCK: case EOVERFLOW: case ERANGE: c = TF_RESOURCE_EXHAUSTED; break;
    case ETIMEDOUT: c = TF_DEADLINE_EXCEEDED; break;
    case EAGAIN: case EBUSY: case ECONNREFUSED: case ECONNRESET: case EINTR: case EHOSTUNREACH:
    case ENETDOWN: case ENETUNREACH: case EPIPE: c = TF_UNAVAILABLE; break;
    case ENOSYS: case ENOTSUP: case EAFNOSUPPORT: case EPROTONOSUPPORT: c = TF_UNIMPLEMENTED; break;
    case ECANCELED: c = TF_CANCELLED; break;
    case EDEADLK: case ESTALE: c = TF_ABORTED; break;
    default: c = TF_UNKNOWN; break;
  }
  deft_status_set(st_of(s), (deft_code)c, "%s; %s", context ? context : "", strerror(error_code));
}
TF_Code TF_GetCode(const TF_Status *s) { return (TF_Code)deft_status_code((const deft_status *)s); }
const char *TF_Message(const TF_Status *s) { return deft_status_message((const deft_status *)s); }

void capi_unimplemented(TF_Status *status, const char *fn) {
  deft_status_set(st_of(status), DEFT_UNIMPLEMENTED, "%s is not implemented by deft", fn);
}

/* ---- version, dtypes ---- */

const char *TF_Version(void) { return "2.13.0-deft"; }

size_t TF_DataTypeSize(TF_DataType dt) {
  switch (dt) {
    case TF_BOOL: case TF_INT8: case TF_UINT8: case TF_QINT8: case TF_QUINT8: return 1;
    case TF_INT16: case TF_UINT16: case TF_QINT16: case TF_QUINT16: case TF_HALF:
    case TF_BFLOAT16: return 2;
    case TF_FLOAT: case TF_INT32: case TF_UINT32: case TF_QINT32: return 4;
    case TF_DOUBLE: case TF_INT64: case TF_UINT64: case TF_COMPLEX64: return 8;
    case TF_COMPLEX128: return 16;
    default: return 0;
  }
}

bool capi_dtype_is_deft_numeric(TF_DataType dt) {
  return dt == TF_FLOAT || dt == TF_DOUBLE || dt == TF_INT32 || dt == TF_UINT8 ||
         dt == TF_INT64 || dt == TF_BOOL;
}

/* ---- buffers ---- */

static void free_data(void *data, size_t length) { free(data); }

TF_Buffer *TF_NewBuffer(void) { return calloc(1, sizeof(TF_Buffer)); }

TF_Buffer *TF_NewBufferFromString(const void *proto, size_t proto_len) {
  TF_Buffer *b = TF_NewBuffer();
  if (!b) return NULL;
  void *copy = malloc(proto_len ? proto_len : 1);
  if (!copy) {
    free(b);
    return NULL;
  }
  if (proto_len) memcpy(copy, proto, proto_len);
  b->data = copy;
  b->length = proto_len;
  b->data_deallocator = free_data;
  return b;
}

void TF_DeleteBuffer(TF_Buffer *buffer) {
  if (!buffer) return;
  if (buffer->data_deallocator) buffer->data_deallocator((void *)buffer->data, buffer->length);
  free(buffer);
}

TF_Buffer TF_GetBuffer(TF_Buffer *buffer) { return *buffer; }

/* ---- TF_TString ---- */

static TF_TString_Type tstr_type(const TF_TString *s) {
  return (TF_TString_Type)(s->u.raw.raw[0] & TF_TSTR_TYPE_MASK);
}

void TF_StringInit(TF_TString *str) { memset(str, 0, sizeof *str); }

TF_TString_Type TF_StringGetType(const TF_TString *str) { return tstr_type(str); }

size_t TF_StringGetSize(const TF_TString *str) {
  switch (tstr_type(str)) {
    case TF_TSTR_SMALL: return (size_t)(str->u.smll.size >> 2);
    case TF_TSTR_LARGE: return str->u.large.size >> 2;
    case TF_TSTR_OFFSET: return (size_t)(str->u.offset.size >> 2);
    case TF_TSTR_VIEW: return str->u.view.size >> 2;
    default: return 0;
  }
}

size_t TF_StringGetCapacity(const TF_TString *str) {
  switch (tstr_type(str)) {
    case TF_TSTR_SMALL: return TF_TString_SmallCapacity;
    case TF_TSTR_LARGE: return str->u.large.cap;
    default: return 0;
  }
}

const char *TF_StringGetDataPointer(const TF_TString *str) {
  switch (tstr_type(str)) {
    case TF_TSTR_SMALL: return str->u.smll.str;
    case TF_TSTR_LARGE: return str->u.large.ptr;
    case TF_TSTR_OFFSET: return (const char *)str + str->u.offset.offset;
    case TF_TSTR_VIEW: return str->u.view.ptr;
    default: return "";
  }
}

void TF_StringDealloc(TF_TString *str) {
  if (tstr_type(str) == TF_TSTR_LARGE) free(str->u.large.ptr);
  TF_StringInit(str);
}

void TF_StringCopy(TF_TString *dst, const char *src, size_t size) {
  if (size <= TF_TString_SmallCapacity) {
    /* src may point into dst (a view or small string being rewritten): copy first */
    char tmp[TF_TString_SmallCapacity + 1];
    if (size) memcpy(tmp, src, size);
    TF_StringDealloc(dst);
    dst->u.smll.size = (uint8_t)((size << 2) | TF_TSTR_SMALL);
    memcpy(dst->u.smll.str, tmp, size);
    dst->u.smll.str[size] = 0;
    return;
  }
  char *p = malloc(size + 1);
  if (!p) { /* no status here: leave an empty string rather than crash */
    TF_StringDealloc(dst);
    return;
  }
  memcpy(p, src, size);
  p[size] = 0;
  TF_StringDealloc(dst);
  dst->u.large.size = (size << 2) | TF_TSTR_LARGE;
  dst->u.large.cap = size;
  dst->u.large.ptr = p;
}

void TF_StringAssignView(TF_TString *dst, const char *src, size_t size) {
  TF_StringDealloc(dst);
  dst->u.view.size = (size << 2) | TF_TSTR_VIEW;
  dst->u.view.ptr = src;
}

/* ---- the older encoding: varint64 length, then the bytes ---- */

size_t TF_StringEncodedSize(size_t len) {
  size_t n = 1;
  for (uint64_t v = len; v >= 128; v >>= 7) n++;
  return n + len;
}

size_t TF_StringEncode(const char *src, size_t src_len, char *dst, size_t dst_len,
                       TF_Status *status) {
  size_t need = TF_StringEncodedSize(src_len);
  if (need > dst_len) {
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                    "dst_len (%zu) too small to encode a %zu-byte string", dst_len, src_len);
    return 0;
  }
  size_t pos = 0;
  uint64_t v = src_len;
  while (v >= 128) {
    dst[pos++] = (char)(v | 128);
    v >>= 7;
  }
  dst[pos++] = (char)v;
  memcpy(dst + pos, src, src_len);
  deft_status_clear(st_of(status));
  return need;
}

size_t TF_StringDecode(const char *src, size_t src_len, const char **dst, size_t *dst_len,
                       TF_Status *status) {
  uint64_t v = 0;
  size_t pos = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= src_len || shift > 63) {
      deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                      "invalid string encoding or truncated src buffer");
      return 0;
    }
    unsigned char c = (unsigned char)src[pos++];
    v |= (uint64_t)(c & 127) << shift;
    if (!(c & 128)) break;
  }
  if (v > src_len - pos) {
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                    "invalid string encoding or truncated src buffer");
    return 0;
  }
  *dst = src + pos;
  *dst_len = (size_t)v;
  deft_status_clear(st_of(status));
  return pos + (size_t)v;
}

/* ---- tensors ---- */

/* Element count of dims, or -1 for a negative dim or overflow. */
static int64_t count_of(const int64_t *dims, int num_dims) {
  int64_t n = 1;
  for (int i = 0; i < num_dims; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] && n > INT64_MAX / dims[i]) return -1;
    n *= dims[i];
  }
  return n;
}

static size_t elem_size(TF_DataType dt) {
  return dt == TF_STRING ? sizeof(TF_TString) : TF_DataTypeSize(dt);
}

static void no_dealloc(void *data, size_t len, void *arg) {}

/* True iff a tensor of dtype and rank is a deft tensor (not a box). */
static bool deft_backed(TF_DataType dtype, int num_dims) {
  return capi_dtype_is_deft_numeric(dtype) && num_dims <= DEFT_MAX_RANK;
}

/* A box of dtype and dims with no bytes yet, or NULL on OOM. */
static capi_box *new_box(TF_DataType dtype, const int64_t *dims, int num_dims) {
  capi_box *b = malloc(sizeof *b + sizeof(int64_t) * (size_t)num_dims);
  if (!b) return NULL;
  b->dtype = dtype;
  b->data = NULL;
  b->len = 0;
  b->dealloc = NULL;
  b->dealloc_arg = NULL;
  b->owns_strings = false;
  b->ndims = num_dims;
  if (num_dims) memcpy(b->dims, dims, sizeof(int64_t) * (size_t)num_dims);
  return b;
}

/* Releases b's bytes (its strings first, when deft allocated them). */
static void box_release_data(capi_box *b) {
  if (b->owns_strings) {
    TF_TString *s = b->data;
    for (size_t i = 0; i < b->len / sizeof(TF_TString); i++) TF_StringDealloc(&s[i]);
  }
  if (b->dealloc) b->dealloc(b->data, b->len, b->dealloc_arg);
  else free(b->data);
}

/* Shape checks shared by TF_NewTensor and TF_AllocateTensor: the byte size len must match. */
static bool shape_ok(TF_DataType dtype, const int64_t *dims, int num_dims, size_t len) {
  if (num_dims < 0 || (num_dims > 0 && !dims)) return false;
  int64_t n = count_of(dims, num_dims);
  size_t es = elem_size(dtype);
  if (n < 0 || es == 0) return false;
  if ((uint64_t)n > SIZE_MAX / es) return false;
  return (size_t)n * es == len;
}

TF_Tensor *TF_AllocateTensor(TF_DataType dtype, const int64_t *dims, int num_dims, size_t len) {
  if (!shape_ok(dtype, dims, num_dims, len)) return NULL;
  if (deft_backed(dtype, num_dims))
    return (TF_Tensor *)deft_tensor_new((deft_dtype)dtype, dims, num_dims, NULL);
  capi_box *b = new_box(dtype, dims, num_dims);
  if (!b) return NULL;
  b->data = calloc(1, len ? len : 1);
  if (!b->data) {
    free(b);
    return NULL;
  }
  b->len = len;
  b->dealloc = NULL; /* freed by TF_DeleteTensor */
  b->owns_strings = dtype == TF_STRING;
  return capi_tensor_of_box(b);
}

TF_Tensor *TF_NewTensor(TF_DataType dtype, const int64_t *dims, int num_dims, void *data,
                        size_t len, void (*deallocator)(void *data, size_t len, void *arg),
                        void *deallocator_arg) {
  if (!shape_ok(dtype, dims, num_dims, len)) {
    if (deallocator) deallocator(data, len, deallocator_arg);
    return NULL;
  }
  if (deft_backed(dtype, num_dims)) {
    deft_tensor *t = deft_tensor_from_data((deft_dtype)dtype, dims, num_dims, data, len, NULL);
    if (deallocator) deallocator(data, len, deallocator_arg);
    return (TF_Tensor *)t;
  }
  capi_box *b = new_box(dtype, dims, num_dims);
  if (!b) {
    if (deallocator) deallocator(data, len, deallocator_arg);
    return NULL;
  }
  b->data = data;
  b->len = len;
  b->dealloc = deallocator ? deallocator : no_dealloc;
  b->dealloc_arg = deallocator_arg;
  return capi_tensor_of_box(b);
}

void TF_DeleteTensor(TF_Tensor *t) {
  if (!capi_is_box(t)) {
    deft_tensor_free(capi_deft_of(t)); /* accepts NULL */
    return;
  }
  capi_box *b = capi_box_of(t);
  box_release_data(b);
  free(b);
}

TF_Tensor *TF_TensorMaybeMove(TF_Tensor *t) { return NULL; }

TF_DataType TF_TensorType(const TF_Tensor *t) {
  return capi_is_box(t) ? capi_box_of(t)->dtype : (TF_DataType)deft_tensor_dtype(capi_deft_of(t));
}
int TF_NumDims(const TF_Tensor *t) {
  return capi_is_box(t) ? capi_box_of(t)->ndims : deft_tensor_rank(capi_deft_of(t));
}
int64_t TF_Dim(const TF_Tensor *t, int dim_index) {
  if (dim_index < 0 || dim_index >= TF_NumDims(t)) return 0;
  return capi_is_box(t) ? capi_box_of(t)->dims[dim_index]
                        : deft_tensor_dim(capi_deft_of(t), dim_index);
}
size_t TF_TensorByteSize(const TF_Tensor *t) {
  return capi_is_box(t) ? capi_box_of(t)->len : deft_tensor_nbytes(capi_deft_of(t));
}
void *TF_TensorData(const TF_Tensor *t) {
  return capi_is_box(t) ? capi_box_of(t)->data : deft_tensor_data(capi_deft_of(t));
}
int64_t TF_TensorElementCount(const TF_Tensor *t) {
  if (!capi_is_box(t)) return deft_tensor_num_elements(capi_deft_of(t));
  const capi_box *b = capi_box_of(t);
  return count_of(b->dims, b->ndims);
}
bool TF_TensorIsAligned(const TF_Tensor *t) {
  return ((uintptr_t)TF_TensorData(t) & 63) == 0;
}

/* A deft tensor takes any shape of its element count (rank <= 8); a box keeps its rank. */
void TF_SetShape(TF_Tensor *t, const int64_t *dims, int num_dims) {
  if (num_dims < 0 || (num_dims > 0 && !dims)) return;
  if (!capi_is_box(t)) {
    deft_tensor_reshape(capi_deft_of(t), dims, num_dims, NULL);
    return;
  }
  capi_box *b = capi_box_of(t);
  if (num_dims != b->ndims || count_of(dims, num_dims) != count_of(b->dims, b->ndims)) return;
  if (num_dims) memcpy(b->dims, dims, sizeof(int64_t) * (size_t)num_dims);
}

void TF_TensorBitcastFrom(const TF_Tensor *from, TF_DataType type, TF_Tensor *to,
                          const int64_t *new_dims, int num_new_dims, TF_Status *status) {
  deft_status *st = st_of(status);
  size_t es = TF_DataTypeSize(type);
  int64_t n = new_dims || num_new_dims == 0 ? count_of(new_dims, num_new_dims) : -1;
  bool box = capi_is_box(to);
  if (TF_TensorType(from) == TF_STRING || type == TF_STRING || es == 0 || n < 0 ||
      (size_t)n * es != TF_TensorByteSize(from) ||
      (box ? num_new_dims != capi_box_of(to)->ndims : num_new_dims > DEFT_MAX_RANK)) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "TF_TensorBitcastFrom: cannot bitcast %zu bytes of dtype %d to dtype %d "
                    "with %d dims (the byte sizes must agree, the rank must be the target "
                    "tensor's or at most 8 for one of deft's dtypes; not for strings)",
                    TF_TensorByteSize(from), (int)TF_TensorType(from), (int)type, num_new_dims);
    return;
  }
  /* deft copies the bytes (TensorFlow shares them); from may be to. */
  const void *src = TF_TensorData(from);
  size_t len = TF_TensorByteSize(from);
  if (!box) {
    /* a deft tensor stays one: it can take another of deft's dtypes in place */
    if (!deft_backed(type, num_new_dims)) {
      deft_status_set(st, DEFT_UNIMPLEMENTED,
                      "TF_TensorBitcastFrom: the target tensor holds one of deft's dtypes (%s) "
                      "and cannot become dtype %d in place; bitcast into a tensor allocated "
                      "with dtype %d",
                      deft_dtype_name(deft_tensor_dtype(capi_deft_of(to))), (int)type,
                      (int)type);
      return;
    }
    deft_tensor *v = deft_tensor_from_data((deft_dtype)type, new_dims, num_new_dims, src, len, st);
    if (!v) return;
    deft_tensor_assign(capi_deft_of(to), v);
    deft_tensor_free(v);
    deft_status_clear(st);
    return;
  }
  capi_box *b = capi_box_of(to);
  void *copy = malloc(len ? len : 1);
  if (!copy) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "TF_TensorBitcastFrom: out of memory");
    return;
  }
  if (len) memcpy(copy, src, len);
  box_release_data(b);
  b->data = copy;
  b->len = len;
  b->dealloc = NULL;
  b->dealloc_arg = NULL;
  b->owns_strings = false;
  b->dtype = type;
  if (num_new_dims) memcpy(b->dims, new_dims, sizeof(int64_t) * (size_t)num_new_dims);
  deft_status_clear(st);
}

/* ---- conversion to and from deft tensors (sessions, attrs) ---- */

deft_tensor *capi_tensor_to_deft(const TF_Tensor *t, deft_status *st) {
  if (!capi_is_box(t)) {
    deft_tensor *s = deft_tensor_share(capi_deft_of(t));
    if (!s) deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return s;
  }
  const capi_box *b = capi_box_of(t);
  if (deft_backed(b->dtype, b->ndims)) /* bitcast into a box */
    return deft_tensor_from_data((deft_dtype)b->dtype, b->dims, b->ndims, b->data, b->len, st);
  if (b->dtype != TF_STRING) {
    deft_status_set(st, DEFT_UNIMPLEMENTED,
                    "deft does not compute in dtype %d (deft has float, double, int32, uint8, "
                    "int64, bool and string)%s", (int)b->dtype,
                    b->ndims > DEFT_MAX_RANK ? ", nor in ranks over 8" : "");
    return NULL;
  }
  if (b->ndims > DEFT_MAX_RANK) {
    deft_status_set(st, DEFT_UNIMPLEMENTED, "deft's tensors have at most 8 dims, not %d",
                    b->ndims);
    return NULL;
  }
  deft_tensor *d = deft_tensor_new(DEFT_STRING, b->dims, b->ndims, st);
  if (!d) return NULL;
  const TF_TString *s = b->data;
  int64_t n = deft_tensor_num_elements(d);
  for (int64_t i = 0; i < n; i++)
    if (!deft_tensor_set_string(d, i, TF_StringGetDataPointer(&s[i]), TF_StringGetSize(&s[i]),
                                st)) {
      deft_tensor_free(d);
      return NULL;
    }
  return d;
}

/* A deft string tensor as a TF_STRING box of TF_TStrings (takes t). */
static TF_Tensor *strings_from_deft(deft_tensor *t, deft_status *st) {
  int rank = deft_tensor_rank(t);
  int64_t dims[DEFT_MAX_RANK];
  for (int i = 0; i < rank; i++) dims[i] = deft_tensor_dim(t, i);
  int64_t n = deft_tensor_num_elements(t);
  TF_Tensor *r = TF_AllocateTensor(TF_STRING, dims, rank, (size_t)n * sizeof(TF_TString));
  if (!r) {
    deft_tensor_free(t);
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  TF_TString *s = capi_box_of(r)->data;
  for (int64_t i = 0; i < n; i++) {
    size_t len;
    const char *p = deft_tensor_string(t, i, &len);
    TF_StringCopy(&s[i], p ? p : "", p ? len : 0);
  }
  deft_tensor_free(t);
  return r;
}

TF_Tensor *capi_tensor_from_deft(deft_tensor *t, deft_status *st) {
  if (deft_tensor_dtype(t) != DEFT_STRING) return (TF_Tensor *)t;
  return strings_from_deft(t, st);
}
