/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_training_ops.c - the optimizer update ops (ops/training_ops.c): several steps of
 * every Apply op (float32 and float64, Nesterov variants) against a NumPy reimplementation of
 * TF's formulas, in-place and copy-on-write behaviour, and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/tensor_internal.h"
#include "testutil.h"

enum { GD, MOMENTUM, ADAGRAD, RMSPROP, ADAM };
static const char *const kind_names[] = {"gd", "momentum", "adagrad", "rmsprop", "adam"};
static const int nslots[] = {0, 1, 1, 2, 2};

/* Hyperparameters (shared with the NumPy script through its arguments). */
#define LR 0.1
#define MOMENTUM_V 0.9
#define RHO 0.9
#define EPS_RMS 1e-6
#define ADAM_LR 0.01
#define BETA1 0.9
#define BETA2 0.999
#define EPS_ADAM 1e-8

#define N 12 /* elements of the [3,4] variable */
#define STEPS 6

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(double lo, double hi) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static deft_tensor *filled(deft_dtype dt, const int64_t *dims, int rank, const double *v) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    if (dt == DEFT_FLOAT) ((float *)deft_tensor_data(t))[i] = (float)v[i];
    else ((double *)deft_tensor_data(t))[i] = v[i];
  }
  return t;
}

static deft_output scalar(deft_graph *g, deft_dtype dt, double v, const char *name) {
  return dt == DEFT_FLOAT ? deft_const_float(g, (float)v, name) : deft_const_double(g, v, name);
}

static deft_op *variable(deft_graph *g, deft_dtype dt, const double *init, const char *name) {
  static const int64_t dims[2] = {3, 4};
  deft_tensor *t = filled(dt, dims, 2, init);
  deft_op *v = deft_variable_new(g, name, deft_const(g, t, "init"), true);
  deft_tensor_free(t);
  ck_assert_ptr_nonnull(v);
  return v;
}

static deft_output ref(deft_op *v) { return deft_op_output(v, 0); }

static void check_ok(deft_graph *g) {
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

static void run_targets(deft_session *s, const deft_output *feeds, deft_tensor *const *vals,
                        int nfeeds, deft_op *target) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nfeeds, NULL, NULL, 0, &target, 1, st),
                "%s", deft_status_message(st));
  deft_status_free(st);
}

static void append_values(FILE *f, deft_session *s, deft_op *var) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_session_variable_value(s, var, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    double v = deft_tensor_get_double(t, i);
    fwrite(&v, sizeof v, 1, f);
  }
  deft_tensor_free(t);
  deft_status_free(st);
}

/* NumPy reimplementation of each update, written from the formulas (not from deft's code). The
 * file holds float64: var0, slot inits, grads[STEPS], then after each step var and the slots. */
static const char *const numpy_script =
    "import sys\n"
    "import numpy as np\n"
    "kind, dt, nest, path = sys.argv[1], sys.argv[2], sys.argv[3] == '1', sys.argv[4]\n"
    "lr, mom, rho, eps_rms, alr, b1, b2, eps_adam = map(float, sys.argv[5:13])\n"
    "upd = sys.argv[13] == '1'\n"
    "T = np.float32 if dt == 'float' else np.float64\n"
    "N, S = 12, 6\n"
    "ns = {'gd': 0, 'momentum': 1, 'adagrad': 1, 'rmsprop': 2, 'adam': 2}[kind]\n"
    "d = np.fromfile(path, dtype=np.float64)\n"
    "var = d[:N].astype(T); slots = [d[N*(1+k):N*(2+k)].astype(T) for k in range(ns)]\n"
    "o = N * (1 + ns)\n"
    "grads = d[o:o + S*N].reshape(S, N).astype(T); o += S*N\n"
    "got = d[o:].reshape(S, 1 + ns, N)\n"
    "lr, mom, rho, eps_rms, alr, b1, b2, eps_adam = [T(x) for x in (lr, mom, rho, eps_rms, alr, "
    "b1, b2, eps_adam)]\n"
    "tol = dict(rtol=2e-5, atol=1e-6) if T is np.float32 else dict(rtol=1e-11, atol=1e-13)\n"
    "for t in range(S):\n"
    "    g = grads[t]\n"
    "    if kind == 'gd':\n"
    "        var = var - lr * g\n"
    "    elif kind == 'momentum':\n"
    "        a = slots[0] * mom + g\n"
    "        var = var - (lr * g + lr * mom * a if nest else lr * a)\n"
    "        slots = [a]\n"
    "    elif kind == 'adagrad':\n"
    "        a = slots[0] + g * g if upd else slots[0]\n"
    "        var = var - lr * g / np.sqrt(a)\n"
    "        slots = [a]\n"
    "    elif kind == 'rmsprop':\n"
    "        ms = rho * slots[0] + (T(1) - rho) * g * g\n"
    "        m = mom * slots[1] + lr * g / np.sqrt(ms + eps_rms)\n"
    "        var = var - m\n"
    "        slots = [ms, m]\n"
    "    else:\n"
    "        p1, p2 = T(b1 ** (t + 1)), T(b2 ** (t + 1))\n"
    "        lr_t = alr * np.sqrt(T(1) - p2) / (T(1) - p1)\n"
    "        m = b1 * slots[0] + (T(1) - b1) * g\n"
    "        v = b2 * slots[1] + (T(1) - b2) * g * g\n"
    "        num = b1 * m + (T(1) - b1) * g if nest else m\n"
    "        var = var - lr_t * num / (np.sqrt(v) + eps_adam)\n"
    "        slots = [m, v]\n"
    "    for k, want in enumerate([var] + slots):\n"
    "        if not np.allclose(got[t, k], want, **tol):\n"
    "            print('step', t, 'tensor', k, '\\ndeft ', got[t, k], '\\nnumpy', want, "
    "file=sys.stderr)\n"
    "            sys.exit(1)\n";

/* Runs STEPS updates of `kind` and checks every step's variable and slots with NumPy. */
static void check_steps(int kind, deft_dtype dt, bool nesterov, bool update_slots) {
  deft_graph *g = deft_graph_new();
  double init[3][N];
  for (int i = 0; i < N; i++) {
    init[0][i] = uniform(-1, 1);
    init[1][i] = kind == ADAGRAD   ? uniform(0.1, 0.2)
                 : kind == RMSPROP ? uniform(0.5, 1)
                 : kind == ADAM    ? uniform(-0.1, 0.1)
                                   : uniform(-0.2, 0.2);
    init[2][i] = kind == ADAM ? uniform(0.01, 0.02) : uniform(-0.1, 0.1);
  }
  deft_op *vars[3] = {variable(g, dt, init[0], "w"), NULL, NULL};
  static const char *slot_names[3] = {NULL, "slot1", "slot2"};
  for (int k = 1; k <= nslots[kind]; k++) vars[k] = variable(g, dt, init[k], slot_names[k]);
  deft_op *init_op = deft_global_variables_initializer(g, NULL);
  deft_output grad = deft_placeholder(g, dt, DEFT_SHAPE(3, 4), "grad");
  deft_output p1 = deft_placeholder(g, dt, DEFT_SCALAR, "beta1_power");
  deft_output p2 = deft_placeholder(g, dt, DEFT_SCALAR, "beta2_power");
  deft_output up;
  switch (kind) {
    case GD: up = deft_apply_gradient_descent(g, ref(vars[0]), scalar(g, dt, LR, "lr"), grad, NULL);
      break;
    case MOMENTUM:
      up = deft_apply_momentum(g, ref(vars[0]), ref(vars[1]), scalar(g, dt, LR, "lr"), grad,
                               scalar(g, dt, MOMENTUM_V, "momentum"), nesterov, NULL);
      break;
    case ADAGRAD:
      up = deft_apply_adagrad(g, ref(vars[0]), ref(vars[1]), scalar(g, dt, LR, "lr"), grad,
                              update_slots, NULL);
      break;
    case RMSPROP:
      up = deft_apply_rmsprop(g, ref(vars[0]), ref(vars[1]), ref(vars[2]),
                              scalar(g, dt, LR, "lr"), scalar(g, dt, RHO, "rho"),
                              scalar(g, dt, MOMENTUM_V, "momentum"),
                              scalar(g, dt, EPS_RMS, "epsilon"), grad, NULL);
      break;
    default:
      up = deft_apply_adam(g, ref(vars[0]), ref(vars[1]), ref(vars[2]), p1, p2,
                           scalar(g, dt, ADAM_LR, "lr"), scalar(g, dt, BETA1, "beta1"),
                           scalar(g, dt, BETA2, "beta2"), scalar(g, dt, EPS_ADAM, "epsilon"),
                           grad, nesterov, NULL);
      break;
  }
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_targets(s, NULL, NULL, 0, init_op);

  char path[512];
  snprintf(path, sizeof path, "%s/train-%d-%s.bin", tu_tmpdir(), (int)getpid(), kind_names[kind]);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  for (int k = 0; k <= nslots[kind]; k++) fwrite(init[k], sizeof(double), N, f);
  double grads[STEPS][N];
  for (int t = 0; t < STEPS; t++)
    for (int i = 0; i < N; i++) grads[t][i] = uniform(-2, 2);
  fwrite(grads, sizeof(double), STEPS * N, f);
  static const int64_t dims[2] = {3, 4};
  for (int t = 0; t < STEPS; t++) {
    double b1p = pow(BETA1, t + 1), b2p = pow(BETA2, t + 1);
    deft_tensor *vals[3] = {filled(dt, dims, 2, grads[t]), filled(dt, NULL, 0, &b1p),
                            filled(dt, NULL, 0, &b2p)};
    deft_output feeds[3] = {grad, p1, p2};
    run_targets(s, feeds, vals, kind == ADAM ? 3 : 1, up.op);
    for (int k = 0; k <= nslots[kind]; k++) append_values(f, s, vars[k]);
    for (int k = 0; k < 3; k++) deft_tensor_free(vals[k]);
  }
  fclose(f);
  char hyper[8][32];
  const double hv[8] = {LR, MOMENTUM_V, RHO, EPS_RMS, ADAM_LR, BETA1, BETA2, EPS_ADAM};
  const char *args[15] = {kind_names[kind], deft_dtype_name(dt), nesterov ? "1" : "0", path};
  for (int i = 0; i < 8; i++) {
    snprintf(hyper[i], sizeof hyper[i], "%.17g", hv[i]);
    args[4 + i] = hyper[i];
  }
  args[12] = update_slots ? "1" : "0";
  args[13] = NULL;
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  ck_assert_msg(tu_python(numpy_script, args) == 0, "%s (%s%s%s) disagrees with NumPy",
                kind_names[kind], deft_dtype_name(dt), nesterov ? ", nesterov" : "",
                update_slots ? "" : ", update_slots=false");
  remove(path);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}

START_TEST(gradient_descent_steps) {
  check_steps(GD, DEFT_DOUBLE, false, true);
  check_steps(GD, DEFT_FLOAT, false, true);
}
END_TEST

START_TEST(momentum_steps) {
  check_steps(MOMENTUM, DEFT_DOUBLE, false, true);
  check_steps(MOMENTUM, DEFT_FLOAT, false, true);
  check_steps(MOMENTUM, DEFT_DOUBLE, true, true);
  check_steps(MOMENTUM, DEFT_FLOAT, true, true);
}
END_TEST

START_TEST(adagrad_steps) {
  check_steps(ADAGRAD, DEFT_DOUBLE, false, true);
  check_steps(ADAGRAD, DEFT_FLOAT, false, true);
  check_steps(ADAGRAD, DEFT_DOUBLE, false, false);
}
END_TEST

START_TEST(rmsprop_steps) {
  check_steps(RMSPROP, DEFT_DOUBLE, false, true);
  check_steps(RMSPROP, DEFT_FLOAT, false, true);
}
END_TEST

START_TEST(adam_steps) {
  check_steps(ADAM, DEFT_DOUBLE, false, true);
  check_steps(ADAM, DEFT_FLOAT, false, true);
  check_steps(ADAM, DEFT_DOUBLE, true, true);
  check_steps(ADAM, DEFT_FLOAT, true, true);
}
END_TEST

/* An update large enough to be split over threads (ops/training_ops.c, GD_GRAIN): 2 and 3
 * threads give what 1 thread gives, bit for bit, and every element is var - lr * grad. */
START_TEST(gradient_descent_split_over_threads) {
  enum { BIG = 300007 }; /* not a multiple of any range size */
  static const int64_t dims[1] = {BIG};
  float *init = malloc(sizeof(float) * BIG), *g = malloc(sizeof(float) * BIG);
  ck_assert(init && g);
  for (int i = 0; i < BIG; i++) {
    init[i] = (float)uniform(-1, 1);
    g[i] = (float)uniform(-2, 2);
  }
  deft_tensor *out[4] = {NULL, NULL, NULL, NULL};
  for (int threads = 1; threads <= 3; threads++) {
    deft_graph *gr = deft_graph_new();
    deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, 1, NULL);
    memcpy(deft_tensor_data(t), init, sizeof(float) * BIG);
    deft_op *w = deft_variable_new(gr, "w", deft_const(gr, t, "init"), true);
    deft_tensor_free(t);
    deft_output grad = deft_placeholder(gr, DEFT_FLOAT, DEFT_SHAPE(BIG), "grad");
    deft_output up =
        deft_apply_gradient_descent(gr, ref(w), deft_const_float(gr, 0.25f, "lr"), grad, NULL);
    deft_output val = deft_variable_value(w);
    deft_op *init_op = deft_global_variables_initializer(gr, NULL);
    check_ok(gr);
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(gr, st);
    deft_session_set_threads(s, threads);
    run_targets(s, NULL, NULL, 0, init_op);
    deft_tensor *gt = deft_tensor_new(DEFT_FLOAT, dims, 1, NULL);
    memcpy(deft_tensor_data(gt), g, sizeof(float) * BIG);
    for (int step = 0; step < 2; step++) run_targets(s, &grad, &gt, 1, up.op);
    ck_assert(deft_session_run(s, NULL, NULL, 0, &val, &out[threads], 1, NULL, 0, st));
    deft_tensor_free(gt);
    deft_session_free(s);
    deft_status_free(st);
    deft_graph_free(gr);
  }
  const float *o1 = deft_tensor_data(out[1]);
  for (int i = 0; i < BIG; i++) { /* two steps; float rounding, fused or not */
    double want = (double)init[i] - 2 * 0.25 * (double)g[i];
    ck_assert_msg(fabs(o1[i] - want) <= 1e-6 * (1 + fabs(want)), "element %d: %g vs %g", i,
                  o1[i], want);
  }
  for (int threads = 2; threads <= 3; threads++)
    ck_assert_msg(memcmp(o1, deft_tensor_data(out[threads]), sizeof(float) * BIG) == 0,
                  "%d threads differ from one", threads);
  for (int i = 1; i <= 3; i++) deft_tensor_free(out[i]);
  free(init);
  free(g);
}
END_TEST

/* ---- graph structure ---- */

START_TEST(ops_names_and_attrs) {
  deft_graph *g = deft_graph_new();
  double z[N] = {0};
  deft_op *w = variable(g, DEFT_FLOAT, z, "w"), *a = variable(g, DEFT_FLOAT, z, "a");
  deft_output lr = deft_const_float(g, 0.5f, "lr");
  deft_output grad = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 4), "grad");
  deft_output gd = deft_apply_gradient_descent(g, ref(w), lr, grad, NULL);
  deft_output mo = deft_apply_momentum(g, ref(w), ref(a), lr, grad, lr, true, "m");
  check_ok(g);
  ck_assert_str_eq(deft_op_name(gd.op), "ApplyGradientDescent");
  ck_assert_str_eq(deft_op_type(mo.op), "ApplyMomentum");
  ck_assert_str_eq(deft_op_name(mo.op), "m");
  deft_dtype t;
  bool b;
  ck_assert(deft_op_attr_type(gd.op, "T", &t) && t == DEFT_FLOAT);
  ck_assert(deft_op_attr_bool(gd.op, "use_locking", &b) && !b);
  ck_assert(deft_op_attr_bool(mo.op, "use_nesterov", &b) && b);
  deft_shape s = deft_output_shape(gd);
  ck_assert(s.rank == 2 && s.dims[0] == 3 && s.dims[1] == 4);
  deft_graph_free(g);
}
END_TEST

/* The op's output is a reference to the variable: fetching it gives the updated value. */
START_TEST(output_is_variable_ref) {
  deft_graph *g = deft_graph_new();
  double init[N];
  for (int i = 0; i < N; i++) init[i] = i;
  deft_op *w = variable(g, DEFT_DOUBLE, init, "w");
  deft_op *init_op = deft_global_variables_initializer(g, NULL);
  deft_output up = deft_apply_gradient_descent(g, ref(w), deft_const_double(g, 0.5, "lr"),
                                               deft_variable_value(w), NULL);
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_targets(s, NULL, NULL, 0, init_op);
  deft_tensor *out = NULL;
  ck_assert(deft_session_run(s, NULL, NULL, 0, &up, &out, 1, NULL, 0, st));
  for (int i = 0; i < N; i++) ck_assert(((double *)deft_tensor_data(out))[i] == i * 0.5);
  deft_tensor_free(out);
  deft_tensor *now = deft_session_variable_value(s, w, st);
  for (int i = 0; i < N; i++) ck_assert(deft_tensor_get_double(now, i) == i * 0.5);
  deft_tensor_free(now);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* A value fetched before an update keeps its contents: the update copies the shared buffer. */
START_TEST(copy_on_write) {
  deft_graph *g = deft_graph_new();
  double init[N];
  for (int i = 0; i < N; i++) init[i] = 1 + i;
  deft_op *w = variable(g, DEFT_FLOAT, init, "w"), *acc = variable(g, DEFT_FLOAT, init, "acc");
  deft_op *init_op = deft_global_variables_initializer(g, NULL);
  deft_output grad = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3, 4), 1, "grad");
  deft_output lr = deft_const_float(g, 0.25f, "lr");
  deft_output up = deft_apply_momentum(g, ref(w), ref(acc), lr, grad, lr, false, NULL);
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_targets(s, NULL, NULL, 0, init_op);
  deft_output reads[2] = {deft_variable_value(w), deft_variable_value(acc)};
  deft_tensor *before[2] = {NULL, NULL};
  ck_assert(deft_session_run(s, NULL, NULL, 0, reads, before, 2, NULL, 0, st));
  run_targets(s, NULL, NULL, 0, up.op);
  run_targets(s, NULL, NULL, 0, up.op);
  for (int i = 0; i < N; i++) {
    ck_assert(((float *)deft_tensor_data(before[0]))[i] == (float)(1 + i));
    ck_assert(((float *)deft_tensor_data(before[1]))[i] == (float)(1 + i));
  }
  /* accum: a1 = 0.25 a0 + 1, a2 = 0.25 a1 + 1; var: w2 = w0 - 0.25 (a1 + a2) (hand-derived) */
  deft_tensor *after[2] = {NULL, NULL};
  ck_assert(deft_session_run(s, NULL, NULL, 0, reads, after, 2, NULL, 0, st));
  for (int i = 0; i < N; i++) {
    double a0 = 1 + i, a1 = 0.25 * a0 + 1, a2 = 0.25 * a1 + 1, w2 = a0 - 0.25 * (a1 + a2);
    ck_assert(fabs(((float *)deft_tensor_data(after[1]))[i] - a2) < 1e-5);
    ck_assert(fabs(((float *)deft_tensor_data(after[0]))[i] - w2) < 1e-5);
  }
  ck_assert_ptr_ne(deft_tensor_data(before[0]), deft_tensor_data(after[0]));
  for (int k = 0; k < 2; k++) {
    deft_tensor_free(before[k]);
    deft_tensor_free(after[k]);
  }
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(zero_sized_variable) {
  deft_graph *g = deft_graph_new();
  deft_op *w = deft_variable_new(
      g, "w", deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 5), 1, "z"), true);
  deft_op *init_op = deft_global_variables_initializer(g, NULL);
  deft_output up = deft_apply_gradient_descent(
      g, ref(w), deft_const_double(g, 1, "lr"),
      deft_const_fill(g, DEFT_DOUBLE, DEFT_SHAPE(0, 5), 1, "g"), NULL);
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_targets(s, NULL, NULL, 0, init_op);
  run_targets(s, NULL, NULL, 0, up.op);
  deft_tensor *v = deft_session_variable_value(s, w, st);
  ck_assert_int_eq(deft_tensor_num_elements(v), 0);
  deft_tensor_free(v);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- errors ---- */

START_TEST(uninitialized_variable) {
  deft_graph *g = deft_graph_new();
  double z[N] = {0};
  deft_op *w = variable(g, DEFT_FLOAT, z, "w"), *acc = variable(g, DEFT_FLOAT, z, "acc");
  deft_output grad = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3, 4), 1, "grad");
  deft_output lr = deft_const_float(g, 0.1f, "lr");
  deft_output gd = deft_apply_gradient_descent(g, ref(w), lr, grad, NULL);
  deft_output ada = deft_apply_adagrad(g, ref(w), ref(acc), lr, grad, true, NULL);
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &gd.op, 1, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "uninitialized", "w", "ApplyGradientDescent");
  /* only var initialized: the slot is named */
  deft_op *w_init = deft_variable_initializer(w);
  run_targets(s, NULL, NULL, 0, w_init);
  ck_assert(!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &ada.op, 1, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "uninitialized", "acc", "ApplyAdagrad");
  deft_tensor *v = deft_session_variable_value(s, w, st); /* nothing was written */
  for (int i = 0; i < N; i++) ck_assert(deft_tensor_get_double(v, i) == 0);
  deft_tensor_free(v);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(grad_shape_mismatch) {
  /* build time: static shapes differ */
  deft_graph *g = deft_graph_new();
  double z[N] = {0};
  deft_op *w = variable(g, DEFT_FLOAT, z, "w"), *acc = variable(g, DEFT_FLOAT, z, "acc");
  deft_output lr = deft_const_float(g, 0.1f, "lr");
  deft_output bad = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4, 3), 1, "bad");
  ck_assert(!deft_apply_gradient_descent(g, ref(w), lr, bad, "gd").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ApplyGradientDescent 'gd'",
                   "[3,4]", "[4,3]", "'w:0'", "'bad:0'");
  deft_graph_clear_error(g);
  ck_assert(!deft_apply_gradient_descent(g, ref(w), bad, bad, "gd2").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ApplyGradientDescent 'gd2'",
                   "alpha", "must be a scalar", "[4,3]");
  deft_graph_clear_error(g);
  ck_assert(!deft_apply_momentum(g, ref(w), deft_variable_value(acc), lr, bad, lr, false, "m").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ApplyMomentum 'm'",
                   "variable reference");
  deft_graph_clear_error(g);

  /* run time: grad's shape is only known when fed; a failed update writes nothing */
  deft_op *init_op = deft_global_variables_initializer(g, NULL);
  deft_output grad = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "grad");
  deft_output mo = deft_apply_momentum(g, ref(w), ref(acc), lr, grad, lr, false, "mom");
  deft_output lrp = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "lrp");
  deft_output gd = deft_apply_gradient_descent(g, ref(w), lrp, grad, "gd3");
  check_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  run_targets(s, NULL, NULL, 0, init_op);
  const int64_t two[1] = {2};
  double gv[2] = {1, 1};
  deft_tensor *gt = filled(DEFT_FLOAT, two, 1, gv);
  ck_assert(!deft_session_run(s, &grad, (const deft_tensor *const[]){gt}, 1, NULL, NULL, 0, &mo.op,
                              1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ApplyMomentum 'mom'", "var 'w' has shape [3,4]",
                   "grad has shape [2]");
  deft_tensor *acc_v = deft_session_variable_value(s, acc, st);
  for (int i = 0; i < N; i++) ck_assert(deft_tensor_get_double(acc_v, i) == 0);
  deft_tensor_free(acc_v);
  /* a non-scalar learning rate at run time */
  deft_tensor *g34 = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){3, 4}, 2, NULL);
  deft_output feeds[2] = {grad, lrp};
  deft_tensor *vals[2] = {g34, gt};
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 2, NULL, NULL, 0, &gd.op, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ApplyGradientDescent 'gd3'", "alpha",
                   "must be a scalar", "[2]");
  deft_tensor_free(g34);
  deft_tensor_free(gt);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(dtype_errors) {
  deft_graph *g = deft_graph_new();
  deft_op *w = deft_variable_new(g, "wi", deft_const_int32(g, 1, "one"), true);
  deft_output lr = deft_const_int32(g, 1, "lr");
  ck_assert(!deft_apply_gradient_descent(g, ref(w), lr, lr, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ApplyGradientDescent",
                   "float and double", "'wi'", "int32");
  deft_graph_clear_error(g);
  double z[N] = {0};
  deft_op *wf = variable(g, DEFT_FLOAT, z, "wf");
  deft_output grad64 = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3, 4), "g64");
  ck_assert(!deft_apply_gradient_descent(g, ref(wf), deft_const_float(g, 1, "lrf"), grad64, "x")
                 .op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ApplyGradientDescent 'x'",
                   "DT_DOUBLE", "DT_FLOAT");
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("training_ops");
  TCase *t = tcase_create("steps");
  tcase_add_test(t, gradient_descent_steps);
  tcase_add_test(t, gradient_descent_split_over_threads);
  tcase_add_test(t, momentum_steps);
  tcase_add_test(t, adagrad_steps);
  tcase_add_test(t, rmsprop_steps);
  tcase_add_test(t, adam_steps);
  suite_add_tcase(s, t);
  TCase *b = tcase_create("behaviour");
  tcase_add_test(b, ops_names_and_attrs);
  tcase_add_test(b, output_is_variable_ref);
  tcase_add_test(b, copy_on_write);
  tcase_add_test(b, zero_sized_variable);
  tcase_add_test(b, uninitialized_variable);
  tcase_add_test(b, grad_shape_mismatch);
  tcase_add_test(b, dtype_errors);
  suite_add_tcase(s, b);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
