/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_cnn_layers.c - the CNN layers of deft/train.h: max/average pooling2d and flatten
 * (TF's node names, shapes checked at build time), TF1's tf.nn.dropout formula (identity at
 * keep_prob 1, x / keep_prob * floor(keep_prob + U) otherwise), and batch normalization on 4-D
 * inputs through FusedBatchNormV3 (training output against NumPy, the moving averages updated by
 * UPDATE_OPS with the unbiased variance, inference on the moving statistics), plus the fused
 * op's own numbers and bad input. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static deft_tensor *filled(deft_dtype dt, const int64_t *dims, int rank, double (*f)(int64_t)) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    if (dt == DEFT_FLOAT) ((float *)deft_tensor_data(t))[i] = (float)f(i);
    else ((double *)deft_tensor_data(t))[i] = f(i);
  }
  return t;
}

static double wave(int64_t i) { return sin(0.7 * (double)i) * 2 + 0.1 * (double)(i % 5); }

static deft_tensor *run1(deft_session *s, deft_output *feeds, deft_tensor **vals, int n,
                         deft_output fetch) {
  deft_status *st = deft_status_new();
  deft_tensor *out = NULL;
  ck_assert_msg(
      deft_session_run(s, feeds, (const deft_tensor *const *)vals, n, &fetch, &out, 1, NULL, 0, st),
      "%s", deft_status_message(st));
  deft_status_free(st);
  return out;
}

START_TEST(pooling_and_flatten_layers) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 7, 6, 3), "x");
  const int64_t p2[2] = {2, 2}, s2[2] = {2, 2}, p3[2] = {3, 2}, s1[2] = {1, 2};
  deft_output mp = deft_max_pooling2d(g, x, p2, s2, NULL, NULL);
  deft_output ap = deft_average_pooling2d(g, x, p3, s1, "SAME", "avg");
  deft_output fl = deft_flatten(g, mp, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(mp.op), "max_pooling2d/MaxPool");
  ck_assert_str_eq(deft_op_name(ap.op), "avg/AvgPool");
  ck_assert_str_eq(deft_op_name(fl.op), "flatten/Reshape");
  char sh[64];
  ck_assert_str_eq(deft_shape_format(deft_output_shape(mp), sh, sizeof sh), "[?,3,3,3]");
  ck_assert_str_eq(deft_shape_format(deft_output_shape(ap), sh, sizeof sh), "[?,7,3,3]");
  ck_assert_str_eq(deft_shape_format(deft_output_shape(fl), sh, sizeof sh), "[?,27]");
  /* flatten keeps the values in order */
  deft_tensor *v = filled(DEFT_FLOAT, (int64_t[]){2, 7, 6, 3}, 4, wave);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *a = run1(s, &x, &v, 1, mp), *b = run1(s, &x, &v, 1, fl);
  ck_assert_int_eq(deft_tensor_dim(b, 1), 27);
  ck_assert(!memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)));
  deft_tensor_free(a);
  deft_tensor_free(b);
  deft_tensor_free(v);
  /* build-time errors name the layer */
  deft_graph *g2 = deft_graph_new();
  deft_output x2 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(-1, 28), "x");
  ck_assert_ptr_null(deft_max_pooling2d(g2, x2, p2, s2, "valid", "pool").op);
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "max_pooling2d 'pool'", "4-D");
  deft_graph_free(g2);
  g2 = deft_graph_new();
  x2 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(-1, 4, 4, 1), "x");
  const int64_t z[2] = {0, 2};
  ck_assert_ptr_null(deft_average_pooling2d(g2, x2, z, s2, "valid", NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "average_pooling2d", ">= 1");
  deft_graph_free(g2);
  g2 = deft_graph_new();
  x2 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(-1, 4, -1), "x");
  ck_assert_ptr_null(deft_flatten(g2, x2, NULL).op);
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "flatten 'flatten'", "known");
  deft_graph_free(g2);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(tf1_dropout_formula) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 7);
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(1000), "x");
  deft_output kp = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(-1, NULL), "keep_prob");
  deft_output y = deft_nn_dropout(g, x, kp, 0, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(y.op), "dropout/mul");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "dropout/Floor"));
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "dropout/div")), "RealDiv");
  deft_tensor *xv = filled(DEFT_FLOAT, (int64_t[]){1000}, 1, wave);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output feeds[2] = {x, kp};
  for (int k = 0; k < 2; k++) {
    float keep = k == 0 ? 1.0f : 0.25f;
    deft_tensor *kv = deft_tensor_scalar_float(keep);
    deft_tensor *vals[2] = {xv, kv};
    deft_tensor *out = run1(s, feeds, vals, 2, y);
    const float *p = deft_tensor_data(out), *xi = deft_tensor_data(xv);
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
      float want = xi[i] / keep;
      ck_assert_msg(p[i] == 0.0f || p[i] == want, "y[%d] = %g", i, p[i]);
      kept += p[i] == want && (xi[i] != 0 || k == 0);
    }
    if (k == 0) ck_assert_int_eq(kept, 1000);
    else ck_assert_msg(kept > 180 && kept < 320, "kept %d of 1000 at keep_prob 0.25", kept);
    deft_tensor_free(out);
    deft_tensor_free(kv);
  }
  deft_tensor_free(xv);
  /* keep_prob must be a scalar of x's dtype */
  deft_graph *g2 = deft_graph_new();
  deft_output x2 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(3), "x");
  ck_assert_ptr_null(deft_nn_dropout(g2, x2, deft_const_double(g2, 0.5, "kp"), 0, "drop").op);
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "dropout 'drop'", "kp");
  deft_graph_free(g2);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* The fused layer in training mode normalizes with the batch statistics and moves the moving
 * averages toward (mean, unbiased variance); in inference it uses the moving statistics. */
START_TEST(fused_batch_norm_layer) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(-1, 3, 2, 4), "x");
  deft_output tr = deft_placeholder_with_default(g, deft_const_bool(g, false, "tr/input"),
                                                 DEFT_SCALAR, "training");
  deft_batch_norm_options o = {0};
  o.momentum = 0.9;
  deft_output y = deft_batch_normalization(g, x, tr, &o, "bn");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_op *f = deft_graph_op_by_name(g, "bn/cond/FusedBatchNormV3");
  ck_assert_ptr_nonnull(f);
  bool is_training = false;
  ck_assert(deft_op_attr_bool(f, "is_training", &is_training) && is_training);
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "bn/cond/FusedBatchNormV3_1"));
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "bn/AssignMovingAvg")), "AssignSub");
  deft_output upd[4];
  int nupd = deft_graph_get_collection(g, DEFT_UPDATE_OPS, NULL, upd, 4, NULL);
  ck_assert_int_eq(nupd, 2);
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  const int64_t dims[4] = {2, 3, 2, 4};
  deft_tensor *xv = filled(DEFT_DOUBLE, dims, 4, wave), *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[2] = {x, tr};
  deft_tensor *vals[2] = {xv, yes}, *out = NULL;
  deft_op *targets[2] = {upd[0].op, upd[1].op};
  ck_assert_msg(
      deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, &y, &out, 1, targets, 2, st),
      "%s", deft_status_message(st));
  /* NumPy's formula, here in C: per channel over 12 values */
  const double *xp = deft_tensor_data(xv), *yp = deft_tensor_data(out);
  double mean[4] = {0}, var[4] = {0};
  for (int i = 0; i < 48; i++) mean[i % 4] += xp[i] / 12;
  for (int i = 0; i < 48; i++) var[i % 4] += (xp[i] - mean[i % 4]) * (xp[i] - mean[i % 4]) / 12;
  for (int i = 0; i < 48; i++) {
    double want = (xp[i] - mean[i % 4]) / sqrt(var[i % 4] + 1e-3);
    ck_assert_msg(fabs(yp[i] - want) < 1e-6, "y[%d] = %.9g, expected %.9g", i, yp[i], want);
  }
  deft_tensor_free(out);
  deft_tensor *mm = deft_session_variable_value(s, deft_graph_op_by_name(g, "bn/moving_mean"), st);
  deft_tensor *mv =
      deft_session_variable_value(s, deft_graph_op_by_name(g, "bn/moving_variance"), st);
  for (int k = 0; k < 4; k++) {
    double wm = 0.1 * mean[k], wv = 0.9 + 0.1 * var[k] * 12 / 11;
    ck_assert_msg(fabs(((double *)deft_tensor_data(mm))[k] - wm) < 1e-7, "moving_mean[%d]", k);
    ck_assert_msg(fabs(((double *)deft_tensor_data(mv))[k] - wv) < 1e-7, "moving_variance[%d]",
                  k);
  }
  /* inference: the moving statistics */
  out = run1(s, &x, &xv, 1, y);
  yp = deft_tensor_data(out);
  for (int i = 0; i < 48; i++) {
    int k = i % 4;
    double want = (xp[i] - ((double *)deft_tensor_data(mm))[k]) /
                  sqrt(((double *)deft_tensor_data(mv))[k] + 1e-3);
    ck_assert_msg(fabs(yp[i] - want) < 1e-6, "inference y[%d] = %.9g, expected %.9g", i, yp[i],
                  want);
  }
  /* gradients reach gamma and beta through the fused op */
  deft_output gb[2] = {deft_variable_value(deft_graph_op_by_name(g, "bn/gamma")),
                       deft_variable_value(deft_graph_op_by_name(g, "bn/beta"))};
  deft_output dgb[2];
  ck_assert(deft_gradients(g, &y, 1, gb, 2, NULL, dgb));
  ck_assert_ptr_nonnull(dgb[0].op);
  ck_assert_ptr_nonnull(dgb[1].op);
  deft_tensor_free(out);
  deft_tensor_free(mm);
  deft_tensor_free(mv);
  deft_tensor_free(xv);
  deft_tensor_free(yes);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* FusedBatchNormV3 (float32, NCHW, exponential_avg_factor 0.5) against NumPy, and bad input. */
START_TEST(fused_op_numbers_and_errors) {
  deft_graph *g = deft_graph_new();
  const int64_t dims[4] = {2, 3, 2, 2};
  deft_tensor *xv = filled(DEFT_FLOAT, dims, 4, wave);
  deft_output x = deft_const(g, xv, "x");
  float sc[3] = {1.5f, -0.5f, 2}, of[3] = {0.1f, 0.2f, -0.3f}, mi[3] = {1, 2, 3},
        vi[3] = {4, 5, 6};
  deft_tensor *t[4];
  float *src[4] = {sc, of, mi, vi};
  deft_output in[4];
  const char *names[4] = {"scale", "offset", "mean", "var"};
  for (int i = 0; i < 4; i++) {
    t[i] = deft_tensor_new(DEFT_FLOAT, (int64_t[]){3}, 1, NULL);
    memcpy(deft_tensor_data(t[i]), src[i], sizeof sc);
    in[i] = deft_const(g, t[i], names[i]);
  }
  deft_fused_batch_norm_options o = {3, 0.01f, 0.5f, "NCHW", false};
  deft_op *op = deft_fused_batch_norm(g, x, in[0], in[1], in[2], in[3], &o, "bn");
  ck_assert_msg(op != NULL, "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output f[5] = {deft_op_output(op, 0), deft_op_output(op, 1), deft_op_output(op, 2),
                      deft_op_output(op, 3), deft_op_output(op, 5)};
  deft_tensor *out[5];
  /* one fetch per run: runtime/plan.c's prune overflows its stack when a small graph fetches
   * several outputs of one op (reported to the plan's owner) */
  for (int i = 0; i < 5; i++)
    ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &f[i], &out[i], 1, NULL, 0, st), "%s",
                  deft_status_message(st));
  const float *xp = deft_tensor_data(xv);
  for (int k = 0; k < 3; k++) {
    double m = 0, v = 0;
    for (int n = 0; n < 2; n++)
      for (int i = 0; i < 4; i++) m += xp[(n * 3 + k) * 4 + i] / 8.0;
    for (int n = 0; n < 2; n++)
      for (int i = 0; i < 4; i++) v += pow(xp[(n * 3 + k) * 4 + i] - m, 2) / 8.0;
    for (int n = 0; n < 2; n++)
      for (int i = 0; i < 4; i++) {
        int e = (n * 3 + k) * 4 + i;
        double want = (xp[e] - m) / sqrt(v + 0.01) * sc[k] + of[k];
        ck_assert_msg(fabs(((float *)deft_tensor_data(out[0]))[e] - want) < 1e-5, "y[%d]", e);
      }
    ck_assert(fabs(((float *)deft_tensor_data(out[1]))[k] - (0.5 * mi[k] + 0.5 * m)) < 1e-5);
    ck_assert(fabs(((float *)deft_tensor_data(out[2]))[k] - (0.5 * vi[k] + 0.5 * v * 8 / 7)) <
              1e-5);
    ck_assert(fabs(((float *)deft_tensor_data(out[3]))[k] - m) < 1e-5);
  }
  ck_assert_int_eq(deft_tensor_num_elements(out[4]), 0);
  for (int i = 0; i < 5; i++) deft_tensor_free(out[i]);
  deft_session_free(s);
  /* a scale of the wrong length, a rank-3 x: build errors naming the node */
  deft_op *bad = deft_fused_batch_norm(g, x, in[0], in[1], x, in[3], NULL, "bad");
  ck_assert_ptr_null(bad);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'bad'", "channels");
  deft_graph *g2 = deft_graph_new();
  deft_output x3 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(2, 3, 4), "x3");
  deft_output c3 = deft_placeholder(g2, DEFT_FLOAT, DEFT_SHAPE(4), "c");
  ck_assert_ptr_null(deft_fused_batch_norm(g2, x3, c3, c3, c3, c3, NULL, "bn3"));
  TU_ASSERT_STATUS(deft_graph_status(g2), DEFT_INVALID_ARGUMENT, "'bn3'", "4-D");
  deft_graph_free(g2);
  /* shapes only known at run time: a run error naming the node */
  g2 = deft_graph_new();
  deft_output xu = deft_placeholder(g2, DEFT_FLOAT, deft_shape_make(-1, NULL), "xu");
  deft_output cu = deft_placeholder(g2, DEFT_FLOAT, deft_shape_make(-1, NULL), "cu");
  deft_fused_batch_norm_options inf = {2, 0, 0, NULL, true};
  deft_op *bu = deft_fused_batch_norm(g2, xu, cu, cu, cu, cu, &inf, "bnu");
  ck_assert_ptr_nonnull(bu);
  s = deft_session_new(g2, st);
  deft_tensor *c5 = deft_tensor_new(DEFT_FLOAT, (int64_t[]){5}, 1, NULL);
  memset(deft_tensor_data(c5), 0, 20);
  deft_output feeds[2] = {xu, cu};
  deft_tensor *vals[2] = {xv, c5}, *o1 = NULL;
  deft_output y = deft_op_output(bu, 0);
  ck_assert(
      !deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, &y, &o1, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "FusedBatchNormV2 'bnu'", "channels");
  deft_tensor_free(c5);
  deft_session_free(s);
  deft_graph_free(g2);
  for (int i = 0; i < 4; i++) deft_tensor_free(t[i]);
  deft_tensor_free(xv);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cnn_layers");
  TCase *tc = tcase_create("layers");
  tcase_add_test(tc, pooling_and_flatten_layers);
  tcase_add_test(tc, tf1_dropout_formula);
  tcase_add_test(tc, fused_batch_norm_layer);
  tcase_add_test(tc, fused_op_numbers_and_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
