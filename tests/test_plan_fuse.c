/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_plan_fuse.c - plan-time fusion (runtime/plan_fuse.c): the batch-norm network's
 * forward and backward pairs are fused, and every value a run can fetch is bit-identical to the
 * unfused plan's (fusion off in the session's options); a fetched intermediate, or a run value the fast path does not fit,
 * keeps the unfused computation; the fused loops match a reference computed here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/session_internal.h"
#include "testutil.h"

/* ---- a small version of the chapter's batch-norm network ---- */

typedef struct net {
  deft_graph *g;
  deft_session *s;
  deft_output X, y, training, logits, loss;
  deft_op *targets[8];
  int ntargets;
  deft_tensor *xb, *yb, *flag;
  deft_status *st;
  bool fuse;
} net;

/* A session on g with plan-time fusion on or off. */
static deft_session *fuse_session(deft_graph *g, bool fuse, deft_status *st) {
  deft_session_options *o = deft_session_options_new();
  ck_assert_ptr_nonnull(o);
  deft_session_options_set_plan_fusion(o, fuse);
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  return s;
}

enum { ROWS = 48, IN = 20, H1 = 16, H2 = 12, CLASSES = 5 };

static void net_build(net *m, bool fuse, double epsilon, bool training) {
  memset(m, 0, sizeof *m);
  m->fuse = fuse;
  deft_graph *g = m->g = deft_graph_new();
  ck_assert_ptr_nonnull(g);
  deft_graph_set_seed(g, 11);
  int64_t xd[2] = {-1, IN}, yd[1] = {-1};
  m->X = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "X");
  m->y = deft_placeholder(g, DEFT_INT32, deft_shape_make(1, yd), "y");
  m->training = deft_placeholder_with_default(g, deft_const_bool(g, false, "training/input"),
                                              deft_shape_make(0, NULL), "training");
  deft_dense_options lin = {.kernel_initializer = deft_init_variance_scaling(
                                1.0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0)};
  deft_batch_norm_options bn = {.momentum = 0.9, .epsilon = epsilon};
  deft_output h = deft_dense(g, m->X, H1, &lin, "hidden1");
  h = deft_elu(g, deft_batch_normalization(g, h, m->training, &bn, NULL), NULL);
  h = deft_dense(g, h, H2, &lin, "hidden2");
  h = deft_elu(g, deft_batch_normalization(g, h, m->training, &bn, NULL), NULL);
  h = deft_dense(g, h, CLASSES, &lin, "outputs");
  m->logits = deft_batch_normalization(g, h, m->training, &bn, NULL);
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, m->logits, m->y, NULL);
  m->loss = deft_reduce_mean(g, xent, NULL, 0, false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.05f);
  deft_op *train = deft_optimizer_minimize(opt, m->loss, NULL, 0, NULL, NULL);
  deft_optimizer_free(opt);
  deft_op *init = deft_global_variables_initializer(g, "init");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  m->targets[m->ntargets++] = train;
  deft_output upd[6];
  deft_status *st = deft_status_new();
  int n = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 6, st);
  ck_assert_int_eq(n, 6);
  for (int i = 0; i < n; i++) m->targets[m->ntargets++] = upd[i].op;
  m->s = fuse_session(g, m->fuse, st);
  ck_assert_ptr_nonnull(m->s);
  ck_assert(deft_session_run(m->s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  int64_t bd[2] = {ROWS, IN}, ld[1] = {ROWS};
  m->xb = deft_tensor_new(DEFT_FLOAT, bd, 2, st);
  m->yb = deft_tensor_new(DEFT_INT32, ld, 1, st);
  m->flag = deft_tensor_scalar_bool(training);
  ck_assert(m->xb && m->yb && m->flag);
  uint32_t r = 4242;
  float *xp = deft_tensor_data(m->xb);
  int32_t *yp = deft_tensor_data(m->yb);
  for (int i = 0; i < ROWS * IN; i++) {
    r = r * 1664525u + 1013904223u;
    xp[i] = (r >> 24) < 64 ? 0.0f : (float)(r >> 8) / 16777216.0f - 0.3f;
  }
  for (int i = 0; i < ROWS; i++) {
    r = r * 1664525u + 1013904223u;
    yp[i] = (int32_t)((r >> 16) % CLASSES);
  }
  m->st = st;
}

/* One run: the training targets (when `train`) and the fetches. */
static void net_run(net *m, bool train, const deft_output *fetches, deft_tensor **vals, int n) {
  deft_output feeds[3] = {m->X, m->y, m->training};
  deft_tensor *fv[3] = {m->xb, m->yb, m->flag};
  bool ok = deft_session_run(m->s, feeds, tu_feeds(fv), 3, fetches, vals, n, m->targets,
                             train ? m->ntargets : 0, m->st);
  ck_assert_msg(ok, "run: %s", deft_status_message(m->st));
}

static void net_free(net *m) {
  deft_status_free(m->st);
  deft_tensor_free(m->xb);
  deft_tensor_free(m->yb);
  deft_tensor_free(m->flag);
  deft_session_free(m->s);
  deft_graph_free(m->g);
}

static deft_output out_named(deft_graph *g, const char *name) {
  deft_op *op = deft_graph_op_by_name(g, name);
  ck_assert_msg(op != NULL, "no op %s", name);
  return deft_op_output(op, 0);
}

/* The step of op in the session's last plan. */
static const deft_step *step_of(deft_session *s, const deft_op *op) {
  const deft_plan *p = s->last;
  ck_assert_ptr_nonnull(p);
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i].op == op) return &p->steps[i];
  return NULL;
}

static bool absorbed_in(deft_graph *g, deft_session *s, const char *name) {
  const deft_step *st = step_of(s, deft_graph_op_by_name(g, name));
  ck_assert_msg(st != NULL, "%s is not in the plan", name);
  return st->absorbed;
}

static bool absorbed(net *m, const char *name) { return absorbed_in(m->g, m->s, name); }

static void assert_same_bits(const deft_tensor *a, const deft_tensor *b, const char *what) {
  ck_assert_msg(a && b, "%s: missing value", what);
  ck_assert_int_eq(deft_tensor_dtype(a), deft_tensor_dtype(b));
  ck_assert_int_eq(deft_tensor_rank(a), deft_tensor_rank(b));
  for (int i = 0; i < deft_tensor_rank(a); i++)
    ck_assert_int_eq(deft_tensor_dim(a, i), deft_tensor_dim(b, i));
  ck_assert_msg(memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)) == 0,
                "%s differs between the fused and the unfused plan", what);
}

/* The tensors outside the fused pairs that a user fetches: the layers' outputs, batch
 * statistics, moving-average updates' inputs, the loss and the gradients of every variable. */
static const char *const OUTSIDE[] = {
    "batch_normalization/batchnorm/add_1",
    "batch_normalization/moments/Squeeze",
    "batch_normalization/moments/Squeeze_1",
    "batch_normalization_1/batchnorm/add_1",
    "batch_normalization_2/batchnorm/add_1",
    "loss",
    "gradients/batch_normalization/batchnorm/mul_1_grad/Reshape",
    "gradients/batch_normalization/batchnorm/mul_1_grad/Reshape_1",
    "gradients/batch_normalization/batchnorm/mul_grad/tuple/control_dependency_1",
    "gradients/batch_normalization/batchnorm/sub_grad/tuple/control_dependency",
    "gradients/hidden1/MatMul_grad/tuple/control_dependency_1",
    "gradients/hidden1/BiasAdd_grad/tuple/control_dependency_1",
    "gradients/batch_normalization_2/batchnorm/mul_1_grad/Reshape_1",
};
enum { NOUT = sizeof OUTSIDE / sizeof OUTSIDE[0] };

/* The fused pairs' producers in the BN network's training plan. */
static const char *const PRODUCERS[] = {
    "batch_normalization/batchnorm/mul_1",
    "batch_normalization/moments/SquaredDifference",
    "gradients/batch_normalization/batchnorm/mul_1_grad/Mul_1",
    "batch_normalization_2/batchnorm/mul_1",
    "batch_normalization_2/moments/SquaredDifference",
};
enum { NPROD = sizeof PRODUCERS / sizeof PRODUCERS[0] };

/* Trains fused and unfused nets side by side, fetching every OUTSIDE tensor each step, and
 * compares them all, then every variable. */
static void compare_training(double epsilon) {
  net a, b;
  net_build(&a, true, epsilon, true);
  net_build(&b, false, epsilon, true);
  deft_output fa[NOUT], fb[NOUT];
  for (int i = 0; i < NOUT; i++)
    fa[i] = out_named(a.g, OUTSIDE[i]), fb[i] = out_named(b.g, OUTSIDE[i]);
  for (int step = 0; step < 6; step++) {
    deft_tensor *va[NOUT], *vb[NOUT];
    net_run(&a, true, fa, va, NOUT);
    net_run(&b, true, fb, vb, NOUT);
    for (int i = 0; i < NOUT; i++) {
      assert_same_bits(va[i], vb[i], OUTSIDE[i]);
      deft_tensor_free(va[i]);
      deft_tensor_free(vb[i]);
    }
  }
  for (int i = 0; i < NPROD; i++) {
    ck_assert_msg(absorbed(&a, PRODUCERS[i]), "%s was not fused", PRODUCERS[i]);
    ck_assert_msg(!absorbed(&b, PRODUCERS[i]), "%s was fused with fusion off", PRODUCERS[i]);
  }
  deft_output vars[32];
  int n = deft_graph_get_collection(a.g, DEFT_GLOBAL_VARIABLES, NULL, vars, 32, a.st);
  ck_assert_int_eq(n, 18);
  for (int i = 0; i < n; i++) {
    deft_tensor *va = deft_session_variable_value(a.s, vars[i].op, a.st);
    deft_tensor *vb = deft_session_variable_value(
        b.s, deft_graph_op_by_name(b.g, deft_op_name(vars[i].op)), b.st);
    assert_same_bits(va, vb, deft_op_name(vars[i].op));
    deft_tensor_free(va);
    deft_tensor_free(vb);
  }
  net_free(&a);
  net_free(&b);
}

START_TEST(fused_training_is_bit_identical_to_unfused) { compare_training(0.0); }
END_TEST

/* The pairs do not depend on epsilon: another epsilon fuses the same pairs, same bits. */
START_TEST(other_epsilon_is_fused_and_identical) { compare_training(1e-5); }
END_TEST

/* Inference mode (training false): after three training steps (so that the moving statistics
 * and beta moved), the moving statistics normalize; the forward pairs still fuse and the logits
 * are the unfused plan's. */
START_TEST(inference_mode_is_identical) {
  net a, b;
  net_build(&a, true, 0.0, true);
  net_build(&b, false, 0.0, true);
  for (int i = 0; i < 3; i++) net_run(&a, true, NULL, NULL, 0), net_run(&b, true, NULL, NULL, 0);
  deft_tensor_free(a.flag);
  deft_tensor_free(b.flag);
  a.flag = deft_tensor_scalar_bool(false);
  b.flag = deft_tensor_scalar_bool(false);
  deft_output fa = a.logits, fb = b.logits;
  deft_tensor *va, *vb;
  net_run(&a, false, &fa, &va, 1);
  net_run(&b, false, &fb, &vb, 1);
  assert_same_bits(va, vb, "logits (inference)");
  ck_assert(absorbed(&a, "batch_normalization/batchnorm/mul_1"));
  ck_assert(!absorbed(&b, "batch_normalization/batchnorm/mul_1"));
  deft_tensor_free(va);
  deft_tensor_free(vb);
  net_free(&a);
  net_free(&b);
}
END_TEST

/* Fetching a pair's intermediate keeps that pair unfused (the value is computed and is the
 * unfused plan's); the other pairs still fuse. */
START_TEST(fetched_intermediate_is_not_fused) {
  net a, b;
  net_build(&a, true, 0.0, true);
  net_build(&b, false, 0.0, true);
  for (int i = 0; i < NPROD; i++) {
    deft_output fa[2] = {out_named(a.g, PRODUCERS[i]), a.logits};
    deft_output fb[2] = {out_named(b.g, PRODUCERS[i]), b.logits};
    deft_tensor *va[2], *vb[2];
    net_run(&a, true, fa, va, 2);
    net_run(&b, true, fb, vb, 2);
    ck_assert_msg(!absorbed(&a, PRODUCERS[i]), "fetched %s was fused", PRODUCERS[i]);
    for (int k = 0; k < NPROD; k++)
      if (k != i) ck_assert_msg(absorbed(&a, PRODUCERS[k]), "%s not fused", PRODUCERS[k]);
    assert_same_bits(va[0], vb[0], PRODUCERS[i]);
    assert_same_bits(va[1], vb[1], "logits");
    for (int k = 0; k < 2; k++) deft_tensor_free(va[k]), deft_tensor_free(vb[k]);
  }
  net_free(&a);
  net_free(&b);
}
END_TEST

/* ---- small graphs: the fused loops against a reference computed here ---- */

typedef struct small {
  deft_graph *g;
  deft_session *s;
  deft_status *st;
} small;

static void small_session(small *m, bool fuse) {
  m->st = deft_status_new();
  m->s = fuse_session(m->g, fuse, m->st);
  ck_assert_ptr_nonnull(m->s);
}

static deft_tensor *matrix(int64_t rows, int64_t cols, uint32_t seed) {
  int64_t d[2] = {rows, cols};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, d, 2, NULL);
  ck_assert_ptr_nonnull(t);
  float *p = deft_tensor_data(t);
  for (int64_t i = 0; i < rows * cols; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
  }
  return t;
}

static deft_tensor *vector(int64_t n, uint32_t seed) {
  deft_tensor *m = matrix(1, n, seed), *v = deft_tensor_new(DEFT_FLOAT, &n, 1, NULL);
  ck_assert_ptr_nonnull(v);
  memcpy(deft_tensor_data(v), deft_tensor_data(m), sizeof(float) * (size_t)n);
  deft_tensor_free(m);
  return v;
}

/* y = x * s + t and Shape(x * s), fetched together: the pair fuses (Shape reads x), y matches
 * the two roundings computed here, and the shape is x's. */
START_TEST(mul_add_matches_reference_and_shape_reader) {
  small m = {deft_graph_new(), NULL, NULL};
  deft_graph *g = m.g;
  int64_t xd[2] = {-1, 5};
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "x");
  deft_tensor *sv = vector(5, 3), *tv = vector(5, 9);
  deft_output s = deft_const(g, sv, "s"), t = deft_const(g, tv, "t");
  deft_output mul = deft_mul(g, x, s, "mul");
  deft_output y = deft_add(g, mul, t, "y");
  deft_output shp = deft_shape_of(g, mul, "shape");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  small_session(&m, true);
  for (int rows = 1; rows <= 7; rows += 3) {
    deft_tensor *xv = matrix(rows, 5, (uint32_t)rows);
    deft_output fetch[2] = {y, shp};
    deft_tensor *out[2];
    deft_tensor *fv[1] = {xv};
    ck_assert(deft_session_run(m.s, &x, tu_feeds(fv), 1, fetch, out, 2, NULL, 0, m.st));
    ck_assert(absorbed_in(g, m.s, "mul"));
    const float *xp = deft_tensor_data(xv), *sp = deft_tensor_data(sv), *tp = deft_tensor_data(tv);
    const float *yp = deft_tensor_data(out[0]);
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < 5; j++) {
        volatile float prod = xp[i * 5 + j] * sp[j];
        float want = prod + tp[j];
        ck_assert_msg(memcmp(&want, &yp[i * 5 + j], sizeof want) == 0, "y[%d,%d] = %a, want %a", i,
                      j, (double)yp[i * 5 + j], (double)want);
      }
    const int32_t *sh = deft_tensor_data(out[1]);
    ck_assert_int_eq(deft_tensor_dim(out[1], 0), 2);
    ck_assert_int_eq(sh[0], rows);
    ck_assert_int_eq(sh[1], 5);
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
    deft_tensor_free(xv);
  }
  deft_tensor_free(sv);
  deft_tensor_free(tv);
  deft_session_free(m.s);
  deft_status_free(m.st);
  deft_graph_free(g);
}
END_TEST

/* Sum(a * b, axes) and Mean(SquaredDifference(a, m), axes) with the axes fed: axis 0 takes the
 * fused loop, axis 1 and a one-row batch fall back to the two kernels; every result matches a
 * double-precision reference within 1e-6 relative, and the fused and unfused sessions agree
 * bit for bit. */
START_TEST(column_sums_match_reference_and_fall_back) {
  small fused = {deft_graph_new(), NULL, NULL};
  deft_graph *g = fused.g;
  int64_t xd[2] = {-1, 6}, md[2] = {1, 6};
  deft_output a = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "a");
  deft_output b = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "b");
  deft_output mv = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, md), "m");
  deft_output ax = deft_placeholder(g, DEFT_INT32, deft_shape_make(0, NULL), "axis");
  deft_output sum = deft_sum(g, deft_mul(g, a, b, "mul"), ax, false, "sum");
  deft_output mean = deft_mean(g, deft_squared_difference(g, a, mv, "sqd"), ax, true, "mean");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  small_session(&fused, true);
  deft_status *st2 = deft_status_new();
  deft_session *plain = fuse_session(g, false, st2);
  ck_assert_ptr_nonnull(plain);
  const int rows_cases[2] = {9, 1};
  for (int rc = 0; rc < 2; rc++)
    for (int axis = 0; axis < 2; axis++) {
      int rows = rows_cases[rc];
      deft_tensor *av = matrix(rows, 6, 5), *bv = matrix(rows, 6, 77), *mt = matrix(1, 6, 13);
      deft_tensor *axv = deft_tensor_scalar_int32(axis);
      deft_output feeds[4] = {a, b, mv, ax}, fetch[2] = {sum, mean};
      deft_tensor *fv[4] = {av, bv, mt, axv}, *o1[2], *o2[2];
      ck_assert(deft_session_run(fused.s, feeds, tu_feeds(fv), 4, fetch, o1, 2, NULL, 0, fused.st));
      ck_assert(absorbed_in(g, fused.s, "mul"));
      ck_assert(absorbed_in(g, fused.s, "sqd"));
      ck_assert(deft_session_run(plain, feeds, tu_feeds(fv), 4, fetch, o2, 2, NULL, 0, st2));
      assert_same_bits(o1[0], o2[0], "sum");
      assert_same_bits(o1[1], o2[1], "mean");
      const float *ap = deft_tensor_data(av), *bp = deft_tensor_data(bv),
                  *mp = deft_tensor_data(mt);
      const float *sp = deft_tensor_data(o1[0]), *ep = deft_tensor_data(o1[1]);
      int outer = axis == 0 ? 6 : rows, inner = axis == 0 ? rows : 6;
      ck_assert_int_eq(deft_tensor_num_elements(o1[0]), outer);
      for (int o = 0; o < outer; o++) {
        double s = 0, q = 0;
        for (int k = 0; k < inner; k++) {
          int i = axis == 0 ? k : o, j = axis == 0 ? o : k;
          s += (double)ap[i * 6 + j] * bp[i * 6 + j];
          double d = (double)ap[i * 6 + j] - mp[j];
          q += d * d;
        }
        q /= inner;
        ck_assert_msg(fabs(sp[o] - s) <= 1e-6 * fabs(s) + 1e-7, "sum[%d] %g vs %g", o, sp[o], s);
        ck_assert_msg(fabs(ep[o] - q) <= 1e-6 * fabs(q) + 1e-7, "mean[%d] %g vs %g", o, ep[o], q);
      }
      for (int k = 0; k < 2; k++) deft_tensor_free(o1[k]), deft_tensor_free(o2[k]);
      deft_tensor_free(av);
      deft_tensor_free(bv);
      deft_tensor_free(mt);
      deft_tensor_free(axv);
    }
  deft_session_free(plain);
  deft_status_free(st2);
  deft_session_free(fused.s);
  deft_status_free(fused.st);
  deft_graph_free(g);
}
END_TEST

/* A run-time error inside a fused pair names the op that failed, as without fusion: the Mul's
 * operands ([4, 3] and [3, 3]) do not broadcast, so the fallback runs the Mul's kernel, which
 * fails. */
START_TEST(fallback_error_names_the_producer) {
  small m = {deft_graph_new(), NULL, NULL};
  deft_graph *g = m.g;
  int64_t xd[2] = {-1, 3};
  deft_output a = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "a");
  deft_output b = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, xd), "b");
  deft_output sum = deft_reduce_sum(g, deft_mul(g, a, b, "mul"), (int32_t[]){0}, 1, false, "sum");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  small_session(&m, true);
  deft_tensor *av = matrix(4, 3, 1), *bv = matrix(3, 3, 2);
  deft_output feeds[2] = {a, b};
  deft_tensor *fv[2] = {av, bv}, *out = NULL;
  ck_assert(!deft_session_run(m.s, feeds, tu_feeds(fv), 2, &sum, &out, 1, NULL, 0, m.st));
  TU_ASSERT_STATUS(m.st, DEFT_INVALID_ARGUMENT, "Mul 'mul'");
  ck_assert_ptr_null(out);
  ck_assert(absorbed_in(g, m.s, "mul"));
  deft_tensor_free(av);
  deft_tensor_free(bv);
  deft_session_free(m.s);
  deft_status_free(m.st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("plan_fuse");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, fused_training_is_bit_identical_to_unfused);
  tcase_add_test(tc, other_epsilon_is_fused_and_identical);
  tcase_add_test(tc, inference_mode_is_identical);
  tcase_add_test(tc, fetched_intermediate_is_not_fused);
  tcase_add_test(tc, mul_add_matches_reference_and_shape_reader);
  tcase_add_test(tc, column_sums_match_reference_and_fall_back);
  tcase_add_test(tc, fallback_error_names_the_producer);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
