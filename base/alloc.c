/* SPDX-License-Identifier: Apache-2.0 */
/* base/alloc.c - the allocation hook (see alloc.h). */
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Per thread, never shared: the thread's default injector and the one installed. */
static _Thread_local deft_alloc_hooks default_hooks = {-1, false, 0};
static _Thread_local deft_alloc_hooks *installed;

static deft_alloc_hooks *current(void) { return installed ? installed : &default_hooks; }

static int should_fail(void) {
  deft_alloc_hooks *h = current();
  h->count++;
  if (h->fail_after < 0) return 0;
  if (h->fail_after == 0) {
    if (h->fail_once) h->fail_after = -1;
    return 1;
  }
  h->fail_after--;
  return 0;
}

deft_alloc_hooks *deft_alloc_hooks_set(deft_alloc_hooks *h) {
  deft_alloc_hooks *old = installed;
  installed = h;
  return old;
}

long deft_alloc_fail_after(long n) {
  deft_alloc_hooks *h = current();
  long made = h->count;
  h->count = 0;
  h->fail_after = n;
  return made;
}

void *deft_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *deft_calloc(size_t count, size_t size) {
  return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *deft_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

void deft_free(void *p) { free(p); }

void *deft_aligned_alloc(size_t n) {
  if (should_fail()) return NULL;
  size_t rounded = (n + 63) & ~(size_t)63;
  if (rounded < n) return NULL;
  return aligned_alloc(64, rounded ? rounded : 64);
}

void deft_aligned_free(void *p) { free(p); }

char *deft_strndup(const char *s, size_t n) {
  char *r = deft_malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

char *deft_strdup(const char *s) { return deft_strndup(s, strlen(s)); }
