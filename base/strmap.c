/* SPDX-License-Identifier: Apache-2.0 */
/* base/strmap.c - string-keyed hash map (see strmap.h). */
#include <assert.h>
#include "base/strmap.h"

#include <string.h>

#include "base/alloc.h"

uint64_t deft_hash_bytes(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  /* FNV's low bits cluster for names that differ only near the end ("..._1", "..._2"); the
   * table indexes by the low bits, so mix the high bits down (a murmur3-style finalizer). */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static deft_strmap_entry *find_hashed(const deft_strmap *m, const char *key, size_t len,
                                      uint32_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    deft_strmap_entry *e = &m->slots[i];
    if (!e->key) return NULL;
    if (e->hash == h && e->keylen == len && memcmp(e->key, key, len) == 0) return e;
  }
}

deft_strmap_entry *deft_strmap_find(const deft_strmap *m, const char *key, size_t len) {
  assert(m && (key || len == 0));
  if (!m->cap || len > UINT32_MAX)
    return NULL;
  return find_hashed(m, key, len, (uint32_t)deft_hash_bytes(key, len));
}

static bool grow(deft_strmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  deft_strmap_entry *ns = deft_calloc(ncap, sizeof *ns);
  if (!ns) return false;
  for (size_t i = 0; i < m->cap; i++) {
    deft_strmap_entry *e = &m->slots[i];
    if (!e->key) continue;
    size_t j = (size_t)e->hash & (ncap - 1);
    while (ns[j].key) j = (j + 1) & (ncap - 1);
    ns[j] = *e;
  }
  deft_free(m->slots);
  m->slots = ns;
  m->cap = ncap;
  return true;
}

static deft_strmap_entry *insert(deft_strmap *m, const char *key, size_t len, bool *created,
                                 bool borrow) {
  assert(m && (key || len == 0));
  if (created) *created = false;
  if (len > UINT32_MAX)
    return NULL;
  uint32_t h = (uint32_t)deft_hash_bytes(key, len); /* its low bits are mixed (see above) */
  deft_strmap_entry *e = m->cap ? find_hashed(m, key, len, h) : NULL;
  if (e) return e;
  if ((m->count + 1) * 2 > m->cap && !grow(m)) return NULL; /* load <= 1/2: short probes */
  char *k = borrow         ? (char *)key
            : m->key_arena ? deft_arena_strndup(m->key_arena, key, len)
                           : deft_strndup(key, len);
  if (!k) return NULL;
  size_t mask = m->cap - 1, i = (size_t)h & mask;
  while (m->slots[i].key) i = (i + 1) & mask;
  e = &m->slots[i];
  e->key = k;
  e->keylen = (uint32_t)len;
  e->hash = h;
  e->value.num = 0;
  m->count++;
  if (created) *created = true;
  return e;
}

deft_strmap_entry *deft_strmap_insert(deft_strmap *m, const char *key, size_t len, bool *created) {
  return insert(m, key, len, created, false);
}

deft_strmap_entry *deft_strmap_insert_borrowed(deft_strmap *m, const char *key, size_t len,
                                               bool *created) {
  assert(m->key_arena);
  return insert(m, key, len, created, true);
}

void deft_strmap_free(deft_strmap *m) {
  if (!m->key_arena)
    for (size_t i = 0; i < m->cap; i++)
      deft_free(m->slots[i].key);
  deft_free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}
