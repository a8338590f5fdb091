/* deft/session.h - running graphs.
 *
 * A session runs (parts of) a graph and owns the variables' values. deft_session_run takes feeds,
 * fetches and targets like TF's Session.run: any tensor may be fed (placeholders, and also
 * intermediate tensors, which cuts off everything that only computes them); only the ops the
 * fetches and targets need are run. The plan for each (feeds, fetches, targets) signature is
 * built once and cached. The graph must outlive the session; ops may be added to the graph while
 * the session lives (later runs see them).
 */
#ifndef DEFT_SESSION_H
#define DEFT_SESSION_H

#include "deft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_session deft_session;

/* Returns a new session on g, or NULL with status set (FAILED_PRECONDITION if g has a sticky
 * error, RESOURCE_EXHAUSTED on OOM). */
DEFT_API deft_session *deft_session_new(deft_graph *g, deft_status *status);

/* Frees s and its variables' values. Accepts NULL. */
DEFT_API void deft_session_free(deft_session *s);

/* Sets the number of threads the session's kernels use: MatMul splits each product over them (one
 * single-threaded OpenBLAS call per piece; a session sets OpenBLAS's own thread count to 1, since
 * OpenBLAS's threads spin between calls and compete with deft's), and large elementwise, bias
 * and update work is split too. With n == 1 everything runs on the calling thread. n < 1 means 1.
 * The default is 1. */
DEFT_API void deft_session_set_threads(deft_session *s, int n);

/* Runs the graph.
 * - feeds[i] gets the value feed_values[i] (borrowed for the call). A fed tensor's dtype must
 *   equal the tensor's, and its shape must be compatible with the build-time shape.
 * - fetch_values[i] receives a new tensor for fetches[i], owned by the caller (free with
 *   deft_tensor_free). fetch_values may be NULL only if nfetches is 0.
 * - targets are ops to run for their effect (NoOps, Assigns, training ops).
 * On failure returns false, sets status (naming the node, its type and the problem) and leaves
 * every fetch_values[i] NULL. Variables updated by ops that ran before the failure keep their new
 * values, as in TF. */
DEFT_API bool deft_session_run(deft_session *s, const deft_output *feeds,
                               deft_tensor *const *feed_values, int nfeeds,
                               const deft_output *fetches, deft_tensor **fetch_values,
                               int nfetches, deft_op *const *targets, int ntargets,
                               deft_status *status);

/* Returns a copy of variable var's current value, or NULL with status set (FAILED_PRECONDITION
 * if it is uninitialized, INVALID_ARGUMENT if var is not a variable op). */
DEFT_API deft_tensor *deft_session_variable_value(deft_session *s, const deft_op *var,
                                                  deft_status *status);

/* Sets variable var's value to a copy of value (dtype must match, and the shape the variable's
 * declared shape). Returns false with status set otherwise. */
DEFT_API bool deft_session_set_variable(deft_session *s, const deft_op *var,
                                        const deft_tensor *value, deft_status *status);

/* Returns true iff var has a value in s. */
DEFT_API bool deft_session_variable_initialized(deft_session *s, const deft_op *var);

/* Returns s's graph. */
DEFT_API deft_graph *deft_session_graph(const deft_session *s);

#ifdef __cplusplus
}
#endif
#endif
