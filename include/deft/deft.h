/* SPDX-License-Identifier: Apache-2.0 */
/* deft/deft.h - the whole public API of deft, a define-then-run graph runtime with TensorFlow
 * 1.x's programming model and file formats.
 *
 * Conventions (stated once, for every header):
 * - Opaque handles, object-first names: deft_<object>_<verb> (deft_graph_new, deft_session_run).
 *   Op constructors are named after the op: deft_matmul(g, a, b, ...).
 * - Functions that make an object return it owned by the caller; the matching _free accepts NULL.
 *   Borrowed pointers (names, attr values) stay valid as long as their owner lives.
 * - Recoverable failures are reported through a deft_status* argument (which may be NULL when the
 *   caller does not care), or, while building a graph, as the graph's sticky error.
 * - Nothing a user or a file can cause aborts the process.
 * - Thread safety is stated in each header. In short: one thread builds a graph at a time,
 *   while sessions on it run; a session may be run from several threads at once; two sessions
 *   (and their pools) never share hidden state; nothing in deft is process-wide mutable state
 *   except OpenBLAS's thread count (deft/session.h).
 */
#ifndef DEFT_DEFT_H
#define DEFT_DEFT_H

#include "deft/version.h"
#include "deft/status.h"
#include "deft/tensor.h"
#include "deft/graph.h"
#include "deft/ops.h"
#include "deft/threadpool.h"
#include "deft/session.h"
#include "deft/data.h"
#include "deft/train.h"
#include "deft/conv.h"
#include "deft/training_ops.h"
#include "deft/saver.h"
#include "deft/io.h"
#include "deft/summary.h"
#include "deft/dist.h"
#include "deft/rnn.h"
#include "deft/control_flow.h"

#endif
