/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_concurrency.c - the thread-safety contract (include/deft/session.h, graph.h,
 * threadpool.h): one session run from several threads at once, two sessions on one graph,
 * fetched tensors freed on other threads, a graph extended while a session runs, a pool shared
 * by sessions, pools whose idle workers sleep, per-thread allocation-failure injection, and
 * what deft does to OpenBLAS's thread count. Runs under ThreadSanitizer in CI (DEFT_TSAN).
 *
 * Worker threads never call ck_assert: they record what they saw, and the test thread checks. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "base/alloc.h"
#include "base/thread_pool.h"
#include "deft/deft.h"
#include "testutil.h"

enum { ROWS = 1024, IN = 128, OUT = 256, NINPUTS = 4 };

/* y = relu(X @ W + b), loss = sum(y): large enough that MatMul and the elementwise ops split
 * over two threads. */
typedef struct model {
  deft_graph *g;
  deft_output x, y, loss;
  deft_op *w, *b;
} model;

static void model_build(model *m) {
  m->g = deft_graph_new();
  deft_graph *g = m->g;
  m->x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, IN), "X");
  m->w = deft_variable_new(g, "W", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(IN, OUT), 0, NULL),
                           true);
  m->b = deft_variable_new(g, "b", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(OUT), 0, NULL), true);
  deft_output z = deft_matmul(g, m->x, deft_variable_value(m->w), false, false, "z");
  m->y = deft_relu(g, deft_bias_add(g, z, deft_variable_value(m->b), NULL), "y");
  m->loss = deft_reduce_sum(g, m->y, (const int32_t[]){0, 1}, 2, false, "loss");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
}

/* Deterministic pseudo-random values in [-1, 1). */
static deft_tensor *filled(int64_t rows, int64_t cols, uint32_t seed) {
  int64_t dims[2] = {rows, cols}; /* cols == 0: a vector of rows */
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, cols ? 2 : 1, NULL);
  float *p = deft_tensor_data(t);
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return t;
}

static void set_weights(deft_session *s, const model *m, uint32_t seed) {
  deft_status *st = deft_status_new();
  deft_tensor *w = filled(IN, OUT, seed), *b = filled(OUT, 0, seed + 7);
  ck_assert_msg(deft_session_set_variable(s, m->w, w, st), "%s", deft_status_message(st));
  ck_assert_msg(deft_session_set_variable(s, m->b, b, st), "%s", deft_status_message(st));
  deft_tensor_free(w);
  deft_tensor_free(b);
  deft_status_free(st);
}

/* Max |a - b| / (1 + |b|) over two float tensors of the same size (INFINITY if they differ). */
static double rel_diff(const deft_tensor *a, const deft_tensor *b) {
  if (!a || !b || deft_tensor_num_elements(a) != deft_tensor_num_elements(b)) return INFINITY;
  const float *x = deft_tensor_data(a), *y = deft_tensor_data(b);
  double worst = 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(a); i++) {
    double d = fabs((double)x[i] - y[i]) / (1 + fabs((double)y[i]));
    if (!(d <= worst)) worst = d; /* NaN counts as worst */
  }
  return worst;
}

/* Reference outputs of m's session `s` for inputs[i], computed one run at a time. */
static void reference(deft_session *s, const model *m, deft_tensor **inputs, deft_tensor **ys,
                      deft_tensor **losses) {
  deft_status *st = deft_status_new();
  for (int i = 0; i < NINPUTS; i++) {
    deft_tensor *out[2];
    deft_output f[2] = {m->y, m->loss};
    ck_assert_msg(deft_session_run(s, &m->x, (const deft_tensor *const[]){inputs[i]}, 1, f, out, 2,
                                   NULL, 0, st),
                  "%s", deft_status_message(st));
    ys[i] = out[0];
    losses[i] = out[1];
  }
  deft_status_free(st);
}

/* ---- one session, several threads ---- */

typedef struct runner {
  deft_session *s;
  const model *m;
  deft_tensor **inputs, **ys, **losses;
  int id, iters;
  /* results */
  int failures;   /* runs that returned false */
  double worst;   /* largest relative difference from the reference */
  char msg[256];
} runner;

static void *run_many(void *vp) {
  runner *r = vp;
  deft_status *st = deft_status_new();
  for (int it = 0; it < r->iters; it++) {
    int i = (r->id + it) % NINPUTS;
    /* Three signatures, so the plan cache is looked up and extended concurrently. */
    int kind = (r->id + it) % 3;
    deft_output f[2] = {kind == 1 ? r->m->loss : r->m->y, r->m->loss};
    int nf = kind == 2 ? 2 : 1;
    deft_tensor *out[2] = {NULL, NULL};
    if (!deft_session_run(r->s, &r->m->x, (const deft_tensor *const[]){r->inputs[i]}, 1, f, out, nf,
                          NULL, 0, st)) {
      r->failures++;
      snprintf(r->msg, sizeof r->msg, "%s", deft_status_message(st));
      continue;
    }
    double d = kind == 1 ? rel_diff(out[0], r->losses[i]) : rel_diff(out[0], r->ys[i]);
    if (nf == 2) {
      double d2 = rel_diff(out[1], r->losses[i]);
      if (!(d2 <= d)) d = d2;
    }
    if (!(d <= r->worst)) r->worst = d;
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
  }
  deft_status_free(st);
  return NULL;
}

static void check_runners(runner *r, int n) {
  for (int i = 0; i < n; i++) {
    ck_assert_msg(r[i].failures == 0, "thread %d: %d runs failed: %s", i, r[i].failures,
                  r[i].msg);
    ck_assert_msg(r[i].worst < 1e-5, "thread %d: results differ from the reference by %g", i,
                  r[i].worst);
  }
}

static void make_inputs(deft_tensor **inputs) {
  for (int i = 0; i < NINPUTS; i++) inputs[i] = filled(ROWS, IN, 100 + (uint32_t)i);
}

static void free_all(deft_tensor **t, int n) {
  for (int i = 0; i < n; i++) deft_tensor_free(t[i]);
}

START_TEST(one_session_from_four_threads) {
  model m;
  model_build(&m);
  deft_status *st = deft_status_new();
  deft_tensor *inputs[NINPUTS], *ys[NINPUTS], *losses[NINPUTS];
  make_inputs(inputs);
  deft_session *ref = deft_session_new(m.g, st);
  set_weights(ref, &m, 1);
  reference(ref, &m, inputs, ys, losses);
  deft_session_free(ref);

  deft_session *s = deft_session_new(m.g, st);
  deft_session_set_threads(s, 2);
  ck_assert_ptr_nonnull(deft_session_threadpool(s));
  ck_assert_int_eq(deft_threadpool_threads(deft_session_threadpool(s)), 2);
  set_weights(s, &m, 1);
  runner r[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    r[i] = (runner){s, &m, inputs, ys, losses, i, 12, 0, 0, ""};
    ck_assert_int_eq(pthread_create(&t[i], NULL, run_many, &r[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  check_runners(r, 4);
  /* The losses are not all equal, so a mixed-up feed would have been caught. */
  ck_assert(deft_tensor_get_double(losses[0], 0) != deft_tensor_get_double(losses[1], 0));
  deft_session_free(s);
  free_all(inputs, NINPUTS);
  free_all(ys, NINPUTS);
  free_all(losses, NINPUTS);
  deft_graph_free(m.g);
  deft_status_free(st);
}
END_TEST

/* ---- two sessions on one graph, each with its own pool, then sharing one ---- */

static void two_sessions(bool shared) {
  model m;
  model_build(&m);
  deft_status *st = deft_status_new();
  deft_tensor *inputs[NINPUTS], *ys[2][NINPUTS], *losses[2][NINPUTS];
  make_inputs(inputs);
  for (int k = 0; k < 2; k++) { /* different weights per session */
    deft_session *ref = deft_session_new(m.g, st);
    set_weights(ref, &m, 10 + (uint32_t)k);
    reference(ref, &m, inputs, ys[k], losses[k]);
    deft_session_free(ref);
  }
  deft_threadpool *pool = NULL;
  deft_session *s[2];
  if (shared) {
    pool = deft_threadpool_new(2, st);
    ck_assert_msg(pool != NULL, "%s", deft_status_message(st));
  }
  for (int k = 0; k < 2; k++) {
    s[k] = shared ? deft_session_new_with_pool(m.g, pool, st) : deft_session_new(m.g, st);
    ck_assert_msg(s[k] != NULL, "%s", deft_status_message(st));
    if (!shared) deft_session_set_threads(s[k], 2);
    set_weights(s[k], &m, 10 + (uint32_t)k);
  }
  if (shared) {
    ck_assert_ptr_eq(deft_session_threadpool(s[0]), pool);
    ck_assert_ptr_eq(deft_session_threadpool(s[1]), pool);
  } else { /* each its own threads: the second session does not drop to one */
    ck_assert_ptr_nonnull(deft_session_threadpool(s[0]));
    ck_assert_ptr_nonnull(deft_session_threadpool(s[1]));
    ck_assert_ptr_ne(deft_session_threadpool(s[0]), deft_session_threadpool(s[1]));
  }
  runner r[2];
  pthread_t t[2];
  for (int k = 0; k < 2; k++) {
    r[k] = (runner){s[k], &m, inputs, ys[k], losses[k], k, 12, 0, 0, ""};
    ck_assert_int_eq(pthread_create(&t[k], NULL, run_many, &r[k]), 0);
  }
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  check_runners(r, 2);
  ck_assert(deft_tensor_get_double(losses[0][0], 0) != deft_tensor_get_double(losses[1][0], 0));
  for (int k = 0; k < 2; k++) {
    deft_session_free(s[k]);
    free_all(ys[k], NINPUTS);
    free_all(losses[k], NINPUTS);
  }
  deft_threadpool_free(pool);
  free_all(inputs, NINPUTS);
  deft_graph_free(m.g);
  deft_status_free(st);
}

START_TEST(two_sessions_on_one_graph) { two_sessions(false); }
END_TEST

START_TEST(pool_shared_between_sessions) { two_sessions(true); }
END_TEST

/* ---- fetched tensors freed on another thread ---- */

enum { QCAP = 64 };
typedef struct queue {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  deft_tensor *items[QCAP];
  int head, tail;
  bool done;
  long freed;
} queue;

static void *freer(void *vp) {
  queue *q = vp;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (q->head == q->tail && !q->done) pthread_cond_wait(&q->cv, &q->mu);
    if (q->head == q->tail) break;
    deft_tensor *t = q->items[q->head++ % QCAP];
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    deft_tensor_free(t); /* drops a reference the session's plan or a variable may share */
    pthread_mutex_lock(&q->mu);
    q->freed++;
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

static void push(queue *q, deft_tensor *t) {
  pthread_mutex_lock(&q->mu);
  while (q->tail - q->head == QCAP) pthread_cond_wait(&q->cv, &q->mu);
  q->items[q->tail++ % QCAP] = t;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

START_TEST(fetched_tensors_freed_on_other_threads) {
  /* v -= 0.5 * ones each step; every run also fetches v (its storage, shared), v's read
   * snapshot and a fresh value, and another thread frees them while the next steps run and
   * copy-on-write v. */
  deft_graph *g = deft_graph_new();
  deft_op *v = deft_variable_new(g, "v", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4096), 3, NULL),
                                 true);
  deft_output vo = {v, 0};
  deft_output step = deft_apply_gradient_descent(
      g, vo, deft_const_float(g, 0.5f, NULL),
      deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4096), 1, NULL), "step");
  deft_output twice = deft_add(g, deft_variable_value(v), deft_variable_value(v), "twice");
  deft_op *init = deft_global_variables_initializer(g, "init");
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  queue q = {.head = 0, .tail = 0, .done = false, .freed = 0};
  pthread_mutex_init(&q.mu, NULL);
  pthread_cond_init(&q.cv, NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, freer, &q), 0);
  enum { STEPS = 200 };
  bool ok = true;
  double last_v = 0, last_twice = 0;
  for (int i = 0; i < STEPS && ok; i++) {
    deft_output f[3] = {vo, deft_variable_value(v), twice};
    deft_tensor *out[3];
    ok = deft_session_run(s, NULL, NULL, 0, f, out, 3, &step.op, 1, st);
    if (!ok) break;
    last_v = deft_tensor_get_double(out[0], 4095);
    last_twice = deft_tensor_get_double(out[2], 7);
    for (int k = 0; k < 3; k++) push(&q, out[k]);
  }
  pthread_mutex_lock(&q.mu);
  q.done = true;
  pthread_cond_broadcast(&q.cv);
  pthread_mutex_unlock(&q.mu);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  ck_assert_msg(ok, "%s", deft_status_message(st));
  ck_assert_int_eq(q.freed, 3 * STEPS);
  /* Fetches see the value after the step of their own run... */
  ck_assert(last_v == 3 - 0.5 * STEPS);
  /* ...or, for a value computed in the run, the one the step's ordering allows. */
  ck_assert(last_twice == 2 * (3 - 0.5 * STEPS) || last_twice == 2 * (3 - 0.5 * (STEPS - 1)));
  deft_tensor *now = deft_session_variable_value(s, v, st);
  ck_assert(deft_tensor_get_double(now, 0) == 3 - 0.5 * STEPS);
  deft_tensor_free(now);
  pthread_mutex_destroy(&q.mu);
  pthread_cond_destroy(&q.cv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- a graph extended while a session runs ---- */

typedef struct builder_arg {
  deft_graph *g;
  deft_output base;
  deft_output last;
  int nops;
} builder_arg;

static void *build_chain(void *vp) {
  builder_arg *b = vp;
  deft_output x = b->base;
  /* Enough ops to make the graph's op table grow (reallocate) several times. */
  for (int i = 0; i < 1500; i++) x = deft_add(b->g, x, deft_const_float(b->g, 1.0f, NULL), NULL);
  b->last = x;
  b->nops = deft_graph_num_ops(b->g);
  return NULL;
}

START_TEST(graph_extended_while_session_runs) {
  model m;
  model_build(&m);
  deft_status *st = deft_status_new();
  deft_tensor *inputs[NINPUTS], *ys[NINPUTS], *losses[NINPUTS];
  make_inputs(inputs);
  deft_session *s = deft_session_new(m.g, st);
  set_weights(s, &m, 3);
  reference(s, &m, inputs, ys, losses);
  deft_output seed = deft_const_float(m.g, 0.0f, "seed");
  ck_assert(deft_graph_ok(m.g));
  builder_arg b = {m.g, seed, {NULL, 0}, 0};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, build_chain, &b), 0);
  /* Meanwhile: cached runs, and new plans (a fetch of an op that existed before the builder
   * started, under a new signature each time: planning walks the growing op table). */
  runner r = {s, &m, inputs, ys, losses, 0, 9, 0, 0, ""};
  run_many(&r);
  int plan_failures = 0;
  for (int i = 0; i < 20; i++) {
    deft_output f[2] = {seed, i % 2 ? m.loss : seed};
    deft_tensor *out[2];
    if (!deft_session_run(s, &m.x, (const deft_tensor *const[]){inputs[0]}, 1, f, out, 1 + i % 2,
                          NULL, 0, st)) {
      plan_failures++;
      continue;
    }
    deft_tensor_free(out[0]);
    if (i % 2) deft_tensor_free(out[1]);
  }
  pthread_join(t, NULL);
  check_runners(&r, 1);
  ck_assert_msg(plan_failures == 0, "%s", deft_status_message(st));
  ck_assert_msg(deft_graph_ok(m.g), "%s", deft_status_message(deft_graph_status(m.g)));
  ck_assert_int_ge(b.nops, 3000);
  /* Later runs see the new ops. */
  deft_tensor *out;
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &b.last, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert(deft_tensor_get_double(out, 0) == 1500.0);
  deft_tensor_free(out);
  deft_session_free(s);
  free_all(inputs, NINPUTS);
  free_all(ys, NINPUTS);
  free_all(losses, NINPUTS);
  deft_graph_free(m.g);
  deft_status_free(st);
}
END_TEST

/* ---- pools ---- */

typedef struct probe {
  atomic_int entered;
  pthread_t threads[64];
  atomic_int nthreads;
} probe;

/* Each range waits (bounded) until two threads have entered some range, and records who ran. */
static void probe_range(void *vp, int64_t b, int64_t e) {
  probe *p = vp;
  (void)b;
  (void)e;
  int k = atomic_fetch_add(&p->nthreads, 1);
  if (k < 64) p->threads[k] = pthread_self();
  atomic_fetch_add(&p->entered, 1);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while (atomic_load(&p->entered) < 2 && (t.tv_sec - t0.tv_sec) < 5);
}

static int distinct_threads(probe *p) {
  int n = atomic_load(&p->nthreads) < 64 ? atomic_load(&p->nthreads) : 64, d = 0;
  for (int i = 0; i < n; i++) {
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) seen = pthread_equal(p->threads[i], p->threads[j]);
    d += !seen;
  }
  return d;
}

static double process_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(idle_pool_workers_sleep) {
  deft_status *st = deft_status_new();
  deft_threadpool *pool = deft_threadpool_new(3, st);
  ck_assert_msg(pool != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_threadpool_threads(pool), 3);
  for (int round = 0; round < 3; round++) {
    /* The workers take part in a loop (so they are awake and had work)... */
    probe p;
    atomic_init(&p.entered, 0);
    atomic_init(&p.nthreads, 0);
    deft_parallel_for(pool, 3, 12, 1, probe_range, &p);
    ck_assert_int_ge(distinct_threads(&p), 2);
    ck_assert_int_eq(atomic_load(&p.nthreads), 12);
    /* ...then sit idle: over 300 ms the process uses (almost) no CPU. The bound allows the
     * workers' bounded spin (DEFT_THREADPOOL_SPIN_US each) many times over; a spinning pool
     * would use ~600 ms. */
    double c0 = process_cpu_seconds();
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    double used = process_cpu_seconds() - c0;
    ck_assert_msg(used < 0.03, "an idle 3-thread pool used %.1f ms of CPU in 300 ms",
                  used * 1e3);
  }
  deft_threadpool_free(pool);
  /* A session that owns a pool: its workers sleep between runs too. */
  model m;
  model_build(&m);
  deft_session *s = deft_session_new(m.g, st);
  deft_session_set_threads(s, 2);
  set_weights(s, &m, 5);
  deft_tensor *in = filled(ROWS, IN, 9), *out;
  ck_assert(
      deft_session_run(s, &m.x, (const deft_tensor *const[]){in}, 1, &m.y, &out, 1, NULL, 0, st));
  deft_tensor_free(out);
  double c0 = process_cpu_seconds();
  struct timespec nap = {0, 300 * 1000 * 1000};
  nanosleep(&nap, NULL);
  double used = process_cpu_seconds() - c0;
  ck_assert_msg(used < 0.03, "an idle 2-thread session used %.1f ms of CPU in 300 ms",
                used * 1e3);
  deft_tensor_free(in);
  deft_session_free(s);
  deft_graph_free(m.g);
  deft_status_free(st);
}
END_TEST

/* Busy for us microseconds of wall time. */
static void busy_us(int64_t us) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do clock_gettime(CLOCK_MONOTONIC, &b);
  while ((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

typedef struct lag {
  pthread_t caller;
  int64_t us;              /* work per element */
  atomic_bool lag_workers; /* a range on a worker waits 3 ms more, as behind another process */
  atomic_int on_workers;   /* ranges the workers ran */
} lag;

static void lag_range(void *vp, int64_t b, int64_t e) {
  lag *l = vp;
  busy_us(l->us * (e - b));
  if (pthread_equal(pthread_self(), l->caller)) return;
  atomic_fetch_add(&l->on_workers, 1);
  if (atomic_load(&l->lag_workers)) {
    struct timespec nap = {0, 3 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
}

/* Workers that lag behind the caller (a core taken by another process): the pool stops
 * splitting that loop, so it costs what one thread costs; when the workers keep up again, it
 * splits again. */
START_TEST(pool_runs_alone_when_workers_lag) {
  deft_status *st = deft_status_new();
  deft_threadpool *pool = deft_threadpool_new(2, st);
  ck_assert_ptr_nonnull(pool);
  lag l = {.caller = pthread_self(), .us = 100};
  atomic_init(&l.lag_workers, true);
  atomic_init(&l.on_workers, 0);
  for (int i = 0; i < 8; i++) deft_parallel_for(pool, 2, 8, 1, lag_range, &l);
  int before = deft_threadpool_serial_loops(pool);
  /* Splitting is retried after 10 ms, then 20, 40, ... (8 loops each time), so most of the
   * next 100 loops run alone, however slowly a loaded machine runs them. */
  for (int i = 0; i < 100; i++) deft_parallel_for(pool, 2, 8, 1, lag_range, &l);
  int alone = deft_threadpool_serial_loops(pool) - before;
  ck_assert_msg(alone >= 40, "only %d of 100 loops ran alone with lagging workers", alone);
  /* Another loop (another length) is measured on its own. */
  atomic_store(&l.lag_workers, false);
  struct timespec nap = {0, 400 * 1000 * 1000}; /* past the longest backoff reached above */
  nanosleep(&nap, NULL);
  l.us = 500;
  int worked = atomic_load(&l.on_workers);
  for (int i = 0; i < 16; i++) deft_parallel_for(pool, 2, 8, 1, lag_range, &l);
  ck_assert_msg(atomic_load(&l.on_workers) > worked,
                "the workers took no range after they stopped lagging");
  deft_threadpool_free(pool);
  deft_status_free(st);
}
END_TEST

/* Who ran each range of a loop: the caller claims ranges from the front, the workers from the
 * back (base/thread_pool.c), so the caller's ranges are always a prefix of the loop, whatever
 * the timing, and every element is run exactly once. */
typedef struct order {
  pthread_t caller;
  atomic_int hits[64];   /* per element */
  atomic_bool mine[64];  /* run by the caller */
  atomic_int on_workers; /* ranges the workers ran */
} order;

static void order_range(void *vp, int64_t b, int64_t e) {
  order *o = vp;
  bool caller = pthread_equal(pthread_self(), o->caller);
  if (!caller) atomic_fetch_add(&o->on_workers, 1);
  for (int64_t i = b; i < e; i++) {
    atomic_fetch_add(&o->hits[i], 1);
    atomic_store(&o->mine[i], caller);
  }
  busy_us(200); /* long enough for a spinning worker to claim a range */
}

START_TEST(pool_caller_runs_the_first_ranges) {
  deft_status *st = deft_status_new();
  for (int threads = 2; threads <= 4; threads++) {
    deft_threadpool *pool = deft_threadpool_new(threads, st);
    ck_assert_ptr_nonnull(pool);
    int worked = 0;
    for (int round = 0; round < 40; round++) {
      int64_t n = 8 + round % 13 * 4; /* 8..56 elements, up to 4 ranges per thread */
      order o = {.caller = pthread_self()};
      for (int i = 0; i < 64; i++) {
        atomic_init(&o.hits[i], 0);
        atomic_init(&o.mine[i], false);
      }
      atomic_init(&o.on_workers, 0);
      deft_parallel_for(pool, threads, n, 1, order_range, &o);
      int64_t prefix = 0;
      while (prefix < n && atomic_load(&o.mine[prefix])) prefix++;
      ck_assert_msg(prefix > 0, "the caller ran no range (threads %d, n %lld)", threads,
                    (long long)n);
      for (int64_t i = 0; i < n; i++) {
        ck_assert_int_eq(atomic_load(&o.hits[i]), 1);
        ck_assert_msg(i < prefix || !atomic_load(&o.mine[i]),
                      "threads %d, n %lld: element %lld ran on the caller after a worker's "
                      "element %lld",
                      threads, (long long)n, (long long)i, (long long)prefix);
      }
      worked += atomic_load(&o.on_workers);
    }
    /* Each round lasts about 800 us or more: workers spinning for the next loop take part. */
    ck_assert_msg(worked > 0, "no worker of a %d-thread pool ran a range", threads);
    deft_threadpool_free(pool);
  }
  deft_status_free(st);
}
END_TEST

static void count_range(void *vp, int64_t b, int64_t e) {
  atomic_fetch_add((atomic_long *)vp, (long)(e - b));
}

/* A loop started from inside one of a pool's own ranges finds the pool busy and runs alone
 * (no deadlock); several threads starting loops on one pool at once all complete. */
static void nested_range(void *vp, int64_t b, int64_t e) {
  void **a = vp;
  for (int64_t i = b; i < e; i++) deft_parallel_for(a[0], 4, 1000, 1, count_range, a[1]);
}

typedef struct looper {
  deft_threadpool *pool;
  atomic_long *count;
} looper;

static void *many_loops(void *vp) {
  looper *l = vp;
  for (int i = 0; i < 200; i++) deft_parallel_for(l->pool, 4, 1000, 10, count_range, l->count);
  return NULL;
}

START_TEST(pool_nested_and_concurrent_loops) {
  deft_status *st = deft_status_new();
  deft_threadpool *pool = deft_threadpool_new(4, st);
  ck_assert_ptr_nonnull(pool);
  atomic_long count;
  atomic_init(&count, 0);
  void *a[2] = {pool, &count};
  deft_parallel_for(pool, 4, 16, 1, nested_range, a);
  ck_assert_int_eq(atomic_load(&count), 16 * 1000);
  atomic_store(&count, 0);
  looper l = {pool, &count};
  pthread_t t[3];
  for (int i = 0; i < 3; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, many_loops, &l), 0);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  ck_assert_int_eq(atomic_load(&count), 3 * 200 * 1000);
  /* No pool, or one thread: the loop runs on the caller. */
  atomic_store(&count, 0);
  deft_parallel_for(NULL, 4, 1000, 1, count_range, &count);
  deft_parallel_for(pool, 1, 1000, 1, count_range, &count);
  ck_assert_int_eq(atomic_load(&count), 2000);
  deft_threadpool_free(pool);
  deft_threadpool_free(NULL);
  deft_status_free(st);
}
END_TEST

START_TEST(pool_errors) {
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(deft_threadpool_new(0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "1 to 64 threads", "not 0");
  ck_assert_ptr_null(deft_threadpool_new(DEFT_THREADPOOL_MAX_THREADS + 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "not 65");
  deft_graph *g = deft_graph_new();
  ck_assert_ptr_null(deft_session_new_with_pool(g, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "pool is NULL");
  /* Out of memory making a pool: an error, nothing leaked or left running. */
  deft_alloc_fail_after(0);
  deft_threadpool *p = deft_threadpool_new(2, st);
  deft_alloc_fail_after(-1);
  ck_assert_ptr_null(p);
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "2-thread pool");
  /* A session's own pool is replaced by set_threads and dropped with one thread. */
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_null(deft_session_threadpool(s));
  deft_session_set_threads(s, 3);
  ck_assert_int_eq(deft_threadpool_threads(deft_session_threadpool(s)), 3);
  deft_session_set_threads(s, 2);
  ck_assert_int_eq(deft_threadpool_threads(deft_session_threadpool(s)), 2);
  deft_session_set_threads(s, 1);
  ck_assert_ptr_null(deft_session_threadpool(s));
  /* When the threads cannot be had, runs say so until set_threads succeeds. */
  deft_alloc_fail_after(0);
  deft_session_set_threads(s, 2);
  deft_alloc_fail_after(-1);
  deft_output c = deft_const_float(g, 2.0f, "c");
  deft_tensor *out = NULL;
  ck_assert(!deft_session_run(s, NULL, NULL, 0, &c, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "cannot start the session's 2 threads");
  ck_assert_ptr_null(out);
  deft_session_set_threads(s, 2);
  ck_assert(deft_session_run(s, NULL, NULL, 0, &c, &out, 1, NULL, 0, st));
  ck_assert(deft_tensor_get_double(out, 0) == 2.0);
  deft_tensor_free(out);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- allocation-failure injection is per thread ---- */

typedef struct alloc_probe {
  atomic_bool failing_set;
  atomic_bool other_done;
  int other_graphs_ok;
} alloc_probe;

static void *allocate_elsewhere(void *vp) {
  alloc_probe *a = vp;
  while (!atomic_load(&a->failing_set)) {
  }
  for (int i = 0; i < 20; i++) {
    deft_graph *g = deft_graph_new();
    if (g && deft_graph_ok(g)) a->other_graphs_ok++;
    deft_graph_free(g);
  }
  atomic_store(&a->other_done, true);
  return NULL;
}

START_TEST(alloc_failures_are_per_thread) {
  alloc_probe a;
  atomic_init(&a.failing_set, false);
  atomic_init(&a.other_done, false);
  a.other_graphs_ok = 0;
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, allocate_elsewhere, &a), 0);
  deft_alloc_fail_after(0); /* this thread's allocations fail... */
  atomic_store(&a.failing_set, true);
  while (!atomic_load(&a.other_done)) ck_assert_ptr_null(deft_graph_new());
  deft_alloc_fail_after(-1);
  pthread_join(t, NULL);
  ck_assert_int_eq(a.other_graphs_ok, 20); /* ...the other thread's do not */
  /* An explicit injector: one failure, then allocations work again; counts its allocations. */
  deft_alloc_hooks h = {.fail_after = 1, .fail_once = true, .count = 0};
  ck_assert_ptr_null(deft_alloc_hooks_set(&h));
  void *p1 = deft_malloc(8), *p2 = deft_malloc(8), *p3 = deft_malloc(8);
  ck_assert_ptr_eq(deft_alloc_hooks_set(NULL), &h);
  ck_assert_ptr_nonnull(p1);
  ck_assert_ptr_null(p2);
  ck_assert_ptr_nonnull(p3);
  ck_assert_int_eq(h.count, 3);
  ck_assert_int_eq(h.fail_after, -1);
  deft_free(p1);
  deft_free(p3);
}
END_TEST

/* ---- OpenBLAS: set to one thread when a session is made, never per run ---- */

START_TEST(openblas_threads_set_once_at_session_creation) {
  openblas_set_num_threads(2);
  model m;
  model_build(&m);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(m.g, st);
  ck_assert_int_eq(openblas_get_num_threads(), 1);
  set_weights(s, &m, 2);
  deft_tensor *in = filled(ROWS, IN, 4), *ref, *out;
  ck_assert(
      deft_session_run(s, &m.x, (const deft_tensor *const[]){in}, 1, &m.y, &ref, 1, NULL, 0, st));
  /* The program sets it again after making its sessions: runs keep its setting. */
  openblas_set_num_threads(2);
  ck_assert(
      deft_session_run(s, &m.x, (const deft_tensor *const[]){in}, 1, &m.y, &out, 1, NULL, 0, st));
  ck_assert_int_eq(openblas_get_num_threads(), 2);
  ck_assert(rel_diff(out, ref) < 1e-5);
  openblas_set_num_threads(1);
  deft_tensor_free(in);
  deft_tensor_free(ref);
  deft_tensor_free(out);
  deft_session_free(s);
  deft_graph_free(m.g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("concurrency");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, one_session_from_four_threads);
  tcase_add_test(tc, two_sessions_on_one_graph);
  tcase_add_test(tc, pool_shared_between_sessions);
  tcase_add_test(tc, fetched_tensors_freed_on_other_threads);
  tcase_add_test(tc, graph_extended_while_session_runs);
  tcase_add_test(tc, idle_pool_workers_sleep);
  tcase_add_test(tc, pool_nested_and_concurrent_loops);
  tcase_add_test(tc, pool_runs_alone_when_workers_lag);
  tcase_add_test(tc, pool_caller_runs_the_first_ranges);
  tcase_add_test(tc, pool_errors);
  tcase_add_test(tc, alloc_failures_are_per_thread);
  tcase_add_test(tc, openblas_threads_set_once_at_session_creation);
  suite_add_tcase(s, tc);
  return s;
}

/* OpenBLAS starts its own threads when it is loaded, and they spin for a while whenever their
 * count changes (as deft_session_new sets it to 1): CPU that is OpenBLAS's, not deft's pool's.
 * So the suite runs with OpenBLAS at one thread from the start (re-executing itself with
 * OPENBLAS_NUM_THREADS=1), and the idle checks measure deft's workers alone. OpenBLAS's threads
 * are also invisible to ThreadSanitizer. */
int main(int argc, char **argv) {
  (void)argc;
  const char *e = getenv("OPENBLAS_NUM_THREADS");
  if (!e || strcmp(e, "1") != 0) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    return 1; /* exec failed */
  }
  return tu_run_suite(suite());
}
