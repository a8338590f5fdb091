/* SPDX-License-Identifier: Apache-2.0 */
/* ops/math_internal.h - what the three files of the math family share. The family's table and
 * its elementwise gradients live in ops/math_ops.c, the kernels of elementwise ops, MatMul, AddN
 * and Cast in ops/math_kernels.c, and the reductions (definitions' parts, kernels, gradients and
 * constructors) in ops/reduce_ops.c. Internal to the library. */
#ifndef DEFT_OPS_MATH_INTERNAL_H
#define DEFT_OPS_MATH_INTERNAL_H

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"

#include "base/simd.h" /* DEFT_SIMD_CLONES */
#include "base/thread_pool.h"

/* ---- kernels (ops/math_kernels.c) ---- */

/* Binary elementwise ops with NumPy broadcasting. */
void deft_math_add_kernel(deft_kernel_ctx *c);
void deft_math_sub_kernel(deft_kernel_ctx *c);
void deft_math_mul_kernel(deft_kernel_ctx *c);
void deft_math_real_div_kernel(deft_kernel_ctx *c);
void deft_math_floor_div_kernel(deft_kernel_ctx *c);
void deft_math_floor_mod_kernel(deft_kernel_ctx *c);
void deft_math_maximum_kernel(deft_kernel_ctx *c);
void deft_math_minimum_kernel(deft_kernel_ctx *c);
void deft_math_squared_difference_kernel(deft_kernel_ctx *c);
void deft_math_equal_kernel(deft_kernel_ctx *c);
void deft_math_not_equal_kernel(deft_kernel_ctx *c);
void deft_math_greater_kernel(deft_kernel_ctx *c);
void deft_math_greater_equal_kernel(deft_kernel_ctx *c);
void deft_math_less_kernel(deft_kernel_ctx *c);
void deft_math_less_equal_kernel(deft_kernel_ctx *c);
/* Gradient kernels (y, dy). */
void deft_math_rsqrt_grad_kernel(deft_kernel_ctx *c);
void deft_math_sqrt_grad_kernel(deft_kernel_ctx *c);
void deft_math_reciprocal_grad_kernel(deft_kernel_ctx *c);

/* Unary elementwise ops. */
void deft_math_neg_kernel(deft_kernel_ctx *c);
void deft_math_square_kernel(deft_kernel_ctx *c);
void deft_math_sqrt_kernel(deft_kernel_ctx *c);
void deft_math_rsqrt_kernel(deft_kernel_ctx *c);
void deft_math_exp_kernel(deft_kernel_ctx *c);
void deft_math_log_kernel(deft_kernel_ctx *c);
void deft_math_reciprocal_kernel(deft_kernel_ctx *c);
void deft_math_abs_kernel(deft_kernel_ctx *c);
void deft_math_sign_kernel(deft_kernel_ctx *c);
void deft_math_floor_kernel(deft_kernel_ctx *c);
void deft_math_ceil_kernel(deft_kernel_ctx *c);
void deft_math_round_kernel(deft_kernel_ctx *c);
void deft_math_log1p_kernel(deft_kernel_ctx *c);
void deft_math_expm1_kernel(deft_kernel_ctx *c);
void deft_math_erf_kernel(deft_kernel_ctx *c);
void deft_math_softplus_kernel(deft_kernel_ctx *c);
void deft_math_softsign_kernel(deft_kernel_ctx *c);
void deft_math_logical_not_kernel(deft_kernel_ctx *c);
/* Div, Mod, Pow, LogicalAnd, LogicalOr; SoftplusGrad and SoftsignGrad (gradients, features). */
void deft_math_div_kernel(deft_kernel_ctx *c);
void deft_math_mod_kernel(deft_kernel_ctx *c);
void deft_math_pow_kernel(deft_kernel_ctx *c);
void deft_math_logical_and_kernel(deft_kernel_ctx *c);
void deft_math_logical_or_kernel(deft_kernel_ctx *c);
void deft_math_softplus_grad_kernel(deft_kernel_ctx *c);
void deft_math_softsign_grad_kernel(deft_kernel_ctx *c);

void deft_math_add_n_kernel(deft_kernel_ctx *c);
/* MatMul's parameter block (deft_math_matmul_prepare). */
typedef struct deft_matmul_params {
  bool ta, tb;     /* transpose_a, transpose_b */
  bool try_sparse; /* float with B not transposed: the sparse-A path may apply */
} deft_matmul_params;
void deft_math_matmul_prepare(deft_prepare_ctx *p);
void deft_math_matmul_kernel(deft_kernel_ctx *c);

/* C [M, N] = op(A) B for float32 A and row-major B [K, N] (the data of bbuf) when op(A)
 * (A [M, K], or A [K, M] transposed when ta) is mostly zeros (ops/matmul_sparse.c). Returns
 * false, writing nothing, when it declines (too dense, B not all finite, no AVX2/FMA/BMI2, or
 * too few rows to pay for checking B): the caller runs sgemm. Sets *failed (and returns false)
 * when the kernel failed (out of memory). */
bool deft_math_sgemm_sparse_a(deft_kernel_ctx *c, bool ta, int64_t M, int64_t N, int64_t K,
                              const float *A, const deft_buffer *bbuf, float *C, bool *failed);
/* Tests: makes the sparse product use its AVX2 loops even where AVX-512 is available, for runs
 * made on the calling thread (a per-thread setting). */
void deft_math_sparse_force_avx2(bool on);
void deft_math_cast_kernel(deft_kernel_ctx *c);

/* True iff Cast can convert between these dtypes (numbers and bool). */
bool deft_math_cast_supported(deft_dtype t);


/* ---- reductions (ops/reduce_ops.c) ---- */

void deft_math_reduction_shape(deft_shape_ctx *c);
void deft_math_reduction_prepare(deft_prepare_ctx *p);
void deft_math_argmax_shape(deft_shape_ctx *c);
void deft_math_sum_kernel(deft_kernel_ctx *c);
void deft_math_mean_kernel(deft_kernel_ctx *c);
void deft_math_prod_kernel(deft_kernel_ctx *c);
void deft_math_max_kernel(deft_kernel_ctx *c);
void deft_math_min_kernel(deft_kernel_ctx *c);
void deft_math_all_kernel(deft_kernel_ctx *c);
void deft_math_any_kernel(deft_kernel_ctx *c);
void deft_math_argmax_kernel(deft_kernel_ctx *c);
void deft_math_sum_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);
void deft_math_mean_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);
void deft_math_prod_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);
void deft_math_max_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);

/* ---- helpers shared by the constructors (ops/math_ops.c) ---- */

/* The constant value behind o (a Const, possibly behind Identity ops), or NULL. */
const deft_tensor *deft_math_const_value(deft_output o);

#endif
