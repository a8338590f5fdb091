/* SPDX-License-Identifier: Apache-2.0 */
/* ops/math_more_ops.c - the second table of the math family: Div (TF 1.0's division), Mod, Pow,
 * the logical ops, Ceil, Round, Log1p, Expm1, Erf, Softplus and Softsign with their gradient
 * kernels: definitions, gradients (TF 1.x's graphs, under "gradients/<op>_grad") and public
 * constructors. The kernels are in ops/math_kernels.c (the broadcasting engine). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/math_internal.h"

static deft_output out0(deft_op *op) {
  deft_output o = {op, 0};
  return o;
}

static deft_output build2(deft_graph *g, const char *type, deft_output x, deft_output y,
                          const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, y);
  return out0(deft_op_builder_finish(b));
}

static deft_output build1(deft_graph *g, const char *type, deft_output x, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  return out0(deft_op_builder_finish(b));
}

static deft_output scalar_like(deft_graph *g, deft_output t, double v, const char *name) {
  return deft_const_fill(g, deft_output_dtype(t), DEFT_SCALAR, v, name);
}

/* Reshape(Sum(t, BroadcastGradientArgs(Shape(x), Shape(y))[which]), Shape(input)) for the
 * gradient of a broadcasting binary op; `ax`/`sx` come from bcast(). */
typedef struct bcast {
  deft_output sx, sy, rx, ry;
} bcast;

static bcast bcast_of(deft_graph *g, deft_output x, deft_output y) {
  bcast b;
  b.sx = deft_shape_of(g, x, NULL);
  b.sy = deft_shape_of(g, y, NULL);
  b.rx = deft_broadcast_gradient_args(g, b.sx, b.sy, NULL);
  b.ry = b.rx;
  b.ry.index = 1;
  return b;
}

static deft_output sum_to(deft_graph *g, deft_output t, deft_output axes, deft_output shape) {
  return deft_reshape(g, deft_sum(g, t, axes, false, NULL), shape, NULL);
}

/* ---- gradients ---- */

/* TF's _DivGrad: (div(grad, y), grad * div(div(-x, y), y)), each summed to its input's shape. */
static void div_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  bcast b = bcast_of(g, x, y);
  deft_output gx = build2(g, "Div", gr, y, NULL);
  deft_output q = build2(g, "Div", build2(g, "Div", deft_neg(g, x, NULL), y, NULL), y, NULL);
  dx[0] = sum_to(g, gx, b.rx, b.sx);
  dx[1] = sum_to(g, deft_mul(g, gr, q, "mul"), b.ry, b.sy);
}

/* TF's _PowGrad: gx = grad * y * pow(x, y - 1); gy = grad * z * log(x) where x > 0 (0 else). */
static void pow_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), z = deft_op_output(op, 0);
  deft_output gr = grads[0];
  bcast b = bcast_of(g, x, y);
  deft_output ym1 = deft_sub(g, y, scalar_like(g, y, 1.0, "sub/y"), "sub");
  deft_output t = deft_mul(g, deft_mul(g, gr, y, "mul"), build2(g, "Pow", x, ym1, NULL), "mul");
  dx[0] = sum_to(g, t, b.rx, b.sx);
  deft_output mask = deft_greater(g, x, scalar_like(g, x, 0.0, "Greater/y"), NULL);
  deft_output safe = deft_select(g, mask, x, deft_ones_like(g, x, NULL), NULL);
  deft_output logx = deft_select(g, mask, deft_log(g, safe, NULL), deft_zeros_like(g, x, NULL),
                                 NULL);
  dx[1] = sum_to(g, deft_mul(g, deft_mul(g, gr, z, "mul"), logx, "mul"), b.ry, b.sy);
}

/* TF's _Log1pGrad: grad * reciprocal(1 + x), the x side after grad (control dependency). */
static void log1p_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0);
  deft_graph_push_control_deps(g, &grads[0].op, 1);
  deft_output r = deft_reciprocal(g, deft_add(g, scalar_like(g, x, 1.0, "add/x"), x, "add"),
                                  NULL);
  deft_graph_pop_control_deps(g);
  dx[0] = deft_mul(g, grads[0], r, "mul");
}

/* TF's _Expm1Grad: grad * exp(x). */
static void expm1_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_graph_push_control_deps(g, &grads[0].op, 1);
  deft_output e = deft_exp(g, deft_op_input(op, 0), NULL);
  deft_graph_pop_control_deps(g);
  dx[0] = deft_mul(g, grads[0], e, "mul");
}

/* TF's _ErfGrad: grad * 2/sqrt(pi) * exp(-x^2). */
static void erf_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0);
  deft_graph_push_control_deps(g, &grads[0].op, 1);
  deft_output k = scalar_like(g, x, 2.0 / sqrt(3.14159265358979323846), "mul/y");
  deft_output e = deft_exp(g, deft_neg(g, deft_square(g, x, NULL), NULL), NULL);
  dx[0] = deft_mul(g, deft_mul(g, grads[0], k, "mul"), e, "mul");
  deft_graph_pop_control_deps(g);
}

static void softplus_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                          deft_output *dx) {
  dx[0] = build2(g, "SoftplusGrad", grads[0], deft_op_input(op, 0), NULL);
}

static void softsign_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                          deft_output *dx) {
  dx[0] = build2(g, "SoftsignGrad", grads[0], deft_op_input(op, 0), NULL);
}

/* TF's _SoftplusGradGrad: SoftplusGrad(grad, x) for dy, grad * dy / (exp(-x) + 2 + exp(x)) for
 * x. */
static void softplus_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx) {
  deft_output dy = deft_op_input(op, 0), x = deft_op_input(op, 1), gr = grads[0];
  deft_graph_push_control_deps(g, &gr.op, 1);
  dx[0] = build2(g, "SoftplusGrad", gr, x, NULL);
  deft_output den = deft_add(g, deft_add(g, deft_exp(g, deft_neg(g, x, NULL), NULL),
                                         scalar_like(g, x, 2.0, "add/y"), "add"),
                             deft_exp(g, x, NULL), "add_1");
  dx[1] = deft_div(g, deft_mul(g, gr, dy, "mul"), den, "truediv");
  deft_graph_pop_control_deps(g);
}

/* ---- the table ---- */

#define T_FLOATS "{bfloat16, half, float, double}"
#define T_POW "{bfloat16, float, half, double, int32, int64, complex64, complex128}"
#define T_DIV "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, int64, " \
              "complex64, complex128}"

#define BINARY(type_, tlist, kern, grad_, flags_)                                    \
  {.type = type_, .inputs = "x: T, y: T", .outputs = "z: T", .attrs = "T: " tlist, \
   .flags = flags_, .shape = deft_shape_binary_broadcast, .kernel = kern, .grad = grad_}
#define UNARY(type_, tlist, kern, grad_, flags_)                               \
  {.type = type_, .inputs = "x: T", .outputs = "y: T", .attrs = "T: " tlist, \
   .flags = flags_, .shape = deft_shape_unchanged, .kernel = kern, .grad = grad_}
#define FEATURES(type_, kern, grad_, flags_)                                                \
  {.type = type_, .inputs = "features: T", .outputs = "activations: T",                  \
   .attrs = "T: " T_FLOATS, .flags = flags_, .shape = deft_shape_unchanged, .kernel = kern, \
   .grad = grad_}
#define FEATURES_GRAD(type_, kern, grad_, flags_)                                  \
  {.type = type_, .inputs = "gradients: T, features: T", .outputs = "backprops: T", \
   .attrs = "T: " T_FLOATS, .flags = flags_, .shape = deft_shape_binary_broadcast, \
   .kernel = kern, .grad = grad_}

enum { NODIFF = DEFT_OP_NOT_DIFFERENTIABLE, COMM = DEFT_OP_COMMUTATIVE };

static const deft_op_def math_more_defs[] = {
    BINARY("Div", T_DIV, deft_math_div_kernel, div_grad, 0),
    /* TF registers no gradient for Mod (only for FloorMod). */
    BINARY("Mod", "{int32, int64, bfloat16, half, float, double}", deft_math_mod_kernel, NULL,
           NODIFF),
    BINARY("Pow", T_POW, deft_math_pow_kernel, pow_grad, 0),
    {.type = "LogicalAnd", .inputs = "x: bool, y: bool", .outputs = "z: bool",
     .flags = NODIFF | COMM, .shape = deft_shape_binary_broadcast,
     .kernel = deft_math_logical_and_kernel},
    {.type = "LogicalOr", .inputs = "x: bool, y: bool", .outputs = "z: bool",
     .flags = NODIFF | COMM, .shape = deft_shape_binary_broadcast,
     .kernel = deft_math_logical_or_kernel},
    {.type = "LogicalNot", .inputs = "x: bool", .outputs = "y: bool", .flags = NODIFF,
     .shape = deft_shape_unchanged, .kernel = deft_math_logical_not_kernel},
    /* TF's Ceil and Round gradients are None: marked not differentiable, which deft treats
     * alike. */
    UNARY("Ceil", T_FLOATS, deft_math_ceil_kernel, NULL, NODIFF),
    UNARY("Round", "{bfloat16, half, float, double, int32, int64, complex64, complex128}",
          deft_math_round_kernel, NULL, NODIFF),
    UNARY("Log1p", "{bfloat16, half, float, double, complex64, complex128}",
          deft_math_log1p_kernel, log1p_grad, 0),
    UNARY("Expm1", "{bfloat16, half, float, double, complex64, complex128}",
          deft_math_expm1_kernel, expm1_grad, 0),
    UNARY("Erf", T_FLOATS, deft_math_erf_kernel, erf_grad, 0),
    FEATURES("Softplus", deft_math_softplus_kernel, softplus_grad, 0),
    FEATURES("Softsign", deft_math_softsign_kernel, softsign_grad, 0),
    FEATURES_GRAD("SoftplusGrad", deft_math_softplus_grad_kernel, softplus_grad_grad, 0),
    /* TF registers no gradient for SoftsignGrad. */
    FEATURES_GRAD("SoftsignGrad", deft_math_softsign_grad_kernel, NULL, NODIFF),
    {.type = "Min", .inputs = "input: T, reduction_indices: Tidx", .outputs = "output: T",
     .attrs = "keep_dims: bool = false, T: realnumbertype, Tidx: {int32, int64} = DT_INT32",
     .shape = deft_math_reduction_shape, .prepare = deft_math_reduction_prepare,
     .kernel = deft_math_min_kernel,
     .grad = deft_math_max_grad},
    {.type = "All", .inputs = "input: bool, reduction_indices: Tidx", .outputs = "output: bool",
     .attrs = "keep_dims: bool = false, Tidx: {int32, int64} = DT_INT32", .flags = NODIFF,
     .shape = deft_math_reduction_shape, .prepare = deft_math_reduction_prepare,
     .kernel = deft_math_all_kernel},
    {.type = "Any", .inputs = "input: bool, reduction_indices: Tidx", .outputs = "output: bool",
     .attrs = "keep_dims: bool = false, Tidx: {int32, int64} = DT_INT32", .flags = NODIFF,
     .shape = deft_math_reduction_shape, .prepare = deft_math_reduction_prepare,
     .kernel = deft_math_any_kernel},
};

DEFT_FAMILY(deft_ops_math_more, math_more_defs);

/* ---- public constructors ---- */

deft_output deft_div_v1(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return build2(g, "Div", x, y, name);
}
deft_output deft_mod(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return build2(g, "Mod", x, y, name);
}
deft_output deft_pow(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return build2(g, "Pow", x, y, name);
}
deft_output deft_logical_and(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return build2(g, "LogicalAnd", x, y, name);
}
deft_output deft_logical_or(deft_graph *g, deft_output x, deft_output y, const char *name) {
  return build2(g, "LogicalOr", x, y, name);
}
deft_output deft_logical_not(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "LogicalNot", x, name);
}
deft_output deft_ceil(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Ceil", x, name);
}
deft_output deft_round(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Round", x, name);
}
deft_output deft_log1p(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Log1p", x, name);
}
deft_output deft_expm1(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Expm1", x, name);
}
deft_output deft_erf(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Erf", x, name);
}
deft_output deft_softplus(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Softplus", x, name);
}
deft_output deft_softsign(deft_graph *g, deft_output x, const char *name) {
  return build1(g, "Softsign", x, name);
}
deft_output deft_softplus_grad(deft_graph *g, deft_output gradients, deft_output features,
                               const char *name) {
  return build2(g, "SoftplusGrad", gradients, features, name);
}
deft_output deft_softsign_grad(deft_graph *g, deft_output gradients, deft_output features,
                               const char *name) {
  return build2(g, "SoftsignGrad", gradients, features, name);
}
