/* SPDX-License-Identifier: Apache-2.0 */
/* graph/while_loop.c - deft_while_loop: TF 1.x's tf.while_loop as graph building.
 *
 * The loop is built in TF's order (Enters, Merges, the condition, LoopCond, Switches,
 * Identities, the body, NextIterations patched into the Merges, Exits), then one pass over the
 * ops the callbacks made puts them in the loop's frame: every input from outside the loop gets
 * a constant Enter (one per outside tensor, named after its first consumer), and ops without
 * inputs get a control input from the pivot (the first Merge for the condition, the first
 * Identity for the body). Variables created inside (a cell's first call) are left outside: the
 * variable, its initializer subgraph and its read. The pass runs after the body is built, so an
 * inner loop's Enters of outer values get the outer loop's Enters when the outer pass runs. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/control_flow.h"
#include "deft/ops.h"
#include "graph/graph_internal.h"

deft_while_options deft_while_options_default(void) {
  deft_while_options o;
  memset(&o, 0, sizeof o);
  o.parallel_iterations = 10;
  return o;
}

/* TF's _ShapeLessThanOrEqual: `a` (a value's shape) is admitted by `b` (an invariant). */
static bool shape_admits(deft_shape b, deft_shape a) {
  if (b.rank < 0) return true;
  if (a.rank != b.rank) return false;
  for (int i = 0; i < b.rank; i++)
    if (b.dims[i] >= 0 && a.dims[i] != b.dims[i]) return false;
  return true;
}

typedef struct loop_build {
  deft_graph *g;
  const char *scope; /* full name scope, e.g. "while" */
  const char *frame;
  int64_t parallel;
  int start; /* first op id of the loop */
  int cond_begin, cond_end, body_begin, body_end;
  deft_op *cond_pivot, *body_pivot;
  /* outside tensor -> its constant Enter */
  deft_output *ext_src, *ext_enter;
  int next, ext_cap;
  char *lifted; /* by op id - start: 1 = a variable's op, left outside the loop */
  int nlifted;
} loop_build;

static deft_op *enter_op(loop_build *lb, deft_output x, bool is_constant, const char *name) {
  deft_op_builder *b = deft_op_builder_new(lb->g, "Enter", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_string(b, "frame_name", lb->frame, strlen(lb->frame));
  deft_op_builder_set_attr_bool(b, "is_constant", is_constant);
  deft_op_builder_set_attr_int(b, "parallel_iterations", lb->parallel);
  return deft_op_builder_finish(b);
}

static deft_output one_input(deft_graph *g, const char *type, deft_output x, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  deft_op *op = deft_op_builder_finish(b);
  return (deft_output){op, 0};
}

static bool oom(deft_graph *g, const char *scope) {
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "while loop '%s': out of memory", scope);
  return false;
}

/* Marks the ops of variables made inside the loop (and their initializers) as outside it. */
static void mark_lifted(loop_build *lb, int end) {
  deft_graph *g = lb->g;
  int n = end - lb->start;
  int *stack = deft_malloc(sizeof(int) * ((size_t)n + 1));
  if (!stack) return;
  for (int id = lb->start; id < end; id++) {
    deft_op *op = g->ops[id];
    if (!op->var) continue;
    int sp = 0;
    deft_op *seeds[3] = {op, op->var->assign, op->var->read};
    for (int s = 0; s < 3; s++)
      if (seeds[s] && seeds[s]->id >= lb->start && seeds[s]->id < end &&
          !lb->lifted[seeds[s]->id - lb->start]) {
        lb->lifted[seeds[s]->id - lb->start] = 1;
        stack[sp++] = seeds[s]->id;
      }
    while (sp) {
      deft_op *u = g->ops[stack[--sp]];
      if (u == op->var->read) continue; /* the read's input is the variable itself */
      for (int k = 0; k < u->ninputs + u->nctrl; k++) {
        deft_op *w = k < u->ninputs ? u->inputs[k].op : u->ctrl[k - u->ninputs];
        if (w->id < lb->start || w->id >= end || lb->lifted[w->id - lb->start]) continue;
        lb->lifted[w->id - lb->start] = 1;
        stack[sp++] = w->id;
      }
    }
  }
  deft_free(stack);
}

static bool is_lifted(const loop_build *lb, int id) {
  return id >= lb->start && id - lb->start < lb->nlifted && lb->lifted[id - lb->start];
}

static bool outside(const loop_build *lb, const deft_op *u) {
  return u->id < lb->start || is_lifted(lb, u->id);
}

/* The constant Enter of outside tensor x, made for its first consumer `op` on first use. */
static deft_output const_enter(loop_build *lb, deft_op *op, deft_output x) {
  for (int i = 0; i < lb->next; i++)
    if (lb->ext_src[i].op == x.op && lb->ext_src[i].index == x.index) return lb->ext_enter[i];
  if (lb->next == lb->ext_cap) {
    int ncap = lb->ext_cap ? 2 * lb->ext_cap : 16;
    deft_output *a = deft_realloc(lb->ext_src, sizeof *a * (size_t)ncap);
    if (!a) return oom(lb->g, lb->scope), (deft_output){NULL, 0};
    lb->ext_src = a;
    deft_output *b = deft_realloc(lb->ext_enter, sizeof *b * (size_t)ncap);
    if (!b) return oom(lb->g, lb->scope), (deft_output){NULL, 0};
    lb->ext_enter = b;
    lb->ext_cap = ncap;
  }
  char scope[1024];
  snprintf(scope, sizeof scope, "%s/", op->name);
  deft_output e = {NULL, 0};
  if (deft_graph_push_scope(lb->g, scope)) {
    e.op = enter_op(lb, x, true, "Enter");
    deft_graph_pop_scope(lb->g);
  }
  if (!e.op) return e;
  lb->ext_src[lb->next] = x;
  lb->ext_enter[lb->next++] = e;
  return e;
}

static bool add_control_input(deft_graph *g, deft_op *op, deft_op *ctrl) {
  deft_op **a = deft_arena_alloc(&g->arena, sizeof *a * (size_t)(op->nctrl + 1));
  if (!a) return false;
  if (op->nctrl) memcpy(a, op->ctrl, sizeof *a * (size_t)op->nctrl);
  a[op->nctrl] = ctrl;
  pthread_mutex_lock(&g->mu);
  op->ctrl = a;
  op->nctrl++;
  pthread_mutex_unlock(&g->mu);
  return true;
}

/* Puts the ops the callbacks built, ids [from, to), in the loop: Enters for outside inputs,
 * the pivot as control input of ops without inputs. */
static bool capture(loop_build *lb, int from, int to, deft_op *pivot) {
  deft_graph *g = lb->g;
  for (int id = from; id < to && deft_graph_ok(g); id++) {
    deft_op *op = g->ops[id];
    if (is_lifted(lb, id)) continue;
    for (int k = 0; k < op->ninputs; k++) {
      deft_output x = op->inputs[k];
      if (!outside(lb, x.op)) continue;
      deft_output e = const_enter(lb, op, x);
      if (!e.op) return false;
      pthread_mutex_lock(&g->mu);
      op->inputs[k] = e;
      pthread_mutex_unlock(&g->mu);
    }
    if (op->ninputs == 0 && op->nctrl == 0 && !add_control_input(g, op, pivot))
      return oom(g, lb->scope);
  }
  return deft_graph_ok(g);
}

/* The original cond/body with the maximum_iterations counter handled here. */
typedef struct {
  deft_while_cond_fn cond;
  deft_while_body_fn body;
  void *user;
  bool counter; /* variable 0 is the iteration counter */
  deft_output max_iter;
} loop_fns;

static bool loop_failed(deft_graph *g, const char *scope, const char *what) {
  if (deft_graph_ok(g))
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "while loop '%s': the %s callback failed", scope,
                    what);
  return false;
}

static bool build(loop_build *lb, const loop_fns *fn, const deft_output *vars, int n,
                  const deft_shape *inv, deft_output *results) {
  deft_graph *g = lb->g;
  bool ok = false;
  deft_op **enter = deft_calloc((size_t)n, sizeof *enter);
  deft_output *merge = deft_calloc((size_t)n, sizeof *merge);
  deft_output *sw = deft_calloc((size_t)n, sizeof *sw);
  deft_output *ident = deft_calloc((size_t)n, sizeof *ident);
  deft_output *next = deft_calloc((size_t)n, sizeof *next);
  if (!enter || !merge || !sw || !ident || !next) {
    oom(g, lb->scope);
    goto done;
  }
  char buf[2][128];
  lb->start = g->nops;
  for (int i = 0; i < n; i++) {
    enter[i] = enter_op(lb, vars[i], false, "Enter");
    if (!enter[i]) goto done;
    enter[i]->out_shapes[0] = inv[i];
  }
  for (int i = 0; i < n; i++) {
    deft_output in[2] = {{enter[i], 0}, {enter[i], 0}};
    merge[i] = deft_merge(g, in, 2, "Merge");
  }
  if (!deft_graph_ok(g)) goto done;
  int off = fn->counter ? 1 : 0;
  /* the condition */
  lb->cond_pivot = merge[0].op;
  lb->cond_begin = g->nops;
  deft_output pred = {NULL, 0};
  deft_output less = {NULL, 0};
  if (fn->counter) less = deft_less(g, merge[0], fn->max_iter, "Less");
  if (!deft_graph_ok(g)) goto done;
  if (!fn->cond(g, merge + off, n - off, fn->user, &pred)) {
    loop_failed(g, lb->scope, "condition");
    goto done;
  }
  if (!deft_graph_ok(g)) goto done;
  if (!pred.op || deft_output_dtype(pred) != DEFT_BOOL || deft_output_shape(pred).rank > 0) {
    deft_graph_fail(
        g, DEFT_INVALID_ARGUMENT,
        "while loop '%s': the condition must give a bool scalar, got %s%s%s", lb->scope,
        pred.op ? deft_dtype_name(deft_output_dtype(pred)) : "no tensor",
        pred.op ? " of shape " : "",
        pred.op ? deft_shape_format(deft_output_shape(pred), buf[0], sizeof buf[0]) : "");
    goto done;
  }
  if (fn->counter) pred = deft_logical_and(g, less, pred, "LogicalAnd");
  lb->cond_end = g->nops;
  deft_output lc = one_input(g, "LoopCond", pred, "LoopCond");
  if (!lc.op) goto done;
  for (int i = 0; i < n; i++) sw[i] = deft_switch(g, merge[i], lc, "Switch");
  for (int i = 0; i < n; i++) ident[i] = deft_identity(g, deft_op_output(sw[i].op, 1), "Identity");
  if (!deft_graph_ok(g)) goto done;
  /* the body */
  lb->body_pivot = ident[0].op;
  lb->body_begin = g->nops;
  if (fn->counter) {
    deft_output one = deft_output_dtype(fn->max_iter) == DEFT_INT64
                          ? deft_const_int64(g, 1, "add/y")
                          : deft_const_int32(g, 1, "add/y");
    next[0] = deft_add(g, ident[0], one, "add");
  }
  if (!deft_graph_ok(g)) goto done;
  if (!fn->body(g, ident + off, n - off, fn->user, next + off)) {
    loop_failed(g, lb->scope, "body");
    goto done;
  }
  if (!deft_graph_ok(g)) goto done;
  lb->body_end = g->nops;
  for (int i = off; i < n; i++) {
    int vi = i - off;
    if (!next[i].op) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "while loop '%s': the body gave no value for loop variable %d (it must give "
                      "one per loop variable, %d)",
                      lb->scope, vi, n - off);
      goto done;
    }
    if (deft_output_dtype(next[i]) != deft_output_dtype(vars[i])) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "while loop '%s': loop variable %d enters the loop as %s, but the body "
                      "gives %s ('%s:%d')",
                      lb->scope, vi, deft_dtype_name(deft_output_dtype(vars[i])),
                      deft_dtype_name(deft_output_dtype(next[i])), deft_op_name(next[i].op),
                      next[i].index);
      goto done;
    }
    if (!shape_admits(inv[i], deft_output_shape(next[i]))) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "while loop '%s': loop variable %d enters the loop with shape %s, but has "
                      "shape %s after one iteration ('%s:%d'); give it a shape invariant that "
                      "admits both",
                      lb->scope, vi, deft_shape_format(inv[i], buf[0], sizeof buf[0]),
                      deft_shape_format(deft_output_shape(next[i]), buf[1], sizeof buf[1]),
                      deft_op_name(next[i].op), next[i].index);
      goto done;
    }
  }
  /* lift variables, capture outside values, then close the loop */
  lb->nlifted = g->nops - lb->start;
  lb->lifted = deft_calloc((size_t)lb->nlifted + 1, 1);
  if (!lb->lifted) {
    oom(g, lb->scope);
    goto done;
  }
  mark_lifted(lb, g->nops);
  int body_end = lb->body_end;
  if (!capture(lb, lb->cond_begin, lb->cond_end, lb->cond_pivot) ||
      !capture(lb, lb->body_begin, body_end, lb->body_pivot))
    goto done;
  deft_status *st = deft_status_new();
  if (!st) {
    oom(g, lb->scope);
    goto done;
  }
  for (int i = 0; i < n; i++) {
    deft_output ni = one_input(g, "NextIteration", next[i], "NextIteration");
    /* a body giving back an outside value: it enters the loop as a constant */
    if (!ni.op || !capture(lb, ni.op->id, ni.op->id + 1, lb->body_pivot)) break;
    if (!deft_op_patch_back_edge(merge[i].op, 1, ni, st)) {
      deft_graph_fail_with(g, st);
      break;
    }
  }
  deft_status_free(st);
  if (!deft_graph_ok(g)) goto done;
  for (int i = 0; i < n; i++) {
    deft_output e = one_input(g, "Exit", sw[i], "Exit");
    if (!e.op) goto done;
    e.op->out_shapes[0] = inv[i];
    if (i >= off) results[i - off] = e;
  }
  ok = true;
done:
  deft_free(enter);
  deft_free(merge);
  deft_free(sw);
  deft_free(ident);
  deft_free(next);
  return ok;
}

bool deft_while_loop(deft_graph *g, deft_while_cond_fn cond, deft_while_body_fn body, void *user,
                     const deft_output *loop_vars, int n, const deft_while_options *opts,
                     deft_output *results) {
  deft_while_options o = opts ? *opts : deft_while_options_default();
  for (int i = 0; i < n; i++) results[i] = (deft_output){NULL, 0};
  if (!deft_graph_ok(g)) return false;
  const char *name = o.name ? o.name : "while";
  if (!cond || !body || n < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "while loop '%s': needs a condition, a body and at least one loop variable "
                    "(got %d)",
                    name, n);
    return false;
  }
  if (!deft_inputs_ok(g, "while loop", loop_vars, n)) return false;
  if (o.parallel_iterations < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "while loop '%s': parallel_iterations must be >= 1, got %lld", name,
                    (long long)o.parallel_iterations);
    return false;
  }
  bool counter = o.maximum_iterations.op != NULL;
  if (counter) {
    deft_dtype t = deft_output_dtype(o.maximum_iterations);
    if ((t != DEFT_INT32 && t != DEFT_INT64) || deft_output_shape(o.maximum_iterations).rank > 0) {
      char sb[64];
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "while loop '%s': maximum_iterations must be an int32 or int64 scalar, got "
                      "%s of shape %s",
                      name, deft_dtype_name(t),
                      deft_shape_format(deft_output_shape(o.maximum_iterations), sb, sizeof sb));
      return false;
    }
  }
  int nv = n + counter;
  deft_output *vars = deft_malloc(sizeof *vars * (size_t)nv);
  deft_shape *inv = deft_malloc(sizeof *inv * (size_t)nv);
  if (!vars || !inv) {
    deft_free(vars);
    deft_free(inv);
    return oom(g, name);
  }
  const char *scope = deft_graph_push_scope(g, name);
  bool ok = false;
  if (!scope) goto out;
  for (int i = 0; i < n; i++) {
    vars[i + counter] = loop_vars[i];
    deft_shape s0 = deft_output_shape(loop_vars[i]);
    inv[i + counter] = o.shape_invariants ? o.shape_invariants[i] : s0;
    if (!shape_admits(inv[i + counter], s0)) {
      char b0[128], b1[128];
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "while loop '%s': the shape invariant %s of loop variable %d does not admit "
                      "its initial shape %s ('%s:%d')",
                      scope, deft_shape_format(inv[i + counter], b0, sizeof b0), i,
                      deft_shape_format(s0, b1, sizeof b1), deft_op_name(loop_vars[i].op),
                      loop_vars[i].index);
      goto pop;
    }
  }
  if (counter) {
    deft_dtype t = deft_output_dtype(o.maximum_iterations);
    vars[0] = t == DEFT_INT64 ? deft_const_int64(g, 0, "iteration_counter")
                              : deft_const_int32(g, 0, "iteration_counter");
    inv[0] = DEFT_SCALAR;
    if (!vars[0].op) goto pop;
  }
  const char *frame = deft_graph_unique_name(g, "while_context", true);
  if (!frame) goto pop;
  loop_build lb = {.g = g, .scope = scope, .frame = frame, .parallel = o.parallel_iterations};
  loop_fns fn = {cond, body, user, counter, o.maximum_iterations};
  ok = build(&lb, &fn, vars, nv, inv, results);
  deft_free(lb.ext_src);
  deft_free(lb.ext_enter);
  deft_free(lb.lifted);
pop:
  deft_graph_pop_scope(g);
out:
  deft_free(vars);
  deft_free(inv);
  if (!ok)
    for (int i = 0; i < n; i++) results[i] = (deft_output){NULL, 0};
  return ok && deft_graph_ok(g);
}
