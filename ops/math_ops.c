/* ops/math_ops.c - the math op family: definitions, kernels and gradients side by side. */
#include "ops/op_def.h"

static const deft_op_def math_defs[] = {
    {.type = "_DeftmathPlaceholder", .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_math, math_defs);
