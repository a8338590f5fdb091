/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_plan_fuse_conv.c - plan-time fusion of convolution and MatMul epilogues
 * (runtime/plan_fuse.c, FUSE_EPILOGUE): a Conv2D / DepthwiseConv2dNative / MatMul followed by
 * per-channel BiasAdd / Add / Mul / Sub / inference FusedBatchNorm and Relu / Relu6 / Elu runs
 * as one step whose results are bit-identical to the unfused plan's (fusion off in the session's
 * options), on both depthwise instruction sets and both GEMM paths; a small case matches values
 * NumPy computed; the cases that must not fuse (an intermediate fetched or read by another op, a
 * non-per-channel operand, float64, a training batch norm) keep their steps; run-time values that
 * do not fit fall back to the unfused kernels, with their errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_internal.h"
#include "ops/sgemm.h"
#include "runtime/session_internal.h"
#include "testutil.h"

static deft_session *fuse_session(deft_graph *g, bool fuse, deft_status *st) {
  deft_session_options *o = deft_session_options_new();
  ck_assert_ptr_nonnull(o);
  deft_session_options_set_plan_fusion(o, fuse);
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  ck_assert_ptr_nonnull(s);
  return s;
}

/* A float tensor of the given dims with values in [-1, 1) (lo = 0: [0, 1) * scale). */
static deft_tensor *filled(const int64_t *dims, int rank, uint32_t seed, float lo, float scale) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  float *p = deft_tensor_data(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = ((float)(seed >> 8) / 16777216.0f * 2.0f + lo) * scale;
  }
  return t;
}

static deft_output cst(deft_graph *g, const int64_t *dims, int rank, uint32_t seed, float lo,
                       float scale, const char *name) {
  deft_tensor *t = filled(dims, rank, seed, lo, scale);
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

static const deft_step *step_named(deft_session *s, deft_graph *g, const char *name) {
  const deft_op *op = deft_graph_op_by_name(g, name);
  ck_assert_msg(op != NULL, "no op %s", name);
  const deft_plan *p = s->last;
  ck_assert_ptr_nonnull(p);
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i].op == op) return &p->steps[i];
  ck_abort_msg("%s is not in the plan", name);
  return NULL;
}

static bool absorbed(deft_session *s, deft_graph *g, const char *name) {
  return step_named(s, g, name)->absorbed;
}

static void same_bits(const deft_tensor *a, const deft_tensor *b, const char *what) {
  ck_assert_msg(a && b, "%s: missing value", what);
  ck_assert_int_eq(deft_tensor_rank(a), deft_tensor_rank(b));
  for (int i = 0; i < deft_tensor_rank(a); i++)
    ck_assert_int_eq(deft_tensor_dim(a, i), deft_tensor_dim(b, i));
  const float *pa = deft_tensor_data(a), *pb = deft_tensor_data(b);
  for (int64_t i = 0; i < deft_tensor_num_elements(a); i++)
    ck_assert_msg(memcmp(&pa[i], &pb[i], sizeof(float)) == 0, "%s[%lld]: fused %a, unfused %a",
                  what, (long long)i, (double)pa[i], (double)pb[i]);
}

/* ---- the chains ---- */

enum {
  CONV_BIAS_RELU,      /* Conv2D 3x3 SAME -> BiasAdd -> Relu (tf.layers.conv2d) */
  POINTWISE_MUL_ADD6,  /* Conv2D 1x1 -> Mul -> Add -> Relu6 (a frozen TF-slim batch norm) */
  DW_MUL_ADD6,         /* DepthwiseConv2dNative 3x3 -> Mul -> Add -> Relu6 */
  DW_MULT2_ADD_SUB_ELU, /* depthwise, multiplier 2, stride 2 -> Add [1,1,1,C] -> Sub -> Elu */
  CONV_FBN_RELU,       /* Conv2D 5x5 VALID stride 2 -> FusedBatchNormV3 (inference) -> Relu */
  CONV_RSUB,           /* Conv2D -> Sub(vector, conv) */
  MATMUL_BIAS_RELU,    /* MatMul -> BiasAdd -> Relu (a dense layer) */
  MATMUL_TB_ADD_ELU,   /* MatMul transpose_b -> Add -> Elu */
  NCHAINS
};

/* Channels of the chains' outputs (16 + 3: both a full and a part-filled vector register). */
enum { C_IN = 5, C_OUT = 19, FEAT = 7 };

typedef struct chain {
  deft_graph *g;
  deft_output x, y;
  const char *head;   /* the head op's name (absorbed when the chain fuses) */
  bool fuses;
} chain;

static deft_output vec(deft_graph *g, int64_t n, uint32_t seed, const char *name) {
  return cst(g, &n, 1, seed, -1.0f, 1.0f, name);
}

static void build_chain(chain *c, int kind) {
  memset(c, 0, sizeof *c);
  deft_graph *g = c->g = deft_graph_new();
  ck_assert_ptr_nonnull(g);
  c->fuses = true;
  c->head = "head";
  int64_t xd[4] = {-1, 11, 13, C_IN};
  if (kind == MATMUL_BIAS_RELU || kind == MATMUL_TB_ADD_ELU) {
    int64_t md[2] = {-1, FEAT};
    c->x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, md), "x");
    bool tb = kind == MATMUL_TB_ADD_ELU;
    int64_t wd[2] = {tb ? C_OUT : FEAT, tb ? FEAT : C_OUT};
    deft_output h = deft_matmul(g, c->x, cst(g, wd, 2, 7, -1.0f, 1.0f, "w"), false, tb, "head");
    if (!tb) {
      c->y = deft_relu(g, deft_bias_add(g, h, vec(g, C_OUT, 8, "b"), "bias"), "act");
    } else {
      c->y = deft_elu(g, deft_add(g, vec(g, C_OUT, 9, "b"), h, "add"), "act");
    }
    TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
    return;
  }
  c->x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
  deft_conv_options o = {0};
  deft_output h;
  switch (kind) {
    case CONV_BIAS_RELU:
    case CONV_RSUB: {
      int64_t fd[4] = {3, 3, C_IN, C_OUT};
      h = deft_conv2d_op(g, c->x, cst(g, fd, 4, 3, -1.0f, 1.0f, "f"), &o, "head");
      if (kind == CONV_BIAS_RELU)
        c->y = deft_relu(g, deft_bias_add(g, h, vec(g, C_OUT, 4, "b"), "bias"), "act");
      else
        c->y = deft_sub(g, vec(g, C_OUT, 5, "v"), h, "sub");
      break;
    }
    case POINTWISE_MUL_ADD6: {
      int64_t fd[4] = {1, 1, C_IN, C_OUT};
      h = deft_conv2d_op(g, c->x, cst(g, fd, 4, 3, -1.0f, 1.0f, "f"), &o, "head");
      h = deft_mul(g, h, vec(g, C_OUT, 4, "s"), "mul");
      c->y = deft_relu6(g, deft_add(g, h, vec(g, C_OUT, 5, "t"), "add"), "act");
      break;
    }
    case DW_MUL_ADD6: {
      int64_t fd[4] = {3, 3, C_IN, 1};
      h = deft_depthwise_conv2d_native(g, c->x, cst(g, fd, 4, 3, -1.0f, 2.0f, "f"), &o, "head");
      h = deft_mul(g, vec(g, C_IN, 4, "s"), h, "mul");
      c->y = deft_relu6(g, deft_add(g, h, vec(g, C_IN, 5, "t"), "add"), "act");
      break;
    }
    case DW_MULT2_ADD_SUB_ELU: {
      int64_t fd[4] = {3, 3, C_IN, 2}, bd[4] = {1, 1, 1, 2 * C_IN};
      o.strides[0] = o.strides[1] = 2;
      h = deft_depthwise_conv2d_native(g, c->x, cst(g, fd, 4, 3, -1.0f, 1.0f, "f"), &o, "head");
      h = deft_add(g, h, cst(g, bd, 4, 4, -1.0f, 1.0f, "b"), "add");
      c->y = deft_elu(g, deft_sub(g, h, vec(g, 2 * C_IN, 5, "t"), "sub"), "act");
      break;
    }
    case CONV_FBN_RELU: {
      int64_t fd[4] = {5, 5, C_IN, C_OUT};
      o.strides[0] = o.strides[1] = 2;
      o.padding = "VALID";
      h = deft_conv2d_op(g, c->x, cst(g, fd, 4, 3, -1.0f, 1.0f, "f"), &o, "head");
      deft_fused_batch_norm_options bo = {.version = 3, .epsilon = 0.001f, .inference = true};
      int64_t n = C_OUT;
      deft_op *bn = deft_fused_batch_norm(g, h, vec(g, C_OUT, 4, "gamma"), vec(g, C_OUT, 5, "beta"),
                                          vec(g, C_OUT, 6, "mean"),
                                          cst(g, &n, 1, 7, 0.0f, 3.0f, "var"), &bo, "bn");
      ck_assert_ptr_nonnull(bn);
      c->y = deft_relu(g, deft_op_output(bn, 0), "act");
      break;
    }
  }
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
}

static deft_tensor *chain_input(int kind, int64_t batch, uint32_t seed) {
  if (kind == MATMUL_BIAS_RELU || kind == MATMUL_TB_ADD_ELU) {
    int64_t d[2] = {batch, FEAT};
    return filled(d, 2, seed, -1.0f, 1.0f);
  }
  int64_t d[4] = {batch, 11, 13, C_IN};
  return filled(d, 4, seed, -1.0f, 1.0f);
}

static deft_tensor *run1(deft_session *s, deft_output x, deft_tensor *xv, deft_output y,
                         deft_status *st) {
  deft_tensor *out = NULL, *fv[1] = {xv};
  ck_assert_msg(deft_session_run(s, &x, tu_feeds(fv), 1, &y, &out, 1, NULL, 0, st), "run: %s",
                deft_status_message(st));
  return out;
}

/* Every chain, at batch 1 and 3, fused and unfused: the fused plan absorbed the head and gives
 * the same bits. */
static void compare_chains(void) {
  deft_status *st = deft_status_new();
  for (int kind = 0; kind < NCHAINS; kind++) {
    chain c;
    build_chain(&c, kind);
    deft_session *fs = fuse_session(c.g, true, st), *us = fuse_session(c.g, false, st);
    for (int64_t batch = 1; batch <= 3; batch += 2) {
      deft_tensor *xv = chain_input(kind, batch, (uint32_t)(kind * 10 + batch));
      deft_tensor *a = run1(fs, c.x, xv, c.y, st), *b = run1(us, c.x, xv, c.y, st);
      ck_assert_msg(absorbed(fs, c.g, c.head), "chain %d: the head was not fused", kind);
      ck_assert(!absorbed(us, c.g, c.head));
      char what[32];
      snprintf(what, sizeof what, "chain %d batch %d", kind, (int)batch);
      same_bits(a, b, what);
      deft_tensor_free(a);
      deft_tensor_free(b);
      deft_tensor_free(xv);
    }
    deft_session_free(fs);
    deft_session_free(us);
    deft_graph_free(c.g);
  }
  deft_status_free(st);
}

START_TEST(chains_fuse_and_match_unfused_bits) { compare_chains(); }
END_TEST

/* The same with the depthwise loops capped at AVX2 and the GEMM on OpenBLAS (the paths of CPUs
 * without AVX-512). */
START_TEST(chains_match_on_avx2_and_openblas_paths) {
  deft_conv_force_isa(CONV_ISA_AVX2);
  deft_sgemm_force_openblas(true);
  compare_chains();
  deft_conv_force_isa(CONV_ISA_GENERIC);
  compare_chains();
  deft_sgemm_force_openblas(false);
  deft_conv_force_isa(CONV_ISA_AVX512);
}
END_TEST

/* Chains over whole blocks of rows: a 64x64 image (several epilogue blocks and GEMM chunks per
 * part) with 8 and 32 channels, over 1 and 2 threads. */
START_TEST(large_outputs_match_unfused_bits) {
  deft_status *st = deft_status_new();
  for (int oc = 8; oc <= 32; oc += 24)
    for (int pw = 0; pw < 2; pw++) {
      deft_graph *g = deft_graph_new();
      int64_t xd[4] = {-1, 64, 64, 6}, fd[4] = {pw ? 1 : 3, pw ? 1 : 3, 6, oc};
      deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
      deft_conv_options o = {0};
      deft_output h = deft_conv2d_op(g, x, cst(g, fd, 4, 1, -1.0f, 1.0f, "f"), &o, "head");
      h = deft_mul(g, h, vec(g, oc, 2, "s"), "mul");
      deft_output y = deft_relu6(g, deft_add(g, h, vec(g, oc, 3, "t"), "add"), "act");
      deft_session *fs = fuse_session(g, true, st), *us = fuse_session(g, false, st);
      int64_t d[4] = {2, 64, 64, 6};
      deft_tensor *xv = filled(d, 4, 9, -1.0f, 1.0f);
      for (int threads = 1; threads <= 2; threads++) {
        deft_session_set_threads(fs, threads);
        deft_session_set_threads(us, threads);
        deft_tensor *a = run1(fs, x, xv, y, st), *b = run1(us, x, xv, y, st);
        ck_assert(absorbed(fs, g, "head") && absorbed(fs, g, "mul") && absorbed(fs, g, "add"));
        same_bits(a, b, "large");
        deft_tensor_free(a);
        deft_tensor_free(b);
      }
      deft_tensor_free(xv);
      deft_session_free(fs);
      deft_session_free(us);
      deft_graph_free(g);
    }
  deft_status_free(st);
}
END_TEST

/* Conv2D 3x3 SAME [1,4,4,2] * [3,3,2,3] -> FusedBatchNorm (inference, epsilon 0.001) -> Relu,
 * fused, against NumPy (float64 on the same float32 inputs: `filled`'s generator reproduced in
 * Python, the convolution by einsum over the padded windows, then (y - mean) / sqrt(var + eps) *
 * gamma + beta and max(., 0)). */
static const double NUMPY_REF[48] = {
    0, 0.292619084, 0.759220272, 0, 0.141216769, 0, 0, 0.288497223, 0.108241333, 0.144318208,
    0.268278254, 0.532996715, 0, 0.264373472, 0.380306766, 0.0361000651, 0.408607671,
    0.524859696, 0, 0.276046836, 0.0826787588, 0, 0.152947474, 0.298074817, 0, 0.232818215,
    0.392623758, 0, 0.15397761, 0.341613829, 0, 0.273102607, 1.11746901, 0, 0.337929296, 0, 0,
    0.253501654, 0.537158617, 0, 0.317976161, 0.123666634, 0, 0.182279274, 0.525594758, 0,
    0.249451557, 0.442909149};

START_TEST(conv_batch_norm_relu_matches_numpy) {
  deft_graph *g = deft_graph_new();
  int64_t xd[4] = {1, 4, 4, 2}, fd[4] = {3, 3, 2, 3}, n = 3;
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
  deft_output h = deft_conv2d_op(g, x, cst(g, fd, 4, 2, -1.0f, 1.0f, "f"), NULL, "head");
  deft_fused_batch_norm_options bo = {.version = 1, .epsilon = 0.001f, .inference = true};
  deft_op *bn = deft_fused_batch_norm(
      g, h, cst(g, &n, 1, 3, -1.0f, 1.0f, "gamma"), cst(g, &n, 1, 4, -1.0f, 1.0f, "beta"),
      cst(g, &n, 1, 5, -1.0f, 1.0f, "mean"), cst(g, &n, 1, 6, 0.0f, 2.0f, "var"), &bo, "bn");
  deft_output y = deft_relu(g, deft_op_output(bn, 0), "act");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *s = fuse_session(g, true, st);
  deft_tensor *xv = filled(xd, 4, 1, -1.0f, 1.0f);
  deft_tensor *out = run1(s, x, xv, y, st);
  ck_assert(absorbed(s, g, "head") && absorbed(s, g, "bn"));
  const float *yp = deft_tensor_data(out);
  ck_assert_int_eq(deft_tensor_num_elements(out), 48);
  for (int i = 0; i < 48; i++)
    ck_assert_msg(fabs(yp[i] - NUMPY_REF[i]) <= 1e-5 * (1 + fabs(NUMPY_REF[i])),
                  "y[%d] = %.9g, NumPy %.9g", i, (double)yp[i], NUMPY_REF[i]);
  deft_tensor_free(out);
  deft_tensor_free(xv);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* Variables may change between runs: the batch norm's scale and shift are computed per run. */
START_TEST(batch_norm_variables_read_every_run) {
  deft_graph *g = deft_graph_new();
  int64_t xd[4] = {1, 3, 3, 2}, fd[4] = {1, 1, 2, 2}, n = 2;
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
  deft_output h = deft_conv2d_op(g, x, cst(g, fd, 4, 2, -1.0f, 1.0f, "f"), NULL, "head");
  deft_tensor *v1 = filled(&n, 1, 1, 0.0f, 1.0f), *v2 = filled(&n, 1, 2, 0.0f, 5.0f);
  deft_op *v = deft_variable_new(g, "v", deft_const(g, v1, "v1"), false);
  deft_output var = {v, 0};
  deft_op *set1 = deft_assign(g, var, deft_const(g, v1, "v1c"), "set1").op;
  deft_op *set2 = deft_assign(g, var, deft_const(g, v2, "v2c"), "set2").op;
  deft_op *bn = deft_fused_batch_norm(g, h, vec(g, n, 3, "gamma"), vec(g, n, 4, "beta"),
                                      vec(g, n, 5, "mean"), deft_variable_value(v),
                                      &(deft_fused_batch_norm_options){.inference = true}, "bn");
  deft_output y = deft_relu6(g, deft_op_output(bn, 0), "act");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *fs = fuse_session(g, true, st), *us = fuse_session(g, false, st);
  deft_tensor *xv = filled(xd, 4, 7, -1.0f, 3.0f);
  for (int k = 0; k < 2; k++) {
    deft_op *set = k ? set2 : set1;
    ck_assert(deft_session_run(fs, NULL, NULL, 0, NULL, NULL, 0, &set, 1, st));
    ck_assert(deft_session_run(us, NULL, NULL, 0, NULL, NULL, 0, &set, 1, st));
    deft_tensor *a = run1(fs, x, xv, y, st), *b = run1(us, x, xv, y, st);
    ck_assert(absorbed(fs, g, "bn"));
    same_bits(a, b, "variance");
    deft_tensor_free(a);
    deft_tensor_free(b);
  }
  deft_tensor_free(v1);
  deft_tensor_free(v2);
  deft_tensor_free(xv);
  deft_session_free(fs);
  deft_session_free(us);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* What must not fuse: a fetched intermediate (the chain ends there), one another op reads, an
 * operand that is not a per-channel vector, float64, a training batch norm, a trailing batch
 * norm (several outputs), an op reading the value twice. Each keeps the unfused steps and gives
 * the unfused values. */
START_TEST(unfusable_chains_keep_their_steps) {
  deft_status *st = deft_status_new();
  int64_t xd[4] = {-1, 6, 6, 3}, fd[4] = {3, 3, 3, 4}, n = 4;
  for (int kind = 0; kind < 7; kind++) {
    deft_graph *g = deft_graph_new();
    bool dbl = kind == 3;
    deft_output x = deft_placeholder(g, dbl ? DEFT_DOUBLE : DEFT_FLOAT, deft_shape_make(4, xd),
                                     "x");
    deft_output f = cst(g, fd, 4, 1, -1.0f, 1.0f, "f");
    if (dbl) f = deft_cast(g, f, DEFT_DOUBLE, "fd");
    deft_output h = deft_conv2d_op(g, x, f, NULL, "head"), y, extra = {NULL, 0};
    deft_output b = vec(g, n, 2, "b");
    if (dbl) b = deft_cast(g, b, DEFT_DOUBLE, "bd");
    switch (kind) {
      case 0: /* the BiasAdd's output is fetched too */
        extra = deft_bias_add(g, h, b, "bias");
        y = deft_relu(g, extra, "act");
        break;
      case 1: /* the conv's output is read by another op */
        y = deft_relu(g, deft_bias_add(g, h, b, "bias"), "act");
        y = deft_add(g, y, deft_reduce_sum(g, h, NULL, 0, false, "other"), "y");
        break;
      case 2: { /* a [6, 4] operand: broadcast over rows and channels, not per channel */
        int64_t md[2] = {6, 4};
        y = deft_relu(g, deft_mul(g, h, cst(g, md, 2, 3, -1.0f, 1.0f, "m"), "bias"), "act");
        break;
      }
      case 3: /* float64 */
        y = deft_relu(g, deft_bias_add(g, h, b, "bias"), "act");
        break;
      case 4: /* a training batch norm */
      case 5: { /* an inference batch norm last: its other outputs are the step's */
        deft_fused_batch_norm_options bo = {.inference = kind == 5};
        deft_op *bn = deft_fused_batch_norm(g, h, b, vec(g, n, 3, "beta"), vec(g, n, 4, "mean"),
                                            cst(g, &n, 1, 5, 0.0f, 1.0f, "var"), &bo, "bias");
        y = deft_op_output(bn, 0);
        break;
      }
      case 6: /* Sub with the convolution's output read twice (x - x) */
        y = deft_sub(g, h, h, "bias");
        break;
    }
    TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
    deft_session *fs = fuse_session(g, true, st), *us = fuse_session(g, false, st);
    int64_t d[4] = {2, 6, 6, 3};
    deft_tensor *xv = filled(d, 4, 11, -1.0f, 1.0f);
    if (dbl) {
      deft_tensor *xd64 = deft_tensor_new(DEFT_DOUBLE, d, 4, st);
      for (int i = 0; i < 2 * 6 * 6 * 3; i++)
        ((double *)deft_tensor_data(xd64))[i] = ((float *)deft_tensor_data(xv))[i];
      deft_tensor_free(xv);
      xv = xd64;
    }
    deft_output fetch[2] = {y, extra};
    int nf = extra.op ? 2 : 1;
    deft_tensor *a[2] = {NULL, NULL}, *bb[2] = {NULL, NULL}, *fv[1] = {xv};
    ck_assert_msg(deft_session_run(fs, &x, tu_feeds(fv), 1, fetch, a, nf, NULL, 0, st), "%d: %s",
                  kind, deft_status_message(st));
    ck_assert(deft_session_run(us, &x, tu_feeds(fv), 1, fetch, bb, nf, NULL, 0, st));
    /* The fetched BiasAdd ends the chain: the convolution folds into it, the Relu stays. */
    const char *kept = kind == 0 ? "bias" : "head";
    ck_assert_msg(!absorbed(fs, g, kept), "case %d fused", kind);
    if (kind == 0)
      ck_assert(absorbed(fs, g, "head") && !step_named(fs, g, "act")->fusion);
    for (int k = 0; k < nf; k++) {
      ck_assert_int_eq(deft_tensor_nbytes(a[k]), deft_tensor_nbytes(bb[k]));
      ck_assert(!memcmp(deft_tensor_data(a[k]), deft_tensor_data(bb[k]), deft_tensor_nbytes(a[k])));
      deft_tensor_free(a[k]);
      deft_tensor_free(bb[k]);
    }
    deft_tensor_free(xv);
    deft_session_free(fs);
    deft_session_free(us);
    deft_graph_free(g);
  }
  deft_status_free(st);
}
END_TEST

/* A chain longer than the epilogue holds: the first DEFT_EPI_MAX_OPS ops and nothing after
 * fuse; the rest run as their own steps; same bits. */
START_TEST(long_chain_fuses_up_to_the_limit) {
  deft_graph *g = deft_graph_new();
  int64_t xd[4] = {1, 5, 5, 3}, fd[4] = {1, 1, 3, 4};
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
  deft_output h = deft_conv2d_op(g, x, cst(g, fd, 4, 1, -1.0f, 1.0f, "f"), NULL, "head");
  char name[16];
  for (int k = 0; k < DEFT_EPI_MAX_OPS + 2; k++) {
    snprintf(name, sizeof name, "op%d", k);
    h = k % 2 ? deft_mul(g, h, vec(g, 4, (uint32_t)k, NULL), name)
              : deft_add(g, h, vec(g, 4, (uint32_t)k, NULL), name);
  }
  deft_output y = deft_relu(g, h, "act");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *fs = fuse_session(g, true, st), *us = fuse_session(g, false, st);
  deft_tensor *xv = filled(xd, 4, 3, -1.0f, 1.0f);
  deft_tensor *a = run1(fs, x, xv, y, st), *b = run1(us, x, xv, y, st);
  ck_assert(absorbed(fs, g, "head") && absorbed(fs, g, "op6"));
  snprintf(name, sizeof name, "op%d", DEFT_EPI_MAX_OPS - 1);
  ck_assert(!absorbed(fs, g, name) && step_named(fs, g, name)->fusion);
  same_bits(a, b, "long");
  deft_tensor_free(a);
  deft_tensor_free(b);
  deft_tensor_free(xv);
  deft_session_free(fs);
  deft_session_free(us);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* Run-time errors and edge cases of a fused step: an empty batch gives the empty result (the
 * epilogue over nothing); an input of the wrong channel count fails in the convolution's kernel,
 * named as without fusion. */
START_TEST(run_time_errors_name_the_op) {
  deft_graph *g = deft_graph_new();
  int64_t xd[4] = {-1, -1, -1, -1}, fd[4] = {3, 3, 3, 5};
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(4, xd), "x");
  deft_output bias = vec(g, 5, 1, "b0");
  deft_output h = deft_conv2d_op(g, x, cst(g, fd, 4, 1, -1.0f, 1.0f, "f"), NULL, "head");
  deft_output y = deft_relu(g, deft_bias_add(g, h, bias, "bias"), "act");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_OK, "");
  deft_status *st = deft_status_new();
  deft_session *s = fuse_session(g, true, st);
  int64_t d0[4] = {0, 4, 4, 3}, d2[4] = {1, 4, 4, 2};
  deft_tensor *x0 = filled(d0, 4, 1, -1.0f, 1.0f), *x2 = filled(d2, 4, 3, -1.0f, 1.0f);
  deft_tensor *out = run1(s, x, x0, y, st);
  ck_assert(absorbed(s, g, "head") && absorbed(s, g, "bias"));
  ck_assert_int_eq(deft_tensor_num_elements(out), 0);
  ck_assert_int_eq(deft_tensor_dim(out, 3), 5);
  deft_tensor_free(out);
  out = NULL;
  deft_tensor *fv[1] = {x2};
  ck_assert(!deft_session_run(s, &x, tu_feeds(fv), 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Conv2D 'head'", "channels");
  ck_assert_ptr_null(out);
  deft_tensor_free(x0);
  deft_tensor_free(x2);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* The epilogue loops on every instruction set the CPU runs give the unfused kernels' bits on
 * special values: -0, +-inf, denormals, values at and around 0 and 6 (NaN in, NaN out: which
 * of two NaN operands' sign survives a product or sum is the compiler's operand order, in the
 * unfused kernels too), over widths with and without a part-filled vector (3, 8, 19, 64, 80
 * channels; the narrow ones repeated to 64 floats). */
START_TEST(epilogue_loops_match_on_special_values) {
  static const float special[] = {NAN, -NAN, 0.0f, -0.0f, INFINITY, -INFINITY, 6.0f, 5.999999f,
                                  6.000001f, 1e-40f, -1e-40f, 0.5f, -3.0f, 7.0f, 1e30f};
  enum { NS = sizeof special / sizeof special[0] };
  const int widths[] = {3, 8, 19, 64, 80};
  conv_isa best = deft_conv_isa();
  for (int wi = 0; wi < 5; wi++) {
    int64_t cols = widths[wi], rows = 37, n = rows * cols;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    float *want = malloc(sizeof(float) * (size_t)n), *sv = malloc(sizeof(float) * (size_t)cols);
    float *tv = malloc(sizeof(float) * (size_t)cols);
    ck_assert(x && y && want && sv && tv);
    for (int64_t j = 0; j < cols; j++) {
      sv[j] = j % 5 == 0 ? special[j % NS] : (float)(j % 7) * 0.75f - 2.0f;
      tv[j] = j % 4 == 0 ? special[(j + 3) % NS] : (float)(j % 3) * 2.5f - 1.0f;
    }
    for (int64_t i = 0; i < n; i++) x[i] = i % 3 ? special[i % NS] : (float)(i % 11) - 4.0f;
    for (int pattern = 0; pattern < 2; pattern++)
      for (int act = DEFT_EPI_NONE; act <= DEFT_EPI_RELU6; act++) {
        deft_epilogue e = {0};
        e.act = (deft_epi_act)act;
        if (pattern) { /* a frozen batch norm's Mul, Add */
          e.nops = 2;
          e.ops[0].op = DEFT_EPI_MUL;
          e.ops[0].a = sv;
          e.ops[1].op = DEFT_EPI_ADD;
          e.ops[1].a = tv;
        } else { /* BiasAdd */
          e.nops = 1;
          e.ops[0].op = DEFT_EPI_ADD;
          e.ops[0].a = tv;
        }
        for (int64_t i = 0; i < n; i++) { /* the kernels' expressions, one op at a time */
          volatile float v = x[i];
          if (pattern) v = v * sv[i % cols];
          v = v + tv[i % cols];
          if (act != DEFT_EPI_NONE) v = v > 0.0f ? v : 0.0f;
          if (act == DEFT_EPI_RELU6) v = v < 6.0f ? v : 6.0f;
          want[i] = v;
        }
        for (int isa = CONV_ISA_GENERIC; isa <= (int)best; isa++) {
          e.isa = isa;
          memcpy(y, x, sizeof(float) * (size_t)n);
          deft_epilogue_rows_f32(&e, y, rows, cols);
          for (int64_t i = 0; i < n; i++)
            ck_assert_msg(!memcmp(&y[i], &want[i], sizeof(float)) ||
                              (isnan(y[i]) && isnan(want[i])),
                          "isa %d cols %d pattern %d act %d [%lld]: %a, want %a (x %a)", isa,
                          (int)cols, pattern, act, (long long)i, (double)y[i], (double)want[i],
                          (double)x[i]);
        }
      }
    free(x);
    free(y);
    free(want);
    free(sv);
    free(tv);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("plan_fuse_conv");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, chains_fuse_and_match_unfused_bits);
  tcase_add_test(tc, chains_match_on_avx2_and_openblas_paths);
  tcase_add_test(tc, large_outputs_match_unfused_bits);
  tcase_add_test(tc, conv_batch_norm_relu_matches_numpy);
  tcase_add_test(tc, batch_norm_variables_read_every_run);
  tcase_add_test(tc, unfusable_chains_keep_their_steps);
  tcase_add_test(tc, long_chain_fuses_up_to_the_limit);
  tcase_add_test(tc, run_time_errors_name_the_op);
  tcase_add_test(tc, epilogue_loops_match_on_special_values);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
