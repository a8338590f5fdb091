/* tests/grad_cases_conv.c - finite-difference gradient cases for the convolution family
 * (checked by tests/test_gradients.c and again by tests/test_conv_ops.c): Conv2D and
 * DepthwiseConv2dNative under SAME (symmetric and asymmetric), VALID, EXPLICIT padding, strides
 * and dilations, and their backprop ops as ops of their own (second order). Every op here is
 * linear in each input, so central differences are exact up to rounding. */
#include <string.h>

#include "deft/conv.h"
#include "deft/ops.h"
#include "grad_check.h"

TU_GRAD_CASES(conv);

static deft_conv_options opts(int64_t sh, int64_t sw, int64_t dh, int64_t dw, const char *pad) {
  deft_conv_options o;
  memset(&o, 0, sizeof o);
  o.strides[0] = sh;
  o.strides[1] = sw;
  o.dilations[0] = dh;
  o.dilations[1] = dw;
  o.padding = pad;
  return o;
}

static deft_output sizes(deft_graph *g, int32_t a, int32_t b, int32_t c, int32_t d) {
  const int32_t v[4] = {a, b, c, d};
  return deft_const_int32_vector(g, v, 4, "sizes");
}

/* Conv2D: x [2,5,6,3], f [3,3,3,4] unless noted. */
static deft_output c_same(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 1, 1, 1, "SAME");
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
static deft_output c_same_s2(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME"); /* asymmetric: pad 0 before, 1 after */
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
static deft_output c_valid_s21(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 1, 1, 1, "VALID");
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
static deft_output c_dilated(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 1, 2, 1, "SAME");
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
static deft_output c_explicit(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 2, 1, 1, "EXPLICIT");
  const int64_t p[4] = {1, 0, 2, 1};
  memcpy(o.explicit_paddings, p, sizeof p);
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
static deft_output c_pointwise(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 1, 1, 1, "VALID");
  return deft_conv2d_op(g, x[0], x[1], &o, NULL);
}
/* Backprop ops: x[0] the filter or input, x[1] out_backprop of the SAME stride-2 conv. */
static deft_output c_bi(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME");
  return deft_conv2d_backprop_input(g, sizes(g, 2, 5, 6, 3), x[0], x[1], &o, NULL);
}
static deft_output c_bf(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME");
  return deft_conv2d_backprop_filter(g, x[0], sizes(g, 3, 3, 3, 4), x[1], &o, NULL);
}

/* Depthwise: x [2,5,6,3], f [3,3,3,2] (multiplier 2) or [3,2,3,1]. */
static deft_output d_same(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 1, 1, 1, "SAME");
  return deft_depthwise_conv2d_native(g, x[0], x[1], &o, NULL);
}
static deft_output d_s2_valid(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "VALID");
  return deft_depthwise_conv2d_native(g, x[0], x[1], &o, NULL);
}
static deft_output d_same_s2(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME");
  return deft_depthwise_conv2d_native(g, x[0], x[1], &o, NULL);
}
static deft_output d_dilated(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(1, 1, 1, 2, "SAME");
  return deft_depthwise_conv2d_native(g, x[0], x[1], &o, NULL);
}
static deft_output d_bi(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME");
  return deft_depthwise_conv2d_native_backprop_input(g, sizes(g, 2, 5, 6, 3), x[0], x[1], &o,
                                                     NULL);
}
static deft_output d_bf(deft_graph *g, const deft_output *x) {
  deft_conv_options o = opts(2, 2, 1, 1, "SAME");
  return deft_depthwise_conv2d_native_backprop_filter(g, x[0], sizes(g, 3, 3, 3, 2), x[1], &o,
                                                      NULL);
}

#define S(...) \
  { DEFT_SHAPE_NARGS_(__VA_ARGS__), { __VA_ARGS__ } }

const tu_grad_case tu_grad_cases_conv[] = {
    {"Conv2D", "SAME stride 1 [2,5,6,3] * [3,3,3,4]", 2, {S(2, 5, 6, 3), S(3, 3, 3, 4)}, c_same,
     0, 0},
    {"Conv2D", "SAME stride 2 (pad after)", 2, {S(2, 5, 6, 3), S(3, 3, 3, 4)}, c_same_s2, 0, 0},
    {"Conv2D", "VALID strides 2x1, 2x3 window", 2, {S(2, 5, 6, 3), S(2, 3, 3, 4)}, c_valid_s21,
     0, 0},
    {"Conv2D", "SAME dilation 2x1", 2, {S(1, 5, 6, 2), S(3, 2, 2, 3)}, c_dilated, 0, 0},
    {"Conv2D", "EXPLICIT pads (1,0,2,1), stride 1x2", 2, {S(2, 4, 5, 2), S(3, 3, 2, 3)},
     c_explicit, 0, 0},
    {"Conv2D", "1x1 VALID (pointwise)", 2, {S(2, 3, 4, 5), S(1, 1, 5, 3)}, c_pointwise, 0, 0},
    {"Conv2DBackpropInput", "SAME stride 2", 2, {S(3, 3, 3, 4), S(2, 3, 3, 4)}, c_bi, 0, 0},
    {"Conv2DBackpropFilter", "SAME stride 2", 2, {S(2, 5, 6, 3), S(2, 3, 3, 4)}, c_bf, 0, 0},
    {"DepthwiseConv2dNative", "SAME multiplier 2", 2, {S(2, 5, 6, 3), S(3, 3, 3, 2)}, d_same, 0,
     0},
    {"DepthwiseConv2dNative", "VALID stride 2, 3x2 window", 2, {S(2, 5, 6, 3), S(3, 2, 3, 1)},
     d_s2_valid, 0, 0},
    {"DepthwiseConv2dNative", "SAME stride 2 (pad after)", 2, {S(1, 6, 5, 2), S(3, 3, 2, 1)},
     d_same_s2, 0, 0},
    {"DepthwiseConv2dNative", "SAME dilation 1x2", 2, {S(1, 5, 6, 2), S(2, 3, 2, 2)}, d_dilated,
     0, 0},
    {"DepthwiseConv2dNativeBackpropInput", "SAME stride 2", 2, {S(3, 3, 3, 2), S(2, 3, 3, 6)},
     d_bi, 0, 0},
    {"DepthwiseConv2dNativeBackpropFilter", "SAME stride 2", 2, {S(2, 5, 6, 3), S(2, 3, 3, 6)},
     d_bf, 0, 0},
};

const int tu_grad_cases_conv_count =
    (int)(sizeof tu_grad_cases_conv / sizeof tu_grad_cases_conv[0]);
