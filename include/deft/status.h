/* SPDX-License-Identifier: Apache-2.0 */
/* deft/status.h - error reporting.
 *
 * Every recoverable failure (bad input, bad file, I/O, out of memory) is reported through a
 * deft_status: a code from the closed set below (numerically equal to TensorFlow's codes) plus a
 * message that names the node, file or byte offset involved. Programmer misuse (NULL where the
 * contract forbids it) is an assertion in debug builds. deft never aborts or exits on anything a
 * user or a file can cause.
 *
 * Thread safety: a deft_status is a plain object: use each from one thread at a time (give every
 * thread its own). Functions of different statuses may run concurrently.
 */
#ifndef DEFT_STATUS_H
#define DEFT_STATUS_H

#include <stdarg.h>
#include <stdbool.h>

#include "deft/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum deft_code {
  DEFT_OK = 0,
  DEFT_CANCELLED = 1,
  DEFT_UNKNOWN = 2,
  DEFT_INVALID_ARGUMENT = 3,
  DEFT_DEADLINE_EXCEEDED = 4,
  DEFT_NOT_FOUND = 5,
  DEFT_ALREADY_EXISTS = 6,
  DEFT_PERMISSION_DENIED = 7,
  DEFT_RESOURCE_EXHAUSTED = 8,
  DEFT_FAILED_PRECONDITION = 9,
  DEFT_OUT_OF_RANGE = 11,
  DEFT_UNIMPLEMENTED = 12,
  DEFT_INTERNAL = 13,
  DEFT_UNAVAILABLE = 14, /* a peer (another rank, deft/dist.h) failed or went away */
  DEFT_DATA_LOSS = 15
} deft_code;

typedef struct deft_status deft_status;

/* Returns a new status with code DEFT_OK, or NULL if memory is exhausted. Free with
 * deft_status_free. */
DEFT_API deft_status *deft_status_new(void);

/* Frees s. Accepts NULL. */
DEFT_API void deft_status_free(deft_status *s);

/* Returns s's code. */
DEFT_API deft_code deft_status_code(const deft_status *s);

/* Returns true iff s's code is DEFT_OK. */
DEFT_API bool deft_status_ok(const deft_status *s);

/* Returns s's message: "" when OK. The pointer is owned by s and stays valid until s is next
 * modified or freed. */
DEFT_API const char *deft_status_message(const deft_status *s);

/* Sets s to code and a printf-formatted message. Setting DEFT_OK clears the message. If s is
 * NULL, does nothing. If the message cannot be allocated, a fixed message is kept instead. */
DEFT_API void deft_status_set(deft_status *s, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Like deft_status_set, with a va_list. */
DEFT_API void deft_status_setv(deft_status *s, deft_code code, const char *fmt, va_list ap);

/* Resets s to DEFT_OK with an empty message. */
DEFT_API void deft_status_clear(deft_status *s);

/* Copies code and message from src to dst. */
DEFT_API void deft_status_copy(deft_status *dst, const deft_status *src);

/* Prepends "prefix: " to s's message, keeping its code. Does nothing if s is OK. */
DEFT_API void deft_status_prefix(deft_status *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Returns the name of code, e.g. "INVALID_ARGUMENT". Never NULL. */
DEFT_API const char *deft_code_name(deft_code code);

#ifdef __cplusplus
}
#endif
#endif
