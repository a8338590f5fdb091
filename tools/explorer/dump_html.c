/* SPDX-License-Identifier: Apache-2.0 */
/* tools/explorer/dump_html.c - `deft dump --html`: writes the graph as JSON into one HTML page
 * together with the explorer's script and style (tools/explorer/explorer.{js,css}) and the
 * layout library elkjs, all embedded into the program at build time (CMake generates
 * explorer_assets.c). The page does the rest in the browser: see explorer.js. Uses only the
 * public API. */
#include "tools/explorer/dump_html.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#if DEFT_HAVE_EXPLORER
extern const char deft_explorer_elk_js[];
extern const char deft_explorer_js[];
extern const char deft_explorer_css[];
#endif

#define ATTR_MAX 400 /* characters of an attr's text kept in the page */

/* A JSON string that is also safe inside <script>: '<' is written as \u003c. */
static void json_str(FILE *f, const char *s, size_t max) {
  fputc('"', f);
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
    if (n == max) {
      fputs("\\u2026", f);
      break;
    }
    unsigned char c = *p;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void shape_str(FILE *f, deft_shape s) {
  char buf[256];
  json_str(f, deft_shape_format(s, buf, sizeof buf), 256);
}

static void write_node(FILE *f, deft_op *op, deft_checkpoint_reader *ckpt, char *buf,
                       size_t bufsize) {
  fputs("{\"n\":", f);
  json_str(f, deft_op_name(op), SIZE_MAX);
  fputs(",\"t\":", f);
  json_str(f, deft_op_type(op), SIZE_MAX);
  if (deft_op_device(op) && *deft_op_device(op)) {
    fputs(",\"d\":", f);
    json_str(f, deft_op_device(op), SIZE_MAX);
  }
  fputs(",\"i\":[", f);
  for (int k = 0; k < deft_op_num_inputs(op); k++) {
    if (k) fputc(',', f);
    json_str(f, deft_output_format(deft_op_input(op, k), buf, bufsize), SIZE_MAX);
  }
  fputs("],\"c\":[", f);
  for (int k = 0; k < deft_op_num_control_inputs(op); k++) {
    if (k) fputc(',', f);
    json_str(f, deft_op_name(deft_op_control_input(op, k)), SIZE_MAX);
  }
  fputs("],\"o\":[", f);
  for (int k = 0; k < deft_op_num_outputs(op); k++) {
    deft_output o = deft_op_output(op, k);
    fputs(k ? ",[" : "[", f);
    json_str(f, deft_dtype_name(deft_output_dtype(o)), SIZE_MAX);
    fputc(',', f);
    shape_str(f, deft_output_shape(o));
    fputc(']', f);
  }
  fputs("],\"a\":[", f);
  int na = 0;
  for (int k = 0; k < deft_op_num_attrs(op); k++) {
    const char *name = deft_op_attr_name(op, k);
    if (!deft_op_attr_format(op, name, buf, bufsize)) continue;
    fputs(na++ ? ",[" : "[", f);
    json_str(f, name, SIZE_MAX);
    fputc(',', f);
    json_str(f, buf, ATTR_MAX);
    fputc(']', f);
  }
  fputc(']', f);
  if (!deft_op_has_kernel(op)) fputs(",\"u\":1", f);
  if (deft_op_is_variable(op)) {
    deft_shape s = deft_shape_unknown();
    if (!deft_op_attr_shape(op, "shape", &s)) s = deft_output_shape(deft_op_output(op, 0));
    fputs(",\"v\":{\"s\":", f);
    shape_str(f, s);
    fprintf(f, ",\"p\":%" PRId64 ",\"tr\":%d", deft_shape_num_elements(s),
            deft_variable_trainable(op) ? 1 : 0);
    deft_dtype dt;
    deft_shape cs;
    if (ckpt && deft_checkpoint_reader_lookup(ckpt, deft_op_name(op), &dt, &cs)) {
      char sb[256];
      snprintf(buf, bufsize, "%s %s", deft_dtype_name(dt), deft_shape_format(cs, sb, sizeof sb));
      fputs(",\"ck\":", f);
      json_str(f, buf, SIZE_MAX);
      fprintf(f, ",\"cp\":%" PRId64, deft_shape_num_elements(cs));
    } else if (ckpt) {
      fputs(",\"ck\":null", f);
    }
    fputc('}', f);
  }
  fputc('}', f);
}

bool deft_tool_dump_html(FILE *f, deft_graph *g, deft_checkpoint_reader *ckpt, const char *title) {
#if !DEFT_HAVE_EXPLORER
  (void)f;
  (void)g;
  (void)ckpt;
  (void)title;
  fprintf(stderr, "deft: this deft was built without the graph explorer's layout library "
                  "(elkjs in tools/explorer/node_modules): run tools/install-deps.sh, then "
                  "re-run cmake and rebuild\n");
  return false;
#else
  size_t bufsize = 65536;
  char *buf = malloc(bufsize);
  if (!buf) {
    fprintf(stderr, "deft: out of memory\n");
    return false;
  }
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
  for (const char *p = title; *p; p++) {
    if (*p == '<') fputs("&lt;", f);
    else if (*p == '&') fputs("&amp;", f);
    else fputc(*p, f);
  }
  fputs(" - deft graph explorer</title>\n<style>\n", f);
  fputs(deft_explorer_css, f);
  fputs("</style>\n</head>\n<body>\n<script id=\"graph-data\" type=\"application/json\">\n", f);
  fputs("{\"title\":", f);
  json_str(f, title, SIZE_MAX);
  fprintf(f, ",\"checkpoint\":%s,\"nodes\":[\n", ckpt ? "true" : "false");
  int n = deft_graph_num_ops(g);
  for (int i = 0; i < n; i++) {
    if (i) fputs(",\n", f);
    write_node(f, deft_graph_op_at(g, i), ckpt, buf, bufsize);
  }
  fputs("\n]}\n</script>\n<script>\n", f);
  fputs(deft_explorer_elk_js, f);
  fputs("\n</script>\n<script>\n", f);
  fputs(deft_explorer_js, f);
  fputs("\n</script>\n</body>\n</html>\n", f);
  free(buf);
  return true;
#endif
}
