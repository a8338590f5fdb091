/* deft/ops.h - typed op constructors (the Python tf.* functions, in C).
 *
 * Each constructor adds one or a few ops to g and returns the result tensor. Conventions (see
 * deft/graph.h): names are relative to the current scope, NULL = TF's default name; a failure is
 * recorded as g's sticky error and returns an invalid output; an invalid input makes the call a
 * no-op returning an invalid output. Op types and attrs are TF 1.x's; the type is noted per
 * function. Binary elementwise ops broadcast with NumPy's rules.
 *
 * Thread safety: constructors build the graph, so the rule of deft/graph.h holds: one building
 * thread per graph at a time (different graphs may be built concurrently).
 */
#ifndef DEFT_OPS_H
#define DEFT_OPS_H

#include "deft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants and inputs (ops/array_ops.c) ---- */

/* Const holding a copy of value. */
DEFT_API deft_output deft_const(deft_graph *g, const deft_tensor *value, const char *name);
/* Scalar Consts. */
DEFT_API deft_output deft_const_float(deft_graph *g, float v, const char *name);
DEFT_API deft_output deft_const_double(deft_graph *g, double v, const char *name);
DEFT_API deft_output deft_const_int32(deft_graph *g, int32_t v, const char *name);
DEFT_API deft_output deft_const_int64(deft_graph *g, int64_t v, const char *name);
DEFT_API deft_output deft_const_bool(deft_graph *g, bool v, const char *name);
DEFT_API deft_output deft_const_string(deft_graph *g, const char *v, const char *name);
/* 1-D int32 Const (shapes, axes); n may be 0. */
DEFT_API deft_output deft_const_int32_vector(deft_graph *g, const int32_t *v, int n,
                                             const char *name);
/* Const of dtype and a fully defined shape, every element = v (converted). */
DEFT_API deft_output deft_const_fill(deft_graph *g, deft_dtype dtype, deft_shape shape, double v,
                                     const char *name);
/* Placeholder. shape may be partial or unknown. */
DEFT_API deft_output deft_placeholder(deft_graph *g, deft_dtype dtype, deft_shape shape,
                                      const char *name);
/* PlaceholderWithDefault: yields `input` unless fed. TF names the default "<name>/input" when the
 * caller passes a Python value; here the caller builds it. */
DEFT_API deft_output deft_placeholder_with_default(deft_graph *g, deft_output input,
                                                   deft_shape shape, const char *name);

/* ---- array ops (ops/array_ops.c) ---- */

DEFT_API deft_output deft_identity(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_stop_gradient(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_prevent_gradient(deft_graph *g, deft_output x, const char *message,
                                           const char *name);
/* Shape (out_type int32). */
DEFT_API deft_output deft_shape_of(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_size(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_rank(deft_graph *g, deft_output x, const char *name);
/* Reshape to a shape tensor (int32/int64, one entry may be -1). */
DEFT_API deft_output deft_reshape(deft_graph *g, deft_output x, deft_output shape,
                                  const char *name);
/* Reshape to a literal shape (adds the Const "<name>/shape"). */
DEFT_API deft_output deft_reshape_to(deft_graph *g, deft_output x, const int64_t *dims, int rank,
                                     const char *name);
DEFT_API deft_output deft_fill(deft_graph *g, deft_output dims, deft_output value,
                               const char *name);
DEFT_API deft_output deft_zeros_like(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_ones_like(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_expand_dims(deft_graph *g, deft_output x, deft_output axis,
                                      const char *name);
/* Squeeze the listed dims (all size-1 dims when n == 0). */
DEFT_API deft_output deft_squeeze(deft_graph *g, deft_output x, const int64_t *dims, int n,
                                  const char *name);
DEFT_API deft_output deft_pack(deft_graph *g, const deft_output *values, int n, int64_t axis,
                               const char *name);
DEFT_API deft_output deft_concat(deft_graph *g, const deft_output *values, int n,
                                 deft_output axis, const char *name);
DEFT_API deft_output deft_tile(deft_graph *g, deft_output x, deft_output multiples,
                               const char *name);
DEFT_API deft_output deft_range(deft_graph *g, deft_output start, deft_output limit,
                                deft_output delta, const char *name);
/* DynamicStitch with n index tensors and n data tensors. */
DEFT_API deft_output deft_dynamic_stitch(deft_graph *g, const deft_output *indices,
                                         const deft_output *data, int n, const char *name);
/* BroadcastGradientArgs: returns output 0 (r0); output 1 is {op, 1}. */
DEFT_API deft_output deft_broadcast_gradient_args(deft_graph *g, deft_output s0, deft_output s1,
                                                  const char *name);
DEFT_API deft_output deft_select(deft_graph *g, deft_output cond, deft_output t, deft_output e,
                                 const char *name);
/* Cast (Truncate false). */
DEFT_API deft_output deft_cast(deft_graph *g, deft_output x, deft_dtype dtype, const char *name);

/* ---- math (ops/math_ops.c) ---- */

DEFT_API deft_output deft_add(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_add_v2(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_sub(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_mul(deft_graph *g, deft_output x, deft_output y, const char *name);
/* RealDiv. */
DEFT_API deft_output deft_div(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_floor_div(deft_graph *g, deft_output x, deft_output y,
                                    const char *name);
DEFT_API deft_output deft_floor_mod(deft_graph *g, deft_output x, deft_output y,
                                    const char *name);
DEFT_API deft_output deft_maximum(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_minimum(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_squared_difference(deft_graph *g, deft_output x, deft_output y,
                                             const char *name);
DEFT_API deft_output deft_add_n(deft_graph *g, const deft_output *xs, int n, const char *name);
DEFT_API deft_output deft_neg(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_square(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_sqrt(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_rsqrt(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_exp(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_log(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_reciprocal(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_abs(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_sign(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_matmul(deft_graph *g, deft_output a, deft_output b, bool transpose_a,
                                 bool transpose_b, const char *name);
/* Comparisons (bool results). */
DEFT_API deft_output deft_equal(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_not_equal(deft_graph *g, deft_output x, deft_output y,
                                    const char *name);
DEFT_API deft_output deft_greater(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_greater_equal(deft_graph *g, deft_output x, deft_output y,
                                        const char *name);
DEFT_API deft_output deft_less(deft_graph *g, deft_output x, deft_output y, const char *name);
DEFT_API deft_output deft_less_equal(deft_graph *g, deft_output x, deft_output y,
                                     const char *name);
/* Reductions over an axes tensor (int32/int64; negative axes count from the end). */
DEFT_API deft_output deft_mean(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                               const char *name);
DEFT_API deft_output deft_sum(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                              const char *name);
DEFT_API deft_output deft_prod(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                               const char *name);
DEFT_API deft_output deft_max(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                              const char *name);
/* tf.reduce_mean / reduce_sum with literal axes (NULL = all axes): the axes Const is created
 * outside the op's scope and named "Const" as TF does. */
DEFT_API deft_output deft_reduce_mean(deft_graph *g, deft_output x, const int32_t *axes, int n,
                                      bool keep_dims, const char *name);
DEFT_API deft_output deft_reduce_sum(deft_graph *g, deft_output x, const int32_t *axes, int n,
                                     bool keep_dims, const char *name);
/* ArgMax along axis (output_type int64). */
DEFT_API deft_output deft_argmax(deft_graph *g, deft_output x, int axis, const char *name);

/* ---- neural-network ops (ops/nn_ops.c) ---- */

DEFT_API deft_output deft_bias_add(deft_graph *g, deft_output value, deft_output bias,
                                   const char *name);
DEFT_API deft_output deft_relu(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_elu(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_selu(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_leaky_relu(deft_graph *g, deft_output x, float alpha,
                                     const char *name);
DEFT_API deft_output deft_sigmoid(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_tanh(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_softmax(deft_graph *g, deft_output logits, const char *name);
/* SparseSoftmaxCrossEntropyWithLogits: returns output 0, the per-example loss [B]; output 1 (the
 * backprop [B,C]) is {op, 1}. logits [B,C] float; labels [B] int32 or int64. */
DEFT_API deft_output deft_sparse_softmax_cross_entropy_with_logits(deft_graph *g,
                                                                   deft_output logits,
                                                                   deft_output labels,
                                                                   const char *name);
/* InTopKV2 (k as a Const input of the targets' dtype, named "<name>/k"). */
DEFT_API deft_output deft_in_top_k(deft_graph *g, deft_output predictions, deft_output targets,
                                   int64_t k, const char *name);
/* Gradient kernels, as TF names them. */
DEFT_API deft_output deft_relu_grad(deft_graph *g, deft_output gradients, deft_output features,
                                    const char *name);
DEFT_API deft_output deft_elu_grad(deft_graph *g, deft_output gradients, deft_output outputs,
                                   const char *name);
DEFT_API deft_output deft_selu_grad(deft_graph *g, deft_output gradients, deft_output outputs,
                                    const char *name);
DEFT_API deft_output deft_leaky_relu_grad(deft_graph *g, deft_output gradients,
                                          deft_output features, float alpha, const char *name);
DEFT_API deft_output deft_sigmoid_grad(deft_graph *g, deft_output y, deft_output dy,
                                       const char *name);
DEFT_API deft_output deft_tanh_grad(deft_graph *g, deft_output y, deft_output dy,
                                    const char *name);
DEFT_API deft_output deft_rsqrt_grad(deft_graph *g, deft_output y, deft_output dy,
                                     const char *name);
DEFT_API deft_output deft_sqrt_grad(deft_graph *g, deft_output y, deft_output dy,
                                    const char *name);
DEFT_API deft_output deft_bias_add_grad(deft_graph *g, deft_output out_backprop,
                                        const char *name);

/* ---- random ops (ops/random_ops.c) ----
 * `seed` is the op-level seed (0 = none). With neither a graph seed nor an op seed the stream is
 * seeded randomly; otherwise (graph seed, op seed) fix it, as in TF. */
DEFT_API deft_output deft_random_uniform(deft_graph *g, deft_output shape, deft_dtype dtype,
                                         int64_t seed, const char *name);
DEFT_API deft_output deft_truncated_normal(deft_graph *g, deft_output shape, deft_dtype dtype,
                                           int64_t seed, const char *name);
DEFT_API deft_output deft_random_normal(deft_graph *g, deft_output shape, deft_dtype dtype,
                                        int64_t seed, const char *name);

/* ---- state (ops/state_ops.c) ---- */

/* A variable (TF's RefVariable): creates VariableV2 `name`, `name/Assign` (Assign of
 * initial_value, which must have a compatible dtype and shape) and `name/read` (the Identity
 * snapshot), and adds {var, 0} to GLOBAL_VARIABLES, and to TRAINABLE_VARIABLES if trainable.
 * `name` is made unique within the current scope. Returns the VariableV2 op, or NULL (sticky
 * error). */
DEFT_API deft_op *deft_variable_new(deft_graph *g, const char *name, deft_output initial_value,
                                    bool trainable);
/* The variable's `/read` snapshot: use it wherever the variable's value is an input. */
DEFT_API deft_output deft_variable_value(const deft_op *var);
/* The variable's initializer (`/Assign`) op. */
DEFT_API deft_op *deft_variable_initializer(const deft_op *var);
/* The initial-value tensor the variable was built with. */
DEFT_API deft_output deft_variable_initial_value(const deft_op *var);
/* True iff op is a variable (VariableV2 or the legacy Variable). */
DEFT_API bool deft_op_is_variable(const deft_op *op);
/* True iff var was created trainable. */
DEFT_API bool deft_variable_trainable(const deft_op *var);
/* `init`: a NoOp with a control input on every global variable's initializer. */
DEFT_API deft_op *deft_global_variables_initializer(deft_graph *g, const char *name);
/* Assign / AssignAdd / AssignSub: `ref` must be a variable op's output 0. Return output_ref. */
DEFT_API deft_output deft_assign(deft_graph *g, deft_output ref, deft_output value,
                                 const char *name);
DEFT_API deft_output deft_assign_add(deft_graph *g, deft_output ref, deft_output value,
                                     const char *name);
DEFT_API deft_output deft_assign_sub(deft_graph *g, deft_output ref, deft_output value,
                                     const char *name);

/* ---- control flow (ops/control_flow_ops.c) ---- */

/* NoOp with control inputs on ops[0..n) (tf.group). */
DEFT_API deft_op *deft_group(deft_graph *g, deft_op *const *ops, int n, const char *name);
/* Switch: returns output_false; output_true is {op, 1}. */
DEFT_API deft_output deft_switch(deft_graph *g, deft_output data, deft_output pred,
                                 const char *name);
/* Merge of n inputs: returns output; value_index is {op, 1}. */
DEFT_API deft_output deft_merge(deft_graph *g, const deft_output *inputs, int n,
                                const char *name);

#ifdef __cplusplus
}
#endif
#endif
