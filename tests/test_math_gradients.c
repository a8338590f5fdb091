/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_math_gradients.c - the math family's gradients: gradient graphs of the ops whose
 * gradients need no array ops, checked against analytic NumPy formulas (tests/math_testutil.h);
 * every case of tests/grad_cases_math.c against finite differences; TF's broadcasting gradient
 * graph; and the registry entries (a kernel, and a gradient or the not-differentiable mark). */
#include <math.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/session.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "math_testutil.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"
#include "testutil.h"

#include "grad_cases_math.c" /* the finite-difference cases, also run by test_gradients */

/* ---- gradient graphs that need only math ops (the finite-difference cases for every
 * gradient, including the broadcasting ones, are in tests/grad_cases_math.c) ---- */

/* Calls op's registered gradient builder with incoming gradient gy, in TF's scope. */
static void call_grad(deft_graph *g, deft_output y, deft_output gy, deft_output *dx) {
  const deft_op_reg *r = deft_registry_lookup(deft_op_type(y.op));
  ck_assert_ptr_nonnull(r);
  ck_assert_ptr_nonnull(r->def->grad);
  char scope[256];
  snprintf(scope, sizeof scope, "gradients/%s_grad", deft_op_name(y.op));
  deft_graph_push_scope(g, scope);
  deft_output grads[1] = {gy};
  r->def->grad(g, y.op, grads, dx);
  deft_graph_pop_scope(g);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

START_TEST(matmul_gradients_vs_numpy) {
  np_case cases[8];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[8], *ins[4][3];
  for (int tr = 0; tr < 4; tr++) {
    bool ta = tr & 1, tb = tr & 2;
    deft_shape sa = ta ? DEFT_SHAPE(13, 7) : DEFT_SHAPE(7, 13);
    deft_shape sb = tb ? DEFT_SHAPE(5, 13) : DEFT_SHAPE(13, 5);
    ins[tr][0] = mtu_rand_tensor(DEFT_DOUBLE, sa, -1, 1, false, false);
    ins[tr][1] = mtu_rand_tensor(DEFT_DOUBLE, sb, -1, 1, false, false);
    ins[tr][2] = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(7, 5), -1, 1, false, false);
    deft_graph *g = deft_graph_new();
    deft_output a = mtu_ph(g, DEFT_DOUBLE, sa, "a"), b = mtu_ph(g, DEFT_DOUBLE, sb, "b");
    deft_output gy = mtu_ph(g, DEFT_DOUBLE, DEFT_SHAPE(7, 5), "gy");
    deft_output c = deft_matmul(g, a, b, ta, tb, NULL), dx[2] = {{0}, {0}};
    call_grad(g, c, gy, dx);
    ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/MatMul_grad/MatMul");
    ck_assert_str_eq(deft_op_name(dx[1].op), "gradients/MatMul_grad/MatMul_1");
    deft_output feeds[3] = {a, b, gy};
    for (int i = 0; i < 2; i++) {
      got[2 * tr + i] = mtu_run_ok(g, dx[i], feeds, ins[tr], 3);
      np_case *cs = &cases[2 * tr + i];
      cs->nin = 3;
      for (int k = 0; k < 3; k++) cs->in[k] = ins[tr][k];
      /* C = op(A) op(B): dop(A) = G op(B)^T, dop(B) = op(A)^T G; undo the transposes */
      if (i == 0)
        snprintf(cs->expr, sizeof cs->expr,
                 "(lambda d: d.T if %d else d)(c @ (b.T if %d else b).T)", ta, tb);
      else
        snprintf(cs->expr, sizeof cs->expr,
                 "(lambda d: d.T if %d else d)((a.T if %d else a).T @ c)", tb, ta);
    }
    deft_graph_free(g);
  }
  mtu_np_run(cases, 8);
  for (int k = 0; k < 8; k++) {
    mtu_check_close(got[k], cases[k].want, 1e-12, 1e-12, cases[k].expr);
    deft_tensor_free(got[k]);
  }
  for (int tr = 0; tr < 4; tr++)
    for (int k = 0; k < 3; k++) deft_tensor_free(ins[tr][k]);
  mtu_np_free(cases, 8);
}
END_TEST

START_TEST(elementwise_gradients_vs_numpy) {
  /* same static shapes: no broadcasting ops needed. a = x, b = y, c = incoming gradient */
  static const struct {
    const char *type;
    const char *dx, *dy; /* NumPy formulas; dy NULL for unary ops */
    double lo, hi;
  } cases_[] = {
      {"Add", "c", "c", -1, 1},
      {"Sub", "c", "-c", -1, 1},
      {"Mul", "c * b", "c * a", -1, 1},
      {"RealDiv", "c / b", "-c * a / b**2", 0.5, 2},
      {"SquaredDifference", "2 * c * (a - b)", "-2 * c * (a - b)", -1, 1},
      {"Maximum", NULL, NULL, -1, 1},
      {"Neg", "-c", NULL, -1, 1},
      {"Square", "2 * a * c", NULL, -1, 1},
      {"Sqrt", "0.5 * c / np.sqrt(a)", NULL, 0.5, 2},
      {"Rsqrt", "-0.5 * c * a**-1.5", NULL, 0.5, 2},
      {"Exp", "c * np.exp(a)", NULL, -1, 1},
      {"Log", "c / a", NULL, 0.5, 2},
      {"Reciprocal", "-c / a**2", NULL, 0.5, 2},
      {"Abs", "c * np.sign(a)", NULL, -1, 1},
      {"AddN", "c", "c", -1, 1},
  };
  int ncases = sizeof cases_ / sizeof cases_[0];
  np_case cases[32];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[32], *ins[16][3];
  int n = 0;
  for (int k = 0; k < ncases; k++) {
    if (!cases_[k].dx) continue; /* Maximum needs Select/Fill: grad_cases_math.c */
    deft_shape sh = DEFT_SHAPE(3, 4);
    for (int i = 0; i < 3; i++)
      ins[k][i] = mtu_rand_tensor(DEFT_DOUBLE, sh, i == 2 ? -1 : cases_[k].lo,
                              i == 2 ? 1 : cases_[k].hi, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, DEFT_DOUBLE, sh, "x"), y = mtu_ph(g, DEFT_DOUBLE, sh, "y");
    deft_output gy = mtu_ph(g, DEFT_DOUBLE, sh, "gy"), z;
    /* gradient builders put control edges on the incoming gradient's op, and deft's session
     * (unlike TF's) still runs a fed Placeholder that is reached through a control edge */
    deft_output gin = deft_identity(g, gy, "gin");
    const deft_op_reg *r = deft_registry_lookup(cases_[k].type);
    ck_assert_ptr_nonnull(r);
    if (!strcmp(cases_[k].type, "AddN")) {
      deft_output xs[2] = {x, y};
      z = deft_add_n(g, xs, 2, NULL);
    } else if (r->ninputs == 2) {
      deft_output in[2] = {x, y};
      z = deft_build_simple(g, cases_[k].type, NULL, in, 2);
    } else {
      z = deft_build_simple(g, cases_[k].type, NULL, &x, 1);
    }
    deft_output dx[2] = {{0}, {0}};
    call_grad(g, z, gin, dx);
    deft_output feeds[3] = {x, y, gy};
    for (int i = 0; i < 2; i++) {
      const char *f = i ? cases_[k].dy : cases_[k].dx;
      if (!f) continue;
      got[n] = mtu_run_ok(g, dx[i], feeds, ins[k], 3);
      cases[n].nin = 3;
      for (int j = 0; j < 3; j++) cases[n].in[j] = ins[k][j];
      snprintf(cases[n].expr, sizeof cases[n].expr, "%s", f);
      n++;
    }
    deft_graph_free(g);
  }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want, 1e-13, 1e-14, cases[k].expr);
    deft_tensor_free(got[k]);
  }
  for (int k = 0; k < ncases; k++)
    if (cases_[k].dx)
      for (int i = 0; i < 3; i++) deft_tensor_free(ins[k][i]);
  mtu_np_free(cases, n);
}
END_TEST

/* Every case of tests/grad_cases_math.c through deft_gradients: central differences of
 * sum(y * gy) against the gradients, in float64 (a fixed step of 1e-4 and a tighter tolerance
 * than test_gradients.c's registry walk). */
START_TEST(gradients_match_finite_differences) {
  uint64_t rng = 88172645463325252ull;
  for (int i = 0; i < tu_grad_cases_math_count; i++)
    tu_grad_check(&tu_grad_cases_math[i], TU_GRAD_VIA_GRADIENTS, &rng);
}
END_TEST

/* Every differentiable op of the family has at least one finite-difference case. */
START_TEST(every_gradient_has_a_case) {
  for (int i = 0; i < deft_registry_count(); i++) {
    const deft_op_reg *r = deft_registry_at(i);
    if (!r->def->grad || r->def->kernel == NULL) continue;
    bool mine = false;
    for (size_t k = 0; k < deft_ops_math.count; k++) mine |= &deft_ops_math.defs[k] == r->def;
    if (!mine) continue;
    bool found = false;
    for (int k = 0; k < tu_grad_cases_math_count; k++)
      found |= !strcmp(tu_grad_cases_math[k].op_type, r->def->type);
    ck_assert_msg(found, "%s has a gradient but no finite-difference case", r->def->type);
  }
}
END_TEST

/* The broadcasting gradient builds TF's graph: Shape, BroadcastGradientArgs, Sum, Reshape. */
START_TEST(broadcast_gradient_graph) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x"),
              b = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "b");
  deft_output y = deft_add(g, x, b, NULL), dx[2] = {{NULL, 0}};
  deft_output gy = deft_identity(g, mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "gy"), "gin");
  call_grad(g, y, gy, dx);
  static const char *names[][2] = {{"gradients/Add_grad/Shape", "Shape"},
                                   {"gradients/Add_grad/Shape_1", "Shape"},
                                   {"gradients/Add_grad/BroadcastGradientArgs",
                                    "BroadcastGradientArgs"},
                                   {"gradients/Add_grad/Sum", "Sum"},
                                   {"gradients/Add_grad/Reshape", "Reshape"},
                                   {"gradients/Add_grad/Sum_1", "Sum"},
                                   {"gradients/Add_grad/Reshape_1", "Reshape"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    deft_op *op = deft_graph_op_by_name(g, names[i][0]);
    ck_assert_msg(op != NULL, "missing %s", names[i][0]);
    ck_assert_str_eq(deft_op_type(op), names[i][1]);
  }
  ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/Add_grad/Reshape");
  ck_assert_str_eq(deft_op_name(dx[1].op), "gradients/Add_grad/Reshape_1");
  deft_output r1 = deft_op_input(deft_graph_op_by_name(g, "gradients/Add_grad/Sum_1"), 1);
  ck_assert_int_eq(r1.index, 1); /* BroadcastGradientArgs:1 */
  /* numbers: db = column sums of gy */
  deft_tensor *gv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 3), -1, 1, false, false);
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 3), -1, 1, false, false);
  deft_tensor *bv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3), -1, 1, false, false);
  deft_output feeds[3] = {x, b, deft_graph_tensor_by_name(g, "gy", NULL)};
  deft_tensor *vals[3] = {xv, bv, gv};
  deft_tensor *db = mtu_run_ok(g, dx[1], feeds, vals, 3);
  ck_assert_int_eq(db->rank, 1);
  for (int j = 0; j < 3; j++) {
    double want = 0;
    for (int i = 0; i < 4; i++) want += deft_tensor_f32(gv)[i * 3 + j];
    ck_assert(fabs(deft_tensor_f32(db)[j] - want) < 1e-6);
  }
  deft_tensor_free(db);
  deft_tensor_free(gv);
  deft_tensor_free(xv);
  deft_tensor_free(bv);
  deft_graph_free(g);
}
END_TEST

/* The registry: every math op has a kernel, and a gradient or the not-differentiable mark. */
START_TEST(registry_entries) {
  static const char *types[] = {
      "Add", "AddV2", "Sub", "Mul", "RealDiv", "FloorDiv", "FloorMod", "Maximum", "Minimum",
      "SquaredDifference", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual",
      "Neg", "Square", "Sqrt", "Rsqrt", "Exp", "Log", "Reciprocal", "Abs", "Sign", "Floor",
      "RsqrtGrad",
      "SqrtGrad", "ReciprocalGrad", "AddN", "MatMul", "Cast", "Sum", "Mean", "Prod", "Max",
      "ArgMax"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const deft_op_reg *r = deft_registry_lookup(types[i]);
    ck_assert_msg(r != NULL, "%s is not registered", types[i]);
    ck_assert_msg(r->def->kernel != NULL, "%s has no kernel", types[i]);
    bool nodiff = r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE;
    ck_assert_msg(nodiff != (r->def->grad != NULL), "%s: gradient xor mark", types[i]);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("math_gradients");
  TCase *tg = tcase_create("gradients");
  tcase_set_timeout(tg, 60);
  tcase_add_test(tg, matmul_gradients_vs_numpy);
  tcase_add_test(tg, elementwise_gradients_vs_numpy);
  tcase_add_test(tg, gradients_match_finite_differences);
  tcase_add_test(tg, every_gradient_has_a_case);
  tcase_add_test(tg, broadcast_gradient_graph);
  suite_add_tcase(s, tg);
  TCase *tr = tcase_create("registry");
  tcase_add_test(tr, registry_entries);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
