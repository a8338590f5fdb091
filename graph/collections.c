/* SPDX-License-Identifier: Apache-2.0 */
/* graph/collections.c - named collections of ops and tensors (tf.add_to_collection,
 * tf.get_collection with a regex scope matched at the start of each item's name, as Python's
 * re.match does). Regexes are PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "base/alloc.h"

static deft_collection *find_collection(const deft_graph *g, const char *key) {
  for (int i = 0; i < g->ncollections; i++)
    if (strcmp(g->collections[i].key, key) == 0) return &g->collections[i];
  return NULL;
}

deft_collection *deft_graph_collection(deft_graph *g, const char *key, bool create) {
  deft_collection *c = find_collection(g, key);
  if (c || !create) return c;
  if (g->ncollections == g->collections_cap) {
    int ncap = g->collections_cap ? g->collections_cap * 2 : 8;
    deft_collection *n = deft_realloc(g->collections, (size_t)ncap * sizeof *n);
    if (!n) return NULL;
    g->collections = n;
    g->collections_cap = ncap;
  }
  c = &g->collections[g->ncollections];
  memset(c, 0, sizeof *c);
  c->key = deft_strdup(key);
  if (!c->key) return NULL;
  g->ncollections++;
  return c;
}

void deft_graph_add_to_collection(deft_graph *g, const char *key, deft_output item) {
  if (!deft_graph_ok(g)) return;
  if (!item.op) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "add_to_collection('%s'): the item is invalid (an earlier constructor "
                    "failed or was given an invalid input)", key);
    return;
  }
  deft_collection *c = deft_graph_collection(g, key, true);
  if (!c) goto oom;
  if (c->n == c->cap) {
    int ncap = c->cap ? c->cap * 2 : 16;
    deft_output *n = deft_realloc(c->items, (size_t)ncap * sizeof *n);
    if (!n) goto oom;
    c->items = n;
    c->cap = ncap;
  }
  c->items[c->n++] = item;
  return;
oom:
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory adding to collection '%s'", key);
}

int deft_graph_get_collection(const deft_graph *g, const char *key, const char *scope,
                              deft_output *out, int max, deft_status *status) {
  const deft_collection *c = find_collection(g, key);
  pcre2_code *re = NULL;
  pcre2_match_data *md = NULL;
  if (scope && *scope) {
    int err;
    PCRE2_SIZE off;
    re = pcre2_compile((PCRE2_SPTR)scope, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED, &err, &off, NULL);
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      deft_status_set(status, DEFT_INVALID_ARGUMENT,
                      "invalid scope regex '%s' at position %zu: %s", scope, (size_t)off,
                      (const char *)msg);
      return -1;
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
      pcre2_code_free(re);
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory matching '%s'", scope);
      return -1;
    }
  }
  int count = 0;
  for (int i = 0; c && i < c->n; i++) {
    deft_output it = c->items[i];
    if (re) {
      char name[1024];
      deft_output_format(it, name, sizeof name);
      int rc = pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL);
      if (rc < 0) continue;
    }
    if (out && count < max) out[count] = it;
    count++;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return count;
}

int deft_graph_num_collections(const deft_graph *g) { return g->ncollections; }
const char *deft_graph_collection_key(const deft_graph *g, int i) {
  return (i >= 0 && i < g->ncollections) ? g->collections[i].key : NULL;
}
