/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/plan.c - building a plan for one (feeds, fetches, targets) signature.
 *
 * deft_plan_build runs in phases, each a function below that returns false with the status set:
 *   check_signature   feeds, fetches and targets are tensors and ops of this graph, fed once;
 *   prune             the ops the fetches and targets need, stopping at fed tensors; every one has
 *                     a kernel on the session's device (all missing types named at once), and no
 *                     unfed Placeholder is needed;
 *   order             topological order over data and control edges; with while loops, each
 *                     frame's ops contiguous and nested (runtime/frames.c), loops' back edges
 *                     aside (any other cycle is an error);
 *   assign_slots      one slot per output of each step, then one per feed;
 *   build_steps       each step's input slots, control steps and variable inputs;
 *   elide             pure ops whose outputs nothing reads run no kernel;
 *   fuse              a pure producer read by one consumer is computed inside the consumer's
 *                     kernel when they form a known pattern (runtime/plan_fuse.c);
 *   plan_releases     each slot is released after its last reader;
 *   prepare_steps     each step's kernel is resolved on the device and its prepare step runs
 *                     (ops/kernel.h), filling the step's parameter block;
 *   plan_async        asynchronous steps (ops/kernel.h) and the steps that wait for them.
 * The prepare context is implemented at the end of this file. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "runtime/device.h"
#include "runtime/session_internal.h"

void deft_plan_free(deft_plan *p) {
  if (!p) return;
#ifdef DEFT_EXEC_PROFILE
  deft_plan_prof_dump(p);
#endif
  for (int i = 0; p->steps && i < p->nsteps; i++) {
    deft_free(p->steps[i].wait_steps);
    if (p->steps[i].async_obj) p->steps[i].async_ops->release(p->steps[i].async_obj);
    deft_aligned_free(p->steps[i].scratch);
    deft_aligned_free(p->steps[i].params);
    deft_fusion_free(p->steps[i].fusion);
  }
  for (int i = 0; p->slots && i < p->nslots; i++) deft_tensor_reset(&p->slots[i].value);
  for (int f = 0; p->frames && f < p->nframes; f++) {
    deft_free(p->frames[f].next_steps);
    deft_free(p->frames[f].release);
  }
  deft_free(p->frames);
  deft_free(p->resources);
  deft_aligned_free(p->shared_scratch);
  deft_plan_memos_free(p);
  for (int c = 0; p->pool_class && c < DEFT_POOL_CLASSES; c++) {
    for (int i = 0; i < p->pool_class[c].n; i++) deft_buffer_unref(p->pool_class[c].v[i]);
    deft_free(p->pool_class[c].v);
  }
  deft_free(p->pool_class);
  deft_free(p->steps);
  deft_free(p->step_ints); /* the steps' in_slots, ctrl_steps and release lists */
  deft_free(p->release_ints);
  deft_free(p->step_dead);
  deft_free(p->slots);
  deft_free(p->feed_slots);
  deft_free(p->feeds);
  deft_free(p->fetches);
  deft_free(p->fetch_slots);
  deft_free(p->targets);
  deft_free(p->tail_release);
  deft_free(p->async_steps);
  deft_free(p);
}

/* Working state while planning; planner_free releases every temporary, so each phase of
 * deft_plan_build just returns false on failure. */
typedef struct {
  deft_graph *g;
  const deft_device *device;
  int nops;
  bool *need;      /* by op id */
  int *step_of;    /* by op id, -1 if not a step */
  int *slot_base;  /* by op id */
  const deft_output *feeds;
  int nfeeds;
  deft_op **order; /* the needed ops in topological order (norder of them) */
  int norder;
  int *last_use;   /* by slot: the last step that reads it (-1: none; nsteps: the end) */
  deft_frames_result fr; /* the loops' frames (empty without loops) */
} planner;

static void planner_free(planner *pl) {
  deft_free(pl->need);
  deft_free(pl->step_of);
  deft_free(pl->slot_base);
  deft_free(pl->order);
  deft_free(pl->last_use);
  deft_free(pl->fr.frame_of);
  if (pl->fr.frames)
    for (int f = 0; f < pl->fr.nframes; f++) {
      deft_free(pl->fr.frames[f].next_steps);
      deft_free(pl->fr.frames[f].release);
    }
  deft_free(pl->fr.frames);
}

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
  /* Each op is pushed at most once (it is marked when pushed), roots named twice too, so the
   * stack never holds more than nops entries. */
  for (int i = 0; i < nroots; i++) {
    if (pl->need[roots[i]->id]) continue;
    pl->need[roots[i]->id] = true;
    stack[sp++] = roots[i];
  }
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
    if (deft_device_supports_op(pl->device, op->reg)) continue;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) {
      deft_op *o = pl->g->ops[j];
      seen = pl->need[j] && !deft_device_supports_op(pl->device, o->reg) &&
             !strcmp(o->type, op->type);
    }
    if (seen) continue;
    if (n < sizeof msg)
      n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s (e.g. node '%s')", missing ? ", " : "",
                            op->type, op->name);
    missing++;
  }
  if (missing) {
    deft_status_set(status, DEFT_UNIMPLEMENTED,
                    "the run needs %d op type%s deft cannot run on the %s: %s", missing,
                    missing == 1 ? "" : "s", pl->device->type, msg);
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

static bool is_async(const deft_op *op) { return op->reg && (op->reg->def->flags & DEFT_OP_ASYNC); }

/* True iff op reads an async op's output or has a control edge from one. */
static bool waits_for_async(const deft_op *op) {
  for (int k = 0; k < op->ninputs; k++)
    if (is_async(op->inputs[k].op)) return true;
  for (int k = 0; k < op->nctrl; k++)
    if (is_async(op->ctrl[k])) return true;
  return false;
}

/* Kahn's algorithm over the needed ops; edges come from unfed data inputs and control inputs. */
static deft_op **topo_sort(planner *pl, int *count, deft_status *status) {
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
  /* Ops that read an asynchronous op's outputs (or have a control edge from it) wait for its
   * work, so they are deferred: taken only when nothing else is ready, which leaves the most
   * steps to overlap the work (ops/kernel.h). Without async ops this is plain Kahn's order. */
  int *deferred = deft_malloc(sizeof(int) * (size_t)(n + 1));
  if (!deferred) {
    deft_free(cons);
    deft_free(fill);
    goto fail_oom;
  }
  bool any_async = false;
  for (int i = 0; i < pl->nops && !any_async; i++)
    any_async = pl->need[i] && is_async(pl->g->ops[i]);
  int head = 0, tail = 0, dhead = 0, dtail = 0;
  for (int i = 0; i < pl->nops; i++)
    if (pl->need[i] && indeg[i] == 0) order[tail++] = pl->g->ops[i];
  while (head < tail || dhead < dtail) {
    if (head == tail) order[tail++] = pl->g->ops[deferred[dhead++]];
    deft_op *op = order[head++];
    for (int k = cstart[op->id]; k < cstart[op->id + 1]; k++)
      if (--indeg[cons[k]] == 0) {
        if (any_async && waits_for_async(pl->g->ops[cons[k]]))
          deferred[dtail++] = cons[k];
        else
          order[tail++] = pl->g->ops[cons[k]];
      }
  }
  deft_free(deferred);
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
  if (deft_op_is_enter(op) || deft_op_is_exit(op) || deft_op_is_next_iteration(op) ||
      !strcmp(op->type, "LoopCond"))
    return false;
  for (int k = 0; k < op->noutputs; k++)
    if (op->out_ref[k]) return false;
  for (int k = 0; k < op->ninputs; k++)
    if (op->inputs[k].op->out_ref[op->inputs[k].index]) return false;
  return true;
}

/* True iff o is a variable's storage: a ref output, an Identity of one (a variable's
 * "read", which forwards the storage), or a resource variable's ReadVariableOp (which forwards
 * it too). */
static bool is_variable_value(deft_output o) {
  if (o.op->out_ref[o.index]) return true;
  if (!strcmp(o.op->type, "ReadVariableOp")) return true;
  if (strcmp(o.op->type, "Identity") != 0 || o.op->ninputs != 1) return false;
  deft_output src = o.op->inputs[0];
  return src.op->out_ref[src.index];
}

static int slot_of(const planner *pl, const deft_plan *p, deft_output o) {
  int f = fed_index(pl, o);
  if (f >= 0) return p->feed_slots[f];
  return pl->slot_base[o.op->id] + o.index;
}

static bool check_signature(deft_graph *g, const deft_output *feeds, int nfeeds,
                            const deft_output *fetches, int nfetches, deft_op *const *targets,
                            int ntargets, deft_status *status) {
  char name[512];
  for (int i = 0; i < nfeeds; i++) {
    if (!feeds[i].op || feeds[i].op->graph != g || feeds[i].index < 0 ||
        feeds[i].index >= feeds[i].op->noutputs) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "feed %d ('%s') is not a tensor of this graph",
                      i, deft_output_format(feeds[i], name, sizeof name));
      return false;
    }
    for (int j = 0; j < i; j++)
      if (feeds[j].op == feeds[i].op && feeds[j].index == feeds[i].index) {
        deft_status_set(status, DEFT_INVALID_ARGUMENT, "tensor '%s' is fed twice",
                        deft_output_format(feeds[i], name, sizeof name));
        return false;
      }
  }
  for (int i = 0; i < nfetches; i++)
    if (!fetches[i].op || fetches[i].op->graph != g || fetches[i].index < 0 ||
        fetches[i].index >= fetches[i].op->noutputs) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "fetch %d ('%s') is not a tensor of this graph", i,
                      deft_output_format(fetches[i], name, sizeof name));
      return false;
    }
  for (int i = 0; i < ntargets; i++)
    if (!targets[i] || targets[i]->graph != g) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "target %d is not an op of this graph", i);
      return false;
    }
  return true;
}

static bool prune(planner *pl, const deft_output *fetches, int nfetches, deft_op *const *targets,
                  int ntargets, deft_status *status) {
  deft_op **roots = deft_malloc(sizeof *roots * (size_t)(nfetches + ntargets + 1));
  if (!roots) return oom(status);
  int nroots = 0;
  for (int i = 0; i < nfetches; i++)
    if (fed_index(pl, fetches[i]) < 0) roots[nroots++] = fetches[i].op;
  for (int i = 0; i < ntargets; i++) roots[nroots++] = targets[i];
  bool ok = mark_needed(pl, roots, nroots, status) && check_kernels(pl, status) &&
            check_placeholders(pl, status);
  deft_free(roots);
  return ok;
}

static bool pl_fed(const void *ctx, deft_output o) { return fed_index(ctx, o) >= 0; }
static bool pl_op_fed(const void *ctx, const deft_op *op) { return op_fed(ctx, op); }

static bool order(planner *pl, deft_status *status) {
  if (!deft_frames_order(pl->g, pl->need, pl_fed, pl_op_fed, pl, &pl->fr, status)) return false;
  if (pl->fr.nframes) {
    pl->order = pl->fr.order;
    pl->norder = pl->fr.norder;
    pl->fr.order = NULL;
    return true;
  }
  pl->order = topo_sort(pl, &pl->norder, status);
  return pl->order != NULL;
}

/* Copies n items of `size` bytes into a fresh array (at least one byte, so a plan never holds
 * NULL arrays); false on OOM. */
static bool copy_array(void *dst_ptr, const void *src, int n, size_t size) {
  void **dst = dst_ptr;
  *dst = deft_malloc(size * (size_t)(n + 1));
  if (!*dst) return false;
  if (n) memcpy(*dst, src, size * (size_t)n);
  return true;
}

static bool assign_slots(planner *pl, deft_plan *p, const deft_output *fetches, int nfetches,
                         deft_op *const *targets, int ntargets, deft_status *status) {
  int nslots = 0, n = pl->norder;
  for (int i = 0; i < pl->nops; i++) pl->step_of[i] = -1, pl->slot_base[i] = -1;
  for (int i = 0; i < n; i++) {
    pl->step_of[pl->order[i]->id] = i;
    pl->slot_base[pl->order[i]->id] = nslots;
    nslots += pl->order[i]->noutputs;
  }
  p->nfeeds = pl->nfeeds;
  p->nfetches = nfetches;
  p->ntargets = ntargets;
  if (!copy_array(&p->feeds, pl->feeds, pl->nfeeds, sizeof(deft_output)) ||
      !copy_array(&p->fetches, fetches, nfetches, sizeof(deft_output)) ||
      !copy_array(&p->targets, targets, ntargets, sizeof(deft_op *)))
    return oom(status);
  p->feed_slots = deft_malloc(sizeof(int) * (size_t)(pl->nfeeds + 1));
  p->fetch_slots = deft_malloc(sizeof(int) * (size_t)(nfetches + 1));
  if (!p->feed_slots || !p->fetch_slots) return oom(status);
  for (int i = 0; i < pl->nfeeds; i++) p->feed_slots[i] = nslots++;
  p->nslots = nslots;
  p->slots = deft_calloc((size_t)nslots + 1, sizeof(deft_slot));
  pl->last_use = deft_malloc(sizeof(int) * (size_t)(nslots + 1));
  if (!p->slots || !pl->last_use) return oom(status);
  for (int i = 0; i < pl->nfeeds; i++) p->slots[p->feed_slots[i]].fed = true;
  for (int i = 0; i < nfetches; i++) p->fetch_slots[i] = slot_of(pl, p, fetches[i]);
  return true;
}

/* The plan's frames: ranges, first steps, NextIteration steps. */
static bool build_frames(planner *pl, deft_plan *p, deft_status *status) {
  if (!pl->fr.nframes) return true;
  p->frames = pl->fr.frames;
  p->nframes = pl->fr.nframes;
  pl->fr.frames = NULL;
  for (int f = 0; f < p->nframes; f++) {
    deft_frame_def *fd = &p->frames[f];
    fd->next_steps = NULL;
    fd->release = NULL;
    int n = 0;
    for (int i = fd->begin; i < fd->end; i++)
      n += p->steps[i].frame == f + 1 && p->steps[i].kind == DEFT_STEP_NEXT;
    fd->next_steps = deft_malloc(sizeof(int) * (size_t)(n + 1));
    if (!fd->next_steps) return oom(status);
    for (int i = fd->begin; i < fd->end; i++)
      if (p->steps[i].frame == f + 1 && p->steps[i].kind == DEFT_STEP_NEXT)
        fd->next_steps[fd->nnext++] = i;
    if (fd->begin < fd->end) p->steps[fd->begin].begins_frame = f + 1;
  }
  return true;
}

static bool build_steps(planner *pl, deft_plan *p, deft_status *status) {
  int n = pl->norder;
  p->nsteps = n;
  p->steps = deft_calloc((size_t)n + 1, sizeof(deft_step));
  p->step_dead = deft_calloc((size_t)n + 1, sizeof(bool));
  if (!p->steps || !p->step_dead) return oom(status);
  size_t nints = 0; /* one block for every step's in_slots and ctrl_steps (not 2 per step) */
  for (int i = 0; i < n; i++) nints += (size_t)pl->order[i]->ninputs + pl->order[i]->nctrl;
  int *ints = p->step_ints = deft_malloc(sizeof(int) * (nints + 1));
  if (!ints) return oom(status);
  for (int i = 0; i < n; i++) {
    deft_step *st = &p->steps[i];
    deft_op *op = pl->order[i];
    st->op = op;
    st->out_base = pl->slot_base[op->id];
    st->frame = pl->fr.frame_of ? pl->fr.frame_of[op->id] : 0;
    if (deft_op_is_enter(op)) {
      bool is_const = false;
      deft_op_attr_bool(op, "is_constant", &is_const);
      st->kind = is_const ? DEFT_STEP_ENTER_CONST : DEFT_STEP_ENTER;
    } else if (deft_op_is_next_iteration(op)) {
      st->kind = DEFT_STEP_NEXT;
    } else if (!strcmp(op->type, "ControlTrigger")) {
      st->kind = DEFT_STEP_TRIGGER;
    }
    st->in_slots = ints;
    ints += op->ninputs;
    st->ctrl_steps = ints;
    ints += op->nctrl;
    for (int k = 0; k < op->ninputs; k++) {
      st->in_slots[k] = slot_of(pl, p, op->inputs[k]);
      if (k < 64 && is_variable_value(op->inputs[k])) st->var_inputs |= 1ull << k;
    }
    for (int k = 0; k < op->nctrl; k++)
      if (pl->step_of[op->ctrl[k]->id] >= 0)
        st->ctrl_steps[st->nctrl++] = pl->step_of[op->ctrl[k]->id];
  }
  return build_frames(pl, p, status);
}

/* Elision: a pure op (stateless, no refs, not control flow) whose outputs no fetch and no running
 * step reads is needed only through control edges, i.e. for ordering and deadness (TF's gradient
 * tuples group every input gradient, the input layer's dX included). Its kernel is skipped; its
 * deadness still propagates. Decided from the last step back, so every consumer of a step is
 * decided before it. */
static bool elide(planner *pl, deft_plan *p, deft_status *status) {
  int *uses = deft_calloc((size_t)p->nslots + 1, sizeof(int));
  if (!uses) return oom(status);
  for (int i = 0; i < p->nfetches; i++) uses[p->fetch_slots[i]]++;
  for (int i = p->nsteps - 1; i >= 0; i--) {
    deft_step *st = &p->steps[i];
    st->elided = elidable(st->op);
    for (int k = 0; st->elided && k < st->op->noutputs; k++)
      if (uses[st->out_base + k]) st->elided = false;
    if (st->elided) continue;
    for (int k = 0; k < st->op->ninputs; k++) uses[st->in_slots[k]]++;
  }
  deft_free(uses);
  return true;
}

/* Release lists: every slot is released after its last use unless it is an owner slot (kept for
 * buffer reuse); whether a slot is an alias is only known at run time, so each step lists all
 * slots whose last use it is and the runner releases the aliased and fed ones. */
static bool plan_releases(planner *pl, deft_plan *p, deft_status *status) {
  int n = p->nsteps, *last_use = pl->last_use;
  for (int i = 0; i < p->nslots; i++) last_use[i] = -1;
  for (int i = 0; i < n; i++)
    if (!p->steps[i].elided)
      for (int k = 0; k < p->steps[i].op->ninputs; k++) last_use[p->steps[i].in_slots[k]] = i;
  /* A fused step reads its absorbed producers' inputs. */
  for (int i = 0; i < n; i++)
    for (int j = 0, ps; (ps = deft_step_fused_producer(&p->steps[i], j)) >= 0; j++)
      for (int k = 0; k < p->steps[ps].op->ninputs; k++)
        if (last_use[p->steps[ps].in_slots[k]] < i) last_use[p->steps[ps].in_slots[k]] = i;
  /* An output nothing reads is released right after its step: a forwarded reference to a
   * variable (an untaken Switch's other output, say) must not keep the storage shared, or the
   * variable's next in-place update would copy it. */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < p->steps[i].op->noutputs; k++)
      if (last_use[p->steps[i].out_base + k] < 0) last_use[p->steps[i].out_base + k] = i;
  /* A constant Enter's value is read in every iteration of its frame: it is released when the
   * loop finishes (last_use -2 - frame). */
  for (int i = 0; i < n; i++)
    if (p->steps[i].kind == DEFT_STEP_ENTER_CONST)
      last_use[p->steps[i].out_base] = -2 - p->steps[i].frame;
  /* Fetched slots live to the end: never released early. */
  for (int i = 0; i < p->nfetches; i++) last_use[p->fetch_slots[i]] = n;
  int *counts = deft_calloc((size_t)n + 1, sizeof(int));
  if (!counts) return oom(status);
  int tail = 0;
  for (int sl = 0; sl < p->nslots; sl++) {
    if (last_use[sl] >= 0 && last_use[sl] < n) counts[last_use[sl]]++;
    else if (last_use[sl] <= -3) p->frames[-2 - last_use[sl] - 1].nrelease++;
    else tail++;
  }
  for (int f = 0; f < p->nframes; f++) {
    p->frames[f].release = deft_malloc(sizeof(int) * (size_t)(p->frames[f].nrelease + 1));
    if (!p->frames[f].release) {
      deft_free(counts);
      return oom(status);
    }
    p->frames[f].nrelease = 0;
  }
  size_t nrel = 0; /* one block for every step's release list */
  for (int i = 0; i < n; i++) nrel += (size_t)counts[i];
  int *rel = p->release_ints = deft_malloc(sizeof(int) * (nrel + 1));
  bool ok = rel != NULL;
  for (int i = 0; ok && i < n; i++) {
    p->steps[i].release = rel;
    rel += counts[i];
  }
  deft_free(counts);
  p->tail_release = ok ? deft_malloc(sizeof(int) * (size_t)(tail + 1)) : NULL;
  if (!p->tail_release) return oom(status);
  for (int sl = 0; sl < p->nslots; sl++) {
    if (last_use[sl] >= 0 && last_use[sl] < n) {
      deft_step *st = &p->steps[last_use[sl]];
      st->release[st->nrelease++] = sl;
    } else if (last_use[sl] <= -3) {
      deft_frame_def *fd = &p->frames[-2 - last_use[sl] - 1];
      fd->release[fd->nrelease++] = sl;
    } else {
      p->tail_release[p->ntail_release++] = sl;
    }
  }
  return true;
}

/* Asynchronous steps (ops/kernel.h): the plan's list of them, and for every step the async
 * steps whose work it waits for: those it reads or has a control edge from, and an async step
 * itself (its work from a loop's previous iteration). Nothing to do in plans without them. */
static bool plan_async(planner *pl, deft_plan *p, deft_status *status) {
  int n = p->nsteps;
  for (int i = 0; i < n; i++) p->nasync += is_async(p->steps[i].op);
  if (!p->nasync) return true;
  p->async_steps = deft_malloc(sizeof(int) * (size_t)p->nasync);
  if (!p->async_steps) return oom(status);
  p->nasync = 0;
  for (int i = 0; i < n; i++)
    if (is_async(p->steps[i].op)) p->async_steps[p->nasync++] = i;
  for (int i = 0; i < n; i++) {
    deft_step *st = &p->steps[i];
    deft_op *op = st->op;
    int cap = op->ninputs + st->nctrl + 1, m = 0;
    int *w = deft_malloc(sizeof(int) * (size_t)cap);
    if (!w) return oom(status);
    if (is_async(op)) w[m++] = i;
    for (int k = 0; k < op->ninputs + st->nctrl; k++) {
      int src = k < op->ninputs
                    ? (fed_index(pl, op->inputs[k]) >= 0 ? -1 : pl->step_of[op->inputs[k].op->id])
                    : st->ctrl_steps[k - op->ninputs];
      if (src < 0 || !is_async(p->steps[src].op)) continue;
      bool dup = false;
      for (int j = 0; j < m && !dup; j++) dup = w[j] == src;
      if (!dup) w[m++] = src;
    }
    if (!m) {
      deft_free(w);
      continue;
    }
    st->wait_steps = w;
    st->nwait = m;
  }
  return true;
}

struct deft_prepare_ctx {
  const deft_op *op;
  deft_step *step;
  deft_status *status;
  bool failed;
};

static bool prepare_steps(planner *pl, deft_plan *p, deft_status *status) {
  for (int i = 0; i < p->nsteps; i++) {
    deft_step *st = &p->steps[i];
    deft_kernel_impl k;
    if (!pl->device->find_kernel(pl->device, st->op->reg, &k)) { /* pruned ops were checked */
      deft_status_set(status, DEFT_INTERNAL, "%s '%s': no kernel on the %s", st->op->type,
                      st->op->name, pl->device->type);
      return false;
    }
    st->compute = k.compute;
    if (st->fusion) deft_fusion_set_kernel(st);
    /* An absorbed step's kernel runs when its fused consumer falls back: it is prepared. */
    if (!k.prepare || (st->elided && !st->absorbed)) continue;
    deft_prepare_ctx ctx = {st->op, st, status, false};
    k.prepare(&ctx);
    if (ctx.failed) return false;
  }
  return true;
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
  if (!check_signature(g, feeds, nfeeds, fetches, nfetches, targets, ntargets, status))
    return NULL;
  planner pl = {.g = g, .device = s->device, .nops = g->nops, .feeds = feeds, .nfeeds = nfeeds};
  pl.need = deft_calloc((size_t)pl.nops + 1, sizeof(bool));
  pl.step_of = deft_malloc(sizeof(int) * (size_t)(pl.nops + 1));
  pl.slot_base = deft_malloc(sizeof(int) * (size_t)(pl.nops + 1));
  deft_plan *p = deft_calloc(1, sizeof *p);
  bool ok = (p && pl.need && pl.step_of && pl.slot_base) || oom(status);
  ok = ok && prune(&pl, fetches, nfetches, targets, ntargets, status) && order(&pl, status) &&
       assign_slots(&pl, p, fetches, nfetches, targets, ntargets, status) &&
       build_steps(&pl, p, status) && elide(&pl, p, status) &&
       (s->opts.no_fusion || deft_plan_fuse(p, status)) &&
       plan_releases(&pl, p, status) && prepare_steps(&pl, p, status) &&
       plan_async(&pl, p, status);
  planner_free(&pl);
  if (!ok) {
    deft_plan_free(p);
    return NULL;
  }
  return p;
}

/* ---- the prepare context (ops/kernel.h) ---- */

int deft_prepare_num_inputs(const deft_prepare_ctx *p) { return p->op->ninputs; }

deft_dtype deft_prepare_input_dtype(const deft_prepare_ctx *p, int i) {
  assert(i >= 0 && i < p->op->ninputs);
  return (deft_dtype)deft_output_type(p->op->inputs[i]);
}

deft_shape deft_prepare_input_shape(const deft_prepare_ctx *p, int i) {
  assert(i >= 0 && i < p->op->ninputs);
  deft_output in = p->op->inputs[i];
  return in.op->out_shapes[in.index];
}

bool deft_prepare_input_is_variable(const deft_prepare_ctx *p, int i) {
  return i >= 0 && i < 64 && (p->step->var_inputs >> i & 1u);
}

const char *deft_prepare_input_name(const deft_prepare_ctx *p, int i) {
  return deft_op_input_arg_name(p->op, i);
}

deft_dtype deft_prepare_output_dtype(const deft_prepare_ctx *p, int i) {
  assert(i >= 0 && i < p->op->noutputs);
  return (deft_dtype)p->op->out_types[i];
}

const deft_op *deft_prepare_op(const deft_prepare_ctx *p) { return p->op; }

void deft_prepare_fail(deft_prepare_ctx *p, deft_code code, const char *fmt, ...) {
  if (p->failed) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  deft_status_set(p->status, code, "%s '%s': %s", p->op->type, p->op->name, msg);
  p->failed = true;
}

bool deft_prepare_failed(const deft_prepare_ctx *p) { return p->failed; }

const deft_attr *deft_prepare_find_attr(deft_prepare_ctx *p, const char *name) {
  return deft_op_find_attr(p->op, name);
}

static const deft_attr *pattr(deft_prepare_ctx *p, const char *name, deft_attr_kind kind) {
  const deft_attr *a = deft_op_find_attr(p->op, name);
  if (!a || a->v.kind != kind) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr '%s' is %s", name,
                      a ? "of the wrong kind" : "missing");
    return NULL;
  }
  return a;
}

int64_t deft_prepare_attr_int(deft_prepare_ctx *p, const char *name) {
  const deft_attr *a = pattr(p, name, DEFT_ATTR_INT);
  return a ? a->v.u.i : 0;
}

float deft_prepare_attr_float(deft_prepare_ctx *p, const char *name) {
  const deft_attr *a = pattr(p, name, DEFT_ATTR_FLOAT);
  return a ? a->v.u.f : 0.0f;
}

bool deft_prepare_attr_bool(deft_prepare_ctx *p, const char *name) {
  const deft_attr *a = pattr(p, name, DEFT_ATTR_BOOL);
  return a ? a->v.u.b : false;
}

deft_dtype deft_prepare_attr_type(deft_prepare_ctx *p, const char *name) {
  const deft_attr *a = pattr(p, name, DEFT_ATTR_TYPE);
  return a ? (deft_dtype)a->v.u.type : (deft_dtype)0;
}

void *deft_prepare_params(deft_prepare_ctx *p, size_t size) {
  deft_step *st = p->step;
  if (st->params) {
    if (st->params_size == size) return st->params;
    deft_prepare_fail(p, DEFT_INTERNAL, "parameter block asked with two sizes (%zu, %zu)",
                      st->params_size, size);
    return NULL;
  }
  st->params = deft_aligned_alloc(size ? size : 1);
  if (!st->params) {
    deft_prepare_fail(p, DEFT_RESOURCE_EXHAUSTED, "out of memory preparing the kernel");
    return NULL;
  }
  memset(st->params, 0, size ? size : 1);
  st->params_size = size;
  return st->params;
}
