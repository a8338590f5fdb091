/* SPDX-License-Identifier: Apache-2.0 */
/* base/arena.c - growable bump allocator (see arena.h). */
#include <assert.h>
#include "base/arena.h"

#include <stdint.h>
#include <string.h>

#include "base/alloc.h"

struct deft_arena_chunk {
  deft_arena_chunk *next;
  size_t size;
  _Alignas(16) unsigned char data[];
};

/* n bytes aligned to 16, not cleared (copies write every byte). */
static void *arena_raw(deft_arena *a, size_t n) {
  assert(a);
  n = (n + 15) & ~(size_t)15;
  if (!a->head || a->used + n > a->head->size) {
    size_t size = a->head ? a->head->size * 2 : 16384;
    if (size > (1u << 22)) size = 1u << 22;
    if (size < n) size = n;
    deft_arena_chunk *c = deft_malloc(sizeof *c + size);
    if (!c) return NULL;
    c->next = a->head;
    c->size = size;
    a->head = c;
    a->used = 0;
  }
  void *p = a->head->data + a->used;
  a->used += n;
  a->total += n;
  return p;
}

void *deft_arena_alloc(deft_arena *a, size_t n) {
  void *p = arena_raw(a, n);
  if (p)
    memset(p, 0, n);
  return p;
}

char *deft_arena_strndup(deft_arena *a, const char *s, size_t n) {
  char *r = arena_raw(a, n + 1);
  if (!r) return NULL;
  if (n) memcpy(r, s, n);
  r[n] = 0;
  return r;
}

char *deft_arena_strdup(deft_arena *a, const char *s) {
  assert(s);
  return deft_arena_strndup(a, s, strlen(s));
}

void *deft_arena_memdup(deft_arena *a, const void *p, size_t n) {
  void *r = n ? arena_raw(a, n) : deft_arena_alloc(a, 0);
  if (r && n) memcpy(r, p, n);
  return r;
}

void deft_arena_free(deft_arena *a) {
  deft_arena_chunk *c = a->head;
  while (c) {
    deft_arena_chunk *next = c->next;
    deft_free(c);
    c = next;
  }
  a->head = NULL;
  a->used = a->total = 0;
}
