/* ops/random_ops.c - the random op family: definitions, kernels and gradients side by side. */
#include "ops/op_def.h"

static const deft_op_def random_defs[] = {
    {.type = "_DeftrandomPlaceholder", .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_random, random_defs);
