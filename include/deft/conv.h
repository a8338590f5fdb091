/* deft/conv.h - convolutions: the op constructors (tf.nn.conv2d, tf.nn.depthwise_conv2d_native
 * and their backprop ops, TF's op types and attrs) and the layers (tf.layers.conv2d,
 * tf.layers.separable_conv2d, a depthwise convolution layer) with TF's variable and node names.
 * Conventions as in deft/graph.h: names are relative to the current scope (NULL = TF's default),
 * failures are the graph's sticky error and return an invalid output.
 *
 * Layouts are TF's: input NHWC [batch, height, width, channels]; Conv2D filters HWIO
 * [kh, kw, in, out]; depthwise filters [kh, kw, in, multiplier], output channel c * multiplier
 * + k. Geometry is TF's: VALID gives ceil((in - (k-1)*dilation) / stride) outputs, SAME gives
 * ceil(in / stride) with the odd padding row/column at the bottom/right. Shapes are checked at
 * build time where known, at run time otherwise; messages name the node.
 *
 * Thread safety: these build the graph (deft/graph.h's rule: one building thread per graph). */
#ifndef DEFT_CONV_H
#define DEFT_CONV_H

#include "deft/graph.h"
#include "deft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The attrs of a convolution op. A zeroed struct (or NULL) means stride 1, dilation 1, SAME,
 * NHWC. */
typedef struct deft_conv_options {
  int64_t strides[2];   /* {height, width}; 0 means 1 */
  int64_t dilations[2]; /* {height, width}; 0 means 1 */
  const char *padding;  /* "SAME" (NULL), "VALID" or "EXPLICIT" */
  int64_t explicit_paddings[4]; /* EXPLICIT only: {top, bottom, left, right} */
  /* NULL = "NHWC". "NCHW" builds (and imports) with correct shapes, but like TF's CPU kernels
   * deft runs only NHWC: planning an NCHW convolution fails with UNIMPLEMENTED naming it. */
  const char *data_format;
} deft_conv_options;

/* Conv2D (tf.nn.conv2d; `_op` since deft_conv2d is the layer): input [n,h,w,c] and filter
 * [kh,kw,c,out] (float or double) give [n,oh,ow,out]. An attr out of range (a stride or
 * dilation < 1, an unknown padding or data_format, a batch/depth stride) is a build error. */
DEFT_API deft_output deft_conv2d_op(deft_graph *g, deft_output input, deft_output filter,
                                    const deft_conv_options *o, const char *name);

/* Conv2DBackpropInput: the gradient of Conv2D with respect to its input, whose shape is the
 * int32 vector input_sizes [4]; out_backprop has the convolution's output shape. */
DEFT_API deft_output deft_conv2d_backprop_input(deft_graph *g, deft_output input_sizes,
                                                deft_output filter, deft_output out_backprop,
                                                const deft_conv_options *o, const char *name);

/* Conv2DBackpropFilter: the gradient with respect to the filter (shape: int32 filter_sizes). */
DEFT_API deft_output deft_conv2d_backprop_filter(deft_graph *g, deft_output input,
                                                 deft_output filter_sizes,
                                                 deft_output out_backprop,
                                                 const deft_conv_options *o, const char *name);

/* DepthwiseConv2dNative: input [n,h,w,c], filter [kh,kw,c,mult] give [n,oh,ow,c*mult]. */
DEFT_API deft_output deft_depthwise_conv2d_native(deft_graph *g, deft_output input,
                                                  deft_output filter,
                                                  const deft_conv_options *o, const char *name);
/* DepthwiseConv2dNativeBackpropInput / BackpropFilter, as the Conv2D ones. */
DEFT_API deft_output deft_depthwise_conv2d_native_backprop_input(
    deft_graph *g, deft_output input_sizes, deft_output filter, deft_output out_backprop,
    const deft_conv_options *o, const char *name);
DEFT_API deft_output deft_depthwise_conv2d_native_backprop_filter(
    deft_graph *g, deft_output input, deft_output filter_sizes, deft_output out_backprop,
    const deft_conv_options *o, const char *name);

/* ---- layers ---- */

/* Options of the convolution layers. A zeroed struct (or NULL) gives tf.layers' defaults
 * (strides 1, padding "valid", dilation 1, no activation, a bias, Glorot-uniform kernels, zero
 * biases). */
typedef struct deft_conv2d_options {
  int64_t strides[2];       /* 0 means 1 */
  const char *padding;      /* "valid" (NULL) or "same", either case */
  int64_t dilation_rate[2]; /* 0 means 1 */
  /* A name deft_activation knows ("relu", "elu", ...), or NULL / "" / "linear" for none. */
  const char *activation;
  float leaky_alpha;
  bool no_bias;
  bool not_trainable;
  deft_initializer kernel_initializer; /* DEFAULT = Glorot uniform (each kernel of a layer) */
  deft_initializer bias_initializer;   /* DEFAULT = zeros */
} deft_conv2d_options;

/* tf.layers.conv2d: variables "<name>/kernel" [kh, kw, c, filters] and "<name>/bias" [filters];
 * ops "<name>/convolution" (Conv2D, named as TF 1.3's layer names it), "<name>/BiasAdd",
 * "<name>/<Activation>". name NULL means "conv2d" (then "conv2d_1", ...). x must be 4-D NHWC with
 * a known channel count; filters and kernel_size >= 1. */
DEFT_API deft_output deft_conv2d(deft_graph *g, deft_output x, int64_t filters,
                                 const int64_t kernel_size[2], const deft_conv2d_options *o,
                                 const char *name);

/* tf.layers.separable_conv2d: a depthwise convolution (depth_multiplier channels per input
 * channel) then a 1x1 convolution to `filters` channels. Variables "<name>/depthwise_kernel"
 * [kh, kw, c, depth_multiplier], "<name>/pointwise_kernel" [1, 1, c*depth_multiplier, filters],
 * "<name>/bias"; ops "<name>/separable_conv2d/depthwise" (DepthwiseConv2dNative),
 * "<name>/separable_conv2d" (Conv2D), "<name>/BiasAdd". name NULL means "separable_conv2d". */
DEFT_API deft_output deft_separable_conv2d(deft_graph *g, deft_output x, int64_t filters,
                                           const int64_t kernel_size[2],
                                           int64_t depth_multiplier,
                                           const deft_conv2d_options *o, const char *name);

/* A depthwise convolution layer (Keras' DepthwiseConv2D): variables
 * "<name>/depthwise_kernel" [kh, kw, c, depth_multiplier] and "<name>/bias" [c *
 * depth_multiplier]; ops "<name>/depthwise" (DepthwiseConv2dNative), "<name>/BiasAdd". name NULL
 * means "depthwise_conv2d". */
DEFT_API deft_output deft_depthwise_conv2d(deft_graph *g, deft_output x,
                                           const int64_t kernel_size[2],
                                           int64_t depth_multiplier,
                                           const deft_conv2d_options *o, const char *name);

#ifdef __cplusplus
}
#endif
#endif
