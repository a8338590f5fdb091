/* SPDX-License-Identifier: Apache-2.0 */
/* ops/op_build.c - building conveniences for the op families (see ops/op_build.h), on the
 * public builder only. */
#include "ops/op_build.h"

#include <string.h>

bool deft_inputs_ok(deft_graph *g, const char *type, const deft_output *inputs, int n) {
  for (int i = 0; i < n; i++)
    if (!inputs[i].op) {
      if (deft_graph_ok(g))
        deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: input %d is invalid (no op)", type, i);
      return false;
    }
  return deft_graph_ok(g);
}

deft_output deft_build_simple(deft_graph *g, const char *type, const char *name,
                              const deft_output *inputs, int ninputs) {
  deft_output none = {NULL, 0};
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < ninputs; i++) deft_op_builder_add_input(b, inputs[i]);
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none;
  deft_output o = {op, 0};
  return o;
}

const char *deft_leaf_name(deft_graph *g, const char *name, const char *type) {
  const char *full = deft_graph_unique_name(g, name ? name : type, false);
  if (!full) return NULL;
  size_t n = strlen(deft_graph_scope(g));
  return n ? full + n + 1 : full;
}
