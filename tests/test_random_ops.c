/* tests/test_random_ops.c - RandomUniform, RandomStandardNormal, TruncatedNormal: TF's seed
 * derivation, determinism across sessions, stream continuation across runs, distribution
 * statistics, run-time shapes, and bit-exact agreement with an independent Python Philox4x32-10
 * (itself checked against Random123's known-answer vectors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/ops.h"
#include "deft/session.h"
#include "ops/op_def.h"
#include "testutil.h"
#include "philox_py.h"

typedef deft_output (*random_ctor)(deft_graph *, deft_output, deft_dtype, int64_t, const char *);

static const struct {
  const char *type;
  random_ctor ctor;
} kinds[] = {
    {"RandomUniform", deft_random_uniform},
    {"RandomStandardNormal", deft_random_normal},
    {"TruncatedNormal", deft_truncated_normal},
};

static deft_output shape_const(deft_graph *g, const int32_t *dims, int rank) {
  return deft_const_int32_vector(g, dims, rank, "shape");
}

/* Runs fetch `nruns` times in one new session; out[i] gets run i's value. */
static void run_n(deft_graph *g, deft_output fetch, deft_tensor **out, int nruns,
                  const deft_output *feeds, deft_tensor *const *vals, int nfeeds) {
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  for (int i = 0; i < nruns; i++) {
    bool ok = deft_session_run(s, feeds, vals, nfeeds, &fetch, &out[i], 1, NULL, 0, st);
    ck_assert_msg(ok, "%s", deft_status_message(st));
  }
  deft_session_free(s);
  deft_status_free(st);
}

static deft_tensor *run_once(deft_graph *g, deft_output fetch) {
  deft_tensor *t = NULL;
  run_n(g, fetch, &t, 1, NULL, NULL, 0);
  return t;
}

static bool same_bits(const deft_tensor *a, const deft_tensor *b) {
  return deft_tensor_nbytes(a) == deft_tensor_nbytes(b) &&
         memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)) == 0;
}

static int64_t attr_int(deft_op *op, const char *name) {
  int64_t v = -999;
  ck_assert(deft_op_attr_int(op, name, &v));
  return v;
}

/* ---- seeds ---- */

START_TEST(seed_derivation_follows_tf) {
  static const int32_t dims[1] = {3};
  for (int k = 0; k < 3; k++) {
    /* graph seed, no op seed: (graph seed, id of the new op) */
    deft_graph *g = deft_graph_new();
    deft_graph_set_seed(g, 42);
    deft_output sh = shape_const(g, dims, 1);
    deft_output a = kinds[k].ctor(g, sh, DEFT_FLOAT, 0, NULL);
    ck_assert_str_eq(deft_op_type(a.op), kinds[k].type);
    ck_assert_str_eq(deft_op_name(a.op), kinds[k].type);
    ck_assert_int_eq(attr_int(a.op, "seed"), 42);
    ck_assert_int_eq(attr_int(a.op, "seed2"), 1); /* the Const is op 0 */
    deft_output b = kinds[k].ctor(g, sh, DEFT_FLOAT, 0, NULL);
    ck_assert_int_eq(attr_int(b.op, "seed2"), 2);
    /* graph seed and op seed */
    deft_output c = kinds[k].ctor(g, sh, DEFT_DOUBLE, 7, "c");
    ck_assert_int_eq(attr_int(c.op, "seed"), 42);
    ck_assert_int_eq(attr_int(c.op, "seed2"), 7);
    deft_dtype dt;
    ck_assert(deft_op_attr_type(c.op, "dtype", &dt));
    ck_assert_int_eq(dt, DEFT_DOUBLE);
    ck_assert(deft_op_attr_type(c.op, "T", &dt));
    ck_assert_int_eq(dt, DEFT_INT32);
    deft_graph_free(g);

    /* op seed only: TF's DEFAULT_GRAPH_SEED; neither: (0, 0) */
    g = deft_graph_new();
    sh = shape_const(g, dims, 1);
    a = kinds[k].ctor(g, sh, DEFT_FLOAT, 9, NULL);
    ck_assert_int_eq(attr_int(a.op, "seed"), 87654321);
    ck_assert_int_eq(attr_int(a.op, "seed2"), 9);
    b = kinds[k].ctor(g, sh, DEFT_FLOAT, 0, NULL);
    ck_assert_int_eq(attr_int(b.op, "seed"), 0);
    ck_assert_int_eq(attr_int(b.op, "seed2"), 0);
    deft_graph_free(g);

    /* seeds are taken mod 2^31-1 (Python semantics), and (0, 0) becomes (0, 2^31-1) */
    g = deft_graph_new();
    deft_graph_set_seed(g, 0);
    sh = shape_const(g, dims, 1);
    a = kinds[k].ctor(g, sh, DEFT_FLOAT, 2147483647, NULL);
    ck_assert_int_eq(attr_int(a.op, "seed"), 0);
    ck_assert_int_eq(attr_int(a.op, "seed2"), 2147483647);
    deft_graph_set_seed(g, -1);
    b = kinds[k].ctor(g, sh, DEFT_FLOAT, 2147483650LL, NULL);
    ck_assert_int_eq(attr_int(b.op, "seed"), 2147483646);
    ck_assert_int_eq(attr_int(b.op, "seed2"), 3);
    deft_graph_free(g);
  }
}
END_TEST

/* Builds a small graph: Const shape [4,5] -> random op (graph seed gs, op seed os). */
static deft_graph *seeded_graph(int k, bool set_graph_seed, int64_t gs, int64_t os,
                                deft_dtype dt, deft_output *out) {
  deft_graph *g = deft_graph_new();
  if (set_graph_seed) deft_graph_set_seed(g, gs);
  static const int32_t dims[2] = {4, 5};
  *out = kinds[k].ctor(g, shape_const(g, dims, 2), dt, os, NULL);
  return g;
}

START_TEST(same_seeds_same_numbers) {
  for (int k = 0; k < 3; k++) {
    for (int d = 0; d < 2; d++) {
      deft_dtype dt = d ? DEFT_DOUBLE : DEFT_FLOAT;
      deft_output y1, y2, y3, y4;
      deft_graph *g1 = seeded_graph(k, true, 1234, 0, dt, &y1);
      deft_graph *g2 = seeded_graph(k, true, 1234, 0, dt, &y2);
      deft_tensor *a[2], *b = run_once(g2, y2), *c = run_once(g1, y1);
      run_n(g1, y1, a, 2, NULL, NULL, 0);
      /* identical across sessions and across separately built graphs */
      ck_assert(same_bits(a[0], b));
      ck_assert(same_bits(a[0], c));
      /* the second run continues the stream */
      ck_assert(!same_bits(a[0], a[1]));
      /* another op seed, another graph seed: different numbers */
      deft_graph *g3 = seeded_graph(k, true, 1234, 5, dt, &y3);
      deft_graph *g4 = seeded_graph(k, true, 4321, 0, dt, &y4);
      deft_tensor *e = run_once(g3, y3), *f = run_once(g4, y4);
      ck_assert(!same_bits(a[0], e));
      ck_assert(!same_bits(a[0], f));
      /* op seed only: deterministic too */
      deft_output y5, y6;
      deft_graph *g5 = seeded_graph(k, false, 0, 77, dt, &y5);
      deft_graph *g6 = seeded_graph(k, false, 0, 77, dt, &y6);
      deft_tensor *h = run_once(g5, y5), *i = run_once(g6, y6);
      ck_assert(same_bits(h, i));
      deft_tensor *all[] = {a[0], a[1], b, c, e, f, h, i};
      for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) deft_tensor_free(all[j]);
      deft_graph *gs[] = {g1, g2, g3, g4, g5, g6};
      for (size_t j = 0; j < sizeof gs / sizeof gs[0]; j++) deft_graph_free(gs[j]);
    }
  }
}
END_TEST

START_TEST(unseeded_streams_differ) {
  for (int k = 0; k < 3; k++) {
    deft_output y;
    deft_graph *g = seeded_graph(k, false, 0, 0, DEFT_FLOAT, &y);
    ck_assert_int_eq(attr_int(y.op, "seed"), 0);
    deft_tensor *a = run_once(g, y), *b = run_once(g, y);
    ck_assert(!same_bits(a, b)); /* two sessions, two random seeds */
    deft_tensor_free(a);
    deft_tensor_free(b);
    deft_graph_free(g);
  }
}
END_TEST

/* ---- distributions ---- */

static void moments(const deft_tensor *t, double *mean, double *var, double *lo, double *hi) {
  int64_t n = deft_tensor_num_elements(t);
  double s = 0, s2 = 0;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    double v = deft_tensor_get_double(t, i);
    ck_assert_msg(isfinite(v), "sample %lld is %g", (long long)i, v);
    s += v;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
  }
  *mean = s / (double)n;
  for (int64_t i = 0; i < n; i++) {
    double d = deft_tensor_get_double(t, i) - *mean;
    s2 += d * d;
  }
  *var = s2 / (double)(n - 1);
}

START_TEST(distribution_statistics) {
  /* 1e5 samples each. Standard errors: uniform mean 0.0009, var 0.0003; normal mean 0.003,
   * var 0.0045; tolerances are about 5 standard errors. */
  static const int32_t dims[2] = {400, 250};
  static const struct {
    int kind;
    double mean, var, mtol, vtol;
  } cases[] = {
      {0, 0.5, 1.0 / 12, 0.005, 0.0015},
      {1, 0.0, 1.0, 0.015, 0.025},
      {2, 0.0, 0.87962566103423978 * 0.87962566103423978, 0.015, 0.02},
  };
  for (int c = 0; c < 3; c++) {
    for (int d = 0; d < 2; d++) {
      deft_graph *g = deft_graph_new();
      deft_graph_set_seed(g, 2024 + c);
      deft_output y = kinds[cases[c].kind].ctor(g, shape_const(g, dims, 2),
                                                d ? DEFT_DOUBLE : DEFT_FLOAT, 0, NULL);
      deft_tensor *t = run_once(g, y);
      ck_assert_int_eq(deft_tensor_dim(t, 0), 400);
      ck_assert_int_eq(deft_tensor_dim(t, 1), 250);
      double mean, var, lo, hi;
      moments(t, &mean, &var, &lo, &hi);
      ck_assert_msg(fabs(mean - cases[c].mean) < cases[c].mtol, "%s mean %g",
                    kinds[cases[c].kind].type, mean);
      ck_assert_msg(fabs(var - cases[c].var) < cases[c].vtol, "%s var %g",
                    kinds[cases[c].kind].type, var);
      if (cases[c].kind == 0) ck_assert(lo >= 0 && hi < 1 && lo < 0.001 && hi > 0.999);
      if (cases[c].kind == 1) ck_assert(lo < -3.5 && hi > 3.5);
      if (cases[c].kind == 2) ck_assert(lo > -2 && hi < 2 && lo < -1.99 && hi > 1.99);
      deft_tensor_free(t);
      deft_graph_free(g);
    }
  }
}
END_TEST

/* ---- agreement with an independent Philox ---- */

static const char philox_py[] =
    TU_PHILOX_PY
    "seed, seed2, n, runs, kind = [int(a) for a in sys.argv[1:6]]\n"
    "key = [seed & M, (seed >> 32) & M]\n"
    "def u2f(x):\n"
    "    return np.float32(struct.unpack('<f', struct.pack('<I', (127 << 23) | (x & 0x7fffff)))[0]) - np.float32(1)\n"
    "out = []\n"
    "block = 0\n"
    "for run in range(runs):\n"
    "    words = []\n"
    "    while len(words) < (n if kind == 0 else 2 * ((n + 1) // 2)):\n"
    "        words += philox([block & M, block >> 32, seed2 & M, (seed2 >> 32) & M], key)\n"
    "        block += 1\n"
    "    if kind == 0:\n"
    "        out += [float(u2f(w)) for w in words[:n]]\n"
    "    else:\n"
    "        vals = []\n"
    "        for i in range(0, len(words) - 1, 2):\n"
    "            u1 = max(u2f(words[i]), np.float32(1e-7))\n"
    "            v1 = np.float32(2 * math.pi) * u2f(words[i + 1])\n"
    "            r = np.sqrt(np.float32(-2) * np.log(u1))\n"
    "            vals += [float(r * np.sin(v1)), float(r * np.cos(v1))]\n"
    "        out += vals[:n]\n"
    "np.asarray(out, dtype=np.float64).tofile(sys.argv[6])\n";

START_TEST(matches_python_philox) {
  /* seed = 12345, seed2 = 678 (op seed 678 under graph seed 12345); 6 values per run, 3 runs:
   * each run starts at a fresh Philox block. */
  for (int kind = 0; kind < 2; kind++) {
    deft_graph *g = deft_graph_new();
    deft_graph_set_seed(g, 12345);
    static const int32_t dims[2] = {2, 3};
    deft_output y = kinds[kind].ctor(g, shape_const(g, dims, 2), DEFT_FLOAT, 678, NULL);
    deft_tensor *t[3];
    run_n(g, y, t, 3, NULL, NULL, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/philox-%d-%d.bin", tu_tmpdir(), (int)getpid(), kind);
    const char *args[] = {"12345", "678", "6", "3", kind ? "1" : "0", path, NULL};
    ck_assert_int_eq(tu_python(philox_py, args), 0);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    double ref[18];
    ck_assert_int_eq(fread(ref, sizeof(double), 18, f), 18);
    fclose(f);
    unlink(path);
    for (int r = 0; r < 3; r++) {
      const float *v = deft_tensor_data(t[r]);
      for (int i = 0; i < 6; i++) {
        if (kind == 0)
          ck_assert_msg((double)v[i] == ref[r * 6 + i], "uniform run %d [%d]: %.9g vs %.9g", r,
                        i, v[i], ref[r * 6 + i]);
        else
          ck_assert_msg(fabs(v[i] - ref[r * 6 + i]) < 2e-6 * (1 + fabs(ref[r * 6 + i])),
                        "normal run %d [%d]: %.9g vs %.9g", r, i, v[i], ref[r * 6 + i]);
      }
      deft_tensor_free(t[r]);
    }
    deft_graph_free(g);
  }
}
END_TEST

/* ---- shapes ---- */

START_TEST(shape_from_placeholder) {
  for (int k = 0; k < 3; k++) {
    for (int it = 0; it < 2; it++) {
      deft_dtype st = it ? DEFT_INT64 : DEFT_INT32;
      deft_graph *g = deft_graph_new();
      deft_output sh = deft_placeholder(g, st, DEFT_SHAPE(2), "shape");
      deft_output y = kinds[k].ctor(g, sh, DEFT_FLOAT, 3, "rnd");
      deft_shape s = deft_output_shape(y);
      ck_assert(s.rank == 2 && s.dims[0] == -1 && s.dims[1] == -1);
      int64_t two = 2;
      deft_tensor *v = deft_tensor_new(st, &two, 1, NULL);
      if (it) {
        ((int64_t *)deft_tensor_data(v))[0] = 3;
        ((int64_t *)deft_tensor_data(v))[1] = 4;
      } else {
        ((int32_t *)deft_tensor_data(v))[0] = 3;
        ((int32_t *)deft_tensor_data(v))[1] = 4;
      }
      deft_tensor *out[2];
      run_n(g, y, out, 1, &sh, &v, 1);
      ck_assert_int_eq(deft_tensor_rank(out[0]), 2);
      ck_assert_int_eq(deft_tensor_dim(out[0], 0), 3);
      ck_assert_int_eq(deft_tensor_dim(out[0], 1), 4);
      deft_tensor_free(out[0]);
      /* a zero-sized shape and then a bigger one in the same session */
      ((int32_t *)deft_tensor_data(v))[0] = 0;
      if (it) ((int64_t *)deft_tensor_data(v))[0] = 0;
      run_n(g, y, out, 1, &sh, &v, 1);
      ck_assert_int_eq(deft_tensor_num_elements(out[0]), 0);
      deft_tensor_free(out[0]);
      deft_tensor_free(v);
      deft_graph_free(g);
    }
  }
  /* constant shapes give static output shapes; scalars ([] shape) work */
  deft_graph *g = deft_graph_new();
  static const int32_t d3[3] = {2, 1, 3};
  deft_output y = deft_random_uniform(g, shape_const(g, d3, 3), DEFT_DOUBLE, 1, NULL);
  deft_shape s = deft_output_shape(y);
  ck_assert(s.rank == 3 && s.dims[0] == 2 && s.dims[1] == 1 && s.dims[2] == 3);
  ck_assert_int_eq(deft_output_dtype(y), DEFT_DOUBLE);
  deft_output z = deft_random_normal(g, deft_const_int32_vector(g, NULL, 0, "empty"), DEFT_FLOAT,
                                     1, NULL);
  ck_assert_int_eq(deft_output_shape(z).rank, 0);
  deft_tensor *t = run_once(g, z);
  ck_assert_int_eq(deft_tensor_rank(t), 0);
  ck_assert(isfinite(deft_tensor_get_double(t, 0)));
  deft_tensor_free(t);
  deft_graph_free(g);
}
END_TEST

START_TEST(registry_flags) {
  for (int k = 0; k < 3; k++) {
    const deft_op_reg *r = deft_registry_lookup(kinds[k].type);
    ck_assert_ptr_nonnull(r);
    ck_assert(r->def->flags & DEFT_OP_STATEFUL);
    ck_assert(r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE);
    ck_assert_ptr_null(r->def->grad);
  }
}
END_TEST

/* ---- errors ---- */

START_TEST(errors) {
  deft_graph *g = deft_graph_new();
  /* shape of the wrong rank at build time */
  deft_output m = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2, 2), "m");
  ck_assert_ptr_null(deft_random_uniform(g, m, DEFT_FLOAT, 0, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "RandomUniform 'RandomUniform'",
                   "must be 1-D", "'m:0'", "[2,2]");
  deft_graph_clear_error(g);
  /* negative constant dimension at build time */
  static const int32_t bad[2] = {3, -2};
  ck_assert_ptr_null(
      deft_truncated_normal(g, deft_const_int32_vector(g, bad, 2, "bad"), DEFT_FLOAT, 0, NULL)
          .op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "TruncatedNormal", "entry 1",
                   "-2");
  deft_graph_clear_error(g);
  /* unsupported dtypes */
  static const int32_t ok[1] = {2};
  deft_output sh = deft_const_int32_vector(g, ok, 1, "ok");
  ck_assert_ptr_null(deft_random_normal(g, sh, DEFT_INT32, 0, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "RandomStandardNormal", "dtype",
                   "DT_INT32");
  deft_graph_clear_error(g);
  deft_output fs = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2), "fs");
  ck_assert_ptr_null(deft_random_uniform(g, fs, DEFT_FLOAT, 0, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "RandomUniform", "DT_FLOAT");
  deft_graph_clear_error(g);
  /* negative dimension fed at run time */
  deft_output p = deft_placeholder(g, DEFT_INT64, deft_shape_unknown(), "p");
  deft_output y = deft_random_uniform(g, p, DEFT_FLOAT, 0, "u");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  int64_t two = 2;
  deft_tensor *v = deft_tensor_new(DEFT_INT64, &two, 1, NULL);
  ((int64_t *)deft_tensor_data(v))[0] = 4;
  ((int64_t *)deft_tensor_data(v))[1] = -1;
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *out = NULL;
  ck_assert(!deft_session_run(s, &p, &v, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "RandomUniform 'u'", "entry 1", "-1",
                   "non-negative");
  deft_tensor_free(v);
  /* a scalar shape at run time */
  v = deft_tensor_scalar_int64(3);
  ck_assert(!deft_session_run(s, &p, &v, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "RandomUniform 'u'", "1-D");
  ck_assert_ptr_null(out);
  deft_tensor_free(v);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("random_ops");
  TCase *tc = tcase_create("random");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, seed_derivation_follows_tf);
  tcase_add_test(tc, same_seeds_same_numbers);
  tcase_add_test(tc, unseeded_streams_differ);
  tcase_add_test(tc, distribution_statistics);
  tcase_add_test(tc, matches_python_philox);
  tcase_add_test(tc, shape_from_placeholder);
  tcase_add_test(tc, registry_flags);
  tcase_add_test(tc, errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
