/* base/thread_pool.h - the worker threads kernels split their loops over. Internal.
 *
 * Today one process-wide pool (base/thread_pool.c); see that file for its behaviour. */
#ifndef DEFT_BASE_THREAD_POOL_H
#define DEFT_BASE_THREAD_POOL_H

#include <stdbool.h>
#include <stdint.h>

/* Runs fn over [0, n) split into up to `threads` contiguous ranges (each at least `grain`
 * elements), the first on the calling thread. Falls back to one range when threads cannot be
 * started. */
typedef void (*deft_range_fn)(void *arg, int64_t begin, int64_t end);
void deft_parallel_for(int threads, int64_t n, int64_t grain, deft_range_fn fn, void *arg);
/* Brackets a session run that may use several threads (runtime/executor.c): between on and off
 * the pool's idle workers spin rather than sleep. Calls nest and may come from several threads. */
void deft_threads_active(bool on);

#endif
