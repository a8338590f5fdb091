/* SPDX-License-Identifier: Apache-2.0 */
/* deft/train.h - training: reverse-mode autodiff (gradient ops added to the graph), layers,
 * initializers, optimizers and losses. Builders follow deft/graph.h's conventions: failures are
 * the graph's sticky error.
 *
 * Thread safety: these build the graph, so deft/graph.h's rule holds: one building thread per
 * graph at a time, while sessions on it may run in other threads. */
#ifndef DEFT_TRAIN_H
#define DEFT_TRAIN_H

#include "deft/graph.h"
#include "deft/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tf.gradients: adds ops computing d(sum of ys)/d(xs[i]) and stores them in dx[i]. grad_ys (may
 * be NULL) gives the incoming gradient of each y (default: ones). New ops go under name scope
 * "gradients" (then "gradients_1", ...), each op's under "gradients/<op>_grad", with TF's op types.
 * Only the ops between ys and xs are differentiated. An x that the ys do not depend on (or only
 * through StopGradient or ops without gradients) gets an invalid dx[i] (dx[i].op == NULL): that
 * is not an error. Fails (sticky error, returns false) when a y is not floating point, or the path
 * crosses an op whose gradient is explicitly disabled (the message names the op). */
DEFT_API bool deft_gradients(deft_graph *g, const deft_output *ys, int ny, const deft_output *xs,
                             int nx, const deft_output *grad_ys, deft_output *dx);

/* tf.gradients keeping TF's sparse gradients: as deft_gradients, but dx[i] is a
 * deft_indexed_slices (deft/ops.h). Where TF returns IndexedSlices (xs[i] reaches the ys only
 * through Gather, GatherV2 along axis 0 and Identities such as a variable's read) all three
 * fields are set; otherwise the gradient is dense: dx[i].values holds it and dx[i].indices and
 * dx[i].dense_shape are invalid (op NULL). No gradient: all invalid. Same errors as
 * deft_gradients. */
DEFT_API bool deft_gradients_sparse(deft_graph *g, const deft_output *ys, int ny,
                                    const deft_output *xs, int nx, const deft_output *grad_ys,
                                    deft_indexed_slices *dx);

/* ---- initializers (TF 1.x's variance-scaling family and constant/random fills) ----
 * A deft_initializer is a small value describing how to fill a new variable; building it adds the
 * ops TF adds under "<var>/Initializer/". Seeds: 0 = derive from the graph seed as TF does. */
typedef enum deft_fan_mode { DEFT_FAN_IN = 0, DEFT_FAN_OUT, DEFT_FAN_AVG } deft_fan_mode;
typedef enum deft_distribution {
  DEFT_DIST_TRUNCATED_NORMAL = 0, /* stddev corrected by 0.87962566103423978, as TF >= 1.11 */
  DEFT_DIST_UNTRUNCATED_NORMAL,
  DEFT_DIST_UNIFORM,
  /* TF <= 1.10's "normal": truncated normal with stddev sqrt(scale / n), no correction (so the
   * values' standard deviation is 0.88 times that). What the chapter's notebook ran. */
  DEFT_DIST_TRUNCATED_NORMAL_TF110
} deft_distribution;
typedef enum deft_init_kind {
  DEFT_INIT_DEFAULT = 0, /* the layer's default (Glorot uniform kernels, zero biases) */
  DEFT_INIT_ZEROS,
  DEFT_INIT_ONES,
  DEFT_INIT_CONSTANT,
  DEFT_INIT_TRUNCATED_NORMAL,
  DEFT_INIT_RANDOM_NORMAL,
  DEFT_INIT_RANDOM_UNIFORM,
  DEFT_INIT_VARIANCE_SCALING
} deft_init_kind;
typedef struct deft_initializer {
  deft_init_kind kind;
  double a, b; /* constant: a; normal: mean a, stddev b; uniform: [a, b); scaling: scale a */
  deft_fan_mode mode;
  deft_distribution distribution;
  int64_t seed;
} deft_initializer;

DEFT_API deft_initializer deft_init_zeros(void);
DEFT_API deft_initializer deft_init_ones(void);
DEFT_API deft_initializer deft_init_constant(double value);
DEFT_API deft_initializer deft_init_truncated_normal(double mean, double stddev, int64_t seed);
DEFT_API deft_initializer deft_init_random_normal(double mean, double stddev, int64_t seed);
DEFT_API deft_initializer deft_init_random_uniform(double minval, double maxval, int64_t seed);
/* tf.variance_scaling_initializer(scale, mode, distribution). With its defaults (1.0, FAN_IN,
 * truncated normal) this is LeCun normal: what the chapter's "He init" cell really used. */
DEFT_API deft_initializer deft_init_variance_scaling(double scale, deft_fan_mode mode,
                                                     deft_distribution distribution,
                                                     int64_t seed);
/* Glorot (Xavier) uniform: variance scaling (1.0, FAN_AVG, uniform). */
DEFT_API deft_initializer deft_init_glorot_uniform(int64_t seed);
/* He normal: variance scaling (2.0, FAN_IN, truncated normal). */
DEFT_API deft_initializer deft_init_he_normal(int64_t seed);

/* Builds init's ops for a tensor of dtype and (fully defined) shape in the current scope, named as
 * TF names them ("random_uniform", "truncated_normal", "zeros", ...). */
DEFT_API deft_output deft_initializer_build(deft_graph *g, deft_initializer init, deft_dtype dtype,
                                            deft_shape shape);

/* tf.get_variable: a variable `name` (made unique in the current scope) whose initial value init
 * builds under "<name>/Initializer/". Returns the VariableV2 op or NULL (sticky error). */
DEFT_API deft_op *deft_get_variable(deft_graph *g, const char *name, deft_dtype dtype,
                                    deft_shape shape, deft_initializer init, bool trainable);

/* ---- layers ---- */

/* Options of deft_dense. A zeroed struct (or NULL) gives TF's defaults. */
typedef struct deft_dense_options {
  /* "relu", "elu", "selu", "leaky_relu", "tanh", "sigmoid", or NULL / "" / "linear" for none.
   * An unknown name is a build error naming it. */
  const char *activation;
  float leaky_alpha; /* leaky_relu's alpha; 0 means TF's default 0.2 */
  bool no_bias;
  bool not_trainable;
  deft_initializer kernel_initializer; /* DEFAULT = Glorot uniform */
  deft_initializer bias_initializer;   /* DEFAULT = zeros */
  float kernel_l1, kernel_l2; /* regularization scales added to REGULARIZATION_LOSSES (0 = none) */
} deft_dense_options;

/* The defaults (every field zero: no activation, bias on, trainable, Glorot uniform kernel, zero
 * bias, no regularization). Start from it (or `= {0}`) and set what differs; fields added in
 * later versions (deft/version.h) default to zero too. */
static inline deft_dense_options deft_dense_options_init(void) {
  deft_dense_options o = {0};
  return o;
}

/* tf.layers.dense: y = activation(x @ kernel + bias) with variables "<name>/kernel" [in, units] and
 * "<name>/bias" [units]; ops "<name>/MatMul", "<name>/BiasAdd", "<name>/<Activation>". name NULL
 * means "dense" (then "dense_1", ...). x must be rank 2 with a known last dim. */
DEFT_API deft_output deft_dense(deft_graph *g, deft_output x, int64_t units,
                                const deft_dense_options *opts, const char *name);

/* Applies a named activation (as deft_dense does) to x; "" / NULL / "linear" returns x. */
DEFT_API deft_output deft_activation(deft_graph *g, deft_output x, const char *activation,
                                     float leaky_alpha, const char *name);

/* Options of deft_batch_normalization. Zeroed = TF's defaults (momentum 0.99, epsilon 0.001,
 * center and scale on). */
typedef struct deft_batch_norm_options {
  double momentum; /* doubles, as Python passes them: 1 - 0.9 rounds to float32 as TF's does */
  double epsilon;
  bool no_center;
  bool no_scale;
  bool not_fused; /* 4-D inputs: build the non-fused graph instead of FusedBatchNormV3 */
} deft_batch_norm_options;

/* The defaults (zero fields: TF's momentum 0.99 and epsilon 0.001, center and scale on); see
 * deft_dense_options_init. */
static inline deft_batch_norm_options deft_batch_norm_options_init(void) {
  deft_batch_norm_options o = {0};
  return o;
}

/* tf.layers.batch_normalization over the last axis of a rank >= 2 input, non-fused (TF's graph
 * for dense layers): variables gamma, beta, moving_mean, moving_variance under
 * "<name>/" (name NULL = "batch_normalization"). `training` is a bool scalar tensor (typically a
 * PlaceholderWithDefault(false)) selecting batch or moving statistics with tf.cond (Switch/Merge);
 * the moving-average updates (AssignSub) go into UPDATE_OPS and run only when the training step
 * runs them with training true. An invalid `training` output means Python's training=False (no
 * update ops). Rank-1 inputs are a build error. */
DEFT_API deft_output deft_batch_normalization(deft_graph *g, deft_output x, deft_output training,
                                              const deft_batch_norm_options *opts,
                                              const char *name);

/* 4-D (NHWC) inputs, unless opts->not_fused, go through TF's fused op as tf.layers does there:
 * with `training`, "<name>/cond/FusedBatchNormV3" (batch statistics) and
 * "<name>/cond/FusedBatchNormV3_1" (moving statistics) merged, the momentum selected by
 * "<name>/cond_1", and "<name>/AssignMovingAvg" / "AssignMovingAvg_1" (AssignSub with the
 * unbiased batch variance) in UPDATE_OPS; without, one FusedBatchNormV3 on the moving statistics. */

/* TF1's tf.nn.dropout(x, keep_prob): x / keep_prob * floor(keep_prob + uniform[0, 1)), under
 * "<name>/" (NULL = "dropout"): Shape, random_uniform, add, Floor, div, mul. keep_prob is a
 * scalar tensor of x's dtype (float or double); keep_prob 1 is the identity. */
DEFT_API deft_output deft_nn_dropout(deft_graph *g, deft_output x, deft_output keep_prob,
                                     int64_t seed, const char *name);

/* tf.layers.max_pooling2d / average_pooling2d on a 4-D NHWC input: "<name>/MaxPool" or
 * "<name>/AvgPool" (name NULL = "max_pooling2d" / "average_pooling2d"). padding "valid" (NULL)
 * or "same", either case; pool_size and strides {height, width} >= 1. */
DEFT_API deft_output deft_max_pooling2d(deft_graph *g, deft_output x, const int64_t pool_size[2],
                                        const int64_t strides[2], const char *padding,
                                        const char *name);
DEFT_API deft_output deft_average_pooling2d(deft_graph *g, deft_output x,
                                            const int64_t pool_size[2],
                                            const int64_t strides[2], const char *padding,
                                            const char *name);

/* tf.layers.flatten: "<name>/Reshape" to [-1, product of the other dims], which must be known at
 * build time (name NULL = "flatten"). */
DEFT_API deft_output deft_flatten(deft_graph *g, deft_output x, const char *name);

/* tf.layers.dropout: with `training` true, zeroes each element with probability rate and scales
 * the rest by 1/(1-rate); with training false, identity. */
DEFT_API deft_output deft_dropout(deft_graph *g, deft_output x, float rate, deft_output training,
                                  int64_t seed, const char *name);

/* ---- optimizers (graph ops with TF's op types, slot and variable names) ---- */

typedef struct deft_optimizer deft_optimizer;

/* A variable's gradient: dense (indices invalid) or TF's IndexedSlices (indices valid): then grad
 * holds the values, rows [len(indices), var.shape[1:]...], and dense_shape var's shape (see
 * deft_indexed_slices in deft/ops.h). compute_gradients gives sparse gradients where TF does (a
 * variable read only by gathers, e.g. an embedding) and apply_gradients applies them sparsely,
 * touching only the rows named. Zero-initialized trailing fields mean dense. */
typedef struct deft_grad_and_var {
  deft_output grad; /* invalid when the loss does not depend on var */
  deft_op *var;
  deft_output indices;     /* sparse only: int32/int64 [n] rows of var */
  deft_output dense_shape; /* sparse only: int32 vector, var's shape */
} deft_grad_and_var;

/* Constructors; learning rates are Consts named "<Name>/learning_rate" at apply time. The
 * optimizer's name (its scope) is TF's: "GradientDescent", "Momentum", "Adagrad", "RMSProp",
 * "Adam". Return NULL (sticky error on g) on failure. Free with deft_optimizer_free (the graph's
 * ops stay). */
DEFT_API deft_optimizer *deft_optimizer_gradient_descent(deft_graph *g, float learning_rate);
DEFT_API deft_optimizer *deft_optimizer_momentum(deft_graph *g, float learning_rate,
                                                 float momentum, bool use_nesterov);
DEFT_API deft_optimizer *deft_optimizer_adagrad(deft_graph *g, float learning_rate,
                                                float initial_accumulator_value);
DEFT_API deft_optimizer *deft_optimizer_rmsprop(deft_graph *g, float learning_rate, float decay,
                                                float momentum, float epsilon);
DEFT_API deft_optimizer *deft_optimizer_adam(deft_graph *g, float learning_rate, float beta1,
                                             float beta2, float epsilon);
/* Uses a learning-rate tensor (e.g. deft_exponential_decay's) instead of the constant. */
DEFT_API void deft_optimizer_set_learning_rate_tensor(deft_optimizer *opt, deft_output lr);
DEFT_API void deft_optimizer_free(deft_optimizer *opt);

/* compute_gradients: gradients of loss for var_list[0..nvars) (NULL = TRAINABLE_VARIABLES). Writes
 * up to max pairs to out and returns the number of variables, or -1 (sticky error) if a var_list
 * entry is not a variable (naming it) or building fails. */
DEFT_API int deft_optimizer_compute_gradients(deft_optimizer *opt, deft_output loss,
                                              deft_op *const *var_list, int nvars,
                                              deft_grad_and_var *out, int max);

/* apply_gradients: one update op per pair with a valid grad ("<Name>/update_<var>/Apply*"), slots
 * created as needed, grouped into the returned op (named `name`, default the optimizer's name),
 * which is added to TRAIN_OP. A grad whose shape differs from its variable's is an error naming
 * both. With global_step (a variable), the returned op also increments it. NULL on failure. */
DEFT_API deft_op *deft_optimizer_apply_gradients(deft_optimizer *opt, const deft_grad_and_var *gv,
                                                 int n, deft_op *global_step, const char *name);

/* minimize = compute_gradients + apply_gradients. */
DEFT_API deft_op *deft_optimizer_minimize(deft_optimizer *opt, deft_output loss,
                                          deft_op *const *var_list, int nvars,
                                          deft_op *global_step, const char *name);

/* A non-trainable int64 scalar variable "global_step" (in collection "global_step"). */
DEFT_API deft_op *deft_global_step_new(deft_graph *g);

/* tf.train.exponential_decay: lr * rate^(step / decay_steps) (floor of the ratio if staircase). */
DEFT_API deft_output deft_exponential_decay(deft_graph *g, float learning_rate,
                                            deft_output global_step, int64_t decay_steps,
                                            float decay_rate, bool staircase, const char *name);

/* ---- clipping, regularization, max-norm ---- */

/* tf.clip_by_value: Maximum(Minimum(t, hi), lo), named "clip_by_value/Minimum", "clip_by_value". */
DEFT_API deft_output deft_clip_by_value(deft_graph *g, deft_output t, float lo, float hi,
                                        const char *name);
/* tf.clip_by_norm over all elements (axes NULL) or the given axes. */
DEFT_API deft_output deft_clip_by_norm(deft_graph *g, deft_output t, float clip_norm,
                                       const int32_t *axes, int naxes, const char *name);
/* tf.clip_by_global_norm: writes the clipped tensors to out[0..n) and, if global_norm is not NULL,
 * the global norm. Invalid inputs are passed through as invalid. Returns false on failure. */
DEFT_API bool deft_clip_by_global_norm(deft_graph *g, const deft_output *ts, int n,
                                       float clip_norm, deft_output *out,
                                       deft_output *global_norm, const char *name);
/* Sum of REGULARIZATION_LOSSES (tf.losses.get_regularization_loss), or a 0.0 Const if empty. */
DEFT_API deft_output deft_regularization_loss(deft_graph *g, const char *name);
/* Max-norm: an op that assigns clip_by_norm(var, threshold, axes) to var; added to collection
 * "max_norm". Run it after each training step. */
DEFT_API deft_op *deft_max_norm(deft_graph *g, deft_op *var, float threshold, const int32_t *axes,
                                int naxes, const char *name);

#ifdef __cplusplus
}
#endif
#endif
