/* ops/multinomial_ops.c - Multinomial (tf.multinomial / tf.random.categorical): samples class
 * indices from unnormalized log-probabilities, one row of logits per batch entry. Definition,
 * shape function, prepare, kernel and the public constructor side by side. Not differentiable,
 * as in TF.
 *
 * The numbers are TF's CPU kernel's on one shard: the op's Philox stream (ops/random_ops.c,
 * seeded from seed/seed2 as TF seeds it) is read one uint32 at a time, two per sample, each pair
 * made a double in [0, 1) (TF's RandDouble); per row the kernel takes the largest finite logit,
 * builds the running sum of exp(logit - max) in double over the finite logits, and a sample is
 * the first class whose running sum exceeds u * total. A run consumes whole Philox blocks, so the
 * next run starts at a fresh block (as deft's other random ops). */
#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "ops/random_internal.h"
#include "base/tensor_internal.h"

typedef struct {
  int64_t seed, seed2;
  bool f64;      /* logits are double (else float) */
  bool out_i64;  /* output_dtype int64 (else int32) */
} multinomial_params;

static void multinomial_shape(deft_shape_ctx *c) {
  deft_shape l = deft_shape_ctx_input(c, 0), ns = deft_shape_ctx_input(c, 1);
  char sh[128];
  if (l.rank >= 0 && l.rank != 2) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "logits must be 2-D [batch, classes], got shape %s",
                    deft_shape_format(l, sh, sizeof sh));
    return;
  }
  if (ns.rank > 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "num_samples must be a scalar, got shape %s",
                    deft_shape_format(ns, sh, sizeof sh));
    return;
  }
  const deft_tensor *nt = deft_shape_ctx_input_const(c, 1);
  int64_t n = nt && nt->n == 1 ? deft_tensor_index_at(nt, 0) : -1;
  if (nt && n < 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "num_samples should be non-negative, got %" PRId64,
                    n);
    return;
  }
  int64_t dims[2] = {l.rank == 2 ? l.dims[0] : -1, n};
  deft_shape_ctx_set_output(c, 0, deft_shape_make(2, dims));
}

static void multinomial_prepare(deft_prepare_ctx *p) {
  int64_t seed = deft_prepare_attr_int(p, "seed"), seed2 = deft_prepare_attr_int(p, "seed2");
  deft_dtype t = deft_prepare_input_dtype(p, 0), o = deft_prepare_output_dtype(p, 0);
  if (deft_prepare_failed(p)) return;
  if (t != DEFT_FLOAT && t != DEFT_DOUBLE) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "deft's Multinomial takes float or double logits, "
                      "not %s", deft_dtype_name(t));
    return;
  }
  if (o != DEFT_INT32 && o != DEFT_INT64) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "output_dtype must be int32 or int64, not %s",
                      deft_dtype_name(o));
    return;
  }
  multinomial_params *mp = deft_prepare_params(p, sizeof *mp);
  if (!mp) return;
  mp->seed = seed;
  mp->seed2 = seed2;
  mp->f64 = t == DEFT_DOUBLE;
  mp->out_i64 = o == DEFT_INT64;
}

/* Builds row's cumulative distribution in cdf; returns the total mass. */
static double row_cdf(const void *row, bool f64, int64_t nc, double *cdf) {
  double max = -INFINITY;
  bool any = false;
  for (int64_t j = 0; j < nc; j++) {
    double v = f64 ? ((const double *)row)[j] : (double)((const float *)row)[j];
    if (isfinite(v) && (!any || v > max)) max = v, any = true;
  }
  if (!any) max = f64 ? -DBL_MAX : (double)-FLT_MAX; /* TF starts from the type's lowest */
  double total = 0;
  for (int64_t j = 0; j < nc; j++) {
    double v = f64 ? ((const double *)row)[j] : (double)((const float *)row)[j];
    if (isfinite(v)) total += exp(v - max);
    cdf[j] = total;
  }
  return total;
}

static void multinomial_kernel(deft_kernel_ctx *c) {
  const multinomial_params *mp = deft_kernel_params(c);
  const deft_tensor *logits = deft_kernel_input(c, 0), *nst = deft_kernel_input(c, 1);
  char sh[128];
  if (logits->rank != 2) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "logits must be 2-D [batch, classes], got shape %s",
                     deft_shape_format(deft_tensor_shape(logits), sh, sizeof sh));
    return;
  }
  if (nst->rank != 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "num_samples must be a scalar, got shape %s",
                     deft_shape_format(deft_tensor_shape(nst), sh, sizeof sh));
    return;
  }
  int64_t batch = logits->dims[0], nc = logits->dims[1], ns = deft_tensor_index_at(nst, 0);
  if (ns < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "num_samples should be non-negative, got %" PRId64,
                     ns);
    return;
  }
  if (nc <= 0 && batch > 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "num_classes should be positive, got %" PRId64,
                     nc);
    return;
  }
  if (nc > INT32_MAX || batch > INT32_MAX) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "logits shape %s: batch and classes must each be "
                     "at most 2^31 - 1", deft_shape_format(deft_tensor_shape(logits), sh,
                                                           sizeof sh));
    return;
  }
  int64_t dims[2] = {batch, ns};
  deft_tensor *o = deft_kernel_output(c, 0, mp->out_i64 ? DEFT_INT64 : DEFT_INT32, dims, 2);
  if (!o || o->n == 0) return;
  deft_rng_state *st = deft_random_op_state(c, mp->seed, mp->seed2);
  double *cdf = st ? deft_kernel_scratch(c, sizeof(double) * (size_t)nc) : NULL;
  if (!cdf) return;
  uint32_t block[4];
  int used = 4;
  size_t es = mp->f64 ? sizeof(double) : sizeof(float);
  for (int64_t b = 0; b < batch; b++) {
    double total = row_cdf((const char *)logits->buf->data + (size_t)(b * nc) * es, mp->f64, nc,
                           cdf);
    for (int64_t j = 0; j < ns; j++) {
      uint32_t w[2];
      for (int k = 0; k < 2; k++) {
        if (used == 4) deft_random_next_block(st, block), used = 0;
        w[k] = block[used++];
      }
      double to_find = deft_random_u32x2_to_double(w[0], w[1]) * total;
      int64_t lo = 0, hi = nc; /* first index with cdf > to_find */
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > to_find) hi = mid;
        else lo = mid + 1;
      }
      if (lo >= nc) lo = nc - 1; /* only when every logit is non-finite */
      if (mp->out_i64) deft_tensor_i64(o)[b * ns + j] = lo;
      else deft_tensor_i32(o)[b * ns + j] = (int32_t)lo;
    }
  }
}

static const deft_op_def multinomial_defs[] = {
    {.type = "Multinomial", .inputs = "logits: T, num_samples: int32", .outputs = "output: "
     "output_dtype", .attrs = "seed: int = 0, seed2: int = 0, T: realnumbertype, "
     "output_dtype: {int32, int64} = DT_INT64",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE, .shape = multinomial_shape,
     .prepare = multinomial_prepare, .kernel = multinomial_kernel},
};

DEFT_FAMILY(deft_ops_multinomial, multinomial_defs);

deft_output deft_multinomial(deft_graph *g, deft_output logits, deft_output num_samples,
                             deft_dtype output_dtype, int64_t seed, const char *name) {
  int64_t s1, s2;
  deft_random_derive_seeds(g, seed, &s1, &s2);
  deft_op_builder *b = deft_op_builder_new(g, "Multinomial", name);
  deft_op_builder_add_input(b, logits);
  deft_op_builder_add_input(b, num_samples);
  deft_op_builder_set_attr_int(b, "seed", s1);
  deft_op_builder_set_attr_int(b, "seed2", s2);
  deft_op_builder_set_attr_type(b, "output_dtype", output_dtype);
  deft_op *op = deft_op_builder_finish(b);
  deft_output out = {op, 0};
  return out;
}
