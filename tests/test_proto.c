/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_proto.c - deft's TF-wire-compatible schemas (the files in proto/, compiled by
 * protoc-c) against real TensorFlow 1.x files; wire-format edge cases; base/file_io (whole-file
 * reads, atomic writes). */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control_flow.pb-c.h"
#include "graph.pb-c.h"
#include "meta_graph.pb-c.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "saved_model.pb-c.h"
#include "testutil.h"
#include "variable.pb-c.h"

#define KK_DIR "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define KK_META KK_DIR "my_model_final.ckpt.meta"
#define KK_NEW_META KK_DIR "my_new_model_final.ckpt.meta"
#define HAERFEST_META "tf1/haerfest__handson-ml/my_model_final.ckpt.meta"
#define TAOBAI_META "tf1/tao-bai__Hands-on-Machine-Learning/my_model_final.ckpt.meta"
#define SERVING_DIR "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO SERVING_DIR "saved_model_half_plus_two_cpu/00000123/saved_model.pb"
#define HALF_PLUS_THREE SERVING_DIR "saved_model_half_plus_three/00000123/saved_model.pb"
#define SIMPLE_MNIST "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb"

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static uint8_t *read_fixture(const char *path, size_t *len) {
  deft_status *st = deft_status_new();
  uint8_t *data = NULL;
  ck_assert_msg(deft_read_file(path, &data, len, st), "%s", deft_status_message(st));
  deft_status_free(st);
  return data;
}

/* Number of unknown fields anywhere in m's tree: 0 means the schema declares every field the
 * file uses. Walks sub-messages through the descriptors. */
static size_t count_unknown(const ProtobufCMessage *m) {
  if (!m) return 0;
  size_t n = m->n_unknown_fields;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t count = *(const size_t *)(base + f->quantifier_offset);
      ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
      for (size_t k = 0; k < count; k++) n += count_unknown(items[k]);
      continue;
    }
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + f->quantifier_offset) != f->id)
      continue;
    n += count_unknown(*(ProtobufCMessage *const *)(base + f->offset));
  }
  return n;
}

/* Serializes msg, parses that back and serializes again; asserts both serializations agree.
 * Returns the first one (free with free()) and its length. */
static uint8_t *repack(const ProtobufCMessage *msg, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(protobuf_c_message_pack(msg, buf), n);
  ProtobufCMessage *again = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
  ck_assert_ptr_nonnull(again);
  size_t n2 = protobuf_c_message_get_packed_size(again);
  ck_assert_uint_eq(n2, n);
  uint8_t *buf2 = malloc(n2 ? n2 : 1);
  ck_assert_ptr_nonnull(buf2);
  ck_assert_uint_eq(protobuf_c_message_pack(again, buf2), n2);
  ck_assert(memcmp(buf, buf2, n) == 0);
  free(buf2);
  protobuf_c_message_free_unpacked(again, NULL);
  *len = n;
  return buf;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t distinct_op_types(const Tensorflow__GraphDef *g) {
  if (g->n_node == 0) return 0;
  const char **ops = malloc(g->n_node * sizeof *ops);
  ck_assert_ptr_nonnull(ops);
  for (size_t i = 0; i < g->n_node; i++) ops[i] = g->node[i]->op;
  qsort(ops, g->n_node, sizeof *ops, cmp_str);
  size_t distinct = 1;
  for (size_t i = 1; i < g->n_node; i++) distinct += strcmp(ops[i], ops[i - 1]) != 0;
  free(ops);
  return distinct;
}

static size_t count_op(const Tensorflow__GraphDef *g, const char *op) {
  size_t n = 0;
  for (size_t i = 0; i < g->n_node; i++) n += strcmp(g->node[i]->op, op) == 0;
  return n;
}

static const Tensorflow__NodeDef *node_by_name(const Tensorflow__GraphDef *g, const char *name) {
  for (size_t i = 0; i < g->n_node; i++)
    if (strcmp(g->node[i]->name, name) == 0) return g->node[i];
  return NULL;
}

static const Tensorflow__NodeDef *node_by_op(const Tensorflow__GraphDef *g, const char *op) {
  for (size_t i = 0; i < g->n_node; i++)
    if (strcmp(g->node[i]->op, op) == 0) return g->node[i];
  return NULL;
}

/* The node named by a tensor name "node:k" (or an op name). */
static const Tensorflow__NodeDef *node_of_tensor(const Tensorflow__GraphDef *g, const char *t) {
  char name[512];
  snprintf(name, sizeof name, "%s", t);
  char *colon = strrchr(name, ':');
  if (colon) *colon = 0;
  return node_by_name(g, name);
}

static const Tensorflow__AttrValue *node_attr(const Tensorflow__NodeDef *n, const char *key) {
  for (size_t i = 0; i < n->n_attr; i++)
    if (strcmp(n->attr[i]->key, key) == 0) return n->attr[i]->value;
  return NULL;
}

static const Tensorflow__CollectionDef *collection(const Tensorflow__MetaGraphDef *m,
                                                   const char *key) {
  for (size_t i = 0; i < m->n_collection_def; i++)
    if (strcmp(m->collection_def[i]->key, key) == 0) return m->collection_def[i]->value;
  return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static Tensorflow__MetaGraphDef *load_meta(const char *path, uint8_t **data, size_t *len) {
  *data = read_fixture(path, len);
  Tensorflow__MetaGraphDef *m = tensorflow__meta_graph_def__unpack(NULL, *len, *data);
  ck_assert_msg(m != NULL, "%s did not parse as a MetaGraphDef", path);
  ck_assert_ptr_nonnull(m->graph_def);
  return m;
}

/* ---------------------------------------------------------------------------------------- */
/* Every real TF file: parse, schema coverage, README facts, re-serialization                 */
/* ---------------------------------------------------------------------------------------- */

enum fixture_kind { META_GRAPH, SAVED_MODEL, GRAPH };

typedef struct {
  const char *rel;
  enum fixture_kind kind;
  size_t nodes;         /* 0: not stated in tf1/README.md */
  size_t op_types;      /* 0: not stated */
  int producer;         /* versions.producer */
  bool byte_identical;  /* re-serializing reproduces the file exactly */
} fixture;

static const fixture fixtures[] = {
    {KK_META, META_GRAPH, 310, 34, 22, true},
    {KK_NEW_META, META_GRAPH, 310, 34, 22, true},
    {HAERFEST_META, META_GRAPH, 166, 32, 22, true},
    {TAOBAI_META, META_GRAPH, 790, 50, 26, true},
    {HALF_PLUS_TWO, SAVED_MODEL, 0, 0, 149, true},
    {HALF_PLUS_THREE, SAVED_MODEL, 0, 0, 21, true},
    {SIMPLE_MNIST, GRAPH, 17, 6, 0, true},
};

static const ProtobufCMessageDescriptor *fixture_descriptor(enum fixture_kind k) {
  switch (k) {
    case META_GRAPH: return &tensorflow__meta_graph_def__descriptor;
    case SAVED_MODEL: return &tensorflow__saved_model__descriptor;
    case GRAPH: return &tensorflow__graph_def__descriptor;
  }
  return NULL;
}

static const Tensorflow__GraphDef *fixture_graph(enum fixture_kind k, const ProtobufCMessage *m) {
  switch (k) {
    case META_GRAPH: return ((const Tensorflow__MetaGraphDef *)m)->graph_def;
    case SAVED_MODEL: {
      const Tensorflow__SavedModel *sm = (const Tensorflow__SavedModel *)m;
      ck_assert_uint_eq(sm->n_meta_graphs, 1);
      return sm->meta_graphs[0]->graph_def;
    }
    case GRAPH: return (const Tensorflow__GraphDef *)m;
  }
  return NULL;
}

START_TEST(real_files_parse_and_roundtrip) {
  const fixture *fx = &fixtures[_i];
  TU_REQUIRE_SHARED(path, fx->rel);
  size_t len;
  uint8_t *data = read_fixture(path, &len);
  ProtobufCMessage *m = protobuf_c_message_unpack(fixture_descriptor(fx->kind), NULL, len, data);
  ck_assert_msg(m != NULL, "%s did not parse", fx->rel);
  ck_assert_msg(count_unknown(m) == 0, "%s: %zu fields unknown to deft's schema", fx->rel,
                count_unknown(m));

  const Tensorflow__GraphDef *g = fixture_graph(fx->kind, m);
  ck_assert_ptr_nonnull(g);
  if (fx->nodes) ck_assert_uint_eq(g->n_node, fx->nodes);
  if (fx->op_types) ck_assert_uint_eq(distinct_op_types(g), fx->op_types);
  ck_assert_int_eq(g->versions ? g->versions->producer : 0, fx->producer);
  for (size_t i = 0; i < g->n_node; i++) {
    ck_assert_str_ne(g->node[i]->name, "");
    ck_assert_str_ne(g->node[i]->op, "");
  }

  size_t out_len;
  uint8_t *out = repack(m, &out_len);
  if (fx->byte_identical) {
    ck_assert_msg(out_len == len, "%s: re-serialized %zu bytes, file has %zu", fx->rel, out_len,
                  len);
    ck_assert_msg(memcmp(out, data, len) == 0, "%s: re-serialized bytes differ", fx->rel);
  }
  free(out);
  protobuf_c_message_free_unpacked(m, NULL);
  deft_free(data);
}
END_TEST

/* KKeishiro: tf.layers.dense net, TF 1.2.1 (InTopK with attr k, one RestoreV2 per variable). */
START_TEST(kkeishiro_meta_facts) {
  TU_REQUIRE_SHARED(path, KK_META);
  uint8_t *data;
  size_t len;
  Tensorflow__MetaGraphDef *m = load_meta(path, &data, &len);
  const Tensorflow__GraphDef *g = m->graph_def;

  const Tensorflow__NodeDef *topk = node_by_op(g, "InTopK");
  ck_assert_ptr_nonnull(topk);
  const Tensorflow__AttrValue *k = node_attr(topk, "k");
  ck_assert_ptr_nonnull(k);
  ck_assert_int_eq(k->value_case, TENSORFLOW__ATTR_VALUE__VALUE_I);
  ck_assert_int_eq(k->i, 1);
  ck_assert_uint_eq(count_op(g, "RestoreV2"), 12);
  ck_assert_ptr_nonnull(node_by_op(g, "PreventGradient"));
  ck_assert_ptr_nonnull(node_by_op(g, "BiasAddGrad"));
  ck_assert_ptr_nonnull(node_by_op(g, "ReluGrad"));

  /* Placeholder X: float [-1, 784]. */
  const Tensorflow__NodeDef *x = node_by_name(g, "X");
  ck_assert_ptr_nonnull(x);
  ck_assert_str_eq(x->op, "Placeholder");
  const Tensorflow__AttrValue *dtype = node_attr(x, "dtype");
  ck_assert_int_eq(dtype->value_case, TENSORFLOW__ATTR_VALUE__VALUE_TYPE);
  ck_assert_int_eq(dtype->type, TENSORFLOW__DATA_TYPE__DT_FLOAT);
  const Tensorflow__AttrValue *shape = node_attr(x, "shape");
  ck_assert_int_eq(shape->value_case, TENSORFLOW__ATTR_VALUE__VALUE_SHAPE);
  ck_assert_uint_eq(shape->shape->n_dim, 2);
  ck_assert_int_eq(shape->shape->dim[0]->size, -1);
  ck_assert_int_eq(shape->shape->dim[1]->size, 784);

  const Tensorflow__SaverDef *sv = m->saver_def;
  ck_assert_ptr_nonnull(sv);
  ck_assert_str_eq(sv->filename_tensor_name, "save/Const:0");
  ck_assert_str_eq(sv->restore_op_name, "save/restore_all");
  ck_assert_int_eq(sv->version, TENSORFLOW__SAVER_DEF__CHECKPOINT_FORMAT_VERSION__V2);
  ck_assert_int_eq(sv->max_to_keep, 5);
  ck_assert(sv->keep_checkpoint_every_n_hours == 10000.0f);

  /* The meta info names TF 1.2.1 and lists the op types, sorted. */
  ck_assert_ptr_nonnull(m->meta_info_def);
  ck_assert_str_eq(m->meta_info_def->tensorflow_version, "1.2.1");
  const Tensorflow__OpList *ops = m->meta_info_def->stripped_op_list;
  ck_assert_ptr_nonnull(ops);
  ck_assert_uint_eq(ops->n_op, 34);
  for (size_t i = 1; i < ops->n_op; i++)
    ck_assert(strcmp(ops->op[i - 1]->name, ops->op[i]->name) < 0);

  /* Every "variables" entry is a serialized VariableDef naming nodes of this graph. */
  const Tensorflow__CollectionDef *vars = collection(m, "variables");
  ck_assert_ptr_nonnull(vars);
  ck_assert_int_eq(vars->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST);
  ck_assert_uint_eq(vars->bytes_list->n_value, 12);
  bool saw_kernel = false;
  for (size_t i = 0; i < vars->bytes_list->n_value; i++) {
    ProtobufCBinaryData b = vars->bytes_list->value[i];
    Tensorflow__VariableDef *v = tensorflow__variable_def__unpack(NULL, b.len, b.data);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(count_unknown(&v->base), 0);
    ck_assert_msg(ends_with(v->variable_name, ":0"), "%s", v->variable_name);
    ck_assert_msg(ends_with(v->initializer_name, "/Assign"), "%s", v->initializer_name);
    ck_assert_msg(ends_with(v->snapshot_name, "/read:0"), "%s", v->snapshot_name);
    const Tensorflow__NodeDef *vn = node_of_tensor(g, v->variable_name);
    ck_assert_ptr_nonnull(vn);
    ck_assert_str_eq(vn->op, "VariableV2");
    ck_assert_ptr_nonnull(node_by_name(g, v->initializer_name));
    ck_assert(!v->is_resource);
    saw_kernel |= strcmp(v->variable_name, "hidden1/kernel:0") == 0;
    /* Re-serialization of a VariableDef reproduces TF's bytes. */
    size_t out_len;
    uint8_t *out = repack(&v->base, &out_len);
    ck_assert_uint_eq(out_len, b.len);
    ck_assert(memcmp(out, b.data, b.len) == 0);
    free(out);
    tensorflow__variable_def__free_unpacked(v, NULL);
  }
  ck_assert(saw_kernel);
  tensorflow__meta_graph_def__free_unpacked(m, NULL);
  deft_free(data);
}
END_TEST

START_TEST(kkeishiro_new_model_user_collection) {
  TU_REQUIRE_SHARED(path, KK_NEW_META);
  uint8_t *data;
  size_t len;
  Tensorflow__MetaGraphDef *m = load_meta(path, &data, &len);
  const Tensorflow__CollectionDef *c = collection(m, "my_important_ops");
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(c->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST);
  static const char *const expect[] = {"X:0", "y:0", "eval/accuracy:0", "GradientDescent"};
  ck_assert_uint_eq(c->node_list->n_value, 4);
  for (size_t i = 0; i < 4; i++) {
    ck_assert_str_eq(c->node_list->value[i], expect[i]);
    ck_assert_ptr_nonnull(node_of_tensor(m->graph_def, expect[i]));
  }
  ck_assert_str_eq(node_by_name(m->graph_def, "GradientDescent")->op, "NoOp");
  ck_assert_str_eq(m->saver_def->filename_tensor_name, "save/Const:0");
  ck_assert_str_eq(m->saver_def->restore_op_name, "save/restore_all");
  tensorflow__meta_graph_def__free_unpacked(m, NULL);
  deft_free(data);
}
END_TEST

/* haerfest: hand-built net with tf.Variable weights and InTopK. */
START_TEST(haerfest_meta_facts) {
  TU_REQUIRE_SHARED(path, HAERFEST_META);
  uint8_t *data;
  size_t len;
  Tensorflow__MetaGraphDef *m = load_meta(path, &data, &len);
  const Tensorflow__GraphDef *g = m->graph_def;
  ck_assert_ptr_nonnull(node_by_name(g, "train/GradientDescent"));
  ck_assert_ptr_nonnull(node_by_name(g, "eval/Mean"));
  ck_assert_ptr_nonnull(node_by_op(g, "InTopK"));
  ck_assert_ptr_nonnull(node_by_op(g, "BroadcastGradientArgs"));
  ck_assert_int_eq(m->saver_def->version, TENSORFLOW__SAVER_DEF__CHECKPOINT_FORMAT_VERSION__V2);
  ck_assert_str_eq(m->saver_def->filename_tensor_name, "save/Const:0");

  const Tensorflow__CollectionDef *vars = collection(m, "trainable_variables");
  ck_assert_ptr_nonnull(vars);
  ck_assert_int_eq(vars->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST);
  bool saw = false;
  for (size_t i = 0; i < vars->bytes_list->n_value; i++) {
    ProtobufCBinaryData b = vars->bytes_list->value[i];
    Tensorflow__VariableDef *v = tensorflow__variable_def__unpack(NULL, b.len, b.data);
    ck_assert_ptr_nonnull(v);
    saw |= strcmp(v->variable_name, "dnn/hidden1/weights:0") == 0;
    tensorflow__variable_def__free_unpacked(v, NULL);
  }
  ck_assert(saw);
  tensorflow__meta_graph_def__free_unpacked(m, NULL);
  deft_free(data);
}
END_TEST

/* tao-bai: batch norm under tf.cond, TF 1.9 (Switch/Merge control flow, cond_context). */
START_TEST(taobai_control_flow_facts) {
  TU_REQUIRE_SHARED(path, TAOBAI_META);
  uint8_t *data;
  size_t len;
  Tensorflow__MetaGraphDef *m = load_meta(path, &data, &len);
  const Tensorflow__GraphDef *g = m->graph_def;
  ck_assert_uint_eq(count_op(g, "Switch"), 54);
  ck_assert_uint_eq(count_op(g, "Merge"), 18);
  ck_assert_uint_eq(count_op(g, "RefSwitch"), 6);
  ck_assert_ptr_nonnull(node_by_op(g, "InTopKV2"));
  const Tensorflow__NodeDef *training = node_by_name(g, "training");
  ck_assert_ptr_nonnull(training);
  ck_assert_str_eq(training->op, "PlaceholderWithDefault");
  ck_assert_str_eq(m->meta_info_def->tensorflow_version, "1.9.0");

  /* cond_context: serialized CondContextDefs whose names resolve in the graph. */
  const Tensorflow__CollectionDef *cc = collection(m, "cond_context");
  ck_assert_ptr_nonnull(cc);
  ck_assert_int_eq(cc->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST);
  ck_assert_uint_gt(cc->bytes_list->n_value, 0);
  int branches[2] = {0, 0};
  for (size_t i = 0; i < cc->bytes_list->n_value; i++) {
    ProtobufCBinaryData b = cc->bytes_list->value[i];
    Tensorflow__CondContextDef *c = tensorflow__cond_context_def__unpack(NULL, b.len, b.data);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(count_unknown(&c->base), 0);
    ck_assert_str_ne(c->context_name, "");
    ck_assert_ptr_nonnull(node_of_tensor(g, c->pred_name));
    const Tensorflow__NodeDef *pivot = node_of_tensor(g, c->pivot_name);
    ck_assert_ptr_nonnull(pivot);
    ck_assert_str_eq(pivot->op, "Identity");
    ck_assert(c->branch == 0 || c->branch == 1);
    branches[c->branch]++;
    ck_assert_ptr_nonnull(c->values_def);
    ck_assert_uint_gt(c->values_def->n_values, 0);
    size_t out_len;
    uint8_t *out = repack(&c->base, &out_len);
    ck_assert_uint_eq(out_len, b.len);
    ck_assert(memcmp(out, b.data, b.len) == 0);
    free(out);
    tensorflow__cond_context_def__free_unpacked(c, NULL);
  }
  ck_assert_int_gt(branches[0], 0);
  ck_assert_int_gt(branches[1], 0);

  /* update_ops: the moving-average updates, one per moving_mean/moving_variance. Under
   * training=placeholder each is the Merge of a cond whose true branch is the AssignSub. */
  const Tensorflow__CollectionDef *up = collection(m, "update_ops");
  ck_assert_ptr_nonnull(up);
  ck_assert_int_eq(up->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST);
  ck_assert_uint_eq(up->node_list->n_value, 6);
  for (size_t i = 0; i < up->node_list->n_value; i++) {
    const Tensorflow__NodeDef *n = node_of_tensor(g, up->node_list->value[i]);
    ck_assert_msg(n != NULL, "%s", up->node_list->value[i]);
    ck_assert_str_eq(n->op, "Merge");
    size_t assign_subs = 0;
    for (size_t k = 0; k < n->n_input; k++) {
      const Tensorflow__NodeDef *in = node_of_tensor(g, n->input[k]);
      ck_assert_ptr_nonnull(in);
      assign_subs += strcmp(in->op, "AssignSub") == 0;
    }
    ck_assert_uint_eq(assign_subs, 1);
  }
  tensorflow__meta_graph_def__free_unpacked(m, NULL);
  deft_free(data);
}
END_TEST

START_TEST(saved_model_facts) {
  TU_REQUIRE_SHARED(path2, HALF_PLUS_TWO);
  size_t len;
  uint8_t *data = read_fixture(path2, &len);
  Tensorflow__SavedModel *sm = tensorflow__saved_model__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(sm);
  ck_assert_uint_eq(sm->n_meta_graphs, 1);
  Tensorflow__MetaGraphDef *mg = sm->meta_graphs[0];
  ck_assert_uint_eq(mg->meta_info_def->n_tags, 1);
  ck_assert_str_eq(mg->meta_info_def->tags[0], "serve");
  ck_assert_str_eq(mg->meta_info_def->tensorflow_version, "1.14.0");
  ck_assert_uint_eq(mg->n_signature_def, 5);
  const Tensorflow__SignatureDef *serving = NULL;
  for (size_t i = 0; i < mg->n_signature_def; i++)
    if (strcmp(mg->signature_def[i]->key, "serving_default") == 0)
      serving = mg->signature_def[i]->value;
  ck_assert_ptr_nonnull(serving);
  ck_assert_uint_ge(serving->n_inputs, 1);
  ck_assert_uint_ge(serving->n_outputs, 1);
  const Tensorflow__TensorInfo *in = serving->inputs[0]->value;
  ck_assert_int_eq(in->encoding_case, TENSORFLOW__TENSOR_INFO__ENCODING_NAME);
  ck_assert_ptr_nonnull(node_of_tensor(mg->graph_def, in->name));
  tensorflow__saved_model__free_unpacked(sm, NULL);
  deft_free(data);

  TU_REQUIRE_SHARED(path3, HALF_PLUS_THREE);
  data = read_fixture(path3, &len);
  sm = tensorflow__saved_model__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(sm);
  mg = sm->meta_graphs[0];
  ck_assert_str_eq(mg->meta_info_def->tags[0], "serve");
  ck_assert_ptr_nonnull(collection(mg, "legacy_init_op"));
  /* TF 1.0 kept its asset in the "saved_model_assets" collection: an AssetFileDef packed in a
   * google.protobuf.Any. */
  const Tensorflow__CollectionDef *assets = collection(mg, "saved_model_assets");
  ck_assert_ptr_nonnull(assets);
  ck_assert_int_eq(assets->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_ANY_LIST);
  ck_assert_uint_eq(assets->any_list->n_value, 1);
  const Google__Protobuf__Any *any = assets->any_list->value[0];
  ck_assert_msg(ends_with(any->type_url, "/tensorflow.AssetFileDef"), "%s", any->type_url);
  Tensorflow__AssetFileDef *asset =
      tensorflow__asset_file_def__unpack(NULL, any->value.len, any->value.data);
  ck_assert_ptr_nonnull(asset);
  ck_assert_str_eq(asset->filename, "foo.txt");
  ck_assert_ptr_nonnull(asset->tensor_info);
  ck_assert_ptr_nonnull(node_of_tensor(mg->graph_def, asset->tensor_info->name));
  tensorflow__asset_file_def__free_unpacked(asset, NULL);
  tensorflow__saved_model__free_unpacked(sm, NULL);
  deft_free(data);
}
END_TEST

START_TEST(simple_mnist_graph_facts) {
  TU_REQUIRE_SHARED(path, SIMPLE_MNIST);
  size_t len;
  uint8_t *data = read_fixture(path, &len);
  Tensorflow__GraphDef *g = tensorflow__graph_def__unpack(NULL, len, data);
  ck_assert_ptr_nonnull(g);
  static const char *const allowed[] = {"Placeholder", "Const", "MatMul", "Add", "Relu", "ArgMax"};
  for (size_t i = 0; i < g->n_node; i++) {
    bool ok = false;
    for (size_t k = 0; k < 6; k++) ok |= strcmp(g->node[i]->op, allowed[k]) == 0;
    ck_assert_msg(ok, "unexpected op %s", g->node[i]->op);
  }
  const Tensorflow__NodeDef *x = node_by_name(g, "x");
  ck_assert_ptr_nonnull(x);
  const Tensorflow__AttrValue *shape = node_attr(x, "shape");
  ck_assert_ptr_nonnull(shape);
  ck_assert_uint_eq(shape->shape->n_dim, 2);
  ck_assert_int_eq(shape->shape->dim[0]->size, 10);
  ck_assert_int_eq(shape->shape->dim[1]->size, 784);
  ck_assert_ptr_nonnull(node_by_name(g, "y_pred"));
  /* Frozen weights: Consts with raw tensor_content, 784x128 floats for the first layer. */
  bool saw_weights = false;
  for (size_t i = 0; i < g->n_node; i++) {
    if (strcmp(g->node[i]->op, "Const") != 0) continue;
    const Tensorflow__TensorProto *t = node_attr(g->node[i], "value")->tensor;
    if (t->tensor_content.len == (size_t)784 * 128 * 4) {
      ck_assert_int_eq(t->dtype, TENSORFLOW__DATA_TYPE__DT_FLOAT);
      ck_assert_uint_eq(t->tensor_shape->n_dim, 2);
      saw_weights = true;
    }
  }
  ck_assert(saw_weights);
  tensorflow__graph_def__free_unpacked(g, NULL);
  deft_free(data);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Malformed input                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* Reads a varint at *pos; false if it runs off the end. */
static bool get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
    uint8_t byte = p[(*pos)++];
    *v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

/* Marks in `boundary` (len + 1 flags) the offsets between top-level fields of a message. */
static void top_level_boundaries(const uint8_t *p, size_t len, bool *boundary) {
  size_t pos = 0;
  boundary[0] = true;
  while (pos < len) {
    uint64_t tag, v;
    ck_assert(get_varint(p, len, &pos, &tag));
    switch (tag & 7) {
      case 0: ck_assert(get_varint(p, len, &pos, &v)); break;
      case 1: pos += 8; break;
      case 2: ck_assert(get_varint(p, len, &pos, &v)); pos += v; break;
      case 5: pos += 4; break;
      default: ck_abort_msg("unexpected wire type %d", (int)(tag & 7));
    }
    ck_assert_uint_le(pos, len);
    boundary[pos] = true;
  }
}

/* A prefix of a message parses iff it ends between two top-level fields; every other cut must
 * be rejected (NULL), without reading out of bounds (checked by the ASan build). */
START_TEST(truncated_meta_fails_cleanly) {
  TU_REQUIRE_SHARED(path, KK_META);
  size_t len;
  uint8_t *data = read_fixture(path, &len);
  bool *boundary = calloc(len + 1, 1);
  ck_assert_ptr_nonnull(boundary);
  top_level_boundaries(data, len, boundary);
  ck_assert_ptr_null(tensorflow__meta_graph_def__unpack(NULL, len - 1, data));
  ck_assert_ptr_null(tensorflow__meta_graph_def__unpack(NULL, len / 2, data));
  size_t rejected = 0;
  for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 211)) {
    /* An exact-size heap copy, so ASan sees any read past the cut. */
    uint8_t *copy = malloc(cut ? cut : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, cut);
    Tensorflow__MetaGraphDef *m = tensorflow__meta_graph_def__unpack(NULL, cut, copy);
    ck_assert_msg((m != NULL) == boundary[cut], "cut at %zu: parse %s", cut,
                  m ? "succeeded" : "failed");
    rejected += m == NULL;
    if (m) tensorflow__meta_graph_def__free_unpacked(m, NULL);
    free(copy);
  }
  ck_assert_uint_gt(rejected, 200);
  free(boundary);
  deft_free(data);
}
END_TEST

START_TEST(random_bytes_fail_cleanly) {
  uint64_t state = 0x9e3779b97f4a7c15u;
  for (int round = 0; round < 500; round++) {
    size_t len = 64 + (size_t)(round * 37 % 4000);
    uint8_t *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < len; i++) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      buf[i] = (uint8_t)(state >> 24);
    }
    Tensorflow__MetaGraphDef *m = tensorflow__meta_graph_def__unpack(NULL, len, buf);
    ck_assert_msg(m == NULL, "round %d: random bytes parsed as a MetaGraphDef", round);
    Tensorflow__GraphDef *g = tensorflow__graph_def__unpack(NULL, len, buf);
    ck_assert_msg(g == NULL, "round %d: random bytes parsed as a GraphDef", round);
    free(buf);
  }
}
END_TEST

typedef struct {
  const char *what;
  const ProtobufCMessageDescriptor *desc;
  uint8_t bytes[12];
  size_t len;
} bad_wire;

/* A known field carrying the wrong wire type must be rejected, not reinterpreted. (One
 * leniency of protobuf-c 1.4 is not listed: a non-repeated bool field takes any wire type and
 * reads its payload as a boolean.) */
static const bad_wire bad_wires[] = {
    {"GraphDef.node (message) as varint", &tensorflow__graph_def__descriptor, {0x08, 0x01}, 2},
    {"NodeDef.name (string) as varint", &tensorflow__node_def__descriptor, {0x08, 0x05}, 2},
    {"VersionDef.producer (int32) as fixed32", &tensorflow__version_def__descriptor,
     {0x0d, 1, 0, 0, 0}, 5},
    {"SaverDef.keep_checkpoint_every_n_hours (float) as varint",
     &tensorflow__saver_def__descriptor, {0x30, 0x01}, 2},
    {"AttrValue.i (int64) as fixed64", &tensorflow__attr_value__descriptor,
     {0x19, 1, 0, 0, 0, 0, 0, 0, 0}, 9},
    {"NodeDef.input (repeated string) as fixed32", &tensorflow__node_def__descriptor,
     {0x1d, 1, 0, 0, 0}, 5},
    {"AttrValue.list (message) as varint", &tensorflow__attr_value__descriptor, {0x08, 0x00},
     2},
    {"TensorProto.dtype (enum) as length-delimited", &tensorflow__tensor_proto__descriptor,
     {0x0a, 0x01, 0x01}, 3},
    {"MetaGraphDef.saver_def (message) as fixed32", &tensorflow__meta_graph_def__descriptor,
     {0x1d, 0, 0, 0, 0}, 5},
};

START_TEST(wrong_wire_type_fails) {
  const bad_wire *bw = &bad_wires[_i];
  ProtobufCMessage *m = protobuf_c_message_unpack(bw->desc, NULL, bw->len, bw->bytes);
  ck_assert_msg(m == NULL, "%s was accepted", bw->what);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Encoding details a TF-compatible writer relies on (TF_FORMATS.md 1.0, 1.5, 1.9)            */
/* ---------------------------------------------------------------------------------------- */

static void assert_packs_to(const ProtobufCMessage *m, const void *expect, size_t len) {
  uint8_t buf[256];
  ck_assert_uint_eq(protobuf_c_message_get_packed_size(m), len);
  ck_assert_uint_le(len, sizeof buf);
  protobuf_c_message_pack(m, buf);
  ck_assert(memcmp(buf, expect, len) == 0);
}

START_TEST(oneof_presence_and_packing) {
  /* use_locking=false still writes the oneof member: 28 00. */
  Tensorflow__AttrValue b = TENSORFLOW__ATTR_VALUE__INIT;
  b.value_case = TENSORFLOW__ATTR_VALUE__VALUE_B;
  b.b = 0;
  assert_packs_to(&b.base, "\x28\x00", 2);
  /* An empty list is `list {}`: 0a 00. */
  Tensorflow__AttrValue__ListValue lv = TENSORFLOW__ATTR_VALUE__LIST_VALUE__INIT;
  Tensorflow__AttrValue l = TENSORFLOW__ATTR_VALUE__INIT;
  l.value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST;
  l.list = &lv;
  assert_packs_to(&l.base, "\x0a\x00", 2);
  /* A scalar shape is an empty but present message: tensor_shape {}. */
  Tensorflow__TensorShapeProto scalar = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
  Tensorflow__TensorProto t = TENSORFLOW__TENSOR_PROTO__INIT;
  float one = 1.0f;
  t.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
  t.tensor_shape = &scalar;
  t.n_float_val = 1;
  t.float_val = &one;
  assert_packs_to(&t.base, "\x08\x01\x12\x00\x2a\x04\x00\x00\x80\x3f", 10);
  /* Repeated numbers are written packed... */
  int64_t dims[3] = {1, 300, -1};
  Tensorflow__AttrValue__ListValue il = TENSORFLOW__ATTR_VALUE__LIST_VALUE__INIT;
  il.n_i = 3;
  il.i = dims;
  assert_packs_to(&il.base, "\x1a\x0d\x01\xac\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15);
  /* ...and read back in both packed and unpacked form. */
  static const uint8_t packed[] = {0x1a, 0x02, 0x05, 0x07};
  static const uint8_t unpacked[] = {0x18, 0x05, 0x18, 0x07};
  const uint8_t *forms[2] = {packed, unpacked};
  for (int f = 0; f < 2; f++) {
    Tensorflow__VersionDef *v = tensorflow__version_def__unpack(NULL, 4, forms[f]);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->n_bad_consumers, 2);
    ck_assert_int_eq(v->bad_consumers[0], 5);
    ck_assert_int_eq(v->bad_consumers[1], 7);
    tensorflow__version_def__free_unpacked(v, NULL);
  }
}
END_TEST

/* TF_FORMATS.md 1.9: the VariableDef bytes TF1 wrote for one "variables" entry. */
START_TEST(variable_def_matches_tf_bytes) {
  static const char tf_bytes[] =
      "\n\nVariable:0\022\017Variable/Assign\032\017Variable/read:02\017random_normal:08\001";
  Tensorflow__VariableDef v = TENSORFLOW__VARIABLE_DEF__INIT;
  v.variable_name = "Variable:0";
  v.initializer_name = "Variable/Assign";
  v.snapshot_name = "Variable/read:0";
  v.initial_value_name = "random_normal:0";
  v.trainable = 1;
  assert_packs_to(&v.base, tf_bytes, sizeof tf_bytes - 1);
}
END_TEST

/* Fields deft does not declare (e.g. TF2's NodeDef.experimental_debug_info = 6) survive a
 * parse/serialize round trip. */
START_TEST(unknown_fields_preserved) {
  static const uint8_t bytes[] = {0x0a, 0x01, 'a', 0x12, 0x04, 'N', 'o', 'O', 'p',
                                  0x32, 0x03, 0x0a, 0x01, 'b'};
  Tensorflow__NodeDef *n = tensorflow__node_def__unpack(NULL, sizeof bytes, bytes);
  ck_assert_ptr_nonnull(n);
  ck_assert_str_eq(n->name, "a");
  ck_assert_str_eq(n->op, "NoOp");
  ck_assert_uint_eq(n->base.n_unknown_fields, 1);
  size_t len;
  uint8_t *out = repack(&n->base, &len);
  ck_assert_uint_eq(len, sizeof bytes);
  ck_assert(memcmp(out, bytes, len) == 0);
  free(out);
  tensorflow__node_def__free_unpacked(n, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* base/file_io                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* A fresh, empty directory under the test tmpdir. */
static const char *fresh_dir(const char *name) {
  static char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", tu_tmpdir(), name);
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  return dir;
}

/* Number of entries in dir besides "." and "..". */
static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

START_TEST(pbio_write_read_roundtrip) {
  deft_status *st = deft_status_new();
  const char *dir = fresh_dir("roundtrip");
  char path[600];
  snprintf(path, sizeof path, "%s/model.meta", dir);
  static const char first[] = "first contents";
  static const char second[] = "second, longer contents";
  ck_assert(deft_write_file_atomic(path, first, sizeof first - 1, st));
  ck_assert(deft_write_file_atomic(path, second, sizeof second - 1, st)); /* replaces */
  uint8_t *data;
  size_t len;
  ck_assert_msg(deft_read_file(path, &data, &len, st), "%s", deft_status_message(st));
  ck_assert_uint_eq(len, sizeof second - 1);
  ck_assert_str_eq((const char *)data, second); /* NUL-terminated */
  deft_free(data);
  ck_assert_int_eq(dir_entries(dir), 1); /* no temporary left over */

  /* Empty files: a non-NULL buffer of length 0. */
  ck_assert(deft_write_file_atomic(path, NULL, 0, st));
  ck_assert(deft_read_file(path, &data, &len, st));
  ck_assert_ptr_nonnull(data);
  ck_assert_uint_eq(len, 0);
  deft_free(data);
  deft_status_free(st);
}
END_TEST

START_TEST(pbio_read_errors) {
  deft_status *st = deft_status_new();
  const char *dir = fresh_dir("read_errors");
  char path[600];
  uint8_t *data = (uint8_t *)"sentinel";
  size_t len = 99;

  snprintf(path, sizeof path, "%s/missing.meta", dir);
  ck_assert(!deft_read_file(path, &data, &len, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, path, "No such file");
  ck_assert_ptr_null(data);
  ck_assert_uint_eq(len, 0);

  snprintf(path, sizeof path, "%s/no_dir/x.meta", dir);
  ck_assert(!deft_read_file(path, &data, &len, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, path);

  ck_assert(!deft_read_file(dir, &data, &len, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, dir, "directory");

  snprintf(path, sizeof path, "%s/big", dir);
  ck_assert(deft_write_file_atomic(path, "0123456789", 10, st));
  ck_assert(!deft_read_file_max(path, 9, &data, &len, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, path, "10 bytes", "limit of 9");
  ck_assert(deft_read_file_max(path, 10, &data, &len, st));
  deft_free(data);

  deft_alloc_fail_after(0);
  bool ok = deft_read_file(path, &data, &len, st);
  deft_alloc_fail_after(-1);
  ck_assert(!ok);
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, path, "out of memory");
  ck_assert_ptr_null(data);
  deft_status_free(st);
}
END_TEST

START_TEST(pbio_write_failure_leaves_nothing) {
  deft_status *st = deft_status_new();
  const char *dir = fresh_dir("write_errors");
  char path[600];

  /* Missing directory. */
  snprintf(path, sizeof path, "%s/no_dir/x.meta", dir);
  ck_assert(!deft_write_file_atomic(path, "x", 1, st));
  TU_ASSERT_STATUS(st, DEFT_NOT_FOUND, path);

  /* The target is a directory: the temporary file is written, the rename fails, and the
   * temporary must be removed again. */
  snprintf(path, sizeof path, "%s/target", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  char inner[700];
  snprintf(inner, sizeof inner, "%s/keep", path);
  ck_assert(deft_write_file_atomic(inner, "k", 1, st));
  ck_assert(!deft_write_file_atomic(path, "payload", 7, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, path, "rename");
  ck_assert_int_eq(dir_entries(dir), 1); /* only "target" */
  ck_assert_int_eq(dir_entries(path), 1);

  /* Out of memory before anything is created. */
  snprintf(path, sizeof path, "%s/oom.meta", dir);
  deft_alloc_fail_after(0);
  bool ok = deft_write_file_atomic(path, "x", 1, st);
  deft_alloc_fail_after(-1);
  ck_assert(!ok);
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, path);
  ck_assert_int_eq(dir_entries(dir), 1);
  deft_status_free(st);
}
END_TEST

/* An unwritable directory: the write fails with the path named and leaves nothing behind. As
 * root (permissions do not apply) the attempt runs in a child that drops to user "nobody". */
START_TEST(pbio_unwritable_dir) {
  ck_assert_int_eq(chmod(tu_tmpdir(), 0755), 0); /* let "nobody" reach the directory */
  const char *dir = fresh_dir("readonly");
  ck_assert_int_eq(chmod(dir, 0555), 0);
  char path[600];
  snprintf(path, sizeof path, "%s/model.meta", dir);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
    deft_status *st = deft_status_new();
    bool ok = deft_write_file_atomic(path, "payload", 7, st);
    int rc = !ok && deft_status_code(st) == DEFT_FAILED_PRECONDITION &&
                     strstr(deft_status_message(st), path) != NULL
                 ? 0
                 : 1;
    if (rc) fprintf(stderr, "unwritable dir: ok=%d %s\n", ok, deft_status_message(st));
    deft_status_free(st);
    _exit(rc);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  ck_assert_int_eq(dir_entries(dir), 0);
  chmod(dir, 0755);
}
END_TEST

static Suite *proto_suite(void) {
  Suite *s = suite_create("proto");
  TCase *tc = tcase_create("real_files");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, real_files_parse_and_roundtrip, 0,
                      (int)(sizeof fixtures / sizeof fixtures[0]));
  tcase_add_test(tc, kkeishiro_meta_facts);
  tcase_add_test(tc, kkeishiro_new_model_user_collection);
  tcase_add_test(tc, haerfest_meta_facts);
  tcase_add_test(tc, taobai_control_flow_facts);
  tcase_add_test(tc, saved_model_facts);
  tcase_add_test(tc, simple_mnist_graph_facts);
  suite_add_tcase(s, tc);

  tc = tcase_create("malformed");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, truncated_meta_fails_cleanly);
  tcase_add_test(tc, random_bytes_fail_cleanly);
  tcase_add_loop_test(tc, wrong_wire_type_fails, 0, (int)(sizeof bad_wires / sizeof bad_wires[0]));
  suite_add_tcase(s, tc);

  tc = tcase_create("encoding");
  tcase_add_test(tc, oneof_presence_and_packing);
  tcase_add_test(tc, variable_def_matches_tf_bytes);
  tcase_add_test(tc, unknown_fields_preserved);
  suite_add_tcase(s, tc);

  tc = tcase_create("pbio");
  tcase_add_test(tc, pbio_write_read_roundtrip);
  tcase_add_test(tc, pbio_read_errors);
  tcase_add_test(tc, pbio_write_failure_leaves_nothing);
  tcase_add_test(tc, pbio_unwritable_dir);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(proto_suite()); }
