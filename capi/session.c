/* SPDX-License-Identifier: Apache-2.0 */
/* capi/session.c - TensorFlow's C API: session options (TF_SetConfig), sessions
 * (TF_NewSession, TF_SessionRun, TF_LoadSessionFromSavedModel), devices and op lists.
 *
 * DESIGN. A layer above deft's public API (include/deft/ headers only; see capi/capi_internal.h).
 * A TF_Session is a deft_session on the TF_Graph's deft_graph. TF_SessionRun hands the fed
 * tensors (deft tensors: capi/capi_internal.h) to deft_session_run as they are and returns
 * deft's fetched tensors as they are, so for numeric tensors the C API adds a few checks and
 * no allocation to deft's own run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capi/capi_internal.h"

struct TF_SessionOptions {
  int intra_threads; /* 0 = deft's default */
  int inter_threads;
  char *target;
};

struct TF_Session {
  deft_session *s;
  TF_Graph *graph;
  bool closed;
};

/* ---- options ---- */

TF_SessionOptions *TF_NewSessionOptions(void) { return calloc(1, sizeof(TF_SessionOptions)); }

void TF_DeleteSessionOptions(TF_SessionOptions *options) {
  if (!options) return;
  free(options->target);
  free(options);
}

void TF_SetTarget(TF_SessionOptions *options, const char *target) {
  free(options->target);
  options->target = target ? strdup(target) : NULL;
}

static bool read_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return false;
    uint8_t c = p[(*pos)++];
    *v |= (uint64_t)(c & 127) << shift;
    if (!(c & 128)) return true;
  }
  return false;
}

/* ConfigProto: device_count = 1 (map), intra_op_parallelism_threads = 2,
 * inter_op_parallelism_threads = 5, use_per_session_threads = 9, ... Only the thread counts
 * are used; every other field is checked for well-formedness and skipped. */
void TF_SetConfig(TF_SessionOptions *options, const void *proto, size_t proto_len,
                  TF_Status *status) {
  deft_status *st = st_of(status);
  const uint8_t *p = proto;
  size_t pos = 0;
  int intra = options->intra_threads, inter = options->inter_threads;
  while (pos < proto_len) {
    uint64_t key, v;
    size_t at = pos;
    bool ok = read_varint(p, proto_len, &pos, &key);
    int field = (int)(key >> 3), wt = (int)(key & 7);
    if (ok && field == 0) ok = false;
    if (ok) switch (wt) {
        case 0:
          ok = read_varint(p, proto_len, &pos, &v);
          if (ok && field == 2) intra = (int)(int32_t)v;
          if (ok && field == 5) inter = (int)(int32_t)v;
          break;
        case 1: ok = proto_len - pos >= 8; pos += ok ? 8 : 0; break;
        case 5: ok = proto_len - pos >= 4; pos += ok ? 4 : 0; break;
        case 2:
          ok = read_varint(p, proto_len, &pos, &v) && v <= proto_len - pos;
          if (ok) pos += (size_t)v;
          break;
        default: ok = false;
      }
    if (!ok) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "Unparseable ConfigProto (%zu bytes): bad field at byte %zu", proto_len, at);
      return;
    }
  }
  options->intra_threads = intra < 0 ? 0 : intra;
  options->inter_threads = inter < 0 ? 0 : inter;
  deft_status_clear(st);
}

/* ---- sessions ---- */

static bool target_ok(const TF_SessionOptions *opts, deft_status *st) {
  if (!opts || !opts->target || !*opts->target || !strcmp(opts->target, "local")) return true;
  deft_status_set(st, DEFT_UNIMPLEMENTED,
                  "session target '%s': deft runs sessions in process only (\"\" or \"local\")",
                  opts->target);
  return false;
}

static TF_Session *new_session(TF_Graph *graph, const TF_SessionOptions *opts, deft_status *st) {
  TF_Session *s = calloc(1, sizeof *s);
  if (!s) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  s->graph = graph;
  s->s = deft_session_new(graph->g, st);
  if (!s->s) {
    free(s);
    return NULL;
  }
  if (opts && opts->intra_threads > 0) deft_session_set_threads(s->s, opts->intra_threads);
  capi_graph_add_session(graph);
  return s;
}

/* Frees s and uncounts it on its graph (which goes with it if TF_DeleteGraph came first). */
static void delete_session(TF_Session *s) {
  TF_Graph *graph = s->graph;
  deft_session_free(s->s);
  free(s);
  capi_graph_remove_session(graph);
}

TF_Session *TF_NewSession(TF_Graph *graph, const TF_SessionOptions *opts, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (!target_ok(opts, st)) return NULL;
  return new_session(graph, opts, st);
}

void TF_CloseSession(TF_Session *s, TF_Status *status) {
  if (s) s->closed = true;
  deft_status_clear(st_of(status));
}

void TF_DeleteSession(TF_Session *s, TF_Status *status) {
  deft_status_clear(st_of(status));
  if (!s) return;
  delete_session(s);
}

/* Checks one TF_Output argument of a run. */
static bool run_output_ok(TF_Session *s, TF_Output o, const char *what, int i, deft_status *st) {
  if (!o.oper) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "%s %d has no operation (oper is NULL)", what, i);
    return false;
  }
  deft_op *op = op_of(o.oper);
  if (deft_op_graph(op) != s->graph->g) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "%s %d ('%s') belongs to another graph", what, i,
                    deft_op_name(op));
    return false;
  }
  int n = deft_op_num_outputs(op);
  if (o.index < 0 || o.index >= n) {
    deft_status_set(st, DEFT_OUT_OF_RANGE,
                    "Node '%s' (type: '%s', num of outputs: %d) does not have output %d",
                    deft_op_name(op), deft_op_type(op), n, o.index);
    return false;
  }
  return true;
}

/* Checks a run's arguments with TensorFlow's messages (the counts are not negative). Returns
 * false with status set for the first bad one. */
static bool run_args_ok(TF_Session *s, const TF_Output *inputs, TF_Tensor *const *input_values,
                        int ninputs, const TF_Output *outputs, int noutputs,
                        const TF_Operation *const *targets, int ntargets, deft_status *st) {
  for (int i = 0; i < ninputs; i++)
    if (!run_output_ok(s, inputs[i], "input", i, st)) return false;
  for (int i = 0; i < noutputs; i++)
    if (!run_output_ok(s, outputs[i], "output", i, st)) return false;
  for (int i = 0; i < ntargets; i++)
    if (!targets[i] || deft_op_graph((deft_op *)targets[i]) != s->graph->g) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "target %d is NULL or of another graph", i);
      return false;
    }
  for (int i = 0; i < ninputs; i++)
    if (!input_values[i]) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "input_values[%d] ('%s:%d') is NULL", i,
                      deft_op_name(op_of(inputs[i].oper)), inputs[i].index);
      return false;
    }
  return true;
}

enum { SMALL_RUN = 16 };

/* A run with a boxed feed (strings, or a dtype deft does not compute in): the arguments are
 * checked, the boxes converted to deft tensors for the call. */
__attribute__((noinline)) /* off TF_SessionRun's path: its stack array and spills too */
static bool run_converting(TF_Session *session, const TF_Output *inputs,
                           TF_Tensor *const *input_values, int ninputs, const TF_Output *outputs,
                           TF_Tensor **output_values, int noutputs,
                           const TF_Operation *const *targets, int ntargets, deft_status *st) {
  for (int i = 0; i < noutputs; i++) output_values[i] = NULL;
  if (!run_args_ok(session, inputs, input_values, ninputs, outputs, noutputs, targets, ntargets,
                   st))
    return false;
  deft_tensor *small[SMALL_RUN];
  deft_tensor **feeds = ninputs <= SMALL_RUN ? small : calloc((size_t)ninputs, sizeof *feeds);
  if (!feeds) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  bool ok = true;
  int nconverted = 0;
  for (; ok && nconverted < ninputs; nconverted++) {
    TF_Tensor *t = input_values[nconverted];
    if (!capi_is_box(t)) {
      feeds[nconverted] = capi_deft_of(t);
      continue;
    }
    feeds[nconverted] = capi_tensor_to_deft(t, st);
    if (!feeds[nconverted]) {
      deft_status_prefix(st, "feeding '%s:%d'", deft_op_name(op_of(inputs[nconverted].oper)),
                         inputs[nconverted].index);
      ok = false;
      break;
    }
  }
  if (ok)
    ok = deft_session_run(session->s, (const deft_output *)inputs,
                          (const deft_tensor *const *)feeds, ninputs, (const deft_output *)outputs,
                          (deft_tensor **)output_values, noutputs, (deft_op *const *)targets,
                          ntargets, st);
  for (int i = 0; i < nconverted; i++)
    if (capi_is_box(input_values[i])) deft_tensor_free(feeds[i]);
  if (feeds != small) free(feeds);
  return ok;
}

/* A TF_Tensor of deft's numeric dtypes is the deft tensor itself (capi/capi_internal.h), so
 * when every feed is one, the caller's arrays go to deft_session_run as they are: the fed
 * tensors are borrowed, the fetched ones are deft's new tensors, owned by the caller and freed
 * by TF_DeleteTensor. deft checks the arguments (without crashing on bad ones) and plans a new
 * signature once; only when a run fails are they checked again here, for TensorFlow's codes
 * and messages. Fetched strings become TF_TString boxes. */
void TF_SessionRun(TF_Session *session, const TF_Buffer *run_options, const TF_Output *inputs,
                   TF_Tensor *const *input_values, int ninputs, const TF_Output *outputs,
                   TF_Tensor **output_values, int noutputs,
                   const TF_Operation *const *target_opers, int ntargets,
                   TF_Buffer *run_metadata, TF_Status *status) {
  deft_status *st = st_of(status);
  if (!deft_status_ok(st)) deft_status_clear(st);
  if (session->closed || (ninputs | noutputs | ntargets) < 0) {
    for (int i = 0; i < noutputs; i++) output_values[i] = NULL;
    if (session->closed)
      deft_status_set(st, DEFT_FAILED_PRECONDITION, "Session has been closed.");
    else
      deft_status_set(st, DEFT_INVALID_ARGUMENT, "negative count of inputs, outputs or targets");
    return;
  }
  uintptr_t tags = 0; /* a box's handle has the low bit set; deft reports a NULL feed itself */
  for (int i = 0; i < ninputs; i++) tags |= (uintptr_t)input_values[i];
  if (tags & 1) {
    if (!run_converting(session, inputs, input_values, ninputs, outputs, output_values, noutputs,
                        target_opers, ntargets, st))
      return;
  } else if (!deft_session_run(session->s, (const deft_output *)inputs,
                               (const deft_tensor *const *)input_values, ninputs,
                               (const deft_output *)outputs, (deft_tensor **)output_values,
                               noutputs, (deft_op *const *)target_opers, ntargets, st)) {
    /* deft left every output NULL; a bad argument gets TensorFlow's code and message */
    run_args_ok(session, inputs, input_values, ninputs, outputs, noutputs, target_opers, ntargets,
                st);
    return;
  }
  for (int i = 0; i < noutputs; i++) {
    deft_tensor *t = capi_deft_of(output_values[i]);
    if (deft_tensor_dtype(t) != DEFT_STRING) continue;
    output_values[i] = capi_tensor_from_deft(t, st); /* takes t */
    if (!output_values[i]) {
      for (int k = 0; k < noutputs; k++) {
        TF_DeleteTensor(output_values[k]);
        output_values[k] = NULL;
      }
      return;
    }
  }
}

void TF_SessionPRunSetup(TF_Session *s, const TF_Output *inputs, int ninputs,
                         const TF_Output *outputs, int noutputs,
                         const TF_Operation *const *target_opers, int ntargets,
                         const char **handle, TF_Status *status) {
  *handle = NULL;
  capi_unimplemented(status, "TF_SessionPRunSetup");
}

void TF_SessionPRun(TF_Session *s, const char *handle, const TF_Output *inputs,
                    TF_Tensor *const *input_values, int ninputs, const TF_Output *outputs,
                    TF_Tensor **output_values, int noutputs,
                    const TF_Operation *const *target_opers, int ntargets, TF_Status *status) {
  for (int i = 0; i < noutputs; i++) output_values[i] = NULL;
  capi_unimplemented(status, "TF_SessionPRun");
}

void TF_DeletePRunHandle(const char *handle) {}

/* ---- SavedModel ---- */

/* Runs the op of the one-item collection `key` if the graph has it. */
static bool run_collection_op(TF_Session *s, const char *key, bool *ran, deft_status *st) {
  deft_output item;
  *ran = false;
  int n = deft_graph_get_collection(s->graph->g, key, NULL, &item, 1, st);
  if (n < 0) return false;
  if (n == 0) return true;
  deft_op *op = item.op;
  *ran = true;
  if (!deft_session_run(s->s, NULL, NULL, 0, NULL, NULL, 0, &op, 1, st)) {
    deft_status_prefix(st, "running the SavedModel's %s '%s'", key, deft_op_name(op));
    return false;
  }
  return true;
}

static bool restore_variables(TF_Session *s, const deft_meta_graph_info *info, const char *dir,
                              deft_status *st) {
  if (!deft_meta_graph_info_has_saver(info)) return true;
  size_t n = strlen(dir) + 64;
  char *prefix = malloc(n), *index = malloc(n);
  bool ok = prefix && index;
  if (!ok) deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  struct stat sb;
  if (ok) {
    snprintf(prefix, n, "%s/variables/variables", dir);
    snprintf(index, n, "%s.index", prefix);
  }
  if (ok && stat(index, &sb) == 0) { /* a model without variables has no index: nothing to do */
    deft_output fname = deft_graph_tensor_by_name(
        s->graph->g, deft_meta_graph_info_filename_tensor(info), st);
    deft_op *restore = deft_graph_op_by_name(s->graph->g, deft_meta_graph_info_restore_op(info));
    if (!fname.op || !restore) {
      if (deft_status_ok(st))
        deft_status_set(st, DEFT_NOT_FOUND, "the SavedModel's restore op '%s' is missing",
                        deft_meta_graph_info_restore_op(info));
      ok = false;
    }
    deft_tensor *v = ok ? deft_tensor_scalar_string(prefix) : NULL;
    if (ok && !v) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      ok = false;
    }
    if (ok)
      ok = deft_session_run(s->s, &fname, (const deft_tensor *const[]){v}, 1, NULL, NULL, 0,
                            &restore, 1, st);
    deft_tensor_free(v);
  }
  free(prefix);
  free(index);
  return ok;
}

TF_Session *TF_LoadSessionFromSavedModel(const TF_SessionOptions *session_options,
                                         const TF_Buffer *run_options, const char *export_dir,
                                         const char *const *tags, int tags_len, TF_Graph *graph,
                                         TF_Buffer *meta_graph_def, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (!target_ok(session_options, st)) return NULL;
  if (deft_graph_num_ops(graph->g) != 0) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "Graph is non-empty.");
    return NULL;
  }
  /* deft loads the model into a new deft_graph and gives it to `graph`; a session already made
   * on the (empty) graph would keep the old one, so that is refused instead */
  int others = capi_graph_sessions(graph);
  if (others) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION,
                    "TF_LoadSessionFromSavedModel: the graph already has %d session(s); deft "
                    "loads a SavedModel only into a new, empty graph that no session uses",
                    others);
    return NULL;
  }
  size_t n = 1;
  for (int i = 0; i < tags_len; i++) n += strlen(tags[i]) + 1;
  char *joined = malloc(n);
  if (!joined) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  joined[0] = 0;
  for (int i = 0; i < tags_len; i++) {
    if (i) strcat(joined, ",");
    strcat(joined, tags[i]);
  }
  deft_meta_graph_info *info = NULL;
  /* deft's loader defaults an empty tag list to "serve"; TF's needs the tags given */
  deft_graph *g = deft_load_saved_model(export_dir, tags_len ? joined : ",", &info, st);
  free(joined);
  if (!g) return NULL;
  deft_graph_free(graph->g);
  graph->g = g;
  TF_Session *s = new_session(graph, session_options, st);
  bool ran;
  bool ok = s && restore_variables(s, info, export_dir, st);
  if (ok) ok = run_collection_op(s, "saved_model_main_op", &ran, st);
  if (ok && !ran) ok = run_collection_op(s, "legacy_init_op", &ran, st);
  if (ok && meta_graph_def) {
    void *data;
    size_t len;
    ok = deft_export_meta_graph_data(g, info, &data, &len, st);
    if (ok) capi_to_buffer(data, len, meta_graph_def);
  }
  deft_meta_graph_info_free(info);
  if (!ok) {
    if (s) delete_session(s);
    return NULL;
  }
  return s;
}

/* ---- devices ---- */

struct TF_DeviceList {
  int n;
};

static const char cpu_name[] = "/job:localhost/replica:0/task:0/device:CPU:0";

TF_DeviceList *TF_SessionListDevices(TF_Session *session, TF_Status *status) {
  TF_DeviceList *l = calloc(1, sizeof *l);
  if (!l) {
    deft_status_set(st_of(status), DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  l->n = 1;
  deft_status_clear(st_of(status));
  return l;
}

void TF_DeleteDeviceList(TF_DeviceList *list) { free(list); }
int TF_DeviceListCount(const TF_DeviceList *list) { return list ? list->n : 0; }

static bool device_ok(const TF_DeviceList *list, int index, TF_Status *status) {
  if (list && index >= 0 && index < list->n) {
    deft_status_clear(st_of(status));
    return true;
  }
  deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT, "Index out of bounds (%d in [0, %d))",
                  index, list ? list->n : 0);
  return false;
}

const char *TF_DeviceListName(const TF_DeviceList *list, int index, TF_Status *status) {
  return device_ok(list, index, status) ? cpu_name : NULL;
}
const char *TF_DeviceListType(const TF_DeviceList *list, int index, TF_Status *status) {
  return device_ok(list, index, status) ? "CPU" : NULL;
}
int64_t TF_DeviceListMemoryBytes(const TF_DeviceList *list, int index, TF_Status *status) {
  return device_ok(list, index, status) ? 268435456 : -1;
}
uint64_t TF_DeviceListIncarnation(const TF_DeviceList *list, int index, TF_Status *status) {
  return device_ok(list, index, status) ? 1 : 0;
}

/* ---- op lists and libraries ---- */

TF_Library *TF_LoadLibrary(const char *library_filename, TF_Status *status) {
  capi_unimplemented(status, "TF_LoadLibrary");
  return NULL;
}

TF_Buffer TF_GetOpList(TF_Library *lib_handle) {
  TF_Buffer b = {NULL, 0, NULL};
  return b;
}

void TF_DeleteLibraryHandle(TF_Library *lib_handle) {}

TF_Buffer *TF_GetAllOpList(void) {
  void *data;
  size_t len;
  if (!deft_op_def_data(NULL, &data, &len, NULL)) return NULL;
  TF_Buffer *b = TF_NewBuffer();
  if (!b) {
    free(data);
    return NULL;
  }
  capi_to_buffer(data, len, b);
  return b;
}
