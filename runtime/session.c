/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/session.c - sessions: variables, the plan cache and deft_session_run (see
 * include/deft/session.h). Planning and execution live in runtime/executor.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cblas.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deft/ops.h"
#include "base/alloc.h"
#include "runtime/session_internal.h"

deft_session_options *deft_session_options_new(void) {
  return deft_calloc(1, sizeof(deft_session_options));
}

static void options_clear(deft_session_options *o) {
  for (int i = 0; i < o->ndirs; i++) deft_free(o->dirs[i]);
  deft_free(o->dirs);
  o->dirs = NULL;
  o->ndirs = 0;
}

void deft_session_options_free(deft_session_options *o) {
  if (!o) return;
  options_clear(o);
  deft_free(o);
}

void deft_session_options_set_run_memory_budget(deft_session_options *o, uint64_t bytes) {
  o->run_memory_budget = bytes;
}

void deft_session_options_set_max_run_seconds(deft_session_options *o, double seconds) {
  o->max_run_seconds = seconds > 0 ? seconds : 0;
}

void deft_session_options_set_plan_fusion(deft_session_options *o, bool on) {
  o->no_fusion = !on;
}

static bool add_dir(deft_session_options *o, char *resolved) {
  char **nd = deft_realloc(o->dirs, sizeof *nd * (size_t)(o->ndirs + 1));
  if (!nd) {
    deft_free(resolved);
    return false;
  }
  o->dirs = nd;
  o->dirs[o->ndirs++] = resolved;
  return true;
}

bool deft_session_options_allow_dir(deft_session_options *o, const char *dir) {
  char buf[PATH_MAX];
  struct stat sb;
  if (!dir || !realpath(dir, buf) || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) return false;
  char *r = deft_strdup(buf);
  return r && add_dir(o, r);
}

/* Copies src into dst (dst zeroed). */
static bool options_copy(deft_session_options *dst, const deft_session_options *src) {
  *dst = *src;
  dst->dirs = NULL;
  dst->ndirs = 0;
  for (int i = 0; i < src->ndirs; i++) {
    char *d = deft_strdup(src->dirs[i]);
    if (!d || !add_dir(dst, d)) {
      options_clear(dst);
      return false;
    }
  }
  return true;
}

deft_session *deft_session_new_with_options(deft_graph *g, const deft_session_options *o,
                                            deft_status *status) {
  deft_session *s = deft_session_new(g, status);
  if (!s || !o) return s;
  if (!options_copy(&s->opts, o)) {
    deft_session_free(s);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory creating a session");
    return NULL;
  }
  return s;
}

void deft_session_cancel(deft_session *s) { atomic_store(&s->cancel, true); }

void deft_session_set_io_hooks(deft_session *s, const deft_io_hooks *io) { s->io = io; }

const deft_io_hooks *deft_session_io_hooks(const deft_session *s) { return s->io; }

deft_session *deft_session_new(deft_graph *g, deft_status *status) {
  if (!deft_graph_ok(g)) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "the graph has a build error: %s",
                    deft_status_message(deft_graph_status(g)));
    return NULL;
  }
  deft_session *s = deft_calloc(1, sizeof *s);
  if (!s) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory creating a session");
    return NULL;
  }
  s->graph = g;
  s->device = deft_device_cpu();
  atomic_init(&s->cancel, false);
  s->threads = 1;
  pthread_mutex_init(&s->mu, NULL);
  atomic_init(&s->last, NULL);
  /* See deft_session_set_threads in session.h: once, here, never per run. */
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  return s;
}

deft_session *deft_session_new_with_pool(deft_graph *g, deft_threadpool *pool,
                                         deft_status *status) {
  if (!pool) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "deft_session_new_with_pool: pool is NULL");
    return NULL;
  }
  deft_session *s = deft_session_new(g, status);
  if (!s) return NULL;
  s->pool = pool;
  s->threads = deft_threadpool_threads(pool);
  return s;
}

void deft_session_free(deft_session *s) {
  if (!s) return;
  for (size_t i = 0; i < s->plans.cap; i++)
    for (deft_plan *p = s->plans.slots[i].key ? s->plans.slots[i].value.ptr : NULL, *t; p; p = t) {
      t = p->twin;
      deft_plan_free(p);
    }
  deft_strmap_free(&s->plans);
  for (int i = 0; i < s->nvars_cap; i++) {
    if (s->vars[i]) {
      deft_tensor_reset(&s->vars[i]->value);
      deft_free(s->vars[i]);
    }
    deft_free(s->rngs[i]);
  }
  deft_free(s->vars);
  deft_free(s->rngs);
  options_clear(&s->opts);
  if (s->own_pool) deft_threadpool_free(s->pool);
  pthread_mutex_destroy(&s->mu);
  deft_free(s);
}

void deft_session_set_threads(deft_session *s, int n) {
  s->threads = n < 1 ? 1 : n;
  s->pool_error = DEFT_OK;
  if (s->pool && !s->own_pool) return; /* a given pool: it caps the split */
  if (s->pool && deft_threadpool_threads(s->pool) == s->threads) return;
  deft_threadpool_free(s->pool);
  s->pool = NULL;
  s->own_pool = false;
  if (s->threads == 1) return;
  deft_status *st = deft_status_new();
  s->pool = deft_threadpool_new(s->threads > DEFT_THREADPOOL_MAX_THREADS
                                    ? DEFT_THREADPOOL_MAX_THREADS : s->threads, st);
  if (s->pool) {
    s->own_pool = true;
  } else {
    s->pool_error = st ? deft_status_code(st) : DEFT_RESOURCE_EXHAUSTED;
    s->pool_error_threads = s->threads;
  }
  deft_status_free(st);
}

deft_threadpool *deft_session_threadpool(const deft_session *s) { return s->pool; }

deft_graph *deft_session_graph(const deft_session *s) { return s->graph; }

static bool ensure_cap(deft_session *s, int id) {
  if (id < s->nvars_cap) return true;
  int ncap = s->nvars_cap ? s->nvars_cap : 64;
  while (ncap <= id) ncap *= 2;
  deft_var **nv = deft_realloc(s->vars, (size_t)ncap * sizeof *nv);
  if (!nv) return false;
  s->vars = nv;
  deft_rng_state **nr = deft_realloc(s->rngs, (size_t)ncap * sizeof *nr);
  if (!nr) return false;
  s->rngs = nr;
  for (int i = s->nvars_cap; i < ncap; i++) s->vars[i] = NULL, s->rngs[i] = NULL;
  s->nvars_cap = ncap;
  return true;
}

deft_var *deft_session_var(deft_session *s, const deft_op *op) {
  deft_var *v = NULL;
  pthread_mutex_lock(&s->mu);
  if (ensure_cap(s, op->id)) {
    if (!s->vars[op->id]) {
      s->vars[op->id] = deft_calloc(1, sizeof(deft_var));
      deft_var *nv = s->vars[op->id];
      if (nv) {
        nv->op = op;
        if (!deft_op_attr_shape(op, "shape", &nv->shape)) nv->shape = deft_shape_unknown();
        if (!deft_op_attr_type(op, "dtype", &nv->dtype)) nv->dtype = (deft_dtype)op->out_types[0];
      }
    }
    v = s->vars[op->id];
  }
  pthread_mutex_unlock(&s->mu);
  return v;
}

deft_rng_state *deft_session_rng(deft_session *s, const deft_op *op) {
  deft_rng_state *r = NULL;
  pthread_mutex_lock(&s->mu);
  if (ensure_cap(s, op->id)) {
    if (!s->rngs[op->id]) s->rngs[op->id] = deft_calloc(1, sizeof(deft_rng_state));
    r = s->rngs[op->id];
  }
  pthread_mutex_unlock(&s->mu);
  return r;
}

/* The variable storage of var if it exists, else NULL. */
static deft_var *find_var(deft_session *s, const deft_op *var) {
  pthread_mutex_lock(&s->mu);
  deft_var *v = var->id < s->nvars_cap ? s->vars[var->id] : NULL;
  pthread_mutex_unlock(&s->mu);
  return v;
}

static bool check_variable(const deft_op *var, deft_status *status) {
  if (!var || !deft_op_is_variable(var)) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "'%s' is not a variable op",
                    var ? var->name : "(null)");
    return false;
  }
  return true;
}

bool deft_session_variable_initialized(deft_session *s, const deft_op *var) {
  deft_var *v = var ? find_var(s, var) : NULL;
  return v && v->initialized;
}

deft_tensor *deft_session_variable_value(deft_session *s, const deft_op *var,
                                         deft_status *status) {
  if (!check_variable(var, status)) return NULL;
  if (!deft_session_variable_initialized(s, var)) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "variable '%s' is uninitialized",
                    var->name);
    return NULL;
  }
  return deft_tensor_copy(&find_var(s, var)->value, status);
}

bool deft_session_set_variable(deft_session *s, const deft_op *var, const deft_tensor *value,
                               deft_status *status) {
  if (!check_variable(var, status)) return false;
  deft_dtype vt = (deft_dtype)var->out_types[0]; /* VarHandleOp's output is a resource */
  deft_op_attr_type(var, "dtype", &vt);
  if (value->dtype != vt) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "variable '%s' has dtype %s, but the value is %s", var->name,
                    deft_dtype_name(vt), deft_dtype_name(value->dtype));
    return false;
  }
  deft_shape want;
  if (deft_op_attr_shape(var, "shape", &want) && want.rank >= 0) {
    bool ok = want.rank == value->rank;
    for (int i = 0; ok && i < want.rank; i++)
      ok = want.dims[i] < 0 || want.dims[i] == value->dims[i];
    if (!ok) {
      char a[128], b[128];
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "variable '%s' has shape %s, but the value has shape %s", var->name,
                      deft_shape_format(want, a, sizeof a),
                      deft_shape_format(deft_tensor_shape(value), b, sizeof b));
      return false;
    }
  }
  deft_var *v = deft_session_var(s, var);
  deft_tensor copy = {0};
  deft_tensor_set_shared(&copy, value);
  if (!v || !deft_tensor_make_unique(&copy, status)) {
    deft_tensor_reset(&copy);
    if (!v) deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  deft_tensor_reset(&v->value);
  v->value = copy;
  v->initialized = true;
  return true;
}

/* Runs plan, which the caller has claimed (busy), and gives it back. */
static bool run_plan(deft_session *s, deft_plan *plan, const deft_tensor *const *feed_values,
                     deft_tensor **fetch_values, deft_status *status) {
  bool ok = deft_plan_run(s, plan, feed_values, fetch_values, status);
  atomic_store_explicit(&plan->busy, false, memory_order_release);
  return ok;
}

static bool claim(deft_plan *p) {
  return !atomic_exchange_explicit(&p->busy, true, memory_order_acquire);
}

/* The cache key: the signature's op ids and indices, in the order given. */
static char *signature_key(const deft_output *feeds, int nfeeds, const deft_output *fetches,
                           int nfetches, deft_op *const *targets, int ntargets, size_t *len) {
  size_t cap = 32 + 24 * (size_t)(nfeeds + nfetches + ntargets);
  char *k = deft_malloc(cap);
  if (!k) return NULL;
  size_t n = 0;
  for (int i = 0; i < nfeeds; i++)
    n += (size_t)snprintf(k + n, cap - n, "f%d:%d,", feeds[i].op ? feeds[i].op->id : -1,
                          feeds[i].index);
  for (int i = 0; i < nfetches; i++)
    n += (size_t)snprintf(k + n, cap - n, "o%d:%d,", fetches[i].op ? fetches[i].op->id : -1,
                          fetches[i].index);
  for (int i = 0; i < ntargets; i++)
    n += (size_t)snprintf(k + n, cap - n, "t%d,", targets[i] ? targets[i]->id : -1);
  *len = n;
  return k;
}

static bool outputs_equal(const deft_output *a, const deft_output *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i].op != b[i].op || a[i].index != b[i].index) return false;
  return true;
}

/* True iff plan p was built for exactly this signature (same order). */
static bool same_signature(const deft_plan *p, const deft_output *feeds, int nfeeds,
                           const deft_output *fetches, int nfetches, deft_op *const *targets,
                           int ntargets) {
  if (p->nfeeds != nfeeds || p->nfetches != nfetches || p->ntargets != ntargets) return false;
  for (int i = 0; i < ntargets; i++)
    if (p->targets[i] != targets[i]) return false;
  return outputs_equal(p->feeds, feeds, nfeeds) && outputs_equal(p->fetches, fetches, nfetches);
}

/* The dtype of feeds[i] if it is a valid output of g fed a tensor v it converts: int32 fed an
 * int64 tensor (TF converts NumPy's default integers when every value fits), quint8 fed uint8
 * and qint32 fed int32 (NumPy has no quantized types: their storage is taken as is). Else 0. */
static deft_dtype feed_conversion(const deft_graph *g, deft_output f, const deft_tensor *v) {
  if (!v || !f.op || f.op->graph != g || f.index < 0 || f.index >= f.op->noutputs) return 0;
  deft_dtype want = f.op->out_types[f.index];
  if ((want == DEFT_INT32 && v->dtype == DEFT_INT64) ||
      (want == DEFT_QUINT8 && v->dtype == DEFT_UINT8) ||
      (want == DEFT_QINT32 && v->dtype == DEFT_INT32))
    return want;
  return 0;
}

/* A tensor sharing v's storage with dtype `to` (uint8 -> quint8, int32 -> qint32). */
static deft_tensor *retag_feed(const deft_tensor *v, deft_dtype to, deft_status *status) {
  deft_tensor *t = deft_tensor_share(v);
  if (!t) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory converting feeds");
    return NULL;
  }
  t->dtype = to;
  return t;
}

/* A new int32 copy of int64 tensor v fed to f, or NULL with status set (a value out of int32's
 * range is named, with how to convert). */
static deft_tensor *narrow_feed(deft_output f, const deft_tensor *v, deft_status *status) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, v->dims, v->rank, status);
  if (!t) return NULL;
  const int64_t *src = deft_tensor_data(v);
  int32_t *dst = deft_tensor_data(t);
  int64_t n = deft_tensor_num_elements(v);
  for (int64_t i = 0; i < n; i++) {
    if (src[i] < INT32_MIN || src[i] > INT32_MAX) {
      char name[512];
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "cannot feed int64 data to '%s', which has dtype int32: element %" PRId64
                      " (%" PRId64 ") does not fit in int32; feed an int32 tensor (convert the "
                      "data yourself, or give the placeholder dtype int64)",
                      deft_output_format(f, name, sizeof name), i, src[i]);
      deft_tensor_free(t);
      return NULL;
    }
    dst[i] = (int32_t)src[i];
  }
  return t;
}

static bool session_run(deft_session *s, const deft_output *feeds,
                        const deft_tensor *const *feed_values, int nfeeds,
                        const deft_output *fetches, deft_tensor **fetch_values, int nfetches,
                        deft_op *const *targets, int ntargets, deft_status *status);

bool deft_session_run(deft_session *s, const deft_output *feeds,
                      const deft_tensor *const *feed_values, int nfeeds,
                      const deft_output *fetches, deft_tensor **fetch_values, int nfetches,
                      deft_op *const *targets, int ntargets, deft_status *status) {
  int nconv = 0;
  for (int i = 0; i < nfeeds; i++)
    nconv += feed_conversion(s->graph, feeds[i], feed_values[i]) != 0;
  if (!nconv)
    return session_run(s, feeds, feed_values, nfeeds, fetches, fetch_values, nfetches, targets,
                       ntargets, status);
  for (int i = 0; i < nfetches; i++) fetch_values[i] = NULL;
  const deft_tensor **vals = deft_calloc((size_t)nfeeds, sizeof *vals);
  deft_tensor **owned = deft_calloc((size_t)nfeeds, sizeof *owned);
  bool ok = vals && owned;
  if (!ok) deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory converting feeds");
  for (int i = 0; ok && i < nfeeds; i++) {
    vals[i] = feed_values[i];
    deft_dtype to = feed_conversion(s->graph, feeds[i], feed_values[i]);
    if (to) {
      owned[i] = to == DEFT_INT32 ? narrow_feed(feeds[i], feed_values[i], status)
                                  : retag_feed(feed_values[i], to, status);
      vals[i] = owned[i];
      ok = owned[i] != NULL;
    }
  }
  if (ok)
    ok = session_run(s, feeds, vals, nfeeds, fetches, fetch_values, nfetches, targets, ntargets,
                     status);
  for (int i = 0; owned && i < nfeeds; i++) deft_tensor_free(owned[i]);
  deft_free(owned);
  deft_free(vals);
  return ok;
}

static bool session_run(deft_session *s, const deft_output *feeds,
                        const deft_tensor *const *feed_values, int nfeeds,
                        const deft_output *fetches, deft_tensor **fetch_values, int nfetches,
                        deft_op *const *targets, int ntargets, deft_status *status) {
  for (int i = 0; i < nfetches; i++) fetch_values[i] = NULL;
  if (s->pool_error != DEFT_OK) {
    deft_status_set(status, s->pool_error, "cannot start the session's %d threads",
                    s->pool_error_threads);
    return false;
  }
  if (!deft_graph_check_ok(s->graph, status)) return false;
  deft_plan *last = atomic_load_explicit(&s->last, memory_order_acquire);
  if (last && same_signature(last, feeds, nfeeds, fetches, nfetches, targets, ntargets) &&
      claim(last))
    return run_plan(s, last, feed_values, fetch_values, status);
  size_t klen;
  char *key = signature_key(feeds, nfeeds, fetches, nfetches, targets, ntargets, &klen);
  if (!key) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
    return false;
  }
  deft_plan *plan = NULL;
  pthread_mutex_lock(&s->mu);
  deft_strmap_entry *e = deft_strmap_find(&s->plans, key, klen);
  for (deft_plan *p = e ? e->value.ptr : NULL; p && !plan; p = p->twin)
    if (claim(p)) plan = p;
  pthread_mutex_unlock(&s->mu);
  if (!plan) { /* none yet, or all in use by runs in other threads */
    plan = deft_plan_build(s, feeds, nfeeds, fetches, nfetches, targets, ntargets, status);
    if (!plan) {
      deft_free(key);
      return false;
    }
    atomic_store(&plan->busy, true);
    pthread_mutex_lock(&s->mu);
    e = deft_strmap_find(&s->plans, key, klen);
    if (e) {
      deft_plan *p = e->value.ptr;
      while (p->twin) p = p->twin;
      p->twin = plan;
    } else if ((e = deft_strmap_insert(&s->plans, key, klen, NULL)) != NULL) {
      e->value.ptr = plan;
    } else {
      pthread_mutex_unlock(&s->mu);
      deft_plan_free(plan);
      deft_free(key);
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory caching a plan");
      return false;
    }
    pthread_mutex_unlock(&s->mu);
  }
  deft_free(key);
  atomic_store_explicit(&s->last, plan, memory_order_release);
  return run_plan(s, plan, feed_values, fetch_values, status);
}
