/* SPDX-License-Identifier: Apache-2.0 */
/* ops/conv_internal.h - what the convolution family's files share: the attrs every Conv2D-like
 * op carries (strides, padding, explicit_paddings, dilations, data_format), parsed and checked
 * once; the geometry of one convolution (TF's output-size and padding rules); and the kernels'
 * entry points.
 *
 * Files: ops/conv_ops.c (Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter: definitions, shape
 * functions, prepare, kernels' checks, gradients, constructors), ops/conv_kernels.c (their
 * float32 GEMM-based loops and the float64 direct loops), ops/depthwise_ops.c (the
 * DepthwiseConv2dNative family) and ops/depthwise_kernels.c (its vectorized loops, with an
 * explicit AVX2 / AVX-512 dispatch). Internal to the library. */
#ifndef DEFT_OPS_CONV_INTERNAL_H
#define DEFT_OPS_CONV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/fused_kernels.h"
#include "ops/op_def.h"

typedef enum conv_padding { CONV_SAME = 0, CONV_VALID, CONV_EXPLICIT } conv_padding;

/* A Conv2D-like op's attrs, in NHWC terms (index 0 = height, 1 = width). */
typedef struct conv_attrs {
  int64_t stride[2], dilation[2];
  conv_padding padding;
  int64_t pad_before[2], pad_after[2]; /* EXPLICIT only */
  bool nchw;
} conv_attrs;

/* Parses and checks op's attrs. On failure writes a message (without the op's name) to err and
 * returns false. data_format NCHW is parsed (a->nchw) but not refused here. */
bool deft_conv_parse_attrs(const deft_op *op, conv_attrs *a, char *err, size_t errsize);

/* The geometry of one convolution, NHWC. For Conv2D `oc` is the filter's output channels and
 * `mult` 1; for the depthwise ops `mult` is the channel multiplier and oc = c * mult. */
typedef struct conv_geom {
  int64_t n, h, w, c;  /* input */
  int64_t kh, kw;      /* filter window */
  int64_t mult, oc;    /* channel multiplier (depthwise), output channels */
  int64_t oh, ow;      /* output */
  int64_t pt, pl;      /* padding before (top, left); the rest comes after */
  int64_t sh, sw, dh, dw;
} conv_geom;

/* The input pixel (*iy, *ix) that window tap `tap` (ky * kw + kx) of output pixel (oy, ox)
 * reads; false when it falls in the padding. */
static inline bool deft_conv_tap(const conv_geom *g, int64_t oy, int64_t ox, int64_t tap,
                                 int64_t *iy, int64_t *ix) {
  *iy = oy * g->sh - g->pt + tap / g->kw * g->dh;
  *ix = ox * g->sw - g->pl + tap % g->kw * g->dw;
  return *iy >= 0 && *iy < g->h && *ix >= 0 && *ix < g->w;
}

/* One spatial dimension: input size `in`, window k, stride s, dilation d, under a's padding
 * (axis 0 = height, 1 = width). Sets *out and *pad_before; false with err set when the window
 * does not fit or sizes overflow. */
bool deft_conv_out_size(const conv_attrs *a, int axis, int64_t in, int64_t k, int64_t *out,
                        int64_t *pad_before, char *err, size_t errsize);

/* Fills g from an NHWC input shape [n,h,w,c] and a filter [kh,kw,ci,m] under a. depthwise: m is
 * the channel multiplier; otherwise the output channels. Checks ci == c, sizes and overflow
 * (the output and the GEMM's dims must fit int32 / int64 element counts). false with err set. */
bool deft_conv_geometry(const conv_attrs *a, const int64_t *in, const int64_t *filter,
                        bool depthwise, conv_geom *g, char *err, size_t errsize);

/* Instruction sets of the depthwise loops and the direct Conv2D forward (defined in
 * ops/depthwise_kernels.c). */
typedef enum conv_isa { CONV_ISA_GENERIC = 0, CONV_ISA_AVX2 = 1, CONV_ISA_AVX512 = 2 } conv_isa;
/* The best the CPU runs, capped by deft_conv_force_isa's setting on the calling thread. */
conv_isa deft_conv_isa(void);
/* Tests: caps the instruction set plans prepared on the calling thread choose (a per-thread
 * setting; CONV_ISA_AVX512 = no cap). */
void deft_conv_force_isa(conv_isa max);
const char *deft_conv_isa_name(conv_isa isa);

/* ---- kernels (ops/conv_kernels.c): x [n,h,w,c], f [kh,kw,c,oc], y [n,oh,ow,oc] ---- */

/* Scratch bytes the float32 kernels need with `threads` threads (0 for none). */
size_t deft_conv_f32_scratch(const conv_geom *g, int which, int threads);
enum { CONV_FWD = 0, CONV_BWD_INPUT = 1, CONV_BWD_FILTER = 2 };

/* y = conv(x, f); dx = conv_backprop_input(f, dy); df = conv_backprop_filter(x, dy). scratch
 * holds deft_conv_f32_scratch bytes. Split over pool's threads. The forward applies ep (NULL:
 * none; a fused step's per-channel ops, ops/fused_kernels.h) to each block of output rows right
 * after computing it; its direct loops (few input channels) use instruction set isa (chosen at
 * prepare time by deft_conv_isa, as for the depthwise kernels). */
void deft_conv_f32_fwd(conv_isa isa, const conv_geom *g, const float *x, const float *f,
                       float *y, void *scratch, deft_threadpool *pool, int threads,
                       const deft_epilogue *ep);
void deft_conv_f32_bwd_input(const conv_geom *g, const float *f, const float *dy, float *dx,
                             void *scratch, deft_threadpool *pool, int threads);
void deft_conv_f32_bwd_filter(const conv_geom *g, const float *x, const float *dy, float *df,
                              void *scratch, deft_threadpool *pool, int threads);
/* The float64 direct loops (one thread; every sum in double, in window order). */
void deft_conv_f64_fwd(const conv_geom *g, const double *x, const double *f, double *y);
void deft_conv_f64_bwd_input(const conv_geom *g, const double *f, const double *dy, double *dx);
void deft_conv_f64_bwd_filter(const conv_geom *g, const double *x, const double *dy, double *df);

/* ---- depthwise kernels (ops/depthwise_kernels.c): f [kh,kw,c,mult], y [n,oh,ow,c*mult] ---- */

size_t deft_depthwise_f32_scratch(const conv_geom *g, int which, int threads);
/* The forward applies ep (NULL: none) to each block of output rows right after computing it. */
void deft_depthwise_f32_fwd(conv_isa isa, const conv_geom *g, const float *x, const float *f,
                            float *y, deft_threadpool *pool, int threads,
                            const deft_epilogue *ep);
void deft_depthwise_f32_bwd_input(conv_isa isa, const conv_geom *g, const float *f,
                                  const float *dy, float *dx, deft_threadpool *pool, int threads);
void deft_depthwise_f32_bwd_filter(conv_isa isa, const conv_geom *g, const float *x,
                                   const float *dy, float *df, void *scratch,
                                   deft_threadpool *pool, int threads);
void deft_depthwise_f64_fwd(const conv_geom *g, const double *x, const double *f, double *y);
void deft_depthwise_f64_bwd_input(const conv_geom *g, const double *f, const double *dy,
                                  double *dx);
void deft_depthwise_f64_bwd_filter(const conv_geom *g, const double *x, const double *dy,
                                   double *df);

/* ---- shared by the two op files (ops/conv_ops.c) ---- */

/* A Conv2D-like op's prepare block: its attrs and the chosen instruction set. `ep` is NULL but
 * while a fused step (runtime/plan_fuse.c) runs the forward kernel: then the float32 forward
 * applies it to its output (the step's per-channel ops and activation). */
typedef struct conv_params {
  conv_attrs a;
  conv_isa isa;
  const deft_epilogue *ep;
} conv_params;

/* Prepare for every op of both families: parses attrs (a failure fails the plan naming the
 * node), refuses NCHW (UNIMPLEMENTED) and dtypes without a kernel. */
void deft_conv_prepare(deft_prepare_ctx *p);

/* Shape functions. kind: CONV_FWD / CONV_BWD_INPUT / CONV_BWD_FILTER. */
void deft_conv_shape(deft_shape_ctx *c, int kind, bool depthwise);

/* Run-time geometry of a kernel call: reads the input shapes (and the sizes vector of the
 * backprop ops), checks them, and fills g and the result's dims. false after failing c. */
bool deft_conv_kernel_geometry(deft_kernel_ctx *c, int kind, bool depthwise, conv_geom *g,
                               int64_t *out_dims);

/* Builds a Conv2D-like op of `type` from inputs, copying the conv attrs of `like` (gradients), or
 * from explicit attrs when like is NULL. */
deft_output deft_conv_build(deft_graph *g, const char *type, const deft_output *in,
                            const deft_op *like, const int64_t *strides4,
                            const int64_t *dilations4, const char *padding,
                            const int64_t *explicit8, const char *data_format, const char *name);

#endif
