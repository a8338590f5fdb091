/* SPDX-License-Identifier: Apache-2.0 */
/* graph/while_grad.c - the gradient of a TF1 while loop, built as TF 1.x builds it.
 *
 * For a loop that ran N iterations, s_{k+1} = body(s_k, x) for k < N:
 * - the forward loop gets a counter ("<loop>/f_count": 0, +1 per iteration; its Exit is N), and
 *   every forward value the gradient needs is pushed on a stack in each iteration (StackV2 made
 *   at the root, StackPushV2 in the loop, each push a control input of the counter's Add, so
 *   the count waits for the pushes);
 * - the gradient loop (frame "gradients/<forward frame>") counts down from N ("b_count",
 *   GreaterEqual 1), carries dL/ds (entered from the Exits' gradients), pops the values in
 *   reverse order (StackPopV2, gated by the count so no pop runs in the final test), and adds
 *   each constant Enter's gradient into an accumulator (Enter of zeros, Add per iteration);
 * - its body is the ordinary gradient walk over the forward body (ys = the NextIterations'
 *   inputs, xs = the Identities and constant Enters), run inside the gradient loop; afterwards
 *   one pass rewires the new ops' inputs: a forward value of this loop becomes a pop, a
 *   constant Enter's value its outside tensor entered again, anything else from outside a
 *   constant Enter of the gradient frame. Nested loops fall out: an inner loop's gradient is
 *   built inside the outer gradient body, and the outer pass stacks what it reads from the
 *   outer forward frame (the inner counter's N included). One stack per value works across
 *   nesting because the gradient visits iterations in exactly the reverse order. */
#include "graph/while_grad.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/ops.h"

static bool oom(deft_graph *g) {
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building a loop's gradient");
  return false;
}

static bool is_type(const deft_op *op, const char *t) { return !strcmp(op->type, t); }

static const char *frame_of_enter(const deft_op *e) {
  const deft_attr *a = deft_op_find_attr(e, "frame_name");
  return a && a->v.kind == DEFT_ATTR_STRING && a->v.u.s.p ? a->v.u.s.p : "";
}

static bool enter_is_constant(const deft_op *e) {
  const deft_attr *a = deft_op_find_attr(e, "is_constant");
  return a && a->v.kind == DEFT_ATTR_BOOL && a->v.u.b;
}

static void loop_free(deft_loop *l) {
  deft_free(l->enter);
  deft_free(l->center);
  deft_free(l->in);
}

/* Consumers over data and control edges (CSR by producer op id). */
typedef struct {
  int *start, *cons;
} csr;

static bool build_csr(deft_graph *g, int n, csr *c) {
  c->start = deft_calloc((size_t)n + 2, sizeof(int));
  if (!c->start) return false;
  for (int i = 0; i < n; i++) {
    deft_op *op = g->ops[i];
    for (int k = 0; k < op->ninputs; k++) c->start[op->inputs[k].op->id + 1]++;
    for (int k = 0; k < op->nctrl; k++) c->start[op->ctrl[k]->id + 1]++;
  }
  for (int i = 0; i < n; i++) c->start[i + 1] += c->start[i];
  c->cons = deft_malloc(sizeof(int) * ((size_t)c->start[n] + 1));
  int *fill = deft_malloc(sizeof(int) * ((size_t)n + 1));
  if (!c->cons || !fill) return deft_free(fill), false;
  memcpy(fill, c->start, sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) {
    deft_op *op = g->ops[i];
    for (int k = 0; k < op->ninputs; k++) c->cons[fill[op->inputs[k].op->id]++] = i;
    for (int k = 0; k < op->nctrl; k++) c->cons[fill[op->ctrl[k]->id]++] = i;
  }
  deft_free(fill);
  return true;
}

/* Fills loop l from its LoopCond; sets l->bad when the structure is not TF's. */
static bool discover(deft_graph *g, int n, const csr *c, deft_op *lc, deft_loop *l) {
  memset(l, 0, sizeof *l);
  l->lc = lc;
  l->parent = -1;
  const char *slash = strrchr(lc->name, '/');
  snprintf(l->scope, sizeof l->scope, "%.*s", slash ? (int)(slash - lc->name) : 0, lc->name);
  int nsw = 0;
  for (int k = c->start[lc->id]; k < c->start[lc->id + 1]; k++)
    nsw += is_type(g->ops[c->cons[k]], "Switch");
  l->enter = deft_calloc((size_t)(6 * nsw + 1), sizeof(deft_op *));
  l->in = deft_calloc((size_t)n + 1, 1);
  if (!l->enter || !l->in) return false;
  l->merge = l->enter + nsw;
  l->sw = l->merge + nsw;
  l->ident = l->sw + nsw;
  l->next = l->ident + nsw;
  l->exit = l->next + nsw;
  for (int k = c->start[lc->id]; k < c->start[lc->id + 1]; k++) {
    deft_op *sw = g->ops[c->cons[k]];
    if (!is_type(sw, "Switch") || sw->inputs[1].op != lc) continue;
    int i = l->nvars;
    deft_op *m = sw->inputs[0].op;
    if (!is_type(m, "Merge") || m->ninputs != 2) {
      l->bad = "a loop Switch does not take a two-input Merge";
      return true;
    }
    for (int j = 0; j < 2; j++) {
      deft_op *u = m->inputs[j].op;
      if (is_type(u, "Enter"))
        l->enter[i] = u;
      else if (is_type(u, "NextIteration"))
        l->next[i] = u;
    }
    if (!l->enter[i] || !l->next[i]) {
      l->bad = "a loop Merge does not join an Enter and a NextIteration";
      return true;
    }
    l->merge[i] = m;
    l->sw[i] = sw;
    for (int q = c->start[sw->id]; q < c->start[sw->id + 1]; q++) {
      deft_op *u = g->ops[c->cons[q]];
      for (int j = 0; j < u->ninputs; j++) {
        if (u->inputs[j].op != sw) continue;
        if (u->inputs[j].index == 1 && is_type(u, "Identity") && !l->ident[i]) l->ident[i] = u;
        if (u->inputs[j].index == 0 && is_type(u, "Exit")) l->exit[i] = u;
      }
    }
    l->nvars++;
  }
  if (l->nvars == 0) {
    l->bad = "no Switch takes its LoopCond";
    return true;
  }
  l->frame = frame_of_enter(l->enter[0]);
  int ncon = 0;
  for (int i = 0; i < n; i++)
    if (is_type(g->ops[i], "Enter") && enter_is_constant(g->ops[i]) &&
        !strcmp(frame_of_enter(g->ops[i]), l->frame))
      ncon++;
  l->center = deft_calloc((size_t)ncon + 1, sizeof(deft_op *));
  int *stack = deft_malloc(sizeof(int) * ((size_t)n + 1));
  if (!l->center || !stack) return deft_free(stack), false;
  for (int i = 0; i < n; i++)
    if (is_type(g->ops[i], "Enter") && enter_is_constant(g->ops[i]) &&
        !strcmp(frame_of_enter(g->ops[i]), l->frame))
      l->center[l->nconst++] = g->ops[i];
  /* inside: everything reachable from the Enters short of this loop's Exits */
  int sp = 0;
  for (int i = 0; i < l->nvars; i++) stack[sp++] = l->enter[i]->id, l->in[l->enter[i]->id] = 1;
  for (int j = 0; j < l->nconst; j++)
    if (!l->in[l->center[j]->id]) stack[sp++] = l->center[j]->id, l->in[l->center[j]->id] = 1;
  while (sp) {
    int u = stack[--sp];
    bool stop = false;
    for (int i = 0; i < l->nvars; i++) stop |= l->exit[i] && l->exit[i]->id == u;
    if (stop) continue;
    for (int k = c->start[u]; k < c->start[u + 1]; k++)
      if (!l->in[c->cons[k]]) l->in[c->cons[k]] = 1, stack[sp++] = c->cons[k];
  }
  for (int i = 0; i < n; i++) l->size += l->in[i];
  deft_free(stack);
  return true;
}

bool deft_grad_env_init(deft_grad_env *env, deft_graph *g, const char *root_scope) {
  memset(env, 0, sizeof *env);
  env->g = g;
  env->nops0 = g->nops;
  env->root_scope = root_scope;
  int n = g->nops, nlc = 0;
  for (int i = 0; i < n; i++) nlc += is_type(g->ops[i], "LoopCond");
  if (!nlc) return true;
  csr c = {0};
  env->loops = deft_calloc((size_t)nlc, sizeof *env->loops);
  bool ok = env->loops && build_csr(g, n, &c);
  for (int i = 0; ok && i < n; i++)
    if (is_type(g->ops[i], "LoopCond"))
      ok = discover(g, n, &c, g->ops[i], &env->loops[env->nloops++]);
  deft_free(c.start);
  deft_free(c.cons);
  if (!ok) return oom(g);
  for (int a = 0; a < env->nloops; a++) {
    int best = -1;
    for (int b = 0; b < env->nloops; b++)
      if (b != a && env->loops[b].in && env->loops[b].in[env->loops[a].lc->id] &&
          (best < 0 || env->loops[b].size < env->loops[best].size))
        best = b;
    env->loops[a].parent = best;
  }
  return true;
}

void deft_grad_env_free(deft_grad_env *env) {
  for (int i = 0; i < env->nloops; i++) loop_free(&env->loops[i]);
  deft_free(env->loops);
  deft_free(env->fwd);
}

int deft_loop_of(const deft_grad_env *env, const deft_op *op, int active) {
  if (op->id >= env->nops0) return -1;
  for (int l = 0; l < env->nloops; l++)
    if (env->loops[l].parent == active && env->loops[l].in && env->loops[l].in[op->id]) return l;
  return -1;
}

bool deft_loop_is_exit(const deft_grad_env *env, int l, const deft_op *op) {
  const deft_loop *L = &env->loops[l];
  for (int i = 0; i < L->nvars; i++)
    if (L->exit[i] == op) return true;
  return false;
}

int deft_loop_num_exits(const deft_grad_env *env, int l) {
  int n = 0;
  for (int i = 0; i < env->loops[l].nvars; i++) n += env->loops[l].exit[i] != NULL;
  return n;
}

int deft_loop_num_inputs(const deft_grad_env *env, int l) {
  return env->loops[l].nvars + env->loops[l].nconst;
}

deft_output deft_loop_input(const deft_grad_env *env, int l, int k) {
  const deft_loop *L = &env->loops[l];
  return k < L->nvars ? L->enter[k]->inputs[0] : L->center[k - L->nvars]->inputs[0];
}

/* ---- building ---- */

static bool is_float_type(int t) { return t == DEFT_FLOAT || t == DEFT_DOUBLE; }

/* Records that op (made by this call) lives in a forward frame (-1 root, else loop index). */
static bool mark_fwd(deft_grad_env *env, deft_op *op, int frame) {
  if (!op) return false;
  int k = op->id - env->nops0;
  if (k >= env->fwd_cap) {
    int ncap = env->fwd_cap ? env->fwd_cap : 64;
    while (ncap <= k) ncap *= 2;
    int *n = deft_realloc(env->fwd, sizeof *n * (size_t)ncap);
    if (!n) return oom(env->g);
    for (int i = env->fwd_cap; i < ncap; i++) n[i] = -2;
    env->fwd = n;
    env->fwd_cap = ncap;
  }
  env->fwd[k] = frame;
  return true;
}

static int fwd_frame(const deft_grad_env *env, const deft_op *op) {
  int k = op->id - env->nops0;
  return k >= 0 && k < env->fwd_cap ? env->fwd[k] : -2;
}

static bool add_ctrl(deft_graph *g, deft_op *op, deft_op *ctrl) {
  for (int i = 0; i < op->nctrl; i++)
    if (op->ctrl[i] == ctrl) return true;
  deft_op **a = deft_arena_alloc(&g->arena, sizeof *a * (size_t)(op->nctrl + 1));
  if (!a) return oom(g);
  if (op->nctrl) memcpy(a, op->ctrl, sizeof *a * (size_t)op->nctrl);
  a[op->nctrl] = ctrl;
  pthread_mutex_lock(&g->mu);
  op->ctrl = a;
  op->nctrl++;
  pthread_mutex_unlock(&g->mu);
  return true;
}

static deft_op *mk_enter(deft_graph *g, deft_output x, const char *frame, bool constant,
                         const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Enter", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_string(b, "frame_name", frame, strlen(frame));
  deft_op_builder_set_attr_bool(b, "is_constant", constant);
  deft_op_builder_set_attr_int(b, "parallel_iterations", 10);
  return deft_op_builder_finish(b);
}

static deft_output mk1(deft_graph *g, const char *type, deft_output x, deft_op *ctrl,
                       const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  if (ctrl) deft_op_builder_add_control_input(b, ctrl);
  return (deft_output){deft_op_builder_finish(b), 0};
}

static bool back_edge(deft_graph *g, deft_op *merge, deft_output next) {
  deft_output ni = mk1(g, "NextIteration", next, NULL, "NextIteration");
  if (!ni.op) return false;
  deft_status *st = deft_status_new();
  if (!st) return oom(g);
  bool ok = deft_op_patch_back_edge(merge, 1, ni, st);
  if (!ok) deft_graph_fail_with(g, st);
  deft_status_free(st);
  return ok;
}

/* A gradient-loop variable: Enter (not constant) of init, Merge, Switch on lc, Identity. */
typedef struct {
  deft_op *enter, *merge, *sw;
  deft_output id;
} gvar;

static bool grad_var(deft_graph *g, const char *frame, deft_output init, deft_output lc, gvar *v) {
  v->enter = mk_enter(g, init, frame, false, "Enter");
  if (!v->enter) return false;
  deft_output in[2] = {{v->enter, 0}, {v->enter, 0}};
  v->merge = deft_merge(g, in, 2, "Merge").op;
  if (!v->merge) return false;
  v->sw = deft_switch(g, (deft_output){v->merge, 0}, lc, "Switch").op;
  if (!v->sw) return false;
  v->id = deft_identity(g, (deft_output){v->sw, 1}, "Identity");
  return v->id.op != NULL;
}

typedef struct {
  deft_grad_env *env;
  int l;
  const char *gframe;
  deft_op *pivot; /* the gradient loop's index (Sub), gates pops and Consts */
  deft_op *fcount_add;
  deft_op *fsync; /* ControlTrigger between the pushes and the counter (never dead) */
  int w0;
  char *skip; /* by id - w0: 1 = not an op of the gradient frame (parent level, structural) */
  int skip_n;
  deft_output *from, *to; /* rewiring cache */
  int nmap, map_cap;
} fixer;

/* kind 1: an op of the parent level (its consumers here need an Enter); kind 2: a structural
 * Enter of the gradient loop (its input is the parent's, its output the gradient frame's). */
static bool set_skip(fixer *f, deft_op *op, char kind) {
  if (!op) return false;
  int k = op->id - f->w0;
  if (k >= f->skip_n) {
    int ncap = f->skip_n ? f->skip_n : 64;
    while (ncap <= k) ncap *= 2;
    char *n = deft_realloc(f->skip, (size_t)ncap);
    if (!n) return oom(f->env->g);
    memset(n + f->skip_n, 0, (size_t)(ncap - f->skip_n));
    f->skip = n;
    f->skip_n = ncap;
  }
  f->skip[k] = kind;
  return true;
}

static char skipped(const fixer *f, const deft_op *op) {
  int k = op->id - f->w0;
  return k >= 0 && k < f->skip_n ? f->skip[k] : 0;
}

static bool map_put(fixer *f, deft_output a, deft_output b) {
  if (f->nmap == f->map_cap) {
    int ncap = f->map_cap ? 2 * f->map_cap : 16;
    deft_output *x = deft_realloc(f->from, sizeof *x * (size_t)ncap);
    if (!x) return oom(f->env->g);
    f->from = x;
    deft_output *y = deft_realloc(f->to, sizeof *y * (size_t)ncap);
    if (!y) return oom(f->env->g);
    f->to = y;
    f->map_cap = ncap;
  }
  f->from[f->nmap] = a;
  f->to[f->nmap++] = b;
  return true;
}

static deft_output map_get(const fixer *f, deft_output a) {
  for (int i = 0; i < f->nmap; i++)
    if (f->from[i].op == a.op && f->from[i].index == a.index) return f->to[i];
  return (deft_output){NULL, 0};
}

/* t (from outside the gradient frame) as a constant Enter of it. */
static deft_output enter_grad(fixer *f, deft_output t) {
  deft_output r = map_get(f, t);
  if (r.op) return r;
  r.op = mk_enter(f->env->g, t, f->gframe, true, "Enter");
  r.index = 0;
  if (!r.op || !map_put(f, t, r)) return (deft_output){NULL, 0};
  return r;
}

/* The forward frames from the root down to loop l (outermost first). */
static int frame_chain(const deft_grad_env *env, int l, int *chain) {
  int n = 0;
  for (int a = l; a >= 0; a = env->loops[a].parent) n++;
  int k = n;
  for (int a = l; a >= 0; a = env->loops[a].parent) chain[--k] = a;
  return n;
}

static deft_output stacked(fixer *f, deft_output t);

/* The cond branch t lies in inside loop l's body: the nearest Switch (not one of the loop's)
 * that t depends on without a Merge in between, and which of its outputs; false if none. */
static bool guard_of(const fixer *f, deft_output t, deft_op **sw, int *branch) {
  const deft_loop *L = &f->env->loops[f->l];
  deft_graph *g = f->env->g;
  int n = f->env->nops0;
  char *seen = deft_calloc((size_t)n + 1, 1);
  deft_output *stack = deft_malloc(sizeof *stack * ((size_t)n + 1));
  bool found = false;
  int sp = 0;
  if (!seen || !stack) goto out;
  stack[sp++] = t;
  while (sp && !found) {
    deft_output o = stack[--sp];
    deft_op *op = o.op;
    if (op->id >= n || !L->in[op->id]) continue;
    if (is_type(op, "Switch")) {
      bool loop_switch = false;
      for (int i = 0; i < L->nvars; i++) loop_switch |= L->sw[i] == op;
      if (!loop_switch) *sw = op, *branch = o.index, found = true;
      continue;
    }
    if (seen[op->id] || is_type(op, "Merge") || is_type(op, "Enter") || is_type(op, "Exit"))
      continue;
    seen[op->id] = 1;
    for (int k = 0; k < op->ninputs; k++) stack[sp++] = op->inputs[k];
  }
out:
  deft_free(seen);
  deft_free(stack);
  (void)g;
  return found;
}

/* What gates the pop of t: the gradient loop's index, or, for a value inside a cond branch,
 * an Identity of that branch of a Switch on the (popped) predicate, so the pop runs exactly in
 * the iterations whose push ran. */
static deft_op *pop_gate(fixer *f, deft_output t) {
  deft_op *sw;
  int branch;
  if (!guard_of(f, t, &sw, &branch)) return f->pivot;
  deft_output p = stacked(f, sw->inputs[1]);
  if (!p.op) return NULL;
  deft_output gs = deft_switch(f->env->g, (deft_output){f->pivot, 0}, p, "pop_gate");
  if (!gs.op) return NULL;
  return deft_identity(f->env->g, deft_op_output(gs.op, branch), "pop_gate").op;
}

/* A forward value t of loop l, saved per iteration: pushed in the forward loop, popped in the
 * gradient loop. */
static deft_output stacked(fixer *f, deft_output t) {
  deft_output r = map_get(f, t);
  if (r.op) return r;
  deft_grad_env *env = f->env;
  deft_graph *g = env->g;
  deft_loop *L = &env->loops[f->l];
  int chain[64];
  if (env->nloops > 64) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED, "gradients: loops nested more than 64 deep");
    return r;
  }
  int nchain = frame_chain(env, f->l, chain);
  char scope[1100];
  snprintf(scope, sizeof scope, "%s/", L->scope);
  if (!deft_graph_push_scope(g, scope)) return r;
  deft_output h = {NULL, 0};
  deft_output ms = deft_const_int32(g, -1, "f_acc/max_size");
  if (ms.op && mark_fwd(env, ms.op, -1)) {
    deft_op_builder *b = deft_op_builder_new(g, "StackV2", "f_acc");
    deft_op_builder_add_input(b, ms);
    deft_op_builder_set_attr_type(b, "elem_type", deft_output_dtype(t));
    char sname[1100];
    snprintf(sname, sizeof sname, "%s:%d", t.op->name, t.index);
    deft_op_builder_set_attr_string(b, "stack_name", sname, strlen(sname));
    h.op = deft_op_builder_finish(b);
  }
  deft_output hf = h;
  bool ok = h.op && mark_fwd(env, h.op, -1);
  for (int i = 0; ok && i < nchain; i++) {
    hf.op = mk_enter(g, hf, env->loops[chain[i]].frame, true, "Enter");
    ok = hf.op && mark_fwd(env, hf.op, chain[i]);
  }
  deft_op *push = NULL;
  if (ok) {
    deft_op_builder *b = deft_op_builder_new(g, "StackPushV2", "StackPushV2");
    deft_op_builder_add_input(b, hf);
    deft_op_builder_add_input(b, t);
    if (L->ident[0]) deft_op_builder_add_control_input(b, L->ident[0]);
    push = deft_op_builder_finish(b);
    ok = push && mark_fwd(env, push, f->l);
    /* the count waits for the pushes through a ControlTrigger: a push in an untaken cond
     * branch is dead, and would otherwise kill the count */
    if (ok && !f->fsync) {
      deft_op_builder *tb = deft_op_builder_new(g, "ControlTrigger", "f_sync");
      if (L->ident[0]) deft_op_builder_add_control_input(tb, L->ident[0]);
      f->fsync = deft_op_builder_finish(tb);
      ok = f->fsync && mark_fwd(env, f->fsync, f->l) && add_ctrl(g, f->fcount_add, f->fsync);
    }
    ok = ok && add_ctrl(g, f->fsync, push);
  }
  deft_graph_pop_scope(g);
  if (!ok) return r;
  deft_output he = enter_grad(f, h);
  deft_op *gate = he.op ? pop_gate(f, t) : NULL;
  if (!gate) return r;
  deft_op_builder *b = deft_op_builder_new(g, "StackPopV2", "StackPopV2");
  deft_op_builder_add_input(b, he);
  deft_op_builder_add_control_input(b, gate);
  deft_op_builder_set_attr_type(b, "elem_type", deft_output_dtype(t));
  r.op = deft_op_builder_finish(b);
  if (!r.op) return r;
  r.op->out_shapes[0] = deft_output_shape(t);
  if (!map_put(f, t, r)) return (deft_output){NULL, 0};
  return r;
}

/* Rewires the inputs of the gradient frame's ops made in [w0, w1). */
static bool fix_window(fixer *f, int w1) {
  deft_grad_env *env = f->env;
  deft_graph *g = env->g;
  deft_loop *L = &env->loops[f->l];
  for (int id = f->w0; id < w1 && deft_graph_ok(g); id++) {
    deft_op *op = g->ops[id];
    if (skipped(f, op) || fwd_frame(env, op) != -2) continue;
    for (int k = 0; k < op->ninputs; k++) {
      deft_output u = op->inputs[k];
      deft_output r = {NULL, 0};
      if (u.op->id >= env->nops0) {
        int fr = fwd_frame(env, u.op);
        if (fr == f->l)
          r = stacked(f, u);
        else if (fr != -2 || u.op->id < f->w0 || skipped(f, u.op) == 1)
          r = enter_grad(f, u);
        else
          continue; /* an op of the gradient frame */
      } else if (L->in[u.op->id]) {
        bool is_const = false;
        for (int j = 0; j < L->nconst; j++) is_const |= L->center[j] == u.op;
        r = is_const ? enter_grad(f, u.op->inputs[0]) : stacked(f, u);
      } else {
        r = enter_grad(f, u);
      }
      if (!r.op) return false;
      pthread_mutex_lock(&g->mu);
      op->inputs[k] = r;
      pthread_mutex_unlock(&g->mu);
    }
    if (op->ninputs == 0 && op->nctrl == 0 && !add_ctrl(g, op, f->pivot)) return false;
  }
  return deft_graph_ok(g);
}

/* The cond branch of the gradient loop that gradient c lies in (the nearest Switch on another
 * predicate than the loop's, ops of this gradient only, no Merge in between); false if none. */
static bool grad_guard(const fixer *f, deft_output c, deft_output lc, deft_op **sw, int *branch) {
  deft_graph *g = f->env->g;
  int n = g->nops, sp = 0;
  deft_output *stack = deft_malloc(sizeof *stack * ((size_t)n + 1));
  char *seen = deft_calloc((size_t)n + 1, 1);
  bool found = false;
  if (stack && seen) stack[sp++] = c;
  while (sp && !found) {
    deft_output o = stack[--sp];
    deft_op *op = o.op;
    if (op->id < f->w0 || seen[op->id]) continue;
    seen[op->id] = 1;
    if (is_type(op, "Switch")) {
      if (op->inputs[1].op != lc.op && !is_type(op->inputs[1].op, "LoopCond"))
        *sw = op, *branch = o.index, found = true;
      continue;
    }
    if (is_type(op, "Merge") || is_type(op, "Enter") || is_type(op, "Exit")) continue;
    for (int k = 0; k < op->ninputs; k++) stack[sp++] = op->inputs[k];
  }
  deft_free(stack);
  deft_free(seen);
  return found;
}

/* The forward counter: its Add (to hang the pushes on) and its Exit (N). */
static bool forward_counter(deft_grad_env *env, int l, deft_op **add, deft_output *n) {
  deft_graph *g = env->g;
  deft_loop *L = &env->loops[l];
  char scope[1100];
  snprintf(scope, sizeof scope, "%s/", L->scope);
  if (!deft_graph_push_scope(g, scope)) return false;
  int par = L->parent;
  bool ok = false;
  deft_op *c0 = deft_const_int32(g, 0, "f_count_init").op;
  if (!c0 || !mark_fwd(env, c0, par) || !add_ctrl(g, c0, L->enter[0]->inputs[0].op)) goto out;
  deft_op *e = mk_enter(g, (deft_output){c0, 0}, L->frame, false, "f_count");
  if (!e || !mark_fwd(env, e, l)) goto out;
  deft_output in[2] = {{e, 0}, {e, 0}};
  deft_output m = deft_merge(g, in, 2, "f_count_1");
  if (!m.op || !mark_fwd(env, m.op, l)) goto out;
  deft_output sw = deft_switch(g, m, (deft_output){L->lc, 0}, "Switch");
  if (!sw.op || !mark_fwd(env, sw.op, l)) goto out;
  deft_output id = deft_identity(g, deft_op_output(sw.op, 1), "Identity");
  if (!id.op || !mark_fwd(env, id.op, l)) goto out;
  deft_output one = deft_const_int32(g, 1, "add/y");
  if (!one.op || !mark_fwd(env, one.op, l) || !add_ctrl(g, one.op, id.op)) goto out;
  deft_output a = deft_add(g, id, one, "add");
  if (!a.op || !mark_fwd(env, a.op, l)) goto out;
  if (!back_edge(g, m.op, a) || !mark_fwd(env, g->ops[g->nops - 1], l)) goto out;
  deft_output x = mk1(g, "Exit", deft_op_output(sw.op, 0), NULL, "f_count_2");
  if (!x.op || !mark_fwd(env, x.op, par)) goto out;
  *add = a.op;
  *n = x;
  ok = true;
out:
  deft_graph_pop_scope(g);
  return ok && deft_graph_ok(g);
}

bool deft_loop_gradient(deft_grad_env *env, int l, const deft_output *exit_grads, deft_output *dx) {
  deft_graph *g = env->g;
  deft_loop *L = &env->loops[l];
  int nin = L->nvars + L->nconst;
  for (int k = 0; k < nin; k++) dx[k] = (deft_output){NULL, 0};
  if (L->bad) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED, "gradients: while loop '%s' (LoopCond '%s'): %s",
                    L->scope, L->lc->name, L->bad);
    return false;
  }
  bool any = false;
  for (int i = 0; i < L->nvars; i++) any |= exit_grads[i].op != NULL;
  if (!any) return true;
  /* the float loop variables carry gradients; each needs its Identity */
  int *fv = deft_malloc(sizeof(int) * (size_t)(L->nvars + 1));
  int *fc = deft_malloc(sizeof(int) * (size_t)(L->nconst + 1));
  gvar *gv = deft_calloc((size_t)L->nvars + 1, sizeof *gv);
  deft_output *ys = deft_calloc((size_t)nin + 1, sizeof *ys);
  deft_output *gys = deft_calloc((size_t)nin + 1, sizeof *gys);
  deft_output *xs = deft_calloc((size_t)nin + 1, sizeof *xs);
  deft_output *bdx = deft_calloc((size_t)nin + 1, sizeof *bdx);
  fixer f = {.env = env, .l = l};
  bool ok = false;
  char scope[1100], gframe[1100];
  if (!fv || !fc || !gv || !ys || !gys || !xs || !bdx) {
    oom(g);
    goto done;
  }
  int nf = 0, ncf = 0;
  for (int i = 0; i < L->nvars; i++) {
    if (!is_float_type(L->enter[i]->out_types[0])) continue;
    if (!L->ident[i]) {
      deft_graph_fail(g, DEFT_UNIMPLEMENTED,
                      "gradients: while loop '%s': loop variable %d ('%s') has no Identity on "
                      "its Switch's true output",
                      L->scope, i, L->enter[i]->name);
      goto done;
    }
    fv[nf++] = i;
  }
  for (int j = 0; j < L->nconst; j++)
    if (is_float_type(L->center[j]->out_types[0])) fc[ncf++] = j;
  if (!nf) {
    ok = true;
    goto done;
  }
  deft_output n;
  if (!forward_counter(env, l, &f.fcount_add, &n)) goto done;
  snprintf(gframe, sizeof gframe, "%s/%s", env->root_scope, L->frame);
  f.gframe = gframe;
  f.w0 = g->nops;
  snprintf(scope, sizeof scope, "%s/%s/", env->root_scope, L->scope);
  if (!deft_graph_push_scope(g, scope)) goto done;
  /* the initial gradients, at the parent level */
  deft_output *d0 = bdx; /* reused below after the body walk */
  for (int q = 0; q < nf; q++) {
    int i = fv[q];
    d0[q] = exit_grads[i];
    if (!d0[q].op) {
      d0[q] = deft_zeros_like(g, L->exit[i] ? (deft_output){L->exit[i], 0} : L->enter[i]->inputs[0],
                              "zeros_like");
      if (!d0[q].op || !set_skip(&f, d0[q].op, 1)) goto pop;
    }
  }
  /* the count-down */
  deft_op *be = mk_enter(g, n, gframe, false, "b_count");
  if (!be || !set_skip(&f, be, 2)) goto pop;
  deft_output bin[2] = {{be, 0}, {be, 0}};
  deft_output bm = deft_merge(g, bin, 2, "b_count_1");
  deft_output one = deft_const_int32(g, 1, "b_count/one");
  if (!one.op || !add_ctrl(g, one.op, bm.op)) goto pop;
  deft_output ge = deft_greater_equal(g, bm, one, "GreaterEqual");
  deft_output lc = mk1(g, "LoopCond", ge, NULL, "b_count_2");
  deft_output bsw = deft_switch(g, bm, lc, "b_count_3");
  if (!bsw.op) goto pop;
  deft_output idx = deft_sub(g, deft_op_output(bsw.op, 1), one, "Sub");
  if (!idx.op || !back_edge(g, bm.op, idx)) goto pop;
  if (!mk1(g, "Exit", deft_op_output(bsw.op, 0), NULL, "b_count_4").op) goto pop;
  f.pivot = idx.op;
  for (int q = 0; q < nf; q++) {
    if (!grad_var(g, gframe, d0[q], lc, &gv[q]) || !set_skip(&f, gv[q].enter, 2)) goto pop;
    ys[q] = L->next[fv[q]]->inputs[0];
    gys[q] = gv[q].id;
    xs[q] = (deft_output){L->ident[fv[q]], 0};
  }
  for (int q = 0; q < ncf; q++) xs[nf + q] = (deft_output){L->center[fc[q]], 0};
  deft_graph_pop_scope(g);
  /* the body's gradient, inside the gradient loop */
  if (!deft_gradients_loop_body(env, l, ys, nf, xs, nf + ncf, gys, bdx)) goto done;
  if (!deft_graph_push_scope(g, scope)) goto done;
  for (int q = 0; q < nf; q++) {
    deft_output nx = bdx[q].op ? bdx[q] : deft_zeros_like(g, gv[q].id, "zeros_like");
    if (!nx.op || !back_edge(g, gv[q].merge, nx)) goto pop;
    deft_output x = mk1(g, "Exit", (deft_output){gv[q].sw, 0}, NULL, "Exit");
    if (!x.op) goto pop;
    dx[fv[q]] = x;
  }
  for (int q = 0; q < ncf; q++) {
    deft_output c = bdx[nf + q];
    if (!c.op) continue;
    deft_op *ce = L->center[fc[q]];
    deft_output z = deft_zeros_like(g, ce->inputs[0], "zeros_like");
    gvar acc;
    if (!z.op || !set_skip(&f, z.op, 1) || !grad_var(g, gframe, z, lc, &acc) ||
        !set_skip(&f, acc.enter, 2))
      goto pop;
    /* a gradient from inside a cond branch is dead in the iterations that took the other
     * branch: there the other branch adds zeros, so exactly one Merge input lives */
    deft_op *gsw;
    int br;
    if (grad_guard(&f, c, lc, &gsw, &br)) {
      deft_output z2 = deft_zeros_like(g, acc.id, "zeros_like");
      deft_output s2 = deft_switch(g, z2, gsw->inputs[1], "Switch");
      if (!s2.op) goto pop;
      deft_output pair[2] = {c, deft_identity(g, deft_op_output(s2.op, 1 - br), "Identity")};
      c = deft_merge(g, pair, 2, "Merge");
      if (!c.op) goto pop;
    }
    deft_output sum = deft_add(g, acc.id, c, "Add");
    if (!sum.op || !back_edge(g, acc.merge, sum)) goto pop;
    deft_output x = mk1(g, "Exit", (deft_output){acc.sw, 0}, NULL, "Exit");
    if (!x.op) goto pop;
    dx[L->nvars + fc[q]] = x;
  }
  if (!fix_window(&f, g->nops)) goto pop;
  ok = true;
pop:
  deft_graph_pop_scope(g);
done:
  deft_free(fv);
  deft_free(fc);
  deft_free(gv);
  deft_free(ys);
  deft_free(gys);
  deft_free(xs);
  deft_free(bdx);
  deft_free(f.skip);
  deft_free(f.from);
  deft_free(f.to);
  if (!ok || !deft_graph_ok(g)) {
    for (int k = 0; k < nin; k++) dx[k] = (deft_output){NULL, 0};
    return false;
  }
  return true;
}
