/* SPDX-License-Identifier: Apache-2.0 */
/* capi/graph.c - TensorFlow's C API: TF_Graph, building operations (TF_NewOperation,
 * TF_AddInput, TF_SetAttr*, TF_FinishOperation), operation introspection and attrs
 * (TF_OperationGetAttr*), shapes, GraphDef import/export and TF_AddGradients.
 *
 * DESIGN. A layer above deft's public API (include/deft/ headers only; see capi/capi_internal.h).
 * A description is a deft_op_builder with an exact name. deft's builder records its first
 * error on the graph (the sticky error); TensorFlow's graphs have none, so every call that may
 * fail moves the graph's error into the description (or the caller's status) and clears it,
 * and a TF_Graph never keeps a sticky error between calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capi/capi_internal.h"

struct TF_OperationDescription {
  TF_Graph *graph;
  deft_op_builder *b;
  char *name;
  deft_status *err; /* the first error of this description (OK if none) */
};

/* Moves g's sticky error (if any) into st, and clears it. Returns true iff there was none. */
static bool take_graph_error(deft_graph *g, deft_status *st) {
  if (deft_graph_ok(g)) return true;
  if (st && deft_status_ok(st)) deft_status_copy(st, deft_graph_status(g));
  deft_graph_clear_error(g);
  return false;
}

static void desc_fail(TF_OperationDescription *d, deft_code code, const char *fmt, const char *a,
                      const char *b) {
  if (!deft_status_ok(d->err)) return;
  deft_status_set(d->err, code, fmt, a, b);
}

/* After a builder call: keep the graph free of a sticky error. */
static void desc_check(TF_OperationDescription *d) { take_graph_error(d->graph->g, d->err); }

/* ---- graphs ---- */

TF_Graph *TF_NewGraph(void) {
  TF_Graph *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->g = deft_graph_new();
  if (!g->g || pthread_mutex_init(&g->mu, NULL) != 0) {
    deft_graph_free(g->g);
    free(g);
    return NULL;
  }
  return g;
}

static void graph_destroy(TF_Graph *g) {
  deft_graph_free(g->g);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

void TF_DeleteGraph(TF_Graph *g) {
  if (!g) return;
  pthread_mutex_lock(&g->mu);
  bool later = g->nsessions > 0;
  if (later) g->delete_requested = true; /* the last TF_DeleteSession frees it */
  pthread_mutex_unlock(&g->mu);
  if (!later) graph_destroy(g);
}

void capi_graph_add_session(TF_Graph *g) {
  pthread_mutex_lock(&g->mu);
  g->nsessions++;
  pthread_mutex_unlock(&g->mu);
}

void capi_graph_remove_session(TF_Graph *g) {
  pthread_mutex_lock(&g->mu);
  bool destroy = --g->nsessions == 0 && g->delete_requested;
  pthread_mutex_unlock(&g->mu);
  if (destroy) graph_destroy(g);
}

int capi_graph_sessions(TF_Graph *g) {
  pthread_mutex_lock(&g->mu);
  int n = g->nsessions;
  pthread_mutex_unlock(&g->mu);
  return n;
}

TF_Operation *TF_GraphOperationByName(TF_Graph *graph, const char *oper_name) {
  return oper_name ? oper_of(deft_graph_op_by_name(graph->g, oper_name)) : NULL;
}

TF_Operation *TF_GraphNextOperation(TF_Graph *graph, size_t *pos) {
  if (*pos >= (size_t)deft_graph_num_ops(graph->g)) return NULL;
  return oper_of(deft_graph_op_at(graph->g, (int)(*pos)++));
}

/* Checks that output names a tensor of graph: OUT_OF_RANGE / INVALID_ARGUMENT otherwise. */
static bool output_ok(TF_Graph *graph, TF_Output o, deft_status *st) {
  if (!o.oper) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "the output has no operation (oper is NULL)");
    return false;
  }
  if (deft_op_graph(op_of(o.oper)) != graph->g) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "operation '%s' belongs to another graph",
                    deft_op_name(op_of(o.oper)));
    return false;
  }
  int n = deft_op_num_outputs(op_of(o.oper));
  if (o.index < 0 || o.index >= n) {
    deft_status_set(st, DEFT_OUT_OF_RANGE,
                    "Node '%s' (type: '%s', num of outputs: %d) does not have output %d",
                    deft_op_name(op_of(o.oper)), deft_op_type(op_of(o.oper)), n, o.index);
    return false;
  }
  return true;
}

void TF_GraphSetTensorShape(TF_Graph *graph, TF_Output output, const int64_t *dims,
                            const int num_dims, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (!output_ok(graph, output, st)) return;
  if (num_dims > DEFT_MAX_RANK) {
    deft_status_set(st, DEFT_UNIMPLEMENTED, "deft's shapes have at most 8 dims, not %d",
                    num_dims);
    return;
  }
  deft_shape s = num_dims < 0 ? deft_shape_unknown() : deft_shape_make(num_dims, dims);
  deft_output_set_shape(out_of(output), s, st);
}

int TF_GraphGetTensorNumDims(TF_Graph *graph, TF_Output output, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (!output_ok(graph, output, st)) return -1;
  return deft_output_shape(out_of(output)).rank;
}

void TF_GraphGetTensorShape(TF_Graph *graph, TF_Output output, int64_t *dims, int num_dims,
                            TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (!output_ok(graph, output, st)) return;
  deft_shape s = deft_output_shape(out_of(output));
  if (s.rank != num_dims) {
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "Expected rank is %d but actual rank is %d",
                    num_dims, s.rank);
    return;
  }
  for (int i = 0; i < num_dims; i++) dims[i] = s.dims[i];
}

/* ---- building operations ---- */

TF_OperationDescription *TF_NewOperation(TF_Graph *graph, const char *op_type,
                                         const char *oper_name) {
  TF_OperationDescription *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->graph = graph;
  d->err = deft_status_new();
  d->name = oper_name ? strdup(oper_name) : NULL;
  if (!d->err || (oper_name && !d->name)) {
    deft_status_free(d->err);
    free(d->name);
    free(d);
    return NULL;
  }
  take_graph_error(graph->g, NULL);
  d->b = deft_op_builder_new(graph->g, op_type ? op_type : "", NULL);
  if (!oper_name || !*oper_name)
    desc_fail(d, DEFT_INVALID_ARGUMENT, "%s%sNode has no name (TF_NewOperation needs one)",
              op_type ? op_type : "", " ");
  else if (deft_graph_op_by_name(graph->g, oper_name))
    desc_fail(d, DEFT_INVALID_ARGUMENT, "Duplicate node name in graph: '%s'%s", oper_name, "");
  else
    deft_op_builder_set_exact_name(d->b, oper_name);
  desc_check(d);
  return d;
}

void TF_SetDevice(TF_OperationDescription *desc, const char *device) {
  deft_op_builder_set_device(desc->b, device ? device : "");
  desc_check(desc);
}

void TF_AddInput(TF_OperationDescription *desc, TF_Output input) {
  deft_op_builder_add_input(desc->b, out_of(input));
  desc_check(desc);
}

void TF_AddInputList(TF_OperationDescription *desc, const TF_Output *inputs, int num_inputs) {
  deft_op_builder_add_input_list(desc->b, (const deft_output *)inputs, num_inputs);
  desc_check(desc);
}

void TF_AddControlInput(TF_OperationDescription *desc, TF_Operation *input) {
  if (!input) {
    desc_fail(desc, DEFT_INVALID_ARGUMENT, "%s%scontrol input is NULL", "", "");
    return;
  }
  deft_op_builder_add_control_input(desc->b, op_of(input));
  desc_check(desc);
}

/* Colocation is a placement hint; deft has one device, so it is accepted and not recorded. */
void TF_ColocateWith(TF_OperationDescription *desc, TF_Operation *op) {}

void TF_SetAttrString(TF_OperationDescription *desc, const char *attr_name, const void *value,
                      size_t length) {
  deft_op_builder_set_attr_string(desc->b, attr_name, value ? value : "", length);
  desc_check(desc);
}

void TF_SetAttrStringList(TF_OperationDescription *desc, const char *attr_name,
                          const void *const *values, const size_t *lengths, int num_values) {
  /* deft's list setter takes NUL-terminated strings: copy each */
  char **copies = calloc((size_t)(num_values > 0 ? num_values : 1), sizeof *copies);
  bool ok = copies != NULL;
  for (int i = 0; ok && i < num_values; i++) {
    if (memchr(values[i], 0, lengths[i])) {
      desc_fail(desc, DEFT_UNIMPLEMENTED, "attr '%s': deft's string lists cannot hold NUL "
                "bytes%s", attr_name, "");
      ok = false;
      break;
    }
    copies[i] = malloc(lengths[i] + 1);
    ok = copies[i] != NULL;
    if (ok) {
      memcpy(copies[i], values[i], lengths[i]);
      copies[i][lengths[i]] = 0;
    }
  }
  if (ok) deft_op_builder_set_attr_string_list(desc->b, attr_name, (const char *const *)copies,
                                               num_values);
  else if (!copies || deft_status_ok(desc->err))
    desc_fail(desc, DEFT_RESOURCE_EXHAUSTED, "attr '%s': out of memory%s", attr_name, "");
  for (int i = 0; copies && i < num_values; i++) free(copies[i]);
  free(copies);
  desc_check(desc);
}

void TF_SetAttrInt(TF_OperationDescription *desc, const char *attr_name, int64_t value) {
  deft_op_builder_set_attr_int(desc->b, attr_name, value);
  desc_check(desc);
}

void TF_SetAttrIntList(TF_OperationDescription *desc, const char *attr_name,
                       const int64_t *values, int num_values) {
  deft_op_builder_set_attr_int_list(desc->b, attr_name, values, num_values);
  desc_check(desc);
}

void TF_SetAttrFloat(TF_OperationDescription *desc, const char *attr_name, float value) {
  deft_op_builder_set_attr_float(desc->b, attr_name, value);
  desc_check(desc);
}

void TF_SetAttrFloatList(TF_OperationDescription *desc, const char *attr_name,
                         const float *values, int num_values) {
  deft_op_builder_set_attr_float_list(desc->b, attr_name, values, num_values);
  desc_check(desc);
}

void TF_SetAttrBool(TF_OperationDescription *desc, const char *attr_name, unsigned char value) {
  deft_op_builder_set_attr_bool(desc->b, attr_name, value != 0);
  desc_check(desc);
}

void TF_SetAttrBoolList(TF_OperationDescription *desc, const char *attr_name,
                        const unsigned char *values, int num_values) {
  bool *v = malloc(sizeof *v * (size_t)(num_values > 0 ? num_values : 1));
  if (!v) {
    desc_fail(desc, DEFT_RESOURCE_EXHAUSTED, "attr '%s': out of memory%s", attr_name, "");
    return;
  }
  for (int i = 0; i < num_values; i++) v[i] = values[i] != 0;
  deft_op_builder_set_attr_bool_list(desc->b, attr_name, v, num_values);
  free(v);
  desc_check(desc);
}

void TF_SetAttrType(TF_OperationDescription *desc, const char *attr_name, TF_DataType value) {
  deft_op_builder_set_attr_type(desc->b, attr_name, (deft_dtype)value);
  desc_check(desc);
}

void TF_SetAttrTypeList(TF_OperationDescription *desc, const char *attr_name,
                        const TF_DataType *values, int num_values) {
  deft_dtype *v = malloc(sizeof *v * (size_t)(num_values > 0 ? num_values : 1));
  if (!v) {
    desc_fail(desc, DEFT_RESOURCE_EXHAUSTED, "attr '%s': out of memory%s", attr_name, "");
    return;
  }
  for (int i = 0; i < num_values; i++) v[i] = (deft_dtype)values[i];
  deft_op_builder_set_attr_type_list(desc->b, attr_name, v, num_values);
  free(v);
  desc_check(desc);
}

void TF_SetAttrPlaceholder(TF_OperationDescription *desc, const char *attr_name,
                           const char *placeholder) {
  desc_fail(desc, DEFT_UNIMPLEMENTED, "TF_SetAttrPlaceholder (attr '%s') is not implemented by "
            "deft%s", attr_name, "");
}

void TF_SetAttrFuncName(TF_OperationDescription *desc, const char *attr_name, const char *value,
                        size_t length) {
  desc_fail(desc, DEFT_UNIMPLEMENTED, "TF_SetAttrFuncName (attr '%s') is not implemented by "
            "deft%s", attr_name, "");
}

static bool make_shape(const int64_t *dims, int num_dims, deft_shape *out) {
  if (num_dims < 0) {
    *out = deft_shape_unknown();
    return true;
  }
  if (num_dims > DEFT_MAX_RANK) return false;
  *out = deft_shape_make(num_dims, dims);
  return true;
}

void TF_SetAttrShape(TF_OperationDescription *desc, const char *attr_name, const int64_t *dims,
                     int num_dims) {
  deft_shape s;
  if (!make_shape(dims, num_dims, &s)) {
    desc_fail(desc, DEFT_UNIMPLEMENTED, "attr '%s': deft's shapes have at most 8 dims%s",
              attr_name, "");
    return;
  }
  deft_op_builder_set_attr_shape(desc->b, attr_name, s);
  desc_check(desc);
}

void TF_SetAttrShapeList(TF_OperationDescription *desc, const char *attr_name,
                         const int64_t *const *dims, const int *num_dims, int num_shapes) {
  deft_shape *v = malloc(sizeof *v * (size_t)(num_shapes > 0 ? num_shapes : 1));
  if (!v) {
    desc_fail(desc, DEFT_RESOURCE_EXHAUSTED, "attr '%s': out of memory%s", attr_name, "");
    return;
  }
  for (int i = 0; i < num_shapes; i++)
    if (!make_shape(dims[i], num_dims[i], &v[i])) {
      desc_fail(desc, DEFT_UNIMPLEMENTED, "attr '%s': deft's shapes have at most 8 dims%s",
                attr_name, "");
      free(v);
      return;
    }
  deft_op_builder_set_attr_shape_list(desc->b, attr_name, v, num_shapes);
  free(v);
  desc_check(desc);
}

/* A TensorShapeProto: message { repeated Dim dim = 2 {int64 size = 1; string name = 2};
 * bool unknown_rank = 3; }. Parsed by hand (capi/ does not link protobuf-c directly). */
static bool varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return false;
    uint8_t c = p[(*pos)++];
    *v |= (uint64_t)(c & 127) << shift;
    if (!(c & 128)) return true;
  }
  return false;
}

/* Skips a field of wire type wt at *pos. */
static bool skip_field(const uint8_t *p, size_t n, size_t *pos, int wt) {
  uint64_t v;
  switch (wt) {
    case 0: return varint(p, n, pos, &v);
    case 1: if (n - *pos < 8) return false; *pos += 8; return true;
    case 2: if (!varint(p, n, pos, &v) || v > n - *pos) return false; *pos += v; return true;
    case 5: if (n - *pos < 4) return false; *pos += 4; return true;
    default: return false;
  }
}

bool capi_parse_shape_proto(const void *proto, size_t len, deft_shape *out) {
  const uint8_t *p = proto;
  size_t pos = 0;
  int rank = 0;
  int64_t dims[DEFT_MAX_RANK];
  bool unknown = false;
  while (pos < len) {
    uint64_t key;
    if (!varint(p, len, &pos, &key)) return false;
    int field = (int)(key >> 3), wt = (int)(key & 7);
    if (field == 2 && wt == 2) {
      uint64_t l;
      if (!varint(p, len, &pos, &l) || l > len - pos) return false;
      size_t end = pos + l;
      int64_t size = 0;
      while (pos < end) {
        uint64_t k2, v;
        if (!varint(p, end, &pos, &k2)) return false;
        if ((k2 >> 3) == 1 && (k2 & 7) == 0) {
          if (!varint(p, end, &pos, &v)) return false;
          size = (int64_t)v;
        } else if (!skip_field(p, end, &pos, (int)(k2 & 7))) {
          return false;
        }
      }
      if (rank == DEFT_MAX_RANK) return false;
      dims[rank++] = size;
    } else if (field == 3 && wt == 0) {
      uint64_t v;
      if (!varint(p, len, &pos, &v)) return false;
      unknown = v != 0;
    } else if (!skip_field(p, len, &pos, wt)) {
      return false;
    }
  }
  *out = unknown ? deft_shape_unknown() : deft_shape_make(rank, dims);
  return true;
}

void TF_SetAttrTensorShapeProto(TF_OperationDescription *desc, const char *attr_name,
                                const void *proto, size_t proto_len, TF_Status *status) {
  deft_shape s;
  if (!capi_parse_shape_proto(proto, proto_len, &s)) {
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                    "attr '%s': unparseable TensorShapeProto (%zu bytes) or more than 8 dims",
                    attr_name, proto_len);
    return;
  }
  deft_status_clear(st_of(status));
  deft_op_builder_set_attr_shape(desc->b, attr_name, s);
  desc_check(desc);
}

void TF_SetAttrTensorShapeProtoList(TF_OperationDescription *desc, const char *attr_name,
                                    const void *const *protos, const size_t *proto_lens,
                                    int num_shapes, TF_Status *status) {
  deft_shape *v = malloc(sizeof *v * (size_t)(num_shapes > 0 ? num_shapes : 1));
  if (!v) {
    deft_status_set(st_of(status), DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  for (int i = 0; i < num_shapes; i++)
    if (!capi_parse_shape_proto(protos[i], proto_lens[i], &v[i])) {
      deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                      "attr '%s': unparseable TensorShapeProto at index %d", attr_name, i);
      free(v);
      return;
    }
  deft_status_clear(st_of(status));
  deft_op_builder_set_attr_shape_list(desc->b, attr_name, v, num_shapes);
  free(v);
  desc_check(desc);
}

void TF_SetAttrTensor(TF_OperationDescription *desc, const char *attr_name, TF_Tensor *value,
                      TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  deft_tensor *t = capi_tensor_to_deft(value, st);
  if (!t) {
    deft_status_prefix(st, "attr '%s'", attr_name);
    return;
  }
  deft_op_builder_set_attr_tensor(desc->b, attr_name, t);
  deft_tensor_free(t);
  desc_check(desc);
}

void TF_SetAttrTensorList(TF_OperationDescription *desc, const char *attr_name,
                          TF_Tensor *const *values, int num_values, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  deft_tensor **v = calloc((size_t)(num_values > 0 ? num_values : 1), sizeof *v);
  if (!v) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  bool ok = true;
  for (int i = 0; ok && i < num_values; i++) {
    v[i] = capi_tensor_to_deft(values[i], st);
    if (!v[i]) {
      deft_status_prefix(st, "attr '%s', tensor %d", attr_name, i);
      ok = false;
    }
  }
  if (ok) deft_op_builder_set_attr_tensor_list(desc->b, attr_name,
                                               (const deft_tensor *const *)v, num_values);
  for (int i = 0; i < num_values; i++) deft_tensor_free(v[i]);
  free(v);
  if (ok) desc_check(desc);
}

void TF_SetAttrValueProto(TF_OperationDescription *desc, const char *attr_name,
                          const void *proto, size_t proto_len, TF_Status *status) {
  capi_unimplemented(status, "TF_SetAttrValueProto");
}

TF_Operation *TF_FinishOperation(TF_OperationDescription *desc, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_graph *g = desc->graph->g;
  take_graph_error(g, NULL);
  deft_op *op = NULL;
  if (deft_status_ok(desc->err)) {
    op = deft_op_builder_finish(desc->b);
    if (!op) take_graph_error(g, desc->err);
    if (!op && deft_status_ok(desc->err))
      deft_status_set(desc->err, DEFT_INTERNAL, "building '%s' failed", desc->name);
  }
  /* A description that failed is not finished: its builder (in the graph's arena, attr
   * tensors owned by the graph) is dropped, and the graph gets nothing. */
  if (op) deft_status_clear(st);
  else deft_status_copy(st, desc->err);
  deft_status_free(desc->err);
  free(desc->name);
  free(desc);
  return oper_of(op);
}

/* ---- introspection ---- */

const char *TF_OperationName(TF_Operation *oper) { return deft_op_name(op_of(oper)); }
const char *TF_OperationOpType(TF_Operation *oper) { return deft_op_type(op_of(oper)); }
const char *TF_OperationDevice(TF_Operation *oper) {
  const char *d = deft_op_device(op_of(oper));
  return d ? d : "";
}
int TF_OperationNumOutputs(TF_Operation *oper) { return deft_op_num_outputs(op_of(oper)); }
TF_DataType TF_OperationOutputType(TF_Output oper_out) {
  if (!oper_out.oper || oper_out.index < 0 ||
      oper_out.index >= deft_op_num_outputs(op_of(oper_out.oper)))
    return (TF_DataType)0;
  return (TF_DataType)deft_output_dtype(out_of(oper_out));
}
int TF_OperationNumInputs(TF_Operation *oper) { return deft_op_num_inputs(op_of(oper)); }
TF_Output TF_OperationInput(TF_Input oper_in) {
  return tfout_of(deft_op_input(op_of(oper_in.oper), oper_in.index));
}
TF_DataType TF_OperationInputType(TF_Input oper_in) {
  return TF_OperationOutputType(TF_OperationInput(oper_in));
}
void TF_OperationAllInputs(TF_Operation *oper, TF_Output *inputs, int max_inputs) {
  int n = deft_op_num_inputs(op_of(oper));
  for (int i = 0; i < n && i < max_inputs; i++) inputs[i] = tfout_of(deft_op_input(op_of(oper), i));
}

static int list_length(TF_Operation *oper, bool output, const char *arg_name,
                       TF_Status *status) {
  int n = deft_op_arg_length(op_of(oper), output, arg_name);
  if (n < 0)
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                    "Operation '%s' (%s) has no %s argument named '%s'",
                    deft_op_name(op_of(oper)), deft_op_type(op_of(oper)),
                    output ? "output" : "input", arg_name ? arg_name : "(null)");
  else
    deft_status_clear(st_of(status));
  return n;
}

int TF_OperationOutputListLength(TF_Operation *oper, const char *arg_name, TF_Status *status) {
  return list_length(oper, true, arg_name, status);
}
int TF_OperationInputListLength(TF_Operation *oper, const char *arg_name, TF_Status *status) {
  return list_length(oper, false, arg_name, status);
}

int TF_OperationOutputNumConsumers(TF_Output oper_out) {
  return deft_output_consumers(out_of(oper_out), NULL, NULL, 0);
}

int TF_OperationOutputConsumers(TF_Output oper_out, TF_Input *consumers, int max_consumers) {
  int n = deft_output_consumers(out_of(oper_out), NULL, NULL, 0);
  if (max_consumers <= 0 || !consumers) return n;
  deft_op **ops = malloc(sizeof *ops * (size_t)max_consumers);
  int *idx = malloc(sizeof *idx * (size_t)max_consumers);
  if (ops && idx) {
    deft_output_consumers(out_of(oper_out), ops, idx, max_consumers);
    for (int i = 0; i < n && i < max_consumers; i++) {
      consumers[i].oper = oper_of(ops[i]);
      consumers[i].index = idx[i];
    }
  }
  free(ops);
  free(idx);
  return n;
}

int TF_OperationNumControlInputs(TF_Operation *oper) {
  return deft_op_num_control_inputs(op_of(oper));
}
int TF_OperationGetControlInputs(TF_Operation *oper, TF_Operation **control_inputs,
                                 int max_control_inputs) {
  int n = deft_op_num_control_inputs(op_of(oper));
  for (int i = 0; i < n && i < max_control_inputs; i++)
    control_inputs[i] = oper_of(deft_op_control_input(op_of(oper), i));
  return n < max_control_inputs ? n : max_control_inputs;
}
int TF_OperationNumControlOutputs(TF_Operation *oper) {
  return deft_op_control_outputs(op_of(oper), NULL, 0);
}
int TF_OperationGetControlOutputs(TF_Operation *oper, TF_Operation **control_outputs,
                                  int max_control_outputs) {
  int n = deft_op_control_outputs(op_of(oper), (deft_op **)control_outputs, max_control_outputs);
  return n < max_control_outputs ? n : max_control_outputs;
}

/* ---- attrs ---- */

static bool attr_fail(TF_Operation *oper, const char *name, const char *want, deft_status *st) {
  if (!deft_op_attr_metadata(op_of(oper), name, NULL, NULL, NULL))
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "Operation '%s' has no attr named '%s'.",
                    deft_op_name(op_of(oper)), name);
  else
    deft_status_set(st, DEFT_INVALID_ARGUMENT, "Attr '%s' of operation '%s' is not %s", name,
                    deft_op_name(op_of(oper)), want);
  return false;
}

TF_AttrMetadata TF_OperationGetAttrMetadata(TF_Operation *oper, const char *attr_name,
                                            TF_Status *status) {
  TF_AttrMetadata m = {0, -1, TF_ATTR_STRING, -1};
  deft_status *st = st_of(status);
  deft_status_clear(st);
  int type, n;
  bool list;
  deft_op *op = op_of(oper);
  if (!deft_op_attr_metadata(op, attr_name, &type, &list, &n)) {
    attr_fail(oper, attr_name, "", st);
    return m;
  }
  m.is_list = list;
  m.list_size = list ? n : -1;
  m.type = (TF_AttrType)type;
  if (type == TF_ATTR_STRING) {
    size_t len;
    const char *s;
    if (!list && deft_op_attr_string(op, attr_name, &s, &len)) m.total_size = (int64_t)len;
    for (int i = 0; list && i < n; i++) {
      if (deft_op_attr_string_list_at(op, attr_name, i, &s, &len)) {
        if (m.total_size < 0) m.total_size = 0;
        m.total_size += (int64_t)len;
      }
    }
    if (list && m.total_size < 0) m.total_size = 0;
  } else if (type == TF_ATTR_SHAPE) {
    deft_shape s;
    if (!list && deft_op_attr_shape(op, attr_name, &s)) m.total_size = s.rank;
    if (list) m.total_size = 0;
    for (int i = 0; list && i < n; i++)
      if (deft_op_attr_shape_list_at(op, attr_name, i, &s) && s.rank > 0) m.total_size += s.rank;
  }
  return m;
}

void TF_OperationGetAttrString(TF_Operation *oper, const char *attr_name, void *value,
                               size_t max_length, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  const char *s;
  size_t len;
  if (!deft_op_attr_string(op_of(oper), attr_name, &s, &len)) {
    attr_fail(oper, attr_name, "a string", st);
    return;
  }
  memcpy(value, s, len < max_length ? len : max_length);
}

void TF_OperationGetAttrStringList(TF_Operation *oper, const char *attr_name, void **values,
                                   size_t *lengths, int max_values, void *storage,
                                   size_t storage_size, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  int type, n;
  bool list;
  if (!deft_op_attr_metadata(op_of(oper), attr_name, &type, &list, &n) || !list ||
      type != TF_ATTR_STRING) {
    attr_fail(oper, attr_name, "a list of strings", st);
    return;
  }
  char *p = storage;
  size_t used = 0;
  for (int i = 0; i < n && i < max_values; i++) {
    const char *s;
    size_t len;
    deft_op_attr_string_list_at(op_of(oper), attr_name, i, &s, &len);
    if (len > storage_size - used) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "Not enough storage to hold the requested list of strings");
      return;
    }
    memcpy(p + used, s, len);
    values[i] = p + used;
    lengths[i] = len;
    used += len;
  }
}

void TF_OperationGetAttrInt(TF_Operation *oper, const char *attr_name, int64_t *value,
                            TF_Status *status) {
  deft_status_clear(st_of(status));
  if (!deft_op_attr_int(op_of(oper), attr_name, value))
    attr_fail(oper, attr_name, "an int", st_of(status));
}

void TF_OperationGetAttrIntList(TF_Operation *oper, const char *attr_name, int64_t *values,
                                int max_values, TF_Status *status) {
  deft_status_clear(st_of(status));
  const int64_t *v;
  int n;
  if (!deft_op_attr_int_list(op_of(oper), attr_name, &v, &n)) {
    attr_fail(oper, attr_name, "a list of ints", st_of(status));
    return;
  }
  for (int i = 0; i < n && i < max_values; i++) values[i] = v[i];
}

void TF_OperationGetAttrFloat(TF_Operation *oper, const char *attr_name, float *value,
                              TF_Status *status) {
  deft_status_clear(st_of(status));
  if (!deft_op_attr_float(op_of(oper), attr_name, value))
    attr_fail(oper, attr_name, "a float", st_of(status));
}

void TF_OperationGetAttrFloatList(TF_Operation *oper, const char *attr_name, float *values,
                                  int max_values, TF_Status *status) {
  deft_status_clear(st_of(status));
  const float *v;
  int n;
  if (!deft_op_attr_float_list(op_of(oper), attr_name, &v, &n)) {
    attr_fail(oper, attr_name, "a list of floats", st_of(status));
    return;
  }
  for (int i = 0; i < n && i < max_values; i++) values[i] = v[i];
}

void TF_OperationGetAttrBool(TF_Operation *oper, const char *attr_name, unsigned char *value,
                             TF_Status *status) {
  deft_status_clear(st_of(status));
  bool b;
  if (!deft_op_attr_bool(op_of(oper), attr_name, &b)) {
    attr_fail(oper, attr_name, "a bool", st_of(status));
    return;
  }
  *value = b;
}

void TF_OperationGetAttrBoolList(TF_Operation *oper, const char *attr_name,
                                 unsigned char *values, int max_values, TF_Status *status) {
  deft_status_clear(st_of(status));
  int type, n;
  bool list;
  if (!deft_op_attr_metadata(op_of(oper), attr_name, &type, &list, &n) || !list ||
      type != TF_ATTR_BOOL) {
    attr_fail(oper, attr_name, "a list of bools", st_of(status));
    return;
  }
  for (int i = 0; i < n && i < max_values; i++) {
    bool b = false;
    deft_op_attr_bool_list_at(op_of(oper), attr_name, i, &b);
    values[i] = b;
  }
}

void TF_OperationGetAttrType(TF_Operation *oper, const char *attr_name, TF_DataType *value,
                             TF_Status *status) {
  deft_status_clear(st_of(status));
  deft_dtype t;
  if (!deft_op_attr_type(op_of(oper), attr_name, &t)) {
    attr_fail(oper, attr_name, "a type", st_of(status));
    return;
  }
  *value = (TF_DataType)t;
}

void TF_OperationGetAttrTypeList(TF_Operation *oper, const char *attr_name, TF_DataType *values,
                                 int max_values, TF_Status *status) {
  deft_status_clear(st_of(status));
  const deft_dtype *v;
  int n;
  if (!deft_op_attr_type_list(op_of(oper), attr_name, &v, &n)) {
    attr_fail(oper, attr_name, "a list of types", st_of(status));
    return;
  }
  for (int i = 0; i < n && i < max_values; i++) values[i] = (TF_DataType)v[i];
}

void TF_OperationGetAttrShape(TF_Operation *oper, const char *attr_name, int64_t *value,
                              int num_dims, TF_Status *status) {
  deft_status_clear(st_of(status));
  deft_shape s;
  if (!deft_op_attr_shape(op_of(oper), attr_name, &s)) {
    attr_fail(oper, attr_name, "a shape", st_of(status));
    return;
  }
  for (int i = 0; i < s.rank && i < num_dims; i++) value[i] = s.dims[i];
}

void TF_OperationGetAttrShapeList(TF_Operation *oper, const char *attr_name, int64_t **dims,
                                  int *num_dims, int num_shapes, int64_t *storage,
                                  int storage_size, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  int type, n;
  bool list;
  if (!deft_op_attr_metadata(op_of(oper), attr_name, &type, &list, &n) || !list ||
      type != TF_ATTR_SHAPE) {
    attr_fail(oper, attr_name, "a list of shapes", st);
    return;
  }
  int used = 0;
  for (int i = 0; i < n && i < num_shapes; i++) {
    deft_shape s;
    deft_op_attr_shape_list_at(op_of(oper), attr_name, i, &s);
    num_dims[i] = s.rank;
    dims[i] = NULL;
    if (s.rank <= 0) continue;
    if (s.rank > storage_size - used) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "Not enough storage to hold the requested list of shapes");
      return;
    }
    dims[i] = storage + used;
    for (int k = 0; k < s.rank; k++) storage[used++] = s.dims[k];
  }
}

void TF_OperationGetAttrTensorShapeProto(TF_Operation *oper, const char *attr_name,
                                         TF_Buffer *value, TF_Status *status) {
  capi_unimplemented(status, "TF_OperationGetAttrTensorShapeProto");
}
void TF_OperationGetAttrTensorShapeProtoList(TF_Operation *oper, const char *attr_name,
                                             TF_Buffer **values, int max_values,
                                             TF_Status *status) {
  capi_unimplemented(status, "TF_OperationGetAttrTensorShapeProtoList");
}

void TF_OperationGetAttrTensor(TF_Operation *oper, const char *attr_name, TF_Tensor **value,
                               TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  *value = NULL;
  const deft_tensor *t;
  if (!deft_op_attr_tensor(op_of(oper), attr_name, &t)) {
    attr_fail(oper, attr_name, "a tensor", st);
    return;
  }
  deft_tensor *c = deft_tensor_copy(t, st);
  if (c) *value = capi_tensor_from_deft(c, st);
}

void TF_OperationGetAttrTensorList(TF_Operation *oper, const char *attr_name, TF_Tensor **values,
                                   int max_values, TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  int type, n;
  bool list;
  if (!deft_op_attr_metadata(op_of(oper), attr_name, &type, &list, &n) || !list ||
      type != TF_ATTR_TENSOR) {
    attr_fail(oper, attr_name, "a list of tensors", st);
    return;
  }
  for (int i = 0; i < n && i < max_values; i++) {
    const deft_tensor *t;
    deft_op_attr_tensor_list_at(op_of(oper), attr_name, i, &t);
    deft_tensor *c = deft_tensor_copy(t, st);
    values[i] = c ? capi_tensor_from_deft(c, st) : NULL;
    if (!values[i]) {
      for (int k = 0; k < i; k++) TF_DeleteTensor(values[k]);
      return;
    }
  }
}

void TF_OperationGetAttrValueProto(TF_Operation *oper, const char *attr_name,
                                   TF_Buffer *output_attr_value, TF_Status *status) {
  capi_unimplemented(status, "TF_OperationGetAttrValueProto");
}

int TF_OperationGetNumAttrs(TF_Operation *oper) { return deft_op_num_attrs(op_of(oper)); }

int TF_OperationGetAttrNameLength(TF_Operation *oper, int i) {
  if (i < 0 || i >= deft_op_num_attrs(op_of(oper))) return -1;
  return (int)strlen(deft_op_attr_name(op_of(oper), i));
}

void TF_OperationGetAttrName(TF_Operation *oper, int i, char *output, TF_Status *status) {
  if (i < 0 || i >= deft_op_num_attrs(op_of(oper))) {
    deft_status_set(st_of(status), DEFT_OUT_OF_RANGE, "operation '%s' has %d attrs, not %d",
                    deft_op_name(op_of(oper)), deft_op_num_attrs(op_of(oper)), i + 1);
    return;
  }
  strcpy(output, deft_op_attr_name(op_of(oper), i));
  deft_status_clear(st_of(status));
}

/* ---- GraphDef, OpDef, NodeDef ---- */

static void free_bytes(void *data, size_t length) { free(data); }

/* Hands malloc'd data to out (releasing what out held). */
void capi_to_buffer(void *data, size_t len, TF_Buffer *out) {
  if (out->data_deallocator) out->data_deallocator((void *)out->data, out->length);
  out->data = data;
  out->length = len;
  out->data_deallocator = free_bytes;
}

void TF_GraphToGraphDef(TF_Graph *graph, TF_Buffer *output_graph_def, TF_Status *status) {
  void *data;
  size_t len;
  if (deft_graph_to_graph_def_data(graph->g, &data, &len, st_of(status)))
    capi_to_buffer(data, len, output_graph_def);
}

void TF_GraphGetOpDef(TF_Graph *graph, const char *op_name, TF_Buffer *output_op_def,
                      TF_Status *status) {
  void *data;
  size_t len;
  if (!op_name) {
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT, "op_name is NULL");
    return;
  }
  if (deft_op_def_data(op_name, &data, &len, st_of(status)))
    capi_to_buffer(data, len, output_op_def);
}

void TF_GraphVersions(TF_Graph *graph, TF_Buffer *output_version_def, TF_Status *status) {
  /* VersionDef { int32 producer = 1; }: deft exports producer 26 (TF 1.x's graphs). */
  uint8_t *d = malloc(2);
  if (!d) {
    deft_status_set(st_of(status), DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  d[0] = 0x08;
  d[1] = 26;
  capi_to_buffer(d, 2, output_version_def);
  deft_status_clear(st_of(status));
}

void TF_OperationToNodeDef(TF_Operation *oper, TF_Buffer *output_node_def, TF_Status *status) {
  void *data;
  size_t len;
  if (deft_op_to_node_def_data(op_of(oper), &data, &len, st_of(status)))
    capi_to_buffer(data, len, output_node_def);
}

/* ---- importing ---- */

typedef struct name_index {
  char *name;
  int index;
} name_index;

struct TF_ImportGraphDefOptions {
  char *prefix;
  bool uniquify;
  bool unsupported_control; /* a control remapping/dependency was asked for */
  name_index *maps;
  TF_Output *map_dst;
  int nmaps;
  name_index *ret_out;
  int nret_out;
  char **ret_ops;
  int nret_ops;
};

struct TF_ImportGraphDefResults {
  TF_Output *outputs;
  int noutputs;
  TF_Operation **opers;
  int nopers;
  const char **missing_names;
  int *missing_indexes;
  int nmissing;
};

TF_ImportGraphDefOptions *TF_NewImportGraphDefOptions(void) {
  return calloc(1, sizeof(TF_ImportGraphDefOptions));
}

void TF_DeleteImportGraphDefOptions(TF_ImportGraphDefOptions *opts) {
  if (!opts) return;
  free(opts->prefix);
  for (int i = 0; i < opts->nmaps; i++) free(opts->maps[i].name);
  for (int i = 0; i < opts->nret_out; i++) free(opts->ret_out[i].name);
  for (int i = 0; i < opts->nret_ops; i++) free(opts->ret_ops[i]);
  free(opts->maps);
  free(opts->map_dst);
  free(opts->ret_out);
  free(opts->ret_ops);
  free(opts);
}

void TF_ImportGraphDefOptionsSetPrefix(TF_ImportGraphDefOptions *opts, const char *prefix) {
  free(opts->prefix);
  opts->prefix = prefix ? strdup(prefix) : NULL;
}
void TF_ImportGraphDefOptionsSetDefaultDevice(TF_ImportGraphDefOptions *opts,
                                              const char *device) {}
void TF_ImportGraphDefOptionsSetUniquifyNames(TF_ImportGraphDefOptions *opts,
                                              unsigned char uniquify_names) {
  opts->uniquify = uniquify_names != 0;
}
void TF_ImportGraphDefOptionsSetUniquifyPrefix(TF_ImportGraphDefOptions *opts,
                                               unsigned char uniquify_prefix) {
  if (uniquify_prefix) opts->uniquify = true;
}

static bool push_name(name_index **arr, int *n, const char *name, int index) {
  name_index *a = realloc(*arr, sizeof *a * (size_t)(*n + 1));
  if (!a) return false;
  *arr = a;
  a[*n].name = strdup(name ? name : "");
  if (!a[*n].name) return false;
  a[*n].index = index;
  (*n)++;
  return true;
}

void TF_ImportGraphDefOptionsAddInputMapping(TF_ImportGraphDefOptions *opts, const char *src_name,
                                             int src_index, TF_Output dst) {
  TF_Output *d = realloc(opts->map_dst, sizeof *d * (size_t)(opts->nmaps + 1));
  if (!d) return;
  opts->map_dst = d;
  d[opts->nmaps] = dst;
  push_name(&opts->maps, &opts->nmaps, src_name, src_index);
}
void TF_ImportGraphDefOptionsRemapControlDependency(TF_ImportGraphDefOptions *opts,
                                                    const char *src_name, TF_Operation *dst) {
  opts->unsupported_control = true;
}
void TF_ImportGraphDefOptionsAddControlDependency(TF_ImportGraphDefOptions *opts,
                                                  TF_Operation *oper) {
  opts->unsupported_control = true;
}
void TF_ImportGraphDefOptionsAddReturnOutput(TF_ImportGraphDefOptions *opts,
                                             const char *oper_name, int index) {
  push_name(&opts->ret_out, &opts->nret_out, oper_name, index);
}
int TF_ImportGraphDefOptionsNumReturnOutputs(const TF_ImportGraphDefOptions *opts) {
  return opts->nret_out;
}
void TF_ImportGraphDefOptionsAddReturnOperation(TF_ImportGraphDefOptions *opts,
                                                const char *oper_name) {
  char **a = realloc(opts->ret_ops, sizeof *a * (size_t)(opts->nret_ops + 1));
  if (!a) return;
  opts->ret_ops = a;
  if ((a[opts->nret_ops] = strdup(oper_name ? oper_name : ""))) opts->nret_ops++;
}
int TF_ImportGraphDefOptionsNumReturnOperations(const TF_ImportGraphDefOptions *opts) {
  return opts->nret_ops;
}

void TF_ImportGraphDefResultsReturnOutputs(TF_ImportGraphDefResults *results, int *num_outputs,
                                           TF_Output **outputs) {
  *num_outputs = results->noutputs;
  *outputs = results->outputs;
}
void TF_ImportGraphDefResultsReturnOperations(TF_ImportGraphDefResults *results, int *num_opers,
                                              TF_Operation ***opers) {
  *num_opers = results->nopers;
  *opers = results->opers;
}
void TF_ImportGraphDefResultsMissingUnusedInputMappings(TF_ImportGraphDefResults *results,
                                                        int *num_missing_unused_input_mappings,
                                                        const char ***src_names,
                                                        int **src_indexes) {
  *num_missing_unused_input_mappings = results->nmissing;
  *src_names = results->missing_names;
  *src_indexes = results->missing_indexes;
}
void TF_DeleteImportGraphDefResults(TF_ImportGraphDefResults *results) {
  if (!results) return;
  free(results->outputs);
  free(results->opers);
  free(results->missing_names);
  free(results->missing_indexes);
  free(results);
}

/* "<prefix>/<name>" in buf (or name). */
static const char *prefixed(const TF_ImportGraphDefOptions *o, const char *name, char *buf,
                            size_t size) {
  if (!o || !o->prefix || !*o->prefix) return name;
  size_t n = strlen(o->prefix);
  while (n > 0 && o->prefix[n - 1] == '/') n--;
  snprintf(buf, size, "%.*s/%s", (int)n, o->prefix, name);
  return buf;
}

/* The graph's nodes named in the GraphDef: true iff `name` is among the newly imported ops. */
static bool was_imported(deft_graph *g, int first_new, const char *name) {
  deft_op *op = deft_graph_op_by_name(g, name);
  if (!op) return false;
  for (int i = first_new; i < deft_graph_num_ops(g); i++)
    if (deft_graph_op_at(g, i) == op) return true;
  return false;
}

TF_ImportGraphDefResults *TF_GraphImportGraphDefWithResults(TF_Graph *graph,
                                                            const TF_Buffer *graph_def,
                                                            const TF_ImportGraphDefOptions *options,
                                                            TF_Status *status) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  if (options && options->uniquify) {
    capi_unimplemented(status, "TF_ImportGraphDefOptionsSetUniquifyNames(true)");
    return NULL;
  }
  if (options && options->unsupported_control) {
    capi_unimplemented(status, "TF_ImportGraphDefOptions control dependency remapping");
    return NULL;
  }
  TF_ImportGraphDefResults *r = calloc(1, sizeof *r);
  deft_import_options *io = deft_import_options_new();
  bool ok = r && io;
  if (ok && options && options->prefix) ok = deft_import_options_set_prefix(io, options->prefix);
  for (int i = 0; ok && options && i < options->nmaps; i++)
    ok = deft_import_options_map_input(io, options->maps[i].name, options->maps[i].index,
                                       out_of(options->map_dst[i]));
  if (!ok) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory importing a GraphDef");
    deft_import_options_free(io);
    TF_DeleteImportGraphDefResults(r);
    return NULL;
  }
  int first_new = deft_graph_num_ops(graph->g);
  if (!deft_graph_import_graph_def_data(graph->g, graph_def->data, graph_def->length, io, st)) {
    take_graph_error(graph->g, NULL);
    deft_import_options_free(io);
    TF_DeleteImportGraphDefResults(r);
    return NULL;
  }
  deft_import_options_free(io);
  int nout = options ? options->nret_out : 0, nops = options ? options->nret_ops : 0;
  int nmaps = options ? options->nmaps : 0;
  r->outputs = calloc((size_t)nout + 1, sizeof *r->outputs);
  r->opers = calloc((size_t)nops + 1, sizeof *r->opers);
  r->missing_names = calloc((size_t)nmaps + 1, sizeof *r->missing_names);
  r->missing_indexes = calloc((size_t)nmaps + 1, sizeof *r->missing_indexes);
  if (!r->outputs || !r->opers || !r->missing_names || !r->missing_indexes) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory importing a GraphDef");
    TF_DeleteImportGraphDefResults(r);
    return NULL;
  }
  char buf[4096];
  for (int i = 0; i < nout; i++) {
    const char *name = prefixed(options, options->ret_out[i].name, buf, sizeof buf);
    deft_op *op = was_imported(graph->g, first_new, name) ? deft_graph_op_by_name(graph->g, name)
                                                          : NULL;
    if (!op || options->ret_out[i].index < 0 ||
        options->ret_out[i].index >= deft_op_num_outputs(op)) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "Requested return tensor '%s:%d' not found in graph def",
                      options->ret_out[i].name, options->ret_out[i].index);
      TF_DeleteImportGraphDefResults(r);
      return NULL;
    }
    r->outputs[r->noutputs].oper = oper_of(op);
    r->outputs[r->noutputs++].index = options->ret_out[i].index;
  }
  for (int i = 0; i < nops; i++) {
    const char *name = prefixed(options, options->ret_ops[i], buf, sizeof buf);
    if (!was_imported(graph->g, first_new, name)) {
      deft_status_set(st, DEFT_INVALID_ARGUMENT,
                      "Requested return node '%s' not found in graph def", options->ret_ops[i]);
      TF_DeleteImportGraphDefResults(r);
      return NULL;
    }
    r->opers[r->nopers++] = oper_of(deft_graph_op_by_name(graph->g, name));
  }
  for (int i = 0; i < nmaps; i++) {
    const char *name = prefixed(options, options->maps[i].name, buf, sizeof buf);
    if (!was_imported(graph->g, first_new, name)) {
      r->missing_names[r->nmissing] = options->maps[i].name;
      r->missing_indexes[r->nmissing++] = options->maps[i].index;
    }
  }
  return r;
}

void TF_GraphImportGraphDefWithReturnOutputs(TF_Graph *graph, const TF_Buffer *graph_def,
                                             const TF_ImportGraphDefOptions *options,
                                             TF_Output *return_outputs, int num_return_outputs,
                                             TF_Status *status) {
  int want = options ? options->nret_out : 0;
  if (num_return_outputs != want) {
    deft_status_set(st_of(status), DEFT_INVALID_ARGUMENT,
                    "Expected 'num_return_outputs' to be %d, got %d", want, num_return_outputs);
    return;
  }
  TF_ImportGraphDefResults *r = TF_GraphImportGraphDefWithResults(graph, graph_def, options,
                                                                  status);
  if (!r) return;
  for (int i = 0; i < num_return_outputs; i++) return_outputs[i] = r->outputs[i];
  TF_DeleteImportGraphDefResults(r);
}

void TF_GraphImportGraphDef(TF_Graph *graph, const TF_Buffer *graph_def,
                            const TF_ImportGraphDefOptions *options, TF_Status *status) {
  TF_DeleteImportGraphDefResults(
      TF_GraphImportGraphDefWithResults(graph, graph_def, options, status));
}

/* ---- functions: not implemented ---- */

void TF_GraphCopyFunction(TF_Graph *g, const TF_Function *func, const TF_Function *grad,
                          TF_Status *status) {
  capi_unimplemented(status, "TF_GraphCopyFunction");
}
TF_Function *TF_FunctionImportFunctionDef(const void *proto, size_t proto_len,
                                          TF_Status *status) {
  capi_unimplemented(status, "TF_FunctionImportFunctionDef");
  return NULL;
}
void TF_DeleteFunction(TF_Function *func) {}

/* ---- gradients ---- */

void TF_AddGradientsWithPrefix(TF_Graph *g, const char *prefix, TF_Output *y, int ny,
                               TF_Output *x, int nx, TF_Output *dx, TF_Status *status,
                               TF_Output *dy) {
  deft_status *st = st_of(status);
  deft_status_clear(st);
  take_graph_error(g->g, NULL);
  for (int i = 0; i < ny; i++)
    if (!output_ok(g, y[i], st)) return;
  for (int i = 0; i < nx; i++)
    if (!output_ok(g, x[i], st)) return;
  for (int i = 0; dx && i < ny; i++)
    if (!output_ok(g, dx[i], st)) return;
  bool pushed = false;
  if (prefix && *prefix) {
    size_t n = strlen(prefix);
    int nops = deft_graph_num_ops(g->g);
    for (int i = 0; i < nops; i++) {
      const char *name = deft_op_name(deft_graph_op_at(g->g, i));
      if (!strncmp(name, prefix, n) && (name[n] == 0 || name[n] == '/')) {
        deft_status_set(st, DEFT_INVALID_ARGUMENT,
                        "prefix [%s] conflicts with existing node in the graph named [%s]",
                        prefix, name);
        return;
      }
    }
    char *scope = malloc(n + 2);
    if (!scope) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
    snprintf(scope, n + 2, "%s/", prefix);
    pushed = deft_graph_push_scope(g->g, scope) != NULL;
    free(scope);
    if (!pushed) {
      take_graph_error(g->g, st);
      return;
    }
  }
  deft_output *out = malloc(sizeof *out * (size_t)(nx > 0 ? nx : 1));
  if (!out) {
    if (pushed) deft_graph_pop_scope(g->g);
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  bool ok = deft_gradients(g->g, (const deft_output *)y, ny, (const deft_output *)x, nx,
                           (const deft_output *)dx, out);
  if (pushed) deft_graph_pop_scope(g->g);
  if (!take_graph_error(g->g, st) || !ok) {
    if (deft_status_ok(st)) deft_status_set(st, DEFT_INTERNAL, "TF_AddGradients failed");
    free(out);
    return;
  }
  for (int i = 0; i < nx; i++) {
    dy[i] = tfout_of(out[i]);
    if (!out[i].op) dy[i].index = -1;
  }
  free(out);
}

void TF_AddGradients(TF_Graph *g, TF_Output *y, int ny, TF_Output *x, int nx, TF_Output *dx,
                     TF_Status *status, TF_Output *dy) {
  TF_AddGradientsWithPrefix(g, NULL, y, ny, x, nx, dx, status, dy);
}
