/* base/thread_pool.c - deft_parallel_for (base/thread_pool.h): the kernels' worker threads.
 *
 * One process-wide pool of persistent workers, created on first use (up to the largest thread
 * count asked for). Idle workers spin while a multi-threaded session run is in progress and
 * sleep on a condition variable otherwise, so a run's kernels do not pay a wake-up each. A job
 * is up to 4 contiguous ranges per thread, claimed in order by the calling thread and the
 * workers as they become free. The pool serves one job at a time: a
 * caller that finds it busy (another session running in another thread) runs its job alone, as
 * it does when a worker cannot be started. Nothing is heap-allocated (static state), so
 * steady-state runs stay allocation-free. */
#include <pthread.h>
#include <stdatomic.h>

#include "base/thread_pool.h"

enum { MAXT = 64, SPIN = 4000 };

typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  int nworkers;
  /* the current job, written under mu */
  deft_range_fn fn;
  void *arg;
  int64_t n, chunk;
  int nt;
  int next;    /* next range to claim */
  int pending; /* ranges not finished */
  atomic_uint gen; /* job generation, bumped for each job */
} pool;

static pool P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
                 0, NULL, NULL, 0, 0, 0, 0, 0, 0};
/* Session runs with more than one thread in progress: while there are any, idle workers spin
 * instead of sleeping, so a run's parallel kernels do not each pay a wake-up. */
static atomic_int active;
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */

/* Claims and runs ranges of the current job until none is left. Called with mu held; returns
 * with mu held. */
static void run_ranges(void) {
  while (P.next < P.nt) {
    int r = P.next++;
    deft_range_fn fn = P.fn;
    void *arg = P.arg;
    int64_t b = r * P.chunk, e = b + P.chunk < P.n ? b + P.chunk : P.n;
    pthread_mutex_unlock(&P.mu);
    fn(arg, b, e);
    pthread_mutex_lock(&P.mu);
    if (--P.pending == 0) pthread_cond_signal(&P.done);
  }
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static void *worker(void *unused) {
  (void)unused;
  unsigned seen = atomic_load(&P.gen);
  for (;;) {
    /* Spin for the next job while a run is in progress, else briefly, then sleep. */
    for (int i = 0; atomic_load_explicit(&P.gen, memory_order_acquire) == seen &&
                    (atomic_load_explicit(&active, memory_order_relaxed) > 0 || i < SPIN);
         i++)
      cpu_relax();
    pthread_mutex_lock(&P.mu);
    while (atomic_load(&P.gen) == seen && atomic_load(&active) == 0)
      pthread_cond_wait(&P.work, &P.mu);
    if (atomic_load(&P.gen) == seen) { /* a run started: spin again */
      pthread_mutex_unlock(&P.mu);
      continue;
    }
    seen = atomic_load(&P.gen);
    run_ranges();
    pthread_mutex_unlock(&P.mu);
  }
  return NULL;
}

void deft_threads_active(bool on) {
  if (!on) {
    atomic_fetch_sub(&active, 1);
    return;
  }
  if (atomic_fetch_add(&active, 1) == 0) { /* wake sleeping workers so they spin */
    pthread_mutex_lock(&P.mu);
    pthread_cond_broadcast(&P.work);
    pthread_mutex_unlock(&P.mu);
  }
}

/* Makes sure at least `want` workers exist; returns how many do. Called with mu held. */
static int ensure_workers(int want) {
  while (P.nworkers < want) {
    pthread_t t;
    pthread_attr_t at;
    if (pthread_attr_init(&at) != 0) break;
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, worker, NULL);
    pthread_attr_destroy(&at);
    if (rc != 0) break;
    P.nworkers++;
  }
  return P.nworkers;
}

void deft_parallel_for(int threads, int64_t n, int64_t grain, deft_range_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t most = n / grain;
  int nt = threads < MAXT ? threads : MAXT;
  if (most < nt) nt = (int)most;
  if (nt <= 1 || pthread_mutex_trylock(&busy) != 0) {
    fn(arg, 0, n);
    return;
  }
  pthread_mutex_lock(&P.mu);
  int have = ensure_workers(nt - 1);
  if (have < nt - 1) nt = have + 1;
  if (nt <= 1) {
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_unlock(&busy);
    fn(arg, 0, n);
    return;
  }
  /* Up to 4 ranges per thread, claimed as threads become free: a thread whose data sits in
   * another core's cache runs slower, and the others take up its share. */
  int64_t nr = most < 4 * (int64_t)nt ? most : 4 * (int64_t)nt;
  if (nr < nt) nr = nt;
  P.fn = fn;
  P.arg = arg;
  P.n = n;
  P.chunk = (n + nr - 1) / nr;
  P.nt = (int)((n + P.chunk - 1) / P.chunk);
  P.next = 0;
  P.pending = P.nt;
  atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
  pthread_cond_broadcast(&P.work);
  run_ranges();
  while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
  pthread_mutex_unlock(&P.mu);
  pthread_mutex_unlock(&busy);
}
