/* tests/test_tf1_rnn.c - the unrolled recurrent models of ../shared/tf1 (see its CNN_RNN.md):
 * the tf2onnx MNIST LSTM (StridedSlice, Unpack, Split, Floor; 28 steps) and the char-rnn LSTM
 * (Gather v1, Split, Squeeze; 2 layers x 10 steps), both frozen GraphDefs. Each runs through the
 * library and through `deft run`, against the independently computed expected outputs (tolerance
 * |got - exp| <= 1e-4 (1 + |exp|)) and, for the MNIST LSTM, the exact t10k argmax (0.9826). */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deft/io.h"
#include "testutil.h"

#define LSTM "tf1/onnx__tensorflow-onnx/"
#define LSTM_PB LSTM "tests/models/lstm/frozen.pb"
#define CHAR "tf1/zaneoliver6__char-rnn-lstm-receipts/"
#define CHAR_PB CHAR "frozen_model.pb"

static deft_tensor *npy(const char *path) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t != NULL, "%s: %s", path, deft_status_message(st));
  deft_status_free(st);
  return t;
}

/* Callers check first (TU_REQUIRE_SHARED) that ../shared is there. */
static const char *shared(const char *rel) {
  const char *path = tu_shared_path(rel);
  ck_assert_msg(path != NULL, "%s is missing from ../shared", rel);
  return path;
}

static deft_tensor *shared_npy(const char *rel) { return npy(shared(rel)); }

static void check_close(const deft_tensor *got, const deft_tensor *want, const char *what) {
  ck_assert_int_eq(deft_tensor_rank(got), deft_tensor_rank(want));
  for (int k = 0; k < deft_tensor_rank(got); k++)
    ck_assert_int_eq(deft_tensor_dim(got, k), deft_tensor_dim(want, k));
  for (int64_t i = 0; i < deft_tensor_num_elements(want); i++) {
    double g = deft_tensor_get_double(got, i), w = deft_tensor_get_double(want, i);
    ck_assert_msg(fabs(g - w) <= 1e-4 * (1 + fabs(w)), "%s[%lld] = %.7g, expected %.7g", what,
                  (long long)i, g, w);
  }
}

/* Imports a frozen GraphDef from ../shared. */
static deft_graph *import_pb(const char *rel) {
  const char *path = shared(rel);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g != NULL, "%s: %s", rel, deft_status_message(st));
  deft_status_free(st);
  return g;
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

/* Runs one fetch with feeds on a new session. */
static deft_tensor *run1(deft_graph *g, const deft_output *feeds, deft_tensor *const *vals,
                         int nfeeds, deft_output fetch) {
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), nfeeds, &fetch, &out, 1, NULL, 0, st),
                "%s", deft_status_message(st));
  deft_session_free(s);
  deft_status_free(st);
  return out;
}

/* The row argmax of a [N, C] float tensor, checked against the expected per-image argmax
 * (int64 [N]) exactly; returns how many match `labels`. */
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
    ck_assert_msg(best == (int64_t)deft_tensor_get_double(want, i),
                  "image %lld: argmax %lld, expected %g", (long long)i, (long long)best,
                  deft_tensor_get_double(want, i));
    right += best == (int64_t)deft_tensor_get_double(labels, i);
  }
  return right;
}

static void load_t10k(deft_tensor **x, deft_tensor **y) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/mnist", tu_shared_dir());
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_mnist_load(dir, false, NULL, NULL, x, y, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

START_TEST(lstm_through_the_library) {
  TU_REQUIRE_SHARED(dir, LSTM_PB);
  (void)dir;
  deft_graph *g = import_pb(LSTM_PB);
  ck_assert_int_gt(count_type(g, "StridedSlice"), 0);
  ck_assert_int_eq(count_type(g, "Split"), 28);
  ck_assert_int_gt(count_type(g, "Floor"), 0);
  deft_tensor *x = shared_npy(LSTM "inputs/tf2onnx_lstm/X_0.npy");
  deft_tensor *kp = shared_npy(LSTM "inputs/tf2onnx_lstm/keep_prob_0.npy");
  deft_tensor *want = shared_npy(LSTM "expected/tf2onnx_lstm/output_0.npy");
  deft_output feeds[2] = {tensor(g, "X:0"), tensor(g, "keep_prob:0")};
  deft_tensor *vals[2] = {x, kp};
  deft_tensor *out = run1(g, feeds, vals, 2, tensor(g, "output:0"));
  check_close(out, want, "output:0");
  deft_tensor_free(out);
  /* the whole test set: per-image argmax exact, accuracy 0.9826 */
  deft_tensor *tx = NULL, *ty = NULL;
  load_t10k(&tx, &ty);
  deft_tensor *am = shared_npy(LSTM "expected/tf2onnx_lstm/t10k_argmax.npy");
  vals[0] = tx;
  out = run1(g, feeds, vals, 2, tensor(g, "output:0"));
  ck_assert_int_eq(check_argmax(out, am, ty), 9826);
  deft_tensor_free(out);
  deft_tensor_free(am);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_tensor_free(x);
  deft_tensor_free(kp);
  deft_tensor_free(want);
  deft_graph_free(g);
}
END_TEST

START_TEST(char_rnn_through_the_library) {
  TU_REQUIRE_SHARED(dir, CHAR_PB);
  (void)dir;
  deft_graph *g = import_pb(CHAR_PB);
  ck_assert_int_gt(count_type(g, "Gather"), 0);
  ck_assert_int_gt(count_type(g, "Split"), 0);
  deft_tensor *x = shared_npy(CHAR "inputs/char_rnn_lstm/input_data_0.npy");
  deft_tensor *want = shared_npy(CHAR "expected/char_rnn_lstm/probs_0.npy");
  deft_output in = tensor(g, "input_data:0");
  deft_tensor *out = run1(g, &in, &x, 1, tensor(g, "probs:0"));
  check_close(out, want, "probs:0");
  deft_tensor_free(out);
  /* a token id outside the [57,128] embedding fails the run naming the Gather */
  ((int32_t *)deft_tensor_data(x))[7] = 57;
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_output p = tensor(g, "probs:0");
  ck_assert(
      !deft_session_run(s, &in, (const deft_tensor *const[]){x}, 1, &p, &out, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Gather '", "indices[7] = 57", "[0, 57)");
  deft_session_free(s);
  deft_status_free(st);
  deft_tensor_free(x);
  deft_tensor_free(want);
  deft_graph_free(g);
}
END_TEST

/* ---- deft run ---- */

static const char *program(void) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/deft", DEFT_BINARY_DIR);
  struct stat sb;
  ck_assert_msg(stat(path, &sb) == 0 && (sb.st_mode & S_IXUSR), "%s was not built", path);
  return path;
}

/* Runs `deft` with args (NULL-terminated); returns the exit code (stderr goes to err_path). */
static int run_cli(const char *const *args, char *err_path, size_t size) {
  const char *prog = program();
  snprintf(err_path, size, "%s/rnn-cli-err.txt", tu_tmpdir());
  const char *argv[32];
  int n = 0;
  argv[n++] = prog;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int o = open("/dev/null", O_WRONLY);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(both_through_deft_run) {
  TU_REQUIRE_SHARED(lstm_pb, LSTM_PB);
  char lstm[4096], x[4200], kp[4200], out[512], err[512], path[700];
  snprintf(lstm, sizeof lstm, "%s", lstm_pb);
  TU_REQUIRE_SHARED(xs, LSTM "inputs/tf2onnx_lstm/X_0.npy");
  snprintf(x, sizeof x, "X:0=%s", xs);
  TU_REQUIRE_SHARED(kps, LSTM "inputs/tf2onnx_lstm/keep_prob_0.npy");
  snprintf(kp, sizeof kp, "keep_prob:0=%s", kps);
  snprintf(out, sizeof out, "%s/rnn-run", tu_tmpdir());
  int code = run_cli((const char *[]){"run", lstm, "--feed", x, "--feed", kp, "--fetch",
                                      "output:0", "--out", out, NULL}, err, sizeof err);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  snprintf(path, sizeof path, "%s/output_0.npy", out);
  deft_tensor *got = npy(path), *want = shared_npy(LSTM "expected/tf2onnx_lstm/output_0.npy");
  check_close(got, want, "deft run output:0");
  deft_tensor_free(got);
  deft_tensor_free(want);
  /* the test set, written as one .npy */
  deft_tensor *tx = NULL, *ty = NULL;
  load_t10k(&tx, &ty);
  char t10k[600];
  snprintf(t10k, sizeof t10k, "%s/t10k.npy", tu_tmpdir());
  deft_status *st = deft_status_new();
  ck_assert(deft_npy_write(t10k, tx, st));
  snprintf(x, sizeof x, "X:0=%s", t10k);
  code = run_cli((const char *[]){"run", lstm, "--feed", x, "--feed", kp, "--fetch", "output:0",
                                  "--out", out, NULL}, err, sizeof err);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  got = npy(path);
  deft_tensor *am = shared_npy(LSTM "expected/tf2onnx_lstm/t10k_argmax.npy");
  ck_assert_int_eq(check_argmax(got, am, ty), 9826);
  deft_tensor_free(got);
  deft_tensor_free(am);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  unlink(t10k);
  /* char-rnn */
  TU_REQUIRE_SHARED(char_pb, CHAR_PB);
  char cpb[4096], feed[4200];
  snprintf(cpb, sizeof cpb, "%s", char_pb);
  TU_REQUIRE_SHARED(ids, CHAR "inputs/char_rnn_lstm/input_data_0.npy");
  snprintf(feed, sizeof feed, "input_data=%s", ids);
  code = run_cli((const char *[]){"run", cpb, "--feed", feed, "--fetch", "probs", "--out", out,
                                  NULL}, err, sizeof err);
  ck_assert_msg(code == 0, "deft run exited %d (see %s)", code, err);
  snprintf(path, sizeof path, "%s/probs.npy", out);
  got = npy(path);
  want = shared_npy(CHAR "expected/char_rnn_lstm/probs_0.npy");
  check_close(got, want, "deft run probs");
  deft_tensor_free(got);
  deft_tensor_free(want);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tf1_rnn");
  TCase *tc = tcase_create("fixtures");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, lstm_through_the_library);
  tcase_add_test(tc, char_rnn_through_the_library);
  tcase_add_test(tc, both_through_deft_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
