/* graph/conv_layers.c - the convolution layers of deft/conv.h: tf.layers.conv2d,
 * tf.layers.separable_conv2d and a depthwise layer (Keras' DepthwiseConv2D), with TF's
 * variable and node names. Built on the public op constructors. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "deft/conv.h"
#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"

static const deft_output NONE = {NULL, 0};

/* Checks the layer's input and options; fills the op options (padding upper-cased into pad). */
static bool layer_setup(deft_graph *g, const char *lname, deft_output x,
                        const int64_t kernel_size[2], const deft_conv2d_options *o,
                        deft_conv_options *co, char pad[8]) {
  if (!deft_inputs_ok(g, lname, &x, 1)) return false;
  deft_shape s = deft_output_shape(x);
  char sh[128];
  if (s.rank != 4 || s.dims[3] < 0) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s: the input '%s:%d' has shape %s; it must be 4-D NHWC with a known "
                    "channel count", lname, x.op->name, x.index,
                    deft_shape_format(s, sh, sizeof sh));
    return false;
  }
  if (!kernel_size || kernel_size[0] < 1 || kernel_size[1] < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: kernel_size must be >= 1 in both dimensions",
                    lname);
    return false;
  }
  const char *p = o->padding ? o->padding : "valid";
  size_t n = strlen(p);
  for (size_t i = 0; i < n && i < 7; i++) pad[i] = (char)toupper((unsigned char)p[i]);
  pad[n < 7 ? n : 7] = 0;
  if (n > 5 || (strcmp(pad, "SAME") && strcmp(pad, "VALID"))) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: unknown padding '%s' (same or valid)", lname,
                    p);
    return false;
  }
  for (int k = 0; k < 2; k++)
    if (o->strides[k] < 0 || o->dilation_rate[k] < 0) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: strides and dilation_rate must be >= 1",
                      lname);
      return false;
    }
  memset(co, 0, sizeof *co);
  co->strides[0] = o->strides[0];
  co->strides[1] = o->strides[1];
  co->dilations[0] = o->dilation_rate[0];
  co->dilations[1] = o->dilation_rate[1];
  co->padding = pad;
  return true;
}

static deft_op *kernel_var(deft_graph *g, const char *name, deft_dtype dt, deft_shape shape,
                           const deft_conv2d_options *o) {
  return deft_get_variable(g, name, dt, shape, o->kernel_initializer, !o->not_trainable);
}

/* BiasAdd with "<scope>/bias" [channels] unless no_bias, then the activation. */
static deft_output bias_and_activation(deft_graph *g, deft_output y, int64_t channels,
                                       deft_dtype dt, const deft_conv2d_options *o) {
  if (!o->no_bias) {
    deft_initializer bi = o->bias_initializer;
    if (bi.kind == DEFT_INIT_DEFAULT) bi = deft_init_zeros();
    deft_op *bias = deft_get_variable(g, "bias", dt, DEFT_SHAPE(channels), bi, !o->not_trainable);
    if (!bias) return NONE;
    y = deft_bias_add(g, y, deft_variable_value(bias), "BiasAdd");
  }
  return deft_activation(g, y, o->activation, o->leaky_alpha, NULL);
}

deft_output deft_conv2d(deft_graph *g, deft_output x, int64_t filters,
                        const int64_t kernel_size[2], const deft_conv2d_options *o,
                        const char *name) {
  deft_conv2d_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!o) o = &defaults;
  const char *lname = name ? name : "conv2d";
  deft_conv_options co;
  char pad[8];
  if (!layer_setup(g, lname, x, kernel_size, o, &co, pad)) return NONE;
  if (filters < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: filters must be >= 1, got %lld", lname,
                    (long long)filters);
    return NONE;
  }
  if (!deft_graph_push_variable_scope(g, name, "conv2d")) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  int64_t c = deft_output_shape(x).dims[3];
  deft_op *kernel =
      kernel_var(g, "kernel", dt, DEFT_SHAPE(kernel_size[0], kernel_size[1], c, filters), o);
  deft_output y = NONE;
  if (kernel) {
    y = deft_conv2d_op(g, x, deft_variable_value(kernel), &co, "convolution");
    y = bias_and_activation(g, y, filters, dt, o);
  }
  deft_graph_pop_variable_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}

deft_output deft_depthwise_conv2d(deft_graph *g, deft_output x, const int64_t kernel_size[2],
                                  int64_t depth_multiplier, const deft_conv2d_options *o,
                                  const char *name) {
  deft_conv2d_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!o) o = &defaults;
  const char *lname = name ? name : "depthwise_conv2d";
  deft_conv_options co;
  char pad[8];
  if (!layer_setup(g, lname, x, kernel_size, o, &co, pad)) return NONE;
  if (depth_multiplier < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: depth_multiplier must be >= 1, got %lld",
                    lname, (long long)depth_multiplier);
    return NONE;
  }
  if (!deft_graph_push_variable_scope(g, name, "depthwise_conv2d")) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  int64_t c = deft_output_shape(x).dims[3];
  deft_op *dk = kernel_var(g, "depthwise_kernel", dt,
                           DEFT_SHAPE(kernel_size[0], kernel_size[1], c, depth_multiplier), o);
  deft_output y = NONE;
  if (dk) {
    y = deft_depthwise_conv2d_native(g, x, deft_variable_value(dk), &co, "depthwise");
    y = bias_and_activation(g, y, c * depth_multiplier, dt, o);
  }
  deft_graph_pop_variable_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}

deft_output deft_separable_conv2d(deft_graph *g, deft_output x, int64_t filters,
                                  const int64_t kernel_size[2], int64_t depth_multiplier,
                                  const deft_conv2d_options *o, const char *name) {
  deft_conv2d_options defaults;
  memset(&defaults, 0, sizeof defaults);
  if (!o) o = &defaults;
  const char *lname = name ? name : "separable_conv2d";
  deft_conv_options co;
  char pad[8];
  if (!layer_setup(g, lname, x, kernel_size, o, &co, pad)) return NONE;
  if (filters < 1 || depth_multiplier < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s: filters and depth_multiplier must be >= 1, got %lld and %lld", lname,
                    (long long)filters, (long long)depth_multiplier);
    return NONE;
  }
  if (!deft_graph_push_variable_scope(g, name, "separable_conv2d")) return NONE;
  deft_dtype dt = deft_output_dtype(x);
  int64_t c = deft_output_shape(x).dims[3];
  deft_op *dk = kernel_var(g, "depthwise_kernel", dt,
                           DEFT_SHAPE(kernel_size[0], kernel_size[1], c, depth_multiplier), o);
  deft_op *pk =
      kernel_var(g, "pointwise_kernel", dt, DEFT_SHAPE(1, 1, c * depth_multiplier, filters), o);
  deft_output y = NONE;
  /* tf.nn.separable_conv2d: name scope "separable_conv2d" holds "depthwise"; the pointwise
   * Conv2D takes the scope's own name. */
  if (dk && pk && deft_graph_push_scope(g, "separable_conv2d")) {
    char full[1024];
    snprintf(full, sizeof full, "%s", deft_graph_scope(g));
    deft_output dw = deft_depthwise_conv2d_native(g, x, deft_variable_value(dk), &co, "depthwise");
    deft_graph_pop_scope(g);
    if (dw.op) {
      static const int64_t ones[4] = {1, 1, 1, 1};
      deft_op_builder *b = deft_op_builder_new(g, "Conv2D", NULL);
      deft_op_builder_set_exact_name(b, full);
      deft_op_builder_add_input(b, dw);
      deft_op_builder_add_input(b, deft_variable_value(pk));
      deft_op_builder_set_attr_int_list(b, "strides", ones, 4);
      deft_op_builder_set_attr_int_list(b, "dilations", ones, 4);
      deft_op_builder_set_attr_string(b, "padding", "VALID", 5);
      deft_op_builder_set_attr_string(b, "data_format", "NHWC", 4);
      deft_op *conv = deft_op_builder_finish(b);
      if (conv) y = bias_and_activation(g, deft_op_output(conv, 0), filters, dt, o);
    }
  }
  deft_graph_pop_variable_scope(g);
  return deft_graph_ok(g) ? y : NONE;
}
