/* SPDX-License-Identifier: Apache-2.0 */
/* ops/nn_internal.h - the float32 inner loops of the nn family (ops/nn_kernels.c), called by
 * the kernels in ops/nn_ops.c. Each computes exactly what the generic double-evaluating loops
 * compute. Internal to the library. */
#ifndef DEFT_OPS_NN_INTERNAL_H
#define DEFT_OPS_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op_def.h"

void deft_nn_elu_f32(int64_t n, const float *x, float *y);
void deft_nn_selu_f32(int64_t n, const float *x, float *y);
void deft_nn_relu_f32(int64_t n, const float *x, float *y);
void deft_nn_relu6_f32(int64_t n, const float *x, float *y);
void deft_nn_tanh_f32(int64_t n, const float *x, float *y);
void deft_nn_sigmoid_f32(int64_t n, const float *x, float *y);
/* (gradients, outputs/features) -> backprops */
void deft_nn_elu_grad_f32(int64_t n, const float *g, const float *y, float *out);
void deft_nn_selu_grad_f32(int64_t n, const float *g, const float *y, float *out);
void deft_nn_relu_grad_f32(int64_t n, const float *g, const float *f, float *out);
void deft_nn_relu6_grad_f32(int64_t n, const float *g, const float *f, float *out);
/* (outputs, gradients) -> backprops */
void deft_nn_sigmoid_grad_f32(int64_t n, const float *y, const float *dy, float *out);
void deft_nn_tanh_grad_f32(int64_t n, const float *y, const float *dy, float *out);
/* y[r, :] = x[r, :] + b over `rows` rows of `ch` channels. */
void deft_nn_bias_add_rows_f32(int64_t rows, int64_t ch, const float *x, const float *b,
                               float *y);
/* out[k] = sum over rows of x[r, k], accumulated in double in row order. */
void deft_nn_col_sums_f32(int64_t rows, int64_t ch, const float *x, float *out);
/* Softmax over a block of rows of x [rows, cols] (cols >= 1; rows * cols <= DEFT_NN_SOFTMAX_BLOCK,
 * or rows == 1 for a longer row), in double around each row's max through the vectorized exp
 * (one vector pass over the block; relative error a few ulps of double, so the float results
 * round as with libm's exp except on near-ties), each row's sum in order: out[r, :] = the row's
 * softmax, and with labels (in [0, cols)), minus 1 at labels[r] and loss[r] = log(sum) -
 * (x[r, labels[r]] - max). A row holding a NaN or an infinity gets bad[r] = true and is not
 * written (the caller's libm path takes it, which propagates them); returns whether any row
 * did. */
enum { DEFT_NN_SOFTMAX_BLOCK = 2048 };
bool deft_nn_softmax_block_f32(int64_t rows, int64_t cols, const float *x, const int64_t *labels,
                               float *loss, float *out, bool *bad);


/* Defined in ops/nn_loss_ops.c, listed by the family table in ops/nn_ops.c. */
void deft_nn_softmax_shape(deft_shape_ctx *c);
void deft_nn_softmax_kernel(deft_kernel_ctx *c);
void deft_nn_softmax_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);
void deft_nn_xent_shape(deft_shape_ctx *c);
void deft_nn_xent_kernel(deft_kernel_ctx *c);
void deft_nn_xent_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx);
void deft_nn_in_top_k_shape(deft_shape_ctx *c);
void deft_nn_in_top_k_prepare(deft_prepare_ctx *p);
void deft_nn_in_top_k_kernel(deft_kernel_ctx *c);
void deft_nn_in_top_k_v2_shape(deft_shape_ctx *c);
void deft_nn_in_top_k_v2_kernel(deft_kernel_ctx *c);

#endif
