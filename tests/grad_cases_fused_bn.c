/* tests/grad_cases_fused_bn.c - finite-difference gradient cases for the fused batch norms
 * (ops/fused_bn_ops.c; checked by tests/test_gradients.c): training (batch statistics, so x's
 * gradient flows through the mean and variance) and inference, NHWC and NCHW, V1/V2/V3. The
 * mean and variance inputs are Consts (TF gives them no gradient; in training they are empty or
 * only blended into the batch_mean/batch_variance outputs). */
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(fused_bn);

static deft_output vec(deft_graph *g, const double *v, int64_t n, const char *name) {
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, &n, 1, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    deft_output none = {NULL, 0};
    return none;
  }
  for (int64_t i = 0; i < n; i++) ((double *)deft_tensor_data(t))[i] = v[i];
  deft_output c = deft_const(g, t, name);
  deft_tensor_free(t);
  return c;
}

static const double MEANS[4] = {0.1, -0.2, 0.3, 0.05}, VARS[4] = {0.5, 1.5, 0.8, 2.0};

static deft_output bn(deft_graph *g, const deft_output *x, int version, const char *fmt,
                      bool inference, int64_t ch, bool empty_stats) {
  deft_fused_batch_norm_options o = {version, 0.001f, 0, fmt, inference};
  deft_output m = vec(g, MEANS, empty_stats ? 0 : ch, "mean");
  deft_output v = vec(g, VARS, empty_stats ? 0 : ch, "variance");
  deft_op *op = deft_fused_batch_norm(g, x[0], x[1], x[2], m, v, &o, NULL);
  deft_output y = {op, 0};
  return y;
}

static deft_output b_v1_train(deft_graph *g, const deft_output *x) {
  return bn(g, x, 1, "NHWC", false, 3, true);
}
static deft_output b_v2_train_nchw(deft_graph *g, const deft_output *x) {
  return bn(g, x, 2, "NCHW", false, 4, true);
}
static deft_output b_v3_train(deft_graph *g, const deft_output *x) {
  return bn(g, x, 3, "NHWC", false, 4, false);
}
static deft_output b_v3_infer(deft_graph *g, const deft_output *x) {
  return bn(g, x, 3, "NHWC", true, 4, false);
}
static deft_output b_v2_infer_nchw(deft_graph *g, const deft_output *x) {
  return bn(g, x, 2, "NCHW", true, 3, false);
}

#define S TU_SHAPE

const tu_grad_case tu_grad_cases_fused_bn[] = {
    {"FusedBatchNorm", "training NHWC [2,3,2,3]", 3, {S(2, 3, 2, 3), S(3), S(3)}, b_v1_train,
     0, 0},
    {"FusedBatchNormV2", "training NCHW [2,4,2,3]", 3, {S(2, 4, 2, 3), S(4), S(4)},
     b_v2_train_nchw, 0, 0},
    {"FusedBatchNormV2", "inference NCHW [2,3,2,2]", 3, {S(2, 3, 2, 2), S(3), S(3)},
     b_v2_infer_nchw, 0, 0},
    {"FusedBatchNormV3", "training NHWC [3,2,2,4]", 3, {S(3, 2, 2, 4), S(4), S(4)}, b_v3_train,
     0, 0},
    {"FusedBatchNormV3", "inference NHWC [2,2,3,4]", 3, {S(2, 2, 3, 4), S(4), S(4)},
     b_v3_infer, 0, 0},
};

const int tu_grad_cases_fused_bn_count =
    (int)(sizeof tu_grad_cases_fused_bn / sizeof tu_grad_cases_fused_bn[0]);
