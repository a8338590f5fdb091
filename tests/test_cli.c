/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_cli.c - the `deft` program (tools/deft.c): `deft dump` on the real TF files of
 * ../shared/tf1 (text, --node, --collections, --variables, --signatures, --json checked by
 * Python's json module, --dot) and on bad input (non-zero exit, message on stderr, no crash);
 * `deft run` on the SavedModels by signature, the KKeishiro meta graph with its checkpoint
 * (checked against an in-process evaluation), the frozen simple_mnist.pb, and its error paths. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "cli_testutil.h"
#include "testutil.h"

#define KK_DIR "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define KK_META KK_DIR "my_model_final.ckpt.meta"
#define KK_NEW_META KK_DIR "my_new_model_final.ckpt.meta"
#define SERVING_DIR "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO_DIR SERVING_DIR "saved_model_half_plus_two_cpu/00000123"
#define HALF_PLUS_THREE_DIR SERVING_DIR "saved_model_half_plus_three/00000123"
#define SIMPLE_MNIST "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb"

typedef cu_result result;

/* Runs the deft program with args. */
static result run(const char *const *args) { return cu_run_program(cu_deft_program(), args); }

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
  cu_result_free(&r);
}
END_TEST

START_TEST(dump_unrunnable_marked) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_TWO_DIR);
  result r = run((const char *[]){"dump", dir, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  /* deft runs ParseExample now: no node of this model is marked, and no summary line */
  const char *pe = op_line(r.out, "ParseExample/ParseExample");
  ck_assert_ptr_nonnull(pe);
  ck_assert_int_eq(pe[0], ' ');
  ck_assert_msg(!strstr(r.out, "deft cannot run"), "%s", r.out);
  cu_result_free(&r);
}
END_TEST

/* --variables --checkpoint: each variable's stored dtype/shape and a value summary; the summary
 * is checked against values read through the public checkpoint reader and summed here. */
START_TEST(dump_variables_with_checkpoint) {
  TU_REQUIRE_SHARED(meta, KK_NEW_META);
  char metap[4096];
  snprintf(metap, sizeof metap, "%s", meta);
  TU_REQUIRE_SHARED(ckpt, "tf1/KKeishiro__hands-on-machine-learning/186368e3/my_model_final.ckpt");
  result r = run((const char *[]){"dump", metap, "--variables", "--checkpoint", ckpt, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  deft_status *st = deft_status_new();
  deft_checkpoint_reader *rd = deft_checkpoint_reader_open(ckpt, st);
  ck_assert_ptr_nonnull(rd);
  deft_tensor *t = deft_checkpoint_reader_read(rd, "outputs/bias", st);
  double lo = 1e300;
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++)
    if (deft_tensor_get_double(t, i) < lo) lo = deft_tensor_get_double(t, i);
  char want[128];
  snprintf(want, sizeof want, "stored: float [10]  min %.6g", lo);
  ASSERT_HAS(strstr(r.out, "outputs/bias "), want);
  deft_tensor_free(t);
  deft_checkpoint_reader_free(rd);
  cu_result_free(&r);
  /* a checkpoint without the graph's variables says so per variable */
  TU_REQUIRE_SHARED(other, "tf1/haerfest__handson-ml/my_model_final.ckpt");
  r = run((const char *[]){"dump", metap, "--variables", "--checkpoint", other, NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "stored: missing from the checkpoint");
  cu_result_free(&r);
  /* an unreadable checkpoint fails with its path */
  r = run((const char *[]){"dump", metap, "--variables", "--checkpoint", "/no/such/ckpt", NULL});
  ck_assert_int_ne(r.code, 0);
  ASSERT_HAS(r.err, "/no/such/ckpt");
  cu_result_free(&r);
  r = run((const char *[]){"dump", metap, "--checkpoint", ckpt, NULL});
  ck_assert_int_ne(r.code, 0);
  ASSERT_HAS(r.err, "--checkpoint goes with --variables");
  cu_result_free(&r);
  deft_status_free(st);
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
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--collections", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "my_important_ops (node_list, 4 values)");
  ASSERT_HAS(r.out, "  eval/accuracy:0\n");
  ASSERT_HAS(r.out, "variables (bytes_list, 12 values)");
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--node",
                           "hidden1/kernel/Initializer/random_uniform/shape", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "type:    Const");
  ASSERT_HAS(r.out, "attr value: tensor { dtype: DT_INT32");
  ASSERT_HAS(r.out, "values: [784, 300]");
  ASSERT_HAS(r.out, "attr _class: list { s: \"loc:@hidden1/kernel\" }");
  cu_result_free(&r);
}
END_TEST

START_TEST(dump_signatures) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_TWO_DIR);
  char pb[1024];
  snprintf(pb, sizeof pb, "%s/saved_model.pb", dir);
  result r = run((const char *[]){"dump", pb, "--signatures", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "5 signatures");
  /* saved_model_cli show --all's form (TF 1.x's tools/saved_model_cli.py prints the same text) */
  ASSERT_HAS(r.out, "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:\n");
  ASSERT_HAS(r.out,
             "signature_def['serving_default']:\n"
             "  The given SavedModel SignatureDef contains the following input(s):\n"
             "    inputs['x'] tensor_info:\n"
             "        dtype: DT_FLOAT\n"
             "        shape: (-1, 1)\n"
             "        name: x:0\n"
             "  The given SavedModel SignatureDef contains the following output(s):\n"
             "    outputs['y'] tensor_info:\n"
             "        dtype: DT_FLOAT\n"
             "        shape: (-1, 1)\n"
             "        name: y:0\n"
             "  Method name is: tensorflow/serving/predict\n");
  /* the serialized tf.Example input: a string placeholder of unknown shape */
  ASSERT_HAS(r.out,
             "    inputs['inputs'] tensor_info:\n"
             "        dtype: DT_STRING\n"
             "        shape: unknown_rank\n"
             "        name: tf_example:0\n");
  ASSERT_HAS(r.out, "        name: y3:0\n");
  cu_result_free(&r);
  /* JSON: shapes as arrays, null for an unknown rank */
  r = run((const char *[]){"dump", pb, "--signatures", "--json", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  char json_path[512];
  snprintf(json_path, sizeof json_path, "%s/sig.json", tu_tmpdir());
  FILE *f = fopen(json_path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(r.out, f);
  fclose(f);
  const char *check =
      "import json, sys\n"
      "s = json.load(open(sys.argv[1]))['signatures']\n"
      "assert s['serving_default']['inputs'] == {'x': {'tensor': 'x:0', 'dtype': 'float',\n"
      "    'shape': [-1, 1]}}, s['serving_default']\n"
      "assert s['classify_x_to_y']['inputs']['inputs']['shape'] is None\n"
      "assert s['classify_x_to_y']['method'] == 'tensorflow/serving/classify'\n";
  ck_assert_int_eq(tu_python(check, (const char *[]){json_path, NULL}), 0);
  cu_result_free(&r);
  r = run((const char *[]){"dump", dir, "--tag", "train", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "NOT_FOUND");
  ASSERT_HAS(r.err, "\"serve\"");
  ck_assert_str_eq(r.out, "");
  cu_result_free(&r);
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
      "    assert ops['X']['outputs'] == [{'dtype': 'float', 'shape': [-1, 784]}], ops['X']\n"
      "    assert ops['y']['outputs'] == [{'dtype': 'int64', 'shape': None}], ops['y']\n"
      "    assert ops['dnn/hidden1/MatMul']['outputs'][0]['shape'] == [-1, 300]\n"
      "    assert ops['loss/loss']['outputs'][0]['shape'] == []\n"
      "    assert ops['init']['outputs'] == []\n"
      "    assert d['unsupported_op_types'] == {}\n"
      "else:\n"
      "    assert d['total_parameters'] == 258710\n"
      "    assert len(d['variables']) == 12\n"
      "    v = {x['name']: x for x in d['variables']}\n"
      "    assert v['hidden1/kernel']['shape'] == [784, 300], v['hidden1/kernel']\n"
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
    cu_result_free(&r);
  }
}
END_TEST

START_TEST(dump_dot_and_graph_def) {
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  result r = run((const char *[]){"dump", path, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "(GraphDef): 17 ops, 6 op types"); /* tf1/README.md */
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--dot", NULL});
  ck_assert_int_eq(r.code, 0);
  ck_assert(!strncmp(r.out, "digraph deft {", 14));
  ASSERT_HAS(r.out, "\"x\" -> \"Layer1/MatMul\";");
  ASSERT_HAS(r.out, "\"Layer1/W_fc1\" [label=\"Layer1/W_fc1\\nConst\"]");
  ck_assert(r.out[strlen(r.out) - 2] == '}');
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--variables", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "0 variables, 0 parameters"); /* frozen: weights are Consts */
  cu_result_free(&r);
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
  cu_result_free(&r);
  /* the same bytes as a GraphDef */
  snprintf(bad, sizeof bad, "%s/garbage.pb", tu_tmpdir());
  ck_assert(deft_write_file_atomic(bad, junk, sizeof junk, NULL));
  r = run((const char *[]){"dump", bad, "--json", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "GraphDef");
  cu_result_free(&r);
  /* a missing file */
  r = run((const char *[]){"dump", "/nonexistent/model.meta", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "NOT_FOUND");
  ASSERT_HAS(r.err, "/nonexistent/model.meta");
  cu_result_free(&r);
  /* usage errors */
  r = run((const char *[]){"dump", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "PATH");
  cu_result_free(&r);
  r = run((const char *[]){"dump", bad, "--frobnicate", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "--frobnicate");
  cu_result_free(&r);
  r = run((const char *[]){"dump", bad, "--node", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "--node");
  cu_result_free(&r);
  r = run((const char *[]){"frob", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "unknown command 'frob'");
  cu_result_free(&r);
  r = run((const char *[]){NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.out, "dump PATH");
  cu_result_free(&r);
  r = run((const char *[]){"help", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "--signatures");
  cu_result_free(&r);
  /* GNU conventions: --version, per-command help both ways, --opt=value, "--" */
  r = run((const char *[]){"--version", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "deft " DEFT_VERSION_STRING);
  ASSERT_HAS(r.out, deft_version());
  cu_result_free(&r);
  r = run((const char *[]){"dump", "--help", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "usage: deft dump PATH");
  ck_assert_ptr_null(strstr(r.out, "run PATH")); /* only dump's usage */
  cu_result_free(&r);
  r = run((const char *[]){"help", "run", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "usage: deft run PATH");
  ck_assert_ptr_null(strstr(r.out, "dump PATH"));
  cu_result_free(&r);
  r = run((const char *[]){"help", "frob", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "no command 'frob'");
  cu_result_free(&r);
  r = run((const char *[]){"dump", bad, "--node=no/such", NULL}); /* --opt=value is parsed */
  ck_assert_int_eq(r.code, 1);
  ck_assert_ptr_null(strstr(r.err, "unknown option"));
  cu_result_free(&r);
  r = run((const char *[]){"dump", "--", "--json", NULL}); /* after "--": a PATH */
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "--json");
  ck_assert_ptr_null(strstr(r.err, "unknown option"));
  cu_result_free(&r);
  r = run((const char *[]){"run", bad, "--fetch", "y", "--epoch", "1", NULL});
  ck_assert_int_eq(r.code, 2);
  ASSERT_HAS(r.err, "unknown option '--epoch' for run");
  cu_result_free(&r);
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  r = run((const char *[]){"dump", path, "--node", "no/such/op", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "no op named 'no/such/op'");
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--signatures", NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "no signatures");
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--dot", "--json", NULL});
  ck_assert_int_eq(r.code, 2);
  cu_result_free(&r);
}
END_TEST

/* ---- deft dump: outputs, columns, filters, raw collections, unsupported ops, corrupt data ---- */

static void tmp_file(char *path, size_t size, const char *name);

/* The column (0-based) where `word` starts on the line of `text` whose op-name column is name. */
static int word_column(const char *text, const char *name, const char *word) {
  const char *line = op_line(text, name);
  ck_assert_msg(line != NULL, "no line for op '%s'", name);
  const char *w = strstr(line + 2 + strlen(name), word);
  const char *eol = strchr(line, '\n');
  ck_assert_msg(w && (!eol || w < eol), "line of '%s' lacks '%s'", name, word);
  return (int)(w - line);
}

/* Output dtypes and shapes (from the file's Placeholder shape attr and TF's MatMul shape rule:
 * [?,784] x [784,300] -> [?,300]), aligned columns, --scope and --op-type. */
START_TEST(dump_outputs_and_filters) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  result r = run((const char *[]){"dump", path, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ck_assert_ptr_nonnull(strstr(op_line(r.out, "X"), "Placeholder"));
  int type_col = word_column(r.out, "X", "Placeholder");
  int out_col = word_column(r.out, "X", "float[?,784]");
  ck_assert_int_eq(word_column(r.out, "dnn/hidden1/MatMul", "MatMul"), type_col);
  ck_assert_int_eq(word_column(r.out, "dnn/hidden1/MatMul", "float[?,300]"), out_col);
  ck_assert_int_eq(word_column(r.out, "hidden1/kernel", "float[784,300]"), out_col);
  ck_assert_int_eq(word_column(r.out, "loss/loss", "float[]"), out_col);
  ck_assert_int_eq(word_column(r.out, "y", "int64<unknown>"), out_col);
  ck_assert_int_eq(word_column(r.out, "init", "NoOp"), type_col);
  ASSERT_HAS(op_line(r.out, "init"), " - ");  /* no outputs */
  const char *head = strchr(r.out, '\n') + 1; /* the column header */
  ck_assert_int_eq((int)(strstr(head, "type") - head), type_col);
  ck_assert_int_eq((int)(strstr(head, "outputs") - head), out_col);
  cu_result_free(&r);
  /* hidden1/'s ops of two types: the kernel and bias variables and their Assigns */
  r = run((const char *[]){"dump", path, "--scope=hidden1/", "--op-type=VariableV2,Assign", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "4 of 310 ops, 2 op types");
  ck_assert_ptr_nonnull(op_line(r.out, "hidden1/kernel"));
  ck_assert_ptr_nonnull(op_line(r.out, "hidden1/bias/Assign"));
  ck_assert_ptr_null(op_line(r.out, "hidden1/kernel/read"));
  ck_assert_ptr_null(op_line(r.out, "X"));
  ck_assert_ptr_null(op_line(r.out, "hidden2/kernel"));
  cu_result_free(&r);
  /* the filter applies to --variables and --dot too */
  r = run((const char *[]){"dump", path, "--variables", "--scope", "outputs/", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "2 variables, 510 parameters"); /* 50 x 10 + 10 */
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--dot", "--scope", "dnn/hidden1/", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "\"dnn/hidden1/MatMul\" -> \"dnn/hidden1/BiasAdd\";");
  ck_assert_ptr_null(strstr(r.out, "\"X\""));
  cu_result_free(&r);
  r = run((const char *[]){"dump", path, "--op-type=NoSuchType", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "0 of 310 ops, 0 op types");
  cu_result_free(&r);
}
END_TEST

/* Collections deft keeps serialized list their members, read from the file: TF names a tf.cond's
 * contexts "<cond scope>/cond_text" and "cond_text_1" (tf.layers.batch_normalization's cond in
 * the tao-bai model), a SavedModel's assets are Any-packed AssetFileDefs, tf.nn.dynamic_rnn's
 * while loop is "rnn/while/..." */
START_TEST(dump_raw_collections) {
  TU_REQUIRE_SHARED(bn, "tf1/tao-bai__Hands-on-Machine-Learning/my_model_final.ckpt.meta");
  result r = run((const char *[]){"dump", bn, "--collections", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out,
             "cond_context (bytes_list, 24 values)\n"
             "  (24 serialized values kept as imported:)\n"
             "  dnn/batch_normalization/cond/cond_text\n"
             "  dnn/batch_normalization/cond/cond_text_1\n");
  cu_result_free(&r);
  TU_REQUIRE_SHARED(three, HALF_PLUS_THREE_DIR);
  r = run((const char *[]){"dump", three, "--collections", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out,
             "saved_model_assets (any_list, 1 value)\n"
             "  (1 serialized value kept as imported:)\n"
             "  Any type.googleapis.com/tensorflow.AssetFileDef\n");
  cu_result_free(&r);
  TU_REQUIRE_SHARED(rnn, "tf1/rdcwuyy__handson-ml/my_time_series_model.meta");
  r = run((const char *[]){"dump", rnn, "--collections", "--json", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out,
             "\"while_context\": {\"kind\": \"bytes_list\", \"count\": 1, \"items\": [], "
             "\"raw\": [\"rnn/while/");
  cu_result_free(&r);
}
END_TEST

/* The op types deft cannot run, with counts (issue 13: on any TF1 file). */
START_TEST(dump_unsupported_types) {
  TU_REQUIRE_SHARED(two, HALF_PLUS_TWO_DIR);
  result r = run((const char *[]){"dump", two, "--unsupported", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  /* TF Serving's half_plus_two: its ParseExample (the classify/regress signatures) runs too */
  ck_assert_str_eq(r.out, "deft can run every op (it has a kernel for each op type)\n");
  cu_result_free(&r);
  r = run((const char *[]){"dump", two, "--unsupported", "--json", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "\"unsupported_op_types\": {}");
  ck_assert_ptr_null(strstr(r.out, "\"ops\""));
  cu_result_free(&r);
  /* ops deft has no kernel for, counted per type: a GraphDef of 3 Foo, 1 Bar and a Const */
  char pbtxt[512];
  tmp_file(pbtxt, sizeof pbtxt, "unknown_ops.pbtxt");
  FILE *f = fopen(pbtxt, "w");
  ck_assert_ptr_nonnull(f);
  fputs(
      "node { name: \"c\" op: \"Const\" attr { key: \"dtype\" value { type: DT_FLOAT } }\n"
      "  attr { key: \"value\" value { tensor { dtype: DT_FLOAT tensor_shape {} "
      "float_val: 1 } } } }\n"
      "node { name: \"a/f1\" op: \"Foo\" input: \"c\" }\n"
      "node { name: \"a/b1\" op: \"Bar\" input: \"a/f1\" }\n"
      "node { name: \"f2\" op: \"Foo\" input: \"c\" }\n"
      "node { name: \"f3\" op: \"Foo\" input: \"c\" }\n",
      f);
  fclose(f);
  r = run((const char *[]){"dump", pbtxt, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "* = deft cannot run this op (4 ops of 2 types, with counts: Foo x3 Bar x1)");
  cu_result_free(&r);
  r = run((const char *[]){"dump", pbtxt, "--unsupported", "--scope=a/", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "deft cannot run 2 ops of 2 types:\n");
  cu_result_free(&r);
  TU_REQUIRE_SHARED(kk, KK_META);
  r = run((const char *[]){"dump", kk, "--unsupported", NULL});
  ck_assert_int_eq(r.code, 0);
  ASSERT_HAS(r.out, "deft can run every op");
  cu_result_free(&r);
}
END_TEST

/* Copies the KKeishiro checkpoint's two files into dir (created). */
static void copy_checkpoint(const char *dir, const char *src_prefix) {
  ck_assert(mkdir(dir, 0777) == 0 || errno == EEXIST);
  const char *ext[] = {".index", ".data-00000-of-00001"};
  for (int i = 0; i < 2; i++) {
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s%s", src_prefix, ext[i]);
    snprintf(to, sizeof to, "%s/model.ckpt%s", dir, ext[i]);
    uint8_t *data;
    size_t len;
    ck_assert(deft_read_file(from, &data, &len, NULL));
    ck_assert(deft_write_file_atomic(to, data, len, NULL));
    deft_free(data);
  }
}

/* --variables --checkpoint with a damaged data file: the variable whose bytes changed is reported
 * (its CRC-32C no longer matches), the others are listed, and the exit status is 1. The checkpoint
 * may be named by its .index or .data file; a directory without a `checkpoint` file lists its
 * prefixes. */
START_TEST(dump_corrupt_checkpoint) {
  TU_REQUIRE_SHARED(meta_s, KK_NEW_META);
  char meta[4096];
  snprintf(meta, sizeof meta, "%s", meta_s);
  TU_REQUIRE_SHARED(ckpt, KK_DIR "my_model_final.ckpt");
  char good[512], bad[512], arg[600];
  snprintf(good, sizeof good, "%s/ckpt-good", tu_tmpdir());
  snprintf(bad, sizeof bad, "%s/ckpt-bad", tu_tmpdir());
  copy_checkpoint(good, ckpt);
  copy_checkpoint(bad, ckpt);
  /* flip every byte of the last 1000 of the data file (the last variable stored) */
  char data_path[600];
  snprintf(data_path, sizeof data_path, "%s/model.ckpt.data-00000-of-00001", bad);
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(data_path, &data, &len, NULL));
  for (size_t i = len - 1000; i < len; i++) data[i] ^= 0xff;
  ck_assert(deft_write_file_atomic(data_path, data, len, NULL));
  deft_free(data);
  snprintf(arg, sizeof arg, "%s/model.ckpt.index", good);
  result r = run((const char *[]){"dump", meta, "--variables", "--checkpoint", arg, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "stored: float [784,300]  min");
  ck_assert_ptr_null(strstr(r.out, "unreadable"));
  cu_result_free(&r);
  snprintf(arg, sizeof arg, "%s/model.ckpt.data-00000-of-00001", bad);
  r = run((const char *[]){"dump", meta, "--variables", "--checkpoint", arg, NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.out, "unreadable");
  ASSERT_HAS(r.out, "crc32c mismatch");
  ASSERT_HAS(r.out, "hidden1/kernel "); /* every variable is still listed */
  ASSERT_HAS(r.out, "12 variables, 258710 parameters");
  ASSERT_HAS(r.err, "DATA_LOSS");
  ASSERT_HAS(r.err, "model.ckpt");
  cu_result_free(&r);
  r = run((const char *[]){"dump", meta, "--variables", "--json", "--checkpoint", arg, NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.out, "\"error\": ");
  ASSERT_HAS(r.err, "DATA_LOSS");
  cu_result_free(&r);
  r = run((const char *[]){"dump", meta, "--variables", "--checkpoint", good, NULL});
  ck_assert_int_eq(r.code, 1);
  ASSERT_HAS(r.err, "NOT_FOUND");
  ASSERT_HAS(r.err, "no 'checkpoint' file");
  char want[600];
  snprintf(want, sizeof want, "1 checkpoint: %s/model.ckpt ", good);
  ASSERT_HAS(r.err, want);
  ck_assert_str_eq(r.out, "");
  cu_result_free(&r);
}
END_TEST

/* ---- deft run ---- */

/* path = <tmpdir>/<name> */
static void tmp_file(char *path, size_t size, const char *name) {
  snprintf(path, size, "%s/%s", tu_tmpdir(), name);
}

static void write_npy(const char *path, const deft_tensor *t) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_npy_write(path, t, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

static deft_tensor *read_npy(const char *path) {
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return t;
}

/* Writes x = [1, 2, 5] as float [3, 1] (the SavedModels' x:0 is [?,1]) to <tmpdir>/name. */
static void write_x(char *path, size_t size, const char *name, deft_dtype dtype) {
  tmp_file(path, size, name);
  int64_t dims[2] = {3, 1};
  deft_tensor *x = deft_tensor_new(dtype, dims, 2, NULL);
  ck_assert_ptr_nonnull(x);
  const double v[3] = {1, 2, 5};
  for (int i = 0; i < 3; i++) {
    if (dtype == DEFT_FLOAT) ((float *)deft_tensor_data(x))[i] = (float)v[i];
    else ((int64_t *)deft_tensor_data(x))[i] = (int64_t)v[i];
  }
  write_npy(path, x);
  deft_tensor_free(x);
}

/* The first n MNIST test images (float [n,784] in [0,1]) and labels (int32 [n]). */
static void mnist_head(int64_t n, deft_tensor **x, deft_tensor **y) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/mnist", tu_shared_dir());
  deft_status *st = deft_status_new();
  deft_tensor *tx = NULL, *ty = NULL;
  ck_assert_msg(deft_mnist_load(dir, false, NULL, NULL, &tx, &ty, st), "%s",
                deft_status_message(st));
  *x = deft_tensor_slice_rows(tx, 0, n, st);
  *y = deft_tensor_slice_rows(ty, 0, n, st);
  ck_assert(*x && *y);
  deft_tensor_free(tx);
  deft_tensor_free(ty);
  deft_status_free(st);
}

START_TEST(run_saved_model_signatures) {
  const char *dirs[2] = {HALF_PLUS_TWO_DIR, HALF_PLUS_THREE_DIR};
  const double want[2][3] = {{2.5, 3, 4.5}, {3.5, 4, 5.5}}; /* 0.5 x + 2, 0.5 x + 3 */
  char x[512];
  write_x(x, sizeof x, "x.npy", DEFT_FLOAT);
  for (int d = 0; d < 2; d++) {
    TU_REQUIRE_SHARED(shared, dirs[d]);
    char dir[4096], path[4200], feed[600], out[512], y[600];
    snprintf(dir, sizeof dir, "%s", shared);
    /* the directory for one, its saved_model.pb for the other */
    if (d) snprintf(path, sizeof path, "%s/saved_model.pb", dir);
    else snprintf(path, sizeof path, "%s", dir);
    snprintf(feed, sizeof feed, "x=%s", x);
    snprintf(out, sizeof out, "%s/run-sig-%d", tu_tmpdir(), d);
    /* `deft dump --signatures`: serving_default maps input x -> x:0 and output y -> y:0 */
    result r = run((const char *[]){"run", path, "--signature", "serving_default", "--feed", feed,
                                    "--out", out, NULL});
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    ck_assert_str_eq(r.err, "");
    ASSERT_HAS(r.out, "y (y:0): dtype float, shape [3,1]\n");
    if (d == 0) ASSERT_HAS(r.out, "[[2.5]\n [3]\n [4.5]]\n");
    snprintf(y, sizeof y, "%s/y.npy", out);
    ASSERT_HAS(r.out, y);
    deft_tensor *t = read_npy(y);
    ck_assert_int_eq(deft_tensor_dtype(t), DEFT_FLOAT);
    ck_assert_int_eq(deft_tensor_rank(t), 2);
    ck_assert_int_eq(deft_tensor_dim(t, 0), 3);
    for (int i = 0; i < 3; i++)
      ck_assert_msg(fabs(deft_tensor_get_double(t, i) - want[d][i]) < 1e-6, "y[%d] = %g", i,
                    deft_tensor_get_double(t, i));
    deft_tensor_free(t);
    cu_result_free(&r);
    /* by tensor names, variables restored from <dir>/variables without --checkpoint */
    snprintf(feed, sizeof feed, "x:0=%s", x);
    r = run((const char *[]){"run", path, "--feed", feed, "--fetch", "y:0", "--fetch", "y", NULL});
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    ASSERT_HAS(r.out, "y:0: dtype float, shape [3,1]\n");
    ASSERT_HAS(r.out, "y (y:0): dtype float, shape [3,1]\n");
    cu_result_free(&r);
  }
  /* a target alone */
  TU_REQUIRE_SHARED(two, HALF_PLUS_TWO_DIR);
  result r = run((const char *[]){"run", two, "--target", "init", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "ran init");
  cu_result_free(&r);
}
END_TEST

START_TEST(run_meta_graph_with_checkpoint) {
  TU_REQUIRE_SHARED(shared_meta, KK_META);
  char meta[4096], ckpt[4096];
  snprintf(meta, sizeof meta, "%s", shared_meta);
  TU_REQUIRE_SHARED(shared_ckpt, KK_DIR "my_model_final.ckpt");
  snprintf(ckpt, sizeof ckpt, "%s", shared_ckpt);
  deft_tensor *x, *labels;
  mnist_head(100, &x, &labels);
  /* in-process evaluation of the same 100 images */
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  deft_graph *g = deft_import_meta_graph(meta, NULL, &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  deft_saver *sv = deft_saver_from_names(g, deft_meta_graph_info_filename_tensor(info),
                                         deft_meta_graph_info_save_tensor(info),
                                         deft_meta_graph_info_restore_op(info), 0, st);
  ck_assert_msg(s && sv && deft_saver_restore(sv, s, ckpt, st), "%s", deft_status_message(st));
  deft_output feeds[2] = {deft_graph_tensor_by_name(g, "X:0", st),
                          deft_graph_tensor_by_name(g, "y:0", st)};
  deft_output acc = deft_graph_tensor_by_name(g, "eval/accuracy:0", st);
  ck_assert(feeds[0].op && feeds[1].op && acc.op);
  deft_dtype ydtype = deft_output_dtype(feeds[1]);
  int64_t n = 100;
  deft_tensor *y = deft_tensor_new(ydtype, &n, 1, st);
  ck_assert_ptr_nonnull(y);
  for (int64_t i = 0; i < n; i++) {
    int64_t v = (int64_t)deft_tensor_get_double(labels, i);
    if (ydtype == DEFT_INT64) ((int64_t *)deft_tensor_data(y))[i] = v;
    else ((int32_t *)deft_tensor_data(y))[i] = (int32_t)v;
  }
  deft_tensor *vals[2] = {x, y}, *a = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 2, &acc, &a, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  double want = deft_tensor_get_double(a, 0);
  ck_assert(want > 0.8 && want <= 1.0);
  /* the same through the program */
  char xp[512], yp[512], fx[600], fy[600], out[512], accp[600];
  tmp_file(xp, sizeof xp, "mnist100.npy");
  tmp_file(yp, sizeof yp, "labels100.npy");
  write_npy(xp, x);
  write_npy(yp, y);
  snprintf(fx, sizeof fx, "X:0=%s", xp);
  snprintf(fy, sizeof fy, "y:0=%s", yp);
  snprintf(out, sizeof out, "%s/run-kk", tu_tmpdir());
  result r = run((const char *[]){"run", meta, "--checkpoint", ckpt, "--feed", fx, "--feed", fy,
                                  "--fetch", "eval/accuracy:0", "--out", out, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "eval/accuracy:0: dtype float, shape []\n");
  snprintf(accp, sizeof accp, "%s/eval_accuracy_0.npy", out);
  deft_tensor *got = read_npy(accp);
  ck_assert_int_eq(deft_tensor_rank(got), 0);
  ck_assert_msg(fabs(deft_tensor_get_double(got, 0) - want) < 1e-7, "deft run: %g, in-process: %g",
                deft_tensor_get_double(got, 0), want);
  deft_tensor_free(got);
  cu_result_free(&r);
  /* a checkpoint directory means its latest checkpoint; "X" means "X:0" */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", ckpt);
  *strrchr(dir, '/') = 0;
  snprintf(fx, sizeof fx, "X=%s", xp);
  r = run((const char *[]){"run", meta, "--checkpoint", dir, "--feed", fx, "--feed", fy,
                           "--fetch", "eval/accuracy", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "eval/accuracy (eval/accuracy:0): dtype float, shape []\n");
  cu_result_free(&r);
  deft_tensor_free(a);
  deft_tensor_free(y);
  deft_tensor_free(x);
  deft_tensor_free(labels);
  deft_saver_free(sv);
  deft_session_free(s);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(run_frozen_graph) {
  TU_REQUIRE_SHARED(shared, SIMPLE_MNIST);
  char pb[4096];
  snprintf(pb, sizeof pb, "%s", shared);
  deft_tensor *x, *labels;
  mnist_head(10, &x, &labels); /* the graph's x is [10,784] */
  char xp[512], fx[600], out[512], p[600];
  tmp_file(xp, sizeof xp, "mnist10.npy");
  write_npy(xp, x);
  snprintf(fx, sizeof fx, "x:0=%s", xp);
  snprintf(out, sizeof out, "%s/run-frozen", tu_tmpdir());
  result r = run((const char *[]){"run", pb, "--feed", fx, "--fetch", "y_pred:0", "--fetch",
                                  "Layer1/MatMul:0", "--out", out, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "y_pred:0: dtype int64, shape [10]\n[");
  /* 1280 values: summarized like numpy, three items at each end of each dim */
  const char *mm = strstr(r.out, "Layer1/MatMul:0: dtype float, shape [10,128]\n[[");
  ck_assert_ptr_nonnull(mm);
  ASSERT_HAS(mm, " ... ");
  ASSERT_HAS(mm, "\n ...\n");
  snprintf(p, sizeof p, "%s/y_pred_0.npy", out);
  deft_tensor *pred = read_npy(p);
  ck_assert_int_eq(deft_tensor_num_elements(pred), 10);
  int right = 0;
  for (int i = 0; i < 10; i++)
    right += deft_tensor_get_double(pred, i) == deft_tensor_get_double(labels, i);
  ck_assert_msg(right >= 9, "only %d of the first 10 test digits right", right);
  snprintf(p, sizeof p, "%s/Layer1_MatMul_0.npy", out);
  deft_tensor *h = read_npy(p);
  ck_assert_int_eq(deft_tensor_dim(h, 0), 10);
  ck_assert_int_eq(deft_tensor_dim(h, 1), 128);
  deft_tensor_free(h);
  deft_tensor_free(pred);
  deft_tensor_free(x);
  deft_tensor_free(labels);
  cu_result_free(&r);
}
END_TEST

/* Runs args, expects exit `code` and every keyword on stderr, nothing on stdout. */
static void expect_fail(const char *const *args, int code, const char *const *keywords) {
  result r = run(args);
  ck_assert_msg(r.code == code, "exit %d (expected %d): %s", r.code, code, r.err);
  for (int i = 0; keywords[i]; i++) ASSERT_HAS(r.err, keywords[i]);
  ck_assert_str_eq(r.out, "");
  cu_result_free(&r);
}
#define EXPECT_FAIL(code, args, ...) \
  expect_fail((const char *[]){args, NULL}, (code), (const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) __VA_ARGS__

START_TEST(run_errors) {
  char x[512], xi[512], feed[600], feedi[600], nofile[600];
  write_x(x, sizeof x, "x.npy", DEFT_FLOAT);
  write_x(xi, sizeof xi, "xi.npy", DEFT_INT64);
  snprintf(feed, sizeof feed, "x:0=%s", x);
  snprintf(feedi, sizeof feedi, "x:0=%s", xi);
  snprintf(nofile, sizeof nofile, "x:0=%s/missing.npy", tu_tmpdir());
  /* a nonexistent PATH; usage errors need no files */
  EXPECT_FAIL(1, ARGS("run", "/nonexistent/model.meta", "--fetch", "y:0"), "NOT_FOUND",
              "/nonexistent/model.meta");
  EXPECT_FAIL(2, ARGS("run", "/nonexistent/model.meta", "--feed", "x:0"), "NAME=VALUE", "x:0");
  EXPECT_FAIL(2, ARGS("run", "/nonexistent/model.meta", "--feed", "=x.npy"), "NAME=VALUE");
  EXPECT_FAIL(2, ARGS("run", "/nonexistent/model.meta", "--feed"), "--feed", "needs a value");
  EXPECT_FAIL(2, ARGS("run", "/nonexistent/model.meta"), "--fetch");
  EXPECT_FAIL(2, ARGS("run", "--fetch", "y"), "PATH");
  EXPECT_FAIL(2, ARGS("run", "a.meta", "--fetch", "y", "--bogus"), "--bogus");

  TU_REQUIRE_SHARED(shared_two, HALF_PLUS_TWO_DIR);
  char two[4096];
  snprintf(two, sizeof two, "%s", shared_two);
  /* an unknown signature key lists the keys; an unknown input key lists the inputs */
  EXPECT_FAIL(1, ARGS("run", two, "--signature", "nope", "--feed", "x=x.npy"), "NOT_FOUND",
              "'nope'", "serving_default", "regress_x2_to_y3");
  EXPECT_FAIL(1, ARGS("run", two, "--signature", "serving_default", "--feed", "q=x.npy"),
              "NOT_FOUND", "'q'", "'x'");
  EXPECT_FAIL(1, ARGS("run", two, "--signature", "serving_default", "--feed", "x=x.npy",
                      "--fetch", "z"), "NOT_FOUND", "'z'", "'y'");
  /* y:0 is computed from its Example input, which must be fed */
  EXPECT_FAIL(1, ARGS("run", two, "--fetch", "y:0"), "INVALID_ARGUMENT", "tf_example", "must feed");
  /* unknown tensors and ops */
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "no/such:0"), "NOT_FOUND",
              "no/such");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "no/such=x.npy", "--fetch", "y"), "NOT_FOUND",
              "no/such");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y:7"), "OUT_OF_RANGE", "y:7");
  EXPECT_FAIL(1, ARGS("run", two, "--target", "no/such/op"), "NOT_FOUND", "no/such/op");
  /* feeds: a wrong dtype (the library's message names the tensor and both dtypes), a missing
   * file, a tensor fed twice */
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feedi, "--fetch", "y"), "INVALID_ARGUMENT", "x:0",
              "int64", "float");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", nofile, "--fetch", "y"), "NOT_FOUND", "missing.npy");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--feed", feed, "--fetch", "y"), "twice");
  /* --out onto a file */
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y", "--out", x), "not a directory");

  TU_REQUIRE_SHARED(shared_meta, KK_META);
  char meta[4096], missing[4200];
  snprintf(meta, sizeof meta, "%s", shared_meta);
  snprintf(missing, sizeof missing, "%s/no_such_model.ckpt", tu_tmpdir());
  EXPECT_FAIL(1, ARGS("run", meta, "--checkpoint", missing, "--fetch", "hidden1/kernel:0"),
              "NOT_FOUND", "no_such_model.ckpt");
  /* without --checkpoint the variables are uninitialized */
  EXPECT_FAIL(1, ARGS("run", meta, "--fetch", "hidden1/kernel/read:0"), "FAILED_PRECONDITION",
              "hidden1/kernel");

  TU_REQUIRE_SHARED(shared_pb, SIMPLE_MNIST);
  char pb[4096];
  snprintf(pb, sizeof pb, "%s", shared_pb);
  EXPECT_FAIL(1, ARGS("run", pb, "--signature", "serving_default"), "GraphDef", "no signatures");
  EXPECT_FAIL(1, ARGS("run", pb, "--checkpoint", missing, "--fetch", "y_pred:0"), "NOT_FOUND",
              "SaverDef");
  EXPECT_FAIL(1, ARGS("run", pb, "--fetch", "y_pred:0"), "INVALID_ARGUMENT", "placeholder 'x'");
}
END_TEST

/* Runs `deft run` on half_plus_two with --feed x=VALUE, fetching y into DIR/y.npy; checks y
 * against 0.5 x + 2 for the n values want_x (computed here). */
static void half_plus_two(const char *value, const double *want_x, int64_t n, int64_t rows) {
  TU_REQUIRE_SHARED(two, HALF_PLUS_TWO_DIR);
  char feed[1200], out[512], y[600];
  snprintf(feed, sizeof feed, "x=%s", value);
  snprintf(out, sizeof out, "%s/run-inline", tu_tmpdir());
  result r = run((const char *[]){"run", two, "--feed", feed, "--fetch", "y", "--out", out, NULL});
  ck_assert_msg(r.code == 0, "--feed %s: exit %d: %s", feed, r.code, r.err);
  snprintf(y, sizeof y, "%s/y.npy", out);
  deft_tensor *t = read_npy(y);
  ck_assert_int_eq(deft_tensor_dtype(t), DEFT_FLOAT);
  ck_assert_int_eq(deft_tensor_rank(t), 2);
  ck_assert_int_eq(deft_tensor_dim(t, 0), rows);
  ck_assert_int_eq(deft_tensor_num_elements(t), n);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(fabs(deft_tensor_get_double(t, i) - (0.5 * want_x[i] + 2)) < 1e-6,
                  "--feed %s: y[%d] = %g", feed, (int)i, deft_tensor_get_double(t, i));
  deft_tensor_free(t);
  cu_result_free(&r);
}

/* Inline values as saved_model_cli --input_exprs takes them; the dtype is the placeholder's. */
START_TEST(run_inline_inputs) {
  half_plus_two("[[1],[2],[5]]", (const double[]){1, 2, 5}, 3, 3);
  half_plus_two(" [ [1.5] , [-2e1], ] ", (const double[]){1.5, -20}, 2, 2);
  half_plus_two("np.ones((2,1))", (const double[]){1, 1}, 2, 2);
  half_plus_two("np.zeros([3, 1])", (const double[]){0, 0, 0}, 3, 3);
  half_plus_two("np.full((2,1),0.5)", (const double[]){0.5, 0.5}, 2, 2);
  half_plus_two("numpy.array([[4],[True]])", (const double[]){4, 1}, 2, 2);
  half_plus_two("np.ones((0,1))", NULL, 0, 0);
  /* KKeishiro's y is an int64 placeholder: the values take its dtype (fetching a fed tensor
   * gives the fed value) */
  TU_REQUIRE_SHARED(two_early_s, HALF_PLUS_TWO_DIR);
  char two_early[4096];
  snprintf(two_early, sizeof two_early, "%s", two_early_s);
  TU_REQUIRE_SHARED(meta_s, KK_META);
  char meta[4096], out[512], p[600];
  snprintf(meta, sizeof meta, "%s", meta_s);
  snprintf(out, sizeof out, "%s/run-inline-y", tu_tmpdir());
  result r = run((const char *[]){"run", meta, "--feed", "y=[3, -7, 9000000000]", "--fetch", "y",
                                  "--out", out, NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "y (y:0): dtype int64, shape [3]\n[3 -7 9000000000]\n");
  snprintf(p, sizeof p, "%s/y.npy", out);
  deft_tensor *t = read_npy(p);
  ck_assert_int_eq(deft_tensor_dtype(t), DEFT_INT64);
  ck_assert(((const int64_t *)deft_tensor_data(t))[2] == 9000000000LL);
  deft_tensor_free(t);
  cu_result_free(&r);
  EXPECT_FAIL(1, ARGS("run", meta, "--feed", "y=np.full((2,), 0.25)", "--fetch", "y"), "column 15",
              "0.25 is not an int64");
  r = run((const char *[]){"run", two_early, "--feed", "x=[[True],[False]]", "--fetch", "x", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "[[1]\n [0]]\n");
  cu_result_free(&r);
  r = run((const char *[]){"run", meta, "--feed", "y=True", "--fetch", "y", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "shape []\n1\n"); /* a bool literal as a scalar */
  cu_result_free(&r);
  r = run((const char *[]){"run", meta, "--feed", "y=5", "--fetch", "y", NULL});
  ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
  ASSERT_HAS(r.out, "y (y:0): dtype int64, shape []\n5\n"); /* a scalar */
  cu_result_free(&r);
  /* errors name the input and the column (1-based, in the expression) */
  TU_REQUIRE_SHARED(two_s, HALF_PLUS_TWO_DIR);
  char two[4096];
  snprintf(two, sizeof two, "%s", two_s);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1],[2,3]]", "--fetch", "y"), "INVALID_ARGUMENT",
              "--feed x=[[1],[2,3]]", "column 6", "2 items", "have 1");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1],2]", "--fetch", "y"), "--feed x=[[1],2]",
              "column 6", "ragged");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1],[2]", "--fetch", "y"), "column 9",
              "expected ',' or ']'", "end of the expression");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=np.onez((2,1))", "--fetch", "y"), "column 1",
              "unknown function 'onez'");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1]] junk", "--fetch", "y"), "column 7",
              "unexpected text");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1],[x]]", "--fetch", "y"), "column 7",
              "expected a number");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=np.ones((2,-1))", "--fetch", "y"), "column 12",
              "dim");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=np.ones((2,1), dtype=int)", "--fetch", "y"),
              "column 14", "the dtype is the fed tensor's");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1,2]]", "--fetch", "y"), "INVALID_ARGUMENT",
              "x:0"); /* the library's shape check: x is [?,1] */
  EXPECT_FAIL(1, ARGS("run", meta, "--feed", "y=[1, 2.5]", "--fetch", "y"), "--feed y=[1, 2.5]",
              "column 5", "2.5 is not an int64");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "tf_example=[1]", "--fetch", "y"), "UNIMPLEMENTED",
              "string", ".npy");
}
END_TEST

/* .npz archives as np.savez and np.savez_compressed write them (made by NumPy here). */
START_TEST(run_npz_inputs) {
  if (!tu_have_numpy()) ck_abort_msg("NumPy is needed (tools/install-deps.sh)");
  char plain[512], packed[512], one[512], broken[512];
  tmp_file(plain, sizeof plain, "feeds.npz");
  tmp_file(packed, sizeof packed, "feeds_z.npz");
  tmp_file(one, sizeof one, "one.npz");
  tmp_file(broken, sizeof broken, "broken.npz");
  const char *make =
      "import numpy as np, sys\n"
      "x = np.array([[1], [2], [5]], np.float32)\n"
      "np.savez(sys.argv[1], x=x, other=np.arange(4))\n"
      "np.savez_compressed(sys.argv[2], big=np.linspace(-1, 1, 1000, dtype=np.float32)\n"
      "    .reshape(1000, 1), x=x)\n"
      "np.savez(sys.argv[3], only=np.array([[7]], np.float32))\n"
      "np.savez_compressed(sys.argv[4], x=x)\n"
      "b = bytearray(open(sys.argv[4], 'rb').read())\n"
      "for i in range(64, 80): b[i] ^= 0x5a\n" /* in x.npy's deflate data (it starts at 57) */
      "open(sys.argv[4], 'wb').write(bytes(b))\n";
  ck_assert_int_eq(tu_python(make, (const char *[]){plain, packed, one, broken, NULL}), 0);
  char v[600];
  snprintf(v, sizeof v, "%s[x]", plain);
  half_plus_two(v, (const double[]){1, 2, 5}, 3, 3);
  snprintf(v, sizeof v, "%s[x]", packed);
  half_plus_two(v, (const double[]){1, 2, 5}, 3, 3);
  double lin[1000];
  for (int i = 0; i < 1000; i++) lin[i] = -1 + 2.0 * i / 999;
  snprintf(v, sizeof v, "%s[big]", packed);
  half_plus_two(v, lin, 1000, 1000);
  half_plus_two(one, (const double[]){7}, 1, 1); /* one array: no key needed */
  TU_REQUIRE_SHARED(two_s, HALF_PLUS_TWO_DIR);
  char two[4096], feed[700];
  snprintf(two, sizeof two, "%s", two_s);
  snprintf(feed, sizeof feed, "x=%s[nokey]", plain);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y"), "NOT_FOUND", "no array 'nokey'",
              "'x', 'other'", "feeds.npz");
  snprintf(feed, sizeof feed, "x=%s", plain);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y"), "holds 2 arrays", "[KEY]");
  snprintf(feed, sizeof feed, "x=%s[x]", broken);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y"), "DATA_LOSS", "broken.npz");
  char ck[600];
  tmp_file(ck, sizeof ck, "notzip.npz");
  ck_assert(deft_write_file_atomic(ck, "not a zip archive", 17, NULL));
  snprintf(feed, sizeof feed, "x=%s[x]", ck);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y"), "DATA_LOSS", "not a zip");
  snprintf(feed, sizeof feed, "x=%s/missing.npz[x]", tu_tmpdir());
  EXPECT_FAIL(1, ARGS("run", two, "--feed", feed, "--fetch", "y"), "NOT_FOUND", "missing.npz");
}
END_TEST

/* Names: "did you mean" for a case or a typo, --target for an op without outputs, checkpoint
 * files and directories as --checkpoint. */
START_TEST(run_names_and_checkpoints) {
  TU_REQUIRE_SHARED(two_s, HALF_PLUS_TWO_DIR);
  char two[4096];
  snprintf(two, sizeof two, "%s", two_s);
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1]]", "--fetch", "Y"), "NOT_FOUND",
              "did you mean 'y'?");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "x=[[1]]", "--fetch", "Y:0"), "did you mean 'y:0'?");
  EXPECT_FAIL(1, ARGS("run", two, "--feed", "X=[[1]]", "--fetch", "y"), "--feed X=[[1]]",
              "did you mean 'x'?");
  EXPECT_FAIL(1, ARGS("run", two, "--target", "INIT"), "did you mean 'init'?");
  EXPECT_FAIL(1, ARGS("run", two, "--target", "inti"), "did you mean 'init'?"); /* a typo */
  result r = run((const char *[]){"run", two, "--target", "zzzzzz", NULL});
  ck_assert_int_eq(r.code, 1);
  ck_assert_ptr_null(strstr(r.err, "did you mean")); /* nothing close */
  cu_result_free(&r);
  EXPECT_FAIL(1, ARGS("run", two, "--fetch", "init"), "'init' is an op with no outputs (NoOp)",
              "--target");

  TU_REQUIRE_SHARED(meta_s, KK_META);
  char meta[4096], ckpt[4096], arg[4200], out[512], p[600];
  snprintf(meta, sizeof meta, "%s", meta_s);
  TU_REQUIRE_SHARED(ckpt_s, KK_DIR "my_model_final.ckpt");
  snprintf(ckpt, sizeof ckpt, "%s", ckpt_s);
  deft_status *st = deft_status_new();
  deft_checkpoint_reader *rd = deft_checkpoint_reader_open(ckpt, st);
  ck_assert_msg(rd != NULL, "%s", deft_status_message(st));
  deft_tensor *want = deft_checkpoint_reader_read(rd, "outputs/bias", st);
  ck_assert_ptr_nonnull(want);
  const char *ext[] = {".index", ".data-00000-of-00001"};
  for (int i = 0; i < 2; i++) {
    snprintf(arg, sizeof arg, "%s%s", ckpt, ext[i]);
    snprintf(out, sizeof out, "%s/run-ckpt-%d", tu_tmpdir(), i);
    r = run((const char *[]){"run", meta, "--checkpoint", arg, "--fetch", "outputs/bias", "--out",
                             out, NULL});
    ck_assert_msg(r.code == 0, "--checkpoint %s: exit %d: %s", arg, r.code, r.err);
    snprintf(p, sizeof p, "%s/outputs_bias.npy", out);
    deft_tensor *got = read_npy(p);
    ck_assert_int_eq(deft_tensor_num_elements(got), 10);
    ck_assert(!memcmp(deft_tensor_data(got), deft_tensor_data(want), 10 * sizeof(float)));
    deft_tensor_free(got);
    cu_result_free(&r);
  }
  /* a directory without a `checkpoint` file: its prefixes, sorted */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/two-ckpts", tu_tmpdir());
  copy_checkpoint(dir, ckpt);
  char dir_b[600];
  snprintf(dir_b, sizeof dir_b, "%s/a-first", dir);
  snprintf(arg, sizeof arg, "%s/model.ckpt.index", dir);
  snprintf(p, sizeof p, "%s/a-first.index", dir);
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(arg, &data, &len, NULL));
  ck_assert(deft_write_file_atomic(p, data, len, NULL));
  deft_free(data);
  char want_msg[1200];
  snprintf(want_msg, sizeof want_msg, "holds 2 checkpoints: %s/a-first, %s/model.ckpt", dir, dir);
  EXPECT_FAIL(1, ARGS("run", meta, "--checkpoint", dir, "--fetch", "outputs/bias"), "NOT_FOUND",
              "no 'checkpoint' file", want_msg);
  deft_tensor_free(want);
  deft_checkpoint_reader_free(rd);
  deft_status_free(st);
}
END_TEST

/* ---- manual pages ---- */

/* Adds the distinct long options ("--name") of text to set (a '\n'-separated list in a buffer of
 * size bytes). In roff, "\-" is a hyphen. */
static void long_options(const char *text, char *set, size_t size) {
  for (const char *p = text; *p; p++) {
    const char *q = p;
    int dashes = 0;
    while (dashes < 2 && (*q == '-' || (q[0] == '\\' && q[1] == '-')))
      q += *q == '-' ? 1 : 2, dashes++;
    if (dashes < 2 || !(*q >= 'a' && *q <= 'z') || (p > text && (p[-1] == '-' || p[-1] == '\\')))
      continue;
    char opt[64] = "--";
    size_t n = 2;
    while (n < sizeof opt - 1 &&
           ((*q >= 'a' && *q <= 'z') || *q == '_' || *q == '-' || (q[0] == '\\' && q[1] == '-'))) {
      if (*q == '\\') q++;
      opt[n++] = *q++;
    }
    opt[n] = 0;
    while (n > 2 && opt[n - 1] == '-') opt[--n] = 0;
    char line[70];
    snprintf(line, sizeof line, "\n%s\n", opt);
    if (!strstr(set, line) && strlen(set) + n + 2 < size) {
      if (!*set) strcat(set, "\n");
      strcat(set, opt + 0);
      strcat(set, "\n");
    }
    p = q - 1;
  }
}

/* Every long option of the program's help is on its manual page and the other way round (the
 * page may add --help, which the usage text does not list). */
static void check_page_options(const char *page, const char *help) {
  char *roff = cu_slurp(page);
  static char a[8192], b[8192];
  a[0] = b[0] = 0;
  long_options(help, a, sizeof a);
  long_options(roff, b, sizeof b);
  ck_assert_msg(strlen(a) > 20, "no options in the help text:\n%s", help);
  for (int side = 0; side < 2; side++) {
    const char *from = side ? b : a, *in = side ? a : b;
    for (const char *p = from + 1; *p; p = strchr(p, '\n') + 1) {
      char opt[80];
      snprintf(opt, sizeof opt, "\n%.*s\n", (int)(strchr(p, '\n') - p), p);
      if (!strcmp(opt, "\n--help\n")) continue;
      ck_assert_msg(strstr(in, opt) != NULL, "%s: option %.*s is %s", page, (int)strlen(opt) - 2,
                    opt + 1,
                    side ? "on the page but not in --help" : "in --help but not on the page");
    }
  }
  deft_free(roff);
}

START_TEST(man_pages_match_help) {
  result r = run((const char *[]){"help", NULL});
  ck_assert_int_eq(r.code, 0);
  check_page_options("man/deft.1", r.out);
  ASSERT_HAS(r.out, "--op-type"); /* the option list is real */
  cu_result_free(&r);
  char train[1024];
  snprintf(train, sizeof train, "%s/deft-train", DEFT_BINARY_DIR);
  r = cu_run_program(train, (const char *[]){"--help", NULL});
  ck_assert_int_eq(r.code, 0);
  check_page_options("man/deft-train.1", r.out);
  cu_result_free(&r);
}
END_TEST

#ifdef DEFT_MAN_PROGRAM
/* man -l renders each page with no troff warning, and the text has the sections. */
START_TEST(man_pages_render) {
  const char *pages[] = {"man/deft.1", "man/deft-train.1"};
  for (int i = 0; i < 2; i++) {
    setenv("MANWIDTH", "80", 1);
    result r =
        cu_run_program(DEFT_MAN_PROGRAM, (const char *[]){"-l", "--warnings=w", pages[i], NULL});
    ck_assert_msg(r.code == 0, "%s: man exit %d: %s", pages[i], r.code, r.err);
    ck_assert_msg(r.err[0] == 0, "%s: troff warnings:\n%s", pages[i], r.err);
    ASSERT_HAS(r.out, "SYNOPSIS");
    ASSERT_HAS(r.out, "EXIT STATUS");
    cu_result_free(&r);
  }
}
END_TEST
#endif

static Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("dump");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, dump_meta_graph);
  tcase_add_test(tc, dump_unrunnable_marked);
  tcase_add_test(tc, dump_sections);
  tcase_add_test(tc, dump_variables_with_checkpoint);
  tcase_add_test(tc, dump_signatures);
  tcase_add_test(tc, dump_json);
  tcase_add_test(tc, dump_dot_and_graph_def);
  tcase_add_test(tc, bad_input);
  tcase_add_test(tc, dump_outputs_and_filters);
  tcase_add_test(tc, dump_raw_collections);
  tcase_add_test(tc, dump_unsupported_types);
  tcase_add_test(tc, dump_corrupt_checkpoint);
  suite_add_tcase(s, tc);
  tc = tcase_create("run");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, run_saved_model_signatures);
  tcase_add_test(tc, run_meta_graph_with_checkpoint);
  tcase_add_test(tc, run_frozen_graph);
  tcase_add_test(tc, run_errors);
  tcase_add_test(tc, run_inline_inputs);
  tcase_add_test(tc, run_npz_inputs);
  tcase_add_test(tc, run_names_and_checkpoints);
  suite_add_tcase(s, tc);
  tc = tcase_create("man");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, man_pages_match_help);
#ifdef DEFT_MAN_PROGRAM
  tcase_add_test(tc, man_pages_render);
#endif
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(cli_suite()); }
