/* SPDX-License-Identifier: Apache-2.0 */
/* graph/dist_optimizer.c - the distributed optimizer's graph building (Horovod's
 * DistributedOptimizer): gradients averaged across ranks by DeftAllreduce ops, in fusion groups
 * (see include/deft/dist.h). The optimizer calls it from compute_gradients
 * (graph/optimizers.c); programs may call it on gradients they computed themselves.
 *
 * Dense gradients are averaged by DeftAllreduce ops in fusion groups; sparse ones (TF's
 * IndexedSlices: gv.indices valid, e.g. an embedding's) by one DeftAllgather of their indices and
 * values with average, as Horovod does for tf.IndexedSlices: the ranks' rows are concatenated
 * and the values divided by the number of ranks, so applying them sparsely (repeated rows add
 * up) equals applying the average of the dense gradients, without densifying. */
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "deft/dist.h"
#include "deft/ops.h"

/* Bytes of one gradient when its shape is known, else 0 (it joins the current group). */
static int64_t grad_bytes(deft_output t) {
  int64_t n = deft_shape_num_elements(deft_output_shape(t));
  return n > 0 ? n * (int64_t)deft_dtype_size(deft_output_dtype(t)) : 0;
}

/* Builds one group's op over gv[idx[0..m)] and stores its outputs as their gradients. */
static bool flush(deft_graph *g, deft_grad_and_var *gv, const int *idx, int m,
                  deft_output *buf) {
  if (!m) return true;
  for (int k = 0; k < m; k++) buf[k] = gv[idx[k]].grad;
  deft_op *r = deft_allreduce(g, buf, m, true, NULL);
  if (!r) return false;
  for (int k = 0; k < m; k++) gv[idx[k]].grad = (deft_output){r, k};
  return true;
}

bool deft_allreduce_gradients(deft_graph *g, deft_grad_and_var *gv, int n, int64_t fusion_bytes,
                              const char *prefix) {
  if (!deft_graph_ok(g)) return false;
  if (n < 0 || (n > 0 && !gv)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "deft_allreduce_gradients: bad arguments (n %d)",
                    n);
    return false;
  }
  if (n == 0) return true;
  /* As HOROVOD_FUSION_THRESHOLD: the environment's DEFT_FUSION_THRESHOLD (bytes) overrides. */
  const char *env = getenv("DEFT_FUSION_THRESHOLD");
  if (env && *env) {
    char *end;
    long long v = strtoll(env, &end, 10);
    if (*end == '\0') fusion_bytes = v;
  }
  int *idx = deft_malloc(sizeof *idx * (size_t)n);
  deft_output *buf = deft_malloc(sizeof *buf * (size_t)n);
  if (!idx || !buf) {
    deft_free(idx);
    deft_free(buf);
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in deft_allreduce_gradients");
    return false;
  }
  char scope[256];
  snprintf(scope, sizeof scope, "%s_Allreduce", prefix ? prefix : "Distributed");
  deft_graph_push_scope(g, scope);
  bool ok = true;
  int m = 0;
  int64_t bytes = 0;
  for (int i = n - 1; ok && i >= 0; i--) {
    if (!gv[i].grad.op) continue;
    if (gv[i].indices.op) { /* sparse: its own allgather, whatever the fusion */
      deft_output in[2] = {gv[i].indices, gv[i].grad};
      deft_op *r = deft_allgather(g, in, 2, true, NULL);
      if (!r) {
        ok = false;
        break;
      }
      gv[i].indices = (deft_output){r, 0};
      gv[i].grad = (deft_output){r, 1};
      continue;
    }
    int64_t b = grad_bytes(gv[i].grad);
    if (m > 0 && (fusion_bytes <= 0 || bytes + b > fusion_bytes)) {
      ok = flush(g, gv, idx, m, buf);
      m = 0;
      bytes = 0;
    }
    idx[m++] = i;
    bytes += b;
  }
  if (ok) ok = flush(g, gv, idx, m, buf);
  deft_graph_pop_scope(g);
  deft_free(idx);
  deft_free(buf);
  return ok && deft_graph_ok(g);
}
