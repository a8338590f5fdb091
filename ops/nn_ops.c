/* ops/nn_ops.c - the nn op family: definitions, kernels and gradients side by side. */
#include "ops/op_def.h"

static const deft_op_def nn_defs[] = {
    {.type = "_DeftnnPlaceholder", .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_nn, nn_defs);
