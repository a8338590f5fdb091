/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli/raw_collections.c - the members of collections deft keeps serialized (cond_context,
 * while_context, saved_model_assets, int64 and float lists, ...), read from the file's bytes:
 * deft's graph has them only as opaque values. A small protobuf wire-format walk over
 * MetaGraphDef.collection_def (field 4; in a SavedModel, the meta_graphs entry (field 2) whose
 * MetaInfoDef (field 1) lists the tag (field 4)). Binary files only. See cli.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli/cli.h"

typedef struct span {
  const uint8_t *p, *end;
} span;

static bool varint(span *s, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && s->p < s->end; shift += 7) {
    uint8_t b = *s->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* The next field of s: its number, wire type, and for length-delimited fields the bytes (for
 * varints, *v). false at the end or on bad data. */
static bool field(span *s, uint32_t *num, int *wt, span *bytes, uint64_t *v) {
  uint64_t key;
  if (s->p >= s->end || !varint(s, &key)) return false;
  *num = (uint32_t)(key >> 3);
  *wt = (int)(key & 7);
  switch (*wt) {
    case 0:
      return varint(s, v);
    case 1:
      if (s->end - s->p < 8) return false;
      memcpy(v, s->p, 8);
      s->p += 8;
      return true;
    case 5:
      if (s->end - s->p < 4) return false;
      *v = 0;
      memcpy(v, s->p, 4);
      s->p += 4;
      return true;
    case 2: {
      uint64_t len;
      if (!varint(s, &len) || len > (uint64_t)(s->end - s->p)) return false;
      bytes->p = s->p;
      bytes->end = s->p + len;
      s->p += len;
      return true;
    }
    default:
      return false;
  }
}

static bool span_eq(span s, const char *str) {
  size_t n = strlen(str);
  return (size_t)(s.end - s.p) == n && !memcmp(s.p, str, n);
}

static bool printable(span s) {
  if (s.p == s.end) return false;
  for (const uint8_t *p = s.p; p < s.end; p++)
    if (*p < 0x20 || *p > 0x7e) return false;
  return true;
}

/* A NULL-terminated array of strings, grown by add. */
typedef struct strings {
  char **v;
  int n, cap;
  bool oom;
} strings;

/* Appends the concatenation of a[0..alen) and b[0..blen). */
static void add(strings *l, const char *a, size_t alen, const char *b, size_t blen) {
  if (l->oom) return;
  if (l->n + 2 > l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    char **nv = realloc(l->v, sizeof *nv * (size_t)cap);
    if (!nv) {
      l->oom = true;
      return;
    }
    l->v = nv;
    l->cap = cap;
  }
  size_t size = alen + blen + 1;
  char *s = malloc(size);
  if (!s) {
    l->oom = true;
    return;
  }
  memcpy(s, a, alen);
  memcpy(s + alen, b, blen);
  s[alen + blen] = 0;
  l->v[l->n++] = s;
  l->v[l->n] = NULL;
}

/* One serialized value of a bytes_list: its first printable string field (the context or queue
 * name of CondContextDef, WhileContextDef, QueueRunnerDef, ...), else its size. */
static void describe_bytes(strings *out, span value) {
  span s = value, b;
  uint32_t num;
  int wt;
  uint64_t v;
  while (field(&s, &num, &wt, &b, &v))
    if (wt == 2 && printable(b)) {
      add(out, (const char *)b.p, (size_t)(b.end - b.p), "", 0);
      return;
    }
  char size[64];
  snprintf(size, sizeof size, "(%td bytes)", value.end - value.p);
  add(out, size, strlen(size), "", 0);
}

/* The members of CollectionDef c. */
static void describe_collection(strings *out, span c) {
  span s = c, list;
  uint32_t kind;
  int wt;
  uint64_t v;
  while (field(&s, &kind, &wt, &list, &v)) {
    if (wt != 2) continue;
    span l = list, item;
    uint32_t num;
    int iwt;
    uint64_t x;
    char buf[64];
    while (field(&l, &num, &iwt, &item, &x)) {
      if (num != 1) continue;
      if (kind == 1 && iwt == 2) { /* node_list */
        add(out, (const char *)item.p, (size_t)(item.end - item.p), "", 0);
      } else if (kind == 2 && iwt == 2) { /* bytes_list */
        describe_bytes(out, item);
      } else if (kind == 3 || kind == 4) { /* int64_list, float_list: packed or not */
        span packed = item;
        if (iwt != 2) packed.p = packed.end = NULL;
        for (;;) {
          uint64_t e = x;
          if (iwt == 2) {
            if (packed.p >= packed.end) break;
            if (kind == 3 && !varint(&packed, &e)) break;
            if (kind == 4) {
              if (packed.end - packed.p < 4) break;
              e = 0;
              memcpy(&e, packed.p, 4);
              packed.p += 4;
            }
          }
          if (kind == 3) {
            snprintf(buf, sizeof buf, "%" PRId64, (int64_t)e);
          } else {
            float f;
            uint32_t bits = (uint32_t)e;
            memcpy(&f, &bits, 4);
            snprintf(buf, sizeof buf, "%.9g", (double)f);
          }
          add(out, buf, strlen(buf), "", 0);
          if (iwt != 2) break;
        }
      } else if (kind == 5 && iwt == 2) { /* any_list: google.protobuf.Any {type_url = 1} */
        span a = item, url = {0};
        uint32_t an;
        int awt;
        uint64_t ax;
        span tmp;
        while (field(&a, &an, &awt, &tmp, &ax))
          if (an == 1 && awt == 2) url = tmp;
        add(out, "Any ", 4, url.p ? (const char *)url.p : "?",
            url.p ? (size_t)(url.end - url.p) : 1);
      }
    }
  }
}

/* collection_def entry `key` of MetaGraphDef m, or false. */
static bool find_collection(span m, const char *key, span *c) {
  span s = m, e;
  uint32_t num;
  int wt;
  uint64_t v;
  while (field(&s, &num, &wt, &e, &v)) {
    if (num != 4 || wt != 2) continue;
    span es = e, k = {0}, val = {0}, b;
    uint32_t en;
    int ewt;
    uint64_t ev;
    while (field(&es, &en, &ewt, &b, &ev)) {
      if (en == 1 && ewt == 2) k = b;
      if (en == 2 && ewt == 2) val = b;
    }
    if (k.p && span_eq(k, key)) {
      *c = val.p ? val : (span){m.p, m.p};
      return true;
    }
  }
  return false;
}

static bool has_tag(span m, const char *tag) {
  span s = m, info, b;
  uint32_t num, tn;
  int wt, twt;
  uint64_t v, tv;
  while (field(&s, &num, &wt, &info, &v)) {
    if (num != 1 || wt != 2) continue;
    span is = info;
    while (field(&is, &tn, &twt, &b, &tv))
      if (tn == 4 && twt == 2 && span_eq(b, tag)) return true;
  }
  return false;
}

char **cli_raw_collection(const char *path, bool saved_model, const char *tag, const char *key) {
  char file[4200];
  struct stat sb;
  size_t plen = strlen(path);
  if (plen >= 6 && !strcmp(path + plen - 6, ".pbtxt")) return NULL; /* binary files only */
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(file, sizeof file, "%s/saved_model.pb", path);
  else
    snprintf(file, sizeof file, "%s", path);
  FILE *f = fopen(file, "rb");
  if (!f) return NULL;
  uint8_t *data = NULL;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size)) != NULL &&
      fread(data, 1, (size_t)size, f) != (size_t)size) {
    free(data);
    data = NULL;
  }
  fclose(f);
  if (!data) return NULL;
  span whole = {data, data + size}, m = whole, c;
  bool found = false;
  if (saved_model) {
    span s = whole, b;
    uint32_t num;
    int wt;
    uint64_t v;
    while (!found && field(&s, &num, &wt, &b, &v))
      if (num == 2 && wt == 2 && has_tag(b, tag ? tag : "serve")) m = b, found = true;
    if (!found) {
      free(data);
      return NULL;
    }
  }
  strings out = {0};
  if (find_collection(m, key, &c)) describe_collection(&out, c);
  free(data);
  if (out.oom || !out.v) {
    cli_strings_free(out.v);
    return NULL;
  }
  return out.v;
}

void cli_strings_free(char **v) {
  for (int i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}
