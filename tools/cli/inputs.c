/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli/inputs.c - what `deft run --feed NAME=VALUE` feeds: inline expressions (as
 * saved_model_cli's --input_exprs takes them), .npy files and arrays of .npz archives. See
 * cli.h. The expression grammar (whitespace allowed between tokens):
 *   expr   := number | list | call
 *   list   := '[' [expr {',' expr} [',']] ']'          (nested lists must be rectangular)
 *   call   := [np. | numpy.] ones '(' shape ')' | zeros '(' shape ')'
 *           | [np. | numpy.] full '(' shape ',' number ')' | [np. | numpy.] array '(' expr ')'
 *   shape  := int | '(' [int {',' int} [',']] ')' | '[' [int {',' int} [',']] ']'
 *   number := a decimal (C's strtod, without hex, inf or nan) | True | False */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli/cli.h"

/* np.ones/zeros/full may not make tensors of more elements than this (2^28: a 1 GiB float
 * tensor); a literal's values are bounded by the expression's length. */
#define EXPR_MAX_ELEMENTS ((int64_t)1 << 28)

typedef struct parser {
  const char *src, *p;
  deft_status *st;
  bool failed;
  /* the values of a literal, with the shape their nesting gives */
  double *values;
  int64_t n, cap;
  int rank;
  int64_t dims[DEFT_MAX_RANK];
  bool dim_seen[DEFT_MAX_RANK];
  int64_t *value_col; /* column of each value, for range errors */
  /* np.ones/zeros/full: n copies of fill_value (no per-value arrays) */
  bool fill;
  double fill_value;
  int64_t fill_col;
} parser;

static int column(const parser *ps, const char *at) { return (int)(at - ps->src) + 1; }

static bool perr(parser *ps, const char *at, const char *fmt, const char *arg) {
  if (ps->failed) return false;
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg);
  deft_status_set(ps->st, DEFT_INVALID_ARGUMENT, "column %d: %s", column(ps, at), msg);
  ps->failed = true;
  return false;
}

static void skip_ws(parser *ps) {
  while (isspace((unsigned char)*ps->p)) ps->p++;
}

static bool accept(parser *ps, char c) {
  skip_ws(ps);
  if (*ps->p != c) return false;
  ps->p++;
  return true;
}

static bool expect(parser *ps, char c) {
  if (accept(ps, c)) return true;
  char what[32];
  snprintf(what, sizeof what, "'%c'", c);
  if (!*ps->p) return perr(ps, ps->p, "expected %s, got the end of the expression", what);
  return perr(ps, ps->p, "expected %s", what);
}

static bool word(parser *ps, const char *w) {
  skip_ws(ps);
  size_t n = strlen(w);
  if (strncmp(ps->p, w, n) || isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_') return false;
  ps->p += n;
  return true;
}

static bool number(parser *ps, double *v) {
  skip_ws(ps);
  if (word(ps, "True")) return *v = 1, true;
  if (word(ps, "False")) return *v = 0, true;
  const char *s = ps->p;
  const char *q = s + (*s == '-' || *s == '+');
  if (!isdigit((unsigned char)*q) && !(*q == '.' && isdigit((unsigned char)q[1])))
    return perr(ps, s, "expected a number%s", *s ? "" : ", got the end of the expression");
  if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
    return perr(ps, s, "%s", "hex is not a number here");
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (errno == ERANGE && fabs(*v) > 1) return perr(ps, s, "%s", "number out of range");
  ps->p = end;
  return true;
}

static bool push(parser *ps, double v, const char *at) {
  if (ps->n == ps->cap) {
    int64_t cap = ps->cap ? ps->cap * 2 : 64;
    double *nv = realloc(ps->values, sizeof *nv * (size_t)cap);
    int64_t *nc = nv ? realloc(ps->value_col, sizeof *nc * (size_t)cap) : NULL;
    if (nv) ps->values = nv;
    if (!nc) {
      deft_status_set(ps->st, DEFT_RESOURCE_EXHAUSTED, "out of memory parsing the expression");
      ps->failed = true;
      return false;
    }
    ps->value_col = nc;
    ps->cap = cap;
  }
  ps->value_col[ps->n] = column(ps, at);
  ps->values[ps->n++] = v;
  return true;
}

/* A nested list at nesting depth d (the list's own '[' already read). */
static bool list(parser *ps, int d, const char *open) {
  if (d >= DEFT_MAX_RANK) return perr(ps, open, "nested deeper than %s dims", "8");
  int64_t count = 0;
  skip_ws(ps);
  bool leaf = true; /* decided by the first item: a list or a number */
  if (*ps->p == ']') {
    ps->p++;
  } else {
    for (;;) {
      skip_ws(ps);
      const char *item = ps->p;
      bool sub = *item == '[';
      if (count == 0) leaf = !sub;
      if (sub != !leaf)
        return perr(ps, item, "%s",
                    leaf ? "a list where a number was expected (ragged nesting)"
                         : "a number where a list was expected (ragged nesting)");
      if (sub) {
        ps->p++;
        if (!list(ps, d + 1, item)) return false;
      } else {
        double v;
        if (!number(ps, &v) || !push(ps, v, item)) return false;
      }
      count++;
      if (accept(ps, ']')) break;
      if (!accept(ps, ','))
        return perr(ps, ps->p, "expected ',' or ']'%s",
                    *ps->p ? "" : ", got the end of the expression");
      if (accept(ps, ']')) break; /* a trailing comma */
    }
  }
  /* the rank is the depth of the innermost list; every list at depth d has the same length */
  if (leaf) {
    if (ps->rank && ps->rank != d + 1)
      return perr(ps, open, "%s", "ragged nesting: lists of different depths");
    ps->rank = d + 1;
  }
  if (count == 0 && ps->rank == 0) ps->rank = d + 1;
  if (ps->dim_seen[d] && ps->dims[d] != count) {
    char msg[128];
    snprintf(msg, sizeof msg,
             "a list of %" PRId64 " items where the others at this depth have %" PRId64, count,
             ps->dims[d]);
    return perr(ps, open, "%s", msg);
  }
  ps->dims[d] = count;
  ps->dim_seen[d] = true;
  return true;
}

/* A shape argument of np.ones/zeros/full. */
static bool shape_arg(parser *ps) {
  skip_ws(ps);
  char close = 0;
  if (accept(ps, '('))
    close = ')';
  else if (accept(ps, '['))
    close = ']';
  ps->rank = 0;
  for (;;) {
    skip_ws(ps);
    if (close && accept(ps, close)) break;
    const char *at = ps->p;
    double v;
    if (!number(ps, &v)) return false;
    if (v != floor(v) || v < 0 || v > (double)EXPR_MAX_ELEMENTS)
      return perr(ps, at, "%s", "a dim must be an integer >= 0");
    if (ps->rank >= DEFT_MAX_RANK) return perr(ps, at, "%s", "more than 8 dims");
    ps->dims[ps->rank++] = (int64_t)v;
    if (!close) break;
    if (accept(ps, close)) break;
    if (!expect(ps, ',')) return false;
  }
  int64_t n = 1;
  for (int i = 0; i < ps->rank; i++) {
    n *= ps->dims[i];
    if (n > EXPR_MAX_ELEMENTS) return perr(ps, ps->p, "%s", "too many elements");
  }
  ps->n = n;
  return true;
}

static bool expr(parser *ps) {
  skip_ws(ps);
  const char *at = ps->p;
  if (*at == '[') {
    ps->p++;
    return list(ps, 0, at);
  }
  bool boolean = !strncmp(at, "True", 4) || !strncmp(at, "False", 5);
  if (isalpha((unsigned char)*at) &&
      !(boolean && !isalnum((unsigned char)at[*at == 'T' ? 4 : 5]))) {
    if (!strncmp(ps->p, "np.", 3))
      ps->p += 3;
    else if (!strncmp(ps->p, "numpy.", 6))
      ps->p += 6;
    const char *fn = ps->p;
    bool fill = false;
    double v = 0;
    if (word(ps, "ones"))
      v = 1;
    else if (word(ps, "zeros"))
      v = 0;
    else if (word(ps, "full"))
      fill = true;
    else if (word(ps, "array")) {
      if (!expect(ps, '(') || !expr(ps)) return false;
      return expect(ps, ')');
    } else {
      int len = 0;
      while (isalnum((unsigned char)fn[len]) || fn[len] == '_' || fn[len] == '.') len++;
      char name[64];
      snprintf(name, sizeof name, "%.*s", len < 60 ? len : 60, fn);
      return perr(ps, at,
                  "unknown function '%s' (np.ones, np.zeros, np.full and np.array are known)",
                  name);
    }
    if (!expect(ps, '(') || !shape_arg(ps)) return false;
    const char *vat = at;
    if (fill) {
      if (!expect(ps, ',')) return false;
      skip_ws(ps);
      vat = ps->p;
      if (!number(ps, &v)) return false;
    }
    skip_ws(ps);
    if (*ps->p == ',' && !fill)
      return perr(ps, ps->p, "%s", "only the shape is taken (the dtype is the fed tensor's)");
    if (!expect(ps, ')')) return false;
    ps->fill = true; /* ps->n (the element count) and ps->dims were set by shape_arg */
    ps->fill_value = v;
    ps->fill_col = column(ps, vat);
    return true;
  }
  double v;
  ps->rank = 0;
  return number(ps, &v) && push(ps, v, at);
}

/* The parsed values as a tensor of dtype. */
static deft_tensor *make_tensor(parser *ps, deft_dtype dtype) {
  deft_tensor *t = deft_tensor_new(dtype, ps->dims, ps->rank, ps->st);
  if (!t) return NULL;
  void *d = deft_tensor_data(t);
  double lo = 0, hi = 0;
  bool integer = true;
  switch (dtype) {
    case DEFT_INT32:
      lo = INT32_MIN, hi = INT32_MAX;
      break;
    case DEFT_INT64:
      lo = -9223372036854775808.0, hi = 9223372036854775807.0;
      break;
    case DEFT_UINT8:
      lo = 0, hi = UINT8_MAX;
      break;
    case DEFT_BOOL:
      lo = 0, hi = 1;
      break;
    default:
      integer = false;
  }
  for (int64_t i = 0; i < ps->n; i++) {
    double v = ps->fill ? ps->fill_value : ps->values[i];
    if (integer && (v != floor(v) || v < lo || v > hi || (dtype == DEFT_INT64 && v >= hi))) {
      deft_status_set(
          ps->st, DEFT_INVALID_ARGUMENT, "column %" PRId64 ": %.17g is not a%s %s value",
          ps->fill ? ps->fill_col : ps->value_col[i], v,
          dtype == DEFT_INT32 || dtype == DEFT_INT64 ? "n" : "", deft_dtype_name(dtype));
      deft_tensor_free(t);
      return NULL;
    }
    switch (dtype) {
      case DEFT_FLOAT:
        ((float *)d)[i] = (float)v;
        break;
      case DEFT_DOUBLE:
        ((double *)d)[i] = v;
        break;
      case DEFT_INT32:
        ((int32_t *)d)[i] = (int32_t)v;
        break;
      case DEFT_INT64:
        ((int64_t *)d)[i] = (int64_t)v;
        break;
      case DEFT_UINT8:
        ((uint8_t *)d)[i] = (uint8_t)v;
        break;
      case DEFT_BOOL:
        ((uint8_t *)d)[i] = v != 0;
        break;
      default:
        break;
    }
  }
  return t;
}

static bool numeric_dtype(deft_dtype dt) {
  switch (dt) {
    case DEFT_FLOAT:
    case DEFT_DOUBLE:
    case DEFT_INT32:
    case DEFT_INT64:
    case DEFT_UINT8:
    case DEFT_BOOL:
      return true;
    default:
      return false;
  }
}

static deft_tensor *parse_expr(const char *src, deft_dtype dtype, deft_status *st) {
  if (!numeric_dtype(dtype)) {
    deft_status_set(st, DEFT_UNIMPLEMENTED,
                    "an inline expression cannot make a %s tensor (feed a .npy file)",
                    deft_dtype_name(dtype));
    return NULL;
  }
  parser ps;
  memset(&ps, 0, sizeof ps);
  ps.src = ps.p = src;
  ps.st = st;
  deft_tensor *t = NULL;
  if (expr(&ps)) {
    skip_ws(&ps);
    if (*ps.p)
      perr(&ps, ps.p, "%s", "unexpected text after the expression");
    else
      t = make_tensor(&ps, dtype);
  }
  free(ps.values);
  free(ps.value_col);
  return t;
}

bool cli_feed_is_file(const char *v) {
  size_t n = strlen(v);
  if (n >= 4 && (!strcmp(v + n - 4, ".npy") || !strcmp(v + n - 4, ".npz"))) return true;
  const char *z = strstr(v, ".npz[");
  return z && n > 0 && v[n - 1] == ']';
}

deft_tensor *cli_feed_value(const char *value, deft_dtype dtype, deft_status *st) {
  if (!cli_feed_is_file(value)) return parse_expr(value, dtype, st);
  size_t n = strlen(value);
  if (!strcmp(value + n - 4, ".npy")) return deft_npy_read(value, st);
  if (!strcmp(value + n - 4, ".npz")) return cli_npz_read(value, NULL, st);
  /* FILE.npz[KEY]: the last ".npz[" starts the key */
  const char *z = value, *q;
  while ((q = strstr(z + 1, ".npz[")) != NULL) z = q;
  if (z == value && strncmp(value, ".npz[", 5)) z = strstr(value, ".npz[");
  char *path = malloc(n + 1);
  if (!path) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  size_t plen = (size_t)(z - value) + 4;
  memcpy(path, value, plen);
  path[plen] = 0;
  const char *key = z + 5;
  size_t klen = n - 1 - (size_t)(key - value);
  char *k = malloc(klen + 1);
  deft_tensor *t = NULL;
  if (!k) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    memcpy(k, key, klen);
    k[klen] = 0;
    t = cli_npz_read(path, k, st);
  }
  free(k);
  free(path);
  return t;
}
