/* SPDX-License-Identifier: Apache-2.0 */
/* tensorflow/c/tf_tstring.h - TF_TString, the 24-byte string element of TF_STRING tensors in
 * TensorFlow's C API (2.x), as deft provides it. Written for deft from the documented layout:
 * a union of a small inline string (a size byte and 23 bytes), a heap string (size, capacity,
 * pointer), an offset form and a view (size, borrowed pointer). The low two bits of the first
 * byte (on a little-endian host) give the form; the size is stored shifted left by two. Use the
 * functions below rather than the fields. */
#ifndef TENSORFLOW_C_TF_TSTRING_H_
#define TENSORFLOW_C_TF_TSTRING_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/c/tf_datatype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TF_TString_Type {
  TF_TSTR_SMALL = 0x00,
  TF_TSTR_LARGE = 0x01,
  TF_TSTR_OFFSET = 0x02,
  TF_TSTR_VIEW = 0x03,
  TF_TSTR_TYPE_MASK = 0x03
} TF_TString_Type;

typedef struct TF_TString_Large {
  size_t size;
  size_t cap;
  char* ptr;
} TF_TString_Large;

typedef struct TF_TString_Offset {
  uint32_t size;
  uint32_t offset;
  uint32_t count;
} TF_TString_Offset;

typedef struct TF_TString_View {
  size_t size;
  const char* ptr;
} TF_TString_View;

typedef struct TF_TString_Raw {
  uint8_t raw[24];
} TF_TString_Raw;

typedef union TF_TString_Union {
  TF_TString_Large large;
  TF_TString_Offset offset;
  TF_TString_View view;
  TF_TString_Raw raw;
} TF_TString_Union;

enum { TF_TString_SmallCapacity = 22 };

typedef struct TF_TString_Small {
  uint8_t size;
  char str[TF_TString_SmallCapacity + 1];
} TF_TString_Small;

typedef struct TF_TString {
  union {
    TF_TString_Small smll;
    TF_TString_Large large;
    TF_TString_Offset offset;
    TF_TString_View view;
    TF_TString_Raw raw;
  } u;
} TF_TString;

/* Makes str an empty small string. Call before any other function on fresh memory. */
TF_CAPI_EXPORT extern void TF_StringInit(TF_TString* str);
/* Sets str to a copy of src[0..size) (inline up to 22 bytes, else on the heap). */
TF_CAPI_EXPORT extern void TF_StringCopy(TF_TString* dst, const char* src, size_t size);
/* Sets str to a view of src[0..size): no copy; src must outlive every use of dst. */
TF_CAPI_EXPORT extern void TF_StringAssignView(TF_TString* dst, const char* src, size_t size);
/* Returns the bytes of str (not necessarily NUL-terminated for views). */
TF_CAPI_EXPORT extern const char* TF_StringGetDataPointer(const TF_TString* str);
TF_CAPI_EXPORT extern TF_TString_Type TF_StringGetType(const TF_TString* str);
TF_CAPI_EXPORT extern size_t TF_StringGetSize(const TF_TString* str);
/* The bytes str can hold without reallocating (0 for views and offsets). */
TF_CAPI_EXPORT extern size_t TF_StringGetCapacity(const TF_TString* str);
/* Frees a heap string's storage and makes str empty. */
TF_CAPI_EXPORT extern void TF_StringDealloc(TF_TString* str);

#ifdef __cplusplus
}
#endif
#endif
