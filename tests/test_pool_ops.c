/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_pool_ops.c - the pooling family (ops/pool_ops.c) and Relu6: MaxPool, AvgPool and
 * their gradients against PyTorch (float32 and float64, NHWC and NCHW, SAME and VALID, windows
 * and strides differing per axis, TF's asymmetric SAME padding built with F.pad), the gradient
 * graphs' op types and names as TF 1.x builds them, and bad input (build-time and import-time
 * attrs, run-time shapes) failing with a status that names the node. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deft/io.h"
#include "testutil.h"

typedef struct pool_case {
  const char *type; /* MaxPool or AvgPool */
  int64_t dims[4];  /* input, in the layout's order */
  int64_t k[4], s[4];
  const char *padding, *format;
  deft_dtype dtype;
} pool_case;

static const pool_case cases[] = {
    {"MaxPool", {2, 7, 6, 3}, {1, 2, 2, 1}, {1, 2, 2, 1}, "VALID", "NHWC", DEFT_FLOAT},
    {"MaxPool", {2, 7, 6, 3}, {1, 3, 2, 1}, {1, 2, 1, 1}, "SAME", "NHWC", DEFT_FLOAT},
    {"MaxPool", {1, 8, 8, 16}, {1, 3, 3, 1}, {1, 2, 2, 1}, "SAME", "NHWC", DEFT_FLOAT},
    /* more channels than MaxPoolGrad's vectorized block (64), overlapping windows */
    {"MaxPool", {2, 5, 4, 70}, {1, 2, 2, 1}, {1, 1, 2, 1}, "SAME", "NHWC", DEFT_FLOAT},
    {"MaxPool", {2, 3, 7, 6}, {1, 1, 2, 3}, {1, 1, 3, 2}, "SAME", "NCHW", DEFT_DOUBLE},
    {"AvgPool", {2, 7, 6, 3}, {1, 3, 3, 1}, {1, 2, 2, 1}, "SAME", "NHWC", DEFT_FLOAT},
    {"AvgPool", {2, 7, 6, 3}, {1, 2, 3, 1}, {1, 1, 2, 1}, "VALID", "NHWC", DEFT_DOUBLE},
    {"AvgPool", {1, 4, 4, 8}, {1, 4, 4, 1}, {1, 2, 2, 1}, "VALID", "NHWC", DEFT_FLOAT},
    {"AvgPool", {2, 3, 7, 6}, {1, 1, 3, 2}, {1, 1, 2, 2}, "SAME", "NCHW", DEFT_FLOAT},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static uint64_t rng = 0x243F6A8885A308D3ull;
static double uniform(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static deft_tensor *random_tensor(deft_dtype dt, const int64_t *dims, int rank) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    if (dt == DEFT_FLOAT) ((float *)deft_tensor_data(t))[i] = (float)uniform();
    else ((double *)deft_tensor_data(t))[i] = uniform();
  }
  return t;
}

static void write_npy(const char *path, const deft_tensor *t) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_npy_write(path, t, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

static deft_tensor *read_npy(const char *path) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t != NULL, "%s: %s", path, deft_status_message(st));
  deft_status_free(st);
  return t;
}

static void assert_close(const deft_tensor *got, const deft_tensor *want, double tol,
                         const char *what) {
  ck_assert_int_eq(deft_tensor_num_elements(got), deft_tensor_num_elements(want));
  for (int k = 0; k < deft_tensor_rank(want); k++)
    ck_assert_int_eq(deft_tensor_dim(got, k), deft_tensor_dim(want, k));
  for (int64_t i = 0; i < deft_tensor_num_elements(want); i++) {
    double g = deft_tensor_get_double(got, i), w = deft_tensor_get_double(want, i);
    ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)), "%s[%lld] = %.9g, expected %.9g", what,
                  (long long)i, g, w);
  }
}

/* PyTorch reference: argv = dir, then per case "type k0,k1,k2,k3 s0,.. padding format". Reads
 * <dir>/<i>.x.npy and <i>.g.npy, writes <i>.y.npy and <i>.dx.npy. TF's SAME pads
 * total = max((out-1)*s + k - in, 0), the smaller half before; padded elements are -inf for max
 * and excluded from the mean (divide by the pooled count of ones). */
static const char torch_ref[] =
    "import sys, numpy as np, torch\n"
    "import torch.nn.functional as F\n"
    "d = sys.argv[1]\n"
    "for i, spec in enumerate(sys.argv[2:]):\n"
    "    typ, k, s, pad, fmt = spec.split()\n"
    "    k = [int(v) for v in k.split(',')]; s = [int(v) for v in s.split(',')]\n"
    "    x = torch.tensor(np.load('%s/%d.x.npy' % (d, i)), requires_grad=True)\n"
    "    g = torch.tensor(np.load('%s/%d.g.npy' % (d, i)))\n"
    "    xc = x.permute(0, 3, 1, 2) if fmt == 'NHWC' else x\n"
    "    if fmt == 'NHWC': kk, ss = k[1:3], s[1:3]\n"
    "    else: kk, ss = k[2:4], s[2:4]\n"
    "    pads = []\n"
    "    for a in (1, 0):\n"
    "        n = xc.shape[2 + a]\n"
    "        if pad == 'SAME':\n"
    "            o = -(-n // ss[a]); t = max((o - 1) * ss[a] + kk[a] - n, 0)\n"
    "            pads += [t // 2, t - t // 2]\n"
    "        else: pads += [0, 0]\n"
    "    if typ == 'MaxPool':\n"
    "        y = F.max_pool2d(F.pad(xc, pads, value=float('-inf')), kk, ss)\n"
    "    else:\n"
    "        sm = F.avg_pool2d(F.pad(xc, pads), kk, ss, divisor_override=1)\n"
    "        cnt = F.avg_pool2d(F.pad(torch.ones_like(xc), pads), kk, ss, divisor_override=1)\n"
    "        y = sm / cnt\n"
    "    if fmt == 'NHWC': y = y.permute(0, 2, 3, 1)\n"
    "    (y * g).sum().backward()\n"
    "    np.save('%s/%d.y.npy' % (d, i), y.detach().numpy())\n"
    "    np.save('%s/%d.dx.npy' % (d, i), x.grad.numpy())\n";

static void fmt_list(char *buf, size_t size, const int64_t *v) {
  snprintf(buf, size, "%lld,%lld,%lld,%lld", (long long)v[0], (long long)v[1], (long long)v[2],
           (long long)v[3]);
}

/* Builds case i (pool + gradient with grad_ys = g) and returns (y, dx) from one run. */
static void run_case(const pool_case *pc, const deft_tensor *x, const deft_tensor *gv,
                     deft_tensor **y, deft_tensor **dx, int threads) {
  deft_graph *g = deft_graph_new();
  deft_output xp = deft_placeholder(g, pc->dtype, deft_tensor_shape(x), "x");
  deft_output yo = !strcmp(pc->type, "MaxPool")
                       ? deft_max_pool(g, xp, pc->k, pc->s, pc->padding, pc->format, "pool")
                       : deft_avg_pool(g, xp, pc->k, pc->s, pc->padding, pc->format, "pool");
  deft_output gp = deft_placeholder(g, pc->dtype, deft_output_shape(yo), "g");
  deft_output d;
  ck_assert(deft_gradients(g, &yo, 1, &xp, 1, &gp, &d));
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  /* TF's gradient ops */
  const char *want = !strcmp(pc->type, "MaxPool") ? "MaxPoolGrad" : "AvgPoolGrad";
  ck_assert_str_eq(deft_op_type(d.op), want);
  char name[64];
  snprintf(name, sizeof name, "gradients/pool_grad/%s", want);
  ck_assert_str_eq(deft_op_name(d.op), name);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s != NULL, "%s", deft_status_message(st));
  deft_session_set_threads(s, threads);
  deft_output feeds[2] = {xp, gp}, fetch[2] = {yo, d};
  deft_tensor *vals[2] = {(deft_tensor *)x, (deft_tensor *)gv}, *out[2] = {NULL, NULL};
  ck_assert_msg(deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, fetch, out, 2, NULL, 0, st), "%s",
                deft_status_message(st));
  *y = out[0];
  *dx = out[1];
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}

START_TEST(pools_match_pytorch) {
  if (!tu_have_numpy()) {
    ck_assert_msg(!getenv("CI"), "numpy is needed in CI");
    return;
  }
  const char *dir = tu_tmpdir();
  char path[600], specs[NCASES][200];
  const char *args[NCASES + 2];
  args[0] = dir;
  deft_tensor *ys[NCASES][2], *dxs[NCASES][2];
  for (int i = 0; i < NCASES; i++) {
    const pool_case *pc = &cases[i];
    deft_tensor *x = random_tensor(pc->dtype, pc->dims, 4);
    /* the output's shape, from a run with a zero gradient of any shape: build once to learn */
    deft_graph *g0 = deft_graph_new();
    deft_output xp = deft_placeholder(g0, pc->dtype, deft_tensor_shape(x), "x");
    deft_output yo = deft_max_pool(g0, xp, pc->k, pc->s, pc->padding, pc->format, "p");
    deft_shape ysh = deft_output_shape(yo);
    ck_assert_msg(deft_graph_ok(g0), "%s", deft_status_message(deft_graph_status(g0)));
    deft_graph_free(g0);
    deft_tensor *gv = random_tensor(pc->dtype, ysh.dims, 4);
    for (int t = 0; t < 2; t++) run_case(pc, x, gv, &ys[i][t], &dxs[i][t], t + 1);
    snprintf(path, sizeof path, "%s/%d.x.npy", dir, i);
    write_npy(path, x);
    snprintf(path, sizeof path, "%s/%d.g.npy", dir, i);
    write_npy(path, gv);
    char kb[64], sb[64];
    fmt_list(kb, sizeof kb, pc->k);
    fmt_list(sb, sizeof sb, pc->s);
    snprintf(specs[i], sizeof specs[i], "%s %s %s %s %s", pc->type, kb, sb, pc->padding,
             pc->format);
    args[i + 1] = specs[i];
    deft_tensor_free(x);
    deft_tensor_free(gv);
  }
  args[NCASES + 1] = NULL;
  ck_assert_msg(tu_python(torch_ref, args) == 0, "the PyTorch reference failed");
  for (int i = 0; i < NCASES; i++) {
    double tol = cases[i].dtype == DEFT_FLOAT ? 1e-6 : 1e-12;
    snprintf(path, sizeof path, "%s/%d.y.npy", dir, i);
    deft_tensor *wy = read_npy(path);
    snprintf(path, sizeof path, "%s/%d.dx.npy", dir, i);
    deft_tensor *wdx = read_npy(path);
    for (int t = 0; t < 2; t++) {
      char what[512];
      snprintf(what, sizeof what, "case %d (%.150s, %d threads) y", i, specs[i], t + 1);
      assert_close(ys[i][t], wy, tol, what);
      snprintf(what, sizeof what, "case %d (%.150s, %d threads) dx", i, specs[i], t + 1);
      assert_close(dxs[i][t], wdx, tol, what);
      deft_tensor_free(ys[i][t]);
      deft_tensor_free(dxs[i][t]);
    }
    deft_tensor_free(wy);
    deft_tensor_free(wdx);
  }
}
END_TEST

/* Hand-computed: SAME 2x2 stride 2 on 3x3 pads one row/column at the bottom/right only. */
START_TEST(same_padding_is_bottom_right) {
  deft_graph *g = deft_graph_new();
  float v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, (int64_t[]){1, 3, 3, 1}, 4, NULL);
  memcpy(deft_tensor_data(t), v, sizeof v);
  deft_output x = deft_const(g, t, "x");
  const int64_t k[4] = {1, 2, 2, 1}, s[4] = {1, 2, 2, 1};
  deft_output mx = deft_max_pool(g, x, k, s, "SAME", "NHWC", "mx");
  deft_output av = deft_avg_pool(g, x, k, s, "SAME", "NHWC", "av");
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  deft_output f[2] = {mx, av};
  deft_tensor *out[2];
  ck_assert_msg(deft_session_run(sess, NULL, NULL, 0, f, out, 2, NULL, 0, st), "%s",
                deft_status_message(st));
  const float wm[4] = {5, 6, 8, 9}, wa[4] = {3, 4.5f, 7.5f, 9};
  for (int i = 0; i < 4; i++) {
    ck_assert_float_eq(((float *)deft_tensor_data(out[0]))[i], wm[i]);
    ck_assert_float_eq(((float *)deft_tensor_data(out[1]))[i], wa[i]);
  }
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(t);
  deft_session_free(sess);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(relu6_values) {
  deft_graph *g = deft_graph_new();
  float v[6] = {-2, 0, 0.5f, 5.5f, 6, 8};
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, (int64_t[]){6}, 1, NULL);
  memcpy(deft_tensor_data(t), v, sizeof v);
  deft_output x = deft_const(g, t, "x");
  deft_output y = deft_relu6(g, x, "r6");
  deft_output d;
  ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &d));
  ck_assert_str_eq(deft_op_type(d.op), "Relu6Grad");
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  deft_output f[2] = {y, d};
  deft_tensor *out[2];
  ck_assert(deft_session_run(sess, NULL, NULL, 0, f, out, 2, NULL, 0, st));
  const float wy[6] = {0, 0, 0.5f, 5.5f, 6, 6}, wd[6] = {0, 0, 1, 1, 0, 0};
  for (int i = 0; i < 6; i++) {
    ck_assert_float_eq(((float *)deft_tensor_data(out[0]))[i], wy[i]);
    ck_assert_float_eq(((float *)deft_tensor_data(out[1]))[i], wd[i]);
  }
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(t);
  deft_session_free(sess);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* Builds MaxPool with raw attrs; returns the graph's status code (DEFT_OK when built). */
static deft_code build_raw(const char *type, const int64_t *dims, int rank, const int64_t *k,
                           int nk, const int64_t *s, int ns, const char *pad, const char *fmt,
                           deft_status *out) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(rank, dims), "x");
  deft_op_builder *b = deft_op_builder_new(g, type, "pool");
  deft_op_builder_add_input(b, x);
  deft_op_builder_set_attr_int_list(b, "ksize", k, nk);
  deft_op_builder_set_attr_int_list(b, "strides", s, ns);
  deft_op_builder_set_attr_string(b, "padding", pad, strlen(pad));
  deft_op_builder_set_attr_string(b, "data_format", fmt, strlen(fmt));
  deft_op_builder_finish(b);
  deft_code code = deft_status_code(deft_graph_status(g));
  deft_status_copy(out, deft_graph_status(g));
  deft_graph_free(g);
  return code;
}

START_TEST(bad_attrs_fail_at_build_time) {
  const int64_t d4[4] = {1, 4, 4, 2}, k22[4] = {1, 2, 2, 1}, s22[4] = {1, 2, 2, 1};
  deft_status *st = deft_status_new();
  ck_assert_int_eq(build_raw("MaxPool", d4, 4, k22, 4, s22, 4, "VALID", "NHWC", st), DEFT_OK);
  /* rank 3 input */
  ck_assert_int_ne(build_raw("MaxPool", d4, 3, k22, 4, s22, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "4-D");
  /* zero and negative strides, short ksize */
  const int64_t s0[4] = {1, 0, 2, 1}, sn[4] = {1, -2, 2, 1};
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, k22, 4, s0, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "strides[1] = 0");
  ck_assert_int_ne(build_raw("AvgPool", d4, 4, k22, 4, sn, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "AvgPool 'pool'", "strides[1] = -2");
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, k22, 3, s22, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "ksize");
  /* a window larger than the (VALID) input */
  const int64_t k55[4] = {1, 5, 5, 1};
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, k55, 4, s22, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "larger than");
  /* SAME accepts it */
  ck_assert_int_eq(build_raw("MaxPool", d4, 4, k55, 4, s22, 4, "SAME", "NHWC", st), DEFT_OK);
  /* batch and depth pooling */
  const int64_t kb[4] = {2, 2, 2, 1}, kd[4] = {1, 1, 1, 2};
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, kb, 4, s22, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "batch");
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, kd, 4, kd, 4, "VALID", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "MaxPool 'pool'", "depth");
  /* unknown strings */
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, k22, 4, s22, 4, "FULL", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "pool", "FULL");
  ck_assert_int_ne(build_raw("AvgPool", d4, 4, k22, 4, s22, 4, "SAME", "HWCN", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "pool", "HWCN");
  /* huge windows */
  const int64_t kh[4] = {1, (int64_t)1 << 40, 2, 1};
  ck_assert_int_ne(build_raw("MaxPool", d4, 4, kh, 4, s22, 4, "SAME", "NHWC", st), DEFT_OK);
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "ksize");
  deft_status_free(st);
}
END_TEST

/* Shapes the build could not know fail at run time, naming the node. */
START_TEST(bad_shapes_fail_at_run_time) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(-1, NULL), "x");
  const int64_t k[4] = {1, 3, 3, 1}, s[4] = {1, 1, 1, 1};
  deft_output y = deft_max_pool(g, x, k, s, "VALID", "NHWC", "pool");
  deft_output shp = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(4), "shape");
  deft_output gr = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(-1, NULL), "grad");
  deft_output ag = deft_avg_pool_grad(g, shp, gr, k, s, "VALID", "NHWC", "avg_grad");
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  deft_tensor *out = NULL;
  /* rank 2 */
  deft_tensor *v = deft_tensor_new(DEFT_FLOAT, (int64_t[]){4, 4}, 2, NULL);
  memset(deft_tensor_data(v), 0, 64);
  ck_assert(!deft_session_run(sess, &x, (const deft_tensor *const *)&v, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "4-D");
  deft_tensor_free(v);
  /* 2x2 image under a 3x3 VALID window */
  v = deft_tensor_new(DEFT_FLOAT, (int64_t[]){1, 2, 2, 1}, 4, NULL);
  memset(deft_tensor_data(v), 0, 16);
  ck_assert(!deft_session_run(sess, &x, (const deft_tensor *const *)&v, 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MaxPool 'pool'", "larger than");
  /* AvgPoolGrad: negative and overflowing shapes, and a gradient of the wrong shape */
  deft_tensor *sv = deft_tensor_new(DEFT_INT32, (int64_t[]){4}, 1, NULL);
  int32_t *sp = deft_tensor_data(sv);
  const int32_t bad[3][4] = {{1, -4, 4, 1}, {INT32_MAX, INT32_MAX, INT32_MAX, 8}, {1, 5, 5, 1}};
  deft_output feeds[2] = {shp, gr};
  deft_tensor *vals[2] = {sv, v};
  for (int i = 0; i < 3; i++) {
    memcpy(sp, bad[i], sizeof bad[i]);
    ck_assert(!deft_session_run(sess, feeds, (const deft_tensor *const *)vals, 2, &ag, &out, 1, NULL, 0, st));
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "AvgPoolGrad 'avg_grad'");
  }
  deft_tensor_free(sv);
  deft_tensor_free(v);
  deft_session_free(sess);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* An imported GraphDef (text format) whose MaxPool has strides 0 fails to import or to plan with
 * a status naming the node; it never crashes. */
START_TEST(imported_bad_attrs_never_crash) {
  static const char *const bad[] = {
      "strides: 0", "strides: -1", "ksize: 0", "padding_bad", "format_bad", "short",
  };
  char path[600];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *ks = !strcmp(bad[i], "ksize: 0") ? "0" : "2";
    const char *ss = !strcmp(bad[i], "strides: 0") ? "0" : !strcmp(bad[i], "strides: -1") ? "-1"
                                                                                        : "2";
    const char *pad = !strcmp(bad[i], "padding_bad") ? "FULL" : "VALID";
    const char *fmt = !strcmp(bad[i], "format_bad") ? "NCWH" : "NHWC";
    const char *extra = !strcmp(bad[i], "short") ? "" : " i: 1";
    snprintf(path, sizeof path, "%s/bad_pool_%zu.pbtxt", tu_tmpdir(), i);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "node { name: \"x\" op: \"Placeholder\" attr { key: \"dtype\" value { type: DT_FLOAT } }"
            " attr { key: \"shape\" value { shape { dim { size: 1 } dim { size: 4 } dim { size: 4 }"
            " dim { size: 1 } } } } }\n"
            "node { name: \"pool\" op: \"MaxPool\" input: \"x\""
            " attr { key: \"T\" value { type: DT_FLOAT } }"
            " attr { key: \"ksize\" value { list { i: 1 i: %s i: 2%s } } }"
            " attr { key: \"strides\" value { list { i: 1 i: %s i: 2 i: 1 } } }"
            " attr { key: \"padding\" value { s: \"%s\" } }"
            " attr { key: \"data_format\" value { s: \"%s\" } } }\n",
            ks, extra, ss, pad, fmt);
    fclose(f);
    deft_status *st = deft_status_new();
    deft_graph *g = deft_import_graph_def(path, NULL, st);
    if (g) {
      deft_output y = deft_graph_tensor_by_name(g, "pool:0", st);
      deft_session *s = y.op ? deft_session_new(g, st) : NULL;
      deft_tensor *x = deft_tensor_new(DEFT_FLOAT, (int64_t[]){1, 4, 4, 1}, 4, NULL);
      memset(deft_tensor_data(x), 0, 64);
      deft_output xp = deft_graph_tensor_by_name(g, "x:0", NULL);
      deft_tensor *out = NULL;
      ck_assert_msg(!s || !deft_session_run(s, &xp, (const deft_tensor *const *)&x, 1, &y, &out, 1, NULL, 0, st),
                    "case %s ran", bad[i]);
      deft_tensor_free(x);
      deft_session_free(s);
      deft_graph_free(g);
    }
    ck_assert_msg(deft_status_code(st) != DEFT_OK, "case %s: no error", bad[i]);
    ck_assert_msg(strstr(deft_status_message(st), "pool") != NULL, "case %s: %s", bad[i],
                  deft_status_message(st));
    deft_status_free(st);
  }
}
END_TEST

/* Equal values in a window: MaxPoolGrad gives the whole gradient to the first of them in
 * row-major window order (TF's CPU kernel), in every channel, NHWC (the vectorized path) and
 * NCHW. */
START_TEST(max_pool_grad_ties_go_to_the_first) {
  for (int f = 0; f < 2; f++) {
    bool nhwc = f == 0;
    deft_graph *g = deft_graph_new();
    int64_t d[4] = {1, 2, 4, 3}, dn[4] = {1, 3, 2, 4};
    deft_output x = deft_placeholder(g, DEFT_FLOAT, nhwc ? deft_shape_make(4, d)
                                                         : deft_shape_make(4, dn), "x");
    int64_t k[4] = {1, 2, 2, 1}, kn[4] = {1, 1, 2, 2};
    deft_output y = deft_max_pool(g, x, nhwc ? k : kn, nhwc ? k : kn, "VALID",
                                  nhwc ? "NHWC" : "NCHW", "pool");
    deft_output dx;
    ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &dx));
    deft_status *st = deft_status_new();
    deft_session *s = deft_session_new(g, st);
    deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, nhwc ? d : dn, 4, NULL), *out = NULL;
    float *xp = deft_tensor_data(xv);
    for (int i = 0; i < 24; i++) xp[i] = 1.5f; /* every window all ties */
    ck_assert_msg(deft_session_run(s, &x, tu_feeds(&xv), 1, &dx, &out, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    const float *o = deft_tensor_data(out);
    for (int h = 0; h < 2; h++)
      for (int w = 0; w < 4; w++)
        for (int c = 0; c < 3; c++) {
          float v = nhwc ? o[(h * 4 + w) * 3 + c] : o[(c * 2 + h) * 4 + w];
          ck_assert_msg(v == (h == 0 && w % 2 == 0 ? 1.0f : 0.0f), "%s h=%d w=%d c=%d: %g",
                        nhwc ? "NHWC" : "NCHW", h, w, c, v);
        }
    deft_tensor_free(out);
    deft_tensor_free(xv);
    deft_session_free(s);
    deft_status_free(st);
    deft_graph_free(g);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("pool_ops");
  TCase *tc = tcase_create("pool");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, pools_match_pytorch);
  tcase_add_test(tc, same_padding_is_bottom_right);
  tcase_add_test(tc, max_pool_grad_ties_go_to_the_first);
  tcase_add_test(tc, relu6_values);
  tcase_add_test(tc, bad_attrs_fail_at_build_time);
  tcase_add_test(tc, bad_shapes_fail_at_run_time);
  tcase_add_test(tc, imported_bad_attrs_never_crash);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
