/* SPDX-License-Identifier: Apache-2.0 */
/* base/thread_pool.c - deft_threadpool (include/deft/threadpool.h) and deft_parallel_for
 * (base/thread_pool.h).
 *
 * A pool owns nthreads - 1 workers, started when it is made and joined when it is freed. A job
 * (one deft_parallel_for) is up to 4 contiguous ranges per thread (fewer when the kernel's grain
 * says so: MatMul asks for one per thread, as each sgemm call packs all of the operand it does
 * not split). The calling thread claims ranges from the front, in order, and the workers from
 * the back, under the pool's mutex, until they meet: a thread that runs slower (its data sits in
 * the other core's cache, or it waits for a core) ends up with fewer ranges, yet the caller
 * always gets the first rows and the worker the last. That keeps locality from kernel to
 * kernel: kernels that run one after the other split the same rows the same way (a [200, 300]
 * activation's first rows on the caller), so each core finds its part of the previous kernel's
 * output in its own cache. On this project's 2-core machines moving data from one core's cache
 * to the other's costs several times reading it locally (measured in bench/README.md), so ranges
 * claimed in one order by everyone, which scatter rows over the cores from call to call, lose
 * most of what the second thread gains.
 *
 * Idle workers: after a job a worker spins (pause instructions, checking the clock every 64) for
 * at most SPIN_NS waiting for the next job; then, if the last split loop gained (`linger`),
 * it calls sched_yield between short spins for at most YIELD_NS more, which leaves the core to
 * any other runnable thread but keeps an otherwise idle virtual CPU from halting (waking one
 * took a median 12-109 us and a p90 over a millisecond on the 2-vCPU VM of bench/README.md);
 * then it sleeps on the `work` condition variable. The caller of a job broadcasts only when some
 * worker sleeps. Likewise a caller that has run out of
 * ranges spins at most SPIN_NS for the workers' last ranges before it sleeps on `done`. So a
 * run's back-to-back kernels find the workers awake, and a pool between runs costs nothing.
 *
 * Adapting to the machine: splitting a loop pays only if the workers get a core. On a shared
 * machine a worker may wait behind another process for milliseconds while the caller, done with
 * its own ranges, waits for the worker's. So the pool measures every split loop: the caller
 * times its own ranges, which gives what the whole loop would have cost on one thread
 * (est = caller time per range x ranges), and compares that with the loop's wall time. The
 * measurements are kept per call site (range function and length, in a small table), and over
 * each window of SITE_SAMPLES loops: when fewer than half of them gained MIN_GAIN or more by
 * splitting (a count, not a sum, so that one loop stalled by a preemption or a page fault does
 * not outweigh the window's other seven; decided as soon as the count is out of reach), the
 * site runs on the calling thread alone for a while (SERIAL_NS, doubling on each further failed
 * window up to 2^MAX_BACKOFF times), then tries splitting again; a site that is backing off
 * fails its probe at the second split loop slower than one thread (site_record). While a site
 * runs alone the workers get no work from it and sleep. Which thread runs a range never
 * changes a result (kernels split only where the split does not change the arithmetic), so
 * adapting keeps results deterministic.
 *
 * The pool serves one job at a time (`busy`); a caller that finds it busy runs its job alone,
 * which also makes a parallel_for nested inside a range safe. Nothing is allocated per job, so
 * steady-state runs stay allocation-free. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "base/alloc.h"
#include "base/thread_pool.h"

enum { SPIN_NS = DEFT_THREADPOOL_SPIN_US * 1000, YIELD_NS = DEFT_THREADPOOL_YIELD_US * 1000 };

/* Adaptive splitting (see the top of the file). */
enum { SITES = 64, SITE_PROBE = 4, SITE_SAMPLES = 8, MAX_BACKOFF = 7 };
#define MIN_GAIN 1.15
#define SERIAL_NS 10000000 /* 10 ms */

typedef struct site {
  deft_range_fn fn; /* key: the loop's range function and length */
  int64_t n;
  int wins;         /* loops of the current window whose split gained MIN_GAIN or more */
  int losses;       /* loops of the current window that split made slower than one thread */
  int samples;
  int backoff;          /* failed windows in a row */
  int64_t serial_until; /* run alone until this time (ns, CLOCK_MONOTONIC) */
#ifdef DEFT_EXEC_PROFILE
  long p_calls, p_serial, p_ranges, p_mine; /* development aid: dumped when the pool is freed */
  double p_wall, p_mine_ns;
#endif
} site;

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
  int next;            /* the caller claims ranges from the front: the next one */
  int last;            /* workers claim them from the back: one past the last unclaimed one */
  atomic_int pending;  /* ranges not finished; written under mu, read by the spinning caller */
  atomic_uint gen;     /* job generation, bumped (under mu) for each job */
  site sites[SITES];   /* held by the holder of `busy` */
  atomic_int serial_loops; /* loops run alone by the adaptation, for tests and benchmarks */
  atomic_bool linger;      /* the last loop split and gained: idle workers yield before sleeping */
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
 * with mu held. When ns is not NULL, adds the time spent in the ranges to *ns and their count
 * to *count (the caller's measurement, see the top of the file). */
static void run_ranges(deft_threadpool *p, int64_t *ns, int *count) {
  while (p->next < p->last) {
    int r = ns ? p->next++ : --p->last;
    deft_range_fn fn = p->fn;
    void *arg = p->arg;
    int64_t b = r * p->chunk, e = b + p->chunk < p->n ? b + p->chunk : p->n;
    pthread_mutex_unlock(&p->mu);
    if (ns) {
      int64_t t = now_ns();
      fn(arg, b, e);
      *ns += now_ns() - t;
      ++*count;
    } else {
      fn(arg, b, e);
    }
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
      else if (t - t0 > SPIN_NS) break;
    }
    cpu_relax();
  }
  /* Then, while splitting pays, yielding: another runnable thread on this core gets it, and
   * otherwise the core stays awake (a sleeping worker's wake-up took a median 12-109 us and a
   * p90 of 1.2-1.4 ms on a 2-vCPU Firecracker VM, bench/README.md). */
  if (!atomic_load_explicit(&p->linger, memory_order_relaxed)) return false;
  for (int64_t t0y = now_ns(); now_ns() - t0y < YIELD_NS;) {
    for (int k = 0; k < 16; k++) {
      if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen) return true;
      cpu_relax();
    }
    sched_yield();
  }
  return atomic_load_explicit(&p->gen, memory_order_acquire) != seen;
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
    run_ranges(p, NULL, NULL);
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
  atomic_init(&p->serial_loops, 0);
  atomic_init(&p->linger, false);
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

#ifdef DEFT_EXEC_PROFILE
#include <stdio.h>
/* Development aid (-DDEFT_EXEC_PROFILE builds): per call site, the split loops, the loops run
 * alone by the adaptation, the ranges (all / the caller's) and the split loops' wall time. */
static void prof_dump(deft_threadpool *p) {
  for (int i = 0; i < SITES; i++) {
    site *s = &p->sites[i];
    if (!s->fn || !(s->p_calls + s->p_serial)) continue;
    fprintf(stderr,
            "POOL fn %p n %6lld: split %6ld alone %6ld ranges %7ld mine %7ld wall %8.3f ms "
            "mine %8.3f ms (%.2f us/split)\n",
            (void *)(uintptr_t)s->fn, (long long)s->n, s->p_calls, s->p_serial, s->p_ranges,
            s->p_mine, s->p_wall * 1e-6, s->p_mine_ns * 1e-6,
            s->p_calls ? s->p_wall * 1e-3 / (double)s->p_calls : 0.0);
  }
}
#endif

void deft_threadpool_free(deft_threadpool *p) {
  if (!p) return;
#ifdef DEFT_EXEC_PROFILE
  prof_dump(p);
#endif
  stop_workers(p);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->busy);
  pthread_mutex_destroy(&p->mu);
  deft_free(p->workers);
  deft_free(p);
}

int deft_threadpool_threads(const deft_threadpool *p) { return p->nthreads; }

int deft_threadpool_serial_loops(deft_threadpool *p) {
  return p ? atomic_load(&p->serial_loops) : 0;
}

/* The statistics of loop (fn, n); the holder of `busy` only. */
static site *find_site(deft_threadpool *p, deft_range_fn fn, int64_t n) {
  uint64_t h = ((uint64_t)(uintptr_t)fn ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL)) * 0xFF51AFD7ED558CCDULL;
  unsigned at = (unsigned)(h >> 58) % SITES;
  site *empty = NULL;
  for (int i = 0; i < SITE_PROBE; i++) {
    site *s = &p->sites[(at + (unsigned)i) % SITES];
    if (s->fn == fn && s->n == n) return s;
    if (!s->fn && !empty) empty = s;
  }
  site *s = empty ? empty : &p->sites[at]; /* a full neighbourhood: the first slot starts over */
  *s = (site){.fn = fn, .n = n};
  return s;
}

/* Records one split loop of site s: est_ns is what it would have taken on one thread. A window
 * fails as soon as more than half of its loops cannot gain (not at its end, so a failing probe
 * costs 5 split loops, not 8), and, while the site is backing off, at the second loop that split
 * made slower than one thread would have run it (the first may be one preempted loop, or the
 * workers' wake-up after a long serial stretch): on a machine whose other core is busy, each
 * probe's loops wait for a descheduled worker, and 8 of them every backoff period cost more
 * than the serial runs saved (measured: 2 threads 1.15x slower than 1 with one core busy). A
 * loop whose ranges the caller ran all by itself (`helped` false: a worker still waking, which
 * on a virtual machine may take milliseconds) cost what one thread costs: it is not a win, but
 * not a loss either. */
static void site_record(site *s, double est_ns, double wall_ns, bool helped, int64_t now) {
  s->wins += est_ns >= MIN_GAIN * wall_ns;
  s->losses += helped && est_ns < wall_ns;
  s->samples++;
  int fails = s->samples - s->wins;
  bool failed = 2 * fails > SITE_SAMPLES || (s->backoff > 0 && s->losses >= 2);
  if (!failed && s->samples < SITE_SAMPLES) return;
  if (failed) {
    if (s->backoff < MAX_BACKOFF) s->backoff++;
    s->serial_until = now + ((int64_t)SERIAL_NS << (s->backoff - 1));
  } else {
    s->backoff = 0;
  }
  s->wins = 0;
  s->losses = 0;
  s->samples = 0;
}

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
  site *s = find_site(p, fn, n);
  int64_t t0 = now_ns();
  if (s->serial_until > t0) { /* splitting did not pay here lately */
    atomic_store_explicit(&p->linger, false, memory_order_relaxed);
    pthread_mutex_unlock(&p->busy);
    atomic_fetch_add_explicit(&p->serial_loops, 1, memory_order_relaxed);
#ifdef DEFT_EXEC_PROFILE
    s->p_serial++;
#endif
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
  p->last = p->nr;
  atomic_store(&p->pending, p->nr);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  if (p->sleeping > 0) pthread_cond_broadcast(&p->work);
  int64_t mine_ns = 0;
  int mine = 0, total = p->nr;
  /* The last range may be short; the estimate counts whole ranges, which errs towards
   * splitting. */
  run_ranges(p, &mine_ns, &mine);
  if (atomic_load(&p->pending) > 0) {
    pthread_mutex_unlock(&p->mu);
    spin_done(p);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  int64_t t1 = now_ns();
  if (mine > 0) {
    double est = (double)mine_ns * total / mine, wall = (double)(t1 - t0);
    site_record(s, est, wall, mine < total, t1);
    atomic_store_explicit(&p->linger, est >= MIN_GAIN * wall, memory_order_relaxed);
  }
#ifdef DEFT_EXEC_PROFILE
  s->p_calls++;
  s->p_ranges += total;
  s->p_mine += mine;
  s->p_wall += (double)(t1 - t0);
  s->p_mine_ns += (double)mine_ns;
#endif
  pthread_mutex_unlock(&p->busy);
}
