/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_math_reduce_matmul.c - MatMul (all transposes, zero-sized operands), the reductions
 * Sum, Mean, Prod and Max (axes, keep_dims, zero-sized inputs, threads) and ArgMax, checked
 * against NumPy (tests/math_testutil.h) or hand-computed values, and the node names TF gives
 * these ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deft/ops.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"
#include "testutil.h"

/* ---- MatMul ---- */

START_TEST(matmul_vs_numpy) {
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64};
  /* (M, K, N): odd sizes, 1x1, and a larger one with threads */
  static const int64_t sizes[][3] = {{7, 13, 5}, {1, 1, 1}, {64, 100, 33}};
  np_case cases[48];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[48], *ta_[48], *tb_[48];
  char labels[48][64];
  deft_dtype kinds[48];
  int n = 0;
  for (int d = 0; d < 4; d++)
    for (int sz = 0; sz < 3; sz++)
      for (int tr = 0; tr < 4; tr++) {
        bool ta = tr & 1, tb = tr & 2;
        int64_t M = sizes[sz][0], K = sizes[sz][1], N = sizes[sz][2];
        deft_shape sa = ta ? DEFT_SHAPE(K, M) : DEFT_SHAPE(M, K);
        deft_shape sb = tb ? DEFT_SHAPE(N, K) : DEFT_SHAPE(K, N);
        ta_[n] = mtu_rand_tensor(dts[d], sa, -3, 3, false, false);
        tb_[n] = mtu_rand_tensor(dts[d], sb, -3, 3, false, false);
        deft_graph *g = deft_graph_new();
        deft_output a = mtu_ph(g, dts[d], sa, "a"), b = mtu_ph(g, dts[d], sb, "b");
        deft_output c = deft_matmul(g, a, b, ta, tb, NULL);
        deft_shape cs = deft_output_shape(c);
        ck_assert(cs.rank == 2 && cs.dims[0] == M && cs.dims[1] == N);
        deft_output feeds[2] = {a, b};
        deft_tensor *vals[2] = {ta_[n], tb_[n]};
        deft_status *st = deft_status_new();
        got[n] = mtu_run(g, c, feeds, vals, 2, sz == 2 ? 2 : 1, st);
        ck_assert_msg(got[n] != NULL, "%s", deft_status_message(st));
        deft_status_free(st);
        deft_graph_free(g);
        snprintf(cases[n].expr, sizeof cases[n].expr, "(a.T if %d else a) @ (b.T if %d else b)",
                 ta, tb);
        snprintf(labels[n], 64, "MatMul %s %lldx%lldx%lld ta=%d tb=%d", deft_dtype_name(dts[d]),
                 (long long)M, (long long)K, (long long)N, ta, tb);
        cases[n].nin = 2;
        cases[n].in[0] = ta_[n];
        cases[n].in[1] = tb_[n];
        kinds[n] = dts[d];
        n++;
      }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want, kinds[k] == DEFT_FLOAT ? 1e-5 : mtu_rtol_of(kinds[k]),
                kinds[k] == DEFT_FLOAT ? 1e-5 : 1e-12, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ta_[k]);
    deft_tensor_free(tb_[k]);
  }
  mtu_np_free(cases, n);
}
END_TEST

START_TEST(matmul_zero_sized) {
  deft_graph *g = deft_graph_new();
  deft_output a = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "a"),
              b = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 4), "b");
  deft_output c = deft_matmul(g, a, b, false, false, NULL);
  deft_tensor *ta = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(0, 3), -1, 1, false, false);
  deft_tensor *tb = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 4), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_tensor *r = mtu_run_ok(g, c, feeds, vals, 2);
  ck_assert_int_eq(r->rank, 2);
  ck_assert_int_eq(r->dims[0], 0);
  ck_assert_int_eq(r->dims[1], 4);
  deft_tensor_free(r);
  deft_graph_free(g);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  /* K == 0: [3,0] @ [0,4] is a [3,4] matrix of zeros */
  g = deft_graph_new();
  a = mtu_ph(g, DEFT_DOUBLE, DEFT_SHAPE(3, 0), "a");
  b = mtu_ph(g, DEFT_DOUBLE, DEFT_SHAPE(0, 4), "b");
  c = deft_matmul(g, a, b, false, false, NULL);
  ta = deft_tensor_new(DEFT_DOUBLE, (int64_t[]){3, 0}, 2, NULL);
  tb = deft_tensor_new(DEFT_DOUBLE, (int64_t[]){0, 4}, 2, NULL);
  deft_output f2[2] = {a, b};
  deft_tensor *v2[2] = {ta, tb};
  /* run twice: the second run reuses the output buffer, which must be zeroed again */
  for (int rep = 0; rep < 2; rep++) {
    r = mtu_run_ok(g, c, f2, v2, 2);
    ck_assert_int_eq(r->n, 12);
    for (int i = 0; i < 12; i++) ck_assert(deft_tensor_f64(r)[i] == 0.0);
    deft_tensor_free(r);
  }
  deft_graph_free(g);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
}
END_TEST

/* ---- reductions ---- */

typedef deft_output (*reduce_fn)(deft_graph *, deft_output, deft_output, bool, const char *);

START_TEST(reductions_vs_numpy) {
  static const struct {
    const char *type;
    reduce_fn fn;
    const char *np_float, *np_int;
    double lo, hi;
  } reds[] = {
      {"Sum", deft_sum, "np.sum(a, axis=AX, keepdims=KD)", "np.sum(a, axis=AX, keepdims=KD)",
       -3, 3},
      {"Mean", deft_mean, "np.mean(a, axis=AX, keepdims=KD)",
       "np.fix(np.sum(a.astype(np.float64), axis=AX, keepdims=KD) / max(1, a.size // "
       "max(1, np.sum(a, axis=AX, keepdims=KD).size)))",
       -9, 9},
      {"Prod", deft_prod, "np.prod(a, axis=AX, keepdims=KD)", "np.prod(a, axis=AX, keepdims=KD)",
       0.5, 1.5},
      {"Max", deft_max, "np.max(a, axis=AX, keepdims=KD)", "np.max(a, axis=AX, keepdims=KD)",
       -5, 5},
      {"Min", deft_min, "np.min(a, axis=AX, keepdims=KD)", "np.min(a, axis=AX, keepdims=KD)",
       -5, 5},
  };
  static const struct {
    int r;
    int64_t d[4];
  } shapes[] = {{3, {2, 3, 4}}, {3, {5, 1, 6}}, {2, {3, 1000}}, {4, {2, 3, 2, 3}}};
  static const struct {
    int n;
    int32_t ax[4];
    const char *py;
  } axes[] = {{0, {0}, "()"},        {1, {0}, "(0,)"},        {1, {1}, "(1,)"},
              {1, {-1}, "(-1,)"},    {2, {0, 2}, "(0, 2)"},  {2, {-1, 1}, "(-1, 1)"},
              {3, {0, 1, 2}, "None"}, {2, {2, 0}, "(2, 0)"}, {4, {0, 1, 2, 3}, "None"},
              {2, {1, 3}, "(1, 3)"}, {2, {0, 3}, "(0, 3)"}};
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64};
  int max = 4 * 4 * 11 * 2 * 4, n = 0;
  np_case *cases = calloc((size_t)max, sizeof *cases);
  deft_tensor **got = calloc((size_t)max, sizeof *got), **ins = calloc((size_t)max, sizeof *ins);
  char(*labels)[128] = calloc((size_t)max, 128);
  deft_dtype *kinds = calloc((size_t)max, sizeof *kinds);
  for (int o = 0; o < 4; o++)
    for (int s = 0; s < 4; s++)
      for (int a = 0; a < 11; a++)
        for (int kd = 0; kd < 2; kd++)
          for (int d = 0; d < 4; d++) {
            bool fits = true;
            bool seen[DEFT_MAX_RANK] = {false};
            for (int i = 0; i < axes[a].n; i++) {
              int ax = axes[a].ax[i];
              fits &= ax < shapes[s].r && ax >= -shapes[s].r;
              if (!fits) break;
              int k = ax < 0 ? ax + shapes[s].r : ax;
              fits &= !seen[k];
              seen[k] = true;
            }
            if (!fits || (!strcmp(axes[a].py, "None") && axes[a].n != shapes[s].r)) continue;
            if ((d == 2 && s > 1) || (d == 3 && s > 0)) continue; /* ints: fewer shapes */
            if (!strcmp(reds[o].type, "Prod") && shapes[s].d[1] == 1000) continue;
            deft_dtype dt = dts[d];
            deft_shape sh = deft_shape_make(shapes[s].r, shapes[s].d);
            double lo = reds[o].lo, hi = reds[o].hi;
            bool int_prod = mtu_is_int(dt) && !strcmp(reds[o].type, "Prod");
            if (int_prod) lo = -1, hi = 1; /* +-1: NumPy multiplies int32 in int64 */
            ins[n] = mtu_rand_tensor(dt, sh, lo, hi, false, int_prod);
            deft_graph *g = deft_graph_new();
            deft_output x = mtu_ph(g, dt, sh, "x");
            deft_output ax;
            if (d == 1) { /* int64 axes */
              int64_t dims[1] = {axes[a].n};
              deft_tensor *at = deft_tensor_new(DEFT_INT64, dims, 1, NULL);
              for (int i = 0; i < axes[a].n; i++) deft_tensor_i64(at)[i] = axes[a].ax[i];
              ax = deft_const(g, at, "axes");
              deft_tensor_free(at);
            } else {
              ax = deft_const_int32_vector(g, axes[a].ax, axes[a].n, "axes");
            }
            deft_output y = reds[o].fn(g, x, ax, kd, NULL);
            ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
            got[n] = mtu_run_ok(g, y, &x, &ins[n], 1);
            /* the build-time shape agrees with the run-time one */
            deft_shape bs = deft_output_shape(y);
            ck_assert_int_eq(bs.rank, got[n]->rank);
            for (int i = 0; i < bs.rank; i++) ck_assert_int_eq(bs.dims[i], got[n]->dims[i]);
            deft_graph_free(g);
            char expr[256], *p;
            snprintf(expr, sizeof expr, "%s", mtu_is_int(dt) ? reds[o].np_int : reds[o].np_float);
            char out[256] = "";
            for (p = expr; *p; p++) { /* substitute AX and KD */
              if (p[0] == 'A' && p[1] == 'X') {
                strcat(out, axes[a].py);
                p++;
              } else if (p[0] == 'K' && p[1] == 'D') {
                strcat(out, kd ? "True" : "False");
                p++;
              } else {
                size_t l = strlen(out);
                out[l] = *p;
                out[l + 1] = 0;
              }
            }
            snprintf(cases[n].expr, sizeof cases[n].expr, "%s", out);
            char shs[64];
            snprintf(labels[n], 128, "%s %s %s axes %s keep %d", reds[o].type,
                     deft_dtype_name(dt), deft_shape_format(sh, shs, sizeof shs), axes[a].py, kd);
            cases[n].nin = 1;
            cases[n].in[0] = ins[n];
            kinds[n] = dt;
            n++;
          }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want,
                    kinds[k] == DEFT_FLOAT ? 1e-5 : mtu_rtol_of(kinds[k]) * 10,
                    kinds[k] == DEFT_FLOAT ? 1e-5 : 1e-12, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ins[k]);
  }
  mtu_np_free(cases, n);
  free(cases);
  free(got);
  free(ins);
  free(labels);
  free(kinds);
}
END_TEST

/* Large reductions split over two threads. */
START_TEST(reductions_threaded) {
  static const struct {
    int r;
    int64_t d[3];
    int32_t ax;
    const char *np;
  } big[] = {{2, {3000, 50}, 1, "np.sum(a, axis=1)"},
             {3, {400, 30, 20}, 1, "np.mean(a, axis=1)"},
             {2, {3000, 50}, 1, "np.max(a, axis=1)"}};
  reduce_fn fns[3] = {deft_sum, deft_mean, deft_max};
  np_case cases[3];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[3], *in[3];
  for (int k = 0; k < 3; k++) {
    deft_shape sh = deft_shape_make(big[k].r, big[k].d);
    in[k] = mtu_rand_tensor(DEFT_DOUBLE, sh, -2, 2, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, DEFT_DOUBLE, sh, "x");
    deft_output y = fns[k](g, x, deft_const_int32_vector(g, &big[k].ax, 1, "axes"), false, NULL);
    deft_status *st = deft_status_new();
    got[k] = mtu_run(g, y, &x, &in[k], 1, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", big[k].np);
    cases[k].nin = 1;
    cases[k].in[0] = in[k];
  }
  mtu_np_run(cases, 3);
  for (int k = 0; k < 3; k++) {
    mtu_check_close(got[k], cases[k].want, 1e-12, 1e-12, big[k].np);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  mtu_np_free(cases, 3);
}
END_TEST

/* Reductions over zero-sized inputs give the identities (hand-computed), and reductions with no
 * axes return the input. */
START_TEST(reductions_zero_sized_and_identity) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x");
  int32_t ax0 = 0, ax1 = 1;
  deft_output a0 = deft_const_int32_vector(g, &ax0, 1, "a0");
  deft_output a1 = deft_const_int32_vector(g, &ax1, 1, "a1");
  deft_output none = deft_const_int32_vector(g, NULL, 0, "none");
  deft_output outs[6] = {deft_sum(g, x, a0, false, NULL),  deft_mean(g, x, a0, false, NULL),
                         deft_prod(g, x, a0, false, NULL), deft_max(g, x, a0, false, NULL),
                         deft_sum(g, x, a1, false, NULL),  deft_mean(g, x, none, true, NULL)};
  deft_tensor *empty = deft_tensor_new(DEFT_FLOAT, (int64_t[]){0, 3}, 2, NULL);
  deft_tensor *r;
  r = mtu_run_ok(g, outs[0], &x, &empty, 1);
  ck_assert(r->n == 3 && deft_tensor_f32(r)[2] == 0.0f);
  deft_tensor_free(r);
  r = mtu_run_ok(g, outs[1], &x, &empty, 1);
  ck_assert(r->n == 3 && isnan(deft_tensor_f32(r)[0]));
  deft_tensor_free(r);
  r = mtu_run_ok(g, outs[2], &x, &empty, 1);
  ck_assert(r->n == 3 && deft_tensor_f32(r)[1] == 1.0f);
  deft_tensor_free(r);
  r = mtu_run_ok(g, outs[3], &x, &empty, 1);
  ck_assert(r->n == 3 && isinf(deft_tensor_f32(r)[0]) && deft_tensor_f32(r)[0] < 0);
  deft_tensor_free(r);
  r = mtu_run_ok(g, outs[4], &x, &empty, 1);
  ck_assert(r->rank == 1 && r->dims[0] == 0);
  deft_tensor_free(r);
  deft_tensor *t = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  r = mtu_run_ok(g, outs[5], &x, &t, 1);
  ck_assert(r->rank == 2 && r->dims[0] == 2 && deft_tensor_f32(r)[4] == deft_tensor_f32(t)[4]);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_tensor_free(empty);
  deft_graph_free(g);
}
END_TEST

START_TEST(argmax_vs_numpy) {
  static const struct {
    int r;
    int64_t d[3];
    int axis;
  } cases_[] = {{2, {3, 4}, 0}, {2, {3, 4}, 1}, {2, {3, 4}, -1}, {3, {2, 3, 4}, 1},
                {1, {7}, 0},    {2, {1, 1}, 0}};
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64};
  np_case cases[24];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[24], *in[24];
  int n = 0;
  for (int c = 0; c < 6; c++)
    for (int d = 0; d < 4; d++) {
      deft_shape sh = deft_shape_make(cases_[c].r, cases_[c].d);
      in[n] = mtu_rand_tensor(dts[d], sh, -100, 100, false, false);
      deft_graph *g = deft_graph_new();
      deft_output x = mtu_ph(g, dts[d], sh, "x");
      deft_output y = deft_argmax(g, x, cases_[c].axis, NULL);
      ck_assert_int_eq(deft_output_dtype(y), DEFT_INT64);
      got[n] = mtu_run_ok(g, y, &x, &in[n], 1);
      ck_assert_int_eq(got[n]->dtype, DEFT_INT64);
      deft_graph_free(g);
      snprintf(cases[n].expr, sizeof cases[n].expr, "np.argmax(a, axis=%d)", cases_[c].axis);
      cases[n].nin = 1;
      cases[n].in[0] = in[n];
      n++;
    }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want, 0, 0, cases[k].expr);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  mtu_np_free(cases, n);
  /* ties: the first maximum wins (hand-computed) */
  static const double v[] = {1, 3, 3, 0, 2, 2};
  deft_graph *g = deft_graph_new();
  deft_tensor *t = mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(2, 3), v);
  deft_tensor *r = mtu_run_ok(g, deft_argmax(g, deft_const(g, t, "c"), 1, NULL), NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_i64(r)[0], 1);
  ck_assert_int_eq(deft_tensor_i64(r)[1], 1);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

/* ---- names as TF builds them ---- */

START_TEST(tf_names) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "X");
  deft_output loss = deft_reduce_mean(g, x, NULL, 0, false, "loss");
  ck_assert_str_eq(deft_op_name(loss.op), "loss");
  ck_assert_str_eq(deft_op_type(loss.op), "Mean");
  deft_output axes = deft_op_input(loss.op, 1);
  ck_assert_str_eq(deft_op_name(axes.op), "Const"); /* outside the op's scope */
  deft_output m2 = deft_reduce_mean(g, x, NULL, 0, false, NULL);
  ck_assert_str_eq(deft_op_name(m2.op), "Mean");
  ck_assert_str_eq(deft_op_name(deft_op_input(m2.op, 1).op), "Const_1");
  int32_t one = 1;
  deft_output s1 = deft_reduce_sum(g, x, &one, 1, true, NULL);
  ck_assert_str_eq(deft_op_name(s1.op), "Sum");
  ck_assert_str_eq(deft_op_name(deft_op_input(s1.op, 1).op), "Sum/reduction_indices");
  deft_output s2 = deft_reduce_sum(g, x, &one, 1, true, NULL);
  ck_assert_str_eq(deft_op_name(s2.op), "Sum_1");
  ck_assert_str_eq(deft_op_name(deft_op_input(s2.op, 1).op), "Sum_1/reduction_indices");
  deft_shape ss = deft_output_shape(s2);
  ck_assert(ss.rank == 2 && ss.dims[0] == -1 && ss.dims[1] == 1);
  deft_graph_push_scope(g, "eval");
  deft_output am = deft_argmax(g, x, 1, NULL);
  deft_graph_pop_scope(g);
  ck_assert_str_eq(deft_op_name(am.op), "eval/ArgMax");
  ck_assert_str_eq(deft_op_name(deft_op_input(am.op, 1).op), "eval/ArgMax/dimension");
  deft_output c = deft_cast(g, deft_greater(g, x, x, NULL), DEFT_FLOAT, NULL);
  ck_assert_str_eq(deft_op_name(c.op), "Cast");
  deft_dtype st;
  ck_assert(deft_op_attr_type(c.op, "SrcT", &st) && st == DEFT_BOOL);
  bool trunc = true;
  ck_assert(deft_op_attr_bool(c.op, "Truncate", &trunc) && !trunc);
  deft_output mm =
      deft_matmul(g, x, mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(10, 4), "W"), false, true, NULL);
  ck_assert(!deft_output_ok(mm)); /* [?,10] x transposed [10,4] = [4,10]: 10 vs 4 */
  ck_assert_int_eq(deft_status_code(deft_graph_status(g)), DEFT_INVALID_ARGUMENT);
  deft_graph_free(g);
}
END_TEST

/* A reduction with axes unknown at build time and unknown rank: Range(0, Rank(x)). */
START_TEST(reduce_all_axes_unknown_rank) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_DOUBLE, deft_shape_unknown(), "x");
  deft_output y = deft_reduce_sum(g, x, NULL, 0, false, NULL);
  if (!deft_graph_ok(g)) { /* needs Rank and Range from the array family */
    fprintf(stderr, "skipping: %s\n", deft_status_message(deft_graph_status(g)));
    deft_graph_free(g);
    return;
  }
  deft_tensor *t = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(3, 4), -1, 1, false, false);
  deft_tensor *r = mtu_run_ok(g, y, &x, &t, 1);
  double want = 0;
  for (int i = 0; i < 12; i++) want += deft_tensor_f64(t)[i];
  ck_assert_int_eq(r->rank, 0);
  ck_assert(fabs(deft_tensor_f64(r)[0] - want) < 1e-12);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("math_reduce_matmul");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, matmul_vs_numpy);
  tcase_add_test(tc, matmul_zero_sized);
  tcase_add_test(tc, reductions_vs_numpy);
  tcase_add_test(tc, reductions_zero_sized_and_identity);
  tcase_add_test(tc, reductions_threaded);
  tcase_add_test(tc, argmax_vs_numpy);
  tcase_add_test(tc, tf_names);
  tcase_add_test(tc, reduce_all_axes_unknown_rank);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
