/* SPDX-License-Identifier: Apache-2.0 */
/* tests/capi_testutil.h - the helpers a C API user writes, shared by the suites of TensorFlow's
 * C API on deft (test_capi.c, test_capi_models.c): status checks, small tensors, ops added with
 * TF_NewOperation, reading a file. Header-only (static inline), so each suite links only
 * libtensorflow-deft for its TF_* symbols. Failures abort the calling Check test. */
#ifndef DEFT_TESTS_CAPI_TESTUTIL_H
#define DEFT_TESTS_CAPI_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"
#include "testutil.h"

#define ASSERT_OK(s) ck_assert_msg(TF_GetCode(s) == TF_OK, "%s", TF_Message(s))

static inline void assert_code(TF_Status *s, TF_Code code, const char *needle) {
  ck_assert_msg(TF_GetCode(s) == code, "want code %d, got %d: %s", (int)code, (int)TF_GetCode(s),
                TF_Message(s));
  if (needle)
    ck_assert_msg(strstr(TF_Message(s), needle), "message '%s' lacks '%s'", TF_Message(s), needle);
}

static inline TF_Tensor *scalar_f(float v) {
  TF_Tensor *t = TF_AllocateTensor(TF_FLOAT, NULL, 0, sizeof(float));
  *(float *)TF_TensorData(t) = v;
  return t;
}

static inline TF_Tensor *vec_i32(const int32_t *v, int64_t n) {
  TF_Tensor *t = TF_AllocateTensor(TF_INT32, &n, 1, sizeof(int32_t) * (size_t)n);
  memcpy(TF_TensorData(t), v, sizeof(int32_t) * (size_t)n);
  return t;
}

static inline TF_Operation *placeholder(TF_Graph *g, const char *name, TF_DataType dt,
                                        const int64_t *dims, int ndims, TF_Status *s) {
  TF_OperationDescription *d = TF_NewOperation(g, "Placeholder", name);
  TF_SetAttrType(d, "dtype", dt);
  if (ndims >= -1 && dims) TF_SetAttrShape(d, "shape", dims, ndims);
  TF_Operation *op = TF_FinishOperation(d, s);
  ASSERT_OK(s);
  return op;
}

static inline TF_Operation *constant(TF_Graph *g, const char *name, TF_Tensor *t,
                                     TF_Status *s) {
  TF_OperationDescription *d = TF_NewOperation(g, "Const", name);
  TF_SetAttrTensor(d, "value", t, s);
  ASSERT_OK(s);
  TF_SetAttrType(d, "dtype", TF_TensorType(t));
  TF_Operation *op = TF_FinishOperation(d, s);
  ASSERT_OK(s);
  return op;
}

static inline TF_Operation *binary(TF_Graph *g, const char *type, const char *name,
                                   TF_Output a, TF_Output b, TF_Status *s) {
  TF_OperationDescription *d = TF_NewOperation(g, type, name);
  TF_AddInput(d, a);
  TF_AddInput(d, b);
  TF_Operation *op = TF_FinishOperation(d, s);
  ck_assert_msg(op != NULL, "%s: %s", name, TF_Message(s));
  return op;
}

/* A one-input op (its T attr inferred from x). */
static inline TF_Operation *unary_attr_t(TF_Graph *g, const char *type, const char *name,
                                         TF_Output x, TF_Status *s) {
  TF_OperationDescription *d = TF_NewOperation(g, type, name);
  TF_AddInput(d, x);
  TF_Operation *op = TF_FinishOperation(d, s);
  ck_assert_msg(op != NULL, "%s: %s", name, TF_Message(s));
  return op;
}

static inline TF_Output out0(TF_Operation *op) {
  TF_Output o = {op, 0};
  return o;
}

static inline bool has_bytes(const void *buf, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (!memcmp((const char *)buf + i, needle, n)) return true;
  return false;
}

static inline void *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc((size_t)n + 1);
  ck_assert(fread(p, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return p;
}

static inline TF_Tensor *string_scalar(const char *v) {
  TF_Tensor *t = TF_AllocateTensor(TF_STRING, NULL, 0, sizeof(TF_TString));
  TF_StringCopy(TF_TensorData(t), v, strlen(v));
  return t;
}

static inline TF_Tensor *string_vec(const char *const *v, int64_t n) {
  TF_Tensor *t = TF_AllocateTensor(TF_STRING, &n, 1, (size_t)n * sizeof(TF_TString));
  TF_TString *e = TF_TensorData(t);
  for (int64_t i = 0; i < n; i++) TF_StringCopy(&e[i], v[i], strlen(v[i]));
  return t;
}

#endif /* DEFT_TESTS_CAPI_TESTUTIL_H */
