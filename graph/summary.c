/* SPDX-License-Identifier: Apache-2.0 */
/* graph/summary.c - TF 1.x's tf.summary builders: scalar, histogram, merge, merge_all. They name
 * ops as TF's summary_scope does (a name scope named after the cleaned tag; the op takes the
 * scope's own name and the tag is that name) and collect into SUMMARIES. The ops themselves are
 * in ops/summary_ops.c. */
#include <ctype.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/summary.h"
#include "graph/graph_internal.h"
#include "base/alloc.h"

/* TF's clean_tag: characters outside [-/\w.] become '_', leading '/' are dropped. */
static char *clean_tag(const char *tag) {
  while (*tag == '/') tag++;
  char *t = deft_strdup(*tag ? tag : "summary");
  if (!t) return NULL;
  for (char *p = t; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '/' || ch == '.')) *p = '_';
  }
  return t;
}

/* A ScalarSummary or HistogramSummary of `value` under summary_scope(tag). */
static deft_output tagged(deft_graph *g, const char *type, const char *tag_input,
                          const char *tag, deft_output value) {
  deft_output none = {NULL, 0};
  if (!deft_inputs_ok(g, type, &value, 1)) return none;
  if (!tag) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: the tag is NULL", type);
    return none;
  }
  char *clean = clean_tag(tag);
  if (!clean) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building %s '%s'", type, tag);
    return none;
  }
  const char *scope = deft_graph_push_scope(g, clean);
  deft_free(clean);
  if (!scope) return none;
  deft_output t = deft_const_string(g, scope, tag_input);
  deft_op *op = NULL;
  if (deft_output_ok(t)) {
    deft_op_builder *b = deft_op_builder_new(g, type, NULL);
    deft_op_builder_set_exact_name(b, scope);
    deft_op_builder_add_input(b, t);
    deft_op_builder_add_input(b, value);
    op = deft_op_builder_finish(b);
  }
  deft_graph_pop_scope(g);
  if (!op) return none;
  deft_output out = {op, 0};
  deft_graph_add_to_collection(g, DEFT_SUMMARIES, out);
  return deft_graph_ok(g) ? out : none;
}

deft_output deft_summary_scalar(deft_graph *g, const char *tag, deft_output value) {
  return tagged(g, "ScalarSummary", "tags", tag, value);
}

deft_output deft_summary_histogram(deft_graph *g, const char *tag, deft_output values) {
  return tagged(g, "HistogramSummary", "tag", tag, values);
}

deft_output deft_summary_merge(deft_graph *g, const deft_output *inputs, int n, const char *name) {
  deft_output none = {NULL, 0};
  if (n < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "MergeSummary: needs at least one input, got %d", n);
    return none;
  }
  if (!deft_inputs_ok(g, "MergeSummary", inputs, n)) return none;
  if (!deft_graph_push_scope(g, name ? name : "Merge")) return none;
  deft_op_builder *b = deft_op_builder_new(g, "MergeSummary", name);
  deft_op_builder_add_input_list(b, inputs, n);
  deft_op *op = deft_op_builder_finish(b);
  deft_graph_pop_scope(g);
  if (!op) return none;
  deft_output out = {op, 0};
  return out;
}

deft_output deft_summary_merge_all(deft_graph *g, const char *name) {
  deft_output none = {NULL, 0};
  int n = deft_graph_get_collection(g, DEFT_SUMMARIES, NULL, NULL, 0, NULL);
  if (n <= 0) return none;
  deft_output *items = deft_malloc(sizeof *items * (size_t)n);
  if (!items) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory merging %d summaries", n);
    return none;
  }
  deft_graph_get_collection(g, DEFT_SUMMARIES, NULL, items, n, NULL);
  deft_output out = deft_summary_merge(g, items, n, name);
  deft_free(items);
  return out;
}
