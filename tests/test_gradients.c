/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_gradients.c - autodiff checked against central finite differences in float64, for
 * every case that the op families contribute (tests/grad_cases_*.c), plus the registry walk: every
 * op has a gradient or an explicit "not differentiable" mark, and every differentiable op has at
 * least one finite-difference case. Also: deft_gradients' own semantics and error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_check.h"
#include "ops/op_def.h"
#include "testutil.h"

#define TU_FAMILY(f) TU_GRAD_CASES(f);
#include "grad_families.h"
#undef TU_FAMILY

/* Control flow is tested here (its gradients live in ops/control_flow_ops.c). */
static deft_output build_cond(deft_graph *g, const deft_output *in, bool pred) {
  deft_output p = deft_const_bool(g, pred, "pred");
  deft_output s = deft_switch(g, in[0], p, "Switch");
  deft_output br[2] = {deft_op_output(s.op, 0), deft_op_output(s.op, 1)};
  return deft_merge(g, br, 2, "Merge");
}
static deft_output build_cond_true(deft_graph *g, const deft_output *in) {
  return build_cond(g, in, true);
}
static deft_output build_cond_false(deft_graph *g, const deft_output *in) {
  return build_cond(g, in, false);
}
static const tu_grad_case core_cases[] = {
    {"Switch", "cond taken=true", 1, {TU_SHAPE(2, 3)}, build_cond_true, 0, 0},
    {"Merge", "cond taken=false", 1, {TU_SHAPE(4)}, build_cond_false, 0, 0},
};

typedef struct {
  const tu_grad_case *cases;
  int n;
} family;

static family families[32];
static int nfamilies;

static void collect(void) {
  if (nfamilies) return;
  families[nfamilies++] = (family){core_cases, (int)(sizeof core_cases / sizeof core_cases[0])};
#define TU_FAMILY(f) families[nfamilies++] = (family){tu_grad_cases_##f, tu_grad_cases_##f##_count};
#include "grad_families.h"
#undef TU_FAMILY
}

/* Ops whose gradient function is exercised through another op's case. */
static const char *const fd_exempt[][2] = {
    {"RefSwitch", "same gradient function as Switch; its input must be a variable reference"},
    {"PreventGradient", "its gradient is an error by design (tested in gradient_errors)"},
    /* Their input is a resource handle, not a tensor the walk can feed: checked by finite
     * differences with respect to the variable in tests/test_resource_vars.c. */
    {"ReadVariableOp", "differentiated w.r.t. its variable (test_resource_vars.c)"},
    {"ResourceGather", "differentiated w.r.t. its variable (test_resource_vars.c)"},
    {"TensorArrayWriteV3", "its output is the float32 flow; checked with Read (write_read)"},
    {"TensorArrayScatterV3", "its output is the float32 flow; checked with Gather"},
    {"TensorArraySplitV3", "its output is the float32 flow; checked with Concat"},
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(double lo, double hi) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* f(x) = sum(y(x) * w): runs the graph with the given inputs. */
static double objective(deft_session *s, const deft_output *ph, deft_tensor **vals, int n,
                        deft_output y, const deft_tensor *w) {
  deft_tensor *out = NULL;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, ph, tu_feeds(vals), n, &y, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  double f = 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(out); i++)
    f += deft_tensor_get_double(out, i) * ((const double *)deft_tensor_data(w))[i];
  deft_tensor_free(out);
  deft_status_free(st);
  return f;
}

static void check_case(const tu_grad_case *c) {
  deft_graph *g = deft_graph_new();
  deft_output ph[4];
  for (int i = 0; i < c->ninputs; i++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", i);
    ph[i] = deft_placeholder(g, DEFT_DOUBLE, c->shapes[i], name);
  }
  deft_output y = c->build(g, ph);
  ck_assert_msg(deft_graph_ok(g), "%s (%s): build failed: %s", c->op_type, c->label,
                deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  /* Inputs and the output shape (run once to learn it). */
  deft_tensor *vals[4];
  double lo = c->lo, hi = c->hi;
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  for (int i = 0; i < c->ninputs; i++) {
    vals[i] = deft_tensor_new(DEFT_DOUBLE, c->shapes[i].dims, c->shapes[i].rank, st);
    ck_assert_ptr_nonnull(vals[i]);
    double *d = deft_tensor_data(vals[i]);
    for (int64_t k = 0; k < deft_tensor_num_elements(vals[i]); k++) d[k] = uniform(lo, hi);
  }
  deft_session *s = deft_session_new(g, st);
  deft_tensor *y0 = NULL;
  ck_assert_msg(deft_session_run(s, ph, tu_feeds(vals), c->ninputs, &y, &y0, 1, NULL, 0, st),
                "%s (%s): forward run failed: %s", c->op_type, c->label, deft_status_message(st));
  ck_assert_msg(deft_tensor_dtype(y0) == DEFT_DOUBLE, "%s: output is not float64", c->op_type);
  deft_shape ys = deft_tensor_shape(y0);
  deft_tensor *w = deft_tensor_new(DEFT_DOUBLE, ys.dims, ys.rank, st);
  for (int64_t k = 0; k < deft_tensor_num_elements(w); k++)
    ((double *)deft_tensor_data(w))[k] = uniform(0.5, 1.5) * (k % 2 ? -1 : 1);
  deft_tensor_free(y0);
  deft_output wc = deft_const(g, w, "grad_weights");
  deft_output dx[4];
  ck_assert_msg(deft_gradients(g, &y, 1, ph, c->ninputs, &wc, dx), "%s (%s): gradients: %s",
                c->op_type, c->label, deft_status_message(deft_graph_status(g)));
  for (int i = 0; i < c->ninputs; i++) {
    deft_tensor *an = NULL;
    if (dx[i].op) {
      ck_assert_msg(
          deft_session_run(s, ph, tu_feeds(vals), c->ninputs, &dx[i], &an, 1, NULL, 0, st),
          "%s (%s): gradient run failed: %s", c->op_type, c->label, deft_status_message(st));
      ck_assert_msg(deft_tensor_num_elements(an) == deft_tensor_num_elements(vals[i]),
                    "%s (%s): gradient %d has the wrong size", c->op_type, c->label, i);
    }
    double *x = deft_tensor_data(vals[i]);
    for (int64_t k = 0; k < deft_tensor_num_elements(vals[i]); k++) {
      double orig = x[k], eps = 1e-6 * fmax(1.0, fabs(orig));
      x[k] = orig + eps;
      double fp = objective(s, ph, vals, c->ninputs, y, w);
      x[k] = orig - eps;
      double fm = objective(s, ph, vals, c->ninputs, y, w);
      x[k] = orig;
      double num = (fp - fm) / (2 * eps);
      double a = an ? deft_tensor_get_double(an, k) : 0.0;
      ck_assert_msg(fabs(a - num) <= 1e-6 + 1e-5 * fabs(num),
                    "%s (%s): d/dx%d[%lld]: autodiff %.10g, finite difference %.10g",
                    c->op_type, c->label, i, (long long)k, a, num);
    }
    deft_tensor_free(an);
  }
  for (int i = 0; i < c->ninputs; i++) deft_tensor_free(vals[i]);
  deft_tensor_free(w);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}

START_TEST(finite_differences) {
  collect();
  int total = 0;
  for (int f = 0; f < nfamilies; f++)
    for (int i = 0; i < families[f].n; i++, total++) check_case(&families[f].cases[i]);
  ck_assert_int_gt(total, 0);
}
END_TEST

START_TEST(registry_every_op_has_gradient_or_mark) {
  collect();
  int n = deft_registry_count();
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    const deft_op_def *d = deft_registry_at(i)->def;
    bool marked = (d->flags & DEFT_OP_NOT_DIFFERENTIABLE) != 0;
    ck_assert_msg(d->grad || marked, "op %s has neither a gradient nor a not-differentiable mark",
                  d->type);
    ck_assert_msg(!(d->grad && marked), "op %s has a gradient and is marked not differentiable",
                  d->type);
    if (!d->grad) continue;
    bool covered = false;
    for (int f = 0; f < nfamilies && !covered; f++)
      for (int k = 0; k < families[f].n && !covered; k++)
        covered = !strcmp(families[f].cases[k].op_type, d->type);
    for (size_t e = 0; e < sizeof fd_exempt / sizeof fd_exempt[0] && !covered; e++)
      covered = !strcmp(fd_exempt[e][0], d->type);
    ck_assert_msg(covered, "op %s has a gradient but no finite-difference case", d->type);
  }
}
END_TEST

START_TEST(unconnected_and_stop_gradient) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "x");
  deft_output z = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "z");
  deft_output y = deft_identity(g, deft_stop_gradient(g, x, NULL), "y");
  deft_output xs[2] = {x, z}, dx[2];
  ck_assert(deft_gradients(g, &y, 1, xs, 2, NULL, dx));
  ck_assert_ptr_null(dx[0].op); /* blocked by StopGradient */
  ck_assert_ptr_null(dx[1].op); /* unconnected */
  ck_assert(deft_graph_ok(g));
  /* Only the ops between ys and xs are differentiated: nothing under gradients/ for a path
   * that does not reach the xs. */
  deft_output y2 = deft_identity(g, x, "y2");
  ck_assert(deft_gradients(g, &y2, 1, &x, 1, NULL, dx));
  ck_assert_ptr_nonnull(dx[0].op);
  ck_assert(strncmp(deft_op_name(dx[0].op), "gradients_1/", 12) == 0);
  deft_graph_free(g);
}
END_TEST

START_TEST(gradient_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "x");
  deft_output i = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(3), "i");
  deft_output dx[1];
  ck_assert(!deft_gradients(g, &i, 1, &x, 1, NULL, dx));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'i:0'", "int32");
  deft_graph_clear_error(g);
  deft_output p = deft_prevent_gradient(g, x, "no second derivative", "pg");
  deft_output y = deft_identity(g, p, "y");
  ck_assert(!deft_gradients(g, &y, 1, &x, 1, NULL, dx));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "pg", "no second derivative");
  deft_graph_free(g);
}
END_TEST

/* An op with more than 64 input gradients is gated as a whole: TF's tuple groups every one
 * (this used to stop at 64, leaving the rest ungated). ConcatV2's gradient is one Slice per
 * input; with grad_ys of ones each dx is ones. */
START_TEST(gate_groups_every_input_gradient) {
  enum { N = 70 };
  deft_graph *g = deft_graph_new();
  deft_output xs[N], dx[N];
  char name[16];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "x%d", i);
    xs[i] = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2), name);
  }
  deft_output s = deft_concat(g, xs, N, deft_const_int32(g, 0, "axis"), "s");
  ck_assert(deft_gradients(g, &s, 1, xs, N, NULL, dx));
  deft_op *group = deft_graph_op_by_name(g, "gradients/s_grad/tuple/group_deps");
  ck_assert_ptr_nonnull(group);
  ck_assert_int_eq(deft_op_num_control_inputs(group), N);
  ck_assert_str_eq(deft_op_name(dx[N - 1].op), "gradients/s_grad/tuple/control_dependency_69");
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  deft_tensor *vals[N];
  float v[2] = {1, 2};
  int64_t d = 2;
  for (int i = 0; i < N; i++) vals[i] = deft_tensor_from_data(DEFT_FLOAT, &d, 1, v, sizeof v, NULL);
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(sess, xs, tu_feeds(vals), N, &dx[N - 1], &out, 1, NULL, 0, st),
                "%s", deft_status_message(st));
  const float *o = deft_tensor_data(out);
  ck_assert(o[0] == 1.0f && o[1] == 1.0f);
  deft_tensor_free(out);
  for (int i = 0; i < N; i++) deft_tensor_free(vals[i]);
  deft_session_free(sess);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("gradients");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, registry_every_op_has_gradient_or_mark);
  tcase_add_test(tc, finite_differences);
  tcase_add_test(tc, unconnected_and_stop_gradient);
  tcase_add_test(tc, gradient_errors);
  tcase_add_test(tc, gate_groups_every_input_gradient);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
