/* SPDX-License-Identifier: Apache-2.0 */
/* ops/registry.c - the one op registry. It lists the family tables explicitly (no static
 * initializers), parses each op's TF-style signature strings once, and answers lookups by type
 * name. A malformed signature is a programming error in deft itself: it is reported on stderr
 * and the op is left out, so a registry test catches it. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtypes.h"
#include "ops/op_def.h"
/* The registry lives for the whole process and is built once, so it allocates with plain
 * malloc: the allocation-failure test hook must not be able to leave it half built. */

static const deft_op_family *const families[] = {
    &deft_ops_array, &deft_ops_math,         &deft_ops_nn, &deft_ops_state,
    &deft_ops_random, &deft_ops_control_flow, &deft_ops_io, &deft_ops_training,
    &deft_ops_shape, &deft_ops_summary,
    &deft_ops_slice,
    &deft_ops_transpose,
    &deft_ops_gather,
    &deft_ops_math_more,
    &deft_ops_array_more,
    &deft_ops_batch_matmul,
    &deft_ops_nn_more,
    &deft_ops_search,
    &deft_ops_sequence,
    &deft_ops_multinomial,
    &deft_ops_sparse_grad,
    &deft_ops_quantize,
    &deft_ops_pool,
    &deft_ops_fused_bn,
    &deft_ops_pad,
    &deft_ops_space,
    &deft_ops_conv,
    &deft_ops_tensor_array,
    &deft_ops_collective,
    &deft_ops_resource_var,
    &deft_ops_parse_example,
    &deft_ops_string,
};

static deft_op_reg *regs;
static int nregs;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- TF DataType names (base/dtypes.c's table) ---- */

const char *deft_tf_type_name(int type) {
  const deft_dtype_info *d = deft_dtype_info_of(type);
  return d ? d->tf_name : NULL;
}

int deft_tf_type_from_name(const char *name) {
  const deft_dtype_info *d = deft_dtype_info_by_name(name);
  return d ? d->num : 0;
}

/* TF's numbertype (real_only: realnumbertype) set, from the table; n numbers into out. */
static int number_types(bool real_only, int *out) {
  int n = 0;
  for (int i = 0; i < deft_dtype_info_count(); i++) {
    const deft_dtype_info *d = deft_dtype_info_at(i);
    if (real_only ? d->real_number : d->number) out[n++] = d->num;
  }
  return n;
}

/* ---- a tiny tokenizer over signature text ---- */

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

/* Splits text at top-level commas (outside {}, [], () and quotes). Returns count; items point
 * into the modified copy. */
static int split_top(char *text, char **items, int max) {
  int n = 0, depth = 0;
  char quote = 0;
  char *start = text;
  for (char *p = text;; p++) {
    char c = *p;
    if (quote) {
      if (c == quote) quote = 0;
      else if (!c) break;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    else if (c == '{' || c == '[' || c == '(') depth++;
    else if (c == '}' || c == ']' || c == ')') depth--;
    else if ((c == ',' && depth == 0) || c == 0) {
      *p = 0;
      char *t = trim(start);
      if (*t && n < max) items[n++] = t;
      start = p + 1;
      if (!c) break;
    }
  }
  return n;
}

static bool fail_sig(const char *type, const char *what) {
  fprintf(stderr, "deft: bad signature for op %s: %s\n", type, what);
  return false;
}

static bool parse_default(deft_attr_def *a, char *text, const char *optype) {
  deft_attr_value *v = &a->default_value;
  v->kind = a->kind;
  size_t len = strlen(text);
  switch (a->kind) {
    case DEFT_ATTR_BOOL:
      if (!strcmp(text, "true")) v->u.b = true;
      else if (!strcmp(text, "false")) v->u.b = false;
      else return fail_sig(optype, text);
      return true;
    case DEFT_ATTR_INT: v->u.i = strtoll(text, NULL, 10); return true;
    case DEFT_ATTR_FLOAT: v->u.f = strtof(text, NULL); return true;
    case DEFT_ATTR_TYPE:
      v->u.type = deft_tf_type_from_name(text);
      return v->u.type ? true : fail_sig(optype, text);
    case DEFT_ATTR_STRING:
      if (len < 2 || (text[0] != '"' && text[0] != '\'')) return fail_sig(optype, text);
      v->u.s.p = strndup(text + 1, len - 2);
      v->u.s.len = len - 2;
      return v->u.s.p != NULL;
    case DEFT_ATTR_SHAPE:
      if (!strcmp(text, "unknown")) v->u.shape = deft_shape_unknown();
      else return fail_sig(optype, text);
      return true;
    default:
      if (a->kind >= DEFT_ATTR_LIST_STRING && !strcmp(text, "[]")) {
        v->u.list.n = 0;
        return true;
      }
      if (a->kind == DEFT_ATTR_LIST_INT && len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        /* "[1, 1, 1, 1]" (Conv2D's dilations) */
        int n = 1;
        for (size_t i = 0; i < len; i++) n += text[i] == ',';
        int64_t *iv = malloc(sizeof(int64_t) * (size_t)n);
        if (!iv) return false;
        const char *p = text + 1;
        for (int i = 0; i < n; i++) {
          char *end;
          iv[i] = strtoll(p, &end, 10);
          while (*end == ' ') end++;
          if (end == p || (*end != ',' && *end != ']')) {
            free(iv);
            return fail_sig(optype, text);
          }
          p = end + 1;
        }
        v->u.list.n = n;
        v->u.list.v.i = iv;
        return true;
      }
      return fail_sig(optype, text);
  }
}

static bool parse_kind(deft_attr_def *a, char *k, const char *optype) {
  static const struct {
    const char *s;
    deft_attr_kind kind;
  } kinds[] = {
      {"type", DEFT_ATTR_TYPE},           {"int", DEFT_ATTR_INT},
      {"float", DEFT_ATTR_FLOAT},         {"bool", DEFT_ATTR_BOOL},
      {"string", DEFT_ATTR_STRING},       {"shape", DEFT_ATTR_SHAPE},
      {"tensor", DEFT_ATTR_TENSOR},       {"func", DEFT_ATTR_FUNC},
      {"list(type)", DEFT_ATTR_LIST_TYPE}, {"list(int)", DEFT_ATTR_LIST_INT},
      {"list(float)", DEFT_ATTR_LIST_FLOAT}, {"list(bool)", DEFT_ATTR_LIST_BOOL},
      {"list(string)", DEFT_ATTR_LIST_STRING}, {"list(shape)", DEFT_ATTR_LIST_SHAPE},
      {"list(tensor)", DEFT_ATTR_LIST_TENSOR}, {"list(func)", DEFT_ATTR_LIST_FUNC},
  };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (!strcmp(k, kinds[i].s)) {
      a->kind = kinds[i].kind;
      a->type_str = kinds[i].s;
      return true;
    }
  int set[64], nset = 0;
  bool is_set = !strcmp(k, "numbertype") || !strcmp(k, "realnumbertype");
  if (is_set) nset = number_types(!strcmp(k, "realnumbertype"), set);
  if (is_set) {
    a->kind = DEFT_ATTR_TYPE;
    a->type_str = "type";
    a->allowed_types = malloc(sizeof(int) * (size_t)nset);
    if (!a->allowed_types) return false;
    memcpy(a->allowed_types, set, sizeof(int) * (size_t)nset);
    a->nallowed_types = nset;
    return true;
  }
  size_t len = strlen(k);
  if (len >= 2 && k[0] == '{' && k[len - 1] == '}') {
    k[len - 1] = 0;
    char *items[64];
    int n = split_top(k + 1, items, 64);
    bool strings = n > 0 && (items[0][0] == '\'' || items[0][0] == '"');
    if (strings) {
      a->kind = DEFT_ATTR_STRING;
      a->type_str = "string";
      a->allowed_strings = calloc(n > 0 ? (size_t)n : 1, sizeof(char *));
      if (!a->allowed_strings) return false;
      for (int i = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        a->allowed_strings[i] = strndup(items[i] + 1, l >= 2 ? l - 2 : 0);
      }
      a->nallowed_strings = n;
    } else {
      a->kind = DEFT_ATTR_TYPE;
      a->type_str = "type";
      a->allowed_types = calloc(n > 0 ? (size_t)n : 1, sizeof(int));
      if (!a->allowed_types) return false;
      for (int i = 0; i < n; i++) {
        int t = deft_tf_type_from_name(items[i]);
        if (!t) return fail_sig(optype, items[i]);
        a->allowed_types[a->nallowed_types++] = t;
      }
    }
    return true;
  }
  return fail_sig(optype, k);
}

static bool parse_attrs(deft_op_reg *r, const char *text) {
  char *copy = strdup(text ? text : "");
  if (!copy) return false;
  char *items[64];
  int n = split_top(copy, items, 64);
  r->attrs = calloc((size_t)(n ? n : 1), sizeof *r->attrs);
  bool ok = r->attrs != NULL;
  for (int i = 0; ok && i < n; i++) {
    deft_attr_def *a = &r->attrs[i];
    char *colon = strchr(items[i], ':');
    if (!colon) {
      ok = fail_sig(r->def->type, items[i]);
      break;
    }
    *colon = 0;
    a->name = strdup(trim(items[i]));
    char *rest = colon + 1;
    char *def = NULL;
    /* find a top-level '=' that is not part of '>=' */
    int depth = 0;
    char quote = 0;
    for (char *p = rest; *p; p++) {
      if (quote) {
        if (*p == quote) quote = 0;
        continue;
      }
      if (*p == '\'' || *p == '"') quote = *p;
      else if (*p == '{' || *p == '[' || *p == '(') depth++;
      else if (*p == '}' || *p == ']' || *p == ')') depth--;
      else if (*p == '=' && depth == 0 && (p == rest || p[-1] != '>')) {
        *p = 0;
        def = trim(p + 1);
        break;
      }
    }
    char *ge = strstr(rest, ">=");
    if (ge) {
      *ge = 0;
      a->has_minimum = true;
      a->minimum = strtoll(ge + 2, NULL, 10);
    }
    ok = a->name && parse_kind(a, trim(rest), r->def->type);
    if (ok && def) {
      a->has_default = true;
      ok = parse_default(a, def, r->def->type);
    }
    r->nattrs++;
  }
  free(copy);
  return ok;
}

static bool parse_args(deft_op_reg *r, const char *text, deft_arg_def **out, int *nout) {
  char *copy = strdup(text ? text : "");
  if (!copy) return false;
  char *items[64];
  int n = split_top(copy, items, 64);
  deft_arg_def *args = calloc((size_t)(n ? n : 1), sizeof *args);
  bool ok = args != NULL;
  for (int i = 0; ok && i < n; i++) {
    deft_arg_def *a = &args[i];
    char *colon = strchr(items[i], ':');
    if (!colon) {
      ok = fail_sig(r->def->type, items[i]);
      break;
    }
    *colon = 0;
    a->name = strdup(trim(items[i]));
    char *spec = trim(colon + 1);
    if (!strncmp(spec, "Ref(", 4)) {
      a->is_ref = true;
      spec += 4;
      char *close = strrchr(spec, ')');
      if (close) *close = 0;
      spec = trim(spec);
    }
    char *star = strchr(spec, '*');
    if (star) {
      *star = 0;
      a->number_attr = strdup(trim(spec));
      spec = trim(star + 1);
    }
    int fixed = deft_tf_type_from_name(spec);
    if (fixed) {
      a->fixed_type = fixed;
    } else {
      const deft_attr_def *ad = deft_op_reg_attr(r, spec);
      if (!ad) {
        ok = fail_sig(r->def->type, spec);
        break;
      }
      if (ad->kind == DEFT_ATTR_LIST_TYPE) a->type_list_attr = ad->name;
      else a->type_attr = ad->name;
    }
  }
  *out = args;
  *nout = n;
  free(copy);
  return ok;
}

const deft_attr_def *deft_op_reg_attr(const deft_op_reg *reg, const char *name) {
  for (int i = 0; i < reg->nattrs; i++)
    if (!strcmp(reg->attrs[i].name, name)) return &reg->attrs[i];
  return NULL;
}

static int cmp_reg(const void *a, const void *b) {
  return strcmp(((const deft_op_reg *)a)->def->type, ((const deft_op_reg *)b)->def->type);
}

static void build(void) {
  size_t total = 0;
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) total += families[f]->count;
  regs = calloc(total ? total : 1, sizeof *regs);
  if (!regs) return;
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
    for (size_t i = 0; i < families[f]->count; i++) {
      deft_op_reg *r = &regs[nregs];
      memset(r, 0, sizeof *r);
      r->def = &families[f]->defs[i];
      if (!parse_attrs(r, r->def->attrs) ||
          !parse_args(r, r->def->inputs, &r->inputs, &r->ninputs) ||
          !parse_args(r, r->def->outputs, &r->outputs, &r->noutputs))
        continue; /* reported on stderr; leaked parse state is process-lifetime */
      nregs++;
    }
  }
  qsort(regs, (size_t)nregs, sizeof *regs, cmp_reg);
}

const deft_op_reg *deft_registry_lookup(const char *type) {
  pthread_once(&once, build);
  int lo = 0, hi = nregs - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(type, regs[mid].def->type);
    if (c == 0) return &regs[mid];
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

int deft_registry_count(void) {
  pthread_once(&once, build);
  return nregs;
}

const deft_op_reg *deft_registry_at(int i) {
  pthread_once(&once, build);
  return (i >= 0 && i < nregs) ? &regs[i] : NULL;
}
