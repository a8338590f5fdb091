/* SPDX-License-Identifier: Apache-2.0 */
/* graph/graph_internal.h - the structs behind deft_graph and deft_op, and the internal building
 * interface used by constructors, importers, gradients and the runtime. Internal. */
#ifndef DEFT_GRAPH_GRAPH_INTERNAL_H
#define DEFT_GRAPH_GRAPH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "deft/graph.h"
#include "base/arena.h"
#include "base/strmap.h"
#include "ops/op_build.h"
#include "ops/op_def.h"

/* What deft_variable_new records about a variable (VariableDef's names). */
typedef struct deft_var_info {
  deft_op *assign;           /* initializer op */
  deft_op *read;             /* Identity snapshot (ReadVariableOp for a resource variable) */
  deft_output initial_value; /* may be invalid for imported variables without one */
  bool trainable;
} deft_var_info;

struct deft_op { /* the counts after the pointers: 128 bytes, no padding */
  deft_graph *graph;
  const char *name;
  const char *type;
  const char *device;
  const deft_op_reg *reg; /* NULL: a type deft does not know (imported) */
  deft_output *inputs;
  deft_op **ctrl;
  deft_attr *attrs;
  int *out_types; /* TF DataType numbers (base types) */
  bool *out_ref;
  deft_shape *out_shapes;
  deft_var_info *var; /* variables only */
  int id;             /* creation index */
  int ninputs;
  int nctrl;
  int nattrs;
  int noutputs;
};

/* A collection item list. Raw (non-op) values of imported collections are kept for export. */
typedef struct deft_collection {
  char *key;
  deft_output *items;
  int n, cap;
  /* raw values (imported bytes/int64/float lists), exported as they came */
  int raw_kind; /* 0 = node list; else CollectionDef field number (2 bytes, 3 int64, 4 float) */
  deft_str *raw_bytes;
  int64_t *raw_ints;
  float *raw_floats;
  int nraw;
} deft_collection;

typedef struct deft_ctrl_scope {
  int start_id; /* ops created at or after this id are "inside" */
  int n;
  deft_op **ops;
} deft_ctrl_scope;

/* Thread safety (include/deft/graph.h): one thread builds at a time, while sessions on the
 * graph may run and plan in other threads. `mu` guards what a session reads of a graph that
 * grows: the op table (ops, nops, cap; taken by register_op) and the sticky status (written
 * through deft_graph_failv / deft_graph_set_status_locked). Planning holds it while it walks
 * the ops. Ops themselves never change once registered. */
struct deft_graph {
  pthread_mutex_t mu;
  atomic_bool failed; /* mirrors !deft_status_ok(status), for runs' lock-free check */
  deft_arena arena;
  deft_op **ops;
  int nops, cap;
  deft_strmap by_name;      /* exact name -> op */
  deft_strmap names_in_use; /* lower-cased full name -> use count */
  char **scopes;            /* scope stack (arena strings) */
  int nscopes, scopes_cap;
  char **vscopes; /* variable scope stack (arena strings) */
  int nvscopes, vscopes_cap;
  deft_strmap vscope_names; /* variable scope names in use (for default names) */
  deft_ctrl_scope *ctrl_scopes;
  int nctrl_scopes, ctrl_scopes_cap;
  deft_status *status; /* sticky */
  bool has_seed;
  int64_t seed;
  deft_collection *collections;
  int ncollections, collections_cap;
  deft_tensor **owned_tensors; /* attr tensors, freed with the graph */
  int nowned, owned_cap;
  int producer; /* GraphDef versions.producer of an imported graph, or 0 */
  bool resource_variables; /* deft_graph_set_resource_variables */
  /* The builder deft_op_builder_new returns when even a builder cannot be allocated: made with
   * the graph, so it is the graph's (one building thread), never a shared static. */
  deft_op_builder *spare_builder;
  /* A finished builder kept for the next deft_op_builder_new, with its scratch arrays (arena
   * memory): most ops then cost no builder and no array growth of their own. */
  deft_op_builder *free_builder;
  /* The status each op's shape function reports to, reset per op (the graph's one building
   * thread): not an allocation per op. */
  deft_status *shape_status;
};

/* A zeroed builder for deft_graph.spare_builder (graph/builder.c); NULL on OOM. Free with
 * deft_free. */
deft_op_builder *deft_op_builder_spare_new(void);

/* Copies st into g's sticky status (under g->mu) unless an error is already recorded. */
void deft_graph_fail_with(deft_graph *g, const deft_status *st);
/* Returns true iff g has no sticky error; otherwise sets status (FAILED_PRECONDITION, with the
 * graph's error) and returns false. Safe while another thread builds. */
bool deft_graph_check_ok(deft_graph *g, deft_status *status);

/* Records an error on g (first one sticks). */
void deft_graph_failv(deft_graph *g, deft_code code, const char *fmt, va_list ap);

/* Makes `full_name` unique with TF's rule (case-insensitive; "_1", "_2" suffixes) and, if
 * `mark`, records it as used. Returns an arena string, or NULL on OOM. */
const char *deft_graph_uniquify(deft_graph *g, const char *full_name, bool mark);
/* Marks an exact name as used (importers). */
bool deft_graph_mark_name_used(deft_graph *g, const char *full_name);
/* Marks `full_name`, which deft_graph_uniquify(g, requested, false) returned, as used, with
 * what uniquify with mark = true records: requested's use count rises past full_name's suffix,
 * so the next op asking for `requested` does not test the suffixes already taken again (an
 * accumulation named "gradients/AddN" 10^4 times was quadratic). Returns false on OOM. */
bool deft_graph_mark_unique_name_used(deft_graph *g, const char *requested, const char *full_name);
/* TF's name rules (the regexes of TF's Python graph module): an op name matches
 * [A-Za-z0-9.][A-Za-z0-9_.\-/>]*; a nested scope name [A-Za-z0-9_.\-/>]* (scope = true). */
bool deft_graph_valid_name(const char *name, bool scope);
/* Joins the current scope and name ("scope/name"); returns an arena string or NULL. */
const char *deft_graph_scoped_name(deft_graph *g, const char *name);

/* Creates a variable with the exact full name `full` (no scope, no uniquifying): VariableV2
 * `full`, "`full`/Assign", "`full`/read". */
deft_op *deft_variable_new_exact(deft_graph *g, const char *full, deft_output initial_value,
                                 bool trainable);

/* Takes ownership of t (freed with g); returns false on OOM (t is then freed). */
bool deft_graph_own_tensor(deft_graph *g, deft_tensor *t);

/* Returns the collection `key`, creating it if `create`; NULL if absent or on OOM. */
deft_collection *deft_graph_collection(deft_graph *g, const char *key, bool create);

/* Attr values: deep copy into g's arena (tensors shared and owned by g). */
bool deft_attr_value_copy(deft_graph *g, deft_attr_value *dst, const deft_attr_value *src);
/* Returns op's attr `name`, or NULL. */
const deft_attr *deft_op_find_attr(const deft_op *op, const char *name);
/* Equality of two attr values (for defaults and tests). */
bool deft_attr_value_equal(const deft_attr_value *a, const deft_attr_value *b);
/* Formats an attr value as TF text format. */
void deft_attr_value_format(const deft_attr_value *v, char *buf, size_t size);

/* ---- the builder, with the hooks importers need ---- */
/* Allows a type deft does not know (imports): the op gets `noutputs` outputs of the given TF
 * dtypes (types may be NULL = DT_INVALID) and unknown shapes. */
void deft_op_builder_allow_unknown(deft_op_builder *b, int noutputs, const int *types);
/* Imports: do not infer N/type attrs from input groups (attrs come complete), skip the graph's
 * control-dependency scopes, and keep attrs the signature does not know. */
void deft_op_builder_set_import_mode(deft_op_builder *b);
/* Sets an attr from a full value (importers). */
void deft_op_builder_set_attr_value(deft_op_builder *b, const char *name,
                                    const deft_attr_value *v);
/* True iff the builder's graph has no error (constructors can skip work). */
bool deft_op_builder_ok(const deft_op_builder *b);


/* Consumers: fills a freshly allocated array of the ops that use op's outputs (data edges) and
 * returns its length (-1 on OOM). Caller frees with deft_free. */
int deft_op_consumers(const deft_op *op, deft_op ***out);
/* Makes data input k of `merge` (a Merge or RefMerge) the loop back edge `src` (a NextIteration's
 * output), which could not exist when the Merge was made: TF1 while loops are the one cycle a
 * graph holds. Returns false with st set (INVALID_ARGUMENT naming both nodes) when k is out of
 * range, src is not an output of a NextIteration of this graph, or the dtypes differ. */
bool deft_op_patch_back_edge(deft_op *merge, int k, deft_output src, deft_status *st);

/* The signature's name of op's flat input i (list args expanded: every element of "values"
 * is "values"), or "?" for an op deft does not know or an index past the signature. */
const char *deft_op_input_arg_name(const deft_op *op, int i);

/* Looks up an attr of a registry def by name and the base TF type of an output. */
static inline int deft_output_type(deft_output o) { return o.op->out_types[o.index]; }

#endif
