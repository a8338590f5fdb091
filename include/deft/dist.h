/* SPDX-License-Identifier: Apache-2.0 */
/* deft/dist.h - data-parallel training across processes over MPI (Open MPI), Horovod's way:
 * every process (rank) runs the same graph on its shard of the data; the gradients are averaged
 * across ranks by an allreduce op in the graph (op type "DeftAllreduce", so a saved meta graph
 * records it) before the optimizer applies them, and the variables start identical because rank
 * 0's values are broadcast to the others.
 *
 * The pieces:
 * - deft_mpi_init / deft_mpi_finalize: MPI_Init and MPI_Finalize, called explicitly by the
 *   program (or the program calls MPI itself and wraps its communicator).
 * - deft_comm: a communicator object the program creates (wrapping MPI_COMM_WORLD or a given
 *   MPI communicator, or a one-process communicator that needs no MPI) and gives to its
 *   sessions with deft_session_options_set_comm. Nothing is process-wide: a session without a
 *   communicator runs DeftAllreduce as identity, as one process does.
 * - deft_optimizer_set_distributed (deft/train.h's optimizers): compute_gradients (and so
 *   minimize) averages each gradient across ranks; clipping built on its results applies to the
 *   averaged gradients, as with Horovod's DistributedOptimizer. deft_allreduce_gradients does
 *   the same for gradients a program computed itself (e.g. on an imported graph rebuilt through
 *   the API).
 * - deft_comm_broadcast_variables: rank 0's variable values to every rank, after initializing or
 *   restoring; refuses graphs whose variables differ across ranks.
 * - deft_batcher_set_shard (deft/data.h): each rank takes its part of every global batch.
 *
 * Collectives never hang: each waits for its nonblocking MPI call with a progress check and
 * fails with DEADLINE_EXCEEDED after the communicator's timeout (a rank that died or never
 * reached the collective), or UNAVAILABLE when MPI reports a failed peer. After such a failure
 * the communicator is broken (every later collective fails at once with the first error) and the
 * program should end the job with deft_mpi_abort: MPI cannot finish a collective some rank left.
 *
 * Thread safety: the collectives of one communicator are serialized by a lock inside it, so
 * they may be called from any thread; but MPI matches collectives by their order on each rank,
 * so the program must issue them in the same order on every rank (e.g. one training run at a
 * time per communicator). Different communicators are independent. deft_mpi_init asks MPI for
 * MPI_THREAD_MULTIPLE (kernels may run on a session's pool threads).
 *
 * Builds without Open MPI (the CMake option DEFT_MPI off) keep this API: deft_mpi_available
 * returns false, deft_mpi_init and deft_comm_world fail with UNIMPLEMENTED, and the one-process
 * communicator works. */
#ifndef DEFT_DIST_H
#define DEFT_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "deft/session.h"
#include "deft/status.h"
#include "deft/tensor.h"
#include "deft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_comm deft_comm;

/* True iff this build of deft has MPI (DEFT_MPI). */
DEFT_API bool deft_mpi_available(void);

/* True iff the process runs under an MPI launcher (mpirun / mpiexec set OMPI_COMM_WORLD_SIZE or
 * PMI_SIZE). Reads the environment only; no MPI call. */
DEFT_API bool deft_mpi_launched(void);

/* Calls MPI_Init_thread (MPI_THREAD_MULTIPLE) unless MPI is already initialized; argc/argv may
 * be NULL. Returns false with status set: UNIMPLEMENTED without MPI, INTERNAL when MPI fails or
 * gives less than MPI_THREAD_SERIALIZED. */
DEFT_API bool deft_mpi_init(int *argc, char ***argv, deft_status *status);

/* Calls MPI_Finalize if MPI is initialized and not yet finalized. Free every communicator
 * first. Does nothing without MPI. */
DEFT_API void deft_mpi_finalize(void);

/* Ends every process of the job (MPI_Abort on MPI_COMM_WORLD with `code`): what a program does
 * after a collective failed. Without MPI (or before deft_mpi_init) it returns. */
DEFT_API void deft_mpi_abort(int code);

/* A communicator over MPI_COMM_WORLD (a duplicate, so deft's messages never mix with the
 * program's, with errors returned instead of aborting). Needs deft_mpi_init first. NULL with
 * status set: UNIMPLEMENTED without MPI, FAILED_PRECONDITION before deft_mpi_init, INTERNAL or
 * RESOURCE_EXHAUSTED otherwise. Collective: every rank must call it. */
DEFT_API deft_comm *deft_comm_world(deft_status *status);

/* Like deft_comm_world over a given MPI communicator: `mpi_comm` points to an MPI_Comm (the
 * type is the MPI library's, hence the void pointer); it is duplicated, so the program's stays
 * its own. */
DEFT_API deft_comm *deft_comm_from_mpi(const void *mpi_comm, deft_status *status);

/* A one-process communicator (rank 0 of 1) that needs no MPI: collectives are identities.
 * NULL on OOM. */
DEFT_API deft_comm *deft_comm_local(void);

/* Frees c (MPI_Comm_free of its duplicate, unless it is broken). Accepts NULL. Not while a
 * session given c may still run. */
DEFT_API void deft_comm_free(deft_comm *c);

/* c's rank and number of ranks. */
DEFT_API int deft_comm_rank(const deft_comm *c);
DEFT_API int deft_comm_size(const deft_comm *c);

/* The longest one collective may wait for the other ranks before failing with
 * DEADLINE_EXCEEDED; <= 0 = wait forever. Default 120 s, or the environment's
 * DEFT_COMM_TIMEOUT (seconds) when the communicator is made. Not during a collective. */
DEFT_API void deft_comm_set_timeout(deft_comm *c, double seconds);

/* Sums count elements of dtype at data across the ranks, in place (every rank gets the sum);
 * with `average`, divides by the number of ranks (floating-point dtypes only). dtype: float,
 * double, int32, int64, uint8 (integer sums wrap as the C types do). count may be 0 (a
 * collective all the same). Every rank must call it with the same count and dtype. Returns false
 * with status set: INVALID_ARGUMENT for an unsupported dtype, DEADLINE_EXCEEDED / UNAVAILABLE /
 * INTERNAL as the header's comment says, naming the rank and the bytes. Thread-safe per the
 * header's comment. */
DEFT_API bool deft_comm_allreduce(deft_comm *c, void *data, int64_t count, deft_dtype dtype,
                                  bool average, deft_status *status);

/* Copies `bytes` bytes at data from rank root to every other rank (in place). Same failures. */
DEFT_API bool deft_comm_broadcast(deft_comm *c, void *data, int64_t bytes, int root,
                                  deft_status *status);

/* Waits until every rank calls it (with the timeout). Same failures. */
DEFT_API bool deft_comm_barrier(deft_comm *c, deft_status *status);

/* ---- nonblocking collectives ----
 * A request is one collective started and not yet finished; the caller keeps its buffers alive
 * and untouched until deft_comm_request_test reports it finished (MPI's rule). Requests of one
 * communicator must be started in the same order on every rank; they may finish in any order.
 * MPI advances them only inside MPI calls, so a program overlapping them with computation calls
 * deft_comm_request_test(r, false, ...) now and then (the executor does it between steps). */
typedef struct deft_comm_request deft_comm_request;

/* Starts the in-place sum of count elements of dtype at data across the ranks (as
 * deft_comm_allreduce without average). NULL with status set on the failures
 * deft_comm_allreduce has; on one process (or a one-process communicator) the request is
 * finished at once. */
DEFT_API deft_comm_request *deft_comm_iallreduce(deft_comm *c, void *data, int64_t count,
                                                 deft_dtype dtype, deft_status *status);

/* Starts the concatenation of every rank's `bytes` bytes at send into recv, rank 0's first:
 * all_bytes[r] is rank r's count (every rank passes the same array, e.g. exchanged with
 * deft_comm_allgather_i64), recv holds their sum. Any dtype's bytes. NULL with status set:
 * INVALID_ARGUMENT for a negative count or a total past 2^31 - 1 bytes, then as
 * deft_comm_iallreduce. */
DEFT_API deft_comm_request *deft_comm_iallgatherv(deft_comm *c, const void *send, int64_t bytes,
                                                  void *recv, const int64_t *all_bytes,
                                                  deft_status *status);

/* Advances r: with wait false, tests once and returns at once; with wait true, blocks until r
 * finishes (testing with an exponential backoff: a few tests back to back, then sleeps from 2 us
 * doubling to 64 us, so a waiting rank costs little CPU and notices completion within about
 * 0.1 ms) or the communicator's timeout passes since r started. Returns 1 when r finished, 0
 * while it is pending (wait false only), -1 when it failed (status set as for the blocking
 * collectives; the communicator is then broken). Finished or failed, r stays so until freed. */
DEFT_API int deft_comm_request_test(deft_comm_request *r, bool wait, deft_status *status);

/* Frees r; a pending r is first waited for (as deft_comm_request_test with wait; a failure is
 * only recorded in the communicator), since MPI cannot cancel a collective. Accepts NULL. */
DEFT_API void deft_comm_request_free(deft_comm_request *r);

/* Gathers n int64 from every rank: all[r * n + i] = rank r's v[i] (all has n x
 * deft_comm_size(c) elements; n >= 0, the same on every rank). Blocking; same failures as
 * deft_comm_allreduce. */
DEFT_API bool deft_comm_allgather_i64(deft_comm *c, const int64_t *v, int n, int64_t *all,
                                      deft_status *status);

/* Cumulative seconds during which at least one of c's collectives was in flight (from its start
 * until a test saw it finished; collectives in flight together count once), and the number of
 * collectives: how much communication costs a training step. */
DEFT_API double deft_comm_seconds(const deft_comm *c);
DEFT_API int64_t deft_comm_calls(const deft_comm *c);

/* Cumulative seconds the caller was blocked waiting for c's collectives: all of a blocking
 * collective's time, and for nonblocking ones only the waits (deft_comm_request_test with wait).
 * 1 - wait / seconds is the share of the communication time overlapped with computation (an
 * upper bound on the true communication time: a collective is seen finished only when tested,
 * between the executor's steps). Not synchronized: read them when no collective runs. */
DEFT_API double deft_comm_wait_seconds(const deft_comm *c);

/* Makes the sessions created with o run their DeftAllreduce ops over c (borrowed: c must outlive
 * them). NULL (the default) = identity, as one process. */
DEFT_API void deft_session_options_set_comm(deft_session_options *o, deft_comm *c);

/* Broadcasts the values of s's variables (the graph's GLOBAL_VARIABLES collection, or every
 * variable op when the graph has none) from rank `root` to every rank of c: every rank must
 * call it, after initializing (or restoring) at least on root. First checks that every rank
 * has the same variables (names, dtypes, shapes, in the same order); a difference fails on every
 * rank with FAILED_PRECONDITION naming the first variable that differs and the ranks where it
 * does. A variable uninitialized on root is INVALID_ARGUMENT naming it. String variables are
 * not supported (INVALID_ARGUMENT). On a one-process communicator it only checks root == 0. */
DEFT_API bool deft_comm_broadcast_variables(deft_comm *c, deft_session *s, int root,
                                            deft_status *status);

/* ---- graph building (deft/graph.h's conventions: failures are the graph's sticky error) ---- */

/* Adds one DeftAllreduce op reducing inputs[0..n) (n >= 1; a fusion group: one MPI call per
 * dtype) and returns it; output i is input i summed (or, with average, averaged: float and
 * double only, checked when a session plans it) across the ranks of the running session's
 * communicator; without one it is input i. NULL on failure. */
DEFT_API deft_op *deft_allreduce(deft_graph *g, const deft_output *inputs, int n, bool average,
                                 const char *name);

/* Adds one DeftAllgather op (Horovod's HorovodAllgather) over inputs[0..n) (n >= 1): output i
 * is every rank's input i concatenated along dimension 0, rank 0's first; the ranks' first
 * dimensions may differ (a sparse gradient's rows), the rest and the dtype must agree (a run
 * where they do not fails on every rank with INVALID_ARGUMENT naming the input and the ranks).
 * Any dtype but string; inputs of rank >= 1. With average, float and double outputs are divided
 * by the number of ranks (averaging IndexedSlices gradients). Without a communicator, output i
 * is input i. Not differentiable. NULL on failure. */
DEFT_API deft_op *deft_allgather(deft_graph *g, const deft_output *inputs, int n, bool average,
                                 const char *name);

/* Horovod's tensor fusion threshold (HOROVOD_FUSION_THRESHOLD's default): 64 MiB. */
#define DEFT_FUSION_DEFAULT_BYTES ((int64_t)64 << 20)

/* Replaces each valid gv[i].grad with its average across ranks. A sparse gradient (gv[i].indices
 * valid: TF's IndexedSlices) gets a DeftAllgather of its indices and values, with average, named
 * "<prefix>_Allreduce/DeftAllgather" (Horovod's allgather for tf.IndexedSlices; no densifying):
 * gv[i].indices and .grad become the concatenated rows of every rank, the values divided by the
 * number of ranks. Dense gradients are grouped into
 * fusion groups, in reverse order of gv (the order backprop produces them: the last layers'
 * first), each group one DeftAllreduce op named "<prefix>_Allreduce/DeftAllreduce" of at most
 * fusion_bytes bytes (a larger gradient gets a group of its own); fusion_bytes <= 0 gives one op
 * per gradient; the environment's DEFT_FUSION_THRESHOLD (bytes), when set, overrides fusion_bytes
 * (as HOROVOD_FUSION_THRESHOLD does). Smaller groups start reducing earlier in backprop, which
 * the executor overlaps with the rest of it (runtime/EXECUTOR.md); one group holding every
 * gradient can only start when backprop ends. prefix NULL = "Distributed". Returns false on
 * failure (sticky error). */
DEFT_API bool deft_allreduce_gradients(deft_graph *g, deft_grad_and_var *gv, int n,
                                       int64_t fusion_bytes, const char *prefix);

/* Makes opt distributed (Horovod's DistributedOptimizer): from now on its compute_gradients,
 * and so minimize, return gradients averaged across ranks by deft_allreduce_gradients with
 * fusion_bytes (DEFT_FUSION_DEFAULT_BYTES is Horovod's default), prefixed with the optimizer's
 * name; apply_gradients is opt's own. Clipping built on compute_gradients' results therefore
 * applies to the averaged gradients. Does nothing when opt is NULL. */
DEFT_API void deft_optimizer_set_distributed(deft_optimizer *opt, int64_t fusion_bytes);

#ifdef __cplusplus
}
#endif
#endif
