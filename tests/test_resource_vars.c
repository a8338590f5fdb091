/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_resource_vars.c - resource variables (ops/resource_var_ops.c and the ResourceApply*
 * forms of ops/training_ops.c / ops/sparse_grad_ops.c): every op against NumPy; every
 * ResourceApply* / ResourceSparseApply* against its ref-variable op (bit for bit) and against
 * NumPy's formulas; gradients through ReadVariableOp and ResourceGather by finite differences;
 * the builders' resource mode (TF's node structure) training to the same numbers as ref
 * variables; checkpoints between the two kinds; meta graph export and re-import; error paths. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double uniform(double lo, double hi) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static void check_ok(deft_graph *g) {
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

static deft_tensor *rand_tensor(deft_dtype dt, deft_shape s, double lo, double hi) {
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    double v = uniform(lo, hi);
    if (dt == DEFT_FLOAT)
      ((float *)deft_tensor_data(t))[i] = (float)v;
    else
      ((double *)deft_tensor_data(t))[i] = v;
  }
  return t;
}

static deft_tensor *i32_tensor(const int32_t *v, int64_t n) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, &n, 1, NULL);
  memcpy(deft_tensor_data(t), v, sizeof(int32_t) * (size_t)n);
  return t;
}

/* Runs targets (and fetches one tensor when fetch.op); returns the fetched tensor or NULL. */
static deft_tensor *run(deft_session *s, const deft_output *feeds, deft_tensor *const *vals, int nf,
                        deft_output fetch, deft_op *target) {
  deft_status *st = deft_status_new();
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nf, fetch.op ? &fetch : NULL,
                                 fetch.op ? &out : NULL, fetch.op ? 1 : 0, target ? &target : NULL,
                                 target ? 1 : 0, st),
                "%s", deft_status_message(st));
  deft_status_free(st);
  return out;
}

/* Runs and expects failure with code and keywords. */
#define RUN_FAILS(s, fetch, target, code, ...)                                              \
  do {                                                                                      \
    deft_status *st_ = deft_status_new();                                                   \
    deft_output f_ = (fetch);                                                               \
    deft_op *t_ = (target);                                                                 \
    deft_tensor *o_ = NULL;                                                                 \
    ck_assert(!deft_session_run((s), NULL, NULL, 0, f_.op ? &f_ : NULL, f_.op ? &o_ : NULL, \
                                f_.op ? 1 : 0, t_ ? &t_ : NULL, t_ ? 1 : 0, st_));          \
    TU_ASSERT_STATUS(st_, code, __VA_ARGS__);                                               \
    deft_status_free(st_);                                                                  \
  } while (0)

static void fwrite_tensor(FILE *f, const deft_tensor *t) {
  ck_assert_int_eq(fwrite(deft_tensor_data(t), 1, deft_tensor_nbytes(t), f), deft_tensor_nbytes(t));
}

static char *tmp(const char *name) {
  static char buf[4][512];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, sizeof buf[0], "%s/rv-%d-%s", tu_tmpdir(), (int)getpid(), name);
  return b;
}

/* ---- every op against NumPy ---- */

static const char *const ops_script =
    "import sys\n"
    "import numpy as np\n"
    "d = np.fromfile(sys.argv[1], dtype=np.float32)\n"
    "o = 0\n"
    "def take(n, shape):\n"
    "    global o\n"
    "    a = d[o:o + n].reshape(shape); o += n\n"
    "    return a\n"
    "A = take(15, (5, 3)); D = take(15, (5, 3)); D2 = take(15, (5, 3)); U = take(9, (3, 3))\n"
    "B = take(15, (5, 3))\n"
    "idx = [3, 0, 3]\n"
    "want = []\n"
    "r = A.copy(); want.append(r.copy())\n"
    "r = r + D; want.append(r.copy())\n"
    "r = r - D2; want.append(r.copy())\n"
    "r3 = r.copy(); np.add.at(r3, idx, U); want.append(r3.copy())\n"
    "r4 = r3.copy(); np.subtract.at(r4, idx, U); want.append(r4.copy())\n"
    "r5 = r4.copy()\n"
    "for i, k in enumerate(idx): r5[k] = U[i]\n"
    "want.append(r5.copy())\n"
    "want.append(r5[idx].copy())\n"
    "want.append(B.copy())\n"
    "for k, w in enumerate(want):\n"
    "    got = take(w.size, w.shape)\n"
    "    if not np.array_equal(got, w):\n"
    "        print('result', k, '\\ndeft ', got, '\\nnumpy', w, file=sys.stderr); sys.exit(1)\n"
    "assert o == d.size, (o, d.size)\n";

START_TEST(ops_against_numpy) {
  deft_graph *g = deft_graph_new();
  deft_op *vh = deft_var_handle_op(g, DEFT_FLOAT, DEFT_SHAPE(5, 3), "v", "v");
  deft_output h = deft_op_output(vh, 0);
  deft_tensor *A = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -1, 1);
  deft_tensor *D = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -1, 1);
  deft_tensor *D2 = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -1, 1);
  deft_tensor *U = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 3), -1, 1);
  deft_tensor *B = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -1, 1);
  const int32_t idxv[3] = {3, 0, 3};
  deft_tensor *I = i32_tensor(idxv, 3);
  deft_output idx = deft_const(g, I, "idx");
  deft_op *init = deft_assign_variable_op(g, h, deft_const(g, A, "A"), "init");
  deft_output read = deft_read_variable_op(g, h, "read");
  deft_op *add = deft_assign_add_variable_op(g, h, deft_const(g, D, "D"), "add");
  deft_op *sub = deft_assign_sub_variable_op(g, h, deft_const(g, D2, "D2"), "sub");
  deft_output u = deft_const(g, U, "U");
  deft_op *sadd = deft_resource_scatter_add(g, h, idx, u, "sadd");
  deft_op *ssub = deft_resource_scatter_sub(g, h, idx, u, "ssub");
  deft_op *supd = deft_resource_scatter_update(g, h, idx, u, "supd");
  deft_output gat = deft_resource_gather(g, h, idx, "gather");
  deft_op *asg = deft_assign_variable_op(g, h, deft_const(g, B, "B"), "assign_b");
  deft_output isinit = deft_var_is_initialized_op(g, h, "isinit");
  deft_output vshape = deft_variable_shape_op(g, h, DEFT_INT64, "vshape");
  deft_op *destroy = deft_destroy_resource_op(g, h, "destroy");
  check_ok(g);
  ck_assert_int_eq(deft_output_shape(read).rank, 2);
  ck_assert_int_eq(deft_output_shape(read).dims[0], 5);
  ck_assert_int_eq(deft_output_shape(gat).rank, 2);
  ck_assert_int_eq(deft_output_shape(gat).dims[0], 3);
  ck_assert(deft_op_is_variable(vh));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output none = {NULL, 0};
  deft_tensor *b0 = run(s, NULL, NULL, 0, isinit, NULL);
  ck_assert(!*(bool *)deft_tensor_data(b0));
  deft_tensor_free(b0);
  char *path = tmp("ops.bin");
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  deft_tensor *ins[5] = {A, D, D2, U, B};
  for (int i = 0; i < 5; i++) fwrite_tensor(f, ins[i]);
  deft_op *steps[8] = {init, add, sub, sadd, ssub, supd, NULL, asg};
  for (int k = 0; k < 8; k++) {
    if (steps[k]) run(s, NULL, NULL, 0, none, steps[k]);
    deft_tensor *r = run(s, NULL, NULL, 0, k == 6 ? gat : read, NULL);
    fwrite_tensor(f, r);
    deft_tensor_free(r);
  }
  fclose(f);
  /* the session API sees the same storage */
  deft_tensor *sv = deft_session_variable_value(s, vh, st);
  ck_assert_ptr_nonnull(sv);
  ck_assert_mem_eq(deft_tensor_data(sv), deft_tensor_data(B), 60);
  deft_tensor_free(sv);
  deft_tensor *b1 = run(s, NULL, NULL, 0, isinit, NULL);
  ck_assert(*(bool *)deft_tensor_data(b1));
  deft_tensor_free(b1);
  deft_tensor *shp = run(s, NULL, NULL, 0, vshape, NULL);
  ck_assert_int_eq(deft_tensor_num_elements(shp), 2);
  ck_assert_int_eq(((int64_t *)deft_tensor_data(shp))[0], 5);
  ck_assert_int_eq(((int64_t *)deft_tensor_data(shp))[1], 3);
  deft_tensor_free(shp);
  run(s, NULL, NULL, 0, none, destroy);
  deft_tensor *b2 = run(s, NULL, NULL, 0, isinit, NULL);
  ck_assert(!*(bool *)deft_tensor_data(b2));
  deft_tensor_free(b2);
  RUN_FAILS(s, read, NULL, DEFT_FAILED_PRECONDITION, "'v'", "uninitialized");
  const char *args[] = {path, NULL};
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  ck_assert_msg(tu_python(ops_script, args) == 0, "resource ops disagree with NumPy");
  remove(path);
  deft_tensor *all[6] = {A, D, D2, U, B, I};
  for (int i = 0; i < 6; i++) deft_tensor_free(all[i]);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- ResourceApply* against Apply* and NumPy ---- */

enum { GD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADAM, NKINDS };
static const char *const kind_names[] = {"gd",      "momentum", "nesterov",
                                         "adagrad", "rmsprop",  "adam"};
static const int kind_slots[] = {0, 1, 1, 1, 2, 2};
#define LR 0.05
#define MOM 0.9
#define RHO 0.9
#define EPS 1e-6
#define B1 0.9
#define B2 0.999
#define STEPS 4

static deft_output scalar(deft_graph *g, deft_dtype dt, double v) {
  return dt == DEFT_FLOAT ? deft_const_float(g, (float)v, NULL) : deft_const_double(g, v, NULL);
}

/* Builds the update of `kind` on the vars (ref or resource: the same inputs either way). sparse:
 * the SparseApply forms with indices (GD: none sparse, returns NULL). */
static deft_op *build_apply(deft_graph *g, int kind, bool resource, bool sparse, deft_dtype dt,
                            deft_op *const *v, deft_output grad, deft_output idx, deft_output p1,
                            deft_output p2) {
  static const char *dense_types[] = {"ApplyGradientDescent", "ApplyMomentum", "ApplyMomentum",
                                      "ApplyAdagrad",         "ApplyRMSProp",  "ApplyAdam"};
  static const char *sparse_types[] = {NULL,
                                       "SparseApplyMomentum",
                                       "SparseApplyMomentum",
                                       "SparseApplyAdagrad",
                                       "SparseApplyRMSProp",
                                       NULL};
  const char *base = sparse ? sparse_types[kind] : dense_types[kind];
  if (!base) return NULL;
  char type[64];
  snprintf(type, sizeof type, "%s%s", resource ? "Resource" : "", base);
  deft_output in[10];
  int n = 0;
  in[n++] = deft_op_output(v[0], 0);
  for (int k = 1; k <= kind_slots[kind]; k++) in[n++] = deft_op_output(v[k], 0);
  switch (kind) {
    case GD:
      in[n++] = scalar(g, dt, LR);
      in[n++] = grad;
      break;
    case MOMENTUM:
    case NESTEROV:
      in[n++] = scalar(g, dt, LR);
      in[n++] = grad;
      if (sparse) in[n++] = idx;
      in[n++] = scalar(g, dt, MOM);
      break;
    case ADAGRAD:
      in[n++] = scalar(g, dt, LR);
      in[n++] = grad;
      if (sparse) in[n++] = idx;
      break;
    case RMSPROP:
      in[n++] = scalar(g, dt, LR);
      in[n++] = scalar(g, dt, RHO);
      in[n++] = scalar(g, dt, MOM);
      in[n++] = scalar(g, dt, EPS);
      in[n++] = grad;
      if (sparse) in[n++] = idx;
      break;
    default:
      in[n++] = p1;
      in[n++] = p2;
      in[n++] = scalar(g, dt, LR);
      in[n++] = scalar(g, dt, B1);
      in[n++] = scalar(g, dt, B2);
      in[n++] = scalar(g, dt, EPS);
      in[n++] = grad;
      break;
  }
  deft_op_builder *b = deft_op_builder_new(g, type, NULL);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (kind == MOMENTUM || kind == NESTEROV || kind == ADAM)
    deft_op_builder_set_attr_bool(b, "use_nesterov", kind == NESTEROV);
  return deft_op_builder_finish(b);
}

static const char *const apply_script =
    "import sys\n"
    "import numpy as np\n"
    "kind, dt, sparse, path = sys.argv[1], sys.argv[2], sys.argv[3] == '1', sys.argv[4]\n"
    "lr, mom, rho, eps, b1, b2 = map(float, sys.argv[5:11])\n"
    "T = np.float32 if dt == 'float' else np.float64\n"
    "ns = {'gd': 0, 'momentum': 1, 'nesterov': 1, 'adagrad': 1, 'rmsprop': 2, 'adam': 2}[kind]\n"
    "S, R, C = 4, 6, 3\n"
    "d = np.fromfile(path, dtype=T)\n"
    "o = 0\n"
    "def take(n):\n"
    "    global o\n"
    "    a = d[o:o + n]; o += n\n"
    "    return a\n"
    "tens = [take(R * C).reshape(R, C).copy() for _ in range(1 + ns)]\n"
    "idx = np.array([4, 1, 5])\n"
    "lr, mom, rho, eps, b1, b2 = [T(x) for x in (lr, mom, rho, eps, b1, b2)]\n"
    "tol = dict(rtol=3e-5, atol=1e-6) if T is np.float32 else dict(rtol=1e-12, atol=1e-14)\n"
    "for t in range(S):\n"
    "    g = take((3 if sparse else R) * C).reshape(-1, C)\n"
    "    rows = idx if sparse else np.arange(R)\n"
    "    var = tens[0][rows]; sl = [x[rows] for x in tens[1:]]\n"
    "    if kind == 'gd':\n"
    "        var = var - lr * g\n"
    "    elif kind in ('momentum', 'nesterov'):\n"
    "        a = sl[0] * mom + g\n"
    "        var = var - (lr * g + lr * mom * a if kind == 'nesterov' else lr * a); sl = [a]\n"
    "    elif kind == 'adagrad':\n"
    "        a = sl[0] + g * g\n"
    "        var = var - lr * g / np.sqrt(a); sl = [a]\n"
    "    elif kind == 'rmsprop':\n"
    "        ms = rho * sl[0] + (T(1) - rho) * g * g\n"
    "        m = mom * sl[1] + lr * g / np.sqrt(ms + eps)\n"
    "        var = var - m; sl = [ms, m]\n"
    "    else:\n"
    "        p1, p2 = T(b1 ** (t + 1)), T(b2 ** (t + 1))\n"
    "        lr_t = lr * np.sqrt(T(1) - p2) / (T(1) - p1)\n"
    "        m = b1 * sl[0] + (T(1) - b1) * g\n"
    "        v = b2 * sl[1] + (T(1) - b2) * g * g\n"
    "        var = var - lr_t * m / (np.sqrt(v) + eps); sl = [m, v]\n"
    "    tens[0][rows] = var\n"
    "    for k in range(ns): tens[1 + k][rows] = sl[k]\n"
    "    for k in range(1 + ns):\n"
    "        got = take(R * C).reshape(R, C)\n"
    "        if not np.allclose(got, tens[k], **tol):\n"
    "            print(kind, 'step', t, 'tensor', k, '\\ndeft ', got, '\\nnumpy', tens[k], "
    "file=sys.stderr); sys.exit(1)\n"
    "assert o == d.size\n";

/* STEPS updates of `kind` on a ref variable set and a resource one with the same initial values
 * and gradients: every step the two agree bit for bit, and NumPy's formulas agree. */
static void check_apply(int kind, deft_dtype dt, bool sparse) {
  deft_graph *g = deft_graph_new();
  const deft_shape vs = DEFT_SHAPE(6, 3);
  deft_op *refv[3] = {NULL}, *resv[3] = {NULL};
  deft_tensor *init[3] = {NULL};
  for (int k = 0; k <= kind_slots[kind]; k++) {
    bool positive = k > 0 && (kind == ADAGRAD || kind == RMSPROP || (kind == ADAM && k == 2));
    init[k] = rand_tensor(dt, vs, positive ? 0.1 : -1, positive ? 0.5 : 1);
    char name[32];
    snprintf(name, sizeof name, "ref%d", k);
    refv[k] = deft_variable_new(g, name, deft_const(g, init[k], NULL), true);
    deft_graph_set_resource_variables(g, true);
    snprintf(name, sizeof name, "res%d", k);
    resv[k] = deft_variable_new(g, name, deft_const(g, init[k], NULL), true);
    deft_graph_set_resource_variables(g, false);
    ck_assert(deft_variable_is_resource(resv[k]) && !deft_variable_is_resource(refv[k]));
  }
  deft_op *initop = deft_global_variables_initializer(g, NULL);
  deft_output grad = deft_placeholder(g, dt, sparse ? DEFT_SHAPE(3, 3) : vs, "grad");
  const int32_t idxv[3] = {4, 1, 5};
  deft_tensor *I = i32_tensor(idxv, 3);
  deft_output idx = deft_const(g, I, "idx");
  deft_output p1 = deft_placeholder(g, dt, DEFT_SCALAR, "p1");
  deft_output p2 = deft_placeholder(g, dt, DEFT_SCALAR, "p2");
  deft_op *ur = build_apply(g, kind, false, sparse, dt, refv, grad, idx, p1, p2);
  deft_op *uv = build_apply(g, kind, true, sparse, dt, resv, grad, idx, p1, p2);
  check_ok(g);
  ck_assert_int_eq(deft_op_num_outputs(uv), 0);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output none = {NULL, 0};
  run(s, NULL, NULL, 0, none, initop);
  char *path = tmp("apply.bin");
  FILE *f = fopen(path, "wb");
  for (int k = 0; k <= kind_slots[kind]; k++) fwrite_tensor(f, init[k]);
  for (int t = 0; t < STEPS; t++) {
    deft_tensor *gv = rand_tensor(dt, sparse ? DEFT_SHAPE(3, 3) : vs, -2, 2);
    double b1p = pow(B1, t + 1), b2p = pow(B2, t + 1);
    deft_tensor *pv1 =
        dt == DEFT_FLOAT ? deft_tensor_scalar_float((float)b1p) : deft_tensor_scalar_double(b1p);
    deft_tensor *pv2 =
        dt == DEFT_FLOAT ? deft_tensor_scalar_float((float)b2p) : deft_tensor_scalar_double(b2p);
    deft_output feeds[3] = {grad, p1, p2};
    deft_tensor *vals[3] = {gv, pv1, pv2};
    int nf = kind == ADAM ? 3 : 1;
    run(s, feeds, vals, nf, none, ur);
    run(s, feeds, vals, nf, none, uv);
    fwrite_tensor(f, gv);
    for (int k = 0; k <= kind_slots[kind]; k++) {
      deft_tensor *a = deft_session_variable_value(s, refv[k], st);
      deft_tensor *b = deft_session_variable_value(s, resv[k], st);
      ck_assert_ptr_nonnull(a);
      ck_assert_ptr_nonnull(b);
      ck_assert_msg(!memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)),
                    "%s%s %s step %d: resource tensor %d differs from the ref op's",
                    sparse ? "sparse " : "", kind_names[kind], deft_dtype_name(dt), t, k);
      fwrite_tensor(f, b);
      deft_tensor_free(a);
      deft_tensor_free(b);
    }
    for (int k = 0; k < 3; k++) deft_tensor_free(vals[k]);
  }
  fclose(f);
  char hv[6][32];
  const double h[6] = {LR, MOM, RHO, EPS, B1, B2};
  const char *args[11] = {kind_names[kind], deft_dtype_name(dt), sparse ? "1" : "0", path};
  for (int i = 0; i < 6; i++) {
    snprintf(hv[i], sizeof hv[i], "%.17g", h[i]);
    args[4 + i] = hv[i];
  }
  args[10] = NULL;
  ck_assert_msg(tu_python(apply_script, args) == 0, "%s%s (%s) disagrees with NumPy",
                sparse ? "sparse " : "", kind_names[kind], deft_dtype_name(dt));
  remove(path);
  for (int k = 0; k < 3; k++) deft_tensor_free(init[k]);
  deft_tensor_free(I);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}

START_TEST(resource_apply_dense) {
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  for (int k = 0; k < NKINDS; k++) {
    check_apply(k, DEFT_FLOAT, false);
    check_apply(k, DEFT_DOUBLE, false);
  }
}
END_TEST

START_TEST(resource_apply_sparse) {
  ck_assert_msg(tu_have_numpy(), "NumPy is required for this test");
  const int kinds[] = {MOMENTUM, NESTEROV, ADAGRAD, RMSPROP};
  for (int i = 0; i < 4; i++) {
    check_apply(kinds[i], DEFT_FLOAT, true);
    check_apply(kinds[i], DEFT_DOUBLE, true);
  }
}
END_TEST

/* ---- gradients by finite differences ---- */

/* f(v) = sum(w * y(v)) with v set through the session. */
static double objective(deft_session *s, deft_op *var, const deft_tensor *v, deft_output y,
                        const deft_tensor *w) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_set_variable(s, var, v, st), "%s", deft_status_message(st));
  deft_output none = {NULL, 0};
  (void)none;
  deft_tensor *out = run(s, NULL, NULL, 0, y, NULL);
  double f = 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(out); i++)
    f += deft_tensor_get_double(out, i) * deft_tensor_get_double(w, i);
  deft_tensor_free(out);
  deft_status_free(st);
  return f;
}

/* y from the variable (handle h); checks d f / d v from deft_gradients (and, when sparse, from
 * deft_gradients_sparse's slices accumulated) against central differences. */
static void fd_check(deft_graph *g, deft_op *var, deft_output y, bool sparse) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *v = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(5, 3), -1, 1);
  ck_assert(deft_session_set_variable(s, var, v, st));
  deft_tensor *y0 = run(s, NULL, NULL, 0, y, NULL);
  deft_shape ys = deft_tensor_shape(y0);
  deft_tensor *w = rand_tensor(DEFT_DOUBLE, ys, 0.5, 1.5);
  deft_tensor_free(y0);
  deft_output wc = deft_const(g, w, "w");
  deft_output h = deft_op_output(var, 0), dx;
  ck_assert_msg(deft_gradients(g, &y, 1, &h, 1, &wc, &dx), "%s",
                deft_status_message(deft_graph_status(g)));
  ck_assert_ptr_nonnull(dx.op);
  deft_indexed_slices sl;
  memset(&sl, 0, sizeof sl);
  if (sparse) {
    ck_assert(deft_gradients_sparse(g, &y, 1, &h, 1, &wc, &sl));
    ck_assert_ptr_nonnull(sl.indices.op); /* TF's IndexedSlices */
  }
  deft_tensor *an = run(s, NULL, NULL, 0, dx, NULL);
  double dense_sparse[15] = {0};
  if (sparse) {
    deft_tensor *vals = run(s, NULL, NULL, 0, sl.values, NULL);
    deft_tensor *ix = run(s, NULL, NULL, 0, sl.indices, NULL);
    for (int64_t i = 0; i < deft_tensor_num_elements(ix); i++)
      for (int c = 0; c < 3; c++)
        dense_sparse[(int64_t)deft_tensor_get_double(ix, i) * 3 + c] +=
            deft_tensor_get_double(vals, i * 3 + c);
    deft_tensor_free(vals);
    deft_tensor_free(ix);
  }
  ck_assert_int_eq(deft_tensor_num_elements(an), 15);
  double *x = deft_tensor_data(v);
  for (int k = 0; k < 15; k++) {
    double orig = x[k], eps = 1e-6;
    x[k] = orig + eps;
    double fp = objective(s, var, v, y, w);
    x[k] = orig - eps;
    double fm = objective(s, var, v, y, w);
    x[k] = orig;
    double num = (fp - fm) / (2 * eps), a = deft_tensor_get_double(an, k);
    ck_assert_msg(fabs(a - num) <= 1e-6 + 1e-5 * fabs(num), "d/dv[%d]: autodiff %.10g, fd %.10g", k,
                  a, num);
    if (sparse)
      ck_assert_msg(fabs(dense_sparse[k] - num) <= 1e-6 + 1e-5 * fabs(num),
                    "sparse d/dv[%d]: %.10g, fd %.10g", k, dense_sparse[k], num);
  }
  deft_tensor_free(an);
  deft_tensor_free(v);
  deft_tensor_free(w);
  deft_session_free(s);
  deft_status_free(st);
}

START_TEST(gradient_read_variable) {
  deft_graph *g = deft_graph_new();
  deft_op *var = deft_var_handle_op(g, DEFT_DOUBLE, DEFT_SHAPE(5, 3), "v", "v");
  deft_output r = deft_read_variable_op(g, deft_op_output(var, 0), "read");
  deft_output r2 = deft_read_variable_op(g, deft_op_output(var, 0), "read2");
  deft_output y = deft_mul(g, deft_tanh(g, r, NULL), r2, NULL); /* two reads: gradients add */
  check_ok(g);
  fd_check(g, var, y, false);
  deft_graph_free(g);
}
END_TEST

START_TEST(gradient_resource_gather) {
  deft_graph *g = deft_graph_new();
  deft_op *var = deft_var_handle_op(g, DEFT_DOUBLE, DEFT_SHAPE(5, 3), "v", "v");
  const int32_t idxv[4] = {2, 0, 2, 4}; /* a repeated row */
  deft_tensor *I = i32_tensor(idxv, 4);
  deft_output gat = deft_resource_gather(g, deft_op_output(var, 0), deft_const(g, I, "idx"), NULL);
  deft_output y = deft_square(g, gat, NULL);
  check_ok(g);
  fd_check(g, var, y, true);
  /* the gradient graph is TF's: VariableShape of the handle for dense_shape */
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "gradients/ResourceGather_grad/VariableShape"));
  deft_tensor_free(I);
  deft_graph_free(g);
}
END_TEST

/* ---- the builders' resource mode: node structure and training ---- */

typedef struct model {
  deft_graph *g;
  deft_output x, ids, loss;
  deft_op *train, *init, *emb;
} model;

static model build_model(bool resource, int opt) {
  model m;
  m.g = deft_graph_new();
  deft_graph *g = m.g;
  deft_graph_set_seed(g, 7);
  deft_graph_set_resource_variables(g, resource);
  m.x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 6), "x");
  m.ids = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(5), "ids");
  m.emb = deft_get_variable(g, "emb", DEFT_FLOAT, DEFT_SHAPE(10, 6),
                            deft_init_random_uniform(-0.5, 0.5, 3), true);
  deft_output e = resource ? deft_resource_gather(g, deft_op_output(m.emb, 0), m.ids, "lookup")
                           : deft_gather(g, deft_variable_value(m.emb), m.ids, "lookup");
  /* explicit op seeds: with only a graph seed, an op's stream depends on how many ops precede
   * it (TF's rule), and resource variables have more ops than ref variables */
  deft_dense_options o = deft_dense_options_init();
  o.activation = "tanh";
  o.kernel_initializer = deft_init_glorot_uniform(11);
  deft_output h = deft_dense(g, m.x, 8, &o, "hidden");
  deft_dense_options o2 = deft_dense_options_init();
  o2.kernel_initializer = deft_init_glorot_uniform(12);
  o2.bias_initializer = deft_init_random_uniform(-0.1, 0.1, 13);
  deft_output logits = deft_dense(g, h, 3, &o2, "out");
  const int32_t ax[2] = {0, 1};
  deft_output l1 = deft_reduce_mean(g, deft_square(g, logits, NULL), ax, 2, false, NULL);
  deft_output l2 = deft_reduce_mean(g, deft_square(g, e, NULL), ax, 2, false, NULL);
  m.loss = deft_add(g, l1, l2, "loss");
  deft_optimizer *op = opt == GD         ? deft_optimizer_gradient_descent(g, 0.1f)
                       : opt == MOMENTUM ? deft_optimizer_momentum(g, 0.1f, 0.9f, false)
                       : opt == NESTEROV ? deft_optimizer_momentum(g, 0.1f, 0.9f, true)
                       : opt == ADAGRAD  ? deft_optimizer_adagrad(g, 0.1f, 0.1f)
                       : opt == RMSPROP  ? deft_optimizer_rmsprop(g, 0.01f, 0.9f, 0.5f, 1e-10f)
                                         : deft_optimizer_adam(g, 0.01f, 0.9f, 0.999f, 1e-8f);
  deft_op *gs = deft_global_step_new(g);
  m.train = deft_optimizer_minimize(op, m.loss, NULL, 0, gs, NULL);
  deft_optimizer_free(op);
  m.init = deft_global_variables_initializer(g, NULL);
  check_ok(g);
  return m;
}

/* Trains STEPS+2 steps at one thread; returns the session (caller frees). */
static deft_session *train(model *m, int steps) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m->g, st);
  ck_assert_ptr_nonnull(s);
  deft_output none = {NULL, 0};
  run(s, NULL, NULL, 0, none, m->init);
  uint64_t saved = rng;
  rng = 0x1234567ull; /* both models see the same data */
  for (int t = 0; t < steps; t++) {
    deft_tensor *xv = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 6), -1, 1);
    int32_t idv[5];
    for (int i = 0; i < 5; i++) idv[i] = (int32_t)(uniform(0, 10));
    idv[4] = idv[0]; /* a repeated id */
    deft_tensor *iv = i32_tensor(idv, 5);
    deft_output feeds[2] = {m->x, m->ids};
    deft_tensor *vals[2] = {xv, iv};
    run(s, feeds, vals, 2, none, m->train);
    deft_tensor_free(xv);
    deft_tensor_free(iv);
  }
  rng = saved;
  deft_status_free(st);
  return s;
}

static bool has_op(deft_graph *g, const char *name, const char *type) {
  deft_op *op = deft_graph_op_by_name(g, name);
  return op && !strcmp(deft_op_type(op), type);
}

static int count_type(deft_graph *g, const char *type) {
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    n += !strcmp(deft_op_type(deft_graph_op_at(g, i)), type);
  return n;
}

START_TEST(builder_node_structure) {
  model m = build_model(true, ADAM);
  deft_graph *g = m.g;
  ck_assert(has_op(g, "hidden/kernel", "VarHandleOp"));
  ck_assert(has_op(g, "hidden/kernel/Read/ReadVariableOp", "ReadVariableOp"));
  ck_assert(has_op(g, "hidden/kernel/Assign", "AssignVariableOp"));
  ck_assert(has_op(g, "hidden/kernel/IsInitialized/VarIsInitializedOp", "VarIsInitializedOp"));
  ck_assert(has_op(g, "hidden/kernel/Adam", "VarHandleOp")); /* the slots are resource too */
  ck_assert(has_op(g, "emb", "VarHandleOp"));
  const char *sn = NULL;
  size_t len = 0;
  ck_assert(
      deft_op_attr_string(deft_graph_op_by_name(g, "hidden/kernel"), "shared_name", &sn, &len));
  ck_assert_str_eq(sn, "hidden/kernel");
  ck_assert_int_eq(count_type(g, "ResourceApplyAdam"), 4);
  ck_assert_int_eq(count_type(g, "ApplyAdam"), 0);
  ck_assert_int_eq(count_type(g, "VariableV2"), 0);
  ck_assert_int_eq(count_type(g, "ResourceScatterAdd"), 2);  /* Adam's sparse path, on emb */
  ck_assert_int_eq(count_type(g, "AssignAddVariableOp"), 1); /* the global step */
  deft_graph_free(g);
  /* without the flag: ref variables, as before */
  m = build_model(false, MOMENTUM);
  ck_assert(has_op(m.g, "hidden/kernel", "VariableV2"));
  ck_assert_int_eq(count_type(m.g, "VarHandleOp"), 0);
  ck_assert_int_eq(count_type(m.g, "ApplyMomentum"), 4);
  deft_graph_free(m.g);
  m = build_model(true, MOMENTUM);
  ck_assert_int_eq(count_type(m.g, "ResourceApplyMomentum"), 4);
  ck_assert_int_eq(count_type(m.g, "ResourceSparseApplyMomentum"), 1);
  deft_graph_free(m.g);
}
END_TEST

static const char *const var_names[] = {"emb",        "hidden/kernel", "hidden/bias",
                                        "out/kernel", "out/bias",      "global_step"};

START_TEST(training_matches_ref_variables) {
  for (int opt = 0; opt < NKINDS; opt++) {
    model a = build_model(false, opt), b = build_model(true, opt);
    deft_session *sa = train(&a, 5), *sb = train(&b, 5);
    deft_status *st = deft_status_new();
    for (int i = 0; i < 6; i++) {
      deft_op *va = deft_graph_op_by_name(a.g, var_names[i]);
      deft_op *vb = deft_graph_op_by_name(b.g, var_names[i]);
      ck_assert_ptr_nonnull(va);
      ck_assert_ptr_nonnull(vb);
      ck_assert(deft_variable_is_resource(vb));
      deft_tensor *ta = deft_session_variable_value(sa, va, st);
      deft_tensor *tb = deft_session_variable_value(sb, vb, st);
      ck_assert_ptr_nonnull(ta);
      ck_assert_ptr_nonnull(tb);
      ck_assert_int_eq(deft_tensor_nbytes(ta), deft_tensor_nbytes(tb));
      ck_assert_msg(!memcmp(deft_tensor_data(ta), deft_tensor_data(tb), deft_tensor_nbytes(ta)),
                    "%s: '%s' differs between ref and resource variables", kind_names[opt],
                    var_names[i]);
      deft_tensor_free(ta);
      deft_tensor_free(tb);
    }
    /* training moved the variables: a fresh session holds the initial values */
    deft_session *s0 = train(&b, 0);
    deft_op *k = deft_graph_op_by_name(b.g, "hidden/kernel");
    deft_tensor *t0 = deft_session_variable_value(s0, k, st);
    deft_tensor *t5 = deft_session_variable_value(sb, k, st);
    ck_assert(memcmp(deft_tensor_data(t0), deft_tensor_data(t5), deft_tensor_nbytes(t0)) != 0);
    deft_tensor_free(t0);
    deft_tensor_free(t5);
    deft_session_free(s0);
    deft_tensor *gs =
        deft_session_variable_value(sb, deft_graph_op_by_name(b.g, "global_step"), st);
    ck_assert_int_eq(deft_tensor_get_double(gs, 0), 5);
    deft_tensor_free(gs);
    deft_status_free(st);
    deft_session_free(sa);
    deft_session_free(sb);
    deft_graph_free(a.g);
    deft_graph_free(b.g);
  }
}
END_TEST

/* ---- checkpoints between the kinds, and meta graph round trips ---- */

static void assert_same_vars(deft_session *sa, deft_graph *ga, deft_session *sb, deft_graph *gb) {
  deft_status *st = deft_status_new();
  for (int i = 0; i < 6; i++) {
    deft_tensor *ta = deft_session_variable_value(sa, deft_graph_op_by_name(ga, var_names[i]), st);
    deft_tensor *tb = deft_session_variable_value(sb, deft_graph_op_by_name(gb, var_names[i]), st);
    ck_assert_msg(ta && tb, "%s: %s", var_names[i], deft_status_message(st));
    ck_assert(!memcmp(deft_tensor_data(ta), deft_tensor_data(tb), deft_tensor_nbytes(ta)));
    deft_tensor_free(ta);
    deft_tensor_free(tb);
  }
  deft_status_free(st);
}

START_TEST(checkpoint_between_kinds) {
  deft_status *st = deft_status_new();
  model a = build_model(true, ADAM);
  deft_saver *sva = deft_saver_new(a.g, NULL, 0, 5, st);
  ck_assert_msg(sva != NULL, "%s", deft_status_message(st));
  ck_assert(has_op(a.g, "save/Read/ReadVariableOp", "ReadVariableOp"));
  ck_assert(has_op(a.g, "save/AssignVariableOp", "AssignVariableOp"));
  deft_session *sa = train(&a, 3);
  char *prefix = tmp("ckpt_res");
  ck_assert_msg(deft_saver_save(sva, sa, prefix, -1, NULL, st), "%s", deft_status_message(st));
  /* into a ref-variable graph */
  model b = build_model(false, ADAM);
  deft_saver *svb = deft_saver_new(b.g, NULL, 0, 5, st);
  ck_assert_ptr_nonnull(svb);
  deft_session *sb = deft_session_new(b.g, st);
  ck_assert_msg(deft_saver_restore(svb, sb, prefix, st), "%s", deft_status_message(st));
  assert_same_vars(sa, a.g, sb, b.g);
  /* train the ref graph on, save, and restore into a fresh resource graph */
  deft_session_free(sb);
  sb = train(&b, 2);
  char *prefix2 = tmp("ckpt_ref");
  ck_assert(deft_saver_save(svb, sb, prefix2, -1, NULL, st));
  model c = build_model(true, ADAM);
  deft_saver *svc = deft_saver_new(c.g, NULL, 0, 5, st);
  deft_session *sc = deft_session_new(c.g, st);
  ck_assert_msg(deft_saver_restore(svc, sc, prefix2, st), "%s", deft_status_message(st));
  assert_same_vars(sb, b.g, sc, c.g);
  deft_saver_free(sva);
  deft_saver_free(svb);
  deft_saver_free(svc);
  deft_session_free(sa);
  deft_session_free(sb);
  deft_session_free(sc);
  deft_graph_free(a.g);
  deft_graph_free(b.g);
  deft_graph_free(c.g);
  deft_status_free(st);
}
END_TEST

START_TEST(meta_graph_round_trip) {
  deft_status *st = deft_status_new();
  model a = build_model(true, MOMENTUM);
  deft_saver *sva = deft_saver_new(a.g, NULL, 0, 5, st);
  ck_assert_ptr_nonnull(sva);
  char *meta = tmp("res.meta");
  ck_assert_msg(deft_saver_export_meta_graph(sva, meta, st), "%s", deft_status_message(st));
  deft_meta_graph_info *info = NULL;
  deft_graph *g2 = deft_import_meta_graph(meta, NULL, &info, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  deft_op *k2 = deft_graph_op_by_name(g2, "hidden/kernel");
  ck_assert(deft_variable_is_resource(k2));
  ck_assert_ptr_nonnull(deft_variable_initializer(k2)); /* VariableDef is_resource imported */
  ck_assert_str_eq(deft_op_name(deft_variable_value(k2).op), "hidden/kernel/Read/ReadVariableOp");
  /* the re-imported graph trains to the same numbers as the original */
  model b = a;
  b.g = g2;
  b.x = deft_graph_tensor_by_name(g2, "x:0", st);
  b.ids = deft_graph_tensor_by_name(g2, "ids:0", st);
  b.init = deft_global_variables_initializer(g2, "init_1");
  deft_output t = {NULL, 0};
  ck_assert_int_eq(deft_graph_get_collection(g2, "train_op", NULL, &t, 1, NULL), 1);
  b.train = t.op;
  check_ok(g2);
  deft_session *sa = train(&a, 4), *sb = train(&b, 4);
  assert_same_vars(sa, a.g, sb, g2);
  /* the imported saver works on the imported graph */
  deft_saver *svb = deft_saver_from_names(g2, deft_meta_graph_info_filename_tensor(info),
                                          deft_meta_graph_info_save_tensor(info),
                                          deft_meta_graph_info_restore_op(info), 5, st);
  ck_assert_ptr_nonnull(svb);
  char *prefix = tmp("ckpt_meta");
  ck_assert_msg(deft_saver_save(svb, sb, prefix, -1, NULL, st), "%s", deft_status_message(st));
  deft_session *sc = deft_session_new(a.g, st);
  ck_assert_msg(deft_saver_restore(sva, sc, prefix, st), "%s", deft_status_message(st));
  assert_same_vars(sb, g2, sc, a.g);
  deft_saver_free(sva);
  deft_saver_free(svb);
  deft_meta_graph_info_free(info);
  deft_session_free(sa);
  deft_session_free(sb);
  deft_session_free(sc);
  deft_graph_free(a.g);
  deft_graph_free(g2);
  deft_status_free(st);
}
END_TEST

/* ---- errors ---- */

static deft_op *build_gd(deft_graph *g, const char *name, deft_output h, deft_output lr,
                         deft_output delta) {
  deft_op_builder *b = deft_op_builder_new(g, "ResourceApplyGradientDescent", name);
  deft_op_builder_add_input(b, h);
  deft_op_builder_add_input(b, lr);
  deft_op_builder_add_input(b, delta);
  return deft_op_builder_finish(b);
}

START_TEST(error_uninitialized_and_mismatches) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_resource_variables(g, true);
  deft_tensor *A = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -1, 1);
  deft_op *v = deft_variable_new(g, "w", deft_const(g, A, "A"), true);
  deft_output h = deft_op_output(v, 0);
  deft_output rd = deft_variable_value(v);
  /* an uninitialized read: FAILED_PRECONDITION naming the variable, as TF */
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  RUN_FAILS(s, rd, NULL, DEFT_FAILED_PRECONDITION, "'w'", "uninitialized", "ReadVariableOp");
  deft_op *gd = build_gd(g, "gd", h, deft_const_float(g, 0.1f, "lr"), deft_const(g, A, "delta"));
  check_ok(g);
  deft_output none = {NULL, 0};
  RUN_FAILS(s, none, gd, DEFT_FAILED_PRECONDITION, "uninitialized", "w");
  run(s, NULL, NULL, 0, none, deft_variable_initializer(v));
  /* dtype and shape mismatches at build time (the sticky error names the node) */
  deft_graph *g2 = deft_graph_new();
  deft_op *v2 = deft_var_handle_op(g2, DEFT_FLOAT, DEFT_SHAPE(5, 3), "v", "v");
  deft_assign_variable_op(g2, deft_op_output(v2, 0), deft_const_double(g2, 1.0, NULL), "bad");
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "AssignVariableOp 'bad'", "float",
                   "double");
  deft_graph_free(g2);
  g2 = deft_graph_new();
  v2 = deft_var_handle_op(g2, DEFT_FLOAT, DEFT_SHAPE(5, 3), "v", "v");
  deft_tensor *T35 = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 5), -1, 1);
  deft_assign_variable_op(g2, deft_op_output(v2, 0), deft_const(g2, T35, NULL), "bad");
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "'bad'", "[5,3]", "[3,5]");
  deft_graph_free(g2);
  /* ... and at run time, when the build cannot know (a handle through IdentityN, a value of
   * unknown shape) */
  deft_op *idn = deft_identity_n(g, &h, 1, "idn");
  deft_output h2 = deft_op_output(idn, 0);
  deft_op *badt = deft_assign_variable_op(g, h2, deft_const_int32(g, 3, NULL), "assign_int");
  deft_output anyshape = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "anyshape");
  deft_op *bads = deft_assign_add_variable_op(g, h, anyshape, "add_any");
  check_ok(g);
  RUN_FAILS(s, none, badt, DEFT_INVALID_ARGUMENT, "assign_int", "int32", "'w'", "float");
  deft_tensor *T35b = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 5), -1, 1);
  {
    deft_op *t = bads;
    deft_tensor *o = NULL;
    ck_assert(!deft_session_run(s, &anyshape, tu_feeds(&T35b), 1, NULL, &o, 0, &t, 1, st));
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "add_any", "[3,5]", "[5,3]");
  }
  /* a ResourceApply whose scalar has another dtype than the variable */
  deft_op *gd2 = build_gd(g, "gd_double", h2, deft_const_double(g, 0.1, "lr_d"),
                          deft_cast(g, deft_const(g, A, "delta_f"), DEFT_DOUBLE, NULL));
  check_ok(g);
  RUN_FAILS(s, none, gd2, DEFT_INVALID_ARGUMENT, "gd_double", "double", "'w'", "float");
  /* the variable is unchanged by the failed updates */
  deft_tensor *after = deft_session_variable_value(s, v, st);
  ck_assert_mem_eq(deft_tensor_data(after), deft_tensor_data(A), 60);
  deft_tensor_free(after);
  /* set_variable checks the resource variable's dtype */
  deft_tensor *dbl = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(5, 3), -1, 1);
  ck_assert(!deft_session_set_variable(s, v, dbl, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'w'", "float", "double");
  /* an out-of-range gather names the position */
  const int32_t bad_ix[2] = {1, 7};
  deft_tensor *BI = i32_tensor(bad_ix, 2);
  deft_output gat = deft_resource_gather(g, h, deft_const(g, BI, NULL), "gat");
  check_ok(g);
  RUN_FAILS(s, gat, NULL, DEFT_INVALID_ARGUMENT, "gat", "indices[1] = 7", "[0, 5)");
  /* read_variable_op on something that is not a handle */
  deft_read_variable_op(g, deft_const_float(g, 1, NULL), "not_handle");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ReadVariableOp",
                   "not a resource variable's handle");
  deft_tensor *all[6] = {A, T35, T35b, dbl, BI, NULL};
  for (int i = 0; all[i]; i++) deft_tensor_free(all[i]);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static deft_graph *import_text(const char *text, deft_status *st) {
  char *path = tmp("hostile.pbtxt");
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  remove(path);
  return g;
}

START_TEST(error_hostile_imports) {
  deft_status *st = deft_status_new();
  /* VarHandleOp with a dtype a variable cannot hold, a bad dimension, or no dtype */
  static const char *const bad[][2] = {
      {"node { name: 'v' op: 'VarHandleOp' attr { key: 'dtype' value { type: DT_RESOURCE } } "
       "attr { key: 'shape' value { shape { dim { size: 2 } } } } }",
       "dtype"},
      {"node { name: 'v' op: 'VarHandleOp' attr { key: 'dtype' value { type: DT_FLOAT } } "
       "attr { key: 'shape' value { shape { dim { size: -5 } } } } }",
       "-5"},
      {"node { name: 'v' op: 'VarHandleOp' "
       "attr { key: 'shape' value { shape { dim { size: 2 } } } } }",
       "dtype"},
      /* a read of the wrong dtype */
      {"node { name: 'v' op: 'VarHandleOp' attr { key: 'dtype' value { type: DT_FLOAT } } "
       "attr { key: 'shape' value { shape { dim { size: 2 } } } } }\n"
       "node { name: 'r' op: 'ReadVariableOp' input: 'v' "
       "attr { key: 'dtype' value { type: DT_DOUBLE } } }",
       "'r'"},
      /* a handle input fed from a float tensor */
      {"node { name: 'c' op: 'Const' attr { key: 'dtype' value { type: DT_FLOAT } } "
       "attr { key: 'value' value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } "
       "}\n"
       "node { name: 'r' op: 'ReadVariableOp' input: 'c' "
       "attr { key: 'dtype' value { type: DT_FLOAT } } }",
       "'r'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    deft_graph *g = import_text(bad[i][0], st);
    ck_assert_msg(g == NULL, "hostile graph %zu imported", i);
    ck_assert_msg(deft_status_code(st) == DEFT_INVALID_ARGUMENT, "%zu: %s", i,
                  deft_status_message(st));
    ck_assert_msg(strstr(deft_status_message(st), bad[i][1]), "%zu: %s", i,
                  deft_status_message(st));
  }
  /* a TensorArray's handle used as a variable's: a run-time error, not a crash */
  deft_graph *g = import_text(
      "node { name: 'n' op: 'Const' attr { key: 'dtype' value { type: DT_INT32 } } "
      "attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 2 } } } }\n"
      "node { name: 'ta' op: 'TensorArrayV3' input: 'n' "
      "attr { key: 'dtype' value { type: DT_FLOAT } } }\n"
      "node { name: 'r' op: 'ReadVariableOp' input: 'ta' "
      "attr { key: 'dtype' value { type: DT_FLOAT } } }",
      st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  deft_output r = deft_graph_tensor_by_name(g, "r:0", st);
  RUN_FAILS(s, r, NULL, DEFT_INVALID_ARGUMENT, "ReadVariableOp 'r'", "not a handle");
  deft_session_free(s);
  deft_graph_free(g);
  /* a resource tensor cannot be fed */
  g = deft_graph_new();
  deft_op *v = deft_var_handle_op(g, DEFT_FLOAT, DEFT_SHAPE(2), NULL, "v");
  deft_output rd = deft_read_variable_op(g, deft_op_output(v, 0), "r");
  s = deft_session_new(g, st);
  deft_output hh = deft_op_output(v, 0);
  int64_t one = 1;
  deft_tensor *fake = deft_tensor_new(DEFT_INT64, NULL, 0, st);
  memcpy(deft_tensor_data(fake), &one, sizeof one);
  deft_tensor *o = NULL;
  ck_assert(!deft_session_run(s, &hh, tu_feeds(&fake), 1, &rd, &o, 1, NULL, 0, st));
  ck_assert_int_eq(deft_status_code(st), DEFT_INVALID_ARGUMENT);
  deft_tensor_free(fake);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A checkpoint whose tensor has another shape than the resource variable: restore fails naming
 * it and the variable keeps its value. */
START_TEST(error_restore_shape_mismatch) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_tensor *A = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4), -1, 1);
  deft_op *v = deft_variable_new(g, "v", deft_const(g, A, NULL), true);
  deft_output vv = deft_op_output(v, 0);
  deft_saver *sv = deft_saver_new(g, &vv, 1, 5, st);
  deft_session *s = deft_session_new(g, st);
  deft_output none = {NULL, 0};
  run(s, NULL, NULL, 0, none, deft_variable_initializer(v));
  char *prefix = tmp("ckpt_shape");
  ck_assert(deft_saver_save(sv, s, prefix, -1, NULL, st));
  deft_graph *g2 = deft_graph_new();
  deft_graph_set_resource_variables(g2, true);
  deft_tensor *B = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 2), -1, 1);
  deft_op *v2 = deft_variable_new(g2, "v", deft_const(g2, B, NULL), true);
  deft_output vv2 = deft_op_output(v2, 0);
  deft_saver *sv2 = deft_saver_new(g2, &vv2, 1, 5, st);
  ck_assert_ptr_nonnull(sv2);
  deft_session *s2 = deft_session_new(g2, st);
  run(s2, NULL, NULL, 0, none, deft_variable_initializer(v2));
  ck_assert(!deft_saver_restore(sv2, s2, prefix, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "v");
  deft_tensor *after = deft_session_variable_value(s2, v2, st);
  ck_assert_mem_eq(deft_tensor_data(after), deft_tensor_data(B), 16);
  deft_tensor_free(after);
  deft_tensor_free(A);
  deft_tensor_free(B);
  deft_saver_free(sv);
  deft_saver_free(sv2);
  deft_session_free(s);
  deft_session_free(s2);
  deft_graph_free(g);
  deft_graph_free(g2);
  deft_status_free(st);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("resource_vars");
  TCase *ops = tcase_create("ops");
  tcase_set_timeout(ops, 300);
  tcase_add_test(ops, ops_against_numpy);
  tcase_add_test(ops, resource_apply_dense);
  tcase_add_test(ops, resource_apply_sparse);
  tcase_add_test(ops, gradient_read_variable);
  tcase_add_test(ops, gradient_resource_gather);
  suite_add_tcase(s, ops);
  TCase *models = tcase_create("models");
  tcase_set_timeout(models, 300);
  tcase_add_test(models, builder_node_structure);
  tcase_add_test(models, training_matches_ref_variables);
  tcase_add_test(models, checkpoint_between_kinds);
  tcase_add_test(models, meta_graph_round_trip);
  suite_add_tcase(s, models);
  TCase *errors = tcase_create("errors");
  tcase_add_test(errors, error_uninitialized_and_mismatches);
  tcase_add_test(errors, error_hostile_imports);
  tcase_add_test(errors, error_restore_shape_mismatch);
  suite_add_tcase(s, errors);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
