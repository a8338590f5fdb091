/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_tensor.c - status, tensors, shapes, buffers. */
#include <string.h>

#include "base/alloc.h"
#include "base/dtypes.h"
#include "base/tensor_internal.h"
#include "testutil.h"

START_TEST(status_basics) {
  deft_status *s = deft_status_new();
  ck_assert(deft_status_ok(s));
  ck_assert_str_eq(deft_status_message(s), "");
  deft_status_set(s, DEFT_NOT_FOUND, "op '%s' missing", "X");
  ck_assert_int_eq(deft_status_code(s), DEFT_NOT_FOUND);
  ck_assert_str_eq(deft_status_message(s), "op 'X' missing");
  deft_status_prefix(s, "in %s", "run");
  ck_assert_str_eq(deft_status_message(s), "in run: op 'X' missing");
  deft_status_clear(s);
  ck_assert(deft_status_ok(s));
  ck_assert_str_eq(deft_code_name(DEFT_DATA_LOSS), "DATA_LOSS");
  deft_status_free(s);
  deft_status_free(NULL);
}
END_TEST

START_TEST(tensor_new_and_data) {
  deft_status *s = deft_status_new();
  int64_t dims[2] = {2, 3};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, 2, s);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(deft_tensor_num_elements(t), 6);
  ck_assert_int_eq(deft_tensor_nbytes(t), 24);
  ck_assert_int_eq((uintptr_t)deft_tensor_data(t) % 64, 0);
  float *d = deft_tensor_data(t);
  for (int i = 0; i < 6; i++) ck_assert(d[i] == 0.0f);
  deft_tensor *sh = deft_tensor_share(t);
  ck_assert_ptr_eq(deft_tensor_data(sh), deft_tensor_data(t));
  deft_tensor *cp = deft_tensor_copy(t, s);
  ck_assert_ptr_ne(deft_tensor_data(cp), deft_tensor_data(t));
  deft_tensor_free(t);
  ck_assert_int_eq(deft_tensor_dim(sh, 1), 3); /* buffer survives while shared */
  deft_tensor_free(sh);
  deft_tensor_free(cp);
  deft_status_free(s);
}
END_TEST

START_TEST(tensor_zero_sized_and_scalar) {
  int64_t dims[2] = {0, 784};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, 2, NULL);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(deft_tensor_num_elements(t), 0);
  deft_tensor_free(t);
  deft_tensor *sc = deft_tensor_scalar_int64(-7);
  ck_assert_int_eq(deft_tensor_rank(sc), 0);
  ck_assert(deft_tensor_get_double(sc, 0) == -7.0);
  deft_tensor_free(sc);
}
END_TEST

START_TEST(tensor_bad_inputs) {
  deft_status *s = deft_status_new();
  int64_t bad[1] = {-2};
  ck_assert_ptr_null(deft_tensor_new(DEFT_FLOAT, bad, 1, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "dimension 0", "-2");
  ck_assert_ptr_null(deft_tensor_new((deft_dtype)42, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "invalid dtype 42");
  int64_t huge[2] = {INT64_MAX / 2, 4};
  ck_assert_ptr_null(deft_tensor_new(DEFT_FLOAT, huge, 2, s));
  ck_assert_int_ne(deft_status_code(s), DEFT_OK);
  int64_t two[1] = {2};
  float v[3] = {1, 2, 3};
  ck_assert_ptr_null(deft_tensor_from_data(DEFT_FLOAT, two, 1, v, sizeof v, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "12 bytes", "needs 8");
  deft_status_free(s);
}
END_TEST

START_TEST(tensor_strings) {
  deft_status *s = deft_status_new();
  int64_t dims[1] = {2};
  deft_tensor *t = deft_tensor_new(DEFT_STRING, dims, 1, s);
  size_t len = 99;
  ck_assert_str_eq(deft_tensor_string(t, 0, &len), "");
  ck_assert_int_eq(len, 0);
  ck_assert(deft_tensor_set_string(t, 1, "a\0b", 3, s));
  const char *p = deft_tensor_string(t, 1, &len);
  ck_assert_int_eq(len, 3);
  ck_assert(memcmp(p, "a\0b", 3) == 0);
  ck_assert(!deft_tensor_set_string(t, 2, "x", 1, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "out of range");
  deft_tensor *c = deft_tensor_copy(t, s);
  ck_assert(memcmp(deft_tensor_string(c, 1, NULL), "a\0b", 3) == 0);
  deft_tensor_free(c);
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

START_TEST(buffer_reuse_and_cow) {
  deft_status *s = deft_status_new();
  deft_tensor slot = {0};
  int64_t d4[1] = {4}, d2[1] = {2};
  ck_assert(deft_tensor_ensure(&slot, DEFT_FLOAT, d4, 1, s));
  void *first = slot.buf->data;
  ck_assert(deft_tensor_ensure(&slot, DEFT_FLOAT, d2, 1, s));
  ck_assert_ptr_eq(slot.buf->data, first); /* reused: unique and large enough */
  deft_tensor *held = deft_tensor_share(&slot);
  ck_assert(deft_tensor_ensure(&slot, DEFT_FLOAT, d2, 1, s));
  ck_assert_ptr_ne(slot.buf->data, first); /* shared: a new buffer */
  deft_tensor_set_shared(&slot, held);
  ck_assert(deft_tensor_make_unique(&slot, s));
  ck_assert_ptr_ne(slot.buf->data, deft_tensor_data(held));
  deft_tensor_free(held);
  deft_tensor_reset(&slot);
  deft_status_free(s);
}
END_TEST

/* deft_tensor_assign shares another tensor's value in place; deft_tensor_reshape keeps the
 * buffer and checks the element count. */
START_TEST(tensor_assign_and_reshape) {
  deft_status *s = deft_status_new();
  int64_t d23[2] = {2, 3}, d6[1] = {6}, d7[1] = {7}, neg[2] = {-2, -3};
  const float v[6] = {0.5f, 1, 2, 3, 4, 5};
  deft_tensor *f = deft_tensor_from_data(DEFT_FLOAT, d23, 2, v, sizeof v, s);
  deft_tensor *i = deft_tensor_scalar_int32(9);
  deft_tensor_assign(i, f); /* i becomes float [2,3], sharing f's bytes */
  ck_assert_int_eq(deft_tensor_dtype(i), DEFT_FLOAT);
  ck_assert_int_eq(deft_tensor_rank(i), 2);
  ck_assert_int_eq(deft_tensor_dim(i, 1), 3);
  ck_assert_ptr_eq(deft_tensor_data(i), deft_tensor_data(f));
  deft_tensor_assign(i, i); /* itself: nothing */
  ck_assert_ptr_eq(deft_tensor_data(i), deft_tensor_data(f));
  ck_assert(deft_tensor_reshape(i, d6, 1, s));
  ck_assert_int_eq(deft_tensor_rank(i), 1);
  ck_assert_int_eq(deft_tensor_dim(i, 0), 6);
  ck_assert_int_eq(deft_tensor_rank(f), 2); /* the sharer keeps its shape */
  ck_assert(((float *)deft_tensor_data(i))[5] == 5.0f);
  ck_assert(!deft_tensor_reshape(i, d7, 1, s));
  ck_assert_int_eq(deft_status_code(s), DEFT_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(deft_status_message(s), "6 elements to 7"));
  ck_assert(!deft_tensor_reshape(i, neg, 2, s));
  ck_assert(!deft_tensor_reshape(i, d6, DEFT_MAX_RANK + 1, s));
  ck_assert_int_eq(deft_tensor_rank(i), 1); /* unchanged by the failures */
  ck_assert(deft_tensor_reshape(i, NULL, 0, NULL) == false); /* 1 element != 6, no status */
  deft_tensor_free(f); /* the buffer lives on in i */
  ck_assert(((float *)deft_tensor_data(i))[0] == 0.5f);
  deft_tensor_free(i);
  deft_status_free(s);
}
END_TEST

START_TEST(shape_format) {
  char buf[64];
  ck_assert_str_eq(deft_shape_format(DEFT_SHAPE(-1, 784), buf, sizeof buf), "[?,784]");
  ck_assert_str_eq(deft_shape_format(DEFT_SCALAR, buf, sizeof buf), "[]");
  ck_assert_str_eq(deft_shape_format(deft_shape_unknown(), buf, sizeof buf), "<unknown>");
  ck_assert_int_eq(deft_shape_num_elements(DEFT_SHAPE(2, 3, 4)), 24);
  ck_assert_int_eq(deft_shape_num_elements(DEFT_SHAPE(2, -1)), -1);
}
END_TEST

START_TEST(oom_is_reported) {
  deft_status *s = deft_status_new();
  int64_t dims[1] = {10};
  for (long n = 0; n < 4; n++) {
    deft_alloc_fail_after(n);
    deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, 1, s);
    deft_alloc_fail_after(-1);
    if (t) {
      deft_tensor_free(t);
      break;
    }
    TU_ASSERT_STATUS(s, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  }
  deft_status_free(s);
}
END_TEST

/* The one dtype table: TF's numbering (DT_FLOAT = 1 ... DT_UINT64 = 23), names both ways, and
 * the element sizes of the types deft stores against C's. */
START_TEST(dtype_table) {
  ck_assert_int_eq(deft_dtype_info_count(), 23);
  for (int i = 0; i < deft_dtype_info_count(); i++) {
    const deft_dtype_info *d = deft_dtype_info_at(i);
    ck_assert_int_eq(d->num, i + 1);
    ck_assert_ptr_eq(deft_dtype_info_of(d->num), d);
    ck_assert_ptr_eq(deft_dtype_info_by_name(d->tf_name), d);
    ck_assert_ptr_eq(deft_dtype_info_by_name(d->short_name), d);
    ck_assert(deft_dtype_is_valid(d->num) == d->stored);
  }
  ck_assert_ptr_null(deft_dtype_info_of(0));
  ck_assert_ptr_null(deft_dtype_info_of(24));
  ck_assert_ptr_null(deft_dtype_info_by_name("DT_NOPE"));
  ck_assert_uint_eq(deft_dtype_size(DEFT_FLOAT), sizeof(float));
  ck_assert_uint_eq(deft_dtype_size(DEFT_DOUBLE), sizeof(double));
  ck_assert_uint_eq(deft_dtype_size(DEFT_INT32), sizeof(int32_t));
  ck_assert_uint_eq(deft_dtype_size(DEFT_INT64), sizeof(int64_t));
  ck_assert_uint_eq(deft_dtype_size(DEFT_UINT8), 1);
  ck_assert_uint_eq(deft_dtype_size(DEFT_BOOL), sizeof(bool));
  ck_assert_uint_eq(deft_dtype_size(DEFT_STRING), 0);
  ck_assert_str_eq(deft_dtype_name(DEFT_INT64), "int64");
  ck_assert_str_eq(deft_dtype_name((deft_dtype)19), "invalid"); /* half: not stored */
  ck_assert(deft_dtype_info_of(19)->real_number && !deft_dtype_info_of(8)->real_number);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tensor");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, status_basics);
  tcase_add_test(tc, dtype_table);
  tcase_add_test(tc, tensor_new_and_data);
  tcase_add_test(tc, tensor_zero_sized_and_scalar);
  tcase_add_test(tc, tensor_bad_inputs);
  tcase_add_test(tc, tensor_strings);
  tcase_add_test(tc, buffer_reuse_and_cow);
  tcase_add_test(tc, tensor_assign_and_reshape);
  tcase_add_test(tc, shape_format);
  tcase_add_test(tc, oom_is_reported);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
