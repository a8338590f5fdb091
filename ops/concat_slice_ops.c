/* ops/concat_slice_ops.c - array ops that move elements between tensors: Pack (tf.stack) and Unpack
 * (tf.unstack), ConcatV2 with ConcatOffset and Slice (which its gradient uses), Tile and
 * DynamicStitch: definition, kernel and gradient side by side, plus the public constructors.
 * Kernels copy whole contiguous runs of elements and handle every dtype (strings are deep
 * copied). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

/* Element copy helpers, defined in ops/array_ops.c. Both return false only when copying string
 * elements runs out of memory. */
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

static int64_t prod_dims(const int64_t *dims, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; i++) n *= dims[i];
  return n;
}

/* True when the product of s's known non-zero dims fits int64 (as every tensor's must, see
 * deft_tensor_check_shape); otherwise fails c naming the shape. */
static bool shape_fits(deft_shape_ctx *c, deft_shape s) {
  int64_t n = 1;
  for (int i = 0; i < s.rank; i++) {
    if (s.dims[i] <= 0) continue;
    if (n > INT64_MAX / s.dims[i]) {
      char a[256];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the output shape %s overflows int64",
                      deft_shape_format(s, a, sizeof a));
      return false;
    }
    n *= s.dims[i];
  }
  return true;
}

/* Describes input i for shape-fn messages: "input 1 ('b:0') has shape [2,3]". */
static const char *describe(deft_shape_ctx *c, int i, char *buf, size_t size) {
  char sh[128];
  deft_output in = deft_op_input(c->op, i);
  snprintf(buf, size, "input %d ('%s:%d') has shape %s", i, deft_op_name(in.op), in.index,
           deft_shape_format(deft_shape_ctx_input(c, i), sh, sizeof sh));
  return buf;
}

/* Merges the shapes of inputs [from, to) (which must all be compatible); fails naming the first
 * conflicting pair. */
static bool merge_all(deft_shape_ctx *c, int from, int to, deft_shape *out) {
  deft_shape s = deft_shape_ctx_input(c, from);
  int first = from;
  for (int i = from + 1; i < to; i++) {
    deft_shape t = deft_shape_ctx_input(c, i);
    if (t.rank < 0) continue;
    if (s.rank < 0) {
      s = t;
      first = i;
      continue;
    }
    bool ok = s.rank == t.rank;
    for (int k = 0; ok && k < s.rank; k++) {
      if (s.dims[k] < 0) s.dims[k] = t.dims[k];
      else ok = t.dims[k] < 0 || t.dims[k] == s.dims[k];
    }
    if (!ok) {
      char a[256], b[256];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "all values must have the same shape, but %s and %s",
                      describe(c, first, a, sizeof a), describe(c, i, b, sizeof b));
      return false;
    }
  }
  *out = s;
  return true;
}

/* Odometer over the first `rank` dims: advances idx, returns false after the last tuple. */
static bool next_index(int64_t *idx, const int64_t *dims, int rank) {
  for (int k = rank - 1; k >= 0; k--) {
    if (++idx[k] < dims[k]) return true;
    idx[k] = 0;
  }
  return false;
}

/* ---- Pack / Unpack ---- */

static void pack_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  int64_t axis = 0;
  deft_op_attr_int(c->op, "axis", &axis);
  deft_shape s;
  if (!merge_all(c, 0, n, &s)) return;
  if (s.rank < 0) {
    deft_shape_ctx_set_output(c, 0, s);
    return;
  }
  if (axis < -(s.rank + 1) || axis > s.rank) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "axis %" PRId64 " is out of range [%d, %d] for values of rank %d", axis,
                    -(s.rank + 1), s.rank, s.rank);
    return;
  }
  if (s.rank + 1 > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the result would have rank %d; deft supports %d",
                    s.rank + 1, DEFT_MAX_RANK);
    return;
  }
  if (axis < 0) axis += s.rank + 1;
  deft_shape out = s;
  out.rank = s.rank + 1;
  for (int i = 0, k = 0; i < out.rank; i++) out.dims[i] = i == axis ? n : s.dims[k++];
  deft_shape_ctx_set_output(c, 0, out);
}

void deft_prepare_axis(deft_prepare_ctx *p) {
  int64_t axis = deft_prepare_attr_int(p, "axis");
  deft_axis_params *ap = deft_prepare_params(p, sizeof *ap);
  if (ap) ap->axis = axis;
}

static void pack_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c);
  const deft_tensor *x0 = deft_kernel_input(c, 0);
  int64_t axis = ((const deft_axis_params *)deft_kernel_params(c))->axis;
  int r = x0->rank;
  char a[128], b[128];
  for (int i = 1; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    bool same = x->rank == r;
    for (int k = 0; same && k < r; k++) same = x->dims[k] == x0->dims[k];
    if (!same) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "all values must have the same shape, but input 0 has shape %s and "
                       "input %d has shape %s", tshape(x0, a, sizeof a), i, tshape(x, b, sizeof b));
      return;
    }
  }
  if (axis < -(r + 1) || axis > r || r + 1 > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "axis %" PRId64 " is out of range [%d, %d] for values of rank %d", axis,
                     -(r + 1), r, r);
    return;
  }
  if (axis < 0) axis += r + 1;
  int64_t dims[DEFT_MAX_RANK];
  for (int i = 0, k = 0; i <= r; i++) dims[i] = i == axis ? n : x0->dims[k++];
  deft_tensor *o = deft_kernel_output(c, 0, x0->dtype, dims, r + 1);
  if (!o) return;
  int64_t outer = prod_dims(x0->dims, 0, (int)axis), inner = prod_dims(x0->dims, (int)axis, r);
  for (int64_t p = 0; p < outer; p++)
    for (int i = 0; i < n; i++)
      if (!deft_array_copy_elems(o, (p * n + i) * inner, deft_kernel_input(c, i), p * inner,
                                 inner)) {
        copy_oom(c);
        return;
      }
}

/* Unpack (tf.unstack), built by Pack's gradient. */
static deft_op *build_unpack(deft_graph *g, deft_output value, int64_t num, int64_t axis,
                             const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Unpack", name ? name : "unstack");
  deft_op_builder_add_input(b, value);
  deft_op_builder_set_attr_int(b, "num", num);
  deft_op_builder_set_attr_int(b, "axis", axis);
  return deft_op_builder_finish(b);
}

/* TF: unstack(grad, num=N, axis=axis). */
static void pack_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  int64_t axis = 0;
  deft_op_attr_int(op, "axis", &axis);
  deft_op *u = build_unpack(g, grads[0], deft_op_num_inputs(op), axis, NULL);
  for (int i = 0; u && i < deft_op_num_inputs(op); i++) dx[i] = outn(u, i);
}

deft_output deft_pack(deft_graph *g, const deft_output *values, int n, int64_t axis,
                      const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Pack", name ? name : "stack");
  deft_op_builder_add_input_list(b, values, n);
  deft_op_builder_set_attr_int(b, "axis", axis);
  return outn(deft_op_builder_finish(b), 0);
}

static void unpack_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  int64_t num = 0, axis = 0;
  deft_op_attr_int(c->op, "num", &num);
  deft_op_attr_int(c->op, "axis", &axis);
  if (s.rank < 0) return; /* outputs stay unknown */
  char sh[128];
  if (axis < -s.rank || axis >= s.rank) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "axis %" PRId64 " is out of range [%d, %d) for a value of shape %s", axis,
                    -s.rank, s.rank, deft_shape_format(s, sh, sizeof sh));
    return;
  }
  if (axis < 0) axis += s.rank;
  if (s.dims[axis] >= 0 && s.dims[axis] != num) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "num = %" PRId64 " but the value has shape %s (dimension %" PRId64
                    " is %" PRId64 ")",
                    num, deft_shape_format(s, sh, sizeof sh), axis, s.dims[axis]);
    return;
  }
  deft_shape out = s;
  out.rank = s.rank - 1;
  for (int i = 0, k = 0; i < s.rank; i++)
    if (i != axis) out.dims[k++] = s.dims[i];
  for (int i = 0; i < num; i++) deft_shape_ctx_set_output(c, i, out);
}

static void unpack_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  int64_t num = deft_kernel_num_outputs(c);
  int64_t axis = ((const deft_axis_params *)deft_kernel_params(c))->axis;
  char sh[128];
  if (axis < -x->rank || axis >= x->rank) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "axis %" PRId64 " is out of range [%d, %d) for a value of shape %s", axis,
                     -x->rank, x->rank, tshape(x, sh, sizeof sh));
    return;
  }
  if (axis < 0) axis += x->rank;
  if (x->dims[axis] != num) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "num = %" PRId64 " but the value has shape %s (dimension %" PRId64
                     " is %" PRId64 ")", num, tshape(x, sh, sizeof sh), axis, x->dims[axis]);
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  for (int i = 0, k = 0; i < x->rank; i++)
    if (i != axis) dims[k++] = x->dims[i];
  int64_t outer = prod_dims(x->dims, 0, (int)axis), inner = prod_dims(x->dims, (int)axis + 1,
                                                                       x->rank);
  for (int64_t i = 0; i < num; i++) {
    deft_tensor *o = deft_kernel_output(c, (int)i, x->dtype, dims, x->rank - 1);
    if (!o) return;
    for (int64_t p = 0; p < outer; p++)
      if (!deft_array_copy_elems(o, p * inner, x, (p * num + i) * inner, inner)) {
        copy_oom(c);
        return;
      }
  }
}

/* TF: stack(grads, axis); outputs without a gradient contribute zeros. */
static void unpack_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  int n = deft_op_num_outputs(op);
  int64_t axis = 0;
  deft_op_attr_int(op, "axis", &axis);
  deft_output *parts = deft_malloc(sizeof *parts * (size_t)(n + 1));
  if (!parts) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building Unpack's gradient");
    return;
  }
  for (int i = 0; i < n; i++)
    parts[i] = grads[i].op ? grads[i] : deft_zeros_like(g, outn(op, i), NULL);
  dx[0] = deft_pack(g, parts, n, axis, NULL);
  deft_free(parts);
}

/* ---- ConcatV2, ConcatOffset ---- */

static void concat_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c) - 1;
  char a[256], b[256];
  deft_shape ax = deft_shape_ctx_input(c, n);
  if (ax.rank > 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "axis (input %d) must be a scalar, got shape %s",
                    n, deft_shape_format(ax, a, sizeof a));
    return;
  }
  int rank = -1, rank_from = -1;
  for (int i = 0; i < n; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank < 0) continue;
    if (rank >= 0 && s.rank != rank) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "all values must have the same rank, but %s and %s",
                      describe(c, rank_from, a, sizeof a), describe(c, i, b, sizeof b));
      return;
    }
    rank = s.rank;
    rank_from = i;
  }
  if (rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "cannot concatenate scalars (use Pack): %s",
                    describe(c, rank_from, a, sizeof a));
    return;
  }
  if (rank < 0) return; /* output stays unknown */
  deft_shape out = deft_shape_unknown();
  out.rank = rank;
  for (int k = 0; k < rank; k++) out.dims[k] = -1;
  const deft_tensor *at = deft_shape_ctx_input_const(c, n);
  if (!at || at->n != 1) {
    deft_shape_ctx_set_output(c, 0, out);
    return;
  }
  int64_t axis = deft_tensor_index_at(at, 0);
  if (axis < -rank || axis >= rank) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "axis %" PRId64 " is out of range [%d, %d) for values of rank %d", axis,
                    -rank, rank, rank);
    return;
  }
  if (axis < 0) axis += rank;
  int64_t sum = 0;
  int from[DEFT_MAX_RANK];
  for (int k = 0; k < rank; k++) from[k] = -1;
  for (int i = 0; i < n; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank < 0) {
      sum = -1;
      continue;
    }
    for (int k = 0; k < rank; k++) {
      if (k == axis) continue;
      if (s.dims[k] < 0) continue;
      if (out.dims[k] >= 0 && out.dims[k] != s.dims[k]) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                        "values must match in every dimension but the axis (%" PRId64
                        "), but %s and %s", axis, describe(c, from[k], a, sizeof a),
                        describe(c, i, b, sizeof b));
        return;
      }
      out.dims[k] = s.dims[k];
      from[k] = i;
    }
    if (sum >= 0 && s.dims[axis] > INT64_MAX - sum) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "the sizes along axis %" PRId64 " overflow int64 (at %s)", axis,
                      describe(c, i, a, sizeof a));
      return;
    }
    if (sum >= 0) sum = s.dims[axis] < 0 ? -1 : sum + s.dims[axis];
  }
  out.dims[axis] = sum;
  if (!shape_fits(c, out)) return;
  deft_shape_ctx_set_output(c, 0, out);
}

static void concat_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c) - 1;
  const deft_tensor *x0 = deft_kernel_input(c, 0), *at = deft_kernel_input(c, n);
  char a[128], b[128];
  if (at->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "axis must hold a single value, got shape %s",
                     tshape(at, a, sizeof a));
    return;
  }
  int r = x0->rank;
  int64_t axis = deft_tensor_index_at(at, 0);
  if (r == 0 || axis < -r || axis >= r) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "axis %" PRId64 " is out of range [%d, %d) for values of shape %s", axis, -r,
                     r, tshape(x0, a, sizeof a));
    return;
  }
  if (axis < 0) axis += r;
  int64_t dims[DEFT_MAX_RANK];
  memcpy(dims, x0->dims, sizeof dims);
  dims[axis] = 0;
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    bool ok = x->rank == r;
    for (int k = 0; ok && k < r; k++) ok = k == axis || x->dims[k] == x0->dims[k];
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "values must match in every dimension but the axis (%" PRId64
                       "), but input 0 has shape %s and input %d has shape %s", axis,
                       tshape(x0, a, sizeof a), i, tshape(x, b, sizeof b));
      return;
    }
    dims[axis] += x->dims[axis];
  }
  deft_tensor *o = deft_kernel_output(c, 0, x0->dtype, dims, r);
  if (!o) return;
  int64_t outer = prod_dims(dims, 0, (int)axis), pos = 0;
  for (int64_t p = 0; p < outer; p++)
    for (int i = 0; i < n; i++) {
      const deft_tensor *x = deft_kernel_input(c, i);
      int64_t inner = prod_dims(x->dims, (int)axis, r);
      if (!deft_array_copy_elems(o, pos, x, p * inner, inner)) {
        copy_oom(c);
        return;
      }
      pos += inner;
    }
}

static void concat_offset_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c) - 1;
  for (int i = 0; i < n; i++) deft_shape_ctx_set_output(c, i, deft_shape_ctx_input(c, i + 1));
}

/* Output i = where input i starts in the concatenation: zeros except the axis entry, the sum of
 * the preceding inputs' sizes along the axis. A negative axis counts from the end. */
static void concat_offset_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c) - 1;
  const deft_tensor *at = deft_kernel_input(c, 0), *s0 = deft_kernel_input(c, 1);
  char a[128], b[128];
  if (at->n != 1 || s0->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "concat_dim must be a scalar and each shape a vector, got %s and %s",
                     tshape(at, a, sizeof a), tshape(s0, b, sizeof b));
    return;
  }
  int64_t r = s0->n, axis = deft_tensor_i32(at)[0];
  if (axis < -r || axis >= r) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "concat_dim %" PRId64 " is out of range [%" PRId64 ", %" PRId64 ")", axis,
                     -r, r);
    return;
  }
  if (axis < 0) axis += r;
  const int32_t *d0 = deft_tensor_i32(s0);
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    const deft_tensor *s = deft_kernel_input(c, i + 1);
    bool ok = s->rank == 1 && s->n == r;
    for (int64_t k = 0; ok && k < r; k++) ok = k == axis || deft_tensor_i32(s)[k] == d0[k];
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "shape %d does not match shape 0 in every dimension but %" PRId64, i,
                       axis);
      return;
    }
    deft_tensor *o = deft_kernel_output(c, i, DEFT_INT32, &r, 1);
    if (!o) return;
    for (int64_t k = 0; k < r; k++) deft_tensor_i32(o)[k] = k == axis ? (int32_t)off : 0;
    off += deft_tensor_i32(s)[axis];
  }
}

static deft_output build_slice(deft_graph *g, deft_output x, deft_output begin, deft_output size,
                               const char *name);

/* TF (N <= 16 form): offsets = ConcatOffset(axis, [Shape(x_i)]); dx_i = Slice(grad, offset_i,
 * Shape(x_i)). TF first takes axis % Rank(x_0); ConcatOffset here accepts negative axes, so that
 * FloorMod is not needed. The axis gets no gradient. */
static void concat_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  int n = deft_op_num_inputs(op) - 1;
  deft_output axis = deft_op_input(op, n);
  if (deft_output_dtype(axis) != DEFT_INT32) {
    deft_op *p = axis.op;
    const deft_tensor *t = NULL;
    if (!strcmp(deft_op_type(p), "Const") && deft_op_attr_tensor(p, "value", &t) && t->n == 1) {
      axis = deft_const_int32(g, (int32_t)deft_tensor_index_at(t, 0), "concat_dim");
    } else {
      deft_graph_fail(g, DEFT_UNIMPLEMENTED,
                      "gradient of ConcatV2 '%s': an int64 axis must be a Const", deft_op_name(op));
      return;
    }
  }
  deft_output *shapes = deft_malloc(sizeof *shapes * (size_t)(n + 1));
  if (!shapes) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building ConcatV2's gradient");
    return;
  }
  for (int i = 0; i < n; i++) shapes[i] = deft_shape_of(g, deft_op_input(op, i), NULL);
  deft_op_builder *b = deft_op_builder_new(g, "ConcatOffset", NULL);
  deft_op_builder_add_input(b, axis);
  deft_op_builder_add_input_list(b, shapes, n);
  deft_op *off = deft_op_builder_finish(b);
  for (int i = 0; off && i < n; i++)
    dx[i] = build_slice(g, grads[0], outn(off, i), shapes[i], NULL);
  deft_free(shapes);
}

deft_output deft_concat(deft_graph *g, const deft_output *values, int n, deft_output axis,
                        const char *name) {
  deft_output none = {NULL, 0};
  if (n == 1) { /* as tf.concat: a single value is returned through an Identity */
    if (!deft_inputs_ok(g, "ConcatV2", &axis, 1)) return none;
    return deft_identity(g, values[0], name ? name : "concat");
  }
  deft_op_builder *b = deft_op_builder_new(g, "ConcatV2", name ? name : "concat");
  deft_op_builder_add_input_list(b, values, n);
  deft_op_builder_add_input(b, axis);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- Slice ---- */

/* Resolves begin/size against dims (size -1 = to the end); false with msg set when invalid. */
static bool slice_bounds(const int64_t *dims, int r, const int64_t *begin, int64_t *size,
                         char *msg, size_t len) {
  for (int k = 0; k < r; k++) {
    if (size[k] == -1) size[k] = dims[k] - begin[k];
    if (begin[k] < 0 || begin[k] > dims[k] || size[k] < 0 || begin[k] + size[k] > dims[k]) {
      snprintf(msg, len,
               "dimension %d: begin %" PRId64 " and size %" PRId64 " do not fit size %" PRId64,
               k, begin[k], size[k], dims[k]);
      return false;
    }
  }
  return true;
}

static void slice_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0), bs = deft_shape_ctx_input(c, 1);
  const deft_tensor *bt = deft_shape_ctx_input_const(c, 1), *st = deft_shape_ctx_input_const(c, 2);
  int r = x.rank >= 0 ? x.rank : (bs.rank == 1 ? (int)bs.dims[0] : -1);
  if (r < 0 || r > DEFT_MAX_RANK) return;
  char msg[256];
  if ((bt && bt->n != r) || (st && st->n != r)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "begin and size must have one entry per dimension of the input (%d)", r);
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = r;
  for (int k = 0; k < r; k++) {
    int64_t b = bt ? deft_tensor_index_at(bt, k) : -1, s = st ? deft_tensor_index_at(st, k) : -2;
    out.dims[k] = s >= 0 ? s : -1;
    if (s == -1 && b >= 0 && x.rank >= 0 && x.dims[k] >= 0) out.dims[k] = x.dims[k] - b;
    if (bt && st && x.rank >= 0 && x.dims[k] >= 0) {
      int64_t sz = s;
      if (!slice_bounds(&x.dims[k], 1, &b, &sz, msg, sizeof msg)) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s (dimension %d)", msg, k);
        return;
      }
    }
  }
  deft_shape_ctx_set_output(c, 0, out);
}

static void slice_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  int64_t begin[DEFT_MAX_RANK], size[DEFT_MAX_RANK];
  int nb, ns;
  char msg[256];
  const deft_tensor *bt = deft_kernel_input(c, 1), *st = deft_kernel_input(c, 2);
  if (bt->rank != 1 || st->rank != 1 || bt->n != x->rank || st->n != x->rank) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "begin and size must be vectors with one entry per dimension of the input "
                     "(shape %s)", tshape(x, msg, sizeof msg));
    return;
  }
  nb = ns = x->rank;
  for (int k = 0; k < nb; k++) begin[k] = deft_tensor_index_at(bt, k);
  for (int k = 0; k < ns; k++) size[k] = deft_tensor_index_at(st, k);
  if (!slice_bounds(x->dims, x->rank, begin, size, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, size, x->rank);
  if (!o || o->n == 0) return;
  int r = x->rank;
  if (r == 0) {
    if (!deft_array_copy_elems(o, 0, x, 0, 1)) copy_oom(c);
    return;
  }
  /* Copy rows: every index tuple over the leading r-1 dims, size[r-1] elements each. */
  int64_t idx[DEFT_MAX_RANK] = {0}, strides[DEFT_MAX_RANK];
  strides[r - 1] = 1;
  for (int k = r - 2; k >= 0; k--) strides[k] = strides[k + 1] * x->dims[k + 1];
  int64_t row = size[r - 1], pos = 0;
  do {
    int64_t src = begin[r - 1];
    for (int k = 0; k < r - 1; k++) src += (begin[k] + idx[k]) * strides[k];
    if (!deft_array_copy_elems(o, pos, x, src, row)) {
      copy_oom(c);
      return;
    }
    pos += row;
  } while (next_index(idx, size, r - 1));
}

static deft_output build_slice(deft_graph *g, deft_output x, deft_output begin, deft_output size,
                               const char *name) {
  deft_output in[3] = {x, begin, size};
  return deft_build_simple(g, "Slice", name, in, 3);
}

/* ---- Tile ---- */

static void tile_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0), ms = deft_shape_ctx_input(c, 1);
  const deft_tensor *m = deft_shape_ctx_input_const(c, 1);
  char a[128];
  if (ms.rank >= 0 && ms.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "multiples must be a vector, got shape %s",
                    deft_shape_format(ms, a, sizeof a));
    return;
  }
  int r = x.rank >= 0 ? x.rank : (ms.rank == 1 ? (int)ms.dims[0] : -1);
  if (r < 0 || r > DEFT_MAX_RANK) return;
  if ((m && m->n != r) || (ms.rank == 1 && ms.dims[0] >= 0 && ms.dims[0] != r)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "multiples must have one entry per dimension of the input (%d), got shape %s",
                    r, deft_shape_format(ms, a, sizeof a));
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = r;
  for (int k = 0; k < r; k++) {
    int64_t mk = m ? deft_tensor_index_at(m, k) : -1;
    if (m && mk < 0) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "multiples[%d] = %" PRId64 " is negative", k, mk);
      return;
    }
    bool known = mk >= 0 && x.rank >= 0 && x.dims[k] >= 0;
    if (known && mk && x.dims[k] > INT64_MAX / mk) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "dimension %d (%" PRId64 ") times multiples[%d] = %" PRId64
                      " overflows int64", k, x.dims[k], k, mk);
      return;
    }
    out.dims[k] = known ? x.dims[k] * mk : -1;
    if (mk == 0) out.dims[k] = 0;
  }
  if (!shape_fits(c, out)) return;
  deft_shape_ctx_set_output(c, 0, out);
}

static void tile_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *mt = deft_kernel_input(c, 1);
  int r = x->rank;
  char a[128], b[128];
  if (mt->rank != 1 || mt->n != r) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "multiples must be a vector with one entry per dimension of the input "
                     "(shape %s), got shape %s", tshape(x, a, sizeof a), tshape(mt, b, sizeof b));
    return;
  }
  int64_t dims[DEFT_MAX_RANK], m[DEFT_MAX_RANK];
  for (int k = 0; k < r; k++) {
    m[k] = deft_tensor_index_at(mt, k);
    if (m[k] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "multiples[%d] = %" PRId64 " is negative", k,
                       m[k]);
      return;
    }
    if (x->dims[k] && m[k] > INT64_MAX / x->dims[k]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the tiled shape overflows int64");
      return;
    }
    dims[k] = x->dims[k] * m[k];
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, dims, r);
  if (!o || o->n == 0) return;
  if (r == 0) {
    if (!deft_array_copy_elems(o, 0, x, 0, 1)) copy_oom(c);
    return;
  }
  /* For every output row (index tuple over the leading r-1 dims), the source row is the tuple
   * modulo the input dims; it is copied m[r-1] times. */
  int64_t idx[DEFT_MAX_RANK] = {0}, strides[DEFT_MAX_RANK];
  strides[r - 1] = 1;
  for (int k = r - 2; k >= 0; k--) strides[k] = strides[k + 1] * x->dims[k + 1];
  int64_t row = x->dims[r - 1], pos = 0;
  do {
    int64_t src = 0;
    for (int k = 0; k < r - 1; k++) src += (idx[k] % x->dims[k]) * strides[k];
    for (int64_t t = 0; t < m[r - 1]; t++, pos += row)
      if (!deft_array_copy_elems(o, pos, x, src, row)) {
        copy_oom(c);
        return;
      }
  } while (next_index(idx, dims, r - 1));
}

deft_output deft_tile(deft_graph *g, deft_output x, deft_output multiples, const char *name) {
  deft_output in[2] = {x, multiples};
  return deft_build_simple(g, "Tile", name, in, 2);
}

/* ---- DynamicStitch ---- */

static void stitch_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c) / 2;
  char a[256], b[256];
  deft_shape elem = deft_shape_unknown();
  int elem_from = -1;
  int64_t first = 0;
  bool first_known = true;
  for (int i = 0; i < n; i++) {
    deft_shape is = deft_shape_ctx_input(c, i), ds = deft_shape_ctx_input(c, n + i);
    const deft_tensor *it = deft_shape_ctx_input_const(c, i);
    if (it) {
      for (int64_t k = 0; k < it->n; k++) {
        int64_t v = deft_tensor_index_at(it, k);
        if (v < 0) {
          deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                          "indices[%d] holds %" PRId64 ", which is out of bounds (negative)", i,
                          v);
          return;
        }
        if (v + 1 > first) first = v + 1;
      }
    } else {
      first_known = false;
    }
    if (is.rank < 0 || ds.rank < 0) continue;
    bool ok = ds.rank >= is.rank;
    for (int k = 0; ok && k < is.rank; k++)
      ok = is.dims[k] < 0 || ds.dims[k] < 0 || is.dims[k] == ds.dims[k];
    if (!ok) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "the shape of data[%d] must start with the shape of indices[%d], but %s "
                      "and %s", i, i, describe(c, n + i, a, sizeof a), describe(c, i, b, sizeof b));
      return;
    }
    deft_shape e = deft_shape_unknown();
    e.rank = ds.rank - is.rank;
    for (int k = 0; k < e.rank; k++) e.dims[k] = ds.dims[is.rank + k];
    if (elem_from < 0) {
      elem = e;
      elem_from = i;
      continue;
    }
    ok = e.rank == elem.rank;
    for (int k = 0; ok && k < e.rank; k++) {
      ok = e.dims[k] < 0 || elem.dims[k] < 0 || e.dims[k] == elem.dims[k];
      if (elem.dims[k] < 0) elem.dims[k] = e.dims[k];
    }
    if (!ok) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "data[%d] and data[%d] hold elements of different shapes: %s, %s",
                      elem_from, i, describe(c, n + elem_from, a, sizeof a),
                      describe(c, n + i, b, sizeof b));
      return;
    }
  }
  if (elem.rank < 0 || elem.rank + 1 > DEFT_MAX_RANK) return;
  deft_shape out = deft_shape_unknown();
  out.rank = elem.rank + 1;
  out.dims[0] = first_known ? first : -1;
  for (int k = 0; k < elem.rank; k++) out.dims[k + 1] = elem.dims[k];
  deft_shape_ctx_set_output(c, 0, out);
}

static void stitch_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c) / 2;
  const deft_tensor *i0 = deft_kernel_input(c, 0), *d0 = deft_kernel_input(c, n);
  char a[128], b[128];
  int er = d0->rank - i0->rank;
  if (er < 0 || er + 1 > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "data[0] (shape %s) must have the shape of indices[0] (%s) as a prefix",
                     tshape(d0, a, sizeof a), tshape(i0, b, sizeof b));
    return;
  }
  const int64_t *edims = d0->dims + i0->rank;
  int64_t first = 0;
  for (int i = 0; i < n; i++) {
    const deft_tensor *it = deft_kernel_input(c, i), *dt = deft_kernel_input(c, n + i);
    bool ok = dt->rank == it->rank + er;
    for (int k = 0; ok && k < it->rank; k++) ok = dt->dims[k] == it->dims[k];
    for (int k = 0; ok && k < er; k++) ok = dt->dims[it->rank + k] == edims[k];
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "data[%d] has shape %s, but it must be the shape of indices[%d] (%s) "
                       "followed by the element shape of data[0]", i, tshape(dt, a, sizeof a), i,
                       tshape(it, b, sizeof b));
      return;
    }
    const int32_t *iv = deft_tensor_i32(it);
    for (int64_t k = 0; k < it->n; k++) {
      if (iv[k] < 0) {
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "indices[%d][%" PRId64 "] = %d is out of bounds (negative)", i, k,
                         (int)iv[k]);
        return;
      }
      if (iv[k] + (int64_t)1 > first) first = iv[k] + (int64_t)1;
    }
  }
  int64_t dims[DEFT_MAX_RANK];
  dims[0] = first;
  for (int k = 0; k < er; k++) dims[k + 1] = edims[k];
  deft_tensor *o = deft_kernel_output(c, 0, d0->dtype, dims, er + 1);
  if (!o) return;
  deft_array_zero(o); /* rows no index names stay zero */
  int64_t inner = prod_dims(edims, 0, er);
  for (int i = 0; i < n; i++) {
    const deft_tensor *it = deft_kernel_input(c, i), *dt = deft_kernel_input(c, n + i);
    const int32_t *iv = deft_tensor_i32(it);
    for (int64_t k = 0; k < it->n; k++)
      if (!deft_array_copy_elems(o, iv[k] * inner, dt, k * inner, inner)) {
        copy_oom(c);
        return;
      }
  }
}

deft_output deft_dynamic_stitch(deft_graph *g, const deft_output *indices,
                                const deft_output *data, int n, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "DynamicStitch", name);
  deft_op_builder_add_input_list(b, indices, n);
  deft_op_builder_add_input_list(b, data, n);
  return outn(deft_op_builder_finish(b), 0);
}

static const deft_op_def shape_defs[] = {
    {.type = "Pack", .inputs = "values: N * T", .outputs = "output: T",
     .attrs = "N: int >= 1, T: type, axis: int = 0", .shape = pack_shape,
     .prepare = deft_prepare_axis, .kernel = pack_kernel, .grad = pack_grad},
    {.type = "Unpack", .inputs = "value: T", .outputs = "output: num * T",
     .attrs = "num: int >= 0, T: type, axis: int = 0", .shape = unpack_shape,
     .prepare = deft_prepare_axis, .kernel = unpack_kernel, .grad = unpack_grad},
    {.type = "ConcatV2", .inputs = "values: N * T, axis: Tidx", .outputs = "output: T",
     .attrs = "N: int >= 2, T: type, Tidx: {int32, int64} = DT_INT32", .shape = concat_shape,
     .kernel = concat_kernel, .grad = concat_grad},
    {.type = "ConcatOffset", .inputs = "concat_dim: int32, shape: N * int32",
     .outputs = "offset: N * int32", .attrs = "N: int >= 2", .shape = concat_offset_shape,
     .kernel = concat_offset_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    /* TF's Slice gradient pads grad back to the input shape (Pad, Sub, Reshape, Concat); deft
     * has no Pad yet, so Slice is marked not differentiable. ConcatV2's gradient uses Slice
     * only on the gradient path, so it is not affected. */
    {.type = "Slice", .inputs = "input: T, begin: Index, size: Index", .outputs = "output: T",
     .attrs = "T: type, Index: {int32, int64}", .shape = slice_shape, .kernel = slice_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    /* TF's gradient sums over the tiles (Reshape + Sum); it needs the math family's Sum, so Tile
     * is marked not differentiable until that is wired in. */
    {.type = "Tile", .inputs = "input: T, multiples: Tmultiples", .outputs = "output: T",
     .attrs = "T: type, Tmultiples: {int32, int64} = DT_INT32", .shape = tile_shape,
     .kernel = tile_kernel, .flags = DEFT_OP_NOT_DIFFERENTIABLE},
    /* TF differentiates `data` with Gather; deft marks DynamicStitch not differentiable (the
     * indices never have a gradient). */
    {.type = "DynamicStitch", .inputs = "indices: N * int32, data: N * T", .outputs = "merged: T",
     .attrs = "N: int >= 1, T: type", .shape = stitch_shape, .kernel = stitch_kernel,
     .flags = DEFT_OP_NOT_DIFFERENTIABLE},
};

DEFT_FAMILY(deft_ops_shape, shape_defs);
