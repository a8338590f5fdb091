/* SPDX-License-Identifier: Apache-2.0 */
/* base/arena.h - a growable bump allocator. Each graph owns one for its ops, names and attrs;
 * everything is freed at once with the graph. Chunks grow as needed; the caller never sizes it. */
#ifndef DEFT_GRAPH_ARENA_H
#define DEFT_GRAPH_ARENA_H

#include <stddef.h>

typedef struct deft_arena_chunk deft_arena_chunk;
typedef struct deft_arena {
  deft_arena_chunk *head;
  size_t used; /* bytes used in head */
  size_t total;
} deft_arena;

/* Returns n bytes aligned to 16 (zeroed), or NULL when memory is exhausted. */
void *deft_arena_alloc(deft_arena *a, size_t n);
/* Copies of strings/bytes in the arena (NUL-terminated); NULL on OOM. */
char *deft_arena_strdup(deft_arena *a, const char *s);
char *deft_arena_strndup(deft_arena *a, const char *s, size_t n);
void *deft_arena_memdup(deft_arena *a, const void *p, size_t n);
/* Frees every chunk. */
void deft_arena_free(deft_arena *a);

#endif
