/* ops/summary_ops.c - TF 1.x's summary ops: ScalarSummary, HistogramSummary and MergeSummary.
 * Each outputs a serialized tensorflow.Summary (proto/summary.proto) as a string scalar, which a
 * deft_summary_writer appends to an event file. None is differentiable. The builders that name
 * them and fill the SUMMARIES collection (tf.summary.scalar, ...) are in graph/summary.c. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_def.h"
#include "base/alloc.h"
#include "proto/tensor_proto.h"
#include "summary.pb-c.h"

/* ---- shared ---- */

static void scalar_string_shape(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, DEFT_SCALAR); }

/* Output 0 = the packed Summary s. */
static void emit(deft_kernel_ctx *c, const Tensorflow__Summary *s) {
  size_t n = protobuf_c_message_get_packed_size(&s->base);
  uint8_t *buf = deft_malloc(n ? n : 1);
  deft_tensor *out = buf ? deft_kernel_output(c, 0, DEFT_STRING, NULL, 0) : NULL;
  if (!buf) deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", n);
  if (out) {
    protobuf_c_message_pack(&s->base, buf);
    if (!deft_tensor_set_string(out, 0, (const char *)buf, n, NULL))
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", n);
  }
  deft_free(buf);
}

static double element(const deft_tensor *t, int64_t i) {
  switch (deft_tensor_dtype(t)) {
  case DEFT_FLOAT: return ((const float *)deft_tensor_data(t))[i];
  case DEFT_DOUBLE: return ((const double *)deft_tensor_data(t))[i];
  default: return deft_tensor_get_double(t, i);
  }
}

static bool same_shape(const deft_tensor *a, const deft_tensor *b) {
  if (deft_tensor_rank(a) != deft_tensor_rank(b)) return false;
  for (int i = 0; i < deft_tensor_rank(a); i++)
    if (deft_tensor_dim(a, i) != deft_tensor_dim(b, i)) return false;
  return true;
}

/* ---- ScalarSummary: one simple_value per (tag, value) pair ---- */

static void scalar_summary_shape(deft_shape_ctx *c) {
  deft_shape t = deft_shape_ctx_input(c, 0), v = deft_shape_ctx_input(c, 1);
  bool known = t.rank >= 0 && v.rank >= 0;
  for (int i = 0; known && i < t.rank; i++) known = t.dims[i] >= 0;
  for (int i = 0; known && i < v.rank; i++) known = v.dims[i] >= 0;
  if (known && deft_shape_num_elements(t) != deft_shape_num_elements(v)) {
    char a[128], b[128];
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "tags and values not the same shape: %s != %s",
                    deft_shape_format(t, a, sizeof a), deft_shape_format(v, b, sizeof b));
    return;
  }
  scalar_string_shape(c);
}

static void scalar_summary_kernel(deft_kernel_ctx *c) {
  const deft_tensor *tags = deft_kernel_input(c, 0), *vals = deft_kernel_input(c, 1);
  if (!same_shape(tags, vals)) {
    char a[128], b[128];
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "tags and values not the same shape: %s != %s",
                     deft_shape_format(deft_tensor_shape(tags), a, sizeof a),
                     deft_shape_format(deft_tensor_shape(vals), b, sizeof b));
    return;
  }
  int64_t n = deft_tensor_num_elements(tags);
  Tensorflow__Summary__Value *v = deft_calloc((size_t)(n ? n : 1), sizeof *v);
  Tensorflow__Summary__Value **vp = deft_calloc((size_t)(n ? n : 1), sizeof *vp);
  if (!v || !vp) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory for %lld values", (long long)n);
  } else {
    for (int64_t i = 0; i < n; i++) {
      tensorflow__summary__value__init(&v[i]);
      v[i].tag = (char *)deft_tensor_string(tags, i, NULL);
      v[i].value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
      v[i].simple_value = (float)element(vals, i);
      vp[i] = &v[i];
    }
    Tensorflow__Summary s;
    tensorflow__summary__init(&s);
    s.n_value = (size_t)n;
    s.value = vp;
    emit(c, &s);
  }
  deft_free(v);
  deft_free(vp);
}

/* ---- HistogramSummary: TF's default buckets ---- */

/* TF's default bucket edges: -DBL_MAX, the negated 1e-12 * 1.1^k (k descending) below 1e20, 0,
 * then 1e-12 * 1.1^k ascending and DBL_MAX: 2 * 774 + 3 edges. Immutable once built. */
#define MAX_EDGES 1600
static double edges[MAX_EDGES];
static int nedges;

static void init_edges(void) {
  double pos[MAX_EDGES / 2];
  int half = 0;
  for (double v = 1.0e-12; v < 1.0e20 && half < MAX_EDGES / 2 - 2; v *= 1.1) pos[half++] = v;
  int k = 0;
  edges[k++] = -DBL_MAX;
  for (int i = half - 1; i >= 0; i--) edges[k++] = -pos[i];
  edges[k++] = 0.0;
  for (int i = 0; i < half; i++) edges[k++] = pos[i];
  edges[k++] = DBL_MAX;
  nedges = k;
}

static pthread_once_t edges_once = PTHREAD_ONCE_INIT;

/* The bucket of x: the first edge greater than x (std::upper_bound, as TF's Histogram::Add). */
static int bucket_of(double x) {
  int lo = 0, hi = nedges;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo < nedges ? lo : nedges - 1;
}

static void histogram_summary_shape(deft_shape_ctx *c) {
  if (deft_shape_ctx_input(c, 0).rank > 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "the tag must be a scalar");
    return;
  }
  scalar_string_shape(c);
}

/* HistogramSummary's parameter block: its node's name, for TF's message on a non-finite value
 * (the graph's string, which outlives the plan). */
typedef struct histogram_params {
  const char *name;
} histogram_params;

static void histogram_summary_prepare(deft_prepare_ctx *pc) {
  histogram_params *p = deft_prepare_params(pc, sizeof *p);
  if (p) p->name = deft_op_name(deft_prepare_op(pc));
}

static void histogram_summary_kernel(deft_kernel_ctx *c) {
  const deft_tensor *tag = deft_kernel_input(c, 0), *vals = deft_kernel_input(c, 1);
  if (deft_tensor_num_elements(tag) != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the tag must be a scalar, got %lld elements",
                     (long long)deft_tensor_num_elements(tag));
    return;
  }
  pthread_once(&edges_once, init_edges);
  double *count = deft_kernel_scratch(c, sizeof(double) * (size_t)nedges * 3);
  if (!count) return;
  double *lim_out = count + nedges, *cnt_out = lim_out + nedges;
  memset(count, 0, sizeof(double) * (size_t)nedges);
  Tensorflow__HistogramProto h;
  tensorflow__histogram_proto__init(&h);
  h.min = DBL_MAX;
  h.max = -DBL_MAX;
  int64_t n = deft_tensor_num_elements(vals);
  for (int64_t i = 0; i < n; i++) {
    double x = element(vals, i);
    if (!isfinite(x)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s in summary histogram for: %s",
                       isnan(x) ? "Nan" : "Infinity", ((const histogram_params *)deft_kernel_params(c))->name);
      return;
    }
    count[bucket_of(x)] += 1.0;
    if (x < h.min) h.min = x;
    if (x > h.max) h.max = x;
    h.sum += x;
    h.sum_squares += x * x;
  }
  h.num = (double)n;
  /* TF's encoding: each run of empty buckets becomes one entry (its last edge, count 0). */
  size_t m = 0;
  for (int i = 0; i < nedges;) {
    double end = edges[i], cnt = count[i];
    i++;
    if (cnt <= 0.0)
      while (i < nedges && count[i] <= 0.0) end = edges[i++];
    lim_out[m] = end;
    cnt_out[m++] = cnt;
  }
  h.n_bucket_limit = h.n_bucket = m;
  h.bucket_limit = lim_out;
  h.bucket = cnt_out;
  Tensorflow__Summary__Value v;
  tensorflow__summary__value__init(&v);
  v.tag = (char *)deft_tensor_string(tag, 0, NULL);
  v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_HISTO;
  v.histo = &h;
  Tensorflow__Summary__Value *vp = &v;
  Tensorflow__Summary s;
  tensorflow__summary__init(&s);
  s.n_value = 1;
  s.value = &vp;
  emit(c, &s);
}

/* ---- MergeSummary: the values of every input Summary, in order; tags must be unique ---- */

static void merge_summary_kernel(deft_kernel_ctx *c) {
  int nin = deft_kernel_num_inputs(c);
  size_t nparts = 0, cap = 0, nvalues = 0;
  Tensorflow__Summary **parts = NULL;
  Tensorflow__Summary__Value **values = NULL;
  bool ok = true;
  for (int i = 0; ok && i < nin; i++) {
    const deft_tensor *t = deft_kernel_input(c, i);
    for (int64_t j = 0; ok && j < deft_tensor_num_elements(t); j++) {
      if (nparts == cap) {
        size_t ncap = cap ? 2 * cap : 8;
        Tensorflow__Summary **np = deft_realloc(parts, ncap * sizeof *np);
        if (!np) {
          deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory merging summaries");
          ok = false;
          break;
        }
        parts = np;
        cap = ncap;
      }
      size_t len;
      const char *bytes = deft_tensor_string(t, j, &len);
      parts[nparts] =
          tensorflow__summary__unpack(deft_protobuf_allocator(), len, (const uint8_t *)bytes);
      if (!parts[nparts]) {
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "Could not parse one of the summary inputs "
                         "(input %d, element %lld, %zu bytes)", i, (long long)j, len);
        ok = false;
        break;
      }
      nvalues += parts[nparts++]->n_value;
    }
  }
  if (ok) {
    values = deft_calloc(nvalues ? nvalues : 1, sizeof *values);
    if (!values) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory merging summaries");
      ok = false;
    }
  }
  size_t k = 0;
  for (size_t p = 0; ok && p < nparts; p++)
    for (size_t j = 0; ok && j < parts[p]->n_value; j++) {
      Tensorflow__Summary__Value *v = parts[p]->value[j];
      for (size_t q = 0; q < k; q++)
        if (!strcmp(values[q]->tag, v->tag)) {
          deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "Duplicate tag %s found in summary inputs",
                           v->tag);
          ok = false;
          break;
        }
      values[k++] = v;
    }
  if (ok) {
    Tensorflow__Summary s;
    tensorflow__summary__init(&s);
    s.n_value = k;
    s.value = values;
    emit(c, &s);
  }
  for (size_t p = 0; p < nparts; p++)
    tensorflow__summary__free_unpacked(parts[p], deft_protobuf_allocator());
  deft_free(parts);
  deft_free(values);
}

static const deft_op_def summary_defs[] = {
    {.type = "ScalarSummary", .inputs = "tags: string, values: T", .outputs = "summary: string",
     .attrs = "T: realnumbertype", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = scalar_summary_shape, .kernel = scalar_summary_kernel},
    {.type = "HistogramSummary", .inputs = "tag: string, values: T", .outputs = "summary: string",
     .attrs = "T: realnumbertype = DT_FLOAT", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = histogram_summary_shape,
     .prepare = histogram_summary_prepare, .kernel = histogram_summary_kernel},
    {.type = "MergeSummary", .inputs = "inputs: N * string", .outputs = "summary: string",
     .attrs = "N: int >= 1", .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = scalar_string_shape,
     .kernel = merge_summary_kernel},
};

DEFT_FAMILY(deft_ops_summary, summary_defs);
