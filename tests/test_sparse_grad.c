/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_sparse_grad.c - sparse gradients (TF's IndexedSlices) and the ops that apply them
 * (ops/sparse_grad_ops.c, graph/gradients.c, graph/optimizers.c): ScatterUpdate/Add/Sub and
 * SparseApplyMomentum/Adagrad/RMSProp against NumPy (repeated indices applied in order), errors
 * that leave the variable unchanged, deft_gradients_sparse on gathers (values, indices,
 * dense_shape; densified equal to the dense gradient and to finite differences; aggregation of
 * two gathers by concatenation, mixed with a dense use by AddN), and every optimizer's sparse
 * path on an embedding against a NumPy reference of TF's _apply_sparse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/training_ops.h"
#include "grad_check.h"
#include "math_testutil.h"

static deft_session *start(deft_graph *g) {
  deft_status *st = deft_status_new();
  deft_op *init = deft_global_variables_initializer(g, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s != NULL, "%s", deft_status_message(st));
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  return s;
}

static deft_tensor *run1(deft_session *s, deft_output fetch, deft_status *st) {
  deft_tensor *t = NULL;
  if (!deft_session_run(s, NULL, NULL, 0, &fetch, &t, 1, NULL, 0, st)) return NULL;
  return t;
}

static deft_tensor *var_value(deft_session *s, deft_op *var) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_session_variable_value(s, var, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return t;
}

/* ---- ScatterUpdate / ScatterAdd / ScatterSub ---- */

START_TEST(scatter_vs_numpy) {
  deft_tensor *w0 = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(5, 3), -2, 2, false, false);
  deft_tensor *ix = mtu_from_values(DEFT_INT32, DEFT_SHAPE(2, 2), (const double[]){4, 0, 4, 2});
  deft_tensor *up = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 2, 3), -2, 2, false, false);
  const char *exprs[3] = {
      "(lambda r: ([r.__setitem__(int(i), u) for i, u in zip(b.reshape(-1), c.reshape(-1, 3))],"
      " r)[1])(a.copy())",
      "(lambda r: (np.add.at(r, b.reshape(-1).astype(int), c.reshape(-1, 3)), r)[1])(a.copy())",
      "(lambda r: (np.subtract.at(r, b.reshape(-1).astype(int), c.reshape(-1, 3)), r)[1])"
      "(a.copy())"};
  np_case cases[3];
  memset(cases, 0, sizeof cases);
  for (int k = 0; k < 3; k++) {
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", exprs[k]);
    cases[k].nin = 3, cases[k].in[0] = w0, cases[k].in[1] = ix, cases[k].in[2] = up;
  }
  mtu_np_run(cases, 3);
  deft_output (*ctor[3])(deft_graph *, deft_output, deft_output, deft_output, const char *) = {
      deft_scatter_update, deft_scatter_add, deft_scatter_sub};
  for (int k = 0; k < 3; k++) {
    deft_graph *g = deft_graph_new();
    deft_op *w = deft_variable_new(g, "w", deft_const(g, w0, "w0"), true);
    deft_output r = ctor[k](g, deft_op_output(w, 0), deft_const(g, ix, "ix"),
                            deft_const(g, up, "up"), "sc");
    ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
    deft_session *s = start(g);
    deft_status *st = deft_status_new();
    deft_tensor *t = run1(s, r, st);
    ck_assert_msg(t, "%s", deft_status_message(st));
    deft_tensor_free(t);
    t = var_value(s, w);
    mtu_check_close(t, cases[k].want, 1e-6, 1e-6, exprs[k]);
    deft_tensor_free(t);
    deft_status_free(st);
    deft_session_free(s);
    deft_graph_free(g);
  }
  mtu_np_free(cases, 3);
  deft_tensor_free(w0);
  deft_tensor_free(ix);
  deft_tensor_free(up);
}
END_TEST

START_TEST(scatter_int_scalar_and_errors) {
  deft_graph *g = deft_graph_new();
  deft_tensor *w0 = mtu_from_values(DEFT_INT32, DEFT_SHAPE(4, 2), (const double[]){1, 2, 3, 4, 5,
                                                                                   6, 7, 8});
  deft_op *w = deft_variable_new(g, "w", deft_const(g, w0, "w0"), false);
  deft_output ixp = mtu_ph(g, DEFT_INT64, DEFT_SHAPE(-1), "ix");
  deft_output add = deft_scatter_add(g, deft_op_output(w, 0), ixp,
                                     deft_const_int32(g, 10, "ten"), "add");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = start(g);
  deft_status *st = deft_status_new();
  deft_tensor *iv = mtu_from_values(DEFT_INT64, DEFT_SHAPE(3), (const double[]){1, 3, 1});
  deft_tensor *t = NULL;
  ck_assert_msg(
      deft_session_run(s, &ixp, (const deft_tensor *const *)&iv, 1, &add, &t, 1, NULL, 0, st), "%s",
      deft_status_message(st));
  deft_tensor_free(t);
  t = var_value(s, w);
  const int32_t want[8] = {1, 2, 23, 24, 5, 6, 17, 18};
  ck_assert(!memcmp(deft_tensor_data(t), want, sizeof want));
  deft_tensor_free(t);
  /* an index out of range fails naming it, and writes nothing (the valid first index too) */
  deft_tensor *bad = mtu_from_values(DEFT_INT64, DEFT_SHAPE(2), (const double[]){0, 4});
  ck_assert(
      !deft_session_run(s, &ixp, (const deft_tensor *const *)&bad, 1, &add, &t, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ScatterAdd 'add'", "indices[1] = 4",
                   "[0, 4)");
  t = var_value(s, w);
  ck_assert(!memcmp(deft_tensor_data(t), want, sizeof want));
  deft_tensor_free(t);
  deft_tensor_free(bad);
  deft_tensor_free(iv);
  deft_status_free(st);
  deft_session_free(s);
  /* build-time: updates of the wrong shape */
  deft_output bad_up = deft_scatter_sub(g, deft_op_output(w, 0),
                                        deft_const_int32_vector(g, (const int32_t[]){1, 2}, 2,
                                                                "i2"),
                                        deft_const_int32_vector(g, (const int32_t[]){1, 2, 3}, 3,
                                                                "u3"), "bad_shape");
  ck_assert_ptr_null(bad_up.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ScatterSub 'bad_shape'",
                   "indices.shape + var.shape[1:]");
  deft_tensor_free(w0);
  deft_graph_free(g);
}
END_TEST

/* ---- SparseApply* ---- */

START_TEST(sparse_apply_vs_numpy) {
  /* double var [5,2], slots, grad rows for indices [3, 0, 3] (applied in order) */
  deft_tensor *v0 = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(5, 2), -1, 1, false, false);
  deft_tensor *a0 = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(5, 2), 0.5, 1.5, false, false);
  deft_tensor *gr = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(3, 2), -1, 1, false, false);
  enum { N = 6 };
  const char *exprs[N] = {
      /* momentum, nesterov false: var then accum */
      "(lambda v, m: ([(m.__setitem__(r, m[r] * 0.75 + c[i]), v.__setitem__(r, v[r] - m[r] * "
      "0.5)) for i, r in enumerate([3, 0, 3])], v)[1])(a.copy(), b.copy())",
      "(lambda v, m: ([(m.__setitem__(r, m[r] * 0.75 + c[i]), v.__setitem__(r, v[r] - m[r] * "
      "0.5)) for i, r in enumerate([3, 0, 3])], m)[1])(a.copy(), b.copy())",
      /* adagrad */
      "(lambda v, m: ([(m.__setitem__(r, m[r] + c[i] * c[i]), v.__setitem__(r, v[r] - 0.5 * "
      "c[i] / np.sqrt(m[r]))) for i, r in enumerate([3, 0, 3])], v)[1])(a.copy(), b.copy())",
      /* rmsprop (ms = b, mom = b / 2), rho 0.875, momentum 0.75, eps 0.0625 */
      "(lambda v, s, o: ([(s.__setitem__(r, s[r] * .875 + c[i] * c[i] * .125), o.__setitem__(r,"
      " o[r] * .75 + .5 * c[i] / np.sqrt(s[r] + .0625)), v.__setitem__(r, v[r] - o[r])) for i, "
      "r in enumerate([3, 0, 3])], v)[1])(a.copy(), b.copy(), b / 2)",
      /* momentum, nesterov */
      "(lambda v, m: ([(m.__setitem__(r, m[r] * 0.75 + c[i]), v.__setitem__(r, v[r] - c[i] * "
      "0.5 - m[r] * 0.75 * 0.5)) for i, r in enumerate([3, 0, 3])], v)[1])(a.copy(), b.copy())",
      /* rmsprop's mom slot */
      "(lambda v, s, o: ([(s.__setitem__(r, s[r] * .875 + c[i] * c[i] * .125), o.__setitem__(r,"
      " o[r] * .75 + .5 * c[i] / np.sqrt(s[r] + .0625))) for i, r in enumerate([3, 0, 3])], "
      "o)[1])(a.copy(), b.copy(), b / 2)",
  };
  np_case cases[N];
  memset(cases, 0, sizeof cases);
  for (int k = 0; k < N; k++) {
    ck_assert(strlen(exprs[k]) < sizeof cases[k].expr);
    snprintf(cases[k].expr, sizeof cases[k].expr, "%s", exprs[k]);
    cases[k].nin = 3, cases[k].in[0] = v0, cases[k].in[1] = a0, cases[k].in[2] = gr;
  }
  mtu_np_run(cases, N);
  for (int k = 0; k < 5; k++) {
    deft_graph *g = deft_graph_new();
    deft_op *v = deft_variable_new(g, "v", deft_const(g, v0, "v0"), true);
    deft_op *a = deft_variable_new(g, "a", deft_const(g, a0, "a0"), false);
    deft_output half = deft_const(g, a0, "a0_again");
    half = deft_mul(g, half, deft_const_double(g, 0.5, "h"), NULL);
    deft_op *o = deft_variable_new(g, "o", half, false);
    deft_output vr = deft_op_output(v, 0), ar = deft_op_output(a, 0), orf = deft_op_output(o, 0);
    deft_output lr = deft_const_double(g, 0.5, "lr"), gt = deft_const(g, gr, "g");
    deft_output ix = deft_const_int32_vector(g, (const int32_t[]){3, 0, 3}, 3, "ix");
    deft_output r;
    if (k == 0 || k == 4)
      r = deft_sparse_apply_momentum(g, vr, ar, lr, gt, ix, deft_const_double(g, 0.75, "m"),
                                     k == 4, "apply");
    else if (k == 1)
      r = deft_sparse_apply_adagrad(g, vr, ar, lr, gt, ix, true, "apply");
    else if (k == 2)
      r = deft_sparse_apply_rmsprop(g, vr, ar, orf, lr, deft_const_double(g, 0.875, "rho"),
                                    deft_const_double(g, 0.75, "m"),
                                    deft_const_double(g, 0.0625, "e"), gt, ix, "apply");
    else
      r = deft_sparse_apply_momentum(g, vr, ar, lr, gt, ix, deft_const_double(g, 0.75, "m"),
                                     false, "apply");
    ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
    deft_session *s = start(g);
    deft_status *st = deft_status_new();
    deft_tensor *t = run1(s, r, st);
    ck_assert_msg(t, "%s", deft_status_message(st));
    deft_tensor_free(t);
    int want_v[5] = {0, 2, 3, 0, 4}, want_slot[5] = {1, -1, 5, -1, -1};
    t = var_value(s, v);
    mtu_check_close(t, cases[want_v[k]].want, 1e-12, 1e-12, exprs[want_v[k]]);
    deft_tensor_free(t);
    if (want_slot[k] >= 0) {
      t = var_value(s, k == 2 ? o : a);
      mtu_check_close(t, cases[want_slot[k]].want, 1e-12, 1e-12, exprs[want_slot[k]]);
      deft_tensor_free(t);
    }
    deft_status_free(st);
    deft_session_free(s);
    deft_graph_free(g);
  }
  mtu_np_free(cases, N);
  deft_tensor_free(v0);
  deft_tensor_free(a0);
  deft_tensor_free(gr);
}
END_TEST

START_TEST(sparse_apply_errors) {
  deft_graph *g = deft_graph_new();
  deft_op *v = deft_variable_new(g, "v", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4, 2), 1, "i"),
                                 true);
  deft_op *a = deft_variable_new(g, "a", deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(4, 2), 1, "j"),
                                 false);
  deft_output ixp = mtu_ph(g, DEFT_INT32, DEFT_SHAPE(-1), "ix");
  deft_output gp = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, 2), "gp");
  deft_output r = deft_sparse_apply_adagrad(g, deft_op_output(v, 0), deft_op_output(a, 0),
                                            deft_const_float(g, 0.1f, "lr"), gp, ixp, true,
                                            "ada");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = start(g);
  deft_status *st = deft_status_new();
  deft_output feeds[2] = {ixp, gp};
  deft_tensor *iv = mtu_from_values(DEFT_INT32, DEFT_SHAPE(2), (const double[]){1, -1});
  deft_tensor *gv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 2), -1, 1, false, false);
  deft_tensor *vals[2] = {iv, gv};
  deft_tensor *t = NULL;
  ck_assert(
      !deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, &r, &t, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SparseApplyAdagrad 'ada'", "indices[1] = -1");
  deft_tensor *iv3 = mtu_from_values(DEFT_INT32, DEFT_SHAPE(3), (const double[]){1, 1, 2});
  vals[0] = iv3;
  ck_assert(
      !deft_session_run(s, feeds, (const deft_tensor *const *)vals, 2, &r, &t, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "SparseApplyAdagrad 'ada'",
                   "indices.shape + var.shape[1:]", "[3]", "[2,2]");
  t = var_value(s, v);
  for (int i = 0; i < 8; i++) ck_assert(((const float *)deft_tensor_data(t))[i] == 1.0f);
  deft_tensor_free(t);
  deft_tensor_free(iv);
  deft_tensor_free(iv3);
  deft_tensor_free(gv);
  deft_status_free(st);
  deft_session_free(s);
  deft_graph_free(g);
}
END_TEST

/* ---- deft_gradients_sparse ---- */

START_TEST(gather_gradients_are_slices) {
  deft_graph *g = deft_graph_new();
  deft_tensor *w0 = mtu_rand_tensor(DEFT_DOUBLE, DEFT_SHAPE(6, 3), -1, 1, false, false);
  deft_op *w = deft_variable_new(g, "emb", deft_const(g, w0, "w0"), true);
  deft_output ids = deft_const_int32_vector(g, (const int32_t[]){4, 1, 4}, 3, "ids");
  deft_output ids2 = deft_const_int32_vector(g, (const int32_t[]){0, 4}, 2, "ids2");
  deft_output e1 = deft_gather(g, deft_variable_value(w), ids, "g1");
  deft_output e2 = deft_gather_v2(g, deft_variable_value(w), ids2, deft_const_int32(g, 0, "ax"),
                                  0, "g2");
  deft_output loss = deft_add(g, deft_reduce_sum(g, deft_square(g, e1, NULL), NULL, 0, false, NULL),
                              deft_reduce_sum(g, deft_mul(g, e2, e2, NULL), NULL, 0, false, NULL),
                              "loss");
  deft_output x = deft_op_output(w, 0);
  deft_indexed_slices sx;
  ck_assert(deft_gradients_sparse(g, &loss, 1, &x, 1, NULL, &sx));
  ck_assert_ptr_nonnull(sx.values.op);
  ck_assert_ptr_nonnull(sx.indices.op);
  ck_assert_ptr_nonnull(sx.dense_shape.op);
  ck_assert_str_eq(deft_op_type(sx.values.op), "ConcatV2"); /* two gathers: concatenated */
  deft_output dense_of_sparse = deft_indexed_slices_to_dense(g, sx, "dense");
  deft_output dx;
  ck_assert(deft_gradients(g, &loss, 1, &x, 1, NULL, &dx));
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = start(g);
  deft_status *st = deft_status_new();
  deft_tensor *vi = run1(s, sx.indices, st), *vv = run1(s, sx.values, st);
  deft_tensor *vd = run1(s, dense_of_sparse, st), *dd = run1(s, dx, st);
  deft_tensor *sh = run1(s, sx.dense_shape, st);
  ck_assert_msg(vi && vv && vd && dd && sh, "%s", deft_status_message(st));
  const int32_t want_ix[5] = {4, 1, 4, 0, 4};
  ck_assert_int_eq(deft_tensor_num_elements(vi), 5);
  ck_assert(!memcmp(deft_tensor_data(vi), want_ix, sizeof want_ix));
  ck_assert(deft_tensor_num_elements(sh) == 2 && ((const int32_t *)deft_tensor_data(sh))[0] == 6);
  np_case c[2];
  memset(c, 0, sizeof c);
  snprintf(c[0].expr, sizeof c[0].expr, "2 * a[[4, 1, 4, 0, 4]]");
  snprintf(c[1].expr, sizeof c[1].expr,
           "(lambda r: (np.add.at(r, [4, 1, 4, 0, 4], 2 * a[[4, 1, 4, 0, 4]]), r)[1])"
           "(np.zeros_like(a))");
  c[0].nin = c[1].nin = 1;
  c[0].in[0] = c[1].in[0] = w0;
  mtu_np_run(c, 2);
  mtu_check_close(vv, c[0].want, 1e-12, 0, "values");
  mtu_check_close(vd, c[1].want, 1e-12, 1e-15, "dense of slices");
  mtu_check_close(dd, c[1].want, 1e-12, 1e-15, "deft_gradients");
  mtu_np_free(c, 2);
  deft_tensor_free(vi), deft_tensor_free(vv), deft_tensor_free(vd), deft_tensor_free(dd);
  deft_tensor_free(sh);
  /* a dense use of the same variable besides the gather: the gradient is dense (AddN) */
  deft_output loss2 = deft_add(g, loss, deft_reduce_sum(g, deft_variable_value(w), NULL, 0, false,
                                                       NULL), "loss2");
  deft_indexed_slices sx2;
  ck_assert(deft_gradients_sparse(g, &loss2, 1, &x, 1, NULL, &sx2));
  ck_assert_ptr_nonnull(sx2.values.op);
  ck_assert_ptr_null(sx2.indices.op);
  ck_assert_str_eq(deft_op_type(sx2.values.op), "AddN");
  /* GatherV2 along axis 1: dense */
  deft_output e3 = deft_gather_v2(g, deft_variable_value(w), ids2, deft_const_int32(g, 1, "ax1"),
                                  0, "g3");
  deft_output l3 = deft_reduce_sum(g, e3, NULL, 0, false, "l3");
  deft_indexed_slices sx3;
  ck_assert(deft_gradients_sparse(g, &l3, 1, &x, 1, NULL, &sx3));
  ck_assert_ptr_nonnull(sx3.values.op);
  ck_assert_ptr_null(sx3.indices.op);
  deft_status_free(st);
  deft_session_free(s);
  deft_tensor_free(w0);
  deft_graph_free(g);
}
END_TEST

/* Finite differences through the sparse path: deft_gradients densifies the gathers' slices. */
static deft_output gather_twice(deft_graph *g, const deft_output *x) {
  deft_output ids = deft_const_int32_vector(g, (const int32_t[]){2, 0, 2}, 3, "ids");
  deft_output a = deft_gather(g, deft_identity(g, x[0], "read"), ids, NULL);
  deft_output b = deft_gather_v2(g, x[0], ids, deft_const_int32(g, 0, "axis"), 0, NULL);
  return deft_mul(g, a, b, NULL);
}

START_TEST(sparse_path_finite_differences) {
  tu_grad_case gc = {"Mul", "Gather * GatherV2 of one tensor (slices concatenated)", 1, {{2, {3, 4}}},
                     gather_twice, 0, 0};
  uint64_t rng = 88172645463325252ull;
  tu_grad_check(&gc, TU_GRAD_VIA_GRADIENTS, &rng);
}
END_TEST

/* ---- the optimizers' sparse paths ---- */

static const char optimizer_py[] =
    "import sys, numpy as np\n"
    "W0 = np.fromfile(sys.argv[1]).reshape(6, 3); C = np.fromfile(sys.argv[2]).reshape(3, 3)\n"
    "ids = [3, 1, 3]; lr, mo, rho, eps, b1, b2 = .5, .75, .875, .0625, .75, .875\n"
    "u = [3, 1]; S = np.stack([C[0] + C[2], C[1]])\n"
    "out = []\n"
    "W = W0.copy()\n"
    "for t in range(2):\n"
    "    np.subtract.at(W, ids, C * lr)\n"
    "out.append(W)\n"
    "W = W0.copy(); a = np.zeros_like(W)\n"
    "for t in range(2):\n"
    "    for r, g in zip(u, S): a[r] = a[r] * mo + g; W[r] -= a[r] * lr\n"
    "out.append(W)\n"
    "W = W0.copy(); a = np.full_like(W, .25)\n"
    "for t in range(2):\n"
    "    for r, g in zip(u, S): a[r] += g * g; W[r] -= lr * g / np.sqrt(a[r])\n"
    "out.append(W)\n"
    "W = W0.copy(); ms = np.ones_like(W); mm = np.zeros_like(W)\n"
    "for t in range(2):\n"
    "    for r, g in zip(u, S):\n"
    "        ms[r] = ms[r] * rho + g * g * (1 - rho)\n"
    "        mm[r] = mm[r] * mo + lr * g / np.sqrt(ms[r] + eps); W[r] -= mm[r]\n"
    "out.append(W)\n"
    "W = W0.copy(); m = np.zeros_like(W); v = np.zeros_like(W); p1, p2 = b1, b2\n"
    "for t in range(2):\n"
    "    lt = lr * np.sqrt(1 - p2) / (1 - p1)\n"
    "    m = m * b1; m[u] += S * (1 - b1)\n"
    "    v = v * b2; v[u] += S * S * (1 - b2)\n"
    "    W = W - lt * m / (np.sqrt(v) + eps); p1 *= b1; p2 *= b2\n"
    "out.append(W)\n"
    "np.concatenate([o.reshape(-1) for o in out]).tofile(sys.argv[3])\n";

START_TEST(optimizers_sparse_paths) {
  double w0[18], cv[9];
  for (int i = 0; i < 18; i++) w0[i] = mtu_urand() * 2 - 1;
  for (int i = 0; i < 9; i++) cv[i] = mtu_urand() * 2 - 1;
  char pw[512], pc[512], po[512];
  snprintf(pw, sizeof pw, "%s/sp-w-%d.bin", tu_tmpdir(), (int)getpid());
  snprintf(pc, sizeof pc, "%s/sp-c-%d.bin", tu_tmpdir(), (int)getpid());
  snprintf(po, sizeof po, "%s/sp-o-%d.bin", tu_tmpdir(), (int)getpid());
  FILE *f = fopen(pw, "wb");
  ck_assert_int_eq(fwrite(w0, sizeof(double), 18, f), 18);
  fclose(f);
  f = fopen(pc, "wb");
  ck_assert_int_eq(fwrite(cv, sizeof(double), 9, f), 9);
  fclose(f);
  const char *args[] = {pw, pc, po, NULL};
  ck_assert_int_eq(tu_python(optimizer_py, args), 0);
  double ref[5 * 18];
  f = fopen(po, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fread(ref, sizeof(double), 90, f), 90);
  fclose(f);
  unlink(pw), unlink(pc), unlink(po);
  const char *update_op[5] = {"GradientDescent/update_emb/ScatterSub",
                              "Momentum/update_emb/SparseApplyMomentum",
                              "Adagrad/update_emb/SparseApplyAdagrad",
                              "RMSProp/update_emb/SparseApplyRMSProp",
                              "Adam/update_emb/ScatterAdd"};
  for (int k = 0; k < 5; k++) {
    deft_graph *g = deft_graph_new();
    deft_status *st = deft_status_new();
    deft_tensor *wt = deft_tensor_from_data(DEFT_DOUBLE, (const int64_t[]){6, 3}, 2, w0,
                                            sizeof w0, st);
    deft_tensor *ct = deft_tensor_from_data(DEFT_DOUBLE, (const int64_t[]){3, 3}, 2, cv,
                                            sizeof cv, st);
    deft_op *w = deft_variable_new(g, "emb", deft_const(g, wt, "w0"), true);
    deft_output e = deft_gather(g, deft_variable_value(w),
                                deft_const_int32_vector(g, (const int32_t[]){3, 1, 3}, 3, "ids"),
                                NULL);
    deft_output loss = deft_reduce_sum(g, deft_mul(g, e, deft_const(g, ct, "c"), NULL), NULL, 0,
                                       false, "loss");
    deft_optimizer *opt = k == 0   ? deft_optimizer_gradient_descent(g, 0.5f)
                          : k == 1 ? deft_optimizer_momentum(g, 0.5f, 0.75f, false)
                          : k == 2 ? deft_optimizer_adagrad(g, 0.5f, 0.25f)
                          : k == 3 ? deft_optimizer_rmsprop(g, 0.5f, 0.875f, 0.75f, 0.0625f)
                                   : deft_optimizer_adam(g, 0.5f, 0.75f, 0.875f, 0.0625f);
    deft_grad_and_var gv[1];
    ck_assert_int_eq(deft_optimizer_compute_gradients(opt, loss, NULL, 0, gv, 1), 1);
    ck_assert_ptr_nonnull(gv[0].indices.op);
    ck_assert_ptr_nonnull(gv[0].dense_shape.op);
    deft_op *train = deft_optimizer_apply_gradients(opt, gv, 1, NULL, NULL);
    ck_assert_msg(train, "%s", deft_status_message(deft_graph_status(g)));
    ck_assert_msg(deft_graph_op_by_name(g, update_op[k]) != NULL, "%s", update_op[k]);
    deft_session *s = start(g);
    for (int t = 0; t < 2; t++)
      ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &train, 1, st), "%s",
                    deft_status_message(st));
    deft_tensor *got = var_value(s, w);
    const double *gvv = deft_tensor_data(got);
    for (int i = 0; i < 18; i++)
      ck_assert_msg(fabs(gvv[i] - ref[k * 18 + i]) <= 1e-12 * (1 + fabs(ref[k * 18 + i])),
                    "%s [%d]: %.17g vs %.17g", update_op[k], i, gvv[i], ref[k * 18 + i]);
    deft_tensor_free(got);
    deft_session_free(s);
    deft_optimizer_free(opt);
    deft_tensor_free(wt);
    deft_tensor_free(ct);
    deft_status_free(st);
    deft_graph_free(g);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sparse_grad");
  TCase *t = tcase_create("sparse_grad");
  tcase_add_test(t, scatter_vs_numpy);
  tcase_add_test(t, scatter_int_scalar_and_errors);
  tcase_add_test(t, sparse_apply_vs_numpy);
  tcase_add_test(t, sparse_apply_errors);
  tcase_add_test(t, gather_gradients_are_slices);
  tcase_add_test(t, sparse_path_finite_differences);
  tcase_add_test(t, optimizers_sparse_paths);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
