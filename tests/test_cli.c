/* tests/test_cli.c - the `deft` program (tools/deft_cli.c): `deft dump` on the real TF files of
 * ../shared/tf1 (text, --node, --collections, --variables, --signatures, --json checked by
 * Python's json module, --dot) and on bad input (non-zero exit, message on stderr, no crash). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/pbio.h"
#include "testutil.h"

#define KK_DIR "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define KK_META KK_DIR "my_model_final.ckpt.meta"
#define KK_NEW_META KK_DIR "my_new_model_final.ckpt.meta"
#define SERVING_DIR "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO_DIR SERVING_DIR "saved_model_half_plus_two_cpu/00000123"
#define SIMPLE_MNIST "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb"

/* The program: "deft" once CMake can build an executable of that name next to the library
 * target "deft", "deft-cli" until then. */
static const char *program(void) {
  static char path[1024];
  const char *names[] = {"deft", "deft-cli"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", DEFT_BINARY_DIR, names[i]);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & S_IXUSR)) return path;
  }
  ck_abort_msg("the deft program was not built in %s", DEFT_BINARY_DIR);
  return NULL;
}

typedef struct result {
  int code; /* exit code, or 128 + signal */
  char *out, *err;
} result;

static char *slurp(const char *path) {
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(path, &data, &len, NULL));
  return (char *)data;
}

/* Runs the program with args (NULL-terminated), capturing stdout and stderr. */
static result run(const char *const *args) {
  const char *prog = program();
  char out_path[512], err_path[512];
  snprintf(out_path, sizeof out_path, "%s/cli-out.txt", tu_tmpdir());
  snprintf(err_path, sizeof err_path, "%s/cli-err.txt", tu_tmpdir());
  const char *argv[32];
  int n = 0;
  argv[n++] = prog;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

static void result_free(result *r) {
  deft_free(r->out);
  deft_free(r->err);
}

#define ASSERT_HAS(text, needle) \
  ck_assert_msg(strstr((text), (needle)) != NULL, "output lacks \"%s\":\n%.2000s", (needle), (text))

/* The line of `text` whose op-name column is `name`, or NULL. */
static const char *op_line(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strlen(p) > n + 2 && !strncmp(p + 2, name, n) && p[2 + n] == ' ') return p;
  return NULL;
}

START_TEST(dump_meta_graph) {
  TU_REQUIRE_SHARED(path, KK_META);
  result r = run((const char *[]){"dump", path, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "310 ops, 34 op types"); /* tf1/README.md */
  const char *x = op_line(r.out, "X");
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(x[0], ' '); /* a Placeholder: deft runs it */
  ASSERT_HAS(r.out, "GradientDescent");
  const char *assign = op_line(r.out, "hidden1/kernel/Assign");
  ck_assert_ptr_nonnull(assign);
  ck_assert(!strncmp(strstr(assign, "Assign "), "Assign ", 7));
  ASSERT_HAS(assign, "hidden1/kernel, hidden1/kernel/Initializer/random_uniform");
  ck_assert_str_eq(r.err, "");
  result_free(&r);
}
END_TEST

START_TEST(dump_unrunnable_marked) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_TWO_DIR);
  result r = run((const char *[]){"dump", dir, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  const char *pe = op_line(r.out, "ParseExample/ParseExample");
  ck_assert_ptr_nonnull(pe);
  ck_assert_int_eq(pe[0], '*');
  ASSERT_HAS(r.out, "deft cannot run");
  ASSERT_HAS(r.out, "ParseExample");
  result_free(&r);
}
END_TEST

START_TEST(dump_sections) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  /* variables: 784-300-50-50-50-50-10 dense layers = 258710 parameters (by hand) */
  result r = run((const char *[]){"dump", path, "--variables", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "12 variables, 258710 parameters");
  const char *k = strstr(r.out, "hidden1/kernel ");
  ck_assert_ptr_nonnull(k);
  ASSERT_HAS(k, "[784,300]");
  ASSERT_HAS(k, "235200");
  result_free(&r);
  r = run((const char *[]){"dump", path, "--collections", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "my_important_ops (node_list, 4 values)");
  ASSERT_HAS(r.out, "  eval/accuracy:0\n");
  ASSERT_HAS(r.out, "variables (bytes_list, 12 values)");
  result_free(&r);
  r = run((const char *[]){"dump", path, "--node", "hidden1/kernel/Initializer/random_uniform/shape",
                           NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "type:    Const");
  ASSERT_HAS(r.out, "attr value: tensor { dtype: DT_INT32");
  ASSERT_HAS(r.out, "values: [784, 300]");
  ASSERT_HAS(r.out, "attr _class: list { s: \"loc:@hidden1/kernel\" }");
  result_free(&r);
}
END_TEST

START_TEST(dump_signatures) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_TWO_DIR);
  char pb[1024];
  snprintf(pb, sizeof pb, "%s/saved_model.pb", dir);
  result r = run((const char *[]){"dump", pb, "--signatures", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "5 signatures");
  ASSERT_HAS(r.out, "serving_default (tensorflow/serving/predict)");
  ASSERT_HAS(r.out, "-> x:0 (float)");
  ASSERT_HAS(r.out, "-> y3:0 (float)");
  result_free(&r);
  r = run((const char *[]){"dump", dir, "--tag", "train", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "NOT_FOUND");
  ASSERT_HAS(r.err, "\"serve\"");
  ck_assert_str_eq(r.out, "");
  result_free(&r);
}
END_TEST

START_TEST(dump_json) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  char json_path[512];
  snprintf(json_path, sizeof json_path, "%s/dump.json", tu_tmpdir());
  const char *check =
      "import json, sys\n"
      "d = json.load(open(sys.argv[1]))\n"
      "assert d['format'] == 'MetaGraphDef' and d['num_ops'] == 310, d['num_ops']\n"
      "if sys.argv[2] == 'ops':\n"
      "    assert len(d['ops']) == 310\n"
      "    ops = {o['name']: o for o in d['ops']}\n"
      "    assert ops['hidden1/kernel/Assign']['inputs'] == ['hidden1/kernel',\n"
      "        'hidden1/kernel/Initializer/random_uniform'], ops['hidden1/kernel/Assign']\n"
      "    assert ops['X']['type'] == 'Placeholder' and ops['X']['runnable'] is True\n"
      "else:\n"
      "    assert d['total_parameters'] == 258710\n"
      "    assert len(d['variables']) == 12\n"
      "    c = d['collections']['my_important_ops']\n"
      "    assert c['kind'] == 'node_list' and c['items'] == ['X:0', 'y:0', 'eval/accuracy:0',\n"
      "        'GradientDescent'], c\n"
      "    assert d['node']['name'] == 'X' and 'shape' in d['node']['attrs']\n"
      "    assert d['signatures'] == {}\n";
  for (int mode = 0; mode < 2; mode++) {
    result r = mode ? run((const char *[]){"dump", path, "--json", "--variables", "--collections",
                                           "--node", "X", "--signatures", NULL})
                    : run((const char *[]){"dump", path, "--json", NULL});
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    FILE *f = fopen(json_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(r.out, f);
    fclose(f);
    const char *args[] = {json_path, mode ? "sections" : "ops", NULL};
    ck_assert_int_eq(tu_python(check, args), 0);
    result_free(&r);
  }
}
END_TEST

START_TEST(dump_dot_and_graph_def) {
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  result r = run((const char *[]){"dump", path, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "(GraphDef): 17 ops, 6 op types"); /* tf1/README.md */
  result_free(&r);
  r = run((const char *[]){"dump", path, "--dot", NULL});
  ck_assert_int_eq(r.code, 0);
  ck_assert(!strncmp(r.out, "digraph deft {", 14));
  ASSERT_HAS(r.out, "\"x\" -> \"Layer1/MatMul\";");
  ASSERT_HAS(r.out, "\"Layer1/W_fc1\" [label=\"Layer1/W_fc1\\nConst\"]");
  ck_assert(r.out[strlen(r.out) - 2] == '}');
  result_free(&r);
  r = run((const char *[]){"dump", path, "--variables", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "0 variables, 0 parameters"); /* frozen: weights are Consts */
  result_free(&r);
}
END_TEST

START_TEST(bad_input) {
  /* a file of random bytes */
  char bad[512];
  snprintf(bad, sizeof bad, "%s/garbage.meta", tu_tmpdir());
  uint8_t junk[2048];
  srand(7);
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rand();
  ck_assert(deft_write_file_atomic(bad, junk, sizeof junk, NULL));
  result r = run((const char *[]){"dump", bad, NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "DATA_LOSS");
  ASSERT_HAS(r.err, "garbage.meta");
  ck_assert_str_eq(r.out, "");
  result_free(&r);
  /* the same bytes as a GraphDef */
  snprintf(bad, sizeof bad, "%s/garbage.pb", tu_tmpdir());
  ck_assert(deft_write_file_atomic(bad, junk, sizeof junk, NULL));
  r = run((const char *[]){"dump", bad, "--json", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "GraphDef");
  result_free(&r);
  /* a missing file */
  r = run((const char *[]){"dump", "/nonexistent/model.meta", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "NOT_FOUND");
  ASSERT_HAS(r.err, "/nonexistent/model.meta");
  result_free(&r);
  /* usage errors */
  r = run((const char *[]){"dump", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "PATH");
  result_free(&r);
  r = run((const char *[]){"dump", bad, "--frobnicate", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "--frobnicate");
  result_free(&r);
  r = run((const char *[]){"dump", bad, "--node", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "--node");
  result_free(&r);
  r = run((const char *[]){"frob", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "unknown command 'frob'");
  result_free(&r);
  r = run((const char *[]){NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.out, "dump PATH");
  result_free(&r);
  r = run((const char *[]){"help", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "--signatures");
  result_free(&r);
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  r = run((const char *[]){"dump", path, "--node", "no/such/op", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "no op named 'no/such/op'");
  result_free(&r);
  r = run((const char *[]){"dump", path, "--signatures", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "no signatures");
  result_free(&r);
  r = run((const char *[]){"dump", path, "--dot", "--json", NULL});
  ck_assert_int_eq(r.code, 2);
  result_free(&r);
}
END_TEST

static Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("dump");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, dump_meta_graph);
  tcase_add_test(tc, dump_unrunnable_marked);
  tcase_add_test(tc, dump_sections);
  tcase_add_test(tc, dump_signatures);
  tcase_add_test(tc, dump_json);
  tcase_add_test(tc, dump_dot_and_graph_def);
  tcase_add_test(tc, bad_input);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(cli_suite()); }
