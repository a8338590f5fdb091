/* base/alloc.h - the one allocation hook. Every allocation in deft goes through these, so a
 * test can make the n-th allocation fail and check that each path returns an error and leaks
 * nothing (SQLite's OOM test). Internal to the library. */
#ifndef DEFT_RUNTIME_ALLOC_H
#define DEFT_RUNTIME_ALLOC_H

#include <stddef.h>

void *deft_malloc(size_t n);
void *deft_calloc(size_t count, size_t size);
void *deft_realloc(void *p, size_t n);
void deft_free(void *p);
/* Memory aligned to 64 bytes; release with deft_aligned_free. */
void *deft_aligned_alloc(size_t n);
void deft_aligned_free(void *p);
/* Copies of strings; NULL when memory is exhausted. */
char *deft_strdup(const char *s);
char *deft_strndup(const char *s, size_t n);

/* Test hook: after `n` more successful allocations, every allocation fails until reset with a
 * negative n. Returns the number of allocations made since the last call. */
long deft_alloc_fail_after(long n);

#endif
