/* SPDX-License-Identifier: Apache-2.0 */
/* ops/collective_ops.c - DeftAllreduce: the sum (or average) of each input across the ranks of
 * the session's communicator (deft/dist.h), Horovod's HorovodAllreduce as one op type of its own,
 * so a saved meta graph records it. One op may reduce several tensors (a fusion group): inputs of
 * one dtype are packed into one buffer and reduced by one MPI call (Horovod's tensor fusion),
 * then unpacked into the outputs. With no communicator, or one rank, it is the identity.
 *
 * The gradient of an allreduce is the same allreduce of the incoming gradients (as Horovod's). */
#include <string.h>

#include "deft/dist.h"
#include "deft/ops.h"
#include "base/alloc.h"
#include "ops/op_build.h"
#include "ops/op_def.h"

typedef struct allreduce_params {
  bool average;
} allreduce_params;

static void allreduce_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  for (int i = 0; i < n; i++) deft_shape_ctx_set_output(c, i, deft_shape_ctx_input(c, i));
}

static bool reducible(deft_dtype t) {
  return t == DEFT_FLOAT || t == DEFT_DOUBLE || t == DEFT_INT32 || t == DEFT_INT64 ||
         t == DEFT_UINT8;
}

static void allreduce_prepare(deft_prepare_ctx *p) {
  bool average = deft_prepare_attr_bool(p, "average");
  if (deft_prepare_failed(p)) return;
  for (int i = 0; i < deft_prepare_num_inputs(p); i++) {
    deft_dtype t = deft_prepare_input_dtype(p, i);
    if (!reducible(t) || (average && t != DEFT_FLOAT && t != DEFT_DOUBLE)) {
      deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                        "input %d has dtype %s: allreduce%s takes %s", i, deft_dtype_name(t),
                        average ? " with average" : "",
                        average ? "float or double" : "float, double, int32, int64 or uint8");
      return;
    }
  }
  allreduce_params *pp = deft_prepare_params(p, sizeof *pp);
  if (pp) pp->average = average;
}

/* Reduces the members of dtype dt (outs[i] already hold copies of the inputs) in one call. */
static bool reduce_group(deft_kernel_ctx *c, deft_comm *comm, deft_tensor **outs, int n,
                         deft_dtype dt, bool average, deft_status *st) {
  size_t es = deft_dtype_size(dt);
  int64_t total = 0;
  int members = 0, last = -1;
  for (int i = 0; i < n; i++)
    if (outs[i]->dtype == dt) {
      total += outs[i]->n;
      members++;
      last = i;
    }
  if (!members) return true;
  if (members == 1) /* reduce in place in the output */
    return deft_comm_allreduce(comm, total ? outs[last]->buf->data : NULL, total, dt, average,
                               st);
  char *buf = total ? deft_kernel_scratch(c, (size_t)total * es) : NULL;
  if (total && !buf) return false;
  int64_t off = 0;
  for (int i = 0; i < n; i++)
    if (outs[i]->dtype == dt && outs[i]->n) {
      memcpy(buf + (size_t)off * es, outs[i]->buf->data, (size_t)outs[i]->n * es);
      off += outs[i]->n;
    }
  if (!deft_comm_allreduce(comm, buf, total, dt, average, st)) return false;
  off = 0;
  for (int i = 0; i < n; i++)
    if (outs[i]->dtype == dt && outs[i]->n) {
      memcpy(outs[i]->buf->data, buf + (size_t)off * es, (size_t)outs[i]->n * es);
      off += outs[i]->n;
    }
  return true;
}

static void allreduce_kernel(deft_kernel_ctx *c) {
  const allreduce_params *pp = deft_kernel_params(c);
  deft_comm *comm = deft_kernel_comm(c);
  int n = deft_kernel_num_inputs(c);
  if (!comm || deft_comm_size(comm) == 1) {
    for (int i = 0; i < n; i++) deft_kernel_forward(c, i, deft_kernel_input(c, i));
    return;
  }
  deft_tensor **outs = deft_malloc(sizeof *outs * (size_t)n);
  deft_status *st = deft_status_new();
  if (!outs || !st) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    outs[i] = deft_kernel_output(c, i, x->dtype, x->dims, x->rank);
    if (!outs[i]) goto done;
    if (x->n) memcpy(outs[i]->buf->data, x->buf->data, (size_t)x->n * deft_dtype_size(x->dtype));
  }
  /* A fixed dtype order, so every rank issues the same calls. */
  static const deft_dtype order[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64, DEFT_UINT8};
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
    if (!reduce_group(c, comm, outs, n, order[k], pp->average, st)) {
      if (!deft_kernel_failed(c))
        deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
      break;
    }
done:
  deft_free(outs);
  deft_status_free(st);
}

static deft_op *build_allreduce(deft_graph *g, const deft_output *inputs, int n, bool average,
                                const char *name) {
  if (!deft_inputs_ok(g, "DeftAllreduce", inputs, n)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, "DeftAllreduce", name);
  deft_op_builder_add_input_list(b, inputs, n);
  deft_op_builder_set_attr_bool(b, "average", average);
  return deft_op_builder_finish(b);
}

/* The allreduce of the incoming gradients (the outputs without one get none). */
static void allreduce_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  int n = deft_op_num_inputs(op), m = 0;
  bool average = false;
  deft_op_attr_bool(op, "average", &average);
  deft_output *valid = deft_malloc(sizeof *valid * (size_t)n);
  int *index = deft_malloc(sizeof *index * (size_t)n);
  if (!valid || !index) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++)
    if (grads[i].op) {
      index[m] = i;
      valid[m++] = grads[i];
    }
  deft_op *r = m ? build_allreduce(g, valid, m, average, "DeftAllreduce") : NULL;
  for (int k = 0; r && k < m; k++) dx[index[k]] = (deft_output){r, k};
done:
  deft_free(valid);
  deft_free(index);
}

deft_op *deft_allreduce(deft_graph *g, const deft_output *inputs, int n, bool average,
                        const char *name) {
  if (n < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "deft_allreduce: needs at least one tensor");
    return NULL;
  }
  return build_allreduce(g, inputs, n, average, name);
}

static const deft_op_def collective_defs[] = {
    {.type = "DeftAllreduce", .inputs = "tensors: T", .outputs = "reduced: T",
     .attrs = "T: list(type) >= 1, average: bool = false", .flags = DEFT_OP_STATEFUL,
     .shape = allreduce_shape, .prepare = allreduce_prepare, .kernel = allreduce_kernel,
     .grad = allreduce_grad},
};

DEFT_FAMILY(deft_ops_collective, collective_defs);
