/* SPDX-License-Identifier: Apache-2.0 */
/* deft/saver.h - tf.train.Saver: checkpoints of variables in TensorFlow's V2 format.
 *
 * A saver adds TF's save/restore subgraph to the graph (save/Const, save/SaveV2,
 * save/control_dependency, save/RestoreV2, save/Assign..., save/restore_all), so a graph exported
 * with it (deft/io.h) restores in TF and TF's own savers run in deft. Saves are atomic: a failed
 * save leaves the previous checkpoint intact.
 *
 * Thread safety: making a saver builds the graph (deft/graph.h's rule). Save and restore run the
 * session; do not run them concurrently with runs that write the same variables (or with each
 * other on the same checkpoint prefix). Saves of different sessions to different prefixes may run
 * concurrently. */
#ifndef DEFT_SAVER_H
#define DEFT_SAVER_H

#include "deft/session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_saver deft_saver;

/* Builds a saver for vars[0..n) (variables as {var op, 0}, e.g. from deft_graph_get_collection;
 * vars NULL = every GLOBAL_VARIABLES item) under name scope "save" ("save_1", ...). Checkpoint
 * keys are the variables' op names. max_to_keep <= 0 means 5 (TF's default). Returns NULL with
 * status set on failure: INVALID_ARGUMENT for an empty selection, a non-variable item or a
 * variable listed twice (naming it), which leave the graph unchanged and usable;
 * FAILED_PRECONDITION if the graph already has a sticky error (or building the ops failed, e.g.
 * out of memory, which is then the graph's sticky error too). */
DEFT_API deft_saver *deft_saver_new(deft_graph *g, const deft_output *vars, int n,
                                    int max_to_keep, deft_status *status);

/* A saver over a graph's existing save/restore ops (an imported SaverDef): the filename tensor
 * ("save/Const:0"), the save tensor ("save/control_dependency:0") and the restore op
 * ("save/restore_all"). NULL with status set (NOT_FOUND naming the missing node). */
DEFT_API deft_saver *deft_saver_from_names(deft_graph *g, const char *filename_tensor,
                                           const char *save_tensor, const char *restore_op,
                                           int max_to_keep, deft_status *status);

DEFT_API void deft_saver_free(deft_saver *s);

/* Saves the variables' values to `prefix` (or "<prefix>-<global_step>" when global_step >= 0):
 * writes <path>.index and <path>.data-00000-of-00001, updates the `checkpoint` file of the
 * prefix's directory, and deletes checkpoints beyond max_to_keep. If path_out is not NULL it gets
 * the path used (free with deft_saver_string_free). Returns false with status set on failure
 * (FAILED_PRECONDITION naming an uninitialized variable; I/O errors naming the file). */
DEFT_API bool deft_saver_save(deft_saver *s, deft_session *sess, const char *prefix,
                              int64_t global_step, char **path_out, deft_status *status);

/* Writes s's graph as a MetaGraphDef (a ".meta" file, as TF's Saver.save writes next to each
 * checkpoint) with s's SaverDef and all collections, atomically. Returns false with status set
 * on failure. */
DEFT_API bool deft_saver_export_meta_graph(const deft_saver *s, const char *path,
                                           deft_status *status);

/* Restores the saver's variables from the checkpoint at prefix: a V2 checkpoint (prefix.index
 * and its data), or a V1 checkpoint (TF <= 0.12: the single file prefix, read through the
 * graph's restore ops; V1 files sharded into several are not supported). NOT_FOUND if neither
 * exists or the checkpoint lacks a variable (naming it); INVALID_ARGUMENT if a stored tensor's
 * dtype or shape differs from its variable's; DATA_LOSS for a corrupted file (naming the tensor).
 * Variables restored before a failure keep their new values. */
DEFT_API bool deft_saver_restore(deft_saver *s, deft_session *sess, const char *prefix,
                                 deft_status *status);

/* tf.train.latest_checkpoint: the newest checkpoint prefix recorded in dir/checkpoint whose
 * .index exists, or NULL with status set (NOT_FOUND). Free with deft_saver_string_free. */
DEFT_API char *deft_latest_checkpoint_path(const char *dir, deft_status *status);

DEFT_API void deft_saver_string_free(char *s);

/* The SaverDef names of s (owned by the graph): filename tensor, save tensor, restore op. */
DEFT_API const char *deft_saver_filename_tensor(const deft_saver *s);
DEFT_API const char *deft_saver_save_tensor(const deft_saver *s);
DEFT_API const char *deft_saver_restore_op(const deft_saver *s);
DEFT_API int deft_saver_max_to_keep(const deft_saver *s);

/* ---- reading checkpoints directly (tf.train.NewCheckpointReader) ---- */

typedef struct deft_checkpoint_reader deft_checkpoint_reader;

/* Opens the V2 checkpoint at prefix (validating its index and every CRC of the table), or, when
 * prefix.index does not exist and prefix is a table file, the V1 checkpoint prefix (its
 * tensors assembled from their saved slices). NULL with
 * status set: NOT_FOUND naming a missing file, DATA_LOSS naming a corrupt one. */
DEFT_API deft_checkpoint_reader *deft_checkpoint_reader_open(const char *prefix,
                                                             deft_status *status);
DEFT_API void deft_checkpoint_reader_free(deft_checkpoint_reader *r);
/* Number of stored tensors and the name of tensor i (bytewise order; owned by r). */
DEFT_API int deft_checkpoint_reader_num_tensors(const deft_checkpoint_reader *r);
DEFT_API const char *deft_checkpoint_reader_name(const deft_checkpoint_reader *r, int i);
/* True (and dtype/shape, either may be NULL) iff the checkpoint stores `name`. */
DEFT_API bool deft_checkpoint_reader_lookup(const deft_checkpoint_reader *r, const char *name,
                                            deft_dtype *dtype, deft_shape *shape);
/* Reads tensor `name` (CRC-checked); the caller owns it. NULL with status set: NOT_FOUND,
 * DATA_LOSS naming the tensor. */
DEFT_API deft_tensor *deft_checkpoint_reader_read(deft_checkpoint_reader *r, const char *name,
                                                  deft_status *status);

#ifdef __cplusplus
}
#endif
#endif
