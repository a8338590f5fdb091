/* tests/test_perf_invariants.c - what the performance work must not break, and what it
 * promises: training with one thread is bit-identical run to run; a steady-state training step
 * allocates nothing; a pure op that only control edges reach (the input layer's dX in TF's
 * gradient tuples) is not computed, while its deadness still propagates; the vectorized
 * float32 activation kernels round exactly as double evaluation does (checked against NumPy).
 * No test here measures time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/session_internal.h"
#include "testutil.h"

/* ---- a small version of the chapter's batch-norm network ---- */

typedef struct net {
  deft_graph *g;
  deft_session *s;
  deft_output X, y, training, logits;
  deft_op *targets[8];
  int ntargets;
  deft_tensor *xb, *yb, *yes;
  deft_status *st;
} net;

enum { ROWS = 64, IN = 20, H1 = 16, H2 = 12, CLASSES = 5 };

static void net_build(net *m, int threads) {
  memset(m, 0, sizeof *m);
  deft_graph *g = m->g = deft_graph_new();
  ck_assert_ptr_nonnull(g);
  deft_graph_set_seed(g, 7);
  int64_t xd[2] = {-1, IN}, yd[1] = {-1};
  m->X = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "X");
  m->y = deft_placeholder(g, DEFT_INT32, deft_shape_make(1, yd), "y");
  m->training = deft_placeholder_with_default(g, deft_const_bool(g, false, "training/input"),
                                              deft_shape_make(0, NULL), "training");
  deft_dense_options lin = {.kernel_initializer =
                                deft_init_variance_scaling(1.0, DEFT_FAN_IN,
                                                           DEFT_DIST_TRUNCATED_NORMAL, 0)};
  deft_batch_norm_options bn = {.momentum = 0.9};
  deft_output h = deft_dense(g, m->X, H1, &lin, "hidden1");
  h = deft_elu(g, deft_batch_normalization(g, h, m->training, &bn, NULL), NULL);
  h = deft_dense(g, h, H2, &lin, "hidden2");
  h = deft_elu(g, deft_batch_normalization(g, h, m->training, &bn, NULL), NULL);
  h = deft_dense(g, h, CLASSES, &lin, "outputs");
  m->logits = deft_batch_normalization(g, h, m->training, &bn, NULL);
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, m->logits, m->y, NULL);
  deft_output loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.05f);
  deft_op *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL);
  deft_optimizer_free(opt);
  deft_op *init = deft_global_variables_initializer(g, "init");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  m->targets[m->ntargets++] = train;
  deft_output upd[6];
  deft_status *st = deft_status_new();
  int n = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 6, st);
  ck_assert_int_eq(n, 6);
  for (int i = 0; i < n; i++) m->targets[m->ntargets++] = upd[i].op;
  m->s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(m->s);
  deft_session_set_threads(m->s, threads);
  ck_assert(deft_session_run(m->s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  /* A fixed batch from a small LCG: values with exact zeros, as images have. */
  int64_t bd[2] = {ROWS, IN}, ld[1] = {ROWS};
  m->xb = deft_tensor_new(DEFT_FLOAT, bd, 2, st);
  m->yb = deft_tensor_new(DEFT_INT32, ld, 1, st);
  m->yes = deft_tensor_scalar_bool(true);
  ck_assert(m->xb && m->yb && m->yes);
  uint32_t r = 12345;
  float *xp = deft_tensor_data(m->xb);
  int32_t *yp = deft_tensor_data(m->yb);
  for (int i = 0; i < ROWS * IN; i++) {
    r = r * 1664525u + 1013904223u;
    xp[i] = (r >> 24) < 128 ? 0.0f : (float)(r >> 8) / 16777216.0f;
  }
  for (int i = 0; i < ROWS; i++) {
    r = r * 1664525u + 1013904223u;
    yp[i] = (int32_t)((r >> 16) % CLASSES);
  }
  m->st = st;
}

static void net_step(net *m) {
  deft_output feeds[3] = {m->X, m->y, m->training};
  deft_tensor *vals[3] = {m->xb, m->yb, m->yes};
  bool ok = deft_session_run(m->s, feeds, vals, 3, NULL, NULL, 0, m->targets, m->ntargets, m->st);
  ck_assert_msg(ok, "training step: %s", deft_status_message(m->st));
}

static void net_free(net *m) {
  deft_status_free(m->st);
  deft_tensor_free(m->xb);
  deft_tensor_free(m->yb);
  deft_tensor_free(m->yes);
  deft_session_free(m->s);
  deft_graph_free(m->g);
}

START_TEST(one_thread_training_is_bit_identical) {
  net a, b;
  net_build(&a, 1);
  net_build(&b, 1);
  for (int i = 0; i < 25; i++) {
    net_step(&a);
    net_step(&b);
  }
  deft_output vars[32];
  deft_status *st = deft_status_new();
  int n = deft_graph_get_collection(a.g, DEFT_GLOBAL_VARIABLES, NULL, vars, 32, st);
  ck_assert_int_eq(n, 18); /* 3 x (kernel, bias, gamma, beta, moving mean, moving variance) */
  for (int i = 0; i < n; i++) {
    const char *name = deft_op_name(vars[i].op);
    deft_op *other = deft_graph_op_by_name(b.g, name);
    ck_assert_ptr_nonnull(other);
    deft_tensor *va = deft_session_variable_value(a.s, vars[i].op, st);
    deft_tensor *vb = deft_session_variable_value(b.s, other, st);
    ck_assert(va && vb);
    ck_assert_uint_eq(deft_tensor_nbytes(va), deft_tensor_nbytes(vb));
    ck_assert_msg(memcmp(deft_tensor_data(va), deft_tensor_data(vb), deft_tensor_nbytes(va)) == 0,
                  "variable %s differs between two identical runs", name);
    /* and it trained: the moving statistics and weights moved away from their init */
    deft_tensor_free(va);
    deft_tensor_free(vb);
  }
  deft_status_free(st);
  net_free(&a);
  net_free(&b);
}
END_TEST

static void check_no_allocations(int threads) {
  net m;
  net_build(&m, threads);
  for (int i = 0; i < 3; i++) net_step(&m); /* plans built, buffers sized */
  deft_alloc_fail_after(-1);
  net_step(&m);
  long made = deft_alloc_fail_after(-1);
  ck_assert_msg(made == 0, "a steady-state training step (%d thread%s) made %ld allocations",
                threads, threads == 1 ? "" : "s", made);
  net_free(&m);
}

START_TEST(steady_state_step_allocates_nothing) {
  check_no_allocations(1);
  check_no_allocations(2);
}
END_TEST

/* ---- elision of pure ops reached only through control edges ---- */

static const deft_step *step_of(deft_session *s, const deft_op *op) {
  const deft_plan *p = s->last;
  ck_assert_ptr_nonnull(p);
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i].op == op) return &p->steps[i];
  return NULL;
}

START_TEST(input_layer_dx_is_not_computed) {
  net m;
  net_build(&m, 1);
  net_step(&m);
  /* TF's MatMul gradient tuple groups dX and dW; dX of the input layer feeds nothing. */
  deft_op *dx = deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/MatMul");
  deft_op *dw = deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/MatMul_1");
  deft_op *dx2 = deft_graph_op_by_name(m.g, "gradients/hidden2/MatMul_grad/MatMul");
  ck_assert(dx && dw && dx2);
  ck_assert_ptr_nonnull(deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/tuple/group_deps"));
  const deft_step *sx = step_of(m.s, dx), *sw = step_of(m.s, dw), *sx2 = step_of(m.s, dx2);
  ck_assert(sx && sw && sx2);
  ck_assert(sx->elided);
  ck_assert(!sw->elided);
  ck_assert(!sx2->elided);
  net_free(&m);
}
END_TEST

/* out = Identity(x) after NoOp(ctrl: Neg(Switch(x, pred):1)). The Neg is elided, yet with
 * pred false its deadness still kills the NoOp and so the fetch; with pred true all runs. */
START_TEST(elided_op_still_propagates_deadness) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "x");
  deft_output pred = deft_placeholder(g, DEFT_BOOL, deft_shape_make(0, NULL), "pred");
  deft_output sw = deft_switch(g, x, pred, "sw");
  deft_output neg = deft_neg(g, deft_op_output(sw.op, 1), "neg");
  deft_op *noop = deft_group(g, &neg.op, 1, "after_neg");
  deft_graph_push_control_deps(g, &noop, 1);
  deft_output out = deft_identity(g, x, "out");
  deft_graph_pop_control_deps(g);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_scalar_float(3.0f);
  deft_tensor *pv[2] = {deft_tensor_scalar_bool(true), deft_tensor_scalar_bool(false)};
  deft_output feeds[2] = {x, pred};
  for (int k = 0; k < 2; k++) {
    deft_tensor *vals[2] = {xv, pv[k]}, *res = NULL;
    bool ok = deft_session_run(s, feeds, vals, 2, &out, &res, 1, NULL, 0, st);
    ck_assert(step_of(s, neg.op)->elided);
    if (k == 0) {
      ck_assert_msg(ok, "%s", deft_status_message(st));
      ck_assert_float_eq(*(float *)deft_tensor_data(res), 3.0f);
    } else {
      ck_assert(!ok);
      TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "out", "dead");
    }
    deft_tensor_free(res);
  }
  deft_tensor_free(xv);
  deft_tensor_free(pv[0]);
  deft_tensor_free(pv[1]);
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

/* A fetched pure op is computed even when it is also a control input. */
START_TEST(fetched_op_is_not_elided) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "x");
  deft_output neg = deft_neg(g, x, "neg");
  deft_op *noop = deft_group(g, &neg.op, 1, "after_neg");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_scalar_float(2.5f), *res = NULL;
  ck_assert(deft_session_run(s, &x, &xv, 1, &neg, &res, 1, &noop, 1, st));
  ck_assert(!step_of(s, neg.op)->elided);
  ck_assert_float_eq(*(float *)deft_tensor_data(res), -2.5f);
  deft_tensor_free(res);
  deft_tensor_free(xv);
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

/* ---- float32 activation kernels against NumPy (float64 evaluation rounded once) ---- */

START_TEST(float_activations_round_as_numpy) {
  if (!tu_have_numpy()) return;
  /* Negative floats from -0 to about -60 by bit pattern, plus edge cases and positives. */
  enum { N = 200000 };
  int64_t d[1] = {N};
  deft_status *st = deft_status_new();
  deft_tensor *xt = deft_tensor_new(DEFT_FLOAT, d, 1, st), *gt = deft_tensor_new(DEFT_FLOAT, d, 1, st);
  float *x = deft_tensor_data(xt), *gr = deft_tensor_data(gt);
  const float edge[] = {-INFINITY, INFINITY, NAN, 0.0f, -0.0f, 1e-45f, -1e-45f, -1e-38f,
                        -17.32868f, -17.33f, -40.0f, -40.0001f, -88.7f, 3.0f, 1e30f, -1e30f,
                        -1e-8f, -0.3465736f, -0.3465737f, -0.6931472f};
  int ne = (int)(sizeof edge / sizeof edge[0]);
  uint32_t lo = 0x80000000u, hi = 0xC2700000u, stride = (hi - lo) / (uint32_t)(N - ne);
  for (int i = 0; i < N - ne; i++) {
    uint32_t b = lo + (uint32_t)i * stride;
    memcpy(&x[i], &b, sizeof b);
  }
  memcpy(x + N - ne, edge, sizeof edge);
  for (int i = 0; i < N; i++) gr[i] = (float)((i * 37) % 101 - 50) / 7.0f;
  deft_graph *g = deft_graph_new();
  int64_t pd[1] = {-1};
  deft_output px = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(1, pd), "x");
  deft_output pg = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(1, pd), "g");
  deft_output elu = deft_elu(g, px, NULL), selu = deft_selu(g, px, NULL);
  deft_output f[4] = {elu, selu, deft_elu_grad(g, pg, elu, NULL), deft_selu_grad(g, pg, selu, NULL)};
  deft_session *s = deft_session_new(g, st);
  deft_tensor *out[4];
  deft_output feeds[2] = {px, pg};
  deft_tensor *vals[2] = {xt, gt};
  ck_assert_msg(deft_session_run(s, feeds, vals, 2, f, out, 4, NULL, 0, st), "%s",
                deft_status_message(st));
  char path[4][512], xin[512], gin[512];
  snprintf(xin, sizeof xin, "%s/act_x.f32", tu_tmpdir());
  snprintf(gin, sizeof gin, "%s/act_g.f32", tu_tmpdir());
  FILE *fx = fopen(xin, "wb"), *fg = fopen(gin, "wb");
  ck_assert(fx && fg);
  ck_assert_uint_eq(fwrite(x, sizeof(float), N, fx), N);
  ck_assert_uint_eq(fwrite(gr, sizeof(float), N, fg), N);
  fclose(fx);
  fclose(fg);
  for (int k = 0; k < 4; k++) {
    snprintf(path[k], sizeof path[k], "%s/act_out%d.f32", tu_tmpdir(), k);
    FILE *fo = fopen(path[k], "wb");
    ck_assert_ptr_nonnull(fo);
    ck_assert_uint_eq(fwrite(deft_tensor_data(out[k]), sizeof(float), N, fo), N);
    fclose(fo);
  }
  const char *script =
      "import sys\nimport numpy as np\n"
      "x = np.fromfile(sys.argv[1], dtype='<f4'); g = np.fromfile(sys.argv[2], dtype='<f4')\n"
      "S, A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717\n"
      "with np.errstate(all='ignore'):\n"
      "    xd, gd = x.astype(np.float64), g.astype(np.float64)\n"
      "    elu = np.where(xd < 0, np.expm1(xd), xd).astype(np.float32)\n"
      "    selu = np.where(xd < 0, (S * A) * np.expm1(xd), S * xd).astype(np.float32)\n"
      "    ed, sd = elu.astype(np.float64), selu.astype(np.float64)\n"
      "    eg = np.where(ed < 0, gd * (ed + 1), gd).astype(np.float32)\n"
      "    sg = np.where(sd < 0, gd * (sd + S * A), gd * S).astype(np.float32)\n"
      "bad = 0\n"
      "for k, want in enumerate([elu, selu, eg, sg]):\n"
      "    got = np.fromfile(sys.argv[3 + k], dtype='<f4')\n"
      "    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))\n"
      "    if not same.all():\n"
      "        i = np.flatnonzero(~same)\n"
      "        print('output %d: %d mismatches, e.g. x=%r got %r want %r' % (k, i.size, x[i[0]], got[i[0]], want[i[0]]))\n"
      "        bad += 1\n"
      "sys.exit(1 if bad else 0)\n";
  const char *args[] = {xin, gin, path[0], path[1], path[2], path[3], NULL};
  ck_assert_msg(tu_python(script, args) == 0, "float activations differ from NumPy");
  for (int k = 0; k < 4; k++) deft_tensor_free(out[k]);
  deft_tensor_free(xt);
  deft_tensor_free(gt);
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("perf_invariants");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, one_thread_training_is_bit_identical);
  tcase_add_test(tc, steady_state_step_allocates_nothing);
  tcase_add_test(tc, input_layer_dx_is_not_computed);
  tcase_add_test(tc, elided_op_still_propagates_deadness);
  tcase_add_test(tc, fetched_op_is_not_elided);
  tcase_add_test(tc, float_activations_round_as_numpy);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
