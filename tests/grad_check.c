/* tests/grad_check.c - one op's gradient function against central finite differences (see
 * grad_check.h). */
#include "grad_check.h"

#include <math.h>
#include <stdio.h>

#include "graph/graph_internal.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"
#include "testutil.h"

/* xorshift64: the same inputs on every run. */
static double uniform(uint64_t *state, double lo, double hi) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return lo + (hi - lo) * (double)(*state >> 11) / 9007199254740992.0;
}

static deft_tensor *random_f64(deft_shape s, double lo, double hi, uint64_t *state) {
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t k = 0; k < t->n; k++) deft_tensor_f64(t)[k] = uniform(state, lo, hi);
  return t;
}

/* sum(gy * y) at the current input values. */
static double weighted_output(deft_session *s, const deft_output *feeds, deft_tensor *const *vals,
                              int n, deft_output y, const deft_tensor *gy) {
  deft_tensor *out = NULL;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), n, &y, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  double sum = 0;
  for (int64_t i = 0; i < out->n; i++) sum += deft_tensor_f64(out)[i] * deft_tensor_f64(gy)[i];
  deft_tensor_free(out);
  return sum;
}

void tu_grad_check(const tu_grad_case *gc, tu_grad_path path, uint64_t *rng) {
  deft_graph *g = deft_graph_new();
  deft_output xs[4];
  char name[16];
  for (int i = 0; i < gc->ninputs; i++) {
    snprintf(name, sizeof name, "x%d", i);
    xs[i] = deft_placeholder(g, DEFT_DOUBLE, gc->shapes[i], name);
  }
  deft_output y = gc->build(g, xs);
  ck_assert_msg(deft_graph_ok(g), "%s (%s): %s", gc->op_type, gc->label,
                deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_type(y.op), gc->op_type);
  deft_op *op = y.op;
  deft_output feeds[5];
  deft_tensor *vals[5];
  double lo = gc->lo, hi = gc->hi;
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  for (int i = 0; i < gc->ninputs; i++) {
    feeds[i] = xs[i];
    vals[i] = random_f64(gc->shapes[i], lo, hi, rng);
  }
  /* y's shape, which shape inference may leave partly unknown: one forward run tells. */
  deft_status *st = deft_status_new();
  deft_session *fwd = deft_session_new(g, st);
  deft_tensor *y0 = NULL;
  ck_assert_msg(deft_session_run(fwd, feeds, tu_feeds(vals), gc->ninputs, &y, &y0, 1, NULL, 0, st),
                "%s (%s): %s", gc->op_type, gc->label, deft_status_message(st));
  deft_shape ys = deft_tensor_shape(y0);
  deft_tensor_free(y0);
  deft_session_free(fwd);
  deft_output gy = deft_placeholder(g, DEFT_DOUBLE, ys, "gy");

  /* dx[i]: the gradient of sum(gy * y) with respect to case input i. */
  deft_output dx[4] = {{NULL, 0}};
  if (path == TU_GRAD_VIA_GRADIENTS) {
    deft_output gin = deft_identity(g, gy, "gin"); /* grad_ys computed in the graph */
    ck_assert(deft_gradients(g, &y, 1, xs, gc->ninputs, &gin, dx));
  } else {
    deft_output grads[8] = {{NULL, 0}}, op_dx[8] = {{NULL, 0}};
    ck_assert(op->noutputs <= 8 && op->ninputs <= 8);
    ck_assert_msg(op->reg && op->reg->def->grad, "%s has no gradient function", gc->op_type);
    grads[y.index] = gy;
    snprintf(name, sizeof name, "%s_grad", op->name);
    ck_assert_ptr_nonnull(deft_graph_push_scope(g, "gradients"));
    ck_assert_ptr_nonnull(deft_graph_push_scope(g, name));
    op->reg->def->grad(g, op, grads, op_dx);
    deft_graph_pop_scope(g);
    deft_graph_pop_scope(g);
    /* Case inputs must be the op's own inputs (each once); others are Consts. */
    for (int i = 0; i < gc->ninputs; i++) {
      int uses = 0;
      for (int k = 0; k < op->ninputs; k++)
        if (op->inputs[k].op == xs[i].op) {
          uses++;
          ck_assert_msg(op_dx[k].op != NULL, "%s (%s): no gradient for input %d", gc->op_type,
                        gc->label, k);
          dx[i] = op_dx[k];
        }
      ck_assert_msg(uses == 1, "%s (%s): case input %d feeds the op %d times (direct checks need "
                    "exactly once)", gc->op_type, gc->label, i, uses);
    }
  }
  ck_assert_msg(deft_graph_ok(g), "%s (%s): %s", gc->op_type, gc->label,
                deft_status_message(deft_graph_status(g)));

  feeds[gc->ninputs] = gy;
  vals[gc->ninputs] = random_f64(ys, -1, 1, rng);
  int nf = gc->ninputs + 1;
  deft_session *s = deft_session_new(g, st);
  for (int i = 0; i < gc->ninputs; i++) {
    ck_assert_msg(dx[i].op != NULL, "%s (%s): no gradient for input %d", gc->op_type, gc->label,
                  i);
    deft_tensor *an = NULL;
    ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nf, &dx[i], &an, 1, NULL, 0, st),
                  "%s (%s): %s", gc->op_type, gc->label, deft_status_message(st));
    ck_assert_int_eq(an->rank, vals[i]->rank);
    for (int d = 0; d < an->rank; d++) ck_assert_int_eq(an->dims[d], vals[i]->dims[d]);
    const double h = 1e-4;
    for (int64_t e = 0; e < vals[i]->n; e++) {
      double *p = &deft_tensor_f64(vals[i])[e], keep = *p;
      *p = keep + h;
      double up = weighted_output(s, feeds, vals, nf, y, vals[gc->ninputs]);
      *p = keep - h;
      double down = weighted_output(s, feeds, vals, nf, y, vals[gc->ninputs]);
      *p = keep;
      double num = (up - down) / (2 * h), got = deft_tensor_f64(an)[e];
      ck_assert_msg(fabs(num - got) <= 1e-6 * (1 + fabs(num)),
                    "%s (%s): d/dx%d[%lld] = %.10g, finite differences give %.10g", gc->op_type,
                    gc->label, i, (long long)e, got, num);
    }
    deft_tensor_free(an);
  }
  for (int i = 0; i < nf; i++) deft_tensor_free(vals[i]);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
