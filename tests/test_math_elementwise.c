/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_math_elementwise.c - the math family's elementwise ops: binary ops with
 * broadcasting, integer semantics, unary ops (and float32 Exp/Log accuracy), the *Grad kernels,
 * AddN, Cast and bool equality, checked against NumPy (tests/math_testutil.h) or
 * hand-computed values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deft/ops.h"
#include "graph/graph_internal.h"
#include "math_testutil.h"
#include "base/tensor_internal.h"
#include "testutil.h"

/* ---- binary elementwise ops ---- */

enum { F32 = 1, F64 = 2, I32 = 4, I64 = 8, U8 = 16 };
enum { PLAIN = 0, DIVISOR = 1, COMPARE = 2 };

static const struct {
  const char *type;
  binary_fn fn;
  const char *np_float, *np_int;
  int dtypes, kind;
} binops[] = {
    {"Add", deft_add, "a + b", "a + b", F32 | F64 | I32 | I64 | U8, PLAIN},
    {"AddV2", deft_add_v2, "a + b", "a + b", F32 | F64 | I32 | I64 | U8, PLAIN},
    {"Sub", deft_sub, "a - b", "a - b", F32 | F64 | I32 | I64 | U8, PLAIN},
    {"Mul", deft_mul, "a * b", "a * b", F32 | F64 | I32 | I64 | U8, PLAIN},
    {"RealDiv", deft_div, "a / b", "np.fix(a / b)", F32 | F64 | I32 | I64 | U8, DIVISOR},
    {"FloorDiv", deft_floor_div, "np.floor_divide(a, b)", "np.floor_divide(a, b)",
     F32 | F64 | I32 | I64 | U8, DIVISOR},
    {"FloorMod", deft_floor_mod, "np.mod(a, b)", "np.mod(a, b)", F32 | F64 | I32 | I64, DIVISOR},
    {"Maximum", deft_maximum, "np.maximum(a, b)", "np.maximum(a, b)", F32 | F64 | I32 | I64,
     PLAIN},
    {"Minimum", deft_minimum, "np.minimum(a, b)", "np.minimum(a, b)", F32 | F64 | I32 | I64,
     PLAIN},
    {"SquaredDifference", deft_squared_difference, "(a - b) * (a - b)", "(a - b) * (a - b)",
     F32 | F64 | I32 | I64, PLAIN},
    {"Equal", deft_equal, "a == b", "a == b", F32 | F64 | I32 | I64 | U8, COMPARE},
    {"NotEqual", deft_not_equal, "a != b", "a != b", F32 | F64 | I32 | I64 | U8, COMPARE},
    {"Greater", deft_greater, "a > b", "a > b", F32 | F64 | I32 | I64 | U8, COMPARE},
    {"GreaterEqual", deft_greater_equal, "a >= b", "a >= b", F32 | F64 | I32 | I64 | U8,
     COMPARE},
    {"Less", deft_less, "a < b", "a < b", F32 | F64 | I32 | I64 | U8, COMPARE},
    {"LessEqual", deft_less_equal, "a <= b", "a <= b", F32 | F64 | I32 | I64 | U8, COMPARE},
    {"Div", deft_div_v1, "a / b", "np.fix(a / b)", F32 | F64 | I32 | I64 | U8, DIVISOR},
    {"Mod", deft_mod, "np.fmod(a, b)", "np.fmod(a, b)", F32 | F64 | I32 | I64, DIVISOR},
    {"Pow", deft_pow, "np.power(a, b)", "", F32 | F64, PLAIN},
};

typedef struct shape_pair {
  int ra, rb;
  int64_t a[4], b[4];
} shape_pair;

static const shape_pair bshapes[] = {
    {2, 1, {2, 3}, {3}},          /* row vector */
    {2, 2, {2, 1}, {1, 3}},       /* outer */
    {0, 1, {0}, {4}},             /* scalar + tensor */
    {1, 0, {4}, {0}},             /* tensor + scalar */
    {2, 2, {3, 4}, {3, 4}},       /* same shape */
    {2, 1, {0, 3}, {3}},          /* zero-sized batch */
    {2, 2, {1, 1}, {1, 1}},       /* 1x1 */
    {3, 2, {5, 1, 3}, {4, 1}},    /* general, rank 3 */
    {3, 3, {2, 3, 4}, {2, 1, 4}}, /* middle dim broadcast */
    {2, 2, {2, 3}, {2, 1}},       /* column */
    {0, 0, {0}, {0}},             /* scalar + scalar */
    {4, 4, {2, 1, 3, 1}, {1, 2, 1, 2}},
};

static const deft_dtype all_dtypes[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64,
                                        DEFT_UINT8};
static const int dtype_bits[] = {F32, F64, I32, I64, U8};

START_TEST(binary_ops_vs_numpy) {
  int nops = sizeof binops / sizeof binops[0], nshapes = sizeof bshapes / sizeof bshapes[0];
  int max = nops * nshapes * 5, n = 0;
  np_case *cases = calloc((size_t)max, sizeof *cases);
  deft_tensor **got = calloc((size_t)max, sizeof *got);
  char(*labels)[128] = calloc((size_t)max, 128);
  deft_dtype *dts = calloc((size_t)max, sizeof *dts);
  deft_tensor **ins = calloc((size_t)max * 2, sizeof *ins);
  for (int o = 0; o < nops; o++)
    for (int s = 0; s < nshapes; s++)
      for (int d = 0; d < 5; d++) {
        if (!(binops[o].dtypes & dtype_bits[d])) continue;
        if ((dtype_bits[d] & (I64 | U8)) && s > 3 && s != 5) continue; /* fewer shapes */
        deft_dtype dt = all_dtypes[d];
        deft_shape sa = deft_shape_make(bshapes[s].ra, bshapes[s].a);
        deft_shape sb = deft_shape_make(bshapes[s].rb, bshapes[s].b);
        bool cmp = binops[o].kind == COMPARE, div = binops[o].kind == DIVISOR;
        double lo = dt == DEFT_UINT8 ? 1 : -9, hi = dt == DEFT_UINT8 ? 15 : 9;
        if (!mtu_is_int(dt) && !cmp) lo = -3, hi = 3;
        if (cmp) lo = dt == DEFT_UINT8 ? 0 : -2, hi = 2; /* small integers: ties happen */
        deft_tensor *ta = mtu_rand_tensor(dt, sa, lo, hi, cmp, false);
        deft_tensor *tb = mtu_rand_tensor(dt, sb, lo, hi, cmp, div);
        deft_graph *g = deft_graph_new();
        deft_output x = mtu_ph(g, dt, sa, "x"), y = mtu_ph(g, dt, sb, "y");
        deft_output z = binops[o].fn(g, x, y, NULL);
        ck_assert_msg(deft_graph_ok(g), "%s: %s", binops[o].type,
                      deft_status_message(deft_graph_status(g)));
        ck_assert_str_eq(deft_op_type(z.op), binops[o].type);
        ck_assert_int_eq(deft_output_dtype(z), cmp ? DEFT_BOOL : dt);
        deft_output feeds[2] = {x, y};
        deft_tensor *vals[2] = {ta, tb};
        got[n] = mtu_run_ok(g, z, feeds, vals, 2);
        ck_assert_int_eq(got[n]->dtype, cmp ? DEFT_BOOL : dt);
        deft_graph_free(g);
        char sha[64], shb[64];
        snprintf(labels[n], 128, "%s %s %s %s", binops[o].type, deft_dtype_name(dt),
                 deft_shape_format(sa, sha, sizeof sha), deft_shape_format(sb, shb, sizeof shb));
        snprintf(cases[n].expr, sizeof cases[n].expr, "%s",
                 mtu_is_int(dt) ? binops[o].np_int : binops[o].np_float);
        cases[n].nin = 2;
        cases[n].in[0] = ins[2 * n] = ta;
        cases[n].in[1] = ins[2 * n + 1] = tb;
        dts[n] = dt;
        n++;
      }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want, mtu_rtol_of(dts[k]), 0, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ins[2 * k]);
    deft_tensor_free(ins[2 * k + 1]);
  }
  mtu_np_free(cases, n);
  free(cases);
  free(got);
  free(labels);
  free(dts);
  free(ins);
}
END_TEST

/* Large operands split over two threads give the same numbers as NumPy. */
START_TEST(binary_ops_threaded) {
  static const shape_pair big[] = {
      {2, 1, {200, 400}, {400}},    /* row broadcast, many rows */
      {1, 1, {70001}, {70001}},     /* flat */
      {2, 2, {400, 200}, {400, 1}}, /* column */
      {1, 0, {70001}, {0}},         /* tensor + scalar */
  };
  np_case cases[4];
  deft_tensor *got[4], *ta[4], *tb[4];
  memset(cases, 0, sizeof cases);
  for (int k = 0; k < 4; k++) {
    deft_shape sa = deft_shape_make(big[k].ra, big[k].a), sb = deft_shape_make(big[k].rb, big[k].b);
    ta[k] = mtu_rand_tensor(DEFT_FLOAT, sa, -2, 2, false, false);
    tb[k] = mtu_rand_tensor(DEFT_FLOAT, sb, -2, 2, false, true);
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, DEFT_FLOAT, sa, "x"), y = mtu_ph(g, DEFT_FLOAT, sb, "y");
    deft_output z = k % 2 ? deft_mul(g, x, y, NULL) : deft_div(g, x, y, NULL);
    deft_output feeds[2] = {x, y};
    deft_tensor *vals[2] = {ta[k], tb[k]};
    deft_status *st = deft_status_new();
    got[k] = mtu_run(g, z, feeds, vals, 2, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", k % 2 ? "a * b" : "a / b");
    cases[k].nin = 2;
    cases[k].in[0] = ta[k];
    cases[k].in[1] = tb[k];
  }
  mtu_np_run(cases, 4);
  for (int k = 0; k < 4; k++) {
    mtu_check_close(got[k], cases[k].want, 2e-6, 0, "threaded");
    deft_tensor_free(got[k]);
    deft_tensor_free(ta[k]);
    deft_tensor_free(tb[k]);
  }
  mtu_np_free(cases, 4);
}
END_TEST

/* Hand-computed integer semantics: floor division and modulo of negatives, wrapping. */
START_TEST(integer_semantics) {
  deft_graph *g = deft_graph_new();
  double xa[] = {7, -7, 7, -7, INT32_MIN, 5};
  double ya[] = {2, 2, -2, -2, -1, 3};
  deft_tensor *tx = mtu_from_values(DEFT_INT32, DEFT_SHAPE(6), xa);
  deft_tensor *ty = mtu_from_values(DEFT_INT32, DEFT_SHAPE(6), ya);
  deft_output x = deft_const(g, tx, "x"), y = deft_const(g, ty, "y");
  deft_output fd = deft_floor_div(g, x, y, NULL), fm = deft_floor_mod(g, x, y, NULL);
  deft_output rd = deft_div(g, x, y, NULL), ad = deft_add(g, x, x, NULL);
  deft_tensor *r;
  static const int32_t want_fd[] = {3, -4, -4, 3, INT32_MIN, 1};
  static const int32_t want_fm[] = {1, 1, -1, -1, 0, 2};
  static const int32_t want_rd[] = {3, -3, -3, 3, INT32_MIN, 1};
  r = mtu_run_ok(g, fd, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_fd[i]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, fm, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_fm[i]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, rd, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_rd[i]);
  deft_tensor_free(r);
  r = mtu_run_ok(g, ad, NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_i32(r)[4], 0); /* INT32_MIN + INT32_MIN wraps */
  deft_tensor_free(r);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_graph_free(g);
}
END_TEST

/* ---- unary ops ---- */

typedef deft_output (*unary_fn)(deft_graph *, deft_output, const char *);

static const struct {
  const char *type;
  unary_fn fn;
  const char *np;
  bool ints;
  double lo, hi;
} unops[] = {
    {"Neg", deft_neg, "-a", true, -5, 5},
    {"Square", deft_square, "a * a", true, -5, 5},
    {"Sqrt", deft_sqrt, "np.sqrt(a)", false, 0, 9},
    {"Rsqrt", deft_rsqrt, "1 / np.sqrt(a)", false, 0.01, 9},
    {"Exp", deft_exp, "np.exp(a)", false, -10, 10},
    {"Log", deft_log, "np.log(a)", false, 0.001, 100},
    {"Reciprocal", deft_reciprocal, "(1 / a) if a.dtype.kind == 'f' else np.fix(1 / a)", true,
     -5, 5},
    {"Abs", deft_abs, "np.abs(a)", true, -5, 5},
    {"Sign", deft_sign, "np.sign(a)", true, -3, 3},
    {"Floor", deft_floor, "np.floor(a)", false, -5, 5},
    {"Ceil", deft_ceil, "np.ceil(a)", false, -5, 5},
    {"Round", deft_round, "np.round(a)", false, -5, 5},
    {"Log1p", deft_log1p, "np.log1p(a)", false, -0.9, 5},
    {"Expm1", deft_expm1, "np.expm1(a)", false, -5, 5},
    {"Erf", deft_erf, "np.vectorize(__import__('math').erf, otypes=[float])(a)", false, -3, 3},
    /* inside TF's thresholds (+-13.94 for float32; tests/test_math_more.c checks beyond) */
    {"Softplus", deft_softplus, "np.log1p(np.exp(a))", false, -13, 13},
    {"Softsign", deft_softsign, "a / (1 + np.abs(a))", false, -5, 5},
};

START_TEST(unary_ops_vs_numpy) {
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64};
  static const shape_pair shapes[] = {{2, 0, {2, 3}, {0}}, {2, 0, {0, 3}, {0}},
                                      {2, 0, {1, 1}, {0}}, {0, 0, {0}, {0}},
                                      {1, 0, {1000}, {0}}};
  int nops = sizeof unops / sizeof unops[0], max = nops * 4 * 5, n = 0;
  np_case *cases = calloc((size_t)max, sizeof *cases);
  deft_tensor **got = calloc((size_t)max, sizeof *got), **ins = calloc((size_t)max, sizeof *ins);
  char(*labels)[96] = calloc((size_t)max, 96);
  deft_dtype *kinds = calloc((size_t)max, sizeof *kinds);
  for (int o = 0; o < nops; o++)
    for (int d = 0; d < 4; d++)
      for (int s = 0; s < 5; s++) {
        deft_dtype dt = dts[d];
        if (mtu_is_int(dt) && !unops[o].ints) continue;
        deft_shape sh = deft_shape_make(shapes[s].ra, shapes[s].a);
        bool nz = !strcmp(unops[o].type, "Reciprocal");
        ins[n] = mtu_rand_tensor(dt, sh, unops[o].lo, unops[o].hi, false, nz);
        deft_graph *g = deft_graph_new();
        deft_output x = mtu_ph(g, dt, sh, "x");
        deft_output y = unops[o].fn(g, x, NULL);
        ck_assert_str_eq(deft_op_type(y.op), unops[o].type);
        got[n] = mtu_run_ok(g, y, &x, &ins[n], 1);
        deft_graph_free(g);
        snprintf(labels[n], 96, "%s %s", unops[o].type, deft_dtype_name(dt));
        snprintf(cases[n].expr, sizeof cases[n].expr, "%s", unops[o].np);
        cases[n].nin = 1;
        cases[n].in[0] = ins[n];
        cases[n].f64 = dt == DEFT_FLOAT;
        kinds[n] = dt;
        n++;
      }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    /* float32: within 2 ulp of the exactly rounded result */
    mtu_check_close(got[k], cases[k].want, kinds[k] == DEFT_FLOAT ? 2.4e-7 : mtu_rtol_of(kinds[k]),
                    0, labels[k]);
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

/* Large and small magnitudes: exp near float's overflow, log of tiny values. */
START_TEST(unary_magnitudes) {
  static const double fx[] = {88, -87, 0, 89, -20, 1e-7};
  static const double lx[] = {1e-30, 1e30, 1, 3.4e38, 1e-38, 0};
  static const double dx[] = {700, -700, 709, 710, 1e-300, 1e-15};
  np_case cases[6];
  memset(cases, 0, sizeof cases);
  deft_tensor *in[6] = {mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(6), fx),
                        mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx),
                        mtu_from_values(DEFT_DOUBLE, DEFT_SHAPE(6), dx),
                        mtu_from_values(DEFT_DOUBLE, DEFT_SHAPE(6), dx),
                        mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx),
                        mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx)};
  static const char *exprs[6] = {"np.exp(a)", "np.log(a)", "np.exp(a)", "np.log(a)",
                                 "np.sqrt(a)", "1 / np.sqrt(a)"};
  unary_fn fns[6] = {deft_exp, deft_log, deft_exp, deft_log, deft_sqrt, deft_rsqrt};
  deft_tensor *got[6];
  for (int k = 0; k < 6; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, in[k]->dtype, DEFT_SHAPE(6), "x");
    got[k] = mtu_run_ok(g, fns[k](g, x, NULL), &x, &in[k], 1);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", exprs[k]);
    cases[k].nin = 1;
    cases[k].in[0] = in[k];
    cases[k].f64 = in[k]->dtype == DEFT_FLOAT;
  }
  /* hand-checked anchors */
  ck_assert(isfinite(deft_tensor_f32(got[0])[0]) && deft_tensor_f32(got[0])[0] > 1.6e38f);
  ck_assert(isinf(deft_tensor_f32(got[0])[3]));
  ck_assert(fabs(deft_tensor_f32(got[1])[0] - (-69.0775527898)) < 1e-4);
  ck_assert(isinf(deft_tensor_f32(got[1])[5]) && deft_tensor_f32(got[1])[5] < 0);
  mtu_np_run(cases, 6);
  for (int k = 0; k < 6; k++) {
    mtu_check_close(got[k], cases[k].want, in[k]->dtype == DEFT_FLOAT ? 2.4e-7 : 1e-14, 0,
                    exprs[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  mtu_np_free(cases, 6);
}
END_TEST

/* float32 Exp and Log over their whole ranges: within 2 ulp of libm's double-precision result
 * rounded to float (deft's float32 loops use their own polynomials). */
static double ulps(float got, double exact) {
  float want = (float)exact;
  if (got == want) return 0;
  if (isinf(want) || isinf(got) || isnan(got)) return 1e9;
  return fabs((double)got - exact) / fabs((double)nextafterf(want, INFINITY) - (double)want);
}

START_TEST(exp_log_accuracy) {
  enum { N = 200000 };
  deft_tensor *xe = deft_tensor_new(DEFT_FLOAT, (int64_t[]){N}, 1, NULL);
  deft_tensor *xl = deft_tensor_new(DEFT_FLOAT, (int64_t[]){N}, 1, NULL);
  for (int i = 0; i < N; i++) {
    deft_tensor_f32(xe)[i] = (float)(-103.0 + 192.0 * mtu_urand()); /* beyond both ends */
    deft_tensor_f32(xl)[i] = (float)exp(-92.0 + 181.0 * mtu_urand()); /* 1e-40 .. 4e38 */
  }
  deft_tensor_f32(xl)[0] = 1.0f;
  deft_tensor_f32(xl)[1] = nextafterf(1.0f, 2.0f);
  deft_tensor_f32(xl)[2] = nextafterf(1.0f, 0.0f);
  for (int k = 0; k < 2; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(N), "x");
    deft_tensor *in = k ? xl : xe;
    deft_tensor *r = mtu_run_ok(g, k ? deft_log(g, x, NULL) : deft_exp(g, x, NULL), &x, &in, 1);
    double worst = 0;
    for (int i = 0; i < N; i++) {
      double v = deft_tensor_f32(in)[i];
      double u = ulps(deft_tensor_f32(r)[i], k ? log(v) : exp(v));
      ck_assert_msg(u <= 2, "%s(%.9g) = %.9g, want %.9g (%g ulp)", k ? "log" : "exp", v,
                    deft_tensor_f32(r)[i], k ? log(v) : exp(v), u);
      if (u > worst) worst = u;
    }
    fprintf(stderr, "%s: worst error %.3f ulp\n", k ? "log" : "exp", worst);
    deft_tensor_free(r);
    deft_graph_free(g);
  }
  deft_tensor_free(xe);
  deft_tensor_free(xl);
}
END_TEST

/* RsqrtGrad / SqrtGrad / ReciprocalGrad kernels (a = y, b = dy). */
START_TEST(grad_kernels_vs_numpy) {
  static const char *exprs[] = {"-0.5 * b * a**3", "0.5 * b / a", "-b * a * a"};
  np_case cases[6];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[6], *ta[6], *tb[6];
  for (int k = 0; k < 6; k++) {
    deft_dtype dt = k < 3 ? DEFT_FLOAT : DEFT_DOUBLE;
    ta[k] = mtu_rand_tensor(dt, DEFT_SHAPE(3, 4), 0.5, 2, false, false);
    tb[k] = mtu_rand_tensor(dt, DEFT_SHAPE(3, 4), -1, 1, false, false);
    deft_graph *g = deft_graph_new();
    deft_output y = mtu_ph(g, dt, DEFT_SHAPE(3, 4), "y"),
                dy = mtu_ph(g, dt, DEFT_SHAPE(3, 4), "dy");
    deft_output z;
    if (k % 3 == 0) z = deft_rsqrt_grad(g, y, dy, NULL);
    else if (k % 3 == 1) z = deft_sqrt_grad(g, y, dy, NULL);
    else {
      deft_output in[2] = {y, dy};
      z = deft_build_simple(g, "ReciprocalGrad", NULL, in, 2);
    }
    deft_output feeds[2] = {y, dy};
    deft_tensor *vals[2] = {ta[k], tb[k]};
    got[k] = mtu_run_ok(g, z, feeds, vals, 2);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", exprs[k % 3]);
    cases[k].nin = 2;
    cases[k].in[0] = ta[k];
    cases[k].in[1] = tb[k];
  }
  mtu_np_run(cases, 6);
  for (int k = 0; k < 6; k++) {
    mtu_check_close(got[k], cases[k].want, k < 3 ? 1e-6 : 1e-14, 0, exprs[k % 3]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ta[k]);
    deft_tensor_free(tb[k]);
  }
  mtu_np_free(cases, 6);
}
END_TEST

/* ---- AddN, Cast ---- */

START_TEST(add_n_vs_numpy) {
  np_case cases[3];
  memset(cases, 0, sizeof cases);
  static const deft_dtype dts[3] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32};
  deft_tensor *got[3], *in[3][3];
  for (int k = 0; k < 3; k++) {
    deft_graph *g = deft_graph_new();
    deft_output xs[3];
    for (int i = 0; i < 3; i++) {
      in[k][i] = mtu_rand_tensor(dts[k], DEFT_SHAPE(22000, 3), -4, 4, false, false);
      xs[i] = mtu_ph(g, dts[k], DEFT_SHAPE(-1, 3), i == 0 ? "a" : i == 1 ? "b" : "c");
    }
    deft_output s = deft_add_n(g, xs, 3, NULL);
    ck_assert_str_eq(deft_op_name(s.op), "AddN");
    deft_shape sh = deft_output_shape(s);
    ck_assert(sh.rank == 2 && sh.dims[0] == -1 && sh.dims[1] == 3);
    deft_status *st = deft_status_new();
    got[k] = mtu_run(g, s, xs, in[k], 3, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "a + b + c");
    cases[k].nin = 3;
    for (int i = 0; i < 3; i++) cases[k].in[i] = in[k][i];
  }
  mtu_np_run(cases, 3);
  for (int k = 0; k < 3; k++) {
    mtu_check_close(got[k], cases[k].want, mtu_rtol_of(dts[k]) * 2, 0, "AddN");
    deft_tensor_free(got[k]);
    for (int i = 0; i < 3; i++) deft_tensor_free(in[k][i]);
  }
  mtu_np_free(cases, 3);
  /* N = 1 forwards its input */
  deft_graph *g = deft_graph_new();
  deft_tensor *t = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2), -1, 1, false, false);
  deft_output one = deft_const(g, t, "c");
  deft_tensor *r = mtu_run_ok(g, deft_add_n(g, &one, 1, NULL), NULL, NULL, 0);
  ck_assert(deft_tensor_f32(r)[1] == deft_tensor_f32(t)[1]);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

START_TEST(cast_vs_numpy) {
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64, DEFT_UINT8,
                                   DEFT_BOOL};
  np_case cases[36];
  memset(cases, 0, sizeof cases);
  deft_tensor *got[36], *in[36];
  char labels[36][64];
  int n = 0;
  for (int s = 0; s < 6; s++)
    for (int d = 0; d < 6; d++) {
      /* values every pair represents: fractional, negative (not for uint8 sources) */
      double lo = dts[s] == DEFT_UINT8 || dts[d] == DEFT_UINT8 ? 0 : -100, hi = 200;
      if (dts[s] == DEFT_BOOL) lo = 0, hi = 1;
      in[n] = mtu_rand_tensor(dts[s], DEFT_SHAPE(4, 5), lo, hi, dts[s] == DEFT_BOOL, false);
      if (dts[s] != DEFT_BOOL) mtu_set_elem(in[n], 0, 0); /* a zero for the bool results */
      deft_graph *g = deft_graph_new();
      deft_output x = mtu_ph(g, dts[s], DEFT_SHAPE(4, 5), "x");
      deft_output y = deft_cast(g, x, dts[d], NULL);
      ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
      ck_assert_int_eq(deft_output_dtype(y), dts[d]);
      got[n] = mtu_run_ok(g, y, &x, &in[n], 1);
      ck_assert_int_eq(got[n]->dtype, dts[d]);
      deft_graph_free(g);
      snprintf(cases[n].expr, sizeof cases[n].expr, "a.astype(np.%s)", mtu_np_dtype(dts[d]));
      snprintf(labels[n], 64, "Cast %s -> %s", deft_dtype_name(dts[s]), deft_dtype_name(dts[d]));
      cases[n].nin = 1;
      cases[n].in[0] = in[n];
      n++;
    }
  mtu_np_run(cases, n);
  for (int k = 0; k < n; k++) {
    mtu_check_close(got[k], cases[k].want, 0, 0, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  mtu_np_free(cases, n);
  /* out-of-range and NaN floats saturate (hand-computed; C leaves them undefined) */
  static const double v[] = {1e10, -1e10, NAN, -2.7, 2.7};
  deft_graph *g = deft_graph_new();
  deft_tensor *t = mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(5), v);
  deft_tensor *r =
      mtu_run_ok(g, deft_cast(g, deft_const(g, t, "c"), DEFT_INT32, NULL), NULL, NULL, 0);
  static const int32_t want[] = {INT32_MAX, INT32_MIN, 0, -2, 2};
  for (int i = 0; i < 5; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want[i]);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

/* Equal / NotEqual on bool tensors (hand-computed). */
START_TEST(bool_equality) {
  static const double a[] = {1, 1, 0, 0}, b[] = {1, 0, 1, 0};
  deft_graph *g = deft_graph_new();
  deft_tensor *ta = mtu_from_values(DEFT_BOOL, DEFT_SHAPE(4), a);
  deft_tensor *tb = mtu_from_values(DEFT_BOOL, DEFT_SHAPE(4), b);
  deft_output x = deft_const(g, ta, "a"), y = deft_const(g, tb, "b");
  deft_tensor *eq = mtu_run_ok(g, deft_equal(g, x, y, NULL), NULL, NULL, 0);
  deft_tensor *ne = mtu_run_ok(g, deft_not_equal(g, x, y, NULL), NULL, NULL, 0);
  static const bool want[] = {true, false, false, true};
  for (int i = 0; i < 4; i++) {
    ck_assert(deft_tensor_b(eq)[i] == want[i]);
    ck_assert(deft_tensor_b(ne)[i] == !want[i]);
  }
  deft_tensor_free(eq);
  deft_tensor_free(ne);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("math_elementwise");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, binary_ops_vs_numpy);
  tcase_add_test(tc, binary_ops_threaded);
  tcase_add_test(tc, integer_semantics);
  tcase_add_test(tc, unary_ops_vs_numpy);
  tcase_add_test(tc, unary_magnitudes);
  tcase_add_test(tc, exp_log_accuracy);
  tcase_add_test(tc, grad_kernels_vs_numpy);
  tcase_add_test(tc, add_n_vs_numpy);
  tcase_add_test(tc, cast_vs_numpy);
  tcase_add_test(tc, bool_equality);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
