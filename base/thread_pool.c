/* SPDX-License-Identifier: Apache-2.0 */
/* base/thread_pool.c - deft_threadpool (include/deft/threadpool.h) and deft_parallel_for
 * (base/thread_pool.h).
 *
 * A pool owns nthreads - 1 workers, started when it is made and joined when it is freed. A job
 * (one deft_parallel_for) is up to 4 contiguous ranges per thread, claimed in order under the
 * pool's mutex by the calling thread and the workers as they become free: a thread whose data
 * sits in another core's cache runs slower, and the others take up its share.
 *
 * Idle workers: after a job a worker spins (pause instructions, checking the clock every 64) for
 * at most SPIN_NS waiting for the next job, then sleeps on the `work` condition variable; the
 * caller of a job broadcasts only when some worker sleeps. Likewise a caller that has run out of
 * ranges spins at most SPIN_NS for the workers' last ranges before it sleeps on `done`. So a
 * run's back-to-back kernels find the workers awake, and a pool between runs costs nothing.
 *
 * The pool serves one job at a time (`busy`); a caller that finds it busy runs its job alone,
 * which also makes a parallel_for nested inside a range safe. Nothing is allocated per job, so
 * steady-state runs stay allocation-free. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/alloc.h"
#include "base/thread_pool.h"

enum { SPIN_NS = DEFT_THREADPOOL_SPIN_US * 1000 };

struct deft_threadpool {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pthread_mutex_t busy; /* held by the caller of the current job */
  int nthreads;         /* including the caller of a job */
  int nworkers;         /* started */
  pthread_t *workers;
  bool stop;            /* under mu */
  int sleeping;         /* workers waiting on `work`, under mu */
  /* the current job, written under mu */
  deft_range_fn fn;
  void *arg;
  int64_t n, chunk;
  int nr;              /* ranges */
  int next;            /* next range to claim */
  atomic_int pending;  /* ranges not finished; written under mu, read by the spinning caller */
  atomic_uint gen;     /* job generation, bumped (under mu) for each job */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs ranges of the current job until none is left. Called with mu held; returns
 * with mu held. */
static void run_ranges(deft_threadpool *p) {
  while (p->next < p->nr) {
    int r = p->next++;
    deft_range_fn fn = p->fn;
    void *arg = p->arg;
    int64_t b = r * p->chunk, e = b + p->chunk < p->n ? b + p->chunk : p->n;
    pthread_mutex_unlock(&p->mu);
    fn(arg, b, e);
    pthread_mutex_lock(&p->mu);
    if (atomic_fetch_sub(&p->pending, 1) == 1) pthread_cond_signal(&p->done);
  }
}

/* Spin for at most SPIN_NS until a new job is published (spin_gen) or the current job's ranges
 * are all done (spin_done); true when that happened. */
static bool spin_gen(deft_threadpool *p, unsigned seen) {
  int64_t t0 = 0;
  for (unsigned i = 0;; i++) {
    if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen) return true;
    if ((i & 63) == 0) {
      int64_t t = now_ns();
      if (i == 0) t0 = t;
      else if (t - t0 > SPIN_NS) return false;
    }
    cpu_relax();
  }
}

static bool spin_done(deft_threadpool *p) {
  int64_t t0 = 0;
  for (unsigned i = 0;; i++) {
    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return true;
    if ((i & 63) == 0) {
      int64_t t = now_ns();
      if (i == 0) t0 = t;
      else if (t - t0 > SPIN_NS) return false;
    }
    cpu_relax();
  }
}

static void *worker(void *vp) {
  deft_threadpool *p = vp;
  pthread_mutex_lock(&p->mu);
  /* Not the current gen: a job published before this thread got to run is still its to help
   * with (the pool's generation starts at 0). */
  unsigned seen = 0;
  for (;;) {
    if (atomic_load(&p->gen) == seen && !p->stop) {
      pthread_mutex_unlock(&p->mu);
      spin_gen(p, seen);
      pthread_mutex_lock(&p->mu);
      while (atomic_load(&p->gen) == seen && !p->stop) {
        p->sleeping++;
        pthread_cond_wait(&p->work, &p->mu);
        p->sleeping--;
      }
    }
    if (p->stop) break;
    seen = atomic_load(&p->gen);
    run_ranges(p);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void stop_workers(deft_threadpool *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nworkers; i++) pthread_join(p->workers[i], NULL);
  p->nworkers = 0;
}

deft_threadpool *deft_threadpool_new(int nthreads, deft_status *status) {
  if (nthreads < 1 || nthreads > DEFT_THREADPOOL_MAX_THREADS) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "a thread pool needs 1 to %d threads, not %d", DEFT_THREADPOOL_MAX_THREADS,
                    nthreads);
    return NULL;
  }
  deft_threadpool *p = deft_calloc(1, sizeof *p);
  pthread_t *w = deft_calloc((size_t)nthreads, sizeof *w);
  if (!p || !w) {
    deft_free(p);
    deft_free(w);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory making a %d-thread pool",
                    nthreads);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->busy, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->nthreads = nthreads;
  p->workers = w;
  atomic_init(&p->pending, 0);
  atomic_init(&p->gen, 0);
  for (int i = 0; i < nthreads - 1; i++) {
    int rc = pthread_create(&p->workers[i], NULL, worker, p);
    if (rc != 0) {
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED,
                      "cannot start thread %d of a %d-thread pool (error %d)", i + 2, nthreads,
                      rc);
      deft_threadpool_free(p);
      return NULL;
    }
    p->nworkers++;
  }
  return p;
}

void deft_threadpool_free(deft_threadpool *p) {
  if (!p) return;
  stop_workers(p);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->busy);
  pthread_mutex_destroy(&p->mu);
  deft_free(p->workers);
  deft_free(p);
}

int deft_threadpool_threads(const deft_threadpool *p) { return p->nthreads; }

void deft_parallel_for(deft_threadpool *p, int threads, int64_t n, int64_t grain,
                       deft_range_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t most = n / grain;
  int nt = p && threads > p->nworkers + 1 ? p->nworkers + 1 : threads;
  if (most < nt) nt = (int)most;
  if (!p || nt <= 1 || pthread_mutex_trylock(&p->busy) != 0) {
    fn(arg, 0, n);
    return;
  }
  pthread_mutex_lock(&p->mu);
  int64_t nr = most < 4 * (int64_t)nt ? most : 4 * (int64_t)nt;
  if (nr < nt) nr = nt;
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  p->chunk = (n + nr - 1) / nr;
  p->nr = (int)((n + p->chunk - 1) / p->chunk);
  p->next = 0;
  atomic_store(&p->pending, p->nr);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  if (p->sleeping > 0) pthread_cond_broadcast(&p->work);
  run_ranges(p);
  if (atomic_load(&p->pending) > 0) {
    pthread_mutex_unlock(&p->mu);
    spin_done(p);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&p->busy);
}
