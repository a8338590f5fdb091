/* SPDX-License-Identifier: Apache-2.0 */
/* base/alloc.h - the one allocation hook. Every allocation in deft goes through these, so a
 * test can make the n-th allocation fail and check that each path returns an error and leaks
 * nothing (SQLite's OOM test). Internal to the library. */
#ifndef DEFT_RUNTIME_ALLOC_H
#define DEFT_RUNTIME_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *deft_malloc(size_t n);
void *deft_calloc(size_t count, size_t size);
void *deft_realloc(void *p, size_t n);
void deft_free(void *p);
/* Memory aligned to 64 bytes, uninitialized or zeroed (deft_aligned_calloc: large blocks are
 * zero pages the system commits only when written); NULL on out of memory. Release with
 * deft_aligned_free (NULL is ignored), never free(). */
void *deft_aligned_alloc(size_t n);
void *deft_aligned_calloc(size_t n);
void deft_aligned_free(void *p);
/* Copies of strings; NULL when memory is exhausted. */
char *deft_strdup(const char *s);
char *deft_strndup(const char *s, size_t n);

/* Allocation-failure injection, for tests only (SQLite's OOM test, Lua's debug allocator). An
 * injector belongs to the thread that installs it: allocations made on that thread count against
 * it and fail as it says; other threads (other tests, a session's pool workers) are not affected.
 * Nothing is process-wide. */
typedef struct deft_alloc_hooks {
  long fail_after; /* < 0: never fail; else this many more allocations succeed, then... */
  bool fail_once;  /* ...only the next one fails (then fail_after becomes -1), else all do */
  long count;      /* allocations made on the thread while installed */
  unsigned long long bytes; /* bytes they asked for (a bound on work a test can check) */
} deft_alloc_hooks;

/* Installs h as the calling thread's injector (NULL: back to the thread's default one, which
 * deft_alloc_fail_after drives); returns the previous one (NULL for the default). h must stay
 * valid while installed. */
deft_alloc_hooks *deft_alloc_hooks_set(deft_alloc_hooks *h);

/* Drives the calling thread's current injector: after `n` more successful allocations on this
 * thread, every allocation on it fails until reset with a negative n. Returns the number of
 * allocations made on this thread since the last call. */
long deft_alloc_fail_after(long n);

#endif
