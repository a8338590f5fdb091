/* SPDX-License-Identifier: Apache-2.0 */
/* ops/math_ops.c - the math op family: the definition table, shape functions, gradients and
 * public constructors of the elementwise ops, AddN, MatMul and Cast. Their kernels are in
 * ops/math_kernels.c; the reductions (Sum, Mean, Prod, Max, ArgMax) in ops/reduce_ops.c.
 *
 * Gradients build TF 1.x's graphs (see TF_FORMATS.md 3.3) under "gradients/<op>_grad": binary
 * ops with equal, fully defined static shapes pass the gradient through; otherwise Shape +
 * BroadcastGradientArgs + Sum + Reshape fold it back onto each input's shape. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ops/math_internal.h"
#include "base/tensor_internal.h"

static const deft_output NONE = {NULL, 0};

static deft_output out_of(deft_op *op, int i) {
  deft_output o = {op, i};
  if (!op) o.index = 0;
  return o;
}

/* ---- shared helpers ---- */

const deft_tensor *deft_math_const_value(deft_output o) {
  while (o.op && !strcmp(deft_op_type(o.op), "Identity") && deft_op_num_inputs(o.op) == 1)
    o = deft_op_input(o.op, 0);
  if (!o.op || strcmp(deft_op_type(o.op), "Const") != 0) return NULL;
  const deft_tensor *t = NULL;
  deft_op_attr_tensor(o.op, "value", &t);
  return t;
}

/* "<leaf>/<arg>" for TF's Consts made from Python values inside an op's name scope. */
static const char *arg_name(deft_graph *g, const char *leaf, const char *arg, char *buf,
                            size_t size) {
  snprintf(buf, size, "%s/%s", leaf ? leaf : "", arg);
  return buf;
}

/* A scalar Const of dtype holding v. */
static deft_output scalar_of(deft_graph *g, deft_dtype dtype, double v, const char *name) {
  return deft_const_fill(g, dtype, DEFT_SCALAR, v, name);
}

/* ---- shape functions ---- */

static void merge_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_merge(c, 0, 1));
}

static void add_n_shape(deft_shape_ctx *c) {
  int n = deft_shape_ctx_num_inputs(c);
  deft_shape r = deft_shape_ctx_input(c, 0);
  for (int i = 1; i < n; i++) {
    deft_shape s = deft_shape_ctx_input(c, i);
    if (s.rank < 0) continue;
    if (r.rank < 0) {
      r = s;
      continue;
    }
    bool ok = r.rank == s.rank;
    for (int d = 0; ok && d < r.rank; d++) {
      if (r.dims[d] < 0) r.dims[d] = s.dims[d];
      else if (s.dims[d] >= 0 && s.dims[d] != r.dims[d]) ok = false;
    }
    if (!ok) {
      char a[128], b[128];
      deft_output in = deft_op_input(c->op, i), in0 = deft_op_input(c->op, 0);
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "input %d ('%s:%d') has shape %s, which is incompatible with the shape %s "
                      "of the inputs before it (input 0 is '%s:%d')",
                      i, deft_op_name(in.op), in.index, deft_shape_format(s, a, sizeof a),
                      deft_shape_format(r, b, sizeof b), deft_op_name(in0.op), in0.index);
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, r);
}

static void matmul_shape(deft_shape_ctx *c) {
  deft_shape a = deft_shape_ctx_input(c, 0), b = deft_shape_ctx_input(c, 1);
  bool ta = false, tb = false;
  deft_op_attr_bool(c->op, "transpose_a", &ta);
  deft_op_attr_bool(c->op, "transpose_b", &tb);
  char sa[128], sb[128];
  deft_shape_format(a, sa, sizeof sa);
  deft_shape_format(b, sb, sizeof sb);
  deft_output ia = deft_op_input(c->op, 0), ib = deft_op_input(c->op, 1);
  for (int i = 0; i < 2; i++) {
    deft_shape s = i ? b : a;
    deft_output in = i ? ib : ia;
    if (s.rank >= 0 && s.rank != 2) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "input %d ('%s:%d') has shape %s, but MatMul needs a matrix (rank 2)", i,
                      deft_op_name(in.op), in.index, i ? sb : sa);
      return;
    }
  }
  int64_t m = a.rank == 2 ? a.dims[ta ? 1 : 0] : -1, ka = a.rank == 2 ? a.dims[ta ? 0 : 1] : -1;
  int64_t kb = b.rank == 2 ? b.dims[tb ? 1 : 0] : -1, n = b.rank == 2 ? b.dims[tb ? 0 : 1] : -1;
  if (ka >= 0 && kb >= 0 && ka != kb) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "input 1 ('%s:%d') has shape %s%s, but input 0 ('%s:%d') has %" PRId64
                    " columns%s",
                    deft_op_name(ib.op), ib.index, sb, tb ? " (transposed by transpose_b)" : "",
                    deft_op_name(ia.op), ia.index, ka, ta ? " after transpose_a" : "");
    return;
  }
  int64_t dims[2] = {m, n};
  deft_shape_ctx_set_output(c, 0, deft_shape_make(2, dims));
}

/* ---- gradients of binary ops ---- */

/* True iff every tensor has the same fully defined static shape. */
static bool static_equal(deft_output a, deft_output b, deft_output c) {
  deft_shape sa = deft_output_shape(a), sb = deft_output_shape(b), sc = deft_output_shape(c);
  if (!deft_shape_is_fully_defined(sa) || !deft_shape_is_fully_defined(sb) ||
      !deft_shape_is_fully_defined(sc) || sa.rank != sb.rank || sa.rank != sc.rank)
    return false;
  for (int i = 0; i < sa.rank; i++)
    if (sa.dims[i] != sb.dims[i] || sa.dims[i] != sc.dims[i]) return false;
  return true;
}

typedef struct bcast {
  deft_output sx, sy, rx, ry;
} bcast;

/* Shape(x), Shape(y) and BroadcastGradientArgs: the axes to sum each input's gradient over. */
static bcast bcast_args(deft_graph *g, deft_output x, deft_output y) {
  bcast b;
  b.sx = deft_shape_of(g, x, NULL);
  b.sy = deft_shape_of(g, y, NULL);
  b.rx = deft_broadcast_gradient_args(g, b.sx, b.sy, NULL);
  b.ry = out_of(b.rx.op, 1);
  return b;
}

/* Reshape(Sum(t, axes), shape). */
static deft_output sum_to(deft_graph *g, deft_output t, deft_output axes, deft_output shape) {
  return deft_reshape(g, deft_sum(g, t, axes, false, NULL), shape, NULL);
}

static void add_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  if (static_equal(x, y, gr)) {
    dx[0] = dx[1] = gr;
    return;
  }
  bcast b = bcast_args(g, x, y);
  dx[0] = sum_to(g, gr, b.rx, b.sx);
  dx[1] = sum_to(g, gr, b.ry, b.sy);
}

static void sub_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  if (static_equal(x, y, gr)) {
    dx[0] = gr;
    dx[1] = deft_neg(g, gr, NULL);
    return;
  }
  bcast b = bcast_args(g, x, y);
  dx[0] = sum_to(g, gr, b.rx, b.sx);
  dx[1] = deft_reshape(g, deft_neg(g, deft_sum(g, gr, b.ry, false, NULL), NULL), b.sy, NULL);
}

static void mul_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  if (static_equal(x, y, gr)) {
    dx[0] = deft_mul(g, gr, y, NULL);
    dx[1] = deft_mul(g, gr, x, NULL);
    return;
  }
  bcast b = bcast_args(g, x, y);
  dx[0] = sum_to(g, deft_mul(g, gr, y, NULL), b.rx, b.sx);
  dx[1] = sum_to(g, deft_mul(g, x, gr, NULL), b.ry, b.sy);
}

static void real_div_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  bool same = static_equal(x, y, gr);
  bcast b;
  if (!same) b = bcast_args(g, x, y);
  deft_output gx = deft_div(g, gr, y, NULL);
  if (!same) gx = sum_to(g, gx, b.rx, b.sx);
  deft_output q = deft_div(g, deft_div(g, deft_neg(g, x, NULL), y, NULL), y, NULL);
  deft_output gy = deft_mul(g, gr, q, "mul");
  if (!same) gy = sum_to(g, gy, b.ry, b.sy);
  dx[0] = gx;
  dx[1] = gy;
}

/* Maximum (ge) / Minimum (!ge): the gradient goes to the selected input (x on ties). */
static void max_min_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx,
                         bool ge) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  bool same = static_equal(x, y, gr);
  bcast b;
  if (!same) {
    b.sx = deft_shape_of(g, x, NULL);
    b.sy = deft_shape_of(g, y, NULL);
  }
  deft_output gshape = deft_shape_of(g, gr, NULL);
  deft_output zeros =
      deft_fill(g, gshape, scalar_of(g, deft_output_dtype(gr), 0.0, "zeros/Const"), "zeros");
  deft_output mask = ge ? deft_greater_equal(g, x, y, NULL) : deft_less_equal(g, x, y, NULL);
  if (!same) {
    b.rx = deft_broadcast_gradient_args(g, b.sx, b.sy, NULL);
    b.ry = out_of(b.rx.op, 1);
  }
  deft_output xg = deft_select(g, mask, gr, zeros, NULL);
  deft_output yg = deft_select(g, mask, zeros, gr, NULL);
  dx[0] = same ? xg : sum_to(g, xg, b.rx, b.sx);
  dx[1] = same ? yg : sum_to(g, yg, b.ry, b.sy);
}

static void maximum_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  max_min_grad(g, op, grads, dx, true);
}

static void minimum_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  max_min_grad(g, op, grads, dx, false);
}

static void squared_difference_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                    deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  bool same = static_equal(x, y, gr);
  bcast b;
  if (!same) b = bcast_args(g, x, y);
  deft_graph_push_control_deps(g, &gr.op, 1);
  deft_output two = scalar_of(g, deft_output_dtype(gr), 2.0, "scalar");
  deft_output scaled = deft_mul(g, two, gr, "scalar_mul");
  deft_output xg = deft_mul(g, scaled, deft_sub(g, x, y, "sub"), "mul");
  deft_graph_pop_control_deps(g);
  if (same) {
    dx[0] = xg;
    dx[1] = deft_neg(g, xg, NULL);
    return;
  }
  dx[0] = sum_to(g, xg, b.rx, b.sx);
  dx[1] = deft_neg(g, sum_to(g, xg, b.ry, b.sy), NULL);
}

/* ---- gradients of unary ops and gradient kernels ---- */

static deft_output y_of(deft_op *op) { return out_of(op, 0); }

static void neg_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_neg(g, grads[0], NULL);
}

static void square_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0);
  deft_graph_push_control_deps(g, &grads[0].op, 1);
  deft_output two = scalar_of(g, deft_output_dtype(x), 2.0, "Const");
  deft_output x2 = deft_mul(g, x, two, NULL);
  deft_graph_pop_control_deps(g);
  dx[0] = deft_mul(g, grads[0], x2, NULL);
}

static void sqrt_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_sqrt_grad(g, y_of(op), grads[0], NULL);
}

static void rsqrt_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_rsqrt_grad(g, y_of(op), grads[0], NULL);
}

static deft_output reciprocal_grad_op(deft_graph *g, deft_output y, deft_output dy,
                                      const char *name) {
  deft_output in[2] = {y, dy};
  return deft_build_simple(g, "ReciprocalGrad", name, in, 2);
}

static void reciprocal_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx) {
  dx[0] = reciprocal_grad_op(g, y_of(op), grads[0], NULL);
}

static void exp_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_mul(g, grads[0], y_of(op), "mul");
}

static void log_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_mul(g, grads[0], deft_reciprocal(g, deft_op_input(op, 0), NULL), "mul");
}

static void abs_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_mul(g, grads[0], deft_sign(g, deft_op_input(op, 0), NULL), "mul");
}

/* c * t with c a Const named "<mul>/x" (Python's `2.0 * t`). */
static deft_output times(deft_graph *g, double c, deft_output t, bool const_first) {
  char buf[512];
  const char *leaf = deft_leaf_name(g, "mul", "Mul");
  deft_output k = scalar_of(g, deft_output_dtype(t), c,
                            arg_name(g, leaf, const_first ? "x" : "y", buf, sizeof buf));
  return const_first ? deft_mul(g, k, t, "mul") : deft_mul(g, t, k, "mul");
}

/* RsqrtGrad(a, b) = -0.5 b a^3: d/da = -1.5 g b a^2, d/db = RsqrtGrad(a, g). */
static void rsqrt_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx) {
  deft_output a = deft_op_input(op, 0), b = deft_op_input(op, 1), gr = grads[0];
  deft_graph_push_control_deps(g, &gr.op, 1);
  deft_output t = deft_mul(g, times(g, -1.5, gr, true), b, "mul");
  dx[0] = deft_mul(g, t, deft_square(g, a, NULL), "mul");
  dx[1] = deft_rsqrt_grad(g, a, gr, NULL);
  deft_graph_pop_control_deps(g);
}

/* SqrtGrad(a, b) = 0.5 b / a = y: d/da = -(g / a) y, d/db = 0.5 g / a. */
static void sqrt_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  deft_output a = deft_op_input(op, 0), gr = grads[0];
  deft_graph_push_control_deps(g, &gr.op, 1);
  deft_output ga = deft_div(g, gr, a, "truediv");
  dx[0] = deft_mul(g, deft_neg(g, ga, NULL), y_of(op), "mul");
  dx[1] = times(g, 0.5, ga, true);
  deft_graph_pop_control_deps(g);
}

/* ReciprocalGrad(a, b) = -b a^2: d/da = -2 g b a, d/db = ReciprocalGrad(a, g). */
static void reciprocal_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                 deft_output *dx) {
  deft_output a = deft_op_input(op, 0), b = deft_op_input(op, 1), gr = grads[0];
  deft_graph_push_control_deps(g, &gr.op, 1);
  deft_output t = deft_mul(g, times(g, -2.0, gr, false), b, "mul");
  dx[0] = deft_mul(g, t, a, "mul");
  dx[1] = reciprocal_grad_op(g, a, gr, NULL);
  deft_graph_pop_control_deps(g);
}

/* ---- MatMul, AddN, Cast gradients ---- */

static void matmul_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output a = deft_op_input(op, 0), b = deft_op_input(op, 1), gr = grads[0];
  bool ta = false, tb = false;
  deft_op_attr_bool(op, "transpose_a", &ta);
  deft_op_attr_bool(op, "transpose_b", &tb);
  if (!ta && !tb) {
    dx[0] = deft_matmul(g, gr, b, false, true, NULL);
    dx[1] = deft_matmul(g, a, gr, true, false, NULL);
  } else if (!ta && tb) {
    dx[0] = deft_matmul(g, gr, b, false, false, NULL);
    dx[1] = deft_matmul(g, gr, a, true, false, NULL);
  } else if (ta && !tb) {
    dx[0] = deft_matmul(g, b, gr, false, true, NULL);
    dx[1] = deft_matmul(g, a, gr, false, false, NULL);
  } else {
    dx[0] = deft_matmul(g, b, gr, true, true, NULL);
    dx[1] = deft_matmul(g, gr, a, true, true, NULL);
  }
}

static void add_n_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  for (int i = 0; i < deft_op_num_inputs(op); i++) dx[i] = grads[0];
}

static bool is_float(deft_dtype t) { return t == DEFT_FLOAT || t == DEFT_DOUBLE; }

static void cast_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_dtype src = DEFT_INVALID_DTYPE, dst = DEFT_INVALID_DTYPE;
  deft_op_attr_type(op, "SrcT", &src);
  deft_op_attr_type(op, "DstT", &dst);
  if (is_float(src) && is_float(dst)) dx[0] = deft_cast(g, grads[0], src, NULL);
}

/* ---- the table ---- */

#define T_ADD "{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, " \
              "complex128, string}"
#define T_ADDV2 "{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, " \
                "complex128}"
#define T_ARITH "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, int64, " \
                "complex64, complex128}"
#define T_FLOORMOD "{int32, int64, bfloat16, half, float, double}"
#define T_MAXMIN "{bfloat16, half, float, double, int32, int64}"
#define T_SIGNED "{bfloat16, half, float, double, int32, int64, complex64, complex128}"
#define T_FLOAT "{bfloat16, half, float, double, complex64, complex128}"
#define T_ABS "{bfloat16, half, float, double, int8, int16, int32, int64}"
#define T_EQ "{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, " \
             "quint8, qint8, qint32, string, bool, complex128}"
#define T_MATMUL "{bfloat16, half, float, double, int32, int64, complex64, complex128}"
#define T_REDUCE "keep_dims: bool = false, T: numbertype, Tidx: {int32, int64} = DT_INT32"

#define BINARY(type_, tlist, kern, grad_, flags_)                                    \
  {.type = type_, .inputs = "x: T, y: T", .outputs = "z: T", .attrs = "T: " tlist, \
   .flags = flags_, .shape = deft_shape_binary_broadcast, .kernel = kern, .grad = grad_}
#define COMPARE(type_, tlist, kern, flags_)                                             \
  {.type = type_, .inputs = "x: T, y: T", .outputs = "z: bool", .attrs = "T: " tlist, \
   .flags = DEFT_OP_NOT_DIFFERENTIABLE | flags_, .shape = deft_shape_binary_broadcast,  \
   .kernel = kern}
#define UNARY(type_, tlist, kern, grad_, flags_)                                  \
  {.type = type_, .inputs = "x: T", .outputs = "y: T", .attrs = "T: " tlist,    \
   .flags = flags_, .shape = deft_shape_unchanged, .kernel = kern, .grad = grad_}
#define GRAD_KERNEL(type_, kern, grad_)                                                    \
  {.type = type_, .inputs = "y: T, dy: T", .outputs = "z: T", .attrs = "T: " T_FLOAT,    \
   .shape = merge_shape, .kernel = kern, .grad = grad_}
#define REDUCTION(type_, kern, grad_)                                                      \
  {.type = type_, .inputs = "input: T, reduction_indices: Tidx", .outputs = "output: T", \
   .attrs = T_REDUCE, .shape = deft_math_reduction_shape,                                \
   .prepare = deft_math_reduction_prepare, .kernel = kern, .grad = grad_}

enum { COMM = DEFT_OP_COMMUTATIVE, NODIFF = DEFT_OP_NOT_DIFFERENTIABLE };

static const deft_op_def math_defs[] = {
    BINARY("Add", T_ADD, deft_math_add_kernel, add_grad, COMM),
    BINARY("AddV2", T_ADDV2, deft_math_add_kernel, add_grad, COMM),
    BINARY("Sub", T_ARITH, deft_math_sub_kernel, sub_grad, 0),
    BINARY("Mul", T_ARITH, deft_math_mul_kernel, mul_grad, COMM),
    BINARY("RealDiv", T_ARITH, deft_math_real_div_kernel, real_div_grad, 0),
    BINARY("FloorDiv", T_ARITH, deft_math_floor_div_kernel, NULL, NODIFF),
    BINARY("FloorMod", T_FLOORMOD, deft_math_floor_mod_kernel, NULL, NODIFF),
    BINARY("Maximum", T_MAXMIN, deft_math_maximum_kernel, maximum_grad, COMM),
    BINARY("Minimum", T_MAXMIN, deft_math_minimum_kernel, minimum_grad, COMM),
    BINARY("SquaredDifference", T_SIGNED, deft_math_squared_difference_kernel,
           squared_difference_grad, COMM),
    COMPARE("Equal", T_EQ, deft_math_equal_kernel, COMM),
    COMPARE("NotEqual", T_EQ, deft_math_not_equal_kernel, COMM),
    COMPARE("Greater", "realnumbertype", deft_math_greater_kernel, 0),
    COMPARE("GreaterEqual", "realnumbertype", deft_math_greater_equal_kernel, 0),
    COMPARE("Less", "realnumbertype", deft_math_less_kernel, 0),
    COMPARE("LessEqual", "realnumbertype", deft_math_less_equal_kernel, 0),
    UNARY("Neg", T_SIGNED, deft_math_neg_kernel, neg_grad, 0),
    UNARY("Square", T_SIGNED, deft_math_square_kernel, square_grad, 0),
    UNARY("Sqrt", T_FLOAT, deft_math_sqrt_kernel, sqrt_grad, 0),
    UNARY("Rsqrt", T_FLOAT, deft_math_rsqrt_kernel, rsqrt_grad, 0),
    UNARY("Exp", T_FLOAT, deft_math_exp_kernel, exp_grad, 0),
    UNARY("Log", T_FLOAT, deft_math_log_kernel, log_grad, 0),
    UNARY("Reciprocal", T_SIGNED, deft_math_reciprocal_kernel, reciprocal_grad, 0),
    UNARY("Abs", T_ABS, deft_math_abs_kernel, abs_grad, 0),
    UNARY("Sign", T_SIGNED, deft_math_sign_kernel, NULL, NODIFF),
    /* TF's Floor gradient is None: marked not differentiable, which deft treats alike. */
    UNARY("Floor", "{bfloat16, half, float, double}", deft_math_floor_kernel, NULL, NODIFF),
    GRAD_KERNEL("RsqrtGrad", deft_math_rsqrt_grad_kernel, rsqrt_grad_grad),
    GRAD_KERNEL("SqrtGrad", deft_math_sqrt_grad_kernel, sqrt_grad_grad),
    GRAD_KERNEL("ReciprocalGrad", deft_math_reciprocal_grad_kernel, reciprocal_grad_grad),
    {.type = "AddN", .inputs = "inputs: N * T", .outputs = "sum: T",
     .attrs = "N: int >= 1, T: numbertype", .flags = DEFT_OP_AGGREGATE | COMM,
     .shape = add_n_shape, .kernel = deft_math_add_n_kernel, .grad = add_n_grad},
    {.type = "MatMul", .inputs = "a: T, b: T", .outputs = "product: T",
     .attrs = "transpose_a: bool = false, transpose_b: bool = false, T: " T_MATMUL,
     .shape = matmul_shape, .prepare = deft_math_matmul_prepare, .kernel = deft_math_matmul_kernel,
     .grad = matmul_grad},
    {.type = "Cast", .inputs = "x: SrcT", .outputs = "y: DstT",
     .attrs = "SrcT: type, DstT: type, Truncate: bool = false", .shape = deft_shape_unchanged,
     .kernel = deft_math_cast_kernel, .grad = cast_grad},
    REDUCTION("Sum", deft_math_sum_kernel, deft_math_sum_grad),
    REDUCTION("Mean", deft_math_mean_kernel, deft_math_mean_grad),
    REDUCTION("Prod", deft_math_prod_kernel, deft_math_prod_grad),
    REDUCTION("Max", deft_math_max_kernel, deft_math_max_grad),
    {.type = "ArgMax", .inputs = "input: T, dimension: Tidx", .outputs = "output: output_type",
     .attrs = "T: numbertype, Tidx: {int32, int64} = DT_INT32, "
              "output_type: {int32, int64} = DT_INT64",
     .flags = NODIFF, .shape = deft_math_argmax_shape, .kernel = deft_math_argmax_kernel},
};

DEFT_FAMILY(deft_ops_math, math_defs);

/* ---- public constructors ---- */

static deft_output binary(deft_graph *g, const char *type, deft_output x, deft_output y,
                          const char *name) {
  deft_output in[2] = {x, y};
  return deft_build_simple(g, type, name, in, 2);
}

deft_output deft_add(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Add", x, y, name);
}
deft_output deft_add_v2(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "AddV2", x, y, name);
}
deft_output deft_sub(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Sub", x, y, name);
}
deft_output deft_mul(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Mul", x, y, name);
}
deft_output deft_div(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "RealDiv", x, y, name);
}
deft_output deft_floor_div(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "FloorDiv", x, y, name);
}
deft_output deft_floor_mod(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "FloorMod", x, y, name);
}
deft_output deft_maximum(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Maximum", x, y, name);
}
deft_output deft_minimum(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Minimum", x, y, name);
}
deft_output deft_squared_difference(deft_graph *g, deft_output x, deft_output y,
                                    const char *name) {
  return binary(g, "SquaredDifference", x, y, name);
}
deft_output deft_equal(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Equal", x, y, name);
}
deft_output deft_not_equal(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "NotEqual", x, y, name);
}
deft_output deft_greater(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Greater", x, y, name);
}
deft_output deft_greater_equal(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "GreaterEqual", x, y, name);
}
deft_output deft_less(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "Less", x, y, name);
}
deft_output deft_less_equal(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return binary(g, "LessEqual", x, y, name);
}
deft_output deft_rsqrt_grad(deft_graph *g, deft_output y, deft_output dy, const char *name) {
  return binary(g, "RsqrtGrad", y, dy, name);
}
deft_output deft_sqrt_grad(deft_graph *g, deft_output y, deft_output dy, const char *name) {
  return binary(g, "SqrtGrad", y, dy, name);
}

#define UNARY_CTOR(fn, type)                                             \
  deft_output fn(deft_graph *g, deft_output x, const char *name) {       \
    return deft_build_simple(g, type, name, &x, 1);                      \
  }
UNARY_CTOR(deft_neg, "Neg")
UNARY_CTOR(deft_square, "Square")
UNARY_CTOR(deft_sqrt, "Sqrt")
UNARY_CTOR(deft_rsqrt, "Rsqrt")
UNARY_CTOR(deft_exp, "Exp")
UNARY_CTOR(deft_log, "Log")
UNARY_CTOR(deft_reciprocal, "Reciprocal")
UNARY_CTOR(deft_abs, "Abs")
UNARY_CTOR(deft_sign, "Sign")
UNARY_CTOR(deft_floor, "Floor")

deft_output deft_add_n(deft_graph *g, const deft_output *xs, int n, const char *name) {
  if (!deft_graph_ok(g)) return NONE;
  if (n < 1 || !xs) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "AddN '%s': needs at least one input, got %d",
                    name ? name : "AddN", n);
    return NONE;
  }
  deft_op_builder *b = deft_op_builder_new(g, "AddN", name);
  deft_op_builder_add_input_list(b, xs, n);
  return out_of(deft_op_builder_finish(b), 0);
}

deft_output deft_matmul(deft_graph *g, deft_output a, deft_output b, bool transpose_a,
                        bool transpose_b, const char *name) {
  deft_op_builder *bl = deft_op_builder_new(g, "MatMul", name);
  deft_op_builder_add_input(bl, a);
  deft_op_builder_add_input(bl, b);
  deft_op_builder_set_attr_bool(bl, "transpose_a", transpose_a);
  deft_op_builder_set_attr_bool(bl, "transpose_b", transpose_b);
  return out_of(deft_op_builder_finish(bl), 0);
}

deft_output deft_cast(deft_graph *g, deft_output x, deft_dtype dtype, const char *name) {
  if (!deft_inputs_ok(g, "Cast", &x, 1)) return NONE;
  deft_dtype src = deft_output_dtype(x);
  if (!deft_math_cast_supported(dtype) || !deft_math_cast_supported(src)) {
    const char *dn = deft_tf_type_name((int)dtype), *sn = deft_tf_type_name((int)src);
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "Cast '%s': cannot cast input 0 ('%s:%d') from %s to %s: Cast supports "
                    "float, double, int32, int64, uint8 and bool",
                    name ? name : "Cast", deft_op_name(x.op), x.index, sn ? sn : "an invalid dtype",
                    dn ? dn : "an invalid dtype");
    return NONE;
  }
  deft_op_builder *b = deft_op_builder_new(g, "Cast", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_type(b, "DstT", dtype);
  return out_of(deft_op_builder_finish(b), 0);
}
