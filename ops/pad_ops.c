/* SPDX-License-Identifier: Apache-2.0 */
/* ops/pad_ops.c - padding and L2Loss: Pad, PadV2 (a constant), MirrorPad (REFLECT or
 * SYMMETRIC), MirrorPadGrad, and L2Loss (sum(t^2) / 2): definitions, shape functions, prepare
 * steps, kernels and gradients side by side, plus the public constructors. Paddings are an
 * [rank, 2] int32/int64 tensor of (before, after) counts >= 0; MirrorPad's counts are at most
 * dim - 1 (REFLECT) or dim (SYMMETRIC). Kernels copy elements of any fixed-size dtype; the
 * gradients are TF 1.x's array_grad.py ones (a Slice of the incoming gradient for Pad, MirrorPadGrad
 * for MirrorPad and MirrorPad for MirrorPadGrad). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

typedef enum pad_kind { PAD_CONST, PAD_REFLECT, PAD_SYMMETRIC } pad_kind;

typedef struct pad_params {
  pad_kind kind;
  bool grad; /* MirrorPadGrad */
} pad_params;

static pad_kind mode_of(const deft_op *op, bool *ok) {
  const char *mode = NULL;
  *ok = true;
  if (!deft_op_attr_string(op, "mode", &mode, NULL)) return PAD_CONST;
  if (!strcmp(mode, "REFLECT")) return PAD_REFLECT;
  if (!strcmp(mode, "SYMMETRIC")) return PAD_SYMMETRIC;
  *ok = false;
  return PAD_CONST;
}

static void pad_prepare(deft_prepare_ctx *p) {
  bool ok;
  pad_params pp = {mode_of(deft_prepare_op(p), &ok), strstr(deft_op_type(deft_prepare_op(p)),
                                                            "Grad") != NULL};
  if (!ok) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "mode must be REFLECT or SYMMETRIC");
    return;
  }
  if (deft_prepare_output_dtype(p, 0) == DEFT_STRING) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "no CPU kernel for string tensors");
    return;
  }
  pad_params *out = deft_prepare_params(p, sizeof *out);
  if (out) *out = pp;
}

/* Reads paddings [rank, 2] into before/after and checks them against dims (the input's, or for
 * MirrorPadGrad the padded gradient's); writes a message into err on failure. */
static bool read_paddings(const deft_tensor *t, int rank, const int64_t *dims, pad_kind kind,
                          bool grad, int64_t *before, int64_t *after, char *err, size_t size) {
  if (!t || !t->buf || t->rank != 2 || t->dims[0] != rank || t->dims[1] != 2 ||
      (t->dtype != DEFT_INT32 && t->dtype != DEFT_INT64)) {
    snprintf(err, size, "paddings must be an int32/int64 matrix [%d, 2]", rank);
    return false;
  }
  for (int i = 0; i < rank; i++) {
    for (int j = 0; j < 2; j++) {
      int64_t v = t->dtype == DEFT_INT32 ? deft_tensor_i32(t)[2 * i + j]
                                         : deft_tensor_i64(t)[2 * i + j];
      if (v < 0 || v > ((int64_t)1 << 40)) {
        snprintf(err, size, "paddings[%d, %d] = %lld must be in [0, 2^40]", i, j, (long long)v);
        return false;
      }
      (j ? after : before)[i] = v;
    }
    if (!dims) continue;
    int64_t d = grad ? dims[i] - before[i] - after[i] : dims[i];
    int64_t lim = kind == PAD_REFLECT ? d - 1 : d;
    if (grad && d < 0) {
      snprintf(err, size, "paddings of dimension %d (%lld + %lld) exceed the gradient's %lld", i,
               (long long)before[i], (long long)after[i], (long long)dims[i]);
      return false;
    }
    if (kind != PAD_CONST && (before[i] > lim || after[i] > lim)) {
      snprintf(err, size, "paddings of dimension %d (%lld, %lld) must be at most %lld for %s "
               "mode on size %lld", i, (long long)before[i], (long long)after[i], (long long)lim,
               kind == PAD_REFLECT ? "REFLECT" : "SYMMETRIC", (long long)d);
      return false;
    }
  }
  return true;
}

static void pad_shape(deft_shape_ctx *c) {
  deft_shape in = deft_shape_ctx_input(c, 0), ps = deft_shape_ctx_input(c, 1);
  char sh[128];
  if (ps.rank >= 0 && (ps.rank != 2 || (ps.dims[1] >= 0 && ps.dims[1] != 2) ||
                       (in.rank >= 0 && ps.dims[0] >= 0 && ps.dims[0] != in.rank))) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "paddings must be [rank(input), 2], got %s for an "
                    "input of rank %d", deft_shape_format(ps, sh, sizeof sh), in.rank);
    return;
  }
  bool ok;
  pad_kind kind = mode_of(c->op, &ok);
  if (!ok) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "mode must be REFLECT or SYMMETRIC");
    return;
  }
  bool grad = strstr(deft_op_type(c->op), "Grad") != NULL;
  if (deft_shape_ctx_num_inputs(c) == 3) {
    deft_shape cv = deft_shape_ctx_input(c, 2);
    if (cv.rank > 0) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "constant_values must be a scalar, got %s",
                      deft_shape_format(cv, sh, sizeof sh));
      return;
    }
  }
  if (in.rank < 0 && ps.rank == 2 && ps.dims[0] >= 0) {
    int64_t unknown[DEFT_MAX_RANK];
    for (int i = 0; i < DEFT_MAX_RANK; i++) unknown[i] = -1;
    in = deft_shape_make(ps.dims[0] <= DEFT_MAX_RANK ? (int)ps.dims[0] : -1, unknown);
  }
  const deft_tensor *pv = deft_shape_ctx_input_const(c, 1);
  deft_shape out = in;
  int64_t before[DEFT_MAX_RANK], after[DEFT_MAX_RANK];
  if (in.rank >= 0 && pv) {
    char err[256];
    bool known = true;
    for (int i = 0; i < in.rank; i++) known &= in.dims[i] >= 0;
    if (!read_paddings(pv, in.rank, known ? in.dims : NULL, kind, grad, before, after, err,
                       sizeof err)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
      return;
    }
    for (int i = 0; i < in.rank; i++)
      if (in.dims[i] >= 0) out.dims[i] = in.dims[i] + (grad ? -1 : 1) * (before[i] + after[i]);
  } else {
    for (int i = 0; i < in.rank; i++) out.dims[i] = -1;
  }
  deft_shape_ctx_set_output(c, 0, out);
}

/* The source coordinate of output coordinate o (padded axis of input size d, `before` padding):
 * -1 for a constant-padded position. */
static inline int64_t source(int64_t o, int64_t before, int64_t d, pad_kind kind) {
  int64_t j = o - before;
  if (j >= 0 && j < d) return j;
  if (kind == PAD_CONST) return -1;
  if (j < 0) return kind == PAD_REFLECT ? -j : -j - 1;
  return kind == PAD_REFLECT ? 2 * d - 2 - j : 2 * d - 1 - j;
}

static void pad_kernel(deft_kernel_ctx *c) {
  const pad_params *pp = deft_kernel_params(c);
  const deft_tensor *x = deft_kernel_input(c, 0), *pt = deft_kernel_input(c, 1);
  int rank = x->rank;
  int64_t before[DEFT_MAX_RANK], after[DEFT_MAX_RANK], od[DEFT_MAX_RANK], id[DEFT_MAX_RANK];
  char err[256];
  if (!read_paddings(pt, rank, x->dims, pp->kind, pp->grad, before, after, err, sizeof err)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
    return;
  }
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    od[i] = x->dims[i] + (pp->grad ? -1 : 1) * (before[i] + after[i]);
    id[i] = pp->grad ? od[i] : x->dims[i];
    if (__builtin_mul_overflow(n, od[i], &n)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the padded shape overflows");
      return;
    }
  }
  size_t es = deft_dtype_size(x->dtype);
  const unsigned char *cv = NULL;
  if (deft_kernel_num_inputs(c) == 3) {
    const deft_tensor *k = deft_kernel_input(c, 2);
    if (k->rank != 0 || k->dtype != x->dtype) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "constant_values must be a scalar of the "
                       "input's dtype");
      return;
    }
    cv = k->buf->data;
  }
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, od, rank);
  if (!y || y->n == 0) return;
  const unsigned char *xp = x->buf->data;
  unsigned char *yp = y->buf->data;
  int64_t idx[DEFT_MAX_RANK] = {0};
  if (pp->grad) { /* MirrorPadGrad: sum every gradient element into its source */
    memset(yp, 0, (size_t)y->n * es);
    for (int64_t e = 0; e < x->n; e++) {
      int64_t off = 0;
      for (int i = 0; i < rank; i++) off = off * od[i] + source(idx[i], before[i], id[i], pp->kind);
      if (x->dtype == DEFT_FLOAT) deft_tensor_f32(y)[off] += deft_tensor_f32(x)[e];
      else if (x->dtype == DEFT_DOUBLE) deft_tensor_f64(y)[off] += deft_tensor_f64(x)[e];
      else if (x->dtype == DEFT_INT32) deft_tensor_i32(y)[off] += deft_tensor_i32(x)[e];
      else deft_tensor_i64(y)[off] += deft_tensor_i64(x)[e];
      for (int i = rank - 1; i >= 0 && ++idx[i] == x->dims[i]; i--) idx[i] = 0;
    }
    return;
  }
  for (int64_t e = 0; e < y->n; e++) {
    int64_t off = 0;
    bool inside = true;
    for (int i = 0; i < rank && inside; i++) {
      int64_t s = source(idx[i], before[i], id[i], pp->kind);
      inside = s >= 0;
      off = off * id[i] + s;
    }
    if (inside) memcpy(yp + (size_t)e * es, xp + (size_t)off * es, es);
    else if (cv) memcpy(yp + (size_t)e * es, cv, es);
    else memset(yp + (size_t)e * es, 0, es);
    for (int i = rank - 1; i >= 0 && ++idx[i] == od[i]; i--) idx[i] = 0;
  }
}

/* ---- L2Loss ---- */

static void l2_shape(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, deft_shape_make(0, NULL)); }

static void l2_kernel(deft_kernel_ctx *c) {
  const deft_tensor *t = deft_kernel_input(c, 0);
  if (t->dtype != DEFT_FLOAT && t->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no CPU kernel for dtype %s",
                     deft_dtype_name(t->dtype));
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, t->dtype, NULL, 0);
  if (!y) return;
  double s = 0;
  if (t->dtype == DEFT_FLOAT)
    for (int64_t i = 0; i < t->n; i++) s += (double)deft_tensor_f32(t)[i] * deft_tensor_f32(t)[i];
  else
    for (int64_t i = 0; i < t->n; i++) s += deft_tensor_f64(t)[i] * deft_tensor_f64(t)[i];
  if (t->dtype == DEFT_FLOAT) deft_tensor_f32(y)[0] = (float)(s / 2);
  else deft_tensor_f64(y)[0] = s / 2;
}

/* ---- constructors ---- */

static deft_output none_output(void) {
  deft_output o = {NULL, 0};
  return o;
}

static deft_output build_mirror(deft_graph *g, const char *type, deft_output x, deft_output p,
                                const char *mode, const char *name) {
  deft_output in[2] = {x, p};
  if (!deft_inputs_ok(g, type, in, 2)) return none_output();
  if (!mode) mode = "REFLECT";
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, p);
  deft_op_builder_set_attr_string(b, "mode", mode, strlen(mode));
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none_output();
  deft_output o = {op, 0};
  return o;
}

deft_output deft_pad(deft_graph *g, deft_output x, deft_output paddings, const char *name) {
  deft_output in[2] = {x, paddings};
  return deft_build_simple(g, "Pad", name, in, 2);
}

deft_output deft_pad_v2(deft_graph *g, deft_output x, deft_output paddings,
                        deft_output constant_values, const char *name) {
  deft_output in[3] = {x, paddings, constant_values};
  return deft_build_simple(g, "PadV2", name, in, 3);
}

deft_output deft_mirror_pad(deft_graph *g, deft_output x, deft_output paddings,
                            const char *mode, const char *name) {
  return build_mirror(g, "MirrorPad", x, paddings, mode, name);
}

deft_output deft_mirror_pad_grad(deft_graph *g, deft_output x, deft_output paddings,
                                 const char *mode, const char *name) {
  return build_mirror(g, "MirrorPadGrad", x, paddings, mode, name);
}

deft_output deft_l2_loss(deft_graph *g, deft_output t, const char *name) {
  return deft_build_simple(g, "L2Loss", name, &t, 1);
}

/* ---- gradients ---- */

/* TF 1.x _PadGrad: Slice(grad, Reshape(Slice(paddings, [0, 0], Pack([Rank(x), 1])), [-1]),
 * Shape(x)). */
static void pad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), a = deft_op_input(op, 1);
  int32_t zero2[2] = {0, 0}, minus1 = -1;
  deft_output st[2] = {deft_rank(g, x, "Rank"), deft_const_int32(g, 1, "stack/1")};
  deft_output size = deft_pack(g, st, 2, 0, "stack");
  deft_output in[3] = {a, deft_const_int32_vector(g, zero2, 2, "Slice/begin"), size};
  if (deft_output_dtype(a) == DEFT_INT64) {
    in[1] = deft_cast(g, in[1], DEFT_INT64, "Slice/begin_cast");
    in[2] = deft_cast(g, in[2], DEFT_INT64, "stack_cast");
  }
  deft_output before = deft_build_simple(g, "Slice", "Slice", in, 3);
  deft_output begin = deft_reshape(g, before, deft_const_int32_vector(g, &minus1, 1,
                                                                      "Reshape/shape"), "Reshape");
  deft_output sizes = deft_shape_of(g, x, "Shape");
  if (deft_output_dtype(a) == DEFT_INT64) sizes = deft_cast(g, sizes, DEFT_INT64, "Shape_cast");
  deft_output in2[3] = {grads[0], begin, sizes};
  dx[0] = deft_build_simple(g, "Slice", "Slice_1", in2, 3);
}

static const char *mode_str(const deft_op *op) {
  const char *mode = "REFLECT";
  deft_op_attr_string(op, "mode", &mode, NULL);
  return mode;
}

static void mirror_pad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx) {
  dx[0] = deft_mirror_pad_grad(g, grads[0], deft_op_input(op, 1), mode_str(op), NULL);
}

static void mirror_pad_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                                    deft_output *dx) {
  dx[0] = deft_mirror_pad(g, grads[0], deft_op_input(op, 1), mode_str(op), NULL);
}

/* TF: op.inputs[0] * grad. */
static void l2_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_mul(g, deft_op_input(op, 0), grads[0], "mul");
}

#define PADDINGS "Tpaddings: {int32, int64} = DT_INT32"

static const deft_op_def pad_defs[] = {
    {.type = "Pad", .inputs = "input: T, paddings: Tpaddings", .outputs = "output: T",
     .attrs = "T: type, " PADDINGS, .shape = pad_shape, .prepare = pad_prepare,
     .kernel = pad_kernel, .grad = pad_grad_fn},
    {.type = "PadV2", .inputs = "input: T, paddings: Tpaddings, constant_values: T",
     .outputs = "output: T", .attrs = "T: type, " PADDINGS, .shape = pad_shape,
     .prepare = pad_prepare, .kernel = pad_kernel, .grad = pad_grad_fn},
    {.type = "MirrorPad", .inputs = "input: T, paddings: Tpaddings", .outputs = "output: T",
     .attrs = "T: type, " PADDINGS ", mode: {'REFLECT', 'SYMMETRIC'}", .shape = pad_shape,
     .prepare = pad_prepare, .kernel = pad_kernel, .grad = mirror_pad_grad_fn},
    {.type = "MirrorPadGrad", .inputs = "input: T, paddings: Tpaddings", .outputs = "output: T",
     .attrs = "T: {float, double, int32, int64}, " PADDINGS ", mode: {'REFLECT', 'SYMMETRIC'}",
     .shape = pad_shape, .prepare = pad_prepare, .kernel = pad_kernel,
     .grad = mirror_pad_grad_grad_fn},
    {.type = "L2Loss", .inputs = "t: T", .outputs = "output: T",
     .attrs = "T: {half, bfloat16, float, double}", .shape = l2_shape, .kernel = l2_kernel,
     .grad = l2_grad_fn},
};

DEFT_FAMILY(deft_ops_pad, pad_defs);
