/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_conv_ops.c - the convolution family (ops/conv_ops.c): Conv2D, its backprops and the
 * depthwise ops checked against PyTorch (torch.nn.functional.conv2d in float64 with TF's
 * padding applied by F.pad, the backprops by autograd) for float32 and float64, on 1 and 2
 * threads, on every depthwise instruction set the CPU has; the gradient cases again; the layers'
 * names and numbers; and bad input at build, plan and run time, for built and imported graphs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/conv.h"
#include "grad_check.h"
#include "graph.pb-c.h"
#include "math_testutil.h"
#include "ops/conv_internal.h"
#include "ops/sgemm.h"

TU_GRAD_CASES(conv);

typedef struct conv_case {
  int kind; /* CONV_FWD, CONV_BWD_INPUT, CONV_BWD_FILTER */
  bool depthwise;
  int64_t x[4], f[4];
  int64_t sh, sw, dh, dw;
  const char *padding;
  int64_t pads[4]; /* EXPLICIT: top, bottom, left, right */
} conv_case;

static const conv_case cases[] = {
    {CONV_FWD, false, {2, 7, 8, 3}, {3, 3, 3, 5}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_FWD, false, {2, 8, 8, 4}, {3, 3, 4, 6}, 2, 2, 1, 1, "SAME", {0}}, /* pad 0/1 */
    {CONV_FWD, false, {1, 9, 7, 2}, {4, 2, 2, 3}, 2, 3, 1, 1, "SAME", {0}},
    {CONV_FWD, false, {3, 9, 10, 3}, {3, 3, 3, 4}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_FWD, false, {2, 9, 9, 2}, {3, 3, 2, 3}, 1, 1, 2, 3, "SAME", {0}},
    {CONV_FWD, false, {2, 6, 7, 3}, {3, 2, 3, 2}, 1, 2, 1, 1, "EXPLICIT", {2, 0, 1, 3}},
    {CONV_FWD, false, {2, 5, 6, 16}, {1, 1, 16, 8}, 1, 1, 1, 1, "VALID", {0}}, /* pointwise */
    {CONV_FWD, false, {2, 6, 6, 8}, {1, 1, 8, 4}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_FWD, false, {4, 28, 28, 1}, {3, 3, 1, 32}, 1, 1, 1, 1, "SAME", {0}},   /* ch13 conv1 */
    /* more of the direct path's (at most 4 input channels): MobileNet's Conv2d_0 (stride 2,
     * SAME padding after only), 13 = 8 + 5 output channels (the generic tail), dilation with
     * stride 3 and explicit padding, VALID leaving input rows and columns unread */
    {CONV_FWD, false, {1, 16, 16, 3}, {3, 3, 3, 8}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_FWD, false, {2, 11, 13, 2}, {3, 3, 2, 13}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_FWD, false, {1, 12, 19, 4}, {5, 3, 4, 16}, 2, 3, 2, 1, "EXPLICIT", {1, 3, 0, 2}},
    {CONV_FWD, false, {2, 10, 10, 1}, {2, 2, 1, 24}, 3, 3, 1, 1, "VALID", {0}},
    {CONV_FWD, false, {2, 28, 28, 32}, {3, 3, 32, 64}, 2, 2, 1, 1, "SAME", {0}}, /* ch13 conv2 */
    {CONV_BWD_INPUT, false, {2, 7, 8, 3}, {3, 3, 3, 5}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, false, {2, 8, 8, 4}, {3, 3, 4, 6}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, false, {3, 9, 10, 3}, {3, 3, 3, 4}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_INPUT, false, {2, 9, 9, 2}, {3, 3, 2, 3}, 1, 1, 2, 3, "SAME", {0}},
    {CONV_BWD_INPUT, false, {2, 6, 7, 3}, {3, 2, 3, 2}, 1, 2, 1, 1, "EXPLICIT", {2, 0, 1, 3}},
    {CONV_BWD_INPUT, false, {2, 5, 6, 16}, {1, 1, 16, 8}, 1, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_INPUT, false, {2, 28, 28, 32}, {3, 3, 32, 64}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, false, {2, 7, 8, 3}, {3, 3, 3, 5}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, false, {2, 8, 8, 4}, {3, 3, 4, 6}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, false, {3, 9, 10, 3}, {3, 3, 3, 4}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_FILTER, false, {2, 9, 9, 2}, {3, 3, 2, 3}, 1, 1, 2, 3, "SAME", {0}},
    {CONV_BWD_FILTER, false, {2, 6, 7, 3}, {3, 2, 3, 2}, 1, 2, 1, 1, "EXPLICIT", {2, 0, 1, 3}},
    {CONV_BWD_FILTER, false, {2, 5, 6, 16}, {1, 1, 16, 8}, 1, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_FILTER, false, {4, 28, 28, 1}, {3, 3, 1, 32}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, false, {2, 28, 28, 32}, {3, 3, 32, 64}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_FWD, true, {2, 8, 9, 19}, {3, 3, 19, 1}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_FWD, true, {2, 8, 8, 24}, {3, 3, 24, 1}, 2, 2, 1, 1, "SAME", {0}}, /* MobileNet */
    {CONV_FWD, true, {1, 9, 8, 5}, {3, 2, 5, 3}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_FWD, true, {2, 9, 9, 4}, {3, 3, 4, 2}, 1, 1, 2, 2, "SAME", {0}},
    {CONV_FWD, true, {1, 6, 7, 3}, {2, 3, 3, 2}, 1, 1, 1, 1, "EXPLICIT", {1, 2, 0, 1}},
    /* multiplier 1 (the intrinsic loops): 40 channels = 16 + 16 + 8 (masked tails on both
     * widths), stride 2 in one axis, dilation, VALID, a 5x4 window (no register-held weights),
     * explicit padding */
    {CONV_FWD, true, {2, 9, 10, 40}, {3, 3, 40, 1}, 1, 2, 2, 1, "VALID", {0}},
    {CONV_FWD, true, {1, 11, 9, 13}, {5, 4, 13, 1}, 2, 1, 1, 2, "EXPLICIT", {2, 1, 3, 0}},
    {CONV_FWD, true, {3, 16, 16, 8}, {3, 3, 8, 1}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, true, {2, 9, 10, 40}, {3, 3, 40, 1}, 1, 2, 2, 1, "VALID", {0}},
    {CONV_BWD_INPUT, true, {1, 11, 9, 13}, {5, 4, 13, 1}, 2, 1, 1, 2, "EXPLICIT", {2, 1, 3, 0}},
    {CONV_BWD_INPUT, true, {3, 16, 16, 8}, {3, 3, 8, 1}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, true, {2, 9, 10, 40}, {3, 3, 40, 1}, 1, 2, 2, 1, "VALID", {0}},
    {CONV_BWD_FILTER, true, {1, 11, 9, 13}, {5, 4, 13, 1}, 2, 1, 1, 2, "EXPLICIT", {2, 1, 3, 0}},
    {CONV_BWD_FILTER, true, {3, 16, 16, 8}, {3, 3, 8, 1}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, true, {2, 8, 9, 19}, {3, 3, 19, 1}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, true, {2, 8, 8, 24}, {3, 3, 24, 1}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_INPUT, true, {1, 9, 8, 5}, {3, 2, 5, 3}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_INPUT, true, {2, 9, 9, 4}, {3, 3, 4, 2}, 1, 1, 2, 2, "SAME", {0}},
    {CONV_BWD_FILTER, true, {2, 8, 9, 19}, {3, 3, 19, 1}, 1, 1, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, true, {2, 8, 8, 24}, {3, 3, 24, 1}, 2, 2, 1, 1, "SAME", {0}},
    {CONV_BWD_FILTER, true, {1, 9, 8, 5}, {3, 2, 5, 3}, 2, 1, 1, 1, "VALID", {0}},
    {CONV_BWD_FILTER, true, {2, 9, 9, 4}, {3, 3, 4, 2}, 1, 1, 2, 2, "SAME", {0}},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

static deft_conv_options case_opts(const conv_case *k) {
  deft_conv_options o;
  memset(&o, 0, sizeof o);
  o.strides[0] = k->sh;
  o.strides[1] = k->sw;
  o.dilations[0] = k->dh;
  o.dilations[1] = k->dw;
  o.padding = k->padding;
  memcpy(o.explicit_paddings, k->pads, sizeof k->pads);
  return o;
}

/* TF's output size (independent of deft: the formula of TF's docs). */
static int64_t tf_out(const conv_case *k, int axis) {
  int64_t in = k->x[1 + axis], f = k->f[axis], s = axis ? k->sw : k->sh, d = axis ? k->dw : k->dh;
  int64_t eff = (f - 1) * d + 1;
  if (!strcmp(k->padding, "SAME")) return (in + s - 1) / s;
  if (!strcmp(k->padding, "VALID")) return (in - eff) / s + 1;
  return (in + k->pads[2 * axis] + k->pads[2 * axis + 1] - eff) / s + 1;
}

static void dy_dims(const conv_case *k, int64_t d[4]) {
  d[0] = k->x[0];
  d[1] = tf_out(k, 0);
  d[2] = tf_out(k, 1);
  d[3] = k->depthwise ? k->f[2] * k->f[3] : k->f[3];
}

/* The two data inputs of case k (x/f, f/dy or x/dy). */
static void case_inputs(const conv_case *k, deft_dtype dt, deft_tensor **a, deft_tensor **b) {
  int64_t dy[4];
  dy_dims(k, dy);
  const int64_t *da = k->kind == CONV_BWD_INPUT ? k->f : k->x;
  const int64_t *db = k->kind == CONV_FWD ? k->f : dy;
  *a = mtu_rand_tensor(dt, deft_shape_make(4, da), -1, 1, false, false);
  *b = mtu_rand_tensor(dt, deft_shape_make(4, db), -1, 1, false, false);
}

static deft_output build_case(deft_graph *g, const conv_case *k, deft_output a, deft_output b) {
  deft_conv_options o = case_opts(k);
  int32_t sz[4];
  for (int i = 0; i < 4; i++) sz[i] = (int32_t)(k->kind == CONV_BWD_INPUT ? k->x[i] : k->f[i]);
  if (k->kind == CONV_FWD)
    return k->depthwise ? deft_depthwise_conv2d_native(g, a, b, &o, "conv")
                        : deft_conv2d_op(g, a, b, &o, "conv");
  deft_output s = deft_const_int32_vector(g, sz, 4, "sizes");
  if (k->kind == CONV_BWD_INPUT)
    return k->depthwise ? deft_depthwise_conv2d_native_backprop_input(g, s, a, b, &o, "conv")
                        : deft_conv2d_backprop_input(g, s, a, b, &o, "conv");
  return k->depthwise ? deft_depthwise_conv2d_native_backprop_filter(g, a, s, b, &o, "conv")
                      : deft_conv2d_backprop_filter(g, a, s, b, &o, "conv");
}

/* Runs case k in deft on `threads` threads. */
static deft_tensor *run_case(const conv_case *k, const deft_tensor *a, const deft_tensor *b,
                             int threads) {
  deft_graph *g = deft_graph_new();
  deft_dtype dt = deft_tensor_dtype(a);
  deft_output pa = mtu_ph(g, dt, deft_tensor_shape(a), "a");
  deft_output pb = mtu_ph(g, dt, deft_tensor_shape(b), "b");
  deft_output y = build_case(g, k, pa, pb);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_output feeds[2] = {pa, pb};
  deft_tensor *vals[2] = {(deft_tensor *)a, (deft_tensor *)b};
  deft_status *st = deft_status_new();
  deft_tensor *out = mtu_run(g, y, feeds, vals, 2, threads, st);
  ck_assert_msg(out, "%s", deft_status_message(st));
  deft_status_free(st);
  deft_graph_free(g);
  return out;
}

static void write_f64(const char *path, const deft_tensor *t) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    double v = deft_tensor_get_double(t, i);
    ck_assert_int_eq(fwrite(&v, 8, 1, f), 1);
  }
  fclose(f);
}

static deft_tensor *read_f64(const char *path, const int64_t *dims) {
  deft_tensor *t = deft_tensor_new(DEFT_DOUBLE, dims, 4, NULL);
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fread(deft_tensor_data(t), 8, (size_t)deft_tensor_num_elements(t), f),
                   (size_t)deft_tensor_num_elements(t));
  fclose(f);
  unlink(path);
  return t;
}

/* PyTorch, float64: every case's result from its inputs (files <dir>/cK.a, cK.b). */
static const char torch_script[] =
    "import sys\nimport numpy as np, torch\nimport torch.nn.functional as F\n"
    "d = sys.argv[1]\n"
    "for line in open(d + '/cases.txt'):\n"
    "    v = line.split()\n"
    "    i, kind, dw = int(v[0]), int(v[1]), int(v[2])\n"
    "    x = [int(t) for t in v[3:7]]; f = [int(t) for t in v[7:11]]\n"
    "    sh, sw, dh, dwl = [int(t) for t in v[11:15]]\n"
    "    pad = v[15]; ep = [int(t) for t in v[16:20]]\n"
    "    def tfpad(n, k, s, dl):\n"
    "        eff = (k - 1) * dl + 1\n"
    "        if pad == 'VALID': return 0, 0\n"
    "        out = -(-n // s)\n"
    "        tot = max((out - 1) * s + eff - n, 0)\n"
    "        return tot // 2, tot - tot // 2\n"
    "    if pad == 'EXPLICIT': pt, pb, pl, pr = ep\n"
    "    else:\n"
    "        pt, pb = tfpad(x[1], f[0], sh, dh); pl, pr = tfpad(x[2], f[1], sw, dwl)\n"
    "    def conv(xt, ft):\n"
    "        xn = F.pad(xt.permute(0, 3, 1, 2), (pl, pr, pt, pb))\n"
    "        if dw:\n"
    "            w = ft.permute(2, 3, 0, 1).reshape(f[2] * f[3], 1, f[0], f[1])\n"
    "            y = F.conv2d(xn, w, stride=(sh, sw), dilation=(dh, dwl), groups=f[2])\n"
    "        else:\n"
    "            y = F.conv2d(xn, ft.permute(3, 2, 0, 1), stride=(sh, sw), dilation=(dh, dwl))\n"
    "        return y.permute(0, 2, 3, 1)\n"
    "    a = np.fromfile('%s/c%d.a' % (d, i), dtype='<f8')\n"
    "    b = np.fromfile('%s/c%d.b' % (d, i), dtype='<f8')\n"
    "    X = torch.zeros(x, dtype=torch.float64, requires_grad=True)\n"
    "    W = torch.zeros(f, dtype=torch.float64, requires_grad=True)\n"
    "    with torch.no_grad():\n"
    "        if kind != 1: X.copy_(torch.from_numpy(a).reshape(x))\n"
    "        if kind == 0: W.copy_(torch.from_numpy(b).reshape(f))\n"
    "        if kind == 1: W.copy_(torch.from_numpy(a).reshape(f))\n"
    "    y = conv(X, W)\n"
    "    if kind == 0: r = y\n"
    "    else:\n"
    "        y.backward(torch.from_numpy(b).reshape(y.shape))\n"
    "        r = X.grad if kind == 1 else W.grad\n"
    "    r.detach().numpy().astype('<f8').tofile('%s/c%d.out' % (d, i))\n";

/* Reference results for every case from its inputs a[i], b[i] (one Python run). */
static void torch_refs(deft_tensor **a, deft_tensor **b, deft_tensor **want) {
  const char *dir = tu_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/cases.txt", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  for (int i = 0; i < NCASES; i++) {
    const conv_case *k = &cases[i];
    fprintf(f, "%d %d %d %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %s %lld %lld "
            "%lld %lld\n", i, k->kind, k->depthwise, (long long)k->x[0], (long long)k->x[1],
            (long long)k->x[2], (long long)k->x[3], (long long)k->f[0], (long long)k->f[1],
            (long long)k->f[2], (long long)k->f[3], (long long)k->sh, (long long)k->sw,
            (long long)k->dh, (long long)k->dw, k->padding, (long long)k->pads[0],
            (long long)k->pads[1], (long long)k->pads[2], (long long)k->pads[3]);
    snprintf(path, sizeof path, "%s/c%d.a", dir, i);
    write_f64(path, a[i]);
    snprintf(path, sizeof path, "%s/c%d.b", dir, i);
    write_f64(path, b[i]);
  }
  fclose(f);
  const char *args[] = {dir, NULL};
  ck_assert_int_eq(tu_python(torch_script, args), 0);
  for (int i = 0; i < NCASES; i++) {
    const conv_case *k = &cases[i];
    int64_t dims[4];
    if (k->kind == CONV_FWD) dy_dims(k, dims);
    else memcpy(dims, k->kind == CONV_BWD_INPUT ? k->x : k->f, sizeof dims);
    snprintf(path, sizeof path, "%s/c%d.out", dir, i);
    want[i] = read_f64(path, dims);
  }
}

static void check_against_torch(deft_dtype dt) {
  deft_tensor *a[NCASES], *b[NCASES], *want[NCASES];
  for (int i = 0; i < NCASES; i++) case_inputs(&cases[i], dt, &a[i], &b[i]);
  torch_refs(a, b, want);
  for (int i = 0; i < NCASES; i++) {
    const conv_case *k = &cases[i];
    char label[160];
    snprintf(label, sizeof label, "case %d (%s%s, %s, x [%lld,%lld,%lld,%lld])", i,
             k->depthwise ? "depthwise " : "", k->kind == CONV_FWD ? "forward"
             : k->kind == CONV_BWD_INPUT ? "backprop input" : "backprop filter", k->padding,
             (long long)k->x[0], (long long)k->x[1], (long long)k->x[2], (long long)k->x[3]);
    double tol = dt == DEFT_DOUBLE ? 1e-12 : 2e-5;
    for (int threads = 1; threads <= 2; threads++) {
      deft_tensor *got = run_case(k, a[i], b[i], threads);
      mtu_check_close(got, want[i], tol, tol, label);
      deft_tensor_free(got);
    }
    deft_tensor_free(a[i]);
    deft_tensor_free(b[i]);
    deft_tensor_free(want[i]);
  }
}

START_TEST(test_float32_vs_torch) { check_against_torch(DEFT_FLOAT); }
END_TEST

/* The same float32 cases with the products on OpenBLAS (and K <= 32 filter gradients on the
 * rank-1 rows): the path of CPUs without AVX-512F, forced on this thread. */
START_TEST(test_float32_openblas_path_vs_torch) {
  deft_sgemm_force_openblas(true);
  ck_assert(!deft_sgemm_has_own_kernel());
  check_against_torch(DEFT_FLOAT);
  deft_sgemm_force_openblas(false);
}
END_TEST

START_TEST(test_float64_vs_torch) { check_against_torch(DEFT_DOUBLE); }
END_TEST

/* A Conv2D forward case that takes the direct loops (ops/conv_kernels.c: at most 4 input
 * channels, not a 1x1 stride-1 unpadded window). */
static bool direct_case(const conv_case *k) {
  bool pw = k->f[0] == 1 && k->f[1] == 1 && k->sh == 1 && k->sw == 1 &&
            strcmp(k->padding, "EXPLICIT") != 0;
  return !k->depthwise && k->kind == CONV_FWD && k->x[3] <= 4 && !pw;
}

/* Every instruction set the CPU runs (generic, AVX2+FMA, AVX-512), forced one at a time, for
 * the depthwise kernels and the direct Conv2D forward, against PyTorch's float64 result within
 * float32 tolerance, on 1 and 2 threads. The depthwise intrinsic paths use FMA and the generic
 * one does not, so they are not asserted bit-identical to it; the direct forward computes one
 * fma chain per element on every path, so its results are asserted bit-identical to the generic
 * path's. What is asserted exactly everywhere: on each path a second 1-thread run gives the same
 * bits (deterministic), and the forward and backprop-input results on 2 threads equal the
 * 1-thread ones bit for bit (threads split rows, every pixel's sum runs in the same order); the
 * filter backprop sums per-thread parts, so its 2-thread result is only close. */
START_TEST(test_conv_isas) {
  conv_isa best = deft_conv_isa();
  int idx[NCASES], nd = 0;
  deft_tensor *generic[NCASES] = {NULL};
  for (int i = 0; i < NCASES; i++)
    if (cases[i].depthwise || direct_case(&cases[i])) idx[nd++] = i;
  deft_tensor *a[NCASES], *b[NCASES], *want[NCASES];
  for (int i = 0; i < NCASES; i++) case_inputs(&cases[i], DEFT_FLOAT, &a[i], &b[i]);
  torch_refs(a, b, want);
  for (int isa = CONV_ISA_GENERIC; isa <= (int)best; isa++) {
    deft_conv_force_isa((conv_isa)isa);
    ck_assert_int_eq(deft_conv_isa(), isa);
    for (int q = 0; q < nd; q++) {
      int i = idx[q];
      const conv_case *k = &cases[i];
      char label[128];
      snprintf(label, sizeof label, "%s case %d on %s", k->depthwise ? "depthwise" : "direct",
               i, deft_conv_isa_name((conv_isa)isa));
      deft_tensor *one = run_case(k, a[i], b[i], 1), *again = run_case(k, a[i], b[i], 1);
      deft_tensor *two = run_case(k, a[i], b[i], 2);
      size_t bytes = (size_t)deft_tensor_num_elements(one) * 4;
      mtu_check_close(one, want[i], 2e-5, 2e-5, label);
      mtu_check_close(two, want[i], 2e-5, 2e-5, label);
      ck_assert_msg(!memcmp(deft_tensor_data(one), deft_tensor_data(again), bytes),
                    "%s: two 1-thread runs differ", label);
      if (k->kind != CONV_BWD_FILTER)
        ck_assert_msg(!memcmp(deft_tensor_data(one), deft_tensor_data(two), bytes),
                      "%s: 2 threads differ from 1", label);
      if (!k->depthwise && isa == CONV_ISA_GENERIC) {
        generic[i] = one;
        one = NULL;
      } else if (!k->depthwise) {
        ck_assert_msg(!memcmp(deft_tensor_data(one), deft_tensor_data(generic[i]), bytes),
                      "%s: differs from the generic path", label);
      }
      deft_tensor_free(one);
      deft_tensor_free(again);
      deft_tensor_free(two);
    }
  }
  deft_conv_force_isa(CONV_ISA_AVX512);
  for (int i = 0; i < NCASES; i++) {
    deft_tensor_free(a[i]);
    deft_tensor_free(b[i]);
    deft_tensor_free(want[i]);
    deft_tensor_free(generic[i]);
  }
  fprintf(stderr, "depthwise and direct convolution instruction sets checked up to %s\n",
          deft_conv_isa_name(best));
}
END_TEST

/* What deft writes for the convolutions loads in TF 1.x: dilations (TF 1.5) and
 * explicit_paddings (TF 1.14) appear in an exported NodeDef only when they are not their
 * defaults; the re-imported graph gets the defaults back and computes the same numbers. */
static const Tensorflow__NodeDef *find_node(const Tensorflow__GraphDef *gd, const char *name) {
  for (size_t i = 0; i < gd->n_node; i++)
    if (!strcmp(gd->node[i]->name, name)) return gd->node[i];
  ck_abort_msg("no node %s in the exported GraphDef", name);
  return NULL;
}

static bool has_attr(const Tensorflow__NodeDef *n, const char *key) {
  for (size_t i = 0; i < n->n_attr; i++)
    if (!strcmp(n->attr[i]->key, key)) return true;
  return false;
}

START_TEST(test_export_newer_attrs_only_when_needed) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 8, 8, 3), "x");
  deft_output f = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 4), "f");
  deft_output fd = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 1), "fd");
  deft_conv_options same = {.padding = "SAME"}, dil = {.padding = "SAME", .dilations = {2, 2}};
  deft_conv_options ex = {.padding = "EXPLICIT", .explicit_paddings = {1, 0, 0, 2}};
  deft_output c1 = deft_conv2d_op(g, x, f, &same, "same");
  deft_output c2 = deft_conv2d_op(g, x, f, &dil, "dilated");
  deft_output c3 = deft_conv2d_op(g, x, f, &ex, "explicit");
  deft_output c4 = deft_depthwise_conv2d_native(g, x, fd, &same, "dw");
  deft_output sum = deft_add_n(g,
                               (deft_output[]){deft_reduce_sum(g, c1, NULL, 0, false, "s1"),
                                               deft_reduce_sum(g, c2, NULL, 0, false, "s2"),
                                               deft_reduce_sum(g, c3, NULL, 0, false, "s3"),
                                               deft_reduce_sum(g, c4, NULL, 0, false, "s4")},
                               4, "sum");
  deft_output grads[3];
  deft_gradients(g, &sum, 1, (deft_output[]){x, f, fd}, 3, NULL, grads);
  ck_assert_int_eq(deft_status_code(deft_graph_status(g)), DEFT_OK);
  deft_status *st = deft_status_new();
  void *data;
  size_t len;
  ck_assert(deft_graph_to_graph_def_data(g, &data, &len, st));
  Tensorflow__GraphDef *gd = tensorflow__graph_def__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(gd);
  int convs = 0;
  for (size_t i = 0; i < gd->n_node; i++) {
    const Tensorflow__NodeDef *n = gd->node[i];
    if (strncmp(n->op, "Conv2D", 6) && strncmp(n->op, "DepthwiseConv2dNative", 21)) continue;
    convs++;
    bool dilated = strstr(n->name, "dilated") != NULL, explicit = strstr(n->name, "explicit");
    ck_assert_msg(has_attr(n, "dilations") == dilated, "%s: dilations", n->name);
    ck_assert_msg(has_attr(n, "explicit_paddings") == explicit, "%s: explicit_paddings", n->name);
    ck_assert_msg(has_attr(n, "strides") && has_attr(n, "padding"), "%s", n->name);
  }
  ck_assert_int_ge(convs, 4 + 4 + 2); /* 4 forward, their backprops */
  ck_assert(!has_attr(find_node(gd, "same"), "dilations"));
  ck_assert(has_attr(find_node(gd, "explicit"), "explicit_paddings"));
  tensorflow__graph_def__free_unpacked(gd, NULL);
  /* The bytes import, with the defaults back, and give the same sum and gradients. */
  deft_graph *g2 = deft_graph_new();
  ck_assert(deft_graph_import_graph_def_data(g2, data, len, NULL, st));
  free(data);
  const int64_t *dl;
  int nd;
  ck_assert(deft_op_attr_int_list(deft_graph_op_by_name(g2, "same"), "dilations", &dl, &nd));
  ck_assert_int_eq(nd, 4);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(dl[i], 1);
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 8, 8, 3), -1, 1, false, false);
  deft_tensor *fv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 4), -1, 1, false, false);
  deft_tensor *fdv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 1), -1, 1, false, false);
  deft_output fetch1[4] = {sum, grads[0], grads[1], grads[2]}, fetch2[4];
  for (int i = 0; i < 4; i++) {
    fetch2[i].op = deft_graph_op_by_name(g2, deft_op_name(fetch1[i].op));
    fetch2[i].index = fetch1[i].index;
    ck_assert_ptr_nonnull(fetch2[i].op);
  }
  deft_output feeds2[3] = {{deft_graph_op_by_name(g2, "x"), 0},
                           {deft_graph_op_by_name(g2, "f"), 0},
                           {deft_graph_op_by_name(g2, "fd"), 0}};
  deft_tensor *vals[3] = {xv, fv, fdv};
  for (int i = 0; i < 4; i++) {
    deft_tensor *r1 = mtu_run(g, fetch1[i], (deft_output[]){x, f, fd}, vals, 3, 1, st);
    deft_tensor *r2 = mtu_run(g2, fetch2[i], feeds2, vals, 3, 1, st);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    mtu_check_close(r2, r1, 0, 0, "re-imported graph");
    deft_tensor_free(r1);
    deft_tensor_free(r2);
  }
  for (int i = 0; i < 3; i++) deft_tensor_free(vals[i]);
  deft_status_free(st);
  deft_graph_free(g2);
  deft_graph_free(g);
}
END_TEST

START_TEST(test_gradient_cases) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < tu_grad_cases_conv_count; i++) {
    tu_grad_check(&tu_grad_cases_conv[i], TU_GRAD_DIRECT, &rng);
    tu_grad_check(&tu_grad_cases_conv[i], TU_GRAD_VIA_GRADIENTS, &rng);
  }
}
END_TEST

/* The gradient graph of Conv2D is TF 1.3's: Shape, Shape_1, Conv2DBackpropInput and
 * Conv2DBackpropFilter under gradients/<op>_grad, with the forward op's attrs. */
START_TEST(test_gradient_graph_names) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 28, 28, 32), "x");
  deft_output f = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 32, 64), "f");
  deft_conv_options o = {.strides = {2, 2}, .padding = "SAME"};
  deft_output y = deft_conv2d_op(g, x, f, &o, "conv");
  deft_output dx[2];
  ck_assert(deft_gradients(g, &y, 1, (deft_output[]){x, f}, 2, NULL, dx));
  /* Past TF's tuple/control_dependency Identity ops. */
  for (int i = 0; i < 2; i++)
    while (!strcmp(deft_op_type(dx[i].op), "Identity")) dx[i] = deft_op_input(dx[i].op, 0);
  ck_assert_str_eq(deft_op_name(dx[0].op), "gradients/conv_grad/Conv2DBackpropInput");
  ck_assert_str_eq(deft_op_type(dx[0].op), "Conv2DBackpropInput");
  ck_assert_str_eq(deft_op_name(dx[1].op), "gradients/conv_grad/Conv2DBackpropFilter");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx[0].op, 0).op), "gradients/conv_grad/Shape");
  ck_assert_str_eq(deft_op_name(deft_op_input(dx[1].op, 1).op), "gradients/conv_grad/Shape_1");
  const int64_t *s;
  int n;
  ck_assert(deft_op_attr_int_list(dx[1].op, "strides", &s, &n));
  ck_assert_int_eq(n, 4);
  ck_assert_int_eq(s[1], 2);
  const char *pad;
  ck_assert(deft_op_attr_string(dx[0].op, "padding", &pad, NULL));
  ck_assert_str_eq(pad, "SAME");
  /* The backprops' shapes are known from the Shape ops' inputs. */
  deft_shape s0 = deft_output_shape(dx[0]), s1 = deft_output_shape(dx[1]);
  ck_assert_int_eq(s0.rank, 4);
  ck_assert_int_eq(s0.dims[0], -1);
  ck_assert_int_eq(s0.dims[3], 32);
  ck_assert(deft_shape_is_fully_defined(s1));
  ck_assert_int_eq(s1.dims[3], 64);
  deft_graph_free(g);
}
END_TEST

/* ---- layers ---- */

START_TEST(test_conv2d_layer) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 28, 28, 1), "x");
  const int64_t k3[2] = {3, 3};
  deft_conv2d_options o = {.padding = "same", .activation = "relu"};
  deft_output c1 = deft_conv2d(g, x, 32, k3, &o, "conv1");
  deft_conv2d_options o2 = {.strides = {2, 2}, .padding = "SAME", .activation = "relu"};
  deft_output c2 = deft_conv2d(g, c1, 64, k3, &o2, "conv2");
  deft_output c3 = deft_conv2d(g, c2, 8, k3, NULL, NULL); /* valid, "conv2d" */
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "conv1/kernel"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "conv1/bias"));
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "conv1/convolution")), "Conv2D");
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "conv1/BiasAdd")), "BiasAdd");
  ck_assert_str_eq(deft_op_name(c1.op), "conv1/Relu");
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "conv2d/kernel"));
  deft_shape k2 = deft_output_shape(deft_op_output(deft_graph_op_by_name(g, "conv2/kernel"), 0));
  ck_assert_int_eq(k2.dims[2], 32);
  ck_assert_int_eq(k2.dims[3], 64);
  deft_shape s2 = deft_output_shape(c2), s3 = deft_output_shape(c3);
  ck_assert_int_eq(s2.dims[1], 14);
  ck_assert_int_eq(s2.dims[3], 64);
  ck_assert_int_eq(s3.dims[1], 12);
  /* Numbers: the layer equals relu(conv(x, kernel) + bias) computed by the op directly. */
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_output kv = deft_variable_value(deft_graph_op_by_name(g, "conv1/kernel"));
  deft_conv_options so = {.padding = "SAME"};
  deft_output direct = deft_relu(g, deft_conv2d_op(g, x, kv, &so, "direct"), "direct_relu");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 28, 28, 1), 0, 1, false, false);
  deft_tensor *out[2] = {NULL, NULL};
  ck_assert_msg(deft_session_run(s, &x, (const deft_tensor *const *)&xv, 1, (deft_output[]){c1, direct}, out, 2, NULL, 0, st),
                "%s", deft_status_message(st));
  ck_assert(!memcmp(deft_tensor_data(out[0]), deft_tensor_data(out[1]),
                    (size_t)deft_tensor_num_elements(out[0]) * 4));
  for (int i = 0; i < 2; i++) deft_tensor_free(out[i]);
  deft_tensor_free(xv);
  deft_session_free(s);
  deft_status_free(st);
  /* Bad layer input: rank 2, unknown padding. */
  deft_output flat = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "flat");
  deft_conv2d(g, flat, 4, k3, NULL, "bad");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "bad", "4-D");
  deft_graph_clear_error(g);
  deft_conv2d_options bp = {.padding = "full"};
  deft_conv2d(g, x, 4, k3, &bp, "bad2");
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "bad2", "full");
  deft_graph_free(g);
}
END_TEST

START_TEST(test_separable_and_depthwise_layers) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 16, 16, 8), "x");
  const int64_t k3[2] = {3, 3};
  deft_conv2d_options o = {.padding = "same", .strides = {2, 2}};
  deft_output y = deft_separable_conv2d(g, x, 12, k3, 2, &o, NULL);
  deft_output z = deft_depthwise_conv2d(g, x, k3, 1, &o, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "separable_conv2d/depthwise_kernel"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "separable_conv2d/pointwise_kernel"));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "separable_conv2d/bias"));
  ck_assert_str_eq(
      deft_op_type(deft_graph_op_by_name(g, "separable_conv2d/separable_conv2d/depthwise")),
      "DepthwiseConv2dNative");
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "separable_conv2d/separable_conv2d")),
                   "Conv2D");
  ck_assert_str_eq(deft_op_type(deft_graph_op_by_name(g, "depthwise_conv2d/depthwise")),
                   "DepthwiseConv2dNative");
  deft_shape sy = deft_output_shape(y), sz = deft_output_shape(z);
  ck_assert_int_eq(sy.dims[1], 8);
  ck_assert_int_eq(sy.dims[3], 12);
  ck_assert_int_eq(sz.dims[3], 8);
  deft_shape pk = deft_output_shape(
      deft_op_output(deft_graph_op_by_name(g, "separable_conv2d/pointwise_kernel"), 0));
  ck_assert_int_eq(pk.dims[2], 16);
  deft_graph_free(g);
}
END_TEST

/* ---- bad input ---- */

static void expect_build_error(deft_graph *g, const char *const *keywords) {
  ck_assert(!deft_graph_ok(g));
  tu_assert_status(deft_graph_status(g), DEFT_INVALID_ARGUMENT, keywords, __FILE__, __LINE__);
  deft_graph_clear_error(g);
}

START_TEST(test_build_errors) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 8, 8, 3), "x");
  deft_output x3 = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(8, 8, 3), "x3");
  deft_output f = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 4), "f");
  deft_output f4 = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 4, 4), "f4");
  deft_output big = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(9, 9, 3, 4), "big");
  deft_conv_options o = {.padding = "VALID"};
  deft_conv2d_op(g, x3, f, &o, "rank");
  expect_build_error(g, (const char *const[]){"rank", "4-D", "x3", NULL});
  deft_conv2d_op(g, x, f4, &o, "chan");
  expect_build_error(g, (const char *const[]){"chan", "3 channels", "expects 4", NULL});
  deft_conv2d_op(g, x, big, &o, "window");
  expect_build_error(g, (const char *const[]){"window", "larger than", NULL});
  deft_conv_options neg = {.padding = "SAME", .strides = {-1, 1}};
  deft_conv2d_op(g, x, f, &neg, "stride");
  expect_build_error(g, (const char *const[]){"stride", "strides must all be >= 1", NULL});
  deft_conv_options nd = {.padding = "SAME", .dilations = {1, -2}};
  deft_depthwise_conv2d_native(g, x, f, &nd, "dil");
  expect_build_error(g, (const char *const[]){"dil", "dilations", NULL});
  deft_conv_options ep = {.padding = "EXPLICIT", .explicit_paddings = {0, (int64_t)1 << 40}};
  deft_conv2d_op(g, x, f, &ep, "pads");
  expect_build_error(g, (const char *const[]){"pads", "explicit_paddings", NULL});
  deft_conv_options bigd = {.padding = "SAME", .dilations = {(int64_t)1 << 62, 1}};
  deft_conv2d_op(g, x, f, &bigd, "overflow");
  expect_build_error(g, (const char *const[]){"overflow", "overflows", NULL});
  /* Strings outside TF's allowed values are refused by the op builder. */
  deft_conv_options pad = {.padding = "FULL"};
  deft_conv2d_op(g, x, f, &pad, "padname");
  ck_assert(!deft_graph_ok(g));
  ck_assert_ptr_nonnull(strstr(deft_status_message(deft_graph_status(g)), "padname"));
  deft_graph_clear_error(g);
  deft_conv_options fmt = {.data_format = "NWHC"};
  deft_conv2d_op(g, x, f, &fmt, "fmt");
  ck_assert(!deft_graph_ok(g));
  ck_assert_ptr_nonnull(strstr(deft_status_message(deft_graph_status(g)), "fmt"));
  deft_graph_clear_error(g);
  /* A batch stride, through the raw builder. */
  deft_op_builder *b = deft_op_builder_new(g, "Conv2D", "batchstride");
  deft_op_builder_add_input(b, x);
  deft_op_builder_add_input(b, f);
  deft_op_builder_set_attr_int_list(b, "strides", (const int64_t[]){2, 1, 1, 1}, 4);
  deft_op_builder_set_attr_string(b, "padding", "SAME", 4);
  ck_assert_ptr_null(deft_op_builder_finish(b));
  expect_build_error(g, (const char *const[]){"batchstride", "batch and depth", NULL});
  /* out_backprop of the wrong shape. */
  deft_output dy = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 6, 6, 4), "dy");
  const int32_t sz[4] = {2, 8, 8, 3};
  deft_conv_options same = {.padding = "SAME"};
  deft_conv2d_backprop_input(g, deft_const_int32_vector(g, sz, 4, "sz"), f, dy, &same, "bi");
  expect_build_error(g, (const char *const[]){"bi", "out_backprop", "[2,8,8,4]", NULL});
  deft_graph_free(g);
}
END_TEST

/* Shapes unknown at build time: the kernels check at run time, naming the node. */
static void expect_run_error(deft_code code, const conv_case *k, const int64_t *xd,
                             const int64_t *fd, const char *const *keywords) {
  deft_graph *g = deft_graph_new();
  deft_output pa = mtu_ph(g, DEFT_FLOAT, deft_shape_unknown(), "a");
  deft_output pb = mtu_ph(g, DEFT_FLOAT, deft_shape_unknown(), "b");
  deft_output y = build_case(g, k, pa, pb);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_tensor *a = mtu_rand_tensor(DEFT_FLOAT, deft_shape_make(xd[4], xd), -1, 1, false, false);
  deft_tensor *b = mtu_rand_tensor(DEFT_FLOAT, deft_shape_make(fd[4], fd), -1, 1, false, false);
  deft_status *st = deft_status_new();
  deft_tensor *out = mtu_run(g, y, (deft_output[]){pa, pb}, (deft_tensor *[]){a, b}, 2, 1, st);
  ck_assert_ptr_null(out);
  tu_assert_status(st, code, keywords, __FILE__, __LINE__);
  deft_status_free(st);
  deft_tensor_free(a);
  deft_tensor_free(b);
  deft_graph_free(g);
}

START_TEST(test_run_errors) {
  conv_case fwd = {CONV_FWD, false, {0}, {0}, 1, 1, 1, 1, "VALID", {0}};
  expect_run_error(DEFT_INVALID_ARGUMENT, &fwd, (const int64_t[]){8, 8, 3, 0, 3},
                   (const int64_t[]){3, 3, 3, 4, 4},
                   (const char *const[]){"Conv2D 'conv'", "4-D", NULL});
  expect_run_error(DEFT_INVALID_ARGUMENT, &fwd, (const int64_t[]){1, 8, 8, 3, 4},
                   (const int64_t[]){3, 3, 2, 4, 4},
                   (const char *const[]){"Conv2D 'conv'", "channels", NULL});
  expect_run_error(DEFT_INVALID_ARGUMENT, &fwd, (const int64_t[]){1, 2, 8, 3, 4},
                   (const int64_t[]){3, 3, 3, 4, 4},
                   (const char *const[]){"Conv2D 'conv'", "larger than", NULL});
  conv_case dw = {CONV_FWD, true, {0}, {0}, 1, 1, 1, 1, "SAME", {0}};
  expect_run_error(DEFT_INVALID_ARGUMENT, &dw, (const int64_t[]){1, 5, 5, 3, 4},
                   (const int64_t[]){3, 3, 4, 1, 4},
                   (const char *const[]){"DepthwiseConv2dNative 'conv'", "channels", NULL});
  /* Backprop input whose out_backprop does not match input_sizes. */
  conv_case bi = {CONV_BWD_INPUT, false, {1, 8, 8, 3}, {3, 3, 3, 4}, 1, 1, 1, 1, "SAME", {0}};
  expect_run_error(DEFT_INVALID_ARGUMENT, &bi, (const int64_t[]){3, 3, 3, 4, 4},
                   (const int64_t[]){1, 7, 8, 4, 4},
                   (const char *const[]){"Conv2DBackpropInput 'conv'", "out_backprop", NULL});
  /* Sizes whose products overflow: x [2^31, 2^31, 2^31, 3] */
  conv_case huge = {CONV_BWD_INPUT, false, {INT32_MAX, INT32_MAX, INT32_MAX, 3}, {3, 3, 3, 4},
                    1, 1, 1, 1, "SAME", {0}};
  expect_run_error(DEFT_INVALID_ARGUMENT, &huge, (const int64_t[]){3, 3, 3, 4, 4},
                   (const int64_t[]){1, 1, 1, 4, 4},
                   (const char *const[]){"Conv2DBackpropInput 'conv'", "too large", NULL});
}
END_TEST

/* NCHW builds with NCHW shapes but does not run: UNIMPLEMENTED at planning, naming the node. */
START_TEST(test_nchw_unimplemented) {
  deft_graph *g = deft_graph_new();
  deft_output x = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 3, 8, 8), "x");
  deft_output f = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 4), "f");
  deft_conv_options o = {.padding = "SAME", .strides = {2, 2}, .data_format = "NCHW"};
  deft_output y = deft_conv2d_op(g, x, f, &o, "nchw");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_shape s = deft_output_shape(y);
  ck_assert_int_eq(s.dims[1], 4);
  ck_assert_int_eq(s.dims[2], 4);
  ck_assert_int_eq(s.dims[3], 4);
  deft_tensor *xv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3, 8, 8), -1, 1, false, false);
  deft_tensor *fv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(3, 3, 3, 4), -1, 1, false, false);
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(mtu_run(g, y, (deft_output[]){x, f}, (deft_tensor *[]){xv, fv}, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "nchw", "NCHW");
  deft_status_free(st);
  deft_tensor_free(xv);
  deft_tensor_free(fv);
  deft_graph_free(g);
}
END_TEST

/* Imported GraphDefs with bad conv attrs fail import with a status naming the node. */
START_TEST(test_import_bad_attrs) {
  static const char *const bodies[] = {
      "attr { key: 'strides' value { list { i: 1 i: 0 i: 1 i: 1 } } }",
      "attr { key: 'strides' value { list { i: 1 i: 1 i: 1 } } }",
      "attr { key: 'strides' value { list { i: 1 i: 1 i: 1 i: 1 } } }"
      " attr { key: 'dilations' value { list { i: 1 i: -3 i: 1 i: 1 } } }",
      "attr { key: 'strides' value { list { i: 1 i: 1 i: 1 i: 1 } } }"
      " attr { key: 'explicit_paddings' value { list { i: 0 i: 0 i: 1 i: 1 } } }",
  };
  static const char *const want[] = {"strides", "strides", "dilations", "explicit_paddings"};
  for (int i = 0; i < 4; i++) {
    char path[512], text[2048];
    snprintf(path, sizeof path, "%s/bad_conv_%d.pbtxt", tu_tmpdir(), i);
    snprintf(text, sizeof text,
             "node { name: 'x' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } }"
             " attr { key: 'shape' value { shape { dim { size: 1 } dim { size: 5 } dim { size: 5 }"
             " dim { size: 2 } } } } }\n"
             "node { name: 'f' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } }"
             " }\n"
             "node { name: 'badconv' op: 'Conv2D' input: 'x' input: 'f'"
             " attr { key: 'T' value { type: DT_FLOAT } }"
             " attr { key: 'padding' value { s: 'SAME' } } %s }\n", bodies[i]);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    deft_status *st = deft_status_new();
    deft_graph *g = deft_import_graph_def(path, NULL, st);
    ck_assert_ptr_null(g);
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "badconv", want[i]);
    deft_status_free(st);
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("conv_ops");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_float32_vs_torch);
  tcase_add_test(t, test_float32_openblas_path_vs_torch);
  tcase_add_test(t, test_float64_vs_torch);
  tcase_add_test(t, test_conv_isas);
  tcase_add_test(t, test_export_newer_attrs_only_when_needed);
  tcase_add_test(t, test_gradient_cases);
  tcase_add_test(t, test_gradient_graph_names);
  tcase_add_test(t, test_conv2d_layer);
  tcase_add_test(t, test_separable_and_depthwise_layers);
  tcase_add_test(t, test_build_errors);
  tcase_add_test(t, test_run_errors);
  tcase_add_test(t, test_nchw_unimplemented);
  tcase_add_test(t, test_import_bad_attrs);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(make_suite()) ? 1 : 0; }
