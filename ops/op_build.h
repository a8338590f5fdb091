/* SPDX-License-Identifier: Apache-2.0 */
/* ops/op_build.h - conveniences the op families' constructors and gradient builders use to build
 * ops. They are written on the public builder (deft/graph.h) only, so ops/ needs no graph
 * internals. Internal to the library. */
#ifndef DEFT_OPS_OP_BUILD_H
#define DEFT_OPS_OP_BUILD_H

#include <stdbool.h>

#include "deft/graph.h"

/* Builds a one-output op of `type` from `inputs` and returns output 0 (invalid, with the sticky
 * error set, on failure). */
deft_output deft_build_simple(deft_graph *g, const char *type, const char *name,
                              const deft_output *inputs, int ninputs);
/* True iff every input is valid and g has no error; otherwise records an error naming `type` if
 * none is recorded yet (an invalid input with no error means a caller bug). */
bool deft_inputs_ok(deft_graph *g, const char *type, const deft_output *inputs, int n);
/* The name, relative to the current scope, that an op named `name` (NULL: `type`) would get now,
 * for TF's "<op>/<input>" Consts made before the op. A string owned by g, or NULL (sticky error)
 * on OOM. */
const char *deft_leaf_name(deft_graph *g, const char *name, const char *type);

#endif
