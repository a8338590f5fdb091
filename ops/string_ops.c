/* SPDX-License-Identifier: Apache-2.0 */
/* ops/string_ops.c - string ops beyond the saver's (StringJoin lives in ops/io_ops.c):
 * StaticRegexFullMatch and RegexFullMatch (tf.strings.regex_full_match), StringToNumber
 * (tf.strings.to_number) and AsString (tf.as_string). None is differentiable, as in TF.
 *
 * Regexes: TF uses RE2; deft uses PCRE2 (libpcre2-8), compiled in UTF-8 mode with
 * PCRE2_MATCH_INVALID_UTF (invalid UTF-8 in a subject never matches a character, as in RE2),
 * PCRE2_DOLLAR_ENDONLY ('$' only at the very end, as RE2 without (?m)) and anchored at both
 * ends (a full match). RE2's syntax is a subset of PCRE2's for everything RE2 accepts, with the
 * same meaning, except: PCRE2 also accepts backreferences, lookaround, possessive quantifiers and
 * recursion, which RE2 rejects (deft runs them); \C is refused; and PCRE2 backtracks, so a
 * pathological pattern stops with RESOURCE_EXHAUSTED at PCRE2's match limit (10^7 steps) where
 * RE2 would finish in linear time. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"
#include "ops/op_def.h"

#define REGEX_MATCH_LIMIT 10000000u

/* Compiles pattern for a full match; NULL with *msg filled on a syntax error. */
static pcre2_code *regex_compile(const char *pattern, size_t len, char *msg, size_t msgsize) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len,
                                 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                                     PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NEVER_BACKSLASH_C,
                                 &err, &off, NULL);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    snprintf(msg, msgsize, "invalid regex '%.*s': %s at offset %zu", (int)(len > 200 ? 200 : len),
             pattern, (const char *)buf, (size_t)off);
  }
  return re;
}

/* out[i] = whether input[i] fully matches pattern. */
static void regex_run(deft_kernel_ctx *c, const char *pattern, size_t plen) {
  const deft_tensor *in = deft_kernel_input(c, 0);
  char msg[512];
  pcre2_code *re = regex_compile(pattern, plen, msg, sizeof msg);
  if (!re) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s", msg);
    return;
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  deft_tensor *out = md && mc ? deft_kernel_output(c, 0, DEFT_BOOL, in->dims, in->rank) : NULL;
  if (!md || !mc) deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  if (out) {
    pcre2_set_match_limit(mc, REGEX_MATCH_LIMIT);
    bool *o = deft_tensor_b(out);
    for (int64_t i = 0; i < in->n; i++) {
      size_t len;
      const char *s = deft_tensor_string(in, i, &len);
      int rc = pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, md, mc);
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(rc, buf, sizeof buf);
        deft_kernel_fail(c, rc == PCRE2_ERROR_MATCHLIMIT ? DEFT_RESOURCE_EXHAUSTED : DEFT_INTERNAL,
                         "matching element %" PRId64 " against '%.*s': %s", i,
                         (int)(plen > 200 ? 200 : plen), pattern, (const char *)buf);
        break;
      }
      o[i] = rc >= 0;
    }
  }
  pcre2_match_context_free(mc);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
}

typedef struct {
  const char *pattern; /* the graph's attr */
  size_t len;
} regex_params;

static void static_regex_prepare(deft_prepare_ctx *p) {
  regex_params *rp = deft_prepare_params(p, sizeof *rp);
  if (!rp) return;
  if (!deft_op_attr_string(deft_prepare_op(p), "pattern", &rp->pattern, &rp->len)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr 'pattern' is missing or not a string");
    return;
  }
  char msg[512];
  pcre2_code *re = regex_compile(rp->pattern, rp->len, msg, sizeof msg);
  if (!re) deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "%s", msg);
  pcre2_code_free(re);
}

static void static_regex_kernel(deft_kernel_ctx *c) {
  const regex_params *rp = deft_kernel_params(c);
  regex_run(c, rp->pattern, rp->len);
}

static void regex_kernel(deft_kernel_ctx *c) {
  const deft_tensor *pat = deft_kernel_input(c, 1);
  if (pat->n != 1 || pat->rank != 0) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "pattern must be a string scalar, got rank %d",
                     pat->rank);
    return;
  }
  size_t len;
  const char *s = deft_tensor_string(pat, 0, &len);
  regex_run(c, s ? s : "", len);
}

static void regex_shape(deft_shape_ctx *c) {
  deft_shape p = deft_shape_ctx_input(c, 1);
  if (p.rank > 0)
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "pattern must be a scalar, got rank %d", p.rank);
  deft_shape_unchanged(c);
}

/* ---- StringToNumber ---- */

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static void to_number_kernel(deft_kernel_ctx *c) {
  const deft_tensor *in = deft_kernel_input(c, 0);
  deft_dtype dt = deft_kernel_output_dtype(c, 0);
  deft_tensor *out = deft_kernel_output(c, 0, dt, in->dims, in->rank);
  if (!out) return;
  char buf[128];
  for (int64_t i = 0; i < in->n; i++) {
    size_t len;
    const char *s = deft_tensor_string(in, i, &len);
    if (!s) s = "";
    while (len && is_space(*s)) s++, len--;
    while (len && is_space(s[len - 1])) len--;
    bool ok = len > 0 && len < sizeof buf && !memchr(s, 0, len);
    char *end = buf;
    if (ok) {
      memcpy(buf, s, len);
      buf[len] = 0;
      errno = 0;
      if (dt == DEFT_FLOAT) {
        float v = strtof(buf, &end);
        ok = *end == 0 && !(errno == ERANGE && isinf(v));
        deft_tensor_f32(out)[i] = v;
      } else if (dt == DEFT_DOUBLE) {
        double v = strtod(buf, &end);
        ok = *end == 0 && !(errno == ERANGE && isinf(v));
        deft_tensor_f64(out)[i] = v;
      } else {
        ok = (buf[0] >= '0' && buf[0] <= '9') ||
             ((buf[0] == '-' || buf[0] == '+') && buf[1] >= '0' && buf[1] <= '9');
        long long v = ok ? strtoll(buf, &end, 10) : 0;
        ok = ok && *end == 0 && errno != ERANGE;
        if (dt == DEFT_INT32) {
          ok = ok && v >= INT32_MIN && v <= INT32_MAX;
          deft_tensor_i32(out)[i] = (int32_t)v;
        } else {
          deft_tensor_i64(out)[i] = (int64_t)v;
        }
      }
    }
    if (!ok) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "element %" PRId64 " ('%.*s') is not a valid %s",
                       i, (int)(len > 100 ? 100 : len), s, deft_dtype_name(dt));
      return;
    }
  }
}

/* ---- AsString ---- */

typedef struct {
  char fmt[64]; /* printf format for one element, or "" for bools */
} as_string_params;

static void as_string_prepare(deft_prepare_ctx *p) {
  deft_dtype t = deft_prepare_attr_type(p, "T");
  int64_t precision = deft_prepare_attr_int(p, "precision");
  int64_t width = deft_prepare_attr_int(p, "width");
  bool scientific = deft_prepare_attr_bool(p, "scientific");
  bool shortest = deft_prepare_attr_bool(p, "shortest");
  const char *fill = "";
  size_t flen = 0;
  deft_op_attr_string(deft_prepare_op(p), "fill", &fill, &flen);
  if (deft_prepare_failed(p)) return;
  bool is_float = t == DEFT_FLOAT || t == DEFT_DOUBLE;
  if (flen > 1 || (flen == 1 && !strchr(" 0+-#", fill[0]))) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                      "attr 'fill' is '%s'; deft takes one of ' ', '0', '+', '-', '#' or \"\"",
                      fill);
    return;
  }
  if (scientific && shortest) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "cannot select both scientific and shortest");
    return;
  }
  if (!is_float && (scientific || shortest || precision > -1)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                      "scientific, shortest and precision apply to float types only, not %s",
                      deft_dtype_name(t));
    return;
  }
  if (width > 1000 || precision > 1000) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "width and precision must be at most 1000");
    return;
  }
  as_string_params *ap = deft_prepare_params(p, sizeof *ap);
  if (!ap || t == DEFT_BOOL) return;
  int n = snprintf(ap->fmt, sizeof ap->fmt, "%%%s", fill);
  if (width > -1) n += snprintf(ap->fmt + n, sizeof ap->fmt - (size_t)n, "%" PRId64, width);
  if (precision > -1)
    n += snprintf(ap->fmt + n, sizeof ap->fmt - (size_t)n, ".%" PRId64, precision);
  snprintf(ap->fmt + n, sizeof ap->fmt - (size_t)n, "%s",
           is_float          ? (shortest     ? "g"
                                : scientific ? "e"
                                             : "f")
           : t == DEFT_INT64 ? PRId64
                             : "d");
}

static void as_string_kernel(deft_kernel_ctx *c) {
  const as_string_params *ap = deft_kernel_params(c);
  const deft_tensor *in = deft_kernel_input(c, 0);
  deft_tensor *out = deft_kernel_output(c, 0, DEFT_STRING, in->dims, in->rank);
  if (!out) return;
  char buf[2200];
  for (int64_t i = 0; i < in->n; i++) {
    int n;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
    switch (in->dtype) {
      case DEFT_FLOAT:
        n = snprintf(buf, sizeof buf, ap->fmt, (double)deft_tensor_f32(in)[i]);
        break;
      case DEFT_DOUBLE:
        n = snprintf(buf, sizeof buf, ap->fmt, deft_tensor_f64(in)[i]);
        break;
      case DEFT_INT32:
        n = snprintf(buf, sizeof buf, ap->fmt, deft_tensor_i32(in)[i]);
        break;
      case DEFT_INT64:
        n = snprintf(buf, sizeof buf, ap->fmt, deft_tensor_i64(in)[i]);
        break;
      default:
        n = snprintf(buf, sizeof buf, "%s", deft_tensor_u8(in)[i] ? "true" : "false");
    }
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (n < 0 || !deft_tensor_set_string(
                     out, i, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, NULL)) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
  }
}

static const deft_op_def string_defs[] = {
    {.type = "StaticRegexFullMatch",
     .inputs = "input: string",
     .outputs = "output: bool",
     .attrs = "pattern: string",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = deft_shape_unchanged,
     .prepare = static_regex_prepare,
     .kernel = static_regex_kernel},
    {.type = "RegexFullMatch",
     .inputs = "input: string, pattern: string",
     .outputs = "output: bool",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = regex_shape,
     .kernel = regex_kernel},
    {.type = "StringToNumber",
     .inputs = "string_tensor: string",
     .outputs = "output: out_type",
     .attrs = "out_type: {float, double, int32, int64} = DT_FLOAT",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = deft_shape_unchanged,
     .kernel = to_number_kernel},
    {.type = "AsString",
     .inputs = "input: T",
     .outputs = "output: string",
     .attrs = "T: {int32, int64, float, double, bool}, precision: int = -1, "
              "scientific: bool = false, shortest: bool = false, width: int = -1, "
              "fill: string = \"\"",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = deft_shape_unchanged,
     .prepare = as_string_prepare,
     .kernel = as_string_kernel},
};

DEFT_FAMILY(deft_ops_string, string_defs);
