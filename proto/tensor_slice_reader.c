/* SPDX-License-Identifier: Apache-2.0 */
/* proto/tensor_slice_reader.c - V1 checkpoints (see proto/tensor_slice_reader.h).
 *
 * The keys of the slice entries are TF's "tensor name slice" encoding in OrderedCode: the number
 * 0 (one byte 0x00: OrderedCode writes an unsigned number as its byte count, then its big-endian
 * bytes), the tensor name as an OrderedCode string (0x00 written as 0x00 0xff, 0xff as
 * 0xff 0x00, ended by 0x00 0x01), then the rank and each extent's start and length as numbers.
 * The reader takes only the name from a key (to find a tensor's slices without unpacking every
 * entry); the slice itself comes from the entry's SavedSlice, and the slices found must be
 * those the metadata lists. */
#include "proto/tensor_slice_reader.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"
#include "proto/sstable.h"
#include "proto/tensor_proto.h"
#include "saved_tensor_slice.pb-c.h"

typedef struct v1_tensor {
  char *name;
  int dtype;
  deft_shape shape;
  int nslices;
  size_t first; /* index into r->slices of its first slice entry (sorted by name) */
  int nentries;
} v1_tensor;

typedef struct v1_slice {
  char *name;   /* decoded from the key */
  size_t entry; /* SSTable entry index */
} v1_slice;

struct deft_v1_reader {
  char *path;
  deft_sstable *t;
  v1_tensor *tensors;
  int n;
  v1_slice *slices;
  size_t nslices;
};

static bool oom(deft_status *s) {
  deft_status_set(s, DEFT_RESOURCE_EXHAUSTED, "out of memory reading a V1 checkpoint");
  return false;
}

bool deft_v1_is_table(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  struct stat st;
  unsigned char m[8];
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= DEFT_SSTABLE_FOOTER_SIZE &&
            pread(fd, m, 8, st.st_size - 8) == 8;
  close(fd);
  if (!ok) return false;
  uint64_t magic = 0;
  for (int i = 7; i >= 0; i--) magic = magic << 8 | m[i];
  return magic == DEFT_SSTABLE_MAGIC;
}

/* The tensor name of a slice key, or NULL (*why set) if the key is not one. */
static char *key_name(const char *key, size_t klen, const char **why) {
  const unsigned char *p = (const unsigned char *)key, *end = p + klen;
  if (p == end || *p != 0) return *why = "does not start with the number 0", NULL;
  p++;
  char *out = deft_malloc(klen);
  if (!out) return *why = "out of memory", NULL;
  size_t n = 0;
  for (;;) {
    if (end - p < 2) {
      deft_free(out);
      return *why = "has an unterminated name", NULL;
    }
    if (p[0] == 0 && p[1] == 1) break;
    if (p[0] == 0 && p[1] == 0xff)
      out[n++] = 0, p += 2;
    else if (p[0] == 0xff && p[1] == 0)
      out[n++] = (char)0xff, p += 2;
    else if (p[0] == 0 || p[0] == 0xff) {
      deft_free(out);
      return *why = "has a bad escape in its name", NULL;
    } else {
      out[n++] = (char)*p++;
    }
  }
  out[n] = 0;
  if (strlen(out) != n) {
    deft_free(out);
    return *why = "has a NUL byte in its name", NULL;
  }
  return out;
}

static int cmp_slice(const void *a, const void *b) {
  const v1_slice *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->entry > y->entry) - (x->entry < y->entry);
}

static int cmp_tensor(const void *a, const void *b) {
  return strcmp(((const v1_tensor *)a)->name, ((const v1_tensor *)b)->name);
}

void deft_v1_reader_free(deft_v1_reader *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) deft_free(r->tensors[i].name);
  for (size_t i = 0; i < r->nslices; i++) deft_free(r->slices[i].name);
  deft_free(r->tensors);
  deft_free(r->slices);
  deft_sstable_free(r->t);
  deft_free(r->path);
  deft_free(r);
}

deft_v1_reader *deft_v1_reader_open(const char *path, deft_status *status) {
  deft_v1_reader *r = deft_calloc(1, sizeof *r);
  if (!r || !(r->path = deft_strdup(path))) {
    deft_free(r);
    oom(status);
    return NULL;
  }
  Tensorflow__SavedTensorSlices *meta = NULL;
  r->t = deft_sstable_open(path, status);
  if (!r->t) goto fail;
  size_t total = deft_sstable_num_entries(r->t);
  const char *key, *val;
  size_t klen, vlen;
  if (total) deft_sstable_entry(r->t, 0, &key, &klen, &val, &vlen);
  if (!total || klen != 0) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: not a V1 checkpoint: the table has no metadata entry (key \"\")", path);
    goto fail;
  }
  meta = (Tensorflow__SavedTensorSlices *)deft_pb_unpack(
      &tensorflow__saved_tensor_slices__descriptor, (const uint8_t *)val, vlen, status);
  if (!meta) {
    deft_status_prefix(status, "%s: the metadata entry (key \"\")", path);
    goto fail;
  }
  if (!meta->meta) {
    deft_status_set(status, DEFT_DATA_LOSS, "%s: the entry of key \"\" holds no metadata", path);
    goto fail;
  }
  size_t nt = meta->meta->n_tensor;
  if (nt > (size_t)INT32_MAX || !(r->tensors = deft_calloc(nt ? nt : 1, sizeof *r->tensors))) {
    oom(status);
    goto fail;
  }
  for (size_t i = 0; i < nt; i++) {
    Tensorflow__SavedSliceMeta *m = meta->meta->tensor[i];
    v1_tensor *t = &r->tensors[r->n];
    if (!(t->name = deft_strdup(m->name ? m->name : ""))) {
      oom(status);
      goto fail;
    }
    r->n++;
    t->dtype = (int)m->type;
    t->nslices = (int)m->n_slice;
    if (!deft_shape_from_proto(m->shape, &t->shape, status)) {
      deft_status_prefix(status, "%s: tensor '%s'", path, t->name);
      goto fail;
    }
    if (!deft_shape_is_fully_defined(t->shape)) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: tensor '%s' has a shape that is not fully "
                      "defined",
                      path, t->name);
      goto fail;
    }
  }
  qsort(r->tensors, (size_t)r->n, sizeof *r->tensors, cmp_tensor);
  for (int i = 1; i < r->n; i++)
    if (!strcmp(r->tensors[i - 1].name, r->tensors[i].name)) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: tensor '%s' is listed twice in the metadata",
                      path, r->tensors[i].name);
      goto fail;
    }
  if (!(r->slices = deft_calloc(total, sizeof *r->slices))) {
    oom(status);
    goto fail;
  }
  for (size_t i = 1; i < total; i++) {
    deft_sstable_entry(r->t, i, &key, &klen, &val, &vlen);
    const char *why = NULL;
    char *name = key_name(key, klen, &why);
    if (!name) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: entry %zu's key %s", path, i, why);
      goto fail;
    }
    r->slices[r->nslices].name = name;
    r->slices[r->nslices++].entry = i;
  }
  qsort(r->slices, r->nslices, sizeof *r->slices, cmp_slice);
  for (size_t i = 0; i < r->nslices;) {
    v1_tensor key_t = {.name = r->slices[i].name};
    v1_tensor *t = bsearch(&key_t, r->tensors, (size_t)r->n, sizeof *r->tensors, cmp_tensor);
    if (!t) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: a slice entry names tensor '%s', which the metadata does not list", path,
                      r->slices[i].name);
      goto fail;
    }
    t->first = i;
    while (i < r->nslices && !strcmp(r->slices[i].name, t->name)) t->nentries++, i++;
  }
  protobuf_c_message_free_unpacked(&meta->base, deft_protobuf_allocator());
  return r;
fail:
  if (meta) protobuf_c_message_free_unpacked(&meta->base, deft_protobuf_allocator());
  deft_v1_reader_free(r);
  return NULL;
}

int deft_v1_reader_num(const deft_v1_reader *r) { return r->n; }

const char *deft_v1_reader_name(const deft_v1_reader *r, int i) {
  return i >= 0 && i < r->n ? r->tensors[i].name : NULL;
}

static const v1_tensor *find(const deft_v1_reader *r, const char *name) {
  v1_tensor key = {.name = (char *)name};
  return bsearch(&key, r->tensors, (size_t)r->n, sizeof *r->tensors, cmp_tensor);
}

bool deft_v1_reader_lookup(const deft_v1_reader *r, const char *name, deft_dtype *dtype,
                           deft_shape *shape) {
  const v1_tensor *t = find(r, name);
  if (!t) return false;
  if (dtype) *dtype = (deft_dtype)t->dtype;
  if (shape) *shape = t->shape;
  return true;
}

/* The number of values p holds in its typed field for dtype (tensor_content: -1, checked by
 * the decoder). */
static int64_t typed_count(const Tensorflow__TensorProto *p, deft_dtype dt) {
  if (p->tensor_content.len) return -1;
  switch (dt) {
    case DEFT_FLOAT:
      return (int64_t)p->n_float_val;
    case DEFT_DOUBLE:
      return (int64_t)p->n_double_val;
    case DEFT_INT64:
      return (int64_t)p->n_int64_val;
    case DEFT_BOOL:
      return (int64_t)p->n_bool_val;
    case DEFT_STRING:
      return (int64_t)p->n_string_val;
    default:
      return (int64_t)p->n_int_val;
  }
}

/* Copies slice value v (of the slice's shape) into out at the slice's place, marking covered
 * elements; false (why set) when the slice leaves the tensor or overlaps another. */
static bool place(deft_tensor *out, const deft_tensor *v, const int64_t *start, const int64_t *len,
                  unsigned char *covered, const char **why) {
  int rank = out->rank;
  int64_t idx[DEFT_MAX_RANK] = {0};
  size_t es = out->dtype == DEFT_STRING ? 0 : deft_dtype_size(out->dtype);
  for (int64_t i = 0; i < v->n; i++) {
    int64_t off = 0;
    for (int d = 0; d < rank; d++) off = off * out->dims[d] + start[d] + idx[d];
    if (covered[off]) return *why = "slices overlap", false;
    covered[off] = 1;
    if (es) {
      memcpy((char *)out->buf->data + (size_t)off * es, (const char *)v->buf->data + (size_t)i * es,
             es);
    } else {
      size_t sl;
      const char *s = deft_tensor_string(v, i, &sl);
      if (!deft_tensor_set_string(out, off, s, sl, NULL)) return *why = "out of memory", false;
    }
    for (int d = rank - 1; d >= 0; d--) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
  return true;
}

deft_tensor *deft_v1_reader_read(const deft_v1_reader *r, const char *name, deft_status *status) {
  const v1_tensor *t = find(r, name);
  if (!t) {
    deft_status_set(status, DEFT_NOT_FOUND, "%s: no tensor '%s' in the checkpoint", r->path, name);
    return NULL;
  }
  if (!deft_dtype_is_valid(t->dtype)) {
    deft_status_set(status, DEFT_UNIMPLEMENTED,
                    "%s: tensor '%s' has dtype %d, which deft does "
                    "not store",
                    r->path, name, t->dtype);
    return NULL;
  }
  deft_dtype dt = (deft_dtype)t->dtype;
  int rank = t->shape.rank;
  deft_tensor *out = deft_tensor_new(dt, t->shape.dims, rank, status);
  if (!out) return NULL;
  unsigned char *covered = deft_calloc((size_t)(out->n ? out->n : 1), 1);
  Tensorflow__SavedTensorSlices *ss = NULL;
  deft_tensor *v = NULL;
  if (!covered) {
    oom(status);
    goto fail;
  }
  if (t->nentries != t->nslices) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: tensor '%s': the metadata lists %d slices, the "
                    "table holds %d",
                    r->path, name, t->nslices, t->nentries);
    goto fail;
  }
  for (int k = 0; k < t->nentries; k++) {
    const char *key, *val;
    size_t klen, vlen, entry = r->slices[t->first + (size_t)k].entry;
    deft_sstable_entry(r->t, entry, &key, &klen, &val, &vlen);
    ss = (Tensorflow__SavedTensorSlices *)deft_pb_unpack(
        &tensorflow__saved_tensor_slices__descriptor, (const uint8_t *)val, vlen, status);
    if (!ss) {
      deft_status_prefix(status, "%s: tensor '%s', slice entry %zu", r->path, name, entry);
      goto fail;
    }
    Tensorflow__SavedSlice *d = ss->data;
    const char *why = NULL;
    int64_t start[DEFT_MAX_RANK], len[DEFT_MAX_RANK];
    if (!d || !d->data || strcmp(d->name ? d->name : "", name)) why = "holds no data for it";
    int next = d && d->slice ? (int)d->slice->n_extent : 0;
    if (!why && next != rank && next != 0) why = "has a slice of another rank";
    for (int i = 0; !why && i < rank; i++) {
      Tensorflow__TensorSliceProto__Extent *e = next ? d->slice->extent[i] : NULL;
      start[i] = e ? e->start : 0;
      bool has_len =
          e && e->has_length_case == TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH;
      len[i] = has_len ? e->length : t->shape.dims[i] - start[i];
      if (start[i] < 0 || len[i] < 0 || start[i] > t->shape.dims[i] ||
          len[i] > t->shape.dims[i] - start[i])
        why = "has an extent outside the tensor's shape";
    }
    if (why) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: tensor '%s', slice entry %zu %s", r->path, name,
                      entry, why);
      goto fail;
    }
    /* decode the slice's values with the tensor's dtype and the slice's shape */
    Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
    Tensorflow__TensorShapeProto__Dim dims[DEFT_MAX_RANK], *dimp[DEFT_MAX_RANK];
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
      tensorflow__tensor_shape_proto__dim__init(&dims[i]);
      dims[i].size = len[i];
      dimp[i] = &dims[i];
      count *= len[i];
    }
    shape.n_dim = (size_t)rank;
    shape.dim = dimp;
    Tensorflow__TensorProto *tp = d->data;
    int64_t have = typed_count(tp, dt);
    if (have >= 0 && have != count) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: tensor '%s', slice entry %zu holds %" PRId64
                      " values for a slice of %" PRId64,
                      r->path, name, entry, have, count);
      goto fail;
    }
    Tensorflow__TensorShapeProto *saved_shape = tp->tensor_shape;
    int saved_dtype = tp->dtype;
    tp->tensor_shape = &shape;
    tp->dtype = (Tensorflow__DataType)dt;
    v = deft_tensor_from_proto(tp, status);
    tp->tensor_shape = saved_shape;
    tp->dtype = (Tensorflow__DataType)saved_dtype;
    if (!v) {
      deft_status_prefix(status, "%s: tensor '%s', slice entry %zu", r->path, name, entry);
      goto fail;
    }
    if (!place(out, v, start, len, covered, &why)) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: tensor '%s', slice entry %zu: %s", r->path, name,
                      entry, why);
      goto fail;
    }
    deft_tensor_free(v);
    v = NULL;
    protobuf_c_message_free_unpacked(&ss->base, deft_protobuf_allocator());
    ss = NULL;
  }
  for (int64_t i = 0; i < out->n; i++)
    if (!covered[i]) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: tensor '%s': its slices leave element %" PRId64 " unsaved", r->path,
                      name, i);
      goto fail;
    }
  deft_free(covered);
  return out;
fail:
  deft_tensor_free(v);
  if (ss) protobuf_c_message_free_unpacked(&ss->base, deft_protobuf_allocator());
  deft_free(covered);
  deft_tensor_free(out);
  return NULL;
}
