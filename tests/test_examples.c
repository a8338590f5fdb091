/* tests/test_examples.c - the example programs do what their READMEs say: mlp_forward's logits
 * and predictions on MNIST test images agree (to 1e-5) with a NumPy forward pass computed from the
 * same weights fetched out of the session. */
#include <stdlib.h>
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
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, mlp_forward_matches_numpy);
  tcase_add_test(tc, ch14_rnn_runs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
