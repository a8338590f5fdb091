/* SPDX-License-Identifier: Apache-2.0 */
/* tensorflow/c/tf_datatype.h - element types of TensorFlow's C API, as deft provides it.
 *
 * Written for deft from the C API's documented facts (names, values, signatures); not
 * TensorFlow's header. The numeric values equal TensorFlow's DataType enum. deft computes in
 * TF_FLOAT, TF_DOUBLE, TF_INT32, TF_UINT8, TF_STRING, TF_INT64 and TF_BOOL; tensors of the other
 * types can be created and read, but a session given one fails with TF_UNIMPLEMENTED. */
#ifndef TENSORFLOW_C_TF_DATATYPE_H_
#define TENSORFLOW_C_TF_DATATYPE_H_

#include <stddef.h>

#ifndef TF_CAPI_EXPORT
#if defined(__GNUC__)
#define TF_CAPI_EXPORT __attribute__((visibility("default")))
#else
#define TF_CAPI_EXPORT
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TF_DataType {
  TF_FLOAT = 1,
  TF_DOUBLE = 2,
  TF_INT32 = 3, /* int32 on every platform */
  TF_UINT8 = 4,
  TF_INT16 = 5,
  TF_INT8 = 6,
  TF_STRING = 7,
  TF_COMPLEX64 = 8, /* single-precision complex */
  TF_COMPLEX = 8,   /* old name for TF_COMPLEX64 */
  TF_INT64 = 9,
  TF_BOOL = 10,
  TF_QINT8 = 11,
  TF_QUINT8 = 12,
  TF_QINT32 = 13,
  TF_BFLOAT16 = 14,
  TF_QINT16 = 15,
  TF_QUINT16 = 16,
  TF_UINT16 = 17,
  TF_COMPLEX128 = 18,
  TF_HALF = 19,
  TF_RESOURCE = 20,
  TF_VARIANT = 21,
  TF_UINT32 = 22,
  TF_UINT64 = 23
} TF_DataType;

/* Returns the size in bytes of one element of dt, or 0 for variable-size types (TF_STRING,
 * TF_RESOURCE, TF_VARIANT) and unknown values. */
TF_CAPI_EXPORT extern size_t TF_DataTypeSize(TF_DataType dt);

#ifdef __cplusplus
}
#endif
#endif
