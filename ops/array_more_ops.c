/* ops/array_more_ops.c - more array ops of TF1 graphs: ShapeN, IdentityN, OneHot, Cumsum and
 * ClipByValue: definition, shape function, kernel and gradient side by side, plus the public
 * constructors. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t n = 1;
  for (int k = from; k < to; k++) n *= d[k];
  return n;
}

/* ---- ShapeN ---- */

static void shape_n_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  for (int i = 0; i < n; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    int64_t d = s.rank;
    deft_shape_ctx_set_output(c, i, deft_shape_make(1, &d));
  }
}

static void shape_n_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c);
  deft_dtype ot = deft_kernel_output_dtype(c, 0); /* out_type, every output */
  for (int i = 0; i < n; i++) {
    const deft_tensor *x = deft_kernel_input(c, i);
    int64_t r = x->rank;
    deft_tensor *o = deft_kernel_output(c, i, ot, &r, 1);
    if (!o) return;
    for (int k = 0; k < x->rank; k++) {
      if (ot == DEFT_INT32) {
        if (x->dims[k] > INT32_MAX) {
          deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                           "dimension %d of input %d (%" PRId64 ") does not fit int32", k, i,
                           x->dims[k]);
          return;
        }
        deft_tensor_i32(o)[k] = (int32_t)x->dims[k];
      } else {
        deft_tensor_i64(o)[k] = x->dims[k];
      }
    }
  }
}

/* ShapeN: returns the op; output i is Shape(inputs[i]). */
deft_op *deft_shape_n(deft_graph *g, const deft_output *inputs, int n, deft_dtype out_type,
                      const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "ShapeN", name);
  deft_op_builder_add_input_list(b, inputs, n);
  deft_op_builder_set_attr_type(b, "out_type", out_type);
  return deft_op_builder_finish(b);
}

/* ---- IdentityN ---- */

static void identity_n_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  for (int i = 0; i < n; i++) deft_shape_ctx_set_output(c, i, deft_shape_ctx_input(c, i));
}

static void identity_n_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c);
  for (int i = 0; i < n; i++) deft_kernel_forward(c, i, deft_kernel_input(c, i));
}

/* TF: the gradients pass through. */
static void identity_n_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx) {
  (void)g;
  for (int i = 0; i < deft_op_num_inputs(op); i++) dx[i] = grads[i];
}

deft_op *deft_identity_n(deft_graph *g, const deft_output *inputs, int n, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "IdentityN", name);
  deft_op_builder_add_input_list(b, inputs, n);
  return deft_op_builder_finish(b);
}

/* ---- OneHot ---- */

static void one_hot_shape(deft_shape_ctx *c) {
  deft_shape ix = deft_shape_ctx_input(c, 0);
  const deft_tensor *dt = deft_shape_ctx_input_const(c, 1);
  int64_t axis = -1;
  deft_op_attr_int(c->op, "axis", &axis);
  if (ix.rank < 0) return;
  if (axis < -1 || axis > ix.rank || ix.rank + 1 > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "axis %" PRId64 " must be -1 or in [0, %d] for indices of rank %d", axis,
                    ix.rank, ix.rank);
    return;
  }
  int64_t depth = dt && dt->n == 1 ? deft_tensor_index_at(dt, 0) : -1;
  if (dt && depth < 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "depth = %" PRId64 " is negative", depth);
    return;
  }
  int a = axis < 0 ? ix.rank : (int)axis;
  deft_shape out = deft_shape_unknown();
  out.rank = ix.rank + 1;
  for (int k = 0, j = 0; k < out.rank; k++) out.dims[k] = k == a ? depth : ix.dims[j++];
  deft_shape_ctx_set_output(c, 0, out);
}

static void one_hot_kernel(deft_kernel_ctx *c) {
  const deft_tensor *ix = deft_kernel_input(c, 0), *dt = deft_kernel_input(c, 1),
                    *on = deft_kernel_input(c, 2), *off = deft_kernel_input(c, 3);
  int64_t axis = ((const deft_axis_params *)deft_kernel_params(c))->axis;
  char a[64], b[64];
  if (dt->n != 1 || on->n != 1 || off->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "depth, on_value and off_value must be scalars, got shapes %s, %s and ...",
                     tshape(dt, a, sizeof a), tshape(on, b, sizeof b));
    return;
  }
  if (on->dtype == DEFT_STRING) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's OneHot does not make string tensors");
    return;
  }
  int64_t depth = deft_tensor_index_at(dt, 0);
  if (depth < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "depth = %" PRId64 " is negative", depth);
    return;
  }
  if (axis < -1 || axis > ix->rank || ix->rank + 1 > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "axis %" PRId64 " must be -1 or in [0, %d] for indices of shape %s", axis,
                     ix->rank, tshape(ix, a, sizeof a));
    return;
  }
  int ax = axis < 0 ? ix->rank : (int)axis;
  int64_t dims[DEFT_MAX_RANK];
  for (int k = 0, j = 0; k <= ix->rank; k++) dims[k] = k == ax ? depth : ix->dims[j++];
  deft_tensor *o = deft_kernel_output(c, 0, on->dtype, dims, ix->rank + 1);
  if (!o || o->n == 0) return;
  size_t es = deft_dtype_size(on->dtype);
  char *p = o->buf->data;
  const char *offv = off->buf->data, *onv = on->buf->data;
  for (int64_t i = 0; i < o->n; i++) memcpy(p + (size_t)i * es, offv, es);
  /* indices [outer, inner] -> output [outer, depth, inner] */
  int64_t outer = prod(ix->dims, 0, ax), inner = prod(ix->dims, ax, ix->rank);
  for (int64_t q = 0; q < outer; q++)
    for (int64_t r = 0; r < inner; r++) {
      int64_t v;
      if (ix->dtype == DEFT_UINT8) v = deft_tensor_u8(ix)[q * inner + r];
      else v = deft_tensor_index_at(ix, q * inner + r);
      if (v >= 0 && v < depth) memcpy(p + (size_t)((q * depth + v) * inner + r) * es, onv, es);
    }
}

deft_output deft_one_hot(deft_graph *g, deft_output indices, deft_output depth,
                         deft_output on_value, deft_output off_value, int64_t axis,
                         const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "OneHot", name);
  deft_op_builder_add_input(b, indices);
  deft_op_builder_add_input(b, depth);
  deft_op_builder_add_input(b, on_value);
  deft_op_builder_add_input(b, off_value);
  deft_op_builder_set_attr_int(b, "axis", axis);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- Cumsum ---- */

typedef struct cumsum_params {
  int64_t axis;
  bool exclusive, reverse;
} cumsum_params;

/* The attrs, once per plan step. */
static void cumsum_prepare(deft_prepare_ctx *pc) {
  bool exclusive = deft_prepare_attr_bool(pc, "exclusive");
  bool reverse = deft_prepare_attr_bool(pc, "reverse");
  cumsum_params *p = deft_prepare_params(pc, sizeof *p);
  if (!p) return;
  p->exclusive = exclusive;
  p->reverse = reverse;
}

/* The attrs from the prepare step, and the axis input, range-checked against x. */
static bool cumsum_params_of(deft_kernel_ctx *c, const deft_tensor *x, cumsum_params *p) {
  const deft_tensor *at = deft_kernel_input(c, 1);
  char sh[64];
  *p = *(const cumsum_params *)deft_kernel_params(c);
  if (at->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "axis must be a scalar, got shape %s",
                     tshape(at, sh, sizeof sh));
    return false;
  }
  p->axis = deft_tensor_index_at(at, 0);
  if (p->axis < -x->rank || p->axis >= x->rank) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "axis %" PRId64 " is out of range [%d, %d) for x of shape %s", p->axis,
                     -x->rank, x->rank, tshape(x, sh, sizeof sh));
    return false;
  }
  if (p->axis < 0) p->axis += x->rank;
  return true;
}

/* For each outer block: a running sum over the n rows of `inner` elements (a vector loop). */
#define CUMSUM(T)                                                                         \
  do {                                                                                    \
    const T *xs = (const T *)x->buf->data;                                                \
    T *ys = (T *)o->buf->data;                                                            \
    for (int64_t q = 0; q < outer; q++) {                                                 \
      const T *xb = xs + q * n * inner;                                                   \
      T *yb = ys + q * n * inner;                                                         \
      for (int64_t s = 0; s < n; s++) {                                                   \
        int64_t r = p.reverse ? n - 1 - s : s, prev = p.reverse ? r + 1 : r - 1;          \
        T *restrict yr = yb + r * inner;                                                  \
        if (s == 0) {                                                                     \
          for (int64_t i = 0; i < inner; i++) yr[i] = p.exclusive ? (T)0 : xb[r * inner + i]; \
          continue;                                                                       \
        }                                                                                 \
        const T *restrict yp = yb + prev * inner;                                         \
        const T *restrict xr = xb + (p.exclusive ? prev : r) * inner;                     \
        for (int64_t i = 0; i < inner; i++) yr[i] = (T)(yp[i] + xr[i]);                  \
      }                                                                                   \
    }                                                                                     \
  } while (0)

static void cumsum_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  cumsum_params p;
  if (!cumsum_params_of(c, x, &p)) return;
  if (x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE && x->dtype != DEFT_INT32 &&
      x->dtype != DEFT_INT64) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's Cumsum adds float, double, int32 and int64, "
                     "not %s", deft_dtype_name(x->dtype));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!o || o->n == 0) return;
  int64_t outer = prod(x->dims, 0, (int)p.axis), n = x->dims[p.axis];
  int64_t inner = prod(x->dims, (int)p.axis + 1, x->rank);
  switch (x->dtype) {
    case DEFT_FLOAT: CUMSUM(float); break;
    case DEFT_DOUBLE: CUMSUM(double); break;
    case DEFT_INT32: CUMSUM(uint32_t); break; /* wraps, as TF */
    default: CUMSUM(uint64_t); break;
  }
}

static deft_output build_cumsum(deft_graph *g, deft_output x, deft_output axis, bool exclusive,
                                bool reverse, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Cumsum", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, axis);
  deft_op_builder_set_attr_bool(b, "exclusive", exclusive);
  deft_op_builder_set_attr_bool(b, "reverse", reverse);
  return outn(deft_op_builder_finish(b), 0);
}

/* TF: cumsum(grad, axis, exclusive=exclusive, reverse=not reverse). */
static void cumsum_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  bool exclusive = false, reverse = false;
  deft_op_attr_bool(op, "exclusive", &exclusive);
  deft_op_attr_bool(op, "reverse", &reverse);
  dx[0] = build_cumsum(g, grads[0], deft_op_input(op, 1), exclusive, !reverse, NULL);
}

deft_output deft_cumsum(deft_graph *g, deft_output x, deft_output axis, bool exclusive,
                        bool reverse, const char *name) {
  return build_cumsum(g, x, axis, exclusive, reverse, name);
}

/* ---- ClipByValue ---- */

static void clip_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0);
  for (int i = 1; i < 3; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    bool ok = s.rank <= 0 || x.rank < 0 || s.rank == x.rank;
    for (int k = 0; ok && s.rank > 0 && k < s.rank && x.rank >= 0; k++)
      ok = s.dims[k] < 0 || x.dims[k] < 0 || s.dims[k] == x.dims[k];
    if (!ok) {
      char a[128], b[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "%s must be a scalar or have t's shape %s, got %s",
                      i == 1 ? "clip_value_min" : "clip_value_max",
                      deft_shape_format(x, a, sizeof a), deft_shape_format(s, b, sizeof b));
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, x);
}

#define CLIP(T)                                                                 \
  do {                                                                          \
    const T *xs = (const T *)x->buf->data, *ls = (const T *)lo->buf->data,      \
            *hs = (const T *)hi->buf->data;                                     \
    T *restrict ys = (T *)o->buf->data;                                         \
    int64_t lstep = lo->n == 1 ? 0 : 1, hstep = hi->n == 1 ? 0 : 1;             \
    for (int64_t i = 0; i < x->n; i++) {                                        \
      T v = xs[i], l = ls[i * lstep], h = hs[i * hstep];                        \
      v = v < l ? l : v;                                                        \
      ys[i] = v > h ? h : v;                                                    \
    }                                                                           \
  } while (0)

static void clip_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *lo = deft_kernel_input(c, 1),
                    *hi = deft_kernel_input(c, 2);
  char a[128], b[128], s[128];
  bool ok = true;
  for (int i = 0; i < 2; i++) {
    const deft_tensor *t = i ? hi : lo;
    bool same = t->rank == x->rank;
    for (int k = 0; same && k < x->rank; k++) same = t->dims[k] == x->dims[k];
    ok &= t->n == 1 || same;
  }
  if (!ok) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "clip_value_min (shape %s) and clip_value_max (shape %s) must be scalars "
                     "or have t's shape %s", tshape(lo, a, sizeof a), tshape(hi, b, sizeof b),
                     tshape(x, s, sizeof s));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!o || o->n == 0) return;
  switch (x->dtype) {
    case DEFT_FLOAT: CLIP(float); break;
    case DEFT_DOUBLE: CLIP(double); break;
    case DEFT_INT32: CLIP(int32_t); break;
    case DEFT_INT64: CLIP(int64_t); break;
    case DEFT_UINT8: CLIP(uint8_t); break;
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's ClipByValue has no kernel for %s",
                       deft_dtype_name(x->dtype));
  }
}

/* TF's _ClipByValueGrad: the gradient goes to t where it is inside [min, max], to min where t <
 * min and to max where t > max; each summed back to its input's shape. */
static void clip_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), z = deft_op_input(op, 2);
  deft_output gr = grads[0];
  deft_output sx = deft_shape_of(g, x, NULL), sy = deft_shape_of(g, y, NULL),
              sz = deft_shape_of(g, z, NULL);
  deft_output zeros = deft_zeros_like(g, gr, NULL);
  deft_output xymask = deft_less(g, x, y, NULL), xzmask = deft_greater(g, x, z, NULL);
  deft_output ry = outn(deft_broadcast_gradient_args(g, sx, sy, NULL).op, 1);
  deft_output rz = outn(deft_broadcast_gradient_args(g, sx, sz, NULL).op, 1);
  deft_output xgrad = deft_select(g, deft_logical_or(g, xymask, xzmask, NULL), zeros, gr, NULL);
  deft_output ygrad = deft_select(g, xymask, gr, zeros, NULL);
  deft_output zgrad = deft_select(g, xzmask, gr, zeros, NULL);
  dx[0] = xgrad;
  dx[1] = deft_reshape(g, deft_sum(g, ygrad, ry, false, NULL), sy, NULL);
  dx[2] = deft_reshape(g, deft_sum(g, zgrad, rz, false, NULL), sz, NULL);
}

deft_output deft_clip_by_value_op(deft_graph *g, deft_output t, deft_output clip_value_min,
                                  deft_output clip_value_max, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "ClipByValue", name);
  deft_op_builder_add_input(b, t);
  deft_op_builder_add_input(b, clip_value_min);
  deft_op_builder_add_input(b, clip_value_max);
  return outn(deft_op_builder_finish(b), 0);
}

static const deft_op_def array_more_defs[] = {
    {.type = "ShapeN", .inputs = "input: N * T", .outputs = "output: N * out_type",
     .attrs = "N: int >= 1, T: type, out_type: {int32, int64} = DT_INT32",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = shape_n_shape, .kernel = shape_n_kernel},
    {.type = "IdentityN", .inputs = "input: T", .outputs = "output: T",
     .attrs = "T: list(type) >= 1", .shape = identity_n_shape, .kernel = identity_n_kernel,
     .grad = identity_n_grad},
    /* TF's OneHot gradient is None for every input. */
    {.type = "OneHot", .inputs = "indices: TI, depth: int32, on_value: T, off_value: T",
     .outputs = "output: T", .attrs = "axis: int = -1, T: type, TI: {uint8, int32, int64} = "
                                      "DT_INT64",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = one_hot_shape,
     .prepare = deft_prepare_axis, .kernel = one_hot_kernel},
    {.type = "Cumsum", .inputs = "x: T, axis: Tidx", .outputs = "out: T",
     .attrs = "exclusive: bool = false, reverse: bool = false, T: numbertype, "
              "Tidx: {int32, int64} = DT_INT32",
     .shape = deft_shape_unchanged, .prepare = cumsum_prepare, .kernel = cumsum_kernel,
     .grad = cumsum_grad},
    {.type = "ClipByValue", .inputs = "t: T, clip_value_min: T, clip_value_max: T",
     .outputs = "output: T", .attrs = "T: numbertype", .shape = clip_shape,
     .kernel = clip_kernel, .grad = clip_grad},
};

DEFT_FAMILY(deft_ops_array_more, array_more_defs);
