/* ops/slice_ops.c - array ops that cut tensors into pieces: StridedSlice (Python's x[b:e:s, ...,
 * tf.newaxis] with every mask and negative strides) with StridedSliceGrad, Split and SplitV:
 * definition, shape function, kernel and gradient side by side, plus the public constructors.
 *
 * StridedSlice follows TF's canonicalization: the sparse spec (begin/end/strides of length n
 * with the five masks) becomes a dense spec over the input's dims (an ellipsis, explicit or
 * implied at the end, stands for the dims the other entries do not name; a new_axis entry adds
 * a dim of size 1 and names none), then each dim's begin and end are made non-negative and
 * clamped to the dim (to [-1, d-1] for negative strides), and its size is
 * ceil((end - begin) / stride), 0 when the interval is empty. A shrink_axis entry takes one
 * index (which must be in range) and drops the dim. Kernels copy contiguous runs with memcpy and
 * strided runs with a typed loop; every dtype is handled (strings are deep copied). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

/* Element copy helpers, defined in ops/array_ops.c. */
bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n);
void deft_array_zero(deft_tensor *t);

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

static void copy_oom(deft_kernel_ctx *c) {
  deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
}

/* ---- strided element copies ---- */

/* A strided view of a tensor: element (i0, ..., i{r-1}) lives at base + sum(ik * step[k]). */
typedef struct view {
  int rank;
  int64_t base;
  int64_t size[DEFT_MAX_RANK];
  int64_t step[DEFT_MAX_RANK];
} view;

/* Drops size-1 dims and merges dims that are contiguous in the view, so the inner loop is as
 * long as possible. Keeps at least one dim. */
static void view_simplify(view *v) {
  int r = 0;
  for (int k = 0; k < v->rank; k++) {
    if (v->size[k] == 1) continue;
    if (r > 0 && v->step[r - 1] == v->step[k] * v->size[k]) {
      v->size[r - 1] *= v->size[k];
      v->step[r - 1] = v->step[k];
      continue;
    }
    v->size[r] = v->size[k];
    v->step[r] = v->step[k];
    r++;
  }
  if (r == 0) v->size[0] = 1, v->step[0] = 1, r = 1;
  v->rank = r;
}

#define STRIDED_LOOP(T)                                               \
  do {                                                                \
    T *restrict d_ = (T *)dp;                                         \
    const T *restrict s_ = (const T *)sp;                             \
    for (int64_t i = 0; i < n; i++) d_[i * dstep] = s_[i * sstep];    \
  } while (0)

/* Copies n elements of es bytes from sp (every sstep elements) to dp (every dstep elements). */
static void copy_run(char *dp, int64_t dstep, const char *sp, int64_t sstep, int64_t n,
                     size_t es) {
  if (dstep == 1 && sstep == 1) {
    memcpy(dp, sp, (size_t)n * es);
    return;
  }
  switch (es) {
    case 1: STRIDED_LOOP(uint8_t); break;
    case 2: STRIDED_LOOP(uint16_t); break;
    case 4: STRIDED_LOOP(uint32_t); break;
    case 8: STRIDED_LOOP(uint64_t); break;
    default:
      for (int64_t i = 0; i < n; i++) /* steps may be negative */
        memcpy(dp + (ptrdiff_t)(i * dstep) * (ptrdiff_t)es,
               sp + (ptrdiff_t)(i * sstep) * (ptrdiff_t)es, es);
  }
}

/* Copies between the strided view v of `strided` and the dense tensor `dense` (elements in
 * row-major order of v's sizes): gather (strided -> dense) or scatter (dense -> strided).
 * Returns false only when copying strings runs out of memory. */
static bool view_copy(deft_tensor *dense, deft_tensor *strided, view v, bool gather) {
  int64_t total = 1;
  for (int k = 0; k < v.rank; k++) total *= v.size[k];
  if (total == 0) return true;
  view_simplify(&v);
  int r = v.rank;
  int64_t idx[DEFT_MAX_RANK] = {0}, row = v.size[r - 1], step = v.step[r - 1], pos = 0;
  bool str = dense->dtype == DEFT_STRING;
  size_t es = deft_dtype_size(dense->dtype);
  for (;;) {
    int64_t off = v.base;
    for (int k = 0; k < r - 1; k++) off += idx[k] * v.step[k];
    if (str) {
      for (int64_t i = 0; i < row; i++) {
        bool ok = gather ? deft_array_copy_elems(dense, pos + i, strided, off + i * step, 1)
                         : deft_array_copy_elems(strided, off + i * step, dense, pos + i, 1);
        if (!ok) return false;
      }
    } else if (gather) {
      copy_run((char *)dense->buf->data + (size_t)pos * es, 1,
               (const char *)strided->buf->data + (size_t)off * es, step, row, es);
    } else {
      copy_run((char *)strided->buf->data + (size_t)off * es, step,
               (const char *)dense->buf->data + (size_t)pos * es, 1, row, es);
    }
    pos += row;
    int k = r - 2;
    for (; k >= 0; k--) {
      if (++idx[k] < v.size[k]) break;
      idx[k] = 0;
    }
    if (k < 0) break;
  }
  return true;
}

/* ---- StridedSlice canonicalization ---- */

typedef struct ss_masks {
  int64_t begin, end, ellipsis, new_axis, shrink;
} ss_masks;

enum { SS_NEW_AXIS = -1, SS_SHRINK = -2 };
#define SS_MAX_SPEC 32

/* The dense spec: per input dim, the first index, the stride and the number of elements taken;
 * and the final shape's dims. */
typedef struct ss_dense {
  int rank;
  int64_t begin[DEFT_MAX_RANK], stride[DEFT_MAX_RANK], size[DEFT_MAX_RANK];
  int out_rank;
  int64_t out_dims[DEFT_MAX_RANK];
} ss_dense;

/* Canonicalizes the sparse spec against dims (rank entries, -1 = unknown). With values NULL
 * (begin/end/strides not known) only the output rank and the shrunk and new dims are known.
 * Returns false with msg set when the spec is invalid. */
static bool ss_canonicalize(const int64_t *dims, int rank, int n, const int64_t *begin,
                            const int64_t *end, const int64_t *strides, ss_masks m,
                            ss_dense *out, char *msg, size_t len) {
  if (n > SS_MAX_SPEC) {
    snprintf(msg, len, "the slice spec has %d entries; at most %d are supported", n, SS_MAX_SPEC);
    return false;
  }
  bool have = begin != NULL;
  uint64_t valid = n >= 64 ? ~0ull : ((1ull << n) - 1);
  uint64_t ell = (uint64_t)m.ellipsis & valid;
  int ns = n;
  if (!ell) { /* an implied ellipsis after the last entry */
    ell = 1ull << n;
    ns = n + 1;
  }
  int64_t db[DEFT_MAX_RANK], de[DEFT_MAX_RANK], ds[DEFT_MAX_RANK];
  bool dbm[DEFT_MAX_RANK], dem[DEFT_MAX_RANK], dsh[DEFT_MAX_RANK];
  int final_[SS_MAX_SPEC + DEFT_MAX_RANK + 1], nfinal = 0, full = 0;
  bool seen = false;
  for (int i = 0; i < ns; i++) {
    if (ell >> i & 1) {
      if (seen) {
        snprintf(msg, len, "multiple ellipses in the slice spec are not allowed");
        return false;
      }
      seen = true;
      int new_after = 0;
      for (int j = i + 1; j < n; j++)
        new_after += (int)((uint64_t)m.new_axis >> j & 1) && !(ell >> j & 1);
      int next = rank - (ns - i) + 1 + new_after;
      if (next > rank) next = rank;
      for (; full < next; full++) {
        db[full] = de[full] = 0;
        ds[full] = 1;
        dbm[full] = dem[full] = true;
        dsh[full] = false;
        final_[nfinal++] = full;
      }
    } else if ((uint64_t)m.new_axis >> i & 1) {
      final_[nfinal++] = SS_NEW_AXIS;
    } else {
      if (full >= rank) {
        snprintf(msg, len, "the slice spec names more dimensions than the input's %d (entry %d)",
                 rank, i);
        return false;
      }
      db[full] = have ? begin[i] : 0;
      de[full] = have ? end[i] : 0;
      ds[full] = have ? strides[i] : 1;
      dbm[full] = (uint64_t)m.begin >> i & 1;
      dem[full] = (uint64_t)m.end >> i & 1;
      dsh[full] = (uint64_t)m.shrink >> i & 1;
      if (have && ds[full] == 0) {
        snprintf(msg, len, "strides[%d] must be non-zero", i);
        return false;
      }
      final_[nfinal++] = dsh[full] ? SS_SHRINK : full;
      full++;
    }
  }
  out->rank = rank;
  for (int k = 0; k < rank; k++) {
    int64_t d = dims[k], s = ds[k], b = db[k], e = de[k];
    out->stride[k] = s;
    if (dsh[k]) {
      out->stride[k] = 1;
      out->size[k] = 1;
      out->begin[k] = b;
      if (have && d >= 0) {
        int64_t fwd = b < 0 ? d + b : b;
        if (fwd < 0 || fwd >= d) {
          snprintf(msg, len,
                   "slice index %" PRId64 " of dimension %d is out of bounds (size %" PRId64 ")",
                   b, k, d);
          return false;
        }
        out->begin[k] = fwd;
      }
      continue;
    }
    if (!have || d < 0) {
      out->begin[k] = 0;
      out->size[k] = -1;
      continue;
    }
    int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? d : d - 1;
    if (dbm[k]) {
      b = s > 0 ? 0 : d - 1;
    } else {
      b = b < 0 ? d + b : b;
      b = b < lo ? lo : b > hi ? hi : b;
    }
    if (dem[k]) {
      e = s > 0 ? d : -1;
    } else {
      e = e < 0 ? d + e : e;
      e = e < lo ? lo : e > hi ? hi : e;
    }
    int64_t interval = e - b;
    int64_t size = 0;
    if (interval != 0 && (interval < 0) == (s < 0)) size = interval / s + (interval % s != 0);
    out->begin[k] = b;
    out->size[k] = size;
  }
  out->out_rank = 0;
  for (int i = 0; i < nfinal; i++) {
    if (final_[i] == SS_SHRINK) continue;
    if (out->out_rank >= DEFT_MAX_RANK) {
      snprintf(msg, len, "the result would have more than %d dimensions", DEFT_MAX_RANK);
      return false;
    }
    out->out_dims[out->out_rank++] = final_[i] == SS_NEW_AXIS ? 1 : out->size[final_[i]];
  }
  return true;
}

/* Reads the five mask attrs. */
static ss_masks ss_masks_of(const deft_op *op) {
  ss_masks m = {0, 0, 0, 0, 0};
  deft_op_attr_int(op, "begin_mask", &m.begin);
  deft_op_attr_int(op, "end_mask", &m.end);
  deft_op_attr_int(op, "ellipsis_mask", &m.ellipsis);
  deft_op_attr_int(op, "new_axis_mask", &m.new_axis);
  deft_op_attr_int(op, "shrink_axis_mask", &m.shrink);
  return m;
}

/* The five masks, once per plan step (StridedSlice, StridedSliceGrad): the parameter block is an
 * ss_masks. */
static void ss_prepare(deft_prepare_ctx *pc) {
  ss_masks m = ss_masks_of(deft_prepare_op(pc));
  ss_masks *p = deft_prepare_params(pc, sizeof *p);
  if (p) *p = m;
}

/* The kernel's parameters: the spec vectors (inputs first..first+2) and the masks. */
typedef struct ss_params {
  int n;
  int64_t begin[SS_MAX_SPEC], end[SS_MAX_SPEC], strides[SS_MAX_SPEC];
  ss_masks m;
} ss_params;

static bool strided_slice_params(deft_kernel_ctx *c, int first, ss_params *p) {
  const deft_tensor *bt = deft_kernel_input(c, first), *et = deft_kernel_input(c, first + 1),
                    *st = deft_kernel_input(c, first + 2);
  char a[64], b[64], s[64];
  if (bt->rank != 1 || et->rank != 1 || st->rank != 1 || bt->n != et->n || bt->n != st->n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "begin, end and strides must be vectors of one length, got shapes %s, %s "
                     "and %s", tshape(bt, a, sizeof a), tshape(et, b, sizeof b),
                     tshape(st, s, sizeof s));
    return false;
  }
  if (bt->n > SS_MAX_SPEC) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "the slice spec has %" PRId64 " entries; at most %d are supported", bt->n,
                     SS_MAX_SPEC);
    return false;
  }
  p->n = (int)bt->n;
  for (int i = 0; i < p->n; i++) {
    p->begin[i] = deft_tensor_index_at(bt, i);
    p->end[i] = deft_tensor_index_at(et, i);
    p->strides[i] = deft_tensor_index_at(st, i);
  }
  p->m = *(const ss_masks *)deft_kernel_params(c);
  return true;
}

/* The view of the slice in a tensor of the given dims. */
static view ss_view(const ss_dense *d, const int64_t *dims) {
  view v;
  v.rank = d->rank;
  v.base = 0;
  int64_t stride = 1;
  for (int k = d->rank - 1; k >= 0; k--) {
    v.base += d->begin[k] * stride;
    v.size[k] = d->size[k];
    v.step[k] = d->stride[k] * stride;
    stride *= dims[k];
  }
  return v;
}

/* ---- StridedSlice ---- */

/* Shape of a StridedSlice-like op whose sliced tensor has shape x and whose spec is inputs
 * first..first+2. */
static void ss_shape_common(deft_shape_ctx *c, deft_shape x, int first) {
  if (x.rank < 0) return;
  const deft_tensor *bt = deft_shape_ctx_input_const(c, first),
                    *et = deft_shape_ctx_input_const(c, first + 1),
                    *st = deft_shape_ctx_input_const(c, first + 2);
  int n = -1;
  for (int i = 0; i < 3; i++) {
    deft_shape s = deft_shape_ctx_input(c, first + i);
    char sh[64];
    if (s.rank >= 0 && s.rank != 1) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s (input %d) must be a vector, got shape %s",
                      i == 0 ? "begin" : i == 1 ? "end" : "strides", first + i,
                      deft_shape_format(s, sh, sizeof sh));
      return;
    }
    if (s.rank == 1 && s.dims[0] >= 0) {
      if (n >= 0 && n != s.dims[0]) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                        "begin, end and strides must have one length, got %d and %" PRId64, n,
                        s.dims[0]);
        return;
      }
      n = (int)s.dims[0];
    }
  }
  if (n < 0) return;
  int64_t b[SS_MAX_SPEC], e[SS_MAX_SPEC], s[SS_MAX_SPEC];
  bool have = bt && et && st && n <= SS_MAX_SPEC;
  for (int i = 0; have && i < n; i++) {
    b[i] = deft_tensor_index_at(bt, i);
    e[i] = deft_tensor_index_at(et, i);
    s[i] = deft_tensor_index_at(st, i);
  }
  ss_dense d;
  char msg[256];
  if (!ss_canonicalize(x.dims, x.rank, n, have ? b : NULL, e, s, ss_masks_of(c->op), &d, msg,
                       sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_make(d.out_rank, d.out_dims));
}

static void strided_slice_shape(deft_shape_ctx *c) {
  ss_shape_common(c, deft_shape_ctx_input(c, 0), 1);
}

static void strided_slice_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  ss_params p;
  if (!strided_slice_params(c, 1, &p)) return;
  ss_dense d;
  char msg[256], sh[128];
  if (!ss_canonicalize(x->dims, x->rank, p.n, p.begin, p.end, p.strides, p.m, &d, msg,
                       sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s (input shape %s)", msg,
                     tshape(x, sh, sizeof sh));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, d.out_dims, d.out_rank);
  if (!o || o->n == 0) return;
  if (!view_copy(o, (deft_tensor *)x, ss_view(&d, x->dims), true)) copy_oom(c);
}

/* Builds StridedSlice or StridedSliceGrad with the given masks. */
static deft_op *build_ss(deft_graph *g, const char *type, const deft_output *in, int nin,
                         ss_masks m, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  for (int i = 0; i < nin; i++) deft_op_builder_add_input(b, in[i]);
  deft_op_builder_set_attr_int(b, "begin_mask", m.begin);
  deft_op_builder_set_attr_int(b, "end_mask", m.end);
  deft_op_builder_set_attr_int(b, "ellipsis_mask", m.ellipsis);
  deft_op_builder_set_attr_int(b, "new_axis_mask", m.new_axis);
  deft_op_builder_set_attr_int(b, "shrink_axis_mask", m.shrink);
  return deft_op_builder_finish(b);
}

/* TF: strided_slice_grad(shape(x, out_type=begin.dtype), begin, end, strides, grad, masks). */
static void strided_slice_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                               deft_output *dx) {
  deft_output begin = deft_op_input(op, 1);
  deft_op_builder *b = deft_op_builder_new(g, "Shape", NULL);
  deft_op_builder_add_input(b, deft_op_input(op, 0));
  deft_op_builder_set_attr_type(b, "out_type", deft_output_dtype(begin));
  deft_output shape = outn(deft_op_builder_finish(b), 0);
  deft_output in[5] = {shape, begin, deft_op_input(op, 2), deft_op_input(op, 3), grads[0]};
  dx[0] = outn(build_ss(g, "StridedSliceGrad", in, 5, ss_masks_of(op), NULL), 0);
}

deft_output deft_strided_slice(deft_graph *g, deft_output input, deft_output begin,
                               deft_output end, deft_output strides, int64_t begin_mask,
                               int64_t end_mask, int64_t ellipsis_mask, int64_t new_axis_mask,
                               int64_t shrink_axis_mask, const char *name) {
  deft_output in[4] = {input, begin, end, strides};
  ss_masks m = {begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask};
  return outn(build_ss(g, "StridedSlice", in, 4, m, name), 0);
}

/* ---- StridedSliceGrad ---- */

static void strided_slice_grad_shape(deft_shape_ctx *c) {
  const deft_tensor *st = deft_shape_ctx_input_const(c, 0);
  deft_shape ss = deft_shape_ctx_input(c, 0);
  char sh[64];
  if (ss.rank >= 0 && ss.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0) must be a vector, got shape %s",
                    deft_shape_format(ss, sh, sizeof sh));
    return;
  }
  deft_output src = deft_op_input(c->op, 0);
  if (!st && src.op && !strcmp(deft_op_type(src.op), "Shape")) {
    /* shape = Shape(x), as in StridedSlice's gradient: the output has x's static shape */
    deft_shape_ctx_set_output(c, 0, deft_output_shape(deft_op_input(src.op, 0)));
    return;
  }
  if (!st) {
    if (ss.rank == 1 && ss.dims[0] >= 0 && ss.dims[0] <= DEFT_MAX_RANK) {
      deft_shape out = deft_shape_unknown();
      out.rank = (int)ss.dims[0];
      for (int k = 0; k < out.rank; k++) out.dims[k] = -1;
      deft_shape_ctx_set_output(c, 0, out);
    }
    return;
  }
  if (st->n > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape has %" PRId64 " entries; deft supports %d",
                    st->n, DEFT_MAX_RANK);
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  for (int k = 0; k < st->n; k++) {
    dims[k] = deft_tensor_index_at(st, k);
    if (dims[k] < 0) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape[%d] = %" PRId64 " is negative", k, dims[k]);
      return;
    }
  }
  deft_shape x = deft_shape_make((int)st->n, dims);
  ss_shape_common(c, x, 1); /* validates the spec; the output is the full shape */
  deft_shape_ctx_set_output(c, 0, x);
}

static void strided_slice_grad_kernel(deft_kernel_ctx *c) {
  const deft_tensor *st = deft_kernel_input(c, 0), *dy = deft_kernel_input(c, 4);
  char msg[256], a[128], b[128];
  if (st->rank != 1 || st->n > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "shape must be a vector of at most %d entries, got shape %s", DEFT_MAX_RANK,
                     tshape(st, a, sizeof a));
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  int r = (int)st->n;
  for (int k = 0; k < r; k++) {
    dims[k] = deft_tensor_index_at(st, k);
    if (dims[k] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shape[%d] = %" PRId64 " is negative", k,
                       dims[k]);
      return;
    }
  }
  ss_params p;
  if (!strided_slice_params(c, 1, &p)) return;
  ss_dense d;
  if (!ss_canonicalize(dims, r, p.n, p.begin, p.end, p.strides, p.m, &d, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  bool same = dy->rank == d.out_rank;
  for (int k = 0; same && k < d.out_rank; k++) same = dy->dims[k] == d.out_dims[k];
  if (!same) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "dy has shape %s, but the slice of a tensor of shape %s has shape %s",
                     tshape(dy, a, sizeof a), deft_shape_format(deft_shape_make(r, dims), msg,
                                                                 sizeof msg),
                     deft_shape_format(deft_shape_make(d.out_rank, d.out_dims), b, sizeof b));
    return;
  }
  deft_tensor *o = deft_kernel_output(c, 0, dy->dtype, dims, r);
  if (!o) return;
  deft_array_zero(o);
  if (o->n == 0 || dy->n == 0) return;
  if (!view_copy((deft_tensor *)dy, o, ss_view(&d, dims), false)) copy_oom(c);
}

/* TF: strided_slice(grad, begin, end, strides, masks); no gradient for the spec. */
static void strided_slice_grad_grad(deft_graph *g, deft_op *op, const deft_output *grads,
                                    deft_output *dx) {
  deft_output in[4] = {grads[0], deft_op_input(op, 1), deft_op_input(op, 2),
                       deft_op_input(op, 3)};
  dx[4] = outn(build_ss(g, "StridedSlice", in, 4, ss_masks_of(op), NULL), 0);
}

deft_output deft_strided_slice_grad(deft_graph *g, deft_output shape, deft_output begin,
                                    deft_output end, deft_output strides, deft_output dy,
                                    int64_t begin_mask, int64_t end_mask, int64_t ellipsis_mask,
                                    int64_t new_axis_mask, int64_t shrink_axis_mask,
                                    const char *name) {
  deft_output in[5] = {shape, begin, end, strides, dy};
  ss_masks m = {begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask};
  return outn(build_ss(g, "StridedSliceGrad", in, 5, m, name), 0);
}

/* ---- Split, SplitV ---- */

/* Resolves a split axis against rank r; false with msg when out of range. */
static bool split_axis(int64_t axis, int r, int64_t *out, char *msg, size_t len) {
  if (axis < -r || axis >= r) {
    snprintf(msg, len, "split_dim %" PRId64 " is out of range [%d, %d)", axis, -r, r);
    return false;
  }
  *out = axis < 0 ? axis + r : axis;
  return true;
}

/* Resolves size_splits (one entry may be -1) against the axis's size d; false with msg. */
static bool split_sizes(int64_t *sizes, int n, int64_t d, char *msg, size_t len) {
  int neg = -1;
  int64_t sum = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] == -1) {
      if (neg >= 0) {
        snprintf(msg, len, "size_splits may hold at most one -1, found at %d and %d", neg, i);
        return false;
      }
      neg = i;
    } else if (sizes[i] < 0) {
      snprintf(msg, len, "size_splits[%d] = %" PRId64 " is negative", i, sizes[i]);
      return false;
    } else {
      sum += sizes[i];
    }
  }
  if (d < 0) return true;
  if (neg >= 0 && sum <= d) sizes[neg] = d - sum;
  else if (neg < 0 && sum == d) return true;
  else {
    snprintf(msg, len, "size_splits sum to %" PRId64 " but the dimension has size %" PRId64, sum,
             d);
    return false;
  }
  return true;
}

/* Sets output i to x with dim `axis` replaced by sizes[i] (-1 where unknown). */
static void split_set_outputs(deft_shape_ctx *c, deft_shape x, int64_t axis,
                              const int64_t *sizes, int n) {
  for (int i = 0; i < n; i++) {
    deft_shape o = x;
    if (axis >= 0) o.dims[axis] = sizes ? sizes[i] : -1;
    else
      for (int k = 0; k < o.rank; k++) o.dims[k] = -1;
    deft_shape_ctx_set_output(c, i, o);
  }
}

static void split_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 1);
  int n = deft_shape_ctx_num_outputs(c);
  if (x.rank < 0) return;
  const deft_tensor *at = deft_shape_ctx_input_const(c, 0);
  char msg[256];
  if (!at || at->n != 1) {
    split_set_outputs(c, x, -1, NULL, n);
    return;
  }
  int64_t axis;
  if (!split_axis(deft_tensor_index_at(at, 0), x.rank, &axis, msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s for a value of rank %d", msg, x.rank);
    return;
  }
  int64_t d = x.dims[axis];
  if (d >= 0 && d % n != 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "dimension %" PRId64 " has size %" PRId64 ", which num_split = %d does not "
                    "divide", axis, d, n);
    return;
  }
  deft_shape o = x;
  o.dims[axis] = d >= 0 ? d / n : -1;
  for (int i = 0; i < n; i++) deft_shape_ctx_set_output(c, i, o);
}

/* Copies the pieces of x along axis (sizes[i] each) into the outputs. */
static void split_copy(deft_kernel_ctx *c, const deft_tensor *x, int64_t axis,
                       const int64_t *sizes, int n) {
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= x->dims[k];
  for (int k = (int)axis + 1; k < x->rank; k++) inner *= x->dims[k];
  int64_t d = x->dims[axis], start = 0;
  for (int i = 0; i < n; i++) {
    int64_t dims[DEFT_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = sizes[i];
    deft_tensor *o = deft_kernel_output(c, i, x->dtype, dims, x->rank);
    if (!o) return;
    int64_t run = sizes[i] * inner;
    for (int64_t p = 0; run && p < outer; p++)
      if (!deft_array_copy_elems(o, p * run, x, (p * d + start) * inner, run)) {
        copy_oom(c);
        return;
      }
    start += sizes[i];
  }
}

static void split_kernel(deft_kernel_ctx *c) {
  const deft_tensor *at = deft_kernel_input(c, 0), *x = deft_kernel_input(c, 1);
  int n = deft_kernel_num_outputs(c);
  char msg[256], sh[128];
  if (at->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "split_dim must be a scalar, got shape %s",
                     tshape(at, sh, sizeof sh));
    return;
  }
  int64_t axis;
  if (!split_axis(deft_tensor_index_at(at, 0), x->rank, &axis, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s for a value of shape %s", msg,
                     tshape(x, sh, sizeof sh));
    return;
  }
  if (x->dims[axis] % n != 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "num_split = %d does not divide dimension %" PRId64 " of the value (shape "
                     "%s)", n, axis, tshape(x, sh, sizeof sh));
    return;
  }
  int64_t sizes[256];
  int64_t *sz = n <= 256 ? sizes : deft_kernel_scratch(c, sizeof(int64_t) * (size_t)n);
  if (!sz) return;
  for (int i = 0; i < n; i++) sz[i] = x->dims[axis] / n;
  split_copy(c, x, axis, sz, n);
}

/* concat(grads, axis) with zeros_like(output i) for the outputs that have no gradient. */
static deft_output concat_grads(deft_graph *g, deft_op *op, const deft_output *grads,
                                deft_output axis) {
  int n = deft_op_num_outputs(op);
  deft_output parts[64];
  if (n > 64) {
    deft_graph_fail(g, DEFT_UNIMPLEMENTED,
                    "%s '%s': deft differentiates splits into at most 64 pieces, not %d",
                    deft_op_type(op), deft_op_name(op), n);
    return grads[0];
  }
  for (int i = 0; i < n; i++)
    parts[i] = grads[i].op ? grads[i] : deft_zeros_like(g, deft_op_output(op, i), NULL);
  return deft_concat(g, parts, n, axis, NULL);
}

/* TF: concat(grads, split_dim) (missing gradients are zeros). */
static void split_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[1] = concat_grads(g, op, grads, deft_op_input(op, 0));
}

static void splitv_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0);
  int n = deft_shape_ctx_num_outputs(c);
  if (x.rank < 0) return;
  const deft_tensor *st = deft_shape_ctx_input_const(c, 1), *at = deft_shape_ctx_input_const(c, 2);
  char msg[256];
  int64_t axis = -1;
  if (at && at->n == 1 &&
      !split_axis(deft_tensor_index_at(at, 0), x.rank, &axis, msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s for a value of rank %d", msg, x.rank);
    return;
  }
  if (!st || axis < 0) {
    split_set_outputs(c, x, axis, NULL, n);
    return;
  }
  if (st->n != n) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "size_splits has %" PRId64 " entries but num_split is %d", st->n, n);
    return;
  }
  int64_t sizes[256];
  if (n > 256) {
    split_set_outputs(c, x, axis, NULL, n);
    return;
  }
  for (int i = 0; i < n; i++) sizes[i] = deft_tensor_index_at(st, i);
  if (!split_sizes(sizes, n, x.dims[axis], msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  split_set_outputs(c, x, axis, sizes, n);
}

static void splitv_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *st = deft_kernel_input(c, 1),
                    *at = deft_kernel_input(c, 2);
  int n = deft_kernel_num_outputs(c);
  char msg[256], sh[128];
  if (at->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "split_dim must be a scalar, got shape %s",
                     tshape(at, sh, sizeof sh));
    return;
  }
  if (st->rank != 1 || st->n != n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "size_splits must be a vector of num_split = %d entries, got shape %s", n,
                     tshape(st, sh, sizeof sh));
    return;
  }
  int64_t axis;
  if (!split_axis(deft_tensor_index_at(at, 0), x->rank, &axis, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s for a value of shape %s", msg,
                     tshape(x, sh, sizeof sh));
    return;
  }
  int64_t *sz = deft_kernel_scratch(c, sizeof(int64_t) * (size_t)n);
  if (!sz) return;
  for (int i = 0; i < n; i++) sz[i] = deft_tensor_index_at(st, i);
  if (!split_sizes(sz, n, x->dims[axis], msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s (value shape %s, split_dim %" PRId64 ")", msg,
                     tshape(x, sh, sizeof sh), axis);
    return;
  }
  split_copy(c, x, axis, sz, n);
}

/* TF: concat(grads, split_dim); no gradient for size_splits and split_dim. */
static void splitv_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = concat_grads(g, op, grads, deft_op_input(op, 2));
}

deft_op *deft_split(deft_graph *g, deft_output split_dim, deft_output value, int64_t num_split,
                    const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Split", name ? name : "split");
  deft_op_builder_add_input(b, split_dim);
  deft_op_builder_add_input(b, value);
  deft_op_builder_set_attr_int(b, "num_split", num_split);
  return deft_op_builder_finish(b);
}

deft_op *deft_split_v(deft_graph *g, deft_output value, deft_output size_splits,
                      deft_output split_dim, int64_t num_split, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "SplitV", name ? name : "split");
  deft_op_builder_add_input(b, value);
  deft_op_builder_add_input(b, size_splits);
  deft_op_builder_add_input(b, split_dim);
  deft_op_builder_set_attr_int(b, "num_split", num_split);
  return deft_op_builder_finish(b);
}

/* ---- ReverseV2 ---- */

/* Reads ReverseV2's axes into rev[] (rank entries); false after recording an error. */
static bool reverse_params(deft_kernel_ctx *c, const deft_tensor *x, bool *rev) {
  const deft_tensor *at = deft_kernel_input(c, 1);
  char sh[64];
  for (int k = 0; k < x->rank; k++) rev[k] = false;
  if (at->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "axis must be a vector, got shape %s",
                     tshape(at, sh, sizeof sh));
    return false;
  }
  for (int64_t i = 0; i < at->n; i++) {
    int64_t a = deft_tensor_index_at(at, i);
    if (a < -x->rank || a >= x->rank) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "axis[%" PRId64 "] = %" PRId64 " is out of range [%d, %d)", i, a,
                       -x->rank, x->rank);
      return false;
    }
    if (a < 0) a += x->rank;
    if (rev[a]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "axis names dimension %" PRId64 " twice", a);
      return false;
    }
    rev[a] = true;
  }
  return true;
}

static void reverse_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  bool rev[DEFT_MAX_RANK];
  if (!reverse_params(c, x, rev)) return;
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!o || o->n == 0) return;
  view v;
  v.rank = x->rank;
  v.base = 0;
  int64_t stride = 1;
  for (int k = x->rank - 1; k >= 0; k--) {
    v.size[k] = x->dims[k];
    v.step[k] = rev[k] ? -stride : stride;
    if (rev[k]) v.base += (x->dims[k] - 1) * stride;
    stride *= x->dims[k];
  }
  if (x->rank == 0) v.rank = 1, v.size[0] = 1, v.step[0] = 1;
  if (!view_copy(o, (deft_tensor *)x, v, true)) copy_oom(c);
}

/* TF: reverse_v2(grad, axis). */
static void reverse_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  dx[0] = deft_reverse_v2(g, grads[0], deft_op_input(op, 1), NULL);
}

deft_output deft_reverse_v2(deft_graph *g, deft_output tensor, deft_output axis,
                            const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "ReverseV2", name);
  deft_op_builder_add_input(b, tensor);
  deft_op_builder_add_input(b, axis);
  return outn(deft_op_builder_finish(b), 0);
}

#define SS_ATTRS                                                                             \
  "T: type, Index: {int32, int64}, begin_mask: int = 0, end_mask: int = 0, "               \
  "ellipsis_mask: int = 0, new_axis_mask: int = 0, shrink_axis_mask: int = 0"

static const deft_op_def slice_defs[] = {
    {.type = "StridedSlice", .inputs = "input: T, begin: Index, end: Index, strides: Index",
     .outputs = "output: T", .attrs = SS_ATTRS, .shape = strided_slice_shape,
     .prepare = ss_prepare, .kernel = strided_slice_kernel, .grad = strided_slice_grad},
    {.type = "StridedSliceGrad",
     .inputs = "shape: Index, begin: Index, end: Index, strides: Index, dy: T",
     .outputs = "output: T", .attrs = SS_ATTRS, .shape = strided_slice_grad_shape,
     .prepare = ss_prepare, .kernel = strided_slice_grad_kernel,
     .grad = strided_slice_grad_grad},
    {.type = "Split", .inputs = "split_dim: int32, value: T", .outputs = "output: num_split * T",
     .attrs = "num_split: int >= 1, T: type", .shape = split_shape, .kernel = split_kernel,
     .grad = split_grad},
    {.type = "SplitV", .inputs = "value: T, size_splits: Tlen, split_dim: int32",
     .outputs = "output: num_split * T",
     .attrs = "num_split: int >= 1, T: type, Tlen: {int32, int64} = DT_INT64",
     .shape = splitv_shape, .kernel = splitv_kernel, .grad = splitv_grad},
    {.type = "ReverseV2", .inputs = "tensor: T, axis: Tidx", .outputs = "output: T",
     .attrs = "Tidx: {int32, int64} = DT_INT32, T: type", .shape = deft_shape_unchanged,
     .kernel = reverse_kernel, .grad = reverse_grad},
};

DEFT_FAMILY(deft_ops_slice, slice_defs);
