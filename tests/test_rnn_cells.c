/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_rnn_cells.c - the RNN cells and static_rnn (deft/rnn.h): every cell's numbers
 * against an independent NumPy implementation of TF's formulas (with TF's variable names as the
 * file names it reads), gradients through the cells against central differences, TF's
 * chapter-14 checkpoint restored into a deft-built network and checked against the fixture's
 * expected outputs, and the build errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { T = 3, B = 2, I = 4 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*, uniform in [-1, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / 4503599627370496.0 - 1.0;
}

static deft_tensor *new_tensor(deft_dtype dt, deft_shape s) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return t;
}

static deft_tensor *rand_tensor(deft_shape s) {
  deft_tensor *t = new_tensor(DEFT_DOUBLE, s);
  ck_assert_ptr_nonnull(t);
  double *p = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) p[i] = urand();
  return t;
}

static void check_ok(bool ok, const deft_status *st) {
  ck_assert_msg(ok, "%s", st ? deft_status_message(st) : "");
}

static void write_npy(const char *dir, const char *name, const deft_tensor *t) {
  char path[1024], clean[512];
  snprintf(clean, sizeof clean, "%s", name);
  for (char *c = clean; *c; c++)
    if (*c == '/') *c = '@';
  snprintf(path, sizeof path, "%s/%s.npy", dir, clean);
  deft_status *st = deft_status_new();
  check_ok(deft_npy_write(path, t, st), st);
  deft_status_free(st);
}

typedef enum { K_BASIC, K_BASIC_LSTM, K_LSTM_FULL, K_GRU, K_MULTI, K_PROJ, K_DROPOUT } kind;
static const char *kind_names[] = {"basic", "basic_lstm", "lstm_full", "gru",
                                   "multi", "proj",       "dropout"};

static deft_rnn_cell *make_cell(deft_graph *g, kind k) {
  deft_lstm_options o = deft_lstm_options_default();
  switch (k) {
    case K_BASIC: return deft_rnn_cell_basic(g, 5, NULL, NULL);
    case K_BASIC_LSTM: return deft_rnn_cell_basic_lstm(g, 5, 0.5f, NULL, NULL);
    case K_LSTM_FULL:
      o.use_peepholes = true;
      o.cell_clip = 0.5f;
      o.num_proj = 3;
      o.proj_clip = 0.4f;
      return deft_rnn_cell_lstm(g, 5, &o, NULL);
    case K_GRU: return deft_rnn_cell_gru(g, 5, NULL, NULL);
    case K_MULTI: {
      deft_rnn_cell *cells[2] = {deft_rnn_cell_basic_lstm(g, 5, 1.0f, NULL, NULL),
                                 deft_rnn_cell_gru(g, 3, NULL, NULL)};
      return deft_rnn_cell_multi(g, cells, 2);
    }
    case K_PROJ:
      return deft_rnn_cell_output_projection(g, deft_rnn_cell_basic(g, 5, "relu", NULL), 3,
                                             NULL);
    case K_DROPOUT: {
      deft_output one = deft_const_double(g, 1.0, "keep_prob");
      return deft_rnn_cell_dropout(g, deft_rnn_cell_basic_lstm(g, 5, 0.5f, NULL, NULL), one, one,
                                   one, 7);
    }
  }
  return NULL;
}

/* The NumPy reference: TF's cell formulas, variables read by their TF names. */
static const char *REF_PY =
    "import sys, os, numpy as np\n"
    "d, kind, T = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "L = lambda n: np.load(os.path.join(d, n.replace('/', '@') + '.npy'))\n"
    "sig = lambda z: 1 / (1 + np.exp(-z))\n"
    "relu = lambda z: np.maximum(z, 0)\n"
    "def basic(p, act=np.tanh):\n"
    "    K, b = L(p + '/kernel'), L(p + '/bias')\n"
    "    def f(x, s): h = act(np.concatenate([x, s[0]], 1) @ K + b); return h, [h]\n"
    "    return f, [K.shape[1]]\n"
    "def basic_lstm(p, fb):\n"
    "    K, b = L(p + '/kernel'), L(p + '/bias'); n = K.shape[1] // 4\n"
    "    def f(x, s):\n"
    "        z = np.concatenate([x, s[1]], 1) @ K + b\n"
    "        i, j, g, o = np.split(z, 4, 1)\n"
    "        c = s[0] * sig(g + fb) + sig(i) * np.tanh(j); h = np.tanh(c) * sig(o)\n"
    "        return h, [c, h]\n"
    "    return f, [n, n]\n"
    "def lstm_full(p, fb, cclip, nproj, pclip):\n"
    "    K, b = L(p + '/kernel'), L(p + '/bias'); n = K.shape[1] // 4\n"
    "    wf, wi, wo = L(p + '/w_f_diag'), L(p + '/w_i_diag'), L(p + '/w_o_diag')\n"
    "    P = L(p + '/projection/kernel')\n"
    "    def f(x, s):\n"
    "        z = np.concatenate([x, s[1]], 1) @ K + b\n"
    "        i, j, g, o = np.split(z, 4, 1)\n"
    "        c = sig(g + fb + wf * s[0]) * s[0] + sig(i + wi * s[0]) * np.tanh(j)\n"
    "        c = np.clip(c, -cclip, cclip)\n"
    "        m = sig(o + wo * c) * np.tanh(c)\n"
    "        m = np.clip(m @ P, -pclip, pclip)\n"
    "        return m, [c, m]\n"
    "    return f, [n, nproj]\n"
    "def gru(p):\n"
    "    Kg, bg = L(p + '/gates/kernel'), L(p + '/gates/bias')\n"
    "    Kc, bc = L(p + '/candidate/kernel'), L(p + '/candidate/bias')\n"
    "    def f(x, s):\n"
    "        h = s[0]; r, u = np.split(sig(np.concatenate([x, h], 1) @ Kg + bg), 2, 1)\n"
    "        c = np.tanh(np.concatenate([x, r * h], 1) @ Kc + bc)\n"
    "        h = u * h + (1 - u) * c; return h, [h]\n"
    "    return f, [Kc.shape[1]]\n"
    "if kind == 'basic': step, sizes = basic('rnn/basic_rnn_cell')\n"
    "elif kind in ('basic_lstm', 'dropout'): step, sizes = basic_lstm('rnn/basic_lstm_cell', 0.5)\n"
    "elif kind == 'lstm_full': step, sizes = lstm_full('rnn/lstm_cell', 1.0, 0.5, 3, float(np.float32(0.4)))\n"
    "elif kind == 'gru': step, sizes = gru('rnn/gru_cell')\n"
    "elif kind == 'multi':\n"
    "    f0, s0 = basic_lstm('rnn/multi_rnn_cell/cell_0/basic_lstm_cell', 1.0)\n"
    "    f1, s1 = gru('rnn/multi_rnn_cell/cell_1/gru_cell')\n"
    "    def step(x, s):\n"
    "        y, a = f0(x, s[:2]); y, b2 = f1(y, s[2:]); return y, a + b2\n"
    "    sizes = s0 + s1\n"
    "elif kind == 'proj':\n"
    "    f0, sizes = basic('rnn/output_projection_wrapper/basic_rnn_cell', relu)\n"
    "    K, b = L('rnn/output_projection_wrapper/kernel'), L('rnn/output_projection_wrapper/bias')\n"
    "    def step(x, s): y, ns = f0(x, s); return y @ K + b, ns\n"
    "x = L('x'); seq = L('seq') if os.path.exists(os.path.join(d, 'seq.npy')) else None\n"
    "state = [np.zeros((x.shape[1], n)) for n in sizes]\n"
    "bad = 0\n"
    "for t in range(T):\n"
    "    y, ns = step(x[t], state)\n"
    "    if seq is not None:\n"
    "        done = (t >= seq)[:, None]\n"
    "        y = np.where(done, 0.0, y); ns = [np.where(done, a, b) for a, b in zip(state, ns)]\n"
    "    state = ns\n"
    "    got = L('out_%d' % t)\n"
    "    if not np.allclose(got, y, rtol=1e-9, atol=1e-10):\n"
    "        print(kind, 'output', t, 'differs by', np.abs(got - y).max()); bad = 1\n"
    "for i, s in enumerate(state):\n"
    "    got = L('state_%d' % i)\n"
    "    if not np.allclose(got, s, rtol=1e-9, atol=1e-10):\n"
    "        print(kind, 'state', i, 'differs by', np.abs(got - s).max()); bad = 1\n"
    "sys.exit(bad)\n";

/* Builds kind's static_rnn over T constant steps (float64), sets every variable to random
 * values, runs it, and has NumPy recompute it from the variables (by their TF names). */
static void run_against_numpy(kind k, bool with_seq) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 1);
  deft_rnn_cell *cell = make_cell(g, k);
  ck_assert_msg(cell != NULL, "%s", deft_status_message(deft_graph_status(g)));
  deft_tensor *x = rand_tensor(DEFT_SHAPE(T, B, I));
  deft_output steps[T];
  for (int t = 0; t < T; t++) {
    deft_tensor *xt = new_tensor(DEFT_DOUBLE, DEFT_SHAPE(B, I));
    memcpy(deft_tensor_data(xt), (double *)deft_tensor_data(x) + t * B * I,
           sizeof(double) * B * I);
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", t);
    steps[t] = deft_const(g, xt, nm);
    deft_tensor_free(xt);
  }
  deft_output seq = {NULL, 0};
  int32_t lens[B] = {3, 1};
  if (with_seq) seq = deft_const_int32_vector(g, lens, B, "lens");
  deft_output outs[T], fin[8];
  int ns = deft_rnn_cell_state_count(cell);
  ck_assert_int_le(ns, 8);
  bool ok = deft_static_rnn(g, cell, steps, T, NULL, seq, NULL, outs, fin);
  ck_assert_msg(ok, "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_int_eq(deft_rnn_cell_output_size(cell), deft_output_shape(outs[0]).dims[1]);
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  check_ok(s != NULL, st);
  check_ok(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), st);

  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s%s", tu_tmpdir(), kind_names[k], with_seq ? "_seq" : "");
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  int nvars = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!deft_op_is_variable(op)) continue;
    deft_tensor *cur = deft_session_variable_value(s, op, st);
    check_ok(cur != NULL, st);
    deft_tensor *r = rand_tensor(deft_tensor_shape(cur));
    check_ok(deft_session_set_variable(s, op, r, st), st);
    write_npy(dir, deft_op_name(op), r);
    deft_tensor_free(r);
    deft_tensor_free(cur);
    nvars++;
  }
  ck_assert_int_gt(nvars, 0);
  write_npy(dir, "x", x);
  if (with_seq) {
    deft_tensor *lt = new_tensor(DEFT_INT32, DEFT_SHAPE(B));
    memcpy(deft_tensor_data(lt), lens, sizeof lens);
    write_npy(dir, "seq", lt);
    deft_tensor_free(lt);
  }
  deft_output fetches[T + 8];
  deft_tensor *vals[T + 8];
  memcpy(fetches, outs, sizeof outs);
  memcpy(fetches + T, fin, (size_t)ns * sizeof *fin);
  check_ok(deft_session_run(s, NULL, NULL, 0, fetches, vals, T + ns, NULL, 0, st), st);
  for (int i = 0; i < T + ns; i++) {
    char nm[32];
    if (i < T) snprintf(nm, sizeof nm, "out_%d", i);
    else snprintf(nm, sizeof nm, "state_%d", i - T);
    write_npy(dir, nm, vals[i]);
    deft_tensor_free(vals[i]);
  }
  char tsteps[8];
  snprintf(tsteps, sizeof tsteps, "%d", T);
  const char *args[] = {dir, kind_names[k], tsteps, NULL};
  ck_assert_msg(tu_python(REF_PY, args) == 0, "%s: deft and NumPy differ", kind_names[k]);
  deft_session_free(s);
  deft_status_free(st);
  deft_tensor_free(x);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
}

START_TEST(test_cells_against_numpy) {
  ck_assert(tu_have_numpy());
  run_against_numpy((kind)_i, false);
  run_against_numpy((kind)_i, true);
}
END_TEST

/* Variable and op names are TF's: the second step re-enters the cell's name scope. */
START_TEST(test_names) {
  deft_graph *g = deft_graph_new();
  deft_rnn_cell *cells[2] = {deft_rnn_cell_basic_lstm(g, 4, 1.0f, NULL, NULL),
                             deft_rnn_cell_basic_lstm(g, 4, 1.0f, NULL, NULL)};
  deft_rnn_cell *m = deft_rnn_cell_multi(g, cells, 2);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x");
  deft_output in[2] = {x, x}, out[2];
  ck_assert(deft_static_rnn(g, m, in, 2, NULL, (deft_output){NULL, 0}, NULL, out, NULL));
  const char *want[] = {"rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
                        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
                        "rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel",
                        "rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias",
                        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/MatMul",
                        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/MatMul_1",
                        "rnn/MultiRNNCellZeroState/zeros"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    ck_assert_msg(deft_graph_op_by_name(g, want[i]) != NULL, "no op '%s'", want[i]);
  deft_op *k = deft_graph_op_by_name(g, want[0]);
  deft_shape ks = deft_output_shape(deft_op_output(k, 0));
  ck_assert_int_eq(ks.dims[0], 3 + 4);
  ck_assert_int_eq(ks.dims[1], 16);
  ck_assert_int_eq(deft_graph_num_ops(g) > 0, 1);
  /* Two cells of one kind in one scope get unique scopes, as TF's layers do. */
  deft_rnn_cell_free(m);
  deft_graph_free(g);
}
END_TEST

/* d(sum(w * last output) + sum(v * final states))/d(input, kernel) against central differences,
 * in float64, through a 2-step static_rnn of each gated cell. */
static void grad_check_cell(kind k) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 3);
  deft_rnn_cell *cell = make_cell(g, k);
  deft_output x0 = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(B, I), "x0");
  deft_output x1 = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(B, I), "x1");
  deft_output in[2] = {x0, x1}, out[2], fin[8];
  ck_assert(deft_static_rnn(g, cell, in, 2, NULL, (deft_output){NULL, 0}, NULL, out, fin));
  int ns = deft_rnn_cell_state_count(cell);
  deft_output terms[9];
  int nt = 0;
  deft_tensor *w = rand_tensor(deft_output_shape(out[1]));
  terms[nt++] = deft_reduce_sum(g, deft_mul(g, out[1], deft_const(g, w, "w"), NULL), NULL, 0,
                                false, NULL);
  deft_tensor_free(w);
  for (int i = 0; i < ns; i++) {
    deft_tensor *v = rand_tensor(DEFT_SHAPE(B, deft_rnn_cell_state_size(cell, i)));
    terms[nt++] = deft_reduce_sum(g, deft_mul(g, fin[i], deft_const(g, v, NULL), NULL), NULL,
                                  0, false, NULL);
    deft_tensor_free(v);
  }
  deft_output loss = deft_add_n(g, terms, nt, "loss");
  deft_op *kernel = NULL;
  for (int i = 0; i < deft_graph_num_ops(g) && !kernel; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (deft_op_is_variable(op) && strstr(deft_op_name(op), "kernel")) kernel = op;
  }
  ck_assert_ptr_nonnull(kernel);
  deft_output xs[2] = {x0, deft_op_output(kernel, 0)}, dx[2];
  ck_assert_msg(deft_gradients(g, &loss, 1, xs, 2, NULL, dx), "%s",
                deft_status_message(deft_graph_status(g)));
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  check_ok(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), st);
  deft_tensor *xv[2] = {rand_tensor(DEFT_SHAPE(B, I)), rand_tensor(DEFT_SHAPE(B, I))};
  deft_tensor *kv = deft_session_variable_value(s, kernel, st);
  check_ok(kv != NULL, st);
  deft_tensor *an[2];
  check_ok(deft_session_run(s, in, (const deft_tensor *const *)xv, 2, dx, an, 2, NULL, 0, st), st);
  const double h = 1e-5;
  for (int which = 0; which < 2; which++) {
    deft_tensor *p = which == 0 ? xv[0] : kv;
    double *d = deft_tensor_data(p);
    int64_t n = deft_tensor_num_elements(p);
    for (int64_t e = 0; e < n; e += (n > 12 ? n / 12 : 1)) {
      double save = d[e], f[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        d[e] = save + (sgn ? -h : h);
        if (which == 1) check_ok(deft_session_set_variable(s, kernel, kv, st), st);
        deft_tensor *lv;
        check_ok(deft_session_run(s, in, (const deft_tensor *const *)xv, 2, &loss, &lv, 1, NULL, 0, st), st);
        f[sgn] = *(double *)deft_tensor_data(lv);
        deft_tensor_free(lv);
      }
      d[e] = save;
      if (which == 1) check_ok(deft_session_set_variable(s, kernel, kv, st), st);
      double num = (f[0] - f[1]) / (2 * h), got = ((double *)deft_tensor_data(an[which]))[e];
      ck_assert_msg(fabs(num - got) <= 1e-6 * (1 + fabs(num)),
                    "%s: d loss / d %s[%lld]: analytic %.10g, numeric %.10g", kind_names[k],
                    which ? "kernel" : "x0", (long long)e, got, num);
    }
  }
  for (int i = 0; i < 2; i++) {
    deft_tensor_free(an[i]);
    deft_tensor_free(xv[i]);
  }
  deft_tensor_free(kv);
  deft_session_free(s);
  deft_status_free(st);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
}

START_TEST(test_gradients_through_cells) {
  const kind ks[] = {K_BASIC, K_BASIC_LSTM, K_LSTM_FULL, K_GRU, K_MULTI, K_PROJ};
  grad_check_cell(ks[_i]);
}
END_TEST

/* TF's chapter-14 time-series model (BasicRNNCell(100, relu) under "rnn", dense 1), rebuilt with
 * deft's cells and static_rnn, restored from TF's checkpoint by variable name, gives the
 * fixture's expected predictions and MSE. */
static deft_tensor *load_npy(const char *rel) {
  const char *p = tu_shared_path(rel);
  ck_assert_msg(p != NULL, "missing ../shared/%s", rel);
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(p, st);
  check_ok(t != NULL, st);
  deft_status_free(st);
  return t;
}

START_TEST(test_tf_time_series_checkpoint) {
  TU_REQUIRE_SHARED(prefix, "tf1/rdcwuyy__handson-ml/my_time_series_model");
  char ckpt[1024];
  snprintf(ckpt, sizeof ckpt, "%s", prefix);
  deft_graph *g = deft_graph_new();
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 20, 1), "X");
  deft_output Y = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 20, 1), "Y");
  deft_output steps[20], outs[20];
  for (int t = 0; t < 20; t++) {
    int32_t b[3] = {0, t, 0}, e[3] = {0, t + 1, 0}, s1[3] = {1, 1, 1};
    steps[t] = deft_strided_slice(g, X, deft_const_int32_vector(g, b, 3, NULL),
                                  deft_const_int32_vector(g, e, 3, NULL),
                                  deft_const_int32_vector(g, s1, 3, NULL), 5, 5, 0, 0, 2, NULL);
  }
  deft_rnn_cell *cell = deft_rnn_cell_basic(g, 100, "relu", NULL);
  ck_assert(deft_static_rnn(g, cell, steps, 20, NULL, (deft_output){NULL, 0}, NULL, outs, NULL));
  deft_output stacked = deft_pack(g, outs, 20, 1, "stack");
  deft_output flat = deft_reshape_to(g, stacked, (const int64_t[]){-1, 100}, 2, "Reshape");
  deft_output y = deft_dense(g, flat, 1, NULL, "dense");
  deft_output pred = deft_reshape_to(g, y, (const int64_t[]){-1, 20, 1}, 3, "Reshape_1");
  deft_output mse = deft_reduce_mean(g, deft_square(g, deft_sub(g, pred, Y, NULL), NULL), NULL, 0,
                                     false, "Mean");
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
    check_ok(deft_session_set_variable(s, v, val, st), st); /* shapes must match TF's */
    deft_tensor_free(val);
  }
  deft_checkpoint_reader_free(r);

  const char *cases[2] = {"ch14_time_series_instance", "ch14_time_series_batch50"};
  for (int c = 0; c < 2; c++) {
    char rel[256];
    snprintf(rel, sizeof rel, "tf1/rdcwuyy__handson-ml/inputs/%s/Placeholder_0.npy", cases[c]);
    deft_tensor *in = load_npy(rel);
    snprintf(rel, sizeof rel, "tf1/rdcwuyy__handson-ml/expected/%s/Reshape_1_0.npy", cases[c]);
    deft_tensor *want = load_npy(rel);
    deft_tensor *got;
    check_ok(deft_session_run(s, &X, (const deft_tensor *const *)&in, 1, &pred, &got, 1, NULL, 0, st), st);
    ck_assert_int_eq(deft_tensor_num_elements(got), deft_tensor_num_elements(want));
    const float *gp = deft_tensor_data(got), *wp = deft_tensor_data(want);
    for (int64_t i = 0; i < deft_tensor_num_elements(got); i++)
      ck_assert_msg(fabs(gp[i] - wp[i]) <= 1e-4 * (1 + fabs(wp[i])), "%s[%lld]: got %g, want %g",
                    cases[c], (long long)i, gp[i], wp[i]);
    if (c == 1) {
      deft_tensor *tgt = load_npy("tf1/rdcwuyy__handson-ml/inputs/ch14_time_series_batch50/"
                                  "Placeholder_1_0.npy");
      deft_output feeds[2] = {X, Y};
      deft_tensor *fv[2] = {in, tgt}, *m;
      check_ok(deft_session_run(s, feeds, (const deft_tensor *const *)fv, 2, &mse, &m, 1, NULL, 0, st), st);
      float mv = *(float *)deft_tensor_data(m);
      ck_assert_msg(fabs(mv - 0.0545913) <= 1e-4 * (1 + 0.0545913), "MSE %g, want 0.0545913", mv);
      deft_tensor_free(m);
      deft_tensor_free(tgt);
    }
    deft_tensor_free(got);
    deft_tensor_free(want);
    deft_tensor_free(in);
  }
  deft_session_free(s);
  deft_status_free(st);
  deft_rnn_cell_free(cell);
  deft_graph_free(g);
}
END_TEST

START_TEST(test_errors) {
  deft_graph *g = deft_graph_new();
  ck_assert_ptr_null(deft_rnn_cell_basic(g, 0, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BasicRNNCell", "num_units");
  deft_graph_clear_error(g);

  ck_assert_ptr_null(deft_rnn_cell_multi(g, NULL, 0));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "MultiRNNCell");
  deft_graph_clear_error(g);

  ck_assert_ptr_null(deft_rnn_cell_output_projection(g, deft_rnn_cell_gru(g, 2, NULL, NULL), 0,
                                                     NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "output_size");
  deft_graph_clear_error(g);

  /* A rank-3 input; then an input width that differs from the first call's. */
  deft_rnn_cell *c = deft_rnn_cell_gru(g, 3, NULL, "mygru");
  deft_output x3 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 2, 2), "x3");
  deft_output st3[1] = {deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "h")}, o, ns[1];
  ck_assert(!deft_rnn_cell_call(c, x3, st3, &o, ns));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "GRUCell", "mygru", "x3");
  deft_graph_clear_error(g);
  deft_output xa = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 4), "xa");
  deft_output xb = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5), "xb");
  ck_assert(deft_rnn_cell_call(c, xa, st3, &o, ns));
  ck_assert(!deft_rnn_cell_call(c, xb, st3, &o, ns));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "mygru", "5 features", "4");
  deft_graph_clear_error(g);

  /* A state of the wrong width names the state tensor. */
  deft_output bad[1] = {deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 7), "hbad")};
  ck_assert(!deft_rnn_cell_call(c, xa, bad, &o, ns));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "state tensor 0", "hbad",
                   "[batch, 3]");
  deft_graph_clear_error(g);

  /* Integer zero state; a static_rnn with no inputs. */
  deft_output bs = deft_const_int32(g, 2, "bs");
  deft_output zs[1];
  ck_assert(!deft_rnn_cell_zero_state(c, bs, DEFT_INT32, zs));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "zero_state", "float");
  deft_graph_clear_error(g);
  ck_assert(!deft_static_rnn(g, c, &xa, 0, NULL, (deft_output){NULL, 0}, NULL, &o, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "static_rnn");
  deft_graph_clear_error(g);

  deft_rnn_cell_free(c);
  deft_graph_free(g);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("rnn_cells");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_cells_against_numpy, 0, 7);
  tcase_add_test(tc, test_names);
  tcase_add_loop_test(tc, test_gradients_through_cells, 0, 6);
  tcase_add_test(tc, test_tf_time_series_checkpoint);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
