/* SPDX-License-Identifier: Apache-2.0 */
/* graph/graph.c - the graph: ops in creation order, names and name scopes, control-dependency
 * scopes, the sticky error, lookups and op accessors (see include/deft/graph.h). Attrs live in
 * graph/attrs.c, the op builder in graph/builder.c, collections in graph/collections.c. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

deft_graph *deft_graph_new(void) {
  deft_graph *g = deft_calloc(1, sizeof *g);
  if (!g) return NULL;
  g->status = deft_status_new();
  g->spare_builder = deft_op_builder_spare_new();
  g->shape_status = deft_status_new();
  if (!g->status || !g->spare_builder || !g->shape_status) {
    deft_status_free(g->status);
    deft_status_free(g->shape_status);
    deft_free(g->spare_builder);
    deft_free(g);
    return NULL;
  }
  /* the name maps' keys live in the graph's arena (op names are borrowed): no malloc per op */
  g->by_name.key_arena = g->names_in_use.key_arena = g->vscope_names.key_arena = &g->arena;
  pthread_mutex_init(&g->mu, NULL);
  return g;
}

void deft_graph_free(deft_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->nowned; i++) deft_tensor_free(g->owned_tensors[i]);
  deft_free(g->owned_tensors);
  for (int i = 0; i < g->ncollections; i++) {
    deft_free(g->collections[i].key);
    deft_free(g->collections[i].items);
  }
  deft_free(g->collections);
  for (int i = 0; i < g->nctrl_scopes; i++) deft_free(g->ctrl_scopes[i].ops);
  deft_free(g->ctrl_scopes);
  deft_free(g->scopes);
  deft_free(g->vscopes);
  deft_strmap_free(&g->vscope_names);
  deft_free(g->ops);
  deft_strmap_free(&g->by_name);
  deft_strmap_free(&g->names_in_use);
  deft_status_free(g->status);
  deft_free(g->spare_builder);
  deft_status_free(g->shape_status);
  pthread_mutex_destroy(&g->mu);
  deft_arena_free(&g->arena);
  deft_free(g);
}

const deft_status *deft_graph_status(const deft_graph *g) { return g->status; }
bool deft_graph_ok(const deft_graph *g) { return deft_status_ok(g->status); }

void deft_graph_failv(deft_graph *g, deft_code code, const char *fmt, va_list ap) {
  if (!deft_status_ok(g->status)) return;
  pthread_mutex_lock(&g->mu);
  deft_status_setv(g->status, code, fmt, ap);
  atomic_store(&g->failed, !deft_status_ok(g->status));
  pthread_mutex_unlock(&g->mu);
}

void deft_graph_fail_with(deft_graph *g, const deft_status *st) {
  if (!deft_status_ok(g->status)) return;
  pthread_mutex_lock(&g->mu);
  deft_status_copy(g->status, st);
  atomic_store(&g->failed, !deft_status_ok(g->status));
  pthread_mutex_unlock(&g->mu);
}

bool deft_graph_check_ok(deft_graph *g, deft_status *status) {
  if (!atomic_load_explicit(&g->failed, memory_order_acquire)) return true;
  pthread_mutex_lock(&g->mu);
  bool ok = deft_status_ok(g->status);
  if (!ok)
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "the graph has a build error: %s",
                    deft_status_message(g->status));
  pthread_mutex_unlock(&g->mu);
  return ok;
}

void deft_graph_fail(deft_graph *g, deft_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  deft_graph_failv(g, code, fmt, ap);
  va_end(ap);
}

void deft_graph_clear_error(deft_graph *g) {
  pthread_mutex_lock(&g->mu);
  deft_status_clear(g->status);
  atomic_store(&g->failed, false);
  pthread_mutex_unlock(&g->mu);
}

void deft_graph_set_seed(deft_graph *g, int64_t seed) {
  g->has_seed = true;
  g->seed = seed;
}

bool deft_graph_seed(const deft_graph *g, int64_t *seed) {
  if (g->has_seed && seed) *seed = g->seed;
  return g->has_seed;
}

bool deft_graph_own_tensor(deft_graph *g, deft_tensor *t) {
  if (g->nowned == g->owned_cap) {
    int ncap = g->owned_cap ? g->owned_cap * 2 : 64;
    deft_tensor **n = deft_realloc(g->owned_tensors, (size_t)ncap * sizeof *n);
    if (!n) {
      deft_tensor_free(t);
      return false;
    }
    g->owned_tensors = n;
    g->owned_cap = ncap;
  }
  g->owned_tensors[g->nowned++] = t;
  return true;
}

/* ---- names ---- */

static char *lower_dup(const char *s, char *buf, size_t size) {
  size_t n = strlen(s);
  char *r = n < size ? buf : deft_malloc(n + 1);
  if (!r) return NULL;
  for (size_t i = 0; i <= n; i++) r[i] = (char)tolower((unsigned char)s[i]);
  return r;
}

static int64_t name_count(const deft_graph *g, const char *lower) {
  deft_strmap_entry *e = deft_strmap_find(&g->names_in_use, lower, strlen(lower));
  return e ? e->value.num : 0;
}

static bool set_count(deft_graph *g, const char *lower, int64_t v) {
  deft_strmap_entry *e = deft_strmap_insert(&g->names_in_use, lower, strlen(lower), NULL);
  if (!e) return false;
  e->value.num = v;
  return true;
}

/* TF's rule: the first use of a name keeps it; later uses append _i with the smallest i, counting
 * from the name's use count, that is not itself in use. Names compare case-insensitively. */
const char *deft_graph_uniquify(deft_graph *g, const char *full, bool mark) {
  char sbuf[256];
  char *key = lower_dup(full, sbuf, sizeof sbuf);
  if (!key) return NULL;
  const char *result = NULL;
  int64_t i = name_count(g, key);
  if (i == 0) {
    result = deft_arena_strdup(&g->arena, full);
    if (result && mark && !set_count(g, key, 1)) result = NULL;
  } else {
    /* "<name>_<i>": built by hand, this runs for most ops a gradient or a layer adds */
    size_t n = strlen(full);
    char kbuf[288];
    char *cand_key = n + 24 <= sizeof kbuf ? kbuf : deft_malloc(n + 24);
    if (cand_key) {
      memcpy(cand_key, key, n);
      cand_key[n] = '_';
      size_t klen;
      for (;; i++) {
        char digits[24];
        int nd = 0;
        for (uint64_t v = (uint64_t)i; nd == 0 || v; v /= 10) digits[nd++] = (char)('0' + v % 10);
        for (klen = n + 1; nd;) cand_key[klen++] = digits[--nd];
        cand_key[klen] = 0;
        if (!name_count(g, cand_key)) break;
      }
      char *r = deft_arena_alloc(&g->arena, klen + 1);
      if (r) {
        memcpy(r, full, n); /* the name as given, then the suffix */
        memcpy(r + n, cand_key + n, klen + 1 - n);
      }
      result = r;
      if (result && mark && (!set_count(g, key, i + 1) || !set_count(g, cand_key, 1)))
        result = NULL;
      if (cand_key != kbuf) deft_free(cand_key);
    }
  }
  if (key != sbuf) deft_free(key);
  return result;
}

bool deft_graph_mark_unique_name_used(deft_graph *g, const char *requested, const char *full) {
  size_t n = strlen(requested);
  if (strcmp(requested, full) != 0 && strncmp(requested, full, n) == 0 && full[n] == '_') {
    int64_t i = 0; /* the suffix uniquify appended: "_<i>" */
    for (const char *p = full + n + 1; *p >= '0' && *p <= '9' && i < INT64_MAX / 10; p++)
      i = i * 10 + (*p - '0');
    char sbuf[256];
    char *key = lower_dup(requested, sbuf, sizeof sbuf);
    if (!key)
      return false;
    bool ok = name_count(g, key) > i || set_count(g, key, i + 1);
    if (key != sbuf)
      deft_free(key);
    if (!ok)
      return false;
  }
  return deft_graph_mark_name_used(g, full);
}

bool deft_graph_mark_name_used(deft_graph *g, const char *full) {
  char sbuf[256];
  char *key = lower_dup(full, sbuf, sizeof sbuf);
  if (!key) return false;
  int64_t c = name_count(g, key);
  bool ok = set_count(g, key, c ? c : 1);
  if (key != sbuf) deft_free(key);
  return ok;
}

const char *deft_graph_scoped_name(deft_graph *g, const char *name) {
  const char *scope = deft_graph_scope(g);
  if (!*scope) return deft_arena_strdup(&g->arena, name);
  size_t a = strlen(scope), b = strlen(name);
  char *r = deft_arena_alloc(&g->arena, a + b + 2);
  if (!r) return NULL;
  memcpy(r, scope, a);
  r[a] = '/';
  memcpy(r + a + 1, name, b + 1);
  return r;
}

const char *deft_graph_unique_name(deft_graph *g, const char *name, bool mark_as_used) {
  if (!g || !deft_graph_ok(g)) return NULL;
  const char *scoped = deft_graph_scoped_name(g, name ? name : "");
  const char *full = scoped ? deft_graph_uniquify(g, scoped, mark_as_used) : NULL;
  if (!full) deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory naming '%s'", name);
  return full;
}

const char *deft_graph_scope(const deft_graph *g) {
  return g->nscopes ? g->scopes[g->nscopes - 1] : "";
}

static bool name_char(char c, bool first) {
  if (isalnum((unsigned char)c) || c == '.') return true;
  return !first && (c == '_' || c == '-' || c == '/' || c == '>');
}

bool deft_graph_valid_name(const char *name, bool scope) {
  if (!name) return false;
  if (!scope && !*name) return false;
  for (const char *p = name; *p; p++)
    if (!name_char(*p, p == name && !scope)) return false;
  return true;
}

const char *deft_graph_push_scope(deft_graph *g, const char *name) {
  if (!name) name = "";
  if (*name && !deft_graph_valid_name(name, g->nscopes > 0 && *g->scopes[g->nscopes - 1])) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "'%s' is not a valid scope name (TensorFlow's rule: letters, digits and "
                    "\"_.-/>\", not starting with \"_-/>\" at the top level)", name);
    return NULL;
  }
  if (g->nscopes == g->scopes_cap) {
    int ncap = g->scopes_cap ? g->scopes_cap * 2 : 16;
    char **n = deft_realloc(g->scopes, (size_t)ncap * sizeof *n);
    if (!n) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory opening name scope '%s'", name);
      return NULL;
    }
    g->scopes = n;
    g->scopes_cap = ncap;
  }
  const char *full;
  size_t len = strlen(name);
  if (len == 0) {
    full = deft_arena_strdup(&g->arena, ""); /* name_scope("") resets to the top */
  } else if (name[len - 1] == '/') {
    full = deft_arena_strndup(&g->arena, name, len - 1); /* re-enter as-is */
  } else {
    const char *scoped = deft_graph_scoped_name(g, name);
    full = scoped ? deft_graph_uniquify(g, scoped, true) : NULL;
  }
  if (!full) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory opening name scope '%s'", name);
    return NULL;
  }
  g->scopes[g->nscopes++] = (char *)full;
  return full;
}

void deft_graph_pop_scope(deft_graph *g) {
  if (g->nscopes > 0) {
    g->nscopes--;
    return;
  }
  deft_graph_fail(g, DEFT_FAILED_PRECONDITION,
                  "deft_graph_pop_scope: no name scope is open (unbalanced push/pop)");
}

const char *deft_graph_variable_scope(const deft_graph *g) {
  return g->nvscopes ? g->vscopes[g->nvscopes - 1] : "";
}

const char *deft_graph_push_variable_scope(deft_graph *g, const char *name,
                                           const char *default_name) {
  if (!deft_graph_ok(g)) return NULL;
  if (g->nvscopes == g->vscopes_cap) {
    int ncap = g->vscopes_cap ? g->vscopes_cap * 2 : 16;
    char **n = deft_realloc(g->vscopes, (size_t)ncap * sizeof *n);
    if (!n) goto oom;
    g->vscopes = n;
    g->vscopes_cap = ncap;
  }
  const char *cur = deft_graph_variable_scope(g);
  const char *base = name ? name : default_name;
  if (!base || !*base) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "variable scope needs a name or a default name");
    return NULL;
  }
  size_t need = strlen(cur) + strlen(base) + 32;
  char *full = deft_arena_alloc(&g->arena, need);
  if (!full) goto oom;
  if (name) {
    snprintf(full, need, "%s%s%s", cur, *cur ? "/" : "", name);
  } else {
    for (int i = 0;; i++) {
      if (i == 0) snprintf(full, need, "%s%s%s", cur, *cur ? "/" : "", base);
      else snprintf(full, need, "%s%s%s_%d", cur, *cur ? "/" : "", base, i);
      if (!deft_strmap_find(&g->vscope_names, full, strlen(full))) break;
    }
  }
  if (!deft_strmap_insert(&g->vscope_names, full, strlen(full), NULL)) goto oom;
  /* The name scope takes the last component, uniquified as name scopes are. */
  const char *last = strrchr(full, '/');
  if (!deft_graph_push_scope(g, last ? last + 1 : full)) return NULL;
  g->vscopes[g->nvscopes++] = full;
  return full;
oom:
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory opening variable scope");
  return NULL;
}

void deft_graph_pop_variable_scope(deft_graph *g) {
  if (g->nvscopes > 0) {
    g->nvscopes--;
    deft_graph_pop_scope(g);
    return;
  }
  deft_graph_fail(g, DEFT_FAILED_PRECONDITION,
                  "deft_graph_pop_variable_scope: no variable scope is open (unbalanced "
                  "push/pop)");
}

void deft_graph_push_control_deps(deft_graph *g, deft_op *const *ops, int n) {
  if (g->nctrl_scopes == g->ctrl_scopes_cap) {
    int ncap = g->ctrl_scopes_cap ? g->ctrl_scopes_cap * 2 : 8;
    deft_ctrl_scope *ns = deft_realloc(g->ctrl_scopes, (size_t)ncap * sizeof *ns);
    if (!ns) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in control dependencies");
      return;
    }
    g->ctrl_scopes = ns;
    g->ctrl_scopes_cap = ncap;
  }
  deft_ctrl_scope *s = &g->ctrl_scopes[g->nctrl_scopes];
  s->start_id = g->nops;
  s->n = 0;
  s->ops = deft_malloc(sizeof(deft_op *) * (size_t)(n > 0 ? n : 1));
  if (!s->ops) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in control dependencies");
    return;
  }
  for (int i = 0; i < n; i++)
    if (ops[i]) s->ops[s->n++] = ops[i];
  g->nctrl_scopes++;
}

void deft_graph_pop_control_deps(deft_graph *g) {
  if (g->nctrl_scopes == 0) {
    deft_graph_fail(g, DEFT_FAILED_PRECONDITION,
                    "deft_graph_pop_control_deps: no control-dependency scope is open "
                    "(unbalanced push/pop)");
    return;
  }
  g->nctrl_scopes--;
  deft_free(g->ctrl_scopes[g->nctrl_scopes].ops);
}

/* ---- lookups ---- */

deft_op *deft_graph_op_by_name(const deft_graph *g, const char *name) {
  deft_strmap_entry *e = deft_strmap_find(&g->by_name, name, strlen(name));
  return e ? e->value.ptr : NULL;
}

deft_output deft_graph_tensor_by_name(const deft_graph *g, const char *name,
                                      deft_status *status) {
  deft_output none = {NULL, 0};
  const char *colon = strrchr(name, ':');
  size_t oplen = colon ? (size_t)(colon - name) : strlen(name);
  long index = 0;
  if (colon) {
    char *end;
    if (!colon[1] || !isdigit((unsigned char)colon[1])) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "malformed tensor name '%s': expected \"op:index\"", name);
      return none;
    }
    index = strtol(colon + 1, &end, 10);
    if (*end || index > 1000000) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "malformed tensor name '%s': expected \"op:index\"", name);
      return none;
    }
  }
  deft_strmap_entry *e = deft_strmap_find(&g->by_name, name, oplen);
  if (!e) {
    deft_status_set(status, DEFT_NOT_FOUND, "no op named '%.*s' in the graph (looking up '%s')",
                    (int)oplen, name, name);
    return none;
  }
  deft_op *op = e->value.ptr;
  if (index >= op->noutputs) {
    deft_status_set(status, DEFT_OUT_OF_RANGE,
                    "tensor '%s': op '%s' (%s) has %d output%s, so index %ld is out of range",
                    name, op->name, op->type, op->noutputs, op->noutputs == 1 ? "" : "s", index);
    return none;
  }
  deft_output o = {op, (int)index};
  return o;
}

int deft_graph_num_ops(const deft_graph *g) { return g->nops; }
deft_op *deft_graph_op_at(const deft_graph *g, int i) {
  return (i >= 0 && i < g->nops) ? g->ops[i] : NULL;
}

/* ---- op accessors ---- */

const char *deft_op_name(const deft_op *op) { return op->name; }
const char *deft_op_type(const deft_op *op) { return op->type; }
const char *deft_op_device(const deft_op *op) { return op->device ? op->device : ""; }
deft_graph *deft_op_graph(const deft_op *op) { return op->graph; }
int deft_op_num_inputs(const deft_op *op) { return op->ninputs; }
deft_output deft_op_input(const deft_op *op, int i) { return op->inputs[i]; }
int deft_op_num_control_inputs(const deft_op *op) { return op->nctrl; }
deft_op *deft_op_control_input(const deft_op *op, int i) { return op->ctrl[i]; }
int deft_op_num_outputs(const deft_op *op) { return op->noutputs; }
deft_output deft_op_output(deft_op *op, int i) {
  deft_output o = {op, i};
  return o;
}
bool deft_op_has_kernel(const deft_op *op) { return op->reg && op->reg->def->kernel; }

deft_dtype deft_output_dtype(deft_output o) {
  if (!o.op || o.index < 0 || o.index >= o.op->noutputs) return DEFT_INVALID_DTYPE;
  return (deft_dtype)o.op->out_types[o.index];
}

deft_shape deft_output_shape(deft_output o) {
  if (!o.op || o.index < 0 || o.index >= o.op->noutputs) return deft_shape_unknown();
  return o.op->out_shapes[o.index];
}

char *deft_output_format(deft_output o, char *buf, size_t size) {
  if (!o.op) snprintf(buf, size, "<invalid>");
  else if (o.index < 0) snprintf(buf, size, "%s", o.op->name);
  else snprintf(buf, size, "%s:%d", o.op->name, o.index);
  return buf;
}

int deft_op_consumers(const deft_op *op, deft_op ***out) {
  deft_graph *g = op->graph;
  int n = 0;
  deft_op **r = deft_malloc(sizeof *r * (size_t)(g->nops ? g->nops : 1));
  if (!r) return -1;
  for (int i = 0; i < g->nops; i++) {
    deft_op *c = g->ops[i];
    for (int j = 0; j < c->ninputs; j++)
      if (c->inputs[j].op == op) {
        r[n++] = c;
        break;
      }
  }
  *out = r;
  return n;
}

bool deft_op_patch_back_edge(deft_op *merge, int k, deft_output src, deft_status *st) {
  if (k < 0 || k >= merge->ninputs || !src.op || src.op->graph != merge->graph ||
      src.index < 0 || src.index >= src.op->noutputs ||
      (strcmp(src.op->type, "NextIteration") && strcmp(src.op->type, "RefNextIteration"))) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "%s '%s': input %d cannot be a loop back edge from "
                    "'%s' (it must be a NextIteration's output)", merge->type, merge->name, k,
                    src.op ? src.op->name : "(none)");
    return false;
  }
  int want = deft_output_type(merge->inputs[k]), got = src.op->out_types[src.index];
  if (want != got) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "%s '%s': input %d has dtype %s, but the back edge "
                    "from %s '%s' has dtype %s", merge->type, merge->name, k,
                    deft_dtype_name((deft_dtype)want), src.op->type, src.op->name,
                    deft_dtype_name((deft_dtype)got));
    return false;
  }
  pthread_mutex_lock(&merge->graph->mu);
  merge->inputs[k] = src;
  pthread_mutex_unlock(&merge->graph->mu);
  return true;
}

int deft_output_consumers(deft_output o, deft_op **ops, int *input_index, int max) {
  if (!o.op) return 0;
  const deft_graph *g = o.op->graph;
  int n = 0;
  for (int i = 0; i < g->nops; i++) {
    deft_op *c = g->ops[i];
    for (int j = 0; j < c->ninputs; j++)
      if (c->inputs[j].op == o.op && c->inputs[j].index == o.index) {
        if (n < max) {
          if (ops) ops[n] = c;
          if (input_index) input_index[n] = j;
        }
        n++;
      }
  }
  return n;
}

int deft_op_control_outputs(const deft_op *op, deft_op **out, int max) {
  const deft_graph *g = op->graph;
  int n = 0;
  for (int i = 0; i < g->nops; i++) {
    deft_op *c = g->ops[i];
    for (int j = 0; j < c->nctrl; j++)
      if (c->ctrl[j] == op) {
        if (n < max && out) out[n] = c;
        n++;
        break;
      }
  }
  return n;
}

int deft_op_arg_length(const deft_op *op, bool output, const char *arg_name) {
  const deft_op_reg *r = op->reg;
  if (!r || !arg_name) return -1;
  const deft_arg_def *args = output ? r->outputs : r->inputs;
  int n = output ? r->noutputs : r->ninputs;
  for (int i = 0; i < n; i++) {
    if (strcmp(args[i].name, arg_name)) continue;
    if (args[i].number_attr) {
      int64_t v;
      return deft_op_attr_int(op, args[i].number_attr, &v) ? (int)v : -1;
    }
    if (args[i].type_list_attr) {
      const deft_dtype *t;
      int k;
      return deft_op_attr_type_list(op, args[i].type_list_attr, &t, &k) ? k : -1;
    }
    return 1;
  }
  return -1;
}

bool deft_output_set_shape(deft_output o, deft_shape shape, deft_status *status) {
  deft_status_clear(status);
  deft_shape *cur = &o.op->out_shapes[o.index];
  if (shape.rank < 0) return true;
  bool ok = cur->rank < 0 || cur->rank == shape.rank;
  for (int i = 0; ok && cur->rank >= 0 && i < shape.rank; i++)
    ok = cur->dims[i] < 0 || shape.dims[i] < 0 || cur->dims[i] == shape.dims[i];
  if (!ok) {
    char a[128], b[128];
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "tensor '%s:%d' (%s) has shape %s, incompatible with %s", o.op->name,
                    o.index, o.op->type, deft_shape_format(*cur, a, sizeof a),
                    deft_shape_format(shape, b, sizeof b));
    return false;
  }
  if (cur->rank < 0) {
    *cur = shape;
    return true;
  }
  for (int i = 0; i < shape.rank; i++)
    if (cur->dims[i] < 0) cur->dims[i] = shape.dims[i];
  return true;
}
