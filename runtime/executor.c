/* runtime/executor.c - plans and their execution.
 *
 * A plan is built once per (feeds, fetches, targets) signature: prune to the ops the fetches and
 * targets need (stopping at fed tensors), order them topologically (data and control edges),
 * check every op has a kernel (naming all that do not, at once), and assign a slot to every
 * tensor. Running walks the steps in order. Deadness (TF1 control flow) propagates: an op with a
 * dead input or a dead control input does not run and its outputs are dead; a Merge runs when any
 * input is alive. Kernels reach their inputs, outputs and variables only through the kernel
 * context defined at the end of this file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/thread_pool.h"
#include "base/alloc.h"
#include "runtime/session_internal.h"

#ifdef DEFT_EXEC_PROFILE
static void prof_dump(deft_plan *p);
#endif

void deft_plan_free(deft_plan *p) {
  if (!p) return;
#ifdef DEFT_EXEC_PROFILE
  prof_dump(p);
#endif
  for (int i = 0; p->steps && i < p->nsteps; i++) {
    deft_free(p->steps[i].in_slots);
    deft_free(p->steps[i].ctrl_steps);
    deft_free(p->steps[i].release);
    deft_aligned_free(p->steps[i].scratch);
  }
  for (int i = 0; p->slots && i < p->nslots; i++) deft_tensor_reset(&p->slots[i].value);
  for (int i = 0; i < p->npool; i++) deft_buffer_unref(p->pool[i]);
  deft_free(p->pool);
  deft_free(p->steps);
  deft_free(p->step_dead);
  deft_free(p->slots);
  deft_free(p->feed_slots);
  deft_free(p->feeds);
  deft_free(p->fetches);
  deft_free(p->fetch_slots);
  deft_free(p->targets);
  deft_free(p->tail_release);
  deft_free(p);
}

/* Working state while planning. */
typedef struct {
  deft_graph *g;
  int nops;
  bool *need;      /* by op id */
  int *fed_slot;   /* by op id * ... : first fed-slot lookup is a linear scan over feeds */
  int *step_of;    /* by op id, -1 if not a step */
  int *slot_base;  /* by op id */
  const deft_output *feeds;
  int nfeeds;
} planner;

static int fed_index(const planner *pl, deft_output o) {
  for (int i = 0; i < pl->nfeeds; i++)
    if (pl->feeds[i].op == o.op && pl->feeds[i].index == o.index) return i;
  return -1;
}

/* True iff some output of op is fed: TF replaces a fed node, so control edges from it do not
 * make it run. */
static bool op_fed(const planner *pl, const deft_op *op) {
  for (int i = 0; i < pl->nfeeds; i++)
    if (pl->feeds[i].op == op) return true;
  return false;
}

static bool oom(deft_status *status) {
  deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
  return false;
}

static bool mark_needed(planner *pl, deft_op *const *roots, int nroots, deft_status *status) {
  deft_op **stack = deft_malloc(sizeof *stack * (size_t)(pl->nops + 1));
  if (!stack) return oom(status);
  int sp = 0;
  for (int i = 0; i < nroots; i++) stack[sp++] = roots[i];
  /* Each op is pushed at most once: it is marked when pushed. */
  for (int i = 0; i < sp; i++) pl->need[stack[i]->id] = true;
  while (sp) {
    deft_op *op = stack[--sp];
    for (int i = 0; i < op->ninputs; i++) {
      deft_output in = op->inputs[i];
      if (fed_index(pl, in) >= 0 || pl->need[in.op->id]) continue;
      pl->need[in.op->id] = true;
      stack[sp++] = in.op;
    }
    for (int i = 0; i < op->nctrl; i++) {
      deft_op *c = op->ctrl[i];
      if (pl->need[c->id] || op_fed(pl, c)) continue;
      pl->need[c->id] = true;
      stack[sp++] = c;
    }
  }
  deft_free(stack);
  return true;
}

static bool check_kernels(planner *pl, deft_status *status) {
  char msg[2048];
  size_t n = 0;
  int missing = 0;
  for (int i = 0; i < pl->nops; i++) {
    if (!pl->need[i]) continue;
    deft_op *op = pl->g->ops[i];
    if (op->reg && op->reg->def->kernel) continue;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) {
      deft_op *o = pl->g->ops[j];
      seen = pl->need[j] && !(o->reg && o->reg->def->kernel) && !strcmp(o->type, op->type);
    }
    if (seen) continue;
    if (n < sizeof msg)
      n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s (e.g. node '%s')", missing ? ", " : "",
                            op->type, op->name);
    missing++;
  }
  if (missing) {
    deft_status_set(status, DEFT_UNIMPLEMENTED,
                    "the run needs %d op type%s deft cannot run: %s", missing,
                    missing == 1 ? "" : "s", msg);
    return false;
  }
  return true;
}

static bool check_placeholders(planner *pl, deft_status *status) {
  for (int i = 0; i < pl->nops; i++) {
    deft_op *op = pl->g->ops[i];
    if (!pl->need[i] || strcmp(op->type, "Placeholder") != 0) continue;
    char sh[128];
    deft_shape_format(op->out_shapes[0], sh, sizeof sh);
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "you must feed a value for placeholder '%s' (dtype %s, shape %s)", op->name,
                    deft_dtype_name((deft_dtype)op->out_types[0]), sh);
    return false;
  }
  return true;
}

/* Kahn's algorithm over the needed ops; edges come from unfed data inputs and control inputs. */
static deft_op **topo_order(planner *pl, int *count, deft_status *status) {
  int n = 0;
  for (int i = 0; i < pl->nops; i++) n += pl->need[i];
  int *indeg = deft_calloc((size_t)pl->nops + 1, sizeof(int));
  deft_op **order = deft_malloc(sizeof *order * (size_t)(n + 1));
  /* consumer lists in CSR form */
  int *cstart = deft_calloc((size_t)pl->nops + 2, sizeof(int));
  if (!indeg || !order || !cstart) goto fail_oom;
  for (int i = 0; i < pl->nops; i++) {
    if (!pl->need[i]) continue;
    deft_op *op = pl->g->ops[i];
    for (int k = 0; k < op->ninputs; k++)
      if (fed_index(pl, op->inputs[k]) < 0) cstart[op->inputs[k].op->id + 1]++, indeg[i]++;
    for (int k = 0; k < op->nctrl; k++)
      if (pl->need[op->ctrl[k]->id]) cstart[op->ctrl[k]->id + 1]++, indeg[i]++;
  }
  for (int i = 0; i < pl->nops; i++) cstart[i + 1] += cstart[i];
  int *cons = deft_malloc(sizeof(int) * (size_t)(cstart[pl->nops] + 1));
  int *fill = deft_calloc((size_t)pl->nops + 1, sizeof(int));
  if (!cons || !fill) {
    deft_free(cons);
    deft_free(fill);
    goto fail_oom;
  }
  for (int i = 0; i < pl->nops; i++) {
    if (!pl->need[i]) continue;
    deft_op *op = pl->g->ops[i];
    for (int k = 0; k < op->ninputs; k++)
      if (fed_index(pl, op->inputs[k]) < 0) {
        int p = op->inputs[k].op->id;
        cons[cstart[p] + fill[p]++] = i;
      }
    for (int k = 0; k < op->nctrl; k++) {
      int p = op->ctrl[k]->id;
      if (pl->need[p]) cons[cstart[p] + fill[p]++] = i;
    }
  }
  int head = 0, tail = 0;
  for (int i = 0; i < pl->nops; i++)
    if (pl->need[i] && indeg[i] == 0) order[tail++] = pl->g->ops[i];
  while (head < tail) {
    deft_op *op = order[head++];
    for (int k = cstart[op->id]; k < cstart[op->id + 1]; k++)
      if (--indeg[cons[k]] == 0) order[tail++] = pl->g->ops[cons[k]];
  }
  deft_free(cons);
  deft_free(fill);
  if (tail != n) {
    const char *name = "?";
    for (int i = 0; i < pl->nops; i++)
      if (pl->need[i] && indeg[i] > 0) {
        name = pl->g->ops[i]->name;
        break;
      }
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "the graph has a cycle: op '%s' (and %d other op%s) can never run", name,
                    n - tail - 1, n - tail - 1 == 1 ? "" : "s");
    deft_free(order);
    order = NULL;
  }
  deft_free(indeg);
  deft_free(cstart);
  *count = n;
  return order;
fail_oom:
  deft_free(indeg);
  deft_free(order);
  deft_free(cstart);
  oom(status);
  return NULL;
}

/* True iff skipping op changes nothing but the work done, provided no one reads its outputs:
 * it has a kernel, is stateless, takes and makes no refs, has outputs, and is not control flow
 * (Switch decides deadness in its kernel; Merge runs on any live input). */
static bool elidable(const deft_op *op) {
  if (!op->reg || !op->reg->def->kernel || op->noutputs == 0) return false;
  if (op->reg->def->flags & (DEFT_OP_STATEFUL | DEFT_OP_IS_MERGE | DEFT_OP_SOURCE_VARIABLE))
    return false;
  if (!strcmp(op->type, "Switch") || !strcmp(op->type, "RefSwitch")) return false;
  for (int k = 0; k < op->noutputs; k++)
    if (op->out_ref[k]) return false;
  for (int k = 0; k < op->ninputs; k++)
    if (op->inputs[k].op->out_ref[op->inputs[k].index]) return false;
  return true;
}

static int slot_of(const planner *pl, const deft_plan *p, deft_output o) {
  int f = fed_index(pl, o);
  if (f >= 0) return p->feed_slots[f];
  return pl->slot_base[o.op->id] + o.index;
}

static deft_plan *plan_build(deft_session *s, const deft_output *feeds, int nfeeds,
                             const deft_output *fetches, int nfetches, deft_op *const *targets,
                             int ntargets, deft_status *status);

/* Planning walks the graph's op table under the graph's lock: another thread may be adding
 * ops (include/deft/graph.h). */
deft_plan *deft_plan_build(deft_session *s, const deft_output *feeds, int nfeeds,
                           const deft_output *fetches, int nfetches, deft_op *const *targets,
                           int ntargets, deft_status *status) {
  pthread_mutex_lock(&s->graph->mu);
  deft_plan *p = plan_build(s, feeds, nfeeds, fetches, nfetches, targets, ntargets, status);
  pthread_mutex_unlock(&s->graph->mu);
  return p;
}

static deft_plan *plan_build(deft_session *s, const deft_output *feeds, int nfeeds,
                             const deft_output *fetches, int nfetches, deft_op *const *targets,
                             int ntargets, deft_status *status) {
  deft_graph *g = s->graph;
  char name[512];
  for (int i = 0; i < nfeeds; i++)
    if (!feeds[i].op || feeds[i].op->graph != g || feeds[i].index < 0 ||
        feeds[i].index >= feeds[i].op->noutputs) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "feed %d ('%s') is not a tensor of this graph",
                      i, deft_output_format(feeds[i], name, sizeof name));
      return NULL;
    }
  for (int i = 0; i < nfetches; i++)
    if (!fetches[i].op || fetches[i].op->graph != g || fetches[i].index < 0 ||
        fetches[i].index >= fetches[i].op->noutputs) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "fetch %d ('%s') is not a tensor of this graph", i,
                      deft_output_format(fetches[i], name, sizeof name));
      return NULL;
    }
  for (int i = 0; i < ntargets; i++)
    if (!targets[i] || targets[i]->graph != g) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "target %d is not an op of this graph", i);
      return NULL;
    }
  planner pl = {g, g->nops, NULL, NULL, NULL, NULL, feeds, nfeeds};
  deft_plan *p = deft_calloc(1, sizeof *p);
  pl.need = deft_calloc((size_t)pl.nops + 1, sizeof(bool));
  pl.step_of = deft_malloc(sizeof(int) * (size_t)(pl.nops + 1));
  pl.slot_base = deft_malloc(sizeof(int) * (size_t)(pl.nops + 1));
  deft_op **roots = deft_malloc(sizeof *roots * (size_t)(nfetches + ntargets + 1));
  deft_op **order = NULL;
  int nroots = 0, n = 0;
  if (!p || !pl.need || !pl.step_of || !pl.slot_base || !roots) {
    oom(status);
    goto fail;
  }
  for (int i = 0; i < nfetches; i++)
    if (fed_index(&pl, fetches[i]) < 0) roots[nroots++] = fetches[i].op;
  for (int i = 0; i < ntargets; i++) roots[nroots++] = targets[i];
  if (!mark_needed(&pl, roots, nroots, status) || !check_kernels(&pl, status) ||
      !check_placeholders(&pl, status))
    goto fail;
  order = topo_order(&pl, &n, status);
  if (!order) goto fail;

  /* Slots: each step's outputs, then one per feed. */
  int nslots = 0;
  for (int i = 0; i < pl.nops; i++) pl.step_of[i] = -1, pl.slot_base[i] = -1;
  for (int i = 0; i < n; i++) {
    pl.step_of[order[i]->id] = i;
    pl.slot_base[order[i]->id] = nslots;
    nslots += order[i]->noutputs;
  }
  p->nfeeds = nfeeds;
  p->feed_slots = deft_malloc(sizeof(int) * (size_t)(nfeeds + 1));
  p->feeds = deft_malloc(sizeof(deft_output) * (size_t)(nfeeds + 1));
  if (!p->feeds) {
    oom(status);
    goto fail;
  }
  if (nfeeds) memcpy(p->feeds, feeds, sizeof(deft_output) * (size_t)nfeeds);
  p->fetches = deft_malloc(sizeof(deft_output) * (size_t)(nfetches + 1));
  if (!p->fetches) {
    oom(status);
    goto fail;
  }
  if (nfetches) memcpy(p->fetches, fetches, sizeof(deft_output) * (size_t)nfetches);
  p->nfetches = nfetches;
  p->fetch_slots = deft_malloc(sizeof(int) * (size_t)(nfetches + 1));
  p->targets = deft_malloc(sizeof(deft_op *) * (size_t)(ntargets + 1));
  if (!p->feed_slots || !p->fetch_slots || !p->targets) {
    oom(status);
    goto fail;
  }
  if (ntargets) memcpy(p->targets, targets, sizeof(deft_op *) * (size_t)ntargets);
  p->ntargets = ntargets;
  for (int i = 0; i < nfeeds; i++) {
    int dup = -1;
    for (int j = 0; j < i; j++)
      if (feeds[j].op == feeds[i].op && feeds[j].index == feeds[i].index) dup = j;
    if (dup >= 0) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "tensor '%s' is fed twice",
                      deft_output_format(feeds[i], name, sizeof name));
      goto fail;
    }
    p->feed_slots[i] = nslots++;
  }
  p->nslots = nslots;
  p->slots = deft_calloc((size_t)nslots + 1, sizeof(deft_slot));
  for (int i = 0; p->slots && i < nfeeds; i++) p->slots[p->feed_slots[i]].fed = true;
  p->nsteps = n;
  p->steps = deft_calloc((size_t)n + 1, sizeof(deft_step));
  p->step_dead = deft_calloc((size_t)n + 1, sizeof(bool));
  int *last_use = deft_malloc(sizeof(int) * (size_t)(nslots + 1));
  if (!p->slots || !p->steps || !p->step_dead || !last_use) {
    deft_free(last_use);
    oom(status);
    goto fail;
  }
  for (int i = 0; i < nslots; i++) last_use[i] = -1;
  for (int i = 0; i < nfetches; i++) p->fetch_slots[i] = slot_of(&pl, p, fetches[i]);
  for (int i = 0; i < n; i++) {
    deft_step *st = &p->steps[i];
    deft_op *op = order[i];
    st->op = op;
    st->out_base = pl.slot_base[op->id];
    st->in_slots = deft_malloc(sizeof(int) * (size_t)(op->ninputs + 1));
    st->ctrl_steps = deft_malloc(sizeof(int) * (size_t)(op->nctrl + 1));
    if (!st->in_slots || !st->ctrl_steps) {
      deft_free(last_use);
      oom(status);
      goto fail;
    }
    for (int k = 0; k < op->ninputs; k++) {
      st->in_slots[k] = slot_of(&pl, p, op->inputs[k]);
    }
    for (int k = 0; k < op->nctrl; k++)
      if (pl.step_of[op->ctrl[k]->id] >= 0) st->ctrl_steps[st->nctrl++] = pl.step_of[op->ctrl[k]->id];
  }
  /* Elision: a pure op (stateless, no refs, not control flow) whose outputs no fetch and no
   * running step reads is needed only through control edges, i.e. for ordering and deadness
   * (TF's gradient tuples group every input gradient, the input layer's dX included). Its kernel
   * is skipped; its deadness still propagates. Decided from the last step back, so every
   * consumer of a step is decided before it. */
  int *uses = deft_calloc((size_t)nslots + 1, sizeof(int));
  if (!uses) {
    deft_free(last_use);
    oom(status);
    goto fail;
  }
  for (int i = 0; i < nfetches; i++) uses[p->fetch_slots[i]]++;
  for (int i = n - 1; i >= 0; i--) {
    deft_step *st = &p->steps[i];
    st->elided = elidable(st->op);
    for (int k = 0; st->elided && k < st->op->noutputs; k++)
      if (uses[st->out_base + k]) st->elided = false;
    if (st->elided) continue;
    for (int k = 0; k < st->op->ninputs; k++) uses[st->in_slots[k]]++;
  }
  deft_free(uses);
  for (int i = 0; i < n; i++)
    if (!p->steps[i].elided)
      for (int k = 0; k < p->steps[i].op->ninputs; k++) last_use[p->steps[i].in_slots[k]] = i;
  /* An output nothing reads is released right after its step: a forwarded reference to a
   * variable (an untaken Switch's other output, say) must not keep the storage shared, or the
   * variable's next in-place update would copy it. */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < p->steps[i].op->noutputs; k++)
      if (last_use[p->steps[i].out_base + k] < 0) last_use[p->steps[i].out_base + k] = i;
  /* Fetched slots live to the end: never released early. */
  for (int i = 0; i < nfetches; i++) last_use[p->fetch_slots[i]] = n;
  /* Release lists: every slot is released after its last use unless it is an owner slot (kept
   * for buffer reuse); whether a slot is an alias is only known at run time, so each step lists
   * all slots whose last use it is and the runner releases the aliased and fed ones. */
  int *counts = deft_calloc((size_t)n + 1, sizeof(int));
  if (!counts) {
    deft_free(last_use);
    oom(status);
    goto fail;
  }
  int tail = 0;
  for (int sl = 0; sl < nslots; sl++) {
    if (last_use[sl] >= 0 && last_use[sl] < n) counts[last_use[sl]]++;
    else tail++;
  }
  for (int i = 0; i < n; i++) {
    p->steps[i].release = deft_malloc(sizeof(int) * (size_t)(counts[i] + 1));
    if (!p->steps[i].release) {
      deft_free(counts);
      deft_free(last_use);
      oom(status);
      goto fail;
    }
  }
  p->tail_release = deft_malloc(sizeof(int) * (size_t)(tail + 1));
  if (!p->tail_release) {
    deft_free(counts);
    deft_free(last_use);
    oom(status);
    goto fail;
  }
  for (int sl = 0; sl < nslots; sl++) {
    if (last_use[sl] >= 0 && last_use[sl] < n) {
      deft_step *st = &p->steps[last_use[sl]];
      st->release[st->nrelease++] = sl;
    } else {
      p->tail_release[p->ntail_release++] = sl;
    }
  }
  deft_free(counts);
  deft_free(last_use);
  deft_free(order);
  deft_free(roots);
  deft_free(pl.need);
  deft_free(pl.step_of);
  deft_free(pl.slot_base);
  return p;
fail:
  deft_free(order);
  deft_free(roots);
  deft_free(pl.need);
  deft_free(pl.step_of);
  deft_free(pl.slot_base);
  deft_plan_free(p);
  return NULL;
}

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
static void prof_dump(deft_plan *p) {
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

static void pool_put(deft_plan *p, deft_buffer *b) {
  if (!b) return;
  if (!deft_buffer_exclusive(b) || b->nstrings) {
    deft_buffer_unref(b);
    return;
  }
  if (p->npool == p->pool_cap) {
    int ncap = p->pool_cap ? 2 * p->pool_cap : 16;
    deft_buffer **np = deft_realloc(p->pool, sizeof *np * (size_t)ncap);
    if (!np) {
      deft_buffer_unref(b);
      return;
    }
    p->pool = np;
    p->pool_cap = ncap;
  }
  int lo = 0, hi = p->npool;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (p->pool[mid]->capacity < b->capacity) lo = mid + 1;
    else hi = mid;
  }
  memmove(p->pool + lo + 1, p->pool + lo, sizeof *p->pool * (size_t)(p->npool - lo));
  p->pool[lo] = b;
  p->npool++;
}

/* The smallest pooled buffer of at least nbytes (and not wastefully larger), or NULL. */
static deft_buffer *pool_take(deft_plan *p, size_t nbytes) {
  int lo = 0, hi = p->npool;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (p->pool[mid]->capacity < nbytes) lo = mid + 1;
    else hi = mid;
  }
  if (lo == p->npool || p->pool[lo]->capacity > 2 * nbytes + 4096) return NULL;
  deft_buffer *b = p->pool[lo];
  memmove(p->pool + lo, p->pool + lo + 1, sizeof *p->pool * (size_t)(p->npool - lo - 1));
  p->npool--;
  return b;
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

bool deft_plan_run(deft_session *s, deft_plan *p, deft_tensor *const *feed_values,
                   deft_tensor **fetch_values, deft_status *status) {
  bool ok = true;
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
  deft_kernel_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.session = s;
  ctx.plan = p;
  ctx.status = status;
  for (int si = 0; ok && si < p->nsteps; si++) {
    deft_step *st = &p->steps[si];
    deft_op *op = st->op;
    bool is_merge = op->reg && (op->reg->def->flags & DEFT_OP_IS_MERGE);
    bool dead = false, any_alive = false;
    for (int k = 0; k < op->ninputs; k++) {
      bool d = p->slots[st->in_slots[k]].dead;
      dead |= d;
      any_alive |= !d;
    }
    for (int k = 0; k < st->nctrl; k++)
      if (st->ctrl_steps[k] >= 0) dead |= p->step_dead[st->ctrl_steps[k]];
    if (is_merge) {
      bool ctrl_dead = false;
      for (int k = 0; k < st->nctrl; k++)
        if (st->ctrl_steps[k] >= 0) ctrl_dead |= p->step_dead[st->ctrl_steps[k]];
      dead = ctrl_dead || !any_alive;
    }
    if (dead) {
      p->step_dead[si] = true;
      for (int k = 0; k < op->noutputs; k++) p->slots[st->out_base + k].dead = true;
    } else {
      /* Variables read through a ref must be initialized unless the op allows otherwise. */
      bool allows = op->reg && (op->reg->def->flags & DEFT_OP_ALLOWS_UNINIT);
      for (int k = 0; ok && k < op->ninputs; k++) {
        deft_slot *in = &p->slots[st->in_slots[k]];
        if (in->ref && !in->ref->initialized && !(allows && ref_arg(op, k)) && !in->dead) {
          deft_status_set(status, DEFT_FAILED_PRECONDITION,
                          "attempting to use uninitialized value %s (input %d of '%s', %s); run "
                          "the variables' initializer first",
                          in->ref->op->name, k, op->name, op->type);
          ok = false;
        }
      }
      if (!ok) break;
      if (st->elided) goto next;
      ctx.op = op;
      ctx.step = st;
      ctx.failed = false;
#ifdef DEFT_EXEC_PROFILE
      double t0_ = deft_prof_now();
#endif
      op->reg->def->kernel(&ctx);
#ifdef DEFT_EXEC_PROFILE
      st->prof_t += deft_prof_now() - t0_;
      st->prof_n++;
#endif
      if (ctx.failed) {
        ok = false;
        break;
      }
      for (int k = 0; k < op->noutputs; k++) {
        deft_slot *o = &p->slots[st->out_base + k];
        if (!o->produced && !o->dead) {
          deft_status_set(status, DEFT_INTERNAL, "%s '%s' produced no value for output %d",
                          op->type, op->name, k);
          ok = false;
        }
      }
    }
  next:
    for (int k = 0; k < st->nrelease; k++) release_slot(p, &p->slots[st->release[k]]);
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
  return ok;
}

/* ---- the kernel context ---- */

int deft_kernel_num_inputs(const deft_kernel_ctx *c) { return c->op->ninputs; }
int deft_kernel_num_outputs(const deft_kernel_ctx *c) { return c->op->noutputs; }
const deft_op *deft_kernel_op(const deft_kernel_ctx *c) { return c->op; }

const deft_tensor *deft_kernel_input(deft_kernel_ctx *c, int i) {
  deft_slot *sl = &c->plan->slots[c->step->in_slots[i]];
  return sl->ref ? &sl->ref->value : &sl->value;
}

deft_var *deft_kernel_ref_input(deft_kernel_ctx *c, int i) {
  return c->plan->slots[c->step->in_slots[i]].ref;
}

bool deft_kernel_input_dead(const deft_kernel_ctx *c, int i) {
  return c->plan->slots[c->step->in_slots[i]].dead;
}

deft_tensor *deft_kernel_output(deft_kernel_ctx *c, int i, deft_dtype dtype, const int64_t *dims,
                                int rank) {
  deft_plan *p = c->plan;
  deft_slot *sl = &p->slots[c->step->out_base + i];
  if (sl->alias) slot_drop(p, sl);
  sl->ref = NULL;
  int64_t n;
  size_t nbytes;
  if (dtype != DEFT_STRING && deft_tensor_check_shape(dtype, dims, rank, &n, &nbytes, NULL)) {
    deft_buffer *b = sl->value.buf;
    if (!(b && deft_buffer_exclusive(b) && b->capacity >= nbytes && !b->nstrings)) {
      deft_buffer *nb = pool_take(p, nbytes);
      if (nb) {
        slot_drop(p, sl);
        sl->value.buf = nb;
      }
    }
  }
  if (!deft_tensor_ensure(&sl->value, dtype, dims, rank, c->status)) {
    deft_status_prefix(c->status, "%s '%s': output %d", c->op->type, c->op->name, i);
    c->failed = true;
    return NULL;
  }
  sl->produced = true;
  return &sl->value;
}

void deft_kernel_forward(deft_kernel_ctx *c, int out, const deft_tensor *src) {
  deft_slot *sl = &c->plan->slots[c->step->out_base + out];
  if (sl->value.buf != src->buf) slot_drop(c->plan, sl);
  deft_tensor_set_shared(&sl->value, src);
  sl->alias = true;
  sl->ref = NULL;
  sl->produced = true;
}

void deft_kernel_output_ref(deft_kernel_ctx *c, int out, deft_var *var) {
  deft_slot *sl = &c->plan->slots[c->step->out_base + out];
  sl->ref = var;
  sl->produced = true;
}

void deft_kernel_output_dead(deft_kernel_ctx *c, int out) {
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

const deft_attr *deft_kernel_find_attr(deft_kernel_ctx *c, const char *name) {
  deft_step *st = c->step;
  for (int i = 0; i < st->nattrs; i++)
    if (st->attrs[i].name == name) return st->attrs[i].attr;
  const deft_attr *a = deft_op_find_attr(c->op, name);
  if (st->nattrs < (int)(sizeof st->attrs / sizeof st->attrs[0])) {
    st->attrs[st->nattrs].name = name;
    st->attrs[st->nattrs++].attr = a;
  }
  return a;
}

static const deft_attr *kattr(deft_kernel_ctx *c, const char *name, deft_attr_kind kind) {
  const deft_attr *a = deft_kernel_find_attr(c, name);
  if (!a || a->v.kind != kind) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "missing or mistyped attr '%s'", name);
    return NULL;
  }
  return a;
}

int64_t deft_kernel_attr_int(deft_kernel_ctx *c, const char *name) {
  const deft_attr *a = kattr(c, name, DEFT_ATTR_INT);
  return a ? a->v.u.i : 0;
}
float deft_kernel_attr_float(deft_kernel_ctx *c, const char *name) {
  const deft_attr *a = kattr(c, name, DEFT_ATTR_FLOAT);
  return a ? a->v.u.f : 0;
}
bool deft_kernel_attr_bool(deft_kernel_ctx *c, const char *name) {
  const deft_attr *a = kattr(c, name, DEFT_ATTR_BOOL);
  return a ? a->v.u.b : false;
}
deft_dtype deft_kernel_attr_type(deft_kernel_ctx *c, const char *name) {
  const deft_attr *a = kattr(c, name, DEFT_ATTR_TYPE);
  return a ? (deft_dtype)a->v.u.type : DEFT_INVALID_DTYPE;
}
