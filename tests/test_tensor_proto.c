/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_tensor_proto.c - proto/tensor_proto: TF's TensorProto decoding rules
 * (tensor_content vs. typed fields, repeat-last, strings, dtype/shape errors, size limit) and
 * encode/decode round trips for every dtype deft stores. */
#include "import_testutil.h"

/* ---- TensorProto rules ---- */

static deft_tensor *decode(Tensorflow__TensorProto *p, deft_status *st) {
  return deft_tensor_from_proto(p, st);
}

START_TEST(tensor_proto_decoding_rules) {
  deft_status *st = deft_status_new();
  Tensorflow__TensorShapeProto shape;
  Tensorflow__TensorShapeProto__Dim d0, *dims[1] = {&d0};
  tensorflow__tensor_shape_proto__init(&shape);
  tensorflow__tensor_shape_proto__dim__init(&d0);
  d0.size = 4;
  shape.n_dim = 1;
  shape.dim = dims;
  Tensorflow__TensorProto p;
  tensorflow__tensor_proto__init(&p);
  p.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  p.tensor_shape = &shape;
  /* 0 < n < N: repeat the last value */
  float fv[2] = {1.5f, -2.0f};
  p.float_val = fv;
  p.n_float_val = 2;
  deft_tensor *t = decode(&p, st);
  ck_assert_ptr_nonnull(t);
  float want[4] = {1.5f, -2.0f, -2.0f, -2.0f};
  ck_assert(!memcmp(deft_tensor_data(t), want, sizeof want));
  deft_tensor_free(t);
  /* no values: zeros */
  p.n_float_val = 0;
  t = decode(&p, st);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(((float *)deft_tensor_data(t))[i], 0.0f);
  deft_tensor_free(t);
  /* tensor_content wins over typed fields */
  float content[4] = {1, 2, 3, 4};
  p.n_float_val = 2;
  p.tensor_content.data = (uint8_t *)content;
  p.tensor_content.len = sizeof content;
  t = decode(&p, st);
  ck_assert(!memcmp(deft_tensor_data(t), content, sizeof content));
  deft_tensor_free(t);
  /* wrong content length */
  p.tensor_content.len = 12;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "tensor_content has 12 bytes", "16");
  p.tensor_content.len = 0;
  /* int64 and bool */
  int64_t iv[1] = {-7};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_INT64;
  p.int64_val = iv;
  p.n_int64_val = 1;
  t = decode(&p, st);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(((int64_t *)deft_tensor_data(t))[i], -7);
  deft_tensor_free(t);
  uint8_t bools[4] = {0, 2, 1, 0};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_BOOL;
  p.tensor_content.data = bools;
  p.tensor_content.len = 4;
  t = decode(&p, st);
  ck_assert(!((bool *)deft_tensor_data(t))[0] && ((bool *)deft_tensor_data(t))[1]);
  deft_tensor_free(t);
  p.tensor_content.len = 0;
  /* uint8 via int_val */
  int32_t u8[2] = {255, 7};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_UINT8;
  p.int_val = u8;
  p.n_int_val = 2;
  t = decode(&p, st);
  ck_assert_int_eq(((uint8_t *)deft_tensor_data(t))[0], 255);
  ck_assert_int_eq(((uint8_t *)deft_tensor_data(t))[3], 7);
  deft_tensor_free(t);
  /* strings via string_val, repeat-last too */
  ProtobufCBinaryData sv[2] = {{3, (uint8_t *)"a\0b"}, {2, (uint8_t *)"zz"}};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_STRING;
  p.string_val = sv;
  p.n_string_val = 2;
  t = decode(&p, st);
  size_t len;
  const char *s0 = deft_tensor_string(t, 0, &len);
  ck_assert_uint_eq(len, 3);
  ck_assert(!memcmp(s0, "a\0b", 3));
  ck_assert_str_eq(deft_tensor_string(t, 3, NULL), "zz");
  deft_tensor_free(t);
  /* strings never use tensor_content */
  p.tensor_content.data = (uint8_t *)"xxxx";
  p.tensor_content.len = 4;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "string_val");
  p.tensor_content.len = 0;
  /* unsupported dtype, unknown dims, too large */
  p.dtype = TENSORFLOW__DATA_TYPE__DT_HALF;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "DT_HALF");
  p.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  d0.size = -1;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "not fully defined");
  d0.size = (int64_t)1 << 40;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "limit");
  /* scalars: an absent shape is a scalar */
  p.tensor_shape = NULL;
  t = decode(&p, st);
  ck_assert_int_eq(deft_tensor_rank(t), 0);
  ck_assert_float_eq(((float *)deft_tensor_data(t))[0], 1.5f);
  deft_tensor_free(t);
  deft_status_free(st);
}
END_TEST

START_TEST(tensor_proto_roundtrip) {
  deft_status *st = deft_status_new();
  int64_t dims[2] = {2, 3};
  const deft_dtype types[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_UINT8, DEFT_INT64,
                              DEFT_BOOL, DEFT_STRING};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    for (int variant = 0; variant < 3; variant++) { /* distinct, all equal, empty */
      int64_t d[2] = {dims[0], variant == 2 ? 0 : dims[1]};
      deft_tensor *t = deft_tensor_new(types[k], d, 2, st);
      ck_assert_ptr_nonnull(t);
      for (int64_t i = 0; i < t->n; i++) {
        double v = variant ? 1 : (double)(i % 2 ? i : -i);
        switch (types[k]) {
          case DEFT_FLOAT: deft_tensor_f32(t)[i] = (float)v * 0.25f; break;
          case DEFT_DOUBLE: deft_tensor_f64(t)[i] = v * 0.1; break;
          case DEFT_INT32: deft_tensor_i32(t)[i] = (int32_t)v; break;
          case DEFT_UINT8: deft_tensor_u8(t)[i] = (uint8_t)(i * variant + i); break;
          case DEFT_INT64: deft_tensor_i64(t)[i] = (int64_t)v * ((int64_t)1 << 40); break;
          case DEFT_BOOL: deft_tensor_b(t)[i] = variant ? true : (i % 2); break;
          case DEFT_STRING: {
            char s[16];
            snprintf(s, sizeof s, "s%d", (int)i);
            ck_assert(deft_tensor_set_string(t, i, s, strlen(s), st));
            break;
          }
          default: break;
        }
      }
      uint8_t *bytes;
      size_t len;
      ck_assert(deft_tensor_serialize_proto(t, &bytes, &len, st));
      deft_tensor *back = deft_tensor_parse_proto(bytes, len, st);
      ck_assert_msg(back != NULL, "%s", deft_status_message(st));
      ck_assert_msg(tensors_equal(t, back), "dtype %s variant %d", deft_dtype_name(types[k]),
                    variant);
      /* the encoding TF's writer uses: one typed value for uniform tensors */
      Tensorflow__TensorProto *p = tensorflow__tensor_proto__unpack(NULL, len, bytes);
      if (variant == 1 && types[k] == DEFT_FLOAT) {
        ck_assert_uint_eq(p->n_float_val, 1);
        ck_assert_uint_eq(p->tensor_content.len, 0);
      }
      if (variant == 0 && types[k] == DEFT_FLOAT) ck_assert_uint_eq(p->tensor_content.len, 24);
      if (types[k] == DEFT_STRING) ck_assert_uint_eq(p->n_string_val, (size_t)t->n);
      tensorflow__tensor_proto__free_unpacked(p, NULL);
      deft_free(bytes);
      deft_tensor_free(back);
      deft_tensor_free(t);
    }
  }
  ck_assert_ptr_null(deft_tensor_parse_proto((const uint8_t *)"\x0a\xff", 2, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "TensorProto");
  deft_status_free(st);
}
END_TEST

static Suite *tensor_proto_suite(void) {
  Suite *s = suite_create("tensor_proto");
  TCase *tc = tcase_create("tensor_proto");
  tcase_add_test(tc, tensor_proto_decoding_rules);
  tcase_add_test(tc, tensor_proto_roundtrip);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(tensor_proto_suite()); }
