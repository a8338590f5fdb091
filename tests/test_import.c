/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_import.c - graph <-> GraphDef / MetaGraphDef / SavedModel (graph/import*.c,
 * graph/export.c): every real TF file in ../shared/tf1 (checked against tf1/README.md and
 * against an independent pure-Python wire-format parser), round trips of deft-built and
 * TF-written graphs, and the bytes TF requires in deft's exports. Bad input is in
 * test_import_errors.c, TensorProto rules in test_tensor_proto.c. */
#include "import_testutil.h"

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
  ck_assert_ptr_eq(deft_variable_initializer(kernel),
                   deft_graph_op_by_name(g, "hidden1/kernel/Assign"));
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
  /* ParseExample is imported and runs (tests/test_parse_example.c) */
  deft_op *pe = deft_graph_op_by_name(g, "ParseExample/ParseExample");
  ck_assert_ptr_nonnull(pe);
  ck_assert(deft_op_has_kernel(pe));
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
  /* every op of this frozen graph is one deft runs, with the signature's output count */
  deft_op *mm = deft_graph_op_by_name(g, "Layer1/MatMul");
  ck_assert(deft_op_has_kernel(mm));
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

/* A GraphDef "x" (Placeholder float, shape attr `shape {}` unless !with_shape) -> "sq" (Square),
 * with versions.producer = producer (none when producer < 0), written in binary. */
static const char *write_old_placeholder_graph(const char *name, int producer, bool with_shape) {
  Tensorflow__AttrValue dtype = TENSORFLOW__ATTR_VALUE__INIT, shape = TENSORFLOW__ATTR_VALUE__INIT,
                        t = TENSORFLOW__ATTR_VALUE__INIT;
  Tensorflow__TensorShapeProto scalar = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
  dtype.value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
  dtype.type = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  t = dtype;
  shape.value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE;
  shape.shape = &scalar;
  Tensorflow__NodeDef__AttrEntry e_dtype = TENSORFLOW__NODE_DEF__ATTR_ENTRY__INIT,
                                 e_shape = TENSORFLOW__NODE_DEF__ATTR_ENTRY__INIT,
                                 e_t = TENSORFLOW__NODE_DEF__ATTR_ENTRY__INIT;
  e_dtype.key = "dtype";
  e_dtype.value = &dtype;
  e_shape.key = "shape";
  e_shape.value = &shape;
  e_t.key = "T";
  e_t.value = &t;
  Tensorflow__NodeDef__AttrEntry *xattrs[2] = {&e_dtype, &e_shape}, *sqattrs[1] = {&e_t};
  Tensorflow__NodeDef x = TENSORFLOW__NODE_DEF__INIT, sq = TENSORFLOW__NODE_DEF__INIT;
  x.name = "x";
  x.op = "Placeholder";
  x.n_attr = with_shape ? 2 : 1;
  x.attr = xattrs;
  char *in[1] = {"x"};
  sq.name = "sq";
  sq.op = "Square";
  sq.n_input = 1;
  sq.input = in;
  sq.n_attr = 1;
  sq.attr = sqattrs;
  Tensorflow__NodeDef *nodes[2] = {&x, &sq};
  Tensorflow__VersionDef v = TENSORFLOW__VERSION_DEF__INIT;
  v.producer = producer;
  Tensorflow__GraphDef gd = TENSORFLOW__GRAPH_DEF__INIT;
  gd.n_node = 2;
  gd.node = nodes;
  if (producer >= 0) gd.versions = &v;
  size_t len = tensorflow__graph_def__get_packed_size(&gd);
  uint8_t *buf = malloc(len);
  ck_assert_ptr_nonnull(buf);
  tensorflow__graph_def__pack(&gd, buf);
  const char *path = tmp_path(name);
  write_bytes(path, buf, len);
  free(buf);
  return path;
}

/* TF <= 1.0 (producer <= 21) wrote `shape {}` for Placeholders of unknown shape (Udacity's LeNet
 * lenet.meta is one such file); TF's shape function reads it as unknown there, as a scalar after.
 * No shape attr at all is unknown. */
START_TEST(old_placeholder_shapes) {
  static const struct {
    int producer;
    bool with_shape, unknown;
  } cases[] = {{21, true, true}, {0, true, true}, {-1, true, true}, {22, true, false},
               {24, false, true}, {5, false, true}};
  int64_t dims[2] = {2, 3};
  deft_tensor *v = deft_tensor_new(DEFT_FLOAT, dims, 2, NULL);
  float *vp = deft_tensor_data(v);
  for (int k = 0; k < 6; k++) vp[k] = (float)k;
  deft_status *st = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "old_ph_%zu.pb", i);
    const char *path = write_old_placeholder_graph(name, cases[i].producer, cases[i].with_shape);
    deft_graph *g = deft_import_graph_def(path, NULL, st);
    ck_assert_msg(g != NULL, "%s", deft_status_message(st));
    deft_output x = deft_graph_tensor_by_name(g, "x:0", st),
                sq = deft_graph_tensor_by_name(g, "sq:0", st);
    ck_assert_int_eq(deft_output_shape(x).rank, cases[i].unknown ? -1 : 0);
    ck_assert_int_eq(deft_output_shape(sq).rank, cases[i].unknown ? -1 : 0);
    if (cases[i].with_shape) { /* the attr keeps the file's value */
      deft_shape as;
      ck_assert(deft_op_attr_shape(x.op, "shape", &as));
      ck_assert_int_eq(as.rank, 0);
    }
    deft_session *s = deft_session_new(g, st);
    deft_tensor *out = NULL;
    bool ok =
        deft_session_run(s, &x, (const deft_tensor *const[]){v}, 1, &sq, &out, 1, NULL, 0, st);
    if (cases[i].unknown) {
      ck_assert_msg(ok, "case %zu: %s", i, deft_status_message(st));
      ck_assert(deft_tensor_get_double(out, 5) == 25.0);
      deft_tensor_free(out);
    } else {
      ck_assert(!ok);
      TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "cannot feed", "[2,3]", "'x:0'", "shape []");
    }
    deft_session_free(s);
    deft_graph_free(g);
  }
  deft_tensor_free(v);
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

/* TF's own save/restore subgraph in an imported SavedModel runs in deft: restoring the
 * checkpoint gives tf1/README.md's values (half_plus_two: a = 0.5, b = 2; half_plus_three:
 * y = 0.5 x + 3). */
START_TEST(saved_model_restores_with_its_saver) {
  const char *dirs[2] = {HALF_PLUS_TWO_DIR, HALF_PLUS_THREE_DIR};
  const double want_b[2] = {2.0, 3.0};
  for (int k = 0; k < 2; k++) {
    TU_REQUIRE_SHARED(dir, dirs[k]);
    deft_status *st = deft_status_new();
    deft_meta_graph_info *info = NULL;
    deft_graph *g = deft_load_saved_model(dir, "serve", &info, st);
    ck_assert_msg(g != NULL, "%s", deft_status_message(st));
    deft_saver *saver = deft_saver_from_names(g, deft_meta_graph_info_filename_tensor(info),
                                              deft_meta_graph_info_save_tensor(info),
                                              deft_meta_graph_info_restore_op(info),
                                              deft_meta_graph_info_max_to_keep(info), st);
    ck_assert_msg(saver != NULL, "%s", deft_status_message(st));
    deft_session *s = deft_session_new(g, st);
    ck_assert_ptr_nonnull(s);
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/variables/variables", dir);
    ck_assert_msg(deft_saver_restore(saver, s, prefix, st), "%s", deft_status_message(st));
    deft_tensor *a = deft_session_variable_value(s, deft_graph_op_by_name(g, "a"), st);
    deft_tensor *b = deft_session_variable_value(s, deft_graph_op_by_name(g, "b"), st);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_double_eq(deft_tensor_get_double(a, 0), 0.5);
    ck_assert_double_eq(deft_tensor_get_double(b, 0), want_b[k]);
    deft_tensor_free(a);
    deft_tensor_free(b);
    deft_session_free(s);
    deft_saver_free(saver);
    deft_meta_graph_info_free(info);
    deft_graph_free(g);
    deft_status_free(st);
  }
}
END_TEST

/* deft's Saver graph survives export and import: the imported SaverDef restores what the
 * original graph saved. */
START_TEST(saver_roundtrip) {
  deft_op *kernel;
  deft_graph *g = build_small_graph(&kernel);
  deft_saver *saver = deft_saver_new(g, NULL, 0, 5, NULL);
  ck_assert_msg(saver != NULL, "%s", deft_status_message(deft_graph_status(g)));
  deft_op *init = deft_global_variables_initializer(g, "init");
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  float vals[6] = {1, -2, 3.5f, 4, 5, -6e-8f};
  int64_t dims[2] = {3, 2};
  deft_tensor *v = deft_tensor_from_data(DEFT_FLOAT, dims, 2, vals, sizeof vals, st);
  ck_assert(deft_session_set_variable(s, kernel, v, st));
  deft_tensor_free(v);
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/saver_rt/model", tu_tmpdir());
  char dir[512];
  snprintf(dir, sizeof dir, "%s/saver_rt", tu_tmpdir());
  mkdir(dir, 0777);
  ck_assert_msg(deft_saver_save(saver, s, prefix, -1, NULL, st), "%s", deft_status_message(st));
  deft_meta_graph_info *info = deft_meta_graph_info_new_saver(
      deft_saver_filename_tensor(saver), deft_saver_save_tensor(saver),
      deft_saver_restore_op(saver));
  char meta[600];
  snprintf(meta, sizeof meta, "%s.meta", prefix);
  ck_assert_msg(deft_export_meta_graph(g, meta, info, st), "%s", deft_status_message(st));
  deft_meta_graph_info *info2 = NULL;
  deft_graph *g2 = deft_import_meta_graph(meta, NULL, &info2, st);
  ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
  assert_same_graph(g, g2);
  deft_saver *saver2 = deft_saver_from_names(g2, deft_meta_graph_info_filename_tensor(info2),
                                             deft_meta_graph_info_save_tensor(info2),
                                             deft_meta_graph_info_restore_op(info2), 5, st);
  ck_assert_msg(saver2 != NULL, "%s", deft_status_message(st));
  deft_session *s2 = deft_session_new(g2, st);
  ck_assert_msg(deft_saver_restore(saver2, s2, prefix, st), "%s", deft_status_message(st));
  deft_tensor *back =
      deft_session_variable_value(s2, deft_graph_op_by_name(g2, "dense/kernel"), st);
  ck_assert_ptr_nonnull(back);
  ck_assert(!memcmp(deft_tensor_data(back), vals, sizeof vals));
  deft_tensor_free(back);
  deft_session_free(s2);
  deft_saver_free(saver2);
  deft_graph_free(g2);
  deft_meta_graph_info_free(info2);
  deft_meta_graph_info_free(info);
  deft_session_free(s);
  deft_saver_free(saver);
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
        if (!strcmp(d->attr[a]->name, "T"))
          ck_assert_uint_gt(d->attr[a]->allowed_values->list->n_type, 5);
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
  tcase_add_test(tc, saved_model_restores_with_its_saver);
  tcase_add_test(tc, saver_roundtrip);
  tcase_add_test(tc, old_placeholder_shapes);
  tcase_add_loop_test(tc, reexport_tf_files, 0,
                      (int)(sizeof reexport_files / sizeof reexport_files[0]));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(import_suite()); }
