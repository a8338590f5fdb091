/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/saver.c - tf.train.Saver: builds TF's non-sharded V2 save/restore subgraph
 * (TF_FORMATS.md 5.1) and drives it: save = run the save tensor with the prefix fed to the
 * filename tensor, restore = run the restore op likewise; then the `checkpoint` state file and
 * max_to_keep housekeeping (5.2, 4.7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deft/ops.h"
#include "deft/io.h"
#include "deft/saver.h"
#include "graph/graph_internal.h"
#include "base/alloc.h"
#include "proto/bundle.h"
#include "proto/tensor_slice_reader.h"
#include "runtime/session_internal.h"

struct deft_saver {
  deft_graph *g;
  const char *filename_tensor, *save_tensor, *restore_op; /* graph arena strings */
  int max_to_keep;
  char **kept; /* paths saved by this saver, oldest first */
  int nkept;
};

static int cmp_names(const void *a, const void *b) {
  const deft_op *x = *(deft_op *const *)a, *y = *(deft_op *const *)b;
  return strcmp(x->name, y->name);
}

static deft_output string_vector(deft_graph *g, const char *const *v, int n, const char *name) {
  deft_output none = {NULL, 0};
  int64_t dims[1] = {n};
  deft_tensor *t = deft_tensor_new(DEFT_STRING, dims, 1, NULL);
  if (!t) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building the saver");
    return none;
  }
  for (int i = 0; i < n; i++) deft_tensor_set_string(t, i, v[i], strlen(v[i]), NULL);
  deft_output o = deft_const(g, t, name);
  deft_tensor_free(t);
  return o;
}

static deft_saver *saver_alloc(deft_graph *g, int max_to_keep) {
  deft_saver *s = deft_calloc(1, sizeof *s);
  if (!s) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building the saver");
    return NULL;
  }
  s->g = g;
  s->max_to_keep = max_to_keep > 0 ? max_to_keep : 5;
  return s;
}

deft_saver *deft_saver_new(deft_graph *g, const deft_output *vars, int n, int max_to_keep,
                           deft_status *status) {
  if (!deft_graph_check_ok(g, status)) return NULL;
  deft_output *all = NULL;
  if (!vars) {
    n = deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, NULL, 0, NULL);
    all = deft_malloc(sizeof *all * (size_t)(n + 1));
    if (!all) goto oom;
    deft_graph_get_collection(g, DEFT_GLOBAL_VARIABLES, NULL, all, n, NULL);
    vars = all;
  }
  if (n < 1) {
    deft_free(all);
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "Saver: there are no variables to save");
    return NULL;
  }
  deft_op **ops = deft_malloc(sizeof *ops * (size_t)n);
  const char **names = deft_malloc(sizeof *names * (size_t)n);
  deft_dtype *types = deft_malloc(sizeof *types * (size_t)n);
  deft_output *refs = deft_malloc(sizeof *refs * (size_t)n);
  deft_op **assigns = deft_malloc(sizeof *assigns * (size_t)n);
  deft_saver *s = NULL;
  if (!ops || !names || !types || !refs || !assigns) goto fail_oom;
  for (int i = 0; i < n; i++) {
    if (!vars[i].op || !deft_op_is_variable(vars[i].op)) {
      char buf[512];
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "Saver: '%s' is not a variable",
                      vars[i].op ? deft_output_format(vars[i], buf, sizeof buf) : "(null)");
      goto fail_arg;
    }
    ops[i] = vars[i].op;
  }
  qsort(ops, (size_t)n, sizeof *ops, cmp_names); /* TF sorts the keys bytewise */
  for (int i = 0; i < n; i++) {
    names[i] = ops[i]->name;
    types[i] = (deft_dtype)ops[i]->out_types[0];
    if (deft_variable_is_resource(ops[i])) deft_op_attr_type(ops[i], "dtype", &types[i]);
    refs[i] = deft_op_output(ops[i], 0);
    if (i && !strcmp(names[i], names[i - 1])) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "Saver: variable '%s' is listed twice",
                      names[i]);
      goto fail_arg;
    }
  }
  s = saver_alloc(g, max_to_keep);
  if (!s) goto fail;
  const char *scope = deft_graph_push_scope(g, "save");
  if (!scope) goto fail;
  deft_output filename = deft_const_string(g, "model", "Const");
  deft_output tnames = string_vector(g, names, n, "SaveV2/tensor_names");
  const char **empty = deft_calloc((size_t)n, sizeof *empty);
  if (!empty) {
    deft_graph_pop_scope(g);
    goto fail_oom;
  }
  for (int i = 0; i < n; i++) empty[i] = "";
  deft_output slices =
      deft_output_ok(tnames) ? string_vector(g, empty, n, "SaveV2/shape_and_slices") : tnames;
  /* A resource variable is saved from a read of it (TF's ResourceVariableSaveable):
   * save/Read/ReadVariableOp and save/Identity. */
  deft_output *saved = deft_malloc(sizeof *saved * (size_t)n);
  if (!saved) {
    deft_graph_pop_scope(g);
    deft_free(empty);
    goto fail_oom;
  }
  for (int i = 0; i < n; i++) {
    saved[i] = refs[i];
    if (!deft_variable_is_resource(ops[i]) || !deft_graph_push_scope(g, "Read")) continue;
    deft_output r = deft_read_variable_op(g, refs[i], "ReadVariableOp");
    deft_graph_pop_scope(g);
    saved[i] = deft_identity(g, r, "Identity");
  }
  deft_op_builder *b = deft_op_builder_new(g, "SaveV2", "SaveV2");
  deft_op_builder_add_input(b, filename);
  deft_op_builder_add_input(b, tnames);
  deft_op_builder_add_input(b, slices);
  deft_op_builder_add_input_list(b, saved, n);
  deft_free(saved);
  deft_op *save = deft_op_builder_finish(b);
  b = deft_op_builder_new(g, "Identity", "control_dependency");
  deft_op_builder_add_input(b, filename);
  deft_op_builder_add_control_input(b, save);
  deft_op *ctrl = deft_op_builder_finish(b);
  deft_output rnames = string_vector(g, names, n, "RestoreV2/tensor_names");
  deft_output rslices =
      deft_output_ok(rnames) ? string_vector(g, empty, n, "RestoreV2/shape_and_slices") : rnames;
  deft_free(empty);
  if (rnames.op) rnames.op->device = "/device:CPU:0";
  if (rslices.op) rslices.op->device = "/device:CPU:0";
  b = deft_op_builder_new(g, "RestoreV2", "RestoreV2");
  deft_op_builder_add_input(b, filename);
  deft_op_builder_add_input(b, rnames);
  deft_op_builder_add_input(b, rslices);
  deft_op_builder_set_attr_type_list(b, "dtypes", types, n);
  deft_op_builder_set_device(b, "/device:CPU:0");
  deft_op *restore = deft_op_builder_finish(b);
  for (int i = 0; i < n && restore; i++) {
    if (deft_variable_is_resource(ops[i])) { /* TF: Identity, then AssignVariableOp */
      deft_output r = deft_identity(g, deft_op_output(restore, i), "Identity");
      assigns[i] = deft_assign_variable_op(g, refs[i], r, "AssignVariableOp");
      continue;
    }
    deft_output a = deft_assign(g, refs[i], deft_op_output(restore, i), "Assign");
    assigns[i] = a.op;
  }
  deft_op *restore_all = restore ? deft_group(g, assigns, n, "restore_all") : NULL;
  deft_graph_pop_scope(g);
  if (!save || !ctrl || !restore_all || !deft_graph_ok(g)) goto fail;
  char buf[1100];
  snprintf(buf, sizeof buf, "%s:0", filename.op->name);
  s->filename_tensor = deft_arena_strdup(&g->arena, buf);
  snprintf(buf, sizeof buf, "%s:0", ctrl->name);
  s->save_tensor = deft_arena_strdup(&g->arena, buf);
  s->restore_op = restore_all->name;
  if (!s->filename_tensor || !s->save_tensor) goto fail_oom;
  deft_free(all);
  deft_free(ops);
  deft_free(names);
  deft_free(types);
  deft_free(refs);
  deft_free(assigns);
  return s;
fail_oom:
  deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building the saver");
fail:
  deft_graph_check_ok(g, status);
fail_arg:
  deft_free(all);
  deft_free(ops);
  deft_free(names);
  deft_free(types);
  deft_free(refs);
  deft_free(assigns);
  deft_saver_free(s);
  return NULL;
oom:
  deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory building the saver");
  return NULL;
}

deft_saver *deft_saver_from_names(deft_graph *g, const char *filename_tensor,
                                  const char *save_tensor, const char *restore_op,
                                  int max_to_keep, deft_status *status) {
  deft_output f = deft_graph_tensor_by_name(g, filename_tensor, status);
  if (!f.op) return NULL;
  deft_output t = deft_graph_tensor_by_name(g, save_tensor, status);
  if (!t.op) return NULL;
  if (!deft_graph_op_by_name(g, restore_op)) {
    deft_status_set(status, DEFT_NOT_FOUND, "the saver's restore op '%s' is not in the graph",
                    restore_op);
    return NULL;
  }
  deft_saver *s = deft_calloc(1, sizeof *s);
  if (!s) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  s->g = g;
  s->max_to_keep = max_to_keep > 0 ? max_to_keep : 5;
  s->filename_tensor = deft_arena_strdup(&g->arena, filename_tensor);
  s->save_tensor = deft_arena_strdup(&g->arena, save_tensor);
  s->restore_op = deft_arena_strdup(&g->arena, restore_op);
  if (!s->filename_tensor || !s->save_tensor || !s->restore_op) {
    deft_saver_free(s);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  return s;
}

void deft_saver_free(deft_saver *s) {
  if (!s) return;
  for (int i = 0; i < s->nkept; i++) deft_free(s->kept[i]);
  deft_free(s->kept);
  deft_free(s);
}

const char *deft_saver_filename_tensor(const deft_saver *s) { return s->filename_tensor; }
const char *deft_saver_save_tensor(const deft_saver *s) { return s->save_tensor; }
const char *deft_saver_restore_op(const deft_saver *s) { return s->restore_op; }
int deft_saver_max_to_keep(const deft_saver *s) { return s->max_to_keep; }
void deft_saver_string_free(char *s) { deft_free(s); }

/* Runs the saver's graph with the prefix fed to the filename tensor. */
static bool run_with_prefix(deft_saver *s, deft_session *sess, const char *prefix, bool save,
                            deft_status *status) {
  deft_output f = deft_graph_tensor_by_name(s->g, s->filename_tensor, status);
  if (!f.op) return false;
  deft_tensor *p = deft_tensor_scalar_string(prefix);
  if (!p) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  bool ok;
  if (save) {
    deft_output t = deft_graph_tensor_by_name(s->g, s->save_tensor, status);
    deft_tensor *out = NULL;
    ok = t.op && deft_session_run(sess, &f, (const deft_tensor *const[]){p}, 1, &t, &out, 1, NULL,
                                  0, status);
    deft_tensor_free(out);
  } else {
    deft_op *r = deft_graph_op_by_name(s->g, s->restore_op);
    ok = deft_session_run(sess, &f, (const deft_tensor *const[]){p}, 1, NULL, NULL, 0, &r, 1,
                          status);
  }
  deft_tensor_free(p);
  return ok;
}

static void split_dir(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, size, ".");
  else if (slash == path) snprintf(dir, size, "/");
  else snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* Removes a checkpoint's files, index first (a checkpoint without its index is not one).
 * Best effort: a file that cannot be removed stays, unnamed. */
static void delete_checkpoint(const deft_io_hooks *io, const char *path) {
  const char *suffixes[3] = {".index", ".data-00000-of-00001", ".meta"};
  char buf[4200];
  for (int i = 0; i < 3; i++) {
    snprintf(buf, sizeof buf, "%s%s", path, suffixes[i]);
    deft_io_unlink(io, buf);
  }
}

bool deft_saver_save(deft_saver *s, deft_session *sess, const char *prefix, int64_t global_step,
                     char **path_out, deft_status *status) {
  if (path_out) *path_out = NULL;
  char path[4096];
  if (global_step >= 0) snprintf(path, sizeof path, "%s-%lld", prefix, (long long)global_step);
  else snprintf(path, sizeof path, "%s", prefix);
  if (!run_with_prefix(s, sess, path, true, status)) return false;
  /* Book-keeping, in TF's order: the new list (this path newest, the oldest beyond max_to_keep
   * dropped) is written to the state file first, and only then are the dropped checkpoints
   * deleted and the saver's own list updated. If the state write fails, the state file still
   * names the previous list (all of whose files still exist), and the new checkpoint, which
   * nothing names, is deleted (unless it was already on the list: then it replaced a named one
   * in place). */
  bool was_kept = false;
  char *old_entry = NULL; /* the list's earlier entry for this path, replaced by copy */
  int nnew = 0;
  char **nk = deft_malloc(sizeof(char *) * (size_t)(s->nkept + 1));
  char *copy = deft_strdup(path);
  if (!nk || !copy) {
    deft_free(nk);
    deft_free(copy);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  for (int i = 0; i < s->nkept; i++) {
    if (!strcmp(s->kept[i], path)) was_kept = true, old_entry = s->kept[i];
    else nk[nnew++] = s->kept[i];
  }
  nk[nnew++] = copy;
  int drop = nnew > s->max_to_keep ? nnew - s->max_to_keep : 0;
  char dir[4096];
  split_dir(path, dir, sizeof dir);
  const deft_io_hooks *io = deft_session_io_hooks(sess);
  if (!deft_checkpoint_state_write_io(dir, path, (const char *const *)nk + drop, nnew - drop,
                                      io, status)) {
    if (!was_kept) delete_checkpoint(io, path);
    deft_free(copy);
    deft_free(nk);
    return false;
  }
  for (int i = 0; i < drop; i++) {
    delete_checkpoint(io, nk[i]);
    deft_free(nk[i]);
  }
  deft_free(old_entry);
  memmove(nk, nk + drop, sizeof(char *) * (size_t)(nnew - drop));
  deft_free(s->kept);
  s->kept = nk;
  s->nkept = nnew - drop;
  if (path_out) {
    *path_out = deft_strdup(path);
    if (!*path_out) {
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
  }
  return true;
}

bool deft_saver_restore(deft_saver *s, deft_session *sess, const char *prefix,
                        deft_status *status) {
  char index[4200];
  snprintf(index, sizeof index, "%s.index", prefix);
  struct stat st;
  if (stat(index, &st) != 0 && !deft_v1_is_table(prefix)) { /* neither V2 nor a V1 file */
    deft_status_set(status, DEFT_NOT_FOUND,
                    "no checkpoint at prefix '%s' (the file '%s' does not exist, and '%s' is not "
                    "a V1 checkpoint file)", prefix, index, prefix);
    return false;
  }
  return run_with_prefix(s, sess, prefix, false, status);
}

char *deft_latest_checkpoint_path(const char *dir, deft_status *status) {
  return deft_latest_checkpoint(dir, status);
}

bool deft_saver_export_meta_graph(const deft_saver *s, const char *path, deft_status *status) {
  deft_meta_graph_info *info =
      deft_meta_graph_info_new_saver(s->filename_tensor, s->save_tensor, s->restore_op);
  if (!info) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory exporting '%s'", path);
    return false;
  }
  deft_meta_graph_info_set_max_to_keep(info, s->max_to_keep);
  bool ok = deft_export_meta_graph(s->g, path, info, status);
  deft_meta_graph_info_free(info);
  return ok;
}
