/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/frames.c - TF1 while-loop frames at plan time (runtime/EXECUTOR.md).
 *
 * deft_frames_order assigns every needed op to a frame (the root, or a while loop's frame, which
 * an Enter opens and an Exit leaves), checks that frames nest and that the only cycles are loop
 * back edges (NextIteration -> Merge), and orders the ops so that each frame's ops are one
 * contiguous range of steps, nested frames inside their parent's range: within each frame a
 * topological order in which a child frame counts as one node. The executor then runs a frame's
 * range once per iteration. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "runtime/session_internal.h"

static bool type_is(const deft_op *op, const char *a, const char *b) {
  return !strcmp(op->type, a) || (b && !strcmp(op->type, b));
}
bool deft_op_is_enter(const deft_op *op) { return type_is(op, "Enter", "RefEnter"); }
bool deft_op_is_exit(const deft_op *op) { return type_is(op, "Exit", "RefExit"); }
bool deft_op_is_next_iteration(const deft_op *op) {
  return type_is(op, "NextIteration", "RefNextIteration");
}
bool deft_op_is_back_edge(const deft_op *op, int k) {
  return type_is(op, "Merge", "RefMerge") && deft_op_is_next_iteration(op->inputs[k].op);
}

static bool oom(deft_status *st) {
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
  return false;
}

typedef struct {
  deft_graph *g;
  const bool *need;
  bool (*fed)(const void *ctx, deft_output o);
  bool (*op_fed)(const void *ctx, const deft_op *op);
  const void *fed_ctx;
  int nops;
  int *frame_of; /* by op id: 0 = root, f >= 1 = frames[f - 1] */
  deft_frame_def *frames;
  int nframes, cap;
} fr_state;

static const char *frame_label(const fr_state *s, int f) {
  return f == 0 ? "the root frame" : s->frames[f - 1].name;
}

static int parent_of(const fr_state *s, int f) { return f == 0 ? -1 : s->frames[f - 1].parent; }

/* The frame op's outputs live in: an Exit's is its frame's parent. */
static int out_frame(const fr_state *s, const deft_op *u) {
  int f = s->frame_of[u->id];
  return deft_op_is_exit(u) && f > 0 ? parent_of(s, f) : f;
}

static int child_frame(fr_state *s, int parent, const char *name, deft_status *st) {
  for (int i = 0; i < s->nframes; i++)
    if (s->frames[i].parent == parent && !strcmp(s->frames[i].name, name)) return i + 1;
  if (s->nframes == s->cap) {
    int ncap = s->cap ? 2 * s->cap : 4;
    deft_frame_def *nf = deft_realloc(s->frames, sizeof *nf * (size_t)ncap);
    if (!nf) return oom(st), -1;
    s->frames = nf;
    s->cap = ncap;
  }
  deft_frame_def *fd = &s->frames[s->nframes++];
  memset(fd, 0, sizeof *fd);
  fd->name = name;
  fd->parent = parent;
  return s->nframes;
}

static bool frame_mismatch(const fr_state *s, const deft_op *op, const deft_op *a, int fa,
                           const deft_op *b, int fb, deft_status *st) {
  deft_status_set(st, DEFT_INVALID_ARGUMENT,
                  "%s '%s': its inputs come from different while-loop frames ('%s' from %s%s%s, "
                  "'%s' from %s%s%s); frames must nest, and a value enters a loop only through "
                  "an Enter and leaves it only through an Exit", op->type, op->name, a->name,
                  fa ? "frame '" : "", frame_label(s, fa), fa ? "'" : "", b->name,
                  fb ? "frame '" : "", frame_label(s, fb), fb ? "'" : "");
  return false;
}

/* Input k of op (data inputs, then control inputs) as an edge that orders ops: NULL for a fed
 * tensor, a loop's back edge, or a control input the run does not need. */
static const deft_op *order_input(const fr_state *s, const deft_op *op, int k) {
  if (k < op->ninputs) {
    if (s->fed(s->fed_ctx, op->inputs[k]) || deft_op_is_back_edge(op, k)) return NULL;
    return op->inputs[k].op;
  }
  const deft_op *u = op->ctrl[k - op->ninputs];
  return !s->need[u->id] || s->op_fed(s->fed_ctx, u) ? NULL : u;
}

/* The needed ops in a topological order, back edges left out (Kahn's algorithm): an op's
 * inputs may come later in the graph than the op itself (deft_while_loop gives the ops of a
 * loop body Enters after they exist). Returns the number ordered; fewer than the needed ops
 * means a cycle that is not a loop. -1 on OOM. */
static int topo_order(const fr_state *s, int *order) {
  int *indeg = deft_calloc((size_t)s->nops + 1, sizeof(int));
  int *cstart = deft_calloc((size_t)s->nops + 2, sizeof(int));
  int *cons = NULL, *fill = NULL, n = -1;
  if (!indeg || !cstart) goto done;
  for (int id = 0; id < s->nops; id++) {
    if (!s->need[id]) continue;
    const deft_op *op = s->g->ops[id];
    for (int k = 0; k < op->ninputs + op->nctrl; k++) {
      const deft_op *u = order_input(s, op, k);
      if (u) cstart[u->id + 1]++, indeg[id]++;
    }
  }
  for (int i = 0; i < s->nops; i++) cstart[i + 1] += cstart[i];
  cons = deft_malloc(sizeof(int) * ((size_t)cstart[s->nops] + 1));
  fill = deft_malloc(sizeof(int) * ((size_t)s->nops + 1));
  if (!cons || !fill) goto done;
  memcpy(fill, cstart, sizeof(int) * (size_t)s->nops);
  for (int id = 0; id < s->nops; id++) {
    if (!s->need[id]) continue;
    const deft_op *op = s->g->ops[id];
    for (int k = 0; k < op->ninputs + op->nctrl; k++) {
      const deft_op *u = order_input(s, op, k);
      if (u) cons[fill[u->id]++] = id;
    }
  }
  int head = 0, tail = 0;
  for (int id = 0; id < s->nops; id++)
    if (s->need[id] && indeg[id] == 0) order[tail++] = id;
  while (head < tail) {
    int u = order[head++];
    for (int k = cstart[u]; k < cstart[u + 1]; k++)
      if (--indeg[cons[k]] == 0) order[tail++] = cons[k];
  }
  n = tail;
done:
  deft_free(indeg);
  deft_free(cstart);
  deft_free(cons);
  deft_free(fill);
  return n;
}

static bool assign_in_order(fr_state *s, const int *order, int norder, deft_status *st);

/* Pass 1: the frame of every needed op, in topological order (back edges aside). */
static bool assign_frames(fr_state *s, deft_status *st) {
  int *order = deft_malloc(sizeof(int) * ((size_t)s->nops + 1));
  int norder = order ? topo_order(s, order) : -1;
  if (norder < 0) {
    deft_free(order);
    return oom(st);
  }
  int nneed = 0;
  for (int id = 0; id < s->nops; id++) nneed += s->need[id];
  if (norder < nneed) {
    /* some needed op waits on a cycle: name the first one and an input it waits on */
    char *done = deft_calloc((size_t)s->nops + 1, 1);
    if (!done) {
      deft_free(order);
      return oom(st);
    }
    for (int i = 0; i < norder; i++) done[order[i]] = 1;
    for (int id = 0; id < s->nops; id++) {
      if (!s->need[id] || done[id]) continue;
      const deft_op *op = s->g->ops[id], *w = NULL;
      for (int k = 0; k < op->ninputs + op->nctrl && !w; k++) {
        const deft_op *u = order_input(s, op, k);
        if (u && !done[u->id]) w = u;
      }
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "%s '%s': the graph has a cycle through its input '%s' that is not a "
                      "while loop's back edge (only a NextIteration may feed a Merge from later)",
                      op->type, op->name, w ? w->name : "?");
      break;
    }
    deft_free(done);
    deft_free(order);
    return false;
  }
  bool ok = assign_in_order(s, order, norder, st);
  deft_free(order);
  return ok;
}

/* Pass 1 proper: frames in the order topo_order found. */
static bool assign_in_order(fr_state *s, const int *order, int norder, deft_status *st) {
  for (int oi = 0; oi < norder; oi++) {
    int id = order[oi];
    deft_op *op = s->g->ops[id];
    int f = -1;
    const deft_op *first = NULL;
    for (int k = 0; k < op->ninputs + op->nctrl; k++) {
      const deft_op *u;
      if (k < op->ninputs) {
        if (s->fed(s->fed_ctx, op->inputs[k]) || deft_op_is_back_edge(op, k)) continue;
        u = op->inputs[k].op;
      } else {
        u = op->ctrl[k - op->ninputs];
        if (!s->need[u->id] || s->op_fed(s->fed_ctx, u)) continue;
      }
      int fu = out_frame(s, u);
      if (f < 0) f = fu, first = u;
      else if (f != fu) return frame_mismatch(s, op, first, f, u, fu, st);
    }
    if (f < 0) f = 0;
    if (deft_op_is_enter(op)) {
      const deft_attr *a = deft_op_find_attr(op, "frame_name");
      if (!a || a->v.kind != DEFT_ATTR_STRING || !a->v.u.s.p || !*a->v.u.s.p) {
        deft_status_set(st, DEFT_INVALID_ARGUMENT, "%s '%s': no frame_name", op->type, op->name);
        return false;
      }
      f = child_frame(s, f, a->v.u.s.p, st);
      if (f < 0) return false;
    } else if (deft_op_is_exit(op) && f == 0) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "%s '%s': an Exit without its Enter (its input '%s' is not inside a while "
                      "loop)", op->type, op->name, first ? first->name : "(none)");
      return false;
    } else if (deft_op_is_next_iteration(op) && f == 0) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "%s '%s': a NextIteration outside any while loop (no Enter leads to it)",
                      op->type, op->name);
      return false;
    }
    s->frame_of[id] = f;
  }
  /* Back edges stay inside their frame. */
  for (int id = 0; id < s->nops; id++) {
    if (!s->need[id]) continue;
    deft_op *op = s->g->ops[id];
    for (int k = 0; k < op->ninputs; k++) {
      if (!deft_op_is_back_edge(op, k) || s->fed(s->fed_ctx, op->inputs[k])) continue;
      deft_op *u = op->inputs[k].op;
      if (s->frame_of[u->id] != s->frame_of[id] || s->frame_of[id] == 0) {
        deft_status_set(st, DEFT_INVALID_ARGUMENT,
                        "%s '%s' (in %s) takes the back edge from %s '%s' (in %s): a loop's "
                        "NextIteration must feed a Merge of its own frame", op->type, op->name,
                        frame_label(s, s->frame_of[id]), u->type, u->name,
                        frame_label(s, s->frame_of[u->id]));
        return false;
      }
    }
  }
  return true;
}

/* True iff some path back from op (back edges aside; through inner loops too) reaches a Switch
 * of its frame:
 * a NextIteration not behind one would fire in every iteration, and the loop never ends. */
static bool behind_switch(fr_state *s, const deft_op *next, char *seen, int *stack) {
  int sp = 0, f = s->frame_of[next->id];
  stack[sp++] = next->id;
  seen[next->id] = 1;
  bool found = false;
  while (sp && !found) {
    const deft_op *op = s->g->ops[stack[--sp]];
    for (int k = 0; k < op->ninputs + op->nctrl && !found; k++) {
      const deft_op *u;
      if (k < op->ninputs) {
        if (s->fed(s->fed_ctx, op->inputs[k]) || deft_op_is_back_edge(op, k)) continue;
        u = op->inputs[k].op;
      } else {
        u = op->ctrl[k - op->ninputs];
      }
      if (!s->need[u->id] || seen[u->id]) continue;
      found = s->frame_of[u->id] == f && type_is(u, "Switch", "RefSwitch");
      seen[u->id] = 1;
      stack[sp++] = u->id;
    }
  }
  return found;
}

static bool check_loops_end(fr_state *s, deft_status *st) {
  char *seen = deft_malloc((size_t)s->nops + 1);
  int *stack = deft_malloc(sizeof(int) * ((size_t)s->nops + 1));
  bool ok = (seen && stack) || oom(st);
  for (int id = 0; ok && id < s->nops; id++) {
    if (!s->need[id] || !deft_op_is_next_iteration(s->g->ops[id])) continue;
    memset(seen, 0, (size_t)s->nops);
    if (behind_switch(s, s->g->ops[id], seen, stack)) continue;
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "%s '%s' in while loop '%s' does not depend on a Switch of its loop, so it "
                    "would pass a value on in every iteration and the loop could never end",
                    s->g->ops[id]->type, s->g->ops[id]->name,
                    frame_label(s, s->frame_of[id]));
    ok = false;
  }
  deft_free(seen);
  deft_free(stack);
  return ok;
}

/* The node standing for op w inside frame x: w itself, or the child frame of x holding w
 * (item nops + frame index - 1). */
static int rep(const fr_state *s, const deft_op *w, int x) {
  int c = s->frame_of[w->id];
  if (c == x) return w->id;
  while (c > 0 && parent_of(s, c) != x) c = parent_of(s, c);
  return s->nops + c - 1;
}

static int item_frame(const fr_state *s, int item) {
  return item < s->nops ? s->frame_of[item] : s->frames[item - s->nops].parent;
}

typedef struct {
  int *indeg, *cstart, *cons, *queue;
  deft_op **order;
  int norder;
  int *frame_begin, *frame_end; /* by frame index */
} sorter;

/* Emits frame x's items (Kahn's algorithm; a child frame is one item, expanded in place). */
static bool emit(fr_state *s, sorter *so, int x, int *qbuf, deft_status *st) {
  int head = 0, tail = 0, total = s->nops + s->nframes;
  for (int it = 0; it < total; it++) {
    if (it < s->nops && !s->need[it]) continue;
    if (item_frame(s, it) == x && so->indeg[it] == 0) qbuf[tail++] = it;
  }
  while (head < tail) {
    int it = qbuf[head++];
    if (it < s->nops) {
      so->order[so->norder++] = s->g->ops[it];
    } else {
      int c = it - s->nops;
      so->frame_begin[c] = so->norder;
      if (!emit(s, so, c + 1, qbuf + tail, st)) return false;
      so->frame_end[c] = so->norder;
    }
    for (int k = so->cstart[it]; k < so->cstart[it + 1]; k++)
      if (--so->indeg[so->cons[k]] == 0) qbuf[tail++] = so->cons[k];
  }
  for (int it = 0; it < total; it++) {
    if (it < s->nops && !s->need[it]) continue;
    if (item_frame(s, it) != x || so->indeg[it] == 0) continue;
    const char *name = it < s->nops ? s->g->ops[it]->name : s->frames[it - s->nops].name;
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "the graph has a cycle in %s%s%s: '%s' can never run (the only cycles "
                    "allowed are while loops, closed by a NextIteration feeding a Merge)",
                    x ? "frame '" : "", frame_label(s, x), x ? "'" : "", name);
    return false;
  }
  return true;
}

/* Calls f(s, so, from_item, to_item) for every edge between items (within their frame). */
static bool for_edges(fr_state *s, bool (*f)(sorter *, int, int, deft_status *), sorter *so,
                      deft_status *st) {
  for (int id = 0; id < s->nops; id++) {
    if (!s->need[id]) continue;
    deft_op *v = s->g->ops[id];
    int x = deft_op_is_enter(v) ? parent_of(s, s->frame_of[id]) : s->frame_of[id];
    int rv = rep(s, v, x);
    for (int k = 0; k < v->ninputs + v->nctrl; k++) {
      const deft_op *u;
      if (k < v->ninputs) {
        if (s->fed(s->fed_ctx, v->inputs[k]) || deft_op_is_back_edge(v, k)) continue;
        u = v->inputs[k].op;
      } else {
        u = v->ctrl[k - v->ninputs];
        if (!s->need[u->id] || s->op_fed(s->fed_ctx, u)) continue;
      }
      int ru = rep(s, u, x);
      if (ru == rv) {
        deft_status_set(st, DEFT_INVALID_ARGUMENT,
                        "%s '%s' takes '%s' from the frame '%s' it enters: an Exit's value "
                        "cannot re-enter its own loop", v->type, v->name, u->name,
                        s->frames[rv - s->nops].name);
        return false;
      }
      if (!f(so, ru, rv, st)) return false;
    }
  }
  return true;
}

static bool count_edge(sorter *so, int from, int to, deft_status *st) {
  (void)st;
  so->cstart[from + 1]++;
  so->indeg[to]++;
  return true;
}

static bool fill_edge(sorter *so, int from, int to, deft_status *st) {
  (void)st;
  so->cons[so->queue[from]++] = to;
  return true;
}

bool deft_frames_order(deft_graph *g, const bool *need, bool (*fed)(const void *, deft_output),
                       bool (*op_fed)(const void *, const deft_op *), const void *fed_ctx,
                       deft_frames_result *out, deft_status *st) {
  memset(out, 0, sizeof *out);
  fr_state s = {.g = g, .need = need, .fed = fed, .op_fed = op_fed, .fed_ctx = fed_ctx,
                .nops = g->nops};
  s.frame_of = deft_malloc(sizeof(int) * (size_t)(s.nops + 1));
  if (!s.frame_of) return oom(st);
  for (int i = 0; i < s.nops; i++) s.frame_of[i] = -1;
  bool ok = assign_frames(&s, st) && check_loops_end(&s, st);
  if (!ok || s.nframes == 0) {
    deft_free(s.frame_of);
    deft_free(s.frames);
    return ok;
  }
  int total = s.nops + s.nframes, n = 0;
  for (int i = 0; i < s.nops; i++) n += need[i];
  sorter so = {0};
  so.indeg = deft_calloc((size_t)total + 1, sizeof(int));
  so.cstart = deft_calloc((size_t)total + 2, sizeof(int));
  so.queue = deft_malloc(sizeof(int) * ((size_t)total + 1));
  so.order = deft_malloc(sizeof(deft_op *) * ((size_t)n + 1));
  so.frame_begin = deft_malloc(sizeof(int) * (size_t)s.nframes);
  so.frame_end = deft_malloc(sizeof(int) * (size_t)s.nframes);
  ok = (so.indeg && so.cstart && so.queue && so.order && so.frame_begin && so.frame_end) ||
       oom(st);
  ok = ok && for_edges(&s, count_edge, &so, st);
  if (ok) {
    for (int i = 0; i < total; i++) so.cstart[i + 1] += so.cstart[i];
    so.cons = deft_malloc(sizeof(int) * ((size_t)so.cstart[total] + 1));
    ok = so.cons || oom(st);
  }
  if (ok) {
    for (int i = 0; i < total; i++) so.queue[i] = so.cstart[i];
    ok = for_edges(&s, fill_edge, &so, st) && emit(&s, &so, 0, so.queue, st);
  }
  if (ok && so.norder != n) {
    deft_status_set(st, DEFT_INTERNAL, "ordering the loops placed %d of %d ops", so.norder, n);
    ok = false;
  }
  if (ok) {
    for (int f = 0; f < s.nframes; f++) {
      s.frames[f].begin = so.frame_begin[f];
      s.frames[f].end = so.frame_end[f];
    }
    out->order = so.order;
    out->norder = n;
    out->frame_of = s.frame_of;
    out->frames = s.frames;
    out->nframes = s.nframes;
    so.order = NULL;
  } else {
    deft_free(s.frame_of);
    deft_free(s.frames);
  }
  deft_free(so.indeg);
  deft_free(so.cstart);
  deft_free(so.cons);
  deft_free(so.queue);
  deft_free(so.order);
  deft_free(so.frame_begin);
  deft_free(so.frame_end);
  return ok;
}
