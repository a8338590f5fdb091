/* tests/test_import.c - graph <-> GraphDef / MetaGraphDef / SavedModel (graph/import*.c,
 * graph/export.c, runtime/tensor_proto.c): every real TF file in ../shared/tf1 (checked against
 * tf1/README.md and against an independent pure-Python wire-format parser), round trips of
 * deft-built and TF-written graphs, the bytes TF requires in deft's exports, TensorProto rules,
 * and bad input of every kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.pb-c.h"
#include "graph/graph_internal.h"
#include "meta_graph.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/pbio.h"
#include "runtime/tensor_internal.h"
#include "runtime/tensor_proto.h"
#include "testutil.h"

#define KK_DIR "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define KK_META KK_DIR "my_model_final.ckpt.meta"
#define KK_NEW_META KK_DIR "my_new_model_final.ckpt.meta"
#define HAERFEST_META "tf1/haerfest__handson-ml/my_model_final.ckpt.meta"
#define TAOBAI_META "tf1/tao-bai__Hands-on-Machine-Learning/my_model_final.ckpt.meta"
#define SERVING_DIR "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO_DIR SERVING_DIR "saved_model_half_plus_two_cpu/00000123"
#define HALF_PLUS_THREE_DIR SERVING_DIR "saved_model_half_plus_three/00000123"
#define SIMPLE_MNIST "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb"

/* ---- helpers ---- */

static char *tmp_path(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
  return p;
}

static deft_graph *import_meta_ok(const char *path, deft_meta_graph_info **info) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_meta_graph(path, NULL, info, st);
  ck_assert_msg(g != NULL, "import of %s failed: %s", path, deft_status_message(st));
  deft_status_free(st);
  return g;
}

static int count_type(const deft_graph *g, const char *type) {
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    n += strcmp(deft_op_type(deft_graph_op_at(g, i)), type) == 0;
  return n;
}

static int distinct_types(const deft_graph *g) {
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++) {
    const char *t = deft_op_type(deft_graph_op_at(g, i));
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) seen = !strcmp(deft_op_type(deft_graph_op_at(g, j)), t);
    n += !seen;
  }
  return n;
}

static int collection_count(const deft_graph *g, const char *key) {
  return deft_graph_get_collection(g, key, NULL, NULL, 0, NULL);
}

static deft_output collection_item(const deft_graph *g, const char *key, int i) {
  deft_output items[64];
  int n = deft_graph_get_collection(g, key, NULL, items, 64, NULL);
  ck_assert_int_lt(i, n);
  return items[i];
}

static void write_bytes(const char *path, const void *data, size_t len) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_write_file_atomic(path, data, len, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

/* An independent reader: a pure-Python protobuf wire parser (no TensorFlow, no protobuf
 * package). For a GraphDef ("graph"), MetaGraphDef ("meta") or SavedModel ("saved") it writes:
 *   N <nodes> <distinct op types>
 *   n <name> <op> <inputs, comma-separated> <attr keys, comma-separated>
 *   c <collection key> <kind field number> <value count>
 * tab-separated, to the output file. */
static const char *wire_py =
    "import sys\n"
    "def varint(b, i):\n"
    "    r = s = 0\n"
    "    while True:\n"
    "        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7\n"
    "        if c < 0x80: return r, i\n"
    "def fields(b):\n"
    "    i = 0\n"
    "    while i < len(b):\n"
    "        k, i = varint(b, i); f, w = k >> 3, k & 7\n"
    "        if w == 0: v, i = varint(b, i)\n"
    "        elif w == 1: v = b[i:i+8]; i += 8\n"
    "        elif w == 5: v = b[i:i+4]; i += 4\n"
    "        elif w == 2:\n"
    "            n, i = varint(b, i); v = b[i:i+n]; i += n\n"
    "        else: raise SystemExit('bad wire type %d' % w)\n"
    "        yield f, w, v\n"
    "def first(b, num): return [v for f, w, v in fields(b) if f == num][0]\n"
    "kind, path, out = sys.argv[1:4]\n"
    "data = open(path, 'rb').read()\n"
    "meta = None\n"
    "if kind == 'graph': gd = data\n"
    "elif kind == 'meta': meta = data\n"
    "else: meta = first(data, 2)\n"
    "if meta is not None: gd = first(meta, 2)\n"
    "lines = []; ops = set(); n = 0\n"
    "for f, w, v in fields(gd):\n"
    "    if f != 1: continue\n"
    "    name = op = ''; ins = []; keys = []\n"
    "    for f2, w2, v2 in fields(v):\n"
    "        if f2 == 1: name = v2.decode()\n"
    "        elif f2 == 2: op = v2.decode()\n"
    "        elif f2 == 3: ins.append(v2.decode())\n"
    "        elif f2 == 5: keys.append(first(v2, 1).decode())\n"
    "    lines.append('n\\t%s\\t%s\\t%s\\t%s' % (name, op, ','.join(ins), ','.join(keys)))\n"
    "    ops.add(op); n += 1\n"
    "if meta is not None:\n"
    "    for f, w, v in fields(meta):\n"
    "        if f != 4: continue\n"
    "        key = first(v, 1).decode()\n"
    "        for f2, w2, v2 in fields(first(v, 2)):\n"
    "            lines.append('c\\t%s\\t%d\\t%d' % (key, f2, sum(1 for x in fields(v2))))\n"
    "with open(out, 'w') as o:\n"
    "    o.write('N\\t%d\\t%d\\n' % (n, len(ops)))\n"
    "    o.write('\\n'.join(lines) + '\\n')\n";

static char *read_text(const char *path) {
  uint8_t *data;
  size_t len;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_read_file(path, &data, &len, st), "%s", deft_status_message(st));
  deft_status_free(st);
  return (char *)data;
}

/* Formats op's inputs like a NodeDef: "x", "x:k", "^c", comma-separated. */
static void format_inputs(const deft_op *op, char *buf, size_t size) {
  size_t pos = 0;
  buf[0] = 0;
  for (int i = 0; i < deft_op_num_inputs(op); i++) {
    deft_output in = deft_op_input(op, i);
    if (in.index) pos += (size_t)snprintf(buf + pos, size - pos, "%s%s:%d", i ? "," : "",
                                          deft_op_name(in.op), in.index);
    else pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", i ? "," : "", deft_op_name(in.op));
  }
  for (int i = 0; i < deft_op_num_control_inputs(op); i++)
    pos += (size_t)snprintf(buf + pos, size - pos, "%s^%s", pos ? "," : "",
                            deft_op_name(deft_op_control_input(op, i)));
}

/* Compares g with what the Python parser reads from the file: every node (name, type, inputs in
 * order), every attr key the file has, node and type counts, collection kinds and sizes. */
static void check_against_python(const deft_graph *g, const char *kind, const char *path) {
  const char *out = tmp_path("wire.txt");
  const char *args[] = {kind, path, out, NULL};
  ck_assert_int_eq(tu_python(wire_py, args), 0);
  char *text = read_text(out);
  int nodes = 0, ncoll = 0;
  char inbuf[16384];
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *f[5] = {0};
    int nf = 0;
    for (char *p = line; nf < 5; nf++) {
      f[nf] = p;
      char *tab = strchr(p, '\t');
      if (!tab) {
        nf++;
        break;
      }
      *tab = 0;
      p = tab + 1;
    }
    if (!strcmp(f[0], "N")) {
      ck_assert_int_eq(deft_graph_num_ops(g), atoi(f[1]));
      ck_assert_int_eq(distinct_types(g), atoi(f[2]));
    } else if (!strcmp(f[0], "n")) {
      nodes++;
      deft_op *op = deft_graph_op_by_name(g, f[1]);
      ck_assert_msg(op != NULL, "node %s missing", f[1]);
      ck_assert_str_eq(deft_op_type(op), f[2]);
      format_inputs(op, inbuf, sizeof inbuf);
      ck_assert_msg(!strcmp(inbuf, f[3] ? f[3] : ""), "%s: inputs %s, file has %s", f[1], inbuf,
                    f[3]);
      char *keys = f[4] ? f[4] : "";
      for (char *k = keys; *k;) {
        char *comma = strchr(k, ',');
        if (comma) *comma = 0;
        ck_assert_msg(deft_op_find_attr(op, k) != NULL, "%s lacks attr %s", f[1], k);
        if (!comma) break;
        k = comma + 1;
      }
    } else if (!strcmp(f[0], "c")) {
      ncoll++;
      static const char *kinds[] = {"", "node_list", "bytes_list", "int64_list", "float_list",
                                    "any_list"};
      int nvalues = -1;
      const char *k = deft_graph_collection_kind(g, f[1], &nvalues);
      ck_assert_msg(k != NULL, "collection %s missing", f[1]);
      ck_assert_str_eq(k, kinds[atoi(f[2])]);
      ck_assert_int_eq(nvalues, atoi(f[3]));
    }
  }
  ck_assert_int_eq(nodes, deft_graph_num_ops(g));
  if (strcmp(kind, "graph")) ck_assert_int_eq(ncoll, deft_graph_num_collections(g));
  deft_free(text);
}

/* ---- real TF files ---- */

START_TEST(kk_model) {
  TU_REQUIRE_SHARED(path, KK_META);
  deft_meta_graph_info *info = NULL;
  deft_graph *g = import_meta_ok(path, &info);
  ck_assert_int_eq(deft_graph_num_ops(g), 310); /* tf1/README.md */
  ck_assert_int_eq(distinct_types(g), 34);
  ck_assert_int_eq(count_type(g, "RestoreV2"), 12);
  ck_assert_int_eq(g->producer, 22);
  check_against_python(g, "meta", path);
  /* SaverDef (TF 1.x Saver defaults, TF_FORMATS.md 1.2) */
  ck_assert(deft_meta_graph_info_has_saver(info));
  ck_assert_str_eq(deft_meta_graph_info_filename_tensor(info), "save/Const:0");
  ck_assert_str_eq(deft_meta_graph_info_save_tensor(info), "save/control_dependency:0");
  ck_assert_str_eq(deft_meta_graph_info_restore_op(info), "save/restore_all");
  ck_assert_int_eq(deft_meta_graph_info_max_to_keep(info), 5);
  ck_assert_int_eq(deft_meta_graph_info_saver_version(info), 2);
  ck_assert(!deft_meta_graph_info_sharded(info));
  ck_assert_str_eq(deft_meta_graph_info_tensorflow_version(info), "1.2.1");
  ck_assert_int_eq(deft_meta_graph_info_num_signatures(info), 0);
  /* lookups */
  deft_status *st = deft_status_new();
  deft_output x = deft_graph_tensor_by_name(g, "X:0", st);
  ck_assert_msg(x.op != NULL, "%s", deft_status_message(st));
  ck_assert_str_eq(deft_op_type(x.op), "Placeholder");
  ck_assert_int_eq(deft_output_dtype(x), DEFT_FLOAT);
  deft_shape xs = deft_output_shape(x);
  ck_assert_int_eq(xs.rank, 2);
  ck_assert_int_eq(xs.dims[0], -1);
  ck_assert_int_eq(xs.dims[1], 784);
  ck_assert_ptr_nonnull(deft_graph_tensor_by_name(g, "eval/accuracy:0", st).op);
  ck_assert_ptr_null(deft_graph_tensor_by_name(g, "X:1", st).op);
  TU_ASSERT_STATUS(st, DEFT_OUT_OF_RANGE, "X");
  /* InTopK (TF 1.2) keeps its attr k */
  deft_op *topk = NULL;
  for (int i = 0; i < deft_graph_num_ops(g) && !topk; i++)
    if (!strcmp(deft_op_type(deft_graph_op_at(g, i)), "InTopK")) topk = deft_graph_op_at(g, i);
  ck_assert_ptr_nonnull(topk);
  int64_t k = 0;
  ck_assert(deft_op_attr_int(topk, "k", &k));
  ck_assert_int_eq(k, 1);
  /* variables: 12 VariableV2 made full deft variables */
  ck_assert_int_eq(collection_count(g, DEFT_GLOBAL_VARIABLES), 12);
  ck_assert_int_eq(collection_count(g, DEFT_TRAINABLE_VARIABLES), 12);
  deft_op *kernel = deft_graph_op_by_name(g, "hidden1/kernel");
  ck_assert(deft_op_is_variable(kernel));
  ck_assert_ptr_eq(collection_item(g, DEFT_GLOBAL_VARIABLES, 0).op, kernel);
  ck_assert_ptr_eq(deft_variable_initializer(kernel), deft_graph_op_by_name(g, "hidden1/kernel/Assign"));
  ck_assert_ptr_eq(deft_variable_value(kernel).op, deft_graph_op_by_name(g, "hidden1/kernel/read"));
  ck_assert_str_eq(deft_op_name(deft_variable_initial_value(kernel).op),
                   "hidden1/kernel/Initializer/random_uniform");
  ck_assert(deft_variable_trainable(kernel));
  deft_op *init = deft_global_variables_initializer(g, "init_deft");
  ck_assert_msg(init != NULL, "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_int_eq(deft_op_num_control_inputs(init), 12);
  /* train_op */
  ck_assert_int_eq(collection_count(g, DEFT_TRAIN_OP), 1);
  deft_output train = collection_item(g, DEFT_TRAIN_OP, 0);
  ck_assert_str_eq(deft_op_name(train.op), "GradientDescent");
  ck_assert_int_eq(train.index, -1);
  /* ops deft cannot run are imported with dtypes from the stripped_op_list */
  deft_op *mm = deft_graph_op_by_name(g, "dnn/hidden1/MatMul");
  ck_assert_ptr_nonnull(mm);
  ck_assert_int_eq(deft_op_num_outputs(mm), 1);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(mm, 0)), DEFT_FLOAT);
  deft_op *restore = deft_graph_op_by_name(g, "save/RestoreV2");
  ck_assert_ptr_nonnull(restore);
  ck_assert_int_eq(deft_op_num_outputs(restore), 1);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(restore, 0)), DEFT_FLOAT);
  ck_assert(deft_op_has_kernel(kernel));
  deft_status_free(st);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
}
END_TEST

START_TEST(kk_new_model_user_collection) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  deft_graph *g = import_meta_ok(path, NULL);
  ck_assert_int_eq(deft_graph_num_ops(g), 310);
  ck_assert_int_eq(distinct_types(g), 34);
  check_against_python(g, "meta", path);
  ck_assert_int_eq(collection_count(g, "my_important_ops"), 4);
  const char *want[] = {"X:0", "y:0", "eval/accuracy:0", "GradientDescent"};
  for (int i = 0; i < 4; i++) {
    char buf[256];
    deft_output o = collection_item(g, "my_important_ops", i);
    ck_assert_str_eq(deft_output_format(o, buf, sizeof buf), want[i]);
  }
  ck_assert_int_eq(collection_item(g, "my_important_ops", 3).index, -1);
  /* apply_gradients groups the updates in a NoOp named after the optimizer */
  ck_assert_str_eq(deft_op_type(collection_item(g, "my_important_ops", 3).op), "NoOp");
  deft_graph_free(g);
}
END_TEST

START_TEST(haerfest_model) {
  TU_REQUIRE_SHARED(path, HAERFEST_META);
  deft_meta_graph_info *info = NULL;
  deft_graph *g = import_meta_ok(path, &info);
  ck_assert_int_eq(deft_graph_num_ops(g), 166);
  ck_assert_int_eq(distinct_types(g), 32);
  check_against_python(g, "meta", path);
  ck_assert_int_gt(count_type(g, "BroadcastGradientArgs"), 0);
  deft_op *w = deft_graph_op_by_name(g, "dnn/hidden1/weights");
  ck_assert(deft_op_is_variable(w));
  ck_assert_ptr_nonnull(deft_variable_initializer(w));
  ck_assert_str_eq(deft_op_name(collection_item(g, DEFT_TRAIN_OP, 0).op), "train/GradientDescent");
  ck_assert_str_eq(deft_meta_graph_info_restore_op(info), "save/restore_all");
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
}
END_TEST

START_TEST(taobai_control_flow) {
  TU_REQUIRE_SHARED(path, TAOBAI_META);
  deft_graph *g = import_meta_ok(path, NULL);
  ck_assert_int_eq(deft_graph_num_ops(g), 790);
  ck_assert_int_eq(distinct_types(g), 50);
  ck_assert_int_eq(count_type(g, "Switch"), 54);
  ck_assert_int_eq(count_type(g, "Merge"), 18);
  ck_assert_int_eq(count_type(g, "RefSwitch"), 6);
  check_against_python(g, "meta", path);
  int n = 0;
  ck_assert_str_eq(deft_graph_collection_kind(g, "cond_context", &n), "bytes_list");
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(collection_count(g, DEFT_UPDATE_OPS), 6);
  ck_assert_int_eq(collection_count(g, DEFT_GLOBAL_VARIABLES), 18);
  ck_assert_int_eq(collection_count(g, DEFT_TRAINABLE_VARIABLES), 12);
  deft_op *mm = deft_graph_op_by_name(g, "batch_normalization/moving_mean");
  ck_assert(deft_op_is_variable(mm));
  ck_assert(!deft_variable_trainable(mm));
  deft_op *gamma = deft_graph_op_by_name(g, "batch_normalization/gamma");
  ck_assert(deft_variable_trainable(gamma));
  deft_op *training = deft_graph_op_by_name(g, "training");
  ck_assert_str_eq(deft_op_type(training), "PlaceholderWithDefault");
  ck_assert_int_eq(deft_output_dtype(deft_op_output(training, 0)), DEFT_BOOL);
  ck_assert_int_gt(count_type(g, "InTopKV2"), 0);
  ck_assert_str_eq(deft_op_device(deft_graph_op_by_name(g, "save/RestoreV2")), "/device:CPU:0");
  deft_graph_free(g);
}
END_TEST

START_TEST(half_plus_two_signatures) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_TWO_DIR);
  char pb[1024];
  snprintf(pb, sizeof pb, "%s/saved_model.pb", dir);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  deft_graph *g = deft_load_saved_model(dir, "serve", &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  check_against_python(g, "saved", pb);
  ck_assert_int_eq(deft_meta_graph_info_num_tags(info), 1);
  ck_assert_str_eq(deft_meta_graph_info_tag(info, 0), "serve");
  ck_assert_int_eq(deft_meta_graph_info_num_signatures(info), 5);
  const char *keys[] = {"serving_default", "classify_x_to_y", "regress_x_to_y",
                        "regress_x_to_y2", "regress_x2_to_y3"};
  for (int i = 0; i < 5; i++) {
    bool found = false;
    for (int k = 0; k < 5; k++)
      found |= !strcmp(deft_meta_graph_info_signature_key(info, k), keys[i]);
    ck_assert_msg(found, "signature %s missing", keys[i]);
  }
  deft_dtype dt = DEFT_INVALID_DTYPE;
  ck_assert_str_eq(deft_meta_graph_info_signature_input(info, "serving_default", "x", &dt, st),
                   "x:0");
  ck_assert_int_eq(dt, DEFT_FLOAT);
  ck_assert_str_eq(deft_meta_graph_info_signature_output(info, "serving_default", "y", NULL, st),
                   "y:0");
  ck_assert_str_eq(deft_meta_graph_info_signature_method(info, "serving_default", st),
                   "tensorflow/serving/predict");
  ck_assert_str_eq(deft_meta_graph_info_signature_input(info, "regress_x2_to_y3", "inputs", NULL,
                                                        st), "x2:0");
  ck_assert_str_eq(deft_meta_graph_info_signature_output(info, "regress_x2_to_y3", "outputs",
                                                         NULL, st), "y3:0");
  ck_assert_str_eq(deft_meta_graph_info_signature_input(info, "classify_x_to_y", "inputs", &dt,
                                                        st), "tf_example:0");
  ck_assert_int_eq(dt, DEFT_STRING);
  ck_assert_int_eq(deft_meta_graph_info_signature_num_inputs(info, "serving_default", st), 1);
  ck_assert_str_eq(deft_meta_graph_info_signature_input_key(info, "serving_default", 0), "x");
  /* every signature tensor resolves in the graph */
  for (int i = 0; i < 5; i++) {
    const char *key = deft_meta_graph_info_signature_key(info, i);
    const char *in = deft_meta_graph_info_signature_input(
        info, key, deft_meta_graph_info_signature_input_key(info, key, 0), NULL, st);
    ck_assert_ptr_nonnull(deft_graph_tensor_by_name(g, in, st).op);
  }
  /* unknown keys */
  ck_assert_ptr_null(deft_meta_graph_info_signature_input(info, "predict", "x", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "predict", "serving_default", "regress_x2_to_y3");
  ck_assert_int_eq(deft_meta_graph_info_signature_num_outputs(info, "nope", st), -1);
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "nope", "classify_x_to_y");
  ck_assert_ptr_null(deft_meta_graph_info_signature_input(info, "serving_default", "z", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "'z'", "'x'");
  /* ParseExample is imported though deft cannot run it */
  deft_op *pe = deft_graph_op_by_name(g, "ParseExample/ParseExample");
  ck_assert_ptr_nonnull(pe);
  ck_assert(!deft_op_has_kernel(pe));
  ck_assert_int_eq(deft_op_num_outputs(pe), 2); /* Ndense = 2, Nsparse = 0 */
  ck_assert_int_eq(deft_output_dtype(deft_op_output(pe, 0)), DEFT_FLOAT);
  /* the variables of a SavedModel are deft variables too */
  deft_op *a = deft_graph_op_by_name(g, "a");
  ck_assert(deft_op_is_variable(a));
  ck_assert_ptr_nonnull(deft_variable_initializer(a));
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  /* the file itself is accepted too; tags are matched as a set */
  g = deft_load_saved_model(pb, "serve", NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_graph_free(g);
  ck_assert_ptr_null(deft_load_saved_model(dir, "train", &info, st));
  ck_assert_ptr_null(info);
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "train", "\"serve\"", "saved_model.pb");
  ck_assert_ptr_null(deft_load_saved_model(dir, "serve,gpu", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "serve,gpu");
  deft_status_free(st);
}
END_TEST

START_TEST(half_plus_three_and_clear_devices) {
  TU_REQUIRE_SHARED(dir, HALF_PLUS_THREE_DIR);
  char pb[1024];
  snprintf(pb, sizeof pb, "%s/saved_model.pb", dir);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_load_saved_model(dir, NULL, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  check_against_python(g, "saved", pb);
  ck_assert_int_gt(collection_count(g, "legacy_init_op"), 0);
  deft_graph_free(g);
  /* clear_devices on a file with device strings */
  TU_REQUIRE_SHARED(kk, TAOBAI_META);
  deft_import_options *o = deft_import_options_new();
  deft_import_options_set_clear_devices(o, true);
  g = deft_import_meta_graph(kk, o, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    ck_assert_str_eq(deft_op_device(deft_graph_op_at(g, i)), "");
  deft_graph_free(g);
  deft_import_options_free(o);
  deft_status_free(st);
}
END_TEST

START_TEST(simple_mnist_graph_def) {
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_graph_num_ops(g), 17);
  ck_assert_int_eq(g->producer, 0);
  check_against_python(g, "graph", path);
  deft_op *w = deft_graph_op_by_name(g, "Layer1/W_fc1");
  const deft_tensor *t = NULL;
  ck_assert(deft_op_attr_tensor(w, "value", &t));
  ck_assert_int_eq(deft_tensor_rank(t), 2);
  ck_assert_int_eq(deft_tensor_dim(t, 0), 784);
  ck_assert_int_eq(deft_tensor_dim(t, 1), 128);
  /* the sum of the weights, computed by NumPy from the file's tensor_content bytes */
  double sum = 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) sum += deft_tensor_get_double(t, i);
  char expect[64];
  snprintf(expect, sizeof expect, "%.6e", sum);
  const char *py =
      "import sys, numpy as np\n"
      "exec(open(sys.argv[3]).read())\n"
      "b = open(sys.argv[1], 'rb').read()\n"
      "for f, w, v in fields(b):\n"
      "    if f != 1: continue\n"
      "    if first(v, 1) != b'Layer1/W_fc1': continue\n"
      "    for f2, w2, v2 in fields(v):\n"
      "        if f2 == 5 and first(v2, 1) == b'value':\n"
      "            tp = first(first(v2, 2), 8)\n"
      "            a = np.frombuffer(first(tp, 4), dtype='<f4').astype(np.float64)\n"
      "            assert a.size == 784 * 128\n"
      "            s = '%.6e' % a.sum()\n"
      "            sys.exit(0 if s == sys.argv[2] else 'numpy %s deft %s' % (s, sys.argv[2]))\n"
      "sys.exit('not found')\n";
  /* reuse the wire helpers: write them to a file the script exec()s (minus the main part) */
  const char *helpers = tmp_path("wire_helpers.py");
  const char *cut = strstr(wire_py, "kind, path, out");
  FILE *f = fopen(helpers, "w");
  ck_assert_ptr_nonnull(f);
  fwrite(wire_py, 1, (size_t)(cut - wire_py), f);
  fclose(f);
  const char *args[] = {path, expect, helpers, NULL};
  if (tu_have_numpy()) ck_assert_int_eq(tu_python(py, args), 0);
  /* ops deft cannot run: output count and dtype from the consumers (no op list in a GraphDef) */
  deft_op *mm = deft_graph_op_by_name(g, "Layer1/MatMul");
  ck_assert(!deft_op_has_kernel(mm));
  ck_assert_int_eq(deft_op_num_outputs(mm), 1);
  deft_graph_free(g);
  /* meta graph API on a non-.pb path and a prefix */
  deft_import_options *o = deft_import_options_new();
  ck_assert(deft_import_options_set_prefix(o, "net/"));
  g = deft_import_graph_def(path, o, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "net/Layer1/W_fc1"));
  ck_assert_str_eq(deft_op_name(deft_op_input(deft_graph_op_by_name(g, "net/Layer1/MatMul"), 0).op),
                   "net/x");
  deft_graph_free(g);
  deft_import_options_free(o);
  deft_status_free(st);
}
END_TEST

START_TEST(import_prefix_meta) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  deft_import_options *o = deft_import_options_new();
  ck_assert(deft_import_options_set_prefix(o, "imported"));
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  deft_graph *g = deft_import_meta_graph(path, o, &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_ptr_nonnull(deft_graph_op_by_name(g, "imported/X"));
  ck_assert_ptr_null(deft_graph_op_by_name(g, "X"));
  char buf[256];
  ck_assert_str_eq(deft_output_format(collection_item(g, "my_important_ops", 0), buf, sizeof buf),
                   "imported/X:0");
  ck_assert_str_eq(deft_meta_graph_info_filename_tensor(info), "imported/save/Const:0");
  ck_assert_str_eq(deft_meta_graph_info_restore_op(info), "imported/save/restore_all");
  deft_op *k = deft_graph_op_by_name(g, "imported/hidden1/kernel");
  ck_assert_str_eq(deft_op_name(deft_variable_initializer(k)), "imported/hidden1/kernel/Assign");
  /* re-export with a prefix: VariableDefs are regenerated with the new names */
  const char *out = tmp_path("prefixed.meta");
  ck_assert_msg(deft_export_meta_graph(g, out, info, st), "%s", deft_status_message(st));
  deft_graph *g2 = deft_import_meta_graph(out, NULL, NULL, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  ck_assert_ptr_eq(collection_item(g2, DEFT_GLOBAL_VARIABLES, 0).op,
                   deft_graph_op_by_name(g2, "imported/hidden1/kernel"));
  ck_assert(deft_variable_trainable(deft_graph_op_by_name(g2, "imported/hidden1/kernel")));
  deft_graph_free(g2);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  deft_import_options_free(o);
  deft_status_free(st);
}
END_TEST

/* ---- round trips ---- */

static bool tensors_equal(const deft_tensor *a, const deft_tensor *b) {
  if (a->dtype != b->dtype || a->rank != b->rank || a->n != b->n) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  if (a->dtype == DEFT_STRING) {
    for (int64_t i = 0; i < a->n; i++) {
      size_t la, lb;
      const char *pa = deft_tensor_string(a, i, &la), *pb = deft_tensor_string(b, i, &lb);
      if (la != lb || memcmp(pa, pb, la)) return false;
    }
    return true;
  }
  return memcmp(a->buf->data, b->buf->data, deft_tensor_nbytes(a)) == 0;
}

static bool values_equal(const deft_attr_value *a, const deft_attr_value *b) {
  if (a->kind == DEFT_ATTR_TENSOR && b->kind == DEFT_ATTR_TENSOR)
    return tensors_equal(a->u.tensor, b->u.tensor);
  if (a->kind == DEFT_ATTR_LIST_TENSOR && b->kind == DEFT_ATTR_LIST_TENSOR) {
    if (a->u.list.n != b->u.list.n) return false;
    for (int i = 0; i < a->u.list.n; i++)
      if (!tensors_equal(a->u.list.v.tensor[i], b->u.list.v.tensor[i])) return false;
    return true;
  }
  if (a->kind == DEFT_ATTR_LIST_SHAPE && b->kind == DEFT_ATTR_LIST_SHAPE) {
    if (a->u.list.n != b->u.list.n) return false;
    for (int i = 0; i < a->u.list.n; i++) {
      deft_attr_value x = {.kind = DEFT_ATTR_SHAPE}, y = {.kind = DEFT_ATTR_SHAPE};
      x.u.shape = a->u.list.v.shape[i];
      y.u.shape = b->u.list.v.shape[i];
      if (!deft_attr_value_equal(&x, &y)) return false;
    }
    return true;
  }
  /* an empty list's element kind is not on the wire */
  if (a->kind >= DEFT_ATTR_LIST_STRING && b->kind >= DEFT_ATTR_LIST_STRING && !a->u.list.n &&
      !b->u.list.n)
    return true;
  return deft_attr_value_equal(a, b);
}

/* Asserts that a and b have the same ops (names, types, devices, inputs, attrs, output dtypes)
 * and the same collections. */
static void assert_same_graph(const deft_graph *a, const deft_graph *b) {
  ck_assert_int_eq(deft_graph_num_ops(a), deft_graph_num_ops(b));
  char ia[8192], ib[8192];
  for (int i = 0; i < deft_graph_num_ops(a); i++) {
    deft_op *x = deft_graph_op_at(a, i), *y = deft_graph_op_at(b, i);
    ck_assert_str_eq(deft_op_name(x), deft_op_name(y));
    ck_assert_str_eq(deft_op_type(x), deft_op_type(y));
    ck_assert_str_eq(deft_op_device(x), deft_op_device(y));
    format_inputs(x, ia, sizeof ia);
    format_inputs(y, ib, sizeof ib);
    ck_assert_str_eq(ia, ib);
    ck_assert_int_eq(deft_op_num_attrs(x), deft_op_num_attrs(y));
    for (int k = 0; k < x->nattrs; k++) {
      const deft_attr *ay = deft_op_find_attr(y, x->attrs[k].name);
      ck_assert_msg(ay != NULL, "%s: attr %s lost", x->name, x->attrs[k].name);
      ck_assert_msg(values_equal(&x->attrs[k].v, &ay->v), "%s: attr %s differs", x->name,
                    x->attrs[k].name);
    }
    ck_assert_int_eq(deft_op_num_outputs(x), deft_op_num_outputs(y));
    for (int k = 0; k < x->noutputs; k++) {
      ck_assert_int_eq(x->out_types[k], y->out_types[k]);
      ck_assert_int_eq(x->out_ref[k], y->out_ref[k]);
    }
    ck_assert_int_eq(x->var != NULL, y->var != NULL);
    if (x->var) {
      ck_assert_str_eq(x->var->assign->name, y->var->assign->name);
      ck_assert_str_eq(x->var->read->name, y->var->read->name);
      ck_assert_int_eq(x->var->trainable, y->var->trainable);
    }
  }
  ck_assert_int_eq(deft_graph_num_collections(a), deft_graph_num_collections(b));
  for (int i = 0; i < a->ncollections; i++) {
    const deft_collection *ca = &a->collections[i];
    const deft_collection *cb = deft_graph_collection((deft_graph *)b, ca->key, false);
    ck_assert_msg(cb != NULL, "collection %s lost", ca->key);
    int na, nb;
    ck_assert_str_eq(deft_graph_collection_kind(a, ca->key, &na),
                     deft_graph_collection_kind(b, ca->key, &nb));
    ck_assert_int_eq(na, nb);
    ck_assert_int_eq(ca->n, cb->n);
    for (int k = 0; k < ca->n; k++) {
      deft_output_format(ca->items[k], ia, sizeof ia);
      deft_output_format(cb->items[k], ib, sizeof ib);
      ck_assert_str_eq(ia, ib);
    }
    if (!ca->raw_kind || !cb->raw_kind) continue; /* VariableDefs generated vs. kept */
    ck_assert_int_eq(ca->raw_kind, cb->raw_kind);
    ck_assert_int_eq(ca->nraw, cb->nraw);
    for (int k = 0; k < ca->nraw && (ca->raw_kind == 2 || ca->raw_kind == 5); k++) {
      ck_assert_uint_eq(ca->raw_bytes[k].len, cb->raw_bytes[k].len);
      ck_assert(!memcmp(ca->raw_bytes[k].p, cb->raw_bytes[k].p, ca->raw_bytes[k].len));
    }
  }
}

/* A graph with deft's constructors: placeholders, variables, identity, a cond-style
 * Switch/Merge, control dependencies, collections. */
static deft_graph *build_small_graph(deft_op **var_out) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "X");
  deft_output flag = deft_placeholder_with_default(g, deft_const_bool(g, false, "flag/input"),
                                                   DEFT_SCALAR, "flag");
  deft_graph_push_scope(g, "dense/kernel/");
  deft_output init = deft_const_fill(g, DEFT_FLOAT, DEFT_SHAPE(3, 2), 0.5,
                                     "Initializer/random_uniform");
  deft_graph_pop_scope(g);
  deft_graph_push_scope(g, "dense");
  deft_op *kernel = deft_variable_new(g, "kernel", init, true);
  deft_graph_pop_scope(g);
  deft_output steps = deft_const_int64(g, 0, "global_step/Initializer/zeros");
  deft_op *step = deft_variable_new(g, "global_step", steps, false);
  deft_output names = deft_const_string(g, "with \"quotes\" and \001 bytes", "names");
  deft_output sw = deft_switch(g, x, flag, "cond/Switch");
  deft_output branches[2] = {sw, {sw.op, 1}};
  deft_output merged = deft_merge(g, branches, 2, "cond/Merge");
  deft_output inc = deft_assign_add(g, deft_op_output(step, 0), deft_const_int64(g, 1, "one"),
                                    "increment");
  deft_op *deps[1] = {inc.op};
  deft_graph_push_control_deps(g, deps, 1);
  deft_output out = deft_identity(g, merged, "out");
  deft_graph_pop_control_deps(g);
  deft_op *train = deft_group(g, deps, 1, "train");
  deft_prevent_gradient(g, out, "no", NULL);
  deft_graph_add_to_collection(g, DEFT_TRAIN_OP, (deft_output){train, -1});
  deft_graph_add_to_collection(g, "mine", x);
  deft_graph_add_to_collection(g, "mine", (deft_output){merged.op, 1});
  deft_graph_add_to_collection(g, "mine", (deft_output){train, -1});
  deft_graph_add_to_collection(g, DEFT_UPDATE_OPS, inc);
  (void)names;
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  if (var_out) *var_out = kernel;
  return g;
}

START_TEST(roundtrip_built_graph) {
  deft_op *kernel;
  deft_graph *g = build_small_graph(&kernel);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *saver = deft_meta_graph_info_new_saver(
      "save/Const:0", "save/control_dependency:0", "save/restore_all");
  ck_assert_ptr_nonnull(saver);
  const char *path = tmp_path("built.meta");
  ck_assert_msg(deft_export_meta_graph(g, path, saver, st), "%s", deft_status_message(st));
  deft_meta_graph_info *info = NULL;
  deft_graph *g2 = deft_import_meta_graph(path, NULL, &info, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  assert_same_graph(g, g2);
  ck_assert_str_eq(deft_meta_graph_info_save_tensor(info), "save/control_dependency:0");
  ck_assert_int_eq(deft_meta_graph_info_max_to_keep(info), 5);
  ck_assert_int_eq(deft_meta_graph_info_saver_version(info), 2);
  ck_assert_float_eq(deft_meta_graph_info_keep_every_n_hours(info), 10000.0f);
  ck_assert_str_eq(deft_meta_graph_info_tensorflow_version(info), "1.15.0");
  /* the imported variables work: initialize and read them in a session */
  deft_op *k2 = deft_graph_op_by_name(g2, "dense/kernel");
  ck_assert(deft_variable_trainable(k2));
  ck_assert(!deft_variable_trainable(deft_graph_op_by_name(g2, "global_step")));
  deft_op *init = deft_global_variables_initializer(g2, NULL);
  ck_assert_ptr_nonnull(init);
  deft_session *s = deft_session_new(g2, st);
  ck_assert_msg(s != NULL, "%s", deft_status_message(st));
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st), "%s",
                deft_status_message(st));
  deft_tensor *v = deft_session_variable_value(s, k2, st);
  ck_assert_msg(v != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_num_elements(v), 6);
  for (int i = 0; i < 6; i++) ck_assert_float_eq(((float *)deft_tensor_data(v))[i], 0.5f);
  deft_tensor_free(v);
  deft_output read = deft_variable_value(k2);
  deft_tensor *r = NULL;
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &read, &r, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert_float_eq(((float *)deft_tensor_data(r))[5], 0.5f);
  deft_tensor_free(r);
  deft_session_free(s);
  /* exporting the re-import gives the same bytes */
  const char *path2 = tmp_path("built2.meta");
  deft_graph_free(g2);
  g2 = deft_import_meta_graph(path, NULL, NULL, st);
  ck_assert_msg(deft_export_meta_graph(g2, path2, info, st), "%s", deft_status_message(st));
  uint8_t *b1, *b2;
  size_t l1, l2;
  ck_assert(deft_read_file(path, &b1, &l1, st));
  ck_assert(deft_read_file(path2, &b2, &l2, st));
  ck_assert_uint_eq(l1, l2);
  ck_assert(!memcmp(b1, b2, l1));
  deft_free(b1);
  deft_free(b2);
  /* GraphDef alone */
  const char *gpath = tmp_path("built.pb");
  ck_assert_msg(deft_export_graph_def(g, gpath, st), "%s", deft_status_message(st));
  deft_graph *g3 = deft_import_graph_def(gpath, NULL, st);
  ck_assert_msg(g3 != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_graph_num_ops(g3), deft_graph_num_ops(g));
  ck_assert_int_eq(deft_graph_num_collections(g3), 0);
  deft_graph_free(g3);
  deft_graph_free(g2);
  deft_meta_graph_info_free(info);
  deft_meta_graph_info_free(saver);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static int cmp_strp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What TF requires of deft's bytes, checked on the raw message with protobuf-c. */
START_TEST(exported_bytes_have_what_tf_needs) {
  deft_graph *g = build_small_graph(NULL);
  deft_status *st = deft_status_new();
  const char *path = tmp_path("check.meta");
  deft_meta_graph_info *saver = deft_meta_graph_info_new_saver("a:0", "b:0", "c");
  ck_assert(deft_export_meta_graph(g, path, saver, st));
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(path, &data, &len, st));
  Tensorflow__MetaGraphDef *m = tensorflow__meta_graph_def__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(m);
  const Tensorflow__GraphDef *gd = m->graph_def;
  ck_assert_int_ge(gd->versions->producer, 22);
  ck_assert_int_eq(gd->versions->min_consumer, 0);
  ck_assert_uint_eq(gd->n_node, (size_t)deft_graph_num_ops(g));
  /* nodes in creation order, inputs "x", "x:k", "^c" */
  for (size_t i = 0; i < gd->n_node; i++)
    ck_assert_str_eq(gd->node[i]->name, deft_op_name(deft_graph_op_at(g, (int)i)));
  const Tensorflow__NodeDef *merge = NULL, *out = NULL;
  for (size_t i = 0; i < gd->n_node; i++) {
    if (!strcmp(gd->node[i]->name, "cond/Merge")) merge = gd->node[i];
    if (!strcmp(gd->node[i]->name, "out")) out = gd->node[i];
  }
  ck_assert_uint_eq(merge->n_input, 2);
  ck_assert_str_eq(merge->input[0], "cond/Switch");
  ck_assert_str_eq(merge->input[1], "cond/Switch:1");
  ck_assert_uint_eq(out->n_input, 2);
  ck_assert_str_eq(out->input[1], "^increment");
  /* every attr of the op's signature is present (defaults included) */
  for (size_t i = 0; i < gd->n_node; i++) {
    const deft_op_reg *r = deft_registry_lookup(gd->node[i]->op);
    ck_assert_ptr_nonnull(r);
    for (int a = 0; a < r->nattrs; a++) {
      bool found = false;
      for (size_t k = 0; k < gd->node[i]->n_attr; k++)
        found |= !strcmp(gd->node[i]->attr[k]->key, r->attrs[a].name);
      ck_assert_msg(found, "%s lacks attr %s", gd->node[i]->name, r->attrs[a].name);
    }
  }
  /* use_locking=false of AssignAdd is written (oneof presence) */
  /* stripped_op_list: one OpDef per type used, sorted */
  const Tensorflow__OpList *ol = m->meta_info_def->stripped_op_list;
  ck_assert_str_eq(m->meta_info_def->tensorflow_version, "1.15.0");
  const char *types[64];
  size_t nt = 0;
  for (size_t i = 0; i < gd->n_node; i++) {
    bool seen = false;
    for (size_t k = 0; k < nt; k++) seen |= !strcmp(types[k], gd->node[i]->op);
    if (!seen) types[nt++] = gd->node[i]->op;
  }
  qsort(types, nt, sizeof *types, cmp_strp);
  ck_assert_uint_eq(ol->n_op, nt);
  for (size_t i = 0; i < nt; i++) ck_assert_str_eq(ol->op[i]->name, types[i]);
  for (size_t i = 0; i < ol->n_op; i++) {
    const Tensorflow__OpDef *d = ol->op[i];
    if (!strcmp(d->name, "VariableV2")) {
      ck_assert(d->is_stateful);
      ck_assert(d->output_arg[0]->is_ref);
      ck_assert_str_eq(d->output_arg[0]->type_attr, "dtype");
    }
    if (!strcmp(d->name, "Assign")) {
      ck_assert(d->allows_uninitialized_input);
      bool found = false;
      for (size_t a = 0; a < d->n_attr; a++)
        if (!strcmp(d->attr[a]->name, "use_locking")) {
          found = true;
          ck_assert_str_eq(d->attr[a]->type, "bool");
          ck_assert_int_eq(d->attr[a]->default_value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_B);
          ck_assert(d->attr[a]->default_value->b);
        }
      ck_assert(found);
    }
    if (!strcmp(d->name, "Merge")) {
      ck_assert_str_eq(d->input_arg[0]->number_attr, "N");
      for (size_t a = 0; a < d->n_attr; a++)
        if (!strcmp(d->attr[a]->name, "N")) {
          ck_assert(d->attr[a]->has_minimum);
          ck_assert_int_eq(d->attr[a]->minimum, 1);
        }
    }
    if (!strcmp(d->name, "AssignAdd"))
      for (size_t a = 0; a < d->n_attr; a++)
        if (!strcmp(d->attr[a]->name, "T")) ck_assert_uint_gt(d->attr[a]->allowed_values->list->n_type, 5);
  }
  /* collections per TF_FORMATS.md 5.3; the VariableDef bytes of dense/kernel are exactly the
   * ones the spec computes for TF's tf.layers.dense kernel */
  static const char kernel_def[] =
      "\n\016dense/kernel:0\022\023dense/kernel/Assign\032\023dense/kernel/read:02)dense/kernel/"
      "Initializer/random_uniform:08\001";
  bool vars = false, trainable = false, train = false, mine = false;
  for (size_t i = 0; i < m->n_collection_def; i++) {
    const char *key = m->collection_def[i]->key;
    const Tensorflow__CollectionDef *cd = m->collection_def[i]->value;
    if (!strcmp(key, "variables")) {
      vars = true;
      ck_assert_int_eq(cd->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST);
      ck_assert_uint_eq(cd->bytes_list->n_value, 2);
      ck_assert_uint_eq(cd->bytes_list->value[0].len, sizeof kernel_def - 1);
      ck_assert(!memcmp(cd->bytes_list->value[0].data, kernel_def, sizeof kernel_def - 1));
    } else if (!strcmp(key, "trainable_variables")) {
      trainable = true;
      ck_assert_uint_eq(cd->bytes_list->n_value, 1);
    } else if (!strcmp(key, "train_op")) {
      train = true;
      ck_assert_int_eq(cd->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST);
      ck_assert_str_eq(cd->node_list->value[0], "train");
    } else if (!strcmp(key, "mine")) {
      mine = true;
      ck_assert_uint_eq(cd->node_list->n_value, 3);
      ck_assert_str_eq(cd->node_list->value[0], "X:0");
      ck_assert_str_eq(cd->node_list->value[1], "cond/Merge:1");
      ck_assert_str_eq(cd->node_list->value[2], "train");
    }
  }
  ck_assert(vars && trainable && train && mine);
  ck_assert_str_eq(m->saver_def->filename_tensor_name, "a:0");
  ck_assert_str_eq(m->saver_def->restore_op_name, "c");
  ck_assert_int_eq(m->saver_def->version, 2);
  tensorflow__meta_graph_def__free_unpacked(m, NULL);
  deft_free(data);
  deft_meta_graph_info_free(saver);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static const char *const reexport_files[] = {KK_META, KK_NEW_META, HAERFEST_META, TAOBAI_META,
                                             HALF_PLUS_TWO_DIR, HALF_PLUS_THREE_DIR};

START_TEST(reexport_tf_files) {
  TU_REQUIRE_SHARED(path, reexport_files[_i]);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  bool saved = strstr(path, "saved_model") != NULL;
  deft_graph *g = saved ? deft_load_saved_model(path, "serve", &info, st)
                        : deft_import_meta_graph(path, NULL, &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  const char *out = tmp_path("reexport.meta");
  ck_assert_msg(deft_export_meta_graph(g, out, info, st), "%s", deft_status_message(st));
  deft_meta_graph_info *info2 = NULL;
  deft_graph *g2 = deft_import_meta_graph(out, NULL, &info2, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  assert_same_graph(g, g2);
  ck_assert_str_eq(deft_meta_graph_info_filename_tensor(info),
                   deft_meta_graph_info_filename_tensor(info2));
  ck_assert_str_eq(deft_meta_graph_info_restore_op(info), deft_meta_graph_info_restore_op(info2));
  check_against_python(g2, "meta", out);
  deft_meta_graph_info_free(info);
  deft_meta_graph_info_free(info2);
  deft_graph_free(g);
  deft_graph_free(g2);
  deft_status_free(st);
}
END_TEST

/* ---- TensorProto rules ---- */

static deft_tensor *decode(Tensorflow__TensorProto *p, deft_status *st) {
  return deft_tensor_from_proto(p, st);
}

START_TEST(tensor_proto_decoding_rules) {
  deft_status *st = deft_status_new();
  Tensorflow__TensorShapeProto shape;
  Tensorflow__TensorShapeProto__Dim d0, *dims[1] = {&d0};
  tensorflow__tensor_shape_proto__init(&shape);
  tensorflow__tensor_shape_proto__dim__init(&d0);
  d0.size = 4;
  shape.n_dim = 1;
  shape.dim = dims;
  Tensorflow__TensorProto p;
  tensorflow__tensor_proto__init(&p);
  p.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  p.tensor_shape = &shape;
  /* 0 < n < N: repeat the last value */
  float fv[2] = {1.5f, -2.0f};
  p.float_val = fv;
  p.n_float_val = 2;
  deft_tensor *t = decode(&p, st);
  ck_assert_ptr_nonnull(t);
  float want[4] = {1.5f, -2.0f, -2.0f, -2.0f};
  ck_assert(!memcmp(deft_tensor_data(t), want, sizeof want));
  deft_tensor_free(t);
  /* no values: zeros */
  p.n_float_val = 0;
  t = decode(&p, st);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(((float *)deft_tensor_data(t))[i], 0.0f);
  deft_tensor_free(t);
  /* tensor_content wins over typed fields */
  float content[4] = {1, 2, 3, 4};
  p.n_float_val = 2;
  p.tensor_content.data = (uint8_t *)content;
  p.tensor_content.len = sizeof content;
  t = decode(&p, st);
  ck_assert(!memcmp(deft_tensor_data(t), content, sizeof content));
  deft_tensor_free(t);
  /* wrong content length */
  p.tensor_content.len = 12;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "tensor_content has 12 bytes", "16");
  p.tensor_content.len = 0;
  /* int64 and bool */
  int64_t iv[1] = {-7};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_INT64;
  p.int64_val = iv;
  p.n_int64_val = 1;
  t = decode(&p, st);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(((int64_t *)deft_tensor_data(t))[i], -7);
  deft_tensor_free(t);
  uint8_t bools[4] = {0, 2, 1, 0};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_BOOL;
  p.tensor_content.data = bools;
  p.tensor_content.len = 4;
  t = decode(&p, st);
  ck_assert(!((bool *)deft_tensor_data(t))[0] && ((bool *)deft_tensor_data(t))[1]);
  deft_tensor_free(t);
  p.tensor_content.len = 0;
  /* uint8 via int_val */
  int32_t u8[2] = {255, 7};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_UINT8;
  p.int_val = u8;
  p.n_int_val = 2;
  t = decode(&p, st);
  ck_assert_int_eq(((uint8_t *)deft_tensor_data(t))[0], 255);
  ck_assert_int_eq(((uint8_t *)deft_tensor_data(t))[3], 7);
  deft_tensor_free(t);
  /* strings via string_val, repeat-last too */
  ProtobufCBinaryData sv[2] = {{3, (uint8_t *)"a\0b"}, {2, (uint8_t *)"zz"}};
  p.dtype = TENSORFLOW__DATA_TYPE__DT_STRING;
  p.string_val = sv;
  p.n_string_val = 2;
  t = decode(&p, st);
  size_t len;
  const char *s0 = deft_tensor_string(t, 0, &len);
  ck_assert_uint_eq(len, 3);
  ck_assert(!memcmp(s0, "a\0b", 3));
  ck_assert_str_eq(deft_tensor_string(t, 3, NULL), "zz");
  deft_tensor_free(t);
  /* strings never use tensor_content */
  p.tensor_content.data = (uint8_t *)"xxxx";
  p.tensor_content.len = 4;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "string_val");
  p.tensor_content.len = 0;
  /* unsupported dtype, unknown dims, too large */
  p.dtype = TENSORFLOW__DATA_TYPE__DT_HALF;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "DT_HALF");
  p.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  d0.size = -1;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "not fully defined");
  d0.size = (int64_t)1 << 40;
  ck_assert_ptr_null(decode(&p, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "limit");
  /* scalars: an absent shape is a scalar */
  p.tensor_shape = NULL;
  t = decode(&p, st);
  ck_assert_int_eq(deft_tensor_rank(t), 0);
  ck_assert_float_eq(((float *)deft_tensor_data(t))[0], 1.5f);
  deft_tensor_free(t);
  deft_status_free(st);
}
END_TEST

START_TEST(tensor_proto_roundtrip) {
  deft_status *st = deft_status_new();
  int64_t dims[2] = {2, 3};
  const deft_dtype types[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_UINT8, DEFT_INT64,
                              DEFT_BOOL, DEFT_STRING};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    for (int variant = 0; variant < 3; variant++) { /* distinct, all equal, empty */
      int64_t d[2] = {dims[0], variant == 2 ? 0 : dims[1]};
      deft_tensor *t = deft_tensor_new(types[k], d, 2, st);
      ck_assert_ptr_nonnull(t);
      for (int64_t i = 0; i < t->n; i++) {
        double v = variant ? 1 : (double)(i % 2 ? i : -i);
        switch (types[k]) {
          case DEFT_FLOAT: deft_tensor_f32(t)[i] = (float)v * 0.25f; break;
          case DEFT_DOUBLE: deft_tensor_f64(t)[i] = v * 0.1; break;
          case DEFT_INT32: deft_tensor_i32(t)[i] = (int32_t)v; break;
          case DEFT_UINT8: deft_tensor_u8(t)[i] = (uint8_t)(i * variant + i); break;
          case DEFT_INT64: deft_tensor_i64(t)[i] = (int64_t)v * ((int64_t)1 << 40); break;
          case DEFT_BOOL: deft_tensor_b(t)[i] = variant ? true : (i % 2); break;
          case DEFT_STRING: {
            char s[16];
            snprintf(s, sizeof s, "s%d", (int)i);
            ck_assert(deft_tensor_set_string(t, i, s, strlen(s), st));
            break;
          }
          default: break;
        }
      }
      uint8_t *bytes;
      size_t len;
      ck_assert(deft_tensor_serialize_proto(t, &bytes, &len, st));
      deft_tensor *back = deft_tensor_parse_proto(bytes, len, st);
      ck_assert_msg(back != NULL, "%s", deft_status_message(st));
      ck_assert_msg(tensors_equal(t, back), "dtype %s variant %d", deft_dtype_name(types[k]),
                    variant);
      /* the encoding TF's writer uses: one typed value for uniform tensors */
      Tensorflow__TensorProto *p = tensorflow__tensor_proto__unpack(NULL, len, bytes);
      if (variant == 1 && types[k] == DEFT_FLOAT) {
        ck_assert_uint_eq(p->n_float_val, 1);
        ck_assert_uint_eq(p->tensor_content.len, 0);
      }
      if (variant == 0 && types[k] == DEFT_FLOAT) ck_assert_uint_eq(p->tensor_content.len, 24);
      if (types[k] == DEFT_STRING) ck_assert_uint_eq(p->n_string_val, (size_t)t->n);
      tensorflow__tensor_proto__free_unpacked(p, NULL);
      deft_free(bytes);
      deft_tensor_free(back);
      deft_tensor_free(t);
    }
  }
  ck_assert_ptr_null(deft_tensor_parse_proto((const uint8_t *)"\x0a\xff", 2, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "TensorProto");
  deft_status_free(st);
}
END_TEST

/* ---- bad input ---- */

typedef struct tnode {
  const char *name, *op;
  const char *inputs[4];
  const char *attr; /* "key=float" (a type), "key=iN" (an int), "key=unknown" (a shape) */
  const char *attr2;
} tnode;

static void make_attr(const char *spec, Tensorflow__NodeDef__AttrEntry *e, Tensorflow__AttrValue *v,
                      Tensorflow__TensorShapeProto *shape, char *key, size_t keysize) {
  tensorflow__node_def__attr_entry__init(e);
  tensorflow__attr_value__init(v);
  const char *eq = strchr(spec, '=');
  snprintf(key, keysize, "%.*s", (int)(eq - spec), spec);
  e->key = key;
  if (eq[1] == 'i') {
    v->value_case = TENSORFLOW__ATTR_VALUE__VALUE_I;
    v->i = atoi(eq + 2);
  } else if (!strcmp(eq + 1, "unknown")) {
    tensorflow__tensor_shape_proto__init(shape);
    shape->unknown_rank = true;
    v->value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE;
    v->shape = shape;
  } else {
    v->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
    v->type = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  }
  e->value = v;
}

/* Writes a GraphDef of the given nodes (at most 16) to path. */
static void write_graph(const char *path, const tnode *nodes, int n) {
  Tensorflow__GraphDef gd;
  tensorflow__graph_def__init(&gd);
  Tensorflow__NodeDef nd[16], *ndp[16];
  Tensorflow__NodeDef__AttrEntry ae[16][2], *aep[16][2];
  Tensorflow__AttrValue av[16][2];
  Tensorflow__TensorShapeProto shapes[16][2];
  char keys[16][2][32];
  for (int i = 0; i < n; i++) {
    tensorflow__node_def__init(&nd[i]);
    ndp[i] = &nd[i];
    nd[i].name = (char *)nodes[i].name;
    nd[i].op = (char *)nodes[i].op;
    while (nd[i].n_input < 4 && nodes[i].inputs[nd[i].n_input]) nd[i].n_input++;
    nd[i].input = (char **)nodes[i].inputs;
    const char *specs[2] = {nodes[i].attr, nodes[i].attr2};
    for (int k = 0; k < 2; k++) {
      if (!specs[k]) continue;
      make_attr(specs[k], &ae[i][k], &av[i][k], &shapes[i][k], keys[i][k], sizeof keys[i][k]);
      aep[i][nd[i].n_attr++] = &ae[i][k];
    }
    nd[i].attr = aep[i];
  }
  gd.n_node = (size_t)n;
  gd.node = ndp;
  size_t len = tensorflow__graph_def__get_packed_size(&gd);
  uint8_t *buf = malloc(len + 1);
  tensorflow__graph_def__pack(&gd, buf);
  write_bytes(path, buf, len);
  free(buf);
}

static deft_graph *import_nodes(const tnode *nodes, int n, deft_status *st) {
  const char *path = tmp_path("crafted.pb");
  write_graph(path, nodes, n);
  return deft_import_graph_def(path, NULL, st);
}

START_TEST(graph_errors) {
  deft_status *st = deft_status_new();
  /* missing input node */
  tnode missing[] = {{"a", "Placeholder", {NULL}, "dtype=float", NULL},
                     {"b", "Identity", {"zz:0"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(missing, 2, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'b'", "'zz'", "crafted.pb");
  tnode missing_ctrl[] = {{"a", "Placeholder", {"^nothere"}, "dtype=float", NULL}};
  ck_assert_ptr_null(import_nodes(missing_ctrl, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "nothere");
  /* a cycle */
  tnode cycle[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                   {"a", "Identity", {"b"}, "T=float", NULL},
                   {"b", "Identity", {"a"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(cycle, 3, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "cycle", "'a'", "'b'", "while loops");
  tnode self[] = {{"a", "NoOp", {"^a"}, NULL, NULL}};
  ck_assert_ptr_null(import_nodes(self, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "cycle", "'a'");
  /* attr of the wrong type */
  tnode wrong_attr[] = {{"a", "Placeholder", {NULL}, "dtype=i3", NULL}};
  ck_assert_ptr_null(import_nodes(wrong_attr, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "dtype", "type");
  /* missing required attr */
  tnode no_attr[] = {{"a", "Placeholder", {NULL}, NULL, NULL}};
  ck_assert_ptr_null(import_nodes(no_attr, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "dtype");
  /* duplicate names */
  tnode dup[] = {{"a", "NoOp", {NULL}, NULL, NULL}, {"a", "NoOp", {NULL}, NULL, NULL}};
  ck_assert_ptr_null(import_nodes(dup, 2, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "duplicate", "'a'");
  /* control input before a data input */
  tnode order[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                   {"q", "NoOp", {NULL}, NULL, NULL},
                   {"a", "Identity", {"^q", "p"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(order, 3, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "control inputs must come last");
  /* malformed names */
  tnode bad_index[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                       {"a", "Identity", {"p:x"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(bad_index, 2, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "p:x", "malformed");
  tnode empty_name[] = {{"", "NoOp", {NULL}, NULL, NULL}};
  ck_assert_ptr_null(import_nodes(empty_name, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "invalid name");
  tnode no_op[] = {{"a", "", {NULL}, NULL, NULL}};
  ck_assert_ptr_null(import_nodes(no_op, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "no op type");
  /* an output index past a known op's outputs */
  tnode past[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                  {"a", "Identity", {"p:3"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(past, 2, st));
  TU_ASSERT_STATUS(st, DEFT_OUT_OF_RANGE, "'a'", "'p'");
  /* a type mismatch on a known op */
  tnode mismatch[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                      {"a", "Switch", {"p", "p"}, "T=float", NULL}};
  ck_assert_ptr_null(import_nodes(mismatch, 2, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'a'", "pred", "DT_BOOL", "DT_FLOAT");
  /* nodes out of order are fine: they are sorted */
  tnode reversed[] = {{"b", "Identity", {"a"}, "T=float", NULL},
                      {"a", "Placeholder", {NULL}, "dtype=float", NULL}};
  deft_graph *g = import_nodes(reversed, 2, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 0)), "a");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 1)), "b");
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(unknown_op_types_import) {
  deft_status *st = deft_status_new();
  /* FancyOp: unknown to deft; 3 outputs because a consumer uses output 2; the dtype of output 2
   * comes from the consumer (Identity T=float). */
  tnode nodes[] = {{"p", "Placeholder", {NULL}, "dtype=float", NULL},
                   {"f", "FancyOp", {"p", "^p"}, "whatever=i7", NULL},
                   {"g", "Identity", {"f:2"}, "T=float", NULL},
                   {"h", "OtherUnknown", {"f", "f:1"}, NULL, NULL}};
  deft_graph *g = import_nodes(nodes, 4, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_op *f = deft_graph_op_by_name(g, "f");
  ck_assert(!deft_op_has_kernel(f));
  ck_assert(deft_op_has_kernel(deft_graph_op_by_name(g, "g")));
  ck_assert_int_eq(deft_op_num_outputs(f), 3);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(f, 2)), DEFT_FLOAT);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(f, 0)), DEFT_INVALID_DTYPE);
  int64_t v = 0;
  ck_assert(deft_op_attr_int(f, "whatever", &v));
  ck_assert_int_eq(v, 7);
  ck_assert_int_eq(deft_op_num_outputs(deft_graph_op_by_name(g, "h")), 1);
  /* it round-trips */
  const char *out = tmp_path("unknown.meta");
  ck_assert_msg(deft_export_meta_graph(g, out, NULL, st), "%s", deft_status_message(st));
  deft_graph *g2 = deft_import_meta_graph(out, NULL, NULL, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_graph_num_ops(g2), 4);
  ck_assert_int_eq(deft_op_num_outputs(deft_graph_op_by_name(g2, "f")), 3);
  deft_graph_free(g2);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* Attrs an old graph leaves out get defaults: deft's registry for the ops it knows, the
 * producer's stripped_op_list for the others (whose output dtypes also come from it). */
START_TEST(defaults_for_missing_attrs) {
  deft_status *st = deft_status_new();
  tnode nodes[] = {{"v", "VariableV2", {NULL}, "dtype=float", "shape=unknown"},
                   {"p", "Placeholder", {NULL}, "dtype=float", NULL},
                   {"a", "Assign", {"v", "p"}, "T=float", NULL},
                   {"f", "FancyOp", {NULL}, NULL, NULL}};
  const char *gpath = tmp_path("defaults.pb");
  write_graph(gpath, nodes, 4);
  deft_graph *g = deft_import_graph_def(gpath, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  bool b = false;
  ck_assert(deft_op_attr_bool(deft_graph_op_by_name(g, "a"), "use_locking", &b) && b);
  ck_assert(deft_op_attr_bool(deft_graph_op_by_name(g, "a"), "validate_shape", &b) && b);
  const char *s = NULL;
  ck_assert(deft_op_attr_string(deft_graph_op_by_name(g, "v"), "container", &s, NULL));
  ck_assert_str_eq(s, "");
  deft_graph_free(g);
  /* the same graph in a meta graph whose op list describes FancyOp */
  uint8_t *gbytes;
  size_t glen;
  ck_assert(deft_read_file(gpath, &gbytes, &glen, st));
  Tensorflow__GraphDef *gd = tensorflow__graph_def__unpack(NULL, glen, gbytes);
  Tensorflow__OpDef__ArgDef out;
  tensorflow__op_def__arg_def__init(&out);
  out.name = "y";
  out.type_attr = "T";
  Tensorflow__OpDef__ArgDef *outs[1] = {&out};
  Tensorflow__AttrValue tdef, adef;
  tensorflow__attr_value__init(&tdef);
  tdef.value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
  tdef.type = TENSORFLOW__DATA_TYPE__DT_INT64;
  tensorflow__attr_value__init(&adef);
  adef.value_case = TENSORFLOW__ATTR_VALUE__VALUE_F;
  adef.f = 0.5f;
  Tensorflow__OpDef__AttrDef t_attr, a_attr;
  tensorflow__op_def__attr_def__init(&t_attr);
  t_attr.name = "T";
  t_attr.type = "type";
  t_attr.default_value = &tdef;
  tensorflow__op_def__attr_def__init(&a_attr);
  a_attr.name = "alpha";
  a_attr.type = "float";
  a_attr.default_value = &adef;
  Tensorflow__OpDef__AttrDef *attrs[2] = {&t_attr, &a_attr};
  Tensorflow__OpDef od;
  tensorflow__op_def__init(&od);
  od.name = "FancyOp";
  od.n_output_arg = 1;
  od.output_arg = outs;
  od.n_attr = 2;
  od.attr = attrs;
  Tensorflow__OpDef *ods[1] = {&od};
  Tensorflow__OpList ol;
  tensorflow__op_list__init(&ol);
  ol.n_op = 1;
  ol.op = ods;
  Tensorflow__MetaGraphDef__MetaInfoDef mi;
  tensorflow__meta_graph_def__meta_info_def__init(&mi);
  mi.stripped_op_list = &ol;
  mi.stripped_default_attrs = true;
  Tensorflow__MetaGraphDef m;
  tensorflow__meta_graph_def__init(&m);
  m.meta_info_def = &mi;
  m.graph_def = gd;
  size_t len = tensorflow__meta_graph_def__get_packed_size(&m);
  uint8_t *buf = malloc(len);
  tensorflow__meta_graph_def__pack(&m, buf);
  const char *mpath = tmp_path("defaults.meta");
  write_bytes(mpath, buf, len);
  free(buf);
  tensorflow__graph_def__free_unpacked(gd, NULL);
  deft_free(gbytes);
  g = deft_import_meta_graph(mpath, NULL, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_op *f = deft_graph_op_by_name(g, "f");
  deft_dtype t = DEFT_INVALID_DTYPE;
  ck_assert(deft_op_attr_type(f, "T", &t));
  ck_assert_int_eq(t, DEFT_INT64);
  float alpha = 0;
  ck_assert(deft_op_attr_float(f, "alpha", &alpha));
  ck_assert_float_eq(alpha, 0.5f);
  ck_assert_int_eq(deft_op_num_outputs(f), 1);
  ck_assert_int_eq(deft_output_dtype(deft_op_output(f, 0)), DEFT_INT64);
  /* the producer's OpDef of FancyOp survives a re-export */
  const char *again = tmp_path("defaults2.meta");
  ck_assert_msg(deft_export_meta_graph(g, again, NULL, st), "%s", deft_status_message(st));
  uint8_t *data;
  ck_assert(deft_read_file(again, &data, &len, st));
  Tensorflow__MetaGraphDef *m2 = tensorflow__meta_graph_def__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(m2);
  const Tensorflow__OpList *l2 = m2->meta_info_def->stripped_op_list;
  bool found = false;
  for (size_t i = 0; i < l2->n_op; i++) {
    if (i) ck_assert_int_lt(strcmp(l2->op[i - 1]->name, l2->op[i]->name), 0);
    if (!strcmp(l2->op[i]->name, "FancyOp")) {
      found = true;
      ck_assert_uint_eq(l2->op[i]->n_attr, 2);
      ck_assert_str_eq(l2->op[i]->output_arg[0]->type_attr, "T");
    }
  }
  ck_assert(found);
  tensorflow__meta_graph_def__free_unpacked(m2, NULL);
  deft_free(data);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(file_errors) {
  TU_REQUIRE_SHARED(kk, KK_META);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = (deft_meta_graph_info *)1;
  /* unreadable path */
  ck_assert_ptr_null(deft_import_meta_graph("/nonexistent/dir/x.meta", NULL, &info, st));
  ck_assert_ptr_null(info);
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent/dir/x.meta");
  ck_assert_ptr_null(deft_import_graph_def("/nonexistent.pb", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent.pb");
  ck_assert_ptr_null(deft_load_saved_model("/nonexistent_dir", "serve", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent_dir");
  /* truncated .meta */
  uint8_t *data;
  size_t len;
  ck_assert(deft_read_file(kk, &data, &len, st));
  const char *trunc = tmp_path("truncated.meta");
  size_t cuts[] = {len / 2, len - 1, 7};
  for (size_t i = 0; i < 3; i++) {
    write_bytes(trunc, data, cuts[i]);
    ck_assert_ptr_null(deft_import_meta_graph(trunc, NULL, NULL, st));
    TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "truncated.meta", "MetaGraphDef");
  }
  /* random bytes */
  srand(1234);
  uint8_t junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rand();
  const char *rnd = tmp_path("random.meta");
  write_bytes(rnd, junk, sizeof junk);
  ck_assert_ptr_null(deft_import_meta_graph(rnd, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "random.meta");
  ck_assert_ptr_null(deft_import_graph_def(rnd, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "random.meta", "GraphDef");
  /* a field of the wrong wire type: graph_def (field 2, a message) as a varint */
  const uint8_t wrong[] = {0x10, 0x05};
  const char *ww = tmp_path("wrongwire.meta");
  write_bytes(ww, wrong, sizeof wrong);
  ck_assert_ptr_null(deft_import_meta_graph(ww, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "wrongwire.meta");
  /* NodeDef.name (field 1, a string) as a fixed32 inside a GraphDef */
  const uint8_t wrong2[] = {0x0a, 0x05, 0x0d, 0x01, 0x02, 0x03, 0x04};
  write_bytes(ww, wrong2, sizeof wrong2);
  ck_assert_ptr_null(deft_import_graph_def(ww, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "wrongwire.meta");
  /* text format */
  const char *txt = tmp_path("graph.pbtxt");
  write_bytes(txt, "node { name: \"a\" op: \"NoOp\" }\n", 30);
  ck_assert_ptr_null(deft_import_graph_def(txt, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "graph.pbtxt", "text");
  const char *txt2 = tmp_path("graph_text.pb");
  write_bytes(txt2, "node { name: \"a\" op: \"NoOp\" }\n", 30);
  ck_assert_ptr_null(deft_import_graph_def(txt2, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "graph_text.pb", "text format");
  /* a SavedModel directory with only the text file */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/textmodel", tu_tmpdir());
  mkdir(dir, 0777);
  char file[600];
  snprintf(file, sizeof file, "%s/saved_model.pbtxt", dir);
  write_bytes(file, "meta_graphs {}\n", 15);
  ck_assert_ptr_null(deft_load_saved_model(dir, "serve", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_UNIMPLEMENTED, "textmodel", "text");
  /* a directory where a file is expected */
  ck_assert_ptr_null(deft_import_meta_graph(dir, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "textmodel");
  /* a SavedModel with no meta graphs */
  snprintf(file, sizeof file, "%s/saved_model.pb", dir);
  write_bytes(file, "", 0);
  ck_assert_ptr_null(deft_load_saved_model(dir, "serve", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "no meta graphs");
  deft_free(data);
  deft_status_free(st);
}
END_TEST

/* A MetaGraphDef with a valid graph and one crafted collection. */
static void write_meta_with_collection(const char *path, const char *key,
                                       Tensorflow__CollectionDef *cd) {
  tnode nodes[] = {{"v", "VariableV2", {NULL}, "dtype=float", "shape=unknown"}};
  const char *gpath = tmp_path("collection_graph.pb");
  write_graph(gpath, nodes, 1);
  uint8_t *gbytes;
  size_t glen;
  ck_assert(deft_read_file(gpath, &gbytes, &glen, NULL));
  Tensorflow__GraphDef *gd = tensorflow__graph_def__unpack(NULL, glen, gbytes);
  Tensorflow__MetaGraphDef m;
  tensorflow__meta_graph_def__init(&m);
  m.graph_def = gd;
  Tensorflow__MetaGraphDef__CollectionDefEntry e, *ep = &e;
  tensorflow__meta_graph_def__collection_def_entry__init(&e);
  e.key = (char *)key;
  e.value = cd;
  m.n_collection_def = 1;
  m.collection_def = &ep;
  size_t len = tensorflow__meta_graph_def__get_packed_size(&m);
  uint8_t *buf = malloc(len);
  tensorflow__meta_graph_def__pack(&m, buf);
  write_bytes(path, buf, len);
  free(buf);
  tensorflow__graph_def__free_unpacked(gd, NULL);
  deft_free(gbytes);
}

START_TEST(collection_errors) {
  deft_status *st = deft_status_new();
  const char *path = tmp_path("coll.meta");
  Tensorflow__CollectionDef cd;
  tensorflow__collection_def__init(&cd);
  /* a node list naming a missing node */
  Tensorflow__CollectionDef__NodeList nl;
  tensorflow__collection_def__node_list__init(&nl);
  char *names[2] = {"v", "ghost:0"};
  nl.n_value = 2;
  nl.value = names;
  cd.kind_case = TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST;
  cd.node_list = &nl;
  write_meta_with_collection(path, "mine", &cd);
  ck_assert_ptr_null(deft_import_meta_graph(path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "coll.meta", "'mine'", "ghost");
  /* an output index past the node's outputs */
  names[1] = "v:3";
  write_meta_with_collection(path, "mine", &cd);
  ck_assert_ptr_null(deft_import_meta_graph(path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'mine'", "v:3", "1 output");
  /* garbage where a VariableDef should be */
  Tensorflow__CollectionDef__BytesList bl;
  tensorflow__collection_def__bytes_list__init(&bl);
  ProtobufCBinaryData junk = {3, (uint8_t *)"\x0a\x09x"};
  bl.n_value = 1;
  bl.value = &junk;
  cd.kind_case = TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST;
  cd.bytes_list = &bl;
  write_meta_with_collection(path, "variables", &cd);
  ck_assert_ptr_null(deft_import_meta_graph(path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "'variables'", "VariableDef");
  /* a VariableDef naming a missing initializer */
  static const char vd[] = "\n\003v:0\022\006nope/A";
  ProtobufCBinaryData good = {sizeof vd - 1, (uint8_t *)vd};
  bl.value = &good;
  write_meta_with_collection(path, "variables", &cd);
  ck_assert_ptr_null(deft_import_meta_graph(path, NULL, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'variables'", "nope/A");
  /* the same bytes in an unregistered key are kept raw */
  write_meta_with_collection(path, "blobs", &cd);
  deft_graph *g = deft_import_meta_graph(path, NULL, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  int n;
  ck_assert_str_eq(deft_graph_collection_kind(g, "blobs", &n), "bytes_list");
  ck_assert_int_eq(n, 1);
  ck_assert_ptr_null(deft_graph_collection_kind(g, "nothing", NULL));
  deft_graph_free(g);
  /* int64 and float lists are kept */
  Tensorflow__CollectionDef__Int64List il;
  tensorflow__collection_def__int64_list__init(&il);
  int64_t ints[3] = {1, -2, 3};
  il.n_value = 3;
  il.value = ints;
  cd.kind_case = TENSORFLOW__COLLECTION_DEF__KIND_INT64_LIST;
  cd.int64_list = &il;
  write_meta_with_collection(path, "ints", &cd);
  g = deft_import_meta_graph(path, NULL, NULL, st);
  ck_assert_str_eq(deft_graph_collection_kind(g, "ints", &n), "int64_list");
  ck_assert_int_eq(n, 3);
  const char *out = tmp_path("ints.meta");
  ck_assert(deft_export_meta_graph(g, out, NULL, st));
  deft_graph *g2 = deft_import_meta_graph(out, NULL, NULL, st);
  assert_same_graph(g, g2);
  deft_collection *c = deft_graph_collection(g2, "ints", false);
  ck_assert_int_eq(c->raw_ints[1], -2);
  deft_graph_free(g2);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(export_errors) {
  deft_graph *g = build_small_graph(NULL);
  deft_status *st = deft_status_new();
  /* a missing directory */
  ck_assert(!deft_export_meta_graph(g, "/nonexistent/dir/out.meta", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent/dir/out.meta");
  ck_assert(!deft_export_graph_def(g, "/nonexistent/dir/out.pb", st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "/nonexistent/dir/out.pb");
  /* a read-only directory (root ignores permissions: skip that part) */
  char ro[512];
  snprintf(ro, sizeof ro, "%s/readonly", tu_tmpdir());
  mkdir(ro, 0555);
  chmod(ro, 0555);
  char file[600];
  snprintf(file, sizeof file, "%s/out.meta", ro);
  if (geteuid() != 0) {
    ck_assert(!deft_export_meta_graph(g, file, NULL, st));
    TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "readonly");
  }
  /* a path that is a directory */
  ck_assert(!deft_export_meta_graph(g, tu_tmpdir(), NULL, st));
  ck_assert_int_ne(deft_status_code(st), DEFT_OK);
  /* a graph with a sticky error */
  deft_identity(g, (deft_output){NULL, 0}, "bad");
  ck_assert(!deft_graph_ok(g));
  ck_assert(!deft_export_meta_graph(g, tmp_path("x.meta"), NULL, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "x.meta", "error");
  ck_assert_ptr_null(deft_meta_graph_info_new_saver(NULL, "a", "b"));
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* Every allocation failing in turn: import and export return an error or succeed, never crash
 * or leak (the ASan build checks leaks). */
START_TEST(out_of_memory) {
  deft_graph *g = build_small_graph(NULL);
  deft_status *st = deft_status_new();
  const char *path = tmp_path("oom.meta");
  ck_assert(deft_export_meta_graph(g, path, NULL, st));
  int failures = 0;
  for (long n = 0;; n++) {
    deft_alloc_fail_after(n);
    deft_graph *g2 = deft_import_meta_graph(path, NULL, NULL, st);
    deft_alloc_fail_after(-1);
    if (g2) {
      deft_graph_free(g2);
      break;
    }
    failures++;
    ck_assert_int_ne(deft_status_code(st), DEFT_OK);
  }
  ck_assert_int_gt(failures, 10);
  const char *out = tmp_path("oom_out.meta");
  for (long n = 0;; n++) {
    deft_alloc_fail_after(n);
    bool ok = deft_export_meta_graph(g, out, NULL, st);
    deft_alloc_fail_after(-1);
    if (ok) break;
    ck_assert_int_ne(deft_status_code(st), DEFT_OK);
  }
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *import_suite(void) {
  Suite *s = suite_create("import");
  TCase *tc = tcase_create("tf_files");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, kk_model);
  tcase_add_test(tc, kk_new_model_user_collection);
  tcase_add_test(tc, haerfest_model);
  tcase_add_test(tc, taobai_control_flow);
  tcase_add_test(tc, half_plus_two_signatures);
  tcase_add_test(tc, half_plus_three_and_clear_devices);
  tcase_add_test(tc, simple_mnist_graph_def);
  tcase_add_test(tc, import_prefix_meta);
  suite_add_tcase(s, tc);

  tc = tcase_create("roundtrip");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, roundtrip_built_graph);
  tcase_add_test(tc, exported_bytes_have_what_tf_needs);
  tcase_add_loop_test(tc, reexport_tf_files, 0,
                      (int)(sizeof reexport_files / sizeof reexport_files[0]));
  tcase_add_test(tc, tensor_proto_decoding_rules);
  tcase_add_test(tc, tensor_proto_roundtrip);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, graph_errors);
  tcase_add_test(tc, unknown_op_types_import);
  tcase_add_test(tc, defaults_for_missing_attrs);
  tcase_add_test(tc, file_errors);
  tcase_add_test(tc, collection_errors);
  tcase_add_test(tc, export_errors);
  tcase_add_test(tc, out_of_memory);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(import_suite()); }
