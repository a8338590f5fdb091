/* SPDX-License-Identifier: Apache-2.0 */
/* base/dtypes.c - the one table of TF DataTypes (see base/dtypes.h). */
#include "base/dtypes.h"

#include <string.h>

#include "deft/tensor.h"

/* num, TF name, short name, size, stored, numbertype, realnumbertype */
static const deft_dtype_info table[] = {
    {1, "DT_FLOAT", "float", 4, true, true, true},
    {2, "DT_DOUBLE", "double", 8, true, true, true},
    {3, "DT_INT32", "int32", 4, true, true, true},
    {4, "DT_UINT8", "uint8", 1, true, true, true},
    {5, "DT_INT16", "int16", 2, false, true, true},
    {6, "DT_INT8", "int8", 1, false, true, true},
    {7, "DT_STRING", "string", 0, true, false, false},
    {8, "DT_COMPLEX64", "complex64", 8, false, true, false},
    {9, "DT_INT64", "int64", 8, true, true, true},
    {10, "DT_BOOL", "bool", 1, true, false, false},
    {11, "DT_QINT8", "qint8", 1, true, true, false},
    {12, "DT_QUINT8", "quint8", 1, true, true, false},
    {13, "DT_QINT32", "qint32", 4, true, true, false},
    {14, "DT_BFLOAT16", "bfloat16", 2, false, true, true},
    {15, "DT_QINT16", "qint16", 2, false, false, false},
    {16, "DT_QUINT16", "quint16", 2, false, false, false},
    {17, "DT_UINT16", "uint16", 2, false, true, true},
    {18, "DT_COMPLEX128", "complex128", 16, false, true, false},
    {19, "DT_HALF", "half", 2, false, true, true},
    {20, "DT_RESOURCE", "resource", 0, false, false, false},
    {21, "DT_VARIANT", "variant", 0, false, false, false},
    {22, "DT_UINT32", "uint32", 4, false, true, true},
    {23, "DT_UINT64", "uint64", 8, false, true, true},
};

enum { COUNT = sizeof table / sizeof table[0] };

const deft_dtype_info *deft_dtype_info_of(int num) {
  return num >= 1 && num <= COUNT && table[num - 1].num == num ? &table[num - 1] : NULL;
}

const deft_dtype_info *deft_dtype_info_by_name(const char *name) {
  for (int i = 0; i < COUNT; i++)
    if (!strcmp(table[i].tf_name, name) || !strcmp(table[i].short_name, name)) return &table[i];
  return NULL;
}

int deft_dtype_info_count(void) { return COUNT; }
const deft_dtype_info *deft_dtype_info_at(int i) { return i >= 0 && i < COUNT ? &table[i] : NULL; }

size_t deft_dtype_size(deft_dtype dtype) {
  const deft_dtype_info *d = deft_dtype_info_of((int)dtype);
  return d && d->stored && dtype != DEFT_STRING ? d->size : 0;
}

const char *deft_dtype_name(deft_dtype dtype) {
  const deft_dtype_info *d = deft_dtype_info_of((int)dtype);
  return d && d->stored ? d->short_name : "invalid";
}

bool deft_dtype_is_valid(int dtype) {
  const deft_dtype_info *d = deft_dtype_info_of(dtype);
  return d && d->stored;
}
