/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/executor.c - running a plan, and the kernel context.
 *
 * Running walks the plan's steps in order (runtime/plan.c builds them). Deadness (TF1 control
 * flow) propagates: an op with a dead input or a dead control input does not run and its outputs
 * are dead; a Merge runs when any input is alive. Kernels reach their inputs, outputs and
 * variables only through the kernel context defined at the end of this file. */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/thread_pool.h"
#include "base/alloc.h"
#include "ops/kernel.h"
#include "runtime/session_internal.h"

/* ---- running ---- */

#ifdef DEFT_EXEC_PROFILE
/* Development aid (off unless built with -DDEFT_EXEC_PROFILE): time per step, kept in the plan
 * (deft_step.prof_t / prof_n, so concurrent runs share nothing) and dumped to stderr when the
 * plan is freed (with its session). */
#include <time.h>
static double deft_prof_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int prof_cmp(const void *a, const void *b) {
  double x = (*(const deft_step *const *)a)->prof_t, y = (*(const deft_step *const *)b)->prof_t;
  return x < y ? 1 : x > y ? -1 : 0;
}
void deft_plan_prof_dump(deft_plan *p) {
  deft_step **order = malloc(sizeof *order * (size_t)(p->nsteps + 1));
  if (!order || !p->steps) {
    free(order);
    return;
  }
  double tot = 0;
  int n = 0;
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i].prof_n) tot += p->steps[i].prof_t, order[n++] = &p->steps[i];
  if (n) {
    qsort(order, (size_t)n, sizeof *order, prof_cmp);
    fprintf(stderr, "PROFILE plan of %d steps: total %.4f s\n", p->nsteps, tot);
    for (int i = 0; i < n; i++)
      fprintf(stderr, "%9.3f ms %6.2f%% %7ld %-22s %s\n", order[i]->prof_t * 1e3,
              100 * order[i]->prof_t / tot, order[i]->prof_n, order[i]->op->type,
              order[i]->op->name);
  }
  free(order);
}
#endif

/* ---- the plan's buffer pool ----
 * A slot gives its buffer up after its last reader (forwarded or not); when no one else holds
 * the buffer it goes to the pool, and outputs take the smallest pooled buffer that fits before
 * allocating. Intermediates whose lifetimes do not overlap thus share storage, and once the
 * pool has seen a run's pattern, runs allocate nothing. */

/* The size class of a capacity: four classes per power of two (class 4k + q holds capacities in
 * [2^k (1 + q/4), 2^k (1 + (q+1)/4)) for k >= 2; tiny capacities get a class each). */
static int pool_class_of(size_t c) {
  if (c < 4) return (int)c;
  int k = 63 - __builtin_clzll((unsigned long long)c);
  return 4 * k + (int)((c >> (k - 2)) & 3);
}

/* The smallest capacity of class cl. */
static size_t pool_class_min(int cl) {
  if (cl < 8) return cl < 4 ? (size_t)cl : 4; /* classes 4..7 stay empty */
  return ((size_t)(4 + (cl & 3))) << (cl / 4 - 2);
}

static void pool_put(deft_plan *p, deft_buffer *b) {
  if (!b) return;
  if (!deft_buffer_exclusive(b) || b->nstrings) {
    deft_buffer_unref(b);
    return;
  }
  if (!p->pool_class) p->pool_class = deft_calloc(DEFT_POOL_CLASSES, sizeof *p->pool_class);
  if (!p->pool_class) {
    deft_buffer_unref(b);
    return;
  }
  deft_pool_class *pc = &p->pool_class[pool_class_of(b->capacity)];
  if (pc->n == pc->cap) {
    int ncap = pc->cap ? 2 * pc->cap : 4;
    deft_buffer **nv = deft_realloc(pc->v, sizeof *nv * (size_t)ncap);
    if (!nv) {
      deft_buffer_unref(b);
      return;
    }
    pc->v = nv;
    pc->cap = ncap;
  }
  pc->v[pc->n++] = b;
  p->npool++;
}

/* A pooled buffer of at least nbytes and not wastefully larger (at most 2 nbytes + 4096), or
 * NULL. Looks at a few buffers on top of nbytes' own class (which may hold smaller ones), then
 * at the classes above, whose buffers all fit; O(1). */
static deft_buffer *pool_take(deft_plan *p, size_t nbytes) {
  if (!p->pool_class) return NULL;
  int cl = pool_class_of(nbytes);
  deft_pool_class *pc = &p->pool_class[cl];
  for (int i = pc->n - 1; i >= 0 && i >= pc->n - 8; i--) {
    if (pc->v[i]->capacity < nbytes) continue;
    deft_buffer *b = pc->v[i];
    pc->v[i] = pc->v[--pc->n];
    p->npool--;
    return b;
  }
  for (int c = cl + 1; c < DEFT_POOL_CLASSES && c <= cl + 8; c++) {
    if (pool_class_min(c) > 2 * nbytes + 4096) break;
    pc = &p->pool_class[c];
    for (int i = pc->n - 1; i >= 0 && i >= pc->n - 8; i--) {
      if (pc->v[i]->capacity > 2 * nbytes + 4096) continue;
      deft_buffer *b = pc->v[i];
      pc->v[i] = pc->v[--pc->n];
      p->npool--;
      return b;
    }
  }
  return NULL;
}

/* The slot lets go of its buffer (to the pool when it held the last reference). */
static void slot_drop(deft_plan *p, deft_slot *sl) {
  pool_put(p, sl->value.buf);
  sl->value.buf = NULL;
  sl->alias = false;
}

/* After a slot's last use: fed values stay until the end of the run (the caller's tensors). */
static void release_slot(deft_plan *p, deft_slot *sl) {
  if (!sl->fed) slot_drop(p, sl);
  sl->ref = NULL;
}

static bool check_feed(const deft_output f, const deft_tensor *v, deft_status *status) {
  char name[512], a[128], b[128];
  if (!v) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "the value fed to '%s' is NULL",
                    deft_output_format(f, name, sizeof name));
    return false;
  }
  int want = f.op->out_types[f.index];
  if ((int)v->dtype != want) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "cannot feed a %s tensor to '%s', which has dtype %s",
                    deft_dtype_name(v->dtype), deft_output_format(f, name, sizeof name),
                    deft_dtype_name((deft_dtype)want));
    return false;
  }
  deft_shape s = f.op->out_shapes[f.index];
  bool ok = s.rank < 0 || s.rank == v->rank;
  for (int i = 0; ok && i < s.rank; i++) ok = s.dims[i] < 0 || s.dims[i] == v->dims[i];
  if (!ok) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "cannot feed a tensor of shape %s to '%s', which has shape %s",
                    deft_shape_format(deft_tensor_shape(v), a, sizeof a),
                    deft_output_format(f, name, sizeof name), deft_shape_format(s, b, sizeof b));
    return false;
  }
  return true;
}

static bool ref_arg(const deft_op *op, int input) {
  const deft_op_reg *r = op->reg;
  if (!r) return false;
  int pos = 0;
  for (int i = 0; i < r->ninputs; i++) {
    const deft_arg_def *a = &r->inputs[i];
    int c = 1;
    if (a->number_attr) {
      int64_t v = 1;
      deft_op_attr_int(op, a->number_attr, &v);
      c = (int)v;
    } else if (a->type_list_attr) {
      const deft_dtype *t;
      deft_op_attr_type_list(op, a->type_list_attr, &t, &c);
    }
    if (input < pos + c) return a->is_ref;
    pos += c;
  }
  return false;
}

/* ---- run limits: cancellation, the run time limit, the memory budget ---- */

static void run_limits_start(deft_session *s, deft_plan *p) {
  p->run_allocated = 0;
  if (s->opts.max_run_seconds > 0) {
    clock_gettime(CLOCK_MONOTONIC, &p->run_deadline);
    double whole = (double)(int64_t)s->opts.max_run_seconds;
    p->run_deadline.tv_sec += (time_t)whole;
    p->run_deadline.tv_nsec += (long)((s->opts.max_run_seconds - whole) * 1e9);
    if (p->run_deadline.tv_nsec >= 1000000000L) {
      p->run_deadline.tv_sec++;
      p->run_deadline.tv_nsec -= 1000000000L;
    }
  }
}

/* Before each op: false with CANCELLED / DEADLINE_EXCEEDED naming op when the run must stop. */
static bool run_limits_ok(deft_session *s, const deft_plan *p, const deft_op *op,
                          deft_status *status) {
  if (atomic_load_explicit(&s->cancel, memory_order_relaxed) && atomic_exchange(&s->cancel, false)) {
    deft_status_set(status, DEFT_CANCELLED, "the run was cancelled (before %s '%s')", op->type,
                    op->name);
    return false;
  }
  if (s->opts.max_run_seconds > 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > p->run_deadline.tv_sec ||
        (now.tv_sec == p->run_deadline.tv_sec && now.tv_nsec >= p->run_deadline.tv_nsec)) {
      deft_status_set(status, DEFT_DEADLINE_EXCEEDED,
                      "the run exceeded its time limit of %g s (before %s '%s')",
                      s->opts.max_run_seconds, op->type, op->name);
      return false;
    }
  }
  return true;
}

/* A new buffer of nbytes for output i of c's op (i < 0: its scratch memory): within the run's
 * memory budget? */
static bool run_budget_take(deft_kernel_ctx *c, int i, size_t nbytes) {
  deft_session *s = c->session;
  deft_plan *p = c->plan;
  uint64_t budget = s->opts.run_memory_budget;
  if (!budget) return true;
  if (nbytes > budget - (p->run_allocated < budget ? p->run_allocated : budget)) {
    char what[32];
    snprintf(what, sizeof what, i < 0 ? "its scratch memory" : "output %d", i);
    deft_status_set(c->status, DEFT_RESOURCE_EXHAUSTED,
                    "%s '%s': %s needs %zu bytes, which would cross the session's run "
                    "memory budget of %" PRIu64 " bytes (%" PRIu64 " already allocated by this "
                    "run)", c->op->type, c->op->name, what, nbytes, budget, p->run_allocated);
    c->failed = true;
    return false;
  }
  p->run_allocated += nbytes;
  return true;
}

/* One run's executor state. */
typedef struct exec_state {
  deft_session *s;
  deft_plan *p;
  deft_status *status;
  deft_status *scratch; /* async_progress's (plans with async steps only) */
  deft_kernel_ctx ctx;
} exec_state;

/* Adds where a failing step was, when it is inside a while loop: "(in while loop 'F',
 * iteration N)". */
static void note_frame(exec_state *ex, const deft_step *st) {
  if (!st->frame || deft_status_ok(ex->status)) return;
  const deft_frame_def *fd = &ex->p->frames[st->frame - 1];
  char msg[1536];
  snprintf(msg, sizeof msg, "%s", deft_status_message(ex->status));
  deft_status_set(ex->status, deft_status_code(ex->status),
                  "%s (in while loop '%s', iteration %" PRId64 ")", msg, fd->name, fd->iter);
}

/* ---- asynchronous kernels (ops/kernel.h, runtime/EXECUTOR.md) ---- */

/* Ends async step a's work record: release, and the step has nothing in flight. */
static void async_drop(deft_plan *p, deft_step *a) {
  a->async_ops->release(a->async_obj);
  a->async_obj = NULL;
  a->async_ops = NULL;
  p->npending--;
}

/* Finishes async step a's work (blocking); false with the status set when it failed. */
static bool async_wait(exec_state *ex, deft_step *a) {
  if (!a->async_obj) return true;
  deft_async_state r = a->async_ops->poll(a->async_obj, true, ex->status);
  async_drop(ex->p, a);
  return r == DEFT_ASYNC_DONE;
}

/* Between steps: a non-blocking poll of the works in flight, in plan order, up to the first one
 * still pending (MPI progresses every request inside any of its calls, so one test per step
 * boundary keeps them all moving; the later ones are polled once the earlier finish). A failure
 * is reported by the step that waits for it. */
static void async_progress(exec_state *ex) {
  deft_plan *p = ex->p;
  for (int i = 0; i < p->nasync; i++) {
    deft_step *a = &p->steps[p->async_steps[i]];
    if (!a->async_obj) continue;
    deft_async_state r = a->async_ops->poll(a->async_obj, false, ex->scratch);
    if (r != DEFT_ASYNC_DONE) {
      deft_status_clear(ex->scratch); /* failed: the waiting step polls again and reports */
      break;
    }
    async_drop(p, a);
  }
}

/* At the end of a run: with ok, waits for every work still in flight (the first failure fails
 * the run); otherwise releases each, which finishes or cancels it. */
static bool async_finish(exec_state *ex, bool ok) {
  deft_plan *p = ex->p;
  for (int i = 0; i < p->nasync; i++) {
    deft_step *a = &p->steps[p->async_steps[i]];
    if (!a->async_obj) continue;
    if (ok)
      ok = async_wait(ex, a);
    else
      async_drop(p, a);
  }
  return ok;
}

/* Runs step si once (in the current iteration of its frame). */
static bool exec_step(exec_state *ex, int si) {
  deft_plan *p = ex->p;
  deft_step *st = &p->steps[si];
  deft_op *op = st->op;
  bool ok = true;
  if (st->frame && p->frames[st->frame - 1].iter > 0) {
    /* After iteration 0 an Enter has nothing to bring in: a constant one keeps its value for
     * every iteration, any other is dead (its Merge takes the NextIteration's value). */
    if (st->kind == DEFT_STEP_ENTER_CONST) return true;
    if (st->kind == DEFT_STEP_ENTER) {
      p->run_any_dead = true;
      p->step_dead[si] = true;
      for (int k = 0; k < op->noutputs; k++) p->slots[st->out_base + k].dead = true;
      goto next;
    }
  }
  if (p->run_any_dead) {
    bool is_merge = op->reg && (op->reg->def->flags & DEFT_OP_IS_MERGE);
    bool dead = false, any_alive = false;
    for (int k = 0; k < op->ninputs; k++) {
      bool d = p->slots[st->in_slots[k]].dead;
      dead |= d;
      any_alive |= !d;
    }
    bool ctrl_dead = false;
    for (int k = 0; k < st->nctrl; k++) ctrl_dead |= p->step_dead[st->ctrl_steps[k]];
    dead |= ctrl_dead;
    if (is_merge) dead = ctrl_dead || !any_alive;
    if (st->kind == DEFT_STEP_TRIGGER) dead = false;
    p->step_dead[si] = dead;
    if (dead) {
      for (int k = 0; k < op->noutputs; k++) p->slots[st->out_base + k].dead = true;
      goto next;
    }
  }
  for (int k = 0; k < op->noutputs; k++) {
    deft_slot *o = &p->slots[st->out_base + k];
    o->dead = false;
    o->produced = false;
  }
  /* Variables read through a ref must be initialized unless the op allows otherwise. */
  bool allows = op->reg && (op->reg->def->flags & DEFT_OP_ALLOWS_UNINIT);
  for (int k = 0; k < op->ninputs; k++) {
    deft_slot *in = &p->slots[st->in_slots[k]];
    if (in->ref && !in->ref->initialized && !(allows && ref_arg(op, k)) && !in->dead) {
      deft_status_set(ex->status, DEFT_FAILED_PRECONDITION,
                      "attempting to use uninitialized value %s (input %d of '%s', %s); run "
                      "the variables' initializer first",
                      in->ref->op->name, k, op->name, op->type);
      note_frame(ex, st);
      return false;
    }
  }
  if (st->elided) goto next;
  if (!run_limits_ok(ex->s, p, op, ex->status)) {
    note_frame(ex, st);
    return false;
  }
  for (int k = 0; k < st->nwait; k++)
    if (!async_wait(ex, &p->steps[st->wait_steps[k]])) {
      note_frame(ex, st);
      return false;
    }
  ex->ctx.op = op;
  ex->ctx.step = st;
  ex->ctx.failed = false;
#ifdef DEFT_EXEC_PROFILE
  double t0_ = deft_prof_now();
#endif
  st->compute(&ex->ctx);
#ifdef DEFT_EXEC_PROFILE
  st->prof_t += deft_prof_now() - t0_;
  st->prof_n++;
#endif
  if (ex->ctx.failed) {
    note_frame(ex, st);
    return false;
  }
  for (int k = 0; k < op->noutputs; k++) {
    deft_slot *o = &p->slots[st->out_base + k];
    if (!o->produced && !o->dead) {
      deft_status_set(ex->status, DEFT_INTERNAL, "%s '%s' produced no value for output %d",
                      op->type, op->name, k);
      ok = false;
    }
  }
next:
  for (int k = 0; k < st->nrelease; k++) release_slot(p, &p->slots[st->release[k]]);
  return ok;
}

static bool run_range(exec_state *ex, int begin, int end, int frame);

/* Runs while loop f: its range once per iteration, as long as one of its NextIterations
 * produced a live value. */
static bool run_loop(exec_state *ex, int f) {
  deft_plan *p = ex->p;
  deft_frame_def *fd = &p->frames[f - 1];
  fd->iter = 0;
  if (fd->nnext) p->run_any_dead = true;
  for (int k = 0; k < fd->nnext; k++) p->slots[p->steps[fd->next_steps[k]].out_base].dead = true;
  for (;;) {
    if (!run_range(ex, fd->begin, fd->end, f)) return false;
    bool more = false;
    for (int k = 0; k < fd->nnext && !more; k++)
      more = !p->slots[p->steps[fd->next_steps[k]].out_base].dead;
    if (!more) break;
    fd->iter++;
  }
  for (int k = 0; k < fd->nrelease; k++) release_slot(p, &p->slots[fd->release[k]]);
  fd->iter = 0;
  return true;
}

static bool run_range(exec_state *ex, int begin, int end, int frame) {
  const deft_step *steps = ex->p->steps;
  for (int si = begin; si < end;) {
    int bf = steps[si].begins_frame;
    if (bf && bf != frame) {
      if (!run_loop(ex, bf)) return false;
      si = ex->p->frames[bf - 1].end;
      continue;
    }
    if (ex->p->npending) async_progress(ex);
    if (!exec_step(ex, si)) return false;
    si++;
  }
  return true;
}

/* Destroys the run's TensorArrays and stacks (TF's per-step resources). */
static void drop_resources(deft_plan *p) {
  for (int i = 0; i < p->nresources; i++)
    if (p->resources[i].destroy) p->resources[i].destroy(p->resources[i].obj);
  p->nresources = 0;
}

bool deft_plan_run(deft_session *s, deft_plan *p, const deft_tensor *const *feed_values,
                   deft_tensor **fetch_values, deft_status *status) {
  run_limits_start(s, p);
  p->run_id++; /* memos of earlier runs no longer match (deft_kernel_memo_find) */
  for (int i = 0; i < p->nslots; i++) {
    p->slots[i].dead = false;
    p->slots[i].produced = false;
    p->slots[i].ref = NULL;
  }
  for (int i = 0; i < p->nfeeds; i++) {
    if (!check_feed(p->feeds[i], feed_values[i], status)) {
      for (int k = 0; k < i; k++) deft_tensor_reset(&p->slots[p->feed_slots[k]].value);
      return false;
    }
    deft_slot *sl = &p->slots[p->feed_slots[i]];
    deft_tensor_set_shared(&sl->value, feed_values[i]);
    sl->produced = true;
  }
  for (int i = 0; i < p->nsteps; i++) p->step_dead[i] = false;
  p->run_any_dead = false;
  for (int f = 0; f < p->nframes; f++) p->frames[f].iter = 0;
  exec_state ex;
  memset(&ex, 0, sizeof ex);
  ex.s = s;
  ex.p = p;
  ex.status = status;
  ex.ctx.session = s;
  ex.ctx.plan = p;
  ex.ctx.status = status;
  if (p->nasync && !(ex.scratch = deft_status_new())) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory starting a run");
    for (int i = 0; i < p->nfeeds; i++) deft_tensor_reset(&p->slots[p->feed_slots[i]].value);
    return false;
  }
  bool ok = run_range(&ex, 0, p->nsteps, 0);
  if (p->nasync) {
    ok = async_finish(&ex, ok);
    deft_status_free(ex.scratch);
  }
  if (ok) {
    for (int i = 0; i < p->nfetches; i++) {
      deft_slot *sl = &p->slots[p->fetch_slots[i]];
      if (sl->dead) {
        char name[512];
        deft_status_set(status, DEFT_INVALID_ARGUMENT,
                        "fetch %d ('%s') was not computed: it lies on an untaken branch of a "
                        "Switch/Merge (the value is dead)", i,
                        deft_output_format(p->fetches[i], name, sizeof name));
        ok = false;
        break;
      }
      const deft_tensor *v = sl->ref ? &sl->ref->value : &sl->value;
      if (sl->ref && !sl->ref->initialized) {
        deft_status_set(status, DEFT_FAILED_PRECONDITION,
                        "attempting to use uninitialized value %s (fetch %d)", sl->ref->op->name,
                        i);
        ok = false;
        break;
      }
      fetch_values[i] = deft_tensor_share(v);
      if (!fetch_values[i]) {
        deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory returning fetches");
        ok = false;
        break;
      }
    }
    if (!ok)
      for (int i = 0; i < p->nfetches; i++) {
        deft_tensor_free(fetch_values[i]);
        fetch_values[i] = NULL;
      }
  }
  /* Drop every forwarded buffer; slots that still own one (fetched values, steps after a
   * failure) keep it for the next run. */
  for (int i = 0; i < p->nslots; i++) {
    deft_slot *sl = &p->slots[i];
    if (sl->alias) slot_drop(p, sl);
    sl->ref = NULL;
  }
  for (int i = 0; i < p->nfeeds; i++) deft_tensor_reset(&p->slots[p->feed_slots[i]].value);
  drop_resources(p);
  return ok;
}

/* ---- per-run resources ---- */

int64_t deft_kernel_resource_add(deft_kernel_ctx *c, void *obj, void (*destroy)(void *obj)) {
  deft_plan *p = c->plan;
  if (p->nresources == p->resources_cap) {
    int ncap = p->resources_cap ? 2 * p->resources_cap : 8;
    deft_run_resource *nr = deft_realloc(p->resources, sizeof *nr * (size_t)ncap);
    if (!nr) {
      destroy(obj);
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return 0;
    }
    p->resources = nr;
    p->resources_cap = ncap;
  }
  p->resources[p->nresources].obj = obj;
  p->resources[p->nresources].destroy = destroy;
  return ++p->nresources;
}

void *deft_kernel_resource_get(deft_kernel_ctx *c, int i, void (*destroy)(void *obj)) {
  const deft_tensor *h = deft_kernel_input(c, i);
  deft_plan *p = c->plan;
  int64_t id = h->dtype == DEFT_INT64 && h->n == 1 && h->buf ? deft_tensor_i64(h)[0] : 0;
  if (id < 1 || id > p->nresources || p->resources[id - 1].destroy != destroy) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d is not a handle this op can use", i);
    return NULL;
  }
  return p->resources[id - 1].obj;
}

/* ---- the kernel context ---- */

int deft_kernel_num_inputs(const deft_kernel_ctx *c) { return c->op->ninputs; }
int deft_kernel_num_outputs(const deft_kernel_ctx *c) { return c->op->noutputs; }

const deft_tensor *deft_kernel_input(deft_kernel_ctx *c, int i) {
  assert(i >= 0 && i < c->op->ninputs);
  deft_slot *sl = &c->plan->slots[c->step->in_slots[i]];
  return sl->ref ? &sl->ref->value : &sl->value;
}

deft_var *deft_kernel_ref_input(deft_kernel_ctx *c, int i) {
  assert(i >= 0 && i < c->op->ninputs);
  return c->plan->slots[c->step->in_slots[i]].ref;
}

bool deft_kernel_input_is_variable(const deft_kernel_ctx *c, int i) {
  return i >= 0 && i < 64 && (c->step->var_inputs >> i & 1u);
}

const char *deft_kernel_input_name(const deft_kernel_ctx *c, int i) {
  return deft_op_input_arg_name(c->op, i);
}

const void *deft_kernel_params(const deft_kernel_ctx *c) { return c->step->params; }

deft_dtype deft_kernel_output_dtype(const deft_kernel_ctx *c, int i) {
  assert(i >= 0 && i < c->op->noutputs);
  return (deft_dtype)c->op->out_types[i];
}

bool deft_kernel_input_dead(const deft_kernel_ctx *c, int i) {
  assert(i >= 0 && i < c->op->ninputs);
  return c->plan->slots[c->step->in_slots[i]].dead;
}

deft_tensor *deft_kernel_output(deft_kernel_ctx *c, int i, deft_dtype dtype, const int64_t *dims,
                                int rank) {
  assert(i >= 0 && i < c->op->noutputs && rank >= 0 && rank <= DEFT_MAX_RANK);
  deft_plan *p = c->plan;
  deft_slot *sl = &p->slots[c->step->out_base + i];
  if (sl->alias) slot_drop(p, sl);
  sl->ref = NULL;
  int64_t n;
  size_t nbytes;
  bool sized = deft_tensor_check_shape(dtype, dims, rank, &n, &nbytes, NULL);
  if (dtype != DEFT_STRING && sized) {
    deft_buffer *b = sl->value.buf;
    if (!(b && deft_buffer_exclusive(b) && b->capacity >= nbytes && !b->nstrings)) {
      b = pool_take(p, nbytes);
      if (b) {
        slot_drop(p, sl);
        sl->value.buf = b;
      }
    }
    if (b) { /* the steady state: the slot's own buffer, or one from the pool, fits */
      deft_tensor_set_layout(&sl->value, dtype, dims, rank, n);
      deft_buffer_touch(b);
      sl->produced = true;
      return &sl->value;
    }
  }
  /* A new buffer (or a string tensor, or a shape deft_tensor_ensure will refuse). */
  if (sized && c->session->opts.run_memory_budget && !run_budget_take(c, i, nbytes)) return NULL;
  if (!deft_tensor_ensure(&sl->value, dtype, dims, rank, c->status)) {
    deft_status_prefix(c->status, "%s '%s': output %d", c->op->type, c->op->name, i);
    c->failed = true;
    return NULL;
  }
  sl->produced = true;
  return &sl->value;
}

void deft_kernel_forward(deft_kernel_ctx *c, int out, const deft_tensor *src) {
  assert(out >= 0 && out < c->op->noutputs && src);
  deft_slot *sl = &c->plan->slots[c->step->out_base + out];
  if (sl->value.buf != src->buf) slot_drop(c->plan, sl);
  deft_tensor_set_shared(&sl->value, src);
  sl->alias = true;
  sl->ref = NULL;
  sl->produced = true;
}

void deft_kernel_output_ref(deft_kernel_ctx *c, int out, deft_var *var) {
  assert(out >= 0 && out < c->op->noutputs && var);
  deft_slot *sl = &c->plan->slots[c->step->out_base + out];
  sl->ref = var;
  sl->produced = true;
}

void deft_kernel_output_dead(deft_kernel_ctx *c, int out) {
  assert(out >= 0 && out < c->op->noutputs);
  c->plan->run_any_dead = true;
  c->plan->slots[c->step->out_base + out].dead = true;
}

deft_var *deft_kernel_variable(deft_kernel_ctx *c) {
  deft_var *v = deft_session_var(c->session, c->op);
  if (!v) deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory creating variable storage");
  return v;
}

deft_rng_state *deft_kernel_rng(deft_kernel_ctx *c) {
  deft_rng_state *r = deft_session_rng(c->session, c->op);
  if (!r) deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory creating RNG state");
  return r;
}

int deft_kernel_threads(const deft_kernel_ctx *c) { return c->session->threads; }

deft_threadpool *deft_kernel_threadpool(const deft_kernel_ctx *c) { return c->session->pool; }

uint64_t *deft_kernel_state(deft_kernel_ctx *c) { return c->step->state; }

void *deft_kernel_scratch(deft_kernel_ctx *c, size_t bytes) {
  deft_step *st = c->step;
  if (st->scratch && st->scratch_size >= bytes) return st->scratch;
  if (!run_budget_take(c, -1, bytes)) return NULL;
  void *p = deft_aligned_alloc(bytes ? bytes : 1);
  if (!p) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating %zu bytes of scratch",
                     bytes);
    return NULL;
  }
  deft_aligned_free(st->scratch);
  st->scratch = p;
  st->scratch_size = bytes;
  return p;
}

void *deft_kernel_shared_scratch(deft_kernel_ctx *c, size_t bytes) {
  deft_plan *p = c->plan;
  if (p->shared_scratch && p->shared_scratch_size >= bytes) return p->shared_scratch;
  if (!run_budget_take(c, -1, bytes)) return NULL;
  void *m = deft_aligned_alloc(bytes ? bytes : 1);
  if (!m) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED,
                     "out of memory allocating %zu bytes of shared scratch", bytes);
    return NULL;
  }
  deft_aligned_free(p->shared_scratch);
  p->shared_scratch = m;
  p->shared_scratch_size = bytes;
  return m;
}

/* Memos live in the plan (one run uses a plan at a time); an entry matches only in the run that
 * stored it (run_id starts at 0 and a run bumps it first, so a zeroed entry never matches). */
void *deft_kernel_memo_find(deft_kernel_ctx *c, uint64_t k0, uint64_t k1) {
  deft_plan *p = c->plan;
  for (int i = 0; i < DEFT_PLAN_MEMOS; i++) {
    struct deft_memo *m = &p->memos[i];
    if (m->run == p->run_id && m->k0 == k0 && m->k1 == k1) return m->mem;
  }
  return NULL;
}

void *deft_kernel_memo_new(deft_kernel_ctx *c, uint64_t k0, uint64_t k1, size_t bytes) {
  deft_plan *p = c->plan;
  struct deft_memo *m = NULL;
  /* The same key (stored again), else an entry of an earlier run (a large enough one first, so
   * that a run repeating the last one's pattern takes the same blocks and allocates nothing),
   * else the entries of this run in turn. */
  for (int i = 0; i < DEFT_PLAN_MEMOS && !m; i++) {
    struct deft_memo *e = &p->memos[i];
    if (e->run == p->run_id && e->k0 == k0 && e->k1 == k1) m = e;
  }
  for (int pass = 0; pass < 2 && !m; pass++)
    for (int i = 0; i < DEFT_PLAN_MEMOS && !m; i++) {
      struct deft_memo *e = &p->memos[i];
      if (e->run != p->run_id && (pass || e->cap >= bytes)) m = e;
    }
  if (!m) m = &p->memos[p->memo_next++ % DEFT_PLAN_MEMOS];
  m->run = 0; /* untagged until it holds the memory */
  if (!m->mem || m->cap < bytes) {
    if (!run_budget_take(c, -1, bytes)) return NULL;
    void *mem = deft_aligned_alloc(bytes ? bytes : 1);
    if (!mem) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating a %zu-byte memo",
                       bytes);
      return NULL;
    }
    deft_aligned_free(m->mem);
    m->mem = mem;
    m->cap = bytes;
  }
  m->run = p->run_id;
  m->k0 = k0;
  m->k1 = k1;
  return m->mem;
}

void deft_plan_memos_free(deft_plan *p) {
  for (int i = 0; i < DEFT_PLAN_MEMOS; i++) {
    deft_aligned_free(p->memos[i].mem);
    p->memos[i] = (struct deft_memo){0};
  }
}

void deft_kernel_async(deft_kernel_ctx *c, void *obj, const deft_async_ops *ops) {
  deft_step *st = c->step;
  if (!(c->op->reg->def->flags & DEFT_OP_ASYNC) || st->async_obj) {
    ops->release(obj);
    deft_kernel_fail(c, DEFT_INTERNAL, "asynchronous work from a kernel that may not start it");
    return;
  }
  st->async_obj = obj;
  st->async_ops = ops;
  c->plan->npending++;
}

void deft_kernel_fail(deft_kernel_ctx *c, deft_code code, const char *fmt, ...) {
  if (c->failed) return;
  c->failed = true;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  deft_status_set(c->status, code, "%s '%s': %s", c->op->type, c->op->name, msg);
}

bool deft_kernel_failed(const deft_kernel_ctx *c) { return c->failed; }

/* ---- file access of kernels ---- */

const deft_io_hooks *deft_kernel_io(const deft_kernel_ctx *c) { return c->session->io; }

bool deft_kernel_check_path(deft_kernel_ctx *c, const char *path) {
  const deft_session *s = c->session;
  if (!s->opts.ndirs || deft_path_within(path, s->opts.dirs, s->opts.ndirs)) return true;
  deft_kernel_fail(c, DEFT_PERMISSION_DENIED,
                   "'%s' is outside the directories this session lets the graph's file ops "
                   "use (the first is '%s'; see deft_session_options_allow_dir)", path,
                   s->opts.dirs[0]);
  return false;
}
