/* SPDX-License-Identifier: Apache-2.0 */
/* deft/io.h - graphs to and from TensorFlow 1.x's files: frozen GraphDefs (".pb"), meta graphs
 * (".meta", what tf.train.Saver writes next to a checkpoint) and SavedModels
 * ("<dir>/saved_model.pb").
 *
 * File formats. The importers read the binary protobuf form and the text form (".pbtxt", what
 * tf.io.write_graph(as_text=True), tf.train.export_meta_graph(as_text=True) and
 * SavedModelBuilder.save(as_text=True) write): a path ending in ".pbtxt" is read as text; any
 * other path as binary, and then as text if the bytes are not a valid binary message but look
 * like text. The text reader takes protobuf's whole text syntax ('{}' or '<>' bodies, lists,
 * comments, C escapes, adjacent strings, enums by name or number, inf/nan) and expanded Any
 * values ("[type.googleapis.com/tensorflow.AssetFileDef] { ... }"); it rejects unknown fields
 * and a non-repeated field given twice, as TensorFlow's reader does. The exporters write binary.
 *
 * Importing. Nodes may appear in any order in a file; they are created in a topological order
 * of their inputs (data and control), which is the file's order whenever the file is already
 * ordered, with the file's exact names, attrs (including "_class" and "_output_shapes", which
 * deft keeps but does not use) and devices. Attrs an old graph lacks get their default. An op
 * type deft does not know is imported anyway (deft_op_has_kernel is false for it): its output
 * count and dtypes come from the meta graph's stripped_op_list when there is one, otherwise
 * from its "_output_shapes" attr and the inputs of the ops that consume it. Collections are
 * rebuilt: node lists resolve to ops and tensors of the new graph; "variables" and
 * "trainable_variables" (VariableDefs) make the variable ops full deft variables
 * (deft_variable_initializer, deft_variable_value and deft_global_variables_initializer work);
 * other values (cond_context, bytes/int64/float lists) are kept as they came and written back by
 * deft_export_meta_graph. TF1 while loops (NextIteration cycles) are not supported.
 *
 * Errors of the importers (NULL returned, status set; the message names the path):
 *   NOT_FOUND         the file does not exist (SavedModel: no meta graph with the tag);
 *   DATA_LOSS         the bytes are not a valid message (truncated, garbage, wrong wire type;
 *                     for text, a syntax error, unknown field or value out of range, reported
 *                     as "<path>:<line>:<column>: <what>");
 *   INVALID_ARGUMENT  a node names a missing input node, the inputs form a cycle, two nodes share
 *                     a name, an attr has the wrong type for its op, a collection names a missing
 *                     node (each message names the node and the input/attr/value);
 *   UNIMPLEMENTED     tensors of dtypes deft does not store; in text files, extensions and
 *                     Any values of a type deft's protos do not define (with line:column).
 *
 * Thread safety: importing into a graph builds it (deft/graph.h's rule: one building thread per
 * graph); exporting reads the graph and may run concurrently with sessions on it, not with
 * building. Imports into different graphs may run concurrently.
 */
#ifndef DEFT_IO_H
#define DEFT_IO_H

#include "deft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- import options ---- */

typedef struct deft_import_options deft_import_options;

/* Returns new options with the defaults (no prefix, devices kept), or NULL on OOM. */
DEFT_API deft_import_options *deft_import_options_new(void);
DEFT_API void deft_import_options_free(deft_import_options *o);
/* Import scope: every imported name (nodes, inputs, collection items, SaverDef and signature
 * names) becomes "<prefix>/<name>". NULL or "" = no prefix (the default); a trailing "/" is
 * ignored. The string is copied. Returns false on OOM. */
DEFT_API bool deft_import_options_set_prefix(deft_import_options *o, const char *prefix);
/* Drop every node's device string (TF's clear_devices=True). Default false. */
DEFT_API void deft_import_options_set_clear_devices(deft_import_options *o, bool clear);
/* The default of deft_import_options_set_max_constant_bytes: 1 GiB. */
#define DEFT_IMPORT_DEFAULT_MAX_CONSTANT_BYTES ((uint64_t)1 << 30)
/* The most bytes the tensor-valued attrs of one import (Const values, mostly) may decode to, all
 * nodes together: a TensorProto with one value and a large shape (what tf.zeros and tf.fill
 * make) is a few bytes in the file but its full size in memory. Counted: element bytes; for
 * strings 16 bytes per element plus each element's string bytes. The import fails with
 * RESOURCE_EXHAUSTED naming the node before allocating the tensor that would cross it. Default
 * DEFT_IMPORT_DEFAULT_MAX_CONSTANT_BYTES (1 GiB; real models' constants are far smaller, and
 * a repeated-value Const up to that size imports in well under a second); one tensor is also
 * capped at 2 GiB - 1 whatever the budget. Not thread-safe on one options object. */
DEFT_API void deft_import_options_set_max_constant_bytes(deft_import_options *o, uint64_t bytes);

/* Input mapping for deft_graph_import_graph_def_data (TF's input_map): consumers of the
 * GraphDef's tensor "src_name:src_index" (a name as in the file, before the prefix) read dst,
 * a tensor of the graph imported into, instead. The node src_name is still imported. Returns
 * false on OOM or a bad argument (NULL name, negative index, invalid dst). */
DEFT_API bool deft_import_options_map_input(deft_import_options *o, const char *src_name,
                                            int src_index, deft_output dst);

/* ---- what a meta graph says besides the graph ---- */

/* The SaverDef, tags, signatures and version strings of an imported meta graph, or a SaverDef
 * description for export. Opaque; free with deft_meta_graph_info_free. */
typedef struct deft_meta_graph_info deft_meta_graph_info;

DEFT_API void deft_meta_graph_info_free(deft_meta_graph_info *info);

/* A SaverDef for deft_export_meta_graph: the given names, max_to_keep 5,
 * keep_checkpoint_every_n_hours 10000, not sharded, version V2 (TF1 Saver's values). The
 * strings are copied. Returns NULL on OOM or when a name is NULL. */
DEFT_API deft_meta_graph_info *deft_meta_graph_info_new_saver(const char *filename_tensor,
                                                              const char *save_tensor,
                                                              const char *restore_op);
/* Sets max_to_keep of info's SaverDef. */
DEFT_API void deft_meta_graph_info_set_max_to_keep(deft_meta_graph_info *info, int max_to_keep);

/* True iff info has a SaverDef. The getters below return "" / 0 when it has none. Strings are
 * owned by info. */
DEFT_API bool deft_meta_graph_info_has_saver(const deft_meta_graph_info *info);
/* SaverDef.filename_tensor_name, e.g. "save/Const:0" (feed the checkpoint prefix here). */
DEFT_API const char *deft_meta_graph_info_filename_tensor(const deft_meta_graph_info *info);
/* SaverDef.save_tensor_name, e.g. "save/control_dependency:0" (fetch it to save). */
DEFT_API const char *deft_meta_graph_info_save_tensor(const deft_meta_graph_info *info);
/* SaverDef.restore_op_name, e.g. "save/restore_all" (run it to restore). */
DEFT_API const char *deft_meta_graph_info_restore_op(const deft_meta_graph_info *info);
DEFT_API int deft_meta_graph_info_max_to_keep(const deft_meta_graph_info *info);
DEFT_API bool deft_meta_graph_info_sharded(const deft_meta_graph_info *info);
DEFT_API float deft_meta_graph_info_keep_every_n_hours(const deft_meta_graph_info *info);
/* SaverDef.version: 0 LEGACY, 1 V1, 2 V2. */
DEFT_API int deft_meta_graph_info_saver_version(const deft_meta_graph_info *info);

/* meta_info_def.tensorflow_version of the file ("" if absent), and its tags (SavedModel). */
DEFT_API const char *deft_meta_graph_info_tensorflow_version(const deft_meta_graph_info *info);
DEFT_API int deft_meta_graph_info_num_tags(const deft_meta_graph_info *info);
DEFT_API const char *deft_meta_graph_info_tag(const deft_meta_graph_info *info, int i);

/* Signatures (SavedModel), in file order. Key i (0 <= i < num_signatures), or NULL. */
DEFT_API int deft_meta_graph_info_num_signatures(const deft_meta_graph_info *info);
DEFT_API const char *deft_meta_graph_info_signature_key(const deft_meta_graph_info *info, int i);
/* The method name of signature `key` (e.g. "tensorflow/serving/predict"), or NULL with
 * NOT_FOUND listing the keys info has. */
DEFT_API const char *deft_meta_graph_info_signature_method(const deft_meta_graph_info *info,
                                                           const char *key, deft_status *status);
/* Number of inputs (outputs) of signature `key`, or -1 with NOT_FOUND listing the keys. */
DEFT_API int deft_meta_graph_info_signature_num_inputs(const deft_meta_graph_info *info,
                                                       const char *key, deft_status *status);
DEFT_API int deft_meta_graph_info_signature_num_outputs(const deft_meta_graph_info *info,
                                                        const char *key, deft_status *status);
/* The key of input (output) i of signature `key`, or NULL (bad key or index). */
DEFT_API const char *deft_meta_graph_info_signature_input_key(const deft_meta_graph_info *info,
                                                              const char *key, int i);
DEFT_API const char *deft_meta_graph_info_signature_output_key(const deft_meta_graph_info *info,
                                                               const char *key, int i);
/* The tensor name (e.g. "x:0", with the import prefix) of input (output) `name` of signature
 * `key`. NULL with NOT_FOUND listing the signature keys, or the signature's input (output)
 * keys, when either is unknown. dtype (may be NULL) gets the TensorInfo's dtype. */
DEFT_API const char *deft_meta_graph_info_signature_input(const deft_meta_graph_info *info,
                                                          const char *key, const char *name,
                                                          deft_dtype *dtype, deft_status *status);
DEFT_API const char *deft_meta_graph_info_signature_output(const deft_meta_graph_info *info,
                                                           const char *key, const char *name,
                                                           deft_dtype *dtype,
                                                           deft_status *status);

/* ---- import ---- */

/* Reads a GraphDef (a frozen ".pb", or its text form ".pbtxt": see "File formats" above). opts
 * may be NULL (defaults). Returns a new graph owned by the caller (free with deft_graph_free), or
 * NULL with status set (see the top of this file). */
DEFT_API deft_graph *deft_import_graph_def(const char *path, const deft_import_options *opts,
                                           deft_status *status);

/* Reads a MetaGraphDef (a ".meta" file, binary, or text when the path ends in ".pbtxt" or the
 * bytes are text). opts may be NULL. On success returns a new graph
 * and, if info is not NULL, stores in *info a new deft_meta_graph_info (SaverDef, signatures,
 * tags; free with deft_meta_graph_info_free). On failure returns NULL, sets status and leaves
 * *info NULL. */
DEFT_API deft_graph *deft_import_meta_graph(const char *path, const deft_import_options *opts,
                                            deft_meta_graph_info **info, deft_status *status);

/* Reads the SavedModel in export_dir (the file export_dir/saved_model.pb, or when that is absent
 * export_dir/saved_model.pbtxt, as TF's loader does; a path to either file itself is accepted
 * too) and imports its meta graph whose tags include every comma-separated tag in `tag`
 * (NULL = "serve"). NOT_FOUND listing the tag sets the file has when none matches. info as for
 * deft_import_meta_graph. */
DEFT_API deft_graph *deft_load_saved_model(const char *export_dir, const char *tag,
                                           deft_meta_graph_info **info, deft_status *status);

/* Imports the binary GraphDef data[0..len) into the existing graph g (which may hold ops; TF's
 * TF_GraphImportGraphDef). Names are the file's, under opts' prefix; a name already taken in g
 * fails with INVALID_ARGUMENT naming it. opts' input mappings apply (a mapping whose dtype
 * differs from the mapped tensor's is INVALID_ARGUMENT). Returns true, or false with status set
 * (INVALID_ARGUMENT for bytes that are not a GraphDef, the importer's errors above,
 * FAILED_PRECONDITION if g has a sticky error). On failure g is unchanged, except after an
 * out-of-memory failure in the middle of adding ops (then g has the sticky error). */
DEFT_API bool deft_graph_import_graph_def_data(deft_graph *g, const void *data, size_t len,
                                               const deft_import_options *opts,
                                               deft_status *status);

/* ---- export ---- */

/* Writes g as TF 1.x's binary MetaGraphDef to path, atomically (a temporary file renamed into
 * place; a failure leaves any existing file untouched):
 *   - graph_def: the nodes in creation order with every attr (defaults included, except the
 *     attrs TF added after 1.3, written only when not at their default so TF 1.3 loads the
 *     file: the Conv2D and DepthwiseConv2dNative families' dilations and explicit_paddings),
 *     inputs as "x", "x:k", "^ctrl", devices; versions.producer = 26 (or the imported graph's
 *     producer if larger);
 *   - meta_info_def: stripped_op_list (sorted by name): the OpDefs of the op types g uses, from
 *     deft's registry, or for types deft does not know, the producer's OpDefs kept from the
 *     import (types with neither are left out); tensorflow_version "1.15.0";
 *   - collection_def: every non-empty collection. "variables", "trainable_variables" and TF's
 *     other variable keys as bytes_list of VariableDef (the imported bytes when the graph was
 *     imported without a prefix, else built from the variables); values imported raw
 *     (cond_context, bytes/int64/float/any lists) as they came (their names are not prefixed);
 *     everything else as a node_list ("op" or "op:k");
 *   - saver_def from saver (may be NULL: none written). Only the SaverDef part of saver is used.
 * Returns false with status set: FAILED_PRECONDITION if g has a sticky error, the file errors of
 * deft_write_file_atomic (NOT_FOUND for a missing directory, FAILED_PRECONDITION for permission
 * denied; the message names the path), RESOURCE_EXHAUSTED on OOM. */
DEFT_API bool deft_export_meta_graph(const deft_graph *g, const char *path,
                                     const deft_meta_graph_info *saver, deft_status *status);

/* Writes g's GraphDef alone (as in deft_export_meta_graph) to path, atomically. Same errors. */
DEFT_API bool deft_export_graph_def(const deft_graph *g, const char *path, deft_status *status);

/* In-memory forms of the exporters (for TensorFlow's C API). Each stores in *data a buffer
 * allocated with malloc (the caller frees it with free()) and its length in *len, and returns
 * true; on failure returns false, sets status and leaves *data NULL.
 * - deft_graph_to_graph_def_data: g's GraphDef as deft_export_graph_def writes it;
 * - deft_export_meta_graph_data: the bytes deft_export_meta_graph writes (no file involved);
 * - deft_op_to_node_def_data: op's NodeDef (every attr, inputs as in a GraphDef);
 * - deft_op_def_data: the OpDef of op type `type` (NOT_FOUND if deft does not know it), or
 *   with type NULL the OpList of every registered type, sorted by name. */
DEFT_API bool deft_graph_to_graph_def_data(const deft_graph *g, void **data, size_t *len,
                                           deft_status *status);
DEFT_API bool deft_export_meta_graph_data(const deft_graph *g, const deft_meta_graph_info *saver,
                                          void **data, size_t *len, deft_status *status);
DEFT_API bool deft_op_to_node_def_data(const deft_op *op, void **data, size_t *len,
                                       deft_status *status);
DEFT_API bool deft_op_def_data(const char *type, void **data, size_t *len, deft_status *status);

/* ---- collections as stored in a meta graph ---- */

/* How collection `key` of g is written to a MetaGraphDef: "node_list", "bytes_list",
 * "int64_list", "float_list" or "any_list"; NULL if g has no such collection. *nvalues (may be
 * NULL) gets its number of values (ops/tensors, or raw values kept from an import). */
DEFT_API const char *deft_graph_collection_kind(const deft_graph *g, const char *key,
                                                int *nvalues);

#ifdef __cplusplus
}
#endif
#endif
