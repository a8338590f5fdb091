/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_tf1_cnn.c - the convolutional models of ../shared/tf1 (see its CNN_RNN.md), each
 * through the library and through `deft run`, against the independently computed expected
 * outputs (floats within |got - exp| <= 1e-4 (1 + |exp|), argmax and counts exact):
 *   - the Hands-on ML chapter-13 CNN saved by TF 1.3 (meta graph + V2 checkpoint): logits and
 *     Y_proba for 16 images, the exact t10k accuracy 0.9885 (per-image argmax and eval/Mean in
 *     batches of 500), and 5 steps of its own `train/Adam` op (losses within 1e-3 relative,
 *     output/bias within 1e-6 afterwards);
 *   - uTensor's frozen CIFAR-10 CNN: logits and the int64 pred;
 *   - MobileNet v1 0.25/128 (frozen TF-slim): logits and softmax (top class 534).
 * A test needing ../shared fails when CI=true (TU_REQUIRE_SHARED). */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deft/io.h"
#include "testutil.h"

#define CH13 "tf1/soma11soma11__machine_learning_practice/"
#define CH13_META CH13 "my_mnist_model.meta"
#define CH13_CKPT CH13 "my_mnist_model"
#define UT "tf1/uTensor__utensor_cgen/"
#define UT_PB UT "tests/deep_cnn/cifar10_cnn.pb"
#define MB "tf1/ssoniya__tensorflow-for-poets-2/"
#define MB_PB MB "tf_files/models/mobilenet_v1_0.25_128/frozen_graph.pb"

static deft_tensor *npy(const char *path) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t != NULL, "%s: %s", path, deft_status_message(st));
  deft_status_free(st);
  return t;
}

static deft_tensor *shared_npy(const char *rel) {
  const char *p = tu_shared_path(rel);
  ck_assert_msg(p != NULL, "%s is missing from ../shared", rel);
  return npy(p);
}

static void check_close(const deft_tensor *got, const deft_tensor *want, double tol,
                        const char *what) {
  ck_assert_int_eq(deft_tensor_rank(got), deft_tensor_rank(want));
  for (int k = 0; k < deft_tensor_rank(got); k++)
    ck_assert_int_eq(deft_tensor_dim(got, k), deft_tensor_dim(want, k));
  for (int64_t i = 0; i < deft_tensor_num_elements(want); i++) {
    double g = deft_tensor_get_double(got, i), w = deft_tensor_get_double(want, i);
    ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)), "%s[%lld] = %.7g, expected %.7g", what,
                  (long long)i, g, w);
  }
}

static deft_output tensor(deft_graph *g, const char *name) {
  deft_status *st = deft_status_new();
  deft_output o = deft_graph_tensor_by_name(g, name, st);
  ck_assert_msg(o.op != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return o;
}

static int count_type(deft_graph *g, const char *type) {
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    n += !strcmp(deft_op_type(deft_graph_op_at(g, i)), type);
  return n;
}

static deft_graph *import_pb(const char *rel) {
  const char *path = tu_shared_path(rel);
  ck_assert_ptr_nonnull(path);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g != NULL, "%s: %s", rel, deft_status_message(st));
  deft_status_free(st);
  return g;
}

typedef struct {
  deft_graph *g;
  deft_meta_graph_info *info;
  deft_session *s;
  deft_saver *saver;
} imported;

/* Imports the chapter-13 meta graph and restores its checkpoint with the graph's own saver. */
static imported ch13_restored(void) {
  imported m;
  char meta[4096], ckpt[4096];
  snprintf(meta, sizeof meta, "%s", tu_shared_path(CH13_META));
  snprintf(ckpt, sizeof ckpt, "%s", tu_shared_path(CH13_CKPT));
  deft_status *st = deft_status_new();
  m.g = deft_import_meta_graph(meta, NULL, &m.info, st);
  ck_assert_msg(m.g != NULL, "%s: %s", meta, deft_status_message(st));
  m.s = deft_session_new(m.g, st);
  ck_assert_ptr_nonnull(m.s);
  m.saver = deft_saver_from_names(m.g, deft_meta_graph_info_filename_tensor(m.info),
                                  deft_meta_graph_info_save_tensor(m.info),
                                  deft_meta_graph_info_restore_op(m.info), 0, st);
  ck_assert_msg(m.saver != NULL, "%s", deft_status_message(st));
  ck_assert_msg(deft_saver_restore(m.saver, m.s, ckpt, st), "%s", deft_status_message(st));
  deft_status_free(st);
  return m;
}

static void imported_free(imported *m) {
  deft_saver_free(m->saver);
  deft_session_free(m->s);
  deft_meta_graph_info_free(m->info);
  deft_graph_free(m->g);
}

static deft_tensor *run(deft_session *s, const deft_output *feeds, deft_tensor *const *vals,
                        int nfeeds, deft_output fetch) {
  deft_status *st = deft_status_new();
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, (const deft_tensor *const *)vals, nfeeds, &fetch, &out,
                                 1, NULL, 0, st),
                "%s", deft_status_message(st));
  deft_status_free(st);
  return out;
}

static void load_t10k(deft_tensor **x, deft_tensor **y) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/mnist", tu_shared_dir());
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_mnist_load(dir, false, NULL, NULL, x, y, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

/* Row argmax of logits [N, C] against the expected per-image argmax (exact); returns how many
 * match `labels`. */
static int check_argmax(const deft_tensor *logits, const deft_tensor *want,
                        const deft_tensor *labels) {
  int64_t n = deft_tensor_dim(logits, 0), c = deft_tensor_dim(logits, 1);
  ck_assert_int_eq(n, deft_tensor_num_elements(want));
  const float *p = deft_tensor_data(logits);
  int right = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t best = 0;
    for (int64_t k = 1; k < c; k++)
      if (p[i * c + k] > p[i * c + best]) best = k;
    ck_assert_msg(best == (int64_t)deft_tensor_get_double(want, i), "image %lld: argmax %lld, "
                  "expected %g", (long long)i, (long long)best, deft_tensor_get_double(want, i));
    right += best == (int64_t)deft_tensor_get_double(labels, i);
  }
  return right;
}

/* Rows [begin, begin + n) of a [N, ...] tensor, as a new tensor. */
static deft_tensor *rows(const deft_tensor *t, int64_t begin, int64_t n) {
  int64_t dims[8];
  int rank = deft_tensor_rank(t);
  for (int k = 0; k < rank; k++) dims[k] = deft_tensor_dim(t, k);
  size_t row = deft_tensor_nbytes(t) / (size_t)dims[0];
  dims[0] = n;
  deft_tensor *r = deft_tensor_new(deft_tensor_dtype(t), dims, rank, NULL);
  memcpy(deft_tensor_data(r), (const char *)deft_tensor_data(t) + row * (size_t)begin,
         row * (size_t)n);
  return r;
}

START_TEST(ch13_logits_and_accuracy) {
  TU_REQUIRE_SHARED(meta, CH13_META);
  (void)meta;
  imported m = ch13_restored();
  ck_assert_int_eq(count_type(m.g, "Conv2D"), 2);
  ck_assert_int_gt(count_type(m.g, "MaxPoolGrad"), 0);
  deft_output X = tensor(m.g, "inputs/X:0"), logits = tensor(m.g, "output/output/BiasAdd:0");
  deft_tensor *x16 = shared_npy(CH13 "inputs/ch13_cnn/inputs_X_0.npy");
  deft_tensor *out = run(m.s, &X, &x16, 1, logits);
  deft_tensor *want = shared_npy(CH13 "expected/ch13_cnn/output_output_BiasAdd_0.npy");
  check_close(out, want, 1e-4, "logits");
  deft_tensor_free(out);
  deft_tensor_free(want);
  out = run(m.s, &X, &x16, 1, tensor(m.g, "output/Y_proba:0"));
  want = shared_npy(CH13 "expected/ch13_cnn/output_Y_proba_0.npy");
  check_close(out, want, 1e-4, "Y_proba");
  deft_tensor_free(out);
  deft_tensor_free(want);
  deft_tensor_free(x16);
  /* t10k: per-image argmax exact, 9885 right; eval/Mean in batches of 500 sums to the same */
  deft_tensor *tx = NULL, *ty = NULL;
  load_t10k(&tx, &ty);
  out = run(m.s, &X, &tx, 1, logits);
  deft_tensor *am = shared_npy(CH13 "expected/ch13_cnn/t10k_argmax.npy");
  ck_assert_int_eq(check_argmax(out, am, ty), 9885);
  deft_tensor_free(out);
  deft_tensor_free(am);
  deft_output feeds[2] = {X, tensor(m.g, "inputs/y:0")};
  ck_assert_int_eq(deft_output_dtype(feeds[1]), DEFT_INT32);
  double right = 0;
  for (int64_t b = 0; b < 10000; b += 500) {
    deft_tensor *vals[2] = {rows(tx, b, 500), rows(ty, b, 500)};
    deft_tensor *yl = deft_tensor_new(DEFT_INT32, (int64_t[]){500}, 1, NULL);
    for (int i = 0; i < 500; i++)
      ((int32_t *)deft_tensor_data(yl))[i] = (int32_t)deft_tensor_get_double(vals[1], i);
    deft_tensor_free(vals[1]);
    vals[1] = yl;
    out = run(m.s, feeds, vals, 2, tensor(m.g, "eval/Mean:0"));
    right += deft_tensor_get_double(out, 0) * 500;
    deft_tensor_free(out);
    deft_tensor_free(vals[0]);
    deft_tensor_free(vals[1]);
  }
  ck_assert_int_eq((int)lround(right), 9885);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  imported_free(&m);
}
END_TEST

/* TF's own training op: 5 steps on the first 100 test images, the loss fetched with each step,
 * then once more; output/bias afterwards. */
START_TEST(ch13_train_adam_steps) {
  TU_REQUIRE_SHARED(meta, CH13_META);
  (void)meta;
  imported m = ch13_restored();
  deft_tensor *x = shared_npy(CH13 "inputs/ch13_cnn_train/inputs_X_0.npy");
  deft_tensor *y = shared_npy(CH13 "inputs/ch13_cnn_train/inputs_y_0.npy");
  deft_tensor *losses = shared_npy(CH13 "expected/ch13_cnn_train/losses.npy");
  deft_tensor *bias = shared_npy(CH13 "expected/ch13_cnn_train/output_bias_after_5_steps.npy");
  ck_assert_int_eq(deft_tensor_num_elements(losses), 6);
  deft_output feeds[2] = {tensor(m.g, "inputs/X:0"), tensor(m.g, "inputs/y:0")};
  deft_tensor *vals[2] = {x, y};
  deft_output loss = tensor(m.g, "train/Mean:0");
  deft_op *adam = deft_graph_op_by_name(m.g, "train/Adam");
  ck_assert_ptr_nonnull(adam);
  deft_status *st = deft_status_new();
  for (int step = 0; step <= 5; step++) {
    deft_tensor *out = NULL;
    ck_assert_msg(deft_session_run(m.s, feeds, (const deft_tensor *const *)vals, 2, &loss, &out, 1,
                                   &adam, step < 5 ? 1 : 0, st),
                  "%s", deft_status_message(st));
    double got = deft_tensor_get_double(out, 0), want = deft_tensor_get_double(losses, step);
    ck_assert_msg(fabs(got - want) <= 1e-3 * fabs(want), "loss %d = %.8g, expected %.8g", step,
                  got, want);
    deft_tensor_free(out);
  }
  deft_tensor *b = deft_session_variable_value(m.s, deft_graph_op_by_name(m.g, "output/bias"),
                                               st);
  ck_assert_msg(b != NULL, "%s", deft_status_message(st));
  for (int64_t i = 0; i < deft_tensor_num_elements(bias); i++)
    ck_assert_msg(fabs(deft_tensor_get_double(b, i) - deft_tensor_get_double(bias, i)) <= 1e-6,
                  "output/bias[%lld] = %.8g, expected %.8g", (long long)i,
                  deft_tensor_get_double(b, i), deft_tensor_get_double(bias, i));
  deft_tensor_free(b);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_tensor_free(losses);
  deft_tensor_free(bias);
  deft_status_free(st);
  imported_free(&m);
}
END_TEST

START_TEST(utensor_cifar10) {
  TU_REQUIRE_SHARED(pb, UT_PB);
  (void)pb;
  deft_graph *g = import_pb(UT_PB);
  ck_assert_int_eq(count_type(g, "Conv2D"), 6);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *x = shared_npy(UT "inputs/cifar10_cnn/Placeholder_0.npy");
  deft_output in = tensor(g, "Placeholder:0");
  deft_tensor *out = run(s, &in, &x, 1, tensor(g, "fully_connect_2/logits:0"));
  deft_tensor *want = shared_npy(UT "expected/cifar10_cnn/fully_connect_2_logits_0.npy");
  check_close(out, want, 1e-4, "logits");
  deft_tensor_free(out);
  deft_tensor_free(want);
  out = run(s, &in, &x, 1, tensor(g, "pred:0"));
  want = shared_npy(UT "expected/cifar10_cnn/pred_0.npy");
  ck_assert_int_eq(deft_tensor_dtype(out), DEFT_INT64);
  check_close(out, want, 0, "pred");
  deft_tensor_free(out);
  deft_tensor_free(want);
  deft_tensor_free(x);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(mobilenet_v1) {
  TU_REQUIRE_SHARED(pb, MB_PB);
  (void)pb;
  deft_graph *g = import_pb(MB_PB);
  ck_assert_int_eq(count_type(g, "DepthwiseConv2dNative"), 13);
  ck_assert_int_eq(count_type(g, "Relu6"), 27);
  ck_assert_int_eq(count_type(g, "AvgPool"), 1);
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_tensor *x = shared_npy(MB "inputs/mobilenet_v1_025_128/input_0.npy");
  deft_output in = tensor(g, "input:0");
  for (int threads = 1; threads <= 2; threads++) {
    deft_session_set_threads(s, threads);
    deft_tensor *out = run(s, &in, &x, 1, tensor(g, "MobilenetV1/Logits/SpatialSqueeze:0"));
    deft_tensor *want =
        shared_npy(MB "expected/mobilenet_v1_025_128/MobilenetV1_Logits_SpatialSqueeze_0.npy");
    check_close(out, want, 1e-4, "logits");
    deft_tensor_free(out);
    deft_tensor_free(want);
    out = run(s, &in, &x, 1, tensor(g, "MobilenetV1/Predictions/Reshape_1:0"));
    want = shared_npy(MB "expected/mobilenet_v1_025_128/MobilenetV1_Predictions_Reshape_1_0.npy");
    check_close(out, want, 1e-4, "softmax");
    const float *p = deft_tensor_data(out);
    int best = 0;
    for (int k = 1; k < 1001; k++)
      if (p[k] > p[best]) best = k;
    ck_assert_int_eq(best, 534);
    deft_tensor_free(out);
    deft_tensor_free(want);
  }
  deft_tensor_free(x);
  deft_session_free(s);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* ---- deft run ---- */

static int run_cli(const char *const *args) {
  char prog[1024], err[1024];
  snprintf(prog, sizeof prog, "%s/deft", DEFT_BINARY_DIR);
  snprintf(err, sizeof err, "%s/cnn-cli-err.txt", tu_tmpdir());
  struct stat sb;
  ck_assert_msg(stat(prog, &sb) == 0, "%s was not built", prog);
  const char *argv[32];
  int n = 0;
  argv[n++] = prog;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int o = open("/dev/null", O_WRONLY);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  return code;
}

/* Runs `deft run MODEL [--checkpoint P] --feed NAME=FILE --fetch F --out DIR` and compares
 * DIR/<file> with the expected .npy. */
static void cli_case(const char *model_rel, const char *ckpt_rel, const char *feed_name,
                     const char *feed_rel, const char *fetch, const char *out_file,
                     const char *want_rel, double tol) {
  char model[4096], ckpt[4096], feed[4200], out[600], path[800];
  snprintf(model, sizeof model, "%s", tu_shared_path(model_rel));
  if (ckpt_rel) snprintf(ckpt, sizeof ckpt, "%s", tu_shared_path(ckpt_rel));
  snprintf(feed, sizeof feed, "%s=%s", feed_name, tu_shared_path(feed_rel));
  snprintf(out, sizeof out, "%s/cnn-run", tu_tmpdir());
  if (ckpt_rel)
    run_cli((const char *[]){"run", model, "--checkpoint", ckpt, "--feed", feed, "--fetch", fetch,
                             "--out", out, NULL});
  else
    run_cli((const char *[]){"run", model, "--feed", feed, "--fetch", fetch, "--out", out, NULL});
  snprintf(path, sizeof path, "%s/%s", out, out_file);
  deft_tensor *got = npy(path), *want = shared_npy(want_rel);
  check_close(got, want, tol, fetch);
  deft_tensor_free(got);
  deft_tensor_free(want);
}

START_TEST(all_through_deft_run) {
  TU_REQUIRE_SHARED(meta, CH13_META);
  (void)meta;
  cli_case(CH13_META, CH13_CKPT, "inputs/X:0", CH13 "inputs/ch13_cnn/inputs_X_0.npy",
           "output/output/BiasAdd:0", "output_output_BiasAdd_0.npy",
           CH13 "expected/ch13_cnn/output_output_BiasAdd_0.npy", 1e-4);
  /* the whole test set, written as one .npy: argmax exact */
  deft_tensor *tx = NULL, *ty = NULL;
  load_t10k(&tx, &ty);
  char t10k[600], feed[700], out[600], path[800];
  snprintf(t10k, sizeof t10k, "%s/t10k-cnn.npy", tu_tmpdir());
  deft_status *st = deft_status_new();
  ck_assert(deft_npy_write(t10k, tx, st));
  char model[4096], ckpt[4096];
  snprintf(model, sizeof model, "%s", tu_shared_path(CH13_META));
  snprintf(ckpt, sizeof ckpt, "%s", tu_shared_path(CH13_CKPT));
  snprintf(feed, sizeof feed, "inputs/X:0=%s", t10k);
  snprintf(out, sizeof out, "%s/cnn-run", tu_tmpdir());
  run_cli((const char *[]){"run", model, "--checkpoint", ckpt, "--feed", feed, "--fetch",
                           "output/output/BiasAdd:0", "--out", out, NULL});
  snprintf(path, sizeof path, "%s/output_output_BiasAdd_0.npy", out);
  deft_tensor *got = npy(path), *am = shared_npy(CH13 "expected/ch13_cnn/t10k_argmax.npy");
  ck_assert_int_eq(check_argmax(got, am, ty), 9885);
  deft_tensor_free(got);
  deft_tensor_free(am);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_status_free(st);
  unlink(t10k);
  cli_case(UT_PB, NULL, "Placeholder:0", UT "inputs/cifar10_cnn/Placeholder_0.npy",
           "fully_connect_2/logits:0", "fully_connect_2_logits_0.npy",
           UT "expected/cifar10_cnn/fully_connect_2_logits_0.npy", 1e-4);
  cli_case(UT_PB, NULL, "Placeholder:0", UT "inputs/cifar10_cnn/Placeholder_0.npy", "pred:0",
           "pred_0.npy", UT "expected/cifar10_cnn/pred_0.npy", 0);
  cli_case(MB_PB, NULL, "input:0", MB "inputs/mobilenet_v1_025_128/input_0.npy",
           "MobilenetV1/Logits/SpatialSqueeze:0", "MobilenetV1_Logits_SpatialSqueeze_0.npy",
           MB "expected/mobilenet_v1_025_128/MobilenetV1_Logits_SpatialSqueeze_0.npy", 1e-4);
  cli_case(MB_PB, NULL, "input:0", MB "inputs/mobilenet_v1_025_128/input_0.npy",
           "MobilenetV1/Predictions/Reshape_1:0", "MobilenetV1_Predictions_Reshape_1_0.npy",
           MB "expected/mobilenet_v1_025_128/MobilenetV1_Predictions_Reshape_1_0.npy", 1e-4);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tf1_cnn");
  TCase *tc = tcase_create("fixtures");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, ch13_logits_and_accuracy);
  tcase_add_test(tc, ch13_train_adam_steps);
  tcase_add_test(tc, utensor_cifar10);
  tcase_add_test(tc, mobilenet_v1);
  tcase_add_test(tc, all_through_deft_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
