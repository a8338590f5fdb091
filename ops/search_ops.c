/* ops/search_ops.c - ops that find elements: Where (coordinates of true elements), TopKV2,
 * Unique and ListDiff; and the logging ops Assert (fails the run with its data formatted, as
 * TF) and Print (to stderr): definition, shape function, kernel and gradient side by side, plus
 * the public constructors. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_def.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *tshape(const deft_tensor *t, char *buf, size_t size) {
  return deft_shape_format(deft_tensor_shape(t), buf, size);
}

/* ---- Where ---- */

static void where_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  if (s.rank < 0) return;
  int64_t dims[2] = {-1, s.rank};
  deft_shape_ctx_set_output(c, 0, deft_shape_make(2, dims));
}

static void where_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  if (x->dtype != DEFT_BOOL) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's Where takes bool input, not %s",
                     deft_dtype_name(x->dtype));
    return;
  }
  const bool *v = deft_tensor_b(x);
  int64_t count = 0;
  for (int64_t i = 0; i < x->n; i++) count += v[i];
  int64_t dims[2] = {count, x->rank};
  deft_tensor *o = deft_kernel_output(c, 0, DEFT_INT64, dims, 2);
  if (!o || count == 0 || x->rank == 0) return;
  int64_t *p = deft_tensor_i64(o), idx[DEFT_MAX_RANK] = {0};
  for (int64_t i = 0; i < x->n; i++) {
    if (v[i]) {
      memcpy(p, idx, sizeof(int64_t) * (size_t)x->rank);
      p += x->rank;
    }
    for (int k = x->rank - 1; k >= 0; k--) {
      if (++idx[k] < x->dims[k]) break;
      idx[k] = 0;
    }
  }
}

deft_output deft_where(deft_graph *g, deft_output condition, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Where", name);
  deft_op_builder_add_input(b, condition);
  return outn(deft_op_builder_finish(b), 0);
}

/* ---- TopKV2 ---- */

static void top_k_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  const deft_tensor *kt = deft_shape_ctx_input_const(c, 1);
  if (s.rank < 0) return;
  if (s.rank == 0) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "input must be at least a vector, got a scalar");
    return;
  }
  int64_t k = kt && kt->n == 1 ? deft_tensor_index_at(kt, 0) : -1;
  int64_t last = s.dims[s.rank - 1];
  if (kt && (k < 0 || (last >= 0 && k > last))) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "k = %" PRId64 " must be in [0, %" PRId64 "] (the last dimension)", k, last);
    return;
  }
  s.dims[s.rank - 1] = k;
  deft_shape_ctx_set_output(c, 0, s);
  deft_shape_ctx_set_output(c, 1, s);
}

/* Orders candidate indices: larger value first, lower index first on ties (TF's order). */
typedef struct topk_ctx {
  const void *row;
  bool f64;
} topk_ctx;
static _Thread_local topk_ctx tk;

static int topk_cmp(const void *pa, const void *pb) {
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  double va = tk.f64 ? ((const double *)tk.row)[a] : ((const float *)tk.row)[a];
  double vb = tk.f64 ? ((const double *)tk.row)[b] : ((const float *)tk.row)[b];
  if (va > vb || (va == va && vb != vb)) return -1; /* NaN sorts last */
  if (va < vb || (va != va && vb == vb)) return 1;
  return a < b ? -1 : a > b;
}

static void top_k_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *kt = deft_kernel_input(c, 1);
  char sh[128];
  if (x->rank == 0 || kt->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input must be at least a vector and k a "
                     "scalar, got input %s", tshape(x, sh, sizeof sh));
    return;
  }
  if (x->dtype != DEFT_FLOAT && x->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's TopKV2 takes float and double, not %s",
                     deft_dtype_name(x->dtype));
    return;
  }
  int64_t k = deft_tensor_index_at(kt, 0), n = x->dims[x->rank - 1];
  if (k < 0 || k > n || n > INT32_MAX) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "k = %" PRId64 " must be in [0, %" PRId64 "] (input shape %s)", k, n,
                     tshape(x, sh, sizeof sh));
    return;
  }
  int64_t dims[DEFT_MAX_RANK];
  memcpy(dims, x->dims, sizeof dims);
  dims[x->rank - 1] = k;
  deft_tensor *vo = deft_kernel_output(c, 0, x->dtype, dims, x->rank);
  deft_tensor *io = vo ? deft_kernel_output(c, 1, DEFT_INT32, dims, x->rank) : NULL;
  if (!io || vo->n == 0) return;
  int32_t *order = deft_kernel_scratch(c, sizeof(int32_t) * (size_t)(n ? n : 1));
  if (!order) return;
  int64_t rows = x->n / n;
  bool f64 = x->dtype == DEFT_DOUBLE;
  size_t es = deft_dtype_size(x->dtype);
  for (int64_t r = 0; r < rows; r++) {
    const char *row = (const char *)x->buf->data + (size_t)(r * n) * es;
    for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
    tk.row = row;
    tk.f64 = f64;
    qsort(order, (size_t)n, sizeof *order, topk_cmp);
    for (int64_t i = 0; i < k; i++) {
      deft_tensor_i32(io)[r * k + i] = order[i];
      memcpy((char *)vo->buf->data + (size_t)(r * k + i) * es, row + (size_t)order[i] * es, es);
    }
  }
}

deft_op *deft_top_k(deft_graph *g, deft_output input, deft_output k, bool sorted,
                    const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "TopKV2", name);
  deft_op_builder_add_input(b, input);
  deft_op_builder_add_input(b, k);
  deft_op_builder_set_attr_bool(b, "sorted", sorted);
  return deft_op_builder_finish(b);
}

/* TF's _TopKGrad: flattens the indices to [-1, k], offsets each row by row * n, and scatters the
 * values' gradient into a zero vector of size(input), reshaped to the input's shape (the
 * ScatterNd form of TF >= 1.13; older releases used SparseToDense). No gradient for k. */
static void top_k_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  deft_output x = deft_op_input(op, 0), idx = deft_op_output(op, 1);
  deft_output in_shape = deft_shape_of(g, x, NULL), ind_shape = deft_shape_of(g, idx, NULL);
  deft_output one = deft_const_int32(g, 1, "sub/y");
  deft_output ind_last = deft_gather(g, deft_cast(g, ind_shape, DEFT_INT64, NULL),
                                     deft_sub(g, deft_size(g, ind_shape, NULL), one, NULL), NULL);
  deft_output st[2] = {deft_const_int64(g, -1, "stack/0"), ind_last};
  deft_output ind_2d = deft_reshape(g, idx, deft_pack(g, st, 2, 0, NULL), NULL);
  deft_output one_b = deft_const_int32(g, 1, "sub_1/y");
  deft_output in_last = deft_gather(g, deft_cast(g, in_shape, DEFT_INT64, NULL),
                                    deft_sub(g, deft_size(g, in_shape, NULL), one_b, NULL), NULL);
  int32_t zero = 0, onev = 1;
  deft_output outer = deft_strided_slice(
      g, deft_shape_of(g, ind_2d, NULL), deft_const_int32_vector(g, &zero, 1, "strided_slice/stack"),
      deft_const_int32_vector(g, &onev, 1, "strided_slice/stack_1"),
      deft_const_int32_vector(g, &onev, 1, "strided_slice/stack_2"), 0, 0, 0, 0, 1,
      "strided_slice");
  deft_output limit = deft_mul(g, deft_cast(g, outer, DEFT_INT64, NULL), in_last, NULL);
  deft_output rows = deft_range(g, deft_const_int64(g, 0, "range/start"), limit, in_last, NULL);
  deft_output offs = deft_cast(g, deft_expand_dims(g, rows, deft_const_int32(g, -1,
                                                                             "ExpandDims/dim"),
                                                   NULL), DEFT_INT32, NULL);
  int32_t m1 = -1;
  deft_output ind = deft_reshape(g, deft_add(g, ind_2d, offs, NULL),
                                 deft_const_int32_vector(g, &m1, 1, "Reshape_1/shape"), NULL);
  deft_output ind_nd = deft_expand_dims(g, ind, deft_const_int32(g, -1, "ExpandDims_1/dim"),
                                        NULL);
  deft_output flat = deft_reshape(g, grads[0], deft_const_int32_vector(g, &m1, 1,
                                                                        "Reshape_2/shape"), NULL);
  deft_output total = deft_prod(g, in_shape, deft_const_int32(g, 0, "Const"), false, NULL);
  deft_output tshape_v = deft_pack(g, &total, 1, 0, "ScatterNd/shape");
  deft_output scat = deft_scatter_nd(g, ind_nd, flat, tshape_v, NULL);
  dx[0] = deft_reshape(g, scat, in_shape, NULL);
}

/* ---- Unique, ListDiff ---- */

/* The index of value i of x (es-byte elements, numbers only) among the first n, by linear
 * probing into a table of `cap` (a power of two) slots holding indices + 1. */
static uint64_t elem_hash(const char *p, size_t es) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < es; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

static void unique_shape(deft_shape_ctx *c) {
  deft_shape s = deft_shape_ctx_input(c, 0);
  int64_t d = -1;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &d));
  deft_shape_ctx_set_output(c, 1, s);
}

static void unique_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  deft_dtype it = deft_kernel_output_dtype(c, 1); /* out_idx */;
  char sh[64];
  if (x->rank != 1 || x->dtype == DEFT_STRING) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "x must be a vector of numbers, got %s %s",
                     deft_dtype_name(x->dtype), tshape(x, sh, sizeof sh));
    return;
  }
  int64_t n = x->n, cap = 16;
  while (cap < 2 * n) cap *= 2;
  int64_t *table = deft_kernel_scratch(c, sizeof(int64_t) * (size_t)(cap + n));
  if (!table) return;
  int64_t *firsts = table + cap, nu = 0; /* firsts[j]: position of unique value j */
  memset(table, 0, sizeof(int64_t) * (size_t)cap);
  deft_tensor *idx = deft_kernel_output(c, 1, it, x->dims, 1);
  if (!idx) return;
  size_t es = deft_dtype_size(x->dtype);
  const char *v = x->buf->data;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = elem_hash(v + (size_t)i * es, es) & (uint64_t)(cap - 1);
    int64_t j;
    for (;; h = (h + 1) & (uint64_t)(cap - 1)) {
      if (!table[h]) {
        firsts[nu] = i;
        table[h] = ++nu;
        j = nu - 1;
        break;
      }
      if (!memcmp(v + (size_t)firsts[table[h] - 1] * es, v + (size_t)i * es, es)) {
        j = table[h] - 1;
        break;
      }
    }
    if (it == DEFT_INT32) deft_tensor_i32(idx)[i] = (int32_t)j;
    else deft_tensor_i64(idx)[i] = j;
  }
  deft_tensor *y = deft_kernel_output(c, 0, x->dtype, &nu, 1);
  if (!y) return;
  for (int64_t j = 0; j < nu; j++)
    memcpy((char *)y->buf->data + (size_t)j * es, v + (size_t)firsts[j] * es, es);
}

deft_op *deft_unique(deft_graph *g, deft_output x, deft_dtype out_idx, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Unique", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_type(b, "out_idx", out_idx);
  return deft_op_builder_finish(b);
}

static void list_diff_shape(deft_shape_ctx *c) {
  int64_t d = -1;
  deft_shape_ctx_set_output(c, 0, deft_shape_make(1, &d));
  deft_shape_ctx_set_output(c, 1, deft_shape_make(1, &d));
}

/* out = the elements of x not in y, in x's order (duplicates kept), idx their positions. */
static void list_diff_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0), *y = deft_kernel_input(c, 1);
  deft_dtype it = deft_kernel_output_dtype(c, 1); /* out_idx */;
  char a[64], b[64];
  if (x->rank != 1 || y->rank != 1 || x->dtype == DEFT_STRING) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "x and y must be vectors of numbers, got %s and "
                     "%s", tshape(x, a, sizeof a), tshape(y, b, sizeof b));
    return;
  }
  int64_t cap = 16;
  while (cap < 2 * y->n) cap *= 2;
  int64_t *table = deft_kernel_scratch(c, sizeof(int64_t) * (size_t)(cap + x->n));
  if (!table) return;
  int64_t *keep = table + cap, nk = 0;
  memset(table, 0, sizeof(int64_t) * (size_t)cap);
  size_t es = deft_dtype_size(x->dtype);
  const char *yv = y->buf->data, *xv = x->buf->data;
  uint64_t mask = (uint64_t)(cap - 1);
  for (int64_t i = 0; i < y->n; i++) {
    uint64_t h = elem_hash(yv + (size_t)i * es, es) & mask;
    while (table[h] && memcmp(yv + (size_t)(table[h] - 1) * es, yv + (size_t)i * es, es))
      h = (h + 1) & mask;
    if (!table[h]) table[h] = i + 1;
  }
  for (int64_t i = 0; i < x->n; i++) {
    uint64_t h = elem_hash(xv + (size_t)i * es, es) & mask;
    bool found = false;
    while (table[h] && !found) {
      found = !memcmp(yv + (size_t)(table[h] - 1) * es, xv + (size_t)i * es, es);
      h = (h + 1) & mask;
    }
    if (!found) keep[nk++] = i;
  }
  deft_tensor *out = deft_kernel_output(c, 0, x->dtype, &nk, 1);
  deft_tensor *idx = out ? deft_kernel_output(c, 1, it, &nk, 1) : NULL;
  if (!idx) return;
  for (int64_t j = 0; j < nk; j++) {
    memcpy((char *)out->buf->data + (size_t)j * es, xv + (size_t)keep[j] * es, es);
    if (it == DEFT_INT32) deft_tensor_i32(idx)[j] = (int32_t)keep[j];
    else deft_tensor_i64(idx)[j] = keep[j];
  }
}

deft_op *deft_list_diff(deft_graph *g, deft_output x, deft_output y, deft_dtype out_idx,
                        const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "ListDiff", name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, y);
  deft_op_builder_set_attr_type(b, "out_idx", out_idx);
  return deft_op_builder_finish(b);
}

/* ---- Assert, Print ---- */

/* Appends "[v0 v1 ...]" (the first `summarize` elements, "..." after) of t to buf at *len. */
static void format_tensor(const deft_tensor *t, int64_t summarize, char *buf, size_t size,
                          size_t *len) {
  int64_t n = t->n < summarize || summarize < 0 ? t->n : summarize;
  *len += (size_t)snprintf(buf + *len, *len < size ? size - *len : 0, "[");
  for (int64_t i = 0; i < n && *len < size; i++) {
    const char *sep = i ? " " : "";
    if (t->dtype == DEFT_STRING) {
      size_t sl;
      const char *s = deft_tensor_string(t, i, &sl);
      *len += (size_t)snprintf(buf + *len, size - *len, "%s%.*s", sep, (int)(sl > 200 ? 200 : sl),
                               s ? s : "");
    } else if (t->dtype == DEFT_FLOAT || t->dtype == DEFT_DOUBLE) {
      *len += (size_t)snprintf(buf + *len, size - *len, "%s%.9g", sep,
                               deft_tensor_get_double(t, i));
    } else {
      *len += (size_t)snprintf(buf + *len, size - *len, "%s%.17g", sep,
                               deft_tensor_get_double(t, i));
    }
  }
  if (*len < size)
    *len += (size_t)snprintf(buf + *len, size - *len, "%s]", n < t->n ? "..." : "");
  if (*len >= size) *len = size - 1;
}

/* Assert's and Print's parameter block: their attrs, read once per plan step. The message is
 * the graph's string (it lives as long as the graph, which outlives the plan). */
typedef struct print_params {
  int64_t first_n, summarize;
  const char *msg;
  size_t mlen;
} print_params;

static void print_prepare(deft_prepare_ctx *pc) {
  bool print = !strcmp(deft_op_type(deft_prepare_op(pc)), "Print");
  print_params q = {-1, deft_prepare_attr_int(pc, "summarize"), "", 0};
  if (print) {
    q.first_n = deft_prepare_attr_int(pc, "first_n");
    deft_op_attr_string(deft_prepare_op(pc), "message", &q.msg, &q.mlen);
  }
  print_params *p = deft_prepare_params(pc, sizeof *p);
  if (p) *p = q;
}

static void assert_kernel(deft_kernel_ctx *c) {
  const deft_tensor *cond = deft_kernel_input(c, 0);
  int64_t summarize = ((const print_params *)deft_kernel_params(c))->summarize;
  char sh[64];
  if (cond->dtype != DEFT_BOOL || cond->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "condition must be a bool scalar, got %s %s",
                     deft_dtype_name(cond->dtype), tshape(cond, sh, sizeof sh));
    return;
  }
  if (deft_tensor_b(cond)[0]) return;
  char buf[4096];
  size_t len = 0;
  len += (size_t)snprintf(buf, sizeof buf, "assertion failed: ");
  for (int i = 1; i < deft_kernel_num_inputs(c) && len < sizeof buf - 1; i++) {
    if (i > 1) len += (size_t)snprintf(buf + len, sizeof buf - len, " ");
    format_tensor(deft_kernel_input(c, i), summarize, buf, sizeof buf, &len);
  }
  deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", buf);
}

deft_op *deft_assert(deft_graph *g, deft_output condition, const deft_output *data, int n,
                     int64_t summarize, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Assert", name);
  deft_op_builder_add_input(b, condition);
  deft_op_builder_add_input_list(b, data, n);
  deft_op_builder_set_attr_int(b, "summarize", summarize);
  return deft_op_builder_finish(b);
}

/* Prints "<message><data...>" to stderr, the first first_n times (-1: always; the count is
 * the op's kernel state, kept by the plan), and forwards input. */
static void print_kernel(deft_kernel_ctx *c) {
  const deft_tensor *x = deft_kernel_input(c, 0);
  const print_params *pp = deft_kernel_params(c);
  int64_t first_n = pp->first_n, summarize = pp->summarize;
  const char *msg = pp->msg;
  size_t mlen = pp->mlen;
  uint64_t *count = deft_kernel_state(c);
  if (first_n < 0 || count[0] < (uint64_t)first_n) {
    count[0]++;
    char buf[4096];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%.*s", (int)(mlen > 1000 ? 1000 : mlen), msg);
    for (int i = 1; i < deft_kernel_num_inputs(c) && len < sizeof buf - 1; i++)
      format_tensor(deft_kernel_input(c, i), summarize, buf, sizeof buf, &len);
    fprintf(stderr, "%s\n", buf);
  }
  deft_kernel_forward(c, 0, x);
}

/* TF: the gradient passes to input; the data get none. */
static void print_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  (void)g;
  (void)op;
  dx[0] = grads[0];
}

deft_output deft_print(deft_graph *g, deft_output input, const deft_output *data, int n,
                       const char *message, int64_t first_n, int64_t summarize,
                       const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, "Print", name);
  deft_op_builder_add_input(b, input);
  deft_op_builder_add_input_list(b, data, n);
  deft_op_builder_set_attr_string(b, "message", message ? message : "",
                                  message ? strlen(message) : 0);
  deft_op_builder_set_attr_int(b, "first_n", first_n);
  deft_op_builder_set_attr_int(b, "summarize", summarize);
  return outn(deft_op_builder_finish(b), 0);
}

static void print_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 0));
}

enum { NODIFF = DEFT_OP_NOT_DIFFERENTIABLE, STATEFUL = DEFT_OP_STATEFUL };

static const deft_op_def search_defs[] = {
    {.type = "Where", .inputs = "input: T", .outputs = "index: int64",
     .attrs = "T: {bool, float, double, int32, int64, uint8} = DT_BOOL", .flags = NODIFF,
     .shape = where_shape, .kernel = where_kernel},
    {.type = "TopKV2", .inputs = "input: T, k: int32", .outputs = "values: T, indices: int32",
     .attrs = "sorted: bool = true, T: realnumbertype", .shape = top_k_shape,
     .kernel = top_k_kernel, .grad = top_k_grad},
    {.type = "Unique", .inputs = "x: T", .outputs = "y: T, idx: out_idx",
     .attrs = "T: type, out_idx: {int32, int64} = DT_INT32", .flags = NODIFF,
     .shape = unique_shape, .kernel = unique_kernel},
    {.type = "ListDiff", .inputs = "x: T, y: T", .outputs = "out: T, idx: out_idx",
     .attrs = "T: type, out_idx: {int32, int64} = DT_INT32", .flags = NODIFF,
     .shape = list_diff_shape, .kernel = list_diff_kernel},
    {.type = "Assert", .inputs = "condition: bool, data: T", .outputs = "",
     .attrs = "T: list(type), summarize: int = 3", .flags = NODIFF | STATEFUL,
     .prepare = print_prepare, .kernel = assert_kernel},
    {.type = "Print", .inputs = "input: T, data: U", .outputs = "output: T",
     .attrs = "T: type, U: list(type), message: string = '', first_n: int = -1, "
              "summarize: int = 3",
     .flags = STATEFUL, .shape = print_shape, .prepare = print_prepare, .kernel = print_kernel,
     .grad = print_grad},
};

DEFT_FAMILY(deft_ops_search, search_defs);
