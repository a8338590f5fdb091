/* tools/deft_cli.c - the `deft` command-line program (built as deft-cli until CMake can name an
 * executable "deft" next to the library target of that name).
 *
 *   deft dump PATH [--node NAME] [--collections] [--variables] [--signatures] [--json] [--dot]
 *                  [--tag TAG]
 *
 * PATH is a meta graph (".meta"), a SavedModel (its directory or its saved_model.pb) or a binary
 * GraphDef (any other file). Without a section option, dump lists the ops in graph order (name,
 * type, inputs) and marks those deft cannot run. Errors go to stderr with a non-zero exit code
 * (1 for a failure, 2 for a usage error). Subcommands are table-driven: add one to `commands`.
 *
 * Uses only the public API (deft/deft.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deft/deft.h"

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
  return strcmp(base, "saved_model.pb") == 0;
}

static bool load(const char *path, const char *tag, loaded *out, deft_status *st) {
  memset(out, 0, sizeof *out);
  struct stat sb;
  bool dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  if (dir || is_saved_model_file(path)) {
    out->format = "SavedModel";
    out->g = deft_load_saved_model(path, tag, &out->info, st);
  } else if (has_suffix(path, ".meta")) {
    out->format = "MetaGraphDef";
    out->g = deft_import_meta_graph(path, NULL, &out->info, st);
  } else {
    out->format = "GraphDef";
    out->g = deft_import_graph_def(path, NULL, st);
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

/* Distinct op types of g, and how many of them deft cannot run. */
static int count_types(deft_graph *g, int *unknown_types) {
  int n = deft_graph_num_ops(g), types = 0;
  *unknown_types = 0;
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    bool seen = false;
    for (int j = 0; j < i && !seen; j++)
      seen = strcmp(deft_op_type(deft_graph_op_at(g, j)), deft_op_type(op)) == 0;
    if (seen) continue;
    types++;
    if (!deft_op_has_kernel(op)) (*unknown_types)++;
  }
  return types;
}

/* ---- sections ---- */

static void dump_ops(FILE *f, const loaded *l, const char *path, bool json) {
  deft_graph *g = l->g;
  int n = deft_graph_num_ops(g);
  char buf[4096];
  if (json) {
    fputs("\"ops\": [", f);
    for (int i = 0; i < n; i++) {
      deft_op *op = deft_graph_op_at(g, i);
      fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
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
      fprintf(f, "], \"runnable\": %s}", deft_op_has_kernel(op) ? "true" : "false");
    }
    fputs("\n]", f);
    return;
  }
  int unknown_types;
  int types = count_types(g, &unknown_types);
  fprintf(f, "%s (%s): %d ops, %d op types\n", path, l->format, n, types);
  int unknown_ops = 0;
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
    bool runnable = deft_op_has_kernel(op);
    unknown_ops += !runnable;
    fprintf(f, "%c %-44s %-28s", runnable ? ' ' : '*', deft_op_name(op), deft_op_type(op));
    int nin = deft_op_num_inputs(op), nc = deft_op_num_control_inputs(op);
    for (int k = 0; k < nin + nc; k++) {
      deft_output o = k < nin ? deft_op_input(op, k)
                              : (deft_output){deft_op_control_input(op, k - nin), -1};
      fprintf(f, "%s%s", k ? ", " : " ", input_name(o, k >= nin, buf, sizeof buf));
    }
    fputc('\n', f);
  }
  if (unknown_ops) {
    fprintf(f, "* = deft cannot run this op (%d op%s of %d type%s:", unknown_ops,
            unknown_ops == 1 ? "" : "s", unknown_types, unknown_types == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
      deft_op *op = deft_graph_op_at(g, i);
      if (deft_op_has_kernel(op)) continue;
      bool seen = false;
      for (int j = 0; j < i && !seen; j++)
        seen = strcmp(deft_op_type(deft_graph_op_at(g, j)), deft_op_type(op)) == 0;
      if (!seen) fprintf(f, " %s", deft_op_type(op));
    }
    fputs(")\n", f);
  }
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
      json_str(f, deft_shape_format(deft_output_shape(o), shape, sizeof shape));
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

static bool dump_collections(FILE *f, deft_graph *g, bool json) {
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
      fputs("]}", f);
    } else {
      fprintf(f, "%s (%s, %d value%s)\n", key, kind ? kind : "?", nvalues,
              nvalues == 1 ? "" : "s");
      for (int k = 0; k < n; k++) fprintf(f, "  %s\n", deft_output_format(items[k], buf, sizeof buf));
      if (n < nvalues) fprintf(f, "  (%d serialized value%s kept as imported)\n", nvalues - n,
                               nvalues - n == 1 ? "" : "s");
    }
    free(items);
  }
  if (json) fputs("\n}", f);
  return true;
}

static bool dump_variables(FILE *f, deft_graph *g, bool json) {
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
  for (int i = 0; i < n; i++) vars[nv++] = items[i].op;
  if (nv == 0) /* no collection (a GraphDef): every variable op */
    for (int i = 0; i < nops; i++)
      if (deft_op_is_variable(deft_graph_op_at(g, i))) vars[nv++] = deft_graph_op_at(g, i);
  int64_t total = 0;
  bool total_known = true;
  char shape_buf[256];
  if (json) fputs("\"variables\": [", f);
  else fprintf(f, "%-44s %-8s %-16s %12s  %s\n", "variable", "dtype", "shape", "parameters",
               "trainable");
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
      json_str(f, shape_buf);
      fprintf(f, ", \"parameters\": %" PRId64 ", \"trainable\": %s}", count,
              trainable ? "true" : "false");
    } else if (count >= 0) {
      fprintf(f, "%-44s %-8s %-16s %12" PRId64 "  %s\n", deft_op_name(v), deft_dtype_name(dtype),
              shape_buf, count, trainable ? "yes" : "no");
    } else {
      fprintf(f, "%-44s %-8s %-16s %12s  %s\n", deft_op_name(v), deft_dtype_name(dtype),
              shape_buf, "?", trainable ? "yes" : "no");
    }
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

static bool dump_signatures(FILE *f, const loaded *l, bool json) {
  const deft_meta_graph_info *info = l->info;
  int n = info ? deft_meta_graph_info_num_signatures(info) : 0;
  if (json) fputs("\"signatures\": {", f);
  else fprintf(f, "%d signature%s\n", n, n == 1 ? "" : "s");
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
      fprintf(f, "%s (%s)\n", key, method ? method : "");
    }
    for (int side = 0; side < 2; side++) {
      int m = side ? nout : nin;
      if (json) fprintf(f, ", \"%s\": {", side ? "outputs" : "inputs");
      for (int k = 0; k < m; k++) {
        const char *ik = side ? deft_meta_graph_info_signature_output_key(info, key, k)
                              : deft_meta_graph_info_signature_input_key(info, key, k);
        deft_dtype dt = DEFT_INVALID_DTYPE;
        const char *tensor =
            side ? deft_meta_graph_info_signature_output(info, key, ik, &dt, NULL)
                 : deft_meta_graph_info_signature_input(info, key, ik, &dt, NULL);
        if (json) {
          if (k) fputs(", ", f);
          json_str(f, ik);
          fputs(": {\"tensor\": ", f);
          json_str(f, tensor ? tensor : "");
          fputs(", \"dtype\": ", f);
          json_str(f, deft_dtype_name(dt));
          fputs("}", f);
        } else {
          fprintf(f, "  %s %-16s -> %s (%s)\n", side ? "output" : "input ", ik,
                  tensor ? tensor : "", deft_dtype_name(dt));
        }
      }
      if (json) fputs("}", f);
    }
    if (json) fputs("}", f);
  }
  if (json) fputs("\n}", f);
  return true;
}

static void dump_dot(FILE *f, deft_graph *g) {
  int n = deft_graph_num_ops(g);
  fputs("digraph deft {\n  node [shape=box, fontsize=10];\n", f);
  for (int i = 0; i < n; i++) {
    deft_op *op = deft_graph_op_at(g, i);
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
    for (int k = 0; k < deft_op_num_inputs(op); k++) {
      deft_output in = deft_op_input(op, k);
      fputs("  ", f);
      dot_str(f, deft_op_name(in.op));
      fputs(" -> ", f);
      dot_str(f, deft_op_name(op));
      if (in.index) fprintf(f, " [label=\"%d\"]", in.index);
      fputs(";\n", f);
    }
    for (int k = 0; k < deft_op_num_control_inputs(op); k++) {
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

/* Separates sections: a comma in JSON, a blank line in text. */
static void sep(FILE *f, bool json, bool *first) {
  if (json) fputs(",\n", f);
  else if (!*first) fputc('\n', f);
  *first = false;
}

static int cmd_dump(int argc, char **argv) {
  const char *path = NULL, *node = NULL, *tag = NULL;
  bool json = false, dot = false, collections = false, variables = false, signatures = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--json")) json = true;
    else if (!strcmp(a, "--dot")) dot = true;
    else if (!strcmp(a, "--collections")) collections = true;
    else if (!strcmp(a, "--variables")) variables = true;
    else if (!strcmp(a, "--signatures")) signatures = true;
    else if (!strcmp(a, "--node") || !strcmp(a, "--tag")) {
      if (i + 1 >= argc) return usage_error("option %s needs a value", a);
      if (!strcmp(a, "--node")) node = argv[++i];
      else tag = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      return usage_error("unknown option '%s' for dump", a);
    } else if (path) {
      return usage_error("dump takes one PATH (got another: '%s')", a);
    } else {
      path = a;
    }
  }
  if (!path) return usage_error("%s", "dump needs a PATH");
  if (dot && (json || node || collections || variables || signatures))
    return usage_error("%s", "--dot cannot be combined with other output options");
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
  deft_status_free(st);
  if (signatures && !l.info) {
    fprintf(stderr, "%s: '%s' is a GraphDef, which has no signatures\n", prog, path);
    unload(&l);
    return 1;
  }
  FILE *f = stdout;
  bool ok = true;
  if (dot) {
    dump_dot(f, l.g);
  } else {
    bool ops = !node && !collections && !variables && !signatures;
    bool first = true;
    if (json) {
      fputs("{\"path\": ", f);
      json_str(f, path);
      fputs(", \"format\": ", f);
      json_str(f, l.format);
      fprintf(f, ", \"num_ops\": %d", deft_graph_num_ops(l.g));
      first = false;
    }
    if (ops) sep(f, json, &first), dump_ops(f, &l, path, json);
    if (ok && node) sep(f, json, &first), ok = dump_node(f, l.g, node, json);
    if (ok && collections) sep(f, json, &first), ok = dump_collections(f, l.g, json);
    if (ok && variables) sep(f, json, &first), ok = dump_variables(f, l.g, json);
    if (ok && signatures) sep(f, json, &first), ok = dump_signatures(f, &l, json);
    if (json) fputs("}\n", f);
  }
  unload(&l);
  if (fflush(f) != 0 || ferror(f)) {
    fprintf(stderr, "%s: error writing the output\n", prog);
    return 1;
  }
  return ok ? 0 : 1;
}

static int cmd_help(int argc, char **argv);

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} command;

static const command commands[] = {
    {"dump", cmd_dump,
     "dump PATH [--node NAME] [--collections] [--variables] [--signatures] [--json] [--dot]\n"
     "         [--tag TAG]\n"
     "      Show a TF 1.x graph file: PATH is a .meta (MetaGraphDef), a SavedModel directory or\n"
     "      its saved_model.pb (--tag selects the meta graph, default \"serve\"), or a binary\n"
     "      GraphDef (.pb). Lists ops in graph order with their inputs ('*' marks ops deft cannot\n"
     "      run), or the requested sections: one node's attrs, collections, variables with\n"
     "      parameter counts, SavedModel signatures. --json prints the same as JSON, --dot the\n"
     "      graph in Graphviz form."},
    {"help", cmd_help, "help\n      Show this text."},
};

static int cmd_help(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("usage: %s COMMAND [ARGS]\n\ncommands:\n", prog);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    printf("  %s\n", commands[i].usage);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cmd_help(0, NULL);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h")) return cmd_help(0, NULL);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(commands[i].name, name)) return commands[i].run(argc - 2, argv + 2);
  return usage_error("unknown command '%s'", name);
}
