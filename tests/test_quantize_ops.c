/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_quantize_ops.c - ops/quantize_ops.c and the quantized dtypes: QuantizeV2 and
 * Dequantize in MIN_COMBINED, MIN_FIRST and SCALED modes for qint8, quint8 and qint32 against
 * the NumPy formulas of TF's documentation, round trips within one quantization step, both
 * round modes on ties, quantized Consts through TensorProto (import/export), and errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "math_testutil.h"

static const char *const modes[3] = {"MIN_COMBINED", "MIN_FIRST", "SCALED"};
static const deft_dtype qtypes[3] = {DEFT_QINT8, DEFT_QUINT8, DEFT_QINT32};
/* lo, hi, bits, signed per qtype, as NumPy literals */
static const char *const tfacts[3] = {"-128., 127., 8, True", "0., 255., 8, False",
                                      "-2147483648., 2147483647., 32, True"};

/* NumPy QuantizeV2 of x (a) with the widened range (mn, mx) = (-2.5, 4) (the widening is
 * checked on the op's range outputs) of mode m for type k, as float64. */
static void quant_expr(char *buf, size_t n, int m, int k) {
  const char *body[3] = {
      "np.clip(np.round((np.clip(a.astype(float),mn,mx)-mn)*(hi-lo)/(mx-mn)-((hi-lo+1)/2 if sg "
      "else 0)),lo,hi)",
      "(lambda s:np.clip(np.round(a.astype(float)*s)-np.round(mn*s)+lo,lo,hi))"
      "(2.**bt/((mx-mn)*2.**bt/(2.**bt-1)))",
      "(lambda M:np.round(np.clip(a.astype(float),-M if sg else 0,M)*((2.**(bt-1)-1 if sg else "
      "2.**bt-1)/M)))(max(-mn,mx))"};
  snprintf(buf, n, "(lambda lo,hi,bt,sg,mn,mx:%s)(%s,-2.5,4.)", body[m], tfacts[k]);
  ck_assert(strlen(buf) < n - 1);
}

START_TEST(quantize_dequantize_vs_numpy) {
  deft_tensor *x = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(4, 25), -3, 5, false, false);
  deft_tensor *rng = mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(2), (const double[]){-2.5, 4});
  for (int k = 0; k < 3; k++)
    for (int m = 0; m < 3; m++) {
      deft_graph *g = deft_graph_new();
      deft_output xp = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(4, 25), "x");
      deft_op *q = deft_quantize_v2(g, xp, deft_const_float(g, -2.5f, "mn"),
                                    deft_const_float(g, 4.0f, "mx"), qtypes[k], modes[m], NULL,
                                    "q");
      ck_assert_msg(q, "%s", deft_status_message(deft_graph_status(g)));
      deft_output dq = deft_dequantize(g, deft_op_output(q, 0), deft_op_output(q, 1),
                                       deft_op_output(q, 2), modes[m], "dq");
      ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
      deft_tensor *qv = mtu_run_ok(g, deft_op_output(q, 0), &xp, &x, 1);
      deft_tensor *mx = mtu_run_ok(g, deft_op_output(q, 2), &xp, &x, 1);
      deft_tensor *dv = mtu_run_ok(g, dq, &xp, &x, 1);
      ck_assert_int_eq(deft_tensor_dtype(qv), qtypes[k]);
      ck_assert(fabs(deft_tensor_get_double(mx, 0) - 4.0) < 1e-6);
      deft_tensor *mn = mtu_run_ok(g, deft_op_output(q, 1), &xp, &x, 1);
      ck_assert(deft_tensor_get_double(mn, 0) == -2.5);
      deft_tensor_free(mn);
      np_case c[2];
      memset(c, 0, sizeof c);
      quant_expr(c[0].expr, sizeof c[0].expr, m, k);
      c[0].nin = 2, c[0].in[0] = x, c[0].in[1] = rng;
      c[0].f64 = false;
      mtu_np_run(c, 1);
      char label[64];
      snprintf(label, sizeof label, "QuantizeV2 %s %s", deft_dtype_name(qtypes[k]), modes[m]);
      /* quantized values exactly, but one step apart where the float path sits on a tie */
      mtu_check_close(qv, c[0].want, 0, k == 2 && m != 2 ? 1 : 0, label);
      /* round trip within one step of the range: step = (max - min) / (hi - lo) */
      double step = (4.0 + 2.5) / (k == 1 ? 255.0 : k == 0 ? 255.0 : 4294967295.0);
      if (m == 2) step = 4.0 / (k == 1 ? 255.0 : k == 0 ? 127.0 : 2147483647.0);
      const float *xs = deft_tensor_data(x);
      for (int i = 0; i < 100; i++) {
        double want = xs[i], lo_r = m == 2 ? (k == 1 ? 0 : -4) : -2.5; /* clamped ranges */
        want = want < lo_r ? lo_r : want > 4 ? 4 : want;
        ck_assert_msg(fabs(deft_tensor_get_double(dv, i) - want) <= step * (m == 1 ? 1.01 : 0.51) + 1e-6, /* MIN_FIRST rounds twice */
                      "%s round trip [%d]: %g vs %g", label, i, deft_tensor_get_double(dv, i),
                      want);
      }
      mtu_np_free(c, 1);
      deft_tensor_free(qv);
      deft_tensor_free(mx);
      deft_tensor_free(dv);
      deft_graph_free(g);
    }
  deft_tensor_free(x);
  deft_tensor_free(rng);
}
END_TEST

START_TEST(dequantize_vs_numpy_and_round_modes) {
  /* Dequantize of a qint8 Const built from a TensorProto-style int list */
  deft_graph *g = deft_graph_new();
  deft_status *st = deft_status_new();
  const int8_t qv[5] = {-128, -1, 0, 1, 127};
  deft_tensor *t = deft_tensor_from_data(DEFT_QINT8, (const int64_t[]){5}, 1, qv, sizeof qv, st);
  ck_assert_msg(t, "%s", deft_status_message(st));
  deft_output c = deft_const(g, t, "q");
  deft_output d[3];
  for (int m = 0; m < 3; m++)
    d[m] = deft_dequantize(g, c, deft_const_float(g, -1.0f, NULL), deft_const_float(g, 3.0f, NULL),
                           modes[m], NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  const double want[3][5] = {
      {-1, -1 + 127 * 4 / 255.0, -1 + 128 * 4 / 255.0, -1 + 129 * 4 / 255.0, 3},
      {-1, -1 + 127 * 4 * 256 / 255.0 / 256, -1 + 128 * 4 * 256 / 255.0 / 256,
       -1 + 129 * 4 * 256 / 255.0 / 256, -1 + 255 * 4 * 256 / 255.0 / 256},
      {-128 * 3 / 127.0, -3 / 127.0, 0, 3 / 127.0, 3}};
  for (int m = 0; m < 3; m++) {
    deft_tensor *r = mtu_run_ok(g, d[m], NULL, NULL, 0);
    for (int i = 0; i < 5; i++)
      ck_assert_msg(fabs(deft_tensor_get_double(r, i) - want[m][i]) < 1e-6, "%s [%d]: %g vs %g",
                    modes[m], i, deft_tensor_get_double(r, i), want[m][i]);
    deft_tensor_free(r);
  }
  /* ties: SCALED qint8 with m = 127 / 0.5: x = 0.5 * k + 0.25 lands on halves */
  const double xs[4] = {0.25, 0.75, -0.25, -0.75};
  deft_tensor *xt = mtu_from_values(DEFT_FLOAT, DEFT_SHAPE(4), xs);
  deft_output xc = deft_const(g, xt, "ties");
  deft_op *away = deft_quantize_v2(g, xc, deft_const_float(g, -63.5f, NULL),
                                   deft_const_float(g, 63.5f, NULL), DEFT_QINT8, "SCALED",
                                   NULL, "away");
  deft_op *even = deft_quantize_v2(g, xc, deft_const_float(g, -63.5f, NULL),
                                   deft_const_float(g, 63.5f, NULL), DEFT_QINT8, "SCALED",
                                   "HALF_TO_EVEN", "even");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_tensor *ra = mtu_run_ok(g, deft_op_output(away, 0), NULL, NULL, 0);
  deft_tensor *re = mtu_run_ok(g, deft_op_output(even, 0), NULL, NULL, 0);
  const int8_t wa[4] = {1, 2, -1, -2}, we[4] = {0, 2, 0, -2};
  ck_assert(!memcmp(deft_tensor_data(ra), wa, 4));
  ck_assert(!memcmp(deft_tensor_data(re), we, 4));
  /* a quantized Const survives export and import */
  deft_graph *g2 = deft_graph_new();
  size_t len = 0;
  void *pb = NULL;
  ck_assert_msg(deft_graph_to_graph_def_data(g, &pb, &len, st), "%s", deft_status_message(st));
  ck_assert_msg(deft_graph_import_graph_def_data(g2, pb, len, NULL, st), "%s",
                deft_status_message(st));
  free(pb);
  deft_op *qc = deft_graph_op_by_name(g2, "q");
  ck_assert_ptr_nonnull(qc);
  deft_tensor *back = mtu_run_ok(g2, deft_op_output(qc, 0), NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_dtype(back), DEFT_QINT8);
  ck_assert(!memcmp(deft_tensor_data(back), qv, sizeof qv));
  deft_tensor_free(back);
  deft_graph_free(g2);
  deft_tensor_free(ra);
  deft_tensor_free(re);
  deft_tensor_free(xt);
  deft_tensor_free(t);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "x");
  deft_output lo = mtu_ph(g, DEFT_FLOAT, DEFT_SCALAR, "lo");
  deft_op *q = deft_quantize_v2(g, x, lo, deft_const_float(g, 1.0f, "hi"), DEFT_QUINT8, NULL,
                                NULL, "q");
  ck_assert_msg(q, "%s", deft_status_message(deft_graph_status(g)));
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3), -1, 1, false, false);
  deft_tensor *big = deft_tensor_scalar_float(2.0f);
  deft_output feeds[2] = {x, lo};
  deft_tensor *vals[2] = {xv, big};
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, deft_op_output(q, 0), feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "QuantizeV2 'q'", "must not exceed");
  deft_tensor *nan = deft_tensor_scalar_float(NAN);
  vals[1] = nan;
  ck_assert_ptr_null(mtu_run(g, deft_op_output(q, 0), feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "QuantizeV2 'q'", "finite");
  /* TF's widening: min <= 0, max >= min + max(1, |min|, |max|) / 100 */
  deft_tensor *pos = deft_tensor_scalar_float(0.5f);
  vals[1] = pos;
  deft_op *w = deft_quantize_v2(g, x, lo, deft_const_float(g, 0.5f, "same"), DEFT_QUINT8, NULL,
                                NULL, "widen");
  deft_tensor *wmin = mtu_run(g, deft_op_output(w, 1), feeds, vals, 2, 1, st);
  deft_tensor *wmax = mtu_run(g, deft_op_output(w, 2), feeds, vals, 2, 1, st);
  ck_assert(wmin && wmax);
  ck_assert(deft_tensor_get_double(wmin, 0) == 0.0);
  ck_assert(fabs(deft_tensor_get_double(wmax, 0) - 0.5) < 1e-7);
  deft_tensor_free(wmin);
  deft_tensor_free(wmax);
  deft_tensor_free(pos);
  deft_op *bad = deft_quantize_v2(g, x, lo, deft_const_float(g, 1.0f, "hi2"), DEFT_QUINT8,
                                  "LINEAR", NULL, "badmode");
  ck_assert_ptr_null(bad);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "mode", "LINEAR");
  deft_graph_free(g);
  g = deft_graph_new();
  x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3), "x");
  bad = deft_quantize_v2(g, x, deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(2), 0, "v"),
                         deft_const_float(g, 1, "h"), DEFT_QINT8, NULL, NULL, "vec");
  ck_assert_ptr_null(bad);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "QuantizeV2 'vec'", "min_range",
                   "scalar");
  deft_tensor_free(xv);
  deft_tensor_free(big);
  deft_tensor_free(nan);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("quantize_ops");
  TCase *t = tcase_create("quantize_ops");
  tcase_add_test(t, quantize_dequantize_vs_numpy);
  tcase_add_test(t, dequantize_vs_numpy_and_round_modes);
  tcase_add_test(t, errors);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
