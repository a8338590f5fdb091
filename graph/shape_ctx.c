/* SPDX-License-Identifier: Apache-2.0 */
/* graph/shape_ctx.c - the build-time shape-function context and the shared shape rules
 * (unchanged, NumPy broadcasting, merging). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "base/tensor_internal.h"

int deft_shape_ctx_num_inputs(const deft_shape_ctx *c) { return c->op->ninputs; }

deft_shape deft_shape_ctx_input(const deft_shape_ctx *c, int i) {
  deft_output in = c->op->inputs[i];
  return in.op->out_shapes[in.index];
}

deft_dtype deft_shape_ctx_input_dtype(const deft_shape_ctx *c, int i) {
  deft_output in = c->op->inputs[i];
  return (deft_dtype)in.op->out_types[in.index];
}

const deft_tensor *deft_shape_ctx_input_const(const deft_shape_ctx *c, int i) {
  deft_output in = c->op->inputs[i];
  while (in.op && !strcmp(in.op->type, "Identity") && in.op->ninputs == 1) in = in.op->inputs[0];
  if (!in.op || strcmp(in.op->type, "Const") != 0) return NULL;
  const deft_tensor *t = NULL;
  deft_op_attr_tensor(in.op, "value", &t);
  return t;
}

int deft_shape_ctx_num_outputs(const deft_shape_ctx *c) { return c->op->noutputs; }

void deft_shape_ctx_set_output(deft_shape_ctx *c, int i, deft_shape s) {
  if (i >= 0 && i < c->op->noutputs) c->op->out_shapes[i] = s;
}

void deft_shape_fail(deft_shape_ctx *c, deft_code code, const char *fmt, ...) {
  if (!deft_status_ok(c->status)) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  deft_status_set(c->status, code, "%s '%s': %s", c->op->type, c->op->name, msg);
}

static void describe_input(const deft_shape_ctx *c, int i, char *buf, size_t size) {
  char sh[128];
  deft_output in = c->op->inputs[i];
  deft_shape_format(in.op->out_shapes[in.index], sh, sizeof sh);
  snprintf(buf, size, "input %d ('%s:%d', %s) has shape %s", i, in.op->name, in.index,
           in.op->type, sh);
}

deft_shape deft_shape_merge(deft_shape_ctx *c, int ia, int ib) {
  deft_shape a = deft_shape_ctx_input(c, ia), b = deft_shape_ctx_input(c, ib);
  if (a.rank < 0) return b;
  if (b.rank < 0) return a;
  bool ok = a.rank == b.rank;
  deft_shape r = a;
  for (int i = 0; ok && i < a.rank; i++) {
    if (a.dims[i] < 0) r.dims[i] = b.dims[i];
    else if (b.dims[i] >= 0 && a.dims[i] != b.dims[i]) ok = false;
  }
  if (!ok) {
    char da[256], db[256];
    describe_input(c, ia, da, sizeof da);
    describe_input(c, ib, db, sizeof db);
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "incompatible shapes: %s, but %s", da, db);
    return deft_shape_unknown();
  }
  return r;
}

deft_shape deft_shape_broadcast(deft_shape_ctx *c, int ia, int ib) {
  deft_shape a = deft_shape_ctx_input(c, ia), b = deft_shape_ctx_input(c, ib);
  if (a.rank < 0 || b.rank < 0) return deft_shape_unknown();
  int rank = a.rank > b.rank ? a.rank : b.rank;
  deft_shape r;
  memset(&r, 0, sizeof r);
  r.rank = rank;
  for (int i = 0; i < rank; i++) {
    int ai = a.rank - rank + i, bi = b.rank - rank + i;
    int64_t da = ai >= 0 ? a.dims[ai] : 1, db = bi >= 0 ? b.dims[bi] : 1;
    int64_t d;
    if (da == 1) d = db;
    else if (db == 1) d = da;
    else if (da < 0 || db < 0) d = da < 0 ? (db < 0 ? -1 : db) : da;
    else if (da == db) d = da;
    else {
      char sa[256], sb[256];
      describe_input(c, ia, sa, sizeof sa);
      describe_input(c, ib, sb, sizeof sb);
      deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                      "shapes cannot be broadcast: %s, but %s (dimension %d: %" PRId64
                      " vs %" PRId64 ")", sa, sb, i, da, db);
      return deft_shape_unknown();
    }
    r.dims[i] = d;
  }
  return r;
}

void deft_shape_unchanged(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_ctx_input(c, 0));
}

void deft_shape_binary_broadcast(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_broadcast(c, 0, 1));
}
