/* base/alloc.c - the allocation hook (see alloc.h). */
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1; /* < 0: never fail */
static long alloc_count = 0;

static int should_fail(void) {
  alloc_count++;
  if (fail_countdown < 0) return 0;
  if (fail_countdown == 0) return 1;
  fail_countdown--;
  return 0;
}

long deft_alloc_fail_after(long n) {
  long made = alloc_count;
  alloc_count = 0;
  fail_countdown = n;
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
