/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_import.c - the importers on untrusted bytes. The first byte picks the reader:
 * 0 GraphDef, 1 MetaGraphDef, 2 SavedModel (the bytes as <dir>/saved_model.pb, tag "serve"),
 * each binary (a path without ".pbtxt": binary first, then text if the bytes look like text);
 * 3..5 the same three read as text (".pbtxt"). An import that succeeds is planned and run
 * (fz_run_graph): an imported graph is untrusted input too. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 6;
  bool text = mode >= 3;
  data++, size--;
  deft_status *st = deft_status_new();
  /* 64 MiB of constants (not the 1 GiB default) keeps every input fast under ASan */
  static deft_import_options *opts;
  if (!opts) {
    opts = deft_import_options_new();
    deft_import_options_set_max_constant_bytes(opts, (uint64_t)64 << 20);
  }
  deft_graph *g = NULL;
  deft_meta_graph_info *info = NULL;
  switch (mode % 3) {
    case 0:
      g = deft_import_graph_def(fz_write(text ? "g.pbtxt" : "g.pb", data, size), opts, st);
      break;
    case 1:
      g = deft_import_meta_graph(fz_write(text ? "m.pbtxt" : "m.meta", data, size), opts, &info,
                                 st);
      break;
    default: {
      char dir[512];
      snprintf(dir, sizeof dir, "%s/sm", fz_dir());
      mkdir(dir, 0755);
      char name[64];
      snprintf(name, sizeof name, "sm/saved_model.%s", text ? "pbtxt" : "pb");
      fz_write(name, data, size);
      g = deft_load_saved_model(dir, "serve", &info, st);
      char path[600];
      snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
      unlink(path); /* the next input may be the other form */
      break;
    }
  }
  if (g) fz_run_graph(g);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  deft_status_free(st);
  return 0;
}
