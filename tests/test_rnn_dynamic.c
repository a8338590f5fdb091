/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_rnn_dynamic.c - deft_dynamic_rnn and deft_bidirectional_dynamic_rnn (deft/rnn.h):
 * the same numbers as deft_static_rnn with the same variables (static_rnn is checked against
 * NumPy in tests/test_rnn_cells.c) for every cell, with and without sequence_length, batch- and
 * time-major; gradients through the while loop against central differences; TF's chapter-14
 * checkpoint restored into a dynamic_rnn model giving the fixture's predictions; TF's node and
 * variable names; the errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { T = 4, B = 3, I = 2 };

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double urand(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / 4503599627370496.0 - 1.0;
}

static void check_ok(bool ok, const deft_status *st) {
  ck_assert_msg(ok, "%s", st ? deft_status_message(st) : "");
}

static deft_tensor *rand_tensor(deft_shape s) {
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  double *p = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) p[i] = urand();
  return t;
}

typedef enum { K_BASIC, K_BASIC_LSTM, K_LSTM_FULL, K_GRU, K_MULTI, K_PROJ, K_COUNT } kind;
static const char *kind_names[] = {"basic", "basic_lstm", "lstm_full", "gru", "multi", "proj"};

static deft_rnn_cell *make_cell(deft_graph *g, kind k) {
  deft_lstm_options o = deft_lstm_options_default();
  switch (k) {
    case K_BASIC:
      return deft_rnn_cell_basic(g, 5, NULL, NULL);
    case K_BASIC_LSTM:
      return deft_rnn_cell_basic_lstm(g, 5, 0.5f, NULL, NULL);
    case K_LSTM_FULL:
      o.use_peepholes = true;
      o.cell_clip = 0.5f;
      o.num_proj = 3;
      return deft_rnn_cell_lstm(g, 5, &o, NULL);
    case K_GRU:
      return deft_rnn_cell_gru(g, 5, NULL, NULL);
    case K_MULTI: {
      deft_rnn_cell *cells[2] = {deft_rnn_cell_basic_lstm(g, 4, 1.0f, NULL, NULL),
                                 deft_rnn_cell_gru(g, 3, NULL, NULL)};
      return deft_rnn_cell_multi(g, cells, 2);
    }
    case K_PROJ:
      return deft_rnn_cell_output_projection(g, deft_rnn_cell_basic(g, 5, "relu", NULL), 3, NULL);
    default:
      return NULL;
  }
}

/* [B, T, I] -> step t as [B, I] */
static deft_tensor *step_of(const deft_tensor *x, int t) {
  deft_tensor *r = deft_tensor_new(DEFT_DOUBLE, (const int64_t[]){B, I}, 2, NULL);
  const double *xp = deft_tensor_data(x);
  double *rp = deft_tensor_data(r);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < I; i++) rp[b * I + i] = xp[(b * T + t) * I + i];
  return r;
}

static deft_tensor *time_major_of(const deft_tensor *x) {
  deft_tensor *r = deft_tensor_new(DEFT_DOUBLE, (const int64_t[]){T, B, I}, 3, NULL);
  const double *xp = deft_tensor_data(x);
  double *rp = deft_tensor_data(r);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int i = 0; i < I; i++) rp[(t * B + b) * I + i] = xp[(b * T + t) * I + i];
  return r;
}

static void run_init(deft_session *s, deft_graph *g) {
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_status *st = deft_status_new();
  check_ok(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), st);
  deft_status_free(st);
}

/* Copies every variable of a (random values set there) into b by name. */
static void share_variables(deft_session *sa, deft_graph *a, deft_session *sb, deft_graph *b) {
  deft_status *st = deft_status_new();
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(a); i++) {
    deft_op *op = deft_graph_op_at(a, i);
    if (!deft_op_is_variable(op)) continue;
    deft_op *ob = deft_graph_op_by_name(b, deft_op_name(op));
    ck_assert_msg(ob != NULL, "dynamic_rnn has no variable '%s'", deft_op_name(op));
    deft_tensor *cur = deft_session_variable_value(sa, op, st);
    check_ok(cur != NULL, st);
    deft_tensor *r = rand_tensor(deft_tensor_shape(cur));
    check_ok(deft_session_set_variable(sa, op, r, st), st);
    check_ok(deft_session_set_variable(sb, ob, r, st), st);
    deft_tensor_free(r);
    deft_tensor_free(cur);
    n++;
  }
  ck_assert_int_gt(n, 0);
  deft_status_free(st);
}

static void expect_close(const deft_tensor *got, const double *want, int64_t n, const char *what) {
  ck_assert_int_eq(deft_tensor_num_elements(got), n);
  const double *g = deft_tensor_data(got);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(fabs(g[i] - want[i]) <= 1e-12 * (1 + fabs(want[i])), "%s[%lld]: %.15g vs %.15g",
                  what, (long long)i, g[i], want[i]);
}

static void compare_with_static(kind k, bool with_seq, bool time_major) {
  const int32_t lens[B] = {4, 1, 3};
  deft_graph *ga = deft_graph_new(), *gb = deft_graph_new();
  deft_rnn_cell *ca = make_cell(ga, k), *cb = make_cell(gb, k);
  deft_output steps[T], outs[T], fa[8], fb[8], yb;
  for (int t = 0; t < T; t++) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", t);
    steps[t] = deft_placeholder(ga, DEFT_DOUBLE, DEFT_SHAPE(B, I), nm);
  }
  deft_output seqa = {NULL, 0}, seqb = {NULL, 0};
  if (with_seq) {
    seqa = deft_const_int32_vector(ga, lens, B, "lens");
    seqb = deft_const_int32_vector(gb, lens, B, "lens");
  }
  ck_assert(deft_static_rnn(ga, ca, steps, T, NULL, seqa, NULL, outs, fa));
  deft_output xb = deft_placeholder(
      gb, DEFT_DOUBLE, time_major ? DEFT_SHAPE(-1, -1, I) : DEFT_SHAPE(-1, -1, I), "x");
  ck_assert_msg(deft_dynamic_rnn(gb, cb, xb, NULL, seqb, time_major, NULL, &yb, fb), "%s",
                deft_status_message(deft_graph_status(gb)));
  ck_assert(deft_graph_ok(ga));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(gb, "rnn/while/LoopCond"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(gb, "rnn/TensorArray_1"));
  deft_status *st = deft_status_new();
  deft_session *sa = deft_session_new(ga, st), *sb = deft_session_new(gb, st);
  run_init(sa, ga);
  run_init(sb, gb);
  share_variables(sa, ga, sb, gb);
  deft_tensor *x = rand_tensor(DEFT_SHAPE(B, T, I));
  deft_tensor *xs[T];
  for (int t = 0; t < T; t++) xs[t] = step_of(x, t);
  int ns = deft_rnn_cell_state_count(ca);
  deft_output fetch_a[T + 8];
  deft_tensor *va[T + 8], *vb[9];
  memcpy(fetch_a, outs, sizeof outs);
  memcpy(fetch_a + T, fa, sizeof *fa * (size_t)ns);
  check_ok(deft_session_run(sa, steps, tu_feeds(xs), T, fetch_a, va, T + ns, NULL, 0, st), st);
  deft_output fetch_b[9];
  fetch_b[0] = yb;
  memcpy(fetch_b + 1, fb, sizeof *fb * (size_t)ns);
  deft_tensor *xfeed = time_major ? time_major_of(x) : x;
  check_ok(deft_session_run(sb, &xb, tu_feeds(&xfeed), 1, fetch_b, vb, 1 + ns, NULL, 0, st), st);
  int64_t O = deft_rnn_cell_output_size(ca);
  double *want = malloc(sizeof(double) * (size_t)(T * B * O));
  for (int t = 0; t < T; t++) {
    const double *o = deft_tensor_data(va[t]);
    for (int b = 0; b < B; b++)
      for (int j = 0; j < O; j++)
        want[time_major ? (t * B + b) * O + j : (b * T + t) * O + j] = o[b * O + j];
  }
  char what[64];
  snprintf(what, sizeof what, "%s%s%s outputs", kind_names[k], with_seq ? " seq" : "",
           time_major ? " time-major" : "");
  expect_close(vb[0], want, T * B * O, what);
  for (int i = 0; i < ns; i++) {
    snprintf(what, sizeof what, "%s%s state %d", kind_names[k], with_seq ? " seq" : "", i);
    expect_close(vb[1 + i], deft_tensor_data(va[T + i]), deft_tensor_num_elements(va[T + i]), what);
  }
  free(want);
  for (int i = 0; i < T + ns; i++) deft_tensor_free(va[i]);
  for (int i = 0; i < 1 + ns; i++) deft_tensor_free(vb[i]);
  for (int t = 0; t < T; t++) deft_tensor_free(xs[t]);
  if (time_major) deft_tensor_free(xfeed);
  deft_tensor_free(x);
  deft_session_free(sa);
  deft_session_free(sb);
  deft_status_free(st);
  deft_rnn_cell_free(ca);
  deft_rnn_cell_free(cb);
  deft_graph_free(ga);
  deft_graph_free(gb);
}

START_TEST(same_as_static_rnn) {
  compare_with_static((kind)_i, false, false);
  compare_with_static((kind)_i, true, false);
  compare_with_static((kind)_i, _i % 2 == 0, true);
}
END_TEST

START_TEST(tf_names) {
  deft_graph *g = deft_graph_new();
  deft_rnn_cell *c = deft_rnn_cell_basic(g, 4, NULL, NULL);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 7, 2), "x"), y;
  ck_assert(deft_dynamic_rnn(g, c, x, NULL, (deft_output){NULL, 0}, false, NULL, &y, NULL));
  const char *names[] = {"rnn/basic_rnn_cell/kernel",
                         "rnn/basic_rnn_cell/bias",
                         "rnn/transpose",
                         "rnn/TensorArray",
                         "rnn/TensorArray_1",
                         "rnn/while/Enter",
                         "rnn/while/Merge",
                         "rnn/while/Switch",
                         "rnn/while/Identity",
                         "rnn/while/LoopCond",
                         "rnn/while/NextIteration",
                         "rnn/while/Exit",
                         "rnn/while/TensorArrayReadV3",
                         "rnn/while/basic_rnn_cell/MatMul",
                         "rnn/transpose_1"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    ck_assert_msg(deft_graph_op_by_name(g, names[i]) != NULL, "no op '%s'", names[i]);
  deft_shape s = deft_output_shape(y);
  ck_assert_int_eq(s.rank, 3);
  ck_assert_int_eq(s.dims[2], 4);
  deft_rnn_cell_free(c);
  /* bidirectional */
  deft_rnn_cell *fw = deft_rnn_cell_basic(g, 4, NULL, NULL),
                *bw = deft_rnn_cell_basic(g, 3, NULL, NULL);
  deft_output of, ob, sf, sb;
  ck_assert_msg(deft_bidirectional_dynamic_rnn(g, fw, bw, x, (deft_output){NULL, 0}, false, NULL,
                                               &of, &ob, &sf, &sb),
                "%s", deft_status_message(deft_graph_status(g)));
  /* TF 1.x: variable scope bidirectional_rnn/fw, its ops in name scope bidirectional_rnn/fw/fw
   * (dynamic_rnn re-enters the fw scope object); no sequence_length: ReverseV2 on the time axis,
   * the output reversal outside bidirectional_rnn */
  const struct {
    const char *name, *type;
  } bn[] = {{"bidirectional_rnn/fw/basic_rnn_cell/kernel", "VariableV2"},
            {"bidirectional_rnn/fw/basic_rnn_cell/bias", "VariableV2"},
            {"bidirectional_rnn/bw/basic_rnn_cell/kernel", "VariableV2"},
            {"bidirectional_rnn/bw/basic_rnn_cell/bias", "VariableV2"},
            {"bidirectional_rnn/fw/fw/transpose", "Transpose"},
            {"bidirectional_rnn/fw/fw/BasicRNNCellZeroState/zeros", "Fill"},
            {"bidirectional_rnn/fw/fw/TensorArray_1", "TensorArrayV3"},
            {"bidirectional_rnn/fw/fw/while/LoopCond", "LoopCond"},
            {"bidirectional_rnn/fw/fw/while/basic_rnn_cell/MatMul", "MatMul"},
            {"bidirectional_rnn/fw/fw/transpose_1", "Transpose"},
            {"bidirectional_rnn/bw/ReverseV2", "ReverseV2"},
            {"bidirectional_rnn/bw/ReverseV2/axis", "Const"},
            {"bidirectional_rnn/bw/bw/transpose", "Transpose"},
            {"bidirectional_rnn/bw/bw/while/LoopCond", "LoopCond"},
            {"bidirectional_rnn/bw/bw/while/basic_rnn_cell/Tanh", "Tanh"},
            {"bidirectional_rnn/bw/bw/transpose_1", "Transpose"},
            {"ReverseV2", "ReverseV2"},
            {"ReverseV2/axis", "Const"}};
  for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) {
    deft_op *op = deft_graph_op_by_name(g, bn[i].name);
    ck_assert_msg(op != NULL, "no op '%s'", bn[i].name);
    ck_assert_str_eq(deft_op_type(op), bn[i].type);
  }
  const char *gone[] = {"bidirectional_rnn/fw/while/LoopCond", "bidirectional_rnn/ReverseSequence",
                        "bidirectional_rnn/bw/ReverseSequence", "bidirectional_rnn/bw/Fill",
                        "bidirectional_rnn/fw/bw/basic_rnn_cell/kernel"};
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
    ck_assert_msg(deft_graph_op_by_name(g, gone[i]) == NULL, "unexpected op '%s'", gone[i]);
  for (int k = 0; k < 2; k++) {
    deft_op *rv = deft_graph_op_by_name(g, k ? "ReverseV2" : "bidirectional_rnn/bw/ReverseV2");
    ck_assert_ptr_eq(deft_op_input(rv, 0).op,
                     deft_graph_op_by_name(g, k ? "bidirectional_rnn/bw/bw/transpose_1" : "x"));
    const deft_tensor *ax = NULL;
    ck_assert(deft_op_attr_tensor(deft_op_input(rv, 1).op, "value", &ax));
    ck_assert_int_eq(deft_tensor_num_elements(ax), 1);
    ck_assert_int_eq(*(const int32_t *)deft_tensor_data(ax), 1); /* batch-major: time is dim 1 */
  }
  ck_assert_ptr_eq(ob.op, deft_graph_op_by_name(g, "ReverseV2"));
  ck_assert_ptr_eq(of.op, deft_graph_op_by_name(g, "bidirectional_rnn/fw/fw/transpose_1"));
  deft_rnn_cell_free(fw);
  deft_rnn_cell_free(bw);
  /* with sequence lengths, time-major, a named scope: ReverseSequence(seq_dim 0, batch_dim 1) */
  fw = deft_rnn_cell_basic_lstm(g, 4, 1.0f, NULL, NULL);
  bw = deft_rnn_cell_basic_lstm(g, 3, 1.0f, NULL, NULL);
  deft_output xt = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(7, -1, 2), "xt");
  deft_output lens = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "lens");
  ck_assert_msg(
      deft_bidirectional_dynamic_rnn(g, fw, bw, xt, lens, true, "birnn", &of, &ob, NULL, NULL),
      "%s", deft_status_message(deft_graph_status(g)));
  const char *sn[] = {"birnn/fw/basic_lstm_cell/kernel", "birnn/bw/basic_lstm_cell/bias",
                      "birnn/fw/fw/sequence_length",     "birnn/fw/fw/while/basic_lstm_cell/MatMul",
                      "birnn/bw/bw/sequence_length",     "birnn/bw/bw/while/Select_1"};
  for (size_t i = 0; i < sizeof sn / sizeof sn[0]; i++)
    ck_assert_msg(deft_graph_op_by_name(g, sn[i]) != NULL, "no op '%s'", sn[i]);
  ck_assert(deft_graph_op_by_name(g, "birnn/fw/fw/transpose") == NULL); /* time-major */
  for (int k = 0; k < 2; k++) {
    deft_op *rs = deft_graph_op_by_name(g, k ? "ReverseSequence" : "birnn/bw/ReverseSequence");
    ck_assert_msg(rs != NULL, "no ReverseSequence %d", k);
    int64_t sd = -1, bd = -1;
    ck_assert(deft_op_attr_int(rs, "seq_dim", &sd) && deft_op_attr_int(rs, "batch_dim", &bd));
    ck_assert_int_eq(sd, 0);
    ck_assert_int_eq(bd, 1);
    ck_assert_ptr_eq(deft_op_input(rs, 1).op, lens.op);
  }
  ck_assert_ptr_eq(ob.op, deft_graph_op_by_name(g, "ReverseSequence"));
  deft_rnn_cell_free(fw);
  deft_rnn_cell_free(bw);
  /* errors */
  deft_rnn_cell *e = deft_rnn_cell_basic(g, 4, NULL, "e");
  deft_output x2 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 2), "x2");
  ck_assert(!deft_dynamic_rnn(g, e, x2, NULL, (deft_output){NULL, 0}, false, NULL, &y, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "dynamic_rnn", "x2", "[3,2]");
  deft_rnn_cell_free(e);
  deft_graph_free(g);
}
END_TEST

/* d(sum(w * outputs) + sum(v * final state))/d(x, kernel) by central differences. */
static void grad_check(kind k) {
  deft_graph *g = deft_graph_new();
  deft_rnn_cell *cell = make_cell(g, k);
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(B, T, I), "x"), y, fin[8];
  const int32_t lens[B] = {4, 2, 3};
  ck_assert_msg(deft_dynamic_rnn(g, cell, x, NULL, deft_const_int32_vector(g, lens, B, "lens"),
                                 false, NULL, &y, fin),
                "%s", deft_status_message(deft_graph_status(g)));
  int ns = deft_rnn_cell_state_count(cell);
  deft_tensor *w = rand_tensor(DEFT_SHAPE(B, T, deft_rnn_cell_output_size(cell)));
  deft_output terms[9];
  int nt = 0;
  terms[nt++] =
      deft_reduce_sum(g, deft_mul(g, y, deft_const(g, w, "w"), NULL), NULL, 0, false, NULL);
  deft_tensor_free(w);
  for (int i = 0; i < ns; i++) {
    deft_tensor *v = rand_tensor(DEFT_SHAPE(B, deft_rnn_cell_state_size(cell, i)));
    terms[nt++] =
        deft_reduce_sum(g, deft_mul(g, fin[i], deft_const(g, v, NULL), NULL), NULL, 0, false, NULL);
    deft_tensor_free(v);
  }
  deft_output loss = deft_add_n(g, terms, nt, "loss");
  deft_op *kernel = NULL;
  for (int i = 0; i < deft_graph_num_ops(g) && !kernel; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (deft_op_is_variable(op) && strstr(deft_op_name(op), "kernel")) kernel = op;
  }
  ck_assert_ptr_nonnull(kernel);
  deft_output xs[2] = {x, deft_op_output(kernel, 0)}, dx[2];
  ck_assert_msg(deft_gradients(g, &loss, 1, xs, 2, NULL, dx), "%s",
                deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_init(s, g);
  deft_tensor *xv = rand_tensor(DEFT_SHAPE(B, T, I));
  deft_tensor *kv = deft_session_variable_value(s, kernel, st);
  check_ok(kv != NULL, st);
  deft_tensor *an[2];
  check_ok(deft_session_run(s, &x, tu_feeds(&xv), 1, dx, an, 2, NULL, 0, st), st);
  const double h = 1e-5;
  for (int which = 0; which < 2; which++) {
    deft_tensor *p = which == 0 ? xv : kv;
    double *d = deft_tensor_data(p);
    int64_t n = deft_tensor_num_elements(p);
    for (int64_t e = 0; e < n; e += (n > 16 ? n / 16 : 1)) {
      double save = d[e], f[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        d[e] = save + (sgn ? -h : h);
        if (which == 1) check_ok(deft_session_set_variable(s, kernel, kv, st), st);
        deft_tensor *lv;
        check_ok(deft_session_run(s, &x, tu_feeds(&xv), 1, &loss, &lv, 1, NULL, 0, st), st);
        f[sgn] = *(double *)deft_tensor_data(lv);
        deft_tensor_free(lv);
      }
      d[e] = save;
      if (which == 1) check_ok(deft_session_set_variable(s, kernel, kv, st), st);
      double num = (f[0] - f[1]) / (2 * h), got = ((double *)deft_tensor_data(an[which]))[e];
      ck_assert_msg(fabs(num - got) <= 1e-6 * (1 + fabs(num)),
                    "%s: d loss / d %s[%lld]: analytic %.10g, numeric %.10g", kind_names[k],
                    which ? "kernel" : "x", (long long)e, got, num);
    }
  }
  deft_tensor_free(an[0]);
  deft_tensor_free(an[1]);
  deft_tensor_free(xv);
  deft_tensor_free(kv);
  deft_session_free(s);
  deft_status_free(st);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
}

START_TEST(gradients_through_dynamic_rnn) { grad_check((kind)_i); }
END_TEST

static deft_tensor *load_npy(const char *rel) {
  const char *p = tu_shared_path(rel);
  ck_assert_msg(p != NULL, "missing ../shared/%s", rel);
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(p, st);
  check_ok(t != NULL, st);
  deft_status_free(st);
  return t;
}

/* TF's chapter-14 time-series model rebuilt with dynamic_rnn, restored from TF's checkpoint. */
START_TEST(tf_checkpoint_restores) {
  TU_REQUIRE_SHARED(prefix, "tf1/rdcwuyy__handson-ml/my_time_series_model");
  char ckpt[1024];
  snprintf(ckpt, sizeof ckpt, "%s", prefix);
  deft_graph *g = deft_graph_new();
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 20, 1), "X"), outs;
  deft_rnn_cell *cell = deft_rnn_cell_basic(g, 100, "relu", NULL);
  ck_assert(deft_dynamic_rnn(g, cell, X, NULL, (deft_output){NULL, 0}, false, NULL, &outs, NULL));
  deft_output flat = deft_reshape_to(g, outs, (const int64_t[]){-1, 100}, 2, "Reshape");
  deft_output y = deft_dense(g, flat, 1, NULL, "dense");
  deft_output pred = deft_reshape_to(g, y, (const int64_t[]){-1, 20, 1}, 3, "Reshape_1");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_checkpoint_reader *r = deft_checkpoint_reader_open(ckpt, st);
  check_ok(r != NULL, st);
  const char *vars[] = {"rnn/basic_rnn_cell/kernel", "rnn/basic_rnn_cell/bias", "dense/kernel",
                        "dense/bias"};
  for (int i = 0; i < 4; i++) {
    deft_op *v = deft_graph_op_by_name(g, vars[i]);
    ck_assert_msg(v != NULL, "deft built no variable '%s'", vars[i]);
    deft_tensor *val = deft_checkpoint_reader_read(r, vars[i], st);
    check_ok(val != NULL, st);
    check_ok(deft_session_set_variable(s, v, val, st), st);
    deft_tensor_free(val);
  }
  deft_checkpoint_reader_free(r);
  deft_tensor *in =
      load_npy("tf1/rdcwuyy__handson-ml/inputs/ch14_time_series_batch50/Placeholder_0.npy");
  deft_tensor *want =
      load_npy("tf1/rdcwuyy__handson-ml/expected/ch14_time_series_batch50/Reshape_1_0.npy");
  deft_tensor *got;
  check_ok(deft_session_run(s, &X, tu_feeds(&in), 1, &pred, &got, 1, NULL, 0, st), st);
  ck_assert_int_eq(deft_tensor_num_elements(got), deft_tensor_num_elements(want));
  const float *gp = deft_tensor_data(got), *wp = deft_tensor_data(want);
  for (int64_t i = 0; i < deft_tensor_num_elements(got); i++)
    ck_assert_msg(fabs(gp[i] - wp[i]) <= 1e-4 * (1 + fabs(wp[i])), "[%lld]: got %g, want %g",
                  (long long)i, gp[i], wp[i]);
  deft_tensor_free(got);
  deft_tensor_free(want);
  deft_tensor_free(in);
  deft_session_free(s);
  deft_status_free(st);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
}
END_TEST

/* bidirectional_dynamic_rnn against two static_rnns with the same variables: the forward one on
 * x, the backward one on each row reversed within its length, its outputs reversed back. */
START_TEST(bidirectional_against_static) {
  /* _i == 1: no sequence lengths (ReverseV2 over the whole time axis; the reference is the same
   * with every length T) */
  const bool no_lens = _i == 1;
  const int32_t lens[B] = {4, no_lens ? 4 : 2, no_lens ? 4 : 3};
  deft_graph *ga = deft_graph_new(), *gb = deft_graph_new();
  deft_rnn_cell *fa = deft_rnn_cell_basic(ga, 4, NULL, NULL),
                *ba = deft_rnn_cell_gru(ga, 3, NULL, NULL);
  deft_rnn_cell *fb = deft_rnn_cell_basic(gb, 4, NULL, NULL),
                *bb = deft_rnn_cell_gru(gb, 3, NULL, NULL);
  deft_output sx[T], rx[T], of[T], orv[T];
  for (int t = 0; t < T; t++) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", t);
    sx[t] = deft_placeholder(ga, DEFT_DOUBLE, DEFT_SHAPE(B, I), nm);
    snprintf(nm, sizeof nm, "r%d", t);
    rx[t] = deft_placeholder(ga, DEFT_DOUBLE, DEFT_SHAPE(B, I), nm);
  }
  deft_output la = deft_const_int32_vector(ga, lens, B, "lens");
  ck_assert(deft_static_rnn(ga, fa, sx, T, NULL, la, "bidirectional_rnn/fw", of, NULL));
  ck_assert(deft_static_rnn(ga, ba, rx, T, NULL, la, "bidirectional_rnn/bw", orv, NULL));
  ck_assert_msg(deft_graph_ok(ga), "%s", deft_status_message(deft_graph_status(ga)));
  deft_output x = deft_placeholder(gb, DEFT_DOUBLE, DEFT_SHAPE(B, T, I), "x"), yf, yb;
  deft_output lb = no_lens ? (deft_output){NULL, 0} : deft_const_int32_vector(gb, lens, B, "lens");
  ck_assert(deft_bidirectional_dynamic_rnn(gb, fb, bb, x, lb, false, NULL, &yf, &yb, NULL, NULL));
  ck_assert_str_eq(deft_op_type(yb.op), no_lens ? "ReverseV2" : "ReverseSequence");
  deft_status *st = deft_status_new();
  deft_session *sa = deft_session_new(ga, st), *sb = deft_session_new(gb, st);
  run_init(sa, ga);
  run_init(sb, gb);
  share_variables(sa, ga, sb, gb);
  deft_tensor *xv = rand_tensor(DEFT_SHAPE(B, T, I)), *feeds[2 * T];
  const double *xp = deft_tensor_data(xv);
  for (int t = 0; t < T; t++) {
    feeds[t] = step_of(xv, t);
    feeds[T + t] = deft_tensor_new(DEFT_DOUBLE, (const int64_t[]){B, I}, 2, NULL);
    double *rp = deft_tensor_data(feeds[T + t]);
    for (int b = 0; b < B; b++) {
      int src = t < lens[b] ? lens[b] - 1 - t : t;
      for (int i = 0; i < I; i++) rp[b * I + i] = xp[(b * T + src) * I + i];
    }
  }
  deft_output fa_fetch[2 * T], fa_feed[2 * T];
  memcpy(fa_fetch, of, sizeof of);
  memcpy(fa_fetch + T, orv, sizeof orv);
  memcpy(fa_feed, sx, sizeof sx);
  memcpy(fa_feed + T, rx, sizeof rx);
  deft_tensor *va[2 * T], *vb[2];
  check_ok(deft_session_run(sa, fa_feed, tu_feeds(feeds), 2 * T, fa_fetch, va, 2 * T, NULL, 0, st),
           st);
  deft_output fb_fetch[2] = {yf, yb};
  check_ok(deft_session_run(sb, &x, tu_feeds(&xv), 1, fb_fetch, vb, 2, NULL, 0, st), st);
  double wf[B * T * 4], wb[B * T * 3];
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < 4; j++)
        wf[(b * T + t) * 4 + j] = ((double *)deft_tensor_data(va[t]))[b * 4 + j];
      /* the backward output at t is the reversed run's output at len - 1 - t (past the length:
       * zeros, as the reversed run outputs there) */
      int src = t < lens[b] ? lens[b] - 1 - t : t;
      for (int j = 0; j < 3; j++)
        wb[(b * T + t) * 3 + j] = ((double *)deft_tensor_data(va[T + src]))[b * 3 + j];
    }
  expect_close(vb[0], wf, B * T * 4, "bidirectional fw");
  expect_close(vb[1], wb, B * T * 3, "bidirectional bw");
  for (int i = 0; i < 2 * T; i++) deft_tensor_free(va[i]), deft_tensor_free(feeds[i]);
  deft_tensor_free(vb[0]);
  deft_tensor_free(vb[1]);
  deft_tensor_free(xv);
  deft_session_free(sa);
  deft_session_free(sb);
  deft_status_free(st);
  deft_rnn_cell_free(fa);
  deft_rnn_cell_free(ba);
  deft_rnn_cell_free(fb);
  deft_rnn_cell_free(bb);
  deft_graph_free(ga);
  deft_graph_free(gb);
}
END_TEST

/* A bidirectional model (with its gradient loops) built by code: "x" [-1, T, I] double, "outputs"
 * (the two directions concatenated), "dx" (d sum(outputs * w) / dx). */
static void build_bidirectional(deft_graph *g, deft_rnn_cell **cells, deft_output *x,
                                deft_output *fetch) {
  cells[0] = deft_rnn_cell_basic_lstm(g, 4, 1.0f, NULL, NULL);
  cells[1] = deft_rnn_cell_gru(g, 3, NULL, NULL);
  *x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(-1, T, I), "x");
  deft_output o[2];
  ck_assert(deft_bidirectional_dynamic_rnn(g, cells[0], cells[1], *x, (deft_output){NULL, 0}, false,
                                           NULL, &o[0], &o[1], NULL, NULL));
  fetch[0] = deft_concat(g, o, 2, deft_const_int32(g, 2, "concat/axis"), "outputs");
  deft_output w = deft_const_double(g, 0.5, "w");
  deft_output loss = deft_reduce_sum(g, deft_mul(g, fetch[0], w, NULL), NULL, 0, false, "loss");
  ck_assert(deft_gradients(g, &loss, 1, x, 1, NULL, &fetch[1]));
  fetch[1] = deft_identity(g, fetch[1], "dx");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

/* A deft-built bidirectional model saved (checkpoint + meta graph) gives the same outputs and
 * input gradients when the meta graph is imported and restored through its SaverDef, and when
 * the model is rebuilt by code and restored by variable names. */
START_TEST(bidirectional_meta_graph_round_trip) {
  deft_status *st = deft_status_new();
  deft_graph *ga = deft_graph_new();
  deft_rnn_cell *cells[2];
  deft_output x, fetch[2];
  build_bidirectional(ga, cells, &x, fetch);
  deft_session *sa = deft_session_new(ga, st);
  check_ok(sa != NULL, st);
  run_init(sa, ga);
  int nvars = 0;
  for (int i = 0; i < deft_graph_num_ops(ga); i++) {
    deft_op *op = deft_graph_op_at(ga, i);
    if (!deft_op_is_variable(op)) continue;
    deft_tensor *cur = deft_session_variable_value(sa, op, st);
    check_ok(cur != NULL, st);
    deft_tensor *r = rand_tensor(deft_tensor_shape(cur));
    check_ok(deft_session_set_variable(sa, op, r, st), st);
    deft_tensor_free(r);
    deft_tensor_free(cur);
    nvars++;
  }
  ck_assert_int_eq(nvars, 6); /* fw LSTM kernel+bias, bw GRU gates and candidate kernel+bias */
  deft_saver *sv = deft_saver_new(ga, NULL, 0, 0, st);
  check_ok(sv != NULL, st);
  char prefix[1024], meta[1040];
  snprintf(prefix, sizeof prefix, "%s/bidi.ckpt", tu_tmpdir());
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  check_ok(deft_saver_save(sv, sa, prefix, -1, NULL, st), st);
  check_ok(deft_saver_export_meta_graph(sv, meta, st), st);
  deft_tensor *xv = rand_tensor(DEFT_SHAPE(B, T, I)), *want[2];
  check_ok(deft_session_run(sa, &x, tu_feeds(&xv), 1, fetch, want, 2, NULL, 0, st), st);
  /* 1: the imported meta graph, restored with its own save/restore_all */
  deft_meta_graph_info *info = NULL;
  deft_graph *gi = deft_import_meta_graph(meta, NULL, &info, st);
  check_ok(gi != NULL, st);
  ck_assert(deft_meta_graph_info_has_saver(info));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(gi, "bidirectional_rnn/bw/bw/while/LoopCond"));
  deft_session *si = deft_session_new(gi, st);
  check_ok(si != NULL, st);
  deft_saver *svi = deft_saver_from_names(gi, deft_meta_graph_info_filename_tensor(info),
                                          deft_meta_graph_info_save_tensor(info),
                                          deft_meta_graph_info_restore_op(info), 0, st);
  check_ok(svi != NULL, st);
  check_ok(deft_saver_restore(svi, si, prefix, st), st);
  deft_output xi = {deft_graph_op_by_name(gi, "x"), 0};
  deft_output fi[2] = {{deft_graph_op_by_name(gi, "outputs"), 0},
                       {deft_graph_op_by_name(gi, "dx"), 0}};
  ck_assert(xi.op && fi[0].op && fi[1].op);
  deft_tensor *got[2];
  check_ok(deft_session_run(si, &xi, tu_feeds(&xv), 1, fi, got, 2, NULL, 0, st), st);
  expect_close(got[0], deft_tensor_data(want[0]), B * T * 7, "imported outputs");
  expect_close(got[1], deft_tensor_data(want[1]), B * T * I, "imported dx");
  deft_tensor_free(got[0]);
  deft_tensor_free(got[1]);
  /* 2: rebuilt by code, restored by variable names */
  deft_graph *gc = deft_graph_new();
  deft_rnn_cell *cc[2];
  deft_output xc, fc[2];
  build_bidirectional(gc, cc, &xc, fc);
  deft_session *sc = deft_session_new(gc, st);
  check_ok(sc != NULL, st);
  deft_saver *svc = deft_saver_new(gc, NULL, 0, 0, st);
  check_ok(svc != NULL, st);
  check_ok(deft_saver_restore(svc, sc, prefix, st), st);
  check_ok(deft_session_run(sc, &xc, tu_feeds(&xv), 1, fc, got, 2, NULL, 0, st), st);
  expect_close(got[0], deft_tensor_data(want[0]), B * T * 7, "rebuilt outputs");
  expect_close(got[1], deft_tensor_data(want[1]), B * T * I, "rebuilt dx");
  for (int i = 0; i < 2; i++) {
    deft_tensor_free(got[i]);
    deft_tensor_free(want[i]);
    deft_rnn_cell_free(cells[i]);
    deft_rnn_cell_free(cc[i]);
  }
  deft_tensor_free(xv);
  deft_saver_free(sv);
  deft_saver_free(svi);
  deft_saver_free(svc);
  deft_meta_graph_info_free(info);
  deft_session_free(sa);
  deft_session_free(si);
  deft_session_free(sc);
  deft_graph_free(ga);
  deft_graph_free(gi);
  deft_graph_free(gc);
  deft_status_free(st);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("rnn_dynamic");
  TCase *tc = tcase_create("dynamic");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, same_as_static_rnn, 0, K_COUNT);
  tcase_add_test(tc, tf_names);
  tcase_add_loop_test(tc, bidirectional_against_static, 0, 2);
  tcase_add_test(tc, bidirectional_meta_graph_round_trip);
  tcase_add_loop_test(tc, gradients_through_dynamic_rnn, 0, K_COUNT);
  tcase_add_test(tc, tf_checkpoint_restores);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
