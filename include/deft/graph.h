/* deft/graph.h - building graphs.
 *
 * A deft_graph holds named ops (nodes) connected by tensors. An op is identified by its name
 * (unique within the graph); a tensor by (op, output index), written "name:index". Op types,
 * attr names and node names are TensorFlow 1.x's, so a graph deft builds reads like the one TF
 * builds and exports to TF's files.
 *
 * Sticky error. Constructors never return an error code. An op constructor that fails records the
 * first error on the graph (deft_graph_status), returns an invalid deft_output (op == NULL) and
 * leaves the graph unchanged. A constructor given an invalid input does nothing and returns an
 * invalid output. Build a whole model, then check deft_graph_ok(g) once.
 *
 * Ownership. The graph owns its ops, names and attrs (in a growable arena); pointers to them stay
 * valid until deft_graph_free. Tensors passed to constructors (Const values, attr tensors) are
 * copied. Strings returned by accessors are owned by the graph.
 *
 * Names. A `name` argument is relative to the current name scope and is made unique with TF's
 * rule: a name already in use (compared case-insensitively) gets "_1", "_2", ... appended.
 * NULL means the op type's default name (TF's: "MatMul", "Add", ...). Names follow TF's rule,
 * checked at build time (INVALID_ARGUMENT sticky error naming the name): an op's full name is
 * letters, digits and "_.-/>" and starts with a letter, digit or "."; so are scope names (a
 * nested scope may also start with "_", "-", "/" or ">"). "x:y" or "bad scope!" are refused.
 *
 * Thread safety (as TF's C API: a graph is thread-safe when used as directed): build a graph
 * (constructors, scopes, collections, gradients, imports into it) from one thread at a time.
 * While one thread builds, sessions on the graph may run and plan their runs in other threads
 * (include/deft/session.h); they see the ops added before their run's plan was built. Reading
 * accessors (names, attrs, shapes, lookups) may run concurrently with each other and with
 * sessions, not with building. deft_graph_free only when no session uses the graph.
 */
#ifndef DEFT_GRAPH_H
#define DEFT_GRAPH_H

#include <stdint.h>

#include "deft/status.h"
#include "deft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_graph deft_graph;
typedef struct deft_op deft_op;

/* A tensor: output `index` of `op`. In collections, index -1 denotes the op itself. */
typedef struct deft_output {
  deft_op *op;
  int index;
} deft_output;

/* Returns true iff o refers to an op (o.op != NULL). */
static inline bool deft_output_ok(deft_output o) { return o.op != NULL; }

/* ---- the graph ---- */

/* Returns a new empty graph, or NULL if memory is exhausted. */
DEFT_API deft_graph *deft_graph_new(void);

/* Frees g and everything it owns. Sessions on g must be freed first. Accepts NULL. */
DEFT_API void deft_graph_free(deft_graph *g);

/* Returns the sticky build status: OK, or the first error any constructor hit. Owned by g. */
DEFT_API const deft_status *deft_graph_status(const deft_graph *g);

/* Returns true iff no constructor has failed. */
DEFT_API bool deft_graph_ok(const deft_graph *g);

/* Records an error on g unless one is already recorded (the first error sticks). For code that
 * builds on the graph (layers, optimizers, importers). */
DEFT_API void deft_graph_fail(deft_graph *g, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears the sticky error so building can continue (for interactive tools and tests). */
DEFT_API void deft_graph_clear_error(deft_graph *g);

/* The graph-level random seed (TF's tf.set_random_seed). Random ops created afterwards derive
 * their streams from (graph seed, op seed) as TF does. */
DEFT_API void deft_graph_set_seed(deft_graph *g, int64_t seed);

/* Returns true and stores the graph seed in *seed if one was set. */
DEFT_API bool deft_graph_seed(const deft_graph *g, int64_t *seed);

/* ---- name scopes and control-dependency scopes ---- */

/* Opens name scope `name` (TF's tf.name_scope): it is made unique like an op name, so a second
 * "dnn" scope becomes "dnn_1". A name ending in "/" is used as-is (re-entering a scope). Ops
 * created until the matching pop are named "<scope>/<name>". Returns the full scope name (owned
 * by g, valid until g is freed), or NULL (sticky error; no scope is opened) on failure, e.g. for
 * a name TF's rule refuses. */
DEFT_API const char *deft_graph_push_scope(deft_graph *g, const char *name);

/* Closes the innermost name scope. Popping with no scope open is an error (FAILED_PRECONDITION
 * sticky error), as is popping a variable or control-dependency scope that is not open. */
DEFT_API void deft_graph_pop_scope(deft_graph *g);

/* Returns the current scope ("" at the top level). Owned by g. */
DEFT_API const char *deft_graph_scope(const deft_graph *g);

/* Opens a variable scope (tf.variable_scope) and a name scope of the same name. Variables made by
 * deft_get_variable and the layers are named after the variable scopes only ("hidden1/kernel"),
 * ignoring name scopes, as TF does; ops get the name scope ("dnn/hidden1/MatMul"). `name` is used
 * as given; if NULL, `default_name` is made unique among variable scopes ("dense", "dense_1").
 * Returns the full variable scope (owned by g), or NULL (sticky error). Pop with
 * deft_graph_pop_variable_scope. */
DEFT_API const char *deft_graph_push_variable_scope(deft_graph *g, const char *name,
                                                    const char *default_name);
DEFT_API void deft_graph_pop_variable_scope(deft_graph *g);
/* The current variable scope ("" at the top level). */
DEFT_API const char *deft_graph_variable_scope(const deft_graph *g);

/* Opens a control-dependency scope (TF's tf.control_dependencies): ops created until the matching
 * pop get control inputs on ops[0..n), unless they already depend on them through data inputs
 * created inside the scope. Scopes nest and accumulate. */
DEFT_API void deft_graph_push_control_deps(deft_graph *g, deft_op *const *ops, int n);

/* Closes the innermost control-dependency scope. */
DEFT_API void deft_graph_pop_control_deps(deft_graph *g);

/* ---- looking things up ---- */

/* The full name an op named `name` would get if created now (TF's Graph.unique_name): the
 * current name scope joined with `name`, made unique with TF's rule ("_1", "_2", compared
 * case-insensitively). When mark_as_used, the name is reserved, so no later op takes it.
 * Returns a string owned by g, valid until g is freed; NULL if g has an error or on out of
 * memory (then the sticky error). */
DEFT_API const char *deft_graph_unique_name(deft_graph *g, const char *name, bool mark_as_used);

/* Returns the op named `name`, or NULL. */
DEFT_API deft_op *deft_graph_op_by_name(const deft_graph *g, const char *name);

/* Returns the tensor "op:index" (or "op", meaning "op:0"). On failure returns an invalid output
 * and sets status: NOT_FOUND for an unknown op, OUT_OF_RANGE for a bad index (naming the op and
 * its output count), INVALID_ARGUMENT for a malformed name. */
DEFT_API deft_output deft_graph_tensor_by_name(const deft_graph *g, const char *name,
                                               deft_status *status);

/* Number of ops, and the op at position i in creation order (0 <= i < count). */
DEFT_API int deft_graph_num_ops(const deft_graph *g);
DEFT_API deft_op *deft_graph_op_at(const deft_graph *g, int i);

/* ---- ops ---- */

DEFT_API const char *deft_op_name(const deft_op *op);
DEFT_API const char *deft_op_type(const deft_op *op);
DEFT_API const char *deft_op_device(const deft_op *op);
DEFT_API deft_graph *deft_op_graph(const deft_op *op);
DEFT_API int deft_op_num_inputs(const deft_op *op);
/* Data input i (0 <= i < num_inputs). */
DEFT_API deft_output deft_op_input(const deft_op *op, int i);
DEFT_API int deft_op_num_control_inputs(const deft_op *op);
DEFT_API deft_op *deft_op_control_input(const deft_op *op, int i);
DEFT_API int deft_op_num_outputs(const deft_op *op);
/* Returns output i as a deft_output. */
DEFT_API deft_output deft_op_output(deft_op *op, int i);
/* True iff deft has a kernel for op's type (imported graphs may hold ops deft cannot run). */
DEFT_API bool deft_op_has_kernel(const deft_op *op);

/* The consumers of tensor o: every (op, data input index) pair reading it, in op creation order.
 * Stores up to max pairs in ops[] and input_index[] (either may be NULL when max is 0) and
 * returns the total number. Walks the whole graph (O(ops + edges)). */
DEFT_API int deft_output_consumers(deft_output o, deft_op **ops, int *input_index, int max);
/* The ops that have a control input on op, in creation order: stores up to max in out (NULL
 * when max is 0) and returns the total number. Walks the whole graph. */
DEFT_API int deft_op_control_outputs(const deft_op *op, deft_op **out, int max);

/* The number of tensors argument `arg_name` of op's type spans among its inputs (output false)
 * or outputs (output true): the value of its number attr for `N * T` arguments, the length of
 * its type-list attr for list(type) arguments, else 1. Returns -1 if the op type has no such
 * argument or deft does not know the type. */
DEFT_API int deft_op_arg_length(const deft_op *op, bool output, const char *arg_name);

/* Refines the build-time shape of tensor o with `shape` (TF_GraphSetTensorShape): the result
 * keeps every dim either knows. Ops already built on o keep the shapes they computed. Returns
 * false with status set (INVALID_ARGUMENT naming the tensor and both shapes) when the shapes
 * are incompatible (different known ranks or a known dim that differs). */
DEFT_API bool deft_output_set_shape(deft_output o, deft_shape shape, deft_status *status);

/* The dtype and the build-time (possibly partial) shape of a tensor. */
DEFT_API deft_dtype deft_output_dtype(deft_output o);
DEFT_API deft_shape deft_output_shape(deft_output o);

/* Writes "name:index" (or "name" for index -1) into buf; returns buf. */
DEFT_API char *deft_output_format(deft_output o, char *buf, size_t size);

/* ---- attrs of an op (read side) ----
 * Each getter returns false if op has no attr `name` or it has another kind. */
DEFT_API bool deft_op_attr_int(const deft_op *op, const char *name, int64_t *out);
DEFT_API bool deft_op_attr_float(const deft_op *op, const char *name, float *out);
DEFT_API bool deft_op_attr_bool(const deft_op *op, const char *name, bool *out);
DEFT_API bool deft_op_attr_type(const deft_op *op, const char *name, deft_dtype *out);
DEFT_API bool deft_op_attr_shape(const deft_op *op, const char *name, deft_shape *out);
/* *out points into the graph; *len gets the byte length. */
DEFT_API bool deft_op_attr_string(const deft_op *op, const char *name, const char **out,
                                  size_t *len);
/* *out is owned by the graph; do not free. */
DEFT_API bool deft_op_attr_tensor(const deft_op *op, const char *name, const deft_tensor **out);
DEFT_API bool deft_op_attr_int_list(const deft_op *op, const char *name, const int64_t **out,
                                    int *n);
DEFT_API bool deft_op_attr_type_list(const deft_op *op, const char *name, const deft_dtype **out,
                                     int *n);
/* The kind of attr `name`: stores in *type the attr's element kind, numbered as TF_AttrType
 * (0 string, 1 int, 2 float, 3 bool, 4 type, 5 shape, 6 tensor, 8 func), in *is_list whether
 * it is a list and in *list_size its length (-1 for a single value); any pointer may be NULL.
 * Returns false if op has no attr `name`. An empty list reports the kind it was set with. */
DEFT_API bool deft_op_attr_metadata(const deft_op *op, const char *name, int *type, bool *is_list,
                                    int *list_size);
/* List attrs besides the int and type lists above. Each returns false if op has no such list
 * attr or i is out of range; pointers stay owned by the graph. */
DEFT_API bool deft_op_attr_float_list(const deft_op *op, const char *name, const float **out,
                                      int *n);
DEFT_API bool deft_op_attr_bool_list_at(const deft_op *op, const char *name, int i, bool *out);
DEFT_API bool deft_op_attr_shape_list_at(const deft_op *op, const char *name, int i,
                                         deft_shape *out);
DEFT_API bool deft_op_attr_string_list_at(const deft_op *op, const char *name, int i,
                                          const char **out, size_t *len);
DEFT_API bool deft_op_attr_tensor_list_at(const deft_op *op, const char *name, int i,
                                          const deft_tensor **out);
DEFT_API int deft_op_num_attrs(const deft_op *op);
DEFT_API const char *deft_op_attr_name(const deft_op *op, int i);
/* Formats attr `name` as text (TF's text-format style, e.g. "b: true", "type: DT_FLOAT",
 * "shape { dim { size: -1 } }") into buf. Returns false if absent. */
DEFT_API bool deft_op_attr_format(const deft_op *op, const char *name, char *buf, size_t size);

/* ---- the generic op builder (TF_NewOperation / TF_FinishOperation) ----
 * Every typed constructor in deft/ops.h is written with it. Inputs are checked against the op
 * type's signature, type attrs (T, ...) are inferred from the inputs, missing attrs get their
 * defaults, and the shape function computes output shapes; any failure becomes the sticky
 * error, naming the node, its type and the input index. */
typedef struct deft_op_builder deft_op_builder;

/* Starts an op of `type` named `name` (relative to the current scope; NULL = type's default).
 * Always returns a builder (possibly a dead one if the graph already failed); finish it. */
DEFT_API deft_op_builder *deft_op_builder_new(deft_graph *g, const char *type, const char *name);
/* Gives the op the exact full name full_name: no scope, no uniquifying (TF_NewOperation's
 * rule); finishing fails with INVALID_ARGUMENT if an op already has that name. */
DEFT_API void deft_op_builder_set_exact_name(deft_op_builder *b, const char *full_name);
DEFT_API void deft_op_builder_add_input(deft_op_builder *b, deft_output in);
/* Names the op `full_name` exactly: no scope prefix, no uniquifying (TF_NewOperation's rule;
 * TF Python's name ending in "/"). Finishing fails, as the sticky error, if the name is taken. */
DEFT_API void deft_op_builder_set_exact_name(deft_op_builder *b, const char *full_name);
/* Adds a list input (for N * T and list(type) arguments). */
DEFT_API void deft_op_builder_add_input_list(deft_op_builder *b, const deft_output *in, int n);
DEFT_API void deft_op_builder_add_control_input(deft_op_builder *b, deft_op *op);
DEFT_API void deft_op_builder_set_device(deft_op_builder *b, const char *device);
DEFT_API void deft_op_builder_set_attr_int(deft_op_builder *b, const char *name, int64_t v);
DEFT_API void deft_op_builder_set_attr_float(deft_op_builder *b, const char *name, float v);
DEFT_API void deft_op_builder_set_attr_bool(deft_op_builder *b, const char *name, bool v);
DEFT_API void deft_op_builder_set_attr_type(deft_op_builder *b, const char *name, deft_dtype v);
DEFT_API void deft_op_builder_set_attr_shape(deft_op_builder *b, const char *name, deft_shape v);
DEFT_API void deft_op_builder_set_attr_string(deft_op_builder *b, const char *name,
                                              const char *v, size_t len);
/* The tensor is copied. */
DEFT_API void deft_op_builder_set_attr_tensor(deft_op_builder *b, const char *name,
                                              const deft_tensor *v);
DEFT_API void deft_op_builder_set_attr_int_list(deft_op_builder *b, const char *name,
                                                const int64_t *v, int n);
DEFT_API void deft_op_builder_set_attr_float_list(deft_op_builder *b, const char *name,
                                                  const float *v, int n);
DEFT_API void deft_op_builder_set_attr_type_list(deft_op_builder *b, const char *name,
                                                 const deft_dtype *v, int n);
DEFT_API void deft_op_builder_set_attr_shape_list(deft_op_builder *b, const char *name,
                                                  const deft_shape *v, int n);
DEFT_API void deft_op_builder_set_attr_bool_list(deft_op_builder *b, const char *name,
                                                 const bool *v, int n);
/* The tensors are copied. */
DEFT_API void deft_op_builder_set_attr_tensor_list(deft_op_builder *b, const char *name,
                                                   const deft_tensor *const *v, int n);
DEFT_API void deft_op_builder_set_attr_string_list(deft_op_builder *b, const char *name,
                                                   const char *const *v, int n);
/* Adds the op to the graph and frees b. Returns the op, or NULL after recording the sticky error
 * (the graph is then unchanged). */
DEFT_API deft_op *deft_op_builder_finish(deft_op_builder *b);

/* ---- collections (tf.add_to_collection / tf.get_collection) ---- */

#define DEFT_GLOBAL_VARIABLES "variables"
#define DEFT_TRAINABLE_VARIABLES "trainable_variables"
#define DEFT_UPDATE_OPS "update_ops"
#define DEFT_REGULARIZATION_LOSSES "regularization_losses"
#define DEFT_TRAIN_OP "train_op"
#define DEFT_LOSSES "losses"

/* Appends item (a tensor, or an op as {op, -1}) to collection `key`, creating it. Variables are
 * collected as {variable op, 0}. */
DEFT_API void deft_graph_add_to_collection(deft_graph *g, const char *key, deft_output item);

/* Collects the items of `key` whose name ("op" or "op:index") matches the regular expression
 * `scope` at its start (Python's re.match; PCRE2 syntax), or all items if scope is NULL or "".
 * Stores up to `max` items in out (out may be NULL to count) and returns how many matched, or -1
 * with status set (INVALID_ARGUMENT naming the pattern and the error offset) for a bad regex. A
 * missing collection has 0 items. */
DEFT_API int deft_graph_get_collection(const deft_graph *g, const char *key, const char *scope,
                                       deft_output *out, int max, deft_status *status);

/* Number of collections, and the key of collection i (in creation order). */
DEFT_API int deft_graph_num_collections(const deft_graph *g);
DEFT_API const char *deft_graph_collection_key(const deft_graph *g, int i);

#ifdef __cplusplus
}
#endif
#endif
