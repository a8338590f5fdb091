/* SPDX-License-Identifier: Apache-2.0 */
/* ops/resource_var.h - what the ops that update variables share between ref variables
 * (VariableV2: a Ref input is the storage) and resource variables (VarHandleOp: a DT_RESOURCE
 * input holds a handle to the storage). Implemented in ops/resource_var_ops.c. Internal. */
#ifndef DEFT_OPS_RESOURCE_VAR_H
#define DEFT_OPS_RESOURCE_VAR_H

#include <stdbool.h>

#include "ops/op_def.h"

/* The variable storage input i refers to: a ref input's, or a resource input's (a handle a
 * VarHandleOp made in this run). NULL after recording INVALID_ARGUMENT (a plain value, or a
 * handle of another kind, e.g. a TensorArray's). */
deft_var *deft_kernel_var_input(deft_kernel_ctx *c, int i);

/* True iff input i of the op being shaped is a resource (DT_RESOURCE). */
bool deft_shape_ctx_input_is_resource(const deft_shape_ctx *c, int i);
/* The shape of the variable input i refers to: a ref or value input's own shape; for a
 * resource input the declared shape attr of the VarHandleOp it comes from (through Identity, Enter
 * and Switch), or the unknown shape when that is not known at build time (TF's handle shape data).
 */
deft_shape deft_shape_ctx_var_shape(const deft_shape_ctx *c, int i);
/* Merges b into *a (unknown dims and ranks take the other's); false when they conflict. */
bool deft_shape_merge_into(deft_shape *a, deft_shape b);

#endif
