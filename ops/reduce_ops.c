/* SPDX-License-Identifier: Apache-2.0 */
/* ops/reduce_ops.c - the math family's reductions: Sum, Mean, Prod, Max and ArgMax. Shape
 * functions, kernels, gradients and public constructors (the table entries are in
 * ops/math_ops.c).
 *
 * Kernels drop size-1 dims and merge neighbouring dims that are all reduced or all kept, then
 * reduce one reduced group per pass as [A, R, B] -> [A, B]: contiguous (B == 1) or row-wise
 * (B > 1, vectorizable across B). Most reductions ([N,C] over either axis, everything) take one
 * pass. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/math_internal.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

static const deft_output NONE = {NULL, 0};

/* Reads the axes in t (a scalar or vector of int32/int64) against `rank` into reduce[]. Returns
 * false with msg set for an axis out of range or listed twice. */
static bool read_axes(const deft_tensor *t, int rank, bool *reduce, char *msg, size_t size) {
  for (int i = 0; i < rank; i++) reduce[i] = false;
  if (t->rank > 1) {
    char s[128];
    snprintf(msg, size, "reduction axes must be a scalar or a vector, got shape %s",
             deft_shape_format(deft_tensor_shape(t), s, sizeof s));
    return false;
  }
  for (int64_t i = 0; i < t->n; i++) {
    int64_t a = deft_tensor_index_at(t, i);
    if (a < -rank || a >= rank) {
      snprintf(msg, size,
               "axis %" PRId64 " is out of range for input 0 of rank %d (valid axes are "
               "[%d, %d))",
               a, rank, -rank, rank);
      return false;
    }
    int k = (int)(a < 0 ? a + rank : a);
    if (reduce[k]) {
      snprintf(msg, size, "axis %" PRId64 " is listed twice (as dimension %d)", a, k);
      return false;
    }
    reduce[k] = true;
  }
  return true;
}

/* ---- shape functions ---- */

void deft_math_reduction_shape(deft_shape_ctx *c) {
  deft_shape in = deft_shape_ctx_input(c, 0), ashape = deft_shape_ctx_input(c, 1);
  bool keep = false;
  deft_op_attr_bool(c->op, "keep_dims", &keep);
  deft_output ai = deft_op_input(c->op, 1);
  char s[128];
  if (ashape.rank > 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "reduction_indices (input 1, '%s:%d') must be a scalar or a vector, got "
                    "shape %s",
                    deft_op_name(ai.op), ai.index, deft_shape_format(ashape, s, sizeof s));
    return;
  }
  const deft_tensor *axes = deft_shape_ctx_input_const(c, 1);
  bool no_axes = (axes && axes->n == 0) || (ashape.rank == 1 && ashape.dims[0] == 0);
  if (no_axes) { /* identity */
    deft_shape_ctx_set_output(c, 0, in);
    return;
  }
  if (in.rank < 0) {
    deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
    return;
  }
  if (!axes) {
    deft_shape out = in;
    for (int i = 0; i < in.rank; i++)
      if (in.dims[i] != 1) out.dims[i] = -1;
    deft_shape_ctx_set_output(c, 0, keep ? out : deft_shape_unknown());
    return;
  }
  bool reduce[DEFT_MAX_RANK];
  char msg[256];
  if (!read_axes(axes, in.rank, reduce, msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "reduction_indices (input 1, '%s:%d'): %s; input 0 "
                    "has shape %s",
                    deft_op_name(ai.op), ai.index, msg, deft_shape_format(in, s, sizeof s));
    return;
  }
  deft_shape out;
  memset(&out, 0, sizeof out);
  for (int i = 0; i < in.rank; i++) {
    if (!reduce[i]) out.dims[out.rank++] = in.dims[i];
    else if (keep) out.dims[out.rank++] = 1;
  }
  deft_shape_ctx_set_output(c, 0, out);
}

/* Reads ArgMax's axis; returns false with msg set when it is not a scalar in range. */
static bool read_dimension(const deft_tensor *t, int rank, int *axis, char *msg, size_t size) {
  if (t->n != 1 || t->rank > 1) {
    char s[128];
    snprintf(msg, size, "dimension must be a scalar, got shape %s",
             deft_shape_format(deft_tensor_shape(t), s, sizeof s));
    return false;
  }
  int64_t a = deft_tensor_index_at(t, 0);
  if (a < -rank || a >= rank) {
    snprintf(msg, size, "dimension %" PRId64 " is out of range for input 0 of rank %d", a, rank);
    return false;
  }
  *axis = (int)(a < 0 ? a + rank : a);
  return true;
}

void deft_math_argmax_shape(deft_shape_ctx *c) {
  deft_shape in = deft_shape_ctx_input(c, 0);
  const deft_tensor *dim = deft_shape_ctx_input_const(c, 1);
  if (in.rank < 0) {
    deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
    return;
  }
  if (in.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input 0 must have rank >= 1, got a scalar");
    return;
  }
  deft_shape out;
  memset(&out, 0, sizeof out);
  out.rank = in.rank - 1;
  int axis = -1;
  char msg[256];
  if (dim && !read_dimension(dim, in.rank, &axis, msg, sizeof msg)) {
    deft_output di = deft_op_input(c->op, 1);
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input 1 ('%s:%d'): %s", deft_op_name(di.op),
                    di.index, msg);
    return;
  }
  for (int i = 0, k = 0; i < in.rank; i++) {
    if (i == axis) continue;
    if (k < out.rank) out.dims[k++] = axis < 0 ? -1 : in.dims[i];
  }
  deft_shape_ctx_set_output(c, 0, out);
}

/* ---- reduction kernels ---- */

typedef enum { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN } rkind;

/* float sums: 16 float lanes over blocks of 1024, blocks added in double. */
DEFT_SIMD_CLONES static double sum_f32(const float *x, int64_t n) {
  double total = 0;
  int64_t i = 0;
  for (; i + 1024 <= n; i += 1024) {
    float lane[16] = {0};
    for (int64_t k = 0; k < 1024; k += 16)
      for (int l = 0; l < 16; l++) lane[l] += x[i + k + l];
    double s = 0;
    for (int l = 0; l < 16; l++) s += lane[l];
    total += s;
  }
  for (; i < n; i++) total += x[i];
  return total;
}

DEFT_SIMD_CLONES static double sum_f64(const double *x, int64_t n) {
  double lane[8] = {0}, tail = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lane[l] += x[i + l];
  for (; i < n; i++) tail += x[i];
  for (int l = 0; l < 8; l++) tail += lane[l];
  return tail;
}

#define WSUM32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define WSUM64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define WMUL32(a, b) ((int32_t)((uint32_t)(a) * (uint32_t)(b)))
#define WMUL64(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))
#define PLUS(a, b) ((a) + (b))
#define TIMES(a, b) ((a) * (b))
#define BIGGER(a, b) ((b) > (a) ? (b) : (a))
#define SMALLER(a, b) ((b) < (a) ? (b) : (a))

/* One pass [A, R, B] -> [A, B] with combine OP; CONTIG(src, R) reduces a contiguous run. */
#define PASS(T, OP, CONTIG)                                                \
  {                                                                        \
    const T *src = (const T *)srcv;                                        \
    T *dst = (T *)dstv;                                                    \
    for (int64_t a = 0; a < A; a++) {                                      \
      const T *s = src + a * R * B;                                        \
      if (B == 1) {                                                        \
        dst[a] = CONTIG(s, R);                                             \
        continue;                                                          \
      }                                                                    \
      T *restrict d = dst + a * B;                                         \
      memcpy(d, s, sizeof(T) * (size_t)B);                                 \
      for (int64_t r = 1; r < R; r++) {                                    \
        const T *restrict sr = s + r * B;                                  \
        for (int64_t b = 0; b < B; b++) d[b] = OP(d[b], sr[b]);            \
      }                                                                    \
    }                                                                      \
  }

#define CONTIG_LOOP(T, OP)                                                  \
  static T contig_##T##_##OP(const T *s, int64_t n) {                      \
    T acc = s[0];                                                           \
    for (int64_t i = 1; i < n; i++) acc = OP(acc, s[i]);                    \
    return acc;                                                             \
  }
CONTIG_LOOP(float, TIMES)
CONTIG_LOOP(double, TIMES)
CONTIG_LOOP(float, BIGGER)
CONTIG_LOOP(double, BIGGER)
CONTIG_LOOP(int32_t, WSUM32)
CONTIG_LOOP(int64_t, WSUM64)
CONTIG_LOOP(int32_t, WMUL32)
CONTIG_LOOP(int64_t, WMUL64)
CONTIG_LOOP(int32_t, BIGGER)
CONTIG_LOOP(int64_t, BIGGER)
CONTIG_LOOP(uint8_t, PLUS)
CONTIG_LOOP(uint8_t, TIMES)
CONTIG_LOOP(uint8_t, BIGGER)
CONTIG_LOOP(float, SMALLER)
CONTIG_LOOP(double, SMALLER)
CONTIG_LOOP(int32_t, SMALLER)
CONTIG_LOOP(int64_t, SMALLER)
CONTIG_LOOP(uint8_t, SMALLER)
#define SUMF(s, n) ((float)sum_f32(s, n))
#define SUMD(s, n) sum_f64(s, n)

/* R >= 1. */
DEFT_SIMD_CLONES static bool reduce_pass(rkind kind, deft_dtype t, const void *srcv, void *dstv,
                                         int64_t A, int64_t R, int64_t B) {
  bool sum = kind == R_SUM || kind == R_MEAN;
  switch (t) {
    case DEFT_FLOAT:
      if (sum) PASS(float, PLUS, SUMF)
      else if (kind == R_PROD) PASS(float, TIMES, contig_float_TIMES)
      else if (kind == R_MAX) PASS(float, BIGGER, contig_float_BIGGER)
      else PASS(float, SMALLER, contig_float_SMALLER)
      return true;
    case DEFT_DOUBLE:
      if (sum) PASS(double, PLUS, SUMD)
      else if (kind == R_PROD) PASS(double, TIMES, contig_double_TIMES)
      else if (kind == R_MAX) PASS(double, BIGGER, contig_double_BIGGER)
      else PASS(double, SMALLER, contig_double_SMALLER)
      return true;
    case DEFT_INT32:
      if (sum) PASS(int32_t, WSUM32, contig_int32_t_WSUM32)
      else if (kind == R_PROD) PASS(int32_t, WMUL32, contig_int32_t_WMUL32)
      else if (kind == R_MAX) PASS(int32_t, BIGGER, contig_int32_t_BIGGER)
      else PASS(int32_t, SMALLER, contig_int32_t_SMALLER)
      return true;
    case DEFT_INT64:
      if (sum) PASS(int64_t, WSUM64, contig_int64_t_WSUM64)
      else if (kind == R_PROD) PASS(int64_t, WMUL64, contig_int64_t_WMUL64)
      else if (kind == R_MAX) PASS(int64_t, BIGGER, contig_int64_t_BIGGER)
      else PASS(int64_t, SMALLER, contig_int64_t_SMALLER)
      return true;
    case DEFT_UINT8:
      if (sum) PASS(uint8_t, PLUS, contig_uint8_t_PLUS)
      else if (kind == R_PROD) PASS(uint8_t, TIMES, contig_uint8_t_TIMES)
      else if (kind == R_MAX) PASS(uint8_t, BIGGER, contig_uint8_t_BIGGER)
      else PASS(uint8_t, SMALLER, contig_uint8_t_SMALLER)
      return true;
    default: return false;
  }
}

/* A pass split over threads along A (independent output rows). */
typedef struct pass_job {
  rkind kind;
  deft_dtype t;
  const char *src;
  char *dst;
  int64_t R, B;
  size_t esz;
} pass_job;

static void pass_range(void *arg, int64_t begin, int64_t end) {
  const pass_job *j = arg;
  reduce_pass(j->kind, j->t, j->src + (size_t)(begin * j->R * j->B) * j->esz,
              j->dst + (size_t)(begin * j->B) * j->esz, end - begin, j->R, j->B);
}

/* Fills out with the reduction of nothing: 0 (Sum), NaN (float Mean), 1 (Prod), lowest (Max). */
static void fill_identity(rkind kind, deft_tensor *out) {
  int64_t n = out->n;
  for (int64_t i = 0; i < n; i++) {
    switch (out->dtype) {
      case DEFT_FLOAT:
        deft_tensor_f32(out)[i] = kind == R_PROD ? 1.0f
                                  : kind == R_MAX ? -INFINITY
                                  : kind == R_MIN ? INFINITY
                                  : kind == R_MEAN ? NAN : 0.0f;
        break;
      case DEFT_DOUBLE:
        deft_tensor_f64(out)[i] = kind == R_PROD ? 1.0
                                  : kind == R_MAX ? -INFINITY
                                  : kind == R_MIN ? INFINITY
                                  : kind == R_MEAN ? NAN : 0.0;
        break;
      case DEFT_INT32:
        deft_tensor_i32(out)[i] = kind == R_PROD  ? 1
                                  : kind == R_MAX ? INT32_MIN
                                  : kind == R_MIN ? INT32_MAX : 0;
        break;
      case DEFT_INT64:
        deft_tensor_i64(out)[i] = kind == R_PROD  ? 1
                                  : kind == R_MAX ? INT64_MIN
                                  : kind == R_MIN ? INT64_MAX : 0;
        break;
      case DEFT_UINT8:
        deft_tensor_u8(out)[i] = kind == R_PROD ? 1 : kind == R_MIN ? 255 : 0;
        break;
      case DEFT_BOOL: deft_tensor_b(out)[i] = kind == R_MIN; break; /* All: true, Any: false */
      default: break;
    }
  }
}

static void divide_by(deft_tensor *out, int64_t count) {
  int64_t n = out->n;
  switch (out->dtype) {
    case DEFT_FLOAT: {
      float *p = deft_tensor_f32(out), k = (float)count;
      for (int64_t i = 0; i < n; i++) p[i] /= k;
      break;
    }
    case DEFT_DOUBLE: {
      double *p = deft_tensor_f64(out), k = (double)count;
      for (int64_t i = 0; i < n; i++) p[i] /= k;
      break;
    }
    case DEFT_INT32: {
      int32_t *p = deft_tensor_i32(out);
      for (int64_t i = 0; i < n; i++) p[i] = (int32_t)(p[i] / count);
      break;
    }
    case DEFT_INT64: {
      int64_t *p = deft_tensor_i64(out);
      for (int64_t i = 0; i < n; i++) p[i] /= count;
      break;
    }
    case DEFT_UINT8: {
      uint8_t *p = deft_tensor_u8(out);
      for (int64_t i = 0; i < n; i++) p[i] = (uint8_t)(p[i] / count);
      break;
    }
    default: break;
  }
}

/* The reductions' parameter block. */
typedef struct {
  bool keep_dims;
} reduce_params;

void deft_math_reduction_prepare(deft_prepare_ctx *p) {
  bool keep = deft_prepare_attr_bool(p, "keep_dims");
  reduce_params *rp = deft_prepare_params(p, sizeof *rp);
  if (rp) rp->keep_dims = keep;
}

static void run_reduction(deft_kernel_ctx *c, rkind kind) {
  const deft_tensor *x = deft_kernel_input(c, 0), *axes = deft_kernel_input(c, 1);
  bool keep = ((const reduce_params *)deft_kernel_params(c))->keep_dims;
  /* bool only for All (R_MIN) and Any (R_MAX), reduced as uint8 0/1 */
  bool logical = x->dtype == DEFT_BOOL && (kind == R_MIN || kind == R_MAX);
  if (x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE && x->dtype != DEFT_INT32 &&
      x->dtype != DEFT_INT64 && x->dtype != DEFT_UINT8 && !logical) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft has no kernel for dtype %s",
                     deft_dtype_name(x->dtype));
    return;
  }
  bool reduce[DEFT_MAX_RANK];
  char msg[256];
  if (!read_axes(axes, x->rank, reduce, msg, sizeof msg)) {
    char s[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "reduction_indices (input 1): %s; input 0 has "
                     "shape %s",
                     msg, deft_shape_format(deft_tensor_shape(x), s, sizeof s));
    return;
  }
  if (axes->n == 0) { /* nothing to reduce */
    deft_kernel_forward(c, 0, x);
    return;
  }
  int64_t odims[DEFT_MAX_RANK];
  int orank = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!reduce[i]) odims[orank++] = x->dims[i];
    else if (keep) odims[orank++] = 1;
  }
  deft_tensor *out = deft_kernel_output(c, 0, x->dtype, odims, orank);
  if (!out || out->n == 0) return;
  if (x->n == 0) {
    fill_identity(kind, out);
    return;
  }
  size_t esz = deft_dtype_size(x->dtype);
  /* Collapse into alternating groups of kept / reduced dims. */
  int64_t gsize[DEFT_MAX_RANK];
  bool gred[DEFT_MAX_RANK];
  int ng = 0;
  for (int i = 0; i < x->rank; i++) {
    if (x->dims[i] == 1) continue;
    if (ng > 0 && gred[ng - 1] == reduce[i]) {
      gsize[ng - 1] *= x->dims[i];
    } else {
      gsize[ng] = x->dims[i];
      gred[ng++] = reduce[i];
    }
  }
  int nred = 0;
  for (int i = 0; i < ng; i++) nred += gred[i];
  if (nred == 0) { /* only size-1 dims are reduced: a copy */
    memcpy(out->buf->data, x->buf->data, (size_t)x->n * esz);
    return;
  }
  const void *src = x->buf->data;
  void *tmp[2] = {NULL, NULL};
  int which = 0;
  while (nred > 0) {
    int gi = ng - 1;
    while (!gred[gi]) gi--;
    int64_t A = 1, B = 1, R = gsize[gi];
    for (int i = 0; i < gi; i++) A *= gsize[i];
    for (int i = gi + 1; i < ng; i++) B *= gsize[i];
    void *dst;
    if (nred == 1) {
      dst = out->buf->data;
    } else {
      if (!tmp[which]) tmp[which] = deft_malloc((size_t)(A * B) * esz);
      if (!tmp[which]) {
        deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory for a reduction buffer");
        break;
      }
      dst = tmp[which];
    }
    pass_job job = {kind, logical ? DEFT_UINT8 : x->dtype, src, dst, R, B, esz};
    int64_t grain = 65536 / (R * B) + 1; /* rows of A per thread */
    deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), A, grain, pass_range, &job);
    src = dst;
    which ^= 1;
    /* Remove group gi; merge its kept neighbours. */
    if (gi > 0 && gi + 1 < ng) {
      gsize[gi - 1] *= gsize[gi + 1];
      for (int i = gi; i + 2 < ng; i++) {
        gsize[i] = gsize[i + 2];
        gred[i] = gred[i + 2];
      }
      ng -= 2;
    } else {
      for (int i = gi; i + 1 < ng; i++) {
        gsize[i] = gsize[i + 1];
        gred[i] = gred[i + 1];
      }
      ng -= 1;
    }
    nred--;
  }
  deft_free(tmp[0]);
  deft_free(tmp[1]);
  if (kind == R_MEAN && !deft_kernel_failed(c)) divide_by(out, x->n / out->n);
}

void deft_math_sum_kernel(deft_kernel_ctx *c) { run_reduction(c, R_SUM); }
void deft_math_mean_kernel(deft_kernel_ctx *c) { run_reduction(c, R_MEAN); }
void deft_math_prod_kernel(deft_kernel_ctx *c) { run_reduction(c, R_PROD); }
void deft_math_max_kernel(deft_kernel_ctx *c) { run_reduction(c, R_MAX); }
void deft_math_min_kernel(deft_kernel_ctx *c) { run_reduction(c, R_MIN); }
/* All and Any: min and max of bools. */
void deft_math_all_kernel(deft_kernel_ctx *c) { run_reduction(c, R_MIN); }
void deft_math_any_kernel(deft_kernel_ctx *c) { run_reduction(c, R_MAX); }

/* ---- ArgMax ---- */

#define ARGMAX(T, IT)                                                           \
  {                                                                             \
    const T *src = (const T *)x->buf->data;                                     \
    IT *dst = (IT *)out->buf->data;                                             \
    for (int64_t a = 0; a < A; a++) {                                           \
      const T *s = src + a * R * B;                                             \
      IT *d = dst + a * B;                                                      \
      if (B == 1) {                                                             \
        T best = s[0];                                                          \
        IT bi = 0;                                                              \
        for (int64_t r = 1; r < R; r++)                                         \
          if (s[r] > best) best = s[r], bi = (IT)r;                             \
        d[0] = bi;                                                              \
        continue;                                                               \
      }                                                                         \
      T *bestv = (T *)best_buf;                                                 \
      memcpy(bestv, s, sizeof(T) * (size_t)B);                                  \
      for (int64_t b = 0; b < B; b++) d[b] = 0;                                 \
      for (int64_t r = 1; r < R; r++)                                           \
        for (int64_t b = 0; b < B; b++)                                         \
          if (s[r * B + b] > bestv[b]) bestv[b] = s[r * B + b], d[b] = (IT)r;   \
    }                                                                           \
  }
#define ARGMAX_T(T)                                       \
  if (ot == DEFT_INT64) ARGMAX(T, int64_t) else ARGMAX(T, int32_t)

void deft_math_argmax_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *dim = deft_kernel_input(c, 1);
  deft_dtype ot = deft_kernel_output_dtype(c, 0);
  char msg[256], s[128];
  int axis = 0;
  if (x->rank == 0 || !read_dimension(dim, x->rank, &axis, msg, sizeof msg)) {
    if (x->rank == 0) snprintf(msg, sizeof msg, "input 0 must have rank >= 1, got a scalar");
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s (input 0 has shape %s)", msg,
                     deft_shape_format(deft_tensor_shape(x), s, sizeof s));
    return;
  }
  if (ot != DEFT_INT32 && ot != DEFT_INT64) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "output_type must be int32 or int64, got %s",
                     deft_dtype_name(ot));
    return;
  }
  int64_t odims[DEFT_MAX_RANK], A = 1, B = 1, R = x->dims[axis];
  int orank = 0;
  for (int i = 0; i < x->rank; i++) {
    if (i < axis) A *= x->dims[i];
    if (i > axis) B *= x->dims[i];
    if (i != axis) odims[orank++] = x->dims[i];
  }
  deft_tensor *out = deft_kernel_output(c, 0, ot, odims, orank);
  if (!out || out->n == 0) return;
  if (R == 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "reduction axis %d is empty in shape %s", axis,
                     deft_shape_format(deft_tensor_shape(x), s, sizeof s));
    return;
  }
  void *best_buf = NULL;
  if (B > 1) {
    best_buf = deft_malloc((size_t)B * deft_dtype_size(x->dtype));
    if (!best_buf) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
  }
  switch (x->dtype) {
    case DEFT_FLOAT: ARGMAX_T(float) break;
    case DEFT_DOUBLE: ARGMAX_T(double) break;
    case DEFT_INT32: ARGMAX_T(int32_t) break;
    case DEFT_INT64: ARGMAX_T(int64_t) break;
    case DEFT_UINT8: ARGMAX_T(uint8_t) break;
    default:
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft has no kernel for dtype %s",
                       deft_dtype_name(x->dtype));
      break;
  }
  deft_free(best_buf);
}

/* ---- gradients ---- */

/* FloorDiv(x, Maximum(y, 1)): TF's _safe_shape_div. */
static deft_output safe_shape_div(deft_graph *g, deft_output x, deft_output y) {
  char buf[512];
  const char *leaf = deft_leaf_name(g, NULL, "Maximum");
  snprintf(buf, sizeof buf, "%s/y", leaf ? leaf : "");
  deft_output one = deft_const_fill(g, deft_output_dtype(y), DEFT_SCALAR, 1.0, buf);
  return deft_floor_div(g, x, deft_maximum(g, y, one, NULL), "floordiv");
}

/* TF's reduced_shape: input_shape with the reduced axes set to 1, computed at run time. */
static deft_output reduced_shape(deft_graph *g, deft_output input_shape, deft_output axes) {
  if (deft_output_ok(axes) && deft_output_dtype(axes) != DEFT_INT32)
    axes = deft_cast(g, axes, DEFT_INT32, NULL);
  deft_output rank = deft_size(g, input_shape, NULL);
  axes = deft_floor_mod(g, deft_add(g, axes, rank, "add"), rank, "mod");
  deft_output axes_shape = deft_shape_of(g, axes, NULL);
  char b1[512], b2[512];
  const char *leaf = deft_leaf_name(g, NULL, "range");
  snprintf(b1, sizeof b1, "%s/start", leaf ? leaf : "");
  snprintf(b2, sizeof b2, "%s/delta", leaf ? leaf : "");
  deft_output start = deft_const_int32(g, 0, b1), delta = deft_const_int32(g, 1, b2);
  deft_output range = deft_range(g, start, rank, delta, "range");
  leaf = deft_leaf_name(g, NULL, "Fill");
  snprintf(b1, sizeof b1, "%s/value", leaf ? leaf : "");
  deft_output ones = deft_fill(g, axes_shape, deft_const_int32(g, 1, b1), NULL);
  deft_output idx[2] = {range, axes}, data[2] = {input_shape, ones};
  return deft_dynamic_stitch(g, idx, data, 2, NULL);
}

/* Static knowledge about a reduction: x's fully defined shape and constant axes. */
typedef struct static_red {
  bool known;    /* x's shape fully defined and the axes constant and valid */
  bool all_axes; /* the axes are exactly 0..rank-1 in order (TF's fast path) */
  deft_shape xs;
  bool reduce[DEFT_MAX_RANK];
} static_red;

static static_red inspect(deft_op *op) {
  static_red s;
  memset(&s, 0, sizeof s);
  s.xs = deft_output_shape(deft_op_input(op, 0));
  const deft_tensor *axes = deft_math_const_value(deft_op_input(op, 1));
  if (s.xs.rank < 0 || !axes) return s;
  s.all_axes = axes->rank <= 1 && axes->n == s.xs.rank;
  for (int64_t i = 0; s.all_axes && i < axes->n; i++)
    s.all_axes = deft_tensor_index_at(axes, i) == i;
  char msg[256];
  s.known = deft_shape_is_fully_defined(s.xs) &&
            read_axes(axes, s.xs.rank, s.reduce, msg, sizeof msg);
  return s;
}

static deft_output int_vector(deft_graph *g, const int64_t *v, int n, const char *name) {
  int32_t buf[DEFT_MAX_RANK];
  for (int i = 0; i < n; i++) buf[i] = (int32_t)v[i];
  return deft_const_int32_vector(g, buf, n, name);
}

/* The gradient of Sum: grad (the reduced shape) broadcast back to input 0's shape. */
static deft_output sum_back(deft_graph *g, deft_op *op, deft_output grad) {
  deft_output x = deft_op_input(op, 0);
  static_red s = inspect(op);
  if (s.all_axes) {
    int64_t ones[DEFT_MAX_RANK];
    for (int i = 0; i < s.xs.rank; i++) ones[i] = 1;
    grad = deft_reshape_to(g, grad, ones, s.xs.rank, NULL);
    deft_output shape = deft_shape_is_fully_defined(s.xs)
                            ? int_vector(g, s.xs.dims, s.xs.rank, "Const")
                            : deft_shape_of(g, x, NULL);
    return deft_tile(g, grad, shape, NULL);
  }
  if (s.known) {
    int64_t kept[DEFT_MAX_RANK], mult[DEFT_MAX_RANK];
    for (int i = 0; i < s.xs.rank; i++) {
      kept[i] = s.reduce[i] ? 1 : s.xs.dims[i];
      mult[i] = s.reduce[i] ? s.xs.dims[i] : 1;
    }
    grad = deft_reshape_to(g, grad, kept, s.xs.rank, NULL);
    return deft_tile(g, grad, int_vector(g, mult, s.xs.rank, "Const"), NULL);
  }
  deft_output shape = deft_shape_of(g, x, NULL);
  deft_output kept = reduced_shape(g, shape, deft_op_input(op, 1));
  deft_output scaling = safe_shape_div(g, shape, kept);
  return deft_tile(g, deft_reshape(g, grad, kept, NULL), scaling, NULL);
}

void deft_math_sum_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = sum_back(g, op, grads[0]);
}

void deft_math_mean_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                         deft_output *dx) {
  deft_output sum_grad = sum_back(g, op, grads[0]);
  deft_output y = {op, 0};
  deft_dtype dt = deft_output_dtype(grads[0]);
  deft_shape xs = deft_output_shape(deft_op_input(op, 0)), ys = deft_output_shape(y);
  deft_output factor;
  if (deft_shape_is_fully_defined(xs) && deft_shape_is_fully_defined(ys)) {
    int64_t in = deft_shape_num_elements(xs), out = deft_shape_num_elements(ys);
    factor = deft_const_fill(g, dt, DEFT_SCALAR, (double)(in / (out > 1 ? out : 1)), "Const");
  } else {
    deft_output in_shape = deft_shape_of(g, deft_op_input(op, 0), NULL);
    deft_output out_shape = deft_shape_of(g, y, NULL);
    int32_t zero = 0;
    deft_output in_n = deft_prod(g, in_shape, deft_const_int32_vector(g, &zero, 1, "Const"),
                                 false, NULL);
    deft_output out_n = deft_prod(g, out_shape, deft_const_int32_vector(g, &zero, 1, "Const"),
                                  false, NULL);
    factor = deft_cast(g, safe_shape_div(g, in_n, out_n), dt, NULL);
  }
  dx[0] = deft_div(g, sum_grad, factor, "truediv");
}

/* Prod: d/dx_i = grad * prod / x_i. Exact only for inputs without zeros (TF's cumprod-based
 * gradient handles zeros; deft has no Cumprod). */
void deft_math_prod_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                         deft_output *dx) {
  deft_output y = {op, 0};
  deft_output gy = deft_mul(g, grads[0], y, "mul");
  dx[0] = deft_div(g, sum_back(g, op, gy), deft_op_input(op, 0), "truediv");
}

/* Max (and Min, TF's _MinOrMaxGrad): the gradient is shared equally by the elements equal to
 * the maximum (minimum). */
void deft_math_max_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), axes = deft_op_input(op, 1), y = {op, 0};
  static_red s = inspect(op);
  deft_output kept;
  if (s.known) {
    int64_t k[DEFT_MAX_RANK];
    for (int i = 0; i < s.xs.rank; i++) k[i] = s.reduce[i] ? 1 : s.xs.dims[i];
    kept = int_vector(g, k, s.xs.rank, "Const");
  } else {
    kept = reduced_shape(g, deft_shape_of(g, x, NULL), axes);
  }
  deft_output y2 = deft_reshape(g, y, kept, NULL);
  deft_output g2 = deft_reshape(g, grads[0], kept, NULL);
  deft_output ind = deft_cast(g, deft_equal(g, y2, x, NULL), deft_output_dtype(grads[0]), NULL);
  deft_output num = deft_reshape(g, deft_sum(g, ind, axes, false, NULL), kept, NULL);
  dx[0] = deft_mul(g, deft_div(g, ind, num, "truediv"), g2, "mul");
}

/* ---- public constructors ---- */

static deft_output reduce_op(deft_graph *g, const char *type, deft_output x, deft_output axes,
                             bool keep_dims, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, axes);
  deft_op_builder_set_attr_bool(b, "keep_dims", keep_dims);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : NONE;
}

deft_output deft_sum(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                     const char *name) {
  return reduce_op(g, "Sum", x, axes, keep_dims, name);
}
deft_output deft_mean(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                      const char *name) {
  return reduce_op(g, "Mean", x, axes, keep_dims, name);
}
deft_output deft_prod(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                      const char *name) {
  return reduce_op(g, "Prod", x, axes, keep_dims, name);
}
deft_output deft_max(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                     const char *name) {
  return reduce_op(g, "Max", x, axes, keep_dims, name);
}
deft_output deft_min(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                     const char *name) {
  return reduce_op(g, "Min", x, axes, keep_dims, name);
}
deft_output deft_all(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                     const char *name) {
  return reduce_op(g, "All", x, axes, keep_dims, name);
}
deft_output deft_any(deft_graph *g, deft_output x, deft_output axes, bool keep_dims,
                     const char *name) {
  return reduce_op(g, "Any", x, axes, keep_dims, name);
}

/* TF's reduce_* with Python axes: NULL axes become the Const "Const" (all axes, made before and
 * outside the op's scope) or Range(0, Rank(x)) when the rank is unknown; literal axes become
 * "<op>/reduction_indices", as TF converts a Python list inside the op's scope. */
static deft_output reduce_literal(deft_graph *g, const char *type, deft_output x,
                                  const int32_t *axes, int n, bool keep_dims, const char *name) {
  if (!deft_inputs_ok(g, type, &x, 1)) return NONE;
  deft_output ax;
  if (axes) {
    if (n < 0) {
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s '%s': negative axis count %d", type,
                      name ? name : type, n);
      return NONE;
    }
    char buf[512];
    const char *leaf = deft_leaf_name(g, name, type);
    if (!leaf) return NONE;
    snprintf(buf, sizeof buf, "%s/reduction_indices", leaf);
    ax = deft_const_int32_vector(g, axes, n, buf);
  } else {
    int rank = deft_output_shape(x).rank;
    if (rank >= 0) {
      int32_t all[DEFT_MAX_RANK];
      for (int i = 0; i < rank; i++) all[i] = i;
      ax = deft_const_int32_vector(g, all, rank, "Const");
    } else {
      const char *leaf = deft_leaf_name(g, NULL, "range");
      char b1[512], b2[512];
      snprintf(b1, sizeof b1, "%s/start", leaf ? leaf : "");
      snprintf(b2, sizeof b2, "%s/delta", leaf ? leaf : "");
      deft_output start = deft_const_int32(g, 0, b1);
      deft_output r = deft_rank(g, x, NULL);
      ax = deft_range(g, start, r, deft_const_int32(g, 1, b2), "range");
    }
  }
  return reduce_op(g, type, x, ax, keep_dims, name);
}

deft_output deft_reduce_mean(deft_graph *g, deft_output x, const int32_t *axes, int n,
                             bool keep_dims, const char *name) {
  return reduce_literal(g, "Mean", x, axes, n, keep_dims, name);
}
deft_output deft_reduce_sum(deft_graph *g, deft_output x, const int32_t *axes, int n,
                            bool keep_dims, const char *name) {
  return reduce_literal(g, "Sum", x, axes, n, keep_dims, name);
}

deft_output deft_argmax(deft_graph *g, deft_output x, int axis, const char *name) {
  if (!deft_inputs_ok(g, "ArgMax", &x, 1)) return NONE;
  char buf[512];
  const char *leaf = deft_leaf_name(g, name, "ArgMax");
  if (!leaf) return NONE;
  snprintf(buf, sizeof buf, "%s/dimension", leaf);
  deft_output dim = deft_const_int32(g, axis, buf);
  deft_op_builder *b = deft_op_builder_new(g, "ArgMax", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, dim);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return op ? o : NONE;
}
