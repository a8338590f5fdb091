/* ops/sequence_ops.c - ReverseSequence (tf.reverse_sequence): reverses the first seq_lengths[i]
 * entries along seq_dim of each slice i along batch_dim, leaving the rest in place. Definition,
 * shape function, prepare, kernel, gradient (ReverseSequence of the gradient with the same
 * lengths, as TF's array_grad.py) and the public constructor side by side. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/tensor_internal.h"

bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n);

typedef struct {
  int64_t seq_dim, batch_dim; /* as given (may be negative: counted from the end) */
} revseq_params;

/* Resolves seq_dim and batch_dim for a rank; false with msg when invalid. */
static bool revseq_dims(int64_t seq, int64_t batch, int rank, int64_t *s, int64_t *b, char *msg,
                        size_t len) {
  if (seq < 0) seq += rank;
  if (batch < 0) batch += rank;
  if (seq < 0 || seq >= rank || batch < 0 || batch >= rank) {
    snprintf(msg, len, "seq_dim and batch_dim must be in [%d, %d) for input of rank %d", -rank,
             rank, rank);
    return false;
  }
  if (seq == batch) {
    snprintf(msg, len, "seq_dim and batch_dim must differ, both are %" PRId64, seq);
    return false;
  }
  *s = seq;
  *b = batch;
  return true;
}

static void revseq_shape(deft_shape_ctx *c) {
  deft_shape x = deft_shape_ctx_input(c, 0), l = deft_shape_ctx_input(c, 1);
  int64_t seq = 0, batch = 0, s, b;
  deft_op_attr_int(c->op, "seq_dim", &seq);
  deft_op_attr_int(c->op, "batch_dim", &batch);
  char msg[256], sh[128];
  if (l.rank >= 0 && l.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "seq_lengths must be a vector, got shape %s",
                    deft_shape_format(l, sh, sizeof sh));
    return;
  }
  if (x.rank >= 0) {
    if (!revseq_dims(seq, batch, x.rank, &s, &b, msg, sizeof msg)) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
      return;
    }
    if (l.rank == 1 && l.dims[0] >= 0 && x.dims[b] >= 0 && l.dims[0] != x.dims[b]) {
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "seq_lengths has %" PRId64 " entries, but input's batch dimension %" PRId64
                      " is %" PRId64, l.dims[0], b, x.dims[b]);
      return;
    }
  }
  deft_shape_ctx_set_output(c, 0, x);
}

static void revseq_prepare(deft_prepare_ctx *p) {
  int64_t seq = deft_prepare_attr_int(p, "seq_dim"), batch = deft_prepare_attr_int(p, "batch_dim");
  if (deft_prepare_failed(p)) return;
  deft_shape x = deft_prepare_input_shape(p, 0);
  int64_t s, b;
  char msg[256];
  if (x.rank >= 0 && !revseq_dims(seq, batch, x.rank, &s, &b, msg, sizeof msg)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  revseq_params *rp = deft_prepare_params(p, sizeof *rp);
  if (rp) rp->seq_dim = seq, rp->batch_dim = batch;
}

static void revseq_kernel(deft_kernel_ctx *c) {
  const revseq_params *rp = deft_kernel_params(c);
  const deft_tensor *x = deft_kernel_input(c, 0), *lens = deft_kernel_input(c, 1);
  char msg[256], sh[128];
  int64_t s, b;
  if (!revseq_dims(rp->seq_dim, rp->batch_dim, x->rank, &s, &b, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  if (lens->rank != 1 || lens->n != x->dims[b]) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "seq_lengths must be a vector of input.dims(%" PRId64 ") = %" PRId64
                     " entries, got shape %s", b, x->dims[b],
                     deft_shape_format(deft_tensor_shape(lens), sh, sizeof sh));
    return;
  }
  for (int64_t i = 0; i < lens->n; i++) {
    int64_t v = deft_tensor_index_at(lens, i);
    if (v < 0 || v > x->dims[s]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "seq_lengths[%" PRId64 "] = %" PRId64 " is not in [0, %" PRId64
                       "] (input.dims(%" PRId64 "))", i, v, x->dims[s], s);
      return;
    }
  }
  deft_tensor *o = deft_kernel_output(c, 0, x->dtype, x->dims, x->rank);
  if (!o || o->n == 0) return;
  int64_t stride_s = 1, stride_b = 1, inner = 1;
  for (int k = x->rank - 1; k > s; k--) stride_s *= x->dims[k];
  for (int k = x->rank - 1; k > b; k--) stride_b *= x->dims[k];
  inner = stride_s < stride_b ? stride_s : stride_b; /* contiguous run past both dims */
  size_t es = deft_dtype_size(x->dtype);
  bool str = x->dtype == DEFT_STRING;
  for (int64_t at = 0; at < x->n; at += inner) {
    int64_t cb = (at / stride_b) % x->dims[b], cs = (at / stride_s) % x->dims[s];
    int64_t len = deft_tensor_index_at(lens, cb);
    int64_t from = cs < len ? at + (len - 1 - 2 * cs) * stride_s : at;
    if (str) {
      if (!deft_array_copy_elems(o, at, x, from, inner)) {
        deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory copying strings");
        return;
      }
    } else {
      memcpy((char *)o->buf->data + (size_t)at * es, (const char *)x->buf->data + (size_t)from * es,
             (size_t)inner * es);
    }
  }
}

/* TF: reverse_sequence(grad, seq_lengths, seq_axis=seq_dim, batch_axis=batch_dim); none for
 * seq_lengths. */
static void revseq_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  int64_t seq = 0, batch = 0;
  deft_op_attr_int(op, "seq_dim", &seq);
  deft_op_attr_int(op, "batch_dim", &batch);
  dx[0] = deft_reverse_sequence(g, grads[0], deft_op_input(op, 1), seq, batch, NULL);
}

deft_output deft_reverse_sequence(deft_graph *g, deft_output input, deft_output seq_lengths,
                                  int64_t seq_dim, int64_t batch_dim, const char *name) {
  deft_op_builder *bl = deft_op_builder_new(g, "ReverseSequence", name);
  deft_op_builder_add_input(bl, input);
  deft_op_builder_add_input(bl, seq_lengths);
  deft_op_builder_set_attr_int(bl, "seq_dim", seq_dim);
  deft_op_builder_set_attr_int(bl, "batch_dim", batch_dim);
  deft_op *op = deft_op_builder_finish(bl);
  deft_output out = {op, 0};
  return out;
}

static const deft_op_def sequence_defs[] = {
    {.type = "ReverseSequence", .inputs = "input: T, seq_lengths: Tlen", .outputs = "output: T",
     .attrs = "seq_dim: int, batch_dim: int = 0, T: type, Tlen: {int32, int64} = DT_INT64",
     .shape = revseq_shape, .prepare = revseq_prepare, .kernel = revseq_kernel,
     .grad = revseq_grad},
};

DEFT_FAMILY(deft_ops_sequence, sequence_defs);
