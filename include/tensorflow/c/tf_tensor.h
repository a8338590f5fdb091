/* SPDX-License-Identifier: Apache-2.0 */
/* tensorflow/c/tf_tensor.h - TF_Tensor of TensorFlow's C API, as deft provides it. Written for
 * deft from the C API's documented signatures and ownership rules.
 *
 * A TF_Tensor is a dtype, a shape and a buffer of row-major elements. TF_STRING tensors hold
 * TF_TString elements (tf_tstring.h). deft stores the elements of its own dtypes in a 64-byte
 * aligned deft buffer: TF_NewTensor copies the caller's bytes into one and calls the
 * deallocator at once (TensorFlow does the same for data it cannot adopt), so a program must
 * reach the elements through TF_TensorData afterwards. */
#ifndef TENSORFLOW_C_TF_TENSOR_H_
#define TENSORFLOW_C_TF_TENSOR_H_

#include <stdbool.h>
#include <stdint.h>

#include "tensorflow/c/tf_datatype.h"
#include "tensorflow/c/tf_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TF_Tensor TF_Tensor;

/* Returns a new tensor of dtype and shape dims[0..num_dims) holding data[0..len). len must be
 * the byte size of the shape (for TF_STRING: num_elements * sizeof(TF_TString)); otherwise (or
 * for a negative dim or on OOM) returns NULL, after calling the deallocator. The deallocator
 * (may be NULL) receives (data, len, deallocator_arg); it is called before TF_NewTensor returns,
 * except for dtypes deft does not compute in and TF_STRING, whose bytes are adopted as given
 * and released when the tensor is deleted. */
TF_CAPI_EXPORT extern TF_Tensor* TF_NewTensor(TF_DataType dtype, const int64_t* dims,
                                              int num_dims, void* data, size_t len,
                                              void (*deallocator)(void* data, size_t len,
                                                                  void* arg),
                                              void* deallocator_arg);

/* Returns a new tensor with uninitialized elements (zeroed for deft's dtypes; empty strings
 * for TF_STRING), or NULL when len is not the shape's byte size or memory is exhausted. */
TF_CAPI_EXPORT extern TF_Tensor* TF_AllocateTensor(TF_DataType dtype, const int64_t* dims,
                                                   int num_dims, size_t len);

/* Returns t itself if its buffer may be reused (deft: when no other tensor shares it), else
 * NULL. The caller keeps owning t either way. */
TF_CAPI_EXPORT extern TF_Tensor* TF_TensorMaybeMove(TF_Tensor* t);

/* Frees t (TF_STRING tensors: every element's heap storage too). Accepts NULL. */
TF_CAPI_EXPORT extern void TF_DeleteTensor(TF_Tensor* t);

TF_CAPI_EXPORT extern TF_DataType TF_TensorType(const TF_Tensor* t);
/* Changes t's shape, keeping its buffer (the element count must stay the same; otherwise
 * nothing happens). */
TF_CAPI_EXPORT extern void TF_SetShape(TF_Tensor* t, const int64_t* dims, int num_dims);
TF_CAPI_EXPORT extern int TF_NumDims(const TF_Tensor* t);
/* Dim dim_index (0 <= dim_index < TF_NumDims(t)). */
TF_CAPI_EXPORT extern int64_t TF_Dim(const TF_Tensor* t, int dim_index);
TF_CAPI_EXPORT extern size_t TF_TensorByteSize(const TF_Tensor* t);
/* The elements: valid while t lives. Writing is allowed while t's buffer is not shared. */
TF_CAPI_EXPORT extern void* TF_TensorData(const TF_Tensor* t);
TF_CAPI_EXPORT extern int64_t TF_TensorElementCount(const TF_Tensor* t);

/* Makes `to` share from's buffer with dtype `type` and shape new_dims; the byte sizes must
 * agree (INVALID_ARGUMENT otherwise). Not for TF_STRING. */
TF_CAPI_EXPORT extern void TF_TensorBitcastFrom(const TF_Tensor* from, TF_DataType type,
                                                TF_Tensor* to, const int64_t* new_dims,
                                                int num_new_dims, TF_Status* status);

/* True iff t's data is 64-byte aligned (always, for deft's dtypes). */
TF_CAPI_EXPORT extern bool TF_TensorIsAligned(const TF_Tensor* t);

#ifdef __cplusplus
}
#endif
#endif
