/* SPDX-License-Identifier: Apache-2.0 */
/* graph/attrs.c - attr values: copying into a graph, lookup, typed getters, equality and text
 * formatting (TF's text-format spelling, used by `deft dump`). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "base/alloc.h"
#include "base/tensor_internal.h"

static bool copy_str(deft_graph *g, deft_str *dst, const deft_str *src) {
  dst->p = deft_arena_strndup(&g->arena, src->p ? src->p : "", src->len);
  dst->len = src->len;
  return dst->p != NULL;
}

static bool share_tensor(deft_graph *g, deft_tensor **dst, const deft_tensor *src) {
  *dst = NULL;
  if (!src) return true;
  deft_tensor *t = deft_tensor_share(src);
  if (!t || !deft_graph_own_tensor(g, t)) return false;
  *dst = t;
  return true;
}

bool deft_attr_value_copy(deft_graph *g, deft_attr_value *dst, const deft_attr_value *src) {
  *dst = *src;
  int n = src->u.list.n;
  switch (src->kind) {
    case DEFT_ATTR_STRING:
    case DEFT_ATTR_FUNC:
      return copy_str(g, &dst->u.s, &src->u.s);
    case DEFT_ATTR_TENSOR:
      return share_tensor(g, &dst->u.tensor, src->u.tensor);
    case DEFT_ATTR_LIST_STRING:
    case DEFT_ATTR_LIST_FUNC:
      dst->u.list.v.s = deft_arena_alloc(&g->arena, sizeof(deft_str) * (size_t)n);
      if (!dst->u.list.v.s) return false;
      for (int i = 0; i < n; i++)
        if (!copy_str(g, &dst->u.list.v.s[i], &src->u.list.v.s[i])) return false;
      return true;
    case DEFT_ATTR_LIST_INT:
      dst->u.list.v.i = deft_arena_memdup(&g->arena, src->u.list.v.i, sizeof(int64_t) * (size_t)n);
      return dst->u.list.v.i != NULL;
    case DEFT_ATTR_LIST_FLOAT:
      dst->u.list.v.f = deft_arena_memdup(&g->arena, src->u.list.v.f, sizeof(float) * (size_t)n);
      return dst->u.list.v.f != NULL;
    case DEFT_ATTR_LIST_BOOL:
      dst->u.list.v.b = deft_arena_memdup(&g->arena, src->u.list.v.b, sizeof(bool) * (size_t)n);
      return dst->u.list.v.b != NULL;
    case DEFT_ATTR_LIST_TYPE:
      dst->u.list.v.type =
          deft_arena_memdup(&g->arena, src->u.list.v.type, sizeof(int) * (size_t)n);
      return dst->u.list.v.type != NULL;
    case DEFT_ATTR_LIST_SHAPE:
      dst->u.list.v.shape =
          deft_arena_memdup(&g->arena, src->u.list.v.shape, sizeof(deft_shape) * (size_t)n);
      return dst->u.list.v.shape != NULL;
    case DEFT_ATTR_LIST_TENSOR:
      dst->u.list.v.tensor = deft_arena_alloc(&g->arena, sizeof(deft_tensor *) * (size_t)n);
      if (!dst->u.list.v.tensor) return false;
      for (int i = 0; i < n; i++)
        if (!share_tensor(g, &dst->u.list.v.tensor[i], src->u.list.v.tensor[i])) return false;
      return true;
    default:
      return true;
  }
}

const deft_attr *deft_op_find_attr(const deft_op *op, const char *name) {
  for (int i = 0; i < op->nattrs; i++)
    if (strcmp(op->attrs[i].name, name) == 0) return &op->attrs[i];
  return NULL;
}

static const deft_attr_value *find(const deft_op *op, const char *name, deft_attr_kind kind) {
  const deft_attr *a = deft_op_find_attr(op, name);
  return (a && a->v.kind == kind) ? &a->v : NULL;
}

bool deft_op_attr_int(const deft_op *op, const char *name, int64_t *out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_INT);
  if (v && out) *out = v->u.i;
  return v != NULL;
}
bool deft_op_attr_float(const deft_op *op, const char *name, float *out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_FLOAT);
  if (v && out) *out = v->u.f;
  return v != NULL;
}
bool deft_op_attr_bool(const deft_op *op, const char *name, bool *out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_BOOL);
  if (v && out) *out = v->u.b;
  return v != NULL;
}
bool deft_op_attr_type(const deft_op *op, const char *name, deft_dtype *out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_TYPE);
  if (v && out) *out = (deft_dtype)v->u.type;
  return v != NULL;
}
bool deft_op_attr_shape(const deft_op *op, const char *name, deft_shape *out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_SHAPE);
  if (v && out) *out = v->u.shape;
  return v != NULL;
}
bool deft_op_attr_string(const deft_op *op, const char *name, const char **out, size_t *len) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_STRING);
  if (v) {
    if (out) *out = v->u.s.p;
    if (len) *len = v->u.s.len;
  }
  return v != NULL;
}
bool deft_op_attr_tensor(const deft_op *op, const char *name, const deft_tensor **out) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_TENSOR);
  if (v && out) *out = v->u.tensor;
  return v != NULL;
}
bool deft_op_attr_int_list(const deft_op *op, const char *name, const int64_t **out, int *n) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_LIST_INT);
  if (v) {
    if (out) *out = v->u.list.v.i;
    if (n) *n = v->u.list.n;
  }
  return v != NULL;
}
bool deft_op_attr_type_list(const deft_op *op, const char *name, const deft_dtype **out, int *n) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_LIST_TYPE);
  if (v) {
    _Static_assert(sizeof(deft_dtype) == sizeof(int), "deft_dtype must be int-sized");
    if (out) *out = (const deft_dtype *)v->u.list.v.type;
    if (n) *n = v->u.list.n;
  }
  return v != NULL;
}
int deft_op_num_attrs(const deft_op *op) { return op->nattrs; }
const char *deft_op_attr_name(const deft_op *op, int i) { return op->attrs[i].name; }

bool deft_attr_value_equal(const deft_attr_value *a, const deft_attr_value *b) {
  if (a->kind != b->kind) return false;
  int n = a->u.list.n;
  switch (a->kind) {
    case DEFT_ATTR_STRING:
    case DEFT_ATTR_FUNC:
      return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case DEFT_ATTR_INT: return a->u.i == b->u.i;
    case DEFT_ATTR_FLOAT: return a->u.f == b->u.f;
    case DEFT_ATTR_BOOL: return a->u.b == b->u.b;
    case DEFT_ATTR_TYPE: return a->u.type == b->u.type;
    case DEFT_ATTR_SHAPE: {
      if (a->u.shape.rank != b->u.shape.rank) return false;
      for (int i = 0; i < a->u.shape.rank; i++)
        if (a->u.shape.dims[i] != b->u.shape.dims[i]) return false;
      return true;
    }
    case DEFT_ATTR_TENSOR: return a->u.tensor == b->u.tensor;
    default:
      if (n != b->u.list.n) return false;
      if (n == 0) return true;
      switch (a->kind) {
        case DEFT_ATTR_LIST_INT: return !memcmp(a->u.list.v.i, b->u.list.v.i, 8 * (size_t)n);
        case DEFT_ATTR_LIST_TYPE:
          return !memcmp(a->u.list.v.type, b->u.list.v.type, sizeof(int) * (size_t)n);
        case DEFT_ATTR_LIST_FLOAT:
          for (int i = 0; i < n; i++)
            if (a->u.list.v.f[i] != b->u.list.v.f[i]) return false;
          return true;
        case DEFT_ATTR_LIST_BOOL:
          for (int i = 0; i < n; i++)
            if (a->u.list.v.b[i] != b->u.list.v.b[i]) return false;
          return true;
        case DEFT_ATTR_LIST_STRING:
          for (int i = 0; i < n; i++)
            if (a->u.list.v.s[i].len != b->u.list.v.s[i].len ||
                memcmp(a->u.list.v.s[i].p, b->u.list.v.s[i].p, a->u.list.v.s[i].len))
              return false;
          return true;
        default: return false;
      }
  }
}

/* ---- text formatting ---- */

typedef struct {
  char *buf;
  size_t size, pos;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) {
  if (s->pos >= s->size) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->buf + s->pos, s->size - s->pos, fmt, ap);
  va_end(ap);
  if (n > 0) s->pos += (size_t)n;
  if (s->pos > s->size) s->pos = s->size;
}

static void put_escaped(sbuf *s, const char *p, size_t len) {
  put(s, "\"");
  for (size_t i = 0; i < len && i < 200; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') put(s, "\\%c", c);
    else if (c >= 32 && c < 127) put(s, "%c", c);
    else put(s, "\\%03o", c);
  }
  if (len > 200) put(s, "...");
  put(s, "\"");
}

static void put_type(sbuf *s, int t) {
  const char *n = deft_tf_type_name(t);
  if (n) put(s, "%s", n);
  else put(s, "%d", t);
}

static void put_shape(sbuf *s, const deft_shape *sh) {
  if (sh->rank < 0) {
    put(s, "{ unknown_rank: true }");
    return;
  }
  put(s, "{");
  for (int i = 0; i < sh->rank; i++) put(s, " dim { size: %" PRId64 " }", sh->dims[i]);
  put(s, " }");
}

static void put_tensor(sbuf *s, const deft_tensor *t) {
  if (!t) {
    put(s, "{ }");
    return;
  }
  deft_shape sh = deft_tensor_shape(t);
  put(s, "{ dtype: ");
  put_type(s, t->dtype);
  put(s, " tensor_shape ");
  put_shape(s, &sh);
  put(s, " values: [");
  int64_t n = t->n < 10 ? t->n : 10;
  for (int64_t i = 0; i < n; i++) {
    if (t->dtype == DEFT_STRING) {
      size_t len;
      const char *p = deft_tensor_string(t, i, &len);
      put(s, i ? ", " : "");
      put_escaped(s, p, len);
    } else {
      put(s, "%s%.9g", i ? ", " : "", deft_tensor_get_double(t, i));
    }
  }
  if (t->n > n) put(s, ", ... (%" PRId64 " values)", t->n);
  put(s, "] }");
}

void deft_attr_value_format(const deft_attr_value *v, char *buf, size_t size) {
  sbuf s = {buf, size, 0};
  if (size) buf[0] = 0;
  int n = v->u.list.n;
  switch (v->kind) {
    case DEFT_ATTR_STRING: put(&s, "s: "); put_escaped(&s, v->u.s.p, v->u.s.len); break;
    case DEFT_ATTR_FUNC: put(&s, "func { name: \"%s\" }", v->u.s.p); break;
    case DEFT_ATTR_INT: put(&s, "i: %" PRId64, v->u.i); break;
    case DEFT_ATTR_FLOAT: put(&s, "f: %.9g", v->u.f); break;
    case DEFT_ATTR_BOOL: put(&s, "b: %s", v->u.b ? "true" : "false"); break;
    case DEFT_ATTR_TYPE: put(&s, "type: "); put_type(&s, v->u.type); break;
    case DEFT_ATTR_SHAPE: put(&s, "shape "); put_shape(&s, &v->u.shape); break;
    case DEFT_ATTR_TENSOR: put(&s, "tensor "); put_tensor(&s, v->u.tensor); break;
    case DEFT_ATTR_NONE: put(&s, "<none>"); break;
    default:
      put(&s, "list { ");
      for (int i = 0; i < n; i++) {
        switch (v->kind) {
          case DEFT_ATTR_LIST_STRING:
            put(&s, "s: ");
            put_escaped(&s, v->u.list.v.s[i].p, v->u.list.v.s[i].len);
            break;
          case DEFT_ATTR_LIST_FUNC: put(&s, "func { name: \"%s\" }", v->u.list.v.s[i].p); break;
          case DEFT_ATTR_LIST_INT: put(&s, "i: %" PRId64, v->u.list.v.i[i]); break;
          case DEFT_ATTR_LIST_FLOAT: put(&s, "f: %.9g", v->u.list.v.f[i]); break;
          case DEFT_ATTR_LIST_BOOL: put(&s, "b: %s", v->u.list.v.b[i] ? "true" : "false"); break;
          case DEFT_ATTR_LIST_TYPE: put(&s, "type: "); put_type(&s, v->u.list.v.type[i]); break;
          case DEFT_ATTR_LIST_SHAPE: put(&s, "shape "); put_shape(&s, &v->u.list.v.shape[i]); break;
          case DEFT_ATTR_LIST_TENSOR:
            put(&s, "tensor ");
            put_tensor(&s, v->u.list.v.tensor[i]);
            break;
          default: break;
        }
        put(&s, " ");
      }
      put(&s, "}");
  }
}

bool deft_op_attr_format(const deft_op *op, const char *name, char *buf, size_t size) {
  const deft_attr *a = deft_op_find_attr(op, name);
  if (!a) return false;
  deft_attr_value_format(&a->v, buf, size);
  return true;
}

/* ---- attr metadata and the remaining list getters (for TensorFlow's C API) ---- */

bool deft_op_attr_metadata(const deft_op *op, const char *name, int *type, bool *is_list,
                           int *list_size) {
  const deft_attr *a = deft_op_find_attr(op, name);
  if (!a) return false;
  /* TF_AttrType numbering: string 0, int 1, float 2, bool 3, type 4, shape 5, tensor 6, func 8 */
  int t = 0;
  bool list = a->v.kind >= DEFT_ATTR_LIST_STRING;
  switch (a->v.kind) {
    case DEFT_ATTR_STRING: case DEFT_ATTR_LIST_STRING: t = 0; break;
    case DEFT_ATTR_INT: case DEFT_ATTR_LIST_INT: t = 1; break;
    case DEFT_ATTR_FLOAT: case DEFT_ATTR_LIST_FLOAT: t = 2; break;
    case DEFT_ATTR_BOOL: case DEFT_ATTR_LIST_BOOL: t = 3; break;
    case DEFT_ATTR_TYPE: case DEFT_ATTR_LIST_TYPE: t = 4; break;
    case DEFT_ATTR_SHAPE: case DEFT_ATTR_LIST_SHAPE: t = 5; break;
    case DEFT_ATTR_TENSOR: case DEFT_ATTR_LIST_TENSOR: t = 6; break;
    case DEFT_ATTR_FUNC: case DEFT_ATTR_LIST_FUNC: t = 8; break;
    default: return false;
  }
  if (type) *type = t;
  if (is_list) *is_list = list;
  if (list_size) *list_size = list ? a->v.u.list.n : -1;
  return true;
}

static const deft_attr_value *list_at(const deft_op *op, const char *name, deft_attr_kind kind,
                                      int i) {
  const deft_attr_value *v = find(op, name, kind);
  return v && i >= 0 && i < v->u.list.n ? v : NULL;
}

bool deft_op_attr_float_list(const deft_op *op, const char *name, const float **out, int *n) {
  const deft_attr_value *v = find(op, name, DEFT_ATTR_LIST_FLOAT);
  if (v) {
    if (out) *out = v->u.list.v.f;
    if (n) *n = v->u.list.n;
  }
  return v != NULL;
}

bool deft_op_attr_bool_list_at(const deft_op *op, const char *name, int i, bool *out) {
  const deft_attr_value *v = list_at(op, name, DEFT_ATTR_LIST_BOOL, i);
  if (v && out) *out = v->u.list.v.b[i];
  return v != NULL;
}

bool deft_op_attr_shape_list_at(const deft_op *op, const char *name, int i, deft_shape *out) {
  const deft_attr_value *v = list_at(op, name, DEFT_ATTR_LIST_SHAPE, i);
  if (v && out) *out = v->u.list.v.shape[i];
  return v != NULL;
}

bool deft_op_attr_string_list_at(const deft_op *op, const char *name, int i, const char **out,
                                 size_t *len) {
  const deft_attr_value *v = list_at(op, name, DEFT_ATTR_LIST_STRING, i);
  if (v) {
    if (out) *out = v->u.list.v.s[i].p;
    if (len) *len = v->u.list.v.s[i].len;
  }
  return v != NULL;
}

bool deft_op_attr_tensor_list_at(const deft_op *op, const char *name, int i,
                                 const deft_tensor **out) {
  const deft_attr_value *v = list_at(op, name, DEFT_ATTR_LIST_TENSOR, i);
  if (v && out) *out = v->u.list.v.tensor[i];
  return v != NULL;
}
