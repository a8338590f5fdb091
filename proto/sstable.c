/* SPDX-License-Identifier: Apache-2.0 */
/* proto/sstable.c - LevelDB-style table writer and reader (see proto/sstable.h and
 * ../shared/spec/TF_FORMATS.md section 4.3). Written from the format description; the reader
 * bounds-checks every length it decodes before using it. */
#include "proto/sstable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/crc32c.h"

#define TRAILER_SIZE 5 /* type byte + fixed32 masked crc */
#define TYPE_NONE 0
#define TYPE_SNAPPY 1
#define MAX_HANDLE_BYTES 20 /* two varint64s */

/* ---- fixed-width little-endian integers and varints ---- */

static void put_fixed32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_fixed32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_fixed64(const unsigned char *p) {
  return (uint64_t)get_fixed32(p) | (uint64_t)get_fixed32(p + 4) << 32;
}

size_t deft_varint64_put(unsigned char *dst, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    dst[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  dst[n++] = (unsigned char)v;
  return n;
}

const unsigned char *deft_varint_get(const unsigned char *p, const unsigned char *limit,
                                     int max_bits, uint64_t *v) {
  const int max_bytes = max_bits == 32 ? 5 : 10;
  uint64_t r = 0;
  for (int i = 0; i < max_bytes && p < limit; i++) {
    uint64_t b = *p++;
    int shift = 7 * i;
    if (i == max_bytes - 1 && ((b & 0x80) || (b & 0x7f) >> (max_bits - shift))) return NULL;
    r |= (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return p;
    }
  }
  return NULL;
}

static int bytes_compare(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ---- growable byte buffer ---- */

typedef struct gbuf {
  unsigned char *p;
  size_t len, cap;
} gbuf;

static bool gbuf_reserve(gbuf *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->len) return false;
  size_t need = b->len + extra;
  if (need <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  unsigned char *q = deft_realloc(b->p, cap);
  if (!q) return false;
  b->p = q;
  b->cap = cap;
  return true;
}

static bool gbuf_append(gbuf *b, const void *data, size_t n) {
  if (!gbuf_reserve(b, n)) return false;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return true;
}

static bool gbuf_varint(gbuf *b, uint64_t v) {
  unsigned char tmp[10];
  return gbuf_append(b, tmp, deft_varint64_put(tmp, v));
}

static bool gbuf_fixed32(gbuf *b, uint32_t v) {
  unsigned char tmp[4];
  put_fixed32(tmp, v);
  return gbuf_append(b, tmp, 4);
}

static void gbuf_free(gbuf *b) {
  deft_free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- block builder ---- */

typedef struct block_builder {
  gbuf buf;
  gbuf last_key;
  uint32_t *restarts; /* always holds at least restarts[0] = 0 */
  size_t nrestarts, rcap;
  int counter;  /* entries since the last restart point */
  int interval; /* restart interval */
} block_builder;

static bool bb_init(block_builder *bb, int interval) {
  memset(bb, 0, sizeof *bb);
  bb->interval = interval;
  bb->restarts = deft_malloc(16 * sizeof *bb->restarts);
  if (!bb->restarts) return false;
  bb->rcap = 16;
  bb->nrestarts = 1;
  bb->restarts[0] = 0;
  return true;
}

static void bb_reset(block_builder *bb) {
  bb->buf.len = 0;
  bb->last_key.len = 0;
  bb->nrestarts = 1;
  bb->restarts[0] = 0;
  bb->counter = 0;
}

static void bb_free(block_builder *bb) {
  gbuf_free(&bb->buf);
  gbuf_free(&bb->last_key);
  deft_free(bb->restarts);
}

static size_t bb_size_estimate(const block_builder *bb) {
  return bb->buf.len + bb->nrestarts * 4 + 4;
}

static bool bb_add(block_builder *bb, const unsigned char *key, size_t klen,
                   const unsigned char *val, size_t vlen) {
  size_t shared = 0;
  if (bb->counter < bb->interval) {
    size_t n = bb->last_key.len < klen ? bb->last_key.len : klen;
    while (shared < n && bb->last_key.p[shared] == key[shared]) shared++;
  } else {
    if (bb->nrestarts == bb->rcap) {
      uint32_t *r = deft_realloc(bb->restarts, 2 * bb->rcap * sizeof *r);
      if (!r) return false;
      bb->restarts = r;
      bb->rcap *= 2;
    }
    bb->restarts[bb->nrestarts++] = (uint32_t)bb->buf.len;
    bb->counter = 0;
  }
  if (!gbuf_varint(&bb->buf, shared) || !gbuf_varint(&bb->buf, klen - shared) ||
      !gbuf_varint(&bb->buf, vlen) || !gbuf_append(&bb->buf, key + shared, klen - shared) ||
      !gbuf_append(&bb->buf, val, vlen))
    return false;
  bb->last_key.len = 0;
  if (!gbuf_append(&bb->last_key, key, klen)) return false;
  bb->counter++;
  return true;
}

/* Appends the restart array and its length; the block's bytes are then bb->buf. */
static bool bb_finish(block_builder *bb) {
  for (size_t i = 0; i < bb->nrestarts; i++)
    if (!gbuf_fixed32(&bb->buf, bb->restarts[i])) return false;
  return gbuf_fixed32(&bb->buf, (uint32_t)bb->nrestarts);
}

/* ---- table builder ---- */

struct deft_sstable_builder {
  deft_sstable_write_fn write;
  void *ctx;
  uint64_t offset; /* bytes written so far */
  size_t block_size;
  block_builder data, index;
  gbuf last_key;
  uint64_t num_entries;
  bool pending_index; /* a data block was written; its index entry waits for the next key */
  uint64_t pending_off, pending_size;
  bool failed, finished;
};

static bool oom(deft_status *s, const char *what) {
  deft_status_set(s, DEFT_RESOURCE_EXHAUSTED, "out of memory %s", what);
  return false;
}

deft_sstable_builder *deft_sstable_builder_new(deft_sstable_write_fn write, void *ctx,
                                               deft_status *status) {
  deft_sstable_builder *b = deft_calloc(1, sizeof *b);
  if (!b) {
    oom(status, "creating a table builder");
    return NULL;
  }
  b->write = write;
  b->ctx = ctx;
  b->block_size = DEFT_SSTABLE_BLOCK_SIZE;
  bool ok_data = bb_init(&b->data, DEFT_SSTABLE_RESTART_INTERVAL);
  bool ok_index = bb_init(&b->index, 1);
  if (!ok_data || !ok_index) {
    deft_sstable_builder_free(b);
    oom(status, "creating a table builder");
    return NULL;
  }
  return b;
}

void deft_sstable_builder_set_block_size(deft_sstable_builder *b, size_t block_size) {
  b->block_size = block_size ? block_size : 1;
}

uint64_t deft_sstable_builder_file_size(const deft_sstable_builder *b) { return b->offset; }

void deft_sstable_builder_free(deft_sstable_builder *b) {
  if (!b) return;
  bb_free(&b->data);
  bb_free(&b->index);
  gbuf_free(&b->last_key);
  deft_free(b);
}

static bool emit(deft_sstable_builder *b, const void *data, size_t n, deft_status *s) {
  if (!b->write(b->ctx, data, n, s)) return false;
  b->offset += n;
  return true;
}

/* Writes contents ‖ type ‖ masked crc32c(contents ‖ type) and returns the block's handle. */
static bool write_raw_block(deft_sstable_builder *b, const unsigned char *contents, size_t n,
                            uint64_t *off, uint64_t *size, deft_status *s) {
  unsigned char trailer[TRAILER_SIZE];
  trailer[0] = TYPE_NONE;
  uint32_t crc = deft_crc32c_extend(deft_crc32c(contents, n), trailer, 1);
  put_fixed32(trailer + 1, deft_crc32c_mask(crc));
  *off = b->offset;
  *size = n;
  return emit(b, contents, n, s) && emit(b, trailer, TRAILER_SIZE, s);
}

static bool write_block(deft_sstable_builder *b, block_builder *bb, uint64_t *off,
                        uint64_t *size, deft_status *s) {
  if (!bb_finish(bb)) return oom(s, "finishing a table block");
  if (!write_raw_block(b, bb->buf.p, bb->buf.len, off, size, s)) return false;
  bb_reset(bb);
  return true;
}

static bool flush_data_block(deft_sstable_builder *b, deft_status *s) {
  if (b->data.buf.len == 0) return true;
  if (!write_block(b, &b->data, &b->pending_off, &b->pending_size, s)) return false;
  b->pending_index = true;
  return true;
}

static bool add_index_entry(deft_sstable_builder *b, deft_status *s) {
  unsigned char handle[MAX_HANDLE_BYTES];
  size_t n = deft_varint64_put(handle, b->pending_off);
  n += deft_varint64_put(handle + n, b->pending_size);
  if (!bb_add(&b->index, b->last_key.p, b->last_key.len, handle, n))
    return oom(s, "building a table index");
  b->pending_index = false;
  return true;
}

/* Shortens *start to a key k with start <= k < limit when a byte can be incremented. */
static void shortest_separator(gbuf *start, const unsigned char *limit, size_t llen) {
  size_t n = start->len < llen ? start->len : llen;
  size_t i = 0;
  while (i < n && start->p[i] == limit[i]) i++;
  if (i >= n) return; /* one is a prefix of the other: keep start */
  unsigned byte = start->p[i];
  if (byte < 0xff && byte + 1 < limit[i]) {
    start->p[i]++;
    start->len = i + 1;
  }
}

/* Replaces *key with the shortest key >= it: the first non-0xff byte incremented, the rest cut. */
static void short_successor(gbuf *key) {
  for (size_t i = 0; i < key->len; i++) {
    if (key->p[i] != 0xff) {
      key->p[i]++;
      key->len = i + 1;
      return;
    }
  }
}

static bool builder_usable(deft_sstable_builder *b, deft_status *s) {
  if (b->failed || b->finished) {
    deft_status_set(s, DEFT_FAILED_PRECONDITION, "table builder already %s",
                    b->failed ? "failed" : "finished");
    return false;
  }
  return true;
}

bool deft_sstable_builder_add(deft_sstable_builder *b, const void *key, size_t klen,
                              const void *value, size_t vlen, deft_status *status) {
  if (!builder_usable(b, status)) return false;
  b->failed = true; /* cleared on success */
  if (b->num_entries > 0) {
    if (bytes_compare(key, klen, b->last_key.p, b->last_key.len) <= 0) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "table keys must be added in strictly increasing order (key %zu of "
                      "%zu bytes after a key of %zu bytes)",
                      (size_t)b->num_entries, klen, b->last_key.len);
      return false;
    }
    /* An entry this large gets a block to itself. */
    if (klen >= 2 * b->block_size || vlen >= 2 * b->block_size - klen)
      if (!flush_data_block(b, status)) return false;
  }
  if (b->pending_index) {
    shortest_separator(&b->last_key, key, klen);
    if (!add_index_entry(b, status)) return false;
  }
  b->last_key.len = 0;
  if (!gbuf_append(&b->last_key, key, klen) ||
      !bb_add(&b->data, key, klen, value, vlen))
    return oom(status, "adding a table entry");
  b->num_entries++;
  if (bb_size_estimate(&b->data) >= b->block_size && !flush_data_block(b, status)) return false;
  b->failed = false;
  return true;
}

bool deft_sstable_builder_finish(deft_sstable_builder *b, deft_status *status) {
  if (!builder_usable(b, status)) return false;
  b->failed = true;
  if (!flush_data_block(b, status)) return false;
  /* The metaindex block is always empty: no entries, one restart at 0. */
  static const unsigned char empty_block[8] = {0, 0, 0, 0, 1, 0, 0, 0};
  uint64_t meta_off, meta_size, index_off, index_size;
  if (!write_raw_block(b, empty_block, sizeof empty_block, &meta_off, &meta_size, status))
    return false;
  if (b->pending_index) {
    short_successor(&b->last_key);
    if (!add_index_entry(b, status)) return false;
  }
  if (!write_block(b, &b->index, &index_off, &index_size, status)) return false;
  unsigned char footer[DEFT_SSTABLE_FOOTER_SIZE] = {0};
  size_t n = deft_varint64_put(footer, meta_off);
  n += deft_varint64_put(footer + n, meta_size);
  n += deft_varint64_put(footer + n, index_off);
  deft_varint64_put(footer + n, index_size);
  put_fixed32(footer + 40, (uint32_t)DEFT_SSTABLE_MAGIC);
  put_fixed32(footer + 44, (uint32_t)(DEFT_SSTABLE_MAGIC >> 32));
  if (!emit(b, footer, sizeof footer, status)) return false;
  b->failed = false;
  b->finished = true;
  return true;
}

/* ---- reader ---- */

typedef struct sst_entry {
  size_t key_off, klen; /* key bytes at keys.p + key_off, NUL-terminated */
  const unsigned char *val;
  size_t vlen;
} sst_entry;

struct deft_sstable {
  char *name;
  unsigned char *file; /* the whole file */
  size_t size;
  unsigned char **owned; /* decompressed blocks */
  size_t nowned, owned_cap;
  gbuf keys;
  sst_entry *entries;
  size_t n, cap;
  size_t nblocks;
};

/* A block's decoded contents, for parsing and error messages. */
typedef struct block_view {
  const unsigned char *data;
  size_t size;
  uint64_t file_off; /* offset of the block in the file */
  bool snappy;
  const char *what; /* "data", "index", "metaindex" */
} block_view;

static bool block_fail(const deft_sstable *t, const block_view *bv, size_t pos, deft_status *s,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static bool block_fail(const deft_sstable *t, const block_view *bv, size_t pos, deft_status *s,
                       const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (bv->snappy)
    deft_status_set(s, DEFT_DATA_LOSS,
                    "%s: %s at byte %zu of the Snappy-decompressed %s block at offset %" PRIu64,
                    t->name, msg, pos, bv->what, bv->file_off);
  else
    deft_status_set(s, DEFT_DATA_LOSS, "%s: %s at offset %" PRIu64 " (%s block at offset %" PRIu64
                    ")", t->name, msg, bv->file_off + pos, bv->what, bv->file_off);
  return false;
}

typedef bool (*entry_fn)(deft_sstable *t, void *arg, const block_view *bv, size_t pos,
                         const unsigned char *key, size_t klen, const unsigned char *val,
                         size_t vlen, deft_status *s);

/* Walks every entry of a block in order, checking the restart array and each entry's bounds.
 * key is scratch space for reassembling prefix-compressed keys. */
static bool parse_block(deft_sstable *t, const block_view *bv, gbuf *key, entry_fn fn,
                        void *arg, deft_status *s) {
  const unsigned char *d = bv->data;
  size_t n = bv->size;
  if (n < 4) return block_fail(t, bv, 0, s, "block of %zu bytes has no restart count", n);
  uint32_t nr = get_fixed32(d + n - 4);
  if (nr == 0 || nr > (n - 4) / 4)
    return block_fail(t, bv, n - 4, s, "restart array out of range (%" PRIu32
                      " restarts in a block of %zu bytes)", nr, n);
  size_t limit = n - 4 - 4 * (size_t)nr; /* entries occupy [0, limit) */
  const unsigned char *ra = d + limit;
  for (uint32_t i = 0; i < nr; i++) {
    uint32_t r = get_fixed32(ra + 4 * (size_t)i);
    bool bad = i == 0 ? r != 0 : (r <= get_fixed32(ra + 4 * (size_t)(i - 1)) || r >= limit);
    if (bad)
      return block_fail(t, bv, limit + 4 * (size_t)i, s, "restart point %" PRIu32 " = %" PRIu32
                        " out of range or out of order (entries end at byte %zu)", i, r, limit);
  }
  key->len = 0;
  uint32_t next_r = limit == 0 ? nr : 0; /* an empty block has just the restart at 0 */
  size_t pos = 0;
  while (pos < limit) {
    uint32_t r = next_r < nr ? get_fixed32(ra + 4 * (size_t)next_r) : 0;
    if (next_r < nr && r < pos)
      return block_fail(t, bv, limit + 4 * (size_t)next_r, s,
                        "restart point %" PRIu32 " = %" PRIu32 " is not at an entry boundary",
                        next_r, r);
    bool at_restart = next_r < nr && r == pos;
    const unsigned char *p = d + pos, *end = d + limit;
    uint64_t shared, nonshared, vlen;
    if (!(p = deft_varint_get(p, end, 32, &shared)) ||
        !(p = deft_varint_get(p, end, 32, &nonshared)) ||
        !(p = deft_varint_get(p, end, 32, &vlen)))
      return block_fail(t, bv, pos, s, "bad varint in entry header");
    if (shared > key->len)
      return block_fail(t, bv, pos, s, "key shared-prefix (%" PRIu64
                        " bytes) longer than previous key (%zu bytes)", shared, key->len);
    if (at_restart && shared != 0)
      return block_fail(t, bv, pos, s, "entry at a restart point shares %" PRIu64
                        " bytes with the previous key", shared);
    size_t avail = (size_t)(end - p);
    if (nonshared > avail || vlen > avail - nonshared)
      return block_fail(t, bv, pos, s, "entry (key delta %" PRIu64 " bytes, value %" PRIu64
                        " bytes) overruns its block", nonshared, vlen);
    key->len = (size_t)shared;
    if (!gbuf_append(key, p, (size_t)nonshared)) return oom(s, "reading a table");
    const unsigned char *val = p + nonshared;
    if (!fn(t, arg, bv, pos, key->p, key->len, val, (size_t)vlen, s)) return false;
    pos = (size_t)(val + vlen - d);
    if (at_restart) next_r++;
  }
  if (next_r < nr)
    return block_fail(t, bv, limit + 4 * (size_t)next_r, s,
                      "restart point %" PRIu32 " = %" PRIu32 " is not at an entry boundary",
                      next_r, get_fixed32(ra + 4 * (size_t)next_r));
  return true;
}

static bool keep_owned(deft_sstable *t, unsigned char *p) {
  if (t->nowned == t->owned_cap) {
    size_t cap = t->owned_cap ? 2 * t->owned_cap : 8;
    unsigned char **q = deft_realloc(t->owned, cap * sizeof *q);
    if (!q) return false;
    t->owned = q;
    t->owned_cap = cap;
  }
  t->owned[t->nowned++] = p;
  return true;
}

/* Checks a block handle against the file, verifies the block's CRC and decompresses it. */
static bool read_block(deft_sstable *t, uint64_t off, uint64_t size, const char *what,
                       block_view *out, deft_status *s) {
  uint64_t end = t->size - DEFT_SSTABLE_FOOTER_SIZE; /* blocks lie before the footer */
  if (off > end || size > end - off || end - off - size < TRAILER_SIZE) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: %s block handle (offset %" PRIu64 ", size %" PRIu64
                    ") out of range: blocks end at offset %" PRIu64, t->name, what, off, size,
                    end);
    return false;
  }
  const unsigned char *c = t->file + off;
  unsigned char type = c[size];
  uint32_t stored = deft_crc32c_unmask(get_fixed32(c + size + 1));
  uint32_t actual = deft_crc32c_extend(deft_crc32c(c, (size_t)size), &type, 1);
  if (DEFT_CRC_BAD(stored, actual)) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: bad CRC (crc32c mismatch) in %s block at offset %"
                    PRIu64 " (%" PRIu64 " bytes): stored 0x%08" PRIx32 ", computed 0x%08" PRIx32,
                    t->name, what, off, size, stored, actual);
    return false;
  }
  out->file_off = off;
  out->what = what;
  out->snappy = false;
  if (type == TYPE_NONE) {
    out->data = c;
    out->size = (size_t)size;
    return true;
  }
  if (type != TYPE_SNAPPY) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: unknown compression type %u in %s block at offset %"
                    PRIu64, t->name, type, what, off);
    return false;
  }
  size_t ulen;
  if (snappy_uncompressed_length((const char *)c, (size_t)size, &ulen) != SNAPPY_OK ||
      ulen > 32 * (size_t)size + 64) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: corrupt Snappy length in %s block at offset %" PRIu64,
                    t->name, what, off);
    return false;
  }
  unsigned char *u = deft_malloc(ulen ? ulen : 1);
  if (!u || !keep_owned(t, u)) {
    deft_free(u);
    return oom(s, "decompressing a table block");
  }
  size_t got = ulen;
  if (snappy_uncompress((const char *)c, (size_t)size, (char *)u, &got) != SNAPPY_OK ||
      got != ulen) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: corrupt Snappy data in %s block at offset %" PRIu64,
                    t->name, what, off);
    return false;
  }
  out->data = u;
  out->size = ulen;
  out->snappy = true;
  return true;
}

/* State while walking the index block. */
typedef struct walk_state {
  gbuf data_key;       /* scratch for data block keys */
  gbuf prev_index_key; /* separator of the previous data block */
  bool have_prev;
  const unsigned char *index_key; /* separator of the current data block */
  size_t index_klen;
} walk_state;

static const unsigned char *entry_key(const deft_sstable *t, size_t i) {
  return t->keys.p + t->entries[i].key_off;
}

static bool on_data_entry(deft_sstable *t, void *arg, const block_view *bv, size_t pos,
                          const unsigned char *key, size_t klen, const unsigned char *val,
                          size_t vlen, deft_status *s) {
  walk_state *w = arg;
  if (t->n > 0) {
    const sst_entry *prev = &t->entries[t->n - 1];
    if (bytes_compare(key, klen, entry_key(t, t->n - 1), prev->klen) <= 0)
      return block_fail(t, bv, pos, s, "key not greater than the previous key");
  }
  if (bytes_compare(key, klen, w->index_key, w->index_klen) > 0 ||
      (w->have_prev &&
       bytes_compare(key, klen, w->prev_index_key.p, w->prev_index_key.len) <= 0))
    return block_fail(t, bv, pos, s, "key outside the range its index entry gives");
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    sst_entry *e = deft_realloc(t->entries, cap * sizeof *e);
    if (!e) return oom(s, "reading a table");
    t->entries = e;
    t->cap = cap;
  }
  size_t key_off = t->keys.len;
  unsigned char nul = 0;
  if (!gbuf_append(&t->keys, key, klen) || !gbuf_append(&t->keys, &nul, 1))
    return oom(s, "reading a table");
  t->entries[t->n++] = (sst_entry){key_off, klen, val, vlen};
  return true;
}

static bool on_index_entry(deft_sstable *t, void *arg, const block_view *bv, size_t pos,
                           const unsigned char *key, size_t klen, const unsigned char *val,
                           size_t vlen, deft_status *s) {
  walk_state *w = arg;
  uint64_t off, size;
  const unsigned char *p = deft_varint_get(val, val + vlen, 64, &off);
  if (!p || !deft_varint_get(p, val + vlen, 64, &size))
    return block_fail(t, bv, pos, s, "bad varint in block handle");
  if (w->have_prev && bytes_compare(key, klen, w->prev_index_key.p, w->prev_index_key.len) <= 0)
    return block_fail(t, bv, pos, s, "index keys out of order");
  block_view dv;
  if (!read_block(t, off, size, "data", &dv, s)) return false;
  t->nblocks++;
  w->index_key = key;
  w->index_klen = klen;
  if (!parse_block(t, &dv, &w->data_key, on_data_entry, w, s)) return false;
  w->prev_index_key.len = 0;
  if (!gbuf_append(&w->prev_index_key, key, klen)) return oom(s, "reading a table");
  w->have_prev = true;
  return true;
}

static bool on_meta_entry(deft_sstable *t, void *arg, const block_view *bv, size_t pos,
                          const unsigned char *key, size_t klen, const unsigned char *val,
                          size_t vlen, deft_status *s) {
  return true; /* metaindex entries (none in TF's tables) are not used */
}

static bool load_table(deft_sstable *t, deft_status *s) {
  if (t->size < DEFT_SSTABLE_FOOTER_SIZE) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: file of %zu bytes is truncated: too short for the "
                    "48-byte table footer at offset 0", t->name, t->size);
    return false;
  }
  size_t foot = t->size - DEFT_SSTABLE_FOOTER_SIZE;
  const unsigned char *f = t->file + foot;
  uint64_t magic = get_fixed64(f + 40);
  if (magic != DEFT_SSTABLE_MAGIC) {
    deft_status_set(s, DEFT_DATA_LOSS, "%s: bad table magic number 0x%016" PRIx64
                    " in footer at offset %zu (not a table, or truncated)", t->name, magic,
                    foot + 40);
    return false;
  }
  uint64_t h[4];
  const unsigned char *p = f;
  for (int i = 0; i < 4; i++) {
    size_t at = (size_t)(p - t->file);
    if (!(p = deft_varint_get(p, f + 40, 64, &h[i]))) {
      deft_status_set(s, DEFT_DATA_LOSS, "%s: bad varint in footer block handle at offset %zu",
                      t->name, at);
      return false;
    }
  }
  block_view meta, index;
  gbuf scratch = {0};
  walk_state w = {0};
  bool ok = read_block(t, h[0], h[1], "metaindex", &meta, s) &&
            parse_block(t, &meta, &scratch, on_meta_entry, NULL, s) &&
            read_block(t, h[2], h[3], "index", &index, s) &&
            parse_block(t, &index, &scratch, on_index_entry, &w, s);
  gbuf_free(&scratch);
  gbuf_free(&w.data_key);
  gbuf_free(&w.prev_index_key);
  return ok;
}

static deft_sstable *table_new(const char *name, deft_status *s) {
  deft_sstable *t = deft_calloc(1, sizeof *t);
  if (t) t->name = deft_strdup(name);
  if (!t || !t->name) {
    deft_sstable_free(t);
    oom(s, "opening a table");
    return NULL;
  }
  return t;
}

deft_sstable *deft_sstable_open_buffer(const void *data, size_t size, const char *name,
                                       deft_status *status) {
  deft_sstable *t = table_new(name, status);
  if (!t) return NULL;
  t->file = deft_malloc(size ? size : 1);
  if (!t->file) {
    deft_sstable_free(t);
    oom(status, "opening a table");
    return NULL;
  }
  if (size) memcpy(t->file, data, size);
  t->size = size;
  if (!load_table(t, status)) {
    deft_sstable_free(t);
    return NULL;
  }
  return t;
}

deft_sstable *deft_sstable_open(const char *path, deft_status *status) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    deft_io_error(status, errno, "open", path);
    return NULL;
  }
  struct stat st;
  deft_sstable *t = NULL;
  if (fstat(fd, &st) != 0) {
    deft_io_error(status, errno, "stat", path);
    goto fail;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX / 2) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "'%s' is not a regular file of a "
                    "readable size", path);
    goto fail;
  }
  if (!(t = table_new(path, status))) goto fail;
  t->file = deft_malloc(st.st_size ? (size_t)st.st_size : 1);
  if (!t->file) {
    oom(status, "reading a table");
    goto fail;
  }
  while (t->size < (size_t)st.st_size) {
    ssize_t r = read(fd, t->file + t->size, (size_t)st.st_size - t->size);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      deft_io_error(status, errno, "read", path);
      goto fail;
    }
    if (r == 0) break; /* shrank while reading: parse what is there */
    t->size += (size_t)r;
  }
  close(fd);
  fd = -1;
  if (!load_table(t, status)) goto fail;
  return t;
fail:
  if (fd >= 0) close(fd);
  deft_sstable_free(t);
  return NULL;
}

size_t deft_sstable_num_entries(const deft_sstable *t) { return t->n; }

size_t deft_sstable_num_data_blocks(const deft_sstable *t) { return t->nblocks; }

void deft_sstable_entry(const deft_sstable *t, size_t i, const char **key, size_t *klen,
                        const char **value, size_t *vlen) {
  const sst_entry *e = &t->entries[i];
  if (key) *key = (const char *)entry_key(t, i);
  if (klen) *klen = e->klen;
  if (value) *value = (const char *)e->val;
  if (vlen) *vlen = e->vlen;
}

bool deft_sstable_find(const deft_sstable *t, const void *key, size_t klen, size_t *index) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = bytes_compare(entry_key(t, mid), t->entries[mid].klen, key, klen);
    if (c == 0) {
      if (index) *index = mid;
      return true;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

void deft_sstable_free(deft_sstable *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nowned; i++) deft_free(t->owned[i]);
  deft_free(t->owned);
  deft_free(t->entries);
  gbuf_free(&t->keys);
  deft_free(t->file);
  deft_free(t->name);
  deft_free(t);
}
