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
 *   TF_Tensor     = a deft_tensor for deft's numeric dtypes (cast, no wrapper: see below);
 *                    TF_STRING and dtypes deft does not compute in are boxes of raw bytes
 *                    (TF_TString elements for strings), converted when fed.
 */
#ifndef DEFT_CAPI_INTERNAL_H
#define DEFT_CAPI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

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

/* A TF_Tensor handle is one of two things, told apart by the handle's low bit:
 * - a deft tensor: the handle IS the deft_tensor pointer (low bit clear; deft's tensors are
 *   heap objects, so at least 8-byte aligned). Every tensor of one of deft's numeric dtypes with
 *   rank <= DEFT_MAX_RANK: TF_AllocateTensor's and TF_NewTensor's, the tensors TF_SessionRun
 *   fetches (deft's own fetched tensors, handed over as they are) and attr values. Feeding one
 *   passes it to deft_session_run as it is; TF_DeleteTensor is deft_tensor_free.
 * - a box (low bit set): a capi_box of raw bytes, for TF_STRING (TF_TString elements) and the
 *   dtypes or ranks deft does not compute in; converted when fed.
 * The handle is opaque to programs (tensorflow/c/tf_tensor.h declares the struct only), so
 * nothing but these functions reads it. */
typedef struct capi_box {
  TF_DataType dtype;
  void *data;
  size_t len;
  void (*dealloc)(void *data, size_t len, void *arg); /* NULL = free(data) */
  void *dealloc_arg;
  bool owns_strings; /* TF_STRING elements were allocated by deft: deallocated with t */
  int ndims;
  int64_t dims[]; /* ndims entries */
} capi_box;

static inline bool capi_is_box(const TF_Tensor *t) { return ((uintptr_t)t & 1) != 0; }
static inline capi_box *capi_box_of(const TF_Tensor *t) {
  return (capi_box *)((uintptr_t)t & ~(uintptr_t)1);
}
static inline TF_Tensor *capi_tensor_of_box(capi_box *b) { return (TF_Tensor *)((uintptr_t)b | 1); }
/* The deft tensor a handle is (only for !capi_is_box(t)). */
static inline deft_tensor *capi_deft_of(const TF_Tensor *t) { return (deft_tensor *)t; }

/* A TF_Graph lives until TF_DeleteGraph and its last session's TF_DeleteSession, whichever comes
 * later (TF's rule: "Graph will be deleted once no more TFSession's are referencing it"). `mu`
 * guards the count and the flag: sessions may be made and deleted on several threads. */
struct TF_Graph {
  deft_graph *g;
  pthread_mutex_t mu;
  int nsessions;         /* TF_Sessions made on this graph and not yet deleted */
  bool delete_requested; /* TF_DeleteGraph was called while sessions remained */
};

/* Counts a new session on g. */
void capi_graph_add_session(TF_Graph *g);
/* Uncounts a deleted session; frees g if TF_DeleteGraph was called and it was the last. */
void capi_graph_remove_session(TF_Graph *g);
/* The number of sessions on g. */
int capi_graph_sessions(TF_Graph *g);

/* True iff dt is a dtype deft stores in deft_tensors (other than strings). */
bool capi_dtype_is_deft_numeric(TF_DataType dt);
/* Returns a new deft tensor holding t's value (a deft tensor: shares t's buffer; a box of
 * strings or of a numeric dtype: copies the elements), or NULL with status set (UNIMPLEMENTED
 * for dtypes deft does not compute in). */
deft_tensor *capi_tensor_to_deft(const TF_Tensor *t, deft_status *st);
/* Returns the deft tensor t (taking ownership of it) as a TF_Tensor: t itself, or for strings
 * a new box of TF_TString elements (t freed). Returns NULL with status set on OOM. */
TF_Tensor *capi_tensor_from_deft(deft_tensor *t, deft_status *st);
/* Hands malloc'd data[0..len) to out (freeing what out held; TF_DeleteBuffer frees it). */
void capi_to_buffer(void *data, size_t len, TF_Buffer *out);
/* Parses a serialized TensorShapeProto (at most DEFT_MAX_RANK dims). */
bool capi_parse_shape_proto(const void *proto, size_t len, deft_shape *out);
/* Sets status to TF_UNIMPLEMENTED naming fn. */
void capi_unimplemented(TF_Status *status, const char *fn);

#endif
