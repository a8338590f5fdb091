/* SPDX-License-Identifier: Apache-2.0 */
/* capi/capi_internal.h - the structs behind TensorFlow's C API handles (TF_Tensor, TF_Graph,
 * TF_Session, ...) as deft implements them, shared by the capi/ sources. Internal.
 *
 * DESIGN. capi/ is a layer above deft's public API: it includes only include/deft/ headers and
 * include/tensorflow/c/ headers, never deft's internal headers, so it sees deft exactly as any
 * program does. Handles map onto deft's objects:
 *   TF_Status     = deft_status (cast: the codes are the same numbers)
 *   TF_Operation  = deft_op (cast), TF_Output = deft_output (same layout, checked below)
 *   TF_Graph      -> a deft_graph (swapped once, when a SavedModel loads into an empty graph)
 *   TF_Tensor     -> a deft_tensor for deft's numeric dtypes; TF_STRING and dtypes deft does
 *                    not compute in keep raw bytes (TF_TString elements for strings) and are
 *                    converted when fed.
 */
#ifndef DEFT_CAPI_INTERNAL_H
#define DEFT_CAPI_INTERNAL_H

#include <stdbool.h>

#include "deft/deft.h"
#include "tensorflow/c/c_api.h"

_Static_assert(sizeof(TF_Output) == sizeof(deft_output), "TF_Output and deft_output differ");

static inline deft_status *st_of(TF_Status *s) { return (deft_status *)s; }
static inline deft_op *op_of(TF_Operation *o) { return (deft_op *)o; }
static inline TF_Operation *oper_of(deft_op *o) { return (TF_Operation *)o; }
static inline deft_output out_of(TF_Output o) {
  deft_output r = {op_of(o.oper), o.index};
  return r;
}
static inline TF_Output tfout_of(deft_output o) {
  TF_Output r = {oper_of(o.op), o.index};
  return r;
}

struct TF_Tensor {
  TF_DataType dtype;
  deft_tensor *dt; /* deft-backed (deft's numeric dtypes, rank <= DEFT_MAX_RANK), else NULL */
  void *data;      /* raw bytes when dt is NULL */
  size_t len;
  void (*dealloc)(void *data, size_t len, void *arg); /* for raw bytes; NULL = none */
  void *dealloc_arg;
  bool owns_strings; /* TF_STRING elements were allocated by deft: deallocated with t */
  int ndims;
  int64_t dims[]; /* ndims entries */
};

struct TF_Graph {
  deft_graph *g;
};

/* True iff dt is a dtype deft stores in deft_tensors (other than strings). */
bool capi_dtype_is_deft_numeric(TF_DataType dt);
/* Returns a new deft tensor holding t's value (numeric: shares t's buffer; strings: copies
 * the TF_TString elements), or NULL with status set (UNIMPLEMENTED for dtypes deft does not
 * compute in). */
deft_tensor *capi_tensor_to_deft(const TF_Tensor *t, deft_status *st);
/* Wraps a deft tensor (taking ownership of it) as a new TF_Tensor; strings become TF_TString
 * elements. Returns NULL with status set on OOM. */
TF_Tensor *capi_tensor_from_deft(deft_tensor *t, deft_status *st);
/* Hands malloc'd data[0..len) to out (freeing what out held; TF_DeleteBuffer frees it). */
void capi_to_buffer(void *data, size_t len, TF_Buffer *out);
/* Parses a serialized TensorShapeProto (at most DEFT_MAX_RANK dims). */
bool capi_parse_shape_proto(const void *proto, size_t len, deft_shape *out);
/* Sets status to TF_UNIMPLEMENTED naming fn. */
void capi_unimplemented(TF_Status *status, const char *fn);

#endif
