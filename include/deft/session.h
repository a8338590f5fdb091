/* SPDX-License-Identifier: Apache-2.0 */
/* deft/session.h - running graphs.
 *
 * A session runs (parts of) a graph and owns the variables' values. deft_session_run takes feeds,
 * fetches and targets like TF's Session.run: any tensor may be fed (placeholders, and also
 * intermediate tensors, which cuts off everything that only computes them); only the ops the
 * fetches and targets need are run. The plan for each (feeds, fetches, targets) signature is
 * built once and cached. The graph must outlive the session; ops may be added to the graph while
 * the session lives (later runs see them), from one building thread, also while runs are in
 * progress in other threads.
 *
 * Thread safety (as TF's C API):
 * - deft_session_run may be called from several threads at once on one session (a server), and
 *   several sessions may run at once on one graph. Each run gets its own plan state (a run that
 *   finds its signature's cached plan in use builds another), so results equal those of the same
 *   runs made one after another, as long as the runs do not write variables that other runs
 *   read.
 * - Variables live in the session and are shared by its concurrent runs without locks, as TF's
 *   ref variables with use_locking=false: Apply* / AssignAdd updates from concurrent runs race on
 *   the values (an update may be lost or mixed, Hogwild style). In-place updates of a variable of
 *   fixed shape never change the session's structures. Not supported concurrently with other runs
 *   reading the same variable: an Assign that replaces the variable's storage (its first
 *   initialization, a new shape with validate_shape=false), and the copy an update makes when
 *   the value is shared with a fetched tensor; run initializers and restores before serving.
 *   Random ops keep a per-op stream in the session: concurrent runs of one random op race on it.
 *   Resource variables (VarHandleOp, deft/ops.h) have the same storage and the same rules:
 *   ResourceApply* / AssignAddVariableOp / ResourceScatter* are in-place updates (racing as
 *   above); AssignVariableOp and DestroyResourceOp replace or drop the storage, as an Assign
 *   that initializes. A ReadVariableOp's value is a snapshot: an update while it is live (or
 *   fetched) copies the storage first, as for a ref variable's read. Handles are per run.
 * - deft_session_variable_value / _set_variable / _variable_initialized may run concurrently with
 *   runs; set_variable concurrently with a run reading that variable is not supported.
 * - deft_session_set_threads and deft_session_free must not run concurrently with a run of the
 *   same session. Tensors fetched from a run may be freed on any thread.
 */
#ifndef DEFT_SESSION_H
#define DEFT_SESSION_H

#include "deft/graph.h"
#include "deft/threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_session deft_session;

/* Returns a new session on g, or NULL with status set (FAILED_PRECONDITION if g has a sticky
 * error, RESOURCE_EXHAUSTED on OOM). */
DEFT_API deft_session *deft_session_new(deft_graph *g, deft_status *status);

/* ---- session options: limits for untrusted graphs and servers ----
 * Opaque (it can grow); set, pass to deft_session_new_with_options (which copies it), free. */
typedef struct deft_session_options deft_session_options;

/* New options with the defaults (no run memory budget, no run time limit, file ops
 * unconfined), or NULL on OOM. */
DEFT_API deft_session_options *deft_session_options_new(void);
/* Frees o. Accepts NULL. */
DEFT_API void deft_session_options_free(deft_session_options *o);
/* The most bytes one run may allocate for output buffers and kernels' scratch memory (buffers
 * and scratch the session's plans keep from earlier runs do not count again). The op whose
 * output or scratch would cross it fails the run with RESOURCE_EXHAUSTED naming the op, what it
 * allocated (its output i, or its scratch memory), the bytes it asked for and the budget.
 * 0 = unlimited (the default). */
DEFT_API void deft_session_options_set_run_memory_budget(deft_session_options *o,
                                                         uint64_t bytes);
/* The longest a run may take, checked before each op: a run past it fails with
 * DEADLINE_EXCEEDED naming the op it reached. <= 0 = no limit (the default). */
DEFT_API void deft_session_options_set_max_run_seconds(deft_session_options *o,
                                                       double seconds);
/* Confines the graph's file ops (SaveV2, RestoreV2, MergeV2Checkpoints: every path a kernel
 * reads, writes, renames or removes) to `dir` and the directories below it; may be called
 * several times (any of the directories). Once one is given, a path outside all of them, or
 * one whose existing part resolves (symlinks, "..") outside, fails the op with
 * PERMISSION_DENIED naming the path. deft_saver_save/restore run those ops, so they are
 * confined too; the API's direct file calls (importers, deft_npy_*, the checkpoint reader)
 * are the caller's, not the graph's, and are not. `dir` must exist; it is resolved with
 * realpath now. Returns false (o unchanged) if it cannot be resolved or on OOM. Default: no
 * confinement (TF's behaviour: a graph is a program). `deft run` confines to the model's and
 * the checkpoint's directories. */
DEFT_API bool deft_session_options_allow_dir(deft_session_options *o, const char *dir);

/* Plan-time fusion (runtime/plan_fuse.c: a batch norm's elementwise pairs computed in their
 * consumer's pass, a Mul or SquaredDifference in its reduction's, a Conv2D / depthwise conv /
 * MatMul with the per-channel ops and activation after it in one step) on (the default) or
 * off, for the plans the session builds. Fusion never changes a result (the fused kernels compute what
 * the pairs compute, bit for bit); turning it off is for A/B measurements and debugging. */
DEFT_API void deft_session_options_set_plan_fusion(deft_session_options *o, bool on);

/* Like deft_session_new, with options (may be NULL = defaults; copied, so o may be freed
 * right after). */
DEFT_API deft_session *deft_session_new_with_options(deft_graph *g,
                                                      const deft_session_options *o,
                                                      deft_status *status);

/* Cancels s's run in progress, or when none is in progress the next run: it stops before its
 * next op and returns false with CANCELLED. Safe to call from any thread, at any time while
 * s lives (it only sets a flag). */
DEFT_API void deft_session_cancel(deft_session *s);


/* Returns a new session on g whose kernels split their work over pool (borrowed: pool must
 * outlive the session; several sessions may share one pool, see deft/threadpool.h), with
 * deft_threadpool_threads(pool) threads. NULL with status set as deft_session_new, or
 * INVALID_ARGUMENT when pool is NULL. (When the session options object lands, this becomes
 * an option.) */
DEFT_API deft_session *deft_session_new_with_pool(deft_graph *g, deft_threadpool *pool,
                                                  deft_status *status);

/* Frees s and its variables' values (and the pool s made for itself, not a pool it was given).
 * Accepts NULL. No run of s may be in progress. */
DEFT_API void deft_session_free(deft_session *s);

/* Sets the number of threads the session's kernels use: MatMul splits each product over them (one
 * single-threaded OpenBLAS call per piece), and large elementwise, bias and update work is split
 * too. With n == 1 everything runs on the calling thread. n < 1 means 1. The default is 1, or
 * the pool's thread count for a session made with deft_session_new_with_pool.
 * - A session without a given pool makes its own pool of n threads here (n - 1 workers, which
 *   sleep when idle; freed with the session or the next set_threads), so concurrent sessions each
 *   get their threads. If the threads cannot be started, the session's runs fail with
 *   RESOURCE_EXHAUSTED until set_threads succeeds (e.g. with n == 1).
 * - A session with a given pool splits over at most the pool's threads; n only lowers that.
 * Must not be called while a run of s is in progress.
 *
 * OpenBLAS: deft_session_new sets OpenBLAS's thread count to 1 (openblas_set_num_threads(1))
 * when it is not 1 already, because OpenBLAS's own threads spin between calls and compete with
 * the session's threads. The setting is process-wide (OpenBLAS has no other), so it also applies
 * to the host program's own OpenBLAS calls, and deft does not restore it: restoring it while
 * another session runs would hand that session's products to OpenBLAS's threads. deft never
 * changes it after deft_session_new, so a program may set it again after making its sessions;
 * each of a session's threads then calls OpenBLAS with that many threads. */
DEFT_API void deft_session_set_threads(deft_session *s, int n);

/* Returns the pool s's kernels run on: the one it was given, the one it made for itself
 * (deft_session_set_threads with n > 1), or NULL with one thread. Borrowed: valid until s is
 * freed or its thread count changes. */
DEFT_API deft_threadpool *deft_session_threadpool(const deft_session *s);

/* Runs the graph.
 * - feeds[i] gets the value feed_values[i] (borrowed for the call, never modified). A fed
 *   tensor's dtype must equal the tensor's, and its shape must be compatible with the build-time
 *   shape. One conversion is made, as TF does for NumPy's int64 integers: an int64 tensor fed to
 *   an int32 tensor is converted when every value fits in int32 (INVALID_ARGUMENT naming the
 *   first value that does not, otherwise). And the quantized types take their storage types'
 *   data as is, as TF takes NumPy's: uint8 fed to quint8, int32 fed to qint32.
 * - fetch_values[i] receives a new tensor for fetches[i], owned by the caller (free with
 *   deft_tensor_free). fetch_values may be NULL only if nfetches is 0.
 * - targets are ops to run for their effect (NoOps, Assigns, training ops).
 * On failure returns false, sets status (naming the node, its type and the problem) and leaves
 * every fetch_values[i] NULL. Variables updated by ops that ran before the failure keep their new
 * values, as in TF. */
DEFT_API bool deft_session_run(deft_session *s, const deft_output *feeds,
                               const deft_tensor *const *feed_values, int nfeeds,
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
