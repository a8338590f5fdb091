/* SPDX-License-Identifier: Apache-2.0 */
/* tools/deft.c - the `deft` command-line program.
 *
 *   deft dump PATH [--node NAME] [--collections] [--variables [--checkpoint PREFIX]]
 *                  [--signatures] [--unsupported] [--scope PREFIX] [--op-type TYPES]
 *                  [--json] [--dot] [--html] [--tag TAG]
 *   deft run PATH [--checkpoint PREFIX] [--feed NAME=VALUE]... [--fetch NAME]...
 *                 [--target OP]... [--out DIR] [--signature KEY] [--tag TAG] [--allow-dir DIR]
 *
 * PATH is a meta graph (".meta"), a SavedModel (its directory or its saved_model.pb) or a
 * GraphDef (any other file); each may be in text format (".pbtxt": a text file that is not a
 * GraphDef is tried as a MetaGraphDef). Without a section option, dump lists the ops in graph
 * order (name, type, output dtypes and shapes, inputs) and marks those deft cannot run. run does
 * the job of TF's saved_model_cli run (see its usage text in `commands`); its feed values
 * (expressions, .npz archives), checkpoint arguments and name suggestions live in tools/cli/.
 * Errors go to stderr with a non-zero exit code (1 for a failure, 2 for a usage error). Subcommands
 * are table-driven: add one to `commands`.
 *
 * Uses only the public API (deft/deft.h). */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deft/deft.h"
#include "tools/cli/cli.h"
#include "tools/explorer/dump_html.h"

#define ATTR_BUF 65536

/* ---- loading ---- */

typedef struct loaded {
  deft_graph *g;
  deft_meta_graph_info *info; /* NULL for a GraphDef */
  const char *format;
} loaded;

static bool has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool is_saved_model_file(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strcmp(base, "saved_model.pb") == 0 || strcmp(base, "saved_model.pbtxt") == 0;
}

static bool load(const char *path, const char *tag, loaded *out, deft_status *st) {
  memset(out, 0, sizeof *out);
  struct stat sb;
  bool dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  if (dir || is_saved_model_file(path)) {
    out->format = "SavedModel";
    out->g = deft_load_saved_model(path, tag, &out->info, st);
  } else if (has_suffix(path, ".meta") || has_suffix(path, ".meta.pbtxt")) {
    out->format = "MetaGraphDef";
    out->g = deft_import_meta_graph(path, NULL, &out->info, st);
  } else {
    out->format = "GraphDef";
    out->g = deft_import_graph_def(path, NULL, st);
    /* Any other file may hold a MetaGraphDef: its top-level fields are unknown to GraphDef, so
     * it reads as a GraphDef without nodes (unknown fields are skipped). */
    if ((!out->g && deft_status_code(st) == DEFT_DATA_LOSS) ||
        (out->g && deft_graph_num_ops(out->g) == 0)) {
      deft_status *st2 = deft_status_new();
      deft_meta_graph_info *info = NULL;
      deft_graph *mg = st2 ? deft_import_meta_graph(path, NULL, &info, st2) : NULL;
      if (mg && deft_graph_num_ops(mg) > 0) {
        deft_graph_free(out->g);
        out->g = mg;
        out->info = info;
        out->format = "MetaGraphDef";
        deft_status_clear(st);
      } else {
        deft_graph_free(mg);
        deft_meta_graph_info_free(info);
      }
      deft_status_free(st2);
    }
  }
  return out->g != NULL;
}

static void unload(loaded *l) {
  deft_meta_graph_info_free(l->info);
  deft_graph_free(l->g);
}

/* ---- output helpers ---- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\t': fputs("\\t", f); break;
      case '\r': fputs("\\r", f); break;
      default:
        if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
  }
  fputc('"', f);
}

static void dot_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static const char *input_name(deft_output o, bool control, char *buf, size_t size) {
  if (control) snprintf(buf, size, "^%s", deft_op_name(o.op));
  else if (o.index == 0) snprintf(buf, size, "%s", deft_op_name(o.op));
  else snprintf(buf, size, "%s:%d", deft_op_name(o.op), o.index);
  return buf;
}

/* s as a JSON array ([-1, 784]; [] for a scalar), or null for an unknown rank. */
static void json_shape(FILE *f, deft_shape s) {
  if (s.rank < 0) {
    fputs("null", f);
    return;
  }
  fputc('[', f);
  for (int i = 0; i < s.rank; i++) fprintf(f, "%s%" PRId64, i ? ", " : "", s.dims[i]);
  fputc(']', f);
}

/* s as saved_model_cli show prints a TensorInfo shape: "(-1, 784)", "()", "unknown_rank". */
static char *cli_shape(deft_shape s, char *buf, size_t size) {
  if (s.rank < 0) {
    snprintf(buf, size, "unknown_rank");
    return buf;
  }
  size_t n = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < s.rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, i ? ", " : "", s.dims[i]);
  if (n < size) snprintf(buf + n, size - n, ")");
  return buf;
}

/* TF's enum name of a dtype ("DT_FLOAT"), as saved_model_cli prints it. */
static char *tf_dtype_name(deft_dtype dt, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "DT_");
  for (const char *p = deft_dtype_name(dt); *p && n + 1 < size; p++)
    buf[n++] = (char)toupper((unsigned char)*p);
  buf[n < size ? n : size - 1] = 0;
  return buf;
}

/* An op's outputs as "float[?,784]" items separated by spaces ("-" when it has none). */
static char *outputs_text(deft_op *op, char *buf, size_t size) {
  int nout = deft_op_num_outputs(op);
  size_t n = 0;
  buf[0] = 0;
  if (nout == 0) snprintf(buf, size, "-");
  for (int k = 0; k < nout && n < size; k++) {
    char shape[256];
    deft_output o = deft_op_output(op, k);
    n += (size_t)snprintf(buf + n, size - n, "%s%s%s", k ? " " : "",
                          deft_dtype_name(deft_output_dtype(o)),
                          deft_shape_format(deft_output_shape(o), shape, sizeof shape));
  }
  return buf;
}

/* --scope (a name prefix) and --op-type (comma-separated op types): which ops a listing shows. */
typedef struct op_filter {
  const char *scope, *types;
} op_filter;

static bool filter_active(const op_filter *flt) { return flt->scope || flt->types; }

static bool filter_match(const op_filter *flt, const deft_op *op) {
  if (flt->scope && strncmp(deft_op_name(op), flt->scope, strlen(flt->scope)) != 0) return false;
  if (!flt->types) return true;
  const char *type = deft_op_type(op);
  size_t tl = strlen(type);
  for (const char *p = flt->types; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == tl && !strncmp(p, type, len)) return true;
    p += len + (end != NULL);
  }
  return false;
}

/* The op types deft cannot run among the ops flt selects, in order of first appearance, with
 * their counts: types[i] has counts[i] ops. Returns the number of types (arrays of n entries). */
static int unsupported_types(deft_graph *g, const op_filter *flt, const char **types, int *counts) {
  int n = deft_graph_num_ops(g), nt = 0;
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (deft_op_has_kernel(op) || !filter_match(flt, op)) continue;
    int k = 0;
    while (k < nt && strcmp(types[k], deft_op_type(op))) k++;
    if (k == nt) types[nt] = deft_op_type(op), counts[nt++] = 0;
    counts[k]++;
  }
  return nt;
}

/* Distinct op types among the ops flt selects. */
static int count_types(deft_graph *g, const op_filter *flt) {
  int n = deft_graph_num_ops(g), types = 0;
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!filter_match(flt, op)) continue;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++)
      seen = filter_match(flt, deft_graph_op_at(g, j)) &&
             strcmp(deft_op_type(deft_graph_op_at(g, j)), deft_op_type(op)) == 0;
    types += !seen;
  }
  return types;
}

/* ---- sections ---- */

#define NAME_COL_MAX 60
#define TYPE_COL_MAX 30
#define OUT_COL_MAX 44

/* The op types deft cannot run, with counts: text "(... with counts: T xN ...)", or JSON. */
static bool dump_unsupported(FILE *f, deft_graph *g, const op_filter *flt, bool json, bool alone) {
  int n = deft_graph_num_ops(g);
  const char **types = malloc(sizeof *types * (size_t)(n + 1));
  int *counts = malloc(sizeof *counts * (size_t)(n + 1));
  if (!types || !counts) {
    free(types);
    free(counts);
    fprintf(stderr, "deft: out of memory\n");
    return false;
  }
  int nt = unsupported_types(g, flt, types, counts), nops = 0;
  for (int k = 0; k < nt; k++) nops += counts[k];
  if (json) {
    fputs("\"unsupported_op_types\": {", f);
    for (int k = 0; k < nt; k++) {
      fputs(k ? ", " : "", f);
      json_str(f, types[k]);
      fprintf(f, ": %d", counts[k]);
    }
    fputs("}", f);
  } else if (alone && nt == 0) {
    fputs("deft can run every op (it has a kernel for each op type)\n", f);
  } else if (alone) {
    fprintf(f, "deft cannot run %d op%s of %d type%s:\n", nops, nops == 1 ? "" : "s", nt,
            nt == 1 ? "" : "s");
    for (int k = 0; k < nt; k++) fprintf(f, "  %-*s %d\n", TYPE_COL_MAX, types[k], counts[k]);
  } else if (nt) {
    fprintf(f, "* = deft cannot run this op (%d op%s of %d type%s, with counts:", nops,
            nops == 1 ? "" : "s", nt, nt == 1 ? "" : "s");
    for (int k = 0; k < nt; k++) fprintf(f, " %s x%d", types[k], counts[k]);
    fputs(")\n", f);
  }
  free(types);
  free(counts);
  return true;
}

static bool dump_ops(FILE *f, const loaded *l, const char *path, const op_filter *flt, bool json) {
  deft_graph *g = l->g;
  int n = deft_graph_num_ops(g);
  char buf[4096], outs[1024];
  if (json) {
    fputs("\"ops\": [", f);
    bool first = true;
    for (int i = 0; i < n; i++) {
      deft_op *op = deft_graph_op_at(g, i);
      if (!filter_match(flt, op)) continue;
      fputs(first ? "\n  {\"name\": " : ",\n  {\"name\": ", f);
      first = false;
      json_str(f, deft_op_name(op));
      fputs(", \"type\": ", f);
      json_str(f, deft_op_type(op));
      fputs(", \"inputs\": [", f);
      int nin = deft_op_num_inputs(op), nc = deft_op_num_control_inputs(op);
      for (int k = 0; k < nin + nc; k++) {
        deft_output o = k < nin ? deft_op_input(op, k)
                                : (deft_output){deft_op_control_input(op, k - nin), -1};
        if (k) fputs(", ", f);
        json_str(f, input_name(o, k >= nin, buf, sizeof buf));
      }
      fputs("], \"outputs\": [", f);
      for (int k = 0; k < deft_op_num_outputs(op); k++) {
        deft_output o = deft_op_output(op, k);
        fputs(k ? ", {\"dtype\": " : "{\"dtype\": ", f);
        json_str(f, deft_dtype_name(deft_output_dtype(o)));
        fputs(", \"shape\": ", f);
        json_shape(f, deft_output_shape(o));
        fputs("}", f);
      }
      fprintf(f, "], \"runnable\": %s}", deft_op_has_kernel(op) ? "true" : "false");
    }
    fputs("\n],\n", f);
    return dump_unsupported(f, g, flt, true, false);
  }
  int shown = 0, wname = 2, wtype = 4, wout = 7;
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!filter_match(flt, op)) continue;
    shown++;
    int a = (int)strlen(deft_op_name(op)), b = (int)strlen(deft_op_type(op));
    int c = (int)strlen(outputs_text(op, outs, sizeof outs));
    if (a > wname) wname = a < NAME_COL_MAX ? a : NAME_COL_MAX;
    if (b > wtype) wtype = b < TYPE_COL_MAX ? b : TYPE_COL_MAX;
    if (c > wout) wout = c < OUT_COL_MAX ? c : OUT_COL_MAX;
  }
  int types = count_types(g, flt);
  if (filter_active(flt))
    fprintf(f, "%s (%s): %d of %d ops, %d op types", path, l->format, shown, n, types);
  else
    fprintf(f, "%s (%s): %d ops, %d op types", path, l->format, n, types);
  if (flt->scope) fprintf(f, " (--scope=%s)", flt->scope);
  if (flt->types) fprintf(f, " (--op-type=%s)", flt->types);
  fputc('\n', f);
  fprintf(f, "  %-*s %-*s %-*s %s\n", wname, "op", wtype, "type", wout, "outputs", "inputs");
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!filter_match(flt, op)) continue;
    bool runnable = deft_op_has_kernel(op);
    int nin = deft_op_num_inputs(op), nc = deft_op_num_control_inputs(op);
    fprintf(f, "%c %-*s %-*s %-*s", runnable ? ' ' : '*', wname, deft_op_name(op), wtype,
            deft_op_type(op), nin + nc ? wout : 0, outputs_text(op, outs, sizeof outs));
    for (int k = 0; k < nin + nc; k++) {
      deft_output o = k < nin ? deft_op_input(op, k)
                              : (deft_output){deft_op_control_input(op, k - nin), -1};
      fprintf(f, "%s%s", k ? ", " : " ", input_name(o, k >= nin, buf, sizeof buf));
    }
    fputc('\n', f);
  }
  return dump_unsupported(f, g, flt, false, false);
}

static bool dump_node(FILE *f, deft_graph *g, const char *name, bool json) {
  deft_op *op = deft_graph_op_by_name(g, name);
  if (!op) {
    fprintf(stderr, "deft: no op named '%s' in the graph\n", name);
    return false;
  }
  char *attr = malloc(ATTR_BUF);
  if (!attr) {
    fprintf(stderr, "deft: out of memory\n");
    return false;
  }
  char buf[4096], shape[256];
  int nin = deft_op_num_inputs(op), nc = deft_op_num_control_inputs(op);
  int nout = deft_op_num_outputs(op), na = deft_op_num_attrs(op);
  if (json) {
    fputs("\"node\": {\"name\": ", f);
    json_str(f, deft_op_name(op));
    fputs(", \"type\": ", f);
    json_str(f, deft_op_type(op));
    fputs(", \"device\": ", f);
    json_str(f, deft_op_device(op));
    fprintf(f, ", \"runnable\": %s, \"inputs\": [", deft_op_has_kernel(op) ? "true" : "false");
    for (int k = 0; k < nin + nc; k++) {
      deft_output o = k < nin ? deft_op_input(op, k)
                              : (deft_output){deft_op_control_input(op, k - nin), -1};
      if (k) fputs(", ", f);
      json_str(f, input_name(o, k >= nin, buf, sizeof buf));
    }
    fputs("], \"outputs\": [", f);
    for (int k = 0; k < nout; k++) {
      deft_output o = deft_op_output(op, k);
      fprintf(f, "%s{\"dtype\": ", k ? ", " : "");
      json_str(f, deft_dtype_name(deft_output_dtype(o)));
      fputs(", \"shape\": ", f);
      json_shape(f, deft_output_shape(o));
      fputs("}", f);
    }
    fputs("], \"attrs\": {", f);
    for (int k = 0; k < na; k++) {
      const char *an = deft_op_attr_name(op, k);
      deft_op_attr_format(op, an, attr, ATTR_BUF);
      if (k) fputs(", ", f);
      json_str(f, an);
      fputs(": ", f);
      json_str(f, attr);
    }
    fputs("}}", f);
  } else {
    fprintf(f, "name:    %s\ntype:    %s%s\n", deft_op_name(op), deft_op_type(op),
            deft_op_has_kernel(op) ? "" : "  (deft cannot run this op type)");
    if (*deft_op_device(op)) fprintf(f, "device:  %s\n", deft_op_device(op));
    for (int k = 0; k < nin + nc; k++) {
      deft_output o = k < nin ? deft_op_input(op, k)
                              : (deft_output){deft_op_control_input(op, k - nin), -1};
      fprintf(f, "input %d: %s\n", k, input_name(o, k >= nin, buf, sizeof buf));
    }
    for (int k = 0; k < nout; k++) {
      deft_output o = deft_op_output(op, k);
      fprintf(f, "output %d: %s %s\n", k, deft_dtype_name(deft_output_dtype(o)),
              deft_shape_format(deft_output_shape(o), shape, sizeof shape));
    }
    for (int k = 0; k < na; k++) {
      const char *an = deft_op_attr_name(op, k);
      deft_op_attr_format(op, an, attr, ATTR_BUF);
      fprintf(f, "attr %s: %s\n", an, attr);
    }
  }
  free(attr);
  return true;
}

/* Collections: each key, kind and members (ops and tensors; the members of collections deft
 * keeps serialized are read from the file: tools/cli/raw_collections.c). */
static bool dump_collections(FILE *f, const loaded *l, const char *path, const char *tag,
                             bool json) {
  deft_graph *g = l->g;
  int nc = deft_graph_num_collections(g);
  char buf[4096];
  if (json) fputs("\"collections\": {", f);
  else fprintf(f, "%d collection%s\n", nc, nc == 1 ? "" : "s");
  for (int i = 0; i < nc; i++) {
    const char *key = deft_graph_collection_key(g, i);
    int nvalues = 0;
    const char *kind = deft_graph_collection_kind(g, key, &nvalues);
    int n = deft_graph_get_collection(g, key, NULL, NULL, 0, NULL);
    deft_output *items = malloc(sizeof *items * (size_t)(n > 0 ? n : 1));
    if (!items) {
      fprintf(stderr, "deft: out of memory\n");
      return false;
    }
    deft_graph_get_collection(g, key, NULL, items, n, NULL);
    char **raw =
        n < nvalues ? cli_raw_collection(path, !strcmp(l->format, "SavedModel"), tag, key) : NULL;
    int nraw = 0;
    while (raw && raw[nraw]) nraw++;
    if (json) {
      fputs(i ? ",\n  " : "\n  ", f);
      json_str(f, key);
      fputs(": {\"kind\": ", f);
      json_str(f, kind ? kind : "");
      fprintf(f, ", \"count\": %d, \"items\": [", nvalues);
      for (int k = 0; k < n; k++) {
        if (k) fputs(", ", f);
        json_str(f, deft_output_format(items[k], buf, sizeof buf));
      }
      fputs("]", f);
      if (n < nvalues) {
        fputs(", \"raw\": [", f);
        for (int k = 0; k < nraw; k++) {
          if (k) fputs(", ", f);
          json_str(f, raw[k]);
        }
        fputs("]", f);
      }
      fputs("}", f);
    } else {
      fprintf(f, "%s (%s, %d value%s)\n", key, kind ? kind : "?", nvalues,
              nvalues == 1 ? "" : "s");
      for (int k = 0; k < n; k++)
        fprintf(f, "  %s\n", deft_output_format(items[k], buf, sizeof buf));
      if (n < nvalues) {
        fprintf(f, "  (%d serialized value%s kept as imported%s)\n", nvalues - n,
                nvalues - n == 1 ? "" : "s", nraw ? ":" : "");
        for (int k = 0; k < nraw; k++) fprintf(f, "  %s\n", raw[k]);
      }
    }
    cli_strings_free(raw);
    free(items);
  }
  if (json) fputs("\n}", f);
  return true;
}

/* With a checkpoint: the stored dtype/shape and a value summary (min, max, mean) of one variable,
 * or why there is none. */
static bool checkpoint_summary(FILE *f, deft_checkpoint_reader *r, const char *name, bool json,
                               deft_code *error) {
  deft_dtype dt;
  deft_shape sh;
  char shape_buf[256];
  if (!deft_checkpoint_reader_lookup(r, name, &dt, &sh)) {
    if (json) fputs(", \"stored\": null", f);
    else fprintf(f, "    stored: missing from the checkpoint\n");
    return true;
  }
  deft_shape_format(sh, shape_buf, sizeof shape_buf);
  deft_status *st = deft_status_new();
  deft_tensor *t = st ? deft_checkpoint_reader_read(r, name, st) : NULL;
  double lo = 0, hi = 0, sum = 0;
  int64_t n = t ? deft_tensor_num_elements(t) : 0;
  bool numeric = t && dt != DEFT_STRING;
  for (int64_t i = 0; numeric && i < n; i++) {
    double v = deft_tensor_get_double(t, i);
    if (i == 0 || v < lo) lo = v;
    if (i == 0 || v > hi) hi = v;
    sum += v;
  }
  if (json) {
    fputs(", \"stored\": {\"dtype\": ", f);
    json_str(f, deft_dtype_name(dt));
    fputs(", \"shape\": ", f);
    json_shape(f, sh);
    if (!t) {
      fputs(", \"error\": ", f);
      json_str(f, deft_status_message(st));
    } else if (numeric && n) {
      fprintf(f, ", \"min\": %.9g, \"max\": %.9g, \"mean\": %.9g", lo, hi, sum / n);
    }
    fputs("}", f);
  } else if (!t) {
    fprintf(f, "    stored: %s %s, unreadable: %s\n", deft_dtype_name(dt), shape_buf,
            deft_status_message(st));
  } else if (numeric && n) {
    fprintf(f, "    stored: %s %s  min %.6g  max %.6g  mean %.6g\n", deft_dtype_name(dt),
            shape_buf, lo, hi, sum / n);
  } else {
    fprintf(f, "    stored: %s %s\n", deft_dtype_name(dt), shape_buf);
  }
  bool ok = t != NULL;
  if (!ok && *error == DEFT_OK) *error = st ? deft_status_code(st) : DEFT_RESOURCE_EXHAUSTED;
  deft_tensor_free(t);
  deft_status_free(st);
  return ok;
}

/* Lists the variables (--scope/--op-type apply). With a checkpoint, a variable whose stored
 * tensor cannot be read (a corrupt file: DATA_LOSS) is reported in place and makes the dump fail
 * once every variable is listed (*ckpt_error gets the first failure's code). */
static bool dump_variables(FILE *f, deft_graph *g, bool json, deft_checkpoint_reader *ckpt,
                           const op_filter *flt, deft_code *ckpt_error) {
  int n = deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, NULL, 0, NULL);
  int nops = deft_graph_num_ops(g);
  deft_op **vars = malloc(sizeof *vars * (size_t)(nops + n + 1));
  deft_output *items = malloc(sizeof *items * (size_t)(n + 1));
  if (!vars || !items) {
    free(vars);
    free(items);
    fprintf(stderr, "deft: out of memory\n");
    return false;
  }
  deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, items, n, NULL);
  int nv = 0;
  for (int i = 0; i < n; i++)
    if (filter_match(flt, items[i].op)) vars[nv++] = items[i].op;
  if (n == 0) /* no collection (a GraphDef): every variable op */
    for (int i = 0; i < nops; i++)
      if (deft_op_is_variable(deft_graph_op_at(g, i)) && filter_match(flt, deft_graph_op_at(g, i)))
        vars[nv++] = deft_graph_op_at(g, i);
  int64_t total = 0;
  bool total_known = true;
  char shape_buf[256];
  if (json) fputs("\"variables\": [", f);
  int wname = 8, wshape = 5; /* column widths: the longest name and shape (capped) */
  for (int i = 0; i < nv && !json; i++) {
    deft_shape shape = deft_shape_unknown();
    if (!deft_op_attr_shape(vars[i], "shape", &shape))
      shape = deft_output_shape(deft_op_output(vars[i], 0));
    int a = (int)strlen(deft_op_name(vars[i]));
    int b = (int)strlen(deft_shape_format(shape, shape_buf, sizeof shape_buf));
    if (a > wname) wname = a < NAME_COL_MAX ? a : NAME_COL_MAX;
    if (b > wshape) wshape = b < OUT_COL_MAX ? b : OUT_COL_MAX;
  }
  if (!json)
    fprintf(f, "%-*s %-8s %-*s %12s  %s\n", wname, "variable", "dtype", wshape, "shape",
            "parameters", "trainable");
  for (int i = 0; i < nv; i++) {
    deft_op *v = vars[i];
    deft_dtype dtype = DEFT_INVALID_DTYPE;
    deft_shape shape = deft_shape_unknown();
    if (!deft_op_attr_type(v, "dtype", &dtype)) dtype = deft_output_dtype(deft_op_output(v, 0));
    if (!deft_op_attr_shape(v, "shape", &shape)) shape = deft_output_shape(deft_op_output(v, 0));
    int64_t count = deft_shape_num_elements(shape);
    if (count < 0) total_known = false;
    else total += count;
    deft_shape_format(shape, shape_buf, sizeof shape_buf);
    bool trainable = deft_variable_trainable(v);
    if (json) {
      fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
      json_str(f, deft_op_name(v));
      fputs(", \"dtype\": ", f);
      json_str(f, deft_dtype_name(dtype));
      fputs(", \"shape\": ", f);
      json_shape(f, shape);
      fprintf(f, ", \"parameters\": %" PRId64 ", \"trainable\": %s", count,
              trainable ? "true" : "false");
      if (ckpt) checkpoint_summary(f, ckpt, deft_op_name(v), true, ckpt_error);
      fputs("}", f);
    } else if (count >= 0) {
      fprintf(f, "%-*s %-8s %-*s %12" PRId64 "  %s\n", wname, deft_op_name(v),
              deft_dtype_name(dtype), wshape, shape_buf, count, trainable ? "yes" : "no");
    } else {
      fprintf(f, "%-*s %-8s %-*s %12s  %s\n", wname, deft_op_name(v), deft_dtype_name(dtype),
              wshape, shape_buf, "?", trainable ? "yes" : "no");
    }
    if (ckpt && !json) checkpoint_summary(f, ckpt, deft_op_name(v), false, ckpt_error);
  }
  if (json) {
    fprintf(f, "\n],\n\"total_parameters\": %" PRId64, total_known ? total : -1);
  } else {
    fprintf(f, "%d variable%s, %s%" PRId64 " parameters\n", nv, nv == 1 ? "" : "s",
            total_known ? "" : "at least ", total);
  }
  free(vars);
  free(items);
  return true;
}

/* The graph's shape of a signature's tensor (the shape deft inferred at import; TF's
 * TensorInfo records the same static shape), unknown when the tensor is not in the graph. */
static deft_shape tensor_shape(deft_graph *g, const char *tensor) {
  deft_status *st = deft_status_new();
  deft_output o = st && tensor ? deft_graph_tensor_by_name(g, tensor, st) : (deft_output){0};
  deft_status_free(st);
  return o.op ? deft_output_shape(o) : deft_shape_unknown();
}

/* Signatures as `saved_model_cli show --all` prints them (text), or as JSON. */
static bool dump_signatures(FILE *f, const loaded *l, bool json) {
  const deft_meta_graph_info *info = l->info;
  int n = info ? deft_meta_graph_info_num_signatures(info) : 0;
  char dtbuf[64], shbuf[256];
  if (json) {
    fputs("\"signatures\": {", f);
  } else {
    fprintf(f, "%d signature%s\n", n, n == 1 ? "" : "s");
    int nt = info ? deft_meta_graph_info_num_tags(info) : 0;
    if (nt) {
      fputs("MetaGraphDef with tag-set: '", f);
      for (int i = 0; i < nt; i++)
        fprintf(f, "%s%s", i ? ", " : "", deft_meta_graph_info_tag(info, i));
      fputs("' contains the following SignatureDefs:\n", f);
    }
  }
  for (int i = 0; i < n; i++) {
    const char *key = deft_meta_graph_info_signature_key(info, i);
    const char *method = deft_meta_graph_info_signature_method(info, key, NULL);
    int nin = deft_meta_graph_info_signature_num_inputs(info, key, NULL);
    int nout = deft_meta_graph_info_signature_num_outputs(info, key, NULL);
    if (json) {
      fputs(i ? ",\n  " : "\n  ", f);
      json_str(f, key);
      fputs(": {\"method\": ", f);
      json_str(f, method ? method : "");
    } else {
      fprintf(f, "\nsignature_def['%s']:\n", key);
    }
    for (int side = 0; side < 2; side++) {
      int m = side ? nout : nin;
      if (json)
        fprintf(f, ", \"%s\": {", side ? "outputs" : "inputs");
      else
        fprintf(f, "  The given SavedModel SignatureDef contains the following %s(s):\n",
                side ? "output" : "input");
      for (int k = 0; k < m; k++) {
        const char *ik = side ? deft_meta_graph_info_signature_output_key(info, key, k)
                              : deft_meta_graph_info_signature_input_key(info, key, k);
        deft_dtype dt = DEFT_INVALID_DTYPE;
        const char *tensor =
            side ? deft_meta_graph_info_signature_output(info, key, ik, &dt, NULL)
                 : deft_meta_graph_info_signature_input(info, key, ik, &dt, NULL);
        deft_shape shape = tensor_shape(l->g, tensor);
        if (json) {
          if (k) fputs(", ", f);
          json_str(f, ik);
          fputs(": {\"tensor\": ", f);
          json_str(f, tensor ? tensor : "");
          fputs(", \"dtype\": ", f);
          json_str(f, deft_dtype_name(dt));
          fputs(", \"shape\": ", f);
          json_shape(f, shape);
          fputs("}", f);
        } else {
          fprintf(f,
                  "    %s['%s'] tensor_info:\n        dtype: %s\n        shape: %s\n"
                  "        name: %s\n",
                  side ? "outputs" : "inputs", ik, tf_dtype_name(dt, dtbuf, sizeof dtbuf),
                  cli_shape(shape, shbuf, sizeof shbuf), tensor ? tensor : "");
        }
      }
      if (json) fputs("}", f);
    }
    if (json) fputs("}", f);
    else
      fprintf(f, "  Method name is: %s\n", method ? method : "");
  }
  if (json) fputs("\n}", f);
  return true;
}

/* The graph in Graphviz form: the ops flt selects and the edges between them. */
static void dump_dot(FILE *f, deft_graph *g, const op_filter *flt) {
  int n = deft_graph_num_ops(g);
  fputs("digraph deft {\n  node [shape=box, fontsize=10];\n", f);
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!filter_match(flt, op)) continue;
    fputs("  ", f);
    dot_str(f, deft_op_name(op));
    fputs(" [label=", f);
    char label[2048];
    snprintf(label, sizeof label, "%s\n%s", deft_op_name(op), deft_op_type(op));
    fputc('"', f);
    for (const char *s = label; *s; s++) {
      if (*s == '\n') fputs("\\n", f);
      else {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
      }
    }
    fputc('"', f);
    if (!deft_op_has_kernel(op)) fputs(", style=filled, fillcolor=\"#f4c2c2\"", f);
    fputs("];\n", f);
  }
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    if (!filter_match(flt, op)) continue;
    for (int k = 0; k < deft_op_num_inputs(op); k++) {
      deft_output in = deft_op_input(op, k);
      if (!filter_match(flt, in.op)) continue;
      fputs("  ", f);
      dot_str(f, deft_op_name(in.op));
      fputs(" -> ", f);
      dot_str(f, deft_op_name(op));
      if (in.index) fprintf(f, " [label=\"%d\"]", in.index);
      fputs(";\n", f);
    }
    for (int k = 0; k < deft_op_num_control_inputs(op); k++) {
      if (!filter_match(flt, deft_op_control_input(op, k))) continue;
      fputs("  ", f);
      dot_str(f, deft_op_name(deft_op_control_input(op, k)));
      fputs(" -> ", f);
      dot_str(f, deft_op_name(op));
      fputs(" [style=dashed];\n", f);
    }
  }
  fputs("}\n", f);
}

/* ---- subcommands ---- */

static const char *prog = "deft";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nrun '%s help' for usage\n", prog);
  return 2;
}

static int command_help(const char *name);

/* The usage error for what getopt_long returned (opterr 0, optstring ":"): an unknown option or
 * a missing value, naming the option as given. */
static int getopt_error(const char *cmd, int c, char **argv) {
  const char *given = argv[optind - 1];
  if (c == ':')
    fprintf(stderr, "%s: option '%s' needs a value", prog, given);
  else
    fprintf(stderr, "%s: unknown option '%s' for %s", prog, given, cmd);
  fprintf(stderr, "\nrun '%s help %s' for usage\n", prog, cmd);
  return 2;
}

/* Separates sections: a comma in JSON, a blank line in text. */
static void sep(FILE *f, bool json, bool *first) {
  if (json) fputs(",\n", f);
  else if (!*first) fputc('\n', f);
  *first = false;
}

static int cmd_dump(int argc, char **argv) {
  const char *path = NULL, *node = NULL, *tag = NULL, *checkpoint = NULL;
  bool json = false, dot = false, collections = false, variables = false, signatures = false;
  bool html = false, unsupported = false;
  op_filter flt = {NULL, NULL};
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                       {"html", no_argument, NULL, 'H'},
                                       {"dot", no_argument, NULL, 'd'},
                                       {"collections", no_argument, NULL, 'c'},
                                       {"variables", no_argument, NULL, 'v'},
                                       {"signatures", no_argument, NULL, 's'},
                                       {"node", required_argument, NULL, 'n'},
                                       {"tag", required_argument, NULL, 't'},
                                       {"checkpoint", required_argument, NULL, 'k'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"scope", required_argument, NULL, 'S'},
                                       {"op-type", required_argument, NULL, 'O'},
                                       {"unsupported", no_argument, NULL, 'u'},
                                       {NULL, 0, NULL, 0}};
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    switch (c) {
      case 'j': json = true; break;
      case 'H': html = true; break;
      case 'd': dot = true; break;
      case 'c': collections = true; break;
      case 'v': variables = true; break;
      case 's': signatures = true; break;
      case 'n': node = optarg; break;
      case 't': tag = optarg; break;
      case 'k': checkpoint = optarg; break;
      case 'S':
        flt.scope = optarg;
        break;
      case 'O':
        flt.types = optarg;
        break;
      case 'u':
        unsupported = true;
        break;
      case 'h': return command_help("dump");
      default: return getopt_error("dump", c, argv);
    }
  }
  for (; optind < argc; optind++) {
    if (path) return usage_error("dump takes one PATH (got another: '%s')", argv[optind]);
    path = argv[optind];
  }
  if (!path) return usage_error("%s", "dump needs a PATH");
  if (dot && (json || node || collections || variables || signatures || unsupported))
    return usage_error("%s", "--dot cannot be combined with other output options");
  if (html && (dot || json || node || collections || variables || signatures || unsupported ||
               filter_active(&flt)))
    return usage_error("%s", "--html cannot be combined with other output options");
  if (checkpoint && !variables && !html)
    return usage_error("%s", "--checkpoint goes with --variables or --html");
  deft_status *st = deft_status_new();
  if (!st) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  loaded l;
  if (!load(path, tag, &l, st)) {
    fprintf(stderr, "%s: %s: %s\n", prog, deft_code_name(deft_status_code(st)),
            deft_status_message(st));
    deft_status_free(st);
    return 1;
  }
  deft_checkpoint_reader *ckpt = NULL;
  char prefix[4096];
  if (checkpoint && !checkpoint_prefix(checkpoint, prefix, sizeof prefix, st)) {
    fprintf(stderr, "%s: %s: %s\n", prog, deft_code_name(deft_status_code(st)),
            deft_status_message(st));
    deft_status_free(st);
    unload(&l);
    return 1;
  }
  if (checkpoint && !(ckpt = deft_checkpoint_reader_open(prefix, st))) {
    fprintf(stderr, "%s: %s: %s\n", prog, deft_code_name(deft_status_code(st)),
            deft_status_message(st));
    deft_status_free(st);
    unload(&l);
    return 1;
  }
  deft_status_free(st);
  if (signatures && !l.info) {
    fprintf(stderr, "%s: '%s' is a GraphDef, which has no signatures\n", prog, path);
    unload(&l);
    return 1;
  }
  FILE *f = stdout;
  bool ok = true;
  deft_code ckpt_error = DEFT_OK;
  if (html) {
    ok = deft_tool_dump_html(f, l.g, ckpt, path);
  } else if (dot) {
    dump_dot(f, l.g, &flt);
  } else {
    bool ops = !node && !collections && !variables && !signatures && !unsupported;
    bool first = true;
    if (json) {
      fputs("{\"path\": ", f);
      json_str(f, path);
      fputs(", \"format\": ", f);
      json_str(f, l.format);
      fprintf(f, ", \"num_ops\": %d", deft_graph_num_ops(l.g));
      first = false;
    }
    if (ops) sep(f, json, &first), ok = dump_ops(f, &l, path, &flt, json);
    if (ok && unsupported) sep(f, json, &first), ok = dump_unsupported(f, l.g, &flt, json, true);
    if (ok && node) sep(f, json, &first), ok = dump_node(f, l.g, node, json);
    if (ok && collections) sep(f, json, &first), ok = dump_collections(f, &l, path, tag, json);
    if (ok && variables)
      sep(f, json, &first), ok = dump_variables(f, l.g, json, ckpt, &flt, &ckpt_error);
    if (ok && signatures) sep(f, json, &first), ok = dump_signatures(f, &l, json);
    if (json) fputs("}\n", f);
  }
  deft_checkpoint_reader_free(ckpt);
  unload(&l);
  if (fflush(f) != 0 || ferror(f)) {
    fprintf(stderr, "%s: error writing the output\n", prog);
    return 1;
  }
  if (ok && ckpt_error != DEFT_OK) {
    fprintf(stderr, "%s: %s: checkpoint %s has variables that cannot be read (listed above)\n",
            prog, deft_code_name(ckpt_error), prefix);
    return 1;
  }
  return ok ? 0 : 1;
}

/* ---- run ---- */

#define RUN_EDGE 3          /* summarized arrays show this many items at each end of a dim */
#define RUN_THRESHOLD 1000  /* arrays of more elements are summarized (numpy's default) */
#define RUN_WIDTH 75        /* line width for wrapping the innermost dim (numpy's default) */

/* One element of t as text (numpy-like: floats shortest-ish, bools True/False). */
static void format_elem(const deft_tensor *t, int64_t i, char *buf, size_t size) {
  const void *d = deft_tensor_data(t);
  switch (deft_tensor_dtype(t)) {
    case DEFT_FLOAT: snprintf(buf, size, "%.7g", (double)((const float *)d)[i]); break;
    case DEFT_DOUBLE: snprintf(buf, size, "%.15g", ((const double *)d)[i]); break;
    case DEFT_INT32: snprintf(buf, size, "%" PRId32, ((const int32_t *)d)[i]); break;
    case DEFT_UINT8:
    case DEFT_QUINT8: snprintf(buf, size, "%u", (unsigned)((const uint8_t *)d)[i]); break;
    case DEFT_QINT8: snprintf(buf, size, "%d", (int)((const int8_t *)d)[i]); break;
    case DEFT_QINT32: snprintf(buf, size, "%" PRId32, ((const int32_t *)d)[i]); break;
    case DEFT_INT64: snprintf(buf, size, "%" PRId64, ((const int64_t *)d)[i]); break;
    case DEFT_BOOL: snprintf(buf, size, "%s", ((const uint8_t *)d)[i] ? "True" : "False"); break;
    case DEFT_STRING: {
      size_t len = 0, n = 0;
      const char *s = deft_tensor_string(t, i, &len);
      n += (size_t)snprintf(buf, size, "b'");
      for (size_t k = 0; s && k < len && n + 8 < size; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '\'' || c == '\\') n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f) buf[n++] = (char)c, buf[n] = 0;
        else n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
      }
      if (s && n + 8 >= size) snprintf(buf + n, size - n, "...");
      n = strlen(buf);
      snprintf(buf + n, size - n, "'");
      break;
    }
    default: snprintf(buf, size, "?");
  }
}

typedef struct value_printer {
  FILE *f;
  const deft_tensor *t;
  int rank;
  bool summarize;
  int col;
} value_printer;

static void print_dim(value_printer *p, int d, int64_t offset) {
  int64_t n = deft_tensor_dim(p->t, d), stride = 1;
  for (int k = d + 1; k < p->rank; k++) stride *= deft_tensor_dim(p->t, k);
  fputc('[', p->f);
  p->col = d + 1;
  bool last = d == p->rank - 1;
  char buf[256];
  for (int64_t i = 0; i < n; i++) {
    bool dots = p->summarize && n > 2 * RUN_EDGE && i == RUN_EDGE;
    if (last) {
      if (dots) snprintf(buf, sizeof buf, "...");
      else format_elem(p->t, offset + i, buf, sizeof buf);
      int len = (int)strlen(buf);
      if (i > 0) {
        if (p->col + 1 + len + 1 > RUN_WIDTH) {
          fprintf(p->f, "\n%*s", d + 1, "");
          p->col = d + 1;
        } else {
          fputc(' ', p->f);
          p->col++;
        }
      }
      fputs(buf, p->f);
      p->col += len;
    } else {
      if (i > 0) {
        for (int k = 0; k < p->rank - d - 1; k++) fputc('\n', p->f);
        fprintf(p->f, "%*s", d + 1, "");
        p->col = d + 1;
      }
      if (dots) {
        fputs("...", p->f);
        p->col += 3;
      } else {
        print_dim(p, d + 1, offset + i * stride);
      }
    }
    if (dots) i = n - RUN_EDGE - 1;
  }
  fputc(']', p->f);
  p->col++;
}

/* Prints t's values like numpy's repr of an array (without "array(...)"). */
static void print_values(FILE *f, const deft_tensor *t) {
  value_printer p = {f, t, deft_tensor_rank(t), deft_tensor_num_elements(t) > RUN_THRESHOLD, 0};
  char buf[256];
  if (p.rank == 0) {
    format_elem(t, 0, buf, sizeof buf);
    fputs(buf, f);
  } else {
    print_dim(&p, 0, 0);
  }
  fputc('\n', f);
}

/* "eval/accuracy:0" -> "eval_accuracy_0": characters other than [A-Za-z0-9._-] become '_'. */
static void sanitize(const char *name, char *buf, size_t size) {
  size_t n = 0;
  for (; *name && n + 1 < size; name++)
    buf[n++] = (isalnum((unsigned char)*name) || *name == '.' || *name == '-') ? *name : '_';
  buf[n] = 0;
  if (n == 0 || !strcmp(buf, ".") || !strcmp(buf, "..")) snprintf(buf, size, "tensor");
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Restores the variables of l's graph from prefix through the graph's own SaverDef (TF's default
 * names "save/Const:0", "save/control_dependency:0", "save/restore_all" when the file has none).
 * A directory as prefix means its latest checkpoint. */
static bool restore(const loaded *l, deft_session *sess, const char *prefix, deft_status *st) {
  char buf[4096];
  if (!checkpoint_prefix(prefix, buf, sizeof buf, st)) return false;
  prefix = buf;
  bool has = l->info && deft_meta_graph_info_has_saver(l->info);
  deft_saver *sv = deft_saver_from_names(
      l->g, has ? deft_meta_graph_info_filename_tensor(l->info) : "save/Const:0",
      has ? deft_meta_graph_info_save_tensor(l->info) : "save/control_dependency:0",
      has ? deft_meta_graph_info_restore_op(l->info) : "save/restore_all", 0, st);
  bool ok = sv != NULL;
  if (!ok)
    deft_status_prefix(st, "--checkpoint: the %s has %s", l->format,
                       has ? "a SaverDef naming missing nodes"
                           : "no SaverDef and no save/restore ops of TF's default names");
  else if (!(ok = deft_saver_restore(sv, sess, prefix, st)))
    deft_status_prefix(st, "restoring checkpoint %s", prefix);
  deft_saver_free(sv);
  return ok;
}

typedef struct run_args {
  const char *path, *checkpoint, *out, *signature, *tag;
  const char **feeds, **fetches, **targets, **allow; /* as given on the command line */
  int nfeeds, nfetches, ntargets, nallow;
} run_args;

typedef struct run_state {
  loaded l;
  deft_session *sess;
  deft_output *feed_t, *fetch_t;
  deft_tensor **feed_v, **fetch_v;
  deft_op **target_ops;
  const char **fetch_names; /* what to call each fetch (signature output key or tensor name) */
  int nfetches;
} run_state;

static int fail(deft_status *st) {
  fprintf(stderr, "%s: %s: %s\n", prog, deft_code_name(deft_status_code(st)),
          deft_status_message(st));
  return 1;
}

/* Resolves a --feed/--fetch name to a tensor: a signature key when a signature is given, else
 * a tensor name ("x:0" or "x"). */
static bool resolve(const run_args *a, const loaded *l, const char *name, bool input,
                    deft_output *out, deft_status *st) {
  const char *tensor = name;
  if (a->signature) {
    tensor = input ? deft_meta_graph_info_signature_input(l->info, a->signature, name, NULL, st)
                   : deft_meta_graph_info_signature_output(l->info, a->signature, name, NULL, st);
    if (!tensor) return false;
  }
  deft_op *op = deft_graph_op_by_name(l->g, tensor);
  if (op && deft_op_num_outputs(op) == 0) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "'%s' is an op with no outputs (%s): %s", tensor,
                    deft_op_type(op),
                    input ? "there is nothing to feed"
                          : "nothing to fetch; run it with --target instead of --fetch");
    return false;
  }
  *out = deft_graph_tensor_by_name(l->g, tensor, st);
  if (!out->op) {
    cli_suggest_name(l->g, tensor, st);
    if (a->signature)
      deft_status_prefix(st, "signature '%s' %s '%s' is tensor '%s'", a->signature,
                         input ? "input" : "output", name, tensor);
    return false;
  }
  return true;
}

static int run_prepare(const run_args *a, run_state *r, deft_status *st) {
  if (!load(a->path, a->tag, &r->l, st)) return fail(st);
  const loaded *l = &r->l;
  if (a->signature) {
    if (!l->info) {
      fprintf(stderr, "%s: '%s' is a GraphDef, which has no signatures\n", prog, a->path);
      return 1;
    }
    if (!deft_meta_graph_info_signature_method(l->info, a->signature, st)) return fail(st);
  }
  int nfetch = a->nfetches;
  if (a->signature && nfetch == 0)
    nfetch = deft_meta_graph_info_signature_num_outputs(l->info, a->signature, st);
  if (nfetch < 0) return fail(st);
  r->nfetches = nfetch;
  size_t nf = (size_t)a->nfeeds + 1, no = (size_t)nfetch + 1, nt = (size_t)a->ntargets + 1;
  r->feed_t = calloc(nf, sizeof *r->feed_t);
  r->feed_v = calloc(nf, sizeof *r->feed_v);
  r->fetch_t = calloc(no, sizeof *r->fetch_t);
  r->fetch_v = calloc(no, sizeof *r->fetch_v);
  r->fetch_names = calloc(no, sizeof *r->fetch_names);
  r->target_ops = calloc(nt, sizeof *r->target_ops);
  if (!r->feed_t || !r->feed_v || !r->fetch_t || !r->fetch_v || !r->fetch_names ||
      !r->target_ops) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  char name[1024];
  for (int i = 0; i < a->nfeeds; i++) {
    const char *eq = strchr(a->feeds[i], '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - a->feeds[i]), a->feeds[i]);
    if (!resolve(a, l, name, true, &r->feed_t[i], st)) {
      deft_status_prefix(st, "--feed %s", a->feeds[i]);
      return fail(st);
    }
    for (int j = 0; j < i; j++)
      if (r->feed_t[j].op == r->feed_t[i].op && r->feed_t[j].index == r->feed_t[i].index) {
        fprintf(stderr, "%s: --feed %s: tensor '%s' is fed twice\n", prog, a->feeds[i], name);
        return 1;
      }
  }
  for (int i = 0; i < nfetch; i++) {
    const char *fname = i < a->nfetches
                            ? a->fetches[i]
                            : deft_meta_graph_info_signature_output_key(l->info, a->signature, i);
    r->fetch_names[i] = fname;
    if (!resolve(a, l, fname, false, &r->fetch_t[i], st)) {
      deft_status_prefix(st, "--fetch %s", fname);
      return fail(st);
    }
  }
  for (int i = 0; i < a->ntargets; i++) {
    r->target_ops[i] = deft_graph_op_by_name(l->g, a->targets[i]);
    if (!r->target_ops[i]) {
      deft_status_set(st, DEFT_NOT_FOUND, "--target %s: no op named '%s' in the graph",
                      a->targets[i], a->targets[i]);
      cli_suggest_name(l->g, a->targets[i], st);
      return fail(st);
    }
  }
  for (int i = 0; i < a->nfeeds; i++) {
    r->feed_v[i] =
        cli_feed_value(strchr(a->feeds[i], '=') + 1, deft_output_dtype(r->feed_t[i]), st);
    if (!r->feed_v[i]) {
      deft_status_prefix(st, "--feed %s", a->feeds[i]);
      return fail(st);
    }
  }
  /* An imported graph is untrusted: its file ops stay in the model's and the checkpoint's
   * directories (and the --allow-dir ones). */
  deft_session_options *o = deft_session_options_new();
  if (!o) return fail(st);
  const char *dirs[2] = {a->path, a->checkpoint};
  bool allowed = true;
  for (int i = 0; i < 2 && allowed; i++) {
    if (!dirs[i]) continue;
    char d[4096];
    struct stat sb;
    if (stat(dirs[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
      snprintf(d, sizeof d, "%s", dirs[i]);
    } else {
      const char *slash = strrchr(dirs[i], '/');
      if (!slash) snprintf(d, sizeof d, ".");
      else snprintf(d, sizeof d, "%.*s", slash == dirs[i] ? 1 : (int)(slash - dirs[i]), dirs[i]);
    }
    allowed = deft_session_options_allow_dir(o, d);
    if (!allowed) deft_status_set(st, DEFT_NOT_FOUND, "cannot resolve directory '%s'", d);
  }
  for (int i = 0; i < a->nallow && allowed; i++) {
    allowed = deft_session_options_allow_dir(o, a->allow[i]);
    if (!allowed)
      deft_status_set(st, DEFT_NOT_FOUND, "--allow-dir %s: not a directory", a->allow[i]);
  }
  r->sess = allowed ? deft_session_new_with_options(r->l.g, o, st) : NULL;
  deft_session_options_free(o);
  if (!r->sess) return fail(st);
  if (a->checkpoint) {
    if (!restore(l, r->sess, a->checkpoint, st)) return fail(st);
  } else if (!strcmp(l->format, "SavedModel")) {
    /* a SavedModel's variables live in <dir>/variables/variables */
    char prefix[4096], index[4200];
    struct stat sb;
    bool dir = stat(a->path, &sb) == 0 && S_ISDIR(sb.st_mode);
    const char *slash = strrchr(a->path, '/');
    int dlen = dir ? (int)strlen(a->path) : slash ? (int)(slash - a->path) : 1;
    snprintf(prefix, sizeof prefix, "%.*s/variables/variables", dlen,
             dir || slash ? a->path : ".");
    snprintf(index, sizeof index, "%s.index", prefix);
    if (file_exists(index) && !restore(l, r->sess, prefix, st)) return fail(st);
  }
  return 0;
}

static void run_state_free(run_state *r, const run_args *a) {
  for (int i = 0; r->feed_v && i < a->nfeeds; i++) deft_tensor_free(r->feed_v[i]);
  for (int i = 0; r->fetch_v && i < r->nfetches; i++) deft_tensor_free(r->fetch_v[i]);
  free(r->feed_t);
  free(r->feed_v);
  free(r->fetch_t);
  free(r->fetch_v);
  free(r->fetch_names);
  free(r->target_ops);
  deft_session_free(r->sess);
  if (r->l.g) unload(&r->l);
}

/* Writes fetch i to DIR/<sanitized name>.npy (a suffix "_<i>" when two names collide). */
static bool write_fetch(const run_args *a, run_state *r, int i, deft_status *st) {
  char base[1024], other[1024], path[4096];
  sanitize(r->fetch_names[i], base, sizeof base);
  for (int j = 0; j < i; j++) {
    sanitize(r->fetch_names[j], other, sizeof other);
    if (!strcmp(base, other)) {
      size_t n = strlen(base);
      snprintf(base + n, sizeof base - n, "_%d", i);
      break;
    }
  }
  snprintf(path, sizeof path, "%s/%s.npy", a->out, base);
  if (!deft_npy_write(path, r->fetch_v[i], st)) {
    deft_status_prefix(st, "--out: writing %s", r->fetch_names[i]);
    return false;
  }
  printf("wrote %s\n", path);
  return true;
}

static int cmd_run(int argc, char **argv) {
  run_args a = {0};
  a.feeds = calloc((size_t)argc + 1, sizeof *a.feeds);
  a.fetches = calloc((size_t)argc + 1, sizeof *a.fetches);
  a.targets = calloc((size_t)argc + 1, sizeof *a.targets);
  a.allow = calloc((size_t)argc + 1, sizeof *a.allow);
  run_state r;
  memset(&r, 0, sizeof r);
  deft_status *st = deft_status_new();
  int rc = 0;
  if (!a.feeds || !a.fetches || !a.targets || !a.allow || !st) {
    fprintf(stderr, "%s: out of memory\n", prog);
    rc = 1;
    goto done;
  }
  static const struct option opts[] = {
      {"checkpoint", required_argument, NULL, 'k'}, {"feed", required_argument, NULL, 'f'},
      {"fetch", required_argument, NULL, 'F'},      {"target", required_argument, NULL, 'T'},
      {"out", required_argument, NULL, 'o'},        {"signature", required_argument, NULL, 's'},
      {"tag", required_argument, NULL, 't'},        {"allow-dir", required_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
  int c;
  optind = 1;
  opterr = 0;
  while (!rc && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    const char *v = optarg;
    switch (c) {
      case 'k': a.checkpoint = v; break;
      case 'o': a.out = v; break;
      case 's': a.signature = v; break;
      case 't': a.tag = v; break;
      case 'F': a.fetches[a.nfetches++] = v; break;
      case 'T': a.targets[a.ntargets++] = v; break;
      case 'a': a.allow[a.nallow++] = v; break;
      case 'f': {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1] || eq - v >= 1000)
          rc = usage_error(
              "--feed '%s' is not NAME=VALUE (FILE.npy, FILE.npz[KEY] or an "
              "expression)",
              v);
        a.feeds[a.nfeeds++] = v;
        break;
      }
      case 'h': rc = command_help("run"); goto done;
      default: rc = getopt_error("run", c, argv); break;
    }
  }
  for (; !rc && optind < argc; optind++) {
    if (a.path) rc = usage_error("run takes one PATH (got another: '%s')", argv[optind]);
    else a.path = argv[optind];
  }
  if (rc) goto done;
  if (!a.path) {
    rc = usage_error("%s", "run needs a PATH");
    goto done;
  }
  if (!a.signature && a.nfetches == 0 && a.ntargets == 0) {
    rc = usage_error("%s", "run needs a --fetch, a --target or a --signature");
    goto done;
  }
  if (a.out) {
    struct stat sb;
    if (stat(a.out, &sb) != 0 && mkdir(a.out, 0777) != 0) {
      fprintf(stderr, "%s: --out: cannot create directory '%s'\n", prog, a.out);
      rc = 1;
      goto done;
    }
    if (stat(a.out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
      fprintf(stderr, "%s: --out: '%s' is not a directory\n", prog, a.out);
      rc = 1;
      goto done;
    }
  }
  rc = run_prepare(&a, &r, st);
  if (rc) goto done;
  if (!deft_session_run(r.sess, r.feed_t, (const deft_tensor *const *)r.feed_v, a.nfeeds, r.fetch_t,
                        r.fetch_v, r.nfetches, r.target_ops, a.ntargets, st)) {
    rc = fail(st);
    goto done;
  }
  char tname[1024], shape[256];
  for (int i = 0; i < r.nfetches; i++) {
    const deft_tensor *t = r.fetch_v[i];
    deft_output_format(r.fetch_t[i], tname, sizeof tname);
    deft_shape_format(deft_tensor_shape(t), shape, sizeof shape);
    if (strcmp(tname, r.fetch_names[i])) printf("%s (%s): ", r.fetch_names[i], tname);
    else printf("%s: ", tname);
    printf("dtype %s, shape %s\n", deft_dtype_name(deft_tensor_dtype(t)), shape);
    print_values(stdout, t);
    if (a.out && !write_fetch(&a, &r, i, st)) {
      rc = fail(st);
      goto done;
    }
  }
  for (int i = 0; i < a.ntargets; i++) printf("ran %s\n", a.targets[i]);
done:
  run_state_free(&r, &a);
  deft_status_free(st);
  free(a.feeds);
  free(a.fetches);
  free(a.targets);
  free(a.allow);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "%s: error writing the output\n", prog);
    return rc ? rc : 1;
  }
  return rc;
}

static int cmd_help(int argc, char **argv);

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} command;

static const command commands[] = {
    {"dump", cmd_dump,
     "dump PATH [--node NAME] [--collections] [--variables [--checkpoint PREFIX]] [--signatures]\n"
     "         [--unsupported] [--scope PREFIX] [--op-type TYPE[,TYPE...]]\n"
     "         [--json] [--dot] [--html [--checkpoint PREFIX]] [--tag TAG]\n"
     "      Show a TF 1.x graph file: PATH is a .meta (MetaGraphDef), a SavedModel directory or\n"
     "      its saved_model.pb (--tag selects the meta graph, default \"serve\"), or a GraphDef\n"
     "      (.pb), binary or text (.pbtxt, saved_model.pbtxt). Lists ops in graph order with\n"
     "      their output dtypes and shapes (as deft infers them) and inputs ('*' marks ops deft\n"
     "      cannot run; the op types it cannot run are counted at the end), or the requested\n"
     "      sections: one node's attrs, collections (with raw ones' members), variables with\n"
     "      parameter counts (with --checkpoint: stored values; a tensor that cannot be read\n"
     "      makes the exit status 1), SavedModel signatures as saved_model_cli show --all prints\n"
     "      them, --unsupported the op types deft cannot run with counts. --scope keeps the ops\n"
     "      whose names start with PREFIX, --op-type those of the listed types (ops, variables,\n"
     "      --dot). --json prints the same as JSON (shapes as arrays, null for an unknown rank),\n"
     "      --dot the graph in Graphviz form, --html a graph explorer page (collapsible name\n"
     "      scopes, search, node details; one self-contained file)."},
    {"run", cmd_run,
     "run PATH [--checkpoint PREFIX] [--feed NAME=VALUE]... [--fetch NAME]... [--target OP]...\n"
     "        [--out DIR] [--signature KEY] [--tag TAG] [--allow-dir DIR]\n"
     "      Run a graph (PATH as for dump), like TF's saved_model_cli run: restore the variables\n"
     "      from --checkpoint through the graph's SaverDef (a SavedModel restores its variables/\n"
     "      by itself; PREFIX may be one of the checkpoint's files, X.index or X.data-*, and a\n"
     "      directory means its latest checkpoint), feed values to tensors (\"x:0\" or \"x\"),\n"
     "      run the --target ops and print each fetched tensor's dtype, shape and values\n"
     "      (summarized when large). A VALUE is FILE.npy, FILE.npz[KEY] (FILE.npz alone when it\n"
     "      holds one array) or an expression as saved_model_cli --input_exprs takes them:\n"
     "      [[1,2,3]], 0.5, True, np.ones((2,3)), np.zeros(4), np.full((2,3),0.5),\n"
     "      np.array([1,2]); an expression's dtype is the fed tensor's. --out writes each fetch\n"
     "      as DIR/<name>.npy (\"/\" and \":\" become \"_\"). With --signature, feed and fetch\n"
     "      names are the signature's input and output keys, and the fetches default to all of\n"
     "      its outputs.\n"
     "      String tensors are fed from NumPy |S<n> (bytes) or <U<n> (text, as UTF-8) arrays and\n"
     "      written as |S<n>; quantized tensors are fed and written as their storage types (qint8\n"
     "      as int8 |i1, quint8 as uint8 |u1, qint32 as int32 <i4).\n"
     "      The graph's file ops (SaveV2, RestoreV2, RestoreSlice, MergeV2Checkpoints) may only\n"
     "      touch files under the model's directory, the checkpoint's directory and each\n"
     "      --allow-dir."},
    {"help", cmd_help, "help [COMMAND]\n      Show this text, or one command's."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* `deft CMD --help` and `deft help CMD`: that command's usage on stdout. */
static int command_help(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) {
      printf("usage: %s %s\n", prog, commands[i].usage);
      return 0;
    }
  return usage_error("no command '%s' (commands: dump, run, help)", name);
}

static int cmd_help(int argc, char **argv) {
  if (argc > 2) return usage_error("help takes at most one COMMAND (got '%s')", argv[2]);
  if (argc == 2) return command_help(argv[1]);
  printf("usage: %s COMMAND [ARGS]   (%s --version: the version; %s help COMMAND: one command)\n"
         "\ncommands:\n", prog, prog, prog);
  for (size_t i = 0; i < NCOMMANDS; i++) printf("  %s\n", commands[i].usage);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cmd_help(1, argv);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h")) return cmd_help(1, argv);
  if (!strcmp(name, "--version")) {
    printf("deft %s (library %s)\n", DEFT_VERSION_STRING, deft_version());
    return 0;
  }
  /* Each command parses argv[1..] with getopt_long (argv[1], the command, as its argv[0]). */
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return commands[i].run(argc - 1, argv + 1);
  return usage_error("unknown command '%s'", name);
}
