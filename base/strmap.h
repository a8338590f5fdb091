/* SPDX-License-Identifier: Apache-2.0 */
/* base/strmap.h - a string-keyed hash map (open addressing) for names: op names, names in use,
 * plan signatures. Keys are copied; values are opaque pointers or integers. */
#ifndef DEFT_GRAPH_STRMAP_H
#define DEFT_GRAPH_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

typedef struct deft_strmap_entry { /* 24 bytes: a graph's two name maps hold one per op */
  char *key; /* NULL = empty slot */
  uint32_t keylen; /* keys are under 4 GiB (insert refuses longer ones) */
  uint32_t hash;
  union {
    void *ptr;
    int64_t num;
  } value;
} deft_strmap_entry;

typedef struct deft_strmap {
  deft_strmap_entry *slots;
  size_t cap; /* power of two or 0 */
  size_t count;
  /* NULL: each key is a heap copy, freed by deft_strmap_free. Else keys are copied into (or,
   * with deft_strmap_insert_borrowed, point at strings living as long as) this arena, which
   * frees them: no allocation per key (a graph's name maps use the graph's arena). */
  deft_arena *key_arena;
} deft_strmap;

/* Returns the entry for key (of len bytes), or NULL. */
deft_strmap_entry *deft_strmap_find(const deft_strmap *m, const char *key, size_t len);
/* Returns the entry for key, inserting it (value zeroed) if absent; NULL on OOM or for a key of
 * 4 GiB or more. *created tells whether it was inserted (may be NULL). */
deft_strmap_entry *deft_strmap_insert(deft_strmap *m, const char *key, size_t len,
                                      bool *created);
/* As deft_strmap_insert, but an inserted entry points at key itself (no copy): m has a
 * key_arena, and key stays valid and unchanged as long as that arena. */
deft_strmap_entry *deft_strmap_insert_borrowed(deft_strmap *m, const char *key, size_t len,
                                               bool *created);
/* Frees the map's storage (not the values). */
void deft_strmap_free(deft_strmap *m);
uint64_t deft_hash_bytes(const void *p, size_t n);

#endif
