/* SPDX-License-Identifier: Apache-2.0 */
/* graph/import_meta.c - MetaGraphDef and SavedModel import: the graph (graph/import.c), then
 * collections (node lists resolved, VariableDefs turned into deft variables, other values kept
 * raw for export), and deft_meta_graph_info (SaverDef, tags, signatures) with its accessors. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "deft/ops.h"
#include "graph/io_internal.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "proto/tensor_proto.h"
#include "saved_model.pb-c.h"
#include "variable.pb-c.h"

/* ---- deft_meta_graph_info ---- */

static void free_sig(deft_signature *s) {
  deft_free(s->key);
  deft_free(s->method);
  for (int i = 0; i < s->nin; i++) deft_free(s->in[i].key), deft_free(s->in[i].name);
  for (int i = 0; i < s->nout; i++) deft_free(s->out[i].key), deft_free(s->out[i].name);
  deft_free(s->in);
  deft_free(s->out);
}

void deft_meta_graph_info_free(deft_meta_graph_info *info) {
  if (!info) return;
  deft_free(info->filename_tensor);
  deft_free(info->save_tensor);
  deft_free(info->restore_op);
  deft_free(info->tf_version);
  for (int i = 0; i < info->ntags; i++) deft_free(info->tags[i]);
  deft_free(info->tags);
  for (int i = 0; i < info->nsigs; i++) free_sig(&info->sigs[i]);
  deft_free(info->sigs);
  deft_free(info);
}

deft_meta_graph_info *deft_meta_graph_info_new_saver(const char *filename_tensor,
                                                     const char *save_tensor,
                                                     const char *restore_op) {
  if (!filename_tensor || !save_tensor || !restore_op) return NULL;
  deft_meta_graph_info *info = deft_calloc(1, sizeof *info);
  if (!info) return NULL;
  info->has_saver = true;
  info->filename_tensor = deft_strdup(filename_tensor);
  info->save_tensor = deft_strdup(save_tensor);
  info->restore_op = deft_strdup(restore_op);
  info->max_to_keep = 5;
  info->keep_hours = 10000.0f;
  info->version = 2;
  if (!info->filename_tensor || !info->save_tensor || !info->restore_op) {
    deft_meta_graph_info_free(info);
    return NULL;
  }
  return info;
}

void deft_meta_graph_info_set_max_to_keep(deft_meta_graph_info *info, int max_to_keep) {
  info->max_to_keep = max_to_keep;
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

bool deft_meta_graph_info_has_saver(const deft_meta_graph_info *info) { return info->has_saver; }
const char *deft_meta_graph_info_filename_tensor(const deft_meta_graph_info *info) {
  return str_or_empty(info->filename_tensor);
}
const char *deft_meta_graph_info_save_tensor(const deft_meta_graph_info *info) {
  return str_or_empty(info->save_tensor);
}
const char *deft_meta_graph_info_restore_op(const deft_meta_graph_info *info) {
  return str_or_empty(info->restore_op);
}
int deft_meta_graph_info_max_to_keep(const deft_meta_graph_info *info) {
  return info->max_to_keep;
}
bool deft_meta_graph_info_sharded(const deft_meta_graph_info *info) { return info->sharded; }
float deft_meta_graph_info_keep_every_n_hours(const deft_meta_graph_info *info) {
  return info->keep_hours;
}
int deft_meta_graph_info_saver_version(const deft_meta_graph_info *info) { return info->version; }
const char *deft_meta_graph_info_tensorflow_version(const deft_meta_graph_info *info) {
  return str_or_empty(info->tf_version);
}
int deft_meta_graph_info_num_tags(const deft_meta_graph_info *info) { return info->ntags; }
const char *deft_meta_graph_info_tag(const deft_meta_graph_info *info, int i) {
  return (i >= 0 && i < info->ntags) ? info->tags[i] : NULL;
}
int deft_meta_graph_info_num_signatures(const deft_meta_graph_info *info) { return info->nsigs; }
const char *deft_meta_graph_info_signature_key(const deft_meta_graph_info *info, int i) {
  return (i >= 0 && i < info->nsigs) ? info->sigs[i].key : NULL;
}

static const deft_signature *find_sig(const deft_meta_graph_info *info, const char *key,
                                      deft_status *st) {
  for (int i = 0; i < info->nsigs; i++)
    if (!strcmp(info->sigs[i].key, key)) return &info->sigs[i];
  if (st) {
    char list[1024];
    size_t pos = 0;
    list[0] = 0;
    for (int i = 0; i < info->nsigs && pos < sizeof list; i++)
      pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s'%s'", i ? ", " : "",
                              info->sigs[i].key);
    deft_status_set(st, DEFT_NOT_FOUND, "no signature '%s'; the meta graph has %s%s", key,
                    info->nsigs ? "signatures " : "no signatures", list);
  }
  return NULL;
}

const char *deft_meta_graph_info_signature_method(const deft_meta_graph_info *info,
                                                  const char *key, deft_status *status) {
  const deft_signature *s = find_sig(info, key, status);
  return s ? str_or_empty(s->method) : NULL;
}

int deft_meta_graph_info_signature_num_inputs(const deft_meta_graph_info *info, const char *key,
                                              deft_status *status) {
  const deft_signature *s = find_sig(info, key, status);
  return s ? s->nin : -1;
}

int deft_meta_graph_info_signature_num_outputs(const deft_meta_graph_info *info,
                                               const char *key, deft_status *status) {
  const deft_signature *s = find_sig(info, key, status);
  return s ? s->nout : -1;
}

const char *deft_meta_graph_info_signature_input_key(const deft_meta_graph_info *info,
                                                     const char *key, int i) {
  const deft_signature *s = find_sig(info, key, NULL);
  return (s && i >= 0 && i < s->nin) ? s->in[i].key : NULL;
}

const char *deft_meta_graph_info_signature_output_key(const deft_meta_graph_info *info,
                                                      const char *key, int i) {
  const deft_signature *s = find_sig(info, key, NULL);
  return (s && i >= 0 && i < s->nout) ? s->out[i].key : NULL;
}

static const char *sig_tensor(const deft_meta_graph_info *info, const char *key,
                              const char *name, bool input, deft_dtype *dtype,
                              deft_status *st) {
  const deft_signature *s = find_sig(info, key, st);
  if (!s) return NULL;
  int n = input ? s->nin : s->nout;
  const deft_sig_tensor *t = input ? s->in : s->out;
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i].key, name)) {
      if (dtype) *dtype = (deft_dtype)t[i].dtype;
      return t[i].name;
    }
  char list[1024];
  size_t pos = 0;
  list[0] = 0;
  for (int i = 0; i < n && pos < sizeof list; i++)
    pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s'%s'", i ? ", " : "", t[i].key);
  deft_status_set(st, DEFT_NOT_FOUND, "signature '%s' has no %s '%s'; its %ss are %s", key,
                  input ? "input" : "output", name, input ? "input" : "output",
                  n ? list : "(none)");
  return NULL;
}

const char *deft_meta_graph_info_signature_input(const deft_meta_graph_info *info,
                                                 const char *key, const char *name,
                                                 deft_dtype *dtype, deft_status *status) {
  return sig_tensor(info, key, name, true, dtype, status);
}

const char *deft_meta_graph_info_signature_output(const deft_meta_graph_info *info,
                                                  const char *key, const char *name,
                                                  deft_dtype *dtype, deft_status *status) {
  return sig_tensor(info, key, name, false, dtype, status);
}

/* ---- building the info from a MetaGraphDef ---- */

static bool copy_sig_tensors(const deft_import_options *opts, deft_sig_tensor **out, int *n,
                             void *const *entries, size_t count) {
  *out = deft_calloc(count ? count : 1, sizeof **out);
  if (!*out) return false;
  for (size_t i = 0; i < count; i++) {
    /* InputsEntry and OutputsEntry have the same layout. */
    const Tensorflow__SignatureDef__InputsEntry *e = entries[i];
    deft_sig_tensor *t = &(*out)[i];
    (*n)++;
    t->key = deft_strdup(str_or_empty(e->key));
    const char *name = "";
    if (e->value) {
      if (e->value->encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_NAME)
        name = e->value->name;
      else if (e->value->encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_COO_SPARSE)
        name = e->value->coo_sparse->values_tensor_name;
      t->dtype = (int)e->value->dtype;
    }
    t->name = *name ? deft_io_prefixed(opts, name) : deft_strdup("");
    if (!t->key || !t->name) return false;
  }
  return true;
}

static deft_meta_graph_info *make_info(const Tensorflow__MetaGraphDef *m,
                                       const deft_import_options *opts) {
  deft_meta_graph_info *info = deft_calloc(1, sizeof *info);
  if (!info) return NULL;
  const Tensorflow__SaverDef *sd = m->saver_def;
  if (sd) {
    info->has_saver = true;
    info->filename_tensor = deft_io_prefixed(opts, sd->filename_tensor_name);
    info->save_tensor = deft_io_prefixed(opts, sd->save_tensor_name);
    info->restore_op = deft_io_prefixed(opts, sd->restore_op_name);
    info->max_to_keep = sd->max_to_keep;
    info->sharded = sd->sharded;
    info->keep_hours = sd->keep_checkpoint_every_n_hours;
    info->version = (int)sd->version;
    if (!info->filename_tensor || !info->save_tensor || !info->restore_op) goto oom;
  }
  const Tensorflow__MetaGraphDef__MetaInfoDef *mi = m->meta_info_def;
  info->tf_version = deft_strdup(mi ? mi->tensorflow_version : "");
  if (!info->tf_version) goto oom;
  if (mi && mi->n_tags) {
    info->tags = deft_calloc(mi->n_tags, sizeof(char *));
    if (!info->tags) goto oom;
    for (size_t i = 0; i < mi->n_tags; i++) {
      info->tags[info->ntags] = deft_strdup(mi->tags[i]);
      if (!info->tags[info->ntags]) goto oom;
      info->ntags++;
    }
  }
  if (m->n_signature_def) {
    info->sigs = deft_calloc(m->n_signature_def, sizeof *info->sigs);
    if (!info->sigs) goto oom;
    for (size_t i = 0; i < m->n_signature_def; i++) {
      const Tensorflow__MetaGraphDef__SignatureDefEntry *e = m->signature_def[i];
      deft_signature *s = &info->sigs[info->nsigs++];
      s->key = deft_strdup(str_or_empty(e->key));
      s->method = deft_strdup(e->value ? e->value->method_name : "");
      if (!s->key || !s->method) goto oom;
      if (e->value && (!copy_sig_tensors(opts, &s->in, &s->nin, (void *const *)e->value->inputs,
                                         e->value->n_inputs) ||
                       !copy_sig_tensors(opts, &s->out, &s->nout,
                                         (void *const *)e->value->outputs, e->value->n_outputs)))
        goto oom;
    }
  }
  return info;
oom:
  deft_meta_graph_info_free(info);
  return NULL;
}

/* ---- collections ---- */

static bool set_raw_bytes(deft_graph *g, deft_collection *c, int kind, size_t n,
                          const ProtobufCBinaryData *v) {
  c->raw_kind = kind;
  c->raw_bytes = deft_arena_alloc(&g->arena, sizeof(deft_str) * (n ? n : 1));
  if (!c->raw_bytes) return false;
  for (size_t i = 0; i < n; i++) {
    c->raw_bytes[i].p = deft_arena_strndup(&g->arena, v[i].data ? (const char *)v[i].data : "",
                                           v[i].len);
    if (!c->raw_bytes[i].p) return false;
    c->raw_bytes[i].len = v[i].len;
  }
  c->nraw = (int)n;
  return true;
}

/* Makes the variable named by one VariableDef a deft variable and adds it to collection `key`. */
static bool import_variable(deft_graph *g, const deft_import_options *opts, const char *key,
                            size_t index, const ProtobufCBinaryData *bytes, deft_status *st) {
  Tensorflow__VariableDef *vd =
      tensorflow__variable_def__unpack(deft_protobuf_allocator(), bytes->len, bytes->data);
  if (!vd) {
    deft_status_set(st, DEFT_DATA_LOSS,
                    "collection '%s': value %zu (%zu bytes) is not a valid VariableDef", key,
                    index, bytes->len);
    return false;
  }
  bool ok = false;
  deft_output var = deft_io_resolve(g, opts, vd->variable_name, true, st);
  if (!var.op) goto done;
  if (deft_op_is_variable(var.op) && !var.op->var) { /* VariableV2 or VarHandleOp */
    deft_op *assign = NULL;
    deft_output read = {NULL, 0}, init = {NULL, 0};
    if (*vd->initializer_name) {
      deft_output a = deft_io_resolve(g, opts, vd->initializer_name, false, st);
      if (!a.op) goto done;
      assign = a.op;
    }
    if (*vd->snapshot_name) {
      read = deft_io_resolve(g, opts, vd->snapshot_name, true, st);
      if (!read.op) goto done;
    }
    if (*vd->initial_value_name) {
      init = deft_io_resolve(g, opts, vd->initial_value_name, true, st);
      if (!init.op) goto done;
    } else if (assign && assign->ninputs == 2 && assign->inputs[0].op == var.op) {
      init = assign->inputs[1]; /* TF < 1.3 did not record it: the initializer assigns it */
    }
    deft_var_info *vi = deft_arena_alloc(&g->arena, sizeof *vi);
    if (!vi) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
    vi->assign = assign;
    vi->read = read.op;
    vi->initial_value = init;
    vi->trainable = vd->trainable;
    var.op->var = vi;
  }
  var.index = 0;
  deft_graph_add_to_collection(g, key, var);
  ok = deft_graph_ok(g);
  if (!ok) deft_status_copy(st, deft_graph_status(g));
done:
  if (!ok) deft_status_prefix(st, "collection '%s': VariableDef %zu", key, index);
  tensorflow__variable_def__free_unpacked(vd, deft_protobuf_allocator());
  return ok;
}

static bool import_collection(deft_graph *g, const deft_import_options *opts, const char *key,
                              const Tensorflow__CollectionDef *cd, deft_status *st) {
  deft_collection *c;
  switch (cd->kind_case) {
    case TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST: {
      const Tensorflow__CollectionDef__NodeList *l = cd->node_list;
      if (!deft_graph_collection(g, key, true)) goto oom;
      for (size_t i = 0; i < l->n_value; i++) {
        deft_output o = deft_io_resolve(g, opts, l->value[i], false, st);
        if (!o.op) {
          deft_status_prefix(st, "collection '%s': value %zu", key, i);
          return false;
        }
        deft_graph_add_to_collection(g, key, o);
      }
      if (!deft_graph_ok(g)) {
        deft_status_copy(st, deft_graph_status(g));
        return false;
      }
      return true;
    }
    case TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST: {
      const Tensorflow__CollectionDef__BytesList *l = cd->bytes_list;
      if (!(c = deft_graph_collection(g, key, true))) goto oom;
      if (deft_io_is_variable_key(key)) {
        for (size_t i = 0; i < l->n_value; i++)
          if (!import_variable(g, opts, key, i, &l->value[i], st)) return false;
        /* The names inside the bytes are the file's: keep them only without a prefix. */
        if (opts && opts->prefix) return true;
      }
      c = deft_graph_collection(g, key, false);
      if (!set_raw_bytes(g, c, 2, l->n_value, l->value)) goto oom;
      return true;
    }
    case TENSORFLOW__COLLECTION_DEF__KIND_INT64_LIST: {
      const Tensorflow__CollectionDef__Int64List *l = cd->int64_list;
      if (!(c = deft_graph_collection(g, key, true))) goto oom;
      c->raw_kind = 3;
      c->raw_ints = deft_arena_alloc(&g->arena, sizeof(int64_t) * (l->n_value + 1));
      if (!c->raw_ints) goto oom;
      if (l->n_value) memcpy(c->raw_ints, l->value, sizeof(int64_t) * l->n_value);
      c->nraw = (int)l->n_value;
      return true;
    }
    case TENSORFLOW__COLLECTION_DEF__KIND_FLOAT_LIST: {
      const Tensorflow__CollectionDef__FloatList *l = cd->float_list;
      if (!(c = deft_graph_collection(g, key, true))) goto oom;
      c->raw_kind = 4;
      c->raw_floats = deft_arena_alloc(&g->arena, sizeof(float) * (l->n_value + 1));
      if (!c->raw_floats) goto oom;
      if (l->n_value) memcpy(c->raw_floats, l->value, sizeof(float) * l->n_value);
      c->nraw = (int)l->n_value;
      return true;
    }
    case TENSORFLOW__COLLECTION_DEF__KIND_ANY_LIST: {
      /* Kept as serialized google.protobuf.Any messages (raw_kind 5). */
      const Tensorflow__CollectionDef__AnyList *l = cd->any_list;
      if (!(c = deft_graph_collection(g, key, true))) goto oom;
      c->raw_kind = 5;
      c->raw_bytes = deft_arena_alloc(&g->arena, sizeof(deft_str) * (l->n_value + 1));
      if (!c->raw_bytes) goto oom;
      for (size_t i = 0; i < l->n_value; i++) {
        size_t n = protobuf_c_message_get_packed_size(&l->value[i]->base);
        char *p = deft_arena_alloc(&g->arena, n + 1);
        if (!p) goto oom;
        protobuf_c_message_pack(&l->value[i]->base, (uint8_t *)p);
        c->raw_bytes[i].p = p;
        c->raw_bytes[i].len = n;
      }
      c->nraw = (int)l->n_value;
      return true;
    }
    default:
      return true; /* a collection without a kind: TF skips it too */
  }
oom:
  deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory importing collection '%s'", key);
  return false;
}

/* Imports a parsed MetaGraphDef. */
static deft_graph *import_meta(const Tensorflow__MetaGraphDef *m, const deft_import_options *opts,
                               deft_meta_graph_info **info, deft_status *st) {
  const Tensorflow__OpList *ops =
      m->meta_info_def ? m->meta_info_def->stripped_op_list : NULL;
  deft_graph *g = deft_io_import_graph(m->graph_def, ops, opts, st);
  if (!g) return NULL;
  if (!deft_io_stash_op_list(g, ops)) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < m->n_collection_def; i++) {
    const Tensorflow__MetaGraphDef__CollectionDefEntry *e = m->collection_def[i];
    if (!e->key || !e->value) continue;
    if (!import_collection(g, opts, e->key, e->value, st)) goto fail;
  }
  /* Old files (TF < 1.8 or so) do not record VariableDef.trainable: membership decides. */
  deft_collection *tc = deft_graph_collection(g, DEFT_TRAINABLE_VARIABLES, false);
  for (int i = 0; tc && i < tc->n; i++)
    if (tc->items[i].op->var) tc->items[i].op->var->trainable = true;
  if (info) {
    *info = make_info(m, opts);
    if (!*info) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      goto fail;
    }
  }
  return g;
fail:
  deft_graph_free(g);
  return NULL;
}

deft_graph *deft_import_meta_graph(const char *path, const deft_import_options *opts,
                                   deft_meta_graph_info **info, deft_status *status) {
  if (info) *info = NULL;
  deft_status_clear(status);
  deft_status *st = status ? status : deft_status_new();
  if (!st) return NULL;
  deft_graph *g = NULL;
  Tensorflow__MetaGraphDef *m = (Tensorflow__MetaGraphDef *)deft_io_read_message(
      path, &tensorflow__meta_graph_def__descriptor, "MetaGraphDef", st);
  if (m) {
    g = import_meta(m, opts, info, st);
    if (!g) deft_status_prefix(st, "cannot import '%s'", path);
    tensorflow__meta_graph_def__free_unpacked(m, deft_protobuf_allocator());
  }
  if (st != status) deft_status_free(st);
  return g;
}

/* ---- SavedModel ---- */

static bool has_all_tags(const Tensorflow__MetaGraphDef *m, const char *tags) {
  const Tensorflow__MetaGraphDef__MetaInfoDef *mi = m->meta_info_def;
  const char *p = tags;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    bool found = false;
    for (size_t i = 0; mi && i < mi->n_tags && !found; i++)
      found = strlen(mi->tags[i]) == len && !strncmp(mi->tags[i], p, len);
    if (len && !found) return false;
    p += len;
    if (*p == ',') p++;
  }
  return true;
}

deft_graph *deft_load_saved_model(const char *export_dir, const char *tag,
                                  deft_meta_graph_info **info, deft_status *status) {
  if (info) *info = NULL;
  deft_status_clear(status);
  if (!tag || !*tag) tag = "serve";
  deft_status *st = status ? status : deft_status_new();
  if (!st) return NULL;
  deft_graph *g = NULL;
  char *path = NULL;
  struct stat sb;
  if (stat(export_dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    size_t n = strlen(export_dir);
    path = deft_malloc(n + 32);
    if (!path) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
    /* saved_model.pb, else saved_model.pbtxt (text format), as TF's loader looks for them */
    snprintf(path, n + 32, "%s/saved_model.pb", export_dir);
    if (stat(path, &sb) != 0) {
      snprintf(path, n + 32, "%s/saved_model.pbtxt", export_dir);
      if (stat(path, &sb) != 0) snprintf(path, n + 32, "%s/saved_model.pb", export_dir);
    }
  } else {
    path = deft_strdup(export_dir);
    if (!path) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      goto done;
    }
  }
  Tensorflow__SavedModel *sm = (Tensorflow__SavedModel *)deft_io_read_message(
      path, &tensorflow__saved_model__descriptor, "SavedModel", st);
  if (!sm) goto done;
  const Tensorflow__MetaGraphDef *chosen = NULL;
  for (size_t i = 0; i < sm->n_meta_graphs && !chosen; i++)
    if (has_all_tags(sm->meta_graphs[i], tag)) chosen = sm->meta_graphs[i];
  if (!chosen) {
    char list[1024];
    size_t pos = 0;
    list[0] = 0;
    for (size_t i = 0; i < sm->n_meta_graphs && pos < sizeof list; i++) {
      const Tensorflow__MetaGraphDef__MetaInfoDef *mi = sm->meta_graphs[i]->meta_info_def;
      pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s[", i ? ", " : "");
      for (size_t k = 0; mi && k < mi->n_tags && pos < sizeof list; k++)
        pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s\"%s\"", k ? ", " : "",
                                mi->tags[k]);
      if (pos < sizeof list) pos += (size_t)snprintf(list + pos, sizeof list - pos, "]");
    }
    deft_status_set(st, DEFT_NOT_FOUND,
                    "SavedModel '%s' has no meta graph with tag(s) \"%s\"; its tag sets are %s",
                    path, tag, sm->n_meta_graphs ? list : "(none: the file has no meta graphs)");
  } else {
    g = import_meta(chosen, NULL, info, st);
    if (!g) deft_status_prefix(st, "cannot import SavedModel '%s'", path);
  }
  tensorflow__saved_model__free_unpacked(sm, deft_protobuf_allocator());
done:
  deft_free(path);
  if (st != status) deft_status_free(st);
  return g;
}
