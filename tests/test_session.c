/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_session.c - graph building, names, scopes, lookups, the sticky error, and session
 * runs: feeds (placeholders and intermediate tensors), fetches, targets, variables, plan caching
 * and the error paths. */
#include <string.h>

#include "base/alloc.h"
#include "graph/graph_internal.h"
#include "testutil.h"

static deft_tensor *vec(const float *v, int64_t n) {
  return deft_tensor_from_data(DEFT_FLOAT, &n, 1, v, sizeof(float) * (size_t)n, NULL);
}

START_TEST(const_add_and_nested_fetch) {
  deft_graph *g = deft_graph_new();
  deft_output a = deft_const_int32(g, 10, "a");
  deft_output b = deft_const_int32(g, 20, "b");
  deft_output f = deft_add(g, a, b, NULL);
  ck_assert(deft_graph_ok(g));
  ck_assert_str_eq(deft_op_name(f.op), "Add");
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  deft_output fetches[3] = {f, a, b};
  deft_tensor *out[3];
  ck_assert_msg(deft_session_run(sess, NULL, NULL, 0, fetches, out, 3, NULL, 0, s), "%s",
                deft_status_message(s));
  ck_assert(deft_tensor_get_double(out[0], 0) == 30);
  ck_assert(deft_tensor_get_double(out[1], 0) == 10);
  ck_assert(deft_tensor_get_double(out[2], 0) == 20);
  for (int i = 0; i < 3; i++) deft_tensor_free(out[i]);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(s);
}
END_TEST

START_TEST(names_and_scopes) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  ck_assert_str_eq(deft_graph_push_scope(g, "dnn"), "dnn");
  ck_assert_str_eq(deft_graph_push_scope(g, "hidden1"), "dnn/hidden1");
  deft_output i1 = deft_identity(g, x, NULL);
  deft_output i2 = deft_identity(g, x, NULL);
  deft_graph_pop_scope(g);
  ck_assert_str_eq(deft_graph_push_scope(g, "hidden1"), "dnn/hidden1_1");
  deft_graph_pop_scope(g);
  deft_graph_pop_scope(g);
  ck_assert_str_eq(deft_graph_push_scope(g, "dnn"), "dnn_1");
  deft_graph_pop_scope(g);
  ck_assert_str_eq(deft_op_name(i1.op), "dnn/hidden1/Identity");
  ck_assert_str_eq(deft_op_name(i2.op), "dnn/hidden1/Identity_1");
  /* case-insensitive uniqueness, as TF */
  deft_output x2 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1), "x");
  ck_assert_str_eq(deft_op_name(x2.op), "x_1");
  deft_status *s = deft_status_new();
  deft_output t = deft_graph_tensor_by_name(g, "dnn/hidden1/Identity_1:0", s);
  ck_assert_ptr_eq(t.op, i2.op);
  t = deft_graph_tensor_by_name(g, "X", s);
  ck_assert_ptr_eq(t.op, x.op);
  t = deft_graph_tensor_by_name(g, "X:7", s);
  ck_assert_ptr_null(t.op);
  TU_ASSERT_STATUS(s, DEFT_OUT_OF_RANGE, "X:7", "1 output");
  t = deft_graph_tensor_by_name(g, "nope:0", s);
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "nope");
  t = deft_graph_tensor_by_name(g, "X:a", s);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "malformed");
  ck_assert_int_eq(deft_graph_num_ops(g), 4);
  ck_assert_ptr_eq(deft_graph_op_at(g, 0), x.op);
  deft_status_free(s);
  deft_graph_free(g);
}
END_TEST

START_TEST(feed_placeholder_and_intermediate) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "X");
  deft_output h = deft_identity(g, x, "h");
  deft_output y = deft_add(g, h, deft_const_float(g, 1.0f, "one"), "y");
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  float xv[3] = {1, 2, 3}, hv[2] = {10, 20};
  deft_tensor *xt = vec(xv, 3), *ht = vec(hv, 2), *out = NULL;
  ck_assert(
      deft_session_run(sess, &x, (const deft_tensor *const[]){xt}, 1, &y, &out, 1, NULL, 0, s));
  ck_assert(deft_tensor_get_double(out, 2) == 4);
  deft_tensor_free(out);
  /* Feeding the intermediate tensor cuts off X: no feed for X is needed. */
  ck_assert_msg(
      deft_session_run(sess, &h, (const deft_tensor *const[]){ht}, 1, &y, &out, 1, NULL, 0, s),
      "%s", deft_status_message(s));
  ck_assert_int_eq(deft_tensor_num_elements(out), 2);
  ck_assert(deft_tensor_get_double(out, 1) == 21);
  deft_tensor_free(out);
  /* Running again reuses the cached plan and gives the same numbers. */
  for (int k = 0; k < 3; k++) {
    ck_assert(
        deft_session_run(sess, &x, (const deft_tensor *const[]){xt}, 1, &y, &out, 1, NULL, 0, s));
    ck_assert(deft_tensor_get_double(out, 0) == 2);
    deft_tensor_free(out);
  }
  deft_tensor_free(xt);
  deft_tensor_free(ht);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(s);
}
END_TEST

/* TF's name rule at build time, unbalanced scope pops, and int64 feeds to int32 tensors. */
START_TEST(names_pops_and_feed_conversion) {
  deft_graph *g = deft_graph_new();
  deft_output ok = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1), "a.b-c/d>e_1");
  ck_assert(deft_graph_ok(g) && ok.op);
  deft_output bad = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1), "x:y");
  ck_assert_ptr_null(bad.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'x:y'", "not a valid op name");
  deft_graph_free(g);
  g = deft_graph_new();
  ck_assert_ptr_null(deft_graph_push_scope(g, "bad scope!"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'bad scope!'", "scope name");
  deft_graph_free(g);
  g = deft_graph_new();
  ck_assert_ptr_null(deft_graph_push_scope(g, "_top")); /* top level: TF's op-name rule */
  deft_graph_free(g);
  g = deft_graph_new();
  ck_assert_str_eq(deft_graph_push_scope(g, "outer"), "outer");
  ck_assert_str_eq(deft_graph_push_scope(g, "_inner"), "outer/_inner"); /* nested: allowed */
  deft_graph_pop_scope(g);
  deft_graph_pop_scope(g);
  ck_assert(deft_graph_ok(g));
  deft_graph_pop_scope(g);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_FAILED_PRECONDITION, "no name scope is open");
  deft_graph_free(g);
  g = deft_graph_new();
  deft_graph_pop_control_deps(g);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_FAILED_PRECONDITION, "control-dependency");
  deft_graph_free(g);
  g = deft_graph_new();
  deft_graph_pop_variable_scope(g);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_FAILED_PRECONDITION, "variable scope");
  deft_graph_free(g);

  g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "x");
  deft_output y = deft_add(g, x, x, "y");
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  int64_t fits[3] = {-2147483648LL, 5, 2147483647LL / 2};
  deft_tensor *t = deft_tensor_from_data(DEFT_INT64, (int64_t[]){3}, 1, fits, sizeof fits, s);
  const deft_tensor *vals[1] = {t};
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(sess, &x, vals, 1, &y, &out, 1, NULL, 0, s), "%s",
                deft_status_message(s));
  ck_assert_int_eq(deft_tensor_dtype(out), DEFT_INT32);
  const int32_t *o = deft_tensor_data(out);
  ck_assert_int_eq(o[1], 10);
  ck_assert_int_eq(o[2], 2147483646);
  ck_assert_int_eq(((int64_t *)deft_tensor_data(t))[1], 5); /* the fed tensor is untouched */
  deft_tensor_free(out);
  deft_tensor_free(t);
  int64_t big[2] = {1, 3000000000LL};
  t = deft_tensor_from_data(DEFT_INT64, (int64_t[]){2}, 1, big, sizeof big, s);
  vals[0] = t;
  ck_assert(!deft_session_run(sess, &x, vals, 1, &y, &out, 1, NULL, 0, s));
  ck_assert_ptr_null(out);
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "'x:0'", "element 1", "3000000000", "int32");
  deft_tensor_free(t);
  /* other dtype mismatches are still refused */
  float f[1] = {1};
  t = deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){1}, 1, f, sizeof f, s);
  vals[0] = t;
  ck_assert(!deft_session_run(sess, &x, vals, 1, &y, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "cannot feed a float tensor");
  deft_tensor_free(t);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(s);
}
END_TEST

START_TEST(run_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 2), "X");
  deft_output y = deft_identity(g, x, "y");
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  deft_tensor *out = (deft_tensor *)1;
  /* missing feed names the placeholder */
  ck_assert(!deft_session_run(sess, NULL, NULL, 0, &y, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "placeholder 'X'", "float", "[?,2]");
  ck_assert_ptr_null(out);
  /* wrong dtype */
  deft_tensor *i = deft_tensor_scalar_int32(3);
  ck_assert(
      !deft_session_run(sess, &x, (const deft_tensor *const[]){i}, 1, &y, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "int32", "'X:0'", "float");
  deft_tensor_free(i);
  /* wrong shape */
  int64_t d[2] = {4, 3};
  deft_tensor *w = deft_tensor_new(DEFT_FLOAT, d, 2, s);
  ck_assert(
      !deft_session_run(sess, &x, (const deft_tensor *const[]){w}, 1, &y, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "[4,3]", "'X:0'", "[?,2]");
  deft_tensor_free(w);
  /* uninitialized variable names it */
  deft_output init = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2), 1.0, "v_init");
  deft_op *v = deft_variable_new(g, "v", init, true);
  ck_assert(deft_graph_ok(g));
  deft_output vr = deft_variable_value(v);
  ck_assert(!deft_session_run(sess, NULL, NULL, 0, &vr, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_FAILED_PRECONDITION, "uninitialized", "v");
  deft_op *initop = deft_global_variables_initializer(g, NULL);
  ck_assert_str_eq(deft_op_name(initop), "init");
  ck_assert(deft_session_run(sess, NULL, NULL, 0, NULL, NULL, 0, &initop, 1, s));
  ck_assert(deft_session_run(sess, NULL, NULL, 0, &vr, &out, 1, NULL, 0, s));
  ck_assert(deft_tensor_get_double(out, 1) == 1.0);
  deft_tensor_free(out);
  /* an op of another graph with the id of an op planned here: an error, not that op's plan */
  deft_tensor *c = deft_tensor_scalar_float(2);
  deft_output cx = deft_const(g, c, "c");
  ck_assert(deft_session_run(sess, NULL, NULL, 0, &cx, &out, 1, NULL, 0, s));
  deft_tensor_free(out);
  ck_assert(deft_session_run(sess, NULL, NULL, 0, &vr, &out, 1, NULL, 0, s)); /* another last */
  deft_tensor_free(out);
  deft_graph *g2 = deft_graph_new();
  deft_output twin = {NULL, 0};
  for (int k = 0; k <= cx.op->id; k++) twin = deft_const(g2, c, NULL);
  ck_assert_int_eq(twin.op->id, cx.op->id);
  out = (deft_tensor *)1;
  ck_assert(!deft_session_run(sess, NULL, NULL, 0, &twin, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "fetch 0", "not a tensor of this graph");
  ck_assert_ptr_null(out);
  deft_graph_free(g2);
  deft_tensor_free(c);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(s);
}
END_TEST

START_TEST(build_errors_are_sticky) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "X");
  deft_output y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 5), "Y");
  int before = deft_graph_num_ops(g);
  deft_output z = deft_add(g, x, y, "z");
  ck_assert_ptr_null(z.op);
  ck_assert(!deft_graph_ok(g));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'z'", "'X:0'", "'Y:0'");
  ck_assert_int_eq(deft_graph_num_ops(g), before);
  /* later constructors do nothing and keep the first error */
  deft_output w = deft_identity(g, z, "w");
  ck_assert_ptr_null(w.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'z'");
  deft_status *s = deft_status_new();
  ck_assert_ptr_null(deft_session_new(g, s));
  TU_ASSERT_STATUS(s, DEFT_FAILED_PRECONDITION, "build error", "Add 'z'");
  deft_graph_clear_error(g);
  /* an invalid attr value */
  deft_op_builder *b = deft_op_builder_new(g, "BiasAdd", "ba");
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, y);
  deft_op_builder_set_attr_string(b, "data_format", "NXYZ", 4);
  ck_assert_ptr_null(deft_op_builder_finish(b));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "data_format", "NXYZ");
  deft_graph_clear_error(g);
  /* an unknown op type */
  b = deft_op_builder_new(g, "NoSuchOp", "n");
  ck_assert_ptr_null(deft_op_builder_finish(b));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_NOT_FOUND, "NoSuchOp");
  deft_graph_clear_error(g);
  /* a ref input fed a value */
  deft_output bad = deft_assign(g, x, x, "as");
  ck_assert_ptr_null(bad.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Assign 'as'", "reference");
  deft_status_free(s);
  deft_graph_free(g);
}
END_TEST

/* A fed op reached only through a control edge does not run (TF replaces fed nodes). */
START_TEST(fed_control_input_does_not_run) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2), "X");
  deft_op_builder *b = deft_op_builder_new(g, "Identity", "y");
  deft_op_builder_add_input(b, deft_const_float(g, 3.0f, "c"));
  deft_op_builder_add_control_input(b, x.op);
  deft_output y = deft_op_output(deft_op_builder_finish(b), 0);
  deft_status *s = deft_status_new();
  deft_session *sess = deft_session_new(g, s);
  float v[2] = {1, 2};
  deft_tensor *xt = vec(v, 2), *out = NULL;
  ck_assert_msg(
      deft_session_run(sess, &x, (const deft_tensor *const[]){xt}, 1, &y, &out, 1, NULL, 0, s),
      "%s", deft_status_message(s));
  ck_assert(deft_tensor_get_double(out, 0) == 3.0);
  deft_tensor_free(out);
  /* unfed, the control input must run, and so the missing feed is reported */
  ck_assert(!deft_session_run(sess, NULL, NULL, 0, &y, &out, 1, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "placeholder 'X'");
  deft_tensor_free(xt);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(s);
}
END_TEST

/* Fails the n-th allocation for every n: each path must report an error (sticky or status),
 * never crash, and leak nothing (the sanitizer build checks the leaks). */
static bool build_and_run(deft_status *st) {
  deft_graph *g = deft_graph_new();
  if (!g) return false;
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  deft_dense_options o = {.activation = "elu"};
  deft_output h = deft_dense(g, x, 4, &o, "hidden1");
  deft_output loss = deft_reduce_mean(g, deft_square(g, h, NULL), NULL, 0, false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.1f);
  deft_op *train = opt ? deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL) : NULL;
  deft_optimizer_free(opt);
  deft_op *init = deft_global_variables_initializer(g, NULL);
  bool ok = deft_graph_ok(g);
  if (!ok) {
    ck_assert_int_ne(deft_status_code(deft_graph_status(g)), DEFT_OK);
    deft_graph_free(g);
    return false;
  }
  deft_session *s = deft_session_new(g, st);
  float v[6] = {1, 2, 3, 4, 5, 6};
  int64_t dims[2] = {2, 3};
  deft_tensor *xt = deft_tensor_from_data(DEFT_FLOAT, dims, 2, v, sizeof v, st);
  deft_tensor *out = NULL;
  ok = s && xt && deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st) &&
       deft_session_run(s, &x, (const deft_tensor *const[]){xt}, 1, &loss, &out, 1, &train, 1, st);
  if (!ok) ck_assert_int_ne(deft_status_code(st), DEFT_OK);
  deft_tensor_free(out);
  deft_tensor_free(xt);
  deft_session_free(s);
  deft_graph_free(g);
  return ok;
}

START_TEST(every_allocation_failure_is_an_error) {
  deft_status *st = deft_status_new();
  deft_alloc_fail_after(-1);
  ck_assert(build_and_run(st)); /* warm the registry and check the model works */
  bool succeeded = false;
  for (long n = 0; n < 5000 && !succeeded; n++) {
    deft_status_clear(st);
    deft_alloc_fail_after(n);
    succeeded = build_and_run(st);
    deft_alloc_fail_after(-1);
  }
  ck_assert_msg(succeeded, "the sweep never reached a successful run");
  deft_status_free(st);
}
END_TEST

/* A run fetching more tensors than the graph has ops (the same outputs named again and again)
 * plans and returns each fetch (the planner's work list once overflowed here). */
START_TEST(more_fetches_than_ops) {
  deft_graph *g = deft_graph_new();
  float v[4] = {1, 2, 3, 4};
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_tensor_from_data(DEFT_FLOAT, (const int64_t[]){4}, 1, v, sizeof v, st);
  deft_output c = deft_const(g, t, "c");
  deft_op *sp = deft_split(g, deft_const_int32(g, 0, "dim"), c, 2, "split");
  ck_assert_ptr_nonnull(sp);
  enum { N = 12 };
  deft_output fetches[N];
  deft_tensor *out[N];
  for (int i = 0; i < N; i++) fetches[i] = deft_op_output(sp, i % 2);
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, fetches, out, N, NULL, 0, st), "%s",
                deft_status_message(st));
  for (int i = 0; i < N; i++) {
    const float *p = deft_tensor_data(out[i]);
    ck_assert(p[0] == v[2 * (i % 2)] && p[1] == v[2 * (i % 2) + 1]);
    deft_tensor_free(out[i]);
  }
  deft_session_free(s);
  deft_tensor_free(t);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, const_add_and_nested_fetch);
  tcase_add_test(tc, names_and_scopes);
  tcase_add_test(tc, feed_placeholder_and_intermediate);
  tcase_add_test(tc, run_errors);
  tcase_add_test(tc, names_pops_and_feed_conversion);
  tcase_add_test(tc, build_errors_are_sticky);
  tcase_add_test(tc, fed_control_input_does_not_run);
  tcase_add_test(tc, every_allocation_failure_is_an_error);
  tcase_add_test(tc, more_fetches_than_ops);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
