/* SPDX-License-Identifier: Apache-2.0 */
/* ops/collective_ops.c - DeftAllreduce and DeftAllgather. DeftAllreduce: the sum (or average) of
 * each input across the ranks of the session's communicator (deft/dist.h), Horovod's
 * HorovodAllreduce as one op type of its own, so a saved meta graph records it. One op may reduce
 * several tensors (a fusion group): inputs of one dtype are packed into one buffer and reduced by
 * one MPI call (Horovod's tensor fusion), then unpacked into the outputs. With no communicator, or
 * one rank, it is the identity. With one, the kernel is asynchronous (ops/kernel.h): it starts the
 * MPI calls and returns, so the reduction overlaps the steps after it (the rest of backprop) until
 * a step reads it.
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

/* ---- the asynchronous kernel (ops/kernel.h) ----
 * The compute step copies the inputs into the outputs (one member of a dtype) or packs them into
 * the step's scratch (several: Horovod's fusion buffer), starts one MPI_Iallreduce per dtype, in
 * a fixed dtype order so every rank issues the same calls, and returns; the executor lets the
 * following steps run and waits before the first step reading an output. The work references
 * the outputs' buffers until it finishes; the scratch stays the step's (a step never runs again
 * before its work finished). */
enum { NDT = 5 };
static const deft_dtype dtype_order[NDT] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64,
                                            DEFT_UINT8};
typedef struct allreduce_work {
  bool average;
  int size;          /* ranks */
  int n;             /* outputs */
  deft_buffer **out; /* their buffers, referenced (NULL: empty) */
  int64_t *count;
  deft_dtype *dtype;
  struct {
    deft_comm_request *req;
    char *packed; /* the scratch holding the group's members, or NULL (reduced in place) */
    int single;   /* the one member reduced in place, or -1 */
  } g[NDT];
} allreduce_work;

static void allreduce_release(void *obj) {
  allreduce_work *w = obj;
  for (int k = 0; k < NDT; k++) deft_comm_request_free(w->g[k].req); /* waits if pending */
  for (int i = 0; i < w->n; i++)
    if (w->out[i]) deft_buffer_unref(w->out[i]);
  deft_free(w->out);
  deft_free(w->count);
  deft_free(w->dtype);
  deft_free(w);
}

static void divide_by(void *data, int64_t count, deft_dtype dt, int size) {
  if (dt == DEFT_FLOAT) {
    float *p = data, d = (float)size;
    for (int64_t i = 0; i < count; i++) p[i] /= d;
  } else if (dt == DEFT_DOUBLE) {
    double *p = data, d = (double)size;
    for (int64_t i = 0; i < count; i++) p[i] /= d;
  }
}

static deft_async_state allreduce_poll(void *obj, bool block, deft_status *st) {
  allreduce_work *w = obj;
  for (int k = 0; k < NDT; k++) {
    if (!w->g[k].req) continue;
    int r = deft_comm_request_test(w->g[k].req, block, st);
    if (r < 0) return DEFT_ASYNC_FAILED;
    if (r == 0) return DEFT_ASYNC_PENDING;
  }
  /* Every group finished: unpack the fused ones into the outputs, average. */
  for (int k = 0; k < NDT; k++) {
    deft_dtype dt = dtype_order[k];
    size_t es = deft_dtype_size(dt);
    int64_t off = 0;
    for (int i = 0; i < w->n; i++) {
      if (w->dtype[i] != dt || !w->count[i]) continue;
      if (w->g[k].packed) {
        memcpy(w->out[i]->data, w->g[k].packed + (size_t)off * es, (size_t)w->count[i] * es);
        off += w->count[i];
      }
      if (w->average) divide_by(w->out[i]->data, w->count[i], dt, w->size);
    }
  }
  return DEFT_ASYNC_DONE;
}

static const deft_async_ops allreduce_async = {allreduce_poll, allreduce_release};

static void allreduce_kernel(deft_kernel_ctx *c) {
  const allreduce_params *pp = deft_kernel_params(c);
  deft_comm *comm = deft_kernel_comm(c);
  int n = deft_kernel_num_inputs(c);
  if (!comm || deft_comm_size(comm) == 1) {
    for (int i = 0; i < n; i++) deft_kernel_forward(c, i, deft_kernel_input(c, i));
    return;
  }
  allreduce_work *w = deft_calloc(1, sizeof *w);
  if (w) {
    w->out = deft_calloc((size_t)n, sizeof *w->out);
    w->count = deft_calloc((size_t)n, sizeof *w->count);
    w->dtype = deft_calloc((size_t)n, sizeof *w->dtype);
  }
  if (!w || !w->out || !w->count || !w->dtype) {
    if (w) allreduce_release(w);
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  w->average = pp->average;
  w->size = deft_comm_size(comm);
  w->n = n;
  /* Group sizes, and the scratch for the fused groups (each at a 64-byte boundary). */
  int64_t total[NDT] = {0};
  int members[NDT] = {0}, last[NDT];
  size_t off[NDT], scratch = 0;
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    for (int k = 0; k < NDT; k++)
      if (x->dtype == dtype_order[k]) {
        total[k] += x->n;
        members[k]++;
        last[k] = i;
      }
  }
  for (int k = 0; k < NDT; k++) {
    off[k] = scratch;
    w->g[k].single = -1;
    if (members[k] > 1)
      scratch += ((size_t)total[k] * deft_dtype_size(dtype_order[k]) + 63) & ~(size_t)63;
    else if (members[k] == 1)
      w->g[k].single = last[k];
  }
  char *buf = scratch ? deft_kernel_scratch(c, scratch) : NULL;
  if (scratch && !buf) {
    allreduce_release(w);
    return;
  }
  size_t fill[NDT] = {0};
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    deft_tensor *o = deft_kernel_output(c, i, x->dtype, x->dims, x->rank);
    if (!o) {
      allreduce_release(w);
      return;
    }
    size_t bytes = (size_t)x->n * deft_dtype_size(x->dtype);
    w->count[i] = x->n;
    w->dtype[i] = x->dtype;
    if (o->buf) {
      w->out[i] = o->buf;
      deft_buffer_ref(o->buf);
    }
    if (!bytes) continue;
    int k = 0;
    while (dtype_order[k] != x->dtype) k++;
    if (members[k] > 1) {
      memcpy(buf + off[k] + fill[k], x->buf->data, bytes);
      fill[k] += bytes;
    } else {
      memcpy(o->buf->data, x->buf->data, bytes);
    }
  }
  deft_status *st = deft_status_new();
  if (!st) {
    allreduce_release(w);
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  for (int k = 0; k < NDT; k++) {
    if (!members[k]) continue;
    void *data = members[k] > 1 ? (void *)(buf ? buf + off[k] : NULL)
                 : total[k]     ? w->out[w->g[k].single]->data
                                : NULL;
    if (members[k] > 1) w->g[k].packed = data;
    w->g[k].req = deft_comm_iallreduce(comm, data, total[k], dtype_order[k], st);
    if (!w->g[k].req) {
      deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
      break;
    }
  }
  deft_status_free(st);
  /* Started (even partly: the executor's release waits for what was started). */
  deft_kernel_async(c, w, &allreduce_async);
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

/* ---- DeftAllgather: every rank's input i concatenated along dimension 0, rank 0's first
 * (Horovod's HorovodAllgather, over a list so one size exchange serves several tensors: a sparse
 * gradient's indices and values). The ranks' first dimensions may differ; the other dims and
 * the dtype must agree. With `average`, floating-point outputs are divided by the number of
 * ranks (the distributed optimizer's average of IndexedSlices gradients, as Horovod divides the
 * gathered values by its size). Any dtype but string. Asynchronous as DeftAllreduce: the
 * compute step exchanges the shapes (a small blocking allgather; the outputs' sizes depend on
 * it), then starts one MPI_Iallgatherv per tensor. Not differentiable (Horovod's gradient, an
 * allreduce sliced to the rank's rows, is not built). */

typedef struct allgather_params {
  bool average;
} allgather_params;

static void allgather_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  for (int i = 0; i < n; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank == 0) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "input %d is a scalar: allgather "
                      "concatenates along dimension 0",
                      i);
      return;
    }
    if (s.rank > 0) s.dims[0] = -1;
    deft_shape_ctx_set_output(c, i, s);
  }
}

static void allgather_prepare(deft_prepare_ctx *p) {
  bool average = deft_prepare_attr_bool(p, "average");
  if (deft_prepare_failed(p)) return;
  for (int i = 0; i < deft_prepare_num_inputs(p); i++)
    if (deft_prepare_input_dtype(p, i) == DEFT_STRING) {
      deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                        "input %d is a string tensor: allgather "
                        "takes fixed-size dtypes",
                        i);
      return;
    }
  allgather_params *pp = deft_prepare_params(p, sizeof *pp);
  if (pp) pp->average = average;
}

typedef struct allgather_work {
  bool average;
  int size, n;
  deft_buffer **bufs; /* inputs' then outputs' buffers, referenced (NULL: none) */
  deft_comm_request **req;
  int64_t *count; /* outputs' elements */
  deft_dtype *dtype;
  int64_t *all_bytes; /* n x size: tensor i's bytes on rank r at i * size + r */
} allgather_work;

static void allgather_release(void *obj) {
  allgather_work *w = obj;
  for (int i = 0; i < w->n; i++) deft_comm_request_free(w->req[i]);
  for (int i = 0; i < 2 * w->n; i++)
    if (w->bufs[i]) deft_buffer_unref(w->bufs[i]);
  deft_free(w->bufs);
  deft_free(w->req);
  deft_free(w->count);
  deft_free(w->dtype);
  deft_free(w->all_bytes);
  deft_free(w);
}

static deft_async_state allgather_poll(void *obj, bool block, deft_status *st) {
  allgather_work *w = obj;
  for (int i = 0; i < w->n; i++) {
    int r = deft_comm_request_test(w->req[i], block, st);
    if (r < 0) return DEFT_ASYNC_FAILED;
    if (r == 0) return DEFT_ASYNC_PENDING;
  }
  if (w->average)
    for (int i = 0; i < w->n; i++)
      if (w->count[i]) divide_by(w->bufs[w->n + i]->data, w->count[i], w->dtype[i], w->size);
  return DEFT_ASYNC_DONE;
}

static const deft_async_ops allgather_async = {allgather_poll, allgather_release};

/* Per tensor in the shape exchange: dtype, rank, dims. */
enum { HDR = 2 + DEFT_MAX_RANK };

static void allgather_kernel(deft_kernel_ctx *c) {
  const allgather_params *pp = deft_kernel_params(c);
  deft_comm *comm = deft_kernel_comm(c);
  int n = deft_kernel_num_inputs(c);
  for (int i = 0; i < n; i++)
    if (deft_kernel_input(c, i)->rank == 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "input %d is a scalar: allgather concatenates "
                       "along dimension 0",
                       i);
      return;
    }
  if (!comm || deft_comm_size(comm) == 1) {
    for (int i = 0; i < n; i++) deft_kernel_forward(c, i, deft_kernel_input(c, i));
    return;
  }
  int size = deft_comm_size(comm);
  allgather_work *w = deft_calloc(1, sizeof *w);
  int64_t *mine = deft_calloc((size_t)n * HDR, sizeof *mine);
  int64_t *all = deft_calloc((size_t)n * HDR * (size_t)size, sizeof *all);
  deft_status *st = deft_status_new();
  if (w) {
    w->n = n;
    w->bufs = deft_calloc(2 * (size_t)n, sizeof *w->bufs);
    w->req = deft_calloc((size_t)n, sizeof *w->req);
    w->count = deft_calloc((size_t)n, sizeof *w->count);
    w->dtype = deft_calloc((size_t)n, sizeof *w->dtype);
    w->all_bytes = deft_calloc((size_t)n * (size_t)size, sizeof *w->all_bytes);
  }
  if (!w || !mine || !all || !st || !w->bufs || !w->req || !w->count || !w->dtype ||
      !w->all_bytes) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  w->average = pp->average;
  w->size = size;
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    int64_t *h = mine + (size_t)i * HDR;
    h[0] = x->dtype;
    h[1] = x->rank;
    for (int d = 0; d < x->rank; d++) h[2 + d] = x->dims[d];
  }
  if (!deft_comm_allgather_i64(comm, mine, n * HDR, all, st)) {
    deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
    goto fail;
  }
  /* Every rank checks the same gathered shapes, so all fail alike (none starts a collective the
   * others skip). */
  for (int i = 0; i < n; i++) {
    const int64_t *h0 = all + (size_t)i * HDR;
    int64_t rows = 0;
    for (int r = 0; r < size; r++) {
      const int64_t *h = all + ((size_t)r * n + i) * HDR;
      bool same = h[0] == h0[0] && h[1] == h0[1];
      for (int d = 1; same && d < h[1]; d++) same = h[2 + d] == h0[2 + d];
      if (!same) {
        char a[160], b[160];
        int64_t ra = h0[1] < 0 || h0[1] > DEFT_MAX_RANK ? 0 : h0[1];
        int64_t rb = h[1] < 0 || h[1] > DEFT_MAX_RANK ? 0 : h[1];
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "input %d differs across ranks beyond dimension 0: rank 0 has %s %s, "
                         "rank %d has %s %s",
                         i, deft_dtype_name((deft_dtype)h0[0]),
                         deft_shape_format(deft_shape_make((int)ra, h0 + 2), a, sizeof a), r,
                         deft_dtype_name((deft_dtype)h[0]),
                         deft_shape_format(deft_shape_make((int)rb, h + 2), b, sizeof b));
        goto fail;
      }
      rows += h[2];
    }
    const deft_tensor *x = deft_kernel_input(c, i);
    int64_t dims[DEFT_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[0] = rows;
    deft_tensor *o = deft_kernel_output(c, i, x->dtype, dims, x->rank);
    if (!o) goto fail;
    int64_t row_elems = x->dims[0] ? x->n / x->dims[0] : 1;
    for (int d = 1; d < x->rank && !x->dims[0]; d++) row_elems *= x->dims[d];
    for (int r = 0; r < size; r++)
      w->all_bytes[(size_t)i * size + r] =
          all[((size_t)r * n + i) * HDR + 2] * row_elems * (int64_t)deft_dtype_size(x->dtype);
    w->count[i] = o->n;
    w->dtype[i] = x->dtype;
    if (x->buf) deft_buffer_ref(w->bufs[i] = x->buf);
    if (o->buf) deft_buffer_ref(w->bufs[n + i] = o->buf);
  }
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    int64_t bytes = x->n * (int64_t)deft_dtype_size(x->dtype);
    w->req[i] = deft_comm_iallgatherv(comm, x->buf ? x->buf->data : NULL, bytes,
                                      w->bufs[n + i] ? w->bufs[n + i]->data : NULL,
                                      w->all_bytes + (size_t)i * size, st);
    if (!w->req[i]) {
      deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
      break;
    }
  }
  deft_free(mine);
  deft_free(all);
  deft_status_free(st);
  deft_kernel_async(c, w, &allgather_async);
  return;
fail:
  if (w && w->bufs && w->req)
    allgather_release(w);
  else if (w) {
    deft_free(w->bufs);
    deft_free(w->req);
    deft_free(w->count);
    deft_free(w->dtype);
    deft_free(w->all_bytes);
    deft_free(w);
  }
  deft_free(mine);
  deft_free(all);
  deft_status_free(st);
}

deft_op *deft_allgather(deft_graph *g, const deft_output *inputs, int n, bool average,
                        const char *name) {
  if (n < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "deft_allgather: needs at least one tensor");
    return NULL;
  }
  if (!deft_inputs_ok(g, "DeftAllgather", inputs, n)) return NULL;
  deft_op_builder *b = deft_op_builder_new(g, "DeftAllgather", name);
  deft_op_builder_add_input_list(b, inputs, n);
  deft_op_builder_set_attr_bool(b, "average", average);
  return deft_op_builder_finish(b);
}

static const deft_op_def collective_defs[] = {
    {.type = "DeftAllgather",
     .inputs = "tensors: T",
     .outputs = "gathered: T",
     .attrs = "T: list(type) >= 1, average: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_ASYNC | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = allgather_shape,
     .prepare = allgather_prepare,
     .kernel = allgather_kernel},
    {.type = "DeftAllreduce",
     .inputs = "tensors: T",
     .outputs = "reduced: T",
     .attrs = "T: list(type) >= 1, average: bool = false",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_ASYNC,
     .shape = allreduce_shape,
     .prepare = allreduce_prepare,
     .kernel = allreduce_kernel,
     .grad = allreduce_grad},
};

DEFT_FAMILY(deft_ops_collective, collective_defs);
