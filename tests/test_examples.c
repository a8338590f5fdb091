/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_examples.c - the example programs do what their READMEs say: mlp_forward's logits
 * and predictions on MNIST test images agree (to 1e-5) with a NumPy forward pass computed from the
 * same weights fetched out of the session; ch13_cnn, on a short run (one epoch over 3,000
 * images), learns, saves, re-imports with the same test accuracy and keeps learning; ch14_rnn
 * trains its two models (see its test). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

START_TEST(mlp_forward_matches_numpy) {
  TU_REQUIRE_SHARED(mnist, "data/mnist");
  char dir[512], cmd[8192];
  snprintf(dir, sizeof dir, "%s/mlp", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(cmd, sizeof cmd, "%s/examples/mlp_forward --data '%s' --count 500 --dump '%s' > %s/out.txt",
           DEFT_BINARY_DIR, mnist, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  const char *script =
      "import sys, numpy as np\n"
      "d = sys.argv[1]\n"
      "L = lambda n: np.load(d + '/' + n + '.npy')\n"
      "x = L('x').astype(np.float64)\n"
      "assert x.shape == (500, 784) and x.min() >= 0 and x.max() <= 1\n"
      "elu = lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))\n"
      "h1 = elu(x @ L('hidden1_kernel') + L('hidden1_bias'))\n"
      "h2 = elu(h1 @ L('hidden2_kernel') + L('hidden2_bias'))\n"
      "logits = h2 @ L('outputs_kernel') + L('outputs_bias')\n"
      "got = L('logits')\n"
      "assert got.dtype == np.float32 and got.shape == (500, 10)\n"
      "err = np.abs(got - logits).max()\n"
      "assert err <= 1e-5 * max(1.0, np.abs(logits).max()), err\n"
      "assert (L('predictions') == np.argmax(logits, 1)).all()\n"
      "print('max abs error', err)\n";
  const char *args[2] = {dir, NULL};
  ck_assert_int_eq(tu_python(script, args), 0);
}
END_TEST

/* The line of `out` starting with `prefix`, parsed for the number after `key`; -1 if absent. */
static double field(const char *out, const char *prefix, const char *key) {
  const char *l = strstr(out, prefix);
  if (!l) return -1;
  const char *k = strstr(l, key);
  return k ? atof(k + strlen(key)) : -1;
}

START_TEST(ch13_cnn_short_run) {
  TU_REQUIRE_SHARED(mnist, "data/mnist");
  char dir[512], cmd[8192], path[700];
  snprintf(dir, sizeof dir, "%s/ch13", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/out.txt", dir);
  snprintf(cmd, sizeof cmd, "%s/examples/ch13_cnn --data '%s' --workdir '%s' --epochs 1 "
           "--train-count 3000 --test-count 1000 > %s", DEFT_BINARY_DIR, mnist, dir, path);
  ck_assert_int_eq(system(cmd), 0);
  char out[4096] = {0};
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  fclose(f);
  out[n] = 0;
  double acc0 = field(out, "epoch 0", "test_acc "), restored = field(out, "restored", "test_acc ");
  double cont = field(out, "continued", "test_acc ");
  ck_assert_msg(acc0 >= 0.75, "after 30 steps test accuracy %.4f < 0.75:\n%s", acc0, out);
  ck_assert_msg(restored == acc0 && strstr(out, "(same)"), "restored accuracy differs:\n%s", out);
  ck_assert_msg(cont > acc0, "continued training did not improve:\n%s", out);
  snprintf(path, sizeof path, "%s/my_mnist_model.meta", dir);
  struct stat sb;
  ck_assert_int_eq(stat(path, &sb), 0);
}
END_TEST

/* ch14_rnn: the time-series RNN's MSE falls below 0.1 in 300 Adam steps (the program exits
 * non-zero otherwise), and the MNIST row RNN, saved and re-imported, gives the identical test
 * accuracy and trains on (a short run on 3,000 images). */
START_TEST(ch14_rnn_runs) {
  TU_REQUIRE_SHARED(mnist, "data/mnist");
  char dir[512], cmd[8192];
  snprintf(dir, sizeof dir, "%s/ch14", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(cmd, sizeof cmd,
           "%s/examples/ch14_rnn --model series --iterations 300 --workdir '%s' > %s/series.txt",
           DEFT_BINARY_DIR, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "%s/examples/ch14_rnn --model basic --epochs 1 --limit 3000 --data '%s' "
           "--workdir '%s' > %s/basic.txt && grep -q 'identical' %s/basic.txt",
           DEFT_BINARY_DIR, mnist, dir, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("examples");
  TCase *tc = tcase_create("programs");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, mlp_forward_matches_numpy);
  tcase_add_test(tc, ch13_cnn_short_run);
  tcase_add_test(tc, ch14_rnn_runs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
