/* tests/test_layers.c - initializers (TF's maths), dense and batch normalization (names, numbers,
 * update ops), dropout, collections with regex scopes, vanishing gradients, determinism. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static deft_tensor *run1(deft_session *s, deft_output o, const deft_output *feeds,
                         deft_tensor **vals, int nfeeds) {
  deft_status *st = deft_status_new();
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nfeeds, &o, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  return out;
}

static void run_target(deft_session *s, deft_op *t, const deft_output *feeds, deft_tensor **vals,
                       int nfeeds) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nfeeds, NULL, NULL, 0, &t, 1, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
}

static void stats(const deft_tensor *t, double *mean, double *sd, double *lo, double *hi) {
  int64_t n = deft_tensor_num_elements(t);
  double s = 0, s2 = 0;
  *lo = INFINITY, *hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    double v = deft_tensor_get_double(t, i);
    s += v, s2 += v * v;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
  }
  *mean = s / n;
  *sd = sqrt(s2 / n - *mean * *mean);
}

START_TEST(initializer_maths) {
  /* fan_in 600, fan_out 500: the limits/stddevs below follow TF_FORMATS.md 6.1. */
  struct {
    deft_initializer init;
    double want_sd, bound;
  } cases[] = {
      {deft_init_glorot_uniform(1), sqrt(6.0 / 1100) / sqrt(3.0), sqrt(6.0 / 1100)},
      {deft_init_variance_scaling(1.0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 2),
       sqrt(1.0 / 600), 2 * sqrt(1.0 / 600) / 0.87962566103423978},
      {deft_init_he_normal(3), sqrt(2.0 / 600), 2 * sqrt(2.0 / 600) / 0.87962566103423978},
      {deft_init_variance_scaling(2.0, DEFT_FAN_AVG, DEFT_DIST_UNIFORM, 4), sqrt(2.0 / 550),
       sqrt(3 * 2.0 / 550)},
      {deft_init_variance_scaling(1.0, DEFT_FAN_OUT, DEFT_DIST_UNTRUNCATED_NORMAL, 5),
       sqrt(1.0 / 500), INFINITY},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    deft_graph *g = deft_graph_new();
    deft_graph_set_seed(g, 7);
    deft_op *v = deft_get_variable(g, "w", DEFT_FLOAT, DEFT_SHAPE(600, 500), cases[c].init, true);
    ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(g, st);
    deft_tensor *val = run1(s, deft_variable_initial_value(v), NULL, NULL, 0);
    double mean, sd, lo, hi;
    stats(val, &mean, &sd, &lo, &hi);
    ck_assert_msg(fabs(mean) < 0.003, "case %zu: mean %g", c, mean);
    ck_assert_msg(fabs(sd / cases[c].want_sd - 1) < 0.01, "case %zu: sd %g, want %g", c, sd,
                  cases[c].want_sd);
    ck_assert_msg(hi < cases[c].bound + 1e-6 && lo > -cases[c].bound - 1e-6,
                  "case %zu: range [%g, %g] exceeds %g", c, lo, hi, cases[c].bound);
    deft_tensor_free(val);
    deft_session_free(s);
    deft_graph_free(g);
    deft_status_free(st);
  }
}
END_TEST

START_TEST(same_seed_same_weights) {
  deft_tensor *w[3];
  for (int k = 0; k < 3; k++) {
    deft_graph *g = deft_graph_new();
    deft_graph_set_seed(g, k < 2 ? 42 : 43);
    deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 20), "X");
    deft_dense(g, x, 30, NULL, "hidden1");
    deft_op *init = deft_global_variables_initializer(g, NULL);
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(g, st);
    run_target(s, init, NULL, NULL, 0);
    w[k] = deft_session_variable_value(s, deft_graph_op_by_name(g, "hidden1/kernel"), st);
    ck_assert_ptr_nonnull(w[k]);
    deft_session_free(s);
    deft_graph_free(g);
    deft_status_free(st);
  }
  ck_assert(memcmp(deft_tensor_data(w[0]), deft_tensor_data(w[1]), deft_tensor_nbytes(w[0])) == 0);
  ck_assert(memcmp(deft_tensor_data(w[0]), deft_tensor_data(w[2]), deft_tensor_nbytes(w[0])) != 0);
  for (int k = 0; k < 3; k++) deft_tensor_free(w[k]);
}
END_TEST

START_TEST(dense_names_and_values) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  deft_dense_options o = {0};
  o.activation = "relu";
  deft_graph_push_scope(g, "dnn");
  deft_output h = deft_dense(g, x, 4, &o, "hidden1");
  deft_output d0 = deft_dense(g, h, 2, NULL, NULL);
  deft_output d1 = deft_dense(g, d0, 2, NULL, NULL);
  deft_graph_pop_scope(g);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(h.op), "dnn/hidden1/Relu");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "hidden1/kernel"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "hidden1/bias/read"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "hidden1/kernel/Initializer/random_uniform"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "dnn/hidden1/MatMul"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "dense/kernel"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "dense_1/kernel"));
  ck_assert_str_eq(deft_op_name(d1.op), "dnn/dense_1/BiasAdd");
  /* values: relu(x W + b) against a hand computation from the fetched weights */
  deft_op *init = deft_global_variables_initializer(g, NULL);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_target(s, init, NULL, NULL, 0);
  float xv[6] = {1, -2, 0.5f, 3, 0.25f, -1};
  int64_t dims[2] = {2, 3};
  deft_tensor *xt = deft_tensor_from_data(DEFT_FLOAT, dims, 2, xv, sizeof xv, st);
  deft_tensor *out = run1(s, h, &x, &xt, 1);
  deft_tensor *w = deft_session_variable_value(s, deft_graph_op_by_name(g, "hidden1/kernel"), st);
  deft_tensor *b = deft_session_variable_value(s, deft_graph_op_by_name(g, "hidden1/bias"), st);
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 4; c++) {
      double acc = deft_tensor_get_double(b, c);
      for (int k = 0; k < 3; k++) acc += xv[r * 3 + k] * deft_tensor_get_double(w, k * 4 + c);
      if (acc < 0) acc = 0;
      ck_assert(fabs(deft_tensor_get_double(out, r * 4 + c) - acc) < 1e-5);
    }
  deft_tensor_free(out);
  deft_tensor_free(w);
  deft_tensor_free(b);
  deft_tensor_free(xt);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(layer_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  deft_dense_options o = {0};
  o.activation = "swish";
  ck_assert_ptr_null(deft_dense(g, x, 4, &o, "h").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "unknown activation", "swish");
  deft_graph_clear_error(g);
  deft_output v = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(5), "v");
  deft_output tr = deft_placeholder_with_default(g, deft_const_bool(g, false, NULL), DEFT_SCALAR,
                                                 "training");
  ck_assert_ptr_null(deft_batch_normalization(g, v, tr, NULL, "bn").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "batch_normalization", "'v:0'",
                   "rank");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_dense(g, v, 4, NULL, "h2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "dense", "rank 2");
  deft_graph_clear_error(g);
  deft_get_variable(g, "w", DEFT_FLOAT, DEFT_SHAPE(2), deft_init_zeros(), true);
  deft_get_variable(g, "w", DEFT_FLOAT, DEFT_SHAPE(2), deft_init_zeros(), true);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_ALREADY_EXISTS, "'w'");
  deft_graph_free(g);
}
END_TEST

START_TEST(regex_scopes) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  deft_output h = x;
  const char *names[5] = {"hidden1", "hidden2", "hidden3", "hidden4", "outputs"};
  for (int i = 0; i < 5; i++) h = deft_dense(g, h, 3, NULL, names[i]);
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_output items[16];
  int n = deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, "hidden[123]", items, 16, st);
  ck_assert_int_eq(n, 6);
  ck_assert_str_eq(deft_op_name(items[0].op), "hidden1/kernel");
  n = deft_graph_get_collection(g, DEFT_TRAINABLE_VARIABLES, "hidden[34]|outputs", items, 16, st);
  ck_assert_int_eq(n, 6);
  ck_assert_str_eq(deft_op_name(items[4].op), "outputs/kernel");
  /* anchored at the start, like re.match: "idden" matches nothing, "hidden[1]" only hidden1 */
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, "idden", NULL, 0, st), 0);
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, "hidden[1]", NULL, 0, st),
                   2);
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, NULL, 0, st), 10);
  ck_assert_int_eq(deft_graph_get_collection(g, "no_such_key", NULL, NULL, 0, st), 0);
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, "hidden[", NULL, 0, st), -1);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "hidden[", "position 7");
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* Batch norm: training=true normalizes with batch statistics and, when UPDATE_OPS run, moves the
 * moving averages by (1 - momentum); training=false uses the moving statistics. */
START_TEST(batch_norm_numbers_and_updates) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 2), "X");
  deft_output tr = deft_placeholder_with_default(g, deft_const_bool(g, false, "training/input"),
                                                 DEFT_SCALAR, "training");
  deft_batch_norm_options o = {0};
  o.momentum = 0.9;
  deft_output y = deft_batch_normalization(g, x, tr, &o, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "batch_normalization/moving_mean"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "batch_normalization/cond_2/AssignMovingAvg"));
  deft_output upd[4];
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 4, NULL), 2);
  deft_op *init = deft_global_variables_initializer(g, NULL);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_target(s, init, NULL, NULL, 0);
  float xv[8] = {1, 10, 2, 20, 3, 30, 6, 40};
  int64_t dims[2] = {4, 2};
  deft_tensor *xt = deft_tensor_from_data(DEFT_FLOAT, dims, 2, xv, sizeof xv, st);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[2] = {x, tr};
  deft_tensor *vals[2] = {xt, yes};
  /* training: batch statistics (biased variance), eps 0.001 */
  deft_tensor *out = run1(s, y, feeds, vals, 2);
  for (int c = 0; c < 2; c++) {
    double m = 0, v = 0;
    for (int r = 0; r < 4; r++) m += xv[r * 2 + c] / 4.0;
    for (int r = 0; r < 4; r++) v += (xv[r * 2 + c] - m) * (xv[r * 2 + c] - m) / 4.0;
    for (int r = 0; r < 4; r++)
      ck_assert(fabs(deft_tensor_get_double(out, r * 2 + c) -
                     (xv[r * 2 + c] - m) / sqrt(v + 1e-3)) < 1e-4);
  }
  deft_tensor_free(out);
  /* moving stats unchanged until the update ops run */
  deft_op *mm = deft_graph_op_by_name(g, "batch_normalization/moving_mean");
  deft_op *mv = deft_graph_op_by_name(g, "batch_normalization/moving_variance");
  deft_tensor *m0 = deft_session_variable_value(s, mm, st);
  ck_assert(deft_tensor_get_double(m0, 0) == 0 && deft_tensor_get_double(m0, 1) == 0);
  deft_tensor_free(m0);
  deft_op *targets[2] = {upd[0].op, upd[1].op};
  ck_assert(deft_session_run(s, feeds, tu_feeds(vals), 2, NULL, NULL, 0, targets, 2, st));
  deft_tensor *m1 = deft_session_variable_value(s, mm, st),
              *v1 = deft_session_variable_value(s, mv, st);
  ck_assert(fabs(deft_tensor_get_double(m1, 0) - 0.1 * 3.0) < 1e-5);
  ck_assert(fabs(deft_tensor_get_double(m1, 1) - 0.1 * 25.0) < 1e-5);
  ck_assert(fabs(deft_tensor_get_double(v1, 0) - (0.9 + 0.1 * 3.5)) < 1e-5);
  deft_tensor_free(m1);
  deft_tensor_free(v1);
  /* update ops with training=false leave the moving statistics alone */
  deft_tensor *m2a = deft_session_variable_value(s, mm, st);
  ck_assert(
      deft_session_run(s, &x, (const deft_tensor *const[]){xt}, 1, NULL, NULL, 0, targets, 2, st));
  deft_tensor *m2b = deft_session_variable_value(s, mm, st);
  ck_assert(memcmp(deft_tensor_data(m2a), deft_tensor_data(m2b), 8) == 0);
  deft_tensor_free(m2a);
  deft_tensor_free(m2b);
  /* inference: (x - moving_mean) / sqrt(moving_var + eps) */
  out = run1(s, y, &x, &xt, 1);
  deft_tensor *m = deft_session_variable_value(s, mm, st),
              *v = deft_session_variable_value(s, mv, st);
  for (int i = 0; i < 8; i++) {
    int c = i % 2;
    double want =
        (xv[i] - deft_tensor_get_double(m, c)) / sqrt(deft_tensor_get_double(v, c) + 1e-3);
    ck_assert(fabs(deft_tensor_get_double(out, i) - want) < 1e-4);
  }
  deft_tensor_free(m);
  deft_tensor_free(v);
  deft_tensor_free(out);
  deft_tensor_free(xt);
  deft_tensor_free(yes);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* The chapter's motivation: a deep sigmoid net with N(0,1) weights has gradients that shrink
 * layer by layer toward the input; He-initialized ELU layers with batch norm keep them level. */
static void layer_grad_norms(bool fixed, double *norms, int depth) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 3);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 50), "X");
  deft_output tr = deft_const_bool(g, true, "training");
  deft_dense_options o = {0};
  o.activation = fixed ? NULL : "sigmoid";
  o.kernel_initializer = fixed ? deft_init_he_normal(0) : deft_init_random_normal(0, 1, 0);
  deft_output h = x;
  deft_output kernels[16];
  for (int i = 0; i < depth; i++) {
    char name[16];
    snprintf(name, sizeof name, "h%d", i);
    h = deft_dense(g, h, 50, &o, name);
    if (fixed) h = deft_elu(g, deft_batch_normalization(g, h, tr, NULL, NULL), NULL);
    char kn[32];
    snprintf(kn, sizeof kn, "%s/kernel", name);
    kernels[i] = deft_op_output(deft_graph_op_by_name(g, kn), 0);
  }
  deft_output loss = deft_reduce_mean(g, deft_square(g, h, NULL), NULL, 0, false, "loss");
  deft_output dk[16];
  ck_assert(deft_gradients(g, &loss, 1, kernels, depth, NULL, dk));
  deft_op *init = deft_global_variables_initializer(g, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_target(s, init, NULL, NULL, 0);
  int64_t dims[2] = {64, 50};
  deft_tensor *xt = deft_tensor_new(DEFT_FLOAT, dims, 2, st);
  float *xd = deft_tensor_data(xt);
  for (int i = 0; i < 64 * 50; i++) xd[i] = (float)sin(i * 0.37) ;
  for (int i = 0; i < depth; i++) {
    deft_tensor *t = run1(s, dk[i], &x, &xt, 1);
    double n2 = 0;
    for (int64_t k = 0; k < deft_tensor_num_elements(t); k++)
      n2 += deft_tensor_get_double(t, k) * deft_tensor_get_double(t, k);
    norms[i] = sqrt(n2);
    deft_tensor_free(t);
  }
  deft_tensor_free(xt);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}

START_TEST(vanishing_gradients) {
  enum { DEPTH = 8 };
  double sig[DEPTH], fix[DEPTH];
  layer_grad_norms(false, sig, DEPTH);
  layer_grad_norms(true, fix, DEPTH);
  double ratio_sig = sig[0] / sig[DEPTH - 1], ratio_fix = fix[0] / fix[DEPTH - 1];
  /* measured here: about 0.06 for the sigmoid net and about 6 with BN + He init */
  ck_assert_msg(ratio_sig < 0.2, "sigmoid net: first/last layer gradient norm ratio %g", ratio_sig);
  ck_assert_msg(ratio_fix > 0.5, "BN+He net: first/last layer gradient norm ratio %g", ratio_fix);
  ck_assert_msg(ratio_fix > 20 * ratio_sig, "ratios %g (BN+He) vs %g (sigmoid)", ratio_fix,
                ratio_sig);
}
END_TEST

START_TEST(dropout_semantics) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 5);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "X");
  deft_output tr = deft_placeholder_with_default(g, deft_const_bool(g, false, NULL), DEFT_SCALAR,
                                                 "training");
  deft_output y = deft_dropout(g, x, 0.25f, tr, 0, NULL);
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  int64_t n = 20000;
  deft_tensor *xt = deft_tensor_new(DEFT_FLOAT, &n, 1, st);
  for (int64_t i = 0; i < n; i++) ((float *)deft_tensor_data(xt))[i] = 2.0f;
  deft_tensor *out = run1(s, y, &x, &xt, 1);
  ck_assert(memcmp(deft_tensor_data(out), deft_tensor_data(xt), (size_t)n * 4) == 0);
  deft_tensor_free(out);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[2] = {x, tr};
  deft_tensor *vals[2] = {xt, yes};
  out = run1(s, y, feeds, vals, 2);
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = deft_tensor_get_double(out, i);
    if (v == 0) zeros++;
    else ck_assert(fabs(v - 2.0 / 0.75) < 1e-5);
  }
  ck_assert_msg(fabs((double)zeros / n - 0.25) < 0.02, "dropped %g", (double)zeros / n);
  deft_tensor_free(out);
  deft_tensor_free(yes);
  deft_tensor_free(xt);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("layers");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, initializer_maths);
  tcase_add_test(tc, same_seed_same_weights);
  tcase_add_test(tc, dense_names_and_values);
  tcase_add_test(tc, layer_errors);
  tcase_add_test(tc, regex_scopes);
  tcase_add_test(tc, batch_norm_numbers_and_updates);
  tcase_add_test(tc, vanishing_gradients);
  tcase_add_test(tc, dropout_semantics);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
