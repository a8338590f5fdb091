/* SPDX-License-Identifier: Apache-2.0 */
/* tensorflow/c/tf_status.h - TF_Status and TF_Code of TensorFlow's C API, as deft provides it.
 * Written for deft from the C API's documented facts; the code values equal TensorFlow's
 * (and deft's deft_code). */
#ifndef TENSORFLOW_C_TF_STATUS_H_
#define TENSORFLOW_C_TF_STATUS_H_

#include "tensorflow/c/tf_datatype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TF_Status TF_Status;

typedef enum TF_Code {
  TF_OK = 0,
  TF_CANCELLED = 1,
  TF_UNKNOWN = 2,
  TF_INVALID_ARGUMENT = 3,
  TF_DEADLINE_EXCEEDED = 4,
  TF_NOT_FOUND = 5,
  TF_ALREADY_EXISTS = 6,
  TF_PERMISSION_DENIED = 7,
  TF_UNAUTHENTICATED = 16,
  TF_RESOURCE_EXHAUSTED = 8,
  TF_FAILED_PRECONDITION = 9,
  TF_ABORTED = 10,
  TF_OUT_OF_RANGE = 11,
  TF_UNIMPLEMENTED = 12,
  TF_INTERNAL = 13,
  TF_UNAVAILABLE = 14,
  TF_DATA_LOSS = 15
} TF_Code;

/* Returns a new status with code TF_OK (NULL only if memory is exhausted). */
TF_CAPI_EXPORT extern TF_Status* TF_NewStatus(void);
/* Frees s. Accepts NULL. */
TF_CAPI_EXPORT extern void TF_DeleteStatus(TF_Status* s);
/* Sets s to code and a copy of msg (the message is cleared when code is TF_OK). */
TF_CAPI_EXPORT extern void TF_SetStatus(TF_Status* s, TF_Code code, const char* msg);
/* Records a payload (key, value) on a non-OK status. deft keeps no payloads: ignored. */
TF_CAPI_EXPORT extern void TF_SetPayload(TF_Status* s, const char* key, const char* value);
/* Sets s from an errno value (TF's mapping: ENOENT -> NOT_FOUND, EACCES -> PERMISSION_DENIED,
 * ...) with a message "<context>; <strerror>". */
TF_CAPI_EXPORT extern void TF_SetStatusFromIOError(TF_Status* s, int error_code,
                                                   const char* context);
/* Returns s's code. */
TF_CAPI_EXPORT extern TF_Code TF_GetCode(const TF_Status* s);
/* Returns s's message ("" when OK), owned by s, valid until s is next modified or freed. */
TF_CAPI_EXPORT extern const char* TF_Message(const TF_Status* s);

#ifdef __cplusplus
}
#endif
#endif
