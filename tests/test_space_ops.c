/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_space_ops.c - SpaceToBatchND, BatchToSpaceND, SpaceToBatch, BatchToSpace,
 * SpaceToDepth and DepthToSpace against NumPy (the reshape / transpose / reshape recipes TF's op
 * documentation gives, independent of deft's index arithmetic); a dilated convolution written
 * as TF 1.x's tf.nn.convolution writes it (SpaceToBatchND, a VALID Conv2D, BatchToSpaceND),
 * imported from a GraphDef text and checked against PyTorch's dilated conv2d, its gradients
 * against deft's native dilated Conv2D's; and bad blocks, paddings, crops and formats failing
 * with statuses naming the node, at build and at run time. Finite-difference gradient cases are
 * in tests/grad_cases_space.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft/conv.h"
#include "deft/io.h"
#include "deft/ops.h"
#include "testutil.h"

static deft_output ints(deft_graph *g, deft_dtype dt, const int64_t *v, const int64_t *dims,
                        int rank, const char *name) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  int64_t n = deft_tensor_num_elements(t);
  for (int64_t i = 0; i < n; i++) {
    if (dt == DEFT_INT32)
      ((int32_t *)deft_tensor_data(t))[i] = (int32_t)v[i];
    else
      ((int64_t *)deft_tensor_data(t))[i] = v[i];
  }
  deft_output c = deft_const(g, t, name);
  deft_tensor_free(t);
  return c;
}

static deft_output vec(deft_graph *g, const int64_t *v, int n, const char *name) {
  return ints(g, DEFT_INT32, v, (int64_t[]){n}, 1, name);
}

static deft_output mat(deft_graph *g, const int64_t *v, int m, const char *name) {
  return ints(g, DEFT_INT32, v, (int64_t[]){m, 2}, 2, name);
}

static deft_tensor *ramp(deft_dtype dt, const int64_t *dims, int rank, double scale) {
  deft_tensor *t = deft_tensor_new(dt, dims, rank, NULL);
  int64_t n = deft_tensor_num_elements(t);
  for (int64_t i = 0; i < n; i++) {
    double v = sin((double)i * 0.71 + 0.3) * scale;
    if (dt == DEFT_FLOAT)
      ((float *)deft_tensor_data(t))[i] = (float)v;
    else if (dt == DEFT_DOUBLE)
      ((double *)deft_tensor_data(t))[i] = v;
    else
      ((int32_t *)deft_tensor_data(t))[i] = (int32_t)(i * 7 % 101) - 50;
  }
  return t;
}

static void save_npy(const char *name, const deft_tensor *t) {
  char path[600];
  deft_status *st = deft_status_new();
  snprintf(path, sizeof path, "%s/%s.npy", tu_tmpdir(), name);
  ck_assert_msg(deft_npy_write(path, t, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

/* Compares got with the NumPy result <name>.npy (shape and values within tol). */
static void check_npy(const char *name, const deft_tensor *got, double tol) {
  char path[600];
  deft_status *st = deft_status_new();
  snprintf(path, sizeof path, "%s/%s.npy", tu_tmpdir(), name);
  deft_tensor *want = deft_npy_read(path, st);
  ck_assert_msg(want, "%s: %s", name, deft_status_message(st));
  ck_assert_int_eq(deft_tensor_rank(got), deft_tensor_rank(want));
  for (int k = 0; k < deft_tensor_rank(want); k++)
    ck_assert_msg(deft_tensor_dim(got, k) == deft_tensor_dim(want, k), "%s dim %d: %lld vs %lld",
                  name, k, (long long)deft_tensor_dim(got, k), (long long)deft_tensor_dim(want, k));
  for (int64_t e = 0; e < deft_tensor_num_elements(want); e++) {
    double a = deft_tensor_get_double(got, e), b = deft_tensor_get_double(want, e);
    ck_assert_msg(fabs(a - b) <= tol * (1 + fabs(b)), "%s[%lld]: %g vs %g", name, (long long)e, a,
                  b);
  }
  deft_tensor_free(want);
  deft_status_free(st);
}

static const char np_ref[] =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "def s2b(x, block, pads):\n"
    "    m = len(block)\n"
    "    p = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)] * (x.ndim - 1 - m))\n"
    "    b, sp, rem = p.shape[0], p.shape[1:1 + m], list(p.shape[1 + m:])\n"
    "    shape = [b]\n"
    "    for k in range(m): shape += [sp[k] // block[k], block[k]]\n"
    "    r = p.reshape(shape + rem)\n"
    "    perm = [2 + 2 * k for k in range(m)] + [0] + [1 + 2 * k for k in range(m)]\n"
    "    r = r.transpose(perm + list(range(1 + 2 * m, r.ndim)))\n"
    "    return r.reshape([b * int(np.prod(block))] + [sp[k] // block[k] for k in range(m)] + "
    "rem)\n"
    "def b2s(x, block, crops):\n"
    "    m = len(block)\n"
    "    b = x.shape[0] // int(np.prod(block))\n"
    "    r = x.reshape(list(block) + [b] + list(x.shape[1:]))\n"
    "    perm = [m]\n"
    "    for k in range(m): perm += [m + 1 + k, k]\n"
    "    r = r.transpose(perm + list(range(2 * m + 1, r.ndim)))\n"
    "    r = r.reshape([b] + [x.shape[1 + k] * block[k] for k in range(m)] + list(x.shape[1 + "
    "m:]))\n"
    "    sl = [slice(None)] + [slice(c[0], r.shape[1 + k] - c[1]) for k, c in enumerate(crops)]\n"
    "    return r[tuple(sl)]\n"
    "def s2d(x, bs):\n"
    "    n, h, w, c = x.shape\n"
    "    return x.reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5).reshape(\n"
    "        n, h // bs, w // bs, bs * bs * c)\n"
    "def d2s(x, bs):\n"
    "    n, h, w, c = x.shape\n"
    "    return x.reshape(n, h, w, bs, bs, c // (bs * bs)).transpose(0, 1, 3, 2, 4, 5).reshape(\n"
    "        n, h * bs, w * bs, c // (bs * bs))\n"
    "a = np.load(d + '/a.npy'); b = np.load(d + '/b.npy'); c = np.load(d + '/c.npy')\n"
    "i = np.load(d + '/i.npy'); e = np.load(d + '/e.npy')\n"
    "np.save(d + '/s2b_nd.npy', s2b(a, [2, 3], [(1, 0), (0, 2)]))\n"
    "np.save(d + '/b2s_nd.npy', b2s(b, [2, 3], [(1, 0), (2, 1)]))\n"
    "np.save(d + '/s2b_1d.npy', s2b(c, [3], [(2, 1)]))\n"
    "np.save(d + '/s2b_int.npy', s2b(i, [2, 2], [(0, 1), (1, 1)]))\n"
    "np.save(d + '/s2b_v1.npy', s2b(a, [2, 2], [(1, 2), (0, 1)]))\n"
    "np.save(d + '/b2s_v1.npy', b2s(e, [2, 2], [(0, 1), (1, 0)]))\n"
    "np.save(d + '/s2d.npy', s2d(e, 2))\n"
    "np.save(d + '/d2s.npy', d2s(b, 2))\n";

START_TEST(space_ops_match_numpy) {
  if (!tu_have_numpy()) {
    ck_assert_msg(!getenv("CI"), "numpy is needed in CI");
    return;
  }
  deft_tensor *a = ramp(DEFT_FLOAT, (int64_t[]){2, 5, 7, 3}, 4, 2.0);
  deft_tensor *b = ramp(DEFT_FLOAT, (int64_t[]){12, 3, 2, 8}, 4, 1.5);
  deft_tensor *c = ramp(DEFT_DOUBLE, (int64_t[]){2, 6, 4}, 3, 1.0);
  deft_tensor *i = ramp(DEFT_INT32, (int64_t[]){1, 5, 4, 2}, 4, 1.0);
  deft_tensor *e = ramp(DEFT_FLOAT, (int64_t[]){4, 4, 6, 3}, 4, 1.0);
  save_npy("a", a);
  save_npy("b", b);
  save_npy("c", c);
  save_npy("i", i);
  save_npy("e", e);
  const char *args[2] = {tu_tmpdir(), NULL};
  ck_assert_int_eq(tu_python(np_ref, args), 0);

  deft_graph *g = deft_graph_new();
  deft_output ac = deft_const(g, a, "a"), bc = deft_const(g, b, "b"), cc = deft_const(g, c, "c");
  deft_output ic = deft_const(g, i, "i"), ec = deft_const(g, e, "e");
  const int64_t b23[2] = {2, 3}, b22[2] = {2, 2}, b3[1] = {3};
  deft_output outs[8] = {
      deft_space_to_batch_nd(g, ac, vec(g, b23, 2, "b0"), mat(g, (int64_t[]){1, 0, 0, 2}, 2, "p0"),
                             "s2b_nd"),
      deft_batch_to_space_nd(g, bc, vec(g, b23, 2, "b1"), mat(g, (int64_t[]){1, 0, 2, 1}, 2, "p1"),
                             "b2s_nd"),
      deft_space_to_batch_nd(g, cc, vec(g, b3, 1, "b2"), mat(g, (int64_t[]){2, 1}, 1, "p2"),
                             "s2b_1d"),
      /* int64 block_shape and paddings, int32 data */
      deft_space_to_batch_nd(
          g, ic, ints(g, DEFT_INT64, b22, (int64_t[]){2}, 1, "b3"),
          ints(g, DEFT_INT64, (int64_t[]){0, 1, 1, 1}, (int64_t[]){2, 2}, 2, "p3"), "s2b_int"),
      deft_space_to_batch(g, ac, mat(g, (int64_t[]){1, 2, 0, 1}, 2, "p4"), 2, "s2b_v1"),
      deft_batch_to_space(g, ec, mat(g, (int64_t[]){0, 1, 1, 0}, 2, "p5"), 2, "b2s_v1"),
      deft_space_to_depth(g, ec, 2, NULL, "s2d"), deft_depth_to_space(g, bc, 2, "NHWC", "d2s")};
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  /* build-time shapes are exact when blocks and paddings are constants */
  deft_shape s0 = deft_output_shape(outs[0]);
  ck_assert_int_eq(s0.rank, 4);
  ck_assert(s0.dims[0] == 12 && s0.dims[1] == 3 && s0.dims[2] == 3 && s0.dims[3] == 3);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  for (int k = 0; k < 8; k++) {
    deft_tensor *got = NULL;
    ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &outs[k], &got, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    deft_shape bs = deft_output_shape(outs[k]);
    for (int d = 0; d < bs.rank; d++)
      ck_assert_int_eq(bs.dims[d], deft_tensor_dim(got, d));
    check_npy(deft_op_name(outs[k].op), got, 0);
    deft_tensor_free(got);
  }
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(a);
  deft_tensor_free(b);
  deft_tensor_free(c);
  deft_tensor_free(i);
  deft_tensor_free(e);
  deft_status_free(st);
}
END_TEST

/* tf.nn.convolution(x, w, "SAME", dilation_rate=[2, 2]) on a [2, 9, 10, 3] input as TF 1.x
 * writes it with static shapes: required_space_to_batch_paddings gives paddings [[2, 3], [2, 2]]
 * and crops [[0, 1], [0, 0]] for the 5x5 effective filter. */
static const char atrous_pbtxt[] =
    "node { name: 'x' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } }\n"
    "  attr { key: 'shape' value { shape { dim { size: 2 } dim { size: 9 } dim { size: 10 }\n"
    "  dim { size: 3 } } } } }\n"
    "node { name: 'w' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } }\n"
    "  attr { key: 'shape' value { shape { dim { size: 3 } dim { size: 3 } dim { size: 3 }\n"
    "  dim { size: 4 } } } } }\n"
    "node { name: 'convolution/SpaceToBatchND/block_shape' op: 'Const'\n"
    "  attr { key: 'dtype' value { type: DT_INT32 } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } }\n"
    "  int_val: 2 } } } }\n"
    "node { name: 'convolution/SpaceToBatchND/paddings' op: 'Const'\n"
    "  attr { key: 'dtype' value { type: DT_INT32 } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 }\n"
    "  dim { size: 2 } } int_val: 2 int_val: 3 int_val: 2 int_val: 2 } } } }\n"
    "node { name: 'convolution/SpaceToBatchND' op: 'SpaceToBatchND' input: 'x'\n"
    "  input: 'convolution/SpaceToBatchND/block_shape' input: "
    "'convolution/SpaceToBatchND/paddings'\n"
    "  attr { key: 'T' value { type: DT_FLOAT } } attr { key: 'Tblock_shape' value { type: "
    "DT_INT32 } }\n"
    "  attr { key: 'Tpaddings' value { type: DT_INT32 } } }\n"
    "node { name: 'convolution' op: 'Conv2D' input: 'convolution/SpaceToBatchND' input: 'w'\n"
    "  attr { key: 'T' value { type: DT_FLOAT } } attr { key: 'data_format' value { s: 'NHWC' } }\n"
    "  attr { key: 'padding' value { s: 'VALID' } }\n"
    "  attr { key: 'strides' value { list { i: 1 i: 1 i: 1 i: 1 } } }\n"
    "  attr { key: 'use_cudnn_on_gpu' value { b: true } } }\n"
    "node { name: 'convolution/BatchToSpaceND/block_shape' op: 'Const'\n"
    "  attr { key: 'dtype' value { type: DT_INT32 } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } }\n"
    "  int_val: 2 } } } }\n"
    "node { name: 'convolution/BatchToSpaceND/crops' op: 'Const'\n"
    "  attr { key: 'dtype' value { type: DT_INT32 } }\n"
    "  attr { key: 'value' value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 }\n"
    "  dim { size: 2 } } int_val: 0 int_val: 1 int_val: 0 int_val: 0 } } } }\n"
    "node { name: 'convolution/BatchToSpaceND' op: 'BatchToSpaceND' input: 'convolution'\n"
    "  input: 'convolution/BatchToSpaceND/block_shape' input: 'convolution/BatchToSpaceND/crops'\n"
    "  attr { key: 'T' value { type: DT_FLOAT } } attr { key: 'Tblock_shape' value { type: "
    "DT_INT32 } }\n"
    "  attr { key: 'Tcrops' value { type: DT_INT32 } } }\n"
    "versions { producer: 24 }\n";

static const char torch_ref[] =
    "import sys, numpy as np, torch\n"
    "import torch.nn.functional as F\n"
    "d = sys.argv[1]\n"
    "x = torch.from_numpy(np.load(d + '/ax.npy').astype(np.float64)).permute(0, 3, 1, 2)\n"
    "w = torch.from_numpy(np.load(d + '/aw.npy').astype(np.float64)).permute(3, 2, 0, 1)\n"
    "y = F.conv2d(x, w, padding=2, dilation=2).permute(0, 2, 3, 1)\n"
    "np.save(d + '/atrous.npy', y.numpy().astype(np.float32))\n";

START_TEST(dilated_conv_as_tf1_writes_it) {
  char path[600];
  snprintf(path, sizeof path, "%s/atrous.pbtxt", tu_tmpdir());
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(atrous_pbtxt, f);
  fclose(f);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g, "%s", deft_status_message(st));
  deft_output x = {deft_graph_op_by_name(g, "x"), 0}, w = {deft_graph_op_by_name(g, "w"), 0};
  deft_output y = {deft_graph_op_by_name(g, "convolution/BatchToSpaceND"), 0};
  ck_assert(x.op && w.op && y.op);
  deft_shape ys = deft_output_shape(y);
  ck_assert(ys.rank == 4 && ys.dims[0] == 2 && ys.dims[1] == 9 && ys.dims[2] == 10 &&
            ys.dims[3] == 4);
  /* the same convolution through deft's native dilated Conv2D, for the gradients */
  deft_conv_options o = {.dilations = {2, 2}, .padding = "SAME"};
  deft_output yn = deft_conv2d_op(g, x, w, &o, "native");
  deft_output gy = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 9, 10, 4), "gy");
  deft_output l1 = deft_reduce_sum(g, deft_mul(g, y, gy, NULL), NULL, 0, false, "l1");
  deft_output l2 = deft_reduce_sum(g, deft_mul(g, yn, gy, NULL), NULL, 0, false, "l2");
  deft_output wrt[2] = {x, w}, g1[2], g2[2];
  ck_assert(deft_gradients(g, &l1, 1, wrt, 2, NULL, g1));
  ck_assert(deft_gradients(g, &l2, 1, wrt, 2, NULL, g2));
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_tensor *xv = ramp(DEFT_FLOAT, (int64_t[]){2, 9, 10, 3}, 4, 1.0);
  deft_tensor *wv = ramp(DEFT_FLOAT, (int64_t[]){3, 3, 3, 4}, 4, 0.5);
  deft_tensor *gv = ramp(DEFT_FLOAT, (int64_t[]){2, 9, 10, 4}, 4, 1.0);
  deft_session *s = deft_session_new(g, st);
  deft_output feeds[3] = {x, w, gy}, fetch[6] = {y, yn, g1[0], g2[0], g1[1], g2[1]};
  deft_tensor *vals[3] = {xv, wv, gv}, *out[6] = {0};
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 3, fetch, out, 6, NULL, 0, st), "%s",
                deft_status_message(st));
  for (int k = 0; k < 6; k += 2)
    for (int64_t e = 0; e < deft_tensor_num_elements(out[k]); e++)
      ck_assert_msg(
          fabs(deft_tensor_get_double(out[k], e) - deft_tensor_get_double(out[k + 1], e)) <=
              1e-4 * (1 + fabs(deft_tensor_get_double(out[k + 1], e))),
          "fetch %d [%lld]", k, (long long)e);
  if (tu_have_numpy()) {
    save_npy("ax", xv);
    save_npy("aw", wv);
    const char *args[2] = {tu_tmpdir(), NULL};
    ck_assert_int_eq(tu_python(torch_ref, args), 0);
    check_npy("atrous", out[0], 1e-5);
  } else {
    ck_assert_msg(!getenv("CI"), "numpy and torch are needed in CI");
  }
  for (int k = 0; k < 6; k++)
    deft_tensor_free(out[k]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(xv);
  deft_tensor_free(wv);
  deft_tensor_free(gv);
  deft_status_free(st);
}
END_TEST

START_TEST(bad_blocks_and_paddings) {
  const int64_t b22[2] = {2, 2}, b02[2] = {0, 2}, p0[4] = {0, 0, 0, 0};
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5, 4, 3), "x");
  ck_assert_ptr_null(
      deft_space_to_batch_nd(g, x, vec(g, b02, 2, "b"), mat(g, p0, 2, "p"), "zero_block").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'zero_block'",
                   "block_shape[0] = 0");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5, 4, 3), "x");
  ck_assert_ptr_null(
      deft_space_to_batch_nd(g, x, vec(g, b22, 2, "b"), mat(g, p0, 2, "p"), "odd").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'odd'",
                   "padded size 5", "not divisible");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5, 4, 3), "x");
  ck_assert_ptr_null(deft_space_to_batch_nd(g, x, vec(g, b22, 2, "b"),
                                            mat(g, (int64_t[]){1, -1, 0, 0}, 2, "p"), "neg")
                         .op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'neg'",
                   "paddings[0, 1] = -1");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(6, 5, 4, 3), "x");
  ck_assert_ptr_null(
      deft_batch_to_space_nd(g, x, vec(g, b22, 2, "b"), mat(g, p0, 2, "c"), "batch").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BatchToSpaceND 'batch'", "batch 6",
                   "not divisible");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4, 2, 2, 3), "x");
  ck_assert_ptr_null(deft_batch_to_space_nd(g, x, vec(g, b22, 2, "b"),
                                            mat(g, (int64_t[]){3, 2, 0, 0}, 2, "c"), "crop")
                         .op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "BatchToSpaceND 'crop'",
                   "crops of spatial dimension 0");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 4, 4), "x");
  ck_assert_ptr_null(
      deft_space_to_batch_nd(g, x, vec(g, (int64_t[]){2, 2, 2}, 3, "b"), mat(g, p0, 2, "p"), "long")
          .op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'long'",
                   "3 elements");
  ck_assert_ptr_null(deft_space_to_batch(g, x, mat(g, p0, 2, "p2"), 2, "v1").op);
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 4, 4, 3), "x");
  ck_assert_ptr_null(deft_space_to_batch(g, x, mat(g, p0, 2, "p"), 1, "small").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "'small'", "block_size");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 4, 4, 3), "x");
  ck_assert_ptr_null(deft_depth_to_space(g, x, 2, NULL, "depth").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "DepthToSpace 'depth'", "depth 3",
                   "block_size^2 = 4");
  deft_graph_free(g);

  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 5, 4, 3), "x");
  ck_assert_ptr_null(deft_space_to_depth(g, x, 2, NULL, "s2d").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "SpaceToDepth 's2d'", "size 5",
                   "not divisible");
  deft_graph_free(g);

  /* NCHW builds (and would import) but does not run on the CPU */
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 4, 4, 4), "x");
  deft_output y = deft_space_to_depth(g, x, 2, "NCHW", "nchw");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = ramp(DEFT_FLOAT, (int64_t[]){2, 4, 4, 4}, 4, 1.0), *out = NULL;
  ck_assert(!deft_session_run(s, &x, tu_feeds(&xv), 1, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "SpaceToDepth 'nchw'", "NCHW");
  deft_session_free(s);
  deft_graph_free(g);

  /* run time: fed blocks, paddings and inputs the build could not check */
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(-1, NULL), "x");
  deft_output bp = deft_placeholder(g, DEFT_INT32, deft_shape_make(-1, NULL), "bp");
  deft_output pp = deft_placeholder(g, DEFT_INT32, deft_shape_make(-1, NULL), "pp");
  deft_output z = deft_space_to_batch_nd(g, x, bp, pp, "fed");
  deft_output zb = deft_batch_to_space_nd(g, x, bp, pp, "fed_b2s");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  s = deft_session_new(g, st);
  deft_tensor *bv = deft_tensor_new(DEFT_INT32, (int64_t[]){2}, 1, NULL);
  deft_tensor *pv = deft_tensor_new(DEFT_INT32, (int64_t[]){2, 2}, 2, NULL);
  memset(deft_tensor_data(pv), 0, 16);
  ((int32_t *)deft_tensor_data(bv))[0] = 2;
  ((int32_t *)deft_tensor_data(bv))[1] = 3;
  deft_output feeds[3] = {x, bp, pp};
  deft_tensor *vals[3] = {xv, bv, pv};
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 3, &z, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'fed'", "padded size 4",
                   "block_shape[1] = 3");
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 3, &zb, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "BatchToSpaceND 'fed_b2s'", "batch 2");
  ((int32_t *)deft_tensor_data(bv))[1] = -2;
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 3, &z, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'fed'", "block_shape[1] = -2");
  deft_tensor_free(pv);
  pv = deft_tensor_new(DEFT_INT32, (int64_t[]){3, 2}, 2, NULL);
  memset(deft_tensor_data(pv), 0, 24);
  vals[2] = pv;
  ((int32_t *)deft_tensor_data(bv))[1] = 2;
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 3, &z, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SpaceToBatchND 'fed'", "paddings", "[2, 2]");
  /* a huge block product is refused before anything is allocated */
  deft_tensor_free(pv);
  pv = deft_tensor_new(DEFT_INT32, (int64_t[]){2, 2}, 2, NULL);
  memset(deft_tensor_data(pv), 0, 16);
  vals[2] = pv;
  ((int32_t *)deft_tensor_data(bv))[0] = 1 << 30;
  ((int32_t *)deft_tensor_data(bv))[1] = 1 << 30;
  ck_assert(!deft_session_run(s, feeds, tu_feeds(vals), 3, &zb, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "BatchToSpaceND 'fed_b2s'", "product");
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(xv);
  deft_tensor_free(bv);
  deft_tensor_free(pv);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("space_ops");
  TCase *tc = tcase_create("space");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, space_ops_match_numpy);
  tcase_add_test(tc, dilated_conv_as_tf1_writes_it);
  tcase_add_test(tc, bad_blocks_and_paddings);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
