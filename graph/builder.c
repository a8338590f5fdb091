/* SPDX-License-Identifier: Apache-2.0 */
/* graph/builder.c - the generic op builder. It checks inputs against the op type's signature,
 * infers type attrs, fills defaults, runs the shape function and adds the op; any failure becomes
 * the graph's sticky error and leaves the graph unchanged. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

struct deft_op_builder {
  deft_graph *g;
  bool dead; /* the graph already failed, or this builder hit an error */
  const char *type;
  const char *name;       /* relative name or NULL */
  const char *exact_name; /* full name, importers */
  const char *device;
  bool import_mode;
  bool allow_unknown;
  int unknown_noutputs;
  int *unknown_types;
  deft_output *inputs;
  int ninputs, inputs_cap;
  int *groups; /* size of each add_input/add_input_list call */
  int ngroups, groups_cap;
  deft_op **ctrl;
  int nctrl, ctrl_cap;
  deft_attr *attrs;
  int nattrs, attrs_cap;
  const deft_op_reg *reg;    /* the type's registration, NULL for a type deft does not know */
  char *namebuf, *scopedbuf; /* scratch for `name` and the scoped name (kept for reuse) */
  size_t namecap, scopedcap;
};

/* *buf with room for n bytes: grown in g's arena as needed; NULL on OOM. */
static char *scratch(deft_graph *g, char **buf, size_t *cap, size_t n) {
  if (n > *cap) {
    size_t c = n < 64 ? 64 : n;
    char *nb = deft_arena_alloc(&g->arena, c);
    if (!nb)
      return NULL;
    *buf = nb;
    *cap = c;
  }
  return *buf;
}

static void bfail(deft_op_builder *b, deft_code code, const char *fmt, ...) {
  if (b->dead) return;
  b->dead = true;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *name = b->exact_name ? b->exact_name : (b->name ? b->name : b->type);
  deft_graph_fail(b->g, code, "%s '%s': %s", b->type, name, msg);
}

static void oom(deft_op_builder *b) { bfail(b, DEFT_RESOURCE_EXHAUSTED, "out of memory"); }

static bool grow(deft_op_builder *b, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  /* most ops have under 4 inputs and 2 attrs (an attr is 88 bytes, and the arrays live as long
   * as the graph) */
  int ncap = *cap ? *cap * 2 : elem > 32 ? 2 : 4;
  while (ncap < need) ncap *= 2;
  void *n = deft_arena_alloc(&b->g->arena, (size_t)ncap * elem);
  if (!n) {
    oom(b);
    return false;
  }
  if (*arr) memcpy(n, *arr, (size_t)*cap * elem);
  *arr = n;
  *cap = ncap;
  return true;
}

deft_op_builder *deft_op_builder_spare_new(void) { return deft_calloc(1, sizeof(deft_op_builder)); }

deft_op_builder *deft_op_builder_new(deft_graph *g, const char *type, const char *name) {
  deft_op_builder *b = g->free_builder;
  g->free_builder = NULL;
  if (!b)
    b = deft_arena_alloc(&g->arena, sizeof *b);
  if (!b) { /* the graph's spare, dead: every call on it does nothing */
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building op %s", type);
    b = g->spare_builder;
    memset(b, 0, sizeof *b);
    b->g = g;
    b->dead = true;
    b->type = type;
    return b;
  }
  b->g = g;
  b->dead = !deft_graph_ok(g);
  /* a registered type's name is the registry's (static) string: no copy per op */
  b->reg = deft_registry_lookup(type);
  b->type = b->reg ? b->reg->def->type : deft_arena_strdup(&g->arena, type);
  if (name) {
    size_t n = strlen(name) + 1;
    char *nb = scratch(g, &b->namebuf, &b->namecap, n);
    if (nb)
      b->name = memcpy(nb, name, n);
  }
  if (!b->type || (name && !b->name)) {
    b->type = type;
    oom(b);
  }
  return b;
}

/* Keeps finished b as g's next builder, with its scratch arrays and nothing else (an op copies
 * what it keeps). The graph's spare builder is never reused. */
static void builder_recycle(deft_graph *g, deft_op_builder *b) {
  if (b == g->spare_builder || g->free_builder)
    return;
  deft_op_builder keep = {.g = g,
                          .inputs = b->inputs,
                          .inputs_cap = b->inputs_cap,
                          .groups = b->groups,
                          .groups_cap = b->groups_cap,
                          .ctrl = b->ctrl,
                          .ctrl_cap = b->ctrl_cap,
                          .attrs = b->attrs,
                          .attrs_cap = b->attrs_cap,
                          .namebuf = b->namebuf,
                          .namecap = b->namecap,
                          .scopedbuf = b->scopedbuf,
                          .scopedcap = b->scopedcap};
  *b = keep;
  g->free_builder = b;
}

bool deft_op_builder_ok(const deft_op_builder *b) { return !b->dead; }

void deft_op_builder_set_exact_name(deft_op_builder *b, const char *full_name) {
  if (b->dead) return;
  b->exact_name = deft_arena_strdup(&b->g->arena, full_name);
  if (!b->exact_name) oom(b);
}

void deft_op_builder_allow_unknown(deft_op_builder *b, int noutputs, const int *types) {
  if (b->dead) return;
  b->allow_unknown = true;
  b->unknown_noutputs = noutputs;
  if (noutputs > 0) {
    b->unknown_types = deft_arena_alloc(&b->g->arena, sizeof(int) * (size_t)noutputs);
    if (!b->unknown_types) {
      oom(b);
      return;
    }
    if (types) memcpy(b->unknown_types, types, sizeof(int) * (size_t)noutputs);
  }
}

void deft_op_builder_set_import_mode(deft_op_builder *b) { b->import_mode = true; }

static void add_inputs(deft_op_builder *b, const deft_output *in, int n) {
  if (b->dead) return;
  for (int i = 0; i < n; i++) {
    if (!in[i].op) {
      /* An invalid input: an earlier constructor failed (its error is already recorded) or the
       * caller passed a bad value. Either way this op is not built. */
      if (deft_graph_ok(b->g))
        bfail(b, DEFT_INVALID_ARGUMENT, "input %d is invalid (no op)", b->ninputs + i);
      b->dead = true;
      return;
    }
    if (in[i].op->graph != b->g) {
      bfail(b, DEFT_INVALID_ARGUMENT, "input %d ('%s') belongs to another graph", b->ninputs + i,
            in[i].op->name);
      return;
    }
    if (in[i].index < 0 || in[i].index >= in[i].op->noutputs) {
      bfail(b, DEFT_OUT_OF_RANGE, "input %d refers to output %d of '%s', which has %d outputs",
            b->ninputs + i, in[i].index, in[i].op->name, in[i].op->noutputs);
      return;
    }
  }
  if (!grow(b, (void **)&b->inputs, &b->inputs_cap, b->ninputs + n, sizeof *b->inputs)) return;
  if (!grow(b, (void **)&b->groups, &b->groups_cap, b->ngroups + 1, sizeof *b->groups)) return;
  if (n) memcpy(b->inputs + b->ninputs, in, sizeof *in * (size_t)n);
  b->ninputs += n;
  b->groups[b->ngroups++] = n;
}

void deft_op_builder_add_input(deft_op_builder *b, deft_output in) { add_inputs(b, &in, 1); }
void deft_op_builder_add_input_list(deft_op_builder *b, const deft_output *in, int n) {
  assert(b && n >= 0 && (in || n == 0));
  add_inputs(b, in, n);
}

void deft_op_builder_add_control_input(deft_op_builder *b, deft_op *op) {
  if (b->dead) return;
  if (!op) {
    if (deft_graph_ok(b->g)) bfail(b, DEFT_INVALID_ARGUMENT, "control input is NULL");
    b->dead = true;
    return;
  }
  for (int i = 0; i < b->nctrl; i++)
    if (b->ctrl[i] == op) return;
  if (!grow(b, (void **)&b->ctrl, &b->ctrl_cap, b->nctrl + 1, sizeof *b->ctrl)) return;
  b->ctrl[b->nctrl++] = op;
}

void deft_op_builder_set_device(deft_op_builder *b, const char *device) {
  if (b->dead) return;
  b->device = deft_arena_strdup(&b->g->arena, device);
  if (!b->device) oom(b);
}

static deft_attr *slot_for(deft_op_builder *b, const char *name) {
  if (b->dead) return NULL;
  for (int i = 0; i < b->nattrs; i++)
    if (!strcmp(b->attrs[i].name, name)) return &b->attrs[i];
  if (!grow(b, (void **)&b->attrs, &b->attrs_cap, b->nattrs + 1, sizeof *b->attrs)) return NULL;
  deft_attr *a = &b->attrs[b->nattrs];
  memset(a, 0, sizeof *a); /* scratch of a reused builder */
  /* an attr the type declares is named by the registry's string (it outlives every graph) */
  const deft_attr_def *d = b->reg ? deft_op_reg_attr(b->reg, name) : NULL;
  a->name = d ? d->name : deft_arena_strdup(&b->g->arena, name);
  if (!a->name) {
    oom(b);
    return NULL;
  }
  b->nattrs++;
  return a;
}

void deft_op_builder_set_attr_value(deft_op_builder *b, const char *name,
                                    const deft_attr_value *v) {
  deft_attr *a = slot_for(b, name);
  if (a && !deft_attr_value_copy(b->g, &a->v, v)) oom(b);
}

#define SET_SCALAR(fn, ctype, kind_, field)                                     \
  void fn(deft_op_builder *b, const char *name, ctype v) {                      \
    deft_attr_value av;                                                         \
    memset(&av, 0, sizeof av);                                                  \
    av.kind = kind_;                                                            \
    av.u.field = v;                                                             \
    deft_op_builder_set_attr_value(b, name, &av);                               \
  }
SET_SCALAR(deft_op_builder_set_attr_int, int64_t, DEFT_ATTR_INT, i)
SET_SCALAR(deft_op_builder_set_attr_float, float, DEFT_ATTR_FLOAT, f)
SET_SCALAR(deft_op_builder_set_attr_bool, bool, DEFT_ATTR_BOOL, b)
SET_SCALAR(deft_op_builder_set_attr_shape, deft_shape, DEFT_ATTR_SHAPE, shape)

void deft_op_builder_set_attr_type(deft_op_builder *b, const char *name, deft_dtype v) {
  deft_attr_value av;
  memset(&av, 0, sizeof av);
  av.kind = DEFT_ATTR_TYPE;
  av.u.type = (int)v;
  deft_op_builder_set_attr_value(b, name, &av);
}

void deft_op_builder_set_attr_string(deft_op_builder *b, const char *name, const char *v,
                                     size_t len) {
  deft_attr_value av;
  memset(&av, 0, sizeof av);
  av.kind = DEFT_ATTR_STRING;
  av.u.s.p = (char *)v;
  av.u.s.len = len;
  deft_op_builder_set_attr_value(b, name, &av);
}

void deft_op_builder_set_attr_tensor(deft_op_builder *b, const char *name,
                                     const deft_tensor *v) {
  deft_attr_value av;
  memset(&av, 0, sizeof av);
  av.kind = DEFT_ATTR_TENSOR;
  av.u.tensor = (deft_tensor *)v;
  if (!v) {
    bfail(b, DEFT_INVALID_ARGUMENT, "attr '%s': tensor is NULL", name);
    return;
  }
  deft_op_builder_set_attr_value(b, name, &av);
}

#define SET_LIST(fn, ctype, kind_, field)                                       \
  void fn(deft_op_builder *b, const char *name, ctype v, int n) {               \
    deft_attr_value av;                                                         \
    memset(&av, 0, sizeof av);                                                  \
    av.kind = kind_;                                                            \
    av.u.list.n = n;                                                            \
    av.u.list.v.field = (void *)v;                                              \
    deft_op_builder_set_attr_value(b, name, &av);                               \
  }
SET_LIST(deft_op_builder_set_attr_int_list, const int64_t *, DEFT_ATTR_LIST_INT, i)
SET_LIST(deft_op_builder_set_attr_float_list, const float *, DEFT_ATTR_LIST_FLOAT, f)
SET_LIST(deft_op_builder_set_attr_shape_list, const deft_shape *, DEFT_ATTR_LIST_SHAPE, shape)
SET_LIST(deft_op_builder_set_attr_bool_list, const bool *, DEFT_ATTR_LIST_BOOL, b)
SET_LIST(deft_op_builder_set_attr_tensor_list, const deft_tensor *const *, DEFT_ATTR_LIST_TENSOR,
         tensor)

void deft_op_builder_set_attr_type_list(deft_op_builder *b, const char *name,
                                        const deft_dtype *v, int n) {
  deft_attr_value av;
  memset(&av, 0, sizeof av);
  av.kind = DEFT_ATTR_LIST_TYPE;
  av.u.list.n = n;
  av.u.list.v.type = (int *)v;
  deft_op_builder_set_attr_value(b, name, &av);
}

void deft_op_builder_set_attr_string_list(deft_op_builder *b, const char *name,
                                          const char *const *v, int n) {
  deft_str *strs = deft_arena_alloc(&b->g->arena, sizeof(deft_str) * (size_t)(n ? n : 1));
  if (!strs) {
    oom(b);
    return;
  }
  for (int i = 0; i < n; i++) {
    strs[i].p = (char *)v[i];
    strs[i].len = strlen(v[i]);
  }
  deft_attr_value av;
  memset(&av, 0, sizeof av);
  av.kind = DEFT_ATTR_LIST_STRING;
  av.u.list.n = n;
  av.u.list.v.s = strs;
  deft_op_builder_set_attr_value(b, name, &av);
}

/* ---- finishing ---- */

static deft_attr *get_attr(deft_op_builder *b, const char *name) {
  for (int i = 0; i < b->nattrs; i++)
    if (!strcmp(b->attrs[i].name, name)) return &b->attrs[i];
  return NULL;
}

static const char *tname(int t) {
  const char *n = deft_tf_type_name(t);
  return n ? n : "DT_INVALID";
}

/* How many flat inputs/outputs an arg takes, from attrs (or -1 if not yet known). */
static int arg_count(deft_op_builder *b, const deft_arg_def *a) {
  if (a->number_attr) {
    deft_attr *n = get_attr(b, a->number_attr);
    return (n && n->v.kind == DEFT_ATTR_INT) ? (int)n->v.u.i : -1;
  }
  if (a->type_list_attr) {
    deft_attr *l = get_attr(b, a->type_list_attr);
    return (l && l->v.kind == DEFT_ATTR_LIST_TYPE) ? l->v.u.list.n : -1;
  }
  return 1;
}

/* Sets attr `name` of kind TYPE to t if unset; otherwise checks it. */
static bool unify_type(deft_op_builder *b, const char *attr, int t, int input_index) {
  deft_attr *a = get_attr(b, attr);
  if (!a) {
    a = slot_for(b, attr);
    if (!a) return false;
    a->v.kind = DEFT_ATTR_TYPE;
    a->v.u.type = t;
    return true;
  }
  if (a->v.kind == DEFT_ATTR_TYPE && a->v.u.type != t) {
    bfail(b, DEFT_INVALID_ARGUMENT, "input %d has type %s, but attr %s is %s", input_index,
          tname(t), attr, tname(a->v.u.type));
    return false;
  }
  return true;
}

static bool match_inputs(deft_op_builder *b, const deft_op_reg *r) {
  /* 1. Infer list lengths from the add_input groups when they line up with the args. */
  bool grouped = !b->import_mode && b->ngroups == r->ninputs;
  for (int i = 0; grouped && i < r->ninputs; i++) {
    const deft_arg_def *a = &r->inputs[i];
    if (a->number_attr && !get_attr(b, a->number_attr)) {
      deft_attr *n = slot_for(b, a->number_attr);
      if (!n) return false;
      n->v.kind = DEFT_ATTR_INT;
      n->v.u.i = b->groups[i];
    }
    if (a->type_list_attr && !get_attr(b, a->type_list_attr)) {
      deft_attr *l = slot_for(b, a->type_list_attr);
      if (!l) return false;
      int *types = deft_arena_alloc(&b->g->arena, sizeof(int) * (size_t)(b->groups[i] + 1));
      if (!types) return (oom(b), false);
      int start = 0;
      for (int k = 0; k < i; k++) start += b->groups[k];
      for (int k = 0; k < b->groups[i]; k++) types[k] = deft_output_type(b->inputs[start + k]);
      l->v.kind = DEFT_ATTR_LIST_TYPE;
      l->v.u.list.n = b->groups[i];
      l->v.u.list.v.type = types;
    }
  }
  /* 2. Walk the args over the flat input list. */
  int pos = 0;
  for (int i = 0; i < r->ninputs; i++) {
    const deft_arg_def *a = &r->inputs[i];
    int count = arg_count(b, a);
    if (count < 0) {
      bfail(b, DEFT_INVALID_ARGUMENT, "cannot tell how many tensors input '%s' takes (attr %s "
            "missing)", a->name, a->number_attr ? a->number_attr : a->type_list_attr);
      return false;
    }
    if (pos + count > b->ninputs) {
      bfail(b, DEFT_INVALID_ARGUMENT, "expects more inputs: input '%s' needs %d tensor(s) from "
            "position %d, but only %d input(s) were given", a->name, count, pos, b->ninputs);
      return false;
    }
    for (int k = 0; k < count; k++, pos++) {
      deft_output in = b->inputs[pos];
      int t = deft_output_type(in);
      if (a->is_ref && !in.op->out_ref[in.index]) {
        bfail(b, DEFT_INVALID_ARGUMENT, "input %d ('%s') must be a variable reference (e.g. a "
              "VariableV2 output), but '%s:%d' (%s) is a value", pos, a->name, in.op->name,
              in.index, in.op->type);
        return false;
      }
      if (a->fixed_type && t != a->fixed_type) {
        bfail(b, DEFT_INVALID_ARGUMENT, "input %d ('%s') must be %s, got %s from '%s:%d'", pos,
              a->name, tname(a->fixed_type), tname(t), in.op->name, in.index);
        return false;
      }
      if (a->type_attr && !unify_type(b, a->type_attr, t, pos)) return false;
      if (a->type_list_attr) {
        deft_attr *l = get_attr(b, a->type_list_attr);
        if (l->v.u.list.v.type[k] != t) {
          bfail(b, DEFT_INVALID_ARGUMENT, "input %d has type %s, but attr %s[%d] is %s", pos,
                tname(t), a->type_list_attr, k, tname(l->v.u.list.v.type[k]));
          return false;
        }
      }
    }
  }
  if (pos != b->ninputs) {
    bfail(b, DEFT_INVALID_ARGUMENT, "expects %d input(s), got %d", pos, b->ninputs);
    return false;
  }
  return true;
}

static bool check_attrs(deft_op_builder *b, const deft_op_reg *r) {
  for (int i = 0; i < r->nattrs; i++) {
    const deft_attr_def *d = &r->attrs[i];
    deft_attr *a = get_attr(b, d->name);
    if (!a) {
      if (!d->has_default) {
        bfail(b, DEFT_INVALID_ARGUMENT, "missing required attr '%s' (%s)", d->name, d->type_str);
        return false;
      }
      a = slot_for(b, d->name);
      if (!a || !deft_attr_value_copy(b->g, &a->v, &d->default_value)) return (oom(b), false);
      continue;
    }
    /* An empty list given for a list attr may be of any element kind. */
    bool empty_list = a->v.kind >= DEFT_ATTR_LIST_STRING && d->kind >= DEFT_ATTR_LIST_STRING &&
                      a->v.u.list.n == 0;
    if (a->v.kind != d->kind && !empty_list) {
      bfail(b, DEFT_INVALID_ARGUMENT, "attr '%s' must be %s", d->name, d->type_str);
      return false;
    }
    if (empty_list) a->v.kind = d->kind;
    if (d->nallowed_types && d->kind == DEFT_ATTR_TYPE) {
      bool ok = false;
      for (int k = 0; k < d->nallowed_types; k++) ok |= d->allowed_types[k] == a->v.u.type;
      if (!ok) {
        bfail(b, DEFT_INVALID_ARGUMENT, "attr '%s' = %s is not an allowed type for %s", d->name,
              tname(a->v.u.type), b->type);
        return false;
      }
    }
    if (d->nallowed_strings) {
      bool ok = false;
      for (int k = 0; k < d->nallowed_strings; k++)
        ok |= strcmp(d->allowed_strings[k], a->v.u.s.p) == 0;
      if (!ok) {
        bfail(b, DEFT_INVALID_ARGUMENT, "attr '%s' = \"%s\" is not one of the allowed values",
              d->name, a->v.u.s.p);
        return false;
      }
    }
    if (d->has_minimum) {
      int64_t v = d->kind == DEFT_ATTR_INT ? a->v.u.i : a->v.u.list.n;
      if (v < d->minimum) {
        bfail(b, DEFT_INVALID_ARGUMENT, "attr '%s' = %" PRId64 " is below its minimum %" PRId64,
              d->name, v, d->minimum);
        return false;
      }
    }
  }
  if (!b->import_mode) {
    for (int i = 0; i < b->nattrs; i++)
      if (b->attrs[i].name[0] != '_' && !deft_op_reg_attr(r, b->attrs[i].name)) {
        bfail(b, DEFT_INVALID_ARGUMENT, "%s has no attr '%s'", b->type, b->attrs[i].name);
        return false;
      }
  }
  return true;
}

/* op's out_shapes, out_types and out_ref arrays (nshapes, ntypes, ntypes entries, zeroed) in
 * one arena block; false on OOM. */
static bool alloc_outputs(deft_graph *g, deft_op *op, int nshapes, int ntypes) {
  size_t shapes = sizeof(deft_shape) * (size_t)nshapes, types = sizeof(int) * (size_t)ntypes;
  char *p = deft_arena_alloc(&g->arena, shapes + types + sizeof(bool) * (size_t)ntypes);
  if (!p)
    return false;
  op->out_shapes = (deft_shape *)p;
  op->out_types = (int *)(p + shapes);
  op->out_ref = (bool *)(p + shapes + types);
  return true;
}

static bool set_outputs(deft_op_builder *b, const deft_op_reg *r, deft_op *op) {
  int n = 0;
  for (int i = 0; i < r->noutputs; i++) {
    int c = arg_count(b, &r->outputs[i]);
    if (c < 0) {
      bfail(b, DEFT_INVALID_ARGUMENT, "cannot tell how many tensors output '%s' has",
            r->outputs[i].name);
      return false;
    }
    n += c;
  }
  op->noutputs = n;
  if (!alloc_outputs(b->g, op, n ? n : 1, n + 1))
    return (oom(b), false);
  int pos = 0;
  for (int i = 0; i < r->noutputs; i++) {
    const deft_arg_def *a = &r->outputs[i];
    int c = arg_count(b, a);
    for (int k = 0; k < c; k++, pos++) {
      int t = a->fixed_type;
      if (a->type_attr) {
        deft_attr *ta = get_attr(b, a->type_attr);
        t = ta ? ta->v.u.type : 0;
      } else if (a->type_list_attr) {
        t = get_attr(b, a->type_list_attr)->v.u.list.v.type[k];
      }
      op->out_types[pos] = t;
      op->out_ref[pos] = a->is_ref;
      op->out_shapes[pos] = deft_shape_unknown();
    }
  }
  return true;
}

static bool add_scope_controls(deft_op_builder *b) {
  deft_graph *g = b->g;
  for (int s = 0; s < g->nctrl_scopes; s++) {
    deft_ctrl_scope *cs = &g->ctrl_scopes[s];
    bool inside = false;
    for (int i = 0; i < b->ninputs; i++) inside |= b->inputs[i].op->id >= cs->start_id;
    if (inside) continue;
    for (int i = 0; i < cs->n; i++) deft_op_builder_add_control_input(b, cs->ops[i]);
  }
  return !b->dead;
}

/* Adds op to g's table; under g->mu, since sessions may be planning in other threads. */
static bool register_op(deft_graph *g, deft_op *op) {
  if (g->nops == g->cap) {
    int ncap = g->cap ? g->cap * 2 : 256;
    deft_op **n = deft_malloc((size_t)ncap * sizeof *n);
    if (!n) return false;
    if (g->nops) memcpy(n, g->ops, (size_t)g->nops * sizeof *n);
    pthread_mutex_lock(&g->mu);
    deft_op **old = g->ops;
    g->ops = n;
    g->cap = ncap;
    pthread_mutex_unlock(&g->mu);
    deft_free(old);
  }
  deft_strmap_entry *e = deft_strmap_insert_borrowed(&g->by_name, op->name, strlen(op->name), NULL);
  if (!e) return false;
  e->value.ptr = op;
  pthread_mutex_lock(&g->mu);
  op->id = g->nops;
  g->ops[g->nops++] = op;
  pthread_mutex_unlock(&g->mu);
  return true;
}

static deft_op *builder_finish(deft_op_builder *b);

deft_op *deft_op_builder_finish(deft_op_builder *b) {
  assert(b && b->g);
  deft_op *op = builder_finish(b);
  builder_recycle(b->g, b);
  return op;
}

/* A copy of n elements of `elem` bytes in g's arena (NULL for none); false on OOM. */
static bool arena_copy(deft_graph *g, void **dst, const void *src, int n, size_t elem) {
  *dst = n ? deft_arena_memdup(&g->arena, src, (size_t)n * elem) : NULL;
  return !n || *dst;
}

static deft_op *builder_finish(deft_op_builder *b) {
  deft_graph *g = b->g;
  if (b->dead) return NULL;
  const deft_op_reg *r = b->reg;
  if (!r && !b->allow_unknown) {
    bfail(b, DEFT_NOT_FOUND, "unknown op type '%s'", b->type);
    return NULL;
  }
  if (!b->import_mode && !add_scope_controls(b)) return NULL;
  if (r && (!match_inputs(b, r) || !check_attrs(b, r))) return NULL;

  /* The name: exact (imports) or scoped and made unique. It is marked used only on success. */
  const char *full, *scoped = NULL;
  if (b->exact_name) {
    full = b->exact_name;
    if (deft_graph_op_by_name(g, full)) {
      bfail(b, DEFT_ALREADY_EXISTS, "an op named '%s' already exists", full);
      return NULL;
    }
  } else {
    /* the scoped name is scratch: uniquify makes the op's copy */
    const char *rel = b->name ? b->name : b->type, *scope = deft_graph_scope(g);
    size_t ns = strlen(scope), nr = strlen(rel);
    char *sc = scratch(g, &b->scopedbuf, &b->scopedcap, ns + nr + 2);
    if (sc) {
      memcpy(sc, scope, ns);
      if (ns)
        sc[ns++] = '/';
      memcpy(sc + ns, rel, nr + 1);
    }
    scoped = sc;
    if (scoped && !deft_graph_valid_name(scoped, false)) {
      bfail(b, DEFT_INVALID_ARGUMENT,
            "'%s' is not a valid op name (TensorFlow's rule: letters, digits and \"_.-/>\", "
            "starting with a letter, digit or \".\")", scoped);
      return NULL;
    }
    full = scoped ? deft_graph_uniquify(g, scoped, false) : NULL;
    if (!full) return (oom(b), NULL);
  }

  deft_op *op = deft_arena_alloc(&g->arena, sizeof *op);
  if (!op) return (oom(b), NULL);
  op->graph = g;
  op->name = full;
  op->type = b->type;
  op->device = b->device;
  op->reg = r;
  op->ninputs = b->ninputs;
  op->nctrl = b->nctrl;
  op->nattrs = b->nattrs;
  /* the builder's arrays are scratch (grown by doubling, reused): the op keeps exact copies */
  if (!arena_copy(g, (void **)&op->inputs, b->inputs, b->ninputs, sizeof *b->inputs) ||
      !arena_copy(g, (void **)&op->ctrl, b->ctrl, b->nctrl, sizeof *b->ctrl) ||
      !arena_copy(g, (void **)&op->attrs, b->attrs, b->nattrs, sizeof *b->attrs))
    return (oom(b), NULL);
  op->id = g->nops;
  if (r) {
    if (!set_outputs(b, r, op)) return NULL;
  } else {
    op->noutputs = b->unknown_noutputs;
    int n = op->noutputs + 1;
    if (!alloc_outputs(g, op, n, n))
      return (oom(b), NULL);
    for (int i = 0; i < op->noutputs; i++) {
      op->out_types[i] = b->unknown_types ? b->unknown_types[i] : 0;
      op->out_shapes[i] = deft_shape_unknown();
    }
  }
  if (r && r->def->shape) {
    deft_status *st = g->shape_status;
    deft_status_clear(st);
    deft_shape_ctx ctx = {op, st};
    r->def->shape(&ctx);
    if (!deft_status_ok(st)) {
      deft_graph_fail_with(g, st);
      b->dead = true;
      deft_status_clear(st);
      return NULL;
    }
  }
  /* full is unused (made so above, or checked): marking it is what uniquifying it again with
   * mark = true would do, without another copy of the name */
  if (b->exact_name ? !deft_graph_mark_name_used(g, full)
                    : !deft_graph_mark_unique_name_used(g, scoped, full))
    full = NULL;
  if (!full || !register_op(g, op)) return (oom(b), NULL);
  b->dead = true; /* the builder is spent */
  return op;
}

/* ---- helpers for family files ---- */

const char *deft_op_input_arg_name(const deft_op *op, int i) {
  const deft_op_reg *reg = op->reg;
  if (!reg || i < 0) return "?";
  int flat = 0;
  for (int a = 0; a < reg->ninputs; a++) {
    int64_t n = 1;
    const char *count_attr = reg->inputs[a].number_attr;
    const deft_attr *at = NULL;
    if (count_attr) {
      at = deft_op_find_attr(op, count_attr);
      n = at && at->v.kind == DEFT_ATTR_INT ? at->v.u.i : 1;
    } else if (reg->inputs[a].type_list_attr) {
      at = deft_op_find_attr(op, reg->inputs[a].type_list_attr);
      n = at && at->v.kind == DEFT_ATTR_LIST_TYPE ? at->v.u.list.n : 1;
    }
    if (i < flat + n) return reg->inputs[a].name;
    flat += (int)n;
  }
  return "?";
}

