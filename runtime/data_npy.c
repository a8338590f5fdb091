/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/data_npy.c - NumPy .npy files (see include/deft/data.h).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length (uint16 LE for 1.0,
 * uint32 LE for 2.0 and 3.0), then a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and a newline,
 * then the raw little-endian elements. The header is parsed by a small tokenizer that accepts keys
 * in any order, either quote style, extra spaces and trailing commas.
 *
 * Strings: |S<n> arrays (fixed-width bytes, trailing NULs are padding) and <U<n> arrays (UCS-4,
 * converted to UTF-8) read as string tensors; string tensors are written as |S<longest>.
 * Quantized tensors are written as their storage type (qint8 |i1, quint8 |u1, qint32 <i4); |i1
 * reads as qint8, deft's one 8-bit signed type. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deft/data.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "deft's .npy code assumes a little-endian host ('<' descrs are read and written as is)"
#endif

#define NPY_MAX_HEADER ((uint32_t)1 << 20) /* 1 MiB: far beyond any real header */
#define FIRST_CAP ((size_t)1 << 22)

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

typedef struct npy_dtype {
  const char *descr;
  deft_dtype dtype;
} npy_dtype;

static const npy_dtype npy_dtypes[] = {
    {"<f4", DEFT_FLOAT}, {"<f8", DEFT_DOUBLE}, {"<i4", DEFT_INT32},
    {"<i8", DEFT_INT64}, {"|u1", DEFT_UINT8},  {"|b1", DEFT_BOOL},
    /* deft has no int8: |i1 arrays are qint8, the one 8-bit signed type it has */
    {"|i1", DEFT_QINT8},
};

/* What `descr` is written for each dtype: the table's, and the quantized types as their storage
 * (qint8 as |i1, quint8 as |u1, qint32 as <i4). Strings are |S<n> (see deft_npy_write). */
static const char *npy_descr_of(deft_dtype dtype) {
  if (dtype == DEFT_QUINT8) return "|u1";
  if (dtype == DEFT_QINT32) return "<i4";
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (npy_dtypes[i].dtype == dtype) return npy_dtypes[i].descr;
  return NULL;
}

#define NPY_SUPPORTED "<f4, <f8, <i4, <i8, |u1, |i1, |b1, |S<n>, <U<n>"

/* Parses a string descr: "|S5" / "S5" (bytes, *unit 1) or "<U5" / "U5" (UCS-4, *unit 4), giving
 * the characters per element in *chars. False for anything else. */
static bool npy_string_descr(const char *d, int *unit, uint64_t *chars) {
  char order = (*d == '|' || *d == '<' || *d == '=') ? *d++ : 0;
  if (*d == 'S' || *d == 'a') *unit = 1;
  else if (*d == 'U') *unit = 4;
  else return false;
  if ((*unit == 1 && order == '<') || (*unit == 4 && order == '|')) return false;
  d++;
  if (*d < '0' || *d > '9') return false;
  uint64_t v = 0;
  for (; *d >= '0' && *d <= '9'; d++) {
    v = v * 10 + (uint64_t)(*d - '0');
    if (v > ((uint64_t)1 << 31)) return false;
  }
  if (*d) return false;
  *chars = v;
  return true;
}

/* Reads up to n bytes (fewer only at end of file). Returns the count or -1 (errno set). */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* ---- the header dict ---- */

typedef struct hdr_parser {
  const char *path;
  const char *start, *p, *end;
  uint64_t base; /* file offset of start */
  deft_status *status;
} hdr_parser;

static uint64_t hp_off(const hdr_parser *h) { return h->base + (uint64_t)(h->p - h->start); }

static bool hp_fail(hdr_parser *h, const char *what) {
  deft_status_set(h->status, DEFT_DATA_LOSS,
                  "%s: malformed .npy header at byte %" PRIu64 ": %s (header: \"%.*s\")", h->path,
                  hp_off(h), what, (int)(h->end - h->start > 120 ? 120 : h->end - h->start),
                  h->start);
  return false;
}

static void hp_ws(hdr_parser *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
    h->p++;
}

static bool hp_peek(hdr_parser *h, char c) { return h->p < h->end && *h->p == c; }

/* Parses a quoted string (no escapes) into out (at most outsz - 1 bytes). */
static bool hp_string(hdr_parser *h, char *out, size_t outsz, const char *what) {
  if (!hp_peek(h, '\'') && !hp_peek(h, '"')) return hp_fail(h, what);
  char q = *h->p++;
  size_t n = 0;
  while (h->p < h->end && *h->p != q) {
    if (*h->p == '\\' || *h->p == '\n' || n + 1 >= outsz) return hp_fail(h, what);
    out[n++] = *h->p++;
  }
  if (h->p == h->end) return hp_fail(h, "unterminated string");
  h->p++;
  out[n] = 0;
  return true;
}

static bool hp_bool(hdr_parser *h, bool *v) {
  if (h->end - h->p >= 4 && memcmp(h->p, "True", 4) == 0) {
    h->p += 4;
    *v = true;
    return true;
  }
  if (h->end - h->p >= 5 && memcmp(h->p, "False", 5) == 0) {
    h->p += 5;
    *v = false;
    return true;
  }
  return hp_fail(h, "'fortran_order' must be True or False");
}

/* Parses a tuple of non-negative ints: "()", "(3,)", "(2, 3)", "(2L, 3L)". */
static bool hp_shape(hdr_parser *h, int64_t *dims, int *rank) {
  if (!hp_peek(h, '(')) return hp_fail(h, "'shape' must be a tuple such as (3, 4)");
  h->p++;
  *rank = 0;
  for (;;) {
    hp_ws(h);
    if (hp_peek(h, ')')) break;
    if (h->p == h->end || *h->p < '0' || *h->p > '9')
      return hp_fail(h, "expected a non-negative integer in 'shape'");
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
      int d = *h->p - '0';
      if (v > (INT64_MAX - d) / 10) return hp_fail(h, "dimension in 'shape' overflows int64");
      v = v * 10 + d;
      h->p++;
    }
    if (hp_peek(h, 'L')) h->p++; /* Python 2 long */
    if (*rank == DEFT_MAX_RANK) {
      deft_status_set(h->status, DEFT_INVALID_ARGUMENT,
                      "%s: .npy shape at byte %" PRIu64 " has more than %d dims, deft's maximum",
                      h->path, hp_off(h), DEFT_MAX_RANK);
      return false;
    }
    dims[(*rank)++] = v;
    hp_ws(h);
    if (hp_peek(h, ',')) {
      h->p++;
      continue;
    }
    if (!hp_peek(h, ')')) return hp_fail(h, "expected ',' or ')' in 'shape'");
  }
  h->p++;
  return true;
}

typedef struct npy_header {
  uint64_t at; /* file offset of the header text */
  char descr[32];
  uint64_t descr_at;
  bool fortran;
  int rank;
  int64_t dims[DEFT_MAX_RANK];
} npy_header;

static bool hp_dict(hdr_parser *h, npy_header *out) {
  bool seen[3] = {false, false, false};
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  hp_ws(h);
  if (!hp_peek(h, '{')) return hp_fail(h, "expected '{'");
  h->p++;
  for (;;) {
    hp_ws(h);
    if (hp_peek(h, '}')) break;
    char key[32];
    const char *key_at = h->p;
    if (!hp_string(h, key, sizeof key, "expected a quoted key")) return false;
    int k = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(key, keys[i]) == 0) k = i;
    if (k < 0 || seen[k]) h->p = key_at; /* report the key's own offset */
    if (k < 0) {
      char msg[96];
      snprintf(msg, sizeof msg, "unexpected key '%s'", key);
      return hp_fail(h, msg);
    }
    if (seen[k]) {
      char msg[96];
      snprintf(msg, sizeof msg, "duplicate key '%s'", key);
      return hp_fail(h, msg);
    }
    seen[k] = true;
    hp_ws(h);
    if (!hp_peek(h, ':')) return hp_fail(h, "expected ':' after a key");
    h->p++;
    hp_ws(h);
    bool ok;
    if (k == 0) {
      out->descr_at = hp_off(h);
      if (hp_peek(h, '[')) {
        deft_status_set(h->status, DEFT_INVALID_ARGUMENT,
                        "%s: unsupported structured dtype at byte %" PRIu64
                        " (supported: " NPY_SUPPORTED ")", h->path, hp_off(h));
        return false;
      }
      ok = hp_string(h, out->descr, sizeof out->descr, "'descr' must be a short quoted string");
    } else if (k == 1) {
      ok = hp_bool(h, &out->fortran);
    } else {
      ok = hp_shape(h, out->dims, &out->rank);
    }
    if (!ok) return false;
    hp_ws(h);
    if (hp_peek(h, ',')) {
      h->p++;
      continue;
    }
    if (!hp_peek(h, '}')) return hp_fail(h, "expected ',' or '}' after a value");
  }
  h->p++;
  hp_ws(h);
  if (h->p != h->end) return hp_fail(h, "unexpected text after the dict");
  for (int i = 0; i < 3; i++) {
    if (!seen[i]) {
      char msg[64];
      snprintf(msg, sizeof msg, "the dict lacks '%s'", keys[i]);
      return hp_fail(h, msg);
    }
  }
  return true;
}

/* ---- reading ---- */

/* Appends code point cp as UTF-8 to out; false for a surrogate or a value past U+10FFFF. */
static bool utf8_put(uint32_t cp, char *out, size_t *n) {
  if (cp < 0x80) {
    out[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*n)++] = (char)(0xc0 | cp >> 6);
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    if (cp >= 0xd800 && cp < 0xe000) return false;
    out[(*n)++] = (char)(0xe0 | cp >> 12);
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x110000) {
    out[(*n)++] = (char)(0xf0 | cp >> 18);
    out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    return false;
  }
  return true;
}

/* A string tensor from n fixed-width elements of `chars` units at data: |S<n> bytes (unit 1) or
 * <U<n> UCS-4 code points (unit 4, stored as UTF-8). Trailing NULs are padding, as NumPy reads
 * them. A code point that is not Unicode is DATA_LOSS at its byte offset. */
static deft_tensor *npy_strings(const char *path, const int64_t *dims, int rank,
                                const unsigned char *data, int64_t n, int unit, size_t chars,
                                uint64_t data_at, deft_status *status) {
  deft_tensor *t = deft_tensor_new(DEFT_STRING, dims, rank, status);
  char *buf = unit == 4 ? deft_malloc(chars * 4 + 1) : NULL;
  if (!t || (unit == 4 && !buf)) {
    if (t) deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    deft_tensor_free(t);
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *e = data + (size_t)i * chars * (size_t)unit;
    size_t len = chars, blen = 0;
    const char *bytes = (const char *)e;
    if (unit == 1) {
      while (len && e[len - 1] == 0) len--;
      blen = len;
    } else {
      const unsigned char *q;
      while (len && (q = e + (len - 1) * 4, !(q[0] | q[1] | q[2] | q[3]))) len--;
      for (size_t k = 0; k < len; k++) {
        q = e + k * 4;
        uint32_t cp = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                      (uint32_t)q[3] << 24;
        if (!utf8_put(cp, buf, &blen)) {
          deft_status_set(status, DEFT_DATA_LOSS,
                          "%s: element %" PRId64 " holds 0x%" PRIx32
                          " at byte %" PRIu64 ", which is not a Unicode code point", path, i, cp,
                          data_at + (uint64_t)(q - data));
          goto fail;
        }
      }
      bytes = buf;
    }
    if (!deft_tensor_set_string(t, i, bytes, blen, status)) goto fail;
  }
  deft_free(buf);
  return t;
fail:
  deft_free(buf);
  deft_tensor_free(t);
  return NULL;
}

/* Reads the magic, version and header. On success fills hdr and *data_at (file offset of the
 * data). */
static bool npy_read_header(int fd, const char *path, npy_header *hdr, uint64_t *data_at,
                            deft_status *status) {
  unsigned char pre[12];
  ssize_t r = read_full(fd, pre, 10);
  if (r < 0) {
    deft_status_set(status, DEFT_DATA_LOSS, "%s: read error at byte 0: %s", path,
                    strerror(errno));
    return false;
  }
  size_t cmp = (size_t)r < 6 ? (size_t)r : 6;
  if (memcmp(pre, npy_magic, cmp) != 0 || r == 0) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: bad .npy magic at byte 0 (expected \"\\x93NUMPY\")", path);
    return false;
  }
  if (r < 10) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated .npy header at byte %zd: expected at least 10 bytes", path, r);
    return false;
  }
  if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "%s: unsupported .npy format version %u.%u at byte 6 (supported: 1.0, 2.0, "
                    "3.0)", path, pre[6], pre[7]);
    return false;
  }
  uint64_t start = 10;
  uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
  if (pre[6] >= 2) {
    r = read_full(fd, pre + 10, 2);
    if (r < 2) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: truncated .npy header at byte %zd: expected a 4-byte header length",
                      path, 10 + (r > 0 ? r : 0));
      return false;
    }
    hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    start = 12;
  }
  if (hlen > NPY_MAX_HEADER) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: .npy header length %" PRIu32 " at byte 8 exceeds the 1 MiB limit", path,
                    hlen);
    return false;
  }
  char *text = deft_malloc(hlen + 1);
  if (!text) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory reading the header", path);
    return false;
  }
  r = read_full(fd, text, hlen);
  if (r < (ssize_t)hlen) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated .npy header at byte %" PRIu64 ": expected %" PRIu32
                    " header bytes, got %zd", path, start + (r > 0 ? (uint64_t)r : 0), hlen,
                    r > 0 ? r : 0);
    deft_free(text);
    return false;
  }
  text[hlen] = 0;
  hdr_parser h = {path, text, text, text + hlen, start, status};
  memset(hdr, 0, sizeof *hdr);
  hdr->at = start;
  bool ok = hp_dict(&h, hdr);
  deft_free(text);
  *data_at = start + hlen;
  return ok;
}

/* Reads exactly `want` bytes into dst, growing a staging buffer when the file's size is not known
 * up front (pipes), so a header claiming huge dims cannot force a huge allocation. */
static bool npy_read_stream(int fd, const char *path, uint64_t data_at, size_t want,
                            unsigned char **out, deft_status *status) {
  size_t cap = want < FIRST_CAP ? want : FIRST_CAP, got = 0;
  unsigned char *buf = deft_malloc(cap);
  if (!buf) goto oom;
  for (;;) {
    ssize_t r = read_full(fd, buf + got, cap - got);
    if (r < 0) {
      deft_status_set(status, DEFT_DATA_LOSS, "%s: read error after byte %" PRIu64 ": %s", path,
                      data_at + got, strerror(errno));
      goto fail;
    }
    got += (size_t)r;
    if (got < cap || got == want) break;
    size_t ncap = want - cap < cap ? want : cap * 2;
    unsigned char *nb = deft_realloc(buf, ncap);
    if (!nb) goto oom;
    buf = nb;
    cap = ncap;
  }
  if (got < want) {
    deft_status_set(status, DEFT_DATA_LOSS,
                    "%s: truncated data at byte %" PRIu64 ": expected %zu bytes, got %zu", path,
                    data_at, want, got);
    goto fail;
  }
  *out = buf;
  return true;
oom:
  deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory reading %zu bytes", path,
                  want);
fail:
  deft_free(buf);
  return false;
}

deft_tensor *deft_npy_read(const char *path, deft_status *status) {
  deft_tensor *t = NULL;
  unsigned char *staged = NULL;
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    deft_status_set(status, deft_code_from_errno(errno), "%s: cannot open: %s", path,
                    strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "%s: not a readable file", path);
    goto fail;
  }
  npy_header hdr;
  uint64_t data_at;
  if (!npy_read_header(fd, path, &hdr, &data_at, status)) goto fail;
  deft_dtype dtype = DEFT_INVALID_DTYPE;
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
    if (strcmp(hdr.descr, npy_dtypes[i].descr) == 0) dtype = npy_dtypes[i].dtype;
  int str_unit = 0; /* 1 for |S<n>, 4 for <U<n> */
  uint64_t str_chars = 0;
  if (dtype == DEFT_INVALID_DTYPE && npy_string_descr(hdr.descr, &str_unit, &str_chars))
    dtype = DEFT_STRING;
  if (dtype == DEFT_INVALID_DTYPE) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "%s: unsupported dtype '%s' at byte %" PRIu64 "%s (supported: " NPY_SUPPORTED
                    ")", path, hdr.descr, hdr.descr_at, hdr.descr[0] == '>' ? ", big-endian" : "");
    goto fail;
  }
  uint64_t esize = dtype == DEFT_STRING ? str_chars * (uint64_t)str_unit : deft_dtype_size(dtype);
  int big_dims = 0;
  uint64_t n = 1;
  for (int i = 0; i < hdr.rank; i++) {
    if (hdr.dims[i] > 1) big_dims++;
    if (hdr.dims[i] == 0) continue; /* counted below: a zero dim must not hide an overflow */
    if (n > (uint64_t)(INT64_MAX / 8) / (uint64_t)hdr.dims[i] / (esize ? esize : 1)) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: .npy shape in the header at byte %" PRIu64 " overflows", path,
                      hdr.at);
      goto fail;
    }
    n *= (uint64_t)hdr.dims[i];
  }
  for (int i = 0; i < hdr.rank; i++)
    if (hdr.dims[i] == 0) n = 0;
  if (hdr.fortran && big_dims > 1 && n > 0) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "%s: Fortran-order (fortran_order: True) arrays of rank %d are not supported "
                    "(header at byte %" PRIu64 ")", path, hdr.rank, hdr.at);
    goto fail;
  }
  size_t want = (size_t)(n * esize);
  if (S_ISREG(st.st_mode)) {
    uint64_t size = (uint64_t)st.st_size, have = size > data_at ? size - data_at : 0;
    if (have < want) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: truncated data at byte %" PRIu64 ": expected %zu bytes, got %" PRIu64,
                      path, data_at, want, have);
      goto fail;
    }
    if (have > want) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: %" PRIu64 " trailing bytes after the data at byte %" PRIu64, path,
                      have - want, data_at + want);
      goto fail;
    }
  } else if (!npy_read_stream(fd, path, data_at, want, &staged, status)) {
    goto fail;
  }
  if (dtype == DEFT_STRING) {
    static const unsigned char none[1];
    if (!staged && want && !npy_read_stream(fd, path, data_at, want, &staged, status)) goto fail;
    t = npy_strings(path, hdr.dims, hdr.rank, staged ? staged : none, want ? (int64_t)n : 0,
                    str_unit, (size_t)str_chars, data_at, status);
    if (!t) goto fail;
    deft_free(staged);
    close(fd);
    return t;
  }
  t = deft_calloc(1, sizeof *t);
  if (!t) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    goto fail;
  }
  if (!deft_tensor_ensure(t, dtype, hdr.dims, hdr.rank, status)) {
    deft_status_prefix(status, "%s", path);
    deft_free(t);
    t = NULL;
    goto fail;
  }
  unsigned char *data = t->buf->data;
  if (staged) {
    if (want) memcpy(data, staged, want);
  } else {
    ssize_t r = read_full(fd, data, want);
    if (r < 0 || (size_t)r < want) {
      deft_status_set(status, DEFT_DATA_LOSS,
                      "%s: truncated data at byte %" PRIu64 ": expected %zu bytes, got %zd%s%s",
                      path, data_at, want, r < 0 ? 0 : r, r < 0 ? ": " : "",
                      r < 0 ? strerror(errno) : "");
      goto fail;
    }
  }
  if (dtype == DEFT_BOOL) {
    for (size_t i = 0; i < want; i++) {
      if (data[i] > 1) {
        deft_status_set(status, DEFT_DATA_LOSS,
                        "%s: invalid bool value %u at byte %" PRIu64 " (expected 0 or 1)", path,
                        data[i], data_at + i);
        goto fail;
      }
    }
  }
  deft_free(staged);
  close(fd);
  return t;
fail:
  deft_tensor_free(t);
  deft_free(staged);
  close(fd);
  return NULL;
}

/* ---- writing ---- */

/* Formats the padded 1.0 header (magic through newline) into buf; returns its length, a multiple
 * of 64. */
static size_t npy_format_header(const deft_tensor *t, const char *descr, char buf[512]) {
  char dict[400];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                   descr);
  for (int i = 0; i < t->rank; i++)
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "", t->dims[i]);
  n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->rank == 1 ? "," : "");
  size_t total = 10 + (size_t)n + 1;
  total = (total + 63) / 64 * 64;
  size_t hlen = total - 10;
  memcpy(buf, npy_magic, 6);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (char)(hlen & 0xff);
  buf[9] = (char)(hlen >> 8);
  memcpy(buf + 10, dict, (size_t)n);
  memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
  buf[total - 1] = '\n';
  return total;
}

/* Writes string tensor t as |S<longest> (at least |S1, as NumPy makes for empty strings). */
static bool npy_write_strings(const char *path, const deft_tensor *t, deft_status *status) {
  size_t longest = 1;
  for (int64_t i = 0; i < t->n; i++) {
    size_t len = 0;
    const char *s = deft_tensor_string(t, i, &len);
    if (len && s[len - 1] == 0) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "%s: string element %" PRId64 " ends with a NUL byte, which NumPy's |S "
                      "dtype cannot hold (it reads trailing NULs as padding)", path, i);
      return false;
    }
    if (len > longest) longest = len;
  }
  char descr[32], header[512];
  snprintf(descr, sizeof descr, "|S%zu", longest);
  size_t hsize = npy_format_header(t, descr, header);
  deft_atomic_file *f = deft_atomic_file_open(path, NULL, NULL, status);
  if (!f) return false;
  static const char zeros[4096];
  bool ok = deft_atomic_file_write(f, header, hsize, status);
  for (int64_t i = 0; ok && i < t->n; i++) {
    size_t len = 0;
    const char *s = deft_tensor_string(t, i, &len);
    if (len) ok = deft_atomic_file_write(f, s, len, status);
    for (size_t pad = longest - len; ok && pad;) {
      size_t k = pad < sizeof zeros ? pad : sizeof zeros;
      ok = deft_atomic_file_write(f, zeros, k, status);
      pad -= k;
    }
  }
  if (!ok) {
    deft_atomic_file_free(f);
    return false;
  }
  return deft_atomic_file_commit(f, status);
}

bool deft_npy_write(const char *path, const deft_tensor *t, deft_status *status) {
  if (t->dtype == DEFT_STRING) return npy_write_strings(path, t, status);
  const char *descr = npy_descr_of(t->dtype);
  if (!descr || !t->buf) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "%s: cannot write a %s tensor as .npy", path,
                    deft_dtype_name(t->dtype));
    return false;
  }
  char header[512];
  size_t hsize = npy_format_header(t, descr, header);
  deft_atomic_file *f = deft_atomic_file_open(path, NULL, NULL, status);
  if (!f) return false;
  if (!deft_atomic_file_write(f, header, hsize, status) ||
      !deft_atomic_file_write(f, t->buf->data, deft_tensor_nbytes(t), status)) {
    deft_atomic_file_free(f);
    return false;
  }
  return deft_atomic_file_commit(f, status);
}
