/* tests/test_tf1.c - real TensorFlow 1.x files (../shared/tf1, see its README): import every
 * meta-graph, SavedModel and frozen graph; restore the checkpoints with the graphs' own restore
 * ops and evaluate on the MNIST test set against the README's independently computed values;
 * keep training with the graphs' own training ops; save with their own save ops and re-import;
 * batch norm's Switch/Merge paths; deft_gradients against TF's own gradient ops; SavedModel
 * signatures; and the error paths. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "deft/io.h"
#include "testutil.h"

#define KK "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define HF "tf1/haerfest__handson-ml/"
#define TB "tf1/tao-bai__Hands-on-Machine-Learning/"
#define SERVING "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"

static deft_tensor *test_x, *test_y;

static void load_mnist(void) {
  if (test_x) return;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/mnist", tu_shared_dir());
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_mnist_load(dir, false, NULL, NULL, &test_x, &test_y, st), "%s",
                deft_status_message(st));
  deft_status_free(st);
}

/* Labels converted to the dtype the graph's y placeholder wants. */
static deft_tensor *labels_as(const deft_tensor *y, deft_dtype dtype) {
  int64_t n = deft_tensor_num_elements(y);
  deft_tensor *t = deft_tensor_new(dtype, &n, 1, NULL);
  for (int64_t i = 0; i < n; i++) {
    if (dtype == DEFT_INT64)
      ((int64_t *)deft_tensor_data(t))[i] = (int64_t)deft_tensor_get_double(y, i);
    else ((int32_t *)deft_tensor_data(t))[i] = (int32_t)deft_tensor_get_double(y, i);
  }
  return t;
}

static deft_output tensor(deft_graph *g, const char *name) {
  deft_status *st = deft_status_new();
  deft_output o = deft_graph_tensor_by_name(g, name, st);
  ck_assert_msg(o.op != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return o;
}

typedef struct {
  deft_graph *g;
  deft_meta_graph_info *info;
  deft_session *s;
  deft_saver *saver;
} imported;

static imported import_and_restore(const char *meta, const char *ckpt) {
  imported m;
  deft_status *st = deft_status_new();
  m.g = deft_import_meta_graph(meta, NULL, &m.info, st);
  ck_assert_msg(m.g != NULL, "%s: %s", meta, deft_status_message(st));
  m.s = deft_session_new(m.g, st);
  ck_assert_ptr_nonnull(m.s);
  m.saver = deft_saver_from_names(m.g, deft_meta_graph_info_filename_tensor(m.info),
                                  deft_meta_graph_info_save_tensor(m.info),
                                  deft_meta_graph_info_restore_op(m.info), 0, st);
  ck_assert_msg(m.saver != NULL, "%s", deft_status_message(st));
  if (ckpt)
    ck_assert_msg(deft_saver_restore(m.saver, m.s, ckpt, st), "%s: %s", ckpt,
                  deft_status_message(st));
  deft_status_free(st);
  return m;
}

static void imported_free(imported *m) {
  deft_saver_free(m->saver);
  deft_session_free(m->s);
  deft_meta_graph_info_free(m->info);
  deft_graph_free(m->g);
}

static double accuracy(imported *m, const char *acc_name, const deft_tensor *x,
                       const deft_tensor *y) {
  deft_output X = tensor(m->g, "X:0"), Y = tensor(m->g, "y:0"), acc = tensor(m->g, acc_name);
  deft_tensor *yl = labels_as(y, deft_output_dtype(Y));
  deft_output feeds[2] = {X, Y};
  deft_tensor *vals[2] = {(deft_tensor *)x, yl}, *out = NULL;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_session_run(m->s, feeds, tu_feeds(vals), 2, &acc, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  double a = deft_tensor_get_double(out, 0);
  deft_tensor_free(out);
  deft_tensor_free(yl);
  deft_status_free(st);
  return a;
}

static void check_restored_accuracy(const char *meta_rel, const char *ckpt_rel,
                                    const char *acc_name, double want) {
  TU_REQUIRE_SHARED(meta, meta_rel);
  char metap[4096];
  snprintf(metap, sizeof metap, "%s", meta);
  TU_REQUIRE_SHARED(ckpt, ckpt_rel);
  load_mnist();
  imported m = import_and_restore(metap, ckpt);
  double a = accuracy(&m, acc_name, test_x, test_y);
  ck_assert_msg(fabs(a - want) <= 0.0005, "%s: accuracy %.4f, expected %.4f", meta_rel, a, want);
  imported_free(&m);
}

START_TEST(kkeishiro_accuracy) {
  check_restored_accuracy(KK "my_model_final.ckpt.meta", KK "my_model_final.ckpt",
                          "eval/accuracy:0", 0.9608);
  check_restored_accuracy(KK "my_new_model_final.ckpt.meta", KK "my_new_model_final.ckpt",
                          "eval/accuracy:0", 0.9704);
}
END_TEST

START_TEST(haerfest_accuracy) {
  check_restored_accuracy(HF "my_model_final.ckpt.meta", HF "my_model_final.ckpt", "eval/Mean:0",
                          0.9791);
}
END_TEST

START_TEST(tao_bai_batch_norm_accuracy) {
  check_restored_accuracy(TB "my_model_final.ckpt.meta", TB "my_model_final.ckpt", "eval/Mean:0",
                          0.9758);
}
END_TEST

START_TEST(user_collection_resolves) {
  TU_REQUIRE_SHARED(meta, KK "my_new_model_final.ckpt.meta");
  imported m = import_and_restore(meta, NULL);
  deft_output items[8];
  int n = deft_graph_get_collection(m.g, "my_important_ops", NULL, items, 8, NULL);
  ck_assert_int_eq(n, 4);
  char buf[256];
  ck_assert_str_eq(deft_output_format(items[0], buf, sizeof buf), "X:0");
  ck_assert_str_eq(deft_output_format(items[2], buf, sizeof buf), "eval/accuracy:0");
  ck_assert_str_eq(deft_output_format(items[3], buf, sizeof buf), "GradientDescent");
  imported_free(&m);
}
END_TEST

/* One epoch of the graph's own training op on MNIST batches; returns the accuracy after. */
static double train_epoch(imported *m, const char *train_op, const char *acc_name, bool bn,
                          int64_t steps) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/mnist", tu_shared_dir());
  deft_status *st = deft_status_new();
  deft_tensor *tx = NULL, *ty = NULL;
  ck_assert(deft_mnist_load(dir, true, &tx, &ty, NULL, NULL, st));
  deft_output X = tensor(m->g, "X:0"), Y = tensor(m->g, "y:0");
  deft_tensor *yl = labels_as(ty, deft_output_dtype(Y));
  deft_batcher *b = deft_batcher_new(tx, yl, 200, 1, st);
  deft_op *targets[8];
  int nt = 0;
  targets[nt++] = deft_graph_op_by_name(m->g, train_op);
  ck_assert_msg(targets[0] != NULL, "no op %s", train_op);
  deft_output training = {NULL, 0};
  if (bn) {
    training = tensor(m->g, "training:0");
    deft_output upd[6];
    int nu = deft_graph_get_collection(m->g, "update_ops", NULL, upd, 6, NULL);
    ck_assert_int_gt(nu, 0);
    for (int i = 0; i < nu; i++) targets[nt++] = upd[i].op;
  }
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  const deft_tensor *xb, *yb;
  for (int64_t k = 0; k < steps && deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY; k++) {
    deft_output feeds[3] = {X, Y, training};
    const deft_tensor *vals[3] = {xb, yb, yes};
    ck_assert_msg(deft_session_run(m->s, feeds, vals, bn ? 3 : 2, NULL, NULL, 0, targets, nt, st),
                  "%s", deft_status_message(st));
  }
  deft_tensor_free(yes);
  deft_batcher_free(b);
  deft_tensor_free(yl);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_status_free(st);
  load_mnist();
  return accuracy(m, acc_name, test_x, test_y);
}

static void continue_training(const char *meta_rel, const char *ckpt_rel, const char *var,
                              const char *train_op, const char *acc_name, bool bn, double base) {
  TU_REQUIRE_SHARED(meta, meta_rel);
  char metap[4096];
  snprintf(metap, sizeof metap, "%s", meta);
  TU_REQUIRE_SHARED(ckpt, ckpt_rel);
  char ckptp[4096];
  snprintf(ckptp, sizeof ckptp, "%s", ckpt);
  imported m = import_and_restore(metap, ckptp);
  deft_status *st = deft_status_new();
  deft_op *v = deft_graph_op_by_name(m.g, var);
  ck_assert_ptr_nonnull(v);
  deft_tensor *before = deft_session_variable_value(m.s, v, st);
  double acc = train_epoch(&m, train_op, acc_name, bn, 275);
  deft_tensor *after = deft_session_variable_value(m.s, v, st);
  ck_assert(memcmp(deft_tensor_data(before), deft_tensor_data(after), deft_tensor_nbytes(before)));
  ck_assert_msg(acc >= base - 0.005, "%s: accuracy fell to %.4f after training (restored %.4f)",
                meta_rel, acc, base);
  /* Save with the graph's own save op, re-import, restore: the numbers are identical. */
  char prefix[4096];
  snprintf(prefix, sizeof prefix, "%s/retrained-%d", tu_tmpdir(), (int)(base * 10000));
  ck_assert_msg(deft_saver_save(m.saver, m.s, prefix, -1, NULL, st), "%s", deft_status_message(st));
  imported m2 = import_and_restore(metap, prefix);
  deft_tensor *again = deft_session_variable_value(m2.s, deft_graph_op_by_name(m2.g, var), st);
  ck_assert(memcmp(deft_tensor_data(after), deft_tensor_data(again), deft_tensor_nbytes(after)) ==
            0);
  ck_assert(fabs(accuracy(&m2, acc_name, test_x, test_y) - acc) < 1e-9);
  deft_tensor_free(before);
  deft_tensor_free(after);
  deft_tensor_free(again);
  imported_free(&m2);
  imported_free(&m);
  deft_status_free(st);
}

START_TEST(kkeishiro_keeps_training) {
  continue_training(KK "my_model_final.ckpt.meta", KK "my_model_final.ckpt", "hidden1/kernel",
                    "GradientDescent", "eval/accuracy:0", false, 0.9608);
}
END_TEST

START_TEST(haerfest_keeps_training) {
  continue_training(HF "my_model_final.ckpt.meta", HF "my_model_final.ckpt",
                    "dnn/hidden1/weights", "train/GradientDescent", "eval/Mean:0", false, 0.9791);
}
END_TEST

START_TEST(tao_bai_keeps_training) {
  continue_training(TB "my_model_final.ckpt.meta", TB "my_model_final.ckpt",
                    "hidden1/kernel", "train/GradientDescent", "eval/Mean:0", true, 0.9758);
}
END_TEST

/* training=true with update_ops changes the moving statistics; with training false they stay. */
START_TEST(tao_bai_update_ops) {
  TU_REQUIRE_SHARED(meta, TB "my_model_final.ckpt.meta");
  char metap[4096];
  snprintf(metap, sizeof metap, "%s", meta);
  TU_REQUIRE_SHARED(ckpt, TB "my_model_final.ckpt");
  load_mnist();
  imported m = import_and_restore(metap, ckpt);
  deft_status *st = deft_status_new();
  deft_output upd[6];
  int nu = deft_graph_get_collection(m.g, "update_ops", NULL, upd, 6, NULL);
  ck_assert_int_eq(nu, 6);
  deft_op *mm = deft_graph_op_by_name(m.g, "batch_normalization/moving_mean");
  ck_assert_ptr_nonnull(mm);
  deft_tensor *x = deft_tensor_slice_rows(test_x, 0, 200, st);
  deft_output X = tensor(m.g, "X:0"), T = tensor(m.g, "training:0");
  deft_op *targets[6];
  for (int i = 0; i < nu; i++) targets[i] = upd[i].op;
  deft_tensor *before = deft_session_variable_value(m.s, mm, st);
  deft_tensor *no = deft_tensor_scalar_bool(false), *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[2] = {X, T};
  deft_tensor *vals[2] = {x, no};
  ck_assert_msg(deft_session_run(m.s, feeds, tu_feeds(vals), 2, NULL, NULL, 0, targets, nu, st),
                "%s", deft_status_message(st));
  deft_tensor *same = deft_session_variable_value(m.s, mm, st);
  ck_assert(memcmp(deft_tensor_data(before), deft_tensor_data(same), deft_tensor_nbytes(same)) ==
            0);
  vals[1] = yes;
  ck_assert(deft_session_run(m.s, feeds, tu_feeds(vals), 2, NULL, NULL, 0, targets, nu, st));
  deft_tensor *moved = deft_session_variable_value(m.s, mm, st);
  ck_assert(memcmp(deft_tensor_data(before), deft_tensor_data(moved), deft_tensor_nbytes(moved)) !=
            0);
  /* a fetch on the untaken branch is an error naming it */
  deft_output sw = tensor(m.g, "dnn/batch_normalization/cond/Switch_1:1");
  deft_tensor *out = NULL;
  vals[1] = no;
  ck_assert(!deft_session_run(m.s, feeds, tu_feeds(vals), 2, &sw, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "dnn/batch_normalization/cond/Switch_1:1", "untaken");
  deft_tensor_free(before);
  deft_tensor_free(same);
  deft_tensor_free(moved);
  deft_tensor_free(no);
  deft_tensor_free(yes);
  deft_tensor_free(x);
  imported_free(&m);
  deft_status_free(st);
}
END_TEST

/* deft_gradients on the imported forward graph equals TF's own gradient ops in the file. */
static void cross_check_gradients(const char *meta_rel, const char *ckpt_rel, const char *loss,
                                  const char *var, const char *tf_grad, bool bn) {
  TU_REQUIRE_SHARED(meta, meta_rel);
  char metap[4096];
  snprintf(metap, sizeof metap, "%s", meta);
  TU_REQUIRE_SHARED(ckpt, ckpt_rel);
  load_mnist();
  imported m = import_and_restore(metap, ckpt);
  deft_status *st = deft_status_new();
  deft_output L = tensor(m.g, loss), V = deft_op_output(deft_graph_op_by_name(m.g, var), 0);
  deft_output ours;
  ck_assert_msg(deft_gradients(m.g, &L, 1, &V, 1, NULL, &ours), "%s",
                deft_status_message(deft_graph_status(m.g)));
  ck_assert_ptr_nonnull(ours.op);
  deft_output theirs = tensor(m.g, tf_grad);
  deft_tensor *x = deft_tensor_slice_rows(test_x, 0, 200, st);
  deft_tensor *yall = labels_as(test_y, deft_output_dtype(tensor(m.g, "y:0")));
  deft_tensor *y = deft_tensor_slice_rows(yall, 0, 200, st);
  deft_tensor *yes = deft_tensor_scalar_bool(true);
  deft_output feeds[3] = {tensor(m.g, "X:0"), tensor(m.g, "y:0"), {NULL, 0}};
  deft_tensor *vals[3] = {x, y, yes};
  if (bn) feeds[2] = tensor(m.g, "training:0");
  deft_output fetch[2] = {ours, theirs};
  deft_tensor *out[2];
  ck_assert_msg(
      deft_session_run(m.s, feeds, tu_feeds(vals), bn ? 3 : 2, fetch, out, 2, NULL, 0, st), "%s",
      deft_status_message(st));
  double maxdiff = 0, maxval = 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(out[0]); i++) {
    double a = deft_tensor_get_double(out[0], i), b = deft_tensor_get_double(out[1], i);
    if (fabs(a - b) > maxdiff) maxdiff = fabs(a - b);
    if (fabs(b) > maxval) maxval = fabs(b);
  }
  ck_assert_msg(maxdiff <= 1e-5 * maxval + 1e-9, "%s: max |ours - TF's| = %g (max |TF's| %g)",
                meta_rel, maxdiff, maxval);
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_tensor_free(yall);
  deft_tensor_free(yes);
  imported_free(&m);
  deft_status_free(st);
}

START_TEST(gradients_match_tf) {
  cross_check_gradients(KK "my_model_final.ckpt.meta", KK "my_model_final.ckpt", "loss/loss:0",
                        "hidden1/kernel",
                        "gradients/dnn/hidden1/MatMul_grad/tuple/control_dependency_1:0", false);
  cross_check_gradients(HF "my_model_final.ckpt.meta", HF "my_model_final.ckpt", "loss/loss:0",
                        "dnn/hidden1/weights",
                        "train/gradients/dnn/hidden1/MatMul_grad/tuple/control_dependency_1:0",
                        false);
  cross_check_gradients(TB "my_model_final.ckpt.meta", TB "my_model_final.ckpt", "loss/loss:0",
                        "hidden1/kernel",
                        "train/gradients/dnn/hidden1/MatMul_grad/tuple/control_dependency_1:0",
                        true);
}
END_TEST

START_TEST(saved_models) {
  const char *dirs[2] = {SERVING "saved_model_half_plus_two_cpu/00000123",
                         SERVING "saved_model_half_plus_three/00000123"};
  const float want[2][3] = {{2.5f, 3.0f, 4.5f}, {3.5f, 4.0f, 5.5f}};
  for (int d = 0; d < 2; d++) {
    TU_REQUIRE_SHARED(dir, dirs[d]);
    char dirp[4096], vars[4200];
    snprintf(dirp, sizeof dirp, "%s", dir);
    snprintf(vars, sizeof vars, "%s/variables/variables", dirp);
    deft_status *st = deft_status_new();
    deft_meta_graph_info *info = NULL;
    deft_graph *g = deft_load_saved_model(dirp, "serve", &info, st);
    ck_assert_msg(g != NULL, "%s", deft_status_message(st));
    deft_session *s = deft_session_new(g, st);
    deft_saver *sv = deft_saver_from_names(g, deft_meta_graph_info_filename_tensor(info),
                                           deft_meta_graph_info_save_tensor(info),
                                           deft_meta_graph_info_restore_op(info), 0, st);
    ck_assert_msg(sv && deft_saver_restore(sv, s, vars, st), "%s", deft_status_message(st));
    const char *in = deft_meta_graph_info_signature_input(info, "serving_default", "x", NULL, st);
    if (!in) in = deft_meta_graph_info_signature_input(info, "regress_x_to_y", "inputs", NULL, st);
    const char *outname =
        deft_meta_graph_info_signature_output(info, "serving_default", "y", NULL, st);
    ck_assert_msg(in && outname, "%s", deft_status_message(st));
    float xv[3] = {1, 2, 5};
    int64_t n = 3;
    deft_tensor *x = deft_tensor_from_data(DEFT_FLOAT, &n, 1, xv, sizeof xv, st);
    deft_output X = tensor(g, in), Y = tensor(g, outname);
    deft_shape xs = deft_output_shape(X);
    if (xs.rank == 2) {
      int64_t dims[2] = {3, 1};
      deft_tensor_free(x);
      x = deft_tensor_from_data(DEFT_FLOAT, dims, 2, xv, sizeof xv, st);
    }
    deft_tensor *y = NULL;
    ck_assert_msg(
        deft_session_run(s, &X, (const deft_tensor *const[]){x}, 1, &Y, &y, 1, NULL, 0, st), "%s",
        deft_status_message(st));
    for (int i = 0; i < 3; i++) ck_assert(fabs(deft_tensor_get_double(y, i) - want[d][i]) < 1e-6);
    /* error paths: a missing tag lists the tags; an unknown signature lists the keys */
    deft_meta_graph_info *bad = NULL;
    ck_assert_ptr_null(deft_load_saved_model(dirp, "gpu", &bad, st));
    TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "gpu", "serve");
    ck_assert_ptr_null(deft_meta_graph_info_signature_input(info, "nope", "x", NULL, st));
    TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "nope", "serving_default");
    /* a restore op fed a prefix that does not exist */
    ck_assert(!deft_saver_restore(sv, s, "/no/such/prefix", st));
    TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/no/such/prefix");
    deft_tensor_free(x);
    deft_tensor_free(y);
    deft_saver_free(sv);
    deft_session_free(s);
    deft_meta_graph_info_free(info);
    deft_graph_free(g);
    deft_status_free(st);
  }
}
END_TEST

/* The frozen graph predicts the first 10 test digits; checked against the labels and against a
 * NumPy evaluation of its own Const weights. */
START_TEST(frozen_simple_mnist) {
  TU_REQUIRE_SHARED(pb, "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb");
  load_mnist();
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(pb, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  deft_tensor *x = deft_tensor_slice_rows(test_x, 0, 10, st);
  deft_output X = tensor(g, "x:0"), P = tensor(g, "y_pred:0");
  deft_tensor *pred = NULL;
  ck_assert_msg(
      deft_session_run(s, &X, (const deft_tensor *const[]){x}, 1, &P, &pred, 1, NULL, 0, st), "%s",
      deft_status_message(st));
  int right = 0;
  for (int i = 0; i < 10; i++)
    right += deft_tensor_get_double(pred, i) == deft_tensor_get_double(test_y, i);
  ck_assert_msg(right >= 9, "only %d of 10 first test digits right", right);
  /* NumPy: dump every Const and the input, recompute relu(x W + b) ... argmax in Python. */
  char path[4096];
  snprintf(path, sizeof path, "%s/frozen", tu_tmpdir());
  mkdir(path, 0755);
  int nconst = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (strcmp(deft_op_type(op), "Const")) continue;
    const deft_tensor *v = NULL;
    ck_assert(deft_op_attr_tensor(op, "value", &v));
    char f[4200];
    snprintf(f, sizeof f, "%s/const_%d.npy", path, nconst++);
    ck_assert(deft_npy_write(f, v, st));
  }
  snprintf(path + strlen(path), sizeof path - strlen(path), "/x.npy");
  ck_assert(deft_npy_write(path, x, st));
  path[strlen(path) - 6] = 0;
  snprintf(path + strlen(path), sizeof path - strlen(path), "/pred.npy");
  ck_assert(deft_npy_write(path, pred, st));
  path[strlen(path) - 9] = 0;
  const char *script =
      "import sys, glob, numpy as np\n"
      "d = sys.argv[1]\n"
      "cs = [np.load(f) for f in sorted(glob.glob(d + '/const_*.npy'), key=lambda s: "
      "int(s.split('_')[-1][:-4]))]\n"
      "ws = [c for c in cs if c.ndim == 2]\n"
      "bs = [c for c in cs if c.ndim == 1 and c.dtype == np.float32]\n"
      "h = np.load(d + '/x.npy').astype(np.float64)\n"
      "for i, (w, b) in enumerate(zip(ws, bs)):\n"
      "    h = h @ w + b\n"
      "    if i < len(ws) - 1: h = np.maximum(h, 0)\n"
      "p = np.load(d + '/pred.npy')\n"
      "assert (np.argmax(h, 1) == p).all(), (np.argmax(h, 1), p)\n";
  const char *args[2] = {path, NULL};
  ck_assert_int_eq(tu_python(script, args), 0);
  deft_tensor_free(pred);
  deft_tensor_free(x);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tf1");
  TCase *tc = tcase_create("fixtures");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, kkeishiro_accuracy);
  tcase_add_test(tc, haerfest_accuracy);
  tcase_add_test(tc, tao_bai_batch_norm_accuracy);
  tcase_add_test(tc, user_collection_resolves);
  tcase_add_test(tc, tao_bai_update_ops);
  tcase_add_test(tc, gradients_match_tf);
  tcase_add_test(tc, saved_models);
  tcase_add_test(tc, frozen_simple_mnist);
  tcase_add_test(tc, kkeishiro_keeps_training);
  tcase_add_test(tc, haerfest_keeps_training);
  tcase_add_test(tc, tao_bai_keeps_training);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  int rc = tu_run_suite(suite());
  deft_tensor_free(test_x);
  deft_tensor_free(test_y);
  return rc;
}
