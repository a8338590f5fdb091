/* SPDX-License-Identifier: Apache-2.0 */
/* graph/gradients.c - reverse-mode autodiff as graph building (tf.gradients).
 *
 * The walk: find the ops between the xs and the ys (reachable forward from an x and backward from
 * a y, over data edges), count each op's pending consumer edges inside that set, seed the ys with
 * their incoming gradients, then process ops whose consumers are all done: aggregate the
 * gradients of each output (AddN), fill missing float outputs with zeros, call the op's gradient
 * builder inside "gradients/<op>_grad", gate multi-input results with a tuple as TF does, and hand
 * each input gradient to its producer. Only float32/float64 tensors carry gradients.
 *
 * Sparse gradients (TF's IndexedSlices): an op whose definition has a sparse_grad (the gathers)
 * gives its params a deft_indexed_slices. Slices pass unchanged through Identity (a variable's
 * read), aggregate by concatenating values and indices when every gradient of a tensor is
 * sparse, and become dense (deft_indexed_slices_to_dense, inside the consumer's gradient scope,
 * as TF's convert_to_tensor does) wherever anything else consumes them. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"
#include "graph/while_grad.h"

/* A gradient: dense (indices.op == NULL, the tensor in values) or IndexedSlices. */
typedef deft_indexed_slices gitem;

static bool is_sparse(const gitem *x) { return x->indices.op != NULL; }

static gitem dense_item(deft_output v) {
  gitem x = {v, {NULL, 0}, {NULL, 0}};
  return x;
}

typedef struct grad_list {
  gitem *items;
  int n, cap;
} grad_list;

typedef struct walk {
  deft_graph *g;
  int nops;
  int *cons_start; /* CSR consumers over data edges */
  int *cons;
  bool *from_x;
  bool *between;
  int *pending;
  grad_list *grads; /* per op, per output: index = slot_base[op] + output */
  int *slot_base;
  int nslots;
  /* while loops (graph/while_grad.h): a loop directly inside `active` is one node whose inputs
   * are its Enters' inputs and whose outputs are its Exits; its other ops are not walked */
  deft_grad_env *env;
  int active;
  bool stop_at_xs; /* a loop body's walk: nothing above the xs */
  const deft_output *xs;
  int nx;
  int *loop_of; /* by op id: the loop holding the op, or -1 (NULL: no loops) */
  int *exits_left;
} walk;

static bool is_x_op(const walk *w, const deft_op *op) {
  for (int i = 0; i < w->nx; i++)
    if (w->xs[i].op == op) return true;
  return false;
}

static int loop_at(const walk *w, const deft_op *op) {
  return w->loop_of && op->id < w->nops ? w->loop_of[op->id] : -1;
}

/* The walk's inputs of op: its data inputs (a loop's back edge left out, as {NULL, 0}), or for
 * a loop's Exit the loop's inputs, or none for the loop's other ops. */
static int n_in(const walk *w, const deft_op *op) {
  int l = loop_at(w, op);
  if (l >= 0) return deft_loop_is_exit(w->env, l, op) ? deft_loop_num_inputs(w->env, l) : 0;
  if (w->stop_at_xs && is_x_op(w, op)) return 0;
  return op->ninputs;
}

static deft_output in_at(const walk *w, const deft_op *op, int k) {
  int l = loop_at(w, op);
  if (l >= 0) return deft_loop_input(w->env, l, k);
  deft_output o = op->inputs[k];
  if (!strcmp(op->type, "Merge") && !strcmp(o.op->type, "NextIteration"))
    return (deft_output){NULL, 0};
  return o;
}

static bool is_float(int t) { return t == DEFT_FLOAT || t == DEFT_DOUBLE; }
/* A resource variable's handle (DT_RESOURCE) carries its variable's gradient (TF's rule). */
static bool carries_grad(int t) { return is_float(t) || t == 20 /* DT_RESOURCE */; }

static bool push_grad(walk *w, deft_output at, gitem grad) {
  grad_list *l = &w->grads[w->slot_base[at.op->id] + at.index];
  if (l->n == l->cap) {
    int ncap = l->cap ? l->cap * 2 : 4;
    gitem *n = deft_realloc(l->items, sizeof *n * (size_t)ncap);
    if (!n) return false;
    l->items = n;
    l->cap = ncap;
  }
  l->items[l->n++] = grad;
  return true;
}

static void free_walk(walk *w) {
  for (int i = 0; w->grads && i < w->nslots; i++) deft_free(w->grads[i].items);
  deft_free(w->grads);
  deft_free(w->cons_start);
  deft_free(w->cons);
  deft_free(w->from_x);
  deft_free(w->between);
  deft_free(w->pending);
  deft_free(w->slot_base);
  deft_free(w->loop_of);
  deft_free(w->exits_left);
}

static bool build_consumers(walk *w) {
  deft_graph *g = w->g;
  w->cons_start = deft_calloc((size_t)w->nops + 2, sizeof(int));
  w->slot_base = deft_malloc(sizeof(int) * (size_t)(w->nops + 1));
  if (!w->cons_start || !w->slot_base) return false;
  if (w->env && w->env->nloops) {
    w->loop_of = deft_malloc(sizeof(int) * (size_t)(w->nops + 1));
    w->exits_left = deft_calloc((size_t)w->env->nloops + 1, sizeof(int));
    if (!w->loop_of || !w->exits_left) return false;
    for (int i = 0; i < w->nops; i++) w->loop_of[i] = deft_loop_of(w->env, g->ops[i], w->active);
  }
  for (int i = 0; i < w->nops; i++) {
    w->slot_base[i] = w->nslots;
    w->nslots += g->ops[i]->noutputs;
    for (int k = 0; k < n_in(w, g->ops[i]); k++) {
      deft_output in = in_at(w, g->ops[i], k);
      if (in.op) w->cons_start[in.op->id + 1]++;
    }
  }
  for (int i = 0; i < w->nops; i++) w->cons_start[i + 1] += w->cons_start[i];
  w->cons = deft_malloc(sizeof(int) * (size_t)(w->cons_start[w->nops] + 1));
  int *fill = deft_calloc((size_t)w->nops + 1, sizeof(int));
  if (!w->cons || !fill) {
    deft_free(fill);
    return false;
  }
  for (int i = 0; i < w->nops; i++)
    for (int k = 0; k < n_in(w, g->ops[i]); k++) {
      deft_output in = in_at(w, g->ops[i], k);
      if (!in.op) continue;
      int p = in.op->id;
      w->cons[w->cons_start[p] + fill[p]++] = i;
    }
  deft_free(fill);
  w->grads = deft_calloc((size_t)w->nslots + 1, sizeof(grad_list));
  w->from_x = deft_calloc((size_t)w->nops + 1, sizeof(bool));
  w->between = deft_calloc((size_t)w->nops + 1, sizeof(bool));
  w->pending = deft_calloc((size_t)w->nops + 1, sizeof(int));
  return w->grads && w->from_x && w->between && w->pending;
}

/* Marks ops reachable from the xs (forward), then the ones on a path to a y (backward). */
static bool mark_between(walk *w, const deft_output *ys, int ny, const deft_output *xs, int nx) {
  int *stack = deft_malloc(sizeof(int) * (size_t)(w->nops + 1));
  if (!stack) return false;
  int sp = 0;
  for (int i = 0; i < nx; i++)
    if (!w->from_x[xs[i].op->id]) w->from_x[xs[i].op->id] = true, stack[sp++] = xs[i].op->id;
  while (sp) {
    int op = stack[--sp];
    for (int k = w->cons_start[op]; k < w->cons_start[op + 1]; k++)
      if (!w->from_x[w->cons[k]]) w->from_x[w->cons[k]] = true, stack[sp++] = w->cons[k];
  }
  for (int i = 0; i < ny; i++) {
    int id = ys[i].op->id;
    if (w->from_x[id] && !w->between[id]) w->between[id] = true, stack[sp++] = id;
  }
  while (sp) {
    deft_op *op = w->g->ops[stack[--sp]];
    for (int k = 0; k < n_in(w, op); k++) {
      deft_output in = in_at(w, op, k);
      if (!in.op) continue;
      int p = in.op->id;
      if (w->from_x[p] && !w->between[p]) w->between[p] = true, stack[sp++] = p;
    }
  }
  deft_free(stack);
  /* pending: consumer edges inside the between set */
  for (int i = 0; i < w->nops; i++) {
    if (!w->between[i]) continue;
    deft_op *op = w->g->ops[i];
    for (int k = 0; k < n_in(w, op); k++) {
      deft_output in = in_at(w, op, k);
      if (in.op && w->between[in.op->id]) w->pending[in.op->id]++;
    }
    int l = loop_at(w, op);
    if (l >= 0) w->exits_left[l]++; /* a loop's Exit on the path */
  }
  return true;
}

/* x as a dense tensor (TF's _IndexedSlicesToTensor for slices). */
static deft_output densify(deft_graph *g, const gitem *x) {
  return is_sparse(x) ? deft_indexed_slices_to_dense(g, *x, NULL) : x->values;
}

/* Sums a gradient list: the one item; AddN ("gradients/AddN") of dense ones (slices made dense
 * first when the list mixes them); or, when every item is sparse and keep_sparse, the slices
 * concatenated (TF's _AggregateIndexedSlicesGradients: ConcatV2 of values and of indices, int64
 * indices when they differ). Invalid (values.op NULL) if empty. */
static gitem aggregate(deft_graph *g, grad_list *l, bool keep_sparse) {
  gitem none = dense_item((deft_output){NULL, 0});
  if (l->n == 0) return none;
  int nsparse = 0;
  for (int i = 0; i < l->n; i++) nsparse += is_sparse(&l->items[i]);
  if (l->n == 1 && (!nsparse || keep_sparse)) return l->items[0];
  deft_output *parts = deft_malloc(sizeof *parts * (size_t)(2 * l->n));
  if (!parts) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory aggregating gradients");
    return none;
  }
  gitem r = none;
  if (keep_sparse && nsparse == l->n) {
    bool mixed = false;
    for (int i = 1; i < l->n; i++)
      mixed |= deft_output_dtype(l->items[i].indices) != deft_output_dtype(l->items[0].indices);
    for (int i = 0; i < l->n; i++) {
      parts[i] = l->items[i].values;
      deft_output ix = l->items[i].indices;
      parts[l->n + i] = mixed && deft_output_dtype(ix) != DEFT_INT64
                            ? deft_cast(g, ix, DEFT_INT64, "Cast") : ix;
    }
    r.values = deft_concat(g, parts, l->n, deft_const_int32(g, 0, "concat/axis"), "concat");
    r.indices = deft_concat(g, parts + l->n, l->n, deft_const_int32(g, 0, "concat_1/axis"),
                            "concat_1");
    r.dense_shape = l->items[0].dense_shape;
  } else {
    for (int i = 0; i < l->n; i++) parts[i] = densify(g, &l->items[i]);
    r.values = l->n == 1 ? parts[0] : deft_add_n(g, parts, l->n, "AddN");
  }
  deft_free(parts);
  if (!deft_graph_ok(g)) return none;
  return r;
}

/* The initial gradient of y: grad_y, or ones shaped like y ("gradients/Fill"). */
static deft_output seed(deft_graph *g, deft_output y, const deft_output *grad_y, int i) {
  if (grad_y && grad_y->op) return *grad_y;
  deft_shape s = deft_output_shape(y);
  deft_output shape;
  if (deft_shape_is_fully_defined(s)) {
    int32_t dims[DEFT_MAX_RANK];
    for (int k = 0; k < s.rank; k++) dims[k] = (int32_t)s.dims[k];
    shape = deft_const_int32_vector(g, dims, s.rank, "Shape");
  } else {
    shape = deft_shape_of(g, y, "Shape");
  }
  char name[64];
  snprintf(name, sizeof name, "grad_ys_%d", i);
  deft_output one = deft_output_dtype(y) == DEFT_DOUBLE ? deft_const_double(g, 1.0, name)
                                                        : deft_const_float(g, 1.0f, name);
  deft_output in[2] = {shape, one};
  return deft_fill(g, in[0], in[1], "Fill");
}

/* TF's gating: when an op yields two or more gradients, they pass through Identities that wait
 * for all of them (tuple/group_deps, tuple/control_dependency[_k]). */
static void gate(deft_graph *g, deft_output *dx, int n) {
  int count = 0;
  for (int i = 0; i < n; i++) count += dx[i].op != NULL;
  if (count < 2) return;
  deft_op *small[16];
  deft_op **deps = count <= 16 ? small : deft_malloc(sizeof *deps * (size_t)count);
  if (!deps) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory gating %d gradients", count);
    return;
  }
  int nd = 0;
  for (int i = 0; i < n; i++)
    if (dx[i].op) deps[nd++] = dx[i].op;
  bool pushed = deft_graph_push_scope(g, "tuple") != NULL;
  deft_op *group = pushed ? deft_group(g, deps, nd, "group_deps") : NULL;
  if (deps != small) deft_free(deps);
  if (!group) {
    if (pushed) deft_graph_pop_scope(g);
    return;
  }
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (!dx[i].op) continue;
    char name[64];
    if (k == 0) snprintf(name, sizeof name, "control_dependency");
    else snprintf(name, sizeof name, "control_dependency_%d", k);
    k++;
    deft_op_builder *b = deft_op_builder_new(g, "Identity", name);
    deft_op_builder_add_input(b, dx[i]);
    deft_op_builder_add_control_input(b, group);
    deft_op *id = deft_op_builder_finish(b);
    dx[i].op = id;
    dx[i].index = 0;
  }
  deft_graph_pop_scope(g);
}

/* True for the ops that pass a sparse gradient through unchanged (TF's _IdentityGrad). */
static bool passes_slices(const deft_op *op) {
  return op->noutputs == 1 && op->ninputs == 1 && !strcmp(op->type, "Identity");
}

static bool differentiate_op(walk *w, deft_op *op, gitem *dxi, deft_output *dx) {
  deft_graph *g = w->g;
  gitem *dyi = deft_calloc((size_t)op->noutputs + 1, sizeof *dyi);
  deft_output *dy = deft_calloc((size_t)op->noutputs + 1, sizeof *dy);
  if (!dyi || !dy) {
    deft_free(dyi);
    deft_free(dy);
    return false;
  }
  bool any = false, pass = passes_slices(op);
  for (int i = 0; i < op->noutputs; i++) {
    dyi[i] = aggregate(g, &w->grads[w->slot_base[op->id] + i], pass);
    any |= dyi[i].values.op != NULL;
  }
  bool ok = deft_graph_ok(g);
  if (ok && any && pass && is_sparse(&dyi[0])) {
    dxi[0] = dyi[0];
  } else if (ok && any) {
    const deft_op_def *def = op->reg ? op->reg->def : NULL;
    if (!def || (!def->grad && !(def->flags & DEFT_OP_NOT_DIFFERENTIABLE))) {
      bool float_in = false;
      for (int k = 0; k < op->ninputs; k++) float_in |= is_float(deft_output_type(op->inputs[k]));
      if (float_in) {
        deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                        "no gradient defined for op '%s' (type %s), which lies between the ys "
                        "and the xs", op->name, op->type);
        ok = false;
      }
    } else if (def->grad) {
      for (int i = 0; i < op->noutputs; i++)
        if (!dyi[i].values.op && is_float(op->out_types[i])) {
          deft_output out = {op, i};
          dyi[i] = dense_item(deft_zeros_like(g, out, "zeros_like"));
        }
      char scope[1024];
      snprintf(scope, sizeof scope, "%s_grad", op->name);
      if (deft_graph_ok(g) && deft_graph_push_scope(g, scope)) {
        for (int i = 0; i < op->noutputs; i++) dy[i] = densify(g, &dyi[i]);
        deft_indexed_slices s0;
        memset(&s0, 0, sizeof s0);
        if (deft_graph_ok(g) && def->sparse_grad && def->sparse_grad(g, op, dy, &s0)) {
          dxi[0] = s0;
        } else if (deft_graph_ok(g)) {
          def->grad(g, op, dy, dx);
          gate(g, dx, op->ninputs);
          for (int k = 0; k < op->ninputs; k++) dxi[k] = dense_item(dx[k]);
        }
        deft_graph_pop_scope(g);
      }
      ok = deft_graph_ok(g);
    }
  }
  deft_free(dyi);
  deft_free(dy);
  return ok;
}

/* Loop l's gradient, once its last Exit on the path is reached: the Exits' gradients (dense)
 * go to deft_loop_gradient, which writes the gradients of the loop's inputs to dx. */
static bool loop_exit(walk *w, int l, deft_output *dx) {
  const deft_loop *L = &w->env->loops[l];
  deft_output *eg = deft_calloc((size_t)L->nvars + 1, sizeof *eg);
  if (!eg) return false;
  for (int i = 0; i < L->nvars && deft_graph_ok(w->g); i++) {
    if (!L->exit[i] || !w->between[L->exit[i]->id]) continue;
    gitem r = aggregate(w->g, &w->grads[w->slot_base[L->exit[i]->id]], false);
    if (r.values.op) eg[i] = densify(w->g, &r);
  }
  bool ok = deft_graph_ok(w->g) && deft_loop_gradient(w->env, l, eg, dx);
  deft_free(eg);
  return ok || !deft_graph_ok(w->g);
}

/* The walk itself, in the current name scope: over the whole graph (active -1) or loop
 * `active`'s body (stop_at_xs). */
static bool walk_run(deft_graph *g, deft_grad_env *env, int active, bool stop_at_xs,
                     const deft_output *ys, int ny, const deft_output *xs, int nx,
                     const deft_output *grad_ys, deft_output *dx, deft_indexed_slices *sparse) {
  walk w;
  memset(&w, 0, sizeof w);
  w.g = g;
  w.nops = g->nops;
  w.env = env;
  w.active = active;
  w.stop_at_xs = stop_at_xs;
  w.xs = xs;
  w.nx = nx;
  int *ready = NULL;
  deft_output *op_dx = NULL;
  gitem *op_dxi = NULL;
  int done_ops = 0, nbetween = 0;
  bool ok = build_consumers(&w) && mark_between(&w, ys, ny, xs, nx);
  if (!ok) goto oom;
  for (int i = 0; i < ny; i++) {
    if (!w.between[ys[i].op->id]) continue;
    deft_output s = seed(g, ys[i], grad_ys ? &grad_ys[i] : NULL, i);
    if (!s.op || !push_grad(&w, ys[i], dense_item(s))) goto done;
  }
  ready = deft_malloc(sizeof(int) * (size_t)(w.nops + 1));
  op_dx = deft_malloc(sizeof *op_dx * 64);
  op_dxi = deft_malloc(sizeof *op_dxi * 64);
  int op_dx_cap = 64;
  if (!ready || !op_dx || !op_dxi) goto oom;
  int head = 0, tail = 0;
  for (int i = 0; i < w.nops; i++) {
    nbetween += w.between[i];
    if (w.between[i] && w.pending[i] == 0) ready[tail++] = i;
  }
  while (head < tail && deft_graph_ok(g)) {
    deft_op *op = g->ops[ready[head++]];
    done_ops++;
    int nin = n_in(&w, op);
    bool is_x = is_x_op(&w, op);
    if (nin > op_dx_cap) {
      deft_output *n = deft_realloc(op_dx, sizeof *n * (size_t)nin);
      if (!n) goto oom;
      op_dx = n;
      gitem *ni = deft_realloc(op_dxi, sizeof *ni * (size_t)nin);
      if (!ni) goto oom;
      op_dxi = ni;
      op_dx_cap = nin;
    }
    for (int k = 0; k < nin; k++) {
      op_dx[k].op = NULL, op_dx[k].index = 0;
      op_dxi[k] = dense_item(op_dx[k]);
    }
    int l = loop_at(&w, op);
    if (l >= 0) {
      /* a loop's Exit: the loop's gradient once its last Exit on the path is reached */
      if (--w.exits_left[l] == 0) {
        if (!loop_exit(&w, l, op_dx)) goto oom;
        if (!deft_graph_ok(g)) goto done;
        for (int k = 0; k < nin; k++) op_dxi[k] = dense_item(op_dx[k]);
      }
    } else {
      /* An x's own op is not differentiated further unless something below it is also an x. */
      bool below = false;
      for (int k = 0; k < nin; k++) {
        deft_output in = in_at(&w, op, k);
        below |= in.op && w.between[in.op->id];
      }
      if (!is_x || below) {
        if (!differentiate_op(&w, op, op_dxi, op_dx)) goto done;
      }
    }
    for (int k = 0; k < nin; k++) {
      deft_output in = in_at(&w, op, k);
      if (!in.op || !w.between[in.op->id]) continue;
      if (op_dxi[k].values.op && carries_grad(deft_output_type(in)) &&
          !push_grad(&w, in, op_dxi[k]))
        goto oom;
      if (--w.pending[in.op->id] == 0) ready[tail++] = in.op->id;
    }
  }
  if (deft_graph_ok(g) && done_ops < nbetween) {
    for (int i = 0; i < w.nops; i++)
      if (w.between[i] && w.pending[i] > 0) {
        deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                        "gradients: '%s' (type %s) lies on a cycle that is not a well-formed "
                        "while loop, so its gradient cannot be ordered",
                        g->ops[i]->name, g->ops[i]->type);
        break;
      }
    if (deft_graph_ok(g))
      deft_graph_fail(g, DEFT_INTERNAL, "gradients: %d of %d ops were ordered", done_ops, nbetween);
  }
  for (int i = 0; i < nx && deft_graph_ok(g); i++) {
    if (!w.between[xs[i].op->id]) continue;
    gitem r = aggregate(g, &w.grads[w.slot_base[xs[i].op->id] + xs[i].index], sparse != NULL);
    if (sparse) sparse[i] = r;
    else dx[i] = densify(g, &r);
  }
  goto done;
oom:
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building gradients");
done:
  deft_free(ready);
  deft_free(op_dx);
  deft_free(op_dxi);
  free_walk(&w);
  return deft_graph_ok(g);
}

bool deft_gradients_loop_body(deft_grad_env *env, int l, const deft_output *ys, int ny,
                              const deft_output *xs, int nx, const deft_output *grad_ys,
                              deft_output *dx) {
  for (int i = 0; i < nx; i++) dx[i] = (deft_output){NULL, 0};
  return walk_run(env->g, env, l, true, ys, ny, xs, nx, grad_ys, dx, NULL);
}

/* The walk behind deft_gradients (sparse = NULL: every result dense, in dx) and
 * deft_gradients_sparse (dx = NULL: results in sparse, slices kept). */
static bool gradients_walk(deft_graph *g, const deft_output *ys, int ny, const deft_output *xs,
                           int nx, const deft_output *grad_ys, deft_output *dx,
                           deft_indexed_slices *sparse) {
  for (int i = 0; i < nx; i++) {
    if (dx) dx[i].op = NULL, dx[i].index = 0;
    if (sparse) memset(&sparse[i], 0, sizeof sparse[i]);
  }
  if (!deft_inputs_ok(g, "gradients (ys)", ys, ny) || !deft_inputs_ok(g, "gradients (xs)", xs, nx))
    return false;
  for (int i = 0; i < ny; i++)
    if (!is_float(deft_output_type(ys[i]))) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "gradients: y %d ('%s:%d') has dtype %s; only float and double tensors "
                      "can be differentiated",
                      i, ys[i].op->name, ys[i].index, deft_dtype_name(deft_output_dtype(ys[i])));
      return false;
    }
  for (int i = 0; i < nx; i++)
    if (!carries_grad(deft_output_type(xs[i]))) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "gradients: x %d ('%s:%d') has dtype %s; gradients exist only for float "
                      "and double tensors",
                      i, xs[i].op->name, xs[i].index, deft_dtype_name(deft_output_dtype(xs[i])));
      return false;
    }
  const char *root = deft_graph_push_scope(g, "gradients");
  if (!root) return false;
  deft_grad_env env;
  if (deft_grad_env_init(&env, g, root))
    walk_run(g, &env, -1, false, ys, ny, xs, nx, grad_ys, dx, sparse);
  deft_grad_env_free(&env);
  deft_graph_pop_scope(g);
  if (!deft_graph_ok(g)) {
    for (int i = 0; i < nx; i++) {
      if (dx) dx[i].op = NULL;
      if (sparse) memset(&sparse[i], 0, sizeof sparse[i]);
    }
    return false;
  }
  return true;
}

bool deft_gradients(deft_graph *g, const deft_output *ys, int ny, const deft_output *xs, int nx,
                    const deft_output *grad_ys, deft_output *dx) {
  return gradients_walk(g, ys, ny, xs, nx, grad_ys, dx, NULL);
}

bool deft_gradients_sparse(deft_graph *g, const deft_output *ys, int ny, const deft_output *xs,
                           int nx, const deft_output *grad_ys, deft_indexed_slices *dx) {
  return gradients_walk(g, ys, ny, xs, nx, grad_ys, NULL, dx);
}
