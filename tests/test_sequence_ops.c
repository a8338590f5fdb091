/* tests/test_sequence_ops.c - ops/sequence_ops.c: ReverseSequence against NumPy (both dim orders,
 * int32 and int64 lengths, strings), its gradient by finite differences, and errors (lengths out
 * of range, wrong count, equal dims) naming the node. */
#include <string.h>

#include "grad_check.h"
#include "math_testutil.h"

#include "grad_cases_sequence.c"

START_TEST(reverse_sequence_vs_numpy) {
  deft_tensor *a = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 5, 2), -3, 3, false, false);
  deft_tensor *b = mtu_from_values(DEFT_INT64, DEFT_SHAPE(3), (const double[]){2, 5, 0});
  deft_tensor *a2 = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(4, 2, 3), -3, 3, false, false);
  deft_tensor *b2 = mtu_from_values(DEFT_INT32, DEFT_SHAPE(3), (const double[]){4, 1, 3});
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 5, 2), "x");
  deft_output l = mtu_ph(g, DEFT_INT64, DEFT_SHAPE(3), "l");
  deft_output x2 = mtu_ph(g, DEFT_DOUBLE, DEFT_SHAPE(-1, -1, -1), "x2");
  deft_output l2 = mtu_ph(g, DEFT_INT32, DEFT_SHAPE(-1), "l2");
  deft_output y = deft_reverse_sequence(g, x, l, 1, 0, NULL);
  deft_output y2 = deft_reverse_sequence(g, x2, l2, 0, 2, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_int_eq(deft_output_shape(y).dims[1], 5);
  deft_output feeds[4] = {x, l, x2, l2};
  deft_tensor *vals[4] = {a, b, a2, b2};
  np_case cases[2];
  memset(cases, 0, sizeof cases);
  snprintf(cases[0].expr, sizeof cases[0].expr, "%s",
           "np.stack([np.concatenate([a[i, :int(b[i])][::-1], a[i, int(b[i]):]]) "
           "for i in range(3)])");
  cases[0].nin = 2, cases[0].in[0] = a, cases[0].in[1] = b;
  snprintf(cases[1].expr, sizeof cases[1].expr, "%s",
           "np.stack([np.concatenate([a[:int(b[i]), :, i][::-1], a[int(b[i]):, :, i]]) "
           "for i in range(3)], axis=2)");
  cases[1].nin = 2, cases[1].in[0] = a2, cases[1].in[1] = b2;
  mtu_np_run(cases, 2);
  deft_tensor *got = mtu_run_ok(g, y, feeds, vals, 4);
  mtu_check_close(got, cases[0].want, 0, 0, "seq 1 batch 0");
  deft_tensor_free(got);
  got = mtu_run_ok(g, y2, feeds, vals, 4);
  mtu_check_close(got, cases[1].want, 0, 0, "seq 0 batch 2");
  deft_tensor_free(got);
  mtu_np_free(cases, 2);
  deft_tensor_free(a);
  deft_tensor_free(b);
  deft_tensor_free(a2);
  deft_tensor_free(b2);
  deft_graph_free(g);
}
END_TEST

START_TEST(reverse_sequence_strings) {
  deft_graph *g = deft_graph_new();
  deft_status *st = deft_status_new();
  const char *w[6] = {"a", "bb", "ccc", "d", "ee", "f"};
  deft_tensor *t = deft_tensor_new(DEFT_STRING, (const int64_t[]){2, 3}, 2, st);
  ck_assert_ptr_nonnull(t);
  for (int i = 0; i < 6; i++)
    ck_assert(deft_tensor_set_string(t, i, w[i], strlen(w[i]), st));
  const int32_t lens[2] = {3, 2};
  deft_output y = deft_reverse_sequence(g, deft_const(g, t, "s"),
                                        deft_const_int32_vector(g, lens, 2, "l"), 1, 0, NULL);
  deft_tensor *r = mtu_run_ok(g, y, NULL, NULL, 0);
  const char *want[6] = {"ccc", "bb", "a", "ee", "d", "f"};
  for (int i = 0; i < 6; i++) {
    size_t len;
    const char *p = deft_tensor_string(r, i, &len);
    ck_assert_int_eq(len, strlen(want[i]));
    ck_assert(!memcmp(p, want[i], len));
  }
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(reverse_sequence_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  deft_output l = mtu_ph(g, DEFT_INT32, DEFT_SHAPE(-1), "l");
  deft_output y = deft_reverse_sequence(g, x, l, 1, 0, "rs");
  ck_assert(deft_graph_ok(g));
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  deft_status *st = deft_status_new();
  deft_output feeds[2] = {x, l};
  deft_tensor *too_long = mtu_from_values(DEFT_INT32, DEFT_SHAPE(2), (const double[]){1, 4});
  deft_tensor *vals[2] = {xv, too_long};
  ck_assert_ptr_null(mtu_run(g, y, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ReverseSequence 'rs'", "seq_lengths[1] = 4");
  deft_tensor *neg = mtu_from_values(DEFT_INT32, DEFT_SHAPE(2), (const double[]){-1, 0});
  vals[1] = neg;
  ck_assert_ptr_null(mtu_run(g, y, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ReverseSequence 'rs'", "seq_lengths[0] = -1");
  deft_tensor *three = mtu_from_values(DEFT_INT32, DEFT_SHAPE(3), (const double[]){0, 0, 0});
  vals[1] = three;
  ck_assert_ptr_null(mtu_run(g, y, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ReverseSequence 'rs'", "2 entries");
  /* build-time errors: equal dims, dims out of range, wrong count */
  deft_output bad = deft_reverse_sequence(g, x, l, 1, 1, "same");
  ck_assert_ptr_null(bad.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ReverseSequence 'same'",
                   "must differ");
  deft_graph_free(g);
  g = deft_graph_new();
  x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  bad = deft_reverse_sequence(g, x, deft_const_int32_vector(g, (const int32_t[]){1}, 1, "c"), 2,
                              0, "far");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ReverseSequence 'far'",
                   "rank 2");
  deft_graph_free(g);
  g = deft_graph_new();
  x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  bad = deft_reverse_sequence(g, x, deft_const_int32_vector(g, (const int32_t[]){1}, 1, "c"), 1,
                              0, "count");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ReverseSequence 'count'",
                   "1 entries", "is 2");
  deft_tensor_free(xv);
  deft_tensor_free(too_long);
  deft_tensor_free(neg);
  deft_tensor_free(three);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_sequence_count; i++)
    tu_grad_check(&tu_grad_cases_sequence[i], TU_GRAD_DIRECT, &rng);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sequence_ops");
  TCase *t = tcase_create("sequence_ops");
  tcase_add_test(t, reverse_sequence_vs_numpy);
  tcase_add_test(t, reverse_sequence_strings);
  tcase_add_test(t, reverse_sequence_errors);
  tcase_add_test(t, gradients_match_finite_differences);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
