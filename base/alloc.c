/* SPDX-License-Identifier: Apache-2.0 */
/* base/alloc.c - the allocation hook (see alloc.h). */
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Per thread, never shared: the thread's default injector and the one installed. The
 * initial-exec model makes each access a load at a fixed offset from the thread pointer, also
 * in a shared library (libdeft.so, libtensorflow-deft.so), instead of a __tls_get_addr call on
 * every allocation. */
#if defined(__GNUC__)
#define DEFT_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define DEFT_TLS_IE
#endif
static _Thread_local deft_alloc_hooks default_hooks DEFT_TLS_IE = {-1, false, 0, 0};
static _Thread_local deft_alloc_hooks *installed DEFT_TLS_IE;

static deft_alloc_hooks *current(void) { return installed ? installed : &default_hooks; }

static int should_fail(size_t n) {
  deft_alloc_hooks *h = current();
  h->count++;
  h->bytes += n;
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

void *deft_malloc(size_t n) { return should_fail(n) ? NULL : malloc(n ? n : 1); }

void *deft_calloc(size_t count, size_t size) {
  return should_fail(count * size) ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *deft_realloc(void *p, size_t n) { return should_fail(n) ? NULL : realloc(p, n ? n : 1); }

void deft_free(void *p) { free(p); }

/* Aligned blocks come from malloc/calloc with room for the alignment: the block's own pointer
 * is stored in the word before the aligned address. calloc gives large blocks as fresh pages
 * the system zeroes on first touch, so a zeroed block of hundreds of MB costs nothing until it
 * is written (a tf.zeros constant, a bool tensor of one repeated false). */
#define DEFT_ALIGN 64

static void *align_block(void *raw) {
  if (!raw) return NULL;
  uintptr_t a = ((uintptr_t)raw + sizeof(void *) + DEFT_ALIGN - 1) & ~(uintptr_t)(DEFT_ALIGN - 1);
  ((void **)a)[-1] = raw;
  return (void *)a;
}

static void *aligned_block(size_t n, bool zeroed) {
  if (should_fail(n)) return NULL;
  size_t total = n + DEFT_ALIGN + sizeof(void *);
  if (total < n) return NULL;
  return align_block(zeroed ? calloc(1, total) : malloc(total));
}

void *deft_aligned_alloc(size_t n) { return aligned_block(n, false); }

void *deft_aligned_calloc(size_t n) { return aligned_block(n, true); }

void deft_aligned_free(void *p) {
  if (p) free(((void **)p)[-1]);
}

char *deft_strndup(const char *s, size_t n) {
  char *r = deft_malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

char *deft_strdup(const char *s) { return deft_strndup(s, strlen(s)); }
