/* SPDX-License-Identifier: Apache-2.0 */
/* base/dtypes.h - TF's DataType numbers in one table (base/dtypes.c): their names, which ones
 * deft stores and with how many bytes, and TF's numbertype / realnumbertype sets. Every other
 * dtype fact (deft_dtype_name, deft_dtype_size, deft_dtype_is_valid, the registry's type
 * names and sets) is read from it. Internal. Thread-safety: immutable. */
#ifndef DEFT_BASE_DTYPES_H
#define DEFT_BASE_DTYPES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct deft_dtype_info {
  int num;                 /* TF's DataType number */
  const char *tf_name;     /* "DT_FLOAT" */
  const char *short_name;  /* "float", as op signatures spell it */
  size_t size;             /* bytes per element when deft stores it; 0: not stored (string: 0) */
  bool stored;             /* a deft_dtype: deft keeps tensors of it */
  bool number;             /* in TF's numbertype */
  bool real_number;        /* in TF's realnumbertype */
} deft_dtype_info;

/* The entry for TF DataType `num`, or NULL when TF has none (or deft does not know it). */
const deft_dtype_info *deft_dtype_info_of(int num);
/* The entry whose TF name ("DT_FLOAT") or short name ("float") is `name`, or NULL. */
const deft_dtype_info *deft_dtype_info_by_name(const char *name);
/* Entry i of the table, i in [0, deft_dtype_info_count()). */
int deft_dtype_info_count(void);
const deft_dtype_info *deft_dtype_info_at(int i);

#endif
