/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_capi.c - TensorFlow's C API on deft (libtensorflow-deft), written against
 * tensorflow/c/c_api.h as a user of libtensorflow would write it: the ABI (struct sizes and
 * offsets, enum values as TensorFlow defines them), status, buffers, tensors and strings;
 * graphs built with TF_NewOperation, run, introspected, exported and re-imported; the error
 * paths with TensorFlow's codes; TF_AddGradients. The real TF files and MNIST training are in
 * test_capi_models.c; the shared helpers in capi_testutil.h. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "capi_testutil.h"

/* ---- deallocators that count their calls ---- */

static int dealloc_calls;
static void count_dealloc(void *data, size_t len, void *arg) {
  dealloc_calls++;
  if (arg) free(data);
}
static int buffer_frees;
static void count_buffer_free(void *data, size_t len) {
  buffer_frees++;
  free(data);
}

/* ---- ABI: TensorFlow's documented layouts and values (64-bit Linux) ---- */

START_TEST(abi) {
  ck_assert_uint_eq(sizeof(TF_Output), 16);
  ck_assert_uint_eq(offsetof(TF_Output, oper), 0);
  ck_assert_uint_eq(offsetof(TF_Output, index), 8);
  ck_assert_uint_eq(sizeof(TF_Input), 16);
  ck_assert_uint_eq(offsetof(TF_Input, index), 8);
  ck_assert_uint_eq(sizeof(TF_Buffer), 24);
  ck_assert_uint_eq(offsetof(TF_Buffer, data), 0);
  ck_assert_uint_eq(offsetof(TF_Buffer, length), 8);
  ck_assert_uint_eq(offsetof(TF_Buffer, data_deallocator), 16);
  ck_assert_uint_eq(sizeof(TF_AttrMetadata), 32);
  ck_assert_uint_eq(offsetof(TF_AttrMetadata, is_list), 0);
  ck_assert_uint_eq(offsetof(TF_AttrMetadata, list_size), 8);
  ck_assert_uint_eq(offsetof(TF_AttrMetadata, type), 16);
  ck_assert_uint_eq(offsetof(TF_AttrMetadata, total_size), 24);
  ck_assert_uint_eq(sizeof(TF_TString), 24);
  ck_assert_uint_eq(sizeof(TF_TString_Small), 24);
  ck_assert_uint_eq(offsetof(TF_TString_Small, str), 1);
  ck_assert_uint_eq(sizeof(TF_TString_Large), 24);
  ck_assert_uint_eq(offsetof(TF_TString_Large, ptr), 16);
  ck_assert_uint_eq(sizeof(TF_TString_Offset), 12);
  ck_assert_uint_eq(sizeof(TF_TString_View), 16);
  ck_assert_int_eq(TF_TString_SmallCapacity, 22);
  /* TF_DataType = tensorflow.DataType */
  const int dtypes[][2] = {
      {TF_FLOAT, 1},     {TF_DOUBLE, 2},    {TF_INT32, 3},      {TF_UINT8, 4},    {TF_INT16, 5},
      {TF_INT8, 6},      {TF_STRING, 7},    {TF_COMPLEX64, 8},  {TF_COMPLEX, 8},  {TF_INT64, 9},
      {TF_BOOL, 10},     {TF_QINT8, 11},    {TF_QUINT8, 12},    {TF_QINT32, 13},  {TF_BFLOAT16, 14},
      {TF_QINT16, 15},   {TF_QUINT16, 16},  {TF_UINT16, 17},    {TF_COMPLEX128, 18},
      {TF_HALF, 19},     {TF_RESOURCE, 20}, {TF_VARIANT, 21},   {TF_UINT32, 22},  {TF_UINT64, 23}};
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    ck_assert_int_eq(dtypes[i][0], dtypes[i][1]);
  /* TF_Code = tensorflow::error::Code */
  const int codes[][2] = {{TF_OK, 0},
                          {TF_CANCELLED, 1},
                          {TF_UNKNOWN, 2},
                          {TF_INVALID_ARGUMENT, 3},
                          {TF_DEADLINE_EXCEEDED, 4},
                          {TF_NOT_FOUND, 5},
                          {TF_ALREADY_EXISTS, 6},
                          {TF_PERMISSION_DENIED, 7},
                          {TF_RESOURCE_EXHAUSTED, 8},
                          {TF_FAILED_PRECONDITION, 9},
                          {TF_ABORTED, 10},
                          {TF_OUT_OF_RANGE, 11},
                          {TF_UNIMPLEMENTED, 12},
                          {TF_INTERNAL, 13},
                          {TF_UNAVAILABLE, 14},
                          {TF_DATA_LOSS, 15},
                          {TF_UNAUTHENTICATED, 16}};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    ck_assert_int_eq(codes[i][0], codes[i][1]);
  const int attrs[][2] = {{TF_ATTR_STRING, 0}, {TF_ATTR_INT, 1},    {TF_ATTR_FLOAT, 2},
                          {TF_ATTR_BOOL, 3},   {TF_ATTR_TYPE, 4},   {TF_ATTR_SHAPE, 5},
                          {TF_ATTR_TENSOR, 6}, {TF_ATTR_PLACEHOLDER, 7}, {TF_ATTR_FUNC, 8}};
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
    ck_assert_int_eq(attrs[i][0], attrs[i][1]);
  ck_assert_int_eq(TF_TSTR_SMALL, 0);
  ck_assert_int_eq(TF_TSTR_LARGE, 1);
  ck_assert_int_eq(TF_TSTR_OFFSET, 2);
  ck_assert_int_eq(TF_TSTR_VIEW, 3);
  /* the element sizes TF_DataTypeSize reports */
  ck_assert_uint_eq(TF_DataTypeSize(TF_FLOAT), 4);
  ck_assert_uint_eq(TF_DataTypeSize(TF_DOUBLE), 8);
  ck_assert_uint_eq(TF_DataTypeSize(TF_HALF), 2);
  ck_assert_uint_eq(TF_DataTypeSize(TF_BOOL), 1);
  ck_assert_uint_eq(TF_DataTypeSize(TF_COMPLEX128), 16);
  ck_assert_uint_eq(TF_DataTypeSize(TF_STRING), 0);
  ck_assert_ptr_nonnull(strstr(TF_Version(), "deft"));
}
END_TEST

START_TEST(status_and_buffers) {
  TF_Status *s = TF_NewStatus();
  ASSERT_OK(s);
  ck_assert_str_eq(TF_Message(s), "");
  TF_SetStatus(s, TF_ABORTED, "stopped");
  assert_code(s, TF_ABORTED, "stopped");
  TF_SetStatus(s, TF_OK, "ignored");
  ASSERT_OK(s);
  ck_assert_str_eq(TF_Message(s), "");
  TF_SetStatusFromIOError(s, ENOENT, "opening x");
  assert_code(s, TF_NOT_FOUND, "opening x");
  TF_SetStatusFromIOError(s, EACCES, "y");
  assert_code(s, TF_PERMISSION_DENIED, "y");
  TF_DeleteStatus(s);
  TF_DeleteStatus(NULL);

  char bytes[5] = {1, 2, 0, 3, 4};
  TF_Buffer *b = TF_NewBufferFromString(bytes, sizeof bytes);
  ck_assert_uint_eq(b->length, 5);
  ck_assert(b->data != bytes && memcmp(b->data, bytes, 5) == 0);
  TF_Buffer copy = TF_GetBuffer(b);
  ck_assert_ptr_eq(copy.data, b->data);
  TF_DeleteBuffer(b);
  TF_Buffer *e = TF_NewBuffer();
  ck_assert_ptr_null(e->data);
  e->data = malloc(3);
  e->length = 3;
  e->data_deallocator = count_buffer_free;
  buffer_frees = 0;
  TF_DeleteBuffer(e);
  ck_assert_int_eq(buffer_frees, 1);
  TF_DeleteBuffer(NULL);
}
END_TEST

START_TEST(tensors) {
  int64_t dims[2] = {2, 3};
  float *v = malloc(6 * sizeof(float));
  for (int i = 0; i < 6; i++) v[i] = (float)i * 1.5f;
  dealloc_calls = 0;
  TF_Tensor *t = TF_NewTensor(TF_FLOAT, dims, 2, v, 6 * sizeof(float), count_dealloc, v);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(dealloc_calls, 1); /* deft copied and released the caller's bytes */
  ck_assert_int_eq(TF_TensorType(t), TF_FLOAT);
  ck_assert_int_eq(TF_NumDims(t), 2);
  ck_assert_int_eq(TF_Dim(t, 0), 2);
  ck_assert_int_eq(TF_Dim(t, 1), 3);
  ck_assert_uint_eq(TF_TensorByteSize(t), 24);
  ck_assert_int_eq(TF_TensorElementCount(t), 6);
  ck_assert(TF_TensorIsAligned(t));
  for (int i = 0; i < 6; i++) ck_assert(((float *)TF_TensorData(t))[i] == (float)i * 1.5f);
  int64_t flat[2] = {3, 2};
  TF_SetShape(t, flat, 2);
  ck_assert_int_eq(TF_Dim(t, 0), 3);
  ck_assert(((float *)TF_TensorData(t))[5] == 7.5f);
  /* bitcast float[3,2] -> int32[3,2] keeps the bits */
  TF_Tensor *bits = TF_AllocateTensor(TF_INT32, flat, 2, 24);
  TF_Status *s = TF_NewStatus();
  TF_TensorBitcastFrom(t, TF_INT32, bits, flat, 2, s);
  ASSERT_OK(s);
  float f15 = 1.5f;
  ck_assert(memcmp((int32_t *)TF_TensorData(bits) + 1, &f15, 4) == 0);
  int64_t bad[2] = {5, 5};
  TF_TensorBitcastFrom(t, TF_INT32, bits, bad, 2, s);
  assert_code(s, TF_INVALID_ARGUMENT, "bitcast");
  TF_DeleteTensor(bits);
  TF_DeleteTensor(t);

  /* wrong byte size: NULL, and the deallocator still runs */
  float w[3];
  dealloc_calls = 0;
  ck_assert_ptr_null(TF_NewTensor(TF_FLOAT, dims, 2, w, sizeof w, count_dealloc, NULL));
  ck_assert_int_eq(dealloc_calls, 1);
  ck_assert_ptr_null(TF_AllocateTensor(TF_FLOAT, dims, 2, 7));
  int64_t neg = -1;
  ck_assert_ptr_null(TF_AllocateTensor(TF_FLOAT, &neg, 1, 0));
  /* a dtype deft does not compute in keeps the caller's bytes until deleted */
  uint16_t *h = malloc(4 * sizeof(uint16_t));
  int64_t four = 4;
  dealloc_calls = 0;
  TF_Tensor *half = TF_NewTensor(TF_HALF, &four, 1, h, 8, count_dealloc, h);
  ck_assert_ptr_eq(TF_TensorData(half), h);
  ck_assert_int_eq(dealloc_calls, 0);
  TF_DeleteTensor(half);
  ck_assert_int_eq(dealloc_calls, 1);
  /* a scalar, and a zero-element tensor */
  TF_Tensor *sc = scalar_f(2.0f);
  ck_assert_int_eq(TF_NumDims(sc), 0);
  ck_assert_int_eq(TF_TensorElementCount(sc), 1);
  TF_DeleteTensor(sc);
  int64_t zero = 0;
  TF_Tensor *z = TF_AllocateTensor(TF_INT64, &zero, 1, 0);
  ck_assert_ptr_nonnull(z);
  ck_assert_int_eq(TF_TensorElementCount(z), 0);
  TF_DeleteTensor(z);
  TF_DeleteTensor(NULL);
  TF_DeleteStatus(s);
}
END_TEST

START_TEST(strings) {
  TF_TString a;
  TF_StringInit(&a);
  ck_assert_uint_eq(TF_StringGetSize(&a), 0);
  ck_assert_int_eq(TF_StringGetType(&a), TF_TSTR_SMALL);
  TF_StringCopy(&a, "hello", 5);
  ck_assert_int_eq(TF_StringGetType(&a), TF_TSTR_SMALL);
  ck_assert_uint_eq(TF_StringGetSize(&a), 5);
  ck_assert(memcmp(TF_StringGetDataPointer(&a), "hello", 5) == 0);
  ck_assert_int_eq(a.u.raw.raw[0], 5 << 2); /* TF's encoding: size << 2 | type */
  const char *longs = "a string longer than twenty-two bytes";
  TF_StringCopy(&a, longs, strlen(longs));
  ck_assert_int_eq(TF_StringGetType(&a), TF_TSTR_LARGE);
  ck_assert_uint_eq(TF_StringGetSize(&a), strlen(longs));
  ck_assert_uint_ge(TF_StringGetCapacity(&a), strlen(longs));
  ck_assert(memcmp(TF_StringGetDataPointer(&a), longs, strlen(longs)) == 0);
  TF_StringAssignView(&a, longs, 8);
  ck_assert_int_eq(TF_StringGetType(&a), TF_TSTR_VIEW);
  ck_assert_ptr_eq(TF_StringGetDataPointer(&a), longs);
  ck_assert_uint_eq(TF_StringGetSize(&a), 8);
  TF_StringDealloc(&a);
  ck_assert_uint_eq(TF_StringGetSize(&a), 0);

  /* the older encoding: varint length + bytes */
  TF_Status *s = TF_NewStatus();
  char src[300];
  memset(src, 'x', sizeof src);
  src[7] = 0;
  size_t need = TF_StringEncodedSize(sizeof src);
  ck_assert_uint_eq(need, 302);
  char *dst = malloc(need);
  ck_assert_uint_eq(TF_StringEncode(src, sizeof src, dst, need, s), need);
  ASSERT_OK(s);
  ck_assert_int_eq((unsigned char)dst[0], 0xac); /* 300 = 0b10_0101100 */
  ck_assert_int_eq(dst[1], 2);
  const char *out;
  size_t outlen;
  ck_assert_uint_eq(TF_StringDecode(dst, need, &out, &outlen, s), need);
  ck_assert_uint_eq(outlen, sizeof src);
  ck_assert(out == dst + 2 && memcmp(out, src, sizeof src) == 0);
  ck_assert_uint_eq(TF_StringDecode(dst, need - 1, &out, &outlen, s), 0);
  assert_code(s, TF_INVALID_ARGUMENT, "truncated");
  ck_assert_uint_eq(TF_StringEncode(src, sizeof src, dst, 10, s), 0);
  assert_code(s, TF_INVALID_ARGUMENT, "too small");
  free(dst);
  TF_DeleteStatus(s);
}
END_TEST

/* ---- building, running, introspecting ---- */

START_TEST(add_graph) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  int64_t vec[1] = {-1};
  TF_Operation *a = placeholder(g, "a", TF_FLOAT, vec, 1, s);
  TF_Operation *b = placeholder(g, "b", TF_FLOAT, vec, 1, s);
  TF_Operation *sum = binary(g, "AddV2", "sum", out0(a), out0(b), s);
  TF_Tensor *three = scalar_f(3.0f);
  TF_Operation *c3 = constant(g, "three", three, s);
  TF_DeleteTensor(three);
  TF_Operation *scaled = binary(g, "Mul", "scaled", out0(sum), out0(c3), s);

  /* introspection */
  ck_assert_str_eq(TF_OperationName(sum), "sum");
  ck_assert_str_eq(TF_OperationOpType(sum), "AddV2");
  ck_assert_str_eq(TF_OperationDevice(sum), "");
  ck_assert_int_eq(TF_OperationNumInputs(sum), 2);
  ck_assert_int_eq(TF_OperationNumOutputs(sum), 1);
  ck_assert_int_eq(TF_OperationOutputType(out0(sum)), TF_FLOAT);
  TF_Input in1 = {sum, 1};
  ck_assert_ptr_eq(TF_OperationInput(in1).oper, b);
  ck_assert_int_eq(TF_OperationInputType(in1), TF_FLOAT);
  TF_Output all[2];
  TF_OperationAllInputs(scaled, all, 2);
  ck_assert(all[0].oper == sum && all[1].oper == c3);
  ck_assert_int_eq(TF_OperationOutputNumConsumers(out0(a)), 1);
  TF_Input cons[4];
  ck_assert_int_eq(TF_OperationOutputConsumers(out0(sum), cons, 4), 1);
  ck_assert(cons[0].oper == scaled && cons[0].index == 0);
  ck_assert_int_eq(TF_OperationOutputConsumers(out0(c3), cons, 4), 1);
  ck_assert_int_eq(cons[0].index, 1);
  ck_assert_ptr_eq(TF_GraphOperationByName(g, "scaled"), scaled);
  ck_assert_ptr_null(TF_GraphOperationByName(g, "nope"));
  size_t pos = 0;
  int n = 0;
  TF_Operation *op;
  const char *order[] = {"a", "b", "sum", "three", "scaled"};
  while ((op = TF_GraphNextOperation(g, &pos)) && n < 5)
    ck_assert_str_eq(TF_OperationName(op), order[n++]);
  ck_assert_int_eq(n, 5);
  ck_assert_ptr_null(TF_GraphNextOperation(g, &pos));
  ck_assert_int_eq(TF_GraphGetTensorNumDims(g, out0(sum), s), 1);
  int64_t d = 0;
  TF_GraphGetTensorShape(g, out0(a), &d, 1, s);
  ASSERT_OK(s);
  ck_assert_int_eq(d, -1);
  TF_GraphGetTensorShape(g, out0(a), &d, 2, s);
  assert_code(s, TF_INVALID_ARGUMENT, "rank");
  int64_t three_dims = 3, four_dims = 4;
  TF_GraphSetTensorShape(g, out0(a), &three_dims, 1, s);
  ASSERT_OK(s);
  TF_GraphGetTensorShape(g, out0(a), &d, 1, s);
  ck_assert_int_eq(d, 3);
  TF_GraphSetTensorShape(g, out0(a), &four_dims, 1, s);
  assert_code(s, TF_INVALID_ARGUMENT, "a:0");
  /* list arguments: AddN's `N * T` inputs, and a single-tensor argument */
  TF_OperationDescription *an = TF_NewOperation(g, "AddN", "addn");
  TF_Output three_in[3] = {out0(a), out0(b), out0(a)};
  TF_AddInputList(an, three_in, 3);
  TF_Operation *addn = TF_FinishOperation(an, s);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_OperationInputListLength(addn, "inputs", s), 3);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_OperationOutputListLength(addn, "sum", s), 1);
  ck_assert_int_eq(TF_OperationInputListLength(addn, "nope", s), -1);
  assert_code(s, TF_INVALID_ARGUMENT, "nope");
  int64_t nattr;
  TF_OperationGetAttrInt(addn, "N", &nattr, s);
  ck_assert(TF_GetCode(s) == TF_OK && nattr == 3);

  /* attrs */
  TF_AttrMetadata m = TF_OperationGetAttrMetadata(a, "dtype", s);
  ASSERT_OK(s);
  ck_assert(!m.is_list && m.type == TF_ATTR_TYPE);
  TF_DataType dt;
  TF_OperationGetAttrType(a, "dtype", &dt, s);
  ck_assert(TF_GetCode(s) == TF_OK && dt == TF_FLOAT);
  m = TF_OperationGetAttrMetadata(a, "shape", s);
  ck_assert(m.type == TF_ATTR_SHAPE && m.total_size == 1);
  TF_OperationGetAttrShape(a, "shape", &d, 1, s);
  ck_assert(TF_GetCode(s) == TF_OK && d == -1);
  TF_Tensor *val = NULL;
  TF_OperationGetAttrTensor(c3, "value", &val, s);
  ASSERT_OK(s);
  ck_assert(*(float *)TF_TensorData(val) == 3.0f);
  TF_DeleteTensor(val);
  int64_t iv;
  TF_OperationGetAttrInt(a, "dtype", &iv, s);
  assert_code(s, TF_INVALID_ARGUMENT, "dtype");
  TF_OperationGetAttrMetadata(a, "no_such_attr", s);
  assert_code(s, TF_INVALID_ARGUMENT, "no_such_attr");
  int na = TF_OperationGetNumAttrs(a);
  ck_assert_int_ge(na, 2);
  bool saw_dtype = false;
  for (int i = 0; i < na; i++) {
    char name[64];
    ck_assert_int_lt(TF_OperationGetAttrNameLength(a, i), 64);
    TF_OperationGetAttrName(a, i, name, s);
    ASSERT_OK(s);
    saw_dtype |= !strcmp(name, "dtype");
  }
  ck_assert(saw_dtype);

  /* run: (a + b) * 3 */
  TF_SessionOptions *so = TF_NewSessionOptions();
  /* ConfigProto{intra_op_parallelism_threads: 2, inter_op_parallelism_threads: 1} */
  const unsigned char config[] = {0x10, 0x02, 0x28, 0x01};
  TF_SetConfig(so, config, sizeof config, s);
  ASSERT_OK(s);
  const unsigned char bad_config[] = {0x10};
  TF_SetConfig(so, bad_config, sizeof bad_config, s);
  assert_code(s, TF_INVALID_ARGUMENT, "ConfigProto");
  TF_Session *sess = TF_NewSession(g, so, s);
  ASSERT_OK(s);
  float av[3] = {1, 2, 3}, bv[3] = {10, 20, 30};
  int64_t three_d = 3;
  TF_Tensor *at = TF_NewTensor(TF_FLOAT, &three_d, 1, av, sizeof av, NULL, NULL);
  TF_Tensor *bt = TF_NewTensor(TF_FLOAT, &three_d, 1, bv, sizeof bv, NULL, NULL);
  TF_Output feeds[2] = {out0(a), out0(b)};
  TF_Tensor *fv[2] = {at, bt};
  TF_Output fetch[2] = {out0(scaled), out0(sum)};
  TF_Tensor *res[2] = {NULL, NULL};
  TF_SessionRun(sess, NULL, feeds, fv, 2, fetch, res, 2, NULL, 0, NULL, s);
  ASSERT_OK(s);
  for (int i = 0; i < 3; i++) {
    ck_assert(((float *)TF_TensorData(res[0]))[i] == (av[i] + bv[i]) * 3);
    ck_assert(((float *)TF_TensorData(res[1]))[i] == av[i] + bv[i]);
  }
  ck_assert_int_eq(TF_Dim(res[0], 0), 3);
  TF_DeleteTensor(res[0]);
  TF_DeleteTensor(res[1]);
  /* the caller writes through TF_TensorData between runs: the next run sees it */
  ((float *)TF_TensorData(at))[0] = 100;
  TF_SessionRun(sess, NULL, feeds, fv, 2, fetch, res, 1, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert(((float *)TF_TensorData(res[0]))[0] == 330);
  TF_DeleteTensor(res[0]);

  /* error paths */
  TF_SessionRun(sess, NULL, feeds, fv, 1, fetch, res, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "b"); /* b is not fed */
  ck_assert_ptr_null(res[0]);
  int32_t iv3[3] = {1, 2, 3};
  TF_Tensor *wrong = vec_i32(iv3, 3);
  TF_Tensor *fw[2] = {at, wrong};
  TF_SessionRun(sess, NULL, feeds, fw, 2, fetch, res, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, NULL); /* int32 fed for a float placeholder */
  TF_DeleteTensor(wrong);
  TF_Output bad_index = {sum, 3};
  TF_SessionRun(sess, NULL, feeds, fv, 2, &bad_index, res, 1, NULL, 0, NULL, s);
  assert_code(s, TF_OUT_OF_RANGE, "does not have output 3");
  TF_OperationDescription *dd = TF_NewOperation(g, "AddV2", "sum"); /* name taken */
  TF_AddInput(dd, out0(a));
  TF_AddInput(dd, out0(b));
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  assert_code(s, TF_INVALID_ARGUMENT, "sum");
  ck_assert_ptr_null(TF_GraphOperationByName(g, "sum_1")); /* nothing was added */
  int32_t one = 1;
  TF_Tensor *it = vec_i32(&one, 1);
  TF_Operation *ic = constant(g, "int_one", it, s);
  TF_DeleteTensor(it);
  dd = TF_NewOperation(g, "AddV2", "mixed"); /* float + int32 */
  TF_AddInput(dd, out0(a));
  TF_AddInput(dd, out0(ic));
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  assert_code(s, TF_INVALID_ARGUMENT, "mixed");
  ck_assert_ptr_null(TF_GraphOperationByName(g, "mixed"));
  dd = TF_NewOperation(g, "NoSuchOpType", "x");
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  ck_assert_int_ne(TF_GetCode(s), TF_OK);
  ck_assert_ptr_nonnull(strstr(TF_Message(s), "NoSuchOpType"));
  dd = TF_NewOperation(g, "Placeholder", "fn");
  TF_SetAttrFuncName(dd, "f", "g", 1);
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  assert_code(s, TF_UNIMPLEMENTED, "TF_SetAttrFuncName");
  ck_assert_ptr_null(TF_GraphOperationByName(g, "fn"));
  /* list attrs the op type does not have: INVALID_ARGUMENT naming them */
  dd = TF_NewOperation(g, "Placeholder", "bl");
  TF_SetAttrType(dd, "dtype", TF_FLOAT);
  const unsigned char bools[2] = {1, 0};
  TF_SetAttrBoolList(dd, "no_bools", bools, 2);
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  assert_code(s, TF_INVALID_ARGUMENT, "no_bools");
  dd = TF_NewOperation(g, "Placeholder", "tl");
  TF_SetAttrType(dd, "dtype", TF_FLOAT);
  TF_Tensor *tl[1] = {scalar_f(1)};
  TF_SetAttrTensorList(dd, "no_tensors", tl, 1, s);
  ASSERT_OK(s);
  TF_DeleteTensor(tl[0]);
  ck_assert_ptr_null(TF_FinishOperation(dd, s));
  assert_code(s, TF_INVALID_ARGUMENT, "no_tensors");
  /* after failures the graph still builds and runs */
  TF_Operation *sum2 = binary(g, "AddV2", "sum2", out0(sum), out0(c3), s);
  TF_Output f2 = out0(sum2);
  TF_SessionRun(sess, NULL, feeds, fv, 2, &f2, res, 1, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert(((float *)TF_TensorData(res[0]))[1] == 25);
  TF_DeleteTensor(res[0]);
  const char *handle;
  TF_SessionPRunSetup(sess, feeds, 2, fetch, 1, NULL, 0, &handle, s);
  assert_code(s, TF_UNIMPLEMENTED, "TF_SessionPRunSetup");

  TF_DeviceList *dl = TF_SessionListDevices(sess, s);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_DeviceListCount(dl), 1);
  ck_assert_str_eq(TF_DeviceListType(dl, 0, s), "CPU");
  ck_assert_ptr_nonnull(strstr(TF_DeviceListName(dl, 0, s), "CPU:0"));
  ck_assert_ptr_null(TF_DeviceListName(dl, 1, s));
  assert_code(s, TF_INVALID_ARGUMENT, NULL);
  TF_DeleteDeviceList(dl);

  TF_CloseSession(sess, s);
  TF_SessionRun(sess, NULL, feeds, fv, 2, fetch, res, 1, NULL, 0, NULL, s);
  assert_code(s, TF_FAILED_PRECONDITION, "closed");
  TF_DeleteSession(sess, s);
  TF_DeleteSessionOptions(so);
  TF_DeleteTensor(at);
  TF_DeleteTensor(bt);
  TF_DeleteGraph(g);
  TF_DeleteStatus(s);
}
END_TEST

/* A graph, to GraphDef bytes, into a second graph under a prefix with an input mapping and
 * return outputs; the re-imported graph computes the same. */
START_TEST(graph_def_round_trip) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  int64_t vec[1] = {2};
  TF_Operation *x = placeholder(g, "x", TF_FLOAT, vec, 1, s);
  TF_Tensor *two = scalar_f(2.0f);
  TF_Operation *c = constant(g, "two", two, s);
  TF_DeleteTensor(two);
  binary(g, "Mul", "y", out0(x), out0(c), s);
  TF_Buffer *gd = TF_NewBuffer();
  TF_GraphToGraphDef(g, gd, s);
  ASSERT_OK(s);
  ck_assert_uint_gt(gd->length, 20);

  TF_Graph *h = TF_NewGraph();
  TF_Operation *src = placeholder(h, "src", TF_FLOAT, vec, 1, s);
  TF_ImportGraphDefOptions *o = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsSetPrefix(o, "imported");
  TF_ImportGraphDefOptionsAddInputMapping(o, "x", 0, out0(src));
  TF_ImportGraphDefOptionsAddInputMapping(o, "not_there", 0, out0(src));
  TF_ImportGraphDefOptionsAddReturnOutput(o, "y", 0);
  TF_ImportGraphDefOptionsAddReturnOperation(o, "two");
  ck_assert_int_eq(TF_ImportGraphDefOptionsNumReturnOutputs(o), 1);
  TF_ImportGraphDefResults *r = TF_GraphImportGraphDefWithResults(h, gd, o, s);
  ASSERT_OK(s);
  int nout, nops, nmiss;
  TF_Output *outs;
  TF_Operation **ops;
  const char **miss;
  int *miss_idx;
  TF_ImportGraphDefResultsReturnOutputs(r, &nout, &outs);
  TF_ImportGraphDefResultsReturnOperations(r, &nops, &ops);
  TF_ImportGraphDefResultsMissingUnusedInputMappings(r, &nmiss, &miss, &miss_idx);
  ck_assert_int_eq(nout, 1);
  ck_assert_str_eq(TF_OperationName(outs[0].oper), "imported/y");
  ck_assert_int_eq(nops, 1);
  ck_assert_str_eq(TF_OperationName(ops[0]), "imported/two");
  ck_assert_int_eq(nmiss, 1);
  ck_assert_str_eq(miss[0], "not_there");
  TF_Output y = outs[0];
  TF_DeleteImportGraphDefResults(r);
  ck_assert_ptr_nonnull(TF_GraphOperationByName(h, "imported/x"));
  TF_Input yin = {y.oper, 0};
  ck_assert_ptr_eq(TF_OperationInput(yin).oper, src); /* mapped */

  TF_Session *sess = TF_NewSession(h, NULL, s);
  float v[2] = {1.5f, -4};
  TF_Tensor *t = TF_NewTensor(TF_FLOAT, vec, 1, v, sizeof v, NULL, NULL);
  TF_Output feed = out0(src);
  TF_Tensor *res = NULL;
  TF_SessionRun(sess, NULL, &feed, &t, 1, &y, &res, 1, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert(((float *)TF_TensorData(res))[0] == 3.0f && ((float *)TF_TensorData(res))[1] == -8);
  TF_DeleteTensor(res);

  /* importing the same names again fails and leaves the graph as it was */
  int before = 0;
  size_t pos = 0;
  while (TF_GraphNextOperation(h, &pos)) before++;
  TF_ImportGraphDefOptions *o2 = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsSetPrefix(o2, "imported");
  TF_GraphImportGraphDef(h, gd, o2, s);
  assert_code(s, TF_INVALID_ARGUMENT, "imported/x");
  int after = 0;
  pos = 0;
  while (TF_GraphNextOperation(h, &pos)) after++;
  ck_assert_int_eq(before, after);
  /* a return output the GraphDef does not have */
  TF_ImportGraphDefOptions *o3 = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsSetPrefix(o3, "again");
  TF_ImportGraphDefOptionsAddReturnOutput(o3, "zzz", 0);
  TF_Output ro;
  TF_GraphImportGraphDefWithReturnOutputs(h, gd, o3, &ro, 1, s);
  assert_code(s, TF_INVALID_ARGUMENT, "zzz");
  /* garbage bytes */
  TF_Buffer *junk = TF_NewBufferFromString("\xff\xff\xff", 3);
  TF_GraphImportGraphDef(h, junk, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "GraphDef");
  TF_DeleteBuffer(junk);
  /* an input mapping of the wrong dtype */
  TF_Graph *k = TF_NewGraph();
  TF_Operation *isrc = placeholder(k, "isrc", TF_INT32, vec, 1, s);
  TF_ImportGraphDefOptions *o4 = TF_NewImportGraphDefOptions();
  TF_ImportGraphDefOptionsAddInputMapping(o4, "x", 0, out0(isrc));
  TF_GraphImportGraphDef(k, gd, o4, s);
  assert_code(s, TF_INVALID_ARGUMENT, "dtype");
  pos = 0;
  TF_GraphNextOperation(k, &pos);
  ck_assert_ptr_null(TF_GraphNextOperation(k, &pos)); /* only isrc */

  /* NodeDef and OpDef serializations exist */
  TF_Buffer *nd = TF_NewBuffer(), *od = TF_NewBuffer();
  TF_OperationToNodeDef(y.oper, nd, s);
  ASSERT_OK(s);
  ck_assert(nd->length > 0 && has_bytes(nd->data, nd->length, "imported/y"));
  TF_GraphGetOpDef(h, "MatMul", od, s);
  ASSERT_OK(s);
  ck_assert(has_bytes(od->data, od->length, "transpose_a"));
  TF_GraphGetOpDef(h, "NoSuchOp", od, s);
  assert_code(s, TF_NOT_FOUND, "NoSuchOp");
  TF_Buffer *all = TF_GetAllOpList();
  ck_assert(all && all->length > 1000 && has_bytes(all->data, all->length, "ApplyGradientDescent"));
  TF_DeleteBuffer(all);
  TF_DeleteBuffer(nd);
  TF_DeleteBuffer(od);
  TF_DeleteImportGraphDefOptions(o);
  TF_DeleteImportGraphDefOptions(o2);
  TF_DeleteImportGraphDefOptions(o3);
  TF_DeleteImportGraphDefOptions(o4);
  TF_DeleteTensor(t);
  TF_DeleteSession(sess, s);
  TF_DeleteBuffer(gd);
  TF_DeleteGraph(k);
  TF_DeleteGraph(h);
  TF_DeleteGraph(g);
  TF_DeleteStatus(s);
}
END_TEST

/* String tensors through a graph: Identity of a TF_STRING tensor of TF_TStrings. */
START_TEST(string_tensors) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  int64_t two = 2;
  TF_Operation *p = placeholder(g, "p", TF_STRING, &two, 1, s);
  TF_OperationDescription *d = TF_NewOperation(g, "Identity", "id");
  TF_AddInput(d, out0(p));
  TF_Operation *id = TF_FinishOperation(d, s);
  ASSERT_OK(s);
  TF_Tensor *t = TF_AllocateTensor(TF_STRING, &two, 1, 2 * sizeof(TF_TString));
  TF_TString *el = TF_TensorData(t);
  const char *longs = "a string longer than the small capacity";
  TF_StringCopy(&el[0], "short", 5);
  TF_StringCopy(&el[1], longs, strlen(longs));
  TF_Session *sess = TF_NewSession(g, NULL, s);
  TF_Output feed = out0(p), fetch = out0(id);
  TF_Tensor *res = NULL;
  TF_SessionRun(sess, NULL, &feed, &t, 1, &fetch, &res, 1, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_TensorType(res), TF_STRING);
  ck_assert_uint_eq(TF_TensorByteSize(res), 2 * sizeof(TF_TString));
  TF_TString *r = TF_TensorData(res);
  ck_assert_uint_eq(TF_StringGetSize(&r[0]), 5);
  ck_assert(memcmp(TF_StringGetDataPointer(&r[0]), "short", 5) == 0);
  ck_assert_uint_eq(TF_StringGetSize(&r[1]), strlen(longs));
  ck_assert(memcmp(TF_StringGetDataPointer(&r[1]), longs, strlen(longs)) == 0);
  TF_DeleteTensor(res);
  TF_DeleteTensor(t);
  /* a dtype deft does not compute in, fed: UNIMPLEMENTED */
  int64_t one = 1;
  TF_Tensor *h = TF_AllocateTensor(TF_HALF, &one, 1, 2);
  TF_SessionRun(sess, NULL, &feed, &h, 1, &fetch, &res, 1, NULL, 0, NULL, s);
  assert_code(s, TF_UNIMPLEMENTED, "dtype 19");
  TF_DeleteTensor(h);
  TF_DeleteSession(sess, s);
  TF_DeleteGraph(g);
  TF_DeleteStatus(s);
}
END_TEST

/* TF_SessionRun hands deft tensors to deft as they are and deft's fetched tensors back: fetched
 * tensors are the caller's (fed back, deleted one by one), feeds and fetches may change between
 * calls, ops added after a run are run, and bad arguments after good runs of the same signature
 * still get TensorFlow's codes and messages, with the outputs left NULL. */
static float run1(TF_Session *sess, const TF_Output *feeds, TF_Tensor *const *vals, int n,
                  TF_Output fetch, TF_Status *s) {
  TF_Tensor *r = NULL;
  TF_SessionRun(sess, NULL, feeds, vals, n, &fetch, &r, 1, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_TensorType(r), TF_FLOAT);
  float v = *(float *)TF_TensorData(r);
  TF_DeleteTensor(r);
  return v;
}

START_TEST(run_paths) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  TF_Operation *a = placeholder(g, "a", TF_FLOAT, NULL, 0, s);
  TF_Operation *b = placeholder(g, "b", TF_FLOAT, NULL, 0, s);
  TF_Operation *sum = binary(g, "AddV2", "sum", out0(a), out0(b), s);
  TF_Operation *diff = binary(g, "Sub", "diff", out0(a), out0(b), s);
  TF_Session *sess = TF_NewSession(g, NULL, s);
  ASSERT_OK(s);
  TF_Tensor *at = scalar_f(2), *bt = scalar_f(5);
  TF_Output ab[2] = {out0(a), out0(b)}, ba[2] = {out0(b), out0(a)};
  TF_Tensor *abv[2] = {at, bt}, *bav[2] = {bt, at};
  ck_assert(run1(sess, ab, abv, 2, out0(sum), s) == 7);
  ck_assert(run1(sess, ab, abv, 2, out0(diff), s) == -3);
  ck_assert(run1(sess, ba, bav, 2, out0(diff), s) == -3); /* feeds in another order */
  TF_Tensor *wrong_order[2] = {at, bt};
  ck_assert(run1(sess, ba, wrong_order, 2, out0(diff), s) == 3); /* b = 2, a = 5 */

  /* two fetches of one tensor: two tensors, each the caller's */
  TF_Output twice[3] = {out0(sum), out0(diff), out0(sum)};
  TF_Tensor *res[3] = {NULL, NULL, NULL};
  TF_SessionRun(sess, NULL, ab, abv, 2, twice, res, 3, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert(res[0] != res[2] && res[0] != at && res[0] != bt);
  ck_assert(*(float *)TF_TensorData(res[0]) == 7 && *(float *)TF_TensorData(res[1]) == -3 &&
            *(float *)TF_TensorData(res[2]) == 7);
  ck_assert_int_eq(TF_NumDims(res[0]), 0);
  ck_assert_int_eq(TF_TensorElementCount(res[0]), 1);
  ck_assert_uint_eq(TF_TensorByteSize(res[0]), 4);
  TF_DeleteTensor(res[2]);
  /* a fetched tensor fed back as it is; the inputs stay the caller's, unchanged */
  TF_Tensor *fed_back[2] = {res[0], res[1]};
  ck_assert(run1(sess, ab, fed_back, 2, out0(sum), s) == 4);
  TF_DeleteTensor(res[0]);
  ck_assert(run1(sess, ab, (TF_Tensor *[]){res[1], bt}, 2, out0(diff), s) == -8);
  TF_DeleteTensor(res[1]);
  ck_assert(*(float *)TF_TensorData(at) == 2 && *(float *)TF_TensorData(bt) == 5);

  /* bad arguments after good runs of the same signature: TF's codes, outputs NULL */
  TF_Output fetch = out0(sum);
  TF_Tensor *r = at; /* not NULL: the run must set it */
  TF_Tensor *null_b[2] = {at, NULL};
  TF_SessionRun(sess, NULL, ab, null_b, 2, &fetch, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "input_values[1] ('b:0') is NULL");
  ck_assert_ptr_null(r);
  TF_Output bad_index = {sum, 1};
  r = at;
  TF_SessionRun(sess, NULL, ab, abv, 2, &bad_index, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_OUT_OF_RANGE, "Node 'sum' (type: 'AddV2', num of outputs: 1) does not have "
                                  "output 1");
  ck_assert_ptr_null(r);
  TF_Output bad_in[2] = {out0(a), {b, -1}};
  TF_SessionRun(sess, NULL, bad_in, abv, 2, &fetch, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_OUT_OF_RANGE, "does not have output -1");
  TF_Output no_oper = {NULL, 0};
  r = at;
  TF_SessionRun(sess, NULL, ab, abv, 2, &no_oper, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "output 0 has no operation");
  ck_assert_ptr_null(r);
  /* a planned signature, then the same with an op of another graph in the place of one with
   * the same position in its graph (deft's plan cache keys hold op ids) */
  ck_assert(run1(sess, ab, abv, 2, out0(a), s) == 2);
  ck_assert(run1(sess, ab, abv, 2, out0(sum), s) == 7);
  TF_Graph *g2 = TF_NewGraph();
  TF_Operation *other = placeholder(g2, "other", TF_FLOAT, NULL, 0, s); /* g2's first, as a */
  TF_Output foreign = out0(other);
  r = at;
  TF_SessionRun(sess, NULL, ab, abv, 2, &foreign, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "output 0 ('other') belongs to another graph");
  ck_assert_ptr_null(r);
  const TF_Operation *foreign_target[1] = {other};
  TF_SessionRun(sess, NULL, ab, abv, 2, &fetch, &r, 1, foreign_target, 1, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "target 0");
  ck_assert_ptr_null(r);
  TF_SessionRun(sess, NULL, ab, abv, -1, &fetch, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "negative");
  TF_SessionRun(sess, NULL, ab, abv, 1, &fetch, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, "b"); /* deft's own check: b is not fed */
  ck_assert_ptr_null(r);
  /* the status a failed run left is cleared by the next good run */
  ck_assert(run1(sess, ab, abv, 2, out0(sum), s) == 7);

  /* ops added after runs, and fetched with the feeds of those runs */
  TF_Operation *sq = binary(g, "Mul", "sq", out0(sum), out0(sum), s);
  ck_assert(run1(sess, ab, abv, 2, out0(sq), s) == 49);
  ck_assert(run1(sess, ab, abv, 2, out0(sum), s) == 7);

  /* boxed feeds (strings; a numeric dtype's bytes put in a box by a bitcast) are converted,
   * on the same signatures as the runs above */
  TF_Operation *sp = placeholder(g, "sp", TF_STRING, NULL, 0, s);
  TF_OperationDescription *d = TF_NewOperation(g, "Identity", "sid");
  TF_AddInput(d, out0(sp));
  TF_Operation *sid = TF_FinishOperation(d, s);
  ASSERT_OK(s);
  TF_Tensor *str = string_scalar("hello");
  TF_Output three_feeds[3] = {out0(a), out0(sp), out0(b)};
  TF_Tensor *three_vals[3] = {at, str, bt};
  TF_Output mixed[2] = {out0(sid), out0(sum)};
  TF_SessionRun(sess, NULL, three_feeds, three_vals, 3, mixed, res, 2, NULL, 0, NULL, s);
  ASSERT_OK(s);
  ck_assert_int_eq(TF_TensorType(res[0]), TF_STRING);
  ck_assert_uint_eq(TF_StringGetSize(TF_TensorData(res[0])), 5);
  ck_assert(memcmp(TF_StringGetDataPointer(TF_TensorData(res[0])), "hello", 5) == 0);
  ck_assert(*(float *)TF_TensorData(res[1]) == 7);
  TF_DeleteTensor(res[0]);
  TF_DeleteTensor(res[1]);
  TF_Tensor *half = TF_AllocateTensor(TF_HALF, NULL, 0, 2);
  TF_Tensor *four = scalar_f(4);
  TF_TensorBitcastFrom(four, TF_FLOAT, half, NULL, 0, s); /* a box of float bytes now */
  ASSERT_OK(s);
  ck_assert_int_eq(TF_TensorType(half), TF_FLOAT);
  ck_assert(run1(sess, ab, (TF_Tensor *[]){half, bt}, 2, out0(sum), s) == 9);
  ck_assert(run1(sess, ab, abv, 2, out0(sum), s) == 7);
  TF_DeleteTensor(half);
  /* a string fed to a float placeholder: deft's dtype error, after the conversion */
  TF_SessionRun(sess, NULL, ab, (TF_Tensor *[]){str, bt}, 2, &fetch, &r, 1, NULL, 0, NULL, s);
  assert_code(s, TF_INVALID_ARGUMENT, NULL);
  ck_assert_ptr_null(r);

  /* a deft tensor takes another of deft's dtypes in place (from may be to), not another one;
   * it is reshaped in place to any rank of the same element count */
  TF_TensorBitcastFrom(four, TF_INT32, four, NULL, 0, s);
  ASSERT_OK(s);
  float f4 = 4;
  ck_assert_int_eq(TF_TensorType(four), TF_INT32);
  ck_assert(memcmp(TF_TensorData(four), &f4, 4) == 0);
  int64_t two = 2;
  TF_TensorBitcastFrom(at, TF_HALF, four, &two, 1, s);
  assert_code(s, TF_UNIMPLEMENTED, "dtype 19");
  ck_assert_int_eq(TF_TensorType(four), TF_INT32); /* unchanged */
  TF_DeleteTensor(four);
  int64_t d23[2] = {2, 3}, d6 = 6, d7 = 7;
  TF_Tensor *m = TF_AllocateTensor(TF_FLOAT, d23, 2, 24);
  ((float *)TF_TensorData(m))[5] = 1.25f;
  TF_SetShape(m, &d6, 1);
  ck_assert_int_eq(TF_NumDims(m), 1);
  ck_assert_int_eq(TF_Dim(m, 0), 6);
  TF_SetShape(m, &d7, 1); /* another element count: ignored */
  ck_assert_int_eq(TF_Dim(m, 0), 6);
  ck_assert(((float *)TF_TensorData(m))[5] == 1.25f);
  TF_DeleteTensor(m);

  TF_DeleteTensor(str);
  TF_DeleteTensor(at);
  TF_DeleteTensor(bt);
  TF_DeleteSession(sess, s);
  TF_DeleteGraph(g2);
  TF_DeleteGraph(g);
  TF_DeleteStatus(s);
}
END_TEST

/* TF_DeleteGraph while sessions use the graph: TF frees it with the last session; until then the
 * sessions keep running (ASan checks there is no use after free and no leak). */
START_TEST(graph_outlives_its_handle) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  TF_Operation *a = placeholder(g, "a", TF_FLOAT, NULL, 0, s);
  TF_Operation *b = placeholder(g, "b", TF_FLOAT, NULL, 0, s);
  TF_Operation *sum = binary(g, "AddV2", "sum", out0(a), out0(b), s);
  TF_Session *s1 = TF_NewSession(g, NULL, s), *s2 = TF_NewSession(g, NULL, s);
  ASSERT_OK(s);
  TF_DeleteGraph(g); /* deferred: two sessions remain */
  TF_Tensor *at = scalar_f(2), *bt = scalar_f(5);
  TF_Output ab[2] = {out0(a), out0(b)};
  TF_Tensor *abv[2] = {at, bt};
  ck_assert(run1(s1, ab, abv, 2, out0(sum), s) == 7);
  TF_DeleteSession(s1, s);
  ASSERT_OK(s);
  ck_assert(run1(s2, ab, abv, 2, out0(sum), s) == 7); /* the graph is still there */
  TF_CloseSession(s2, s);
  TF_DeleteSession(s2, s); /* and goes now */
  ASSERT_OK(s);
  /* the usual order still works */
  TF_Graph *g2 = TF_NewGraph();
  TF_Session *s3 = TF_NewSession(g2, NULL, s);
  ASSERT_OK(s);
  TF_DeleteSession(s3, s);
  TF_DeleteGraph(g2);
  TF_DeleteTensor(at);
  TF_DeleteTensor(bt);
  TF_DeleteStatus(s);
}
END_TEST

/* TF_AddGradients: values against finite differences, a prefix, and the error paths. */
START_TEST(gradients) {
  TF_Status *s = TF_NewStatus();
  TF_Graph *g = TF_NewGraph();
  int64_t d3 = 3;
  TF_Operation *x = placeholder(g, "x", TF_FLOAT, &d3, 1, s);
  TF_Operation *t = unary_attr_t(g, "Tanh", "t", out0(x), s);
  TF_Operation *sq = binary(g, "Mul", "sq", out0(t), out0(x), s); /* x * tanh(x) */
  TF_Output y = out0(sq), xs = out0(x), dy[1];
  TF_AddGradientsWithPrefix(g, "mygrads", &y, 1, &xs, 1, NULL, s, dy);
  ASSERT_OK(s);
  ck_assert(!strncmp(TF_OperationName(dy[0].oper), "mygrads/", 8));
  TF_AddGradientsWithPrefix(g, "mygrads", &y, 1, &xs, 1, NULL, s, dy);
  assert_code(s, TF_INVALID_ARGUMENT, "mygrads");
  TF_Output dy2[1];
  TF_AddGradients(g, &y, 1, &xs, 1, NULL, s, dy2);
  ASSERT_OK(s);
  TF_Session *sess = TF_NewSession(g, NULL, s);
  float xv[3] = {-1.2f, 0.3f, 2.0f};
  TF_Tensor *xt = TF_NewTensor(TF_FLOAT, &d3, 1, xv, sizeof xv, NULL, NULL), *res[2];
  TF_Output fetch[2] = {dy[0], dy2[0]};
  TF_SessionRun(sess, NULL, &xs, &xt, 1, fetch, res, 2, NULL, 0, NULL, s);
  ASSERT_OK(s);
  for (int i = 0; i < 3; i++) {
    double v = xv[i], h = 1e-3;
    double fd = ((v + h) * tanh(v + h) - (v - h) * tanh(v - h)) / (2 * h);
    ck_assert_msg(fabs(((float *)TF_TensorData(res[0]))[i] - fd) < 1e-3, "d/dx at %g", v);
    ck_assert(((float *)TF_TensorData(res[1]))[i] == ((float *)TF_TensorData(res[0]))[i]);
  }
  TF_DeleteTensor(res[0]);
  TF_DeleteTensor(res[1]);
  /* an x y does not depend on: {NULL, -1} */
  TF_Operation *other = placeholder(g, "other", TF_FLOAT, &d3, 1, s);
  TF_Output xo = out0(other), dno[1];
  TF_AddGradients(g, &y, 1, &xo, 1, NULL, s, dno);
  ASSERT_OK(s);
  ck_assert(dno[0].oper == NULL && dno[0].index == -1);
  /* an integer y cannot be differentiated */
  int32_t iv[3] = {1, 2, 3};
  TF_Tensor *it = vec_i32(iv, 3);
  TF_Operation *ic = constant(g, "ints", it, s);
  TF_DeleteTensor(it);
  TF_Output iy = out0(ic), dbad[1];
  TF_AddGradients(g, &iy, 1, &xs, 1, NULL, s, dbad);
  ck_assert_int_ne(TF_GetCode(s), TF_OK);
  /* a bad output index */
  TF_Output badx = {x, 4};
  TF_AddGradients(g, &y, 1, &badx, 1, NULL, s, dbad);
  assert_code(s, TF_OUT_OF_RANGE, "output 4");
  TF_DeleteTensor(xt);
  TF_DeleteSession(sess, s);
  TF_DeleteGraph(g);
  TF_DeleteStatus(s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("capi");
  TCase *tc = tcase_create("capi");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, abi);
  tcase_add_test(tc, status_and_buffers);
  tcase_add_test(tc, tensors);
  tcase_add_test(tc, strings);
  tcase_add_test(tc, add_graph);
  tcase_add_test(tc, graph_def_round_trip);
  tcase_add_test(tc, string_tensors);
  tcase_add_test(tc, run_paths);
  tcase_add_test(tc, graph_outlives_its_handle);
  tcase_add_test(tc, gradients);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tu_run_suite(suite());
}
