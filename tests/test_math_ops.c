/* tests/test_math_ops.c - the math family: elementwise ops with broadcasting, unary ops, AddN,
 * MatMul, reductions, ArgMax and Cast checked against NumPy (run through tu_python in batches;
 * inputs and results travel as raw little-endian float64 files) or hand-computed values; build-
 * and run-time errors; TF's node names; gradient graphs of the ops whose gradients need no
 * array ops, checked against analytic NumPy formulas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/ops.h"
#include "deft/session.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "ops/op_def.h"
#include "runtime/tensor_internal.h"
#include "testutil.h"

#include "grad_cases_math.c" /* the finite-difference cases, also run by test_gradients */

/* ---- helpers ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static bool is_int(deft_dtype t) { return t == DEFT_INT32 || t == DEFT_INT64 || t == DEFT_UINT8; }

static void set_elem(deft_tensor *t, int64_t i, double v) {
  switch (t->dtype) {
    case DEFT_FLOAT: deft_tensor_f32(t)[i] = (float)v; break;
    case DEFT_DOUBLE: deft_tensor_f64(t)[i] = v; break;
    case DEFT_INT32: deft_tensor_i32(t)[i] = (int32_t)v; break;
    case DEFT_INT64: deft_tensor_i64(t)[i] = (int64_t)v; break;
    case DEFT_UINT8: deft_tensor_u8(t)[i] = (uint8_t)v; break;
    case DEFT_BOOL: deft_tensor_b(t)[i] = v != 0; break;
    default: break;
  }
}

/* A tensor of dtype/shape with values uniform in [lo, hi] (integers for integer dtypes or when
 * `whole`); `nonzero` keeps values at least 0.5 (1 for integers) away from zero. */
static deft_tensor *rand_tensor(deft_dtype dt, deft_shape s, double lo, double hi, bool whole,
                                bool nonzero) {
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < t->n; i++) {
    double v = lo + (hi - lo) * urand();
    if (whole || is_int(dt)) v = floor(v + 0.5);
    if (nonzero && fabs(v) < 0.5) v = v < 0 ? -1 : 1;
    set_elem(t, i, v);
  }
  return t;
}

static deft_tensor *from_values(deft_dtype dt, deft_shape s, const double *v) {
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < t->n; i++) set_elem(t, i, v[i]);
  return t;
}

/* Runs `fetch` with feeds; returns the value or NULL with st set. */
static deft_tensor *run(deft_graph *g, deft_output fetch, const deft_output *feeds,
                        deft_tensor *const *vals, int nfeeds, int threads, deft_status *st) {
  deft_session *s = deft_session_new(g, st);
  if (!s) return NULL;
  deft_session_set_threads(s, threads);
  deft_tensor *out = NULL;
  deft_session_run(s, feeds, vals, nfeeds, &fetch, &out, 1, NULL, 0, st);
  deft_session_free(s);
  return out;
}

static deft_tensor *run_ok(deft_graph *g, deft_output fetch, const deft_output *feeds,
                           deft_tensor *const *vals, int nfeeds) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_graph_ok(g), "build failed: %s", deft_status_message(deft_graph_status(g)));
  deft_tensor *out = run(g, fetch, feeds, vals, nfeeds, 1, st);
  ck_assert_msg(out != NULL, "run failed: %s", deft_status_message(st));
  deft_status_free(st);
  return out;
}

static const char *np_dtype(deft_dtype t) {
  switch (t) {
    case DEFT_FLOAT: return "float32";
    case DEFT_DOUBLE: return "float64";
    case DEFT_INT32: return "int32";
    case DEFT_INT64: return "int64";
    case DEFT_UINT8: return "uint8";
    case DEFT_BOOL: return "bool_";
    default: return "?";
  }
}

/* A batch of NumPy evaluations: each case names its inputs a, b, c. */
typedef struct np_case {
  char expr[256];
  int nin;
  const deft_tensor *in[3];
  bool f64;          /* compute in float64, round the result to float32 once */
  deft_tensor *want; /* float64 result, filled by np_run */
} np_case;

static void write_doubles(const char *path, const deft_tensor *t) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  double *buf = malloc(sizeof(double) * (size_t)(t->n ? t->n : 1));
  ck_assert_ptr_nonnull(buf);
  for (int64_t i = 0; i < t->n; i++) buf[i] = deft_tensor_get_double(t, i);
  ck_assert_int_eq(fwrite(buf, sizeof(double), (size_t)t->n, f), (size_t)t->n);
  free(buf);
  fclose(f);
}

static void np_run(np_case *cases, int n) {
  static int batch;
  batch++;
  const char *dir = tu_tmpdir();
  size_t cap = 4096 + (size_t)n * 512, len = 0;
  char *script = malloc(cap);
  ck_assert_ptr_nonnull(script);
  len += (size_t)snprintf(script + len, cap - len,
      "import numpy as np, struct, sys\n"
      "np.seterr(all='ignore')\n"
      "d = sys.argv[1]\n"
      "def load(p, shape, dt):\n"
      "    return np.fromfile(p, dtype='<f8').reshape(shape).astype(dt)\n"
      "def save(p, r):\n"
      "    r = np.asarray(r)\n"
      "    with open(p, 'wb') as f:\n"
      "        f.write(struct.pack('<q', r.ndim))\n"
      "        f.write(np.asarray(r.shape, dtype='<i8').tobytes())\n"
      "        f.write(r.astype('<f8').tobytes())\n");
  static const char names[] = "abc";
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < cases[k].nin; i++) {
      const deft_tensor *t = cases[k].in[i];
      char path[512], shape[256] = "(";
      snprintf(path, sizeof path, "%s/b%d_c%d_%d.bin", dir, batch, k, i);
      write_doubles(path, t);
      for (int d = 0; d < t->rank; d++) {
        char num[32];
        snprintf(num, sizeof num, "%lld,", (long long)t->dims[d]);
        strcat(shape, num);
      }
      strcat(shape, ")");
      len += (size_t)snprintf(script + len, cap - len, "%c = load(d + '/b%d_c%d_%d.bin', %s, '%s')\n",
                              names[i], batch, k, i, shape,
                              cases[k].f64 ? "float64" : np_dtype(t->dtype));
    }
    /* f64 cases: computed in float64, then rounded once to float32 */
    len += (size_t)snprintf(script + len, cap - len, "save(d + '/b%d_c%d_out.bin', %s%s%s)\n",
                            batch, k, cases[k].f64 ? "np.asarray(" : "", cases[k].expr,
                            cases[k].f64 ? ").astype(np.float32)" : "");
    ck_assert(len < cap);
  }
  const char *args[] = {dir, NULL};
  ck_assert_int_eq(tu_python(script, args), 0);
  free(script);
  for (int k = 0; k < n; k++) {
    char path[512];
    snprintf(path, sizeof path, "%s/b%d_c%d_out.bin", dir, batch, k);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    int64_t rank, dims[DEFT_MAX_RANK];
    ck_assert_int_eq(fread(&rank, 8, 1, f), 1);
    ck_assert(rank >= 0 && rank <= DEFT_MAX_RANK);
    if (rank) ck_assert_int_eq(fread(dims, 8, (size_t)rank, f), (size_t)rank);
    cases[k].want = deft_tensor_new(DEFT_DOUBLE, dims, (int)rank, NULL);
    ck_assert_ptr_nonnull(cases[k].want);
    if (cases[k].want->n)
      ck_assert_int_eq(fread(deft_tensor_data(cases[k].want), 8, (size_t)cases[k].want->n, f),
                       (size_t)cases[k].want->n);
    fclose(f);
    unlink(path);
    for (int i = 0; i < cases[k].nin; i++) {
      snprintf(path, sizeof path, "%s/b%d_c%d_%d.bin", dir, batch, k, i);
      unlink(path);
    }
  }
}

static void np_free(np_case *cases, int n) {
  for (int k = 0; k < n; k++) deft_tensor_free(cases[k].want);
}

/* Checks got against want (float64): shapes equal; |g - w| <= atol + rtol |w|; NaNs and
 * infinities must match. */
static void check_close(const deft_tensor *got, const deft_tensor *want, double rtol,
                        double atol, const char *label) {
  char a[128], b[128];
  ck_assert_msg(got->rank == want->rank, "%s: rank %d vs %d (%s vs %s)", label, got->rank,
                want->rank, deft_shape_format(deft_tensor_shape(got), a, sizeof a),
                deft_shape_format(deft_tensor_shape(want), b, sizeof b));
  for (int d = 0; d < got->rank; d++)
    ck_assert_msg(got->dims[d] == want->dims[d], "%s: shape %s vs %s", label,
                  deft_shape_format(deft_tensor_shape(got), a, sizeof a),
                  deft_shape_format(deft_tensor_shape(want), b, sizeof b));
  for (int64_t i = 0; i < got->n; i++) {
    double g = deft_tensor_get_double(got, i), w = deft_tensor_get_double(want, i);
    if (isnan(w)) {
      ck_assert_msg(isnan(g), "%s: element %lld is %g, want nan", label, (long long)i, g);
      continue;
    }
    if (isinf(w)) {
      ck_assert_msg(g == w, "%s: element %lld is %g, want %g", label, (long long)i, g, w);
      continue;
    }
    ck_assert_msg(fabs(g - w) <= atol + rtol * fabs(w), "%s: element %lld is %.17g, want %.17g",
                  label, (long long)i, g, w);
  }
}

static double rtol_of(deft_dtype t) {
  return t == DEFT_FLOAT ? 2e-6 : t == DEFT_DOUBLE ? 1e-13 : 0;
}

static deft_output ph(deft_graph *g, deft_dtype dt, deft_shape s, const char *name) {
  return deft_placeholder(g, dt, s, name);
}

/* ---- binary elementwise ops ---- */

typedef deft_output (*binary_fn)(deft_graph *, deft_output, deft_output, const char *);

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
        if (!is_int(dt) && !cmp) lo = -3, hi = 3;
        if (cmp) lo = dt == DEFT_UINT8 ? 0 : -2, hi = 2; /* small integers: ties happen */
        deft_tensor *ta = rand_tensor(dt, sa, lo, hi, cmp, false);
        deft_tensor *tb = rand_tensor(dt, sb, lo, hi, cmp, div);
        deft_graph *g = deft_graph_new();
        deft_output x = ph(g, dt, sa, "x"), y = ph(g, dt, sb, "y");
        deft_output z = binops[o].fn(g, x, y, NULL);
        ck_assert_msg(deft_graph_ok(g), "%s: %s", binops[o].type,
                      deft_status_message(deft_graph_status(g)));
        ck_assert_str_eq(deft_op_type(z.op), binops[o].type);
        ck_assert_int_eq(deft_output_dtype(z), cmp ? DEFT_BOOL : dt);
        deft_output feeds[2] = {x, y};
        deft_tensor *vals[2] = {ta, tb};
        got[n] = run_ok(g, z, feeds, vals, 2);
        ck_assert_int_eq(got[n]->dtype, cmp ? DEFT_BOOL : dt);
        deft_graph_free(g);
        char sha[64], shb[64];
        snprintf(labels[n], 128, "%s %s %s %s", binops[o].type, deft_dtype_name(dt),
                 deft_shape_format(sa, sha, sizeof sha), deft_shape_format(sb, shb, sizeof shb));
        snprintf(cases[n].expr, sizeof cases[n].expr, "%s",
                 is_int(dt) ? binops[o].np_int : binops[o].np_float);
        cases[n].nin = 2;
        cases[n].in[0] = ins[2 * n] = ta;
        cases[n].in[1] = ins[2 * n + 1] = tb;
        dts[n] = dt;
        n++;
      }
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, rtol_of(dts[k]), 0, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ins[2 * k]);
    deft_tensor_free(ins[2 * k + 1]);
  }
  np_free(cases, n);
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
    ta[k] = rand_tensor(DEFT_FLOAT, sa, -2, 2, false, false);
    tb[k] = rand_tensor(DEFT_FLOAT, sb, -2, 2, false, true);
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, DEFT_FLOAT, sa, "x"), y = ph(g, DEFT_FLOAT, sb, "y");
    deft_output z = k % 2 ? deft_mul(g, x, y, NULL) : deft_div(g, x, y, NULL);
    deft_output feeds[2] = {x, y};
    deft_tensor *vals[2] = {ta[k], tb[k]};
    deft_status *st = deft_status_new();
    got[k] = run(g, z, feeds, vals, 2, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", k % 2 ? "a * b" : "a / b");
    cases[k].nin = 2;
    cases[k].in[0] = ta[k];
    cases[k].in[1] = tb[k];
  }
  np_run(cases, 4);
  for (int k = 0; k < 4; k++) {
    check_close(got[k], cases[k].want, 2e-6, 0, "threaded");
    deft_tensor_free(got[k]);
    deft_tensor_free(ta[k]);
    deft_tensor_free(tb[k]);
  }
  np_free(cases, 4);
}
END_TEST

/* Hand-computed integer semantics: floor division and modulo of negatives, wrapping. */
START_TEST(integer_semantics) {
  deft_graph *g = deft_graph_new();
  double xa[] = {7, -7, 7, -7, INT32_MIN, 5};
  double ya[] = {2, 2, -2, -2, -1, 3};
  deft_tensor *tx = from_values(DEFT_INT32, DEFT_SHAPE(6), xa);
  deft_tensor *ty = from_values(DEFT_INT32, DEFT_SHAPE(6), ya);
  deft_output x = deft_const(g, tx, "x"), y = deft_const(g, ty, "y");
  deft_output fd = deft_floor_div(g, x, y, NULL), fm = deft_floor_mod(g, x, y, NULL);
  deft_output rd = deft_div(g, x, y, NULL), ad = deft_add(g, x, x, NULL);
  deft_tensor *r;
  static const int32_t want_fd[] = {3, -4, -4, 3, INT32_MIN, 1};
  static const int32_t want_fm[] = {1, 1, -1, -1, 0, 2};
  static const int32_t want_rd[] = {3, -3, -3, 3, INT32_MIN, 1};
  r = run_ok(g, fd, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_fd[i]);
  deft_tensor_free(r);
  r = run_ok(g, fm, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_fm[i]);
  deft_tensor_free(r);
  r = run_ok(g, rd, NULL, NULL, 0);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want_rd[i]);
  deft_tensor_free(r);
  r = run_ok(g, ad, NULL, NULL, 0);
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
        if (is_int(dt) && !unops[o].ints) continue;
        deft_shape sh = deft_shape_make(shapes[s].ra, shapes[s].a);
        bool nz = !strcmp(unops[o].type, "Reciprocal");
        ins[n] = rand_tensor(dt, sh, unops[o].lo, unops[o].hi, false, nz);
        deft_graph *g = deft_graph_new();
        deft_output x = ph(g, dt, sh, "x");
        deft_output y = unops[o].fn(g, x, NULL);
        ck_assert_str_eq(deft_op_type(y.op), unops[o].type);
        got[n] = run_ok(g, y, &x, &ins[n], 1);
        deft_graph_free(g);
        snprintf(labels[n], 96, "%s %s", unops[o].type, deft_dtype_name(dt));
        snprintf(cases[n].expr, sizeof cases[n].expr, "%s", unops[o].np);
        cases[n].nin = 1;
        cases[n].in[0] = ins[n];
        cases[n].f64 = dt == DEFT_FLOAT;
        kinds[n] = dt;
        n++;
      }
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    /* float32: within 2 ulp of the exactly rounded result */
    check_close(got[k], cases[k].want, kinds[k] == DEFT_FLOAT ? 2.4e-7 : rtol_of(kinds[k]), 0,
                labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ins[k]);
  }
  np_free(cases, n);
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
  deft_tensor *in[6] = {from_values(DEFT_FLOAT, DEFT_SHAPE(6), fx),
                        from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx),
                        from_values(DEFT_DOUBLE, DEFT_SHAPE(6), dx),
                        from_values(DEFT_DOUBLE, DEFT_SHAPE(6), dx),
                        from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx),
                        from_values(DEFT_FLOAT, DEFT_SHAPE(6), lx)};
  static const char *exprs[6] = {"np.exp(a)", "np.log(a)", "np.exp(a)", "np.log(a)",
                                 "np.sqrt(a)", "1 / np.sqrt(a)"};
  unary_fn fns[6] = {deft_exp, deft_log, deft_exp, deft_log, deft_sqrt, deft_rsqrt};
  deft_tensor *got[6];
  for (int k = 0; k < 6; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, in[k]->dtype, DEFT_SHAPE(6), "x");
    got[k] = run_ok(g, fns[k](g, x, NULL), &x, &in[k], 1);
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
  np_run(cases, 6);
  for (int k = 0; k < 6; k++) {
    check_close(got[k], cases[k].want, in[k]->dtype == DEFT_FLOAT ? 2.4e-7 : 1e-14, 0, exprs[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  np_free(cases, 6);
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
    deft_tensor_f32(xe)[i] = (float)(-103.0 + 192.0 * urand()); /* beyond both ends */
    deft_tensor_f32(xl)[i] = (float)exp(-92.0 + 181.0 * urand()); /* 1e-40 .. 4e38 */
  }
  deft_tensor_f32(xl)[0] = 1.0f;
  deft_tensor_f32(xl)[1] = nextafterf(1.0f, 2.0f);
  deft_tensor_f32(xl)[2] = nextafterf(1.0f, 0.0f);
  for (int k = 0; k < 2; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(N), "x");
    deft_tensor *in = k ? xl : xe;
    deft_tensor *r = run_ok(g, k ? deft_log(g, x, NULL) : deft_exp(g, x, NULL), &x, &in, 1);
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
    ta[k] = rand_tensor(dt, DEFT_SHAPE(3, 4), 0.5, 2, false, false);
    tb[k] = rand_tensor(dt, DEFT_SHAPE(3, 4), -1, 1, false, false);
    deft_graph *g = deft_graph_new();
    deft_output y = ph(g, dt, DEFT_SHAPE(3, 4), "y"), dy = ph(g, dt, DEFT_SHAPE(3, 4), "dy");
    deft_output z;
    if (k % 3 == 0) z = deft_rsqrt_grad(g, y, dy, NULL);
    else if (k % 3 == 1) z = deft_sqrt_grad(g, y, dy, NULL);
    else {
      deft_output in[2] = {y, dy};
      z = deft_build_simple(g, "ReciprocalGrad", NULL, in, 2);
    }
    deft_output feeds[2] = {y, dy};
    deft_tensor *vals[2] = {ta[k], tb[k]};
    got[k] = run_ok(g, z, feeds, vals, 2);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", exprs[k % 3]);
    cases[k].nin = 2;
    cases[k].in[0] = ta[k];
    cases[k].in[1] = tb[k];
  }
  np_run(cases, 6);
  for (int k = 0; k < 6; k++) {
    check_close(got[k], cases[k].want, k < 3 ? 1e-6 : 1e-14, 0, exprs[k % 3]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ta[k]);
    deft_tensor_free(tb[k]);
  }
  np_free(cases, 6);
}
END_TEST

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
        ta_[n] = rand_tensor(dts[d], sa, -3, 3, false, false);
        tb_[n] = rand_tensor(dts[d], sb, -3, 3, false, false);
        deft_graph *g = deft_graph_new();
        deft_output a = ph(g, dts[d], sa, "a"), b = ph(g, dts[d], sb, "b");
        deft_output c = deft_matmul(g, a, b, ta, tb, NULL);
        deft_shape cs = deft_output_shape(c);
        ck_assert(cs.rank == 2 && cs.dims[0] == M && cs.dims[1] == N);
        deft_output feeds[2] = {a, b};
        deft_tensor *vals[2] = {ta_[n], tb_[n]};
        deft_status *st = deft_status_new();
        got[n] = run(g, c, feeds, vals, 2, sz == 2 ? 2 : 1, st);
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
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, kinds[k] == DEFT_FLOAT ? 1e-5 : rtol_of(kinds[k]),
                kinds[k] == DEFT_FLOAT ? 1e-5 : 1e-12, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ta_[k]);
    deft_tensor_free(tb_[k]);
  }
  np_free(cases, n);
}
END_TEST

START_TEST(matmul_zero_sized) {
  deft_graph *g = deft_graph_new();
  deft_output a = ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "a"), b = ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 4), "b");
  deft_output c = deft_matmul(g, a, b, false, false, NULL);
  deft_tensor *ta = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(0, 3), -1, 1, false, false);
  deft_tensor *tb = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 4), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_tensor *r = run_ok(g, c, feeds, vals, 2);
  ck_assert_int_eq(r->rank, 2);
  ck_assert_int_eq(r->dims[0], 0);
  ck_assert_int_eq(r->dims[1], 4);
  deft_tensor_free(r);
  deft_graph_free(g);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  /* K == 0: [3,0] @ [0,4] is a [3,4] matrix of zeros */
  g = deft_graph_new();
  a = ph(g, DEFT_DOUBLE, DEFT_SHAPE(3, 0), "a");
  b = ph(g, DEFT_DOUBLE, DEFT_SHAPE(0, 4), "b");
  c = deft_matmul(g, a, b, false, false, NULL);
  ta = deft_tensor_new(DEFT_DOUBLE, (int64_t[]){3, 0}, 2, NULL);
  tb = deft_tensor_new(DEFT_DOUBLE, (int64_t[]){0, 4}, 2, NULL);
  deft_output f2[2] = {a, b};
  deft_tensor *v2[2] = {ta, tb};
  /* run twice: the second run reuses the output buffer, which must be zeroed again */
  for (int rep = 0; rep < 2; rep++) {
    r = run_ok(g, c, f2, v2, 2);
    ck_assert_int_eq(r->n, 12);
    for (int i = 0; i < 12; i++) ck_assert(deft_tensor_f64(r)[i] == 0.0);
    deft_tensor_free(r);
  }
  deft_graph_free(g);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
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
      in[k][i] = rand_tensor(dts[k], DEFT_SHAPE(22000, 3), -4, 4, false, false);
      xs[i] = ph(g, dts[k], DEFT_SHAPE(-1, 3), i == 0 ? "a" : i == 1 ? "b" : "c");
    }
    deft_output s = deft_add_n(g, xs, 3, NULL);
    ck_assert_str_eq(deft_op_name(s.op), "AddN");
    deft_shape sh = deft_output_shape(s);
    ck_assert(sh.rank == 2 && sh.dims[0] == -1 && sh.dims[1] == 3);
    deft_status *st = deft_status_new();
    got[k] = run(g, s, xs, in[k], 3, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "a + b + c");
    cases[k].nin = 3;
    for (int i = 0; i < 3; i++) cases[k].in[i] = in[k][i];
  }
  np_run(cases, 3);
  for (int k = 0; k < 3; k++) {
    check_close(got[k], cases[k].want, rtol_of(dts[k]) * 2, 0, "AddN");
    deft_tensor_free(got[k]);
    for (int i = 0; i < 3; i++) deft_tensor_free(in[k][i]);
  }
  np_free(cases, 3);
  /* N = 1 forwards its input */
  deft_graph *g = deft_graph_new();
  deft_tensor *t = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2), -1, 1, false, false);
  deft_output one = deft_const(g, t, "c");
  deft_tensor *r = run_ok(g, deft_add_n(g, &one, 1, NULL), NULL, NULL, 0);
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
      in[n] = rand_tensor(dts[s], DEFT_SHAPE(4, 5), lo, hi, dts[s] == DEFT_BOOL, false);
      if (dts[s] != DEFT_BOOL) set_elem(in[n], 0, 0); /* a zero for the bool results */
      deft_graph *g = deft_graph_new();
      deft_output x = ph(g, dts[s], DEFT_SHAPE(4, 5), "x");
      deft_output y = deft_cast(g, x, dts[d], NULL);
      ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
      ck_assert_int_eq(deft_output_dtype(y), dts[d]);
      got[n] = run_ok(g, y, &x, &in[n], 1);
      ck_assert_int_eq(got[n]->dtype, dts[d]);
      deft_graph_free(g);
      snprintf(cases[n].expr, sizeof cases[n].expr, "a.astype(np.%s)", np_dtype(dts[d]));
      snprintf(labels[n], 64, "Cast %s -> %s", deft_dtype_name(dts[s]), deft_dtype_name(dts[d]));
      cases[n].nin = 1;
      cases[n].in[0] = in[n];
      n++;
    }
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, 0, 0, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  np_free(cases, n);
  /* out-of-range and NaN floats saturate (hand-computed; C leaves them undefined) */
  static const double v[] = {1e10, -1e10, NAN, -2.7, 2.7};
  deft_graph *g = deft_graph_new();
  deft_tensor *t = from_values(DEFT_FLOAT, DEFT_SHAPE(5), v);
  deft_tensor *r = run_ok(g, deft_cast(g, deft_const(g, t, "c"), DEFT_INT32, NULL), NULL, NULL, 0);
  static const int32_t want[] = {INT32_MAX, INT32_MIN, 0, -2, 2};
  for (int i = 0; i < 5; i++) ck_assert_int_eq(deft_tensor_i32(r)[i], want[i]);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
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
            bool int_prod = is_int(dt) && !strcmp(reds[o].type, "Prod");
            if (int_prod) lo = -1, hi = 1; /* +-1: NumPy multiplies int32 in int64 */
            ins[n] = rand_tensor(dt, sh, lo, hi, false, int_prod);
            deft_graph *g = deft_graph_new();
            deft_output x = ph(g, dt, sh, "x");
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
            got[n] = run_ok(g, y, &x, &ins[n], 1);
            /* the build-time shape agrees with the run-time one */
            deft_shape bs = deft_output_shape(y);
            ck_assert_int_eq(bs.rank, got[n]->rank);
            for (int i = 0; i < bs.rank; i++) ck_assert_int_eq(bs.dims[i], got[n]->dims[i]);
            deft_graph_free(g);
            char expr[256], *p;
            snprintf(expr, sizeof expr, "%s", is_int(dt) ? reds[o].np_int : reds[o].np_float);
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
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, kinds[k] == DEFT_FLOAT ? 1e-5 : rtol_of(kinds[k]) * 10,
                kinds[k] == DEFT_FLOAT ? 1e-5 : 1e-12, labels[k]);
    deft_tensor_free(got[k]);
    deft_tensor_free(ins[k]);
  }
  np_free(cases, n);
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
    in[k] = rand_tensor(DEFT_DOUBLE, sh, -2, 2, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, DEFT_DOUBLE, sh, "x");
    deft_output y = fns[k](g, x, deft_const_int32_vector(g, &big[k].ax, 1, "axes"), false, NULL);
    deft_status *st = deft_status_new();
    got[k] = run(g, y, &x, &in[k], 1, 2, st);
    ck_assert_msg(got[k] != NULL, "%s", deft_status_message(st));
    deft_status_free(st);
    deft_graph_free(g);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", big[k].np);
    cases[k].nin = 1;
    cases[k].in[0] = in[k];
  }
  np_run(cases, 3);
  for (int k = 0; k < 3; k++) {
    check_close(got[k], cases[k].want, 1e-12, 1e-12, big[k].np);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  np_free(cases, 3);
}
END_TEST

/* Equal / NotEqual on bool tensors (hand-computed). */
START_TEST(bool_equality) {
  static const double a[] = {1, 1, 0, 0}, b[] = {1, 0, 1, 0};
  deft_graph *g = deft_graph_new();
  deft_tensor *ta = from_values(DEFT_BOOL, DEFT_SHAPE(4), a);
  deft_tensor *tb = from_values(DEFT_BOOL, DEFT_SHAPE(4), b);
  deft_output x = deft_const(g, ta, "a"), y = deft_const(g, tb, "b");
  deft_tensor *eq = run_ok(g, deft_equal(g, x, y, NULL), NULL, NULL, 0);
  deft_tensor *ne = run_ok(g, deft_not_equal(g, x, y, NULL), NULL, NULL, 0);
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

/* Reductions over zero-sized inputs give the identities (hand-computed), and reductions with no
 * axes return the input. */
START_TEST(reductions_zero_sized_and_identity) {
  deft_graph *g = deft_graph_new();
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x");
  int32_t ax0 = 0, ax1 = 1;
  deft_output a0 = deft_const_int32_vector(g, &ax0, 1, "a0");
  deft_output a1 = deft_const_int32_vector(g, &ax1, 1, "a1");
  deft_output none = deft_const_int32_vector(g, NULL, 0, "none");
  deft_output outs[6] = {deft_sum(g, x, a0, false, NULL),  deft_mean(g, x, a0, false, NULL),
                         deft_prod(g, x, a0, false, NULL), deft_max(g, x, a0, false, NULL),
                         deft_sum(g, x, a1, false, NULL),  deft_mean(g, x, none, true, NULL)};
  deft_tensor *empty = deft_tensor_new(DEFT_FLOAT, (int64_t[]){0, 3}, 2, NULL);
  deft_tensor *r;
  r = run_ok(g, outs[0], &x, &empty, 1);
  ck_assert(r->n == 3 && deft_tensor_f32(r)[2] == 0.0f);
  deft_tensor_free(r);
  r = run_ok(g, outs[1], &x, &empty, 1);
  ck_assert(r->n == 3 && isnan(deft_tensor_f32(r)[0]));
  deft_tensor_free(r);
  r = run_ok(g, outs[2], &x, &empty, 1);
  ck_assert(r->n == 3 && deft_tensor_f32(r)[1] == 1.0f);
  deft_tensor_free(r);
  r = run_ok(g, outs[3], &x, &empty, 1);
  ck_assert(r->n == 3 && isinf(deft_tensor_f32(r)[0]) && deft_tensor_f32(r)[0] < 0);
  deft_tensor_free(r);
  r = run_ok(g, outs[4], &x, &empty, 1);
  ck_assert(r->rank == 1 && r->dims[0] == 0);
  deft_tensor_free(r);
  deft_tensor *t = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  r = run_ok(g, outs[5], &x, &t, 1);
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
      in[n] = rand_tensor(dts[d], sh, -100, 100, false, false);
      deft_graph *g = deft_graph_new();
      deft_output x = ph(g, dts[d], sh, "x");
      deft_output y = deft_argmax(g, x, cases_[c].axis, NULL);
      ck_assert_int_eq(deft_output_dtype(y), DEFT_INT64);
      got[n] = run_ok(g, y, &x, &in[n], 1);
      ck_assert_int_eq(got[n]->dtype, DEFT_INT64);
      deft_graph_free(g);
      snprintf(cases[n].expr, sizeof cases[n].expr, "np.argmax(a, axis=%d)", cases_[c].axis);
      cases[n].nin = 1;
      cases[n].in[0] = in[n];
      n++;
    }
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, 0, 0, cases[k].expr);
    deft_tensor_free(got[k]);
    deft_tensor_free(in[k]);
  }
  np_free(cases, n);
  /* ties: the first maximum wins (hand-computed) */
  static const double v[] = {1, 3, 3, 0, 2, 2};
  deft_graph *g = deft_graph_new();
  deft_tensor *t = from_values(DEFT_FLOAT, DEFT_SHAPE(2, 3), v);
  deft_tensor *r = run_ok(g, deft_argmax(g, deft_const(g, t, "c"), 1, NULL), NULL, NULL, 0);
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
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "X");
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
  deft_output mm = deft_matmul(g, x, ph(g, DEFT_FLOAT, DEFT_SHAPE(10, 4), "W"), false, true, NULL);
  ck_assert(!deft_output_ok(mm)); /* [?,10] x transposed [10,4] = [4,10]: 10 vs 4 */
  ck_assert_int_eq(deft_status_code(deft_graph_status(g)), DEFT_INVALID_ARGUMENT);
  deft_graph_free(g);
}
END_TEST

/* A reduction with axes unknown at build time and unknown rank: Range(0, Rank(x)). */
START_TEST(reduce_all_axes_unknown_rank) {
  deft_graph *g = deft_graph_new();
  deft_output x = ph(g, DEFT_DOUBLE, deft_shape_unknown(), "x");
  deft_output y = deft_reduce_sum(g, x, NULL, 0, false, NULL);
  if (!deft_graph_ok(g)) { /* needs Rank and Range from the array family */
    fprintf(stderr, "skipping: %s\n", deft_status_message(deft_graph_status(g)));
    deft_graph_free(g);
    return;
  }
  deft_tensor *t = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(3, 4), -1, 1, false, false);
  deft_tensor *r = run_ok(g, y, &x, &t, 1);
  double want = 0;
  for (int i = 0; i < 12; i++) want += deft_tensor_f64(t)[i];
  ck_assert_int_eq(r->rank, 0);
  ck_assert(fabs(deft_tensor_f64(r)[0] - want) < 1e-12);
  deft_tensor_free(r);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

/* ---- errors ---- */

START_TEST(error_broadcast_at_build_time) {
  deft_graph *g = deft_graph_new();
  deft_output a = ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "a");
  deft_output b = ph(g, DEFT_FLOAT, DEFT_SHAPE(4), "b");
  deft_graph_push_scope(g, "layer");
  deft_output z = deft_add(g, a, b, NULL);
  deft_graph_pop_scope(g);
  ck_assert(!deft_output_ok(z));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'layer/Add'", "'a:0'",
                   "'b:0'", "[2,3]", "[4]");
  ck_assert_ptr_null(deft_graph_op_by_name(g, "layer/Add")); /* the graph is unchanged */
  deft_graph_free(g);
}
END_TEST

START_TEST(error_matmul_inner_dims) {
  deft_graph *g = deft_graph_new();
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 50), "x");
  deft_output w = ph(g, DEFT_FLOAT, DEFT_SHAPE(300, 100), "w");
  deft_graph_push_scope(g, "dnn");
  deft_graph_push_scope(g, "hidden2");
  deft_output z = deft_matmul(g, x, w, false, false, NULL);
  ck_assert(!deft_output_ok(z));
  ck_assert_str_eq(deft_status_message(deft_graph_status(g)),
                   "MatMul 'dnn/hidden2/MatMul': input 1 ('w:0') has shape [300,100], but "
                   "input 0 ('x:0') has 50 columns");
  deft_graph_free(g);
  /* rank */
  g = deft_graph_new();
  deft_output t3 = ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 4), "t3");
  deft_matmul(g, t3, t3, false, false, "mm");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "MatMul 'mm'", "input 0",
                   "'t3:0'", "[2,3,4]", "rank 2");
  deft_graph_free(g);
  /* at run time, when shapes are unknown at build time */
  g = deft_graph_new();
  deft_output a = ph(g, DEFT_FLOAT, deft_shape_unknown(), "a");
  deft_output b = ph(g, DEFT_FLOAT, deft_shape_unknown(), "b");
  deft_output c = deft_matmul(g, a, b, false, false, NULL);
  deft_tensor *ta = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  deft_tensor *tb = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 5), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(run(g, c, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MatMul 'MatMul'", "[2,3]", "[4,5]");
  deft_status_free(st);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_bad_axes) {
  deft_graph *g = deft_graph_new();
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  int32_t bad = 2;
  deft_reduce_sum(g, x, &bad, 1, false, "total");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Sum 'total'",
                   "total/reduction_indices", "axis 2", "out of range", "[2,3]");
  deft_graph_clear_error(g);
  int32_t dup[2] = {0, -2};
  deft_reduce_mean(g, x, dup, 2, false, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Mean", "axis -2",
                   "listed twice");
  deft_graph_clear_error(g);
  deft_argmax(g, x, 5, "am");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ArgMax 'am'", "dimension 5",
                   "out of range");
  deft_graph_clear_error(g);
  /* at run time, with fed axes */
  deft_output axes = ph(g, DEFT_INT32, DEFT_SHAPE(-1), "axes");
  deft_output s = deft_sum(g, x, axes, false, "s");
  ck_assert(deft_graph_ok(g));
  deft_tensor *tx = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), -1, 1, false, false);
  int32_t five = -5;
  deft_tensor *ta = deft_tensor_from_data(DEFT_INT32, (int64_t[]){1}, 1, &five, 4, NULL);
  deft_output feeds[2] = {x, axes};
  deft_tensor *vals[2] = {tx, ta};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(run(g, s, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Sum 's'", "axis -5", "out of range");
  deft_status_free(st);
  deft_tensor_free(tx);
  deft_tensor_free(ta);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_dtype_mix) {
  deft_graph *g = deft_graph_new();
  deft_output a = ph(g, DEFT_FLOAT, DEFT_SHAPE(2), "a");
  deft_output i = ph(g, DEFT_INT32, DEFT_SHAPE(2), "i");
  deft_mul(g, a, i, "m");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Mul 'm'", "input 1",
                   "DT_INT32", "DT_FLOAT");
  deft_graph_clear_error(g);
  /* a dtype the op does not take */
  deft_sqrt(g, i, "r");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Sqrt 'r'", "DT_INT32");
  deft_graph_clear_error(g);
  deft_output b = ph(g, DEFT_BOOL, DEFT_SHAPE(2), "b");
  deft_add(g, b, b, "bad_add");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Add 'bad_add'", "DT_BOOL");
  deft_graph_clear_error(g);
  deft_output xs[2] = {a, ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "c")};
  deft_add_n(g, xs, 2, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "AddN 'AddN'", "input 1",
                   "'c:0'", "[3]", "[2]");
  deft_graph_clear_error(g);
  deft_add_n(g, xs, 0, NULL);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "AddN", "at least one");
  deft_graph_free(g);
}
END_TEST

START_TEST(error_integer_division_by_zero) {
  static const char *types[] = {"FloorDiv", "FloorMod", "RealDiv"};
  binary_fn fns[] = {deft_floor_div, deft_floor_mod, deft_div};
  for (int k = 0; k < 3; k++) {
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, DEFT_INT64, DEFT_SHAPE(3), "x"), y = ph(g, DEFT_INT64, DEFT_SHAPE(3), "y");
    deft_output z = fns[k](g, x, y, "q");
    static const double xv[] = {1, 2, 3}, yv[] = {1, 0, 2};
    deft_tensor *tx = from_values(DEFT_INT64, DEFT_SHAPE(3), xv);
    deft_tensor *ty = from_values(DEFT_INT64, DEFT_SHAPE(3), yv);
    deft_output feeds[2] = {x, y};
    deft_tensor *vals[2] = {tx, ty};
    deft_status *st = deft_status_new();
    ck_assert_ptr_null(run(g, z, feeds, vals, 2, 1, st));
    char want[64];
    snprintf(want, sizeof want, "%s 'q'", types[k]);
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, want, "division by zero");
    deft_status_free(st);
    deft_tensor_free(tx);
    deft_tensor_free(ty);
    deft_graph_free(g);
  }
  /* Reciprocal of an integer zero */
  deft_graph *g = deft_graph_new();
  deft_tensor *t = deft_tensor_scalar_int32(0);
  deft_output r = deft_reciprocal(g, deft_const(g, t, "zero"), NULL);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(run(g, r, NULL, NULL, 0, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Reciprocal", "division by zero");
  deft_status_free(st);
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_cast_invalid_type) {
  deft_graph *g = deft_graph_new();
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(2), "x");
  ck_assert(!deft_output_ok(deft_cast(g, x, (deft_dtype)99, "c")));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Cast 'c'", "'x:0'",
                   "invalid dtype");
  deft_graph_clear_error(g);
  deft_cast(g, x, DEFT_STRING, "s");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Cast 's'", "DT_FLOAT",
                   "DT_STRING");
  ck_assert_int_eq(deft_graph_num_ops(g), 1);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_broadcast_at_run_time) {
  deft_graph *g = deft_graph_new();
  deft_output a = ph(g, DEFT_DOUBLE, deft_shape_unknown(), "a");
  deft_output b = ph(g, DEFT_DOUBLE, DEFT_SHAPE(-1), "b");
  deft_output z = deft_squared_difference(g, a, b, "sd");
  ck_assert(deft_graph_ok(g));
  deft_tensor *ta = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(2, 3), -1, 1, false, false);
  deft_tensor *tb = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(4), -1, 1, false, false);
  deft_output feeds[2] = {a, b};
  deft_tensor *vals[2] = {ta, tb};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(run(g, z, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SquaredDifference 'sd'", "Incompatible shapes",
                   "[2,3]", "[4]");
  deft_status_free(st);
  deft_tensor_free(ta);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

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
    ins[tr][0] = rand_tensor(DEFT_DOUBLE, sa, -1, 1, false, false);
    ins[tr][1] = rand_tensor(DEFT_DOUBLE, sb, -1, 1, false, false);
    ins[tr][2] = rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(7, 5), -1, 1, false, false);
    deft_graph *g = deft_graph_new();
    deft_output a = ph(g, DEFT_DOUBLE, sa, "a"), b = ph(g, DEFT_DOUBLE, sb, "b");
    deft_output gy = ph(g, DEFT_DOUBLE, DEFT_SHAPE(7, 5), "gy");
    deft_output c = deft_matmul(g, a, b, ta, tb, NULL), dx[2] = {{0}, {0}};
    call_grad(g, c, gy, dx);
    ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/MatMul_grad/MatMul");
    ck_assert_str_eq(deft_op_name(dx[1].op), "gradients/MatMul_grad/MatMul_1");
    deft_output feeds[3] = {a, b, gy};
    for (int i = 0; i < 2; i++) {
      got[2 * tr + i] = run_ok(g, dx[i], feeds, ins[tr], 3);
      np_case *cs = &cases[2 * tr + i];
      cs->nin = 3;
      for (int k = 0; k < 3; k++) cs->in[k] = ins[tr][k];
      /* C = op(A) op(B): dop(A) = G op(B)^T, dop(B) = op(A)^T G; undo the transposes */
      if (i == 0)
        snprintf(cs->expr, sizeof cs->expr, "(lambda d: d.T if %d else d)(c @ (b.T if %d else b).T)",
                 ta, tb);
      else
        snprintf(cs->expr, sizeof cs->expr, "(lambda d: d.T if %d else d)((a.T if %d else a).T @ c)",
                 tb, ta);
    }
    deft_graph_free(g);
  }
  np_run(cases, 8);
  for (int k = 0; k < 8; k++) {
    check_close(got[k], cases[k].want, 1e-12, 1e-12, cases[k].expr);
    deft_tensor_free(got[k]);
  }
  for (int tr = 0; tr < 4; tr++)
    for (int k = 0; k < 3; k++) deft_tensor_free(ins[tr][k]);
  np_free(cases, 8);
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
      ins[k][i] = rand_tensor(DEFT_DOUBLE, sh, i == 2 ? -1 : cases_[k].lo,
                              i == 2 ? 1 : cases_[k].hi, false, false);
    deft_graph *g = deft_graph_new();
    deft_output x = ph(g, DEFT_DOUBLE, sh, "x"), y = ph(g, DEFT_DOUBLE, sh, "y");
    deft_output gy = ph(g, DEFT_DOUBLE, sh, "gy"), z;
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
      got[n] = run_ok(g, dx[i], feeds, ins[k], 3);
      cases[n].nin = 3;
      for (int j = 0; j < 3; j++) cases[n].in[j] = ins[k][j];
      snprintf(cases[n].expr, sizeof cases[n].expr, "%s", f);
      n++;
    }
    deft_graph_free(g);
  }
  np_run(cases, n);
  for (int k = 0; k < n; k++) {
    check_close(got[k], cases[k].want, 1e-13, 1e-14, cases[k].expr);
    deft_tensor_free(got[k]);
  }
  for (int k = 0; k < ncases; k++)
    if (cases_[k].dx)
      for (int i = 0; i < 3; i++) deft_tensor_free(ins[k][i]);
  np_free(cases, n);
}
END_TEST

/* Every case of tests/grad_cases_math.c through deft_gradients: central differences of
 * sum(y * gy) against the gradients, in float64. */
static double weighted(deft_session *s, const deft_output *feeds, deft_tensor *const *vals, int n,
                       deft_output y, const deft_tensor *gy) {
  deft_tensor *out = NULL;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(s, feeds, vals, n, &y, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  double sum = 0;
  for (int64_t i = 0; i < out->n; i++) sum += deft_tensor_f64(out)[i] * deft_tensor_f64(gy)[i];
  deft_tensor_free(out);
  return sum;
}

static void check_fd_case(const tu_grad_case *gc) {
  deft_graph *g = deft_graph_new();
  deft_output xs[4], feeds[5], dx[4] = {{NULL, 0}};
  deft_tensor *vals[5];
  double lo = gc->lo, hi = gc->hi;
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  for (int i = 0; i < gc->ninputs; i++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", i);
    feeds[i] = xs[i] = ph(g, DEFT_DOUBLE, gc->shapes[i], name);
    vals[i] = rand_tensor(DEFT_DOUBLE, gc->shapes[i], lo, hi, false, false);
  }
  deft_output y = gc->build(g, xs);
  ck_assert_msg(deft_graph_ok(g), "%s (%s): %s", gc->op_type, gc->label,
                deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_type(y.op), gc->op_type);
  deft_output gy = ph(g, DEFT_DOUBLE, deft_output_shape(y), "gy");
  deft_output gin = deft_identity(g, gy, "gin"); /* see elementwise_gradients_vs_numpy */
  ck_assert(deft_gradients(g, &y, 1, xs, gc->ninputs, &gin, dx));
  ck_assert_msg(deft_graph_ok(g), "%s (%s): %s", gc->op_type, gc->label,
                deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *y0 = NULL;
  ck_assert(deft_session_run(s, feeds, vals, gc->ninputs, &y, &y0, 1, NULL, 0, st));
  feeds[gc->ninputs] = gy;
  vals[gc->ninputs] = rand_tensor(DEFT_DOUBLE, deft_tensor_shape(y0), -1, 1, false, false);
  deft_tensor_free(y0);
  int nf = gc->ninputs + 1;
  for (int i = 0; i < gc->ninputs; i++) {
    ck_assert_msg(dx[i].op != NULL, "%s (%s): no gradient for input %d", gc->op_type, gc->label,
                  i);
    deft_tensor *an = NULL;
    ck_assert_msg(deft_session_run(s, feeds, vals, nf, &dx[i], &an, 1, NULL, 0, st), "%s (%s): %s",
                  gc->op_type, gc->label, deft_status_message(st));
    ck_assert_int_eq(an->n, vals[i]->n);
    const double h = 1e-4;
    for (int64_t e = 0; e < vals[i]->n; e++) {
      double *p = &deft_tensor_f64(vals[i])[e], keep = *p;
      *p = keep + h;
      double up = weighted(s, feeds, vals, nf, y, vals[gc->ninputs]);
      *p = keep - h;
      double down = weighted(s, feeds, vals, nf, y, vals[gc->ninputs]);
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

START_TEST(gradients_match_finite_differences) {
  for (int i = 0; i < tu_grad_cases_math_count; i++) check_fd_case(&tu_grad_cases_math[i]);
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
  deft_output x = ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x"), b = ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "b");
  deft_output y = deft_add(g, x, b, NULL), dx[2] = {{NULL, 0}};
  deft_output gy = deft_identity(g, ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "gy"), "gin");
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
  deft_tensor *gv = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 3), -1, 1, false, false);
  deft_tensor *xv = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 3), -1, 1, false, false);
  deft_tensor *bv = rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3), -1, 1, false, false);
  deft_output feeds[3] = {x, b, deft_graph_tensor_by_name(g, "gy", NULL)};
  deft_tensor *vals[3] = {xv, bv, gv};
  deft_tensor *db = run_ok(g, dx[1], feeds, vals, 3);
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
      "Neg", "Square", "Sqrt", "Rsqrt", "Exp", "Log", "Reciprocal", "Abs", "Sign", "RsqrtGrad",
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
  Suite *s = suite_create("math_ops");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, binary_ops_vs_numpy);
  tcase_add_test(tc, binary_ops_threaded);
  tcase_add_test(tc, integer_semantics);
  tcase_add_test(tc, unary_ops_vs_numpy);
  tcase_add_test(tc, unary_magnitudes);
  tcase_add_test(tc, exp_log_accuracy);
  tcase_add_test(tc, grad_kernels_vs_numpy);
  tcase_add_test(tc, matmul_vs_numpy);
  tcase_add_test(tc, matmul_zero_sized);
  tcase_add_test(tc, add_n_vs_numpy);
  tcase_add_test(tc, cast_vs_numpy);
  tcase_add_test(tc, reductions_vs_numpy);
  tcase_add_test(tc, reductions_zero_sized_and_identity);
  tcase_add_test(tc, reductions_threaded);
  tcase_add_test(tc, bool_equality);
  tcase_add_test(tc, argmax_vs_numpy);
  tcase_add_test(tc, tf_names);
  tcase_add_test(tc, reduce_all_axes_unknown_rank);
  tcase_add_test(tc, registry_entries);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("errors");
  tcase_add_test(te, error_broadcast_at_build_time);
  tcase_add_test(te, error_matmul_inner_dims);
  tcase_add_test(te, error_bad_axes);
  tcase_add_test(te, error_dtype_mix);
  tcase_add_test(te, error_integer_division_by_zero);
  tcase_add_test(te, error_cast_invalid_type);
  tcase_add_test(te, error_broadcast_at_run_time);
  suite_add_tcase(s, te);
  TCase *tg = tcase_create("gradients");
  tcase_set_timeout(tg, 60);
  tcase_add_test(tg, matmul_gradients_vs_numpy);
  tcase_add_test(tg, elementwise_gradients_vs_numpy);
  tcase_add_test(tg, gradients_match_finite_differences);
  tcase_add_test(tg, every_gradient_has_a_case);
  tcase_add_test(tg, broadcast_gradient_graph);
  suite_add_tcase(s, tg);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
