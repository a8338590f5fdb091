/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli/npz.c - arrays of NumPy's .npz archives (np.savez: zip entries "KEY.npy" stored;
 * np.savez_compressed: deflated), read with zlib. The zip's central directory gives each entry's
 * name, method, sizes and CRC-32 (zip64 extra fields understood); the entry's bytes are checked
 * against the CRC, written to a temporary .npy file and read by deft_npy_read, so an .npz array
 * supports what a .npy file does. See cli.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "tools/cli/cli.h"

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

typedef struct zentry {
  const uint8_t *name;
  size_t name_len;
  uint32_t method, crc;
  uint64_t csize, usize, offset;
} zentry;

/* Reads the whole file (bounded by its size) into *data. */
static bool read_all(const char *path, uint8_t **data, size_t *len, deft_status *st) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    deft_status_set(st, DEFT_NOT_FOUND, "cannot open '%s'", path);
    return false;
  }
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    deft_status_set(st, DEFT_DATA_LOSS, "'%s': cannot read its size", path);
    return false;
  }
  *data = malloc((size_t)size + 1);
  if (!*data) {
    fclose(f);
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "'%s': out of memory for %ld bytes", path, size);
    return false;
  }
  *len = fread(*data, 1, (size_t)size, f);
  bool ok = *len == (size_t)size && !ferror(f);
  fclose(f);
  if (!ok) {
    free(*data);
    *data = NULL;
    deft_status_set(st, DEFT_DATA_LOSS, "'%s': read error", path);
  }
  return ok;
}

/* Parses central directory entry at *pos of d; false on a bad record. */
static bool central_entry(const uint8_t *d, size_t len, size_t *pos, zentry *e) {
  size_t p = *pos;
  if (p + 46 > len || le32(d + p) != 0x02014b50) return false;
  e->method = le16(d + p + 10);
  e->crc = le32(d + p + 16);
  e->csize = le32(d + p + 20);
  e->usize = le32(d + p + 24);
  size_t nl = le16(d + p + 28), xl = le16(d + p + 30), cl = le16(d + p + 32);
  e->offset = le32(d + p + 42);
  if (p + 46 + nl + xl + cl > len) return false;
  e->name = d + p + 46;
  e->name_len = nl;
  /* zip64: the extra field 0x0001 holds, in order, the sizes and offset that are 0xffffffff */
  const uint8_t *x = d + p + 46 + nl, *xe = x + xl;
  while (x + 4 <= xe) {
    uint32_t id = le16(x), sz = le16(x + 2);
    if (x + 4 + sz > xe) return false;
    if (id == 1) {
      const uint8_t *v = x + 4, *ve = v + sz;
      if (e->usize == 0xffffffffu) {
        if (v + 8 > ve) return false;
        e->usize = le64(v), v += 8;
      }
      if (e->csize == 0xffffffffu) {
        if (v + 8 > ve) return false;
        e->csize = le64(v), v += 8;
      }
      if (e->offset == 0xffffffffu) {
        if (v + 8 > ve) return false;
        e->offset = le64(v);
      }
    }
    x += 4 + sz;
  }
  *pos = p + 46 + nl + xl + cl;
  return true;
}

/* The entry's uncompressed bytes (checked against its CRC-32), or NULL with st set. */
static uint8_t *entry_bytes(const char *path, const uint8_t *d, size_t len, const zentry *e,
                            deft_status *st) {
  char name[512];
  snprintf(name, sizeof name, "%.*s", (int)(e->name_len < 500 ? e->name_len : 500),
           (const char *)e->name);
  uint64_t lh = e->offset;
  if (lh + 30 > len || le32(d + lh) != 0x04034b50) {
    deft_status_set(st, DEFT_DATA_LOSS, "'%s': entry '%s': no local header at byte %" PRIu64, path,
                    name, lh);
    return NULL;
  }
  uint64_t start = lh + 30 + le16(d + lh + 26) + le16(d + lh + 28);
  if (start > len || e->csize > len - start) {
    deft_status_set(st, DEFT_DATA_LOSS,
                    "'%s': entry '%s': %" PRIu64 " bytes at byte %" PRIu64 " run past the end",
                    path, name, e->csize, start);
    return NULL;
  }
  if (e->method != 0 && e->method != 8) {
    deft_status_set(st, DEFT_UNIMPLEMENTED,
                    "'%s': entry '%s' uses zip compression method %u (only stored and deflate, "
                    "as np.savez and np.savez_compressed write, are read)",
                    path, name, (unsigned)e->method);
    return NULL;
  }
  /* deflate expands at most about 1032:1; a larger claimed size is a damaged header */
  if ((e->method == 0 && e->usize != e->csize) ||
      (e->method == 8 && e->usize > e->csize * 1032 + 1024)) {
    deft_status_set(st, DEFT_DATA_LOSS,
                    "'%s': entry '%s': size %" PRIu64 " does not fit its %" PRIu64 " stored bytes",
                    path, name, e->usize, e->csize);
    return NULL;
  }
  uint8_t *out = malloc(e->usize ? (size_t)e->usize : 1);
  if (!out) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "'%s': entry '%s': out of memory", path, name);
    return NULL;
  }
  if (e->method == 0) {
    memcpy(out, d + start, (size_t)e->usize);
  } else {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int rc = inflateInit2(&zs, -15);
    if (rc != Z_OK) {
      free(out);
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "'%s': zlib: cannot start inflating", path);
      return NULL;
    }
    /* one call per block of input (avail_in is 32-bit) */
    const uint8_t *in = d + start;
    uint64_t in_left = e->csize, out_done = 0;
    do {
      uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
      zs.next_in = (Bytef *)(uintptr_t)in;
      zs.avail_in = chunk;
      zs.next_out = out + out_done;
      uint64_t room = e->usize - out_done;
      zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
      rc = inflate(&zs, Z_NO_FLUSH);
      in += chunk - zs.avail_in;
      in_left -= chunk - zs.avail_in;
      out_done = (uint64_t)(zs.next_out - out);
    } while (rc == Z_OK && (in_left || out_done < e->usize));
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || out_done != e->usize) {
      free(out);
      deft_status_set(st, DEFT_DATA_LOSS, "'%s': entry '%s': bad deflate data (%s)", path, name,
                      rc == Z_STREAM_END ? "wrong size"
                      : zs.msg           ? zs.msg
                                         : "truncated");
      return NULL;
    }
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < e->usize;) {
    uInt chunk = e->usize - done > (1u << 30) ? (1u << 30) : (uInt)(e->usize - done);
    crc = crc32(crc, out + done, chunk);
    done += chunk;
  }
  if ((uint32_t)crc != e->crc) {
    free(out);
    deft_status_set(st, DEFT_DATA_LOSS,
                    "'%s': entry '%s': CRC-32 mismatch (stored %08x, data %08lx)", path, name,
                    (unsigned)e->crc, (unsigned long)crc);
    return NULL;
  }
  return out;
}

/* Writes bytes to a temporary file and reads it as .npy. */
static deft_tensor *npy_from_bytes(const uint8_t *bytes, size_t n, const char *what,
                                   deft_status *st) {
  const char *dir = getenv("TMPDIR");
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s/deft-npz-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(tmp);
  if (fd < 0) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "%s: cannot create a temporary file in %s", what,
                    dir && *dir ? dir : "/tmp");
    return NULL;
  }
  FILE *f = fdopen(fd, "wb");
  bool ok = f && fwrite(bytes, 1, n, f) == n;
  if (f)
    ok = fclose(f) == 0 && ok;
  else
    close(fd);
  deft_tensor *t = NULL;
  if (!ok)
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "%s: cannot write %s", what, tmp);
  else if (!(t = deft_npy_read(tmp, st)))
    deft_status_prefix(st, "%s", what);
  unlink(tmp);
  return t;
}

deft_tensor *cli_npz_read(const char *path, const char *key, deft_status *st) {
  uint8_t *d = NULL;
  size_t len = 0;
  if (!read_all(path, &d, &len, st)) return NULL;
  /* the end of central directory record: within the last 65557 bytes */
  size_t eocd = (size_t)-1;
  for (size_t i = len >= 22 ? len - 22 : 0; len >= 22; i--) {
    if (le32(d + i) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == 0 || len - i > 65557) break;
  }
  deft_tensor *t = NULL;
  if (eocd == (size_t)-1) {
    deft_status_set(st, DEFT_DATA_LOSS, "'%s' is not a zip archive (.npz): no end record", path);
    free(d);
    return NULL;
  }
  uint64_t count = le16(d + eocd + 10), cd = le32(d + eocd + 16);
  /* zip64 end record, through its locator just before the end record */
  if ((count == 0xffff || cd == 0xffffffffu) && eocd >= 20 && le32(d + eocd - 20) == 0x07064b50) {
    uint64_t z64 = le64(d + eocd - 20 + 8);
    if (z64 + 56 <= len && le32(d + z64) == 0x06064b50) {
      count = le64(d + z64 + 32);
      cd = le64(d + z64 + 48);
    }
  }
  char keys[1024];
  size_t klen = 0;
  keys[0] = 0;
  size_t pos = (size_t)cd;
  zentry found = {0};
  uint64_t nfound = 0;
  for (uint64_t i = 0; i < count; i++) {
    zentry e;
    if (cd > len || !central_entry(d, len, &pos, &e)) {
      deft_status_set(st, DEFT_DATA_LOSS, "'%s': bad zip directory entry %" PRIu64 " at byte %zu",
                      path, i, pos);
      free(d);
      return NULL;
    }
    /* NumPy's key is the entry name without ".npy" */
    size_t nl = e.name_len;
    if (nl >= 4 && !memcmp(e.name + nl - 4, ".npy", 4)) nl -= 4;
    if (klen + nl + 8 < sizeof keys)
      klen += (size_t)snprintf(keys + klen, sizeof keys - klen, "%s'%.*s'", i ? ", " : "", (int)nl,
                               (const char *)e.name);
    if (key ? strlen(key) == nl && !memcmp(e.name, key, nl) : true) found = e, nfound++;
  }
  if (nfound == 0 || (!key && nfound != 1)) {
    if (key)
      deft_status_set(st, DEFT_NOT_FOUND, "'%s' has no array '%s'; its arrays: %s", path, key,
                      count ? keys : "none");
    else
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "'%s' holds %" PRIu64 " arrays (%s): name one as %s[KEY]", path, count,
                      count ? keys : "none", path);
    free(d);
    return NULL;
  }
  uint8_t *bytes = entry_bytes(path, d, len, &found, st);
  if (bytes) {
    char what[4200];
    snprintf(what, sizeof what, "'%s' array '%.*s'", path, (int)found.name_len,
             (const char *)found.name);
    t = npy_from_bytes(bytes, (size_t)found.usize, what, st);
    free(bytes);
  }
  free(d);
  return t;
}
