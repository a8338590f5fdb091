/* SPDX-License-Identifier: Apache-2.0 */
/* graph/io_internal.h - shared by graph/import.c, graph/import_meta.c and graph/export.c: the
 * structs behind deft_import_options and deft_meta_graph_info, and the GraphDef importer that
 * works on parsed protobuf-c messages. Internal. */
#ifndef DEFT_GRAPH_IO_INTERNAL_H
#define DEFT_GRAPH_IO_INTERNAL_H

#include "deft/io.h"
#include "graph.pb-c.h"
#include "graph/graph_internal.h"
#include "meta_graph.pb-c.h"
#include "op_def.pb-c.h"

/* One input mapping: the GraphDef's tensor src_name:src_index is replaced by dst. */
typedef struct deft_input_map {
  char *src_name;
  int src_index;
  deft_output dst;
} deft_input_map;

struct deft_import_options {
  char *prefix; /* NULL or a non-empty scope without a trailing '/' */
  bool clear_devices;
  deft_input_map *maps;
  int nmaps;
  uint64_t max_constant_bytes; /* deft_import_options_set_max_constant_bytes */
};

/* One input or output of a signature. */
typedef struct deft_sig_tensor {
  char *key;
  char *name; /* tensor name, prefixed */
  int dtype;
} deft_sig_tensor;

typedef struct deft_signature {
  char *key;
  char *method;
  int nin, nout;
  deft_sig_tensor *in, *out;
} deft_signature;

struct deft_meta_graph_info {
  bool has_saver;
  char *filename_tensor, *save_tensor, *restore_op;
  int max_to_keep;
  bool sharded;
  float keep_hours;
  int version;
  char *tf_version;
  int ntags;
  char **tags;
  int nsigs;
  deft_signature *sigs;
};

/* The collection keys whose values TF stores as VariableDef bytes. */
bool deft_io_is_variable_key(const char *key);

/* "<prefix>/<name>" (or a copy of name without a prefix), allocated with deft_malloc; NULL on
 * OOM. opts may be NULL. */
char *deft_io_prefixed(const deft_import_options *opts, const char *name);

/* Imports a parsed GraphDef into a new graph. op_list (may be NULL) is the producer's
 * stripped_op_list, used for op types deft does not know. `path` is used only in messages; on
 * failure returns NULL with st set (the message does not yet name the path). */
deft_graph *deft_io_import_graph(const Tensorflow__GraphDef *gd, const Tensorflow__OpList *op_list,
                                 const deft_import_options *opts, deft_status *st);

/* Like deft_io_import_graph, into the existing graph `into` (returned on success; on failure
 * NULL, and `into` is left as it was, except after OOM). Input mappings of opts apply. */
deft_graph *deft_io_import_into(deft_graph *into, const Tensorflow__GraphDef *gd,
                                const deft_import_options *opts, deft_status *st);

/* True iff s ends with suffix. */
bool deft_io_has_suffix(const char *s, const char *suffix);

/* Reads and parses the message at path (allocated with deft_malloc, i.e. compatible with both
 * deft_protobuf_allocator() and protobuf-c's default allocator; free with
 * protobuf_c_message_free_unpacked). A path ending in ".pbtxt" is read as text format
 * (proto/text_format.h); any other path as binary, then as text if the binary parse fails and
 * the bytes look like text. `what` names the message in errors: the file errors of
 * deft_read_file, DATA_LOSS naming the path (and for text "<path>:<line>:<column>") when the
 * bytes do not parse, UNIMPLEMENTED for text-format extensions / expanded Any values. */
ProtobufCMessage *deft_io_read_message(const char *path, const ProtobufCMessageDescriptor *desc,
                                       const char *what, deft_status *st);

/* Resolves a collection/SaverDef name of the imported graph ("op" -> {op, -1}, "op:k" -> tensor)
 * after prefixing. Returns an invalid output with st set (INVALID_ARGUMENT) if it names nothing. */
deft_output deft_io_resolve(deft_graph *g, const deft_import_options *opts, const char *name,
                            bool as_tensor, deft_status *st);

/* The producer's OpDefs of the op types deft does not know are kept with an imported graph (as
 * a graph-owned string tensor starting with a marker: deft_graph has no field for them), so that
 * deft_export_meta_graph writes them back. Stash returns false on OOM. */
bool deft_io_stash_op_list(deft_graph *g, const Tensorflow__OpList *ops);
/* Returns the stashed OpList (unpacked with deft_protobuf_allocator(); free it with
 * protobuf_c_message_free_unpacked), or NULL if none. Sets *oom on allocation failure. */
Tensorflow__OpList *deft_io_stashed_op_list(const deft_graph *g, bool *oom);

/* Builds the GraphDef message of g in pool (nodes, versions). NULL with st set on failure. */
struct deft_pb_pool;
Tensorflow__GraphDef *deft_io_export_graph(struct deft_pb_pool *pool, const deft_graph *g,
                                           deft_status *st);

/* Serializes g as a GraphDef (deft_io_pack_graph_def) or as a MetaGraphDef without a SaverDef
 * (deft_io_pack_meta_graph) into a deft_malloc'd buffer (for the summary writer's events).
 * `dest` names the destination in errors. Returns false with st set: FAILED_PRECONDITION when g
 * has a sticky error, RESOURCE_EXHAUSTED on OOM. */
bool deft_io_pack_graph_def(const deft_graph *g, const char *dest, uint8_t **data, size_t *len,
                            deft_status *st);
bool deft_io_pack_meta_graph(const deft_graph *g, const char *dest, uint8_t **data, size_t *len,
                             deft_status *st);

#endif
