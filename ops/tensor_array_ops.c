/* SPDX-License-Identifier: Apache-2.0 */
/* ops/tensor_array_ops.c - TF1's TensorArrays (TensorArrayV3 and its Read, Write, Gather,
 * Scatter, Concat, Split, Size, Close and Grad ops) and the stacks TF's gradient loops use
 * (Stack, StackPush, StackPop, StackClose and their V2 forms).
 *
 * Both are per-run resources (TF keeps them in the step's container): the creating op makes
 * the object, the run owns it (deft_kernel_resource_add) and destroys it when the run ends, and
 * the handle output carries its number as an int64 scalar, forwarded unchanged through Enter,
 * Identity and Switch. Elements are held by reference: writing a tensor shares its buffer, so
 * a write or a push copies nothing (the producing slot then allocates a fresh buffer next time,
 * since the element holds the old one). Flow outputs forward their flow input.
 *
 * Gradients (TF 1.x's tensor_array_grad): a Read's is a Write to the array's gradient array
 * (TensorArrayGradV3 for the gradient's source, "gradients"), a Write's a Read of it, Gather and
 * Scatter, Concat and Split the same way; the flows carry the ordering. The builders below
 * (deft/control_flow.h) make TF's ops with TF's names. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/control_flow.h"
#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"

/* ---- TensorArray objects ---- */

typedef struct ta_grad ta_grad;

typedef struct tensor_array {
  deft_dtype dtype;
  int64_t size;
  bool dynamic, clear_after_read, identical, aggregate, closed;
  deft_shape elem_shape; /* declared (partial); with identical, the first write refines it */
  deft_tensor *elems;    /* cap embedded tensors, empty until written */
  uint8_t *state;        /* per element: 0 unwritten, 1 written, 2 read and cleared */
  int64_t cap;
  const char *name;      /* the creating op's name, for messages */
  ta_grad *grads;
  deft_tensor zeros; /* what unwritten elements read as, made on the first such read */
} tensor_array;

struct ta_grad {
  char *source;
  int64_t handle;
  ta_grad *next;
};

static void ta_destroy(void *obj) {
  tensor_array *ta = obj;
  for (int64_t i = 0; i < ta->cap; i++) deft_tensor_reset(&ta->elems[i]);
  deft_tensor_reset(&ta->zeros);
  deft_free(ta->elems);
  deft_free(ta->state);
  for (ta_grad *g = ta->grads, *next; g; g = next) {
    next = g->next;
    deft_free(g->source);
    deft_free(g);
  }
  deft_free(ta);
}

static bool ta_reserve(deft_kernel_ctx *c, tensor_array *ta, int64_t n) {
  if (n <= ta->cap) return true;
  int64_t ncap = ta->cap ? ta->cap : 8;
  while (ncap < n) ncap *= 2;
  deft_tensor *ne = deft_realloc(ta->elems, sizeof *ne * (size_t)ncap);
  if (ne) ta->elems = ne;
  uint8_t *ns = ne ? deft_realloc(ta->state, (size_t)ncap) : NULL;
  if (!ne || !ns) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory growing TensorArray '%s' to %"
                     PRId64 " elements", ta->name, n);
    return false;
  }
  ta->state = ns;
  memset(ta->elems + ta->cap, 0, sizeof *ne * (size_t)(ncap - ta->cap));
  memset(ta->state + ta->cap, 0, (size_t)(ncap - ta->cap));
  ta->cap = ncap;
  return true;
}

/* A new TensorArray as a run resource; its handle in *handle (0 on failure). */
static tensor_array *ta_new(deft_kernel_ctx *c, deft_dtype dtype, int64_t size, const char *name,
                            int64_t *handle) {
  *handle = 0;
  tensor_array *ta = deft_calloc(1, sizeof *ta);
  if (!ta) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory creating a TensorArray");
    return NULL;
  }
  ta->dtype = dtype;
  ta->size = size;
  ta->name = name;
  ta->elem_shape = deft_shape_unknown();
  if (!ta_reserve(c, ta, size)) {
    ta_destroy(ta);
    return NULL;
  }
  *handle = deft_kernel_resource_add(c, ta, ta_destroy);
  return *handle ? ta : NULL;
}

static tensor_array *ta_get(deft_kernel_ctx *c) {
  tensor_array *ta = deft_kernel_resource_get(c, 0, ta_destroy);
  if (ta && ta->closed) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s' has already been closed",
                     ta->name);
    return NULL;
  }
  return ta;
}

static bool out_handle(deft_kernel_ctx *c, int out, int64_t handle) {
  deft_tensor *h = deft_kernel_output(c, out, DEFT_INT64, NULL, 0);
  if (!h) return false;
  deft_tensor_i64(h)[0] = handle;
  return true;
}

static bool scalar_index(deft_kernel_ctx *c, int input, int64_t *out) {
  const deft_tensor *t = deft_kernel_input(c, input);
  if (t->n != 1 || (t->dtype != DEFT_INT32 && t->dtype != DEFT_INT64)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d must be an integer scalar", input);
    return false;
  }
  *out = deft_tensor_index_at(t, 0);
  return true;
}

static bool shape_fits(deft_shape s, const int64_t *dims, int rank) {
  if (s.rank < 0) return true;
  if (s.rank != rank) return false;
  for (int i = 0; i < rank; i++)
    if (s.dims[i] >= 0 && s.dims[i] != dims[i]) return false;
  return true;
}

static bool shape_full(deft_shape s) {
  if (s.rank < 0) return false;
  for (int i = 0; i < s.rank; i++)
    if (s.dims[i] < 0) return false;
  return true;
}

/* Checks that a value of dims/rank may be element `index` of ta. */
static bool check_element(deft_kernel_ctx *c, tensor_array *ta, int64_t index, deft_dtype dtype,
                          const int64_t *dims, int rank) {
  if (dtype != ta->dtype) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s' holds %s, the value is %s",
                     ta->name, deft_dtype_name(ta->dtype), deft_dtype_name(dtype));
    return false;
  }
  if (!shape_fits(ta->elem_shape, dims, rank)) {
    char a[128], b[128];
    deft_shape v = {.rank = rank};
    memcpy(v.dims, dims, sizeof(int64_t) * (size_t)rank);
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " has shape "
                     "%s, but the array's elements have shape %s", ta->name, index,
                     deft_shape_format(v, b, sizeof b), deft_shape_format(ta->elem_shape, a,
                                                                          sizeof a));
    return false;
  }
  if (ta->identical && !shape_full(ta->elem_shape)) {
    ta->elem_shape.rank = rank;
    memcpy(ta->elem_shape.dims, dims, sizeof(int64_t) * (size_t)rank);
  }
  return true;
}

/* Makes index a valid element position (growing a dynamic array). */
static bool ta_index(deft_kernel_ctx *c, tensor_array *ta, int64_t index, bool writing) {
  if (index >= 0 && index < ta->size) return true;
  if (writing && ta->dynamic && index >= 0) {
    if (!ta_reserve(c, ta, index + 1)) return false;
    ta->size = index + 1;
    return true;
  }
  deft_kernel_fail(c, DEFT_OUT_OF_RANGE, "index %" PRId64 " is out of range for TensorArray '%s' "
                   "of size %" PRId64 "%s", index, ta->name, ta->size,
                   writing ? " (not dynamic_size)" : "");
  return false;
}

/* Stores value as element index: shared, or added to what is there (a gradient array). */
static bool ta_store(deft_kernel_ctx *c, tensor_array *ta, int64_t index, const deft_tensor *v) {
  if (!check_element(c, ta, index, v->dtype, v->dims, v->rank)) return false;
  if (ta->state[index] != 0) {
    deft_tensor *e = &ta->elems[index];
    if (!ta->aggregate || ta->state[index] != 1) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " has "
                       "already been written%s", ta->name, index,
                       ta->state[index] == 2 ? " and read" : "");
      return false;
    }
    if (e->rank != v->rank || memcmp(e->dims, v->dims, sizeof(int64_t) * (size_t)v->rank) ||
        v->dtype != DEFT_FLOAT) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': cannot add a gradient of "
                       "another shape or dtype to element %" PRId64, ta->name, index);
      return false;
    }
    deft_tensor sum = {0};
    if (!deft_tensor_ensure(&sum, v->dtype, v->dims, v->rank, NULL)) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
    const float *a = deft_tensor_f32(e), *b = deft_tensor_f32(v);
    float *d = deft_tensor_f32(&sum);
    for (int64_t i = 0; i < v->n; i++) d[i] = a[i] + b[i];
    deft_tensor_reset(e);
    *e = sum;
    return true;
  }
  deft_tensor_set_shared(&ta->elems[index], v);
  ta->state[index] = 1;
  return true;
}

/* The element to read at index: NULL after failing. An unwritten element of a known shape
 * reads as zeros: one tensor per array, made and cleared on the first such read and shared by
 * the later ones (a gradient loop reading an array nothing wrote reads it every iteration);
 * readers get it by reference, as written elements, so nothing writes into it. */
static const deft_tensor *ta_load(deft_kernel_ctx *c, tensor_array *ta, int64_t index) {
  if (!ta_index(c, ta, index, false)) return NULL;
  if (ta->state[index] == 1) return &ta->elems[index];
  if (ta->state[index] == 2) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " was "
                     "already read, and the array clears elements after reading "
                     "(clear_after_read)", ta->name, index);
    return NULL;
  }
  if (!shape_full(ta->elem_shape)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " has not "
                     "been written", ta->name, index);
    return NULL;
  }
  deft_tensor *zeros = &ta->zeros;
  bool same = zeros->buf && zeros->dtype == ta->dtype && zeros->rank == ta->elem_shape.rank;
  for (int i = 0; same && i < zeros->rank; i++) same = zeros->dims[i] == ta->elem_shape.dims[i];
  if (same) return zeros;
  deft_tensor_reset(zeros); /* readers keep their references */
  if (!deft_tensor_ensure(zeros, ta->dtype, ta->elem_shape.dims, ta->elem_shape.rank, NULL)) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  size_t nb = deft_dtype_size(ta->dtype) * (size_t)zeros->n;
  if (nb) memset(zeros->buf->data, 0, nb);
  return zeros;
}

static void ta_after_read(tensor_array *ta, int64_t index) {
  if (!ta->clear_after_read || ta->state[index] != 1) return;
  deft_tensor_reset(&ta->elems[index]);
  ta->state[index] = 2;
}

/* ---- TensorArrayV3 ---- */

typedef struct {
  deft_dtype dtype;
  deft_shape elem_shape;
  bool dynamic, clear_after_read, identical;
  const char *name; /* the op's, for messages */
} ta_params;

static void ta_prepare(deft_prepare_ctx *p) {
  ta_params *tp = deft_prepare_params(p, sizeof *tp);
  if (!tp) return;
  tp->dtype = deft_prepare_attr_type(p, "dtype");
  tp->name = deft_op_name(deft_prepare_op(p));
  tp->dynamic = deft_prepare_attr_bool(p, "dynamic_size");
  tp->clear_after_read = deft_prepare_attr_bool(p, "clear_after_read");
  const deft_attr *id = deft_prepare_find_attr(p, "identical_element_shapes");
  tp->identical = id && id->v.kind == DEFT_ATTR_BOOL && id->v.u.b;
  tp->elem_shape = deft_shape_unknown();
  deft_op_attr_shape(deft_prepare_op(p), "element_shape", &tp->elem_shape);
  if (deft_dtype_size(tp->dtype) == 0 && tp->dtype != DEFT_STRING)
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "TensorArrays of %s", deft_dtype_name(tp->dtype));
}

static void ta_kernel(deft_kernel_ctx *c) {
  const ta_params *tp = deft_kernel_params(c);
  int64_t size;
  if (!scalar_index(c, 0, &size)) return;
  if (size < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "size %" PRId64 " is negative", size);
    return;
  }
  int64_t h;
  tensor_array *ta = ta_new(c, tp->dtype, size, tp->name, &h);
  if (!ta) return;
  ta->dynamic = tp->dynamic;
  ta->clear_after_read = tp->clear_after_read;
  ta->identical = tp->identical;
  ta->elem_shape = tp->elem_shape;
  if (!out_handle(c, 0, h)) return;
  deft_tensor *flow = deft_kernel_output(c, 1, DEFT_FLOAT, NULL, 0);
  if (flow) deft_tensor_f32(flow)[0] = 0;
}

static void ta_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, DEFT_SCALAR);
  deft_shape_ctx_set_output(c, 1, DEFT_SCALAR);
}

static void flow_shape(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, DEFT_SCALAR); }

/* ---- Write, Read ---- */

static void ta_write_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  int64_t index;
  if (!ta || !scalar_index(c, 1, &index) || !ta_index(c, ta, index, true)) return;
  if (!ta_store(c, ta, index, deft_kernel_input(c, 2))) return;
  deft_kernel_forward(c, 0, deft_kernel_input(c, 3));
}

static void ta_read_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  int64_t index;
  if (!ta || !scalar_index(c, 1, &index)) return;
  if (deft_kernel_output_dtype(c, 0) != ta->dtype) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s' holds %s, the read asks for %s",
                     ta->name, deft_dtype_name(ta->dtype),
                     deft_dtype_name(deft_kernel_output_dtype(c, 0)));
    return;
  }
  const deft_tensor *e = ta_load(c, ta, index);
  if (e) deft_kernel_forward(c, 0, e);
  if (e) ta_after_read(ta, index);
}

static void read_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
}

/* ---- Gather, Scatter ---- */

typedef struct {
  deft_shape elem_shape;
} gather_params;

static void ta_gather_prepare(deft_prepare_ctx *p) {
  gather_params *gp = deft_prepare_params(p, sizeof *gp);
  if (!gp) return;
  gp->elem_shape = deft_shape_unknown();
  deft_op_attr_shape(deft_prepare_op(p), "element_shape", &gp->elem_shape);
}

/* Copies the elements listed by idx (n of them; all of one shape) into output 0 as rows. */
static void gather_rows(deft_kernel_ctx *c, tensor_array *ta, const deft_tensor *idx, int64_t n,
                        deft_shape fallback) {
  const deft_tensor *first = NULL;
  int64_t dims[DEFT_MAX_RANK];
  int rank;
  if (n > 0) {
    first = ta_load(c, ta, deft_tensor_index_at(idx, 0));
    if (!first) return;
    if (first->rank + 1 > DEFT_MAX_RANK) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "elements have too high a rank");
      return;
    }
    rank = first->rank;
    memcpy(dims, first->dims, sizeof(int64_t) * (size_t)rank);
  } else {
    deft_shape s = shape_full(ta->elem_shape) ? ta->elem_shape : fallback;
    if (!shape_full(s)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': gathering no elements "
                       "needs a known element shape", ta->name);
      return;
    }
    rank = s.rank;
    memcpy(dims, s.dims, sizeof(int64_t) * (size_t)rank);
  }
  int64_t odims[DEFT_MAX_RANK];
  odims[0] = n;
  memcpy(odims + 1, dims, sizeof(int64_t) * (size_t)rank);
  first = NULL;
  deft_tensor *out = deft_kernel_output(c, 0, ta->dtype, odims, rank + 1);
  if (!out) return;
  size_t es = deft_dtype_size(ta->dtype);
  int64_t per = 1;
  for (int i = 0; i < rank; i++) per *= dims[i];
  for (int64_t i = 0; i < n; i++) {
    int64_t k = deft_tensor_index_at(idx, i);
    const deft_tensor *e = ta_load(c, ta, k);
    if (!e) return;
    if (e->rank != rank || memcmp(e->dims, dims, sizeof(int64_t) * (size_t)rank)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " has "
                       "another shape than element %" PRId64 "; gather needs one shape",
                       ta->name, k, deft_tensor_index_at(idx, 0));
      return;
    }
    memcpy((char *)out->buf->data + (size_t)(i * per) * es, e->buf->data, (size_t)per * es);
    ta_after_read(ta, k);
  }
}

static void ta_gather_kernel(deft_kernel_ctx *c) {
  const gather_params *gp = deft_kernel_params(c);
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  const deft_tensor *idx = deft_kernel_input(c, 1);
  if (idx->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "indices must be a vector");
    return;
  }
  gather_rows(c, ta, idx, idx->n, gp->elem_shape);
}

static void gather_shape(deft_shape_ctx *c) {
  deft_shape e = deft_shape_unknown(), s = deft_shape_unknown();
  deft_op_attr_shape(c->op, "element_shape", &e);
  deft_shape idx = deft_shape_ctx_input(c, 1);
  if (e.rank >= 0 && e.rank < DEFT_MAX_RANK) {
    s.rank = e.rank + 1;
    s.dims[0] = idx.rank == 1 ? idx.dims[0] : -1;
    memcpy(s.dims + 1, e.dims, sizeof(int64_t) * (size_t)e.rank);
  }
  deft_shape_ctx_set_output(c, 0, s);
}

/* Stores rows [row0, row0 + count) of value (dim 0) as element index. */
static bool store_rows(deft_kernel_ctx *c, tensor_array *ta, int64_t index, const deft_tensor *v,
                       int64_t row0, int64_t count, bool keep_dim) {
  int64_t dims[DEFT_MAX_RANK];
  int rank = keep_dim ? v->rank : v->rank - 1;
  if (keep_dim) {
    memcpy(dims, v->dims, sizeof(int64_t) * (size_t)v->rank);
    dims[0] = count;
  } else {
    memcpy(dims, v->dims + 1, sizeof(int64_t) * (size_t)rank);
  }
  int64_t per = 1;
  for (int i = 1; i < v->rank; i++) per *= v->dims[i];
  deft_tensor e = {0};
  if (!deft_tensor_ensure(&e, v->dtype, dims, rank, NULL)) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  size_t es = deft_dtype_size(v->dtype);
  if (per * count != 0) memcpy(e.buf->data, (const char *)v->buf->data + (size_t)(row0 * per) * es,
                          (size_t)(per * count) * es);
  bool ok = ta_store(c, ta, index, &e);
  deft_tensor_reset(&e);
  return ok;
}

static void ta_scatter_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  const deft_tensor *idx = deft_kernel_input(c, 1), *v = deft_kernel_input(c, 2);
  if (idx->rank != 1 || v->rank < 1 || v->dims[0] != idx->n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the value's first dimension must match the %"
                     PRId64 " indices", idx->n);
    return;
  }
  if (deft_dtype_size(v->dtype) == 0) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "scattering %s", deft_dtype_name(v->dtype));
    return;
  }
  for (int64_t i = 0; i < idx->n; i++) {
    int64_t k = deft_tensor_index_at(idx, i);
    if (!ta_index(c, ta, k, true) || !store_rows(c, ta, k, v, i, 1, false)) return;
  }
  deft_kernel_forward(c, 0, deft_kernel_input(c, 3));
}

/* ---- Concat, Split ---- */

static void ta_concat_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  int64_t n = ta->size, rows = 0;
  int64_t dims[DEFT_MAX_RANK];
  int rank = -1;
  for (int64_t i = 0; i < n; i++) {
    if (ta->state[i] != 1) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " has %s",
                       ta->name, i, ta->state[i] ? "already been read" : "not been written");
      return;
    }
    const deft_tensor *e = &ta->elems[i];
    if (e->rank < 1 || (rank >= 0 && (e->rank != rank ||
                                      memcmp(e->dims + 1, dims + 1,
                                             sizeof(int64_t) * (size_t)(rank - 1))))) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s': element %" PRId64 " cannot "
                       "be concatenated (elements need rank >= 1 and equal dims after the "
                       "first)", ta->name, i);
      return;
    }
    rank = e->rank;
    memcpy(dims, e->dims, sizeof(int64_t) * (size_t)rank);
    rows += e->dims[0];
  }
  if (rank < 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "TensorArray '%s' is empty: concat needs the "
                     "element shape", ta->name);
    return;
  }
  dims[0] = rows;
  deft_tensor *out = deft_kernel_output(c, 0, ta->dtype, dims, rank);
  int64_t ln = n;
  deft_tensor *lengths = out ? deft_kernel_output(c, 1, DEFT_INT64, &ln, 1) : NULL;
  if (!lengths) return;
  size_t es = deft_dtype_size(ta->dtype), off = 0;
  for (int64_t i = 0; i < n; i++) {
    const deft_tensor *e = &ta->elems[i];
    size_t nb = (size_t)e->n * es;
    if (nb) memcpy((char *)out->buf->data + off, e->buf->data, nb);
    off += nb;
    deft_tensor_i64(lengths)[i] = e->dims[0];
    ta_after_read(ta, i);
  }
}

static void concat_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
  deft_shape l = {.rank = 1, .dims = {-1}};
  deft_shape_ctx_set_output(c, 1, l);
}

static void ta_split_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  const deft_tensor *v = deft_kernel_input(c, 1), *len = deft_kernel_input(c, 2);
  if (v->rank < 1 || len->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "split needs a value of rank >= 1 and a vector of "
                     "lengths");
    return;
  }
  int64_t total = 0;
  for (int64_t i = 0; i < len->n; i++) {
    int64_t l = deft_tensor_index_at(len, i);
    if (l < 0 || l > v->dims[0] - total) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "lengths do not split the value's %" PRId64
                       " rows", v->dims[0]);
      return;
    }
    total += l;
  }
  if (total != v->dims[0]) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "lengths sum to %" PRId64 ", the value has %"
                     PRId64 " rows", total, v->dims[0]);
    return;
  }
  if (deft_dtype_size(v->dtype) == 0) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "splitting %s", deft_dtype_name(v->dtype));
    return;
  }
  int64_t row = 0;
  for (int64_t i = 0; i < len->n; i++) {
    int64_t l = deft_tensor_index_at(len, i);
    if (!ta_index(c, ta, i, true) || !store_rows(c, ta, i, v, row, l, true)) return;
    row += l;
  }
  deft_kernel_forward(c, 0, deft_kernel_input(c, 3));
}

/* ---- Size, Close, Grad ---- */

static void ta_size_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  deft_tensor *out = deft_kernel_output(c, 0, DEFT_INT32, NULL, 0);
  if (out) deft_tensor_i32(out)[0] = (int32_t)ta->size;
}

static void ta_close_kernel(deft_kernel_ctx *c) {
  tensor_array *ta = deft_kernel_resource_get(c, 0, ta_destroy);
  if (!ta) return;
  for (int64_t i = 0; i < ta->cap; i++) deft_tensor_reset(&ta->elems[i]);
  ta->closed = true;
}

typedef struct {
  const char *source;
  const char *name;
} grad_params;

static void ta_grad_prepare(deft_prepare_ctx *p) {
  grad_params *gp = deft_prepare_params(p, sizeof *gp);
  const deft_attr *a = deft_prepare_find_attr(p, "source");
  if (!gp) return;
  if (!a || a->v.kind != DEFT_ATTR_STRING) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr 'source' is missing");
    return;
  }
  gp->source = a->v.u.s.p ? a->v.u.s.p : "";
  gp->name = deft_op_name(deft_prepare_op(p));
}

/* The gradient array of a TensorArray for one source (made on first use, then the same one):
 * the same size and element shape; writes to one element add up. */
static void ta_grad_kernel(deft_kernel_ctx *c) {
  const grad_params *gp = deft_kernel_params(c);
  tensor_array *ta = ta_get(c);
  if (!ta) return;
  for (ta_grad *g = ta->grads; g; g = g->next)
    if (!strcmp(g->source, gp->source)) {
      if (out_handle(c, 0, g->handle)) deft_kernel_forward(c, 1, deft_kernel_input(c, 1));
      return;
    }
  ta_grad *g = deft_calloc(1, sizeof *g);
  size_t sl = strlen(gp->source);
  char *src = g ? deft_malloc(sl + 1) : NULL;
  if (!src) {
    deft_free(g);
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  memcpy(src, gp->source, sl + 1);
  g->source = src;
  int64_t h;
  tensor_array *gta = ta_new(c, ta->dtype, ta->size, gp->name, &h);
  if (!gta) {
    deft_free(src);
    deft_free(g);
    return;
  }
  gta->aggregate = true;
  gta->clear_after_read = true;
  gta->identical = ta->identical;
  gta->elem_shape = ta->elem_shape;
  g->handle = h;
  g->next = ta->grads;
  ta->grads = g;
  if (out_handle(c, 0, h)) deft_kernel_forward(c, 1, deft_kernel_input(c, 1));
}

/* ---- stacks ---- */

typedef struct stack {
  deft_dtype dtype;
  int64_t max_size; /* < 0: unbounded */
  deft_tensor *v;
  int64_t n, cap;
  bool closed;
  const char *name;
} stack;

static void stack_destroy(void *obj) {
  stack *s = obj;
  for (int64_t i = 0; i < s->n; i++) deft_tensor_reset(&s->v[i]);
  deft_free(s->v);
  deft_free(s);
}

typedef struct {
  deft_dtype elem_type;
  const char *name;
} stack_params;

static void stack_prepare(deft_prepare_ctx *p) {
  stack_params *sp = deft_prepare_params(p, sizeof *sp);
  if (!sp) return;
  sp->elem_type = deft_prepare_attr_type(p, "elem_type");
  sp->name = deft_op_name(deft_prepare_op(p));
}

static void stack_new(deft_kernel_ctx *c, int64_t max_size) {
  const stack_params *sp = deft_kernel_params(c);
  stack *s = deft_calloc(1, sizeof *s);
  if (!s) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory creating a stack");
    return;
  }
  s->dtype = sp->elem_type;
  s->max_size = max_size;
  s->name = sp->name;
  int64_t h = deft_kernel_resource_add(c, s, stack_destroy);
  if (h) out_handle(c, 0, h);
}

static void stack_kernel(deft_kernel_ctx *c) { stack_new(c, -1); }

static void stack_v2_kernel(deft_kernel_ctx *c) {
  int64_t max;
  if (scalar_index(c, 0, &max)) stack_new(c, max);
}

static stack *stack_get(deft_kernel_ctx *c) {
  stack *s = deft_kernel_resource_get(c, 0, stack_destroy);
  if (s && s->closed) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "stack '%s' has already been closed", s->name);
    return NULL;
  }
  return s;
}

static void stack_push_kernel(deft_kernel_ctx *c) {
  stack *s = stack_get(c);
  if (!s) return;
  const deft_tensor *v = deft_kernel_input(c, 1);
  if (v->dtype != s->dtype) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "stack '%s' holds %s, the value is %s", s->name,
                     deft_dtype_name(s->dtype), deft_dtype_name(v->dtype));
    return;
  }
  if (s->max_size >= 0 && s->n >= s->max_size) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "stack '%s' is full (max_size %" PRId64 ")",
                     s->name, s->max_size);
    return;
  }
  if (s->n == s->cap) {
    int64_t ncap = s->cap ? 2 * s->cap : 16;
    deft_tensor *nv = deft_realloc(s->v, sizeof *nv * (size_t)ncap);
    if (!nv) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory growing stack '%s'", s->name);
      return;
    }
    s->v = nv;
    s->cap = ncap;
  }
  memset(&s->v[s->n], 0, sizeof s->v[0]);
  deft_tensor_set_shared(&s->v[s->n++], v);
  deft_kernel_forward(c, 0, v);
}

static void stack_pop_kernel(deft_kernel_ctx *c) {
  stack *s = stack_get(c);
  if (!s) return;
  if (s->n == 0) {
    deft_kernel_fail(c, DEFT_OUT_OF_RANGE, "stack '%s' is empty: popped more than was pushed",
                     s->name);
    return;
  }
  deft_tensor *top = &s->v[--s->n];
  if (top->dtype != deft_kernel_output_dtype(c, 0)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "stack '%s' holds %s, the pop asks for %s",
                     s->name, deft_dtype_name(top->dtype),
                     deft_dtype_name(deft_kernel_output_dtype(c, 0)));
    s->n++;
    return;
  }
  deft_kernel_forward(c, 0, top);
  deft_tensor_reset(top);
}

static void stack_close_kernel(deft_kernel_ctx *c) {
  stack *s = deft_kernel_resource_get(c, 0, stack_destroy);
  if (!s) return;
  for (int64_t i = 0; i < s->n; i++) deft_tensor_reset(&s->v[i]);
  s->n = 0;
  s->closed = true;
}

static void push_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 1));
}

static void handle_shape(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, DEFT_SCALAR); }

/* ---- builders (deft/control_flow.h) ---- */

static deft_tensor_array ta_invalid(void) {
  deft_tensor_array t;
  memset(&t, 0, sizeof t);
  return t;
}

deft_tensor_array deft_tensor_array_new(deft_graph *g, deft_dtype dtype, deft_output size,
                                        deft_shape element_shape, bool dynamic_size,
                                        bool clear_after_read, bool identical_element_shapes,
                                        const char *name) {
  deft_tensor_array t = ta_invalid();
  if (!deft_inputs_ok(g, "TensorArrayV3", &size, 1)) return t;
  deft_op_builder *b = deft_op_builder_new(g, "TensorArrayV3", name ? name : "TensorArray");
  deft_op_builder_add_input(b, size);
  deft_op_builder_set_attr_type(b, "dtype", dtype);
  deft_op_builder_set_attr_shape(b, "element_shape", element_shape);
  deft_op_builder_set_attr_bool(b, "dynamic_size", dynamic_size);
  deft_op_builder_set_attr_bool(b, "clear_after_read", clear_after_read);
  deft_op_builder_set_attr_bool(b, "identical_element_shapes", identical_element_shapes);
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return t;
  deft_op_builder *nb = NULL;
  (void)nb;
  t.handle = deft_op_output(op, 0);
  t.flow = deft_op_output(op, 1);
  t.dtype = dtype;
  t.element_shape = element_shape;
  return t;
}

static bool ta_ok(deft_graph *g, const char *type, deft_tensor_array ta) {
  deft_output in[2] = {ta.handle, ta.flow};
  return deft_inputs_ok(g, type, in, 2);
}

deft_output deft_tensor_array_write(deft_graph *g, deft_tensor_array ta, deft_output index,
                                    deft_output value, const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayWriteV3", ta)) return none;
  deft_output in[4] = {ta.handle, index, value, ta.flow};
  return deft_build_simple(g, "TensorArrayWriteV3", name ? name : "TensorArrayWrite", in, 4);
}

deft_output deft_tensor_array_read(deft_graph *g, deft_tensor_array ta, deft_output index,
                                   const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayReadV3", ta)) return none;
  deft_op_builder *b =
      deft_op_builder_new(g, "TensorArrayReadV3", name ? name : "TensorArrayReadV3");
  deft_op_builder_add_input(b, ta.handle);
  deft_op_builder_add_input(b, index);
  deft_op_builder_add_input(b, ta.flow);
  deft_op_builder_set_attr_type(b, "dtype", ta.dtype);
  deft_op *op = deft_op_builder_finish(b);
  if (!op) return none;
  deft_output o = deft_op_output(op, 0);
  deft_status *st = deft_status_new();
  if (st) deft_output_set_shape(o, ta.element_shape, st);
  deft_status_free(st);
  return o;
}

deft_output deft_tensor_array_gather(deft_graph *g, deft_tensor_array ta, deft_output indices,
                                     const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayGatherV3", ta)) return none;
  deft_op_builder *b =
      deft_op_builder_new(g, "TensorArrayGatherV3", name ? name : "TensorArrayGatherV3");
  deft_op_builder_add_input(b, ta.handle);
  deft_op_builder_add_input(b, indices);
  deft_op_builder_add_input(b, ta.flow);
  deft_op_builder_set_attr_type(b, "dtype", ta.dtype);
  deft_op_builder_set_attr_shape(b, "element_shape", ta.element_shape);
  deft_op *op = deft_op_builder_finish(b);
  return op ? deft_op_output(op, 0) : none;
}

deft_output deft_tensor_array_scatter(deft_graph *g, deft_tensor_array ta, deft_output indices,
                                      deft_output value, const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayScatterV3", ta)) return none;
  deft_output in[4] = {ta.handle, indices, value, ta.flow};
  return deft_build_simple(g, "TensorArrayScatterV3", name ? name : "TensorArrayScatter", in, 4);
}

deft_output deft_tensor_array_size(deft_graph *g, deft_tensor_array ta, const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArraySizeV3", ta)) return none;
  deft_output in[2] = {ta.handle, ta.flow};
  return deft_build_simple(g, "TensorArraySizeV3", name ? name : "TensorArraySizeV3", in, 2);
}

deft_op *deft_tensor_array_close(deft_graph *g, deft_tensor_array ta, const char *name) {
  if (!ta_ok(g, "TensorArrayCloseV3", ta)) return NULL;
  deft_op_builder *b =
      deft_op_builder_new(g, "TensorArrayCloseV3", name ? name : "TensorArrayCloseV3");
  deft_op_builder_add_input(b, ta.handle);
  return deft_op_builder_finish(b);
}

/* TF's TensorArray.stack: under "TensorArrayStack/", gather range(0, size). */
deft_output deft_tensor_array_stack(deft_graph *g, deft_tensor_array ta, const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayStack", ta)) return none;
  if (!deft_graph_push_scope(g, name ? name : "TensorArrayStack")) return none;
  deft_output size = deft_tensor_array_size(g, ta, "TensorArraySizeV3");
  deft_output r = deft_range(g, deft_const_int32(g, 0, "range/start"), size,
                             deft_const_int32(g, 1, "range/delta"), "range");
  deft_output out = deft_tensor_array_gather(g, ta, r, "TensorArrayGatherV3");
  deft_graph_pop_scope(g);
  return out;
}

/* TF's TensorArray.unstack: under "TensorArrayUnstack/", scatter value's rows to
 * range(0, shape(value)[0]). Returns the new flow. */
deft_output deft_tensor_array_unstack(deft_graph *g, deft_tensor_array ta, deft_output value,
                                      const char *name) {
  deft_output none = {NULL, 0};
  if (!ta_ok(g, "TensorArrayUnstack", ta) || !deft_inputs_ok(g, "TensorArrayUnstack", &value, 1))
    return none;
  if (!deft_graph_push_scope(g, name ? name : "TensorArrayUnstack")) return none;
  deft_output shape = deft_shape_of(g, value, "Shape");
  int32_t b0 = 0, e0 = 1, s0 = 1;
  deft_output n = deft_strided_slice(
      g, shape, deft_const_int32_vector(g, &b0, 1, "strided_slice/stack"),
      deft_const_int32_vector(g, &e0, 1, "strided_slice/stack_1"),
      deft_const_int32_vector(g, &s0, 1, "strided_slice/stack_2"), 0, 0, 0, 0, 1, "strided_slice");
  deft_output r = deft_range(g, deft_const_int32(g, 0, "range/start"), n,
                             deft_const_int32(g, 1, "range/delta"), "range");
  deft_output flow =
      deft_tensor_array_scatter(g, ta, r, value, "TensorArrayScatter/TensorArrayScatterV3");
  deft_graph_pop_scope(g);
  return flow;
}

/* ---- gradients ---- */

/* The gradient's source: the first component of the gradient tensor's name ("gradients",
 * "gradients_1"), so each deft_gradients call gets its own gradient arrays, as in TF. */
static void grad_source(const deft_output *grads, int n, char *buf, size_t size) {
  snprintf(buf, size, "gradients");
  for (int i = 0; i < n; i++) {
    if (!grads[i].op) continue;
    const char *nm = deft_op_name(grads[i].op), *sl = strchr(nm, '/');
    if (sl && !strncmp(nm, "gradients", 9)) snprintf(buf, size, "%.*s", (int)(sl - nm), nm);
    return;
  }
}

/* TensorArrayGradV3(handle, flow) for the source of grads: the gradient array's handle and flow. */
static bool grad_array(deft_graph *g, const deft_op *op, deft_output flow, const deft_output *grads,
                       int ngrads, deft_tensor_array *gta) {
  char src[256];
  grad_source(grads, ngrads, src, sizeof src);
  deft_op_builder *b =
      deft_op_builder_new(g, "TensorArrayGradV3", "TensorArrayGrad/TensorArrayGradV3");
  deft_op_builder_add_input(b, deft_op_input(op, 0));
  deft_op_builder_add_input(b, flow);
  deft_op_builder_set_attr_string(b, "source", src, strlen(src));
  deft_op *gop = deft_op_builder_finish(b);
  if (!gop) return false;
  memset(gta, 0, sizeof *gta);
  gta->handle = deft_op_output(gop, 0);
  gta->flow = deft_op_output(gop, 1);
  deft_dtype t = DEFT_FLOAT;
  if (!deft_op_attr_type(op, "dtype", &t)) deft_op_attr_type(op, "T", &t);
  gta->dtype = t;
  gta->element_shape = deft_shape_unknown();
  return true;
}

static void read_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grad_array(g, op, deft_op_input(op, 2), grads, 1, &gta)) return;
  dx[2] = deft_tensor_array_write(g, gta, deft_op_input(op, 1), grads[0], "TensorArrayWrite");
}

static void write_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grad_array(g, op, grads[0], grads, 1, &gta)) return;
  gta.element_shape = deft_output_shape(deft_op_input(op, 2));
  dx[2] = deft_tensor_array_read(g, gta, deft_op_input(op, 1), "TensorArrayReadV3");
  dx[3] = grads[0];
}

static void gather_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grad_array(g, op, deft_op_input(op, 2), grads, 1, &gta)) return;
  dx[2] = deft_tensor_array_scatter(g, gta, deft_op_input(op, 1), grads[0], "TensorArrayScatter");
}

static void scatter_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grad_array(g, op, grads[0], grads, 1, &gta)) return;
  deft_shape vs = deft_output_shape(deft_op_input(op, 2));
  if (vs.rank > 0) {
    gta.element_shape = vs;
    for (int i = 1; i < vs.rank; i++) gta.element_shape.dims[i - 1] = vs.dims[i];
    gta.element_shape.rank = vs.rank - 1;
  }
  dx[2] = deft_tensor_array_gather(g, gta, deft_op_input(op, 1), "TensorArrayGatherV3");
  dx[3] = grads[0];
}

static void concat_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grads[0].op || !grad_array(g, op, deft_op_input(op, 1), grads, 1, &gta)) return;
  deft_output in[4] = {gta.handle, grads[0], deft_op_output(op, 1), gta.flow};
  dx[1] = deft_build_simple(g, "TensorArraySplitV3", "TensorArraySplit", in, 4);
}

static void split_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_tensor_array gta;
  if (!grad_array(g, op, grads[0], grads, 1, &gta)) return;
  deft_op_builder *b = deft_op_builder_new(g, "TensorArrayConcatV3", "TensorArrayConcatV3");
  deft_op_builder_add_input(b, gta.handle);
  deft_op_builder_add_input(b, gta.flow);
  deft_op_builder_set_attr_type(b, "dtype", gta.dtype);
  deft_op *c = deft_op_builder_finish(b);
  if (!c) return;
  dx[1] = deft_op_output(c, 0);
  dx[3] = grads[0];
}

enum { ST = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE, SD = DEFT_OP_STATEFUL };

static const deft_op_def tensor_array_defs[] = {
    {.type = "TensorArrayV3", .inputs = "size: int32", .outputs = "handle: resource, flow: float",
     .attrs = "dtype: type, element_shape: shape = unknown, dynamic_size: bool = false, "
              "clear_after_read: bool = true, identical_element_shapes: bool = false, "
              "tensor_array_name: string = \"\"",
     .flags = ST, .shape = ta_shape, .prepare = ta_prepare, .kernel = ta_kernel},
    {.type = "TensorArrayWriteV3", .inputs = "handle: resource, index: int32, value: T, "
     "flow_in: float", .outputs = "flow_out: float", .attrs = "T: type",
     .flags = SD, .grad = write_grad,
     .shape = flow_shape, .kernel = ta_write_kernel},
    {.type = "TensorArrayReadV3", .inputs = "handle: resource, index: int32, flow_in: float",
     .outputs = "value: dtype", .attrs = "dtype: type",
     .flags = SD, .grad = read_grad, .shape = read_shape,
     .kernel = ta_read_kernel},
    {.type = "TensorArrayGatherV3", .inputs = "handle: resource, indices: int32, flow_in: float",
     .outputs = "value: dtype", .attrs = "dtype: type, element_shape: shape = unknown",
     .flags = SD, .grad = gather_grad, .shape = gather_shape, .prepare = ta_gather_prepare,
     .kernel = ta_gather_kernel},
    {.type = "TensorArrayScatterV3", .inputs = "handle: resource, indices: int32, value: T, "
     "flow_in: float", .outputs = "flow_out: float", .attrs = "T: type",
     .flags = SD, .grad = scatter_grad,
     .shape = flow_shape, .kernel = ta_scatter_kernel},
    {.type = "TensorArrayConcatV3", .inputs = "handle: resource, flow_in: float",
     .outputs = "value: dtype, lengths: int64",
     .attrs = "dtype: type, element_shape_except0: shape = unknown",
     .flags = SD, .grad = concat_grad,
     .shape = concat_shape, .kernel = ta_concat_kernel},
    {.type = "TensorArraySplitV3", .inputs = "handle: resource, value: T, lengths: int64, "
     "flow_in: float", .outputs = "flow_out: float", .attrs = "T: type",
     .flags = SD, .grad = split_grad,
     .shape = flow_shape, .kernel = ta_split_kernel},
    {.type = "TensorArraySizeV3", .inputs = "handle: resource, flow_in: float",
     .outputs = "size: int32", .flags = ST, .shape = flow_shape, .kernel = ta_size_kernel},
    {.type = "TensorArrayCloseV3", .inputs = "handle: resource", .flags = ST,
     .kernel = ta_close_kernel},
    {.type = "TensorArrayGradV3", .inputs = "handle: resource, flow_in: float",
     .outputs = "grad_handle: resource, flow_out: float", .attrs = "source: string",
     .flags = ST, .shape = ta_shape, .prepare = ta_grad_prepare, .kernel = ta_grad_kernel},
    {.type = "Stack", .outputs = "handle: Ref(string)",
     .attrs = "elem_type: type, stack_name: string = \"\"", .flags = ST, .shape = handle_shape,
     .prepare = stack_prepare, .kernel = stack_kernel},
    {.type = "StackPush", .inputs = "handle: Ref(string), elem: T", .outputs = "output: T",
     .attrs = "T: type, swap_memory: bool = false", .flags = ST | DEFT_OP_ALLOWS_UNINIT,
     .shape = push_shape, .kernel = stack_push_kernel},
    {.type = "StackPop", .inputs = "handle: Ref(string)", .outputs = "elem: elem_type",
     .attrs = "elem_type: type", .flags = ST | DEFT_OP_ALLOWS_UNINIT, .kernel = stack_pop_kernel},
    {.type = "StackClose", .inputs = "handle: Ref(string)", .flags = ST | DEFT_OP_ALLOWS_UNINIT,
     .kernel = stack_close_kernel},
    {.type = "StackV2", .inputs = "max_size: int32", .outputs = "handle: resource",
     .attrs = "elem_type: type, stack_name: string = \"\"", .flags = ST, .shape = handle_shape,
     .prepare = stack_prepare, .kernel = stack_v2_kernel},
    {.type = "StackPushV2", .inputs = "handle: resource, elem: T", .outputs = "output: T",
     .attrs = "T: type, swap_memory: bool = false", .flags = ST, .shape = push_shape,
     .kernel = stack_push_kernel},
    {.type = "StackPopV2", .inputs = "handle: resource", .outputs = "elem: elem_type",
     .attrs = "elem_type: type", .flags = ST, .kernel = stack_pop_kernel},
    {.type = "StackCloseV2", .inputs = "handle: resource", .flags = ST,
     .kernel = stack_close_kernel},
};

DEFT_FAMILY(deft_ops_tensor_array, tensor_array_defs);
