/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_perf_invariants.c - what the performance work must not break, and what it
 * promises: training with one thread is bit-identical run to run; a steady-state training step
 * allocates nothing; a pure op that only control edges reach (the input layer's dX in TF's
 * gradient tuples) is not computed, while its deadness still propagates; the vectorized
 * float32 activation kernels round exactly as double evaluation does (checked against NumPy).
 * No test here measures time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/math_internal.h"
#include "ops/sgemm.h"
#include "base/alloc.h"
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
  bool ok = deft_session_run(m->s, feeds, tu_feeds(vals), 3, NULL, NULL, 0, m->targets, m->ntargets,
                             m->st);
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

/* Dense float32 products keep no memory per step: their packing workspaces are one block the
 * plan's steps share (deft_kernel_shared_scratch), so a deep stack of layers does not hold one
 * workspace per MatMul. */
START_TEST(dense_matmuls_share_one_workspace) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(96, 80), "x");
  deft_tensor *w = deft_tensor_new(DEFT_FLOAT, (int64_t[]){80, 80}, 2, NULL);
  for (int i = 0; i < 80 * 80; i++) ((float *)deft_tensor_data(w))[i] = (float)(i % 7) * 0.01f;
  deft_output h = x, wc = deft_const(g, w, "w");
  deft_op *mm[4];
  for (int l = 0; l < 4; l++) {
    h = deft_matmul(g, h, wc, false, false, NULL);
    mm[l] = h.op;
  }
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, (int64_t[]){96, 80}, 2, NULL), *out = NULL;
  for (int i = 0; i < 96 * 80; i++) ((float *)deft_tensor_data(xv))[i] = (float)(i % 11) * 0.1f;
  for (int t = 1; t <= 2; t++) {
    deft_session_set_threads(s, t);
    ck_assert_msg(deft_session_run(s, &x, tu_feeds(&xv), 1, &h, &out, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    deft_tensor_free(out);
    for (int l = 0; l < 4; l++) ck_assert_ptr_null(step_of(s, mm[l])->scratch);
    if (deft_sgemm_packs()) /* one block, shared by the four steps */
      ck_assert(s->last->shared_scratch &&
                s->last->shared_scratch_size >= deft_sgemm_workspace_bytes());
  }
  deft_tensor_free(xv);
  deft_tensor_free(w);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(input_layer_dx_is_not_computed) {
  net m;
  net_build(&m, 1);
  net_step(&m);
  /* TF's MatMul gradient tuple groups dX and dW; dX of the input layer feeds nothing. */
  deft_op *dx = deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/MatMul");
  deft_op *dw = deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/MatMul_1");
  deft_op *dx2 = deft_graph_op_by_name(m.g, "gradients/hidden2/MatMul_grad/MatMul");
  ck_assert(dx && dw && dx2);
  ck_assert_ptr_nonnull(
      deft_graph_op_by_name(m.g, "gradients/hidden1/MatMul_grad/tuple/group_deps"));
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
    bool ok = deft_session_run(s, feeds, tu_feeds(vals), 2, &out, &res, 1, NULL, 0, st);
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
  ck_assert(
      deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &neg, &res, 1, &noop, 1, st));
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
  deft_tensor *xt = deft_tensor_new(DEFT_FLOAT, d, 1, st),
              *gt = deft_tensor_new(DEFT_FLOAT, d, 1, st);
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
  deft_output f[4] = {elu, selu, deft_elu_grad(g, pg, elu, NULL),
                      deft_selu_grad(g, pg, selu, NULL)};
  deft_session *s = deft_session_new(g, st);
  deft_tensor *out[4];
  deft_output feeds[2] = {px, pg};
  deft_tensor *vals[2] = {xt, gt};
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 2, f, out, 4, NULL, 0, st), "%s",
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
      "    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & "
      "np.isnan(want))\n"
      "    if not same.all():\n"
      "        i = np.flatnonzero(~same)\n"
      "        print('output %d: %d mismatches, e.g. x=%r got %r want %r' % (k, i.size, x[i[0]], "
      "got[i[0]], want[i[0]]))\n"
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


/* ---- MatMul with a mostly-zero left operand (ops/matmul_sparse.c) ---- */

static void write_f32(const char *path, const float *x, int64_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq((int64_t)fwrite(x, sizeof(float), (size_t)n, f), n);
  fclose(f);
}

/* Runs MatMul(a, b, transpose_a) with `threads`; returns the product and whether the sparse
 * path ran (it alone asks for scratch memory). */
static deft_tensor *run_matmul(const deft_tensor *a, const deft_tensor *b, bool ta, int threads,
                               bool *sparse) {
  deft_graph *g = deft_graph_new();
  int64_t unk[2] = {-1, -1};
  deft_output pa = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, unk), "a");
  deft_output pb = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, unk), "b");
  deft_output mm = deft_matmul(g, pa, pb, ta, false, "mm");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_session_set_threads(s, threads);
  deft_output feeds[2] = {pa, pb};
  deft_tensor *vals[2] = {(deft_tensor *)a, (deft_tensor *)b}, *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 2, &mm, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  /* Only the sparse path keeps memory in the step's scratch (its compressed rows); the dense
   * path's packing workspaces are the plan's shared scratch. */
  *sparse = step_of(s, mm.op)->scratch != NULL;
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
  return out;
}

/* A [rows, cols] float tensor: each element nonzero with probability `density` (LCG), row
 * `zero_row` (if >= 0) all zeros. */
static deft_tensor *sparse_tensor(int64_t rows, int64_t cols, double density, int64_t zero_row,
                                  uint32_t seed) {
  int64_t d[2] = {rows, cols};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, d, 2, NULL);
  float *p = deft_tensor_data(t);
  for (int64_t i = 0; i < rows * cols; i++) {
    seed = seed * 1664525u + 1013904223u;
    bool nz = (seed >> 8) % 10000 < (uint32_t)(density * 10000) && i / cols != zero_row;
    p[i] = nz ? (float)((seed >> 20) % 255 + 1) / 255.0f : 0.0f;
  }
  return t;
}

START_TEST(sparse_matmul_matches_numpy) {
  if (!tu_have_numpy()) return;
  static const struct {
    int64_t m, k, n;
    bool ta;
  } cases[] = {{8, 40, 8, false},   {37, 100, 13, false}, {64, 784, 300, false},
               {9, 16, 70, false},  {8, 40, 8, true},     {37, 100, 13, true},
               {64, 784, 300, true}, {29, 64, 129, true}};
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    int64_t m = cases[ci].m, k = cases[ci].k, n = cases[ci].n;
    bool ta = cases[ci].ta;
    deft_tensor *a = ta ? sparse_tensor(k, m, 0.15, 1, 11u + (uint32_t)ci)
                        : sparse_tensor(m, k, 0.15, 1, 11u + (uint32_t)ci);
    int64_t bd[2] = {k, n};
    deft_tensor *b = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
    float *bp = deft_tensor_data(b);
    for (int64_t i = 0; i < k * n; i++) bp[i] = (float)((i * 7919) % 2001 - 1000) / 997.0f;
    bool sp1, sp2, sp3;
    deft_tensor *c1 = run_matmul(a, b, ta, 1, &sp1), *c2 = run_matmul(a, b, ta, 2, &sp2);
    deft_math_sparse_force_avx2(true);
    deft_tensor *c3 = run_matmul(a, b, ta, 1, &sp3);
    deft_math_sparse_force_avx2(false);
    ck_assert_msg(sp1 && sp2 && sp3, "case %zu did not take the sparse path", ci);
    /* One thread or two, 8 or 16 lanes: every element gets the same fused multiply-adds in
     * the same order. */
    ck_assert(memcmp(deft_tensor_data(c1), deft_tensor_data(c2), deft_tensor_nbytes(c1)) == 0);
    ck_assert(memcmp(deft_tensor_data(c1), deft_tensor_data(c3), deft_tensor_nbytes(c1)) == 0);
    deft_tensor_free(c3);
    char pa[512], pb[512], pc[512];
    snprintf(pa, sizeof pa, "%s/spmm_a.f32", tu_tmpdir());
    snprintf(pb, sizeof pb, "%s/spmm_b.f32", tu_tmpdir());
    snprintf(pc, sizeof pc, "%s/spmm_c.f32", tu_tmpdir());
    write_f32(pa, deft_tensor_data(a), deft_tensor_num_elements(a));
    write_f32(pb, bp, k * n);
    write_f32(pc, deft_tensor_data(c1), m * n);
    char dims[4][32];
    snprintf(dims[0], sizeof dims[0], "%lld", (long long)m);
    snprintf(dims[1], sizeof dims[1], "%lld", (long long)k);
    snprintf(dims[2], sizeof dims[2], "%lld", (long long)n);
    snprintf(dims[3], sizeof dims[3], "%d", ta);
    const char *script =
        "import sys\nimport numpy as np\n"
        "m, k, n, ta = (int(v) for v in sys.argv[4:8])\n"
        "a = np.fromfile(sys.argv[1], dtype='<f4').astype(np.float64)\n"
        "a = a.reshape(k, m).T if ta else a.reshape(m, k)\n"
        "b = np.fromfile(sys.argv[2], dtype='<f4').astype(np.float64).reshape(k, n)\n"
        "c = np.fromfile(sys.argv[3], dtype='<f4').astype(np.float64).reshape(m, n)\n"
        "want = a @ b\n"
        "scale = np.abs(a) @ np.abs(b) + 1e-30\n"
        "err = np.max(np.abs(c - want) / scale)\n"
        "assert not c[1].any(), 'the zero row must give zeros'\n" /* row 1 of op(A) */
        "sys.exit(0 if err < 1e-6 else 1)\n";
    const char *args[] = {pa, pb, pc, dims[0], dims[1], dims[2], dims[3], NULL};
    if (ta) { /* the zero row of op(A) = A^T is a zero column of A: make one */
      float *ap = deft_tensor_data(a);
      for (int64_t r = 0; r < k; r++) ap[r * m + 1] = 0.0f;
      deft_tensor_free(c1);
      c1 = run_matmul(a, b, ta, 1, &sp1);
      write_f32(pa, ap, k * m);
      write_f32(pc, deft_tensor_data(c1), m * n);
    }
    ck_assert_msg(tu_python(script, args) == 0, "sparse MatMul case %zu differs from NumPy", ci);
    deft_tensor_free(a);
    deft_tensor_free(b);
    deft_tensor_free(c1);
    deft_tensor_free(c2);
  }
}
END_TEST

/* An image-like [rows, 784] batch: 28 x 28 pixels, the 4-pixel border always zero (so the
 * transposed product's rows, the pixels, carry very unequal nonzeros), the inside nonzero with
 * probability `density`. */
static deft_tensor *image_batch(int64_t rows, double density, uint32_t seed) {
  deft_tensor *t = sparse_tensor(rows, 784, density, -1, seed);
  float *p = deft_tensor_data(t);
  for (int64_t i = 0; i < rows; i++)
    for (int px = 0; px < 784; px++) {
      int r = px / 28, c = px % 28;
      if (r < 4 || r >= 24 || c < 4 || c >= 24) p[i * 784 + px] = 0.0f;
    }
  return t;
}

static int plan_memos_this_run(deft_session *s) {
  const deft_plan *p = s->last;
  int n = 0;
  for (int i = 0; i < DEFT_PLAN_MEMOS; i++) n += p->memos[i].run == p->run_id;
  return n;
}

/* The input layer's two products read the same X: X W and the gradient's X^T dY. In one run
 * they share one compression of X (a memo of the run, ops/kernel.h), which at 2 threads is
 * built by both threads, and the products are split by nonzeros. Every combination must give
 * exactly what each product gives alone at 1 thread, and NumPy's product; X rewritten in
 * place between runs (same buffer, same generation) is compressed again; a steady-state run
 * allocates nothing. */
START_TEST(sparse_matmuls_share_compressed_input) {
  enum { B = 200, IN = 784, H = 300 };
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){B, IN}), "x");
  deft_output w = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){IN, H}), "w");
  deft_output dy = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){B, H}), "dy");
  deft_output prods[2] = {deft_matmul(g, x, w, false, false, "xw"),
                          deft_matmul(g, x, dy, true, false, "xtdy")};
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_tensor *xs[2] = {image_batch(B, 0.25, 21u), image_batch(B, 0.3, 31u)};
  deft_tensor *wv = sparse_tensor(IN, H, 1.0, -1, 22u), *dyv = sparse_tensor(B, H, 1.0, -1, 23u);
  float *wp = deft_tensor_data(wv), *dyp = deft_tensor_data(dyv);
  for (int64_t i = 0; i < IN * H; i++) wp[i] -= 0.5f; /* signs of both kinds */
  for (int64_t i = 0; i < B * H; i++) dyp[i] = 0.5f - dyp[i];
  deft_tensor *alone[2][2];
  for (int v = 0; v < 2; v++) {
    bool sp0, sp1;
    alone[v][0] = run_matmul(xs[v], wv, false, 1, &sp0);
    alone[v][1] = run_matmul(xs[v], dyv, true, 1, &sp1);
    ck_assert(sp0 && sp1);
    char pa[512], pw[512], pd[512], pf[512], pg[512];
    snprintf(pa, sizeof pa, "%s/share_x.f32", tu_tmpdir());
    snprintf(pw, sizeof pw, "%s/share_w.f32", tu_tmpdir());
    snprintf(pd, sizeof pd, "%s/share_dy.f32", tu_tmpdir());
    snprintf(pf, sizeof pf, "%s/share_xw.f32", tu_tmpdir());
    snprintf(pg, sizeof pg, "%s/share_xtdy.f32", tu_tmpdir());
    write_f32(pa, deft_tensor_data(xs[v]), B * IN);
    write_f32(pw, wp, IN * H);
    write_f32(pd, dyp, B * H);
    write_f32(pf, deft_tensor_data(alone[v][0]), B * H);
    write_f32(pg, deft_tensor_data(alone[v][1]), IN * H);
    const char *script =
        "import sys\nimport numpy as np\n"
        "f = lambda i, *s: np.fromfile(sys.argv[i], dtype='<f4').astype(np.float64).reshape(s)\n"
        "x, w, dy = f(1, 200, 784), f(2, 784, 300), f(3, 200, 300)\n"
        "bad = 0\n"
        "for got, a, b in ((f(4, 200, 300), x, w), (f(5, 784, 300), x.T, dy)):\n"
        "    err = np.max(np.abs(got - a @ b) / (np.abs(a) @ np.abs(b) + 1e-30))\n"
        "    bad += not err < 1e-6\n"
        "sys.exit(1 if bad else 0)\n";
    const char *args[] = {pa, pw, pd, pf, pg, NULL};
    ck_assert_msg(tu_python(script, args) == 0, "batch %d: the products differ from NumPy", v);
  }
  deft_status *st = deft_status_new();
  int64_t xd[2] = {B, IN};
  deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, xd, 2, NULL);
  float *xp = deft_tensor_data(xv);
  for (int mode = 0; mode < 3; mode++) { /* 1 thread, 2 threads, 1 thread with the AVX2 loops */
    deft_session *s = deft_session_new(g, st);
    deft_session_set_threads(s, mode == 1 ? 2 : 1);
    if (mode == 2) deft_math_sparse_force_avx2(true);
    deft_output feeds[3] = {x, w, dy};
    deft_tensor *vals[3] = {xv, wv, dyv};
    for (int run = 0; run < 8; run++) {
      int v = run / 4; /* batch 1 written over batch 0 in the fed tensor: no new generation */
      if (run % 4 == 0) memcpy(xp, deft_tensor_data(xs[v]), deft_tensor_nbytes(xv));
      deft_tensor *out[2] = {NULL, NULL};
      if (run == 3) deft_alloc_fail_after(-1);
      ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 3, prods, out, 2, NULL, 0, st),
                    "%s", deft_status_message(st));
      if (run == 3) {
        long made = deft_alloc_fail_after(-1);
        ck_assert_msg(made <= 4, "a steady-state run made %ld allocations", made);
      }
      ck_assert_int_eq(plan_memos_this_run(s), 1); /* one compression of X, shared */
      for (int k = 0; k < 2; k++) {
        ck_assert_msg(memcmp(deft_tensor_data(out[k]), deft_tensor_data(alone[v][k]),
                             deft_tensor_nbytes(alone[v][k])) == 0,
                      "mode %d run %d: product %d differs from its own run", mode, run, k);
        deft_tensor_free(out[k]);
      }
    }
    deft_math_sparse_force_avx2(false);
    deft_session_free(s);
  }
  for (int v = 0; v < 2; v++) {
    deft_tensor_free(xs[v]);
    deft_tensor_free(alone[v][0]);
    deft_tensor_free(alone[v][1]);
  }
  deft_status_free(st);
  deft_tensor_free(xv);
  deft_tensor_free(wv);
  deft_tensor_free(dyv);
  deft_graph_free(g);
}
END_TEST

/* The memo never changes which path a product takes. Here the forward product X W (AVX2 loops,
 * OpenBLAS as the dense kernel) gives up compressing an X that its probe took for sparse (the
 * sampled elements zero, 40% of the rest nonzero): X^T dY, whose limit may be higher, must then
 * decide as it does alone, not take the forward's failure for its own. */
START_TEST(sparse_matmul_failed_memo_does_not_decide_for_others) {
  enum { B = 200, IN = 784, H = 300 };
  deft_tensor *xv = sparse_tensor(B, IN, 0.4, -1, 41u);
  float *xp = deft_tensor_data(xv);
  for (int64_t i = 0; i < B * IN; i += (B * IN) / 1024) xp[i] = 0.0f; /* the probe's samples */
  deft_tensor *wv = sparse_tensor(IN, H, 1.0, -1, 42u), *dyv = sparse_tensor(B, H, 1.0, -1, 43u);
  deft_math_sparse_force_avx2(true);
  deft_sgemm_force_openblas(true);
  bool scratch; /* (a compression that gave up has asked for scratch too) */
  deft_tensor *alone_fwd = run_matmul(xv, wv, false, 1, &scratch);
  deft_tensor *alone_t = run_matmul(xv, dyv, true, 1, &scratch);
  /* Where OpenBLAS's kernels lack AVX-512 (ops/sgemm.h: DEFT_SGEMM_OPENBLAS), X^T dY's limit
   * (1.2 x 0.45) is above X's density and the forward's (1.2 x 0.28) below it, so X^T dY alone
   * runs sparse, and beside X W must compress X again (it took the dense path before the
   * memo's test was the right way round); elsewhere both decline. */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){B, IN}), "x");
  deft_output w = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){IN, H}), "w");
  deft_output dy = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){B, H}), "dy");
  deft_output prods[2];
  prods[0] = deft_matmul(g, x, w, false, false, "xw");
  deft_graph_push_control_deps(g, &prods[0].op, 1); /* X W first, as in a training step */
  prods[1] = deft_matmul(g, x, dy, true, false, "xtdy");
  deft_graph_pop_control_deps(g);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output feeds[3] = {x, w, dy};
  deft_tensor *vals[3] = {xv, wv, dyv}, *out[2] = {NULL, NULL};
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 3, prods, out, 2, NULL, 0, st), "%s",
                deft_status_message(st));
  deft_math_sparse_force_avx2(false);
  deft_sgemm_force_openblas(false);
  ck_assert_msg(memcmp(deft_tensor_data(out[0]), deft_tensor_data(alone_fwd),
                       deft_tensor_nbytes(alone_fwd)) == 0, "X W differs from its own run");
  ck_assert_msg(memcmp(deft_tensor_data(out[1]), deft_tensor_data(alone_t),
                       deft_tensor_nbytes(alone_t)) == 0,
                "X^T dY beside X W differs from its own run (the other path taken)");
  for (int k = 0; k < 2; k++) deft_tensor_free(out[k]);
  deft_tensor_free(alone_fwd);
  deft_tensor_free(alone_t);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
  deft_tensor_free(xv);
  deft_tensor_free(wv);
  deft_tensor_free(dyv);
}
END_TEST

/* 0 * inf is NaN: with an infinity or NaN in B the product must equal the dense one, where a
 * zero of A meeting the infinity still makes NaN. A dense A takes sgemm. */
START_TEST(sparse_matmul_declines_nonfinite_and_dense) {
  deft_tensor *a = sparse_tensor(20, 64, 0.1, -1, 5u);
  int64_t bd[2] = {64, 16};
  deft_tensor *b = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
  float *bp = deft_tensor_data(b);
  for (int64_t i = 0; i < 64 * 16; i++) bp[i] = 0.5f;
  bool sparse;
  deft_tensor *c = run_matmul(a, b, false, 1, &sparse);
  ck_assert(sparse);
  deft_tensor_free(c);
  bp[3 * 16 + 2] = INFINITY; /* row 3 of B, column 2 */
  c = run_matmul(a, b, false, 1, &sparse);
  ck_assert(!sparse);
  const float *cp = deft_tensor_data(c), *ap = deft_tensor_data(a);
  for (int64_t i = 0; i < 20; i++) /* a zero A[i,3] gives NaN, a positive one +inf */
    ck_assert(ap[i * 64 + 3] == 0.0f ? isnan(cp[i * 16 + 2]) : isinf(cp[i * 16 + 2]));
  deft_tensor_free(c);
  deft_tensor_free(a);
  a = sparse_tensor(20, 64, 0.9, -1, 6u);
  bp[3 * 16 + 2] = 0.5f;
  c = run_matmul(a, b, false, 1, &sparse);
  ck_assert(!sparse);
  deft_tensor_free(c);
  deft_tensor_free(a);
  deft_tensor_free(b);
}
END_TEST


/* Dense float MatMul split over threads (rows of C, or columns when C has few rows) gives what
 * one sgemm gives, for every transpose combination. */
START_TEST(threaded_dense_matmul_matches_one_thread) {
  static const struct {
    int64_t m, k, n;
  } shapes[] = {{256, 300, 300}, {4, 512, 2048}, {33, 700, 129}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
    for (int t = 0; t < 4; t++) {
      bool ta = t & 1, tb = t & 2;
      int64_t m = shapes[si].m, k = shapes[si].k, n = shapes[si].n;
      int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
      deft_tensor *a = deft_tensor_new(DEFT_FLOAT, ad, 2, NULL);
      deft_tensor *b = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
      float *ap = deft_tensor_data(a), *bp = deft_tensor_data(b);
      for (int64_t i = 0; i < m * k; i++) ap[i] = (float)((i * 7907) % 1999 - 999) / 1000.0f;
      for (int64_t i = 0; i < k * n; i++) bp[i] = (float)((i * 6007) % 1993 - 996) / 1000.0f;
      deft_graph *g = deft_graph_new();
      deft_output pa = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, ad), "a");
      deft_output pb = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, bd), "b");
      deft_output mm = deft_matmul(g, pa, pb, ta, tb, "mm");
      deft_status *st = deft_status_new();
      deft_session *s = deft_session_new(g, st);
      deft_output feeds[2] = {pa, pb};
      deft_tensor *vals[2] = {a, b}, *out[3] = {NULL, NULL, NULL};
      for (int th = 1; th <= 3; th++) {
        deft_session_set_threads(s, th);
        ck_assert(deft_session_run(s, feeds, tu_feeds(vals), 2, &mm, &out[th - 1], 1, NULL, 0, st));
      }
      const float *o1 = deft_tensor_data(out[0]);
      for (int th = 2; th <= 3; th++) {
        const float *o = deft_tensor_data(out[th - 1]);
        /* Rounding differs at most by a few ulps of the partial sums (|terms| <= 1, k <= 700);
         * a misplaced block would be off by O(1). */
        for (int64_t i = 0; i < m * n; i++)
          ck_assert_msg(fabsf(o[i] - o1[i]) <= 1e-4f,
                        "shape %zu ta=%d tb=%d threads=%d element %lld: %g vs %g", si, ta, tb,
                        th, (long long)i, o[i], o1[i]);
      }
      for (int th = 0; th < 3; th++) deft_tensor_free(out[th]);
      deft_tensor_free(a);
      deft_tensor_free(b);
      deft_status_free(st);
      deft_session_free(s);
      deft_graph_free(g);
    }
}
END_TEST

/* A vector times a matrix (M = 1 or N = 1) goes through sgemv: check it against a double
 * reference for every transpose combination. */
START_TEST(vector_matmul_matches_reference) {
  static const struct {
    int64_t m, k, n;
  } shapes[] = {{1, 784, 300}, {1, 5, 1}, {300, 100, 1}, {1, 300, 100}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
    for (int t = 0; t < 4; t++) {
      bool ta = t & 1, tb = t & 2;
      int64_t m = shapes[si].m, k = shapes[si].k, n = shapes[si].n;
      int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
      deft_tensor *a = deft_tensor_new(DEFT_FLOAT, ad, 2, NULL);
      deft_tensor *b = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
      float *ap = deft_tensor_data(a), *bp = deft_tensor_data(b);
      for (int64_t i = 0; i < m * k; i++) ap[i] = (float)((i * 7907) % 1999 - 999) / 1000.0f;
      for (int64_t i = 0; i < k * n; i++) bp[i] = (float)((i * 6007) % 1993 - 996) / 1000.0f;
      deft_tensor *c = NULL;
      {
        deft_graph *g = deft_graph_new();
        deft_output pa = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, ad), "a");
        deft_output pb = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, bd), "b");
        deft_output mm = deft_matmul(g, pa, pb, ta, tb, "mm");
        deft_status *st = deft_status_new();
        deft_session *s = deft_session_new(g, st);
        deft_output feeds[2] = {pa, pb};
        deft_tensor *vals[2] = {a, b};
        ck_assert(deft_session_run(s, feeds, tu_feeds(vals), 2, &mm, &c, 1, NULL, 0, st));
        deft_status_free(st);
        deft_session_free(s);
        deft_graph_free(g);
      }
      const float *cp = deft_tensor_data(c);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
          double want = 0;
          for (int64_t q = 0; q < k; q++)
            want += (double)(ta ? ap[q * m + i] : ap[i * k + q]) *
                    (double)(tb ? bp[j * k + q] : bp[q * n + j]);
          ck_assert_msg(fabs(cp[i * n + j] - want) <= 1e-4 * (1 + fabs(want)),
                        "shape %zu ta=%d tb=%d C[%lld,%lld] = %g, want %g", si, ta, tb,
                        (long long)i, (long long)j, cp[i * n + j], want);
        }
      deft_tensor_free(c);
      deft_tensor_free(a);
      deft_tensor_free(b);
    }
}
END_TEST


/* ---- buffer reuse by liveness ---- */

/* A chain of 40 elementwise ops over 4096 floats: intermediates that are dead share storage, so
 * the plan holds a handful of buffers, not 40; a fetched value the caller keeps is never reused
 * (the next run writes elsewhere), and the numbers are right. */
START_TEST(intermediates_share_buffers) {
  deft_graph *g = deft_graph_new();
  int64_t d[1] = {4096};
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(1, d), "x");
  deft_output h = x;
  for (int i = 0; i < 20; i++) h = deft_neg(g, deft_square(g, h, NULL), NULL);
  deft_output mid = h; /* fetched too */
  for (int i = 0; i < 20; i++) h = deft_neg(g, h, NULL);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, d, 1, st);
  float *xp = deft_tensor_data(xv);
  deft_output fetch[2] = {h, mid};
  deft_tensor *kept[2] = {NULL, NULL};
  for (int run = 0; run < 3; run++) {
    for (int i = 0; i < 4096; i++) xp[i] = run == 0 ? 1.0f : 0.0f;
    deft_tensor *out[2];
    ck_assert(
        deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, fetch, out, 2, NULL, 0, st));
    /* x^(2^20) negated 20 times for mid; then 20 more negations */
    float want = run == 0 ? -1.0f : -0.0f;
    ck_assert_float_eq(((float *)deft_tensor_data(out[0]))[17], want);
    ck_assert_float_eq(((float *)deft_tensor_data(out[1]))[4095], want);
    if (run == 0) {
      kept[0] = out[0];
      kept[1] = out[1];
    } else {
      deft_tensor_free(out[0]);
      deft_tensor_free(out[1]);
    }
  }
  /* the values fetched by the first run were not overwritten by the later ones */
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 4096; i++)
      ck_assert_float_eq(((float *)deft_tensor_data(kept[k]))[i], -1.0f);
  const deft_plan *p = s->last;
  int held = p->npool;
  for (int i = 0; i < p->nslots; i++) held += p->slots[i].value.buf != NULL;
  ck_assert_msg(held <= 6, "the plan holds %d buffers for a chain of 60 ops", held);
  deft_tensor_free(kept[0]);
  deft_tensor_free(kept[1]);
  deft_tensor_free(xv);
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST


/* The sparse product remembers that a variable's value is finite while the variable is
 * unchanged (so batch-1 inference does not re-read the weights), and forgets it on every
 * change: Assign in place, AssignAdd, deft_session_set_variable. A fed B is checked on every
 * run, even when the caller writes through a pointer taken earlier. */
static float first_out(deft_session *s, deft_output x, deft_tensor *xv, deft_output y,
                       bool *sparse) {
  deft_status *st = deft_status_new();
  deft_tensor *out = NULL;
  ck_assert_msg(
      deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &y, &out, 1, NULL, 0, st), "%s",
      deft_status_message(st));
  float v = ((float *)deft_tensor_data(out))[0];
  if (sparse) *sparse = step_of(s, y.op)->scratch != NULL;
  deft_tensor_free(out);
  deft_status_free(st);
  return v;
}

START_TEST(sparse_matmul_finite_cache_follows_changes) {
  deft_graph *g = deft_graph_new();
  int64_t xd[2] = {1, 64}, wd[2] = {64, 16};
  deft_tensor *w0 = deft_tensor_new(DEFT_FLOAT, wd, 2, NULL),
              *winf = deft_tensor_new(DEFT_FLOAT, wd, 2, NULL);
  float *w0p = deft_tensor_data(w0), *wip = deft_tensor_data(winf);
  for (int i = 0; i < 64 * 16; i++) w0p[i] = wip[i] = 0.25f;
  wip[5 * 16] = INFINITY; /* row 5, column 0: x[5] is 0 */
  deft_op *w = deft_variable_new(g, "w", deft_const(g, w0, "w0"), false);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "x");
  deft_output y = deft_matmul(g, x, deft_variable_value(w), false, false, "y");
  deft_output set_inf =
      deft_assign(g, deft_op_output(w, 0), deft_const(g, winf, "winf"), "set_inf");
  deft_output set_fin = deft_assign(g, deft_op_output(w, 0), deft_const(g, w0, "wfin"), "set_fin");
  deft_output add_inf =
      deft_assign_add(g, deft_op_output(w, 0), deft_const(g, winf, "dinf"), "add_inf");
  deft_op *init = deft_global_variables_initializer(g, "init");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, xd, 2, NULL);
  float *xp = deft_tensor_data(xv);
  xp[0] = 1.0f; /* one nonzero of 64 */
  bool sparse;
  ck_assert_float_eq(first_out(s, x, xv, y, &sparse), 0.25f); /* checks and remembers W */
  ck_assert(!sparse);
  ck_assert_float_eq(first_out(s, x, xv, y, &sparse), 0.25f); /* sparse, W not re-read */
  ck_assert(sparse);
  /* Assign of another tensor: the variable shares that tensor's buffer */
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &set_inf.op, 1, st));
  ck_assert(isnan(first_out(s, x, xv, y, NULL)));
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &set_fin.op, 1, st));
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  /* the variable owns its storage alone: Assign copies into it, AssignAdd updates in place */
  ck_assert(deft_session_set_variable(s, w, w0, st));
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert_float_eq(first_out(s, x, xv, y, &sparse), 0.25f);
  ck_assert(sparse);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &set_inf.op, 1, st));
  ck_assert(isnan(first_out(s, x, xv, y, NULL)));
  ck_assert(deft_session_set_variable(s, w, w0, st));
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &add_inf.op, 1, st));
  ck_assert(isnan(first_out(s, x, xv, y, NULL)));
  ck_assert(deft_session_set_variable(s, w, w0, st));
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert_float_eq(first_out(s, x, xv, y, NULL), 0.25f);
  ck_assert(deft_session_set_variable(s, w, winf, st));
  ck_assert(isnan(first_out(s, x, xv, y, NULL)));
  deft_session_free(s);
  deft_graph_free(g);

  /* B fed, then changed through the pointer taken before the runs */
  g = deft_graph_new();
  int64_t bd[2] = {64, 16};
  x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, (int64_t[]){8, 64}), "x");
  deft_output b = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, bd), "b");
  y = deft_matmul(g, x, b, false, false, "y");
  s = deft_session_new(g, st);
  deft_tensor *x8 = sparse_tensor(8, 64, 0.05, -1, 3u);
  float *x8p = deft_tensor_data(x8);
  for (int r = 0; r < 8; r++) x8p[r * 64 + 5] = 0.0f;
  deft_tensor *bv = deft_tensor_new(DEFT_FLOAT, bd, 2, NULL);
  float *bp = deft_tensor_data(bv);
  for (int i = 0; i < 64 * 16; i++) bp[i] = 0.5f;
  deft_output feeds[2] = {x, b};
  deft_tensor *vals[2] = {x8, bv}, *out = NULL;
  for (int run = 0; run < 3; run++) {
    if (run == 2) bp[5 * 16] = INFINITY;
    ck_assert(deft_session_run(s, feeds, tu_feeds(vals), 2, &y, &out, 1, NULL, 0, st));
    float v = ((float *)deft_tensor_data(out))[0];
    ck_assert(run < 2 ? !isnan(v) : isnan(v));
    deft_tensor_free(out);
  }
  deft_tensor_free(x8);
  deft_tensor_free(bv);
  deft_tensor_free(xv);
  deft_tensor_free(w0);
  deft_tensor_free(winf);
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
  tcase_add_test(tc, dense_matmuls_share_one_workspace);
  tcase_add_test(tc, elided_op_still_propagates_deadness);
  tcase_add_test(tc, fetched_op_is_not_elided);
  tcase_add_test(tc, float_activations_round_as_numpy);
  tcase_add_test(tc, sparse_matmul_matches_numpy);
  tcase_add_test(tc, sparse_matmul_declines_nonfinite_and_dense);
  tcase_add_test(tc, sparse_matmuls_share_compressed_input);
  tcase_add_test(tc, sparse_matmul_failed_memo_does_not_decide_for_others);
  tcase_add_test(tc, threaded_dense_matmul_matches_one_thread);
  tcase_add_test(tc, vector_matmul_matches_reference);
  tcase_add_test(tc, intermediates_share_buffers);
  tcase_add_test(tc, sparse_matmul_finite_cache_follows_changes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
