/* SPDX-License-Identifier: Apache-2.0 */
/* tests/import_testutil.h - helpers shared by the import/export suites (test_import.c,
 * test_import_errors.c): fixture paths, temporary files, a crafted-GraphDef writer, graph
 * comparison and a small deft-built graph. Static inline so each suite uses what it needs. */
#ifndef DEFT_TESTS_IMPORT_TESTUTIL_H
#define DEFT_TESTS_IMPORT_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.pb-c.h"
#include "graph/graph_internal.h"
#include "meta_graph.pb-c.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"
#include "proto/tensor_proto.h"
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

static inline char *tmp_path(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
  return p;
}

static inline int collection_count(const deft_graph *g, const char *key) {
  return deft_graph_get_collection(g, key, NULL, NULL, 0, NULL);
}

static inline deft_output collection_item(const deft_graph *g, const char *key, int i) {
  deft_output items[64];
  int n = deft_graph_get_collection(g, key, NULL, items, 64, NULL);
  ck_assert_int_lt(i, n);
  return items[i];
}

static inline void write_bytes(const char *path, const void *data, size_t len) {
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_write_file_atomic(path, data, len, st), "%s", deft_status_message(st));
  deft_status_free(st);
}

/* Formats op's inputs like a NodeDef: "x", "x:k", "^c", comma-separated. */
static inline void format_inputs(const deft_op *op, char *buf, size_t size) {
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

static inline bool tensors_equal(const deft_tensor *a, const deft_tensor *b) {
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

static inline bool values_equal(const deft_attr_value *a, const deft_attr_value *b) {
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
static inline void assert_same_graph(const deft_graph *a, const deft_graph *b) {
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
static inline deft_graph *build_small_graph(deft_op **var_out) {
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

typedef struct tnode {
  const char *name, *op;
  const char *inputs[4];
  const char *attr; /* "key=float" (a type), "key=iN" (an int), "key=unknown" (a shape) */
  const char *attr2;
} tnode;

static inline void make_attr(const char *spec, Tensorflow__NodeDef__AttrEntry *e, Tensorflow__AttrValue *v,
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
static inline void write_graph(const char *path, const tnode *nodes, int n) {
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

static inline deft_graph *import_nodes(const tnode *nodes, int n, deft_status *st) {
  const char *path = tmp_path("crafted.pb");
  write_graph(path, nodes, n);
  return deft_import_graph_def(path, NULL, st);
}

#endif
