/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/dist.c - communicators over MPI, their collectives with a progress check, the
 * kernel context's communicator, and the variable broadcast (see include/deft/dist.h).
 *
 * Every collective is a nonblocking MPI call (MPI_Iallreduce, MPI_Ibcast, ...) held in a
 * deft_comm_request; a blocking collective starts one and waits for it. The wait tests the
 * request with an exponential backoff (a few MPI_Test calls back to back, then nanosleeps from
 * 2 us doubling to 64 us: bounded latency, little CPU) until it completes, MPI reports an error,
 * or the communicator's timeout passes since it started. So a rank that died or never reaches
 * the collective makes the others fail in bounded time instead of hanging. The communicator's
 * lock is held only around each MPI call, never while sleeping, so several requests may be in
 * flight (the executor's asynchronous DeftAllreduce steps) and tested from any thread. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "deft/dist.h"
#include "deft/ops.h"
#include "base/alloc.h"
#include "ops/kernel.h"
#include "runtime/session_internal.h"

#ifdef DEFT_HAVE_MPI
#include <mpi.h>
#endif

struct deft_comm {
  int rank, size;
  double timeout; /* <= 0: none */
  pthread_mutex_t mu;
  deft_code broken; /* DEFT_OK until a collective fails; then every call fails with it */
  char broken_msg[320];
  double seconds, wait_seconds;
  int64_t calls;
  int inflight;      /* collectives started and not yet seen finished */
  double busy_since; /* when inflight last went from 0 to 1 */
#ifdef DEFT_HAVE_MPI
  bool mpi;
  MPI_Comm comm;
#endif
};

bool deft_mpi_launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

#ifdef DEFT_HAVE_MPI
static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#endif

static deft_comm *comm_alloc(void) {
  deft_comm *c = deft_calloc(1, sizeof *c);
  if (!c) return NULL;
  c->size = 1;
  c->timeout = 120;
  const char *e = getenv("DEFT_COMM_TIMEOUT");
  if (e && *e) {
    char *end;
    double v = strtod(e, &end);
    if (*end == '\0' && isfinite(v)) c->timeout = v;
  }
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

deft_comm *deft_comm_local(void) { return comm_alloc(); }

int deft_comm_rank(const deft_comm *c) { return c->rank; }
int deft_comm_size(const deft_comm *c) { return c->size; }
void deft_comm_set_timeout(deft_comm *c, double seconds) { c->timeout = seconds; }
double deft_comm_seconds(const deft_comm *c) { return c->seconds; }
int64_t deft_comm_calls(const deft_comm *c) { return c->calls; }
double deft_comm_wait_seconds(const deft_comm *c) { return c->wait_seconds; }

/* A collective in flight (or finished: state). Without MPI, or on one process, requests are
 * born finished. */
struct deft_comm_request {
  deft_comm *c;
  int state; /* 0 pending, 1 finished, -1 failed */
  double t0;
  const char *what;
  int64_t bytes;
#ifdef DEFT_HAVE_MPI
  bool mpi;
  MPI_Request req;
  int *counts, *displs; /* an allgatherv's, kept until it finishes (MPI's rule) */
#endif
};

static deft_comm_request *request_new(deft_comm *c, const char *what, int64_t bytes,
                                      deft_status *st) {
  deft_comm_request *r = deft_calloc(1, sizeof *r);
  if (!r) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory", what);
    return NULL;
  }
  r->c = c;
  r->state = 1;
  r->what = what;
  r->bytes = bytes;
  return r;
}

void deft_session_options_set_comm(deft_session_options *o, deft_comm *c) { o->comm = c; }

deft_comm *deft_kernel_comm(const deft_kernel_ctx *c) { return c->session->opts.comm; }

#ifdef DEFT_HAVE_MPI
/* Fails with c's first error if it is broken (lock held). */
static bool check_broken(deft_comm *c, deft_status *st) {
  if (c->broken == DEFT_OK) return true;
  deft_status_set(st, c->broken, "%s", c->broken_msg);
  return false;
}
#endif

static bool is_supported(deft_dtype t) {
  return t == DEFT_FLOAT || t == DEFT_DOUBLE || t == DEFT_INT32 || t == DEFT_INT64 ||
         t == DEFT_UINT8;
}

#ifdef DEFT_HAVE_MPI
static void divide(void *data, int64_t count, deft_dtype dtype, int size) {
  if (dtype == DEFT_FLOAT) {
    float *p = data, d = (float)size;
    for (int64_t i = 0; i < count; i++) p[i] /= d;
  } else {
    double *p = data, d = (double)size;
    for (int64_t i = 0; i < count; i++) p[i] /= d;
  }
}
#endif

#ifdef DEFT_HAVE_MPI

bool deft_mpi_available(void) { return true; }

bool deft_mpi_init(int *argc, char ***argv, deft_status *status) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (finalized) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "deft_mpi_init: MPI was finalized");
    return false;
  }
  int provided = MPI_THREAD_SINGLE;
  if (inited) {
    MPI_Query_thread(&provided);
  } else if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    deft_status_set(status, DEFT_INTERNAL, "deft_mpi_init: MPI_Init_thread failed");
    return false;
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    deft_status_set(status, DEFT_INTERNAL,
                    "deft_mpi_init: MPI gives thread level %d, deft needs at least "
                    "MPI_THREAD_SERIALIZED", provided);
    return false;
  }
  return true;
}

void deft_mpi_finalize(void) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) MPI_Finalize();
}

void deft_mpi_abort(int code) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
}

deft_comm *deft_comm_from_mpi(const void *mpi_comm, deft_status *status) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION,
                    "deft_comm: MPI is not initialized (call deft_mpi_init first)");
    return NULL;
  }
  deft_comm *c = comm_alloc();
  if (!c) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "deft_comm: out of memory");
    return NULL;
  }
  if (MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &c->comm) != MPI_SUCCESS) {
    deft_free(c);
    deft_status_set(status, DEFT_INTERNAL, "deft_comm: MPI_Comm_dup failed");
    return NULL;
  }
  MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->comm, &c->rank);
  MPI_Comm_size(c->comm, &c->size);
  c->mpi = true;
  return c;
}

deft_comm *deft_comm_world(deft_status *status) {
  MPI_Comm w = MPI_COMM_WORLD;
  return deft_comm_from_mpi(&w, status);
}

void deft_comm_free(deft_comm *c) {
  if (!c) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (c->mpi && c->broken == DEFT_OK && !finalized) MPI_Comm_free(&c->comm);
  pthread_mutex_destroy(&c->mu);
  deft_free(c);
}

static MPI_Datatype mpi_type(deft_dtype t) {
  switch (t) {
    case DEFT_FLOAT: return MPI_FLOAT;
    case DEFT_DOUBLE: return MPI_DOUBLE;
    case DEFT_INT32: return MPI_INT32_T;
    case DEFT_INT64: return MPI_INT64_T;
    default: return MPI_UINT8_T;
  }
}

/* Marks c broken with code and the formatted message, and sets st (lock held). */
static bool comm_break(deft_comm *c, deft_status *st, deft_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool comm_break(deft_comm *c, deft_status *st, deft_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->broken_msg, sizeof c->broken_msg, fmt, ap);
  va_end(ap);
  c->broken = code;
  deft_status_set(st, code, "%s", c->broken_msg);
  return false;
}

/* Checks a collective's start: rc is the MPI call's return code; on success r is pending. */
static bool start_ok(deft_comm *c, deft_comm_request *r, int rc, deft_status *st) {
  if (rc == MPI_SUCCESS) {
    r->mpi = true;
    r->state = 0;
    if (c->inflight++ == 0) c->busy_since = r->t0;
    return true;
  }
  char err[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, err, &len);
  r->state = -1;
  return comm_break(c, st, DEFT_UNAVAILABLE, "%s of %lld bytes on rank %d of %d failed: %s",
                    r->what, (long long)r->bytes, c->rank, c->size, err);
}

/* r is no longer in flight (lock held): the seconds with some collective in flight grow. */
static void ended(deft_comm *c) {
  if (--c->inflight == 0) c->seconds += now_seconds() - c->busy_since;
}

/* One MPI_Test of a pending r (lock held): 1 finished, 0 pending, -1 failed. */
static int test_locked(deft_comm_request *r, deft_status *st) {
  deft_comm *c = r->c;
  if (!check_broken(c, st)) {
    ended(c);
    return r->state = -1;
  }
  int done = 0;
  int rc = MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    char err[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, err, &len);
    comm_break(c, st, DEFT_UNAVAILABLE,
               "%s of %lld bytes on rank %d of %d failed (a rank died?): %s", r->what,
               (long long)r->bytes, c->rank, c->size, err);
    ended(c);
    return r->state = -1;
  }
  if (!done) return 0;
  ended(c);
  c->calls++;
  return r->state = 1;
}

int deft_comm_request_test(deft_comm_request *r, bool wait, deft_status *status) {
  if (!r) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "deft_comm_request_test: NULL request");
    return -1;
  }
  deft_comm *c = r->c;
  if (r->state == 1) return 1;
  if (r->state < 0) {
    pthread_mutex_lock(&c->mu);
    if (c->broken != DEFT_OK)
      check_broken(c, status);
    else
      deft_status_set(status, DEFT_INTERNAL, "%s failed", r->what);
    pthread_mutex_unlock(&c->mu);
    return -1;
  }
  double w0 = wait ? now_seconds() : 0;
  long delay_ns = 2000;
  int state;
  for (int tries = 0;; tries++) {
    pthread_mutex_lock(&c->mu);
    state = test_locked(r, status);
    if (state == 0 && wait && c->timeout > 0 && now_seconds() - r->t0 > c->timeout) {
      comm_break(c, status, DEFT_DEADLINE_EXCEEDED,
                 "%s of %lld bytes on rank %d of %d made no progress in %.3g s: a rank died or "
                 "never reached it (the communicator's timeout; deft_comm_set_timeout, "
                 "DEFT_COMM_TIMEOUT)",
                 r->what, (long long)r->bytes, c->rank, c->size, c->timeout);
      ended(c);
      state = r->state = -1;
    }
    if (state != 0 || !wait) {
      if (wait) c->wait_seconds += now_seconds() - w0;
      pthread_mutex_unlock(&c->mu);
      break;
    }
    pthread_mutex_unlock(&c->mu);
    /* Backoff: 8 tests back to back (a collective about to finish), then sleeps of 2 us doubling
     * to 64 us (the kernel's timer slack makes the short ones ~50 us): a waiting rank wakes at
     * most ~15,000 times a second instead of spinning a core, and notices completion within
     * about 0.1 ms. */
    if (tries >= 8) {
      struct timespec ts = {0, delay_ns};
      nanosleep(&ts, NULL);
      if (delay_ns < 64000) delay_ns *= 2;
    }
  }
  return state;
}

void deft_comm_request_free(deft_comm_request *r) {
  if (!r) return;
  if (r->state == 0) {
    deft_status *st = deft_status_new(); /* a failure breaks the communicator: it keeps it */
    deft_comm_request_test(r, true, st);
    deft_status_free(st);
  }
  /* A request that failed may still be pending inside MPI (it cannot be cancelled): its arrays
   * are left to it, and the program is expected to end the job (deft_mpi_abort). */
  if (r->state >= 0) {
    deft_free(r->counts);
    deft_free(r->displs);
  }
  deft_free(r);
}

/* Waits for r, frees it: the blocking collectives. */
static bool finish(deft_comm_request *r, deft_status *st) {
  if (!r) return false;
  int state = deft_comm_request_test(r, true, st);
  deft_comm_request_free(r);
  return state == 1;
}

static bool check_count(const char *what, int64_t count, deft_status *status) {
  if (count < 0 || count > INT32_MAX) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "%s of %lld elements: out of range", what,
                    (long long)count);
    return false;
  }
  return true;
}

static bool check_reducible(deft_dtype dtype, bool average, deft_status *status) {
  if (!is_supported(dtype) || (average && dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "allreduce%s of dtype %s is not supported",
                    average ? " (average)" : "", deft_dtype_name(dtype));
    return false;
  }
  return true;
}

deft_comm_request *deft_comm_iallreduce(deft_comm *c, void *data, int64_t count, deft_dtype dtype,
                                        deft_status *status) {
  if (!check_reducible(dtype, false, status) || !check_count("allreduce", count, status))
    return NULL;
  deft_comm_request *r =
      request_new(c, "allreduce", count * (int64_t)deft_dtype_size(dtype), status);
  if (!r || !c->mpi || c->size == 1) return r;
  pthread_mutex_lock(&c->mu);
  bool ok = check_broken(c, status);
  if (ok) {
    r->t0 = now_seconds();
    /* An empty tensor still takes part, so every rank issues the same collectives. */
    int rc = MPI_Iallreduce(MPI_IN_PLACE, count ? data : (void *)r, (int)count, mpi_type(dtype),
                            MPI_SUM, c->comm, &r->req);
    ok = start_ok(c, r, rc, status);
  }
  pthread_mutex_unlock(&c->mu);
  if (!ok) {
    deft_free(r);
    return NULL;
  }
  return r;
}

deft_comm_request *deft_comm_iallgatherv(deft_comm *c, const void *send, int64_t bytes, void *recv,
                                         const int64_t *all_bytes, deft_status *status) {
  int64_t total = 0;
  for (int i = 0; i < c->size; i++) {
    if (all_bytes[i] < 0) total = -1;
    if (total >= 0) total += all_bytes[i];
    if (total > INT32_MAX) break;
  }
  if (bytes < 0 || total < 0 || total > INT32_MAX || bytes != all_bytes[c->rank]) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "allgather of %lld bytes on rank %d (%lld in all): out of range or not this "
                    "rank's count",
                    (long long)bytes, c->rank, (long long)total);
    return NULL;
  }
  deft_comm_request *r = request_new(c, "allgather", total, status);
  if (!r) return NULL;
  if (!c->mpi || c->size == 1) {
    if (bytes && recv != send) memmove(recv, send, (size_t)bytes);
    return r;
  }
  r->counts = deft_malloc(sizeof(int) * (size_t)c->size);
  r->displs = deft_malloc(sizeof(int) * (size_t)c->size);
  if (!r->counts || !r->displs) {
    deft_comm_request_free(r);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "allgather: out of memory");
    return NULL;
  }
  int off = 0;
  for (int i = 0; i < c->size; i++) {
    r->counts[i] = (int)all_bytes[i];
    r->displs[i] = off;
    off += r->counts[i];
  }
  static char dummy[1];
  pthread_mutex_lock(&c->mu);
  bool ok = check_broken(c, status);
  if (ok) {
    r->t0 = now_seconds();
    int rc = MPI_Iallgatherv(bytes ? send : dummy, (int)bytes, MPI_BYTE, total ? recv : dummy,
                             r->counts, r->displs, MPI_BYTE, c->comm, &r->req);
    ok = start_ok(c, r, rc, status);
  }
  pthread_mutex_unlock(&c->mu);
  if (!ok) {
    r->state = 1; /* never started: its arrays are ours */
    deft_comm_request_free(r);
    return NULL;
  }
  return r;
}

bool deft_comm_allreduce(deft_comm *c, void *data, int64_t count, deft_dtype dtype, bool average,
                         deft_status *status) {
  if (!check_reducible(dtype, average, status) || !check_count("allreduce", count, status))
    return false;
  if (!c->mpi || c->size == 1) return true;
  bool ok = finish(deft_comm_iallreduce(c, data, count, dtype, status), status);
  if (ok && average) divide(data, count, dtype, c->size);
  return ok;
}

/* Starts the collective `call` (its request is req_; under the lock) and waits for it. */
#define BLOCKING(c, what_, bytes_, status, call)                   \
  do {                                                             \
    deft_comm_request *r_ = request_new(c, what_, bytes_, status); \
    if (!r_) return false;                                         \
    pthread_mutex_lock(&(c)->mu);                                  \
    bool ok_ = check_broken(c, status);                            \
    if (ok_) {                                                     \
      r_->t0 = now_seconds();                                      \
      MPI_Request *req_ = &r_->req;                                \
      ok_ = start_ok(c, r_, (call), status);                       \
    }                                                              \
    pthread_mutex_unlock(&(c)->mu);                                \
    if (!ok_) {                                                    \
      deft_free(r_);                                               \
      return false;                                                \
    }                                                              \
    return finish(r_, status);                                     \
  } while (0)

bool deft_comm_broadcast(deft_comm *c, void *data, int64_t bytes, int root, deft_status *status) {
  if (root < 0 || root >= c->size || bytes < 0 || bytes > INT32_MAX) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "broadcast of %lld bytes from rank %d: out of range (%d ranks)",
                    (long long)bytes, root, c->size);
    return false;
  }
  if (!c->mpi || c->size == 1) return true;
  static char dummy[1];
  BLOCKING(c, "broadcast", bytes, status,
           MPI_Ibcast(bytes ? data : dummy, (int)bytes, MPI_BYTE, root, c->comm, req_));
}

bool deft_comm_barrier(deft_comm *c, deft_status *status) {
  if (!c->mpi || c->size == 1) return true;
  BLOCKING(c, "barrier", 0, status, MPI_Ibarrier(c->comm, req_));
}

bool deft_comm_allgather_i64(deft_comm *c, const int64_t *v, int n, int64_t *all,
                             deft_status *status) {
  if (n < 0) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "allgather of %d values", n);
    return false;
  }
  if (!c->mpi || c->size == 1) {
    if (n) memmove(all, v, sizeof *v * (size_t)n);
    return true;
  }
  static int64_t dummy[1];
  BLOCKING(c, "allgather", 8 * (int64_t)n, status,
           MPI_Iallgather(n ? v : dummy, n, MPI_INT64_T, n ? all : dummy, n, MPI_INT64_T, c->comm,
                          req_));
}

#else /* no MPI: the one-process communicator only */

bool deft_mpi_available(void) { return false; }

bool deft_mpi_init(int *argc, char ***argv, deft_status *status) {
  deft_status_set(status, DEFT_UNIMPLEMENTED,
                  "deft_mpi_init: this deft was built without MPI (CMake option DEFT_MPI)");
  return false;
}

void deft_mpi_finalize(void) {}
void deft_mpi_abort(int code) {}

deft_comm *deft_comm_from_mpi(const void *mpi_comm, deft_status *status) {
  deft_status_set(status, DEFT_UNIMPLEMENTED,
                  "deft_comm: this deft was built without MPI (CMake option DEFT_MPI)");
  return NULL;
}

deft_comm *deft_comm_world(deft_status *status) { return deft_comm_from_mpi(NULL, status); }

void deft_comm_free(deft_comm *c) {
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  deft_free(c);
}

static bool check_reducible(deft_dtype dtype, bool average, deft_status *status) {
  if (!is_supported(dtype) || (average && dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "allreduce%s of dtype %s is not supported",
                    average ? " (average)" : "", deft_dtype_name(dtype));
    return false;
  }
  return true;
}

bool deft_comm_allreduce(deft_comm *c, void *data, int64_t count, deft_dtype dtype, bool average,
                         deft_status *status) {
  return check_reducible(dtype, average, status);
}

deft_comm_request *deft_comm_iallreduce(deft_comm *c, void *data, int64_t count, deft_dtype dtype,
                                        deft_status *status) {
  if (!check_reducible(dtype, false, status)) return NULL;
  return request_new(c, "allreduce", count * (int64_t)deft_dtype_size(dtype), status);
}

deft_comm_request *deft_comm_iallgatherv(deft_comm *c, const void *send, int64_t bytes, void *recv,
                                         const int64_t *all_bytes, deft_status *status) {
  if (bytes < 0 || bytes > INT32_MAX || all_bytes[0] != bytes) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "allgather of %lld bytes: out of range",
                    (long long)bytes);
    return NULL;
  }
  if (bytes && recv != send) memmove(recv, send, (size_t)bytes);
  return request_new(c, "allgather", bytes, status);
}

int deft_comm_request_test(deft_comm_request *r, bool wait, deft_status *status) {
  if (!r) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "deft_comm_request_test: NULL request");
    return -1;
  }
  return 1;
}

void deft_comm_request_free(deft_comm_request *r) { deft_free(r); }

bool deft_comm_broadcast(deft_comm *c, void *data, int64_t bytes, int root, deft_status *status) {
  if (root != 0) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "broadcast from rank %d of 1", root);
    return false;
  }
  return true;
}

bool deft_comm_barrier(deft_comm *c, deft_status *status) { return true; }

bool deft_comm_allgather_i64(deft_comm *c, const int64_t *v, int n, int64_t *all,
                             deft_status *status) {
  if (n < 0) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "allgather of %d values", n);
    return false;
  }
  if (n) memmove(all, v, sizeof *v * (size_t)n);
  return true;
}

#endif

static bool allgather_i64(deft_comm *c, int64_t v, int64_t *all, deft_status *status) {
  return deft_comm_allgather_i64(c, &v, 1, all, status);
}

/* ---- the variable broadcast ---- */

/* The graph's variables: GLOBAL_VARIABLES, or every variable op. *out owned by the caller. */
static int list_variables(deft_graph *g, deft_op ***out) {
  int n = deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, NULL, 0, NULL);
  deft_op **v = NULL;
  if (n > 0) {
    deft_output *items = deft_malloc(sizeof *items * (size_t)n);
    v = deft_malloc(sizeof *v * (size_t)n);
    if (!items || !v) {
      deft_free(items);
      deft_free(v);
      return -1;
    }
    deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, items, n, NULL);
    for (int i = 0; i < n; i++) v[i] = items[i].op;
    deft_free(items);
  } else {
    int nops = deft_graph_num_ops(g);
    v = deft_malloc(sizeof *v * (size_t)(nops ? nops : 1));
    if (!v) return -1;
    n = 0;
    for (int i = 0; i < nops; i++) {
      deft_op *op = deft_graph_op_at(g, i);
      const char *t = deft_op_type(op);
      if (!strcmp(t, "VariableV2") || !strcmp(t, "Variable")) v[n++] = op;
    }
  }
  *out = v;
  return n;
}

/* "name dtype [dims]" of variable op v. */
static void describe(const deft_op *v, char *buf, size_t size) {
  deft_dtype dt = DEFT_INVALID_DTYPE;
  deft_shape sh = deft_shape_unknown();
  deft_op_attr_type(v, "dtype", &dt);
  deft_op_attr_shape(v, "shape", &sh);
  char sb[128];
  snprintf(buf, size, "%s %s %s", deft_op_name(v), deft_dtype_name(dt),
           deft_shape_format(sh, sb, sizeof sb));
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

/* Checks that every rank has root's variables; on a difference names the first one and the
 * ranks. */
static bool check_same_variables(deft_comm *c, deft_op **vars, int n, int root,
                                 deft_status *status) {
  int size = c->size;
  int64_t *all = deft_malloc(sizeof *all * (size_t)size);
  if (!all) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "broadcast_variables: out of memory");
    return false;
  }
  bool ok = allgather_i64(c, n, all, status);
  int64_t nroot = ok ? all[root] : 0;
  /* Per position i < nroot: root's hash is broadcast, each rank reports whether it matches. The
   * first mismatching position of every rank is gathered. */
  int64_t first_bad = -1;
  char desc[400];
  for (int64_t i = 0; ok && i < nroot; i++) {
    uint64_t h = 0;
    if (i < n) {
      describe(vars[i], desc, sizeof desc);
      h = fnv1a(desc);
    }
    uint64_t hr = h;
    ok = deft_comm_broadcast(c, &hr, sizeof hr, root, status);
    if (ok && first_bad < 0 && (i >= n || hr != h)) first_bad = i;
  }
  if (ok && first_bad < 0 && n > nroot) first_bad = nroot;
  if (ok) ok = allgather_i64(c, first_bad, all, status);
  if (!ok) {
    deft_free(all);
    return false;
  }
  int64_t pos = -1;
  for (int r = 0; r < size; r++)
    if (all[r] >= 0 && (pos < 0 || all[r] < pos)) pos = all[r];
  if (pos < 0) {
    deft_free(all);
    return true;
  }
  /* Name root's variable at pos (broadcast its description) and the ranks that differ there. */
  char rootdesc[400] = "";
  if (c->rank == root && pos < n) describe(vars[pos], rootdesc, sizeof rootdesc);
  if (!deft_comm_broadcast(c, rootdesc, sizeof rootdesc, root, status)) {
    deft_free(all);
    return false;
  }
  rootdesc[sizeof rootdesc - 1] = '\0';
  char ranks[256] = "";
  size_t used = 0;
  for (int r = 0; r < size && used + 16 < sizeof ranks; r++)
    if (all[r] == pos)
      used += (size_t)snprintf(ranks + used, sizeof ranks - used, "%s%d", used ? ", " : "", r);
  char mine[400] = "none";
  if (pos < n) describe(vars[pos], mine, sizeof mine);
  if (rootdesc[0])
    deft_status_set(status, DEFT_FAILED_PRECONDITION,
                    "broadcast_variables: variable %lld differs across ranks: rank %d has '%s', "
                    "rank(s) %s differ (this rank %d has '%s'); every rank must build the same "
                    "graph", (long long)pos, root, rootdesc, ranks, c->rank, mine);
  else
    deft_status_set(status, DEFT_FAILED_PRECONDITION,
                    "broadcast_variables: rank %d has %lld variables, rank(s) %s have more "
                    "(this rank %d has '%s' at %lld); every rank must build the same graph",
                    root, (long long)nroot, ranks, c->rank, mine, (long long)pos);
  deft_free(all);
  return false;
}

bool deft_comm_broadcast_variables(deft_comm *c, deft_session *s, int root, deft_status *status) {
  if (root < 0 || root >= c->size) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "broadcast_variables: root %d is not a rank (%d ranks)", root, c->size);
    return false;
  }
  deft_op **vars = NULL;
  int n = list_variables(deft_session_graph(s), &vars);
  if (n < 0) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "broadcast_variables: out of memory");
    return false;
  }
  bool ok = check_same_variables(c, vars, n, root, status);
  for (int i = 0; ok && i < n; i++) {
    deft_dtype dt = DEFT_INVALID_DTYPE;
    deft_shape sh = deft_shape_unknown();
    deft_op_attr_type(vars[i], "dtype", &dt);
    deft_op_attr_shape(vars[i], "shape", &sh);
    /* Root says whether it has the value and its dims (a variable may have validate_shape=false). */
    int64_t head[2 + DEFT_MAX_RANK] = {0};
    deft_tensor *v = NULL;
    if (c->rank == root) {
      v = deft_session_variable_initialized(s, vars[i])
              ? deft_session_variable_value(s, vars[i], status)
              : NULL;
      if (v && v->dtype != DEFT_STRING) {
        head[0] = 1 + v->rank;
        for (int k = 0; k < v->rank; k++) head[2 + k] = v->dims[k];
      }
      head[1] = v ? (int64_t)v->dtype : 0;
    }
    ok = deft_comm_broadcast(c, head, sizeof head, root, status);
    if (ok && head[0] == 0) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      head[1] == DEFT_STRING
                          ? "broadcast_variables: variable '%s' is a string variable (not "
                            "supported)"
                          : "broadcast_variables: variable '%s' is not initialized on rank %d",
                      deft_op_name(vars[i]), root);
      ok = false;
    }
    if (ok && c->rank != root) {
      int rank = (int)head[0] - 1;
      if (rank < 0 || rank > DEFT_MAX_RANK || head[1] != (int64_t)dt) {
        deft_status_set(status, DEFT_INTERNAL, "broadcast_variables: bad header for '%s'",
                        deft_op_name(vars[i]));
        ok = false;
      } else {
        v = deft_tensor_new(dt, head + 2, rank, status);
        ok = v != NULL;
      }
    }
    if (ok)
      ok = deft_comm_broadcast(c, v->n ? v->buf->data : NULL,
                               v->n * (int64_t)deft_dtype_size(v->dtype), root, status);
    if (ok && c->rank != root) ok = deft_session_set_variable(s, vars[i], v, status);
    deft_tensor_free(v);
    (void)sh;
  }
  deft_free(vars);
  return ok;
}
