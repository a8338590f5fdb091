/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli/names.c - what the user typed, understood: checkpoint arguments (a prefix, one of
 * its files, or a directory) and "did you mean" for op and tensor names. See cli.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "tools/cli/cli.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* NOT_FOUND for a directory without a `checkpoint` file, listing the prefixes of its
 * "*.index" files (sorted). */
static bool list_prefixes(const char *dir, deft_status *st) {
  DIR *d = opendir(dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len <= 6 || strcmp(e->d_name + len - 6, ".index")) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) break;
      names = nn;
    }
    names[n] = malloc(len - 5);
    if (!names[n]) break;
    memcpy(names[n], e->d_name, len - 6);
    names[n++][len - 6] = 0;
  }
  if (d) closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_str);
  char list[2048];
  size_t l = 0;
  list[0] = 0;
  for (size_t i = 0; i < n && l + 8 < sizeof list; i++)
    l += (size_t)snprintf(list + l, sizeof list - l, "%s%s/%s", i ? ", " : "", dir, names[i]);
  if (l >= sizeof list) snprintf(list + sizeof list - 5, 5, "...");
  if (n)
    deft_status_set(st, DEFT_NOT_FOUND,
                    "--checkpoint %s: the directory has no 'checkpoint' file naming its latest "
                    "checkpoint; it holds %zu checkpoint%s: %s (give one of these prefixes)",
                    dir, n, n == 1 ? "" : "s", list);
  else
    deft_status_set(st, DEFT_NOT_FOUND,
                    "--checkpoint %s: the directory has no 'checkpoint' file and no checkpoints "
                    "(no *.index files)",
                    dir);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return false;
}

bool checkpoint_prefix(const char *arg, char *buf, size_t size, deft_status *st) {
  struct stat sb;
  if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint", arg);
    if (stat(path, &sb) != 0) return list_prefixes(arg, st);
    char *latest = deft_latest_checkpoint_path(arg, st);
    if (!latest) {
      deft_status_prefix(st, "--checkpoint %s", arg);
      return false;
    }
    snprintf(buf, size, "%s", latest);
    deft_saver_string_free(latest);
    return true;
  }
  snprintf(buf, size, "%s", arg);
  size_t n = strlen(buf);
  /* X.index, X.data-00000-of-00001 (any shard), X.meta: the prefix X */
  if (n > 6 && !strcmp(buf + n - 6, ".index")) {
    buf[n - 6] = 0;
  } else if (n > 5 && !strcmp(buf + n - 5, ".meta")) {
    buf[n - 5] = 0;
  } else {
    const char *d = strstr(buf, ".data-");
    int a, b, used = 0;
    if (d && sscanf(d, ".data-%5d-of-%5d%n", &a, &b, &used) == 2 && d[used] == 0) buf[d - buf] = 0;
  }
  return true;
}

/* Levenshtein distance of a and b (lengths <= 256 checked by the caller), with an early exit
 * above `limit`. */
static int distance(const char *a, const char *b, int limit) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (abs(la - lb) > limit) return limit + 1;
  int row[257];
  for (int j = 0; j <= lb; j++) row[j] = j;
  for (int i = 1; i <= la; i++) {
    int prev = row[0], best = i;
    row[0] = i;
    for (int j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int v = row[j - 1] + 1 < cur + 1 ? row[j - 1] + 1 : cur + 1;
      row[j] = v < sub ? v : sub;
      prev = cur;
      if (row[j] < best) best = row[j];
    }
    if (best > limit) return limit + 1;
  }
  return row[lb];
}

void cli_suggest_name(const deft_graph *g, const char *name, deft_status *st) {
  if (!name || deft_status_code(st) != DEFT_NOT_FOUND) return;
  char op[512];
  snprintf(op, sizeof op, "%s", name[0] == '^' ? name + 1 : name);
  const char *colon = strrchr(op, ':');
  char suffix[32] = "";
  if (colon && colon[1]) {
    snprintf(suffix, sizeof suffix, "%s", colon);
    op[colon - op] = 0;
  }
  size_t len = strlen(op);
  if (len == 0 || len > 256) return;
  int limit = len < 4 ? 1 : len < 12 ? 2 : 3;
  const char *best = NULL;
  int best_d = limit + 1;
  int n = deft_graph_num_ops(g);
  for (int i = 0; i < n && best_d > 0; i++) {
    const char *cand = deft_op_name(deft_graph_op_at(g, i));
    if (strlen(cand) > 256) continue;
    int d = strcasecmp(cand, op) == 0 ? 0 : distance(op, cand, limit);
    if (d < best_d) best_d = d, best = cand;
  }
  if (!best) return;
  char *msg = strdup(deft_status_message(st));
  if (!msg) return;
  deft_status_set(st, DEFT_NOT_FOUND, "%s; did you mean '%s%s'?", msg, best, suffix);
  free(msg);
}
