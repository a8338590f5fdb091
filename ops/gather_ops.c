/* ops/gather_ops.c - ops that pick rows by index and put them back: Gather (v1), GatherV2 (axis,
 * batch_dims), GatherNd, ScatterNd and UnsortedSegmentSum (which the gathers' gradients use):
 * definition, shape function, kernel and gradient side by side, plus the public constructors.
 *
 * TF's gather gradients are IndexedSlices (values + indices + dense_shape); deft's gradients are
 * dense tensors, so the gradient graphs here end where TF's conversion of IndexedSlices to a
 * tensor ends: UnsortedSegmentSum(values, indices, dense_shape[0]). Indices out of range are
 * errors naming the position and the bound (as on TF's CPU). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n);
void deft_array_zero(deft_tensor *t);

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

static void copy_oom(deft_kernel_ctx *c) {
  deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t n = 1;
  for (int k = from; k < to; k++) n *= d[k];
  return n;
}

static deft_output build2(deft_graph *g, const char *type, const char *name, deft_output a,
                          deft_output b) {
  deft_op_builder *bl = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(bl, a);
  deft_op_builder_add_input(bl, b);
  return outn(deft_op_builder_finish(bl), 0);
}

static deft_output build3(deft_graph *g, const char *type, const char *name, deft_output a,
                          deft_output b, deft_output c) {
  deft_op_builder *bl = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(bl, a);
  deft_op_builder_add_input(bl, b);
  deft_op_builder_add_input(bl, c);
  return outn(deft_op_builder_finish(bl), 0);
}

/* ---- Gather, GatherV2 ---- */

/* Resolved axis and batch_dims of a gather; false with msg when invalid. */
static bool gather_dims(int prank, int irank, int64_t axis, int64_t batch_dims, int64_t *ax,
                        int64_t *bd, char *msg, size_t len) {
  if (batch_dims < 0) batch_dims += irank;
  if (batch_dims < 0 || batch_dims > irank) {
    snprintf(msg, len, "batch_dims is out of range for indices of rank %d", irank);
    return false;
  }
  if (axis < -prank || axis >= prank) {
    snprintf(msg, len, "axis %" PRId64 " is out of range [%d, %d) for params of rank %d", axis,
             -prank, prank, prank);
    return false;
  }
  if (axis < 0) axis += prank;
  if (batch_dims > axis) {
    snprintf(msg, len, "batch_dims (%" PRId64 ") must be at most axis (%" PRId64 ")", batch_dims,
             axis);
    return false;
  }
  if (prank - 1 + irank - batch_dims > DEFT_MAX_RANK) {
    snprintf(msg, len, "the result would have more than %d dimensions", DEFT_MAX_RANK);
    return false;
  }
  *ax = axis;
  *bd = batch_dims;
  return true;
}

static void gather_shape_common(deft_shape_ctx *c, bool v2) {
  deft_shape p = deft_shape_ctx_input(c, 0), ix = deft_shape_ctx_input(c, 1);
  int64_t axis = 0, bd = 0;
  if (v2) {
    const deft_tensor *at = deft_shape_ctx_input_const(c, 2);
    deft_op_attr_int(c->op, "batch_dims", &bd);
    if (!at || at->n != 1) return;
    axis = deft_tensor_index_at(at, 0);
  }
  if (p.rank < 0 || ix.rank < 0) return;
  char msg[256];
  if (p.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "params must be at least a vector, got a scalar");
    return;
  }
  if (!gather_dims(p.rank, ix.rank, axis, bd, &axis, &bd, msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  for (int k = 0; k < bd; k++)
    if (p.dims[k] >= 0 && ix.dims[k] >= 0 && p.dims[k] != ix.dims[k]) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "params and indices must agree in the %" PRId64 " batch dimensions, but "
                      "dimension %d is %" PRId64 " and %" PRId64, bd, k, p.dims[k], ix.dims[k]);
      return;
    }
  deft_shape out = deft_shape_unknown();
  out.rank = 0;
  for (int k = 0; k < axis; k++) out.dims[out.rank++] = p.dims[k];
  for (int k = (int)bd; k < ix.rank; k++) out.dims[out.rank++] = ix.dims[k];
  for (int k = (int)axis + 1; k < p.rank; k++) out.dims[out.rank++] = p.dims[k];
  deft_shape_ctx_set_output(c, 0, out);
}

static void gather_shape(deft_shape_ctx *c) { gather_shape_common(c, false); }
static void gather_v2_shape(deft_shape_ctx *c) { gather_shape_common(c, true); }

typedef struct gather_params {
  int64_t axis, batch_dims;
} gather_params;

/* GatherV2's batch_dims attr, once per plan step (Gather has none: 0). */
static void gather_v2_prepare(deft_prepare_ctx *pc) {
  int64_t bd = deft_prepare_attr_int(pc, "batch_dims");
  gather_params *p = deft_prepare_params(pc, sizeof *p);
  if (p) p->batch_dims = bd;
}

/* The parameters: batch_dims from the prepare step, the axis input (GatherV2). */
static bool gather_params_of(deft_kernel_ctx *c, bool v2, gather_params *p) {
  p->axis = 0;
  p->batch_dims = 0;
  if (!v2) return true;
  p->batch_dims = ((const gather_params *)deft_kernel_params(c))->batch_dims;
  const deft_tensor *at = deft_kernel_input(c, 2);
  char sh[64];
  if (at->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "axis must be a scalar, got shape %s",
                     tshape(at, sh, sizeof sh));
    return false;
  }
  p->axis = deft_tensor_index_at(at, 0);
  return true;
}

static void gather_run(deft_kernel_ctx *c, bool v2) {
  const deft_tensor *params = deft_kernel_input(c, 0), *ix = deft_kernel_input(c, 1);
  gather_params gp;
  if (!gather_params_of(c, v2, &gp)) return;
  char msg[256], a[128], b[128];
  int64_t axis, bd;
  if (params->rank == 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "params must be at least a vector, got a scalar");
    return;
  }
  if (!gather_dims(params->rank, ix->rank, gp.axis, gp.batch_dims, &axis, &bd, msg,
                   sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  for (int k = 0; k < bd; k++)
    if (params->dims[k] != ix->dims[k]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "params (shape %s) and indices (shape %s) must agree in the %" PRId64
                       " batch dimensions", tshape(params, a, sizeof a), tshape(ix, b, sizeof b),
                       bd);
      return;
    }
  int64_t dims[DEFT_MAX_RANK];
  int r = 0;
  for (int k = 0; k < axis; k++) dims[r++] = params->dims[k];
  for (int k = (int)bd; k < ix->rank; k++) dims[r++] = ix->dims[k];
  for (int k = (int)axis + 1; k < params->rank; k++) dims[r++] = params->dims[k];
  deft_tensor *o = deft_kernel_output(c, 0, params->dtype, dims, r);
  if (!o || o->n == 0) return;
  int64_t batch = prod(params->dims, 0, (int)bd), outer = prod(params->dims, (int)bd, (int)axis);
  int64_t lim = params->dims[axis], inner = prod(params->dims, (int)axis + 1, params->rank);
  int64_t nidx = prod(ix->dims, (int)bd, ix->rank);
  bool i64 = ix->dtype == DEFT_INT64;
  const int32_t *i32v = i64 ? NULL : deft_tensor_i32(ix);
  const int64_t *i64v = i64 ? deft_tensor_i64(ix) : NULL;
  size_t es = deft_dtype_size(params->dtype);
  bool str = params->dtype == DEFT_STRING;
  const char *src = params->buf->data;
  char *dst = o->buf->data;
  int64_t pos = 0;
  for (int64_t bi = 0; bi < batch; bi++)
    for (int64_t oi = 0; oi < outer; oi++)
      for (int64_t i = 0; i < nidx; i++, pos += inner) {
        int64_t at = bi * nidx + i, v = i64 ? i64v[at] : i32v[at];
        if (v < 0 || v >= lim) {
          deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                           "indices[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64 ")", at, v,
                           lim);
          return;
        }
        int64_t from = ((bi * outer + oi) * lim + v) * inner;
        if (str) {
          if (!deft_array_copy_elems(o, pos, params, from, inner)) {
            copy_oom(c);
            return;
          }
        } else if (inner == 1 && es == 4) {
          ((uint32_t *)dst)[pos] = ((const uint32_t *)src)[from];
        } else {
          memcpy(dst + (size_t)pos * es, src + (size_t)from * es, (size_t)inner * es);
        }
      }
}

static void gather_kernel(deft_kernel_ctx *c) { gather_run(c, false); }
static void gather_v2_kernel(deft_kernel_ctx *c) { gather_run(c, true); }

/* params_shape[k:] (or [:k]) with StridedSlice, as Python's slicing of a shape tensor. */
static deft_output shape_slice(deft_graph *g, deft_output shape, int32_t from, int32_t to,
                               bool to_end, bool shrink) {
  deft_output b = deft_const_int32_vector(g, &from, 1, "strided_slice/stack");
  int32_t e = to_end ? 0 : to, one = 1;
  deft_output en = deft_const_int32_vector(g, &e, 1, "strided_slice/stack_1");
  deft_output st = deft_const_int32_vector(g, &one, 1, "strided_slice/stack_2");
  return deft_strided_slice(g, shape, b, en, st, 0, to_end ? 1 : 0, 0, 0, shrink ? 1 : 0,
                            "strided_slice");
}

/* The axis-0 gradient (TF's IndexedSlices, made dense): values = reshape(grad, [size(indices)] +
 * params_shape[1:]), indices = reshape(indices, [size]), then
 * UnsortedSegmentSum(values, indices, params_shape[0]). */
static deft_output gather_axis0_grad(deft_graph *g, deft_output params, deft_output indices,
                                     deft_output grad) {
  deft_output pshape = deft_shape_of(g, params, NULL);
  deft_output size = deft_expand_dims(g, deft_size(g, indices, NULL),
                                      deft_const_int32(g, 0, "ExpandDims/dim"), NULL);
  deft_output tail = shape_slice(g, pshape, 1, 0, true, false);
  deft_output parts[2] = {size, tail};
  deft_output vshape = deft_concat(g, parts, 2, deft_const_int32(g, 0, "concat/axis"), NULL);
  deft_output values = deft_reshape(g, grad, vshape, NULL);
  deft_output idx = deft_reshape(g, indices, size, NULL);
  deft_output nseg = shape_slice(g, pshape, 0, 1, false, true);
  return deft_unsorted_segment_sum(g, values, idx, nseg, NULL);
}

static void gather_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = gather_axis0_grad(g, deft_op_input(op, 0), deft_op_input(op, 1), grads[0]);
}

/* TF's GatherV2 gradient: axis 0 as Gather's; another axis moves it to the front, sums the
 * segments there and moves it back (the permutations are Consts here: deft needs params' rank
 * and the axis known when building the gradient). batch_dims != 0 is not differentiable yet. */
static void gather_v2_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  deft_output params = deft_op_input(op, 0), indices = deft_op_input(op, 1);
  int64_t bd = 0;
  deft_op_attr_int(op, "batch_dims", &bd);
  const deft_tensor *at = NULL;
  deft_output ax = deft_op_input(op, 2);
  while (ax.op && !strcmp(deft_op_type(ax.op), "Identity")) ax = deft_op_input(ax.op, 0);
  if (ax.op && !strcmp(deft_op_type(ax.op), "Const")) deft_op_attr_tensor(ax.op, "value", &at);
  deft_shape ps = deft_output_shape(params);
  if (bd != 0 || !at || at->n != 1 || ps.rank < 1) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED,
                    "GatherV2 '%s': deft differentiates a gather only with batch_dims 0, a "
                    "constant axis and params of known rank", deft_op_name(op));
    return;
  }
  int64_t axis = deft_tensor_index_at(at, 0);
  if (axis < 0) axis += ps.rank;
  if (axis == 0) {
    dx[0] = gather_axis0_grad(g, params, indices, grads[0]);
    return;
  }
  int r = ps.rank;
  deft_output pshape = deft_shape_of(g, params, NULL);
  deft_output size = deft_expand_dims(g, deft_size(g, indices, NULL),
                                      deft_const_int32(g, 0, "ExpandDims/dim"), NULL);
  deft_output outer = shape_slice(g, pshape, 0, (int32_t)axis, false, false);
  deft_output inner = shape_slice(g, pshape, (int32_t)axis + 1, 0, true, false);
  int32_t minus1 = -1;
  deft_output parts[3] = {outer, deft_const_int32_vector(g, &minus1, 1, "concat/values_1"),
                          inner};
  deft_output vshape = deft_concat(g, parts, 3, deft_const_int32(g, 0, "concat/axis"), NULL);
  deft_output values = deft_reshape(g, grads[0], vshape, NULL);
  deft_output idx = deft_reshape(g, indices, size, NULL);
  int32_t perm[DEFT_MAX_RANK], inv[DEFT_MAX_RANK];
  perm[0] = (int32_t)axis;
  for (int k = 0; k < axis; k++) perm[k + 1] = k;
  for (int k = (int)axis + 1; k < r; k++) perm[k] = k;
  for (int k = 0; k < r; k++) inv[perm[k]] = k;
  deft_output vt = deft_transpose(g, values, deft_const_int32_vector(g, perm, r, "concat_1"),
                                  NULL);
  deft_output nseg = shape_slice(g, pshape, (int32_t)axis, (int32_t)axis + 1, false, true);
  deft_output sum = deft_unsorted_segment_sum(g, vt, idx, nseg, NULL);
  dx[0] = deft_transpose(g, sum, deft_const_int32_vector(g, inv, r, "concat_2"), NULL);
}

deft_output deft_gather(deft_graph *g, deft_output params, deft_output indices,
                        const char *name) {
  return build2(g, "Gather", name, params, indices);
}

deft_output deft_gather_v2(deft_graph *g, deft_output params, deft_output indices,
                           deft_output axis, int64_t batch_dims, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "GatherV2", name);
  deft_op_builder_add_input(b, params);
  deft_op_builder_add_input(b, indices);
  deft_op_builder_add_input(b, axis);
  deft_op_builder_set_attr_int(b, "batch_dims", batch_dims);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- GatherNd ---- */

static void gather_nd_shape(deft_shape_ctx *c) {
  deft_shape p = deft_shape_ctx_input(c, 0), ix = deft_shape_ctx_input(c, 1);
  if (p.rank < 0 || ix.rank < 0) return;
  if (ix.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "indices must be at least a vector, got a scalar");
    return;
  }
  int64_t k = ix.dims[ix.rank - 1];
  if (k < 0) return;
  if (k > p.rank) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "the index depth indices.shape[-1] = %" PRId64 " exceeds params' rank %d", k,
                    p.rank);
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = 0;
  if (ix.rank - 1 + p.rank - (int)k > DEFT_MAX_RANK) return;
  for (int d = 0; d < ix.rank - 1; d++) out.dims[out.rank++] = ix.dims[d];
  for (int d = (int)k; d < p.rank; d++) out.dims[out.rank++] = p.dims[d];
  deft_shape_ctx_set_output(c, 0, out);
}

/* The flat element offset of index tuple t (depth k) into a tensor of dims, or -1 (with the bad
 * position in *bad) when out of range. */
static int64_t nd_offset(const deft_tensor *ix, int64_t t, int k, const int64_t *dims,
                         const int64_t *strides, int *bad, int64_t *badv) {
  int64_t off = 0;
  for (int j = 0; j < k; j++) {
    int64_t v = deft_tensor_index_at(ix, t * k + j);
    if (v < 0 || v >= dims[j]) {
      *bad = j;
      *badv = v;
      return -1;
    }
    off += v * strides[j];
  }
  return off;
}

static void gather_nd_kernel(deft_kernel_ctx *c) {
  const deft_tensor *params = deft_kernel_input(c, 0), *ix = deft_kernel_input(c, 1);
  char a[128], b[128];
  if (ix->rank == 0 || ix->dims[ix->rank - 1] > params->rank ||
      ix->rank - 1 + params->rank - ix->dims[ix->rank - 1] > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "indices (shape %s) must be at least a vector whose last dimension is at "
                     "most params' rank (params shape %s)", tshape(ix, a, sizeof a),
                     tshape(params, b, sizeof b));
    return;
  }
  int k = (int)ix->dims[ix->rank - 1];
  int64_t dims[DEFT_MAX_RANK];
  int r = 0;
  for (int d = 0; d < ix->rank - 1; d++) dims[r++] = ix->dims[d];
  for (int d = k; d < params->rank; d++) dims[r++] = params->dims[d];
  deft_tensor *o = deft_kernel_output(c, 0, params->dtype, dims, r);
  if (!o || o->n == 0) return;
  int64_t inner = prod(params->dims, k, params->rank), strides[DEFT_MAX_RANK];
  for (int j = 0; j < k; j++) strides[j] = prod(params->dims, j + 1, params->rank);
  int64_t m = prod(ix->dims, 0, ix->rank - 1);
  for (int64_t t = 0; t < m; t++) {
    int bad = 0;
    int64_t badv = 0, off = nd_offset(ix, t, k, params->dims, strides, &bad, &badv);
    if (off < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "index %" PRId64 ": entry %d is %" PRId64 ", not in [0, %" PRId64
                       ") (params shape %s)", t, bad, badv, params->dims[bad],
                       tshape(params, a, sizeof a));
      return;
    }
    if (!deft_array_copy_elems(o, t * inner, params, off, inner)) {
      copy_oom(c);
      return;
    }
  }
}

/* TF: scatter_nd(indices, grad, shape(params, out_type=indices.dtype)). */
static void gather_nd_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  deft_output params = deft_op_input(op, 0), indices = deft_op_input(op, 1);
  deft_op_builder *b = deft_op_builder_new(g, "Shape", NULL);
  deft_op_builder_add_input(b, params);
  deft_op_builder_set_attr_type(b, "out_type", deft_output_dtype(indices));
  deft_output shape = outn(deft_op_builder_finish(b), 0);
  dx[0] = deft_scatter_nd(g, indices, grads[0], shape, NULL);
}

deft_output deft_gather_nd(deft_graph *g, deft_output params, deft_output indices,
                           const char *name) {
  return build2(g, "GatherNd", name, params, indices);
}

/* ---- ScatterNd ---- */

static void scatter_nd_shape(deft_shape_ctx *c) {
  const deft_tensor *st = deft_shape_ctx_input_const(c, 2);
  deft_shape ss = deft_shape_ctx_input(c, 2);
  if (!st) {
    if (ss.rank == 1 && ss.dims[0] >= 0 && ss.dims[0] <= DEFT_MAX_RANK) {
      deft_shape out = deft_shape_unknown();
      out.rank = (int)ss.dims[0];
      for (int k = 0; k < out.rank; k++) out.dims[k] = -1;
      deft_shape_ctx_set_output(c, 0, out);
    }
    return;
  }
  if (st->rank != 1 || st->n > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape must be a vector of at most %d entries",
                    DEFT_MAX_RANK);
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  for (int k = 0; k < st->n; k++) {
    dims[k] = deft_tensor_index_at(st, k);
    if (dims[k] < 0) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape[%d] = %" PRId64 " is negative", k,
                      dims[k]);
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_make((int)st->n, dims));
}

#define SCATTER_ADD(T)                                                     \
  do {                                                                     \
    T *restrict d_ = (T *)o->buf->data + off;                              \
    const T *restrict s_ = (const T *)u->buf->data + t * inner;            \
    for (int64_t i = 0; i < inner; i++) d_[i] += s_[i];                    \
  } while (0)

static void scatter_nd_kernel(deft_kernel_ctx *c) {
  const deft_tensor *ix = deft_kernel_input(c, 0), *u = deft_kernel_input(c, 1),
                    *st = deft_kernel_input(c, 2);
  char a[128], b[128], s[128];
  deft_dtype dt = u->dtype;
  if (dt != DEFT_FLOAT && dt != DEFT_DOUBLE && dt != DEFT_INT32 && dt != DEFT_INT64) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's ScatterNd adds float, double, int32 and "
                     "int64 updates, not %s", deft_tf_type_name((int)dt));
    return;
  }
  if (st->rank != 1 || st->n > DEFT_MAX_RANK || ix->rank == 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "shape must be a vector of at most %d entries and indices at least a "
                     "vector, got shapes %s and %s", DEFT_MAX_RANK, tshape(st, a, sizeof a),
                     tshape(ix, b, sizeof b));
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  int r = (int)st->n;
  for (int k = 0; k < r; k++) {
    dims[k] = deft_tensor_index_at(st, k);
    if (dims[k] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shape[%d] = %" PRId64 " is negative", k,
                       dims[k]);
      return;
    }
  }
  int64_t kk = ix->dims[ix->rank - 1];
  bool ok = kk <= r && u->rank == ix->rank - 1 + r - kk;
  for (int d = 0; ok && d < ix->rank - 1; d++) ok = u->dims[d] == ix->dims[d];
  for (int d = 0; ok && d < r - kk; d++) ok = u->dims[ix->rank - 1 + d] == dims[kk + d];
  if (!ok) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "updates must have shape indices.shape[:-1] + shape[indices.shape[-1]:], "
                     "but indices has shape %s, updates %s and shape is %s",
                     tshape(ix, a, sizeof a), tshape(u, b, sizeof b),
                     deft_shape_format(deft_shape_make(r, dims), s, sizeof s));
    return;
  }
  int k = (int)kk;
  deft_tensor *o = deft_kernel_output(c, 0, dt, dims, r);
  if (!o) return;
  deft_array_zero(o);
  if (o->n == 0) return;
  int64_t inner = prod(dims, k, r), strides[DEFT_MAX_RANK];
  for (int j = 0; j < k; j++) strides[j] = prod(dims, j + 1, r);
  int64_t m = prod(ix->dims, 0, ix->rank - 1);
  for (int64_t t = 0; t < m; t++) {
    int bad = 0;
    int64_t badv = 0, off = nd_offset(ix, t, k, dims, strides, &bad, &badv);
    if (off < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "index %" PRId64 ": entry %d is %" PRId64 ", not in [0, %" PRId64
                       ") (output shape %s)", t, bad, badv, dims[bad],
                       deft_shape_format(deft_shape_make(r, dims), s, sizeof s));
      return;
    }
    switch (dt) {
      case DEFT_FLOAT: SCATTER_ADD(float); break;
      case DEFT_DOUBLE: SCATTER_ADD(double); break;
      case DEFT_INT32: SCATTER_ADD(int32_t); break;
      default: SCATTER_ADD(int64_t); break;
    }
  }
}

/* TF: gather_nd(grad, indices) for updates. */
static void scatter_nd_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx) {
  dx[1] = deft_gather_nd(g, grads[0], deft_op_input(op, 0), NULL);
}

deft_output deft_scatter_nd(deft_graph *g, deft_output indices, deft_output updates,
                            deft_output shape, const char *name) {
  return build3(g, "ScatterNd", name, indices, updates, shape);
}

/* ---- UnsortedSegmentSum ---- */

static void segment_sum_shape(deft_shape_ctx *c) {
  deft_shape d = deft_shape_ctx_input(c, 0), ids = deft_shape_ctx_input(c, 1);
  const deft_tensor *nt = deft_shape_ctx_input_const(c, 2);
  if (d.rank < 0 || ids.rank < 0) return;
  char a[128], b[128];
  bool ok = ids.rank <= d.rank;
  for (int k = 0; ok && k < ids.rank; k++)
    ok = d.dims[k] < 0 || ids.dims[k] < 0 || d.dims[k] == ids.dims[k];
  if (!ok) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "segment_ids' shape %s must be a prefix of data's shape %s",
                    deft_shape_format(ids, a, sizeof a), deft_shape_format(d, b, sizeof b));
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = d.rank - ids.rank + 1;
  out.dims[0] = nt && nt->n == 1 ? deft_tensor_index_at(nt, 0) : -1;
  for (int k = ids.rank; k < d.rank; k++) out.dims[k - ids.rank + 1] = d.dims[k];
  deft_shape_ctx_set_output(c, 0, out);
}

static void segment_sum_kernel(deft_kernel_ctx *c) {
  const deft_tensor *u = deft_kernel_input(c, 0), *ids = deft_kernel_input(c, 1),
                    *nt = deft_kernel_input(c, 2);
  char a[128], b[128];
  deft_dtype dt = u->dtype;
  if (dt != DEFT_FLOAT && dt != DEFT_DOUBLE && dt != DEFT_INT32 && dt != DEFT_INT64) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's UnsortedSegmentSum adds float, double, "
                     "int32 and int64 data, not %s", deft_tf_type_name((int)dt));
    return;
  }
  bool ok = ids->rank <= u->rank && nt->n == 1 && u->rank - ids->rank + 1 <= DEFT_MAX_RANK;
  for (int k = 0; ok && k < ids->rank; k++) ok = u->dims[k] == ids->dims[k];
  if (!ok) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "segment_ids' shape %s must be a prefix of data's shape %s and "
                     "num_segments a scalar", tshape(ids, a, sizeof a), tshape(u, b, sizeof b));
    return;
  }
  int64_t nseg = deft_tensor_index_at(nt, 0);
  if (nseg < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "num_segments = %" PRId64 " is negative", nseg);
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  int r = u->rank - ids->rank + 1;
  dims[0] = nseg;
  for (int k = ids->rank; k < u->rank; k++) dims[k - ids->rank + 1] = u->dims[k];
  deft_tensor *o = deft_kernel_output(c, 0, dt, dims, r);
  if (!o) return;
  deft_array_zero(o);
  int64_t inner = prod(u->dims, ids->rank, u->rank);
  for (int64_t t = 0; t < ids->n; t++) {
    int64_t v = deft_tensor_index_at(ids, t);
    if (v < 0) continue; /* TF drops negative ids */
    if (v >= nseg) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "segment_ids[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64 ")", t, v,
                       nseg);
      return;
    }
    int64_t off = v * inner;
    switch (dt) {
      case DEFT_FLOAT: SCATTER_ADD(float); break;
      case DEFT_DOUBLE: SCATTER_ADD(double); break;
      case DEFT_INT32: SCATTER_ADD(int32_t); break;
      default: SCATTER_ADD(int64_t); break;
    }
  }
}

/* TF 1.x: gather(grad, segment_ids) for data (a negative id fails the Gather). */
static void segment_sum_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  dx[0] = deft_gather(g, grads[0], deft_op_input(op, 1), NULL);
}

deft_output deft_unsorted_segment_sum(deft_graph *g, deft_output data, deft_output segment_ids,
                                      deft_output num_segments, const char *name) {
  return build3(g, "UnsortedSegmentSum", name, data, segment_ids, num_segments);
}

static const deft_op_def gather_defs[] = {
    {.type = "Gather", .inputs = "params: Tparams, indices: Tindices", .outputs = "output: Tparams",
     .attrs = "validate_indices: bool = true, Tparams: type, Tindices: {int32, int64}",
     .shape = gather_shape, .kernel = gather_kernel, .grad = gather_grad},
    {.type = "GatherV2", .inputs = "params: Tparams, indices: Tindices, axis: Taxis",
     .outputs = "output: Tparams",
     .attrs = "batch_dims: int = 0, Tparams: type, Tindices: {int32, int64}, "
              "Taxis: {int32, int64}",
     .shape = gather_v2_shape, .prepare = gather_v2_prepare, .kernel = gather_v2_kernel,
     .grad = gather_v2_grad},
    {.type = "GatherNd", .inputs = "params: Tparams, indices: Tindices",
     .outputs = "output: Tparams", .attrs = "Tparams: type, Tindices: {int32, int64}",
     .shape = gather_nd_shape, .kernel = gather_nd_kernel, .grad = gather_nd_grad},
    {.type = "ScatterNd", .inputs = "indices: Tindices, updates: T, shape: Tindices",
     .outputs = "output: T", .attrs = "T: type, Tindices: {int32, int64}",
     .shape = scatter_nd_shape, .kernel = scatter_nd_kernel, .grad = scatter_nd_grad},
    {.type = "UnsortedSegmentSum",
     .inputs = "data: T, segment_ids: Tindices, num_segments: Tnumsegments",
     .outputs = "output: T",
     .attrs = "T: numbertype, Tindices: {int32, int64}, Tnumsegments: {int32, int64} = DT_INT32",
     .shape = segment_sum_shape, .kernel = segment_sum_kernel, .grad = segment_sum_grad},
};

DEFT_FAMILY(deft_ops_gather, gather_defs);
