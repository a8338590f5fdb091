/* SPDX-License-Identifier: Apache-2.0 */
/* ops/conv_ops.c - the convolution family: Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter,
 * DepthwiseConv2dNative and its two backprop ops. Definitions, shape functions, the shared
 * prepare step, the kernels' run-time checks and dispatch, the gradients (as TF 1.x's nn_grad.py
 * builds them) and the public constructors (deft/conv.h), side by side. The loops are in
 * ops/conv_kernels.c (GEMM-based Conv2D) and ops/depthwise_kernels.c.
 *
 * Geometry is TF's: VALID gives ceil((in - (k-1)*d) / s) outputs, SAME gives ceil(in / s) with
 * the odd padding row/column after (bottom/right), EXPLICIT takes explicit_paddings. Only NHWC
 * runs (TF's CPU kernels are NHWC too): NCHW graphs build and import with correct shapes, and
 * planning them fails with UNIMPLEMENTED naming the node. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/conv.h"
#include "deft/ops.h"
#include "ops/conv_internal.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

static const deft_output NONE = {NULL, 0};

static const char *kind_input_name(int kind) {
  return kind == CONV_BWD_INPUT ? "input_sizes" : "filter_sizes";
}

static void fmt_list(const int64_t *v, int n, char *buf, size_t size) {
  size_t len = 0;
  len += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, i ? "," : "", v[i]);
  if (len < size) snprintf(buf + len, size - len, "]");
}

/* ---- attrs ---- */

/* Checks a 4-element strides/dilations list: all >= 1, batch and depth 1. */
static bool parse_window_list(const deft_op *op, const char *name, bool required, bool nchw,
                              int64_t out[2], char *err, size_t es) {
  const int64_t *v = NULL;
  int n = 0;
  out[0] = out[1] = 1;
  if (!deft_op_attr_int_list(op, name, &v, &n)) {
    if (!required) return true;
    snprintf(err, es, "has no list(int) attr '%s'", name);
    return false;
  }
  char buf[160];
  fmt_list(v, n, buf, sizeof buf);
  if (n != 4) {
    snprintf(err, es, "%s must have 4 elements, got %s", name, buf);
    return false;
  }
  for (int i = 0; i < 4; i++)
    if (v[i] < 1) {
      snprintf(err, es, "%s must all be >= 1, got %s", name, buf);
      return false;
    }
  int ci = nchw ? 1 : 3, hi = nchw ? 2 : 1;
  if (v[0] != 1 || v[ci] != 1) {
    snprintf(err, es, "%s in the batch and depth dimensions must be 1, got %s", name, buf);
    return false;
  }
  out[0] = v[hi];
  out[1] = v[hi + 1];
  return true;
}

/* Padding amounts above this are refused (they only make huge outputs of zeros). */
#define CONV_MAX_PAD ((int64_t)1 << 31)

bool deft_conv_parse_attrs(const deft_op *op, conv_attrs *a, char *err, size_t es) {
  memset(a, 0, sizeof *a);
  const char *fmt = "NHWC", *pad = NULL;
  if (deft_op_attr_string(op, "data_format", &fmt, NULL) && strcmp(fmt, "NHWC") != 0 &&
      strcmp(fmt, "NCHW") != 0) {
    snprintf(err, es, "unknown data_format '%s' (NHWC or NCHW)", fmt);
    return false;
  }
  a->nchw = strcmp(fmt, "NCHW") == 0;
  if (!parse_window_list(op, "strides", true, a->nchw, a->stride, err, es)) return false;
  if (!parse_window_list(op, "dilations", false, a->nchw, a->dilation, err, es)) return false;
  if (!deft_op_attr_string(op, "padding", &pad, NULL)) {
    snprintf(err, es, "has no string attr 'padding'");
    return false;
  }
  if (!strcmp(pad, "SAME")) {
    a->padding = CONV_SAME;
  } else if (!strcmp(pad, "VALID")) {
    a->padding = CONV_VALID;
  } else if (!strcmp(pad, "EXPLICIT")) {
    a->padding = CONV_EXPLICIT;
  } else {
    snprintf(err, es, "unknown padding '%s' (SAME, VALID or EXPLICIT)", pad);
    return false;
  }
  const int64_t *ep = NULL;
  int nep = 0;
  deft_op_attr_int_list(op, "explicit_paddings", &ep, &nep);
  char buf[200];
  fmt_list(ep, nep, buf, sizeof buf);
  if (a->padding != CONV_EXPLICIT) {
    if (nep != 0) {
      snprintf(err, es, "explicit_paddings must be empty unless padding is EXPLICIT, got %s",
               buf);
      return false;
    }
    return true;
  }
  if (nep != 8) {
    snprintf(err, es, "padding EXPLICIT needs 8 explicit_paddings, got %s", buf);
    return false;
  }
  for (int i = 0; i < 8; i++)
    if (ep[i] < 0 || ep[i] > CONV_MAX_PAD) {
      snprintf(err, es, "explicit_paddings must be in [0, 2^31], got %s", buf);
      return false;
    }
  int ci = a->nchw ? 1 : 3, hi = a->nchw ? 2 : 1;
  if (ep[0] || ep[1] || ep[2 * ci] || ep[2 * ci + 1]) {
    snprintf(err, es, "explicit_paddings in the batch and depth dimensions must be 0, got %s",
             buf);
    return false;
  }
  for (int k = 0; k < 2; k++) {
    a->pad_before[k] = ep[2 * (hi + k)];
    a->pad_after[k] = ep[2 * (hi + k) + 1];
  }
  return true;
}

/* ---- geometry ---- */

bool deft_conv_out_size(const conv_attrs *a, int axis, int64_t in, int64_t k, int64_t *out,
                        int64_t *before, char *err, size_t es) {
  const char *dim = axis ? "width" : "height";
  int64_t s = a->stride[axis], d = a->dilation[axis], eff;
  if (k < 1) {
    snprintf(err, es, "the filter's %s must be >= 1, got %" PRId64, dim, k);
    return false;
  }
  if (__builtin_mul_overflow(k - 1, d, &eff) || __builtin_add_overflow(eff, 1, &eff) ||
      eff > ((int64_t)1 << 62)) {
    snprintf(err, es, "the dilated filter %s overflows (%" PRId64 " x dilation %" PRId64 ")", dim,
             k, d);
    return false;
  }
  int64_t padded = in;
  *before = 0;
  if (a->padding == CONV_SAME) {
    *out = in / s + (in % s != 0);
    int64_t total = (*out - 1) * s + eff - in;
    if (*out == 0 || total < 0) total = 0;
    *before = total / 2;
    return true;
  }
  if (a->padding == CONV_EXPLICIT) {
    padded = in + a->pad_before[axis] + a->pad_after[axis]; /* pads <= 2^31: no overflow */
    *before = a->pad_before[axis];
  }
  if (padded < eff) {
    snprintf(err, es,
             "the filter's %s %" PRId64 " (%" PRId64 " with dilation %" PRId64
             ") is larger than the %sinput's %" PRId64,
             dim, k, eff, d, a->padding == CONV_EXPLICIT ? "padded " : "", padded);
    return false;
  }
  *out = (padded - eff) / s + 1;
  return true;
}

bool deft_conv_geometry(const conv_attrs *a, const int64_t *in, const int64_t *f, bool depthwise,
                        conv_geom *g, char *err, size_t es) {
  memset(g, 0, sizeof *g);
  /* The shapes are formatted for the messages only (a kernel calls this every run). */
  char si[160], sf[160];
#define FMT_SHAPES() (fmt_list(in, 4, si, sizeof si), fmt_list(f, 4, sf, sizeof sf))
  for (int i = 0; i < 4; i++)
    if (in[i] < 0 || f[i] < 0) {
      FMT_SHAPES();
      snprintf(err, es, "negative dimension in input %s or filter %s", si, sf);
      return false;
    }
  if (f[2] != in[3]) {
    FMT_SHAPES();
    snprintf(err, es,
             "the input %s has %" PRId64 " channels but the filter %s expects %" PRId64
             " (its dimension 2)", si, in[3], sf, f[2]);
    return false;
  }
  g->n = in[0];
  g->h = in[1];
  g->w = in[2];
  g->c = in[3];
  g->kh = f[0];
  g->kw = f[1];
  g->sh = a->stride[0];
  g->sw = a->stride[1];
  g->dh = a->dilation[0];
  g->dw = a->dilation[1];
  g->mult = depthwise ? f[3] : 1;
  if (depthwise ? __builtin_mul_overflow(g->c, f[3], &g->oc) : (g->oc = f[3], false)) {
    FMT_SHAPES();
    snprintf(err, es, "channels x multiplier overflows (filter %s)", sf);
    return false;
  }
  if (!deft_conv_out_size(a, 0, g->h, g->kh, &g->oh, &g->pt, err, es) ||
      !deft_conv_out_size(a, 1, g->w, g->kw, &g->ow, &g->pl, err, es))
    return false;
  /* Element counts (and bytes) of the output, the GEMM's K and the patch rows must fit. */
  int64_t rows, outn, k, kn, bytes;
  if (__builtin_mul_overflow(g->n, g->oh, &rows) || __builtin_mul_overflow(rows, g->ow, &rows) ||
      __builtin_mul_overflow(rows, g->oc, &outn) || __builtin_mul_overflow(outn, 8, &bytes) ||
      __builtin_mul_overflow(g->kh, g->kw, &k) || __builtin_mul_overflow(k, g->c, &k) ||
      __builtin_mul_overflow(k, f[3], &kn) || __builtin_mul_overflow(kn, 8, &bytes) ||
      __builtin_mul_overflow(g->n * g->h, g->w * 8, &bytes) ||
      __builtin_mul_overflow(g->n * g->h * g->w, g->c * 8, &bytes)) {
    FMT_SHAPES();
    snprintf(err, es, "the convolution of input %s with filter %s is too large (sizes overflow)",
             si, sf);
    return false;
  }
  if (k > INT32_MAX || g->oc > INT32_MAX || g->c > INT32_MAX) {
    FMT_SHAPES();
    snprintf(err, es,
             "the convolution of input %s with filter %s is too large (a GEMM dimension exceeds "
             "2^31)", si, sf);
    return false;
  }
#undef FMT_SHAPES
  return true;
}

/* ---- prepare ---- */

void deft_conv_prepare(deft_prepare_ctx *p) {
  char err[512];
  conv_attrs a;
  if (!deft_conv_parse_attrs(deft_prepare_op(p), &a, err, sizeof err)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "%s", err);
    return;
  }
  if (a.nchw) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED,
                      "data_format NCHW does not run on the CPU (TensorFlow's CPU kernels are "
                      "NHWC too); build the graph with NHWC");
    return;
  }
  deft_dtype t = deft_prepare_output_dtype(p, 0);
  if (t != DEFT_FLOAT && t != DEFT_DOUBLE) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "deft has no kernel for dtype %s",
                      deft_dtype_name(t));
    return;
  }
  conv_params *cp = deft_prepare_params(p, sizeof *cp);
  if (!cp) return;
  cp->a = a;
  cp->isa = deft_conv_isa();
  cp->ep = NULL;
}

/* ---- shape functions ---- */

/* NHWC-ordered dims of a rank-4 shape in a's data_format (unknown rank: all -1). */
static void to_nhwc(const conv_attrs *a, deft_shape s, int64_t out[4]) {
  for (int i = 0; i < 4; i++) out[i] = -1;
  if (s.rank != 4) return;
  if (!a->nchw) {
    memcpy(out, s.dims, 4 * sizeof(int64_t));
  } else {
    out[0] = s.dims[0];
    out[1] = s.dims[2];
    out[2] = s.dims[3];
    out[3] = s.dims[1];
  }
}

static deft_shape from_nhwc(const conv_attrs *a, const int64_t d[4]) {
  if (!a->nchw) return deft_shape_make(4, d);
  int64_t v[4] = {d[0], d[3], d[1], d[2]};
  return deft_shape_make(4, v);
}

/* The shape a sizes vector (input i: a Const, or Shape of a tensor) stands for, in its own
 * layout; unknown dims -1. false after failing c (a Const of the wrong length or a negative). */
static bool sizes_shape(deft_shape_ctx *c, int i, const char *what, deft_shape *out) {
  *out = deft_shape_unknown();
  deft_shape vs = deft_shape_ctx_input(c, i);
  if (vs.rank >= 0 && (vs.rank != 1 || (vs.dims[0] >= 0 && vs.dims[0] != 4))) {
    char sh[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a vector of 4 sizes, got shape %s",
                    what, deft_shape_format(vs, sh, sizeof sh));
    return false;
  }
  const deft_tensor *t = deft_shape_ctx_input_const(c, i);
  if (t) {
    if (t->rank != 1 || t->n != 4) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s must hold 4 sizes, got %" PRId64, what, t->n);
      return false;
    }
    int64_t d[4];
    for (int k = 0; k < 4; k++) {
      d[k] = t->dtype == DEFT_INT64 ? deft_tensor_i64(t)[k] : deft_tensor_i32(t)[k];
      if (d[k] < 0) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s must be >= 0, got %" PRId64 " at %d",
                        what, d[k], k);
        return false;
      }
    }
    *out = deft_shape_make(4, d);
    return true;
  }
  deft_output src = deft_op_input(c->op, i);
  if (src.op && !strcmp(deft_op_type(src.op), "Shape")) {
    deft_shape s = deft_output_shape(deft_op_input(src.op, 0));
    if (s.rank == 4) *out = s;
  } else if (src.op && !strcmp(deft_op_type(src.op), "ShapeN") &&
             src.index < deft_op_num_inputs(src.op)) {
    deft_shape s = deft_output_shape(deft_op_input(src.op, src.index));
    if (s.rank == 4) *out = s;
  }
  return true;
}

static bool check_rank4(deft_shape_ctx *c, int i, const char *what) {
  deft_shape s = deft_shape_ctx_input(c, i);
  if (s.rank < 0 || s.rank == 4) return true;
  char sh[128];
  deft_output in = deft_op_input(c->op, i);
  deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s ('%s:%d') must be 4-D, got shape %s", what,
                  deft_op_name(in.op), in.index, deft_shape_format(s, sh, sizeof sh));
  return false;
}

void deft_conv_shape(deft_shape_ctx *c, int kind, bool depthwise) {
  char err[512];
  conv_attrs a;
  if (!deft_conv_parse_attrs(c->op, &a, err, sizeof err)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
    return;
  }
  deft_shape in_s, f_s;
  if (kind == CONV_FWD) {
    if (!check_rank4(c, 0, "the input") || !check_rank4(c, 1, "the filter")) return;
    in_s = deft_shape_ctx_input(c, 0);
    f_s = deft_shape_ctx_input(c, 1);
  } else {
    int si = kind == CONV_BWD_INPUT ? 0 : 1;
    if (!check_rank4(c, kind == CONV_BWD_INPUT ? 1 : 0,
                     kind == CONV_BWD_INPUT ? "the filter" : "the input") ||
        !check_rank4(c, 2, "out_backprop"))
      return;
    deft_shape sz;
    if (!sizes_shape(c, si, kind_input_name(kind), &sz)) return;
    in_s = kind == CONV_BWD_INPUT ? sz : deft_shape_ctx_input(c, 0);
    f_s = kind == CONV_BWD_INPUT ? deft_shape_ctx_input(c, 1) : sz;
  }
  int64_t in[4], f[4], out[4];
  to_nhwc(&a, in_s, in);
  /* The filter is [kh, kw, in, out] in every data_format. */
  for (int i = 0; i < 4; i++) f[i] = f_s.rank == 4 ? f_s.dims[i] : -1;
  if (in[3] >= 0 && f[2] >= 0 && in[3] != f[2]) {
    char s0[128], s1[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "the input %s has %" PRId64 " channels but the filter %s expects %" PRId64
                    " (its dimension 2)", deft_shape_format(in_s, s0, sizeof s0), in[3],
                    deft_shape_format(f_s, s1, sizeof s1), f[2]);
    return;
  }
  out[0] = in[0];
  out[3] = f[3] < 0 ? -1 : depthwise ? (in[3] < 0 ? -1 : in[3] * f[3]) : f[3];
  for (int k = 0; k < 2; k++) {
    int64_t before;
    out[1 + k] = -1;
    if (in[1 + k] >= 0 && f[k] >= 0 &&
        !deft_conv_out_size(&a, k, in[1 + k], f[k], &out[1 + k], &before, err, sizeof err)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
      return;
    }
  }
  if (kind == CONV_FWD) {
    deft_shape_ctx_set_output(c, 0, from_nhwc(&a, out));
    return;
  }
  int64_t dy[4];
  to_nhwc(&a, deft_shape_ctx_input(c, 2), dy);
  for (int i = 0; i < 4; i++)
    if (dy[i] >= 0 && out[i] >= 0 && dy[i] != out[i]) {
      char s0[128], s1[128], s2[128], s3[128];
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "out_backprop has shape %s, but the convolution of input %s with filter "
                      "%s gives %s",
                      deft_shape_format(deft_shape_ctx_input(c, 2), s0, sizeof s0),
                      deft_shape_format(in_s, s1, sizeof s1),
                      deft_shape_format(f_s, s2, sizeof s2),
                      deft_shape_format(from_nhwc(&a, out), s3, sizeof s3));
      return;
    }
  deft_shape_ctx_set_output(c, 0, kind == CONV_BWD_INPUT ? in_s : f_s);
}

/* ---- run time ---- */

static bool tensor_rank4(deft_kernel_ctx *c, const deft_tensor *t, const char *what) {
  if (t->rank == 4) return true;
  char sh[128];
  deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be 4-D, got shape %s", what,
                   deft_shape_format(deft_tensor_shape(t), sh, sizeof sh));
  return false;
}

static bool read_sizes(deft_kernel_ctx *c, const deft_tensor *t, const char *what,
                       int64_t out[4]) {
  if (t->rank != 1 || t->n != 4) {
    char sh[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be a vector of 4 sizes, got shape %s",
                     what, deft_shape_format(deft_tensor_shape(t), sh, sizeof sh));
    return false;
  }
  for (int k = 0; k < 4; k++) {
    out[k] = deft_tensor_i32(t)[k];
    if (out[k] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s must be >= 0, got %" PRId64 " at %d", what,
                       out[k], k);
      return false;
    }
  }
  return true;
}

bool deft_conv_kernel_geometry(deft_kernel_ctx *c, int kind, bool depthwise, conv_geom *g,
                               int64_t *out_dims) {
  const conv_params *cp = deft_kernel_params(c);
  int64_t in[4], f[4];
  const deft_tensor *dy = NULL;
  if (kind == CONV_FWD) {
    const deft_tensor *x = deft_kernel_input(c, 0), *w = deft_kernel_input(c, 1);
    if (!tensor_rank4(c, x, "the input") || !tensor_rank4(c, w, "the filter")) return false;
    memcpy(in, x->dims, sizeof in);
    memcpy(f, w->dims, sizeof f);
  } else {
    dy = deft_kernel_input(c, 2);
    if (!tensor_rank4(c, dy, "out_backprop")) return false;
    if (kind == CONV_BWD_INPUT) {
      const deft_tensor *w = deft_kernel_input(c, 1);
      if (!tensor_rank4(c, w, "the filter") ||
          !read_sizes(c, deft_kernel_input(c, 0), "input_sizes", in))
        return false;
      memcpy(f, w->dims, sizeof f);
    } else {
      const deft_tensor *x = deft_kernel_input(c, 0);
      if (!tensor_rank4(c, x, "the input") ||
          !read_sizes(c, deft_kernel_input(c, 1), "filter_sizes", f))
        return false;
      memcpy(in, x->dims, sizeof in);
    }
  }
  char err[512];
  if (!deft_conv_geometry(&cp->a, in, f, depthwise, g, err, sizeof err)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
    return false;
  }
  int64_t od[4] = {g->n, g->oh, g->ow, g->oc};
  if (dy && memcmp(dy->dims, od, sizeof od) != 0) {
    char s0[128], s1[128], s2[128], s3[128];
    fmt_list(in, 4, s1, sizeof s1);
    fmt_list(f, 4, s2, sizeof s2);
    fmt_list(od, 4, s3, sizeof s3);
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "out_backprop has shape %s, but the convolution of input %s with filter %s "
                     "gives %s", deft_shape_format(deft_tensor_shape(dy), s0, sizeof s0), s1, s2,
                     s3);
    return false;
  }
  memcpy(out_dims, kind == CONV_FWD ? od : kind == CONV_BWD_INPUT ? in : f, 4 * sizeof(int64_t));
  return true;
}

static size_t kernel_scratch(const conv_geom *g, int kind, bool depthwise, int threads) {
  return depthwise ? deft_depthwise_f32_scratch(g, kind, threads)
                   : deft_conv_f32_scratch(g, kind, threads);
}

static void conv_run(deft_kernel_ctx *c, int kind, bool depthwise) {
  conv_geom g;
  int64_t od[4];
  if (!deft_conv_kernel_geometry(c, kind, depthwise, &g, od)) return;
  const deft_tensor *x = kind != CONV_BWD_INPUT ? deft_kernel_input(c, 0) : NULL;
  const deft_tensor *f = kind != CONV_BWD_FILTER ? deft_kernel_input(c, 1) : NULL;
  const deft_tensor *dy = kind != CONV_FWD ? deft_kernel_input(c, 2) : NULL;
  deft_dtype t = (x ? x : f)->dtype;
  if ((x && x->dtype != t) || (f && f->dtype != t) || (dy && dy->dtype != t)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the data inputs must all have dtype %s",
                     deft_dtype_name(t));
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, t, od, 4);
  if (!y || y->n == 0) return;
  const conv_params *cp = deft_kernel_params(c);
  /* A fused step's epilogue (runtime/plan_fuse.c sets it only for float32 forwards). */
  const deft_epilogue *ep = kind == CONV_FWD && t == DEFT_FLOAT ? cp->ep : NULL;
  /* A sum over nothing (an empty batch, input or out_backprop): zeros. */
  if ((x && x->n == 0) || (f && f->n == 0) || (dy && dy->n == 0)) {
    memset(y->buf->data, 0, (size_t)y->n * deft_dtype_size(t));
    if (ep) deft_epilogue_rows_f32(ep, deft_tensor_f32(y), y->n / g.oc, g.oc);
    return;
  }
  deft_threadpool *pool = deft_kernel_threadpool(c);
  int threads = deft_kernel_threads(c);
  if (t == DEFT_DOUBLE) {
    const double *xd = x ? deft_tensor_f64(x) : NULL, *fd = f ? deft_tensor_f64(f) : NULL;
    const double *dyd = dy ? deft_tensor_f64(dy) : NULL;
    double *yd = deft_tensor_f64(y);
    if (depthwise) {
      if (kind == CONV_FWD) deft_depthwise_f64_fwd(&g, xd, fd, yd);
      else if (kind == CONV_BWD_INPUT) deft_depthwise_f64_bwd_input(&g, fd, dyd, yd);
      else deft_depthwise_f64_bwd_filter(&g, xd, dyd, yd);
    } else {
      if (kind == CONV_FWD) deft_conv_f64_fwd(&g, xd, fd, yd);
      else if (kind == CONV_BWD_INPUT) deft_conv_f64_bwd_input(&g, fd, dyd, yd);
      else deft_conv_f64_bwd_filter(&g, xd, dyd, yd);
    }
    return;
  }
  const float *xf = x ? deft_tensor_f32(x) : NULL, *ff = f ? deft_tensor_f32(f) : NULL;
  const float *dyf = dy ? deft_tensor_f32(dy) : NULL;
  float *yf = deft_tensor_f32(y);
  size_t bytes = kernel_scratch(&g, kind, depthwise, threads);
  void *scratch = NULL;
  /* patches, partial filter gradients and GEMM workspaces live only during this call */
  if (bytes && !(scratch = deft_kernel_shared_scratch(c, bytes))) return;
  if (depthwise) {
    if (kind == CONV_FWD) deft_depthwise_f32_fwd(cp->isa, &g, xf, ff, yf, pool, threads, ep);
    else if (kind == CONV_BWD_INPUT)
      deft_depthwise_f32_bwd_input(cp->isa, &g, ff, dyf, yf, pool, threads);
    else deft_depthwise_f32_bwd_filter(cp->isa, &g, xf, dyf, yf, scratch, pool, threads);
  } else {
    if (kind == CONV_FWD)
      deft_conv_f32_fwd(cp->isa, &g, xf, ff, yf, scratch, pool, threads, ep);
    else if (kind == CONV_BWD_INPUT) deft_conv_f32_bwd_input(&g, ff, dyf, yf, scratch, pool, threads);
    else deft_conv_f32_bwd_filter(&g, xf, dyf, yf, scratch, pool, threads);
  }
}

static void conv2d_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_FWD, false); }
static void conv2d_bi_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_BWD_INPUT, false); }
static void conv2d_bf_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_BWD_FILTER, false); }
static void dw_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_FWD, true); }
static void dw_bi_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_BWD_INPUT, true); }
static void dw_bf_kernel(deft_kernel_ctx *c) { conv_run(c, CONV_BWD_FILTER, true); }

static void conv2d_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_FWD, false); }
static void conv2d_bi_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_BWD_INPUT, false); }
static void conv2d_bf_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_BWD_FILTER, false); }
static void dw_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_FWD, true); }
static void dw_bi_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_BWD_INPUT, true); }
static void dw_bf_shape(deft_shape_ctx *c) { deft_conv_shape(c, CONV_BWD_FILTER, true); }

/* ---- building ---- */

static void copy_list_attr(deft_op_builder *b, const deft_op *like, const char *name) {
  const int64_t *v;
  int n;
  if (deft_op_attr_int_list(like, name, &v, &n)) deft_op_builder_set_attr_int_list(b, name, v, n);
}

static void copy_string_attr(deft_op_builder *b, const deft_op *like, const char *name) {
  const char *s;
  size_t len;
  if (deft_op_attr_string(like, name, &s, &len)) deft_op_builder_set_attr_string(b, name, s, len);
}

static bool is_depthwise_type(const char *type) { return !strncmp(type, "Depthwise", 9); }

deft_output deft_conv_build(deft_graph *g, const char *type, const deft_output *in,
                            const deft_op *like, const int64_t *strides4,
                            const int64_t *dilations4, const char *padding,
                            const int64_t *explicit8, const char *data_format, const char *name) {
  int n = 2 + (strcmp(type, "Conv2D") != 0 && strcmp(type, "DepthwiseConv2dNative") != 0);
  if (!deft_inputs_ok(g, type, in, n)) return NONE;
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (like) {
    copy_list_attr(b, like, "strides");
    copy_list_attr(b, like, "dilations");
    copy_list_attr(b, like, "explicit_paddings");
    copy_string_attr(b, like, "padding");
    copy_string_attr(b, like, "data_format");
    bool cudnn;
    if (!is_depthwise_type(type) && deft_op_attr_bool(like, "use_cudnn_on_gpu", &cudnn))
      deft_op_builder_set_attr_bool(b, "use_cudnn_on_gpu", cudnn);
  } else {
    deft_op_builder_set_attr_int_list(b, "strides", strides4, 4);
    deft_op_builder_set_attr_int_list(b, "dilations", dilations4, 4);
    deft_op_builder_set_attr_string(b, "padding", padding, strlen(padding));
    if (explicit8) deft_op_builder_set_attr_int_list(b, "explicit_paddings", explicit8, 8);
    deft_op_builder_set_attr_string(b, "data_format", data_format, strlen(data_format));
  }
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : NONE;
}

/* Builds `type` from public options (NULL = stride 1, dilation 1, SAME, NHWC). */
static deft_output build_from_options(deft_graph *g, const char *type, const deft_output *in,
                                      const deft_conv_options *o, const char *name) {
  deft_conv_options d;
  memset(&d, 0, sizeof d);
  if (!o) o = &d;
  const char *fmt = o->data_format ? o->data_format : "NHWC";
  bool nchw = !strcmp(fmt, "NCHW");
  int hi = nchw ? 2 : 1;
  int64_t s[4] = {1, 1, 1, 1}, dl[4] = {1, 1, 1, 1}, ep[8] = {0};
  for (int k = 0; k < 2; k++) {
    s[hi + k] = o->strides[k] ? o->strides[k] : 1;
    dl[hi + k] = o->dilations[k] ? o->dilations[k] : 1;
    ep[2 * (hi + k)] = o->explicit_paddings[2 * k];
    ep[2 * (hi + k) + 1] = o->explicit_paddings[2 * k + 1];
  }
  const char *pad = o->padding ? o->padding : "SAME";
  return deft_conv_build(g, type, in, NULL, s, dl, pad, strcmp(pad, "EXPLICIT") ? NULL : ep, fmt,
                         name);
}

deft_output deft_conv2d_op(deft_graph *g, deft_output input, deft_output filter,
                           const deft_conv_options *o, const char *name) {
  deft_output in[2] = {input, filter};
  return build_from_options(g, "Conv2D", in, o, name);
}

deft_output deft_conv2d_backprop_input(deft_graph *g, deft_output input_sizes, deft_output filter,
                                       deft_output out_backprop, const deft_conv_options *o,
                                       const char *name) {
  deft_output in[3] = {input_sizes, filter, out_backprop};
  return build_from_options(g, "Conv2DBackpropInput", in, o, name);
}

deft_output deft_conv2d_backprop_filter(deft_graph *g, deft_output input,
                                        deft_output filter_sizes, deft_output out_backprop,
                                        const deft_conv_options *o, const char *name) {
  deft_output in[3] = {input, filter_sizes, out_backprop};
  return build_from_options(g, "Conv2DBackpropFilter", in, o, name);
}

deft_output deft_depthwise_conv2d_native(deft_graph *g, deft_output input, deft_output filter,
                                         const deft_conv_options *o, const char *name) {
  deft_output in[2] = {input, filter};
  return build_from_options(g, "DepthwiseConv2dNative", in, o, name);
}

deft_output deft_depthwise_conv2d_native_backprop_input(deft_graph *g, deft_output input_sizes,
                                                        deft_output filter,
                                                        deft_output out_backprop,
                                                        const deft_conv_options *o,
                                                        const char *name) {
  deft_output in[3] = {input_sizes, filter, out_backprop};
  return build_from_options(g, "DepthwiseConv2dNativeBackpropInput", in, o, name);
}

deft_output deft_depthwise_conv2d_native_backprop_filter(deft_graph *g, deft_output input,
                                                         deft_output filter_sizes,
                                                         deft_output out_backprop,
                                                         const deft_conv_options *o,
                                                         const char *name) {
  deft_output in[3] = {input, filter_sizes, out_backprop};
  return build_from_options(g, "DepthwiseConv2dNativeBackpropFilter", in, o, name);
}

/* ---- gradients (TF 1.x nn_grad.py) ----
 * Conv2D: [Conv2DBackpropInput(Shape(input), filter, grad), Conv2DBackpropFilter(input,
 * Shape_1(filter), grad)] with the forward op's attrs (TF 1.3's graph: Shape and Shape_1; later
 * versions use one ShapeN). The backprop ops' gradients are the other backprop op and the forward
 * convolution; the depthwise family's are built the same way with its own op types. */

static void grad_fwd(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx,
                     const char *bi, const char *bf) {
  deft_output x = deft_op_input(op, 0), f = deft_op_input(op, 1);
  deft_output in0[3] = {deft_shape_of(g, x, "Shape"), f, grads[0]};
  dx[0] = deft_conv_build(g, bi, in0, op, NULL, NULL, NULL, NULL, NULL, bi);
  deft_output in1[3] = {x, deft_shape_of(g, f, "Shape_1"), grads[0]};
  dx[1] = deft_conv_build(g, bf, in1, op, NULL, NULL, NULL, NULL, NULL, bf);
}

/* BackpropInput(sizes, filter, dy): d/dfilter = BackpropFilter(grad, Shape(filter), dy),
 * d/ddy = Conv(grad, filter). */
static void grad_bi(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx,
                    const char *fwd, const char *bf) {
  deft_output f = deft_op_input(op, 1), dy = deft_op_input(op, 2);
  deft_output in1[3] = {grads[0], deft_shape_of(g, f, "Shape"), dy};
  dx[1] = deft_conv_build(g, bf, in1, op, NULL, NULL, NULL, NULL, NULL, bf);
  deft_output in2[2] = {grads[0], f};
  dx[2] = deft_conv_build(g, fwd, in2, op, NULL, NULL, NULL, NULL, NULL, fwd);
}

/* BackpropFilter(x, sizes, dy): d/dx = BackpropInput(Shape(x), grad, dy), d/ddy = Conv(x, grad). */
static void grad_bf(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx,
                    const char *fwd, const char *bi) {
  deft_output x = deft_op_input(op, 0), dy = deft_op_input(op, 2);
  deft_output in0[3] = {deft_shape_of(g, x, "Shape"), grads[0], dy};
  dx[0] = deft_conv_build(g, bi, in0, op, NULL, NULL, NULL, NULL, NULL, bi);
  deft_output in2[2] = {x, grads[0]};
  dx[2] = deft_conv_build(g, fwd, in2, op, NULL, NULL, NULL, NULL, NULL, fwd);
}

#define C2D "Conv2D"
#define C2D_BI "Conv2DBackpropInput"
#define C2D_BF "Conv2DBackpropFilter"
#define DW "DepthwiseConv2dNative"
#define DW_BI "DepthwiseConv2dNativeBackpropInput"
#define DW_BF "DepthwiseConv2dNativeBackpropFilter"

static void conv2d_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_fwd(g, op, gr, dx, C2D_BI, C2D_BF);
}
static void conv2d_bi_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_bi(g, op, gr, dx, C2D, C2D_BF);
}
static void conv2d_bf_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_bf(g, op, gr, dx, C2D, C2D_BI);
}
static void dw_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_fwd(g, op, gr, dx, DW_BI, DW_BF);
}
static void dw_bi_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_bi(g, op, gr, dx, DW, DW_BF);
}
static void dw_bf_grad(deft_graph *g, deft_op *op, const deft_output *gr, deft_output *dx) {
  grad_bf(g, op, gr, dx, DW, DW_BI);
}

/* TF's registrations (T also allows half, bfloat16 and, for Conv2D, int32, which deft has no
 * kernel for: those fail at planning). */
#define CONV_ATTRS                                                                         \
  "T: {half, bfloat16, float, double, int32}, strides: list(int), "                       \
  "use_cudnn_on_gpu: bool = true, padding: {'SAME', 'VALID', 'EXPLICIT'}, "               \
  "explicit_paddings: list(int) = [], data_format: {'NHWC', 'NCHW'} = 'NHWC', "           \
  "dilations: list(int) = [1, 1, 1, 1]"
#define DW_ATTRS                                                                           \
  "T: {half, bfloat16, float, double}, strides: list(int), "                              \
  "padding: {'SAME', 'VALID', 'EXPLICIT'}, explicit_paddings: list(int) = [], "           \
  "data_format: {'NHWC', 'NCHW'} = 'NHWC', dilations: list(int) = [1, 1, 1, 1]"

static const deft_op_def conv_defs[] = {
    {.type = C2D, .inputs = "input: T, filter: T", .outputs = "output: T", .attrs = CONV_ATTRS,
     .shape = conv2d_shape, .prepare = deft_conv_prepare, .kernel = conv2d_kernel,
     .grad = conv2d_grad},
    {.type = C2D_BI, .inputs = "input_sizes: int32, filter: T, out_backprop: T",
     .outputs = "output: T", .attrs = CONV_ATTRS, .shape = conv2d_bi_shape,
     .prepare = deft_conv_prepare, .kernel = conv2d_bi_kernel, .grad = conv2d_bi_grad},
    {.type = C2D_BF, .inputs = "input: T, filter_sizes: int32, out_backprop: T",
     .outputs = "output: T", .attrs = CONV_ATTRS, .shape = conv2d_bf_shape,
     .prepare = deft_conv_prepare, .kernel = conv2d_bf_kernel, .grad = conv2d_bf_grad},
    {.type = DW, .inputs = "input: T, filter: T", .outputs = "output: T", .attrs = DW_ATTRS,
     .shape = dw_shape, .prepare = deft_conv_prepare, .kernel = dw_kernel, .grad = dw_grad},
    {.type = DW_BI, .inputs = "input_sizes: int32, filter: T, out_backprop: T",
     .outputs = "output: T", .attrs = DW_ATTRS, .shape = dw_bi_shape,
     .prepare = deft_conv_prepare, .kernel = dw_bi_kernel, .grad = dw_bi_grad},
    {.type = DW_BF, .inputs = "input: T, filter_sizes: int32, out_backprop: T",
     .outputs = "output: T", .attrs = DW_ATTRS, .shape = dw_bf_shape,
     .prepare = deft_conv_prepare, .kernel = dw_bf_kernel, .grad = dw_bf_grad},
};

DEFT_FAMILY(deft_ops_conv, conv_defs);
