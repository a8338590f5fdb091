/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_nn_ops.c - the nn op family: BiasAdd(Grad), activations and their gradient kernels,
 * Softmax, SparseSoftmaxCrossEntropyWithLogits, InTopK(V2). Numbers are checked against NumPy /
 * PyTorch (run through tu_python) or hand-computed values; names against TF 1.x's graphs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/ops.h"
#include "deft/session.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "testutil.h"

/* ---- helpers ---- */

static deft_tensor *make(deft_dtype dt, const int64_t *dims, int rank, const double *v) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  int64_t n = deft_tensor_num_elements(t);
  void *d = deft_tensor_data(t);
  for (int64_t i = 0; i < n; i++) {
    switch (dt) {
      case DEFT_FLOAT: ((float *)d)[i] = (float)v[i]; break;
      case DEFT_DOUBLE: ((double *)d)[i] = v[i]; break;
      case DEFT_INT32: ((int32_t *)d)[i] = (int32_t)v[i]; break;
      case DEFT_INT64: ((int64_t *)d)[i] = (int64_t)v[i]; break;
      default: ck_abort_msg("make: dtype");
    }
  }
  return t;
}

/* Runs g, feeding feeds[i] = vals[i], and returns the fetched tensors (asserting success). */
static void run(deft_graph *g, const deft_output *feeds, deft_tensor *const *vals, int nfeeds,
                const deft_output *fetches, deft_tensor **out, int nfetches) {
  ck_assert_msg(deft_graph_ok(g), "graph error: %s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  bool ok = deft_session_run(s, feeds, tu_feeds(vals), nfeeds, fetches, out, nfetches, NULL, 0, st);
  ck_assert_msg(ok, "run failed: %s", deft_status_message(st));
  deft_session_free(s);
  deft_status_free(st);
}

static deft_tensor *run1(deft_graph *g, deft_output feed, deft_tensor *val, deft_output fetch) {
  deft_tensor *out = NULL;
  run(g, &feed, &val, feed.op ? 1 : 0, &fetch, &out, 1);
  return out;
}

/* Feeds f0 = v0 and f1 = v1 (freeing both afterwards) and returns the fetched value. */
static deft_tensor *run2(deft_graph *g, deft_output f0, deft_tensor *v0, deft_output f1,
                         deft_tensor *v1, deft_output fetch) {
  deft_output feeds[2] = {f0, f1};
  deft_tensor *vals[2] = {v0, v1}, *out = NULL;
  run(g, feeds, vals, 2, &fetch, &out, 1);
  deft_tensor_free(v0);
  deft_tensor_free(v1);
  return out;
}

/* Feeds f0 = v0 and f1 = v1 (freeing both), expects the run to fail and returns its status
 * (the caller checks and frees it). */
static deft_status *run2_fail(deft_graph *g, deft_output f0, deft_tensor *v0, deft_output f1,
                              deft_tensor *v1, deft_output fetch) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  deft_output feeds[2] = {f0, f1};
  deft_tensor *vals[2] = {v0, v1}, *out = NULL;
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 2, &fetch, &out, 1, NULL, 0, st));
  ck_assert_ptr_null(out);
  deft_session_free(s);
  deft_tensor_free(v0);
  deft_tensor_free(v1);
  return st;
}

/* Asserts |got - ref| <= atol + rtol*|ref| elementwise (NaNs must match). */
static void assert_close(const deft_tensor *got, const double *ref, int64_t n, double rtol,
                         double atol, const char *what) {
  ck_assert_int_eq(deft_tensor_num_elements(got), n);
  for (int64_t i = 0; i < n; i++) {
    double g = deft_tensor_get_double(got, i);
    if (isnan(ref[i])) {
      ck_assert_msg(isnan(g), "%s[%lld]: got %.17g, want NaN", what, (long long)i, g);
      continue;
    }
    ck_assert_msg(fabs(g - ref[i]) <= atol + rtol * fabs(ref[i]),
                  "%s[%lld]: got %.17g, want %.17g", what, (long long)i, g, ref[i]);
  }
}

/* Reference checks are collected and evaluated in one Python process per test (starting Python
 * dominates the run time). Each check runs NumPy/PyTorch `code` on inputs x[0..nin) (float64
 * arrays); the code sets `out`, whose flattened values from `skip` on are compared with `got`. */
typedef struct ref_check {
  char label[64];
  const char *code;
  deft_tensor *ins[3];
  int nin;
  deft_tensor *got;
  int64_t skip;
  double rtol, atol;
} ref_check;

typedef struct ref_batch {
  ref_check c[96];
  int n;
} ref_batch;

static void expect_ref(ref_batch *b, const char *label, const char *code,
                       const deft_tensor *const *ins, int nin, const deft_tensor *got,
                       int64_t skip, double rtol, double atol) {
  ck_assert_int_lt(b->n, 96);
  ref_check *c = &b->c[b->n++];
  snprintf(c->label, sizeof c->label, "%s", label);
  c->code = code;
  c->nin = nin;
  for (int i = 0; i < nin; i++) c->ins[i] = deft_tensor_share(ins[i]);
  c->got = deft_tensor_share(got);
  c->skip = skip;
  c->rtol = rtol;
  c->atol = atol;
}

static void write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  if (size) ck_assert_int_eq(fwrite(data, 1, size, f), size);
  fclose(f);
}

static void check_refs(ref_batch *b) {
  static int call;
  char dir[512], path[700], cmd[800];
  snprintf(dir, sizeof dir, "%s/ref%d-%d", tu_tmpdir(), (int)getpid(), call++);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  for (int j = 0; j < b->n; j++) {
    ref_check *c = &b->c[j];
    snprintf(path, sizeof path, "%s/%d.py", dir, j);
    write_file(path, c->code, strlen(c->code));
    char meta[256];
    int len = snprintf(meta, sizeof meta, "%d\n", c->nin);
    for (int i = 0; i < c->nin; i++) {
      for (int d = 0; d < deft_tensor_rank(c->ins[i]); d++)
        len += snprintf(meta + len, sizeof meta - (size_t)len, "%lld ",
                        (long long)deft_tensor_dim(c->ins[i], d));
      len += snprintf(meta + len, sizeof meta - (size_t)len, "\n");
      int64_t n = deft_tensor_num_elements(c->ins[i]);
      double *v = malloc(sizeof(double) * (size_t)(n + 1));
      for (int64_t k = 0; k < n; k++) v[k] = deft_tensor_get_double(c->ins[i], k);
      snprintf(path, sizeof path, "%s/%d.in%d", dir, j, i);
      write_file(path, v, sizeof(double) * (size_t)n);
      free(v);
    }
    snprintf(path, sizeof path, "%s/%d.meta", dir, j);
    write_file(path, meta, (size_t)len);
  }
  static const char driver[] =
      "import sys\nimport numpy as np\nd = sys.argv[1]\n"
      "for j in range(int(sys.argv[2])):\n"
      "    meta = open('%s/%d.meta' % (d, j)).read().split('\\n')\n"
      "    x = []\n"
      "    for i in range(int(meta[0])):\n"
      "        shp = [int(s) for s in meta[1 + i].split()]\n"
      "        x.append(np.fromfile('%s/%d.in%d' % (d, j, i), dtype=np.float64).reshape(shp))\n"
      "    ns = {'np': np, 'x': x}\n"
      "    exec(open('%s/%d.py' % (d, j)).read(), ns)\n"
      "    np.asarray(ns['out'], dtype=np.float64).ravel().tofile('%s/%d.out' % (d, j))\n";
  char nbuf[16];
  snprintf(nbuf, sizeof nbuf, "%d", b->n);
  const char *args[] = {dir, nbuf, NULL};
  ck_assert_msg(tu_python(driver, args) == 0, "python reference run failed");
  for (int j = 0; j < b->n; j++) {
    ref_check *c = &b->c[j];
    int64_t n = deft_tensor_num_elements(c->got);
    double *ref = malloc(sizeof(double) * (size_t)(c->skip + n + 1));
    snprintf(path, sizeof path, "%s/%d.out", dir, j);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t got = fread(ref, sizeof(double), (size_t)(c->skip + n), f);
    fclose(f);
    ck_assert_msg((int64_t)got == c->skip + n, "%s: reference has %zu values, want %lld",
                  c->label, got, (long long)(c->skip + n));
    assert_close(c->got, ref + c->skip, n, c->rtol, c->atol, c->label);
    free(ref);
    for (int i = 0; i < c->nin; i++) deft_tensor_free(c->ins[i]);
    deft_tensor_free(c->got);
  }
  b->n = 0;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void assert_shape(const deft_tensor *t, int rank, const int64_t *dims) {
  ck_assert_int_eq(deft_tensor_rank(t), rank);
  for (int i = 0; i < rank; i++) ck_assert_int_eq(deft_tensor_dim(t, i), dims[i]);
}

static const char *graph_msg(deft_graph *g) { return deft_status_message(deft_graph_status(g)); }

/* Mixed-magnitude test values (away from 0 where kinks are, plus 0 itself and large values). */
static const double act_vals[] = {-50, -3.5, -1, -0.25, 0, 0.25, 1, 2.5, 20, -1e-3, 1e-3, 7};
#define NACT 12

typedef deft_output (*unary_ctor)(deft_graph *, deft_output, const char *);

static deft_output leaky_default(deft_graph *g, deft_output x, const char *name) {
  return deft_leaky_relu(g, x, 0.2f, name);
}
static deft_output leaky_small(deft_graph *g, deft_output x, const char *name) {
  return deft_leaky_relu(g, x, 0.01f, name);
}

static const struct {
  const char *label;
  unary_ctor ctor;
  const char *type;
  const char *numpy;
} unary_cases[] = {
    {"relu", deft_relu, "Relu", "out = np.maximum(x[0], 0)"},
    {"elu", deft_elu, "Elu", "out = np.where(x[0] < 0, np.expm1(x[0]), x[0])"},
    {"selu", deft_selu, "Selu",
     "s, a = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717\n"
     "out = np.where(x[0] > 0, s * x[0], s * a * np.expm1(x[0]))"},
    {"leaky 0.2", leaky_default, "LeakyRelu",
     "out = np.where(x[0] > 0, x[0], np.float64(np.float32(0.2)) * x[0])"},
    {"leaky 0.01", leaky_small, "LeakyRelu",
     "out = np.where(x[0] > 0, x[0], np.float64(np.float32(0.01)) * x[0])"},
    {"sigmoid", deft_sigmoid, "Sigmoid", "out = 1 / (1 + np.exp(-x[0]))"},
    {"tanh", deft_tanh, "Tanh", "out = np.tanh(x[0])"},
};

/* ---- activations ---- */

START_TEST(activations_match_numpy) {
  static ref_batch rb;
  for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
    for (int pass = 0; pass < 2; pass++) {
      deft_dtype dt = pass ? DEFT_DOUBLE : DEFT_FLOAT;
      deft_graph *g = deft_graph_new();
      int64_t dims[2] = {3, 4};
      deft_output x = deft_placeholder(g, dt, DEFT_SHAPE(-1, 4), "x");
      deft_output y = unary_cases[c].ctor(g, x, NULL);
      ck_assert_msg(deft_graph_ok(g), "%s: %s", unary_cases[c].label, graph_msg(g));
      ck_assert_str_eq(deft_op_type(y.op), unary_cases[c].type);
      ck_assert_str_eq(deft_op_name(y.op), unary_cases[c].type); /* TF's default name */
      ck_assert_int_eq(deft_output_dtype(y), dt);
      deft_tensor *in = make(dt, dims, 2, act_vals);
      deft_tensor *out = run1(g, x, in, y);
      assert_shape(out, 2, dims);
      const deft_tensor *ins[1] = {in};
      expect_ref(&rb, unary_cases[c].label, unary_cases[c].numpy, ins, 1, out, 0,
                 pass ? 1e-14 : 1e-6, pass ? 1e-300 : 1e-30);
      deft_tensor_free(in);
      deft_tensor_free(out);
      deft_graph_free(g);
    }
  }
  check_refs(&rb);
}
END_TEST

/* float32 Tanh, Sigmoid and their gradients (vectorized loops) against the generic definition:
 * the element evaluated in double with libm and rounded once to float. Inputs sample every
 * float bit pattern with a fixed stride (so zeros, subnormals, the saturated ranges, infinities
 * and NaNs come in), at odd lengths (vector tails) and on 2 threads (split ranges). */
static double ref_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

START_TEST(tanh_sigmoid_float_match_double) {
  enum { N = 300007 };
  const int64_t dims[1] = {N};
  deft_tensor *xt = deft_tensor_new(DEFT_FLOAT, dims, 1, NULL),
              *gt = deft_tensor_new(DEFT_FLOAT, dims, 1, NULL);
  float *xv = deft_tensor_data(xt), *gv = deft_tensor_data(gt);
  for (int64_t i = 0; i < N; i++) {
    uint32_t u = (uint32_t)(i * 14327u);
    memcpy(&xv[i], &u, sizeof u);
    gv[i] = (float)((i % 2001) - 1000) * 0.001f;
  }
  xv[0] = 0.0f, xv[1] = -0.0f, xv[2] = INFINITY, xv[3] = -INFINITY, xv[4] = NAN;
  xv[5] = 1e-3f, xv[6] = -0.5f, xv[7] = 9.0f, xv[8] = -20.0f, xv[9] = -105.0f;
  for (int threads = 1; threads <= 2; threads++) {
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "x");
    deft_output dy = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "dy");
    deft_output f[4] = {deft_tanh(g, x, NULL), deft_sigmoid(g, x, NULL), {NULL, 0}, {NULL, 0}};
    /* the gradients take y in [-1, 1] (as Tanh's and Sigmoid's outputs are) */
    deft_output y = deft_tanh(g, dy, "y");
    f[2] = deft_tanh_grad(g, y, x, NULL);
    f[3] = deft_sigmoid_grad(g, y, x, NULL);
    ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(g, st);
    deft_session_set_threads(s, threads);
    deft_output feeds[2] = {x, dy};
    deft_tensor *in[2] = {xt, gt}, *out[5];
    deft_output fetch[5] = {f[0], f[1], f[2], f[3], y};
    for (int len = N; len >= N - 40; len -= 13) { /* the full array, then shorter ones */
      deft_tensor *ins[2] = {in[0], in[1]};
      if (len != N) {
        for (int k = 0; k < 2; k++) {
          ins[k] = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){len}, 1, NULL);
          memcpy(deft_tensor_data(ins[k]), deft_tensor_data(in[k]), sizeof(float) * (size_t)len);
        }
      }
      ck_assert_msg(deft_session_run(s, feeds, tu_feeds(ins), 2, fetch, out, 5, NULL, 0, st), "%s",
                    deft_status_message(st));
      const float *o[5];
      for (int k = 0; k < 5; k++) o[k] = deft_tensor_data(out[k]);
      /* one assertion at the end (check records every assertion it passes) */
      int64_t bad = 0, first = -1;
      int bad_k = 0;
      float bad_got = 0, bad_want = 0;
      for (int64_t i = 0; i < len; i++) {
        double xd = xv[i], yd = o[4][i];
        float want[4] = {(float)tanh(xd), (float)ref_sigmoid(xd), (float)(xd * (1 - yd * yd)),
                         (float)(xd * yd * (1 - yd))};
        for (int k = 0; k < 4; k++) {
          bool same =
              memcmp(&want[k], &o[k][i], sizeof(float)) == 0 || (isnan(want[k]) && isnan(o[k][i]));
          if (!same && bad++ == 0) first = i, bad_k = k, bad_got = o[k][i], bad_want = want[k];
        }
      }
      static const char *const what[4] = {"tanh", "sigmoid", "TanhGrad", "SigmoidGrad"};
      ck_assert_msg(bad == 0,
                    "%lld mismatches; the first: %s(%a) [%lld of %d, %d threads]: got %a, want %a",
                    (long long)bad, what[bad_k], first >= 0 ? (double)xv[first] : 0.0,
                    (long long)first, len, threads, (double)bad_got, (double)bad_want);
      for (int k = 0; k < 5; k++) deft_tensor_free(out[k]);
      if (len != N) deft_tensor_free(ins[0]), deft_tensor_free(ins[1]);
    }
    deft_session_free(s);
    deft_status_free(st);
    deft_graph_free(g);
  }
  deft_tensor_free(xt);
  deft_tensor_free(gt);
}
END_TEST

START_TEST(activations_hand_values) {
  /* Sigmoid/Tanh saturate without overflow; SELU constants; Relu on int32. */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(4), "x");
  deft_output fetch[3] = {deft_sigmoid(g, x, NULL), deft_tanh(g, x, NULL), deft_selu(g, x, NULL)};
  double v[4] = {-800, 800, 1, -1};
  int64_t d4[1] = {4};
  deft_tensor *in = make(DEFT_DOUBLE, d4, 1, v), *out[3];
  run(g, &x, &in, 1, fetch, out, 3);
  const double *sg = deft_tensor_data(out[0]), *th = deft_tensor_data(out[1]),
               *se = deft_tensor_data(out[2]);
  ck_assert(sg[0] == 0.0 && sg[1] == 1.0);
  ck_assert(th[0] == -1.0 && th[1] == 1.0);
  ck_assert(fabs(se[2] - 1.0507009873554805) < 1e-15);
  ck_assert(fabs(se[3] - 1.0507009873554805 * 1.6732632423543772 * (exp(-1) - 1)) < 1e-15);
  ck_assert(fabs(se[0] + 1.0507009873554805 * 1.6732632423543772) < 1e-14);
  for (int i = 0; i < 3; i++) deft_tensor_free(out[i]);
  deft_tensor_free(in);
  deft_graph_free(g);

  g = deft_graph_new();
  deft_output xi = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(4), "xi");
  deft_output r = deft_relu(g, xi, NULL);
  double iv[4] = {-5, 0, 3, -2147483647};
  in = make(DEFT_INT32, d4, 1, iv);
  deft_tensor *o = run1(g, xi, in, r);
  const int32_t *ri = deft_tensor_data(o);
  ck_assert(ri[0] == 0 && ri[1] == 0 && ri[2] == 3 && ri[3] == 0);
  deft_tensor_free(o);
  deft_tensor_free(in);
  deft_graph_free(g);
}
END_TEST

START_TEST(activations_zero_sized_and_scalar) {
  for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "x");
    deft_output y = unary_cases[c].ctor(g, x, "act");
    int64_t d0[2] = {0, 10};
    deft_tensor *in = make(DEFT_FLOAT, d0, 2, NULL);
    deft_tensor *out = run1(g, x, in, y);
    assert_shape(out, 2, d0);
    deft_tensor_free(in);
    deft_tensor_free(out);
    double one = 0.5;
    in = make(DEFT_FLOAT, NULL, 0, &one);
    out = run1(g, x, in, y);
    ck_assert_int_eq(deft_tensor_rank(out), 0);
    deft_tensor_free(in);
    deft_tensor_free(out);
    deft_graph_free(g);
  }
}
END_TEST

/* ---- gradient kernels ---- */

static const struct {
  const char *type;
  const char *numpy; /* x[0] = first input, x[1] = second */
  float alpha;
} grad_kernel_cases[] = {
    {"ReluGrad", "out = np.where(x[1] > 0, x[0], 0)", 0},
    {"EluGrad", "out = np.where(x[1] < 0, x[0] * (x[1] + 1), x[0])", 0},
    {"SeluGrad",
     "s, a = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717\n"
     "out = np.where(x[1] < 0, x[0] * (x[1] + s * a), x[0] * s)", 0},
    {"LeakyReluGrad", "out = np.where(x[1] > 0, x[0], x[0] * np.float64(np.float32(0.3)))", 0.3f},
    {"SigmoidGrad", "out = x[1] * x[0] * (1 - x[0])", 0},
    {"TanhGrad", "out = x[1] * (1 - x[0] * x[0])", 0},
};

static deft_output build_grad_kernel(deft_graph *g, int which, deft_output a, deft_output b) {
  switch (which) {
    case 0: return deft_relu_grad(g, a, b, NULL);
    case 1: return deft_elu_grad(g, a, b, NULL);
    case 2: return deft_selu_grad(g, a, b, NULL);
    case 3: return deft_leaky_relu_grad(g, a, b, grad_kernel_cases[3].alpha, NULL);
    case 4: return deft_sigmoid_grad(g, a, b, NULL);
    default: return deft_tanh_grad(g, a, b, NULL);
  }
}

START_TEST(grad_kernels_match_numpy) {
  static ref_batch rb;
  double av[NACT], bv[NACT];
  for (int i = 0; i < NACT; i++) {
    av[i] = 0.3 * i - 1.7;
    bv[i] = act_vals[i] / 10;
  }
  for (int c = 0; c < 6; c++) {
    for (int pass = 0; pass < 2; pass++) {
      deft_dtype dt = pass ? DEFT_DOUBLE : DEFT_FLOAT;
      deft_graph *g = deft_graph_new();
      int64_t dims[2] = {4, 3};
      deft_output a = deft_placeholder(g, dt, DEFT_SHAPE(4, 3), "a");
      deft_output b = deft_placeholder(g, dt, DEFT_SHAPE(4, 3), "b");
      deft_output y = build_grad_kernel(g, c, a, b);
      ck_assert_msg(deft_graph_ok(g), "%s: %s", grad_kernel_cases[c].type, graph_msg(g));
      ck_assert_str_eq(deft_op_type(y.op), grad_kernel_cases[c].type);
      ck_assert_str_eq(deft_op_name(y.op), grad_kernel_cases[c].type);
      deft_tensor *ta = make(dt, dims, 2, av), *tb = make(dt, dims, 2, bv), *out = NULL;
      deft_output feeds[2] = {a, b};
      deft_tensor *vals[2] = {ta, tb};
      run(g, feeds, vals, 2, &y, &out, 1);
      const deft_tensor *ins[2] = {ta, tb};
      expect_ref(&rb, grad_kernel_cases[c].type, grad_kernel_cases[c].numpy, ins, 2, out, 0,
                 pass ? 1e-14 : 1e-6, 1e-7);
      deft_tensor_free(ta);
      deft_tensor_free(tb);
      deft_tensor_free(out);
      deft_graph_free(g);
    }
  }
  check_refs(&rb);
}
END_TEST

/* Runs op's registered gradient function with incoming gradient `dy` inside the scope TF uses
 * (what deft_gradients does), storing the input gradients in dx. */
static void call_grad(deft_graph *g, deft_op *op, const deft_output *dys, deft_output *dx) {
  char scope[256];
  snprintf(scope, sizeof scope, "gradients/%s_grad", op->name);
  ck_assert_ptr_nonnull(op->reg->def->grad);
  ck_assert_ptr_nonnull(deft_graph_push_scope(g, scope));
  op->reg->def->grad(g, op, dys, dx);
  deft_graph_pop_scope(g);
}

START_TEST(activation_gradients_use_tf_kernels) {
  /* Relu/Elu/Selu/Sigmoid/Tanh feed their output to the grad kernel, LeakyRelu its input. */
  static const struct {
    int ctor;
    const char *grad_type;
    bool uses_output;
    int grad_input_slot; /* where the incoming gradient goes in the grad kernel */
  } cases[] = {{0, "ReluGrad", true, 0},    {1, "EluGrad", true, 0},
               {2, "SeluGrad", true, 0},    {3, "LeakyReluGrad", false, 0},
               {5, "SigmoidGrad", true, 1}, {6, "TanhGrad", true, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "x");
    deft_output y = unary_cases[cases[c].ctor].ctor(g, x, NULL);
    deft_output dy = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "dy");
    deft_output dx = {NULL, 0};
    call_grad(g, y.op, &dy, &dx);
    ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
    ck_assert_str_eq(deft_op_type(dx.op), cases[c].grad_type);
    char want[128];
    snprintf(want, sizeof want, "gradients/%s_grad/%s", deft_op_name(y.op), cases[c].grad_type);
    ck_assert_str_eq(deft_op_name(dx.op), want);
    deft_output gin = deft_op_input(dx.op, cases[c].grad_input_slot);
    deft_output other = deft_op_input(dx.op, 1 - cases[c].grad_input_slot);
    ck_assert_ptr_eq(gin.op, dy.op);
    ck_assert_ptr_eq(other.op, cases[c].uses_output ? y.op : x.op);
    if (cases[c].ctor == 3) {
      float alpha = 0;
      ck_assert(deft_op_attr_float(dx.op, "alpha", &alpha));
      ck_assert(alpha == 0.2f);
    }
    deft_graph_free(g);
  }
}
END_TEST

START_TEST(activation_gradients_numeric) {
  /* The gradient graphs compute the analytic derivative times dy (checked against NumPy). */
  static const char *const derivs[] = {
      "out = np.where(x[0] > 0, 1.0, 0.0) * x[1]",
      /* TF differentiates Elu/Selu through their outputs: y + 1, y + scale*alpha */
      "out = np.where(x[0] < 0, np.expm1(x[0]) + 1, 1.0) * x[1]",
      "s, a = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717\n"
      "out = np.where(x[0] < 0, s * a * np.expm1(x[0]) + s * a, s) * x[1]",
      "out = np.where(x[0] > 0, 1.0, np.float64(np.float32(0.2))) * x[1]",
      NULL,
      "sg = 1 / (1 + np.exp(-x[0]))\nout = sg * (1 - sg) * x[1]",
      "out = (1 - np.tanh(x[0]) ** 2) * x[1]",
  };
  static ref_batch rb;
  for (int c = 0; c < 7; c++) {
    if (!derivs[c]) continue;
    deft_graph *g = deft_graph_new();
    deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3, 4), "x");
    deft_output y = unary_cases[c].ctor(g, x, NULL);
    deft_output dy = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3, 4), "dy");
    deft_output dx = {NULL, 0};
    call_grad(g, y.op, &dy, &dx);
    int64_t dims[2] = {3, 4};
    double dyv[NACT];
    for (int i = 0; i < NACT; i++) dyv[i] = 0.5 + 0.25 * i;
    deft_tensor *tx = make(DEFT_DOUBLE, dims, 2, act_vals), *tdy = make(DEFT_DOUBLE, dims, 2, dyv);
    deft_output feeds[2] = {x, dy};
    deft_tensor *vals[2] = {tx, tdy}, *out = NULL;
    run(g, feeds, vals, 2, &dx, &out, 1);
    const deft_tensor *ins[2] = {tx, tdy};
    expect_ref(&rb, unary_cases[c].label, derivs[c], ins, 2, out, 0, 1e-12, 1e-300);
    deft_tensor_free(tx);
    deft_tensor_free(tdy);
    deft_tensor_free(out);
    deft_graph_free(g);
  }
  check_refs(&rb);
}
END_TEST

START_TEST(second_order_kernels_first_input) {
  /* ReluGrad/LeakyReluGrad's own gradient: the same kernel on the incoming gradient for input 0;
   * none for features (zero almost everywhere). */
  deft_graph *g = deft_graph_new();
  deft_output a = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3), "a");
  deft_output f = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3), "f");
  deft_output dy = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3), "dy");
  deft_output rg = deft_relu_grad(g, a, f, NULL);
  deft_output lg = deft_leaky_relu_grad(g, a, f, 0.5f, NULL);
  deft_output dx[2] = {{NULL, 0}, {NULL, 0}}, dl[2] = {{NULL, 0}, {NULL, 0}};
  call_grad(g, rg.op, &dy, dx);
  call_grad(g, lg.op, &dy, dl);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  ck_assert_str_eq(deft_op_type(dx[0].op), "ReluGrad");
  ck_assert_ptr_eq(deft_op_input(dx[0].op, 1).op, f.op);
  ck_assert_ptr_null(dx[1].op);
  ck_assert_str_eq(deft_op_type(dl[0].op), "LeakyReluGrad");
  ck_assert_ptr_null(dl[1].op);
  int64_t d3[1] = {3};
  double fv[3] = {-1, 2, 0}, dyv[3] = {10, 20, 30}, av[3] = {1, 1, 1};
  deft_tensor *tf = make(DEFT_DOUBLE, d3, 1, fv), *tdy = make(DEFT_DOUBLE, d3, 1, dyv),
              *ta = make(DEFT_DOUBLE, d3, 1, av), *out[2];
  deft_output feeds[3] = {f, dy, a};
  deft_tensor *vals[3] = {tf, tdy, ta};
  deft_output fetch[2] = {dx[0], dl[0]};
  run(g, feeds, vals, 3, fetch, out, 2);
  const double *r = deft_tensor_data(out[0]), *l = deft_tensor_data(out[1]);
  ck_assert(r[0] == 0 && r[1] == 20 && r[2] == 0);
  ck_assert(l[0] == 5 && l[1] == 20 && l[2] == 15);
  for (int i = 0; i < 2; i++) deft_tensor_free(out[i]);
  deft_tensor_free(tf);
  deft_tensor_free(tdy);
  deft_tensor_free(ta);
  deft_graph_free(g);
}
END_TEST

/* ---- BiasAdd / BiasAddGrad ---- */

static deft_output bias_add_fmt(deft_graph *g, deft_output v, deft_output b, const char *fmt) {
  deft_op_builder *bl = deft_op_builder_new(g, "BiasAdd", NULL);
  deft_op_builder_add_input(bl, v);
  deft_op_builder_add_input(bl, b);
  deft_op_builder_set_attr_string(bl, "data_format", fmt, strlen(fmt));
  deft_output o = {deft_op_builder_finish(bl), 0};
  return o;
}

static deft_output bias_add_grad_fmt(deft_graph *g, deft_output v, const char *fmt) {
  deft_op_builder *bl = deft_op_builder_new(g, "BiasAddGrad", NULL);
  deft_op_builder_add_input(bl, v);
  deft_op_builder_set_attr_string(bl, "data_format", fmt, strlen(fmt));
  deft_output o = {deft_op_builder_finish(bl), 0};
  return o;
}

START_TEST(bias_add_formats) {
  static const struct {
    const char *fmt;
    int rank;
    int64_t dims[4];
    int64_t ch;
    const char *fwd, *bwd;
  } cases[] = {
      {"NHWC", 2, {2, 3}, 3, "out = x[0] + x[1]", "out = x[0].sum(axis=0)"},
      {"NHWC", 4, {2, 2, 2, 3}, 3, "out = x[0] + x[1]", "out = x[0].sum(axis=(0, 1, 2))"},
      {"NCHW", 4, {2, 3, 2, 2}, 3, "out = x[0] + x[1].reshape(1, 3, 1, 1)",
       "out = x[0].sum(axis=(0, 2, 3))"},
      {"NCHW", 3, {2, 3, 4}, 3, "out = x[0] + x[1].reshape(1, 3, 1)",
       "out = x[0].sum(axis=(0, 2))"},
      {"NCHW", 2, {4, 3}, 3, "out = x[0] + x[1]", "out = x[0].sum(axis=0)"},
  };
  static ref_batch rb;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int pass = 0; pass < 2; pass++) {
      deft_dtype dt = pass ? DEFT_DOUBLE : DEFT_FLOAT;
      deft_graph *g = deft_graph_new();
      deft_output v = deft_placeholder(g, dt, deft_shape_make(cases[c].rank, cases[c].dims), "v");
      deft_output b = deft_placeholder(g, dt, DEFT_SHAPE(3), "b");
      deft_output y = bias_add_fmt(g, v, b, cases[c].fmt);
      deft_output gb = bias_add_grad_fmt(g, v, cases[c].fmt);
      ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
      deft_shape gs = deft_output_shape(gb);
      ck_assert(gs.rank == 1 && gs.dims[0] == 3);
      int64_t n = 1;
      for (int i = 0; i < cases[c].rank; i++) n *= cases[c].dims[i];
      double vv[48], bv[3] = {0.5, -1.25, 100};
      for (int64_t i = 0; i < n; i++) vv[i] = 0.1 * (double)i - 1;
      int64_t d3[1] = {3};
      deft_tensor *tv = make(dt, cases[c].dims, cases[c].rank, vv), *tb = make(dt, d3, 1, bv);
      deft_output feeds[2] = {v, b}, fetch[2] = {y, gb};
      deft_tensor *vals[2] = {tv, tb}, *out[2];
      run(g, feeds, vals, 2, fetch, out, 2);
      assert_shape(out[0], cases[c].rank, cases[c].dims);
      const deft_tensor *ins[2] = {tv, tb};
      expect_ref(&rb, cases[c].fmt, cases[c].fwd, ins, 2, out[0], 0, pass ? 1e-15 : 1e-6, 1e-6);
      expect_ref(&rb, cases[c].fmt, cases[c].bwd, ins, 1, out[1], 0, pass ? 1e-14 : 1e-6, 1e-5);
      deft_tensor_free(tv);
      deft_tensor_free(tb);
      deft_tensor_free(out[0]);
      deft_tensor_free(out[1]);
      deft_graph_free(g);
    }
  }
  check_refs(&rb);
}
END_TEST

START_TEST(bias_add_int_zero_sized_and_grad_graph) {
  deft_graph *g = deft_graph_new();
  deft_output v = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1, 2), "v");
  deft_output b = deft_const_int32_vector(g, (const int32_t[]){7, -7}, 2, "b");
  deft_output y = deft_bias_add(g, v, b, NULL);
  ck_assert_str_eq(deft_op_name(y.op), "BiasAdd");
  char fmt[64];
  ck_assert(deft_op_attr_format(y.op, "data_format", fmt, sizeof fmt));
  ck_assert_ptr_nonnull(strstr(fmt, "NHWC"));
  deft_shape s = deft_output_shape(y);
  ck_assert(s.rank == 2 && s.dims[0] == -1 && s.dims[1] == 2);
  double vv[4] = {1, 2, 3, 4};
  int64_t d[2] = {2, 2};
  deft_tensor *tv = make(DEFT_INT32, d, 2, vv);
  deft_tensor *out = run1(g, v, tv, y);
  const int32_t *o = deft_tensor_data(out);
  ck_assert(o[0] == 8 && o[1] == -5 && o[2] == 10 && o[3] == -3);
  deft_tensor_free(out);
  deft_tensor_free(tv);
  int64_t d0[2] = {0, 2};
  tv = make(DEFT_INT32, d0, 2, NULL);
  out = run1(g, v, tv, y);
  assert_shape(out, 2, d0);
  deft_tensor_free(out);
  deft_tensor_free(tv);
  deft_graph_free(g);

  /* BiasAdd's gradient: (grad, BiasAddGrad(grad)) with the forward op's data_format. */
  g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3, 2, 2), "x");
  deft_output bb = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(3), "bb");
  deft_output z = bias_add_fmt(g, x, bb, "NCHW");
  deft_output dy = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3, 2, 2), "dy");
  deft_output dx[2] = {{NULL, 0}, {NULL, 0}};
  call_grad(g, z.op, &dy, dx);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  ck_assert_ptr_eq(dx[0].op, dy.op);
  ck_assert_str_eq(deft_op_type(dx[1].op), "BiasAddGrad");
  ck_assert_str_eq(deft_op_name(dx[1].op), "gradients/BiasAdd_grad/BiasAddGrad");
  ck_assert(deft_op_attr_format(dx[1].op, "data_format", fmt, sizeof fmt));
  ck_assert_ptr_nonnull(strstr(fmt, "NCHW"));
  /* and the constructor deft_bias_add_grad builds NHWC */
  deft_output gg = deft_bias_add_grad(g, dy, NULL);
  ck_assert_str_eq(deft_op_name(gg.op), "BiasAddGrad");
  deft_shape gs = deft_output_shape(gg);
  ck_assert(gs.rank == 1 && gs.dims[0] == 2);
  deft_graph_free(g);
}
END_TEST

/* ---- Softmax ---- */

START_TEST(softmax_matches_numpy) {
  static const struct {
    const char *label;
    int rank;
    int64_t dims[3];
    double scale, offset;
  } cases[] = {
      {"3x5", 2, {3, 5}, 1, 0},       {"large 1e4", 2, {2, 6}, 1e4, 0},
      {"tiny", 2, {2, 6}, 1e-30, 0},  {"offset 1e4", 2, {2, 6}, 1, -1e4},
      {"1x1", 2, {1, 1}, 3, 0},       {"rank 3", 3, {2, 2, 3}, 2, 0},
      {"rank 1", 1, {7}, 1, 0},       {"wide 2x600", 2, {2, 600}, 3, 0},
      {"wide 1x2500", 2, {1, 2500}, 3, 0},
  };
  static ref_batch rb;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int pass = 0; pass < 2; pass++) {
      deft_dtype dt = pass ? DEFT_DOUBLE : DEFT_FLOAT;
      deft_graph *g = deft_graph_new();
      deft_output x = deft_placeholder(g, dt, deft_shape_unknown(), "x");
      deft_output y = deft_softmax(g, x, NULL);
      ck_assert_str_eq(deft_op_name(y.op), "Softmax");
      int64_t n = 1;
      for (int i = 0; i < cases[c].rank; i++) n *= cases[c].dims[i];
      double v[2600];
      for (int64_t i = 0; i < n; i++)
        v[i] = cases[c].offset + cases[c].scale * (double)((i * 7) % 5 - 2) * (i % 3 ? 1 : -0.5);
      deft_tensor *tx = make(dt, cases[c].dims, cases[c].rank, v);
      deft_tensor *out = run1(g, x, tx, y);
      assert_shape(out, cases[c].rank, cases[c].dims);
      const deft_tensor *ins[1] = {tx};
      expect_ref(&rb, cases[c].label,
                 "z = x[0] - x[0].max(axis=-1, keepdims=True)\n"
                 "e = np.exp(z)\nout = e / e.sum(axis=-1, keepdims=True)",
                 ins, 1, out, 0, pass ? 1e-13 : 1e-6, 1e-30);
      for (int64_t i = 0; i < n; i++) ck_assert(isfinite(deft_tensor_get_double(out, i)));
      deft_tensor_free(tx);
      deft_tensor_free(out);
      deft_graph_free(g);
    }
  }
  check_refs(&rb);
  /* zero-sized batch */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "x");
  deft_output y = deft_softmax(g, x, "probs");
  ck_assert_str_eq(deft_op_name(y.op), "probs");
  int64_t d0[2] = {0, 10};
  deft_tensor *tx = make(DEFT_FLOAT, d0, 2, NULL);
  deft_tensor *out = run1(g, x, tx, y);
  assert_shape(out, 2, d0);
  deft_tensor_free(tx);
  deft_tensor_free(out);
  deft_graph_free(g);
}
END_TEST

/* ---- SparseSoftmaxCrossEntropyWithLogits ---- */

static const char xent_torch[] =
    "import torch\n"
    "lg = torch.tensor(x[0], dtype=torch.float64, requires_grad=True)\n"
    "lb = torch.tensor(x[1].astype(np.int64))\n"
    "loss = torch.nn.functional.cross_entropy(lg, lb, reduction='none')\n"
    "loss.sum().backward()\n"
    "out = np.concatenate([loss.detach().numpy().ravel(), lg.grad.numpy().ravel()])\n";

static const char xent_numpy[] =
    "z = x[0] - x[0].max(axis=1, keepdims=True)\n"
    "lse = np.log(np.exp(z).sum(axis=1))\n"
    "lab = x[1].astype(np.int64)\n"
    "loss = lse - z[np.arange(len(lab)), lab]\n"
    "back = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n"
    "back[np.arange(len(lab)), lab] -= 1\n"
    "out = np.concatenate([loss.ravel(), back.ravel()])\n";

START_TEST(xent_matches_reference) {
  static const struct {
    const char *label;
    int64_t b, c;
    double scale;
    deft_dtype ldt;
    bool torch;
  } cases[] = {
      {"4x5 int64", 4, 5, 1, DEFT_INT64, true},  {"large 1e4", 3, 4, 1e4, DEFT_INT32, false},
      {"tiny", 3, 4, 1e-20, DEFT_INT64, false},  {"1x1", 1, 1, 5, DEFT_INT32, false},
      {"2x10", 2, 10, 3, DEFT_INT32, false}, {"3x300", 3, 300, 2, DEFT_INT32, false},
      {"1x2100", 1, 2100, 2, DEFT_INT64, false},
  };
  static ref_batch rb;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int pass = 0; pass < 2; pass++) {
      deft_dtype dt = pass ? DEFT_DOUBLE : DEFT_FLOAT;
      int64_t B = cases[c].b, C = cases[c].c;
      deft_graph *g = deft_graph_new();
      deft_output lg = deft_placeholder(g, dt, DEFT_SHAPE(-1, C), "logits");
      deft_output lb = deft_placeholder(g, cases[c].ldt, DEFT_SHAPE(-1), "labels");
      deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, NULL);
      ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
      deft_output back = {loss.op, 1};
      double lv[2100], labv[10];
      for (int64_t i = 0; i < B * C; i++)
        lv[i] = cases[c].scale * (double)((i * 5) % 7 - 3) * (i % 2 ? 1 : -0.75);
      for (int64_t i = 0; i < B; i++) labv[i] = (double)((i * 3 + 1) % C);
      int64_t dl[2] = {B, C};
      deft_tensor *tl = make(dt, dl, 2, lv), *tlab = make(cases[c].ldt, &B, 1, labv), *out[2];
      deft_output feeds[2] = {lg, lb}, fetch[2] = {loss, back};
      deft_tensor *vals[2] = {tl, tlab};
      run(g, feeds, vals, 2, fetch, out, 2);
      assert_shape(out[0], 1, &B);
      assert_shape(out[1], 2, dl);
      const deft_tensor *ins[2] = {tl, tlab};
      const char *code = cases[c].torch && pass ? xent_torch : xent_numpy;
      double rtol = pass ? 1e-12 : 2e-6;
      expect_ref(&rb, cases[c].label, code, ins, 2, out[0], 0, rtol, pass ? 1e-12 : 1e-6);
      expect_ref(&rb, cases[c].label, code, ins, 2, out[1], B, rtol, pass ? 1e-13 : 1e-7);
      for (int k = 0; k < 2; k++) deft_tensor_free(out[k]);
      deft_tensor_free(tl);
      deft_tensor_free(tlab);
      deft_graph_free(g);
    }
  }
  check_refs(&rb);
}
END_TEST

START_TEST(xent_hand_values_and_zero_batch) {
  /* logits [[0, 0]] label 1: loss ln 2, backprop [0.5, -0.5]; 1x1: loss 0, backprop 0;
   * huge gap: loss 2e4 exactly, no inf/NaN. */
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(-1, -1), "logits");
  deft_output lb = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "labels");
  deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, "xentropy");
  deft_output back = {loss.op, 1};
  struct {
    int64_t b, c;
    double logits[4], labels[2], loss[2], back[4];
  } cases[] = {
      {1, 2, {0, 0}, {1}, {0.69314718055994531}, {0.5, -0.5}},
      {1, 1, {123}, {0}, {0}, {0}},
      {2, 2, {1e4, -1e4, 3, 3}, {1, 0}, {2e4, 0.69314718055994531}, {1, -1, -0.5, 0.5}},
  };
  for (int c = 0; c < 3; c++) {
    int64_t dl[2] = {cases[c].b, cases[c].c};
    deft_tensor *tl = make(DEFT_DOUBLE, dl, 2, cases[c].logits),
                *tb = make(DEFT_INT64, dl, 1, cases[c].labels), *out[2];
    deft_output feeds[2] = {lg, lb}, fetch[2] = {loss, back};
    deft_tensor *vals[2] = {tl, tb};
    run(g, feeds, vals, 2, fetch, out, 2);
    assert_close(out[0], cases[c].loss, cases[c].b, 1e-15, 1e-15, "loss");
    assert_close(out[1], cases[c].back, cases[c].b * cases[c].c, 1e-15, 1e-15, "backprop");
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
    deft_tensor_free(tl);
    deft_tensor_free(tb);
  }
  /* zero-sized batch [0, 10] */
  int64_t d0[2] = {0, 10}, z = 0;
  deft_tensor *tl = make(DEFT_DOUBLE, d0, 2, NULL), *tb = make(DEFT_INT64, &z, 1, NULL), *out[2];
  deft_output feeds[2] = {lg, lb}, fetch[2] = {loss, back};
  deft_tensor *vals[2] = {tl, tb};
  run(g, feeds, vals, 2, fetch, out, 2);
  assert_shape(out[0], 1, &z);
  assert_shape(out[1], 2, d0);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(tl);
  deft_tensor_free(tb);
  deft_graph_free(g);
}
END_TEST

/* Rows holding a NaN or an infinity: the float kernels take libm's path there, so the row's
 * results are NaN as in the double kernel (and as NumPy: inf - inf), while the finite rows of
 * the same batch keep their values. */
START_TEST(softmax_and_xent_non_finite_rows) {
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "logits");
  deft_output lb = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "labels");
  deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, NULL);
  deft_output back = {loss.op, 1};
  deft_output sm = deft_softmax(g, lg, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  double lv[12] = {0, NAN, 1, INFINITY, 0, 1, 0, 0, 0, -INFINITY, 0, 0};
  double labv[4] = {0, 1, 2, 0};
  int64_t dl[2] = {4, 3}, b = 4;
  deft_tensor *tl = make(DEFT_FLOAT, dl, 2, lv), *tlab = make(DEFT_INT32, &b, 1, labv), *out[3];
  deft_output feeds[2] = {lg, lb}, fetch[3] = {loss, back, sm};
  deft_tensor *vals[2] = {tl, tlab};
  run(g, feeds, vals, 2, fetch, out, 3);
  for (int r = 0; r < 2; r++) {
    ck_assert(isnan(deft_tensor_get_double(out[0], r)));
    for (int j = 0; j < 3; j++) {
      ck_assert(isnan(deft_tensor_get_double(out[1], r * 3 + j)));
      ck_assert(isnan(deft_tensor_get_double(out[2], r * 3 + j)));
    }
  }
  /* [0, 0, 0]: loss ln 3; [-inf, 0, 0] with label 0: loss inf, probabilities [0, 1/2, 1/2] */
  ck_assert_float_eq_tol(deft_tensor_get_double(out[0], 2), 1.0986123, 1e-6);
  ck_assert(isinf(deft_tensor_get_double(out[0], 3)));
  double want_sm[6] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0.5, 0.5};
  double want_back[6] = {1.0 / 3, 1.0 / 3, 1.0 / 3 - 1, -1, 0.5, 0.5};
  for (int j = 0; j < 6; j++) {
    ck_assert_float_eq_tol(deft_tensor_get_double(out[2], 6 + j), want_sm[j], 1e-7);
    ck_assert_float_eq_tol(deft_tensor_get_double(out[1], 6 + j), want_back[j], 1e-7);
  }
  for (int k = 0; k < 3; k++) deft_tensor_free(out[k]);
  deft_tensor_free(tl);
  deft_tensor_free(tlab);
  deft_graph_free(g);
}
END_TEST

START_TEST(xent_names_shapes_and_gradient_graph) {
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "logits");
  deft_output lb = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  ck_assert_str_eq(deft_op_name(loss.op),
                   "SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits");
  ck_assert_ptr_nonnull(
      deft_graph_op_by_name(g, "SparseSoftmaxCrossEntropyWithLogits/Shape"));
  deft_dtype tl = DEFT_INVALID_DTYPE;
  ck_assert(deft_op_attr_type(loss.op, "Tlabels", &tl));
  ck_assert_int_eq(tl, DEFT_INT32);
  deft_shape s0 = deft_output_shape(loss), s1 = deft_output_shape(deft_op_output(loss.op, 1));
  ck_assert(s0.rank == 1 && s0.dims[0] == -1);
  ck_assert(s1.rank == 2 && s1.dims[0] == -1 && s1.dims[1] == 10);
  deft_output named = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, "xentropy");
  ck_assert_str_eq(deft_op_name(named.op), "xentropy/xentropy");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "xentropy/Shape"));

  /* The gradient: PreventGradient(backprop) * ExpandDims(grad, -1); labels get none. */
  deft_output dy = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "dy");
  deft_output dx[2] = {{NULL, 0}, {NULL, 0}};
  deft_output dys[2] = {dy, {NULL, 0}};
  char scope[64];
  snprintf(scope, sizeof scope, "gradients/xentropy_grad");
  ck_assert_ptr_nonnull(deft_graph_push_scope(g, scope));
  named.op->reg->def->grad(g, named.op, dys, dx);
  deft_graph_pop_scope(g);
  ck_assert_ptr_null(dx[1].op);
  deft_op *pg = deft_graph_op_by_name(g, "gradients/xentropy_grad/PreventGradient");
  ck_assert_ptr_nonnull(pg);
  ck_assert_str_eq(deft_op_type(pg), "PreventGradient");
  ck_assert_ptr_eq(deft_op_input(pg, 0).op, named.op);
  ck_assert_int_eq(deft_op_input(pg, 0).index, 1);
  const char *msg = NULL;
  ck_assert(deft_op_attr_string(pg, "message", &msg, NULL));
  ck_assert_str_eq(msg, "Currently there is no way to take the second derivative of "
                        "sparse_softmax_cross_entropy_with_logits due to the fused "
                        "implementation's interaction with tf.gradients()");
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/xentropy_grad/mul");
  ck_assert_str_eq(deft_op_type(dx[0].op), "Mul");
  deft_op *ed = deft_graph_op_by_name(g, "gradients/xentropy_grad/ExpandDims");
  ck_assert_ptr_nonnull(ed);
  ck_assert_str_eq(deft_op_type(ed), "ExpandDims");
  ck_assert_ptr_eq(deft_op_input(ed, 0).op, dy.op);
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "gradients/xentropy_grad/ExpandDims/dim"));
  /* numerically: dy[:, None] * (softmax - onehot) */
  int64_t dl[2] = {2, 10}, d2 = 2;
  double lv[20], labs[2] = {3, 9}, dyv[2] = {2, -0.5};
  for (int i = 0; i < 20; i++) lv[i] = 0.1 * i * (i % 3 ? 1 : -1);
  deft_tensor *tlg = make(DEFT_FLOAT, dl, 2, lv), *tb = make(DEFT_INT32, &d2, 1, labs),
              *tdy = make(DEFT_FLOAT, &d2, 1, dyv), *out[2];
  deft_output feeds[3] = {lg, lb, dy}, fetch[2] = {dx[0], {named.op, 1}};
  deft_tensor *vals[3] = {tlg, tb, tdy};
  run(g, feeds, vals, 3, fetch, out, 2);
  const float *gx = deft_tensor_data(out[0]), *bp = deft_tensor_data(out[1]);
  for (int i = 0; i < 20; i++) ck_assert(gx[i] == (float)(dyv[i / 10] * bp[i]));
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(tlg);
  deft_tensor_free(tb);
  deft_tensor_free(tdy);
  deft_graph_free(g);
}
END_TEST

START_TEST(xent_no_second_derivative) {
  /* tf.gradients through the xent gradient hits PreventGradient, as in TF 1.x. */
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "logits");
  deft_output lb = deft_const_int32_vector(g, (const int32_t[]){0, 2}, 2, "labels");
  deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, NULL);
  deft_output d1 = {NULL, 0}, d2 = {NULL, 0};
  ck_assert(deft_gradients(g, &loss, 1, &lg, 1, NULL, &d1));
  ck_assert_ptr_nonnull(d1.op);
  ck_assert(!deft_gradients(g, &d1, 1, &lg, 1, NULL, &d2));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "PreventGradient",
                   "second derivative of sparse_softmax_cross_entropy_with_logits");
  deft_graph_free(g);
}
END_TEST

START_TEST(softmax_gradient_graph) {
  /* TF: (grad - reduce_sum(grad * y, -1, keepdims=True)) * y, with TF's node names. */
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(-1, 4), "x");
  deft_output y = deft_softmax(g, x, NULL);
  deft_output dy = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(-1, 4), "dy");
  deft_output dx = {NULL, 0};
  call_grad(g, y.op, &dy, &dx);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  static const char *const names[][2] = {
      {"gradients/Softmax_grad/mul", "Mul"},
      {"gradients/Softmax_grad/Sum/reduction_indices", "Const"},
      {"gradients/Softmax_grad/Sum", "Sum"},
      {"gradients/Softmax_grad/sub", "Sub"},
      {"gradients/Softmax_grad/mul_1", "Mul"},
  };
  for (int i = 0; i < 5; i++) {
    deft_op *op = deft_graph_op_by_name(g, names[i][0]);
    ck_assert_msg(op != NULL, "missing %s", names[i][0]);
    ck_assert_str_eq(deft_op_type(op), names[i][1]);
  }
  ck_assert_str_eq(deft_op_name(dx.op), "gradients/Softmax_grad/mul_1");
  bool keep = false;
  ck_assert(deft_op_attr_bool(deft_graph_op_by_name(g, "gradients/Softmax_grad/Sum"),
                              "keep_dims", &keep) && keep);
  int64_t d[2] = {3, 4};
  double xv[12], dyv[12];
  for (int i = 0; i < 12; i++) {
    xv[i] = act_vals[i] / 7;
    dyv[i] = 0.25 * i - 1;
  }
  deft_tensor *tx = make(DEFT_DOUBLE, d, 2, xv), *tdy = make(DEFT_DOUBLE, d, 2, dyv), *out = NULL;
  deft_output feeds[2] = {x, dy};
  deft_tensor *vals[2] = {tx, tdy};
  run(g, feeds, vals, 2, &dx, &out, 1);
  static ref_batch rb;
  const deft_tensor *ins[2] = {tx, tdy};
  expect_ref(&rb, "softmax grad",
             "e = np.exp(x[0] - x[0].max(axis=1, keepdims=True))\n"
             "y = e / e.sum(axis=1, keepdims=True)\n"
             "out = (x[1] - (x[1] * y).sum(axis=1, keepdims=True)) * y",
             ins, 2, out, 0, 1e-12, 1e-15);
  check_refs(&rb);
  deft_tensor_free(tx);
  deft_tensor_free(tdy);
  deft_tensor_free(out);
  deft_graph_free(g);
}
END_TEST

/* ---- InTopK ---- */

static deft_output in_top_k_v1(deft_graph *g, deft_output p, deft_output t, int64_t k) {
  deft_op_builder *b = deft_op_builder_new(g, "InTopK", NULL);
  deft_op_builder_add_input(b, p);
  deft_op_builder_add_input(b, t);
  deft_op_builder_set_attr_int(b, "k", k);
  deft_output o = {deft_op_builder_finish(b), 0};
  return o;
}

START_TEST(in_top_k_semantics) {
  /* Rows: ties straddling the boundary count as in; NaN/inf anywhere -> false; out-of-range
   * target -> false. */
  const double inf = INFINITY;
  double p[6 * 4] = {
      0.1, 0.5, 0.5, 0.2,  /* target 2: tie with class 1 */
      0.9, 0.5, 0.5, 0.2,  /* target 2: one larger, tie */
      0.9, 0.8, 0.7, 0.6,  /* target 3: three larger */
      0.1, NAN, 0.3, 0.2,  /* target 2, NaN elsewhere */
      0.1, 0.2, inf, 0.0,  /* target 1, inf elsewhere */
      0.1, 0.2, 0.3, 0.4,  /* target 4: out of range */
  };
  double t[6] = {2, 2, 3, 2, 1, 4};
  /* expected for k = 0, 1, 2, 4 */
  static const bool want[4][6] = {
      {false, false, false, false, false, false},
      {true, false, false, false, false, false},
      {true, true, false, false, false, false},
      {true, true, true, false, false, false},
  };
  static const int64_t ks[4] = {0, 1, 2, 4};
  for (int dtv = 0; dtv < 2; dtv++) {
    deft_dtype tdt = dtv ? DEFT_INT64 : DEFT_INT32;
    for (int ki = 0; ki < 4; ki++) {
      for (int v2 = 0; v2 < 2; v2++) {
        deft_graph *g = deft_graph_new();
        deft_output pp = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 4), "p");
        deft_output tt = deft_placeholder(g, tdt, DEFT_SHAPE(-1), "t");
        deft_output r =
            v2 ? deft_in_top_k(g, pp, tt, ks[ki], NULL) : in_top_k_v1(g, pp, tt, ks[ki]);
        ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
        ck_assert_int_eq(deft_output_dtype(r), DEFT_BOOL);
        int64_t dp[2] = {6, 4}, d6 = 6;
        deft_tensor *out = run2(g, pp, make(DEFT_FLOAT, dp, 2, p), tt, make(tdt, &d6, 1, t), r);
        const bool *o = deft_tensor_data(out);
        for (int i = 0; i < 6; i++)
          ck_assert_msg(o[i] == want[ki][i], "k=%lld row %d: got %d (v2=%d)",
                        (long long)ks[ki], i, o[i], v2);
        deft_tensor_free(out);
        deft_graph_free(g);
      }
    }
  }
}
END_TEST

START_TEST(in_top_k_names_and_numpy) {
  deft_graph *g = deft_graph_new();
  deft_output pp = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "logits");
  deft_output tt = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "y");
  deft_output r = deft_in_top_k(g, pp, tt, 3, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  ck_assert_str_eq(deft_op_name(r.op), "in_top_k/InTopKV2");
  ck_assert_str_eq(deft_op_type(r.op), "InTopKV2");
  deft_op *k = deft_graph_op_by_name(g, "in_top_k/InTopKV2/k");
  ck_assert_ptr_nonnull(k);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(k, 0)), DEFT_INT64);
  deft_output r2 = deft_in_top_k(g, pp, tt, 1, NULL);
  ck_assert_str_eq(deft_op_name(r2.op), "in_top_k_1/InTopKV2");
  deft_output r3 = deft_in_top_k(g, pp, tt, 1, "correct");
  ck_assert_str_eq(deft_op_name(r3.op), "correct/correct");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "correct/correct/k"));
  deft_shape s = deft_output_shape(r);
  ck_assert(s.rank == 1 && s.dims[0] == -1);
  /* 1x1 and random rows against NumPy */
  double pv[50], tv[5];
  for (int i = 0; i < 50; i++) pv[i] = (double)((i * 37) % 11) / 4;
  for (int i = 0; i < 5; i++) tv[i] = (double)((i * 7) % 10);
  int64_t dp[2] = {5, 10}, d5 = 5;
  deft_tensor *tp = make(DEFT_FLOAT, dp, 2, pv), *tg = make(DEFT_INT64, &d5, 1, tv), *out = NULL;
  deft_output feeds[2] = {pp, tt};
  deft_tensor *vals[2] = {tp, tg};
  run(g, feeds, vals, 2, &r, &out, 1);
  static ref_batch rb;
  const deft_tensor *ins[2] = {tp, tg};
  expect_ref(&rb, "in_top_k k=3",
             "t = x[1].astype(np.int64)\nrow = x[0][np.arange(len(t)), t]\n"
             "out = ((x[0] > row[:, None]).sum(axis=1) < 3).astype(np.float64)",
             ins, 2, out, 0, 0, 0);
  check_refs(&rb);
  deft_tensor_free(tp);
  deft_tensor_free(tg);
  deft_tensor_free(out);
  deft_graph_free(g);

  /* 1x1 and a zero-sized batch */
  g = deft_graph_new();
  pp = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, -1), "p");
  tt = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "t");
  r = deft_in_top_k(g, pp, tt, 1, NULL);
  double one = 2.5, zero = 0;
  int64_t d11[2] = {1, 1}, d1 = 1, d0[2] = {0, 10}, z = 0;
  out = run2(g, pp, make(DEFT_FLOAT, d11, 2, &one), tt, make(DEFT_INT32, &d1, 1, &zero), r);
  ck_assert(((const bool *)deft_tensor_data(out))[0]);
  deft_tensor_free(out);
  out = run2(g, pp, make(DEFT_FLOAT, d0, 2, NULL), tt, make(DEFT_INT32, &z, 1, NULL), r);
  assert_shape(out, 1, &z);
  deft_tensor_free(out);
  deft_graph_free(g);
}
END_TEST

/* ---- error paths ---- */

START_TEST(error_bias_add_build_time) {
  deft_graph *g = deft_graph_new();
  deft_output v = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "dense/MatMul");
  deft_output b = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4), 0, "dense/bias");
  int before = deft_graph_num_ops(g);
  deft_output y = deft_bias_add(g, v, b, NULL);
  ck_assert_ptr_null(y.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BiasAdd 'BiasAdd'",
                   "'dense/bias:0'", "[4]", "'dense/MatMul:0'", "[?,3]", "3 channels");
  ck_assert_int_eq(deft_graph_num_ops(g), before);
  /* later constructors fed the invalid output do nothing */
  ck_assert_ptr_null(deft_relu(g, y, NULL).op);
  deft_graph_clear_error(g);

  deft_output b2 = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(1, 3), 0, "b2");
  ck_assert_ptr_null(deft_bias_add(g, v, b2, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "bias must be 1-D", "'b2:0'");
  deft_graph_clear_error(g);

  deft_output v1 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "v1");
  deft_output b3 = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3), 0, "b3");
  ck_assert_ptr_null(deft_bias_add(g, v1, b3, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "at least 2-D", "'v1:0'");
  deft_graph_clear_error(g);

  deft_output vd = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "vd");
  ck_assert_ptr_null(deft_bias_add(g, vd, b3, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "input 1", "DT_FLOAT",
                   "DT_DOUBLE");
  deft_graph_clear_error(g);

  /* NCHW: the channel is dimension 1 */
  deft_output v4 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5, 4, 3), "v4");
  ck_assert_ptr_null(bias_add_fmt(g, v4, b3, "NCHW").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "5 channels in dimension 1",
                   "NCHW");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(bias_add_fmt(g, v4, b3, "NCWH").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "data_format", "NCWH");
  deft_graph_free(g);
}
END_TEST

START_TEST(error_bias_add_run_time) {
  deft_graph *g = deft_graph_new();
  deft_output v = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "v");
  deft_output b = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "b");
  deft_output y = bias_add_fmt(g, v, b, "NCHW");
  int64_t dv[4] = {1, 2, 3, 3}, db = 3;
  deft_status *st = run2_fail(g, v, make(DEFT_FLOAT, dv, 4, (double[18]){0}), b,
                              make(DEFT_FLOAT, &db, 1, (double[3]){0}), y);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "BiasAdd 'BiasAdd'", "[3]", "[1,2,3,3]",
                   "2 channels in dimension 1");
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_xent_build_time) {
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "logits");
  deft_output lb2 = deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1, 1), "y2");
  int before = deft_graph_num_ops(g);
  ck_assert_ptr_null(deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb2, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT,
                   "SparseSoftmaxCrossEntropyWithLogits", "labels (input 1) must be 1-D",
                   "'y2:0'", "[?,1]");
  ck_assert_int_eq(deft_graph_num_ops(g), before);
  deft_graph_clear_error(g);

  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(32, 10), "a");
  deft_output lb = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(16), "lb");
  ck_assert_ptr_null(deft_sparse_softmax_cross_entropy_with_logits(g, a, lb, "xent").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'xent'", "same batch size",
                   "[32,10]", "[16]");
  deft_graph_clear_error(g);

  deft_output r3 = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 4), "r3");
  ck_assert_ptr_null(deft_sparse_softmax_cross_entropy_with_logits(g, r3, lb, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "logits (input 0) must be 2-D",
                   "[2,3,4]");
  deft_graph_clear_error(g);

  deft_output lf = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(32), "lf");
  before = deft_graph_num_ops(g);
  ck_assert_ptr_null(deft_sparse_softmax_cross_entropy_with_logits(g, a, lf, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Tlabels", "'lf:0'", "float");
  ck_assert_int_eq(deft_graph_num_ops(g), before);
  deft_graph_clear_error(g);

  /* a raw op built with the builder gets the same check from the shape function */
  deft_op_builder *bl = deft_op_builder_new(g, "SparseSoftmaxCrossEntropyWithLogits", "raw");
  deft_op_builder_add_input(bl, a);
  deft_op_builder_add_input(bl, lb);
  ck_assert_ptr_null(deft_op_builder_finish(bl));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT,
                   "SparseSoftmaxCrossEntropyWithLogits 'raw'", "same batch size");
  deft_graph_free(g);
}
END_TEST

START_TEST(error_xent_run_time) {
  deft_graph *g = deft_graph_new();
  deft_output lg = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "logits");
  deft_output lb = deft_placeholder(g, DEFT_INT32, deft_shape_unknown(), "labels");
  deft_output loss = deft_sparse_softmax_cross_entropy_with_logits(g, lg, lb, "xentropy");
  int64_t dl[2] = {3, 5}, d3 = 3, d2 = 2, dz[2] = {3, 0};
  double lv[15] = {0};
  deft_status *st = run2_fail(g, lg, make(DEFT_FLOAT, dl, 2, lv), lb,
                              make(DEFT_INT32, &d3, 1, (double[3]){1, 5, 0}), loss);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'xentropy/xentropy'", "row 1", "label value 5",
                   "[0, 5)");
  deft_status_free(st);
  st = run2_fail(g, lg, make(DEFT_FLOAT, dl, 2, lv), lb,
                 make(DEFT_INT32, &d3, 1, (double[3]){1, 0, -1}), loss);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "row 2", "label value -1");
  deft_status_free(st);
  /* batch mismatch with unknown build-time shapes */
  st = run2_fail(g, lg, make(DEFT_FLOAT, dl, 2, lv), lb,
                 make(DEFT_INT32, &d2, 1, (double[2]){1, 0}), loss);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "same batch size", "[3,5]", "[2]");
  deft_status_free(st);
  /* no classes */
  st = run2_fail(g, lg, make(DEFT_FLOAT, dz, 2, NULL), lb,
                 make(DEFT_INT32, &d3, 1, (double[3]){0, 0, 0}), loss);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "at least one class", "[3,0]");
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_dtypes_and_shapes) {
  deft_graph *g = deft_graph_new();
  deft_output xi = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(3), "xi");
  ck_assert_ptr_null(deft_leaky_relu(g, xi, 0.2f, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "LeakyRelu 'LeakyRelu'",
                   "DT_INT32", "not an allowed type");
  deft_graph_clear_error(g);
  ck_assert_ptr_null(deft_sigmoid(g, xi, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Sigmoid", "DT_INT32");
  deft_graph_clear_error(g);

  deft_output a = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "a");
  deft_output b = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 2), "b");
  ck_assert_ptr_null(deft_relu_grad(g, a, b, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ReluGrad 'ReluGrad'",
                   "incompatible shapes", "'a:0'", "'b:0'");
  deft_graph_clear_error(g);

  deft_output s = deft_const_float(g, 1.0f, "s");
  ck_assert_ptr_null(deft_softmax(g, s, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Softmax 'Softmax'",
                   "at least 1 dimension", "'s:0'");
  deft_graph_clear_error(g);

  deft_output pd = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "pd");
  deft_output t = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2), "t");
  int before = deft_graph_num_ops(g);
  ck_assert_ptr_null(deft_in_top_k(g, pd, t, 1, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "InTopKV2 'in_top_k'",
                   "predictions", "must be float", "double");
  ck_assert_int_eq(deft_graph_num_ops(g), before);
  deft_graph_clear_error(g);
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 3), "p");
  ck_assert_ptr_null(deft_in_top_k(g, p, t, 1, "acc").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "InTopKV2 'acc'",
                   "same batch size", "[4,3]", "[2]");
  ck_assert_int_eq(deft_graph_num_ops(g), before + 1);
  deft_graph_free(g);
}
END_TEST

START_TEST(error_run_time_kernels) {
  /* InTopKV2 with negative k; TanhGrad shape mismatch hidden at build time. */
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "p");
  deft_output t = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "t");
  deft_output r = deft_in_top_k(g, p, t, -1, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", graph_msg(g));
  int64_t dp[2] = {1, 3}, d1 = 1, d2 = 2, d3 = 3;
  deft_status *st = run2_fail(g, p, make(DEFT_FLOAT, dp, 2, (double[3]){1, 2, 3}), t,
                              make(DEFT_INT32, &d1, 1, (double[1]){0}), r);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "InTopKV2 'in_top_k/InTopKV2'",
                   "k must be non-negative", "-1");
  deft_status_free(st);
  deft_output a = deft_placeholder(g, DEFT_DOUBLE, deft_shape_unknown(), "a");
  deft_output b = deft_placeholder(g, DEFT_DOUBLE, deft_shape_unknown(), "b");
  deft_output rg = deft_tanh_grad(g, a, b, NULL);
  st = run2_fail(g, a, make(DEFT_DOUBLE, &d2, 1, (double[2]){0}), b,
                 make(DEFT_DOUBLE, &d3, 1, (double[3]){0}), rg);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "TanhGrad 'TanhGrad'", "same shape", "[2]", "[3]");
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(registry_marks) {
  /* Every nn op is in the registry with a gradient or the not-differentiable mark. */
  static const char *const diff[] = {"BiasAdd", "BiasAddGrad", "Relu", "ReluGrad", "Elu",
                                     "EluGrad", "Selu", "SeluGrad", "LeakyRelu", "LeakyReluGrad",
                                     "Sigmoid", "SigmoidGrad", "Tanh", "TanhGrad", "Softmax",
                                     "SparseSoftmaxCrossEntropyWithLogits"};
  for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++) {
    const deft_op_reg *r = deft_registry_lookup(diff[i]);
    ck_assert_msg(r != NULL, "%s not registered", diff[i]);
    ck_assert_msg(r->def->grad != NULL && !(r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE), "%s",
                  diff[i]);
    ck_assert_ptr_nonnull(r->def->kernel);
  }
  static const char *const nodiff[] = {"InTopK", "InTopKV2"};
  for (int i = 0; i < 2; i++) {
    const deft_op_reg *r = deft_registry_lookup(nodiff[i]);
    ck_assert_ptr_nonnull(r);
    ck_assert(r->def->grad == NULL && (r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE));
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("nn_ops");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, activations_match_numpy);
  tcase_add_test(tc, activations_hand_values);
  tcase_add_test(tc, tanh_sigmoid_float_match_double);
  tcase_add_test(tc, activations_zero_sized_and_scalar);
  tcase_add_test(tc, grad_kernels_match_numpy);
  tcase_add_test(tc, activation_gradients_use_tf_kernels);
  tcase_add_test(tc, activation_gradients_numeric);
  tcase_add_test(tc, second_order_kernels_first_input);
  tcase_add_test(tc, bias_add_formats);
  tcase_add_test(tc, bias_add_int_zero_sized_and_grad_graph);
  tcase_add_test(tc, softmax_matches_numpy);
  tcase_add_test(tc, xent_matches_reference);
  tcase_add_test(tc, xent_hand_values_and_zero_batch);
  tcase_add_test(tc, softmax_and_xent_non_finite_rows);
  tcase_add_test(tc, xent_names_shapes_and_gradient_graph);
  tcase_add_test(tc, softmax_gradient_graph);
  tcase_add_test(tc, xent_no_second_derivative);
  tcase_add_test(tc, in_top_k_semantics);
  tcase_add_test(tc, in_top_k_names_and_numpy);
  tcase_add_test(tc, registry_marks);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("errors");
  tcase_add_test(te, error_bias_add_build_time);
  tcase_add_test(te, error_bias_add_run_time);
  tcase_add_test(te, error_xent_build_time);
  tcase_add_test(te, error_xent_run_time);
  tcase_add_test(te, error_dtypes_and_shapes);
  tcase_add_test(te, error_run_time_kernels);
  suite_add_tcase(s, te);
  return s;
}

int main(void) { return tu_run_suite(make_suite()); }
