/* SPDX-License-Identifier: Apache-2.0 */
/* base/thread_pool.h - deft_parallel_for over a deft_threadpool (include/deft/threadpool.h).
 * Internal. Kernels reach their session's pool through the kernel context
 * (deft_kernel_threadpool, deft_kernel_threads in ops/op_def.h). */
#ifndef DEFT_BASE_THREAD_POOL_H
#define DEFT_BASE_THREAD_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "deft/threadpool.h"

/* Runs fn over [0, n) split into up to `threads` contiguous ranges (each at least `grain`
 * elements; at most the pool's thread count), the first on the calling thread, and returns when
 * every range is done. Runs fn(arg, 0, n) on the calling thread alone when pool is NULL, threads
 * <= 1, the work is too small, or the pool is busy with another loop (another session's run, or
 * a loop started from inside one of the pool's own ranges). Safe to call from any thread. */
typedef void (*deft_range_fn)(void *arg, int64_t begin, int64_t end);
void deft_parallel_for(deft_threadpool *pool, int threads, int64_t n, int64_t grain,
                       deft_range_fn fn, void *arg);

/* How many loops pool ran on their calling thread alone because splitting them had not paid
 * lately (see base/thread_pool.c); 0 for a NULL pool. For tests and benchmarks. */
int deft_threadpool_serial_loops(deft_threadpool *pool);

#endif
