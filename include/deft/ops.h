/* SPDX-License-Identifier: Apache-2.0 */
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
/* Floor (float types; no gradient, as in TF). */
DEFT_API deft_output deft_floor(deft_graph *g, deft_output x, const char *name);

/* ---- more math (ops/math_more_ops.c) ---- */

/* Div: TF 1.0's division (tf.div's op): x / y for floats, truncated toward zero for integers
 * (an integer zero divisor fails the run naming the node). */
DEFT_API deft_output deft_div_v1(deft_graph *g, deft_output x, deft_output y, const char *name);
/* Mod: the truncated remainder (C's fmod / %; sign of x). No gradient, as in TF. */
DEFT_API deft_output deft_mod(deft_graph *g, deft_output x, deft_output y, const char *name);
/* Pow: x^y elementwise (float types). */
DEFT_API deft_output deft_pow(deft_graph *g, deft_output x, deft_output y, const char *name);
/* LogicalAnd / LogicalOr (broadcasting) and LogicalNot of bool tensors. */
DEFT_API deft_output deft_logical_and(deft_graph *g, deft_output x, deft_output y,
                                      const char *name);
DEFT_API deft_output deft_logical_or(deft_graph *g, deft_output x, deft_output y,
                                     const char *name);
DEFT_API deft_output deft_logical_not(deft_graph *g, deft_output x, const char *name);
/* Ceil and Round (half to even, as TF) of float tensors; no gradient, as in TF. */
DEFT_API deft_output deft_ceil(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_round(deft_graph *g, deft_output x, const char *name);
/* log(1 + x), exp(x) - 1 and the error function, accurate near 0. */
DEFT_API deft_output deft_log1p(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_expm1(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_erf(deft_graph *g, deft_output x, const char *name);
/* Softplus log(1 + exp(x)) (TF's thresholds: x itself above 13.94 in float32) and Softsign
 * x / (1 + |x|), with their gradient kernels (gradients * sigmoid(features), gradients /
 * (1 + |features|)^2). */
DEFT_API deft_output deft_softplus(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_softsign(deft_graph *g, deft_output x, const char *name);
DEFT_API deft_output deft_softplus_grad(deft_graph *g, deft_output gradients,
                                        deft_output features, const char *name);
DEFT_API deft_output deft_softsign_grad(deft_graph *g, deft_output gradients,
                                        deft_output features, const char *name);
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
/* Min (gradient shared by the minimal elements, as Max's); All and Any reduce bool tensors
 * (the reduction of nothing is true for All, false for Any). */
DEFT_API deft_output deft_min(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                              const char *name);
DEFT_API deft_output deft_all(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                              const char *name);
DEFT_API deft_output deft_any(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                              const char *name);
/* tf.reduce_mean / reduce_sum with literal axes (NULL = all axes): the axes Const is created
 * outside the op's scope and named "Const" as TF does. */
DEFT_API deft_output deft_reduce_mean(deft_graph *g, deft_output x, const int32_t *axes, int n,
                                      bool keep_dims, const char *name);
DEFT_API deft_output deft_reduce_sum(deft_graph *g, deft_output x, const int32_t *axes, int n,
                                     bool keep_dims, const char *name);
/* ArgMax along axis (output_type int64). */
DEFT_API deft_output deft_argmax(deft_graph *g, deft_output x, int axis, const char *name);

/* ---- slicing (ops/slice_ops.c) ---- */

/* StridedSlice: Python's input[begin:end:strides] with TF's masks (bit i of a mask refers to
 * entry i of the spec): begin_mask / end_mask ignore begin[i] / end[i] (take the whole range in
 * the stride's direction), ellipsis_mask marks the entry standing for all unnamed dims (one at
 * most; with none, one is implied after the last entry), new_axis_mask inserts a dim of size 1,
 * shrink_axis_mask takes the single index begin[i] and drops the dim. begin, end and strides are
 * int32 or int64 vectors of one length; strides must be non-zero and may be negative. Out-of-range
 * begin/end are clamped; a shrunk index out of range is an error naming the node. */
DEFT_API deft_output deft_strided_slice(deft_graph *g, deft_output input, deft_output begin,
                                        deft_output end, deft_output strides, int64_t begin_mask,
                                        int64_t end_mask, int64_t ellipsis_mask,
                                        int64_t new_axis_mask, int64_t shrink_axis_mask,
                                        const char *name);
/* StridedSliceGrad: a tensor of `shape` (a vector) holding zeros except dy at the positions the
 * same StridedSlice takes; dy must have that slice's shape. */
DEFT_API deft_output deft_strided_slice_grad(deft_graph *g, deft_output shape, deft_output begin,
                                             deft_output end, deft_output strides, deft_output dy,
                                             int64_t begin_mask, int64_t end_mask,
                                             int64_t ellipsis_mask, int64_t new_axis_mask,
                                             int64_t shrink_axis_mask, const char *name);
/* Split (tf.split with a number): num_split equal pieces of value along the int32 scalar
 * split_dim (negative counts from the end), which num_split must divide. Returns the op (default
 * name "split"); piece i is deft_op_output(op, i). NULL on failure (sticky error). */
DEFT_API deft_op *deft_split(deft_graph *g, deft_output split_dim, deft_output value,
                             int64_t num_split, const char *name);
/* SplitV (tf.split with sizes): pieces of the sizes in size_splits (int32/int64 vector of
 * num_split entries, one may be -1 for the rest) along split_dim. Returns the op as deft_split. */
DEFT_API deft_op *deft_split_v(deft_graph *g, deft_output value, deft_output size_splits,
                               deft_output split_dim, int64_t num_split, const char *name);

/* ReverseV2: reverses the dims listed in `axis` (an int32/int64 vector; negative counts from
 * the end; a dim named twice is an error). */
DEFT_API deft_output deft_reverse_v2(deft_graph *g, deft_output tensor, deft_output axis,
                                     const char *name);

/* ReverseSequence (ops/sequence_ops.c): for each slice i along batch_dim, reverses its first
 * seq_lengths[i] entries along seq_dim (seq_lengths: int32/int64 vector of input.dims(batch_dim)
 * entries, each in [0, input.dims(seq_dim)]); negative dims count from the end and the two dims
 * must differ. Differentiable in input. */
DEFT_API deft_output deft_reverse_sequence(deft_graph *g, deft_output input,
                                           deft_output seq_lengths, int64_t seq_dim,
                                           int64_t batch_dim, const char *name);

/* ---- more array ops (ops/array_more_ops.c) ---- */

/* ShapeN: one Shape per input (out_type int32 or int64). Returns the op; output i is input i's
 * shape. NULL on failure (sticky error). */
DEFT_API deft_op *deft_shape_n(deft_graph *g, const deft_output *inputs, int n,
                               deft_dtype out_type, const char *name);
/* IdentityN: output i is input i (any dtypes); gradients pass through. Returns the op. */
DEFT_API deft_op *deft_identity_n(deft_graph *g, const deft_output *inputs, int n,
                                  const char *name);
/* OneHot: a new dim of size depth (int32 scalar) at `axis` (-1: last) holding on_value at each
 * index and off_value elsewhere (indices outside [0, depth) give a row of off_value). */
DEFT_API deft_output deft_one_hot(deft_graph *g, deft_output indices, deft_output depth,
                                  deft_output on_value, deft_output off_value, int64_t axis,
                                  const char *name);
/* Cumsum along the scalar `axis`: exclusive starts from 0, reverse sums from the end. */
DEFT_API deft_output deft_cumsum(deft_graph *g, deft_output x, deft_output axis, bool exclusive,
                                 bool reverse, const char *name);
/* The ClipByValue op (TF >= 1.8's tf.clip_by_value): min and max are scalars or have t's shape.
 * (deft_clip_by_value in deft/train.h builds TF 1.x's Minimum/Maximum graph instead.) */
DEFT_API deft_output deft_clip_by_value_op(deft_graph *g, deft_output t,
                                           deft_output clip_value_min,
                                           deft_output clip_value_max, const char *name);

/* ---- searching and logging (ops/search_ops.c) ---- */

/* Where: the coordinates (int64 [count, rank], row-major order) of the true elements of a bool
 * tensor. */
DEFT_API deft_output deft_where(deft_graph *g, deft_output condition, const char *name);
/* TopKV2: the k (int32 scalar) largest entries of each last-dim row (float/double), largest
 * first, lower index first among equals; returns the op: output 0 values, output 1 indices
 * (int32). The values' gradient is scattered back to the indices' positions (TF's). */
DEFT_API deft_op *deft_top_k(deft_graph *g, deft_output input, deft_output k, bool sorted,
                             const char *name);
/* Unique of a vector: output 0 the distinct values in order of first appearance, output 1
 * (out_idx int32/int64) each element's index into them. Returns the op. */
DEFT_API deft_op *deft_unique(deft_graph *g, deft_output x, deft_dtype out_idx,
                              const char *name);
/* ListDiff: output 0 the elements of vector x not in y (x's order, duplicates kept), output 1
 * their positions in x. Returns the op. */
DEFT_API deft_op *deft_list_diff(deft_graph *g, deft_output x, deft_output y,
                                 deft_dtype out_idx, const char *name);
/* Assert: running it with a false condition fails the run (INVALID_ARGUMENT naming the node)
 * with "assertion failed: " and the first `summarize` elements of each data tensor. Returns the
 * op (no outputs: make it a control input or a target). */
DEFT_API deft_op *deft_assert(deft_graph *g, deft_output condition, const deft_output *data,
                              int n, int64_t summarize, const char *name);
/* Print: forwards input, printing message and the data tensors (first `summarize` elements) to
 * stderr the first first_n runs of the plan (-1: every run). */
DEFT_API deft_output deft_print(deft_graph *g, deft_output input, const deft_output *data, int n,
                                const char *message, int64_t first_n, int64_t summarize,
                                const char *name);

/* ---- transposes (ops/transpose_ops.c) ---- */

/* Transpose: output dim i is input dim perm[i] (perm an int32/int64 permutation vector). Default
 * name "transpose". */
DEFT_API deft_output deft_transpose(deft_graph *g, deft_output x, deft_output perm,
                                    const char *name);
/* InvertPermutation of an int32/int64 vector; a non-permutation fails the run naming the node. */
DEFT_API deft_output deft_invert_permutation(deft_graph *g, deft_output x, const char *name);

/* ---- sparse gradients and sparse updates (ops/sparse_grad_ops.c) ---- */

/* TF's IndexedSlices: a tensor of shape dense_shape that is zero except in the rows `indices`
 * names; row indices[i] is the sum of values[i] over every i naming it (a row may be named more
 * than once). This is what the gradient of a gather is (deft_gradients_sparse in deft/train.h),
 * and what an allgather of a sparse gradient concatenates (values and indices along axis 0).
 *   values:      [n, dense_shape[1], ...], of the dense tensor's dtype
 *   indices:     int32 or int64 [n], each in [0, dense_shape[0])
 *   dense_shape: int32 vector, the dense tensor's shape */
typedef struct deft_indexed_slices {
  deft_output values;
  deft_output indices;
  deft_output dense_shape;
} deft_indexed_slices;

/* The dense tensor of s, as TF's _IndexedSlicesToTensor builds it:
 * UnsortedSegmentSum(values, indices, dense_shape[0]) (with a StridedSlice for dense_shape[0]).
 * Invalid output (sticky error) on failure. */
DEFT_API deft_output deft_indexed_slices_to_dense(deft_graph *g, deft_indexed_slices s,
                                                  const char *name);

/* ScatterUpdate / ScatterAdd / ScatterSub (tf.scatter_update, ...): sets, adds to or subtracts
 * from the rows `indices` (int32/int64, any shape) of the variable `ref` (a reference, at least
 * 1-D) the matching slices of `updates` (shape indices.shape + ref.shape[1:], or a scalar for
 * every row named). Returns a reference to the variable. Add and Sub take float, double, int32
 * and int64 variables (integers wrap), Update any non-string dtype. At run time an index outside
 * [0, ref.dims[0]) fails the op (naming it and the position) before anything is written;
 * repeated indices are applied in order. Not differentiable. */
DEFT_API deft_output deft_scatter_update(deft_graph *g, deft_output ref, deft_output indices,
                                         deft_output updates, const char *name);
DEFT_API deft_output deft_scatter_add(deft_graph *g, deft_output ref, deft_output indices,
                                      deft_output updates, const char *name);
DEFT_API deft_output deft_scatter_sub(deft_graph *g, deft_output ref, deft_output indices,
                                      deft_output updates, const char *name);

/* ---- quantization (ops/quantize_ops.c) ---- */

/* QuantizeV2 (tf.quantize): float input -> T (DEFT_QINT8, DEFT_QUINT8 or DEFT_QINT32) in `mode`
 * "MIN_COMBINED" (NULL: the default), "MIN_FIRST" or "SCALED", rounding ties by round_mode
 * "HALF_AWAY_FROM_ZERO" (NULL: the default) or "HALF_TO_EVEN"; min_range and max_range are float
 * scalars. Returns the op: output 0 the quantized tensor, outputs 1 and 2 the float range used
 * (TF's widening: min <= 0 and max > min). The formulas are in ops/quantize_ops.c. NULL on
 * failure (sticky error). Not differentiable. */
DEFT_API deft_op *deft_quantize_v2(deft_graph *g, deft_output input, deft_output min_range,
                                   deft_output max_range, deft_dtype t, const char *mode,
                                   const char *round_mode, const char *name);
/* Dequantize: a quantized tensor and its float range -> float, in `mode` (as above). */
DEFT_API deft_output deft_dequantize(deft_graph *g, deft_output input, deft_output min_range,
                                     deft_output max_range, const char *mode, const char *name);

/* ---- gathers and scatters (ops/gather_ops.c) ----
 * Indices are int32 or int64; an index out of range fails the run with an error naming the node,
 * the position and the bound. Gradients are dense tensors (TF's IndexedSlices, converted as TF
 * converts them: UnsortedSegmentSum). */

/* Gather (v1): rows of params: output shape indices.shape + params.shape[1:]. */
DEFT_API deft_output deft_gather(deft_graph *g, deft_output params, deft_output indices,
                                 const char *name);
/* GatherV2 (tf.gather): slices of params along the scalar `axis`; the first batch_dims dims of
 * params and indices are batch dims (negative counts from indices' rank). Output shape
 * params.shape[:axis] + indices.shape[batch_dims:] + params.shape[axis+1:]. */
DEFT_API deft_output deft_gather_v2(deft_graph *g, deft_output params, deft_output indices,
                                    deft_output axis, int64_t batch_dims, const char *name);
/* GatherNd: indices [..., K] address params' first K dims; output shape indices.shape[:-1] +
 * params.shape[K:]. */
DEFT_API deft_output deft_gather_nd(deft_graph *g, deft_output params, deft_output indices,
                                    const char *name);
/* ScatterNd: zeros of `shape` (a vector of indices' dtype) with updates added at indices
 * (duplicates sum); updates has shape indices.shape[:-1] + shape[K:]. */
DEFT_API deft_output deft_scatter_nd(deft_graph *g, deft_output indices, deft_output updates,
                                     deft_output shape, const char *name);
/* UnsortedSegmentSum: output[i] = sum of data[j...] over j with segment_ids[j...] == i, for i in
 * [0, num_segments); negative ids are dropped, ids >= num_segments are an error. */
DEFT_API deft_output deft_unsorted_segment_sum(deft_graph *g, deft_output data,
                                               deft_output segment_ids, deft_output num_segments,
                                               const char *name);

/* ---- neural-network ops (ops/nn_ops.c) ---- */

DEFT_API deft_output deft_bias_add(deft_graph *g, deft_output value, deft_output bias,
                                   const char *name);
DEFT_API deft_output deft_relu(deft_graph *g, deft_output x, const char *name);
/* Relu6: min(max(x, 0), 6). */
DEFT_API deft_output deft_relu6(deft_graph *g, deft_output x, const char *name);
/* Relu6Grad: gradients where 0 < features < 6, else 0. */
DEFT_API deft_output deft_relu6_grad(deft_graph *g, deft_output gradients, deft_output features,
                                     const char *name);
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

/* LogSoftmax over the last dim: x - max - log(sum(exp(x - max))). */
DEFT_API deft_output deft_log_softmax(deft_graph *g, deft_output logits, const char *name);
/* SoftmaxCrossEntropyWithLogits with dense labels: features and labels [batch, classes] (float);
 * returns the op: output 0 the per-row loss [batch], output 1 the backprop softmax - labels. */
DEFT_API deft_op *deft_softmax_cross_entropy_with_logits_op(deft_graph *g, deft_output features,
                                                            deft_output labels,
                                                            const char *name);
/* BatchMatMul (broadcast false: x and y have the same batch dims) or BatchMatMulV2 (broadcast
 * true: NumPy-broadcast batch dims): output[..., :, :] = op(x[...]) op(y[...]), op the adjoint
 * (transpose) when adj_x / adj_y. Rank >= 2; float and double. */
DEFT_API deft_output deft_batch_matmul(deft_graph *g, deft_output x, deft_output y, bool adj_x,
                                       bool adj_y, bool broadcast, const char *name);

/* ---- random ops (ops/random_ops.c) ----
 * `seed` is the op-level seed (0 = none). With neither a graph seed nor an op seed the stream is
 * seeded randomly; otherwise (graph seed, op seed) fix it, as in TF. */
DEFT_API deft_output deft_random_uniform(deft_graph *g, deft_output shape, deft_dtype dtype,
                                         int64_t seed, const char *name);
DEFT_API deft_output deft_truncated_normal(deft_graph *g, deft_output shape, deft_dtype dtype,
                                           int64_t seed, const char *name);
DEFT_API deft_output deft_random_normal(deft_graph *g, deft_output shape, deft_dtype dtype,
                                        int64_t seed, const char *name);
/* Multinomial (tf.multinomial, ops/multinomial_ops.c): num_samples (int32 scalar) class indices
 * per row of logits (float/double [batch, classes], unnormalized log-probabilities), as
 * output_dtype (int32 or int64) [batch, num_samples]. Seeds as the ops above; with the same seeds
 * the first run draws TF's CPU kernel's numbers (one shard). Not differentiable. */
DEFT_API deft_output deft_multinomial(deft_graph *g, deft_output logits, deft_output num_samples,
                                      deft_dtype output_dtype, int64_t seed, const char *name);

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
/* True iff op is a variable (VariableV2, the legacy Variable, or a resource variable's
 * VarHandleOp). */
DEFT_API bool deft_op_is_variable(const deft_op *op);
/* True iff var was created trainable. */
DEFT_API bool deft_variable_trainable(const deft_op *var);
/* `init`: a NoOp with a control input on every global variable's initializer. */
DEFT_API deft_op *deft_global_variables_initializer(deft_graph *g, const char *name);
/* Assign / AssignAdd / AssignSub: `ref` must be a variable op's output 0. Return output_ref.
 * An Assign that initializes the variable or changes its shape replaces its storage, which must
 * not happen while another run reads the variable (deft/session.h, "Thread safety").
 * On a resource variable's handle they build TF's ResourceVariable.assign* instead: an
 * AssignVariableOp / AssignAddVariableOp / AssignSubVariableOp named `name`, and return a
 * ReadVariableOp of the new value made under a control dependency on it. */
DEFT_API deft_output deft_assign(deft_graph *g, deft_output ref, deft_output value,
                                 const char *name);
DEFT_API deft_output deft_assign_add(deft_graph *g, deft_output ref, deft_output value,
                                     const char *name);
DEFT_API deft_output deft_assign_sub(deft_graph *g, deft_output ref, deft_output value,
                                     const char *name);

/* ---- resource variables (ops/resource_var_ops.c) ----
 * TF's ResourceVariable: the variable op is a VarHandleOp whose output is a handle (dtype
 * DT_RESOURCE, which deft_dtype does not name: never fed or fetched); ops read and update the
 * variable through it. Storage, savers, restores, deft_session_variable_value / _set_variable and
 * the thread-safety rules of deft/session.h are those of ref variables. Every VarHandleOp node
 * has its own storage (two nodes with one shared_name do not share it). A handle is valid in the
 * run that made it. Gradients flow through ReadVariableOp and ResourceGather to the handle:
 * deft_gradients with x = {VarHandleOp, 0} gives the variable's gradient (ResourceGather's is
 * TF's IndexedSlices with deft_gradients_sparse). */

/* Makes deft_variable_new, deft_variable_new_exact, the layers and the optimizers' slots create
 * resource variables on g (on = true) or ref variables (false, the default), as TF's
 * variable_scope(use_resource=...) does. A resource variable `name` is TF's graph: VarHandleOp
 * `name` (shared_name = name), `name/IsInitialized/VarIsInitializedOp`, `name/Assign`
 * (AssignVariableOp of the initial value) and `name/Read/ReadVariableOp` (deft_variable_value);
 * optimizers update it with ResourceApply* / ResourceSparseApply* / ResourceScatter* ops. Affects
 * variables created afterwards only. */
DEFT_API void deft_graph_set_resource_variables(deft_graph *g, bool on);
/* True iff g creates resource variables (deft_graph_set_resource_variables). */
DEFT_API bool deft_graph_resource_variables(const deft_graph *g);
/* True iff var is a resource variable (a VarHandleOp). */
DEFT_API bool deft_variable_is_resource(const deft_op *var);

/* VarHandleOp: a resource variable's handle op, holding dtype values of shape `shape` (may be
 * partial); shared_name NULL means "". Returns the op (its output 0 is the handle), or NULL
 * (sticky error). Build-time checks: dtype must be one a variable can hold. */
DEFT_API deft_op *deft_var_handle_op(deft_graph *g, deft_dtype dtype, deft_shape shape,
                                     const char *shared_name, const char *name);
/* ReadVariableOp: the variable's value (a snapshot: later updates do not change it). The dtype
 * comes from the handle's VarHandleOp (through Identity, Enter and Switch); INVALID_ARGUMENT
 * otherwise. At run time an uninitialized variable fails with FAILED_PRECONDITION naming it. */
DEFT_API deft_output deft_read_variable_op(deft_graph *g, deft_output handle, const char *name);
/* AssignVariableOp / AssignAddVariableOp / AssignSubVariableOp: no outputs; run them as
 * targets. The value's dtype must be the variable's and its shape compatible with the declared
 * shape (INVALID_ARGUMENT at build time when known, else at run time); add/sub need an
 * initialized variable and a value of its current shape. */
DEFT_API deft_op *deft_assign_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                          const char *name);
DEFT_API deft_op *deft_assign_add_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                              const char *name);
DEFT_API deft_op *deft_assign_sub_variable_op(deft_graph *g, deft_output handle, deft_output value,
                                              const char *name);
/* VarIsInitializedOp: a bool scalar. */
DEFT_API deft_output deft_var_is_initialized_op(deft_graph *g, deft_output handle,
                                                const char *name);
/* VariableShape: the variable's current shape as an out_type (int32 or int64) vector. */
DEFT_API deft_output deft_variable_shape_op(deft_graph *g, deft_output handle, deft_dtype out_type,
                                            const char *name);
/* DestroyResourceOp: drops the variable's value (it reads as uninitialized afterwards). Must not
 * run while another run reads the variable. */
DEFT_API deft_op *deft_destroy_resource_op(deft_graph *g, deft_output handle, const char *name);
/* ResourceGather (batch_dims 0): rows `indices` (int32 or int64, any shape) of the variable,
 * shape indices.shape + var.shape[1:]. Out-of-range indices fail naming the position. Its
 * gradient is TF's: IndexedSlices over the variable's rows. */
DEFT_API deft_output deft_resource_gather(deft_graph *g, deft_output handle, deft_output indices,
                                          const char *name);
/* ResourceScatterAdd / Sub / Update: var[indices[i], ...] op= updates[i, ...] (updates of shape
 * indices.shape + var.shape[1:], or a scalar), rows in the order of indices. No outputs.
 * (deft_scatter_add / _sub / _update on a handle build these plus a ReadVariableOp, as TF's
 * state_ops.scatter_* on a ResourceVariable.) */
DEFT_API deft_op *deft_resource_scatter_add(deft_graph *g, deft_output handle, deft_output indices,
                                            deft_output updates, const char *name);
DEFT_API deft_op *deft_resource_scatter_sub(deft_graph *g, deft_output handle, deft_output indices,
                                            deft_output updates, const char *name);
DEFT_API deft_op *deft_resource_scatter_update(deft_graph *g, deft_output handle,
                                               deft_output indices, deft_output updates,
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

/* ---- pooling (ops/pool_ops.c) ----
 * x is 4-D in data_format "NHWC" ([batch, height, width, channels]) or "NCHW"; ksize and strides
 * hold 4 values in that order, with 1 for the batch and channel axes; padding is "SAME" (TF's:
 * the extra row/column at the bottom/right, padded elements ignored) or "VALID". Shapes and
 * attrs are checked at build time (sticky error naming the node). */
DEFT_API deft_output deft_max_pool(deft_graph *g, deft_output x, const int64_t ksize[4],
                                   const int64_t strides[4], const char *padding,
                                   const char *data_format, const char *name);
/* AvgPool: the mean of each window's real (unpadded) elements. */
DEFT_API deft_output deft_avg_pool(deft_graph *g, deft_output x, const int64_t ksize[4],
                                   const int64_t strides[4], const char *padding,
                                   const char *data_format, const char *name);
/* MaxPoolV2: ksize and strides are int32 [4] tensors. */
DEFT_API deft_output deft_max_pool_v2(deft_graph *g, deft_output x, deft_output ksize,
                                      deft_output strides, const char *padding,
                                      const char *data_format, const char *name);
/* MaxPoolGrad: the gradient of MaxPool(orig_input) = orig_output given `grad` (of the output's
 * shape): each window's gradient goes to its first maximum. */
DEFT_API deft_output deft_max_pool_grad(deft_graph *g, deft_output orig_input,
                                        deft_output orig_output, deft_output grad,
                                        const int64_t ksize[4], const int64_t strides[4],
                                        const char *padding, const char *data_format,
                                        const char *name);
/* MaxPoolGradGrad: `grad` has orig_input's shape; each output element takes grad at its
 * window's first maximum. */
DEFT_API deft_output deft_max_pool_grad_grad(deft_graph *g, deft_output orig_input,
                                             deft_output orig_output, deft_output grad,
                                             const int64_t ksize[4], const int64_t strides[4],
                                             const char *padding, const char *data_format,
                                             const char *name);
/* AvgPoolGrad: orig_input_shape is an int32 [4] tensor. */
DEFT_API deft_output deft_avg_pool_grad(deft_graph *g, deft_output orig_input_shape,
                                        deft_output grad, const int64_t ksize[4],
                                        const int64_t strides[4], const char *padding,
                                        const char *data_format, const char *name);

/* ---- fused batch normalization (ops/fused_bn_ops.c) ---- */

/* Options of deft_fused_batch_norm; a zeroed struct (or NULL) gives TF's defaults. */
typedef struct deft_fused_batch_norm_options {
  int version;                  /* 1, 2 or 3: FusedBatchNorm, ...V2, ...V3 (0 = 3) */
  float epsilon;                /* 0 = 0.0001 */
  float exponential_avg_factor; /* 0 = 1 (the attr is then left out, as TF 1.x writes it) */
  const char *data_format;      /* NULL = "NHWC"; or "NCHW" */
  bool inference;               /* is_training = !inference */
} deft_fused_batch_norm_options;

/* FusedBatchNorm(V2, V3): y = (x - mean) / sqrt(var + epsilon) * scale + offset per channel of
 * the 4-D x. Training uses the batch's mean and biased variance (mean and variance may then be
 * empty vectors, as tf.nn.fused_batch_norm passes them) and outputs batch_mean and the unbiased
 * batch_variance (outputs 1, 2), the saved statistics (3, 4) and, for V3, an empty
 * reserve_space_3 (5); inference uses and passes through the given mean and variance. Returns
 * the op (y is output 0), or NULL (sticky error). */
DEFT_API deft_op *deft_fused_batch_norm(deft_graph *g, deft_output x, deft_output scale,
                                        deft_output offset, deft_output mean,
                                        deft_output variance,
                                        const deft_fused_batch_norm_options *opts,
                                        const char *name);

/* ---- padding and L2Loss (ops/pad_ops.c) ----
 * paddings is an int32/int64 [rank(x), 2] tensor of (before, after) counts >= 0. */

/* Pad with zeros; PadV2 with the scalar constant_values (x's dtype). */
DEFT_API deft_output deft_pad(deft_graph *g, deft_output x, deft_output paddings,
                              const char *name);
DEFT_API deft_output deft_pad_v2(deft_graph *g, deft_output x, deft_output paddings,
                                 deft_output constant_values, const char *name);
/* MirrorPad: mode "REFLECT" (NULL; counts <= dim - 1, the edge not repeated) or "SYMMETRIC"
 * (counts <= dim, the edge repeated). MirrorPadGrad folds a padded gradient back onto x's
 * shape, summing the mirrored positions. */
DEFT_API deft_output deft_mirror_pad(deft_graph *g, deft_output x, deft_output paddings,
                                     const char *mode, const char *name);
DEFT_API deft_output deft_mirror_pad_grad(deft_graph *g, deft_output x, deft_output paddings,
                                          const char *mode, const char *name);
/* L2Loss: sum(t^2) / 2, a scalar. */
DEFT_API deft_output deft_l2_loss(deft_graph *g, deft_output t, const char *name);

/* ---- blocks between space, batch and depth (ops/space_ops.c) ---- */

/* SpaceToBatchND: zero-pads x's M spatial axes (1..M; M = the length of the int32/int64 vector
 * block_shape, each >= 1) by paddings ([M, 2] of (before, after) counts >= 0) and moves each
 * block_shape-sized block's offsets into the batch: output [batch * prod(block_shape),
 * (dim + pads) / block..., remaining dims], batch index offset * batch + n. Padded sizes must
 * divide by the block. TF 1.x writes dilated convolutions as SpaceToBatchND, a VALID Conv2D and
 * BatchToSpaceND. */
DEFT_API deft_output deft_space_to_batch_nd(deft_graph *g, deft_output x, deft_output block_shape,
                                            deft_output paddings, const char *name);
/* BatchToSpaceND: the inverse of SpaceToBatchND, then crops ([M, 2], counts >= 0) removed from
 * the rebuilt spatial axes. The batch must divide by prod(block_shape). */
DEFT_API deft_output deft_batch_to_space_nd(deft_graph *g, deft_output x, deft_output block_shape,
                                            deft_output crops, const char *name);
/* SpaceToBatch / BatchToSpace: the same on a 4-D NHWC x with block [block_size, block_size]
 * (block_size >= 2) and [2, 2] paddings / crops. */
DEFT_API deft_output deft_space_to_batch(deft_graph *g, deft_output x, deft_output paddings,
                                         int64_t block_size, const char *name);
DEFT_API deft_output deft_batch_to_space(deft_graph *g, deft_output x, deft_output crops,
                                         int64_t block_size, const char *name);
/* SpaceToDepth: each block_size x block_size block (block_size >= 2) of a 4-D image moves into
 * the channels: [n, h, w, c] -> [n, h / bs, w / bs, c * bs * bs], output channel
 * (i * bs + j) * c + k holding input [h * bs + i, w * bs + j, k]. DepthToSpace is its inverse
 * (the depth must divide by bs * bs). data_format "NHWC" (NULL) runs; "NCHW" and "NCHW_VECT_C"
 * build but fail to run with UNIMPLEMENTED, as on TF's CPU. */
DEFT_API deft_output deft_space_to_depth(deft_graph *g, deft_output x, int64_t block_size,
                                         const char *data_format, const char *name);
DEFT_API deft_output deft_depth_to_space(deft_graph *g, deft_output x, int64_t block_size,
                                         const char *data_format, const char *name);

#ifdef __cplusplus
}
#endif
#endif
