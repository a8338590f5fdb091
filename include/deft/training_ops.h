/* SPDX-License-Identifier: Apache-2.0 */
/* deft/training_ops.h - the optimizer update ops (TF's training_ops: ApplyGradientDescent,
 * ApplyMomentum, ApplyAdagrad, ApplyRMSProp, ApplyAdam).
 *
 * Each constructor adds one op that, when run, updates its variable (and slot variables) in
 * place and returns a reference to the variable (output `out`). Conventions are deft/graph.h's:
 * NULL name = the op type; a failure is g's sticky error and returns an invalid output; an
 * invalid input makes the call a no-op returning an invalid output.
 *
 * Common contract:
 * - `var` and the slots (accum, ms, mom, m, v) must be variable references (output 0 of a
 *   VariableV2 op, e.g. {deft_variable_new(...), 0}) of dtype float or double, all of var's
 *   shape; the hyperparameters are scalars and `grad` has var's shape, all of var's dtype.
 *   Incompatible static shapes or dtypes are build-time errors.
 * - At run time the op fails with FAILED_PRECONDITION (naming the variable) if a variable is not
 *   initialized, and with INVALID_ARGUMENT (naming both shapes) if grad's shape differs from
 *   var's. A failed update changes nothing.
 * - Updates are copy-on-write: a value fetched before the update (or a live `<var>/read`
 *   snapshot) keeps its old contents.
 * - use_locking is always false: within a run updates are in order; runs of one session made
 *   concurrently from several threads update shared variables without locks and race on the
 *   values (Hogwild, as TF's use_locking=false), see deft/session.h.
 */
#ifndef DEFT_TRAINING_OPS_H
#define DEFT_TRAINING_OPS_H

#include "deft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ApplyGradientDescent: var -= alpha * delta. */
DEFT_API deft_output deft_apply_gradient_descent(deft_graph *g, deft_output var,
                                                 deft_output alpha, deft_output delta,
                                                 const char *name);

/* ApplyMomentum: accum = accum * momentum + grad; then var -= lr * accum, or with use_nesterov
 * var -= lr * grad + lr * momentum * accum. */
DEFT_API deft_output deft_apply_momentum(deft_graph *g, deft_output var, deft_output accum,
                                         deft_output lr, deft_output grad, deft_output momentum,
                                         bool use_nesterov, const char *name);

/* ApplyAdagrad: if update_slots, accum += grad^2; then var -= lr * grad / sqrt(accum). */
DEFT_API deft_output deft_apply_adagrad(deft_graph *g, deft_output var, deft_output accum,
                                        deft_output lr, deft_output grad, bool update_slots,
                                        const char *name);

/* ApplyRMSProp: ms = rho * ms + (1 - rho) * grad^2; mom = momentum * mom + lr * grad /
 * sqrt(ms + epsilon); var -= mom. */
DEFT_API deft_output deft_apply_rmsprop(deft_graph *g, deft_output var, deft_output ms,
                                        deft_output mom, deft_output lr, deft_output rho,
                                        deft_output momentum, deft_output epsilon,
                                        deft_output grad, const char *name);

/* ApplyAdam: lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power); m = beta1 * m + (1 - beta1)
 * * grad; v = beta2 * v + (1 - beta2) * grad^2; var -= lr_t * m / (sqrt(v) + epsilon), or with
 * use_nesterov var -= lr_t * (beta1 * m + (1 - beta1) * grad) / (sqrt(v) + epsilon). The
 * beta powers are inputs; the caller updates them (as TF's AdamOptimizer does). */
DEFT_API deft_output deft_apply_adam(deft_graph *g, deft_output var, deft_output m,
                                     deft_output v, deft_output beta1_power,
                                     deft_output beta2_power, deft_output lr, deft_output beta1,
                                     deft_output beta2, deft_output epsilon, deft_output grad,
                                     bool use_nesterov, const char *name);

/* The sparse updates (TF's SparseApply*): like the dense ops, but `grad` holds rows
 * [len(indices), var.shape[1:]...] and only the rows of var and its slots that `indices`
 * (int32/int64 vector) names are updated, in the order of indices (a repeated index is applied
 * twice; the optimizers sum duplicates first, as TF's). An index outside [0, var.dims[0]) fails
 * the op, naming the position, before anything is written. Cost: O(len(indices) * row size). */
DEFT_API deft_output deft_sparse_apply_momentum(deft_graph *g, deft_output var, deft_output accum,
                                                deft_output lr, deft_output grad,
                                                deft_output indices, deft_output momentum,
                                                bool use_nesterov, const char *name);
DEFT_API deft_output deft_sparse_apply_adagrad(deft_graph *g, deft_output var, deft_output accum,
                                               deft_output lr, deft_output grad,
                                               deft_output indices, bool update_slots,
                                               const char *name);
DEFT_API deft_output deft_sparse_apply_rmsprop(deft_graph *g, deft_output var, deft_output ms,
                                               deft_output mom, deft_output lr, deft_output rho,
                                               deft_output momentum, deft_output epsilon,
                                               deft_output grad, deft_output indices,
                                               const char *name);

#ifdef __cplusplus
}
#endif
#endif
