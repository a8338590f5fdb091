/* SPDX-License-Identifier: Apache-2.0 */
/* deft/control_flow.h - TF 1.x while loops in the builder API (tf.while_loop).
 *
 * deft_while_loop builds TF's control flow v1 node structure, under name scope `name` ("while",
 * made unique): per loop variable an Enter ("while/Enter", "while/Enter_1", ...), a Merge, a
 * Switch on the LoopCond, an Identity that the body reads, a NextIteration feeding the Merge
 * back and an Exit, all in frame "<scope>/while_context" (the frame_name attr). The condition
 * and the body are C callbacks that build ops with the ordinary constructors; their ops are
 * named inside the loop's scope ("while/Less", "while/add"). A tensor from outside the loop that
 * they use reaches it through a constant Enter (is_constant = true, named "<consumer>/Enter"),
 * and an op they build without inputs (a Const) gets a control input from the loop's pivot, as
 * TF does; variables they create (the cells of deft/rnn.h do) stay outside the loop, their reads
 * entering it. So the graph exports to a MetaGraphDef that TF loads and runs, and deft imports
 * TF's while loops the same way. Loops nest: a callback may build another loop.
 *
 * Thread safety and errors: as for graph building (deft/graph.h); failures are the graph's
 * sticky error and name the loop. */
#ifndef DEFT_CONTROL_FLOW_H
#define DEFT_CONTROL_FLOW_H

#include "deft/graph.h"
#include "deft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The condition: given the n loop variables (as the loop's Merges output them), builds and
 * stores in *pred a bool scalar. Returns false on failure (after recording the sticky error;
 * if it did not, the loop records one naming it). */
typedef bool (*deft_while_cond_fn)(deft_graph *g, const deft_output *vars, int n, void *user,
                                   deft_output *pred);

/* The body: given the n loop variables (the loop's Identities), builds and stores in next[i]
 * the value of variable i for the next iteration, with its dtype and a shape that its invariant
 * admits. next[] comes filled with invalid outputs; one left invalid is an error. Returns false
 * on failure (as for the condition). */
typedef bool (*deft_while_body_fn)(deft_graph *g, const deft_output *vars, int n, void *user,
                                   deft_output *next);

/* Options of tf.while_loop. Get the defaults from deft_while_options_default() and change what
 * you need; the struct may grow, so never fill one from scratch. */
typedef struct deft_while_options {
  /* NULL: every variable keeps its initial shape. Else n shapes (partial shapes allowed, e.g.
   * an unknown batch dim, or deft_shape_unknown()), each compatible with its variable's initial
   * shape; every iteration's value must be compatible with it too. */
  const deft_shape *shape_invariants;
  int64_t parallel_iterations; /* TF's default 10; >= 1. deft runs iterations one by one. */
  /* Invalid ({NULL, 0}): no bound. Else an int32 or int64 scalar tensor: the loop runs at most
   * that many iterations. As TF 1.x does, a counter ("<scope>/iteration_counter", 0) becomes an
   * extra first loop variable, the condition is "counter < maximum_iterations" (Less) and then
   * the given one (LogicalAnd), and the body adds 1 to it ("<scope>/add"). The callbacks still
   * see only the n given variables, and only they are returned. */
  deft_output maximum_iterations;
  const char *name; /* name scope; NULL: "while" */
} deft_while_options;

/* TF's defaults: no shape invariants, parallel_iterations 10, no maximum_iterations, "while". */
DEFT_API deft_while_options deft_while_options_default(void);

/* tf.while_loop(cond, body, loop_vars): builds the loop over loop_vars[0..n) (n >= 1) and writes
 * the n values the loop ends with to results (the Exits' outputs). opts NULL means the
 * defaults. `user` is passed to both callbacks. Returns false (sticky error, results invalid)
 * on failure: an invalid loop variable, cond not yielding a bool scalar, the body leaving a
 * variable without a value or giving one of another dtype, or of a shape that the variable's
 * invariant does not admit (INVALID_ARGUMENT naming the loop, the variable and both shapes), a
 * shape invariant incompatible with the initial value, or a callback failing. The ops built
 * before the failure stay in the graph. */
DEFT_API bool deft_while_loop(deft_graph *g, deft_while_cond_fn cond, deft_while_body_fn body,
                              void *user, const deft_output *loop_vars, int n,
                              const deft_while_options *opts, deft_output *results);

/* ---- TensorArrays (tf.TensorArray, TF 1.x's V3 ops) ----
 * A TensorArray is a per-run array of tensors that loops write step by step: `handle` names it
 * and `flow` (a float scalar) orders the operations on it. Each write returns the new flow;
 * later operations use a deft_tensor_array with that flow (ta.flow = deft_tensor_array_write(
 * ...)), and a loop carries the flow as a loop variable while the handle enters as a constant,
 * as TF does. Run-time errors (a read out of range or of an unwritten element, a second write,
 * a dtype or shape mismatch) name the op and the array. All of them differentiate: deft_gradients
 * builds TF's gradient arrays (TensorArrayGradV3) with Read <-> Write, Gather <-> Scatter,
 * Concat <-> Split. */
typedef struct deft_tensor_array {
  deft_output handle, flow;
  deft_dtype dtype;
  deft_shape element_shape; /* as declared (partial allowed); reads get this shape */
} deft_tensor_array;

/* TensorArrayV3 of `size` (an int32 scalar) elements of dtype, named `name` (NULL:
 * "TensorArray"). Returns handle and flow (invalid on failure: sticky error). */
DEFT_API deft_tensor_array deft_tensor_array_new(deft_graph *g, deft_dtype dtype, deft_output size,
                                                 deft_shape element_shape, bool dynamic_size,
                                                 bool clear_after_read,
                                                 bool identical_element_shapes, const char *name);
/* TensorArrayWriteV3: element index (int32 scalar) = value. Returns the new flow. */
DEFT_API deft_output deft_tensor_array_write(deft_graph *g, deft_tensor_array ta, deft_output index,
                                             deft_output value, const char *name);
/* TensorArrayReadV3: element index. */
DEFT_API deft_output deft_tensor_array_read(deft_graph *g, deft_tensor_array ta, deft_output index,
                                            const char *name);
/* TensorArrayGatherV3: the elements at indices (int32 vector), stacked. */
DEFT_API deft_output deft_tensor_array_gather(deft_graph *g, deft_tensor_array ta,
                                              deft_output indices, const char *name);
/* TensorArrayScatterV3: element indices[i] = value[i]. Returns the new flow. */
DEFT_API deft_output deft_tensor_array_scatter(deft_graph *g, deft_tensor_array ta,
                                               deft_output indices, deft_output value,
                                               const char *name);
/* TF's TensorArray.stack() ("TensorArrayStack/": gather of range(size)) and unstack(value)
 * ("TensorArrayUnstack/": scatter of value's rows; returns the new flow). */
DEFT_API deft_output deft_tensor_array_stack(deft_graph *g, deft_tensor_array ta, const char *name);
DEFT_API deft_output deft_tensor_array_unstack(deft_graph *g, deft_tensor_array ta,
                                               deft_output value, const char *name);
/* TensorArraySizeV3 (int32 scalar) and TensorArrayCloseV3 (an op to run as a target). */
DEFT_API deft_output deft_tensor_array_size(deft_graph *g, deft_tensor_array ta, const char *name);
DEFT_API deft_op *deft_tensor_array_close(deft_graph *g, deft_tensor_array ta, const char *name);

#ifdef __cplusplus
}
#endif

#endif
