/* SPDX-License-Identifier: Apache-2.0 */
/* ops/space_ops.c - moving spatial blocks into the batch or the depth and back: SpaceToBatchND,
 * BatchToSpaceND, their 4-D forms SpaceToBatch and BatchToSpace (an int block_size), and
 * SpaceToDepth / DepthToSpace: definitions, shape functions, prepare steps, kernels and
 * gradients side by side, plus the public constructors.
 *
 * SpaceToBatchND(input [B, S_1..S_M, R...], block_shape [M], paddings [M, 2]) zero-pads each
 * spatial axis k by paddings[k], splits it into (S_k + pads) / b_k blocks of b_k, and moves the
 * block offsets (o_1..o_M, row-major) in front of the batch: output[(o * B) + n, i_1..i_M, r] =
 * padded[n, i_1 * b_1 + o_1, .., r], of shape [B * prod(b), (S_k + pads) / b_k.., R...].
 * BatchToSpaceND is its inverse, cropping crops[k] from the rebuilt axes. This is how TF 1.x's
 * tf.nn.convolution / atrous_conv2d writes a dilated convolution (SpaceToBatchND, a VALID
 * Conv2D, BatchToSpaceND). SpaceToDepth(block_size bs) moves each bs x bs block of an NHWC image
 * into the channels: output[n, h, w, (i * bs + j) * C + c] = input[n, h * bs + i, w * bs + j, c];
 * DepthToSpace is its inverse. As in TF's CPU kernels, only NHWC runs (NCHW and NCHW_VECT_C fail
 * with UNIMPLEMENTED naming the node). Kernels copy elements of any fixed-size dtype. The
 * gradients are TF 1.x's array_grad.py ones: each op's gradient is its inverse with the same
 * block and paddings/crops. */
#include <stdio.h>
#include <string.h>

#include "base/tensor_internal.h"
#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"

/* Bounds on block sizes and paddings/crops, far beyond any real model and small enough that
 * products of them with dims stay in range before the checked products below. */
#define MAX_BLOCK ((int64_t)1 << 30)
#define MAX_PAD ((int64_t)1 << 40)

typedef enum space_kind {
  TO_BATCH_ND,   /* SpaceToBatchND */
  FROM_BATCH_ND, /* BatchToSpaceND */
  TO_BATCH,      /* SpaceToBatch (block_size attr) */
  FROM_BATCH,    /* BatchToSpace */
  TO_DEPTH,      /* SpaceToDepth */
  FROM_DEPTH     /* DepthToSpace */
} space_kind;

typedef struct space_params {
  space_kind kind;
  int64_t block_size; /* the v1 and depth ops' attr */
} space_params;

static space_kind kind_of(const char *type) {
  if (!strcmp(type, "SpaceToBatchND"))
    return TO_BATCH_ND;
  if (!strcmp(type, "BatchToSpaceND"))
    return FROM_BATCH_ND;
  if (!strcmp(type, "SpaceToBatch"))
    return TO_BATCH;
  if (!strcmp(type, "BatchToSpace"))
    return FROM_BATCH;
  if (!strcmp(type, "SpaceToDepth"))
    return TO_DEPTH;
  return FROM_DEPTH;
}

static bool to_space(space_kind k) { return k == FROM_BATCH_ND || k == FROM_BATCH; }

/* The geometry of one SpaceToBatch-family op: the batch tensor's and the space tensor's dims
 * and the mapping between them. */
typedef struct space_geom {
  int m; /* number of block axes */
  int64_t block[DEFT_MAX_RANK];
  int64_t before[DEFT_MAX_RANK], after[DEFT_MAX_RANK]; /* paddings (to batch) or crops */
  int64_t prod_block;
} space_geom;

/* Reads an int32/int64 tensor's element i. */
static int64_t int_at(const deft_tensor *t, int64_t i) {
  return t->dtype == DEFT_INT32 ? deft_tensor_i32(t)[i] : deft_tensor_i64(t)[i];
}

/* Reads block_shape (a [M] vector, or NULL with block_size for the v1 ops) and the [M, 2]
 * paddings/crops into geom, checking their shapes and ranges against an input of rank `rank`.
 * Writes a message into err on failure. */
static bool read_geom(const deft_tensor *block, int64_t block_size, const deft_tensor *pads,
                      const char *what, int rank, space_geom *gm, char *err, size_t size) {
  int m = 2;
  if (block) {
    if (!block->buf || block->rank != 1 ||
        (block->dtype != DEFT_INT32 && block->dtype != DEFT_INT64)) {
      snprintf(err, size, "block_shape must be an int32/int64 vector");
      return false;
    }
    if (block->dims[0] < 1 || block->dims[0] > rank - 1) {
      snprintf(err, size, "block_shape has %lld elements; it needs 1 to rank(input) - 1 = %d",
               (long long)block->dims[0], rank - 1);
      return false;
    }
    m = (int)block->dims[0];
  } else if (rank != 4) {
    snprintf(err, size, "input must be 4-D, got rank %d", rank);
    return false;
  }
  if (!pads || !pads->buf || pads->rank != 2 || pads->dims[0] != m || pads->dims[1] != 2 ||
      (pads->dtype != DEFT_INT32 && pads->dtype != DEFT_INT64)) {
    snprintf(err, size, "%s must be an int32/int64 matrix [%d, 2]", what, m);
    return false;
  }
  gm->m = m;
  gm->prod_block = 1;
  for (int k = 0; k < m; k++) {
    int64_t b = block ? int_at(block, k) : block_size;
    if (b < 1 || b > MAX_BLOCK) {
      snprintf(err, size, "block_shape[%d] = %lld must be in [1, 2^30]", k, (long long)b);
      return false;
    }
    gm->block[k] = b;
    if (__builtin_mul_overflow(gm->prod_block, b, &gm->prod_block) || gm->prod_block > MAX_PAD) {
      snprintf(err, size, "the product of block_shape overflows");
      return false;
    }
    for (int j = 0; j < 2; j++) {
      int64_t v = int_at(pads, 2 * k + j);
      if (v < 0 || v > MAX_PAD) {
        snprintf(err, size, "%s[%d, %d] = %lld must be in [0, 2^40]", what, k, j, (long long)v);
        return false;
      }
      (j ? gm->after : gm->before)[k] = v;
    }
  }
  return true;
}

/* Output dims of a SpaceToBatch-family op from its input's (entries < 0 unknown), or false with
 * a message when known dims do not divide. */
static bool geom_output(const space_geom *gm, bool to_sp, int rank, const int64_t *in, int64_t *out,
                        char *err, size_t size) {
  for (int i = 0; i < rank; i++)
    out[i] = in[i];
  if (in[0] >= 0) {
    if (!to_sp) {
      if (__builtin_mul_overflow(in[0], gm->prod_block, &out[0])) {
        snprintf(err, size, "the output batch overflows");
        return false;
      }
    } else if (in[0] % gm->prod_block) {
      snprintf(err, size,
               "the input batch %lld is not divisible by the product of block_shape "
               "%lld",
               (long long)in[0], (long long)gm->prod_block);
      return false;
    } else {
      out[0] = in[0] / gm->prod_block;
    }
  }
  for (int k = 0; k < gm->m; k++) {
    int64_t d = in[1 + k];
    if (d < 0)
      continue;
    int64_t p = gm->before[k] + gm->after[k];
    if (!to_sp) {
      if ((d + p) % gm->block[k]) {
        snprintf(err, size,
                 "the padded size %lld of spatial dimension %d is not divisible by "
                 "block_shape[%d] = %lld",
                 (long long)(d + p), k, k, (long long)gm->block[k]);
        return false;
      }
      out[1 + k] = (d + p) / gm->block[k];
    } else {
      int64_t full;
      if (__builtin_mul_overflow(d, gm->block[k], &full) || full < p) {
        snprintf(err, size,
                 "crops of spatial dimension %d (%lld, %lld) exceed its size %lld x "
                 "%lld",
                 k, (long long)gm->before[k], (long long)gm->after[k], (long long)d,
                 (long long)gm->block[k]);
        return false;
      }
      out[1 + k] = full - p;
    }
  }
  return true;
}

/* The output dims of SpaceToDepth/DepthToSpace on NHWC input dims (entries < 0 unknown). */
static bool depth_output(int64_t bs, bool to_depth, const int64_t *in, int64_t *out, char *err,
                         size_t size) {
  out[0] = in[0];
  int64_t sq = bs * bs;
  for (int k = 1; k <= 2; k++) {
    if (in[k] < 0) {
      out[k] = -1;
    } else if (to_depth) {
      if (in[k] % bs) {
        snprintf(err, size, "dimension %d of size %lld is not divisible by block_size %lld", k,
                 (long long)in[k], (long long)bs);
        return false;
      }
      out[k] = in[k] / bs;
    } else if (__builtin_mul_overflow(in[k], bs, &out[k])) {
      snprintf(err, size, "the output shape overflows");
      return false;
    }
  }
  if (in[3] < 0) {
    out[3] = -1;
  } else if (to_depth) {
    if (__builtin_mul_overflow(in[3], sq, &out[3])) {
      snprintf(err, size, "the output depth overflows");
      return false;
    }
  } else if (in[3] % sq) {
    snprintf(err, size, "the input depth %lld is not divisible by block_size^2 = %lld",
             (long long)in[3], (long long)sq);
    return false;
  } else {
    out[3] = in[3] / sq;
  }
  return true;
}

/* Checks the v1 and depth ops' attrs: block_size, and with check_format data_format (only NHWC
 * runs; a graph holding another still builds and imports). Writes the failure's code and
 * message. */
static bool attrs_ok(const deft_op *op, space_kind kind, bool check_format, int64_t *bs, char *err,
                     size_t size, deft_code *code) {
  *bs = 0;
  *code = DEFT_INVALID_ARGUMENT;
  if (kind == TO_BATCH_ND || kind == FROM_BATCH_ND)
    return true;
  if (!deft_op_attr_int(op, "block_size", bs) || *bs < 2 || *bs > MAX_BLOCK) {
    snprintf(err, size, "block_size must be an int in [2, 2^30]");
    return false;
  }
  if (check_format && (kind == TO_DEPTH || kind == FROM_DEPTH)) {
    const char *fmt = "NHWC";
    deft_op_attr_string(op, "data_format", &fmt, NULL);
    if (strcmp(fmt, "NHWC")) {
      *code = strcmp(fmt, "NCHW") && strcmp(fmt, "NCHW_VECT_C") ? DEFT_INVALID_ARGUMENT
                                                                : DEFT_UNIMPLEMENTED;
      snprintf(err, size, "data_format %s %s", fmt,
               *code == DEFT_UNIMPLEMENTED ? "is not supported on the CPU (only NHWC)"
                                           : "is not NHWC, NCHW or NCHW_VECT_C");
      return false;
    }
  }
  return true;
}

static void space_shape(deft_shape_ctx *c) {
  space_kind kind = kind_of(deft_op_type(c->op));
  char err[256], sh[128];
  int64_t bs;
  deft_code code;
  if (!attrs_ok(c->op, kind, false, &bs, err, sizeof err, &code)) {
    deft_shape_fail(c, code, "%s", err);
    return;
  }
  const char *fmt = "NHWC";
  deft_op_attr_string(c->op, "data_format", &fmt, NULL);
  deft_shape in = deft_shape_ctx_input(c, 0), out = in;
  if (kind == TO_DEPTH || kind == FROM_DEPTH) {
    if (in.rank >= 0 && in.rank != 4) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input must be 4-D, got %s",
                      deft_shape_format(in, sh, sizeof sh));
      return;
    }
    if (in.rank < 0) {
      int64_t unknown[4] = {-1, -1, -1, -1};
      in = deft_shape_make(4, unknown);
    }
    out = in;
    if (strcmp(fmt, "NHWC")) { /* builds; fails to run (prepare) */
      for (int i = 0; i < 4; i++)
        out.dims[i] = -1;
    } else if (!depth_output(bs, kind == TO_DEPTH, in.dims, out.dims, err, sizeof err)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
      return;
    }
    deft_shape_ctx_set_output(c, 0, out);
    return;
  }
  bool nd = kind == TO_BATCH_ND || kind == FROM_BATCH_ND;
  int pi = nd ? 2 : 1; /* the paddings/crops input */
  deft_shape ps = deft_shape_ctx_input(c, pi);
  int m = 2;
  if (nd) {
    deft_shape bsh = deft_shape_ctx_input(c, 1);
    if (bsh.rank >= 0 && bsh.rank != 1) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "block_shape must be a vector, got %s",
                      deft_shape_format(bsh, sh, sizeof sh));
      return;
    }
    m = bsh.rank == 1 && bsh.dims[0] >= 0 ? (int)bsh.dims[0] : -1;
    if (m == 0 || m >= DEFT_MAX_RANK || (m > 0 && in.rank >= 0 && m > in.rank - 1)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "block_shape has %d elements; it needs 1 to "
                      "rank(input) - 1 (input %s)",
                      m, deft_shape_format(in, sh, sizeof sh));
      return;
    }
  } else if (in.rank >= 0 && in.rank != 4) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input must be 4-D, got %s",
                    deft_shape_format(in, sh, sizeof sh));
    return;
  }
  if (ps.rank >= 0 && (ps.rank != 2 || (ps.dims[1] >= 0 && ps.dims[1] != 2) ||
                       (m > 0 && ps.dims[0] >= 0 && ps.dims[0] != m))) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s must be [%d, 2], got %s",
                    to_space(kind) ? "crops" : "paddings", m, deft_shape_format(ps, sh, sizeof sh));
    return;
  }
  if (!nd && in.rank < 0) {
    int64_t unknown[4] = {-1, -1, -1, -1};
    in = deft_shape_make(4, unknown);
  }
  out = in;
  const deft_tensor *bv = nd ? deft_shape_ctx_input_const(c, 1) : NULL;
  const deft_tensor *pv = deft_shape_ctx_input_const(c, pi);
  space_geom gm;
  if (in.rank >= 0 && (bv || !nd) && pv) {
    if (!read_geom(bv, bs, pv, to_space(kind) ? "crops" : "paddings", in.rank, &gm, err,
                   sizeof err) ||
        !geom_output(&gm, to_space(kind), in.rank, in.dims, out.dims, err, sizeof err)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
      return;
    }
  } else if (in.rank >= 0) {
    /* the batch and the block axes change; the remaining axes stay */
    int lim = m > 0 ? 1 + m : in.rank;
    for (int i = 0; i < lim && i < in.rank; i++)
      out.dims[i] = -1;
  }
  deft_shape_ctx_set_output(c, 0, out);
}

static void space_prepare(deft_prepare_ctx *p) {
  const deft_op *op = deft_prepare_op(p);
  space_kind kind = kind_of(deft_op_type(op));
  char err[256];
  int64_t bs;
  deft_code code;
  if (!attrs_ok(op, kind, true, &bs, err, sizeof err, &code)) {
    deft_prepare_fail(p, code, "%s", err);
    return;
  }
  if (deft_prepare_output_dtype(p, 0) == DEFT_STRING) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "no CPU kernel for string tensors");
    return;
  }
  space_params *sp = deft_prepare_params(p, sizeof *sp);
  if (!sp)
    return;
  sp->kind = kind;
  sp->block_size = bs;
}

/* Copies between a batch tensor (SpaceToBatch's output, BatchToSpace's input) and a space
 * tensor: every batch element whose space position lies outside the space tensor (a padding)
 * is zeroed when writing the batch tensor and skipped when writing the space tensor. */
static void batch_space_copy(const space_geom *gm, unsigned char *batch, const int64_t *bdims,
                             unsigned char *space, const int64_t *sdims, int rank, size_t es,
                             bool write_space) {
  int m = gm->m;
  size_t inner = es; /* bytes per (batch, spatial...) position: the remaining axes */
  for (int i = 1 + m; i < rank; i++)
    inner *= (size_t)bdims[i];
  int64_t sb = sdims[0], positions = 1;
  for (int k = 0; k < m; k++)
    positions *= bdims[1 + k];
  int64_t off[DEFT_MAX_RANK], idx[DEFT_MAX_RANK];
  for (int64_t ob = 0; ob < bdims[0]; ob++) {
    int64_t n = ob % sb, o = ob / sb;
    for (int k = m - 1; k >= 0; k--) { /* block offsets, row-major */
      off[k] = o % gm->block[k];
      o /= gm->block[k];
    }
    for (int k = 0; k < m; k++)
      idx[k] = 0;
    unsigned char *bp = batch + (size_t)ob * (size_t)positions * inner;
    for (int64_t e = 0; e < positions; e++, bp += inner) {
      int64_t s = n;
      bool inside = true;
      for (int k = 0; k < m; k++) {
        int64_t y = idx[k] * gm->block[k] + off[k] - gm->before[k];
        if (y < 0 || y >= sdims[1 + k]) {
          inside = false;
          break;
        }
        s = s * sdims[1 + k] + y;
      }
      if (inside) {
        unsigned char *spp = space + (size_t)s * inner;
        if (write_space)
          memcpy(spp, bp, inner);
        else
          memcpy(bp, spp, inner);
      } else if (!write_space) {
        memset(bp, 0, inner);
      }
      for (int k = m - 1; k >= 0 && ++idx[k] == bdims[1 + k]; k--)
        idx[k] = 0;
    }
  }
}

static void space_kernel(deft_kernel_ctx *c) {
  const space_params *sp = deft_kernel_params(c);
  const deft_tensor *x = deft_kernel_input(c, 0);
  int rank = x->rank;
  size_t es = deft_dtype_size(x->dtype);
  char err[256];
  int64_t od[DEFT_MAX_RANK];
  if (sp->kind == TO_DEPTH || sp->kind == FROM_DEPTH) {
    if (rank != 4) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input must be 4-D, got rank %d", rank);
      return;
    }
    bool to_depth = sp->kind == TO_DEPTH;
    if (!depth_output(sp->block_size, to_depth, x->dims, od, err, sizeof err)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
      return;
    }
    deft_tensor *y = deft_kernel_output(c, 0, x->dtype, od, 4);
    if (!y || y->n == 0)
      return;
    /* s = the space-side (larger spatial) dims, d = the depth side */
    const int64_t *s = to_depth ? x->dims : od, *d = to_depth ? od : x->dims;
    int64_t bs = sp->block_size;
    size_t chunk = (size_t)s[3] * es; /* the space side's channels, contiguous on both sides */
    const unsigned char *xp = x->buf->data;
    unsigned char *yp = y->buf->data;
    for (int64_t n = 0; n < d[0]; n++)
      for (int64_t h = 0; h < d[1]; h++)
        for (int64_t i = 0; i < bs; i++)
          for (int64_t w = 0; w < d[2]; w++)
            for (int64_t j = 0; j < bs; j++) {
              size_t so = (size_t)(((n * s[1] + h * bs + i) * s[2] + w * bs + j)) * chunk;
              size_t dof = (size_t)((n * d[1] + h) * d[2] + w) * (size_t)d[3] * es +
                           (size_t)(i * bs + j) * chunk;
              if (to_depth)
                memcpy(yp + dof, xp + so, chunk);
              else
                memcpy(yp + so, xp + dof, chunk);
            }
    return;
  }
  bool nd = sp->kind == TO_BATCH_ND || sp->kind == FROM_BATCH_ND;
  bool to_sp = to_space(sp->kind);
  space_geom gm;
  if (!read_geom(nd ? deft_kernel_input(c, 1) : NULL, sp->block_size,
                 deft_kernel_input(c, nd ? 2 : 1), to_sp ? "crops" : "paddings", rank, &gm, err,
                 sizeof err) ||
      !geom_output(&gm, to_sp, rank, x->dims, od, err, sizeof err)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", err);
    return;
  }
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, od, rank);
  if (!y || y->n == 0)
    return;
  unsigned char *xp = x->buf->data, *yp = y->buf->data;
  if (to_sp)
    batch_space_copy(&gm, xp, x->dims, yp, od, rank, es, true);
  else
    batch_space_copy(&gm, yp, od, xp, x->dims, rank, es, false);
}

/* ---- constructors ---- */

static deft_output none_output(void) {
  deft_output o = {NULL, 0};
  return o;
}

static deft_output build_block(deft_graph *g, const char *type, deft_output x, deft_output p,
                               int64_t block_size, const char *data_format, const char *name) {
  deft_output in[2] = {x, p};
  if (!deft_inputs_ok(g, type, in, data_format ? 1 : 2))
    return none_output();
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  if (!data_format)
    deft_op_builder_add_input(b, p);
  deft_op_builder_set_attr_int(b, "block_size", block_size);
  if (data_format)
    deft_op_builder_set_attr_string(b, "data_format", data_format, strlen(data_format));
  deft_op *op = deft_op_builder_finish(b);
  if (!op)
    return none_output();
  deft_output o = {op, 0};
  return o;
}

deft_output deft_space_to_batch_nd(deft_graph *g, deft_output x, deft_output block_shape,
                                   deft_output paddings, const char *name) {
  deft_output in[3] = {x, block_shape, paddings};
  return deft_build_simple(g, "SpaceToBatchND", name, in, 3);
}

deft_output deft_batch_to_space_nd(deft_graph *g, deft_output x, deft_output block_shape,
                                   deft_output crops, const char *name) {
  deft_output in[3] = {x, block_shape, crops};
  return deft_build_simple(g, "BatchToSpaceND", name, in, 3);
}

deft_output deft_space_to_batch(deft_graph *g, deft_output x, deft_output paddings,
                                int64_t block_size, const char *name) {
  return build_block(g, "SpaceToBatch", x, paddings, block_size, NULL, name);
}

deft_output deft_batch_to_space(deft_graph *g, deft_output x, deft_output crops, int64_t block_size,
                                const char *name) {
  return build_block(g, "BatchToSpace", x, crops, block_size, NULL, name);
}

deft_output deft_space_to_depth(deft_graph *g, deft_output x, int64_t block_size,
                                const char *data_format, const char *name) {
  return build_block(g, "SpaceToDepth", x, none_output(), block_size,
                     data_format ? data_format : "NHWC", name);
}

deft_output deft_depth_to_space(deft_graph *g, deft_output x, int64_t block_size,
                                const char *data_format, const char *name) {
  return build_block(g, "DepthToSpace", x, none_output(), block_size,
                     data_format ? data_format : "NHWC", name);
}

/* ---- gradients (TF 1.x array_grad.py: each op's gradient is its inverse) ---- */

static void s2b_nd_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_batch_to_space_nd(g, grads[0], deft_op_input(op, 1), deft_op_input(op, 2), NULL);
}

static void b2s_nd_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_space_to_batch_nd(g, grads[0], deft_op_input(op, 1), deft_op_input(op, 2), NULL);
}

static int64_t block_size_of(const deft_op *op) {
  int64_t bs = 0;
  deft_op_attr_int(op, "block_size", &bs);
  return bs;
}

static const char *format_of(const deft_op *op) {
  const char *fmt = "NHWC";
  deft_op_attr_string(op, "data_format", &fmt, NULL);
  return fmt;
}

static void s2b_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_batch_to_space(g, grads[0], deft_op_input(op, 1), block_size_of(op), NULL);
}

static void b2s_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_space_to_batch(g, grads[0], deft_op_input(op, 1), block_size_of(op), NULL);
}

static void s2d_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_depth_to_space(g, grads[0], block_size_of(op), format_of(op), NULL);
}

static void d2s_grad_fn(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_space_to_depth(g, grads[0], block_size_of(op), format_of(op), NULL);
}

#define INT_TYPES(a) a ": {int32, int64} = DT_INT32"
#define FORMATS "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"

static const deft_op_def space_defs[] = {
    {.type = "SpaceToBatchND",
     .inputs = "input: T, block_shape: Tblock_shape, paddings: Tpaddings",
     .outputs = "output: T",
     .attrs = "T: type, " INT_TYPES("Tblock_shape") ", " INT_TYPES("Tpaddings"),
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = s2b_nd_grad_fn},
    {.type = "BatchToSpaceND",
     .inputs = "input: T, block_shape: Tblock_shape, crops: Tcrops",
     .outputs = "output: T",
     .attrs = "T: type, " INT_TYPES("Tblock_shape") ", " INT_TYPES("Tcrops"),
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = b2s_nd_grad_fn},
    {.type = "SpaceToBatch",
     .inputs = "input: T, paddings: Tpaddings",
     .outputs = "output: T",
     .attrs = "T: type, " INT_TYPES("Tpaddings") ", block_size: int >= 2",
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = s2b_grad_fn},
    {.type = "BatchToSpace",
     .inputs = "input: T, crops: Tidx",
     .outputs = "output: T",
     .attrs = "T: type, block_size: int >= 2, " INT_TYPES("Tidx"),
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = b2s_grad_fn},
    {.type = "SpaceToDepth",
     .inputs = "input: T",
     .outputs = "output: T",
     .attrs = "T: type, block_size: int >= 2, " FORMATS,
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = s2d_grad_fn},
    {.type = "DepthToSpace",
     .inputs = "input: T",
     .outputs = "output: T",
     .attrs = "T: type, block_size: int >= 2, " FORMATS,
     .shape = space_shape,
     .prepare = space_prepare,
     .kernel = space_kernel,
     .grad = d2s_grad_fn},
};

DEFT_FAMILY(deft_ops_space, space_defs);
