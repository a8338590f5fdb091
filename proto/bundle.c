/* SPDX-License-Identifier: Apache-2.0 */
/* proto/bundle.c - TF V2 checkpoint writer and reader, and the `checkpoint` state file (see
 * proto/bundle.h and ../shared/spec/TF_FORMATS.md section 4). */
#include "proto/bundle.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/crc32c.h"
#include "proto/sstable.h"
#include "proto/tensor_slice_reader.h"
#include "base/tensor_internal.h"
#include "tensor_bundle.pb-c.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "deft's checkpoint code assumes a little-endian host"
#endif
_Static_assert(sizeof(bool) == 1, "bool tensors are stored as one byte per element");

#define DATA_SUFFIX_FMT "%s.data-%05d-of-%05d"
#define MAX_SHARDS 100000

/* ---- small helpers ---- */

/* protobuf-c allocations go through deft_malloc; a failure is remembered in *(bool *)data so an
 * unpack that returns NULL can be told apart from malformed bytes. */
static void *pb_alloc(void *data, size_t n) {
  void *p = deft_malloc(n ? n : 1);
  if (!p) *(bool *)data = true;
  return p;
}
static void pb_free(void *data, void *p) { deft_free(p); }
#define PB_ALLOCATOR(flag) ((ProtobufCAllocator){pb_alloc, pb_free, &(flag)})

static bool oom(deft_status *s, const char *what) {
  deft_status_set(s, DEFT_RESOURCE_EXHAUSTED, "out of memory %s", what);
  return false;
}

/* A deft_malloc'd printf. NULL when memory is exhausted. */
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *r = n < 0 ? NULL : deft_malloc((size_t)n + 1);
  if (r) vsnprintf(r, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return r;
}

static uint64_t random_u64(void) {
  static _Atomic uint64_t counter; /* distinct values for saves in one nanosecond */
  uint64_t v = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
    close(fd);
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  v ^= (uint64_t)ts.tv_nsec * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)ts.tv_sec ^
       (uint64_t)getpid() << 32 ^ (atomic_fetch_add(&counter, 1) + 1);
  return v;
}

/* ---- output files ---- */

/* An output file: a deft_atomic_file (base/file_io.h); faults are injected through the
 * deft_io_hooks object it was opened with (the writer's or the session's, never process-wide). */
typedef struct out_file {
  deft_atomic_file *af;
} out_file;

static bool out_append(void *ctx, const void *data, size_t n, deft_status *s) {
  out_file *f = ctx;
  return deft_atomic_file_write(f->af, data, n, s);
}

/* Creates "<final><tag><random>" exclusively. */
static bool out_open(out_file *f, const char *final_path, const char *tag,
                     const deft_io_hooks *io, deft_status *s) {
  f->af = deft_atomic_file_open(final_path, tag, io, s);
  return f->af != NULL;
}

static bool out_close(out_file *f, deft_status *s) { return deft_atomic_file_close(f->af, s); }

static uint64_t out_offset(const out_file *f) { return deft_atomic_file_offset(f->af); }

/* Closes f if open and removes its temporary file if it still exists. */
static void out_discard(out_file *f) {
  deft_atomic_file_free(f->af);
  f->af = NULL;
}

/* ---- writer ---- */

typedef struct wentry {
  char *key;
  deft_tensor *t; /* shares the caller's buffer */
} wentry;

struct deft_bundle_writer {
  char *prefix;
  const deft_io_hooks *io; /* NULL: plain system calls */
  wentry *e;
  size_t n, cap;
  size_t *slots; /* open-addressing set of entry index + 1 (0 = empty) for duplicate keys */
  size_t nslots;
  bool done;
};

void deft_bundle_writer_set_io(deft_bundle_writer *w, const deft_io_hooks *io) { w->io = io; }

static uint64_t hash_key(const char *k) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (; *k; k++) h = (h ^ (unsigned char)*k) * UINT64_C(1099511628211);
  return h;
}

deft_bundle_writer *deft_bundle_writer_new(const char *prefix, deft_status *status) {
  if (!prefix || !*prefix) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "checkpoint prefix is empty");
    return NULL;
  }
  deft_bundle_writer *w = deft_calloc(1, sizeof *w);
  if (w) w->prefix = deft_strdup(prefix);
  if (!w || !w->prefix) {
    deft_bundle_writer_free(w);
    oom(status, "creating a checkpoint writer");
    return NULL;
  }
  return w;
}

void deft_bundle_writer_free(deft_bundle_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) {
    deft_free(w->e[i].key);
    deft_tensor_free(w->e[i].t);
  }
  deft_free(w->e);
  deft_free(w->slots);
  deft_free(w->prefix);
  deft_free(w);
}

/* Returns the slot where key is or would go. */
static size_t *find_slot(deft_bundle_writer *w, const char *key) {
  size_t i = (size_t)hash_key(key) & (w->nslots - 1);
  while (w->slots[i] && strcmp(w->e[w->slots[i] - 1].key, key) != 0)
    i = (i + 1) & (w->nslots - 1);
  return &w->slots[i];
}

static bool grow_slots(deft_bundle_writer *w) {
  size_t ns = w->nslots ? 2 * w->nslots : 64;
  size_t *old = w->slots, oldn = w->nslots;
  w->slots = deft_calloc(ns, sizeof *w->slots);
  if (!w->slots) {
    w->slots = old;
    return false;
  }
  w->nslots = ns;
  for (size_t i = 0; i < oldn; i++)
    if (old[i]) *find_slot(w, w->e[old[i] - 1].key) = old[i];
  deft_free(old);
  return true;
}

bool deft_bundle_writer_add(deft_bundle_writer *w, const char *key, const deft_tensor *t,
                            deft_status *status) {
  if (w->done) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "checkpoint writer for '%s' already "
                    "finished", w->prefix);
    return false;
  }
  if (!key || !*key) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "checkpoint key is empty (\"\" is reserved "
                    "for the bundle header)");
    return false;
  }
  if (!deft_tensor_is_set(t) || !deft_dtype_is_valid(t->dtype)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "checkpoint tensor '%s': %s", key,
                    deft_tensor_is_set(t) ? "invalid dtype" : "tensor has no value");
    return false;
  }
  if ((w->n + 1) * 2 > w->nslots && !grow_slots(w)) return oom(status, "adding a tensor");
  size_t *slot = find_slot(w, key);
  if (*slot) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "duplicate checkpoint key '%s'", key);
    return false;
  }
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 16;
    wentry *e = deft_realloc(w->e, cap * sizeof *e);
    if (!e) return oom(status, "adding a tensor");
    w->e = e;
    w->cap = cap;
  }
  wentry ne = {deft_strdup(key), deft_tensor_share(t)};
  if (!ne.key || !ne.t) {
    deft_free(ne.key);
    deft_tensor_free(ne.t);
    return oom(status, "adding a tensor");
  }
  w->e[w->n++] = ne;
  *slot = w->n;
  return true;
}

static int wentry_cmp(const void *a, const void *b) {
  return strcmp(((const wentry *)a)->key, ((const wentry *)b)->key); /* unsigned bytes */
}

/* Appends one tensor's bytes to the data file; fills offset, size and crc32c of *be. */
static bool write_tensor(out_file *f, const deft_tensor *t, Tensorflow__BundleEntryProto *be,
                         deft_status *s) {
  be->offset = (int64_t)out_offset(f);
  if (t->dtype != DEFT_STRING) {
    size_t nbytes = (size_t)t->n * deft_dtype_size(t->dtype);
    be->crc32c = deft_crc32c_mask(deft_crc32c(t->buf->data, nbytes));
    be->size = (int64_t)nbytes;
    return out_append(f, t->buf->data, nbytes, s);
  }
  /* Strings: varint lengths, masked crc of the lengths (as uint32 LE, or uint64 when larger),
   * then the bytes. The entry crc runs over lengths ‖ masked crc bytes ‖ string bytes. */
  const deft_bytes *str = deft_tensor_str(t);
  uint32_t crc = 0;
  for (int64_t i = 0; i < t->n; i++) {
    unsigned char v[10], le[8];
    uint64_t len = str[i].len;
    size_t nle = len > UINT32_MAX ? 8 : 4;
    for (size_t k = 0; k < nle; k++) le[k] = (unsigned char)(len >> (8 * k));
    crc = deft_crc32c_extend(crc, le, nle);
    if (!out_append(f, v, deft_varint64_put(v, len), s)) return false;
  }
  uint32_t masked = deft_crc32c_mask(crc);
  unsigned char mb[4] = {(unsigned char)masked, (unsigned char)(masked >> 8),
                         (unsigned char)(masked >> 16), (unsigned char)(masked >> 24)};
  crc = deft_crc32c_extend(crc, mb, 4);
  if (!out_append(f, mb, 4, s)) return false;
  for (int64_t i = 0; i < t->n; i++) {
    crc = deft_crc32c_extend(crc, str[i].data, str[i].len);
    if (str[i].len && !out_append(f, str[i].data, str[i].len, s)) return false;
  }
  be->crc32c = deft_crc32c_mask(crc);
  be->size = (int64_t)out_offset(f) - be->offset;
  return true;
}

/* Packs msg into a deft_malloc'd buffer and adds it to the table under key. */
static bool add_proto(deft_sstable_builder *tb, const char *key, const ProtobufCMessage *msg,
                      deft_status *s) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  unsigned char *buf = deft_malloc(n ? n : 1);
  if (!buf) return oom(s, "encoding a checkpoint entry");
  protobuf_c_message_pack(msg, buf);
  bool ok = deft_sstable_builder_add(tb, key, strlen(key), buf, n, s);
  deft_free(buf);
  return ok;
}

/* Writes the .data and .index temporaries. */
static bool write_files(deft_bundle_writer *w, out_file *df, out_file *xf, deft_status *s) {
  deft_sstable_builder *tb = deft_sstable_builder_new(out_append, xf, s);
  if (!tb) return false;
  Tensorflow__VersionDef version = TENSORFLOW__VERSION_DEF__INIT;
  version.producer = 1;
  Tensorflow__BundleHeaderProto header = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;
  header.num_shards = 1;
  header.version = &version;
  bool ok = add_proto(tb, "", &header.base, s);
  for (size_t i = 0; ok && i < w->n; i++) {
    const deft_tensor *t = w->e[i].t;
    Tensorflow__TensorShapeProto__Dim dims[DEFT_MAX_RANK], *dimp[DEFT_MAX_RANK];
    for (int d = 0; d < t->rank; d++) {
      tensorflow__tensor_shape_proto__dim__init(&dims[d]);
      dims[d].size = t->dims[d];
      dimp[d] = &dims[d];
    }
    Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = (size_t)t->rank;
    shape.dim = dimp;
    Tensorflow__BundleEntryProto be = TENSORFLOW__BUNDLE_ENTRY_PROTO__INIT;
    be.dtype = (Tensorflow__DataType)t->dtype;
    be.shape = &shape;
    ok = write_tensor(df, t, &be, s) && add_proto(tb, w->e[i].key, &be.base, s);
  }
  ok = ok && deft_sstable_builder_finish(tb, s);
  deft_sstable_builder_free(tb);
  return ok && out_close(df, s) && out_close(xf, s);
}

/* Renames both temporaries into place. If a data file existed it is kept as a hard link until
 * the index is in place, so a failed second rename can put it back. */
static bool commit_files(const deft_io_hooks *io, out_file *df, out_file *xf,
                         const char *data_path, const char *index_path, deft_status *s) {
  char *backup = str_printf("%s.tempstate%" PRIu64, data_path, random_u64());
  if (!backup) return oom(s, "naming a temporary file");
  bool have_backup = link(data_path, backup) == 0;
  bool ok = false;
  if (deft_atomic_file_install(df->af, s)) {
    if (!deft_atomic_file_install(xf->af, s)) {
      /* recovery, not a fault-injection point: put the previous data file back */
      if (have_backup && rename(backup, data_path) == 0) have_backup = false;
      else if (!have_backup) unlink(data_path);
    } else {
      ok = true;
    }
  }
  if (have_backup) deft_io_unlink(io, backup);
  deft_free(backup);
  if (ok) deft_io_sync_parent_dir(index_path);
  return ok;
}

bool deft_bundle_writer_finish(deft_bundle_writer *w, deft_status *status) {
  if (w->done) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "checkpoint writer for '%s' already "
                    "finished", w->prefix);
    return false;
  }
  w->done = true;
  if (w->n > 1) qsort(w->e, w->n, sizeof *w->e, wentry_cmp);
  char *data_path = str_printf(DATA_SUFFIX_FMT, w->prefix, 0, 1);
  char *index_path = str_printf("%s.index", w->prefix);
  out_file *df = deft_calloc(1, sizeof *df), *xf = deft_calloc(1, sizeof *xf);
  bool ok = false;
  if (!data_path || !index_path || !df || !xf) {
    oom(status, "writing a checkpoint");
  } else {
    ok = out_open(df, data_path, ".tempstate", w->io, status) &&
         out_open(xf, index_path, ".tempstate", w->io, status) &&
         write_files(w, df, xf, status) &&
         commit_files(w->io, df, xf, data_path, index_path, status);
    out_discard(df);
    out_discard(xf);
  }
  if (!ok) deft_status_prefix(status, "saving checkpoint '%s'", w->prefix);
  deft_free(df);
  deft_free(xf);
  deft_free(data_path);
  deft_free(index_path);
  return ok;
}

/* ---- reader ---- */

typedef struct rentry {
  char *key;
  int dtype;
  int rank; /* -1: rank above DEFT_MAX_RANK */
  int64_t dims[DEFT_MAX_RANK];
  int shard;
  int64_t offset, size;
  uint32_t crc; /* masked */
  size_t nslices;
} rentry;

struct deft_bundle_reader {
  char *index_path;
  rentry *e;
  int n;
  int num_shards;
  int *fds;          /* per shard; -1 when not opened (no entry refers to it) */
  int64_t *fsizes;
  char **shard_paths;
  deft_v1_reader *v1; /* a V1 checkpoint (proto/tensor_slice_reader.h): everything else unused */
};

int deft_bundle_reader_num_shards(const deft_bundle_reader *r) { return r->num_shards; }

void deft_bundle_reader_free(deft_bundle_reader *r) {
  if (!r) return;
  deft_v1_reader_free(r->v1);
  for (int i = 0; i < r->n; i++) deft_free(r->e[i].key);
  deft_free(r->e);
  for (int i = 0; r->fds && i < r->num_shards; i++) {
    if (r->fds[i] >= 0) close(r->fds[i]);
    deft_free(r->shard_paths[i]);
  }
  deft_free(r->fds);
  deft_free(r->fsizes);
  deft_free(r->shard_paths);
  deft_free(r->index_path);
  deft_free(r);
}

static bool check_header(deft_bundle_reader *r, const deft_sstable *t, deft_status *s) {
  const char *key, *val;
  size_t klen, vlen;
  if (deft_sstable_num_entries(t) > 0) deft_sstable_entry(t, 0, &key, &klen, &val, &vlen);
  if (deft_sstable_num_entries(t) == 0 || klen != 0) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: no bundle header (the entry with the empty key)",
                    r->index_path);
    return false;
  }
  bool pb_oom = false;
  ProtobufCAllocator pa = PB_ALLOCATOR(pb_oom);
  Tensorflow__BundleHeaderProto *h =
      tensorflow__bundle_header_proto__unpack(&pa, vlen, (const uint8_t *)val);
  if (!h) {
    if (pb_oom) return oom(s, "parsing a bundle header");
    deft_status_set(s, DEFT_DATA_LOSS, "%s: cannot parse the bundle header (%zu bytes)",
                    r->index_path, vlen);
    return false;
  }
  bool ok = false;
  const Tensorflow__VersionDef *v = h->version;
  bool bad_consumer = false;
  for (size_t i = 0; v && i < v->n_bad_consumers; i++) bad_consumer |= v->bad_consumers[i] == 1;
  if (h->num_shards < 1 || h->num_shards > MAX_SHARDS)
    deft_status_set(s, DEFT_DATA_LOSS, "%s: bundle header has num_shards = %d", r->index_path,
                    (int)h->num_shards);
  else if (h->endianness == TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__BIG)
    deft_status_set(s, DEFT_UNIMPLEMENTED, "%s: big-endian checkpoints are not supported",
                    r->index_path);
  else if (h->endianness != TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE)
    deft_status_set(s, DEFT_DATA_LOSS, "%s: bundle header has unknown endianness %d",
                    r->index_path, (int)h->endianness);
  else if (v && (v->producer < 0 || v->min_consumer > 1 || bad_consumer))
    deft_status_set(s, DEFT_FAILED_PRECONDITION, "%s: bundle version (producer %d, "
                    "min_consumer %d) cannot be read by this reader (version 1)", r->index_path,
                    (int)v->producer, (int)v->min_consumer);
  else
    ok = true;
  if (ok) r->num_shards = h->num_shards;
  tensorflow__bundle_header_proto__free_unpacked(h, &pa);
  return ok;
}

static bool decode_entry(const deft_bundle_reader *r, const char *key, const char *val,
                         size_t vlen, rentry *e, deft_status *s) {
  bool pb_oom = false;
  ProtobufCAllocator pa = PB_ALLOCATOR(pb_oom);
  Tensorflow__BundleEntryProto *be =
      tensorflow__bundle_entry_proto__unpack(&pa, vlen, (const uint8_t *)val);
  if (!be) {
    if (pb_oom) return oom(s, "parsing a checkpoint entry");
    deft_status_set(s, DEFT_DATA_LOSS, "%s: cannot parse the entry of checkpoint tensor '%s'",
                    r->index_path, key);
    return false;
  }
  const char *bad = NULL;
  const Tensorflow__TensorShapeProto *sh = be->shape;
  e->dtype = (int)be->dtype;
  e->rank = sh && sh->n_dim <= DEFT_MAX_RANK ? (int)(sh ? sh->n_dim : 0) : -1;
  if (!sh) e->rank = 0;
  int64_t count = 1;
  bool zero = false; /* the product of the non-zero dims must fit, as for every tensor */
  if (sh && sh->unknown_rank) bad = "its shape has unknown rank";
  for (size_t d = 0; sh && !bad && d < sh->n_dim; d++) {
    int64_t dim = sh->dim[d]->size;
    if (dim < 0) bad = "its shape has a negative dimension";
    else if (dim == 0) zero = true;
    else if (count > INT64_MAX / dim) bad = "its shape overflows int64";
    else count *= dim;
    if (!bad && e->rank >= 0) e->dims[d] = dim;
  }
  if (zero) count = 0;
  e->nslices = be->n_slices;
  e->shard = be->shard_id;
  e->offset = be->offset;
  e->size = be->size;
  e->crc = be->crc32c;
  if (!bad && !e->nslices) {
    if (e->shard < 0 || e->shard >= r->num_shards) bad = "its shard_id is out of range";
    else if (e->offset < 0 || e->size < 0) bad = "its offset or size is negative";
  }
  tensorflow__bundle_entry_proto__free_unpacked(be, &pa);
  if (bad) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: checkpoint tensor '%s': %s", r->index_path, key, bad);
    return false;
  }
  return true;
}

static bool open_shards(deft_bundle_reader *r, const char *prefix, deft_status *s) {
  int ns = r->num_shards;
  r->fds = deft_malloc((size_t)ns * sizeof *r->fds);
  r->fsizes = deft_calloc((size_t)ns, sizeof *r->fsizes);
  r->shard_paths = deft_calloc((size_t)ns, sizeof *r->shard_paths);
  if (!r->fds || !r->fsizes || !r->shard_paths) {
    deft_free(r->fds);
    r->fds = NULL;
    return oom(s, "opening a checkpoint");
  }
  for (int i = 0; i < ns; i++) r->fds[i] = -1;
  for (int i = 0; i < r->n; i++) {
    int sh = r->e[i].shard;
    if (r->e[i].nslices || r->fds[sh] >= 0) continue;
    r->shard_paths[sh] = str_printf(DATA_SUFFIX_FMT, prefix, sh, ns);
    if (!r->shard_paths[sh]) return oom(s, "opening a checkpoint");
    int fd = open(r->shard_paths[sh], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      deft_io_error(s, errno, "open checkpoint data file", r->shard_paths[sh]);
      if (fd >= 0) close(fd);
      return false;
    }
    r->fds[sh] = fd;
    r->fsizes[sh] = (int64_t)st.st_size;
  }
  return true;
}

deft_bundle_reader *deft_bundle_reader_open(const char *prefix, deft_status *status) {
  deft_bundle_reader *r = deft_calloc(1, sizeof *r);
  if (r) r->index_path = str_printf("%s.index", prefix);
  if (!r || !r->index_path) {
    deft_bundle_reader_free(r);
    oom(status, "opening a checkpoint");
    return NULL;
  }
  struct stat sb;
  if (stat(r->index_path, &sb) != 0 && deft_v1_is_table(prefix)) {
    /* no P.index, and P itself is a table: a V1 checkpoint */
    r->v1 = deft_v1_reader_open(prefix, status);
    if (!r->v1) {
      deft_bundle_reader_free(r);
      return NULL;
    }
    return r;
  }
  deft_sstable *t = deft_sstable_open(r->index_path, status);
  bool ok = t && check_header(r, t, status);
  size_t total = t ? deft_sstable_num_entries(t) : 0;
  if (ok && total - 1 > (size_t)INT32_MAX) {
    deft_status_set(status, DEFT_DATA_LOSS, "%s: too many entries", r->index_path);
    ok = false;
  }
  if (ok && !(r->e = deft_calloc(total, sizeof *r->e))) ok = oom(status, "opening a checkpoint");
  for (size_t i = 1; ok && i < total; i++) {
    const char *key, *val;
    size_t klen, vlen;
    deft_sstable_entry(t, i, &key, &klen, &val, &vlen);
    if (strlen(key) != klen) continue; /* a slice key of a partitioned variable */
    rentry *e = &r->e[r->n];
    ok = decode_entry(r, key, val, vlen, e, status);
    if (ok && !(e->key = deft_strdup(key))) ok = oom(status, "opening a checkpoint");
    if (ok) r->n++;
  }
  ok = ok && open_shards(r, prefix, status);
  deft_sstable_free(t);
  if (!ok) {
    deft_bundle_reader_free(r);
    return NULL;
  }
  return r;
}

int deft_bundle_reader_num_entries(const deft_bundle_reader *r) {
  return r->v1 ? deft_v1_reader_num(r->v1) : r->n;
}

const char *deft_bundle_reader_key(const deft_bundle_reader *r, int i) {
  if (r->v1) return deft_v1_reader_name(r->v1, i);
  return i >= 0 && i < r->n ? r->e[i].key : NULL;
}

static const rentry *find_entry(const deft_bundle_reader *r, const char *key) {
  int lo = 0, hi = r->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(r->e[mid].key, key);
    if (c == 0) return &r->e[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

bool deft_bundle_reader_lookup(const deft_bundle_reader *r, const char *key, deft_dtype *dtype,
                               deft_shape *shape) {
  if (r->v1) return deft_v1_reader_lookup(r->v1, key, dtype, shape);
  const rentry *e = find_entry(r, key);
  if (!e) return false;
  if (dtype) *dtype = (deft_dtype)e->dtype;
  if (shape) *shape = e->rank < 0 ? deft_shape_unknown() : deft_shape_make(e->rank, e->dims);
  return true;
}

/* TF's names for the dtypes deft does not store, for messages. */
static const char *tf_dtype_name(int dt) {
  static const char *const names[] = {
      "invalid", "float", "double", "int32", "uint8", "int16", "int8", "string", "complex64",
      "int64", "bool", "qint8", "quint8", "qint32", "bfloat16", "qint16", "quint16", "uint16",
      "complex128", "half", "resource", "variant", "uint32", "uint64"};
  return dt >= 0 && dt < (int)(sizeof names / sizeof *names) ? names[dt] : "unknown";
}

static bool pread_all(int fd, void *buf, size_t n, int64_t off) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = pread(fd, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO; /* the file shrank */
      return false;
    }
    p += r;
    n -= (size_t)r;
    off += r;
  }
  return true;
}

/* Reads an entry's bytes [off, end) of fd through a buffer of at most 1 MiB, so that checking
 * an entry costs no memory in proportion to its claimed size. */
typedef struct chunk_reader {
  int fd;
  int64_t off, end; /* file offset of the next byte to read; end of the entry */
  unsigned char *buf;
  size_t cap, pos, len; /* buf[pos, len) holds unread bytes */
} chunk_reader;

/* Makes at least min(want, bytes left) bytes available at buf + pos; false on an I/O error. */
static bool chunk_fill(chunk_reader *c, size_t want) {
  if (c->len - c->pos >= want || c->off == c->end) return true;
  memmove(c->buf, c->buf + c->pos, c->len - c->pos);
  c->len -= c->pos;
  c->pos = 0;
  size_t n = c->cap - c->len;
  if ((int64_t)n > c->end - c->off) n = (size_t)(c->end - c->off);
  if (!pread_all(c->fd, c->buf + c->len, n, c->off)) return false;
  c->len += n;
  c->off += (int64_t)n;
  return true;
}

/* Pass 1 over a DT_STRING entry (TF_FORMATS 4.2), streamed from the file: walks the n varint
 * lengths, checks that they add up, and checks both checksums (the lengths', and the entry's over
 * lengths as uint32 LE ‖ masked checksum ‖ bytes). Nothing is allocated per element: a hostile
 * index's claimed element count is bounded only by the entry's byte size, which a sparse data
 * file makes cheap. Runs of empty strings extend the checksums in O(log n) (crc32c of zeros). */
static const char *check_strings(int fd, const rentry *e, int64_t n, deft_status *s,
                                 const char *file) {
  chunk_reader c = {fd, e->offset, e->offset + e->size, NULL, 0, 0, 0};
  c.cap = e->size < (1 << 20) ? (size_t)e->size + 16 : (size_t)1 << 20;
  if (!(c.buf = deft_malloc(c.cap))) return (oom(s, "reading a string tensor"), "");
  const char *bad = NULL;
  uint32_t crc = 0;
  uint64_t total = 0, len, size = (uint64_t)e->size, zeros = 0; /* zeros: pending le bytes */
  unsigned char le[16384]; /* lengths as they enter the crc (uint32 LE, or uint64 if larger) */
  size_t nle = 0;
  for (int64_t i = 0; !bad && i < n;) {
    if (nle > sizeof le - 32) {
      crc = deft_crc32c_extend(crc, le, nle);
      nle = 0;
    }
    if (!chunk_fill(&c, 16)) {
      bad = "";
      break;
    }
    const unsigned char *p = c.buf + c.pos, *lim = c.buf + c.len;
    uint64_t w8;
    if (n - i >= 8 && lim - p >= 8 && (memcpy(&w8, p, 8), !(w8 & 0x8080808080808080ull))) {
      /* eight one-byte lengths at once: short strings, or a hostile index's claimed millions */
      if (w8 == 0) {
        if (nle) crc = deft_crc32c_extend(crc, le, nle);
        nle = 0;
        zeros += 32;
      } else {
        if (zeros) crc = deft_crc32c_extend_zeros(crc, zeros);
        zeros = 0;
        memset(le + nle, 0, 32);
        for (int k = 0; k < 8; k++) {
          total += p[k];
          le[nle + 4 * k] = p[k];
        }
        nle += 32;
      }
      c.pos += 8;
      i += 8;
      if (total > size) bad = "bad string length";
      continue;
    }
    const unsigned char *q = deft_varint_get(p, lim, 64, &len);
    if (!q || len > size - total) {
      bad = "bad string length";
      break;
    }
    c.pos += (size_t)(q - p);
    if (zeros) crc = deft_crc32c_extend_zeros(crc, zeros);
    zeros = 0;
    total += len;
    size_t w = len > UINT32_MAX ? 8 : 4;
    for (size_t k = 0; k < w; k++) le[nle++] = (unsigned char)(len >> (8 * k));
    i++;
  }
  if (!bad) {
    crc = deft_crc32c_extend(crc, le, nle);
    crc = deft_crc32c_extend_zeros(crc, zeros);
  }
  uint64_t rest = (uint64_t)(c.len - c.pos) + (uint64_t)(c.end - c.off); /* after the lengths */
  if (!bad && (rest < 4 || total != rest - 4))
    bad = "string lengths do not add up to the entry's size";
  if (!bad && !chunk_fill(&c, 4)) bad = "";
  uint32_t stored = 0, entry = crc;
  if (!bad) {
    const unsigned char *p = c.buf + c.pos;
    stored = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    entry = deft_crc32c_extend(entry, p, 4);
    c.pos += 4;
  }
  while (!bad && (c.pos < c.len || c.off < c.end)) { /* the string bytes */
    entry = deft_crc32c_extend(entry, c.buf + c.pos, c.len - c.pos);
    c.pos = c.len;
    if (!chunk_fill(&c, 1)) bad = "";
  }
  if (bad && !*bad) deft_io_error(s, errno, "read checkpoint data file", file);
  if (!bad && DEFT_CRC_BAD(e->crc, deft_crc32c_mask(entry))) bad = "crc32c mismatch";
  if (!bad && DEFT_CRC_BAD(crc, deft_crc32c_unmask(stored)))
    bad = "string lengths checksum mismatch";
  deft_free(c.buf);
  return bad;
}

/* Decodes a DT_STRING entry into t (allocated here): pass 1 (check_strings) verifies it from
 * the file; only then does pass 2 read it whole, allocate the elements and copy. */
static bool read_strings(int fd, const rentry *e, const char *file, deft_tensor *t,
                         deft_status *s) {
  int64_t n = 1;
  for (int d = 0; d < e->rank; d++) n *= e->dims[d];
  const char *bad = check_strings(fd, e, n, s, file);
  if (bad && !*bad) return false; /* status set */
  unsigned char *b = NULL;
  if (!bad && !(b = deft_malloc((size_t)e->size + 1))) return oom(s, "reading a string tensor");
  if (!bad && !pread_all(fd, b, (size_t)e->size, e->offset)) {
    deft_io_error(s, errno, "read checkpoint data file", file);
    deft_free(b);
    return false;
  }
  if (!bad && !deft_tensor_ensure(t, DEFT_STRING, e->dims, e->rank, s)) {
    deft_free(b);
    return false;
  }
  const unsigned char *end = b + e->size, *q = b, *data = NULL;
  uint64_t len;
  if (!bad) { /* the byte after the lengths */
    for (int64_t i = 0; q && i < n; i++) q = deft_varint_get(q, end, 64, &len);
    data = q && end - q >= 4 ? q + 4 : NULL;
    q = b;
  }
  if (!bad && !data) bad = "the file changed while it was read";
  deft_bytes *str = bad ? NULL : deft_tensor_str(t);
  for (int64_t i = 0; !bad && i < n; i++) {
    q = deft_varint_get(q, end, 64, &len); /* checked by pass 1, unless the file changed */
    if (!q || len > (uint64_t)(end - data)) {
      bad = "the file changed while it was read";
      break;
    }
    if (len && !(str[i].data = deft_strndup((const char *)data, (size_t)len))) {
      deft_free(b);
      return oom(s, "reading a string tensor");
    }
    str[i].len = (size_t)len;
    data += len;
  }
  deft_free(b);
  if (bad) {
    deft_status_set(s, DEFT_DATA_LOSS,
                    "checkpoint tensor '%s' in %s: %s (offset %" PRId64 ", %" PRId64 " bytes)",
                    e->key, file, bad, e->offset, e->size);
    return false;
  }
  return true;
}

static deft_tensor *read_entry(deft_bundle_reader *r, const rentry *e, deft_status *s) {
  const char *file = r->shard_paths[e->shard];
  int64_t count = 1;
  for (int d = 0; d < e->rank; d++) count *= e->dims[d];
  size_t esize = deft_dtype_size((deft_dtype)e->dtype);
  int64_t fsize = r->fsizes[e->shard];
  const char *bad = NULL;
  if (e->offset > fsize || e->size > fsize - e->offset)
    bad = "its bytes lie beyond the end of the file";
  else if (e->dtype != DEFT_STRING && (count > e->size || count * (int64_t)esize != e->size))
    bad = "its size does not match its shape and dtype";
  else if (e->dtype == DEFT_STRING && (count > e->size || e->size - count < 4))
    bad = "its size is too small for its number of strings";
  if (bad) {
    deft_status_set(s, DEFT_DATA_LOSS, "checkpoint tensor '%s' in %s: %s (shape has %" PRId64
                    " elements; offset %" PRId64 ", size %" PRId64 ", file %" PRId64 " bytes)",
                    e->key, file, bad, count, e->offset, e->size, fsize);
    return NULL;
  }
  deft_tensor *t = deft_calloc(1, sizeof *t);
  if (!t) {
    oom(s, "reading a checkpoint tensor");
    return NULL;
  }
  if (e->dtype != DEFT_STRING &&
      !deft_tensor_ensure(t, (deft_dtype)e->dtype, e->dims, e->rank, s)) {
    deft_free(t);
    return NULL;
  }
  bool ok = true;
  unsigned char *buf = e->dtype == DEFT_STRING ? NULL : t->buf->data;
  if (e->dtype == DEFT_STRING) {
    ok = read_strings(r->fds[e->shard], e, file, t, s);
  } else if (!pread_all(r->fds[e->shard], buf, (size_t)e->size, e->offset)) {
    deft_io_error(s, errno, "read checkpoint data file", file);
    ok = false;
  } else {
    uint32_t crc = deft_crc32c(buf, (size_t)e->size);
    if (DEFT_CRC_BAD(e->crc, deft_crc32c_mask(crc))) {
      deft_status_set(s, DEFT_DATA_LOSS, "checkpoint tensor '%s' in %s: crc32c mismatch "
                      "(stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 "; offset %" PRId64
                      ", %" PRId64 " bytes)", e->key, file, deft_crc32c_unmask(e->crc), crc,
                      e->offset, e->size);
      ok = false;
    } else if (e->dtype == DEFT_BOOL) {
      for (int64_t i = 0; i < e->size; i++) buf[i] = buf[i] != 0; /* only 0/1 are valid bools */
    }
  }
  if (!ok) {
    deft_tensor_free(t);
    return NULL;
  }
  return t;
}

deft_tensor *deft_bundle_reader_read(deft_bundle_reader *r, const char *key,
                                     deft_status *status) {
  if (r->v1) return deft_v1_reader_read(r->v1, key, status);
  const rentry *e = find_entry(r, key);
  if (!e) {
    deft_status_set(status, DEFT_NOT_FOUND, "key '%s' not found in checkpoint %s", key,
                    r->index_path);
    return NULL;
  }
  if (e->nslices) {
    deft_status_set(status, DEFT_UNIMPLEMENTED, "checkpoint tensor '%s' in %s is stored as %zu "
                    "slices (a partitioned variable); deft does not read sliced tensors", key,
                    r->index_path, e->nslices);
    return NULL;
  }
  if (!deft_dtype_is_valid(e->dtype) || e->rank < 0) {
    deft_status_set(status, DEFT_UNIMPLEMENTED, "checkpoint tensor '%s' in %s has %s %s (%d)%s",
                    key, r->index_path, e->rank < 0 ? "a rank above 8 and dtype" : "dtype",
                    tf_dtype_name(e->dtype), e->dtype, ", which deft does not support");
    return NULL;
  }
  return read_entry(r, e, status);
}

/* ---- the `checkpoint` state file ---- */

static char *join_dir(const char *dir, const char *path) {
  size_t dl = strlen(dir);
  if (path[0] == '/' || dl == 0) return deft_strdup(path);
  return str_printf("%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", path);
}

/* Reads a whole small file, NUL-terminated. */
static char *read_text_file(const char *path, size_t *len, deft_status *s) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    deft_io_error(s, errno, "open", path);
    if (fd >= 0) close(fd);
    return NULL;
  }
  char *buf = NULL;
  if (st.st_size > (1 << 24)) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: %" PRId64 " bytes is too large for a checkpoint "
                    "state file", path, (int64_t)st.st_size);
  } else if (!(buf = deft_malloc((size_t)st.st_size + 1))) {
    oom(s, "reading a checkpoint state file");
  } else if (!pread_all(fd, buf, (size_t)st.st_size, 0)) {
    deft_io_error(s, errno, "read", path);
    deft_free(buf);
    buf = NULL;
  } else {
    buf[st.st_size] = 0;
    *len = (size_t)st.st_size;
  }
  close(fd);
  return buf;
}

/* A tiny parser for the protobuf text format of CheckpointState. */
typedef struct tparser {
  const char *p, *start, *end, *path;
  deft_status *s;
} tparser;

static bool tp_fail(tparser *tp, const char *what) {
  deft_status_set(tp->s, DEFT_DATA_LOSS, "%s: malformed checkpoint state at byte offset %zu: %s",
                  tp->path, (size_t)(tp->p - tp->start), what);
  return false;
}

static void tp_skip_ws(tparser *tp) {
  while (tp->p < tp->end) {
    char c = *tp->p;
    if (c == '#') {
      while (tp->p < tp->end && *tp->p != '\n') tp->p++;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      tp->p++;
    } else {
      break;
    }
  }
}

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses one or more adjacent quoted strings (concatenated) into a new deft_malloc'd string. */
static char *tp_string(tparser *tp) {
  char *out = deft_malloc((size_t)(tp->end - tp->p) + 1), *o = out;
  if (!out) {
    oom(tp->s, "reading a checkpoint state file");
    return NULL;
  }
  const char *bad = NULL;
  if (tp->p >= tp->end || (*tp->p != '"' && *tp->p != '\'')) bad = "expected a quoted string";
  while (!bad && tp->p < tp->end && (*tp->p == '"' || *tp->p == '\'')) {
    char q = *tp->p++;
    while (!bad && tp->p < tp->end && *tp->p != q) {
      char c = *tp->p;
      if (c == '\n') bad = "newline inside a string";
      else if (tp->p++, c != '\\') *o++ = c;
      else if (tp->p >= tp->end) bad = "unterminated string";
      else {
        c = *tp->p++;
        const char *simple = strchr("n\nr\rt\ta\ab\bf\fv\v\\\\''\"\"??", c);
        if (c && simple && (simple - "n\nr\rt\ta\ab\bf\fv\v\\\\''\"\"??") % 2 == 0) {
          *o++ = simple[1];
        } else if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && tp->p < tp->end && *tp->p >= '0' && *tp->p <= '7'; k++)
            v = v * 8 + (*tp->p++ - '0');
          if (v > 255) bad = "octal escape above \\377";
          *o++ = (char)v;
        } else if (c == 'x' && tp->p < tp->end && hex_val(*tp->p) >= 0) {
          int v = hex_val(*tp->p++);
          if (tp->p < tp->end && hex_val(*tp->p) >= 0) v = v * 16 + hex_val(*tp->p++);
          *o++ = (char)v;
        } else {
          bad = "unknown escape sequence";
        }
      }
    }
    if (!bad && tp->p >= tp->end) bad = "unterminated string";
    if (bad) break;
    tp->p++;
    tp_skip_ws(tp);
  }
  *o = 0;
  if (!bad && (size_t)(o - out) != strlen(out)) bad = "path contains a NUL byte";
  if (bad) {
    tp_fail(tp, bad);
    deft_free(out);
    return NULL;
  }
  return out;
}

static bool push_path(char ***paths, int *n, char *p, deft_status *s) {
  if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
    char **q = deft_realloc(*paths, (size_t)(*n ? 2 * *n : 1) * sizeof *q);
    if (!q) {
      deft_free(p);
      return oom(s, "reading a checkpoint state file");
    }
    *paths = q;
  }
  (*paths)[(*n)++] = p;
  return true;
}

/* Parses the fields; stores model_checkpoint_path and the repeated paths (not yet joined). */
static bool tp_parse(tparser *tp, char **model, char ***paths, int *n) {
  for (tp_skip_ws(tp); tp->p < tp->end; tp_skip_ws(tp)) {
    const char *name = tp->p;
    while (tp->p < tp->end && (*tp->p == '_' || (*tp->p >= 'a' && *tp->p <= 'z') ||
                               (*tp->p >= 'A' && *tp->p <= 'Z') ||
                               (tp->p > name && *tp->p >= '0' && *tp->p <= '9')))
      tp->p++;
    size_t nl = (size_t)(tp->p - name);
    if (nl == 0) return tp_fail(tp, "expected a field name");
    tp_skip_ws(tp);
    if (tp->p >= tp->end || *tp->p != ':') return tp_fail(tp, "expected ':' after a field name");
    tp->p++;
    tp_skip_ws(tp);
#define IS_FIELD(lit) (nl == sizeof lit - 1 && memcmp(name, lit, nl) == 0)
    bool list = tp->p < tp->end && *tp->p == '[';
    if (IS_FIELD("model_checkpoint_path")) {
      if (*model) return tp_fail(tp, "model_checkpoint_path given twice");
      if (!(*model = tp_string(tp))) return false;
    } else if (IS_FIELD("all_model_checkpoint_paths")) {
      if (list) tp->p++;
      for (tp_skip_ws(tp); !list || (tp->p < tp->end && *tp->p != ']'); tp_skip_ws(tp)) {
        char *str = tp_string(tp);
        if (!str || !push_path(paths, n, str, tp->s)) return false;
        tp_skip_ws(tp);
        if (!list) break;
        if (tp->p < tp->end && *tp->p == ',') tp->p++;
      }
      if (list && tp->p++ >= tp->end) return tp_fail(tp, "unterminated list");
    } else if (IS_FIELD("all_model_checkpoint_timestamps") ||
               IS_FIELD("last_preserved_timestamp")) {
      const char *num = tp->p; /* a number, or a list of them: accepted and ignored */
      while (tp->p < tp->end && (list ? *tp->p != ']' : isalnum((unsigned char)*tp->p) ||
                                                         strchr("_.+-", *tp->p)) && *tp->p)
        tp->p++;
      if (tp->p == num) return tp_fail(tp, "expected a number");
      if (list && (tp->p >= tp->end || *tp->p++ != ']')) return tp_fail(tp, "unterminated list");
    } else {
      char what[160];
      snprintf(what, sizeof what, "unknown field '%.*s'", (int)(nl > 100 ? 100 : nl), name);
      return tp_fail(tp, what);
    }
#undef IS_FIELD
    tp_skip_ws(tp);
    if (tp->p < tp->end && (*tp->p == ',' || *tp->p == ';')) tp->p++;
  }
  if (!*model) {
    deft_status_set(tp->s, DEFT_DATA_LOSS, "%s: checkpoint state has no model_checkpoint_path",
                    tp->path);
    return false;
  }
  return true;
}

void deft_checkpoint_state_free(char *model_path, char **all_paths, int n) {
  deft_free(model_path);
  for (int i = 0; all_paths && i < n; i++) deft_free(all_paths[i]);
  deft_free(all_paths);
}

bool deft_checkpoint_state_read(const char *dir, char **model_path, char ***all_paths, int *n,
                                deft_status *status) {
  char *path = str_printf("%s/checkpoint", dir);
  if (!path) return oom(status, "reading a checkpoint state file");
  size_t len = 0;
  char *text = read_text_file(path, &len, status);
  char *model = NULL, **paths = NULL;
  int np = 0;
  tparser tp = {text, text, text + len, path, status};
  bool ok = text && tp_parse(&tp, &model, &paths, &np);
  for (int i = -1; ok && i < np; i++) { /* join relative paths onto dir */
    char **slot = i < 0 ? &model : &paths[i];
    char *joined = join_dir(dir, *slot);
    if (!joined) ok = oom(status, "reading a checkpoint state file");
    else {
      deft_free(*slot);
      *slot = joined;
    }
  }
  deft_free(text);
  deft_free(path);
  if (!ok || !all_paths) {
    deft_checkpoint_state_free(ok ? NULL : model, paths, np);
    if (!ok) return false;
    paths = NULL;
  }
  *model_path = model;
  if (all_paths) *all_paths = paths;
  if (n) *n = np;
  return true;
}

/* Writes src with the C escapes of protobuf's text format; dst needs 4 * strlen(src) + 1. */
static char *escape_into(char *dst, const char *src) {
  for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
    const char *esc = NULL;
    switch (*p) {
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '"': esc = "\\\""; break;
      case '\'': esc = "\\'"; break;
      case '\\': esc = "\\\\"; break;
      default: break;
    }
    if (esc) dst += sprintf(dst, "%s", esc);
    else if (*p < 0x20 || *p >= 0x7f) dst += sprintf(dst, "\\%03o", *p);
    else *dst++ = (char)*p;
  }
  *dst = 0;
  return dst;
}

bool deft_checkpoint_state_write(const char *dir, const char *model_path,
                                 const char *const *all_paths, int n, deft_status *status) {
  return deft_checkpoint_state_write_io(dir, model_path, all_paths, n, NULL, status);
}

bool deft_checkpoint_state_write_io(const char *dir, const char *model_path,
                                    const char *const *all_paths, int n,
                                    const deft_io_hooks *io, deft_status *status) {
  if (!dir || !model_path || n < 0 || (n > 0 && !all_paths)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "checkpoint state: missing directory or "
                    "path, or negative count %d", n);
    return false;
  }
  static const char k_model[] = "model_checkpoint_path: \"",
                    k_all[] = "all_model_checkpoint_paths: \"";
  size_t cap = sizeof k_model + 4 * strlen(model_path) + 3;
  for (int i = 0; i < n; i++) {
    if (!all_paths[i]) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "checkpoint state: path %d is NULL", i);
      return false;
    }
    cap += sizeof k_all + 4 * strlen(all_paths[i]) + 3;
  }
  char *text = deft_malloc(cap), *o = text;
  char *path = str_printf("%s/checkpoint", dir);
  out_file *f = deft_calloc(1, sizeof *f);
  bool ok = false;
  if (!text || !path || !f) {
    oom(status, "writing a checkpoint state file");
  } else {
    for (int i = -1; i < n; i++) {
      o += sprintf(o, "%s", i < 0 ? k_model : k_all);
      o = escape_into(o, i < 0 ? model_path : all_paths[i]);
      o += sprintf(o, "\"\n");
    }
    ok = out_open(f, path, ".tmp", io, status) &&
         out_append(f, text, (size_t)(o - text), status) && out_close(f, status) &&
         deft_atomic_file_install(f->af, status);
    if (ok) deft_io_sync_parent_dir(path);
    out_discard(f);
  }
  deft_free(f);
  deft_free(text);
  deft_free(path);
  return ok;
}

char *deft_latest_checkpoint(const char *dir, deft_status *status) {
  char *model = NULL;
  if (!deft_checkpoint_state_read(dir, &model, NULL, NULL, status)) return NULL;
  char *index = str_printf("%s.index", model);
  struct stat st;
  if (!index) {
    oom(status, "finding the latest checkpoint");
  } else if (stat(index, &st) != 0) {
    deft_status_set(status, DEFT_NOT_FOUND, "%s/checkpoint names '%s', but '%s' does not exist",
                    dir, model, index);
  } else {
    deft_free(index);
    return model;
  }
  deft_free(index);
  deft_free(model);
  return NULL;
}
