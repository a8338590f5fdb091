/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_import_errors.c - bad input to the importers and exporters (graph/import*.c,
 * graph/export.c): missing inputs, cycles, duplicate names, attrs of the wrong type, truncated
 * and random files, wrong wire types, broken text format, bad collections, unwritable paths; op
 * types deft does not know; defaults for attrs old graphs leave out; every allocation failing. */
#include "import_testutil.h"

/* ---- bad input ---- */

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
  /* text format (tests/test_text_format.c covers it): a broken text file, by suffix or by
   * content, fails with the position */
  const char *txt = tmp_path("graph.pbtxt");
  write_bytes(txt, "node { name: \"a\" op: \"NoOp\" }}\n", 31);
  ck_assert_ptr_null(deft_import_graph_def(txt, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "graph.pbtxt:1:30:", "text-format");
  const char *txt2 = tmp_path("graph_text.pb");
  write_bytes(txt2, "node { name: \"a\" op: \"NoOp\" }}\n", 31);
  ck_assert_ptr_null(deft_import_graph_def(txt2, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "graph_text.pb:1:30:", "text-format");
  /* a SavedModel directory with only the text file, which has no meta graph */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/textmodel", tu_tmpdir());
  mkdir(dir, 0777);
  char file[600];
  snprintf(file, sizeof file, "%s/saved_model.pbtxt", dir);
  write_bytes(file, "meta_graphs {}\n", 15);
  ck_assert_ptr_null(deft_load_saved_model(dir, "serve", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, "saved_model.pbtxt", "serve");
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

static Suite *import_errors_suite(void) {
  Suite *s = suite_create("import_errors");
  TCase *tc = tcase_create("errors");
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

int main(void) { return tu_run_suite(import_errors_suite()); }
