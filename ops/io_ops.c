/* ops/io_ops.c - the io op family: definitions, kernels and gradients side by side. */
#include "ops/op_def.h"

static const deft_op_def io_defs[] = {
    {.type = "_DeftioPlaceholder", .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_io, io_defs);
