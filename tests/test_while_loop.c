/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_while_loop.c - deft_while_loop (deft/control_flow.h): loops built with the builder
 * API run against NumPy (a matrix recurrence with outside tensors, nested loops, a cond inside
 * a loop, a growing shape under an invariant), maximum_iterations bounding loops, TF's node
 * structure (names, frame_name, constant Enters, pivots), a meta-graph export and re-import
 * giving the same numbers, and the build and run errors, each naming the loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_check.h"
#include "testutil.h"

static void check_ok(bool ok, const deft_status *st) {
  ck_assert_msg(ok, "%s", st ? deft_status_message(st) : "");
}

static void graph_ok(deft_graph *g) {
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

static deft_tensor *tensor_f64(deft_shape s, const double *v) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, s.dims, s.rank, st);
  check_ok(t != NULL, st);
  memcpy(deft_tensor_data(t), v, sizeof(double) * (size_t)deft_tensor_num_elements(t));
  deft_status_free(st);
  return t;
}

static deft_tensor *scalar_i32(int32_t v) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_tensor_new(DEFT_INT32, NULL, 0, st);
  check_ok(t != NULL, st);
  *(int32_t *)deft_tensor_data(t) = v;
  deft_status_free(st);
  return t;
}

/* Runs fetches with feeds; every value must come back. */
static void run(deft_graph *g, const deft_output *feeds, deft_tensor *const *fv, int nfeeds,
                const deft_output *fetches, deft_tensor **out, int nfetch) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  check_ok(s != NULL, st);
  check_ok(deft_session_run(s, feeds, tu_feeds(fv), nfeeds, fetches, out, nfetch, NULL, 0, st), st);
  deft_session_free(s);
  deft_status_free(st);
}

static void write_npy(const char *dir, const char *name, const deft_tensor *t) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  deft_status *st = deft_status_new();
  check_ok(deft_npy_write(path, t, st), st);
  deft_status_free(st);
}

static const char *case_dir(const char *name) {
  static char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", tu_tmpdir(), name);
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  return dir;
}

static deft_op *op_named(deft_graph *g, const char *name) {
  deft_op *op = deft_graph_op_by_name(g, name);
  ck_assert_msg(op != NULL, "no op '%s'", name);
  return op;
}

static void check_frame_op(deft_graph *g, const char *name, const char *type, const char *frame,
                           int is_constant) {
  deft_op *op = op_named(g, name);
  ck_assert_str_eq(deft_op_type(op), type);
  if (!frame) return;
  const char *f;
  size_t len;
  ck_assert(deft_op_attr_string(op, "frame_name", &f, &len));
  ck_assert_msg(len == strlen(frame) && !memcmp(f, frame, len), "%s: frame_name '%.*s'", name,
                (int)len, f);
  bool c;
  ck_assert(deft_op_attr_bool(op, "is_constant", &c));
  ck_assert_int_eq(c, is_constant);
  int64_t pi;
  ck_assert(deft_op_attr_int(op, "parallel_iterations", &pi));
  ck_assert_int_eq(pi, 10);
}

/* ---- a recurrence with outside tensors: (i, acc) -> (i + 1, tanh(acc @ w) + x * 0.5) ---- */

typedef struct {
  deft_output n, w, x;
} rec_ctx;

static bool rec_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n;
  rec_ctx *c = user;
  *pred = deft_less(g, v[0], c->n, "Less");
  return true;
}

static bool rec_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n;
  rec_ctx *c = user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "add/y"), "add");
  deft_output h = deft_tanh(g, deft_matmul(g, v[1], c->w, false, false, "MatMul"), "Tanh");
  next[1] = deft_add(g, h, deft_mul(g, c->x, deft_const_double(g, 0.5, "half"), "mul"), "add_1");
  return true;
}

static const double W[9] = {0.3, -0.5, 0.8, 0.1, 0.9, -0.2, -0.7, 0.4, 0.6};
static const double X[6] = {0.5, -1.0, 2.0, 0.25, 0.0, -0.75};

static deft_graph *build_recurrence(deft_output *res) {
  deft_graph *g = deft_graph_new();
  rec_ctx c;
  c.n = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "n");
  c.x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "x");
  deft_tensor *wt = tensor_f64(DEFT_SHAPE(3, 3), W);
  c.w = deft_const(g, wt, "w");
  deft_tensor_free(wt);
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), c.x};
  ck_assert(deft_while_loop(g, rec_cond, rec_body, &c, vars, 2, NULL, res));
  graph_ok(g);
  return g;
}

static const char *REC_PY =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "W = np.array([0.3, -0.5, 0.8, 0.1, 0.9, -0.2, -0.7, 0.4, 0.6]).reshape(3, 3)\n"
    "x = np.array([0.5, -1.0, 2.0, 0.25, 0.0, -0.75]).reshape(2, 3)\n"
    "bad = 0\n"
    "for n in (0, 1, 5):\n"
    "    i, a = 0, x.copy()\n"
    "    while i < n: i, a = i + 1, np.tanh(a @ W) + x * 0.5\n"
    "    gi, ga = np.load('%s/i_%d.npy' % (d, n)), np.load('%s/acc_%d.npy' % (d, n))\n"
    "    if gi != i or not np.allclose(ga, a, rtol=1e-12, atol=1e-13):\n"
    "        print('n =', n, ': got', gi, ga, 'expected', i, a); bad = 1\n"
    "sys.exit(bad)\n";

START_TEST(recurrence_against_numpy) {
  ck_assert(tu_have_numpy());
  deft_output res[2];
  deft_graph *g = build_recurrence(res);
  const char *dir = case_dir("recurrence");
  int ns[3] = {0, 1, 5};
  for (int k = 0; k < 3; k++) {
    deft_output feeds[2] = {deft_graph_tensor_by_name(g, "n", NULL),
                            deft_graph_tensor_by_name(g, "x", NULL)};
    deft_tensor *fv[2] = {scalar_i32(ns[k]), tensor_f64(DEFT_SHAPE(2, 3), X)};
    deft_tensor *out[2];
    run(g, feeds, fv, 2, res, out, 2);
    char nm[32];
    snprintf(nm, sizeof nm, "i_%d", ns[k]);
    write_npy(dir, nm, out[0]);
    snprintf(nm, sizeof nm, "acc_%d", ns[k]);
    write_npy(dir, nm, out[1]);
    for (int i = 0; i < 2; i++) deft_tensor_free(fv[i]), deft_tensor_free(out[i]);
  }
  const char *args[] = {dir, NULL};
  ck_assert_msg(tu_python(REC_PY, args) == 0, "deft and NumPy differ");
  deft_graph_free(g);
}
END_TEST

START_TEST(tf_node_structure) {
  deft_output res[2];
  deft_graph *g = build_recurrence(res);
  const char *F = "while/while_context";
  check_frame_op(g, "while/Enter", "Enter", F, false);
  check_frame_op(g, "while/Enter_1", "Enter", F, false);
  check_frame_op(g, "while/Merge", "Merge", NULL, 0);
  check_frame_op(g, "while/Merge_1", "Merge", NULL, 0);
  check_frame_op(g, "while/Less", "Less", NULL, 0);
  check_frame_op(g, "while/LoopCond", "LoopCond", NULL, 0);
  check_frame_op(g, "while/Switch", "Switch", NULL, 0);
  check_frame_op(g, "while/Switch_1", "Switch", NULL, 0);
  check_frame_op(g, "while/Identity", "Identity", NULL, 0);
  check_frame_op(g, "while/Identity_1", "Identity", NULL, 0);
  check_frame_op(g, "while/NextIteration", "NextIteration", NULL, 0);
  check_frame_op(g, "while/NextIteration_1", "NextIteration", NULL, 0);
  check_frame_op(g, "while/Exit", "Exit", NULL, 0);
  check_frame_op(g, "while/Exit_1", "Exit", NULL, 0);
  ck_assert_str_eq(deft_op_name(res[0].op), "while/Exit");
  ck_assert_str_eq(deft_op_name(res[1].op), "while/Exit_1");
  /* outside tensors come in through constant Enters named after their first consumer */
  check_frame_op(g, "while/Less/Enter", "Enter", F, true);
  check_frame_op(g, "while/MatMul/Enter", "Enter", F, true);
  check_frame_op(g, "while/mul/Enter", "Enter", F, true);
  ck_assert_str_eq(deft_op_name(deft_op_input(op_named(g, "while/Less"), 1).op),
                   "while/Less/Enter");
  ck_assert_str_eq(deft_op_name(deft_op_input(op_named(g, "while/Less/Enter"), 0).op), "n");
  /* the Merges' back edges, the Switch's predicate */
  deft_op *m = op_named(g, "while/Merge_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(m, 0).op), "while/Enter_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(m, 1).op), "while/NextIteration_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(op_named(g, "while/Switch_1"), 1).op),
                   "while/LoopCond");
  ck_assert_int_eq(deft_op_input(op_named(g, "while/Identity_1"), 0).index, 1);
  ck_assert_int_eq(deft_op_input(op_named(g, "while/Exit_1"), 0).index, 0);
  /* a body Const hangs on the pivot */
  deft_op *y = op_named(g, "while/add/y");
  ck_assert_int_eq(deft_op_num_control_inputs(y), 1);
  ck_assert_str_eq(deft_op_name(deft_op_control_input(y, 0)), "while/Identity");
  /* a second loop gets its own scope and frame */
  rec_ctx c = {deft_const_int32(g, 2, "two"), deft_graph_tensor_by_name(g, "w", NULL),
               deft_graph_tensor_by_name(g, "x", NULL)};
  deft_output vars[2] = {deft_const_int32(g, 0, "j"), res[1]}, res2[2];
  ck_assert(deft_while_loop(g, rec_cond, rec_body, &c, vars, 2, NULL, res2));
  check_frame_op(g, "while_1/Enter", "Enter", "while_1/while_context", false);
  ck_assert_str_eq(deft_op_name(res2[1].op), "while_1/Exit_1");
  deft_graph_free(g);
}
END_TEST

/* ---- nested loops: for i < 3: for j < i + 2: s = s * 0.9 + i * j + x ---- */

typedef struct {
  deft_output x;
} nest_ctx;

static bool lt_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n, (void)user;
  *pred = deft_less(g, v[0], v[1], "Less");
  return true;
}

static bool inner_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n;
  nest_ctx *c = user;
  /* v: j, limit, s, i */
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = v[1];
  deft_output ij = deft_cast(g, deft_mul(g, v[3], v[0], "mul"), DEFT_DOUBLE, "Cast");
  deft_output s = deft_mul(g, v[2], deft_const_double(g, 0.9, "decay"), "mul_1");
  next[2] = deft_add(g, deft_add(g, s, ij, "add_1"), c->x, "add_2");
  next[3] = v[3];
  return true;
}

static bool outer_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n;
  /* v: i, limit, s */
  deft_output lim = deft_add(g, v[0], deft_const_int32(g, 2, "two"), "add");
  deft_output in[4] = {deft_const_int32(g, 0, "j"), lim, v[2], v[0]}, out[4];
  if (!deft_while_loop(g, lt_cond, inner_body, user, in, 4, NULL, out)) return false;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add_1");
  next[1] = v[1];
  next[2] = out[2];
  return true;
}

static const char *NEST_PY =
    "import sys, numpy as np\n"
    "x = np.array([0.5, -1.0, 2.0])\n"
    "s = np.zeros(3)\n"
    "for i in range(3):\n"
    "    for j in range(i + 2): s = s * 0.9 + i * j + x\n"
    "got = np.load(sys.argv[1])\n"
    "sys.exit(0 if np.allclose(got, s, rtol=1e-12) else (print(got, s), 1)[1])\n";

START_TEST(nested_loops_against_numpy) {
  ck_assert(tu_have_numpy());
  deft_graph *g = deft_graph_new();
  deft_tensor *xt = tensor_f64(DEFT_SHAPE(3), X);
  nest_ctx c = {deft_const(g, xt, "x")};
  deft_tensor *zt = tensor_f64(DEFT_SHAPE(3), (const double[]){0, 0, 0});
  deft_output vars[3] = {deft_const_int32(g, 0, "i"), deft_const_int32(g, 3, "n"),
                         deft_const(g, zt, "s")},
              res[3];
  ck_assert(deft_while_loop(g, lt_cond, outer_body, &c, vars, 3, NULL, res));
  graph_ok(g);
  /* the inner loop's frame is inside the outer one's; x enters both */
  check_frame_op(g, "while/while/Enter", "Enter", "while/while/while_context", false);
  deft_op *e_in = op_named(g, "while/while/add_2/Enter");
  ck_assert_str_eq(deft_op_name(deft_op_input(e_in, 0).op), "while/while/add_2/Enter/Enter");
  check_frame_op(g, "while/while/add_2/Enter/Enter", "Enter", "while/while_context", true);
  deft_tensor *out;
  run(g, NULL, NULL, 0, &res[2], &out, 1);
  char path[1024];
  snprintf(path, sizeof path, "%s/nested.npy", case_dir("nested"));
  deft_status *st = deft_status_new();
  check_ok(deft_npy_write(path, out, st), st);
  const char *args[] = {path, NULL};
  ck_assert_msg(tu_python(NEST_PY, args) == 0, "deft and NumPy differ");
  deft_status_free(st);
  deft_tensor_free(out);
  deft_tensor_free(xt);
  deft_tensor_free(zt);
  deft_graph_free(g);
}
END_TEST

/* ---- a cond (Switch/Merge) inside the body: a = a > 5 ? a - 3 : a * 2 (elementwise sum) ---- */

static bool cond_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  deft_output p = deft_greater(g, v[1], deft_const_double(g, 5.0, "five"), "Greater");
  deft_output sw = deft_switch(g, v[1], p, "cond/Switch");
  deft_output f = deft_op_output(sw.op, 0), t = deft_op_output(sw.op, 1);
  deft_output a = deft_sub(g, t, deft_const_double(g, 3.0, "three"), "cond/sub");
  deft_output b = deft_mul(g, f, deft_const_double(g, 2.0, "two"), "cond/mul");
  deft_output m[2] = {b, a};
  next[1] = deft_merge(g, m, 2, "cond/Merge");
  return true;
}

START_TEST(cond_inside_a_loop) {
  deft_graph *g = deft_graph_new();
  deft_output vars[2] = {deft_const_int32(g, 0, "i"),
                         deft_placeholder(g, DEFT_DOUBLE, DEFT_SCALAR, "a0")};
  rec_ctx c = {deft_const_int32(g, 9, "n"), {NULL, 0}, {NULL, 0}};
  deft_output res[2];
  ck_assert(deft_while_loop(g, rec_cond, cond_body, &c, vars, 2, NULL, res));
  graph_ok(g);
  /* independent reference: the same rule in Python */
  const char *py =
      "import sys\n"
      "a = float(sys.argv[1])\n"
      "for _ in range(9): a = a - 3 if a > 5 else a * 2\n"
      "open(sys.argv[2], 'w').write(repr(a))\n";
  double starts[3] = {1.0, 7.5, -2.0};
  for (int k = 0; k < 3; k++) {
    deft_tensor *a0 = tensor_f64(DEFT_SCALAR, &starts[k]);
    deft_tensor *out[2];
    run(g, &vars[1], &a0, 1, res, out, 2);
    char arg[32], path[1024];
    snprintf(arg, sizeof arg, "%.17g", starts[k]);
    snprintf(path, sizeof path, "%s/cond_%d.txt", case_dir("cond"), k);
    const char *args[] = {arg, path, NULL};
    ck_assert_int_eq(tu_python(py, args), 0);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    double want;
    ck_assert_int_eq(fscanf(f, "%lf", &want), 1);
    fclose(f);
    ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 9);
    ck_assert_msg(*(double *)deft_tensor_data(out[1]) == want, "start %g: got %g, want %g",
                  starts[k], *(double *)deft_tensor_data(out[1]), want);
    deft_tensor_free(a0);
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
  }
  deft_graph_free(g);
}
END_TEST

/* ---- maximum_iterations ---- */

static bool forever(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)v, (void)n, (void)user;
  *pred = deft_const_bool(g, true, "always");
  return true;
}

static bool double_it(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_mul(g, v[0], deft_const_double(g, 2.0, "two"), "mul");
  return true;
}

START_TEST(maximum_iterations_bounds_a_loop) {
  deft_graph *g = deft_graph_new();
  deft_output limit = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "limit");
  deft_while_options o = deft_while_options_default();
  o.maximum_iterations = limit;
  deft_output v = deft_const_double(g, 1.0, "v"), res;
  ck_assert(deft_while_loop(g, forever, double_it, NULL, &v, 1, &o, &res));
  graph_ok(g);
  /* TF 1.x's counter structure */
  check_frame_op(g, "while/iteration_counter", "Const", NULL, 0);
  check_frame_op(g, "while/Less", "Less", NULL, 0);
  check_frame_op(g, "while/LogicalAnd", "LogicalAnd", NULL, 0);
  check_frame_op(g, "while/add", "Add", NULL, 0);
  check_frame_op(g, "while/Less/Enter", "Enter", "while/while_context", true);
  ck_assert_str_eq(deft_op_name(res.op), "while/Exit_1");
  int32_t limits[3] = {0, 7, 30};
  for (int k = 0; k < 3; k++) {
    deft_tensor *lt = scalar_i32(limits[k]), *out;
    run(g, &limit, &lt, 1, &res, &out, 1);
    ck_assert_double_eq(*(double *)deft_tensor_data(out), ldexp(1.0, limits[k]));
    deft_tensor_free(lt);
    deft_tensor_free(out);
  }
  /* the given condition still ends the loop first: i < 4 with a bound of 100 (int64) */
  deft_graph *g2 = deft_graph_new();
  o.maximum_iterations = deft_const_int64(g2, 100, "max");
  rec_ctx c = {deft_const_int32(g2, 4, "n"), {NULL, 0}, {NULL, 0}};
  deft_output vars[2] = {deft_const_int32(g2, 0, "i"), deft_const_double(g2, 1.0, "v")}, res2[2];
  ck_assert(deft_while_loop(g2, rec_cond, cond_body, &c, vars, 2, &o, res2));
  graph_ok(g2);
  deft_tensor *out[2];
  run(g2, NULL, NULL, 0, res2, out, 2);
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(out[0]), 4);
  ck_assert_double_eq(*(double *)deft_tensor_data(out[1]), 5.0); /* 1 2 4 8 5 */
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_graph_free(g2);
  deft_graph_free(g);
}
END_TEST

/* ---- shape invariants: rows appended each iteration ---- */

static bool grow_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n;
  rec_ctx *c = user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  deft_output parts[2] = {v[1], c->x};
  next[1] = deft_concat(g, parts, 2, deft_const_int32(g, 0, "axis"), "concat");
  return true;
}

START_TEST(shape_invariants) {
  deft_graph *g = deft_graph_new();
  deft_tensor *xt = tensor_f64(DEFT_SHAPE(2, 3), X);
  rec_ctx c = {deft_const_int32(g, 3, "n"), {NULL, 0}, deft_const(g, xt, "x")};
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), c.x}, res[2];
  /* without an invariant the growing shape is refused, naming the loop and both shapes */
  ck_assert(!deft_while_loop(g, rec_cond, grow_body, &c, vars, 2, NULL, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'while'",
                   "loop variable 1", "[2,3]", "[4,3]", "shape invariant");
  ck_assert_ptr_null(res[1].op);
  deft_graph_clear_error(g);
  deft_shape inv[2] = {DEFT_SCALAR, DEFT_SHAPE(-1, 3)};
  deft_while_options o = deft_while_options_default();
  o.shape_invariants = inv;
  ck_assert(deft_while_loop(g, rec_cond, grow_body, &c, vars, 2, &o, res));
  graph_ok(g);
  deft_shape rs = deft_output_shape(res[1]);
  ck_assert_int_eq(rs.rank, 2);
  ck_assert_int_eq(rs.dims[0], -1);
  ck_assert_int_eq(rs.dims[1], 3);
  deft_tensor *out[2];
  run(g, NULL, NULL, 0, res, out, 2);
  ck_assert_int_eq(deft_tensor_shape(out[1]).dims[0], 8);
  for (int r = 0; r < 8; r++)
    for (int k = 0; k < 3; k++)
      ck_assert_double_eq(((double *)deft_tensor_data(out[1]))[r * 3 + k], X[(r % 2) * 3 + k]);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  /* an invariant that does not admit the initial value */
  deft_shape bad[2] = {DEFT_SCALAR, DEFT_SHAPE(-1, 4)};
  o.shape_invariants = bad;
  ck_assert(!deft_while_loop(g, rec_cond, grow_body, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'while_", "[?,4]",
                   "[2,3]", "loop variable 1");
  deft_tensor_free(xt);
  deft_graph_free(g);
}
END_TEST

/* ---- export to a MetaGraphDef and import again ---- */

START_TEST(meta_graph_round_trip) {
  deft_output res[2];
  deft_graph *g = build_recurrence(res);
  char path[1024];
  snprintf(path, sizeof path, "%s/while.meta", case_dir("roundtrip"));
  deft_status *st = deft_status_new();
  check_ok(deft_export_meta_graph(g, path, NULL, st), st);
  deft_graph *h = deft_import_meta_graph(path, NULL, NULL, st);
  check_ok(h != NULL, st);
  ck_assert_int_eq(deft_graph_num_ops(h), deft_graph_num_ops(g));
  check_frame_op(h, "while/MatMul/Enter", "Enter", "while/while_context", true);
  ck_assert_str_eq(deft_op_name(deft_op_input(op_named(h, "while/Merge_1"), 1).op),
                   "while/NextIteration_1");
  deft_output hres[2] = {deft_graph_tensor_by_name(h, "while/Exit", st),
                         deft_graph_tensor_by_name(h, "while/Exit_1", st)};
  check_ok(hres[1].op != NULL, st);
  deft_tensor *fv[2] = {scalar_i32(4), tensor_f64(DEFT_SHAPE(2, 3), X)};
  deft_output gf[2] = {deft_graph_tensor_by_name(g, "n", NULL),
                       deft_graph_tensor_by_name(g, "x", NULL)};
  deft_output hf[2] = {deft_graph_tensor_by_name(h, "n", NULL),
                       deft_graph_tensor_by_name(h, "x", NULL)};
  deft_tensor *a[2], *b[2];
  run(g, gf, fv, 2, res, a, 2);
  run(h, hf, fv, 2, hres, b, 2);
  ck_assert_int_eq(*(int32_t *)deft_tensor_data(b[0]), 4);
  ck_assert_mem_eq(deft_tensor_data(a[1]), deft_tensor_data(b[1]), 6 * sizeof(double));
  for (int i = 0; i < 2; i++) {
    deft_tensor_free(fv[i]);
    deft_tensor_free(a[i]);
    deft_tensor_free(b[i]);
  }
  deft_graph_free(h);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- bad input ---- */

static bool body_drops_one(deft_graph *g, const deft_output *v, int n, void *user,
                           deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  return true;
}

static bool body_wrong_dtype(deft_graph *g, const deft_output *v, int n, void *user,
                             deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = deft_cast(g, v[1], DEFT_FLOAT, "Cast");
  return true;
}

static bool body_fails(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)g, (void)v, (void)n, (void)user, (void)next;
  return false;
}

static bool cond_not_bool(deft_graph *g, const deft_output *v, int n, void *user,
                          deft_output *pred) {
  (void)n, (void)user, (void)g;
  *pred = v[0];
  return true;
}

/* Reads v[1] (a length-3 vector) at index i: out of range from iteration 3 on. */
static bool body_reads_past_end(deft_graph *g, const deft_output *v, int n, void *user,
                                deft_output *next) {
  (void)n;
  rec_ctx *c = user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = deft_add(g, v[1], deft_gather(g, c->x, v[0], "Gather"), "add_1");
  return true;
}

START_TEST(bad_input_names_the_loop) {
  deft_graph *g = deft_graph_new();
  rec_ctx c = {deft_const_int32(g, 5, "n"), {NULL, 0}, {NULL, 0}};
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), deft_const_double(g, 1.0, "v")}, res[2];
  deft_while_options o = deft_while_options_default();
  o.name = "my_loop";
  ck_assert(!deft_while_loop(g, rec_cond, body_drops_one, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'my_loop'",
                   "no value for loop variable 1");
  deft_graph_clear_error(g);
  ck_assert(!deft_while_loop(g, rec_cond, body_wrong_dtype, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'my_loop_1'",
                   "loop variable 1", "double", "float");
  deft_graph_clear_error(g);
  ck_assert(!deft_while_loop(g, rec_cond, body_fails, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'my_loop_2'",
                   "body callback failed");
  deft_graph_clear_error(g);
  ck_assert(!deft_while_loop(g, cond_not_bool, body_drops_one, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "while loop 'my_loop_3'",
                   "bool scalar", "int32");
  deft_graph_clear_error(g);
  o.maximum_iterations = vars[1];
  ck_assert(!deft_while_loop(g, rec_cond, body_drops_one, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "my_loop", "maximum_iterations",
                   "double");
  deft_graph_clear_error(g);
  o.maximum_iterations = (deft_output){NULL, 0};
  o.parallel_iterations = 0;
  ck_assert(!deft_while_loop(g, rec_cond, body_drops_one, &c, vars, 2, &o, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "parallel_iterations");
  deft_graph_clear_error(g);
  ck_assert(!deft_while_loop(g, rec_cond, body_drops_one, &c, vars, 0, NULL, res));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "at least one loop variable");
  deft_graph_clear_error(g);
  deft_output invalid[2] = {vars[0], {NULL, 0}};
  ck_assert(!deft_while_loop(g, rec_cond, body_drops_one, &c, invalid, 2, NULL, res));
  ck_assert(!deft_graph_ok(g));
  deft_graph_free(g);

  /* a run-time failure inside the loop names the node, the loop and the iteration */
  g = deft_graph_new();
  double xv[3] = {1, 2, 3};
  deft_tensor *xt = tensor_f64(DEFT_SHAPE(3), xv);
  c.x = deft_const(g, xt, "x");
  c.n = deft_const_int32(g, 5, "n");
  deft_output vv[2] = {deft_const_int32(g, 0, "i"), deft_const_double(g, 0.0, "v")};
  ck_assert(deft_while_loop(g, rec_cond, body_reads_past_end, &c, vv, 2, NULL, res));
  graph_ok(g);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *out = NULL;
  ck_assert(!deft_session_run(s, NULL, NULL, 0, &res[1], &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "while/Gather", "while/while_context", "iteration 3");
  ck_assert_ptr_null(out);
  deft_session_free(s);
  deft_status_free(st);
  deft_tensor_free(xt);
  deft_graph_free(g);
}
END_TEST

/* ---- gradients through loops, against central differences (tests/grad_check.c) ---- */

typedef struct {
  deft_output w, x;
  int n;
} gctx;

static gctx G; /* the current case's outside tensors (tu_grad_case builds take no context) */

static bool n_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n, (void)user;
  *pred = deft_less(g, v[0], deft_const_int32(g, G.n, "n"), "Less");
  return true;
}

static bool mul_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = deft_mul(g, v[1], G.w, "mul");
  return true;
}

/* x * w repeated 4 times */
static deft_output build_mul_loop(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  G.n = 4;
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), in[0]}, res[2];
  if (!deft_while_loop(g, n_cond, mul_body, NULL, vars, 2, NULL, res)) return res[1];
  return res[1];
}

static bool rnn_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  deft_output h = deft_tanh(g, deft_matmul(g, v[1], G.w, false, false, "MatMul"), "Tanh");
  next[1] = deft_add(g, h, deft_mul(g, G.x, v[1], "mul"), "add_1");
  return true;
}

/* h = tanh(h @ W) + x * h, 3 times, from h0 */
static deft_output build_rnn_loop(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  G.x = in[2];
  G.n = 3;
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), in[0]}, res[2];
  deft_while_loop(g, n_cond, rnn_body, NULL, vars, 2, NULL, res);
  return res[1];
}

static bool inner_grad_body(deft_graph *g, const deft_output *v, int n, void *user,
                            deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = deft_add(g, deft_mul(g, v[1], G.w, "mul"), deft_sigmoid(g, v[2], "Sigmoid"), "add_1");
  next[2] = v[2];
  return true;
}

static bool two_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n, (void)user;
  *pred = deft_less(g, v[0], deft_const_int32(g, 2, "two"), "Less");
  return true;
}

static bool outer_grad_body(deft_graph *g, const deft_output *v, int n, void *user,
                            deft_output *next) {
  (void)n, (void)user;
  deft_output xi = deft_mul(g, G.x, v[1], "mul");
  deft_output in[3] = {deft_const_int32(g, 0, "j"), v[1], xi}, out[3];
  if (!deft_while_loop(g, two_cond, inner_grad_body, NULL, in, 3, NULL, out)) return false;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  next[1] = deft_tanh(g, out[1], "Tanh");
  return true;
}

/* for 3 outer iterations: s = tanh(inner(s, x * s)), inner: 2 times s = s * w + sigmoid(x * s) */
static deft_output build_nested_loops(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  G.x = in[2];
  G.n = 3;
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), in[0]}, res[2];
  deft_while_loop(g, n_cond, outer_grad_body, NULL, vars, 2, NULL, res);
  return res[1];
}

static bool cond_grad_body(deft_graph *g, const deft_output *v, int n, void *user,
                           deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add");
  /* the first two iterations multiply by w, the others add sigmoid(a) * x */
  deft_output p = deft_less(g, v[0], deft_const_int32(g, 2, "two"), "cond/Less");
  deft_output sw = deft_switch(g, v[1], p, "cond/Switch");
  deft_output t = deft_mul(g, deft_op_output(sw.op, 1), G.w, "cond/mul");
  deft_output f0 = deft_op_output(sw.op, 0);
  deft_output f = deft_add(
      g, f0, deft_mul(g, deft_sigmoid(g, f0, "cond/Sigmoid"), G.x, "cond/mul_1"), "cond/add");
  deft_output m[2] = {f, t};
  next[1] = deft_merge(g, m, 2, "cond/Merge");
  return true;
}

static deft_output build_cond_loop(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  G.x = in[2];
  G.n = 5;
  deft_output vars[2] = {deft_const_int32(g, 0, "i"), in[0]}, res[2];
  deft_while_loop(g, n_cond, cond_grad_body, NULL, vars, 2, NULL, res);
  return res[1];
}

static bool norm_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n, (void)user;
  deft_output ss = deft_reduce_sum(g, deft_mul(g, v[0], v[0], "mul"), NULL, 0, false, "Sum");
  *pred = deft_less(g, ss, deft_const_double(g, 40.0, "limit"), "Less");
  return true;
}

static bool grow_grad_body(deft_graph *g, const deft_output *v, int n, void *user,
                           deft_output *next) {
  (void)n, (void)user;
  next[0] = deft_add(g, deft_mul(g, v[0], deft_const_double(g, 1.5, "k"), "mul"), G.w, "add");
  return true;
}

/* a count that depends on the data: a = 1.5 a + w while sum(a^2) < 40 */
static deft_output build_data_dependent(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  deft_output res;
  deft_while_loop(g, norm_cond, grow_grad_body, NULL, &in[0], 1, NULL, &res);
  return res;
}

static deft_tensor_array TA_IN, TA_OUT;

static bool ta_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n, (void)user;
  deft_output xt = deft_tensor_array_read(g, TA_IN, v[0], "TensorArrayReadV3");
  deft_output h = deft_tanh(
      g, deft_add(g, deft_matmul(g, v[1], G.w, false, false, "MatMul"), xt, "add"), "Tanh");
  deft_tensor_array out = TA_OUT;
  out.flow = v[2];
  next[2] = deft_tensor_array_write(g, out, v[0], h, "TensorArrayWrite/TensorArrayWriteV3");
  next[1] = h;
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "one"), "add_1");
  return true;
}

/* a recurrence over a TensorArray (dynamic_rnn's shape): x [4,2,3] unstacked, h = tanh(h @ W +
 * x[t]) written to an output array, stacked */
static deft_output build_ta_loop(deft_graph *g, const deft_output *in) {
  G.w = in[1];
  G.n = 4;
  deft_output T = deft_const_int32(g, 4, "T");
  TA_IN = deft_tensor_array_new(g, DEFT_DOUBLE, T, DEFT_SHAPE(2, 3), false, true, true, "in");
  TA_IN.flow = deft_tensor_array_unstack(g, TA_IN, in[0], NULL);
  TA_OUT = deft_tensor_array_new(g, DEFT_DOUBLE, T, DEFT_SHAPE(2, 3), false, true, true, "out");
  deft_output vars[3] = {deft_const_int32(g, 0, "time"), in[2], TA_OUT.flow}, res[3];
  if (!deft_while_loop(g, n_cond, ta_body, NULL, vars, 3, NULL, res)) return res[1];
  deft_tensor_array out = TA_OUT;
  out.flow = res[2];
  return deft_tensor_array_stack(g, out, NULL);
}

static const tu_grad_case loop_cases[] = {
    {"Exit", "x * w, 4 times", 2, {TU_SHAPE(2, 3), TU_SHAPE(3)}, build_mul_loop, 0, 0},
    {"Exit",
     "tanh(h @ W) + x * h, 3 times",
     3,
     {TU_SHAPE(2, 3), TU_SHAPE(3, 3), TU_SHAPE(2, 3)},
     build_rnn_loop,
     0,
     0},
    {"Exit", "nested loops", 3, {TU_SHAPE(3), TU_SHAPE(3), TU_SHAPE(3)}, build_nested_loops, 0, 0},
    {"Exit",
     "a cond inside the loop",
     3,
     {TU_SHAPE(2, 2), TU_SHAPE(2, 2), TU_SHAPE(2)},
     build_cond_loop,
     0,
     0},
    {"TensorArrayGatherV3",
     "a loop over TensorArrays",
     3,
     {TU_SHAPE(4, 2, 3), TU_SHAPE(3, 3), TU_SHAPE(2, 3)},
     build_ta_loop,
     0,
     0},
    {"Exit", "data-dependent count", 2, {TU_SHAPE(3), TU_SHAPE(3)}, build_data_dependent, 0.5, 1.0},
};

START_TEST(gradients_through_loops) {
  uint64_t rng = 0x1234567u + (uint64_t)_i;
  tu_grad_check(&loop_cases[_i], TU_GRAD_VIA_GRADIENTS, &rng);
}
END_TEST

/* TF's gradient-loop structure: counters, stacks, frames. */
START_TEST(gradient_loop_structure) {
  deft_graph *g = deft_graph_new();
  deft_output h0 = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "h0");
  deft_output in[3] = {h0, deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3, 3), "W"),
                       deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "x")};
  deft_output y = build_rnn_loop(g, in), dx[3];
  deft_output loss = deft_reduce_sum(g, y, NULL, 0, false, "loss");
  ck_assert(deft_gradients(g, &loss, 1, in, 3, NULL, dx));
  graph_ok(g);
  check_frame_op(g, "while/f_count", "Enter", "while/while_context", false);
  check_frame_op(g, "gradients/while/b_count", "Enter", "gradients/while/while_context", false);
  ck_assert_str_eq(deft_op_type(op_named(g, "gradients/while/b_count_2")), "LoopCond");
  int stacks = 0, pushes = 0, pops = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++) {
    const char *t = deft_op_type(deft_graph_op_at(g, i));
    stacks += !strcmp(t, "StackV2");
    pushes += !strcmp(t, "StackPushV2");
    pops += !strcmp(t, "StackPopV2");
  }
  ck_assert_int_gt(stacks, 0);
  ck_assert_int_eq(stacks, pushes);
  ck_assert_int_eq(stacks, pops);
  for (int i = 0; i < 3; i++) ck_assert_str_eq(deft_op_type(dx[i].op), "Exit");
  deft_graph_free(g);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("while_loop");
  TCase *tc = tcase_create("build");
  tcase_add_test(tc, recurrence_against_numpy);
  tcase_add_test(tc, tf_node_structure);
  tcase_add_test(tc, nested_loops_against_numpy);
  tcase_add_test(tc, cond_inside_a_loop);
  tcase_add_test(tc, maximum_iterations_bounds_a_loop);
  tcase_add_test(tc, shape_invariants);
  tcase_add_test(tc, meta_graph_round_trip);
  tcase_add_test(tc, bad_input_names_the_loop);
  suite_add_tcase(s, tc);
  TCase *gc = tcase_create("gradients");
  tcase_set_timeout(gc, 300);
  tcase_add_loop_test(gc, gradients_through_loops, 0,
                      (int)(sizeof loop_cases / sizeof loop_cases[0]));
  tcase_add_test(gc, gradient_loop_structure);
  suite_add_tcase(s, gc);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
