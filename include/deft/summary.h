/* SPDX-License-Identifier: Apache-2.0 */
/* deft/summary.h - summaries and event files that TensorBoard reads (TF 1.x's tf.summary).
 *
 * Summary ops (ScalarSummary, HistogramSummary, MergeSummary) compute a serialized
 * tensorflow.Summary protobuf as a string scalar. deft_summary_scalar and deft_summary_histogram
 * also add the op's output to the SUMMARIES collection ("summaries"), as tf.summary.scalar and
 * tf.summary.histogram do; deft_summary_merge_all merges that collection.
 *
 * A deft_summary_writer (tf.summary.FileWriter) appends Event records to a new file
 * <logdir>/events.out.tfevents.<seconds, 10 digits>.<hostname> in TFRecord framing: per record
 * the little-endian uint64 length, the masked CRC32C of those 8 bytes, the data, and the masked
 * CRC32C of the data. The first record is the file_version event "brain.Event:2". Records are
 * buffered in memory and written whole (a buffer of 10 events is flushed by itself; flush and
 * close flush the rest and fsync), so a crash loses at most the records since the last flush.
 * A writer is used from one thread at a time.
 */
#ifndef DEFT_SUMMARY_H
#define DEFT_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "deft/graph.h"
#include "deft/status.h"
#include "deft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The collection that the summary builders add to (tf.GraphKeys.SUMMARIES). */
#define DEFT_SUMMARIES "summaries"

/* ---- summary ops ---- */

/* tf.summary.scalar(tag, value): opens name scope `tag` (characters outside [-/A-Za-z0-9_.]
 * replaced by '_', made unique: a second "loss" becomes "loss_1"); the ScalarSummary op takes
 * that scope's full name, its tags input is the Const "<scope>/tags" holding the same name, and
 * values = `value` (a real-number tensor; one simple_value per element). The output (a string
 * scalar: a serialized Summary) is added to DEFT_SUMMARIES. Sticky error on failure. */
DEFT_API deft_output deft_summary_scalar(deft_graph *g, const char *tag, deft_output value);

/* tf.summary.histogram(tag, values): as deft_summary_scalar, with a HistogramSummary op (Const
 * input "<scope>/tag") over all elements of `values` (any real-number dtype and shape). The
 * histogram has TF's default bucket edges (-DBL_MAX, -1e-12 * 1.1^k, 0, 1e-12 * 1.1^k up to
 * 1e20, DBL_MAX); a value x counts in the bucket of the first edge greater than x, and each run
 * of empty buckets is written as one entry (its last edge, count 0), as TF does. NaN or infinite
 * values make the op fail at run time (INVALID_ARGUMENT), as in TF. */
DEFT_API deft_output deft_summary_histogram(deft_graph *g, const char *tag, deft_output values);

/* tf.summary.merge: a MergeSummary op over n >= 1 serialized Summary tensors (string tensors of
 * any shape), in name scope `name` (NULL: "Merge"), named `name` (NULL: "MergeSummary"). At run
 * time an input that is not a Summary, or a tag present twice, is an INVALID_ARGUMENT error, as
 * in TF. Not added to any collection. */
DEFT_API deft_output deft_summary_merge(deft_graph *g, const deft_output *inputs, int n,
                                        const char *name);

/* tf.summary.merge_all: merges the DEFT_SUMMARIES collection. Returns an invalid output without
 * recording an error when the collection is empty (TF returns None). */
DEFT_API deft_output deft_summary_merge_all(deft_graph *g, const char *name);

/* ---- the event-file writer ---- */

typedef struct deft_summary_writer deft_summary_writer;

/* Creates `logdir` (and missing parents) and a new event file in it, and writes the file_version
 * event. Returns the writer (free with deft_summary_writer_free), or NULL with status set:
 * FAILED_PRECONDITION (cannot create the directory or file, naming the path), RESOURCE_EXHAUSTED.
 * Two writers on one logdir in the same second get distinct files (a ".N" suffix). */
DEFT_API deft_summary_writer *deft_summary_writer_new(const char *logdir, deft_status *status);

/* The event file's path. Owned by w, valid until w is freed. */
DEFT_API const char *deft_summary_writer_path(const deft_summary_writer *w);

/* Appends an event holding g as a serialized GraphDef (what TensorBoard's graph dashboard
 * draws), at `step`. Returns false with status set (FAILED_PRECONDITION if g has a sticky error
 * or w is closed; I/O errors naming the file). */
DEFT_API bool deft_summary_writer_add_graph(deft_summary_writer *w, const deft_graph *g,
                                            int64_t step, deft_status *status);

/* Appends an event holding g as a serialized MetaGraphDef (graph, collections). As above. */
DEFT_API bool deft_summary_writer_add_meta_graph(deft_summary_writer *w, const deft_graph *g,
                                                 int64_t step, deft_status *status);

/* Appends a summary event at `step`: `summary` is what a summary op computed (a string tensor;
 * every element must parse as a tensorflow.Summary, and their values are written in order as
 * one Summary). Returns false with status set: INVALID_ARGUMENT (not a string tensor, or an
 * element that is not a Summary, naming its index), FAILED_PRECONDITION (closed), I/O errors. */
DEFT_API bool deft_summary_writer_add_summary(deft_summary_writer *w, const deft_tensor *summary,
                                              int64_t step, deft_status *status);

/* Appends a summary event with one simple_value `value` tagged `tag` (for numbers computed
 * outside the graph, such as a validation accuracy). As above. */
DEFT_API bool deft_summary_writer_add_scalar(deft_summary_writer *w, const char *tag,
                                             float value, int64_t step, deft_status *status);

/* Writes the buffered records and syncs the file to disk. Returns false with status set
 * (DATA_LOSS or RESOURCE_EXHAUSTED naming the file) on an I/O error; the writer is then closed. */
DEFT_API bool deft_summary_writer_flush(deft_summary_writer *w, deft_status *status);

/* Flushes and closes the file; later adds fail with FAILED_PRECONDITION. Closing twice is a
 * no-op. Returns false with status set if the final flush failed. */
DEFT_API bool deft_summary_writer_close(deft_summary_writer *w, deft_status *status);

/* Closes w if still open (an error is then lost: call deft_summary_writer_close first to see
 * it) and frees it. Accepts NULL. */
DEFT_API void deft_summary_writer_free(deft_summary_writer *w);

#ifdef __cplusplus
}
#endif
#endif
