/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/data_idx.c - IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed, and the
 * MNIST-layout directory loader (see include/deft/data.h).
 *
 * IDX layout: a 4-byte magic (two zero bytes, a type code, the rank), then `rank` big-endian
 * uint32 dims, then the elements, big-endian, row-major. A gzip file is recognised by its first two
 * bytes (0x1f 0x8b) and inflated on the fly through zlib with deft's allocator, so the OOM test
 * hook covers it too. Byte offsets in messages are offsets in the (decompressed) IDX stream. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "deft/data.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"

#define IN_CHUNK ((size_t)1 << 16)
#define FIRST_CAP ((size_t)1 << 22) /* first data buffer when the size cannot be checked up front */
#define MAX_INFLATE_RATIO 1032u     /* deflate's largest expansion: 258 bytes from 2 bits */

/* ---- a byte source: raw or gzip ---- */

typedef struct src {
  const char *path;
  int fd;
  bool gz;
  bool zinit;  /* inflateInit2 succeeded */
  bool in_eof; /* read() returned 0 */
  bool done;   /* gzip: the last member ended with no input after it */
  z_stream zs; /* gzip state; for raw files next_in/avail_in are the buffered bytes */
  unsigned char *in;
  uint64_t pos;   /* bytes delivered so far (decompressed offset) */
  uint64_t zpos;  /* compressed bytes handed to zlib so far */
} src;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  if (size && items > SIZE_MAX / size) return Z_NULL;
  return deft_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p) { deft_free(p); }


/* Refills s->in. Returns the byte count (0 at end of file) or -1 with status set. */
static ssize_t src_fill(src *s, deft_status *status) {
  for (;;) {
    ssize_t r = read(s->fd, s->in, IN_CHUNK);
    if (r >= 0) {
      if (r == 0) s->in_eof = true;
      s->zs.next_in = s->in;
      s->zs.avail_in = (uInt)r;
      return r;
    }
    if (errno == EINTR) continue;
    deft_status_set(status, DEFT_DATA_LOSS, "%s: read error after byte %" PRIu64 ": %s", s->path,
                    s->pos, strerror(errno));
    return -1;
  }
}

/* Opens path and sniffs the gzip magic. Returns false with status set on failure; s is then safe
 * to pass to src_close. */
static bool src_open(src *s, const char *path, struct stat *st, deft_status *status) {
  memset(s, 0, sizeof *s);
  s->path = path;
  s->fd = open(path, O_RDONLY);
  if (s->fd < 0) {
    deft_status_set(status, deft_code_from_errno(errno), "%s: cannot open: %s", path,
                    strerror(errno));
    return false;
  }
  if (fstat(s->fd, st) != 0 || S_ISDIR(st->st_mode)) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "%s: not a readable file", path);
    return false;
  }
  s->in = deft_malloc(IN_CHUNK);
  if (!s->in) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    return false;
  }
  /* Collect at least two bytes (or the whole file) for the sniff. */
  size_t have = 0;
  while (have < 2 && !s->in_eof) {
    ssize_t r = read(s->fd, s->in + have, IN_CHUNK - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: read error at byte 0: %s", path,
                      strerror(errno));
      return false;
    }
    if (r == 0) s->in_eof = true;
    have += (size_t)r;
  }
  s->zs.next_in = s->in;
  s->zs.avail_in = (uInt)have;
  s->gz = have >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
  if (s->gz) {
    s->zs.zalloc = z_alloc;
    s->zs.zfree = z_free;
    int zr = inflateInit2(&s->zs, 15 + 16); /* gzip wrapper only */
    if (zr != Z_OK) {
      if (zr == Z_MEM_ERROR)
        deft_status_set(status, DEFT_RESOURCE_EXHAUSTED,
                        "%s: out of memory starting gzip decompression", path);
      else
        deft_status_set(status, DEFT_INTERNAL, "%s: cannot start gzip decompression: %s", path,
                        zError(zr));
      return false;
    }
    s->zinit = true;
  }
  return true;
}

static void src_close(src *s) {
  if (s->zinit) inflateEnd(&s->zs);
  if (s->fd >= 0) close(s->fd);
  deft_free(s->in);
}

/* Reads up to n bytes into dst, stopping early only at the end of the data. Returns the count, or
 * -1 with status set (read error, corrupt or truncated gzip stream, trailing non-gzip bytes). */
static int64_t src_read(src *s, unsigned char *dst, size_t n, deft_status *status) {
  size_t got = 0;
  while (got < n) {
    if (!s->gz) {
      if (s->zs.avail_in) {
        size_t k = n - got < s->zs.avail_in ? n - got : s->zs.avail_in;
        memcpy(dst + got, s->zs.next_in, k);
        s->zs.next_in += k;
        s->zs.avail_in -= (uInt)k;
        got += k;
        s->pos += k;
        continue;
      }
      if (s->in_eof) break;
      if (src_fill(s, status) < 0) return -1;
      continue;
    }
    if (s->done) break;
    if (s->zs.avail_in == 0 && !s->in_eof && src_fill(s, status) < 0) return -1;
    size_t want = n - got < UINT_MAX ? n - got : UINT_MAX;
    uInt in_before = s->zs.avail_in;
    s->zs.next_out = dst + got;
    s->zs.avail_out = (uInt)want;
    int zr = inflate(&s->zs, Z_NO_FLUSH);
    size_t produced = want - s->zs.avail_out;
    got += produced;
    s->pos += produced;
    s->zpos += in_before - s->zs.avail_in;
    if (zr == Z_STREAM_END) {
      /* Another gzip member may follow; anything else is garbage. */
      if (s->zs.avail_in == 0 && !s->in_eof && src_fill(s, status) < 0) return -1;
      if (s->zs.avail_in == 0) {
        s->done = true;
      } else if (s->zs.next_in[0] == 0x1f) {
        inflateReset(&s->zs);
      } else {
        deft_status_set(status, DEFT_DATA_LOSS,
                        "%s: trailing garbage after the gzip data at compressed byte %" PRIu64,
                        s->path, s->zpos);
        return -1;
      }
    } else if (zr == Z_BUF_ERROR) {
      /* No progress possible: the input is exhausted (src_fill ran first) mid-stream. */
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: truncated gzip stream at compressed byte %" PRIu64
                      " (decompressed byte %" PRIu64 ")", s->path, s->zpos, s->pos);
      return -1;
    } else if (zr == Z_MEM_ERROR) {
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED,
                      "%s: out of memory during gzip decompression", s->path);
      return -1;
    } else if (zr != Z_OK) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: corrupt gzip data near compressed byte %" PRIu64 ": %s", s->path,
                      s->zpos, s->zs.msg ? s->zs.msg : zError(zr));
      return -1;
    }
  }
  return (int64_t)got;
}

/* ---- IDX ---- */

typedef struct idx_type {
  uint8_t code;
  const char *name;
  size_t size;      /* bytes per element in the file */
  deft_dtype dtype; /* what deft stores it as */
} idx_type;

static const idx_type idx_types[] = {
    {0x08, "ubyte", 1, DEFT_UINT8}, {0x09, "byte", 1, DEFT_INT32},
    {0x0b, "short", 2, DEFT_INT32}, {0x0c, "int", 4, DEFT_INT32},
    {0x0d, "float", 4, DEFT_FLOAT}, {0x0e, "double", 8, DEFT_DOUBLE},
};

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Returns a heap tensor of dtype/dims with uninitialized contents, or NULL with status set. */
static deft_tensor *tensor_uninit(deft_dtype dtype, const int64_t *dims, int rank,
                                  deft_status *status) {
  deft_tensor *t = deft_calloc(1, sizeof *t);
  if (!t) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating a tensor");
    return NULL;
  }
  if (!deft_tensor_ensure(t, dtype, dims, rank, status)) {
    deft_free(t);
    return NULL;
  }
  return t;
}

/* Converts n big-endian elements of type ty, whose file bytes fill the start of t's buffer, into
 * t's dtype in place. Widening types (byte and short to int32) go from the last element down, so
 * no element's bytes are overwritten before they are read. */
static void idx_convert_inplace(const idx_type *ty, int64_t n, deft_tensor *t) {
  unsigned char *raw = t->buf ? t->buf->data : NULL;
  switch (ty->code) {
    case 0x08:
      break;
    case 0x09:
      for (int64_t i = n - 1; i >= 0; i--) {
        int32_t v = (int8_t)raw[i];
        memcpy(raw + 4 * i, &v, 4);
      }
      break;
    case 0x0b:
      for (int64_t i = n - 1; i >= 0; i--) {
        int32_t v = (int16_t)(uint16_t)((unsigned)raw[2 * i] << 8 | raw[2 * i + 1]);
        memcpy(raw + 4 * i, &v, 4);
      }
      break;
    case 0x0c:
    case 0x0d:
      for (int64_t i = 0; i < n; i++) {
        uint32_t u = be32(raw + 4 * i);
        memcpy(raw + 4 * i, &u, 4);
      }
      break;
    case 0x0e:
      for (int64_t i = 0; i < n; i++) {
        uint64_t u = be64(raw + 8 * i);
        memcpy(raw + 8 * i, &u, 8);
      }
      break;
  }
}

/* Reads exactly `want` data bytes, then checks that no byte follows them. With dst != NULL the
 * bytes go straight into dst (which holds at least want bytes) and dst is returned. Otherwise
 * they go into a buffer grown as data arrives, so a small stream claiming huge dims cannot make
 * deft allocate much more than it holds; the caller frees that buffer. Returns NULL with status
 * set on failure. */
static unsigned char *idx_read_data(src *s, uint64_t want, unsigned char *dst,
                                    deft_status *status) {
  uint64_t data_at = s->pos;
  size_t cap = dst || want < FIRST_CAP ? (size_t)want : FIRST_CAP;
  unsigned char *buf = dst ? dst : deft_malloc(cap);
  if (!buf) goto oom;
  uint64_t got = 0;
  while (got < want) {
    if (got == cap) {
      size_t ncap = want - cap < cap ? (size_t)want : cap * 2;
      unsigned char *nb = deft_realloc(buf, ncap);
      if (!nb) goto oom;
      buf = nb;
      cap = ncap;
    }
    size_t ask = cap - (size_t)got;
    int64_t r = src_read(s, buf + got, ask, status);
    if (r < 0) goto fail;
    got += (uint64_t)r;
    if ((size_t)r < ask) break; /* end of data */
  }
  if (got < want) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated data at byte %" PRIu64 ": expected %" PRIu64
                    " bytes, got %" PRIu64 "%s", s->path, data_at, want, got,
                    s->gz ? " (offsets in the decompressed stream)" : "");
    goto fail;
  }
  unsigned char extra;
  int64_t r = src_read(s, &extra, 1, status);
  if (r < 0) goto fail;
  if (r > 0) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: trailing bytes after the data at byte %" PRIu64
                    " (the header's dims account for %" PRIu64 " data bytes)%s", s->path,
                    data_at + want, want, s->gz ? " (offsets in the decompressed stream)" : "");
    goto fail;
  }
  return buf;
oom:
  deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory reading %" PRIu64 " bytes",
                  s->path, want);
fail:
  if (buf != dst) deft_free(buf);
  return NULL;
}

deft_tensor *deft_idx_read(const char *path, deft_status *status) {
  src s;
  struct stat st;
  deft_tensor *t = NULL;
  unsigned char *raw = NULL;
  if (!src_open(&s, path, &st, status)) goto done;
  unsigned char hdr[4 + 4 * DEFT_MAX_RANK];
  int64_t r = src_read(&s, hdr, 4, status);
  if (r < 0) goto done;
  if (r < 4) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated IDX header at byte %" PRId64 ": expected a 4-byte magic, got %"
                    PRId64 " bytes", path, r, r);
    goto done;
  }
  uint32_t magic = be32(hdr);
  if (hdr[0] || hdr[1]) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: bad IDX magic 0x%08" PRIx32 " at byte 0 (expected 0x0000TTRR: two zero "
                    "bytes, a type code TT, a rank RR)", path, magic);
    goto done;
  }
  const idx_type *ty = NULL;
  for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
    if (idx_types[i].code == hdr[2]) ty = &idx_types[i];
  if (!ty) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: bad IDX magic 0x%08" PRIx32 " at byte 0: unknown type code 0x%02x at "
                    "byte 2 (expected 0x08 ubyte, 0x09 byte, 0x0b short, 0x0c int, 0x0d float or "
                    "0x0e double)", path, magic, hdr[2]);
    goto done;
  }
  int rank = hdr[3];
  if (rank > DEFT_MAX_RANK) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "%s: IDX rank %d at byte 3 exceeds deft's maximum rank %d", path, rank,
                    DEFT_MAX_RANK);
    goto done;
  }
  r = src_read(&s, hdr + 4, 4 * (size_t)rank, status);
  if (r < 0) goto done;
  if (r < 4 * rank) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated IDX header at byte %" PRId64 ": rank %d needs %d header "
                    "bytes, got %" PRId64, path, 4 + r, rank, 4 + 4 * rank, 4 + r);
    goto done;
  }
  int64_t dims[DEFT_MAX_RANK];
  uint64_t n = 1;
  bool overflow = false, zero = false;
  /* The product of the non-zero dims must fit even when a zero dim makes the count 0. */
  for (int i = 0; i < rank; i++) {
    dims[i] = be32(hdr + 4 + 4 * i);
    if (!dims[i]) zero = true;
    else if (n > (UINT64_MAX / 16) / (uint64_t)dims[i]) overflow = true;
    else n *= (uint64_t)dims[i];
  }
  if (!overflow && n * ty->size > (uint64_t)(SIZE_MAX / 4)) overflow = true;
  if (zero) n = 0;
  uint64_t want = n * ty->size;
  if (overflow || want > (uint64_t)(SIZE_MAX / 4)) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: IDX dims at bytes 4..%d describe more data than can be addressed", path,
                    4 + 4 * rank - 1);
    goto done;
  }
  uint64_t header_len = 4 + 4 * (uint64_t)rank;
  bool size_known = !s.gz && S_ISREG(st.st_mode);
  if (size_known && (uint64_t)st.st_size < header_len + want) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated data at byte %" PRIu64 ": expected %" PRIu64
                    " bytes, got %" PRIu64, path, header_len, want,
                    (uint64_t)st.st_size - header_len);
    goto done;
  }
  /* The data goes straight into the tensor when the file can hold it: a raw file's size was
   * checked above, and deflate expands at most MAX_INFLATE_RATIO-fold, so a gzip file claiming
   * more than that is read into a growing buffer first (and then fails as truncated). */
  bool direct = size_known || (S_ISREG(st.st_mode) &&
                               want <= (uint64_t)st.st_size * MAX_INFLATE_RATIO);
  if (!direct) {
    raw = idx_read_data(&s, want, NULL, status);
    if (!raw) goto done;
  }
  t = tensor_uninit(ty->dtype, dims, rank, status);
  if (!t) {
    deft_status_prefix(status, "%s", path);
    goto done;
  }
  unsigned char none;
  if (direct && !idx_read_data(&s, want, want ? t->buf->data : &none, status)) {
    deft_tensor_free(t);
    t = NULL;
    goto done;
  }
  if (!direct && want) memcpy(t->buf->data, raw, (size_t)want);
  idx_convert_inplace(ty, (int64_t)n, t);
done:
  deft_free(raw);
  src_close(&s);
  return t;
}

/* ---- MNIST-layout directories ---- */

static const char *const mnist_names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* Returns a new string "dir/name" if that file exists, else "dir/name.gz" if that exists, else
 * NULL with status NOT_FOUND (or RESOURCE_EXHAUSTED). */
static char *mnist_find(const char *dir, const char *name, deft_status *status) {
  size_t len = strlen(dir) + strlen(name) + 5;
  char *p = deft_malloc(len);
  if (!p) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", dir);
    return NULL;
  }
  struct stat st;
  snprintf(p, len, "%s/%s", dir, name);
  if (stat(p, &st) == 0) return p;
  snprintf(p, len, "%s/%s.gz", dir, name);
  if (stat(p, &st) == 0) return p;
  deft_status_set(status, DEFT_NOT_FOUND, "%s: neither %s nor %s.gz found", dir, name, name);
  deft_free(p);
  return NULL;
}

/* Turns an IDX image tensor into [N, d1*d2*...], float/255 unless keep_uint8. */
static deft_tensor *mnist_images(deft_tensor *img, const char *path, bool keep_uint8,
                                 deft_status *status) {
  char sb[96];
  if (img->dtype != DEFT_UINT8 || img->rank < 2) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: expected ubyte images of rank >= 2, got %s %s", path,
                    deft_dtype_name(img->dtype), deft_shape_format(deft_tensor_shape(img), sb,
                                                                   sizeof sb));
    return NULL;
  }
  int64_t dims[2] = {img->dims[0], 1};
  for (int i = 1; i < img->rank; i++) dims[1] *= img->dims[i];
  if (keep_uint8) {
    deft_tensor *r = deft_tensor_share(img);
    if (!r) deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    else deft_tensor_reshape_inplace(r, dims, 2);
    return r;
  }
  deft_tensor *r = deft_images_to_float(img, status);
  if (!r) deft_status_prefix(status, "%s", path);
  return r;
}

/* Turns an IDX label tensor into int32 [N]. */
static deft_tensor *mnist_labels(deft_tensor *lab, const char *path, deft_status *status) {
  if (lab->rank != 1 || (lab->dtype != DEFT_UINT8 && lab->dtype != DEFT_INT32)) {
    char sb[96];
    deft_status_set(status, DEFT_DATA_LOSS, "%s: expected rank-1 ubyte or int labels, got %s %s",
                    path, deft_dtype_name(lab->dtype),
                    deft_shape_format(deft_tensor_shape(lab), sb, sizeof sb));
    return NULL;
  }
  deft_tensor *r = tensor_uninit(DEFT_INT32, lab->dims, 1, status);
  if (!r) {
    deft_status_prefix(status, "%s", path);
    return NULL;
  }
  for (int64_t i = 0; i < lab->n; i++)
    deft_tensor_i32(r)[i] =
        lab->dtype == DEFT_UINT8 ? deft_tensor_u8(lab)[i] : deft_tensor_i32(lab)[i];
  return r;
}

bool deft_mnist_load(const char *dir, bool keep_uint8, deft_tensor **train_images,
                     deft_tensor **train_labels, deft_tensor **test_images,
                     deft_tensor **test_labels, deft_status *status) {
  deft_tensor **outs[4] = {train_images, train_labels, test_images, test_labels};
  deft_tensor *res[4] = {NULL, NULL, NULL, NULL};
  char *paths[4] = {NULL, NULL, NULL, NULL};
  bool ok = false;
  for (int i = 0; i < 4; i++) {
    if (!outs[i]) continue;
    paths[i] = mnist_find(dir, mnist_names[i], status);
    if (!paths[i]) goto done;
    deft_tensor *raw = deft_idx_read(paths[i], status);
    if (!raw) goto done;
    res[i] = (i % 2 == 0) ? mnist_images(raw, paths[i], keep_uint8, status)
                          : mnist_labels(raw, paths[i], status);
    deft_tensor_free(raw);
    if (!res[i]) goto done;
  }
  for (int i = 0; i < 4; i += 2) {
    if (res[i] && res[i + 1] && res[i]->dims[0] != res[i + 1]->dims[0]) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s has %" PRId64 " images but %s has %" PRId64 " labels", paths[i],
                      res[i]->dims[0], paths[i + 1], res[i + 1]->dims[0]);
      goto done;
    }
  }
  ok = true;
done:
  for (int i = 0; i < 4; i++) {
    deft_free(paths[i]);
    if (!outs[i]) continue;
    if (ok) {
      *outs[i] = res[i];
    } else {
      deft_tensor_free(res[i]);
      *outs[i] = NULL;
    }
  }
  return ok;
}
