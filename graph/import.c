/* SPDX-License-Identifier: Apache-2.0 */
/* graph/import.c - GraphDef -> deft_graph: name resolution, topological ordering, AttrValue
 * conversion, ops deft does not know (output counts and dtypes from the producer's op list,
 * "_output_shapes" and consumers), and deft_import_graph_def. Meta graphs and SavedModels build
 * on this in graph/import_meta.c. Only the import/export files see protobuf-c types. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/io_internal.h"
#include "proto/text_format.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"
#include "proto/tensor_proto.h"

/* ---- options and small helpers ---- */

deft_import_options *deft_import_options_new(void) {
  deft_import_options *o = deft_calloc(1, sizeof(deft_import_options));
  if (o) o->max_constant_bytes = DEFT_IMPORT_DEFAULT_MAX_CONSTANT_BYTES;
  return o;
}

void deft_import_options_set_max_constant_bytes(deft_import_options *o, uint64_t bytes) {
  o->max_constant_bytes = bytes;
}

void deft_import_options_free(deft_import_options *o) {
  if (!o) return;
  deft_free(o->prefix);
  for (int i = 0; i < o->nmaps; i++) deft_free(o->maps[i].src_name);
  deft_free(o->maps);
  deft_free(o);
}

bool deft_import_options_map_input(deft_import_options *o, const char *src_name, int src_index,
                                   deft_output dst) {
  if (!src_name || src_index < 0 || !dst.op) return false;
  deft_input_map *n = deft_realloc(o->maps, sizeof *n * ((size_t)o->nmaps + 1));
  if (!n) return false;
  o->maps = n;
  char *name = deft_strdup(src_name);
  if (!name) return false;
  n[o->nmaps].src_name = name;
  n[o->nmaps].src_index = src_index;
  n[o->nmaps].dst = dst;
  o->nmaps++;
  return true;
}

/* The mapped replacement of the GraphDef's tensor name:index, or an invalid output. */
static deft_output mapped_input(const deft_import_options *o, const char *name, int index) {
  deft_output none = {NULL, 0};
  for (int i = 0; o && i < o->nmaps; i++)
    if (o->maps[i].src_index == index && !strcmp(o->maps[i].src_name, name)) return o->maps[i].dst;
  return none;
}

bool deft_import_options_set_prefix(deft_import_options *o, const char *prefix) {
  deft_free(o->prefix);
  o->prefix = NULL;
  if (!prefix) return true;
  size_t n = strlen(prefix);
  while (n > 0 && prefix[n - 1] == '/') n--;
  if (n == 0) return true;
  o->prefix = deft_strndup(prefix, n);
  return o->prefix != NULL;
}

void deft_import_options_set_clear_devices(deft_import_options *o, bool clear) {
  o->clear_devices = clear;
}

bool deft_io_is_variable_key(const char *key) {
  static const char *const keys[] = {"variables", "trainable_variables", "local_variables",
                                     "model_variables", "moving_average_variables",
                                     "global_step", "metric_variables"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(key, keys[i])) return true;
  return false;
}

char *deft_io_prefixed(const deft_import_options *opts, const char *name) {
  if (!opts || !opts->prefix) return deft_strdup(name);
  size_t a = strlen(opts->prefix), b = strlen(name);
  char *r = deft_malloc(a + b + 2);
  if (!r) return NULL;
  memcpy(r, opts->prefix, a);
  r[a] = '/';
  memcpy(r + a + 1, name, b + 1);
  return r;
}

/* Splits "name:k" (k all digits) into its parts; plain "name" gives index 0. Returns the length
 * of the name part, or -1 if the index is malformed or too large. */
static long split_tensor_name(const char *s, int *index, bool *has_index) {
  const char *colon = strrchr(s, ':');
  *index = 0;
  *has_index = false;
  if (!colon) return (long)strlen(s);
  const char *d = colon + 1;
  if (!*d) return -1;
  long v = 0;
  for (; *d; d++) {
    if (!isdigit((unsigned char)*d)) return -1;
    v = v * 10 + (*d - '0');
    if (v > 1000000) return -1;
  }
  *index = (int)v;
  *has_index = true;
  return (long)(colon - s);
}

deft_output deft_io_resolve(deft_graph *g, const deft_import_options *opts, const char *name,
                            bool as_tensor, deft_status *st) {
  deft_output none = {NULL, 0};
  char *full = deft_io_prefixed(opts, name);
  if (!full) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return none;
  }
  int index;
  bool has_index;
  long len = split_tensor_name(full, &index, &has_index);
  deft_output r = none;
  if (len < 0) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "malformed name '%s'", name);
  } else {
    full[len] = 0;
    deft_op *op = deft_graph_op_by_name(g, full);
    if (!op) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "'%s' names no node of the graph", name);
    } else if ((has_index || as_tensor) && index >= op->noutputs) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "'%s': node '%s' (%s) has %d output%s", name,
                      op->name, op->type, op->noutputs, op->noutputs == 1 ? "" : "s");
    } else {
      r.op = op;
      r.index = (has_index || as_tensor) ? index : -1;
    }
  }
  deft_free(full);
  return r;
}

/* ---- AttrValue -> deft_attr_value ---- */

/* Frees the tensors a converted value holds (the builder keeps its own references). */
static void release_value(deft_attr_value *v) {
  if (v->kind == DEFT_ATTR_TENSOR) deft_tensor_free(v->u.tensor);
  if (v->kind == DEFT_ATTR_LIST_TENSOR && v->u.list.v.tensor)
    for (int i = 0; i < v->u.list.n; i++) deft_tensor_free(v->u.list.v.tensor[i]);
  v->kind = DEFT_ATTR_NONE;
}

static bool shape_value(const Tensorflow__TensorShapeProto *p, deft_shape *out, bool lenient,
                        deft_status *st) {
  if (deft_shape_from_proto(p, out, st)) return true;
  if (!lenient) return false;
  deft_status_clear(st);
  *out = deft_shape_unknown();
  return true;
}

/* Converts av into *out. Arrays live in tmp; tensors are owned by *out (release_value).
 * `lenient` turns unsupported shapes into unknown ones (for informational attrs). */
static bool attr_from_proto(const Tensorflow__AttrValue *av, deft_attr_value *out,
                            deft_pb_pool *tmp, bool lenient, uint64_t *budget, deft_status *st) {
  memset(out, 0, sizeof *out);
  switch (av->value_case) {
    case TENSORFLOW__ATTR_VALUE__VALUE_S:
      out->kind = DEFT_ATTR_STRING;
      out->u.s.p = (char *)(av->s.data ? (const char *)av->s.data : "");
      out->u.s.len = av->s.len;
      return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_I: out->kind = DEFT_ATTR_INT; out->u.i = av->i; return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_F:
      out->kind = DEFT_ATTR_FLOAT;
      out->u.f = av->f;
      return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_B: out->kind = DEFT_ATTR_BOOL; out->u.b = av->b; return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_TYPE:
      out->kind = DEFT_ATTR_TYPE;
      out->u.type = (int)av->type;
      return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_SHAPE:
      out->kind = DEFT_ATTR_SHAPE;
      return shape_value(av->shape, &out->u.shape, lenient, st);
    case TENSORFLOW__ATTR_VALUE__VALUE_TENSOR:
      out->u.tensor = deft_tensor_from_proto_limited(av->tensor, budget, st);
      if (!out->u.tensor) return false;
      out->kind = DEFT_ATTR_TENSOR;
      return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_FUNC:
      out->kind = DEFT_ATTR_FUNC;
      out->u.s.p = av->func->name;
      out->u.s.len = strlen(av->func->name);
      return true;
    case TENSORFLOW__ATTR_VALUE__VALUE_PLACEHOLDER:
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "is a function placeholder ('%s'), which only functions may use",
                      av->placeholder);
      return false;
    case TENSORFLOW__ATTR_VALUE__VALUE_LIST: break;
    default:
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "has no value");
      return false;
  }
  const Tensorflow__AttrValue__ListValue *l = av->list;
  size_t n;
  if ((n = l->n_s)) {
    out->kind = DEFT_ATTR_LIST_STRING;
    deft_str *s = deft_pb_pool_alloc(tmp, sizeof *s * n);
    if (!s) goto oom;
    for (size_t i = 0; i < n; i++) {
      s[i].p = (char *)(l->s[i].data ? (const char *)l->s[i].data : "");
      s[i].len = l->s[i].len;
    }
    out->u.list.v.s = s;
  } else if ((n = l->n_i)) {
    out->kind = DEFT_ATTR_LIST_INT;
    out->u.list.v.i = l->i;
  } else if ((n = l->n_f)) {
    out->kind = DEFT_ATTR_LIST_FLOAT;
    out->u.list.v.f = l->f;
  } else if ((n = l->n_b)) {
    out->kind = DEFT_ATTR_LIST_BOOL;
    bool *b = deft_pb_pool_alloc(tmp, sizeof *b * n);
    if (!b) goto oom;
    for (size_t i = 0; i < n; i++) b[i] = l->b[i] != 0;
    out->u.list.v.b = b;
  } else if ((n = l->n_type)) {
    out->kind = DEFT_ATTR_LIST_TYPE;
    int *t = deft_pb_pool_alloc(tmp, sizeof *t * n);
    if (!t) goto oom;
    for (size_t i = 0; i < n; i++) t[i] = (int)l->type[i];
    out->u.list.v.type = t;
  } else if ((n = l->n_shape)) {
    out->kind = DEFT_ATTR_LIST_SHAPE;
    deft_shape *s = deft_pb_pool_alloc(tmp, sizeof *s * n);
    if (!s) goto oom;
    for (size_t i = 0; i < n; i++)
      if (!shape_value(l->shape[i], &s[i], lenient, st)) {
        deft_status_prefix(st, "element %zu", i);
        return false;
      }
    out->u.list.v.shape = s;
  } else if ((n = l->n_tensor)) {
    deft_tensor **t = deft_pb_pool_alloc(tmp, sizeof *t * n);
    if (!t) goto oom;
    out->kind = DEFT_ATTR_LIST_TENSOR;
    out->u.list.v.tensor = t;
    out->u.list.n = 0;
    for (size_t i = 0; i < n; i++) {
      t[i] = deft_tensor_from_proto_limited(l->tensor[i], budget, st);
      if (!t[i]) {
        release_value(out);
        deft_status_prefix(st, "element %zu", i);
        return false;
      }
      out->u.list.n = (int)i + 1;
    }
  } else if ((n = l->n_func)) {
    out->kind = DEFT_ATTR_LIST_FUNC;
    deft_str *s = deft_pb_pool_alloc(tmp, sizeof *s * n);
    if (!s) goto oom;
    for (size_t i = 0; i < n; i++) {
      s[i].p = l->func[i]->name;
      s[i].len = strlen(l->func[i]->name);
    }
    out->u.list.v.s = s;
  } else {
    out->kind = DEFT_ATTR_LIST_INT; /* an empty list: the builder adopts the attr's kind */
  }
  if (n > (size_t)INT32_MAX) {
    release_value(out);
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "list has too many elements");
    return false;
  }
  out->u.list.n = (int)n;
  return true;
oom:
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  return false;
}

/* ---- the importer ---- */

typedef struct imp_node {
  const Tensorflow__NodeDef *nd;
  const deft_op_reg *reg;
  const Tensorflow__OpDef *opdef; /* the producer's OpDef, for types deft does not know */
  const deft_arg_def *in_args, *out_args;
  int nin_args, nout_args;
  int ndata, nctrl;
  int *src, *src_index; /* data inputs: node and output index */
  int *ctrl;
  int max_ref;
  int nout;
  int *out_types;
  bool *out_ref;
  deft_shape *out_shapes;
  bool exact_types; /* out_types came from an OpDef */
  deft_op *op;
} imp_node;

typedef struct importer {
  const Tensorflow__GraphDef *gd;
  const Tensorflow__OpList *op_list;
  const deft_import_options *opts;
  deft_status *st;
  deft_pb_pool pool; /* everything temporary */
  imp_node *nodes;
  int n;
  deft_strmap names; /* node name -> index */
  deft_strmap opdefs; /* op type -> OpDef */
  int *order;
  deft_graph *g;
  bool into;     /* g is the caller's graph: not freed on failure, producer kept */
  bool use_maps; /* apply opts' input mappings */
  uint64_t const_budget; /* bytes of decoded tensor attrs still allowed (bug: no graph-wide cap) */
} importer;

static bool oom_status(deft_status *st) {
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory importing the graph");
  return false;
}

static bool oom(importer *im) {
  deft_status_set(im->st, DEFT_RESOURCE_EXHAUSTED, "out of memory importing the graph");
  return false;
}

static const char *node_name(const importer *im, int i) { return im->nodes[i].nd->name; }

static const Tensorflow__AttrValue *node_attr(const imp_node *n, const char *name) {
  for (size_t k = 0; k < n->nd->n_attr; k++)
    if (n->nd->attr[k]->key && !strcmp(n->nd->attr[k]->key, name)) return n->nd->attr[k]->value;
  return NULL;
}

static const Tensorflow__AttrValue *opdef_default(const Tensorflow__OpDef *d, const char *name) {
  for (size_t k = 0; d && k < d->n_attr; k++)
    if (!strcmp(d->attr[k]->name, name)) return d->attr[k]->default_value;
  return NULL;
}

/* The value of attr `name` of node n as the builder will see it: the NodeDef's, else the
 * default (deft's registry, or the producer's OpDef). */
static bool attr_int(const imp_node *n, const char *name, int64_t *v) {
  const Tensorflow__AttrValue *av = node_attr(n, name);
  if (!av && n->reg) {
    const deft_attr_def *d = deft_op_reg_attr(n->reg, name);
    if (d && d->has_default && d->kind == DEFT_ATTR_INT) {
      *v = d->default_value.u.i;
      return true;
    }
  }
  if (!av) av = opdef_default(n->opdef, name);
  if (!av || av->value_case != TENSORFLOW__ATTR_VALUE__VALUE_I) return false;
  *v = av->i;
  return true;
}

static int attr_type(const imp_node *n, const char *name) {
  const Tensorflow__AttrValue *av = node_attr(n, name);
  if (!av && n->reg) {
    const deft_attr_def *d = deft_op_reg_attr(n->reg, name);
    if (d && d->has_default && d->kind == DEFT_ATTR_TYPE) return d->default_value.u.type;
  }
  if (!av) av = opdef_default(n->opdef, name);
  return (av && av->value_case == TENSORFLOW__ATTR_VALUE__VALUE_TYPE) ? (int)av->type : 0;
}

/* list(type) attr: its length (or -1 if absent) and element k's type in *t. */
static int attr_type_list(const imp_node *n, const char *name, int k, int *t) {
  const Tensorflow__AttrValue *av = node_attr(n, name);
  if (!av) av = opdef_default(n->opdef, name);
  *t = 0;
  if (!av) {
    if (n->reg) {
      const deft_attr_def *d = deft_op_reg_attr(n->reg, name);
      if (d && d->has_default) return 0; /* deft's list defaults are empty */
    }
    return -1;
  }
  if (av->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST) return -1;
  int len = (int)av->list->n_type;
  if (k >= 0 && k < len) *t = (int)av->list->type[k];
  return len;
}

/* Flattens a signature's args for node n (N * T and list(type) expanded). Returns the number of
 * tensors, or -1 if an attr it depends on is missing; fills types/refs up to cap. */
static int flatten_args(const imp_node *n, const deft_arg_def *args, int nargs, int *types,
                        bool *refs, int cap) {
  int pos = 0;
  for (int a = 0; a < nargs; a++) {
    const deft_arg_def *arg = &args[a];
    int64_t count = 1;
    if (arg->number_attr) {
      if (!attr_int(n, arg->number_attr, &count) || count < 0 || count > 1000000) return -1;
    } else if (arg->type_list_attr) {
      int t;
      count = attr_type_list(n, arg->type_list_attr, -1, &t);
      if (count < 0) return -1;
    }
    for (int k = 0; k < count; k++, pos++) {
      if (pos >= cap) continue;
      int t = arg->fixed_type;
      if (!t && arg->type_attr) t = attr_type(n, arg->type_attr);
      if (!t && arg->type_list_attr) attr_type_list(n, arg->type_list_attr, k, &t);
      if (types) types[pos] = t;
      if (refs) refs[pos] = arg->is_ref;
    }
  }
  return pos;
}

static const char *nonempty(const char *s) { return (s && *s) ? s : NULL; }

/* Converts an OpDef's args to deft_arg_def (strings borrowed from the OpDef). */
static deft_arg_def *convert_args(importer *im, Tensorflow__OpDef__ArgDef **args, size_t n) {
  deft_arg_def *r = deft_pb_pool_alloc(&im->pool, sizeof *r * (n ? n : 1));
  if (!r) return NULL;
  for (size_t i = 0; i < n; i++) {
    r[i].name = args[i]->name;
    r[i].fixed_type = (int)args[i]->type;
    r[i].type_attr = nonempty(args[i]->type_attr);
    r[i].number_attr = nonempty(args[i]->number_attr);
    r[i].type_list_attr = nonempty(args[i]->type_list_attr);
    r[i].is_ref = args[i]->is_ref;
  }
  return r;
}

static bool valid_node_name(const char *s) {
  if (!s || !*s || *s == '^') return false;
  for (; *s; s++)
    if (*s == ':' || (unsigned char)*s < 32 || *s == 127) return false;
  return true;
}

/* Pass 1: names, signatures and parsed inputs. */
static bool index_nodes(importer *im) {
  const Tensorflow__GraphDef *gd = im->gd;
  for (size_t k = 0; im->op_list && k < im->op_list->n_op; k++) {
    const Tensorflow__OpDef *d = im->op_list->op[k];
    deft_strmap_entry *e = deft_strmap_insert(&im->opdefs, d->name, strlen(d->name), NULL);
    if (!e) return oom(im);
    e->value.ptr = (void *)d;
  }
  for (int i = 0; i < im->n; i++) {
    imp_node *n = &im->nodes[i];
    n->nd = gd->node[i];
    const char *name = n->nd->name;
    if (!valid_node_name(name)) {
      deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                      "node %d has an invalid name '%s' (names must be non-empty and contain no "
                      "':' or control characters)", i, name ? name : "");
      return false;
    }
    if (!n->nd->op || !*n->nd->op) {
      deft_status_set(im->st, DEFT_INVALID_ARGUMENT, "node '%s' has no op type", name);
      return false;
    }
    bool created;
    deft_strmap_entry *e = deft_strmap_insert(&im->names, name, strlen(name), &created);
    if (!e) return oom(im);
    if (!created) {
      deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                      "duplicate node name '%s' (nodes %d and %d of the GraphDef)", name,
                      (int)e->value.num, i);
      return false;
    }
    e->value.num = i;
    n->reg = deft_registry_lookup(n->nd->op);
    if (n->reg) {
      n->in_args = n->reg->inputs;
      n->nin_args = n->reg->ninputs;
      n->out_args = n->reg->outputs;
      n->nout_args = n->reg->noutputs;
    } else {
      deft_strmap_entry *d = deft_strmap_find(&im->opdefs, n->nd->op, strlen(n->nd->op));
      n->opdef = d ? d->value.ptr : NULL;
      if (n->opdef) {
        n->in_args = convert_args(im, n->opdef->input_arg, n->opdef->n_input_arg);
        n->out_args = convert_args(im, n->opdef->output_arg, n->opdef->n_output_arg);
        if (!n->in_args || !n->out_args) return oom(im);
        n->nin_args = (int)n->opdef->n_input_arg;
        n->nout_args = (int)n->opdef->n_output_arg;
      }
    }
  }
  for (int i = 0; i < im->n; i++) {
    imp_node *n = &im->nodes[i];
    size_t nin = n->nd->n_input;
    n->src = deft_pb_pool_alloc(&im->pool, sizeof(int) * (nin + 1));
    n->src_index = deft_pb_pool_alloc(&im->pool, sizeof(int) * (nin + 1));
    n->ctrl = deft_pb_pool_alloc(&im->pool, sizeof(int) * (nin + 1));
    if (!n->src || !n->src_index || !n->ctrl) return oom(im);
    for (size_t k = 0; k < nin; k++) {
      const char *in = n->nd->input[k];
      bool control = in[0] == '^';
      const char *nm = control ? in + 1 : in;
      int index = 0;
      bool has_index = false;
      long len = control ? (long)strlen(nm) : split_tensor_name(nm, &index, &has_index);
      if (len <= 0) {
        deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                        "node '%s' (%s): input %zu '%s' is malformed (expected \"name\", "
                        "\"name:k\" or \"^name\")", n->nd->name, n->nd->op, k, in);
        return false;
      }
      deft_strmap_entry *e = deft_strmap_find(&im->names, nm, (size_t)len);
      if (!e) {
        deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                        "node '%s' (%s): input %zu '%s' names node '%.*s', which is not in the "
                        "graph", n->nd->name, n->nd->op, k, in, (int)len, nm);
        return false;
      }
      int j = (int)e->value.num;
      if (control) {
        n->ctrl[n->nctrl++] = j;
      } else {
        if (n->nctrl) {
          deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                          "node '%s' (%s): data input %zu '%s' comes after a control input; "
                          "control inputs must come last", n->nd->name, n->nd->op, k, in);
          return false;
        }
        n->src[n->ndata] = j;
        n->src_index[n->ndata++] = index;
        if (index > im->nodes[j].max_ref) im->nodes[j].max_ref = index;
      }
    }
  }
  return true;
}

/* True iff data input k of node v is a TF1 while loop's back edge: a NextIteration (or
 * RefNextIteration) feeding a Merge (or RefMerge). The importer orders the nodes without these
 * edges and connects them once both ends exist (patch_back_edges). */
static bool is_back_edge(const importer *im, const imp_node *v, int k) {
  const char *t = v->nd->op, *u = im->nodes[v->src[k]].nd->op;
  return (!strcmp(t, "Merge") || !strcmp(t, "RefMerge")) &&
         (!strcmp(u, "NextIteration") || !strcmp(u, "RefNextIteration"));
}

/* Pass 2: a topological order (iterative DFS, so the file's order is kept when it is already
 * topological), leaving out loops' back edges; any other cycle is reported with the nodes on
 * it. */
static bool sort_nodes(importer *im) {
  int n = im->n;
  char *state = deft_pb_pool_alloc(&im->pool, (size_t)n + 1);
  int *stack = deft_pb_pool_alloc(&im->pool, sizeof(int) * ((size_t)n + 1));
  int *cursor = deft_pb_pool_alloc(&im->pool, sizeof(int) * ((size_t)n + 1));
  im->order = deft_pb_pool_alloc(&im->pool, sizeof(int) * ((size_t)n + 1));
  if (!state || !stack || !cursor || !im->order) return oom(im);
  int norder = 0;
  for (int r = 0; r < n; r++) {
    if (state[r]) continue;
    int top = 0;
    stack[0] = r;
    cursor[0] = 0;
    state[r] = 1;
    while (top >= 0) {
      imp_node *v = &im->nodes[stack[top]];
      int k = cursor[top];
      if (k < v->ndata + v->nctrl) {
        cursor[top]++;
        int u = k < v->ndata ? v->src[k] : v->ctrl[k - v->ndata];
        if (k < v->ndata && is_back_edge(im, v, k)) continue;
        if (state[u] == 0) {
          state[u] = 1;
          stack[++top] = u;
          cursor[top] = 0;
        } else if (state[u] == 1) {
          int from = top;
          while (stack[from] != u) from--;
          char msg[1024];
          size_t pos = 0;
          /* stack[from] = u needs ... needs stack[top], which needs u: print in data-flow
           * order (producer first). */
          for (int s = top; s >= from && pos < sizeof msg - 200; s--)
            pos += (size_t)snprintf(msg + pos, sizeof msg - pos, "'%s' -> ",
                                    node_name(im, stack[s]));
          if (pos >= sizeof msg - 200)
            pos += (size_t)snprintf(msg + pos, sizeof msg - pos, "... -> ");
          snprintf(msg + pos, sizeof msg - pos, "'%s'", node_name(im, stack[top]));
          deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                          "node '%s' (%s) is on a cycle of inputs: %s (the only cycles a graph "
                          "may have are TF1 while loops, closed by a NextIteration feeding a "
                          "Merge)",
                          node_name(im, u), im->nodes[u].nd->op, msg);
          return false;
        }
      } else {
        state[stack[top]] = 2;
        im->order[norder++] = stack[top];
        top--;
      }
    }
  }
  return true;
}

/* Pass 3: output counts, dtypes and shapes of the ops deft does not know. */
static bool plan_unknown_outputs(importer *im) {
  for (int i = 0; i < im->n; i++) {
    imp_node *n = &im->nodes[i];
    if (n->reg) continue;
    int count = -1;
    if (n->out_args) count = flatten_args(n, n->out_args, n->nout_args, NULL, NULL, 0);
    n->exact_types = count >= 0;
    const Tensorflow__AttrValue *shapes = node_attr(n, "_output_shapes");
    int nshapes = -1;
    if (shapes && shapes->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST)
      nshapes = (int)shapes->list->n_shape;
    if (count < 0) {
      count = n->max_ref + 1;
      if (nshapes > count) count = nshapes;
    }
    n->nout = count;
    size_t cap = (size_t)count + 1;
    n->out_types = deft_pb_pool_alloc(&im->pool, sizeof(int) * cap);
    n->out_ref = deft_pb_pool_alloc(&im->pool, sizeof(bool) * cap);
    n->out_shapes = deft_pb_pool_alloc(&im->pool, sizeof(deft_shape) * cap);
    if (!n->out_types || !n->out_ref || !n->out_shapes) return oom(im);
    if (n->exact_types) flatten_args(n, n->out_args, n->nout_args, n->out_types, n->out_ref, count);
    for (int k = 0; k < count; k++) {
      n->out_shapes[k] = deft_shape_unknown();
      if (nshapes == count) {
        deft_shape s;
        if (deft_shape_from_proto(shapes->list->shape[k], &s, NULL)) n->out_shapes[k] = s;
      }
    }
  }
  /* What the consumers expect fills in the dtypes (and ref-ness) nothing else told. */
  for (int i = 0; i < im->n; i++) {
    imp_node *c = &im->nodes[i];
    if (!c->in_args || !c->ndata) continue;
    int *types = deft_pb_pool_alloc(&im->pool, sizeof(int) * (size_t)c->ndata);
    bool *refs = deft_pb_pool_alloc(&im->pool, sizeof(bool) * (size_t)c->ndata);
    if (!types || !refs) return oom(im);
    int m = flatten_args(c, c->in_args, c->nin_args, types, refs, c->ndata);
    for (int k = 0; k < m && k < c->ndata; k++) {
      imp_node *p = &im->nodes[c->src[k]];
      int idx = c->src_index[k];
      if (p->reg || idx >= p->nout) continue;
      if (!p->out_types[idx]) p->out_types[idx] = types[k];
      if (refs[k] && !p->exact_types) p->out_ref[idx] = true;
    }
  }
  return true;
}

/* Converts one attr of node n into vals[*nv] (arrays in tmp). */
static bool convert_attr(importer *im, const imp_node *n, const char *name,
                         const Tensorflow__AttrValue *av, deft_pb_pool *tmp,
                         deft_attr_value *vals, const char **names, int *nv) {
  if (!attr_from_proto(av, &vals[*nv], tmp, name[0] == '_', &im->const_budget, im->st)) {
    deft_status_prefix(im->st, "node '%s' (%s): attr '%s'", n->nd->name, n->nd->op, name);
    return false;
  }
  names[(*nv)++] = name;
  return true;
}

/* Creates the op of node n (inputs already created). */
static bool create_op(importer *im, imp_node *n) {
  deft_graph *g = im->g;
  /* Convert every attr first, so a bad one fails before the builder exists. */
  size_t maxv = n->nd->n_attr + (n->opdef ? n->opdef->n_attr : 0) + 1;
  deft_pb_pool tmp = {0};
  deft_attr_value *vals = deft_pb_pool_alloc(&tmp, sizeof *vals * maxv);
  const char **names = deft_pb_pool_alloc(&tmp, sizeof *names * maxv);
  int nv = 0;
  bool ok = vals && names;
  if (!ok) oom(im); /* without a status, the caller would return the graph built so far */
  for (size_t k = 0; ok && k < n->nd->n_attr; k++) {
    const Tensorflow__NodeDef__AttrEntry *e = n->nd->attr[k];
    if (!e->key || !*e->key) {
      deft_status_set(im->st, DEFT_INVALID_ARGUMENT, "node '%s' (%s): attr %zu has no name",
                      n->nd->name, n->nd->op, k);
      ok = false;
    } else if (e->value) {
      ok = convert_attr(im, n, e->key, e->value, &tmp, vals, names, &nv);
    }
  }
  /* An op deft does not know gets the producer's defaults for attrs the node leaves out. */
  for (size_t k = 0; ok && n->opdef && k < n->opdef->n_attr; k++) {
    const Tensorflow__OpDef__AttrDef *d = n->opdef->attr[k];
    if (d->default_value && !node_attr(n, d->name))
      ok = convert_attr(im, n, d->name, d->default_value, &tmp, vals, names, &nv);
  }
  if (ok && tmp.failed) ok = oom(im);
  char *full = ok ? deft_io_prefixed(im->opts, n->nd->name) : NULL;
  if (ok && !full) ok = oom(im);
  if (ok) {
    deft_op_builder *b = deft_op_builder_new(g, n->nd->op, NULL);
    deft_op_builder_set_exact_name(b, full);
    deft_op_builder_set_import_mode(b);
    if (!n->reg) deft_op_builder_allow_unknown(b, n->nout, n->out_types);
    if (n->nd->device && *n->nd->device && !(im->opts && im->opts->clear_devices))
      deft_op_builder_set_device(b, n->nd->device);
    int stand_in = -1; /* a Merge's first input that is not a back edge */
    for (int k = 0; k < n->ndata && stand_in < 0; k++)
      if (!is_back_edge(im, n, k)) stand_in = k;
    for (int k = 0; k < n->ndata; k++) {
      /* A back edge's NextIteration does not exist yet: the Merge takes another input's value
       * in its place until patch_back_edges connects it (a Merge with nothing but back edges
       * is refused there). */
      int from = is_back_edge(im, n, k) && stand_in >= 0 ? stand_in : k;
      deft_output in = {im->nodes[n->src[from]].op, n->src_index[from]};
      if (im->use_maps) {
        deft_output m = mapped_input(im->opts, im->nodes[n->src[k]].nd->name, n->src_index[k]);
        if (m.op) in = m;
      }
      deft_op_builder_add_input(b, in);
    }
    for (int k = 0; k < n->nctrl; k++)
      deft_op_builder_add_control_input(b, im->nodes[n->ctrl[k]].op);
    for (int k = 0; k < nv; k++) deft_op_builder_set_attr_value(b, names[k], &vals[k]);
    n->op = deft_op_builder_finish(b);
    if (!n->op) {
      deft_status_copy(im->st, deft_graph_status(g));
      if (deft_status_ok(im->st)) oom(im);
      ok = false;
    }
  }
  /* TF <= 1.0 (GraphDef producer <= 21) wrote `shape {}` for a Placeholder of unknown shape, and
   * TF's shape function reads a shape of rank <= 0 there as unknown; so does deft. The attr
   * keeps the file's value. Ops made later (consumers) see the unknown shape. */
  int producer = im->gd && im->gd->versions ? im->gd->versions->producer : 0;
  if (ok && n->reg && !strcmp(n->nd->op, "Placeholder") && producer <= 21 &&
      n->op->out_shapes[0].rank == 0)
    n->op->out_shapes[0] = deft_shape_unknown();
  deft_free(full);
  for (int k = 0; k < nv; k++) release_value(&vals[k]);
  deft_pb_pool_free(&tmp);
  if (ok && !n->reg) {
    for (int k = 0; k < n->nout && k < n->op->noutputs; k++) {
      n->op->out_ref[k] = n->out_ref[k];
      n->op->out_shapes[k] = n->out_shapes[k];
    }
  }
  return ok;
}

/* Pass 4: create the ops in topological order. */
static bool create_ops(importer *im) {
  for (int oi = 0; oi < im->n; oi++) {
    imp_node *n = &im->nodes[im->order[oi]];
    bool all_back = n->ndata > 0;
    for (int k = 0; k < n->ndata && all_back; k++) all_back = is_back_edge(im, n, k);
    if (all_back) {
      deft_status_set(im->st, DEFT_INVALID_ARGUMENT,
                      "node '%s' (%s): every input is a NextIteration, so the loop has no entry "
                      "(a loop's Merge takes an Enter and a NextIteration)", n->nd->name,
                      n->nd->op);
      return false;
    }
    if (!create_op(im, n)) return false;
  }
  return true;
}

/* Pass 5: connect loops' back edges (NextIteration -> Merge), now that both ends exist. */
static bool patch_back_edges(importer *im) {
  for (int i = 0; i < im->n; i++) {
    imp_node *n = &im->nodes[i];
    for (int k = 0; k < n->ndata; k++) {
      if (!is_back_edge(im, n, k)) continue;
      deft_output src = {im->nodes[n->src[k]].op, n->src_index[k]};
      if (!deft_op_patch_back_edge(n->op, k, src, im->st)) return false;
    }
  }
  return true;
}

static deft_graph *import_graph(deft_graph *into, const Tensorflow__GraphDef *gd,
                                const Tensorflow__OpList *op_list,
                                const deft_import_options *opts, deft_status *st) {
  importer im;
  memset(&im, 0, sizeof im);
  im.into = into != NULL;
  im.use_maps = into != NULL;
  im.gd = gd;
  im.op_list = op_list;
  im.opts = opts;
  im.const_budget = opts ? opts->max_constant_bytes : DEFT_IMPORT_DEFAULT_MAX_CONSTANT_BYTES;
  im.st = st ? st : deft_status_new();
  if (!im.st) return NULL;
  if (gd && gd->n_node > (size_t)INT32_MAX / 4) {
    deft_status_set(im.st, DEFT_INVALID_ARGUMENT, "the GraphDef has too many nodes (%zu)",
                    gd->n_node);
    goto done;
  }
  im.n = gd ? (int)gd->n_node : 0;
  im.g = into ? into : deft_graph_new();
  im.nodes = deft_pb_pool_alloc(&im.pool, sizeof(imp_node) * ((size_t)im.n + 1));
  if (!im.g || !im.nodes) {
    oom(&im);
    goto done;
  }
  if (!index_nodes(&im) || !sort_nodes(&im) || !plan_unknown_outputs(&im) || !create_ops(&im) ||
      !patch_back_edges(&im))
    goto done;
  if (gd && gd->versions && !im.into) im.g->producer = gd->versions->producer;
done:;
  deft_graph *g = im.g;
  if (!deft_status_ok(im.st) || im.pool.failed) {
    if (deft_status_ok(im.st)) oom(&im);
    if (!im.into) deft_graph_free(g);
    g = NULL;
  }
  deft_strmap_free(&im.names);
  deft_strmap_free(&im.opdefs);
  deft_pb_pool_free(&im.pool);
  if (im.st != st) deft_status_free(im.st);
  return g;
}

deft_graph *deft_io_import_graph(const Tensorflow__GraphDef *gd, const Tensorflow__OpList *op_list,
                                 const deft_import_options *opts, deft_status *st) {
  return import_graph(NULL, gd, op_list, opts, st);
}

deft_graph *deft_io_import_into(deft_graph *into, const Tensorflow__GraphDef *gd,
                                const deft_import_options *opts, deft_status *st) {
  if (!deft_graph_ok(into)) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "the graph has an error from building it: %s",
                    deft_status_message(deft_graph_status(into)));
    return NULL;
  }
  /* Names taken in `into` fail before anything is added. */
  for (size_t i = 0; gd && i < gd->n_node; i++) {
    char *full = gd->node[i]->name ? deft_io_prefixed(opts, gd->node[i]->name) : NULL;
    if (gd->node[i]->name && !full) return oom_status(st), NULL;
    bool taken = full && deft_graph_op_by_name(into, full);
    if (taken)
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "node name '%s' already exists in the graph",
                      full);
    deft_free(full);
    if (taken) return NULL;
  }
  /* A dry run into a scratch graph finds every error of the GraphDef itself, so the real
   * import below can only fail on memory or on a mapping's dtype. */
  deft_graph *scratch = import_graph(NULL, gd, NULL, opts, st);
  if (!scratch) return NULL;
  bool ok = true;
  for (int i = 0; ok && opts && i < opts->nmaps; i++) {
    const deft_input_map *m = &opts->maps[i];
    char *full = deft_io_prefixed(opts, m->src_name);
    if (!full) {
      ok = oom_status(st);
      break;
    }
    deft_op *src = deft_graph_op_by_name(scratch, full);
    deft_free(full);
    if (m->dst.op->graph != into) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "input mapping '%s:%d' targets an op of another "
                      "graph", m->src_name, m->src_index);
      ok = false;
    } else if (src && m->src_index < src->noutputs &&
               src->out_types[m->src_index] != m->dst.op->out_types[m->dst.index]) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "input mapping '%s:%d' has dtype %s but its replacement '%s:%d' has %s",
                      m->src_name, m->src_index,
                      deft_dtype_name((deft_dtype)src->out_types[m->src_index]),
                      m->dst.op->name, m->dst.index,
                      deft_dtype_name((deft_dtype)m->dst.op->out_types[m->dst.index]));
      ok = false;
    }
  }
  deft_graph_free(scratch);
  if (!ok) return NULL;
  return import_graph(into, gd, NULL, opts, st);
}

bool deft_graph_import_graph_def_data(deft_graph *g, const void *data, size_t len,
                                      const deft_import_options *opts, deft_status *status) {
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return false;
  Tensorflow__GraphDef *gd = tensorflow__graph_def__unpack(deft_protobuf_allocator(), len,
                                                           (const uint8_t *)data);
  bool ok = false;
  if (!gd) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT,
                    "invalid GraphDef (%zu bytes): not a valid binary protobuf message", len);
  } else {
    ok = deft_io_import_into(g, gd, opts, st) != NULL;
    tensorflow__graph_def__free_unpacked(gd, deft_protobuf_allocator());
  }
  if (st != status) deft_status_free(st);
  return ok;
}

/* ---- the producer's OpDefs of unknown op types ---- */

static const char op_list_marker[] = "\001deft:producer_op_list\001";

bool deft_io_stash_op_list(deft_graph *g, const Tensorflow__OpList *ops) {
  if (!ops || !ops->n_op) return true;
  Tensorflow__OpDef **keep = deft_malloc(sizeof *keep * ops->n_op);
  if (!keep) return false;
  Tensorflow__OpList sub;
  tensorflow__op_list__init(&sub);
  sub.op = keep;
  for (size_t i = 0; i < ops->n_op; i++) {
    const char *type = ops->op[i]->name;
    if (deft_registry_lookup(type)) continue;
    bool used = false;
    for (int k = 0; k < g->nops && !used; k++)
      used = !g->ops[k]->reg && !strcmp(g->ops[k]->type, type);
    if (used) keep[sub.n_op++] = ops->op[i];
  }
  bool ok = true;
  if (sub.n_op) {
    size_t mlen = sizeof op_list_marker - 1;
    size_t n = tensorflow__op_list__get_packed_size(&sub);
    char *buf = deft_malloc(mlen + n + 1);
    deft_tensor *t = deft_tensor_new(DEFT_STRING, NULL, 0, NULL);
    ok = buf && t;
    if (ok) {
      memcpy(buf, op_list_marker, mlen);
      tensorflow__op_list__pack(&sub, (uint8_t *)buf + mlen);
      ok = deft_tensor_set_string(t, 0, buf, mlen + n, NULL) && deft_graph_own_tensor(g, t);
      t = NULL; /* owned by g now, or freed by deft_graph_own_tensor */
    }
    deft_tensor_free(t);
    deft_free(buf);
  }
  deft_free(keep);
  return ok;
}

Tensorflow__OpList *deft_io_stashed_op_list(const deft_graph *g, bool *oom) {
  size_t mlen = sizeof op_list_marker - 1;
  *oom = false;
  for (int i = 0; i < g->nowned; i++) {
    const deft_tensor *t = g->owned_tensors[i];
    if (t->dtype != DEFT_STRING || t->rank != 0) continue;
    size_t len;
    const char *s = deft_tensor_string(t, 0, &len);
    if (!s || len < mlen || memcmp(s, op_list_marker, mlen)) continue;
    Tensorflow__OpList *l = tensorflow__op_list__unpack(deft_protobuf_allocator(), len - mlen,
                                                        (const uint8_t *)s + mlen);
    if (!l) *oom = true; /* it was packed by deft_io_stash_op_list: only OOM can fail */
    return l;
  }
  return NULL;
}

/* ---- reading files ---- */

static bool looks_like_text(const uint8_t *data, size_t len) {
  size_t n = len < 64 ? len : 64;
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = data[i];
    if (!(isprint(c) || isspace(c))) return false;
  }
  return true;
}

bool deft_io_has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

ProtobufCMessage *deft_io_read_message(const char *path, const ProtobufCMessageDescriptor *desc,
                                       const char *what, deft_status *st) {
  uint8_t *data;
  size_t len;
  if (!deft_read_file(path, &data, &len, st)) return NULL;
  ProtobufCMessage *m = NULL;
  if (deft_io_has_suffix(path, ".pbtxt")) {
    m = deft_pb_text_parse(desc, (const char *)data, len, path, st);
    if (!m) deft_status_prefix(st, "cannot parse '%s' as a text-format %s", path, what);
    deft_free(data);
    return m;
  }
  /* protobuf-c's unpacker recurses without a bound: walk the nesting first. Bytes that are
   * not binary at all fall through to the text check below. */
  if (deft_pb_check_depth(desc, data, len, st))
    m = protobuf_c_message_unpack(desc, deft_protobuf_allocator(), len, data);
  else if (deft_status_code(st) != DEFT_DATA_LOSS) {
    deft_status_prefix(st, "cannot parse '%s' as a binary %s", path, what);
    deft_free(data);
    return NULL;
  } else
    deft_status_clear(st);
  if (!m && looks_like_text(data, len)) {
    /* Not binary, and it reads as text: a text-format file under another name. */
    m = deft_pb_text_parse(desc, (const char *)data, len, path, st);
    if (!m && deft_status_code(st) != DEFT_RESOURCE_EXHAUSTED)
      deft_status_prefix(st, "cannot parse '%s' (%zu bytes) as a binary %s, nor as a text-format "
                         "one", path, len, what);
  } else if (!m) {
    deft_status_set(st, DEFT_DATA_LOSS,
                    "cannot parse '%s' (%zu bytes) as a binary %s: the file is truncated, "
                    "corrupt or not a %s", path, len, what, what);
  }
  deft_free(data);
  return m;
}

deft_graph *deft_import_graph_def(const char *path, const deft_import_options *opts,
                                  deft_status *status) {
  deft_status_clear(status);
  Tensorflow__GraphDef *gd = (Tensorflow__GraphDef *)deft_io_read_message(
      path, &tensorflow__graph_def__descriptor, "GraphDef", status);
  if (!gd) return NULL;
  deft_graph *g = deft_io_import_graph(gd, NULL, opts, status);
  if (!g) deft_status_prefix(status, "cannot import '%s'", path);
  tensorflow__graph_def__free_unpacked(gd, deft_protobuf_allocator());
  return g;
}
