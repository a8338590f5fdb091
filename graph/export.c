/* SPDX-License-Identifier: Apache-2.0 */
/* graph/export.c - deft_graph -> TF 1.x's GraphDef and MetaGraphDef: nodes with every attr,
 * stripped_op_list from deft's registry, collections (VariableDefs, node lists, raw values kept
 * from an import), SaverDef; written atomically. The message tree is built in a deft_pb_pool that
 * borrows the graph's strings and is freed after packing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft/ops.h"
#include "graph/io_internal.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"
#include "proto/tensor_proto.h"
#include "variable.pb-c.h"

#define DEFT_EXPORT_PRODUCER 26
#define DEFT_EXPORT_TF_VERSION "1.15.0"

typedef struct exporter {
  deft_pb_pool pool;
  deft_status *st;
  /* messages unpacked with deft_protobuf_allocator() (Any values), freed after packing */
  ProtobufCMessage **unpacked;
  size_t nunpacked, unpacked_cap;
} exporter;

static bool oom(deft_status *st) {
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory exporting the graph");
  return false;
}

#define ALLOC(pool, ptr) ((ptr) = deft_pb_pool_alloc((pool), sizeof *(ptr)))
#define ALLOC_N(pool, ptr, n) \
  ((ptr) = deft_pb_pool_alloc((pool), sizeof *(ptr) * ((size_t)(n) + 1)))

/* ---- attrs ---- */

static Tensorflow__AttrValue *attr_to_proto(deft_pb_pool *pool, const deft_attr_value *v,
                                            deft_status *st) {
  Tensorflow__AttrValue *a;
  if (!ALLOC(pool, a)) return NULL;
  tensorflow__attr_value__init(a);
  int n = v->u.list.n;
  switch (v->kind) {
    case DEFT_ATTR_STRING:
      a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_S;
      a->s.data = (uint8_t *)v->u.s.p;
      a->s.len = v->u.s.len;
      return a;
    case DEFT_ATTR_INT: a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_I; a->i = v->u.i; return a;
    case DEFT_ATTR_FLOAT: a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_F; a->f = v->u.f; return a;
    case DEFT_ATTR_BOOL: a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_B; a->b = v->u.b; return a;
    case DEFT_ATTR_TYPE:
      a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE;
      a->type = (Tensorflow__DataType)v->u.type;
      return a;
    case DEFT_ATTR_SHAPE:
      a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE;
      a->shape = deft_shape_to_proto(pool, v->u.shape);
      return a->shape ? a : NULL;
    case DEFT_ATTR_TENSOR:
      a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_TENSOR;
      if (!v->u.tensor) {
        deft_status_set(st, DEFT_INTERNAL, "tensor attr without a tensor");
        return NULL;
      }
      a->tensor = deft_tensor_to_proto(pool, v->u.tensor, st);
      return a->tensor ? a : NULL;
    case DEFT_ATTR_FUNC:
      a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_FUNC;
      if (!ALLOC(pool, a->func)) return NULL;
      tensorflow__name_attr_list__init(a->func);
      a->func->name = v->u.s.p;
      return a;
    case DEFT_ATTR_NONE:
      deft_status_set(st, DEFT_INTERNAL, "attr without a value");
      return NULL;
    default: break;
  }
  Tensorflow__AttrValue__ListValue *l;
  a->value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST;
  if (!ALLOC(pool, l)) return NULL;
  tensorflow__attr_value__list_value__init(l);
  a->list = l;
  if (n == 0) return a; /* `list {}` whatever the element kind */
  switch (v->kind) {
    case DEFT_ATTR_LIST_STRING:
      if (!ALLOC_N(pool, l->s, n)) return NULL;
      for (int i = 0; i < n; i++) {
        l->s[i].data = (uint8_t *)v->u.list.v.s[i].p;
        l->s[i].len = v->u.list.v.s[i].len;
      }
      l->n_s = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_INT:
      l->i = v->u.list.v.i;
      l->n_i = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_FLOAT:
      l->f = v->u.list.v.f;
      l->n_f = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_BOOL:
      if (!ALLOC_N(pool, l->b, n)) return NULL;
      for (int i = 0; i < n; i++) l->b[i] = v->u.list.v.b[i];
      l->n_b = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_TYPE:
      if (!ALLOC_N(pool, l->type, n)) return NULL;
      for (int i = 0; i < n; i++) l->type[i] = (Tensorflow__DataType)v->u.list.v.type[i];
      l->n_type = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_SHAPE:
      if (!ALLOC_N(pool, l->shape, n)) return NULL;
      for (int i = 0; i < n; i++)
        if (!(l->shape[i] = deft_shape_to_proto(pool, v->u.list.v.shape[i]))) return NULL;
      l->n_shape = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_TENSOR:
      if (!ALLOC_N(pool, l->tensor, n)) return NULL;
      for (int i = 0; i < n; i++)
        if (!(l->tensor[i] = deft_tensor_to_proto(pool, v->u.list.v.tensor[i], st))) return NULL;
      l->n_tensor = (size_t)n;
      return a;
    case DEFT_ATTR_LIST_FUNC:
      if (!ALLOC_N(pool, l->func, n)) return NULL;
      for (int i = 0; i < n; i++) {
        if (!ALLOC(pool, l->func[i])) return NULL;
        tensorflow__name_attr_list__init(l->func[i]);
        l->func[i]->name = v->u.list.v.s[i].p;
      }
      l->n_func = (size_t)n;
      return a;
    default:
      deft_status_set(st, DEFT_INTERNAL, "attr of unknown kind %d", (int)v->kind);
      return NULL;
  }
}

/* ---- nodes and the GraphDef ---- */

static char *tensor_name(deft_pb_pool *pool, deft_output o) {
  if (o.index <= 0) return (char *)o.op->name; /* TF writes output 0 without ":0" */
  return deft_pb_pool_printf(pool, "%s:%d", o.op->name, o.index);
}

/* Attrs that TF added to an op after TF 1.3, written only when they differ from their default
 * (TF 1.x's importers refuse a NodeDef attr their op does not have, "NodeDef mentions attr ... not
 * in Op", while newer ones fill a missing attr with its default): the convolutions' dilations
 * (TF 1.5) and explicit_paddings (TF 1.14). */
static const struct {
  const char *type_prefix, *attr;
} newer_attrs[] = {
    {"Conv2D", "dilations"},
    {"Conv2D", "explicit_paddings"},
    {"DepthwiseConv2dNative", "dilations"},
    {"DepthwiseConv2dNative", "explicit_paddings"},
};

static bool omit_at_default(const deft_op *op, const deft_attr *a) {
  if (!op->reg) return false;
  for (size_t i = 0; i < sizeof newer_attrs / sizeof newer_attrs[0]; i++) {
    if (strcmp(a->name, newer_attrs[i].attr) ||
        strncmp(op->type, newer_attrs[i].type_prefix, strlen(newer_attrs[i].type_prefix)))
      continue;
    const deft_attr_def *d = deft_op_reg_attr(op->reg, a->name);
    return d && d->has_default && deft_attr_value_equal(&a->v, &d->default_value);
  }
  return false;
}

static Tensorflow__NodeDef *node_to_proto(deft_pb_pool *pool, const deft_op *op,
                                          deft_status *st) {
  Tensorflow__NodeDef *nd;
  if (!ALLOC(pool, nd)) return NULL;
  tensorflow__node_def__init(nd);
  nd->name = (char *)op->name;
  nd->op = (char *)op->type;
  if (op->device && *op->device) nd->device = (char *)op->device;
  int nin = op->ninputs + op->nctrl;
  if (nin) {
    if (!ALLOC_N(pool, nd->input, nin)) return NULL;
    for (int i = 0; i < op->ninputs; i++)
      if (!(nd->input[i] = tensor_name(pool, op->inputs[i]))) return NULL;
    for (int i = 0; i < op->nctrl; i++)
      if (!(nd->input[op->ninputs + i] = deft_pb_pool_printf(pool, "^%s", op->ctrl[i]->name)))
        return NULL;
    nd->n_input = (size_t)nin;
  }
  if (op->nattrs) {
    if (!ALLOC_N(pool, nd->attr, op->nattrs)) return NULL;
    for (int i = 0; i < op->nattrs; i++) {
      if (op->attrs[i].v.kind == DEFT_ATTR_NONE || omit_at_default(op, &op->attrs[i])) continue;
      Tensorflow__NodeDef__AttrEntry *e;
      if (!ALLOC(pool, e)) return NULL;
      tensorflow__node_def__attr_entry__init(e);
      e->key = (char *)op->attrs[i].name;
      e->value = attr_to_proto(pool, &op->attrs[i].v, st);
      if (!e->value) {
        deft_status_prefix(st, "node '%s' (%s): attr '%s'", op->name, op->type,
                           op->attrs[i].name);
        return NULL;
      }
      nd->attr[nd->n_attr++] = e;
    }
  }
  return nd;
}

Tensorflow__GraphDef *deft_io_export_graph(deft_pb_pool *pool, const deft_graph *g,
                                           deft_status *st) {
  Tensorflow__GraphDef *gd;
  if (!ALLOC(pool, gd)) return oom(st), NULL;
  tensorflow__graph_def__init(gd);
  if (g->nops) {
    if (!ALLOC_N(pool, gd->node, g->nops)) return oom(st), NULL;
    for (int i = 0; i < g->nops; i++) {
      gd->node[i] = node_to_proto(pool, g->ops[i], st);
      if (!gd->node[i]) {
        if (deft_status_ok(st)) oom(st);
        return NULL;
      }
    }
    gd->n_node = (size_t)g->nops;
  }
  if (!ALLOC(pool, gd->versions)) return oom(st), NULL;
  tensorflow__version_def__init(gd->versions);
  gd->versions->producer = g->producer > DEFT_EXPORT_PRODUCER ? g->producer
                                                               : DEFT_EXPORT_PRODUCER;
  return gd;
}

/* ---- stripped_op_list from the registry ---- */

/* Records a message unpacked with deft_protobuf_allocator() to free after packing. */
static bool track_unpacked(exporter *ex, ProtobufCMessage *m) {
  if (ex->nunpacked == ex->unpacked_cap) {
    size_t ncap = ex->unpacked_cap ? ex->unpacked_cap * 2 : 16;
    ProtobufCMessage **n = deft_realloc(ex->unpacked, ncap * sizeof *n);
    if (!n) return false;
    ex->unpacked = n;
    ex->unpacked_cap = ncap;
  }
  ex->unpacked[ex->nunpacked++] = m;
  return true;
}


static Tensorflow__OpDef__ArgDef **args_to_proto(deft_pb_pool *pool, const deft_arg_def *args,
                                                 int n) {
  Tensorflow__OpDef__ArgDef **r;
  if (!ALLOC_N(pool, r, n)) return NULL;
  for (int i = 0; i < n; i++) {
    if (!ALLOC(pool, r[i])) return NULL;
    tensorflow__op_def__arg_def__init(r[i]);
    r[i]->name = (char *)args[i].name;
    r[i]->type = (Tensorflow__DataType)args[i].fixed_type;
    if (args[i].type_attr) r[i]->type_attr = (char *)args[i].type_attr;
    if (args[i].number_attr) r[i]->number_attr = (char *)args[i].number_attr;
    if (args[i].type_list_attr) r[i]->type_list_attr = (char *)args[i].type_list_attr;
    r[i]->is_ref = args[i].is_ref;
  }
  return r;
}

static Tensorflow__OpDef *opdef_to_proto(deft_pb_pool *pool, const deft_op_reg *r,
                                         deft_status *st) {
  Tensorflow__OpDef *d;
  if (!ALLOC(pool, d)) return NULL;
  tensorflow__op_def__init(d);
  d->name = (char *)r->def->type;
  if (!(d->input_arg = args_to_proto(pool, r->inputs, r->ninputs))) return NULL;
  d->n_input_arg = (size_t)r->ninputs;
  if (!(d->output_arg = args_to_proto(pool, r->outputs, r->noutputs))) return NULL;
  d->n_output_arg = (size_t)r->noutputs;
  if (!ALLOC_N(pool, d->attr, r->nattrs)) return NULL;
  for (int i = 0; i < r->nattrs; i++) {
    const deft_attr_def *ad = &r->attrs[i];
    Tensorflow__OpDef__AttrDef *a;
    if (!ALLOC(pool, a)) return NULL;
    tensorflow__op_def__attr_def__init(a);
    a->name = (char *)ad->name;
    a->type = (char *)ad->type_str;
    if (ad->has_default && !(a->default_value = attr_to_proto(pool, &ad->default_value, st)))
      return NULL;
    a->has_minimum = ad->has_minimum;
    a->minimum = ad->minimum;
    if (ad->nallowed_types || ad->nallowed_strings) {
      deft_attr_value allowed;
      memset(&allowed, 0, sizeof allowed);
      deft_str *strs = NULL;
      if (ad->nallowed_types) {
        allowed.kind = DEFT_ATTR_LIST_TYPE;
        allowed.u.list.n = ad->nallowed_types;
        allowed.u.list.v.type = ad->allowed_types;
      } else {
        if (!ALLOC_N(pool, strs, ad->nallowed_strings)) return NULL;
        for (int k = 0; k < ad->nallowed_strings; k++) {
          strs[k].p = ad->allowed_strings[k];
          strs[k].len = strlen(ad->allowed_strings[k]);
        }
        allowed.kind = DEFT_ATTR_LIST_STRING;
        allowed.u.list.n = ad->nallowed_strings;
        allowed.u.list.v.s = strs;
      }
      if (!(a->allowed_values = attr_to_proto(pool, &allowed, st))) return NULL;
    }
    d->attr[d->n_attr++] = a;
  }
  unsigned f = r->def->flags;
  d->is_stateful = (f & DEFT_OP_STATEFUL) != 0;
  d->is_commutative = (f & DEFT_OP_COMMUTATIVE) != 0;
  d->is_aggregate = (f & DEFT_OP_AGGREGATE) != 0;
  d->allows_uninitialized_input = (f & DEFT_OP_ALLOWS_UNINIT) != 0;
  return d;
}

static int cmp_reg(const void *a, const void *b) {
  const deft_op_reg *x = *(const deft_op_reg *const *)a, *y = *(const deft_op_reg *const *)b;
  return strcmp(x->def->type, y->def->type);
}

static int cmp_opdef(const void *a, const void *b) {
  const Tensorflow__OpDef *x = *(Tensorflow__OpDef *const *)a, *y = *(Tensorflow__OpDef *const *)b;
  return strcmp(x->name, y->name);
}

/* The OpDefs of the types g uses: deft's registry's, or for types deft does not know, the ones
 * an import kept from the producer's stripped_op_list. Sorted by name. */
static Tensorflow__OpList *op_list_to_proto(exporter *ex, const deft_graph *g) {
  deft_pb_pool *pool = &ex->pool;
  Tensorflow__OpList *l;
  const deft_op_reg **regs;
  if (!ALLOC(pool, l) || !ALLOC_N(pool, regs, g->nops)) return NULL;
  tensorflow__op_list__init(l);
  int n = 0;
  for (int i = 0; i < g->nops; i++)
    if (g->ops[i]->reg) regs[n++] = g->ops[i]->reg;
  qsort(regs, (size_t)n, sizeof *regs, cmp_reg);
  bool stash_oom;
  Tensorflow__OpList *stash = deft_io_stashed_op_list(g, &stash_oom);
  if (stash_oom) return NULL;
  if (stash && !track_unpacked(ex, &stash->base)) {
    protobuf_c_message_free_unpacked(&stash->base, deft_protobuf_allocator());
    return NULL;
  }
  size_t nstash = stash ? stash->n_op : 0;
  if (!ALLOC_N(pool, l->op, (size_t)n + nstash)) return NULL;
  for (int i = 0; i < n; i++) {
    if (i > 0 && regs[i] == regs[i - 1]) continue;
    if (!(l->op[l->n_op++] = opdef_to_proto(pool, regs[i], ex->st))) return NULL;
  }
  for (size_t i = 0; i < nstash; i++) {
    const char *type = stash->op[i]->name;
    if (deft_registry_lookup(type)) continue;
    bool used = false;
    for (int k = 0; k < g->nops && !used; k++)
      used = !g->ops[k]->reg && !strcmp(g->ops[k]->type, type);
    if (used) l->op[l->n_op++] = stash->op[i];
  }
  qsort(l->op, l->n_op, sizeof *l->op, cmp_opdef);
  return l;
}

/* ---- collections ---- */


static bool vardef_bytes(exporter *ex, const deft_op *var, ProtobufCBinaryData *out) {
  deft_pb_pool *pool = &ex->pool;
  const deft_var_info *vi = var->var;
  Tensorflow__VariableDef vd;
  tensorflow__variable_def__init(&vd);
  vd.variable_name = deft_pb_pool_printf(pool, "%s:0", var->name);
  if (vi->assign) vd.initializer_name = (char *)vi->assign->name;
  if (vi->read) vd.snapshot_name = deft_pb_pool_printf(pool, "%s:0", vi->read->name);
  if (vi->initial_value.op)
    vd.initial_value_name = deft_pb_pool_printf(pool, "%s:%d", vi->initial_value.op->name,
                                                vi->initial_value.index);
  vd.trainable = vi->trainable;
  vd.is_resource = !strcmp(var->type, "VarHandleOp");
  if (!vd.variable_name || !vd.snapshot_name || !vd.initial_value_name) return oom(ex->st);
  size_t n = tensorflow__variable_def__get_packed_size(&vd);
  out->data = deft_pb_pool_alloc(pool, n);
  if (!out->data) return oom(ex->st);
  out->len = tensorflow__variable_def__pack(&vd, out->data);
  return true;
}

/* Fills cd from collection c; returns false on error, and sets *empty when nothing is written. */
static bool collection_to_proto(exporter *ex, const deft_collection *c,
                                Tensorflow__CollectionDef *cd, bool *empty) {
  deft_pb_pool *pool = &ex->pool;
  *empty = true;
  int nraw = c->raw_kind ? c->nraw : 0;
  if (c->raw_kind == 3 || c->raw_kind == 4) {
    if (!nraw) return true;
    if (c->raw_kind == 3) {
      cd->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_INT64_LIST;
      if (!ALLOC(pool, cd->int64_list)) return oom(ex->st);
      tensorflow__collection_def__int64_list__init(cd->int64_list);
      cd->int64_list->value = c->raw_ints;
      cd->int64_list->n_value = (size_t)nraw;
    } else {
      cd->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_FLOAT_LIST;
      if (!ALLOC(pool, cd->float_list)) return oom(ex->st);
      tensorflow__collection_def__float_list__init(cd->float_list);
      cd->float_list->value = c->raw_floats;
      cd->float_list->n_value = (size_t)nraw;
    }
    *empty = false;
    return true;
  }
  if (c->raw_kind == 5) {
    if (!nraw) return true;
    Tensorflow__CollectionDef__AnyList *l;
    if (!ALLOC(pool, l)) return oom(ex->st);
    tensorflow__collection_def__any_list__init(l);
    ALLOC_N(pool, l->value, nraw);
    if (!l->value) return oom(ex->st);
    for (int i = 0; i < nraw; i++) {
      Google__Protobuf__Any *any = google__protobuf__any__unpack(
          deft_protobuf_allocator(), c->raw_bytes[i].len, (const uint8_t *)c->raw_bytes[i].p);
      if (!any) return oom(ex->st); /* they parsed on import: only OOM can fail */
      if (!track_unpacked(ex, &any->base)) {
        protobuf_c_message_free_unpacked(&any->base, deft_protobuf_allocator());
        return oom(ex->st);
      }
      l->value[l->n_value++] = any;
    }
    cd->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_ANY_LIST;
    cd->any_list = l;
    *empty = false;
    return true;
  }
  bool varkey = deft_io_is_variable_key(c->key);
  if (c->raw_kind == 2 || varkey) {
    int total = varkey ? (c->n > nraw ? c->n : nraw) : nraw;
    Tensorflow__CollectionDef__BytesList *l;
    if (!ALLOC(pool, l)) return oom(ex->st);
    tensorflow__collection_def__bytes_list__init(l);
    ALLOC_N(pool, l->value, total);
    if (!l->value) return oom(ex->st);
    for (int i = 0; i < total; i++) {
      ProtobufCBinaryData *v = &l->value[l->n_value];
      if (i < nraw) {
        v->data = (uint8_t *)c->raw_bytes[i].p;
        v->len = c->raw_bytes[i].len;
      } else if (i < c->n && c->items[i].op && c->items[i].op->var) {
        if (!vardef_bytes(ex, c->items[i].op, v)) return false;
      } else {
        continue; /* not expressible as a VariableDef: TF drops such items too */
      }
      l->n_value++;
    }
    if (!l->n_value) return true;
    cd->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST;
    cd->bytes_list = l;
    *empty = false;
    return true;
  }
  if (!c->n) return true;
  Tensorflow__CollectionDef__NodeList *l;
  if (!ALLOC(pool, l)) return oom(ex->st);
  tensorflow__collection_def__node_list__init(l);
  if (!ALLOC_N(pool, l->value, c->n)) return oom(ex->st);
  for (int i = 0; i < c->n; i++) {
    deft_output o = c->items[i];
    if (!o.op) continue;
    l->value[l->n_value] = o.index < 0 ? (char *)o.op->name
                                       : deft_pb_pool_printf(pool, "%s:%d", o.op->name, o.index);
    if (!l->value[l->n_value]) return oom(ex->st);
    l->n_value++;
  }
  cd->kind_case = TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST;
  cd->node_list = l;
  *empty = l->n_value == 0;
  return true;
}

static bool collections_to_proto(exporter *ex, const deft_graph *g, Tensorflow__MetaGraphDef *m) {
  deft_pb_pool *pool = &ex->pool;
  if (!g->ncollections) return true;
  if (!ALLOC_N(pool, m->collection_def, g->ncollections)) return oom(ex->st);
  for (int i = 0; i < g->ncollections; i++) {
    const deft_collection *c = &g->collections[i];
    Tensorflow__MetaGraphDef__CollectionDefEntry *e;
    Tensorflow__CollectionDef *cd;
    if (!ALLOC(pool, e) || !ALLOC(pool, cd)) return oom(ex->st);
    tensorflow__meta_graph_def__collection_def_entry__init(e);
    tensorflow__collection_def__init(cd);
    bool empty;
    if (!collection_to_proto(ex, c, cd, &empty)) return false;
    if (empty) continue;
    e->key = c->key;
    e->value = cd;
    m->collection_def[m->n_collection_def++] = e;
  }
  return true;
}

const char *deft_graph_collection_kind(const deft_graph *g, const char *key, int *nvalues) {
  deft_collection *c = deft_graph_collection((deft_graph *)g, key, false);
  if (!c) return NULL;
  int nraw = c->raw_kind ? c->nraw : 0;
  if (nvalues) *nvalues = c->n > nraw ? c->n : nraw;
  switch (c->raw_kind) {
    case 2: return "bytes_list";
    case 3: return "int64_list";
    case 4: return "float_list";
    case 5: return "any_list";
    default: return deft_io_is_variable_key(key) ? "bytes_list" : "node_list";
  }
}

/* ---- writing ---- */

static bool check_graph(const deft_graph *g, const char *path, deft_status *st) {
  if (deft_graph_ok(g)) return true;
  deft_status_set(st, DEFT_FAILED_PRECONDITION,
                  "cannot export to '%s': the graph has an error from building it: %s", path,
                  deft_status_message(deft_graph_status(g)));
  return false;
}

static bool write_message(const ProtobufCMessage *m, const char *what, const char *path,
                          deft_status *st) {
  uint8_t *data;
  size_t len;
  if (!deft_pb_pack(m, what, &data, &len, st)) return false;
  bool ok = deft_write_file_atomic(path, data, len, st);
  deft_free(data);
  return ok;
}

static void exporter_free(exporter *ex) {
  for (size_t i = 0; i < ex->nunpacked; i++)
    protobuf_c_message_free_unpacked(ex->unpacked[i], deft_protobuf_allocator());
  deft_free(ex->unpacked);
  deft_pb_pool_free(&ex->pool);
}

/* Builds g's MetaGraphDef and packs it into a deft_malloc'd buffer. `path` only names the
 * destination in errors. */
static bool pack_meta_graph(const deft_graph *g, const char *path,
                            const deft_meta_graph_info *saver, uint8_t **data, size_t *len,
                            deft_status *st) {
  exporter ex;
  memset(&ex, 0, sizeof ex);
  ex.st = st;
  bool ok = check_graph(g, path, st);
  Tensorflow__MetaGraphDef m;
  tensorflow__meta_graph_def__init(&m);
  Tensorflow__MetaGraphDef__MetaInfoDef mi;
  tensorflow__meta_graph_def__meta_info_def__init(&mi);
  Tensorflow__SaverDef sd;
  tensorflow__saver_def__init(&sd);
  if (ok) {
    m.meta_info_def = &mi;
    mi.tensorflow_version = DEFT_EXPORT_TF_VERSION;
    mi.stripped_op_list = op_list_to_proto(&ex, g);
    m.graph_def = mi.stripped_op_list ? deft_io_export_graph(&ex.pool, g, st) : NULL;
    ok = m.graph_def && collections_to_proto(&ex, g, &m);
    if (!ok && deft_status_ok(st)) oom(st);
  }
  if (ok && saver && saver->has_saver) {
    sd.filename_tensor_name = saver->filename_tensor;
    sd.save_tensor_name = saver->save_tensor;
    sd.restore_op_name = saver->restore_op;
    sd.max_to_keep = saver->max_to_keep;
    sd.sharded = saver->sharded;
    sd.keep_checkpoint_every_n_hours = saver->keep_hours;
    sd.version = (Tensorflow__SaverDef__CheckpointFormatVersion)saver->version;
    m.saver_def = &sd;
  }
  if (ok) ok = deft_pb_pack(&m.base, "the MetaGraphDef", data, len, st);
  exporter_free(&ex);
  return ok;
}

bool deft_export_meta_graph(const deft_graph *g, const char *path,
                            const deft_meta_graph_info *saver, deft_status *status) {
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  uint8_t *data = NULL;
  size_t len = 0;
  bool ok = pack_meta_graph(g, path, saver, &data, &len, st);
  if (ok) ok = deft_write_file_atomic(path, data, len, st);
  deft_free(data);
  if (!ok && !deft_status_ok(st) && !strstr(deft_status_message(st), path))
    deft_status_prefix(st, "cannot export to '%s'", path);
  if (st != status) deft_status_free(st);
  return ok;
}

bool deft_io_pack_meta_graph(const deft_graph *g, const char *dest, uint8_t **data, size_t *len,
                             deft_status *st) {
  return pack_meta_graph(g, dest, NULL, data, len, st);
}

bool deft_io_pack_graph_def(const deft_graph *g, const char *dest, uint8_t **data, size_t *len,
                            deft_status *st) {
  deft_pb_pool pool = {0};
  bool ok = check_graph(g, dest, st);
  Tensorflow__GraphDef *gd = ok ? deft_io_export_graph(&pool, g, st) : NULL;
  ok = gd && deft_pb_pack(&gd->base, "the GraphDef", data, len, st);
  deft_pb_pool_free(&pool);
  return ok;
}

bool deft_export_graph_def(const deft_graph *g, const char *path, deft_status *status) {
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  deft_pb_pool pool = {0};
  bool ok = check_graph(g, path, st);
  Tensorflow__GraphDef *gd = ok ? deft_io_export_graph(&pool, g, st) : NULL;
  ok = gd && write_message(&gd->base, "the GraphDef", path, st);
  if (!ok && !deft_status_ok(st) && !strstr(deft_status_message(st), path))
    deft_status_prefix(st, "cannot export to '%s'", path);
  deft_pb_pool_free(&pool);
  if (st != status) deft_status_free(st);
  return ok;
}

/* ---- the same messages in memory (for TensorFlow's C API, capi/) ---- */

/* Packs m into a malloc'd copy (the caller frees it with free()). */
static bool pack_to_malloc(const ProtobufCMessage *m, const char *what, void **data, size_t *len,
                           deft_status *st) {
  uint8_t *packed;
  size_t n;
  if (!deft_pb_pack(m, what, &packed, &n, st)) return false;
  void *copy = malloc(n ? n : 1);
  if (!copy) {
    deft_free(packed);
    return oom(st);
  }
  memcpy(copy, packed, n);
  deft_free(packed);
  *data = copy;
  *len = n;
  return true;
}

bool deft_graph_to_graph_def_data(const deft_graph *g, void **data, size_t *len,
                                  deft_status *status) {
  *data = NULL;
  *len = 0;
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  deft_pb_pool pool = {0};
  bool ok = check_graph(g, "memory", st);
  Tensorflow__GraphDef *gd = ok ? deft_io_export_graph(&pool, g, st) : NULL;
  ok = gd && pack_to_malloc(&gd->base, "the GraphDef", data, len, st);
  deft_pb_pool_free(&pool);
  if (st != status) deft_status_free(st);
  return ok;
}

bool deft_op_to_node_def_data(const deft_op *op, void **data, size_t *len, deft_status *status) {
  *data = NULL;
  *len = 0;
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  deft_pb_pool pool = {0};
  Tensorflow__NodeDef *nd = node_to_proto(&pool, op, st);
  if (!nd && deft_status_ok(st)) oom(st);
  bool ok = nd && pack_to_malloc(&nd->base, "the NodeDef", data, len, st);
  deft_pb_pool_free(&pool);
  if (st != status) deft_status_free(st);
  return ok;
}

bool deft_op_def_data(const char *type, void **data, size_t *len, deft_status *status) {
  *data = NULL;
  *len = 0;
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  deft_pb_pool pool = {0};
  bool ok = true;
  if (type) {
    const deft_op_reg *r = deft_registry_lookup(type);
    if (!r) {
      deft_status_set(st, DEFT_NOT_FOUND, "Op type not registered '%s'", type);
      ok = false;
    }
    Tensorflow__OpDef *d = ok ? opdef_to_proto(&pool, r, st) : NULL;
    if (ok && !d && deft_status_ok(st)) oom(st);
    ok = d && pack_to_malloc(&d->base, "the OpDef", data, len, st);
  } else {
    int n = deft_registry_count();
    const deft_op_reg **regs;
    Tensorflow__OpList l;
    tensorflow__op_list__init(&l);
    ok = ALLOC_N(&pool, regs, n) && ALLOC_N(&pool, l.op, n);
    for (int i = 0; ok && i < n; i++) regs[i] = deft_registry_at(i);
    if (ok) qsort(regs, (size_t)n, sizeof *regs, cmp_reg);
    for (int i = 0; ok && i < n; i++) ok = (l.op[l.n_op++] = opdef_to_proto(&pool, regs[i], st));
    if (!ok && deft_status_ok(st)) oom(st);
    ok = ok && pack_to_malloc(&l.base, "the OpList", data, len, st);
  }
  deft_pb_pool_free(&pool);
  if (st != status) deft_status_free(st);
  return ok;
}

bool deft_export_meta_graph_data(const deft_graph *g, const deft_meta_graph_info *saver,
                                 void **data, size_t *len, deft_status *status) {
  *data = NULL;
  *len = 0;
  uint8_t *bytes = NULL;
  size_t n = 0;
  if (!pack_meta_graph(g, "(memory)", saver, &bytes, &n, status)) return false;
  *data = malloc(n ? n : 1); /* the caller frees with free() */
  if (*data) memcpy(*data, bytes, n);
  deft_free(bytes);
  if (!*data) return oom(status);
  *len = n;
  return true;
}
