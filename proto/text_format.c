/* SPDX-License-Identifier: Apache-2.0 */
/* proto/text_format.c - protobuf text format -> protobuf-c messages (see proto/text_format.h).
 *
 * A hand-written recursive-descent reader over the raw bytes: no token list, positions tracked
 * as line and column for messages. Every allocation goes through deft_malloc/deft_realloc (the C
 * library's allocator, so protobuf_c_message_free_unpacked with the default allocator frees the
 * result), and the message under construction is kept valid for that free at every step: a
 * sub-message is attached right after its message_init, a repeated count grows only after the
 * element is complete, a oneof case is set only when its member holds a value. On error the
 * root is freed whole. */
#include "proto/text_format.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct reader {
  const char *p, *end;
  const char *line_start; /* first byte of the line p is on */
  int line;
  const char *path;
  deft_status *st;
  int depth;
  const ProtobufCMessageDescriptor *root; /* where expanded Any types are looked up */
} reader;

/* A position remembered for a message that points at an earlier token. */
typedef struct pos {
  int line, col;
} pos;

static pos here(const reader *r) {
  pos q = {r->line, (int)(r->p - r->line_start) + 1};
  return q;
}

static bool fail_at(reader *r, pos at, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static bool fail_at(reader *r, pos at, deft_code code, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  deft_status_set(r->st, code, "%s:%d:%d: %s", r->path, at.line, at.col, what);
  return false;
}

static bool oom(reader *r) {
  deft_status_set(r->st, DEFT_RESOURCE_EXHAUSTED, "%s: out of memory reading the text format",
                  r->path);
  return false;
}

/* The byte at p, written so a message can show it ("'x'", "byte 0x01"). */
static const char *show_char(const reader *r, char *buf, size_t n) {
  if (r->p >= r->end) return "end of input";
  unsigned char c = (unsigned char)*r->p;
  if (isprint(c)) snprintf(buf, n, "'%c'", c);
  else snprintf(buf, n, "byte 0x%02x", c);
  return buf;
}

/* Skips white space and '#' comments. */
static void skip_space(reader *r) {
  while (r->p < r->end) {
    char c = *r->p;
    if (c == '\n') {
      r->p++;
      r->line++;
      r->line_start = r->p;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      r->p++;
    } else if (c == '#') {
      while (r->p < r->end && *r->p != '\n') r->p++;
    } else {
      break;
    }
  }
}

static bool at_char(reader *r, char c) {
  skip_space(r);
  return r->p < r->end && *r->p == c;
}

static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* ---- field storage ---- */

static size_t elem_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

#define MEMBER(msg, off) ((void *)((char *)(msg) + (off)))

/* Makes room for one more element of repeated field f; returns a pointer to it (not yet
 * counted), or NULL on OOM. The capacity is implied by the count: 0, then 4, 8, 16, ... */
static void *repeated_slot(reader *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  size_t *n = MEMBER(m, f->quantifier_offset);
  void **arr = MEMBER(m, f->offset);
  size_t es = elem_size(f->type);
  if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
    size_t cap = *n == 0 ? 4 : *n * 2;
    if (cap > SIZE_MAX / es) {
      oom(r);
      return NULL;
    }
    void *grown = deft_realloc(*n == 0 ? NULL : *arr, cap * es);
    if (!grown) {
      oom(r);
      return NULL;
    }
    *arr = grown;
  }
  return (char *)*arr + *n * es;
}

static ProtobufCMessage *new_message(reader *r, const ProtobufCMessageDescriptor *d) {
  ProtobufCMessage *m = deft_malloc(d->sizeof_message);
  if (!m) {
    oom(r);
    return NULL;
  }
  d->message_init(m);
  return m;
}

/* ---- strings ---- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static bool buf_put(reader *r, buf *b, char c) {
  if (b->len + 1 >= b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 32;
    char *q = deft_realloc(b->p, cap);
    if (!q) return oom(r);
    b->p = q;
    b->cap = cap;
  }
  b->p[b->len++] = c;
  return true;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool put_utf8(reader *r, buf *b, uint32_t cp) {
  if (cp < 0x80) return buf_put(r, b, (char)cp);
  if (cp < 0x800)
    return buf_put(r, b, (char)(0xc0 | (cp >> 6))) && buf_put(r, b, (char)(0x80 | (cp & 0x3f)));
  if (cp < 0x10000)
    return buf_put(r, b, (char)(0xe0 | (cp >> 12))) &&
           buf_put(r, b, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
           buf_put(r, b, (char)(0x80 | (cp & 0x3f)));
  return buf_put(r, b, (char)(0xf0 | (cp >> 18))) &&
         buf_put(r, b, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
         buf_put(r, b, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
         buf_put(r, b, (char)(0x80 | (cp & 0x3f)));
}

/* One escape sequence after the backslash at r->p - 1. */
static bool read_escape(reader *r, buf *b, pos esc) {
  if (r->p >= r->end || *r->p == '\n')
    return fail_at(r, esc, DEFT_DATA_LOSS, "unterminated string");
  char c = *r->p++;
  switch (c) {
    case 'n': return buf_put(r, b, '\n');
    case 't': return buf_put(r, b, '\t');
    case 'r': return buf_put(r, b, '\r');
    case 'a': return buf_put(r, b, '\a');
    case 'b': return buf_put(r, b, '\b');
    case 'f': return buf_put(r, b, '\f');
    case 'v': return buf_put(r, b, '\v');
    case '\\': case '\'': case '"': case '?': return buf_put(r, b, c);
    default: break;
  }
  if (c >= '0' && c <= '7') {
    unsigned v = (unsigned)(c - '0');
    for (int k = 0; k < 2 && r->p < r->end && *r->p >= '0' && *r->p <= '7'; k++)
      v = v * 8 + (unsigned)(*r->p++ - '0');
    if (v > 255)
      return fail_at(r, esc, DEFT_DATA_LOSS, "octal escape \\%o is more than one byte (\\377)", v);
    return buf_put(r, b, (char)v);
  }
  if (c == 'x' || c == 'X') {
    int v = r->p < r->end ? hex_value(*r->p) : -1;
    if (v < 0) return fail_at(r, esc, DEFT_DATA_LOSS, "\\x escape without hex digits");
    r->p++;
    int d = r->p < r->end ? hex_value(*r->p) : -1;
    if (d >= 0) {
      v = v * 16 + d;
      r->p++;
    }
    return buf_put(r, b, (char)v);
  }
  if (c == 'u' || c == 'U') {
    int digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (int k = 0; k < digits; k++) {
      int d = r->p < r->end ? hex_value(*r->p) : -1;
      if (d < 0)
        return fail_at(r, esc, DEFT_DATA_LOSS, "\\%c escape needs %d hex digits", c, digits);
      cp = cp * 16 + (uint32_t)d;
      r->p++;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return fail_at(r, esc, DEFT_DATA_LOSS, "\\%c escape names no Unicode character", c);
    return put_utf8(r, b, cp);
  }
  if (isprint((unsigned char)c))
    return fail_at(r, esc, DEFT_DATA_LOSS, "invalid escape sequence '\\%c' in a string", c);
  return fail_at(r, esc, DEFT_DATA_LOSS, "invalid escape sequence in a string");
}

/* Reads one or more adjacent quoted literals (r->p at the first quote) into a new buffer with
 * a terminating NUL; *out and *len get it (free with deft_free). */
static bool read_string(reader *r, char **out, size_t *len) {
  buf b = {NULL, 0, 0};
  do {
    pos start = here(r);
    char q = *r->p++;
    for (;;) {
      if (r->p >= r->end || *r->p == '\n') {
        deft_free(b.p);
        return fail_at(r, start, DEFT_DATA_LOSS, "unterminated string (a string literal must "
                                                 "end with %c on the line it starts)", q);
      }
      char c = *r->p;
      if (c == q) {
        r->p++;
        break;
      }
      if (c == '\\') {
        pos esc = here(r);
        r->p++;
        if (!read_escape(r, &b, esc)) {
          deft_free(b.p);
          return false;
        }
      } else {
        r->p++;
        if (!buf_put(r, &b, c)) {
          deft_free(b.p);
          return false;
        }
      }
    }
  } while (at_char(r, '"') || at_char(r, '\''));
  if (!b.p && !(b.p = deft_malloc(1))) return oom(r); /* "" still gets its own buffer */
  b.p[b.len] = 0; /* buf_put always leaves room for the NUL */
  *out = b.p;
  *len = b.len;
  return true;
}

/* ---- numbers and identifiers ---- */

/* A scalar word: an optional '-', then letters, digits, '_', '.', and a sign right after an
 * exponent 'e' of a decimal number. */
typedef struct word {
  bool neg;
  const char *s; /* after the sign */
  size_t n;
  pos at;
} word;

static bool read_word(reader *r, word *w, const ProtobufCFieldDescriptor *f) {
  skip_space(r);
  w->at = here(r);
  w->neg = false;
  if (r->p < r->end && *r->p == '-') {
    w->neg = true;
    r->p++;
    skip_space(r);
  }
  w->s = r->p;
  bool hex = r->end - r->p >= 2 && r->p[0] == '0' && (r->p[1] == 'x' || r->p[1] == 'X');
  while (r->p < r->end) {
    char c = *r->p;
    if (is_ident_char(c) || c == '.') {
      r->p++;
    } else if ((c == '+' || c == '-') && !hex && r->p > w->s &&
               (r->p[-1] == 'e' || r->p[-1] == 'E') &&
               isdigit((unsigned char)(w->s[0] == '.' ? w->s[1] : w->s[0]))) {
      r->p++;
    } else {
      break;
    }
  }
  w->n = (size_t)(r->p - w->s);
  if (w->n == 0) {
    char cb[16];
    if (r->p >= r->end)
      return fail_at(r, here(r), DEFT_DATA_LOSS,
                     "unexpected end of input: expected a value for field '%s'", f->name);
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected a value for field '%s', found %s",
                   f->name, show_char(r, cb, sizeof cb));
  }
  return true;
}

static bool word_is(const word *w, const char *s) {
  return strlen(s) == w->n && !memcmp(w->s, s, w->n);
}

static bool word_is_nocase(const word *w, const char *s) {
  if (strlen(s) != w->n) return false;
  for (size_t i = 0; i < w->n; i++)
    if (tolower((unsigned char)w->s[i]) != s[i]) return false;
  return true;
}

/* Parses the word's digits as an unsigned magnitude (decimal, 0x hex, 0 octal). Returns 0 ok,
 * 1 not an integer, 2 too large for 64 bits. */
static int word_magnitude(const word *w, uint64_t *v) {
  const char *s = w->s, *e = w->s + w->n;
  unsigned base = 10;
  if (e - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    if (s == e) return 1;
  } else if (e - s >= 2 && s[0] == '0') {
    base = 8;
    s++;
  }
  if (!isdigit((unsigned char)w->s[0])) return 1;
  uint64_t acc = 0;
  bool big = false;
  for (; s < e; s++) {
    int d = hex_value(*s);
    if (d < 0 || (unsigned)d >= base) return 1;
    if (acc > (UINT64_MAX - (unsigned)d) / base) big = true;
    acc = acc * base + (unsigned)d;
  }
  *v = acc;
  return big ? 2 : 0;
}

static const char *type_name(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT32: return "int32";
    case PROTOBUF_C_TYPE_SINT32: return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32: return "sfixed32";
    case PROTOBUF_C_TYPE_INT64: return "int64";
    case PROTOBUF_C_TYPE_SINT64: return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64: return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32: return "uint32";
    case PROTOBUF_C_TYPE_FIXED32: return "fixed32";
    case PROTOBUF_C_TYPE_UINT64: return "uint64";
    case PROTOBUF_C_TYPE_FIXED64: return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT: return "float";
    case PROTOBUF_C_TYPE_DOUBLE: return "double";
    case PROTOBUF_C_TYPE_BOOL: return "bool";
    case PROTOBUF_C_TYPE_ENUM: return "enum";
    case PROTOBUF_C_TYPE_STRING: return "string";
    case PROTOBUF_C_TYPE_BYTES: return "bytes";
    case PROTOBUF_C_TYPE_MESSAGE: return "message";
  }
  return "?";
}

/* An integer word for field f within [lo, hi] (hi as unsigned for the 64-bit unsigned types). */
static bool word_integer(reader *r, const word *w, const ProtobufCFieldDescriptor *f, int64_t lo,
                         uint64_t hi, uint64_t *mag) {
  int k = word_magnitude(w, mag);
  if (k == 1)
    return fail_at(r, w->at, DEFT_DATA_LOSS,
                   "expected an integer for %s field '%s', found '%s%.*s'", type_name(f->type),
                   f->name, w->neg ? "-" : "", (int)w->n, w->s);
  bool range = k == 0;
  if (range && w->neg) range = lo < 0 && *mag <= (uint64_t)(-(lo + 1)) + 1;
  if (range && !w->neg) range = *mag <= hi;
  if (!range)
    return fail_at(r, w->at, DEFT_DATA_LOSS, "integer %s%.*s out of range for %s field '%s'",
                   w->neg ? "-" : "", (int)w->n, w->s, type_name(f->type), f->name);
  return true;
}

static bool word_float(reader *r, const word *w, const ProtobufCFieldDescriptor *f, double *out) {
  if (word_is_nocase(w, "inf") || word_is_nocase(w, "infinity") || word_is_nocase(w, "inff")) {
    *out = w->neg ? -INFINITY : INFINITY;
    return true;
  }
  if (word_is_nocase(w, "nan") || word_is_nocase(w, "nanf")) {
    *out = w->neg ? -NAN : NAN;
    return true;
  }
  uint64_t mag;
  if (word_magnitude(w, &mag) == 0) { /* an integer token: exact for hex/octal too */
    *out = w->neg ? -(double)mag : (double)mag;
    return true;
  }
  /* digits [. digits] [e [+-] digits] [f], at least one digit before the exponent */
  const char *s = w->s, *e = w->s + w->n;
  if (e > s && (e[-1] == 'f' || e[-1] == 'F')) e--;
  const char *q = s;
  size_t mant = 0;
  while (q < e && isdigit((unsigned char)*q)) q++, mant++;
  if (q < e && *q == '.') {
    q++;
    while (q < e && isdigit((unsigned char)*q)) q++, mant++;
  }
  bool ok = mant > 0;
  if (ok && q < e && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < e && (*q == '+' || *q == '-')) q++;
    const char *d = q;
    while (q < e && isdigit((unsigned char)*q)) q++;
    ok = q > d;
  }
  ok = ok && q == e;
  char tmp[512];
  if (ok && (size_t)(e - s) + 2 > sizeof tmp)
    return fail_at(r, w->at, DEFT_DATA_LOSS, "number for field '%s' is too long", f->name);
  if (!ok)
    return fail_at(r, w->at, DEFT_DATA_LOSS, "expected a number for %s field '%s', found '%s%.*s'",
                   type_name(f->type), f->name, w->neg ? "-" : "", (int)w->n, w->s);
  size_t n = 0;
  if (w->neg) tmp[n++] = '-';
  memcpy(tmp + n, s, (size_t)(e - s));
  tmp[n + (size_t)(e - s)] = 0;
  *out = strtod(tmp, NULL); /* overflow gives +-HUGE_VAL = +-inf, as Google's parser does */
  return true;
}

/* Reads one scalar of field f into *dst (a singular member or a new array slot). Strings and
 * bytes get a new buffer. Nothing is written on failure. */
static bool read_scalar(reader *r, const ProtobufCFieldDescriptor *f, void *dst) {
  skip_space(r);
  if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
    if (r->p >= r->end || (*r->p != '"' && *r->p != '\'')) {
      char cb[16];
      if (r->p >= r->end)
        return fail_at(r, here(r), DEFT_DATA_LOSS,
                       "unexpected end of input: expected a value for field '%s'", f->name);
      return fail_at(r, here(r), DEFT_DATA_LOSS,
                     "expected a value (a quoted string) for %s field '%s', found %s",
                     type_name(f->type), f->name, show_char(r, cb, sizeof cb));
    }
    char *s = NULL;
    size_t len = 0;
    if (!read_string(r, &s, &len)) return false;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
      *(char **)dst = s;
    } else {
      ProtobufCBinaryData *bd = dst;
      if (len == 0) { /* as protobuf-c's own unpack stores an empty bytes value */
        deft_free(s);
        s = NULL;
      }
      bd->data = (uint8_t *)s;
      bd->len = len;
    }
    return true;
  }
  if (r->p < r->end && (*r->p == '"' || *r->p == '\''))
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected a %s value for field '%s', found a string",
                   type_name(f->type), f->name);
  word w;
  if (!read_word(r, &w, f)) return false;
  uint64_t mag;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if (!word_integer(r, &w, f, INT32_MIN, INT32_MAX, &mag)) return false;
      *(int32_t *)dst = w.neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
      return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (!word_integer(r, &w, f, INT64_MIN, INT64_MAX, &mag)) return false;
      *(int64_t *)dst =
          w.neg ? (mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
      return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (!word_integer(r, &w, f, 0, UINT32_MAX, &mag)) return false;
      *(uint32_t *)dst = (uint32_t)mag;
      return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      if (!word_integer(r, &w, f, 0, UINT64_MAX, &mag)) return false;
      *(uint64_t *)dst = mag;
      return true;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
      double v = 0;
      if (!word_float(r, &w, f, &v)) return false;
      if (f->type == PROTOBUF_C_TYPE_FLOAT) *(float *)dst = (float)v;
      else *(double *)dst = v;
      return true;
    }
    case PROTOBUF_C_TYPE_BOOL: {
      int b = -1;
      if (!w.neg) {
        if (word_is(&w, "true") || word_is(&w, "True") || word_is(&w, "t") || word_is(&w, "1"))
          b = 1;
        if (word_is(&w, "false") || word_is(&w, "False") || word_is(&w, "f") || word_is(&w, "0"))
          b = 0;
      }
      if (b < 0)
        return fail_at(r, w.at, DEFT_DATA_LOSS,
                       "expected true or false for bool field '%s', found '%s%.*s'", f->name,
                       w.neg ? "-" : "", (int)w.n, w.s);
      *(protobuf_c_boolean *)dst = (protobuf_c_boolean)b;
      return true;
    }
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumDescriptor *ed = f->descriptor;
      if (is_ident_start(w.s[0]) && !w.neg) {
        char name[256];
        const ProtobufCEnumValue *ev = NULL;
        if (w.n < sizeof name) {
          memcpy(name, w.s, w.n);
          name[w.n] = 0;
          ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
        }
        if (!ev)
          return fail_at(r, w.at, DEFT_DATA_LOSS, "unknown enum value '%.*s' for field '%s' (%s)",
                         (int)w.n, w.s, f->name, ed->name);
        *(int32_t *)dst = ev->value;
        return true;
      }
      /* proto3 enums are open: any int32 number is kept, as the binary reader does */
      if (!word_integer(r, &w, f, INT32_MIN, INT32_MAX, &mag)) return false;
      *(int32_t *)dst = w.neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
      return true;
    }
    default: break;
  }
  return fail_at(r, w.at, DEFT_INTERNAL, "field '%s' has an unsupported type", f->name);
}

/* ---- messages ---- */

static bool read_fields(reader *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                        char close, pos opened);

/* Reads "{ ... }" or "< ... >" into m, a message of type d (the value of field `what`). */
static bool read_body(reader *r, const ProtobufCMessageDescriptor *d, const char *what,
                      ProtobufCMessage *m) {
  skip_space(r);
  char cb[16];
  if (r->p >= r->end)
    return fail_at(r, here(r), DEFT_DATA_LOSS,
                   "unexpected end of input: expected '{' to start message field '%s'", what);
  if (*r->p != '{' && *r->p != '<')
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected '{' or '<' to start message field '%s' "
                   "(%s), found %s", what, d->name, show_char(r, cb, sizeof cb));
  pos opened = here(r);
  char close = *r->p == '{' ? '}' : '>';
  r->p++;
  if (++r->depth > DEFT_PB_TEXT_MAX_DEPTH)
    return fail_at(r, opened, DEFT_DATA_LOSS, "messages nested more than %d deep",
                   DEFT_PB_TEXT_MAX_DEPTH);
  bool ok = read_fields(r, d, m, close, opened);
  r->depth--;
  return ok;
}

/* Reads one value (scalar or message body) of field f of m, storing it. */
static bool read_value(reader *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    const ProtobufCMessageDescriptor *sd = f->descriptor;
    ProtobufCMessage *sub = new_message(r, sd);
    if (!sub) return false;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      ProtobufCMessage **slot = repeated_slot(r, m, f);
      if (!slot) {
        deft_free(sub);
        return false;
      }
      *slot = sub;
      (*(size_t *)MEMBER(m, f->quantifier_offset))++;
    } else {
      *(ProtobufCMessage **)MEMBER(m, f->offset) = sub;
      if (oneof) *(uint32_t *)MEMBER(m, f->quantifier_offset) = f->id;
    }
    return read_body(r, sd, f->name, sub);
  }
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    void *slot = repeated_slot(r, m, f);
    if (!slot || !read_scalar(r, f, slot)) return false;
    (*(size_t *)MEMBER(m, f->quantifier_offset))++;
    return true;
  }
  if (!read_scalar(r, f, MEMBER(m, f->offset))) return false;
  if (oneof) *(uint32_t *)MEMBER(m, f->quantifier_offset) = f->id;
  else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING)
    *(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
  return true;
}

/* The other member of f's oneof that m already holds, or NULL. */
static const ProtobufCFieldDescriptor *oneof_holder(const ProtobufCMessageDescriptor *d,
                                                    const ProtobufCMessage *m,
                                                    const ProtobufCFieldDescriptor *f) {
  uint32_t c = *(const uint32_t *)MEMBER(m, f->quantifier_offset);
  if (!c) return NULL;
  for (unsigned i = 0; i < d->n_fields; i++)
    if (d->fields[i].id == c && (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        d->fields[i].quantifier_offset == f->quantifier_offset)
      return &d->fields[i];
  return NULL;
}

/* One field after its name: ':' and value(s). seen[i] marks the fields already given. */
static bool read_field(reader *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f, pos at, unsigned char *seen) {
  size_t fi = (size_t)(f - d->fields);
  bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
  if (!repeated) {
    if (seen[fi])
      return fail_at(r, at, DEFT_DATA_LOSS, "non-repeated field '%s' of %s is given twice",
                     f->name, d->name);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      const ProtobufCFieldDescriptor *other = oneof_holder(d, m, f);
      if (other)
        return fail_at(r, at, DEFT_DATA_LOSS, "field '%s' of %s is given with field '%s', another "
                       "member of the same oneof", f->name, d->name, other->name);
    }
    seen[fi] = 1;
  }
  bool is_msg = f->type == PROTOBUF_C_TYPE_MESSAGE;
  bool colon = at_char(r, ':');
  if (colon) r->p++;
  if (!colon && !is_msg) {
    char cb[16];
    if (r->p >= r->end)
      return fail_at(r, here(r), DEFT_DATA_LOSS,
                     "unexpected end of input: expected ':' after field '%s'", f->name);
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected ':' after field '%s', found %s", f->name,
                   show_char(r, cb, sizeof cb));
  }
  if (!at_char(r, '[')) return read_value(r, m, f);
  if (!repeated)
    return fail_at(r, here(r), DEFT_DATA_LOSS,
                   "field '%s' of %s is not repeated: it cannot take a list", f->name, d->name);
  pos open = here(r);
  r->p++;
  if (at_char(r, ']')) {
    r->p++;
    return true;
  }
  for (;;) {
    if (!read_value(r, m, f)) return false;
    skip_space(r);
    if (r->p >= r->end)
      return fail_at(r, open, DEFT_DATA_LOSS, "unexpected end of input: the list of field '%s' "
                     "opened here is not closed with ']'", f->name);
    if (*r->p == ']') {
      r->p++;
      return true;
    }
    if (*r->p != ',') {
      char cb[16];
      return fail_at(r, here(r), DEFT_DATA_LOSS, "expected ',' or ']' in the list of field '%s', "
                     "found %s", f->name, show_char(r, cb, sizeof cb));
    }
    r->p++;
  }
}

/* The message type named `name` among the types reachable from r->root through message
 * fields (a breadth-first walk), or NULL. Sets *failed on OOM. */
static const ProtobufCMessageDescriptor *find_type(reader *r, const char *name, size_t len,
                                                   bool *failed) {
  const ProtobufCMessageDescriptor **q = NULL;
  size_t n = 0, cap = 0;
  const ProtobufCMessageDescriptor *found = NULL;
  *failed = false;
  for (size_t head = 0; !found; head++) {
    const ProtobufCMessageDescriptor *d = head == 0 ? r->root : (head <= n ? q[head - 1] : NULL);
    if (!d) break;
    if (strlen(d->name) == len && !memcmp(d->name, name, len)) {
      found = d;
      break;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
      const ProtobufCMessageDescriptor *sd = d->fields[i].descriptor;
      if (d->fields[i].type != PROTOBUF_C_TYPE_MESSAGE || sd == r->root) continue;
      bool known = false;
      for (size_t k = 0; k < n && !known; k++) known = q[k] == sd;
      if (known) continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 32;
        const ProtobufCMessageDescriptor **g = deft_realloc(q, cap * sizeof *q);
        if (!g) {
          *failed = true;
          deft_free(q);
          return NULL;
        }
        q = g;
      }
      q[n++] = sd;
    }
  }
  deft_free(q);
  return found;
}

/* An expanded Any: "[type.googleapis.com/pkg.Type] { ... }" (r->p at '['), stored packed in
 * m's type_url and value. */
static bool read_any(reader *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                     unsigned char *seen, pos at) {
  const ProtobufCFieldDescriptor *fu, *fv;
  fu = protobuf_c_message_descriptor_get_field_by_name(d, "type_url");
  fv = protobuf_c_message_descriptor_get_field_by_name(d, "value");
  if (!fu || !fv || fu->type != PROTOBUF_C_TYPE_STRING || fv->type != PROTOBUF_C_TYPE_BYTES ||
      fu->label == PROTOBUF_C_LABEL_REPEATED || fv->label == PROTOBUF_C_LABEL_REPEATED)
    return fail_at(r, at, DEFT_UNIMPLEMENTED, "extensions ('[...]') are not supported (in %s)",
                   d->name);
  r->p++;
  skip_space(r);
  pos url_at = here(r);
  const char *url = r->p;
  while (r->p < r->end && (is_ident_char(*r->p) || *r->p == '.' || *r->p == '/' || *r->p == '-'))
    r->p++;
  size_t url_len = (size_t)(r->p - url);
  if (!url_len) return fail_at(r, url_at, DEFT_DATA_LOSS, "expected a type URL after '['");
  if (!at_char(r, ']')) {
    char cb[16];
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected ']' after the type URL, found %s",
                   show_char(r, cb, sizeof cb));
  }
  r->p++;
  size_t iu = (size_t)(fu - d->fields), iv = (size_t)(fv - d->fields);
  if (seen[iu] || seen[iv])
    return fail_at(r, at, DEFT_DATA_LOSS, "%s is given twice (an expanded value and %s)", d->name,
                   seen[iu] ? "'type_url'" : "'value'");
  seen[iu] = seen[iv] = 1;
  const char *name = url;
  for (size_t i = 0; i < url_len; i++)
    if (url[i] == '/') name = url + i + 1;
  size_t name_len = url_len - (size_t)(name - url);
  bool failed;
  const ProtobufCMessageDescriptor *td = find_type(r, name, name_len, &failed);
  if (failed) return oom(r);
  if (!td)
    return fail_at(r, url_at, DEFT_UNIMPLEMENTED, "expanded Any value of type '%.*s', which is "
                   "not among the types of %s", (int)(name_len > 200 ? 200 : name_len), name,
                   r->root->name);
  if (at_char(r, ':')) r->p++;
  ProtobufCMessage *sub = new_message(r, td);
  if (!sub) return false;
  if (!read_body(r, td, "value", sub)) {
    protobuf_c_message_free_unpacked(sub, NULL);
    return false;
  }
  size_t n = protobuf_c_message_get_packed_size(sub);
  uint8_t *bytes = n ? deft_malloc(n) : NULL;
  char *u = deft_strndup(url, url_len);
  if ((n && !bytes) || !u) {
    deft_free(bytes);
    deft_free(u);
    protobuf_c_message_free_unpacked(sub, NULL);
    return oom(r);
  }
  if (n) protobuf_c_message_pack(sub, bytes);
  protobuf_c_message_free_unpacked(sub, NULL);
  *(char **)MEMBER(m, fu->offset) = u;
  ProtobufCBinaryData *bd = MEMBER(m, fv->offset);
  bd->data = bytes;
  bd->len = n;
  return true;
}

/* ---- unknown fields ----
 * A field deft's schema does not have (TF 2.x's NodeDef experimental_type,
 * experimental_debug_info, ...) is skipped, as the binary reader skips unknown field numbers:
 * its value must still be well formed (terminated strings, balanced braces, the depth limit),
 * but nothing is stored. */

static bool skip_field(reader *r, const char *name, size_t n);

/* A scalar: a string (adjacent literals concatenated) or a word (number, enum, identifier). */
static bool skip_scalar(reader *r, const char *name, size_t n) {
  skip_space(r);
  if (r->p < r->end && (*r->p == '"' || *r->p == '\'')) {
    char *str = NULL;
    size_t len;
    if (!read_string(r, &str, &len)) return false;
    deft_free(str);
    return true;
  }
  if (r->p < r->end && *r->p == '-') {
    r->p++;
    skip_space(r);
  }
  const char *s = r->p;
  while (r->p < r->end && (is_ident_char(*r->p) || *r->p == '.' || *r->p == '+' || *r->p == '-'))
    r->p++;
  if (r->p == s) {
    char cb[16];
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected a value for unknown field '%.*s', found "
                   "%s", (int)(n > 200 ? 200 : n), name, show_char(r, cb, sizeof cb));
  }
  return true;
}

/* "{ ... }" or "< ... >" of fields, none stored. */
static bool skip_message(reader *r, const char *name, size_t n) {
  pos opened = here(r);
  char close = *r->p == '{' ? '}' : '>';
  r->p++;
  if (++r->depth > DEFT_PB_TEXT_MAX_DEPTH)
    return fail_at(r, opened, DEFT_DATA_LOSS, "messages nested more than %d deep",
                   DEFT_PB_TEXT_MAX_DEPTH);
  for (;;) {
    skip_space(r);
    if (r->p >= r->end)
      return fail_at(r, opened, DEFT_DATA_LOSS, "unexpected end of input: unknown field '%.*s' "
                     "opened here is not closed with '%c'", (int)(n > 200 ? 200 : n), name,
                     close);
    char c = *r->p;
    if (c == close) {
      r->p++;
      break;
    }
    const char *fs = r->p;
    if (c == '[') { /* an extension or Any type name */
      pos open = here(r);
      while (r->p < r->end && *r->p != ']' && *r->p != '\n') r->p++;
      if (r->p >= r->end || *r->p != ']')
        return fail_at(r, open, DEFT_DATA_LOSS, "unterminated '[' in unknown field '%.*s'",
                       (int)(n > 200 ? 200 : n), name);
      r->p++;
    } else if (is_ident_start(c)) {
      while (r->p < r->end && is_ident_char(*r->p)) r->p++;
    } else {
      char cb[16];
      return fail_at(r, here(r), DEFT_DATA_LOSS, "expected a field name or '%c' in unknown field "
                     "'%.*s', found %s", close, (int)(n > 200 ? 200 : n), name,
                     show_char(r, cb, sizeof cb));
    }
    if (!skip_field(r, fs, (size_t)(r->p - fs))) return false;
    if (at_char(r, ',') || at_char(r, ';')) r->p++;
  }
  r->depth--;
  return true;
}

/* The value(s) after an unknown field's name: ": scalar", ": [a, b]", "{...}" or ": {...}". */
static bool skip_field(reader *r, const char *name, size_t n) {
  bool colon = at_char(r, ':');
  if (colon) r->p++;
  skip_space(r);
  if (r->p >= r->end)
    return fail_at(r, here(r), DEFT_DATA_LOSS, "unexpected end of input: expected a value for "
                   "unknown field '%.*s'", (int)(n > 200 ? 200 : n), name);
  char c = *r->p;
  if (c == '{' || c == '<') return skip_message(r, name, n);
  if (!colon) {
    char cb[16];
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected ':' after unknown field '%.*s', found "
                   "%s", (int)(n > 200 ? 200 : n), name, show_char(r, cb, sizeof cb));
  }
  if (c != '[') return skip_scalar(r, name, n);
  r->p++;
  if (at_char(r, ']')) {
    r->p++;
    return true;
  }
  for (;;) {
    skip_space(r);
    bool ok = r->p < r->end && (*r->p == '{' || *r->p == '<') ? skip_message(r, name, n)
                                                              : skip_scalar(r, name, n);
    if (!ok) return false;
    if (at_char(r, ',')) {
      r->p++;
      continue;
    }
    if (at_char(r, ']')) {
      r->p++;
      return true;
    }
    char cb[16];
    return fail_at(r, here(r), DEFT_DATA_LOSS, "expected ',' or ']' in the list of unknown field "
                   "'%.*s', found %s", (int)(n > 200 ? 200 : n), name,
                   show_char(r, cb, sizeof cb));
  }
}

static bool read_fields(reader *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m,
                        char close, pos opened) {
  unsigned char small[64];
  unsigned char *seen = small;
  if (d->n_fields > sizeof small) {
    seen = deft_calloc(d->n_fields, 1);
    if (!seen) return oom(r);
  } else {
    memset(small, 0, sizeof small);
  }
  bool ok = true;
  for (;;) {
    skip_space(r);
    if (r->p >= r->end) {
      if (close)
        ok = fail_at(r, here(r), DEFT_DATA_LOSS, "unexpected end of input: %s opened at %d:%d is "
                     "not closed with '%c'", d->name, opened.line, opened.col, close);
      break;
    }
    char c = *r->p;
    if (close && c == close) {
      r->p++;
      break;
    }
    pos at = here(r);
    if (c == '[') {
      if (strcmp(d->name, "google.protobuf.Any") != 0) {
        ok = fail_at(r, at, DEFT_UNIMPLEMENTED, "extensions ('[...]') are not supported (in %s)",
                     d->name);
        break;
      }
      if (!read_any(r, d, m, seen, at)) {
        ok = false;
        break;
      }
      if (at_char(r, ',') || at_char(r, ';')) r->p++;
      continue;
    }
    if (!is_ident_start(c)) {
      char cb[16];
      const char *or_close = close ? (close == '}' ? " or '}'" : " or '>'") : "";
      ok = fail_at(r, at, DEFT_DATA_LOSS, "expected a field name of %s%s, found %s", d->name,
                   or_close, show_char(r, cb, sizeof cb));
      break;
    }
    const char *s = r->p;
    while (r->p < r->end && is_ident_char(*r->p)) r->p++;
    size_t n = (size_t)(r->p - s);
    const ProtobufCFieldDescriptor *f = NULL;
    char name[256];
    if (n < sizeof name) {
      memcpy(name, s, n);
      name[n] = 0;
      f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    }
    if (!f) { /* skipped, as the binary reader skips unknown field numbers */
      if (!skip_field(r, s, n)) {
        ok = false;
        break;
      }
      if (at_char(r, ',') || at_char(r, ';')) r->p++;
      continue;
    }
    if (!read_field(r, d, m, f, at, seen)) {
      ok = false;
      break;
    }
    if (at_char(r, ',') || at_char(r, ';')) r->p++;
  }
  if (seen != small) deft_free(seen);
  return ok;
}

ProtobufCMessage *deft_pb_text_parse(const ProtobufCMessageDescriptor *d, const char *text,
                                     size_t len, const char *path, deft_status *status) {
  reader r;
  r.p = text;
  r.end = text + len;
  r.line_start = text;
  r.line = 1;
  r.path = path ? path : "<text>";
  r.st = status;
  r.depth = 0;
  r.root = d;
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) r.p = r.line_start = text + 3; /* a BOM */
  ProtobufCMessage *m = new_message(&r, d);
  if (!m) return NULL;
  pos start = {1, 1};
  if (!read_fields(&r, d, m, 0, start)) {
    protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
  }
  return m;
}
