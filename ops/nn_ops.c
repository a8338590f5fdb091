/* SPDX-License-Identifier: Apache-2.0 */
/* ops/nn_ops.c - the nn op family: BiasAdd/BiasAddGrad, the activations (Relu, Relu6, Elu,
 * Selu, LeakyRelu, Sigmoid, Tanh) and their gradient kernels (ReluGrad, Relu6Grad, EluGrad,
 * SeluGrad, LeakyReluGrad, SigmoidGrad, TanhGrad): definitions, kernels and gradients side by side, plus
 * the public constructors. Softmax, SparseSoftmaxCrossEntropyWithLogits and InTopK(V2) live in
 * ops/nn_loss_ops.c; their table entries are here, so the family is one table.
 *
 * Floating-point kernels evaluate each element in double and round once to the output type.
 * Gradients follow TF 1.x's nn_grad.py / math_grad.py graphs (op types and names), except where
 * noted at the gradient function. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/math_internal.h"
#include "ops/nn_internal.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

/* TF's SELU constants (Klambauer et al. 2017). */
#define SELU_SCALE 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717

static deft_output none_output(void) {
  deft_output o = {NULL, 0};
  return o;
}

static deft_output out0(deft_op *op) {
  deft_output o = {op, 0};
  return o;
}

/* A scalar Const of dtype (float or double) holding v. */
static deft_output scalar_const(deft_graph *g, deft_dtype dtype, double v, const char *name) {
  return dtype == DEFT_DOUBLE ? deft_const_double(g, v, name)
                              : deft_const_float(g, (float)v, name);
}

/* "input 1 ('b:0', Const) has shape [4]" */
static void describe(const deft_shape_ctx *c, int i, char *buf, size_t size) {
  char sh[128];
  deft_output in = deft_op_input(c->op, i);
  deft_shape_format(deft_output_shape(in), sh, sizeof sh);
  snprintf(buf, size, "input %d ('%s:%d', %s) has shape %s", i, deft_op_name(in.op), in.index,
           deft_op_type(in.op), sh);
}

static bool same_dims(const deft_tensor *a, const deft_tensor *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

/* ---- unary activations ---- */

typedef enum act_kind { ACT_RELU, ACT_RELU6, ACT_ELU, ACT_SELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH } act_kind;

static inline double act_apply(act_kind k, double x, double alpha) {
  switch (k) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_RELU6: return x > 0 ? (x < 6 ? x : 6) : 0;
    case ACT_ELU: return x < 0 ? expm1(x) : x;
    case ACT_SELU: return x < 0 ? SELU_SCALE * SELU_ALPHA * expm1(x) : SELU_SCALE * x;
    case ACT_LEAKY: return x > 0 ? x : x * alpha;
    case ACT_SIGMOID: {
      if (x >= 0) return 1.0 / (1.0 + exp(-x));
      double e = exp(x); /* stable for large negative x */
      return e / (1.0 + e);
    }
    case ACT_TANH: return tanh(x);
  }
  return x;
}

/* Elements per thread below which splitting an activation does not pay: memory-bound ones
 * (ReLU, ReLU6), and those that call exp (ELU, SELU: about 1 ns an element, so 8K elements are
 * some 8 us of work against a wake-up of a spinning worker of well under a microsecond). */
#define ACT_GRAIN 131072
#define ACT_GRAIN_EXP 8192

typedef void (*act_f32_fn)(int64_t n, const float *x, float *y);
typedef struct act_job {
  act_f32_fn fn;
  const float *x;
  float *y;
} act_job;

static void act_range(void *arg, int64_t begin, int64_t end) {
  const act_job *j = arg;
  j->fn(end - begin, j->x + begin, j->y + begin);
}

static act_f32_fn act_f32(act_kind kind) {
  switch (kind) {
    case ACT_RELU: return deft_nn_relu_f32;
    case ACT_RELU6: return deft_nn_relu6_f32;
    case ACT_ELU: return deft_nn_elu_f32;
    case ACT_SELU: return deft_nn_selu_f32;
    case ACT_SIGMOID:
      return deft_nn_sigmoid_f32;
    case ACT_TANH:
      return deft_nn_tanh_f32;
    default: return NULL;
  }
}

static void unary_run(deft_kernel_ctx *c, act_kind kind, double alpha) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!y) return;
  int64_t n = x->n;
  if (x->dtype == DEFT_FLOAT && act_f32(kind)) {
    act_job j = {act_f32(kind), deft_tensor_f32(x), deft_tensor_f32(y)};
    int64_t grain = kind == ACT_ELU || kind == ACT_SELU ? ACT_GRAIN_EXP : ACT_GRAIN;
    deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), n, grain, act_range, &j);
    return;
  }
  switch (x->dtype) {
    case DEFT_FLOAT: {
      const float *a = deft_tensor_f32(x);
      float *b = deft_tensor_f32(y);
      for (int64_t i = 0; i < n; i++) b[i] = (float)act_apply(kind, a[i], alpha);
      break;
    }
    case DEFT_DOUBLE: {
      const double *a = deft_tensor_f64(x);
      double *b = deft_tensor_f64(y);
      for (int64_t i = 0; i < n; i++) b[i] = act_apply(kind, a[i], alpha);
      break;
    }
    case DEFT_INT32: { /* Relu and Relu6 only (the signatures allow ints for those alone) */
      const int32_t *a = deft_tensor_i32(x);
      int32_t *b = deft_tensor_i32(y);
      int32_t top = kind == ACT_RELU6 ? 6 : INT32_MAX;
      for (int64_t i = 0; i < n; i++) b[i] = a[i] > 0 ? (a[i] < top ? a[i] : top) : 0;
      break;
    }
    case DEFT_INT64: {
      const int64_t *a = deft_tensor_i64(x);
      int64_t *b = deft_tensor_i64(y);
      int64_t top = kind == ACT_RELU6 ? 6 : INT64_MAX;
      for (int64_t i = 0; i < n; i++) b[i] = a[i] > 0 ? (a[i] < top ? a[i] : top) : 0;
      break;
    }
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s",
                       deft_dtype_name(x->dtype));
  }
}

static void relu_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_RELU, 0); }
static void relu6_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_RELU6, 0); }
static void elu_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_ELU, 0); }
static void selu_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_SELU, 0); }
static void sigmoid_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_SIGMOID, 0); }
static void tanh_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_TANH, 0); }
/* LeakyRelu's and LeakyReluGrad's parameter block. */
typedef struct {
  float alpha;
} leaky_params;

static void leaky_prepare(deft_prepare_ctx *p) {
  float alpha = deft_prepare_attr_float(p, "alpha");
  leaky_params *lp = deft_prepare_params(p, sizeof *lp);
  if (lp) lp->alpha = alpha;
}

static float kernel_alpha(deft_kernel_ctx *c) {
  return ((const leaky_params *)deft_kernel_params(c))->alpha;
}

static void leaky_relu_kernel(deft_kernel_ctx *c) { unary_run(c, ACT_LEAKY, kernel_alpha(c)); }

/* ---- the gradient kernels: (a, b) -> out, a and b of one shape ---- */

typedef enum grad_kind {
  G_RELU,    /* (gradients, features = relu output): g if f > 0 */
  G_RELU6,   /* (gradients, features): g if 0 < f < 6 */
  G_ELU,     /* (gradients, outputs): y < 0 ? g * (y + 1) : g */
  G_SELU,    /* (gradients, outputs): y < 0 ? g * (y + scale*alpha) : g * scale */
  G_LEAKY,   /* (gradients, features = input): x > 0 ? g : g * alpha */
  G_SIGMOID, /* (y, dy): dy * y * (1 - y) */
  G_TANH     /* (y, dy): dy * (1 - y*y) */
} grad_kind;

static inline double grad_apply(grad_kind k, double a, double b, double alpha) {
  switch (k) {
    case G_RELU: return b > 0 ? a : 0;
    case G_RELU6: return b > 0 && b < 6 ? a : 0;
    case G_ELU: return b < 0 ? a * (b + 1) : a;
    case G_SELU: return b < 0 ? a * (b + SELU_SCALE * SELU_ALPHA) : a * SELU_SCALE;
    case G_LEAKY: return b > 0 ? a : a * alpha;
    case G_SIGMOID: return b * a * (1 - a);
    case G_TANH: return b * (1 - a * a);
  }
  return 0;
}

typedef void (*grad_f32_fn)(int64_t n, const float *a, const float *b, float *y);
typedef struct grad_job {
  grad_f32_fn fn;
  const float *a, *b;
  float *y;
} grad_job;

static void grad_range(void *arg, int64_t begin, int64_t end) {
  const grad_job *j = arg;
  j->fn(end - begin, j->a + begin, j->b + begin, j->y + begin);
}

static grad_f32_fn grad_f32(grad_kind kind) {
  switch (kind) {
    case G_RELU: return deft_nn_relu_grad_f32;
    case G_RELU6: return deft_nn_relu6_grad_f32;
    case G_ELU: return deft_nn_elu_grad_f32;
    case G_SELU: return deft_nn_selu_grad_f32;
    case G_SIGMOID:
      return deft_nn_sigmoid_grad_f32;
    case G_TANH:
      return deft_nn_tanh_grad_f32;
    default: return NULL;
  }
}

static void grad_run(deft_kernel_ctx *c, grad_kind kind, double alpha) {
  const deft_tensor *a = deft_kernel_input(c, 0), *b = deft_kernel_input(c, 1);
  if (!same_dims(a, b)) {
    char sa[128], sb[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "inputs 0 and 1 must have the same shape, got %s and %s",
                     deft_shape_format(deft_tensor_shape(a), sa, sizeof sa),
                     deft_shape_format(deft_tensor_shape(b), sb, sizeof sb));
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, a->dtype, a->dims, a->rank);
  if (!y) return;
  int64_t n = a->n;
  if (a->dtype == DEFT_FLOAT && grad_f32(kind)) {
    grad_job j = {grad_f32(kind), deft_tensor_f32(a), deft_tensor_f32(b), deft_tensor_f32(y)};
    deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), n, ACT_GRAIN, grad_range, &j);
    return;
  }
  switch (a->dtype) {
    case DEFT_FLOAT: {
      const float *p = deft_tensor_f32(a), *q = deft_tensor_f32(b);
      float *r = deft_tensor_f32(y);
      for (int64_t i = 0; i < n; i++) r[i] = (float)grad_apply(kind, p[i], q[i], alpha);
      break;
    }
    case DEFT_DOUBLE: {
      const double *p = deft_tensor_f64(a), *q = deft_tensor_f64(b);
      double *r = deft_tensor_f64(y);
      for (int64_t i = 0; i < n; i++) r[i] = grad_apply(kind, p[i], q[i], alpha);
      break;
    }
    case DEFT_INT32: { /* ReluGrad and Relu6Grad only */
      const int32_t *p = deft_tensor_i32(a), *q = deft_tensor_i32(b);
      int32_t *r = deft_tensor_i32(y);
      int32_t top = kind == G_RELU6 ? 6 : INT32_MAX;
      for (int64_t i = 0; i < n; i++) r[i] = q[i] > 0 && (q[i] < top || top == INT32_MAX) ? p[i] : 0;
      break;
    }
    case DEFT_INT64: {
      const int64_t *p = deft_tensor_i64(a), *q = deft_tensor_i64(b);
      int64_t *r = deft_tensor_i64(y);
      int64_t top = kind == G_RELU6 ? 6 : INT64_MAX;
      for (int64_t i = 0; i < n; i++) r[i] = q[i] > 0 && (q[i] < top || top == INT64_MAX) ? p[i] : 0;
      break;
    }
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s",
                       deft_dtype_name(a->dtype));
  }
}

static void relu_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_RELU, 0); }
static void relu6_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_RELU6, 0); }
static void elu_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_ELU, 0); }
static void selu_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_SELU, 0); }
static void sigmoid_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_SIGMOID, 0); }
static void tanh_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_TANH, 0); }
static void leaky_relu_grad_kernel(deft_kernel_ctx *c) { grad_run(c, G_LEAKY, kernel_alpha(c)); }

static void same_shape_binary(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_merge(c, 0, 1));
}

/* ---- BiasAdd / BiasAddGrad ---- */

static bool nchw(const deft_op *op) {
  const char *fmt = "NHWC";
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  return strcmp(fmt, "NCHW") == 0;
}

/* BiasAdd's and BiasAddGrad's parameter block: the data format. */
typedef struct {
  bool nchw;
} bias_params;

static void bias_prepare(deft_prepare_ctx *p) {
  bias_params *bp = deft_prepare_params(p, sizeof *bp);
  if (bp) bp->nchw = nchw(deft_prepare_op(p));
}

static bool kernel_nchw(deft_kernel_ctx *c) {
  return ((const bias_params *)deft_kernel_params(c))->nchw;
}

/* The channel dimension of a value of rank `rank` (>= 2). */
static int channel_dim(bool is_nchw, int rank) { return is_nchw ? 1 : rank - 1; }

static void bias_add_shape(deft_shape_ctx *c) {
  deft_shape v = deft_shape_ctx_input(c, 0), b = deft_shape_ctx_input(c, 1);
  char d0[256], d1[256];
  if (v.rank >= 0 && v.rank < 2) {
    describe(c, 0, d0, sizeof d0);
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the value must be at least 2-D, but %s", d0);
    return;
  }
  if (b.rank >= 0 && b.rank != 1) {
    describe(c, 1, d1, sizeof d1);
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the bias must be 1-D, but %s", d1);
    return;
  }
  deft_shape out = v;
  if (v.rank >= 2) {
    bool is_nchw = nchw(c->op);
    int cd = channel_dim(is_nchw, v.rank);
    int64_t ch = v.dims[cd], blen = b.rank == 1 ? b.dims[0] : -1;
    if (ch >= 0 && blen >= 0 && ch != blen) {
      describe(c, 1, d1, sizeof d1);
      describe(c, 0, d0, sizeof d0);
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "the bias length must equal the value's channel count: %s, but %s "
                      "(%lld channels in dimension %d, data_format %s)",
                      d1, d0, (long long)ch, cd, is_nchw ? "NCHW" : "NHWC");
      return;
    }
    if (ch < 0) out.dims[cd] = blen;
  }
  deft_shape_ctx_set_output(c, 0, out);
}

/* Splits value dims into [outer, C, inner] around the channel dimension. */
static void split_dims(const deft_tensor *v, int cd, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < cd; i++) *outer *= v->dims[i];
  for (int i = cd + 1; i < v->rank; i++) *inner *= v->dims[i];
}

#define BIAS_ADD_LOOP(T, view)                                                   \
  do {                                                                           \
    const T *xp = view(v), *bp = view(b);                                        \
    T *yp = view(y);                                                             \
    for (int64_t o = 0; o < outer; o++)                                          \
      for (int64_t k = 0; k < ch; k++) {                                         \
        int64_t base = (o * ch + k) * inner;                                     \
        for (int64_t i = 0; i < inner; i++) yp[base + i] = xp[base + i] + bp[k]; \
      }                                                                          \
  } while (0)

typedef struct bias_job {
  const float *x, *b;
  float *y;
  int64_t ch;
} bias_job;

static void bias_rows_range(void *arg, int64_t begin, int64_t end) {
  const bias_job *j = arg;
  deft_nn_bias_add_rows_f32(end - begin, j->ch, j->x + begin * j->ch, j->b, j->y + begin * j->ch);
}

static void bias_add_kernel(deft_kernel_ctx *c) {
  const deft_tensor *v = deft_kernel_input(c, 0), *b = deft_kernel_input(c, 1);
  char sv[128], sb[128];
  if (v->rank < 2 || b->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "the value must be at least 2-D and the bias 1-D, got value %s and bias %s",
                     deft_shape_format(deft_tensor_shape(v), sv, sizeof sv),
                     deft_shape_format(deft_tensor_shape(b), sb, sizeof sb));
    return;
  }
  bool is_nchw = kernel_nchw(c);
  int cd = channel_dim(is_nchw, v->rank);
  int64_t ch = v->dims[cd], outer, inner;
  if (b->dims[0] != ch) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "the bias has shape %s, but the value %s has %lld channels in dimension %d "
                     "(data_format %s)", deft_shape_format(deft_tensor_shape(b), sb, sizeof sb),
                     deft_shape_format(deft_tensor_shape(v), sv, sizeof sv), (long long)ch, cd,
                     is_nchw ? "NCHW" : "NHWC");
    return;
  }
  split_dims(v, cd, &outer, &inner);
  deft_tensor *y = deft_kernel_output(c, 0, v->dtype, v->dims, v->rank);
  if (!y) return;
  if (v->dtype == DEFT_FLOAT && inner == 1) {
    bias_job j = {deft_tensor_f32(v), deft_tensor_f32(b), deft_tensor_f32(y), ch};
    int64_t grain = ch ? ACT_GRAIN / ch + 1 : 1;
    deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), outer, grain, bias_rows_range, &j);
    return;
  }
  switch (v->dtype) {
    case DEFT_FLOAT: BIAS_ADD_LOOP(float, deft_tensor_f32); break;
    case DEFT_DOUBLE: BIAS_ADD_LOOP(double, deft_tensor_f64); break;
    case DEFT_INT32: BIAS_ADD_LOOP(int32_t, deft_tensor_i32); break;
    case DEFT_INT64: BIAS_ADD_LOOP(int64_t, deft_tensor_i64); break;
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s",
                       deft_dtype_name(v->dtype));
  }
}

static void bias_add_grad_shape(deft_shape_ctx *c) {
  deft_shape v = deft_shape_ctx_input(c, 0);
  if (v.rank >= 0 && v.rank < 2) {
    char d0[256];
    describe(c, 0, d0, sizeof d0);
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "out_backprop must be at least 2-D, but %s", d0);
    return;
  }
  int64_t ch = v.rank >= 2 ? v.dims[channel_dim(nchw(c->op), v.rank)] : -1;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &ch));
}

/* Sums over every dimension but the channel one; accumulates in ACC. */
#define BIAS_GRAD_LOOP(T, ACC, view)                                      \
  do {                                                                    \
    const T *xp = view(v);                                                \
    T *yp = view(y);                                                      \
    for (int64_t k = 0; k < ch; k++) {                                    \
      ACC s = 0;                                                          \
      for (int64_t o = 0; o < outer; o++) {                               \
        const T *row = xp + (o * ch + k) * inner;                         \
        for (int64_t i = 0; i < inner; i++) s += row[i];                  \
      }                                                                   \
      yp[k] = (T)s;                                                       \
    }                                                                     \
  } while (0)

static void bias_add_grad_kernel(deft_kernel_ctx *c) {
  const deft_tensor *v = deft_kernel_input(c, 0);
  if (v->rank < 2) {
    char sv[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "out_backprop must be at least 2-D, got %s",
                     deft_shape_format(deft_tensor_shape(v), sv, sizeof sv));
    return;
  }
  int cd = channel_dim(kernel_nchw(c), v->rank);
  int64_t ch = v->dims[cd], outer, inner;
  split_dims(v, cd, &outer, &inner);
  deft_tensor *y = deft_kernel_output(c, 0, v->dtype, &ch, 1);
  if (!y) return;
  if (v->dtype == DEFT_FLOAT && inner == 1) {
    deft_nn_col_sums_f32(outer, ch, deft_tensor_f32(v), deft_tensor_f32(y));
    return;
  }
  switch (v->dtype) {
    case DEFT_FLOAT: BIAS_GRAD_LOOP(float, double, deft_tensor_f32); break;
    case DEFT_DOUBLE: BIAS_GRAD_LOOP(double, double, deft_tensor_f64); break;
    case DEFT_INT32: BIAS_GRAD_LOOP(int32_t, int64_t, deft_tensor_i32); break;
    case DEFT_INT64: BIAS_GRAD_LOOP(int64_t, int64_t, deft_tensor_i64); break;
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "no kernel for dtype %s",
                       deft_dtype_name(v->dtype));
  }
}

/* ---- public constructors ---- */

/* BiasAdd (value, bias) or BiasAddGrad (value only: pass n = 1). */
static deft_output build_bias_add(deft_graph *g, const char *type, const deft_output *in, int n,
                                  const char *data_format, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < n; i++) deft_op_builder_add_input(b, in[i]);
  deft_op_builder_set_attr_string(b, "data_format", data_format, strlen(data_format));
  deft_op *op = deft_op_builder_finish(b);
  return op ? out0(op) : none_output();
}

deft_output deft_bias_add(deft_graph *g, deft_output value, deft_output bias, const char *name) {
  deft_output in[2] = {value, bias};
  return build_bias_add(g, "BiasAdd", in, 2, "NHWC", name);
}

deft_output deft_bias_add_grad(deft_graph *g, deft_output out_backprop, const char *name) {
  return build_bias_add(g, "BiasAddGrad", &out_backprop, 1, "NHWC", name);
}

deft_output deft_relu(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Relu", name, &x, 1);
}
deft_output deft_relu6(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Relu6", name, &x, 1);
}
deft_output deft_elu(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Elu", name, &x, 1);
}
deft_output deft_selu(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Selu", name, &x, 1);
}
deft_output deft_sigmoid(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Sigmoid", name, &x, 1);
}
deft_output deft_tanh(deft_graph *g, deft_output x, const char *name) {
  return deft_build_simple(g, "Tanh", name, &x, 1);
}

deft_output deft_leaky_relu(deft_graph *g, deft_output x, float alpha, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "LeakyRelu", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_float(b, "alpha", alpha);
  deft_op *op = deft_op_builder_finish(b);
  return op ? out0(op) : none_output();
}

static deft_output build_binary(deft_graph *g, const char *type, deft_output a, deft_output b,
                                const char *name) {
  deft_output in[2] = {a, b};
  return deft_build_simple(g, type, name, in, 2);
}

deft_output deft_relu_grad(deft_graph *g, deft_output gradients, deft_output features,
                           const char *name) {
  return build_binary(g, "ReluGrad", gradients, features, name);
}
deft_output deft_relu6_grad(deft_graph *g, deft_output gradients, deft_output features,
                            const char *name) {
  return build_binary(g, "Relu6Grad", gradients, features, name);
}
deft_output deft_elu_grad(deft_graph *g, deft_output gradients, deft_output outputs,
                          const char *name) {
  return build_binary(g, "EluGrad", gradients, outputs, name);
}
deft_output deft_selu_grad(deft_graph *g, deft_output gradients, deft_output outputs,
                           const char *name) {
  return build_binary(g, "SeluGrad", gradients, outputs, name);
}
deft_output deft_sigmoid_grad(deft_graph *g, deft_output y, deft_output dy, const char *name) {
  return build_binary(g, "SigmoidGrad", y, dy, name);
}
deft_output deft_tanh_grad(deft_graph *g, deft_output y, deft_output dy, const char *name) {
  return build_binary(g, "TanhGrad", y, dy, name);
}

deft_output deft_leaky_relu_grad(deft_graph *g, deft_output gradients, deft_output features,
                                 float alpha, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "LeakyReluGrad", name);
  deft_op_builder_add_input(b, gradients);
  deft_op_builder_add_input(b, features);
  deft_op_builder_set_attr_float(b, "alpha", alpha);
  deft_op *op = deft_op_builder_finish(b);
  return op ? out0(op) : none_output();
}

/* ---- gradients (TF 1.x nn_grad.py / math_grad.py) ---- */

static void bias_add_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  const char *fmt = "NHWC";
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  dx[0] = grads[0];
  dx[1] = build_bias_add(g, "BiasAddGrad", grads, 1, fmt, NULL);
}

/* BiasAddGrad's gradient broadcasts the [C] gradient back over out_backprop's shape. TF builds
 * it from Shape/Concat/Reshape/Tile; here it is BiasAdd(ZerosLike(out_backprop), grad) with the
 * same data_format, which computes the same values with ops deft has. */
static void bias_add_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                                  deft_output *dx) {
  const char *fmt = "NHWC";
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  deft_output zeros = deft_zeros_like(g, deft_op_input(op, 0), "zeros_like");
  deft_output in[2] = {zeros, grads[0]};
  dx[0] = build_bias_add(g, "BiasAdd", in, 2, fmt, NULL);
}

static void relu_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_relu_grad(g, grads[0], deft_op_output(op, 0), NULL);
}

/* TF 1.x's _Relu6Grad: Relu6Grad(grad, y) on the op's output (0 < y < 6 exactly where
 * 0 < x < 6). */
static void relu6_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_relu6_grad(g, grads[0], deft_op_output(op, 0), NULL);
}

static void relu6_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx) {
  dx[0] = deft_relu6_grad(g, grads[0], deft_op_input(op, 1), NULL);
}

static void elu_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_elu_grad(g, grads[0], deft_op_output(op, 0), NULL);
}

static void selu_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_selu_grad(g, grads[0], deft_op_output(op, 0), NULL);
}

static void leaky_relu_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx) {
  float alpha = 0.2f;
  deft_op_attr_float(op, "alpha", &alpha);
  dx[0] = deft_leaky_relu_grad(g, grads[0], deft_op_input(op, 0), alpha, NULL);
}

/* Sigmoid and Tanh: TF wraps y in conj() under control_dependencies([grad]); for real dtypes
 * conj adds no op, so the graph is just SigmoidGrad(y, grad) / TanhGrad(y, grad). */
static void sigmoid_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx) {
  dx[0] = deft_sigmoid_grad(g, deft_op_output(op, 0), grads[0], NULL);
}

static void tanh_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_tanh_grad(g, deft_op_output(op, 0), grads[0], NULL);
}

/* Second order. ReluGrad and LeakyReluGrad: the gradient w.r.t. input 0 is the same kernel
 * applied to the incoming gradient; w.r.t. features (input 1) it is zero almost everywhere, which
 * TF materializes as zeros and deft leaves as "no gradient". */
static void relu_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                              deft_output *dx) {
  dx[0] = deft_relu_grad(g, grads[0], deft_op_input(op, 1), NULL);
}

static void leaky_relu_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                                    deft_output *dx) {
  float alpha = 0.2f;
  deft_op_attr_float(op, "alpha", &alpha);
  dx[0] = deft_leaky_relu_grad(g, grads[0], deft_op_input(op, 1), alpha, NULL);
}

/* EluGrad / SeluGrad: d/dgradients = the kernel applied to grad; d/doutputs = grad * gradients
 * where outputs < 0, else 0 (Select(Less(y, 0), grad * gradients, ZerosLike(y))). */
static void elu_like_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx, bool selu) {
  deft_output y = deft_op_input(op, 1);
  dx[0] = selu ? deft_selu_grad(g, grads[0], y, NULL) : deft_elu_grad(g, grads[0], y, NULL);
  deft_output zero = scalar_const(g, deft_output_dtype(y), 0.0, "Less/y");
  deft_output neg = deft_less(g, y, zero, "Less");
  deft_output prod = deft_mul(g, grads[0], deft_op_input(op, 0), "mul");
  deft_output zeros = deft_zeros_like(g, y, "zeros_like");
  dx[1] = deft_select(g, neg, prod, zeros, "Select");
}

static void elu_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *dx) {
  elu_like_grad_grad(g, op, grads, dx, false);
}

static void selu_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                              deft_output *dx) {
  elu_like_grad_grad(g, op, grads, dx, true);
}

/* SigmoidGrad(y, dy) = dy*y*(1-y): d/dy = gb - 2*gb*y with gb = grad*dy; d/ddy =
 * SigmoidGrad(y, grad). */
static void sigmoid_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                                 deft_output *dx) {
  deft_output a = deft_op_input(op, 0), b = deft_op_input(op, 1);
  deft_output gb = deft_mul(g, grads[0], b, "mul");
  deft_output two = scalar_const(g, deft_output_dtype(gb), 2.0, "mul_1/x");
  deft_output t = deft_mul(g, two, gb, "mul_1");
  t = deft_mul(g, t, a, "mul_2");
  dx[0] = deft_sub(g, gb, t, "sub");
  dx[1] = deft_sigmoid_grad(g, a, grads[0], NULL);
}

/* TanhGrad(y, dy) = dy*(1-y^2): d/dy = grad * -2 * dy * y; d/ddy = TanhGrad(y, grad). */
static void tanh_grad_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads,
                              deft_output *dx) {
  deft_output a = deft_op_input(op, 0), b = deft_op_input(op, 1);
  deft_output m2 = scalar_const(g, deft_output_dtype(grads[0]), -2.0, "mul/y");
  deft_output t = deft_mul(g, grads[0], m2, "mul");
  t = deft_mul(g, t, b, "mul_1");
  dx[0] = deft_mul(g, t, a, "mul_2");
  dx[1] = deft_tanh_grad(g, a, grads[0], NULL);
}


#define FLOATS "{float, double}"

static const deft_op_def nn_defs[] = {
    {.type = "BiasAdd", .inputs = "value: T, bias: T", .outputs = "output: T",
     .attrs = "T: {float, double, int32, int64}, data_format: {'NHWC', 'NCHW'} = 'NHWC'",
     .shape = bias_add_shape, .prepare = bias_prepare, .kernel = bias_add_kernel,
     .grad = bias_add_grad_fn},
    {.type = "BiasAddGrad", .inputs = "out_backprop: T", .outputs = "output: T",
     .attrs = "T: {float, double, int32, int64}, data_format: {'NHWC', 'NCHW'} = 'NHWC'",
     .shape = bias_add_grad_shape, .prepare = bias_prepare, .kernel = bias_add_grad_kernel,
     .grad = bias_add_grad_grad_fn},
    {.type = "Relu", .inputs = "features: T", .outputs = "activations: T",
     .attrs = "T: {float, double, int32, int64}", .shape = deft_shape_unchanged,
     .kernel = relu_kernel, .grad = relu_grad_fn},
    {.type = "ReluGrad", .inputs = "gradients: T, features: T", .outputs = "backprops: T",
     .attrs = "T: {float, double, int32, int64}", .shape = same_shape_binary,
     .kernel = relu_grad_kernel, .grad = relu_grad_grad_fn},
    {.type = "Relu6", .inputs = "features: T", .outputs = "activations: T",
     .attrs = "T: {float, double, int32, int64}", .shape = deft_shape_unchanged,
     .kernel = relu6_kernel, .grad = relu6_grad_fn},
    {.type = "Relu6Grad", .inputs = "gradients: T, features: T", .outputs = "backprops: T",
     .attrs = "T: {float, double, int32, int64}", .shape = same_shape_binary,
     .kernel = relu6_grad_kernel, .grad = relu6_grad_grad_fn},
    {.type = "Elu", .inputs = "features: T", .outputs = "activations: T", .attrs = "T: " FLOATS,
     .shape = deft_shape_unchanged, .kernel = elu_kernel, .grad = elu_grad_fn},
    {.type = "EluGrad", .inputs = "gradients: T, outputs: T", .outputs = "backprops: T",
     .attrs = "T: " FLOATS, .shape = same_shape_binary, .kernel = elu_grad_kernel,
     .grad = elu_grad_grad_fn},
    {.type = "Selu", .inputs = "features: T", .outputs = "activations: T",
     .attrs = "T: " FLOATS, .shape = deft_shape_unchanged, .kernel = selu_kernel,
     .grad = selu_grad_fn},
    {.type = "SeluGrad", .inputs = "gradients: T, outputs: T", .outputs = "backprops: T",
     .attrs = "T: " FLOATS, .shape = same_shape_binary, .kernel = selu_grad_kernel,
     .grad = selu_grad_grad_fn},
    {.type = "LeakyRelu", .inputs = "features: T", .outputs = "activations: T",
     .attrs = "alpha: float = 0.2, T: " FLOATS " = DT_FLOAT", .shape = deft_shape_unchanged,
     .prepare = leaky_prepare, .kernel = leaky_relu_kernel, .grad = leaky_relu_grad_fn},
    {.type = "LeakyReluGrad", .inputs = "gradients: T, features: T", .outputs = "backprops: T",
     .attrs = "alpha: float = 0.2, T: " FLOATS " = DT_FLOAT", .shape = same_shape_binary,
     .prepare = leaky_prepare, .kernel = leaky_relu_grad_kernel, .grad = leaky_relu_grad_grad_fn},
    {.type = "Sigmoid", .inputs = "x: T", .outputs = "y: T", .attrs = "T: " FLOATS,
     .shape = deft_shape_unchanged, .kernel = sigmoid_kernel, .grad = sigmoid_grad_fn},
    {.type = "SigmoidGrad", .inputs = "y: T, dy: T", .outputs = "z: T", .attrs = "T: " FLOATS,
     .shape = same_shape_binary, .kernel = sigmoid_grad_kernel, .grad = sigmoid_grad_grad_fn},
    {.type = "Tanh", .inputs = "x: T", .outputs = "y: T", .attrs = "T: " FLOATS,
     .shape = deft_shape_unchanged, .kernel = tanh_kernel, .grad = tanh_grad_fn},
    {.type = "TanhGrad", .inputs = "y: T, dy: T", .outputs = "z: T", .attrs = "T: " FLOATS,
     .shape = same_shape_binary, .kernel = tanh_grad_kernel, .grad = tanh_grad_grad_fn},
    {.type = "Softmax", .inputs = "logits: T", .outputs = "softmax: T", .attrs = "T: " FLOATS,
     .shape = deft_nn_softmax_shape, .kernel = deft_nn_softmax_kernel,
     .grad = deft_nn_softmax_grad},
    {.type = "SparseSoftmaxCrossEntropyWithLogits", .inputs = "features: T, labels: Tlabels",
     .outputs = "loss: T, backprop: T",
     .attrs = "T: " FLOATS ", Tlabels: {int32, int64} = DT_INT64",
     .shape = deft_nn_xent_shape, .kernel = deft_nn_xent_kernel, .grad = deft_nn_xent_grad},
    {.type = "InTopK", .inputs = "predictions: float, targets: T", .outputs = "precision: bool",
     .attrs = "k: int, T: {int32, int64} = DT_INT32", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = deft_nn_in_top_k_shape, .prepare = deft_nn_in_top_k_prepare,
     .kernel = deft_nn_in_top_k_kernel},
    {.type = "InTopKV2", .inputs = "predictions: float, targets: T, k: T",
     .outputs = "precision: bool", .attrs = "T: {int32, int64} = DT_INT32",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = deft_nn_in_top_k_v2_shape,
     .kernel = deft_nn_in_top_k_v2_kernel},
};

DEFT_FAMILY(deft_ops_nn, nn_defs);
