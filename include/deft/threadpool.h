/* SPDX-License-Identifier: Apache-2.0 */
/* deft/threadpool.h - worker threads that sessions split their kernels' loops over.
 *
 * A session with more than one thread (deft_session_set_threads) owns a pool by default, created
 * at its next run and freed with the session, so two sessions running at the same time each get
 * their threads. A pool can also be made here and given to sessions explicitly
 * (deft_session_new_with_pool), to share one set of threads between sessions, as ggml's
 * threadpool is passed in its plan.
 *
 * Workers sleep on a condition variable when idle: after a parallel loop a worker spins for at
 * most DEFT_THREADPOOL_SPIN_US microseconds waiting for the next one (so a run's back-to-back
 * kernels do not each pay a wake-up), then, if that loop's split paid, yields its core between
 * short spins for at most DEFT_THREADPOOL_YIELD_US more (so serial stretches of a run between
 * split loops do not each pay a wake-up either, which on some virtual machines takes
 * milliseconds), then sleeps; an idle pool uses no CPU.
 *
 * Thread safety: a pool runs one parallel loop at a time. Any number of threads and sessions may
 * use one pool concurrently; a loop that finds the pool busy with another loop runs on its
 * calling thread alone (correct results, fewer threads). deft_threadpool_free must not run while
 * any session using the pool is running or alive with the pool.
 */
#ifndef DEFT_THREADPOOL_H
#define DEFT_THREADPOOL_H

#include "deft/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_threadpool deft_threadpool;

/* The longest a worker spins after a loop, in microseconds; it then yields its core for at most
 * DEFT_THREADPOOL_YIELD_US more (sched_yield between short spins), then sleeps. */
#define DEFT_THREADPOOL_SPIN_US 200
#define DEFT_THREADPOOL_YIELD_US 2000

/* The largest thread count a pool may have. */
#define DEFT_THREADPOOL_MAX_THREADS 64

/* Returns a new pool of nthreads threads: the thread that starts a loop is one of them, so
 * nthreads - 1 workers are started now. Returns NULL with status set on failure
 * (INVALID_ARGUMENT unless 1 <= nthreads <= DEFT_THREADPOOL_MAX_THREADS, RESOURCE_EXHAUSTED when
 * memory or threads cannot be had; no thread is left running then). Owned by the caller. */
DEFT_API deft_threadpool *deft_threadpool_new(int nthreads, deft_status *status);

/* Stops and joins the workers and frees pool. Accepts NULL. No session may be using the pool
 * (free the sessions given it first). */
DEFT_API void deft_threadpool_free(deft_threadpool *pool);

/* Returns the pool's thread count (the nthreads it was made with). */
DEFT_API int deft_threadpool_threads(const deft_threadpool *pool);

#ifdef __cplusplus
}
#endif
#endif
