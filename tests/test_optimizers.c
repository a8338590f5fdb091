/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_optimizers.c - optimizers (trajectories vs NumPy reimplementations of TF's update
 * formulas, TF's node and slot names, freezing), the global step and exponential decay, clipping,
 * regularization loss and max-norm, and their error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "testutil.h"

/* ---- the least-squares problem: loss = mean((X w + Z v - scale * y)^2) ---- */

static const float X_DATA[12] = {1, 2, 0.5f, -1, 2, 0.3f, -1, 1.5f, 0.7f, 0.2f, 1.2f, -0.4f};
static const float Z_DATA[6] = {0.3f, 1.0f, -0.5f, 0.8f, -1.2f, 0.1f};
static const float Y_DATA[6] = {1.0f, -0.5f, 2.0f, 0.3f, -1.0f, 0.9f};
static const float W0[2] = {0.5f, -0.3f};
static const float V0[1] = {0.2f};

typedef struct problem {
  deft_graph *g;
  deft_op *w, *v;
  deft_output loss;
} problem;

static deft_output const_f32(deft_graph *g, const float *data, int64_t rows, int64_t cols,
                             const char *name) {
  int64_t dims[2] = {rows, cols};
  deft_tensor *t = deft_tensor_from_data(DEFT_FLOAT, dims, 2, data,
                                         sizeof(float) * (size_t)(rows * cols), NULL);
  ck_assert_ptr_nonnull(t);
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

/* Builds the problem; with stop_v, v's value reaches the loss only through StopGradient. */
static problem make_problem(float scale, bool stop_v) {
  problem p;
  p.g = deft_graph_new();
  ck_assert_ptr_nonnull(p.g);
  deft_graph *g = p.g;
  float ys[6];
  for (int i = 0; i < 6; i++) ys[i] = Y_DATA[i] * scale;
  deft_output X = const_f32(g, X_DATA, 6, 2, "X");
  deft_output Z = const_f32(g, Z_DATA, 6, 1, "Z");
  deft_output y = const_f32(g, ys, 6, 1, "y");
  p.w = deft_variable_new(g, "w", const_f32(g, W0, 2, 1, "w_init"), true);
  p.v = deft_variable_new(g, "v", const_f32(g, V0, 1, 1, "v_init"), true);
  deft_output vv = deft_variable_value(p.v);
  if (stop_v) vv = deft_stop_gradient(g, vv, NULL);
  deft_output xw = deft_matmul(g, X, deft_variable_value(p.w), false, false, NULL); /* MatMul */
  deft_output zv = deft_matmul(g, Z, vv, false, false, NULL);                       /* MatMul_1 */
  deft_output pred = deft_add(g, xw, zv, "pred");
  p.loss = deft_reduce_mean(g, deft_square(g, deft_sub(g, pred, y, NULL), NULL), NULL, 0, false,
                            "loss");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  return p;
}

static deft_session *start(deft_graph *g) {
  deft_status *st = deft_status_new();
  deft_op *init = deft_global_variables_initializer(g, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s != NULL, "%s", deft_status_message(st));
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  return s;
}

static void run_op(deft_session *s, deft_op *op) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &op, 1, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
}

/* Fetches a tensor's elements as doubles; returns the count. */
static int fetch(deft_session *s, deft_output o, double *out, int max) {
  deft_status *st = deft_status_new();
  deft_tensor *t = NULL;
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &o, &t, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  int n = (int)deft_tensor_num_elements(t);
  for (int i = 0; i < n && i < max; i++) out[i] = deft_tensor_get_double(t, i);
  deft_tensor_free(t);
  deft_status_free(st);
  return n;
}

static int var_values(deft_session *s, deft_op *var, double *out, int max) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_session_variable_value(s, var, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  int n = (int)deft_tensor_num_elements(t);
  for (int i = 0; i < n && i < max; i++) out[i] = deft_tensor_get_double(t, i);
  deft_tensor_free(t);
  deft_status_free(st);
  return n;
}

/* A copy of the variable's raw bytes (for bit-identity checks); caller frees. */
static void *var_bytes(deft_session *s, deft_op *var, size_t *n) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_session_variable_value(s, var, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  *n = deft_tensor_nbytes(t);
  void *p = malloc(*n);
  memcpy(p, deft_tensor_data(t), *n);
  deft_tensor_free(t);
  deft_status_free(st);
  return p;
}

static void assert_close(double got, double want, double rtol, double atol, const char *what,
                         int i) {
  ck_assert_msg(fabs(got - want) <= atol + rtol * fabs(want), "%s[%d]: got %.9g, want %.9g", what,
                i, got, want);
}

/* ---- NumPy references ---- */

/* Runs script (which writes whitespace-separated numbers to sys.argv[1]) with extra args; reads
 * up to max numbers back. */
static int py_values(const char *script, const char *const *extra, double *out, int max) {
  static int counter;
  char path[512];
  snprintf(path, sizeof path, "%s/py-out-%d.txt", tu_tmpdir(), counter++);
  const char *args[16] = {path};
  int k = 1;
  for (int i = 0; extra && extra[i] && k < 15; i++) args[k++] = extra[i];
  args[k] = NULL;
  ck_assert_msg(tu_python(script, args) == 0, "python reference failed");
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  int n = 0;
  double d;
  while (n < max && fscanf(f, "%lf", &d) == 1) out[n++] = d;
  fclose(f);
  remove(path);
  return n;
}

/* Formats a float array as a NumPy float32 array literal. */
static void py_array(char *buf, size_t size, const char *name, const float *v, int n, int rows,
                     int cols) {
  size_t pos = (size_t)snprintf(buf, size, "%s=np.array([", name);
  for (int i = 0; i < n; i++) pos += (size_t)snprintf(buf + pos, size - pos, "%.9g,", (double)v[i]);
  snprintf(buf + pos, size - pos, "],np.float32).reshape(%d,%d)\n", rows, cols);
}

/* The TF update formulas (training_ops.cc kernels), in float32. argv: out kind steps lr h0 h1 h2
 * scale clip freeze_v. Writes w0 w1 v0 after each step. */
static const char *REF_BODY =
    "f=np.float32\n"
    "out,kind,steps=sys.argv[1],sys.argv[2],int(sys.argv[3])\n"
    "lr=f(sys.argv[4]); h=[f(a) for a in sys.argv[5:8]]\n"
    "scale=f(sys.argv[8]); clip=float(sys.argv[9]); freeze_v=int(sys.argv[10])\n"
    "ys=y*scale\n"
    "P={'w':W.copy(),'v':V.copy()}\n"
    "S={}; b1p=h[0]; b2p=h[1]\n"
    "res=[]\n"
    "for t in range(steps):\n"
    "  r=X@P['w']+Z@P['v']-ys\n"
    "  d=(f(2)*r)*f(1.0/6)\n"
    "  G={'w':X.T@d,'v':Z.T@d}\n"
    "  if freeze_v: del G['v']\n"
    "  for n,g in G.items():\n"
    "    if clip>0: g=np.clip(g,f(-clip),f(clip))\n"
    "    p=P[n]\n"
    "    if kind=='gd': p=p-lr*g\n"
    "    elif kind in('momentum','nesterov'):\n"
    "      a=S.get(n,np.zeros_like(p))*h[0]+g; S[n]=a\n"
    "      p=p-(g*lr+a*h[0]*lr) if kind=='nesterov' else p-lr*a\n"
    "    elif kind=='adagrad':\n"
    "      a=S.get(n,np.full_like(p,h[0]))+g*g; S[n]=a\n"
    "      p=p-g*lr/np.sqrt(a)\n"
    "    elif kind=='rmsprop':\n"
    "      ms,mom=S.get(n,(np.ones_like(p),np.zeros_like(p)))\n"
    "      ms=ms+(g*g-ms)*(f(1)-h[0]); mom=mom*h[1]+g*lr/np.sqrt(ms+h[2]); S[n]=(ms,mom)\n"
    "      p=p-mom\n"
    "    elif kind=='adam':\n"
    "      m,v=S.get(n,(np.zeros_like(p),np.zeros_like(p)))\n"
    "      alpha=lr*np.sqrt(f(1)-b2p)/(f(1)-b1p)\n"
    "      m=m+(g-m)*(f(1)-h[0]); v=v+(g*g-v)*(f(1)-h[1]); S[n]=(m,v)\n"
    "      p=p-m*alpha/(np.sqrt(v)+h[2])\n"
    "    P[n]=p.astype(f)\n"
    "  if kind=='adam': b1p=f(b1p*h[0]); b2p=f(b2p*h[1])\n"
    "  res+=list(P['w'].ravel())+list(P['v'].ravel())\n"
    "open(out,'w').write(' '.join('%.10g'%x for x in res))\n";

#define STEPS 6

/* Reference trajectory: STEPS x {w0, w1, v0}. */
static void reference(const char *kind, float lr, float h0, float h1, float h2, float scale,
                      float clip, bool freeze_v, double *traj) {
  ck_assert_msg(tu_have_numpy(), "NumPy is required for the reference values");
  char script[8192], a[1024];
  size_t pos = (size_t)snprintf(script, sizeof script, "import sys\nimport numpy as np\n");
  py_array(a, sizeof a, "X", X_DATA, 12, 6, 2);
  pos += (size_t)snprintf(script + pos, sizeof script - pos, "%s", a);
  py_array(a, sizeof a, "Z", Z_DATA, 6, 6, 1);
  pos += (size_t)snprintf(script + pos, sizeof script - pos, "%s", a);
  py_array(a, sizeof a, "y", Y_DATA, 6, 6, 1);
  pos += (size_t)snprintf(script + pos, sizeof script - pos, "%s", a);
  py_array(a, sizeof a, "W", W0, 2, 2, 1);
  pos += (size_t)snprintf(script + pos, sizeof script - pos, "%s", a);
  py_array(a, sizeof a, "V", V0, 1, 1, 1);
  pos += (size_t)snprintf(script + pos, sizeof script - pos, "%s%s", a, REF_BODY);
  char steps[16], s_lr[32], s0[32], s1[32], s2[32], s_scale[32], s_clip[32];
  snprintf(steps, sizeof steps, "%d", STEPS);
  snprintf(s_lr, sizeof s_lr, "%.9g", (double)lr);
  snprintf(s0, sizeof s0, "%.9g", (double)h0);
  snprintf(s1, sizeof s1, "%.9g", (double)h1);
  snprintf(s2, sizeof s2, "%.9g", (double)h2);
  snprintf(s_scale, sizeof s_scale, "%.9g", (double)scale);
  snprintf(s_clip, sizeof s_clip, "%.9g", (double)clip);
  const char *args[] = {kind, steps, s_lr, s0, s1, s2, s_scale, s_clip, freeze_v ? "1" : "0",
                        NULL};
  ck_assert_int_eq(py_values(script, args, traj, STEPS * 3), STEPS * 3);
}

/* Runs train STEPS times and compares w and v after each step with the reference. */
static void check_trajectory(deft_session *s, const problem *p, deft_op *train,
                             const double *traj, const char *what) {
  for (int t = 0; t < STEPS; t++) {
    run_op(s, train);
    double w[2], v[1];
    ck_assert_int_eq(var_values(s, p->w, w, 2), 2);
    ck_assert_int_eq(var_values(s, p->v, v, 1), 1);
    char label[64];
    snprintf(label, sizeof label, "%s step %d w", what, t + 1);
    assert_close(w[0], traj[t * 3 + 0], 2e-5, 1e-6, label, 0);
    assert_close(w[1], traj[t * 3 + 1], 2e-5, 1e-6, label, 1);
    snprintf(label, sizeof label, "%s step %d v", what, t + 1);
    assert_close(v[0], traj[t * 3 + 2], 2e-5, 1e-6, label, 0);
  }
}

static deft_op *op_named(deft_graph *g, const char *name) {
  deft_op *op = deft_graph_op_by_name(g, name);
  ck_assert_msg(op != NULL, "no op named '%s'", name);
  return op;
}

static void assert_op(deft_graph *g, const char *name, const char *type) {
  deft_op *op = op_named(g, name);
  ck_assert_msg(strcmp(deft_op_type(op), type) == 0, "'%s' has type %s, expected %s", name,
                deft_op_type(op), type);
}

static bool has_control_input(deft_op *op, deft_op *dep) {
  for (int i = 0; i < deft_op_num_control_inputs(op); i++)
    if (deft_op_control_input(op, i) == dep) return true;
  return false;
}

static bool in_collection(deft_graph *g, const char *key, deft_output item) {
  deft_output items[64];
  int n = deft_graph_get_collection(g, key, NULL, items, 64, NULL);
  for (int i = 0; i < n && i < 64; i++)
    if (items[i].op == item.op && items[i].index == item.index) return true;
  return false;
}

static float const_value(deft_graph *g, const char *name) {
  const deft_tensor *t = NULL;
  ck_assert(deft_op_attr_tensor(op_named(g, name), "value", &t));
  return (float)deft_tensor_get_double(t, 0);
}

/* ---- optimizers ---- */

START_TEST(gradient_descent_trajectory_and_names) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_gradient_descent(p.g, 0.1f);
  ck_assert_ptr_nonnull(opt);
  deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_str_eq(deft_op_name(train), "GradientDescent");
  ck_assert_str_eq(deft_op_type(train), "NoOp");
  assert_op(p.g, "GradientDescent/learning_rate", "Const");
  ck_assert(const_value(p.g, "GradientDescent/learning_rate") == 0.1f);
  deft_op *uw = op_named(p.g, "GradientDescent/update_w/ApplyGradientDescent");
  deft_op *uv = op_named(p.g, "GradientDescent/update_v/ApplyGradientDescent");
  ck_assert_str_eq(deft_op_type(uw), "ApplyGradientDescent");
  ck_assert_ptr_eq(deft_op_input(uw, 0).op, p.w); /* the VariableV2 itself */
  ck_assert_int_eq(deft_op_input(uw, 0).index, 0);
  ck_assert_str_eq(deft_op_name(deft_op_input(uw, 1).op), "GradientDescent/learning_rate");
  ck_assert(has_control_input(train, uw) && has_control_input(train, uv));
  ck_assert_int_eq(deft_op_num_control_inputs(train), 2);
  deft_output item = {train, -1};
  ck_assert(in_collection(p.g, DEFT_TRAIN_OP, item));
  /* the gradient reaching w flows through w/read */
  ck_assert_str_eq(deft_op_name(deft_op_input(uw, 2).op),
                   "gradients/MatMul_grad/tuple/control_dependency_1");
  double traj[STEPS * 3];
  reference("gd", 0.1f, 0, 0, 0, 1.0f, 0, false, traj);
  deft_session *s = start(p.g);
  check_trajectory(s, &p, train, traj, "GradientDescent");
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

static void momentum_case(bool nesterov) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_momentum(p.g, 0.05f, 0.9f, nesterov);
  deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_str_eq(deft_op_name(train), "Momentum");
  assert_op(p.g, "Momentum/learning_rate", "Const");
  assert_op(p.g, "Momentum/momentum", "Const");
  ck_assert(const_value(p.g, "Momentum/momentum") == 0.9f);
  deft_op *u = op_named(p.g, "Momentum/update_w/ApplyMomentum");
  ck_assert_str_eq(deft_op_type(u), "ApplyMomentum");
  bool nest = !nesterov;
  ck_assert(deft_op_attr_bool(u, "use_nesterov", &nest));
  ck_assert(nest == nesterov);
  deft_op *slot = op_named(p.g, "w/Momentum");
  ck_assert_str_eq(deft_op_type(slot), "VariableV2");
  ck_assert_ptr_eq(deft_op_input(u, 1).op, slot);
  assert_op(p.g, "w/Momentum/Initializer/zeros", "Const");
  ck_assert(!deft_variable_trainable(slot));
  ck_assert(in_collection(p.g, DEFT_GLOBAL_VARIABLES, deft_op_output(slot, 0)));
  ck_assert(!in_collection(p.g, DEFT_TRAINABLE_VARIABLES, deft_op_output(slot, 0)));
  double traj[STEPS * 3];
  reference(nesterov ? "nesterov" : "momentum", 0.05f, 0.9f, 0, 0, 1.0f, 0, false, traj);
  deft_session *s = start(p.g);
  check_trajectory(s, &p, train, traj, nesterov ? "Nesterov" : "Momentum");
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}

START_TEST(momentum_trajectory) { momentum_case(false); }
END_TEST

START_TEST(nesterov_trajectory) { momentum_case(true); }
END_TEST

START_TEST(adagrad_trajectory) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_adagrad(p.g, 0.3f, 0.1f);
  deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_str_eq(deft_op_name(train), "Adagrad");
  assert_op(p.g, "Adagrad/update_w/ApplyAdagrad", "ApplyAdagrad");
  assert_op(p.g, "w/Adagrad", "VariableV2");
  assert_op(p.g, "v/Adagrad", "VariableV2");
  assert_op(p.g, "w/Adagrad/Initializer/Const", "Const");
  ck_assert(const_value(p.g, "w/Adagrad/Initializer/Const") == 0.1f);
  double traj[STEPS * 3];
  reference("adagrad", 0.3f, 0.1f, 0, 0, 1.0f, 0, false, traj);
  deft_session *s = start(p.g);
  double acc[2];
  ck_assert_int_eq(var_values(s, op_named(p.g, "w/Adagrad"), acc, 2), 2);
  ck_assert(acc[0] == (double)0.1f && acc[1] == (double)0.1f);
  check_trajectory(s, &p, train, traj, "Adagrad");
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(rmsprop_trajectory) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_rmsprop(p.g, 0.01f, 0.9f, 0.5f, 1e-10f);
  deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_str_eq(deft_op_name(train), "RMSProp");
  const char *consts[] = {"RMSProp/learning_rate", "RMSProp/decay", "RMSProp/momentum",
                          "RMSProp/epsilon"};
  for (int i = 0; i < 4; i++) assert_op(p.g, consts[i], "Const");
  deft_op *u = op_named(p.g, "RMSProp/update_w/ApplyRMSProp");
  ck_assert_ptr_eq(deft_op_input(u, 1).op, op_named(p.g, "w/RMSProp"));
  ck_assert_ptr_eq(deft_op_input(u, 2).op, op_named(p.g, "w/RMSProp_1"));
  assert_op(p.g, "w/RMSProp/Initializer/ones", "Const");
  assert_op(p.g, "w/RMSProp_1/Initializer/zeros", "Const");
  double traj[STEPS * 3];
  reference("rmsprop", 0.01f, 0.9f, 0.5f, 1e-10f, 1.0f, 0, false, traj);
  deft_session *s = start(p.g);
  check_trajectory(s, &p, train, traj, "RMSProp");
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(adam_trajectory_and_names) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_adam(p.g, 0.05f, 0.9f, 0.999f, 1e-8f);
  deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_str_eq(deft_op_name(train), "Adam");
  const char *consts[] = {"Adam/learning_rate", "Adam/beta1", "Adam/beta2", "Adam/epsilon",
                          "beta1_power/initial_value", "beta2_power/initial_value",
                          "w/Adam/Initializer/zeros", "w/Adam_1/Initializer/zeros"};
  for (int i = 0; i < 8; i++) assert_op(p.g, consts[i], "Const");
  deft_op *b1 = op_named(p.g, "beta1_power"), *b2 = op_named(p.g, "beta2_power");
  ck_assert(!deft_variable_trainable(b1));
  ck_assert(in_collection(p.g, DEFT_GLOBAL_VARIABLES, deft_op_output(b1, 0)));
  ck_assert(in_collection(p.g, DEFT_GLOBAL_VARIABLES, deft_op_output(b2, 0)));
  deft_op *u = op_named(p.g, "Adam/update_w/ApplyAdam");
  ck_assert_ptr_eq(deft_op_input(u, 0).op, p.w);
  ck_assert_ptr_eq(deft_op_input(u, 1).op, op_named(p.g, "w/Adam"));
  ck_assert_ptr_eq(deft_op_input(u, 2).op, op_named(p.g, "w/Adam_1"));
  ck_assert_str_eq(deft_op_name(deft_op_input(u, 3).op), "beta1_power/read");
  ck_assert_str_eq(deft_op_name(deft_op_input(u, 4).op), "beta2_power/read");
  /* beta powers: Assign(power, power * beta) after the updates, grouped into Adam */
  assert_op(p.g, "Adam/mul", "Mul");
  assert_op(p.g, "Adam/mul_1", "Mul");
  deft_op *a1 = op_named(p.g, "Adam/Assign"), *a2 = op_named(p.g, "Adam/Assign_1");
  ck_assert_ptr_eq(deft_op_input(a1, 0).op, b1);
  ck_assert_ptr_eq(deft_op_input(a2, 0).op, b2);
  deft_op *mul = op_named(p.g, "Adam/mul");
  ck_assert(has_control_input(mul, u));
  ck_assert(has_control_input(mul, op_named(p.g, "Adam/update_v/ApplyAdam")));
  ck_assert(has_control_input(train, u) && has_control_input(train, a1) &&
            has_control_input(train, a2));
  ck_assert_int_eq(deft_op_num_control_inputs(train), 4);
  double traj[STEPS * 3];
  reference("adam", 0.05f, 0.9f, 0.999f, 1e-8f, 1.0f, 0, false, traj);
  deft_session *s = start(p.g);
  check_trajectory(s, &p, train, traj, "Adam");
  double pw[1];
  var_values(s, b1, pw, 1);
  assert_close(pw[0], pow(0.9, STEPS + 1), 1e-5, 0, "beta1_power", 0);
  var_values(s, b2, pw, 1);
  assert_close(pw[0], pow(0.999, STEPS + 1), 1e-5, 0, "beta2_power", 0);
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(global_step_and_exponential_decay) {
  for (int staircase = 0; staircase < 2; staircase++) {
    problem p = make_problem(1.0f, false);
    deft_op *gs = deft_global_step_new(p.g);
    ck_assert_ptr_nonnull(gs);
    ck_assert_str_eq(deft_op_name(gs), "global_step");
    ck_assert(!deft_variable_trainable(gs));
    ck_assert(in_collection(p.g, "global_step", deft_op_output(gs, 0)));
    deft_output lr =
        deft_exponential_decay(p.g, 0.2f, deft_op_output(gs, 0), 2, 0.5f, staircase, NULL);
    ck_assert_msg(lr.op != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
    ck_assert_str_eq(deft_op_name(lr.op), "ExponentialDecay");
    ck_assert_str_eq(deft_op_type(lr.op), "Mul");
    assert_op(p.g, "ExponentialDecay/learning_rate", "Const");
    assert_op(p.g, "ExponentialDecay/Cast", "Cast");
    /* the step is read through its snapshot: Cast(global_step/read) as TF, or, for staircase
     * without a Floor kernel, an exact FloorDiv(global_step/read, 2) before the Cast */
    deft_op *first = deft_graph_op_by_name(p.g, "ExponentialDecay/FloorDiv");
    if (!staircase || !first) first = op_named(p.g, "ExponentialDecay/Cast");
    ck_assert_str_eq(deft_op_name(deft_op_input(first, 0).op), "global_step/read");
    if (staircase)
      ck_assert(deft_graph_op_by_name(p.g, "ExponentialDecay/Floor") != NULL ||
                deft_graph_op_by_name(p.g, "ExponentialDecay/FloorDiv") != NULL);
    deft_optimizer *opt = deft_optimizer_gradient_descent(p.g, 123.0f);
    deft_optimizer_set_learning_rate_tensor(opt, lr);
    deft_op *train = deft_optimizer_minimize(opt, p.loss, NULL, 0, gs, NULL);
    ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
    /* TF: GradientDescent = AssignAdd(global_step, GradientDescent/value), the value Const
     * under a control dependency on the GradientDescent/update NoOp */
    ck_assert_str_eq(deft_op_name(train), "GradientDescent");
    ck_assert_str_eq(deft_op_type(train), "AssignAdd");
    ck_assert_ptr_eq(deft_op_input(train, 0).op, gs);
    deft_op *value = op_named(p.g, "GradientDescent/value");
    ck_assert_ptr_eq(deft_op_input(train, 1).op, value);
    deft_op *update = op_named(p.g, "GradientDescent/update");
    ck_assert_str_eq(deft_op_type(update), "NoOp");
    ck_assert(has_control_input(value, update));
    ck_assert(deft_graph_op_by_name(p.g, "GradientDescent/learning_rate") == NULL);
    deft_op *u = op_named(p.g, "GradientDescent/update_w/ApplyGradientDescent");
    ck_assert_ptr_eq(deft_op_input(u, 1).op, lr.op);
    deft_output item = {train, -1};
    ck_assert(in_collection(p.g, DEFT_TRAIN_OP, item));

    /* reference: lr_k = 0.2 * 0.5^(k/2) (floored if staircase), then GD with it */
    const char *script =
        "import sys\nimport numpy as np\nf=np.float32\n"
        "st=int(sys.argv[2]); r=[]\n"
        "for k in range(6):\n"
        "  p=f(k)/f(2)\n"
        "  if st: p=np.floor(p)\n"
        "  r.append(f(0.2)*np.power(f(0.5),f(p)))\n"
        "open(sys.argv[1],'w').write(' '.join('%.10g'%x for x in r))\n";
    const char *args[] = {staircase ? "1" : "0", NULL};
    double want_lr[6];
    ck_assert_int_eq(py_values(script, args, want_lr, 6), 6);
    deft_session *s = start(p.g);
    double w_ref[2] = {W0[0], W0[1]}, v_ref = V0[0];
    for (int k = 0; k < 6; k++) {
      double got, step;
      fetch(s, lr, &got, 1);
      assert_close(got, want_lr[k], 1e-6, 0, staircase ? "staircase lr" : "lr", k);
      fetch(s, deft_variable_value(gs), &step, 1);
      ck_assert(step == k);
      /* one GD step in double from the current values (checks the decayed rate is used) */
      double r[6], gw0 = 0, gw1 = 0, gv = 0;
      for (int i = 0; i < 6; i++) {
        r[i] = X_DATA[2 * i] * w_ref[0] + X_DATA[2 * i + 1] * w_ref[1] + Z_DATA[i] * v_ref -
               Y_DATA[i];
        gw0 += X_DATA[2 * i] * r[i] / 3;
        gw1 += X_DATA[2 * i + 1] * r[i] / 3;
        gv += Z_DATA[i] * r[i] / 3;
      }
      w_ref[0] -= want_lr[k] * gw0;
      w_ref[1] -= want_lr[k] * gw1;
      v_ref -= want_lr[k] * gv;
      run_op(s, train);
      double w[2];
      var_values(s, p.w, w, 2);
      assert_close(w[0], w_ref[0], 1e-4, 1e-6, "decayed GD w", 0);
      assert_close(w[1], w_ref[1], 1e-4, 1e-6, "decayed GD w", 1);
    }
    double step;
    var_values(s, gs, &step, 1);
    ck_assert(step == 6);
    deft_session_free(s);
    deft_optimizer_free(opt);
    deft_graph_free(p.g);
  }
}
END_TEST

START_TEST(var_list_freezes_other_variables) {
  const int kinds = 3;
  for (int kind = 0; kind < kinds; kind++) {
    problem p = make_problem(1.0f, false);
    deft_optimizer *opt = kind == 0   ? deft_optimizer_gradient_descent(p.g, 0.1f)
                          : kind == 1 ? deft_optimizer_momentum(p.g, 0.1f, 0.9f, false)
                                      : deft_optimizer_adam(p.g, 0.1f, 0.9f, 0.999f, 1e-8f);
    deft_op *only_w[1] = {p.w};
    deft_op *train = deft_optimizer_minimize(opt, p.loss, only_w, 1, NULL, NULL);
    ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
    ck_assert(deft_graph_op_by_name(p.g, "v/Momentum") == NULL);
    ck_assert(deft_graph_op_by_name(p.g, "v/Adam") == NULL);
    deft_session *s = start(p.g);
    size_t n0, n1, w0n;
    void *before = var_bytes(s, p.v, &n0);
    void *w_before = var_bytes(s, p.w, &w0n);
    for (int t = 0; t < 5; t++) run_op(s, train);
    void *after = var_bytes(s, p.v, &n1);
    void *w_after = var_bytes(s, p.w, &w0n);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    ck_assert(memcmp(w_before, w_after, w0n) != 0);
    if (kind == 0) { /* and the trajectory of w matches the frozen-v reference */
      deft_session_free(s);
      s = start(p.g);
      double traj[STEPS * 3];
      reference("gd", 0.1f, 0, 0, 0, 1.0f, 0, true, traj);
      check_trajectory(s, &p, train, traj, "GD var_list");
    }
    free(before), free(after), free(w_before), free(w_after);
    deft_session_free(s);
    deft_optimizer_free(opt);
    deft_graph_free(p.g);
  }
}
END_TEST

START_TEST(stop_gradient_freezes_variable) {
  problem p = make_problem(1.0f, true);
  deft_optimizer *opt = deft_optimizer_adam(p.g, 0.1f, 0.9f, 0.999f, 1e-8f);
  deft_grad_and_var gv[2];
  int n = deft_optimizer_compute_gradients(opt, p.loss, NULL, 0, gv, 2);
  ck_assert_int_eq(n, 2);
  ck_assert_ptr_eq(gv[0].var, p.w);
  ck_assert_ptr_nonnull(gv[0].grad.op);
  ck_assert_ptr_eq(gv[1].var, p.v);
  ck_assert_ptr_null(gv[1].grad.op); /* behind StopGradient */
  deft_op *train = deft_optimizer_apply_gradients(opt, gv, n, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert(deft_graph_op_by_name(p.g, "Adam/update_v/ApplyAdam") == NULL);
  ck_assert(deft_graph_op_by_name(p.g, "v/Adam") == NULL);
  deft_session *s = start(p.g);
  size_t n0, n1;
  void *before = var_bytes(s, p.v, &n0);
  for (int t = 0; t < 5; t++) run_op(s, train);
  void *after = var_bytes(s, p.v, &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  free(before), free(after);
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(clipped_gradients_pipeline) {
  problem p = make_problem(20.0f, false); /* large residuals: gradients far outside [-1, 1] */
  deft_optimizer *opt = deft_optimizer_gradient_descent(p.g, 0.05f);
  deft_grad_and_var gv[2];
  ck_assert_int_eq(deft_optimizer_compute_gradients(opt, p.loss, NULL, 0, gv, 2), 2);
  for (int i = 0; i < 2; i++) gv[i].grad = deft_clip_by_value(p.g, gv[i].grad, -1.0f, 1.0f, NULL);
  ck_assert_msg(deft_graph_ok(p.g), "%s", deft_status_message(deft_graph_status(p.g)));
  assert_op(p.g, "clip_by_value/Minimum/y", "Const");
  assert_op(p.g, "clip_by_value/Minimum", "Minimum");
  assert_op(p.g, "clip_by_value/y", "Const");
  assert_op(p.g, "clip_by_value", "Maximum");
  assert_op(p.g, "clip_by_value_1", "Maximum");
  ck_assert(const_value(p.g, "clip_by_value/Minimum/y") == 1.0f);
  ck_assert(const_value(p.g, "clip_by_value/y") == -1.0f);
  deft_op *train = deft_optimizer_apply_gradients(opt, gv, 2, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(p.g)));
  ck_assert_ptr_eq(
      deft_op_input(op_named(p.g, "GradientDescent/update_w/ApplyGradientDescent"), 2).op,
      op_named(p.g, "clip_by_value"));
  double traj[STEPS * 3];
  reference("gd", 0.05f, 0, 0, 0, 20.0f, 1.0f, false, traj);
  deft_session *s = start(p.g);
  check_trajectory(s, &p, train, traj, "clipped GD");
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(float64_variables_cast_hyperparameters) {
  deft_graph *g = deft_graph_new();
  int64_t d[1] = {2};
  double w0[2] = {1.0, -2.0};
  deft_tensor *t = deft_tensor_from_data(DEFT_DOUBLE, d, 1, w0, sizeof w0, NULL);
  deft_op *w = deft_variable_new(g, "w", deft_const(g, t, "w_init"), true);
  deft_tensor_free(t);
  /* loss = sum(w^2): gradient 2w, so GD gives w * (1 - 2 lr) exactly */
  deft_output loss = deft_reduce_sum(g, deft_square(g, deft_variable_value(w), NULL), NULL, 0,
                                     false, "loss");
  deft_optimizer *opt = deft_optimizer_momentum(g, 0.125f, 0.5f, false);
  deft_op *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL);
  ck_assert_msg(train != NULL, "%s", deft_status_message(deft_graph_status(g)));
  assert_op(g, "Momentum/update_w/Cast", "Cast");
  assert_op(g, "Momentum/update_w/Cast_1", "Cast");
  deft_op *slot = op_named(g, "w/Momentum");
  ck_assert_int_eq(deft_output_dtype(deft_op_output(slot, 0)), DEFT_DOUBLE);
  deft_session *s = start(g);
  double x[2] = {1.0, -2.0}, a[2] = {0, 0};
  for (int k = 0; k < 5; k++) {
    run_op(s, train);
    double got[2];
    var_values(s, w, got, 2);
    for (int i = 0; i < 2; i++) {
      a[i] = a[i] * 0.5 + 2 * x[i];
      x[i] -= 0.125 * a[i];
      assert_close(got[i], x[i], 1e-14, 1e-15, "float64 momentum", i);
    }
  }
  deft_session_free(s);
  deft_optimizer_free(opt);
  deft_graph_free(g);
}
END_TEST

/* ---- clipping, regularization, max-norm ---- */

static deft_output const_2d(deft_graph *g, const float *v, int64_t r, int64_t c, const char *n) {
  return const_f32(g, v, r, c, n);
}

START_TEST(clip_by_norm_values) {
  deft_graph *g = deft_graph_new();
  static const float T[6] = {3, -4, 1, 0.5f, 2, -2};
  deft_output t = const_2d(g, T, 2, 3, "t");
  deft_output all = deft_clip_by_norm(g, t, 2.0f, NULL, 0, NULL);
  int32_t ax[1] = {1};
  deft_output rows = deft_clip_by_norm(g, t, 3.0f, ax, 1, "rows");
  deft_output big = deft_clip_by_norm(g, t, 100.0f, NULL, 0, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(all.op), "clip_by_norm");
  ck_assert_str_eq(deft_op_type(all.op), "Identity");
  ck_assert_str_eq(deft_op_name(rows.op), "rows");
  ck_assert_str_eq(deft_op_name(big.op), "clip_by_norm_1");
  assert_op(g, "clip_by_norm/Sqrt", "Sqrt");
  assert_op(g, "clip_by_norm/Maximum", "Maximum");
  assert_op(g, "clip_by_norm/truediv", "RealDiv");
  const char *script =
      "import sys\nimport numpy as np\nf=np.float32\n"
      "t=np.array([3,-4,1,0.5,2,-2],f).reshape(2,3)\n"
      "def cbn(t,c,axes):\n"
      "  n=np.sqrt(np.sum(t*t,axis=axes,keepdims=True))\n"
      "  return t*f(c)/np.maximum(n,f(c))\n"
      "r=list(cbn(t,2,None).ravel())+list(cbn(t,3,1).ravel())+list(cbn(t,100,None).ravel())\n"
      "open(sys.argv[1],'w').write(' '.join('%.10g'%x for x in r))\n";
  double want[18], got[6];
  ck_assert_int_eq(py_values(script, NULL, want, 18), 18);
  deft_session *s = start(g);
  deft_output outs[3] = {all, rows, big};
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(fetch(s, outs[k], got, 6), 6);
    for (int i = 0; i < 6; i++) assert_close(got[i], want[k * 6 + i], 1e-6, 1e-7, "clip_by_norm", i);
  }
  ck_assert(got[0] == 3.0 && got[1] == -4.0); /* under the threshold: unchanged */
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

START_TEST(clip_by_global_norm_values) {
  deft_graph *g = deft_graph_new();
  static const float A[4] = {1, -2, 3, 0.5f};
  static const float B[3] = {-1.5f, 2, 0.25f};
  deft_output ts[3] = {const_2d(g, A, 2, 2, "a"), {NULL, 0}, const_2d(g, B, 1, 3, "b")};
  deft_output out[3], norm;
  ck_assert(deft_clip_by_global_norm(g, ts, 3, 1.5f, out, &norm, NULL));
  ck_assert_ptr_null(out[1].op); /* invalid in, invalid out */
  ck_assert_str_eq(deft_op_name(norm.op), "global_norm/global_norm");
  ck_assert_str_eq(deft_op_name(out[0].op), "clip_by_global_norm/clip_by_global_norm/_0");
  ck_assert_str_eq(deft_op_name(out[2].op), "clip_by_global_norm/clip_by_global_norm/_2");
  /* a norm under the threshold leaves the values unchanged */
  deft_output small_out[1];
  deft_output small_in[1] = {const_2d(g, A, 2, 2, "a2")};
  ck_assert(deft_clip_by_global_norm(g, small_in, 1, 100.0f, small_out, NULL, NULL));
  const char *script =
      "import sys\nimport numpy as np\nf=np.float32\n"
      "a=np.array([1,-2,3,0.5],f); b=np.array([-1.5,2,0.25],f)\n"
      "gn=np.sqrt(np.sum(a*a)+np.sum(b*b))\n"
      "s=f(1.5)/max(gn,f(1.5))\n"
      "r=[gn]+list(a*s)+list(b*s)\n"
      "open(sys.argv[1],'w').write(' '.join('%.10g'%x for x in r))\n";
  double want[8], got[4];
  ck_assert_int_eq(py_values(script, NULL, want, 8), 8);
  deft_session *s = start(g);
  fetch(s, norm, got, 1);
  assert_close(got[0], want[0], 1e-6, 0, "global norm", 0);
  ck_assert_int_eq(fetch(s, out[0], got, 4), 4);
  for (int i = 0; i < 4; i++) assert_close(got[i], want[1 + i], 1e-6, 1e-7, "clipped a", i);
  ck_assert_int_eq(fetch(s, out[2], got, 4), 3);
  for (int i = 0; i < 3; i++) assert_close(got[i], want[5 + i], 1e-6, 1e-7, "clipped b", i);
  ck_assert_int_eq(fetch(s, small_out[0], got, 4), 4);
  for (int i = 0; i < 4; i++) assert_close(got[i], A[i], 1e-6, 0, "unclipped", i);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

START_TEST(regularization_loss_values) {
  deft_graph *g = deft_graph_new();
  deft_output zero = deft_regularization_loss(g, NULL);
  ck_assert_str_eq(deft_op_type(zero.op), "Const");
  deft_graph_add_to_collection(g, DEFT_REGULARIZATION_LOSSES, deft_const_float(g, 0.25f, "r1"));
  deft_graph_add_to_collection(g, DEFT_REGULARIZATION_LOSSES, deft_const_float(g, 1.5f, "r2"));
  deft_output total = deft_regularization_loss(g, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(total.op), "total_regularization_loss");
  ck_assert_str_eq(deft_op_type(total.op), "AddN");
  deft_session *s = start(g);
  double v;
  fetch(s, zero, &v, 1);
  ck_assert(v == 0.0);
  fetch(s, total, &v, 1);
  ck_assert(v == 1.75);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

START_TEST(max_norm_assigns_clipped_rows) {
  deft_graph *g = deft_graph_new();
  static const float W[6] = {3, 4, 0.3f, 0.4f, 6, 8};
  deft_op *w = deft_variable_new(g, "w", const_2d(g, W, 3, 2, "w_init"), true);
  int32_t ax[1] = {1};
  deft_op *mn = deft_max_norm(g, w, 1.0f, ax, 1, NULL);
  ck_assert_msg(mn != NULL, "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(mn), "max_norm");
  ck_assert_str_eq(deft_op_type(mn), "Assign");
  ck_assert_ptr_eq(deft_op_input(mn, 0).op, w);
  ck_assert(in_collection(g, "max_norm", deft_op_output(mn, 0)));
  deft_session *s = start(g);
  run_op(s, mn);
  double got[6];
  var_values(s, w, got, 6);
  /* rows of norm 5, 0.5, 10 clipped to norm <= 1 (hand-computed) */
  const double want[6] = {0.6, 0.8, 0.3, 0.4, 0.6, 0.8};
  for (int i = 0; i < 6; i++) assert_close(got[i], want[i], 1e-6, 1e-7, "max_norm", i);
  run_op(s, mn); /* idempotent */
  var_values(s, w, got, 6);
  for (int i = 0; i < 6; i++) assert_close(got[i], want[i], 1e-6, 1e-7, "max_norm again", i);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

/* ---- error paths ---- */

START_TEST(error_var_list_not_a_variable) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_gradient_descent(p.g, 0.1f);
  deft_op *list[2] = {p.w, op_named(p.g, "X")};
  deft_grad_and_var gv[2];
  ck_assert_int_eq(deft_optimizer_compute_gradients(opt, p.loss, list, 2, gv, 2), -1);
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "var_list[1]", "'X'", "Const",
                   "not a variable");
  deft_graph_clear_error(p.g);
  ck_assert_ptr_null(deft_optimizer_minimize(opt, p.loss, list, 2, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "'X'", "not a variable");
  deft_graph_clear_error(p.g);
  deft_op *none[1] = {NULL};
  ck_assert_int_eq(deft_optimizer_compute_gradients(opt, p.loss, none, 0, gv, 2), -1);
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "no variables to optimize");
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(error_apply_mismatched_shape) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_adam(p.g, 0.1f, 0.9f, 0.999f, 1e-8f);
  static const float G[3] = {1, 2, 3};
  deft_grad_and_var gv[1] = {{.grad = const_f32(p.g, G, 3, 1, "bad_grad"), .var = p.w}};
  ck_assert_ptr_null(deft_optimizer_apply_gradients(opt, gv, 1, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "'bad_grad:0'", "[3,1]",
                   "'w'", "[2,1]");
  deft_graph_clear_error(p.g);
  /* dtype mismatch */
  deft_grad_and_var gd[1] = {{.grad = deft_const_fill(p.g, DEFT_DOUBLE, DEFT_SHAPE(2, 1), 1,
                                                     "dgrad"), .var = p.w}};
  ck_assert_ptr_null(deft_optimizer_apply_gradients(opt, gd, 1, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "'dgrad:0'", "double", "'w'",
                   "float");
  deft_graph_clear_error(p.g);
  /* no gradient at all */
  deft_grad_and_var gn[2] = {{.var = p.w}, {.var = p.v}};
  ck_assert_ptr_null(deft_optimizer_apply_gradients(opt, gn, 2, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "no gradients provided",
                   "'w'", "'v'");
  deft_graph_clear_error(p.g);
  /* a pair whose "variable" is not one; a float global step */
  deft_grad_and_var gx[1] = {{.grad = deft_variable_value(p.w), .var = op_named(p.g, "X")}};
  ck_assert_ptr_null(deft_optimizer_apply_gradients(opt, gx, 1, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "'X'", "not a variable");
  deft_graph_clear_error(p.g);
  deft_grad_and_var ok[1] = {{.grad = deft_variable_value(p.w), .var = p.w}};
  ck_assert_ptr_null(deft_optimizer_apply_gradients(opt, ok, 1, p.v, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "global_step", "'v'",
                   "int32 or int64");
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(error_non_float_loss) {
  problem p = make_problem(1.0f, false);
  deft_optimizer *opt = deft_optimizer_momentum(p.g, 0.1f, 0.9f, false);
  deft_output iloss = deft_const_int32(p.g, 3, "int_loss");
  ck_assert_ptr_null(deft_optimizer_minimize(opt, iloss, NULL, 0, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(p.g), DEFT_INVALID_ARGUMENT, "'int_loss:0'", "int32",
                   "float");
  deft_optimizer_free(opt);
  deft_graph_free(p.g);
}
END_TEST

START_TEST(error_hyperparameters_out_of_range) {
  struct {
    int kind;
    float a, b, c, d;
    const char *what;
  } cases[] = {
      {0, -0.1f, 0, 0, 0, "learning_rate"},  {0, NAN, 0, 0, 0, "learning_rate"},
      {1, 0.1f, -0.5f, 0, 0, "momentum"},    {2, 0.1f, 0.0f, 0, 0, "initial_accumulator_value"},
      {3, 0.1f, 1.5f, 0, 1e-10f, "decay"},   {3, 0.1f, 0.9f, 0, -1.0f, "epsilon"},
      {4, 0.1f, 1.0f, 0.999f, 1e-8f, "beta1"}, {4, 0.1f, 0.9f, -0.1f, 1e-8f, "beta2"},
      {4, -1.0f, 0.9f, 0.999f, 1e-8f, "learning_rate"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    deft_graph *g = deft_graph_new();
    deft_optimizer *o = NULL;
    switch (cases[i].kind) {
      case 0: o = deft_optimizer_gradient_descent(g, cases[i].a); break;
      case 1: o = deft_optimizer_momentum(g, cases[i].a, cases[i].b, false); break;
      case 2: o = deft_optimizer_adagrad(g, cases[i].a, cases[i].b); break;
      case 3: o = deft_optimizer_rmsprop(g, cases[i].a, cases[i].b, 0, cases[i].d); break;
      default: o = deft_optimizer_adam(g, cases[i].a, cases[i].b, cases[i].c, cases[i].d); break;
    }
    ck_assert_msg(o == NULL, "case %zu accepted", i);
    TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, cases[i].what);
    deft_graph_free(g);
  }
  /* NULL optimizers are harmless */
  deft_optimizer_free(NULL);
  ck_assert_ptr_null(deft_optimizer_apply_gradients(NULL, NULL, 0, NULL, NULL));
  ck_assert_int_eq(deft_optimizer_compute_gradients(NULL, (deft_output){NULL, 0}, NULL, 0, NULL,
                                                    0), -1);
}
END_TEST

START_TEST(error_clipping_and_schedules) {
  deft_graph *g = deft_graph_new();
  deft_output f = deft_const_float(g, 1.0f, "f");
  deft_output i = deft_const_int32(g, 1, "i");
  ck_assert_ptr_null(deft_clip_by_value(g, f, 1.0f, -1.0f, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "clip_by_value", "<=");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_clip_by_norm(g, i, 1.0f, NULL, 0, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "clip_by_norm", "'i:0'", "int32");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_clip_by_norm(g, f, 0.0f, NULL, 0, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "clip_norm");
  deft_graph_clear_error(g);
  int32_t ax[1] = {3};
  deft_output m = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2, 2), 1, "m");
  ck_assert_ptr_null(deft_clip_by_norm(g, m, 1.0f, ax, 1, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "axis 3", "'m:0'", "rank 2");
  deft_graph_clear_error(g);
  deft_output none[2] = {{NULL, 0}, {NULL, 0}}, out[2];
  ck_assert(!deft_clip_by_global_norm(g, none, 2, 1.0f, out, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "every tensor is invalid");
  deft_graph_clear_error(g);
  deft_output mixed[2] = {f, deft_const_double(g, 1.0, "d")};
  ck_assert(!deft_clip_by_global_norm(g, mixed, 2, 1.0f, out, NULL, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "tensor 1", "'d:0'", "double");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_max_norm(g, f.op, 1.0f, NULL, 0, NULL));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "max_norm", "'f'",
                   "not a variable");
  deft_graph_clear_error(g);
  deft_op *gs = deft_global_step_new(g);
  ck_assert_ptr_nonnull(gs);
  ck_assert_ptr_null(deft_global_step_new(g));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_ALREADY_EXISTS, "global_step");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(
      deft_exponential_decay(g, 0.1f, deft_op_output(gs, 0), 0, 0.5f, false, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "decay_steps");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_exponential_decay(g, 0.1f, deft_const_string(g, "s", "str"), 10, 0.5f,
                                            false, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'str:0'", "string");
  deft_graph_free(g);
}
END_TEST

/* Out of memory anywhere while building a training graph: an error, never a crash or a leak. */
START_TEST(oom_while_building) {
  bool done = false;
  for (long n = 0; n < 20000 && !done; n += (n < 400 ? 1 : 7)) {
    deft_alloc_fail_after(n);
    deft_graph *g = deft_graph_new();
    if (g) {
      deft_op *w = deft_variable_new(g, "w", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2), 1, "i"),
                                     true);
      deft_output loss = deft_reduce_sum(g, deft_square(g, deft_variable_value(w), NULL), NULL,
                                         0, false, "loss");
      deft_optimizer *opt = deft_optimizer_adam(g, 0.1f, 0.9f, 0.999f, 1e-8f);
      deft_grad_and_var gv[1];
      int k = deft_optimizer_compute_gradients(opt, loss, NULL, 0, gv, 1);
      if (k == 1) gv[0].grad = deft_clip_by_norm(g, gv[0].grad, 1.0f, NULL, 0, NULL);
      deft_op *gs = deft_global_step_new(g);
      deft_op *train = k == 1 ? deft_optimizer_apply_gradients(opt, gv, 1, gs, NULL) : NULL;
      done = train != NULL && deft_graph_ok(g);
      deft_optimizer_free(opt);
      deft_graph_free(g);
    }
    deft_alloc_fail_after(-1);
  }
  ck_assert(done);
}
END_TEST

static Suite *optimizers_suite(void) {
  Suite *s = suite_create("optimizers");
  TCase *tc = tcase_create("optimizers");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, gradient_descent_trajectory_and_names);
  tcase_add_test(tc, momentum_trajectory);
  tcase_add_test(tc, nesterov_trajectory);
  tcase_add_test(tc, adagrad_trajectory);
  tcase_add_test(tc, rmsprop_trajectory);
  tcase_add_test(tc, adam_trajectory_and_names);
  tcase_add_test(tc, global_step_and_exponential_decay);
  tcase_add_test(tc, var_list_freezes_other_variables);
  tcase_add_test(tc, stop_gradient_freezes_variable);
  tcase_add_test(tc, clipped_gradients_pipeline);
  tcase_add_test(tc, float64_variables_cast_hyperparameters);
  suite_add_tcase(s, tc);
  TCase *clip = tcase_create("clipping");
  tcase_add_test(clip, clip_by_norm_values);
  tcase_add_test(clip, clip_by_global_norm_values);
  tcase_add_test(clip, regularization_loss_values);
  tcase_add_test(clip, max_norm_assigns_clipped_rows);
  suite_add_tcase(s, clip);
  TCase *err = tcase_create("errors");
  tcase_set_timeout(err, 60);
  tcase_add_test(err, error_var_list_not_a_variable);
  tcase_add_test(err, error_apply_mismatched_shape);
  tcase_add_test(err, error_non_float_loss);
  tcase_add_test(err, error_hyperparameters_out_of_range);
  tcase_add_test(err, error_clipping_and_schedules);
  tcase_add_test(err, oom_while_building);
  suite_add_tcase(s, err);
  return s;
}

int main(void) { return tu_run_suite(optimizers_suite()); }
