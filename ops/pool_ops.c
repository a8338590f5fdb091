/* SPDX-License-Identifier: Apache-2.0 */
/* ops/pool_ops.c - the pooling op family: MaxPool, MaxPoolV2, AvgPool and their gradient ops
 * (MaxPoolGrad(V2), MaxPoolGradGrad(V2), AvgPoolGrad): definitions, shape functions, prepare
 * steps, kernels and gradients side by side, plus the public constructors.
 *
 * Windows and strides may differ per spatial axis; pooling over the batch axis is an error and
 * over the depth axis UNIMPLEMENTED (TF's CPU kernels allow depth pooling only for MaxPool with a
 * 1x1 spatial window). SAME pads (total = max((out - 1) * stride + window - in, 0)) with the
 * extra row/column at the bottom/right, as TF does; padded elements take no part (AvgPool divides
 * by the number of real elements in the window). NHWC and NCHW both run (NCHW with strided
 * channel loops). float and double have kernels; the other types of TF's signatures fail
 * planning with UNIMPLEMENTED. Gradients are built as TF 1.x's nn_grad.py builds them. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/simd.h"
#include "base/thread_pool.h"
#include "base/tensor_internal.h"

typedef enum pool_kind {
  POOL_MAX,
  POOL_AVG,
  POOL_MAX_GRAD,      /* (orig_input, orig_output, grad) -> d orig_input */
  POOL_MAX_GRAD_GRAD, /* (orig_input, orig_output, grad of orig_input's shape) -> out's shape */
  POOL_AVG_GRAD       /* (orig_input_shape, grad) -> d orig_input */
} pool_kind;

/* A pooling's geometry: input [n, h, w, c] and output [n, oh, ow, c] in either layout, given by
 * element strides (i* for the input, o* for the output). */
typedef struct pool_geom {
  int64_t n, h, w, c, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw; /* window, strides, padding before */
  int64_t ins, ihs, iws, ics, ons, ohs, ows, ocs;
} pool_geom;

typedef struct pool_job {
  const pool_geom *gm;
  pool_kind kind;
  const void *x; /* (original) input; NULL for AvgPoolGrad */
  const void *g; /* incoming gradient (the gradient ops) */
  void *y;
} pool_job;

/* The input range [*lo, *hi) of window `o` along an axis of length `in`. */
static inline void pool_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in,
                               int64_t *lo, int64_t *hi) {
  int64_t start = o * stride - pad;
  *lo = start < 0 ? 0 : start;
  *hi = start + k < in ? start + k : in;
}

#define POOL_T float
#define POOL_SFX f32
#include "ops/pool_template.h"
#undef POOL_T
#undef POOL_SFX
#define POOL_T double
#define POOL_SFX f64
#include "ops/pool_template.h"
#undef POOL_T
#undef POOL_SFX

/* ---- attrs and geometry ---- */

/* What the prepare step derives; ksize/strides are in the data format's order. */
typedef struct pool_params {
  pool_kind kind;
  bool same, nchw;
  int ks_input; /* V2 ops: flat index of the ksize input (strides follow); -1: from attrs */
  int64_t k[4], s[4];
} pool_params;

static const char *axis_name(int i, bool nchw) {
  static const char *nhwc_names[4] = {"batch", "height", "width", "depth"};
  static const char *nchw_names[4] = {"batch", "depth", "height", "width"};
  return nchw ? nchw_names[i] : nhwc_names[i];
}

/* Checks ksize and strides (n values each); returns the failure's code (DEFT_OK if none) with
 * its message in err. */
static deft_code check_window(const int64_t *k, int nk, const int64_t *s, int ns, bool nchw,
                              char *err, size_t size) {
  if (nk != 4 || ns != 4) {
    snprintf(err, size, "ksize and strides must have 4 elements, got %d and %d", nk, ns);
    return DEFT_INVALID_ARGUMENT;
  }
  for (int i = 0; i < 4; i++) {
    if (k[i] < 1 || k[i] > INT32_MAX || s[i] < 1 || s[i] > INT32_MAX) {
      snprintf(err, size, "ksize and strides must be in [1, 2^31), got ksize[%d] = %lld, "
               "strides[%d] = %lld", i, (long long)k[i], i, (long long)s[i]);
      return DEFT_INVALID_ARGUMENT;
    }
  }
  if (k[0] != 1 || s[0] != 1) {
    snprintf(err, size, "pooling over the batch dimension is not supported (ksize[0] = %lld, "
             "strides[0] = %lld)", (long long)k[0], (long long)s[0]);
    return DEFT_INVALID_ARGUMENT;
  }
  int ci = nchw ? 1 : 3;
  if (k[ci] != 1 || s[ci] != 1) {
    snprintf(err, size, "pooling over the depth dimension is not supported on the CPU "
             "(ksize[%d] = %lld, strides[%d] = %lld)", ci, (long long)k[ci], ci,
             (long long)s[ci]);
    return DEFT_UNIMPLEMENTED;
  }
  return DEFT_OK;
}

/* Output length and padding-before along one axis; false when a VALID window does not fit. */
static bool axis_out(int64_t in, int64_t k, int64_t s, bool same, int64_t *out, int64_t *pad) {
  if (same) {
    *out = (in + s - 1) / s;
    int64_t total = *out > 0 ? (*out - 1) * s + k - in : 0;
    *pad = total > 0 ? total / 2 : 0;
    return true;
  }
  if (k > in) return false;
  *out = (in - k) / s + 1;
  *pad = 0;
  return true;
}

/* Fills m from the input's 4 dims; false with a message when a window is larger than the
 * (VALID) input. */
static bool pool_geometry(const int64_t *d, const int64_t *k, const int64_t *s, bool same,
                          bool nchw, pool_geom *m, char *err, size_t size) {
  int hi = nchw ? 2 : 1, wi = hi + 1, ci = nchw ? 1 : 3;
  m->n = d[0];
  m->h = d[hi];
  m->w = d[wi];
  m->c = d[ci];
  m->kh = k[hi];
  m->kw = k[wi];
  m->sh = s[hi];
  m->sw = s[wi];
  if (!axis_out(m->h, m->kh, m->sh, same, &m->oh, &m->ph) ||
      !axis_out(m->w, m->kw, m->sw, same, &m->ow, &m->pw)) {
    snprintf(err, size, "the %lldx%lld window is larger than the %lldx%lld input (padding "
             "VALID)", (long long)m->kh, (long long)m->kw, (long long)m->h, (long long)m->w);
    return false;
  }
  if (nchw) {
    m->ics = m->h * m->w, m->ihs = m->w, m->iws = 1, m->ins = m->c * m->h * m->w;
    m->ocs = m->oh * m->ow, m->ohs = m->ow, m->ows = 1, m->ons = m->c * m->oh * m->ow;
  } else {
    m->ics = 1, m->iws = m->c, m->ihs = m->w * m->c, m->ins = m->h * m->w * m->c;
    m->ocs = 1, m->ows = m->c, m->ohs = m->ow * m->c, m->ons = m->oh * m->ow * m->c;
  }
  return true;
}

/* The output dims [4] of geometry m in its layout. */
static void out_dims(const pool_geom *m, bool nchw, int64_t *dims) {
  dims[0] = m->n;
  dims[nchw ? 1 : 3] = m->c;
  dims[nchw ? 2 : 1] = m->oh;
  dims[nchw ? 3 : 2] = m->ow;
}

/* Reads padding and data_format; false with a message for values deft does not know. */
static deft_code read_format(const deft_op *op, bool *same, bool *nchw, char *err, size_t size) {
  const char *pad = NULL, *fmt = "NHWC";
  deft_op_attr_string(op, "padding", &pad, NULL);
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  if (!pad || (strcmp(pad, "SAME") && strcmp(pad, "VALID"))) {
    snprintf(err, size, "padding must be SAME or VALID, got '%s'", pad ? pad : "(none)");
    return DEFT_INVALID_ARGUMENT;
  }
  if (strcmp(fmt, "NHWC") && strcmp(fmt, "NCHW")) {
    snprintf(err, size, "data_format '%s' is not supported (NHWC or NCHW)", fmt);
    return strcmp(fmt, "NCHW_VECT_C") ? DEFT_INVALID_ARGUMENT : DEFT_UNIMPLEMENTED;
  }
  *same = !strcmp(pad, "SAME");
  *nchw = !strcmp(fmt, "NCHW");
  return DEFT_OK;
}

/* Reads and checks ksize/strides attrs into k and s. */
static deft_code read_window_attrs(const deft_op *op, bool nchw, int64_t *k, int64_t *s,
                                   char *err, size_t size) {
  const int64_t *kv = NULL, *sv = NULL;
  int nk = 0, ns = 0;
  if (!deft_op_attr_int_list(op, "ksize", &kv, &nk) ||
      !deft_op_attr_int_list(op, "strides", &sv, &ns)) {
    snprintf(err, size, "ksize and strides must be lists of ints");
    return DEFT_INVALID_ARGUMENT;
  }
  deft_code code = check_window(kv, nk, sv, ns, nchw, err, size);
  if (code == DEFT_OK)
    for (int i = 0; i < 4; i++) k[i] = kv[i], s[i] = sv[i];
  return code;
}

/* Reads a V2 op's ksize or strides tensor (int32 [4]) into v; false if it is not one. */
static bool window_from_tensor(const deft_tensor *t, int64_t *v) {
  if (!t || t->dtype != DEFT_INT32 || t->rank != 1 || t->dims[0] != 4 || !t->buf) return false;
  const int32_t *p = deft_tensor_i32(t);
  for (int i = 0; i < 4; i++) v[i] = p[i];
  return true;
}

static int ks_input_of(pool_kind kind, bool v2) {
  if (!v2) return -1;
  return kind == POOL_MAX ? 1 : 3;
}

/* ---- shape functions ---- */

static void pool_shape_common(deft_shape_ctx *c, pool_kind kind, bool v2) {
  char err[256];
  bool same = false, nchw = false;
  deft_code code = read_format(c->op, &same, &nchw, err, sizeof err);
  int64_t k[4], s[4];
  bool known_window = true;
  if (code == DEFT_OK && !v2) code = read_window_attrs(c->op, nchw, k, s, err, sizeof err);
  if (code == DEFT_OK && v2) {
    int ki = ks_input_of(kind, true);
    known_window = window_from_tensor(deft_shape_ctx_input_const(c, ki), k) &&
                   window_from_tensor(deft_shape_ctx_input_const(c, ki + 1), s);
    if (known_window) code = check_window(k, 4, s, 4, nchw, err, sizeof err);
  }
  if (code != DEFT_OK) {
    deft_shape_fail(c, code, "%s", err);
    return;
  }
  /* the input whose shape is the pooled one: input 0, or AvgPoolGrad's shape vector */
  deft_shape in = deft_shape_ctx_input(c, 0);
  if (kind == POOL_AVG_GRAD) {
    int64_t d[4] = {-1, -1, -1, -1};
    window_from_tensor(deft_shape_ctx_input_const(c, 0), d);
    /* the gradient's own graph: AvgPoolGrad(Shape(x), ...) has x's shape */
    deft_output src = deft_op_input(c->op, 0);
    if (!strcmp(deft_op_type(src.op), "Shape")) {
      deft_shape xs = deft_output_shape(deft_op_input(src.op, 0));
      for (int i = 0; xs.rank == 4 && i < 4; i++) d[i] = xs.dims[i];
    }
    for (int i = 0; i < 4; i++)
      if (d[i] < -1) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "orig_input_shape[%d] = %lld is negative", i,
                        (long long)d[i]);
        return;
      }
    in = deft_shape_make(4, d);
  }
  if (in.rank >= 0 && in.rank != 4) {
    char sh[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the input must be 4-D, got shape %s",
                    deft_shape_format(in, sh, sizeof sh));
    return;
  }
  if (in.rank < 0) in = deft_shape_make(4, (const int64_t[4]){-1, -1, -1, -1});
  /* pooled shape, with unknown spatial dims where the input's or the window is unknown */
  deft_shape out = in;
  int hi = nchw ? 2 : 1;
  for (int a = hi; a < hi + 2; a++) {
    int64_t o = -1, pad;
    if (known_window && in.dims[a] >= 0 && !axis_out(in.dims[a], k[a], s[a], same, &o, &pad)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the window's %s %lld is larger than the input's "
                      "%lld (padding VALID)", axis_name(a, nchw), (long long)k[a],
                      (long long)in.dims[a]);
      return;
    }
    out.dims[a] = o;
  }
  bool gives_input_shape = kind == POOL_MAX_GRAD || kind == POOL_AVG_GRAD;
  deft_shape_ctx_set_output(c, 0, gives_input_shape ? in : out);
}

static void max_pool_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_MAX, false); }
static void max_pool_v2_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_MAX, true); }
static void avg_pool_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_AVG, false); }
static void max_grad_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_MAX_GRAD, false); }
static void max_grad_v2_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_MAX_GRAD, true); }
static void max_gg_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_MAX_GRAD_GRAD, false); }
static void max_gg_v2_shape(deft_shape_ctx *c) {
  pool_shape_common(c, POOL_MAX_GRAD_GRAD, true);
}
static void avg_grad_shape(deft_shape_ctx *c) { pool_shape_common(c, POOL_AVG_GRAD, false); }

/* ---- prepare ---- */

static void pool_prepare_common(deft_prepare_ctx *p, pool_kind kind, bool v2) {
  const deft_op *op = deft_prepare_op(p);
  char err[256];
  pool_params pp;
  memset(&pp, 0, sizeof pp);
  pp.kind = kind;
  pp.ks_input = ks_input_of(kind, v2);
  deft_code code = read_format(op, &pp.same, &pp.nchw, err, sizeof err);
  if (code == DEFT_OK && !v2) code = read_window_attrs(op, pp.nchw, pp.k, pp.s, err, sizeof err);
  if (code != DEFT_OK) {
    deft_prepare_fail(p, code, "%s", err);
    return;
  }
  deft_dtype dt = deft_prepare_output_dtype(p, 0);
  if (dt != DEFT_FLOAT && dt != DEFT_DOUBLE) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "no CPU kernel for dtype %s (float and double "
                      "only)", deft_dtype_name(dt));
    return;
  }
  pool_params *out = deft_prepare_params(p, sizeof *out);
  if (out) *out = pp;
}

static void max_pool_prepare(deft_prepare_ctx *p) { pool_prepare_common(p, POOL_MAX, false); }
static void max_pool_v2_prepare(deft_prepare_ctx *p) { pool_prepare_common(p, POOL_MAX, true); }
static void avg_pool_prepare(deft_prepare_ctx *p) { pool_prepare_common(p, POOL_AVG, false); }
static void max_grad_prepare(deft_prepare_ctx *p) {
  pool_prepare_common(p, POOL_MAX_GRAD, false);
}
static void max_grad_v2_prepare(deft_prepare_ctx *p) {
  pool_prepare_common(p, POOL_MAX_GRAD, true);
}
static void max_gg_prepare(deft_prepare_ctx *p) {
  pool_prepare_common(p, POOL_MAX_GRAD_GRAD, false);
}
static void max_gg_v2_prepare(deft_prepare_ctx *p) {
  pool_prepare_common(p, POOL_MAX_GRAD_GRAD, true);
}
static void avg_grad_prepare(deft_prepare_ctx *p) {
  pool_prepare_common(p, POOL_AVG_GRAD, false);
}

/* ---- the kernel ---- */

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

static bool dims_equal(const deft_tensor *t, const int64_t *dims) {
  if (t->rank != 4) return false;
  for (int i = 0; i < 4; i++)
    if (t->dims[i] != dims[i]) return false;
  return true;
}

/* Fails c unless input i has the given 4 dims. */
static bool expect_dims(deft_kernel_ctx *c, int i, const int64_t *dims) {
  const deft_tensor *t = deft_kernel_input(c, i);
  if (dims_equal(t, dims)) return true;
  char a[128], b[128];
  deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) has shape %s, expected %s", i,
                   deft_kernel_input_name(c, i), tshape(t, a, sizeof a),
                   deft_shape_format(deft_shape_make(4, dims), b, sizeof b));
  return false;
}

/* Work units below which a pooling runs on one thread. */
#define POOL_GRAIN 16384

static void pool_kernel(deft_kernel_ctx *c) {
  const pool_params *pp = deft_kernel_params(c);
  char err[256], sh[128];
  int64_t k[4], s[4];
  memcpy(k, pp->k, sizeof k);
  memcpy(s, pp->s, sizeof s);
  if (pp->ks_input >= 0) {
    if (!window_from_tensor(deft_kernel_input(c, pp->ks_input), k) ||
        !window_from_tensor(deft_kernel_input(c, pp->ks_input + 1), s)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "ksize and strides must be int32 vectors of 4 "
                       "elements, got %s and %s",
                       tshape(deft_kernel_input(c, pp->ks_input), err, sizeof err),
                       tshape(deft_kernel_input(c, pp->ks_input + 1), sh, sizeof sh));
      return;
    }
    deft_code code = check_window(k, 4, s, 4, pp->nchw, err, sizeof err);
    if (code != DEFT_OK) {
      deft_kernel_fail(c, code, "%s", err);
      return;
    }
  }
  /* the pooled input's dims */
  int64_t in[4];
  const deft_tensor *x = NULL;
  if (pp->kind == POOL_AVG_GRAD) {
    const deft_tensor *t = deft_kernel_input(c, 0);
    bool ok = window_from_tensor(t, in);
    for (int i = 0; ok && i < 4; i++) ok = in[i] >= 0;
    int64_t n = 1;
    for (int i = 0; ok && i < 4; i++) ok = !__builtin_mul_overflow(n, in[i], &n);
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "orig_input_shape must be an int32 vector of 4 "
                       "sizes >= 0 whose product fits int64, got %s", tshape(t, sh, sizeof sh));
      return;
    }
  } else {
    x = deft_kernel_input(c, 0);
    if (x->rank != 4) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the input must be 4-D, got shape %s",
                       tshape(x, sh, sizeof sh));
      return;
    }
    memcpy(in, x->dims, sizeof in);
  }
  pool_geom m;
  if (!pool_geometry(in, k, s, pp->same, pp->nchw, &m, err, sizeof err)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
    return;
  }
  int64_t od[4];
  out_dims(&m, pp->nchw, od);
  const deft_tensor *g = NULL;
  switch (pp->kind) {
    case POOL_MAX_GRAD:
      if (!expect_dims(c, 1, od) || !expect_dims(c, 2, od)) return;
      g = deft_kernel_input(c, 2);
      break;
    case POOL_MAX_GRAD_GRAD:
      if (!expect_dims(c, 1, od) || !expect_dims(c, 2, in)) return;
      g = deft_kernel_input(c, 2);
      break;
    case POOL_AVG_GRAD:
      if (!expect_dims(c, 1, od)) return;
      g = deft_kernel_input(c, 1);
      break;
    default: break;
  }
  deft_dtype dt = deft_kernel_output_dtype(c, 0);
  if ((x && x->dtype != dt) || (g && g->dtype != dt)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "inputs must have dtype %s", deft_dtype_name(dt));
    return;
  }
  bool to_input_shape = pp->kind == POOL_MAX_GRAD || pp->kind == POOL_AVG_GRAD;
  deft_tensor *y = deft_kernel_output(c, 0, dt, to_input_shape ? in : od, 4);
  if (!y || y->n == 0) return;
  pool_job j = {&m, pp->kind, x ? x->buf->data : NULL, g ? g->buf->data : NULL, y->buf->data};
  bool fwd = pp->kind == POOL_MAX || pp->kind == POOL_AVG;
  int64_t units = fwd ? m.n * m.oh : m.n;
  int64_t per_unit = fwd ? m.ow * m.c * m.kh * m.kw : m.oh * m.ow * m.c * m.kh * m.kw;
  int64_t grain = per_unit > 0 ? POOL_GRAIN / per_unit + 1 : units + 1;
  void (*fn)(void *, int64_t, int64_t) = fwd ? (dt == DEFT_FLOAT ? pool_fwd_f32 : pool_fwd_f64)
                                             : (dt == DEFT_FLOAT ? pool_bwd_f32 : pool_bwd_f64);
  deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), units, grain, fn, &j);
}

/* ---- public constructors ---- */

static deft_output none_output(void) {
  deft_output o = {NULL, 0};
  return o;
}

/* Builds a pooling op of `type` from n inputs, with the window attrs unless the op is a V2. */
static deft_output build_pool(deft_graph *g, const char *type, const deft_output *in, int n,
                              const int64_t *ksize, const int64_t *strides, const char *padding,
                              const char *data_format, const char *name) {
  if (!deft_inputs_ok(g, type, in, n)) return none_output();
  if (!padding || !data_format) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: padding and data_format must be given", type);
    return none_output();
  }
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  if (ksize) deft_op_builder_set_attr_int_list(b, "ksize", ksize, 4);
  if (strides) deft_op_builder_set_attr_int_list(b, "strides", strides, 4);
  deft_op_builder_set_attr_string(b, "padding", padding, strlen(padding));
  deft_op_builder_set_attr_string(b, "data_format", data_format, strlen(data_format));
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none_output();
  deft_output o = {op, 0};
  return o;
}

deft_output deft_max_pool(deft_graph *g, deft_output x, const int64_t ksize[4],
                          const int64_t strides[4], const char *padding, const char *data_format,
                          const char *name) {
  return build_pool(g, "MaxPool", &x, 1, ksize, strides, padding, data_format, name);
}

deft_output deft_avg_pool(deft_graph *g, deft_output x, const int64_t ksize[4],
                          const int64_t strides[4], const char *padding, const char *data_format,
                          const char *name) {
  return build_pool(g, "AvgPool", &x, 1, ksize, strides, padding, data_format, name);
}

deft_output deft_max_pool_v2(deft_graph *g, deft_output x, deft_output ksize, deft_output strides,
                             const char *padding, const char *data_format, const char *name) {
  deft_output in[3] = {x, ksize, strides};
  return build_pool(g, "MaxPoolV2", in, 3, NULL, NULL, padding, data_format, name);
}

deft_output deft_max_pool_grad(deft_graph *g, deft_output orig_input, deft_output orig_output,
                               deft_output grad, const int64_t ksize[4], const int64_t strides[4],
                               const char *padding, const char *data_format, const char *name) {
  deft_output in[3] = {orig_input, orig_output, grad};
  return build_pool(g, "MaxPoolGrad", in, 3, ksize, strides, padding, data_format, name);
}

deft_output deft_max_pool_grad_grad(deft_graph *g, deft_output orig_input,
                                    deft_output orig_output, deft_output grad,
                                    const int64_t ksize[4], const int64_t strides[4],
                                    const char *padding, const char *data_format,
                                    const char *name) {
  deft_output in[3] = {orig_input, orig_output, grad};
  return build_pool(g, "MaxPoolGradGrad", in, 3, ksize, strides, padding, data_format, name);
}

deft_output deft_avg_pool_grad(deft_graph *g, deft_output orig_input_shape, deft_output grad,
                               const int64_t ksize[4], const int64_t strides[4],
                               const char *padding, const char *data_format, const char *name) {
  deft_output in[2] = {orig_input_shape, grad};
  return build_pool(g, "AvgPoolGrad", in, 2, ksize, strides, padding, data_format, name);
}

/* ---- gradients (TF 1.x nn_grad.py) ---- */

/* The forward op's window attrs and formats, to pass on to its gradient ops. */
typedef struct pool_attrs {
  const int64_t *k, *s;
  const char *padding, *fmt;
} pool_attrs;

static pool_attrs attrs_of(const deft_op *op) {
  pool_attrs a = {NULL, NULL, "VALID", "NHWC"};
  int n;
  deft_op_attr_int_list(op, "ksize", &a.k, &n);
  deft_op_attr_int_list(op, "strides", &a.s, &n);
  deft_op_attr_string(op, "padding", &a.padding, NULL);
  deft_op_attr_string(op, "data_format", &a.fmt, NULL);
  return a;
}

/* MaxPool: MaxPoolGrad(x, y, grad). */
static void max_pool_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  pool_attrs a = attrs_of(op);
  dx[0] = deft_max_pool_grad(g, deft_op_input(op, 0), deft_op_output(op, 0), grads[0], a.k, a.s,
                             a.padding, a.fmt, NULL);
}

/* MaxPoolV2: MaxPoolGradV2(x, y, grad, ksize, strides); the window inputs get none. */
static void max_pool_v2_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                                deft_output *dx) {
  pool_attrs a = attrs_of(op);
  deft_output in[5] = {deft_op_input(op, 0), deft_op_output(op, 0), grads[0],
                       deft_op_input(op, 1), deft_op_input(op, 2)};
  dx[0] = build_pool(g, "MaxPoolGradV2", in, 5, NULL, NULL, a.padding, a.fmt, NULL);
}

/* MaxPoolGrad: d/dgrad = MaxPoolGradGrad(orig_input, orig_output, grad); the result is piecewise
 * constant in orig_input and does not depend on orig_output's values, so those get zeros (TF
 * builds them as zeros; deft leaves them as "no gradient", which sums the same). */
static void max_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  pool_attrs a = attrs_of(op);
  if (deft_op_num_inputs(op) == 5) {
    deft_output in[5] = {deft_op_input(op, 0), deft_op_input(op, 1), grads[0],
                         deft_op_input(op, 3), deft_op_input(op, 4)};
    dx[2] = build_pool(g, "MaxPoolGradGradV2", in, 5, NULL, NULL, a.padding, a.fmt, NULL);
    return;
  }
  dx[2] = deft_max_pool_grad_grad(g, deft_op_input(op, 0), deft_op_input(op, 1), grads[0], a.k,
                                  a.s, a.padding, a.fmt, NULL);
}

/* MaxPoolGradGrad: d/dgrad = MaxPoolGrad(orig_input, orig_output, grad). */
static void max_gg_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  pool_attrs a = attrs_of(op);
  if (deft_op_num_inputs(op) == 5) {
    deft_output in[5] = {deft_op_input(op, 0), deft_op_input(op, 1), grads[0],
                         deft_op_input(op, 3), deft_op_input(op, 4)};
    dx[2] = build_pool(g, "MaxPoolGradV2", in, 5, NULL, NULL, a.padding, a.fmt, NULL);
    return;
  }
  dx[2] = deft_max_pool_grad(g, deft_op_input(op, 0), deft_op_input(op, 1), grads[0], a.k, a.s,
                             a.padding, a.fmt, NULL);
}

/* AvgPool: AvgPoolGrad(Shape(x), grad). */
static void avg_pool_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  pool_attrs a = attrs_of(op);
  deft_output shp = deft_shape_of(g, deft_op_input(op, 0), "Shape");
  dx[0] = deft_avg_pool_grad(g, shp, grads[0], a.k, a.s, a.padding, a.fmt, NULL);
}

/* AvgPoolGrad: d/dgrad = AvgPool(grad) (TF stops the gradient at the shape input). */
static void avg_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  pool_attrs a = attrs_of(op);
  dx[1] = deft_avg_pool(g, grads[0], a.k, a.s, a.padding, a.fmt, NULL);
}

#define POOL_TYPES "{half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16}"
#define POOL_ATTRS \
  "ksize: list(int) >= 4, strides: list(int) >= 4, padding: {'SAME', 'VALID'}, "
#define FORMATS "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"
#define FORMATS2 "data_format: {'NHWC', 'NCHW'} = 'NHWC'"

static const deft_op_def pool_defs[] = {
    {.type = "MaxPool", .inputs = "input: T", .outputs = "output: T",
     .attrs = "T: " POOL_TYPES " = DT_FLOAT, " POOL_ATTRS FORMATS, .shape = max_pool_shape,
     .prepare = max_pool_prepare, .kernel = pool_kernel, .grad = max_pool_grad_fn},
    {.type = "MaxPoolV2", .inputs = "input: T, ksize: int32, strides: int32",
     .outputs = "output: T",
     .attrs = "T: " POOL_TYPES " = DT_FLOAT, padding: {'SAME', 'VALID'}, " FORMATS,
     .shape = max_pool_v2_shape, .prepare = max_pool_v2_prepare, .kernel = pool_kernel,
     .grad = max_pool_v2_grad_fn},
    {.type = "AvgPool", .inputs = "value: T", .outputs = "output: T",
     .attrs = POOL_ATTRS FORMATS2 ", T: {half, bfloat16, float, double}",
     .shape = avg_pool_shape, .prepare = avg_pool_prepare, .kernel = pool_kernel,
     .grad = avg_pool_grad_fn},
    {.type = "MaxPoolGrad", .inputs = "orig_input: T, orig_output: T, grad: T",
     .outputs = "output: T",
     .attrs = POOL_ATTRS FORMATS2 ", T: realnumbertype = DT_FLOAT", .shape = max_grad_shape,
     .prepare = max_grad_prepare, .kernel = pool_kernel, .grad = max_grad_grad_fn},
    {.type = "MaxPoolGradV2",
     .inputs = "orig_input: T, orig_output: T, grad: T, ksize: int32, strides: int32",
     .outputs = "output: T",
     .attrs = "padding: {'SAME', 'VALID'}, " FORMATS2 ", T: realnumbertype = DT_FLOAT",
     .shape = max_grad_v2_shape, .prepare = max_grad_v2_prepare, .kernel = pool_kernel,
     .grad = max_grad_grad_fn},
    {.type = "MaxPoolGradGrad", .inputs = "orig_input: T, orig_output: T, grad: T",
     .outputs = "output: T", .attrs = POOL_ATTRS FORMATS2 ", T: realnumbertype",
     .shape = max_gg_shape, .prepare = max_gg_prepare, .kernel = pool_kernel,
     .grad = max_gg_grad_fn},
    {.type = "MaxPoolGradGradV2",
     .inputs = "orig_input: T, orig_output: T, grad: T, ksize: int32, strides: int32",
     .outputs = "output: T",
     .attrs = "padding: {'SAME', 'VALID'}, " FORMATS2 ", T: realnumbertype",
     .shape = max_gg_v2_shape, .prepare = max_gg_v2_prepare, .kernel = pool_kernel,
     .grad = max_gg_grad_fn},
    {.type = "AvgPoolGrad", .inputs = "orig_input_shape: int32, grad: T", .outputs = "output: T",
     .attrs = POOL_ATTRS FORMATS2 ", T: {half, bfloat16, float, double}",
     .shape = avg_grad_shape, .prepare = avg_grad_prepare, .kernel = pool_kernel,
     .grad = avg_grad_grad_fn},
};

DEFT_FAMILY(deft_ops_pool, pool_defs);
