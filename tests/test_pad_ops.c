/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_pad_ops.c - Pad, PadV2, MirrorPad (REFLECT, SYMMETRIC), MirrorPadGrad and L2Loss
 * against NumPy (np.pad, and the mirror gradient as the transpose of np.pad's index map), plus
 * paddings that do not fit (negative, too large for the mode, the wrong shape) failing with a
 * status naming the node. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deft/io.h"
#include "testutil.h"

static deft_output pads(deft_graph *g, const int32_t *p, int rank, const char *name) {
  deft_tensor *t = deft_tensor_new(DEFT_INT32, (int64_t[]){rank, 2}, 2, NULL);
  memcpy(deft_tensor_data(t), p, sizeof(int32_t) * 2 * (size_t)rank);
  deft_output c = deft_const(g, t, name);
  deft_tensor_free(t);
  return c;
}

static const char np_ref[] =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "x = np.load(d + '/x.npy')\n"
    "p = [(1, 0), (0, 2), (2, 1)]\n"
    "np.save(d + '/pad.npy', np.pad(x, p))\n"
    "np.save(d + '/padv2.npy', np.pad(x, p, constant_values=-1.5))\n"
    "np.save(d + '/reflect.npy', np.pad(x, p, mode='reflect'))\n"
    "np.save(d + '/symmetric.npy', np.pad(x, p, mode='symmetric'))\n"
    "idx = np.pad(np.arange(x.size).reshape(x.shape), p, mode='symmetric')\n"
    "g = np.load(d + '/g.npy')\n"
    "out = np.zeros(x.size); np.add.at(out, idx.ravel(), g.ravel())\n"
    "np.save(d + '/mirror_grad.npy', out.reshape(x.shape).astype(np.float32))\n"
    "np.save(d + '/l2.npy', np.array((x.astype(np.float64) ** 2).sum() / 2, np.float32))\n";

START_TEST(pads_match_numpy) {
  if (!tu_have_numpy()) {
    ck_assert_msg(!getenv("CI"), "numpy is needed in CI");
    return;
  }
  const int64_t dims[3] = {2, 3, 4}, gd[3] = {3, 5, 7};
  deft_tensor *x = deft_tensor_new(DEFT_FLOAT, dims, 3, NULL), *gv = deft_tensor_new(DEFT_FLOAT, gd, 3, NULL);
  for (int i = 0; i < 24; i++) ((float *)deft_tensor_data(x))[i] = (float)(i * 0.37 - 3);
  for (int i = 0; i < 105; i++) ((float *)deft_tensor_data(gv))[i] = (float)sin(i * 0.3);
  char path[600];
  deft_status *st = deft_status_new();
  snprintf(path, sizeof path, "%s/x.npy", tu_tmpdir());
  ck_assert(deft_npy_write(path, x, st));
  snprintf(path, sizeof path, "%s/g.npy", tu_tmpdir());
  ck_assert(deft_npy_write(path, gv, st));
  const char *args[2] = {tu_tmpdir(), NULL};
  ck_assert_int_eq(tu_python(np_ref, args), 0);
  deft_graph *g = deft_graph_new();
  deft_output xc = deft_const(g, x, "x"), gc = deft_const(g, gv, "g");
  const int32_t p[6] = {1, 0, 0, 2, 2, 1};
  deft_output outs[6] = {
      deft_pad(g, xc, pads(g, p, 3, "p0"), "pad"),
      deft_pad_v2(g, xc, pads(g, p, 3, "p1"), deft_const_float(g, -1.5f, "c"), "padv2"),
      deft_mirror_pad(g, xc, pads(g, p, 3, "p2"), "REFLECT", "reflect"),
      deft_mirror_pad(g, xc, pads(g, p, 3, "p3"), "SYMMETRIC", "symmetric"),
      deft_mirror_pad_grad(g, gc, pads(g, p, 3, "p4"), "SYMMETRIC", "mirror_grad"),
      deft_l2_loss(g, xc, "l2")};
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  for (int i = 0; i < 6; i++) {
    deft_tensor *got = NULL;
    ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &outs[i], &got, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    snprintf(path, sizeof path, "%s/%s.npy", tu_tmpdir(), deft_op_name(outs[i].op));
    deft_tensor *want = deft_npy_read(path, st);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(deft_tensor_num_elements(got), deft_tensor_num_elements(want));
    for (int k = 0; k < deft_tensor_rank(want); k++)
      ck_assert_int_eq(deft_tensor_dim(got, k), deft_tensor_dim(want, k));
    for (int64_t e = 0; e < deft_tensor_num_elements(want); e++)
      ck_assert_msg(fabs(deft_tensor_get_double(got, e) - deft_tensor_get_double(want, e)) <=
                        1e-5 * (1 + fabs(deft_tensor_get_double(want, e))),
                    "%s[%lld]", deft_op_name(outs[i].op), (long long)e);
    deft_tensor_free(got);
    deft_tensor_free(want);
  }
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(x);
  deft_tensor_free(gv);
  deft_status_free(st);
}
END_TEST

START_TEST(bad_paddings) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  const int32_t neg[4] = {0, -1, 0, 0}, big[4] = {2, 0, 0, 0}, sym_ok[4] = {2, 2, 3, 3};
  ck_assert_ptr_null(deft_pad(g, x, pads(g, neg, 2, "neg"), "pad").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Pad 'pad'", "paddings[0, 1]");
  deft_graph_free(g);
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  ck_assert_ptr_null(deft_mirror_pad(g, x, pads(g, big, 2, "big"), "REFLECT", "mp").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "MirrorPad 'mp'", "REFLECT");
  deft_graph_free(g);
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2, 3), "x");
  ck_assert_ptr_nonnull(deft_mirror_pad(g, x, pads(g, sym_ok, 2, "ok"), "SYMMETRIC", "mp").op);
  ck_assert_ptr_null(deft_pad(g, x, pads(g, sym_ok, 1, "short"), "pad1").op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Pad 'pad1'", "[rank(input), 2]");
  deft_graph_free(g);
  /* run time: a fed paddings tensor too large for REFLECT */
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(-1, NULL), "x");
  deft_output pp = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(2, 2), "pp");
  deft_output y = deft_mirror_pad(g, x, pp, "REFLECT", "mp");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_new(DEFT_FLOAT, (int64_t[]){2, 3}, 2, NULL);
  memset(deft_tensor_data(xv), 0, 24);
  deft_tensor *pv = deft_tensor_new(DEFT_INT32, (int64_t[]){2, 2}, 2, NULL);
  memcpy(deft_tensor_data(pv), big, sizeof big);
  deft_output feeds[2] = {x, pp};
  deft_tensor *vals[2] = {xv, pv}, *out = NULL;
  ck_assert(
      !deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, &y, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MirrorPad 'mp'", "at most 1");
  deft_tensor_free(xv);
  deft_tensor_free(pv);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("pad_ops");
  TCase *tc = tcase_create("pad");
  tcase_add_test(tc, pads_match_numpy);
  tcase_add_test(tc, bad_paddings);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
