/* SPDX-License-Identifier: Apache-2.0 */
/* base/status.c - deft_status (see include/deft/status.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft/status.h"
#include "base/alloc.h"

struct deft_status {
  deft_code code;
  char *msg; /* NULL when empty or when the message could not be allocated */
  bool oom_msg;
};

deft_status *deft_status_new(void) {
  deft_status *s = deft_calloc(1, sizeof *s);
  return s;
}

void deft_status_free(deft_status *s) {
  if (!s) return;
  deft_free(s->msg);
  deft_free(s);
}

deft_code deft_status_code(const deft_status *s) { return s ? s->code : DEFT_OK; }

bool deft_status_ok(const deft_status *s) { return !s || s->code == DEFT_OK; }

const char *deft_status_message(const deft_status *s) {
  if (!s || s->code == DEFT_OK) return "";
  if (s->msg) return s->msg;
  return s->oom_msg ? "out of memory while formatting an error message" : "";
}

void deft_status_setv(deft_status *s, deft_code code, const char *fmt, va_list ap) {
  if (!s) return;
  deft_free(s->msg);
  s->msg = NULL;
  s->oom_msg = false;
  s->code = code;
  if (code == DEFT_OK || !fmt) return;
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  /* Plain malloc: a status message must survive the allocation-failure test hook, or an OOM
   * error could never be reported. */
  s->msg = malloc((size_t)n + 1);
  if (!s->msg) {
    s->oom_msg = true;
    return;
  }
  vsnprintf(s->msg, (size_t)n + 1, fmt, ap);
}

void deft_status_set(deft_status *s, deft_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  deft_status_setv(s, code, fmt, ap);
  va_end(ap);
}

void deft_status_clear(deft_status *s) { deft_status_set(s, DEFT_OK, NULL); }

void deft_status_copy(deft_status *dst, const deft_status *src) {
  if (!dst || dst == src) return;
  if (!src || src->code == DEFT_OK) {
    deft_status_clear(dst);
    return;
  }
  deft_status_set(dst, src->code, "%s", deft_status_message(src));
}

void deft_status_prefix(deft_status *s, const char *fmt, ...) {
  if (!s || s->code == DEFT_OK) return;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  char *old = s->msg;
  s->msg = NULL;
  deft_status_set(s, s->code, "%s: %s", prefix, old ? old : "");
  free(old);
}

const char *deft_code_name(deft_code code) {
  switch (code) {
    case DEFT_OK: return "OK";
    case DEFT_CANCELLED: return "CANCELLED";
    case DEFT_UNKNOWN: return "UNKNOWN";
    case DEFT_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case DEFT_NOT_FOUND: return "NOT_FOUND";
    case DEFT_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case DEFT_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case DEFT_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case DEFT_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case DEFT_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case DEFT_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case DEFT_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case DEFT_INTERNAL: return "INTERNAL";
    case DEFT_UNAVAILABLE: return "UNAVAILABLE";
    case DEFT_DATA_LOSS: return "DATA_LOSS";
  }
  return "UNKNOWN";
}
