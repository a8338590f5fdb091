/* tests/math_testutil.c - helpers shared by the math suites. */
#include "math_testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/ops.h"
#include "deft/session.h"
#include "base/tensor_internal.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

double mtu_urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

bool mtu_is_int(deft_dtype t) { return t == DEFT_INT32 || t == DEFT_INT64 || t == DEFT_UINT8; }

void mtu_set_elem(deft_tensor *t, int64_t i, double v) {
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
deft_tensor *mtu_rand_tensor(deft_dtype dt, deft_shape s, double lo, double hi, bool whole,
                         bool nonzero) {
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < t->n; i++) {
    double v = lo + (hi - lo) * mtu_urand();
    if (whole || mtu_is_int(dt)) v = floor(v + 0.5);
    if (nonzero && fabs(v) < 0.5) v = v < 0 ? -1 : 1;
    mtu_set_elem(t, i, v);
  }
  return t;
}

deft_tensor *mtu_from_values(deft_dtype dt, deft_shape s, const double *v) {
  deft_tensor *t = deft_tensor_new(dt, s.dims, s.rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < t->n; i++) mtu_set_elem(t, i, v[i]);
  return t;
}

/* Runs `fetch` with feeds; returns the value or NULL with st set. */
deft_tensor *mtu_run(deft_graph *g, deft_output fetch, const deft_output *feeds,
                 deft_tensor *const *vals, int nfeeds, int threads, deft_status *st) {
  deft_session *s = deft_session_new(g, st);
  if (!s) return NULL;
  deft_session_set_threads(s, threads);
  deft_tensor *out = NULL;
  deft_session_run(s, feeds, tu_feeds(vals), nfeeds, &fetch, &out, 1, NULL, 0, st);
  deft_session_free(s);
  return out;
}

deft_tensor *mtu_run_ok(deft_graph *g, deft_output fetch, const deft_output *feeds,
                    deft_tensor *const *vals, int nfeeds) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_graph_ok(g), "build failed: %s", deft_status_message(deft_graph_status(g)));
  deft_tensor *out = mtu_run(g, fetch, feeds, vals, nfeeds, 1, st);
  ck_assert_msg(out != NULL, "run failed: %s", deft_status_message(st));
  deft_status_free(st);
  return out;
}

const char *mtu_np_dtype(deft_dtype t) {
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

void mtu_np_run(np_case *cases, int n) {
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
      len += (size_t)snprintf(script + len, cap - len,
                              "%c = load(d + '/b%d_c%d_%d.bin', %s, '%s')\n", names[i], batch, k, i,
                              shape, cases[k].f64 ? "float64" : mtu_np_dtype(t->dtype));
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

void mtu_np_free(np_case *cases, int n) {
  for (int k = 0; k < n; k++) deft_tensor_free(cases[k].want);
}

/* Checks got against want (float64): shapes equal; |g - w| <= atol + rtol |w|; NaNs and
 * infinities must match. */
void mtu_check_close(const deft_tensor *got, const deft_tensor *want, double rtol, double atol,
                 const char *label) {
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

double mtu_rtol_of(deft_dtype t) {
  return t == DEFT_FLOAT ? 2e-6 : t == DEFT_DOUBLE ? 1e-13 : 0;
}

deft_output mtu_ph(deft_graph *g, deft_dtype dt, deft_shape s, const char *name) {
  return deft_placeholder(g, dt, s, name);
}
