/* ops/batch_matmul_ops.c - BatchMatMul (equal batch dims) and BatchMatMulV2 (NumPy-broadcast
 * batch dims): definition, shape function, kernel and gradient side by side, plus the public
 * constructor. The kernel runs one BLAS gemm per matrix pair (float32: sgemm, float64: dgemm),
 * the pairs split over the session's threads. */
#include <cblas.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ops/math_internal.h"
#include "base/tensor_internal.h"

static deft_output outn(deft_op *op, int i) {
  deft_output o = {op, op ? i : 0};
  return o;
}

static const char *fmt(deft_shape s, char *buf, size_t size) {
  return deft_shape_format(s, buf, size);
}

/* Batch dims of a and b (all but the last two) broadcast into out (v2) or required equal (v1).
 * Returns false with msg set. rank-2 inputs are allowed in v2 (no batch dims). */
static bool batch_dims(deft_shape a, deft_shape b, bool v2, deft_shape *out, char *msg,
                       size_t len) {
  char sa[128], sb[128];
  if (a.rank < 2 || b.rank < 2) {
    snprintf(msg, len, "inputs must have rank >= 2, got %s and %s", fmt(a, sa, sizeof sa),
             fmt(b, sb, sizeof sb));
    return false;
  }
  int ra = a.rank - 2, rb = b.rank - 2, r = ra > rb ? ra : rb;
  if (!v2 && ra != rb) {
    snprintf(msg, len, "inputs must have the same rank, got %s and %s", fmt(a, sa, sizeof sa),
             fmt(b, sb, sizeof sb));
    return false;
  }
  out->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - ra), ib = i - (r - rb);
    int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    if (da >= 0 && db >= 0 && da != db && (!v2 || (da != 1 && db != 1))) {
      snprintf(msg, len, "batch dimensions of %s and %s do not %s", fmt(a, sa, sizeof sa),
               fmt(b, sb, sizeof sb), v2 ? "broadcast" : "match");
      return false;
    }
    if (v2 && da == 1) out->dims[i] = db;
    else if (v2 && db == 1) out->dims[i] = da;
    else out->dims[i] = da >= 0 ? da : db;
  }
  return true;
}

static void bmm_shape_common(deft_shape_ctx *c, bool v2) {
  deft_shape a = deft_shape_ctx_input(c, 0), b = deft_shape_ctx_input(c, 1);
  if (a.rank < 0 || b.rank < 0) return;
  bool ax = false, ay = false;
  deft_op_attr_bool(c->op, "adj_x", &ax);
  deft_op_attr_bool(c->op, "adj_y", &ay);
  char msg[400], sa[128], sb[128];
  deft_shape out;
  if (!batch_dims(a, b, v2, &out, msg, sizeof msg)) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  int64_t m = a.dims[a.rank - (ax ? 1 : 2)], ka = a.dims[a.rank - (ax ? 2 : 1)];
  int64_t kb = b.dims[b.rank - (ay ? 1 : 2)], n = b.dims[b.rank - (ay ? 2 : 1)];
  if (ka >= 0 && kb >= 0 && ka != kb) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "the inner dimensions do not match: x %s%s, y %s%s", fmt(a, sa, sizeof sa),
                    ax ? " (adjoint)" : "", fmt(b, sb, sizeof sb), ay ? " (adjoint)" : "");
    return;
  }
  if (out.rank + 2 > DEFT_MAX_RANK) return;
  out.dims[out.rank++] = m;
  out.dims[out.rank++] = n;
  deft_shape_ctx_set_output(c, 0, out);
}

static void bmm_shape(deft_shape_ctx *c) { bmm_shape_common(c, false); }
static void bmm_v2_shape(deft_shape_ctx *c) { bmm_shape_common(c, true); }

typedef struct bmm_job {
  bool ax, ay, f64;
  int64_t M, N, K, batch;
  int r;                                  /* batch rank */
  int64_t odims[DEFT_MAX_RANK];           /* output batch dims */
  int64_t sa[DEFT_MAX_RANK], sb[DEFT_MAX_RANK]; /* matrix strides per batch dim (0: broadcast) */
  const char *a, *b;
  char *c;
} bmm_job;

static void bmm_range(void *arg, int64_t begin, int64_t end) {
  const bmm_job *j = arg;
  for (int64_t i = begin; i < end; i++) {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = j->r - 1; d >= 0; d--) {
      int64_t k = rem % j->odims[d];
      rem /= j->odims[d];
      ia += k * j->sa[d];
      ib += k * j->sb[d];
    }
    enum CBLAS_TRANSPOSE TA = j->ax ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE TB = j->ay ? CblasTrans : CblasNoTrans;
    int lda = (int)(j->ax ? j->M : j->K), ldb = (int)(j->ay ? j->K : j->N);
    if (j->f64)
      cblas_dgemm(CblasRowMajor, TA, TB, (int)j->M, (int)j->N, (int)j->K, 1.0,
                  (const double *)j->a + ia * j->M * j->K, lda,
                  (const double *)j->b + ib * j->K * j->N, ldb, 0.0,
                  (double *)j->c + i * j->M * j->N, (int)j->N);
    else
      cblas_sgemm(CblasRowMajor, TA, TB, (int)j->M, (int)j->N, (int)j->K, 1.0f,
                  (const float *)j->a + ia * j->M * j->K, lda,
                  (const float *)j->b + ib * j->K * j->N, ldb, 0.0f,
                  (float *)j->c + i * j->M * j->N, (int)j->N);
  }
}

typedef struct bmm_params {
  bool adj_x, adj_y;
} bmm_params;

static void bmm_prepare(deft_prepare_ctx *pc) {
  bool adj_x = deft_prepare_attr_bool(pc, "adj_x"), adj_y = deft_prepare_attr_bool(pc, "adj_y");
  bmm_params *p = deft_prepare_params(pc, sizeof *p);
  if (!p) return;
  p->adj_x = adj_x;
  p->adj_y = adj_y;
}

static void bmm_run(deft_kernel_ctx *c, bool v2) {
  const deft_tensor *a = deft_kernel_input(c, 0), *b = deft_kernel_input(c, 1);
  bmm_params p = *(const bmm_params *)deft_kernel_params(c);
  if (a->dtype != DEFT_FLOAT && a->dtype != DEFT_DOUBLE) {
    deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "deft's batch matmul multiplies float and double, "
                     "not %s", deft_dtype_name(a->dtype));
    return;
  }
  deft_shape sa = deft_tensor_shape(a), sb = deft_tensor_shape(b), out;
  char msg[400], s1[128], s2[128];
  if (!batch_dims(sa, sb, v2, &out, msg, sizeof msg)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  bmm_job j;
  memset(&j, 0, sizeof j);
  j.ax = p.adj_x;
  j.ay = p.adj_y;
  j.f64 = a->dtype == DEFT_DOUBLE;
  j.M = a->dims[a->rank - (j.ax ? 1 : 2)];
  j.K = a->dims[a->rank - (j.ax ? 2 : 1)];
  int64_t kb = b->dims[b->rank - (j.ay ? 1 : 2)];
  j.N = b->dims[b->rank - (j.ay ? 2 : 1)];
  if (j.K != kb) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "the inner dimensions do not match: x %s%s, y %s%s",
                     fmt(sa, s1, sizeof s1), j.ax ? " (adjoint)" : "", fmt(sb, s2, sizeof s2),
                     j.ay ? " (adjoint)" : "");
    return;
  }
  if (j.M > INT32_MAX || j.N > INT32_MAX || j.K > INT32_MAX) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "matrix dimensions beyond 2^31 are not supported");
    return;
  }
  j.r = out.rank;
  int64_t dims[DEFT_MAX_RANK];
  j.batch = 1;
  int ra = a->rank - 2, rb = b->rank - 2;
  int64_t stra = 1, strb = 1;
  for (int d = j.r - 1; d >= 0; d--) {
    int ia = d - (j.r - ra), ib = d - (j.r - rb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    j.odims[d] = out.dims[d];
    j.sa[d] = da == 1 ? 0 : stra;
    j.sb[d] = db == 1 ? 0 : strb;
    stra *= da;
    strb *= db;
  }
  for (int d = 0; d < j.r; d++) dims[d] = out.dims[d], j.batch *= out.dims[d];
  dims[j.r] = j.M;
  dims[j.r + 1] = j.N;
  deft_tensor *o = deft_kernel_output(c, 0, a->dtype, dims, j.r + 2);
  if (!o || o->n == 0) return;
  if (j.K == 0) {
    memset(o->buf->data, 0, (size_t)o->n * deft_dtype_size(o->dtype));
    return;
  }
  j.a = a->buf->data;
  j.b = b->buf->data;
  j.c = o->buf->data;
  int64_t per = j.M * j.N * j.K, grain = per >= (1 << 18) ? 1 : (1 << 18) / per + 1;
  deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), j.batch, grain, bmm_range, &j);
}

static void bmm_kernel(deft_kernel_ctx *c) { bmm_run(c, false); }
static void bmm_v2_kernel(deft_kernel_ctx *c) { bmm_run(c, true); }

static deft_output build_bmm(deft_graph *g, const char *type, deft_output x, deft_output y,
                             bool adj_x, bool adj_y, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, y);
  deft_op_builder_set_attr_bool(b, "adj_x", adj_x);
  deft_op_builder_set_attr_bool(b, "adj_y", adj_y);
  return outn(deft_op_builder_finish(b), 0);
}

/* TF's _BatchMatMul gradients (the same products as MatMul's with adjoints); V2 sums each over
 * the batch dims that were broadcast (BroadcastGradientArgs of shape[:-2]) unless the static
 * batch dims are equal. */
static void bmm_grad_common(deft_graph *g, deft_op *op, const deft_output *grads,
                            deft_output *dx, bool v2) {
  deft_output x = deft_op_input(op, 0), y = deft_op_input(op, 1), gr = grads[0];
  const char *type = deft_op_type(op);
  bool ax = false, ay = false;
  deft_op_attr_bool(op, "adj_x", &ax);
  deft_op_attr_bool(op, "adj_y", &ay);
  deft_output gx, gy;
  if (!ax && !ay) {
    gx = build_bmm(g, type, gr, y, false, true, NULL);
    gy = build_bmm(g, type, x, gr, true, false, NULL);
  } else if (!ax && ay) {
    gx = build_bmm(g, type, gr, y, false, false, NULL);
    gy = build_bmm(g, type, gr, x, true, false, NULL);
  } else if (ax && !ay) {
    gx = build_bmm(g, type, y, gr, false, true, NULL);
    gy = build_bmm(g, type, x, gr, false, false, NULL);
  } else {
    gx = build_bmm(g, type, y, gr, true, true, NULL);
    gy = build_bmm(g, type, gr, x, true, true, NULL);
  }
  deft_shape sx = deft_output_shape(x), sy = deft_output_shape(y);
  bool same = sx.rank >= 0 && sx.rank == sy.rank;
  for (int k = 0; same && k < sx.rank - 2; k++)
    same = sx.dims[k] >= 0 && sx.dims[k] == sy.dims[k];
  if (!v2 || same) {
    dx[0] = gx;
    dx[1] = gy;
    return;
  }
  deft_output shx = deft_shape_of(g, x, NULL), shy = deft_shape_of(g, y, NULL);
  int32_t zero = 0, m2 = -2, one = 1;
  deft_output b0 = deft_const_int32_vector(g, &zero, 1, "strided_slice/stack");
  deft_output e0 = deft_const_int32_vector(g, &m2, 1, "strided_slice/stack_1");
  deft_output s0 = deft_const_int32_vector(g, &one, 1, "strided_slice/stack_2");
  deft_output bx = deft_strided_slice(g, shx, b0, e0, s0, 1, 0, 0, 0, 0, "strided_slice");
  deft_output by = deft_strided_slice(g, shy, b0, e0, s0, 1, 0, 0, 0, 0, "strided_slice_1");
  deft_output rx = deft_broadcast_gradient_args(g, bx, by, NULL), ry = outn(rx.op, 1);
  dx[0] = deft_reshape(g, deft_sum(g, gx, rx, false, NULL), shx, NULL);
  dx[1] = deft_reshape(g, deft_sum(g, gy, ry, false, NULL), shy, NULL);
}

static void bmm_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  bmm_grad_common(g, op, grads, dx, false);
}
static void bmm_v2_grad(deft_graph *g, deft_op *op, const deft_output *grads, deft_output *dx) {
  bmm_grad_common(g, op, grads, dx, true);
}

deft_output deft_batch_matmul(deft_graph *g, deft_output x, deft_output y, bool adj_x,
                              bool adj_y, bool broadcast, const char *name) {
  return build_bmm(g, broadcast ? "BatchMatMulV2" : "BatchMatMul", x, y, adj_x, adj_y, name);
}

#define T_BMM "{bfloat16, half, float, double, int32, int64, complex64, complex128}"

static const deft_op_def batch_matmul_defs[] = {
    {.type = "BatchMatMul", .inputs = "x: T, y: T", .outputs = "output: T",
     .attrs = "T: " T_BMM ", adj_x: bool = false, adj_y: bool = false", .shape = bmm_shape,
     .prepare = bmm_prepare, .kernel = bmm_kernel, .grad = bmm_grad},
    {.type = "BatchMatMulV2", .inputs = "x: T, y: T", .outputs = "output: T",
     .attrs = "T: " T_BMM ", adj_x: bool = false, adj_y: bool = false", .shape = bmm_v2_shape,
     .prepare = bmm_prepare, .kernel = bmm_v2_kernel, .grad = bmm_v2_grad},
};

DEFT_FAMILY(deft_ops_batch_matmul, batch_matmul_defs);
