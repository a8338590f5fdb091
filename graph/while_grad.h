/* SPDX-License-Identifier: Apache-2.0 */
/* graph/while_grad.h - gradients through TF1 while loops, for graph/gradients.c. Internal.
 *
 * deft_gradients treats a while loop as one node of its walk: its inputs are the inputs of its
 * Enters (loop variables first, then the constant Enters), its outputs its Exits. When every
 * Exit on the path to the ys has its gradient, deft_loop_gradient builds TF 1.x's gradient loop
 * (graph/while_grad.c). */
#ifndef DEFT_GRAPH_WHILE_GRAD_H
#define DEFT_GRAPH_WHILE_GRAD_H

#include "graph/graph_internal.h"

typedef struct deft_loop {
  deft_op *lc;       /* LoopCond */
  const char *frame; /* the forward frame_name */
  char scope[512];   /* the loop's name scope ("while", "rnn/while") */
  int nvars;
  deft_op **enter, **merge, **sw, **ident, **next, **exit; /* per variable; exit may be NULL */
  int nconst;
  deft_op **center; /* constant Enters */
  char *in;         /* by op id (< nops0): the op is inside the loop (its frame or deeper) */
  int size;
  int parent;      /* index of the innermost enclosing loop, or -1 */
  const char *bad; /* non-NULL: not a loop deft can differentiate (why) */
} deft_loop;

typedef struct deft_grad_env {
  deft_graph *g;
  int nops0; /* ops when deft_gradients started */
  deft_loop *loops;
  int nloops;
  const char *root_scope; /* "gradients", "gradients_1", ... */
  /* ops this call adds to forward frames or the root (counters, stacks, pushes): by id - nops0,
   * -2 for none, -1 for the root, else the loop whose forward frame holds the op */
  int *fwd;
  int fwd_cap;
} deft_grad_env;

/* Finds the graph's while loops (nothing when it has no LoopCond). Returns false on OOM (sticky
 * error). */
bool deft_grad_env_init(deft_grad_env *env, deft_graph *g, const char *root_scope);
void deft_grad_env_free(deft_grad_env *env);

/* The loop, among those directly inside loop `active` (-1: the top level), that holds op, or
 * -1. */
int deft_loop_of(const deft_grad_env *env, const deft_op *op, int active);
/* True iff op is one of loop l's Exits. */
bool deft_loop_is_exit(const deft_grad_env *env, int l, const deft_op *op);
/* How many Exits loop l has. */
int deft_loop_num_exits(const deft_grad_env *env, int l);
/* The walk's inputs of loop l: the Enters' inputs, variables then constants. */
int deft_loop_num_inputs(const deft_grad_env *env, int l);
deft_output deft_loop_input(const deft_grad_env *env, int l, int k);

/* Builds the gradient loop of loop l: exit_grads[i] is the gradient of variable i's Exit
 * ({NULL, 0} if none). Writes deft_loop_num_inputs(l) gradients to dx ({NULL, 0} where none).
 * Returns false with the sticky error set. */
bool deft_loop_gradient(deft_grad_env *env, int l, const deft_output *exit_grads, deft_output *dx);

/* gradients.c: the walk over loop l's body (ys its NextIterations' inputs, xs its Identities and
 * constant Enters), inside the gradient loop. */
bool deft_gradients_loop_body(deft_grad_env *env, int l, const deft_output *ys, int ny,
                              const deft_output *xs, int nx, const deft_output *grad_ys,
                              deft_output *dx);

#endif
