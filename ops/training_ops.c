/* ops/training_ops.c - the training op family: definitions, kernels and gradients side by side. */
#include "ops/op_def.h"

static const deft_op_def training_defs[] = {
    {.type = "_DefttrainingPlaceholder", .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_training, training_defs);
