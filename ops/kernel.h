/* SPDX-License-Identifier: Apache-2.0 */
/* ops/kernel.h - what a kernel sees: the prepare context, through which its prepare step reads
 * the op's attrs once per plan, and the kernel context, through which its compute step reads the
 * parameters prepare derived and its inputs, allocates or forwards its outputs, reaches its
 * variable storage, random state, scratch memory and threads, and reports errors. The compute
 * step has no way to read an attr or the graph; it sees nothing else of the session.
 * Internal to the library; implemented by the runtime (runtime/executor.c).
 *
 * Thread-safety: a context is used by the one thread running its kernel, for that call only. */
#ifndef DEFT_OPS_KERNEL_H
#define DEFT_OPS_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/tensor_internal.h"
#include "deft/graph.h"
#include "deft/status.h"
#include "deft/threadpool.h"

typedef struct deft_kernel_ctx deft_kernel_ctx;
typedef struct deft_prepare_ctx deft_prepare_ctx;
struct deft_attr;

/* ---- the prepare step (TFLite Micro's Prepare) ----
 * An op's optional prepare function runs once per plan step, when a session builds the plan for
 * a (feeds, fetches, targets) signature, before any run. It reads the op's attrs, checks what it
 * can know before running (attr values, input ranks and dims known at build time), derives the
 * parameters its compute step needs and stores them in the step's parameter block, and may choose
 * a code path. A failure fails planning: the run never starts. The compute step (the op's
 * `kernel`) then only computes, reading the block through deft_kernel_params. Shapes the build
 * could not know are still checked by the compute step. */

/* Number of flat inputs, and input i's dtype and build-time shape (possibly partial). */
int deft_prepare_num_inputs(const deft_prepare_ctx *p);
deft_dtype deft_prepare_input_dtype(const deft_prepare_ctx *p, int i);
deft_shape deft_prepare_input_shape(const deft_prepare_ctx *p, int i);
/* True iff input i is a variable's storage (see deft_kernel_input_is_variable). */
bool deft_prepare_input_is_variable(const deft_prepare_ctx *p, int i);
/* The signature's name of flat input i, or "?". */
const char *deft_prepare_input_name(const deft_prepare_ctx *p, int i);
/* Output i's dtype (from the signature and attrs). */
deft_dtype deft_prepare_output_dtype(const deft_prepare_ctx *p, int i);
/* The op (for its name in messages and the public attr getters of deft/graph.h). */
const deft_op *deft_prepare_op(const deft_prepare_ctx *p);
/* Attr getters. Defaults were filled at build time, so a missing or mistyped attr means a
 * malformed imported node: they record an error (the plan fails) and return a zero value. */
int64_t deft_prepare_attr_int(deft_prepare_ctx *p, const char *name);
float deft_prepare_attr_float(deft_prepare_ctx *p, const char *name);
bool deft_prepare_attr_bool(deft_prepare_ctx *p, const char *name);
deft_dtype deft_prepare_attr_type(deft_prepare_ctx *p, const char *name);
/* The attr `name`, or NULL if the op has none (no error recorded). */
const struct deft_attr *deft_prepare_find_attr(deft_prepare_ctx *p, const char *name);
/* The step's parameter block: `size` zeroed bytes, 64-byte aligned, owned by the plan and freed
 * with it; the same block on every call for one step. NULL after recording an error (OOM, or a
 * different size asked twice). */
void *deft_prepare_params(deft_prepare_ctx *p, size_t size);
/* Records a planning error, prefixed with "<Type> '<name>': ". */
void deft_prepare_fail(deft_prepare_ctx *p, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* True iff an error was recorded by this prepare call. */
bool deft_prepare_failed(const deft_prepare_ctx *p);

/* ---- the compute step ---- */

/* Output i's dtype, as the plan knows it from the signature and attrs (Shape's out_type, Cast's
 * DstT, ...): no attr lookup. */
deft_dtype deft_kernel_output_dtype(const deft_kernel_ctx *c, int i);

/* The parameter block the op's prepare step filled (deft_prepare_params), or NULL if it has
 * none. Read-only while computing: a plan may run on several threads. */
const void *deft_kernel_params(const deft_kernel_ctx *c);


/* Random-number state that a session keeps per op (see ops/random_ops.c). */
typedef struct deft_rng_state {
  uint64_t key;
  uint64_t counter_hi;
  uint64_t counter_lo;
  bool seeded;
} deft_rng_state;

/* Variable storage that a session keeps per variable op: a ref variable's (VariableV2) or a
 * resource variable's (VarHandleOp; kernels reach it through the handle, ops/resource_var.h). */
typedef struct deft_var {
  deft_tensor value; /* embedded; empty until initialized */
  bool initialized;
  const deft_op *op;  /* the variable op (for its name in messages) */
  deft_shape shape;   /* its declared shape attr (unknown rank if none), set with the storage */
  deft_dtype dtype;   /* its declared dtype attr, set with the storage */
} deft_var;

/* Accessors for kernels. Inputs and outputs are indexed over the flat lists (list args
 * expanded). */
int deft_kernel_num_inputs(const deft_kernel_ctx *c);
int deft_kernel_num_outputs(const deft_kernel_ctx *c);
/* The session's I/O fault-injection hooks (base/file_io.h) for file-writing kernels; NULL =
 * plain system calls. */
const struct deft_io_hooks *deft_kernel_io(const deft_kernel_ctx *c);
/* File-op confinement (deft_session_options_allow_dir): true when the session lets the graph
 * touch path (or it is unconfined); otherwise fails c with PERMISSION_DENIED naming path and
 * returns false. Call it for every path a kernel opens, creates, renames or removes. */
bool deft_kernel_check_path(deft_kernel_ctx *c, const char *path);
/* The communicator the session's DeftAllreduce ops reduce over (deft_session_options_set_comm,
 * deft/dist.h), or NULL: one process. Implemented in runtime/dist.c. */
struct deft_comm *deft_kernel_comm(const deft_kernel_ctx *c);
/* Input i's value (a ref input is dereferenced: the variable's current value). */
const deft_tensor *deft_kernel_input(deft_kernel_ctx *c, int i);
/* For a ref input: the variable storage it refers to (mutable); NULL for a value input. */
deft_var *deft_kernel_ref_input(deft_kernel_ctx *c, int i);
/* True iff input i's value is a variable's storage: a ref input, or the value an Identity
 * forwards from one (a variable's "read"). Such a buffer changes only through kernels and the
 * session, which give it a new generation, so a kernel may cache facts about it keyed by
 * (buffer, generation). Decided when the plan is built. */
bool deft_kernel_input_is_variable(const deft_kernel_ctx *c, int i);
/* The signature's name of flat input i ("var", "grad", ...), or "?" past the signature. */
const char *deft_kernel_input_name(const deft_kernel_ctx *c, int i);
/* True iff input i is dead (only Merge kernels see dead inputs). */
bool deft_kernel_input_dead(const deft_kernel_ctx *c, int i);
/* Allocates output i with dtype/shape (reusing the slot's buffer when possible). Returns NULL
 * after recording an error. Contents are unspecified. */
deft_tensor *deft_kernel_output(deft_kernel_ctx *c, int i, deft_dtype dtype, const int64_t *dims,
                                int rank);
/* Output i shares src's buffer (Identity, Reshape): no copy. `src` is normally an input. */
void deft_kernel_forward(deft_kernel_ctx *c, int out, const deft_tensor *src);
/* Output i is a ref to var (VariableV2, Assign's output_ref, RefSwitch). */
void deft_kernel_output_ref(deft_kernel_ctx *c, int out, deft_var *var);
/* Marks output i dead (Switch's untaken branch). */
void deft_kernel_output_dead(deft_kernel_ctx *c, int out);
/* The session's storage for this variable op (created on first use, uninitialized). */
deft_var *deft_kernel_variable(deft_kernel_ctx *c);
/* The session's random state for this op. */
deft_rng_state *deft_kernel_rng(deft_kernel_ctx *c);
/* Number of threads kernels may use, and the session's pool to run them on (NULL with one
 * thread): pass both to deft_parallel_for (base/thread_pool.h). */
int deft_kernel_threads(const deft_kernel_ctx *c);
deft_threadpool *deft_kernel_threadpool(const deft_kernel_ctx *c);
/* Working memory for this run of the kernel: at least `bytes` bytes, 64-byte aligned, contents
 * unspecified. The plan keeps it for the op's next run (no allocation once it is large enough)
 * and frees it with the plan. Returns NULL after recording an error (out of memory). */
void *deft_kernel_scratch(deft_kernel_ctx *c, size_t bytes);
/* Working memory shared by all the steps of this run's plan (the steps of a plan run one at a
 * time): at least `bytes` bytes, 64-byte aligned, contents unspecified, valid during this kernel
 * call only (the next step may overwrite it). For large transient workspaces (GEMM packing), so
 * a plan with many such ops keeps one, not one per op. Kept with the plan; not for the work an
 * async kernel leaves running. Returns NULL after recording an error (out of memory). */
void *deft_kernel_shared_scratch(deft_kernel_ctx *c, size_t bytes);
/* Memos: what one kernel of a run computed about a value, for later kernels of the same run that
 * read the same value (the sparse MatMul's compressed input, which the forward product and its
 * gradient both read). Keys are two words the kernels agree on, e.g. an input's buffer address
 * and generation (deft_buffer_touch): within a run a buffer's contents change only with its
 * generation. deft_kernel_memo_new returns at least `bytes` bytes, 64-byte aligned, contents
 * unspecified, tagged with (k0, k1) for the rest of this run; the caller must fill it (or mark
 * it unusable in its own contents) before it returns. deft_kernel_memo_find returns the memory a
 * kernel of this run tagged with (k0, k1), or NULL. The plan keeps a few (DEFT_PLAN_MEMOS)
 * blocks across runs (no allocation once they are large enough); a newer memo may take an older
 * one's block, so a found memo is valid until the calling kernel returns and a kernel must
 * always be able to compute without one. deft_kernel_memo_new returns NULL after recording an
 * error (out of memory). */
void *deft_kernel_memo_find(deft_kernel_ctx *c, uint64_t k0, uint64_t k1);
void *deft_kernel_memo_new(deft_kernel_ctx *c, uint64_t k0, uint64_t k1, size_t bytes);
/* Four words the plan keeps for this op across runs (zero before its first run): a kernel's
 * cache, e.g. a fact about an input keyed by its buffer and generation (deft_buffer_touch). */
uint64_t *deft_kernel_state(deft_kernel_ctx *c);
/* Per-run resources (TensorArrays, stacks; TF's per-step resource container): the run owns
 * obj from now on and calls destroy(obj) when it ends (or now, on failure). Returns the handle
 * (>= 1) a kernel stores as an int64 scalar in its handle output, or 0 after recording an error
 * (out of memory). */
int64_t deft_kernel_resource_add(deft_kernel_ctx *c, void *obj, void (*destroy)(void *obj));
/* The object whose handle input i holds, created with the same destroy function (it tells the
 * kind); NULL after recording an error (not such a handle). */
void *deft_kernel_resource_get(deft_kernel_ctx *c, int i, void (*destroy)(void *obj));
/* ---- asynchronous kernels ----
 * The compute step of an op whose def has DEFT_OP_ASYNC may *start* work and leave it running
 * after it returns, so that it overlaps the steps that follow (DeftAllreduce: an
 * MPI_Iallreduce of its fused buffer while backprop goes on). Such a compute step allocates its
 * outputs as usual (deft_kernel_output; their contents are undefined until the work finishes),
 * starts the work, and hands the executor an object describing it with deft_kernel_async. A
 * compute step that does not call it has finished synchronously, as any kernel (DeftAllreduce
 * on one process). The executor then, for that object (runtime/EXECUTOR.md):
 *  - calls poll(obj, false, st) between later steps (not necessarily every one), so the work
 *    progresses (MPI advances nonblocking collectives only inside MPI calls): it must return at
 *    once;
 *  - calls poll(obj, true, st) before the first step that reads one of the op's outputs or has a
 *    control edge from it (known when the plan is built), before the op's own step runs again
 *    (a loop's next iteration), and before the run returns: it blocks until the work finished
 *    or failed, within a bounded time (DeftAllreduce: the communicator's timeout);
 *  - poll returns DEFT_ASYNC_PENDING (only when not blocking), DEFT_ASYNC_DONE (the outputs
 *    hold their values: poll does the finishing touches, e.g. unpacking a fused buffer) or
 *    DEFT_ASYNC_FAILED with st set (the run fails with st); after DONE it is not called
 *    again, after FAILED it may be, and must fail again;
 *  - calls release(obj) exactly once: after poll said DONE or FAILED, or, when the run fails or
 *    is cancelled while the work is pending, instead of waiting. release must then finish or
 *    cancel the work itself (blocking at most a bounded time) before freeing what it holds.
 * The object must hold a reference (deft_buffer_ref) to every buffer the work reads or writes,
 * inputs included: the executor may release the slots' references while the work runs (an
 * output nothing reads, an input after its last reader), and a released buffer must not be
 * reused under the work. A context is valid only during the compute step: poll and release get
 * none. poll and release run on the thread running the plan. */
typedef enum deft_async_state {
  DEFT_ASYNC_PENDING = 0,
  DEFT_ASYNC_DONE = 1,
  DEFT_ASYNC_FAILED = -1,
} deft_async_state;
typedef struct deft_async_ops {
  deft_async_state (*poll)(void *obj, bool block, deft_status *st);
  void (*release)(void *obj);
} deft_async_ops;
/* Hands the executor obj, the work this compute step started (ops must outlive the plan: a
 * static). Only for DEFT_OP_ASYNC ops, at most once per call; the executor owns obj from now
 * on (on a failure here it calls release at once and records the error). */
void deft_kernel_async(deft_kernel_ctx *c, void *obj, const deft_async_ops *ops);

/* Records a run-time error, prefixed with "<Type> '<name>': ". */
void deft_kernel_fail(deft_kernel_ctx *c, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* True iff an error was recorded in this kernel call. */
bool deft_kernel_failed(const deft_kernel_ctx *c);

#endif
