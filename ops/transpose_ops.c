/* SPDX-License-Identifier: Apache-2.0 */
/* ops/transpose_ops.c - Transpose and InvertPermutation: definition, shape function, kernel and
 * gradient side by side, plus the public constructors.
 *
 * Transpose's kernel merges input dims that stay adjacent and in order under the permutation,
 * so a permutation that moves whole rows copies rows with memcpy; a 2-D (after merging)
 * transpose of 4- or 8-byte elements goes through cache-sized square tiles; anything else walks
 * the output in order with a strided inner loop. Every dtype is handled (strings deep copied). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n);

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

/* Checks that perm (n entries) is a permutation of 0..n-1; false with msg set. */
static bool check_perm(const int64_t *perm, int n, char *msg, size_t len) {
  bool seen[DEFT_MAX_RANK] = {false};
  if (n > DEFT_MAX_RANK) {
    snprintf(msg, len, "perm has %d entries; deft supports rank %d", n, DEFT_MAX_RANK);
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= n) {
      snprintf(msg, len, "perm[%d] = %" PRId64 " is out of range [0, %d)", i, perm[i], n);
      return false;
    }
    if (seen[perm[i]]) {
      snprintf(msg, len, "perm holds %" PRId64 " twice, so it is not a permutation", perm[i]);
      return false;
    }
    seen[perm[i]] = true;
  }
  return true;
}

/* ---- Transpose ---- */

static void transpose_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0), ps = deft_shape_ctx_input(c, 1);
  const deft_tensor *pt = deft_shape_ctx_input_const(c, 1);
  char msg[256], sh[64];
  if (ps.rank >= 0 && ps.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "perm must be a vector, got shape %s",
                    deft_shape_format(ps, sh, sizeof sh));
    return;
  }
  int r = x.rank >= 0 ? x.rank : (ps.rank == 1 && ps.dims[0] >= 0 ? (int)ps.dims[0] : -1);
  if (r < 0) return;
  if ((ps.rank == 1 && ps.dims[0] >= 0 && ps.dims[0] != r) || (pt && pt->n != r)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "perm must have one entry per dimension of the input (%d), got shape %s", r,
                    deft_shape_format(ps, sh, sizeof sh));
    return;
  }
  deft_shape out = deft_shape_unknown();
  out.rank = r;
  for (int k = 0; k < r; k++) out.dims[k] = -1;
  if (pt) {
    int64_t perm[DEFT_MAX_RANK] = {0};
    for (int k = 0; k < r; k++) perm[k] = deft_tensor_index_at(pt, k);
    if (!check_perm(perm, r, msg, sizeof msg)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
      return;
    }
    for (int k = 0; k < r && x.rank >= 0; k++) out.dims[k] = x.dims[perm[k]];
  }
  deft_shape_ctx_set_output(c, 0, out);
}

typedef struct transpose_params {
  int rank;
  int64_t perm[DEFT_MAX_RANK];
} transpose_params;

static bool transpose_params_of(deft_kernel_ctx *c, const deft_tensor *x, transpose_params *p) {
  const deft_tensor *pt = deft_kernel_input(c, 1);
  char msg[256], a[128], b[128];
  if (pt->rank != 1 || pt->n != x->rank) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "perm must be a vector with one entry per dimension of the input (shape "
                     "%s), got shape %s", tshape(x, a, sizeof a), tshape(pt, b, sizeof b));
    return false;
  }
  p->rank = x->rank;
  for (int k = 0; k < x->rank; k++) p->perm[k] = deft_tensor_index_at(pt, k);
  if (!check_perm(p->perm, x->rank, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return false;
  }
  return true;
}

#define TILE 32
#define TILED(T)                                                                      \
  do {                                                                                \
    const T *restrict s_ = (const T *)src;                                            \
    T *restrict d_ = (T *)dst;                                                        \
    for (int64_t i0 = 0; i0 < rows; i0 += TILE)                                       \
      for (int64_t j0 = 0; j0 < cols; j0 += TILE) {                                   \
        int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;                             \
        int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;                             \
        for (int64_t j = j0; j < j1; j++)                                             \
          for (int64_t i = i0; i < i1; i++) d_[j * rows + i] = s_[i * cols + j];      \
      }                                                                               \
  } while (0)

/* dst [cols, rows] = transpose of src [rows, cols] for each of `batch` matrices. */
static void transpose_2d(char *dst, const char *src, int64_t batch, int64_t rows, int64_t cols,
                         size_t es) {
  for (int64_t b = 0; b < batch; b++) {
    if (es == 4) TILED(uint32_t);
    else if (es == 8) TILED(uint64_t);
    else if (es == 2) TILED(uint16_t);
    else TILED(uint8_t);
    src += (size_t)(rows * cols) * es;
    dst += (size_t)(rows * cols) * es;
  }
}

static void transpose_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  transpose_params p = {0, {0}};
  if (!transpose_params_of(c, x, &p)) return;
  int r = p.rank;
  int64_t odims[DEFT_MAX_RANK];
  for (int k = 0; k < r; k++) odims[k] = x->dims[p.perm[k]];
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, odims, r);
  if (!o || o->n == 0) return;
  /* Merge: drop size-1 dims, then fuse output dims k, k+1 whose input dims are adjacent. */
  int64_t istride[DEFT_MAX_RANK];
  int64_t s = 1;
  for (int k = r - 1; k >= 0; k--) istride[k] = s, s *= x->dims[k];
  int64_t size[DEFT_MAX_RANK], step[DEFT_MAX_RANK];
  int m = 0;
  for (int k = 0; k < r; k++) {
    int64_t d = odims[k], st = istride[p.perm[k]];
    if (d == 1) continue;
    if (m > 0 && step[m - 1] == st * d) {
      size[m - 1] *= d;
      step[m - 1] = st;
      continue;
    }
    size[m] = d, step[m] = st, m++;
  }
  size_t es = deft_dtype_size(x->dtype);
  const char *src = x->buf->data;
  char *dst = o->buf->data;
  bool str = x->dtype == DEFT_STRING;
  if (m <= 1) { /* order unchanged */
    if (!deft_array_copy_elems(o, 0, x, 0, x->n))
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
    return;
  }
  /* [batch, a, b] -> [batch, b, a]: output dims (batch?, b, a) with steps (a*b, 1, b). */
  if (!str && (m == 2 || (m == 3 && step[0] == size[1] * size[2])) && step[m - 2] == 1 &&
      step[m - 1] == size[m - 2]) {
    int64_t batch = m == 3 ? size[0] : 1, rows = size[m - 1], cols = size[m - 2];
    transpose_2d(dst, src, batch, rows, cols, es);
    return;
  }
  int64_t idx[DEFT_MAX_RANK] = {0}, row = size[m - 1], rstep = step[m - 1], pos = 0;
  for (;;) {
    int64_t off = 0;
    for (int k = 0; k < m - 1; k++) off += idx[k] * step[k];
    if (str) {
      for (int64_t i = 0; i < row; i++)
        if (!deft_array_copy_elems(o, pos + i, x, off + i * rstep, 1)) {
          deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
          return;
        }
    } else if (rstep == 1) {
      memcpy(dst + (size_t)pos * es, src + (size_t)off * es, (size_t)row * es);
    } else if (es == 4) {
      const uint32_t *sp = (const uint32_t *)src + off;
      uint32_t *dp = (uint32_t *)dst + pos;
      for (int64_t i = 0; i < row; i++) dp[i] = sp[i * rstep];
    } else if (es == 8) {
      const uint64_t *sp = (const uint64_t *)src + off;
      uint64_t *dp = (uint64_t *)dst + pos;
      for (int64_t i = 0; i < row; i++) dp[i] = sp[i * rstep];
    } else {
      for (int64_t i = 0; i < row; i++)
        memcpy(dst + (size_t)(pos + i) * es, src + (size_t)(off + i * rstep) * es, es);
    }
    pos += row;
    int k = m - 2;
    for (; k >= 0; k--) {
      if (++idx[k] < size[k]) break;
      idx[k] = 0;
    }
    if (k < 0) break;
  }
}

/* TF: transpose(grad, invert_permutation(perm)). */
static void transpose_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                           deft_output *dx) {
  deft_output inv = deft_invert_permutation(g, deft_op_input(op, 1), NULL);
  dx[0] = deft_transpose(g, grads[0], inv, NULL);
}

deft_output deft_transpose(deft_graph *g, deft_output x, deft_output perm, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Transpose", name ? name : "transpose");
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, perm);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- InvertPermutation ---- */

static void invert_permutation_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0);
  char sh[64];
  if (x.rank >= 0 && x.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "x must be a vector, got shape %s",
                    deft_shape_format(x, sh, sizeof sh));
    return;
  }
  deft_shape_ctx_set_output(c, 0, x);
}

static void invert_permutation_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  char sh[64];
  if (x->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "x must be a vector, got shape %s",
                     tshape(x, sh, sizeof sh));
    return;
  }
  if (x->n > INT32_MAX) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "x has %" PRId64 " entries; at most 2^31-1",
                     x->n);
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, 1);
  if (!o) return;
  int64_t n = x->n;
  if (x->dtype == DEFT_INT32) {
    const int32_t *v = deft_tensor_i32(x);
    int32_t *y = deft_tensor_i32(o);
    for (int64_t i = 0; i < n; i++) y[i] = -1;
    for (int64_t i = 0; i < n; i++) {
      if (v[i] < 0 || v[i] >= n || y[v[i]] != -1) {
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "x[%" PRId64 "] = %d: x is not a permutation of 0..%" PRId64, i,
                         (int)v[i], n - 1);
        return;
      }
      y[v[i]] = (int32_t)i;
    }
  } else {
    const int64_t *v = deft_tensor_i64(x);
    int64_t *y = deft_tensor_i64(o);
    for (int64_t i = 0; i < n; i++) y[i] = -1;
    for (int64_t i = 0; i < n; i++) {
      if (v[i] < 0 || v[i] >= n || y[v[i]] != -1) {
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "x[%" PRId64 "] = %" PRId64 ": x is not a permutation of 0..%" PRId64,
                         i, v[i], n - 1);
        return;
      }
      y[v[i]] = i;
    }
  }
}

deft_output deft_invert_permutation(deft_graph *g, deft_output x, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "InvertPermutation", name);
  deft_op_builder_add_input(b, x);
  return outn(deft_op_builder_finish(b), 0);
}

static const deft_op_def transpose_defs[] = {
    {.type = "Transpose", .inputs = "x: T, perm: Tperm", .outputs = "y: T",
     .attrs = "T: type, Tperm: {int32, int64} = DT_INT32", .shape = transpose_shape,
     .kernel = transpose_kernel, .grad = transpose_grad},
    {.type = "InvertPermutation", .inputs = "x: T", .outputs = "y: T",
     .attrs = "T: {int32, int64} = DT_INT32", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = invert_permutation_shape, .kernel = invert_permutation_kernel},
};

DEFT_FAMILY(deft_ops_transpose, transpose_defs);
